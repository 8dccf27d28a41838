/* master.h: state shared by the master supervisor's files: the service
 * table (service.c), child processes (spawn.c), the control socket
 * (control.c), startup/reload (master.c) and mail_owner (owner.c). Internal to master/. */
#ifndef POSTERN_MASTER_H
#define POSTERN_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "cfg.h"
#include "ev.h"
#include "mcf.h"
#include "tlstix.h"

#define MASTER_MAX_LISTEN 16
/* A child that crashes (a fatal signal of its own such as SIGSEGV or
 * SIGABRT, a non-zero exit) sooner than this after its start counts toward
 * a crash loop and makes the next start wait (doubling, up to the
 * configured max). One killed from outside (SIGKILL, SIGTERM, SIGINT,
 * SIGHUP, SIGPIPE) is started again after the first delay, without growing
 * it. A process that has lived this long ends the crash loop. */
#define MASTER_CRASH_WINDOW_MS 1000
#define MASTER_FIRST_BACKOFF_MS 250

struct service {
	struct master *master;
	char *key; /* "name/type" */
	struct mcf_service *def; /* points into master.mcf */
	char *listen_desc; /* "127.0.0.1:10025" or the socket path */
	char *unix_path; /* for unix services, removed at shutdown */
	int listen_fds[MASTER_MAX_LISTEN];
	int nlisten;
	pid_t *slots; /* def->maxproc entries, 0 = empty */
	int nslots;
	int fails; /* consecutive quick crashes */
	uint64_t next_start_ms;
	ev_timer *respawn;
	ev_timer *settle; /* checks that a restart outlived the crash window */
	pid_t settle_pid; /* the restart it watches */
	ev_timer *wakeup;
};

struct child {
	pid_t pid;
	struct service *svc; /* NULL once retired (reload, stop) */
	uint64_t started_ms;
};

struct master {
	char *config_dir;
	cfg *config;
	struct mcf *mcf;
	char *main_cf_text;
	struct service **svcs;
	int nsvcs;
	struct child *children;
	int nchildren;
	ev_loop *loop;
	int alive_pipe[2];
	int pid_fd;
	char *pid_path;
	int ctl_fd;
	char *ctl_path;
	ev_io *ctl_io;
	ev_timer *ctl_pause; /* accepting paused after EMFILE */
	ev_timer *kill_timer;
	struct tlstix_chain tix; /* TLS ticket keys, handed to every child */
	ev_timer *tix_timer; /* moves tix along once per epoch */
	bool stopping;
	bool is_root;
	uid_t owner_uid;
	gid_t owner_gid;
	buf *errors; /* startup / reload error text for the caller */
};

/* master.c */
void master_error(struct master *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* master_load: reads main.cf and master.cf into *config_r / *mcf_r; errors
 * go to m->errors. 0 or -1. */
int master_load(struct master *m, cfg **config_r, struct mcf **mcf_r, char **main_text_r);
int master_reload(struct master *m);
void master_begin_stop(struct master *m);

/* service.c */
struct service *service_new(struct master *m, struct mcf_service *def);
void service_free(struct master *m, struct service **s);
struct service *service_find(struct master *m, const char *key);
int service_bind(struct master *m, struct service *s);
/* service_set_def: takes a new definition (same key), resizing the slots. */
void service_set_def(struct master *m, struct service *s, struct mcf_service *def);
char *service_command_path(struct master *m, const struct mcf_service *def);
void service_arm_wakeup(struct master *m, struct service *s);

/* spawn.c */
void spawn_fill(struct master *m, struct service *s);
/* spawn_retire: SIGTERM the service's children and forget them (their exit
 * will not be restarted). */
void spawn_retire(struct master *m, struct service *s);
void spawn_reap(struct master *m);
void spawn_kill_all(struct master *m, int signo);
/* spawn_signal: signo to every live worker of the service. */
void spawn_signal(struct master *m, struct service *s, int signo);
int spawn_count_live(const struct master *m);

/* owner.c */
/* owner_find: looks mail_owner up (when master runs as root) into
 * m->owner_uid/gid; refuses a user or group id 0 whether or not master runs
 * as root. 0 or -1 (in m->errors). */
int owner_find(struct master *m);
/* owner_give_log: under root, a maillog_file owned by root (master may
 * just have created it) is given to mail_owner, who must append to it. */
void owner_give_log(struct master *m);
/* owner_check_access: under root, checks as mail_owner that it can read
 * main.cf, write the queue, the log and the mail store, and run every
 * unprivileged service program; each failure names the directory in the
 * way (m->errors). 0 or -1. */
int owner_check_access(struct master *m);

/* control.c */
int control_open(struct master *m);
void control_close(struct master *m);

#endif
