/* session.c: pop3d's part of a connection on the shared session layer
 * (lib/sess): the client's address, the replies (-ERR counts as an
 * error), the message output input step (SESS_IN_OWN), and the texts of the
 * greeting and goodbyes. The session list, the read loop, error limits,
 * timeouts and the end of a session are lib/sess's.
 *
 * PIPELINING (RFC 2449): a RETR or TOP switches the input to the
 * message output: nothing more is read until the message has been handed
 * to the stream, so a client that pipelines many RETRs is served one
 * message at a time with bounded memory. A session that is dropped,
 * times out or is stopped never deletes anything: deletions happen only
 * in the UPDATE state after QUIT (commands.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "pop3d.h"
#include "sock.h"

static const struct sess_ops session_ops;

/* ---- accepting ---- */

static void *session_open(void *server_ctx, sess *base, int fd)
{
	struct pop3d_server *srv = server_ctx;
	struct session *s = xcalloc(1, sizeof(*s));
	char *addr = sock_peer_addr(fd);

	s->srv = srv;
	s->base = base;
	s->lock_fd = -1;
	sock_set_nodelay(fd); /* the end of a RETR must not wait for an ACK */
	sess_set_client(base, addr, xasprintf("[%s]", addr));
	s->client = sess_client(base);
	s->stream = sess_strm(base);
	s->state = ST_AUTHORIZATION;
	return s;
}

static void session_greet(void *ctx)
{
	struct session *s = ctx;

	pop3d_ok(s, "%s ready.", s->srv->myhostname);
}

/* ---- the end ---- */

/* session_close: the session is over: free pop3d's part. */
static void session_close(void *ctx)
{
	struct session *s = ctx;

	pop3d_logout(s);
	free(s);
}

static void session_quitting(void *ctx)
{
	struct session *s = ctx;

	s->state = ST_QUIT;
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
	sess_error(s->base);
}

void pop3d_raw(struct session *s, const char *text)
{
	strm_puts(s->stream, text);
}

/* ---- the protocol's callbacks ---- */

static void session_command(void *ctx, char *line, size_t len)
{
	(void)len;
	pop3d_command(ctx, line);
}

/* line_too_long: RFC 2449 bounds command lines; one over our limit is not
 * a client we can talk to any more. */
static void line_too_long(void *ctx, bool flood)
{
	struct session *s = ctx;

	(void)flood;
	pop3d_err(s, "Line too long");
	sess_close(s->base);
}

static int session_step(void *ctx)
{
	return pop3d_send_step(ctx);
}

static int session_events(void *ctx)
{
	struct session *s = ctx;

	return EV_WRITE | strm_wants(s->stream);
}

static const char *session_activity(void *ctx)
{
	struct session *s = ctx;

	return s->state == ST_TRANSACTION ? ": nothing deleted" : NULL;
}

static void session_timeout(void *ctx)
{
	struct session *s = ctx;

	pop3d_err(s, "%s", sess_record_late(s->base) ? "Command line not complete in time."
						     : "Disconnected for inactivity.");
	pop3d_send_abort(s);
}

static void too_many_errors(void *ctx)
{
	pop3d_err(ctx, "Too many errors, closing the connection");
}

/* session_shutdown: master wants us gone. A session waiting for a command
 * is told so and closed, without UPDATE (nothing is deleted, RFC 1939
 * section 6 only deletes on QUIT); the others end after their current
 * command or transfer. */
static void session_shutdown(void *ctx)
{
	pop3d_err(ctx, "[SYS/TEMP] Server shutting down.");
}

static const struct sess_ops session_ops = {
	.open = session_open,
	.greet = session_greet,
	.command = session_command,
	.line_too_long = line_too_long,
	.step = session_step,
	.events = session_events,
	.activity = session_activity,
	.timeout = session_timeout,
	.too_many_errors = too_many_errors,
	.shutdown = session_shutdown,
	.tls_done = pop3d_tls_done,
	.quitting = session_quitting,
	.close = session_close,
};

void pop3d_session_init(struct pop3d_server *srv)
{
	struct sess_config config = {
		.session_limit = srv->session_limit,
		.busy_reply = "-ERR [SYS/TEMP] Too many connections, try again later\r\n",
		.idle_ms = srv->timeout_ms,
		.record_ms = srv->record_deadline_ms,
		.line_limit = POP3_LINE_MAX,
		.soft_error_limit = srv->error_limit,
		.error_sleep_ms = 0,
		.hard_error_limit = srv->error_limit,
		.implicit_tls = srv->implicit_tls,
		.tls = &srv->tls,
		.handshake_ms = srv->handshake_timeout_ms,
		.tls_command = "STLS",
	};

	srv->sessions = sess_server_new(srv->loop, srv->service, &config, &session_ops, srv);
}
