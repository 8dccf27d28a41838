/* sendmail.h: the pieces of the sendmail command shared by its files:
 * sendmail.c (options, configuration, modes), message.c (reading the
 * message from stdin: header fields, -t recipients, the spooled body) and
 * submit.c (the submission over $queue_directory/public/submit, through
 * lib/smtpc's client).
 * Exit statuses are the sysexits.h codes scripts and cron expect. */
#ifndef POSTERN_SENDMAIL_H
#define POSTERN_SENDMAIL_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "buf.h"

/* sysexits.h values, spelled out so the meaning is visible here. */
#define SM_EX_OK 0
#define SM_EX_USAGE 64
#define SM_EX_DATAERR 65
#define SM_EX_NOUSER 67
#define SM_EX_UNAVAILABLE 69
#define SM_EX_SOFTWARE 70
#define SM_EX_IOERR 74
#define SM_EX_TEMPFAIL 75
#define SM_EX_CONFIG 78

/* A list of heap strings. */
struct sm_list {
	char **v;
	int n;
};

void sm_list_add(struct sm_list *l, const char *s);
void sm_list_clear(struct sm_list *l);

struct sm_opts {
	const char *config_dir;
	const char *sender; /* -f / -r as given, NULL = the login name */
	const char *full_name; /* -F */
	bool extract; /* -t */
	bool ignore_dots; /* -i, -oi */
	bool verbose; /* -v */
	char mode; /* 'm' send (default), 's' SMTP on stdio, 'p' list the queue */
	const char *notify; /* -N, upper-cased DSN NOTIFY value */
	const char *ret; /* -R: FULL or HDRS */
	const char *envid; /* -V */
	const char *body; /* -B: 7BIT or 8BITMIME */
	struct sm_list rcpts; /* from the command line */
};

/* The message read from stdin. The header is kept in memory (LF line
 * ends, Bcc: removed, From: added when missing); the body is spooled to
 * an unlinked temporary file so no input size or slow writer matters. */
struct sm_message {
	buf *header;
	FILE *body;
	off_t size; /* header + body bytes, LF ends */
	bool eightbit; /* a byte over 127 appears */
	struct sm_list rcpts; /* from To:, Cc:, Bcc: with -t */
};

/* sm_read_message: reads stdin. From: is added as "Full Name <from>"
 * when missing and from is not empty. Returns SM_EX_OK or an exit status
 * (message printed). */
int sm_read_message(FILE *in, const struct sm_opts *o, const char *from, const char *full_name,
		    struct sm_message *m);
void sm_message_free(struct sm_message *m);

/* What to submit: envelope plus message. */
struct sm_envelope {
	const char *sender; /* "" = null sender */
	struct sm_list rcpts; /* qualified */
};

/* sm_submit: the SMTP dialogue over the socket at path. Returns the exit
 * status; every failure is explained on stderr as "sendmail: ...". */
int sm_submit(const char *path, const struct sm_opts *o, const struct sm_envelope *env,
	      struct sm_message *m);
/* sm_relay_stdio: -bs: copies stdin to the socket and the socket to
 * stdout until both are done. */
int sm_relay_stdio(const char *path, bool verbose);

#endif
