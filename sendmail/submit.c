/* submit.c: sendmail's SMTP client for the local submission socket
 * $queue_directory/public/submit (an smtpd with smtpd_service=local,
 * docs/internals.md): EHLO, MAIL, RCPT per recipient, DATA with dot-
 * stuffing and LF -> CRLF, QUIT, on a blocking stream with a timeout.
 * Replies become sysexits codes: 4xx or a broken connection is
 * EX_TEMPFAIL (the caller keeps the mail and retries), a rejected
 * recipient EX_NOUSER, a rejected message EX_DATAERR. Also -bs, which
 * only relays bytes between stdio and the socket. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "mem.h"
#include "sendmail.h"
#include "sock.h"
#include "strm.h"

#define SMTP_TIMEOUT_MS (300 * 1000)
#define REPLY_LINE_MAX 4096
#define REPLY_LINES_MAX 100
#define FLUSH_AT (64 * 1024)

struct conn {
	strm *s;
	bool verbose;
	buf *reply; /* the last reply, lines joined with "\n", no CR LF */
	bool ext_size, ext_8bit, ext_utf8, ext_dsn;
	bool broken; /* the connection failed: no QUIT, no more messages */
};

/* read_reply: one (multi-line) reply; its code, or -1 (printed) when
 * the connection broke or the reply is malformed. */
static int read_reply(struct conn *c)
{
	const char *line;
	size_t len;

	buf_reset(c->reply);
	for (int n = 0; n < REPLY_LINES_MAX; n++) {
		int rc = strm_read_line(c->s, REPLY_LINE_MAX, &line, &len);

		if (rc != STRM_OK) {
			c->broken = true;
			fprintf(stderr, "sendmail: lost the connection to the mail system: %s\n",
				rc == STRM_TIMEOUT ? "timeout" : rc == STRM_EOF ? "closed" : "error");
			return -1;
		}
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (c->verbose)
			fprintf(stderr, "<<< %.*s\n", (int)len, line);
		if (len < 3 || line[0] < '1' || line[0] > '5' || (len > 3 && line[3] != ' ' &&
								      line[3] != '-')) {
			c->broken = true;
			fprintf(stderr, "sendmail: malformed reply from the mail system\n");
			return -1;
		}
		if (n > 0)
			buf_putc(c->reply, '\n');
		buf_append(c->reply, line, len);
		if (len == 3 || line[3] == ' ')
			return atoi(buf_cstr(c->reply) + buf_len(c->reply) - len);
	}
	c->broken = true;
	fprintf(stderr, "sendmail: reply from the mail system too long\n");
	return -1;
}

static int send_flush(struct conn *c)
{
	if (strm_flush(c->s) != STRM_OK) {
		c->broken = true;
		fprintf(stderr, "sendmail: lost the connection to the mail system: %s\n",
			strm_error(c->s) ? strm_error(c->s) : "write failed");
		return -1;
	}
	return 0;
}

/* command: sends one line and reads the reply; code or -1. */
static int command(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int command(struct conn *c, const char *fmt, ...)
{
	char *line;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	if (line == NULL)
		return -1;
	if (c->verbose)
		fprintf(stderr, ">>> %s\n", line);
	strm_printf(c->s, "%s\r\n", line);
	free(line);
	if (send_flush(c) < 0)
		return -1;
	return read_reply(c);
}

/* last_line: the text of the final reply line, for messages. */
static const char *last_line(const struct conn *c)
{
	const char *nl = strrchr(buf_cstr(c->reply), '\n');

	return nl != NULL ? nl + 1 : buf_cstr(c->reply);
}

/* failure: prints why and maps the code (<0 = broken connection). */
static int failure(const struct conn *c, int code, const char *what, int perm_status)
{
	if (code < 0)
		return SM_EX_TEMPFAIL;
	fprintf(stderr, "sendmail: %s: %s\n", what, last_line(c));
	return code >= 500 ? perm_status : SM_EX_TEMPFAIL;
}

static void note_extensions(struct conn *c)
{
	const char *p = buf_cstr(c->reply);

	while ((p = strchr(p, '\n')) != NULL) {
		const char *kw = ++p + 4;

		if (strncasecmp(kw, "SIZE", 4) == 0)
			c->ext_size = true;
		else if (strncasecmp(kw, "8BITMIME", 8) == 0)
			c->ext_8bit = true;
		else if (strncasecmp(kw, "SMTPUTF8", 8) == 0)
			c->ext_utf8 = true;
		else if (strncasecmp(kw, "DSN", 3) == 0 && (kw[3] == '\0' || kw[3] == '\n' ||
							    kw[3] == ' '))
			c->ext_dsn = true;
	}
}

static int hello(struct conn *c)
{
	int code = read_reply(c);

	if (code < 200 || code > 299)
		return failure(c, code, "the mail system refused the connection",
			       SM_EX_UNAVAILABLE);
	code = command(c, "EHLO localhost");
	if (code >= 500)
		code = command(c, "HELO localhost");
	else if (code >= 200 && code <= 299)
		note_extensions(c);
	if (code < 200 || code > 299)
		return failure(c, code, "the mail system refused EHLO", SM_EX_UNAVAILABLE);
	return 0;
}

static bool non_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s > 127)
			return true;
	return false;
}

/* mail_params: the ESMTP parameters of MAIL FROM the server offers. */
static char *mail_params(const struct conn *c, const struct sm_opts *o,
			 const struct sm_envelope *env, const struct sm_message *m)
{
	buf *b = buf_new(128);
	bool utf8 = non_ascii(env->sender);

	for (int i = 0; i < env->rcpts.n; i++)
		utf8 |= non_ascii(env->rcpts.v[i]);
	if (c->ext_size)
		buf_printf(b, " SIZE=%lld", (long long)m->size);
	if (c->ext_8bit && o->body != NULL)
		buf_printf(b, " BODY=%s", o->body);
	else if (c->ext_8bit && m->eightbit)
		buf_puts(b, " BODY=8BITMIME");
	if (c->ext_utf8 && utf8)
		buf_puts(b, " SMTPUTF8");
	if (c->ext_dsn && o->ret != NULL)
		buf_printf(b, " RET=%s", o->ret);
	if (c->ext_dsn && o->envid != NULL) {
		char *x = addr_xtext_encode(o->envid);

		buf_printf(b, " ENVID=%s", x);
		free(x);
	}
	return buf_steal_free(&b);
}

/* envelope: MAIL and RCPTs. 0 with *accepted_r, or an exit status.
 * *rejected_r counts recipients refused for good. */
static int envelope(struct conn *c, const struct sm_opts *o, const struct sm_envelope *env,
		    const struct sm_message *m, int *accepted_r, int *rejected_r)
{
	char *params = mail_params(c, o, env, m), *what;
	int code = command(c, "MAIL FROM:<%s>%s", env->sender, params);

	free(params);
	*accepted_r = *rejected_r = 0;
	if (code < 200 || code > 299)
		return failure(c, code, "sender rejected",
			       code == 501 || code == 553 ? SM_EX_DATAERR : SM_EX_UNAVAILABLE);
	for (int i = 0; i < env->rcpts.n; i++) {
		if (o->notify != NULL && c->ext_dsn)
			code = command(c, "RCPT TO:<%s> NOTIFY=%s", env->rcpts.v[i], o->notify);
		else
			code = command(c, "RCPT TO:<%s>", env->rcpts.v[i]);
		if (code >= 200 && code <= 299) {
			(*accepted_r)++;
			continue;
		}
		what = xasprintf("recipient %s rejected", env->rcpts.v[i]);
		(void)failure(c, code, what, SM_EX_NOUSER);
		free(what);
		if (code < 500) /* temporary: nothing goes, the caller retries it all */
			return SM_EX_TEMPFAIL;
		(*rejected_r)++;
	}
	return 0;
}

/* put_text: LF-ended text as SMTP data lines: CR LF ends, dots doubled
 * at line starts. *bol carries the line state across calls. */
static void put_text(struct conn *c, const char *p, size_t len, bool *bol)
{
	const char *end = p + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t run = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		if (*bol && run > 0 && *p == '.')
			strm_write(c->s, ".", 1);
		strm_write(c->s, p, run);
		*bol = nl != NULL;
		if (nl != NULL)
			strm_write(c->s, "\r\n", 2);
		p += run + (nl != NULL);
	}
}

static int data(struct conn *c, struct sm_message *m)
{
	char chunk[FLUSH_AT];
	bool bol = true;
	size_t n;
	int code = command(c, "DATA");

	if (code != 354)
		return failure(c, code, "message rejected", SM_EX_DATAERR);
	put_text(c, buf_cstr(m->header), buf_len(m->header), &bol);
	put_text(c, "\n", 1, &bol);
	while ((n = fread(chunk, 1, sizeof(chunk), m->body)) > 0) {
		put_text(c, chunk, n, &bol);
		if (send_flush(c) < 0)
			return SM_EX_TEMPFAIL;
	}
	if (ferror(m->body)) {
		fprintf(stderr, "sendmail: cannot read the spooled message: %s\n", strerror(errno));
		c->broken = true; /* hang up in DATA: the server drops the unfinished message */
		return SM_EX_TEMPFAIL;
	}
	if (!bol)
		strm_write(c->s, "\r\n", 2);
	if (c->verbose)
		fprintf(stderr, ">>> (message, %lld bytes)\n", (long long)m->size);
	code = command(c, ".");
	if (code < 200 || code > 299)
		return failure(c, code, "message rejected", SM_EX_DATAERR);
	if (c->verbose)
		fprintf(stderr, "sendmail: %s\n", last_line(c));
	return 0;
}

static int dialogue(struct conn *c, const struct sm_opts *o, const struct sm_envelope *env,
		    struct sm_message *m)
{
	int status = hello(c), accepted = 0, rejected = 0;

	if (status == 0)
		status = envelope(c, o, env, m, &accepted, &rejected);
	if (status == 0 && accepted == 0)
		status = SM_EX_NOUSER;
	if (status == 0)
		status = data(c, m);
	if (status == 0 && rejected > 0)
		status = SM_EX_NOUSER; /* sent to the others; say some were refused */
	return status;
}

int sm_submit(const char *path, const struct sm_opts *o, const struct sm_envelope *env,
	      struct sm_message *m)
{
	struct conn c = { .verbose = o->verbose, .reply = buf_new(256) };
	char *err = NULL;
	int fd = sock_connect_unix(path, &err), status;

	if (fd < 0) {
		fprintf(stderr, "sendmail: mail system is down (%s)\n", err);
		free(err);
		buf_free(&c.reply);
		return SM_EX_TEMPFAIL;
	}
	c.s = strm_new(fd);
	strm_set_timeout(c.s, SMTP_TIMEOUT_MS);
	status = dialogue(&c, o, env, m);
	if (!c.broken)
		(void)command(&c, "QUIT");
	strm_free(&c.s);
	buf_free(&c.reply);
	return status;
}

/* ---- -bs ---- */

/* pump: one read from from_fd written whole to to_fd; 1 copied, 0 EOF,
 * -1 error. */
static int pump(int from_fd, int to_fd)
{
	char chunk[16384];
	ssize_t n = read(from_fd, chunk, sizeof(chunk));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -1;
	if (n == 0)
		return 0;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to_fd, chunk + off, (size_t)(n - off));

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		off += w;
	}
	return 1;
}

int sm_relay_stdio(const char *path, bool verbose)
{
	char *err = NULL;
	int fd = sock_connect_unix(path, &err);
	bool in_open = true;

	if (fd < 0) {
		fprintf(stderr, "sendmail: mail system is down (%s)\n", err);
		printf("421 4.3.0 Mail system is down\r\n");
		fflush(stdout);
		free(err);
		return SM_EX_TEMPFAIL;
	}
	if (verbose)
		fprintf(stderr, "sendmail: connected to %s\n", path);
	for (;;) {
		struct pollfd p[2] = { { fd, POLLIN, 0 }, { 0, in_open ? POLLIN : 0, 0 } };
		int rc;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents != 0 && (rc = pump(fd, 1)) <= 0)
			break; /* the server closed (after QUIT) */
		if (in_open && p[1].revents != 0 && (rc = pump(0, fd)) <= 0) {
			in_open = false;
			shutdown(fd, SHUT_WR);
		}
	}
	close(fd);
	return SM_EX_OK;
}
