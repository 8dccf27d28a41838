/* mfolder_rename.c: RENAME of lib/mfolder. A folder moves with all its
 * children (".a" -> ".b", ".a.x" -> ".b.x"), each directory renamed
 * without replacing anything, after every target was checked free; the
 * subscriptions and special-use entries follow. RENAME INBOX creates the
 * target folder and moves INBOX's messages (and dovecot-keywords, so the
 * keyword letters keep their meaning) into it; INBOX stays, empty. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "mem.h"
#include "mfolder_int.h"

struct moves {
	char **from, **to; /* directory entries of the root */
	size_t n, cap;
};

static void moves_free(struct moves *mv)
{
	for (size_t i = 0; i < mv->n; i++) {
		free(mv->from[i]);
		free(mv->to[i]);
	}
	free(mv->from);
	free(mv->to);
}

static void moves_add(struct moves *mv, const char *from, char *to)
{
	if (mv->n == mv->cap) {
		mv->cap = mv->cap == 0 ? 8 : mv->cap * 2;
		mv->from = xrealloc(mv->from, mv->cap * sizeof(char *));
		mv->to = xrealloc(mv->to, mv->cap * sizeof(char *));
	}
	mv->from[mv->n] = xstrdup(from);
	mv->to[mv->n] = to;
	mv->n++;
}

/* add_move: the move of directory entry dirent to the name to + rest;
 * -2 with *reason_r when that name is invalid (too long, too deep). */
static int add_move(struct moves *mv, const char *dirent, const char *to, const char *rest,
		    const char **reason_r)
{
	buf *to_name = buf_new(64), *canon = buf_new(64);
	int rc = 0;

	buf_printf(to_name, "%s%s", to, rest);
	if (mfolder_name_check(buf_cstr(to_name), buf_len(to_name), canon, reason_r) < 0)
		rc = -2;
	else
		moves_add(mv, dirent, xasprintf("%c%s", MFOLDER_SEP, buf_cstr(canon)));
	buf_free(&to_name);
	buf_free(&canon);
	return rc;
}

/* collect: the directories of from and its children, with their new
 * names; -1 with *reason_r for a new name that is too long or deep. */
static int collect(mfolder *mf, const char *from, const char *to, struct moves *mv,
		   const char **reason_r, char **err_r)
{
	size_t flen = strlen(from);
	DIR *d = opendir(mf->root);
	struct dirent *de;
	buf *name = buf_new(64);
	int rc = 0;

	if (d == NULL) {
		*err_r = xasprintf("opendir %s: %s", mf->root, strerror(errno));
		buf_free(&name);
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		const char *n;

		buf_reset(name);
		if (mfolder_name_of_dir(de->d_name, name) < 0)
			continue;
		n = buf_cstr(name);
		if (strncmp(n, from, flen) != 0 || (n[flen] != '\0' && n[flen] != MFOLDER_SEP))
			continue;
		rc = add_move(mv, de->d_name, to, n + flen, reason_r);
	}
	closedir(d);
	buf_free(&name);
	return rc;
}

/* targets_free: whether no new name exists yet. */
static bool targets_free(mfolder *mf, const struct moves *mv)
{
	struct stat st;

	for (size_t i = 0; i < mv->n; i++) {
		char *p = fs_join(mf->root, mv->to[i]);
		bool taken = lstat(p, &st) == 0;

		free(p);
		if (taken)
			return false;
	}
	return true;
}

/* do_moves: renames every directory; -1 with *err_r at the first
 * failure (the earlier moves stay done). */
static int do_moves(mfolder *mf, struct moves *mv, char **err_r)
{
	for (size_t i = 0; i < mv->n; i++) {
		char *from = fs_join(mf->root, mv->from[i]), *to = fs_join(mf->root, mv->to[i]);
		int rc = renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);

		if (rc < 0 && (errno == EINVAL || errno == ENOSYS))
			rc = rename(from, to);
		if (rc < 0)
			*err_r = xasprintf("rename %s to %s: %s", from, to, strerror(errno));
		free(from);
		free(to);
		if (rc < 0)
			return -1;
	}
	(void)fs_fsync_dir(mf->root);
	return 0;
}

/* side_files_follow: subscriptions and special-use entries move with
 * the folders; special (from's attributes, defaults included: "Sent"
 * renamed keeps \Sent) is recorded for to. */
static void side_files_follow(mfolder *mf, const char *from, const char *to, unsigned special)
{
	char *err = NULL;

	for (int subs = 0; subs <= 1; subs++)
		if (mfolder_side_rename(mf->root, subs, from, to, &err) < 0) {
			log_warn("rename %s to %s: %s", from, to, err);
			free(err);
			err = NULL;
		}
	if (special != 0 && mfolder_special_store(mf->root, to, special, &err) < 0) {
		log_warn("rename %s to %s: %s", from, to, err);
		free(err);
	}
}

/* move_messages: moves every file of root/sub into target/sub. */
static int move_messages(mfolder *mf, const char *target, const char *sub, char **err_r)
{
	char *src = fs_join(mf->root, sub), *dst = fs_join(target, sub);
	DIR *d = opendir(src);
	struct dirent *de;
	int rc = 0;

	if (d == NULL) {
		rc = errno == ENOENT ? 0 : -1;
		if (rc < 0)
			*err_r = xasprintf("opendir %s: %s", src, strerror(errno));
	}
	while (rc == 0 && d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char *f = fs_join(src, de->d_name), *t = fs_join(dst, de->d_name);

		if (rename(f, t) < 0 && errno != ENOENT) {
			*err_r = xasprintf("rename %s to %s: %s", f, t, strerror(errno));
			rc = -1;
		}
		free(f);
		free(t);
	}
	if (d != NULL)
		closedir(d);
	if (rc == 0) {
		(void)fs_fsync_dir(dst);
		(void)fs_fsync_dir(src);
	}
	free(src);
	free(dst);
	return rc;
}

/* copy_keywords: INBOX's dovecot-keywords into target (when it has one). */
static int copy_keywords(mfolder *mf, const char *target, char **err_r)
{
	char *src = fs_join(mf->root, "dovecot-keywords"), *dst = fs_join(target, "dovecot-keywords");
	buf *data = buf_new(256);
	int rc = fs_read_file(src, data, MFOLDER_FILE_MAX, err_r);

	if (rc < 0 && errno == ENOENT) {
		free(*err_r);
		*err_r = NULL;
		rc = 0;
	} else if (rc == 0) {
		rc = fs_write_atomic(dst, buf_cstr(data), buf_len(data), 0600, err_r);
	}
	buf_free(&data);
	free(src);
	free(dst);
	return rc;
}

static enum mfolder_result rename_inbox(mfolder *mf, const char *to, const char **reason_r,
					char **err_r)
{
	enum mfolder_result res = mfolder_create(mf, to, 0, reason_r, err_r);
	char *target;

	if (res != MFOLDER_OK)
		return res;
	target = mfolder_path(mf, to);
	if (copy_keywords(mf, target, err_r) < 0 || move_messages(mf, target, "new", err_r) < 0 ||
	    move_messages(mf, target, "cur", err_r) < 0) {
		*reason_r = "temporary trouble moving INBOX's messages, try again";
		res = MFOLDER_ERR_TEMP;
	}
	free(target);
	return res;
}

/* check_names: the rules between from and to. */
static enum mfolder_result check_names(const char *from, const char *to, const char **reason_r)
{
	size_t flen = strlen(from);

	if (mfolder_is_inbox(to) || strcmp(from, to) == 0) {
		*reason_r = "target folder already exists";
		return MFOLDER_ERR_EXISTS;
	}
	if (strncmp(to, from, flen) == 0 && to[flen] == MFOLDER_SEP) {
		*reason_r = "cannot move a folder into itself";
		return MFOLDER_ERR_NAME;
	}
	return MFOLDER_OK;
}

enum mfolder_result mfolder_rename(mfolder *mf, const char *from, const char *to,
				   const char **reason_r, char **err_r)
{
	struct moves mv = {0};
	enum mfolder_result res = check_names(from, to, reason_r);
	int rc;

	if (res != MFOLDER_OK)
		return res;
	if (mfolder_is_inbox(from))
		return rename_inbox(mf, to, reason_r, err_r);
	rc = collect(mf, from, to, &mv, reason_r, err_r);
	if (rc == -2)
		res = MFOLDER_ERR_NAME;
	else if (rc < 0)
		res = MFOLDER_ERR_TEMP, *reason_r = "temporary trouble with the mail store, try again";
	else if (mv.n == 0)
		res = MFOLDER_ERR_NONEXISTENT, *reason_r = "no such folder";
	else if (!targets_free(mf, &mv))
		res = MFOLDER_ERR_EXISTS, *reason_r = "target folder already exists";
	if (res == MFOLDER_OK) {
		unsigned special = mfolder_special_use(mf, from);

		if (do_moves(mf, &mv, err_r) < 0) {
			res = MFOLDER_ERR_TEMP;
			*reason_r = "temporary trouble with the mail store, try again";
		}
		side_files_follow(mf, from, to, special);
	}
	moves_free(&mv);
	return res;
}
