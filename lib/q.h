/* q.h: queue files. A queue file holds one message: its envelope (arrival
 * time, sender, ESMTP/DSN parameters, recipients each with a state) and
 * its content. It is written in $queue_directory/tmp/, fsynced, and renamed
 * into incoming/ under its queue ID: the rename is the commit point (the
 * caller fsyncs incoming/ before it answers 250; q_sync_dir helps batch
 * that). qmgr moves it between incoming/, active/, deferred/, hold/ and
 * corrupt/; a recipient's state is updated in place (one byte), so a done
 * recipient is never delivered again once the update reached the disk.
 *
 * Queue ID: unique across processes and restarts (arrival time in
 * microseconds + the tmp file's inode), letters and digits only, 12-20
 * characters; it names the file and starts every log line about the mail.
 *
 * The content is stored as received after dot-unstuffing, with line ends
 * normalised to LF (Maildir files use LF; the smtp client turns LF back
 * into CRLF). */
#ifndef POSTERN_Q_H
#define POSTERN_Q_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* Queue subdirectories. */
#define Q_TMP "tmp"
#define Q_INCOMING "incoming"
#define Q_ACTIVE "active"
#define Q_DEFERRED "deferred"
#define Q_HOLD "hold"
#define Q_CORRUPT "corrupt"

/* Names in tmp/ of files idle in the pool (q_recycle): "pool.<slot>".
 * Every other name in tmp/ is a writer's file. */
#define Q_POOL_PREFIX "pool."

/* Recipient states (the byte updated in place). */
#define Q_RCPT_PENDING 'P'
#define Q_RCPT_DONE 'D' /* delivered */
#define Q_RCPT_FAILED 'F' /* permanent failure, not yet reported to the sender */
#define Q_RCPT_REPORTED 'R' /* failure reported (bounce queued) */

/* The Q record: the folder local delivery files the message into. */
#define Q_FOLDER_INBOX '-'
#define Q_FOLDER_JUNK 'J' /* the recipient's Junk folder (DMARC quarantine) */

/* DSN NOTIFY bits (RFC 3461); 0 = not given (default: failures). */
#define Q_NOTIFY_NEVER 1
#define Q_NOTIFY_SUCCESS 2
#define Q_NOTIFY_FAILURE 4
#define Q_NOTIFY_DELAY 8

struct q_rcpt {
	char *address; /* canonical address, as addr_format gives it */
	char *orcpt; /* DSN ORCPT as given ("rfc822;x@y"), or NULL */
	int notify; /* Q_NOTIFY_* bits */
	char state; /* Q_RCPT_* */
	off_t state_offset; /* where the state byte is in the file */
};

struct q_envelope {
	time_t arrival;
	char *sender; /* "" for the null sender */
	char *envid; /* DSN ENVID, or NULL */
	int ret; /* 0 unset, 1 RET=FULL, 2 RET=HDRS */
	bool body_8bit; /* BODY=8BITMIME */
	bool smtputf8;
	char *client; /* "hostname [address]" for logs and bounces */
	bool quarantine; /* local delivers into the Junk folder (the Q record) */
	struct q_rcpt *rcpts;
	int nrcpts;
};

/* --- writing (smtpd, bounces) ------------------------------------------ */
typedef struct q_writer q_writer;

/* q_recycle: removes a queue file that is done with: it is renamed into
 * the pool of tmp/ for q_writer_new, or unlinked when the pool's slots are
 * taken. Either way it is out of the queue like after an unlink. 0, or -1
 * with errno as unlink(2) gives it. */
int q_recycle(const char *queue_dir, const char *path);

/* q_writer_new: creates a file in $queue_dir/tmp (from the pool when it
 * has one, see q.c) and picks the queue ID. The writer holds an flock on
 * the file until commit or abort, which tells the tmp/ sweeper (qsweep.h)
 * that the file is in use.
 * NULL with *err_r (heap) on failure (disk full, permissions). */
q_writer *q_writer_new(const char *queue_dir, char **err_r);
const char *q_writer_id(const q_writer *w);
/* q_writer_envelope: must come first, once. */
int q_writer_envelope(q_writer *w, const struct q_envelope *env, char **err_r);
/* q_writer_content: appends message bytes (buffered). */
int q_writer_content(q_writer *w, const void *data, size_t len, char **err_r);
off_t q_writer_content_size(const q_writer *w);
/* q_writer_tap: from now on, every content byte appended (q_writer_content,
 * q_writer_copy_content) is also handed to fn(ctx, data, len) once the
 * writer took it, in order; fn NULL stops. For a signer that hashes a body
 * as it is written (qmgr's DSNs), so nothing is read twice. */
typedef void q_writer_tap_fn(void *ctx, const void *data, size_t len);
void q_writer_tap(q_writer *w, q_writer_tap_fn *fn, void *ctx);
/* q_writer_top_header: adds one header field (its name, a colon, the
 * value; LF line ends, folded lines allowed, ending in LF) to the fields
 * every reader puts above the content, in the order added. For fields
 * known only after the content is written (Authentication-Results, a
 * DKIM-Signature); they are stored after the content (see q.c). -1 with
 * *err_r for a malformed field or past 1 MiB in all. */
int q_writer_top_header(q_writer *w, const char *field, char **err_r);
/* q_writer_top_fields: q_writer_top_header for each field of the block
 * text[0..len) (one or more fields as a signer makes them, CRLF or LF
 * line ends: stored with LF). 0, or -1 with *err_r (the fields before the
 * bad one stay added). */
int q_writer_top_fields(q_writer *w, const char *text, size_t len, char **err_r);
/* q_writer_quarantine: local delivery is to put the message into each
 * recipient's Junk folder (DMARC quarantine): the Q record, written at
 * commit like the sizes. Relays (smtp) ignore it. */
void q_writer_quarantine(q_writer *w);
/* q_writer_commit: flushes, fsyncs and renames the file into incoming/.
 * The caller must q_sync_dir(queue_dir, Q_INCOMING) before reporting
 * success; the writer is freed either way. 0 or -1 with *err_r. */
int q_writer_commit(q_writer **w, char **err_r);
/* q_writer_abort: removes the tmp file and frees. */
void q_writer_abort(q_writer **w);

/* q_writer_copy_content: appends the first len bytes of msg as
 * q_msg_pread reads it (a bounce returns the headers, a forward all of it). *last_r (may be NULL)
 * gets the last byte copied, '\n' when none. 0 or -1 with *err_r. */
struct q_msg;
int q_writer_copy_content(q_writer *w, const struct q_msg *msg, off_t len, int *last_r,
			  char **err_r);

/* q_sync_dir: fsync $queue_dir/sub. */
int q_sync_dir(const char *queue_dir, const char *sub);

/* --- reading and updating (qmgr, local, mailctl queue) ------------------- */
struct q_msg {
	char *id;
	char *path;
	int fd; /* open read-write (read-only with q_msg_open_ro) */
	struct q_envelope env;
	off_t content_offset; /* where the message content starts */
	off_t content_size; /* bytes of content in the file (top header not counted) */
	char *top; /* header fields to put above the content (NUL-ended), or NULL */
	size_t top_len;
	time_t mtime; /* the file's mtime at open (deferred/: next retry time) */
};

/* q_msg_open: parses the envelope of the queue file at path. -1 with
 * *err_r when unreadable or malformed (the caller moves it to corrupt/). */
int q_msg_open(const char *path, struct q_msg **msg_r, char **err_r);
int q_msg_open_ro(const char *path, struct q_msg **msg_r, char **err_r);
void q_msg_free(struct q_msg **msg);
/* q_msg_size: bytes of the message as delivered: top header + content. */
off_t q_msg_size(const struct q_msg *msg);
/* q_msg_pread: reads the message as delivered (the top header fields,
 * then the content) from position pos, like pread: up to len bytes (a
 * read does not cross from the top fields into the content), 0 at the
 * end, -1 with errno. */
ssize_t q_msg_pread(const struct q_msg *msg, void *dst, size_t len, off_t pos);
/* q_rcpt_set_state: writes the state byte of recipient i in place (no
 * fsync: durability of deliveries comes from Maildir dedup, see md.h;
 * call q_msg_sync to force it). */
int q_rcpt_set_state(struct q_msg *msg, int i, char state);
int q_msg_sync(struct q_msg *msg);
/* q_msg_pending: number of recipients still in state PENDING. */
int q_msg_pending(const struct q_msg *msg);

/* q_move: renames $queue_dir/from/id to $queue_dir/to/id. */
int q_move(const char *queue_dir, const char *id, const char *from, const char *to);
/* q_path: "$queue_dir/sub/id" (heap). */
char *q_path(const char *queue_dir, const char *sub, const char *id);
/* q_id_valid: only letters and digits, 8..32 characters. */
bool q_id_valid(const char *id);

#endif
