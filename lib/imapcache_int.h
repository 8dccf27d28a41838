/* imapcache_int.h: what the files of lib/imapcache share: the cache
 * handle, the in-memory index (UID -> record of each field), the record
 * codec and the checksum. Not for other modules: they use imapcache.h.
 * The file format is described at the top of imapcache.c. */
#ifndef POSTERN_IMAPCACHE_INT_H
#define POSTERN_IMAPCACHE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "imapcache.h"

#define IMAPCACHE_MAGIC "PCACHE1\n"
#define IMAPCACHE_HDR_LEN 16	    /* file header: magic, UIDVALIDITY, crc */
#define IMAPCACHE_REC_MAGIC 0x31524350u /* "PCR1" as little-endian bytes */
#define IMAPCACHE_REC_FIXED 16	    /* magic, len, uid, base_len, nfields, 0 */
#define IMAPCACHE_REC_FIELD 12	    /* field, 3 zero bytes, vlen, vcrc */

/* One message in the index: the file offset of the record holding the
 * newest value of each field (0: none; offset 0 is the file header). */
struct imapcache_entry {
	uint32_t uid;
	uint32_t rec[IMAPMSG_NFIELDS];
	uint8_t checked; /* bit f: field f's value checksum was verified */
	uint8_t pending; /* bit f: a value of field f is queued */
};

struct imapcache {
	char *dir, *path;
	uint32_t uidvalidity;
	int fd;		/* -1: no usable file (misses until a refresh) */
	bool read_only; /* the file could not be opened for writing */
	dev_t dev;
	ino_t ino;
	const char *map; /* the file mapped read-only, map_len bytes */
	size_t map_len;
	uint32_t end;	  /* valid records end here */
	uint32_t bad_at;  /* a bad record was counted at this offset */
	struct imapcache_entry *entries;
	size_t nentries, entries_cap;
	uint32_t *slots; /* open addressing: entry index + 1, 0 empty */
	size_t nslots;	 /* a power of two, or 0 */
	size_t hint;	 /* entries index of the last look-up's hit */
	size_t records, bad_records;
	buf *pending; /* encoded records, not yet written */
	/* imapcache_stats' walk, kept while the index is as it was then
	 * (same file, end, records and bad records): a SELECT and a close
	 * ask for it, and the walk sorts every live value. */
	struct {
		bool valid;
		ino_t ino;
		uint32_t end;
		size_t records, bad_records, messages, live_bytes;
	} memo;
};

/* A record decoded from bytes (pointers into them). */
struct imapcache_rec {
	uint32_t len, uid;
	const char *base;
	size_t base_len;
	unsigned nfields;
	struct {
		unsigned field;
		uint32_t vlen, vcrc;
		const char *val;
	} f[IMAPMSG_NFIELDS];
};

/* imapcache_crc32c: CRC-32C (Castagnoli) of len bytes, continuing crc
 * (start with 0). */
uint32_t imapcache_crc32c(uint32_t crc, const void *data, size_t len);
/* imapcache_crc32c_soft: the same without the CPU's instruction (tests). */
uint32_t imapcache_crc32c_soft(uint32_t crc, const void *data, size_t len);
uint32_t imapcache_get32(const char *p);
void imapcache_put32(char *p, uint32_t v);

/* imapcache_rec_parse: decodes the record at p, of which avail bytes are
 * there, checking its framing and header checksum (not the values').
 * 1 decoded, 0 incomplete (more bytes than avail are needed), -1 bad. */
int imapcache_rec_parse(const char *p, size_t avail, struct imapcache_rec *r);
/* imapcache_rec_encode: appends a record of the given fields (a field
 * whose vals entry is NULL is left out) to out. The caller checked the limits. */
void imapcache_rec_encode(buf *out, uint32_t uid, const char *base, size_t base_len,
			  const char *const vals[IMAPMSG_NFIELDS],
			  const size_t lens[IMAPMSG_NFIELDS]);
/* imapcache_header_encode / _check: the 16-byte file header. _check:
 * 1 good for uidvalidity, 0 good for another one, -1 bad. */
void imapcache_header_encode(char *out, uint32_t uidvalidity);
int imapcache_header_check(const char *p, size_t avail, uint32_t uidvalidity);

/* Index (imapcache.c). */
/* imapcache_find: uid's entry or NULL; remembers where it was found (the
 * next look-up tries that entry and the one after it first). */
struct imapcache_entry *imapcache_find(imapcache *c, uint32_t uid);
struct imapcache_entry *imapcache_entry_get(imapcache *c, uint32_t uid);
/* imapcache_value: field's value in the record at off when the record is
 * for base (base_len bytes); 1 with *val_r, *len_r and *crc_r, else 0. */
int imapcache_value(const imapcache *c, uint32_t off, const char *base, size_t base_len,
		    enum imapmsg_field field, const char **val_r, size_t *len_r, uint32_t *crc_r);

/* File (imapcache.c). imapcache_scan: maps the file as it is now and
 * indexes the records past c->end; returns the file size seen.
 * imapcache_reopen: drops the index and opens the file at c->path again.
 * imapcache_replaced: whether c->path is no longer the file c->fd holds. */
int imapcache_scan(imapcache *c, off_t *size_r, char **err_r);
int imapcache_reopen(imapcache *c, char **err_r);
bool imapcache_replaced(const imapcache *c);
void imapcache_drop_file(imapcache *c);
/* imapcache_fresh_file: replaces c->path by an empty cache for our
 * UIDVALIDITY (written aside, renamed over it). 0 or -1 with *err_r. */
int imapcache_fresh_file(imapcache *c, char **err_r);
/* imapcache_lock: takes the file's exclusive lock without waiting, on the
 * file that c->path names now (reopening when it was replaced) and
 * indexes what others appended. 1 locked, 0 busy, -1 error. */
int imapcache_lock(imapcache *c, char **err_r);
void imapcache_unlock(imapcache *c);

#endif
