/* map_int.h: internals shared by the map modules, not for programs.
 * map.c owns the public interface (names, reopen-on-change, map_build);
 * each backend (map_db.c: Berkeley DB hash, map_text.c: texthash) opens
 * one file into a handle and answers lookups of already-lowercased keys.
 * map_text.c also owns the text reader and the in-memory table that both
 * texthash and map_build use, so the text format is parsed in one place. */
#ifndef POSTERN_MAP_INT_H
#define POSTERN_MAP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>

#include "buf.h"
#include "map.h"

/* Limits of the text format: a logical line (continuations joined) and a
 * key. Longer ones are syntax errors. */
#define MAP_LINE_MAX (64 * 1024)
#define MAP_KEY_MAX 1024

struct map_backend {
	const char *type; /* "hash", "texthash" */
	const char *suffix; /* appended to the path to name the file: ".db", "" */
	/* snapshot: the handle holds its own copy of the data, so it stays
	 * usable even when the file is changed in place. */
	bool snapshot;
	/* open: opens path; *st_r describes the file actually opened (fstat
	 * on the open descriptor, so a concurrent rename cannot mislead).
	 * Returns NULL with *err_r (heap, names path) on failure. */
	void *(*open)(const char *path, struct stat *st_r, char **err_r);
	/* lookup: key is lowercased and non-empty. On MAP_FOUND the value
	 * replaces the contents of value; on MAP_TEMP *err_r (heap). */
	enum map_result (*lookup)(void *handle, const char *key, buf *value, char **err_r);
	void (*close)(void *handle);
};

extern const struct map_backend map_backend_hash;
extern const struct map_backend map_backend_texthash;

/* map_fold_key: ASCII lower-casing in place (keys are not locale text). */
void map_fold_key(char *key);

/* The in-memory table of a parsed text file: unique lowercased keys in
 * file order, with an open-addressing index. */
typedef struct map_table map_table;

/* map_table_read: parses the text file open as fp (named path in the
 * messages). Syntax errors and duplicate keys are reported through diag
 * (may be NULL) with the line where the entry starts; a duplicate keeps
 * the first value. Returns the number of syntax errors, with *table_r set
 * when it is 0; or -1 with *err_r (heap) when the file cannot be read. */
int map_table_read(FILE *fp, const char *path, cfg_diag_fn *diag, void *ctx, map_table **table_r,
		   char **err_r);
void map_table_free(map_table **t);
size_t map_table_count(const map_table *t);
/* map_table_entry: the i-th entry in file order, i < map_table_count. */
void map_table_entry(const map_table *t, size_t i, const char **key_r, const char **value_r);
/* map_table_line: the line of the text file where the i-th entry starts. */
int map_table_line(const map_table *t, size_t i);
/* map_table_get: the value of a lowercased key, or NULL. */
const char *map_table_get(const map_table *t, const char *key);

/* map_db_write: creates the Berkeley DB hash file path (which must not
 * exist) with permission bits mode (less the umask) holding every entry of
 * t, synced to disk. Returns 0, or -1 with *err_r (heap); the caller
 * removes path on failure. */
int map_db_write(const char *path, const map_table *t, mode_t mode, char **err_r);

#endif
