/* test_taglist.c: unit tests for the RFC 6376 3.2 tag-list parser
 * (lib/taglist.c): a table of lists that parse (with folding, a final
 * ';', empty values, white space inside values) and the values found,
 * a table of lists that must be refused (duplicate tag, bad name, bad
 * character, missing '=', empty tag-spec), and the limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "taglist.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

struct good {
	const char *text;
	size_t count;
	const char *tag, *value; /* one tag to look at */
};

static const struct good goods[] = {
	{ "v=1", 1, "v", "1" },
	{ "v=1;", 1, "v", "1" },
	{ "v=1; ", 1, "v", "1" },
	{ "  v = 1 ;  a=rsa-sha256 ; ", 2, "a", "rsa-sha256" },
	{ "v=DKIM1; p=", 2, "p", "" },
	{ "v=1;\r\n\tb=abc\r\n def;\r\n", 2, "b", "abc\r\n def" },
	{ "v=1;\n b=ab cd", 2, "b", "ab cd" },
	{ "h=from : to:subject; x_y2=z", 2, "h", "from : to:subject" },
	{ "v=DKIM1: g=*; k=rsa", 2, "v", "DKIM1: g=*" },
	{ "n=caf\xc3\xa9", 1, "n", "caf\xc3\xa9" },
	{ "A=1; a=2", 2, "A", "1" },
};

static const char *const bads[] = {
	"",
	";",
	"v=1;;a=2",
	"v=1; v=2",
	"1v=2",
	"v 1",
	"v=1; =2",
	"v=a;b",
	"v=\x01",
	"v=1\r\nb=2",
	"v=1; b=2\r\n\r\n",
	"v-x=1",
};

static void test_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(goods); i++) {
		char *err = NULL;
		taglist *tl = taglist_parse(goods[i].text, strlen(goods[i].text), &err);
		if (tl == NULL)
			fail_msg("%s: %s", goods[i].text, err);
		assert_int_equal(taglist_count(tl), goods[i].count);
		assert_string_equal(taglist_get(tl, goods[i].tag), goods[i].value);
		assert_null(taglist_get(tl, "nonesuch"));
		taglist_free(&tl);
		assert_null(tl);
	}
}

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(bads); i++) {
		char *err = NULL;
		taglist *tl = taglist_parse(bads[i], strlen(bads[i]), &err);
		if (tl != NULL)
			fail_msg("accepted: \"%s\"", bads[i]);
		assert_non_null(err);
		free(err);
	}
}

static void test_order_and_case(void **state)
{
	char *err = NULL;
	taglist *tl = taglist_parse("b=2; a=1; B=3", 13, &err);

	(void)state;
	assert_non_null(tl);
	assert_string_equal(taglist_name(tl, 0), "b");
	assert_string_equal(taglist_value(tl, 2), "3");
	assert_null(taglist_name(tl, 3));
	taglist_free(&tl);
}

static void test_limits(void **state)
{
	buf *b = buf_new(100);
	char *err = NULL;
	taglist *tl;

	(void)state;
	for (int i = 0; i < TAGLIST_MAX_TAGS; i++)
		buf_printf(b, "t%d=%d;", i, i);
	tl = taglist_parse(buf_cstr(b), buf_len(b), &err);
	assert_non_null(tl);
	taglist_free(&tl);
	buf_puts(b, "one=more");
	tl = taglist_parse(buf_cstr(b), buf_len(b), &err);
	assert_null(tl);
	assert_string_equal(err, "too many tags");
	free(err);

	buf_reset(b);
	buf_puts(b, "p=");
	for (int i = 0; i < TAGLIST_MAX_VALUE; i++)
		buf_putc(b, 'A');
	tl = taglist_parse(buf_cstr(b), buf_len(b), &err);
	assert_non_null(tl);
	taglist_free(&tl);
	buf_putc(b, 'A');
	tl = taglist_parse(buf_cstr(b), buf_len(b), &err);
	assert_null(tl);
	free(err);
	buf_free(&b);
}

static void test_strip_ws(void **state)
{
	char *s = taglist_strip_ws(" ab\r\n\tc d ");

	(void)state;
	assert_string_equal(s, "abcd");
	free(s);
}

/* lenient mode: empty tag-specs are dropped, everything else as strict */
static void test_lenient(void **state)
{
	static const struct good ok[] = {
		{ "v=DMARC1;; p=none", 2, "p", "none" },
		{ "v=DMARC1; p=reject; ;", 2, "p", "reject" },
		{ ";v=DMARC1 ; ; pct=50 ;;  ", 2, "pct", "50" },
		{ "v=DMARC1;p=none;;;rua=mailto:a@b.example ", 3, "rua", "mailto:a@b.example" },
	};
	static const char *const refused[] = { "", ";;", " ; ", "v=1; v=2", "v=1;; =2",
					       "v=1; b=2\r\n\r\n", "v 1" };

	(void)state;
	for (size_t i = 0; i < N_ELEMS(ok); i++) {
		char *err = NULL;
		taglist *tl = taglist_parse_lenient(ok[i].text, strlen(ok[i].text), &err);
		if (tl == NULL)
			fail_msg("%s: %s", ok[i].text, err);
		assert_int_equal(taglist_count(tl), ok[i].count);
		assert_string_equal(taglist_get(tl, ok[i].tag), ok[i].value);
		taglist_free(&tl);
		/* and the strict parser refuses the empty tag-specs */
		if (strstr(ok[i].text, ";;") != NULL || ok[i].text[0] == ';') {
			tl = taglist_parse(ok[i].text, strlen(ok[i].text), &err);
			assert_null(tl);
			free(err);
		}
	}
	for (size_t i = 0; i < N_ELEMS(refused); i++) {
		char *err = NULL;
		taglist *tl = taglist_parse_lenient(refused[i], strlen(refused[i]), &err);
		if (tl != NULL)
			fail_msg("lenient accepted: \"%s\"", refused[i]);
		free(err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_order_and_case),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_strip_ws),
		cmocka_unit_test(test_lenient),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
