/* test_psl.c: unit tests for lib/psl.c and lib/psl_idna.c: Punycode
 * against RFC 3492's samples; a table of organisational domains over the
 * small list tests/data/psl_test.dat (plain, wildcard, exception, UTF-8
 * and private rules, bad names, limits); the same over Debian's list
 * when the publicsuffix package is installed, including the package's
 * own checkPublicSuffix vectors (examples/test_psl.txt) when present;
 * the fallback table; and the loader's errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "psl.h"
#include "psl_idna.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define DEBIAN_VECTORS "/usr/share/doc/publicsuffix/examples/test_psl.txt"

static char *data_path(const char *name)
{
	const char *srcdir = getenv("srcdir");

	return xasprintf("%s/tests/data/%s", srcdir != NULL ? srcdir : ".", name);
}

static psl_table *load_test_list(unsigned flags)
{
	char *path = data_path("psl_test.dat"), *err = NULL;
	psl_table *t = psl_load(path, flags, &err);

	if (t == NULL)
		fail_msg("%s", err);
	free(path);
	return t;
}

struct puny_case {
	uint32_t cps[20];
	size_t n;
	const char *out;
};

static void test_punycode(void **state)
{
	static const struct puny_case cases[] = {
		/* RFC 3492 7.1 (A) Arabic (Egyptian) */
		{ { 0x644, 0x64a, 0x647, 0x645, 0x627, 0x628, 0x62a, 0x643, 0x644, 0x645, 0x648,
		    0x634, 0x639, 0x631, 0x628, 0x64a, 0x61f },
		  17,
		  "egbpdaj6bu4bxfgehfvwxn" },
		/* (B) Chinese (simplified) */
		{ { 0x4ed6, 0x4eec, 0x4e3a, 0x4ec0, 0x4e48, 0x4e0d, 0x8bf4, 0x4e2d, 0x6587 },
		  9,
		  "ihqwcrb4cv8a8dqg056pqjye" },
		/* (L) 3<nen>B<gumi><kinpachi><sensei>: basic code points kept */
		{ { '3', 0x5e74, 'B', 0x7d44, 0x91d1, 0x516b, 0x5148, 0x751f },
		  8,
		  "3B-ww4c5e180e575a65lsy2b" },
		{ { 'b', 0xfc, 'c', 'h', 'e', 'r' }, 6, "bcher-kva" },
		{ { 0x1f600, 'x' }, 2, "x-iv3s" },
		{ { 'a', 'b' }, 2, "ab-" },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		buf *b = buf_new(16);

		assert_int_equal(psl_punycode_encode(cases[i].cps, cases[i].n, b), 0);
		assert_string_equal(buf_cstr(b), cases[i].out);
		buf_free(&b);
	}
}

struct idna_case {
	const char *in, *out; /* out NULL: refused */
};

static void test_idna(void **state)
{
	static const struct idna_case cases[] = {
		{ "M\xc3\xbcnchen.DE", "xn--mnchen-3ya.de" },
		{ "\xe9\xa3\x9f\xe7\x8b\xae.\xe5\x85\xac\xe5\x8f\xb8.cn", "xn--85x722f.xn--55qx5d.cn" },
		{ "WWW.Example.COM", "www.example.com" },
		{ "xn--fiqs8s", "xn--fiqs8s" },
		{ "bad\xc3.com", NULL }, /* truncated sequence */
		{ "\xc0\xaf.com", NULL }, /* overlong */
		{ "\xed\xa0\x80.com", NULL }, /* surrogate */
		{ "\xf4\x90\x80\x80.com", NULL }, /* past U+10FFFF */
		{ "\xff.com", NULL },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		buf *b = buf_new(16);
		int r = psl_idna_to_ascii(cases[i].in, strlen(cases[i].in), b);

		if (cases[i].out == NULL) {
			if (r == 0)
				fail_msg("accepted %s as %s", cases[i].in, buf_cstr(b));
		} else {
			assert_int_equal(r, 0);
			assert_string_equal(buf_cstr(b), cases[i].out);
		}
		buf_free(&b);
	}
}

struct org_case {
	const char *domain, *org; /* org NULL: a public suffix or no domain */
};

static void check_cases(const psl_table *t, const struct org_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *org = psl_org_domain(t, cases[i].domain);

		if (cases[i].org == NULL && org != NULL)
			fail_msg("%s: got %s, expected none", cases[i].domain, org);
		if (cases[i].org != NULL && (org == NULL || strcmp(org, cases[i].org) != 0))
			fail_msg("%s: got %s, expected %s", cases[i].domain, org ? org : "none",
				 cases[i].org);
		free(org);
	}
}

/* the small list: every kind of rule */
static const struct org_case small_cases[] = {
	{ "com", NULL },
	{ "example.com", "example.com" },
	{ "a.b.Example.COM.", "example.com" },
	{ "co.uk", NULL },
	{ "www.bbc.co.uk", "bbc.co.uk" },
	{ "uk", NULL },
	{ "kobe.jp", NULL },
	{ "c.kobe.jp", NULL }, /* *.kobe.jp */
	{ "b.c.kobe.jp", "b.c.kobe.jp" },
	{ "city.kobe.jp", "city.kobe.jp" }, /* !city.kobe.jp */
	{ "www.city.kobe.jp", "city.kobe.jp" },
	{ "ck", NULL },
	{ "test.ck", NULL },
	{ "www.ck", "www.ck" }, /* !www.ck */
	{ "a.www.ck", "www.ck" },
	{ "mm", NULL }, /* only "*.mm": the default rule */
	{ "c.mm", NULL },
	{ "a.b.c.mm", "b.c.mm" },
	{ "shishi.\xe5\x85\xac\xe5\x8f\xb8.cn", "shishi.xn--55qx5d.cn" },
	{ "www.shishi.xn--55qx5d.cn", "shishi.xn--55qx5d.cn" },
	{ "xn--55qx5d.cn", NULL },
	{ "\xe9\xa3\x9f\xe7\x8b\xae.\xe4\xb8\xad\xe5\x9b\xbd", "xn--85x722f.xn--fiqs8s" },
	{ "example.test", "example.test" }, /* unlisted TLD */
	{ "a.b.example.test", "example.test" },
	{ "test", NULL },
	{ "net.example.net", "example.net" },
	{ "blogspot.com", NULL }, /* private section */
	{ "me.blogspot.com", "me.blogspot.com" },
	{ "a.b.compute.example", "a.b.compute.example" },
	{ ".com", NULL },
	{ "a..example.com", NULL },
	{ "", NULL },
	{ ".", NULL },
	{ "rule.bad", "rule.bad" }, /* the refused "bad*.rule" is no rule */
};

static void test_small_list(void **state)
{
	psl_table *t = load_test_list(0);
	size_t icann, private_rules;

	(void)state;
	assert_int_equal(psl_rules(t, &icann, &private_rules), 17);
	assert_int_equal(icann, 15);
	assert_int_equal(private_rules, 2);
	assert_int_equal(psl_skipped(t), 4);
	assert_false(psl_is_fallback(t));
	check_cases(t, small_cases, N_ELEMS(small_cases));
	assert_int_equal(psl_suffix_labels(t, "www.bbc.co.uk"), 2);
	assert_int_equal(psl_suffix_labels(t, "a.www.ck"), 1);
	assert_int_equal(psl_suffix_labels(t, "x..y"), -1);
	psl_free(&t);
	assert_null(t);
}

static void test_icann_only(void **state)
{
	static const struct org_case cases[] = {
		{ "me.blogspot.com", "blogspot.com" },
		{ "a.b.compute.example", "compute.example" },
		{ "www.bbc.co.uk", "bbc.co.uk" },
	};
	psl_table *t = load_test_list(PSL_ICANN_ONLY);
	size_t private_rules;

	(void)state;
	psl_rules(t, NULL, &private_rules);
	assert_int_equal(private_rules, 0);
	check_cases(t, cases, N_ELEMS(cases));
	psl_free(&t);
}

static void test_limits(void **state)
{
	psl_table *t = psl_fallback();
	buf *b = buf_new(600);
	char *org;

	(void)state;
	/* a 63-byte label is fine, 64 is not */
	for (int i = 0; i < 63; i++)
		buf_putc(b, 'a');
	buf_puts(b, ".example.com");
	org = psl_org_domain(t, buf_cstr(b));
	assert_string_equal(org, "example.com");
	free(org);
	buf_reset(b);
	for (int i = 0; i < 64; i++)
		buf_putc(b, 'a');
	buf_puts(b, ".example.com");
	assert_null(psl_org_domain(t, buf_cstr(b)));
	/* 127 labels are fine, 128 are not (and neither are 254 bytes) */
	buf_reset(b);
	for (int i = 0; i < 126; i++)
		buf_puts(b, "a.");
	buf_puts(b, "b");
	org = psl_org_domain(t, buf_cstr(b));
	assert_string_equal(org, "a.b");
	free(org);
	buf_puts(b, ".c");
	assert_null(psl_org_domain(t, buf_cstr(b)));
	buf_free(&b);
	psl_free(&t);
}

static void test_fallback(void **state)
{
	static const struct org_case cases[] = {
		{ "a.b.example.com", "example.com" },
		{ "www.bbc.co.uk", "co.uk" }, /* the price of having no list */
		{ "com", NULL },
	};
	psl_table *t = psl_load_or_fallback("/nonexistent/psl.dat", 0);

	(void)state;
	assert_true(psl_is_fallback(t));
	assert_int_equal(psl_rules(t, NULL, NULL), 0);
	check_cases(t, cases, N_ELEMS(cases));
	psl_free(&t);
}

static void test_load_errors(void **state)
{
	char *err = NULL;
	psl_table *t = psl_load("/nonexistent/psl.dat", 0, &err);

	(void)state;
	assert_null(t);
	assert_non_null(strstr(err, "/nonexistent/psl.dat"));
	free(err);
	t = psl_parse("// only comments\n\n", 18, 0, &err);
	assert_null(t);
	assert_non_null(err);
	free(err);
	t = psl_parse("a..b\n*x\n", 8, 0, &err);
	assert_null(t);
	free(err);
	/* no final newline, CRLF lines */
	t = psl_parse("com\r\nco.uk", 10, 0, &err);
	assert_non_null(t);
	assert_int_equal(psl_rules(t, NULL, NULL), 2);
	psl_free(&t);
}

/* Debian's list: a few cases whose answer has been stable for years */
static const struct org_case debian_cases[] = {
	{ "www.bbc.co.uk", "bbc.co.uk" },
	{ "a.b.example.com", "example.com" },
	{ "mail.example.org", "example.org" },
	{ "www.city.kobe.jp", "city.kobe.jp" },
	{ "b.c.kobe.jp", "b.c.kobe.jp" },
	{ "www.ck", "www.ck" },
	{ "user.github.io", "user.github.io" }, /* private section */
	{ "github.io", NULL },
	{ "xn--85x722f.xn--fiqs8s", "xn--85x722f.xn--fiqs8s" },
	{ "com", NULL },
};

/* run_vector: one checkPublicSuffix('in', 'out') line (null for none) */
static int run_vector(const psl_table *t, const char *line)
{
	char in[256], out[256];
	char *org, *want = NULL;
	buf *b;
	int ok;

	if (strncmp(line, "checkPublicSuffix(", 18) != 0)
		return 0;
	if (sscanf(line, "checkPublicSuffix('%255[^']', '%255[^']');", in, out) == 2) {
		b = buf_new(64);
		if (psl_normalize(out, b) > 0)
			want = xstrdup(buf_cstr(b));
		buf_free(&b);
	} else if (sscanf(line, "checkPublicSuffix('%255[^']', null);", in) != 1) {
		return 0; /* the null input case */
	}
	org = psl_org_domain(t, in);
	ok = (org == NULL && want == NULL) || (org && want && strcmp(org, want) == 0);
	if (!ok)
		print_error("checkPublicSuffix %s: got %s, want %s\n", in, org ? org : "null",
			    want ? want : "null");
	free(org);
	free(want);
	return ok ? 1 : -1;
}

static void test_debian_list(void **state)
{
	char *err = NULL;
	psl_table *t;
	size_t icann, private_rules;
	FILE *f;
	char line[512];
	int passed = 0, failed = 0;

	(void)state;
	if (access(PSL_DEFAULT_PATH, R_OK) != 0)
		skip();
	t = psl_load(PSL_DEFAULT_PATH, 0, &err);
	if (t == NULL)
		fail_msg("%s", err);
	psl_rules(t, &icann, &private_rules);
	assert_true(icann > 5000);
	assert_true(private_rules > 1000);
	check_cases(t, debian_cases, N_ELEMS(debian_cases));
	f = fopen(DEBIAN_VECTORS, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		int r = run_vector(t, line);

		passed += r > 0;
		failed += r < 0;
	}
	if (f != NULL) {
		fclose(f);
		print_message("checkPublicSuffix vectors: %d passed, %d failed\n", passed, failed);
		assert_int_equal(failed, 0);
		assert_true(passed > 50);
	}
	psl_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_punycode),  cmocka_unit_test(test_idna),
		cmocka_unit_test(test_small_list), cmocka_unit_test(test_icann_only),
		cmocka_unit_test(test_limits),	  cmocka_unit_test(test_fallback),
		cmocka_unit_test(test_load_errors), cmocka_unit_test(test_debian_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
