/* sasl_cram.c: CRAM-MD5 (RFC 2195) for the SASL engine. The server sends
 * a msg-id style challenge "<random.time@host>", the client answers
 * "user SP hex(HMAC-MD5(secret, challenge))". The server never needs the
 * cleartext secret: HMAC-MD5 is resumed from the MD5 states after the
 * outer and inner key pad blocks (the 32-byte context of sasl.h), which is
 * what Dovecot stores as {CRAM-MD5}. Resuming a digest needs the MD5_CTX
 * internals, which OpenSSL 3 keeps only in the deprecated low-level API:
 * hence OPENSSL_SUPPRESS_DEPRECATED here and nowhere else. */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/md5.h>
#include <openssl/rand.h>

#include "log.h"
#include "mem.h"
#include "sasl_int.h"

#define MD5_BLOCK 64
#define CRAM_DIGEST_HEX (2 * MD5_DIGEST_LENGTH)

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* pad_state: the MD5 chaining values after hashing key XOR pad (one block). */
static void pad_state(const unsigned char key[MD5_BLOCK], unsigned char pad,
		      unsigned char state_r[16])
{
	unsigned char block[MD5_BLOCK];
	MD5_CTX c;

	for (size_t i = 0; i < MD5_BLOCK; i++)
		block[i] = key[i] ^ pad;
	MD5_Init(&c);
	MD5_Update(&c, block, sizeof(block)); /* a whole block: hashed at once */
	put_le32(state_r, (uint32_t)c.A);
	put_le32(state_r + 4, (uint32_t)c.B);
	put_le32(state_r + 8, (uint32_t)c.C);
	put_le32(state_r + 12, (uint32_t)c.D);
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(&c, sizeof(c));
}

void sasl_cram_context(const void *secret, size_t len,
		       unsigned char context_r[SASL_CRAM_CONTEXT_LEN])
{
	unsigned char key[MD5_BLOCK];

	memset(key, 0, sizeof(key));
	if (len > MD5_BLOCK)
		MD5(secret, len, key); /* RFC 2104: long keys are hashed first */
	else
		memcpy(key, secret, len);
	pad_state(key, 0x5c, context_r);
	pad_state(key, 0x36, context_r + 16);
	OPENSSL_cleanse(key, sizeof(key));
}

/* md5_resume: an MD5 context as it was after one block with the given
 * chaining values. */
static void md5_resume(MD5_CTX *c, const unsigned char state[16])
{
	MD5_Init(c);
	c->A = get_le32(state);
	c->B = get_le32(state + 4);
	c->C = get_le32(state + 8);
	c->D = get_le32(state + 12);
	c->Nl = MD5_BLOCK * 8; /* bits hashed so far */
	c->Nh = 0;
}

static void cram_hmac(const unsigned char context[SASL_CRAM_CONTEXT_LEN], const char *text,
		      unsigned char digest_r[MD5_DIGEST_LENGTH])
{
	unsigned char inner[MD5_DIGEST_LENGTH];
	MD5_CTX c;

	md5_resume(&c, context + 16);
	MD5_Update(&c, text, strlen(text));
	MD5_Final(inner, &c);
	md5_resume(&c, context);
	MD5_Update(&c, inner, sizeof(inner));
	MD5_Final(digest_r, &c);
	OPENSSL_cleanse(&c, sizeof(c));
}

/* cram_new_challenge: "<hex.time@host>" with 64 random bits, or NULL when
 * there is no randomness to be had. */
static char *cram_new_challenge(void)
{
	unsigned char rnd[8];
	char host[256];
	unsigned long long r = 0;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return NULL;
	for (size_t i = 0; i < sizeof(rnd); i++)
		r = r << 8 | rnd[i];
	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	return xasprintf("<%016llx.%lld@%s>", r, (long long)time(NULL), host);
}

/* cram_parse_digest: the 32 hex digits at hex, lowercased into out. */
static int cram_parse_digest(const char *hex, size_t len, char out[CRAM_DIGEST_HEX])
{
	static const char digits[] = "0123456789abcdef";

	if (len != CRAM_DIGEST_HEX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = hex[i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (c == '\0' || strchr(digits, c) == NULL)
			return -1;
		out[i] = c;
	}
	return 0;
}

static int cram_check(sasl_server *s, const char *in, size_t len)
{
	const char *space = memrchr(in, ' ', len);
	unsigned char context[SASL_CRAM_CONTEXT_LEN], digest[MD5_DIGEST_LENGTH];
	char got[CRAM_DIGEST_HEX], want[CRAM_DIGEST_HEX + 1];
	int r;

	if (space == NULL)
		return sasl_end(s, SASL_BAD, "CRAM-MD5: no space in response");
	if (cram_parse_digest(space + 1, (size_t)(in + len - space - 1), got) < 0)
		return sasl_end(s, SASL_BAD, "CRAM-MD5: digest is not 32 hex digits");
	r = sasl_set_login(s, in, (size_t)(space - in));
	if (r != SASL_CONTINUE)
		return r;
	r = s->backend->get_cram_context(s->ctx, s->login, context);
	if (r != SASL_OK)
		return sasl_verify_result(s, r);
	cram_hmac(context, s->cram_challenge, digest);
	for (size_t i = 0; i < sizeof(digest); i++)
		snprintf(want + 2 * i, 3, "%02x", digest[i]);
	r = CRYPTO_memcmp(got, want, CRAM_DIGEST_HEX) == 0 ? SASL_OK : SASL_FAIL;
	OPENSSL_cleanse(context, sizeof(context));
	return sasl_verify_result(s, r);
}

int sasl_cram_step(sasl_server *s, const char *in, size_t len, buf *challenge)
{
	if (s->stage == 0) {
		if (in != NULL)
			return sasl_end(s, SASL_BAD, "CRAM-MD5: initial response not allowed");
		s->cram_challenge = s->nonce != NULL ? xstrdup(s->nonce) : cram_new_challenge();
		if (s->cram_challenge == NULL)
			return sasl_end(s, SASL_TEMP, "no random bytes");
		s->stage = 1;
		buf_puts(challenge, s->cram_challenge);
		return SASL_CONTINUE;
	}
	return cram_check(s, in, len);
}
