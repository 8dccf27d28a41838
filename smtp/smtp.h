/* smtp.h: the outbound SMTP client's shared state, between its files:
 *   smtp.c     main, settings, connections from qmgr, request parsing, reply
 *   deliver.c  one delivery request: the queue file, the next hop's
 *              addresses tried in turn, the results per recipient
 *   session.c  one SMTP connection (lib/smtpc) and the cache of idle ones
 *   reason.c   Postfix's texts and status codes for what a server did
 * Many deliveries are in flight in one process, all on the event loop:
 * DNS through lib/nexthop, connects watched by ev, the dialogue by smtpc.
 * The only blocking I/O is reading the queue file and the reply to qmgr. */
#ifndef POSTERN_SMTP_H
#define POSTERN_SMTP_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "dns.h"
#include "ev.h"
#include "map.h"
#include "nexthop.h"
#include "q.h"
#include "smtpc.h"
#include "smtppol.h"
#include "svc.h"

/* Most recipients in one request (qmgr sends at most
 * smtp_destination_recipient_limit). */
#define SMTP_MAX_RCPTS 1000

/* A list of maps (smtp_tls_policy_maps, smtp_sasl_password_maps): the
 * first that answers wins; one that cannot answer makes the lookup TEMP. */
struct smtp_maps {
	char **names;
	map **maps;
	int count;
};

struct smtp {
	svc *service;
	cfg *config;
	ev_loop *loop;
	dns_resolver *dns;
	char *queue_dir;
	int ipc_timeout_ms;
	char *helo_name;
	char *myhostname; /* an MX of this name is this host (loops) */
	struct smtpc_timeouts timeouts;
	uint64_t connect_timeout_ms;
	uint64_t cache_time_ms;
	struct nexthop_opts hop_opts;
	bool pipelining;
	bool trace; /* log_level = debug: the dialogues are logged */
	enum smtpc_tls_level tls_level;
	SSL_CTX *tls_ctx; /* NULL: TLS unavailable (tls_error says why) */
	char *tls_error;
	struct smtp_maps tls_policy;
	bool sasl_enable;
	bool sasl_plaintext; /* PLAIN / LOGIN allowed without TLS */
	struct smtp_maps sasl_passwords;
	struct route_nexthop relayhost; /* host NULL: none */
};

/* One recipient of a request and its answer. */
struct smtp_result {
	int rcpt; /* index in the queue file */
	char *dsn; /* "2.0.0"; NULL until known */
	char *reason;
};

struct smtp_conn;
struct delivery;
struct session;

/* ---- smtp.c ---- */
/* smtp_conn_reply: the delivery's answer goes to qmgr on conn (which may
 * have gone: then nothing is sent); conn reads its next request. */
void smtp_conn_reply(struct smtp_conn *conn, struct delivery *d);
/* smtp_maps_lookup: the value for the first key found in any map:
 * MAP_FOUND with *value_r (heap), MAP_NOTFOUND, or MAP_TEMP with *err_r. */
enum map_result smtp_maps_lookup(struct smtp_maps *m, char **keys, char **value_r, char **err_r);

/* ---- deliver.c ---- */
/* A delivery request as read from qmgr (strings copied). */
struct smtp_request {
	char *queue_id;
	char *queue_file;
	char *nexthop;
	struct smtp_result *res;
	int n;
};

/* delivery_start: takes over rq (its strings and results) and runs the
 * delivery; smtp_conn_reply(conn, d) comes when it is done (perhaps
 * before this returns: then the result must not be used). */
struct delivery *delivery_start(struct smtp *s, struct smtp_conn *conn, struct smtp_request *rq);
/* delivery_forget_conn: conn ended: d answers nobody. */
void delivery_forget_conn(struct delivery *d);
/* delivery_reply_record: the delivery_reply record of a finished d. */
struct attr_rec;
struct attr_rec *delivery_reply_record(const struct delivery *d);
const char *delivery_queue_id(const struct delivery *d);

/* For session.c: */
struct smtpc_msg *delivery_msg(struct delivery *d);
const char *delivery_key(const struct delivery *d);
/* delivery_message_done: the message's dialogue is over (next_msg):
 * the results are collected from c, accepted recipients marked done in
 * the queue file, and qmgr answered. */
void delivery_message_done(struct delivery *d, struct session *sess, smtpc *c);
/* delivery_session_ended: the connection ended with d's message not done
 * (done callback): try the next address, or finish with the results. */
void delivery_session_ended(struct delivery *d, struct session *sess, smtpc *c);
/* delivery_attached: sess runs d's message now (its smtpc refers to it
 * until delivery_release). */
void delivery_attached(struct delivery *d, struct session *sess);
/* delivery_release: no smtpc refers to d's message any more: a finished
 * d is freed. */
void delivery_release(struct delivery *d);
/* delivery_take_waiting: a delivery for key still resolving or
 * connecting, detached from that (it goes on a finished session). */
struct delivery *delivery_take_waiting(const char *key);
/* delivery_stop_all: SIGTERM: nothing new is started. */
void delivery_stop_all(void);

/* ---- session.c ---- */
struct session_params {
	const struct nexthop_addr *addr;
	enum smtpc_tls_level level;
	const char *peername; /* SNI / the name verify checks; NULL: none */
	char **match; /* names the certificate may have instead (taken over) */
	const char *auth_user, *auth_pass; /* NULL: no AUTH */
};
/* session_start: an SMTP dialogue for d on fd (connected). */
void session_start(struct smtp *s, struct delivery *d, int fd, const struct session_params *p);
/* session_take: an idle cached connection for key, handed d's message
 * (true), or false when there is none. */
bool session_take(struct smtp *s, const char *key, struct delivery *d);
/* session_relay / session_host: "host[addr]:port" and "host[addr]". */
const char *session_relay(const struct session *sess);
const char *session_host(const struct session *sess);
bool session_reused(const struct session *sess);
/* session_close_idle: SIGTERM: the idle cached connections QUIT. */
void session_close_idle(void);

/* ---- reason.c ---- */
/* reason_reply: "host H[A] said: <reply lines joined> (in reply to CMD
 * command)"; *dsn_r from the reply's enhanced code, else 4.0.0 / 5.0.0
 * (any code but 5xx counts as temporary). Heap strings. */
char *reason_reply(const char *host, const char *reply_text, int code, const char *cmd,
		   char dsn_r[SMTPC_DSN_MAX]);
/* reason_lost: the connection broke in stage: "lost connection with H[A]
 * while sending RCPT TO", "conversation with H[A] timed out while ...";
 * dsn 4.4.2 (4.5.0 for a reply that is no SMTP). */
char *reason_lost(const char *host, enum smtpc_error err, enum smtpc_stage stage,
		  const char *why, char dsn_r[SMTPC_DSN_MAX]);
/* reason_stage_cmd: "MAIL FROM", "RCPT TO", "DATA", "end of DATA", ... */
const char *reason_stage_cmd(enum smtpc_stage stage, bool helo_fallback);
/* reason_soft: dsn with its class made 4 (a skipped server's error). */
void reason_soft(char dsn[SMTPC_DSN_MAX]);

#endif
