/* pop3d.h: the POP3 server's shared declarations: the server (one per
 * process) and a session (one per connection), and the functions the
 * files of pop3d/ offer each other:
 *   pop3d.c     main, configuration, the svc hooks
 *   session.c   pop3d's part of a session (lib/sess): replies, goodbyes
 *   commands.c  the command table and the TRANSACTION/UPDATE commands
 *   login.c     USER/PASS, AUTH (SASL), STLS, opening and locking the Maildir
 *   send.c      RETR and TOP: streaming a message with backpressure */
#ifndef POSTERN_POP3D_H
#define POSTERN_POP3D_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authfail.h"
#include "cfg.h"
#include "conn.h"
#include "ev.h"
#include "mbx.h"
#include "msgout.h"
#include "passdb.h"
#include "resolve.h"
#include "sasl.h"
#include "sess.h"
#include "strm.h"
#include "svc.h"
#include "tls.h"

/* Longest command line (RFC 2449 allows 255 octets; SASL responses have
 * their own limit), and the most unsent reply bytes before reading stops. */
#define POP3_LINE_MAX 1024
#define POP3_OUTPUT_HIGH_WATER CONN_OUTPUT_HIGH_WATER

struct pop3d_server {
	svc *service;
	ev_loop *loop;
	char *myhostname;
	bool implicit_tls;     /* pop3d_service = pop3s */
	bool tls_auth_only;    /* pop3d_tls_auth_only */
	tls_server *tls;       /* NULL: no TLS configured */
	passdb *passdb;
	resolver *resolver;
	struct sasl_backend sasl_backend;
	struct sess_auth auth;  /* the SASL glue (lib/sess) */
	uint64_t timeout_ms, handshake_timeout_ms;
	uint64_t record_deadline_ms; /* 0: pop3d_per_record_deadline = no */
	int error_limit;
	int session_limit;
	sess_server *sessions;  /* the session layer (lib/sess) */
	buf *send_scratch; /* RETR/TOP output of one chunk (send.c) */
};

enum pop3_state { ST_AUTHORIZATION, ST_TRANSACTION, ST_QUIT };

/* Per-message marks of a session. */
#define MARK_DELETED 1
#define MARK_RETRIEVED 2

struct sender {
	int fd;
	struct msgout conv;
	size_t msg;         /* message index, for the log */
};

struct session {
	struct pop3d_server *srv;
	sess *base;             /* the shared session: conn, input, errors, SASL;
				 * SESS_IN_OWN: RETR/TOP output in progress */
	strm *stream;           /* sess_strm(base) */
	const char *client;     /* "[addr]" for logs (sess_client) */
	enum pop3_state state;
	char *user;             /* from USER, until PASS */
	char *login;            /* the authenticated user */
	uint64_t login_gen;     /* map generation the login was last known valid at */
	/* TRANSACTION state */
	mbx *mb;
	int lock_fd;
	unsigned char *marks;
	size_t retrieved, deleted;
	long long retrieved_bytes;
	struct sender *send;
};

/* session.c */
/* pop3d_session_init: the session layer (lib/sess) with pop3d's limits. */
void pop3d_session_init(struct pop3d_server *srv);
/* pop3d_ok / pop3d_err: one reply line; -ERR counts as an error. text may
 * start with a response code ("[AUTH] ..."). */
void pop3d_ok(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pop3d_err(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pop3d_raw(struct session *s, const char *text);

/* commands.c */
void pop3d_command(struct session *s, char *line);

/* login.c */
void pop3d_login_init(struct pop3d_server *srv, cfg *c);
bool pop3d_plaintext_ok(const struct session *s);
void pop3d_cmd_user(struct session *s, const char *arg);
void pop3d_cmd_pass(struct session *s, const char *arg);
void pop3d_cmd_auth(struct session *s, const char *arg);
void pop3d_cmd_apop(struct session *s, const char *arg);
void pop3d_logout(struct session *s);
/* pop3d_login_current: before each command: a logged-in user that was
 * deleted since (mailctl user del) loses the session. Looks at the maps
 * only when their generation moved (lib/mapgen). false after -ERR and
 * closing, or after -ERR for a map that cannot answer now. */
bool pop3d_login_current(struct session *s);
void pop3d_tls_init(struct pop3d_server *srv, cfg *c);
void pop3d_tls_reload(struct pop3d_server *srv, cfg *c);
void pop3d_cmd_stls(struct session *s, const char *arg);
/* pop3d_tls_done: after a handshake: forget what came before (sess ops). */
void pop3d_tls_done(void *ctx);

/* send.c */
void pop3d_send_start(struct session *s, size_t msg, int fd, long long body_lines);
int pop3d_send_step(struct session *s);
void pop3d_send_abort(struct session *s);

#endif
