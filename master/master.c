/* master.c: the Postern supervisor. Reads main.cf and master.cf, takes the
 * pid-file lock (one master per configuration), binds every service's
 * sockets, starts the workers and keeps them running; SIGHUP (or a reload
 * request on the control socket) re-reads the configuration and changes
 * only what changed; SIGTERM stops every worker and exits.
 *
 *   master [-c config_dir] [-f] [-w]
 *   -f  stay in the foreground and log to stderr too
 *   -w  daemonise, and exit only once the services listen (0) or startup
 *       failed (1, with the reason on stderr); mailctl start uses this */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "fsutil.h"
#include "log.h"
#include "master.h"
#include "mem.h"
#include "sock.h"
#include "svc.h"

#define MAIN_CF_MAX (4 * 1024 * 1024)

static int ready_fd = -1;

void master_error(struct master *m, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		log_fatal("out of memory");
	va_end(ap);
	log_warn("%s", msg);
	buf_printf(m->errors, "%s\n", msg);
	free(msg);
}

static void diag_to_errors(void *ctx, const char *file, int line, const char *severity,
			   const char *msg)
{
	struct master *m = ctx;

	if (strcmp(severity, "error") == 0)
		master_error(m, "%s:%d: %s", file, line, msg);
	else
		log_warn("%s:%d: %s", file, line, msg);
}

int master_load(struct master *m, cfg **config_r, struct mcf **mcf_r, char **main_text_r)
{
	char *main_path = fs_join(m->config_dir, "main.cf");
	char *master_path = fs_join(m->config_dir, "master.cf");
	buf *text = buf_new(4096);
	char *err = NULL;
	int rc = -1;

	*config_r = cfg_new(m->config_dir);
	*mcf_r = NULL;
	*main_text_r = NULL;
	if (fs_read_file(main_path, text, MAIN_CF_MAX, &err) < 0) {
		master_error(m, "%s", err);
		free(err);
	} else if (cfg_load_file(*config_r, main_path, diag_to_errors, m) == 0 &&
		   cfg_check(*config_r, diag_to_errors, m) == 0) {
		*mcf_r = mcf_load(master_path,
				  (int)cfg_get_int(*config_r, "default_process_limit"),
				  diag_to_errors, m);
		rc = *mcf_r != NULL ? 0 : -1;
	}
	*main_text_r = buf_steal(text);
	buf_free(&text);
	free(main_path);
	free(master_path);
	if (rc < 0) {
		cfg_free(config_r);
		mcf_free(mcf_r);
	}
	return rc;
}

static int check_commands(struct master *m, cfg *config, struct mcf *mcf)
{
	cfg *saved = m->config;
	int errors = 0;

	m->config = config;
	for (int i = 0; i < mcf->count; i++) {
		char *path = service_command_path(m, &mcf->services[i]);

		if (access(path, X_OK) < 0) {
			master_error(m, "%s:%d: service %s: command %s: %s", mcf->path,
				     mcf->services[i].line, mcf->services[i].name, path,
				     strerror(errno));
			errors++;
		}
		free(path);
	}
	m->config = saved;
	return errors ? -1 : 0;
}

/* The lock is held for the master's lifetime; a second master on the same
 * queue finds it taken. */
static int lock_pid_file(struct master *m)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char *dir = fs_join(cfg_get(m->config, "queue_directory"), "pid");
	char text[32];
	int n;

	mkdir(dir, 0755);
	m->pid_path = fs_join(dir, "master.pid");
	free(dir);
	m->pid_fd = open(m->pid_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (m->pid_fd < 0) {
		master_error(m, "cannot open %s: %s", m->pid_path, strerror(errno));
		return -1;
	}
	if (fcntl(m->pid_fd, F_SETLK, &fl) < 0) {
		n = (int)pread(m->pid_fd, text, sizeof(text) - 1, 0);
		text[n > 0 ? n : 0] = '\0';
		master_error(m, "the mail system for %s is already running (pid %d)", m->config_dir,
			     atoi(text));
		close(m->pid_fd);
		m->pid_fd = -1;
		return -1;
	}
	n = snprintf(text, sizeof(text), "%10d\n", (int)getpid());
	if (ftruncate(m->pid_fd, 0) < 0 || pwrite(m->pid_fd, text, (size_t)n, 0) != n) {
		master_error(m, "cannot write %s: %s", m->pid_path, strerror(errno));
		return -1;
	}
	return 0;
}

static int check_queue_dir(struct master *m)
{
	const char *queue = cfg_get(m->config, "queue_directory");
	static const char *const subdirs[] = { "pid", "private", "public", "tmp", "incoming",
					       "active", "deferred", "hold", "corrupt", "defer" };
	struct stat st;

	if (stat(queue, &st) < 0 || !S_ISDIR(st.st_mode)) {
		master_error(m, "queue_directory %s: %s", queue,
			     errno ? strerror(errno) : "not a directory");
		return -1;
	}
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		char *dir = fs_join(queue, subdirs[i]);

		if (mkdir(dir, i == 0 || i == 2 ? 0755 : 0700) < 0 && errno != EEXIST) {
			master_error(m, "cannot create %s: %s", dir, strerror(errno));
			free(dir);
			return -1;
		}
		if (m->is_root && chown(dir, i == 0 ? 0 : m->owner_uid, m->owner_gid) < 0)
			log_warn("cannot chown %s: %s", dir, strerror(errno));
		free(dir);
	}
	return 0;
}

/* Builds m->svcs from m->mcf; binds every socket or none. */
static int start_services(struct master *m)
{
	m->svcs = xcalloc((size_t)m->mcf->count + 1, sizeof(struct service *));
	for (int i = 0; i < m->mcf->count; i++) {
		struct service *s = service_new(m, &m->mcf->services[i]);

		m->svcs[m->nsvcs++] = s;
		if (service_bind(m, s) < 0)
			return -1;
	}
	for (int i = 0; i < m->nsvcs; i++) {
		spawn_fill(m, m->svcs[i]);
		service_arm_wakeup(m, m->svcs[i]);
	}
	return 0;
}

static void finish_stop(struct master *m)
{
	for (int i = 0; i < m->nsvcs; i++)
		service_free(m, &m->svcs[i]);
	m->nsvcs = 0;
	control_close(m);
	if (m->pid_path != NULL)
		unlink(m->pid_path);
	log_info("stopped");
	ev_stop(m->loop);
}

static void on_kill_timer(void *ctx)
{
	struct master *m = ctx;

	log_warn("%d process(es) did not stop in time: killing them", spawn_count_live(m));
	ev_timer_remove(&m->kill_timer);
	spawn_kill_all(m, SIGKILL);
}

void master_begin_stop(struct master *m)
{
	if (m->stopping)
		return;
	m->stopping = true;
	log_info("stopping");
	for (int i = 0; i < m->nsvcs; i++)
		spawn_retire(m, m->svcs[i]);
	if (spawn_count_live(m) == 0) {
		finish_stop(m);
		return;
	}
	m->kill_timer = ev_timer_add(m->loop,
				     (uint64_t)cfg_get_int(m->config, "service_stop_timeout") * 1000,
				     false, on_kill_timer, m);
}

static void on_signal(void *ctx, int signo)
{
	struct master *m = ctx;

	switch (signo) {
	case SIGCHLD:
		spawn_reap(m);
		if (m->stopping && spawn_count_live(m) == 0) {
			ev_timer_remove(&m->kill_timer);
			finish_stop(m);
		}
		break;
	case SIGHUP:
		master_reload(m);
		break;
	default:
		master_begin_stop(m);
	}
}

static void report_ready(struct master *m, bool ok)
{
	if (ready_fd < 0)
		return;
	if (ok) {
		if (write(ready_fd, "ok\n", 3) < 0)
			log_warn("cannot report readiness: %s", strerror(errno));
	} else {
		if (write(ready_fd, buf_cstr(m->errors), buf_len(m->errors)) < 0)
			log_warn("cannot report startup errors: %s", strerror(errno));
		/* left open: it closes when this failed master exits, so the
		 * waiting parent (mailctl start) returns only once it is gone */
		return;
	}
	close(ready_fd);
	ready_fd = -1;
}

/* -w: the parent waits for the daemon's verdict and exits with it. */
static void daemonize(bool wait_ready)
{
	int fds[2], null;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		log_fatal("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		log_fatal("fork: %s", strerror(errno));
	if (pid > 0) {
		char text[8192];
		ssize_t n, total = 0;

		close(fds[1]);
		while ((n = read(fds[0], text + total, sizeof(text) - 1 - (size_t)total)) > 0)
			total += n;
		text[total] = '\0';
		if (strncmp(text, "ok\n", 3) == 0)
			exit(0);
		fprintf(stderr, "%s", total > 0 ? text : "master: startup failed (see the log)\n");
		exit(1);
	}
	close(fds[0]);
	ready_fd = wait_ready ? fds[1] : -1;
	if (!wait_ready)
		close(fds[1]);
	setsid();
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
}

/* on_tix_timer: keeps the ticket key chain at the current epoch even when
 * no child starts, so keys of past epochs do not linger in master. */
static void on_tix_timer(void *ctx)
{
	struct master *m = ctx;

	tlstix_chain_advance(&m->tix, tlstix_master_epoch(time(NULL)));
}

/* tix_start: the TLS ticket key chain every child gets (tlstix.h). */
static int tix_start(struct master *m)
{
	time_t start = (time_t)tlstix_master_epoch(time(NULL)) * TLSTIX_EPOCH_SECONDS;

	if (!tlstix_chain_new(&m->tix, start)) {
		master_error(m, "no random bytes for the TLS ticket keys");
		return -1;
	}
	m->tix_timer = ev_timer_add(m->loop, TLSTIX_EPOCH_SECONDS * 1000ULL / 4, true,
				    on_tix_timer, m);
	return 0;
}

static int startup(struct master *m)
{
	if (master_load(m, &m->config, &m->mcf, &m->main_cf_text) < 0)
		return -1;
	svc_setup_log(m->config, "master");
	if (owner_find(m) < 0 || check_queue_dir(m) < 0 || lock_pid_file(m) < 0 ||
	    check_commands(m, m->config, m->mcf) < 0)
		return -1;
	owner_give_log(m);
	if (owner_check_access(m) < 0)
		return -1;
	if (pipe2(m->alive_pipe, O_CLOEXEC) < 0) {
		master_error(m, "pipe: %s", strerror(errno));
		return -1;
	}
	m->loop = ev_loop_new();
	/* Signals first: a child that dies before SIGCHLD is blocked and read
	 * through the signalfd would never be reaped nor restarted. */
	ev_signal_add(m->loop, SIGCHLD, on_signal, m);
	ev_signal_add(m->loop, SIGHUP, on_signal, m);
	ev_signal_add(m->loop, SIGTERM, on_signal, m);
	ev_signal_add(m->loop, SIGINT, on_signal, m);
	if (tix_start(m) < 0 || control_open(m) < 0 || start_services(m) < 0)
		return -1;
	return 0;
}

/* Everything left after the loop ended (finish_stop freed the services). */
static void master_free(struct master *m)
{
	OPENSSL_cleanse(&m->tix, sizeof(m->tix));
	ev_loop_free(&m->loop);
	cfg_free(&m->config);
	mcf_free(&m->mcf);
	buf_free(&m->errors);
	free(m->main_cf_text);
	free(m->svcs);
	free(m->children);
	free(m->pid_path);
	free(m->ctl_path);
	free(m->config_dir);
	if (m->pid_fd >= 0)
		close(m->pid_fd);
}

static void usage(void)
{
	fprintf(stderr, "usage: master [-c config_dir] [-f] [-w]\n"
			"  -f  run in the foreground\n"
			"  -w  daemonise and exit once the services listen\n");
	exit(1);
}

static char *absolute_config_dir(const char *dir)
{
	char *abs = realpath(dir, NULL);

	if (abs == NULL)
		log_fatal("config directory %s: %s", dir, strerror(errno));
	return abs;
}

int main(int argc, char **argv)
{
	struct master m = { .pid_fd = -1, .ctl_fd = -1 };
	const char *dir = getenv("MAIL_CONFIG") ? getenv("MAIL_CONFIG") : POSTERN_CONFIG_DIR;
	bool foreground = false, wait_ready = false;
	int opt;

	log_init("master");
	while ((opt = getopt(argc, argv, "c:fw")) != -1) {
		switch (opt) {
		case 'c': dir = optarg; break;
		case 'f': foreground = true; break;
		case 'w': wait_ready = true; break;
		default: usage();
		}
	}
	m.config_dir = absolute_config_dir(dir);
	m.errors = buf_new(256);
	signal(SIGPIPE, SIG_IGN);
	if (!foreground)
		daemonize(wait_ready);
	log_set_stderr(foreground);
	if (startup(&m) < 0) {
		if (m.pid_fd >= 0)
			unlink(m.pid_path);
		report_ready(&m, false);
		log_fatal("startup failed");  /* exit: the OS reclaims the rest */
	}
	log_info("daemon started -- version %s, configuration %s", PACKAGE_VERSION, m.config_dir);
	report_ready(&m, true);
	ev_run(m.loop);
	master_free(&m);
	return 0;
}
