/* ev.h: the epoll event loop every service runs: fd watchers, one-shot and
 * repeating timers (a binary heap, so thousands of idle timeouts are cheap)
 * and signals delivered through signalfd as ordinary callbacks.
 * Removing a watcher from inside any callback is safe; the remove functions
 * take a pointer to the caller's handle and set it to NULL. */
#ifndef POSTERN_EV_H
#define POSTERN_EV_H

#include <stdbool.h>
#include <stdint.h>

#define EV_READ 1
#define EV_WRITE 2
/* Reported in addition to EV_READ/EV_WRITE on hang-up or error. */
#define EV_ERROR 4
/* For ev_io_add only: an fd several processes watch (a shared listening
 * socket); when it becomes ready the kernel wakes one waiting process, not
 * all of them (EPOLLEXCLUSIVE). */
#define EV_EXCLUSIVE 8

typedef struct ev_loop ev_loop;
typedef struct ev_io ev_io;
typedef struct ev_timer ev_timer;
typedef struct ev_signal ev_signal;

typedef void ev_io_cb(void *ctx, int fd, int events);
typedef void ev_timer_cb(void *ctx);
typedef void ev_signal_cb(void *ctx, int signo);

ev_loop *ev_loop_new(void);
/* ev_loop_free: the loop's remaining watchers are freed too, the epoll fd
 * and signalfd closed, and signals it blocked unblocked. Not from inside a
 * callback of the same loop. */
void ev_loop_free(ev_loop **loop);

/* ev_run: dispatches until ev_stop is called; returns 0, or -1 when
 * epoll_wait fails for a reason other than EINTR. */
int ev_run(ev_loop *loop);
/* ev_run_once: waits at most timeout_ms (-1 forever) for one batch. */
int ev_run_once(ev_loop *loop, int timeout_ms);
void ev_stop(ev_loop *loop);

/* ev_set_busy_poll: after a round that had events, poll for up to usec
 * microseconds before sleeping (0, the default, never does): for servers
 * of request/reply protocols, where the next request usually comes at
 * once and a sleep costs a wake-up per reply. */
void ev_set_busy_poll(ev_loop *loop, unsigned usec);

/* ev_now_ms: monotonic milliseconds, cached per loop iteration. */
uint64_t ev_now_ms(ev_loop *loop);

/* ev_io_add: watch fd for events (EV_READ|EV_WRITE, optionally with
 * EV_EXCLUSIVE, which the watcher then keeps; 0 = registered but silent). One watcher per fd (a second one is a log_panic). On hang-up or
 * error cb gets EV_ERROR plus the events the watcher asked for, so its
 * read/write sees the EOF or error. Remove the watcher before close(fd). */
ev_io *ev_io_add(ev_loop *loop, int fd, int events, ev_io_cb *cb, void *ctx);
void ev_io_set_events(ev_io *io, int events);
void ev_io_remove(ev_io **io);

/* ev_timer_add: calls cb after msecs (counted from this call), then every
 * msecs if repeat. A one-shot timer that has fired stays allocated and
 * disarmed until ev_timer_remove (or ev_timer_reset arms it again). */
ev_timer *ev_timer_add(ev_loop *loop, uint64_t msecs, bool repeat, ev_timer_cb *cb, void *ctx);
/* ev_timer_reset: restart the countdown from now with msecs (also the new
 * period of a repeating timer). */
void ev_timer_reset(ev_timer *t, uint64_t msecs);
void ev_timer_remove(ev_timer **t);

/* ev_signal_add: blocks signo for the process and delivers it to cb from
 * the loop. One watcher per signal. Several instances of one signal may
 * arrive as one call (reap children with a waitpid loop). ev_signal_remove
 * drops a pending instance and unblocks it, unless it was blocked before
 * ev_signal_add. The blocked mask survives fork and exec: reset it in a
 * child before exec. */
ev_signal *ev_signal_add(ev_loop *loop, int signo, ev_signal_cb *cb, void *ctx);
void ev_signal_remove(ev_signal **sig);

#endif
