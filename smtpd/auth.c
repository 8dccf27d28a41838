/* auth.c: AUTH in smtpd (RFC 4954): the command, the 334 exchange on the
 * event loop (input mode IN_AUTH), over lib/sasl with the password
 * database's backend (lib/sasl_passdb). Cleartext mechanisms need TLS
 * unless smtpd_tls_auth_only = no; CRAM-MD5 only with smtpd_auth_cram_md5.
 * Each failure is logged in one line a log watcher (fail2ban) can match,
 * and delays its 535 per client address (lib/authfail), up to a cut-off
 * with 421.
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

void smtpd_auth_end(struct session *s)
{
	sasl_free(&s->sasl);
	if (s->input == IN_AUTH)
		s->input = IN_COMMAND;
}

static void auth_success(struct session *s)
{
	char *user = xstrdup(sasl_user(s->sasl));

	for (char *p = user; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	s->auth_user = user;
	log_info("%s: sasl_method=%s, sasl_username=%s", s->client, sasl_mech(s->sasl), user);
	smtpd_reply(s, 235, "2.7.0", "Authentication successful");
}

static void auth_failure(struct session *s)
{
	const char *login = sasl_login_name(s->sasl);
	uint64_t delay;
	bool cut;

	log_warn("%s: SASL %s authentication failed: %s, sasl_username=%s", s->client,
		 sasl_mech(s->sasl), sasl_reason(s->sasl), login != NULL ? login : "");
	delay = authfail_record(s->srv->authfail, s->client_addr, ev_now_ms(s->srv->loop), &cut);
	smtpd_reply(s, 535, "5.7.8", "Error: authentication failed");
	if (cut) {
		log_warn("%s: too many failed authentications: disconnecting", s->client);
		smtpd_reply(s, 421, "4.7.0", "%s Error: too many authentication failures",
			    s->srv->myhostname);
		smtpd_session_close(s);
		return;
	}
	if (delay > 0)
		conn_pause(s->conn, delay);
}

/* auth_result: replies to what sasl_step said; ends the exchange unless
 * it goes on. */
static void auth_result(struct session *s, int r, char *challenge)
{
	switch (r) {
	case SASL_CONTINUE:
		smtpd_reply_raw(s, "334 ");
		smtpd_reply_raw(s, challenge);
		smtpd_reply_raw(s, "\r\n");
		s->input = IN_AUTH;
		free(challenge);
		return;
	case SASL_OK: auth_success(s); break;
	case SASL_FAIL: auth_failure(s); break;
	case SASL_CANCEL: smtpd_reply(s, 501, "5.0.0", "Authentication aborted"); break;
	case SASL_TEMP:
		log_warn("%s: SASL %s authentication: temporary failure: %s", s->client,
			 sasl_mech(s->sasl), sasl_reason(s->sasl));
		smtpd_reply(s, 454, "4.7.0", "Temporary authentication failure");
		break;
	default:
		log_info("%s: SASL %s: malformed response: %s", s->client, sasl_mech(s->sasl),
			 sasl_reason(s->sasl));
		smtpd_reply(s, 501, "5.5.2", "Error: malformed authentication response (%s)",
			    sasl_reason(s->sasl));
		break;
	}
	free(challenge);
	smtpd_auth_end(s);
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
	if (authfail_blocked(s->srv->authfail, s->client_addr, ev_now_ms(s->srv->loop))) {
		log_warn("%s: AUTH refused: too many failed authentications", s->client);
		smtpd_reply(s, 421, "4.7.0", "%s Error: too many authentication failures",
			    s->srv->myhostname);
		smtpd_session_close(s);
		return false;
	}
	return true;
}

void smtpd_cmd_auth(struct session *s, const char *arg)
{
	const char *space = strchr(arg, ' ');
	char *mech = space ? xstrndup(arg, (size_t)(space - arg)) : xstrdup(arg);
	const char *initial = space ? space + 1 : NULL;
	char *challenge = NULL;
	int r;

	if (!auth_check(s, arg)) {
		free(mech);
		return;
	}
	s->sasl = sasl_new(mech, &s->srv->sasl_backend, s->srv->passdb, channel_secure(s));
	free(mech);
	if (s->sasl == NULL) {
		smtpd_reply(s, 504, "5.5.4", "Unsupported authentication mechanism");
		return;
	}
	r = sasl_step(s->sasl, initial, initial ? strlen(initial) : 0, &challenge);
	auth_result(s, r, challenge);
}

/* smtpd_auth_step: one response line. An over-long one ends the exchange
 * at once (500); the session stays in IN_AUTH without an exchange until
 * the rest of that line is skipped. */
int smtpd_auth_step(struct session *s)
{
	const char *line;
	size_t len;
	char *challenge = NULL;
	int r;

	if (s->sasl == NULL) { /* skipping the rest of an over-long line */
		r = strm_skip_line(s->stream);
		if (r == STRM_OK)
			s->input = IN_COMMAND;
		return r;
	}
	r = strm_read_line(s->stream, SASL_LINE_MAX, &line, &len);
	if (r == STRM_TOOLONG) {
		log_warn("%s: SASL %s: response line longer than %d bytes", s->client,
			 sasl_mech(s->sasl), SASL_LINE_MAX);
		smtpd_reply(s, 500, "5.5.6", "Authentication exchange line is too long");
		sasl_free(&s->sasl);
		return STRM_OK;
	}
	if (r != STRM_OK)
		return r;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	r = sasl_step(s->sasl, line, len, &challenge);
	auth_result(s, r, challenge);
	return STRM_OK;
}
