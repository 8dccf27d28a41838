/* test_qfilter.c: unit tests for lib/qfilter.c: a table of filters and
 * envelopes with the expected match (domain of pending recipients only,
 * case, null sender, age, combinations), and the age syntax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "qfilter.h"

#define NOW 1700000000

static struct q_rcpt rcpts[] = {
	{ .address = "a@Example.ORG", .state = Q_RCPT_PENDING },
	{ .address = "b@done.test", .state = Q_RCPT_DONE },
	{ .address = "odd@x@sub.test", .state = Q_RCPT_PENDING },
};

struct case_ {
	const char *domain, *sender;
	long long older_than;
	const char *env_sender;
	time_t arrival;
	bool want;
};

static const struct case_ cases[] = {
	{ NULL, NULL, -1, "s@x.test", NOW, true },
	{ "example.org", NULL, -1, "s@x.test", NOW, true },
	{ "EXAMPLE.org", NULL, -1, "s@x.test", NOW, true },
	{ "done.test", NULL, -1, "s@x.test", NOW, false }, /* delivered already */
	{ "sub.test", NULL, -1, "s@x.test", NOW, true },
	{ "x.test", NULL, -1, "s@x.test", NOW, false },
	{ "org", NULL, -1, "s@x.test", NOW, false }, /* no suffix match */
	{ NULL, "S@X.test", -1, "s@x.test", NOW, true },
	{ NULL, "t@x.test", -1, "s@x.test", NOW, false },
	{ NULL, "<>", -1, "", NOW, true },
	{ NULL, "", -1, "", NOW, true },
	{ NULL, "<>", -1, "s@x.test", NOW, false },
	{ NULL, "s@x.test", -1, "", NOW, false },
	{ NULL, NULL, 3600, "s@x.test", NOW - 3600, true },
	{ NULL, NULL, 3600, "s@x.test", NOW - 3599, false },
	{ NULL, NULL, 0, "s@x.test", NOW, true },
	{ "example.org", "s@x.test", 60, "s@x.test", NOW - 61, true },
	{ "example.org", "s@x.test", 60, "t@x.test", NOW - 61, false },
	{ "example.org", "s@x.test", 60, "s@x.test", NOW - 59, false },
};

static void test_match_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct q_envelope env = { .arrival = cases[i].arrival,
					  .sender = (char *)cases[i].env_sender,
					  .rcpts = rcpts, .nrcpts = 3 };
		struct qfilter f = { cases[i].domain, cases[i].sender, cases[i].older_than };

		if (qfilter_match(&f, &env, NOW) != cases[i].want)
			fail_msg("case %zu", i);
	}
}

static void test_empty(void **state)
{
	struct qfilter f;

	(void)state;
	qfilter_init(&f);
	assert_true(qfilter_empty(&f));
	f.older_than = 0;
	assert_false(qfilter_empty(&f));
}

static void test_parse_age(void **state)
{
	static const struct {
		const char *text;
		long long want; /* -1 = refused */
	} ages[] = { { "90", 90 }, { "30m", 1800 }, { "2h", 7200 }, { "1d", 86400 },
		     { "1w", 604800 }, { "0", 0 }, { "", -1 }, { "2x", -1 }, { "-5", -1 },
		     { "h", -1 }, { "99999999999d", -1 } };

	(void)state;
	for (size_t i = 0; i < sizeof(ages) / sizeof(ages[0]); i++) {
		long long secs = -7;
		char *err = NULL;
		int rc = qfilter_parse_age(ages[i].text, &secs, &err);

		if (ages[i].want < 0) {
			assert_int_equal(rc, -1);
			assert_non_null(err);
			free(err);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(secs, ages[i].want);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_table),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_parse_age),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
