/* mfolder_int.h: what the files of lib/mfolder share and nobody else
 * uses: the namespace struct, the dot-lock that guards a rewritten side
 * file (subscriptions, postern-special-use), and those files as lists of
 * lines in memory. */
#ifndef POSTERN_MFOLDER_INT_H
#define POSTERN_MFOLDER_INT_H

#include "mfolder.h"

struct mfolder {
	char *root;
	unsigned serial; /* for unique names of tmp/ entries */
};

/* A side file held under its dot-lock "<path>.lock" (Dovecot's scheme:
 * the new contents are written into the lock file, which is then renamed
 * over the file). */
struct mfolder_lock {
	char *path;
	char *lock_path;
	int fd;
};

/* mfolder_lock_take: takes path's dot-lock, waiting up to
 * MFOLDER_LOCK_WAIT_MS, breaking one older than MFOLDER_LOCK_STALE.
 * 0, or -1 with *err_r (heap). */
int mfolder_lock_take(const char *path, struct mfolder_lock *lk, char **err_r);
/* mfolder_lock_commit: writes data into the lock file, fsyncs, renames it
 * over path and fsyncs the directory; the lock is released either way.
 * 0, or -1 with *err_r. */
int mfolder_lock_commit(struct mfolder_lock *lk, const char *data, size_t len, char **err_r);
/* mfolder_lock_drop: releases the lock without changing path. */
void mfolder_lock_drop(struct mfolder_lock *lk);

/* One line of a side file: the raw line (kept as it was when the file is
 * rewritten) and the canonical name it holds, NULL when it names no valid
 * folder (kept, never listed). bits: special-use bits. */
struct mfolder_line {
	char *raw;
	char *name;
	unsigned bits;
};
struct mfolder_lines {
	struct mfolder_line *v;
	size_t n, cap;
	bool v2; /* subscriptions: Dovecot's version 2 format */
};

void mfolder_lines_free(struct mfolder_lines *ls);
/* mfolder_lines_find: index of the line naming canon, or -1. */
long mfolder_lines_find(const struct mfolder_lines *ls, const char *canon);
void mfolder_lines_remove(struct mfolder_lines *ls, size_t i);

/* mfolder_subs_read / mfolder_special_read: parse root's subscriptions or
 * postern-special-use into ls (a missing file is empty). 0, or -1 with
 * *err_r (heap) and errno. */
int mfolder_subs_read(const char *root, struct mfolder_lines *ls, char **err_r);
int mfolder_special_read(const char *root, struct mfolder_lines *ls, char **err_r);
/* mfolder_subs_add / mfolder_special_set: appends a line for canon in the
 * file's format. */
void mfolder_subs_add(struct mfolder_lines *ls, const char *canon);
void mfolder_special_set(struct mfolder_lines *ls, const char *canon, unsigned bits);
/* mfolder_lines_text: the file's new contents. */
void mfolder_subs_text(const struct mfolder_lines *ls, buf *out);
void mfolder_special_text(const struct mfolder_lines *ls, buf *out);

/* mfolder_side_rename: in the side file (subscriptions when subs, else
 * postern-special-use) every name from or below it is renamed under to.
 * 0, or -1 with *err_r. */
int mfolder_side_rename(const char *root, bool subs, const char *from, const char *to,
			char **err_r);
/* mfolder_special_store: sets canon's entry (bits 0: removes it). */
int mfolder_special_store(const char *root, const char *canon, unsigned bits, char **err_r);

/* mfolder_default_special: the attribute of the top-level names Sent,
 * Drafts, Trash, Junk and Archive; 0 for others. */
unsigned mfolder_default_special(const char *canon);

/* mfolder_tmp_name: a fresh "root/tmp/<prefix><time>.<pid>.<n>" (heap). */
char *mfolder_tmp_name(mfolder *mf, const char *prefix);

#endif
