/* mbx.h: one Maildir folder seen as a list of messages with permanent
 * UIDs, for pop3d now and imapd later. The UID index is Dovecot's
 * dovecot-uidlist (version 3) in the folder itself, so a mail store moves
 * between Dovecot and Postern without UID (or POP3 UIDL) changes; its
 * format, and what Postern adds to it (S and W size exts, so a reopen
 * needs neither a stat nor a read per message), are described at the top
 * of mbx_uidlist.c.
 *
 * Concurrency with local (delivers into new/), other pop3d and imapd
 * processes: the uidlist is only replaced under the dot-lock file
 * dovecot-uidlist.lock (O_EXCL create, written, fsynced, renamed over
 * dovecot-uidlist), re-read after the lock is taken, so two processes
 * never hand out the same UID. A lock older than MBX_LOCK_STALE seconds is
 * taken as left by a crashed process and removed. Readers never lock.
 * Directory scans read new/ before cur/ (a file moved new -> cur during
 * the scan is still seen) and are repeated when a directory's mtime
 * changed during the scan.
 *
 * The library blocks (file I/O, lock waits of at most MBX_LOCK_WAIT_MS):
 * callers on an event loop accept that for these short operations. */
#ifndef POSTERN_MBX_H
#define POSTERN_MBX_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MBX_UIDLIST "dovecot-uidlist"
#define MBX_LOCK_WAIT_MS 5000
#define MBX_LOCK_STALE 60
/* More files than this in one folder: mbx_open fails (a parser limit). */
#define MBX_MAX_MESSAGES 10000000

/* mbx_lock_wait_ms: how long mbx_open waits for the uidlist lock; starts
 * as MBX_LOCK_WAIT_MS. Only tests change it (added for test_mbx). */
extern int mbx_lock_wait_ms;
/* mbx_cache_hits: opens served from the per-process copy of the folder's
 * last scan (mbx_cache.c: new/, cur/ and the uidlist unchanged since);
 * mbx_cache_shared: scans that found that list again and share it.
 * Counted for tests and benchmarks. */
extern unsigned long mbx_cache_hits, mbx_cache_shared;

/* Standard flags, the letters of the ":2," suffix (Maildir spec). */
enum mbx_flag {
	MBX_DRAFT = 1 << 0,    /* D */
	MBX_FLAGGED = 1 << 1,  /* F */
	MBX_PASSED = 1 << 2,   /* P */
	MBX_REPLIED = 1 << 3,  /* R */
	MBX_SEEN = 1 << 4,     /* S */
	MBX_TRASHED = 1 << 5,  /* T */
};

/* An mbx keeps the folder's new/ and cur/ directories open (two fds,
 * close-on-exec) until mbx_free. */
typedef struct mbx mbx;

/* One message. The strings belong to the mbx and stay valid until
 * mbx_free (mbx_set_flags updates name, flags and in_new). */
struct mbx_msg {
	uint32_t uid;
	const char *base;      /* file name up to (not including) ":2," */
	const char *name;      /* current file name in new/ or cur/ */
	bool in_new;           /* the file is in new/ (else cur/) */
	unsigned flags;        /* enum mbx_flag bits from the name */
	const char *keywords;  /* keyword letters a-z from the name, "" if none */
	long long psize;       /* bytes on disk (",S=" in the name, the uidlist
				  S ext, or a stat on first need: mbx_msg; -1
				  from mbx_msg_peek until then) */
	long long vsize;       /* bytes with every line end as CRLF (",W=" in the
				  name or the W ext), -1 until mbx_vsizes */
	const char *pop3_uidl; /* the P ext, or NULL */
};

/* mbx_open: scans maildir (its new/ and cur/; tmp/ is ignored), reads the
 * uidlist and gives every file without a UID the next ones (in order of
 * the names' leading time stamp, then name), writing the uidlist under
 * the lock; a missing or unreadable-as-v3 uidlist is created with
 * UIDVALIDITY = now (the bad one is logged). Messages are in UID order.
 * Returns 0, or -1 with *err_r (heap) when the folder cannot be read or
 * the lock cannot be had (temporary trouble: tell the user to retry). */
int mbx_open(const char *maildir, mbx **mb_r, char **err_r);
/* mbx_open_rescan: as mbx_open, but always scans (never takes the kept
 * scan of an unchanged folder, see mbx_cache_hits): for the occasional
 * rescan that catches what time stamps cannot show. */
int mbx_open_rescan(const char *maildir, mbx **mb_r, char **err_r);
void mbx_free(mbx **mb);

const char *mbx_path(const mbx *mb);
uint32_t mbx_uidvalidity(const mbx *mb);
uint32_t mbx_uidnext(const mbx *mb);
size_t mbx_count(const mbx *mb);
/* mbx_stable: the scan of mbx_open saw new/ and cur/ settle. When not
 * (another process kept renaming files during every try), a file being
 * renamed may be missing from the list: it is not gone, and a caller must
 * not take its absence for an expunge. */
bool mbx_stable(const mbx *mb);
/* mbx_mtime_settled: a directory or file stamped with mtime, read at
 * taken (CLOCK_REALTIME), would get another mtime from any later change:
 * taken is MBX_SETTLE_FINE_MS past mtime on a file system with sub-second
 * stamps (the kernel stamps from a clock that lags by at most a tick), or
 * MBX_SETTLE_COARSE_MS on one whose stamps are whole seconds (an mtime
 * with no nanoseconds is taken for such a stamp). */
#define MBX_SETTLE_FINE_MS 50
#define MBX_SETTLE_COARSE_MS 2000
bool mbx_mtime_settled(const struct timespec *mtime, const struct timespec *taken);
/* mbx_msg: message i, 0 <= i < mbx_count. A psize that neither the name
 * nor the uidlist gave is found by a stat of the file here, on the first
 * call for it (so an open reads only the directories and the uidlist).
 * mbx_msg_peek: the same without that stat (psize may be -1), for callers
 * that walk every message for UIDs and flags. */
const struct mbx_msg *mbx_msg(const mbx *mb, size_t i);
const struct mbx_msg *mbx_msg_peek(const mbx *mb, size_t i);

/* mbx_vsizes: fills vsize for every message that lacks it by reading its
 * file (a vanished file gets its psize, or 0), and records the results as
 * W exts in the uidlist when the lock is free at once (a cache: failure
 * to record is not an error). 0, or -1 with *err_r (heap) on a read
 * error other than a vanished file. */
int mbx_vsizes(mbx *mb, char **err_r);

/* mbx_msg_open: opens message i read-only. When its file was renamed by
 * another process (flags changed, moved to cur/), finds it again by its
 * base name and updates the message. Returns the fd, or -1 with errno
 * ENOENT when the message is gone (expunged elsewhere), other errno on
 * I/O errors. */
int mbx_msg_open(mbx *mb, size_t i);

/* mbx_set_flags: renames message i to cur/<base>:2,<flags><keywords>
 * (letters in ASCII order), from new/ or cur/. 0, 1 when the message is
 * gone, -1 with errno on other errors. */
int mbx_set_flags(mbx *mb, size_t i, unsigned flags);

/* mbx_set_info: as mbx_set_flags, but the keyword letters (a-z) become
 * exactly those of keywords (any order; NULL keeps the current ones).
 * Letters that are neither flags nor keywords are kept. */
int mbx_set_info(mbx *mb, size_t i, unsigned flags, const char *keywords);
/* mbx_set_info_once: one try of mbx_set_info: when another process had
 * renamed the file (changed its flags), nothing is renamed and 2 is
 * returned with the message updated to its file's name and flags now, so
 * a caller adding or removing flags computes them again from those
 * instead of undoing the other process's change. */
int mbx_set_info_once(mbx *mb, size_t i, unsigned flags, const char *keywords);

/* mbx_find_uid: the index of the message with this UID, or -1 (binary
 * search: messages are in UID order). */
long mbx_find_uid(const mbx *mb, uint32_t uid);

/* mbx_dotlock_take / mbx_dotlock_release: a dot-lock file as the uidlist
 * lock (O_EXCL create, waited for up to wait_ms, broken when older than
 * MBX_LOCK_STALE seconds), for other files of a folder (dovecot-keywords).
 * take: the fd, or -1 with *err_r (heap; NULL err_r: none wanted). */
int mbx_dotlock_take(const char *lock_path, int wait_ms, char **err_r);
void mbx_dotlock_release(const char *lock_path, int lockfd);

/* mbx_add: UIDs for files just linked into folder dir's new/ or cur/
 * (names[0..n), file names), given at once under the uidlist lock by
 * appending records in place (mbx_add.c), or by a full mbx_open pass when
 * the uidlist cannot be appended to. uids_r[k] gets names[k]'s UID (0 if
 * the file vanished meanwhile), *uidvalidity_r the folder's. 0, or -1
 * with *err_r (heap). */
int mbx_add(const char *dir, const char *const *names, size_t n, uint32_t *uids_r, uint32_t *uidvalidity_r,
	    char **err_r);

/* mbx_quota_root: the Maildir whose maildirsize counts folder dir: dir
 * itself, or its parent when dir is a Maildir++ folder (has the
 * maildirfolder file). Heap. */
char *mbx_quota_root(const char *dir);

/* mbx_expunge: removes message i's file and, when the folder's quota
 * root (mbx_quota_root) has a maildirsize (Maildir++ quota), appends
 * "-psize -1" to it. 0, 1 when it
 * was already gone, -1 with errno on other errors. */
int mbx_expunge(mbx *mb, size_t i);

/* mbx_vsize_of: the CRLF size of the bytes in fd from the current offset
 * to the end (each LF not preceded by CR counts two). -1 with errno. */
long long mbx_vsize_of(int fd);

/* mbx_flags_parse / mbx_flags_format: the ":2," letters <-> enum bits.
 * Parse ignores letters it does not know (lower case: keywords). Format
 * writes the letters in ASCII order into out (at least 7 bytes). */
unsigned mbx_flags_parse(const char *letters);
void mbx_flags_format(unsigned flags, char *out);

/* mbx_pop3_uidl: the UIDL of message i as Dovecot's default
 * pop3_uidl_format = %08Xu%08Xv prints it: UID and UIDVALIDITY, 8 hex
 * digits each, in lower case (Dovecot 2.3 writes %X in lower case; a
 * different case would make every client fetch everything again after a
 * move), or the P ext when the uidlist has one. Static buffer until the
 * next call. */
const char *mbx_pop3_uidl(const mbx *mb, size_t i);
#endif
