/* test_mbx_lock.c: unit tests of the uidlist dot-lock (lib/mbx_lock.c):
 * a stale lock is broken, a fresh one is waited for and left alone,
 * readers never lock, and two processes opening one folder at once while
 * mail arrives never give one UID to two files. */
#include "mbx_fixture.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"

/* ---- the lock ---------------------------------------------------------- */

static void test_stale_lock(void **state)
{
	struct timespec old[2];
	char *lock = mt_path(MBX_UIDLIST ".lock");
	mbx *mb;

	(void)state;
	mt_put(MBX_UIDLIST ".lock", "");
	old[0].tv_sec = old[1].tv_sec = time(NULL) - MBX_LOCK_STALE - 10;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, lock, old, 0), 0);
	mt_put("new/1.a.host", "a\n");
	mb = mt_open();
	assert_int_equal(mt_uid_of(mb, "1.a.host"), 1);
	assert_false(mt_exists(MBX_UIDLIST ".lock"));
	assert_true(mt_exists(MBX_UIDLIST));
	mbx_free(&mb);
	free(lock);
}

static long long ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_fresh_lock(void **state)
{
	mbx *mb = NULL;
	char *err = NULL;
	long long t0;

	(void)state;
	mt_put("new/1.a.host", "a\n");
	mb = mt_open();
	mbx_free(&mb);
	mt_put(MBX_UIDLIST ".lock", "");
	mb = mt_open(); /* nothing to number: readers never lock */
	assert_int_equal(mbx_count(mb), 1);
	mbx_free(&mb);

	mt_put("new/2.b.host", "b\n");
	mbx_lock_wait_ms = 150;
	t0 = ms_now();
	assert_int_equal(mbx_open(mt_mdir, &mb, &err), -1);
	assert_true(ms_now() - t0 >= 150);
	assert_null(mb);
	assert_non_null(err);
	assert_non_null(strstr(err, "locked"));
	free(err);
	assert_true(mt_exists(MBX_UIDLIST ".lock")); /* not ours to remove */
	mt_del(MBX_UIDLIST ".lock");
	mb = mt_open();
	assert_int_equal(mt_uid_of(mb, "2.b.host"), 2);
	mbx_free(&mb);
}


/* ---- two processes at once ------------------------------------------------ */

#define RACE_ROUNDS 40

/* race_child: delivers a file and opens the folder, RACE_ROUNDS times,
 * writing every "uid base" it was shown to out. */
static int race_child(int id, const char *out)
{
	FILE *f = fopen(out, "w");

	if (f == NULL)
		return 1;
	for (int r = 0; r < RACE_ROUNDS; r++) {
		char *rel = xasprintf("new/%d.R%dC%d.host", 1000 + r, r, id);
		char *p = mt_path(rel);
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
		mbx *mb = NULL;
		char *err = NULL;

		if (fd < 0 || write(fd, "x\n", 2) != 2)
			return 1;
		close(fd);
		if (mbx_open(mt_mdir, &mb, &err) < 0) {
			fprintf(stderr, "child %d: %s\n", id, err);
			return 1;
		}
		for (size_t i = 0; i < mbx_count(mb); i++)
			fprintf(f, "%u %s\n", mbx_msg(mb, i)->uid, mbx_msg(mb, i)->base);
		mbx_free(&mb);
		free(rel);
		free(p);
	}
	return fclose(f) == 0 ? 0 : 1;
}

struct seen {
	uint32_t uid;
	char base[64];
};

static int cmp_seen(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;

	return x->uid != y->uid ? (x->uid > y->uid) - (x->uid < y->uid) : strcmp(x->base, y->base);
}

static size_t read_seen(const char *path, struct seen *s, size_t n, size_t max)
{
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	while (n < max && fscanf(f, "%u %63s", &s[n].uid, s[n].base) == 2)
		n++;
	fclose(f);
	return n;
}

static void test_two_processes(void **state)
{
	size_t max = 2 * RACE_ROUNDS * 2 * RACE_ROUNDS;
	struct seen *s;
	char out[2][128];
	pid_t pid[2];
	int status[2];
	size_t n = 0;
	mbx *mb;

	(void)state;
	for (int c = 0; c < 2; c++) { /* nothing on the heap across fork */
		snprintf(out[c], sizeof(out[c]), "%s/race%d", mt_top, c);
		pid[c] = fork();
		assert_true(pid[c] >= 0);
		if (pid[c] == 0)
			_exit(race_child(c, out[c]));
	}
	/* reap both before any assert: mt_teardown must not run under a child */
	for (int c = 0; c < 2; c++)
		assert_int_equal(waitpid(pid[c], &status[c], 0), pid[c]);
	for (int c = 0; c < 2; c++)
		assert_true(WIFEXITED(status[c]) && WEXITSTATUS(status[c]) == 0);
	s = xcalloc(max, sizeof(*s));
	for (int c = 0; c < 2; c++)
		n = read_seen(out[c], s, n, max);
	/* each UID names one file and each file has one UID, in every view */
	qsort(s, n, sizeof(*s), cmp_seen);
	for (size_t i = 1; i < n; i++)
		if (s[i].uid == s[i - 1].uid && strcmp(s[i].base, s[i - 1].base) != 0)
			fail_msg("UID %u given to %s and %s", s[i].uid, s[i - 1].base, s[i].base);
	mb = mt_open();
	assert_int_equal(mbx_count(mb), 2 * RACE_ROUNDS);
	assert_int_equal(mbx_uidnext(mb), 2 * RACE_ROUNDS + 1);
	for (size_t i = 0; i < n; i++)
		if (mt_uid_of(mb, s[i].base) != s[i].uid)
			fail_msg("%s: UID %u, later %u", s[i].base, s[i].uid, mt_uid_of(mb, s[i].base));
	mbx_free(&mb);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		MT_TEST(test_stale_lock),
		MT_TEST(test_fresh_lock),
		MT_TEST(test_two_processes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
