/* test_map.c: unit tests for lib/map.c and its backends: the line
 * splitter as a table, map_build + hash lookups (hit, miss, case),
 * continuation lines, duplicates, syntax errors that leave nothing behind,
 * texthash agreeing with hash, reopening after a rebuild (the one test
 * that sleeps), reopening at once after a map generation bump (lib/mapgen),
 * a database cut short refused, and the open errors. Every test works in
 * its own mkdtemp directory, removed afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "map.h"
#include "mapgen.h"
#include "mem.h"

/* ---- fixture: a temporary directory ---- */

struct fixture {
	char dir[64];
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test_map.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
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
	free(f);
	return 0;
}

static char *path_in(struct fixture *f, const char *name)
{
	return xasprintf("%s/%s", f->dir, name);
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* replace_file: writes text to a new file and renames it over path. */
static void replace_file(const char *path, const char *text)
{
	char *tmp = xasprintf("%s.new", path);

	write_file(tmp, text);
	assert_int_equal(rename(tmp, path), 0);
	free(tmp);
}

static int count_files(struct fixture *f)
{
	DIR *d = opendir(f->dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* ---- diagnostics collector ---- */

#define DIAG_MAX 8

struct diags {
	int n;
	int line[DIAG_MAX];
	char severity[DIAG_MAX][16];
	char *msg[DIAG_MAX];
};

static void collect(void *ctx, const char *file, int line, const char *severity, const char *msg)
{
	struct diags *d = ctx;

	assert_non_null(file);
	if (d->n == DIAG_MAX)
		return;
	d->line[d->n] = line;
	snprintf(d->severity[d->n], sizeof(d->severity[0]), "%s", severity);
	d->msg[d->n] = xstrdup(msg);
	d->n++;
}

static void diags_free(struct diags *d)
{
	int i;

	for (i = 0; i < d->n; i++)
		free(d->msg[i]);
	d->n = 0;
}

/* build_ok: writes text to dir/name, builds it, and returns the path. */
static char *build_ok(struct fixture *f, const char *name, const char *text)
{
	char *path = path_in(f, name), *err = NULL;
	struct diags d = { 0 };

	write_file(path, text);
	assert_int_equal(map_build(path, collect, &d, &err), 0);
	assert_null(err);
	diags_free(&d);
	return path;
}

static void expect_lookup(map *m, const char *key, enum map_result want, const char *value)
{
	const char *v = NULL;
	enum map_result r = map_lookup(m, key, &v);

	if (r != want)
		fail_msg("%s: lookup '%s' gave %d, expected %d (%s)", map_name(m), key, r, want,
			 map_error(m));
	if (want == MAP_FOUND)
		assert_string_equal(v, value);
	else
		assert_null(v);
}

static map *open_ok(const char *type, const char *path)
{
	char *name = xasprintf("%s:%s", type, path), *err = NULL;
	map *m = map_open(name, &err);

	if (m == NULL)
		fail_msg("map_open %s: %s", name, err);
	assert_null(err);
	assert_string_equal(map_name(m), name);
	free(name);
	return m;
}

/* ---- map_parse_line ---- */

static void test_parse_line(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *key, *value;
	} cases[] = {
		{ "key value", 1, "key", "value" },
		{ "Key\tValue", 1, "Key", "Value" },
		{ "  key   value with  inner spaces  ", 1, "key", "value with  inner spaces" },
		{ "key value\r", 1, "key", "value" },
		{ "a#b c#d", 1, "a#b", "c#d" },
		{ "key value # not a comment", 1, "key", "value # not a comment" },
		{ "user@example.com\tuser@other.example", 1, "user@example.com", "user@other.example" },
		{ "", 0, NULL, NULL },
		{ "   \t ", 0, NULL, NULL },
		{ "# comment", 0, NULL, NULL },
		{ "   # indented comment", 0, NULL, NULL },
		{ "keyonly", -1, NULL, NULL },
		{ "keyonly   \t", -1, NULL, NULL },
		{ "  keyonly", -1, NULL, NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *line = xstrdup(cases[i].in), *key = NULL, *value = NULL;
		int rc = map_parse_line(line, &key, &value);

		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d, expected %d", cases[i].in, rc, cases[i].rc);
		if (rc == 1) {
			assert_string_equal(key, cases[i].key);
			assert_string_equal(value, cases[i].value);
		}
		free(line);
	}
}

/* ---- build and lookup ---- */

static void test_build_lookup(void **state)
{
	struct fixture *f = *state;
	char *path = build_ok(f, "virtual",
			      "# virtual users\n"
			      "\n"
			      "Alice@Example.COM   alice\n"
			      "bob@example.com\tBob Smith <bob@elsewhere.example>\n"
			      "postmaster@example.com alice, bob\n");
	char *dbpath = xasprintf("%s.db", path);
	map *m = open_ok("hash", path);

	assert_int_equal(access(dbpath, R_OK), 0);
	expect_lookup(m, "alice@example.com", MAP_FOUND, "alice");
	expect_lookup(m, "ALICE@EXAMPLE.COM", MAP_FOUND, "alice");
	expect_lookup(m, "Bob@Example.com", MAP_FOUND, "Bob Smith <bob@elsewhere.example>");
	expect_lookup(m, "postmaster@example.com", MAP_FOUND, "alice, bob");
	expect_lookup(m, "carol@example.com", MAP_NOTFOUND, NULL);
	expect_lookup(m, "alice", MAP_NOTFOUND, NULL);
	expect_lookup(m, "", MAP_NOTFOUND, NULL);
	assert_string_equal(map_error(m), "");
	/* only the text file and the .db: no temporary file left */
	assert_int_equal(count_files(f), 2);
	map_close(&m);
	assert_null(m);
	map_close(&m);

	/* a name without a type is a hash map */
	{
		char *err = NULL;

		m = map_open(path, &err);
		assert_non_null(m);
		assert_string_equal(map_name(m), path);
		expect_lookup(m, "alice@example.com", MAP_FOUND, "alice");
		map_close(&m);
	}
	free(dbpath);
	free(path);
}

static void test_empty_map(void **state)
{
	struct fixture *f = *state;
	char *path = build_ok(f, "empty", "# nothing here\n\n");
	map *m = open_ok("hash", path);

	expect_lookup(m, "anything", MAP_NOTFOUND, NULL);
	map_close(&m);
	free(path);
}

static void test_continuation(void **state)
{
	struct fixture *f = *state;
	char *path = build_ok(f, "cont",
			      "list first,   \n"
			      "   second,\n"
			      "# a comment between does not end the entry\n"
			      "\tthird\n"
			      "next  one\n"
			      "   \n"
			      "   two\n");
	map *m = open_ok("hash", path);

	expect_lookup(m, "list", MAP_FOUND, "first, second, third");
	expect_lookup(m, "next", MAP_FOUND, "one two");
	map_close(&m);
	m = open_ok("texthash", path);
	expect_lookup(m, "list", MAP_FOUND, "first, second, third");
	expect_lookup(m, "next", MAP_FOUND, "one two");
	map_close(&m);
	free(path);
}

static void test_duplicate(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "dup"), *err = NULL;
	struct diags d = { 0 };
	map *m;

	write_file(path, "a 1\nb 2\nA 3\n");
	assert_int_equal(map_build(path, collect, &d, &err), 0);
	assert_null(err);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.severity[0], "warning");
	assert_int_equal(d.line[0], 3);
	assert_non_null(strstr(d.msg[0], "duplicate entry for 'a'"));
	diags_free(&d);
	m = open_ok("hash", path);
	expect_lookup(m, "a", MAP_FOUND, "1");
	expect_lookup(m, "b", MAP_FOUND, "2");
	map_close(&m);
	free(path);
}

/* ---- syntax errors ---- */

static char *repeat(char c, size_t n)
{
	char *s = xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void check_bad_source(struct fixture *f, const char *text, int line, const char *what)
{
	char *path = path_in(f, "bad"), *err = NULL, *texterr = NULL;
	char *texthash = xasprintf("texthash:%s", path);
	char *lineref = xasprintf("%s:%d: ", path, line);
	struct diags d = { 0 };

	write_file(path, text);
	if (map_build(path, collect, &d, &err) != -1)
		fail_msg("build of bad file (%s) succeeded", what);
	assert_null(err); /* reported through diag */
	assert_true(d.n >= 1);
	assert_string_equal(d.severity[0], "error");
	assert_int_equal(d.line[0], line);
	if (strstr(d.msg[0], what) == NULL)
		fail_msg("message '%s' lacks '%s'", d.msg[0], what);
	diags_free(&d);
	/* no .db and no temporary file: only the source is left */
	assert_int_equal(count_files(f), 1);

	/* without diag the first error comes back in err */
	assert_int_equal(map_build(path, NULL, NULL, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, lineref));
	assert_non_null(strstr(err, what));
	free(err);

	/* texthash refuses the file too, naming the line */
	assert_null(map_open(texthash, &texterr));
	assert_non_null(texterr);
	assert_non_null(strstr(texterr, lineref));
	free(texterr);
	assert_int_equal(count_files(f), 1);
	free(lineref);
	free(texthash);
	free(path);
}

static void test_syntax_errors(void **state)
{
	struct fixture *f = *state;
	char *longkey = repeat('k', 1025);
	char *longkey_line = xasprintf("ok 1\n%s v\n", longkey);
	char *longval = repeat('v', 64 * 1024 + 10);
	char *longval_line = xasprintf("ok 1\n\nk %s\n", longval);
	char *longcont = xasprintf("ok 1\nk %s\n %s\n", longval + 20000, longval + 20000);
	check_bad_source(f, "a 1\nb 2\nlonely\nc 3\n", 3, "expected 'key value'");
	check_bad_source(f, "# comment\n\nkey   \n", 3, "expected 'key value'");
	check_bad_source(f, "  indented 1\n", 1, "continuation");
	check_bad_source(f, longkey_line, 2, "key too long");
	check_bad_source(f, longval_line, 3, "line too long");
	check_bad_source(f, longcont, 2, "line too long");
	free(longkey);
	free(longkey_line);
	free(longval);
	free(longval_line);
	free(longcont);
}

/* A NUL byte needs the byte count, not fputs. */
static void test_nul_byte(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "nul"), *err = NULL;
	static const char text[] = "a 1\nb x\0y\nc 3\n";
	struct diags d = { 0 };
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, sizeof(text) - 1, fp), sizeof(text) - 1);
	fclose(fp);
	assert_int_equal(map_build(path, collect, &d, &err), -1);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.line[0], 2);
	assert_non_null(strstr(d.msg[0], "NUL"));
	diags_free(&d);
	free(path);
}

/* ---- texthash ---- */

static void test_texthash_equals_hash(void **state)
{
	struct fixture *f = *state;
	static const char *const keys[] = {
		"alice@example.com", "ALICE@example.com", "bob", "nobody", "x", "with space",
		"k100", "K250", "k499", "k500", "",
	};
	char *text = xstrdup("alice@example.com alice\nBob  the builder\nx y\n");
	char *path;
	map *h, *t;
	size_t i;
	int n;

	/* enough entries to make the table grow several times */
	for (n = 0; n < 500; n++) {
		char *more = xasprintf("%sk%d value %d\n", text, n, n * 7);

		free(text);
		text = more;
	}
	path = build_ok(f, "same", text);
	h = open_ok("hash", path);
	t = open_ok("texthash", path);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *hv = NULL, *tv = NULL;
		enum map_result hr = map_lookup(h, keys[i], &hv);
		enum map_result tr = map_lookup(t, keys[i], &tv);

		assert_int_equal(hr, tr);
		if (hr == MAP_FOUND)
			assert_string_equal(hv, tv);
	}
	expect_lookup(t, "k250", MAP_FOUND, "value 1750");
	expect_lookup(t, "bob", MAP_FOUND, "the builder");
	map_close(&h);
	map_close(&t);
	free(text);
	free(path);
}

/* ---- reopening after a change (the one test that sleeps) ---- */

static void test_reopen(void **state)
{
	struct fixture *f = *state;
	char *rebuilt = build_ok(f, "rebuilt", "k old\n");
	char *texthash = path_in(f, "text");
	char *inplace = build_ok(f, "inplace", "k old\n");
	char *inplace_db = xasprintf("%s.db", inplace);
	char *renamed = build_ok(f, "renamed", "k old\n");
	char *renamed_db = xasprintf("%s.db", renamed);
	struct timespec pause = { 1, 100 * 1000 * 1000 };
	map *m_rebuilt, *m_text, *m_inplace, *m_renamed;
	int fd;

	write_file(texthash, "k old\n");
	m_rebuilt = open_ok("hash", rebuilt);
	m_text = open_ok("texthash", texthash);
	m_inplace = open_ok("hash", inplace);
	m_renamed = open_ok("hash", renamed);
	expect_lookup(m_rebuilt, "k", MAP_FOUND, "old");
	expect_lookup(m_text, "k", MAP_FOUND, "old");

	/* a rebuild, an edited text file, a database overwritten in place
	 * with garbage, and garbage renamed over a database */
	free(build_ok(f, "rebuilt", "k new\nk2 added\n"));
	replace_file(texthash, "k new\n");
	fd = open(inplace_db, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "garbage\n", 8), 8);
	close(fd);
	replace_file(renamed_db, "this is not a database\n");

	/* within the second the maps still answer from what they have */
	expect_lookup(m_rebuilt, "k", MAP_FOUND, "old");
	expect_lookup(m_text, "k", MAP_FOUND, "old");
	nanosleep(&pause, NULL);

	expect_lookup(m_rebuilt, "k", MAP_FOUND, "new");
	expect_lookup(m_rebuilt, "k2", MAP_FOUND, "added");
	expect_lookup(m_text, "k", MAP_FOUND, "new");
	/* in place: the old handle is unsound, so try again later */
	expect_lookup(m_inplace, "k", MAP_TEMP, NULL);
	assert_non_null(strstr(map_error(m_inplace), inplace_db));
	expect_lookup(m_inplace, "k", MAP_TEMP, NULL);
	/* renamed over: the old file is still open and intact */
	expect_lookup(m_renamed, "k", MAP_FOUND, "old");

	map_close(&m_rebuilt);
	map_close(&m_text);
	map_close(&m_inplace);
	map_close(&m_renamed);
	free(rebuilt);
	free(texthash);
	free(inplace);
	free(inplace_db);
	free(renamed);
	free(renamed_db);
}

/* ---- the map generation: changes seen at the next lookup ---- */

/* attach_private: a queue directory's private/ in f->dir for mapgen;
 * returns the queue directory (f->dir). */
static const char *attach_private(struct fixture *f)
{
	char *priv = path_in(f, "private"), *err = NULL;

	assert_int_equal(mkdir(priv, 0700), 0);
	free(priv);
	if (mapgen_attach(f->dir, &err) < 0)
		fail_msg("mapgen_attach: %s", err);
	return f->dir;
}

static void detach_private(struct fixture *f)
{
	char *file = path_in(f, "private/" MAPGEN_FILE), *priv = path_in(f, "private");

	mapgen_detach();
	unlink(file);
	rmdir(priv);
	free(file);
	free(priv);
}

static void bump(const char *queue)
{
	char *err = NULL;

	if (mapgen_bump(queue, &err) == 0)
		fail_msg("mapgen_bump: %s", err);
}

static void test_generation(void **state)
{
	struct fixture *f = *state;
	const char *queue = attach_private(f);
	char *hash = build_ok(f, "hashed", "k old\n");
	char *text = path_in(f, "text");
	map *mh, *mt;

	write_file(text, "k old\n");
	mh = open_ok("hash", hash);
	mt = open_ok("texthash", text);
	expect_lookup(mh, "k", MAP_FOUND, "old");
	expect_lookup(mt, "k", MAP_FOUND, "old");

	/* replaced without a bump: within the second nothing changes */
	free(build_ok(f, "hashed", "k new\n"));
	replace_file(text, "k new\n");
	expect_lookup(mh, "k", MAP_FOUND, "old");
	expect_lookup(mt, "k", MAP_FOUND, "old");
	/* after the bump, the very next lookup answers from the new files */
	bump(queue);
	expect_lookup(mh, "k", MAP_FOUND, "new");
	expect_lookup(mt, "k", MAP_FOUND, "new");

	/* the same size again, many times in a row: each bump is seen even
	 * when a freed inode comes back with equal size and mtime */
	for (int i = 0; i < 50; i++) {
		char line[32], want[8];

		snprintf(want, sizeof(want), "v%02d", i);
		snprintf(line, sizeof(line), "k %s\n", want);
		replace_file(text, line);
		free(build_ok(f, "hashed", line));
		bump(queue);
		expect_lookup(mt, "k", MAP_FOUND, want);
		expect_lookup(mh, "k", MAP_FOUND, want);
	}

	/* a broken text file after a bump: refused, the old data stays */
	replace_file(text, "k fine\nbroken-line-without-value\n");
	bump(queue);
	expect_lookup(mt, "k", MAP_FOUND, "v49");

	map_close(&mh);
	map_close(&mt);
	free(hash);
	free(text);
	detach_private(f);
}

/* cut_copy: the first len bytes of src renamed over dst. */
static void cut_copy(const char *src, const char *dst, off_t len)
{
	char *tmp = xasprintf("%s.cut", dst);
	char *data = xmalloc((size_t)len);
	FILE *in = fopen(src, "r"), *out = fopen(tmp, "w");

	assert_non_null(in);
	assert_non_null(out);
	assert_int_equal(fread(data, 1, (size_t)len, in), (size_t)len);
	assert_int_equal(fwrite(data, 1, (size_t)len, out), (size_t)len);
	fclose(in);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(rename(tmp, dst), 0);
	free(data);
	free(tmp);
}

static void test_cut_short(void **state)
{
	struct fixture *f = *state;
	const char *queue = attach_private(f);
	buf *text = buf_new(64 * 1024);
	char *path, *db, *copy, *copy_db, *err = NULL;
	struct stat st;
	map *m;

	for (int i = 0; i < 2000; i++)
		buf_printf(text, "user%d@example.test example.test/user%d/\n", i, i);
	path = build_ok(f, "big", buf_cstr(text));
	db = xasprintf("%s.db", path);
	copy = path_in(f, "copy");
	copy_db = xasprintf("%s.db", copy);
	assert_int_equal(stat(db, &st), 0);
	assert_true(st.st_size >= 8 * 4096);
	m = open_ok("hash", path);
	expect_lookup(m, "user1999@example.test", MAP_FOUND, "example.test/user1999/");

	/* cut on a page boundary: BDB would open it; we refuse it */
	cut_copy(db, copy_db, st.st_size / 2 - (st.st_size / 2) % 4096);
	assert_null(map_open(copy, &err));
	assert_non_null(err);
	assert_non_null(strstr(err, "cut short"));
	free(err);
	err = NULL;

	/* renamed over an open map: refused, the old file stays in use */
	cut_copy(db, db, 4096 * 2);
	bump(queue);
	for (int i = 0; i < 2000; i += 97) {
		char key[64], value[64];

		snprintf(key, sizeof(key), "user%d@example.test", i);
		snprintf(value, sizeof(value), "example.test/user%d/", i);
		expect_lookup(m, key, MAP_FOUND, value);
	}
	map_close(&m);
	buf_free(&text);
	free(path);
	free(db);
	free(copy);
	free(copy_db);
	detach_private(f);
}

/* ---- open and build errors ---- */

static void test_open_errors(void **state)
{
	struct fixture *f = *state;
	char *missing = path_in(f, "missing");
	char *garbage = path_in(f, "garbage");
	static const struct {
		const char *prefix;
		const char *suffix; /* of the file the message must name */
	} cases[] = {
		{ "hash:", ".db" },
		{ "texthash:", "" },
		{ "", ".db" },
	};
	char *err = NULL;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *name = xasprintf("%s%s", cases[i].prefix, missing);
		char *file = xasprintf("%s%s", missing, cases[i].suffix);

		assert_null(map_open(name, &err));
		assert_non_null(err);
		if (strstr(err, file) == NULL || strstr(err, strerror(ENOENT)) == NULL)
			fail_msg("'%s': error '%s' does not name %s", name, err, file);
		free(err);
		err = NULL;
		free(name);
		free(file);
	}

	assert_null(map_open("foo:/x", &err));
	assert_non_null(err);
	assert_non_null(strstr(err, "unknown map type 'foo'"));
	free(err);
	assert_null(map_open("hash:", &err));
	assert_non_null(err);
	free(err);

	/* a file that is not a database is an error, not an empty map */
	write_file(garbage, "x y\n");
	{
		char *db = xasprintf("%s.db", garbage);

		write_file(db, "not a database at all\n");
		assert_null(map_open(garbage, &err));
		assert_non_null(err);
		assert_non_null(strstr(err, db));
		free(err);
		free(db);
	}

	/* building from a missing source names it and the reason */
	assert_int_equal(map_build(missing, NULL, NULL, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err, missing));
	assert_non_null(strstr(err, strerror(ENOENT)));
	free(err);
	free(missing);
	free(garbage);
}

/* ---- map_each_entry ---- */

struct seen {
	int n;
	int line[4];
	char *key[4], *value[4];
};

static int each_one(void *fctx, const char *path, int line, const char *key, const char *value)
{
	struct seen *s = fctx;

	assert_non_null(path);
	assert_true(s->n < 4);
	s->line[s->n] = line;
	s->key[s->n] = xstrdup(key);
	s->value[s->n] = xstrdup(value);
	s->n++;
	return strcmp(value, "bad") == 0; /* one error per "bad" value */
}

static void test_each_entry(void **state)
{
	struct fixture *f = *state;
	char *path = path_in(f, "each"), *name = xasprintf("hash:%s", path);
	struct seen s = { 0 };
	struct diags d = { 0 };

	write_file(path, "# comment\nOne a\n\ntwo first\n  second\nthree bad\n");
	assert_int_equal(map_each_entry(name, each_one, &s, collect, &d), 1);
	assert_int_equal(d.n, 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.line[0], 2);
	assert_string_equal(s.key[0], "one");
	assert_int_equal(s.line[1], 4);
	assert_string_equal(s.value[1], "first second");
	assert_int_equal(s.line[2], 6);
	for (int i = 0; i < s.n; i++) {
		free(s.key[i]);
		free(s.value[i]);
	}
	/* a missing source is one error through diag, fn never called */
	s.n = 0;
	unlink(path);
	assert_int_equal(map_each_entry(name, each_one, &s, collect, &d), 1);
	assert_int_equal(s.n, 0);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.severity[0], "error");
	diags_free(&d);
	free(name);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_line),
		cmocka_unit_test_setup_teardown(test_build_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_continuation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syntax_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_texthash_equals_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_short, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_each_entry, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
