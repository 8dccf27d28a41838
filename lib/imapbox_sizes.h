/* imapbox_sizes.h: when and how the CRLF sizes of a folder's messages are
 * written into its dovecot-uidlist (the W= extension) for imapd: a FETCH
 * of RFC822.SIZE over many messages whose sizes are in neither their file
 * names nor the uidlist reads every such file; recording the sizes once
 * lets every later session answer from memory. The decision (how many
 * messages make it worth it) and the writing live here, so imapd never
 * touches the uidlist itself. Remembering that it was done (once per
 * folder per process) is the caller's. */
#ifndef POSTERN_IMAPBOX_SIZES_H
#define POSTERN_IMAPBOX_SIZES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imapbox.h"

/* A FETCH of sizes over at least this many messages is worth recording. */
#define IMAPBOX_SIZES_RECORD_MIN 1000
/* Messages of the set looked at to tell whether sizes are missing. */
#define IMAPBOX_SIZES_SAMPLE 16

/* imapbox_sizes_worth_recording: whether a FETCH of the sizes of seqs[0..n)
 * (ascending sequence numbers of box's view) should have the folder's
 * sizes recorded when it is done: n reaches IMAPBOX_SIZES_RECORD_MIN and
 * one of the first IMAPBOX_SIZES_SAMPLE messages (not expunged) has no
 * known size. Reads no message file. */
bool imapbox_sizes_worth_recording(imapbox *box, const uint32_t *seqs, size_t n);

/* imapbox_sizes_record: records the size of every message of folder dir
 * that has none in its name or the uidlist (reading those files once,
 * under the uidlist's lock, as STATUS SIZE does). 0, or -1 with *err_r
 * (heap) when the folder cannot be read or the uidlist not written. */
int imapbox_sizes_record(const char *dir, char **err_r);

#endif
