/* test_mapedit.c: unit tests for lib/mapedit.c: a table of edits (set,
 * replace, delete, duplicates, continuation lines, comments kept byte for
 * byte, a file without a final newline, a missing file), refused keys and
 * values, listing in file order, and the rebuilt .db answering lookups.
 * Every test works in its own mkdtemp directory, removed afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "map.h"
#include "mapedit.h"
#include "mem.h"

struct fixture {
	char dir[64];
	char *path;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test_mapedit.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	f->path = xasprintf("%s/map", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	DIR *d = opendir(f->dir);
	struct dirent *de;

	while (d != NULL && (de = readdir(d)) != NULL) {
		char *p;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		p = xasprintf("%s/%s", f->dir, de->d_name);
		unlink(p);
		free(p);
	}
	if (d != NULL)
		closedir(d);
	rmdir(f->dir);
	free(f->path);
	free(f);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
}

static char *read_file(const char *path)
{
	buf *b = buf_new(256);
	char *err = NULL;

	assert_int_equal(fs_read_file(path, b, 1 << 20, &err), 0);
	return buf_steal_free(&b);
}

/* ---- the edit table ---- */

struct edit_case {
	const char *name;
	const char *before; /* NULL: no file */
	const char *key;
	const char *value; /* NULL: delete */
	int rc;
	const char *after;
};

static const struct edit_case edit_cases[] = {
	{ "create", NULL, "a@x", "OK", 0, "a@x OK\n" },
	{ "append", "# head\nb@x 1\n", "a@x", "2", 0, "# head\nb@x 1\na@x 2\n" },
	{ "append no final newline", "b@x 1", "a@x", "2", 0, "b@x 1\na@x 2\n" },
	{ "key folded", "", "A@X.Test", "v", 0, "a@x.test v\n" },
	{ "replace keeps neighbours", "# c1\nA@x old\n\n# c2\nb@x keep\n", "a@x", "new", 0,
	  "# c1\na@x new\n\n# c2\nb@x keep\n" },
	{ "replace drops continuation", "a@x one,\n  two,\n\tthree\nb@x 2\n", "a@x", "z", 0,
	  "a@x z\nb@x 2\n" },
	{ "replace drops duplicates", "a@x 1\nb@x 2\na@x 3\n", "a@x", "9", 0,
	  "a@x 9\nb@x 2\n" },
	{ "tabs and CRLF kept", "b@x\t2\r\n#x\r\n", "a@x", "1", 0, "b@x\t2\r\n#x\r\na@x 1\n" },
	{ "delete", "a@x 1\n# keep\nb@x 2\n", "b@x", NULL, 1, "a@x 1\n# keep\n" },
	{ "delete missing", "a@x 1\n", "z@x", NULL, 0, "a@x 1\n" },
	{ "delete with comment inside", "a@x 1,\n# note\n  2\nb@x 3\n", "a@x", NULL, 1,
	  "b@x 3\n" },
	{ "delete keeps trailing comment", "a@x 1\n# after\n", "a@x", NULL, 1, "# after\n" },
	{ "delete all copies", "a@x 1\na@x 2\n", "A@X", NULL, 1, "" },
	{ "bad line kept", "oops\na@x 1\n", "a@x", "2", 0, "oops\na@x 2\n" },
	{ "orphan continuation kept", "  stray\na@x 1\n", "a@x", NULL, 1, "  stray\n" },
};

static void test_edit_table(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(edit_cases) / sizeof(edit_cases[0]); i++) {
		const struct edit_case *c = &edit_cases[i];
		char *err = NULL, *after;
		int rc;

		unlink(f->path);
		if (c->before != NULL)
			write_file(f->path, c->before);
		if (c->value != NULL)
			rc = mapedit_set(f->path, c->key, c->value, false, &err);
		else
			rc = mapedit_del(f->path, c->key, false, &err);
		if (rc != c->rc || err != NULL)
			print_error("case '%s': rc %d err %s\n", c->name, rc, err ? err : "-");
		assert_int_equal(rc, c->rc);
		assert_null(err);
		if (c->before == NULL && c->value == NULL) {
			assert_int_equal(access(f->path, F_OK), -1);
			continue;
		}
		after = read_file(f->path);
		if (strcmp(after, c->after) != 0)
			print_error("case '%s': got [%s]\n", c->name, after);
		assert_string_equal(after, c->after);
		free(after);
	}
}

static void test_refused(void **state)
{
	static const char *const bad[][2] = {
		{ "", "v" }, { "#a", "v" }, { "a b", "v" }, { "a\tb", "v" },
		{ "a", "" }, { "a", "   " }, { "a", "x\ny" }, { "a", "x\r" },
	};
	struct fixture *f = *state;

	write_file(f->path, "k v\n");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *err = NULL, *after;

		assert_int_equal(mapedit_set(f->path, bad[i][0], bad[i][1], false, &err), -1);
		assert_non_null(err);
		free(err);
		after = read_file(f->path);
		assert_string_equal(after, "k v\n");
		free(after);
	}
}

static void test_mode_kept(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char *err = NULL;

	write_file(f->path, "k v\n");
	assert_int_equal(chmod(f->path, 0600), 0);
	assert_int_equal(mapedit_set(f->path, "a", "b", false, &err), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

/* A private map: created 0600 by mapedit_create (even with a lax umask),
 * kept 0600 by edits, and its .db built with the same mode. */
static void test_private_map(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char *err = NULL, *db = xasprintf("%s.db", f->path);
	mode_t old = umask(022);

	assert_int_equal(mapedit_create(f->path, 0600, &err), 1);
	assert_int_equal(mapedit_create(f->path, 0644, &err), 0);
	assert_int_equal(mapedit_set(f->path, "a@b", "{X}y", true, &err), 0);
	assert_int_equal(mapedit_set(f->path, "c@d", "{X}z", true, &err), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(db, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* An ordinary map's .db stays readable. */
	assert_int_equal(chmod(f->path, 0644), 0);
	assert_int_equal(mapedit_del(f->path, "a@b", true, &err), 1);
	assert_int_equal(stat(db, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	umask(old);
	free(db);
}

/* ---- list ---- */

static void collect(void *ctx, const char *key, const char *value)
{
	buf_printf(ctx, "%s=%s;", key, value);
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	buf *out = buf_new(64);
	char *err = NULL;

	write_file(f->path, "# c\nB@x 1\nbad\na@x one,\n two\n");
	assert_int_equal(mapedit_list(f->path, collect, out, &err), 0);
	assert_string_equal(buf_cstr(out), "b@x=1;a@x=one, two;");
	buf_reset(out);
	unlink(f->path);
	assert_int_equal(mapedit_list(f->path, collect, out, &err), 0);
	assert_string_equal(buf_cstr(out), "");
	buf_free(&out);
}

/* ---- rebuild ---- */

static void test_rebuild(void **state)
{
	struct fixture *f = *state;
	char *err = NULL, *name = xasprintf("hash:%s", f->path);
	const char *v;
	map *m;

	assert_int_equal(mapedit_set(f->path, "Alice@X", "x/alice/", true, &err), 0);
	assert_null(err);
	m = map_open(name, &err);
	assert_non_null(m);
	assert_int_equal(map_lookup(m, "alice@x", &v), MAP_FOUND);
	assert_string_equal(v, "x/alice/");
	map_close(&m);
	assert_int_equal(mapedit_del(f->path, "alice@x", true, &err), 1);
	m = map_open(name, &err);
	assert_non_null(m);
	assert_int_equal(map_lookup(m, "alice@x", &v), MAP_NOTFOUND);
	map_close(&m);
	free(name);
}

static void test_rebuild_error(void **state)
{
	struct fixture *f = *state;
	char *err = NULL, *after;

	/* a syntax error elsewhere: the edit is written, the build reports */
	write_file(f->path, "lonely\n");
	assert_int_equal(mapedit_set(f->path, "a", "b", true, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, "not rebuilt"));
	free(err);
	after = read_file(f->path);
	assert_string_equal(after, "lonely\na b\n");
	free(after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_edit_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_private_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebuild, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebuild_error, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
