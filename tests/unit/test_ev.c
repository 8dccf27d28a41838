/* test_ev.c: unit tests for lib/ev.c, the epoll event loop.
 * Covers fd readiness on pipes and socketpairs, silent and exclusive
 * watchers, hang-up reporting, removal of watchers from inside callbacks
 * (self and another watcher whose event sits in the same batch), timer
 * order, repeat, reset and removal, heap order over 10000 random timers,
 * signals through signalfd, and ev_stop. Timers are a few milliseconds
 * so the whole file runs well under a second. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ev.h"

/* Upper bound on the loop iterations a test waits for something. */
#define MAX_ROUNDS 200

static uint64_t test_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void make_pipe(int fds[2])
{
	assert_int_equal(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
}

static void make_socketpair(int fds[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
}

static bool signal_is_blocked(int signo)
{
	sigset_t cur;

	sigprocmask(SIG_BLOCK, NULL, &cur);
	return sigismember(&cur, signo) == 1;
}

/* ---- fd watchers ---- */

struct io_rec {
	int calls;
	int last_fd;
	int last_events;
	char data[16];
	ssize_t nread;
};

static void io_rec_cb(void *ctx, int fd, int events)
{
	struct io_rec *r = ctx;

	r->calls++;
	r->last_fd = fd;
	r->last_events = events;
	if (events & EV_READ)
		r->nread = read(fd, r->data, sizeof(r->data));
}

static void test_io_read_write(void **state)
{
	ev_loop *loop = ev_loop_new();
	struct io_rec rd = { 0 }, wr = { 0 };
	int sv[2];
	ev_io *rio, *wio;

	(void)state;
	make_socketpair(sv);
	rio = ev_io_add(loop, sv[0], EV_READ, io_rec_cb, &rd);
	wio = ev_io_add(loop, sv[1], EV_WRITE, io_rec_cb, &wr);

	/* Nothing to read yet; the other end is writable at once. */
	assert_int_equal(ev_run_once(loop, 100), 0);
	assert_int_equal(rd.calls, 0);
	assert_int_equal(wr.calls, 1);
	assert_int_equal(wr.last_fd, sv[1]);
	assert_int_equal(wr.last_events, EV_WRITE);

	ev_io_set_events(wio, 0);
	assert_int_equal(write(sv[1], "hello", 5), 5);
	assert_int_equal(ev_run_once(loop, 100), 0);
	assert_int_equal(rd.calls, 1);
	assert_int_equal(rd.last_fd, sv[0]);
	assert_int_equal(rd.last_events, EV_READ);
	assert_int_equal(rd.nread, 5);
	assert_memory_equal(rd.data, "hello", 5);
	assert_int_equal(wr.calls, 1);

	ev_io_remove(&rio);
	ev_io_remove(&wio);
	assert_null(rio);
	assert_null(wio);
	close(sv[0]);
	close(sv[1]);
	ev_loop_free(&loop);
	assert_null(loop);
}

/* Table: which events a watcher asks for, and what a writable socket with
 * "x" waiting to be read reports. */
static const struct {
	int events;
	int expect_calls;
	int expect_events;
} set_events_cases[] = {
	{ 0, 0, 0 },
	{ EV_READ, 1, EV_READ },
	{ EV_WRITE, 1, EV_WRITE },
	{ EV_READ | EV_WRITE, 1, EV_READ | EV_WRITE },
	{ 0, 0, 0 },
};

static void test_io_set_events(void **state)
{
	ev_loop *loop = ev_loop_new();
	struct io_rec r = { 0 };
	int sv[2];
	ev_io *io;

	(void)state;
	make_socketpair(sv);
	assert_int_equal(write(sv[1], "x", 1), 1);
	/* io_rec_cb consumes the byte on EV_READ; the loop writes it back. */
	io = ev_io_add(loop, sv[0], 0, io_rec_cb, &r);
	for (size_t i = 0; i < sizeof(set_events_cases) / sizeof(set_events_cases[0]); i++) {
		memset(&r, 0, sizeof(r));
		ev_io_set_events(io, set_events_cases[i].events);
		assert_int_equal(ev_run_once(loop, 0), 0);
		assert_int_equal(r.calls, set_events_cases[i].expect_calls);
		if (r.calls > 0) {
			assert_int_equal(r.last_events, set_events_cases[i].expect_events);
			if (r.last_events & EV_READ) {
				/* Put the byte back for the next case. */
				assert_int_equal(r.nread, 1);
				assert_int_equal(write(sv[1], "x", 1), 1);
			}
		}
	}
	ev_io_remove(&io);
	close(sv[0]);
	close(sv[1]);
	ev_loop_free(&loop);
}

/* An EV_EXCLUSIVE watcher (EPOLLEXCLUSIVE, which epoll cannot modify)
 * goes through the same changes of events as an ordinary one. */
static void test_io_exclusive(void **state)
{
	ev_loop *loop = ev_loop_new();
	struct io_rec r = { 0 };
	int sv[2];
	ev_io *io;

	(void)state;
	make_socketpair(sv);
	assert_int_equal(write(sv[1], "x", 1), 1);
	io = ev_io_add(loop, sv[0], EV_READ | EV_EXCLUSIVE, io_rec_cb, &r);
	assert_int_equal(ev_run_once(loop, 0), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.last_events, EV_READ);
	for (size_t i = 0; i < sizeof(set_events_cases) / sizeof(set_events_cases[0]); i++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(write(sv[1], "x", 1), 1);
		ev_io_set_events(io, set_events_cases[i].events);
		assert_int_equal(ev_run_once(loop, 0), 0);
		assert_int_equal(r.calls, set_events_cases[i].expect_calls);
		if (r.calls > 0)
			assert_int_equal(r.last_events, set_events_cases[i].expect_events);
		if (r.calls == 0 || !(r.last_events & EV_READ)) {
			char junk[8];
			assert_int_equal(read(sv[0], junk, sizeof(junk)), 1);
		}
	}
	ev_io_remove(&io);
	close(sv[0]);
	close(sv[1]);
	ev_loop_free(&loop);
}

/* A silent watcher on a hung-up socket stays silent (and does not spin);
 * asking for EV_READ afterwards reports the hang-up with EV_READ. */
static void test_io_hangup(void **state)
{
	ev_loop *loop = ev_loop_new();
	struct io_rec r = { 0 };
	int sv[2], pfd[2];
	ev_io *io, *pio;
	struct io_rec pr = { 0 };

	(void)state;
	make_socketpair(sv);
	io = ev_io_add(loop, sv[0], 0, io_rec_cb, &r);
	close(sv[1]);
	for (int i = 0; i < 3; i++)
		assert_int_equal(ev_run_once(loop, 1), 0);
	assert_int_equal(r.calls, 0);
	ev_io_set_events(io, EV_READ);
	assert_int_equal(ev_run_once(loop, 100), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.last_events, EV_READ | EV_ERROR);
	assert_int_equal(r.nread, 0);
	ev_io_remove(&io);
	close(sv[0]);

	/* Pipe: the read end sees EOF once the writer is gone. */
	make_pipe(pfd);
	pio = ev_io_add(loop, pfd[0], EV_READ, io_rec_cb, &pr);
	close(pfd[1]);
	assert_int_equal(ev_run_once(loop, 100), 0);
	assert_int_equal(pr.calls, 1);
	assert_true(pr.last_events & EV_READ);
	assert_true(pr.last_events & EV_ERROR);
	assert_int_equal(pr.nread, 0);
	ev_io_remove(&pio);
	close(pfd[0]);
	ev_loop_free(&loop);
}

struct self_remove {
	ev_io *io;
	int calls;
};

static void self_remove_cb(void *ctx, int fd, int events)
{
	struct self_remove *s = ctx;

	(void)fd;
	(void)events;
	s->calls++;
	ev_io_remove(&s->io);
	assert_null(s->io);
	/* A NULL handle is accepted. */
	ev_io_remove(&s->io);
}

static void test_io_remove_self(void **state)
{
	ev_loop *loop = ev_loop_new();
	struct self_remove s = { 0 };
	int pfd[2];

	(void)state;
	make_pipe(pfd);
	assert_int_equal(write(pfd[1], "y", 1), 1);
	s.io = ev_io_add(loop, pfd[0], EV_READ, self_remove_cb, &s);
	assert_int_equal(ev_run_once(loop, 100), 0);
	assert_int_equal(s.calls, 1);
	/* Still readable, but no longer watched. */
	assert_int_equal(ev_run_once(loop, 0), 0);
	assert_int_equal(s.calls, 1);
	/* The fd can be watched again. */
	s.io = ev_io_add(loop, pfd[0], EV_READ, self_remove_cb, &s);
	assert_int_equal(ev_run_once(loop, 100), 0);
	assert_int_equal(s.calls, 2);
	close(pfd[0]);
	close(pfd[1]);
	ev_loop_free(&loop);
}

/* Two watchers, both ready in the same batch; whichever runs first removes
 * the other, whose queued event must then be skipped. It also re-watches
 * the removed fd with a fresh watcher, which must not inherit the stale
 * event either. */
struct pair {
	ev_io *io[2];
	int fd[2];
	int calls[2];
	int late_calls;
	ev_loop *loop;
};

static void late_cb(void *ctx, int fd, int events)
{
	struct pair *p = ctx;

	(void)fd;
	(void)events;
	p->late_calls++;
}

static void pair_cb(void *ctx, int fd, int events)
{
	struct pair *p = ctx;
	int me = fd == p->fd[0] ? 0 : 1, other = 1 - me;

	(void)events;
	p->calls[me]++;
	ev_io_remove(&p->io[other]);
	if (p->io[me] != NULL)
		ev_io_remove(&p->io[me]);
	p->io[other] = ev_io_add(p->loop, p->fd[other], 0, late_cb, p);
}

static void test_io_remove_other_same_batch(void **state)
{
	ev_loop *loop = ev_loop_new();
	struct pair p = { .loop = loop };
	int a[2], b[2];

	(void)state;
	make_pipe(a);
	make_pipe(b);
	assert_int_equal(write(a[1], "a", 1), 1);
	assert_int_equal(write(b[1], "b", 1), 1);
	p.fd[0] = a[0];
	p.fd[1] = b[0];
	p.io[0] = ev_io_add(loop, a[0], EV_READ, pair_cb, &p);
	p.io[1] = ev_io_add(loop, b[0], EV_READ, pair_cb, &p);
	assert_int_equal(ev_run_once(loop, 100), 0);
	assert_int_equal(p.calls[0] + p.calls[1], 1);
	assert_int_equal(p.late_calls, 0);
	assert_int_equal(ev_run_once(loop, 0), 0);
	assert_int_equal(p.calls[0] + p.calls[1], 1);
	assert_int_equal(p.late_calls, 0);
	/* The replacement watcher is live: left for ev_loop_free to free. */
	assert_non_null(p.io[p.calls[0] ? 1 : 0]);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	ev_loop_free(&loop);
}

/* ---- timers ---- */

struct order {
	int seen[16];
	int n;
	ev_loop *loop;
	int stop_after;
};

struct order_item {
	struct order *o;
	int id;
};

static void order_cb(void *ctx)
{
	struct order_item *it = ctx;

	it->o->seen[it->o->n++] = it->id;
	if (it->o->n == it->o->stop_after)
		ev_stop(it->o->loop);
}

/* Deadlines far enough apart that slow adds (valgrind) cannot swap them:
 * a timer counts from its own ev_timer_add. */
static void test_timer_order(void **state)
{
	static const struct {
		uint64_t msecs;
		int id;
	} timers[] = { { 24, 3 }, { 4, 1 }, { 12, 2 } };
	ev_loop *loop = ev_loop_new();
	struct order o = { .loop = loop, .stop_after = 3 };
	struct order_item items[3];
	ev_timer *t[3];
	uint64_t start = ev_now_ms(loop);

	(void)state;
	for (int i = 0; i < 3; i++) {
		items[i] = (struct order_item){ &o, timers[i].id };
		t[i] = ev_timer_add(loop, timers[i].msecs, false, order_cb, &items[i]);
	}
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(o.n, 3);
	assert_int_equal(o.seen[0], 1);
	assert_int_equal(o.seen[1], 2);
	assert_int_equal(o.seen[2], 3);
	assert_true(ev_now_ms(loop) >= start + 24);
	/* Fired one-shot timers stay the caller's until removed. */
	for (int i = 0; i < 3; i++) {
		ev_timer_remove(&t[i]);
		assert_null(t[i]);
	}
	ev_loop_free(&loop);
}

struct repeat {
	ev_timer *t;
	int calls;
	int limit;
	ev_loop *loop;
};

static void repeat_cb(void *ctx)
{
	struct repeat *r = ctx;

	if (++r->calls == r->limit) {
		ev_timer_remove(&r->t);
		ev_stop(r->loop);
	}
}

static void stop_cb(void *ctx)
{
	ev_stop(ctx);
}

static void test_timer_repeat(void **state)
{
	ev_loop *loop = ev_loop_new();
	struct repeat r = { .limit = 3, .loop = loop };
	ev_timer *stop;
	uint64_t start = test_clock_ms();

	(void)state;
	/* the third call stops the loop; the stop timer only bounds a broken
	 * repeat (a loaded machine may delay each call by far more than 2 ms) */
	r.t = ev_timer_add(loop, 2, true, repeat_cb, &r);
	stop = ev_timer_add(loop, 10000, false, stop_cb, loop);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(r.calls, 3);
	assert_null(r.t);
	assert_true(test_clock_ms() >= start + 3 * 2);
	ev_timer_remove(&stop);
	ev_loop_free(&loop);
}

struct reset {
	ev_timer *t;
	int fired;
	int fired_at_probe;
	uint64_t fired_ms;
	ev_loop *loop;
};

static void reset_fire_cb(void *ctx)
{
	struct reset *r = ctx;

	r->fired++;
	r->fired_ms = ev_now_ms(r->loop);
	ev_stop(r->loop);
}

static void reset_probe_cb(void *ctx)
{
	struct reset *r = ctx;

	r->fired_at_probe = r->fired;
}

static void test_timer_reset(void **state)
{
	ev_loop *loop = ev_loop_new();
	struct reset r = { .loop = loop };
	ev_timer *probe;
	uint64_t start = test_clock_ms();

	(void)state;
	r.t = ev_timer_add(loop, 3, false, reset_fire_cb, &r);
	ev_timer_reset(r.t, 20);
	probe = ev_timer_add(loop, 8, false, reset_probe_cb, &r);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(r.fired_at_probe, 0);
	assert_int_equal(r.fired, 1);
	assert_true(r.fired_ms >= start + 20);

	/* A fired one-shot timer can be armed again. */
	start = test_clock_ms();
	ev_timer_reset(r.t, 2);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(r.fired, 2);
	assert_true(r.fired_ms >= start + 2);
	ev_timer_remove(&r.t);
	ev_timer_remove(&probe);
	ev_timer_remove(&r.t);
	ev_loop_free(&loop);
}

/* A runs first (same expiry, armed first) and removes B, also due. */
struct kill_pair {
	ev_timer *a, *b;
	int a_calls, b_calls;
};

static void kill_a_cb(void *ctx)
{
	struct kill_pair *k = ctx;

	k->a_calls++;
	ev_timer_remove(&k->b);
	ev_timer_remove(&k->a);
}

static void kill_b_cb(void *ctx)
{
	struct kill_pair *k = ctx;

	k->b_calls++;
}

static void test_timer_remove_in_callback(void **state)
{
	ev_loop *loop = ev_loop_new();
	struct kill_pair k = { 0 };
	ev_timer *stop;

	(void)state;
	k.a = ev_timer_add(loop, 2, true, kill_a_cb, &k);
	k.b = ev_timer_add(loop, 2, false, kill_b_cb, &k);
	stop = ev_timer_add(loop, 10, false, stop_cb, loop);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(k.a_calls, 1);
	assert_int_equal(k.b_calls, 0);
	assert_null(k.a);
	assert_null(k.b);
	ev_timer_remove(&stop);
	ev_loop_free(&loop);
}

/* 10000 timers with random delays, a third removed and a third reset at
 * random; the rest must fire in order of their deadlines. Adding takes a
 * little time, so a deadline is known to within the adding phase's length
 * (slack); an order error larger than that is a heap bug. */
#define MANY 10000
#define MANY_MAX_DELAY 25

struct many {
	ev_timer *t[MANY];
	uint64_t delay[MANY];
	bool removed[MANY];
	int fired[MANY];
	int order[MANY];
	int n;
	int expect;
	uint64_t base_ms;
	uint64_t late_ms; /* a timer fired before base_ms + delay? */
	ev_loop *loop;
};

struct many_item {
	struct many *m;
	int idx;
};

static void many_cb(void *ctx)
{
	struct many_item *it = ctx;
	struct many *m = it->m;

	if (ev_now_ms(m->loop) < m->base_ms + m->delay[it->idx])
		m->late_ms++;
	m->fired[it->idx]++;
	m->order[m->n++] = it->idx;
	if (m->n == m->expect)
		ev_stop(m->loop);
}

static void test_timer_many(void **state)
{
	struct many *m = calloc(1, sizeof(*m));
	struct many_item *items = calloc(MANY, sizeof(*items));
	uint64_t slack;

	(void)state;
	assert_non_null(m);
	assert_non_null(items);
	srandom(12345);
	m->loop = ev_loop_new();
	m->base_ms = test_clock_ms();
	for (int i = 0; i < MANY; i++) {
		items[i] = (struct many_item){ m, i };
		m->delay[i] = (uint64_t)(random() % MANY_MAX_DELAY);
		m->t[i] = ev_timer_add(m->loop, m->delay[i], false, many_cb, &items[i]);
	}
	for (int i = 0; i < MANY; i++) {
		int j = (int)(random() % MANY);
		if (m->removed[j])
			continue;
		if (random() % 2) {
			ev_timer_remove(&m->t[j]);
			m->removed[j] = true;
		} else {
			m->delay[j] = (uint64_t)(random() % MANY_MAX_DELAY);
			ev_timer_reset(m->t[j], m->delay[j]);
		}
	}
	slack = test_clock_ms() - m->base_ms;
	for (int i = 0; i < MANY; i++)
		m->expect += !m->removed[i];
	assert_true(m->expect > 0 && m->expect < MANY);
	assert_int_equal(ev_run(m->loop), 0);

	assert_int_equal(m->n, m->expect);
	assert_int_equal(m->late_ms, 0);
	for (int i = 0; i < MANY; i++)
		assert_int_equal(m->fired[i], m->removed[i] ? 0 : 1);
	for (int i = 1; i < m->n; i++)
		assert_true(m->delay[m->order[i - 1]] <= m->delay[m->order[i]] + slack);
	/* Removing thousands of timers is cheap too (ev_loop_free would, but
	 * go through the public call). */
	for (int i = 0; i < MANY; i++)
		ev_timer_remove(&m->t[i]);
	ev_loop_free(&m->loop);
	free(items);
	free(m);
}

/* ---- signals ---- */

struct sigrec {
	int usr1, usr2;
	int last;
};

static void sig_cb(void *ctx, int signo)
{
	struct sigrec *s = ctx;

	s->last = signo;
	if (signo == SIGUSR1)
		s->usr1++;
	else if (signo == SIGUSR2)
		s->usr2++;
}

static void test_signals(void **state)
{
	ev_loop *loop = ev_loop_new();
	struct sigrec s = { 0 };
	ev_signal *s1, *s2;

	(void)state;
	assert_false(signal_is_blocked(SIGUSR1));
	s1 = ev_signal_add(loop, SIGUSR1, sig_cb, &s);
	s2 = ev_signal_add(loop, SIGUSR2, sig_cb, &s);
	assert_true(signal_is_blocked(SIGUSR1));
	assert_true(signal_is_blocked(SIGUSR2));

	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(kill(getpid(), SIGUSR2), 0);
	for (int i = 0; i < MAX_ROUNDS && (s.usr1 == 0 || s.usr2 == 0); i++)
		assert_int_equal(ev_run_once(loop, 100), 0);
	assert_int_equal(s.usr1, 1);
	assert_int_equal(s.usr2, 1);

	/* After removing one, the other still arrives. */
	ev_signal_remove(&s1);
	assert_null(s1);
	assert_false(signal_is_blocked(SIGUSR1));
	assert_int_equal(raise(SIGUSR2), 0);
	for (int i = 0; i < MAX_ROUNDS && s.usr2 < 2; i++)
		assert_int_equal(ev_run_once(loop, 100), 0);
	assert_int_equal(s.usr2, 2);
	assert_int_equal(s.last, SIGUSR2);

	/* A signal pending at removal is dropped, not delivered with its
	 * default action (which would end this test). */
	assert_int_equal(raise(SIGUSR2), 0);
	ev_signal_remove(&s2);
	ev_signal_remove(&s2);
	assert_false(signal_is_blocked(SIGUSR2));
	assert_int_equal(s.usr2, 2);
	ev_loop_free(&loop);
}

/* A signal the program had blocked itself stays blocked afterwards; one
 * that ev blocked is unblocked by ev_loop_free. */
static void test_signals_mask_restore(void **state)
{
	ev_loop *loop = ev_loop_new();
	struct sigrec s = { 0 };
	sigset_t one;

	(void)state;
	sigemptyset(&one);
	sigaddset(&one, SIGUSR2);
	sigprocmask(SIG_BLOCK, &one, NULL);
	(void)ev_signal_add(loop, SIGUSR1, sig_cb, &s);
	(void)ev_signal_add(loop, SIGUSR2, sig_cb, &s);
	assert_int_equal(raise(SIGUSR1), 0);
	for (int i = 0; i < MAX_ROUNDS && s.usr1 == 0; i++)
		assert_int_equal(ev_run_once(loop, 100), 0);
	assert_int_equal(s.usr1, 1);
	ev_loop_free(&loop);
	assert_false(signal_is_blocked(SIGUSR1));
	assert_true(signal_is_blocked(SIGUSR2));
	sigprocmask(SIG_UNBLOCK, &one, NULL);
}

/* ---- stopping, freeing ---- */

struct stopper {
	ev_loop *loop;
	int calls;
};

static void stop_io_cb(void *ctx, int fd, int events)
{
	struct stopper *st = ctx;

	(void)fd;
	(void)events;
	st->calls++;
	ev_stop(st->loop);
}

static void test_stop(void **state)
{
	ev_loop *loop = ev_loop_new();
	struct stopper st = { .loop = loop };
	int sv[2];
	ev_io *io;
	ev_timer *t;

	(void)state;
	make_socketpair(sv);
	/* Always writable: without ev_stop, ev_run would never return. */
	io = ev_io_add(loop, sv[0], EV_WRITE, stop_io_cb, &st);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(st.calls, 1);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(st.calls, 2);

	/* ev_stop before ev_run: it returns without waiting. */
	ev_io_set_events(io, 0);
	ev_stop(loop);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(st.calls, 2);

	/* Watchers left behind are freed with the loop (valgrind checks). */
	t = ev_timer_add(loop, 100000, true, stop_cb, loop);
	(void)t;
	(void)ev_timer_add(loop, 1, false, stop_cb, loop);
	ev_loop_free(&loop);
	close(sv[0]);
	close(sv[1]);
}

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Busy polling: events still arrive, a quiet loop sleeps after at most the
 * polling time (it does not spin for the whole wait). */
static void test_busy_poll(void **state)
{
	ev_loop *loop = ev_loop_new();
	struct io_rec rd = { 0 };
	int sv[2];
	ev_io *rio;
	double cpu;

	(void)state;
	make_socketpair(sv);
	ev_set_busy_poll(loop, 2000);
	rio = ev_io_add(loop, sv[0], EV_READ, io_rec_cb, &rd);
	assert_int_equal(write(sv[1], "a", 1), 1);
	assert_int_equal(ev_run_once(loop, 100), 0);
	assert_int_equal(rd.calls, 1);
	assert_int_equal(write(sv[1], "b", 1), 1);
	assert_int_equal(ev_run_once(loop, 100), 0); /* found while polling */
	assert_int_equal(rd.calls, 2);
	cpu = cpu_seconds();
	assert_int_equal(ev_run_once(loop, 200), 0); /* nothing comes */
	assert_int_equal(rd.calls, 2);
	assert_true(cpu_seconds() - cpu < 0.1); /* polled 2 ms, then slept */
	ev_io_remove(&rio);
	close(sv[0]);
	close(sv[1]);
	ev_loop_free(&loop);
}

static void test_now(void **state)
{
	ev_loop *loop = ev_loop_new();
	uint64_t before = ev_now_ms(loop), wall = test_clock_ms();

	(void)state;
	assert_true(before <= wall);
	/* Cached: does not move on its own. */
	usleep(3000);
	assert_int_equal(ev_now_ms(loop), before);
	assert_int_equal(ev_run_once(loop, 2), 0);
	assert_true(ev_now_ms(loop) >= before + 3);
	ev_loop_free(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_io_read_write),
		cmocka_unit_test(test_io_set_events),
		cmocka_unit_test(test_io_exclusive),
		cmocka_unit_test(test_io_hangup),
		cmocka_unit_test(test_io_remove_self),
		cmocka_unit_test(test_io_remove_other_same_batch),
		cmocka_unit_test(test_timer_order),
		cmocka_unit_test(test_timer_repeat),
		cmocka_unit_test(test_timer_reset),
		cmocka_unit_test(test_timer_remove_in_callback),
		cmocka_unit_test(test_timer_many),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_signals_mask_restore),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_busy_poll),
		cmocka_unit_test(test_now),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
