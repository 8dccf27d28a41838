/* dmarc_record.c: the DMARC policy record (RFC 7489 6.3, 6.4) on the
 * lenient tag-list parser of lib/taglist. v=DMARC1 must come first and p=
 * must be valid (or rua= must be, 6.6.3 step 6); other tags with a bad
 * value take their default, unknown tags are ignored. */
#include "dmarc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "taglist.h"

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

bool dmarc_record_is_dmarc(const char *text, size_t len)
{
	size_t i = 0;

	while (i < len && is_wsp(text[i]))
		i++;
	if (i >= len || text[i++] != 'v')
		return false;
	while (i < len && is_wsp(text[i]))
		i++;
	if (i >= len || text[i++] != '=')
		return false;
	while (i < len && is_wsp(text[i]))
		i++;
	if (len - i < 6 || memcmp(text + i, "DMARC1", 6) != 0)
		return false;
	i += 6;
	return i == len || text[i] == ';' || is_wsp(text[i]);
}

static int parse_policy(const char *v, enum dmarc_policy *p_r)
{
	if (strcasecmp(v, "none") == 0)
		*p_r = DMARC_POLICY_NONE;
	else if (strcasecmp(v, "quarantine") == 0)
		*p_r = DMARC_POLICY_QUARANTINE;
	else if (strcasecmp(v, "reject") == 0)
		*p_r = DMARC_POLICY_REJECT;
	else
		return -1;
	return 0;
}

static int parse_align(const char *v, enum dmarc_align *a_r)
{
	if (strcasecmp(v, "r") == 0)
		*a_r = DMARC_ALIGN_RELAXED;
	else if (strcasecmp(v, "s") == 0)
		*a_r = DMARC_ALIGN_STRICT;
	else
		return -1;
	return 0;
}

/* parse_number: 1..digits decimal digits, at most max. */
static int parse_number(const char *v, size_t digits, unsigned long max, unsigned long *n_r)
{
	unsigned long n = 0;
	size_t i;

	for (i = 0; v[i] >= '0' && v[i] <= '9' && i < digits; i++)
		n = n * 10 + (unsigned long)(v[i] - '0');
	if (i == 0 || v[i] != '\0' || n > max)
		return -1;
	*n_r = n;
	return 0;
}

/* valid_fo: "0", "1", "d", "s" separated by colons (white space around
 * them allowed). */
static bool valid_fo(const char *v)
{
	bool want_item = true;

	for (; *v != '\0'; v++) {
		if (is_wsp(*v))
			continue;
		if (want_item && strchr("01dsDS", *v) != NULL)
			want_item = false;
		else if (!want_item && *v == ':')
			want_item = true;
		else
			return false;
	}
	return !want_item;
}

/* valid_rf: keywords (ALPHA *(ALPHA / DIGIT)) separated by colons. */
static bool valid_rf(const char *v)
{
	size_t run = 0;

	for (; *v != '\0'; v++) {
		bool alpha = (*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z');

		if (alpha || (run > 0 && *v >= '0' && *v <= '9'))
			run++;
		else if (*v == ':' && run > 0)
			run = 0;
		else
			return false;
	}
	return run > 0;
}

/* valid_uri: one DMARC URI: scheme ":" at least one non-space byte, and
 * an optional "!" size (digits and one of k, m, g, t). */
static bool valid_uri(const char *s, size_t len)
{
	size_t i = 0;
	const char *bang;

	if (len == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return false;
	while (i < len && s[i] != ':') {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '-' || c == '.'))
			return false;
		i++;
	}
	if (i + 1 >= len)
		return false;
	for (size_t k = i; k < len; k++) {
		if ((unsigned char)s[k] <= ' ' || s[k] == 0x7f)
			return false;
	}
	bang = memchr(s + i, '!', len - i);
	if (bang != NULL) {
		size_t k = (size_t)(bang - s) + 1, digits = 0;

		while (k < len && s[k] >= '0' && s[k] <= '9')
			k++, digits++;
		if (k < len && strchr("kmgtKMGT", s[k]) != NULL)
			k++;
		if (digits == 0 || k != len || bang == s + i + 1)
			return false;
	}
	return true;
}

bool dmarc_uri_list_valid(const char *value)
{
	const char *p = value;

	for (;;) {
		const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
		const char *a = p, *b = end;

		while (a < b && is_wsp(*a))
			a++;
		while (b > a && is_wsp(b[-1]))
			b--;
		if (valid_uri(a, (size_t)(b - a)))
			return true;
		if (comma == NULL)
			return false;
		p = comma + 1;
	}
}

/* find_tag: the value of tag name (compared without case), or NULL.
 * Returns -1 when the name occurs twice. */
static int find_tag(const taglist *tl, const char *name, const char **value_r)
{
	*value_r = NULL;
	for (size_t i = 0; i < taglist_count(tl); i++) {
		if (strcasecmp(taglist_name(tl, i), name) != 0)
			continue;
		if (*value_r != NULL)
			return -1;
		*value_r = taglist_value(tl, i);
	}
	return 0;
}

static const char *const known_tags[] = { "v",	"p",  "sp", "pct", "adkim", "aspf",
					  "rua", "ruf", "fo", "rf",  "ri" };

/* take_tags: looks up every known tag once; refuses duplicates. */
static int take_tags(const taglist *tl, const char **vals, char **err_r)
{
	for (size_t i = 0; i < sizeof(known_tags) / sizeof(known_tags[0]); i++) {
		if (find_tag(tl, known_tags[i], &vals[i]) != 0) {
			*err_r = xasprintf("duplicate tag %s", known_tags[i]);
			return -1;
		}
	}
	return 0;
}

enum { T_V, T_P, T_SP, T_PCT, T_ADKIM, T_ASPF, T_RUA, T_RUF, T_FO, T_RF, T_RI, T_COUNT };

/* check_version: v=DMARC1 is the first tag, exactly. */
static int check_version(const taglist *tl, const char **vals, char **err_r)
{
	if (strcmp(taglist_name(tl, 0), "v") == 0 && strcmp(vals[T_V], "DMARC1") == 0)
		return 0;
	*err_r = xstrdup("bad v= tag");
	return -1;
}

/* set_policies: p= and sp=, or the p=none stand-in of 6.6.3 step 6. */
static int set_policies(const char **vals, struct dmarc_record *rec, char **err_r)
{
	bool p_ok = vals[T_P] != NULL && parse_policy(vals[T_P], &rec->p) == 0;
	bool sp_ok = vals[T_SP] == NULL || parse_policy(vals[T_SP], &rec->sp) == 0;

	rec->sp_given = vals[T_SP] != NULL && sp_ok;
	if (p_ok && sp_ok) {
		if (!rec->sp_given)
			rec->sp = rec->p;
		return 0;
	}
	if (vals[T_RUA] != NULL && dmarc_uri_list_valid(vals[T_RUA])) {
		rec->p = rec->sp = DMARC_POLICY_NONE;
		rec->sp_given = false;
		rec->p_from_rua = true;
		return 0;
	}
	*err_r = !p_ok ? xstrdup(vals[T_P] == NULL ? "no p= tag" : "bad p= value")
		       : xstrdup("bad sp= value");
	return -1;
}

/* set_optional: the tags that fall back to their defaults. */
static void set_optional(const char **vals, struct dmarc_record *rec)
{
	unsigned long n;

	rec->pct = 100;
	if (vals[T_PCT] != NULL && parse_number(vals[T_PCT], 3, 100, &n) == 0)
		rec->pct = (unsigned)n;
	else if (vals[T_PCT] != NULL)
		rec->defaulted++;
	if (vals[T_ADKIM] != NULL && parse_align(vals[T_ADKIM], &rec->adkim) != 0)
		rec->defaulted++;
	if (vals[T_ASPF] != NULL && parse_align(vals[T_ASPF], &rec->aspf) != 0)
		rec->defaulted++;
	rec->ri = 86400;
	if (vals[T_RI] != NULL && parse_number(vals[T_RI], 10, 0xffffffffUL, &n) == 0)
		rec->ri = n;
	else if (vals[T_RI] != NULL)
		rec->defaulted++;
	if (vals[T_FO] != NULL && !valid_fo(vals[T_FO]))
		rec->defaulted++;
	rec->fo = xstrdup(vals[T_FO] != NULL && valid_fo(vals[T_FO]) ? vals[T_FO] : "0");
	if (vals[T_RF] != NULL && !valid_rf(vals[T_RF]))
		rec->defaulted++;
	rec->rf = xstrdup(vals[T_RF] != NULL && valid_rf(vals[T_RF]) ? vals[T_RF] : "afrf");
	rec->rua = vals[T_RUA] != NULL ? xstrdup(vals[T_RUA]) : NULL;
	rec->ruf = vals[T_RUF] != NULL ? xstrdup(vals[T_RUF]) : NULL;
}

int dmarc_record_parse(const char *text, size_t len, struct dmarc_record *rec, char **err_r)
{
	const char *vals[T_COUNT];
	char *err = NULL;
	taglist *tl;

	memset(rec, 0, sizeof(*rec));
	*err_r = NULL;
	if (len > DMARC_MAX_RECORD) {
		*err_r = xasprintf("record longer than %d bytes", DMARC_MAX_RECORD);
		return -1;
	}
	if (!dmarc_record_is_dmarc(text, len)) {
		*err_r = xstrdup("not a v=DMARC1 record");
		return -1;
	}
	tl = taglist_parse_lenient(text, len, &err);
	if (tl == NULL) {
		*err_r = xasprintf("bad tag list: %s", err);
		free(err);
		return -1;
	}
	if (take_tags(tl, vals, err_r) != 0 || check_version(tl, vals, err_r) != 0 ||
	    set_policies(vals, rec, err_r) != 0) {
		taglist_free(&tl);
		return -1;
	}
	set_optional(vals, rec);
	taglist_free(&tl);
	return 0;
}

void dmarc_record_clear(struct dmarc_record *rec)
{
	free(rec->rua);
	free(rec->ruf);
	free(rec->fo);
	free(rec->rf);
	memset(rec, 0, sizeof(*rec));
}

const char *dmarc_result_name(enum dmarc_result r)
{
	switch (r) {
	case DMARC_RESULT_NONE:
		return "none";
	case DMARC_RESULT_PASS:
		return "pass";
	case DMARC_RESULT_FAIL:
		return "fail";
	case DMARC_RESULT_TEMPERROR:
		return "temperror";
	case DMARC_RESULT_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

const char *dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_POLICY_NONE:
		return "none";
	case DMARC_POLICY_QUARANTINE:
		return "quarantine";
	case DMARC_POLICY_REJECT:
		return "reject";
	}
	return "none";
}
