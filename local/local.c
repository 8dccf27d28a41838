/* local.c: the local delivery agent's main (master.cf `local unix - - n -
 * 4 local`): settings, connections from qmgr and the request/reply
 * records of docs/internals.md. Requests are read under the event loop;
 * each one is then delivered synchronously (blocking file I/O: master runs
 * several local processes). Answers wait for a group commit: the requests
 * that arrived together (on qmgr's several connections) are delivered one
 * after the other, then new/ of each Maildir they touched is fsynced once,
 * and then each gets its delivery_reply record. A malformed request is
 * logged and its connection closed (qmgr counts that as a deferral). */
#include "local.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attr.h"
#include "dreq.h"
#include "ev.h"
#include "log.h"
#include "mem.h"
#include "svc.h"

#define READ_CHUNK 4096
#define CONN_IDLE_MS 300000
/* A batch is committed at the latest after this many requests. */
#define BATCH_MAX 32

struct conn {
	svc *service;
	struct local *l;
	int fd;
	ev_io *io;
	ev_timer *idle;
	buf *in;
	bool reading; /* read_requests runs on it: it must not be freed now */
	bool broken; /* a reply could not be sent: the connection ends */
	struct conn *prev, *next;
};

static struct local local_state;
static struct conn *conns; /* open connections, closed at stop */

/* ---- the request ---- */

struct request {
	const char *queue_id;
	const char *queue_file;
	bool recover;
	struct local_result *res;
	int n;
};

/* Requests delivered but not yet answered: the current batch. */
struct pending {
	struct conn *conn; /* NULL once the connection ended */
	struct request rq;
	char *queue_id;
};

static struct {
	struct local_batch batch;
	struct pending *items;
	int count;
	ev_timer *commit;
} batch_state;

static void conn_end(struct conn *c)
{
	svc *service = c->service;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	for (int i = 0; i < batch_state.count; i++)
		if (batch_state.items[i].conn == c)
			batch_state.items[i].conn = NULL;
	ev_io_remove(&c->io);
	ev_timer_remove(&c->idle);
	close(c->fd);
	buf_free(&c->in);
	free(c);
	svc_conn_done(service);
}

/* request_of: the request's recipients as results to fill; its strings
 * stay dr's. */
static void request_of(const struct dreq *dr, struct request *rq)
{
	rq->queue_id = dr->queue_id;
	rq->queue_file = dr->queue_file;
	rq->recover = dr->recover;
	rq->res = xcalloc((size_t)dr->n + 1, sizeof(*rq->res));
	for (int k = 0; k < dr->n; k++)
		rq->res[k].rcpt = dr->rcpts[k];
	rq->n = dr->n;
}

static int send_reply(struct conn *c, struct request *rq)
{
	attr_rec *rec = attr_new("delivery_reply");
	char *err = NULL;
	int rc;

	for (int k = 0; k < rq->n; k++) {
		attr_add_int(rec, "rcpt", rq->res[k].rcpt);
		attr_add_str(rec, "dsn", rq->res[k].dsn ? rq->res[k].dsn : "4.3.0");
		attr_add_str(rec, "reason", rq->res[k].reason ? rq->res[k].reason : "no result");
	}
	rc = attr_send(c->fd, rec, c->l->ipc_timeout_ms, &err);
	if (rc < 0) {
		log_warn("%s: cannot send the delivery reply: %s", rq->queue_id, err);
		free(err);
	}
	attr_free(&rec);
	return rc;
}

static void free_request(struct request *rq)
{
	for (int k = 0; k < rq->n; k++) {
		free(rq->res[k].dsn);
		free(rq->res[k].reason);
	}
	free(rq->res);
}

/* end_broken: ends the connections a reply failed on, except one that
 * read_requests is still working on (a full batch is committed from
 * inside it): that one ends when read_requests returns. */
static void end_broken(void)
{
	struct conn *c, *next;

	for (c = conns; c != NULL; c = next) {
		next = c->next;
		if (c->broken && !c->reading)
			conn_end(c);
	}
}

/* commit_batch: the group commit: fsync the Maildirs, then answer every
 * request of the batch; a connection whose answer cannot be sent ends. */
static void commit_batch(void *ctx)
{
	(void)ctx;

	ev_timer_remove(&batch_state.commit);
	local_batch_sync(&batch_state.batch);
	for (int i = 0; i < batch_state.count; i++) {
		struct pending *p = &batch_state.items[i];

		p->rq.queue_id = p->queue_id;
		if (p->conn != NULL && !p->conn->broken && send_reply(p->conn, &p->rq) < 0)
			p->conn->broken = true;
		free_request(&p->rq);
		free(p->queue_id);
	}
	batch_state.count = 0;
	end_broken();
}

static void add_to_batch(struct conn *c, struct request *rq)
{
	struct pending *p;

	batch_state.items = xrealloc(batch_state.items,
				     (size_t)(batch_state.count + 1) * sizeof(*batch_state.items));
	p = &batch_state.items[batch_state.count++];
	p->conn = c;
	p->rq = *rq;
	p->rq.queue_file = NULL;
	p->queue_id = xstrdup(rq->queue_id); /* rq's strings are the caller's */
	if (batch_state.count >= BATCH_MAX)
		commit_batch(NULL);
	else if (batch_state.commit == NULL) /* after the events already waiting */
		batch_state.commit = ev_timer_add(svc_loop(c->service), 0, false, commit_batch, NULL);
}

/* handle_request: false when the connection must end. */
static bool handle_request(struct conn *c, const attr_rec *rec)
{
	struct request rq = { 0 };
	struct dreq dr;
	char *err = NULL;

	if (dreq_parse(rec, c->l->queue_dir, false, LOCAL_MAX_RCPTS, &dr, &err) < 0) {
		log_warn("bad delivery request: %s", err);
		free(err);
		return false;
	}
	request_of(&dr, &rq);
	local_deliver(c->l, rq.queue_id, rq.queue_file, rq.recover, rq.res, rq.n,
		      &batch_state.batch);
	add_to_batch(c, &rq); /* copies the queue ID */
	dreq_clear(&dr);
	return true;
}

/* ---- the connection ---- */

/* read_requests: false when the connection must end (the caller ends
 * it; a batch committed meanwhile may have marked it broken). */
static bool read_requests(struct conn *c)
{
	attr_rec *rec;
	size_t used;
	char *err = NULL;
	bool ok = true;
	int rc = 1;

	c->reading = true;
	while (ok && !c->broken &&
	       (rc = attr_decode(buf_cstr(c->in), buf_len(c->in), &rec, &used, &err)) == 1) {
		buf_consume(c->in, used);
		ok = handle_request(c, rec);
		attr_free(&rec);
	}
	c->reading = false;
	if (rc < 0) {
		log_warn("bad record from qmgr: %s", err);
		free(err);
		return false;
	}
	return ok && !c->broken;
}

static void on_io(void *ctx, int fd, int events)
{
	struct conn *c = ctx;
	ssize_t n;
	(void)events;

	n = read(fd, buf_reserve(c->in, READ_CHUNK), READ_CHUNK);
	if (n > 0) {
		buf_commit(c->in, (size_t)n);
		ev_timer_reset(c->idle, CONN_IDLE_MS);
		if (!read_requests(c))
			conn_end(c);
		return;
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		conn_end(c);
}

static void on_idle(void *ctx)
{
	conn_end(ctx);
}

static void local_accept(svc *service, int fd)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->service = service;
	c->l = svc_ctx(service);
	c->fd = fd;
	c->in = buf_new(1024);
	c->io = ev_io_add(svc_loop(service), fd, EV_READ, on_io, c);
	c->idle = ev_timer_add(svc_loop(service), CONN_IDLE_MS, false, on_idle, c);
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
}

static void local_init(svc *service)
{
	struct local *l = svc_ctx(service);

	l->config = svc_cfg(service);
	l->queue_dir = xstrdup(cfg_get(l->config, "queue_directory"));
	l->qmgr_socket = xasprintf("%s/private/qmgr", l->queue_dir);
	l->ipc_timeout_ms = (int)cfg_get_int(l->config, "ipc_timeout") * 1000;
	l->min_free = cfg_local_minfree(l->config);
	l->resolver = resolver_new(l->config);
	local_arc_init(l);
}

/* local_stop: requests run synchronously, so none is in progress here;
 * the pending batch is committed and answered; qmgr retries whatever it
 * had sent on a connection we close. */
static void local_stop(svc *service)
{
	struct local *l = svc_ctx(service);

	if (batch_state.count > 0)
		commit_batch(NULL);
	free(batch_state.items);
	batch_state.items = NULL;
	while (conns != NULL)
		conn_end(conns);
	resolver_free(&l->resolver);
	local_arc_free(l);
	free(l->queue_dir);
	free(l->qmgr_socket);
	l->queue_dir = l->qmgr_socket = NULL;
}

int main(int argc, char **argv)
{
	static const struct svc_ops ops = { .init = local_init, .accept = local_accept,
					    .stop = local_stop };

	svc_main(argc, argv, "local", &ops, &local_state);
}
