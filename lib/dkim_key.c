/* dkim_key.c: DKIM keys on OpenSSL: private signing keys (PEM RSA or
 * Ed25519, or a raw base64 Ed25519 seed), the public key record of RFC
 * 6376 3.6.1 (v, k, h, s, t, p) with its checks, the record to publish
 * for a private key, and the two signature algorithms over the SHA-256
 * digest of the header data. Decoded public keys are kept in a small
 * cache: OpenSSL 3 spends some 180 us in d2i_PUBKEY, and a receiver sees
 * the same few keys (a bulk sender's selector) message after message. */
#include "dkim_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "base64.h"
#include "mem.h"
#include "taglist.h"

struct dkim_key {
	EVP_PKEY *pkey;
	enum dkim_alg alg;
};

int dkim_b64_decode(buf *out, const char *in)
{
	char *clean = taglist_strip_ws(in);
	int r = base64_decode(out, clean, strlen(clean));

	free(clean);
	return r;
}

static dkim_key *key_from_pkey(EVP_PKEY *pkey, char **err_r)
{
	dkim_key *k;
	int id = EVP_PKEY_get_base_id(pkey);

	if (id != EVP_PKEY_RSA && id != EVP_PKEY_ED25519) {
		*err_r = xstrdup("not an RSA or Ed25519 key");
		EVP_PKEY_free(pkey);
		return NULL;
	}
	if (id == EVP_PKEY_RSA && EVP_PKEY_get_bits(pkey) < 1024) {
		*err_r = xasprintf("RSA key of %d bits (1024 at least)", EVP_PKEY_get_bits(pkey));
		EVP_PKEY_free(pkey);
		return NULL;
	}
	k = xcalloc(1, sizeof(*k));
	k->pkey = pkey;
	k->alg = id == EVP_PKEY_RSA ? DKIM_RSA_SHA256 : DKIM_ED25519_SHA256;
	return k;
}

/* load_seed: the base64 of a 32-byte Ed25519 private key (seed). */
static EVP_PKEY *load_seed(const char *text, size_t len)
{
	char *copy = xstrndup(text, len);
	buf *raw = buf_new(64);
	EVP_PKEY *pkey = NULL;

	if (dkim_b64_decode(raw, copy) == 0 && buf_len(raw) == 32)
		pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
						    (const unsigned char *)buf_cstr(raw), 32);
	buf_free(&raw);
	free(copy);
	return pkey;
}

dkim_key *dkim_key_load(const char *text, size_t len, char **err_r)
{
	EVP_PKEY *pkey = NULL;

	*err_r = NULL;
	if (len > 0 && memmem(text, len, "-----BEGIN", 10) != NULL) {
		BIO *bio = BIO_new_mem_buf(text, (int)len);
		if (bio != NULL)
			pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else {
		pkey = load_seed(text, len);
	}
	if (pkey == NULL) {
		ERR_clear_error(); /* leave no OpenSSL error behind for a TLS caller */
		*err_r = xstrdup("not a PEM private key or base64 Ed25519 seed");
		return NULL;
	}
	return key_from_pkey(pkey, err_r);
}

dkim_key *dkim_key_load_file(const char *path, char **err_r)
{
	FILE *f = fopen(path, "r");
	buf *b;
	char chunk[4096];
	size_t n;
	dkim_key *k;

	if (f == NULL) {
		*err_r = xasprintf("%s: %s", path, strerror(errno));
		return NULL;
	}
	b = buf_new(4096);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && buf_len(b) < 1024 * 1024)
		buf_append(b, chunk, n);
	fclose(f);
	k = dkim_key_load(buf_cstr(b), buf_len(b), err_r);
	if (k == NULL) {
		char *e = xasprintf("%s: %s", path, *err_r);
		free(*err_r);
		*err_r = e;
	}
	buf_free(&b);
	return k;
}

void dkim_key_free(dkim_key **kp)
{
	if (*kp == NULL)
		return;
	EVP_PKEY_free((*kp)->pkey);
	free(*kp);
	*kp = NULL;
}

enum dkim_alg dkim_key_alg(const dkim_key *k)
{
	return k->alg;
}

EVP_PKEY *dkim_key_pkey(const dkim_key *k)
{
	return k->pkey;
}

char *dkim_key_txt_record(const dkim_key *k)
{
	buf *b = buf_new(512);
	unsigned char *der = NULL, raw[32];
	size_t raw_len = sizeof(raw);

	if (k->alg == DKIM_RSA_SHA256) {
		int n = i2d_PUBKEY(k->pkey, &der);
		buf_puts(b, "v=DKIM1; k=rsa; p=");
		if (n > 0)
			base64_encode(b, der, (size_t)n);
		OPENSSL_free(der);
	} else {
		buf_puts(b, "v=DKIM1; k=ed25519; p=");
		if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &raw_len) == 1)
			base64_encode(b, raw, raw_len);
	}
	return buf_steal_free(&b);
}

/* list_has: the colon-separated list (white space allowed) holds word. */
static bool list_has(const char *list, const char *word)
{
	char *clean = taglist_strip_ws(list);
	bool found = false;
	size_t wlen = strlen(word);

	for (char *p = clean; !found;) {
		char *colon = strchr(p, ':');
		size_t n = colon != NULL ? (size_t)(colon - p) : strlen(p);
		found = n == wlen && strncasecmp(p, word, n) == 0;
		if (colon == NULL)
			break;
		p = colon + 1;
	}
	free(clean);
	return found;
}

static EVP_PKEY *decode_rsa(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)len);

	if (pkey == NULL) { /* some publish a bare PKCS#1 RSAPublicKey */
		p = der;
		pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)len);
	}
	if (pkey != NULL && EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	return pkey;
}

/* ---- the decoded public keys seen last ---- */

#define PUBKEY_CACHE_SLOTS 32
#define PUBKEY_CACHE_DER_MAX 1100 /* an RSA-8192 SubjectPublicKeyInfo fits */

struct pubkey_slot {
	enum dkim_alg alg;
	size_t len;
	unsigned char der[PUBKEY_CACHE_DER_MAX];
	EVP_PKEY *pkey; /* NULL: empty */
};

static struct pubkey_slot pubkey_cache[PUBKEY_CACHE_SLOTS];
static unsigned pubkey_cache_next; /* the slot the next new key replaces */
static pthread_mutex_t pubkey_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* pubkey_cached: a new reference to the key decoded from der, or NULL. */
static EVP_PKEY *pubkey_cached(enum dkim_alg alg, const unsigned char *der, size_t len)
{
	EVP_PKEY *found = NULL;

	pthread_mutex_lock(&pubkey_cache_lock);
	for (unsigned i = 0; i < PUBKEY_CACHE_SLOTS && found == NULL; i++) {
		struct pubkey_slot *e = &pubkey_cache[i];
		if (e->pkey != NULL && e->alg == alg && e->len == len && memcmp(e->der, der, len) == 0 &&
		    EVP_PKEY_up_ref(e->pkey) == 1)
			found = e->pkey;
	}
	pthread_mutex_unlock(&pubkey_cache_lock);
	return found;
}

static void pubkey_remember(enum dkim_alg alg, const unsigned char *der, size_t len, EVP_PKEY *pkey)
{
	struct pubkey_slot *e;

	if (len > PUBKEY_CACHE_DER_MAX || EVP_PKEY_up_ref(pkey) != 1)
		return;
	pthread_mutex_lock(&pubkey_cache_lock);
	e = &pubkey_cache[pubkey_cache_next];
	pubkey_cache_next = (pubkey_cache_next + 1) % PUBKEY_CACHE_SLOTS;
	EVP_PKEY_free(e->pkey);
	e->alg = alg;
	e->len = len;
	memcpy(e->der, der, len);
	e->pkey = pkey;
	pthread_mutex_unlock(&pubkey_cache_lock);
}

static EVP_PKEY *pubkey_from_der(enum dkim_alg alg, const unsigned char *der, size_t len)
{
	EVP_PKEY *pkey = pubkey_cached(alg, der, len);

	if (pkey != NULL)
		return pkey;
	if (alg == DKIM_RSA_SHA256)
		pkey = decode_rsa(der, len);
	else if (len == 32)
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, 32);
	if (pkey != NULL)
		pubkey_remember(alg, der, len, pkey);
	return pkey;
}

static int pubkey_decode(const char *p, struct dkim_pubkey *k, const char **reason_r)
{
	buf *der = buf_new(600);
	const unsigned char *d = (const unsigned char *)buf_cstr(der);

	if (dkim_b64_decode(der, p) != 0) {
		*reason_r = "key record: bad base64 in p=";
		buf_free(&der);
		return -1;
	}
	d = (const unsigned char *)buf_cstr(der);
	k->pkey = pubkey_from_der(k->alg, d, buf_len(der));
	buf_free(&der);
	if (k->pkey == NULL) {
		ERR_clear_error();
		*reason_r = "key record: undecodable public key";
		return -1;
	}
	k->bits = (unsigned)EVP_PKEY_get_bits(k->pkey);
	return 0;
}

static int pubkey_check_tags(const taglist *tl, struct dkim_pubkey *k, const char **reason_r)
{
	const char *v = taglist_get(tl, "v"), *kt = taglist_get(tl, "k");
	const char *h = taglist_get(tl, "h"), *s = taglist_get(tl, "s");
	const char *t = taglist_get(tl, "t");

	if (v != NULL && (strcmp(v, "DKIM1") != 0 || strcmp(taglist_name(tl, 0), "v") != 0)) {
		*reason_r = "key record: bad version";
		return -1;
	}
	if (kt == NULL || strcmp(kt, "rsa") == 0)
		k->alg = DKIM_RSA_SHA256;
	else if (strcmp(kt, "ed25519") == 0)
		k->alg = DKIM_ED25519_SHA256;
	else {
		*reason_r = "key record: unknown key type";
		return -1;
	}
	if (h != NULL && !list_has(h, "sha256")) {
		*reason_r = "key record: sha256 not allowed by h=";
		return -1;
	}
	if (s != NULL && !list_has(s, "*") && !list_has(s, "email")) {
		*reason_r = "key record: service type is not email";
		return -1;
	}
	if (t != NULL) {
		k->testing = list_has(t, "y");
		k->strict = list_has(t, "s");
	}
	return 0;
}

int dkim_pubkey_parse(const char *txt, size_t len, struct dkim_pubkey *k, const char **reason_r)
{
	char *err = NULL;
	taglist *tl = taglist_parse(txt, len, &err);
	const char *p;
	int r = -1;

	memset(k, 0, sizeof(*k));
	if (tl == NULL) {
		free(err);
		*reason_r = "key record: syntax error";
		return -1;
	}
	if (pubkey_check_tags(tl, k, reason_r) != 0)
		goto out;
	p = taglist_get(tl, "p");
	if (p == NULL) {
		*reason_r = "key record: no p=";
		goto out;
	}
	if (*p == '\0') {
		*reason_r = "key revoked";
		goto out;
	}
	r = pubkey_decode(p, k, reason_r);
out:
	taglist_free(&tl);
	return r;
}

void dkim_pubkey_clear(struct dkim_pubkey *k)
{
	EVP_PKEY_free(k->pkey);
	memset(k, 0, sizeof(*k));
}

int dkim_sig_sign(EVP_PKEY *pkey, enum dkim_alg alg, const unsigned char digest[32], buf *out)
{
	unsigned char sig[1024];
	size_t siglen = sizeof(sig);
	int ok = 0;

	if (alg == DKIM_RSA_SHA256) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
		ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 &&
		     EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
		     EVP_PKEY_sign(ctx, sig, &siglen, digest, 32) == 1;
		EVP_PKEY_CTX_free(ctx);
	} else {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		ok = md != NULL && EVP_DigestSignInit(md, NULL, NULL, NULL, pkey) == 1 &&
		     EVP_DigestSign(md, sig, &siglen, digest, 32) == 1;
		EVP_MD_CTX_free(md);
	}
	if (!ok) {
		ERR_clear_error();
		return -1;
	}
	buf_append(out, sig, siglen);
	return 0;
}

int dkim_sig_verify(EVP_PKEY *pkey, enum dkim_alg alg, const unsigned char digest[32],
		    const unsigned char *sig, size_t siglen)
{
	int ok = 0;

	if (alg == DKIM_RSA_SHA256) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
		ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
		     EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
		     EVP_PKEY_verify(ctx, sig, siglen, digest, 32) == 1;
		EVP_PKEY_CTX_free(ctx);
	} else {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		ok = md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) == 1 &&
		     EVP_DigestVerify(md, sig, siglen, digest, 32) == 1;
		EVP_MD_CTX_free(md);
	}
	if (!ok)
		ERR_clear_error();
	return ok ? 0 : -1;
}
