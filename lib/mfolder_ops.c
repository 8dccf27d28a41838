/* mfolder_ops.c: CREATE, DELETE and RENAME of lib/mfolder. A folder
 * appears whole: it is built in the root's tmp/ and renamed into place
 * without replacing anything (RENAME_NOREPLACE). A folder disappears at
 * once: DELETE renames it into tmp/ first and removes it there, so a
 * crash leaves a leftover in tmp/ (removed by a later DELETE), never a
 * half-deleted folder in LIST. RENAME of INBOX moves its messages. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "md.h"
#include "mem.h"
#include "mfolder_int.h"

/* A deleted folder left in tmp/ older than this (seconds) is a crash's
 * leftover; younger ones may be another process's delete in progress. */
#define DELETED_STALE 60

static enum mfolder_result temp_error(const char **reason_r, char **err_r, char *detail)
{
	*reason_r = "temporary trouble with the mail store, try again";
	*err_r = detail;
	return MFOLDER_ERR_TEMP;
}

/* move_noreplace: renames from to to unless to exists (EEXIST). */
static int move_noreplace(const char *from, const char *to)
{
	struct stat st;

	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* no RENAME_NOREPLACE on this file system: check, then rename (a
	 * racing CREATE of the same name can only lose an empty folder) */
	if (lstat(to, &st) == 0) {
		errno = EEXIST;
		return -1;
	}
	return rename(from, to);
}

/* ensure_tmp: the root's tmp/ (a Maildir has it; make it if not). */
static int ensure_tmp(mfolder *mf, char **err_r)
{
	char *tmp = fs_join(mf->root, "tmp");
	int rc = mkdir(tmp, 0700) == 0 || errno == EEXIST ? 0 : -1;

	if (rc < 0)
		*err_r = xasprintf("mkdir %s: %s", tmp, strerror(errno));
	free(tmp);
	return rc;
}

/* remove_built: removes an empty folder built in tmp/ that was not
 * used. */
static void remove_built(const char *tmp)
{
	static const char *const parts[] = {"tmp", "new", "cur", "maildirfolder"};

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		char *p = fs_join(tmp, parts[i]);

		if (unlink(p) < 0)
			(void)rmdir(p);
		free(p);
	}
	(void)rmdir(tmp);
}

/* build_folder: an empty Maildir++ folder at the new path target, built
 * in tmp/. 0, 1 when target exists, -1 with *err_r. */
static int build_folder(mfolder *mf, const char *target, char **err_r)
{
	char *tmp;
	int rc;

	if (ensure_tmp(mf, err_r) < 0)
		return -1;
	tmp = mfolder_tmp_name(mf, "postern-create.");
	if (md_create(tmp, true, err_r) < 0) {
		free(tmp);
		return -1;
	}
	rc = move_noreplace(tmp, target);
	if (rc < 0 && errno == EEXIST)
		rc = 1;
	else if (rc < 0)
		*err_r = xasprintf("rename %s to %s: %s", tmp, target, strerror(errno));
	else
		(void)fs_fsync_dir(mf->root);
	if (rc != 0)
		remove_built(tmp);
	free(tmp);
	return rc;
}

enum mfolder_result mfolder_create(mfolder *mf, const char *canon, unsigned special,
				   const char **reason_r, char **err_r)
{
	char *path, *detail = NULL;
	int rc;

	if (special & ~MFOLDER_SPECIAL_MASK) {
		*reason_r = "unknown special-use attribute";
		return MFOLDER_ERR_USEATTR;
	}
	if (mfolder_is_inbox(canon)) {
		*reason_r = "INBOX always exists";
		return MFOLDER_ERR_EXISTS;
	}
	path = mfolder_path(mf, canon);
	rc = build_folder(mf, path, &detail);
	free(path);
	if (rc == 1) {
		*reason_r = "folder already exists";
		return MFOLDER_ERR_EXISTS;
	}
	if (rc < 0 || (special != 0 && mfolder_special_store(mf->root, canon, special, &detail) < 0))
		return temp_error(reason_r, err_r, detail);
	return MFOLDER_OK;
}

/* ---- DELETE ---- */

/* what remove_tree removed (nftw passes no context; one thread) */
static long long removed_bytes, removed_files;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
	if (flag == FTW_F && (strstr(path, "/cur/") != NULL || strstr(path, "/new/") != NULL)) {
		removed_bytes += st->st_size;
		removed_files++;
	}
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* remove_tree: removes dir and everything in it (not following
 * symlinks); counts the message bytes and files removed. */
static int remove_tree(const char *dir)
{
	return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* quota_release: tells the Maildir++ quota file of the root (when there
 * is one) that the removed messages are gone, as Maildir++ says: a line
 * "-bytes -count". */
static void quota_release(mfolder *mf)
{
	char *path = fs_join(mf->root, "maildirsize");
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);

	if (fd >= 0 && removed_files > 0) {
		char line[64];
		int n = snprintf(line, sizeof(line), "%lld %lld\n", -removed_bytes, -removed_files);

		if (fs_write_all(fd, line, (size_t)n) < 0)
			log_warn("%s: cannot append: %s", path, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	free(path);
}

/* clean_leftovers: removes deleted folders that a crash left in tmp/. */
static void clean_leftovers(mfolder *mf)
{
	char *tmp = fs_join(mf->root, "tmp");
	DIR *d = opendir(tmp);
	struct dirent *de;
	struct stat st;

	while (d != NULL && (de = readdir(d)) != NULL) {
		char *p;

		if (strncmp(de->d_name, MFOLDER_DELETED_PREFIX, strlen(MFOLDER_DELETED_PREFIX)) != 0)
			continue;
		p = fs_join(tmp, de->d_name);
		if (lstat(p, &st) == 0 && st.st_mtime + DELETED_STALE < time(NULL) &&
		    remove_tree(p) < 0)
			log_warn("cannot remove %s: %s", p, strerror(errno));
		free(p);
	}
	if (d != NULL)
		closedir(d);
	free(tmp);
}

enum mfolder_result mfolder_delete(mfolder *mf, const char *canon, const char **reason_r,
				   char **err_r)
{
	char *path, *aside, *detail = NULL;

	if (mfolder_is_inbox(canon)) {
		*reason_r = "INBOX cannot be deleted";
		return MFOLDER_ERR_INBOX;
	}
	if (ensure_tmp(mf, &detail) < 0)
		return temp_error(reason_r, err_r, detail);
	clean_leftovers(mf);
	path = mfolder_path(mf, canon);
	aside = mfolder_tmp_name(mf, MFOLDER_DELETED_PREFIX);
	/* a fresh mtime tells other processes' clean_leftovers it is ours */
	(void)utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW);
	if (rename(path, aside) < 0) {
		int e = errno;

		free(aside);
		if (e == ENOENT || e == ENOTDIR) {
			free(path);
			*reason_r = "no such folder";
			return MFOLDER_ERR_NONEXISTENT;
		}
		detail = xasprintf("rename %s: %s", path, strerror(e));
		free(path);
		return temp_error(reason_r, err_r, detail);
	}
	(void)fs_fsync_dir(mf->root);
	/* the folder is gone now; failing to clean up is only logged */
	removed_bytes = removed_files = 0;
	if (remove_tree(aside) < 0)
		log_warn("cannot remove deleted folder %s: %s", aside, strerror(errno));
	quota_release(mf);
	if (mfolder_special_store(mf->root, canon, 0, &detail) < 0) {
		log_warn("%s", detail);
		free(detail);
	}
	free(aside);
	free(path);
	return MFOLDER_OK;
}
