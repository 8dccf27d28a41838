/* local.h: the local delivery agent's shared state, between its files:
 *   local.c    main, settings, connections from qmgr, request parsing, reply
 *   deliver.c  one delivery request: resolve each recipient, write the
 *              Maildir copies (md.h), fsync new/ once per Maildir touched
 *   forward.c  targets outside the hosted domains: a new queue file
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

struct local {
	cfg *config;
	resolver *resolver;
	char *queue_dir;
	char *qmgr_socket;
	int ipc_timeout_ms;
};

/* One recipient of a request and its answer. */
struct local_result {
	int rcpt; /* index in the queue file */
	char *dsn; /* "2.0.0" */
	char *reason;
};

/* local_deliver: delivers the recipients res[0..n) (their .rcpt set) of
 * the queue file at path, filling in .dsn and .reason of each. */
void local_deliver(struct local *l, const char *queue_id, const char *path, bool recover,
		   struct local_result *res, int n);

/* local_forward: queues a copy of msg from its sender to addrs[0..n)
 * (forwards of recipient rcpt), fsynced in incoming/, and triggers qmgr.
 * 0, or -1 with *err_r (heap). */
int local_forward(struct local *l, const struct q_msg *msg, int rcpt, char **addrs, int n,
		  char **err_r);

#endif
