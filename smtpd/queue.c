/* queue.c: smtpd's side of the queue (lib/q.h): creating the queue file
 * with its envelope and Received: header, committing it (commit.c: the
 * file fsyncs overlap on worker threads and one fsync of incoming/ covers
 * every commit that finished together, before any of their 250 replies),
 * and the trigger to qmgr, over one persistent, non-blocking connection to
 * private/qmgr; a lost trigger only delays the mail (qmgr rescans
 * incoming/), so a trigger failure never delays a 250. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "fsutil.h"
#include "log.h"
#include "mem.h"
#include "smtpd.h"

#define TRIGGER_RETRY_MS 5000
/* Unsent trigger bytes beyond this are dropped (qmgr is not reading). */
#define TRIGGER_BUFFER_MAX (256 * 1024)

void smtpd_rfc2822_date(char *out, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	if (strftime(out, size, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		snprintf(out, size, "Thu, 01 Jan 1970 00:00:00 +0000");
}

/* ---- creating ---- */

static const char *protocol_name(const struct session *s)
{
	static const char *const names[2][4] = {
		{ "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA" }, /* RFC 3848 */
		{ "UTF8SMTP", "UTF8SMTPS", "UTF8SMTPA", "UTF8SMTPSA" }, /* RFC 6531 */
	};
	int tls = strm_is_tls(s->stream) ? 1 : 0;

	if (s->auth_user != NULL)
		tls += 2;

	if (!s->esmtp)
		return "SMTP";
	return names[s->txn->params.smtputf8 ? 1 : 0][tls];
}

static char *received_header(struct session *s, const char *qid)
{
	struct smtpd_txn *t = s->txn;
	buf *h = buf_new(512);
	char date[64];

	if (s->srv->local_service) {
		if (s->uid >= 0)
			buf_printf(h, "Received: from local (uid %ld)\n", s->uid);
		else
			buf_puts(h, "Received: from local\n");
	} else {
		const char *addr = sess_client_addr(s->base);

		buf_printf(h, "Received: from %s (%s [%s])\n", s->helo ? s->helo : addr,
			   s->client_name, addr);
	}
	char *tls = smtpd_tls_received(s);
	if (tls != NULL)
		buf_printf(h, "\t%s\n", tls);
	free(tls);
	buf_printf(h, "\tby %s (%s) with %s id %s", s->srv->myhostname, s->srv->mail_name,
		   protocol_name(s), qid);
	if (t->nrcpts == 1)
		buf_printf(h, "\n\tfor <%s>", t->rcpts[0].address);
	smtpd_rfc2822_date(date, sizeof(date));
	buf_printf(h, "; %s\n", date);
	return buf_steal_free(&h);
}

static void fill_envelope(struct session *s, struct q_envelope *env, char *client)
{
	struct smtpd_txn *t = s->txn;

	memset(env, 0, sizeof(*env));
	env->arrival = time(NULL);
	env->sender = t->sender;
	env->envid = t->params.envid;
	env->ret = t->params.ret;
	env->body_8bit = t->params.body == SMTPD_BODY_8BITMIME;
	env->smtputf8 = t->params.smtputf8;
	env->client = client;
	env->rcpts = t->rcpts;
	env->nrcpts = t->nrcpts;
}

int smtpd_queue_open(struct session *s)
{
	struct smtpd_txn *t = s->txn;
	struct q_envelope env;
	char *err = NULL, *client = xasprintf("%s [%s]", s->client_name,
							    sess_client_addr(s->base));
	char *received;
	q_writer *w = q_writer_new(s->srv->queue_dir, &err);

	if (w == NULL)
		goto fail;
	fill_envelope(s, &env, client);
	received = received_header(s, q_writer_id(w));
	if (q_writer_envelope(w, &env, &err) < 0 ||
	    q_writer_content(w, received, strlen(received), &err) < 0) {
		free(received);
		q_writer_abort(&w);
		goto fail;
	}
	free(received);
	free(client);
	t->writer = w;
	t->qid = xstrdup(q_writer_id(w));
	log_info("%s: client=%s", t->qid, s->client);
	return 0;
fail:
	log_warn("cannot create a queue file for a message from %s: %s", s->client,
		 err ? err : "unknown error");
	free(err);
	free(client);
	return -1;
}

/* ---- triggers ---- */

static void trigger_drop(struct smtpd_server *srv)
{
	ev_io_remove(&srv->trigger_io);
	if (srv->trigger_fd >= 0)
		close(srv->trigger_fd);
	srv->trigger_fd = -1;
	buf_reset(srv->trigger_out);
}

static void trigger_flush(struct smtpd_server *srv)
{
	while (buf_len(srv->trigger_out) > 0) {
		ssize_t n = send(srv->trigger_fd, buf_cstr(srv->trigger_out),
				 buf_len(srv->trigger_out), MSG_NOSIGNAL);
		if (n > 0) {
			buf_consume(srv->trigger_out, (size_t)n);
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_set_events(srv->trigger_io, EV_READ | EV_WRITE);
			return;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			log_warn("trigger to qmgr: %s (qmgr finds the mail by its scan)",
				 n < 0 ? strerror(errno) : "connection closed");
			trigger_drop(srv);
			return;
		}
	}
	ev_io_set_events(srv->trigger_io, EV_READ);
}

static void on_trigger_io(void *ctx, int fd, int events)
{
	struct smtpd_server *srv = ctx;
	char junk[256];

	if (events & (EV_READ | EV_ERROR)) {
		ssize_t n = read(fd, junk, sizeof(junk)); /* qmgr sends nothing: EOF or error */
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			log_debug("qmgr closed the trigger connection");
			trigger_drop(srv);
			return;
		}
	}
	if (events & EV_WRITE)
		trigger_flush(srv);
}

static bool trigger_connect(struct smtpd_server *srv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *path = fs_join(srv->queue_dir, "private/qmgr");
	uint64_t now = ev_now_ms(srv->loop);
	int fd;

	if (now < srv->trigger_retry_ms || strlen(path) >= sizeof(sun.sun_path)) {
		free(path);
		return false;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (!srv->trigger_warned)
			log_warn("cannot connect to %s: %s (qmgr finds the mail by its scan)", path,
				 strerror(errno));
		srv->trigger_warned = true;
		srv->trigger_retry_ms = now + TRIGGER_RETRY_MS;
		if (fd >= 0)
			close(fd);
		free(path);
		return false;
	}
	if (srv->trigger_warned)
		log_info("connected to %s again", path);
	srv->trigger_warned = false;
	free(path);
	srv->trigger_fd = fd;
	srv->trigger_io = ev_io_add(srv->loop, fd, EV_READ, on_trigger_io, srv);
	return true;
}

static void trigger_send(struct smtpd_server *srv, const char *qid)
{
	attr_rec *rec;

	if (srv->trigger_fd < 0 && !trigger_connect(srv))
		return;
	if (buf_len(srv->trigger_out) > TRIGGER_BUFFER_MAX) {
		log_warn("qmgr is not reading triggers: dropping them");
		trigger_drop(srv);
		return;
	}
	rec = attr_new("qmgr_trigger");
	attr_add_str(rec, "queue_id", qid);
	attr_encode(rec, srv->trigger_out);
	attr_free(&rec);
	trigger_flush(srv);
}

/* ---- committing ---- */

static void on_committed(void *owner, bool ok, const char *err)
{
	struct session *s = owner;
	struct smtpd_txn *t = s->txn;

	s->commit_job = NULL;
	if (ok) {
		log_info("%s: from=<%s>, size=%lld, nrcpt=%d", t->qid, t->sender, t->size,
			 t->nrcpts);
		smtpd_reply(s, 250, "2.0.0", "Ok: queued as %s", t->qid);
		trigger_send(s->srv, t->qid);
	} else {
		log_warn("%s: cannot commit the queue file: %s", t->qid, err ? err : "directory fsync failed");
		smtpd_reply_storage(s);
	}
	smtpd_txn_reset(s);
	sess_resume(s->base);
}

int smtpd_queue_commit(struct session *s)
{
	smtpd_enter_state(s, ST_COMMIT);
	sess_wait(s->base);
	s->commit_job = commit_submit(s->srv->committer, &s->txn->writer, s);
	return 0;
}

void smtpd_queue_forget(struct session *s)
{
	if (s->commit_job != NULL)
		commit_forget(s->srv->committer, s->commit_job);
	s->commit_job = NULL;
}

/* smtpd_queue_init: tmp/ and incoming/ are made if missing (a fresh
 * instance); a failure is only logged: each message then gets 452. */
void smtpd_queue_init(struct smtpd_server *srv)
{
	static const char *const subdirs[] = { Q_TMP, Q_INCOMING };

	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		char *dir = fs_join(srv->queue_dir, subdirs[i]), *err = NULL;
		if (fs_mkdir_p(dir, 0700, &err) < 0) {
			log_warn("%s", err);
			free(err);
		}
		free(dir);
	}
	srv->trigger_fd = -1;
	srv->trigger_out = buf_new(1024);
	srv->committer = commit_new(srv->loop, srv->queue_dir, on_committed);
}

void smtpd_queue_shutdown(struct smtpd_server *srv)
{
	trigger_drop(srv);
	buf_free(&srv->trigger_out);
}
