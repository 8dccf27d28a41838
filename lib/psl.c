/* psl.c: the Public Suffix List table and the prevailing-rule algorithm
 * of publicsuffix.org: the rules matching a domain are looked up suffix
 * by suffix (one hash probe per label, on the tails of one normalised
 * string, no copies); an exception rule wins and counts one label less,
 * otherwise the matching rule with most labels, otherwise "*" (1 label).
 * Each key (a rule without "!" or "*.") carries flags: the name itself
 * is a rule, "*.name" is a rule, "!name" is a rule. */
#include "psl.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "psl_idna.h"

enum { RULE_EXACT = 1, RULE_WILD = 2, RULE_EXCEPT = 4 };

struct psl_slot {
	char *key; /* NULL: empty */
	uint64_t hash;
	unsigned flags;
};

struct psl_table {
	struct psl_slot *slots;
	size_t size; /* a power of two */
	size_t used;
	size_t icann, private_rules, skipped;
};

static uint64_t fnv1a(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* slot_find: the slot holding key, or the empty slot where it belongs. */
static struct psl_slot *slot_find(const struct psl_table *t, const char *key, size_t len,
				  uint64_t h)
{
	size_t i = (size_t)h & (t->size - 1);

	for (;;) {
		struct psl_slot *s = &t->slots[i];

		if (s->key == NULL ||
		    (s->hash == h && strncmp(s->key, key, len) == 0 && s->key[len] == '\0'))
			return s;
		i = (i + 1) & (t->size - 1);
	}
}

static void table_grow(struct psl_table *t)
{
	struct psl_slot *old = t->slots;
	size_t old_size = t->size;

	t->size = old_size ? old_size * 2 : 1024;
	t->slots = xcalloc(t->size, sizeof(*t->slots));
	for (size_t i = 0; i < old_size; i++) {
		if (old[i].key != NULL)
			*slot_find(t, old[i].key, strlen(old[i].key), old[i].hash) = old[i];
	}
	free(old);
}

static void table_add(struct psl_table *t, const char *key, unsigned flag)
{
	size_t len = strlen(key);
	uint64_t h = fnv1a(key, len);
	struct psl_slot *s;

	if ((t->used + 1) * 2 > t->size)
		table_grow(t);
	s = slot_find(t, key, len, h);
	if (s->key == NULL) {
		s->key = xstrdup(key);
		s->hash = h;
		t->used++;
	}
	s->flags |= flag;
}

static unsigned table_flags(const struct psl_table *t, const char *key, size_t len)
{
	const struct psl_slot *s;

	if (t->size == 0)
		return 0;
	s = slot_find(t, key, len, fnv1a(key, len));
	return s->key != NULL ? s->flags : 0;
}

int psl_normalize(const char *domain, buf *out)
{
	size_t start = buf_len(out), len = strlen(domain), labels = 1, label = 0;
	const char *p;

	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0 || psl_idna_to_ascii(domain, len, out) != 0)
		return -1;
	p = buf_cstr(out) + start;
	if (buf_len(out) - start > PSL_MAX_NAME)
		return -1;
	for (size_t i = 0; p[i] != '\0'; i++) {
		if (p[i] != '.') {
			if (++label > PSL_MAX_LABEL)
				return -1;
			continue;
		}
		if (label == 0 || ++labels > PSL_MAX_LABELS)
			return -1;
		label = 0;
	}
	return label == 0 ? -1 : (int)labels;
}

/* parse_rule: one rule (the text before the first white space) into the
 * table. Returns 0, or -1 for a rule that is not usable. */
static int parse_rule(struct psl_table *t, const char *rule, size_t len)
{
	unsigned flag = RULE_EXACT;
	buf *b;
	char *copy;
	int ok;

	if (len > 0 && rule[0] == '!') {
		flag = RULE_EXCEPT;
		rule++, len--;
	} else if (len > 2 && rule[0] == '*' && rule[1] == '.') {
		flag = RULE_WILD;
		rule += 2, len -= 2;
	}
	if (len == 0 || memchr(rule, '*', len) != NULL || memchr(rule, '!', len) != NULL ||
	    memchr(rule, '\0', len) != NULL || rule[len - 1] == '.')
		return -1;
	/* an exception takes one label off a wildcard rule: it needs two */
	if (flag == RULE_EXCEPT && memchr(rule, '.', len) == NULL)
		return -1;
	b = buf_new(len + 8);
	copy = xstrndup(rule, len);
	ok = psl_normalize(copy, b) > 0;
	free(copy);
	if (ok)
		table_add(t, buf_cstr(b), flag);
	buf_free(&b);
	return ok ? 0 : -1;
}

/* parse_line: a comment (perhaps a section marker), a blank line or a
 * rule. *private_r tracks the section. */
static void parse_line(struct psl_table *t, const char *line, size_t len, unsigned flags,
		       int *private_r)
{
	size_t n = 0;

	while (len > 0 && (*line == ' ' || *line == '\t'))
		line++, len--;
	if (len >= 2 && line[0] == '/' && line[1] == '/') {
		if (len >= 30 && memmem(line, len, "===BEGIN PRIVATE DOMAINS===", 27) != NULL)
			*private_r = 1;
		else if (memmem(line, len, "===END PRIVATE DOMAINS===", 25) != NULL)
			*private_r = 0;
		return;
	}
	while (n < len && line[n] != ' ' && line[n] != '\t' && line[n] != '\r')
		n++;
	if (n == 0 || (*private_r && (flags & PSL_ICANN_ONLY)))
		return;
	if (parse_rule(t, line, n) != 0) {
		t->skipped++;
		return;
	}
	if (*private_r)
		t->private_rules++;
	else
		t->icann++;
}

psl_table *psl_parse(const char *text, size_t len, unsigned flags, char **err_r)
{
	psl_table *t = xcalloc(1, sizeof(*t));
	int private_section = 0;
	size_t pos = 0;

	*err_r = NULL;
	while (pos < len && t->icann + t->private_rules <= PSL_MAX_RULES) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;

		parse_line(t, text + pos, end - pos, flags, &private_section);
		pos = end + 1;
	}
	if (t->icann + t->private_rules > PSL_MAX_RULES)
		*err_r = xasprintf("more than %u rules", PSL_MAX_RULES);
	else if (t->used == 0)
		*err_r = xasprintf("no rules (%zu lines refused)", t->skipped);
	if (*err_r != NULL)
		psl_free(&t);
	return t;
}

static char *read_file(const char *path, size_t *len_r, char **err_r)
{
	FILE *f = fopen(path, "rb");
	buf *b;
	char chunk[65536];
	size_t n;

	if (f == NULL) {
		*err_r = xasprintf("%s: %s", path, strerror(errno));
		return NULL;
	}
	b = buf_new(sizeof(chunk));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && buf_len(b) <= PSL_MAX_FILE)
		buf_append(b, chunk, n);
	if (ferror(f) || buf_len(b) > PSL_MAX_FILE) {
		*err_r = ferror(f) ? xasprintf("%s: read error", path)
				   : xasprintf("%s: larger than %u bytes", path, PSL_MAX_FILE);
		fclose(f);
		buf_free(&b);
		return NULL;
	}
	fclose(f);
	*len_r = buf_len(b);
	return buf_steal_free(&b);
}

psl_table *psl_load(const char *path, unsigned flags, char **err_r)
{
	size_t len = 0;
	char *text = read_file(path, &len, err_r), *err = NULL;
	psl_table *t;

	if (text == NULL)
		return NULL;
	t = psl_parse(text, len, flags, &err);
	free(text);
	if (t == NULL) {
		*err_r = xasprintf("%s: %s", path, err);
		free(err);
	}
	return t;
}

psl_table *psl_fallback(void)
{
	return xcalloc(1, sizeof(psl_table));
}

psl_table *psl_load_or_fallback(const char *path, unsigned flags)
{
	char *err = NULL;
	psl_table *t = psl_load(path != NULL ? path : PSL_DEFAULT_PATH, flags, &err);

	if (t != NULL)
		return t;
	log_warn("public suffix list not loaded (%s): the organisational domain is taken as "
		 "the last two labels; install the publicsuffix package",
		 err);
	free(err);
	return psl_fallback();
}

void psl_free(psl_table **tp)
{
	psl_table *t = *tp;

	if (t == NULL)
		return;
	for (size_t i = 0; i < t->size; i++)
		free(t->slots[i].key);
	free(t->slots);
	free(t);
	*tp = NULL;
}

size_t psl_rules(const psl_table *t, size_t *icann_r, size_t *private_r)
{
	if (icann_r != NULL)
		*icann_r = t->icann;
	if (private_r != NULL)
		*private_r = t->private_rules;
	return t->icann + t->private_rules;
}

size_t psl_skipped(const psl_table *t)
{
	return t->skipped;
}

bool psl_is_fallback(const psl_table *t)
{
	return t->used == 0;
}

/* suffix_labels: the prevailing rule's label count for the normalised
 * name d of n labels. */
static int suffix_labels(const psl_table *t, const char *d, int n)
{
	const char *starts[PSL_MAX_LABELS];
	int best = 1, exception = 0, k = 0;
	unsigned prev = 0;

	starts[0] = d;
	for (const char *p = d; *p != '\0'; p++) {
		if (*p == '.')
			starts[++k] = p + 1;
	}
	/* starts[n - j] is the suffix of j labels */
	for (int j = 1; j <= n; j++) {
		const char *s = starts[n - j];
		unsigned f = table_flags(t, s, strlen(s));

		if ((f & RULE_EXCEPT) && j > exception)
			exception = j;
		if ((f & RULE_EXACT) || (prev & RULE_WILD))
			best = j;
		prev = f;
	}
	return exception > 1 ? exception - 1 : best;
}

int psl_suffix_labels(const psl_table *t, const char *domain)
{
	buf *b = buf_new(64);
	int n = psl_normalize(domain, b), r = -1;

	if (n > 0)
		r = suffix_labels(t, buf_cstr(b), n);
	buf_free(&b);
	return r;
}

char *psl_org_domain(const psl_table *t, const char *domain)
{
	buf *b = buf_new(64);
	int n = psl_normalize(domain, b), ps;
	char *org = NULL;
	const char *p;

	if (n <= 0)
		goto out;
	ps = suffix_labels(t, buf_cstr(b), n);
	if (n <= ps)
		goto out;
	/* keep the last ps + 1 labels */
	p = buf_cstr(b) + buf_len(b);
	for (int dots = 0; p > buf_cstr(b); p--) {
		if (p[-1] == '.' && ++dots == ps + 1)
			break;
	}
	org = xstrdup(p);
out:
	buf_free(&b);
	return org;
}
