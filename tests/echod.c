/* echod.c: a test-only service (never installed) for the end-to-end tests
 * of master and the daemon skeleton. It greets with "220 echod PID ready",
 * echoes every line back, answers "PID" with its process id, "CRASH" by
 * dying with SIGSEGV-like abort, and "QUIT" with "221 bye". Sessions run on
 * the shared event loop and line stream, as a real daemon's would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ev.h"
#include "log.h"
#include "mem.h"
#include "strm.h"
#include "svc.h"

#define ECHO_LINE_MAX 1000
#define ECHO_IDLE_MS 60000

struct session {
	svc *service;
	strm *stream;
	ev_io *io;
	ev_timer *idle;
};

static void session_end(struct session *s)
{
	svc *service = s->service;

	ev_io_remove(&s->io);
	ev_timer_remove(&s->idle);
	strm_free(&s->stream);
	free(s);
	svc_conn_done(service);
}

/* Returns false when the session ended. */
static bool handle_line(struct session *s, const char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len == 4 && strncmp(line, "QUIT", 4) == 0) {
		strm_puts(s->stream, "221 bye\r\n");
		strm_flush(s->stream);
		session_end(s);
		return false;
	}
	if (len == 3 && strncmp(line, "PID", 3) == 0)
		strm_printf(s->stream, "250 %d\r\n", (int)getpid());
	else if (len == 5 && strncmp(line, "CRASH", 5) == 0)
		abort();
	else
		strm_printf(s->stream, "250 %.*s\r\n", (int)len, line);
	return true;
}

static void on_io(void *ctx, int fd, int events)
{
	struct session *s = ctx;
	const char *line;
	size_t len;
	int rc;
	(void)fd;
	(void)events;

	ev_timer_reset(s->idle, ECHO_IDLE_MS);
	while ((rc = strm_read_line(s->stream, ECHO_LINE_MAX, &line, &len)) == STRM_OK)
		if (!handle_line(s, line, len))
			return;
	if (rc == STRM_TOOLONG) {
		strm_puts(s->stream, "500 line too long\r\n");
		strm_flush(s->stream);
		session_end(s);
		return;
	}
	if (rc != STRM_AGAIN || strm_flush(s->stream) == STRM_ERROR) {
		session_end(s);
		return;
	}
	ev_io_set_events(s->io, strm_wants(s->stream) | EV_READ);
}

static void on_idle(void *ctx)
{
	session_end(ctx);
}

static void echo_accept(svc *service, int fd)
{
	struct session *s = xcalloc(1, sizeof(*s));

	s->service = service;
	s->stream = strm_new(fd);
	strm_printf(s->stream, "220 echod %d ready\r\n", (int)getpid());
	strm_flush(s->stream);
	s->io = ev_io_add(svc_loop(service), fd, EV_READ, on_io, s);
	s->idle = ev_timer_add(svc_loop(service), ECHO_IDLE_MS, false, on_idle, s);
}

int main(int argc, char **argv)
{
	static const struct svc_ops ops = { .accept = echo_accept };

	svc_main(argc, argv, "echod", &ops, NULL);
}
