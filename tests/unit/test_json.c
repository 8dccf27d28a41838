/* test_json.c: unit tests for lib/json.c: a table of byte strings and the
 * JSON text each must give (quotes, backslashes, control bytes, DEL,
 * UTF-8 kept, malformed UTF-8 replaced), NUL inside a string, null, and
 * members. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "json.h"

struct case_ {
	const char *in;
	const char *want;
};

static const struct case_ cases[] = {
	{ "", "\"\"" },
	{ "user@example.org", "\"user@example.org\"" },
	{ "a\"b\\c/d", "\"a\\\"b\\\\c/d\"" },
	{ "line\nbreak\r\ttab\b\f", "\"line\\nbreak\\r\\ttab\\b\\f\"" },
	{ "\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"" },
	{ "j\xc3\xbcrgen@b\xc3\xbc" "cher.de", "\"j\xc3\xbcrgen@b\xc3\xbc" "cher.de\"" },
	{ "\xe2\x82\xac \xf0\x9f\x98\x80", "\"\xe2\x82\xac \xf0\x9f\x98\x80\"" },
	{ "\xff", "\"\\ufffd\"" },
	{ "\x80x", "\"\\ufffdx\"" },
	{ "\xc0\xaf", "\"\\ufffd\\ufffd\"" }, /* overlong '/' */
	{ "\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"" }, /* overlong */
	{ "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" }, /* surrogate */
	{ "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" }, /* > U+10FFFF */
	{ "ab\xc3", "\"ab\\ufffd\"" }, /* cut at the end */
	{ "\xe2\x82x", "\"\\ufffd\\ufffdx\"" }, /* cut in the middle */
};

static void test_string_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf *out = buf_new(16);

		json_put_cstr(out, cases[i].in);
		assert_string_equal(buf_cstr(out), cases[i].want);
		buf_free(&out);
	}
}

static void test_nul_and_null(void **state)
{
	buf *out = buf_new(16);

	(void)state;
	json_put_string(out, "a\0b", 3);
	buf_putc(out, ' ');
	json_put_cstr(out, NULL);
	assert_string_equal(buf_cstr(out), "\"a\\u0000b\" null");
	buf_free(&out);
}

static void test_members(void **state)
{
	buf *out = buf_new(16);

	(void)state;
	buf_putc(out, '{');
	json_put_member(out, "a", 1);
	buf_puts(out, "1");
	json_put_member(out, "b", 0);
	json_put_cstr(out, "x");
	buf_putc(out, '}');
	assert_string_equal(buf_cstr(out), "{\"a\":1,\"b\":\"x\"}");
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_string_table),
		cmocka_unit_test(test_nul_and_null),
		cmocka_unit_test(test_members),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
