/* session.c: smtpd's part of a connection on the shared session layer
 * (lib/sess): the peer (address, trust, SO_PEERCRED on the local socket),
 * replies and what counts as an error, the message content input (DATA
 * pieces, BDAT chunks), and the texts of the greeting and goodbyes. The
 * session list, the read loop, error limits, timeouts and the end of a
 * session are lib/sess's.
 *
 * PIPELINING (RFC 2920): a command that has to wait (the commit of a
 * message waits for the batched incoming/ fsync) stops the reading, so
 * nothing can overtake its reply. */
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

static const struct sess_ops session_ops;

/* ---- accepting ---- */

/* peer_inet: the client's address (heap), its name and trust. */
static char *peer_inet(struct session *s, int fd)
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
	s->client_name = xstrdup("unknown"); /* until peername.c knows better */
	s->trusted = s->have_peer && netmatch_match(s->srv->mynetworks,
						    (const struct sockaddr *)&s->peer);
	return xstrdup(text);
}

/* peer_local: the sendmail socket: a local user, trusted like mynetworks. */
static char *peer_local(struct session *s, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	s->client_name = xstrdup("localhost");
	s->trusted = true;
	s->uid = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? (long)cred.uid : -1;
	return xstrdup("127.0.0.1");
}

static void *session_open(void *server_ctx, sess *base, int fd)
{
	struct smtpd_server *srv = server_ctx;
	struct session *s = xcalloc(1, sizeof(*s));
	char *addr;

	s->srv = srv;
	s->base = base;
	s->uid = -1;
	addr = srv->local_service ? peer_local(s, fd) : peer_inet(s, fd);
	sess_set_client(base, addr, xasprintf("%s[%s]", s->client_name, addr));
	s->client = sess_client(base);
	s->stream = sess_strm(base);
	s->state = ST_CONNECT;
	if (!srv->local_service)
		smtpd_peername_start(s);
	return s;
}

static void session_greet(void *ctx)
{
	struct session *s = ctx;

	strm_printf(s->stream, "220 %s\r\n", s->srv->banner);
}

/* ---- the end ---- */

/* session_close: the session is over: free smtpd's part. */
static void session_close(void *ctx)
{
	struct session *s = ctx;

	smtpd_peername_stop(s);
	smtpd_queue_forget(s);
	smtpd_txn_free(&s->txn);
	free(s->auth_user);
	free(s->helo);
	free(s->client_name);
	free(s);
}

static void session_quitting(void *ctx)
{
	smtpd_enter_state(ctx, ST_QUIT);
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
	if (code >= 400 && code != 421 && !smtpd_storage_reply(code, dsn))
		sess_error(s->base);
}

/* smtpd_storage_reply: 452 4.3.1 says the server is short of space, not
 * that the client erred: it never counts toward the error limits. */
bool smtpd_storage_reply(int code, const char *dsn)
{
	return code == 452 && strcmp(dsn, "4.3.1") == 0;
}

void smtpd_reply_raw(struct session *s, const char *text)
{
	strm_puts(s->stream, text);
}

void smtpd_reply_storage(struct session *s)
{
	smtpd_reply(s, 452, "4.3.1", SMTPD_STORAGE_TEXT);
}

/* ---- the protocol's callbacks ---- */

static void session_command(void *ctx, char *line, size_t len)
{
	smtpd_command(ctx, line, len);
}

static void line_too_long(void *ctx, bool flood)
{
	struct session *s = ctx;

	if (flood)
		smtpd_reply(s, 421, "4.7.0", "%s Error: line too long", s->srv->myhostname);
	else
		smtpd_reply(s, 500, "5.5.2", "Error: line too long");
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
		sess_set_input(s->base, SESS_IN_COMMAND);
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
		sess_set_input(s->base, SESS_IN_COMMAND);
		smtpd_data_finish(s);
	}
	return STRM_OK;
}

/* session_step: the message content (SESS_IN_OWN). */
static int session_step(void *ctx)
{
	struct session *s = ctx;

	return s->content == IN_CHUNK ? step_chunk(s) : step_data(s);
}

void smtpd_session_content(struct session *s, enum smtpd_content content)
{
	s->content = content;
	sess_set_input(s->base, SESS_IN_OWN);
}

static const char *session_activity(void *ctx)
{
	struct session *s = ctx;

	return s->state == ST_CONNECT || s->state == ST_READY ? NULL : "";
}

static bool session_busy(void *ctx)
{
	struct session *s = ctx;

	return s->txn != NULL;
}

static void session_timeout(void *ctx)
{
	struct session *s = ctx;

	smtpd_reply(s, 421, "4.4.2", "%s Error: timeout exceeded", s->srv->myhostname);
}

static void too_many_errors(void *ctx)
{
	struct session *s = ctx;

	smtpd_reply(s, 421, "4.7.0", "%s Error: too many errors", s->srv->myhostname);
}

static void session_shutdown(void *ctx)
{
	struct session *s = ctx;

	smtpd_reply(s, 421, "4.3.2", "%s Service shutting down", s->srv->myhostname);
}

static const struct sess_ops session_ops = {
	.open = session_open,
	.greet = session_greet,
	.command = session_command,
	.line_too_long = line_too_long,
	.step = session_step,
	.activity = session_activity,
	.busy = session_busy,
	.timeout = session_timeout,
	.too_many_errors = too_many_errors,
	.shutdown = session_shutdown,
	.tls_done = smtpd_tls_done,
	.quitting = session_quitting,
	.close = session_close,
};

/* smtpd_session_init: the session layer with smtpd's limits. */
void smtpd_session_init(struct smtpd_server *srv)
{
	char *busy = xasprintf("421 4.7.0 %s Error: too many connections\r\n", srv->myhostname);
	struct sess_config config = {
		.session_limit = srv->session_limit,
		.busy_reply = busy,
		.idle_ms = srv->timeout_ms,
		.record_ms = srv->record_deadline_ms,
		.line_limit = srv->line_limit,
		.soft_error_limit = srv->soft_error_limit,
		.error_sleep_ms = srv->error_sleep_ms,
		.hard_error_limit = srv->hard_error_limit,
		.implicit_tls = srv->implicit_tls,
		.tls = &srv->tls,
		.handshake_ms = srv->handshake_timeout_ms,
		.tls_command = "STARTTLS",
	};

	srv->sessions = sess_server_new(srv->loop, srv->service, &config, &session_ops, srv);
	free(busy);
}
