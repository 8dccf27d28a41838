/* test_watch.c: unit tests for lib/watch.c, inotify change notification
 * on the event loop: a created, renamed, deleted or written file wakes the
 * watch once per burst; two watches of one directory share one kernel
 * watch and both wake; a removed watch is not called; a callback that
 * removes another due watch; a removed directory; bad arguments. Works
 * in a /tmp scratch directory; each wait is bounded by a few hundred ms. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ev.h"
#include "watch.h"

/* Loop rounds of at most 10 ms a test waits for a wake-up. */
#define MAX_ROUNDS 50

struct rec {
	int calls;
	watch **other; /* removed by the callback when set */
};

static void on_change(void *ctx)
{
	struct rec *r = ctx;

	r->calls++;
	if (r->other != NULL)
		watch_remove(r->other);
}

struct fixture {
	char dir[64];
	char sub[96];
	ev_loop *loop;
	watch_hub *hub;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char *err = NULL;

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_watch.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sub, sizeof(f->sub), "%s/new", f->dir);
	assert_int_equal(mkdir(f->sub, 0700), 0);
	f->loop = ev_loop_new();
	f->hub = watch_hub_new(f->loop, &err);
	assert_non_null(f->hub);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	watch_hub_free(&f->hub);
	ev_loop_free(&f->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* run_until: loop rounds until r->calls reaches want (or the bound). */
static void run_until(struct fixture *f, struct rec *r, int want)
{
	for (int i = 0; i < MAX_ROUNDS && r->calls < want; i++)
		ev_run_once(f->loop, 10);
}

/* settle: a few rounds, for checking that nothing (more) comes. */
static void settle(struct fixture *f)
{
	for (int i = 0; i < 6; i++)
		ev_run_once(f->loop, 10);
}

static void touch(const char *dir, const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
}

static void test_create_burst_is_one_call(void **state)
{
	struct fixture *f = *state;
	struct rec r = { 0 };
	const char *paths[] = { f->sub };
	char *err = NULL;
	watch *w = watch_add(f->hub, paths, 1, on_change, &r, &err);

	assert_non_null(w);
	for (int i = 0; i < 20; i++) {
		char name[32];

		snprintf(name, sizeof(name), "m%d", i);
		touch(f->sub, name);
	}
	run_until(f, &r, 1);
	settle(f);
	assert_int_equal(r.calls, 1);
	watch_remove(&w);
	assert_null(w);
}

static void test_rename_and_delete(void **state)
{
	struct fixture *f = *state;
	struct rec r = { 0 };
	const char *paths[] = { f->sub };
	char *err = NULL, from[256], to[256];
	watch *w;

	touch(f->sub, "a");
	w = watch_add(f->hub, paths, 1, on_change, &r, &err);
	assert_non_null(w);
	snprintf(from, sizeof(from), "%s/a", f->sub);
	snprintf(to, sizeof(to), "%s/a:2,S", f->sub);
	assert_int_equal(rename(from, to), 0);
	run_until(f, &r, 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(unlink(to), 0);
	run_until(f, &r, 2);
	assert_int_equal(r.calls, 2);
	watch_remove(&w);
}

static void test_shared_kernel_watch(void **state)
{
	struct fixture *f = *state;
	struct rec r1 = { 0 }, r2 = { 0 };
	const char *paths[] = { f->sub, f->dir };
	char *err = NULL;
	watch *w1 = watch_add(f->hub, paths, 2, on_change, &r1, &err);
	watch *w2 = watch_add(f->hub, paths, 1, on_change, &r2, &err);

	assert_non_null(w1);
	assert_non_null(w2);
	assert_int_equal(watch_hub_kernel_watches(f->hub), 2);
	touch(f->sub, "b");
	run_until(f, &r2, 1);
	settle(f);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r2.calls, 1);
	/* a change to the folder's own directory (a side file) wakes w1 only */
	touch(f->dir, "postern-modseq");
	run_until(f, &r1, 2);
	settle(f);
	assert_int_equal(r1.calls, 2);
	assert_int_equal(r2.calls, 1);
	watch_remove(&w1);
	assert_int_equal(watch_hub_kernel_watches(f->hub), 1);
	touch(f->sub, "c");
	run_until(f, &r2, 2);
	assert_int_equal(r1.calls, 2);
	assert_int_equal(r2.calls, 2);
	watch_remove(&w2);
	assert_int_equal(watch_hub_kernel_watches(f->hub), 0);
}

static void test_removed_watch_not_called(void **state)
{
	struct fixture *f = *state;
	struct rec r1 = { 0 }, r2 = { 0 };
	const char *paths[] = { f->sub };
	char *err = NULL;
	watch *w1 = watch_add(f->hub, paths, 1, on_change, &r1, &err);
	watch *w2 = watch_add(f->hub, paths, 1, on_change, &r2, &err);

	/* both are due; whichever is called first removes the other */
	r1.other = &w2;
	r2.other = &w1;
	touch(f->sub, "d");
	run_until(f, &r1, 1);
	run_until(f, &r2, 1);
	settle(f);
	assert_int_equal(r1.calls + r2.calls, 1);
	watch_remove(&w1);
	watch_remove(&w2);
	assert_int_equal(watch_hub_kernel_watches(f->hub), 0);
}

static void test_directory_removed(void **state)
{
	struct fixture *f = *state;
	struct rec r = { 0 };
	char gone[128];
	const char *paths[] = { gone };
	char *err = NULL;
	watch *w;

	snprintf(gone, sizeof(gone), "%s/.Trash", f->dir);
	assert_int_equal(mkdir(gone, 0700), 0);
	w = watch_add(f->hub, paths, 1, on_change, &r, &err);
	assert_non_null(w);
	assert_int_equal(rmdir(gone), 0);
	run_until(f, &r, 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(watch_hub_kernel_watches(f->hub), 0);
	watch_remove(&w);
}

static void test_bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct rec r = { 0 };
	char missing[128];
	const char *paths[] = { f->sub, missing };
	char *err = NULL;

	snprintf(missing, sizeof(missing), "%s/nonexistent", f->dir);
	assert_null(watch_add(f->hub, paths, 2, on_change, &r, &err));
	assert_non_null(strstr(err, "nonexistent"));
	free(err);
	err = NULL;
	assert_null(watch_add(f->hub, paths, 0, on_change, &r, &err));
	free(err);
	err = NULL;
	assert_null(watch_add(f->hub, paths, WATCH_MAX_PATHS + 1, on_change, &r, &err));
	free(err);
	assert_int_equal(watch_hub_kernel_watches(f->hub), 0);
	watch *none = NULL;

	watch_remove(&none); /* NULL is fine */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_burst_is_one_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_and_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_kernel_watch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_watch_not_called, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
