/* sasl_scram.c: SCRAM-SHA-256 (RFC 5802, RFC 7677) for the SASL engine,
 * without channel binding: the GS2 header must be "n,," or "y,," (plus an
 * optional a=authzid; "y" is fine as we never offer -PLUS); "p=" fails.
 * The exchange is
 *   C: n,,n=user,r=cnonce        S: r=cnonce+snonce,s=salt,i=4096
 *   C: c=biws,r=...,p=proof      S: v=serversig      C: (empty)
 * The server holds only StoredKey and ServerKey. User names are taken as
 * UTF-8 bytes without SASLprep, with "=2C" and "=3D" unescaped. A user
 * without a SCRAM secret still gets a plausible salt (derived from a
 * per-process random key) and fails only at the proof, so the exchange does
 * not reveal which users exist. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "base64.h"
#include "log.h"
#include "mem.h"
#include "sasl_int.h"

#define SCRAM_NONCE_BYTES 18
#define SCRAM_SALT_BYTES 16
#define SCRAM_FAKE_ITERATIONS 4096

struct sasl_scram {
	char *gs2_header;        /* as the client sent it, e.g. "n,," */
	char *client_first_bare;
	char *server_first;
	char *nonce;             /* client nonce + server nonce */
	char *salt_b64;
	unsigned int iterations;
	bool unknown_user;       /* no secret: fail at the proof */
	unsigned char stored_key[SASL_SCRAM_KEY_LEN];
	unsigned char server_key[SASL_SCRAM_KEY_LEN];
};

void sasl_scram_free(struct sasl_scram **scp)
{
	struct sasl_scram *sc = *scp;

	if (sc == NULL)
		return;
	free(sc->gs2_header);
	free(sc->client_first_bare);
	free(sc->server_first);
	free(sc->nonce);
	free(sc->salt_b64);
	OPENSSL_cleanse(sc, sizeof(*sc));
	free(sc);
	*scp = NULL;
}

/* --- crypto primitives; each returns 0 or -1 when OpenSSL fails --- */

static int hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
		       unsigned char out[SASL_SCRAM_KEY_LEN])
{
	unsigned int out_len = 0;

	if (HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len) == NULL ||
	    out_len != SASL_SCRAM_KEY_LEN)
		return -1;
	return 0;
}

static int sha256(const void *data, size_t len, unsigned char out[SASL_SCRAM_KEY_LEN])
{
	unsigned int out_len = 0;

	if (EVP_Digest(data, len, out, &out_len, EVP_sha256(), NULL) != 1 ||
	    out_len != SASL_SCRAM_KEY_LEN)
		return -1;
	return 0;
}

int sasl_scram_keys(const char *password, const void *salt, size_t salt_len,
		    unsigned int iterations, unsigned char stored_key_r[SASL_SCRAM_KEY_LEN],
		    unsigned char server_key_r[SASL_SCRAM_KEY_LEN])
{
	unsigned char salted[SASL_SCRAM_KEY_LEN], client_key[SASL_SCRAM_KEY_LEN];
	int r = -1;

	if (iterations == 0 || iterations > INT_MAX || salt_len > INT_MAX)
		return -1;
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len,
			      (int)iterations, EVP_sha256(), sizeof(salted), salted) == 1 &&
	    hmac_sha256(salted, sizeof(salted), "Client Key", 10, client_key) == 0 &&
	    sha256(client_key, sizeof(client_key), stored_key_r) == 0 &&
	    hmac_sha256(salted, sizeof(salted), "Server Key", 10, server_key_r) == 0)
		r = 0;
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	return r;
}

static char *b64_string(const void *data, size_t len)
{
	buf *b = buf_new(base64_encoded_len(len) + 1);

	base64_encode(b, data, len);
	return buf_steal_free(&b);
}

int sasl_scram_secret(const char *password, unsigned int iterations, char **salt_b64_r,
		      char **stored_key_b64_r, char **server_key_b64_r)
{
	unsigned char salt[SCRAM_SALT_BYTES];
	unsigned char stored[SASL_SCRAM_KEY_LEN], server[SASL_SCRAM_KEY_LEN];

	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    sasl_scram_keys(password, salt, sizeof(salt), iterations, stored, server) < 0)
		return -1;
	*salt_b64_r = b64_string(salt, sizeof(salt));
	*stored_key_b64_r = b64_string(stored, sizeof(stored));
	*server_key_b64_r = b64_string(server, sizeof(server));
	return 0;
}

/* --- the stored secret --- */

/* decode_exact: base64 text that must decode to exactly len bytes (or to
 * 1..len bytes when at_most). */
static int decode_exact(const char *text, unsigned char *out, size_t len, bool at_most)
{
	buf *b = buf_new(0);
	int r = -1;

	if (text != NULL && base64_decode(b, text, strlen(text)) == 0 &&
	    (buf_len(b) == len || (at_most && buf_len(b) > 0 && buf_len(b) <= len))) {
		memcpy(out, buf_cstr(b), buf_len(b));
		r = 0;
	}
	OPENSSL_cleanse(buf_data(b), buf_len(b));
	buf_free(&b);
	return r;
}

static int scram_load_secret(sasl_server *s, const struct sasl_scram_secret *sec)
{
	struct sasl_scram *sc = s->scram;
	unsigned char salt[1024];

	if (sec->iterations == 0 || sec->iterations > INT_MAX ||
	    decode_exact(sec->salt_b64, salt, sizeof(salt), true) < 0 ||
	    decode_exact(sec->stored_key_b64, sc->stored_key, SASL_SCRAM_KEY_LEN, false) < 0 ||
	    decode_exact(sec->server_key_b64, sc->server_key, SASL_SCRAM_KEY_LEN, false) < 0) {
		log_warn("sasl: corrupt SCRAM-SHA-256 secret for user %s", s->login);
		return sasl_end(s, SASL_TEMP, "corrupt stored secret");
	}
	sc->salt_b64 = xstrdup(sec->salt_b64);
	sc->iterations = sec->iterations;
	return SASL_CONTINUE;
}

/* scram_fake_secret: a salt for a user without a secret that stays the
 * same for that user during this process's life. */
static int scram_fake_secret(sasl_server *s)
{
	static unsigned char fake_key[32];
	static bool fake_key_set;
	unsigned char mac[SASL_SCRAM_KEY_LEN];

	if (!fake_key_set) {
		if (RAND_bytes(fake_key, sizeof(fake_key)) != 1)
			return sasl_end(s, SASL_TEMP, "no random bytes");
		fake_key_set = true;
	}
	if (hmac_sha256(fake_key, sizeof(fake_key), s->login, strlen(s->login), mac) < 0)
		return sasl_end(s, SASL_TEMP, "HMAC failed");
	s->scram->salt_b64 = b64_string(mac, SCRAM_SALT_BYTES);
	s->scram->iterations = SCRAM_FAKE_ITERATIONS;
	s->scram->unknown_user = true;
	return SASL_CONTINUE;
}

static int scram_fetch_secret(sasl_server *s)
{
	struct sasl_scram_secret sec;
	int r;

	memset(&sec, 0, sizeof(sec));
	r = s->backend->get_scram(s->ctx, s->login, &sec);
	if (r == SASL_OK)
		r = scram_load_secret(s, &sec);
	else if (r == SASL_FAIL)
		r = scram_fake_secret(s);
	else
		r = sasl_end(s, SASL_TEMP, "SCRAM secret lookup failed");
	free(sec.salt_b64);
	free(sec.stored_key_b64);
	free(sec.server_key_b64);
	return r;
}

/* --- client-first-message --- */

/* scram_unescape: a saslname (RFC 5802 section 5.1) p[0..len) into out:
 * "=2C" is ',', "=3D" is '='; any other '=' is an error. */
static int scram_unescape(const char *p, size_t len, buf *out)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '=') {
			buf_putc(out, p[i]);
			continue;
		}
		if (len - i < 3)
			return -1;
		if (p[i + 1] == '2' && p[i + 2] == 'C')
			buf_putc(out, ',');
		else if (p[i + 1] == '3' && p[i + 2] == 'D')
			buf_putc(out, '=');
		else
			return -1;
		i += 2;
	}
	return 0;
}

/* scram_name: unescapes the saslname p[0..len) into a checked identity
 * (heap string), or NULL. */
static char *scram_name(const char *p, size_t len)
{
	buf *b = buf_new(len + 1);
	char *name = NULL;

	if (scram_unescape(p, len, b) == 0 && sasl_check_name(buf_cstr(b), buf_len(b)) == 0)
		name = xstrdup(buf_cstr(b));
	buf_free(&b);
	return name;
}

/* scram_nonce_ok: printable ASCII except ',' (RFC 5802 section 7). */
static bool scram_nonce_ok(const char *p, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
			return false;
	return true;
}

/* scram_parse_gs2: the GS2 header; sets *bare_r to what follows it. */
static int scram_parse_gs2(sasl_server *s, const char *in, const char **bare_r)
{
	const char *p = in;

	if (p[0] == 'p' && p[1] == '=')
		return sasl_end(s, SASL_FAIL, "SCRAM: channel binding not supported");
	if ((p[0] != 'n' && p[0] != 'y') || p[1] != ',')
		return sasl_end(s, SASL_BAD, "SCRAM: bad GS2 header");
	p += 2;
	if (p[0] == 'a' && p[1] == '=') {
		const char *end = strchr(p + 2, ',');

		if (end == NULL || (s->authzid = scram_name(p + 2, (size_t)(end - p - 2))) == NULL)
			return sasl_end(s, SASL_BAD, "SCRAM: bad authorization identity");
		p = end;
	}
	if (*p != ',')
		return sasl_end(s, SASL_BAD, "SCRAM: bad GS2 header");
	s->scram->gs2_header = xstrndup(in, (size_t)(p + 1 - in));
	*bare_r = p + 1;
	return SASL_CONTINUE;
}

/* scram_parse_bare: "n=user,r=nonce[,ext...]"; sets the login and
 * *cnonce_r / *cnonce_len_r. */
static int scram_parse_bare(sasl_server *s, const char *bare, const char **cnonce_r,
			    size_t *cnonce_len_r)
{
	const char *end, *nonce;

	if (bare[0] == 'm' && bare[1] == '=')
		return sasl_end(s, SASL_BAD, "SCRAM: unsupported mandatory extension");
	if (bare[0] != 'n' || bare[1] != '=' || (end = strchr(bare + 2, ',')) == NULL)
		return sasl_end(s, SASL_BAD, "SCRAM: no user name");
	free(s->login);
	s->login = scram_name(bare + 2, (size_t)(end - bare - 2));
	if (s->login == NULL)
		return sasl_end(s, SASL_BAD, "invalid user name");
	if (end[1] != 'r' || end[2] != '=')
		return sasl_end(s, SASL_BAD, "SCRAM: no client nonce");
	nonce = end + 3;
	*cnonce_len_r = strcspn(nonce, ",");
	*cnonce_r = nonce;
	if (!scram_nonce_ok(nonce, *cnonce_len_r))
		return sasl_end(s, SASL_BAD, "SCRAM: bad client nonce");
	return SASL_CONTINUE;
}

/* scram_server_nonce: the injected nonce, or fresh random printable
 * characters (base64 has no ','). NULL without randomness. */
static char *scram_server_nonce(sasl_server *s)
{
	unsigned char rnd[SCRAM_NONCE_BYTES];

	if (s->nonce != NULL)
		return xstrdup(s->nonce);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return NULL;
	return b64_string(rnd, sizeof(rnd));
}

static int scram_client_first(sasl_server *s, const char *in, size_t len, buf *challenge)
{
	struct sasl_scram *sc = s->scram;
	const char *bare = NULL, *cnonce = NULL;
	size_t cnonce_len = 0;
	char *snonce;
	int r;

	if (strlen(in) != len)
		return sasl_end(s, SASL_BAD, "SCRAM: NUL in message");
	if ((r = scram_parse_gs2(s, in, &bare)) != SASL_CONTINUE ||
	    (r = scram_parse_bare(s, bare, &cnonce, &cnonce_len)) != SASL_CONTINUE)
		return r;
	if (s->authzid != NULL && strcmp(s->authzid, s->login) != 0)
		return sasl_end(s, SASL_FAIL, "authorization identity differs from the user");
	if ((r = scram_fetch_secret(s)) != SASL_CONTINUE)
		return r;
	if ((snonce = scram_server_nonce(s)) == NULL)
		return sasl_end(s, SASL_TEMP, "no random bytes");
	sc->client_first_bare = xstrdup(bare);
	sc->nonce = xasprintf("%.*s%s", (int)cnonce_len, cnonce, snonce);
	sc->server_first = xasprintf("r=%s,s=%s,i=%u", sc->nonce, sc->salt_b64, sc->iterations);
	free(snonce);
	buf_puts(challenge, sc->server_first);
	s->stage = 2;
	return SASL_CONTINUE;
}

/* --- client-final-message --- */

/* scram_check_bindings: "c=<base64 GS2 header>,r=<nonce>[,ext...]", the
 * message without its proof. */
static int scram_check_bindings(sasl_server *s, const char *msg, size_t len)
{
	struct sasl_scram *sc = s->scram;
	buf *want = buf_new(0);
	size_t cb_len, nonce_len = strlen(sc->nonce);
	bool ok;

	buf_puts(want, "c=");
	base64_encode(want, sc->gs2_header, strlen(sc->gs2_header));
	cb_len = buf_len(want);
	ok = len >= cb_len && memcmp(msg, buf_cstr(want), cb_len) == 0 &&
	     (len == cb_len || msg[cb_len] == ',');
	buf_free(&want);
	if (!ok)
		return sasl_end(s, SASL_FAIL, "SCRAM: channel binding data differs");
	msg += cb_len;
	len -= cb_len;
	if (len < 3 + nonce_len || memcmp(msg, ",r=", 3) != 0 ||
	    memcmp(msg + 3, sc->nonce, nonce_len) != 0 ||
	    (len > 3 + nonce_len && msg[3 + nonce_len] != ','))
		return sasl_end(s, SASL_FAIL, "SCRAM: nonce differs");
	return SASL_CONTINUE;
}

/* scram_proof_ok: verifies the ClientProof for auth_message and computes
 * the ServerSignature. Returns SASL_OK, SASL_FAIL or SASL_TEMP. */
static int scram_proof_ok(sasl_server *s, const unsigned char proof[SASL_SCRAM_KEY_LEN],
			  const char *auth_message, unsigned char server_sig_r[SASL_SCRAM_KEY_LEN])
{
	struct sasl_scram *sc = s->scram;
	unsigned char sig[SASL_SCRAM_KEY_LEN], key[SASL_SCRAM_KEY_LEN];
	unsigned char stored[SASL_SCRAM_KEY_LEN];
	size_t len = strlen(auth_message);
	int r = SASL_TEMP;

	if (hmac_sha256(sc->stored_key, SASL_SCRAM_KEY_LEN, auth_message, len, sig) < 0)
		goto out;
	for (size_t i = 0; i < SASL_SCRAM_KEY_LEN; i++)
		key[i] = proof[i] ^ sig[i];
	if (sha256(key, sizeof(key), stored) < 0 ||
	    hmac_sha256(sc->server_key, SASL_SCRAM_KEY_LEN, auth_message, len, server_sig_r) < 0)
		goto out;
	r = CRYPTO_memcmp(stored, sc->stored_key, SASL_SCRAM_KEY_LEN) == 0 && !sc->unknown_user
		    ? SASL_OK
		    : SASL_FAIL;
out:
	OPENSSL_cleanse(key, sizeof(key));
	return r;
}

static int scram_client_final(sasl_server *s, const char *in, size_t len, buf *challenge)
{
	struct sasl_scram *sc = s->scram;
	unsigned char proof[SASL_SCRAM_KEY_LEN], server_sig[SASL_SCRAM_KEY_LEN];
	const char *p_attr = NULL;
	char *auth_message;
	int r;

	if (strlen(in) != len)
		return sasl_end(s, SASL_BAD, "SCRAM: NUL in message");
	for (const char *p = strstr(in, ",p="); p != NULL; p = strstr(p + 1, ",p="))
		p_attr = p;
	if (p_attr == NULL || decode_exact(p_attr + 3, proof, sizeof(proof), false) < 0)
		return sasl_end(s, SASL_BAD, "SCRAM: no valid proof");
	if ((r = scram_check_bindings(s, in, (size_t)(p_attr - in))) != SASL_CONTINUE)
		return r;
	auth_message = xasprintf("%s,%s,%.*s", sc->client_first_bare, sc->server_first,
				 (int)(p_attr - in), in);
	r = scram_proof_ok(s, proof, auth_message, server_sig);
	free(auth_message);
	if (r != SASL_OK)
		return sasl_verify_result(s, r);
	buf_puts(challenge, "v=");
	base64_encode(challenge, server_sig, sizeof(server_sig));
	s->stage = 3;
	return SASL_CONTINUE;
}

int sasl_scram_step(sasl_server *s, const char *in, size_t len, buf *challenge)
{
	if (s->scram == NULL)
		s->scram = xcalloc(1, sizeof(*s->scram));
	switch (s->stage) {
	case 0:
		if (in == NULL) {
			s->stage = 1;
			return SASL_CONTINUE; /* empty challenge */
		}
		/* FALLTHROUGH */
	case 1:
		return scram_client_first(s, in, len, challenge);
	case 2:
		return scram_client_final(s, in, len, challenge);
	default:
		if (len != 0)
			return sasl_end(s, SASL_BAD, "SCRAM: expected an empty last response");
		return sasl_verify_result(s, SASL_OK);
	}
}
