/* session.c: imapd's part of a connection on the shared session layer
 * (lib/sess): the client's address, the greeting and goodbyes, and the
 * input step. IMAP commands are not lines (a literal may hold anything),
 * so the session layer hands the raw input to this step (own_commands),
 * which feeds it to lib/imapcmd's reader: one command is run per step,
 * "+" goes out for a synchronizing literal within the limits, a refused
 * command gets BAD and the reader finds the next one, a flood gets BYE.
 *
 * Pipelining: bytes read past a command wait in the pending buffer
 * (allocated only while it holds something, so an idle session costs
 * little); lib/conn stops running steps while the output is over its
 * high-water mark, so a client that pipelines many commands without
 * reading the replies is not read from until it catches up. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imapd.h"
#include "log.h"
#include "mem.h"
#include "sock.h"

static const struct sess_ops session_ops;

/* ---- accepting ---- */

static void *session_open(void *server_ctx, sess *base, int fd)
{
	struct imapd_server *srv = server_ctx;
	struct session *s = xcalloc(1, sizeof(*s));
	char *addr = sock_peer_addr(fd);

	s->srv = srv;
	s->base = base;
	sock_set_nodelay(fd);
	sess_set_client(base, addr, xasprintf("[%s]", addr));
	s->client = sess_client(base);
	s->stream = sess_strm(base);
	s->state = IST_NOAUTH;
	s->reader = imapcmd_reader_new(&srv->prelogin_limits);
	imapcmd_pause_nonsync(s->reader, true); /* APPEND streams {n+} too */
	return s;
}

static void session_greet(void *ctx)
{
	struct session *s = ctx;
	buf *caps = buf_new(256);

	imapd_capabilities(s, caps);
	imapd_untagged(s, "OK [CAPABILITY %s] %s ready.", buf_cstr(caps), s->srv->myhostname);
	buf_free(&caps);
}

/* ---- the end ---- */

static void session_close(void *ctx)
{
	struct session *s = ctx;

	imapd_fetch_abort(s);
	imapd_search_abort(s);
	ev_timer_remove(&s->resume);
	imapd_logout(s);
	imapd_append_discard(s);
	imapseq_free(&s->saved);
	imapcmd_reader_free(&s->reader);
	buf_free(&s->pending);
	free(s->tag);
	free(s);
}

static void session_quitting(void *ctx)
{
	struct session *s = ctx;

	s->state = IST_LOGOUT;
}

void imapd_discard_input(struct session *s)
{
	if (s->pending != NULL && buf_len(s->pending) > 0)
		log_info("%s: %zu bytes of plaintext pipelined after STARTTLS dropped", s->client,
			 buf_len(s->pending));
	buf_free(&s->pending);
	imapcmd_reader_free(&s->reader);
	s->reader = imapcmd_reader_new(s->state == IST_NOAUTH ? &s->srv->prelogin_limits
							      : &s->srv->limits);
	imapcmd_pause_nonsync(s->reader, true);
}

/* ---- long commands in turns ---- */

uint64_t imapd_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void resume(void *ctx)
{
	struct session *s = ctx;

	ev_timer_remove(&s->resume);
	conn_resume(sess_conn(s->base));
}

void imapd_yield(struct session *s)
{
	if (s->resume != NULL)
		return;
	conn_wait(sess_conn(s->base));
	s->resume = ev_timer_add(s->srv->loop, 0, false, resume, s);
}

/* ---- the input step ---- */

static void set_tag(struct session *s, const char *tag)
{
	free(s->tag);
	s->tag = tag != NULL ? xstrdup(tag) : NULL;
}

/* refused: the reader refused a command: BAD (tagged when it read the
 * tag), the reader resynchronises by itself. */
static void refused(struct session *s)
{
	enum imapcmd_error code = imapcmd_error(s->reader);

	imapd_append_discard(s);
	set_tag(s, imapcmd_error_tag(s->reader));
	log_info("%s: command refused after %s: %s", s->client, sess_last(s->base),
		 imapcmd_error_text(code));
	imapd_bad(s, "%s", imapcmd_error_text(code));
}

/* fatal: more than the reader will skip (a 100 MB line): BYE and close. */
static void fatal(struct session *s)
{
	log_warn("%s: flood of a broken command after %s: disconnecting", s->client,
		 sess_last(s->base));
	imapd_untagged(s, "BYE Command too long, closing the connection.");
	sess_close(s->base);
}

/* feed: data to the reader; acts on its result. Returns the bytes used. */
static size_t feed(struct session *s, const char *data, size_t len)
{
	size_t used = 0;
	enum imapcmd_status st = imapcmd_feed(s->reader, data, len, &used);

	switch (st) {
	case IMAPCMD_MORE: break;
	case IMAPCMD_DONE:
		set_tag(s, imapcmd_command(s->reader)->tag);
		imapd_command(s, imapcmd_command(s->reader));
		imapd_append_discard(s); /* an APPEND's file the command did not take */
		break;
	case IMAPCMD_CONTINUE:
		if (!imapd_literal_announced(s) && imapcmd_literal_sync(s->reader))
			imapd_raw(s, "+ Ready for literal data\r\n");
		break;
	case IMAPCMD_ERROR: refused(s); break;
	case IMAPCMD_FATAL: fatal(s); break;
	}
	return used;
}

/* keep: the unused rest of data goes to the pending buffer. */
static void keep(struct session *s, const char *data, size_t len)
{
	if (len == 0)
		return;
	if (s->pending == NULL)
		s->pending = buf_new(len);
	buf_append(s->pending, data, len);
}

static int session_step(void *ctx)
{
	struct session *s = ctx;
	const char *data;
	size_t len, used;
	int r;

	if (s->idling)
		return imapd_idle_step(s);
	if (s->fetch != NULL)
		return imapd_fetch_step(s);
	if (s->search != NULL)
		return imapd_search_step(s);
	if (s->pending != NULL) {
		/* the reader may run a command that frees or refills pending:
		 * feed a private copy */
		buf *in = s->pending;

		s->pending = NULL;
		used = feed(s, buf_cstr(in), buf_len(in));
		keep(s, buf_cstr(in) + used, buf_len(in) - used);
		buf_free(&in);
		return STRM_OK;
	}
	r = strm_read_bytes(s->stream, IMAPD_READ_CHUNK, &data, &len);
	if (r != STRM_OK)
		return r;
	if (len == 0)
		return STRM_AGAIN;
	used = feed(s, data, len);
	keep(s, data + used, len - used);
	return STRM_OK;
}

static const char *session_activity(void *ctx)
{
	struct session *s = ctx;

	return s->state == IST_AUTH || s->state == IST_SELECTED ? "" : NULL;
}

static void session_timeout(void *ctx)
{
	imapd_untagged(ctx, "BYE Disconnected for inactivity.");
}

static void too_many_errors(void *ctx)
{
	imapd_untagged(ctx, "BYE Too many invalid commands.");
}

/* session_busy: a FETCH being streamed ends before a shutdown's BYE. */
static bool session_busy(void *ctx)
{
	struct session *s = ctx;

	return s->fetch != NULL || s->search != NULL;
}

static void session_shutdown(void *ctx)
{
	imapd_untagged(ctx, "BYE [UNAVAILABLE] Server shutting down.");
}

static void line_too_long(void *ctx, bool flood)
{
	(void)ctx;
	(void)flood; /* own_commands: the reader bounds lines */
}

static const struct sess_ops session_ops = {
	.open = session_open,
	.greet = session_greet,
	.line_too_long = line_too_long,
	.step = session_step,
	.activity = session_activity,
	.busy = session_busy,
	.timeout = session_timeout,
	.too_many_errors = too_many_errors,
	.shutdown = session_shutdown,
	.tls_done = imapd_tls_done,
	.quitting = session_quitting,
	.close = session_close,
};

void imapd_session_init(struct imapd_server *srv)
{
	struct sess_config config = {
		.session_limit = srv->session_limit,
		.busy_reply = "* BYE [UNAVAILABLE] Too many connections, try again later\r\n",
		.idle_ms = srv->login_timeout_ms,
		.line_limit = srv->limits.max_line,
		.soft_error_limit = srv->error_limit / 2 > 0 ? srv->error_limit / 2 : 1,
		.error_sleep_ms = srv->error_sleep_ms,
		.hard_error_limit = srv->error_limit,
		.implicit_tls = srv->implicit_tls,
		.tls = &srv->tls,
		.handshake_ms = srv->handshake_timeout_ms,
		.tls_command = "STARTTLS",
		.own_commands = true,
	};

	srv->sessions = sess_server_new(srv->loop, srv->service, &config, &session_ops, srv);
}
