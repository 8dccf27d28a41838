/* test_fsutil.c: unit tests for the free-space helpers of lib/fsutil.c:
 * fs_free_bytes agrees with statvfs (f_bavail * f_frsize) on a directory
 * and a file and fails with errno for a missing path; fs_space_short as a
 * table of free space, reserve and message size, overflow cases included.
 * Also a rough cost of one fs_free_bytes call (printed, not checked). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "mem.h"

/* Other processes write on the same disk meanwhile: allow this much drift. */
#define DRIFT (256LL * 1024 * 1024)

static long long statvfs_free(const char *path)
{
	struct statvfs st;

	assert_int_equal(statvfs(path, &st), 0);
	return (long long)(st.f_bavail * st.f_frsize);
}

static void check_path(const char *path)
{
	long long before = statvfs_free(path), got = -1, after;

	assert_int_equal(fs_free_bytes(path, &got), 0);
	after = statvfs_free(path);
	assert_true(got >= 0);
	assert_true(got >= (before < after ? before : after) - DRIFT);
	assert_true(got <= (before > after ? before : after) + DRIFT);
}

static void test_free_bytes(void **state)
{
	char dir[] = "/tmp/test_fsutil.XXXXXX";
	char *file;
	long long got = 12345;

	(void)state;
	assert_non_null(mkdtemp(dir));
	file = fs_join(dir, "f");
	assert_int_equal(fs_write_atomic(file, "x", 1, 0600, &(char *){ NULL }), 0);
	check_path(dir);
	check_path(file);
	check_path("/");
	unlink(file);
	errno = 0;
	assert_int_equal(fs_free_bytes(file, &got), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(got, 12345); /* untouched on failure */
	rmdir(dir);
	free(file);
}

static void test_space_short(void **state)
{
	static const struct {
		long long free_bytes, reserve, need;
		bool short_;
	} cases[] = {
		{ 1000, 0, 0, false },
		{ 1000, 1000, 0, false }, /* exactly the reserve left: enough */
		{ 1000, 1001, 0, true },
		{ 1000, 500, 500, false },
		{ 1000, 500, 501, true },
		{ 1000, 0, 1000, false },
		{ 1000, 0, 1001, true },
		{ 0, 0, 0, false },
		{ 0, 0, 1, true },
		{ 0, 1, 0, true },
		{ LLONG_MAX, LLONG_MAX, 0, false },
		{ LLONG_MAX, 1, LLONG_MAX, true },
		{ LLONG_MAX, 0, LLONG_MAX, false },
		{ 10, LLONG_MAX, 0, true },
		{ 10, 0, LLONG_MAX, true },
		{ 40960000, 40960000, 1, true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = fs_space_short(cases[i].free_bytes, cases[i].reserve, cases[i].need);

		if (got != cases[i].short_)
			fail_msg("case %zu: free %lld reserve %lld need %lld: got %d", i,
				 cases[i].free_bytes, cases[i].reserve, cases[i].need, got);
	}
}

/* The cost the smtpd check adds to each MAIL FROM (for the report). */
static void test_cost(void **state)
{
	struct timespec a, b;
	long long v = 0;
	const int n = 20000;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++)
		assert_int_equal(fs_free_bytes("/tmp", &v), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("# fs_free_bytes: %.0f ns per call\n",
	       ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_bytes),
		cmocka_unit_test(test_space_short),
		cmocka_unit_test(test_cost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
