/* imapbox_int.h: what the files of the imapbox module share and nobody
 * else may use: the box, the session's view, the MODSEQ table
 * (imapbox_modseq.c), the keyword map (imapbox_kw.c). Files: imapbox.c
 * (open, view, imapmsg), imapbox_sync.c (sync, take), imapbox_store.c
 * (STORE, EXPUNGE), imapbox_append.c (APPEND, COPY, MOVE), imapbox_status.c
 * (STATUS), imapbox_park.c (boxes kept after their session),
 * imapbox_modseq.c, imapbox_kw.c. */
#ifndef POSTERN_IMAPBOX_INT_H
#define POSTERN_IMAPBOX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "imapbox.h"
#include "mbx.h"

/* A message's state as postern-modseq records it: bits 0-5 the Maildir
 * flags D F P R S T (enum mbx_flag), bits 6-31 the keyword letters a-z. */
#define IBX_MASK_FLAGS 0x3fu
#define IBX_KW_SHIFT 6

/* A full rescan at least this often (seconds) when imapbox_sync is
 * called, whatever the directory time stamps say (see imapbox_sync.c). */
#define IBX_RESCAN_SECS 60
/* Opens again while lib/mbx reports an unstable scan (files renamed under
 * it); after these, missed messages are kept rather than expunged. */
#define IBX_UNSTABLE_TRIES 2

/* ---- keywords: dovecot-keywords (imapbox_kw.c) ---- */

struct ibx_kw {
	char *path, *lock_path;
	char *names[IMAPBOX_MAX_KEYWORDS]; /* by letter index, NULL: free */
	unsigned count;                    /* names in use */
	struct stat st;                    /* of the file as last read */
	bool have_st;
};

/* ibx_kw_init / ibx_kw_free: the map of folder dir, not read yet. */
void ibx_kw_init(struct ibx_kw *kw, const char *dir);
void ibx_kw_free(struct ibx_kw *kw);
/* ibx_kw_load: (re)reads the file when it changed; 1 when the names
 * changed, 0 when not, -1 with *err_r on a read error (a missing file is
 * an empty map; bad lines are skipped and logged). */
int ibx_kw_load(struct ibx_kw *kw, char **err_r);
/* ibx_kw_parse: the file text into names (the fuzz target's entry). */
void ibx_kw_parse(struct ibx_kw *kw, const char *text, size_t len);
/* ibx_kw_index: the letter index of name (case-insensitive), -1 if none. */
int ibx_kw_index(const struct ibx_kw *kw, const char *name);
/* ibx_kw_mask: the mask bits for names[0..n), adding the ones the file
 * lacks (under its dot-lock). IMAPBOX_OK, IMAPBOX_BAD, IMAPBOX_LIMIT or
 * IMAPBOX_TEMP (*err_r). */
int ibx_kw_mask(struct ibx_kw *kw, const char *const *names, size_t n, uint32_t *mask_r,
		char **err_r);
/* ibx_kw_letters: the letters of mask's keyword bits into out (27 bytes). */
void ibx_kw_letters(uint32_t mask, char *out);
/* ibx_mask_of: the mask of a message of lib/mbx. */
uint32_t ibx_mask_of(const struct mbx_msg *m);

/* ---- MODSEQs: postern-modseq (imapbox_modseq.c) ---- */

/* MODSEQs are kept in 62 bits (RFC 7162 allows 63; one is added per
 * change, so 2^62 is never reached), and the tables below keep their
 * flags in the other bits: 16 bytes a message (1,000 IDLE sessions hold
 * one each). A record with a larger MODSEQ is a bad record. */
#define IBX_MODSEQ_MAX ((UINT64_C(1) << 62) - 1)

struct ibx_mrec {          /* one message in the table */
	uint32_t uid;
	uint32_t mask;
	uint64_t modseq : 62;
	uint64_t expunged : 1;
};

struct ibx_mseq {
	char *path;
	int fd;                    /* -1: not open */
	dev_t dev;
	ino_t ino;
	uint32_t uidvalidity;
	uint64_t floor;            /* header: no MODSEQ is below it */
	uint64_t highest;
	off_t offset;              /* records read up to here */
	struct ibx_mrec *recs;     /* by UID */
	size_t n, cap;
	size_t nfile;              /* records in the file (for compaction) */
	bool locked;
	bool corrupt;              /* found bad: rebuild under the lock */
};

/* A change to record: uid with its new mask, or expunged. */
struct ibx_mchange {
	uint32_t uid;
	uint32_t mask;
	bool expunged;
	uint64_t modseq;           /* set by ibx_mseq_append */
};

/* ibx_mseq_init: uidvalidity 0 takes the file's (ibx_record_changes
 * compares it with the folder's and rebuilds when they differ). */
void ibx_mseq_init(struct ibx_mseq *ms, const char *dir, uint32_t uidvalidity);
void ibx_mseq_free(struct ibx_mseq *ms);
/* ibx_mseq_refresh: opens the file if needed (again when it was replaced)
 * and reads records appended since. 1 when something was read, 0 when
 * not, -1 with *err_r. A missing or bad file sets ms->corrupt (the next
 * ibx_mseq_lock rebuilds it from the caller's list). */
int ibx_mseq_refresh(struct ibx_mseq *ms, char **err_r);
/* ibx_mseq_lock / ibx_mseq_unlock: the file's flock; lock also refreshes.
 * 0 or -1 with *err_r. */
int ibx_mseq_lock(struct ibx_mseq *ms, char **err_r);
void ibx_mseq_unlock(struct ibx_mseq *ms);
/* ibx_mseq_need_rebuild: the file is missing, bad, or of another
 * UIDVALIDITY. */
bool ibx_mseq_need_rebuild(const struct ibx_mseq *ms);
/* ibx_mseq_rebuild (locked): replaces the file with one record per
 * message of mb, all at one MODSEQ above anything seen before. */
int ibx_mseq_rebuild(struct ibx_mseq *ms, const mbx *mb, char **err_r);
/* ibx_mseq_append (locked): records ch[0..n), each with the next MODSEQ
 * (written into ch[k].modseq), and compacts the file when most of it is
 * dead. 0 or -1 with *err_r. */
int ibx_mseq_append(struct ibx_mseq *ms, struct ibx_mchange *ch, size_t n, char **err_r);
/* ibx_mseq_find: the table's record of uid, NULL if none. */
const struct ibx_mrec *ibx_mseq_find(const struct ibx_mseq *ms, uint32_t uid);
/* ibx_mseq_parse: applies the records of a file's bytes (fuzz entry and
 * the reader's core); *used_r gets the bytes taken (whole good records).
 * -1 when the header is bad. */
int ibx_mseq_parse(struct ibx_mseq *ms, const unsigned char *data, size_t len, bool with_header,
		   size_t *used_r);

/* ---- the box ---- */

_Static_assert(sizeof(struct ibx_mrec) == 16, "a MODSEQ record is 16 bytes");

struct ibx_view {          /* one message as the session knows it */
	uint32_t uid;
	uint32_t mask;
	uint64_t modseq : 62;
	uint64_t recent : 1;
	uint64_t expunged : 1;     /* gone elsewhere, EXPUNGE not sent yet */
};

/* What FETCH learned of a view message (box->meta, parallel to the view,
 * made by the first imapbox_msg: an IDLE session has none). */
struct ibx_meta {
	long long vsize;           /* -1: not known yet */
	time_t idate;              /* -1: not known yet */
};

struct ibx_snap {          /* one message as the last sync found it */
	uint32_t uid;
	uint32_t mask;
	uint64_t modseq : 62;
	uint64_t recent : 1;
};

_Static_assert(sizeof(struct ibx_view) == 16 && sizeof(struct ibx_snap) == 16, "16 bytes a message");

struct ibx_stamp {         /* what a directory or file looked like */
	struct timespec mtime;
	ino_t ino;
	off_t size;
};

struct imapbox {
	char *path;
	bool rw;
	mbx *mb;
	struct ibx_kw kw;
	struct ibx_mseq ms;
	uint32_t uidvalidity, uidnext;
	/* the view */
	struct ibx_view *view;
	struct ibx_meta *meta;     /* NULL, or one per view message */
	size_t nview, capview;
	/* the last sync's findings (NULL: the same as the view) */
	struct ibx_snap *snap;
	size_t nsnap;
	uint32_t nrecent;          /* \Recent messages in the view */
	bool snap_dirty;           /* the snapshot may differ from the view */
	uint32_t snap_uidvalidity, snap_uidnext;
	uint64_t snap_highest;
	unsigned kw_count_told;    /* keywords in FLAGS last sent */
	struct ibx_stamp st_new, st_cur, st_ulist;
	struct timespec st_taken;  /* when those stamps were read (before) */
	time_t last_full;
	uint32_t unseen_first;     /* imapbox_unseen_first, when unseen_known */
	bool unseen_known;
	uint32_t in_new;           /* the mbx's messages still in new/ (the
				    * last full sync left them: read-only) */
	bool rescan;               /* the next full sync scans (IBX_RESCAN_SECS) */
	/* results handed out */
	uint32_t *out_seqs, *out_uids, *out_changed, *out_modified;
	const char *kwnames[IMAPBOX_MAX_KEYWORDS];
	char *watch[5];            /* 3 watched paths, NULL, the uidlist */
};

/* How long a session's folder is kept after it left (imapbox_park.c),
 * how many are kept, and at most how many messages they hold together. */
#define IBX_PARK_SECS 300
#define IBX_PARK_SLOTS 4
#define IBX_PARK_MAX_MSGS 1000000
/* ibx_park: imapbox_close keeps box for a later open of the same folder
 * in this process; false when it is not kept (the caller frees it). */
bool ibx_park(imapbox *box);
/* ibx_unpark: the kept box of folder dir, taken out of the store (NULL:
 * none). It is as its last session left it: see ibx_reuse. */
imapbox *ibx_unpark(const char *dir);
/* ibx_reuse: makes an unparked box a new session's: \Recent of the old
 * session cleared, synced (fully when its stamps cannot be trusted or a
 * read-write session must claim new/). 0 or -1 with *err_r. */
int ibx_reuse(imapbox *box, bool read_write, char **err_r);
/* ibx_status_kept: STATUS from the kept box of folder dir (synced first,
 * nothing moved from new/): 0, 1 when no box is kept (the caller scans),
 * -1 with *err_r. ibx_status_of_box: the items of a synced box. */
int ibx_status_kept(const char *dir, unsigned items, struct imapbox_status *st, char **err_r);
int ibx_status_of_box(imapbox *box, unsigned items, struct imapbox_status *st, char **err_r);
/* ibx_free: frees a box for good (imapbox_close parks it instead). */
void ibx_free(imapbox *box);
/* ibx_stamps_trusted: the kept stamps were read after the directories'
 * mtimes settled (mbx_mtime_settled): a later change shows. */
bool ibx_stamps_trusted(const imapbox *box);
/* ibx_view_changed: the view changed: cached answers are recomputed. */
void ibx_view_changed(imapbox *box);

/* ibx_stamp_of: the stamp of path (a missing file: all zero). */
void ibx_stamp_of(const char *path, struct ibx_stamp *st);
bool ibx_stamp_eq(const struct ibx_stamp *a, const struct ibx_stamp *b);
/* ibx_full_sync: reopen the mbx, record what the side file lacks, build
 * the snapshot (imapbox_sync.c; also used by imapbox_open). */
int ibx_full_sync(imapbox *box, char **err_r);
/* ibx_record_changes: brings postern-modseq in line with mb (rebuilding
 * it when missing or bad) under its lock; records above MODSEQ
 * scan_modseq are newer than mb's scan and left alone. 0 or -1. */
int ibx_record_changes(struct ibx_mseq *ms, const mbx *mb, uint64_t scan_modseq, char **err_r);
/* ibx_record_new: state records for messages just added to folder dir
 * (APPEND, COPY); skipped when the file is missing or bad (the next sync
 * rebuilds it). Failure is logged, not returned: the message is in. */
void ibx_record_new(const char *dir, uint32_t uidvalidity, const uint32_t *uids, const uint32_t *masks,
		    size_t n);
/* ibx_expunge_uids: expunges the messages with these UIDs (ascending),
 * \Deleted or not (MOVE). As imapbox_expunge. */
int ibx_expunge_uids(imapbox *box, const uint32_t *uids, size_t nuids, bool need_deleted, char **err_r);
/* ibx_snap_ensure: after an imapbox_take that reported everything, the
 * snapshot equals the view and is not kept (NULL); this makes it again
 * from the view before it is changed or read. */
void ibx_snap_ensure(imapbox *box);
/* ibx_build_snap: the snapshot from box->mb and the MODSEQ table. */
void ibx_build_snap(imapbox *box, const uint32_t *recent_uids, size_t nrecent);
/* ibx_view_find: index of uid in the view, -1 if none. */
long ibx_view_find(const imapbox *box, uint32_t uid);
/* ibx_errno_result: IMAPBOX_NOSPACE for ENOSPC/EDQUOT, else IMAPBOX_TEMP. */
int ibx_errno_result(int err);
/* ibx_mbx_flags / ibx_imap_flags: IMAPMSG_ bits <-> enum mbx_flag bits
 * (the same six bits: kept as functions so the mapping is one place). */
unsigned ibx_imap_flags(uint32_t mask);

#endif
