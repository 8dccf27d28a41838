/* mbx_int.h: what the files of the mbx module share and nobody else may
 * use: the folder struct, the records of one pass over a folder (uidlist,
 * scan, matching) and the functions each file offers the others. The
 * public API and the rules for concurrent processes are in mbx.h; the
 * uidlist format and its races are described in mbx_uidlist.c. Files:
 * mbx.c (open, message list), mbx_arena.c, mbx_name.c (file names, flags),
 * mbx_scan.c (new/ and cur/), mbx_uidlist.c, mbx_lock.c, mbx_sync.c (UIDs
 * for files), mbx_size.c (sizes), mbx_msg.c (one message), mbx_cache.c
 * (the last pass per folder, reused while nothing changed). */
#ifndef POSTERN_MBX_INT_H
#define POSTERN_MBX_INT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "mbx.h"

#define MBX_LOCK_SUFFIX ".lock"
#define MBX_SCAN_TRIES 5 /* scans while a directory keeps changing */
/* Sizes are not read at open when neither the name nor the uidlist has
 * them (a uidlist Dovecot wrote has no S): mbx_msg stats a file on first
 * need. An mbx that stat'ed at least this many files records them as S
 * exts in the uidlist when freed (lock free at once), so later opens and
 * sessions stat none; files numbered under the lock are stat'ed then. */
#define MBX_STAT_RECORD_MIN 64

/* ---- string arena: many small strings freed together (mbx_arena.c) ---- */

struct mbx_arena;

/* mbx_arena_alloc: len bytes that live until mbx_arena_free; *ar starts
 * as NULL. Never fails (xmalloc). */
char *mbx_arena_alloc(struct mbx_arena **ar, size_t len);
/* mbx_arena_strndup: s[0..len) and a NUL, in the arena. */
static inline char *mbx_arena_strndup(struct mbx_arena **ar, const char *s, size_t len)
{
	char *p = mbx_arena_alloc(ar, len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}
void mbx_arena_free(struct mbx_arena **ar);

/* One uidlist record. exts holds every ext token but S and W, as read. */
struct mbx_rec {
	uint32_t uid;
	uint32_t baselen;
	bool matched;
	const char *name;
	const char *exts;
	long long s;           /* the S ext, -1 if none */
	long long w;           /* the W ext, -1 if none */
	const char *pop3;      /* the P ext's value, or NULL */
};

struct mbx_ulist {
	bool valid;            /* read and parsed as v3 */
	bool torn;             /* the last line has no newline (an append
				  cut short): records may not be appended */
	const char *bad;       /* why not valid when the file exists */
	unsigned bad_line;
	uint32_t uidvalidity, nextuid;
	const char *guid;      /* NULL: make one on write */
	const char *hdr_extra; /* unknown header fields, "" if none */
	struct mbx_rec *recs;  /* in UID order */
	size_t n;
};

/* One file found by the scan. */
struct mbx_ent {
	const char *name;
	uint32_t baselen;
	bool in_new;
	uint32_t uid;          /* 0: none yet */
	long long psize, vsize;
	const struct mbx_rec *rec; /* its uidlist record, or NULL */
};

/* Everything one pass over the folder learns; the last pass's becomes the
 * mbx's (its arena owns all strings). */
struct mbx_load {
	struct mbx_arena *ar;
	struct mbx_ulist ul;
	struct mbx_ent *ents;
	size_t n, cap;
	bool stable;           /* no directory changed during the scan */
	size_t nnew;           /* files without a UID */
	size_t nstat;          /* sizes found by stat since the last scan */
};

struct mbx_imsg {
	struct mbx_msg m;
	const char *exts;      /* uidlist ext tokens except W, "" */
	bool vsize_read;       /* vsize was counted from the file here */
	bool psize_stat;       /* psize was found by a stat here */
};

/* One pass's message list and its strings (names, bases, exts), shared
 * read-only by every mbx made from it (mbx_cache.c: sessions of one
 * folder in a process), freed with the last. An mbx that changes a
 * message (rename, a size learned) first takes a copy (mbx_msgs_own). */
struct mbx_shared {
	struct mbx_arena *ar;
	struct mbx_imsg *msgs;
	size_t n;
	unsigned refs;
};

struct mbx {
	char *path, *ulist_path, *lock_path;
	int new_fd, cur_fd;
	struct mbx_shared *sh;     /* the pass's strings */
	struct mbx_arena *ar;      /* strings learned since (renames) */
	uint32_t uidvalidity, nextuid;
	struct mbx_imsg *msgs;     /* sh->msgs, or the mbx's own copy */
	size_t n;
	bool msgs_own;
	bool stable;           /* the last scan saw the directories settle */
	size_t nstat;          /* sizes found by stat (mbx_size_stat) */
};


/* ---- file names and flags (mbx_name.c; the small ones used once per
 * file or per comparison are inline here, as they were when all of mbx
 * was one file: a scan of 50,000 files calls them about a million times) */

/* mbx_name_baselen: the length of name's base, the part before ":2,". */
static inline size_t mbx_name_baselen(const char *name)
{
	const char *info = strstr(name, ":2,");

	return info != NULL ? (size_t)(info - name) : strlen(name);
}
/* mbx_name_size_field: the number after ",<key>=" in the base, -1 if none. */
long long mbx_name_size_field(const char *name, size_t baselen, char key);
/* mbx_name_leading_number: the decimal number a name starts with (the
 * delivery time in names Maildir writers make), 0 if none. */
unsigned long long mbx_name_leading_number(const char *name);
/* mbx_name_info: the letters after ":2,", "" if none. */
static inline const char *mbx_name_info(const char *name, size_t baselen)
{
	return name[baselen] == ':' ? name + baselen + 3 : "";
}
/* mbx_name_keywords: the keyword letters (a-z) of letters, in the arena. */
const char *mbx_name_keywords(struct mbx_arena **ar, const char *letters);
/* mbx_name_cmp_base: orders two bases as memcmp would, shorter first. */
static inline int mbx_name_cmp_base(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}
/* mbx_name_with_flags: heap "<base>:2,<letters>" for m with these flags
 * and keyword letters (NULL: m's current keywords). */
char *mbx_name_with_flags(const struct mbx_msg *m, unsigned flags, const char *keywords);
/* mbx_msg_set_name: points m at its (new) file name and rereads the flags. */
void mbx_msg_set_name(struct mbx_arena **ar, struct mbx_msg *m, const char *name, bool in_new);

/* ---- directory scan (mbx_scan.c) ---- */

/* mbx_scan_all: fills ld->ents from new/ and cur/ (rescanning while the
 * directories change, ld->stable says whether they settled). 0, or -1
 * with *err_r (heap). */
int mbx_scan_all(const mbx *mb, struct mbx_load *ld, char **err_r);
/* mbx_scan_cmp_ent: qsort/bsearch order of entries by base name. */
int mbx_scan_cmp_ent(const void *a, const void *b);
/* mbx_scan_dedupe: after sorting by base, one entry per base (cur/ wins). */
void mbx_scan_dedupe(struct mbx_load *ld);
/* mbx_scan_stat_missing: sizes the name and uidlist did not give, for the
 * files without a UID only unless all (counted in ld->nstat); 1 when such
 * a file vanished and retry is set (scan again), else 0. */
int mbx_scan_stat_missing(const mbx *mb, struct mbx_load *ld, bool retry, bool all);

/* ---- sizes (mbx_size.c) ---- */

/* mbx_size_stat: fills message i's psize by a stat of its file (found
 * again when renamed; 0 when gone). */
void mbx_size_stat(mbx *mb, size_t i);
/* mbx_size_record: writes the S and W exts this mbx learned into the
 * uidlist when the lock is free at once (a cache: failure is no error). */
void mbx_size_record(mbx *mb);

/* ---- the dovecot-uidlist file (mbx_uidlist.c) ---- */

/* mbx_ulist_load: reads and parses the uidlist into ld->ul; a missing or
 * bad file is not an error (ul.valid false; ul.bad says why for a bad
 * one). -1 with *err_r (heap) only when it cannot be read. */
int mbx_ulist_load(const mbx *mb, struct mbx_load *ld, char **err_r);
/* mbx_ulist_make_guid: a random mailbox GUID (32 hex digits) in the arena. */
void mbx_ulist_make_guid(struct mbx_arena **ar, const char **guid_r);
/* mbx_ulist_format: the file text for ul's header and recs[0..n). */
buf *mbx_ulist_format(const struct mbx_ulist *ul, const struct mbx_rec *recs, size_t n);
/* mbx_ulist_commit: writes content into the lock file, fsyncs it and
 * renames it over the uidlist, which also releases the lock (on failure
 * too). 0, or -1 with *err_r (heap). */
int mbx_ulist_commit(const mbx *mb, int lockfd, const buf *content, char **err_r);

/* ---- the uidlist dot-lock (mbx_lock.c) ---- */

/* mbx_lock_take: the dot-lock, waiting up to wait_ms. The fd, or -1 with
 * *err_r (NULL err_r: no message wanted). */
int mbx_lock_take(const mbx *mb, int wait_ms, char **err_r);
/* mbx_lock_release: closes lockfd and removes the lock file. */
void mbx_lock_release(const mbx *mb, int lockfd);

/* ---- UIDs for the files of a scan (mbx_sync.c) ---- */

/* mbx_sync_match: gives each scanned file the UID of its record, counts
 * the files without one in ld->nnew. */
void mbx_sync_match(struct mbx_load *ld);
/* mbx_sync_assign: numbers the files without a UID (a new UIDVALIDITY
 * when the uidlist was bad or the UIDs ran out). */
void mbx_sync_assign(const mbx *mb, struct mbx_load *ld);
/* mbx_sync_can_append / mbx_sync_append: when the uidlist is good, ends
 * in a newline and holds few records of vanished files, the files without
 * a UID get theirs by records appended in place (no rewrite of a big
 * list); append releases the lock. 0, or -1 with *err_r (heap). */
bool mbx_sync_can_append(const struct mbx_load *ld);
int mbx_sync_append(const mbx *mb, struct mbx_load *ld, int lockfd, char **err_r);
/* mbx_sync_write: replaces the uidlist with the pass's records, which
 * releases the lock. 0, or -1 with *err_r (heap). */
int mbx_sync_write(const mbx *mb, struct mbx_load *ld, int lockfd, char **err_r);

/* ---- the per-process cache of the last pass (mbx_cache.c) ---- */

#define MBX_CACHE_SLOTS 4      /* folders kept */

struct mbx_stamp {
	struct timespec mtime;
	dev_t dev;
	ino_t ino;
	off_t size;
};

struct mbx_stamps {            /* new/, cur/, the uidlist */
	struct mbx_stamp dirs[3];
	struct timespec taken;
};

/* mbx_cache_stamps: the stamps now; false when one cannot be had (no
 * uidlist yet). */
bool mbx_cache_stamps(const mbx *mb, struct mbx_stamps *st);
/* mbx_cache_get: when the kept pass of mb's folder has stamps st, fills
 * mb's message list from it (true). */
bool mbx_cache_get(mbx *mb, const struct mbx_stamps *st);
/* mbx_cache_put: after a stable pass that began with stamps before: when
 * its list is the kept one, mb shares that; else mb's list is kept. A
 * later open reuses it without a scan only when the stamps were old
 * enough and did not change during the pass. */
void mbx_cache_put(mbx *mb, const struct mbx_stamps *before);
/* mbx_shared_unref: drops a reference (frees with the last; NULLs it). */
void mbx_shared_unref(struct mbx_shared **sh);
/* mbx_msgs_own: before a message of mb is changed: mb's own copy of the
 * list (pointers into the shared one are stale after). */
void mbx_msgs_own(mbx *mb);

/* ---- passes (mbx.c) ---- */

/* mbx_load_clear: frees what a pass holds and zeroes it for reuse. */
void mbx_load_clear(struct mbx_load *ld);
#endif
