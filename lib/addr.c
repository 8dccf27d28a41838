/* addr.c: the one address parser. A small recursive-descent reader over
 * a cursor turns the RFC 5321 path grammar (Path, A-d-l, Mailbox,
 * Dot-string, Quoted-string, Domain, address-literal) into struct addr,
 * checking the octet limits of RFC 5321 4.5.3.1 and strict UTF-8 (RFC 6531)
 * on the way. It also formats addresses back (minimal quoting), makes map
 * keys, splits address extensions, ESMTP parameters and xtext. It does no
 * policy: "a%b@c" and "a!b@c" are valid here; smtpd decides about relaying. */
#include "addr.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "mem.h"
#include "qp.h"

#define ADDR_MAX_LOCAL 64
#define ADDR_MAX_DOMAIN 255
#define ADDR_MAX_PATH 256
#define ADDR_MAX_LABEL 63

/* The cursor of one parse: where we are, whether 8-bit is allowed, and the
 * first error seen (later steps see err != ADDR_OK and stop). */
struct cursor {
	const unsigned char *p;
	bool allow_utf8;
	bool utf8_seen;
	enum addr_err err;
	const char *why;
};

static bool fail(struct cursor *c, enum addr_err err, const char *why)
{
	if (c->err == ADDR_OK) {
		c->err = err;
		c->why = why;
	}
	return false;
}

/* ---- character classes ---- */

static bool is_alpha(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* atext of RFC 5322 3.2.3, ASCII part. */
static bool is_atext(int ch)
{
	return is_alpha(ch) || is_digit(ch) || (ch != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", ch));
}

static bool is_control(int ch)
{
	return ch < 0x20 || ch == 0x7f;
}

static int lower(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

/* utf8_len: the length of the well-formed UTF-8 sequence at p, or 0.
 * Overlong forms, surrogates (U+D800..U+DFFF), code points above U+10FFFF
 * and the C1 controls (U+0080..U+009F) are refused. A NUL stops any
 * sequence, because it is not a continuation byte. */
static size_t utf8_len(const unsigned char *p)
{
	unsigned char b0 = p[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (b0 >= 0xc2 && b0 <= 0xdf)
		n = 2;
	else if (b0 >= 0xe0 && b0 <= 0xef)
		n = 3;
	else if (b0 >= 0xf0 && b0 <= 0xf4)
		n = 4;
	else
		return 0;
	if (b0 == 0xe0)
		lo = 0xa0; /* overlong 3-byte */
	else if (b0 == 0xed)
		hi = 0x9f; /* surrogates */
	else if (b0 == 0xf0)
		lo = 0x90; /* overlong 4-byte */
	else if (b0 == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	else if (b0 == 0xc2)
		lo = 0xa0; /* C1 controls */
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* take_utf8: at a byte >= 0x80: checks it is allowed and well-formed and
 * returns the sequence length (0 after recording the error). */
static size_t take_utf8(struct cursor *c, const unsigned char *p)
{
	size_t n;

	if (!c->allow_utf8) {
		fail(c, ADDR_SYNTAX, "8-bit characters in the address need SMTPUTF8");
		return 0;
	}
	n = utf8_len(p);
	if (n == 0) {
		fail(c, ADDR_BAD_UTF8, "invalid UTF-8 in the address");
		return 0;
	}
	c->utf8_seen = true;
	return n;
}

/* bad_after: the error for an unexpected character after an address. */
static bool bad_after(struct cursor *c, const char *what)
{
	unsigned char ch = *c->p;

	if (ch == ' ' || ch == '\t')
		return fail(c, ADDR_SYNTAX, "space in the address (quote it)");
	if (ch == '@')
		return fail(c, ADDR_SYNTAX, "more than one @ in the address");
	if (ch != '\0' && is_control(ch))
		return fail(c, ADDR_SYNTAX, "control character in the address");
	return fail(c, ADDR_SYNTAX, what);
}

/* ---- local part ---- */

/* parse_quoted: Quoted-string at c->p (which is at the opening quote);
 * appends the unescaped content to out. */
static bool parse_quoted(struct cursor *c, buf *out)
{
	const unsigned char *p = c->p + 1;

	for (;;) {
		unsigned char ch = *p;
		size_t n;

		if (ch == '"')
			break;
		if (ch == '\0')
			return fail(c, ADDR_SYNTAX, "unbalanced quotes in the address");
		if (ch == '\\') {
			if (p[1] == '\0')
				return fail(c, ADDR_SYNTAX, "unbalanced quotes in the address");
			if (p[1] >= 0x80 || is_control(p[1]))
				return fail(c, ADDR_SYNTAX, "bad quoted character in the address");
			buf_putc(out, p[1]);
			p += 2;
		} else if (ch >= 0x80) {
			if ((n = take_utf8(c, p)) == 0)
				return false;
			buf_append(out, p, n);
			p += n;
		} else if (is_control(ch)) {
			return fail(c, ADDR_SYNTAX, "control character in the address");
		} else {
			buf_putc(out, ch);
			p++;
		}
	}
	c->p = p + 1;
	return true;
}

/* parse_dot_string: Dot-string (atoms separated by single dots). */
static bool parse_dot_string(struct cursor *c, buf *out)
{
	const unsigned char *p = c->p;
	bool need_atext = true; /* at the start or after a dot */

	for (;;) {
		size_t n;

		if (is_atext(*p)) {
			buf_putc(out, *p++);
			need_atext = false;
		} else if (*p >= 0x80) {
			if ((n = take_utf8(c, p)) == 0)
				return false;
			buf_append(out, p, n);
			p += n;
			need_atext = false;
		} else if (*p == '.') {
			if (need_atext)
				return fail(c, ADDR_SYNTAX, "empty part (dot) in the local part");
			buf_putc(out, *p++);
			need_atext = true;
		} else {
			break;
		}
	}
	if (p == c->p)
		return bad_after(c, "empty local part");
	c->p = p;
	if (need_atext)
		return fail(c, ADDR_SYNTAX, "the local part ends with a dot");
	return true;
}

/* parse_local: Local-part into out; *quoted_r tells which form it had. */
static bool parse_local(struct cursor *c, buf *out, bool *quoted_r)
{
	const unsigned char *start = c->p;
	bool ok;

	*quoted_r = *c->p == '"';
	if (*quoted_r)
		ok = parse_quoted(c, out);
	else if (*c->p == '@')
		return fail(c, ADDR_SYNTAX, "empty local part");
	else
		ok = parse_dot_string(c, out);
	if (!ok)
		return false;
	if ((size_t)(c->p - start) > ADDR_MAX_LOCAL)
		return fail(c, ADDR_TOO_LONG, "local part longer than 64 octets");
	return true;
}

/* ---- domain ---- */

/* check_label: one label of a domain name: 1..63 octets, letters, digits,
 * hyphens (not first or last), and UTF-8 when allowed (a U-label). */
static bool check_label(struct cursor *c, const unsigned char *s, size_t len)
{
	if (len == 0)
		return fail(c, ADDR_SYNTAX, "empty label in the domain");
	if (len > ADDR_MAX_LABEL)
		return fail(c, ADDR_TOO_LONG, "domain label longer than 63 octets");
	if (s[0] == '-' || s[len - 1] == '-')
		return fail(c, ADDR_SYNTAX, "domain label starts or ends with a hyphen");
	return true;
}

/* scan_name: a domain name at c->p, up to the first character that cannot
 * be part of one; labels checked. Sets c->p past it. */
static bool scan_name(struct cursor *c)
{
	const unsigned char *p = c->p, *label = p;

	for (;;) {
		size_t n;

		if (is_alpha(*p) || is_digit(*p) || *p == '-') {
			p++;
		} else if (*p >= 0x80) {
			if ((n = take_utf8(c, p)) == 0)
				return false;
			p += n;
		} else if (*p == '.') {
			if (!check_label(c, label, (size_t)(p - label)))
				return false;
			label = ++p;
		} else {
			break;
		}
	}
	if (p == c->p)
		return fail(c, ADDR_SYNTAX, "empty domain");
	if (p == label)
		return fail(c, ADDR_SYNTAX, "the domain ends with a dot");
	if (!check_label(c, label, (size_t)(p - label)))
		return false;
	c->p = p;
	return true;
}

/* check_literal: the text between [ and ]: a dotted IPv4 address or
 * "IPv6:" and an IPv6 address. General (tagged) literals are refused. */
static bool check_literal(struct cursor *c, const char *s, size_t len)
{
	unsigned char addr[16];
	char *copy;
	int ok;

	if (len > 5 && strncasecmp(s, "IPv6:", 5) == 0) {
		copy = xstrndup(s + 5, len - 5);
		ok = inet_pton(AF_INET6, copy, addr);
	} else {
		copy = xstrndup(s, len);
		ok = inet_pton(AF_INET, copy, addr);
	}
	free(copy);
	if (ok != 1)
		return fail(c, ADDR_SYNTAX, "bad address literal");
	return true;
}

/* scan_literal: an address-literal at c->p (at '['). */
static bool scan_literal(struct cursor *c)
{
	const unsigned char *s = c->p + 1, *p = s;

	while (*p != ']') {
		if (*p == '\0' || *p == '[' || *p == '\\' || *p >= 0x80 || is_control(*p) ||
		    *p == ' ')
			return fail(c, ADDR_SYNTAX, "bad address literal");
		if ((size_t)(p - s) > ADDR_MAX_DOMAIN)
			return fail(c, ADDR_TOO_LONG, "domain longer than 255 octets");
		p++;
	}
	if (!check_literal(c, (const char *)s, (size_t)(p - s)))
		return false;
	c->p = p + 1;
	return true;
}

/* parse_domain: Domain or address-literal at c->p; a lower-cased heap copy
 * in *domain_r (may be NULL when only checking). */
static bool parse_domain(struct cursor *c, char **domain_r)
{
	const unsigned char *start = c->p;
	size_t len;
	bool ok;

	ok = *start == '[' ? scan_literal(c) : scan_name(c);
	if (!ok)
		return false;
	len = (size_t)(c->p - start);
	if (len > ADDR_MAX_DOMAIN)
		return fail(c, ADDR_TOO_LONG, "domain longer than 255 octets");
	if (domain_r != NULL) {
		char *d = xstrndup((const char *)start, len);

		for (char *q = d; *q != '\0'; q++)
			*q = (char)lower((unsigned char)*q);
		*domain_r = d;
	}
	return true;
}

/* ---- paths ---- */

/* parse_route: A-d-l ":" (RFC 5321 4.1.2) at c->p (at '@'): checked and
 * dropped (4.1.1.3 lets a server ignore the route). */
static bool parse_route(struct cursor *c)
{
	for (;;) {
		c->p++; /* the '@' */
		if (!parse_domain(c, NULL))
			return false;
		if (*c->p == ':') {
			c->p++;
			return true;
		}
		if (*c->p != ',' || c->p[1] != '@')
			return fail(c, ADDR_SYNTAX, "bad source route");
		c->p++;
	}
}

/* parse_mailbox: Local-part "@" Domain at c->p, filling a. With
 * allow_postmaster, a bare "postmaster" followed by '>' is taken as the
 * domainless postmaster of RFC 5321 4.5.1. */
static bool parse_mailbox(struct cursor *c, struct addr *a, bool allow_postmaster)
{
	buf *local = buf_new(64);
	bool ok;

	ok = parse_local(c, local, &a->quoted);
	if (ok && allow_postmaster && !a->quoted && *c->p == '>' &&
	    strcasecmp(buf_cstr(local), "postmaster") == 0) {
		buf_free(&local);
		a->local = xstrdup("postmaster");
		return true;
	}
	if (ok && *c->p != '@') {
		if (*c->p == ' ' || *c->p == '\t')
			ok = fail(c, ADDR_SYNTAX, "space in the address (quote it)");
		else if (is_control(*c->p) && *c->p != '\0')
			ok = fail(c, ADDR_SYNTAX, "control character in the address");
		else
			ok = fail(c, ADDR_SYNTAX, "missing @domain in the address");
	}
	if (ok) {
		c->p++;
		ok = parse_domain(c, &a->domain);
	}
	a->local = buf_steal_free(&local);
	return ok;
}

/* parse_in_brackets: what is between '<' and '>' (c->p just after '<'). */
static bool parse_in_brackets(struct cursor *c, struct addr *a)
{
	if (*c->p == '>') {
		a->local = xstrdup("");
		return true;
	}
	if (*c->p == '@') {
		if (!parse_route(c))
			return false;
		a->had_route = true;
	}
	if (!parse_mailbox(c, a, !a->had_route))
		return false;
	if (*c->p != '>')
		return bad_after(c, *c->p == '\0' ? "missing > after the address"
						   : "bad character in the address");
	return true;
}

static void addr_reset(struct addr *a)
{
	memset(a, 0, sizeof(*a));
}

static enum addr_err finish(struct cursor *c, struct addr *a, const char **why_r)
{
	if (c->err != ADDR_OK) {
		addr_clear(a);
		*why_r = c->why;
		return c->err;
	}
	a->utf8 = c->utf8_seen;
	*why_r = NULL;
	return ADDR_OK;
}

enum addr_err addr_parse_path(const char *text, bool allow_utf8, struct addr *a,
			      const char **rest_r, const char **why_r)
{
	struct cursor c = { .p = (const unsigned char *)text, .allow_utf8 = allow_utf8 };
	const unsigned char *after;

	addr_reset(a);
	if (*c.p != '<') {
		fail(&c, ADDR_SYNTAX, "the address must be in <angle brackets>");
		return finish(&c, a, why_r);
	}
	c.p++;
	if (parse_in_brackets(&c, a)) {
		after = c.p + 1;
		if ((size_t)(after - (const unsigned char *)text) > ADDR_MAX_PATH)
			fail(&c, ADDR_TOO_LONG, "path longer than 256 octets");
		else if (*after != '\0' && *after != ' ' && *after != '\t')
			fail(&c, ADDR_SYNTAX, "garbage after the address");
		while (*after == ' ' || *after == '\t')
			after++;
		if (c.err == ADDR_OK && rest_r != NULL)
			*rest_r = (const char *)after;
	}
	return finish(&c, a, why_r);
}

enum addr_err addr_parse(const char *text, bool allow_utf8, struct addr *a, const char **why_r)
{
	struct cursor c = { .p = (const unsigned char *)text, .allow_utf8 = allow_utf8 };

	addr_reset(a);
	if (parse_mailbox(&c, a, false) && *c.p != '\0')
		bad_after(&c, "bad character in the address");
	return finish(&c, a, why_r);
}

void addr_clear(struct addr *a)
{
	free(a->local);
	free(a->domain);
	addr_reset(a);
}

bool addr_domain_valid(const char *domain, bool allow_utf8)
{
	struct cursor c = { .p = (const unsigned char *)domain, .allow_utf8 = allow_utf8 };

	return parse_domain(&c, NULL) && *c.p == '\0';
}

/* ---- formatting ---- */

/* local_needs_quotes: the local part is not a valid Dot-string. */
static bool local_needs_quotes(const char *local)
{
	const unsigned char *p = (const unsigned char *)local;
	bool need_atext = true;

	if (*p == '\0')
		return true;
	for (; *p != '\0'; p++) {
		if (*p == '.') {
			if (need_atext)
				return true;
			need_atext = true;
		} else if (is_atext(*p) || *p >= 0x80) {
			need_atext = false;
		} else {
			return true;
		}
	}
	return need_atext;
}

static void format_local(buf *out, const char *local)
{
	if (!local_needs_quotes(local)) {
		buf_puts(out, local);
		return;
	}
	buf_putc(out, '"');
	for (const char *p = local; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_putc(out, '\\');
		buf_putc(out, *p);
	}
	buf_putc(out, '"');
}

char *addr_format(const struct addr *a)
{
	buf *out = buf_new(64);
	const char *local = a->local != NULL ? a->local : "";

	if (a->domain == NULL && *local == '\0')
		return buf_steal_free(&out);
	format_local(out, local);
	if (a->domain != NULL) {
		buf_putc(out, '@');
		buf_puts(out, a->domain);
	}
	return buf_steal_free(&out);
}

char *addr_lookup_key(const struct addr *a)
{
	char *key = addr_format(a);

	for (char *p = key; *p != '\0'; p++)
		*p = (char)lower((unsigned char)*p);
	return key;
}

/* ---- extensions ---- */

bool addr_split_extension(const char *address, const char *delimiters, char **base_r,
			  char **ext_r)
{
	const char *at, *delim;
	size_t local_len;

	if (delimiters == NULL || *delimiters == '\0' || address[0] == '"')
		return false;
	at = strrchr(address, '@');
	local_len = at != NULL ? (size_t)(at - address) : strlen(address);
	delim = address + strcspn(address, delimiters);
	if (delim >= address + local_len || delim == address)
		return false;
	*ext_r = xstrndup(delim + 1, local_len - (size_t)(delim - address) - 1);
	*base_r = xasprintf("%.*s%s", (int)(delim - address), address, at != NULL ? at : "");
	return true;
}

/* ---- ESMTP parameters ---- */

static bool is_keyword_char(int ch)
{
	return is_alpha(ch) || is_digit(ch) || ch == '-';
}

/* scan_value: esmtp-value (RFC 5321 4.1.2, with RFC 6531's UTF-8): the
 * length of the value at p, or -1 on a bad character. */
static long scan_value(const unsigned char *p)
{
	const unsigned char *s = p;

	while (*p != '\0' && *p != ' ' && *p != '\t') {
		size_t n = 1;

		if (*p >= 0x80) {
			if ((n = utf8_len(p)) == 0)
				return -1;
		} else if (is_control(*p) || *p == '=') {
			return -1;
		}
		p += n;
	}
	return (long)(p - s);
}

static bool copy_out(char *dst, size_t size, const char *src, size_t len)
{
	if (len >= size)
		return false;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return true;
}

bool addr_param_next(const char **text, char *keyword, size_t keyword_size, char *value,
		     size_t value_size, const char **why_r)
{
	const unsigned char *p = (const unsigned char *)*text, *kw;
	size_t kw_len;
	long val_len = 0;

	*why_r = NULL;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0') {
		*text = (const char *)p;
		return false;
	}
	kw = p;
	while (is_keyword_char(*p))
		p++;
	kw_len = (size_t)(p - kw);
	if (kw_len == 0 || kw[0] == '-') {
		*why_r = "malformed parameter (bad keyword)";
		return false;
	}
	if (*p == '=') {
		val_len = scan_value(++p);
		if (val_len <= 0) {
			*why_r = "malformed parameter (bad or empty value)";
			return false;
		}
	} else if (*p != '\0' && *p != ' ' && *p != '\t') {
		*why_r = "malformed parameter (bad keyword)";
		return false;
	}
	if (!copy_out(keyword, keyword_size, (const char *)kw, kw_len) ||
	    !copy_out(value, value_size, (const char *)p, (size_t)val_len)) {
		*why_r = "parameter too long";
		return false;
	}
	for (char *q = keyword; *q != '\0'; q++)
		if (*q >= 'a' && *q <= 'z')
			*q = (char)(*q - 'a' + 'A');
	*text = (const char *)(p + val_len);
	return true;
}

/* ---- xtext ---- */

static bool is_xchar(int ch)
{
	return ch >= '!' && ch <= '~' && ch != '+' && ch != '=';
}

char *addr_xtext_decode(const char *xtext)
{
	buf *out = buf_new(strlen(xtext) + 1);
	const unsigned char *p = (const unsigned char *)xtext;

	while (*p != '\0') {
		if (*p == '+') {
			/* hex digits in either case: lenient, RFC 3461 says upper case */
			int hi = qp_hex_value(p[1]), lo = hi < 0 ? -1 : qp_hex_value(p[2]);

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				goto bad; /* a NUL cannot be carried in a C string */
			buf_putc(out, hi * 16 + lo);
			p += 3;
		} else if (is_xchar(*p)) {
			buf_putc(out, *p++);
		} else {
			goto bad;
		}
	}
	return buf_steal_free(&out);
bad:
	buf_free(&out);
	return NULL;
}

char *addr_xtext_encode(const char *text)
{
	buf *out = buf_new(strlen(text) + 1);

	for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
		if (is_xchar(*p))
			buf_putc(out, *p);
		else
			buf_printf(out, "+%02X", *p);
	}
	return buf_steal_free(&out);
}

char *addr_orcpt(const char *addr)
{
	char *x = addr_xtext_encode(addr), *v = xasprintf("rfc822;%s", x);

	free(x);
	return v;
}
