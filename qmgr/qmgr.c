/* qmgr.c: the queue manager's main: its settings, the queue directories it
 * needs, and the trigger connections on its listening socket (master.cf
 * `qmgr unix - - n 300 1 qmgr`). Records (docs/internals.md):
 *   protocol=qmgr_trigger [queue_id=ID] [request=flush|due]
 *   protocol=wakeup           (from master every `wakeup` seconds)
 *   protocol=qmgr_status      (from mailctl queue list / why)
 * A trigger with a queue ID takes that file from incoming/ at once when the
 * active set has room (else a scan of incoming/ is queued); a flush makes
 * every deferred message due; "due" says mailctl made some deferred files
 * due (queue flush ID, release): deferred/ is scanned now and takes just
 * those; a wakeup rescans incoming/. No replies, but to a status request:
 * one qmgr_status_reply record with the messages qmgr holds with a
 * problem (the limbo: queue_id, reason, since, next_try for each). The rest lives in scan.c, message.c,
 * limbo.c, transport.c and bounce.c. */
#include "qmgr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "attr.h"
#include "fsutil.h"
#include "log.h"
#include "mem.h"
#include "qreason.h"

#define TRIGGER_READ 4096
#define TRIGGER_MAX_BUFFER 65536
#define TRIGGER_IDLE_MS 600000
/* Most limbo entries in one status reply (the counts are always whole). */
#define STATUS_MAX_ENTRIES 1000
/* Descriptors qmgr needs besides one per active message and one per
 * connection to local: trigger connections, maps, the directories being
 * scanned, the log, a bounce being written, the loop's own. */
#define SPARE_FILES 100
/* Time for one local delivery request: ipc_timeout times this (a batch of
 * recipients each with a fsync may take a while on a busy disk). */
#define LOCAL_TIMEOUT_FACTOR 5
/* Watchdog for one smtp request: more than smtp's stage timeouts. */
#define SMTP_JOB_TIMEOUT_MS (3ULL * 3600 * 1000)

struct trigger_conn {
	struct qmgr *q;
	int fd;
	ev_io *io;
	ev_timer *idle;
	buf *in;
	buf *out; /* a status reply not yet sent */
	struct trigger_conn *prev, *next;
};

static struct qmgr qmgr_state;
static struct trigger_conn *triggers; /* open trigger connections */

/* ---- triggers ---- */

static void trigger_end(struct trigger_conn *t)
{
	svc *service = t->q->service;

	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		triggers = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
	ev_io_remove(&t->io);
	ev_timer_remove(&t->idle);
	close(t->fd);
	buf_free(&t->in);
	buf_free(&t->out);
	free(t);
	svc_conn_done(service);
}

/* send_out: writes what it can of t->out; false when t was ended. */
static bool send_out(struct trigger_conn *t)
{
	ssize_t n = write(t->fd, buf_cstr(t->out), buf_len(t->out));

	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		trigger_end(t);
		return false;
	}
	if (n > 0)
		buf_consume(t->out, (size_t)n);
	ev_io_set_events(t->io, buf_len(t->out) > 0 ? EV_READ | EV_WRITE : EV_READ);
	return true;
}

static void status_reply(struct trigger_conn *t)
{
	struct qmgr *q = t->q;
	attr_rec *rec = attr_new("qmgr_status_reply");
	int n = 0;

	for (struct qmgr_limbo *l = q->limbo; l != NULL && n < STATUS_MAX_ENTRIES;
	     l = l->next, n++) {
		attr_add_str(rec, "queue_id", l->id);
		attr_add_str(rec, "reason", l->reason);
		attr_add_int(rec, "since", (long long)l->since);
		attr_add_int(rec, "next_try", (long long)l->next_try);
	}
	if (t->out == NULL)
		t->out = buf_new(512);
	attr_encode(rec, t->out);
	attr_free(&rec);
}

static void handle_trigger(struct trigger_conn *t, const attr_rec *rec)
{
	struct qmgr *q = t->q;
	const char *id = NULL, *request = NULL;
	char *err = NULL;

	if (strcmp(attr_protocol(rec), "qmgr_status") == 0) {
		status_reply(t);
		return;
	} else if (strcmp(attr_protocol(rec), "wakeup") == 0) {
		q->incoming.again = true;
	} else if (attr_scan(rec, "qmgr_trigger", &err, ATTR_OPT_STR, "queue_id", &id,
			     ATTR_OPT_STR, "request", &request, ATTR_END) < 0) {
		log_warn("bad trigger record: %s", err);
		free(err);
		return;
	} else if (request != NULL && strcmp(request, "due") == 0) {
		log_info("deferred mail made due by mailctl: scanning %s/", Q_DEFERRED);
		q->deferred.again = true;
		qmgr_dest_revive(&q->smtp);
	} else if (request != NULL && strcmp(request, "flush") == 0) {
		log_info("flush requested: every deferred message is due now");
		q->deferred.again = q->deferred.flush_wanted = true;
		q->incoming.again = true;
		qmgr_dest_revive(&q->smtp);
	} else if (id != NULL && q_id_valid(id) && qmgr_has_room(q)) {
		if (!qmgr_take(q, Q_INCOMING, id, false))
			q->incoming.again = true;
	} else
		q->incoming.again = true;
	qmgr_kick(q);
}

/* read_records: false when the connection was closed. */
static bool read_records(struct trigger_conn *t)
{
	attr_rec *rec;
	size_t used;
	char *err = NULL;
	int rc;

	while ((rc = attr_decode(buf_cstr(t->in), buf_len(t->in), &rec, &used, &err)) == 1) {
		buf_consume(t->in, used);
		handle_trigger(t, rec);
		attr_free(&rec);
	}
	if (t->out != NULL && buf_len(t->out) > 0 && !send_out(t))
		return false;
	if (rc < 0 || buf_len(t->in) > TRIGGER_MAX_BUFFER) {
		log_warn("trigger connection: %s", err ? err : "record too long");
		free(err);
		trigger_end(t);
		return false;
	}
	return true;
}

static void on_trigger_io(void *ctx, int fd, int events)
{
	struct trigger_conn *t = ctx;
	ssize_t n;

	if ((events & EV_WRITE) && t->out != NULL && buf_len(t->out) > 0) {
		if (send_out(t))
			ev_timer_reset(t->idle, TRIGGER_IDLE_MS);
		return;
	}
	n = read(fd, buf_reserve(t->in, TRIGGER_READ), TRIGGER_READ);
	if (n > 0) {
		buf_commit(t->in, (size_t)n);
		if (read_records(t))
			ev_timer_reset(t->idle, TRIGGER_IDLE_MS);
		return;
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		trigger_end(t);
}

static void on_trigger_idle(void *ctx)
{
	trigger_end(ctx);
}

static void qmgr_accept(svc *service, int fd)
{
	struct qmgr *q = svc_ctx(service);
	struct trigger_conn *t = xcalloc(1, sizeof(*t));

	t->q = q;
	t->fd = fd;
	t->in = buf_new(256);
	t->io = ev_io_add(q->loop, fd, EV_READ, on_trigger_io, t);
	t->idle = ev_timer_add(q->loop, TRIGGER_IDLE_MS, false, on_trigger_idle, t);
	t->next = triggers;
	if (triggers != NULL)
		triggers->prev = t;
	triggers = t;
}

/* ---- start and stop ---- */

static void make_queue_dirs(struct qmgr *q)
{
	static const char *const subs[] = { Q_TMP, Q_INCOMING, Q_ACTIVE, Q_DEFERRED, Q_HOLD,
					    Q_CORRUPT, QREASON_DIR };
	char *err = NULL;

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		char *dir = fs_join(q->queue_dir, subs[i]);

		if (fs_mkdir_p(dir, 0700, &err) < 0)
			log_fatal("%s", err);
		free(dir);
	}
}

static void read_settings(struct qmgr *q, cfg *c)
{
	q->queue_dir = xstrdup(cfg_get(c, "queue_directory"));
	q->hostname = cfg_myhostname(c);
	q->active_limit = (int)cfg_get_int(c, "qmgr_message_active_limit");
	q->min_backoff = cfg_get_int(c, "minimal_backoff_time");
	q->max_backoff = cfg_get_int(c, "maximal_backoff_time");
	q->lifetime = cfg_get_int(c, "maximal_queue_lifetime");
	q->run_delay = cfg_get_int(c, "queue_run_delay");
	q->ipc_timeout = cfg_get_int(c, "ipc_timeout");
	q->header_limit = (size_t)cfg_get_int(c, "header_size_limit");
	q->smtp_rcpt_limit = (int)cfg_get_int(c, "smtp_destination_recipient_limit");
}

/* init_transports: local without windows; smtp with per-destination
 * windows from initial_destination_concurrency up to the limit, and the
 * rate delay. An smtp request may take as long as smtp's own timeouts add
 * up to: qmgr's watchdog only catches an agent that hangs. */
static void init_transports(struct qmgr *q, cfg *c)
{
	struct qmgr_transport *t = &q->smtp;
	int max = (int)cfg_get_int(c, "smtp_destination_concurrency_limit");
	int initial = (int)cfg_get_int(c, "initial_destination_concurrency");

	qmgr_transport_init(q, &q->local, "local",
			    (int)cfg_get_int(c, "local_destination_concurrency_limit"),
			    (uint64_t)q->ipc_timeout * 1000 * LOCAL_TIMEOUT_FACTOR);
	t->remote = true;
	t->max_window = max;
	t->initial_window = initial < max ? initial : max;
	t->rate_delay_ms = (uint64_t)cfg_get_int(c, "smtp_destination_rate_delay") * 1000;
	qmgr_transport_init(q, t, "smtp", (int)cfg_get_int(c, "smtp_transport_concurrency_limit"),
			    SMTP_JOB_TIMEOUT_MS);
}

/* read_dsn_settings: the notification keys. bounce_queue_lifetime above
 * maximal_queue_lifetime is cut to it (logged), as Postfix does; the
 * 2bounce_notice_recipient and the double-bounce sender are qualified
 * with $mydomain, like a bare local part in an alias. */
static void read_dsn_settings(struct qmgr *q, cfg *c)
{
	const char *to = cfg_get(c, "2bounce_notice_recipient");
	const char *domain = resolver_mydomain(q->resolver);

	q->bounce_lifetime = cfg_get_int(c, "bounce_queue_lifetime");
	if (q->bounce_lifetime > q->lifetime) {
		log_warn("bounce_queue_lifetime is larger than maximal_queue_lifetime: using %lld s",
			 q->lifetime);
		q->bounce_lifetime = q->lifetime;
	}
	q->delay_warning = cfg_get_int(c, "delay_warning_time");
	q->notice_rcpt = strchr(to, '@') != NULL ? xstrdup(to) : xasprintf("%s@%s", to, domain);
	q->double_bounce = xasprintf("double-bounce@%s", domain);
}

/* fit_open_limit: every active message keeps its queue file open, so the
 * active set must fit under RLIMIT_NOFILE, whose soft value is often 1024:
 * at the default limit of 1000 messages, opens would fail with EMFILE and
 * due mail would be put back with a backoff, again and again. The soft
 * limit is raised as far as needed and allowed; when even the hard limit
 * is too low, the active limit is lowered to fit (logged). */
static void fit_open_limit(struct qmgr *q)
{
	long want = (long)q->active_limit + q->local.limit + q->smtp.limit + SPARE_FILES;
	long have = fs_raise_open_limit(want);
	long fit;

	if (have >= want)
		return;
	fit = have - q->local.limit - q->smtp.limit - SPARE_FILES;
	if (fit < 1)
		fit = 1;
	log_warn("qmgr_message_active_limit %d needs about %llu open files, but the limit "
		 "is %llu: holding at most %ld messages at once", q->active_limit,
		 (unsigned long long)want, (unsigned long long)have, fit);
	q->active_limit = (int)fit;
}

static void qmgr_init(svc *service)
{
	struct qmgr *q = svc_ctx(service);

	q->service = service;
	q->config = svc_cfg(service);
	q->loop = svc_loop(service);
	read_settings(q, q->config);
	init_transports(q, q->config);
	fit_open_limit(q);
	make_queue_dirs(q);
	qmgr_sweep_init(q);
	q->resolver = resolver_new(q->config);
	read_dsn_settings(q, q->config);
	qmgr_sign_init(q);
	qmgr_scan_init(q);
	log_info("queue manager started: active limit %d, local concurrency %d, smtp "
		 "concurrency %d (%g to %g per destination)", q->active_limit, q->local.limit,
		 q->smtp.limit, q->smtp.initial_window, q->smtp.max_window);
}

static void qmgr_stop(svc *service)
{
	struct qmgr *q = svc_ctx(service);

	/* Messages in delivery stay in active/ and are recovered at start. */
	qmgr_transport_stop(&q->local);
	qmgr_transport_stop(&q->smtp);
	ev_timer_remove(&q->deferred_timer);
	ev_timer_remove(&q->due_timer);
	ev_timer_remove(&q->incoming.retry);
	ev_timer_remove(&q->deferred.retry);
	ev_timer_remove(&q->recheck);
	ev_timer_remove(&q->orphan_timer);
	qmgr_limbo_stop(q);
	while (triggers != NULL)
		trigger_end(triggers);
	qmgr_sign_stop(q);
	resolver_free(&q->resolver); /* nothing routes once stopping (qmgr_kick) */
}

int main(int argc, char **argv)
{
	static const struct svc_ops ops = {
		.init = qmgr_init,
		.accept = qmgr_accept,
		.stop = qmgr_stop,
	};

	svc_main(argc, argv, "qmgr", &ops, &qmgr_state);
}
