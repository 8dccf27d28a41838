/* svc.c: the daemon skeleton (see svc.h): options, config, log, inherited
 * sockets, accept loop, max_use, master-alive watch and graceful stop. */
#include "svc.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "mapgen.h"
#include "mem.h"
#include "sock.h"
#include "tlstix.h"

#define MAX_LISTEN 16
#define STOP_GRACE_MS 5000
/* After accept failed for lack of descriptors or memory: the listening
 * socket stays readable, so it is left alone this long (other processes
 * of the service still accept) instead of being retried in a busy loop. */
#define ACCEPT_PAUSE_MS 1000

struct svc {
	const struct svc_ops *ops;
	void *ctx;
	const char *program;
	char *name;
	char *config_dir;
	cfg *config;
	ev_loop *loop;
	ev_io *listen_io[MAX_LISTEN];
	int listen_fd[MAX_LISTEN];
	int nlisten;
	ev_io *alive_io;
	ev_timer *accept_pause; /* set while accepting is paused */
	long long max_use;
	long long accepted;
	long long open_conns;
	bool stopping;
};

ev_loop *svc_loop(svc *s) { return s->loop; }
cfg *svc_cfg(svc *s) { return s->config; }
void *svc_ctx(svc *s) { return s->ctx; }
const char *svc_name(svc *s) { return s->name; }
bool svc_stopping(svc *s) { return s->stopping; }

static void config_diag(void *ctx, const char *file, int line, const char *severity,
			const char *msg)
{
	(void)ctx;
	log_warn("%s:%d: %s%s", file, line, strcmp(severity, "error") == 0 ? "error: " : "", msg);
}

void svc_setup_log(cfg *c, const char *program)
{
	const char *file = cfg_get(c, "maillog_file");
	const char *level = cfg_get(c, "log_level");
	char *err = NULL;

	log_init(program);
	log_set_syslog_name(cfg_get(c, "syslog_name"));
	if (strcmp(level, "debug") == 0)
		log_set_level(LOG_LVL_DEBUG);
	else if (strcmp(level, "warning") == 0)
		log_set_level(LOG_LVL_WARN);
	else
		log_set_level(LOG_LVL_INFO);
	if (*file ? log_open_file(file, &err) : log_open_syslog(cfg_get(c, "syslog_facility"), &err))
		log_fatal("%s", err);
}

static void stop_accepting(svc *s)
{
	ev_timer_remove(&s->accept_pause);
	for (int i = 0; i < s->nlisten; i++) {
		ev_io_remove(&s->listen_io[i]);
		close(s->listen_fd[i]);
	}
	s->nlisten = 0;
}

static void maybe_exit(svc *s)
{
	if ((s->stopping || (s->max_use > 0 && s->accepted >= s->max_use)) && s->open_conns == 0)
		ev_stop(s->loop);
}

void svc_conn_done(svc *s)
{
	if (s->open_conns > 0)
		s->open_conns--;
	maybe_exit(s);
}

void svc_refuse(svc *s, int fd, const char *reply, int sessions)
{
	if (write(fd, reply, strlen(reply)) < 0)
		log_debug("refusing a session: %s", strerror(errno));
	close(fd);
	log_warn("too many sessions (%d): refusing a connection", sessions);
	svc_conn_done(s);
}

static void on_accept_resume(void *ctx)
{
	svc *s = ctx;

	ev_timer_remove(&s->accept_pause);
	for (int i = 0; i < s->nlisten; i++)
		ev_io_set_events(s->listen_io[i], EV_READ);
}

/* accept_failed: EMFILE, ENFILE, ENOBUFS and ENOMEM pause accepting; any
 * other error is logged and the next connection tried on the next event. */
static void accept_failed(svc *s, int err)
{
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		log_warn("accept on %s: %s", s->name, strerror(err));
		return;
	}
	if (s->accept_pause != NULL)
		return;
	log_warn("accept on %s: %s: not accepting for %d ms", s->name, strerror(err),
		 ACCEPT_PAUSE_MS);
	for (int i = 0; i < s->nlisten; i++)
		ev_io_set_events(s->listen_io[i], 0);
	s->accept_pause = ev_timer_add(s->loop, ACCEPT_PAUSE_MS, false, on_accept_resume, s);
}

static void on_listen(void *ctx, int fd, int events)
{
	svc *s = ctx;
	(void)events;

	for (int burst = 0; burst < 64 && s->nlisten > 0; burst++) {
		int conn = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (conn < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				accept_failed(s, errno);
			return;
		}
		s->accepted++;
		s->open_conns++;
		s->ops->accept(s, conn);
		if (s->max_use > 0 && s->accepted >= s->max_use) {
			log_debug("served %lld connections (max_use): exiting when idle",
				  s->accepted);
			stop_accepting(s);
			maybe_exit(s);
			return;
		}
	}
}

static void on_grace_over(void *ctx)
{
	svc *s = ctx;

	log_info("stopping with %lld open connection(s)", s->open_conns);
	ev_stop(s->loop);
}

static void begin_stop(svc *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	stop_accepting(s);
	if (s->ops->stop != NULL)
		s->ops->stop(s);
	ev_timer_add(s->loop, STOP_GRACE_MS, false, on_grace_over, s);
	maybe_exit(s);
}

static void on_signal(void *ctx, int signo)
{
	svc *s = ctx;

	if (signo == SIGTERM || signo == SIGINT)
		begin_stop(s);
	else if (signo == SIGHUP && s->ops->reload != NULL && !s->stopping)
		s->ops->reload(s);
}

static void on_master_gone(void *ctx, int fd, int events)
{
	svc *s = ctx;
	char byte;
	(void)events;

	if (read(fd, &byte, 1) <= 0) {
		ev_io_remove(&s->alive_io);
		close(fd);
		log_info("master is gone: stopping");
		begin_stop(s);
	}
}

static void usage(const char *program)
{
	fprintf(stderr,
		"usage: %s [-c config_dir] [-n service] [-t type] [-o key=value]... [-v]\n"
		"This program is started by the Postern master (see master(8)).\n",
		program);
	exit(1);
}

static void parse_options(svc *s, int argc, char **argv, char ***overrides_r)
{
	int n = 0, opt;

	*overrides_r = xcalloc((size_t)argc + 1, sizeof(char *));
	while ((opt = getopt(argc, argv, "c:n:t:o:v")) != -1) {
		switch (opt) {
		case 'c': s->config_dir = xstrdup(optarg); break;
		case 'n': s->name = xstrdup(optarg); break;
		case 't': break;
		case 'o':
			if (strchr(optarg, '=') == NULL)
				usage(s->program);
			(*overrides_r)[n++] = optarg;
			break;
		case 'v': log_set_level(LOG_LVL_DEBUG); break;
		default: usage(s->program);
		}
	}
}

static void load_config(svc *s, char **overrides)
{
	char *path;
	int errors;

	if (s->config_dir == NULL)
		s->config_dir = xstrdup(getenv("MAIL_CONFIG") ? getenv("MAIL_CONFIG")
							       : POSTERN_CONFIG_DIR);
	s->config = cfg_new(s->config_dir);
	path = fs_join(s->config_dir, "main.cf");
	errors = cfg_load_file(s->config, path, config_diag, s);
	free(path);
	for (int i = 0; overrides[i] != NULL; i++) {
		char *eq = strchr(overrides[i], '=');
		char *name = xstrndup(overrides[i], (size_t)(eq - overrides[i]));

		cfg_set(s->config, name, eq + 1);
		free(name);
	}
	if (errors != 0 || cfg_check(s->config, config_diag, s) != 0)
		log_fatal("bad configuration in %s: see the messages above", s->config_dir);
}

static void take_sockets(svc *s)
{
	const char *count = getenv("POSTERN_LISTEN_FDS");
	int n = count ? atoi(count) : 0;

	if (n < 0 || n > MAX_LISTEN)
		log_fatal("bad POSTERN_LISTEN_FDS '%s'", count);
	for (int i = 0; i < n; i++) {
		int fd = SVC_LISTEN_FD + i;

		sock_set_nonblock(fd, true);
		sock_set_cloexec(fd, true);
		s->listen_fd[s->nlisten] = fd;
		/* every process of the service watches the socket: one wakes */
		s->listen_io[s->nlisten++] = ev_io_add(s->loop, fd, EV_READ | EV_EXCLUSIVE,
						       on_listen, s);
	}
	if (fcntl(SVC_ALIVE_FD, F_GETFD) >= 0) {
		sock_set_cloexec(SVC_ALIVE_FD, true);
		s->alive_io = ev_io_add(s->loop, SVC_ALIVE_FD, EV_READ, on_master_gone, s);
	}
}

/* attach_mapgen: admin changes to the maps act at the next lookup. */
static void attach_mapgen(svc *s)
{
	char *err = NULL;

	if (mapgen_attach(cfg_get(s->config, "queue_directory"), &err) < 0) {
		log_warn("%s; map changes are seen within a second instead", err);
		free(err);
	}
}

int svc_main(int argc, char **argv, const char *program, const struct svc_ops *ops, void *ctx)
{
	svc s = { .ops = ops, .ctx = ctx, .program = program };
	char **overrides;

	log_init(program);
	signal(SIGPIPE, SIG_IGN);
	parse_options(&s, argc, argv, &overrides);
	if (s.name == NULL)
		s.name = xstrdup(program);
	load_config(&s, overrides);
	free(overrides);
	svc_setup_log(s.config, program);
	log_set_stderr(false);
	attach_mapgen(&s);
	s.max_use = cfg_get_int(s.config, "max_use");
	s.loop = ev_loop_new();
	ev_signal_add(s.loop, SIGTERM, on_signal, &s);
	ev_signal_add(s.loop, SIGINT, on_signal, &s);
	ev_signal_add(s.loop, SIGHUP, on_signal, &s);
	take_sockets(&s);
	tlstix_inherit(); /* every program takes it, so none passes it on */
	if (ops->init != NULL)
		ops->init(&s);
	log_debug("service %s ready", s.name);
	ev_run(s.loop);
	ev_loop_free(&s.loop);
	cfg_free(&s.config);
	free(s.name);
	free(s.config_dir);
	exit(0);
}
