/* parse.h: the pure parsing parts of smtpd, kept free of sessions, sockets
 * and the queue so they can be unit tested (tests/unit/test_smtpd_parse.c)
 * and fuzzed: splitting a command line into verb and argument, the
 * MAIL FROM / RCPT TO parameters (SIZE, BODY, SMTPUTF8, RET, ENVID,
 * NOTIFY, ORCPT) and the BDAT arguments. The DATA decoder (end of data,
 * dot-stuffing, the SMTP smuggling defence) is lib/dot.c. */
#ifndef POSTERN_SMTPD_PARSE_H
#define POSTERN_SMTPD_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Longest verb we look at; anything longer is an unknown command. */
#define SMTPD_VERB_MAX 16

/* A syntax error ready for the reply: code, enhanced code, text (static). */
struct smtpd_perr {
	int code;
	const char *dsn;
	const char *text;
};

struct smtpd_cmd {
	char verb[SMTPD_VERB_MAX + 1]; /* upper-cased; may be "" */
	const char *arg; /* the rest, leading and trailing blanks removed */
};

/* smtpd_parse_command: splits line (NUL-terminated, CRLF or LF already
 * stripped, len bytes) into verb and argument; cmd->arg points into line.
 * -1 with *err for a line holding a NUL byte or other control bytes. */
int smtpd_parse_command(const char *line, size_t len, struct smtpd_cmd *cmd,
			struct smtpd_perr *err);

/* smtpd_parse_path_keyword: "FROM:<a@b> ..." -> pointer to '<' (blanks
 * after the colon tolerated); NULL when arg does not start with keyword
 * (case-insensitive, e.g. "FROM:" or "TO:"). */
const char *smtpd_parse_path_keyword(const char *arg, const char *keyword);

/* Body types of MAIL BODY=. */
enum smtpd_body { SMTPD_BODY_UNSET = 0, SMTPD_BODY_7BIT, SMTPD_BODY_8BITMIME };

struct smtpd_mail_params {
	long long size; /* SIZE=, -1 when not given */
	enum smtpd_body body;
	bool smtputf8;
	int ret; /* 0 unset, 1 FULL, 2 HDRS (as q.h) */
	char *envid; /* decoded ENVID (heap) or NULL */
};

struct smtpd_rcpt_params {
	int notify; /* Q_NOTIFY_* bits, 0 when not given */
	char *orcpt; /* ORCPT as given ("rfc822;a+40b"), heap, or NULL */
};

/* smtpd_parse_mail_params: the parameters after the MAIL FROM path. 0, or
 * -1 with *err (555 5.5.4 unknown, 501 5.5.4 malformed or repeated). On
 * success the caller frees with smtpd_mail_params_clear; on error nothing
 * needs freeing. */
int smtpd_parse_mail_params(const char *text, struct smtpd_mail_params *p,
			    struct smtpd_perr *err);
void smtpd_mail_params_clear(struct smtpd_mail_params *p);
int smtpd_parse_rcpt_params(const char *text, struct smtpd_rcpt_params *p,
			    struct smtpd_perr *err);
void smtpd_rcpt_params_clear(struct smtpd_rcpt_params *p);

/* smtpd_parse_bdat: "123" or "123 LAST" (case-insensitive). 0 or -1. */
int smtpd_parse_bdat(const char *arg, unsigned long long *size_r, bool *last_r);

#endif
