/* test_smtpc.c: unit tests for lib/smtpc.c, the event-driven SMTP client,
 * against a scripted fake server on the same event loop (a socketpair).
 * The fake answers each command from the test's script, records every
 * byte it gets and decodes the message with lib/dot. Checked: the exact
 * commands and parameters sent, pipelining (a server that answers
 * nothing before DATA arrives), HELO fallback, per-recipient results,
 * refusals at each stage, garbage, a timeout, a closed connection, a
 * body source error, the abort after 354 and a large body that needs
 * the output flow control. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "dot.h"
#include "ev.h"
#include "smtpc.h"
#include "sock.h"
#include "strm.h"
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
	} else if (strncmp(line, "QUIT", 4) == 0)
		fake_reply(f, "221 2.0.0 bye\r\n");
	else
		fake_reply(f, "500 5.5.2 what?\r\n");
}

static void fake_input(struct fake *f)
{
	while (!f->start_tls) {
		const char *p = buf_cstr(f->in), *nl;
		size_t used;

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
};

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_dialogue),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_abort_and_body_error),
		cmocka_unit_test(test_large_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
