/* smtpd.h: the parts of smtpd shared between its files (not a library
 * header). The server (one per process: config, maps, the commit batch,
 * the qmgr trigger connection), the session (one per connection) and the
 * mail transaction (at most one per session, from MAIL to the end of
 * DATA/BDAT) live here, with the functions each file offers the others:
 *   session.c   smtpd's part of a session (lib/sess): peer, replies, content
 *   peername.c  the client's forward-confirmed reverse name (lib/dns)
 *   commands.c  the command table, enter_state, the simple verbs
 *   cmd_txn.c   MAIL, RCPT, DATA, BDAT
 *   policy.c    RCPT TO checks (hosted, unknown user, relay)
 *   starttls.c  STARTTLS and implicit TLS: the handshake on the loop
 *   auth.c      AUTH (RFC 4954) over lib/sasl with the password database
 *   authfail.c  failed AUTH attempts per client address (slow-down, cut-off)
 *   data.c      DATA and BDAT reception into the queue file
 *   queue.c     queue file creation, Received:, committing, triggers
 *   authres.c   SPF at MAIL, DKIM while DATA streams, Authentication-Results
 *   authhook.c  the checks that judge the SPF and DKIM verdicts together
 *   dmarc.c     DMARC (RFC 7489) as such a check: policy, Junk quarantine
 *   commit.c    the commit worker threads and the batched incoming/ fsync
 *   dkimsign.c  DKIM signing of authenticated and trusted clients' mail */
#ifndef POSTERN_SMTPD_SMTPD_H
#define POSTERN_SMTPD_SMTPD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "addr.h"
#include "authfail.h"
#include "buf.h"
#include "cfg.h"
#include "conn.h"
#include "dkim.h"
#include "dns.h"
#include "commit.h"
#include "dot.h"
#include "ev.h"
#include "netmatch.h"
#include "parse.h"
#include "passdb.h"
#include "psl.h"
#include "q.h"
#include "resolve.h"
#include "restrict.h"
#include "sasl.h"
#include "sess.h"
#include "spf.h"
#include "strm.h"
#include "svc.h"
#include "tls.h"

struct session;
struct smtpd_auth;

/* smtpd_spf_policy: off (no check), record (Authentication-Results only),
 * reject (fail: 550 5.7.23, temperror: 451 4.7.24). */
enum smtpd_spf_policy { SMTPD_SPF_OFF, SMTPD_SPF_RECORD, SMTPD_SPF_REJECT };

/* smtpd_dmarc_policy: off (no check), record (Authentication-Results and
 * the report line only), enforce (the domain's p=/sp=: reject 550 5.7.1,
 * quarantine into Junk; temperror where a fail would reject: 451 4.7.1). */
enum smtpd_dmarc_policy { SMTPD_DMARC_OFF, SMTPD_DMARC_RECORD, SMTPD_DMARC_ENFORCE };

struct smtpd_server {
	svc *service;
	cfg *config;
	ev_loop *loop;
	/* configuration, read once at init */
	char *myhostname, *mydomain, *myorigin, *banner, *mail_name, *queue_dir;
	long long size_limit; /* 0 = none */
	long long header_limit;
	int hop_limit; /* hopcount_limit */
	int rcpt_limit, soft_error_limit, hard_error_limit;
	int rcpt_overshoot_limit; /* refused recipients not counted as errors */
	long long queue_minfree; /* effective reserve (cfg_queue_minfree) */
	uint64_t error_sleep_ms, timeout_ms;
	uint64_t record_deadline_ms; /* 0: smtpd_per_record_deadline = no */
	size_t line_limit;
	int session_limit;
	bool local_service; /* smtpd_service=local: the sendmail socket */
	/* TLS: NULL when no certificate is configured (or level none) */
	tls_server *tls;
	bool implicit_tls; /* smtpd_service=smtps: handshake before the greeting */
	bool require_tls; /* smtpd_tls_security_level=encrypt */
	uint64_t handshake_timeout_ms;
	dns_resolver *dns; /* NULL: no lookups (local service, or all turned off) */
	bool peername_lookup; /* smtpd_peername_lookup */
	uint64_t peername_ms; /* the longest client name lookup (dns_timeout) */
	/* sender authentication (authres.c) */
	enum smtpd_spf_policy spf_policy;
	bool spf_permerror_reject;
	bool dkim_verify;
	char *authserv_id;
	bool arc_verify; /* smtpd_arc_verify (arc.c) */
	char **arc_trusted; /* smtpd_arc_trusted_sealers, NULL-ended (arc.c) */
	/* DMARC (dmarc.c) */
	enum smtpd_dmarc_policy dmarc_policy;
	char *psl_path; /* smtpd_dmarc_public_suffix_list */
	psl_table *psl; /* NULL when DMARC is off; swapped on reload */
	/* AUTH: off on the local socket */
	bool auth_enabled;
	bool tls_auth_only; /* smtpd_tls_auth_only */
	bool auth_required; /* submission and smtps: AUTH before MAIL */
	passdb *passdb;
	struct sasl_backend sasl_backend;
	authfail *authfail;
	struct sess_auth auth; /* the SASL glue (lib/sess) */
	/* RCPT TO policy */
	struct smtpd_restrictions relay_restrictions, recipient_restrictions;
	netmatch *mynetworks;
	resolver *resolver;
	sess_server *sessions; /* the session layer (lib/sess) */
	/* commits queue files on worker threads, fsyncs incoming/ per batch */
	committer *committer;
	/* connection to $queue_directory/private/qmgr */
	int trigger_fd;
	ev_io *trigger_io;
	buf *trigger_out;
	bool trigger_warned;
	uint64_t trigger_retry_ms;
};

/* Session states (commands check them through the table's state mask). */
enum smtpd_state {
	ST_CONNECT = 1 << 0, /* greeted, no HELO/EHLO yet */
	ST_READY = 1 << 1, /* HELO/EHLO done, no transaction */
	ST_MAIL = 1 << 2, /* MAIL accepted */
	ST_RCPT = 1 << 3, /* at least one RCPT accepted */
	ST_DATA = 1 << 4, /* receiving DATA content */
	ST_BDAT = 1 << 5, /* between BDAT chunks */
	ST_COMMIT = 1 << 6, /* message committed, waiting for the incoming/ fsync */
	ST_QUIT = 1 << 7, /* closing */
};

/* Which message content the session reads (SESS_IN_OWN input). */
enum smtpd_content { IN_DATA, IN_CHUNK };

/* Why content reception failed (the reply comes at the end of the data). */
enum smtpd_fail { FAIL_NONE = 0, FAIL_SIZE, FAIL_HEADER, FAIL_HOPS, FAIL_STORAGE, FAIL_NORCPT };

struct smtpd_txn {
	char *sender; /* canonical; "" for the null sender */
	struct smtpd_mail_params params;
	struct q_rcpt *rcpts;
	int nrcpts, rcpt_cap;
	int overshoot; /* recipients refused past the limit, not counted as errors */
	bool bdat; /* the content comes in BDAT chunks */
	/* content reception */
	q_writer *writer;
	char *qid;
	enum smtpd_fail fail;
	int hline; /* header line scanner state (data.c) */
	size_t hline_start; /* where the current header line starts in header */
	int hops; /* Received: fields in the header so far */
	struct dot_decoder dot;
	bool bdat_cr; /* a BDAT chunk ended in CR */
	bool in_header;
	bool header_prev_lf; /* last header byte was LF (a blank line ends it) */
	buf *header; /* the header, held until its end */
	buf *scratch; /* decoder output */
	struct smtpd_auth *auth; /* SPF, DKIM: NULL when not checked (authres.c) */
	struct smtpd_sign *sign; /* DKIM signing: NULL when not signed (dkimsign.c) */
	long long size; /* content bytes after decoding */
};

struct session {
	struct smtpd_server *srv;
	sess *base; /* the shared session: conn, input mode, errors, SASL */
	void *commit_job; /* while in ST_COMMIT (commit.h handle) */
	strm *stream; /* sess_strm(base) */
	enum smtpd_state state;
	enum smtpd_content content;
	bool esmtp;
	char *helo;
	char *auth_user; /* after a successful AUTH: the login, lower case */
	uint64_t auth_gen; /* map generation auth_user was last known valid at */
	char *client_name; /* confirmed rDNS name, "unknown" or "localhost" */
	dns_query *peername_query; /* the client name lookup under way */
	ev_timer *peername_timer;
	char *peername_ptr; /* the PTR name being confirmed */
	const char *client; /* "unknown[127.0.0.1]" for logs (sess_client) */
	struct sockaddr_storage peer;
	bool have_peer;
	bool trusted; /* may relay: mynetworks or local service */
	long uid; /* SO_PEERCRED uid of a local client, -1 when none */
	unsigned long long chunk_left; /* BDAT bytes still to read */
	bool chunk_last;
	struct smtpd_perr chunk_err; /* reply for a BDAT chunk refused up front */
	struct smtpd_txn *txn;
};

/* session.c */
/* smtpd_session_init: the session layer (lib/sess) with smtpd's limits. */
void smtpd_session_init(struct smtpd_server *srv);
/* smtpd_reply: queues one reply line; a code >= 400 counts as an error
 * (and arms the error sleep past the soft limit). */
void smtpd_reply(struct session *s, int code, const char *dsn, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* smtpd_reply_raw: queues preformatted reply lines (EHLO, HELP). */
void smtpd_reply_raw(struct session *s, const char *text);
/* smtpd_reply_storage: "452 4.3.1 Insufficient system storage", the reply
 * to every lack of queue space (the reserve at MAIL FROM, a failed queue
 * write or commit). Our trouble, not the client's: smtpd_reply counts no
 * 452 4.3.1 as an error (smtpd_storage_reply), whichever path sends it. */
#define SMTPD_STORAGE_TEXT "Insufficient system storage"
void smtpd_reply_storage(struct session *s);
bool smtpd_storage_reply(int code, const char *dsn);
/* smtpd_session_content: read DATA or BDAT content next. */
void smtpd_session_content(struct session *s, enum smtpd_content content);

/* peername.c */
/* smtpd_peername_init: the resolver, unless smtpd_peername_lookup = no. */
void smtpd_peername_init(struct smtpd_server *srv, cfg *c);
/* smtpd_peername_start: from session open: holds the session (sess_hold)
 * and looks up the client's name; sess_begin follows when it is known
 * (client_name, the session's client text) or the lookup gave up.
 * Returns false, with nothing done, when no lookup is due. */
bool smtpd_peername_start(struct session *s);
/* smtpd_peername_stop: the session ends: drops a lookup under way. */
void smtpd_peername_stop(struct session *s);

/* commands.c */
void smtpd_enter_state(struct session *s, enum smtpd_state state);
/* smtpd_command: runs one command line (terminator stripped). */
void smtpd_command(struct session *s, const char *line, size_t len);
const char *smtpd_state_name(enum smtpd_state state);
void smtpd_txn_free(struct smtpd_txn **t);
/* smtpd_txn_reset: drops the transaction, back to READY (or CONNECT). */
void smtpd_txn_reset(struct session *s);

/* cmd_txn.c: the transaction verbs, called through the command table. */
void smtpd_cmd_mail(struct session *s, const char *arg);
void smtpd_cmd_rcpt(struct session *s, const char *arg);
void smtpd_cmd_data(struct session *s, const char *arg);
void smtpd_cmd_bdat(struct session *s, const char *arg);

/* policy.c: checks a recipient; on success sets *address_r (heap,
 * canonical) and returns 0; otherwise queues the reply, logs the reject
 * and returns -1. */
int smtpd_policy_rcpt(struct session *s, const struct addr *a, char **address_r);
/* smtpd_policy_init: parses the restriction lists (log_fatal on errors). */
void smtpd_policy_init(struct smtpd_server *srv, cfg *c);
/* smtpd_policy_sender: MAIL FROM checks of an authenticated client: the
 * sender (canonical) must be the login or lead to it through the alias
 * maps. 0, or -1 after the reply (553 5.7.1, or 451 4.3.0). */
int smtpd_policy_sender(struct session *s, const char *sender);

/* starttls.c */
/* smtpd_tls_init: loads the TLS setup from main.cf (log_fatal on errors). */
void smtpd_tls_init(struct smtpd_server *srv, cfg *c);
/* smtpd_tls_reload: loads the certificates again (SIGHUP); see starttls.c. */
void smtpd_tls_reload(struct smtpd_server *srv, cfg *c);
/* smtpd_tls_offered: STARTTLS may be advertised in this session now. */
bool smtpd_tls_offered(const struct session *s);
void smtpd_cmd_starttls(struct session *s, const char *arg);
/* smtpd_tls_done: after a handshake: forget what came before (sess ops). */
void smtpd_tls_done(void *ctx);
/* smtpd_tls_received: " (using TLSv1.3 with cipher X)" text or NULL. */
char *smtpd_tls_received(struct session *s);

/* auth.c */
void smtpd_auth_init(struct smtpd_server *srv, cfg *c);
/* smtpd_auth_mechanisms: the mechanisms to advertise now, NULL for none. */
const char *smtpd_auth_mechanisms(const struct session *s);
void smtpd_cmd_auth(struct session *s, const char *arg);
/* smtpd_auth_current: before each command: an authenticated user that was
 * deleted since (mailctl user del) loses the session (421). Looks at the
 * password map only when the map generation moved (lib/mapgen). false
 * after the reply. */
bool smtpd_auth_current(struct session *s);

/* data.c */
/* smtpd_data_start: opens the queue file and readies the content state;
 * false (logged, no reply: the caller answers 452 4.3.1) on failure. */
bool smtpd_data_start(struct session *s);
/* smtpd_data_input: bytes of DATA; true at the end of data. */
bool smtpd_data_input(struct session *s, const char *data, size_t len, size_t *used_r);
/* smtpd_chunk_input: bytes of the current BDAT chunk. */
void smtpd_chunk_input(struct session *s, const char *data, size_t len);
/* smtpd_data_finish: the content is complete: reply with the failure, or
 * commit and wait for the batched directory fsync. */
void smtpd_data_finish(struct session *s);

/* smtpd_data_commit: the content is complete and judged: commit it (the
 * 250 follows the fsync) or reply 452 and drop the transaction. */
void smtpd_data_commit(struct session *s);

/* authres.c: sender authentication of mail from outside: neither the
 * local socket, nor a client in mynetworks, nor one that did AUTH. */
void smtpd_authres_init(struct smtpd_server *srv, cfg *c);
/* smtpd_authres_mail: after MAIL FROM's checks (s->txn made): starts the
 * SPF checks. true when the reply is to wait for the verdict (policy
 * reject): the session waits and gets its 250 or 5xx/4xx later. */
bool smtpd_authres_mail(struct session *s);
/* smtpd_authres_strip: the client's Authentication-Results fields with
 * our authserv-id are forgeries to drop (every client outside mynetworks). */
bool smtpd_authres_strip(const struct session *s);
/* smtpd_authres_header: the header block is complete: starts DKIM (the
 * key lookups run while the body streams). at_blank_line: the body
 * handed over next starts with the separating empty line. */
void smtpd_authres_header(struct session *s, const char *hdr, size_t len, bool at_blank_line);
/* smtpd_authres_body: body bytes, as written to the queue file. */
void smtpd_authres_body(struct session *s, const char *data, size_t len);
/* smtpd_authres_end: the content is complete: waits for the verdicts
 * (at most dns_timeout), adds Authentication-Results to the queue file's
 * top header fields and commits (smtpd_data_commit), unless a check
 * decides to refuse the message. */
void smtpd_authres_end(struct session *s);
void smtpd_authres_free(struct smtpd_auth **a);

/* dmarc.c: DMARC (RFC 7489) as an authhook.h hook. smtpd_dmarc_init:
 * reads the keys, loads the Public Suffix List (after smtpd_authres_init:
 * it makes the resolver when SPF and DKIM are both off);
 * smtpd_dmarc_reload: loads the list again (SIGHUP). */
void smtpd_dmarc_init(struct smtpd_server *srv, cfg *c);
void smtpd_dmarc_reload(struct smtpd_server *srv);

/* arc.c: ARC (RFC 8617) verification as an authhook.h hook.
 * smtpd_arc_init: reads smtpd_arc_verify (after smtpd_authres_init). */
void smtpd_arc_init(struct smtpd_server *srv, cfg *c);

/* queue.c */
/* smtpd_queue_open: creates the queue file with envelope and Received:
 * header. -1 on failure (logged). */
int smtpd_queue_open(struct session *s);
/* smtpd_queue_commit: hands the queue file to the committer; the session
 * waits in ST_COMMIT and gets its 250 (or 452) when the file and incoming/
 * are fsynced. Returns 0 (kept for a future synchronous failure: -1). */
int smtpd_queue_commit(struct session *s);
/* smtpd_queue_forget: the session ends; drop it from the commit batch. */
void smtpd_queue_forget(struct session *s);
void smtpd_queue_init(struct smtpd_server *srv);
void smtpd_queue_shutdown(struct smtpd_server *srv);
/* smtpd_rfc2822_date: "Tue, 03 Oct 2023 10:00:00 +0000" into out. */
void smtpd_rfc2822_date(char *out, size_t size);

#endif
