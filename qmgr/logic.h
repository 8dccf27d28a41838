/* logic.h: qmgr's pure logic, kept apart from the daemon so the unit test
 * (tests/unit/test_qmgr_logic.c) can drive it without a queue or sockets:
 *   - retry times (Postfix-style backoff), queue lifetime expiry, and the
 *     retry times of failed queue file state changes (limbo);
 *   - routing classification of a recipient's domain;
 *   - the text of delivery status notifications (RFC 3464 multipart/report)
 *     built in pieces, so the returned message can be streamed from the
 *     queue file between the head and the tail. */
#ifndef POSTERN_QMGR_LOGIC_H
#define POSTERN_QMGR_LOGIC_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"

/* qmgr_next_retry: when a message that arrived at arrival and was just
 * deferred at now should be tried again: now + its age, the age clamped to
 * [min_backoff, max_backoff], so the wait doubles with every attempt. */
time_t qmgr_next_retry(time_t now, time_t arrival, long long min_backoff, long long max_backoff);

/* qmgr_storage_retry: the retry time of a message whose recipients all
 * wait for disk space at this host (local deferred them with 4.3.1): at
 * most QMGR_STORAGE_RETRY seconds after now instead of the backoff, so
 * mail flows again within a minute of an admin freeing space. It is not
 * a busy loop: each retry costs local one statvfs per recipient. */
#define QMGR_STORAGE_RETRY 30
time_t qmgr_storage_retry(time_t now, time_t backoff_next);

/* qmgr_limbo_delay: seconds before the next try of a queue file state
 * change that failed tries times (>= 1) in a row (a rename into
 * deferred/ on a full disk): 2, 4, 8, 16, then every 30 s, so a message
 * moves on within half a minute once the disk has room again. */
#define QMGR_LIMBO_FIRST_DELAY 2
#define QMGR_LIMBO_MAX_DELAY 30
long long qmgr_limbo_delay(int tries);

/* qmgr_expired: the message has been queued longer than lifetime (seconds;
 * 0 means "bounce on the first deferral", as in Postfix). */
bool qmgr_expired(time_t now, time_t arrival, long long lifetime);

/* qmgr_dsn_class: the class digit of a status "2.0.0" -> 2, "4.2.2" -> 4,
 * "5.1.1" -> 5; anything malformed is 4 (temporary: never lose mail). */
int qmgr_dsn_class(const char *status);

/* qmgr_lifetime: how long a message may stay queued: bounce_lifetime for
 * a bounce (null sender), else lifetime (as Postfix; the caller clamps
 * bounce_lifetime to lifetime at start). */
long long qmgr_lifetime(const char *sender, long long lifetime, long long bounce_lifetime);

/* qmgr_delay_due: a delay warning is due for a message that arrived at
 * arrival: delay_warning_time (warn_after, seconds; 0 = off) has passed. */
bool qmgr_delay_due(time_t now, time_t arrival, long long warn_after);

/* qmgr_wants_delay: a recipient with these NOTIFY bits (Q_NOTIFY_*, 0 = not
 * given) gets delay warnings: NOTIFY=DELAY, or no NOTIFY at all; never
 * when delay warnings are off (warn_after 0), as in Postfix. */
bool qmgr_wants_delay(int notify, long long warn_after);

/* qmgr_wants_success: NOTIFY=SUCCESS was asked (no default). */
bool qmgr_wants_success(int notify);

/* qmgr_rcpt_domain: the domain part of an address (after the last '@'),
 * "" when there is none. */
const char *qmgr_rcpt_domain(const char *address);

/* One recipient in a DSN. */
struct qmgr_dsn_rcpt {
	const char *address; /* final recipient */
	const char *orcpt; /* DSN ORCPT ("rfc822;x@y") or NULL */
	const char *action; /* "failed", "delayed", "delivered", "relayed" */
	const char *status; /* "5.1.1" */
	const char *reason; /* diagnostic text */
	time_t retry_until; /* delayed: Will-Retry-Until (0: none) */
};

/* The kinds of notification (RFC 3464 2.3.3 actions): the subject, the
 * human-readable text and the name of the returned part follow it. */
enum qmgr_dsn_kind {
	QMGR_DSN_FAILURE = 0, /* "Undelivered Mail Returned to Sender" */
	QMGR_DSN_DELAY, /* "Delayed Mail (still being retried)" */
	QMGR_DSN_SUCCESS, /* "Successful Mail Delivery Report" */
};

/* What a DSN is about. */
struct qmgr_dsn {
	enum qmgr_dsn_kind kind;
	bool postmaster_copy; /* a double bounce: "Postmaster Copy: " subject */
	const char *hostname; /* Reporting-MTA, From: MAILER-DAEMON@hostname */
	const char *queue_id; /* of the original message */
	const char *boundary; /* unique MIME boundary (e.g. "<bounce qid>/<host>") */
	const char *sender; /* To: of the DSN (the original sender, or the
			     * 2bounce_notice_recipient of a double bounce) */
	const char *envid; /* ENVID or NULL */
	time_t arrival; /* of the original message */
	time_t now; /* Date: */
	bool full; /* RET=FULL: return the whole message, else headers only */
	const struct qmgr_dsn_rcpt *rcpts;
	int nrcpts;
};

/* qmgr_dsn_head: appends the DSN's header, text part, delivery-status part
 * and the part header of the returned message (message/rfc822 when full,
 * text/rfc822-headers otherwise). The caller then appends the original
 * message (qmgr_dsn_headers_len bytes of it when not full) and ends with
 * qmgr_dsn_tail. Texts from peers are sanitised (control characters become
 * spaces) so they cannot add header lines. */
void qmgr_dsn_head(buf *out, const struct qmgr_dsn *d);
/* qmgr_dsn_tail: the closing boundary (adds a newline first when the
 * returned content did not end with one: pass its last byte, or '\n'). */
void qmgr_dsn_tail(buf *out, const struct qmgr_dsn *d, int last_byte);
/* qmgr_dsn_headers_len: length of the header section of a message (up to
 * and including the empty line that ends it); len when there is none. */
size_t qmgr_dsn_headers_len(const char *content, size_t len);

#endif
