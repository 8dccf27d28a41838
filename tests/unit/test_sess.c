/* test_sess.c: unit tests for lib/sess (the server-session layer) over
 * socketpairs with a tiny line protocol: the greeting and pipelined
 * commands, close after the last reply, the session limit, the hard and
 * soft error limits, over-long lines and floods, the idle timeout and a
 * wait it does not end, the shutdown drain, a lost peer, a session held
 * before its greeting (sess_hold / sess_begin), STARTTLS with
 * pipelined plaintext dropped, and the SASL glue
 * (PLAIN with and without an initial response, "*", challenges framed by
 * the protocol or by the session layer, failures with their
 * delay, the cut-off and the blocked address). */
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

#include "mem.h"
#include "sess.h"
#include "sock.h"
#include "tlsgen.h"

/* ---- the test protocol ---- */

struct server {
	sess_server *sv;
	struct sess_auth auth;
	authfail *fails;
	int opened, closed, quitting, tls_done;
	bool hold; /* t_open holds the next session (sess_hold) */
	char *user; /* the last login */
	struct client *last; /* the last session opened */
};

struct client {
	struct server *server;
	sess *base;
	bool busy;
};

static void say(struct client *c, const char *text)
{
	strm_puts(sess_strm(c->base), text);
}

static void *t_open(void *server_ctx, sess *base, int fd)
{
	struct client *c = xcalloc(1, sizeof(*c));

	(void)fd;
	c->server = server_ctx;
	c->base = base;
	c->server->opened++;
	c->server->last = c;
	sess_set_client(base, xstrdup("192.0.2.1"), xstrdup("test[192.0.2.1]"));
	if (c->server->hold)
		sess_hold(base);
	return c;
}

static void t_greet(void *ctx)
{
	say(ctx, "hello\r\n");
}

static void t_command(void *ctx, char *line, size_t len)
{
	struct client *c = ctx;

	sess_set_last(c->base, "CMD");
	if (strcmp(line, "QUIT") == 0) {
		say(c, "bye\r\n");
		sess_close(c->base);
	} else if (strcmp(line, "ERR") == 0) {
		say(c, "err\r\n");
		sess_error(c->base);
	} else if (strncmp(line, "AUTH ", 5) == 0) {
		sess_auth_start(c->base, &c->server->auth, line + 5, true);
	} else if (strcmp(line, "STARTTLS") == 0) {
		say(c, "go\r\n");
		sess_tls_start(c->base);
	} else if (strcmp(line, "WAIT") == 0) {
		sess_wait(c->base);
	} else if (strcmp(line, "BUSY") == 0) {
		c->busy = true;
		say(c, "busy\r\n");
	} else {
		strm_write(sess_strm(c->base), line, len);
		say(c, "\r\n");
	}
}

static void t_too_long(void *ctx, bool flood)
{
	say(ctx, flood ? "flood\r\n" : "long\r\n");
}

static const char *t_activity(void *ctx)
{
	(void)ctx;
	return NULL;
}

static bool t_busy(void *ctx)
{
	return ((struct client *)ctx)->busy;
}

static void t_timeout(void *ctx)
{
	say(ctx, "timeout\r\n");
}

static void t_too_many(void *ctx)
{
	say(ctx, "too many\r\n");
}

static void t_shutdown(void *ctx)
{
	say(ctx, "shutdown\r\n");
}

static void t_tls_done(void *ctx)
{
	((struct client *)ctx)->server->tls_done++;
}

static void t_quitting(void *ctx)
{
	((struct client *)ctx)->server->quitting++;
}

static void t_close(void *ctx)
{
	struct client *c = ctx;

	c->server->closed++;
	free(c);
}

static const struct sess_ops t_ops = {
	.open = t_open, .greet = t_greet, .command = t_command,
	.line_too_long = t_too_long, .activity = t_activity, .busy = t_busy,
	.timeout = t_timeout, .too_many_errors = t_too_many, .shutdown = t_shutdown,
	.tls_done = t_tls_done, .quitting = t_quitting, .close = t_close,
};

/* ---- SASL: one user, Alice / secret ---- */

static int verify_plain(void *ctx, const char *user, const char *password)
{
	(void)ctx;
	return strcmp(user, "Alice") == 0 && strcmp(password, "secret") == 0 ? SASL_OK
									     : SASL_FAIL;
}

static const struct sasl_backend backend = { .verify_plain = verify_plain };

static void a_challenge(void *ctx, const char *b64)
{
	say(ctx, "+ ");
	say(ctx, b64);
	say(ctx, "\r\n");
}

static void a_success(void *ctx, char *user, const char *mech)
{
	struct client *c = ctx;

	free(c->server->user);
	c->server->user = user;
	say(c, mech);
	say(c, " ok\r\n");
}

static void a_reply(void *ctx, enum sess_auth_event event, const char *reason)
{
	static const char *const names[] = {
		[SESS_AUTH_UNSUPPORTED] = "unsupported", [SESS_AUTH_FAILED] = "failed",
		[SESS_AUTH_CUT_OFF] = "cut off", [SESS_AUTH_BLOCKED] = "blocked",
		[SESS_AUTH_CANCELLED] = "cancelled", [SESS_AUTH_TEMP] = "temp",
		[SESS_AUTH_MALFORMED] = "malformed", [SESS_AUTH_TOO_LONG] = "too long",
	};

	(void)reason;
	say(ctx, names[event]);
	say(ctx, "\r\n");
}

/* ---- the fixture ---- */

static tls_server *t_tls; /* the STARTTLS case's setup */

struct fixture {
	ev_loop *loop;
	struct server server;
	int peer[2];
};

static struct fixture *make(int session_limit, int soft, uint64_t sleep_ms, int hard,
			    uint64_t idle_ms)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct sess_config config = {
		.session_limit = session_limit, .busy_reply = "busy\r\n", .idle_ms = idle_ms,
		.line_limit = 64, .soft_error_limit = soft, .error_sleep_ms = sleep_ms,
		.hard_error_limit = hard, .tls = &t_tls, .handshake_ms = 2000,
		.tls_command = "STARTTLS",
	};

	f->loop = ev_loop_new();
	f->server.sv = sess_server_new(f->loop, NULL, &config, &t_ops, &f->server);
	f->server.fails = authfail_new(16, 2, 60000, 100);
	f->server.auth = (struct sess_auth){
		.backend = &backend, .fails = f->server.fails, .mech_prefix = "SASL ",
		.user_key = "sasl_username", .command = "AUTH",
		.failures = "failed authentications", .challenge = a_challenge,
		.success = a_success, .reply = a_reply,
	};
	f->peer[0] = f->peer[1] = -1;
	return f;
}

static void spin(struct fixture *f, int ms)
{
	for (int i = 0; i < ms / 10; i++)
		ev_run_once(f->loop, 10);
}

/* connect: a new session; returns its index in f->peer. */
static int connect_one(struct fixture *f)
{
	int sv[2], i = f->peer[0] < 0 ? 0 : 1;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sock_set_nonblock(sv[0], true);
	sock_set_nonblock(sv[1], true);
	f->peer[i] = sv[1];
	sess_accept(f->server.sv, sv[0]);
	return i;
}

static void send_text(struct fixture *f, int i, const char *text)
{
	assert_int_equal(write(f->peer[i], text, strlen(text)), (ssize_t)strlen(text));
}

/* receive: what the session sent so far; "" for nothing, "EOF" appended
 * when it closed its end. */
static const char *receive(struct fixture *f, int i)
{
	static char got[4096];
	size_t used = 0;
	ssize_t n;

	while ((n = read(f->peer[i], got + used, sizeof(got) - 1 - used)) > 0)
		used += (size_t)n;
	got[used] = '\0';
	if (n == 0)
		strcat(got, "EOF");
	return got;
}

static void finish(struct fixture *f)
{
	for (int i = 0; i < 2; i++)
		if (f->peer[i] >= 0)
			close(f->peer[i]);
	for (int i = 0; i < 50 && sess_server_count(f->server.sv) > 0; i++)
		ev_run_once(f->loop, 10);
	assert_int_equal(sess_server_count(f->server.sv), 0);
	assert_int_equal(f->server.opened, f->server.closed);
	sess_server_free(&f->server.sv);
	authfail_free(&f->server.fails);
	free(f->server.user);
	ev_loop_free(&f->loop);
	free(f);
}

/* ---- the cases ---- */

static void test_pipelined_then_quit(void **state)
{
	struct fixture *f = make(10, 10, 0, 20, 5000);
	int p = connect_one(f);

	(void)state;
	send_text(f, p, "one\r\ntwo\nQUIT\r\nnot read\r\n");
	spin(f, 50);
	assert_string_equal(receive(f, p), "hello\r\none\r\ntwo\r\nbye\r\nEOF");
	assert_int_equal(f->server.closed, 1);
	assert_int_equal(f->server.quitting, 1);
	assert_int_equal(sess_server_count(f->server.sv), 0);
	finish(f);
}

static void test_session_limit(void **state)
{
	struct fixture *f = make(1, 10, 0, 20, 5000);
	int a = connect_one(f), b = connect_one(f);

	(void)state;
	spin(f, 30);
	assert_string_equal(receive(f, b), "busy\r\nEOF");
	assert_string_equal(receive(f, a), "hello\r\n");
	assert_int_equal(f->server.opened, 1);
	assert_int_equal(sess_server_count(f->server.sv), 1);
	finish(f);
}

static void test_hard_error_limit(void **state)
{
	struct fixture *f = make(10, 10, 0, 3, 5000);
	int p = connect_one(f);

	(void)state;
	send_text(f, p, "ERR\r\nERR\r\nERR\r\nnot read\r\n");
	spin(f, 50);
	assert_string_equal(receive(f, p), "hello\r\nerr\r\nerr\r\nerr\r\ntoo many\r\nEOF");
	finish(f);
}

static void test_soft_error_limit_sleeps(void **state)
{
	struct fixture *f = make(10, 2, 200, 10, 5000);
	int p = connect_one(f);

	(void)state;
	send_text(f, p, "ERR\r\n");
	spin(f, 30);
	assert_string_equal(receive(f, p), "hello\r\nerr\r\n");
	send_text(f, p, "ERR\r\nnext\r\n");
	spin(f, 50);
	assert_string_equal(receive(f, p), ""); /* the second error reply waits */
	spin(f, 300);
	assert_string_equal(receive(f, p), "err\r\nnext\r\n");
	finish(f);
}

static void test_line_too_long(void **state)
{
	struct fixture *f = make(10, 10, 0, 20, 5000);
	int p = connect_one(f);
	char line[101];

	(void)state;
	memset(line, 'x', 100);
	line[100] = '\0';
	send_text(f, p, line);
	send_text(f, p, "\r\nafter\r\n");
	spin(f, 50);
	assert_string_equal(receive(f, p), "hello\r\nlong\r\nafter\r\n");
	finish(f);
}

static void test_flood(void **state)
{
	struct fixture *f = make(10, 10, 0, 20, 5000);
	int p = connect_one(f);
	char junk[400];

	(void)state;
	memset(junk, 'x', sizeof(junk));
	assert_int_equal(write(f->peer[p], junk, sizeof(junk)), (ssize_t)sizeof(junk));
	spin(f, 50);
	assert_string_equal(receive(f, p), "hello\r\nlong\r\nflood\r\nEOF");
	finish(f);
}

static void test_idle_timeout(void **state)
{
	struct fixture *f = make(10, 10, 0, 20, 100);
	int p = connect_one(f);

	(void)state;
	spin(f, 200);
	assert_string_equal(receive(f, p), "hello\r\ntimeout\r\nEOF");
	finish(f);
}

static void test_wait_outlives_idle(void **state)
{
	struct fixture *f = make(10, 10, 0, 20, 100);
	int p = connect_one(f);

	(void)state;
	send_text(f, p, "WAIT\r\nlater\r\n");
	spin(f, 300);
	assert_string_equal(receive(f, p), "hello\r\n");
	assert_int_equal(sess_server_count(f->server.sv), 1);
	sess_server_stop(f->server.sv);
	spin(f, 20);
	assert_string_equal(receive(f, p), ""); /* waiting: not stopped */
	sess_resume(f->server.last->base);
	spin(f, 20);
	assert_string_equal(receive(f, p), "later\r\n");
	finish(f);
}

static void test_hold_then_begin(void **state)
{
	struct fixture *f = make(10, 10, 0, 20, 100);
	int p;

	(void)state;
	f->server.hold = true;
	p = connect_one(f);
	send_text(f, p, "early\r\n");
	spin(f, 300); /* longer than the idle timeout */
	assert_string_equal(receive(f, p), ""); /* no greeting, nothing read */
	assert_int_equal(sess_server_count(f->server.sv), 1);
	sess_begin(f->server.last->base);
	spin(f, 30);
	assert_string_equal(receive(f, p), "hello\r\nearly\r\n");
	finish(f);
}

static void test_hold_then_stop(void **state)
{
	struct fixture *f = make(10, 10, 0, 20, 5000);
	int p;

	(void)state;
	f->server.hold = true;
	p = connect_one(f);
	sess_server_stop(f->server.sv);
	spin(f, 30);
	assert_string_equal(receive(f, p), ""); /* held: not told yet */
	sess_begin(f->server.last->base);
	spin(f, 30);
	assert_string_equal(receive(f, p), "shutdown\r\nEOF");
	assert_int_equal(sess_server_count(f->server.sv), 0);
	finish(f);
}

static void test_stop_drains(void **state)
{
	struct fixture *f = make(10, 10, 0, 20, 5000);
	int a = connect_one(f), b = connect_one(f);

	(void)state;
	send_text(f, b, "BUSY\r\n");
	spin(f, 30);
	receive(f, a);
	receive(f, b);
	sess_server_stop(f->server.sv);
	spin(f, 30);
	assert_string_equal(receive(f, a), "shutdown\r\nEOF");
	assert_string_equal(receive(f, b), ""); /* busy: let it finish */
	assert_int_equal(sess_server_count(f->server.sv), 1);
	send_text(f, b, "QUIT\r\n");
	spin(f, 30);
	assert_string_equal(receive(f, b), "bye\r\nEOF");
	finish(f);
}

static void test_peer_gone(void **state)
{
	struct fixture *f = make(10, 10, 0, 20, 5000);
	int p = connect_one(f);

	(void)state;
	spin(f, 20);
	shutdown(f->peer[p], SHUT_WR);
	spin(f, 30);
	assert_int_equal(f->server.closed, 1);
	assert_int_equal(f->server.quitting, 1);
	finish(f);
}

/* ---- STARTTLS ---- */

/* client_tls: the peer's end of a handshake, driven with the loop. */
static strm *client_tls(struct fixture *f, int i, SSL_CTX *ctx)
{
	strm *cs = strm_new(f->peer[i]);
	int r = STRM_AGAIN;

	f->peer[i] = -1;
	strm_start_tls(cs, ctx, false, NULL);
	for (int n = 0; n < 200 && r == STRM_AGAIN; n++) {
		r = strm_handshake(cs);
		ev_run_once(f->loop, 10);
	}
	assert_int_equal(r, STRM_OK);
	return cs;
}

static void test_starttls_drops_plaintext(void **state)
{
	struct fixture *f = make(10, 10, 0, 3, 5000);
	char dir[] = "/tmp/test_sess.XXXXXX";
	const char *names[] = { "sess.test", NULL };
	char *cert, *key, *err = NULL;
	SSL_CTX *client_ctx = tls_client_ctx_new(NULL, 0, &err);
	const char *line;
	size_t len;
	int p, r = STRM_AGAIN;
	strm *cs;

	(void)state;
	assert_non_null(mkdtemp(dir));
	cert = xasprintf("%s/cert.pem", dir);
	key = xasprintf("%s/key.pem", dir);
	assert_int_equal(tlsgen_self_signed(names, TLSGEN_EC_P256, 1, cert, key, &err), 0);
	t_tls = tls_server_new(&(struct tls_server_conf){ .cert_file = cert, .key_file = key },
			       &err);
	assert_non_null(t_tls);
	p = connect_one(f);
	send_text(f, p, "ERR\r\nERR\r\nSTARTTLS\r\nQUIT\r\n"); /* QUIT: injected */
	spin(f, 50);
	assert_string_equal(receive(f, p), "hello\r\nerr\r\nerr\r\ngo\r\n");
	cs = client_tls(f, p, client_ctx);
	assert_int_equal(f->server.tls_done, 1);
	strm_puts(cs, "ERR\r\nERR\r\nover TLS\r\n"); /* the error count starts again */
	assert_int_equal(strm_flush(cs), STRM_OK);
	for (int i = 0; i < 3; i++) {
		static const char *const want[] = { "err\r\n", "err\r\n", "over TLS\r\n" };

		r = STRM_AGAIN;
		for (int n = 0; n < 100 && r == STRM_AGAIN; n++) {
			ev_run_once(f->loop, 10);
			r = strm_read_line(cs, 100, &line, &len);
		}
		assert_int_equal(r, STRM_OK);
		assert_int_equal(len, strlen(want[i]));
		assert_memory_equal(line, want[i], len);
	}
	strm_free(&cs);
	finish(f);
	tls_server_free(&t_tls);
	SSL_CTX_free(client_ctx);
	unlink(cert);
	unlink(key);
	rmdir(dir);
	free(cert);
	free(key);
}

/* ---- SASL ---- */

static void test_auth_initial_response(void **state)
{
	struct fixture *f = make(10, 10, 0, 20, 5000);
	int p = connect_one(f);

	(void)state;
	/* "\0Alice\0secret" */
	send_text(f, p, "AUTH plain AEFsaWNlAHNlY3JldA==\r\nnext\r\n");
	spin(f, 50);
	assert_string_equal(receive(f, p), "hello\r\nPLAIN ok\r\nnext\r\n");
	assert_string_equal(f->server.user, "alice");
	finish(f);
}

static void test_auth_exchange_and_cancel(void **state)
{
	struct fixture *f = make(10, 10, 0, 20, 5000);
	int p = connect_one(f);

	(void)state;
	send_text(f, p, "AUTH PLAIN\r\nAEFsaWNlAHNlY3JldA==\r\nAUTH PLAIN\r\n*\r\nAUTH NONE\r\n");
	spin(f, 50);
	assert_string_equal(receive(f, p), "hello\r\n+ \r\nPLAIN ok\r\n+ \r\ncancelled\r\n"
					   "unsupported\r\n");
	finish(f);
}

/* test_auth_continuation: with auth.continuation the session layer frames
 * the challenge itself (the protocol's callback is not called). */
static void test_auth_continuation(void **state)
{
	struct fixture *f = make(10, 10, 0, 20, 5000);
	int p = connect_one(f);

	(void)state;
	f->server.auth.challenge = NULL;
	f->server.auth.continuation = "> ";
	send_text(f, p, "AUTH PLAIN\r\nAEFsaWNlAHNlY3JldA==\r\n");
	spin(f, 50);
	assert_string_equal(receive(f, p), "hello\r\n> \r\nPLAIN ok\r\n");
	finish(f);
}

static void test_auth_failures_cut_off(void **state)
{
	struct fixture *f = make(10, 10, 0, 20, 5000);
	int p = connect_one(f);

	(void)state;
	/* "\0Alice\0wrong" */
	send_text(f, p, "AUTH PLAIN AEFsaWNlAHdyb25n\r\nAUTH PLAIN AEFsaWNlAHdyb25n\r\n");
	spin(f, 50);
	assert_string_equal(receive(f, p), "hello\r\n"); /* the first reply waits */
	spin(f, 200);
	assert_string_equal(receive(f, p), "failed\r\nfailed\r\ncut off\r\nEOF");
	close(f->peer[p]);
	f->peer[p] = -1;
	p = connect_one(f); /* the same address: blocked up front */
	send_text(f, p, "AUTH PLAIN AEFsaWNlAHNlY3JldA==\r\n");
	spin(f, 50);
	assert_string_equal(receive(f, p), "hello\r\nblocked\r\nEOF");
	finish(f);
}

static void test_auth_response_too_long(void **state)
{
	struct fixture *f = make(10, 10, 0, 20, 5000);
	int p = connect_one(f);
	size_t n = SASL_LINE_MAX + 100;
	char *junk = xmalloc(n);

	(void)state;
	memset(junk, 'A', n);
	send_text(f, p, "AUTH PLAIN\r\n");
	spin(f, 20);
	assert_int_equal(write(f->peer[p], junk, n), (ssize_t)n);
	send_text(f, p, "\r\nafter\r\n");
	for (int i = 0; i < 10; i++)
		spin(f, 20);
	assert_string_equal(receive(f, p), "hello\r\n+ \r\ntoo long\r\nafter\r\n");
	free(junk);
	finish(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_then_quit),
		cmocka_unit_test(test_session_limit),
		cmocka_unit_test(test_hard_error_limit),
		cmocka_unit_test(test_soft_error_limit_sleeps),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_flood),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_wait_outlives_idle),
		cmocka_unit_test(test_hold_then_begin),
		cmocka_unit_test(test_hold_then_stop),
		cmocka_unit_test(test_stop_drains),
		cmocka_unit_test(test_peer_gone),
		cmocka_unit_test(test_starttls_drops_plaintext),
		cmocka_unit_test(test_auth_initial_response),
		cmocka_unit_test(test_auth_exchange_and_cancel),
		cmocka_unit_test(test_auth_continuation),
		cmocka_unit_test(test_auth_failures_cut_off),
		cmocka_unit_test(test_auth_response_too_long),
	};

	signal(SIGPIPE, SIG_IGN); /* as the daemons: a gone peer is an error code */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
