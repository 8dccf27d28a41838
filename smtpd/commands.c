/* commands.c: the SMTP command table and dispatcher. Each verb names the
 * states it is allowed in and an action; a command in the wrong state gets
 * 503 5.5.1 with a reason, an unknown one 500 5.5.2. Every state change
 * goes through smtpd_enter_state, which logs old -> new at debug level.
 * The simple verbs (HELO, EHLO, RSET, NOOP, QUIT, HELP, VRFY, EXPN) are
 * here; the transaction verbs are in cmd_txn.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "dkimsign.h"
#include "smtpd.h"

/* HELO names are kept for Received: and logs; longer ones are cut. */
#define HELO_NAME_MAX 255

#define ST_ANY (ST_CONNECT | ST_READY | ST_MAIL | ST_RCPT | ST_BDAT)
#define ST_TXN (ST_MAIL | ST_RCPT | ST_BDAT)

struct smtpd_command {
	const char *verb;
	unsigned states; /* smtpd_state bits in which the verb is allowed */
	void (*action)(struct session *s, const char *arg);
	bool needs_tls; /* refused before TLS when smtpd_tls_security_level=encrypt */
};

const char *smtpd_state_name(enum smtpd_state state)
{
	switch (state) {
	case ST_CONNECT: return "CONNECT";
	case ST_READY: return "READY";
	case ST_MAIL: return "MAIL";
	case ST_RCPT: return "RCPT";
	case ST_DATA: return "DATA";
	case ST_BDAT: return "BDAT";
	case ST_COMMIT: return "COMMIT";
	case ST_QUIT: return "QUIT";
	}
	return "?";
}

void smtpd_enter_state(struct session *s, enum smtpd_state state)
{
	if (s->state != state)
		log_debug("%s: state %s -> %s", s->client, smtpd_state_name(s->state),
			  smtpd_state_name(state));
	s->state = state;
}

void smtpd_txn_free(struct smtpd_txn **tp)
{
	struct smtpd_txn *t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	if (t->writer != NULL)
		q_writer_abort(&t->writer);
	for (int i = 0; i < t->nrcpts; i++) {
		free(t->rcpts[i].address);
		free(t->rcpts[i].orcpt);
	}
	free(t->rcpts);
	free(t->sender);
	free(t->qid);
	smtpd_mail_params_clear(&t->params);
	buf_free(&t->header);
	buf_free(&t->scratch);
	smtpd_authres_free(&t->auth);
	smtpd_sign_free(&t->sign);
	free(t);
}

/* smtpd_txn_reset: back to the state after HELO/EHLO (or before it). */
void smtpd_txn_reset(struct session *s)
{
	smtpd_txn_free(&s->txn);
	smtpd_enter_state(s, s->helo != NULL ? ST_READY : ST_CONNECT);
}

/* ---- the simple verbs ---- */

static bool helo_arg_ok(struct session *s, const char *verb, const char *arg)
{
	if (*arg != '\0')
		return true;
	smtpd_reply(s, 501, "5.5.4", "Syntax: %s hostname", verb);
	return false;
}

static void set_helo(struct session *s, const char *arg, bool esmtp)
{
	free(s->helo);
	s->helo = xstrndup(arg, HELO_NAME_MAX);
	s->esmtp = esmtp;
	smtpd_txn_reset(s);
}

static void cmd_helo(struct session *s, const char *arg)
{
	if (!helo_arg_ok(s, "HELO", arg))
		return;
	set_helo(s, arg, false);
	smtpd_reply(s, 250, "2.0.0", "%s", s->srv->myhostname);
}

static void cmd_ehlo(struct session *s, const char *arg)
{
	buf *r;

	if (!helo_arg_ok(s, "EHLO", arg))
		return;
	set_helo(s, arg, true);
	r = buf_new(256);
	buf_printf(r, "250-%s\r\n250-PIPELINING\r\n", s->srv->myhostname);
	if (s->srv->size_limit > 0)
		buf_printf(r, "250-SIZE %lld\r\n", s->srv->size_limit);
	else
		buf_puts(r, "250-SIZE\r\n");
	if (smtpd_tls_offered(s))
		buf_puts(r, "250-STARTTLS\r\n");
	if (smtpd_auth_mechanisms(s) != NULL)
		buf_printf(r, "250-AUTH %s\r\n", smtpd_auth_mechanisms(s));
	buf_puts(r, "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n"
		    "250-SMTPUTF8\r\n250 DSN\r\n");
	smtpd_reply_raw(s, buf_cstr(r));
	buf_free(&r);
}

static void cmd_rset(struct session *s, const char *arg)
{
	if (*arg != '\0') {
		smtpd_reply(s, 501, "5.5.4", "Syntax: RSET");
		return;
	}
	smtpd_txn_reset(s);
	smtpd_reply(s, 250, "2.0.0", "Ok");
}

static void cmd_noop(struct session *s, const char *arg)
{
	(void)arg;
	smtpd_reply(s, 250, "2.0.0", "Ok");
}

static void cmd_quit(struct session *s, const char *arg)
{
	(void)arg;
	smtpd_reply(s, 221, "2.0.0", "Bye");
	sess_close(s->base);
}

static void cmd_help(struct session *s, const char *arg)
{
	(void)arg;
	smtpd_reply(s, 214, "2.0.0",
		    "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY");
}

static void cmd_vrfy(struct session *s, const char *arg)
{
	if (*arg == '\0') {
		smtpd_reply(s, 501, "5.5.4", "Syntax: VRFY address");
		return;
	}
	/* no user probing: the answer does not depend on the address */
	smtpd_reply(s, 252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery");
}

static void cmd_not_implemented(struct session *s, const char *arg)
{
	(void)arg;
	smtpd_reply(s, 502, "5.5.1", "Error: command not implemented");
}

static const struct smtpd_command commands[] = {
	{ "HELO", ST_ANY, cmd_helo, false },
	{ "EHLO", ST_ANY, cmd_ehlo, false },
	{ "MAIL", ST_READY, smtpd_cmd_mail, true },
	{ "RCPT", ST_MAIL | ST_RCPT, smtpd_cmd_rcpt, true },
	{ "DATA", ST_MAIL | ST_RCPT, smtpd_cmd_data, true },
	{ "BDAT", ST_ANY, smtpd_cmd_bdat, false }, /* its bytes are read in any state */
	{ "RSET", ST_ANY, cmd_rset, false },
	{ "NOOP", ST_ANY, cmd_noop, false },
	{ "QUIT", ST_ANY, cmd_quit, false },
	{ "HELP", ST_ANY, cmd_help, false },
	{ "VRFY", ST_ANY, cmd_vrfy, false },
	{ "EXPN", ST_ANY, cmd_not_implemented, false },
	{ "ETRN", ST_ANY, cmd_not_implemented, false },
	{ "TURN", ST_ANY, cmd_not_implemented, false },
	{ "STARTTLS", ST_CONNECT | ST_READY, smtpd_cmd_starttls, false },
	{ "AUTH", ST_READY, smtpd_cmd_auth, true },
	{ NULL, 0, NULL, false },
};

static const struct smtpd_command *find_command(const char *verb)
{
	for (const struct smtpd_command *c = commands; c->verb != NULL; c++)
		if (strcmp(c->verb, verb) == 0)
			return c;
	return NULL;
}

/* wrong_order: the 503 for a verb given in a state that does not allow it. */
static void wrong_order(struct session *s, const char *verb)
{
	const char *why = "bad sequence of commands";

	if (s->state == ST_CONNECT)
		why = "send HELO/EHLO first";
	else if (strcmp(verb, "MAIL") == 0)
		why = "nested MAIL command";
	else if (strcmp(verb, "RCPT") == 0)
		why = "need MAIL command";
	else if (strcmp(verb, "DATA") == 0 && s->state == ST_BDAT)
		why = "DATA and BDAT cannot be mixed";
	else if (strcmp(verb, "DATA") == 0)
		why = "need RCPT command";
	else if (strcmp(verb, "AUTH") == 0)
		why = "MAIL transaction in progress";
	smtpd_reply(s, 503, "5.5.1", "Error: %s", why);
}

void smtpd_command(struct session *s, const char *line, size_t len)
{
	struct smtpd_cmd cmd;
	struct smtpd_perr err;
	const struct smtpd_command *c;

	if (!smtpd_auth_current(s))
		return;
	if (smtpd_parse_command(line, len, &cmd, &err) < 0) {
		sess_set_last(s->base, "UNKNOWN");
		smtpd_reply(s, err.code, err.dsn, "%s", err.text);
		return;
	}
	c = find_command(cmd.verb);
	if (c == NULL) {
		sess_set_last(s->base, "UNKNOWN");
		log_info("%s: unknown command from %s", cmd.verb[0] ? cmd.verb : "(empty)", s->client);
		smtpd_reply(s, 500, "5.5.2", "Error: command not recognized");
		return;
	}
	sess_set_last(s->base, c->verb);
	if ((c->states & (unsigned)s->state) == 0) {
		wrong_order(s, c->verb);
		return;
	}
	if (c->needs_tls && s->srv->require_tls && !strm_is_tls(s->stream)) {
		smtpd_reply(s, 530, "5.7.0", "Must issue a STARTTLS command first");
		return;
	}
	c->action(s, cmd.arg);
}
