/* imapbox.h: one selected IMAP folder as a session sees it, on lib/mbx:
 * the session's view (sequence numbers <-> UIDs, flags, keywords,
 * \Recent, MODSEQ), sync (what other processes changed, held until imapd
 * may report it), STORE, EXPUNGE, APPEND, COPY/MOVE, STATUS of a folder
 * that is not selected, and struct imapmsg for FETCH and SEARCH. It does
 * not parse IMAP syntax, know folder names (lib/mfolder) or cache message
 * contents (lib/imapcache). File formats and races: imapbox_modseq.c
 * (postern-modseq) and imapbox_kw.c (dovecot-keywords). */
#ifndef POSTERN_IMAPBOX_H
#define POSTERN_IMAPBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "imapmsg.h"

/* Side files in the folder (Dovecot ignores postern-*, Postern ignores
 * dovecot.index*). */
#define IMAPBOX_MODSEQ_FILE "postern-modseq"
#define IMAPBOX_KEYWORDS_FILE "dovecot-keywords"
/* Keywords map to the letters a-z of the file name: at most 26 per folder
 * (a 27th gives IMAPBOX_LIMIT, imapd answers NO [LIMIT]). */
#define IMAPBOX_MAX_KEYWORDS 26
/* Longest keyword name accepted (an IMAP atom; longer gives IMAPBOX_BAD). */
#define IMAPBOX_KEYWORD_MAX 128

/* Results of the calls that change a folder. Temporary trouble is
 * IMAPBOX_TEMP (imapd: NO, try again); the others name the response code. */
enum imapbox_result {
	IMAPBOX_OK = 0,
	IMAPBOX_TEMP = -1,      /* I/O error, lock not had: NO */
	IMAPBOX_LIMIT = -2,     /* no free keyword letter: NO [LIMIT] */
	IMAPBOX_OVERQUOTA = -3, /* Maildir++ quota would be exceeded: NO [OVERQUOTA] */
	IMAPBOX_NOSPACE = -4,   /* ENOSPC/EDQUOT writing: NO (disk full) */
	IMAPBOX_BAD = -5,       /* bad argument (keyword syntax): BAD */
	IMAPBOX_NONEXISTENT = -6, /* the folder does not exist: NO [TRYCREATE] */
	IMAPBOX_READONLY = -7,  /* EXAMINEd folder: NO [READ-ONLY] */
};

typedef struct imapbox imapbox;

/* ---- open and close ---- */

/* imapbox_open: opens the Maildir folder dir (INBOX's Maildir or a .a.b
 * folder directory) for a session: reads the uidlist (lib/mbx, giving new
 * files UIDs), dovecot-keywords and postern-modseq (rebuilt when missing
 * or corrupt: HIGHESTMODSEQ never lowered, UIDVALIDITY kept). read_write
 * (SELECT, not EXAMINE): messages in new/ are moved to cur/ and are
 * \Recent in this session (the first read-write session to see them).
 * IMAPBOX_OK, IMAPBOX_NONEXISTENT when dir is no Maildir, else
 * IMAPBOX_TEMP; *err_r (heap) says why for the log. */
int imapbox_open(const char *dir, bool read_write, imapbox **box_r, char **err_r);
/* imapbox_close: ends the session's use of box. The folder state is kept
 * in this process for a while (imapbox_park.c), so the next open of an
 * unchanged folder costs a few stats; imapbox_park_flush frees what is
 * kept (a process that ends, tests). */
void imapbox_close(imapbox **box);
void imapbox_park_flush(void);
/* imapbox_kept_hits: opens served by a kept folder state (for tests and
 * benchmarks, as lib/mbx's mbx_cache_hits). */
extern unsigned long imapbox_kept_hits;

const char *imapbox_path(const imapbox *box);
bool imapbox_read_write(const imapbox *box);
uint32_t imapbox_uidvalidity(const imapbox *box);
/* imapbox_uidnext: the next UID the folder gives (as last synced). */
uint32_t imapbox_uidnext(const imapbox *box);
uint64_t imapbox_highestmodseq(const imapbox *box);

/* ---- the view: messages by sequence number (1..imapbox_count) ---- */

/* imapbox_count: messages in the session's view (EXISTS), including ones
 * expunged elsewhere that imapd has not reported yet. */
uint32_t imapbox_count(const imapbox *box);
/* imapbox_recent: messages \Recent in this session. */
uint32_t imapbox_recent(const imapbox *box);
/* imapbox_unseen_first: sequence number of the first message without
 * \Seen, 0 if none ([UNSEEN n] of SELECT). */
uint32_t imapbox_unseen_first(imapbox *box);
/* imapbox_uid: UID of message seq (1 <= seq <= count). */
uint32_t imapbox_uid(const imapbox *box, uint32_t seq);
/* imapbox_seq_of_uid: the sequence number of uid, 0 if not in the view.
 * With nearest set, the sequence number of the first message whose UID is
 * >= uid (count + 1 if none), for UID ranges. Binary search. */
uint32_t imapbox_seq_of_uid(const imapbox *box, uint32_t uid, bool nearest);
/* imapbox_flags: IMAPMSG_ bits of message seq (IMAPMSG_RECENT included;
 * P is kept on disk, preserved by every change, and not shown to IMAP). */
unsigned imapbox_flags(const imapbox *box, uint32_t seq);
uint64_t imapbox_modseq(const imapbox *box, uint32_t seq);
/* imapbox_expunged: message seq was expunged by another process; imapd
 * has not been told (no EXPUNGE sent yet): FETCH answers NO for it, STORE
 * skips it. */
bool imapbox_expunged(const imapbox *box, uint32_t seq);

/* imapbox_flags_text: appends the FLAGS list text "(\Seen $Junk)" of
 * message seq (system flags, then keywords, \Recent last). */
void imapbox_flags_text(const imapbox *box, uint32_t seq, buf *out);
/* imapbox_flags_list / imapbox_permanentflags: the FLAGS and
 * PERMANENTFLAGS lists of SELECT, e.g. "(\Answered \Flagged \Deleted
 * \Seen \Draft work)" and the same plus "\*" while a keyword letter is
 * free (empty for a read-only session: "()"). */
void imapbox_flags_list(const imapbox *box, buf *out);
void imapbox_permanentflags(const imapbox *box, buf *out);

/* What imapbox_msg must find out when it does not know it yet (each may
 * cost a system call or a read of the message file, once per message). */
#define IMAPBOX_NEED_DATE 1u /* internaldate: the file's mtime (a stat) */
#define IMAPBOX_NEED_SIZE 2u /* size: read the file when the name and the
			      * uidlist lack its CRLF size */

/* imapbox_msg: fills *m for message seq (1 <= seq <= count): seq, uid,
 * flags, keywords, modseq; internaldate and size when asked for in need
 * or already known (else 0 and -1); source and source_ctx are left to
 * imapd. The keyword array is valid until the next imapbox_msg call or
 * change of the box. IMAPBOX_OK, or IMAPBOX_TEMP with errno (ENOENT: the
 * message was expunged meanwhile: FETCH answers NO for it). */
int imapbox_msg(imapbox *box, uint32_t seq, unsigned need, struct imapmsg *m);
/* imapbox_msg_open: opens message seq's file read-only (found again when
 * another process renamed it). The fd, or -1 with errno (ENOENT: gone). */
int imapbox_msg_open(imapbox *box, uint32_t seq);
/* imapbox_msg_base: the message's base file name (before ":2,"), the key
 * lib/imapcache checks records against. Valid until the next sync. */
const char *imapbox_msg_base(const imapbox *box, uint32_t seq);

/* ---- sync: what changed elsewhere ---- */

/* imapbox_sync: looks for changes by other processes (new messages,
 * expunges, flag and keyword changes) and by this one; cheap when nothing
 * changed (a few stats). Changes are held until imapbox_take. In a
 * read-write session new messages in new/ are moved to cur/ and become
 * \Recent here. IMAPBOX_OK or IMAPBOX_TEMP (*err_r heap); the view is
 * unchanged on error. */
int imapbox_sync(imapbox *box, char **err_r);

/* What imapbox_take applied to the view, for imapd's untagged replies, in
 * this order: EXPUNGE for expunged_seqs (already in sending order: each
 * number is valid at the moment its EXPUNGE is sent), then EXISTS (and
 * RECENT) when exists_changed, then FETCH (FLAGS ...) [MODSEQ] for
 * changed_seqs (numbers after the expunges). Arrays belong to the box
 * until the next take. */
struct imapbox_changes {
	const uint32_t *expunged_seqs;
	const uint32_t *expunged_uids; /* the same messages' UIDs */
	size_t nexpunged;
	bool exists_changed;
	uint32_t exists, recent;
	const uint32_t *changed_seqs;  /* ascending */
	size_t nchanged;
	bool flags_changed;            /* a new keyword: send FLAGS and
					* PERMANENTFLAGS again */
	bool uidvalidity_changed;      /* the folder was renumbered: the
					* session must close it (BYE) */
};

/* imapbox_take: applies held changes to the view and says what to send.
 * expunges false (during FETCH, STORE, SEARCH, RFC 3501 7.4.1): expunged
 * messages stay in the view (imapbox_expunged true) and only new messages
 * and flag changes are given. */
void imapbox_take(imapbox *box, bool expunges, struct imapbox_changes *ch);

/* imapbox_watch_paths: the paths imapd gives inotify for IDLE: new/,
 * cur/ and the folder itself (postern-modseq and dovecot-uidlist are
 * replaced or appended there). NULL-terminated, owned by the box. */
const char *const *imapbox_watch_paths(const imapbox *box);

/* ---- STORE ---- */

enum imapbox_store_op { IMAPBOX_STORE_SET, IMAPBOX_STORE_ADD, IMAPBOX_STORE_REMOVE };

struct imapbox_store {
	enum imapbox_store_op op;
	unsigned flags;                /* IMAPMSG_ system bits (RECENT ignored) */
	const char *const *keywords;   /* keyword names (atoms), nkeywords */
	size_t nkeywords;
	uint64_t unchangedsince;       /* CONDSTORE UNCHANGEDSINCE, 0: none */
};

/* Per STORE: messages whose flags changed (FETCH them unless .SILENT;
 * with CONDSTORE, send MODSEQ even when .SILENT) and the ones that failed
 * UNCHANGEDSINCE (the [MODIFIED set] response code, as sequence numbers;
 * imapd maps them to UIDs for UID STORE). Owned by the box until the next
 * store. */
struct imapbox_store_result {
	const uint32_t *changed_seqs;
	size_t nchanged;
	const uint32_t *modified_seqs;
	size_t nmodified;
};

/* imapbox_store: applies st to the messages seqs[0..n) (ascending; ones
 * expunged elsewhere are skipped): renames their files, raises each
 * changed message's MODSEQ (one append to postern-modseq for the whole
 * call). A new keyword gets a free letter in dovecot-keywords first
 * (IMAPBOX_LIMIT when none is left, IMAPBOX_BAD for a name that is not a
 * valid keyword atom; nothing stored then). IMAPBOX_READONLY for an
 * EXAMINEd folder. IMAPBOX_TEMP with *err_r (heap) on I/O trouble, after
 * storing what it could. */
int imapbox_store(imapbox *box, const uint32_t *seqs, size_t n, const struct imapbox_store *st,
		  struct imapbox_store_result *res, char **err_r);

/* ---- EXPUNGE ---- */

/* imapbox_expunge: removes the messages with \Deleted, all of them, or
 * with uids set (UID EXPUNGE) only those whose UID is in uids[0..nuids)
 * (ascending). It syncs first (imapbox_sync), so \Deleted set by
 * another process since counts. The removed ones are reported by the next imapbox_take
 * (call imapbox_take(box, true, ...) at once for EXPUNGE's replies).
 * IMAPBOX_OK, IMAPBOX_READONLY, or IMAPBOX_TEMP (*err_r heap). */
int imapbox_expunge(imapbox *box, const uint32_t *uids, size_t nuids, char **err_r);

/* ---- APPEND, COPY, MOVE (to a folder given by its directory) ---- */

struct imapbox_append {
	const char *tmp_path;          /* the message, written by imapd: taken
					* over (renamed) on success, left on error */
	unsigned flags;                /* IMAPMSG_ system bits */
	const char *const *keywords;
	size_t nkeywords;
	time_t internaldate;           /* 0: now */
	long long quota_bytes;         /* Maildir++ quota in bytes (of the
					* quota root, mbx_quota_root), 0: none */
};

/* imapbox_append: delivers a message into folder dir (no session needed):
 * checks the Maildir++ quota (maildirsize) first, names the file
 * "<unique>,S=<size>,W=<CRLF size>:2,<flags>" in cur/ (with flags or
 * keywords) or new/, sets its mtime to internaldate, gives it a UID at
 * once (the uidlist under its lock) and records its MODSEQ. *uidvalidity_r
 * and *uid_r for APPENDUID. IMAPBOX_OK, IMAPBOX_NONEXISTENT (no such
 * folder: [TRYCREATE]), IMAPBOX_OVERQUOTA, IMAPBOX_NOSPACE, IMAPBOX_LIMIT,
 * IMAPBOX_BAD, IMAPBOX_TEMP; *err_r (heap) for the log. */
int imapbox_append(const char *dir, const struct imapbox_append *ap, uint32_t *uidvalidity_r,
		   uint32_t *uid_r, char **err_r);

/* imapbox_copy: copies messages seqs[0..n) (ascending) of box into folder
 * dir with their flags and keywords (hard links where the file system
 * allows, else copies), UIDs given at once. *src_uids_r and *dst_uids_r
 * (heap arrays of *ncopied entries, in the same order) for COPYUID;
 * messages expunged meanwhile are left out; the caller frees both arrays,
 * also on error. The keywords' names are added to dir's
 * dovecot-keywords as needed (IMAPBOX_LIMIT when they do not fit). Quota as for append (the
 * whole copy is refused when it does not fit). move: the sources are
 * expunged afterwards (MOVE, RFC 6851; imapd sends the EXPUNGEs from the
 * next imapbox_take). Results as imapbox_append; on error nothing is
 * left half-copied in dir's view (files copied before the error are
 * removed). */
int imapbox_copy(imapbox *box, const uint32_t *seqs, size_t n, const char *dir, bool move,
		 long long quota_bytes, uint32_t *uidvalidity_r, uint32_t **src_uids_r,
		 uint32_t **dst_uids_r, size_t *ncopied_r, char **err_r);

/* ---- STATUS of a folder that is not selected ---- */

enum imapbox_status_item {
	IMAPBOX_ST_MESSAGES = 1 << 0,
	IMAPBOX_ST_RECENT = 1 << 1,
	IMAPBOX_ST_UIDNEXT = 1 << 2,
	IMAPBOX_ST_UIDVALIDITY = 1 << 3,
	IMAPBOX_ST_UNSEEN = 1 << 4,
	IMAPBOX_ST_SIZE = 1 << 5,          /* RFC 8438: sum of RFC822.SIZEs */
	IMAPBOX_ST_HIGHESTMODSEQ = 1 << 6,
	IMAPBOX_ST_DELETED = 1 << 7,       /* RFC 9208: messages with \Deleted */
	IMAPBOX_ST_DELETED_STORAGE = 1 << 8, /* RFC 9208: KiB EXPUNGE frees */
};

struct imapbox_status {
	uint32_t messages, recent, uidnext, uidvalidity, unseen, deleted;
	uint64_t size, highestmodseq;
	uint64_t deleted_storage;  /* their files' bytes on disk, in units of
				    * 1024 octets (as the STORAGE resource),
				    * rounded up */
};

/* imapbox_status: the items asked for (enum imapbox_status_item bits) of
 * folder dir, without a session and without moving anything from new/
 * (RECENT counts the files in new/). A folder kept from an earlier
 * session (imapbox_close) answers from that state after a sync, without
 * a scan when nothing changed. SIZE may read message files that
 * have no size in their name or the uidlist (once: the sizes are then
 * recorded). IMAPBOX_OK, IMAPBOX_NONEXISTENT, IMAPBOX_TEMP (*err_r). */
int imapbox_status(const char *dir, unsigned items, struct imapbox_status *st, char **err_r);

/* ---- keyword names ---- */

/* imapbox_keyword_valid: name is a keyword IMAP can carry: an atom of
 * 1..IMAPBOX_KEYWORD_MAX bytes (no "(){ %*\"\\]" nor controls, no
 * leading "\"). */
bool imapbox_keyword_valid(const char *name);

/* imapbox_result_str: a short English text for a result, for logs. */
const char *imapbox_result_str(int result);

#endif
