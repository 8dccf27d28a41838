/* test_pop3d_msgout.c: unit tests for pop3d/msgout.c, the wire form of
 * RETR and TOP: mostly TOP's header + blank line + n body lines (the line
 * conversion is lib/dot's encoder, tested in test_dot.c), and RETR's
 * wiring. Every case is also fed one byte at a time, which must give the
 * same output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "msgout.h"

static char *convert(const char *in, long long lines, size_t piece)
{
	struct msgout m;
	buf *out = buf_new(64);
	size_t len = strlen(in), at = 0;

	msgout_init(&m, lines);
	while (at < len && !m.done) {
		size_t n = len - at < piece ? len - at : piece;
		size_t used = msgout_feed(&m, in + at, n, out);

		assert_true(used <= n);
		if (used < n)
			assert_true(m.done);
		at += used;
	}
	msgout_finish(&m, out);
	return buf_steal_free(&out);
}

static const struct {
	const char *in;
	long long lines;
	const char *want;
} cases[] = {
	/* RETR: the conversion itself is lib/dot's, tested in test_dot.c */
	{ ".\n..x\n.\r\nx.\n", -1, "..\r\n...x\r\n..\r\nx.\r\n.\r\n" },
	{ "ends in cr\r", -1, "ends in cr\r\n.\r\n" },
	{ "H: 1\nH: 2\n\nb1\nb2\nb3\n", 0, "H: 1\r\nH: 2\r\n\r\n.\r\n" },
	{ "H: 1\nH: 2\n\nb1\nb2\nb3\n", 2, "H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\n.\r\n" },
	{ "H: 1\r\n\r\n.b1\r\nb2\r\n", 1, "H: 1\r\n\r\n..b1\r\n.\r\n" },
	{ "H: 1\nH: 2\n\nb1\n", 10, "H: 1\r\nH: 2\r\n\r\nb1\r\n.\r\n" },
	{ "H: only header\n", 0, "H: only header\r\n.\r\n" },
	{ "H: x\n\n\n\nb\n", 1, "H: x\r\n\r\n\r\n.\r\n" },
	{ "\nbody first\n", 0, "\r\n.\r\n" },
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t pieces[] = { 1, 2, 3, 1 << 20 };

		for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
			char *got = convert(cases[i].in, cases[i].lines, pieces[p]);

			if (strcmp(got, cases[i].want) != 0)
				fail_msg("case %zu piece %zu: got \"%s\"", i, pieces[p], got);
			free(got);
		}
	}
}

/* test_size_matches_crlf_count: for RETR the output minus stuffing and
 * the terminator has the CRLF size (each bare LF counted twice). */
static void test_size_matches_crlf_count(void **state)
{
	const char *in = "Subject: x\n\nline\r\nline\nend\n";
	char *got = convert(in, -1, 5);
	size_t bare = 0;

	(void)state;
	for (const char *p = in; *p; p++)
		if (*p == '\n' && (p == in || p[-1] != '\r'))
			bare++;
	assert_int_equal(strlen(got) - 3, strlen(in) + bare);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_size_matches_crlf_count),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
