/* submit.c: sendmail's submission over the local socket
 * $queue_directory/public/submit (an smtpd with smtpd_service=local,
 * docs/internals.md). The SMTP dialogue is lib/smtpc's client, run here
 * on a loop of its own until it is done; this file gives it the envelope
 * and the body (header, blank line, spooled body) and turns its results
 * into sysexits codes: 4xx or a broken connection is EX_TEMPFAIL (the
 * caller keeps the mail and retries), a rejected recipient EX_NOUSER, a
 * rejected message EX_DATAERR. Also -bs, which only relays bytes between
 * stdio and the socket. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ev.h"
#include "mem.h"
#include "sendmail.h"
#include "smtpc.h"
#include "sock.h"

#define SMTP_TIMEOUT_MS (300 * 1000)

/* What the client's callbacks share with sm_submit. */
struct submit {
	ev_loop *loop;
	bool verbose;
	struct sm_message *m;
	struct smtpc_msg msg;
	size_t header_sent; /* body source: header bytes handed out */
	bool blank_sent; /* ... then the blank line, then the spooled body */
	int status; /* from the recipients' replies (rcpts_done) */
	int rejected; /* recipients refused for good */
};

static void on_trace(void *ctx, bool out, const char *line)
{
	(void)ctx;
	fprintf(stderr, "%s %s\n", out ? ">>>" : "<<<", line);
}

/* read_body: the header, the blank line, then the spooled body. */
static ssize_t read_body(void *ctx, char *dst, size_t cap)
{
	struct submit *sub = ctx;
	size_t n = buf_len(sub->m->header) - sub->header_sent;

	if (n > 0) {
		n = n < cap ? n : cap;
		memcpy(dst, buf_cstr(sub->m->header) + sub->header_sent, n);
		sub->header_sent += n;
		return (ssize_t)n;
	}
	if (!sub->blank_sent) {
		sub->blank_sent = true;
		dst[0] = '\n';
		return 1;
	}
	n = fread(dst, 1, cap, sub->m->body);
	if (n == 0 && ferror(sub->m->body)) {
		fprintf(stderr, "sendmail: cannot read the spooled message: %s\n", strerror(errno));
		return -1;
	}
	return (ssize_t)n;
}

/* on_rcpts_done: prints each refused recipient in order, as the replies
 * came; a temporary refusal sends nothing (the caller retries it all). */
static bool on_rcpts_done(void *ctx, smtpc *c)
{
	struct submit *sub = ctx;
	const struct smtpc_msg *msg = &sub->msg;

	for (size_t i = 0; i < msg->nrcpts; i++) {
		const struct smtpc_rcpt *r = &msg->rcpts[i];

		if (r->code >= 200 && r->code <= 299)
			continue;
		fprintf(stderr, "sendmail: recipient %s rejected: %s\n", r->addr,
			r->reply != NULL ? r->reply : "");
		if (r->code < 500) {
			sub->status = SM_EX_TEMPFAIL;
			return false;
		}
		sub->rejected++;
	}
	if (smtpc_accepted(c) == 0)
		sub->status = SM_EX_NOUSER;
	return sub->status == SM_EX_OK;
}

static void on_done(void *ctx, smtpc *c)
{
	struct submit *sub = ctx;

	(void)c;
	ev_stop(sub->loop);
}

/* refused: prints why a stage was refused and maps its code. */
static int refused(smtpc *c, enum smtpc_stage stage)
{
	static const char *const what[SMTPC_STAGES] = {
		[SMTPC_GREETING] = "the mail system refused the connection",
		[SMTPC_HELO] = "the mail system refused EHLO",
		[SMTPC_MAIL] = "sender rejected",
		[SMTPC_DATA] = "message rejected",
		[SMTPC_DOT] = "message rejected",
	};
	const struct smtpc_reply *r = smtpc_reply_of(c, stage);
	int perm = SM_EX_UNAVAILABLE;

	if (stage == SMTPC_MAIL && (r->code == 501 || r->code == 553))
		perm = SM_EX_DATAERR;
	else if (stage == SMTPC_DATA || stage == SMTPC_DOT)
		perm = SM_EX_DATAERR;
	fprintf(stderr, "sendmail: %s: %s\n", what[stage] != NULL ? what[stage] : "refused",
		smtpc_reply_last_line(r));
	return r->code >= 500 ? perm : SM_EX_TEMPFAIL;
}

/* broken: the dialogue broke off before QUIT; says why. */
static int broken(smtpc *c)
{
	switch (smtpc_error(c)) {
	case SMTPC_ERR_PROTOCOL:
		fprintf(stderr, "sendmail: malformed reply from the mail system (%s)\n",
			smtpc_error_text(c));
		break;
	case SMTPC_ERR_BODY: /* read_body said why */
	case SMTPC_ERR_ABORTED: /* on_rcpts_done said why */
		break;
	default:
		fprintf(stderr, "sendmail: lost the connection to the mail system: %s\n",
			smtpc_error_text(c));
		break;
	}
	return SM_EX_TEMPFAIL;
}

/* outcome: the exit status of a finished dialogue. */
static int outcome(struct submit *sub, smtpc *c)
{
	enum smtpc_stage failed = smtpc_failed_stage(c);

	switch (smtpc_error(c)) {
	case SMTPC_ERR_TOO_BIG: /* checked before MAIL: nothing was sent */
	case SMTPC_ERR_NO_SMTPUTF8:
	case SMTPC_ERR_NO_8BITMIME:
		fprintf(stderr, "sendmail: %s\n", smtpc_error_text(c));
		return SM_EX_UNAVAILABLE;
	default:
		break;
	}
	if (failed != SMTPC_STAGES)
		return refused(c, failed);
	if (smtpc_error(c) != SMTPC_ERR_NONE && smtpc_stage(c) != SMTPC_QUIT)
		return sub->status != SM_EX_OK ? sub->status : broken(c);
	if (sub->status != SM_EX_OK)
		return sub->status;
	if (sub->verbose)
		fprintf(stderr, "sendmail: %s\n", smtpc_reply_last_line(smtpc_reply_of(c, SMTPC_DOT)));
	return sub->rejected > 0 ? SM_EX_NOUSER : SM_EX_OK; /* sent to the others */
}

static bool non_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s > 127)
			return true;
	return false;
}

/* fill_msg: the client's view of the envelope; the MAIL and RCPT
 * parameters go out where the server offers them. */
static void fill_msg(struct submit *sub, const struct sm_opts *o, const struct sm_envelope *env)
{
	struct smtpc_msg *msg = &sub->msg;

	msg->sender = env->sender;
	msg->nrcpts = (size_t)env->rcpts.n;
	msg->rcpts = xcalloc(msg->nrcpts + 1, sizeof(*msg->rcpts));
	msg->smtputf8 = non_ascii(env->sender);
	for (int i = 0; i < env->rcpts.n; i++) {
		msg->rcpts[i].addr = env->rcpts.v[i];
		msg->rcpts[i].notify = o->notify;
		msg->smtputf8 |= non_ascii(env->rcpts.v[i]);
	}
	msg->size = (long long)sub->m->size;
	msg->body_type = o->body != NULL ? o->body : sub->m->eightbit ? "8BITMIME" : NULL;
	msg->ret = o->ret;
	msg->envid = o->envid;
	msg->read_body = read_body;
	msg->body_ctx = sub;
}

int sm_submit(const char *path, const struct sm_opts *o, const struct sm_envelope *env,
	      struct sm_message *m)
{
	struct submit sub = { .verbose = o->verbose, .m = m, .status = SM_EX_OK };
	struct smtpc_config cfg = { .helo_name = "localhost", .rcpts_done = on_rcpts_done,
				    .done = on_done, .ctx = &sub };
	char *err = NULL;
	int fd = sock_connect_unix(path, &err), status;
	smtpc *c;

	if (fd < 0) {
		fprintf(stderr, "sendmail: mail system is down (%s)\n", err);
		free(err);
		return SM_EX_TEMPFAIL;
	}
	for (int i = 0; i < SMTPC_STAGES; i++)
		cfg.timeouts.ms[i] = SMTP_TIMEOUT_MS;
	if (o->verbose)
		cfg.trace = on_trace;
	fill_msg(&sub, o, env);
	sub.loop = ev_loop_new();
	c = smtpc_start(sub.loop, fd, &cfg, &sub.msg);
	(void)ev_run(sub.loop); /* until on_done */
	status = outcome(&sub, c);
	smtpc_free(&c);
	ev_loop_free(&sub.loop);
	free(sub.msg.rcpts);
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
