/* smtpc.c: the SMTP client dialogue (see smtpc.h) as a state machine
 * under lib/conn. c->stage names the reply awaited next (or BODY while
 * the message goes out); each complete reply goes to the handler of
 * that stage, which sends what follows. With PIPELINING, MAIL, every
 * RCPT and DATA leave in one write and the replies are matched to them
 * in order: the RCPT counter says which recipient a reply belongs to.
 * After EHLO come, when asked for, STARTTLS (its handshake is an input
 * step of its own, then EHLO again) and AUTH; then the checks that may
 * stop the message before MAIL. */
#include "smtpc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "base64.h"
#include "conn.h"
#include "dot.h"
#include "log.h"
#include "mem.h"
#include "sock.h"

#include <openssl/x509v3.h>

#define SMTPC_CHUNK (64 * 1024)

struct smtpc {
	ev_loop *loop;
	conn *conn;
	const struct smtpc_config *cfg;
	struct smtpc_msg *msg;
	enum smtpc_stage stage, failed;
	enum smtpc_error error; /* the connection's */
	enum smtpc_error msg_error; /* this message's (the checks before MAIL) */
	char *error_text, *msg_error_text;
	bool in_transaction; /* MAIL accepted, no end-of-data reply yet */
	struct smtpc_reply cur; /* the reply being read */
	struct smtpc_reply replies[SMTPC_STAGES]; /* the last reply of each stage */
	struct smtpc_caps caps;
	bool helo_fallback; /* EHLO was refused, HELO sent */
	bool pipelining; /* MAIL..DATA go out together */
	bool mail_failed; /* (pipelined) the replies still come in, nothing goes */
	bool send_body; /* the caller wants the message sent */
	size_t rcpt_sent, rcpt_answered, accepted;
	struct dot_encoder enc;
	buf *scratch;
	char *chunk;
	long long body_bytes;
	bool handshaking; /* STARTTLS said 220: the handshake runs */
	bool tls_tried; /* STARTTLS was sent (once per connection) */
	struct smtpc_tls tls;
	bool auth_login; /* AUTH LOGIN (else PLAIN) */
	int auth_step; /* LOGIN: 334s answered so far */
	bool authenticated;
	unsigned messages; /* handed over after the first */
	const char *trace_mask; /* shown in the trace instead of the next line */
	/* parking (see smtpc.h): parked from the SMTPC_PARK until
	 * smtpc_resume; park_rset while the RSET before it is in flight,
	 * at_rest when nothing is (the connection idles); a resume during
	 * the RSET waits in resume_msg / resume_set */
	bool parked, park_rset, at_rest, resume_set;
	struct smtpc_msg *resume_msg;
	ev_timer *resume_timer; /* smtpc_resume's work, from the loop */
};

/* what SMTPC_PARK points to, and the message of a parked client */
struct smtpc_msg smtpc_park_sentinel;
static struct smtpc_msg no_msg;

/* A parked connection without an idle limit still gets a timer, one that
 * does not run out in practice (a year). */
#define SMTPC_PARK_FOREVER_MS (365ULL * 24 * 3600 * 1000)

void smtpc_timeouts_default(struct smtpc_timeouts *t)
{
	static const uint64_t secs[SMTPC_STAGES] = {
		[SMTPC_GREETING] = 300, [SMTPC_HELO] = 300, [SMTPC_STARTTLS] = 300,
		[SMTPC_AUTH] = 300,	[SMTPC_MAIL] = 300,
		[SMTPC_RCPT] = 300,	[SMTPC_DATA] = 120, [SMTPC_BODY] = 180,
		[SMTPC_DOT] = 600,	[SMTPC_RSET] = 20, [SMTPC_QUIT] = 300,
	};

	for (int i = 0; i < SMTPC_STAGES; i++)
		t->ms[i] = secs[i] * 1000;
}

/* ---- sending ---- */

static void trace(smtpc *c, bool out, const char *line)
{
	if (c->cfg->trace != NULL)
		c->cfg->trace(c->cfg->ctx, out, line);
}

static void send_line(smtpc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_line(smtpc *c, const char *fmt, ...)
{
	strm *s = conn_strm(c->conn);
	va_list ap;

	buf_reset(c->scratch);
	va_start(ap, fmt);
	buf_vprintf(c->scratch, fmt, ap);
	va_end(ap);
	trace(c, true, c->trace_mask != NULL ? c->trace_mask : buf_cstr(c->scratch));
	c->trace_mask = NULL;
	buf_append(c->scratch, "\r\n", 2);
	strm_write(s, buf_cstr(c->scratch), buf_len(c->scratch));
}

/* arm: the timer of the stage: a reply must come whole within the
 * stage's time (a deadline, so a server dripping one byte a second runs
 * out of it), while the body's time restarts with each write. */
static void arm(smtpc *c)
{
	uint64_t ms = c->cfg->timeouts.ms[c->stage];

	if (c->stage == SMTPC_BODY)
		conn_set_idle(c->conn, ms);
	else
		conn_set_deadline(c->conn, ms);
}

/* enter: the stage whose reply (or, for BODY, whose writing) comes next. */
static void enter(smtpc *c, enum smtpc_stage stage)
{
	c->stage = stage;
	arm(c);
}

static void send_quit(smtpc *c)
{
	send_line(c, "QUIT");
	enter(c, SMTPC_QUIT);
}

/* hang_up: close without QUIT (a broken dialogue, or inside DATA). */
static void hang_up(smtpc *c, enum smtpc_error error, const char *text)
{
	if (c->error == SMTPC_ERR_NONE) {
		c->error = error;
		c->error_text = xstrdup(text);
	}
	conn_close(c->conn);
}

/* give_up: a policy result (see smtpc.h): nothing more is sent but QUIT. */
static void give_up(smtpc *c, enum smtpc_error error, const char *text)
{
	if (c->error == SMTPC_ERR_NONE) {
		c->error = error;
		c->error_text = xstrdup(text);
	}
	send_quit(c);
}

static void fail(smtpc *c, enum smtpc_stage stage)
{
	if (c->failed == SMTPC_STAGES)
		c->failed = stage;
}

static void send_mail(smtpc *c)
{
	const struct smtpc_msg *m = c->msg;
	unsigned ext = c->caps.ext;
	buf *p = buf_new(128);
	char *x;

	if ((ext & SMTPC_EXT_SIZE) && m->size >= 0)
		buf_printf(p, " SIZE=%lld", m->size);
	if ((ext & SMTPC_EXT_8BITMIME) && m->body_type != NULL)
		buf_printf(p, " BODY=%s", m->body_type);
	if ((ext & SMTPC_EXT_SMTPUTF8) && m->smtputf8)
		buf_puts(p, " SMTPUTF8");
	if ((ext & SMTPC_EXT_DSN) && m->ret != NULL)
		buf_printf(p, " RET=%s", m->ret);
	if ((ext & SMTPC_EXT_DSN) && m->envid != NULL) {
		x = addr_xtext_encode(m->envid);
		buf_printf(p, " ENVID=%s", x);
		free(x);
	}
	send_line(c, "MAIL FROM:<%s>%s", m->sender, buf_cstr(p));
	buf_free(&p);
}

static void send_rcpt(smtpc *c)
{
	const struct smtpc_rcpt *r = &c->msg->rcpts[c->rcpt_sent++];
	bool dsn = (c->caps.ext & SMTPC_EXT_DSN) != 0;

	send_line(c, "RCPT TO:<%s>%s%s%s%s", r->addr, dsn && r->notify ? " NOTIFY=" : "",
		  dsn && r->notify ? r->notify : "", dsn && r->orcpt ? " ORCPT=" : "",
		  dsn && r->orcpt ? r->orcpt : "");
}

static void message_end(smtpc *c);

/* refuse_message: a check before MAIL failed: this message is not sent
 * (the connection may serve the next one). */
static void refuse_message(smtpc *c, enum smtpc_error error, const char *text)
{
	c->msg_error = error;
	free(c->msg_error_text);
	c->msg_error_text = xstrdup(text);
	message_end(c);
}

/* message_fits: the checks before MAIL; false when the message may not
 * go to this server (refuse_message done). */
static bool message_fits(smtpc *c)
{
	const struct smtpc_msg *m = c->msg;
	unsigned ext = c->caps.ext;

	if ((ext & SMTPC_EXT_SIZE) && c->caps.size_max > 0 && m->size > c->caps.size_max) {
		char *why = xasprintf("message size %lld exceeds the server's limit %lld", m->size,
				      c->caps.size_max);

		refuse_message(c, SMTPC_ERR_TOO_BIG, why);
		free(why);
		return false;
	}
	if (m->smtputf8 && !(ext & SMTPC_EXT_SMTPUTF8)) {
		refuse_message(c, SMTPC_ERR_NO_SMTPUTF8, "the message needs SMTPUTF8, the server lacks it");
		return false;
	}
	if (m->need_8bitmime && m->body_type != NULL && strcmp(m->body_type, "8BITMIME") == 0 &&
	    !(ext & SMTPC_EXT_8BITMIME)) {
		refuse_message(c, SMTPC_ERR_NO_8BITMIME, "the message is 8-bit, the server lacks 8BITMIME");
		return false;
	}
	return true;
}

/* start_transaction: MAIL, and with pipelining every RCPT and DATA too. */
static void start_transaction(smtpc *c)
{
	if (!message_fits(c))
		return;
	send_mail(c);
	enter(c, SMTPC_MAIL);
	if (!c->pipelining)
		return;
	while (c->rcpt_sent < c->msg->nrcpts)
		send_rcpt(c);
	send_line(c, "DATA");
}

/* ---- replies, one handler per stage ---- */

static bool positive(const struct smtpc_reply *r)
{
	return r->code >= 200 && r->code <= 299;
}

static void on_greeting(smtpc *c, const struct smtpc_reply *r)
{
	if (!positive(r)) {
		fail(c, SMTPC_GREETING);
		send_quit(c);
		return;
	}
	send_line(c, "EHLO %s", c->cfg->helo_name);
	enter(c, SMTPC_HELO);
}

/* ---- STARTTLS ---- */

static void start_transaction_or_auth(smtpc *c);

static void send_starttls(smtpc *c)
{
	if (c->cfg->tls_level == SMTPC_TLS_SECURE && c->cfg->tls_peername == NULL &&
	    (c->cfg->tls_match == NULL || c->cfg->tls_match[0] == NULL)) {
		give_up(c, SMTPC_ERR_TLS_VERIFY, "level secure without a name to verify");
		return;
	}
	c->tls_tried = true;
	send_line(c, "STARTTLS");
	enter(c, SMTPC_STARTTLS);
}

/* tls_verify_setup: verification per connection, on the SSL that
 * strm_start_tls made; the handshake has not begun yet. The name is
 * checked on every level (Postfix's smtp_tls_verify_cert_match =
 * hostname at verify); on may / encrypt it only feeds the "verified" of
 * the log. Wildcards only as a whole leftmost label. */
static void tls_verify_setup(smtpc *c)
{
	SSL *ssl = strm_ssl(conn_strm(c->conn));
	enum smtpc_tls_level level = c->cfg->tls_level;

	if (ssl == NULL)
		return; /* setup failed: the handshake reports it */
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (c->cfg->tls_match != NULL && c->cfg->tls_match[0] != NULL) {
		(void)SSL_set1_host(ssl, c->cfg->tls_match[0]);
		for (size_t i = 1; c->cfg->tls_match[i] != NULL; i++)
			(void)SSL_add1_host(ssl, c->cfg->tls_match[i]);
	} else if (c->cfg->tls_peername != NULL) {
		(void)SSL_set1_host(ssl, c->cfg->tls_peername);
	}
	if (level >= SMTPC_TLS_VERIFY)
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
}

static void on_starttls(smtpc *c, const struct smtpc_reply *r)
{
	if (r->code == 220) {
		strm_start_tls(conn_strm(c->conn), c->cfg->tls_ctx, false, c->cfg->tls_peername);
		tls_verify_setup(c);
		c->handshaking = true;
		conn_set_deadline(c->conn, c->cfg->timeouts.ms[SMTPC_STARTTLS]);
		return;
	}
	if (c->cfg->tls_level == SMTPC_TLS_MAY) {
		start_transaction_or_auth(c); /* opportunistic: go on in plaintext */
		return;
	}
	fail(c, SMTPC_STARTTLS);
	give_up(c, SMTPC_ERR_NO_STARTTLS, "STARTTLS refused");
}

/* tls_record: what the handshake gave, for smtpc_tls. */
static void tls_record(smtpc *c, SSL *ssl)
{
	const char *name = SSL_get0_peername(ssl);

	c->tls.used = true;
	snprintf(c->tls.protocol, sizeof(c->tls.protocol), "%s", SSL_get_version(ssl));
	snprintf(c->tls.cipher, sizeof(c->tls.cipher), "%s", SSL_get_cipher_name(ssl));
	c->tls.verified = SSL_get0_peer_certificate(ssl) != NULL &&
			  SSL_get_verify_result(ssl) == X509_V_OK;
	snprintf(c->tls.peer_name, sizeof(c->tls.peer_name), "%s",
		 c->tls.verified && name != NULL ? name : "");
}

/* tls_failed: the handshake broke; a certificate that did not verify on
 * verify / secure is told apart. */
static void tls_failed(smtpc *c, SSL *ssl)
{
	long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	const char *why = strm_error(conn_strm(c->conn));
	char *text;

	if (c->cfg->tls_level >= SMTPC_TLS_VERIFY && v != X509_V_OK) {
		text = xasprintf("certificate not verified: %s", X509_verify_cert_error_string(v));
		hang_up(c, SMTPC_ERR_TLS_VERIFY, text);
	} else {
		text = xasprintf("TLS handshake failed: %s", why != NULL ? why : "closed");
		hang_up(c, SMTPC_ERR_TLS, text);
	}
	free(text);
}

/* handshake_step: drives the handshake; done, EHLO again with the
 * plaintext capabilities forgotten (RFC 3207 4.2). */
static int handshake_step(smtpc *c)
{
	strm *s = conn_strm(c->conn);
	int r = strm_handshake(s);

	if (r == STRM_AGAIN)
		return r;
	c->handshaking = false;
	if (r != STRM_OK) {
		tls_failed(c, strm_ssl(s));
		return STRM_OK;
	}
	tls_record(c, strm_ssl(s));
	if (c->cfg->tls_level >= SMTPC_TLS_VERIFY && !c->tls.verified) {
		hang_up(c, SMTPC_ERR_TLS_VERIFY, "certificate not verified");
		return STRM_OK;
	}
	memset(&c->caps, 0, sizeof(c->caps));
	c->helo_fallback = false;
	send_line(c, "EHLO %s", c->cfg->helo_name);
	enter(c, SMTPC_HELO);
	return STRM_OK;
}

/* ---- AUTH ---- */

static void send_base64(smtpc *c, const char *prefix, const char *data, size_t len)
{
	buf *b = buf_new(64);

	base64_encode(b, data, len);
	c->trace_mask = prefix[0] != '\0' ? "AUTH PLAIN (credentials)" : "(credentials)";
	send_line(c, "%s%s", prefix, buf_cstr(b));
	buf_free(&b);
}

static void send_auth(smtpc *c)
{
	const char *user = c->cfg->auth_user, *pass = c->cfg->auth_pass ? c->cfg->auth_pass : "";

	if (!(c->caps.ext & SMTPC_EXT_AUTH)) {
		give_up(c, SMTPC_ERR_NO_AUTH, "the server offers no AUTH");
		return;
	}
	if (!c->tls.used && !c->cfg->auth_plaintext) {
		give_up(c, SMTPC_ERR_NO_AUTH, "AUTH without TLS not allowed");
		return;
	}
	if (smtpc_caps_auth(&c->caps, "PLAIN")) {
		buf *p = buf_new(128);

		buf_append(p, "", 1);
		buf_puts(p, user);
		buf_append(p, "", 1);
		buf_puts(p, pass);
		send_base64(c, "AUTH PLAIN ", buf_cstr(p), buf_len(p));
		buf_free(&p);
	} else if (smtpc_caps_auth(&c->caps, "LOGIN")) {
		c->auth_login = true;
		send_line(c, "AUTH LOGIN");
	} else {
		give_up(c, SMTPC_ERR_NO_AUTH, "no common SASL mechanism (PLAIN, LOGIN)");
		return;
	}
	enter(c, SMTPC_AUTH);
}

static void on_auth(smtpc *c, const struct smtpc_reply *r)
{
	if (r->code == 334 && c->auth_login && c->auth_step < 2) {
		const char *v = c->auth_step++ == 0 ? c->cfg->auth_user : c->cfg->auth_pass;

		v = v != NULL ? v : "";
		send_base64(c, "", v, strlen(v));
		enter(c, SMTPC_AUTH);
	} else if (r->code == 334) {
		send_line(c, "*"); /* a challenge we cannot answer: cancel */
		enter(c, SMTPC_AUTH);
	} else if (positive(r)) {
		c->authenticated = true;
		start_transaction(c);
	} else {
		fail(c, SMTPC_AUTH);
		send_quit(c);
	}
}

/* start_transaction_or_auth: what follows EHLO once TLS is settled. */
static void start_transaction_or_auth(smtpc *c)
{
	if (c->cfg->auth_user != NULL && !c->authenticated)
		send_auth(c);
	else
		start_transaction(c);
}

/* after_helo: STARTTLS first when the level asks and it was not done. */
static void after_helo(smtpc *c)
{
	enum smtpc_tls_level level = c->cfg->tls_level;

	if (level != SMTPC_TLS_NONE && !c->tls_tried) {
		if ((c->caps.ext & SMTPC_EXT_STARTTLS) && !c->helo_fallback && c->cfg->tls_ctx != NULL) {
			send_starttls(c);
			return;
		}
		if (level >= SMTPC_TLS_ENCRYPT) {
			give_up(c, SMTPC_ERR_NO_STARTTLS, c->cfg->tls_ctx == NULL
								  ? "no TLS client context"
								  : "the server offers no STARTTLS");
			return;
		}
	}
	start_transaction_or_auth(c);
}

static void on_helo(smtpc *c, const struct smtpc_reply *r)
{
	if (r->code >= 500 && !c->helo_fallback) {
		c->helo_fallback = true;
		send_line(c, "HELO %s", c->cfg->helo_name);
		enter(c, SMTPC_HELO);
		return;
	}
	if (!positive(r)) {
		fail(c, SMTPC_HELO);
		send_quit(c);
		return;
	}
	if (!c->helo_fallback)
		smtpc_caps_parse(r, &c->caps);
	c->pipelining = (c->caps.ext & SMTPC_EXT_PIPELINING) && !c->cfg->no_pipelining;
	after_helo(c);
}

/* rcpts_settled: every RCPT has its answer: decide about the message. */
static void rcpts_settled(smtpc *c)
{
	if (c->mail_failed)
		c->send_body = false;
	else if (c->cfg->rcpts_done != NULL)
		c->send_body = c->cfg->rcpts_done(c->cfg->ctx, c);
	else
		c->send_body = c->accepted > 0;
	if (c->pipelining) {
		enter(c, SMTPC_DATA); /* its reply is on the way */
	} else if (c->send_body) {
		send_line(c, "DATA");
		enter(c, SMTPC_DATA);
	} else {
		message_end(c);
	}
}

static void on_mail(smtpc *c, const struct smtpc_reply *r)
{
	if (!positive(r)) {
		fail(c, SMTPC_MAIL);
		if (!c->pipelining) {
			message_end(c);
			return;
		}
		c->mail_failed = true;
	} else {
		c->in_transaction = true;
	}
	enter(c, SMTPC_RCPT);
	if (c->msg->nrcpts == 0)
		rcpts_settled(c);
	else if (!c->pipelining)
		send_rcpt(c);
}

static void on_rcpt(smtpc *c, const struct smtpc_reply *r)
{
	struct smtpc_rcpt *rcpt = &c->msg->rcpts[c->rcpt_answered++];

	rcpt->code = r->code;
	free(rcpt->reply);
	rcpt->reply = xstrdup(smtpc_reply_last_line(r));
	if (positive(r) && !c->mail_failed)
		c->accepted++;
	if (c->rcpt_answered == c->msg->nrcpts)
		rcpts_settled(c);
	else if (!c->pipelining)
		send_rcpt(c);
}

static void on_data(smtpc *c, const struct smtpc_reply *r)
{
	if (r->code == 354 && c->send_body) {
		dot_encoder_init(&c->enc);
		enter(c, SMTPC_BODY);
	} else if (r->code == 354) {
		hang_up(c, SMTPC_ERR_ABORTED, "message not sent after 354");
	} else {
		if (c->send_body)
			fail(c, SMTPC_DATA);
		message_end(c);
	}
}

static void on_dot(smtpc *c, const struct smtpc_reply *r)
{
	if (!positive(r))
		fail(c, SMTPC_DOT);
	c->in_transaction = false; /* any reply ends the transaction */
	message_end(c);
}

/* ---- the next message on the same connection ---- */

/* message_forget: the results of the last message go (the caller read
 * them in next_msg); the client holds no message of the caller's. */
static void message_forget(smtpc *c)
{
	for (size_t i = 0; i < c->msg->nrcpts; i++) {
		free(c->msg->rcpts[i].reply);
		c->msg->rcpts[i].reply = NULL;
	}
	c->msg = &no_msg;
	c->failed = SMTPC_STAGES;
	c->msg_error = SMTPC_ERR_NONE;
	free(c->msg_error_text);
	c->msg_error_text = NULL;
	for (int i = SMTPC_MAIL; i < SMTPC_STAGES; i++)
		smtpc_reply_reset(&c->replies[i]);
	c->mail_failed = c->send_body = false;
	c->rcpt_sent = c->rcpt_answered = c->accepted = 0;
	c->body_bytes = 0;
}

/* next_message: msg takes the place of the last one, which is forgotten. */
static void next_message(smtpc *c, struct smtpc_msg *msg)
{
	message_forget(c);
	c->msg = msg;
	c->messages++;
}

/* park_at_rest: nothing is in flight: the connection idles until
 * smtpc_resume, the idle limit, or a word or close from the server. */
static void park_at_rest(smtpc *c)
{
	uint64_t ms = c->cfg->park_idle_ms;

	c->at_rest = true;
	c->stage = SMTPC_RSET; /* what a parked client ends in, but for QUIT */
	conn_set_deadline(c->conn, ms > 0 ? ms : SMTPC_PARK_FOREVER_MS);
}

/* resume_now: msg (handed over already: c->msg) goes out, or QUIT. */
static void resume_now(smtpc *c, struct smtpc_msg *msg)
{
	c->at_rest = false;
	c->resume_set = false;
	if (msg == NULL)
		send_quit(c);
	else
		start_transaction(c);
}

/* park: the caller's next_msg said SMTPC_PARK: RSET first when a
 * transaction is open (a refused DATA, a message not sent), then rest. */
static void park(smtpc *c)
{
	message_forget(c);
	c->parked = true;
	c->resume_set = false;
	if (c->in_transaction) {
		c->park_rset = true;
		send_line(c, "RSET");
		enter(c, SMTPC_RSET);
		return;
	}
	park_at_rest(c);
}

/* message_end: the message is done with (sent, refused or not sent):
 * the caller may hand over the next one, else QUIT. */
static void message_end(smtpc *c)
{
	struct smtpc_msg *next = NULL;

	if (c->cfg->next_msg != NULL)
		next = c->cfg->next_msg(c->cfg->ctx, c);
	if (next == NULL) {
		send_quit(c);
		return;
	}
	if (next == SMTPC_PARK) {
		park(c);
		return;
	}
	next_message(c, next);
	if (c->in_transaction) {
		send_line(c, "RSET");
		enter(c, SMTPC_RSET);
	} else {
		start_transaction(c);
	}
}

static void on_rset(smtpc *c, const struct smtpc_reply *r)
{
	bool park_rset = c->park_rset;

	c->park_rset = false;
	if (!positive(r)) {
		fail(c, SMTPC_RSET); /* the new message is not sent */
		send_quit(c);
		return;
	}
	c->in_transaction = false;
	if (!park_rset)
		start_transaction(c);
	else if (c->resume_set)
		resume_now(c, c->resume_msg);
	else
		park_at_rest(c);
}

/* on_reply: a complete reply for the current stage. The RCPT replies go
 * to their recipients; the others are kept per stage. */
static void on_reply(smtpc *c)
{
	struct smtpc_reply *r = &c->cur;

	if (c->stage != SMTPC_RCPT) {
		struct smtpc_reply kept = c->replies[c->stage];

		c->replies[c->stage] = c->cur; /* swap: no copy of the text */
		c->cur = kept;
		r = &c->replies[c->stage];
	}
	switch (c->stage) {
	case SMTPC_GREETING:
		on_greeting(c, r);
		break;
	case SMTPC_HELO:
		on_helo(c, r);
		break;
	case SMTPC_STARTTLS:
		on_starttls(c, r);
		break;
	case SMTPC_AUTH:
		on_auth(c, r);
		break;
	case SMTPC_MAIL:
		on_mail(c, r);
		break;
	case SMTPC_RCPT:
		on_rcpt(c, r);
		break;
	case SMTPC_DATA:
		on_data(c, r);
		break;
	case SMTPC_DOT:
		on_dot(c, r);
		break;
	case SMTPC_RSET:
		on_rset(c, r);
		break;
	default: /* QUIT answered: done */
		conn_close(c->conn);
		break;
	}
	smtpc_reply_reset(&c->cur);
}

/* ---- conn callbacks ---- */

static void trace_in(smtpc *c, const char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	buf_reset(c->scratch);
	buf_append(c->scratch, line, len);
	trace(c, false, buf_cstr(c->scratch));
}

static int read_step(smtpc *c)
{
	const char *line, *why;
	size_t len;
	int r = strm_read_line(conn_strm(c->conn), SMTPC_REPLY_LINE_MAX, &line, &len);

	if (r == STRM_TOOLONG) {
		hang_up(c, SMTPC_ERR_PROTOCOL, "reply line too long");
		return STRM_OK;
	}
	if (r != STRM_OK)
		return r;
	if (c->cfg->trace != NULL)
		trace_in(c, line, len);
	r = smtpc_reply_feed(&c->cur, line, len, &why);
	if (r < 0)
		hang_up(c, SMTPC_ERR_PROTOCOL, why);
	else if (r == 1) {
		on_reply(c);
		/* the next reply (pipelined RCPTs) gets its own time */
		if (!conn_closing(c->conn) && !c->handshaking && !c->at_rest)
			arm(c);
	}
	return STRM_OK;
}

/* body_step: one chunk of the message, encoded; at its end the ".". */
static int body_step(smtpc *c)
{
	ssize_t n = c->msg->read_body(c->msg->body_ctx, c->chunk, SMTPC_CHUNK);
	strm *s = conn_strm(c->conn);

	if (n < 0) {
		hang_up(c, SMTPC_ERR_BODY, "cannot read the message");
		return STRM_OK;
	}
	buf_reset(c->scratch);
	if (n > 0) {
		c->body_bytes += n;
		dot_encode(&c->enc, c->chunk, (size_t)n, c->scratch);
		strm_write(s, buf_cstr(c->scratch), buf_len(c->scratch));
		return STRM_OK;
	}
	dot_encode_finish(&c->enc, c->scratch);
	strm_write(s, buf_cstr(c->scratch), buf_len(c->scratch));
	if (c->cfg->trace != NULL) {
		char *note = xasprintf("(message, %lld bytes)", c->body_bytes);

		trace(c, true, note);
		trace(c, true, ".");
		free(note);
	}
	enter(c, SMTPC_DOT);
	return STRM_OK;
}

/* parked_step: a parked connection at rest hears nothing from a server
 * that keeps to the protocol; any byte ends it (a "421 timeout" too). */
static int parked_step(smtpc *c)
{
	strm *s = conn_strm(c->conn);
	const char *line;
	size_t len;
	int r = strm_read_line(s, SMTPC_REPLY_LINE_MAX, &line, &len);
	char *why;

	if (r == STRM_OK) {
		if (c->cfg->trace != NULL)
			trace_in(c, line, len);
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		why = xasprintf("the server spoke while the connection was idle: %.*s",
				(int)(len > 200 ? 200 : len), line);
		hang_up(c, SMTPC_ERR_PROTOCOL, why);
		free(why);
		return STRM_OK;
	}
	if (r == STRM_TOOLONG || (r == STRM_AGAIN && strm_pending(s) > 0)) {
		hang_up(c, SMTPC_ERR_PROTOCOL, "the server sent data while the connection was idle");
		return STRM_OK;
	}
	return r;
}

static int smtpc_step(void *ctx)
{
	smtpc *c = ctx;

	if (c->at_rest)
		return parked_step(c);
	if (c->handshaking)
		return handshake_step(c);
	return c->stage == SMTPC_BODY ? body_step(c) : read_step(c);
}

static int smtpc_events(void *ctx)
{
	smtpc *c = ctx;

	/* while the body goes out, input waits: only writing wakes us */
	if (c->stage == SMTPC_BODY)
		return EV_WRITE;
	return strm_wants(conn_strm(c->conn));
}

static void smtpc_lost(void *ctx, int r)
{
	smtpc *c = ctx;
	const char *why = strm_error(conn_strm(c->conn));

	if (c->error != SMTPC_ERR_NONE)
		return;
	c->error = r == STRM_EOF ? SMTPC_ERR_CLOSED : SMTPC_ERR_IO;
	c->error_text = xstrdup(r == STRM_EOF ? "closed" : why != NULL ? why : "error");
}

static void smtpc_idle(void *ctx)
{
	smtpc *c = ctx;

	if (c->at_rest) { /* the idle limit: an orderly goodbye */
		c->at_rest = false;
		send_quit(c);
		return;
	}
	hang_up(c, SMTPC_ERR_TIMEOUT, "timeout");
}

static void smtpc_done(void *ctx)
{
	smtpc *c = ctx;

	c->conn = NULL; /* freed right after this */
	ev_timer_remove(&c->resume_timer);
	c->cfg->done(c->cfg->ctx, c);
}

static const struct conn_ops smtpc_conn_ops = {
	.step = smtpc_step,
	.events = smtpc_events,
	.lost = smtpc_lost,
	.idle = smtpc_idle,
	.done = smtpc_done,
};

/* ---- life cycle and results ---- */

smtpc *smtpc_start(ev_loop *loop, int fd, const struct smtpc_config *cfg, struct smtpc_msg *msg)
{
	smtpc *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->cfg = cfg;
	c->msg = msg;
	c->failed = SMTPC_STAGES;
	smtpc_reply_init(&c->cur);
	for (int i = 0; i < SMTPC_STAGES; i++)
		smtpc_reply_init(&c->replies[i]);
	c->scratch = buf_new(SMTPC_CHUNK + SMTPC_CHUNK / 8);
	c->chunk = xmalloc(SMTPC_CHUNK);
	(void)sock_set_nonblock(fd, true);
	c->conn = conn_new(loop, fd, cfg->timeouts.ms[SMTPC_GREETING], &smtpc_conn_ops, c);
	enter(c, SMTPC_GREETING);
	return c;
}

static void resume_fired(void *ctx)
{
	smtpc *c = ctx;

	ev_timer_remove(&c->resume_timer);
	if (!c->at_rest || conn_closing(c->conn))
		return;
	resume_now(c, c->resume_msg);
	conn_run(c->conn); /* last: the conn may go (and c with it) */
}

void smtpc_resume(smtpc *c, struct smtpc_msg *msg)
{
	if (!c->parked || c->conn == NULL || msg == SMTPC_PARK)
		log_panic("smtpc_resume: the client is not parked");
	c->parked = false;
	c->resume_msg = msg;
	c->resume_set = true;
	if (msg != NULL)
		next_message(c, msg);
	/* at rest: the work runs from the loop, so that neither next_msg nor
	 * done runs inside this call; else the RSET's 250 starts it */
	if (c->at_rest)
		c->resume_timer = ev_timer_add(c->loop, 0, false, resume_fired, c);
}

bool smtpc_parked(const smtpc *c)
{
	return c->parked;
}

void smtpc_free(smtpc **cp)
{
	smtpc *c = *cp;

	if (c == NULL)
		return;
	if (c->conn != NULL)
		log_panic("smtpc_free before the dialogue is done");
	smtpc_reply_clear(&c->cur);
	for (int i = 0; i < SMTPC_STAGES; i++)
		smtpc_reply_clear(&c->replies[i]);
	for (size_t i = 0; i < c->msg->nrcpts; i++) {
		free(c->msg->rcpts[i].reply);
		c->msg->rcpts[i].reply = NULL;
	}
	buf_free(&c->scratch);
	free(c->chunk);
	free(c->error_text);
	free(c->msg_error_text);
	free(c);
	*cp = NULL;
}

enum smtpc_stage smtpc_stage(const smtpc *c)
{
	return c->stage;
}

enum smtpc_error smtpc_error(const smtpc *c)
{
	return c->msg_error != SMTPC_ERR_NONE ? c->msg_error : c->error;
}

unsigned smtpc_messages(const smtpc *c)
{
	return c->messages;
}

const char *smtpc_error_text(const smtpc *c)
{
	if (c->msg_error != SMTPC_ERR_NONE)
		return c->msg_error_text;
	return c->error_text != NULL ? c->error_text : "";
}

enum smtpc_stage smtpc_failed_stage(const smtpc *c)
{
	return c->failed;
}

const struct smtpc_reply *smtpc_reply_of(const smtpc *c, enum smtpc_stage stage)
{
	return &c->replies[stage];
}

const struct smtpc_caps *smtpc_caps(const smtpc *c)
{
	return &c->caps;
}

const struct smtpc_tls *smtpc_tls(const smtpc *c)
{
	return &c->tls;
}

bool smtpc_authenticated(const smtpc *c)
{
	return c->authenticated;
}

size_t smtpc_accepted(const smtpc *c)
{
	return c->accepted;
}
