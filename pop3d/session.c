/* session.c: one POP3 connection: accepting it, the input steps, replies,
 * the idle timeout, the error limit, delayed replies after failed logins,
 * and the end of the session; the event-loop mechanics are lib/conn's.
 *
 * PIPELINING (RFC 2449): the loop runs every command already buffered, in
 * order, each queueing its reply behind the previous one. A RETR or TOP
 * switches the input to IN_SEND: nothing more is read until the message
 * has been handed to the stream, so a client that pipelines many RETRs is
 * served one message at a time with bounded memory. A session that is
 * dropped, times out or is stopped never deletes anything: deletions
 * happen only in the UPDATE state after QUIT (commands.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "pop3d.h"
#include "sock.h"

static const struct conn_ops session_ops;

/* ---- accepting ---- */

static void link_session(struct pop3d_server *srv, struct session *s)
{
	s->next = srv->sessions;
	if (srv->sessions != NULL)
		srv->sessions->prev = s;
	srv->sessions = s;
	srv->nsessions++;
}

void pop3d_session_accept(struct pop3d_server *srv, int fd)
{
	struct session *s;

	if (srv->nsessions >= srv->session_limit) {
		svc_refuse(srv->service, fd,
			   "-ERR [SYS/TEMP] Too many connections, try again later\r\n",
			   srv->nsessions);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->srv = srv;
	s->lock_fd = -1;
	s->client_addr = sock_peer_addr(fd);
	sock_set_nodelay(fd); /* the end of a RETR must not wait for an ACK */
	s->client = xasprintf("[%s]", s->client_addr);
	s->conn = conn_new(srv->loop, fd, srv->timeout_ms, &session_ops, s);
	s->stream = conn_strm(s->conn);
	s->state = ST_AUTHORIZATION;
	s->input = IN_COMMAND;
	s->last_cmd = "CONNECT";
	link_session(srv, s);
	log_info("connect from %s", s->client);
	if (srv->implicit_tls)
		pop3d_tls_begin_implicit(s); /* the greeting comes after the handshake */
	else
		pop3d_ok(s, "%s ready.", srv->myhostname);
	conn_run(s->conn);
}

/* ---- the end ---- */

/* session_done: the conn is closed (or the client gone): free the session. */
static void session_done(void *ctx)
{
	struct session *s = ctx;
	struct pop3d_server *srv = s->srv;

	pop3d_logout(s);
	log_info("disconnect from %s", s->client);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	free(s->client_addr);
	free(s->client);
	free(s);
	srv->nsessions--;
	svc_conn_done(srv->service);
}

void pop3d_close(struct session *s)
{
	s->state = ST_QUIT;
	s->input = IN_NONE;
	conn_close(s->conn);
}

/* ---- replies ---- */

static void reply(struct session *s, const char *status, const char *fmt, va_list ap)
{
	buf *text = buf_new(128);

	buf_puts(text, status);
	buf_vprintf(text, fmt, ap);
	buf_puts(text, "\r\n");
	strm_write(s->stream, buf_cstr(text), buf_len(text));
	buf_free(&text);
}

void pop3d_ok(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply(s, "+OK ", fmt, ap);
	va_end(ap);
}

void pop3d_err(struct session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply(s, "-ERR ", fmt, ap);
	va_end(ap);
	s->errors++;
}

void pop3d_raw(struct session *s, const char *text)
{
	strm_puts(s->stream, text);
}

void pop3d_pause(struct session *s, uint64_t ms)
{
	conn_pause(s->conn, ms);
}

/* ---- the input steps ---- */

/* line_too_long: RFC 2449 bounds command lines; one over our limit is not
 * a client we can talk to any more. */
static void line_too_long(struct session *s)
{
	log_warn("%s: command line longer than %d bytes after %s: disconnecting", s->client,
		 POP3_LINE_MAX, s->last_cmd);
	pop3d_err(s, "Line too long");
	pop3d_close(s);
}

static int step_command(struct session *s)
{
	const char *line;
	size_t len;
	int r = strm_read_line(s->stream, POP3_LINE_MAX, &line, &len);
	char *copy;

	if (r == STRM_TOOLONG) {
		line_too_long(s);
		return STRM_OK;
	}
	if (r != STRM_OK)
		return r;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	copy = xstrndup(line, len);
	pop3d_command(s, copy);
	free(copy);
	return STRM_OK;
}

static int session_step(void *ctx)
{
	struct session *s = ctx;

	switch (s->input) {
	case IN_COMMAND: return step_command(s);
	case IN_HANDSHAKE: return pop3d_tls_step(s);
	case IN_SASL: return pop3d_sasl_step(s);
	case IN_SEND: return pop3d_send_step(s);
	default: return STRM_AGAIN;
	}
}

static int session_events(void *ctx)
{
	struct session *s = ctx;

	if (s->input == IN_HANDSHAKE && !s->tls_started)
		return EV_WRITE; /* the +OK to STLS must go out first */
	if (s->input == IN_SEND)
		return EV_WRITE | strm_wants(s->stream);
	return strm_wants(s->stream);
}

static void check_errors(void *ctx)
{
	struct session *s = ctx;

	if (s->errors < s->srv->error_limit || s->state == ST_QUIT)
		return;
	log_warn("too many errors after %s from %s", s->last_cmd, s->client);
	pop3d_err(s, "Too many errors, closing the connection");
	pop3d_close(s);
}

static void lost_connection(void *ctx, int r)
{
	struct session *s = ctx;

	if (r == STRM_ERROR)
		log_info("lost connection after %s from %s: %s", s->last_cmd, s->client,
			 strm_error(s->stream));
	else if (s->state == ST_TRANSACTION)
		log_info("lost connection after %s from %s: nothing deleted", s->last_cmd,
			 s->client);
	s->state = ST_QUIT;
	s->input = IN_NONE;
}

static void session_idle(void *ctx)
{
	struct session *s = ctx;

	if (s->input == IN_HANDSHAKE) {
		log_warn("timeout in the TLS handshake after %s from %s", s->last_cmd, s->client);
	} else {
		log_info("timeout after %s from %s%s", s->last_cmd, s->client,
			 s->state == ST_TRANSACTION ? ": nothing deleted" : "");
		pop3d_err(s, "Disconnected for inactivity.");
	}
	pop3d_send_abort(s);
	pop3d_close(s);
}

static const struct conn_ops session_ops = {
	.step = session_step,
	.events = session_events,
	.after_step = check_errors,
	.lost = lost_connection,
	.idle = session_idle,
	.done = session_done,
};

/* ---- stopping ---- */

/* pop3d_server_stop: master wants us gone. Sessions waiting for a command
 * are told so and closed, without UPDATE (nothing is deleted, RFC 1939
 * section 6 only deletes on QUIT); the others end after their current
 * command or transfer. */
void pop3d_server_stop(struct pop3d_server *srv)
{
	struct session *s = srv->sessions, *next;

	for (; s != NULL; s = next) {
		next = s->next;
		if (s->input != IN_COMMAND || conn_paused(s->conn))
			continue;
		pop3d_err(s, "[SYS/TEMP] Server shutting down.");
		pop3d_close(s);
		conn_run(s->conn);
	}
}
