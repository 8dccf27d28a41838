/* qreason.h: why a queued message waits, as the admin sees it in
 * "mailctl queue list" and "queue why": the last deferral status and
 * reason of each recipient, kept best-effort by qmgr in a small side file
 * $queue_directory/defer/<queue id>. qmgr writes it (tmp name, then
 * rename) each time it defers the message and removes it when the message
 * leaves the queue; mailctl removes it with the message. A missing or
 * unreadable side file only means no reasons are shown: the queue file
 * alone decides what is delivered. Format (one record per line):
 *     POSTERN-DEFER 1
 *     T<seconds of the deferral>
 *     R<recipient index> <dsn status> <reason, control bytes as spaces>
 *     V<recipient index> <relay> <tls>   (after its R line, when the answer
 *                                         came from a remote server) */
#ifndef POSTERN_QREASON_H
#define POSTERN_QREASON_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

#define QREASON_DIR "defer"
/* Longest reason kept, in bytes (longer ones are cut). */
#define QREASON_MAX_TEXT 1000
/* Most recipients read back from one side file. */
#define QREASON_MAX_RCPTS 100000

struct qreason {
	int rcpt; /* index in the queue file */
	char *status; /* "4.2.2" */
	char *reason;
	char *relay; /* "mx.example.com[192.0.2.1]:25", or NULL (local, none) */
	char *tls; /* "TLSv1.3:CIPHER:verified", "none", or NULL */
};

struct qreason_set {
	time_t when; /* of the deferral */
	struct qreason *items;
	int n;
};

/* Pure text (unit tested). qreason_format appends the file's text;
 * qreason_parse fills *set (freed with qreason_free) from it: 0, or -1
 * when it is not such a file (set left empty). */
void qreason_format(buf *out, time_t when, const struct qreason *items, int n);
int qreason_parse(const char *text, size_t len, struct qreason_set *set);
void qreason_free(struct qreason_set *set);
/* qreason_lookup: the entry of recipient rcpt, or NULL. */
const struct qreason *qreason_lookup(const struct qreason_set *set, int rcpt);

/* qreason_write: writes defer/<id> atomically (defer/<id>.<pid>.tmp,
 * fsync is not needed: it is a hint); 0, or -1 with *err_r (heap). */
int qreason_write(const char *queue_dir, const char *id, time_t when,
		  const struct qreason *items, int n, char **err_r);
/* qreason_read: 0 with *set filled, or -1 (none, or not readable). */
int qreason_read(const char *queue_dir, const char *id, struct qreason_set *set);
/* qreason_remove: unlinks defer/<id> if there is one. */
void qreason_remove(const char *queue_dir, const char *id);

#endif
