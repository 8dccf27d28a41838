/* starttls.c: TLS in smtpd: STARTTLS (RFC 3207) and implicit TLS on the
 * smtps port (RFC 8314). The TLS setup (certificates, SNI, protocols) is
 * loaded once at start through lib/tls; the handshake (dropping plaintext
 * pipelined after STARTTLS, CVE-2011-0411) is the session layer's
 * (lib/sess), and everything learned from the client before TLS
 * (HELO/EHLO, a transaction) is forgotten after it here. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "smtpd.h"

void smtpd_tls_init(struct smtpd_server *srv, cfg *c)
{
	const char *level = cfg_get(c, "smtpd_tls_security_level");
	char *err = NULL;

	srv->handshake_timeout_ms = (uint64_t)cfg_get_int(c, "smtpd_tls_handshake_timeout") * 1000;
	if (strcmp(level, "none") != 0 && strcmp(level, "may") != 0 &&
	    strcmp(level, "encrypt") != 0)
		log_fatal("smtpd_tls_security_level: unknown level \"%s\" (none, may or encrypt)",
			  level);
	if (srv->local_service)
		return; /* the sendmail socket never speaks TLS */
	if (strcmp(level, "none") == 0 && !srv->implicit_tls)
		return;
	if (tls_server_from_cfg(c, "smtpd", false, &srv->tls, &err) < 0)
		log_fatal("%s", err);
	if (srv->tls == NULL && (srv->implicit_tls || strcmp(level, "encrypt") == 0))
		log_fatal("smtpd_tls_cert_file: not set, but %s needs TLS",
			  srv->implicit_tls ? "smtpd_service=smtps" : "smtpd_tls_security_level=encrypt");
	srv->require_tls = strcmp(level, "encrypt") == 0 || srv->implicit_tls;
}

/* smtpd_tls_reload: a reload (SIGHUP) builds the TLS setup again from the
 * same settings, so renewed certificate files serve new connections; open
 * sessions keep the context they started with (OpenSSL counts the
 * references). A failure keeps the old setup. */
void smtpd_tls_reload(struct smtpd_server *srv, cfg *c)
{
	tls_server_reload(&srv->tls, c, "smtpd");
}

bool smtpd_tls_offered(const struct session *s)
{
	return s->srv->tls != NULL && !strm_is_tls(s->stream);
}

void smtpd_cmd_starttls(struct session *s, const char *arg)
{
	if (s->srv->tls == NULL) {
		smtpd_reply(s, 502, "5.5.1", "Error: command not implemented");
		return;
	}
	if (*arg != '\0') {
		smtpd_reply(s, 501, "5.5.4", "Syntax: STARTTLS");
		return;
	}
	if (strm_is_tls(s->stream)) {
		smtpd_reply(s, 503, "5.5.1", "Error: TLS already active");
		return;
	}
	if (s->auth_user != NULL) { /* the login would outlive the reset */
		smtpd_reply(s, 503, "5.5.1", "Error: already authenticated");
		return;
	}
	smtpd_reply(s, 220, "2.0.0", "Ready to start TLS");
	sess_tls_start(s->base);
}

/* smtpd_tls_done: RFC 3207 section 4.2: the server discards what it
 * learned from the client before TLS. */
void smtpd_tls_done(void *ctx)
{
	struct session *s = ctx;

	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	smtpd_txn_reset(s);
}

char *smtpd_tls_received(struct session *s)
{
	char *text, *desc;

	if (!strm_is_tls(s->stream))
		return NULL;
	desc = sess_tls_describe(s->stream);
	text = xasprintf("(using %s)", desc);
	free(desc);
	return text;
}
