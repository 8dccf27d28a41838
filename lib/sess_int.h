/* sess_int.h: the session struct shared by sess.c, sess_auth.c and
 * sess_tls.c (not for the protocols: they use the functions in sess.h).
 * A session is freed only through conn's done callback, so code here may
 * close it from inside any step. */
#ifndef POSTERN_SESS_INT_H
#define POSTERN_SESS_INT_H

#include "sess.h"

struct sess_server {
	ev_loop *loop;
	svc *service;
	struct sess_config config;
	char *busy_reply;
	const struct sess_ops *ops;
	void *ctx;
	sess *sessions;
	int count;
	bool stopping; /* sess_server_stop was called */
};

struct sess {
	sess_server *server;
	sess *prev, *next;
	conn *conn;
	strm *stream;
	void *ctx;
	char *client_addr, *client;
	const char *last;
	enum sess_input input;
	int errors;
	uint64_t idle_ms;         /* sess_set_idle; the server's idle_ms at first */
	size_t skipped;           /* bytes of an over-long command line so far */
	bool tls_started;         /* plaintext flushed, handshake under way */
	bool held;                /* sess_hold: not begun yet */
	sasl_server *sasl;        /* the exchange in SESS_IN_AUTH */
	const struct sess_auth *auth;
};

/* sess_tls_step, sess_auth_step: the SESS_IN_TLS and SESS_IN_AUTH steps. */
int sess_tls_step(sess *ss);
int sess_auth_step(sess *ss);
/* sess_auth_end: drops an exchange (session end). */
void sess_auth_end(sess *ss);

/* sess_line_len: len without the line's ending (LF or CRLF). */
static inline size_t sess_line_len(const char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	return len;
}

#endif
