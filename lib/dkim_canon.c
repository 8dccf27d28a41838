/* dkim_canon.c: DKIM canonicalization (RFC 6376 3.4). The body side is a
 * byte-at-a-time state machine so chunk boundaries never matter: empty
 * lines are only counted, and written out when a later line has content,
 * which drops trailing empty lines without holding the body; relaxed
 * keeps at most one pending space. Canonical bytes go to SHA-256 (capped
 * at l=) or, for tests, to a buf. Header fields are canonicalized whole. */
#include "dkim_int.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

struct dkim_body {
	enum dkim_canon canon;
	int64_t limit;
	buf *sink;
	EVP_MD_CTX *md;
	uint64_t produced; /* canonical bytes, limit or not */
	uint64_t empty_lines; /* held back: may be the body's trailing ones */
	bool line_started; /* the current line has produced bytes */
	bool wsp_pending; /* relaxed: white space seen, not yet written */
	bool cr_pending; /* the last byte was CR */
	unsigned char out[4096];
	size_t out_len;
};

static void body_flush(dkim_body *b)
{
	if (b->out_len == 0)
		return;
	if (b->sink != NULL)
		buf_append(b->sink, b->out, b->out_len);
	else
		EVP_DigestUpdate(b->md, b->out, b->out_len);
	b->out_len = 0;
}

static void body_emit(dkim_body *b, unsigned char c)
{
	if (b->limit < 0 || b->produced < (uint64_t)b->limit) {
		b->out[b->out_len++] = c;
		if (b->out_len == sizeof(b->out))
			body_flush(b);
	}
	b->produced++;
}

/* body_start_line: the current line gets content: the held empty lines
 * were not trailing after all. */
static void body_start_line(dkim_body *b)
{
	if (b->line_started)
		return;
	for (; b->empty_lines > 0; b->empty_lines--) {
		body_emit(b, '\r');
		body_emit(b, '\n');
	}
	b->line_started = true;
}

static void body_char(dkim_body *b, unsigned char c)
{
	if (b->canon == DKIM_CANON_RELAXED) {
		if (c == ' ' || c == '\t') {
			b->wsp_pending = true;
			return;
		}
		if (b->wsp_pending) {
			body_start_line(b);
			body_emit(b, ' ');
			b->wsp_pending = false;
		}
	}
	body_start_line(b);
	body_emit(b, c);
}

static void body_end_line(dkim_body *b)
{
	if (b->line_started) {
		body_emit(b, '\r');
		body_emit(b, '\n');
		b->line_started = false;
	} else {
		b->empty_lines++;
	}
	b->wsp_pending = false;
}

dkim_body *dkim_body_new(enum dkim_canon canon, int64_t limit, buf *sink)
{
	dkim_body *b = xcalloc(1, sizeof(*b));

	b->canon = canon;
	b->limit = limit;
	b->sink = sink;
	if (sink == NULL) {
		b->md = EVP_MD_CTX_new();
		if (b->md == NULL || EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1)
			abort();
	}
	return b;
}

void dkim_body_update(dkim_body *b, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (b->cr_pending) {
			b->cr_pending = false;
			if (c == '\n') {
				body_end_line(b);
				continue;
			}
			body_char(b, '\r');
		}
		if (c == '\r')
			b->cr_pending = true;
		else if (c == '\n')
			body_end_line(b); /* a bare LF ends a line as CRLF would */
		else
			body_char(b, c);
	}
}

void dkim_body_final(dkim_body *b, unsigned char hash[32])
{
	if (b->cr_pending) {
		b->cr_pending = false;
		body_char(b, '\r');
	}
	if (b->line_started) /* a last line without its CRLF gets one */
		body_end_line(b);
	if (b->canon == DKIM_CANON_SIMPLE && b->produced == 0) {
		body_emit(b, '\r'); /* an empty simple body is one CRLF */
		body_emit(b, '\n');
	}
	body_flush(b);
	if (b->md != NULL) {
		unsigned int n = 0;
		EVP_DigestFinal_ex(b->md, hash, &n);
	}
}

uint64_t dkim_body_length(const dkim_body *b)
{
	return b->produced;
}

enum dkim_canon dkim_body_canon(const dkim_body *b)
{
	return b->canon;
}

int64_t dkim_body_limit(const dkim_body *b)
{
	return b->limit;
}

void dkim_body_free(dkim_body **bp)
{
	dkim_body *b = *bp;

	if (b == NULL)
		return;
	EVP_MD_CTX_free(b->md);
	free(b);
	*bp = NULL;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* canon_relaxed: lower-case name, no white space around the colon, the
 * value unfolded with white space runs made one space, none at its ends. */
static void canon_relaxed(const char *f, size_t len, buf *out)
{
	const char *colon = memchr(f, ':', len);
	size_t name_end = colon != NULL ? (size_t)(colon - f) : len;
	bool space = false, any = false;

	while (name_end > 0 && is_wsp(f[name_end - 1]))
		name_end--;
	for (size_t i = 0; i < name_end; i++) {
		char c = f[i];
		buf_putc(out, c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	buf_putc(out, ':');
	if (colon == NULL)
		return;
	for (size_t i = (size_t)(colon - f) + 1; i < len; i++) {
		char c = f[i];
		if (c == '\r' || c == '\n' || is_wsp(c)) {
			space = any; /* leading white space is dropped */
			continue;
		}
		if (space)
			buf_putc(out, ' ');
		space = false;
		any = true;
		buf_putc(out, c);
	}
}

void dkim_canon_header(enum dkim_canon canon, const char *field, size_t len, bool no_crlf,
		       buf *out)
{
	if (len >= 2 && field[len - 2] == '\r' && field[len - 1] == '\n')
		len -= 2;
	else if (len >= 1 && field[len - 1] == '\n')
		len -= 1;
	if (canon == DKIM_CANON_SIMPLE)
		buf_append(out, field, len);
	else
		canon_relaxed(field, len, out);
	if (!no_crlf)
		buf_append(out, "\r\n", 2);
}
