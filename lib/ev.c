/* ev.c: the epoll event loop (level-triggered) behind lib/ev.h.
 * Owns the epoll fd, one signalfd shared by all signal watchers, the timer
 * heap and every watcher allocated through it. Watchers removed while a
 * batch is being dispatched are only marked and unlinked; their memory is
 * freed when the outermost dispatch returns, so an epoll event still queued
 * for a removed watcher is recognised and skipped instead of touching freed
 * memory. It does not read or write the watched fds itself (except the
 * signalfd); callers do their own I/O. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ev.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

/* Events fetched per epoll_wait; more ready fds simply come next round,
 * since the loop is level-triggered. */
#define EV_BATCH 64
/* siginfo structs read from the signalfd per read(2). */
#define EV_SIGINFO_BATCH 16
#define EV_NO_HEAP_INDEX SIZE_MAX

struct ev_io {
	ev_loop *loop;
	ev_io *prev, *next; /* loop->ios, live watchers only */
	int fd;
	int events; /* what the caller asked for */
	bool in_epoll; /* false after a hang-up seen while silent */
	bool exclusive; /* EV_EXCLUSIVE: EPOLLEXCLUSIVE, which MOD refuses */
	bool removed;
	ev_io_cb *cb;
	void *ctx;
};

struct ev_timer {
	ev_loop *loop;
	ev_timer *prev, *next; /* loop->timers, all live timers */
	uint64_t expire_ms;
	uint64_t interval_ms;
	uint64_t seq; /* arming order: ties on expire_ms run first-armed first */
	size_t heap_index; /* EV_NO_HEAP_INDEX when not armed */
	bool repeat;
	ev_timer_cb *cb;
	void *ctx;
};

struct ev_signal {
	ev_loop *loop;
	int signo;
	bool was_blocked; /* blocked before we came: leave it blocked */
	ev_signal_cb *cb;
	void *ctx;
};

struct ev_loop {
	int epoll_fd;
	uint64_t now_ms;
	bool stop;
	unsigned busy_poll_us; /* ev_set_busy_poll */
	bool was_busy; /* the last wait returned events */
	unsigned dispatch_depth; /* > 0 while callbacks may run */

	ev_io *ios;

	ev_timer *timers;
	ev_timer **heap;
	size_t heap_len, heap_cap;
	uint64_t next_seq;

	int signal_fd; /* -1 until the first ev_signal_add */
	ev_io *signal_io;
	sigset_t signal_set;
	ev_signal *signals[NSIG];

	/* Removed during dispatch, freed when dispatch_depth drops to 0. */
	void **dead;
	size_t dead_len, dead_cap;
};

static uint64_t clock_now_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		log_panic("clock_gettime(CLOCK_MONOTONIC): %s", strerror(errno));
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t clock_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		log_panic("clock_gettime(CLOCK_MONOTONIC): %s", strerror(errno));
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Frees p now, or after the current batch when callbacks are running. */
static void loop_release(ev_loop *loop, void *p)
{
	if (loop->dispatch_depth == 0) {
		free(p);
		return;
	}
	if (loop->dead_len == loop->dead_cap) {
		loop->dead_cap = loop->dead_cap ? loop->dead_cap * 2 : 16;
		loop->dead = xrealloc(loop->dead, loop->dead_cap * sizeof(*loop->dead));
	}
	loop->dead[loop->dead_len++] = p;
}

static void loop_free_dead(ev_loop *loop)
{
	for (size_t i = 0; i < loop->dead_len; i++)
		free(loop->dead[i]);
	loop->dead_len = 0;
}

ev_loop *ev_loop_new(void)
{
	ev_loop *loop = xcalloc(1, sizeof(*loop));

	loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epoll_fd < 0)
		log_fatal("epoll_create1: %s", strerror(errno));
	loop->signal_fd = -1;
	sigemptyset(&loop->signal_set);
	loop->now_ms = clock_now_ms();
	return loop;
}

/* ---- timer heap: a binary min-heap on (expire_ms, seq) ---- */

static bool timer_before(const ev_timer *a, const ev_timer *b)
{
	if (a->expire_ms != b->expire_ms)
		return a->expire_ms < b->expire_ms;
	return a->seq < b->seq;
}

static void heap_put(ev_loop *loop, size_t i, ev_timer *t)
{
	loop->heap[i] = t;
	t->heap_index = i;
}

static void heap_sift_up(ev_loop *loop, size_t i)
{
	ev_timer *t = loop->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!timer_before(t, loop->heap[parent]))
			break;
		heap_put(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_put(loop, i, t);
}

static void heap_sift_down(ev_loop *loop, size_t i)
{
	ev_timer *t = loop->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= loop->heap_len)
			break;
		if (child + 1 < loop->heap_len && timer_before(loop->heap[child + 1], loop->heap[child]))
			child++;
		if (!timer_before(loop->heap[child], t))
			break;
		heap_put(loop, i, loop->heap[child]);
		i = child;
	}
	heap_put(loop, i, t);
}

static void heap_insert(ev_loop *loop, ev_timer *t)
{
	if (loop->heap_len == loop->heap_cap) {
		loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
		loop->heap = xrealloc(loop->heap, loop->heap_cap * sizeof(*loop->heap));
	}
	heap_put(loop, loop->heap_len++, t);
	heap_sift_up(loop, t->heap_index);
}

static void heap_delete(ev_loop *loop, ev_timer *t)
{
	size_t i = t->heap_index;
	ev_timer *last;

	if (i == EV_NO_HEAP_INDEX)
		return;
	if (i >= loop->heap_len || loop->heap[i] != t)
		log_panic("ev: timer heap index %zu out of step", i);
	t->heap_index = EV_NO_HEAP_INDEX;
	last = loop->heap[--loop->heap_len];
	if (last == t)
		return;
	heap_put(loop, i, last);
	if (i > 0 && timer_before(last, loop->heap[(i - 1) / 2]))
		heap_sift_up(loop, i);
	else
		heap_sift_down(loop, i);
}

/* Arms (or re-arms) t to expire at base + msecs. */
static void timer_arm(ev_timer *t, uint64_t base_ms, uint64_t msecs)
{
	ev_loop *loop = t->loop;

	heap_delete(loop, t);
	t->expire_ms = msecs > UINT64_MAX - base_ms ? UINT64_MAX : base_ms + msecs;
	t->seq = loop->next_seq++;
	heap_insert(loop, t);
}

/* ---- timers ---- */

/* A repeating timer of 0 ms would run forever inside one batch. */
static uint64_t timer_interval(bool repeat, uint64_t msecs)
{
	return repeat && msecs == 0 ? 1 : msecs;
}

ev_timer *ev_timer_add(ev_loop *loop, uint64_t msecs, bool repeat, ev_timer_cb *cb, void *ctx)
{
	ev_timer *t = xcalloc(1, sizeof(*t));

	t->loop = loop;
	t->repeat = repeat;
	t->interval_ms = timer_interval(repeat, msecs);
	t->cb = cb;
	t->ctx = ctx;
	t->heap_index = EV_NO_HEAP_INDEX;
	t->next = loop->timers;
	if (loop->timers != NULL)
		loop->timers->prev = t;
	loop->timers = t;
	/* The fresh clock, not the cached one: setup before ev_run may take a
	 * while and must not make the first timeouts fire early. */
	timer_arm(t, clock_now_ms(), msecs);
	return t;
}

void ev_timer_reset(ev_timer *t, uint64_t msecs)
{
	t->interval_ms = timer_interval(t->repeat, msecs);
	timer_arm(t, clock_now_ms(), msecs);
}

static void timer_unlink(ev_timer *t)
{
	ev_loop *loop = t->loop;

	heap_delete(loop, t);
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		loop->timers = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
}

void ev_timer_remove(ev_timer **tp)
{
	ev_timer *t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	timer_unlink(t);
	loop_release(t->loop, t);
}

/* Runs every timer due at the cached time, earliest first. A repeating
 * timer is re-armed before its callback, so the callback may reset or
 * remove it; a one-shot timer is disarmed and stays the caller's. */
static void timers_run(ev_loop *loop)
{
	while (loop->heap_len > 0 && loop->heap[0]->expire_ms <= loop->now_ms) {
		ev_timer *t = loop->heap[0];

		if (t->repeat)
			timer_arm(t, loop->now_ms, t->interval_ms);
		else
			heap_delete(loop, t);
		t->cb(t->ctx);
	}
}

/* epoll_wait timeout: the caller's limit, shortened to the next timer. */
static int timers_wait_ms(ev_loop *loop, int timeout_ms)
{
	uint64_t now, left;

	if (loop->heap_len == 0)
		return timeout_ms;
	now = clock_now_ms();
	left = loop->heap[0]->expire_ms > now ? loop->heap[0]->expire_ms - now : 0;
	if (left > INT_MAX)
		left = INT_MAX;
	if (timeout_ms < 0 || (uint64_t)timeout_ms > left)
		return (int)left;
	return timeout_ms;
}

/* ---- fd watchers ---- */

static uint32_t io_epoll_mask(const ev_io *io)
{
	uint32_t mask = io->exclusive ? EPOLLEXCLUSIVE : 0;

	if (io->events & EV_READ)
		mask |= EPOLLIN;
	if (io->events & EV_WRITE)
		mask |= EPOLLOUT;
	return mask;
}

static void io_ctl(ev_io *io, int op)
{
	struct epoll_event ee = { .events = io_epoll_mask(io), .data.ptr = io };

	if (epoll_ctl(io->loop->epoll_fd, op, io->fd, &ee) == 0)
		return;
	if (errno == ENOMEM || errno == ENOSPC)
		log_fatal("epoll_ctl fd %d: %s", io->fd, strerror(errno));
	/* EEXIST (two watchers on one fd), EBADF, EPERM (a regular file). */
	log_panic("epoll_ctl op %d fd %d: %s", op, io->fd, strerror(errno));
}

ev_io *ev_io_add(ev_loop *loop, int fd, int events, ev_io_cb *cb, void *ctx)
{
	ev_io *io = xcalloc(1, sizeof(*io));

	io->loop = loop;
	io->fd = fd;
	io->events = events & (EV_READ | EV_WRITE);
	io->exclusive = (events & EV_EXCLUSIVE) != 0;
	io->cb = cb;
	io->ctx = ctx;
	io_ctl(io, EPOLL_CTL_ADD);
	io->in_epoll = true;
	io->next = loop->ios;
	if (loop->ios != NULL)
		loop->ios->prev = io;
	loop->ios = io;
	return io;
}

void ev_io_set_events(ev_io *io, int events)
{
	events &= EV_READ | EV_WRITE;
	if (io->in_epoll && events == io->events)
		return;
	io->events = events;
	if (io->in_epoll && io->exclusive) {
		/* EPOLLEXCLUSIVE cannot be modified: leave the set, come back */
		(void)epoll_ctl(io->loop->epoll_fd, EPOLL_CTL_DEL, io->fd, NULL);
		io->in_epoll = false;
	}
	if (io->in_epoll) {
		io_ctl(io, EPOLL_CTL_MOD);
	} else if (events != 0) {
		io_ctl(io, EPOLL_CTL_ADD);
		io->in_epoll = true;
	}
}

void ev_io_remove(ev_io **iop)
{
	ev_io *io = *iop;
	ev_loop *loop;

	if (io == NULL)
		return;
	*iop = NULL;
	loop = io->loop;
	/* Fails harmlessly with EBADF if the caller closed the fd first. */
	if (io->in_epoll)
		(void)epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, io->fd, NULL);
	io->removed = true;
	if (io->prev != NULL)
		io->prev->next = io->next;
	else
		loop->ios = io->next;
	if (io->next != NULL)
		io->next->prev = io->prev;
	loop_release(loop, io);
}

/* EPOLLERR and EPOLLHUP come whatever the mask says. A silent watcher
 * (events 0) would then wake every epoll_wait, so it leaves the epoll set
 * until ev_io_set_events asks for something again. */
static void io_dispatch(ev_io *io, uint32_t got)
{
	int report = 0;

	if (io->removed)
		return;
	if (io->events == 0) {
		if (io->in_epoll && (got & (EPOLLERR | EPOLLHUP))) {
			(void)epoll_ctl(io->loop->epoll_fd, EPOLL_CTL_DEL, io->fd, NULL);
			io->in_epoll = false;
		}
		return;
	}
	if (got & EPOLLIN)
		report |= EV_READ;
	if (got & EPOLLOUT)
		report |= EV_WRITE;
	report &= io->events;
	/* On error or hang-up the caller's own handlers run, and their read or
	 * write sees the EOF or the error. */
	if (got & (EPOLLERR | EPOLLHUP))
		report |= EV_ERROR | io->events;
	if (report != 0)
		io->cb(io->ctx, io->fd, report);
}

/* ---- signals ---- */

/* Reads every queued siginfo and hands each to its watcher. The kernel
 * merges instances of a standard signal that arrive before we read, so
 * e.g. one SIGCHLD may stand for several exited children. */
static void signal_read_cb(void *ctx, int fd, int events)
{
	ev_loop *loop = ctx;
	struct signalfd_siginfo si[EV_SIGINFO_BATCH];
	ssize_t n;

	(void)events;
	for (;;) {
		n = read(fd, si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++) {
			unsigned signo = si[i].ssi_signo;
			ev_signal *sig = signo < NSIG ? loop->signals[signo] : NULL;
			if (sig != NULL)
				sig->cb(sig->ctx, (int)signo);
		}
		if ((size_t)n < sizeof(si))
			break;
	}
	if (n < 0 && errno != EAGAIN)
		log_warn("read signalfd: %s", strerror(errno));
}

static void signal_fd_update(ev_loop *loop)
{
	int fd = signalfd(loop->signal_fd, &loop->signal_set, SFD_NONBLOCK | SFD_CLOEXEC);

	if (fd < 0)
		log_fatal("signalfd: %s", strerror(errno));
	if (loop->signal_fd < 0) {
		loop->signal_fd = fd;
		loop->signal_io = ev_io_add(loop, fd, EV_READ, signal_read_cb, loop);
	}
}

static void signal_mask(int how, int signo, sigset_t *old_r)
{
	sigset_t one;

	sigemptyset(&one);
	sigaddset(&one, signo);
	if (sigprocmask(how, &one, old_r) < 0)
		log_panic("sigprocmask %d: %s", signo, strerror(errno));
}

ev_signal *ev_signal_add(ev_loop *loop, int signo, ev_signal_cb *cb, void *ctx)
{
	ev_signal *sig;
	sigset_t old;

	if (signo <= 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP)
		log_panic("ev_signal_add: bad signal %d", signo);
	if (loop->signals[signo] != NULL)
		log_panic("ev_signal_add: signal %d already watched", signo);
	sig = xcalloc(1, sizeof(*sig));
	sig->loop = loop;
	sig->signo = signo;
	sig->cb = cb;
	sig->ctx = ctx;
	signal_mask(SIG_BLOCK, signo, &old);
	sig->was_blocked = sigismember(&old, signo) == 1;
	sigaddset(&loop->signal_set, signo);
	signal_fd_update(loop);
	loop->signals[signo] = sig;
	return sig;
}

/* Stops watching and, unless it was blocked before ev_signal_add, unblocks
 * the signal. An instance still pending is discarded first: delivered after
 * unblocking it would take its default action (often: terminate). */
static void signal_unwatch(ev_loop *loop, ev_signal *sig)
{
	static const struct timespec no_wait = { 0, 0 };
	sigset_t one;

	loop->signals[sig->signo] = NULL;
	sigdelset(&loop->signal_set, sig->signo);
	signal_fd_update(loop);
	if (sig->was_blocked)
		return;
	sigemptyset(&one);
	sigaddset(&one, sig->signo);
	while (sigtimedwait(&one, NULL, &no_wait) == sig->signo)
		;
	signal_mask(SIG_UNBLOCK, sig->signo, NULL);
}

void ev_signal_remove(ev_signal **sigp)
{
	ev_signal *sig = *sigp;

	if (sig == NULL)
		return;
	*sigp = NULL;
	signal_unwatch(sig->loop, sig);
	loop_release(sig->loop, sig);
}

/* ---- running ---- */

/* busy_wait: right after a round with events, polls without sleeping for
 * up to busy_poll_us: a client in a request/reply exchange usually sends
 * its next request within that time, and a process that went to sleep
 * pays a wake-up (tens of microseconds on a virtual machine) per reply.
 * 0 when nothing came, else what epoll_wait returned. */
static int busy_wait(ev_loop *loop, struct epoll_event *events, int wait_ms)
{
	uint64_t until;
	int n;

	if (loop->busy_poll_us == 0 || !loop->was_busy || wait_ms == 0)
		return 0;
	until = clock_now_us() + loop->busy_poll_us;
	do {
		n = epoll_wait(loop->epoll_fd, events, EV_BATCH, 0);
	} while (n == 0 && clock_now_us() < until);
	return n;
}

void ev_set_busy_poll(ev_loop *loop, unsigned usec)
{
	loop->busy_poll_us = usec;
}

int ev_run_once(ev_loop *loop, int timeout_ms)
{
	struct epoll_event events[EV_BATCH];
	int n, wait_ms = timers_wait_ms(loop, timeout_ms);

	n = busy_wait(loop, events, wait_ms);
	if (n == 0)
		n = epoll_wait(loop->epoll_fd, events, EV_BATCH, wait_ms);
	loop->was_busy = n > 0;
	loop->now_ms = clock_now_ms();
	if (n < 0) {
		if (errno != EINTR)
			return -1;
		n = 0;
	}
	loop->dispatch_depth++;
	for (int i = 0; i < n; i++)
		io_dispatch(events[i].data.ptr, events[i].events);
	timers_run(loop);
	if (--loop->dispatch_depth == 0)
		loop_free_dead(loop);
	return 0;
}

int ev_run(ev_loop *loop)
{
	int ret = 0;

	while (!loop->stop) {
		if (ev_run_once(loop, -1) < 0) {
			log_warn("epoll_wait: %s", strerror(errno));
			ret = -1;
			break;
		}
	}
	loop->stop = false;
	return ret;
}

void ev_stop(ev_loop *loop)
{
	loop->stop = true;
}

uint64_t ev_now_ms(ev_loop *loop)
{
	return loop->now_ms;
}

void ev_loop_free(ev_loop **loopp)
{
	ev_loop *loop = *loopp;

	if (loop == NULL)
		return;
	*loopp = NULL;
	if (loop->dispatch_depth != 0)
		log_panic("ev_loop_free called from a callback");
	for (int signo = 1; signo < NSIG; signo++) {
		ev_signal *sig = loop->signals[signo];
		ev_signal_remove(&sig);
	}
	while (loop->ios != NULL) {
		ev_io *io = loop->ios;
		ev_io_remove(&io);
	}
	while (loop->timers != NULL) {
		ev_timer *t = loop->timers;
		ev_timer_remove(&t);
	}
	if (loop->signal_fd >= 0)
		close(loop->signal_fd);
	close(loop->epoll_fd);
	loop_free_dead(loop);
	free(loop->dead);
	free(loop->heap);
	free(loop);
}
