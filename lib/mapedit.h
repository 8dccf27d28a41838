/* mapedit.h: editing the text source of a map the way an admin would by
 * hand: set or remove one key, keeping every other line and comment, then
 * rebuild the .db. The text file is replaced atomically (tmp, fsync,
 * rename) and so is the .db (map_build), so readers never see half a map.
 * A rewritten file keeps the mode of the old one and, under root, its
 * owner and group. */
#ifndef POSTERN_MAPEDIT_H
#define POSTERN_MAPEDIT_H

#include <stdbool.h>
#include <sys/types.h>

/* mapedit_set: key (lower-cased) gets value, replacing an existing entry
 * (with its continuation lines) or appending one. Creates the file if it
 * does not exist. rebuild: run map_build afterwards. 0 or -1 (*err_r). */
int mapedit_set(const char *path, const char *key, const char *value, bool rebuild,
		char **err_r);
/* mapedit_del: removes the key's entry (every copy of it); 1 removed,
 * 0 not there (file untouched, no rebuild), -1 error. */
int mapedit_del(const char *path, const char *key, bool rebuild, char **err_r);
/* mapedit_create: creates path as an empty file with exactly mode when it
 * does not exist yet (O_EXCL; an existing file is left alone), for a map
 * that must never be readable by others, such as the password map: later
 * edits keep the text file's mode (and, under root, its owner), and
 * map_build gives the .db the same. The caller may chown it before the
 * first edit. 1 created, 0 existed already, -1 error (*err_r). */
int mapedit_create(const char *path, mode_t mode, char **err_r);
/* mapedit_list: calls fn for every entry in file order (keys folded;
 * duplicates as often as they appear; lines with syntax errors skipped).
 * A missing file is an empty map. 0 or -1. */
int mapedit_list(const char *path, void (*fn)(void *ctx, const char *key, const char *value),
		 void *ctx, char **err_r);

#endif
