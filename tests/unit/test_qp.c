/* test_qp.c: unit tests for lib/qp.c: hex digit values, the escape step
 * (byte, soft line break with and without trailing white space, a lone
 * '=' at the end or before non-hex), and whole decodes in both modes:
 * quoted-printable bodies and the Q encoding of encoded words, where '_'
 * is a space and '=' before a line end is kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <string.h>

#include "qp.h"

static void test_hex_value(void **state)
{
	static const char digits[] = "0123456789abcdef";
	(void)state;

	for (int i = 0; i < 16; i++) {
		assert_int_equal(qp_hex_value(digits[i]), i);
		assert_int_equal(qp_hex_value(digits[i] >= 'a' ? digits[i] - 32 : digits[i]), i);
	}
	for (int c = -128; c < 256; c++)
		if (strchr("0123456789abcdefABCDEF", c) == NULL || c == 0)
			assert_int_equal(qp_hex_value(c), -1);
}

static void test_escape(void **state)
{
	static const struct {
		const char *in;
		int value;
		size_t used;
	} cases[] = {
		{ "=41rest", 'A', 3 },
		{ "=c3=bc", 0xc3, 3 },
		{ "=00", 0, 3 },
		{ "=FF", 0xff, 3 },
		{ "=\nnext", -1, 2 },
		{ "=\r\nnext", -1, 3 },
		{ "= \t \r\nnext", -1, 6 },
		{ "=  ", -1, 3 },    /* white space to the end: a soft break */
		{ "=", -1, 1 },      /* '=' last of all: a soft break too */
		{ "=4", '=', 1 },    /* cut short */
		{ "=4G", '=', 1 },   /* not hex */
		{ "= x\n", '=', 1 }, /* text after the white space */
		{ "==41", '=', 1 },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t used = 99;

		assert_int_equal(qp_escape(cases[i].in, strlen(cases[i].in), &used), cases[i].value);
		assert_int_equal(used, cases[i].used);
	}
}

static void test_decode(void **state)
{
	static const struct {
		const char *in;
		bool q;
		const char *out;
	} cases[] = {
		{ "hello =C3=BC world\n", false, "hello \xc3\xbc world\n" },
		{ "soft=\nbreak", false, "softbreak" },
		{ "soft=  \r\nbreak", false, "softbreak" },
		{ "a=\n", false, "a" },
		{ "a_b", false, "a_b" },
		{ "1=2 and =3", false, "1=2 and =3" },
		{ "lone =", false, "lone " },
		{ "f=FCr_you", true, "f\xfcr you" },
		{ "a=\nb", true, "a=\nb" },   /* no soft breaks in a header */
		{ "x=_y", true, "x= y" },
		{ "end=", true, "end=" },
		{ "", false, "" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf *out = buf_new(16);

		qp_decode(out, cases[i].in, strlen(cases[i].in), cases[i].q);
		assert_int_equal(buf_len(out), strlen(cases[i].out));
		assert_memory_equal(buf_cstr(out), cases[i].out, buf_len(out));
		buf_free(&out);
	}
}

/* test_decode_nul: "=00" makes a NUL in the middle, and the length counts it. */
static void test_decode_nul(void **state)
{
	buf *out = buf_new(16);
	(void)state;

	qp_decode(out, "a=00b", 5, false);
	assert_int_equal(buf_len(out), 3);
	assert_memory_equal(buf_cstr(out), "a\0b", 3);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_value),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_decode_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
