/* mapgen.h: the generation of an instance's lookup tables, so an admin
 * change acts before mailctl returns. A 64-bit counter lives in the file
 * $queue_directory/private/mapgen; every daemon maps it shared (read only)
 * at startup, and mailctl adds one to it after it has replaced a map file.
 * map.c compares the counter with the value it saw last (one memory read
 * per lookup, no system call) and looks at its file again when it moved.
 * This module only keeps the counter; it knows nothing of maps. */
#ifndef POSTERN_MAPGEN_H
#define POSTERN_MAPGEN_H

#include <stdint.h>

#define MAPGEN_FILE "mapgen"

/* mapgen_attach: maps the counter of the instance whose queue directory is
 * queue_dir for mapgen_current, creating the file when it does not exist.
 * Replaces an earlier attachment. 0, or -1 with *err_r (heap); then
 * mapgen_current stays 0 and maps fall back to their once-a-second check. */
int mapgen_attach(const char *queue_dir, char **err_r);
void mapgen_detach(void);

/* mapgen_current: the counter's value now; 0 when not attached. */
uint64_t mapgen_current(void);

/* mapgen_bump: adds one to the counter of queue_dir (creating the file;
 * when root creates it, it goes to the owner of queue_dir/private, so the
 * daemons can map it). Call it after the new map file is in place: a
 * lookup that starts after mapgen_bump returned sees the new file.
 * Returns the new value (> 0), or 0 with *err_r (heap). */
uint64_t mapgen_bump(const char *queue_dir, char **err_r);

#endif
