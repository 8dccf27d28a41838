/* test_mapgen.c: unit tests for lib/mapgen.c: a new counter starts at 0
 * and each bump adds one and is seen at once through the attached
 * mapping; bump creates the file; a short file is grown, never mapped
 * short; attaching where there is no private/ fails and leaves the
 * counter at 0. Each test works in its own mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mapgen.h"
#include "mem.h"

struct fixture {
	char dir[64];
	char *priv, *file;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test_mapgen.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	f->priv = xasprintf("%s/private", f->dir);
	f->file = xasprintf("%s/private/%s", f->dir, MAPGEN_FILE);
	if (mkdir(f->priv, 0700) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	mapgen_detach();
	unlink(f->file);
	rmdir(f->priv);
	rmdir(f->dir);
	free(f->priv);
	free(f->file);
	free(f);
	return 0;
}

static void attach_ok(struct fixture *f)
{
	char *err = NULL;

	if (mapgen_attach(f->dir, &err) < 0)
		fail_msg("mapgen_attach: %s", err);
	assert_null(err);
}

static uint64_t bump_ok(struct fixture *f)
{
	char *err = NULL;
	uint64_t v = mapgen_bump(f->dir, &err);

	if (v == 0)
		fail_msg("mapgen_bump: %s", err);
	return v;
}

static void test_counts(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mapgen_current(), 0); /* not attached */
	attach_ok(f);
	assert_int_equal(mapgen_current(), 0);
	for (uint64_t i = 1; i <= 5; i++) {
		assert_int_equal(bump_ok(f), i);
		assert_int_equal(mapgen_current(), i); /* no syscall in between */
	}
	mapgen_detach();
	assert_int_equal(mapgen_current(), 0);
	attach_ok(f);
	assert_int_equal(mapgen_current(), 5); /* kept in the file */
}

static void test_bump_creates(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(stat(f->file, &st), -1);
	assert_int_equal(bump_ok(f), 1);
	assert_int_equal(stat(f->file, &st), 0);
	assert_int_equal(st.st_size, 8);
	assert_int_equal(st.st_mode & 0777, 0644);
	attach_ok(f);
	assert_int_equal(mapgen_current(), 1);
}

static void test_short_file(void **state)
{
	struct fixture *f = *state;
	int fd = open(f->file, O_CREAT | O_WRONLY, 0644);
	struct stat st;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "abc", 3), 3); /* left by a crash, say */
	close(fd);
	attach_ok(f);
	assert_int_equal(stat(f->file, &st), 0);
	assert_int_equal(st.st_size, 8);
	bump_ok(f);
	assert_int_not_equal(mapgen_current(), 0);
}

static void test_no_private_dir(void **state)
{
	struct fixture *f = *state;
	char *err = NULL;
	char *nowhere = xasprintf("%s/nonexistent", f->dir);

	assert_int_equal(mapgen_attach(nowhere, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, "nonexistent/private/" MAPGEN_FILE));
	free(err);
	err = NULL;
	assert_int_equal(mapgen_current(), 0);
	assert_int_equal(mapgen_bump(nowhere, &err), 0);
	assert_non_null(err);
	free(err);
	free(nowhere);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bump_creates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_private_dir, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
