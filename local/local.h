/* local.h: the local delivery agent's shared state, between its files:
 *   local.c    main, settings, connections from qmgr, request parsing, reply
 *   deliver.c  one delivery request: resolve each recipient, write the
 *              Maildir copies (md.h), fsync new/ once per Maildir touched
 *   forward.c  targets outside the hosted domains: a new queue file
 *   arcseal.c  the ARC set (RFC 8617) such a copy gets
 * local never changes the queue file it delivers from (qmgr owns the
 * recipient states); it only reads it. */
#ifndef POSTERN_LOCAL_H
#define POSTERN_LOCAL_H

#include <stdbool.h>

#include "cfg.h"
#include "q.h"
#include "resolve.h"

/* Most recipients accepted in one request. */
#define LOCAL_MAX_RCPTS 1000
/* The Maildir++ folder a quarantined message goes into (deliver.c). */
#define LOCAL_JUNK_FOLDER ".Junk"

struct local {
	cfg *config;
	resolver *resolver;
	char *queue_dir;
	char *qmgr_socket;
	int ipc_timeout_ms;
	long long min_free; /* effective local_minfree (cfg_local_minfree) */
	struct local_arc *arc; /* arcseal.c */
};

/* One recipient of a request and its answer. */
struct local_result {
	int rcpt; /* index in the queue file */
	char *dsn; /* "2.0.0" */
	char *reason;
};

/* A batch: the Maildirs written by the requests delivered since the last
 * local_batch_sync, each with the result that depends on it. Group commit:
 * new/ of a Maildir is fsynced once for all of them, and only then are the
 * requests answered. */
struct local_touched {
	char *maildir;
	struct local_result *result;
};

struct local_batch {
	struct local_touched *touched;
	int ntouched;
};

/* local_deliver: delivers the recipients res[0..n) (their .rcpt set) of
 * the queue file at path, filling in .dsn and .reason of each. A "2.0.0"
 * holds only after local_batch_sync(batch), which may turn it into 4.3.0;
 * res must stay allocated until then. */
void local_deliver(struct local *l, const char *queue_id, const char *path, bool recover,
		   struct local_result *res, int n, struct local_batch *batch);
/* local_batch_sync: fsync new/ of every Maildir in the batch once; on a
 * failure the results that depend on it become 4.3.0. Empties the batch. */
void local_batch_sync(struct local_batch *batch);

/* local_forward: queues a copy of msg from its sender to addrs[0..n)
 * (forwards of recipient rcpt), fsynced in incoming/, and triggers qmgr.
 * 0, or -1 with *err_r (heap). */
int local_forward(struct local *l, const struct q_msg *msg, int rcpt, char **addrs, int n,
		  char **err_r);

/* arcseal.c: local_arc_init reads arc_seal and the signing table;
 * local_arc_seal adds the ARC set to w, the forwarded copy of msg for
 * recipient rcpt, when msg carries this site's Authentication-Results and
 * a key is found (else nothing). 0, or -1 with *err_r (heap) when the
 * forward is to be tried again later (table or key trouble). */
void local_arc_init(struct local *l);
void local_arc_free(struct local *l);
int local_arc_seal(struct local *l, const struct q_msg *msg, int rcpt, q_writer *w,
		   char **err_r);

#endif
