/* map.c: the map interface: "type:path" names, lookups with folded keys,
 * and reopening when the file changes, for every backend (map_db.c,
 * map_text.c). Also map_parse_line and map_build (postmap).
 *
 * Reopen on change: a map remembers device, inode, size, mtime and ctime
 * of the file it opened. A lookup looks at the file again (stat) when the
 * instance's map generation (mapgen.h: one memory read) moved since the
 * last look, which mailctl makes happen after every change before it
 * returns; and at most once a second (CLOCK_MONOTONIC) anyway, for files
 * an admin replaced by hand. If the file differs, the new one is opened
 * and replaces the old; after a generation change a snapshot (texthash)
 * is read again even when stat shows no difference, since a freed inode
 * may come back with the same size within one mtime tick. If the new file
 * cannot be opened (a half-written file is refused: see map_db.c), the old
 * handle is kept when it is still sound (a snapshot in memory, or a
 * different, renamed-away file) and the refusal is logged once; a hash
 * file changed in place is not, so then the map answers MAP_TEMP until
 * the file can be opened again. map_build replaces files only by rename,
 * so readers see the old or the new file, never a part. */
#include "map.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "map_int.h"
#include "mapgen.h"
#include "mem.h"

/* What identifies the version of a file we have open. */
struct map_ident {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

struct map {
	char *name; /* as given */
	const struct map_backend *be;
	char *file; /* the file the backend opens: path + suffix */
	void *handle; /* NULL while the file is unusable */
	struct map_ident ident; /* of the file behind handle */
	struct map_ident failed; /* last version we failed to open (warned) */
	struct timespec checked; /* CLOCK_MONOTONIC of the last stat */
	uint64_t gen; /* mapgen_current() at the last look at the file */
	buf *key; /* folded lookup key */
	buf *value;
	char *error;
};

static const struct map_backend *const backends[] = {
	&map_backend_hash,
	&map_backend_texthash,
};

void map_fold_key(char *key)
{
	for (; *key != '\0'; key++)
		if (*key >= 'A' && *key <= 'Z')
			*key = (char)(*key - 'A' + 'a');
}

static bool is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int map_parse_line(char *line, char **key_r, char **value_r)
{
	char *p = line, *end;

	*key_r = *value_r = NULL;
	while (is_blank((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	*key_r = p;
	while (*p != '\0' && !is_blank((unsigned char)*p))
		p++;
	if (*p == '\0')
		return -1;
	*p++ = '\0';
	while (is_blank((unsigned char)*p))
		p++;
	end = p + strlen(p);
	while (end > p && is_blank((unsigned char)end[-1]))
		end--;
	*end = '\0';
	if (*p == '\0')
		return -1;
	*value_r = p;
	return 1;
}

/* ---- opening and reopening ---- */

static void ident_set(struct map_ident *id, const struct stat *st)
{
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
	id->ctime = st->st_ctim;
}

static bool ident_same(const struct map_ident *a, const struct map_ident *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static void set_error(map *m, char *err)
{
	free(m->error);
	m->error = err;
}

/* parse_name: splits "type:path"; a name without a type (or whose part
 * before ':' holds a '/') is a hash path. */
static const struct map_backend *parse_name(const char *name, const char **path_r, char **err_r)
{
	const char *colon = strchr(name, ':');
	size_t i, tlen;

	*path_r = name;
	if (colon == NULL || memchr(name, '/', (size_t)(colon - name)) != NULL)
		return &map_backend_hash;
	*path_r = colon + 1;
	tlen = (size_t)(colon - name);
	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strlen(backends[i]->type) == tlen && strncmp(backends[i]->type, name, tlen) == 0)
			return backends[i];
	*err_r = xasprintf("unknown map type '%.*s' in '%s'", (int)tlen, name, name);
	return NULL;
}

map *map_open(const char *name, char **err_r)
{
	const struct map_backend *be;
	const char *path;
	struct stat st;
	map *m;

	*err_r = NULL;
	be = parse_name(name, &path, err_r);
	if (be == NULL)
		return NULL;
	if (*path == '\0') {
		*err_r = xasprintf("map '%s' names no file", name);
		return NULL;
	}
	m = xcalloc(1, sizeof(*m));
	m->name = xstrdup(name);
	m->be = be;
	m->file = xasprintf("%s%s", path, be->suffix);
	m->gen = mapgen_current(); /* before the open: a later change is seen */
	m->handle = be->open(m->file, &st, err_r);
	if (m->handle == NULL) {
		map_close(&m);
		return NULL;
	}
	ident_set(&m->ident, &st);
	clock_gettime(CLOCK_MONOTONIC, &m->checked);
	m->key = buf_new(64);
	m->value = buf_new(64);
	return m;
}

void map_close(map **mp)
{
	map *m = *mp;

	if (m == NULL)
		return;
	if (m->handle != NULL)
		m->be->close(m->handle);
	free(m->name);
	free(m->file);
	buf_free(&m->key);
	buf_free(&m->value);
	free(m->error);
	free(m);
	*mp = NULL;
}

const char *map_name(const map *m)
{
	return m->name;
}

const char *map_error(const map *m)
{
	return m->error != NULL ? m->error : "";
}

/* What a lookup does about the file before it answers. */
enum map_check {
	CHECK_NONE, /* nothing: answer from the handle */
	CHECK_STAT, /* the second passed: reopen if the file changed */
	CHECK_FORCE, /* the generation moved: as STAT, and reread a snapshot */
};

/* check_due: CHECK_FORCE when the map generation moved since the last
 * look, else CHECK_STAT at most once a second (also while the map is
 * unusable, so a broken file is not reopened on every lookup). */
static enum map_check check_due(map *m)
{
	uint64_t gen = mapgen_current();
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (gen != m->gen) {
		m->gen = gen;
		m->checked = now;
		return CHECK_FORCE;
	}
	if (now.tv_sec - m->checked.tv_sec < 1 ||
	    (now.tv_sec - m->checked.tv_sec == 1 && now.tv_nsec < m->checked.tv_nsec))
		return CHECK_NONE;
	m->checked = now;
	return CHECK_STAT;
}

/* reopen_failed: the changed file (cur) could not be opened. */
static void reopen_failed(map *m, const struct map_ident *cur, char *err)
{
	bool same_file = cur->dev == m->ident.dev && cur->ino == m->ident.ino;

	if (m->handle != NULL && (m->be->snapshot || !same_file)) {
		if (!ident_same(cur, &m->failed))
			log_warn("%s: %s; still using the previous version", m->name, err);
		m->failed = *cur;
		free(err);
		return;
	}
	/* A database changed under its open handle cannot be trusted. */
	if (m->handle != NULL)
		m->be->close(m->handle);
	m->handle = NULL;
	set_error(m, err);
}

/* refresh: reopens the file when it changed (see the top of the file). */
static void refresh(map *m)
{
	struct map_ident cur;
	struct stat st;
	char *err = NULL;
	void *h;

	enum map_check check = check_due(m);

	if (check == CHECK_NONE)
		return;
	if (stat(m->file, &st) < 0) {
		if (m->handle == NULL)
			set_error(m, xasprintf("cannot open %s: %s", m->file, strerror(errno)));
		return; /* removed: keep answering from what we have */
	}
	ident_set(&cur, &st);
	if (m->handle != NULL && ident_same(&cur, &m->ident) &&
	    !(check == CHECK_FORCE && m->be->snapshot))
		return;
	h = m->be->open(m->file, &st, &err);
	if (h == NULL) {
		reopen_failed(m, &cur, err);
		return;
	}
	if (m->handle != NULL)
		m->be->close(m->handle);
	m->handle = h;
	ident_set(&m->ident, &st);
	set_error(m, NULL);
}

enum map_result map_lookup(map *m, const char *key, const char **value_r)
{
	enum map_result res;
	char *err = NULL;

	*value_r = NULL;
	refresh(m);
	if (m->handle == NULL)
		return MAP_TEMP; /* m->error says why */
	set_error(m, NULL);
	if (*key == '\0' || strlen(key) > MAP_KEY_MAX)
		return MAP_NOTFOUND; /* no such key can be stored */
	buf_reset(m->key);
	buf_puts(m->key, key);
	map_fold_key(buf_data(m->key));
	res = m->be->lookup(m->handle, buf_cstr(m->key), m->value, &err);
	if (res == MAP_TEMP)
		set_error(m, err);
	else if (res == MAP_FOUND)
		*value_r = buf_cstr(m->value);
	return res;
}

/* ---- map_build ---- */

/* Without a diag function the first syntax error becomes *err_r. */
struct build_diag {
	cfg_diag_fn *diag;
	void *ctx;
	char *first_error;
};

static void build_diag(void *ctx, const char *file, int line, const char *severity, const char *msg)
{
	struct build_diag *bd = ctx;

	if (bd->diag != NULL)
		bd->diag(bd->ctx, file, line, severity, msg);
	else if (strcmp(severity, "error") == 0 && bd->first_error == NULL)
		bd->first_error = xasprintf("%s:%d: %s", file, line, msg);
}

/* read_source: parses path into *table_r and describes the file read in
 * *st_r; 0 or -1 (*err_r set unless the syntax errors went to diag). */
static int read_source(const char *path, struct build_diag *bd, map_table **table_r,
		       struct stat *st_r, char **err_r)
{
	FILE *fp = fopen(path, "re");
	int rc;

	if (fp == NULL || fstat(fileno(fp), st_r) < 0) {
		*err_r = xasprintf("cannot open %s: %s", path, strerror(errno));
		if (fp != NULL)
			fclose(fp);
		return -1;
	}
	rc = map_table_read(fp, path, build_diag, bd, table_r, err_r);
	fclose(fp);
	if (rc > 0 && bd->diag == NULL) {
		*err_r = bd->first_error;
		bd->first_error = NULL;
	}
	return rc == 0 ? 0 : -1;
}

/* fsync_file: flush a closed file to disk by name. */
static int fsync_file(const char *path)
{
	FILE *fp = fopen(path, "re");
	int rc;

	if (fp == NULL)
		return -1;
	rc = fsync(fileno(fp));
	fclose(fp);
	return rc;
}

/* same_perms: the .db gets the permission bits of its source and, when
 * root builds it, the source's owner, as postmap does: a private source
 * (a password map, 0600) stays private in its .db, and the daemons that
 * may read the source may read the .db. */
static int same_perms(const char *tmp, const struct stat *src, char **err_r)
{
	if (chmod(tmp, src->st_mode & 0666) < 0 ||
	    (geteuid() == 0 && chown(tmp, src->st_uid, src->st_gid) < 0)) {
		*err_r = xasprintf("cannot set the owner or mode of %s: %s", tmp, strerror(errno));
		return -1;
	}
	return 0;
}

/* install: writes table to tmp, fsyncs it and renames it to dst. */
static int install(const map_table *t, const struct stat *src, const char *tmp, const char *dst,
		   char **err_r)
{
	if (unlink(tmp) < 0 && errno != ENOENT) {
		*err_r = xasprintf("cannot remove %s: %s", tmp, strerror(errno));
		return -1;
	}
	if (map_db_write(tmp, t, src->st_mode & 0666, err_r) < 0 || same_perms(tmp, src, err_r) < 0)
		return -1;
	if (fsync_file(tmp) < 0) {
		*err_r = xasprintf("cannot fsync %s: %s", tmp, strerror(errno));
		return -1;
	}
	if (rename(tmp, dst) < 0) {
		*err_r = xasprintf("cannot rename %s to %s: %s", tmp, dst, strerror(errno));
		return -1;
	}
	if (fs_fsync_parent(dst) < 0) {
		/* XXX: the new file is in place but maybe not yet durable; report
		 * it so the admin knows, the map itself is fine. */
		*err_r = xasprintf("cannot fsync the directory of %s: %s", dst, strerror(errno));
		return -1;
	}
	return 0;
}

int map_build(const char *path, cfg_diag_fn *diag, void *ctx, char **err_r)
{
	struct build_diag bd = { diag, ctx, NULL };
	map_table *t = NULL;
	struct stat st;
	char *tmp, *dst;
	int rc;

	*err_r = NULL;
	if (read_source(path, &bd, &t, &st, err_r) < 0) {
		free(bd.first_error);
		return -1;
	}
	free(bd.first_error);
	tmp = xasprintf("%s.db.tmp.%ld", path, (long)getpid());
	dst = xasprintf("%s.db", path);
	rc = install(t, &st, tmp, dst, err_r);
	if (rc < 0)
		(void)unlink(tmp);
	map_table_free(&t);
	free(tmp);
	free(dst);
	return rc;
}

/* check_entries: every entry's value through check; errors via diag. */
static int check_entries(const map_table *t, const char *path, map_value_check_fn *check,
			 cfg_diag_fn *diag, void *ctx)
{
	int errors = 0;

	for (size_t i = 0; i < map_table_count(t); i++) {
		const char *key, *value;
		char *err = NULL, *msg;

		map_table_entry(t, i, &key, &value);
		if (check(value, &err) == 0)
			continue;
		errors++;
		msg = xasprintf("%s: %s", key, err ? err : "bad value");
		if (diag != NULL)
			diag(ctx, path, map_table_line(t, i), "error", msg);
		free(msg);
		free(err);
	}
	return errors;
}

int map_check_values(const char *name, map_value_check_fn *check, cfg_diag_fn *diag, void *ctx)
{
	struct build_diag bd = { .diag = diag, .ctx = ctx };
	const struct map_backend *be;
	map_table *t = NULL;
	const char *path;
	char *err = NULL;
	struct stat st;
	int rc;

	be = parse_name(name, &path, &err);
	if (be == NULL || read_source(path, &bd, &t, &st, &err) < 0) {
		if (err != NULL && diag != NULL)
			diag(ctx, be == NULL ? name : path, 0, "error", err);
		free(err);
		free(bd.first_error);
		return 1;
	}
	rc = check_entries(t, path, check, diag, ctx);
	map_table_free(&t);
	return rc;
}

int map_each_entry(const char *name, map_entry_fn *fn, void *fctx, cfg_diag_fn *diag, void *ctx)
{
	struct build_diag bd = { .diag = diag, .ctx = ctx };
	const struct map_backend *be;
	map_table *t = NULL;
	const char *path;
	char *err = NULL;
	struct stat st;
	int errors = 0;

	be = parse_name(name, &path, &err);
	if (be == NULL || read_source(path, &bd, &t, &st, &err) < 0) {
		if (err != NULL && diag != NULL)
			diag(ctx, be == NULL ? name : path, 0, "error", err);
		free(err);
		free(bd.first_error);
		return 1;
	}
	for (size_t i = 0; i < map_table_count(t); i++) {
		const char *key, *value;

		map_table_entry(t, i, &key, &value);
		errors += fn(fctx, path, map_table_line(t, i), key, value);
	}
	map_table_free(&t);
	return errors;
}
