/* mfolder_subs.c: changes to the side files of lib/mfolder: SUBSCRIBE and
 * UNSUBSCRIBE, special-use entries, and moving both along with a RENAME.
 * Each change is read-modify-write under the file's dot-lock, and a file
 * that would not change is left alone. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "mem.h"
#include "mfolder_int.h"

typedef bool (*edit_fn)(struct mfolder_lines *ls, const void *arg);

/* side_edit: locks root/fname, reads it, lets fn change the lines and
 * writes them back when fn says it changed something. */
static int side_edit(const char *root, bool subs, edit_fn fn, const void *arg, char **err_r)
{
	char *path = fs_join(root, subs ? MFOLDER_SUBSCRIPTIONS : MFOLDER_SPECIAL_USE);
	struct mfolder_lock lk;
	struct mfolder_lines ls;
	buf *text;
	int rc;

	rc = mfolder_lock_take(path, &lk, err_r);
	free(path);
	if (rc < 0)
		return -1;
	rc = subs ? mfolder_subs_read(root, &ls, err_r) : mfolder_special_read(root, &ls, err_r);
	if (rc < 0) {
		mfolder_lock_drop(&lk);
		return -1;
	}
	if (!fn(&ls, arg)) {
		mfolder_lock_drop(&lk);
		mfolder_lines_free(&ls);
		return 0;
	}
	text = buf_new(256);
	if (subs)
		mfolder_subs_text(&ls, text);
	else
		mfolder_special_text(&ls, text);
	rc = mfolder_lock_commit(&lk, buf_cstr(text), buf_len(text), err_r);
	buf_free(&text);
	mfolder_lines_free(&ls);
	return rc;
}

struct subs_arg {
	const char *canon;
	bool on;
};

static bool subs_edit(struct mfolder_lines *ls, const void *varg)
{
	const struct subs_arg *a = varg;
	long i = mfolder_lines_find(ls, a->canon);

	if (a->on && i < 0) {
		mfolder_subs_add(ls, a->canon);
		return true;
	}
	if (a->on || i < 0)
		return false;
	for (; i >= 0; i = mfolder_lines_find(ls, a->canon))
		mfolder_lines_remove(ls, (size_t)i);
	return true;
}

enum mfolder_result mfolder_subscribe(mfolder *mf, const char *canon, bool on,
				      const char **reason_r, char **err_r)
{
	struct subs_arg a = {canon, on};

	if (side_edit(mf->root, true, subs_edit, &a, err_r) < 0) {
		*reason_r = "cannot update the subscriptions now";
		return MFOLDER_ERR_TEMP;
	}
	return MFOLDER_OK;
}

struct special_arg {
	const char *canon;
	unsigned bits;
};

static bool special_edit(struct mfolder_lines *ls, const void *varg)
{
	const struct special_arg *a = varg;
	long i = mfolder_lines_find(ls, a->canon);

	if (i < 0 && (a->bits & MFOLDER_SPECIAL_MASK) == 0)
		return false;
	if (i >= 0 && ls->v[i].bits == (a->bits & MFOLDER_SPECIAL_MASK))
		return false;
	mfolder_special_set(ls, a->canon, a->bits);
	return true;
}

int mfolder_special_store(const char *root, const char *canon, unsigned bits, char **err_r)
{
	struct special_arg a = {canon, bits};

	return side_edit(root, false, special_edit, &a, err_r);
}

struct rename_arg {
	const char *from, *to;
	bool subs;
};

/* renamed: to + the rest of name when name is from or below it. */
static char *renamed(const char *name, const char *from, const char *to)
{
	size_t n = strlen(from);

	if (strncmp(name, from, n) != 0 || (name[n] != '\0' && name[n] != MFOLDER_SEP))
		return NULL;
	return xasprintf("%s%s", to, name + n);
}

static bool rename_edit(struct mfolder_lines *ls, const void *varg)
{
	const struct rename_arg *a = varg;
	bool changed = false;

	for (size_t i = 0; i < ls->n;) {
		char *to = ls->v[i].name == NULL ? NULL : renamed(ls->v[i].name, a->from, a->to);
		unsigned bits = ls->v[i].bits;

		if (to == NULL) {
			i++;
			continue;
		}
		mfolder_lines_remove(ls, i);
		if (a->subs && mfolder_lines_find(ls, to) < 0)
			mfolder_subs_add(ls, to);
		else if (!a->subs)
			mfolder_special_set(ls, to, bits);
		free(to);
		changed = true; /* moved lines go to the end; to is never below from */
	}
	return changed;
}

int mfolder_side_rename(const char *root, bool subs, const char *from, const char *to,
			char **err_r)
{
	struct rename_arg a = {from, to, subs};

	return side_edit(root, subs, rename_edit, &a, err_r);
}

unsigned mfolder_special_use(mfolder *mf, const char *canon)
{
	struct mfolder_lines ls;
	char *err = NULL;
	long i;
	unsigned bits = mfolder_default_special(canon);

	if (mfolder_special_read(mf->root, &ls, &err) < 0) {
		free(err);
		return bits;
	}
	i = mfolder_lines_find(&ls, canon);
	if (i >= 0)
		bits |= ls.v[i].bits;
	mfolder_lines_free(&ls);
	return bits;
}
