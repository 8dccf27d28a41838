/* sess_auth.c: a SASL exchange over a session (see sess.h), for smtpd
 * AUTH (RFC 4954), pop3d AUTH (RFC 5034) and imapd AUTHENTICATE: the
 * exchange on lib/sasl, its response lines (SESS_IN_AUTH, "*" cancels),
 * the failed-login table (lib/authfail) with its delays and cut-off, and
 * one log line per outcome that a log watcher (fail2ban) can match. The
 * framing of challenges and replies is the protocol's (callbacks). */
#include "sess_int.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mapgen.h"
#include "mem.h"
#include "sess_login.h"

static uint64_t now_ms(sess *ss)
{
	return ev_now_ms(ss->server->loop);
}

bool sess_auth_allowed(sess *ss, const struct sess_auth *auth)
{
	if (!authfail_blocked(auth->fails, ss->client_addr, now_ms(ss)))
		return true;
	log_warn("%s: %s refused: too many %s", ss->client, auth->command, auth->failures);
	auth->reply(ss->ctx, SESS_AUTH_BLOCKED, "");
	sess_close(ss);
	return false;
}

void sess_auth_failed(sess *ss, const struct sess_auth *auth, const char *method,
		      const char *who, const char *why)
{
	bool cut;
	uint64_t delay;

	log_warn("%s: %s%s authentication failed: %s, %s=%s", ss->client, auth->mech_prefix,
		 method, why, auth->user_key, who != NULL ? who : "");
	delay = authfail_record(auth->fails, ss->client_addr, now_ms(ss), &cut);
	auth->reply(ss->ctx, SESS_AUTH_FAILED, why);
	if (cut) {
		log_warn("%s: too many %s: disconnecting", ss->client, auth->failures);
		auth->reply(ss->ctx, SESS_AUTH_CUT_OFF, why);
		sess_close(ss);
	} else if (delay > 0) {
		conn_pause(ss->conn, delay);
	}
}

void sess_auth_end(sess *ss)
{
	sasl_free(&ss->sasl);
	ss->auth = NULL;
	if (ss->input == SESS_IN_AUTH)
		ss->input = SESS_IN_COMMAND;
}

static void success(sess *ss, const struct sess_auth *auth)
{
	auth->success(ss->ctx, sess_login_name(sasl_user(ss->sasl)), sasl_mech(ss->sasl));
}

static void send_challenge(sess *ss, const struct sess_auth *auth, const char *b64)
{
	if (auth->continuation == NULL) {
		auth->challenge(ss->ctx, b64);
		return;
	}
	strm_puts(ss->stream, auth->continuation);
	strm_puts(ss->stream, b64);
	strm_puts(ss->stream, "\r\n");
}

/* result: answers what sasl_step said; ends the exchange unless it goes
 * on. The callbacks may close the session; the exchange is freed here. */
static void result(sess *ss, int r, char *challenge)
{
	const struct sess_auth *auth = ss->auth;
	const char *mech = sasl_mech(ss->sasl), *reason = sasl_reason(ss->sasl);

	switch (r) {
	case SASL_CONTINUE:
		ss->input = SESS_IN_AUTH;
		send_challenge(ss, auth, challenge);
		free(challenge);
		return;
	case SASL_OK: success(ss, auth); break;
	case SASL_FAIL:
		sess_auth_failed(ss, auth, mech, sasl_login_name(ss->sasl), reason);
		break;
	case SASL_CANCEL: auth->reply(ss->ctx, SESS_AUTH_CANCELLED, reason); break;
	case SASL_TEMP:
		log_warn("%s: %s%s authentication: temporary failure: %s", ss->client,
			 auth->mech_prefix, mech, reason);
		auth->reply(ss->ctx, SESS_AUTH_TEMP, reason);
		break;
	default:
		log_info("%s: %s%s: malformed response: %s", ss->client, auth->mech_prefix, mech,
			 reason);
		auth->reply(ss->ctx, SESS_AUTH_MALFORMED, reason);
		break;
	}
	free(challenge);
	sess_auth_end(ss);
}

void sess_auth_start(sess *ss, const struct sess_auth *auth, const char *arg, bool secure)
{
	const char *space = strchr(arg, ' ');
	char *mech = space != NULL ? xstrndup(arg, (size_t)(space - arg)) : xstrdup(arg);
	const char *initial = space != NULL ? space + 1 : NULL;
	char *challenge = NULL;
	int r;

	if (!sess_auth_allowed(ss, auth)) {
		free(mech);
		return;
	}
	sasl_free(&ss->sasl);
	ss->sasl = sasl_new(mech, auth->backend, auth->backend_ctx, secure);
	free(mech);
	if (ss->sasl == NULL) {
		auth->reply(ss->ctx, SESS_AUTH_UNSUPPORTED, "");
		return;
	}
	ss->auth = auth;
	r = sasl_step(ss->sasl, initial, initial != NULL ? strlen(initial) : 0, &challenge);
	result(ss, r, challenge);
}

/* too_long: a response line over the limit ends the exchange; the rest of
 * the line is skipped (SESS_IN_AUTH without an exchange) unless the
 * protocol's reply closed the session. */
static void too_long(sess *ss)
{
	const struct sess_auth *auth = ss->auth;

	log_warn("%s: %s%s: response line longer than %d bytes", ss->client, auth->mech_prefix,
		 sasl_mech(ss->sasl), SASL_LINE_MAX);
	auth->reply(ss->ctx, SESS_AUTH_TOO_LONG, "");
	sasl_free(&ss->sasl);
	ss->auth = NULL;
}

int sess_auth_step(sess *ss)
{
	const char *line;
	size_t len;
	char *challenge = NULL;
	int r;

	if (ss->sasl == NULL) { /* skipping the rest of an over-long line */
		r = strm_skip_line(ss->stream);
		if (r == STRM_OK && ss->input == SESS_IN_AUTH)
			ss->input = SESS_IN_COMMAND;
		return r;
	}
	r = strm_read_line(ss->stream, SASL_LINE_MAX, &line, &len);
	if (r == STRM_TOOLONG) {
		too_long(ss);
		return STRM_OK;
	}
	if (r != STRM_OK)
		return r;
	len = sess_line_len(line, len);
	r = sasl_step(ss->sasl, line, len, &challenge);
	result(ss, r, challenge);
	return STRM_OK;
}

enum passdb_result sess_auth_recheck(passdb *db, const char *user, uint64_t *gen_r)
{
	uint64_t gen = mapgen_current();
	enum passdb_result r;

	if (user == NULL || gen == *gen_r) {
		*gen_r = gen; /* a login now is checked against these maps */
		return PASSDB_OK;
	}
	r = passdb_user_exists(db, user);
	if (r == PASSDB_OK)
		*gen_r = gen;
	return r == PASSDB_OK || r == PASSDB_NOTFOUND ? r : PASSDB_TEMP;
}
