/* smtpc.h: an event-driven SMTP client for one message on one
 * connection, on lib/ev and lib/conn: greeting, EHLO (HELO when EHLO is
 * refused), MAIL / RCPT / DATA pipelined when the server offers
 * PIPELINING (replies matched in order), the body through lib/dot's
 * encoder, QUIT. Every stage has its own timeout. Nothing blocks: the
 * outbound smtp program runs many of these on one loop; sendmail runs one
 * until it is done. All state lives in the smtpc struct.
 *
 * Not here (yet): STARTTLS, AUTH, BDAT and more than one message per
 * connection; the capabilities are parsed for the caller to look at. */
#ifndef POSTERN_SMTPC_H
#define POSTERN_SMTPC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ev.h"
#include "smtpc_reply.h"

typedef struct smtpc smtpc;

/* Stages, in order; a result names the stage it ended in. */
enum smtpc_stage {
	SMTPC_GREETING = 0,
	SMTPC_HELO,
	SMTPC_MAIL,
	SMTPC_RCPT,
	SMTPC_DATA,
	SMTPC_BODY,
	SMTPC_DOT,
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
};

/* One recipient: the caller fills addr (and notify / orcpt, sent when the
 * server offers DSN); the client fills code and reply (the server's last
 * line, heap, freed by smtpc_free). code 0: no answer. */
struct smtpc_rcpt {
	const char *addr;
	const char *notify; /* "SUCCESS,FAILURE" etc. or NULL */
	const char *orcpt; /* "rfc822;a@b" (xtext already) or NULL */
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
	bool smtputf8; /* SMTPUTF8 */
	const char *ret; /* DSN RET=FULL|HDRS, or NULL */
	const char *envid; /* DSN ENVID= (raw; xtext-encoded here), or NULL */
	smtpc_read_fn *read_body;
	void *body_ctx;
};

/* Per-stage timeouts in ms (each read or write of the stage restarts it,
 * as Postfix's smtp_*_timeout). smtpc_timeouts_default gives Postfix's
 * defaults. */
struct smtpc_timeouts {
	uint64_t ms[SMTPC_STAGES];
};
void smtpc_timeouts_default(struct smtpc_timeouts *t);

struct smtpc_config {
	const char *helo_name;
	struct smtpc_timeouts timeouts;
	bool no_pipelining; /* never pipeline, even when offered */
	/* trace: each line sent (out) or received, for -v; may be NULL. */
	void (*trace)(void *ctx, bool out, const char *line);
	/* rcpts_done: every RCPT has its answer and at least the MAIL was
	 * accepted; return true to send the message. NULL: send when one
	 * recipient was accepted. A false after a pipelined DATA got 354
	 * hangs up (SMTPC_ERR_ABORTED): SMTP has no way to cancel DATA. */
	bool (*rcpts_done)(void *ctx, smtpc *c);
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

/* Results, valid in and after the done callback. */
enum smtpc_stage smtpc_stage(const smtpc *c); /* where it ended: SMTPC_QUIT when sent */
enum smtpc_error smtpc_error(const smtpc *c);
const char *smtpc_error_text(const smtpc *c); /* "" when none */
/* smtpc_failed_stage: the first stage whose reply was not what it asks
 * (greeting / HELO / MAIL not 2xx, DATA not 354, end of data not 2xx),
 * or SMTPC_STAGES when none was refused (recipients are per recipient). */
enum smtpc_stage smtpc_failed_stage(const smtpc *c);
/* smtpc_reply_of: the reply that ended a stage (empty when none came). */
const struct smtpc_reply *smtpc_reply_of(const smtpc *c, enum smtpc_stage stage);
const struct smtpc_caps *smtpc_caps(const smtpc *c);
size_t smtpc_accepted(const smtpc *c); /* recipients with a 2xx */

#endif
