/* stls.c: TLS in pop3d: STLS (RFC 2595) and implicit TLS on the pop3s
 * port (RFC 8314). The TLS setup comes from the pop3d_tls_* keys (which
 * default to smtpd's) through lib/tls; the handshake, which drops commands
 * the client pipelined after STLS (the CVE-2011-0411 class of injection),
 * is the session layer's (lib/sess), and a USER given before it is
 * forgotten here. */
#include <stdlib.h>
#include <string.h>

#include "pop3d.h"
#include "sess_login.h"

void pop3d_tls_init(struct pop3d_server *srv, cfg *c)
{
	sess_login_tls(c, "pop3d", srv->implicit_tls, &srv->tls, &srv->handshake_timeout_ms);
}

/* pop3d_tls_reload: renewed certificate files serve new connections; open
 * sessions keep the context they started with. A failure keeps the old. */
void pop3d_tls_reload(struct pop3d_server *srv, cfg *c)
{
	tls_server_reload(&srv->tls, c, "pop3d");
}

void pop3d_cmd_stls(struct session *s, const char *arg)
{
	if (s->srv->tls == NULL) {
		pop3d_err(s, "STLS is not available (no certificate configured).");
		return;
	}
	if (*arg != '\0') {
		pop3d_err(s, "STLS takes no argument.");
		return;
	}
	if (strm_is_tls(s->stream)) {
		pop3d_err(s, "TLS is already active.");
		return;
	}
	pop3d_ok(s, "Begin TLS negotiation now.");
	sess_tls_start(s->base);
}

/* pop3d_tls_done: RFC 2595 section 4: forget what came before. */
void pop3d_tls_done(void *ctx)
{
	struct session *s = ctx;

	free(s->user);
	s->user = NULL;
}
