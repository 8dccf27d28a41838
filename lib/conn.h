/* conn.h: the event-loop half of one server connection, shared by the
 * protocol servers (smtpd, pop3d, imapd): the stream and its epoll
 * watcher, the idle timer (or a fixed deadline, for a TLS handshake), the
 * per-record deadline (a line or a block of data arrives whole in time), the
 * delayed replies of a paused session, the loop that runs the protocol's
 * input steps while input is buffered, the output high-water mark that
 * stops reading from a client that does not read, and the close that
 * flushes the last reply before the session is freed.
 *
 * The protocol keeps its own session struct and gives callbacks. A conn
 * is freed only inside conn_run / the event callbacks, after ops->done:
 * protocol code may call conn_close, conn_pause and conn_wait at any time
 * without the conn going away under it. */
#ifndef POSTERN_CONN_H
#define POSTERN_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "ev.h"
#include "strm.h"

/* Reading stops while this much output is unsent. */
#define CONN_OUTPUT_HIGH_WATER (256 * 1024)

typedef struct conn conn;

struct conn_ops {
	/* step: one unit of input work. STRM_OK: call again; STRM_AGAIN: wait
	 * for the events ops->events names (a step that stops because its
	 * output is backed up is also called again as soon as conn's own
	 * flush empties the output); STRM_EOF, STRM_ERROR: the peer is gone
	 * (ops->lost is called and the conn closes). */
	int (*step)(void *ctx);
	/* events: what the session waits for now; usually strm_wants(). */
	int (*events)(void *ctx);
	/* after_step: checks after each step (error limits); may conn_close.
	 * May be NULL. */
	void (*after_step)(void *ctx);
	/* lost: the peer went away (r: STRM_EOF or STRM_ERROR); log it. */
	void (*lost)(void *ctx, int r);
	/* idle: the idle timer or the deadline ran out. The protocol queues a
	 * goodbye if it can and calls conn_close, or restarts the timer. */
	void (*idle)(void *ctx);
	/* done: closed and flushed (or the peer is gone): free the session.
	 * The conn itself is freed right after. */
	void (*done)(void *ctx);
};

/* conn_new: takes over fd (non-blocking) with a new stream; the idle
 * timer starts at idle_ms. Nothing runs until conn_run. */
conn *conn_new(ev_loop *loop, int fd, uint64_t idle_ms, const struct conn_ops *ops,
	       void *ctx);
strm *conn_strm(conn *c);

/* conn_run: runs steps while they make progress, then flushes and sets
 * the events to wait for; frees the conn when it is closed and flushed.
 * The caller must not touch the conn (or the session) afterwards unless
 * it knows the conn is not closing. */
void conn_run(conn *c);

/* conn_close: no more input; the conn goes once its output is flushed. */
void conn_close(conn *c);
bool conn_closing(const conn *c);

/* conn_pause: no input and no output for ms (the reply of a failed login
 * waits), then the session runs again. */
void conn_pause(conn *c, uint64_t ms);
bool conn_paused(const conn *c);

/* conn_wait / conn_resume: the session waits for something of its own
 * (a queue commit): no steps run, output is still flushed. conn_resume
 * runs the session again (a conn_run). */
void conn_wait(conn *c);
void conn_resume(conn *c);
bool conn_waiting(const conn *c);

/* conn_set_idle: restart the idle timer with ms; activity restarts it.
 * conn_set_deadline: a timer that activity does not restart (a TLS
 * handshake has one deadline); conn_set_idle ends it. */
void conn_set_idle(conn *c, uint64_t ms);
void conn_set_deadline(conn *c, uint64_t ms);

/* conn_set_record_deadline: ms (0 = off) bounds the time to receive one
 * whole record, a command line or a block of data (see strm_in_record),
 * from the run that first saw part of it to the one that completes it;
 * reads do not restart it, unlike the idle timer. When it runs out,
 * ops->idle is called as for the idle timer, and conn_record_late is true
 * until the next idle call. Like Postfix's smtpd_per_record_deadline. */
void conn_set_record_deadline(conn *c, uint64_t ms);
bool conn_record_late(const conn *c);

/* conn_tls_step: the server side of starting TLS as an input step, for
 * STARTTLS, STLS and implicit TLS. While *started is false it first
 * flushes the plaintext reply, then drops any plaintext the client
 * pipelined after its command (logged as "<who>: N bytes of plaintext
 * pipelined after <command> dropped"), starts TLS with ctx and puts the
 * handshake under one deadline of deadline_ms; then it drives the
 * handshake. STRM_OK: done (the caller restarts the idle timer and
 * greets or resets its state); STRM_AGAIN: wait; anything else: failed
 * (the caller logs and closes). */
int conn_tls_step(conn *c, SSL_CTX *ctx, uint64_t deadline_ms, bool *started, const char *who,
		  const char *command);

#endif
