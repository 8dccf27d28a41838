/* test_conn.c: unit tests for lib/conn.c over a socketpair with a tiny
 * line-echo protocol: pipelined lines all answered in one run, a pause
 * that holds the reply back, conn_wait/conn_resume, close after flushing
 * the last reply (done called once), a peer that goes away (lost), the
 * idle timer and a fixed deadline that activity does not extend, and the
 * per-record deadline: a line dripped a byte at a time is cut off though
 * the idle timer never runs out, while whole lines keep the session; a
 * streaming step (FETCH, RETR) whose backed-up output drains just as it
 * stops is stepped again, not left waiting for input that never comes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "conn.h"
#include "sock.h"

struct echo {
	conn *c;
	int lines, lost, idles, done, late;
	bool pause_next, wait_next, close_on_quit;
};

static int echo_step(void *ctx)
{
	struct echo *e = ctx;
	const char *line;
	size_t len;
	int r = strm_read_line(conn_strm(e->c), 512, &line, &len);

	if (r != STRM_OK)
		return r;
	e->lines++;
	strm_write(conn_strm(e->c), line, len);
	if (len >= 4 && memcmp(line, "QUIT", 4) == 0)
		conn_close(e->c);
	if (e->pause_next) {
		e->pause_next = false;
		conn_pause(e->c, 150);
	}
	if (e->wait_next) {
		e->wait_next = false;
		conn_wait(e->c);
	}
	return STRM_OK;
}

static int echo_events(void *ctx)
{
	struct echo *e = ctx;

	return strm_wants(conn_strm(e->c));
}

static void echo_lost(void *ctx, int r)
{
	struct echo *e = ctx;

	(void)r;
	e->lost++;
}

static void echo_idle(void *ctx)
{
	struct echo *e = ctx;

	e->idles++;
	if (conn_record_late(e->c))
		e->late++;
	strm_puts(conn_strm(e->c), "bye\n");
	conn_close(e->c);
}

static void echo_done(void *ctx)
{
	struct echo *e = ctx;

	e->done++;
}

static const struct conn_ops echo_ops = {
	.step = echo_step, .events = echo_events, .lost = echo_lost,
	.idle = echo_idle, .done = echo_done,
};

struct fixture {
	ev_loop *loop;
	int peer;
	struct echo e;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sock_set_nonblock(sv[0], true);
	f->loop = ev_loop_new();
	f->peer = sv[1];
	f->e.c = conn_new(f->loop, sv[0], 2000, &echo_ops, &f->e);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->peer);
	for (int i = 0; i < 50 && f->e.done == 0; i++)
		ev_run_once(f->loop, 20);
	ev_loop_free(&f->loop);
	free(f);
	return 0;
}

/* spin: runs the loop for about ms. */
static void spin(struct fixture *f, int ms)
{
	for (int i = 0; i < ms / 10; i++)
		ev_run_once(f->loop, 10);
}

static size_t peer_read(struct fixture *f, char *out, size_t max)
{
	ssize_t n;

	sock_set_nonblock(f->peer, true);
	n = read(f->peer, out, max - 1);
	out[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

static void test_pipelined(void **state)
{
	struct fixture *f = *state;
	char got[256];

	assert_int_equal(write(f->peer, "a\nb\nc\n", 6), 6);
	spin(f, 50);
	assert_int_equal(f->e.lines, 3);
	peer_read(f, got, sizeof(got));
	assert_string_equal(got, "a\nb\nc\n");
}

static void test_pause_holds_reply(void **state)
{
	struct fixture *f = *state;
	char got[256];

	f->e.pause_next = true;
	assert_int_equal(write(f->peer, "x\ny\n", 4), 4);
	spin(f, 50);
	assert_int_equal(f->e.lines, 1); /* y waits too */
	assert_int_equal(peer_read(f, got, sizeof(got)), 0);
	spin(f, 200);
	assert_int_equal(f->e.lines, 2);
	peer_read(f, got, sizeof(got));
	assert_string_equal(got, "x\ny\n");
}

static void test_wait_resume(void **state)
{
	struct fixture *f = *state;
	char got[256];

	f->e.wait_next = true;
	assert_int_equal(write(f->peer, "x\ny\n", 4), 4);
	spin(f, 50);
	assert_int_equal(f->e.lines, 1);
	assert_true(conn_waiting(f->e.c));
	peer_read(f, got, sizeof(got));
	assert_string_equal(got, "x\n"); /* output still flows while waiting */
	conn_resume(f->e.c);
	spin(f, 30);
	assert_int_equal(f->e.lines, 2);
}

static void test_close_flushes_then_done(void **state)
{
	struct fixture *f = *state;
	char got[256];

	assert_int_equal(write(f->peer, "QUIT\nnot read\n", 14), 14);
	spin(f, 50);
	assert_int_equal(f->e.lines, 1);
	assert_int_equal(f->e.done, 1);
	peer_read(f, got, sizeof(got));
	assert_string_equal(got, "QUIT\n");
}

static void test_peer_gone(void **state)
{
	struct fixture *f = *state;

	shutdown(f->peer, SHUT_WR);
	spin(f, 50);
	assert_int_equal(f->e.lost, 1);
	assert_int_equal(f->e.done, 1);
}

static void test_idle_and_deadline(void **state)
{
	struct fixture *f = *state;
	char got[256];

	conn_set_idle(f->e.c, 100);
	for (int i = 0; i < 4; i++) { /* activity keeps it alive */
		assert_int_equal(write(f->peer, "k\n", 2), 2);
		spin(f, 60);
	}
	assert_int_equal(f->e.idles, 0);
	conn_set_deadline(f->e.c, 100);
	for (int i = 0; i < 4 && f->e.done == 0; i++) {
		if (write(f->peer, "k\n", 2) != 2)
			break;
		spin(f, 60);
	}
	assert_int_equal(f->e.idles, 1);
	assert_int_equal(f->e.done, 1);
	peer_read(f, got, sizeof(got));
	assert_non_null(strstr(got, "bye\n"));
}

/* drip: writes text one byte per step_ms, stopping once the conn is done. */
static void drip(struct fixture *f, const char *text, int step_ms)
{
	for (; *text != '\0' && f->e.done == 0; text++) {
		if (write(f->peer, text, 1) != 1)
			break;
		spin(f, step_ms);
	}
}

static void test_record_deadline(void **state)
{
	struct fixture *f = *state;
	char got[256];

	conn_set_idle(f->e.c, 1000);
	conn_set_record_deadline(f->e.c, 200);
	drip(f, "ab\ncd\nef\ngh\n", 30); /* each line within 200 ms: fine */
	assert_int_equal(f->e.lines, 4);
	assert_int_equal(f->e.idles, 0);
	drip(f, "0123456789012345\n", 30); /* one line over ~500 ms */
	spin(f, 50);
	assert_int_equal(f->e.idles, 1);
	assert_int_equal(f->e.late, 1);
	assert_int_equal(f->e.done, 1);
	assert_int_equal(f->e.lines, 4);
	peer_read(f, got, sizeof(got));
	assert_non_null(strstr(got, "bye\n"));
}

static void test_record_deadline_pipelined(void **state)
{
	struct fixture *f = *state;

	conn_set_idle(f->e.c, 1000);
	conn_set_record_deadline(f->e.c, 200);
	/* every write completes one line and begins the next: each line is
	 * whole within the deadline though part of a line is always waiting */
	assert_int_equal(write(f->peer, "a", 1), 1);
	for (int i = 0; i < 6 && f->e.done == 0; i++) {
		spin(f, 100);
		if (f->e.done == 0)
			assert_int_equal(write(f->peer, "\nb", 2), 2);
	}
	spin(f, 30);
	assert_int_equal(f->e.lines, 6);
	assert_int_equal(f->e.idles, 0);
	spin(f, 250); /* the last "b" never ends */
	assert_int_equal(f->e.late, 1);
}

static void test_record_deadline_off(void **state)
{
	struct fixture *f = *state;

	conn_set_idle(f->e.c, 1000);
	conn_set_record_deadline(f->e.c, 200);
	conn_set_record_deadline(f->e.c, 0);
	drip(f, "0123456789\n", 40);
	assert_int_equal(f->e.idles, 0);
	assert_int_equal(f->e.lines, 1);
}

/* ---- a streaming step: output in pieces while under a high-water mark ---- */

#define STREAM_TOTAL (2 * 1024 * 1024)
#define STREAM_HIGH (16 * 1024)

struct streamer {
	conn *c;
	int peer;
	size_t left, got;
	bool peer_drained; /* the peer read everything once, mid-run */
	int done;
};

/* drain_peer: what the peer can read now, counted. */
static void drain_peer(struct streamer *st)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(st->peer, buf, sizeof(buf))) > 0)
		st->got += (size_t)n;
}

/* stream_step: writes while under STREAM_HIGH; when the socket is full it
 * stops (STRM_AGAIN) as imapd's FETCH does. The first time, the peer reads
 * everything right then, before lib/conn's own flush: that flush then
 * empties the stream and no write event will ever come. */
static int stream_step(void *ctx)
{
	struct streamer *st = ctx;
	strm *s = conn_strm(st->c);
	static const char piece[4096] = { 'x' };
	int r;

	while (st->left > 0 && strm_unflushed(s) < STREAM_HIGH) {
		size_t n = st->left < sizeof(piece) ? st->left : sizeof(piece);

		strm_write(s, piece, n);
		st->left -= n;
	}
	r = strm_flush(s);
	if (r == STRM_AGAIN && !st->peer_drained) {
		st->peer_drained = true;
		drain_peer(st);
	}
	if (r != STRM_OK || st->left == 0)
		return r == STRM_OK ? STRM_AGAIN : r;
	return STRM_OK;
}

static int stream_events(void *ctx)
{
	struct streamer *st = ctx;

	return strm_wants(conn_strm(st->c));
}

static void stream_lost(void *ctx, int r)
{
	(void)ctx;
	(void)r;
}

static void stream_idle(void *ctx)
{
	(void)ctx;
}

static void stream_done(void *ctx)
{
	struct streamer *st = ctx;

	st->done++;
}

static const struct conn_ops stream_ops = {
	.step = stream_step, .events = stream_events, .lost = stream_lost,
	.idle = stream_idle, .done = stream_done,
};

static void test_stream_drained_in_between(void **state)
{
	struct streamer st = { .left = STREAM_TOTAL };
	ev_loop *loop = ev_loop_new();
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sock_set_nonblock(sv[0], true);
	sock_set_nonblock(sv[1], true);
	st.peer = sv[1];
	st.c = conn_new(loop, sv[0], 5000, &stream_ops, &st);
	conn_run(st.c);
	for (int i = 0; i < 500 && st.got < STREAM_TOTAL; i++) {
		ev_run_once(loop, 10);
		drain_peer(&st);
	}
	assert_true(st.peer_drained);
	assert_int_equal(st.got, STREAM_TOTAL);
	assert_int_equal(st.left, 0);
	conn_close(st.c);
	conn_run(st.c);
	assert_int_equal(st.done, 1);
	close(sv[1]);
	ev_loop_free(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_holds_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_flushes_then_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_and_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_deadline_pipelined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_deadline_off, setup, teardown),
		cmocka_unit_test(test_stream_drained_in_between),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
