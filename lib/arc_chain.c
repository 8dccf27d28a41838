/* arc_chain.c: the ARC sets of a header block. Every ARC field is placed
 * by its i= (ARC-Authentication-Results: the "i=N;" that starts its
 * value; the two signatures: their i= tag); a set is well formed when
 * each instance 1..N has exactly one field of each kind, the seals' cv=
 * are none for i=1 and pass above, and the newest seal is not cv=fail.
 * Also the ARC-Seal hash, which both sealing and verifying need. */
#include "arc_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"

enum arc_kind { ARC_AAR, ARC_AMS, ARC_AS, ARC_OTHER };

static enum arc_kind field_kind(const struct dkim_field *f)
{
	static const char *const names[] = { "ARC-Authentication-Results",
					     "ARC-Message-Signature", "ARC-Seal" };

	for (int k = 0; k < 3; k++) {
		if (strlen(names[k]) == f->name_len &&
		    strncasecmp(f->name, names[k], f->name_len) == 0)
			return (enum arc_kind)k;
	}
	return ARC_OTHER;
}

int arc_parse_instance(const char *s, unsigned *i_r)
{
	unsigned n = 0;

	if (s == NULL || *s == '\0' || *s == '0' || strlen(s) > 2)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (unsigned)(*s - '0');
	}
	if (n < 1 || n > ARC_MAX_INSTANCES)
		return -1;
	*i_r = n;
	return 0;
}

static bool is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* value_of: the field's value after the colon, less the final CRLF. */
static const char *value_of(const struct dkim_field *f, size_t *len_r)
{
	const char *colon = memchr(f->raw, ':', f->raw_len);
	size_t off = (size_t)(colon + 1 - f->raw);

	*len_r = f->raw_len - off - 2;
	return colon + 1;
}

/* aar_instance: "i=N;" at the start of an ARC-Authentication-Results. */
static int aar_instance(const struct dkim_field *f, unsigned *i_r)
{
	size_t len, p = 0, start;
	const char *v = value_of(f, &len);
	char num[4];

	while (p < len && is_fws(v[p]))
		p++;
	if (p >= len || v[p++] != 'i')
		return -1;
	while (p < len && is_fws(v[p]))
		p++;
	if (p >= len || v[p++] != '=')
		return -1;
	while (p < len && is_fws(v[p]))
		p++;
	for (start = p; p < len && v[p] >= '0' && v[p] <= '9'; p++)
		;
	if (p - start == 0 || p - start > 2)
		return -1;
	memcpy(num, v + start, p - start);
	num[p - start] = '\0';
	while (p < len && is_fws(v[p]))
		p++;
	if (p >= len || v[p] != ';')
		return -1;
	return arc_parse_instance(num, i_r);
}

static taglist *sig_tags(const struct dkim_field *f, unsigned *i_r)
{
	size_t len;
	const char *v = value_of(f, &len);
	char *err = NULL;
	taglist *tl;

	if (f->raw_len > DKIM_SIG_MAX)
		return NULL;
	tl = taglist_parse(v, len, &err);
	free(err);
	if (tl != NULL && arc_parse_instance(taglist_get(tl, "i"), i_r) != 0)
		taglist_free(&tl);
	return tl;
}

static int chain_error(struct arc_chain *c, const char *why)
{
	if (c->error == NULL)
		c->error = why;
	return -1;
}

/* place: puts one ARC field into its set. */
static int place(struct arc_chain *c, const struct dkim_field *f, enum arc_kind k)
{
	unsigned i = 0;
	taglist *tl = NULL;
	struct arc_set *s;

	if (k == ARC_AAR ? aar_instance(f, &i) != 0 : (tl = sig_tags(f, &i)) == NULL)
		return chain_error(c, "malformed ARC field or bad i=");
	s = &c->sets[i];
	if (i > c->count)
		c->count = i;
	if ((k == ARC_AAR && s->aar != NULL) || (k == ARC_AMS && s->ams != NULL) ||
	    (k == ARC_AS && s->as != NULL)) {
		taglist_free(&tl);
		return chain_error(c, "duplicate ARC instance");
	}
	if (k == ARC_AAR)
		s->aar = f;
	else if (k == ARC_AMS)
		s->ams = f, s->ams_tags = tl;
	else
		s->as = f, s->as_tags = tl;
	return 0;
}

static bool names_arc_seal(const char *h)
{
	char *clean = taglist_strip_ws(h), *p = clean;
	bool found = false;

	while (p != NULL && !found) {
		char *colon = strchr(p, ':');
		size_t n = colon != NULL ? (size_t)(colon - p) : strlen(p);
		found = n == 8 && strncasecmp(p, "arc-seal", 8) == 0;
		p = colon != NULL ? colon + 1 : NULL;
	}
	free(clean);
	return found;
}

/* check_set: one complete instance's cv= and tag rules. */
static int check_set(struct arc_chain *c, unsigned i)
{
	struct arc_set *s = &c->sets[i];
	const char *cv, *h;

	if (s->aar == NULL || s->ams == NULL || s->as == NULL)
		return chain_error(c, "incomplete ARC set");
	cv = taglist_get(s->as_tags, "cv");
	h = taglist_get(s->ams_tags, "h");
	if (taglist_get(s->as_tags, "h") != NULL)
		return chain_error(c, "h= in ARC-Seal");
	if (h == NULL || names_arc_seal(h))
		return chain_error(c, "ARC-Message-Signature without h= or signing ARC-Seal");
	if (cv != NULL && strcmp(cv, "none") == 0)
		s->cv = ARC_NONE;
	else if (cv != NULL && strcmp(cv, "pass") == 0)
		s->cv = ARC_PASS;
	else if (cv != NULL && strcmp(cv, "fail") == 0)
		s->cv = ARC_FAIL;
	else
		return chain_error(c, "missing or bad cv=");
	if (s->cv == ARC_FAIL)
		return chain_error(c, "a seal says cv=fail");
	if ((i == 1) != (s->cv == ARC_NONE))
		return chain_error(c, i == 1 ? "cv= is not none at i=1" : "cv=none above i=1");
	return 0;
}

int arc_chain_collect(const dkim_hdrs *h, struct arc_chain *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < dkim_hdrs_count(h); i++) {
		const struct dkim_field *f = dkim_hdrs_field(h, i);
		enum arc_kind k = field_kind(f);
		if (k != ARC_OTHER)
			place(c, f, k);
	}
	if (c->error != NULL)
		return -1;
	/* the newest seal first: its cv=fail is the reason to report */
	for (unsigned i = c->count; i >= 1; i--) {
		if (check_set(c, i) != 0)
			return -1;
	}
	return (int)c->count;
}

void arc_chain_clear(struct arc_chain *c)
{
	for (unsigned i = 0; i <= ARC_MAX_INSTANCES; i++) {
		taglist_free(&c->sets[i].ams_tags);
		taglist_free(&c->sets[i].as_tags);
	}
	memset(c, 0, sizeof(*c));
}

void arc_seal_hash_field(EVP_MD_CTX *md, const char *raw, size_t len, bool last)
{
	buf *b = buf_new(len + 16);
	char *nob = NULL;

	if (last) {
		nob = dkim_field_without_b(raw, len, &len);
		raw = nob;
	}
	dkim_canon_header(DKIM_CANON_RELAXED, raw, len, last, b);
	EVP_DigestUpdate(md, buf_cstr(b), buf_len(b));
	buf_free(&b);
	free(nob);
}

const char *arc_result_name(enum arc_result r)
{
	static const char *const names[] = { "none", "pass", "fail", "temperror" };

	return (size_t)r < 4 ? names[r] : "fail";
}
