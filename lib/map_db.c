/* map_db.c: the "hash" backend, Berkeley DB 5 hash files without an
 * environment, and the writer map_build uses. File format: one record per
 * map entry; the key is the lowercased map key and the data is the value,
 * both stored WITHOUT a trailing NUL (unlike Postfix, whose hash files
 * usually include it, so Postfix-built .db files are not read here).
 * BDB's own error messages are caught through an error callback and added
 * to our error text instead of going to stderr.
 * A file cut short (copied in by hand, a full disk) opens without
 * complaint when it ends on a page boundary and then answers "not found"
 * for the keys on the missing pages: a 550 for real users. So an open
 * checks that the file holds every page the metadata page counts, and
 * refuses it otherwise. */
#include "map_int.h"

#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

/* The last detail message BDB gave through its error callback; reached
 * from the callback through the handle's environment app_private. */
struct db_msg {
	char *text;
};

struct map_db {
	DB *db;
	struct db_msg msg;
	char *path; /* for messages */
};

static void db_errcall(const DB_ENV *env, const char *prefix, const char *text)
{
	struct db_msg *m = env->app_private;

	(void)prefix;
	if (m == NULL)
		return;
	free(m->text);
	m->text = xstrdup(text);
}

/* db_new: creates the handle and routes its messages into msg. */
static int db_new(DB **db_r, struct db_msg *msg)
{
	int ret = db_create(db_r, NULL, 0);

	if (ret != 0)
		return ret;
	(*db_r)->get_env(*db_r)->app_private = msg;
	(*db_r)->set_errcall(*db_r, db_errcall);
	return 0;
}

/* db_error: "what path: reason (detail)" as a heap string; takes msg. */
static char *db_error(const char *what, const char *path, int ret, struct db_msg *msg)
{
	char *s;

	if (msg->text != NULL)
		s = xasprintf("%s %s: %s (%s)", what, path, db_strerror(ret), msg->text);
	else
		s = xasprintf("%s %s: %s", what, path, db_strerror(ret));
	free(msg->text);
	msg->text = NULL;
	return s;
}

static void hash_close(void *handle)
{
	struct map_db *h = handle;

	h->db->close(h->db, 0);
	free(h->msg.text);
	free(h->path);
	free(h);
}

/* describe_fd: BDB opens without O_CLOEXEC; programs that fork must not
 * leak the map into children. Also reports what was opened. */
static int describe_fd(struct map_db *h, struct stat *st_r)
{
	int fd, ret = h->db->fd(h->db, &fd);

	if (ret != 0)
		return ret;
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fstat(fd, st_r) < 0 ? errno : 0;
}

/* check_complete: the file (st) holds every page of the database; else
 * *err_r (heap). BDB's fast statistics read the page count from the
 * metadata page, written when the file was built. */
static int check_complete(struct map_db *h, const char *path, const struct stat *st,
			  char **err_r)
{
	DB_HASH_STAT *hs = NULL;
	int ret = h->db->stat(h->db, NULL, &hs, DB_FAST_STAT);
	off_t need;

	if (ret != 0) {
		*err_r = db_error("cannot check", path, ret, &h->msg);
		return -1;
	}
	need = (off_t)hs->hash_pagecnt * (off_t)hs->hash_pagesize;
	free(hs);
	if (st->st_size >= need)
		return 0;
	*err_r = xasprintf("cannot open %s: file cut short: %lld of %lld bytes (half-written?)",
			   path, (long long)st->st_size, (long long)need);
	return -1;
}

static void *hash_open(const char *path, struct stat *st_r, char **err_r)
{
	struct map_db *h = xcalloc(1, sizeof(*h));
	int ret = db_new(&h->db, &h->msg);

	if (ret != 0) {
		*err_r = db_error("cannot open", path, ret, &h->msg);
		free(h);
		return NULL;
	}
	ret = h->db->open(h->db, NULL, path, NULL, DB_HASH, DB_RDONLY, 0);
	if (ret == 0)
		ret = describe_fd(h, st_r);
	if (ret != 0) {
		*err_r = db_error("cannot open", path, ret, &h->msg);
		hash_close(h);
		return NULL;
	}
	if (check_complete(h, path, st_r, err_r) < 0) {
		hash_close(h);
		return NULL;
	}
	h->path = xstrdup(path);
	return h;
}

static enum map_result hash_lookup(void *handle, const char *key, buf *value, char **err_r)
{
	struct map_db *h = handle;
	DBT k, v;
	int ret;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)key;
	k.size = (u_int32_t)strlen(key);
	v.flags = DB_DBT_MALLOC;
	ret = h->db->get(h->db, NULL, &k, &v, 0);
	if (ret == DB_NOTFOUND || ret == DB_KEYEMPTY)
		return MAP_NOTFOUND;
	if (ret != 0) {
		*err_r = db_error("cannot read", h->path, ret, &h->msg);
		return MAP_TEMP;
	}
	buf_reset(value);
	buf_append(value, v.data, v.size);
	free(v.data);
	return MAP_FOUND;
}

const struct map_backend map_backend_hash = {
	.type = "hash",
	.suffix = ".db",
	.snapshot = false,
	.open = hash_open,
	.lookup = hash_lookup,
	.close = hash_close,
};

/* put_all: stores every entry; keys are unique in the table already. */
static int put_all(DB *db, const map_table *t)
{
	size_t i, n = map_table_count(t);

	for (i = 0; i < n; i++) {
		const char *key, *value;
		DBT k, v;
		int ret;

		map_table_entry(t, i, &key, &value);
		memset(&k, 0, sizeof(k));
		memset(&v, 0, sizeof(v));
		k.data = (void *)key;
		k.size = (u_int32_t)strlen(key);
		v.data = (void *)value;
		v.size = (u_int32_t)strlen(value);
		ret = db->put(db, NULL, &k, &v, DB_NOOVERWRITE);
		if (ret != 0)
			return ret;
	}
	return 0;
}

int map_db_write(const char *path, const map_table *t, mode_t mode, char **err_r)
{
	struct db_msg msg = { NULL };
	DB *db;
	int ret = db_new(&db, &msg), cret;
	size_t n = map_table_count(t);

	if (ret != 0) {
		*err_r = db_error("cannot create", path, ret, &msg);
		return -1;
	}
	if (n > 0 && n < UINT32_MAX)
		db->set_h_nelem(db, (u_int32_t)n);
	ret = db->open(db, NULL, path, NULL, DB_HASH, DB_CREATE | DB_EXCL, (int)mode);
	if (ret == 0)
		ret = put_all(db, t);
	if (ret == 0)
		ret = db->sync(db, 0);
	cret = db->close(db, 0); /* frees db even when it fails */
	if (ret == 0)
		ret = cret;
	if (ret != 0) {
		*err_r = db_error("cannot write", path, ret, &msg);
		return -1;
	}
	free(msg.text);
	return 0;
}
