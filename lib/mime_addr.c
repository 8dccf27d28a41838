/* mime_addr.c: the address lists of From, To, Cc, ... (RFC 5322 3.4) as
 * IMAP's ENVELOPE wants them: display name, source route, mailbox, host,
 * and groups as start and end entries. Lenient like IMAP servers: a
 * comment stands in for a missing display name, junk up to the next comma
 * is skipped, missing parts become MISSING_MAILBOX / MISSING_DOMAIN. */
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "mime_int.h"

struct addr_parser {
	const char *s;
	size_t len, pos;
	struct mime_addr *out;
	size_t n;
	buf *comment; /* the last comment read, for a missing display name */
};

static void read_comment(struct addr_parser *p)
{
	int level = 0;

	buf_reset(p->comment);
	for (; p->pos < p->len; p->pos++) {
		char c = p->s[p->pos];

		if (c == '\\' && p->pos + 1 < p->len) {
			buf_putc(p->comment, p->s[++p->pos]);
			continue;
		}
		if (c == '(' && level++ == 0)
			continue;
		if (c == ')' && --level == 0) {
			p->pos++;
			return;
		}
		buf_putc(p->comment, c);
	}
}

static void skip_cfws(struct addr_parser *p)
{
	while (p->pos < p->len) {
		char c = p->s[p->pos];

		if (c == '(')
			read_comment(p);
		else if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			p->pos++;
		else
			return;
	}
}

static bool is_special(char c)
{
	return strchr("()<>[]:;@\\,\"", c) != NULL || (unsigned char)c <= ' ';
}

/* read_phrase: words up to a special: name gets them joined by spaces
 * (quoted strings unquoted), local concatenated as written. */
static void read_phrase(struct addr_parser *p, buf *name, buf *local)
{
	for (;;) {
		skip_cfws(p);
		if (p->pos >= p->len)
			return;
		if (buf_len(name) > 0)
			buf_putc(name, ' ');
		if (p->s[p->pos] == '"') {
			size_t start = p->pos;

			p->pos = mime_unquote_into(p->s, p->pos, p->len, name);
			buf_append(local, p->s + start, p->pos - start);
		} else if (!is_special(p->s[p->pos])) {
			size_t start = p->pos;

			while (p->pos < p->len && !is_special(p->s[p->pos]))
				p->pos++;
			buf_append(name, p->s + start, p->pos - start);
			buf_append(local, p->s + start, p->pos - start);
		} else {
			if (buf_len(name) > 0)
				buf_truncate(name, buf_len(name) - 1);
			return;
		}
	}
}

/* read_domain: atoms, dots and [literals] up to ',', ';', '>' or '<'. */
static void read_domain(struct addr_parser *p, buf *dom)
{
	for (;;) {
		skip_cfws(p);
		if (p->pos >= p->len || strchr(",;<>@:\"", p->s[p->pos]) != NULL)
			return;
		if (p->s[p->pos] == '[') {
			while (p->pos < p->len && p->s[p->pos] != ']')
				buf_putc(dom, p->s[p->pos++]);
			if (p->pos < p->len)
				buf_putc(dom, p->s[p->pos++]);
		} else if (p->s[p->pos] == ']' || p->s[p->pos] == '\\') {
			p->pos++;
		} else {
			buf_putc(dom, p->s[p->pos++]);
		}
	}
}

static char *nonempty(buf *b, const char *missing)
{
	if (buf_len(b) == 0)
		return missing == NULL ? NULL : xstrdup(missing);
	return xstrndup(buf_cstr(b), buf_len(b));
}

/* new_addr: one more (zeroed) address in p->out; NULL past MIME_MAX_ADDRS. */
static struct mime_addr *new_addr(struct addr_parser *p)
{
	if (p->n >= MIME_MAX_ADDRS)
		return NULL;
	p->out = xrealloc(p->out, (p->n + 1) * sizeof(*p->out));
	memset(&p->out[p->n], 0, sizeof(p->out[p->n]));
	return &p->out[p->n++];
}

static void emit(struct addr_parser *p, buf *name, buf *route, buf *local, buf *dom)
{
	struct mime_addr *a = new_addr(p);

	if (a == NULL)
		return;
	a->name = nonempty(name, NULL);
	a->route = nonempty(route, NULL);
	a->mailbox = nonempty(local, "MISSING_MAILBOX");
	a->host = nonempty(dom, "MISSING_DOMAIN");
}

static void emit_group(struct addr_parser *p, buf *name, bool start)
{
	struct mime_addr *a = new_addr(p);

	if (a == NULL)
		return;
	if (start)
		a->mailbox = xstrndup(buf_cstr(name), buf_len(name));
}

/* read_angle: "<@route:local@domain>" after the display name. */
static void read_angle(struct addr_parser *p, buf *name)
{
	buf *route = buf_new(16), *local = buf_new(32), *dom = buf_new(32), *junk = buf_new(32);

	p->pos++;
	skip_cfws(p);
	if (p->pos < p->len && p->s[p->pos] == '@') {
		while (p->pos < p->len && p->s[p->pos] != ':' && p->s[p->pos] != '>') {
			if (p->s[p->pos] != ' ' && p->s[p->pos] != '\t')
				buf_putc(route, p->s[p->pos]);
			p->pos++;
		}
		if (p->pos < p->len && p->s[p->pos] == ':')
			p->pos++;
	}
	read_phrase(p, junk, local);
	if (p->pos < p->len && p->s[p->pos] == '@') {
		p->pos++;
		read_domain(p, dom);
	}
	while (p->pos < p->len && p->s[p->pos] != '>' && p->s[p->pos] != ',')
		p->pos++;
	if (p->pos < p->len && p->s[p->pos] == '>')
		p->pos++;
	emit(p, name, route, local, dom);
	buf_free(&route);
	buf_free(&local);
	buf_free(&dom);
	buf_free(&junk);
}

/* read_addr_spec: "local@domain (comment)" or a bare word. */
static void read_addr_spec(struct addr_parser *p, buf *local)
{
	buf *dom = buf_new(32), *none = buf_new(1);

	buf_reset(p->comment);
	if (p->pos < p->len && p->s[p->pos] == '@') {
		p->pos++;
		read_domain(p, dom);
	}
	skip_cfws(p);
	emit(p, p->comment, none, local, dom);
	buf_free(&dom);
	buf_free(&none);
}

static void skip_junk(struct addr_parser *p)
{
	while (p->pos < p->len && p->s[p->pos] != ',' && p->s[p->pos] != ';') {
		if (p->s[p->pos] == '"')
			p->pos = mime_unquote_into(p->s, p->pos, p->len, p->comment);
		else
			p->pos++;
	}
}

/* parse_one: one address, group start or group end at p->pos. */
static void parse_one(struct addr_parser *p, bool *in_group, buf *name, buf *local)
{
	char c;

	buf_reset(name);
	buf_reset(local);
	read_phrase(p, name, local);
	c = p->pos < p->len ? p->s[p->pos] : '\0';
	if (c == ':' && !*in_group) {
		p->pos++;
		emit_group(p, name, true);
		*in_group = true;
		return;
	}
	if (c == '<')
		read_angle(p, name);
	else if (c == '@' || buf_len(local) > 0)
		read_addr_spec(p, local);
	else if (p->pos < p->len && c != ',' && c != ';')
		p->pos++;
	skip_junk(p);
}

size_t mime_addr_parse(const char *text, size_t len, struct mime_addr **addrs_r)
{
	struct addr_parser p = { .s = text, .len = len, .comment = buf_new(32) };
	buf *name = buf_new(64), *local = buf_new(64);
	bool in_group = false;

	while (p.pos < p.len && p.n < MIME_MAX_ADDRS) {
		skip_cfws(&p);
		if (p.pos >= p.len)
			break;
		if (p.s[p.pos] == ',') {
			p.pos++;
		} else if (p.s[p.pos] == ';') {
			p.pos++;
			if (in_group)
				emit_group(&p, name, false);
			in_group = false;
		} else {
			parse_one(&p, &in_group, name, local);
		}
	}
	if (in_group)
		emit_group(&p, name, false);
	buf_free(&p.comment);
	buf_free(&name);
	buf_free(&local);
	*addrs_r = p.out;
	return p.n;
}

void mime_addr_free(struct mime_addr **addrs, size_t n)
{
	if (*addrs == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free((*addrs)[i].name);
		free((*addrs)[i].route);
		free((*addrs)[i].mailbox);
		free((*addrs)[i].host);
	}
	free(*addrs);
	*addrs = NULL;
}
