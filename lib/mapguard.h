/* mapguard.h: survive a mapped file that shrinks under us. A process that
 * mmaps files other processes may truncate (imapd reading a Maildir
 * message while something cuts it short) gets SIGBUS when it touches a
 * page past the new end of the file, and dies with every session it
 * serves. mapguard registers such mappings; its SIGBUS handler, for a
 * fault inside one, maps zero-filled memory over the whole mapping (the
 * access is retried and the rest of the reading sees zeros) and marks the
 * mapping hit. A fault anywhere else gets the default action (the process
 * dies as before: real bugs still crash). The caller checks mapguard_hit
 * after it used the bytes and treats them as lost. For single-threaded
 * processes. */
#ifndef POSTERN_MAPGUARD_H
#define POSTERN_MAPGUARD_H

#include <stdbool.h>
#include <stddef.h>

/* Mappings guarded at once in one process. */
#define MAPGUARD_MAX 64

/* mapguard_add: guards the mapping [p, p+len) (p as mmap returned it);
 * (re)installs the SIGBUS handler when another is in place. Returns a slot, or -1 when
 * all MAPGUARD_MAX slots are taken (the caller reads the file instead). */
int mapguard_add(const void *p, size_t len);
/* mapguard_hit: the mapping of slot was cut short since mapguard_add. */
bool mapguard_hit(int slot);
/* mapguard_remove: before munmap; slot -1 is ignored. */
void mapguard_remove(int slot);

#endif
