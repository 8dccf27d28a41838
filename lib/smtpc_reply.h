/* smtpc_reply.h: the pure parsing half of the SMTP client (lib/smtpc.c):
 * server replies (three-digit code, multi-line "250-" continuations, the
 * enhanced status code of RFC 3463 split off, line and line-count
 * limits, garbage refused) and the EHLO capability list. No I/O, so it
 * is unit tested (tests/unit/test_smtpc_reply.c) and fuzzed
 * (tests/fuzz/fuzz_smtp_reply.c) alone. */
#ifndef POSTERN_SMTPC_REPLY_H
#define POSTERN_SMTPC_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* A reply line may be this long, CR LF included (RFC 5321 asks for 512;
 * real servers send longer text), and a reply this many lines. */
#define SMTPC_REPLY_LINE_MAX 4096
#define SMTPC_REPLY_LINES_MAX 100
/* "5.123.456" and its NUL. */
#define SMTPC_DSN_MAX 12

struct smtpc_reply {
	int code; /* 0 until the first line came */
	char dsn[SMTPC_DSN_MAX]; /* enhanced code of the first line, or "" */
	buf *lines; /* the lines as received, CR LF removed, joined with "\n" */
	int nlines;
	bool complete;
};

/* smtpc_reply_init allocates, smtpc_reply_clear frees; smtpc_reply_reset
 * makes an initialised reply ready for the next one. */
void smtpc_reply_init(struct smtpc_reply *r);
void smtpc_reply_reset(struct smtpc_reply *r);
void smtpc_reply_clear(struct smtpc_reply *r);

/* smtpc_reply_feed: one reply line (its CR LF or LF optional). Returns 1
 * when the reply is complete, 0 when more lines follow, -1 with *why_r
 * (static text) for a line that is no reply line (no three-digit code
 * 2xx-5xx, a bad separator, a NUL, a code other than the first line's,
 * too long) or one line too many. After 1 or -1, reset before feeding. */
int smtpc_reply_feed(struct smtpc_reply *r, const char *line, size_t len, const char **why_r);

/* smtpc_reply_last_line: the final line, code included ("" before any). */
const char *smtpc_reply_last_line(const struct smtpc_reply *r);
/* smtpc_reply_text: the text of the final line after the code and the
 * enhanced status code, for messages. */
const char *smtpc_reply_text(const struct smtpc_reply *r);

/* smtpc_parse_dsn: does text start with an enhanced status code whose
 * class is code's first digit ("5.1.1 ...", RFC 3463: class "." 1-3
 * digits "." 1-3 digits, then a blank or the end)? Copies it to dsn_r
 * and returns its length, or 0. */
size_t smtpc_parse_dsn(const char *text, int code, char dsn_r[SMTPC_DSN_MAX]);

/* The ESMTP extensions the client knows, as bits of smtpc_caps.ext. */
#define SMTPC_EXT_PIPELINING 0x001
#define SMTPC_EXT_SIZE 0x002
#define SMTPC_EXT_8BITMIME 0x004
#define SMTPC_EXT_SMTPUTF8 0x008
#define SMTPC_EXT_DSN 0x010
#define SMTPC_EXT_STARTTLS 0x020
#define SMTPC_EXT_AUTH 0x040
#define SMTPC_EXT_CHUNKING 0x080
#define SMTPC_EXT_ENHANCEDSTATUSCODES 0x100

#define SMTPC_AUTH_MECHS_MAX 256

struct smtpc_caps {
	unsigned ext; /* SMTPC_EXT_* bits */
	long long size_max; /* SIZE's argument; 0 when absent, bad or none */
	char auth[SMTPC_AUTH_MECHS_MAX]; /* " PLAIN LOGIN " upper case, or "" */
};

/* smtpc_caps_parse: the capabilities in a complete 250 reply to EHLO
 * (its first line is the greeting and is skipped). Unknown keywords are
 * ignored; "AUTH=" (the old form) counts as AUTH. */
void smtpc_caps_parse(const struct smtpc_reply *r, struct smtpc_caps *caps);
/* smtpc_caps_auth: is the SASL mechanism (any case) offered? */
bool smtpc_caps_auth(const struct smtpc_caps *caps, const char *mech);

#endif
