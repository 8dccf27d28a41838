/* test_buf.c: unit tests for lib/buf.c, the growable byte buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"

static void test_append_and_nul(void **state)
{
	buf *b = buf_new(0);
	(void)state;

	assert_int_equal(buf_len(b), 0);
	assert_string_equal(buf_cstr(b), "");
	buf_append(b, "a\0b", 3);
	assert_int_equal(buf_len(b), 3);
	assert_memory_equal(buf_cstr(b), "a\0b", 4); /* trailing NUL kept */
	buf_puts(b, "cd");
	buf_putc(b, 'e');
	assert_int_equal(buf_len(b), 6);
	assert_memory_equal(buf_cstr(b), "a\0bcde", 7);
	buf_free(&b);
	assert_null(b);
	buf_free(&b); /* NULL is fine */
}

static void test_growth(void **state)
{
	buf *b = buf_new(1);
	(void)state;

	for (int i = 0; i < 100000; i++)
		buf_putc(b, 'a' + i % 26);
	assert_int_equal(buf_len(b), 100000);
	assert_int_equal(strlen(buf_cstr(b)), 100000);
	assert_int_equal(buf_cstr(b)[99999], 'a' + 99999 % 26);
	buf_free(&b);
}

static void test_printf(void **state)
{
	static const struct {
		const char *fmt;
		int num;
		const char *str;
		const char *want;
	} cases[] = {
		{ "%d-%s", 42, "x", "42-x" },
		{ "%05d|%s|", 7, "", "00007||" },
		{ "%.0d%s", 0, "a long string that certainly does not fit in sixteen bytes",
		  "a long string that certainly does not fit in sixteen bytes" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf *b = buf_new(0);

		buf_puts(b, ">");
		buf_printf(b, cases[i].fmt, cases[i].num, cases[i].str);
		assert_string_equal(buf_cstr(b) + 1, cases[i].want);
		assert_int_equal(buf_len(b), strlen(cases[i].want) + 1);
		buf_free(&b);
	}
}

static void test_truncate_consume_reset(void **state)
{
	buf *b = buf_new(0);
	(void)state;

	buf_puts(b, "hello world");
	buf_truncate(b, 5);
	assert_string_equal(buf_cstr(b), "hello");
	buf_truncate(b, 50);
	assert_string_equal(buf_cstr(b), "hello");
	buf_consume(b, 2);
	assert_string_equal(buf_cstr(b), "llo");
	buf_consume(b, 10);
	assert_int_equal(buf_len(b), 0);
	buf_puts(b, "x");
	buf_reset(b);
	assert_string_equal(buf_cstr(b), "");
	buf_free(&b);
}

static void test_reserve_commit(void **state)
{
	buf *b = buf_new(0);
	char *p;
	(void)state;

	buf_puts(b, "ab");
	p = buf_reserve(b, 1000);
	memset(p, 'z', 1000);
	buf_commit(b, 3);
	assert_string_equal(buf_cstr(b), "abzzz");
	buf_free(&b);
}

static void test_steal(void **state)
{
	buf *b = buf_new(0);
	char *s;
	(void)state;

	buf_puts(b, "mine");
	s = buf_steal(b);
	assert_string_equal(s, "mine");
	assert_int_equal(buf_len(b), 0);
	buf_puts(b, "again");
	assert_string_equal(buf_cstr(b), "again");
	free(s);
	s = buf_steal_free(&b);
	assert_null(b);
	assert_string_equal(s, "again");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_nul),  cmocka_unit_test(test_growth),
		cmocka_unit_test(test_printf),          cmocka_unit_test(test_truncate_consume_reset),
		cmocka_unit_test(test_reserve_commit),  cmocka_unit_test(test_steal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
