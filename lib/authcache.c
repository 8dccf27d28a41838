/* authcache.c: the verification cache of authcache.h: a direct-mapped
 * table of HMAC-SHA256 digests with expiry times. */
#include "authcache.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "mem.h"

#define DIGEST_LEN 32

struct slot {
	unsigned char digest[DIGEST_LEN];
	time_t expires; /* 0 = empty */
};

struct authcache {
	unsigned char key[DIGEST_LEN];
	struct slot *slots;
	size_t nslots;
	unsigned ttl;
};

authcache *authcache_new(size_t slots, unsigned ttl_seconds)
{
	authcache *c;

	if (slots == 0 || ttl_seconds == 0)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	if (RAND_bytes(c->key, sizeof(c->key)) != 1)
		log_fatal("authcache: no random bytes for the cache key");
	c->slots = xcalloc(slots, sizeof(*c->slots));
	c->nslots = slots;
	c->ttl = ttl_seconds;
	return c;
}

void authcache_free(authcache **cp)
{
	authcache *c = *cp;

	if (c == NULL)
		return;
	OPENSSL_cleanse(c->key, sizeof(c->key));
	free(c->slots);
	free(c);
	*cp = NULL;
}

/* Each field is followed by a NUL, so "ab"+"c" and "a"+"bc" differ. */
static void digest_of(const authcache *c, const char *user, const char *password,
		      const char *entry, unsigned char out[DIGEST_LEN])
{
	const char *parts[] = { user, password, entry };
	unsigned int len = DIGEST_LEN;
	buf *data = buf_new(256);

	for (size_t i = 0; i < 3; i++)
		buf_append(data, parts[i], strlen(parts[i]) + 1);
	if (HMAC(EVP_sha256(), c->key, sizeof(c->key), (const unsigned char *)buf_cstr(data),
		 buf_len(data), out, &len) == NULL)
		log_fatal("authcache: HMAC failed");
	OPENSSL_cleanse(buf_data(data), buf_len(data));
	buf_free(&data);
}

static struct slot *slot_of(authcache *c, const unsigned char digest[DIGEST_LEN])
{
	uint64_t index;

	memcpy(&index, digest, sizeof(index));
	return &c->slots[index % c->nslots];
}

bool authcache_hit(authcache *c, const char *user, const char *password, const char *entry)
{
	unsigned char digest[DIGEST_LEN];
	struct slot *s;

	if (c == NULL)
		return false;
	digest_of(c, user, password, entry, digest);
	s = slot_of(c, digest);
	return s->expires > time(NULL) && CRYPTO_memcmp(s->digest, digest, DIGEST_LEN) == 0;
}

void authcache_add(authcache *c, const char *user, const char *password, const char *entry)
{
	unsigned char digest[DIGEST_LEN];
	struct slot *s;

	if (c == NULL)
		return;
	digest_of(c, user, password, entry, digest);
	s = slot_of(c, digest);
	memcpy(s->digest, digest, DIGEST_LEN);
	s->expires = time(NULL) + (time_t)c->ttl;
}
