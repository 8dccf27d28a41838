/* mbx_lock.c: the dot-lock dovecot-uidlist.lock that every writer of a
 * folder's uidlist holds (the same lock Dovecot takes): created with
 * O_EXCL, polled every MBX_LOCK_POLL_MS up to a wait limit, and broken
 * when older than MBX_LOCK_STALE seconds (its holder crashed). The holder
 * lets go by renaming the lock file over the uidlist (mbx_ulist_commit)
 * or by removing it (mbx_lock_release). */
#include "mbx_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

int mbx_lock_wait_ms = MBX_LOCK_WAIT_MS;

#define MBX_LOCK_POLL_MS 10

void mbx_dotlock_release(const char *lock_path, int lockfd)
{
	close(lockfd);
	if (unlink(lock_path) < 0 && errno != ENOENT)
		log_warn("mbx: cannot remove %s: %s", lock_path, strerror(errno));
}

void mbx_lock_release(const mbx *mb, int lockfd)
{
	mbx_dotlock_release(mb->lock_path, lockfd);
}

/* lock_break: removes a lock left by a crashed process. It is renamed
 * aside first and checked to be the same file, so a lock taken afresh by
 * someone else in the meantime is put back rather than lost. */
static void lock_break(const char *lock_path, const struct stat *stale)
{
	char *aside = xasprintf("%s.stale.%d", lock_path, (int)getpid());
	struct stat st;

	if (rename(lock_path, aside) < 0) {
		free(aside);
		return;
	}
	if (lstat(aside, &st) == 0 && (st.st_ino != stale->st_ino || st.st_dev != stale->st_dev)) {
		if (link(aside, lock_path) < 0)
			log_warn("mbx: %s: could not put back a fresh lock: %s", lock_path, strerror(errno));
	} else {
		log_warn("mbx: removed stale lock %s (%lld seconds old)", lock_path,
			 (long long)(time(NULL) - stale->st_mtime));
	}
	unlink(aside);
	free(aside);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mbx_lock_take(const mbx *mb, int wait_ms, char **err_r)
{
	return mbx_dotlock_take(mb->lock_path, wait_ms, err_r);
}

/* mbx_dotlock_take: the dot-lock lock_path, waiting up to wait_ms. The
 * fd, or -1 with *err_r (NULL err_r: no message wanted). */
int mbx_dotlock_take(const char *lock_path, int wait_ms, char **err_r)
{
	long long deadline = now_ms() + wait_ms;

	for (;;) {
		int fd = open(lock_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		struct stat st;

		if (fd >= 0)
			return fd;
		if (errno != EEXIST) {
			if (err_r != NULL)
				*err_r = xasprintf("cannot create %s: %s", lock_path, strerror(errno));
			return -1;
		}
		if (stat(lock_path, &st) < 0)
			continue; /* released meanwhile */
		if (time(NULL) - st.st_mtime > MBX_LOCK_STALE) {
			lock_break(lock_path, &st);
			continue;
		}
		if (now_ms() >= deadline) {
			if (err_r != NULL)
				*err_r = xasprintf("%s is locked by another process", lock_path);
			return -1;
		}
		usleep(MBX_LOCK_POLL_MS * 1000);
	}
}
