/* map.h: lookup tables ("maps") behind one interface, as Postfix's dict.
 * A map is named "type:path":
 *   hash:/etc/postern/virtual   Berkeley DB hash file /etc/postern/virtual.db
 *                               built from the text file by map_build
 *   texthash:/etc/postern/virtual   the text file itself, read into memory
 * A name without "type:" means hash. Text format (same as Postfix):
 * "key value" per line, '#' comments, blank lines ignored, a line starting
 * with white space continues the previous value. Keys are matched case-
 * insensitively (stored lowercased). A map notices when its file was
 * replaced (map_build renames a new file into place) and reopens it, so
 * long-running programs see rebuilt maps and never a half-written one:
 * at the next lookup after the map generation moved (mapgen.h), else
 * within a second. */
#ifndef POSTERN_MAP_H
#define POSTERN_MAP_H

#include "cfg.h"

enum map_result {
	MAP_FOUND = 1,
	MAP_NOTFOUND = 0,
	MAP_TEMP = -1, /* could not answer now (unreadable file, ...): retry later */
};

typedef struct map map;

/* map_open: opens the map. Returns NULL with *err_r (heap) when the type is
 * unknown or the file cannot be opened; an unreadable file is never taken
 * for an empty map. */
map *map_open(const char *name, char **err_r);
void map_close(map **m);
const char *map_name(const map *m);
/* map_lookup: key is folded to lower case. On MAP_FOUND *value_r points to
 * a string owned by the map, valid until the next call on it. On MAP_TEMP
 * the reason is in map_error. */
enum map_result map_lookup(map *m, const char *key, const char **value_r);
const char *map_error(const map *m);

/* map_build: like postmap: reads the text file path and writes path.db,
 * through a temporary file that is fsynced and renamed into place. The
 * .db gets the permission bits of the text file and, when built by root,
 * its owner and group (as postmap), so a private map stays private. Syntax
 * errors are reported through diag with file:line and make it fail.
 * Returns 0, or -1 (*err_r heap, set when the failure is not a syntax error
 * already reported). */
int map_build(const char *path, cfg_diag_fn *diag, void *ctx, char **err_r);

/* map_check_values: reads the text source of the map called name (the file
 * itself for texthash:, the file a hash: map is built from) and passes each
 * entry's value to check (0 good, -1 bad with *err_r heap). A rejected value
 * is reported through diag as an error with file:line, as are syntax errors
 * and a source that cannot be read. Returns the number of errors. */
typedef int map_value_check_fn(const char *value, char **err_r);
int map_check_values(const char *name, map_value_check_fn *check, cfg_diag_fn *diag, void *ctx);

/* map_parse_line: the text format's line splitter, shared with the text
 * backend and the tests. Splits a (continuation-joined) logical line into
 * key and value; returns 1 entry, 0 blank/comment, -1 syntax error. The
 * pointers point into line, which is modified. */
int map_parse_line(char *line, char **key_r, char **value_r);

/* map_each_entry: like map_check_values, but fn sees each entry whole:
 * the text file (path), the line where the entry starts, key and value.
 * fn reports what it finds itself and returns the number of errors it
 * reported; map_each_entry returns their sum plus its own (syntax errors,
 * a source that cannot be read, reported through diag). */
typedef int map_entry_fn(void *fctx, const char *path, int line, const char *key,
			 const char *value);
int map_each_entry(const char *name, map_entry_fn *fn, void *fctx, cfg_diag_fn *diag, void *ctx);

#endif
