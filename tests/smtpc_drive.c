/* smtpc_drive.c: a test-only tool (never installed) that runs one lib/smtpc
 * dialogue against 127.0.0.1:PORT, so the end-to-end tests can drive the
 * client against Postern's own smtpd (STARTTLS, AUTH, per-recipient
 * results). The message comes from stdin; the results go to stdout as
 * name=value lines (error, failed, tls, auth, one rcpt line each, dot).
 *   smtpc_drive [-l none|may|encrypt|verify|secure] [-n PEERNAME] [-C CAFILE]
 *               [-u USER -p PASS] [-P] [-f SENDER] PORT RCPT... */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "ev.h"
#include "mem.h"
#include "smtpc.h"
#include "sock.h"
#include "tls.h"

struct drive {
	ev_loop *loop;
	buf *body;
	size_t at;
};

static const char *const levels[] = { "none", "may", "encrypt", "verify", "secure", NULL };
static const char *const stages[SMTPC_STAGES + 1] = {
	"greeting", "helo", "starttls", "auth", "mail", "rcpt",
	"data",	    "body", "dot",	"rset", "quit", "none",
};

static ssize_t drive_read(void *ctx, char *dst, size_t cap)
{
	struct drive *d = ctx;
	size_t n = buf_len(d->body) - d->at;

	n = n < cap ? n : cap;
	memcpy(dst, buf_cstr(d->body) + d->at, n);
	d->at += n;
	return (ssize_t)n;
}

static void drive_done(void *ctx, smtpc *c)
{
	(void)c;
	ev_stop(((struct drive *)ctx)->loop);
}

static enum smtpc_tls_level parse_level(const char *s)
{
	for (int i = 0; levels[i] != NULL; i++)
		if (strcmp(levels[i], s) == 0)
			return (enum smtpc_tls_level)i;
	fprintf(stderr, "smtpc_drive: unknown level %s\n", s);
	exit(2);
}

static void report(smtpc *c, const struct smtpc_msg *msg)
{
	const struct smtpc_tls *t = smtpc_tls(c);

	printf("error=%d %s\n", smtpc_error(c), smtpc_error_text(c));
	printf("failed=%s %d\n", stages[smtpc_failed_stage(c)],
	       smtpc_failed_stage(c) < SMTPC_STAGES
		       ? smtpc_reply_of(c, smtpc_failed_stage(c))->code
		       : 0);
	printf("tls=%s %s %s verified=%s name=%s\n", t->used ? "yes" : "no", t->protocol,
	       t->cipher, t->verified ? "yes" : "no", t->peer_name);
	printf("auth=%s\n", smtpc_authenticated(c) ? "yes" : "no");
	for (size_t i = 0; i < msg->nrcpts; i++)
		printf("rcpt=%s %d %s\n", msg->rcpts[i].addr, msg->rcpts[i].code,
		       msg->rcpts[i].reply != NULL ? msg->rcpts[i].reply : "");
	printf("dot=%s\n", smtpc_reply_last_line(smtpc_reply_of(c, SMTPC_DOT)));
}

static void read_stdin(buf *b)
{
	char chunk[4096];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		buf_append(b, chunk, n);
}

int main(int argc, char **argv)
{
	struct smtpc_config cfg = { .helo_name = "drive.test", .done = drive_done };
	struct tls_client_conf tc = { 0 };
	struct smtpc_msg msg = { .sender = "", .size = -1, .read_body = drive_read };
	struct drive d = { .body = buf_new(0) };
	char *err = NULL;
	int opt, fd;
	smtpc *c;

	while ((opt = getopt(argc, argv, "l:n:C:u:p:Pf:")) != -1) {
		switch (opt) {
		case 'l': cfg.tls_level = parse_level(optarg); break;
		case 'n': cfg.tls_peername = optarg; break;
		case 'C': tc.ca_file = optarg; break;
		case 'u': cfg.auth_user = optarg; break;
		case 'p': cfg.auth_pass = optarg; break;
		case 'P': cfg.auth_plaintext = true; break;
		case 'f': msg.sender = optarg; break;
		default: return 2;
		}
	}
	if (argc - optind < 2) {
		fprintf(stderr, "usage: smtpc_drive [-l LEVEL] [-n NAME] [-C CAFILE] [-u U -p P] "
				"[-P] [-f SENDER] PORT RCPT...\n");
		return 2;
	}
	if (cfg.tls_level != SMTPC_TLS_NONE && (cfg.tls_ctx = tls_client_ctx_from(&tc, &err)) == NULL) {
		fprintf(stderr, "smtpc_drive: %s\n", err);
		return 1;
	}
	read_stdin(d.body);
	msg.size = (long long)buf_len(d.body);
	msg.nrcpts = (size_t)(argc - optind - 1);
	msg.rcpts = xcalloc(msg.nrcpts, sizeof(*msg.rcpts));
	for (size_t i = 0; i < msg.nrcpts; i++)
		msg.rcpts[i].addr = argv[optind + 1 + (int)i];
	if ((fd = sock_connect_inet("127.0.0.1", argv[optind], 5000, &err)) < 0) {
		fprintf(stderr, "smtpc_drive: %s\n", err);
		return 1;
	}
	msg.body_ctx = &d;
	cfg.ctx = &d;
	smtpc_timeouts_default(&cfg.timeouts);
	d.loop = ev_loop_new();
	c = smtpc_start(d.loop, fd, &cfg, &msg);
	ev_run(d.loop);
	report(c, &msg);
	smtpc_free(&c);
	ev_loop_free(&d.loop);
	SSL_CTX_free(cfg.tls_ctx);
	free(msg.rcpts);
	buf_free(&d.body);
	return 0;
}
