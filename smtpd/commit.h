/* commit.h: smtpd's queue file committer: q_writer_commit on worker
 * threads, so the fsyncs of many sessions overlap, and one fsync of
 * incoming/ (also on a worker) for every batch of finished commits before
 * the callbacks that send the 250 replies. All callbacks run on the event
 * loop thread. */
#ifndef POSTERN_SMTPD_COMMIT_H
#define POSTERN_SMTPD_COMMIT_H

#include <stdbool.h>

#include "ev.h"
#include "q.h"

typedef struct committer committer;

/* commit_done_fn: ok = the file is in incoming/ and incoming/ is fsynced;
 * otherwise err (may be NULL) says why (the tmp file is gone). */
typedef void commit_done_fn(void *owner, bool ok, const char *err);

committer *commit_new(ev_loop *loop, const char *queue_dir, commit_done_fn *done);
/* commit_submit: takes *writer (sets it to NULL); returns a handle for
 * commit_forget. done(owner, ...) is called later from the loop. */
void *commit_submit(committer *c, q_writer **writer, void *owner);
/* commit_forget: the owner is gone; its commit finishes without a callback. */
void commit_forget(committer *c, void *handle);

#endif
