/* test_qsweep.c: unit tests for the queue tmp/ sweeper (lib/qsweep.c) and
 * the writer locks it relies on (lib/q.c). Ages are controlled through the
 * sweep's "now" (ctime cannot be set): an old unlocked writer file and an
 * idle pool file are removed, a young one is kept, a file the test holds
 * locked is kept, a live q_writer's file is kept and still commits, a
 * writer killed by SIGKILL leaves a file that is removed, pool files the
 * sweeper holds are not used by a writer, and entries that are not regular
 * files are left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem.h"
#include "q.h"
#include "qsweep.h"

static char qdir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	static const char *const subs[] = { Q_TMP, Q_INCOMING };

	(void)state;
	snprintf(qdir, sizeof(qdir), "/tmp/test_qsweep.XXXXXX");
	if (mkdtemp(qdir) == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		char *d = xasprintf("%s/%s", qdir, subs[i]);

		if (mkdir(d, 0700) < 0)
			return -1;
		free(d);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(qdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tmp_path(const char *name)
{
	return xasprintf("%s/%s/%s", qdir, Q_TMP, name);
}

/* make_file: tmp/name with len bytes; returns its path (heap). */
static char *make_file(const char *name, size_t len)
{
	char *path = tmp_path(name);
	char *data = xcalloc(1, len + 1);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	free(data);
	return path;
}

static int count_files(const char *sub)
{
	char *d = xasprintf("%s/%s", qdir, sub);
	DIR *dh = opendir(d);
	struct dirent *de;
	int n = 0;

	assert_non_null(dh);
	while ((de = readdir(dh)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dh);
	free(d);
	return n;
}

/* later: the current time plus seconds, as the sweep's "now". */
static struct timespec later(long seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += seconds;
	return ts;
}

static struct q_sweep_counts sweep(long ahead, long long max_age)
{
	struct timespec now = later(ahead);
	struct q_sweep_counts c;
	char *err = NULL;

	assert_int_equal(q_tmp_sweep(qdir, &now, max_age, &c, &err), 0);
	assert_null(err);
	return c;
}

static void test_old_files_removed_young_kept(void **state)
{
	char *writer = make_file("1234.1.5678", 1000);
	char *pool = make_file(Q_POOL_PREFIX "7", 300);
	struct q_sweep_counts c;

	(void)state;
	c = sweep(0, 600); /* both just made */
	assert_int_equal(c.young, 2);
	assert_int_equal(c.writers + c.pool, 0);
	assert_int_equal(count_files(Q_TMP), 2);

	c = sweep(599, 600); /* still a second short */
	assert_int_equal(c.young, 2);
	assert_int_equal(count_files(Q_TMP), 2);

	c = sweep(601, 600);
	assert_int_equal(c.writers, 1);
	assert_int_equal(c.pool, 1);
	assert_int_equal(c.bytes, 1300);
	assert_int_equal(count_files(Q_TMP), 0);
	free(writer);
	free(pool);
}

/* The lock is what counts: a file held by another open (as a live writer
 * holds it) is kept however old, and removed once released. */
static void test_locked_file_kept(void **state)
{
	char *path = make_file("999.3.1", 10);
	int fd = open(path, O_RDONLY);
	struct q_sweep_counts c;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	c = sweep(3600, 0);
	assert_int_equal(c.busy, 1);
	assert_int_equal(c.writers, 0);
	assert_int_equal(access(path, F_OK), 0);
	close(fd);
	c = sweep(3600, 0);
	assert_int_equal(c.writers, 1);
	assert_int_equal(access(path, F_OK), -1);
	free(path);
}

static void write_envelope(q_writer *w)
{
	struct q_rcpt r = { .address = "a@b" };
	struct q_envelope env = { .arrival = 1, .sender = "s@x", .rcpts = &r, .nrcpts = 1 };
	char *err = NULL;

	assert_int_equal(q_writer_envelope(w, &env, &err), 0);
	assert_int_equal(q_writer_content(w, "hello\n", 6, &err), 0);
}

/* A q_writer keeps its file through any sweep and commits after it. */
static void test_live_writer_kept(void **state)
{
	char *err = NULL;
	q_writer *w = q_writer_new(qdir, &err);
	struct q_sweep_counts c;

	(void)state;
	assert_non_null(w);
	write_envelope(w);
	c = sweep(3600, 0);
	assert_int_equal(c.busy, 1);
	assert_int_equal(count_files(Q_TMP), 1);
	assert_int_equal(q_writer_commit(&w, &err), 0);
	assert_int_equal(count_files(Q_TMP), 0);
	assert_int_equal(count_files(Q_INCOMING), 1);
}

/* A writer killed by SIGKILL before its commit leaves its file; the next
 * sweep removes it (and nothing reached incoming/). */
static void test_killed_writer_swept(void **state)
{
	pid_t pid = fork();
	int status;
	struct q_sweep_counts c;

	(void)state;
	assert_true(pid >= 0);
	if (pid == 0) {
		char *err = NULL;
		q_writer *w = q_writer_new(qdir, &err);

		if (w == NULL)
			_exit(1);
		write_envelope(w);
		kill(getpid(), SIGKILL);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(count_files(Q_TMP), 1);
	c = sweep(0, 600); /* young: kept */
	assert_int_equal(c.young, 1);
	c = sweep(3600, 600);
	assert_int_equal(c.writers, 1);
	assert_int_equal(count_files(Q_TMP), 0);
	assert_int_equal(count_files(Q_INCOMING), 0);
}

/* While the sweeper holds a pool file's lock, a writer that takes it must
 * not use it: every slot is filled and held here, the writer then writes
 * into a new inode. */
static void test_pool_file_held_not_used(void **state)
{
	enum { SLOTS = 256 };
	int fds[SLOTS];
	ino_t inodes[SLOTS];
	char *err = NULL, *path, *id;
	q_writer *w;
	struct stat st;

	(void)state;
	for (int i = 0; i < SLOTS; i++) {
		char name[32];

		snprintf(name, sizeof(name), "%s%d", Q_POOL_PREFIX, i);
		path = make_file(name, 100);
		fds[i] = open(path, O_RDONLY);
		assert_true(fds[i] >= 0);
		assert_int_equal(flock(fds[i], LOCK_EX), 0);
		assert_int_equal(fstat(fds[i], &st), 0);
		inodes[i] = st.st_ino;
		free(path);
	}
	w = q_writer_new(qdir, &err);
	assert_non_null(w);
	id = xstrdup(q_writer_id(w));
	write_envelope(w);
	assert_int_equal(q_writer_commit(&w, &err), 0);
	path = xasprintf("%s/%s/%s", qdir, Q_INCOMING, id);
	assert_int_equal(stat(path, &st), 0);
	for (int i = 0; i < SLOTS; i++) {
		assert_true(st.st_ino != inodes[i]);
		close(fds[i]);
	}
	/* the taken file was dropped, not left under the writer's tmp name */
	assert_int_equal(count_files(Q_TMP), SLOTS - 1);
	free(path);
	free(id);
}

static void test_other_entries_left_alone(void **state)
{
	char *dir = tmp_path("adir");
	char *link = tmp_path("alink");
	char *fifo = tmp_path("afifo");
	struct q_sweep_counts c;

	(void)state;
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(symlink("/etc/passwd", link), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	c = sweep(3600, 0);
	assert_int_equal(c.other, 3);
	assert_int_equal(c.writers + c.pool, 0);
	assert_int_equal(count_files(Q_TMP), 3);
	assert_int_equal(access("/etc/passwd", F_OK), 0);
	rmdir(dir);
	free(dir);
	free(link);
	free(fifo);
}

static void test_no_tmp_dir(void **state)
{
	struct q_sweep_counts c;
	char *err = NULL;

	(void)state;
	assert_int_equal(q_tmp_sweep("/nonexistent/queue", NULL, 600, &c, &err), -1);
	assert_non_null(strstr(err, "No such file"));
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_old_files_removed_young_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locked_file_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_writer_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_writer_swept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_file_held_not_used, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_entries_left_alone, setup, teardown),
		cmocka_unit_test(test_no_tmp_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
