/* auth.c: AUTH in smtpd (RFC 4954): the checks before an exchange and
 * the SMTP replies of one (334 challenges, 235, 535 ...); the exchange
 * itself, with its log lines, the failed-login table (lib/authfail) and
 * the delays, is the session layer's (lib/sess_auth.c) over lib/sasl and
 * the password database's backend (lib/sasl_passdb). Cleartext mechanisms
 * need TLS unless smtpd_tls_auth_only = no; CRAM-MD5 only with
 * smtpd_auth_cram_md5. An authenticated user deleted since (mailctl user del)
 * ends the session at its next command (smtpd_auth_current).
 * XXX passdb_verify hashes on the loop thread (SHA512-CRYPT about 4 ms):
 * acceptable for now; a worker thread would keep other sessions moving. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "mem.h"
#include "sasl_passdb.h"
#include "smtpd.h"

static void auth_challenge(void *ctx, const char *b64)
{
	struct session *s = ctx;

	smtpd_reply_raw(s, "334 ");
	smtpd_reply_raw(s, b64);
	smtpd_reply_raw(s, "\r\n");
}

static void auth_success(void *ctx, char *user, const char *mech)
{
	struct session *s = ctx;

	s->auth_user = user;
	log_info("%s: sasl_method=%s, sasl_username=%s", s->client, mech, user);
	smtpd_reply(s, 235, "2.7.0", "Authentication successful");
}

static void auth_reply(void *ctx, enum sess_auth_event event, const char *reason)
{
	struct session *s = ctx;
	const char *host = s->srv->myhostname;

	switch (event) {
	case SESS_AUTH_UNSUPPORTED:
		smtpd_reply(s, 504, "5.5.4", "Unsupported authentication mechanism");
		break;
	case SESS_AUTH_FAILED: smtpd_reply(s, 535, "5.7.8", "Error: authentication failed"); break;
	case SESS_AUTH_CUT_OFF:
	case SESS_AUTH_BLOCKED:
		smtpd_reply(s, 421, "4.7.0", "%s Error: too many authentication failures", host);
		break;
	case SESS_AUTH_CANCELLED: smtpd_reply(s, 501, "5.0.0", "Authentication aborted"); break;
	case SESS_AUTH_TEMP:
		smtpd_reply(s, 454, "4.7.0", "Temporary authentication failure");
		break;
	case SESS_AUTH_MALFORMED:
		smtpd_reply(s, 501, "5.5.2", "Error: malformed authentication response (%s)",
			    reason);
		break;
	case SESS_AUTH_TOO_LONG:
		smtpd_reply(s, 500, "5.5.6", "Authentication exchange line is too long");
		break;
	}
}

void smtpd_auth_init(struct smtpd_server *srv, cfg *c)
{
	const char *role = cfg_get(c, "smtpd_service");

	srv->auth_enabled = !srv->local_service;
	srv->auth_required = strcmp(role, "submission") == 0 || strcmp(role, "smtps") == 0;
	srv->tls_auth_only = cfg_get_bool(c, "smtpd_tls_auth_only");
	if (!srv->auth_enabled)
		return;
	srv->passdb = passdb_new(c);
	sasl_passdb_backend(&srv->sasl_backend, cfg_get_bool(c, "smtpd_auth_cram_md5"));
	srv->authfail = authfail_from_cfg(c, "smtpd", svc_name(srv->service));
	srv->auth = (struct sess_auth){
		.backend = &srv->sasl_backend,
		.backend_ctx = srv->passdb,
		.fails = srv->authfail,
		.mech_prefix = "SASL ",
		.user_key = "sasl_username",
		.command = "AUTH",
		.failures = "failed authentications",
		.challenge = auth_challenge,
		.success = auth_success,
		.reply = auth_reply,
	};
}

bool smtpd_auth_current(struct session *s)
{
	switch (sess_auth_recheck(s->srv->passdb, s->auth_user, &s->auth_gen)) {
	case PASSDB_OK:
		return true;
	case PASSDB_NOTFOUND:
		log_info("%s: sasl_username=%s was deleted: session ended", s->client, s->auth_user);
		smtpd_reply(s, 421, "4.7.0", "%s Error: the authenticated user no longer exists",
			    s->srv->myhostname);
		sess_close(s->base);
		return false;
	default:
		smtpd_reply(s, 451, "4.3.0", "Error: cannot check the login now, try again later");
		return false;
	}
}

/* ---- the command ---- */

static bool channel_secure(const struct session *s)
{
	return strm_is_tls(s->stream) || !s->srv->tls_auth_only;
}

const char *smtpd_auth_mechanisms(const struct session *s)
{
	const char *mechs;

	if (!s->srv->auth_enabled || !channel_secure(s))
		return NULL;
	mechs = sasl_mechanisms(&s->srv->sasl_backend, true);
	return *mechs != '\0' ? mechs : NULL;
}

/* auth_check: everything that refuses AUTH before an exchange starts. */
static bool auth_check(struct session *s, const char *arg)
{
	if (!s->srv->auth_enabled) {
		smtpd_reply(s, 502, "5.5.1", "Error: command not implemented");
		return false;
	}
	if (s->auth_user != NULL) {
		smtpd_reply(s, 503, "5.5.1", "Error: already authenticated");
		return false;
	}
	if (!channel_secure(s)) {
		smtpd_reply(s, 538, "5.7.11", "Encryption required for requested authentication mechanism");
		return false;
	}
	if (*arg == '\0') {
		smtpd_reply(s, 501, "5.5.4", "Syntax: AUTH mechanism");
		return false;
	}
	return true;
}

void smtpd_cmd_auth(struct session *s, const char *arg)
{
	if (auth_check(s, arg))
		sess_auth_start(s->base, &s->srv->auth, arg, channel_secure(s));
}
