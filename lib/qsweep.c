/* qsweep.c: removes what killed writers left in the queue's tmp/ (see
 * qsweep.h). Safe against live writers without any shared state:
 *
 * - A writer holds flock(LOCK_EX) on its tmp file from its open until the
 *   file has been renamed into incoming/ or removed (q.c). The sweeper
 *   removes only a file it has locked itself, so never one in use.
 * - A writer gets its lock just after it created the file or renamed it
 *   out of a pool slot. Both set the file's ctime, and the sweeper skips
 *   any file whose ctime is younger than max_age, so it cannot slip into
 *   that gap. (Writes refresh ctime too.)
 * - Between its open and its unlink the name may have come to name another
 *   file (a pool slot taken and refilled): after the lock the sweeper
 *   checks that the name still names the inode it locked. The check and
 *   the unlink are two steps; what can land under a checked name in
 *   between is only a refilled pool slot, an idle file, so nothing in use
 *   is lost. A writer that takes a pool file while the sweeper holds its
 *   lock fails to lock it and drops it (q.c).
 *
 * Entries that are not regular files are never removed, only warned about. */
#include "qsweep.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "mem.h"
#include "q.h"

/* qsweep_age_ms: how long before now the file's ctime is (may be < 0). */
static long long qsweep_age_ms(const struct stat *st, const struct timespec *now)
{
	return (long long)(now->tv_sec - st->st_ctim.tv_sec) * 1000 +
	       (now->tv_nsec - st->st_ctim.tv_nsec) / 1000000;
}

static bool qsweep_same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static bool qsweep_is_pool(const char *name)
{
	return strncmp(name, Q_POOL_PREFIX, strlen(Q_POOL_PREFIX)) == 0;
}

/* qsweep_lock: opens name and takes its lock; -1 when it is gone, in use
 * or not a regular file any more. *st_r gets the open file's stat. */
static int qsweep_lock(int dfd, const char *name, struct stat *st_r)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	while ((rc = flock(fd, LOCK_EX | LOCK_NB)) < 0 && errno == EINTR)
		;
	if (rc < 0 || fstat(fd, st_r) < 0 || !S_ISREG(st_r->st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* qsweep_remove: removes the locked file fd if name still names it. */
static bool qsweep_remove(int dfd, const char *name, const struct stat *locked)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !qsweep_same_file(&st, locked))
		return false; /* taken or replaced meanwhile */
	if (unlinkat(dfd, name, 0) < 0) {
		if (errno != ENOENT)
			log_warn("cannot remove queue tmp file %s: %s", name, strerror(errno));
		return false;
	}
	return true;
}

/* qsweep_entry: one name of tmp/. */
static void qsweep_entry(int dfd, const char *name, const struct timespec *now,
			 long long max_age_ms, struct q_sweep_counts *c)
{
	struct stat st, locked;
	long long age;
	int fd;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return; /* gone: committed, taken or aborted meanwhile */
	if (!S_ISREG(st.st_mode)) {
		log_warn("queue tmp/ holds %s, which is not a regular file: left alone", name);
		c->other++;
		return;
	}
	if (qsweep_age_ms(&st, now) < max_age_ms) {
		c->young++;
		return;
	}
	fd = qsweep_lock(dfd, name, &locked);
	if (fd < 0) {
		c->busy++;
		return;
	}
	age = qsweep_age_ms(&locked, now);
	if (age >= max_age_ms && qsweep_remove(dfd, name, &locked)) {
		c->bytes += (long long)locked.st_size;
		if (qsweep_is_pool(name)) {
			c->pool++;
		} else {
			c->writers++;
			log_info("removed stale queue tmp file %s (%lld s old, %lld bytes, left by "
				 "a killed writer)", name, age / 1000, (long long)locked.st_size);
		}
	}
	close(fd);
}

int q_tmp_sweep(const char *queue_dir, const struct timespec *now, long long max_age,
		struct q_sweep_counts *counts_r, char **err_r)
{
	struct q_sweep_counts c = { 0 };
	struct timespec clock_now;
	char *dir = fs_join(queue_dir, Q_TMP);
	DIR *dh = opendir(dir);
	struct dirent *de;

	if (dh == NULL) {
		*err_r = xasprintf("cannot read directory %s: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	if (now == NULL) {
		clock_gettime(CLOCK_REALTIME, &clock_now);
		now = &clock_now;
	}
	while ((de = readdir(dh)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			qsweep_entry(dirfd(dh), de->d_name, now, max_age * 1000, &c);
	closedir(dh);
	if (c.pool > 0)
		log_info("removed %d idle pooled queue files from %s (unused for %lld s or more)",
			 c.pool, dir, max_age);
	free(dir);
	if (counts_r != NULL)
		*counts_r = c;
	return 0;
}
