/* smtp.c: the outbound SMTP client's main (master.cf `smtp unix - - n -
 * - smtp`): settings, connections from qmgr and the request/reply records
 * of docs/internals.md ("qmgr → smtp"). Each qmgr connection carries one
 * request at a time; the delivery runs under the event loop (deliver.c)
 * and its reply is written when it is done, while the process serves its
 * other connections. A malformed request is logged and its connection
 * closed (qmgr counts that as a deferral). */
#include "smtp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attr.h"
#include "dreq.h"
#include "log.h"
#include "mem.h"
#include "tls.h"

#define READ_CHUNK 4096
#define CONN_IDLE_MS 300000

struct smtp_conn {
	svc *service;
	struct smtp *s;
	int fd;
	ev_io *io;
	ev_timer *idle;
	buf *in;
	ev_timer *kick; /* after a reply: the next request, or the end */
	struct delivery *busy; /* the request in progress, or NULL */
	bool broken; /* a reply could not be sent: the connection ends */
	struct smtp_conn *prev, *next;
};

static struct smtp smtp_state;
static struct smtp_conn *conns;

static bool read_requests(struct smtp_conn *c);

static void conn_end(struct smtp_conn *c)
{
	svc *service = c->service;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->busy != NULL)
		delivery_forget_conn(c->busy); /* it goes on; its answer is lost */
	ev_io_remove(&c->io);
	ev_timer_remove(&c->idle);
	ev_timer_remove(&c->kick);
	close(c->fd);
	buf_free(&c->in);
	free(c);
	svc_conn_done(service);
}

/* ---- the request ---- */

/* parse_request: the request (lib/dreq: queue_file must be active/<queue_id>
 * of our queue: smtp reads no other file on qmgr's say-so). */
static int parse_request(struct smtp *s, const attr_rec *rec, struct smtp_request *rq,
			 char **err_r)
{
	struct dreq dr;

	if (dreq_parse(rec, s->queue_dir, true, SMTP_MAX_RCPTS, &dr, err_r) < 0)
		return -1;
	rq->queue_id = dr.queue_id;
	rq->queue_file = dr.queue_file;
	rq->nexthop = dr.nexthop;
	rq->res = xcalloc((size_t)dr.n + 1, sizeof(*rq->res));
	for (int k = 0; k < dr.n; k++)
		rq->res[k].rcpt = dr.rcpts[k];
	rq->n = dr.n;
	free(dr.rcpts); /* the strings are rq's now */
	return 0;
}

static void request_clear(struct smtp_request *rq)
{
	free(rq->queue_id);
	free(rq->queue_file);
	free(rq->nexthop);
	free(rq->res);
	memset(rq, 0, sizeof(*rq));
}

void smtp_conn_reply(struct smtp_conn *c, struct delivery *d)
{
	attr_rec *rec;
	char *err = NULL;

	if (c == NULL)
		return;
	c->busy = NULL;
	rec = delivery_reply_record(d);
	if (attr_send(c->fd, rec, c->s->ipc_timeout_ms, &err) < 0) {
		log_warn("%s: cannot send the delivery reply: %s", delivery_queue_id(d), err);
		free(err);
		c->broken = true;
	}
	attr_free(&rec);
	ev_timer_reset(c->kick, 0); /* not from inside the delivery's callbacks */
}

/* BUSY_STARTING: c->busy while delivery_start runs (it may answer at once). */
#define BUSY_STARTING ((struct delivery *)&smtp_state)

/* ---- the connection ---- */

/* handle_request: false when the connection must end. */
static bool handle_request(struct smtp_conn *c, const attr_rec *rec)
{
	struct smtp_request rq = { 0 };
	struct delivery *d;
	char *err = NULL;

	if (parse_request(c->s, rec, &rq, &err) < 0) {
		log_warn("bad delivery request: %s", err);
		free(err);
		request_clear(&rq);
		return false;
	}
	c->busy = BUSY_STARTING;
	ev_io_set_events(c->io, 0);
	d = delivery_start(c->s, c, &rq);
	if (c->busy == BUSY_STARTING) /* else it has answered already */
		c->busy = d;
	return true;
}

/* read_requests: starts the next complete request, if any and none is in
 * progress; false when the connection must end. */
static bool read_requests(struct smtp_conn *c)
{
	attr_rec *rec;
	size_t used;
	char *err = NULL;
	int rc;

	if (c->busy != NULL || c->broken)
		return true;
	rc = attr_decode(buf_cstr(c->in), buf_len(c->in), &rec, &used, &err);
	if (rc < 0) {
		log_warn("bad record from qmgr: %s", err);
		free(err);
		return false;
	}
	if (rc == 0)
		return true;
	buf_consume(c->in, used);
	if (!handle_request(c, rec)) {
		attr_free(&rec);
		return false;
	}
	attr_free(&rec);
	return true;
}

static void on_io(void *ctx, int fd, int events)
{
	struct smtp_conn *c = ctx;
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

static void on_kick(void *ctx)
{
	struct smtp_conn *c = ctx;

	if (c->broken || !read_requests(c)) {
		conn_end(c);
		return;
	}
	if (c->busy == NULL)
		ev_io_set_events(c->io, EV_READ);
}

static void on_idle(void *ctx)
{
	struct smtp_conn *c = ctx;

	if (c->busy != NULL) /* a delivery is bounded by its own timeouts */
		ev_timer_reset(c->idle, CONN_IDLE_MS);
	else
		conn_end(c);
}

static void smtp_accept(svc *service, int fd)
{
	struct smtp_conn *c = xcalloc(1, sizeof(*c));

	c->service = service;
	c->s = svc_ctx(service);
	c->fd = fd;
	c->in = buf_new(1024);
	c->io = ev_io_add(svc_loop(service), fd, EV_READ, on_io, c);
	c->idle = ev_timer_add(svc_loop(service), CONN_IDLE_MS, false, on_idle, c);
	c->kick = ev_timer_add(svc_loop(service), 0, false, on_kick, c);
	ev_timer_reset(c->kick, CONN_IDLE_MS); /* armed only after a reply */
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
}

/* ---- maps ---- */

static void maps_open(struct smtp_maps *m, const char *list)
{
	m->names = cfg_split_list(list);
	while (m->names[m->count] != NULL)
		m->count++;
	m->maps = xcalloc((size_t)m->count + 1, sizeof(*m->maps));
}

/* maps_ready: map i is open (opened on first use, again after a failure). */
static bool maps_ready(struct smtp_maps *m, int i, char **err_r)
{
	char *err = NULL;

	if (m->maps[i] != NULL)
		return true;
	m->maps[i] = map_open(m->names[i], &err);
	if (m->maps[i] == NULL) {
		*err_r = xasprintf("map %s is unavailable: %s", m->names[i], err ? err : "?");
		free(err);
		return false;
	}
	return true;
}

enum map_result smtp_maps_lookup(struct smtp_maps *m, char **keys, char **value_r, char **err_r)
{
	const char *value;

	*value_r = NULL;
	for (char **k = keys; *k != NULL; k++)
		for (int i = 0; i < m->count; i++) {
			enum map_result r;

			if (!maps_ready(m, i, err_r))
				return MAP_TEMP;
			r = map_lookup(m->maps[i], *k, &value);
			if (r == MAP_TEMP) {
				*err_r = xasprintf("map %s lookup failed: %s", m->names[i],
						   map_error(m->maps[i]));
				return MAP_TEMP;
			}
			if (r == MAP_FOUND) {
				*value_r = xstrdup(value);
				return MAP_FOUND;
			}
		}
	return MAP_NOTFOUND;
}

/* ---- settings ---- */

static uint64_t ms_of(cfg *c, const char *key)
{
	return (uint64_t)cfg_get_int(c, key) * 1000;
}

static void init_timeouts(struct smtp *s)
{
	cfg *c = s->config;
	struct smtpc_timeouts *t = &s->timeouts;

	smtpc_timeouts_default(t);
	t->ms[SMTPC_GREETING] = t->ms[SMTPC_HELO] = t->ms[SMTPC_AUTH] =
		ms_of(c, "smtp_helo_timeout");
	t->ms[SMTPC_STARTTLS] = ms_of(c, "smtp_starttls_timeout");
	t->ms[SMTPC_MAIL] = ms_of(c, "smtp_mail_timeout");
	t->ms[SMTPC_RCPT] = ms_of(c, "smtp_rcpt_timeout");
	t->ms[SMTPC_DATA] = ms_of(c, "smtp_data_init_timeout");
	t->ms[SMTPC_BODY] = ms_of(c, "smtp_data_xfer_timeout");
	t->ms[SMTPC_DOT] = ms_of(c, "smtp_data_done_timeout");
	t->ms[SMTPC_RSET] = ms_of(c, "smtp_rset_timeout");
	t->ms[SMTPC_QUIT] = ms_of(c, "smtp_quit_timeout");
	s->connect_timeout_ms = ms_of(c, "smtp_connect_timeout");
	s->cache_time_ms = ms_of(c, "smtp_connection_cache_time_limit");
}

/* init_tls: the client context; a file that does not load leaves TLS
 * unavailable (level may goes on in plaintext, encrypt and up defer). */
static void init_tls(struct smtp *s)
{
	cfg *c = s->config;
	struct tls_client_conf tc = {
		.ca_file = cfg_get(c, "smtp_tls_CAfile"),
		.ca_dir = cfg_get(c, "smtp_tls_CApath"),
		.cert_file = *cfg_get(c, "smtp_tls_cert_file") ? cfg_get(c, "smtp_tls_cert_file")
								: NULL,
		.key_file = *cfg_get(c, "smtp_tls_key_file") ? cfg_get(c, "smtp_tls_key_file")
							      : NULL,
	};

	if (smtppol_parse_level(cfg_get(c, "smtp_tls_security_level"), &s->tls_level) < 0)
		log_fatal("smtp_tls_security_level: unknown level '%s'",
			  cfg_get(c, "smtp_tls_security_level"));
	s->tls_ctx = tls_client_ctx_from(&tc, &s->tls_error);
	if (s->tls_ctx == NULL)
		log_warn("TLS is unavailable: %s", s->tls_error);
}

static void init_sasl(struct smtp *s)
{
	char *err = NULL;

	s->sasl_enable = cfg_get_bool(s->config, "smtp_sasl_auth_enable");
	if (smtppol_sasl_plaintext(cfg_get(s->config, "smtp_sasl_security_options"),
				   &s->sasl_plaintext, &err) < 0)
		log_fatal("smtp_sasl_security_options: %s", err);
	maps_open(&s->sasl_passwords, cfg_get(s->config, "smtp_sasl_password_maps"));
}

static void smtp_init(svc *service)
{
	struct smtp *s = svc_ctx(service);
	cfg *c = svc_cfg(service);
	char *err = NULL;

	s->service = service;
	s->config = c;
	s->loop = svc_loop(service);
	s->queue_dir = xstrdup(cfg_get(c, "queue_directory"));
	s->ipc_timeout_ms = (int)cfg_get_int(c, "ipc_timeout") * 1000;
	/* $myhostname may be empty: the system's name then, as smtpd does */
	s->helo_name = *cfg_get(c, "smtp_helo_name") ? xstrdup(cfg_get(c, "smtp_helo_name"))
						     : cfg_myhostname(c);
	s->pipelining = cfg_get_bool(c, "smtp_pipelining");
	s->trace = strcmp(cfg_get(c, "log_level"), "debug") == 0;
	init_timeouts(s);
	if (nexthop_parse_inet_protocols(cfg_get(c, "inet_protocols"), &s->hop_opts.inet_protocols,
					 &err) < 0)
		log_fatal("inet_protocols: %s", err);
	s->hop_opts.max_addrs = (unsigned)cfg_get_int(c, "smtp_mx_address_limit");
	s->hop_opts.loop = s->loop;
	s->myhostname = cfg_myhostname(c);
	s->hop_opts.self_name = s->myhostname;
	if (route_parse_nexthop(cfg_get(c, "relayhost"), &s->relayhost, &err) < 0) {
		log_warn("relayhost: %s", err);
		free(err);
	}
	init_tls(s);
	maps_open(&s->tls_policy, cfg_get(c, "smtp_tls_policy_maps"));
	init_sasl(s);
	s->dns = dns_new_from_cfg(s->loop, c);
}

/* smtp_stop: no new delivery starts; those in flight finish within the
 * skeleton's grace time (qmgr retries what was not answered); idle
 * cached connections say QUIT. */
static void smtp_stop(svc *service)
{
	(void)service;
	delivery_stop_all();
	session_close_idle();
}

int main(int argc, char **argv)
{
	static const struct svc_ops ops = { .init = smtp_init, .accept = smtp_accept,
					    .stop = smtp_stop };

	svc_main(argc, argv, "smtp", &ops, &smtp_state);
}
