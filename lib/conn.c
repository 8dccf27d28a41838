/* conn.c: the event-loop half of a server connection (see conn.h). One
 * rule keeps it simple: the conn (and through ops->done the session) is
 * freed only in after_run and the timer/io callbacks, never inside a
 * step, so protocol code can close or pause a session from anywhere.
 *
 * The per-record deadline: after each run that ends waiting for input,
 * the stream says whether part of a record (a line, a block) is in and
 * the rest is awaited; then a timer runs that reads do not restart, armed
 * again only when a record completes (strm_records moves on) and stopped
 * when no record is in progress. A client that drips one byte at a time
 * keeps the idle timer alive but not this one. */
#include "conn.h"

#include <stdlib.h>

#include "log.h"
#include "mem.h"

struct conn {
	ev_loop *loop;
	strm *stream;
	ev_io *io;
	ev_timer *idle, *delay;
	ev_timer *record; /* the per-record deadline while it runs, else NULL */
	const struct conn_ops *ops;
	void *ctx;
	uint64_t idle_ms, pause_ms;
	uint64_t record_ms; /* 0: no per-record deadline */
	unsigned long record_seq; /* strm_records() when the deadline was armed */
	bool deadline; /* the idle timer is a fixed deadline */
	bool record_late; /* ops->idle was called for the per-record deadline */
	bool closing, paused, waiting, running;
};

static void on_io(void *ctx, int fd, int events);
static void on_idle(void *ctx);
static void on_record(void *ctx);

conn *conn_new(ev_loop *loop, int fd, uint64_t idle_ms, const struct conn_ops *ops, void *ctx)
{
	conn *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->stream = strm_new(fd);
	strm_track_readiness(c->stream);
	c->ops = ops;
	c->ctx = ctx;
	c->idle_ms = idle_ms;
	c->io = ev_io_add(loop, fd, EV_READ, on_io, c);
	c->idle = ev_timer_add(loop, idle_ms, false, on_idle, c);
	return c;
}

strm *conn_strm(conn *c)
{
	return c->stream;
}

static void conn_free(conn *c)
{
	c->ops->done(c->ctx);
	ev_io_remove(&c->io);
	ev_timer_remove(&c->idle);
	ev_timer_remove(&c->delay);
	ev_timer_remove(&c->record);
	strm_free(&c->stream);
	free(c);
}

static void set_events(conn *c)
{
	int events;

	if (c->paused)
		events = 0;
	else if (c->closing || c->waiting)
		events = strm_unflushed(c->stream) > 0 ? EV_WRITE : 0;
	else
		events = c->ops->events(c->ctx);
	ev_io_set_events(c->io, events);
}

static void on_delay(void *ctx)
{
	conn *c = ctx;

	c->paused = false;
	conn_run(c);
}

/* watch_record: runs, re-arms or stops the per-record deadline. It does
 * not run while the session itself holds things up (a pause, a wait, a
 * TLS handshake under its own deadline, the close). */
static void watch_record(conn *c)
{
	bool held = c->paused || c->waiting || c->closing || c->deadline;
	unsigned long seq = strm_records(c->stream);

	if (c->record_ms == 0 || held || !strm_in_record(c->stream)) {
		ev_timer_remove(&c->record);
		return;
	}
	if (c->record == NULL) {
		c->record = ev_timer_add(c->loop, c->record_ms, false, on_record, c);
		c->record_seq = seq;
	} else if (seq != c->record_seq) { /* one record done, the next begun */
		ev_timer_reset(c->record, c->record_ms);
		c->record_seq = seq;
	}
}

/* after_run: wait out a pause, flush, free or wait for events. True when
 * the steps must run again: a step that stopped because its output was
 * backed up (a streamed FETCH or RETR) waits for that output to drain,
 * and when this flush drained it no write event will come to wake it; a
 * step that stopped for input merely finds none again. */
static bool after_run(conn *c)
{
	size_t had;
	int r;

	watch_record(c);
	if (c->paused) { /* what is queued goes out when the pause is over */
		if (c->delay == NULL)
			c->delay = ev_timer_add(c->loop, c->pause_ms, false, on_delay, c);
		else
			ev_timer_reset(c->delay, c->pause_ms);
		set_events(c);
		return false;
	}
	had = strm_unflushed(c->stream);
	r = strm_flush(c->stream);
	if (c->closing && r != STRM_AGAIN) {
		conn_free(c);
		return false;
	}
	if (r == STRM_ERROR) {
		c->ops->lost(c->ctx, r);
		conn_free(c);
		return false;
	}
	if (r == STRM_OK && had > 0 && !c->closing && !c->waiting)
		return true;
	set_events(c);
	return false;
}

/* run_steps: the protocol's steps until one waits (for input, or for
 * output over its high-water mark), pauses, waits for its own work or
 * closes. */
static void run_steps(conn *c)
{
	c->running = true;
	while (!c->closing && !c->paused && !c->waiting) {
		int r;

		if (strm_unflushed(c->stream) > CONN_OUTPUT_HIGH_WATER &&
		    strm_flush(c->stream) != STRM_OK)
			break;
		r = c->ops->step(c->ctx);
		if (r == STRM_AGAIN)
			break;
		if (r != STRM_OK) {
			c->ops->lost(c->ctx, r);
			c->closing = true;
			break;
		}
		if (c->ops->after_step != NULL)
			c->ops->after_step(c->ctx);
	}
	c->running = false;
}

void conn_run(conn *c)
{
	if (c->running)
		return; /* called from inside a step: the outer run goes on */
	do
		run_steps(c);
	while (after_run(c)); /* false once c is freed */
}

static void on_io(void *ctx, int fd, int events)
{
	conn *c = ctx;
	(void)fd;

	if (c->closing) {
		if (strm_flush(c->stream) != STRM_AGAIN || (events & EV_ERROR))
			conn_free(c);
		return;
	}
	if (events & (EV_READ | EV_ERROR))
		strm_readable(c->stream);
	if (!c->deadline)
		ev_timer_reset(c->idle, c->idle_ms);
	conn_run(c);
}

static void on_idle(void *ctx)
{
	conn *c = ctx;

	if (c->closing) { /* the last reply could not be flushed in time */
		conn_free(c);
		return;
	}
	c->paused = false;
	c->record_late = false;
	c->ops->idle(c->ctx);
	if (after_run(c))
		conn_run(c);
}

/* on_record: the record in progress was not complete in time. The
 * protocol hears it through ops->idle; conn_record_late tells it why. */
static void on_record(void *ctx)
{
	conn *c = ctx;

	ev_timer_remove(&c->record);
	if (c->closing)
		return;
	c->paused = false;
	c->record_late = true;
	c->ops->idle(c->ctx);
	if (after_run(c))
		conn_run(c);
}

void conn_set_record_deadline(conn *c, uint64_t ms)
{
	c->record_ms = ms;
	if (ms == 0)
		ev_timer_remove(&c->record);
}

bool conn_record_late(const conn *c)
{
	return c->record_late;
}

void conn_close(conn *c)
{
	c->closing = true;
	c->paused = false;
	c->waiting = false;
}

bool conn_closing(const conn *c)
{
	return c->closing;
}

void conn_pause(conn *c, uint64_t ms)
{
	c->paused = true;
	c->pause_ms = ms;
}

bool conn_paused(const conn *c)
{
	return c->paused;
}

void conn_wait(conn *c)
{
	c->waiting = true;
}

void conn_resume(conn *c)
{
	c->waiting = false;
	conn_run(c);
}

bool conn_waiting(const conn *c)
{
	return c->waiting;
}

void conn_set_idle(conn *c, uint64_t ms)
{
	c->deadline = false;
	c->idle_ms = ms;
	ev_timer_reset(c->idle, ms);
}

void conn_set_deadline(conn *c, uint64_t ms)
{
	c->deadline = true;
	ev_timer_reset(c->idle, ms);
}

int conn_tls_step(conn *c, SSL_CTX *ctx, uint64_t deadline_ms, bool *started, const char *who,
		  const char *command)
{
	if (!*started) {
		int r = strm_flush(c->stream); /* the go-ahead goes out in plaintext */
		size_t dropped;

		if (r != STRM_OK)
			return r;
		dropped = strm_pending(c->stream);
		if (dropped > 0)
			log_warn("%s: %zu bytes of plaintext pipelined after %s dropped", who, dropped,
				 command);
		strm_start_tls(c->stream, ctx, true, NULL);
		*started = true;
		conn_set_deadline(c, deadline_ms);
	}
	return strm_handshake(c->stream);
}
