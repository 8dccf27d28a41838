/* md.h: Maildir delivery and Maildir++ quota, for local (and later for
 * imapd's APPEND). A message is written to tmp/, fsynced, hard-linked into
 * new/ under its final name and the tmp name removed; new/ is then fsynced
 * (md_sync_new, which a caller may batch over several deliveries).
 *
 * The tmp name is not the final name: it is unique to the process and the
 * attempt ("<sec>.P<pid>N<counter>.Q<queue id>R<index>.<host>", made with
 * O_EXCL), so two processes delivering one message at once never share a
 * tmp file, and a writer killed half-way leaves a file nobody links into
 * new/. Left-overs are removed after 36 hours (md_tmp_clean).
 *
 * Delivered once: for mail from the queue the final name is derived from
 * the queue ID, the final address and the mailbox, not from the clock:
 *     <arrival>.Q<queue id>A<16 hex of address hash>M<8 hex of mailbox hash>.<host>,S=<size>
 * so a retried delivery finds its earlier copy: link() into new/ fails with
 * EEXIST; and so does a delivery of the same message to the same final
 * address for another envelope recipient (two aliases of one mailbox, in
 * another request or attempt, or in another local process at the same
 * moment): one delivery per final address. Without an address the
 * recipient index stands in for it ("R<index>" instead of "A<hash>", the
 * older form). With recover set (the delivery may have happened before a
 * crash and the user may have moved it to cur/ since), new/ and cur/ are
 * searched for the same base name (any ":2,flags" suffix), and for the
 * older R<index> form too.
 *
 * Maildir++ quota: maildirsize holds "<bytes>S,<count>C" on its first line
 * and "<bytes> <count>" change lines after it; it is recalculated from the
 * files when missing, malformed, or longer than 5120 bytes (as Dovecot and
 * Courier do). */
#ifndef POSTERN_MD_H
#define POSTERN_MD_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

enum md_result {
	MD_OK = 0, /* delivered now */
	MD_DUPLICATE = 1, /* was delivered before: nothing written */
	MD_QUOTA = 2, /* over quota: defer */
	MD_SPACE = 3, /* the file system would go below min_free: defer */
	MD_TEMP = -1, /* temporary error (disk full, permissions): defer */
};

struct md_delivery {
	const char *maildir; /* the Maildir (or a folder .Name inside it) */
	const char *queue_id;
	int rcpt_index;
	const char *address; /* the final address (Delivered-To), or NULL */
	time_t arrival;
	const char *prefix; /* header lines to put first (Return-Path, Delivered-To) */
	int src_fd; /* the queue file */
	off_t offset; /* where the content starts in src_fd */
	off_t length; /* content bytes */
	bool recover; /* also look for an earlier copy in cur/ */
	long long quota_bytes; /* 0 = no quota */
	long long min_free; /* free bytes the Maildir's file system keeps
			     * after the message (local_minfree); 0 = no check */
};

/* md_create: makes maildir with tmp/ new/ cur/ (and parents) if missing;
 * folder: also writes the maildirfolder marker. 0 or -1 with *err_r. */
int md_create(const char *maildir, bool folder, char **err_r);
/* md_deliver: see above. *name_r (heap, may be NULL) gets the file name in
 * new/ on MD_OK and MD_DUPLICATE; *err_r (heap) on MD_TEMP, MD_QUOTA and
 * MD_SPACE. An earlier copy is found before quota and free space are
 * looked at: a duplicate needs no room. */
enum md_result md_deliver(const struct md_delivery *d, char **name_r, char **err_r);
/* md_sync_new: fsync maildir/new (after one or more md_deliver). */
int md_sync_new(const char *maildir);
/* md_tmp_clean: removes regular files in maildir/tmp whose ctime is 36
 * hours or more before now (the Maildir convention for abandoned files);
 * md_deliver calls it on its own, once an hour per process and Maildir.
 * Returns how many it removed (each logged). */
int md_tmp_clean(const char *maildir, time_t now);

/* md_unique_name: a fresh unique base name for a message not from the queue
 * (APPEND, sendmail -bm): "<sec>.M<usec>P<pid>Q<counter>.<host>". Heap. */
char *md_unique_name(void);
/* md_delivery_name: the deterministic base name described above. Heap. */
char *md_delivery_name(const struct md_delivery *d, off_t size);

/* md_quota_usage: current usage from maildirsize (recalculating if
 * needed). 0 or -1 with *err_r. */
int md_quota_usage(const char *maildir, long long quota_bytes, long long *bytes_r,
		   long long *count_r, char **err_r);
/* md_quota_add: appends a change line (+bytes, +count) to maildirsize. */
int md_quota_add(const char *maildir, long long bytes, long long count);

#endif
