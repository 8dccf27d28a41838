/* bounce.c: writes a delivery status notification (the text comes from
 * dsn.c) as a new queue file from the null sender to the original sender,
 * with the same durability as any accepted mail (q_writer: tmp/, fsync,
 * rename into incoming/, fsync incoming/), then takes it in at once. The
 * returned message is streamed from the queue file: only its headers for
 * RET=HDRS and by default, all of it for RET=FULL. */
#include "qmgr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "logic.h"
#include "mem.h"


static int bounce_envelope(q_writer *w, const struct q_msg *orig, char **err_r)
{
	struct q_rcpt rcpt = { .address = orig->env.sender, .state = Q_RCPT_PENDING };
	struct q_envelope env = {
		.arrival = time(NULL),
		.sender = "",
		.body_8bit = orig->env.body_8bit,
		.smtputf8 = orig->env.smtputf8,
		.client = "qmgr bounce",
		.rcpts = &rcpt,
		.nrcpts = 1,
	};

	return q_writer_envelope(w, &env, err_r);
}

/* returned_length: how much of the original goes back: all of it for
 * RET=FULL, else its header section (looked for in the first
 * header_size_limit bytes). */
static off_t returned_length(struct qmgr *q, const struct q_msg *orig)
{
	size_t want;
	char *head;
	ssize_t n;
	off_t len;

	if (orig->env.ret == 1)
		return orig->content_size;
	want = orig->content_size < (off_t)q->header_limit ? (size_t)orig->content_size
							     : q->header_limit;
	head = xmalloc(want + 1);
	n = pread(orig->fd, head, want, orig->content_offset);
	len = n > 0 ? (off_t)qmgr_dsn_headers_len(head, (size_t)n) : 0;
	free(head);
	return len;
}

static void fill_dsn(struct qmgr_msg *m, const int *idx, int n, const char *boundary,
		     struct qmgr_dsn *d, struct qmgr_dsn_rcpt *rcpts)
{
	const struct q_msg *orig = m->msg;

	for (int k = 0; k < n; k++) {
		const struct q_rcpt *r = &orig->env.rcpts[idx[k]];

		rcpts[k].address = r->address;
		rcpts[k].orcpt = r->orcpt;
		rcpts[k].action = "failed";
		rcpts[k].status = m->status[idx[k]];
		rcpts[k].reason = m->reason[idx[k]];
	}
	d->hostname = m->q->hostname;
	d->queue_id = orig->id;
	d->boundary = boundary;
	d->sender = orig->env.sender;
	d->envid = orig->env.envid;
	d->arrival = orig->env.arrival;
	d->now = time(NULL);
	d->full = orig->env.ret == 1;
	d->rcpts = rcpts;
	d->nrcpts = n;
}

static int write_dsn(q_writer *w, struct qmgr_msg *m, const int *idx, int n, char **err_r)
{
	struct qmgr_dsn_rcpt *rcpts = xcalloc((size_t)n, sizeof(*rcpts));
	char *boundary = xasprintf("%s.bounce/%s", q_writer_id(w), m->q->hostname);
	struct qmgr_dsn d;
	buf *text = buf_new(4096);
	int last = '\n', rc;

	fill_dsn(m, idx, n, boundary, &d, rcpts);
	qmgr_dsn_head(text, &d);
	rc = q_writer_content(w, buf_cstr(text), buf_len(text), err_r);
	if (rc == 0)
		rc = q_writer_copy_content(w, m->msg, returned_length(m->q, m->msg), &last, err_r);
	buf_reset(text);
	qmgr_dsn_tail(text, &d, last);
	if (rc == 0)
		rc = q_writer_content(w, buf_cstr(text), buf_len(text), err_r);
	buf_free(&text);
	free(boundary);
	free(rcpts);
	return rc;
}

int qmgr_bounce(struct qmgr_msg *m, const int *idx, int n, char **id_r)
{
	struct qmgr *q = m->q;
	char *err = NULL;
	q_writer *w = q_writer_new(q->queue_dir, &err);

	*id_r = NULL;
	if (w == NULL)
		goto fail;
	if (bounce_envelope(w, m->msg, &err) < 0 || write_dsn(w, m, idx, n, &err) < 0) {
		q_writer_abort(&w);
		goto fail;
	}
	*id_r = xstrdup(q_writer_id(w));
	if (q_writer_commit(&w, &err) < 0)
		goto fail;
	if (q_sync_dir(q->queue_dir, Q_INCOMING) < 0) {
		err = xasprintf("fsync %s/: %s", Q_INCOMING, strerror(errno));
		goto fail;
	}
	q->incoming.again = true;
	qmgr_kick(q);
	return 0;
fail:
	log_warn("%s: cannot write the non-delivery notification: %s (will try again)",
		 m->msg->id, err ? err : "unknown error");
	free(err);
	free(*id_r);
	*id_r = NULL;
	return -1;
}
