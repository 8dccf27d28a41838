/* dkim_policy.c: the DKIM signing policy of one process: the settings read
 * from main.cf, the signing table (maps, opened lazily, reopened by
 * lib/map when rebuilt) and the key cache. A cached key is checked with
 * stat() at each use and loaded again when the file changed (device,
 * inode, size or modification time), so a new key is used without a
 * reload. Keys are reference-counted: a message being signed keeps the
 * key it started with, whatever the cache does meanwhile. */
#include "dkim_policy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "map.h"
#include "mem.h"
#include "mime.h"

/* A loaded key file, shared by the cache and the messages using it. */
struct key_ref {
	dkim_key *key;
	unsigned refs;
};

struct key_slot {
	char *path;
	struct key_ref *ref; /* NULL: not loaded (or failed) */
	struct stat st; /* of the file that was loaded */
	struct key_slot *next;
};

struct dkim_policy {
	char *config_dir;
	char **table_names;
	map **tables; /* parallel to table_names; NULL until opened */
	size_t ntables;
	char **headers; /* NULL-ended; NULL = dkim_default_headers */
	enum dkim_canon hcanon, bcanon;
	struct key_slot *keys;
};

struct dkim_policy_signing {
	dkim_signer *signer;
	struct key_ref *refs[DKIM_POLICY_MAX_ENTRIES];
	size_t nrefs;
	char *domain;
	char *selectors;
};

/* ---- settings ---- */

static int parse_canon_word(const char *w, size_t len, enum dkim_canon *c_r)
{
	if (len == 6 && strncasecmp(w, "simple", 6) == 0)
		*c_r = DKIM_CANON_SIMPLE;
	else if (len == 7 && strncasecmp(w, "relaxed", 7) == 0)
		*c_r = DKIM_CANON_RELAXED;
	else
		return -1;
	return 0;
}

/* parse_canon: "header/body", or one word for the header with a simple
 * body (RFC 6376 3.5, c=). */
static int parse_canon(const char *text, enum dkim_canon *h_r, enum dkim_canon *b_r)
{
	const char *slash = strchr(text, '/');

	*b_r = DKIM_CANON_SIMPLE;
	if (slash == NULL)
		return parse_canon_word(text, strlen(text), h_r);
	if (parse_canon_word(text, (size_t)(slash - text), h_r) < 0)
		return -1;
	return parse_canon_word(slash + 1, strlen(slash + 1), b_r);
}

/* parse_headers: dkim_signed_headers; *list_r NULL for the default. */
static int parse_headers(const char *value, char ***list_r, char **err_r)
{
	char **list = cfg_split_list(value);
	bool from = false;

	if (list[0] == NULL) {
		cfg_free_list(&list);
		*list_r = NULL;
		return 0;
	}
	for (char **h = list; *h != NULL; h++)
		from |= strcasecmp(*h, "From") == 0;
	if (!from) {
		*err_r = xstrdup("dkim_signed_headers: From must be signed (RFC 6376 5.4)");
		cfg_free_list(&list);
		return -1;
	}
	*list_r = list;
	return 0;
}

int dkim_policy_check_settings(cfg *c, char **err_r)
{
	enum dkim_canon h, b;
	char **list = NULL;

	*err_r = NULL;
	if (parse_canon(cfg_get(c, "dkim_canonicalization"), &h, &b) < 0) {
		*err_r = xasprintf("dkim_canonicalization: \"%s\" is not relaxed/relaxed, "
				   "relaxed/simple, simple/relaxed or simple/simple",
				   cfg_get(c, "dkim_canonicalization"));
		return -1;
	}
	if (parse_headers(cfg_get(c, "dkim_signed_headers"), &list, err_r) < 0)
		return -1;
	cfg_free_list(&list);
	return 0;
}

dkim_policy *dkim_policy_new(cfg *c, char **err_r)
{
	char **names = cfg_split_list(cfg_get(c, "dkim_signing_table"));
	dkim_policy *p;

	*err_r = NULL;
	if (!cfg_get_bool(c, "dkim_sign") || names[0] == NULL) {
		cfg_free_list(&names);
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->table_names = names;
	while (names[p->ntables] != NULL)
		p->ntables++;
	p->tables = xcalloc(p->ntables, sizeof(*p->tables));
	p->config_dir = xstrdup(cfg_get(c, "config_directory"));
	if (parse_canon(cfg_get(c, "dkim_canonicalization"), &p->hcanon, &p->bcanon) < 0 ||
	    parse_headers(cfg_get(c, "dkim_signed_headers"), &p->headers, err_r) < 0) {
		if (*err_r == NULL)
			dkim_policy_check_settings(c, err_r);
		dkim_policy_free(&p);
		return NULL;
	}
	return p;
}

static void key_ref_drop(struct key_ref **r)
{
	if (*r != NULL && --(*r)->refs == 0) {
		dkim_key_free(&(*r)->key);
		free(*r);
	}
	*r = NULL;
}

void dkim_policy_free(dkim_policy **pp)
{
	dkim_policy *p = *pp;

	if (p == NULL)
		return;
	for (size_t i = 0; i < p->ntables; i++)
		map_close(&p->tables[i]);
	free(p->tables);
	cfg_free_list(&p->table_names);
	if (p->headers != NULL)
		cfg_free_list(&p->headers);
	while (p->keys != NULL) {
		struct key_slot *next = p->keys->next;

		key_ref_drop(&p->keys->ref);
		free(p->keys->path);
		free(p->keys);
		p->keys = next;
	}
	free(p->config_dir);
	free(p);
	*pp = NULL;
}

/* ---- the table ---- */

/* table_get: key in table i. FOUND with *value_r (heap), NOTFOUND or
 * TEMP (*err_r heap). */
static enum map_result table_get(dkim_policy *p, size_t i, const char *key, char **value_r,
				 char **err_r)
{
	const char *value;
	enum map_result r;

	if (p->tables[i] == NULL) {
		p->tables[i] = map_open(p->table_names[i], err_r);
		if (p->tables[i] == NULL)
			return MAP_TEMP;
	}
	r = map_lookup(p->tables[i], key, &value);
	if (r == MAP_FOUND)
		*value_r = xstrdup(value);
	else if (r == MAP_TEMP)
		*err_r = xasprintf("%s: %s", p->table_names[i], map_error(p->tables[i]));
	return r;
}

/* table_find: the entry of domain (exact, then ".parent" for each parent
 * domain); *matched_r (heap) is the domain the entry is for. */
static enum map_result table_find(dkim_policy *p, const char *domain, char **matched_r,
				  char **value_r, char **err_r)
{
	for (const char *d = domain; d != NULL && *d != '\0';) {
		char *key = d == domain ? xstrdup(d) : xasprintf(".%s", d);

		for (size_t i = 0; i < p->ntables; i++) {
			enum map_result r = table_get(p, i, key, value_r, err_r);

			if (r == MAP_NOTFOUND)
				continue;
			free(key);
			if (r == MAP_FOUND)
				*matched_r = xstrdup(d);
			return r;
		}
		free(key);
		d = strchr(d, '.');
		if (d != NULL)
			d++;
	}
	return MAP_NOTFOUND;
}

/* ---- the key cache ---- */

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static struct key_slot *slot_of(dkim_policy *p, const char *path)
{
	struct key_slot *s;

	for (s = p->keys; s != NULL; s = s->next)
		if (strcmp(s->path, path) == 0)
			return s;
	s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(path);
	s->next = p->keys;
	p->keys = s;
	return s;
}

/* key_get: the entry's key, loaded again if the file changed; a new
 * reference for the caller, or NULL with *err_r (heap). */
static struct key_ref *key_get(dkim_policy *p, const struct dkim_policy_entry *e, char **err_r)
{
	struct key_slot *s = slot_of(p, e->key_path);
	struct stat st;
	dkim_key *k;

	if (stat(e->key_path, &st) < 0) {
		*err_r = xasprintf("%s: %s", e->key_path, strerror(errno));
		return NULL;
	}
	if (s->ref == NULL || !same_file(&st, &s->st)) {
		key_ref_drop(&s->ref);
		k = dkim_policy_load_key(e, err_r);
		if (k == NULL)
			return NULL;
		s->ref = xcalloc(1, sizeof(*s->ref));
		s->ref->key = k;
		s->ref->refs = 1;
		s->st = st;
	}
	if (dkim_key_alg(s->ref->key) != e->alg) { /* same file, other entry */
		*err_r = xasprintf("%s: an %s key, but the entry says %s", e->key_path,
				   dkim_alg_name(dkim_key_alg(s->ref->key)), dkim_alg_name(e->alg));
		return NULL;
	}
	s->ref->refs++;
	return s->ref;
}

/* ---- signing ---- */

void dkim_policy_signing_free(dkim_policy_signing **sp)
{
	dkim_policy_signing *s = *sp;

	if (s == NULL)
		return;
	dkim_signer_free(&s->signer); /* before the keys it borrows */
	for (size_t i = 0; i < s->nrefs; i++)
		key_ref_drop(&s->refs[i]);
	free(s->domain);
	free(s->selectors);
	free(s);
	*sp = NULL;
}

/* add_entry: one signature; false (logged) when its key is unusable. */
static bool add_entry(dkim_policy *p, dkim_policy_signing *s, const char *log_id,
		      const struct dkim_policy_entry *e, buf *selectors)
{
	struct dkim_sign_params params = {
		.domain = s->domain,
		.selector = e->selector,
		.header_canon = p->hcanon,
		.body_canon = p->bcanon,
		.headers = (const char *const *)p->headers,
		.timestamp = time(NULL),
	};
	struct key_ref *ref;
	char *err = NULL;

	ref = key_get(p, e, &err);
	if (ref != NULL) {
		params.key = ref->key;
		if (dkim_signer_add(s->signer, &params, &err) == 0) {
			s->refs[s->nrefs++] = ref;
			buf_printf(selectors, "%s%s", buf_len(selectors) ? "," : "", e->selector);
			return true;
		}
		key_ref_drop(&ref);
	}
	log_warn("%s: DKIM key of %s selector %s unusable: %s", log_id, s->domain, e->selector,
		 err);
	free(err);
	return false;
}

/* build: the signing of domain with the table value. */
static enum dkim_policy_result build(dkim_policy *p, const char *log_id, char *domain,
				     const char *value, dkim_policy_signing **signing_r,
				     char **err_r)
{
	struct dkim_policy_entry *e = NULL;
	dkim_policy_signing *s;
	size_t n = 0;
	buf *sel;

	if (dkim_policy_parse_value(value, p->config_dir, &e, &n, err_r) < 0) {
		char *why = xasprintf("signing table entry of %s: %s", domain, *err_r);
		free(*err_r);
		*err_r = why;
		free(domain);
		return DKIM_POLICY_TEMP;
	}
	s = xcalloc(1, sizeof(*s));
	s->signer = dkim_signer_new();
	s->domain = domain;
	sel = buf_new(64);
	for (size_t i = 0; i < n; i++)
		add_entry(p, s, log_id, &e[i], sel);
	s->selectors = buf_steal_free(&sel);
	dkim_policy_entries_free(&e, n);
	if (s->nrefs == 0) {
		*err_r = xasprintf("no usable DKIM key for %s", s->domain);
		dkim_policy_signing_free(&s);
		return DKIM_POLICY_TEMP;
	}
	*signing_r = s;
	return DKIM_POLICY_SIGN;
}

enum dkim_policy_result dkim_policy_start(dkim_policy *p, const char *log_id,
					  const char *from_domain, const char *env_domain,
					  dkim_policy_signing **signing_r, char **err_r)
{
	const char *tries[2] = { from_domain, env_domain };
	char *matched = NULL, *value = NULL;

	*err_r = NULL;
	*signing_r = NULL;
	for (size_t i = 0; i < 2; i++) {
		enum map_result r;

		if (tries[i] == NULL || *tries[i] == '\0' ||
		    (i == 1 && from_domain != NULL && strcasecmp(from_domain, env_domain) == 0))
			continue;
		r = table_find(p, tries[i], &matched, &value, err_r);
		if (r == MAP_TEMP)
			return DKIM_POLICY_TEMP;
		if (r == MAP_FOUND) {
			enum dkim_policy_result res = build(p, log_id, matched, value, signing_r,
							    err_r);
			free(value);
			return res;
		}
	}
	return DKIM_POLICY_NONE;
}

/* first_key: the first entry of e[0..n) whose key loads; NULL with
 * *err_r (the last trouble) when none does. */
static dkim_key *first_key(const struct dkim_policy_entry *e, size_t n, size_t *which_r,
			   char **err_r)
{
	for (size_t i = 0; i < n; i++) {
		dkim_key *k;

		free(*err_r);
		*err_r = NULL;
		k = dkim_policy_load_key(&e[i], err_r);
		if (k != NULL) {
			*which_r = i;
			return k;
		}
	}
	return NULL;
}

enum dkim_policy_result dkim_policy_key(dkim_policy *p, const char *domain, char **domain_r,
					char **selector_r, dkim_key **key_r, char **err_r)
{
	struct dkim_policy_entry *e = NULL;
	char *matched = NULL, *value = NULL;
	size_t n = 0, which = 0;
	enum map_result r;

	*err_r = NULL;
	*key_r = NULL;
	if (domain == NULL || *domain == '\0')
		return DKIM_POLICY_NONE;
	r = table_find(p, domain, &matched, &value, err_r);
	if (r != MAP_FOUND)
		return r == MAP_TEMP ? DKIM_POLICY_TEMP : DKIM_POLICY_NONE;
	if (dkim_policy_parse_value(value, p->config_dir, &e, &n, err_r) == 0)
		*key_r = first_key(e, n, &which, err_r);
	free(value);
	if (*key_r == NULL) {
		char *why = xasprintf("signing table entry of %s: %s", matched,
				      *err_r ? *err_r : "no entry");
		free(*err_r);
		*err_r = why;
		free(matched);
		dkim_policy_entries_free(&e, n);
		return DKIM_POLICY_TEMP;
	}
	free(*err_r);
	*err_r = NULL;
	*domain_r = matched;
	*selector_r = xstrdup(e[which].selector);
	dkim_policy_entries_free(&e, n);
	return DKIM_POLICY_SIGN;
}

void dkim_policy_body(dkim_policy_signing *s, const void *data, size_t len)
{
	dkim_signer_body(s->signer, data, len);
}

int dkim_policy_finish(dkim_policy_signing *s, const char *hdr, size_t len, buf *out,
		       char **err_r)
{
	return dkim_signer_finish(s->signer, hdr, len, out, err_r);
}

const char *dkim_policy_signing_domain(const dkim_policy_signing *s)
{
	return s->domain;
}

const char *dkim_policy_signing_selectors(const dkim_policy_signing *s)
{
	return s->selectors;
}

/* ---- the From: domain ---- */

char *dkim_policy_from_domain(const char *hdr, size_t len)
{
	mime_msg *m = mime_parse_header(hdr, len);
	const struct mime_field *f = mime_field_find(m, mime_root(m), "From", 0);
	struct mime_addr *addrs = NULL;
	char *domain = NULL;
	size_t n = 0;
	buf *value;

	if (f == NULL) {
		mime_free(&m);
		return NULL;
	}
	value = buf_new(256);
	mime_field_value(m, f, value);
	n = mime_addr_parse(buf_cstr(value), buf_len(value), &addrs);
	for (size_t i = 0; i < n && domain == NULL; i++) {
		const char *host = addrs[i].host;

		if (host != NULL && *host != '\0' && strcmp(host, "MISSING_DOMAIN") != 0 &&
		    strchr(host, '[') == NULL)
			domain = xstrdup(host);
	}
	if (domain != NULL)
		for (char *c = domain; *c != '\0'; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
	mime_addr_free(&addrs, n);
	buf_free(&value);
	mime_free(&m);
	return domain;
}
