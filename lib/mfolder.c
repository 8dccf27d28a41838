/* mfolder.c: the namespace object of lib/mfolder (a Maildir root), folder
 * paths and existence, and the dot-lock under which the side files
 * subscriptions and postern-special-use are rewritten (Dovecot's dot-lock
 * scheme, so Postern and Dovecot processes exclude each other). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "mem.h"
#include "mfolder_int.h"

int mfolder_open(const char *maildir, mfolder **mf_r, char **err_r)
{
	struct stat st;
	mfolder *mf;

	if (stat(maildir, &st) < 0) {
		*err_r = xasprintf("Maildir %s: %s", maildir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		*err_r = xasprintf("Maildir %s: not a directory", maildir);
		return -1;
	}
	mf = xcalloc(1, sizeof(*mf));
	mf->root = xstrdup(maildir);
	*mf_r = mf;
	return 0;
}

void mfolder_free(mfolder **mfp)
{
	if (*mfp == NULL)
		return;
	free((*mfp)->root);
	free(*mfp);
	*mfp = NULL;
}

const char *mfolder_root(const mfolder *mf)
{
	return mf->root;
}

char *mfolder_path(const mfolder *mf, const char *canon)
{
	char *dir, *path;

	if (mfolder_is_inbox(canon))
		return xstrdup(mf->root);
	dir = mfolder_dir_name(canon);
	path = fs_join(mf->root, dir);
	free(dir);
	return path;
}

int mfolder_exists(const mfolder *mf, const char *canon)
{
	char *path = mfolder_path(mf, canon), *cur = fs_join(path, "cur");
	struct stat st;
	int rc;

	if (stat(cur, &st) == 0)
		rc = S_ISDIR(st.st_mode) ? 1 : 0;
	else
		rc = errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	free(cur);
	free(path);
	return mfolder_is_inbox(canon) && rc == 0 ? 1 : rc;
}

char *mfolder_tmp_name(mfolder *mf, const char *prefix)
{
	return xasprintf("%s/tmp/%s%lld.%ld.%u", mf->root, prefix, (long long)time(NULL),
			 (long)getpid(), mf->serial++);
}

/* ---- dot-lock ---- */

/* lock_break_stale: removes the lock when its mtime is older than
 * MFOLDER_LOCK_STALE (a crashed holder). XXX two waiters can both judge
 * one stale lock and the second unlink the lock the first just made
 * (Dovecot's dot-lock has the same window); it needs a crash and 30 s of
 * silence first, and costs at worst one lost side-file change. */
static void lock_break_stale(const char *lock_path)
{
	struct stat st;

	if (stat(lock_path, &st) == 0 && st.st_mtime + MFOLDER_LOCK_STALE < time(NULL))
		(void)unlink(lock_path);
}

int mfolder_lock_take(const char *path, struct mfolder_lock *lk, char **err_r)
{
	struct timespec pause = {0, 10 * 1000 * 1000};
	int waited = 0;

	lk->path = xstrdup(path);
	lk->lock_path = xasprintf("%s.lock", path);
	for (;;) {
		lk->fd = open(lk->lock_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (lk->fd >= 0)
			return 0;
		if (errno != EEXIST || waited >= MFOLDER_LOCK_WAIT_MS)
			break;
		lock_break_stale(lk->lock_path);
		nanosleep(&pause, NULL);
		waited += 10;
	}
	*err_r = errno == EEXIST ? xasprintf("%s: timeout waiting for the lock", lk->lock_path)
				 : xasprintf("%s: %s", lk->lock_path, strerror(errno));
	free(lk->path);
	free(lk->lock_path);
	lk->path = lk->lock_path = NULL;
	return -1;
}

static void lock_clear(struct mfolder_lock *lk)
{
	if (lk->fd >= 0)
		close(lk->fd);
	lk->fd = -1;
	free(lk->path);
	free(lk->lock_path);
	lk->path = lk->lock_path = NULL;
}

void mfolder_lock_drop(struct mfolder_lock *lk)
{
	if (lk->lock_path != NULL)
		(void)unlink(lk->lock_path);
	lock_clear(lk);
}

int mfolder_lock_commit(struct mfolder_lock *lk, const char *data, size_t len, char **err_r)
{
	const char *step = "write";

	if (fs_write_all(lk->fd, data, len) < 0 || (step = "fsync", fsync(lk->fd) < 0) ||
	    (step = "rename", rename(lk->lock_path, lk->path) < 0)) {
		*err_r = xasprintf("%s: %s: %s", lk->lock_path, step, strerror(errno));
		mfolder_lock_drop(lk);
		return -1;
	}
	(void)fs_fsync_parent(lk->path);
	lock_clear(lk);
	return 0;
}

int mfolder_create_defaults(const char *maildir, char **err_r)
{
	static const char *const names[] = {"Sent", "Drafts", "Trash", "Junk", "Archive"};
	const char *reason = NULL;
	mfolder *mf;
	int rc = 0;

	if (mfolder_open(maildir, &mf, err_r) < 0)
		return -1;
	for (size_t i = 0; rc == 0 && i < sizeof(names) / sizeof(names[0]); i++) {
		enum mfolder_result res = mfolder_create(mf, names[i], 0, &reason, err_r);

		if (res == MFOLDER_ERR_EXISTS)
			res = MFOLDER_OK;
		if (res == MFOLDER_OK)
			res = mfolder_subscribe(mf, names[i], true, &reason, err_r);
		if (res != MFOLDER_OK) {
			if (*err_r == NULL)
				*err_r = xasprintf("%s: %s", names[i], reason);
			rc = -1;
		}
	}
	mfolder_free(&mf);
	return rc;
}
