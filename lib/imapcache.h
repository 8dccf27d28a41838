/* imapcache.h: the per-folder FETCH cache, the file `postern-cache` in a
 * Maildir folder. It keeps, per message, the values imapmsg.h's enum
 * imapmsg_field names (ENVELOPE, BODY, BODYSTRUCTURE, the header block),
 * keyed by UID and checked against the message's base file name, so a
 * warm FETCH ENVELOPE over a big folder opens no message file. The file is
 * mmap'd and indexed in memory at open (O(1) lookup by UID); several
 * processes append to it at once; it is compacted by atomic rename. It is
 * only a cache: any doubt about a record (checksum, base name, UIDVALIDITY)
 * is a miss, never a wrong answer. The file format is described at the top
 * of imapcache.c. imapcache_compute makes the values from a message's bytes
 * through lib/mime. */
#ifndef POSTERN_IMAPCACHE_H
#define POSTERN_IMAPCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "imapmsg.h"

/* The cache file's name in the folder (Dovecot ignores postern-* files). */
#define IMAPCACHE_FILE "postern-cache"
/* A value longer than this is not stored (imapcache_put says 0). */
#define IMAPCACHE_MAX_VALUE (256 * 1024)
/* A base name longer than this is not stored (NAME_MAX is 255). */
#define IMAPCACHE_MAX_BASE 255
/* The file never grows past this many bytes (offsets are 32-bit); past it
 * new values are not stored until a compaction makes room. */
#define IMAPCACHE_MAX_FILE ((uint32_t)1 << 31)
/* Values queued by imapcache_put are written when this many bytes are
 * pending (or at imapcache_flush / imapcache_close). */
#define IMAPCACHE_MAX_PENDING (256 * 1024)
/* imapcache_compact rewrites the file only when the dead bytes (records
 * replaced by later ones, or of messages that are gone or are another file
 * now) are at least IMAPCACHE_COMPACT_PCT percent of the file and at least
 * IMAPCACHE_COMPACT_MIN bytes (unless forced). */
#define IMAPCACHE_COMPACT_PCT 40
#define IMAPCACHE_COMPACT_MIN (256 * 1024)

typedef struct imapcache imapcache;

/* imapcache_open: opens (creating it when missing) the cache file of the
 * folder directory dir (the Maildir or a ".name" folder) for the folder's
 * UIDVALIDITY, maps it and indexes its records. A file with another
 * UIDVALIDITY or a bad file header is replaced by an empty one (atomic
 * rename). When the file cannot be created or written (read-only folder)
 * the cache opens read-only if the file exists, else empty: puts are then
 * dropped. Returns 0, or -1 with *err_r (heap) when dir cannot be used at
 * all (the caller goes on without a cache). */
int imapcache_open(const char *dir, uint32_t uidvalidity, imapcache **c_r, char **err_r);
/* imapcache_close: flushes pending values (without waiting for the lock:
 * when another process holds it they are dropped), unmaps, frees *c and
 * sets it to NULL (NULL is fine). */
void imapcache_close(imapcache **c);

/* imapcache_refresh: indexes records other processes appended since the
 * last refresh, and reopens the file when it was replaced (compaction,
 * rebuild). Cheap when nothing changed (one fstat and one stat). Values
 * returned by imapcache_get before it are invalid after it. 0, or -1 with
 * *err_r (heap) when the file cannot be read (the cache then answers
 * misses until a refresh works). */
int imapcache_refresh(imapcache *c, char **err_r);

/* imapcache_get: the cached value of field for message uid whose file's
 * base name (the name up to ":2,", lib/mbx's base) is base. Returns 1 with
 * *val_r / *len_r pointing into the mapping (valid until the next
 * imapcache_refresh, _flush, _put, _compact or _close on c), or 0 when
 * there is none: no record, a record for another base name (another file
 * under that UID), or one whose checksum fails. Never blocks. */
int imapcache_get(imapcache *c, uint32_t uid, const char *base, enum imapmsg_field field,
		  const char **val_r, size_t *len_r);
/* imapcache_get_buf: imapcache_get, appending the value to out. */
int imapcache_get_buf(imapcache *c, uint32_t uid, const char *base, enum imapmsg_field field,
		      buf *out);

/* imapcache_put: queues a value of one field of message uid (file base
 * name base) for writing. Returns 1 when queued, 0 when not stored: the
 * value or base is over its limit, the same value is already cached or
 * queued, or the cache is read-only. Writes (imapcache_flush) happen when
 * IMAPCACHE_MAX_PENDING bytes are queued. Queued values are not seen by
 * imapcache_get before they are flushed. */
int imapcache_put(imapcache *c, uint32_t uid, const char *base, enum imapmsg_field field,
		  const char *value, size_t len);
/* imapcache_put_all: queues the fields of vals that are not NULL as one
 * record (one base name for all): what imapcache_compute made. Returns the
 * number of fields queued. */
int imapcache_put_all(imapcache *c, uint32_t uid, const char *base,
		      buf *const vals[IMAPMSG_NFIELDS]);

/* imapcache_flush: appends the queued records to the file with one write,
 * under an exclusive lock on the file that is tried without waiting (the
 * event loop never blocks on another process). A torn record left at the
 * end by a crashed writer is cut off first; a file with a bad record is
 * made anew (empty, by rename). Returns 1 when written (the
 * records are then indexed), 0 when nothing was queued or the lock is
 * busy (the records stay queued for the next flush; past twice
 * IMAPCACHE_MAX_PENDING they are dropped), or -1 with *err_r (heap) when
 * the write failed (the queued records are dropped, the file is cut back
 * to where it was). */
int imapcache_flush(imapcache *c, char **err_r);

/* A message that exists in the folder, for imapcache_compact. */
struct imapcache_live {
	uint32_t uid;
	const char *base;
};

/* imapcache_compact: keeps only the newest value of each field of the
 * messages in live (n of them, any order), one record per message, in a
 * new file renamed over the old one. Done only when the dead share passes
 * IMAPCACHE_COMPACT_PCT and IMAPCACHE_COMPACT_MIN, or when force is true.
 * Queued values are flushed first. Returns 1 when rewritten, 0 when not
 * needed or another process holds the lock, -1 with *err_r (heap) on a
 * write error (the old file stays). */
int imapcache_compact(imapcache *c, const struct imapcache_live *live, size_t n, bool force,
		      char **err_r);

/* What the cache holds, for logs, tests and the benchmark. */
struct imapcache_stats {
	uint32_t file_bytes;  /* indexed length of the file */
	size_t records;	      /* valid records indexed */
	size_t messages;      /* UIDs with at least one value */
	size_t live_bytes;    /* bytes of records holding a newest value */
	size_t bad_records;   /* records skipped: checksum or framing */
	size_t pending_bytes; /* queued, not yet written */
	bool read_only;
};
void imapcache_stats(imapcache *c, struct imapcache_stats *st);

/* imapcache_compute: appends to out[f], for every field f whose out[f] is
 * not NULL, its value for the message of len bytes at data (LF or CRLF
 * line ends): ENVELOPE, BODY and BODYSTRUCTURE as lib/mime writes them,
 * the header block (with its blank line) in CRLF form. The message is
 * parsed once; when only ENVELOPE and HEADER are asked for, only its
 * header is parsed. */
void imapcache_compute(const char *data, size_t len, buf *const out[IMAPMSG_NFIELDS]);

#endif
