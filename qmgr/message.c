/* message.c: one message in qmgr's active set, from taking it to letting it
 * go. Routing (resolver_route: transport_maps, hosted domains,
 * relay_domains, relayhost): a local recipient goes to local in batches,
 * error: fails it (bounced in the DSN), discard: marks it done, and SMTP
 * ones go to smtp, one job per next hop (transport.c, dest.c); a map or
 * entry that cannot be used defers (4.3.0).
 * Results: 2.x.x -> DONE, 4.x.x -> stays PENDING, 5.x.x -> FAILED. At the
 * end (finish): expired messages (maximal_queue_lifetime, or
 * bounce_queue_lifetime for a null sender) fail their pending recipients
 * with 4.4.7; FAILED recipients are reported to the sender in one DSN and
 * become REPORTED (a failed bounce goes to 2bounce_notice_recipient as a
 * double bounce, a failed double bounce is dropped with a log line);
 * recipients delivered in this attempt with NOTIFY=SUCCESS get one
 * success DSN; a message waiting longer than delay_warning_time gets one
 * delay DSN for its pending recipients, remembered in the file's
 * DELAY_MODE_BIT. Then a message with nothing pending is removed, else it
 * goes to deferred/ with its next retry time as mtime. An unknown outcome
 * (broken connection, no reply) or a recipient state byte that cannot be
 * written sets the file's owner-execute bit, so the next attempt, even
 * after a restart, runs in recover mode. A move, chmod, utime or removal
 * that fails hands the message to the limbo (limbo.c), never leaving it
 * behind in active/. */
#include "qmgr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "log.h"
#include "logic.h"
#include "mem.h"
#include "qreason.h"

#define RECOVER_MODE_BIT S_IXUSR
/* The delay warning of this message was sent (group-execute: queue files
 * are 0600, so no reader is confused by it; docs/internals.md). */
#define DELAY_MODE_BIT S_IXGRP

static double delay_of(const struct qmgr_msg *m)
{
	struct timeval now;
	double d;

	gettimeofday(&now, NULL);
	d = (double)now.tv_sec + now.tv_usec / 1e6 - (double)m->msg->env.arrival;
	return d < 0 ? 0 : d;
}

static void log_rcpt(struct qmgr_msg *m, int i, const struct qmgr_via *via, const char *status,
		     const char *what, const char *reason)
{
	log_info("%s: to=<%s>, relay=%s, delay=%.2f%s%s, dsn=%s, status=%s (%s)", m->msg->id,
		 m->msg->env.rcpts[i].address, via->relay, delay_of(m), via->tls ? ", tls=" : "",
		 via->tls ? via->tls : "", status, what, reason);
}

static void replace(char **slot, const char *value)
{
	free(*slot);
	*slot = value != NULL ? xstrdup(value) : NULL;
}

static void set_result(struct qmgr_msg *m, int i, const struct qmgr_via *via, const char *status,
		       const char *reason)
{
	replace(&m->status[i], status);
	replace(&m->reason[i], reason);
	replace(&m->relay[i], via->tls != NULL ? via->relay : NULL);
	replace(&m->tls[i], via->tls);
}

/* set_state: when the byte cannot be written, the outcome is unsure: the
 * recipient stays as it was in memory and on disk, and the next attempt
 * runs in recover mode, where Maildir dedup finds a delivery made. */
static void set_state(struct qmgr_msg *m, int i, char state)
{
	if (q_rcpt_set_state(m->msg, i, state) < 0) {
		log_warn("%s: cannot update the state of recipient %d: %s (the next attempt "
			 "runs in recover mode)", m->msg->id, i, strerror(errno));
		m->unsure = true;
	}
}

static const struct qmgr_via via_none = { "none", NULL, false };

static void rcpt_deferred(struct qmgr_msg *m, int i, const struct qmgr_via *via,
			  const char *status, const char *reason)
{
	set_result(m, i, via, status, reason);
	log_rcpt(m, i, via, status, "deferred", reason);
}

static void rcpt_failed(struct qmgr_msg *m, int i, const struct qmgr_via *via,
			const char *status, const char *reason)
{
	set_result(m, i, via, status, reason);
	set_state(m, i, Q_RCPT_FAILED);
	log_rcpt(m, i, via, status, "bounced", reason);
}

/* success_of: what a NOTIFY=SUCCESS sender hears of a delivery: local
 * delivered it; an SMTP server relayed it, unless it took the DSN request
 * on (remote_dsn), which leaves the report to it. */
static enum qmgr_success success_of(const struct qmgr_via *via)
{
	if (strcmp(via->relay, "local") == 0)
		return QMGR_SUCCESS_DELIVERED;
	return via->remote_dsn ? QMGR_SUCCESS_NONE : QMGR_SUCCESS_RELAYED;
}

/* rcpt_done: delivered; how says what a NOTIFY=SUCCESS sender is told. */
static void rcpt_done(struct qmgr_msg *m, int i, const struct qmgr_via *via, const char *status,
		      const char *reason, enum qmgr_success how)
{
	if (qmgr_wants_success(m->msg->env.rcpts[i].notify))
		set_result(m, i, via, status, reason); /* for the success DSN */
	set_state(m, i, Q_RCPT_DONE);
	m->success[i] = (unsigned char)how;
	log_rcpt(m, i, via, status, "sent", reason);
}

void qmgr_msg_result(struct qmgr_msg *m, int i, const struct qmgr_via *via, const char *status,
		     const char *reason)
{
	if (i < 0 || i >= m->msg->env.nrcpts || m->msg->env.rcpts[i].state != Q_RCPT_PENDING)
		return;
	switch (qmgr_dsn_class(status)) {
	case 2:
		rcpt_done(m, i, via, status, reason, success_of(via));
		break;
	case 5:
		rcpt_failed(m, i, via, status, reason);
		break;
	default:
		rcpt_deferred(m, i, via, qmgr_dsn_class(status) == 4 ? status : "4.3.0", reason);
	}
}

/* ---- the end of an attempt ---- */

static void free_msg(struct qmgr_msg *m)
{
	struct qmgr *q = m->q;

	for (int i = 0; i < m->msg->env.nrcpts; i++) {
		free(m->status[i]);
		free(m->reason[i]);
		free(m->relay[i]);
		free(m->tls[i]);
	}
	free(m->status);
	free(m->reason);
	free(m->relay);
	free(m->tls);
	free(m->success);
	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		q->active = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	q->nactive--;
	q_msg_free(&m->msg);
	free(m);
	qmgr_kick(q);
}

static void expire_pending(struct qmgr_msg *m)
{
	struct q_msg *msg = m->msg;
	char *why;

	if (!qmgr_expired(time(NULL), msg->env.arrival,
			  qmgr_lifetime(msg->env.sender, m->q->lifetime, m->q->bounce_lifetime)))
		return;
	for (int i = 0; i < msg->env.nrcpts; i++) {
		if (msg->env.rcpts[i].state != Q_RCPT_PENDING)
			continue;
		why = xasprintf("message expired after %lld seconds in the queue: %s",
				(long long)(time(NULL) - msg->env.arrival),
				m->reason[i] ? m->reason[i] : "not delivered");
		rcpt_failed(m, i, &via_none, "4.4.7", why);
		free(why);
	}
}

/* wants_report: NOTIFY allows a failure DSN (default: yes). */
static bool wants_report(const struct q_rcpt *r)
{
	return r->notify == 0 || (r->notify & Q_NOTIFY_FAILURE) != 0;
}

static void mark_reported(struct qmgr_msg *m, const int *idx, int n)
{
	for (int k = 0; k < n; k++)
		set_state(m, idx[k], Q_RCPT_REPORTED);
}

/* is_double_bounce: the message is a double bounce of ours: nothing about
 * it is ever reported (no triple bounce, no warnings). */
static bool is_double_bounce(const struct qmgr_msg *m)
{
	return strcasecmp(m->msg->env.sender, m->q->double_bounce) == 0;
}

/* failure_notice: to whom the failures of m go: the sender, or for a
 * bounce (null sender) the postmaster as a double bounce. false: to
 * nobody (a double bounce failed: dropped, as Postfix does). */
static bool failure_notice(struct qmgr_msg *m, struct qmgr_notice *nt)
{
	*nt = (struct qmgr_notice){ .kind = QMGR_DSN_FAILURE };
	if (is_double_bounce(m))
		return false;
	if (*m->msg->env.sender == '\0') {
		nt->from = m->q->double_bounce;
		nt->to = m->q->notice_rcpt;
		nt->postmaster_copy = true;
	} else {
		nt->from = "";
		nt->to = m->msg->env.sender;
	}
	return true;
}

/* report_failures: one DSN for every FAILED recipient that asks for it. */
static void report_failures(struct qmgr_msg *m)
{
	struct q_msg *msg = m->msg;
	int *idx = xcalloc((size_t)msg->env.nrcpts + 1, sizeof(int)), n = 0;
	char *bounce_id = NULL;
	struct qmgr_notice nt;
	bool notice = failure_notice(m, &nt);

	for (int i = 0; i < msg->env.nrcpts; i++) {
		if (msg->env.rcpts[i].state != Q_RCPT_FAILED)
			continue;
		if (!notice || (!nt.postmaster_copy && !wants_report(&msg->env.rcpts[i]))) {
			log_info("%s: to=<%s>: no notification sent (%s)", msg->id,
				 msg->env.rcpts[i].address,
				 notice ? "NOTIFY"
					: "undeliverable postmaster notification discarded");
			set_state(m, i, Q_RCPT_REPORTED);
			continue;
		}
		if (m->status[i] == NULL)
			set_result(m, i, &via_none, "5.0.0",
				   "delivery failed (details lost in a restart)");
		idx[n++] = i;
	}
	nt.idx = idx;
	nt.n = n;
	if (n > 0 && qmgr_notify(m, &nt, &bounce_id) == 0) {
		log_info("%s: %s non-delivery notification: %s", msg->id,
			 nt.postmaster_copy ? "postmaster" : "sender", bounce_id);
		mark_reported(m, idx, n);
		q_msg_sync(msg);
		free(bounce_id);
	}
	free(idx);
}

/* notices_allowed: success and delay reports go to a real sender only. */
static bool notices_allowed(const struct qmgr_msg *m)
{
	return *m->msg->env.sender != '\0' && !is_double_bounce(m);
}

/* send_notice: a success or delay report about idx[0..n) to the sender;
 * true when it is queued (or there was nothing to say). */
static bool send_notice(struct qmgr_msg *m, enum qmgr_dsn_kind kind, const int *idx, int n)
{
	struct qmgr_notice nt = { .kind = kind, .idx = idx, .n = n, .from = "",
				  .to = m->msg->env.sender };
	char *id = NULL;

	if (n == 0)
		return true;
	if (qmgr_notify(m, &nt, &id) < 0)
		return false;
	log_info("%s: sender %s notification: %s", m->msg->id,
		 kind == QMGR_DSN_DELAY ? "delay" : "delivery status", id);
	free(id);
	return true;
}

/* report_successes: one DSN for the recipients delivered in this attempt
 * that asked for NOTIFY=SUCCESS and whose delivery we report (not those
 * relayed to a server that took the request on). Best effort: a DSN that
 * cannot be written is logged, never retried (the mail itself went). */
static void report_successes(struct qmgr_msg *m)
{
	struct q_msg *msg = m->msg;
	int *idx = xcalloc((size_t)msg->env.nrcpts + 1, sizeof(int)), n = 0;

	for (int i = 0; i < msg->env.nrcpts && notices_allowed(m); i++)
		if (msg->env.rcpts[i].state == Q_RCPT_DONE && m->success[i] != QMGR_SUCCESS_NONE &&
		    qmgr_wants_success(msg->env.rcpts[i].notify))
			idx[n++] = i;
	send_notice(m, QMGR_DSN_SUCCESS, idx, n);
	free(idx);
}

/* warn_delay: once per message, when it has waited delay_warning_time
 * with recipients still pending: one delay DSN for those whose NOTIFY
 * allows it. m->warned goes into the file's mode with the deferral; a
 * DSN that cannot be written is tried again at the next attempt. */
static void warn_delay(struct qmgr_msg *m)
{
	struct q_msg *msg = m->msg;
	int *idx, n = 0;

	if (m->warned || !notices_allowed(m) || q_msg_pending(msg) == 0 ||
	    !qmgr_delay_due(time(NULL), msg->env.arrival, m->q->delay_warning))
		return;
	idx = xcalloc((size_t)msg->env.nrcpts + 1, sizeof(int));
	for (int i = 0; i < msg->env.nrcpts; i++)
		if (msg->env.rcpts[i].state == Q_RCPT_PENDING &&
		    qmgr_wants_delay(msg->env.rcpts[i].notify, m->q->delay_warning))
			idx[n++] = i;
	m->warned = send_notice(m, QMGR_DSN_DELAY, idx, n);
	free(idx);
}

static bool anything_left(const struct q_msg *msg)
{
	for (int i = 0; i < msg->env.nrcpts; i++)
		if (msg->env.rcpts[i].state == Q_RCPT_PENDING ||
		    msg->env.rcpts[i].state == Q_RCPT_FAILED)
			return true;
	return false;
}

/* remove_msg: the file goes to the pool of tmp/ for the next message
 * (q_recycle), which is the same commit as an unlink: it is out of the
 * queue once the rename is done. */
static void remove_msg(struct qmgr_msg *m)
{
	if (q_recycle(m->q->queue_dir, m->msg->path) < 0 && errno != ENOENT) {
		qmgr_limbo_add(m->q, m->msg->id, QMGR_LIMBO_REMOVE, "remove", errno);
		return;
	}
	qreason_remove(m->q->queue_dir, m->msg->id);
	log_info("%s: removed", m->msg->id);
}

/* save_reasons: the deferral reason of each pending recipient, for the
 * admin (qreason.h); best effort, a full disk only costs the hint. */
static void save_reasons(struct qmgr_msg *m, time_t now)
{
	struct q_msg *msg = m->msg;
	struct qreason *items = xcalloc((size_t)msg->env.nrcpts + 1, sizeof(*items));
	char *err = NULL;
	int n = 0;

	for (int i = 0; i < msg->env.nrcpts; i++)
		if (msg->env.rcpts[i].state == Q_RCPT_PENDING && m->reason[i] != NULL)
			items[n++] = (struct qreason){ i, m->status[i], m->reason[i], m->relay[i],
						       m->tls[i] };
	if (n > 0 && qreason_write(m->q->queue_dir, msg->id, now, items, n, &err) < 0) {
		log_debug("%s: deferral reasons not saved: %s", msg->id, err);
		free(err);
	}
	free(items);
}

/* waits_for_storage: every pending recipient was deferred for lack of
 * space at this host (4.3.1, local below local_minfree). */
static bool waits_for_storage(const struct qmgr_msg *m)
{
	bool any = false;

	for (int i = 0; i < m->msg->env.nrcpts; i++) {
		if (m->msg->env.rcpts[i].state != Q_RCPT_PENDING)
			continue;
		if (m->status[i] == NULL || strcmp(m->status[i], "4.3.1") != 0)
			return false;
		any = true;
	}
	return any;
}

/* defer_msg: mtime = next retry, recover bit as needed, into deferred/.
 * When a step fails the message goes into the limbo, which does the
 * steps again until they work. */
/* retry_time: the backoff, or sooner for mail that waits for space here. */
static time_t retry_time(const struct qmgr_msg *m, time_t now)
{
	time_t next = qmgr_next_retry(now, m->msg->env.arrival, m->q->min_backoff,
				      m->q->max_backoff);
	time_t warn_at = m->msg->env.arrival + (time_t)m->q->delay_warning;

	if (!m->warned && m->q->delay_warning > 0 && notices_allowed(m) && warn_at > now &&
	    warn_at < next)
		next = warn_at; /* the delay warning is not sent late */
	return waits_for_storage(m) ? qmgr_storage_retry(now, next) : next;
}

static void defer_msg(struct qmgr_msg *m)
{
	struct q_msg *msg = m->msg;
	time_t now = time(NULL), next = retry_time(m, now);
	struct timespec times[2] = { { 0, UTIME_OMIT }, { next, 0 } };
	mode_t mode = 0600 | (m->unsure ? RECOVER_MODE_BIT : 0) | (m->warned ? DELAY_MODE_BIT : 0);
	const char *what;
	struct qmgr_limbo *l;

	save_reasons(m, now);
	if (fchmod(msg->fd, mode) < 0)
		what = "set the mode of the queue file";
	else if (futimens(msg->fd, times) < 0)
		what = "set the retry time";
	else if (q_move(m->q->queue_dir, msg->id, Q_ACTIVE, Q_DEFERRED) < 0)
		what = "move to " Q_DEFERRED "/";
	else {
		qmgr_deferred_due(m->q, next);
		return;
	}
	l = qmgr_limbo_add(m->q, msg->id, QMGR_LIMBO_DEFER, what, errno);
	l->set_mode = l->set_time = true;
	l->mode = mode;
	l->retry_at = next;
}

static void finish(struct qmgr_msg *m)
{
	expire_pending(m);
	report_failures(m);
	report_successes(m);
	warn_delay(m);
	if (anything_left(m->msg))
		defer_msg(m);
	else
		remove_msg(m);
	free_msg(m);
}

void qmgr_msg_job_done(struct qmgr_msg *m)
{
	if (--m->jobs_out == 0)
		finish(m);
}

/* ---- the start of an attempt ---- */

/* submit: jobs of at most limit recipients from idx[0..n) to t. */
static void submit(struct qmgr_msg *m, struct qmgr_transport *t, const char *nexthop,
		   const int *idx, int n, int limit)
{
	if (limit > QMGR_BATCH)
		limit = QMGR_BATCH;
	for (int start = 0; start < n; start += limit) {
		struct qmgr_job *job = xcalloc(1, sizeof(*job));

		job->m = m;
		job->nexthop = nexthop != NULL ? xstrdup(nexthop) : NULL;
		while (job->count < limit && start + job->count < n) {
			job->rcpts[job->count] = idx[start + job->count];
			job->count++;
		}
		m->jobs_out++;
		qmgr_transport_submit(t, job);
	}
}

/* A recipient that leaves by SMTP, and its next hop. */
struct remote_rcpt {
	int rcpt;
	char *nexthop;
};

static int remote_cmp(const void *a, const void *b)
{
	const struct remote_rcpt *x = a, *y = b;
	int c = strcmp(x->nexthop, y->nexthop);

	return c != 0 ? c : x->rcpt - y->rcpt;
}

/* submit_remote: one job per next hop (and per smtp_destination_recipient_
 * limit recipients), so each goes to its destination's queue. */
static void submit_remote(struct qmgr_msg *m, struct remote_rcpt *r, int n)
{
	int *idx = xcalloc((size_t)n + 1, sizeof(int));

	qsort(r, (size_t)n, sizeof(*r), remote_cmp);
	for (int start = 0, end; start < n; start = end) {
		int count = 0;

		for (end = start; end < n && strcmp(r[end].nexthop, r[start].nexthop) == 0; end++)
			idx[count++] = r[end].rcpt;
		submit(m, &m->q->smtp, r[start].nexthop, idx, count, m->q->smtp_rcpt_limit);
	}
	for (int k = 0; k < n; k++)
		free(r[k].nexthop);
	free(idx);
}

static void route_discard(struct qmgr_msg *m, int i, const struct route *rt)
{
	char *what = *rt->text ? xasprintf("discarded: %s", rt->text) : xstrdup("discarded");

	rcpt_done(m, i, &via_none, "2.0.0", what, QMGR_SUCCESS_DELIVERED);
	free(what);
}

/* Recipients of one attempt by the way they leave. */
struct routed {
	int *local, nlocal;
	struct remote_rcpt *remote;
	int nremote;
};

/* route_one: recipient i by its route (lib/resolve.c, resolver_route);
 * local and SMTP ones are added to out. */
static void route_one(struct qmgr_msg *m, int i, struct routed *out)
{
	struct route rt;
	char *why = NULL;

	if (resolver_route(m->q->resolver, m->msg->env.rcpts[i].address, &rt, &why) !=
	    RESOLVE_OK) {
		rcpt_deferred(m, i, &via_none, "4.3.0", why ? why : "routing lookup failed");
		free(why);
		return;
	}
	switch (rt.transport) {
	case ROUTE_LOCAL:
		out->local[out->nlocal++] = i;
		break;
	case ROUTE_ERROR:
		rcpt_failed(m, i, &via_none, rt.status,
			    *rt.text ? rt.text : "delivery refused by the transport table");
		break;
	case ROUTE_DISCARD:
		route_discard(m, i, &rt);
		break;
	case ROUTE_SMTP:
		out->remote[out->nremote].rcpt = i;
		out->remote[out->nremote++].nexthop = route_nexthop_format(&rt.hop);
		break;
	}
	route_clear(&rt);
}

void qmgr_msg_start(struct qmgr *q, struct q_msg *msg, bool recover)
{
	struct qmgr_msg *m = xcalloc(1, sizeof(*m));
	int nrcpts = msg->env.nrcpts;
	struct routed r = { 0 };
	struct stat st;

	m->q = q;
	m->msg = msg;
	if (fstat(msg->fd, &st) < 0)
		st.st_mode = 0600;
	m->recover = recover || (st.st_mode & RECOVER_MODE_BIT);
	m->warned = (st.st_mode & DELAY_MODE_BIT) != 0;
	m->status = xcalloc((size_t)nrcpts + 1, sizeof(char *));
	m->reason = xcalloc((size_t)nrcpts + 1, sizeof(char *));
	m->relay = xcalloc((size_t)nrcpts + 1, sizeof(char *));
	m->tls = xcalloc((size_t)nrcpts + 1, sizeof(char *));
	m->success = xcalloc((size_t)nrcpts + 1, 1);
	m->next = q->active;
	if (q->active != NULL)
		q->active->prev = m;
	q->active = m;
	q->nactive++;
	log_info("%s: from=<%s>, size=%lld, nrcpt=%d (queue active%s)", msg->id, msg->env.sender,
		 (long long)q_msg_size(msg), nrcpts, m->recover ? ", recover" : "");
	r.local = xcalloc((size_t)nrcpts + 1, sizeof(int));
	r.remote = xcalloc((size_t)nrcpts + 1, sizeof(*r.remote));
	m->jobs_out = 1; /* held while submitting, so no job ends the message early */
	for (int i = 0; i < nrcpts; i++)
		if (msg->env.rcpts[i].state == Q_RCPT_PENDING)
			route_one(m, i, &r);
	submit(m, &q->local, NULL, r.local, r.nlocal, QMGR_BATCH);
	submit_remote(m, r.remote, r.nremote);
	free(r.local);
	free(r.remote);
	qmgr_msg_job_done(m);
}
