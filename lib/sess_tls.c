/* sess_tls.c: starting TLS in a session (see sess.h): STARTTLS (RFC 3207),
 * STLS (RFC 2595) and implicit TLS (RFC 8314) are one input step. The
 * protocol checks the command and sends its go-ahead; here the go-ahead is
 * flushed, pipelined plaintext dropped (lib/conn), the handshake driven
 * under one deadline, and the session told to forget what came before. */
#include "sess_int.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"

void sess_tls_start(sess *ss)
{
	ss->input = SESS_IN_TLS; /* nothing more is read as a command */
	ss->tls_started = false;
}

char *sess_tls_describe(const strm *stream)
{
	const char *info = strm_tls_info(stream);
	const char *space = info != NULL ? strchr(info, ' ') : NULL;

	if (info == NULL)
		return xstrdup("no TLS");
	if (space == NULL)
		return xstrdup(info);
	return xasprintf("%.*s with cipher %s", (int)(space - info), info, space + 1);
}

static void handshake_done(sess *ss)
{
	sess_server *sv = ss->server;
	char *desc = sess_tls_describe(ss->stream);

	log_info("TLS connection established from %s: %s", ss->client, desc);
	free(desc);
	ss->input = SESS_IN_COMMAND;
	conn_set_idle(ss->conn, ss->idle_ms);
	ss->errors = 0;
	sv->ops->tls_done(ss->ctx);
	if (strcmp(ss->last, "CONNECT") == 0) /* implicit TLS: greet now */
		sv->ops->greet(ss->ctx);
}

int sess_tls_step(sess *ss)
{
	const struct sess_config *cf = &ss->server->config;
	tls_server *tls = cf->tls != NULL ? *cf->tls : NULL;
	int r;

	if (tls == NULL)
		log_panic("%s: TLS started without a TLS setup", ss->client);
	r = conn_tls_step(ss->conn, tls_server_ctx(tls), cf->handshake_ms, &ss->tls_started,
			  ss->client, cf->tls_command);
	if (r == STRM_OK) {
		handshake_done(ss);
	} else if (r != STRM_AGAIN) {
		log_warn("TLS handshake failed with %s after %s: %s", ss->client, ss->last,
			 r == STRM_EOF ? "connection closed" : strm_error(ss->stream));
		sess_close(ss);
		return STRM_OK;
	}
	return r;
}
