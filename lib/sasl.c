/* sasl.c: the SASL server engine's frame (see sasl.h): the mechanism
 * table and which mechanisms a channel allows, the per-message framing
 * ("*" cancels, "=" is an empty initial response, the length limit, strict
 * base64 in and out), identity checks shared by all mechanisms, and the
 * two cleartext mechanisms PLAIN (RFC 4616) and LOGIN. CRAM-MD5 lives in
 * sasl_cram.c, SCRAM-SHA-256 in sasl_scram.c. Decoded client messages may
 * hold passwords: they are wiped before their memory is freed. */
#include "sasl.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "base64.h"
#include "log.h"
#include "mem.h"
#include "sasl_int.h"

static int plain_step(sasl_server *s, const char *in, size_t len, buf *challenge);
static int login_step(sasl_server *s, const char *in, size_t len, buf *challenge);

enum mech_need { NEED_SECURE, NEED_CRAM, NEED_SCRAM };

struct mech_def {
	const char *name;
	sasl_mech_step *step;
	enum mech_need need;
};

static const struct mech_def mech_defs[] = {
	{ "PLAIN", plain_step, NEED_SECURE },
	{ "LOGIN", login_step, NEED_SECURE },
	{ "CRAM-MD5", sasl_cram_step, NEED_CRAM },
	{ "SCRAM-SHA-256", sasl_scram_step, NEED_SCRAM },
};

#define N_MECHS (sizeof(mech_defs) / sizeof(mech_defs[0]))

static bool mech_allowed(const struct mech_def *def, const struct sasl_backend *backend,
			 bool secure)
{
	switch (def->need) {
	case NEED_SECURE:
		return secure && backend->verify_plain != NULL;
	case NEED_CRAM:
		return backend->get_cram_context != NULL;
	case NEED_SCRAM:
		return backend->get_scram != NULL;
	}
	return false;
}

const char *sasl_mechanisms(const struct sasl_backend *backend, bool secure)
{
	/* indexed by cleartext << 2 | cram << 1 | scram */
	static const char *const lists[8] = {
		"",
		"SCRAM-SHA-256",
		"CRAM-MD5",
		"CRAM-MD5 SCRAM-SHA-256",
		"PLAIN LOGIN",
		"PLAIN LOGIN SCRAM-SHA-256",
		"PLAIN LOGIN CRAM-MD5",
		"PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256",
	};
	unsigned int index = 0;

	if (mech_allowed(&mech_defs[0], backend, secure))
		index |= 4;
	if (mech_allowed(&mech_defs[2], backend, secure))
		index |= 2;
	if (mech_allowed(&mech_defs[3], backend, secure))
		index |= 1;
	return lists[index];
}

sasl_server *sasl_new(const char *mech, const struct sasl_backend *backend, void *ctx,
		      bool secure_channel)
{
	for (size_t i = 0; i < N_MECHS; i++) {
		const struct mech_def *def = &mech_defs[i];
		sasl_server *s;

		if (strcasecmp(mech, def->name) != 0)
			continue;
		if (!mech_allowed(def, backend, secure_channel))
			return NULL;
		s = xcalloc(1, sizeof(*s));
		s->mech_name = def->name;
		s->step_fn = def->step;
		s->backend = backend;
		s->ctx = ctx;
		s->reason = "";
		return s;
	}
	return NULL;
}

void sasl_free(sasl_server **sp)
{
	sasl_server *s = *sp;

	if (s == NULL)
		return;
	sasl_scram_free(&s->scram);
	free(s->nonce);
	free(s->login);
	free(s->authzid);
	free(s->user);
	free(s->cram_challenge);
	free(s);
	*sp = NULL;
}

int sasl_end(sasl_server *s, int result, const char *reason)
{
	s->reason = reason;
	return result;
}

/* wipe_free: frees a buffer that may hold a password. */
static void wipe_free(buf **b)
{
	if (*b == NULL)
		return;
	OPENSSL_cleanse(buf_data(*b), buf_len(*b));
	buf_free(b);
}

/* frame_decode: turns the client's line into decoded bytes in *in_r
 * (NULL: no initial response). Returns SASL_CONTINUE to go on to the
 * mechanism, or the result that ends the exchange. */
static int frame_decode(sasl_server *s, const char *client, size_t len, buf **in_r)
{
	bool first = s->calls == 0;

	*in_r = NULL;
	if (client == NULL) {
		if (first)
			return SASL_CONTINUE;
		client = "";
		len = 0;
	}
	if (len == 1 && client[0] == '*')
		return sasl_end(s, SASL_CANCEL, "cancelled by the client");
	/* refuse a huge line before decoding; the exact check follows it */
	if (len > base64_encoded_len(SASL_MAX_RESPONSE))
		return sasl_end(s, SASL_BAD, "response too long");
	*in_r = buf_new(base64_decoded_max(len));
	if (first && len == 1 && client[0] == '=')
		return SASL_CONTINUE;
	if (base64_decode(*in_r, client, len) < 0) {
		buf_free(in_r);
		return sasl_end(s, SASL_BAD, "invalid base64");
	}
	if (buf_len(*in_r) > SASL_MAX_RESPONSE) {
		wipe_free(in_r);
		return sasl_end(s, SASL_BAD, "response too long");
	}
	return SASL_CONTINUE;
}

int sasl_step(sasl_server *s, const char *client, size_t len, char **challenge_b64_r)
{
	buf *in = NULL;
	buf *challenge;
	int r;

	*challenge_b64_r = NULL;
	if (s->done)
		log_panic("sasl_step: the %s exchange has already ended", s->mech_name);
	s->reason = "";
	r = frame_decode(s, client, len, &in);
	s->calls++;
	if (r != SASL_CONTINUE) {
		s->done = true;
		log_debug("sasl: %s: %s", s->mech_name, s->reason);
		return r;
	}
	challenge = buf_new(64);
	r = s->step_fn(s, in == NULL ? NULL : buf_cstr(in), in == NULL ? 0 : buf_len(in),
		       challenge);
	wipe_free(&in);
	if (r == SASL_CONTINUE) {
		buf *out = buf_new(base64_encoded_len(buf_len(challenge)) + 1);

		base64_encode(out, buf_cstr(challenge), buf_len(challenge));
		*challenge_b64_r = buf_steal_free(&out);
	} else {
		s->done = true;
		if (r != SASL_OK)
			log_debug("sasl: %s: %s", s->mech_name, s->reason);
	}
	buf_free(&challenge);
	return r;
}

/* utf8_char_len: the length of the well-formed UTF-8 character at p
 * (left bytes available), or 0 for a malformed, overlong, surrogate or
 * out-of-range sequence. */
static size_t utf8_char_len(const unsigned char *p, size_t left)
{
	uint32_t cp, min;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f, min = 0x80;
	else if ((p[0] & 0xf0) == 0xe0)
		n = 3, cp = p[0] & 0x0f, min = 0x800;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	if (cp >= 0x80 && cp <= 0x9f) /* C1 controls */
		return 0;
	return n;
}

int sasl_check_name(const char *name, size_t len)
{
	const unsigned char *p = (const unsigned char *)name;

	if (len == 0 || len > SASL_MAX_NAME)
		return -1;
	for (size_t i = 0; i < len;) {
		size_t n;

		if (p[i] < 0x20 || p[i] == 0x7f)
			return -1;
		n = utf8_char_len(p + i, len - i);
		if (n == 0)
			return -1;
		i += n;
	}
	return 0;
}

int sasl_set_login(sasl_server *s, const char *name, size_t len)
{
	if (sasl_check_name(name, len) < 0)
		return sasl_end(s, SASL_BAD, "invalid user name");
	free(s->login);
	s->login = xstrndup(name, len);
	return SASL_CONTINUE;
}

int sasl_verify_result(sasl_server *s, int backend_result)
{
	switch (backend_result) {
	case SASL_OK:
		s->user = xstrdup(s->login);
		return SASL_OK;
	case SASL_FAIL:
		return sasl_end(s, SASL_FAIL, "authentication failed");
	default:
		/* anything unclassified is temporary */
		return sasl_end(s, SASL_TEMP, "password lookup failed");
	}
}

/* plain_check: message = [authzid] NUL authcid NUL passwd (RFC 4616). */
static int plain_check(sasl_server *s, const char *in, size_t len)
{
	const char *nul1 = memchr(in, '\0', len);
	const char *authc, *nul2, *pass;
	int r;

	if (nul1 == NULL)
		return sasl_end(s, SASL_BAD, "PLAIN: no NUL separator");
	authc = nul1 + 1;
	nul2 = memchr(authc, '\0', (size_t)(in + len - authc));
	if (nul2 == NULL)
		return sasl_end(s, SASL_BAD, "PLAIN: one NUL separator only");
	pass = nul2 + 1;
	if (memchr(pass, '\0', (size_t)(in + len - pass)) != NULL)
		return sasl_end(s, SASL_BAD, "PLAIN: NUL in password");
	if (pass == in + len)
		return sasl_end(s, SASL_BAD, "PLAIN: empty password");
	r = sasl_set_login(s, authc, (size_t)(nul2 - authc));
	if (r != SASL_CONTINUE)
		return r;
	if (nul1 > in) {
		if (sasl_check_name(in, (size_t)(nul1 - in)) < 0)
			return sasl_end(s, SASL_BAD, "PLAIN: invalid authorization identity");
		s->authzid = xstrndup(in, (size_t)(nul1 - in));
		if (strcmp(s->authzid, s->login) != 0)
			return sasl_end(s, SASL_FAIL, "authorization identity differs from the user");
	}
	return sasl_verify_result(s, s->backend->verify_plain(s->ctx, s->login, pass));
}

static int plain_step(sasl_server *s, const char *in, size_t len, buf *challenge)
{
	(void)challenge;
	if (in == NULL)
		return SASL_CONTINUE; /* no initial response: empty challenge */
	return plain_check(s, in, len);
}

/* LOGIN (draft-murchison-sasl-login): "Username:", "Password:". An initial
 * response, as some clients send, is the user name. */
static int login_step(sasl_server *s, const char *in, size_t len, buf *challenge)
{
	int r;

	if (s->stage == 0 && in == NULL) {
		s->stage = 1;
		buf_puts(challenge, "Username:");
		return SASL_CONTINUE;
	}
	if (s->stage <= 1) {
		r = sasl_set_login(s, in, len);
		if (r != SASL_CONTINUE)
			return r;
		s->stage = 2;
		buf_puts(challenge, "Password:");
		return SASL_CONTINUE;
	}
	if (memchr(in, '\0', len) != NULL)
		return sasl_end(s, SASL_BAD, "LOGIN: NUL in password");
	return sasl_verify_result(s, s->backend->verify_plain(s->ctx, s->login, in));
}

const char *sasl_user(const sasl_server *s)
{
	return s->user;
}

const char *sasl_login_name(const sasl_server *s)
{
	return s->login;
}

const char *sasl_authzid(const sasl_server *s)
{
	return s->authzid;
}

const char *sasl_mech(const sasl_server *s)
{
	return s->mech_name;
}

const char *sasl_reason(const sasl_server *s)
{
	return s->reason;
}

void sasl_set_nonce(sasl_server *s, const char *nonce)
{
	free(s->nonce);
	s->nonce = xstrdup(nonce);
}
