/* test_mfolder.c: unit tests for lib/mfolder: tables of wire names (valid
 * with their canonical form, refused ones), of LIST patterns against
 * names, and folder operations in a scratch Maildir under /tmp checked
 * through the LIST/LSUB lines they produce and the files on disk
 * (subscriptions in both Dovecot formats, postern-special-use, DELETE's
 * quota line, RENAME of INBOX). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "md.h"
#include "mem.h"
#include "mfolder.h"

/* ---- names ---- */

static const struct {
	const char *in, *canon; /* canon NULL: refused */
} names[] = {
	{"INBOX", "INBOX"},
	{"inbox", "INBOX"},
	{"InBoX.Sub", "INBOX.Sub"},
	{"INBOXes", "INBOXes"},
	{"Sent", "Sent"},
	{"a.b.c", "a.b.c"},
	{"Entw&APw-rfe", "Entw&APw-rfe"},
	{"a b", "a b"},
	{"&-", "&-"},
	{"", NULL},
	{".", NULL},
	{"..", NULL},
	{".a", NULL},
	{"a.", NULL},
	{"a..b", NULL},
	{"a/b", NULL},
	{"../x", NULL},
	{"a*", NULL},
	{"a%b", NULL},
	{"a\tb", NULL},
	{"a\x7f", NULL},
	{"caf\xc3\xa9", NULL},
	{"a&b", NULL},
	{"&AGE-", NULL}, /* 'a' encoded: not minimal */
	{"&U,BTFw", NULL},
};

static void test_names(void **state)
{
	buf *b = buf_new(64);
	const char *reason;

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int rc;

		buf_reset(b);
		reason = NULL;
		rc = mfolder_name_check(names[i].in, strlen(names[i].in), b, &reason);
		if (names[i].canon == NULL) {
			if (rc != -1)
				fail_msg("accepted %s", names[i].in);
			assert_non_null(reason);
			assert_int_equal(buf_len(b), 0);
		} else {
			if (rc != 0)
				fail_msg("refused %s: %s", names[i].in, reason);
			assert_string_equal(buf_cstr(b), names[i].canon);
		}
	}
	buf_free(&b);
}

static void test_name_limits(void **state)
{
	char longname[MFOLDER_NAME_MAX + 2], deep[2 * MFOLDER_DEPTH_MAX + 2];
	buf *b = buf_new(64);
	const char *reason;

	(void)state;
	memset(longname, 'x', sizeof(longname));
	assert_int_equal(mfolder_name_check(longname, MFOLDER_NAME_MAX, b, &reason), 0);
	buf_reset(b);
	assert_int_equal(mfolder_name_check(longname, MFOLDER_NAME_MAX + 1, b, &reason), -1);
	assert_string_equal(reason, "folder name too long");
	for (size_t i = 0; i < sizeof(deep); i++)
		deep[i] = i % 2 ? '.' : 'a';
	assert_int_equal(mfolder_name_check(deep, 2 * MFOLDER_DEPTH_MAX - 1, b, &reason), 0);
	buf_reset(b);
	assert_int_equal(mfolder_name_check(deep, 2 * MFOLDER_DEPTH_MAX + 1, b, &reason), -1);
	assert_non_null(strstr(reason, "levels"));
	buf_free(&b);
}

static void test_create_name(void **state)
{
	static const struct {
		const char *in, *canon;
	} t[] = {
		{"a.", "a"},       {"a.b.", "a.b"}, {"inbox.", "INBOX"}, {"a..", NULL},
		{".", NULL},       {"DOVECOT-TRASHED", NULL}, {"DOVECOT-TRASHED.x", "DOVECOT-TRASHED.x"},
		{"a", "a"},
	};
	buf *b = buf_new(16);
	const char *reason;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc;

		buf_reset(b);
		rc = mfolder_create_name(t[i].in, strlen(t[i].in), b, &reason);
		if (t[i].canon == NULL) {
			if (rc != -1)
				fail_msg("accepted %s", t[i].in);
		} else {
			if (rc != 0)
				fail_msg("refused %s: %s", t[i].in, reason);
			assert_string_equal(buf_cstr(b), t[i].canon);
		}
	}
	buf_free(&b);
}

static void test_dir_names(void **state)
{
	static const struct {
		const char *dirent, *name;
	} t[] = {
		{".a", "a"},         {".a.b", "a.b"},  {".INBOX.x", "INBOX.x"},
		{".inbox.x", NULL},  {".INBOX", NULL}, {".", NULL},
		{"..", NULL},        {"...", NULL},    {"cur", NULL},
		{"dovecot.index", NULL}, {".a..b", NULL}, {".a.", NULL},
		{".DOVECOT-TRASHED", NULL},
	};
	buf *b = buf_new(64);
	char *d;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		buf_reset(b);
		if (t[i].name == NULL) {
			if (mfolder_name_of_dir(t[i].dirent, b) != -1)
				fail_msg("accepted %s", t[i].dirent);
			continue;
		}
		assert_int_equal(mfolder_name_of_dir(t[i].dirent, b), 0);
		assert_string_equal(buf_cstr(b), t[i].name);
		d = mfolder_dir_name(t[i].name);
		assert_string_equal(d, t[i].dirent);
		free(d);
	}
	d = mfolder_dir_name("INBOX");
	assert_string_equal(d, "");
	free(d);
	buf_free(&b);
}

/* ---- patterns ---- */

static const struct {
	const char *ref, *pat, *name;
	bool match;
} matches[] = {
	{"", "*", "INBOX", true},
	{"", "*", "a.b.c", true},
	{"", "%", "a", true},
	{"", "%", "a.b", false},
	{"", "a.%", "a.b", true},
	{"", "a.%", "a.b.c", false},
	{"", "a.*", "a.b.c", true},
	{"", "a.*", "a", false},
	{"a.", "%", "a.b", true},
	{"a.", "%", "a", false},
	{"a", "*", "ab", true},
	{"", "inbox", "INBOX", true},
	{"", "Inbox.%", "INBOX.x", true},
	{"", "inb*", "INBOX", true},
	{"", "inbox", "inbox2", false},
	{"", "sent", "Sent", false},
	{"", "S%t", "Sent", true},
	{"", "%.%", "a.b", true},
	{"", "%.%", "a.b.c", false},
	{"", "*.c", "a.b.c", true},
	{"", "*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*x", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	{"", "", "INBOX", false},
	{"", "a&-", "a&-", true},
};

static void test_match(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(matches) / sizeof(matches[0]); i++) {
		mfolder_match *m = mfolder_match_new(matches[i].ref, strlen(matches[i].ref));
		const char *reason;

		assert_int_equal(mfolder_match_add(m, matches[i].pat, strlen(matches[i].pat), &reason),
				 0);
		if (mfolder_match_name(m, matches[i].name) != matches[i].match)
			fail_msg("ref %s pattern %s name %s: expected %d", matches[i].ref,
				 matches[i].pat, matches[i].name, matches[i].match);
		mfolder_match_free(&m);
		assert_null(m);
	}
}

static void test_match_limits(void **state)
{
	mfolder_match *m = mfolder_match_new("", 0);
	char big[MFOLDER_PATTERN_MAX + 1];
	const char *reason;
	buf *b = buf_new(16);

	(void)state;
	memset(big, '*', sizeof(big));
	assert_int_equal(mfolder_match_add(m, big, sizeof(big), &reason), -1);
	for (int i = 0; i < MFOLDER_PATTERNS_MAX; i++)
		assert_int_equal(mfolder_match_add(m, "x", 1, &reason), 0);
	assert_int_equal(mfolder_match_add(m, "y", 1, &reason), -1);
	assert_non_null(reason);
	mfolder_match_free(&m);
	mfolder_list_root("a.b", 3, b);
	assert_string_equal(buf_cstr(b), "a.");
	buf_reset(b);
	mfolder_list_root("", 0, b);
	assert_string_equal(buf_cstr(b), "");
	buf_free(&b);
}

static void test_options(void **state)
{
	(void)state;
	assert_int_equal(mfolder_select_option("subscribed", 10), MFOLDER_SEL_SUBSCRIBED);
	assert_int_equal(mfolder_select_option("RecursiveMatch", 14), MFOLDER_SEL_RECURSIVEMATCH);
	assert_int_equal(mfolder_select_option("SPECIAL-USE", 11), MFOLDER_SEL_SPECIAL_USE);
	assert_int_equal(mfolder_select_option("REMOTE", 6), MFOLDER_SEL_REMOTE);
	assert_int_equal(mfolder_select_option("CHILDREN", 8), 0);
	assert_int_equal(mfolder_return_option("children", 8), MFOLDER_RET_CHILDREN);
	assert_int_equal(mfolder_return_option("SUBSCRIBED", 10), MFOLDER_RET_SUBSCRIBED);
	assert_int_equal(mfolder_return_option("SPECIAL-USE", 11), MFOLDER_RET_SPECIAL_USE);
	assert_int_equal(mfolder_return_option("STATUS", 6), 0);
	assert_int_equal(mfolder_return_option("SUBSCRIBEDX", 11), 0);
	assert_false(mfolder_select_valid(MFOLDER_SEL_RECURSIVEMATCH));
	assert_false(mfolder_select_valid(MFOLDER_SEL_RECURSIVEMATCH | MFOLDER_SEL_REMOTE));
	assert_true(mfolder_select_valid(MFOLDER_SEL_RECURSIVEMATCH | MFOLDER_SEL_SUBSCRIBED));
	assert_true(mfolder_select_valid(0));
}

/* ---- a scratch Maildir ---- */

struct fx {
	char root[64];
	mfolder *mf;
};

static int fx_setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char *err = NULL;

	strcpy(f->root, "/tmp/test_mfolder.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	assert_int_equal(md_create(f->root, false, &err), 0);
	assert_int_equal(mfolder_open(f->root, &f->mf, &err), 0);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	mfolder_free(&f->mf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* listing: the LIST/LSUB lines for ref/pattern (patterns separated by
 * '|') as one string (heap). */
static char *listing(struct fx *f, const char *pats, unsigned sel, unsigned ret, unsigned fmt)
{
	mfolder_match *m = mfolder_match_new("", 0);
	mfolder_list *l = NULL;
	buf *out = buf_new(256);
	char *err = NULL, *copy = xstrdup(pats), *save = NULL;
	const char *reason;

	for (char *p = strtok_r(copy, "|", &save); p != NULL; p = strtok_r(NULL, "|", &save))
		assert_int_equal(mfolder_match_add(m, p, strlen(p), &reason), 0);
	assert_int_equal(mfolder_list_run(f->mf, m, sel, ret, &l, &err), MFOLDER_OK);
	for (size_t i = 0; i < mfolder_list_count(l); i++)
		mfolder_format(out, (ret & MFOLDER_LSUB) ? "LSUB" : "LIST", mfolder_list_entry(l, i),
			       fmt);
	mfolder_list_free(&l);
	mfolder_match_free(&m);
	free(copy);
	return buf_steal_free(&out);
}

static void expect_list(struct fx *f, const char *pats, unsigned sel, unsigned ret, unsigned fmt,
			const char *want)
{
	char *got = listing(f, pats, sel, ret, fmt);

	if (strcmp(got, want) != 0)
		fail_msg("LIST %s:\ngot:\n%swant:\n%s", pats, got, want);
	free(got);
}

static void create_ok(struct fx *f, const char *name, unsigned special)
{
	const char *reason = NULL;
	char *err = NULL;
	enum mfolder_result res = mfolder_create(f->mf, name, special, &reason, &err);

	if (res != MFOLDER_OK)
		fail_msg("create %s: %s %s", name, reason, err ? err : "");
}

static char *slurp(struct fx *f, const char *rel)
{
	char *path = fs_join(f->root, rel), *err = NULL;
	buf *b = buf_new(64);

	if (fs_read_file(path, b, 1 << 20, &err) < 0) {
		free(err);
		buf_free(&b);
		free(path);
		return NULL;
	}
	free(path);
	return buf_steal_free(&b);
}

static void put(struct fx *f, const char *rel, const char *text)
{
	char *path = fs_join(f->root, rel), *err = NULL;

	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0600, &err), 0);
	free(path);
}

static bool is_dir(struct fx *f, const char *rel)
{
	char *path = fs_join(f->root, rel);
	struct stat st;
	bool ok = stat(path, &st) == 0 && S_ISDIR(st.st_mode);

	free(path);
	return ok;
}

static void test_create_list(void **state)
{
	struct fx *f = *state;
	const char *reason;
	char *err = NULL, *s;

	create_ok(f, "a", 0);
	create_ok(f, "a.b", 0);
	create_ok(f, "Sent", 0);
	create_ok(f, "x.y.z", 0);
	assert_true(is_dir(f, ".a/cur") && is_dir(f, ".a/new") && is_dir(f, ".a/tmp"));
	s = slurp(f, ".a.b/maildirfolder");
	assert_non_null(s);
	free(s);
	assert_false(is_dir(f, ".x"));
	assert_int_equal(mfolder_create(f->mf, "a", 0, &reason, &err), MFOLDER_ERR_EXISTS);
	assert_int_equal(mfolder_create(f->mf, "INBOX", 0, &reason, &err), MFOLDER_ERR_EXISTS);
	assert_string_equal(mfolder_result_code(MFOLDER_ERR_EXISTS), "ALREADYEXISTS");
	/* Dovecot's and stray files are no folders */
	put(f, "dovecot.index.log", "x");
	put(f, "dovecot-uidlist", "3 V1 N1\n");
	assert_int_equal(mkdir("/tmp", 0700) == 0 || errno == EEXIST, 1);
	s = fs_join(f->root, ".inbox.bad");
	assert_int_equal(mkdir(s, 0700), 0);
	free(s);
	expect_list(f, "*", 0, 0, 0,
		    "* LIST (\\HasNoChildren) \".\" \"INBOX\"\r\n"
		    "* LIST (\\HasNoChildren \\Sent) \".\" \"Sent\"\r\n"
		    "* LIST (\\HasChildren) \".\" \"a\"\r\n"
		    "* LIST (\\HasNoChildren) \".\" \"a.b\"\r\n"
		    "* LIST (\\Noselect \\HasChildren) \".\" \"x\"\r\n"
		    "* LIST (\\Noselect \\HasChildren) \".\" \"x.y\"\r\n"
		    "* LIST (\\HasNoChildren) \".\" \"x.y.z\"\r\n");
	expect_list(f, "%", 0, 0, MFOLDER_FMT_EXTENDED,
		    "* LIST (\\HasNoChildren) \".\" \"INBOX\"\r\n"
		    "* LIST (\\HasNoChildren \\Sent) \".\" \"Sent\"\r\n"
		    "* LIST (\\HasChildren) \".\" \"a\"\r\n"
		    "* LIST (\\NonExistent \\HasChildren) \".\" \"x\"\r\n");
	expect_list(f, "inbox|a.%", 0, 0, 0,
		    "* LIST (\\HasNoChildren) \".\" \"INBOX\"\r\n"
		    "* LIST (\\HasNoChildren) \".\" \"a.b\"\r\n");
	expect_list(f, "nothing", 0, 0, 0, "");
	assert_int_equal(mfolder_exists(f->mf, "a.b"), 1);
	assert_int_equal(mfolder_exists(f->mf, "INBOX"), 1);
	assert_int_equal(mfolder_exists(f->mf, "x"), 0);
	assert_int_equal(mfolder_exists(f->mf, "nope"), 0);
}

static void test_special_use(void **state)
{
	struct fx *f = *state;
	const char *reason;
	char *err = NULL, *s;

	create_ok(f, "Stuff", MFOLDER_FLAGGED | MFOLDER_ARCHIVE);
	create_ok(f, "Trash", 0);
	create_ok(f, "Plain", 0);
	assert_int_equal(mfolder_create(f->mf, "Bad", 1, &reason, &err), MFOLDER_ERR_USEATTR);
	assert_false(is_dir(f, ".Bad"));
	s = slurp(f, MFOLDER_SPECIAL_USE);
	assert_string_equal(s, "Stuff\t\\Archive \\Flagged\n");
	free(s);
	assert_int_equal(mfolder_special_use(f->mf, "Stuff"), MFOLDER_FLAGGED | MFOLDER_ARCHIVE);
	assert_int_equal(mfolder_special_use(f->mf, "Trash"), MFOLDER_TRASH);
	assert_int_equal(mfolder_special_parse("\\junk", 5), MFOLDER_JUNK);
	assert_int_equal(mfolder_special_parse("\\Junkx", 6), 0);
	expect_list(f, "*", MFOLDER_SEL_SPECIAL_USE, MFOLDER_RET_SPECIAL_USE, MFOLDER_FMT_EXTENDED,
		    "* LIST (\\HasNoChildren \\Archive \\Flagged) \".\" \"Stuff\"\r\n"
		    "* LIST (\\HasNoChildren \\Trash) \".\" \"Trash\"\r\n");
	/* DELETE drops the entry, so a new folder of that name is plain */
	assert_int_equal(mfolder_delete(f->mf, "Stuff", &reason, &err), MFOLDER_OK);
	s = slurp(f, MFOLDER_SPECIAL_USE);
	assert_string_equal(s, "");
	free(s);
	create_ok(f, "Stuff", 0);
	assert_int_equal(mfolder_special_use(f->mf, "Stuff"), 0);
}

/* count_entries: entries of root/rel but . and .. */
static int count_entries(struct fx *f, const char *rel)
{
	char cmd[160];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A %s/%s | wc -l", f->root, rel);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

static void test_delete(void **state)
{
	struct fx *f = *state;
	const char *reason;
	char *err = NULL, *s;

	create_ok(f, "a", 0);
	create_ok(f, "a.b", 0);
	put(f, ".a/cur/1.M1.host,S=100:2,S", "0123456789");
	put(f, ".a/new/2.M2.host,S=50", "01234");
	put(f, "maildirsize", "1000S\n150 2\n");
	assert_int_equal(mfolder_delete(f->mf, "INBOX", &reason, &err), MFOLDER_ERR_INBOX);
	assert_int_equal(mfolder_delete(f->mf, "a", &reason, &err), MFOLDER_OK);
	assert_false(is_dir(f, ".a"));
	assert_true(is_dir(f, ".a.b"));
	assert_int_equal(count_entries(f, "tmp"), 0);
	s = slurp(f, "maildirsize");
	assert_string_equal(s, "1000S\n150 2\n-15 -2\n");
	free(s);
	expect_list(f, "*", 0, 0, 0,
		    "* LIST (\\HasNoChildren) \".\" \"INBOX\"\r\n"
		    "* LIST (\\Noselect \\HasChildren) \".\" \"a\"\r\n"
		    "* LIST (\\HasNoChildren) \".\" \"a.b\"\r\n");
	assert_int_equal(mfolder_delete(f->mf, "a", &reason, &err), MFOLDER_ERR_NONEXISTENT);
	assert_string_equal(mfolder_result_code(MFOLDER_ERR_NONEXISTENT), "NONEXISTENT");
	assert_int_equal(mfolder_delete(f->mf, "a.b", &reason, &err), MFOLDER_OK);
	expect_list(f, "*", 0, 0, 0, "* LIST (\\HasNoChildren) \".\" \"INBOX\"\r\n");
}

static void test_delete_leftover(void **state)
{
	struct fx *f = *state;
	const char *reason;
	char *err = NULL, *old = fs_join(f->root, "tmp/postern-deleted.1.1.0");
	char *young = fs_join(f->root, "tmp/postern-deleted.2.2.0");
	struct timeval tv[2] = {{1000, 0}, {1000, 0}};

	assert_int_equal(md_create(old, true, &err), 0);
	assert_int_equal(utimes(old, tv), 0);
	assert_int_equal(mkdir(young, 0700), 0);
	create_ok(f, "gone", 0);
	assert_int_equal(mfolder_delete(f->mf, "gone", &reason, &err), MFOLDER_OK);
	assert_false(is_dir(f, "tmp/postern-deleted.1.1.0"));
	assert_true(is_dir(f, "tmp/postern-deleted.2.2.0"));
	free(old);
	free(young);
}

static void test_rename(void **state)
{
	struct fx *f = *state;
	const char *reason;
	char *err = NULL, *s;

	create_ok(f, "a", MFOLDER_DRAFTS);
	create_ok(f, "a.b", 0);
	create_ok(f, "a.b.c", 0);
	create_ok(f, "ab", 0);
	create_ok(f, "z", 0);
	assert_int_equal(mfolder_subscribe(f->mf, "a.b", true, &reason, &err), MFOLDER_OK);
	assert_int_equal(mfolder_subscribe(f->mf, "ab", true, &reason, &err), MFOLDER_OK);
	assert_int_equal(mfolder_rename(f->mf, "a", "a.x", &reason, &err), MFOLDER_ERR_NAME);
	assert_int_equal(mfolder_rename(f->mf, "a", "z", &reason, &err), MFOLDER_ERR_EXISTS);
	assert_int_equal(mfolder_rename(f->mf, "a", "INBOX", &reason, &err), MFOLDER_ERR_EXISTS);
	assert_int_equal(mfolder_rename(f->mf, "nope", "q", &reason, &err),
			 MFOLDER_ERR_NONEXISTENT);
	assert_int_equal(mfolder_rename(f->mf, "a", "n.m", &reason, &err), MFOLDER_OK);
	assert_true(is_dir(f, ".n.m") && is_dir(f, ".n.m.b") && is_dir(f, ".n.m.b.c"));
	assert_true(is_dir(f, ".ab"));
	s = slurp(f, MFOLDER_SUBSCRIPTIONS);
	assert_string_equal(s, "ab\nn.m.b\n");
	free(s);
	assert_int_equal(mfolder_special_use(f->mf, "n.m"), MFOLDER_DRAFTS);
	expect_list(f, "*", 0, 0, 0,
		    "* LIST (\\HasNoChildren) \".\" \"INBOX\"\r\n"
		    "* LIST (\\HasNoChildren) \".\" \"ab\"\r\n"
		    "* LIST (\\Noselect \\HasChildren) \".\" \"n\"\r\n"
		    "* LIST (\\HasChildren \\Drafts) \".\" \"n.m\"\r\n"
		    "* LIST (\\HasChildren) \".\" \"n.m.b\"\r\n"
		    "* LIST (\\HasNoChildren) \".\" \"n.m.b.c\"\r\n"
		    "* LIST (\\HasNoChildren) \".\" \"z\"\r\n");
	/* a child's new name already taken: nothing moves */
	create_ok(f, "q.b", 0);
	assert_int_equal(mfolder_rename(f->mf, "n.m", "q", &reason, &err), MFOLDER_ERR_EXISTS);
	assert_true(is_dir(f, ".n.m") && is_dir(f, ".n.m.b") && !is_dir(f, ".q"));
	create_ok(f, "k", 0);
	create_ok(f, "k.b", 0);
	create_ok(f, "w.b", 0);
	assert_int_equal(mfolder_rename(f->mf, "k", "w", &reason, &err), MFOLDER_ERR_EXISTS);
	assert_true(is_dir(f, ".k") && is_dir(f, ".k.b"));
	/* a default special-use name keeps its attribute under its new name */
	create_ok(f, "Sent", 0);
	assert_int_equal(mfolder_rename(f->mf, "Sent", "Sent Items", &reason, &err), MFOLDER_OK);
	assert_int_equal(mfolder_special_use(f->mf, "Sent Items"), MFOLDER_SENT);
	/* a child's new name over MFOLDER_NAME_MAX: refused, nothing moved */
	{
		char child[MFOLDER_NAME_MAX + 1];

		memset(child, 'c', sizeof(child));
		memcpy(child, "s.", 2);
		child[MFOLDER_NAME_MAX - 1] = '\0';
		create_ok(f, "s", 0);
		create_ok(f, child, 0);
		assert_int_equal(mfolder_rename(f->mf, "s", "sss", &reason, &err), MFOLDER_ERR_NAME);
		assert_true(is_dir(f, ".s") && !is_dir(f, ".sss"));
	}
	/* renaming a parent without directory moves its children */
	create_ok(f, "p.q", 0);
	assert_int_equal(mfolder_rename(f->mf, "p", "r", &reason, &err), MFOLDER_OK);
	assert_true(is_dir(f, ".r.q") && !is_dir(f, ".p.q") && !is_dir(f, ".r"));
}

static void test_rename_inbox(void **state)
{
	struct fx *f = *state;
	const char *reason;
	char *err = NULL, *s;

	create_ok(f, "INBOX.kid", 0);
	put(f, "new/1.M1.h,S=3", "abc");
	put(f, "cur/2.M2.h,S=3:2,Sa", "def");
	put(f, "dovecot-keywords", "0 $Label1\n");
	assert_int_equal(mfolder_rename(f->mf, "INBOX", "Old", &reason, &err), MFOLDER_OK);
	assert_int_equal(count_entries(f, "new"), 0);
	assert_int_equal(count_entries(f, "cur"), 0);
	assert_int_equal(count_entries(f, ".Old/new"), 1);
	assert_int_equal(count_entries(f, ".Old/cur"), 1);
	s = slurp(f, ".Old/dovecot-keywords");
	assert_string_equal(s, "0 $Label1\n");
	free(s);
	assert_true(is_dir(f, ".INBOX.kid"));
	assert_int_equal(mfolder_rename(f->mf, "INBOX", "Old", &reason, &err), MFOLDER_ERR_EXISTS);
}

static void test_subscriptions(void **state)
{
	struct fx *f = *state;
	const char *reason;
	char *err = NULL, *s;

	create_ok(f, "a", 0);
	create_ok(f, "a.b", 0);
	create_ok(f, "c", 0);
	assert_int_equal(mfolder_subscribe(f->mf, "a.b", true, &reason, &err), MFOLDER_OK);
	assert_int_equal(mfolder_subscribe(f->mf, "gone.x", true, &reason, &err), MFOLDER_OK);
	assert_int_equal(mfolder_subscribe(f->mf, "INBOX", true, &reason, &err), MFOLDER_OK);
	assert_int_equal(mfolder_subscribe(f->mf, "INBOX", true, &reason, &err), MFOLDER_OK);
	s = slurp(f, MFOLDER_SUBSCRIPTIONS);
	assert_string_equal(s, "a.b\ngone.x\nINBOX\n");
	free(s);
	expect_list(f, "*", 0, MFOLDER_LSUB, 0,
		    "* LSUB () \".\" \"INBOX\"\r\n"
		    "* LSUB () \".\" \"a.b\"\r\n"
		    "* LSUB (\\Noselect) \".\" \"gone.x\"\r\n");
	expect_list(f, "%", 0, MFOLDER_LSUB, 0,
		    "* LSUB () \".\" \"INBOX\"\r\n"
		    "* LSUB (\\Noselect) \".\" \"a\"\r\n"
		    "* LSUB (\\Noselect) \".\" \"gone\"\r\n");
	expect_list(f, "*", MFOLDER_SEL_SUBSCRIBED, 0, MFOLDER_FMT_EXTENDED,
		    "* LIST (\\HasNoChildren \\Subscribed) \".\" \"INBOX\"\r\n"
		    "* LIST (\\HasNoChildren \\Subscribed) \".\" \"a.b\"\r\n"
		    "* LIST (\\NonExistent \\Subscribed) \".\" \"gone.x\"\r\n");
	expect_list(f, "%", MFOLDER_SEL_SUBSCRIBED | MFOLDER_SEL_RECURSIVEMATCH, 0,
		    MFOLDER_FMT_EXTENDED,
		    "* LIST (\\HasNoChildren \\Subscribed) \".\" \"INBOX\"\r\n"
		    "* LIST (\\HasChildren) \".\" \"a\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
		    "* LIST (\\NonExistent) \".\" \"gone\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n");
	expect_list(f, "*", 0, MFOLDER_RET_SUBSCRIBED, MFOLDER_FMT_EXTENDED,
		    "* LIST (\\HasNoChildren \\Subscribed) \".\" \"INBOX\"\r\n"
		    "* LIST (\\HasChildren) \".\" \"a\"\r\n"
		    "* LIST (\\HasNoChildren \\Subscribed) \".\" \"a.b\"\r\n"
		    "* LIST (\\HasNoChildren) \".\" \"c\"\r\n");
	assert_int_equal(mfolder_subscribe(f->mf, "gone.x", false, &reason, &err), MFOLDER_OK);
	assert_int_equal(mfolder_subscribe(f->mf, "never", false, &reason, &err), MFOLDER_OK);
	s = slurp(f, MFOLDER_SUBSCRIPTIONS);
	assert_string_equal(s, "a.b\nINBOX\n");
	free(s);
	assert_null(slurp(f, "subscriptions.lock"));
}

/* Dovecot's version 2 subscriptions: read, and kept v2 when rewritten;
 * lines naming no valid folder are kept; a stale lock is broken. */
static void test_subscriptions_v2(void **state)
{
	struct fx *f = *state;
	struct timeval tv[2] = {{1000, 0}, {1000, 0}};
	const char *reason;
	char *err = NULL, *s, *lock = fs_join(f->root, "subscriptions.lock");

	put(f, MFOLDER_SUBSCRIPTIONS, "V\t2\n\nfoo\tbar\nINBOX\nbad/name\n");
	put(f, "subscriptions.lock", "");
	assert_int_equal(utimes(lock, tv), 0);
	expect_list(f, "*", 0, MFOLDER_LSUB, 0,
		    "* LSUB () \".\" \"INBOX\"\r\n"
		    "* LSUB (\\Noselect) \".\" \"foo.bar\"\r\n");
	assert_int_equal(mfolder_subscribe(f->mf, "x.y", true, &reason, &err), MFOLDER_OK);
	assert_int_equal(mfolder_subscribe(f->mf, "foo.bar", false, &reason, &err), MFOLDER_OK);
	s = slurp(f, MFOLDER_SUBSCRIPTIONS);
	assert_string_equal(s, "V\t2\n\nINBOX\nbad/name\nx\ty\n");
	free(s);
	free(lock);
}

/* Several processes at once: every subscription lands (the dot-lock),
 * and of several CREATEs of one name exactly one succeeds. */
static void test_processes(void **state)
{
	struct fx *f = *state;
	enum { KIDS = 6, EACH = 8 };
	pid_t pids[KIDS];
	int created = 0, exists = 0;
	char *s;

	for (int k = 0; k < KIDS; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0) {
			const char *reason;
			char *err = NULL, name[32];
			enum mfolder_result res = mfolder_create(f->mf, "Same", 0, &reason, &err);

			for (int i = 0; i < EACH; i++) {
				snprintf(name, sizeof(name), "k%d.n%d", k, i);
				if (mfolder_subscribe(f->mf, name, true, &reason, &err) != MFOLDER_OK)
					_exit(3);
			}
			_exit(res == MFOLDER_OK ? 0 : res == MFOLDER_ERR_EXISTS ? 1 : 2);
		}
	}
	for (int k = 0; k < KIDS; k++) {
		int st;

		assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
		assert_true(WIFEXITED(st));
		assert_true(WEXITSTATUS(st) <= 1);
		created += WEXITSTATUS(st) == 0;
		exists += WEXITSTATUS(st) == 1;
	}
	assert_int_equal(created, 1);
	assert_int_equal(exists, KIDS - 1);
	s = slurp(f, MFOLDER_SUBSCRIPTIONS);
	for (int k = 0; k < KIDS; k++)
		for (int i = 0; i < EACH; i++) {
			char line[40];

			snprintf(line, sizeof(line), "k%d.n%d\n", k, i);
			if (strstr(s, line) == NULL)
				fail_msg("lost subscription %s", line);
		}
	assert_int_equal(strlen(s), (size_t)KIDS * EACH * strlen("k0.n0\n"));
	free(s);
	assert_int_equal(count_entries(f, "tmp"), 0);
}

static void test_defaults(void **state)
{
	struct fx *f = *state;
	char *err = NULL, *s;

	assert_int_equal(mfolder_create_defaults(f->root, &err), 0);
	assert_int_equal(mfolder_create_defaults(f->root, &err), 0);
	s = slurp(f, MFOLDER_SUBSCRIPTIONS);
	assert_string_equal(s, "Sent\nDrafts\nTrash\nJunk\nArchive\n");
	free(s);
	expect_list(f, "*", 0, 0, 0,
		    "* LIST (\\HasNoChildren) \".\" \"INBOX\"\r\n"
		    "* LIST (\\HasNoChildren \\Archive) \".\" \"Archive\"\r\n"
		    "* LIST (\\HasNoChildren \\Drafts) \".\" \"Drafts\"\r\n"
		    "* LIST (\\HasNoChildren \\Junk) \".\" \"Junk\"\r\n"
		    "* LIST (\\HasNoChildren \\Sent) \".\" \"Sent\"\r\n"
		    "* LIST (\\HasNoChildren \\Trash) \".\" \"Trash\"\r\n");
	assert_int_equal(mfolder_create_defaults("/nonexistent/dir", &err), -1);
	assert_non_null(err);
	free(err);
}

static void test_quote(void **state)
{
	buf *b = buf_new(16);
	struct mfolder_entry e = {"a\"b\\c", MFOLDER_NOSELECT};

	(void)state;
	mfolder_format(b, "LIST", &e, 0);
	assert_string_equal(buf_cstr(b), "* LIST (\\Noselect) \".\" \"a\\\"b\\\\c\"\r\n");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_name_limits),
		cmocka_unit_test(test_dir_names),
		cmocka_unit_test(test_create_name),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_match_limits),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_options),
		cmocka_unit_test_setup_teardown(test_create_list, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_special_use, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_delete, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_delete_leftover, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rename, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rename_inbox, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_subscriptions, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_subscriptions_v2, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_processes, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_defaults, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
