/* fuzz_sasl.c: fuzz target for the SASL server engine (lib/sasl*.c).
 * Byte 0 picks the exchange: bits 0-1 the mechanism (PLAIN, LOGIN,
 * CRAM-MD5, SCRAM-SHA-256), bit 2 a secure channel, bit 3 "the harness
 * base64-encodes each message" (so the fuzzer reaches the mechanisms'
 * parsers) instead of sending the bytes raw (the framing and the decoder),
 * bit 4 "no initial response", bit 5 a fixed server nonce "srvnonce" (so a
 * SCRAM client-final can match it). The rest is the client's messages,
 * one per '\n'. Checks that results and challenges stay consistent. */
#include "fuzz_util.h"

#include "base64.h"
#include "sasl.h"

static int fz_verify_plain(void *ctx, const char *user, const char *password)
{
	(void)ctx;
	if (strcmp(user, "temp") == 0)
		return SASL_TEMP;
	return strcmp(password, "pw") == 0 ? SASL_OK : SASL_FAIL;
}

static int fz_get_cram(void *ctx, const char *user, unsigned char context_r[SASL_CRAM_CONTEXT_LEN])
{
	(void)ctx;
	if (strcmp(user, "temp") == 0)
		return SASL_TEMP;
	sasl_cram_context("pw", 2, context_r);
	return SASL_OK;
}

static char *fz_b64(const void *data, size_t len)
{
	buf *b = buf_new(0);

	base64_encode(b, data, len);
	return buf_steal_free(&b);
}

static int fz_get_scram(void *ctx, const char *user, struct sasl_scram_secret *r)
{
	unsigned char stored[SASL_SCRAM_KEY_LEN], server[SASL_SCRAM_KEY_LEN];

	(void)ctx;
	if (strcmp(user, "temp") == 0)
		return SASL_TEMP;
	if (strcmp(user, "none") == 0)
		return SASL_FAIL;
	/* few iterations: the fuzzer should spend its time in the parsers */
	if (sasl_scram_keys("pw", "salt", 4, 2, stored, server) < 0)
		abort();
	r->iterations = 2;
	r->salt_b64 = fz_b64("salt", 4);
	r->stored_key_b64 = fz_b64(stored, sizeof(stored));
	r->server_key_b64 = fz_b64(server, sizeof(server));
	return SASL_OK;
}

static const struct sasl_backend fz_backend = { fz_verify_plain, fz_get_cram, fz_get_scram };

/* fz_step: one sasl_step with the invariants checked. */
static int fz_step(sasl_server *s, const char *wire, size_t len)
{
	char *challenge = NULL;
	int r = sasl_step(s, wire, len, &challenge);

	if ((r == SASL_CONTINUE) != (challenge != NULL))
		abort();
	if ((r == SASL_OK) != (sasl_user(s) != NULL))
		abort();
	if (sasl_user(s) != NULL && sasl_authzid(s) != NULL &&
	    strcmp(sasl_user(s), sasl_authzid(s)) != 0)
		abort();
	if (challenge != NULL) {
		buf *d = buf_new(0);

		if (base64_decode(d, challenge, strlen(challenge)) < 0)
			abort();
		buf_free(&d);
	}
	free(challenge);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const mechs[] = { "PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256" };
	const char *text;
	sasl_server *s;
	unsigned int flags;
	int r = SASL_CONTINUE;

	if (size == 0)
		return 0;
	flags = data[0];
	(void)sasl_mechanisms(&fz_backend, (flags & 4) != 0);
	s = sasl_new(mechs[flags & 3], &fz_backend, NULL, (flags & 4) != 0);
	if (s == NULL)
		return 0;
	if (flags & 32)
		sasl_set_nonce(s, "srvnonce");
	if (flags & 16)
		r = fz_step(s, NULL, 0);
	text = (const char *)data + 1;
	size--;
	for (size_t at = 0; r == SASL_CONTINUE && at <= size;) {
		const char *nl = memchr(text + at, '\n', size - at);
		size_t len = nl != NULL ? (size_t)(nl - (text + at)) : size - at;

		if (flags & 8) {
			char *wire = fz_b64(text + at, len);

			r = fz_step(s, wire, strlen(wire));
			free(wire);
		} else {
			r = fz_step(s, text + at, len);
		}
		at += len + 1;
	}
	sasl_free(&s);
	return 0;
}
