/* control.c: master's control socket ($queue_directory/pid/master.sock,
 * mode 0600). mailctl sends one attribute record, protocol=master with
 * request=status or request=reload, and gets one record back:
 *   status: pid, then per service: service, command, listen, process...
 *   reload: status=ok or status=error with message=...
 * Requests are read without blocking the loop; a client has a few seconds
 * to send its record. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attr.h"
#include "fsutil.h"
#include "log.h"
#include "master.h"
#include "mem.h"
#include "sock.h"

#define CONTROL_TIMEOUT_MS 5000
#define CONTROL_ACCEPT_PAUSE_MS 1000

struct control_conn {
	struct master *m;
	int fd;
	ev_io *io;
	ev_timer *timer;
	buf *in;
};

static void conn_close(struct control_conn **cp)
{
	struct control_conn *c = *cp;

	ev_io_remove(&c->io);
	ev_timer_remove(&c->timer);
	close(c->fd);
	buf_free(&c->in);
	free(c);
	*cp = NULL;
}

static void add_status(struct master *m, attr_rec *reply)
{
	attr_add_str(reply, "status", "ok");
	attr_add_int(reply, "pid", (long long)getpid());
	attr_add_str(reply, "config_directory", m->config_dir);
	for (int i = 0; i < m->nsvcs; i++) {
		struct service *s = m->svcs[i];

		attr_add_str(reply, "service", s->key);
		attr_add_str(reply, "command", s->def->command);
		attr_add_str(reply, "listen", s->listen_desc ? s->listen_desc : "-");
		for (int j = 0; j < s->nslots; j++)
			if (s->slots[j] != 0)
				attr_add_int(reply, "process", (long long)s->slots[j]);
	}
}

static attr_rec *handle(struct master *m, const attr_rec *req)
{
	attr_rec *reply = attr_new("master_reply");
	const char *what = NULL;
	char *err = NULL;

	if (attr_scan(req, "master", &err, ATTR_STR, "request", &what, ATTR_END) < 0) {
		attr_add_str(reply, "status", "error");
		attr_add_str(reply, "message", err);
		free(err);
	} else if (strcmp(what, "status") == 0) {
		add_status(m, reply);
	} else if (strcmp(what, "reload") == 0) {
		bool ok = master_reload(m) == 0;

		attr_add_str(reply, "status", ok ? "ok" : "error");
		if (!ok)
			attr_add_str(reply, "message", buf_cstr(m->errors));
	} else {
		attr_add_str(reply, "status", "error");
		attr_add_str(reply, "message", "unknown request");
	}
	return reply;
}

static void reply_and_close(struct control_conn *c, const attr_rec *req)
{
	attr_rec *reply = handle(c->m, req);
	char *err = NULL;

	sock_set_nonblock(c->fd, false);
	if (attr_send(c->fd, reply, CONTROL_TIMEOUT_MS, &err) < 0) {
		log_warn("control socket: %s", err);
		free(err);
	}
	attr_free(&reply);
	conn_close(&c);
}

static void on_conn_read(void *ctx, int fd, int events)
{
	struct control_conn *c = ctx;
	attr_rec *req = NULL;
	char *err = NULL;
	size_t used;
	ssize_t n = read(fd, buf_reserve(c->in, 4096), 4096);
	int rc;
	(void)events;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(&c);
		return;
	}
	buf_commit(c->in, (size_t)n);
	rc = attr_decode(buf_cstr(c->in), buf_len(c->in), &req, &used, &err);
	if (rc == 0)
		return;
	if (rc < 0) {
		log_warn("control socket: bad request: %s", err);
		free(err);
		conn_close(&c);
		return;
	}
	reply_and_close(c, req);
	attr_free(&req);
}

static void on_conn_timeout(void *ctx)
{
	struct control_conn *c = ctx;

	log_warn("control socket: request timed out");
	conn_close(&c);
}

static void on_accept_resume(void *ctx)
{
	struct master *m = ctx;

	ev_timer_remove(&m->ctl_pause);
	ev_io_set_events(m->ctl_io, EV_READ);
}

/* accept_failed: out of descriptors or memory, the pending connection
 * stays in the backlog and the socket stays readable: stop watching it for
 * a while instead of spinning; other errors only concern that connection. */
static void accept_failed(struct master *m, int err)
{
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		if (err != EAGAIN && err != EINTR && err != ECONNABORTED)
			log_warn("control socket: accept: %s", strerror(err));
		return;
	}
	if (m->ctl_pause != NULL)
		return;
	log_warn("control socket: accept: %s: not accepting for %d ms", strerror(err),
		 CONTROL_ACCEPT_PAUSE_MS);
	ev_io_set_events(m->ctl_io, 0);
	m->ctl_pause = ev_timer_add(m->loop, CONTROL_ACCEPT_PAUSE_MS, false, on_accept_resume, m);
}

static void on_accept(void *ctx, int fd, int events)
{
	struct master *m = ctx;
	struct control_conn *c;
	int conn = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	(void)events;

	if (conn < 0) {
		accept_failed(m, errno);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->m = m;
	c->fd = conn;
	c->in = buf_new(256);
	c->io = ev_io_add(m->loop, conn, EV_READ, on_conn_read, c);
	c->timer = ev_timer_add(m->loop, CONTROL_TIMEOUT_MS, false, on_conn_timeout, c);
}

int control_open(struct master *m)
{
	char *err = NULL;
	char *dir = fs_join(cfg_get(m->config, "queue_directory"), "pid");

	m->ctl_path = fs_join(dir, "master.sock");
	free(dir);
	m->ctl_fd = sock_listen_unix(m->ctl_path, 0600, &err);
	if (m->ctl_fd < 0) {
		master_error(m, "control socket: %s", err);
		free(err);
		return -1;
	}
	sock_set_nonblock(m->ctl_fd, true);
	m->ctl_io = ev_io_add(m->loop, m->ctl_fd, EV_READ, on_accept, m);
	return 0;
}

void control_close(struct master *m)
{
	if (m->ctl_io == NULL)
		return;
	ev_timer_remove(&m->ctl_pause);
	ev_io_remove(&m->ctl_io);
	close(m->ctl_fd);
	unlink(m->ctl_path);
}
