/* tlstix.c: shared TLS session ticket keys (see tlstix.h): the hash
 * chain, its hand-over from master to a child through a pipe, and the
 * OpenSSL ticket callback that seals and opens tickets with the keys of
 * the current and the previous epoch.
 *
 * Per epoch e with chain state S(e):
 *   S(e+1)   = SHA-256("postern tlstix step" || S(e))
 *   name(e)  = first 16 bytes of HMAC-SHA256(S(e), "name")
 *   aes(e)   = HMAC-SHA256(S(e), "aes")    (AES-256-CBC key)
 *   mac(e)   = HMAC-SHA256(S(e), "mac")    (HMAC-SHA256 key)
 * A process keeps S(current) and the keys of current and current - 1;
 * everything older is overwritten as the chain moves. master hands out
 * S(current - 1), so a child started in the first minutes of an hour
 * still opens the tickets of the hour before, as its elders do. */
#include "tlstix.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "log.h"

#define TIX_NAME_LEN 16
#define TIX_KEY_LEN 32
#define TIX_STEP_LABEL "postern tlstix step"
/* On the pipe: the epoch (8 bytes, big-endian), then the state. */
#define TIX_WIRE_LEN (8 + TLSTIX_STATE_LEN)

struct tix_keys {
	bool valid;
	unsigned char name[TIX_NAME_LEN];
	unsigned char aes[TIX_KEY_LEN];
	unsigned char mac[TIX_KEY_LEN];
};

static struct {
	bool ready;
	struct tlstix_chain chain;
	struct tix_keys cur, prev;
	time_t (*clock)(time_t *);
} tix = { .clock = time };

uint64_t tlstix_epoch(time_t now)
{
	return now > 0 ? (uint64_t)now / TLSTIX_EPOCH_SECONDS : 0;
}

uint64_t tlstix_master_epoch(time_t now)
{
	uint64_t e = tlstix_epoch(now);

	return e > 0 ? e - 1 : 0;
}

bool tlstix_chain_new(struct tlstix_chain *c, time_t now)
{
	c->epoch = tlstix_epoch(now);
	return RAND_priv_bytes(c->state, sizeof(c->state)) == 1;
}

static void chain_step(struct tlstix_chain *c)
{
	unsigned char in[sizeof(TIX_STEP_LABEL) - 1 + TLSTIX_STATE_LEN];
	unsigned int len = 0;

	memcpy(in, TIX_STEP_LABEL, sizeof(TIX_STEP_LABEL) - 1);
	memcpy(in + sizeof(TIX_STEP_LABEL) - 1, c->state, TLSTIX_STATE_LEN);
	if (EVP_Digest(in, sizeof(in), c->state, &len, EVP_sha256(), NULL) != 1 ||
	    len != TLSTIX_STATE_LEN)
		log_fatal("tlstix: SHA-256 failed");
	OPENSSL_cleanse(in, sizeof(in));
	c->epoch++;
}

void tlstix_chain_advance(struct tlstix_chain *c, uint64_t epoch)
{
	while (c->epoch < epoch)
		chain_step(c);
}

static void derive(const unsigned char *state, const char *label, unsigned char *out,
		   size_t out_len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (HMAC(EVP_sha256(), state, TLSTIX_STATE_LEN, (const unsigned char *)label,
		 strlen(label), md, &len) == NULL ||
	    len < out_len)
		log_fatal("tlstix: HMAC-SHA256 failed");
	memcpy(out, md, out_len);
	OPENSSL_cleanse(md, sizeof(md));
}

static void keys_of(const struct tlstix_chain *c, struct tix_keys *k)
{
	k->valid = true;
	derive(c->state, "name", k->name, sizeof(k->name));
	derive(c->state, "aes", k->aes, sizeof(k->aes));
	derive(c->state, "mac", k->mac, sizeof(k->mac));
}

/* install: the process's chain; keys for its epoch and the one before
 * (when the chain is at a later epoch than that one, the previous keys
 * are unknown: the chain came already moved). */
static void install(const struct tlstix_chain *c)
{
	tix.chain = *c;
	keys_of(&tix.chain, &tix.cur);
	OPENSSL_cleanse(&tix.prev, sizeof(tix.prev));
	tix.ready = true;
}

/* refresh: moves the process's chain to the current epoch. */
static void refresh(void)
{
	uint64_t now = tlstix_epoch(tix.clock(NULL));

	if (now <= tix.chain.epoch)
		return;
	if (now == tix.chain.epoch + 1)
		tix.prev = tix.cur;
	else
		OPENSSL_cleanse(&tix.prev, sizeof(tix.prev));
	tlstix_chain_advance(&tix.chain, now);
	keys_of(&tix.chain, &tix.cur);
}

static void ensure_chain(void)
{
	struct tlstix_chain c;

	if (tix.ready)
		return;
	if (!tlstix_chain_new(&c, tix.clock(NULL)))
		log_fatal("tlstix: no random bytes for the ticket keys");
	install(&c);
	OPENSSL_cleanse(&c, sizeof(c));
}

void tlstix_set_clock(time_t (*clock)(time_t *))
{
	tix.clock = clock != NULL ? clock : time;
}

/* ---- hand-over ---- */

static void wire_put(unsigned char *w, const struct tlstix_chain *c)
{
	for (int i = 0; i < 8; i++)
		w[i] = (unsigned char)(c->epoch >> (8 * (7 - i)));
	memcpy(w + 8, c->state, TLSTIX_STATE_LEN);
}

static void wire_get(const unsigned char *w, struct tlstix_chain *c)
{
	c->epoch = 0;
	for (int i = 0; i < 8; i++)
		c->epoch = (c->epoch << 8) | w[i];
	memcpy(c->state, w + 8, TLSTIX_STATE_LEN);
}

int tlstix_send(const struct tlstix_chain *c)
{
	unsigned char w[TIX_WIRE_LEN];
	int p[2];
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	wire_put(w, c);
	n = write(p[1], w, sizeof(w)); /* far below the pipe's capacity */
	OPENSSL_cleanse(w, sizeof(w));
	close(p[1]);
	if (n != (ssize_t)sizeof(w)) {
		close(p[0]);
		errno = EIO;
		return -1;
	}
	return p[0];
}

void tlstix_inherit(void)
{
	const char *env = getenv(TLSTIX_ENV);
	unsigned char w[TIX_WIRE_LEN];
	struct tlstix_chain c;
	char *end;
	long fd;
	ssize_t n;

	if (env == NULL)
		return;
	fd = strtol(env, &end, 10);
	unsetenv(TLSTIX_ENV);
	if (*end != '\0' || fd < 3 || fd > 65535) {
		log_warn("tlstix: bad %s; TLS tickets open only in this process", TLSTIX_ENV);
		return;
	}
	if (tix.ready) { /* a chain is in use already: keep it */
		close((int)fd);
		return;
	}
	do
		n = read((int)fd, w, sizeof(w));
	while (n < 0 && errno == EINTR);
	close((int)fd);
	if (n != (ssize_t)sizeof(w)) {
		log_warn("tlstix: no ticket keys from master; TLS tickets open only in this process");
		return;
	}
	wire_get(w, &c);
	OPENSSL_cleanse(w, sizeof(w));
	install(&c);
	refresh();
	OPENSSL_cleanse(&c, sizeof(c));
}

/* ---- the OpenSSL side ---- */

static int mac_init(EVP_MAC_CTX *hctx, unsigned char *key)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, TIX_KEY_LEN),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};

	return EVP_MAC_CTX_set_params(hctx, params) == 1 ? 0 : -1;
}

static int seal(unsigned char *key_name, unsigned char *iv, EVP_CIPHER_CTX *cctx,
		EVP_MAC_CTX *hctx)
{
	struct tix_keys *k = &tix.cur;

	if (RAND_bytes(iv, EVP_CIPHER_iv_length(EVP_aes_256_cbc())) != 1)
		return -1;
	memcpy(key_name, k->name, TIX_NAME_LEN);
	if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1 ||
	    mac_init(hctx, k->mac) < 0)
		return -1;
	return 1;
}

/* open_ticket: 1 = opened with the current keys, 2 = with the previous
 * ones (OpenSSL then issues a new ticket), 0 = unknown key: full handshake. */
static int open_ticket(const unsigned char *key_name, unsigned char *iv, EVP_CIPHER_CTX *cctx,
		       EVP_MAC_CTX *hctx)
{
	struct tix_keys *k = NULL;

	if (tix.cur.valid && CRYPTO_memcmp(key_name, tix.cur.name, TIX_NAME_LEN) == 0)
		k = &tix.cur;
	else if (tix.prev.valid && CRYPTO_memcmp(key_name, tix.prev.name, TIX_NAME_LEN) == 0)
		k = &tix.prev;
	if (k == NULL)
		return 0;
	if (mac_init(hctx, k->mac) < 0 ||
	    EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1)
		return -1;
	return k == &tix.cur ? 1 : 2;
}

static int ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
		     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	(void)ssl; /* tlstix_enable made the chain before it installed this */
	refresh();
	return enc ? seal(key_name, iv, cctx, hctx) : open_ticket(key_name, iv, cctx, hctx);
}

void tlstix_enable(SSL_CTX *ctx, unsigned lifetime, const char *sid_ctx)
{
	if (lifetime == 0) {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		return;
	}
	if (lifetime > TLSTIX_EPOCH_SECONDS)
		lifetime = TLSTIX_EPOCH_SECONDS;
	ensure_chain();
	/* Tickets only: a server-side cache would be per process, and the
	 * kernel spreads a client's connections over the processes. */
	SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
	/* One TLS 1.3 ticket, not OpenSSL's two: mail clients hold one
	 * connection at a time, and each ticket costs the handshake an
	 * encryption and a record. */
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_timeout(ctx, (long)lifetime);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)sid_ctx,
				       (unsigned int)strnlen(sid_ctx, SSL_MAX_SID_CTX_LENGTH));
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
}
