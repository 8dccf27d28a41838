/* hdr.c: header field recognition and the address-list scanner for
 * sendmail (see hdr.h). The scanner walks the text once: quoted strings
 * are kept (they may be local parts), comments are dropped, "<...>" wins
 * over the text around it (the display name), "name:" opens a group and
 * ";" closes it, and commas outside all of these separate mailboxes. It
 * is lenient about what it hands out; the SMTP server judges addresses. */
#include "hdr.h"

#include <string.h>
#include <strings.h>

#include "buf.h"
#include "mem.h"

size_t hdr_field_name_len(const char *line, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == ':')
			return i;
		if (c <= 32 || c >= 127)
			return 0;
	}
	return 0;
}

bool hdr_is(const char *line, size_t len, const char *name)
{
	size_t n = hdr_field_name_len(line, len);

	return n != 0 && n == strlen(name) && strncasecmp(line, name, n) == 0;
}

struct scan {
	const char *p;
	buf *cur; /* the bare addr-spec (or display name) being collected */
	buf *angle; /* the <...> part */
	bool in_angle, have_angle;
	int count;
	void (*fn)(void *ctx, const char *addr);
	void *ctx;
	const char *why;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* emit: hands out the mailbox collected so far, if any. */
static int emit(struct scan *s)
{
	const char *addr = s->have_angle ? buf_cstr(s->angle) : buf_cstr(s->cur);

	if (s->have_angle && addr[0] == '@' && strchr(addr, ':') != NULL)
		addr = strchr(addr, ':') + 1; /* source route, dropped */
	if (strlen(addr) > HDR_ADDR_MAX) {
		s->why = "address too long";
		return -1;
	}
	if (*addr != '\0') {
		s->fn(s->ctx, addr);
		s->count++;
	}
	buf_reset(s->cur);
	buf_reset(s->angle);
	s->have_angle = false;
	return 0;
}

/* quoted: copies "..." (with its quotes and escapes) to out. */
static int quoted(struct scan *s, buf *out)
{
	buf_putc(out, *s->p++);
	while (*s->p != '\0' && *s->p != '"') {
		if (*s->p == '\\' && s->p[1] != '\0')
			buf_putc(out, *s->p++);
		buf_putc(out, *s->p++);
	}
	if (*s->p != '"') {
		s->why = "unterminated quoted string";
		return -1;
	}
	buf_putc(out, *s->p++);
	return 0;
}

/* comment: skips a (possibly nested) comment. */
static int comment(struct scan *s)
{
	int depth = 0;

	do {
		if (*s->p == '\0') {
			s->why = "unterminated comment";
			return -1;
		}
		if (*s->p == '\\' && s->p[1] != '\0')
			s->p++;
		else if (*s->p == '(')
			depth++;
		else if (*s->p == ')')
			depth--;
		s->p++;
	} while (depth > 0);
	return 0;
}

/* step: one token at s->p; 0 or -1. */
static int step(struct scan *s)
{
	buf *out = s->in_angle ? s->angle : s->cur;
	char c = *s->p;

	if (c == '"')
		return quoted(s, out);
	if (c == '(')
		return comment(s);
	s->p++;
	if (is_space(c))
		return 0;
	if (s->in_angle) {
		if (c == '>')
			s->in_angle = false;
		else
			buf_putc(s->angle, c);
		return 0;
	}
	if (c == '<') {
		s->in_angle = s->have_angle = true;
		buf_reset(s->angle);
	} else if (c == ',' || c == ';') {
		return emit(s);
	} else if (c == ':') {
		buf_reset(s->cur); /* "group name:" */
	} else {
		buf_putc(s->cur, c);
	}
	return 0;
}

int hdr_addr_list(const char *text, void (*fn)(void *ctx, const char *addr), void *ctx,
		  const char **why_r)
{
	struct scan s = { .p = text, .cur = buf_new(64), .angle = buf_new(64), .fn = fn, .ctx = ctx };
	int rc = 0;

	while (rc == 0 && *s.p != '\0')
		rc = step(&s);
	if (rc == 0 && s.in_angle) {
		s.why = "unterminated <";
		rc = -1;
	}
	if (rc == 0)
		rc = emit(&s);
	buf_free(&s.cur);
	buf_free(&s.angle);
	*why_r = s.why;
	return rc < 0 ? -1 : s.count;
}
