/* mfolder_list.c: LIST and LSUB of lib/mfolder: reads the folder
 * directories of the Maildir root (one readdir and one stat per folder),
 * adds every parent level, the subscriptions and the special-use
 * attributes when the options ask for them, and keeps the names that
 * match the patterns and the RFC 5258 selection options. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mem.h"
#include "mfolder_int.h"

/* What a name is: a directory, a parent level without one, or only a
 * subscription (or the parent of one). */
enum node_kind { NODE_REAL, NODE_IMPLICIT, NODE_SUBONLY };

struct node {
	char *name;
	unsigned attrs;
	enum node_kind kind;
};

struct mfolder_list {
	struct node *v;
	size_t n, cap;
	struct mfolder_entry *out;
	size_t nout;
};

static void node_add(mfolder_list *l, const char *name, size_t len, enum node_kind kind,
		     unsigned attrs)
{
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 64 : l->cap * 2;
		l->v = xrealloc(l->v, l->cap * sizeof(l->v[0]));
	}
	l->v[l->n].name = xstrndup(name, len);
	l->v[l->n].attrs = attrs;
	l->v[l->n].kind = kind;
	l->n++;
}

static int name_cmp(const char *a, const char *b)
{
	bool ia = mfolder_is_inbox(a), ib = mfolder_is_inbox(b);

	if (ia || ib)
		return ia && ib ? 0 : ia ? -1 : 1;
	return strcmp(a, b);
}

static int node_cmp(const void *a, const void *b)
{
	return name_cmp(((const struct node *)a)->name, ((const struct node *)b)->name);
}

/* sort_merge: sorts the nodes and merges duplicates (the strongest kind,
 * all attributes). */
static void sort_merge(mfolder_list *l)
{
	size_t w = 0;

	qsort(l->v, l->n, sizeof(l->v[0]), node_cmp);
	for (size_t r = 0; r < l->n; r++) {
		if (w > 0 && strcmp(l->v[w - 1].name, l->v[r].name) == 0) {
			l->v[w - 1].attrs |= l->v[r].attrs;
			if (l->v[r].kind < l->v[w - 1].kind)
				l->v[w - 1].kind = l->v[r].kind;
			free(l->v[r].name);
			continue;
		}
		l->v[w++] = l->v[r];
	}
	l->n = w;
}

static struct node *node_find(const mfolder_list *l, const char *name)
{
	struct node key = {.name = (char *)name};

	return bsearch(&key, l->v, l->n, sizeof(l->v[0]), node_cmp);
}

/* add_parents: a node of kind for every parent level of name. */
static void add_parents(mfolder_list *l, const char *name, enum node_kind kind, unsigned attrs)
{
	for (const char *p = strchr(name, MFOLDER_SEP); p != NULL; p = strchr(p + 1, MFOLDER_SEP))
		node_add(l, name, (size_t)(p - name), kind, attrs);
}

/* is_dir: whether the entry is a directory (following a symlink). */
static bool is_dir(int dfd, const struct dirent *de)
{
	struct stat st;

	if (de->d_type == DT_DIR)
		return true;
	if (de->d_type != DT_UNKNOWN && de->d_type != DT_LNK)
		return false;
	return fstatat(dfd, de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
}

/* add_dir_entry: a folder node for one directory entry of the root. */
static void add_dir_entry(mfolder_list *l, int dfd, const struct dirent *de, buf *name)
{
	char cur[300];
	struct stat st;

	buf_reset(name);
	if (de->d_name[0] != MFOLDER_SEP || mfolder_name_of_dir(de->d_name, name) < 0 ||
	    !is_dir(dfd, de))
		return;
	snprintf(cur, sizeof(cur), "%s/cur", de->d_name);
	node_add(l, buf_cstr(name), buf_len(name), NODE_REAL,
		 fstatat(dfd, cur, &st, 0) == 0 ? 0 : MFOLDER_NOSELECT);
	add_parents(l, buf_cstr(name), NODE_IMPLICIT, 0);
}

static enum mfolder_result read_dirs(mfolder *mf, mfolder_list *l, char **err_r)
{
	DIR *d = opendir(mf->root);
	struct dirent *de;
	buf *name = buf_new(64);
	enum mfolder_result res = MFOLDER_OK;

	if (d == NULL) {
		*err_r = xasprintf("opendir %s: %s", mf->root, strerror(errno));
		buf_free(&name);
		return MFOLDER_ERR_TEMP;
	}
	node_add(l, "INBOX", 5, NODE_REAL, 0);
	while (errno = 0, (de = readdir(d)) != NULL) {
		if (l->n > MFOLDER_FOLDERS_MAX) {
			*err_r = xasprintf("%s: more than %d folders", mf->root, MFOLDER_FOLDERS_MAX);
			res = MFOLDER_ERR_LIMIT;
			break;
		}
		add_dir_entry(l, dirfd(d), de, name);
	}
	if (res == MFOLDER_OK && errno != 0) {
		*err_r = xasprintf("readdir %s: %s", mf->root, strerror(errno));
		res = MFOLDER_ERR_TEMP;
	}
	closedir(d);
	buf_free(&name);
	return res;
}

/* mark_children: \HasChildren / \HasNoChildren / \NonExistent of the
 * folder tree (subscription-only names are not part of it). */
static void mark_children(mfolder_list *l)
{
	buf *pname = buf_new(64);

	for (size_t i = 0; i < l->n; i++) {
		const char *dot = strrchr(l->v[i].name, MFOLDER_SEP);
		struct node *parent;

		if (dot == NULL)
			continue;
		buf_reset(pname);
		buf_append(pname, l->v[i].name, (size_t)(dot - l->v[i].name));
		parent = node_find(l, buf_cstr(pname));
		if (parent != NULL)
			parent->attrs |= MFOLDER_HASCHILDREN;
	}
	buf_free(&pname);
	for (size_t i = 0; i < l->n; i++) {
		if (!(l->v[i].attrs & MFOLDER_HASCHILDREN))
			l->v[i].attrs |= MFOLDER_HASNOCHILDREN;
		if (l->v[i].kind == NODE_IMPLICIT)
			l->v[i].attrs |= MFOLDER_NONEXISTENT;
	}
}

static enum mfolder_result add_subscriptions(mfolder *mf, mfolder_list *l, char **err_r)
{
	struct mfolder_lines ls;

	if (mfolder_subs_read(mf->root, &ls, err_r) < 0)
		return errno == EFBIG ? MFOLDER_ERR_LIMIT : MFOLDER_ERR_TEMP;
	for (size_t i = 0; i < ls.n; i++) {
		if (ls.v[i].name == NULL)
			continue;
		node_add(l, ls.v[i].name, strlen(ls.v[i].name), NODE_SUBONLY, MFOLDER_SUBSCRIBED);
		add_parents(l, ls.v[i].name, NODE_SUBONLY, MFOLDER_CHILD_SUBSCRIBED);
	}
	mfolder_lines_free(&ls);
	sort_merge(l);
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].kind == NODE_SUBONLY)
			l->v[i].attrs |= MFOLDER_NONEXISTENT;
	return MFOLDER_OK;
}

static void add_special_use(mfolder *mf, mfolder_list *l)
{
	struct mfolder_lines ls;
	char *err = NULL;
	struct node *nd;

	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].kind == NODE_REAL)
			l->v[i].attrs |= mfolder_default_special(l->v[i].name);
	if (mfolder_special_read(mf->root, &ls, &err) < 0) {
		free(err); /* a side file we cannot read: defaults only */
		return;
	}
	for (size_t i = 0; i < ls.n; i++)
		if (ls.v[i].name != NULL && (nd = node_find(l, ls.v[i].name)) != NULL &&
		    nd->kind == NODE_REAL)
			nd->attrs |= ls.v[i].bits;
	mfolder_lines_free(&ls);
}

/* lsub_attrs: whether node nd is listed by LSUB, and its attributes. */
static bool lsub_pick(const struct node *nd, bool percent, unsigned *attrs_r)
{
	bool noselect = nd->kind != NODE_REAL || (nd->attrs & MFOLDER_NOSELECT);

	if (nd->attrs & MFOLDER_SUBSCRIBED) {
		*attrs_r = noselect ? MFOLDER_NOSELECT : 0;
		return true;
	}
	*attrs_r = MFOLDER_NOSELECT;
	return percent && (nd->attrs & MFOLDER_CHILD_SUBSCRIBED);
}

/* list_pick: whether node nd is listed by LIST under the options, and
 * its attributes. */
static bool list_pick(const struct node *nd, unsigned sel, unsigned ret, unsigned *attrs_r)
{
	unsigned keep = MFOLDER_NOSELECT | MFOLDER_NONEXISTENT | MFOLDER_SPECIAL_MASK;

	if (sel & MFOLDER_SEL_SUBSCRIBED) {
		bool child = (sel & MFOLDER_SEL_RECURSIVEMATCH) &&
			     (nd->attrs & MFOLDER_CHILD_SUBSCRIBED);

		if (!(nd->attrs & MFOLDER_SUBSCRIBED) && !child)
			return false;
	} else if (nd->kind == NODE_SUBONLY) {
		return false;
	}
	if ((sel & MFOLDER_SEL_SPECIAL_USE) && !(nd->attrs & MFOLDER_SPECIAL_MASK))
		return false;
	if (nd->kind != NODE_SUBONLY)
		keep |= MFOLDER_HASCHILDREN | MFOLDER_HASNOCHILDREN;
	if ((sel & MFOLDER_SEL_SUBSCRIBED) || (ret & MFOLDER_RET_SUBSCRIBED))
		keep |= MFOLDER_SUBSCRIBED;
	if ((sel & MFOLDER_SEL_SUBSCRIBED) && (sel & MFOLDER_SEL_RECURSIVEMATCH))
		keep |= MFOLDER_CHILD_SUBSCRIBED;
	*attrs_r = nd->attrs & keep;
	return true;
}

static void pick(mfolder_list *l, const mfolder_match *m, unsigned sel, unsigned ret)
{
	bool lsub = (ret & MFOLDER_LSUB) != 0, percent = mfolder_match_has_percent_only(m);
	unsigned attrs;

	l->out = xcalloc(l->n + 1, sizeof(l->out[0]));
	for (size_t i = 0; i < l->n; i++) {
		const struct node *nd = &l->v[i];
		bool keep = lsub ? lsub_pick(nd, percent, &attrs) : list_pick(nd, sel, ret, &attrs);

		if (keep && mfolder_match_name(m, nd->name)) {
			l->out[l->nout].name = nd->name;
			l->out[l->nout].attrs = attrs;
			l->nout++;
		}
	}
}

enum mfolder_result mfolder_list_run(mfolder *mf, const mfolder_match *m, unsigned select,
				     unsigned ret, mfolder_list **list_r, char **err_r)
{
	mfolder_list *l = xcalloc(1, sizeof(*l));
	enum mfolder_result res = read_dirs(mf, l, err_r);

	if (res == MFOLDER_OK) {
		sort_merge(l);
		mark_children(l);
		if ((ret & (MFOLDER_LSUB | MFOLDER_RET_SUBSCRIBED)) ||
		    (select & MFOLDER_SEL_SUBSCRIBED))
			res = add_subscriptions(mf, l, err_r);
	}
	if (res != MFOLDER_OK) {
		mfolder_list_free(&l);
		return res;
	}
	if (!(ret & MFOLDER_LSUB))
		add_special_use(mf, l);
	pick(l, m, select, ret);
	*list_r = l;
	return MFOLDER_OK;
}

size_t mfolder_list_count(const mfolder_list *l)
{
	return l->nout;
}

const struct mfolder_entry *mfolder_list_entry(const mfolder_list *l, size_t i)
{
	return &l->out[i];
}

void mfolder_list_free(mfolder_list **lp)
{
	mfolder_list *l = *lp;

	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	free(l->out);
	free(l);
	*lp = NULL;
}

void mfolder_quote(buf *out, const char *name)
{
	buf_putc(out, '"');
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_putc(out, '\\');
		buf_putc(out, *p);
	}
	buf_putc(out, '"');
}

static void put_attr(buf *out, const char *attr)
{
	if (buf_cstr(out)[buf_len(out) - 1] != '(')
		buf_putc(out, ' ');
	buf_puts(out, attr);
}

void mfolder_format(buf *out, const char *verb, const struct mfolder_entry *e, unsigned fmt)
{
	bool ext = (fmt & MFOLDER_FMT_EXTENDED) != 0;

	buf_printf(out, "* %s (", verb);
	if (e->attrs & MFOLDER_NONEXISTENT)
		put_attr(out, ext ? "\\NonExistent" : "\\Noselect");
	else if (e->attrs & MFOLDER_NOSELECT)
		put_attr(out, "\\Noselect");
	if (e->attrs & MFOLDER_HASCHILDREN)
		put_attr(out, "\\HasChildren");
	if (e->attrs & MFOLDER_HASNOCHILDREN)
		put_attr(out, "\\HasNoChildren");
	if (e->attrs & MFOLDER_SUBSCRIBED)
		put_attr(out, "\\Subscribed");
	for (unsigned bit = 1u << 8; bit & MFOLDER_SPECIAL_MASK; bit <<= 1)
		if (e->attrs & bit)
			put_attr(out, mfolder_special_name(bit));
	buf_printf(out, ") \"%c\" ", MFOLDER_SEP);
	mfolder_quote(out, e->name);
	if (ext && (e->attrs & MFOLDER_CHILD_SUBSCRIBED))
		buf_puts(out, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	buf_puts(out, "\r\n");
}
