/* sasl_passdb.c: the SASL backend over the password database (see
 * sasl_passdb.h). Only translates results and formats: the engine does the
 * exchanges, passdb the lookups and hashing. */
#include "sasl_passdb.h"

#include <string.h>

#include "base64.h"
#include "buf.h"

static int result_of(enum passdb_result r)
{
	switch (r) {
	case PASSDB_OK: return SASL_OK;
	case PASSDB_TEMP: return SASL_TEMP;
	default: return SASL_FAIL;
	}
}

static int backend_verify(void *ctx, const char *user, const char *password)
{
	return result_of(passdb_verify(ctx, user, password));
}

/* backend_cram: a user without a CRAM-MD5 secret fails like an unknown
 * user or a wrong digest. */
static int backend_cram(void *ctx, const char *user,
			unsigned char context_r[SASL_CRAM_CONTEXT_LEN])
{
	return result_of(passdb_get_cram(ctx, user, context_r));
}

static char *b64(const void *data, size_t len)
{
	buf *b = buf_new(base64_encoded_len(len) + 1);

	base64_encode(b, data, len);
	return buf_steal_free(&b);
}

static int backend_scram(void *ctx, const char *user, struct sasl_scram_secret *secret_r)
{
	struct passdb_scram keys;
	enum passdb_result r = passdb_get_scram(ctx, user, &keys);

	if (r != PASSDB_OK)
		return result_of(r);
	secret_r->iterations = keys.iterations;
	secret_r->salt_b64 = b64(keys.salt, keys.salt_len);
	secret_r->stored_key_b64 = b64(keys.stored_key, sizeof(keys.stored_key));
	secret_r->server_key_b64 = b64(keys.server_key, sizeof(keys.server_key));
	return SASL_OK;
}

void sasl_passdb_backend(struct sasl_backend *b, bool cram_md5)
{
	memset(b, 0, sizeof(*b));
	b->verify_plain = backend_verify;
	b->get_scram = backend_scram;
	if (cram_md5)
		b->get_cram_context = backend_cram;
}
