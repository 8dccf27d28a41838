/* smtpc.h: an event-driven SMTP client for one message on one
 * connection, on lib/ev and lib/conn: greeting, EHLO (HELO when EHLO is
 * refused), MAIL / RCPT / DATA pipelined when the server offers
 * PIPELINING (replies matched in order), the body through lib/dot's
 * encoder, QUIT. Every stage has its own timeout. Nothing blocks: the
 * outbound smtp program runs many of these on one loop; sendmail runs one
 * until it is done. All state lives in the smtpc struct.
 *
 * STARTTLS by the caller's TLS security level (Postfix's
 * smtp_tls_security_level), AUTH PLAIN / LOGIN for a relayhost, and the
 * checks before MAIL (SIZE limit, SMTPUTF8, 8BITMIME) whose failures are
 * results of their own, so the caller can bounce or defer as Postfix does.
 *
 * Several messages per connection: when one is done, the next_msg
 * callback may hand over the next (RSET first when the transaction is
 * still open); without it the dialogue ends with QUIT. Or it parks the
 * connection (SMTPC_PARK) for a message that comes later: connection
 * reuse, see smtpc_resume.
 *
 * Not here (yet): BDAT. */
#ifndef POSTERN_SMTPC_H
#define POSTERN_SMTPC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <openssl/ssl.h>

#include "ev.h"
#include "smtpc_reply.h"

typedef struct smtpc smtpc;
struct smtpc_msg;

/* SMTPC_PARK: what next_msg returns to keep the connection for later
 * (see smtpc_resume). A sentinel: never dereferenced. */
extern struct smtpc_msg smtpc_park_sentinel;
#define SMTPC_PARK (&smtpc_park_sentinel)

/* Stages, in order; a result names the stage it ended in. */
enum smtpc_stage {
	SMTPC_GREETING = 0,
	SMTPC_HELO, /* EHLO / HELO, also the EHLO again after STARTTLS */
	SMTPC_STARTTLS, /* the STARTTLS reply and the handshake */
	SMTPC_AUTH, /* AUTH and its 334 exchanges */
	SMTPC_MAIL,
	SMTPC_RCPT,
	SMTPC_DATA,
	SMTPC_BODY,
	SMTPC_DOT,
	SMTPC_RSET, /* before the next message, when a transaction is open */
	SMTPC_QUIT,
	SMTPC_STAGES
};

/* How a dialogue ended, apart from the server's replies. */
enum smtpc_error {
	SMTPC_ERR_NONE = 0, /* the server answered (look at the codes) */
	SMTPC_ERR_TIMEOUT, /* a stage's timeout ran out */
	SMTPC_ERR_CLOSED, /* the server closed the connection */
	SMTPC_ERR_IO, /* a read or write failed */
	SMTPC_ERR_PROTOCOL, /* a reply that is no SMTP reply (text in error_text) */
	SMTPC_ERR_BODY, /* the body source failed; we hung up in DATA */
	SMTPC_ERR_ABORTED, /* the caller declined to send after 354; we hung up */
	/* Policy results: nothing of the message was sent; QUIT was sent
	 * unless the TLS layer broke (TLS, TLS_VERIFY: hung up). The last
	 * three are about one message (see smtpc_error). */
	SMTPC_ERR_TLS, /* the TLS handshake failed. On level `may` the
			  caller may try again in plaintext on a new
			  connection (Postfix does) */
	SMTPC_ERR_TLS_VERIFY, /* verify / secure: the certificate chain or its
				 name did not verify (or secure without a name) */
	SMTPC_ERR_NO_STARTTLS, /* encrypt and up: no STARTTLS offered, or it was
				  refused (the reply is smtpc_reply_of STARTTLS) */
	SMTPC_ERR_NO_AUTH, /* credentials given but AUTH impossible: not
			      offered, no PLAIN / LOGIN, or no TLS and plaintext
			      AUTH not allowed. (A refused AUTH is a reply:
			      smtpc_failed_stage == SMTPC_AUTH, 535 = bad
			      credentials) */
	SMTPC_ERR_TOO_BIG, /* msg->size exceeds the server's SIZE: not sent
			      (Postfix bounces 5.3.4 when the limit is firm) */
	SMTPC_ERR_NO_SMTPUTF8, /* msg->smtputf8 and the server lacks SMTPUTF8:
				  bounce 5.6.7 (RFC 6531) */
	SMTPC_ERR_NO_8BITMIME, /* msg->need_8bitmime and no 8BITMIME offered */
};

/* One recipient: the caller fills addr (and notify / orcpt, sent when the
 * server offers DSN); the client fills code and reply (the server's last
 * line, heap, freed by smtpc_free). code 0: no answer. */
struct smtpc_rcpt {
	const char *addr;
	const char *notify; /* "SUCCESS,FAILURE" etc. or NULL */
	const char *orcpt; /* "rfc822;a@b" (xtext already, as smtpd queued
			      it; addr_orcpt makes one) or NULL */
	int code;
	char *reply;
};

/* The body source: up to cap bytes of the message (LF or CRLF line ends,
 * not dot-stuffed) into dst. >0 bytes, 0 at the end, -1 on an error
 * (which the source reports itself). */
typedef ssize_t smtpc_read_fn(void *ctx, char *dst, size_t cap);

struct smtpc_msg {
	const char *sender; /* "" for the null sender */
	struct smtpc_rcpt *rcpts;
	size_t nrcpts;
	/* MAIL parameters, each sent only when the server offers it */
	long long size; /* SIZE=, < 0 unknown */
	const char *body_type; /* "7BIT" or "8BITMIME" (BODY=), or NULL */
	bool smtputf8; /* the message needs SMTPUTF8 (SMTPC_ERR_NO_SMTPUTF8
			  when the server lacks it) */
	bool need_8bitmime; /* with body_type 8BITMIME: refuse to send it to a
			       server without 8BITMIME (SMTPC_ERR_NO_8BITMIME);
			       false: sent as it is, without BODY= */
	const char *ret; /* DSN RET=FULL|HDRS, or NULL */
	const char *envid; /* DSN ENVID= (raw; xtext-encoded here), or NULL */
	smtpc_read_fn *read_body;
	void *body_ctx;
};

/* Per-stage timeouts in ms, as Postfix's smtp_*_timeout with
 * smtp_per_record_deadline = yes: each reply must arrive whole within
 * its stage's time (a server sending one byte a second runs out of it);
 * in BODY each write restarts the time. smtpc_timeouts_default gives Postfix's
 * defaults. The Postfix names, for the smtp program's main.cf keys:
 *   (connecting is the caller's: smtp_connect_timeout, 30s)
 *   GREETING smtp_helo_timeout 300s   HELO     smtp_helo_timeout 300s
 *   STARTTLS smtp_starttls_timeout 300s (one deadline for the handshake)
 *   AUTH     smtp_helo_timeout 300s (Postfix has no key of its own)
 *   MAIL     smtp_mail_timeout 300s   RCPT     smtp_rcpt_timeout 300s
 *   DATA     smtp_data_init_timeout 120s
 *   BODY     smtp_data_xfer_timeout 180s
 *   DOT      smtp_data_done_timeout 600s
 *   RSET     smtp_rset_timeout 20s
 *   QUIT     smtp_quit_timeout 300s */
struct smtpc_timeouts {
	uint64_t ms[SMTPC_STAGES];
};
void smtpc_timeouts_default(struct smtpc_timeouts *t);

/* TLS security levels, as Postfix's smtp_tls_security_level. */
enum smtpc_tls_level {
	SMTPC_TLS_NONE = 0, /* never STARTTLS */
	SMTPC_TLS_MAY, /* STARTTLS when offered, else plaintext; a refused
			  STARTTLS goes on in plaintext, a failed handshake
			  is SMTPC_ERR_TLS */
	SMTPC_TLS_ENCRYPT, /* TLS required, the certificate not checked */
	SMTPC_TLS_VERIFY, /* TLS, the chain verified against the CAs and a
			     name of the certificate matches tls_peername
			     (the MX host name: Postfix's
			     smtp_tls_verify_cert_match = hostname); without
			     tls_peername only the chain */
	SMTPC_TLS_SECURE, /* as verify, but a name is required (tls_peername
			     or tls_match: the caller passes the names it
			     trusts, the next hop's, not one found in DNS) */
};

/* What the TLS layer was, valid after the dialogue. verified: the chain
 * verified and the certificate names tls_peername (or one of tls_match,
 * when given), on every level (may too, for the log). */
struct smtpc_tls {
	bool used;
	bool verified;
	char protocol[32]; /* "TLSv1.3" */
	char cipher[64]; /* "TLS_AES_256_GCM_SHA384" */
	char peer_name[256]; /* the certificate name that matched, or "" */
};

struct smtpc_config {
	const char *helo_name;
	/* TLS: tls_ctx from tls_client_ctx_from (CA file / dir, client
	 * certificate); needed unless tls_level is none. tls_peername goes
	 * out as SNI and is the name secure checks (the MX host name, or the
	 * relayhost's name); NULL: no SNI. */
	enum smtpc_tls_level tls_level;
	SSL_CTX *tls_ctx;
	const char *tls_peername;
	/* tls_match: the names the certificate may have instead of
	 * tls_peername (NULL-terminated; NULL or empty: tls_peername), for a
	 * policy's "match=" (the caller expands Postfix's words: "nexthop" is
	 * the next hop's name, "dot-nexthop" is "." + it, "hostname" the MX
	 * host); a name starting with "." matches any name below it. */
	const char *const *tls_match;
	/* AUTH (PLAIN preferred, else LOGIN) after EHLO (and STARTTLS) when
	 * auth_user is set; only over TLS unless auth_plaintext. */
	const char *auth_user, *auth_pass;
	bool auth_plaintext;
	struct smtpc_timeouts timeouts;
	bool no_pipelining; /* never pipeline, even when offered */
	/* trace: each line sent (out) or received, for -v; may be NULL. */
	void (*trace)(void *ctx, bool out, const char *line);
	/* rcpts_done: every RCPT has its answer and at least the MAIL was
	 * accepted; return true to send the message. NULL: send when one
	 * recipient was accepted. A false after a pipelined DATA got 354
	 * hangs up (SMTPC_ERR_ABORTED): SMTP has no way to cancel DATA. */
	bool (*rcpts_done)(void *ctx, smtpc *c);
	/* next_msg: the current message is done (its results readable); return
	 * the next message for this connection, NULL to QUIT, or SMTPC_PARK to
	 * keep the connection idle until smtpc_resume. The replies of the old
	 * message's recipients are freed when it returns (the client keeps no
	 * pointer into it once it returned NULL or SMTPC_PARK). Must not
	 * smtpc_free, nor smtpc_resume this client. NULL: one message per
	 * connection. */
	struct smtpc_msg *(*next_msg)(void *ctx, smtpc *c);
	/* park_idle_ms: how long a parked connection may idle before the
	 * client says QUIT by itself (Postfix's
	 * smtp_connection_cache_time_limit); 0: no limit, the owner ends it. */
	uint64_t park_idle_ms;
	/* done: the dialogue is over and the connection closed. The caller
	 * reads the results and may smtpc_free from here. */
	void (*done)(void *ctx, smtpc *c);
	void *ctx;
};

/* smtpc_start: runs the dialogue over fd (connected, or a non-blocking
 * connect in progress; made non-blocking here, closed when done). cfg and
 * msg (with its strings and recipients) must outlive the client. */
smtpc *smtpc_start(ev_loop *loop, int fd, const struct smtpc_config *cfg, struct smtpc_msg *msg);
/* smtpc_free: only after the done callback. */
void smtpc_free(smtpc **c);

/* Parking, for connection reuse. When next_msg returns SMTPC_PARK, the
 * client sends RSET if a transaction is still open (a message whose DATA
 * was refused or not sent), and then holds the connection idle: nothing
 * is sent, no timer runs but park_idle_ms. The results of the last message
 * are gone (read them in next_msg). Then:
 * - smtpc_resume(c, msg): msg goes out on this connection (MAIL ...) as if
 *   next_msg had returned it; its results come through next_msg / done
 *   as usual (smtpc_messages counts it).
 * - smtpc_resume(c, NULL): QUIT, then done (error NONE, stage QUIT).
 * - park_idle_ms ran out: QUIT by itself, then done (smtpc_parked true).
 * - the server closes (SMTPC_ERR_CLOSED), or sends anything, a "421"
 *   too (SMTPC_ERR_PROTOCOL, the line in smtpc_error_text), or the RSET
 *   is refused (smtpc_failed_stage SMTPC_RSET, QUIT): done runs with
 *   smtpc_parked(c) true and smtpc_stage SMTPC_RSET or QUIT. No message
 *   is concerned then: reconnect for the next one.
 * smtpc_resume is for a parked client only (smtpc_parked true; a
 * log_panic else), not from inside this client's own callbacks. Nothing
 * of the client's runs inside it: msg is handed over at once (its
 * results are smtpc's from then) and starts from the loop, or after the
 * RSET's 250 when that is still out. If the RSET is refused, or the
 * connection breaks before MAIL went out, msg is not sent: done runs with
 * smtpc_parked false, the recipients without replies (code 0) and the
 * error or smtpc_failed_stage SMTPC_RSET saying why: defer or retry it. */
void smtpc_resume(smtpc *c, struct smtpc_msg *msg);
/* smtpc_parked: next_msg returned SMTPC_PARK and smtpc_resume has not
 * been called since. In the done callback: the dialogue ended while
 * parked, so no message of the caller's was concerned. */
bool smtpc_parked(const smtpc *c);

/* Results, valid in and after the done callback. */
enum smtpc_stage smtpc_stage(const smtpc *c); /* where it ended: SMTPC_QUIT when sent */
/* smtpc_error: the current message's refusal (TOO_BIG, NO_SMTPUTF8,
 * NO_8BITMIME: that message was not sent; the connection goes on with
 * the next if there is one), else the connection's error. An error with
 * smtpc_stage SMTPC_QUIT came after the last message was done. */
enum smtpc_error smtpc_error(const smtpc *c);
/* smtpc_messages: how many next messages were handed over (0: one). */
unsigned smtpc_messages(const smtpc *c);
const char *smtpc_error_text(const smtpc *c); /* "" when none */
/* smtpc_failed_stage: the first stage whose reply was not what it asks
 * (greeting / HELO / MAIL not 2xx, DATA not 354, end of data not 2xx),
 * or SMTPC_STAGES when none was refused (recipients are per recipient). */
enum smtpc_stage smtpc_failed_stage(const smtpc *c);
/* smtpc_reply_of: the reply that ended a stage (empty when none came). */
const struct smtpc_reply *smtpc_reply_of(const smtpc *c, enum smtpc_stage stage);
/* smtpc_caps: the capabilities of the last EHLO (after STARTTLS: the
 * ones said over TLS; the plaintext ones are dropped). */
const struct smtpc_caps *smtpc_caps(const smtpc *c);
const struct smtpc_tls *smtpc_tls(const smtpc *c);
/* smtpc_authenticated: AUTH succeeded (235). */
bool smtpc_authenticated(const smtpc *c);
size_t smtpc_accepted(const smtpc *c); /* recipients with a 2xx */

#endif
