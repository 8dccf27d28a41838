/* dkim_policy_key.c: the pieces of the DKIM signing policy that deal with
 * one entry and its key: parsing and printing "selector:algorithm:keyfile"
 * entries, loading a key file for an entry (algorithm checked), comparing
 * a key with a published key record, generating keys and printing the
 * zone file line to publish. No cache and no settings: dkim_policy.c. */
#include "dkim_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "dkim_int.h"
#include "fsutil.h"
#include "mem.h"

int dkim_policy_alg_parse(const char *text, enum dkim_alg *alg_r)
{
	if (strcasecmp(text, "rsa-sha256") == 0 || strcasecmp(text, "rsa") == 0)
		*alg_r = DKIM_RSA_SHA256;
	else if (strcasecmp(text, "ed25519-sha256") == 0 || strcasecmp(text, "ed25519") == 0)
		*alg_r = DKIM_ED25519_SHA256;
	else
		return -1;
	return 0;
}

char *dkim_policy_format_entry(const char *selector, enum dkim_alg alg, const char *key_path)
{
	return xasprintf("%s:%s:%s", selector, dkim_alg_name(alg), key_path);
}

/* selector_ok: dot-separated labels of letters, digits, '-' and '_'. */
static bool selector_ok(const char *s)
{
	size_t label = 0;

	if (*s == '\0' || strlen(s) > 253)
		return false;
	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '-' && *s != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

/* parse_one: one "selector:algorithm:keyfile" word into e. */
static int parse_one(const char *word, const char *config_dir, struct dkim_policy_entry *e,
		     char **err_r)
{
	const char *c1 = strchr(word, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	char *alg;
	int rc;

	if (c2 == NULL || c2[1] == '\0') {
		*err_r = xasprintf("\"%s\" is not selector:algorithm:keyfile", word);
		return -1;
	}
	e->selector = xstrndup(word, (size_t)(c1 - word));
	alg = xstrndup(c1 + 1, (size_t)(c2 - c1 - 1));
	rc = dkim_policy_alg_parse(alg, &e->alg);
	if (!selector_ok(e->selector))
		*err_r = xasprintf("bad selector \"%s\"", e->selector);
	else if (rc < 0)
		*err_r = xasprintf("unknown algorithm \"%s\" (rsa-sha256 or ed25519-sha256)", alg);
	free(alg);
	if (*err_r != NULL)
		return -1;
	e->key_path = c2[1] == '/' ? xstrdup(c2 + 1) : fs_join(config_dir, c2 + 1);
	return 0;
}

static bool selector_taken(const struct dkim_policy_entry *e, size_t n, const char *selector)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(e[i].selector, selector) == 0)
			return true;
	return false;
}

int dkim_policy_parse_value(const char *value, const char *config_dir,
			    struct dkim_policy_entry **entries_r, size_t *n_r, char **err_r)
{
	char **words = cfg_split_list(value);
	struct dkim_policy_entry *e = NULL;
	size_t n = 0;

	*err_r = NULL;
	for (char **w = words; *w != NULL && *err_r == NULL; w++) {
		if (n == DKIM_POLICY_MAX_ENTRIES) {
			*err_r = xasprintf("more than %d signatures", DKIM_POLICY_MAX_ENTRIES);
			break;
		}
		e = xrealloc(e, (n + 1) * sizeof(*e));
		memset(&e[n], 0, sizeof(*e));
		if (parse_one(*w, config_dir, &e[n], err_r) == 0 &&
		    selector_taken(e, n, e[n].selector))
			*err_r = xasprintf("selector %s listed twice", e[n].selector);
		n++;
	}
	if (*err_r == NULL && n == 0)
		*err_r = xstrdup("no selector:algorithm:keyfile entry");
	cfg_free_list(&words);
	if (*err_r != NULL) {
		dkim_policy_entries_free(&e, n);
		return -1;
	}
	*entries_r = e;
	*n_r = n;
	return 0;
}

void dkim_policy_entries_free(struct dkim_policy_entry **entries, size_t n)
{
	if (*entries == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free((*entries)[i].selector);
		free((*entries)[i].key_path);
	}
	free(*entries);
	*entries = NULL;
}

dkim_key *dkim_policy_load_key(const struct dkim_policy_entry *e, char **err_r)
{
	dkim_key *k = dkim_key_load_file(e->key_path, err_r);

	if (k != NULL && dkim_key_alg(k) != e->alg) {
		*err_r = xasprintf("%s: an %s key, but the entry says %s", e->key_path,
				   dkim_alg_name(dkim_key_alg(k)), dkim_alg_name(e->alg));
		dkim_key_free(&k);
	}
	return k;
}

int dkim_policy_record_matches(const dkim_key *k, const char *txt, size_t len,
			       const char **why_r)
{
	struct dkim_pubkey pub;
	int rc;

	memset(&pub, 0, sizeof(pub));
	if (dkim_pubkey_parse(txt, len, &pub, why_r) < 0) {
		dkim_pubkey_clear(&pub);
		return -1;
	}
	if (pub.alg != dkim_key_alg(k)) {
		*why_r = "another key type";
		rc = 0;
	} else if (EVP_PKEY_eq(pub.pkey, dkim_key_pkey(k)) != 1) {
		*why_r = "another key";
		rc = 0;
	} else {
		rc = 1;
	}
	dkim_pubkey_clear(&pub);
	return rc;
}

int dkim_policy_keygen(enum dkim_alg alg, unsigned bits, char **pem_r, char **err_r)
{
	EVP_PKEY *pkey;
	BIO *mem;
	char *data;
	long n;

	if (alg == DKIM_RSA_SHA256 && (bits < 1024 || bits > 4096)) {
		*err_r = xasprintf("RSA keys have 1024 to 4096 bits, not %u", bits);
		return -1;
	}
	pkey = alg == DKIM_RSA_SHA256 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits)
				      : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pkey == NULL) {
		*err_r = xstrdup("OpenSSL could not generate the key");
		return -1;
	}
	mem = BIO_new(BIO_s_mem());
	if (mem == NULL || PEM_write_bio_PrivateKey(mem, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
		*err_r = xstrdup("OpenSSL could not write the key");
		BIO_free(mem);
		EVP_PKEY_free(pkey);
		return -1;
	}
	n = BIO_get_mem_data(mem, &data);
	*pem_r = xstrndup(data, (size_t)n);
	BIO_free(mem);
	EVP_PKEY_free(pkey);
	return 0;
}

char *dkim_policy_zone_record(const char *domain, const char *selector, const char *record)
{
	buf *b = buf_new(1024);
	size_t len = strlen(record);

	buf_printf(b, "%s._domainkey.%s. IN TXT (", selector, domain);
	for (size_t off = 0; off < len; off += 255) {
		size_t n = len - off < 255 ? len - off : 255;

		/* a key record holds no '"' or '\\': nothing to escape */
		buf_printf(b, " \"%.*s\"", (int)n, record + off);
	}
	buf_puts(b, " )");
	return buf_steal_free(&b);
}
