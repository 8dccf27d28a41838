/* sess.h: the server-session layer shared by the line protocols (smtpd,
 * pop3d, imapd): the list of a process's sessions and its limit, accepting
 * a connection (or holding it before its greeting: sess_hold), the read
 * loop's input modes (command lines, a TLS handshake, a SASL exchange,
 * the protocol's own input), error counting
 * with a soft limit (delayed replies) and a hard one (cut-off), the idle
 * timeout, lost connections, the drain on shutdown and the end of a
 * session. sess_auth.c drives a SASL exchange with the failed-login table,
 * sess_tls.c the STARTTLS/STLS step. The event-loop mechanics are
 * lib/conn's; every reply text and command is the protocol's, given
 * through the callbacks below. */
#ifndef POSTERN_SESS_H
#define POSTERN_SESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authfail.h"
#include "conn.h"
#include "passdb.h"
#include "ev.h"
#include "sasl.h"
#include "strm.h"
#include "svc.h"
#include "tls.h"

typedef struct sess_server sess_server;
typedef struct sess sess;

/* What the read loop does with input. */
enum sess_input {
	SESS_IN_NONE,    /* nothing: closing, or waiting for our own work (a
			  * commit), which the idle timer does not end */
	SESS_IN_COMMAND, /* command lines, to ops->command */
	SESS_IN_TLS,     /* STARTTLS, STLS or implicit TLS: the handshake */
	SESS_IN_AUTH,    /* a SASL exchange: the next line is a response */
	SESS_IN_OWN,     /* the protocol's own input (DATA, RETR): ops->step */
};

/* The settings of one server, copied by sess_server_new. */
struct sess_config {
	int session_limit;        /* sessions per process; more are refused */
	const char *busy_reply;   /* the refusal line, CRLF included */
	uint64_t idle_ms;         /* the idle timeout */
	uint64_t record_ms;       /* the per-record deadline (0: none): see
				   * conn_set_record_deadline */
	size_t line_limit;        /* the longest command line, CRLF included */
	int soft_error_limit;     /* from this many errors on each error reply */
	uint64_t error_sleep_ms;  /* waits this long (0: never) */
	int hard_error_limit;     /* at this many the session is cut off */
	bool implicit_tls;        /* the handshake comes before the greeting */
	tls_server **tls;         /* the protocol's TLS setup (a reload replaces
				   * *tls); NULL or *tls NULL: no TLS */
	uint64_t handshake_ms;    /* one deadline for the whole handshake */
	const char *tls_command;  /* "STARTTLS", "STLS": named in logs */
	bool own_commands;        /* commands are not lines (IMAP literals):
				   * SESS_IN_COMMAND input goes to ops->step,
				   * line_limit and ops->line_too_long are unused */
};

/* The protocol. ctx is what ops->open returned. Every callback may queue
 * replies; those that may end the session say so. */
struct sess_ops {
	/* open: a new session on fd: the protocol allocates its part, calls
	 * sess_set_client and returns its context. */
	void *(*open)(void *server_ctx, sess *ss, int fd);
	/* greet: the greeting, at once or after the implicit handshake. */
	void (*greet)(void *ctx);
	/* command: one command line, line ending stripped (len bytes, NUL
	 * terminated; may hold NULs): a private copy the callback may change. */
	void (*command)(void *ctx, char *line, size_t len);
	/* line_too_long: a command line over line_limit: the reply (flood
	 * false), unless it closes the session, the rest of the line is then
	 * dropped; past four times the limit without a line end, the goodbye
	 * before the close (flood true). */
	void (*line_too_long)(void *ctx, bool flood);
	/* step: one step of SESS_IN_OWN input, and of SESS_IN_COMMAND input
	 * with own_commands (STRM_ codes as conn steps);
	 * events: what that input waits for (NULL: strm_wants). */
	int (*step)(void *ctx);
	int (*events)(void *ctx);
	/* activity: NULL when nothing is in progress (a lost connection is
	 * then not logged), else a note for the log ("", ": nothing deleted"). */
	const char *(*activity)(void *ctx);
	/* busy: in the middle of something the shutdown waits for (NULL:
	 * only the input mode counts). */
	bool (*busy)(void *ctx);
	/* Goodbyes, each followed by the close: the idle timeout (or the
	 * per-record deadline: sess_record_late), the hard error limit, the
	 * shutdown of the server. */
	void (*timeout)(void *ctx);
	void (*too_many_errors)(void *ctx);
	void (*shutdown)(void *ctx);
	/* tls_done: the handshake is over: forget what the client said
	 * before it (RFC 3207 section 4.2, RFC 2595 section 4). */
	void (*tls_done)(void *ctx);
	/* quitting: the session closes (state change, log). May be NULL. */
	void (*quitting)(void *ctx);
	/* close: the session is over and flushed: free the protocol's part. */
	void (*close)(void *ctx);
};

/* sess_server_new: service may be NULL (tests): nothing is reported to
 * the skeleton then. ops and server_ctx must outlive the server. */
sess_server *sess_server_new(ev_loop *loop, svc *service, const struct sess_config *config,
			     const struct sess_ops *ops, void *server_ctx);
/* sess_server_free: for tests; the sessions must be over. */
void sess_server_free(sess_server **sv);
int sess_server_count(const sess_server *sv);
/* sess_accept: a connection from the skeleton (ops->accept): refused
 * over the session limit, else a new session that greets and runs. */
void sess_accept(sess_server *sv, int fd);
/* sess_server_stop: master wants us gone: sessions waiting for a command
 * get ops->shutdown and close; the others end after what they do. */
void sess_server_stop(sess_server *sv);

/* sess_hold: from ops->open: the session begins (the "connect from" log
 * line, then the greeting or the implicit TLS handshake) only when the
 * protocol calls sess_begin, e.g. once it knows the client's name.
 * Meanwhile nothing is read and no idle timeout runs: the protocol bounds
 * its own wait. */
void sess_hold(sess *ss);
void sess_begin(sess *ss);

/* The session's parts; the conn and stream live as long as the session. */
conn *sess_conn(sess *ss);
strm *sess_strm(sess *ss);
void *sess_ctx(sess *ss);
/* sess_set_client: the client's address and its name in logs, heap
 * strings the session takes over. */
void sess_set_client(sess *ss, char *addr, char *name);
const char *sess_client(const sess *ss);
const char *sess_client_addr(const sess *ss);
/* sess_set_last: the last command (a static string), for "after X" logs. */
void sess_set_last(sess *ss, const char *command);
const char *sess_last(const sess *ss);

/* sess_record_late: in ops->timeout, true when the per-record deadline
 * ran out (a line or block of data begun but not complete in time) rather
 * than the idle timer. */
bool sess_record_late(const sess *ss);

enum sess_input sess_input(const sess *ss);
/* sess_set_input: switches the read loop (SESS_IN_COMMAND, SESS_IN_OWN). */
void sess_set_input(sess *ss, enum sess_input input);
/* sess_set_idle: this session's idle timeout from now on (imapd: longer
 * after the login); the TLS handshake and waits go back to it, not to the
 * server's idle_ms. */
void sess_set_idle(sess *ss, uint64_t ms);
/* sess_wait / sess_resume: the session waits for our own work (no input,
 * no timeout); sess_resume goes back to commands and runs it. */
void sess_wait(sess *ss);
void sess_resume(sess *ss);

/* sess_error: counts one error reply; past the soft limit the session
 * pauses error_sleep_ms before the reply goes out. The hard limit is
 * checked after each step. */
void sess_error(sess *ss);
/* sess_close: nothing more is read; the session ends once its output is
 * flushed (ops->quitting now, ops->close then). */
void sess_close(sess *ss);
bool sess_closing(const sess *ss);

/* ---- TLS (sess_tls.c) ---- */

/* sess_tls_start: after the protocol's go-ahead (220, +OK, OK): the reply
 * is flushed in plaintext, plaintext the client pipelined after it is
 * dropped and logged (CVE-2011-0411), the handshake runs under its
 * deadline. Then: a log line, the idle timer, the error count reset,
 * ops->tls_done, and the greeting if the session began with TLS. A
 * failed handshake is logged and closes the session. */
void sess_tls_start(sess *ss);
/* sess_tls_describe: "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384", or
 * "no TLS" (heap). */
char *sess_tls_describe(const strm *stream);

/* ---- SASL AUTH (sess_auth.c) ---- */

/* What the protocol answers in an exchange; the log lines, the failed
 * login table, the delays and the cut-off are sess_auth's. */
enum sess_auth_event {
	SESS_AUTH_UNSUPPORTED, /* unknown or (here) disallowed mechanism */
	SESS_AUTH_FAILED,      /* bad credentials; the reply waits the delay */
	SESS_AUTH_CUT_OFF,     /* after FAILED: the limit is reached; closes */
	SESS_AUTH_BLOCKED,     /* refused up front: the address is cut off; closes */
	SESS_AUTH_CANCELLED,   /* the client sent "*" */
	SESS_AUTH_TEMP,        /* the password database could not answer */
	SESS_AUTH_MALFORMED,   /* reason says why */
	SESS_AUTH_TOO_LONG,    /* a response over SASL_LINE_MAX; the rest of the
				* line is skipped unless the reply closes */
};

struct sess_auth {
	const struct sasl_backend *backend;
	void *backend_ctx;       /* the password database */
	authfail *fails;         /* failed logins per client address */
	/* log wording: "<client>: <mech_prefix><MECH> authentication failed:
	 * <why>, <user_key>=<login>", "<client>: <command> refused: too many
	 * <failures>" */
	const char *mech_prefix; /* "SASL " */
	const char *user_key;    /* "sasl_username" */
	const char *command;     /* "AUTH" */
	const char *failures;    /* "failed authentications" */
	/* challenge: send a continuation ("334 " / "+ " and the base64);
	 * unused when continuation is set: then the line is continuation,
	 * the base64 and CRLF, written here (pop3d and imapd: "+ "). */
	void (*challenge)(void *ctx, const char *b64);
	const char *continuation;
	/* success: authenticated; user is the login in lower case (the
	 * callback owns it), mech the mechanism's name. */
	void (*success)(void *ctx, char *user, const char *mech);
	/* reply: any other end of an exchange. */
	void (*reply)(void *ctx, enum sess_auth_event event, const char *reason);
};

/* sess_auth_start: the argument of AUTH / AUTHENTICATE ("MECH [initial
 * response]"): refuses a blocked address or an unknown mechanism, else
 * runs the first step; later response lines are read in SESS_IN_AUTH.
 * secure: cleartext mechanisms are allowed. auth must outlive the session. */
void sess_auth_start(sess *ss, const struct sess_auth *auth, const char *arg, bool secure);
/* sess_auth_allowed: false (after the BLOCKED reply and close) when the
 * client address is cut off; for logins outside SASL (USER/PASS). */
bool sess_auth_allowed(sess *ss, const struct sess_auth *auth);
/* sess_auth_failed: a failed login outside SASL: logs (method, who,
 * why), counts, replies FAILED with its delay, or CUT_OFF and closes. */
void sess_auth_failed(sess *ss, const struct sess_auth *auth, const char *method,
		      const char *who, const char *why);
/* sess_auth_recheck: whether a logged-in user (NULL: nobody yet) still
 * has a password entry, asked of db only when the map generation
 * (mapgen.h) moved since *gen_r; *gen_r follows the generation whenever
 * the answer is PASSDB_OK. One memory read when nothing changed. Returns
 * PASSDB_OK, PASSDB_NOTFOUND or PASSDB_TEMP; the caller replies. */
enum passdb_result sess_auth_recheck(passdb *db, const char *user, uint64_t *gen_r);

#endif
