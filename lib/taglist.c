/* taglist.c: the RFC 6376 section 3.2 tag-list parser. A hand-written
 * scanner over the grammar
 *   tag-list = tag-spec *( ";" tag-spec ) [ ";" ]
 *   tag-spec = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
 * where tag-name is ALPHA *(ALPHA / DIGIT / "_") and a value is VALCHARs
 * (%x21-3A / %x3C-7E, plus 8-bit bytes as RFC 8616 allows) separated by
 * white space. Folding (CRLF or bare LF, then WSP) counts as white space. */
#include "taglist.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mem.h"

struct taglist {
	size_t count;
	char *names[TAGLIST_MAX_TAGS];
	char *values[TAGLIST_MAX_TAGS];
};

struct scan {
	const char *p, *end;
};

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_valchar(unsigned char c)
{
	return (c >= 0x21 && c <= 0x7e && c != ';') || c >= 0x80;
}

/* skip_fws: skips white space and line folds; a line break not followed
 * by WSP is not folding and stops the scan (the caller then sees CR/LF). */
static void skip_fws(struct scan *s)
{
	while (s->p < s->end) {
		if (is_wsp(*s->p)) {
			s->p++;
			continue;
		}
		const char *q = s->p;
		if (*q == '\r' && q + 1 < s->end && q[1] == '\n')
			q++;
		if (*q == '\n' && q + 1 < s->end && is_wsp(q[1])) {
			s->p = q + 2;
			continue;
		}
		return;
	}
}

static int scan_name(struct scan *s, char **name_r, char **err_r)
{
	const char *start = s->p;

	if (s->p >= s->end || !is_alpha(*s->p)) {
		*err_r = xstrdup("tag name expected");
		return -1;
	}
	while (s->p < s->end && (is_alpha(*s->p) || (*s->p >= '0' && *s->p <= '9') || *s->p == '_'))
		s->p++;
	if (s->p - start > 64) {
		*err_r = xstrdup("tag name too long");
		return -1;
	}
	*name_r = xstrndup(start, (size_t)(s->p - start));
	return 0;
}

/* scan_value: VALCHAR runs separated by FWS, up to ";" or the end; the
 * white space after the last run is not part of the value. */
static int scan_value(struct scan *s, char **value_r, char **err_r)
{
	const char *start = s->p, *last = s->p;

	while (s->p < s->end && *s->p != ';') {
		if (is_valchar((unsigned char)*s->p)) {
			s->p++;
			last = s->p;
			continue;
		}
		const char *before = s->p;
		skip_fws(s);
		if (s->p == before) {
			*err_r = xstrdup("bad character in tag value");
			return -1;
		}
	}
	if ((size_t)(last - start) > TAGLIST_MAX_VALUE) {
		*err_r = xstrdup("tag value too long");
		return -1;
	}
	*value_r = xstrndup(start, (size_t)(last - start));
	return 0;
}

static int add_tag(taglist *tl, char *name, char *value, char **err_r)
{
	for (size_t i = 0; i < tl->count; i++) {
		if (strcmp(tl->names[i], name) == 0) {
			*err_r = xasprintf("duplicate tag %s", name);
			goto fail;
		}
	}
	if (tl->count == TAGLIST_MAX_TAGS) {
		*err_r = xstrdup("too many tags");
		goto fail;
	}
	tl->names[tl->count] = name;
	tl->values[tl->count++] = value;
	return 0;
fail:
	free(name);
	free(value);
	return -1;
}

static int scan_spec(struct scan *s, taglist *tl, char **err_r)
{
	char *name = NULL, *value = NULL;

	skip_fws(s);
	if (scan_name(s, &name, err_r) != 0)
		return -1;
	skip_fws(s);
	if (s->p >= s->end || *s->p != '=') {
		*err_r = xasprintf("tag %s: '=' expected", name);
		free(name);
		return -1;
	}
	s->p++;
	skip_fws(s);
	if (scan_value(s, &value, err_r) != 0) {
		free(name);
		return -1;
	}
	return add_tag(tl, name, value, err_r);
}

/* only_fws_left: true when nothing but folding white space remains. */
static bool only_fws_left(struct scan *s)
{
	skip_fws(s);
	/* a final line break (the end of a record line) is allowed too */
	if (s->p < s->end && *s->p == '\r')
		s->p++;
	if (s->p < s->end && *s->p == '\n')
		s->p++;
	return s->p == s->end;
}

/* skip_empty_specs: the lenient mode's extra: ";" with only white space
 * before it ends an empty tag-spec, which is dropped. */
static void skip_empty_specs(struct scan *s)
{
	for (;;) {
		skip_fws(s);
		if (s->p >= s->end || *s->p != ';')
			return;
		s->p++;
	}
}

static taglist *parse_list(const char *text, size_t len, bool lenient, char **err_r)
{
	taglist *tl = xcalloc(1, sizeof(*tl));
	struct scan s = { text, text + len };

	*err_r = NULL;
	for (;;) {
		if (lenient) {
			skip_empty_specs(&s);
			struct scan rest = s;
			if (tl->count > 0 && only_fws_left(&rest))
				return tl;
		}
		if (scan_spec(&s, tl, err_r) != 0)
			goto fail;
		if (s.p == s.end)
			return tl;
		s.p++; /* the ';' */
		struct scan rest = s;
		if (only_fws_left(&rest))
			return tl;
	}
fail:
	taglist_free(&tl);
	return NULL;
}

taglist *taglist_parse(const char *text, size_t len, char **err_r)
{
	return parse_list(text, len, false, err_r);
}

taglist *taglist_parse_lenient(const char *text, size_t len, char **err_r)
{
	return parse_list(text, len, true, err_r);
}

void taglist_free(taglist **tlp)
{
	taglist *tl = *tlp;

	if (tl == NULL)
		return;
	for (size_t i = 0; i < tl->count; i++) {
		free(tl->names[i]);
		free(tl->values[i]);
	}
	free(tl);
	*tlp = NULL;
}

const char *taglist_get(const taglist *tl, const char *name)
{
	for (size_t i = 0; i < tl->count; i++) {
		if (strcmp(tl->names[i], name) == 0)
			return tl->values[i];
	}
	return NULL;
}

size_t taglist_count(const taglist *tl)
{
	return tl->count;
}

const char *taglist_name(const taglist *tl, size_t i)
{
	return i < tl->count ? tl->names[i] : NULL;
}

const char *taglist_value(const taglist *tl, size_t i)
{
	return i < tl->count ? tl->values[i] : NULL;
}

char *taglist_strip_ws(const char *value)
{
	size_t len = strlen(value), n = 0;
	char *out = xmalloc(len + 1);

	for (size_t i = 0; i < len; i++) {
		char c = value[i];
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			out[n++] = c;
	}
	out[n] = '\0';
	return out;
}
