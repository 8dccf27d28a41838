/* dkim_hdr.c: the header block as DKIM sees it: a copy with CRLF line
 * ends split into fields (a field is its first line and the lines that
 * start with white space after it), the h= selection of RFC 6376 5.4.2
 * (bottom-up, each instance used once) and the removal of the b= value
 * from a DKIM-Signature field before it is hashed. */
#include "dkim_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"

struct dkim_hdrs {
	char *copy;
	size_t count;
	struct dkim_field *fields;
};

/* normalize: hdr up to its end blank line, every line ending in CRLF. */
static char *normalize(const char *hdr, size_t len, size_t *len_r)
{
	buf *b = buf_new(len + 64);
	size_t line = 0;

	for (size_t i = 0; i < len; i++) {
		if (hdr[i] != '\n')
			continue;
		size_t end = i > line && hdr[i - 1] == '\r' ? i - 1 : i;
		if (end == line)
			break; /* the blank line: the body follows */
		buf_append(b, hdr + line, end - line);
		buf_append(b, "\r\n", 2);
		line = i + 1;
	}
	if (line < len && memchr(hdr + line, '\n', len - line) == NULL) {
		size_t end = len;
		if (hdr[end - 1] == '\r')
			end--;
		if (end > line) {
			buf_append(b, hdr + line, end - line);
			buf_append(b, "\r\n", 2);
		}
	}
	*len_r = buf_len(b);
	return buf_steal_free(&b);
}

static void add_field(dkim_hdrs *h, const char *start, size_t len, size_t *cap)
{
	const char *colon = memchr(start, ':', len);
	size_t name_len;

	if (colon == NULL)
		return; /* not a field: ignored */
	name_len = (size_t)(colon - start);
	while (name_len > 0 && (start[name_len - 1] == ' ' || start[name_len - 1] == '\t'))
		name_len--;
	if (name_len == 0)
		return;
	if (h->count == *cap) {
		*cap = *cap ? *cap * 2 : 32;
		h->fields = xrealloc(h->fields, *cap * sizeof(*h->fields));
	}
	h->fields[h->count++] = (struct dkim_field){ start, name_len, start, len };
}

dkim_hdrs *dkim_hdrs_parse(const char *hdr, size_t len, size_t max)
{
	dkim_hdrs *h = xcalloc(1, sizeof(*h));
	size_t n, cap = 0, start = 0;
	char *c;

	h->copy = c = normalize(hdr, len, &n);
	for (size_t i = 0; i < n; i++) {
		if (c[i] != '\n')
			continue;
		bool cont = i + 1 < n && (c[i + 1] == ' ' || c[i + 1] == '\t');
		if (cont && start < i - 1)
			continue;
		if (start < i - 1 && c[start] != ' ' && c[start] != '\t')
			add_field(h, c + start, i + 1 - start, &cap);
		start = i + 1;
		if (h->count >= max)
			break;
	}
	return h;
}

size_t dkim_hdrs_count(const dkim_hdrs *h)
{
	return h->count;
}

const struct dkim_field *dkim_hdrs_field(const dkim_hdrs *h, size_t i)
{
	return &h->fields[i];
}

static bool name_is(const struct dkim_field *f, const char *name)
{
	return strlen(name) == f->name_len && strncasecmp(f->name, name, f->name_len) == 0;
}

size_t dkim_hdrs_count_name(const dkim_hdrs *h, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < h->count; i++)
		n += name_is(&h->fields[i], name);
	return n;
}

void dkim_hdrs_free(dkim_hdrs **hp)
{
	dkim_hdrs *h = *hp;

	if (h == NULL)
		return;
	free(h->copy);
	free(h->fields);
	free(h);
	*hp = NULL;
}

void dkim_hdrs_hash_selected(const dkim_hdrs *h, const char *const *names, size_t n,
			     enum dkim_canon canon, EVP_MD_CTX *md)
{
	bool *used = xcalloc(h->count + 1, sizeof(*used));
	buf *b = buf_new(1024);

	for (size_t k = 0; k < n; k++) {
		for (size_t i = h->count; i-- > 0;) {
			if (used[i] || !name_is(&h->fields[i], names[k]))
				continue;
			used[i] = true;
			buf_reset(b);
			dkim_canon_header(canon, h->fields[i].raw, h->fields[i].raw_len, false, b);
			EVP_DigestUpdate(md, buf_cstr(b), buf_len(b));
			break;
		}
	}
	buf_free(&b);
	free(used);
}

/* tag_is_b: the tag-spec starting at s (after ';' or the colon) is b=. */
static bool tag_is_b(const char *s, const char *end, const char **eq_r)
{
	while (s < end && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
		s++;
	if (s >= end || *s != 'b')
		return false;
	s++;
	while (s < end && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
		s++;
	if (s >= end || *s != '=')
		return false;
	*eq_r = s;
	return true;
}

char *dkim_field_without_b(const char *raw, size_t len, size_t *len_r)
{
	const char *end = raw + len, *p = memchr(raw, ':', len), *eq;
	buf *b = buf_new(len);

	if (p == NULL)
		p = raw;
	else
		p++;
	buf_append(b, raw, (size_t)(p - raw));
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *stop = semi != NULL ? semi : end;
		if (tag_is_b(p, stop, &eq)) {
			buf_append(b, p, (size_t)(eq + 1 - p));
			/* keep a final CRLF: it ends the field, not the value */
			if (semi == NULL && stop - eq >= 3 && stop[-2] == '\r' && stop[-1] == '\n')
				buf_append(b, "\r\n", 2);
		} else {
			buf_append(b, p, (size_t)(stop - p));
		}
		if (semi == NULL)
			break;
		buf_putc(b, ';');
		p = semi + 1;
	}
	*len_r = buf_len(b);
	return buf_steal_free(&b);
}
