/* svc.h: the skeleton every daemon that master runs is built on. A daemon's
 * main() fills a struct svc_ops and calls svc_main; the skeleton does the
 * options (-c config dir, -n service name, -t type, -o key=value, -v),
 * loads main.cf, opens the log, takes over the listening sockets master
 * passed (fd 4 and up; fd 3 is the pipe whose end-of-file means master is
 * gone), runs the event loop, accepts connections and hands each to the
 * daemon, maps the instance's map generation (mapgen.h) so map changes
 * act at the next lookup, exits after max_use connections, and on SIGTERM stops accepting
 * and lets open sessions finish for a short grace time; SIGHUP calls the
 * daemon's reload hook.
 *
 * Descriptor contract with master (master/spawn.c):
 *   fd 3            read end of the master-alive pipe
 *   fd 4..4+N-1     listening sockets, N in $POSTERN_LISTEN_FDS
 */
#ifndef POSTERN_SVC_H
#define POSTERN_SVC_H

#include "cfg.h"
#include "ev.h"

#define SVC_ALIVE_FD 3
#define SVC_LISTEN_FD 4

typedef struct svc svc;

struct svc_ops {
	/* init: config loaded, log open, privileges dropped; before the loop. */
	void (*init)(svc *s);
	/* accept: a new connection (non-blocking, close-on-exec). The daemon owns
	 * fd and calls svc_conn_done when the session ends. */
	void (*accept)(svc *s, int fd);
	/* stop: master asked us to exit; end sessions at the next good point.
	 * May be NULL. */
	void (*stop)(svc *s);
	/* reload: SIGHUP from master's reload when neither main.cf nor this
	 * service's master.cf line changed: reread files the service caches
	 * (renewed TLS certificates) for new connections. May be NULL. */
	void (*reload)(svc *s);
};

/* svc_main: never returns (exits 0 when stopped, 1 on startup errors). */
int svc_main(int argc, char **argv, const char *program, const struct svc_ops *ops, void *ctx)
	__attribute__((noreturn));

ev_loop *svc_loop(svc *s);
cfg *svc_cfg(svc *s);
void *svc_ctx(svc *s);
/* svc_name: the service's master.cf name ("127.0.0.1:10025", "qmgr"). */
const char *svc_name(svc *s);
/* svc_conn_done: a session accepted through ops->accept has ended. */
void svc_conn_done(svc *s);
/* svc_refuse: a connection over the daemon's session limit: writes the
 * protocol's one-line refusal (best effort), closes fd, logs, and counts
 * the connection done. */
void svc_refuse(svc *s, int fd, const char *reply, int sessions);
/* svc_stopping: true once SIGTERM arrived. */
bool svc_stopping(svc *s);

/* svc_setup_log: opens maillog_file or syslog per the config and sets the
 * level; shared with master and the tools. Exits on a bad setting. */
void svc_setup_log(cfg *c, const char *program);

#endif
