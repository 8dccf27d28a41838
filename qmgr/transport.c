/* transport.c: qmgr's connections to a delivery service: local
 * ($queue_directory/private/local) or smtp (private/smtp). Each transport
 * keeps at most its limit of connections, each carrying one delivery
 * request at a time (docs/internals.md); jobs wait per destination in
 * dest.c until a connection is free and their destination has room. A
 * broken connection, a malformed reply, a missing recipient in the reply
 * or a timeout count as 4.4.2 for the recipients concerned and mark the
 * message for recover mode. If the service cannot be reached at all,
 * waiting jobs are deferred (4.3.0) and connecting is retried after a few
 * seconds. Everything is non-blocking under the loop. */
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

struct qmgr_conn {
	struct qmgr_transport *t;
	int fd;
	ev_io *io;
	ev_timer *timer;
	buf *in;
	buf *out;
	struct qmgr_job *job; /* in progress, or NULL when idle */
};

/* ---- jobs ---- */

void qmgr_job_free(struct qmgr_job *job)
{
	free(job->nexthop);
	free(job);
}

static void job_end(struct qmgr_job *job)
{
	struct qmgr_msg *m = job->m;

	qmgr_job_free(job);
	qmgr_msg_job_done(m);
}

void qmgr_job_fail(struct qmgr_job *job, const struct qmgr_via *via, const char *status,
		   const char *reason, bool unsure)
{
	for (int k = 0; k < job->count; k++)
		qmgr_msg_result(job->m, job->rcpts[k], via, status, reason);
	if (unsure)
		job->m->unsure = true;
	job_end(job);
}

/* ---- connections ---- */

static void conn_close(struct qmgr_conn *c)
{
	struct qmgr_transport *t = c->t;

	for (int i = 0; i < t->nconns; i++)
		if (t->conns[i] == c) {
			t->conns[i] = t->conns[--t->nconns];
			break;
		}
	ev_io_remove(&c->io);
	ev_timer_remove(&c->timer);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

/* job_over: the job's delivery ended: its destination learns how. */
static void job_over(struct qmgr_transport *t, struct qmgr_job *job, enum qmgr_dest_outcome how,
		     const char *status, const char *reason)
{
	qmgr_dest_done(t, job->dest, how, status, reason);
	job->dest = NULL;
}

static void conn_broken(struct qmgr_conn *c, const char *why)
{
	struct qmgr_job *job = c->job;
	struct qmgr_transport *t = c->t;

	c->job = NULL;
	conn_close(c);
	if (job != NULL) {
		char *reason = xasprintf("lost connection with %s delivery: %s", t->name, why);
		struct qmgr_via via = { "none", NULL, false };

		log_warn("%s: %s", job->m->msg->id, reason);
		job_over(t, job, QMGR_DEST_UNKNOWN, NULL, NULL);
		qmgr_job_fail(job, &via, "4.4.2", reason, true);
		free(reason);
	}
	qmgr_transport_dispatch(t);
}

/* The per-request fields of a reply (before the first rcpt). */
struct reply_head {
	struct qmgr_via via;
	bool dest_down;
	size_t first_rcpt; /* index of the first "rcpt" field */
};

static void read_head(const attr_rec *rec, struct reply_head *h, bool local)
{
	size_t n = attr_count(rec), i;

	h->via = (struct qmgr_via){ local ? "local" : "none", NULL, false };
	h->dest_down = false;
	for (i = 0; i < n && strcmp(attr_name_at(rec, i), "rcpt") != 0; i++) {
		const char *name = attr_name_at(rec, i), *value = attr_value_at(rec, i);

		if (strcmp(name, "relay") == 0 && *value != '\0')
			h->via.relay = value;
		else if (strcmp(name, "tls") == 0 && *value != '\0')
			h->via.tls = value;
		else if (strcmp(name, "remote_dsn") == 0)
			h->via.remote_dsn = strcmp(value, "1") == 0;
		else if (strcmp(name, "dest") == 0)
			h->dest_down = strcmp(value, "down") == 0;
	}
	h->first_rcpt = i;
}

/* apply_reply: the head, then "rcpt=N dsn=X reason=Y" groups, in that
 * order. */
static void apply_reply(struct qmgr_conn *c, const attr_rec *rec)
{
	struct qmgr_job *job = c->job;
	bool answered[QMGR_BATCH] = { false };
	const char *dsn = NULL, *first_dsn = NULL, *first_reason = NULL;
	struct reply_head h;
	long cur = -1;
	size_t n = attr_count(rec);

	read_head(rec, &h, !c->t->remote);
	for (size_t i = h.first_rcpt; i < n; i++) {
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
					qmgr_msg_result(job->m, (int)cur, &h.via, dsn, value);
					answered[k] = true;
					if (first_dsn == NULL) {
						first_dsn = dsn;
						first_reason = value;
					}
				}
	}
	job_over(c->t, job, h.dest_down ? QMGR_DEST_DOWN : QMGR_DEST_REACHED, first_dsn,
		 first_reason);
	for (int k = 0; k < job->count; k++)
		if (!answered[k]) {
			qmgr_msg_result(job->m, job->rcpts[k], &h.via, "4.4.2",
					"no result for this recipient from the delivery agent");
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
		qmgr_transport_dispatch(c->t);
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
	struct qmgr_transport *t = c->t;

	if (c->job != NULL) {
		conn_broken(c, "timeout");
		return;
	}
	conn_close(c);
	qmgr_transport_dispatch(t);
}

static struct qmgr_conn *conn_open(struct qmgr_transport *t)
{
	struct qmgr_conn *c;
	char *err = NULL;
	int fd;

	if (time(NULL) < t->down_until)
		return NULL;
	fd = sock_connect_unix(t->socket, &err);
	if (fd < 0) {
		log_warn("cannot connect to %s delivery: %s", t->name, err);
		free(err);
		t->down_until = time(NULL) + CONNECT_RETRY_SECS;
		return NULL;
	}
	sock_set_nonblock(fd, true);
	c = xcalloc(1, sizeof(*c));
	c->t = t;
	c->fd = fd;
	c->in = buf_new(512);
	c->out = buf_new(512);
	c->io = ev_io_add(t->q->loop, fd, EV_READ, on_conn_io, c);
	c->timer = ev_timer_add(t->q->loop, CONN_IDLE_MS, false, on_conn_timer, c);
	t->conns = xrealloc(t->conns, (size_t)(t->nconns + 1) * sizeof(*t->conns));
	t->conns[t->nconns++] = c;
	return c;
}

static void conn_send(struct qmgr_conn *c, struct qmgr_job *job)
{
	struct qmgr_msg *m = job->m;
	attr_rec *rec = attr_new("delivery");

	attr_add_str(rec, "queue_id", m->msg->id);
	attr_add_str(rec, "queue_file", m->msg->path);
	attr_add_int(rec, "recover", m->recover ? 1 : 0);
	if (job->nexthop != NULL)
		attr_add_str(rec, "nexthop", job->nexthop);
	for (int k = 0; k < job->count; k++)
		attr_add_int(rec, "rcpt", job->rcpts[k]);
	attr_encode(rec, c->out);
	attr_free(&rec);
	c->job = job;
	ev_timer_reset(c->timer, c->t->job_timeout_ms);
	conn_write(c);
}

static struct qmgr_conn *idle_conn(struct qmgr_transport *t)
{
	for (int i = 0; i < t->nconns; i++)
		if (t->conns[i]->job == NULL)
			return t->conns[i];
	if (t->nconns < t->limit)
		return conn_open(t);
	return NULL;
}

void qmgr_transport_dispatch(struct qmgr_transport *t)
{
	while (qmgr_dest_has_ready(t)) {
		struct qmgr_conn *c = idle_conn(t);

		if (c == NULL) {
			if (t->nconns == 0) {
				char *why = xasprintf("%s delivery service unavailable", t->name);

				qmgr_dest_fail_all(t, "4.3.0", why);
				free(why);
			}
			return;
		}
		conn_send(c, qmgr_dest_take(t));
	}
}

void qmgr_transport_submit(struct qmgr_transport *t, struct qmgr_job *job)
{
	qmgr_dest_add(t, job);
	qmgr_transport_dispatch(t);
}

void qmgr_transport_init(struct qmgr *q, struct qmgr_transport *t, const char *name,
			 int limit, uint64_t job_timeout_ms)
{
	t->q = q;
	t->name = name;
	t->socket = xasprintf("%s/private/%s", q->queue_dir, name);
	t->limit = limit;
	t->job_timeout_ms = job_timeout_ms;
	if (t->initial_window < 1)
		t->initial_window = t->max_window = 1000000;
	qmgr_dest_init(t);
}

void qmgr_transport_stop(struct qmgr_transport *t)
{
	while (t->nconns > 0) {
		struct qmgr_conn *c = t->conns[0];

		if (c->job != NULL)
			qmgr_job_free(c->job); /* its message stays in active/: recovered at start */
		c->job = NULL;
		conn_close(c);
	}
	free(t->conns);
	t->conns = NULL;
	qmgr_dest_stop(t);
	free(t->socket);
	t->socket = NULL;
}
