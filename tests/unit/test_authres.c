/* test_authres.c: unit tests of lib/authres.c: values made safe for the
 * header, whole fields as written, and recognising our own authserv-id in
 * received fields (with comments, quoting, folding, other ids). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "authres.h"

static void test_values(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "pass", "pass" },
		{ "alice@example.org", "alice@example.org" },
		{ "first.last+tag@mail.example.org", "first.last+tag@mail.example.org" },
		{ "example.org", "example.org" },
		{ "@example.org", "@example.org" },
		{ "abc/def+=", "\"abc/def+=\"" },
		{ "a;b", "\"a;b\"" },
		{ "x\"y\\z", "\"x\\\"y\\\\z\"" },
		{ "line\nbreak", "\"line?break\"" },
		{ "caf\xc3\xa9@example.org", "\"caf??@example.org\"" },
		{ "\"quoted local\"@example.org", "\"\\\"quoted local\\\"@example.org\"" },
		{ "a@b@c", "\"a@b@c\"" },
		{ "", "\"\"" },
		{ "(comment)", "\"(comment)\"" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf *b = buf_new(64);
		authres_value(b, cases[i].in);
		if (strcmp(buf_cstr(b), cases[i].out) != 0)
			fail_msg("value \"%s\": got %s, want %s", cases[i].in, buf_cstr(b),
				 cases[i].out);
		buf_free(&b);
	}
}

static void test_field(void **state)
{
	buf *b = buf_new(64);
	struct authres_prop spf[] = { { "smtp.mailfrom", "a@example.org" } };
	struct authres_prop dkim[] = { { "header.d", "example.org" }, { "header.s", "sel" },
				       { "header.b", "AbC/dE+f" }, { "header.i", NULL } };

	(void)state;
	authres_begin(b, "mx.example.net");
	authres_end(b);
	assert_string_equal(buf_cstr(b), "Authentication-Results: mx.example.net; none\n");
	authres_begin(b, "odd;id");
	authres_end(b);
	assert_string_equal(buf_cstr(b), "Authentication-Results: \"odd;id\"; none\n");
	authres_begin(b, "mx.example.net");
	authres_add(b, "spf", "pass", NULL, spf, 1);
	authres_add(b, "dkim", "fail", "body hash mismatch", dkim, 4);
	authres_end(b);
	assert_string_equal(buf_cstr(b),
			    "Authentication-Results: mx.example.net;\n"
			    "\tspf=pass smtp.mailfrom=a@example.org;\n"
			    "\tdkim=fail reason=\"body hash mismatch\" header.d=example.org "
			    "header.s=sel header.b=\"AbC/dE+f\"\n");
	/* a comment after a clause: never a nested or broken one */
	authres_begin(b, "mx.example.net");
	authres_add(b, "arc", "pass", NULL, NULL, 0);
	authres_comment(b, "i=2 d=lists.example.org");
	authres_add(b, "arc", "fail", NULL, NULL, 0);
	authres_comment(b, "d=(x)\\\n");
	authres_end(b);
	assert_string_equal(buf_cstr(b), "Authentication-Results: mx.example.net;\n"
					 "\tarc=pass (i=2 d=lists.example.org);\n"
					 "\tarc=fail (d=?x???)\n");
	buf_free(&b);
}

static void test_find_result(void **state)
{
	static const struct {
		const char *value, *method, *want;
	} cases[] = {
		{ "mx.example; spf=pass; arc=pass smtp.remote-ip=192.0.2.1", "arc", "pass" },
		{ "mx.example;\r\n\tdkim=none;\r\n\tARC=fail (i=1) x", "arc", "fail" },
		{ "mx.example; arc = none", "arc", "none" },
		{ "mx.example; arc=(a comment) temperror", "arc", "temperror" },
		{ "mx.example; arcx=pass; arc=fail", "arc", "fail" },
		/* inside a quoted string or a comment: not a clause */
		{ "mx.example; dkim=fail reason=\"x; arc=pass\"; arc=fail", "arc", "fail" },
		{ "mx.example; dkim=fail (a; arc=pass (b; arc=pass)); arc=none", "arc", "none" },
		{ "mx.example (c; arc=pass); spf=pass", "arc", NULL },
		{ "mx.example; spf=pass", "arc", NULL },
		{ "mx.example; arc=", "arc", NULL },
		{ "mx.example; arc", "arc", NULL },
		{ "arc=pass", "arc", NULL }, /* the authserv-id, not a clause */
	};
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *r = authres_find_result(cases[i].value, cases[i].method, &n);

		if (cases[i].want == NULL) {
			assert_null(r);
			continue;
		}
		assert_non_null(r);
		assert_int_equal(n, strlen(cases[i].want));
		assert_memory_equal(r, cases[i].want, n);
	}
}

static void test_is_ours(void **state)
{
	static const struct {
		const char *field;
		bool ours;
	} cases[] = {
		{ "Authentication-Results: mx.example.net; spf=pass\n", true },
		{ "authentication-results:MX.Example.NET;spf=pass", true },
		{ "Authentication-Results : mx.example.net; none", true },
		{ "Authentication-Results: (forged) mx.example.net (x); none", true },
		{ "Authentication-Results:\n\tmx.example.net;\n\tdkim=pass", true },
		{ "Authentication-Results: \"mx.example.net\"; none", true },
		{ "Authentication-Results: mx.example.net 1; none", true },
		{ "Authentication-Results: mx.example.net.evil; none", false },
		{ "Authentication-Results: other.example; spf=pass smtp.mailfrom=mx.example.net", false },
		{ "Authentication-Results: ; none", false },
		{ "Authentication-Results-Original: mx.example.net; none", false },
		{ "ARC-Authentication-Results: i=1; mx.example.net; none", false },
		{ "Subject: mx.example.net", false },
		{ "Authentication-Results", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (authres_is_ours(cases[i].field, strlen(cases[i].field), "mx.example.net") !=
		    cases[i].ours)
			fail_msg("case %zu \"%s\": want %d", i, cases[i].field, cases[i].ours);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_field),
		cmocka_unit_test(test_is_ours),
		cmocka_unit_test(test_find_result),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
