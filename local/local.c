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

/* parse_rcpts: every "rcpt" field, in order. */
static int parse_rcpts(const attr_rec *rec, struct request *rq, char **err_r)
{
	size_t count = attr_count(rec);

	rq->res = xcalloc(count + 1, sizeof(*rq->res));
	for (size_t i = 0; i < count; i++) {
		const char *name = attr_name_at(rec, i), *value = attr_value_at(rec, i);
		char *end;
		long v;

		if (strcmp(name, "rcpt") != 0)
			continue;
		errno = 0;
		v = strtol(value, &end, 10);
		if (*value == '\0' || *end != '\0' || errno != 0 || v < 0 || v > 1000000 ||
		    rq->n >= LOCAL_MAX_RCPTS) {
			*err_r = xasprintf("bad rcpt '%s'", value);
			return -1;
		}
		rq->res[rq->n++].rcpt = (int)v;
	}
	return 0;
}

static int check_fields(const attr_rec *rec, char **err_r)
{
	static const char *const known[] = { "queue_id", "queue_file", "recover", "rcpt" };

	for (size_t i = 0; i < attr_count(rec); i++) {
		bool ok = false;

		for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			ok |= strcmp(attr_name_at(rec, i), known[k]) == 0;
		if (!ok) {
			*err_r = xasprintf("unknown field '%s'", attr_name_at(rec, i));
			return -1;
		}
	}
	return 0;
}

/* parse_request: the fields, and that queue_file is active/<queue_id> of
 * our queue (local reads no other file on qmgr's say-so). */
static int parse_request(struct local *l, const attr_rec *rec, struct request *rq, char **err_r)
{
	const char *recover = attr_get(rec, "recover");
	char *want;
	int rc;

	rq->queue_id = attr_get(rec, "queue_id");
	rq->queue_file = attr_get(rec, "queue_file");
	if (strcmp(attr_protocol(rec), "delivery") != 0 || rq->queue_id == NULL ||
	    rq->queue_file == NULL || !q_id_valid(rq->queue_id) || check_fields(rec, err_r) < 0) {
		if (*err_r == NULL)
			*err_r = xstrdup("not a valid delivery request");
		return -1;
	}
	rq->recover = recover != NULL && strcmp(recover, "1") == 0;
	want = q_path(l->queue_dir, Q_ACTIVE, rq->queue_id);
	rc = strcmp(want, rq->queue_file) == 0 ? 0 : -1;
	free(want);
	if (rc < 0) {
		*err_r = xasprintf("queue file %s is not in %s/", rq->queue_file, Q_ACTIVE);
		return -1;
	}
	return parse_rcpts(rec, rq, err_r);
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
	p->queue_id = xstrdup(rq->queue_id); /* rq's strings live in the record */
	if (batch_state.count >= BATCH_MAX)
		commit_batch(NULL);
	else if (batch_state.commit == NULL) /* after the events already waiting */
		batch_state.commit = ev_timer_add(svc_loop(c->service), 0, false, commit_batch, NULL);
}

/* handle_request: false when the connection must end. */
static bool handle_request(struct conn *c, const attr_rec *rec)
{
	struct request rq = { 0 };
	char *err = NULL;

	if (parse_request(c->l, rec, &rq, &err) < 0) {
		log_warn("bad delivery request: %s", err);
		free(err);
		free_request(&rq);
		return false;
	}
	local_deliver(c->l, rq.queue_id, rq.queue_file, rq.recover, rq.res, rq.n,
		      &batch_state.batch);
	add_to_batch(c, &rq);
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
