/* bounce.c: writes a delivery status notification (the text comes from
 * dsn.c) as a new queue file, with the same durability as any accepted
 * mail (q_writer: tmp/, fsync, rename into incoming/, fsync incoming/),
 * then takes it in at once. Failure, delay and success reports go from
 * the null sender to the original sender; a double bounce (a bounce that
 * could not be delivered) goes from double-bounce@$mydomain to the
 * 2bounce_notice_recipient. The returned message is streamed from the
 * queue file: all of it for a failure with RET=FULL and for a double
 * bounce, only its headers otherwise (delay and success reports always
 * return headers only, as Postfix does). Each is DKIM-signed when a
 * signing table key fits (dsnsign.c), before the commit. */
#include "qmgr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "logic.h"
#include "mem.h"


static int bounce_envelope(q_writer *w, const struct q_msg *orig, const struct qmgr_notice *nt,
			   char **err_r)
{
	struct q_rcpt rcpt = { .address = (char *)nt->to, .state = Q_RCPT_PENDING };
	struct q_envelope env = {
		.arrival = time(NULL),
		.sender = (char *)nt->from,
		.body_8bit = orig->env.body_8bit,
		.smtputf8 = orig->env.smtputf8,
		.client = "qmgr bounce",
		.rcpts = &rcpt,
		.nrcpts = 1,
	};

	return q_writer_envelope(w, &env, err_r);
}

/* read_head: the first want bytes of the message as delivered (top
 * header fields, then the content); the count read, or -1. */
static ssize_t read_head(const struct q_msg *orig, char *head, size_t want)
{
	size_t got = 0;

	while (got < want) {
		ssize_t n = q_msg_pread(orig, head + got, want - got, (off_t)got);

		if (n <= 0)
			return got > 0 ? (ssize_t)got : n;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* returned_length: how much of the original goes back: all of it for
 * RET=FULL, else its header section (looked for in the first
 * header_size_limit bytes). */
static off_t returned_length(struct qmgr *q, const struct q_msg *orig, bool full)
{
	size_t want;
	char *head;
	ssize_t n;
	off_t len;

	if (full)
		return q_msg_size(orig);
	want = q_msg_size(orig) < (off_t)q->header_limit ? (size_t)q_msg_size(orig)
							 : q->header_limit;
	head = xmalloc(want + 1);
	n = read_head(orig, head, want);
	len = n > 0 ? (off_t)qmgr_dsn_headers_len(head, (size_t)n) : 0;
	free(head);
	return len;
}

/* rcpt_action: the RFC 3464 action of recipient i in a notification. */
static const char *rcpt_action(const struct qmgr_msg *m, int i, enum qmgr_dsn_kind kind)
{
	switch (kind) {
	case QMGR_DSN_DELAY:
		return "delayed";
	case QMGR_DSN_SUCCESS:
		return m->success[i] == QMGR_SUCCESS_RELAYED ? "relayed" : "delivered";
	default:
		return "failed";
	}
}

static const char *rcpt_status(const struct qmgr_msg *m, int i, enum qmgr_dsn_kind kind)
{
	if (m->status[i] != NULL)
		return m->status[i];
	return kind == QMGR_DSN_SUCCESS ? "2.0.0" : kind == QMGR_DSN_DELAY ? "4.0.0" : "5.0.0";
}

static void fill_dsn(struct qmgr_msg *m, const struct qmgr_notice *nt, const char *boundary,
		     struct qmgr_dsn *d, struct qmgr_dsn_rcpt *rcpts)
{
	const struct q_msg *orig = m->msg;
	long long lifetime = qmgr_lifetime(orig->env.sender, m->q->lifetime, m->q->bounce_lifetime);
	time_t until = orig->env.arrival + (time_t)lifetime;

	for (int k = 0; k < nt->n; k++) {
		int i = nt->idx[k];

		rcpts[k].address = orig->env.rcpts[i].address;
		rcpts[k].orcpt = orig->env.rcpts[i].orcpt;
		rcpts[k].action = rcpt_action(m, i, nt->kind);
		rcpts[k].status = rcpt_status(m, i, nt->kind);
		rcpts[k].reason = m->reason[i] ? m->reason[i] : "";
		rcpts[k].retry_until = nt->kind == QMGR_DSN_DELAY ? until : 0;
	}
	d->kind = nt->kind;
	d->postmaster_copy = nt->postmaster_copy;
	d->hostname = m->q->hostname;
	d->queue_id = orig->id;
	d->boundary = boundary;
	d->sender = nt->to;
	d->envid = orig->env.envid;
	d->arrival = orig->env.arrival;
	d->now = time(NULL);
	d->full = nt->postmaster_copy || (nt->kind == QMGR_DSN_FAILURE && orig->env.ret == 1);
	d->rcpts = rcpts;
	d->nrcpts = nt->n;
}

/* write_head: the DSN's header block and the start of its body (text);
 * the signing, if any, starts between the two. */
static int write_head(q_writer *w, struct qmgr *q, const buf *text, struct qmgr_sign **sign_r,
		      char **err_r)
{
	const char *t = buf_cstr(text);
	size_t hlen = qmgr_dsn_headers_len(t, buf_len(text)); /* with the empty line */

	if (q_writer_content(w, t, hlen, err_r) < 0)
		return -1;
	if (hlen >= 2 && t[hlen - 1] == '\n' && t[hlen - 2] == '\n')
		*sign_r = qmgr_sign_start(q, w, t, hlen - 1);
	return q_writer_content(w, t + hlen, buf_len(text) - hlen, err_r);
}

static int write_dsn(q_writer *w, struct qmgr_msg *m, const struct qmgr_notice *nt, char **err_r)
{
	struct qmgr_dsn_rcpt *rcpts = xcalloc((size_t)nt->n, sizeof(*rcpts));
	char *boundary = xasprintf("%s.bounce/%s", q_writer_id(w), m->q->hostname);
	struct qmgr_sign *sign = NULL;
	struct qmgr_dsn d;
	buf *text = buf_new(4096);
	int last = '\n', rc;

	fill_dsn(m, nt, boundary, &d, rcpts);
	qmgr_dsn_head(text, &d);
	rc = write_head(w, m->q, text, &sign, err_r);
	if (rc == 0)
		rc = q_writer_copy_content(w, m->msg, returned_length(m->q, m->msg, d.full), &last,
					   err_r);
	buf_reset(text);
	qmgr_dsn_tail(text, &d, last);
	if (rc == 0)
		rc = q_writer_content(w, buf_cstr(text), buf_len(text), err_r);
	qmgr_sign_end(&sign, w, rc == 0);
	buf_free(&text);
	free(boundary);
	free(rcpts);
	return rc;
}

static const char *notice_name(const struct qmgr_notice *nt)
{
	if (nt->postmaster_copy)
		return "postmaster non-delivery notification";
	return nt->kind == QMGR_DSN_DELAY     ? "delay notification"
	       : nt->kind == QMGR_DSN_SUCCESS ? "delivery status notification"
					      : "non-delivery notification";
}

int qmgr_notify(struct qmgr_msg *m, const struct qmgr_notice *nt, char **id_r)
{
	struct qmgr *q = m->q;
	char *err = NULL;
	q_writer *w = q_writer_new(q->queue_dir, &err);

	*id_r = NULL;
	if (w == NULL)
		goto fail;
	if (bounce_envelope(w, m->msg, nt, &err) < 0 || write_dsn(w, m, nt, &err) < 0) {
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
	log_warn("%s: cannot write the %s: %s", m->msg->id, notice_name(nt),
		 err ? err : "unknown error");
	free(err);
	free(*id_r);
	*id_r = NULL;
	return -1;
}
