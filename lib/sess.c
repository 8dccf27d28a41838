/* sess.c: the server-session layer (see sess.h): the session list,
 * accepting, the read loop's dispatch by input mode, command lines with
 * their length limit, error limits, the idle timeout, lost connections,
 * the shutdown drain and the end of a session. Every reply is the
 * protocol's; this file only decides when one is due.
 *
 * PIPELINING (RFC 2920, RFC 2449): conn runs every buffered command in
 * order, each reply queued behind the previous one; they go out together
 * when the input is used up or the session waits. */
#include "sess_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

static const struct conn_ops sess_conn_ops;

sess_server *sess_server_new(ev_loop *loop, svc *service, const struct sess_config *config,
			     const struct sess_ops *ops, void *server_ctx)
{
	sess_server *sv = xcalloc(1, sizeof(*sv));

	sv->loop = loop;
	sv->service = service;
	sv->config = *config;
	sv->busy_reply = xstrdup(config->busy_reply != NULL ? config->busy_reply : "");
	sv->config.busy_reply = sv->busy_reply;
	sv->ops = ops;
	sv->ctx = server_ctx;
	return sv;
}

void sess_server_free(sess_server **sv)
{
	if (*sv == NULL)
		return;
	if ((*sv)->sessions != NULL)
		log_panic("sess_server_free with %d sessions open", (*sv)->count);
	free((*sv)->busy_reply);
	free(*sv);
	*sv = NULL;
}

int sess_server_count(const sess_server *sv)
{
	return sv->count;
}

/* ---- accepting ---- */

static void refuse(sess_server *sv, int fd)
{
	if (sv->service != NULL) {
		svc_refuse(sv->service, fd, sv->busy_reply, sv->count);
		return;
	}
	if (write(fd, sv->busy_reply, strlen(sv->busy_reply)) < 0)
		log_debug("refusing a session: write failed");
	close(fd);
	log_warn("too many sessions (%d): refusing a connection", sv->count);
}

static void link_session(sess_server *sv, sess *ss)
{
	ss->next = sv->sessions;
	if (sv->sessions != NULL)
		sv->sessions->prev = ss;
	sv->sessions = ss;
	sv->count++;
}

static void unlink_session(sess_server *sv, sess *ss)
{
	if (ss->prev != NULL)
		ss->prev->next = ss->next;
	else
		sv->sessions = ss->next;
	if (ss->next != NULL)
		ss->next->prev = ss->prev;
	sv->count--;
}

/* begin: the "connect from" line, then the greeting or the handshake. */
static void begin(sess *ss)
{
	sess_server *sv = ss->server;

	log_info("connect from %s", ss->client);
	if (sv->config.implicit_tls)
		ss->input = SESS_IN_TLS; /* the greeting comes after the handshake */
	else
		sv->ops->greet(ss->ctx);
	conn_run(ss->conn);
}

void sess_accept(sess_server *sv, int fd)
{
	sess *ss;

	if (sv->count >= sv->config.session_limit) {
		refuse(sv, fd);
		return;
	}
	ss = xcalloc(1, sizeof(*ss));
	ss->server = sv;
	ss->conn = conn_new(sv->loop, fd, sv->config.idle_ms, &sess_conn_ops, ss);
	ss->stream = conn_strm(ss->conn);
	conn_set_record_deadline(ss->conn, sv->config.record_ms);
	ss->input = SESS_IN_COMMAND;
	ss->idle_ms = sv->config.idle_ms;
	ss->last = "CONNECT";
	link_session(sv, ss);
	ss->ctx = sv->ops->open(sv->ctx, ss, fd);
	if (ss->client == NULL)
		sess_set_client(ss, xstrdup("unknown"), xstrdup("unknown"));
	if (ss->held) {
		ss->input = SESS_IN_NONE; /* until sess_begin */
		conn_run(ss->conn);
		return;
	}
	begin(ss);
}

void sess_hold(sess *ss)
{
	ss->held = true;
}

void sess_begin(sess *ss)
{
	ss->held = false;
	ss->input = SESS_IN_COMMAND;
	if (!ss->server->stopping) {
		begin(ss);
		return;
	}
	/* master wants us gone: the goodbye instead of the greeting */
	log_info("connect from %s", ss->client);
	ss->server->ops->shutdown(ss->ctx);
	sess_close(ss);
	conn_run(ss->conn);
}

/* ---- the parts ---- */

conn *sess_conn(sess *ss)
{
	return ss->conn;
}

strm *sess_strm(sess *ss)
{
	return ss->stream;
}

void *sess_ctx(sess *ss)
{
	return ss->ctx;
}

void sess_set_client(sess *ss, char *addr, char *name)
{
	free(ss->client_addr);
	free(ss->client);
	ss->client_addr = addr;
	ss->client = name;
}

const char *sess_client(const sess *ss)
{
	return ss->client;
}

const char *sess_client_addr(const sess *ss)
{
	return ss->client_addr;
}

void sess_set_last(sess *ss, const char *command)
{
	ss->last = command;
}

const char *sess_last(const sess *ss)
{
	return ss->last;
}

enum sess_input sess_input(const sess *ss)
{
	return ss->input;
}

bool sess_record_late(const sess *ss)
{
	return conn_record_late(ss->conn);
}

void sess_set_input(sess *ss, enum sess_input input)
{
	ss->input = input;
}

void sess_set_idle(sess *ss, uint64_t ms)
{
	ss->idle_ms = ms;
	conn_set_idle(ss->conn, ms);
}

void sess_wait(sess *ss)
{
	ss->input = SESS_IN_NONE;
}

void sess_resume(sess *ss)
{
	if (!conn_closing(ss->conn))
		ss->input = SESS_IN_COMMAND;
	conn_run(ss->conn);
}

/* ---- errors and the end ---- */

void sess_error(sess *ss)
{
	const struct sess_config *cf = &ss->server->config;

	ss->errors++;
	if (ss->errors >= cf->soft_error_limit && cf->error_sleep_ms > 0)
		conn_pause(ss->conn, cf->error_sleep_ms);
}

void sess_close(sess *ss)
{
	if (ss->server->ops->quitting != NULL)
		ss->server->ops->quitting(ss->ctx);
	ss->input = SESS_IN_NONE;
	conn_close(ss->conn);
}

bool sess_closing(const sess *ss)
{
	return conn_closing(ss->conn);
}

/* sess_done: the conn is closed (or the client gone): free the session. */
static void sess_done(void *arg)
{
	sess *ss = arg;
	sess_server *sv = ss->server;

	sv->ops->close(ss->ctx);
	log_info("disconnect from %s", ss->client);
	sess_auth_end(ss);
	unlink_session(sv, ss);
	free(ss->client_addr);
	free(ss->client);
	free(ss);
	if (sv->service != NULL)
		svc_conn_done(sv->service);
}

/* ---- the read loop ---- */

/* A command line that keeps going past this many times the line limit is
 * a flood: the client is cut off. */
#define SESS_FLOOD_FACTOR 4

static void line_too_long(sess *ss, size_t len)
{
	const struct sess_config *cf = &ss->server->config;

	if (ss->skipped == 0) {
		log_warn("%s: command line longer than %zu bytes after %s", ss->client,
			 cf->line_limit, ss->last);
		ss->server->ops->line_too_long(ss->ctx, false);
	}
	ss->skipped += len;
	if (!conn_closing(ss->conn) && ss->skipped > SESS_FLOOD_FACTOR * cf->line_limit) {
		log_warn("%s: flood of %zu bytes without a line end: disconnecting", ss->client,
			 ss->skipped);
		ss->server->ops->line_too_long(ss->ctx, true);
		sess_close(ss);
	}
}

static int step_command(sess *ss)
{
	const char *line;
	size_t len;
	char *copy;
	int r = strm_read_line(ss->stream, ss->server->config.line_limit, &line, &len);

	if (r == STRM_TOOLONG) {
		line_too_long(ss, len);
		return STRM_OK;
	}
	if (r != STRM_OK)
		return r;
	if (ss->skipped > 0) { /* the rest of an over-long line */
		ss->skipped = 0;
		return STRM_OK;
	}
	len = sess_line_len(line, len);
	copy = xstrndup(line, len);
	ss->server->ops->command(ss->ctx, copy, len);
	free(copy);
	return STRM_OK;
}

static int sess_step(void *arg)
{
	sess *ss = arg;

	switch (ss->input) {
	case SESS_IN_COMMAND:
		if (ss->server->config.own_commands)
			return ss->server->ops->step(ss->ctx);
		return step_command(ss);
	case SESS_IN_TLS: return sess_tls_step(ss);
	case SESS_IN_AUTH: return sess_auth_step(ss);
	case SESS_IN_OWN: return ss->server->ops->step(ss->ctx);
	default: return STRM_AGAIN;
	}
}

static int sess_events(void *arg)
{
	sess *ss = arg;

	switch (ss->input) {
	case SESS_IN_TLS:
		if (!ss->tls_started)
			return EV_WRITE; /* the go-ahead must go out first */
		break;
	case SESS_IN_NONE: /* waiting for our own work: only output */
		return strm_unflushed(ss->stream) > 0 ? EV_WRITE : 0;
	case SESS_IN_OWN:
		if (ss->server->ops->events != NULL)
			return ss->server->ops->events(ss->ctx);
		break;
	default: break;
	}
	return strm_wants(ss->stream);
}

static void check_errors(void *arg)
{
	sess *ss = arg;

	if (ss->errors < ss->server->config.hard_error_limit || conn_closing(ss->conn))
		return;
	log_warn("too many errors after %s from %s", ss->last, ss->client);
	ss->server->ops->too_many_errors(ss->ctx);
	sess_close(ss);
}

static void lost_connection(void *arg, int r)
{
	sess *ss = arg;
	const char *note;

	if (r == STRM_ERROR)
		log_info("lost connection after %s from %s: %s", ss->last, ss->client,
			 strm_error(ss->stream));
	else if ((note = ss->server->ops->activity(ss->ctx)) != NULL)
		log_info("lost connection after %s from %s%s", ss->last, ss->client, note);
	if (ss->server->ops->quitting != NULL)
		ss->server->ops->quitting(ss->ctx);
	ss->input = SESS_IN_NONE;
}

static void sess_idle(void *arg)
{
	sess *ss = arg;
	const char *note;

	if (ss->input == SESS_IN_NONE) { /* our own work: not the client's fault */
		conn_set_idle(ss->conn, ss->idle_ms);
		return;
	}
	if (ss->input == SESS_IN_TLS) { /* no reply possible in the middle of TLS */
		log_warn("timeout in the TLS handshake after %s from %s", ss->last, ss->client);
		sess_close(ss);
		return;
	}
	note = ss->server->ops->activity(ss->ctx);
	log_info("timeout after %s from %s%s%s", ss->last, ss->client,
		 conn_record_late(ss->conn) ? ": line or data block not complete in time" : "",
		 note != NULL ? note : "");
	ss->server->ops->timeout(ss->ctx);
	sess_close(ss);
}

static const struct conn_ops sess_conn_ops = {
	.step = sess_step,
	.events = sess_events,
	.after_step = check_errors,
	.lost = lost_connection,
	.idle = sess_idle,
	.done = sess_done,
};

/* ---- stopping ---- */

void sess_server_stop(sess_server *sv)
{
	sess *ss = sv->sessions, *next;

	sv->stopping = true;
	for (; ss != NULL; ss = next) {
		next = ss->next;
		if (ss->input != SESS_IN_COMMAND || conn_paused(ss->conn))
			continue; /* in the middle of something: let it finish */
		if (sv->ops->busy != NULL && sv->ops->busy(ss->ctx))
			continue;
		sv->ops->shutdown(ss->ctx);
		sess_close(ss);
		conn_run(ss->conn);
	}
}
