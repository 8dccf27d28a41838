/* test_authfail.c: unit tests for lib/authfail.c, the table of
 * failed AUTH attempts per client address: the doubling delay and its cap,
 * the cut-off at the limit, the window expiring, the bounded table
 * evicting the least recently seen address, and the shared table: two
 * handles (as two processes) on one file see each other's counts, also
 * across fork(); a file of another layout is reset; an unusable path
 * falls back to a private table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

static char shared_path[64];

static void write_bytes(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

static void test_shared_between_handles(void **state)
{
	char dir[] = "/tmp/test_authfail.XXXXXX";
	bool cut;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(shared_path, sizeof(shared_path), "%s/authfail.smtpd", dir);
	write_bytes(shared_path, "some other layout", 17); /* reset on open */
	authfail *a = authfail_new_shared(shared_path, 16, 3, 60000, 100);
	authfail *b = authfail_new_shared(shared_path, 16, 3, 60000, 100);
	struct stat st;

	assert_int_equal(stat(shared_path, &st), 0);
	assert_true(st.st_size > 17);
	assert_int_equal(authfail_count(a, "192.0.2.7", 5), 0);
	authfail_record(a, "192.0.2.7", 10, &cut);
	assert_int_equal(authfail_count(b, "192.0.2.7", 11), 1);
	/* a second delay doubles, whichever process saw the first failure */
	assert_int_equal(authfail_record(b, "192.0.2.7", 12, &cut), 200);
	assert_false(cut);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) { /* another process, its own handle */
		authfail *c = authfail_new_shared(shared_path, 16, 3, 60000, 100);
		authfail_record(c, "192.0.2.7", 13, &cut);
		_exit(cut ? 0 : 1);
	}
	int status = -1;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(authfail_blocked(a, "192.0.2.7", 14));
	assert_true(authfail_blocked(b, "192.0.2.7", 14));
	assert_false(authfail_blocked(a, "192.0.2.7", 60011)); /* the window passed */
	authfail_free(&a);
	/* the counts outlive a handle: a new one reads them */
	authfail *d = authfail_new_shared(shared_path, 16, 3, 60000, 100);
	assert_true(authfail_blocked(d, "192.0.2.7", 20));
	authfail_free(&d);
	/* another layout (slot count) resets the file */
	d = authfail_new_shared(shared_path, 32, 3, 60000, 100);
	assert_int_equal(authfail_count(d, "192.0.2.7", 20), 0);
	authfail_free(&d);
	authfail_free(&b);
	unlink(shared_path);
	rmdir(dir);
}

static void test_shared_fallback(void **state)
{
	bool cut;
	(void)state;

	authfail *a = authfail_new_shared("/nonexistent/dir/authfail", 4, 2, 1000, 10);
	authfail *b = authfail_new_shared("/nonexistent/dir/authfail", 4, 2, 1000, 10);

	assert_non_null(a);
	authfail_record(a, "198.51.100.1", 1, &cut);
	assert_int_equal(authfail_count(a, "198.51.100.1", 2), 1);
	assert_int_equal(authfail_count(b, "198.51.100.1", 2), 0); /* private tables */
	authfail_free(&a);
	authfail_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay_and_cutoff),
		cmocka_unit_test(test_bounded_lru),
		cmocka_unit_test(test_shared_between_handles),
		cmocka_unit_test(test_shared_fallback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
