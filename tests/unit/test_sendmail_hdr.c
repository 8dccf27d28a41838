/* test_sendmail_hdr.c: unit tests for sendmail/hdr.c: header field names
 * and the address-list scanner as a table (display names, quoted names
 * with commas, comments, groups, source routes, empty members) plus its
 * errors (unterminated quote, comment, angle bracket; an address over
 * the limit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../sendmail/hdr.h"
#include "buf.h"
#include "mem.h"

static void test_field_names(void **state)
{
	static const struct {
		const char *line;
		size_t name_len;
	} cases[] = {
		{ "To: a@b\n", 2 },
		{ "X-Mailer:x", 8 },
		{ "To : a\n", 0 }, /* space before the colon */
		{ " To: a\n", 0 },
		{ "no colon here\n", 0 },
		{ ":empty\n", 0 },
		{ "Caf\xc3\xa9: x\n", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(hdr_field_name_len(cases[i].line, strlen(cases[i].line)),
				 cases[i].name_len);
	assert_true(hdr_is("bcc: x\n", 7, "Bcc"));
	assert_false(hdr_is("Bccx: x\n", 8, "Bcc"));
	assert_false(hdr_is("Resent-Bcc: x\n", 14, "Bcc"));
}

static void collect(void *ctx, const char *addr)
{
	buf_printf(ctx, "[%s]", addr);
}

static void test_addr_lists(void **state)
{
	static const struct {
		const char *text;
		int count;
		const char *expect;
	} cases[] = {
		{ " a@example.test\n", 1, "[a@example.test]" },
		{ "a@x, b@y", 2, "[a@x][b@y]" },
		{ "Alice Smith <alice@x>, bob@y (Bob)", 2, "[alice@x][bob@y]" },
		{ "\"Smith, Alice\" <alice@x>", 1, "[alice@x]" },
		{ "\"odd, local\"@x", 1, "[\"odd, local\"@x]" },
		{ "team: a@x, b@y;, c@z", 3, "[a@x][b@y][c@z]" },
		{ "undisclosed-recipients:;", 0, "" },
		{ "<@relay.x,@r2.y:u@d>", 1, "[u@d]" },
		{ "a@x,,\n\t b@y,", 2, "[a@x][b@y]" },
		{ "postmaster", 1, "[postmaster]" },
		{ "(just a (nested) comment)", 0, "" },
		{ "Name <a@x> (c), \"q\\\"x\" <b@y>", 2, "[a@x][b@y]" },
		{ "", 0, "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf *out = buf_new(64);
		const char *why = NULL;
		int n = hdr_addr_list(cases[i].text, collect, out, &why);

		if (n != cases[i].count || strcmp(buf_cstr(out), cases[i].expect) != 0)
			print_error("case %zu: %d %s\n", i, n, buf_cstr(out));
		assert_int_equal(n, cases[i].count);
		assert_string_equal(buf_cstr(out), cases[i].expect);
		buf_free(&out);
	}
}

static void test_addr_errors(void **state)
{
	static const char *const bad[] = {
		"\"unterminated@x", "a@x (open comment", "Name <a@x", "x@y, \"a\\",
	};
	char *long_addr = xmalloc(HDR_ADDR_MAX + 10);

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf *out = buf_new(64);
		const char *why = NULL;

		assert_int_equal(hdr_addr_list(bad[i], collect, out, &why), -1);
		assert_non_null(why);
		buf_free(&out);
	}
	memset(long_addr, 'a', HDR_ADDR_MAX + 1);
	strcpy(long_addr + HDR_ADDR_MAX + 1, "@x");
	{
		buf *out = buf_new(64);
		const char *why = NULL;

		assert_int_equal(hdr_addr_list(long_addr, collect, out, &why), -1);
		assert_string_equal(why, "address too long");
		buf_free(&out);
	}
	free(long_addr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_field_names),
		cmocka_unit_test(test_addr_lists),
		cmocka_unit_test(test_addr_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
