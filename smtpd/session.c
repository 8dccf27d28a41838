/* session.c: one SMTP connection: accepting it (peer address, trust,
 * SO_PEERCRED on the local socket), the input steps, replies, the idle
 * timeout, the error counters with their delayed replies, and the end of
 * the session; the event-loop mechanics (run, pause, flush, close) are
 * lib/conn's.
 *
 * PIPELINING (RFC 2920): the loop runs every command already buffered, in
 * order, each queueing its reply behind the previous one; the replies go
 * out together when the input buffer is empty or when a command has to
 * wait (the commit of a message waits for the batched incoming/ fsync).
 * A session in a wait reads nothing, so nothing can overtake. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "sock.h"
#include "smtpd.h"

/* DATA is read in LF-ended pieces of at most this size (a longer line
 * arrives as several pieces): the end-of-data line always ends a piece,
 * so nothing after it is consumed. */
#define DATA_PIECE_MAX (64 * 1024)
#define CHUNK_READ_MAX (64 * 1024)
/* A command line that keeps going past this many times the line limit is
 * a flood: the client is cut off. */
#define LINE_FLOOD_FACTOR 4

static const struct conn_ops session_ops;

/* ---- accepting ---- */

static void peer_inet(struct session *s, int fd)
{
	socklen_t len = sizeof(s->peer);
	char text[INET6_ADDRSTRLEN] = "unknown";

	/* Replies go out whole, but TLS may write two records in a row (a
	 * session ticket, then the greeting): Nagle would hold the second
	 * until the client's delayed ACK. */
	sock_set_nodelay(fd);
	if (getpeername(fd, (struct sockaddr *)&s->peer, &len) == 0) {
		s->have_peer = true;
		if (s->peer.ss_family == AF_INET) {
			const struct sockaddr_in *in = (const void *)&s->peer;
			inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
		} else if (s->peer.ss_family == AF_INET6) {
			const struct sockaddr_in6 *in6 = (const void *)&s->peer;
			if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
				inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], text, sizeof(text));
			else
				inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
		} else {
			s->have_peer = false;
		}
	}
	s->client_addr = xstrdup(text);
	s->client_name = xstrdup("unknown"); /* XXX no reverse DNS lookups yet */
	s->trusted = s->have_peer && netmatch_match(s->srv->mynetworks,
						    (const struct sockaddr *)&s->peer);
}

/* peer_local: the sendmail socket: a local user, trusted like mynetworks. */
static void peer_local(struct session *s, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	s->client_addr = xstrdup("127.0.0.1");
	s->client_name = xstrdup("localhost");
	s->trusted = true;
	s->uid = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? (long)cred.uid : -1;
}

static void refuse_busy(struct smtpd_server *srv, int fd)
{
	char line[512];

	snprintf(line, sizeof(line), "421 4.7.0 %s Error: too many connections\r\n",
		 srv->myhostname);
	svc_refuse(srv->service, fd, line, srv->nsessions);
}

void smtpd_session_accept(struct smtpd_server *srv, int fd)
{
	struct session *s;

	if (srv->nsessions >= srv->session_limit) {
		refuse_busy(srv, fd);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->srv = srv;
	s->uid = -1;
	if (srv->local_service)
		peer_local(s, fd);
	else
		peer_inet(s, fd);
	s->client = xasprintf("%s[%s]", s->client_name, s->client_addr);
	s->conn = conn_new(srv->loop, fd, srv->timeout_ms, &session_ops, s);
	s->stream = conn_strm(s->conn);
	s->state = ST_CONNECT;
	s->input = IN_COMMAND;
	s->last_verb = "CONNECT";
	s->next = srv->sessions;
	if (srv->sessions != NULL)
		srv->sessions->prev = s;
	srv->sessions = s;
	srv->nsessions++;
	log_info("connect from %s", s->client);
	if (srv->implicit_tls)
		smtpd_tls_begin_implicit(s); /* the greeting comes after the handshake */
	else
		strm_printf(s->stream, "220 %s\r\n", srv->banner);
	conn_run(s->conn);
}

/* ---- the end ---- */

/* session_done: the conn is closed (or the client gone): free the session. */
static void session_done(void *ctx)
{
	struct session *s = ctx;
	struct smtpd_server *srv = s->srv;

	log_info("disconnect from %s", s->client);
	smtpd_queue_forget(s);
	smtpd_txn_free(&s->txn);
	smtpd_auth_end(s);
	free(s->auth_user);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	free(s->helo);
	free(s->client_addr);
	free(s->client_name);
	free(s->client);
	free(s);
	srv->nsessions--;
	svc_conn_done(srv->service);
}

void smtpd_session_close(struct session *s)
{
	smtpd_enter_state(s, ST_QUIT);
	s->input = IN_NONE;
	conn_close(s->conn);
}

/* ---- replies ---- */

void smtpd_reply(struct session *s, int code, const char *dsn, const char *fmt, ...)
{
	va_list ap;
	buf *text = buf_new(128);

	buf_printf(text, "%d %s ", code, dsn);
	va_start(ap, fmt);
	buf_vprintf(text, fmt, ap);
	va_end(ap);
	buf_puts(text, "\r\n");
	strm_write(s->stream, buf_cstr(text), buf_len(text));
	buf_free(&text);
	if (code < 400 || code == 421)
		return;
	s->errors++;
	if (s->errors >= s->srv->soft_error_limit && s->srv->error_sleep_ms > 0)
		conn_pause(s->conn, s->srv->error_sleep_ms);
}

void smtpd_reply_raw(struct session *s, const char *text)
{
	strm_puts(s->stream, text);
}

/* ---- the read loop ---- */

static void strip_line_end(const char **line, size_t *len)
{
	(void)line;
	if (*len > 0 && (*line)[*len - 1] == '\n')
		(*len)--;
	if (*len > 0 && (*line)[*len - 1] == '\r')
		(*len)--;
}

static void line_too_long(struct session *s, size_t len)
{
	if (s->skipped == 0) {
		log_warn("%s: command line longer than %zu bytes", s->client, s->srv->line_limit);
		smtpd_reply(s, 500, "5.5.2", "Error: line too long");
	}
	s->skipped += len;
	if (s->skipped > LINE_FLOOD_FACTOR * s->srv->line_limit) {
		log_warn("%s: flood of %zu bytes without a line end: disconnecting", s->client,
			 s->skipped);
		smtpd_reply(s, 421, "4.7.0", "%s Error: line too long", s->srv->myhostname);
		smtpd_session_close(s);
	}
}

static int step_command(struct session *s)
{
	const char *line;
	size_t len;
	int r = strm_read_line(s->stream, s->srv->line_limit, &line, &len);

	if (r == STRM_TOOLONG) {
		line_too_long(s, len);
		return STRM_OK;
	}
	if (r != STRM_OK)
		return r;
	if (s->skipped > 0) { /* the rest of an over-long line */
		s->skipped = 0;
		return STRM_OK;
	}
	strip_line_end(&line, &len);
	char *copy = xstrndup(line, len);
	smtpd_command(s, copy, len);
	free(copy);
	return STRM_OK;
}

static int step_data(struct session *s)
{
	const char *piece;
	size_t len, used;
	int r = strm_read_line(s->stream, DATA_PIECE_MAX, &piece, &len);

	if (r != STRM_OK && r != STRM_TOOLONG)
		return r;
	if (smtpd_data_input(s, piece, len, &used)) {
		if (used != len)
			log_panic("end of data inside a piece (%zu of %zu)", used, len);
		s->input = IN_COMMAND;
		smtpd_data_finish(s);
	}
	return STRM_OK;
}

static int step_chunk(struct session *s)
{
	const char *data;
	size_t len;
	size_t want = s->chunk_left < CHUNK_READ_MAX ? (size_t)s->chunk_left : CHUNK_READ_MAX;
	int r = STRM_OK;

	if (want > 0) {
		r = strm_read_bytes(s->stream, want, &data, &len);
		if (r != STRM_OK)
			return r;
		if (len == 0)
			return STRM_AGAIN;
		s->chunk_left -= len;
		smtpd_chunk_input(s, data, len);
	}
	if (s->chunk_left == 0) {
		s->input = IN_COMMAND;
		smtpd_data_finish(s);
	}
	return STRM_OK;
}

static int session_step(void *ctx)
{
	struct session *s = ctx;

	switch (s->input) {
	case IN_COMMAND: return step_command(s);
	case IN_DATA: return step_data(s);
	case IN_CHUNK: return step_chunk(s);
	case IN_HANDSHAKE: return smtpd_tls_step(s);
	case IN_AUTH: return smtpd_auth_step(s);
	default: return STRM_AGAIN;
	}
}

static int session_events(void *ctx)
{
	struct session *s = ctx;

	if (s->input == IN_HANDSHAKE && !s->tls_started)
		return EV_WRITE; /* the 220 to STARTTLS must go out first */
	if (s->input == IN_NONE) /* waiting for the commit: only output */
		return strm_unflushed(s->stream) > 0 ? EV_WRITE : 0;
	return strm_wants(s->stream);
}

static void lost_connection(void *ctx, int r)
{
	struct session *s = ctx;

	if (r == STRM_ERROR)
		log_info("lost connection after %s from %s: %s", s->last_verb, s->client,
			 strm_error(s->stream));
	else if (s->state != ST_CONNECT && s->state != ST_READY)
		log_info("lost connection after %s from %s", s->last_verb, s->client);
	smtpd_enter_state(s, ST_QUIT);
	s->input = IN_NONE;
}

static void check_errors(void *ctx)
{
	struct session *s = ctx;

	if (s->errors < s->srv->hard_error_limit || s->state == ST_QUIT)
		return;
	log_warn("too many errors after %s from %s", s->last_verb, s->client);
	smtpd_reply(s, 421, "4.7.0", "%s Error: too many errors", s->srv->myhostname);
	smtpd_session_close(s);
}

void smtpd_session_resume(struct session *s)
{
	if (s->state != ST_QUIT)
		s->input = IN_COMMAND;
	conn_run(s->conn);
}

static void session_idle(void *ctx)
{
	struct session *s = ctx;

	if (s->state == ST_COMMIT) { /* waiting for our own fsync: not the client's fault */
		conn_set_idle(s->conn, s->srv->timeout_ms);
		return;
	}
	if (s->input == IN_HANDSHAKE) { /* no reply possible in the middle of TLS */
		log_warn("timeout in the TLS handshake after %s from %s", s->last_verb, s->client);
		smtpd_session_close(s);
		return;
	}
	log_info("timeout after %s from %s", s->last_verb, s->client);
	smtpd_reply(s, 421, "4.4.2", "%s Error: timeout exceeded", s->srv->myhostname);
	smtpd_session_close(s);
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

void smtpd_server_stop(struct smtpd_server *srv)
{
	struct session *s = srv->sessions, *next;

	for (; s != NULL; s = next) {
		next = s->next;
		if (s->input != IN_COMMAND || conn_paused(s->conn) || s->txn != NULL)
			continue; /* in the middle of something: let it finish */
		smtpd_reply(s, 421, "4.3.2", "%s Service shutting down", srv->myhostname);
		smtpd_session_close(s);
		conn_run(s->conn);
	}
}
