/* transport.c: qmgr's connections to the local delivery service
 * ($queue_directory/private/local): at most
 * local_destination_concurrency_limit of them, each carrying one delivery
 * request at a time (docs/internals.md). Jobs wait in a FIFO until a
 * connection is free. A broken connection, a malformed reply, a missing
 * recipient in the reply or a timeout count as 4.4.2 for the recipients
 * concerned and mark the message for recover mode. If local cannot be
 * reached at all, waiting jobs are deferred (4.3.0) and connecting is
 * retried after a few seconds. Everything is non-blocking under the loop. */
#include "qmgr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attr.h"
#include "log.h"
#include "mem.h"
#include "sock.h"

#define CONN_IDLE_MS 10000
#define CONNECT_RETRY_SECS 5
#define READ_CHUNK 4096
/* Time for one delivery request: ipc_timeout times this (a batch of
 * recipients each with a fsync may take a while on a busy disk). */
#define DELIVERY_TIMEOUT_FACTOR 5

struct qmgr_conn {
	struct qmgr *q;
	int fd;
	ev_io *io;
	ev_timer *timer;
	buf *in;
	buf *out;
	struct qmgr_job *job; /* in progress, or NULL when idle */
};

static void dispatch(struct qmgr *q);

/* ---- jobs ---- */

static void job_end(struct qmgr_job *job)
{
	struct qmgr_msg *m = job->m;

	free(job);
	qmgr_msg_job_done(m);
}

/* job_fail: every recipient of job still without an answer gets status. */
static void job_fail(struct qmgr_job *job, const char *status, const char *reason, bool unsure)
{
	for (int k = 0; k < job->count; k++)
		qmgr_msg_result(job->m, job->rcpts[k], status, reason);
	if (unsure)
		job->m->unsure = true;
	job_end(job);
}

/* ---- connections ---- */

static void conn_close(struct qmgr_conn *c)
{
	struct qmgr *q = c->q;

	for (int i = 0; i < q->nconns; i++)
		if (q->conns[i] == c) {
			q->conns[i] = q->conns[--q->nconns];
			break;
		}
	ev_io_remove(&c->io);
	ev_timer_remove(&c->timer);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

static void conn_broken(struct qmgr_conn *c, const char *why)
{
	struct qmgr_job *job = c->job;
	struct qmgr *q = c->q;

	c->job = NULL;
	conn_close(c);
	if (job != NULL) {
		char *reason = xasprintf("lost connection with local delivery: %s", why);

		log_warn("%s: %s", job->m->msg->id, reason);
		job_fail(job, "4.4.2", reason, true);
		free(reason);
	}
	dispatch(q);
}

/* apply_reply: "rcpt=N dsn=X reason=Y" groups, in that order. */
static void apply_reply(struct qmgr_conn *c, const attr_rec *rec)
{
	struct qmgr_job *job = c->job;
	bool answered[QMGR_BATCH] = { false };
	const char *dsn = NULL;
	long cur = -1;
	size_t n = attr_count(rec);

	for (size_t i = 0; i < n; i++) {
		const char *name = attr_name_at(rec, i), *value = attr_value_at(rec, i);

		if (strcmp(name, "rcpt") == 0) {
			char *end;

			cur = strtol(value, &end, 10);
			if (*end != '\0')
				cur = -1;
			dsn = NULL;
		} else if (strcmp(name, "dsn") == 0)
			dsn = value;
		else if (strcmp(name, "reason") == 0 && dsn != NULL)
			for (int k = 0; k < job->count; k++)
				if (job->rcpts[k] == cur && !answered[k]) {
					qmgr_msg_result(job->m, (int)cur, dsn, value);
					answered[k] = true;
				}
	}
	for (int k = 0; k < job->count; k++)
		if (!answered[k]) {
			qmgr_msg_result(job->m, job->rcpts[k], "4.4.2",
					"no result for this recipient from local delivery");
			job->m->unsure = true;
		}
}

static void conn_idle(struct qmgr_conn *c)
{
	c->job = NULL;
	ev_io_set_events(c->io, EV_READ);
	ev_timer_reset(c->timer, CONN_IDLE_MS);
}

/* read_reply: 1 a reply was handled, 0 need more, -1 the conn is gone. */
static int read_reply(struct qmgr_conn *c)
{
	attr_rec *rec = NULL;
	size_t used = 0;
	char *err = NULL;
	struct qmgr_job *job;
	int rc = attr_decode(buf_cstr(c->in), buf_len(c->in), &rec, &used, &err);

	if (rc == 0)
		return 0;
	if (rc < 0 || c->job == NULL || strcmp(attr_protocol(rec), "delivery_reply") != 0) {
		char *why = xasprintf("bad reply: %s",
				      err ? err : c->job ? "wrong protocol" : "unexpected");

		attr_free(&rec);
		free(err);
		conn_broken(c, why);
		free(why);
		return -1;
	}
	buf_consume(c->in, used);
	apply_reply(c, rec);
	attr_free(&rec);
	job = c->job;
	conn_idle(c);
	job_end(job);
	return 1;
}

static void conn_read(struct qmgr_conn *c)
{
	ssize_t n = read(c->fd, buf_reserve(c->in, READ_CHUNK), READ_CHUNK);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_broken(c, n == 0 ? "connection closed" : strerror(errno));
		return;
	}
	if (n > 0)
		buf_commit(c->in, (size_t)n);
	if (read_reply(c) == 1)
		dispatch(c->q);
}

/* conn_write: false when the connection broke (and c is gone). */
static bool conn_write(struct qmgr_conn *c)
{
	ssize_t n = write(c->fd, buf_cstr(c->out), buf_len(c->out));

	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		conn_broken(c, strerror(errno));
		return false;
	}
	if (n > 0)
		buf_consume(c->out, (size_t)n);
	ev_io_set_events(c->io, buf_len(c->out) > 0 ? EV_READ | EV_WRITE : EV_READ);
	return true;
}

static void on_conn_io(void *ctx, int fd, int events)
{
	struct qmgr_conn *c = ctx;
	(void)fd;

	if ((events & EV_WRITE) && buf_len(c->out) > 0) {
		conn_write(c);
		return;
	}
	if (events & (EV_READ | EV_ERROR))
		conn_read(c);
}

static void on_conn_timer(void *ctx)
{
	struct qmgr_conn *c = ctx;
	struct qmgr *q = c->q;

	if (c->job != NULL) {
		conn_broken(c, "timeout");
		return;
	}
	conn_close(c);
	dispatch(q);
}

static struct qmgr_conn *conn_open(struct qmgr *q)
{
	struct qmgr_conn *c;
	char *err = NULL;
	int fd;

	if (time(NULL) < q->local_down_until)
		return NULL;
	fd = sock_connect_unix(q->local_socket, &err);
	if (fd < 0) {
		log_warn("cannot connect to local delivery: %s", err);
		free(err);
		q->local_down_until = time(NULL) + CONNECT_RETRY_SECS;
		return NULL;
	}
	sock_set_nonblock(fd, true);
	c = xcalloc(1, sizeof(*c));
	c->q = q;
	c->fd = fd;
	c->in = buf_new(512);
	c->out = buf_new(512);
	c->io = ev_io_add(q->loop, fd, EV_READ, on_conn_io, c);
	c->timer = ev_timer_add(q->loop, CONN_IDLE_MS, false, on_conn_timer, c);
	q->conns = xrealloc(q->conns, (size_t)(q->nconns + 1) * sizeof(*q->conns));
	q->conns[q->nconns++] = c;
	return c;
}

static void conn_send(struct qmgr_conn *c, struct qmgr_job *job)
{
	struct qmgr_msg *m = job->m;
	attr_rec *rec = attr_new("delivery");

	attr_add_str(rec, "queue_id", m->msg->id);
	attr_add_str(rec, "queue_file", m->msg->path);
	attr_add_int(rec, "recover", m->recover ? 1 : 0);
	for (int k = 0; k < job->count; k++)
		attr_add_int(rec, "rcpt", job->rcpts[k]);
	attr_encode(rec, c->out);
	attr_free(&rec);
	c->job = job;
	ev_timer_reset(c->timer, (uint64_t)c->q->ipc_timeout * 1000 * DELIVERY_TIMEOUT_FACTOR);
	conn_write(c);
}

static struct qmgr_conn *idle_conn(struct qmgr *q)
{
	for (int i = 0; i < q->nconns; i++)
		if (q->conns[i]->job == NULL)
			return q->conns[i];
	if (q->nconns < q->concurrency)
		return conn_open(q);
	return NULL;
}

/* fail_waiting: local is unreachable and no connection is open. */
static void fail_waiting(struct qmgr *q)
{
	while (q->jobs_head != NULL) {
		struct qmgr_job *job = q->jobs_head;

		q->jobs_head = job->next;
		if (q->jobs_head == NULL)
			q->jobs_tail = NULL;
		job_fail(job, "4.3.0", "local delivery service unavailable", false);
	}
}

static void dispatch(struct qmgr *q)
{
	while (q->jobs_head != NULL) {
		struct qmgr_conn *c = idle_conn(q);
		struct qmgr_job *job;

		if (c == NULL) {
			if (q->nconns == 0)
				fail_waiting(q);
			return;
		}
		job = q->jobs_head;
		q->jobs_head = job->next;
		if (q->jobs_head == NULL)
			q->jobs_tail = NULL;
		job->next = NULL;
		conn_send(c, job);
	}
}

void qmgr_transport_submit(struct qmgr *q, struct qmgr_job *job)
{
	job->next = NULL;
	if (q->jobs_tail != NULL)
		q->jobs_tail->next = job;
	else
		q->jobs_head = job;
	q->jobs_tail = job;
	dispatch(q);
}

void qmgr_transport_stop(struct qmgr *q)
{
	while (q->nconns > 0) {
		struct qmgr_conn *c = q->conns[0];

		free(c->job); /* its message stays in active/: recovered at start */
		c->job = NULL;
		conn_close(c);
	}
}
