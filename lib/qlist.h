/* qlist.h: the mail queue as an admin sees it, shared by "mailctl queue"
 * and "sendmail -bp" / mailq so both print the same thing. The listing
 * uses Postfix's mailq layout: a header line, one block per message (queue
 * ID with a status mark, size, arrival time, sender, an optional
 * "(reason)" line, the recipients still to be delivered, each group under
 * the "(reason)" of its last deferral from qreason.h), and a summary
 * "-- N Kbytes in M Requests." It reads queue files with q.h and never
 * holds more than one message's envelope in memory. */
#ifndef POSTERN_QLIST_H
#define POSTERN_QLIST_H

#include <stdio.h>
#include <time.h>

#include <stdbool.h>

#include "buf.h"
#include "q.h"
#include "qfilter.h"
#include "qreason.h"

/* Status marks after the queue ID, as Postfix's: active is being
 * delivered, hold is kept until released; incoming and deferred show none. */
#define QLIST_MARK_ACTIVE '*'
#define QLIST_MARK_HOLD '!'

/* One message as listed. */
struct qlist_item {
	const char *id;
	char mark; /* ' ', QLIST_MARK_ACTIVE or QLIST_MARK_HOLD */
	long long size; /* content bytes */
	time_t arrival;
	const char *sender; /* "" = null sender, shown as MAILER-DAEMON */
	const char *note; /* shown as "(note)" below the first line, or NULL */
	const char *const *rcpts; /* the recipients still pending */
	int nrcpts;
	/* per recipient: the reason it waits, or NULL (the whole array may be
	 * NULL); printed "(reason)" above the recipients it applies to, as
	 * Postfix does */
	const char *const *rcpt_notes;
};

/* What the caller knows beyond the files (mailctl asks the running qmgr):
 * note(ctx, id) is a line about message id, or NULL. */
struct qlist_extra {
	const char *(*note)(void *ctx, const char *id);
	void *ctx;
	const struct qfilter *filter; /* list only the messages it matches (NULL: all) */
	bool json; /* qlist_format_json lines instead of the mailq layout */
};

/* Pure formatting (unit tested): append to out. Times are local time. */
void qlist_format_header(buf *out);
void qlist_format_item(buf *out, const struct qlist_item *item);
/* qlist_format_footer: "-- N Kbytes in M Requests." (bytes rounded up). */
void qlist_format_footer(buf *out, long long bytes, long requests);

/* qlist_format_json: one message as one line of JSON, the fields of
 * Postfix's postqueue -j (queue_name, queue_id, arrival_time,
 * message_size, sender, recipients with address and delay_reason) and
 * Postern's own: every recipient with its state ("pending", "delivered",
 * "failed", "failed, reported") and the DSN status of its last deferral,
 * next_attempt_time (deferred/ only), last_deferral_time (when reasons
 * were recorded) and qmgr_note (note, when not NULL). Recipients whose
 * state is not pending carry no delay_reason. */
void qlist_format_json(buf *out, const struct q_msg *m, const char *dir,
		       const struct qreason_set *reasons, const char *note);
/* qlist_state_name: the word for a recipient state, as above. */
const char *qlist_state_name(char state);

/* qlist_print: lists every message in incoming/, active/, deferred/ and
 * hold/ under queue_dir to out, or "Mail queue is empty". Files that do
 * not parse are skipped with a note on stderr (qmgr moves them to
 * corrupt/). Returns the number of messages, or -1 with *err_r (heap) when
 * the queue cannot be read at all. */
long qlist_print(const char *queue_dir, FILE *out, char **err_r);
/* qlist_print_extra: the same with extra notes, a filter, or JSON
 * (extra may be NULL). In JSON an empty queue prints nothing. The count
 * is of the messages listed. */
long qlist_print_extra(const char *queue_dir, const struct qlist_extra *extra, FILE *out,
		       char **err_r);

/* The directories a queued message can be in, in listing order. */
extern const char *const qlist_dirs[];

/* qlist_find: the path of the queue file with this ID in any of
 * qlist_dirs (heap), with *dir_r set to its directory name; NULL when
 * there is none (or the ID is not valid). */
char *qlist_find(const char *queue_dir, const char *id, const char **dir_r);

#endif
