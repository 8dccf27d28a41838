/* qmgr.h: the queue manager's shared state, between its files:
 *   qmgr.c      main, init, trigger connections, stop
 *   scan.c      chunked scans of incoming/ deferred/ (and active/ at start),
 *               taking files into the bounded active set
 *   message.c   one active message: routing, per-recipient results,
 *               finishing (remove, defer with backoff, bounce)
 *   transport.c connections to a delivery service (local, smtp)
 *   dest.c      the jobs waiting for one, per destination (next hop):
 *               concurrency windows, rate delay, suspension
 *   limbo.c     messages whose queue file could not change state (a
 *               failed move out of active/, chmod, utime or removal),
 *               kept and retried on a timer so none is stranded
 *   bounce.c    writing a DSN into the queue
 *   dsnsign.c   DKIM-signing it (lib/dkim_policy)
 *   sweep.c     removing what killed writers left in tmp/
 *   backoff.c, dsn.c  pure logic (logic.h), unit tested
 * qmgr alone writes the recipient state bytes of queue files. */
#ifndef POSTERN_QMGR_H
#define POSTERN_QMGR_H

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"
#include "cfg.h"
#include "dkim_policy.h"
#include "ev.h"
#include "logic.h"
#include "q.h"
#include "resolve.h"
#include "svc.h"

/* Most recipients in one delivery request to local. */
#define QMGR_BATCH 50

struct qmgr;

/* What a delivered recipient that asked for NOTIFY=SUCCESS is told (RFC
 * 3461 4.1, 5.2.2): "delivered" for a final delivery here (local,
 * discard), "relayed" for one handed to a server that did not offer DSN,
 * nothing from us when the server took the DSN request on (remote_dsn=1
 * in the smtp reply: it reports from then on). */
enum qmgr_success {
	QMGR_SUCCESS_NONE = 0,
	QMGR_SUCCESS_DELIVERED,
	QMGR_SUCCESS_RELAYED,
};

/* One message in the active set. */
struct qmgr_msg {
	struct qmgr *q;
	struct q_msg *msg;
	bool recover; /* deliveries run in recover mode */
	bool unsure; /* some outcome is unknown: the next attempt recovers */
	int jobs_out; /* delivery jobs sent or queued, not yet answered */
	char **status; /* per recipient: last DSN status of this run, or NULL */
	char **reason; /* per recipient: its text */
	char **relay; /* per recipient: the server that answered (smtp), or NULL */
	char **tls; /* per recipient: the TLS of that answer ("none", ...), or NULL */
	unsigned char *success; /* per recipient: enum qmgr_success of this run */
	bool warned; /* the delay warning was sent (the file's DELAY_MODE_BIT) */
	struct qmgr_msg *prev, *next;
};

/* A delivery request for some recipients of one message. */
struct qmgr_job {
	struct qmgr_msg *m;
	int rcpts[QMGR_BATCH];
	int count;
	char *nexthop; /* smtp: route_nexthop_format text, the destination key */
	struct qmgr_dest *dest; /* while it waits or is in delivery */
	struct qmgr_job *next;
};

/* Where a delivery agent's answer came from (the reply's head fields). */
struct qmgr_via {
	const char *relay; /* "local", "mx.example.com[192.0.2.1]:25", "none" */
	const char *tls; /* smtp: "TLSv1.3:CIPHER:verified", "none"; else NULL */
	bool remote_dsn; /* the server took the DSN request on */
};

/* One destination's queue (dest.c). */
struct qmgr_dest {
	char *key; /* the nexthop; "" for local */
	struct qmgr_job *head, *tail; /* waiting */
	int inflight;
	double window; /* concurrency allowed now */
	uint64_t next_start_ms; /* rate delay: no start before (loop ms) */
	time_t dead_until; /* suspended until then; 0 when not */
	char *dead_reason;
	char dead_status[16];
	bool ready; /* in the transport's ready list */
	struct qmgr_dest *rprev, *rnext; /* ready list */
	struct qmgr_dest *hnext; /* hash chain */
};

/* How a delivery ended, for its destination's window. */
enum qmgr_dest_outcome {
	QMGR_DEST_REACHED, /* a server answered */
	QMGR_DEST_DOWN, /* no server of the destination could be used */
	QMGR_DEST_UNKNOWN, /* the agent broke: no news about the destination */
};

struct qmgr_conn;

/* A delivery service and the jobs that wait for it. */
struct qmgr_transport {
	struct qmgr *q;
	const char *name; /* "local", "smtp": also the socket's name */
	bool remote; /* smtp: replies name a relay, per-destination windows */
	char *socket;
	int limit; /* connections (deliveries at once) */
	uint64_t job_timeout_ms; /* one request's answer */
	struct qmgr_conn **conns;
	int nconns;
	time_t down_until; /* after a failed connect: wait before retrying */
	/* destinations (dest.c) */
	double initial_window, max_window;
	uint64_t rate_delay_ms;
	struct qmgr_dest **buckets;
	struct qmgr_dest *ready_head, *ready_tail;
	ev_timer *wake;
	uint64_t wake_at;
};

/* A scan of one queue directory, a chunk of entries per loop turn. */
struct qmgr_scan {
	const char *sub; /* Q_INCOMING or Q_DEFERRED */
	DIR *dir; /* open while a pass is under way */
	bool again; /* another pass is wanted after this one */
	bool flush_wanted; /* the next pass takes every file (queue flush) */
	bool flush; /* this pass takes every file not deferred during it */
	struct timespec pass_start;
	struct timespec dir_mtime; /* the directory's mtime when the pass began */
	bool take_failed; /* a file could not be moved to active/ (full disk) */
	int failed_passes; /* passes in a row with such a failure */
	ev_timer *retry; /* the next pass after one with a failed take */
	struct qmgr *q;
};

/* What a message in the limbo still needs (limbo.c). */
enum qmgr_limbo_op {
	QMGR_LIMBO_DEFER, /* (chmod, utime and) rename active/ -> deferred/ */
	QMGR_LIMBO_CORRUPT, /* rename active/ -> corrupt/ */
	QMGR_LIMBO_REMOVE, /* recycle or unlink: the message is done */
};

struct qmgr_limbo {
	char *id;
	enum qmgr_limbo_op op;
	bool set_mode; /* DEFER: chmod to mode first */
	mode_t mode;
	bool set_time; /* DEFER: mtime = retry_at (the next retry) */
	time_t retry_at;
	char *reason; /* "cannot move to deferred/: No space left on device" */
	time_t since; /* of the first failure */
	int tries; /* failed tries so far */
	time_t next_try;
	struct qmgr_limbo *next;
};

struct qmgr {
	svc *service;
	cfg *config;
	ev_loop *loop;
	resolver *resolver;
	char *queue_dir;
	char *hostname;
	int active_limit;
	int smtp_rcpt_limit; /* recipients per smtp request */
	long long min_backoff, max_backoff, lifetime, run_delay, ipc_timeout;
	long long bounce_lifetime; /* bounce_queue_lifetime, at most lifetime */
	long long delay_warning; /* delay_warning_time, 0 = off */
	char *notice_rcpt; /* 2bounce_notice_recipient, qualified */
	char *double_bounce; /* sender of double bounces: double-bounce@$mydomain */
	size_t header_limit;
	dkim_policy *dkim; /* signing of notifications; NULL when off */

	struct qmgr_msg *active; /* list of the active set */
	int nactive;
	struct qmgr_transport local, smtp;

	char **recover_ids; /* names found in active/ at start */
	size_t nrecover, recover_pos;
	struct qmgr_scan incoming, deferred;
	ev_timer *work; /* one-shot 0 ms: continue scanning */
	bool work_armed;
	ev_timer *deferred_timer;
	ev_timer *due_timer; /* a pass over deferred/ before the next queue run */
	time_t due_at; /* when due_timer fires, 0 when not armed */
	ev_timer *recheck; /* rescans incoming/ after a pass it changed under */
	bool recheck_armed;
	ev_timer *orphan_timer; /* looks for files in active/ nobody holds */
	unsigned orphan_ticks;

	struct qmgr_limbo *limbo; /* messages whose state change failed */
	int nlimbo;
	ev_timer *limbo_timer; /* runs while the limbo is not empty */
};

/* scan.c */
void qmgr_scan_init(struct qmgr *q);
/* qmgr_kick: more work may be possible (room in the active set, a new
 * trigger): schedules a scan step from the loop. */
void qmgr_kick(struct qmgr *q);
/* qmgr_take: moves sub/id into active/ and starts its delivery; false when
 * it is gone or could not be taken. */
bool qmgr_take(struct qmgr *q, const char *sub, const char *id, bool recover);
bool qmgr_has_room(const struct qmgr *q);
/* qmgr_deferred_due: a message is deferred until when: if that is before
 * the next periodic pass over deferred/, one more pass is planned then
 * (at least DUE_MIN_GAP s after the start of the last pass, so retry
 * times spread over a large queue do not make a pass every second). */
void qmgr_deferred_due(struct qmgr *q, time_t when);
/* qmgr_holds: id is in the active set (in delivery) or in the limbo. */
bool qmgr_holds(const struct qmgr *q, const char *id);

/* message.c */
void qmgr_msg_start(struct qmgr *q, struct q_msg *msg, bool recover);
/* qmgr_msg_result: one recipient's answer: DSN status and reason, and
 * where it came from. */
void qmgr_msg_result(struct qmgr_msg *m, int rcpt, const struct qmgr_via *via,
		     const char *status, const char *reason);
/* qmgr_msg_job_done: a job of m ended (all its recipients have results). */
void qmgr_msg_job_done(struct qmgr_msg *m);

/* limbo.c: qmgr_limbo_add: the state change what of id (in active/)
 * failed with err: keeps it and retries; the caller fills the DEFER
 * fields of the entry returned. Logged. */
struct qmgr_limbo *qmgr_limbo_add(struct qmgr *q, const char *id, enum qmgr_limbo_op op,
				  const char *what, int err);
bool qmgr_limbo_has(const struct qmgr *q, const char *id);
/* qmgr_limbo_stop: forgets the entries (their files stay in active/). */
void qmgr_limbo_stop(struct qmgr *q);

/* transport.c: init after the transport's window fields are set (none:
 * no per-destination limit). */
void qmgr_transport_init(struct qmgr *q, struct qmgr_transport *t, const char *name,
			 int limit, uint64_t job_timeout_ms);
void qmgr_transport_submit(struct qmgr_transport *t, struct qmgr_job *job);
void qmgr_transport_dispatch(struct qmgr_transport *t);
void qmgr_transport_stop(struct qmgr_transport *t);
/* qmgr_job_free: a job that ends without results (qmgr stops). */
void qmgr_job_free(struct qmgr_job *job);
/* qmgr_job_fail: every recipient of job gets status and reason; the job
 * ends (freed). unsure: the message's next attempt recovers. */
void qmgr_job_fail(struct qmgr_job *job, const struct qmgr_via *via, const char *status,
		   const char *reason, bool unsure);

/* dest.c */
void qmgr_dest_init(struct qmgr_transport *t);
void qmgr_dest_add(struct qmgr_transport *t, struct qmgr_job *job);
bool qmgr_dest_has_ready(const struct qmgr_transport *t);
/* qmgr_dest_take: the next job to start (round robin over destinations). */
struct qmgr_job *qmgr_dest_take(struct qmgr_transport *t);
/* qmgr_dest_done: a job of d ended; status/reason: its first answer. */
void qmgr_dest_done(struct qmgr_transport *t, struct qmgr_dest *d, enum qmgr_dest_outcome how,
		    const char *status, const char *reason);
void qmgr_dest_revive(struct qmgr_transport *t);
void qmgr_dest_fail_all(struct qmgr_transport *t, const char *status, const char *reason);
void qmgr_dest_stop(struct qmgr_transport *t);

/* sweep.c: removes old files no writer holds from queue tmp/, now and on
 * a timer (queue_tmp_max_age). */
void qmgr_sweep_init(struct qmgr *q);

/* bounce.c: a notification about recipients idx[0..n) of m. */
struct qmgr_notice {
	enum qmgr_dsn_kind kind;
	const int *idx;
	int n;
	const char *from; /* envelope sender: "" or q->double_bounce */
	const char *to; /* envelope recipient and To: */
	bool postmaster_copy; /* a double bounce: returns the whole bounce */
};

/* qmgr_notify: writes the notification into the queue (incoming/, fsynced)
 * and takes it in; 0 with *id_r (heap), or -1 (logged). */
int qmgr_notify(struct qmgr_msg *m, const struct qmgr_notice *nt, char **id_r);

/* dsnsign.c: DKIM signatures on notifications. qmgr_sign_init reads the
 * signing settings (bad ones are logged and leave signing off: a bounce
 * never waits for them); qmgr_sign_stop frees them. */
struct qmgr_sign;
void qmgr_sign_init(struct qmgr *q);
void qmgr_sign_stop(struct qmgr *q);
/* qmgr_sign_start: the notification being written by w has the header
 * block hdr[0..len) (without the empty line), already written; the
 * content w takes from now on is its body and is hashed as it goes. NULL
 * (nothing to do) when signing is off, no key fits, or the table or keys
 * are in trouble (logged). */
struct qmgr_sign *qmgr_sign_start(struct qmgr *q, q_writer *w, const char *hdr, size_t len);
/* qmgr_sign_end: the body is complete (complete false: the writing
 * failed, nothing is added): adds the DKIM-Signature fields to w's top
 * fields, or logs why not. Frees *sp and sets it to NULL; NULL is fine. */
void qmgr_sign_end(struct qmgr_sign **sp, q_writer *w, bool complete);

#endif
