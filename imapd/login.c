/* login.c: the not-authenticated state: LOGIN, AUTHENTICATE over the
 * shared SASL engine (lib/sasl through lib/sess, with SASL-IR, RFC 4959),
 * STARTTLS and implicit TLS on imaps (RFC 8314), and the step into the
 * authenticated state: the user's Maildir, found as pop3d finds it.
 *
 * Failed logins are logged, delayed and cut off per client address as
 * smtpd's and pop3d's are (lib/authfail through lib/sess). Replies carry
 * RFC 5530 codes: [AUTHENTICATIONFAILED], [UNAVAILABLE] for a password
 * database that cannot answer, [PRIVACYREQUIRED] for LOGIN without TLS
 * (LOGINDISABLED, RFC 3501 6.2.3) unless imapd_tls_auth_only = no.
 * A session outlives no deletion of its user (imapd_login_current). */
#include <stdlib.h>
#include <string.h>

#include "imapd.h"
#include "log.h"
#include "mem.h"
#include "sess_login.h"

static void sasl_success(void *ctx, char *user, const char *mech);
static void sasl_reply(void *ctx, enum sess_auth_event event, const char *reason);

void imapd_login_init(struct imapd_server *srv, cfg *c)
{
	srv->tls_auth_only = cfg_get_bool(c, "imapd_tls_auth_only");
	srv->auth = (struct sess_auth){
		.success = sasl_success,
		.reply = sasl_reply,
	};
	srv->passdb = sess_login_init(&srv->auth, &srv->sasl_backend, c, "imapd", srv->service);
}

bool imapd_plaintext_ok(const struct session *s)
{
	return strm_is_tls(s->stream) || !s->srv->tls_auth_only;
}

/* ---- into the authenticated state ---- */

/* find_maildir: the login's Maildir (lib/sess_login); NULL after the NO. */
static char *find_maildir(struct session *s)
{
	char *maildir = NULL;

	switch (sess_login_maildir(s->srv->resolver, s->client, s->login, &maildir)) {
	case RESOLVE_OK: break;
	case RESOLVE_NOTFOUND:
		imapd_no(s, "AUTHORIZATIONFAILED", "There is no mailbox for this user.");
		break;
	default: imapd_no(s, "UNAVAILABLE", "Cannot open the mailbox, try again later."); break;
	}
	return maildir;
}

static void logged_in(struct session *s, const char *method)
{
	buf *caps;
	char *err = NULL;

	s->maildir = find_maildir(s);
	if (s->maildir == NULL) {
		imapd_logout(s);
		return;
	}
	if (mfolder_open(s->maildir, &s->mf, &err) < 0) {
		log_warn("%s: user=%s: cannot open %s: %s", s->client, s->login, s->maildir, err);
		free(err);
		imapd_no(s, "UNAVAILABLE", "Cannot open the mailbox, try again later.");
		imapd_logout(s);
		return;
	}
	s->state = IST_AUTH;
	imapcmd_set_limits(s->reader, &s->srv->limits); /* APPENDLIMIT from now on */
	sess_set_idle(s->base, s->srv->timeout_ms);
	log_info("%s: login: user=%s, method=%s%s", s->client, s->login, method,
		 strm_is_tls(s->stream) ? ", TLS" : "");
	caps = buf_new(256);
	imapd_capabilities(s, caps);
	imapd_tagged(s, "OK", NULL, "[CAPABILITY %s] Logged in.", buf_cstr(caps));
	buf_free(&caps);
}

/* ---- LOGIN ---- */

void imapd_cmd_login(struct session *s, const struct imapcmd *cmd)
{
	const struct imapcmd_arg *a = cmd->args;
	const char *user, *password;

	if (cmd->count != 2 || !imapcmd_is_astring(&a[0]) || !imapcmd_is_astring(&a[1])) {
		imapd_bad(s, "Syntax: LOGIN user password");
		return;
	}
	if (!imapd_plaintext_ok(s)) {
		imapd_no(s, "PRIVACYREQUIRED",
			 "Plaintext authentication is not allowed without TLS (use STARTTLS).");
		return;
	}
	user = a[0].str;
	password = a[1].str;
	if (a[0].len == 0 || a[0].len > SASL_MAX_NAME || strlen(user) != a[0].len ||
	    strlen(password) != a[1].len) {
		imapd_bad(s, "Invalid user name or password.");
		return;
	}
	if (!sess_auth_allowed(s->base, &s->srv->auth))
		return;
	switch (passdb_verify(s->srv->passdb, user, password)) {
	case PASSDB_OK:
		free(s->login);
		s->login = sess_login_name(user);
		logged_in(s, "LOGIN");
		break;
	case PASSDB_TEMP:
		log_warn("%s: LOGIN authentication: temporary failure, user=%s", s->client, user);
		imapd_no(s, "UNAVAILABLE", "Temporary authentication failure, try again later.");
		break;
	default:
		sess_auth_failed(s->base, &s->srv->auth, "LOGIN", user,
				 "wrong password or unknown user");
		break;
	}
}

/* ---- AUTHENTICATE ---- */

static void sasl_success(void *ctx, char *user, const char *mech)
{
	struct session *s = ctx;

	free(s->login);
	s->login = user;
	logged_in(s, mech);
}

static void sasl_reply(void *ctx, enum sess_auth_event event, const char *reason)
{
	struct session *s = ctx;

	switch (event) {
	case SESS_AUTH_UNSUPPORTED:
		imapd_no(s, "CANNOT", "Unsupported authentication mechanism.");
		break;
	case SESS_AUTH_FAILED: imapd_no(s, "AUTHENTICATIONFAILED", "Authentication failed."); break;
	case SESS_AUTH_CUT_OFF:
		imapd_untagged(s, "BYE Too many failed logins.");
		break;
	case SESS_AUTH_BLOCKED:
		imapd_no(s, "UNAVAILABLE", "Too many failed logins, try again later.");
		break;
	case SESS_AUTH_CANCELLED: imapd_bad(s, "Authentication cancelled."); break;
	case SESS_AUTH_TEMP:
		imapd_no(s, "UNAVAILABLE", "Temporary authentication failure, try again later.");
		break;
	case SESS_AUTH_MALFORMED:
		imapd_bad(s, "Malformed authentication response (%s).", reason);
		break;
	case SESS_AUTH_TOO_LONG:
		imapd_bad(s, "Authentication line too long.");
		sess_close(s->base);
		break;
	}
}

void imapd_cmd_authenticate(struct session *s, const struct imapcmd *cmd)
{
	const struct imapcmd_arg *a = cmd->args;
	char *arg;

	if (cmd->count < 1 || cmd->count > 2 || a[0].type != IMAPCMD_ATOM ||
	    (cmd->count == 2 && a[1].type != IMAPCMD_ATOM)) {
		imapd_bad(s, "Syntax: AUTHENTICATE mechanism [initial-response]");
		return;
	}
	/* SASL-IR: "=" is an empty initial response, as lib/sasl takes it */
	arg = cmd->count == 2 ? xasprintf("%s %s", a[0].str, a[1].str) : xstrdup(a[0].str);
	sess_auth_start(s->base, &s->srv->auth, arg, imapd_plaintext_ok(s));
	free(arg);
}

/* ---- the end of a login ---- */

bool imapd_login_current(struct session *s)
{
	switch (sess_login_recheck(s->srv->passdb, s->srv->resolver, s->client, s->login,
				   &s->login_gen)) {
	case RESOLVE_OK:
		return true;
	case RESOLVE_NOTFOUND:
		imapd_untagged(s, "BYE [AUTHENTICATIONFAILED] The user no longer exists.");
		imapd_logout(s);
		sess_close(s->base);
		return false;
	default:
		imapd_no(s, "UNAVAILABLE", "Cannot check the login now, try again later.");
		return false;
	}
}

void imapd_logout(struct session *s)
{
	imapd_idle_end(s);
	imapd_mailbox_close(s);
	free(s->login);
	s->login = NULL;
	free(s->maildir);
	s->maildir = NULL;
	mfolder_free(&s->mf);
	if (s->state == IST_AUTH || s->state == IST_SELECTED)
		s->state = IST_NOAUTH;
}

/* ---- TLS ---- */

void imapd_tls_init(struct imapd_server *srv, cfg *c)
{
	sess_login_tls(c, "imapd", srv->implicit_tls, &srv->tls, &srv->handshake_timeout_ms);
}

/* imapd_tls_reload: renewed certificate files serve new connections; open
 * sessions keep the context they started with. */
void imapd_tls_reload(struct imapd_server *srv, cfg *c)
{
	tls_server_reload(&srv->tls, c, "imapd");
}

void imapd_cmd_starttls(struct session *s, const struct imapcmd *cmd)
{
	if (cmd->count != 0) {
		imapd_bad(s, "STARTTLS takes no arguments.");
		return;
	}
	if (s->srv->tls == NULL) {
		imapd_bad(s, "STARTTLS is not available (no certificate configured).");
		return;
	}
	if (strm_is_tls(s->stream)) {
		imapd_bad(s, "TLS is already active.");
		return;
	}
	imapd_ok(s, "Begin TLS negotiation now.");
	sess_tls_start(s->base);
}

/* imapd_tls_done: RFC 3501 6.2.1: forget what the client pipelined
 * before the handshake. */
void imapd_tls_done(void *ctx)
{
	imapd_discard_input(ctx);
}
