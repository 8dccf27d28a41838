/* test_authfail.c: unit tests for lib/authfail.c, the table of
 * failed AUTH attempts per client address: the doubling delay and its cap,
 * the cut-off at the limit, the window expiring, and the bounded table
 * evicting the least recently seen address. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "authfail.h"

static void test_delay_and_cutoff(void **state)
{
	static const struct {
		uint64_t delay;
		int cut;
	} steps[] = {
		{ 100, 0 }, { 200, 0 }, { 400, 0 }, { 800, 0 }, { 1600, 0 },
		{ 3000, 0 }, { 3000, 0 }, { 3000, 1 }, { 3000, 1 },
	};
	authfail *a = authfail_new(8, 8, 60000, 100);
	bool cut;
	(void)state;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		assert_false(authfail_blocked(a, "192.0.2.1", 1000) && i < 8);
		assert_int_equal(authfail_record(a, "192.0.2.1", 1000 + i, &cut), steps[i].delay);
		assert_int_equal(cut, steps[i].cut);
	}
	assert_true(authfail_blocked(a, "192.0.2.1", 2000));
	assert_false(authfail_blocked(a, "192.0.2.2", 2000)); /* others are not */
	assert_int_equal(authfail_count(a, "192.0.2.1", 2000), 9);
	/* the window passes: forgotten */
	assert_false(authfail_blocked(a, "192.0.2.1", 1000 + 60000));
	assert_int_equal(authfail_record(a, "192.0.2.1", 61000, &cut), 100);
	assert_false(cut);
	authfail_free(&a);
	assert_null(a);
}

static void test_bounded_lru(void **state)
{
	authfail *a = authfail_new(4, 2, 60000, 10);
	char ip[32];
	bool cut;
	(void)state;

	authfail_record(a, "10.0.0.1", 1, &cut);
	authfail_record(a, "10.0.0.1", 2, &cut); /* blocked */
	assert_true(cut);
	for (int i = 2; i <= 4; i++) {
		snprintf(ip, sizeof(ip), "10.0.0.%d", i);
		authfail_record(a, ip, 10 + (uint64_t)i, &cut);
	}
	authfail_record(a, "10.0.0.1", 20, &cut); /* touched: most recent now */
	authfail_record(a, "10.0.0.9", 30, &cut); /* evicts 10.0.0.2, the oldest */
	assert_int_equal(authfail_count(a, "10.0.0.2", 31), 0);
	assert_int_equal(authfail_count(a, "10.0.0.9", 31), 1);
	assert_true(authfail_blocked(a, "10.0.0.1", 31));
	assert_int_equal(authfail_count(a, "10.0.0.3", 31), 1);
	authfail_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay_and_cutoff),
		cmocka_unit_test(test_bounded_lru),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
