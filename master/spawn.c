/* spawn.c: master's child processes. Each service keeps maxproc workers
 * running on its listening sockets; a worker that dies is started again,
 * at once if it had run for a while, after a doubling delay if it keeps
 * crashing right after its start (a crash loop must not spin the CPU).
 * A worker killed from outside right after its start (an admin's or a
 * tester's kill, the OOM killer) is no crash of its own: it is started
 * again after the first short delay, however often that happens, so a
 * storm of kills cannot push a qmgr's restarts out to the maximum delay.
 * The crash count is cleared as soon as a restarted worker has lived
 * through the crash window, not only when it dies. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "mem.h"
#include "sock.h"
#include "svc.h"

/* The loop's cached time can be old after a long callback; process ages
 * (crash-loop detection) need the real time. */
static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void child_track(struct master *m, pid_t pid, struct service *s)
{
	m->children = xrealloc(m->children, sizeof(struct child) * (size_t)(m->nchildren + 1));
	m->children[m->nchildren++] =
		(struct child){ .pid = pid, .svc = s, .started_ms = now_ms() };
}

static char **child_argv(struct master *m, struct service *s, const char *path)
{
	const struct mcf_service *def = s->def;
	char **argv = xcalloc((size_t)def->nargs + 8, sizeof(char *));
	int n = 0;

	argv[n++] = (char *)path;
	argv[n++] = "-c";
	argv[n++] = m->config_dir;
	argv[n++] = "-n";
	argv[n++] = def->name;
	argv[n++] = "-t";
	argv[n++] = def->type == MCF_INET ? "inet" : "unix";
	for (int i = 0; i < def->nargs; i++)
		argv[n++] = def->args[i];
	return argv;
}

/* Moves the inherited descriptors to 3 (alive pipe), 4.. (sockets) and
 * the one after them (the TLS ticket keys, tlstix.h, when tix_fd >= 0).
 * The copies are first made above that range (not at a fixed number like
 * 100, which fails with EINVAL under a low RLIMIT_NOFILE), so no dup2
 * overwrites a descriptor still to be moved. */
static void child_fds(struct master *m, struct service *s, int tix_fd)
{
	int high[MASTER_MAX_LISTEN + 2], base = SVC_LISTEN_FD + s->nlisten + 1;
	int tix_at = SVC_LISTEN_FD + s->nlisten;
	char num[16];

	high[0] = fcntl(m->alive_pipe[0], F_DUPFD, base);
	for (int i = 0; i < s->nlisten; i++)
		high[i + 1] = fcntl(s->listen_fds[i], F_DUPFD, base);
	high[s->nlisten + 1] = tix_fd >= 0 ? fcntl(tix_fd, F_DUPFD, base) : -1;
	dup2(high[0], SVC_ALIVE_FD);
	for (int i = 0; i < s->nlisten; i++)
		dup2(high[i + 1], SVC_LISTEN_FD + i);
	if (high[s->nlisten + 1] >= 0 && dup2(high[s->nlisten + 1], tix_at) == tix_at) {
		snprintf(num, sizeof(num), "%d", tix_at);
		setenv(TLSTIX_ENV, num, 1);
		tix_at++;
	}
	close_range((unsigned)tix_at, ~0U, 0);
}

static void child_privileges(struct master *m, struct service *s)
{
	if (!m->is_root)
		return;
	if (s->def->chroot) {
		const char *queue = cfg_get(m->config, "queue_directory");

		if (chroot(queue) < 0 || chdir("/") < 0)
			log_fatal("chroot %s: %s", queue, strerror(errno));
	}
	if (!s->def->unpriv)
		return;
	if (setgroups(1, &m->owner_gid) < 0 || setgid(m->owner_gid) < 0 ||
	    setuid(m->owner_uid) < 0)
		log_fatal("cannot drop privileges to %s: %s", cfg_get(m->config, "mail_owner"),
			  strerror(errno));
}

static void child_exec(struct master *m, struct service *s, int tix_fd)
{
	char *path = service_command_path(m, s->def);
	char count[16];
	sigset_t hup_only;

	/* SIGHUP stays blocked across exec: a reload that signals a child still
	 * starting up (before lib/svc watches SIGHUP through its signalfd) waits
	 * there instead of killing it with the default action. */
	sigemptyset(&hup_only);
	sigaddset(&hup_only, SIGHUP);
	sigprocmask(SIG_SETMASK, &hup_only, NULL);
	signal(SIGPIPE, SIG_DFL);
	child_fds(m, s, tix_fd);
	snprintf(count, sizeof(count), "%d", s->nlisten);
	setenv("POSTERN_LISTEN_FDS", count, 1);
	setenv("MAIL_CONFIG", m->config_dir, 1);
	child_privileges(m, s);
	execv(path, child_argv(m, s, path));
	log_warn("cannot execute %s: %s", path, strerror(errno));
	_exit(127);
}

/* tix_pipe: the ticket key chain at the current epoch, for one child. */
static int tix_pipe(struct master *m)
{
	int fd;

	tlstix_chain_advance(&m->tix, tlstix_master_epoch(time(NULL)));
	fd = tlstix_send(&m->tix);
	if (fd < 0)
		log_warn("cannot hand TLS ticket keys to a child: %s", strerror(errno));
	return fd;
}

/* worker_age_ms: how long the service's live worker pid has run, 0 when
 * it is gone. */
static uint64_t worker_age_ms(const struct master *m, const struct service *s, pid_t pid)
{
	for (int i = 0; i < m->nchildren; i++)
		if (m->children[i].svc == s && m->children[i].pid == pid)
			return now_ms() - m->children[i].started_ms + 1;
	return 0;
}

/* on_settle: a worker was restarted during a crash loop; once it has
 * lived through the crash window the loop is over. (Its own restart, not
 * any worker: a healthy sibling says nothing about a slot that crashes.) */
static void on_settle(void *ctx)
{
	struct service *s = ctx;
	struct master *m = s->master;
	uint64_t age = worker_age_ms(m, s, s->settle_pid);

	ev_timer_remove(&s->settle);
	if (s->fails == 0 || age == 0)
		return; /* over already, or it died: child_ended judges that */
	if (age < MASTER_CRASH_WINDOW_MS) {
		s->settle = ev_timer_add(m->loop, MASTER_CRASH_WINDOW_MS - age, false, on_settle, s);
		return;
	}
	log_info("service %s: running for %llu ms after %d quick crash(es): restart delay reset",
		 s->key, (unsigned long long)age, s->fails);
	s->fails = 0;
}

static void spawn_one(struct master *m, struct service *s, int slot)
{
	int tix_fd = tix_pipe(m);
	pid_t pid = fork();

	if (pid == 0)
		child_exec(m, s, tix_fd);
	if (tix_fd >= 0)
		close(tix_fd);
	if (pid < 0) {
		log_warn("fork for service %s: %s", s->key, strerror(errno));
		s->next_start_ms = now_ms() + MASTER_FIRST_BACKOFF_MS;
		return;
	}
	s->slots[slot] = pid;
	child_track(m, pid, s);
	if (s->fails > 0) {
		ev_timer_remove(&s->settle);
		s->settle_pid = pid;
		s->settle = ev_timer_add(m->loop, MASTER_CRASH_WINDOW_MS, false, on_settle, s);
	}
	log_debug("service %s: started pid %d", s->key, (int)pid);
}

static void on_respawn(void *ctx)
{
	struct service *s = ctx;

	ev_timer_remove(&s->respawn);
	spawn_fill(s->master, s);
}

void spawn_fill(struct master *m, struct service *s)
{
	uint64_t now = now_ms();

	if (m->stopping)
		return;
	if (now < s->next_start_ms) {
		if (s->respawn == NULL)
			s->respawn = ev_timer_add(m->loop, s->next_start_ms - now, false, on_respawn, s);
		return;
	}
	for (int i = 0; i < s->nslots; i++)
		if (s->slots[i] == 0)
			spawn_one(m, s, i);
}

void spawn_retire(struct master *m, struct service *s)
{
	for (int i = 0; i < m->nchildren; i++) {
		if (m->children[i].svc != s)
			continue;
		kill(m->children[i].pid, SIGTERM);
		m->children[i].svc = NULL;
	}
	for (int i = 0; i < s->nslots; i++)
		s->slots[i] = 0;
	ev_timer_remove(&s->respawn);
	ev_timer_remove(&s->settle);
}

static void describe_exit(const struct child *c, int status, const char *what)
{
	if (WIFSIGNALED(status))
		log_warn("%s pid %d killed by signal %d", what, (int)c->pid, WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		log_warn("%s pid %d exit status %d", what, (int)c->pid, WEXITSTATUS(status));
	else
		log_debug("%s pid %d exited", what, (int)c->pid);
}

/* killed_from_outside: ended by a signal that something else sends (an
 * admin, a supervisor, the OOM killer, a closed pipe), not by a fault of
 * its own like SIGSEGV, SIGABRT, SIGBUS, SIGFPE or SIGILL. */
static bool killed_from_outside(int status)
{
	if (!WIFSIGNALED(status))
		return false;
	switch (WTERMSIG(status)) {
	case SIGKILL:
	case SIGTERM:
	case SIGINT:
	case SIGHUP:
	case SIGPIPE:
		return true;
	default:
		return false;
	}
}

/* restart_delay: the wait before the next start after a quick death:
 * the first delay for a kill from outside (the crash count unchanged),
 * else doubling with each crash in a row, up to service_restart_delay_max. */
static uint64_t restart_delay(struct master *m, struct service *s, int status)
{
	uint64_t max = (uint64_t)cfg_get_int(m->config, "service_restart_delay_max") * 1000;
	uint64_t delay = MASTER_FIRST_BACKOFF_MS;

	if (!killed_from_outside(status))
		delay <<= s->fails < 16 ? s->fails : 16;
	if (delay > max)
		delay = max;
	if (!killed_from_outside(status))
		s->fails++;
	return delay;
}

/* A child of a live service ended: free its slot and plan the next start. */
static void child_ended(struct master *m, const struct child *c, int status)
{
	struct service *s = c->svc;
	uint64_t now = now_ms();
	bool abnormal = WIFSIGNALED(status) || WEXITSTATUS(status) != 0;

	describe_exit(c, status, s->key);
	for (int i = 0; i < s->nslots; i++)
		if (s->slots[i] == c->pid)
			s->slots[i] = 0;
	if (now - c->started_ms < MASTER_CRASH_WINDOW_MS && (abnormal || s->fails > 0)) {
		uint64_t delay = restart_delay(m, s, status);

		if (now + delay > s->next_start_ms) /* never sooner than a crash asked */
			s->next_start_ms = now + delay;
		log_warn("service %s: process died %llu ms after its start; next start in %llu ms",
			 s->key, (unsigned long long)(now - c->started_ms),
			 (unsigned long long)(s->next_start_ms - now));
	} else {
		s->fails = 0;
		s->next_start_ms = now;
	}
	spawn_fill(m, s);
}

void spawn_reap(struct master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < m->nchildren; i++) {
			struct child c = m->children[i];

			if (c.pid != pid)
				continue;
			m->children[i] = m->children[--m->nchildren];
			if (c.svc != NULL)
				child_ended(m, &c, status);
			else
				describe_exit(&c, status, "retired process");
			break;
		}
	}
}

void spawn_kill_all(struct master *m, int signo)
{
	for (int i = 0; i < m->nchildren; i++)
		kill(m->children[i].pid, signo);
}

void spawn_signal(struct master *m, struct service *s, int signo)
{
	for (int i = 0; i < m->nchildren; i++)
		if (m->children[i].svc == s)
			kill(m->children[i].pid, signo);
}

int spawn_count_live(const struct master *m)
{
	return m->nchildren;
}
