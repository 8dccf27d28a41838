/* session.c: one POP3 connection: accepting it, the read loop, replies,
 * the idle timeout, the error limit, delayed replies after failed logins,
 * and the end of the session.
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

static void session_run(struct session *s);
static void on_io(void *ctx, int fd, int events);
static void on_idle(void *ctx);

/* ---- accepting ---- */

static void refuse_busy(struct pop3d_server *srv, int fd)
{
	static const char line[] = "-ERR [SYS/TEMP] Too many connections, try again later\r\n";

	if (write(fd, line, sizeof(line) - 1) < 0)
		log_debug("refusing a session: write failed");
	close(fd);
	log_warn("too many sessions (%d): refusing a connection", srv->nsessions);
	svc_conn_done(srv->service);
}

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
		refuse_busy(srv, fd);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->srv = srv;
	s->lock_fd = -1;
	s->client_addr = sock_peer_addr(fd);
	sock_set_nodelay(fd); /* the end of a RETR must not wait for an ACK */
	s->client = xasprintf("[%s]", s->client_addr);
	s->stream = strm_new(fd);
	s->state = ST_AUTHORIZATION;
	s->input = IN_COMMAND;
	s->last_cmd = "CONNECT";
	link_session(srv, s);
	log_info("connect from %s", s->client);
	s->io = ev_io_add(srv->loop, fd, EV_READ, on_io, s);
	s->idle = ev_timer_add(srv->loop, srv->timeout_ms, false, on_idle, s);
	if (srv->implicit_tls)
		pop3d_tls_begin_implicit(s); /* the greeting comes after the handshake */
	else
		pop3d_ok(s, "%s ready.", srv->myhostname);
	session_run(s);
}

/* ---- the end ---- */

static void session_free(struct session *s)
{
	struct pop3d_server *srv = s->srv;

	pop3d_logout(s);
	log_info("disconnect from %s", s->client);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	ev_io_remove(&s->io);
	ev_timer_remove(&s->idle);
	ev_timer_remove(&s->delay);
	strm_free(&s->stream);
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
	s->paused = false;
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
	s->paused = true;
	s->pause_ms = ms;
}

/* ---- the read loop ---- */

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

static int step(struct session *s)
{
	switch (s->input) {
	case IN_COMMAND: return step_command(s);
	case IN_HANDSHAKE: return pop3d_tls_step(s);
	case IN_SASL: return pop3d_sasl_step(s);
	case IN_SEND: return pop3d_send_step(s);
	default: return STRM_AGAIN;
	}
}

static void lost_connection(struct session *s, int r)
{
	if (r == STRM_ERROR)
		log_info("lost connection after %s from %s: %s", s->last_cmd, s->client,
			 strm_error(s->stream));
	else if (s->state == ST_TRANSACTION)
		log_info("lost connection after %s from %s: nothing deleted", s->last_cmd,
			 s->client);
	pop3d_close(s);
}

static void too_many_errors(struct session *s)
{
	log_warn("too many errors after %s from %s", s->last_cmd, s->client);
	pop3d_err(s, "Too many errors, closing the connection");
	pop3d_close(s);
}

static void set_events(struct session *s)
{
	int events = 0;

	if (s->paused)
		events = 0;
	else if (s->input == IN_HANDSHAKE && !s->tls_started)
		events = EV_WRITE; /* the +OK to STLS must go out first */
	else if (s->input == IN_SEND)
		events = EV_WRITE | strm_wants(s->stream);
	else if (s->input != IN_NONE)
		events = strm_wants(s->stream);
	else if (strm_unflushed(s->stream) > 0)
		events = EV_WRITE;
	ev_io_set_events(s->io, events);
}

static void on_delay(void *ctx)
{
	struct session *s = ctx;

	s->paused = false;
	session_run(s);
}

/* after_run: flush, close or wait; the only place a session is freed. */
static void after_run(struct session *s)
{
	int r;

	if (s->paused) { /* the queued reply goes out when the delay is over */
		if (s->delay == NULL)
			s->delay = ev_timer_add(s->srv->loop, s->pause_ms, false, on_delay, s);
		else
			ev_timer_reset(s->delay, s->pause_ms);
		set_events(s);
		return;
	}
	r = strm_flush(s->stream);
	if (s->state == ST_QUIT && r != STRM_AGAIN) {
		session_free(s);
		return;
	}
	if (r == STRM_ERROR) {
		lost_connection(s, r);
		session_free(s);
		return;
	}
	set_events(s);
}

static void session_run(struct session *s)
{
	while (s->input != IN_NONE && !s->paused) {
		int r;

		if (strm_unflushed(s->stream) > POP3_OUTPUT_HIGH_WATER &&
		    strm_flush(s->stream) != STRM_OK)
			break;
		r = step(s);
		if (r == STRM_AGAIN)
			break;
		if (r != STRM_OK) {
			lost_connection(s, r);
			break;
		}
		if (s->errors >= s->srv->error_limit && s->state != ST_QUIT)
			too_many_errors(s);
	}
	after_run(s);
}

static void on_io(void *ctx, int fd, int events)
{
	struct session *s = ctx;
	(void)fd;

	if (s->state == ST_QUIT) {
		if (strm_flush(s->stream) != STRM_AGAIN || (events & EV_ERROR))
			session_free(s);
		return;
	}
	if (s->input != IN_HANDSHAKE) /* a handshake has one deadline */
		ev_timer_reset(s->idle, s->srv->timeout_ms);
	session_run(s);
}

static void on_idle(void *ctx)
{
	struct session *s = ctx;

	if (s->state == ST_QUIT) {
		session_free(s);
		return;
	}
	if (s->input == IN_HANDSHAKE) {
		log_warn("timeout in the TLS handshake after %s from %s", s->last_cmd, s->client);
	} else {
		log_info("timeout after %s from %s%s", s->last_cmd, s->client,
			 s->state == ST_TRANSACTION ? ": nothing deleted" : "");
		pop3d_err(s, "Disconnected for inactivity.");
	}
	pop3d_send_abort(s);
	pop3d_close(s);
	after_run(s);
}

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
		if (s->input != IN_COMMAND || s->paused)
			continue;
		pop3d_err(s, "[SYS/TEMP] Server shutting down.");
		pop3d_close(s);
		after_run(s);
	}
}
