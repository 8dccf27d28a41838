/* test_smtpc.c: unit tests for lib/smtpc.c, the event-driven SMTP client,
 * against a scripted fake server on the same event loop (a socketpair).
 * The fake answers each command from the test's script, records every
 * byte it gets and decodes the message with lib/dot. Checked: the exact
 * commands and parameters sent, pipelining (a server that answers
 * nothing before DATA arrives), HELO fallback, per-recipient results,
 * refusals at each stage, garbage, a timeout, a closed connection, a
 * body source error, the abort after 354 and a large body that needs
 * the output flow control. The fake runs on lib/strm so it can take
 * STARTTLS: the TLS security levels against trusted and untrusted
 * certificates and wrong names, AUTH PLAIN / LOGIN / 535 and the
 * refusals before AUTH, the SIZE / SMTPUTF8 / 8BITMIME checks, a
 * greeting dripping a byte at a time, a close mid-DATA, an endless
 * multi-line reply, two messages on one connection (with RSET), and a
 * connection parked between messages (resumed, ended by us, by the idle
 * limit, by the server's close or its words, RSET before parking). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "addr.h"
#include "dot.h"
#include "ev.h"
#include "smtpc.h"
#include "sock.h"
#include "strm.h"
#include "mem.h"
#include "tls.h"
#include "tlsgen.h"

/* What the fake server says; NULL = silence. */
struct script {
	const char *greeting, *ehlo, *helo, *mail, *rcpt[3], *data, *dot;
	const char *ehlo_tls; /* the EHLO reply over TLS (NULL: ehlo) */
	const char *starttls; /* the STARTTLS reply; 220 starts TLS */
	const char *auth; /* the final AUTH reply (LOGIN asks twice first) */
	bool tls_garbage; /* after 220 to STARTTLS: plaintext garbage, no TLS */
	bool hold_until_data; /* after MAIL, answer nothing until DATA came */
	bool close_after_greeting;
	bool drip; /* the greeting one byte every 20 ms */
	bool close_in_data; /* hang up when the first body bytes come */
	const char *rset; /* the RSET reply (NULL: 250) */
	bool hold_rset; /* no RSET reply until the test writes one */
};

/* The fake server's TLS setup (made once, in group setup). */
static SSL_CTX *server_ctx;

struct fake {
	const struct script *sc;
	strm *s;
	ev_io *io;
	ev_timer *drip;
	size_t drip_at;
	buf *in, *out, *seen, *body;
	bool in_data, holding, start_tls, tls_pending, tls;
	char sni[64];
	int login_step; /* AUTH LOGIN: lines still to read */
	struct dot_decoder dec;
	int rcpt_i;
};

static void fake_reply(struct fake *f, const char *reply)
{
	if (reply != NULL)
		buf_puts(f->out, reply);
}

static void fake_watch(struct fake *f)
{
	if (f->io != NULL)
		ev_io_set_events(f->io, EV_READ | strm_wants(f->s));
}

static void fake_flush(struct fake *f)
{
	if (f->holding)
		return;
	strm_write(f->s, buf_cstr(f->out), buf_len(f->out));
	buf_reset(f->out);
	(void)strm_flush(f->s);
	if (f->start_tls) {
		f->start_tls = false;
		if (f->sc->tls_garbage) {
			strm_puts(f->s, "this is no TLS at all\r\n");
			(void)strm_flush(f->s);
		} else {
			strm_start_tls(f->s, server_ctx, true, NULL);
			f->tls_pending = true;
			buf_puts(f->seen, "<TLS>");
		}
	}
	fake_watch(f);
}

static void fake_auth(struct fake *f, const char *line)
{
	if (strncmp(line, "AUTH LOGIN", 10) == 0) {
		f->login_step = 2;
		fake_reply(f, "334 VXNlcm5hbWU6\r\n");
	} else if (f->login_step == 2) {
		f->login_step = 1;
		fake_reply(f, "334 UGFzc3dvcmQ6\r\n");
	} else {
		f->login_step = 0;
		fake_reply(f, f->sc->auth);
	}
}

/* fake_command: one command line (CRLF included). */
static void fake_command(struct fake *f, const char *line)
{
	const struct script *sc = f->sc;

	if (f->login_step > 0 || strncmp(line, "AUTH", 4) == 0)
		fake_auth(f, line);
	else if (strncmp(line, "EHLO", 4) == 0)
		fake_reply(f, f->tls && sc->ehlo_tls != NULL ? sc->ehlo_tls : sc->ehlo);
	else if (strncmp(line, "HELO", 4) == 0)
		fake_reply(f, sc->helo);
	else if (strncmp(line, "STARTTLS", 8) == 0) {
		fake_reply(f, sc->starttls);
		f->start_tls = sc->starttls != NULL && strncmp(sc->starttls, "220", 3) == 0;
	} else if (strncmp(line, "MAIL", 4) == 0) {
		f->holding = sc->hold_until_data;
		fake_reply(f, sc->mail);
	}
	else if (strncmp(line, "RCPT", 4) == 0)
		fake_reply(f, sc->rcpt[f->rcpt_i++]);
	else if (strncmp(line, "DATA", 4) == 0) {
		f->holding = false;
		fake_reply(f, sc->data);
		if (sc->data != NULL && strncmp(sc->data, "354", 3) == 0) {
			f->in_data = true;
			dot_decoder_init(&f->dec);
		}
	} else if (strncmp(line, "RSET", 4) == 0) {
		if (!sc->hold_rset)
			fake_reply(f, sc->rset != NULL ? sc->rset : "250 2.0.0 reset\r\n");
	}
	else if (strncmp(line, "QUIT", 4) == 0)
		fake_reply(f, "221 2.0.0 bye\r\n");
	else
		fake_reply(f, "500 5.5.2 what?\r\n");
}

static void fake_input(struct fake *f)
{
	while (!f->start_tls) {
		const char *p = buf_cstr(f->in), *nl;
		size_t used;

		if (f->in_data && f->sc->close_in_data && buf_len(f->in) > 0) {
			shutdown(strm_fd(f->s), SHUT_RDWR);
			ev_io_remove(&f->io);
			return;
		}
		if (f->in_data) {
			if (dot_decode(&f->dec, p, buf_len(f->in), f->body, &used) == 1) {
				f->in_data = false;
				fake_reply(f, f->sc->dot);
			}
			buf_consume(f->in, used);
			if (f->in_data)
				return;
			continue;
		}
		if ((nl = memchr(p, '\n', buf_len(f->in))) == NULL)
			return;
		char *line = strndup(p, (size_t)(nl - p) + 1);

		buf_consume(f->in, (size_t)(nl - p) + 1);
		fake_command(f, line);
		free(line);
	}
}

/* fake_handshake: true once TLS is up (the SNI noted). */
static bool fake_handshake(struct fake *f)
{
	int r = strm_handshake(f->s);
	const char *sni;

	if (r == STRM_AGAIN) {
		fake_watch(f);
		return false;
	}
	f->tls_pending = false;
	if (r != STRM_OK) {
		ev_io_remove(&f->io); /* the client gave up */
		return false;
	}
	f->tls = true;
	sni = SSL_get_servername(strm_ssl(f->s), TLSEXT_NAMETYPE_host_name);
	snprintf(f->sni, sizeof(f->sni), "%s", sni != NULL ? sni : "");
	return true;
}

static void fake_on_io(void *ctx, int fd, int events)
{
	struct fake *f = ctx;
	const char *data;
	size_t len;
	int r;

	(void)fd;
	(void)events;
	if (f->tls_pending && !fake_handshake(f))
		return;
	while ((r = strm_read_bytes(f->s, 16384, &data, &len)) == STRM_OK) {
		buf_append(f->in, data, len);
		buf_append(f->seen, data, len);
	}
	if (r != STRM_AGAIN) {
		ev_io_remove(&f->io); /* the client closed */
		return;
	}
	fake_input(f);
	fake_flush(f);
}

static void fake_on_drip(void *ctx)
{
	struct fake *f = ctx;
	const char *g = f->sc->greeting;

	if (g[f->drip_at] != '\0')
		(void)!write(strm_fd(f->s), g + f->drip_at++, 1);
}

/* The client side: the message source and the results. */
struct run {
	ev_loop *loop;
	const char *body;
	size_t body_at, piece;
	bool body_fails, decline;
	int done_calls;
	struct trace_rec *trace;
	struct next_rec *next;
	struct park_rec *park;
};

struct trace_rec;
struct next_rec;
struct park_rec;

static ssize_t run_read_body(void *ctx, char *dst, size_t cap)
{
	struct run *r = ctx;
	size_t n = strlen(r->body) - r->body_at;

	if (r->body_fails && r->body_at > 0)
		return -1;
	n = n < cap ? n : cap;
	n = n < r->piece ? n : r->piece;
	memcpy(dst, r->body + r->body_at, n);
	r->body_at += n;
	return (ssize_t)n;
}

static bool run_rcpts_done(void *ctx, smtpc *c)
{
	struct run *r = ctx;

	return !r->decline && smtpc_accepted(c) > 0;
}

static void run_done(void *ctx, smtpc *c)
{
	struct run *r = ctx;

	(void)c;
	r->done_calls++;
	ev_stop(r->loop);
}

/* run_dialogue: the client against the script; returns the client (done)
 * and leaves the fake's record in f. */
static smtpc *run_dialogue(const struct script *sc, struct run *r, struct smtpc_msg *msg,
			   struct smtpc_config *cfg, struct fake *f)
{
	int sv[2];
	smtpc *c;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	r->loop = ev_loop_new();
	memset(f, 0, sizeof(*f));
	f->sc = sc;
	sock_set_nonblock(sv[1], true);
	f->s = strm_new(sv[1]);
	f->in = buf_new(0);
	f->out = buf_new(0);
	f->seen = buf_new(0);
	f->body = buf_new(0);
	f->io = ev_io_add(r->loop, sv[1], EV_READ, fake_on_io, f);
	if (sc->drip)
		f->drip = ev_timer_add(r->loop, 20, true, fake_on_drip, f);
	else if (sc->greeting != NULL)
		assert_int_equal(write(sv[1], sc->greeting, strlen(sc->greeting)),
				 (ssize_t)strlen(sc->greeting));
	if (sc->close_after_greeting)
		shutdown(sv[1], SHUT_WR);
	msg->read_body = run_read_body;
	msg->body_ctx = r;
	cfg->done = run_done;
	cfg->rcpts_done = run_rcpts_done;
	cfg->ctx = r;
	if (cfg->helo_name == NULL)
		cfg->helo_name = "client.test";
	if (cfg->timeouts.ms[0] == 0)
		smtpc_timeouts_default(&cfg->timeouts);
	if (r->piece == 0)
		r->piece = 7;
	c = smtpc_start(r->loop, sv[0], cfg, msg);
	assert_int_equal(ev_run(r->loop), 0);
	assert_int_equal(r->done_calls, 1);
	ev_io_remove(&f->io);
	ev_timer_remove(&f->drip);
	strm_free(&f->s);
	ev_loop_free(&r->loop);
	return c;
}

static void fake_free(struct fake *f)
{
	buf_free(&f->in);
	buf_free(&f->out);
	buf_free(&f->seen);
	buf_free(&f->body);
}

#define EHLO_PLAIN "250-fake.test\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250 DSN\r\n"
#define EHLO_PIPE "250-fake.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
#define OK "250 2.0.0 ok\r\n"
#define GO "354 go ahead\r\n"

static const char body1[] = "Subject: t\n\n.dot line\nplain\r\nno end";

static void test_plain_dialogue(void **state)
{
	struct script sc = { .greeting = "220 fake ESMTP\r\n", .ehlo = EHLO_PLAIN, .mail = OK,
			     .rcpt = { OK }, .data = GO, .dot = "250 2.0.0 queued as X\r\n" };
	struct smtpc_rcpt rcpts[] = { { .addr = "r1@x.test", .notify = "FAILURE" } };
	struct smtpc_msg msg = { .sender = "s@x.test", .rcpts = rcpts, .nrcpts = 1, .size = 42,
				 .body_type = "8BITMIME", .ret = "HDRS",
				 .envid = "a+b" };
	struct smtpc_config cfg = { 0 };
	struct run r = { .body = body1 };
	struct fake f;
	smtpc *c;

	(void)state;
	c = run_dialogue(&sc, &r, &msg, &cfg, &f);
	assert_int_equal(smtpc_error(c), SMTPC_ERR_NONE);
	assert_int_equal(smtpc_failed_stage(c), SMTPC_STAGES);
	assert_int_equal(smtpc_stage(c), SMTPC_QUIT);
	assert_int_equal(smtpc_accepted(c), 1);
	assert_int_equal(rcpts[0].code, 250);
	assert_string_equal(rcpts[0].reply, "250 2.0.0 ok");
	assert_string_equal(smtpc_reply_last_line(smtpc_reply_of(c, SMTPC_DOT)),
			    "250 2.0.0 queued as X");
	assert_true(smtpc_caps(c)->ext & SMTPC_EXT_DSN);
	assert_string_equal(buf_cstr(f.seen),
			    "EHLO client.test\r\n"
			    "MAIL FROM:<s@x.test> SIZE=42 BODY=8BITMIME RET=HDRS ENVID=a+2Bb\r\n"
			    "RCPT TO:<r1@x.test> NOTIFY=FAILURE\r\n"
			    "DATA\r\n"
			    "Subject: t\r\n\r\n..dot line\r\nplain\r\nno end\r\n.\r\n"
			    "QUIT\r\n");
	assert_string_equal(buf_cstr(f.body), "Subject: t\n\n.dot line\nplain\nno end\n");
	smtpc_free(&c);
	assert_null(rcpts[0].reply);
	fake_free(&f);
}

/* test_pipelining: the fake answers nothing until DATA arrived, so the
 * dialogue only ends if MAIL, both RCPTs and DATA went out together. */
static void test_pipelining(void **state)
{
	struct script sc = { .greeting = "220 fake\r\n", .ehlo = EHLO_PIPE, .mail = OK,
			     .rcpt = { "550 5.1.1 no such user\r\n", OK }, .data = GO,
			     .dot = OK, .hold_until_data = true };
	struct smtpc_rcpt rcpts[] = { { .addr = "bad@x.test", .notify = "NEVER" },
				      { .addr = "good@x.test" } };
	struct smtpc_msg msg = { .sender = "", .rcpts = rcpts, .nrcpts = 2, .size = 9 };
	struct smtpc_config cfg = { 0 };
	struct run r = { .body = "x\n" };
	struct fake f;
	smtpc *c;

	(void)state;
	smtpc_timeouts_default(&cfg.timeouts);
	cfg.timeouts.ms[SMTPC_MAIL] = 2000; /* a client that waits fails here */
	c = run_dialogue(&sc, &r, &msg, &cfg, &f);
	assert_int_equal(smtpc_error(c), SMTPC_ERR_NONE);
	assert_int_equal(smtpc_failed_stage(c), SMTPC_STAGES);
	assert_int_equal(rcpts[0].code, 550);
	assert_string_equal(rcpts[0].reply, "550 5.1.1 no such user");
	assert_int_equal(rcpts[1].code, 250);
	assert_int_equal(smtpc_accepted(c), 1);
	/* no SIZE, no DSN offered: no parameters */
	assert_string_equal(buf_cstr(f.seen), "EHLO client.test\r\nMAIL FROM:<>\r\n"
					      "RCPT TO:<bad@x.test>\r\nRCPT TO:<good@x.test>\r\n"
					      "DATA\r\nx\r\n.\r\nQUIT\r\n");
	smtpc_free(&c);
	fake_free(&f);
}

/* test_refusals: a table of scripts that end early, with the stage
 * refused and what the server got. */
static void test_refusals(void **state)
{
	static const struct {
		struct script sc;
		bool no_pipelining;
		enum smtpc_stage failed;
		enum smtpc_error error;
		const char *seen;
	} cases[] = {
		{ { .greeting = "554 go away\r\n" }, false, SMTPC_GREETING, SMTPC_ERR_NONE,
		  "QUIT\r\n" },
		{ { .greeting = "220 x\r\n", .ehlo = "502 no\r\n", .helo = "250 x\r\n",
		    .mail = "451 4.3.0 later\r\n" },
		  false, SMTPC_MAIL, SMTPC_ERR_NONE,
		  "EHLO client.test\r\nHELO client.test\r\nMAIL FROM:<s@x>\r\nQUIT\r\n" },
		{ { .greeting = "220 x\r\n", .ehlo = "502 no\r\n", .helo = "501 no\r\n" }, false,
		  SMTPC_HELO, SMTPC_ERR_NONE, "EHLO client.test\r\nHELO client.test\r\nQUIT\r\n" },
		{ { .greeting = "220 x\r\n", .ehlo = "421 busy\r\n" }, false, SMTPC_HELO,
		  SMTPC_ERR_NONE, "EHLO client.test\r\nQUIT\r\n" },
		/* every recipient refused: DATA (pipelined) gets 554, nothing sent */
		{ { .greeting = "220 x\r\n", .ehlo = EHLO_PIPE, .mail = OK,
		    .rcpt = { "550 no\r\n" }, .data = "554 5.5.1 no valid recipients\r\n" },
		  false, SMTPC_STAGES, SMTPC_ERR_NONE,
		  "EHLO client.test\r\nMAIL FROM:<s@x>\r\nRCPT TO:<r@x>\r\nDATA\r\nQUIT\r\n" },
		/* ... and without pipelining DATA is not even sent */
		{ { .greeting = "220 x\r\n", .ehlo = EHLO_PIPE, .mail = OK,
		    .rcpt = { "550 no\r\n" } },
		  true, SMTPC_STAGES, SMTPC_ERR_NONE,
		  "EHLO client.test\r\nMAIL FROM:<s@x>\r\nRCPT TO:<r@x>\r\nQUIT\r\n" },
		/* pipelined MAIL refused: the other replies are read, then QUIT */
		{ { .greeting = "220 x\r\n", .ehlo = EHLO_PIPE, .mail = "553 bad sender\r\n",
		    .rcpt = { "503 need MAIL\r\n" }, .data = "503 need RCPT\r\n" },
		  false, SMTPC_MAIL, SMTPC_ERR_NONE,
		  "EHLO client.test\r\nMAIL FROM:<s@x>\r\nRCPT TO:<r@x>\r\nDATA\r\nQUIT\r\n" },
		{ { .greeting = "220 x\r\n", .ehlo = EHLO_PIPE, .mail = OK, .rcpt = { OK },
		    .data = "451 later\r\n" },
		  false, SMTPC_DATA, SMTPC_ERR_NONE,
		  "EHLO client.test\r\nMAIL FROM:<s@x>\r\nRCPT TO:<r@x>\r\nDATA\r\nQUIT\r\n" },
		{ { .greeting = "220 x\r\n", .ehlo = EHLO_PIPE, .mail = OK, .rcpt = { OK },
		    .data = GO, .dot = "552 5.3.4 too big\r\n" },
		  false, SMTPC_DOT, SMTPC_ERR_NONE,
		  "EHLO client.test\r\nMAIL FROM:<s@x>\r\nRCPT TO:<r@x>\r\nDATA\r\nb\r\n.\r\n"
		  "QUIT\r\n" },
		/* garbage, a multi-line reply whose code changes, a close */
		{ { .greeting = "220 x\r\n", .ehlo = "hello there\r\n" }, false, SMTPC_STAGES,
		  SMTPC_ERR_PROTOCOL, "EHLO client.test\r\n" },
		{ { .greeting = "220-x\r\n221 y\r\n" }, false, SMTPC_STAGES, SMTPC_ERR_PROTOCOL,
		  "" },
		{ { .greeting = "220 x\r\n", .close_after_greeting = true }, false, SMTPC_STAGES,
		  SMTPC_ERR_CLOSED, "EHLO client.test\r\n" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpc_rcpt rcpts[] = { { .addr = "r@x" } };
		struct smtpc_msg msg = { .sender = "s@x", .rcpts = rcpts, .nrcpts = 1, .size = -1 };
		struct smtpc_config cfg = { .no_pipelining = cases[i].no_pipelining };
		struct run r = { .body = "b" };
		struct fake f;
		smtpc *c = run_dialogue(&cases[i].sc, &r, &msg, &cfg, &f);

		if (smtpc_failed_stage(c) != cases[i].failed || smtpc_error(c) != cases[i].error ||
		    strcmp(buf_cstr(f.seen), cases[i].seen) != 0)
			fail_msg("case %zu: failed %d error %d (%s) seen '%s'", i,
				 smtpc_failed_stage(c), smtpc_error(c), smtpc_error_text(c),
				 buf_cstr(f.seen));
		smtpc_free(&c);
		fake_free(&f);
	}
}

/* test_timeout: a server that never answers EHLO; the HELO stage's
 * timeout ends it. */
static void test_timeout(void **state)
{
	struct script sc = { .greeting = "220 x\r\n" };
	struct smtpc_rcpt rcpts[] = { { .addr = "r@x" } };
	struct smtpc_msg msg = { .sender = "s@x", .rcpts = rcpts, .nrcpts = 1, .size = -1 };
	struct smtpc_config cfg = { 0 };
	struct run r = { .body = "b" };
	struct fake f;
	smtpc *c;

	(void)state;
	smtpc_timeouts_default(&cfg.timeouts);
	cfg.timeouts.ms[SMTPC_HELO] = 30;
	c = run_dialogue(&sc, &r, &msg, &cfg, &f);
	assert_int_equal(smtpc_error(c), SMTPC_ERR_TIMEOUT);
	assert_int_equal(smtpc_stage(c), SMTPC_HELO);
	smtpc_free(&c);
	fake_free(&f);
}

/* test_abort_and_body_error: after 354 the client can only hang up, when
 * the caller declines or the body source fails; the fake gets no end of
 * data. */
static void test_abort_and_body_error(void **state)
{
	struct script sc = { .greeting = "220 x\r\n", .ehlo = EHLO_PIPE, .mail = OK,
			     .rcpt = { OK }, .data = GO, .dot = OK };
	(void)state;
	for (int fails = 0; fails < 2; fails++) {
		struct smtpc_rcpt rcpts[] = { { .addr = "r@x" } };
		struct smtpc_msg msg = { .sender = "s@x", .rcpts = rcpts, .nrcpts = 1, .size = -1 };
		struct smtpc_config cfg = { 0 };
		struct run r = { .body = "line one\nline two\n", .decline = !fails,
				 .body_fails = fails, .piece = 4 };
		struct fake f;
		smtpc *c = run_dialogue(&sc, &r, &msg, &cfg, &f);

		assert_int_equal(smtpc_error(c), fails ? SMTPC_ERR_BODY : SMTPC_ERR_ABORTED);
		assert_true(f.in_data); /* no ".": the server drops the message */
		assert_null(strstr(buf_cstr(f.seen), "QUIT"));
		smtpc_free(&c);
		fake_free(&f);
	}
}

/* test_large_body: 2 MB with dot lines, read in 64 KiB pieces, needs the
 * output flow control; the fake decodes it back exactly. */
static void test_large_body(void **state)
{
	struct script sc = { .greeting = "220 x\r\n", .ehlo = EHLO_PIPE, .mail = OK,
			     .rcpt = { OK }, .data = GO, .dot = OK };
	struct smtpc_rcpt rcpts[] = { { .addr = "r@x" } };
	struct smtpc_msg msg = { .sender = "s@x", .rcpts = rcpts, .nrcpts = 1, .size = -1 };
	struct smtpc_config cfg = { 0 };
	buf *big = buf_new(0);
	struct run r = { .piece = 65536 };
	struct fake f;
	smtpc *c;

	(void)state;
	while (buf_len(big) < 2 * 1024 * 1024)
		buf_printf(big, "%s line %zu of the body\n", buf_len(big) % 3 ? "." : "",
			   buf_len(big));
	r.body = buf_cstr(big);
	c = run_dialogue(&sc, &r, &msg, &cfg, &f);
	assert_int_equal(smtpc_error(c), SMTPC_ERR_NONE);
	assert_int_equal(smtpc_failed_stage(c), SMTPC_STAGES);
	assert_int_equal(buf_len(f.body), buf_len(big));
	assert_memory_equal(buf_cstr(f.body), buf_cstr(big), buf_len(big));
	smtpc_free(&c);
	fake_free(&f);
	buf_free(&big);
}

/* ---- TLS, AUTH and the checks before MAIL ---- */

/* Client contexts: one trusting the fake's certificate (mx.test), one
 * trusting only an unrelated certificate. */
static SSL_CTX *trusting_ctx, *stranger_ctx;
static char tls_dir[] = "/tmp/test_smtpc.XXXXXX";

static char *tls_path(const char *name)
{
	return xasprintf("%s/%s", tls_dir, name);
}

static int tls_group_setup(void **state)
{
	const char *mx[] = { "mx.test", NULL }, *other[] = { "other.test", NULL };
	char *cert = NULL, *key = NULL, *ocert = NULL, *okey = NULL, *err = NULL;
	int rc = -1;

	(void)state;
	if (mkdtemp(tls_dir) == NULL)
		return -1;
	cert = tls_path("mx.crt");
	key = tls_path("mx.key");
	ocert = tls_path("other.crt");
	okey = tls_path("other.key");
	if (tlsgen_self_signed(mx, TLSGEN_EC_P256, 2, cert, key, &err) < 0 ||
	    tlsgen_self_signed(other, TLSGEN_EC_P256, 2, ocert, okey, &err) < 0)
		goto out;
	server_ctx = tls_server_ctx_new(cert, key, NULL, &err);
	trusting_ctx = tls_client_ctx_from(&(struct tls_client_conf){ .ca_file = cert }, &err);
	if (server_ctx == NULL || trusting_ctx == NULL)
		goto out;
	/* the unrelated certificate doubles as the client certificate */
	stranger_ctx = tls_client_ctx_from(
		&(struct tls_client_conf){ .ca_file = ocert, .cert_file = ocert, .key_file = okey },
		&err);
	rc = stranger_ctx != NULL ? 0 : -1;
out:
	if (err != NULL)
		fprintf(stderr, "tls setup: %s\n", err);
	free(err);
	free(cert);
	free(key);
	free(ocert);
	free(okey);
	return rc;
}

static int tls_group_teardown(void **state)
{
	const char *names[] = { "mx.crt", "mx.key", "other.crt", "other.key" };

	(void)state;
	SSL_CTX_free(server_ctx);
	SSL_CTX_free(trusting_ctx);
	SSL_CTX_free(stranger_ctx);
	for (size_t i = 0; i < 4; i++) {
		char *p = tls_path(names[i]);

		unlink(p);
		free(p);
	}
	rmdir(tls_dir);
	return 0;
}

#define EHLO_TLS_OFFER "250-fake.test\r\n250-SIZE 1000\r\n250 STARTTLS\r\n"
#define EHLO_OVER_TLS "250-fake.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
#define SEEN_TLS_DELIVERY                                                             \
	"EHLO client.test\r\nSTARTTLS\r\n<TLS>EHLO client.test\r\nMAIL FROM:<s@x>\r\n" \
	"RCPT TO:<r@x>\r\nDATA\r\nb\r\n.\r\nQUIT\r\n"
#define SEEN_PLAIN_DELIVERY                                                        \
	"EHLO client.test\r\nMAIL FROM:<s@x> SIZE=10\r\nRCPT TO:<r@x>\r\nDATA\r\n" \
	"b\r\n.\r\nQUIT\r\n"

/* test_tls_levels: a table of security levels, servers and trust. The
 * capabilities said before TLS (SIZE) are forgotten after it: no SIZE=
 * goes out over TLS. */
static void test_tls_levels(void **state)
{
	static const struct script offer = { .greeting = "220 x\r\n", .ehlo = EHLO_TLS_OFFER,
					     .ehlo_tls = EHLO_OVER_TLS, .starttls = "220 go\r\n",
					     .mail = OK, .rcpt = { OK }, .data = GO, .dot = OK };
	static const struct script no_offer = { .greeting = "220 x\r\n", .ehlo = EHLO_PLAIN,
						.mail = OK, .rcpt = { OK }, .data = GO, .dot = OK };
	static const struct script refuse = { .greeting = "220 x\r\n", .ehlo = EHLO_TLS_OFFER,
					      .starttls = "454 4.7.0 TLS not available\r\n",
					      .mail = OK, .rcpt = { OK }, .data = GO, .dot = OK };
	static const struct script garbage = { .greeting = "220 x\r\n", .ehlo = EHLO_TLS_OFFER,
					       .starttls = "220 go\r\n", .tls_garbage = true };
	const struct {
		const struct script *sc;
		enum smtpc_tls_level level;
		bool stranger; /* trust only the unrelated certificate */
		const char *peername;
		enum smtpc_error error;
		bool used, verified;
		const char *seen;
	} cases[] = {
		{ &offer, SMTPC_TLS_NONE, false, "mx.test", SMTPC_ERR_NONE, false, false,
		  "EHLO client.test\r\nMAIL FROM:<s@x> SIZE=10\r\nRCPT TO:<r@x>\r\nDATA\r\n"
		  "b\r\n.\r\nQUIT\r\n" },
		{ &offer, SMTPC_TLS_MAY, false, "mx.test", SMTPC_ERR_NONE, true, true,
		  SEEN_TLS_DELIVERY },
		{ &offer, SMTPC_TLS_MAY, true, "mx.test", SMTPC_ERR_NONE, true, false,
		  SEEN_TLS_DELIVERY },
		{ &offer, SMTPC_TLS_MAY, false, "wrong.test", SMTPC_ERR_NONE, true, false,
		  SEEN_TLS_DELIVERY },
		{ &offer, SMTPC_TLS_ENCRYPT, true, NULL, SMTPC_ERR_NONE, true, false,
		  SEEN_TLS_DELIVERY },
		/* verify checks the name too (smtp_tls_verify_cert_match = hostname) */
		{ &offer, SMTPC_TLS_VERIFY, false, "wrong.test", SMTPC_ERR_TLS_VERIFY, false, false,
		  "EHLO client.test\r\nSTARTTLS\r\n<TLS>" },
		{ &offer, SMTPC_TLS_VERIFY, false, "mx.test", SMTPC_ERR_NONE, true, true,
		  SEEN_TLS_DELIVERY },
		{ &offer, SMTPC_TLS_VERIFY, false, "MX.Test", SMTPC_ERR_NONE, true, true,
		  SEEN_TLS_DELIVERY },
		{ &offer, SMTPC_TLS_VERIFY, false, "a.mx.test", SMTPC_ERR_TLS_VERIFY, false, false,
		  "EHLO client.test\r\nSTARTTLS\r\n<TLS>" },
		/* no name given: the chain alone */
		{ &offer, SMTPC_TLS_VERIFY, false, NULL, SMTPC_ERR_NONE, true, true,
		  SEEN_TLS_DELIVERY },
		/* a match list (a policy's match=) instead of the peer name */
		{ &offer, SMTPC_TLS_SECURE, false, "m:other.test:mx.test", SMTPC_ERR_NONE, true,
		  true, SEEN_TLS_DELIVERY },
		{ &offer, SMTPC_TLS_SECURE, false, "m:other.test:.test", SMTPC_ERR_NONE, true,
		  true, SEEN_TLS_DELIVERY },
		{ &offer, SMTPC_TLS_SECURE, false, "m:other.test:.mx.test", SMTPC_ERR_TLS_VERIFY,
		  false, false, "EHLO client.test\r\nSTARTTLS\r\n<TLS>" },
		{ &offer, SMTPC_TLS_VERIFY, true, "mx.test", SMTPC_ERR_TLS_VERIFY, false, false,
		  "EHLO client.test\r\nSTARTTLS\r\n<TLS>" },
		{ &offer, SMTPC_TLS_SECURE, false, "mx.test", SMTPC_ERR_NONE, true, true,
		  SEEN_TLS_DELIVERY },
		{ &offer, SMTPC_TLS_SECURE, false, "wrong.test", SMTPC_ERR_TLS_VERIFY, false, false,
		  "EHLO client.test\r\nSTARTTLS\r\n<TLS>" },
		{ &offer, SMTPC_TLS_SECURE, false, NULL, SMTPC_ERR_TLS_VERIFY, false, false,
		  "EHLO client.test\r\nQUIT\r\n" },
		{ &no_offer, SMTPC_TLS_MAY, false, "mx.test", SMTPC_ERR_NONE, false, false,
		  SEEN_PLAIN_DELIVERY },
		{ &no_offer, SMTPC_TLS_ENCRYPT, false, "mx.test", SMTPC_ERR_NO_STARTTLS, false,
		  false, "EHLO client.test\r\nQUIT\r\n" },
		{ &refuse, SMTPC_TLS_MAY, false, "mx.test", SMTPC_ERR_NONE, false, false,
		  "EHLO client.test\r\nSTARTTLS\r\nMAIL FROM:<s@x> SIZE=10\r\nRCPT TO:<r@x>\r\n"
		  "DATA\r\nb\r\n.\r\nQUIT\r\n" },
		{ &refuse, SMTPC_TLS_ENCRYPT, false, "mx.test", SMTPC_ERR_NO_STARTTLS, false,
		  false, "EHLO client.test\r\nSTARTTLS\r\nQUIT\r\n" },
		/* (the ClientHello follows what is seen) */
		{ &garbage, SMTPC_TLS_MAY, false, "mx.test", SMTPC_ERR_TLS, false, false,
		  "EHLO client.test\r\nSTARTTLS\r\n\x16" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpc_rcpt rcpts[] = { { .addr = "r@x" } };
		struct smtpc_msg msg = { .sender = "s@x", .rcpts = rcpts, .nrcpts = 1, .size = 10 };
		struct smtpc_config cfg = { .tls_level = cases[i].level,
					    .tls_ctx = cases[i].stranger ? stranger_ctx
									 : trusting_ctx,
					    .tls_peername = cases[i].peername,
					    .no_pipelining = true };
		/* "m:a:b": SNI "mx.test", the names a and b to match */
		char matchbuf[64];
		const char *match[4] = { NULL };

		if (cases[i].peername != NULL && strncmp(cases[i].peername, "m:", 2) == 0) {
			snprintf(matchbuf, sizeof(matchbuf), "%s", cases[i].peername + 2);
			match[0] = matchbuf;
			match[1] = strchr(matchbuf, ':') + 1;
			matchbuf[match[1] - matchbuf - 1] = '\0';
			cfg.tls_match = match;
			cfg.tls_peername = "mx.test";
		}
		struct run r = { .body = "b" };
		struct fake f;
		smtpc *c = run_dialogue(cases[i].sc, &r, &msg, &cfg, &f);
		const struct smtpc_tls *t = smtpc_tls(c);

		if (smtpc_error(c) != cases[i].error || t->used != cases[i].used ||
		    t->verified != cases[i].verified ||
		    strncmp(buf_cstr(f.seen), cases[i].seen, cases[i].sc->tls_garbage
								     ? strlen(cases[i].seen)
								     : buf_len(f.seen) + 1) != 0)
			fail_msg("case %zu: error %d (%s) used %d verified %d seen '%s'", i,
				 smtpc_error(c), smtpc_error_text(c), t->used, t->verified,
				 buf_cstr(f.seen));
		if (t->used) {
			assert_string_equal(t->protocol, "TLSv1.3");
			assert_true(strncmp(t->cipher, "TLS_", 4) == 0);
			assert_string_equal(f.sni, cfg.tls_peername ? cfg.tls_peername : "");
			assert_false(smtpc_caps(c)->ext & SMTPC_EXT_SIZE);
		}
		if (t->verified && cases[i].peername != NULL)
			assert_string_equal(t->peer_name, "mx.test");
		smtpc_free(&c);
		fake_free(&f);
	}
}

struct trace_rec {
	buf *lines;
};

static void trace_to(void *ctx, bool out, const char *line)
{
	struct trace_rec *t = ctx;

	buf_printf(t->lines, "%s %s\n", out ? ">" : "<", line);
}

static void trace_into(void *ctx, bool out, const char *line)
{
	trace_to(((struct run *)ctx)->trace, out, line);
}

/* test_auth: PLAIN and LOGIN over TLS, a 535, and the refusals before
 * any credentials go out. The trace never shows them. */
static void test_auth(void **state)
{
	static const struct script plain_tls = { .greeting = "220 x\r\n", .ehlo = EHLO_TLS_OFFER,
						 .ehlo_tls = EHLO_OVER_TLS,
						 .starttls = "220 go\r\n", .auth = "235 ok\r\n",
						 .mail = OK, .rcpt = { OK }, .data = GO,
						 .dot = OK };
	static const struct script login_tls = {
		.greeting = "220 x\r\n", .ehlo = EHLO_TLS_OFFER,
		.ehlo_tls = "250-fake.test\r\n250 AUTH=LOGIN\r\n", .starttls = "220 go\r\n",
		.auth = "235 ok\r\n", .mail = OK, .rcpt = { OK }, .data = GO, .dot = OK
	};
	static const struct script bad_pass = { .greeting = "220 x\r\n", .ehlo = EHLO_TLS_OFFER,
						.ehlo_tls = EHLO_OVER_TLS, .starttls = "220 go\r\n",
						.auth = "535 5.7.8 bad credentials\r\n" };
	static const struct script plain_only = { .greeting = "220 x\r\n",
						  .ehlo = "250-x\r\n250 AUTH PLAIN\r\n",
						  .auth = "235 ok\r\n", .mail = OK,
						  .rcpt = { OK }, .data = GO, .dot = OK };
	static const struct script no_auth = { .greeting = "220 x\r\n", .ehlo = EHLO_TLS_OFFER,
					       .starttls = "220 go\r\n" };
	static const struct script cram_only = { .greeting = "220 x\r\n", .ehlo = EHLO_TLS_OFFER,
						 .ehlo_tls = "250-x\r\n250 AUTH CRAM-MD5\r\n",
						 .starttls = "220 go\r\n" };
	const struct {
		const struct script *sc;
		enum smtpc_tls_level level;
		bool plaintext_ok;
		enum smtpc_error error;
		enum smtpc_stage failed;
		bool authenticated;
		const char *seen;
	} cases[] = {
		{ &plain_tls, SMTPC_TLS_MAY, false, SMTPC_ERR_NONE, SMTPC_STAGES, true,
		  "EHLO client.test\r\nSTARTTLS\r\n<TLS>EHLO client.test\r\n"
		  "AUTH PLAIN AHVzZXIAcGFzcw==\r\nMAIL FROM:<s@x>\r\nRCPT TO:<r@x>\r\n"
		  "DATA\r\nb\r\n.\r\nQUIT\r\n" },
		{ &login_tls, SMTPC_TLS_ENCRYPT, false, SMTPC_ERR_NONE, SMTPC_STAGES, true,
		  "EHLO client.test\r\nSTARTTLS\r\n<TLS>EHLO client.test\r\nAUTH LOGIN\r\n"
		  "dXNlcg==\r\ncGFzcw==\r\nMAIL FROM:<s@x>\r\nRCPT TO:<r@x>\r\n"
		  "DATA\r\nb\r\n.\r\nQUIT\r\n" },
		{ &bad_pass, SMTPC_TLS_MAY, false, SMTPC_ERR_NONE, SMTPC_AUTH, false,
		  "EHLO client.test\r\nSTARTTLS\r\n<TLS>EHLO client.test\r\n"
		  "AUTH PLAIN AHVzZXIAcGFzcw==\r\nQUIT\r\n" },
		{ &plain_only, SMTPC_TLS_MAY, false, SMTPC_ERR_NO_AUTH, SMTPC_STAGES, false,
		  "EHLO client.test\r\nQUIT\r\n" },
		{ &plain_only, SMTPC_TLS_NONE, true, SMTPC_ERR_NONE, SMTPC_STAGES, true,
		  "EHLO client.test\r\nAUTH PLAIN AHVzZXIAcGFzcw==\r\nMAIL FROM:<s@x>\r\n"
		  "RCPT TO:<r@x>\r\nDATA\r\nb\r\n.\r\nQUIT\r\n" },
		{ &no_auth, SMTPC_TLS_MAY, false, SMTPC_ERR_NO_AUTH, SMTPC_STAGES, false,
		  "EHLO client.test\r\nSTARTTLS\r\n<TLS>EHLO client.test\r\nQUIT\r\n" },
		{ &cram_only, SMTPC_TLS_MAY, false, SMTPC_ERR_NO_AUTH, SMTPC_STAGES, false,
		  "EHLO client.test\r\nSTARTTLS\r\n<TLS>EHLO client.test\r\nQUIT\r\n" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpc_rcpt rcpts[] = { { .addr = "r@x" } };
		struct smtpc_msg msg = { .sender = "s@x", .rcpts = rcpts, .nrcpts = 1, .size = -1 };
		struct smtpc_config cfg = { .tls_level = cases[i].level, .tls_ctx = trusting_ctx,
					    .tls_peername = "mx.test", .auth_user = "user",
					    .auth_pass = "pass",
					    .auth_plaintext = cases[i].plaintext_ok,
					    .no_pipelining = true, .trace = trace_into };
		struct trace_rec tr = { .lines = buf_new(0) };
		struct run r = { .body = "b", .trace = &tr };
		struct fake f;
		smtpc *c = run_dialogue(cases[i].sc, &r, &msg, &cfg, &f);

		if (smtpc_error(c) != cases[i].error || smtpc_failed_stage(c) != cases[i].failed ||
		    smtpc_authenticated(c) != cases[i].authenticated ||
		    strcmp(buf_cstr(f.seen), cases[i].seen) != 0)
			fail_msg("case %zu: error %d (%s) failed %d auth %d seen '%s'", i,
				 smtpc_error(c), smtpc_error_text(c), smtpc_failed_stage(c),
				 smtpc_authenticated(c), buf_cstr(f.seen));
		if (cases[i].failed == SMTPC_AUTH)
			assert_int_equal(smtpc_reply_of(c, SMTPC_AUTH)->code, 535);
		assert_null(strstr(buf_cstr(tr.lines), "AHVzZXIAcGFzcw=="));
		assert_null(strstr(buf_cstr(tr.lines), "cGFzcw=="));
		smtpc_free(&c);
		fake_free(&f);
		buf_free(&tr.lines);
	}
}

/* test_message_checks: what must not go to a server without the
 * extension it needs never goes (nothing after EHLO but QUIT), and the
 * parameters go where offered. */
static void test_message_checks(void **state)
{
	static const struct script plain = { .greeting = "220 x\r\n", .ehlo = EHLO_PLAIN,
					     .mail = OK, .rcpt = { OK }, .data = GO, .dot = OK };
	static const struct script utf8 = { .greeting = "220 x\r\n",
					    .ehlo = "250-x\r\n250-SMTPUTF8\r\n250 SIZE\r\n",
					    .mail = OK, .rcpt = { OK }, .data = GO, .dot = OK };
	const struct {
		const struct script *sc;
		long long size;
		bool smtputf8, need_8bitmime;
		const char *body_type;
		enum smtpc_error error;
		const char *seen;
	} cases[] = {
		{ &plain, 1001, false, false, NULL, SMTPC_ERR_TOO_BIG, "EHLO client.test\r\nQUIT\r\n" },
		{ &plain, 1000, false, false, NULL, SMTPC_ERR_NONE,
		  "EHLO client.test\r\nMAIL FROM:<s@x> SIZE=1000\r\n" },
		/* SIZE without a limit: any size goes */
		{ &utf8, 5000000, true, false, NULL, SMTPC_ERR_NONE,
		  "EHLO client.test\r\nMAIL FROM:<s@x> SIZE=5000000 SMTPUTF8\r\n" },
		{ &plain, 10, true, false, NULL, SMTPC_ERR_NO_SMTPUTF8,
		  "EHLO client.test\r\nQUIT\r\n" },
		{ &utf8, 10, false, true, "8BITMIME", SMTPC_ERR_NO_8BITMIME,
		  "EHLO client.test\r\nQUIT\r\n" },
		{ &utf8, 10, false, false, "8BITMIME", SMTPC_ERR_NONE,
		  "EHLO client.test\r\nMAIL FROM:<s@x> SIZE=10\r\n" },
		{ &plain, 10, false, true, "8BITMIME", SMTPC_ERR_NONE,
		  "EHLO client.test\r\nMAIL FROM:<s@x> SIZE=10 BODY=8BITMIME\r\n" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpc_rcpt rcpts[] = { { .addr = "r@x" } };
		struct smtpc_msg msg = { .sender = "s@x", .rcpts = rcpts, .nrcpts = 1,
					 .size = cases[i].size, .smtputf8 = cases[i].smtputf8,
					 .need_8bitmime = cases[i].need_8bitmime,
					 .body_type = cases[i].body_type };
		struct smtpc_config cfg = { .no_pipelining = true };
		struct run r = { .body = "b" };
		struct fake f;
		smtpc *c = run_dialogue(cases[i].sc, &r, &msg, &cfg, &f);
		const char *seen = buf_cstr(f.seen);

		if (smtpc_error(c) != cases[i].error ||
		    strncmp(seen, cases[i].seen, strlen(cases[i].seen)) != 0)
			fail_msg("case %zu: error %d (%s) seen '%s'", i, smtpc_error(c),
				 smtpc_error_text(c), seen);
		if (cases[i].error != SMTPC_ERR_NONE)
			assert_int_equal(smtpc_accepted(c), 0);
		else
			assert_non_null(strstr(seen, "\r\n.\r\nQUIT\r\n"));
		smtpc_free(&c);
		fake_free(&f);
	}
}

/* test_broken_servers: a close in the middle of the body, and a
 * multi-line reply that never ends: errors, never a delivery. */
static void test_broken_servers(void **state)
{
	struct script close_sc = { .greeting = "220 x\r\n", .ehlo = EHLO_PIPE, .mail = OK,
				   .rcpt = { OK }, .data = GO, .dot = OK,
				   .close_in_data = true };
	struct script endless = { .greeting = "220 x\r\n" };
	buf *lines = buf_new(0);

	(void)state;
	for (int i = 0; i < SMTPC_REPLY_LINES_MAX + 5; i++)
		buf_puts(lines, "250-still going\r\n");
	endless.ehlo = buf_cstr(lines);
	for (int i = 0; i < 2; i++) {
		struct smtpc_rcpt rcpts[] = { { .addr = "r@x" } };
		struct smtpc_msg msg = { .sender = "s@x", .rcpts = rcpts, .nrcpts = 1, .size = -1 };
		struct smtpc_config cfg = { 0 };
		/* a body much larger than the socket buffers */
		struct run r = { .body = NULL, .piece = 65536 };
		buf *body = buf_new(0);
		struct fake f;
		smtpc *c;

		while (buf_len(body) < 4 * 1024 * 1024)
			buf_puts(body, "a line of the body\n");
		r.body = buf_cstr(body);
		c = run_dialogue(i == 0 ? &close_sc : &endless, &r, &msg, &cfg, &f);
		if (i == 0) {
			assert_true(smtpc_error(c) == SMTPC_ERR_CLOSED ||
				    smtpc_error(c) == SMTPC_ERR_IO);
			assert_true(smtpc_stage(c) == SMTPC_BODY || smtpc_stage(c) == SMTPC_DOT);
			assert_int_equal(smtpc_reply_of(c, SMTPC_DOT)->code, 0);
		} else {
			assert_int_equal(smtpc_error(c), SMTPC_ERR_PROTOCOL);
			assert_int_equal(smtpc_stage(c), SMTPC_HELO);
		}
		smtpc_free(&c);
		fake_free(&f);
		buf_free(&body);
	}
	buf_free(&lines);
}

/* The second message of test_next_message and what the first left. */
struct next_rec {
	struct smtpc_msg *next;
	struct run body2;
	int calls;
	enum smtpc_error first_error;
	enum smtpc_stage first_failed;
	int first_codes[2];
	char first_reply[64];
};

static struct smtpc_msg *next_msg(void *ctx, smtpc *c)
{
	struct next_rec *n = ((struct run *)ctx)->next;

	if (n->calls++ > 0)
		return NULL;
	n->first_error = smtpc_error(c);
	n->first_failed = smtpc_failed_stage(c);
	snprintf(n->first_reply, sizeof(n->first_reply), "%s",
		 smtpc_reply_last_line(smtpc_reply_of(c, SMTPC_DOT)));
	n->next->read_body = run_read_body;
	n->next->body_ctx = &n->body2;
	return n->next;
}

/* test_next_message: two messages on one connection: after a delivery
 * MAIL follows at once; after a transaction left open (every recipient
 * refused) RSET comes first; after a message too big for the server
 * nothing of it went out and the next one goes. Each message keeps its
 * own results, a 5xx and a 2xx recipient in one transaction included. */
static void test_next_message(void **state)
{
	static const struct script sc = { .greeting = "220 x\r\n", .ehlo = EHLO_PLAIN,
					  .mail = OK, .rcpt = { "550 5.1.1 no\r\n", OK, OK },
					  .data = GO, .dot = "250 2.0.0 queued\r\n" };
	static const struct script refuse_all = { .greeting = "220 x\r\n", .ehlo = EHLO_PLAIN,
						  .mail = OK,
						  .rcpt = { "550 5.1.1 no\r\n", "550 no\r\n", OK },
						  .data = GO, .dot = OK };
	static const struct script ok_all = { .greeting = "220 x\r\n", .ehlo = EHLO_PLAIN,
					      .mail = OK, .rcpt = { OK, OK, OK }, .data = GO,
					      .dot = OK };
	const struct {
		const struct script *sc;
		long long size1;
		enum smtpc_error first_error;
		int first_codes[2];
		const char *seen;
	} cases[] = {
		{ &sc, 10, SMTPC_ERR_NONE, { 550, 250 },
		  "EHLO client.test\r\nMAIL FROM:<a@x> SIZE=10\r\nRCPT TO:<r1@x>\r\n"
		  "RCPT TO:<r2@x>\r\nDATA\r\none\r\n.\r\nMAIL FROM:<b@x> SIZE=10\r\n"
		  "RCPT TO:<r3@x>\r\nDATA\r\ntwo\r\n.\r\nQUIT\r\n" },
		{ &refuse_all, 10, SMTPC_ERR_NONE, { 550, 550 },
		  "EHLO client.test\r\nMAIL FROM:<a@x> SIZE=10\r\nRCPT TO:<r1@x>\r\n"
		  "RCPT TO:<r2@x>\r\nRSET\r\nMAIL FROM:<b@x> SIZE=10\r\n"
		  "RCPT TO:<r3@x>\r\nDATA\r\ntwo\r\n.\r\nQUIT\r\n" },
		{ &ok_all, 5000, SMTPC_ERR_TOO_BIG, { 0, 0 },
		  "EHLO client.test\r\nMAIL FROM:<b@x> SIZE=10\r\nRCPT TO:<r3@x>\r\n"
		  "DATA\r\ntwo\r\n.\r\nQUIT\r\n" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpc_rcpt rcpts1[] = { { .addr = "r1@x" }, { .addr = "r2@x" } };
		struct smtpc_rcpt rcpts2[] = { { .addr = "r3@x" } };
		struct smtpc_msg msg1 = { .sender = "a@x", .rcpts = rcpts1, .nrcpts = 2,
					  .size = cases[i].size1 };
		struct smtpc_msg msg2 = { .sender = "b@x", .rcpts = rcpts2, .nrcpts = 1, .size = 10 };
		struct next_rec n = { .next = &msg2, .body2 = { .body = "two", .piece = 7 } };
		struct smtpc_config cfg = { .no_pipelining = true, .next_msg = next_msg };
		struct run r = { .body = "one", .next = &n };
		struct fake f;
		smtpc *c = run_dialogue(cases[i].sc, &r, &msg1, &cfg, &f);

		if (strcmp(buf_cstr(f.seen), cases[i].seen) != 0 ||
		    n.first_error != cases[i].first_error ||
		    rcpts1[0].code != cases[i].first_codes[0] ||
		    rcpts1[1].code != cases[i].first_codes[1])
			fail_msg("case %zu: first error %d codes %d %d seen '%s'", i, n.first_error,
				 rcpts1[0].code, rcpts1[1].code, buf_cstr(f.seen));
		assert_int_equal(n.calls, 2);
		assert_int_equal(smtpc_messages(c), 1);
		assert_int_equal(smtpc_error(c), SMTPC_ERR_NONE);
		assert_int_equal(smtpc_failed_stage(c), SMTPC_STAGES);
		assert_int_equal(rcpts2[0].code, 250);
		assert_null(rcpts1[0].reply); /* freed when the next one came */
		if (i == 0)
			assert_string_equal(n.first_reply, "250 2.0.0 queued");
		smtpc_free(&c);
		fake_free(&f);
	}
}

/* test_orcpt: RFC 3461's xtext for "+", "=", control and 8-bit bytes. */
static void test_orcpt(void **state)
{
	static const struct {
		const char *addr, *want;
	} cases[] = {
		{ "a@x.test", "rfc822;a@x.test" },
		{ "a+b=c@x.test", "rfc822;a+2Bb+3Dc@x.test" },
		{ "sp ace@x", "rfc822;sp+20ace@x" },
		{ "\xc3\xa9@x", "rfc822;+C3+A9@x" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *v = addr_orcpt(cases[i].addr);

		assert_string_equal(v, cases[i].want);
		free(v);
	}
}

/* test_drip: a greeting dripping one byte every 20 ms never completes
 * within a 150 ms stage: the deadline is per reply, not per read. */
static void test_drip(void **state)
{
	struct script sc = { .greeting = "220 a rather long greeting that drips\r\n",
			     .drip = true };
	struct smtpc_rcpt rcpts[] = { { .addr = "r@x" } };
	struct smtpc_msg msg = { .sender = "s@x", .rcpts = rcpts, .nrcpts = 1, .size = -1 };
	struct smtpc_config cfg = { 0 };
	struct run r = { .body = "b" };
	struct fake f;
	smtpc *c;

	(void)state;
	smtpc_timeouts_default(&cfg.timeouts);
	cfg.timeouts.ms[SMTPC_GREETING] = 150;
	c = run_dialogue(&sc, &r, &msg, &cfg, &f);
	assert_int_equal(smtpc_error(c), SMTPC_ERR_TIMEOUT);
	assert_int_equal(smtpc_stage(c), SMTPC_GREETING);
	assert_string_equal(buf_cstr(f.seen), "");
	smtpc_free(&c);
	fake_free(&f);
}

/* ---- parking ---- */

enum park_action {
	PARK_RESUME, /* smtpc_resume with the second message */
	PARK_QUIT, /* smtpc_resume(NULL) */
	PARK_IDLE, /* nothing: park_idle_ms ends it */
	PARK_SERVER_SPEAKS, /* the fake says 421 */
	PARK_SERVER_CLOSES,
};

struct park_rec {
	enum park_action action;
	uint64_t after_ms;
	smtpc *c;
	struct fake *f;
	struct smtpc_msg *msg2;
	struct run body2;
	ev_loop **loop;
	ev_timer *timer;
	int next_calls;
	bool parked_after_resume;
	const char *release_rset; /* written by the fake after the resume */
};

static void park_act(void *ctx)
{
	struct park_rec *p = ctx;
	struct fake *f = p->f;

	ev_timer_remove(&p->timer);
	assert_true(smtpc_parked(p->c));
	switch (p->action) {
	case PARK_RESUME:
		p->msg2->read_body = run_read_body;
		p->msg2->body_ctx = &p->body2;
		smtpc_resume(p->c, p->msg2);
		p->parked_after_resume = smtpc_parked(p->c);
		break;
	case PARK_QUIT:
		smtpc_resume(p->c, NULL);
		p->parked_after_resume = smtpc_parked(p->c);
		break;
	case PARK_SERVER_SPEAKS:
		strm_puts(f->s, "421 4.4.2 fake.test idle too long\r\n");
		(void)strm_flush(f->s);
		break;
	case PARK_SERVER_CLOSES:
		shutdown(strm_fd(f->s), SHUT_WR);
		break;
	case PARK_IDLE:
		break;
	}
	if (p->release_rset != NULL) {
		strm_puts(f->s, p->release_rset);
		(void)strm_flush(f->s);
	}
}

static struct smtpc_msg *park_next(void *ctx, smtpc *c)
{
	struct run *r = ctx;
	struct park_rec *p = r->park;

	if (p->next_calls++ > 0)
		return NULL;
	p->c = c;
	if (p->action != PARK_IDLE)
		p->timer = ev_timer_add(r->loop, p->after_ms, false, park_act, p);
	return SMTPC_PARK;
}

/* test_park: next_msg parks the connection; the owner resumes it later
 * (with a message or QUIT), or the idle limit, the server's close or its
 * 421 end it. Parked longer than the RSET stage's time: no stage timer
 * runs while parked. A transaction left open is RSET before parking, and
 * a resume during that RSET waits for its 250 (or is not sent at all
 * when RSET is refused). */
static void test_park(void **state)
{
	static const struct script ok_all = { .greeting = "220 x\r\n", .ehlo = EHLO_PLAIN,
					      .mail = OK, .rcpt = { OK, OK, OK }, .data = GO,
					      .dot = OK };
	static const struct script refuse_then_ok = {
		.greeting = "220 x\r\n", .ehlo = EHLO_PLAIN, .mail = OK,
		.rcpt = { "550 5.1.1 no\r\n", "550 no\r\n", OK }, .data = GO, .dot = OK,
		.hold_rset = true
	};
#define FIRST "EHLO client.test\r\nMAIL FROM:<a@x> SIZE=10\r\nRCPT TO:<r1@x>\r\n" \
	      "RCPT TO:<r2@x>\r\n"
#define SECOND "MAIL FROM:<b@x> SIZE=10\r\nRCPT TO:<r3@x>\r\nDATA\r\ntwo\r\n.\r\n"
	const struct {
		const struct script *sc;
		enum park_action action;
		const char *release_rset;
		enum smtpc_error error;
		enum smtpc_stage stage, failed;
		bool parked_at_done;
		int code2;
		const char *seen;
	} cases[] = {
		{ &ok_all, PARK_RESUME, NULL, SMTPC_ERR_NONE, SMTPC_QUIT, SMTPC_STAGES, false, 250,
		  FIRST "DATA\r\none\r\n.\r\n" SECOND "QUIT\r\n" },
		{ &ok_all, PARK_QUIT, NULL, SMTPC_ERR_NONE, SMTPC_QUIT, SMTPC_STAGES, false, 0,
		  FIRST "DATA\r\none\r\n.\r\nQUIT\r\n" },
		{ &ok_all, PARK_IDLE, NULL, SMTPC_ERR_NONE, SMTPC_QUIT, SMTPC_STAGES, true, 0,
		  FIRST "DATA\r\none\r\n.\r\nQUIT\r\n" },
		{ &ok_all, PARK_SERVER_SPEAKS, NULL, SMTPC_ERR_PROTOCOL, SMTPC_RSET, SMTPC_STAGES,
		  true, 0, FIRST "DATA\r\none\r\n.\r\n" },
		{ &ok_all, PARK_SERVER_CLOSES, NULL, SMTPC_ERR_CLOSED, SMTPC_RSET, SMTPC_STAGES,
		  true, 0, FIRST "DATA\r\none\r\n.\r\n" },
		/* every recipient refused: RSET, then parked; resumed while the
		 * RSET is still unanswered */
		{ &refuse_then_ok, PARK_RESUME, "250 2.0.0 reset\r\n", SMTPC_ERR_NONE, SMTPC_QUIT,
		  SMTPC_STAGES, false, 250, FIRST "RSET\r\n" SECOND "QUIT\r\n" },
		{ &refuse_then_ok, PARK_RESUME, "554 5.5.1 no reset\r\n", SMTPC_ERR_NONE, SMTPC_QUIT,
		  SMTPC_RSET, false, 0, FIRST "RSET\r\nQUIT\r\n" },
		{ &refuse_then_ok, PARK_QUIT, "250 2.0.0 reset\r\n", SMTPC_ERR_NONE, SMTPC_QUIT,
		  SMTPC_STAGES, false, 0, FIRST "RSET\r\nQUIT\r\n" },
	};
#undef FIRST
#undef SECOND

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpc_rcpt rcpts1[] = { { .addr = "r1@x" }, { .addr = "r2@x" } };
		struct smtpc_rcpt rcpts2[] = { { .addr = "r3@x" } };
		struct smtpc_msg msg1 = { .sender = "a@x", .rcpts = rcpts1, .nrcpts = 2, .size = 10 };
		struct smtpc_msg msg2 = { .sender = "b@x", .rcpts = rcpts2, .nrcpts = 1, .size = 10 };
		struct fake f;
		struct park_rec p = { .action = cases[i].action, .after_ms = 100, .f = &f,
				      .msg2 = &msg2, .body2 = { .body = "two", .piece = 7 },
				      .release_rset = cases[i].release_rset };
		struct smtpc_config cfg = { .no_pipelining = true, .next_msg = park_next };
		struct run r = { .body = "one", .park = &p };
		smtpc *c;

		smtpc_timeouts_default(&cfg.timeouts);
		/* parked for 100 ms: a stage timer left running would fire */
		if (cases[i].release_rset == NULL)
			cfg.timeouts.ms[SMTPC_RSET] = 30;
		if (cases[i].action == PARK_IDLE)
			cfg.park_idle_ms = 60;
		c = run_dialogue(cases[i].sc, &r, &msg1, &cfg, &f);
		if (strcmp(buf_cstr(f.seen), cases[i].seen) != 0 ||
		    smtpc_error(c) != cases[i].error || smtpc_stage(c) != cases[i].stage ||
		    smtpc_failed_stage(c) != cases[i].failed ||
		    smtpc_parked(c) != cases[i].parked_at_done || rcpts2[0].code != cases[i].code2)
			fail_msg("case %zu: error %d (%s) stage %d failed %d parked %d code2 %d "
				 "seen '%s'",
				 i, smtpc_error(c), smtpc_error_text(c), smtpc_stage(c),
				 smtpc_failed_stage(c), smtpc_parked(c), rcpts2[0].code,
				 buf_cstr(f.seen));
		assert_false(p.parked_after_resume);
		assert_null(p.timer);
		assert_int_equal(p.next_calls, cases[i].code2 == 250 ? 2 : 1);
		assert_int_equal(smtpc_messages(c), cases[i].action == PARK_RESUME ? 1 : 0);
		assert_null(rcpts1[0].reply); /* let go when parked */
		if (cases[i].action == PARK_SERVER_SPEAKS)
			assert_non_null(strstr(smtpc_error_text(c), "421 4.4.2 fake.test idle"));
		smtpc_free(&c);
		fake_free(&f);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_dialogue),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_abort_and_body_error),
		cmocka_unit_test(test_large_body),
		cmocka_unit_test(test_tls_levels),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_message_checks),
		cmocka_unit_test(test_drip),
		cmocka_unit_test(test_broken_servers),
		cmocka_unit_test(test_next_message),
		cmocka_unit_test(test_orcpt),
		cmocka_unit_test(test_park),
	};

	signal(SIGPIPE, SIG_IGN); /* the fake writes to clients that hung up */
	return cmocka_run_group_tests(tests, tls_group_setup, tls_group_teardown);
}
