/* test_addr.c: unit tests for the address parser (lib/addr.c): tables of
 * valid paths with the expected local part, domain, rest, flags and
 * formatted form; tables of invalid paths and bare addresses with the
 * expected error; the octet limits at their edges (local 64/65, domain
 * 255/256, label 63/64, path 256/257); strict UTF-8 and IDN domains;
 * quoting round trips; lookup keys; extension splitting; ESMTP parameter
 * splitting; xtext. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "mem.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- valid paths ---- */

struct path_ok {
	const char *in;
	bool utf8_ok; /* allow_utf8 */
	const char *local;
	const char *domain; /* NULL: no domain */
	const char *rest;
	bool quoted, utf8, route;
	const char *formatted;
};

static const struct path_ok valid_paths[] = {
	{ "<a@b>", false, "a", "b", "", false, false, false, "a@b" },
	{ "<User@Example.COM>", false, "User", "example.com", "", false, false, false,
	  "User@example.com" },
	{ "<>", false, "", NULL, "", false, false, false, "" },
	{ "<> SIZE=10", false, "", NULL, "SIZE=10", false, false, false, "" },
	{ "<a@b> SIZE=10", false, "a", "b", "SIZE=10", false, false, false, "a@b" },
	{ "<a@b>   SIZE=10 BODY=8BITMIME", false, "a", "b", "SIZE=10 BODY=8BITMIME", false,
	  false, false, "a@b" },
	{ "<a@b>\tX=1", false, "a", "b", "X=1", false, false, false, "a@b" },
	{ "<a@b>  ", false, "a", "b", "", false, false, false, "a@b" },
	{ "<postmaster>", false, "postmaster", NULL, "", false, false, false, "postmaster" },
	{ "<PostMaster>", false, "postmaster", NULL, "", false, false, false, "postmaster" },
	{ "<postmaster@x.org>", false, "postmaster", "x.org", "", false, false, false,
	  "postmaster@x.org" },
	{ "<first.last@sub.example.org>", false, "first.last", "sub.example.org", "", false, false,
	  false, "first.last@sub.example.org" },
	{ "<a%b@c>", false, "a%b", "c", "", false, false, false, "a%b@c" },
	{ "<a!b@c>", false, "a!b", "c", "", false, false, false, "a!b@c" },
	{ "<user+ext@d>", false, "user+ext", "d", "", false, false, false, "user+ext@d" },
	{ "<!#$%&'*+-/=?^_`{|}~@d>", false, "!#$%&'*+-/=?^_`{|}~", "d", "", false, false, false,
	  "!#$%&'*+-/=?^_`{|}~@d" },
	{ "<\"a b\"@c>", false, "a b", "c", "", true, false, false, "\"a b\"@c" },
	{ "<\"abc\"@c>", false, "abc", "c", "", true, false, false, "abc@c" },
	{ "<\"\"@c>", false, "", "c", "", true, false, false, "\"\"@c" },
	{ "<\"a\\\"b\"@c>", false, "a\"b", "c", "", true, false, false, "\"a\\\"b\"@c" },
	{ "<\"a\\\\b\"@c>", false, "a\\b", "c", "", true, false, false, "\"a\\\\b\"@c" },
	{ "<\"\\a\"@c>", false, "a", "c", "", true, false, false, "a@c" },
	{ "<\"a@b\"@c>", false, "a@b", "c", "", true, false, false, "\"a@b\"@c" },
	{ "<\"a..b\"@c>", false, "a..b", "c", "", true, false, false, "\"a..b\"@c" },
	{ "<\".a\"@c>", false, ".a", "c", "", true, false, false, "\".a\"@c" },
	{ "<\"a>b\"@c>", false, "a>b", "c", "", true, false, false, "\"a>b\"@c" },
	{ "<@r1,@r2:u@d>", false, "u", "d", "", false, false, true, "u@d" },
	{ "<@relay.example:u@d> SIZE=1", false, "u", "d", "SIZE=1", false, false, true, "u@d" },
	{ "<u@[1.2.3.4]>", false, "u", "[1.2.3.4]", "", false, false, false, "u@[1.2.3.4]" },
	{ "<u@[IPv6:2001:DB8::1]>", false, "u", "[ipv6:2001:db8::1]", "", false, false, false,
	  "u@[ipv6:2001:db8::1]" },
	{ "<u@[ipv6:::1]>", false, "u", "[ipv6:::1]", "", false, false, false, "u@[ipv6:::1]" },
	{ "<u@[IPv6:::ffff:10.0.0.1]>", false, "u", "[ipv6:::ffff:10.0.0.1]", "", false, false,
	  false, "u@[ipv6:::ffff:10.0.0.1]" },
	{ "<u@a-b.c-d.e>", false, "u", "a-b.c-d.e", "", false, false, false, "u@a-b.c-d.e" },
	{ "<u@1.2.3.4>", false, "u", "1.2.3.4", "", false, false, false, "u@1.2.3.4" },
	{ "<u@localhost>", false, "u", "localhost", "", false, false, false, "u@localhost" },
	{ "<u@xn--bcher-kva.example>", false, "u", "xn--bcher-kva.example", "", false, false, false,
	  "u@xn--bcher-kva.example" },
	/* UTF-8 (SMTPUTF8) */
	{ "<j\xc3\xb6rg@example.org>", true, "j\xc3\xb6rg", "example.org", "", false, true, false,
	  "j\xc3\xb6rg@example.org" },
	{ "<u@b\xc3\xbc\x63her.example>", true, "u", "b\xc3\xbc\x63her.example", "", false, true,
	  false, "u@b\xc3\xbc\x63her.example" },
	{ "<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a>", true,
	  "\xe7\x94\xa8\xe6\x88\xb7", "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", "", false,
	  true, false, "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a" },
	{ "<\"\xc3\xa9 t\xc3\xa9\"@x>", true, "\xc3\xa9 t\xc3\xa9", "x", "", true, true, false,
	  "\"\xc3\xa9 t\xc3\xa9\"@x" },
	{ "<\xf0\x9f\x98\x80@x>", true, "\xf0\x9f\x98\x80", "x", "", false, true, false,
	  "\xf0\x9f\x98\x80@x" },
	{ "<\xf4\x8f\xbf\xbf@x>", true, "\xf4\x8f\xbf\xbf", "x", "", false, true, false,
	  "\xf4\x8f\xbf\xbf@x" },
	{ "<\xed\x9f\xbf@x>", true, "\xed\x9f\xbf", "x", "", false, true, false, "\xed\x9f\xbf@x" },
	{ "<\xc2\xa0x@x>", true, "\xc2\xa0x", "x", "", false, true, false, "\xc2\xa0x@x" },
	{ "<U@B\xc3\x9c.DE>", true, "U", "b\xc3\x9c.de", "", false, true, false,
	  "U@b\xc3\x9c.de" },
	{ "<a@b>", true, "a", "b", "", false, false, false, "a@b" },
};

static void test_valid_paths(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(valid_paths); i++) {
		const struct path_ok *t = &valid_paths[i];
		struct addr a;
		const char *rest = NULL, *why = "unset";
		enum addr_err err = addr_parse_path(t->in, t->utf8_ok, &a, &rest, &why);
		char *f;

		if (err != ADDR_OK)
			fail_msg("case %zu \"%s\": error %d (%s)", i, t->in, err, why);
		assert_null(why);
		assert_string_equal(a.local, t->local);
		if (t->domain == NULL)
			assert_null(a.domain);
		else
			assert_string_equal(a.domain, t->domain);
		assert_string_equal(rest, t->rest);
		if (a.quoted != t->quoted || a.utf8 != t->utf8 || a.had_route != t->route)
			fail_msg("case %zu \"%s\": flags q=%d u=%d r=%d", i, t->in, a.quoted, a.utf8,
				 a.had_route);
		f = addr_format(&a);
		assert_string_equal(f, t->formatted);
		free(f);
		addr_clear(&a);
		assert_null(a.local);
		assert_null(a.domain);
	}
}

/* ---- invalid paths ---- */

struct path_bad {
	const char *in;
	bool utf8_ok;
	enum addr_err err;
};

static const struct path_bad invalid_paths[] = {
	{ "", false, ADDR_SYNTAX },
	{ "a@b", false, ADDR_SYNTAX }, /* missing brackets */
	{ "<a@b", false, ADDR_SYNTAX },
	{ "a@b>", false, ADDR_SYNTAX },
	{ "<", false, ADDR_SYNTAX },
	{ " <a@b>", false, ADDR_SYNTAX }, /* leading space is the caller's job */
	{ "<a@b>x", false, ADDR_SYNTAX },
	{ "<a@b>SIZE=10", false, ADDR_SYNTAX },
	{ "<a@b>>", false, ADDR_SYNTAX },
	{ "<@>", false, ADDR_SYNTAX },
	{ "<@b>", false, ADDR_SYNTAX },
	{ "<a@>", false, ADDR_SYNTAX },
	{ "<a>", false, ADDR_SYNTAX },
	{ "<postmaster@>", false, ADDR_SYNTAX },
	{ "<\"postmaster\">", false, ADDR_SYNTAX },
	{ "<a@b@c>", false, ADDR_SYNTAX },
	{ "<a b@c>", false, ADDR_SYNTAX },
	{ "< a@b>", false, ADDR_SYNTAX },
	{ "<a@b >", false, ADDR_SYNTAX },
	{ "<a@ b>", false, ADDR_SYNTAX },
	{ "<a @b>", false, ADDR_SYNTAX },
	{ "<a@b.>", false, ADDR_SYNTAX }, /* trailing dot */
	{ "<a.@b>", false, ADDR_SYNTAX },
	{ "<.a@b>", false, ADDR_SYNTAX },
	{ "<a..b@c>", false, ADDR_SYNTAX },
	{ "<a@b..c>", false, ADDR_SYNTAX },
	{ "<a@.b>", false, ADDR_SYNTAX },
	{ "<a@-b.c>", false, ADDR_SYNTAX },
	{ "<a@b-.c>", false, ADDR_SYNTAX },
	{ "<a@b_c.d>", false, ADDR_SYNTAX },
	{ "<\"a@b>", false, ADDR_SYNTAX }, /* unbalanced quotes */
	{ "<\"a@b", false, ADDR_SYNTAX },
	{ "<a\"@b>", false, ADDR_SYNTAX },
	{ "<\"a\\\">", false, ADDR_SYNTAX },
	{ "<\"a\"b@c>", false, ADDR_SYNTAX },
	{ "<a\x01@b>", false, ADDR_SYNTAX }, /* control characters */
	{ "<a@b\x7f>", false, ADDR_SYNTAX },
	{ "<\"a\x01\"@b>", false, ADDR_SYNTAX },
	{ "<\"a\\\x01\"@b>", false, ADDR_SYNTAX },
	{ "<a\r@b>", false, ADDR_SYNTAX },
	{ "<a\n@b>", false, ADDR_SYNTAX },
	{ "<a\t@b>", false, ADDR_SYNTAX },
	{ "<a@b>\x01", false, ADDR_SYNTAX },
	{ "<a(comment)@b>", false, ADDR_SYNTAX },
	{ "<a,b@c>", false, ADDR_SYNTAX },
	{ "<a@[1.2.3]>", false, ADDR_SYNTAX }, /* address literals */
	{ "<a@[1.2.3.256]>", false, ADDR_SYNTAX },
	{ "<a@[1.2.3.4>", false, ADDR_SYNTAX },
	{ "<a@[]>", false, ADDR_SYNTAX },
	{ "<a@[IPv6:1.2.3.4]>", false, ADDR_SYNTAX },
	{ "<a@[IPv6:2001:db8::g]>", false, ADDR_SYNTAX },
	{ "<a@[2001:db8::1]>", false, ADDR_SYNTAX },
	{ "<a@[x-tag:foo]>", false, ADDR_SYNTAX },
	{ "<a@[1.2.3.4].com>", false, ADDR_SYNTAX },
	{ "<a@[1.2. 3.4]>", false, ADDR_SYNTAX },
	{ "<@r1:>", false, ADDR_SYNTAX }, /* source routes */
	{ "<@r1,u@d>", false, ADDR_SYNTAX },
	{ "<@r1,:u@d>", false, ADDR_SYNTAX },
	{ "<@:u@d>", false, ADDR_SYNTAX },
	{ "<@r1;@r2:u@d>", false, ADDR_SYNTAX },
	{ "<@r1:postmaster>", false, ADDR_SYNTAX },
	{ "<@r1.:u@d>", false, ADDR_SYNTAX },
	{ "<\xc3\xa9@x>", false, ADDR_SYNTAX }, /* 8-bit without SMTPUTF8 */
	{ "<u@\xc3\xa9.x>", false, ADDR_SYNTAX },
	{ "<\"\xc3\xa9\"@x>", false, ADDR_SYNTAX },
	{ "<\xc3@x>", true, ADDR_BAD_UTF8 }, /* truncated */
	{ "<\xc3", true, ADDR_BAD_UTF8 },
	{ "<\xe2\x82@x>", true, ADDR_BAD_UTF8 },
	{ "<\xf0\x9f\x98@x>", true, ADDR_BAD_UTF8 },
	{ "<\x80@x>", true, ADDR_BAD_UTF8 }, /* lone continuation */
	{ "<\xbf@x>", true, ADDR_BAD_UTF8 },
	{ "<\xc0\xaf@x>", true, ADDR_BAD_UTF8 }, /* overlong '/' */
	{ "<\xc1\xbf@x>", true, ADDR_BAD_UTF8 },
	{ "<\xe0\x80\xaf@x>", true, ADDR_BAD_UTF8 },
	{ "<\xe0\x9f\xbf@x>", true, ADDR_BAD_UTF8 },
	{ "<\xf0\x80\x80\xaf@x>", true, ADDR_BAD_UTF8 },
	{ "<\xf0\x8f\xbf\xbf@x>", true, ADDR_BAD_UTF8 },
	{ "<\xed\xa0\x80@x>", true, ADDR_BAD_UTF8 }, /* surrogates */
	{ "<\xed\xbf\xbf@x>", true, ADDR_BAD_UTF8 },
	{ "<\xf4\x90\x80\x80@x>", true, ADDR_BAD_UTF8 }, /* > U+10FFFF */
	{ "<\xf5\x80\x80\x80@x>", true, ADDR_BAD_UTF8 },
	{ "<\xff@x>", true, ADDR_BAD_UTF8 },
	{ "<\xfe@x>", true, ADDR_BAD_UTF8 },
	{ "<\xc2\x80@x>", true, ADDR_BAD_UTF8 }, /* C1 control */
	{ "<\xc2\x9f@x>", true, ADDR_BAD_UTF8 },
	{ "<u@b\xc3\x28.x>", true, ADDR_BAD_UTF8 },
	{ "<\"\xed\xa0\x80\"@x>", true, ADDR_BAD_UTF8 },
	{ "<\"\\\xc3\xa9\"@x>", true, ADDR_SYNTAX }, /* quoted-pair is ASCII only */
	{ "<u@[1.2.3.\xc3\xa9]>", true, ADDR_SYNTAX },
};

static void test_invalid_paths(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(invalid_paths); i++) {
		const struct path_bad *t = &invalid_paths[i];
		struct addr a;
		const char *rest = "unchanged", *why = NULL;
		enum addr_err err = addr_parse_path(t->in, t->utf8_ok, &a, &rest, &why);

		if (err != t->err)
			fail_msg("case %zu \"%s\": got %d want %d", i, t->in, err, t->err);
		assert_non_null(why);
		assert_string_equal(rest, "unchanged");
		assert_null(a.local);
		assert_null(a.domain);
		addr_clear(&a);
	}
}

/* ---- bare addresses ---- */

struct bare {
	const char *in;
	enum addr_err err;
	const char *formatted; /* on success */
};

static const struct bare bare_cases[] = {
	{ "a@b", ADDR_OK, "a@b" },
	{ "Joe.User@Example.Org", ADDR_OK, "Joe.User@example.org" },
	{ "\"x y\"@z", ADDR_OK, "\"x y\"@z" },
	{ "u@[10.0.0.1]", ADDR_OK, "u@[10.0.0.1]" },
	{ "a%b@c", ADDR_OK, "a%b@c" },
	{ "postmaster", ADDR_SYNTAX, NULL }, /* only inside a path */
	{ "", ADDR_SYNTAX, NULL },
	{ "@", ADDR_SYNTAX, NULL },
	{ "a@", ADDR_SYNTAX, NULL },
	{ "@b", ADDR_SYNTAX, NULL },
	{ "a@b@c", ADDR_SYNTAX, NULL },
	{ "<a@b>", ADDR_SYNTAX, NULL },
	{ "a@b ", ADDR_SYNTAX, NULL },
	{ " a@b", ADDR_SYNTAX, NULL },
	{ "a@b.", ADDR_SYNTAX, NULL },
	{ "a@b>", ADDR_SYNTAX, NULL },
	{ "@r:a@b", ADDR_SYNTAX, NULL },
	{ "a@b\n", ADDR_SYNTAX, NULL },
};

static void test_bare(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(bare_cases); i++) {
		const struct bare *t = &bare_cases[i];
		struct addr a;
		const char *why = NULL;
		enum addr_err err = addr_parse(t->in, false, &a, &why);

		if (err != t->err)
			fail_msg("case %zu \"%s\": got %d want %d (%s)", i, t->in, err, t->err,
				 why ? why : "");
		if (err == ADDR_OK) {
			char *f = addr_format(&a);

			assert_string_equal(f, t->formatted);
			free(f);
		} else {
			assert_non_null(why);
		}
		addr_clear(&a);
	}
}

/* ---- limits ---- */

static char *repeat(char ch, size_t n)
{
	char *s = xmalloc(n + 1);

	memset(s, ch, n);
	s[n] = '\0';
	return s;
}

/* make_domain: a valid domain of exactly len octets from labels of at
 * most 63 octets. */
static char *make_domain(size_t len)
{
	char *d = repeat('d', len);

	for (size_t i = 63; i < len - 1; i += 64)
		d[i] = '.';
	return d;
}

static enum addr_err parse_bare(const char *local, const char *domain)
{
	char *s = xasprintf("%s@%s", local, domain);
	struct addr a;
	const char *why;
	enum addr_err err = addr_parse(s, false, &a, &why);

	addr_clear(&a);
	free(s);
	return err;
}

static void test_limit_local(void **state)
{
	char *l64 = repeat('l', 64), *l65 = repeat('l', 65);
	char *q64 = repeat('q', 64), *q65 = repeat('q', 65);

	(void)state;
	assert_int_equal(parse_bare(l64, "d"), ADDR_OK);
	assert_int_equal(parse_bare(l65, "d"), ADDR_TOO_LONG);
	/* the limit counts the local part as sent, quotes included */
	q64[0] = q64[63] = '"';
	q65[0] = q65[64] = '"';
	q64[5] = ' ';
	q65[5] = ' ';
	assert_int_equal(parse_bare(q64, "d"), ADDR_OK);
	assert_int_equal(parse_bare(q65, "d"), ADDR_TOO_LONG);
	free(l64);
	free(l65);
	free(q64);
	free(q65);
}

static void test_limit_domain(void **state)
{
	char *d255 = make_domain(255), *d256 = make_domain(256);
	char *label63 = repeat('x', 63), *label64 = repeat('x', 64);

	(void)state;
	assert_int_equal(strlen(d255), 255);
	assert_true(addr_domain_valid(d255, false));
	assert_false(addr_domain_valid(d256, false));
	assert_int_equal(parse_bare("u", d255), ADDR_OK);
	assert_int_equal(parse_bare("u", d256), ADDR_TOO_LONG);
	assert_int_equal(parse_bare("u", label63), ADDR_OK);
	assert_int_equal(parse_bare("u", label64), ADDR_TOO_LONG);
	free(d255);
	free(d256);
	free(label63);
	free(label64);
}

static enum addr_err parse_path_len(size_t len)
{
	/* "<" local "@" domain ">" of total length len, local 64 */
	char *local = repeat('l', 64);
	char *domain = make_domain(len - 67);
	char *s = xasprintf("<%s@%s> SIZE=1", local, domain);
	struct addr a;
	const char *why, *rest = NULL;
	enum addr_err err;

	assert_int_equal(strlen(s), len + 7);
	err = addr_parse_path(s, false, &a, &rest, &why);
	if (err == ADDR_OK)
		assert_string_equal(rest, "SIZE=1");
	addr_clear(&a);
	free(local);
	free(domain);
	free(s);
	return err;
}

static void test_limit_path(void **state)
{
	(void)state;
	assert_int_equal(parse_path_len(256), ADDR_OK);
	assert_int_equal(parse_path_len(257), ADDR_TOO_LONG);
}

static void test_limit_route_counts(void **state)
{
	/* the dropped source route still counts towards the path limit */
	char *route = make_domain(200);
	char *s = xasprintf("<@%s:u@%s>", route, "d.example");
	struct addr a;
	const char *why;

	(void)state;
	assert_int_equal(addr_parse_path(s, false, &a, NULL, &why), ADDR_OK);
	assert_true(a.had_route);
	addr_clear(&a);
	free(s);
	s = xasprintf("<@%s:u@%s.%s>", route, "d.example", route);
	assert_int_equal(addr_parse_path(s, false, &a, NULL, &why), ADDR_TOO_LONG);
	free(s);
	free(route);
}

static void test_huge_input(void **state)
{
	char *big = repeat('a', 100000);
	struct addr a;
	const char *why;

	(void)state;
	big[0] = '<';
	assert_int_equal(addr_parse_path(big, false, &a, NULL, &why), ADDR_TOO_LONG);
	assert_int_equal(addr_parse(big + 1, false, &a, &why), ADDR_TOO_LONG);
	big[0] = '"';
	assert_int_equal(addr_parse(big, false, &a, &why), ADDR_SYNTAX);
	free(big);
}

/* ---- domains ---- */

struct domain_case {
	const char *domain;
	bool utf8_ok;
	bool valid;
};

static const struct domain_case domain_cases[] = {
	{ "example.org", false, true },
	{ "EXAMPLE.ORG", false, true },
	{ "a", false, true },
	{ "a-b", false, true },
	{ "123", false, true },
	{ "[127.0.0.1]", false, true },
	{ "[IPv6:::1]", false, true },
	{ "", false, false },
	{ ".", false, false },
	{ "a.", false, false },
	{ ".a", false, false },
	{ "a..b", false, false },
	{ "-a", false, false },
	{ "a-", false, false },
	{ "a b", false, false },
	{ "a_b", false, false },
	{ "a@b", false, false },
	{ "[127.0.0.1", false, false },
	{ "[127.0.0.1]x", false, false },
	{ "b\xc3\xbc\x63her.de", false, false },
	{ "b\xc3\xbc\x63her.de", true, true },
	{ "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.\xd1\x80\xd1\x84", true, true },
	{ "b\xc3.de", true, false },
	{ "b\xed\xa0\x80.de", true, false },
	{ "b\xc0\x80.de", true, false },
};

static void test_domains(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(domain_cases); i++) {
		const struct domain_case *t = &domain_cases[i];

		if (addr_domain_valid(t->domain, t->utf8_ok) != t->valid)
			fail_msg("case %zu \"%s\": want %d", i, t->domain, t->valid);
	}
}

/* ---- formatting ---- */

struct fmt_case {
	const char *local;
	const char *domain;
	const char *formatted;
};

static const struct fmt_case fmt_cases[] = {
	{ "a", "b", "a@b" },
	{ "a b", "b", "\"a b\"@b" },
	{ "a\"b", "b", "\"a\\\"b\"@b" },
	{ "a\\b", "b", "\"a\\\\b\"@b" },
	{ "", "b", "\"\"@b" },
	{ ".", "b", "\".\"@b" },
	{ "a.", "b", "\"a.\"@b" },
	{ "a..b", "b", "\"a..b\"@b" },
	{ "a.b", "b", "a.b@b" },
	{ "a@b", "c", "\"a@b\"@c" },
	{ "(x)", "c", "\"(x)\"@c" },
	{ "a,b", "c", "\"a,b\"@c" },
	{ "\xc3\xa9", "c", "\xc3\xa9@c" },
	{ "postmaster", NULL, "postmaster" },
	{ "", NULL, "" },
};

static void test_format_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(fmt_cases); i++) {
		const struct fmt_case *t = &fmt_cases[i];
		struct addr a = { .local = (char *)t->local, .domain = (char *)t->domain };
		struct addr back;
		char *f = addr_format(&a), *path;
		const char *why;

		assert_string_equal(f, t->formatted);
		/* and parsing the formatted form gives the same address */
		path = xasprintf("<%s>", f);
		if (addr_parse_path(path, true, &back, NULL, &why) != ADDR_OK)
			fail_msg("case %zu: %s does not parse: %s", i, path, why);
		assert_string_equal(back.local, t->local);
		if (t->domain == NULL)
			assert_null(back.domain);
		else
			assert_string_equal(back.domain, t->domain);
		addr_clear(&back);
		free(path);
		free(f);
	}
}

static void test_lookup_key(void **state)
{
	struct addr a;
	const char *why;
	char *key;

	(void)state;
	assert_int_equal(addr_parse_path("<Joe.User@Example.ORG>", false, &a, NULL, &why), ADDR_OK);
	assert_string_equal(a.local, "Joe.User");
	key = addr_lookup_key(&a);
	assert_string_equal(key, "joe.user@example.org");
	free(key);
	addr_clear(&a);
	assert_int_equal(addr_parse_path("<\"A B\"@X>", false, &a, NULL, &why), ADDR_OK);
	key = addr_lookup_key(&a);
	assert_string_equal(key, "\"a b\"@x");
	free(key);
	addr_clear(&a);
	assert_int_equal(addr_parse_path("<Postmaster>", false, &a, NULL, &why), ADDR_OK);
	key = addr_lookup_key(&a);
	assert_string_equal(key, "postmaster");
	free(key);
	addr_clear(&a);
	assert_int_equal(addr_parse_path("<>", false, &a, NULL, &why), ADDR_OK);
	key = addr_lookup_key(&a);
	assert_string_equal(key, "");
	free(key);
	addr_clear(&a);
}

/* ---- extensions ---- */

struct ext_case {
	const char *address;
	const char *delims;
	bool split;
	const char *base, *ext;
};

static const struct ext_case ext_cases[] = {
	{ "user+ext@d", "+", true, "user@d", "ext" },
	{ "user-ext@d", "+-", true, "user@d", "ext" },
	{ "user+ext@d", "+-", true, "user@d", "ext" },
	{ "user+a-b@d", "+-", true, "user@d", "a-b" },
	{ "user-a+b@d", "+-", true, "user@d", "a+b" },
	{ "user+a+b@d", "+", true, "user@d", "a+b" },
	{ "user=x@d", "+=-", true, "user@d", "x" },
	{ "user+@d", "+", true, "user@d", "" },
	{ "user+ext", "+", true, "user", "ext" },
	{ "user@d+x", "+", false, NULL, NULL },
	{ "user@d", "+", false, NULL, NULL },
	{ "user+ext@d", "-", false, NULL, NULL },
	{ "user+ext@d", "", false, NULL, NULL },
	{ "user+ext@d", NULL, false, NULL, NULL },
	{ "+ext@d", "+", false, NULL, NULL },
	{ "\"a+b c\"@d", "+", false, NULL, NULL },
	{ "", "+", false, NULL, NULL },
};

static void test_split_extension(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(ext_cases); i++) {
		const struct ext_case *t = &ext_cases[i];
		char *base = NULL, *ext = NULL;
		bool split = addr_split_extension(t->address, t->delims, &base, &ext);

		if (split != t->split)
			fail_msg("case %zu \"%s\": split %d", i, t->address, split);
		if (split) {
			assert_string_equal(base, t->base);
			assert_string_equal(ext, t->ext);
		} else {
			assert_null(base);
			assert_null(ext);
		}
		free(base);
		free(ext);
	}
}

/* ---- ESMTP parameters ---- */

static void test_params_ok(void **state)
{
	const char *text = "size=123  BODY=8BITMIME\tSMTPUTF8 Ret=HDRS ENVID=a+2Bb x-y-z=\xc3\xa9";
	static const char *const want[][2] = {
		{ "SIZE", "123" },  { "BODY", "8BITMIME" }, { "SMTPUTF8", "" },
		{ "RET", "HDRS" },  { "ENVID", "a+2Bb" },   { "X-Y-Z", "\xc3\xa9" },
	};
	char kw[32], val[64];
	const char *why = "unset";
	size_t n = 0;

	(void)state;
	while (addr_param_next(&text, kw, sizeof(kw), val, sizeof(val), &why)) {
		assert_true(n < N_ELEMS(want));
		assert_string_equal(kw, want[n][0]);
		assert_string_equal(val, want[n][1]);
		n++;
	}
	assert_null(why);
	assert_int_equal(n, N_ELEMS(want));
	assert_string_equal(text, "");
	/* empty and blank input: no parameter, no error */
	text = "   ";
	assert_false(addr_param_next(&text, kw, sizeof(kw), val, sizeof(val), &why));
	assert_null(why);
}

struct param_bad {
	const char *text;
	size_t kw_size, val_size;
};

static const struct param_bad bad_params[] = {
	{ "=x", 32, 32 },
	{ "SIZE=", 32, 32 },
	{ "SIZE= 1", 32, 32 },
	{ "SIZE==1", 32, 32 },
	{ "SIZE=1=2", 32, 32 },
	{ "-SIZE=1", 32, 32 },
	{ "SI_ZE=1", 32, 32 },
	{ "SIZE:1", 32, 32 },
	{ "SIZE=1\x01", 32, 32 },
	{ "SIZE=\x7f", 32, 32 },
	{ "X=\xc3", 32, 32 },
	{ "X=\xed\xa0\x80", 32, 32 },
	{ "\xc3\xa9=1", 32, 32 },
	{ "KEYWORD=1", 7, 32 }, /* keyword too long: 7 octets + NUL */
	{ "K=12345678", 32, 8 }, /* value too long */
	{ "K", 1, 8 },
	{ "K", 8, 0 },
};

static void test_params_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(bad_params); i++) {
		const struct param_bad *t = &bad_params[i];
		const char *text = t->text, *why = NULL;
		char kw[64], val[64];

		if (addr_param_next(&text, kw, t->kw_size, val, t->val_size, &why))
			fail_msg("case %zu \"%s\" accepted", i, t->text);
		if (why == NULL)
			fail_msg("case %zu \"%s\": no reason", i, t->text);
	}
}

static void test_params_exact_fit(void **state)
{
	const char *text = "KEYWORD=1234567 NEXT";
	const char *why;
	char kw[8], val[8];

	(void)state;
	assert_true(addr_param_next(&text, kw, sizeof(kw), val, sizeof(val), &why));
	assert_string_equal(kw, "KEYWORD");
	assert_string_equal(val, "1234567");
	assert_true(addr_param_next(&text, kw, sizeof(kw), val, sizeof(val), &why));
	assert_string_equal(kw, "NEXT");
	assert_false(addr_param_next(&text, kw, sizeof(kw), val, sizeof(val), &why));
	assert_null(why);
}

/* ---- xtext ---- */

static const char *const xtext_round_trip[] = {
	"", "plain", "a+b", "a=b", "sp ace", "\x01\x7f", "~!", "caf\xc3\xa9",
	"<user@example.org>", "++==",
};

static void test_xtext_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(xtext_round_trip); i++) {
		char *enc = addr_xtext_encode(xtext_round_trip[i]);
		char *dec;

		for (const char *p = enc; *p != '\0'; p++)
			assert_true(*p >= '!' && *p <= '~' && *p != '=');
		dec = addr_xtext_decode(enc);
		assert_non_null(dec);
		assert_string_equal(dec, xtext_round_trip[i]);
		free(enc);
		free(dec);
	}
}

struct xtext_case {
	const char *in;
	const char *out; /* NULL: malformed */
};

static const struct xtext_case xtext_cases[] = {
	{ "a+2Bb", "a+b" },
	{ "+3D", "=" },
	{ "+20x", " x" },
	{ "+c3+A9", "\xc3\xa9" },
	{ "abc", "abc" },
	{ "+", NULL },
	{ "+2", NULL },
	{ "a+2", NULL },
	{ "+G0", NULL },
	{ "+2G", NULL },
	{ "+00", NULL },
	{ "a=b", NULL },
	{ "a b", NULL },
	{ "a\x01", NULL },
	{ "\xc3\xa9", NULL },
	{ "\x7f", NULL },
};

static void test_xtext_decode(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(xtext_cases); i++) {
		char *dec = addr_xtext_decode(xtext_cases[i].in);

		if (xtext_cases[i].out == NULL) {
			if (dec != NULL)
				fail_msg("case %zu \"%s\" accepted", i, xtext_cases[i].in);
		} else {
			assert_non_null(dec);
			assert_string_equal(dec, xtext_cases[i].out);
		}
		free(dec);
	}
}

static void test_xtext_encode(void **state)
{
	char *enc = addr_xtext_encode("a+b=c d\xc3\xa9");

	(void)state;
	assert_string_equal(enc, "a+2Bb+3Dc+20d+C3+A9");
	free(enc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_paths),
		cmocka_unit_test(test_invalid_paths),
		cmocka_unit_test(test_bare),
		cmocka_unit_test(test_limit_local),
		cmocka_unit_test(test_limit_domain),
		cmocka_unit_test(test_limit_path),
		cmocka_unit_test(test_limit_route_counts),
		cmocka_unit_test(test_huge_input),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_lookup_key),
		cmocka_unit_test(test_split_extension),
		cmocka_unit_test(test_params_ok),
		cmocka_unit_test(test_params_bad),
		cmocka_unit_test(test_params_exact_fit),
		cmocka_unit_test(test_xtext_round_trip),
		cmocka_unit_test(test_xtext_decode),
		cmocka_unit_test(test_xtext_encode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
