/* reason.c: the texts qmgr logs and puts into bounces for what happened
 * at a server, in Postfix's words ("host H[A] said: ... (in reply to RCPT
 * TO command)", "lost connection with H[A] while sending DATA command"),
 * and their status codes. Pure: no I/O. */
#include "smtp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

const char *reason_stage_cmd(enum smtpc_stage stage, bool helo_fallback)
{
	switch (stage) {
	case SMTPC_GREETING:
		return "initial server greeting";
	case SMTPC_HELO:
		return helo_fallback ? "HELO" : "EHLO";
	case SMTPC_STARTTLS:
		return "STARTTLS";
	case SMTPC_AUTH:
		return "AUTH";
	case SMTPC_MAIL:
		return "MAIL FROM";
	case SMTPC_RCPT:
		return "RCPT TO";
	case SMTPC_DATA:
		return "DATA";
	case SMTPC_BODY:
	case SMTPC_DOT:
		return "end of DATA";
	case SMTPC_RSET:
		return "RSET";
	default:
		return "QUIT";
	}
}

/* while_text: what the client was doing in stage, Postfix's words. */
static const char *while_text(enum smtpc_stage stage)
{
	switch (stage) {
	case SMTPC_GREETING:
		return "receiving the initial server greeting";
	case SMTPC_HELO:
		return "performing the EHLO handshake";
	case SMTPC_STARTTLS:
		return "performing the STARTTLS handshake";
	case SMTPC_AUTH:
		return "performing SASL authentication";
	case SMTPC_MAIL:
		return "sending MAIL FROM";
	case SMTPC_RCPT:
		return "sending RCPT TO";
	case SMTPC_DATA:
		return "sending DATA command";
	case SMTPC_BODY:
		return "sending message body";
	case SMTPC_DOT:
		return "sending end of data -- message may be sent more than once";
	case SMTPC_RSET:
		return "sending RSET";
	default:
		return "sending QUIT";
	}
}

void reason_soft(char dsn[SMTPC_DSN_MAX])
{
	if (dsn[0] == '5' || dsn[0] == '2')
		dsn[0] = '4';
}

/* one_line: the reply's lines joined by spaces, control bytes as '?'. */
static char *one_line(const char *text)
{
	char *s = xstrdup(text);

	for (char *p = s; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' ';
		else if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return s;
}

char *reason_reply(const char *host, const char *reply_text, int code, const char *cmd,
		   char dsn_r[SMTPC_DSN_MAX])
{
	char *line = one_line(reply_text);
	char *text = xasprintf("host %s said: %s (in reply to %s command)", host, line, cmd);
	const char *after_code = strlen(reply_text) > 4 ? reply_text + 4 : "";
	/* a refusal: anything but a 5xx is temporary, a 2xx too (a 250 to
	 * DATA means the server never took the message) */
	int cls = code / 100 == 5 ? 5 : 4;

	if (smtpc_parse_dsn(after_code, code, dsn_r) == 0 || dsn_r[0] - '0' != cls)
		snprintf(dsn_r, SMTPC_DSN_MAX, "%d.0.0", cls);
	free(line);
	return text;
}

char *reason_lost(const char *host, enum smtpc_error err, enum smtpc_stage stage,
		  const char *why, char dsn_r[SMTPC_DSN_MAX])
{
	snprintf(dsn_r, SMTPC_DSN_MAX, "4.4.2");
	switch (err) {
	case SMTPC_ERR_TIMEOUT:
		return xasprintf("conversation with %s timed out while %s", host, while_text(stage));
	case SMTPC_ERR_PROTOCOL: {
		char *w = one_line(why != NULL && *why != '\0' ? why : "malformed reply");
		char *text = xasprintf("conversation with %s failed while %s: %s", host,
				       while_text(stage), w);

		snprintf(dsn_r, SMTPC_DSN_MAX, "4.5.0");
		free(w);
		return text;
	}
	case SMTPC_ERR_BODY:
		snprintf(dsn_r, SMTPC_DSN_MAX, "4.3.0");
		return xasprintf("error reading the queue file while sending the message to %s",
				 host);
	default:
		return xasprintf("lost connection with %s while %s", host, while_text(stage));
	}
}
