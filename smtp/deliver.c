/* deliver.c: one delivery request, from qmgr's record to its reply. The
 * queue file is opened and its pending recipients become one message;
 * the TLS policy of the next hop is looked up; an idle connection to the
 * same next hop is reused when the cache has one, else the next hop is
 * resolved (lib/nexthop) and its addresses are tried in order: a refused
 * or timed out connect, a greeting that is not 2xx, a 421 or 4xx before
 * MAIL, a TLS or AUTH failure move on to the next address (a failed
 * handshake at level may first tries the same server once in plaintext).
 * Once MAIL went out, the server's answers are the results: per
 * recipient, in Postfix's words (reason.c). Recipients the server took
 * are marked done in the queue file right after its 2xx to the end of
 * data, before qmgr hears of it, so no crash sends them twice.
 *
 * Life cycle: a delivery is freed when it has answered qmgr and no smtpc
 * refers to its message (smtpc keeps the last message until freed). */
#include "smtp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "attr.h"
#include "log.h"
#include "mem.h"

enum phase { PH_START, PH_RESOLVING, PH_CONNECTING, PH_SESSION, PH_DONE };

struct delivery {
	struct smtp *s;
	struct smtp_conn *conn; /* NULL when qmgr's connection is gone */
	struct smtp_request rq;
	struct route_nexthop hop;
	struct q_msg *msg;
	struct smtpc_msg smsg;
	int *rcpt_res; /* smsg.rcpts[i] is the recipient of rq.res[rcpt_res[i]] */
	off_t body_pos;
	struct smtppol_tls tls;
	char *key; /* the connection cache's: next hop and TLS level */
	enum phase phase;
	nexthop_query *query;
	struct nexthop_result *addrs;
	size_t next_addr, cur;
	bool plaintext_retry; /* the next attempt: cur again, without TLS */
	bool tls_retried;
	bool restarted; /* a reused connection failed before MAIL: once */
	bool server_used; /* some server greeted us: the next hop is not down */
	int fd;
	ev_io *io;
	ev_timer *timer;
	char fail_dsn[SMTPC_DSN_MAX];
	char *fail_reason; /* the last server's failure, for all when none is left */
	char *relay, *tls_text;
	bool remote_dsn, dest_down;
	bool held; /* an smtpc refers to smsg */
	struct delivery *prev, *next; /* every delivery not yet freed */
};

static struct delivery *deliveries;
static bool stopping;

static void try_next(struct delivery *d);
static void resolve(struct delivery *d);

/* ---- results ---- */

static void set_result(struct smtp_result *r, const char *dsn, const char *reason)
{
	free(r->dsn);
	free(r->reason);
	r->dsn = xstrdup(dsn);
	r->reason = xstrdup(reason);
}

/* fail_open: every recipient without a result gets this one. */
static void fail_open(struct delivery *d, const char *dsn, const char *reason)
{
	for (int k = 0; k < d->rq.n; k++)
		if (d->rq.res[k].dsn == NULL)
			set_result(&d->rq.res[k], dsn, reason);
}

static void delivery_free(struct delivery *d)
{
	if (d->prev != NULL)
		d->prev->next = d->next;
	else
		deliveries = d->next;
	if (d->next != NULL)
		d->next->prev = d->prev;
	for (int k = 0; k < d->rq.n; k++) {
		free(d->rq.res[k].dsn);
		free(d->rq.res[k].reason);
	}
	free(d->rq.res);
	free(d->rq.queue_id);
	free(d->rq.queue_file);
	free(d->rq.nexthop);
	route_nexthop_clear(&d->hop);
	q_msg_free(&d->msg);
	for (size_t i = 0; i < d->smsg.nrcpts; i++)
		free((char *)d->smsg.rcpts[i].notify);
	free(d->smsg.rcpts);
	free(d->rcpt_res);
	smtppol_tls_clear(&d->tls);
	free(d->key);
	nexthop_result_free(&d->addrs);
	free(d->fail_reason);
	free(d->relay);
	free(d->tls_text);
	free(d);
}

/* finish: the reply goes to qmgr; d is freed once no smtpc needs it. */
static void finish(struct delivery *d)
{
	d->phase = PH_DONE;
	fail_open(d, "4.3.0", "no result for this recipient (smtp client error)");
	if (d->conn != NULL)
		smtp_conn_reply(d->conn, d);
	d->conn = NULL;
	if (!d->held)
		delivery_free(d);
}

void delivery_forget_conn(struct delivery *d)
{
	d->conn = NULL;
}

void delivery_release(struct delivery *d)
{
	d->held = false;
	if (d->phase == PH_DONE)
		delivery_free(d);
}

const char *delivery_queue_id(const struct delivery *d)
{
	return d->rq.queue_id;
}

struct smtpc_msg *delivery_msg(struct delivery *d)
{
	return &d->smsg;
}

const char *delivery_key(const struct delivery *d)
{
	return d->key;
}

attr_rec *delivery_reply_record(const struct delivery *d)
{
	attr_rec *rec = attr_new("delivery_reply");

	attr_add_str(rec, "relay", d->relay ? d->relay : "none");
	attr_add_str(rec, "tls", d->tls_text ? d->tls_text : "none");
	attr_add_int(rec, "remote_dsn", d->remote_dsn ? 1 : 0);
	attr_add_str(rec, "dest", d->dest_down ? "down" : "ok");
	for (int k = 0; k < d->rq.n; k++) {
		attr_add_int(rec, "rcpt", d->rq.res[k].rcpt);
		attr_add_str(rec, "dsn", d->rq.res[k].dsn ? d->rq.res[k].dsn : "4.3.0");
		attr_add_str(rec, "reason", d->rq.res[k].reason ? d->rq.res[k].reason : "no result");
	}
	return rec;
}

/* ---- the message ---- */

/* read_body: the message from the queue file (its top header fields,
 * then the content), LF line ends as stored. */
static ssize_t read_body(void *ctx, char *dst, size_t cap)
{
	struct delivery *d = ctx;
	off_t left = q_msg_size(d->msg) - d->body_pos;
	ssize_t n;

	if (left <= 0)
		return 0;
	if ((off_t)cap > left)
		cap = (size_t)left;
	n = q_msg_pread(d->msg, dst, cap, d->body_pos);
	if (n <= 0) {
		log_warn("%s: cannot read the queue file: %s", d->rq.queue_id,
			 n == 0 ? "unexpected end" : strerror(errno));
		return -1;
	}
	d->body_pos += n;
	return n;
}

static char *notify_text(int bits)
{
	buf *b;

	if (bits == 0)
		return NULL;
	if (bits & Q_NOTIFY_NEVER)
		return xstrdup("NEVER");
	b = buf_new(32);
	if (bits & Q_NOTIFY_SUCCESS)
		buf_puts(b, "SUCCESS,");
	if (bits & Q_NOTIFY_FAILURE)
		buf_puts(b, "FAILURE,");
	if (bits & Q_NOTIFY_DELAY)
		buf_puts(b, "DELAY,");
	buf_truncate(b, buf_len(b) - 1);
	return buf_steal_free(&b);
}

/* build_message: the pending recipients of the request and the envelope's
 * MAIL parameters; recipients already done are answered at once. */
static void build_message(struct delivery *d)
{
	const struct q_envelope *env = &d->msg->env;
	struct smtpc_msg *m = &d->smsg;

	m->rcpts = xcalloc((size_t)d->rq.n + 1, sizeof(*m->rcpts));
	d->rcpt_res = xcalloc((size_t)d->rq.n + 1, sizeof(*d->rcpt_res));
	for (int k = 0; k < d->rq.n; k++) {
		int i = d->rq.res[k].rcpt;
		const struct q_rcpt *r;

		if (i >= env->nrcpts) {
			set_result(&d->rq.res[k], "4.3.0", "no such recipient in the queue file");
			continue;
		}
		r = &env->rcpts[i];
		if (r->state != Q_RCPT_PENDING) {
			set_result(&d->rq.res[k], "2.0.0", "already delivered");
			continue;
		}
		m->rcpts[m->nrcpts].addr = r->address;
		m->rcpts[m->nrcpts].notify = notify_text(r->notify);
		m->rcpts[m->nrcpts].orcpt = r->orcpt;
		d->rcpt_res[m->nrcpts++] = k;
	}
	m->sender = env->sender;
	m->size = (long long)q_msg_size(d->msg);
	m->body_type = env->body_8bit ? "8BITMIME" : NULL;
	m->smtputf8 = env->smtputf8;
	m->ret = env->ret == 1 ? "FULL" : env->ret == 2 ? "HDRS" : NULL;
	m->envid = env->envid;
	m->read_body = read_body;
	m->body_ctx = d;
}

/* tls_policy: the level for this next hop (smtp_tls_policy_maps, else
 * smtp_tls_security_level). -1 when it cannot be known now (answered). */
static int tls_policy(struct delivery *d)
{
	char **keys = smtppol_tls_keys(&d->hop);
	char *value = NULL, *err = NULL, *why;
	enum map_result r = smtp_maps_lookup(&d->s->tls_policy, keys, &value, &err);

	smtppol_keys_free(&keys);
	d->tls.level = d->s->tls_level;
	if (r == MAP_NOTFOUND)
		return 0;
	if (r == MAP_FOUND && smtppol_parse_tls(value, &d->tls, &err) == 0) {
		free(value);
		return 0;
	}
	why = xasprintf("TLS policy lookup for %s: %s", d->rq.nexthop, err);
	log_warn("%s: %s", d->rq.queue_id, why);
	fail_open(d, r == MAP_TEMP ? "4.3.0" : "4.7.5", why);
	free(why);
	free(err);
	free(value);
	return -1;
}

static void lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* prepare: everything before the network; false when d is answered. */
static bool prepare(struct delivery *d)
{
	char *err = NULL;

	if (q_msg_open(d->rq.queue_file, &d->msg, &err) < 0) {
		char *why = xasprintf("cannot open the queue file: %s", err);

		log_warn("%s: %s", d->rq.queue_id, why);
		fail_open(d, "4.3.0", why);
		free(why);
		free(err);
		return false;
	}
	build_message(d);
	if (d->smsg.nrcpts == 0)
		return false;
	if (route_parse_nexthop(d->rq.nexthop, &d->hop, &err) < 0 || d->hop.host == NULL) {
		char *why = xasprintf("bad next hop '%s': %s", d->rq.nexthop, err ? err : "empty");

		log_warn("%s: %s", d->rq.queue_id, why);
		fail_open(d, "4.3.5", why);
		free(why);
		free(err);
		return false;
	}
	if (tls_policy(d) < 0)
		return false;
	d->key = xasprintf("%s %s", d->rq.nexthop, smtppol_level_name(d->tls.level));
	lower(d->key);
	return true;
}

struct delivery *delivery_start(struct smtp *s, struct smtp_conn *conn, struct smtp_request *rq)
{
	struct delivery *d = xcalloc(1, sizeof(*d));

	d->s = s;
	d->conn = conn;
	d->rq = *rq;
	memset(rq, 0, sizeof(*rq));
	d->fd = -1;
	d->next = deliveries;
	if (deliveries != NULL)
		deliveries->prev = d;
	deliveries = d;
	if (!prepare(d)) {
		finish(d);
		return d;
	}
	if (!session_take(s, d->key, d))
		resolve(d);
	return d;
}

void delivery_stop_all(void)
{
	stopping = true;
}

/* ---- DNS ---- */

/* is_relayhost: a next hop that is no recipient domain (a relayhost or a
 * transport's [host]): Postfix defers when it does not resolve. */
static bool is_relayhost(const struct delivery *d)
{
	const struct route_nexthop *r = &d->s->relayhost;

	if (!d->hop.mx)
		return true;
	return r->host != NULL && strcasecmp(r->host, d->hop.host) == 0 && r->port == d->hop.port &&
	       r->mx == d->hop.mx;
}

static void on_resolved(void *ctx, const struct nexthop_result *res)
{
	struct delivery *d = ctx;

	d->query = NULL;
	if (res->status != NEXTHOP_OK) {
		log_info("%s: %s", d->rq.queue_id, res->reason);
		d->dest_down = res->status == NEXTHOP_TEMPFAIL;
		fail_open(d, res->dsn, res->reason);
		finish(d);
		return;
	}
	nexthop_result_free(&d->addrs);
	d->addrs = nexthop_result_dup(res);
	d->next_addr = 0;
	try_next(d);
}

static void resolve(struct delivery *d)
{
	struct nexthop_opts opts = d->s->hop_opts;

	opts.relayhost = is_relayhost(d);
	d->phase = PH_RESOLVING;
	d->query = nexthop_resolve(d->s->dns, &d->hop, &opts, on_resolved, d);
}

/* ---- connecting ---- */

/* server_failed: this server could not take the message; the next is
 * tried, and its text stays for when none is left. */
static void server_failed(struct delivery *d, const char *dsn, const char *reason, bool usable)
{
	log_info("%s: %s", d->rq.queue_id, reason);
	snprintf(d->fail_dsn, sizeof(d->fail_dsn), "%s", dsn);
	free(d->fail_reason);
	d->fail_reason = xstrdup(reason);
	if (usable)
		d->server_used = true;
}

static void connect_stop(struct delivery *d)
{
	ev_io_remove(&d->io);
	ev_timer_remove(&d->timer);
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

/* give_up: no server is left: the last failure for everyone. */
static void give_up(struct delivery *d)
{
	d->dest_down = !d->server_used;
	if (d->fail_reason == NULL)
		fail_open(d, "4.4.3", "no server to deliver to");
	else
		fail_open(d, d->fail_dsn, d->fail_reason);
	finish(d);
}

static const struct nexthop_addr *cur_addr(const struct delivery *d)
{
	return &d->addrs->addrs[d->cur];
}

static void on_connect_timeout(void *ctx)
{
	struct delivery *d = ctx;
	char *why = nexthop_connect_error(cur_addr(d), 0, ETIMEDOUT);

	connect_stop(d);
	server_failed(d, "4.4.1", why, false);
	free(why);
	try_next(d);
}

static void start_session(struct delivery *d, int fd);

static void on_connected(void *ctx, int fd, int events)
{
	struct delivery *d = ctx;
	char *err = NULL;
	(void)events;

	if (nexthop_connect_result(cur_addr(d), 0, fd, &err) < 0) {
		connect_stop(d);
		server_failed(d, "4.4.1", err, false);
		free(err);
		try_next(d);
		return;
	}
	ev_io_remove(&d->io);
	ev_timer_remove(&d->timer);
	d->fd = -1; /* the session's now */
	start_session(d, fd);
}

/* try_next: a connection to the next address (or to the same one for the
 * plaintext retry); give_up when none is left. */
static void try_next(struct delivery *d)
{
	while (!stopping) {
		char *err = NULL;
		int fd;

		if (d->plaintext_retry)
			; /* d->cur again */
		else if (d->addrs == NULL || d->next_addr >= d->addrs->naddrs)
			break;
		else
			d->cur = d->next_addr++;
		d->phase = PH_CONNECTING;
		if (nexthop_connect(cur_addr(d), 0, &fd, &err) < 0) {
			d->plaintext_retry = false;
			server_failed(d, "4.4.1", err, false);
			free(err);
			continue;
		}
		d->fd = fd;
		d->io = ev_io_add(d->s->loop, fd, EV_WRITE, on_connected, d);
		d->timer = ev_timer_add(d->s->loop, d->s->connect_timeout_ms, false,
					on_connect_timeout, d);
		return;
	}
	if (stopping && d->fail_reason == NULL)
		server_failed(d, "4.3.0", "smtp client stopping", true);
	give_up(d);
}

/* ---- the session's parameters ---- */

/* sasl_lookup: the credentials for this server, when AUTH is on. -1 when
 * the lookup failed (d answered). */
static int sasl_lookup(struct delivery *d, const char *server, char **user_r, char **pass_r)
{
	char **keys, *value = NULL, *err = NULL, *why;
	enum map_result r;

	*user_r = *pass_r = NULL;
	if (!d->s->sasl_enable)
		return 0;
	keys = smtppol_sasl_keys(&d->hop, server);
	r = smtp_maps_lookup(&d->s->sasl_passwords, keys, &value, &err);
	smtppol_keys_free(&keys);
	if (r == MAP_NOTFOUND)
		return 0;
	if (r == MAP_FOUND && smtppol_parse_sasl(value, user_r, pass_r, &err) == 0) {
		free(value);
		return 0;
	}
	why = xasprintf("SASL password lookup for %s: %s", server, err);
	log_warn("%s: %s", d->rq.queue_id, why);
	fail_open(d, r == MAP_TEMP ? "4.3.0" : "4.7.0", why);
	free(why);
	free(err);
	free(value);
	return -1;
}

/* peername: SNI and the name verify / secure check: the server's name
 * (none for an address literal). */
static const char *peername(const struct nexthop_addr *a)
{
	if (strcmp(a->host, a->addr) == 0 || strncasecmp(a->host, "ipv6:", 5) == 0)
		return NULL;
	return a->host;
}

/* match_names: the policy's match= names with Postfix's words expanded
 * ("hostname": the server's, "nexthop": the next hop's host,
 * "dot-nexthop": any name below it); NULL when the policy has none. */
static char **match_names(const struct delivery *d, const struct nexthop_addr *a)
{
	char **out;
	size_t n = 0;

	if (d->tls.match == NULL)
		return NULL;
	for (char **m = d->tls.match; *m != NULL; m++)
		n++;
	out = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const char *m = d->tls.match[i];

		if (strcasecmp(m, "hostname") == 0)
			out[i] = xstrdup(a->host);
		else if (strcasecmp(m, "nexthop") == 0)
			out[i] = xstrdup(d->hop.host);
		else if (strcasecmp(m, "dot-nexthop") == 0)
			out[i] = xasprintf(".%s", d->hop.host);
		else
			out[i] = xstrdup(m);
	}
	return out;
}

static void start_session(struct delivery *d, int fd)
{
	const struct nexthop_addr *a = cur_addr(d);
	struct session_params p = { .addr = a, .level = d->tls.level };
	char *user, *pass;

	if (d->plaintext_retry) {
		p.level = SMTPC_TLS_NONE;
		d->plaintext_retry = false;
	}
	if (sasl_lookup(d, a->host, &user, &pass) < 0) {
		close(fd);
		finish(d);
		return;
	}
	if (p.level >= SMTPC_TLS_ENCRYPT && d->s->tls_ctx == NULL) {
		close(fd);
		server_failed(d, "4.7.5", "TLS is required, but our TLS engine is unavailable", true);
		free(user);
		free(pass);
		give_up(d);
		return;
	}
	p.peername = peername(a);
	p.match = match_names(d, a);
	p.auth_user = user;
	p.auth_pass = pass;
	session_start(d->s, d, fd, &p);
	free(user);
	free(pass);
}

/* ---- handing over to a finished session ---- */

struct delivery *delivery_take_waiting(const char *key)
{
	if (stopping)
		return NULL;
	for (struct delivery *d = deliveries; d != NULL; d = d->next) {
		if ((d->phase != PH_RESOLVING && d->phase != PH_CONNECTING) || d->plaintext_retry ||
		    strcmp(d->key, key) != 0)
			continue;
		nexthop_cancel(&d->query);
		connect_stop(d);
		return d;
	}
	return NULL;
}

void delivery_attached(struct delivery *d, struct session *sess)
{
	(void)sess;
	d->phase = PH_SESSION;
	d->held = true;
	d->body_pos = 0;
	for (size_t i = 0; i < d->smsg.nrcpts; i++)
		d->smsg.rcpts[i].code = 0;
}

/* ---- results from a session ---- */

static void session_info(struct delivery *d, struct session *sess, smtpc *c)
{
	const struct smtpc_tls *t = smtpc_tls(c);

	free(d->relay);
	d->relay = xstrdup(session_relay(sess));
	free(d->tls_text);
	d->tls_text = t->used ? xasprintf("%s:%s:%s", t->protocol, t->cipher,
					  t->verified ? "verified" : "unverified")
			      : NULL;
	d->remote_dsn = (smtpc_caps(c)->ext & SMTPC_EXT_DSN) != 0;
}

/* reply_result: recipient k's result from a stage's reply. */
static void reply_result(struct delivery *d, int k, const char *host,
			 const struct smtpc_reply *r, const char *cmd)
{
	char dsn[SMTPC_DSN_MAX];
	char *why = reason_reply(host, buf_cstr(r->lines), r->code, cmd, dsn);

	set_result(&d->rq.res[k], dsn, why);
	free(why);
}

/* delivered: the server took recipient i (smsg index) with the end of
 * data reply r: the state byte first, then the result. */
static void delivered(struct delivery *d, size_t i, const struct smtpc_reply *r)
{
	int k = d->rcpt_res[i];
	char dsn[SMTPC_DSN_MAX];
	const char *line = smtpc_reply_last_line(r);

	if (q_rcpt_set_state(d->msg, d->rq.res[k].rcpt, Q_RCPT_DONE) < 0)
		log_warn("%s: cannot mark recipient %d done: %s", d->rq.queue_id,
			 d->rq.res[k].rcpt, strerror(errno));
	if (r->dsn[0] == '2')
		snprintf(dsn, sizeof(dsn), "%s", r->dsn);
	else
		snprintf(dsn, sizeof(dsn), "2.0.0");
	set_result(&d->rq.res[k], dsn, line);
}

/* refused_message: a check before MAIL stopped the message (bounce). */
static bool refused_message(struct delivery *d, const char *host, smtpc *c)
{
	char *why;
	const char *dsn;

	switch (smtpc_error(c)) {
	case SMTPC_ERR_TOO_BIG:
		dsn = "5.3.4";
		why = xasprintf("message size %lld exceeds size limit %lld of server %s",
				d->smsg.size, smtpc_caps(c)->size_max, host);
		break;
	case SMTPC_ERR_NO_SMTPUTF8:
		dsn = "5.6.7";
		why = xasprintf("SMTPUTF8 is required, but was not offered by host %s", host);
		break;
	case SMTPC_ERR_NO_8BITMIME:
		dsn = "5.6.3";
		why = xasprintf("8BITMIME is required, but was not offered by host %s", host);
		break;
	default:
		return false;
	}
	fail_open(d, dsn, why);
	free(why);
	return true;
}

/* collect: the results of a transaction (MAIL was sent, or the message
 * was refused before it). */
static void collect(struct delivery *d, struct session *sess, smtpc *c)
{
	const char *host = session_host(sess);
	enum smtpc_stage failed = smtpc_failed_stage(c);
	const struct smtpc_reply *dot = smtpc_reply_of(c, SMTPC_DOT);
	bool dot_ok = dot->code >= 200 && dot->code <= 299;

	session_info(d, sess, c);
	if (refused_message(d, host, c))
		return;
	for (size_t i = 0; i < d->smsg.nrcpts; i++) {
		const struct smtpc_rcpt *r = &d->smsg.rcpts[i];
		int k = d->rcpt_res[i];

		if (failed == SMTPC_MAIL)
			reply_result(d, k, host, smtpc_reply_of(c, SMTPC_MAIL), "MAIL FROM");
		else if (r->code == 0)
			continue;
		else if (r->code < 200 || r->code > 299) {
			char dsn[SMTPC_DSN_MAX];
			char *why = reason_reply(host, r->reply ? r->reply : "", r->code, "RCPT TO",
						 dsn);

			set_result(&d->rq.res[k], dsn, why);
			free(why);
		} else if (failed == SMTPC_DATA)
			reply_result(d, k, host, smtpc_reply_of(c, SMTPC_DATA), "DATA");
		else if (failed == SMTPC_DOT)
			reply_result(d, k, host, dot, "end of DATA");
		else if (dot_ok)
			delivered(d, i, dot);
	}
	if (smtpc_error(c) != SMTPC_ERR_NONE) {
		char dsn[SMTPC_DSN_MAX];
		char *why = reason_lost(host, smtpc_error(c), smtpc_stage(c), smtpc_error_text(c), dsn);

		fail_open(d, dsn, why);
		free(why);
	}
}

void delivery_message_done(struct delivery *d, struct session *sess, smtpc *c)
{
	collect(d, sess, c);
	finish(d);
}

/* refused_before_mail: a stage before MAIL got a reply that is not what it
 * asks for. True when the next server is tried (else the results are
 * final: a 5xx to EHLO / HELO). */
static bool refused_before_mail(struct delivery *d, struct session *sess, smtpc *c,
				enum smtpc_stage failed)
{
	const struct smtpc_reply *r = smtpc_reply_of(c, failed);
	const char *host = session_host(sess);
	char dsn[SMTPC_DSN_MAX], *text, *why;

	text = reason_reply(host, buf_cstr(r->lines), r->code,
			    reason_stage_cmd(failed, smtpc_caps(c)->ext == 0), dsn);
	if (failed == SMTPC_HELO && r->code >= 500) {
		fail_open(d, dsn, text);
		free(text);
		return false;
	}
	reason_soft(dsn);
	if (failed == SMTPC_GREETING) {
		why = xasprintf("host %s refused to talk to me: %s", host,
				smtpc_reply_last_line(r));
		server_failed(d, dsn, why, false);
		free(why);
	} else if (failed == SMTPC_STARTTLS) {
		why = xasprintf("TLS is required, but host %s refused to start TLS: %s", host,
				smtpc_reply_last_line(r));
		server_failed(d, "4.7.4", why, true);
		free(why);
	} else if (failed == SMTPC_AUTH) {
		why = xasprintf("SASL authentication failed; server %s said: %s", host,
				smtpc_reply_last_line(r));
		server_failed(d, dsn, why, true);
		free(why);
	} else {
		server_failed(d, dsn, text, r->code != 421);
	}
	free(text);
	return true;
}

/* policy_failure: TLS or AUTH could not be had with this server. */
static void policy_failure(struct delivery *d, struct session *sess, smtpc *c)
{
	const char *host = session_host(sess);
	char *why;

	switch (smtpc_error(c)) {
	case SMTPC_ERR_TLS:
		why = xasprintf("Cannot start TLS: handshake failure with %s: %s", host,
				smtpc_error_text(c));
		server_failed(d, "4.7.5", why, true);
		break;
	case SMTPC_ERR_TLS_VERIFY:
		why = xasprintf("Server certificate not verified: %s: %s", host, smtpc_error_text(c));
		server_failed(d, "4.7.5", why, true);
		break;
	case SMTPC_ERR_NO_STARTTLS:
		why = xasprintf("TLS is required, but was not offered by host %s", host);
		server_failed(d, "4.7.4", why, true);
		break;
	default:
		why = xasprintf("SASL authentication failed; cannot authenticate to server %s: %s",
				host, smtpc_error_text(c));
		server_failed(d, "4.7.0", why, true);
		break;
	}
	free(why);
}

static bool policy_error(enum smtpc_error e)
{
	return e == SMTPC_ERR_TLS || e == SMTPC_ERR_TLS_VERIFY || e == SMTPC_ERR_NO_STARTTLS ||
	       e == SMTPC_ERR_NO_AUTH;
}

void delivery_session_ended(struct delivery *d, struct session *sess, smtpc *c)
{
	enum smtpc_error err = smtpc_error(c);
	enum smtpc_stage failed = smtpc_failed_stage(c), stage = smtpc_stage(c);
	bool before_mail = (failed != SMTPC_STAGES && failed < SMTPC_MAIL) || policy_error(err) ||
			   (err != SMTPC_ERR_NONE && stage < SMTPC_MAIL) ||
			   failed == SMTPC_RSET || stage == SMTPC_RSET;

	session_info(d, sess, c);
	if (session_reused(sess) && !d->restarted && smtpc_reply_of(c, SMTPC_MAIL)->code == 0) {
		/* the cached connection was no good before the server said
		 * anything about this message: a fresh start, once */
		d->restarted = true;
		resolve(d);
		return;
	}
	if (!before_mail) {
		collect(d, sess, c);
		finish(d);
		return;
	}
	if (err == SMTPC_ERR_TLS && d->tls.level == SMTPC_TLS_MAY && !d->tls_retried) {
		log_info("%s: TLS handshake with %s failed (%s); trying again in plaintext",
			 d->rq.queue_id, session_host(sess), smtpc_error_text(c));
		d->tls_retried = d->plaintext_retry = true;
		d->server_used = true;
	} else if (policy_error(err)) {
		policy_failure(d, sess, c);
	} else if (failed != SMTPC_STAGES && failed < SMTPC_MAIL) {
		if (!refused_before_mail(d, sess, c, failed)) {
			finish(d);
			return;
		}
	} else {
		char dsn[SMTPC_DSN_MAX];
		char *why = reason_lost(session_host(sess), err, stage, smtpc_error_text(c), dsn);

		server_failed(d, dsn, why, stage != SMTPC_GREETING);
		free(why);
	}
	try_next(d);
}
