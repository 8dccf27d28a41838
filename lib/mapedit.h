/* mapedit.h: editing the text source of a map the way an admin would by
 * hand: set or remove one key, keeping every other line and comment, then
 * rebuild the .db. The text file is replaced atomically (tmp, fsync,
 * rename) and so is the .db (map_build), so readers never see half a map. */
#ifndef POSTERN_MAPEDIT_H
#define POSTERN_MAPEDIT_H

#include <stdbool.h>

/* mapedit_set: key (lower-cased) gets value, replacing an existing entry
 * (with its continuation lines) or appending one. Creates the file if it
 * does not exist. rebuild: run map_build afterwards. 0 or -1 (*err_r). */
int mapedit_set(const char *path, const char *key, const char *value, bool rebuild,
		char **err_r);
/* mapedit_del: removes the key's entry (every copy of it); 1 removed,
 * 0 not there (file untouched, no rebuild), -1 error. */
int mapedit_del(const char *path, const char *key, bool rebuild, char **err_r);
/* mapedit_list: calls fn for every entry in file order (keys folded;
 * duplicates as often as they appear; lines with syntax errors skipped).
 * A missing file is an empty map. 0 or -1. */
int mapedit_list(const char *path, void (*fn)(void *ctx, const char *key, const char *value),
		 void *ctx, char **err_r);

#endif
