/* dest.c: the jobs of a transport that wait for a connection, per
 * destination. Local has one destination (a plain FIFO); smtp has one per
 * next hop (the recipient domain, or "[host]:port"), Postfix-style:
 *   - a concurrency window per destination that starts at
 *     initial_destination_concurrency and grows by 1/window with each
 *     delivery that reached a server, up to the destination limit;
 *   - smtp_destination_rate_delay: at most one delivery at a time, and a
 *     pause between two to the same destination;
 *   - a destination that could not be reached at all (the reply says
 *     dest=down) is suspended: its waiting jobs and new ones are deferred
 *     at once with the reason, for DEST_DEAD_SECS or until a flush.
 * Destinations with waiting jobs and room to start one sit in a ready
 * list served round robin, so a busy domain does not starve others. */
#include "qmgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "logic.h"
#include "mem.h"

#define DEST_BUCKETS 1024
/* How long an unreachable destination stays suspended. */
#define DEST_DEAD_SECS 60

static unsigned dest_hash(const char *key)
{
	unsigned h = 2166136261u;

	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h % DEST_BUCKETS;
}

static struct qmgr_dest *dest_find(struct qmgr_transport *t, const char *key, bool create)
{
	unsigned h;
	struct qmgr_dest *d;

	if (t->buckets == NULL)
		t->buckets = xcalloc(DEST_BUCKETS, sizeof(*t->buckets));
	h = dest_hash(key);
	for (d = t->buckets[h]; d != NULL; d = d->hnext)
		if (strcmp(d->key, key) == 0)
			return d;
	if (!create)
		return NULL;
	d = xcalloc(1, sizeof(*d));
	d->key = xstrdup(key);
	d->window = t->initial_window;
	d->hnext = t->buckets[h];
	t->buckets[h] = d;
	return d;
}

static void dest_free(struct qmgr_transport *t, struct qmgr_dest *d)
{
	struct qmgr_dest **p = &t->buckets[dest_hash(d->key)];

	while (*p != d)
		p = &(*p)->hnext;
	*p = d->hnext;
	free(d->key);
	free(d->dead_reason);
	free(d);
}

/* ---- the ready list ---- */

static void ready_remove(struct qmgr_transport *t, struct qmgr_dest *d)
{
	if (!d->ready)
		return;
	if (d->rprev != NULL)
		d->rprev->rnext = d->rnext;
	else
		t->ready_head = d->rnext;
	if (d->rnext != NULL)
		d->rnext->rprev = d->rprev;
	else
		t->ready_tail = d->rprev;
	d->rprev = d->rnext = NULL;
	d->ready = false;
}

static void ready_append(struct qmgr_transport *t, struct qmgr_dest *d)
{
	if (d->ready)
		return;
	d->rprev = t->ready_tail;
	d->rnext = NULL;
	if (t->ready_tail != NULL)
		t->ready_tail->rnext = d;
	else
		t->ready_head = d;
	t->ready_tail = d;
	d->ready = true;
}

/* dest_limit: deliveries d may have in flight now. */
static int dest_limit(const struct qmgr_transport *t, const struct qmgr_dest *d)
{
	if (t->rate_delay_ms > 0)
		return 1;
	return d->window < 1 ? 1 : (int)d->window;
}

static void arm_wake(struct qmgr_transport *t, uint64_t at_ms)
{
	uint64_t now = ev_now_ms(t->q->loop);

	if (t->wake_at != 0 && t->wake_at <= at_ms)
		return;
	t->wake_at = at_ms;
	ev_timer_reset(t->wake, at_ms > now ? at_ms - now : 0);
}

/* dest_update: puts d in the ready list when it can start a job now, or
 * frees it when it holds nothing worth keeping. */
static void dest_update(struct qmgr_transport *t, struct qmgr_dest *d)
{
	uint64_t now = ev_now_ms(t->q->loop);

	if (d->head == NULL || d->inflight >= dest_limit(t, d)) {
		ready_remove(t, d);
		if (d->head != NULL || d->inflight > 0 || d->dead_until != 0)
			return;
		if (d->next_start_ms <= now)
			dest_free(t, d);
		else
			arm_wake(t, d->next_start_ms); /* freed once its pause is over */
		return;
	}
	if (d->next_start_ms > now) {
		ready_remove(t, d);
		arm_wake(t, d->next_start_ms);
		return;
	}
	ready_append(t, d);
}

/* ---- jobs ---- */

static void job_fail_now(struct qmgr_job *job, const char *status, const char *reason)
{
	static const struct qmgr_via none = { "none", NULL, false };

	qmgr_job_fail(job, &none, status, reason, false);
}

/* dest_suspended: d is suspended now (its dead time not over). */
static bool dest_suspended(struct qmgr_dest *d, time_t now)
{
	if (d->dead_until == 0)
		return false;
	if (now < d->dead_until)
		return true;
	d->dead_until = 0;
	return false;
}

static void fail_suspended(struct qmgr_dest *d, struct qmgr_job *job)
{
	char *why = xasprintf("delivery temporarily suspended: %s", d->dead_reason);

	job_fail_now(job, d->dead_status, why);
	free(why);
}

void qmgr_dest_add(struct qmgr_transport *t, struct qmgr_job *job)
{
	struct qmgr_dest *d = dest_find(t, job->nexthop ? job->nexthop : "", true);

	if (dest_suspended(d, time(NULL))) {
		fail_suspended(d, job);
		dest_update(t, d);
		return;
	}
	job->dest = d;
	job->next = NULL;
	if (d->tail != NULL)
		d->tail->next = job;
	else
		d->head = job;
	d->tail = job;
	dest_update(t, d);
}

bool qmgr_dest_has_ready(const struct qmgr_transport *t)
{
	return t->ready_head != NULL;
}

struct qmgr_job *qmgr_dest_take(struct qmgr_transport *t)
{
	struct qmgr_dest *d = t->ready_head;
	struct qmgr_job *job;

	if (d == NULL)
		return NULL;
	job = d->head;
	d->head = job->next;
	if (d->head == NULL)
		d->tail = NULL;
	job->next = NULL;
	d->inflight++;
	if (t->rate_delay_ms > 0)
		d->next_start_ms = UINT64_MAX; /* set when this delivery ends */
	ready_remove(t, d);
	dest_update(t, d); /* back at the tail when it has more room */
	return job;
}

/* suspend: d could not be reached: its waiting jobs are deferred now. */
static void suspend(struct qmgr_transport *t, struct qmgr_dest *d, const char *status,
		    const char *reason)
{
	free(d->dead_reason);
	d->dead_reason = xstrdup(reason && *reason ? reason : "destination unreachable");
	snprintf(d->dead_status, sizeof(d->dead_status), "%s",
		 qmgr_dsn_class(status) == 4 ? status : "4.4.1");
	d->dead_until = time(NULL) + DEST_DEAD_SECS;
	d->window = t->initial_window;
	log_info("%s: destination suspended for %d s: %s", d->key, DEST_DEAD_SECS,
		 d->dead_reason);
	while (d->head != NULL) {
		struct qmgr_job *job = d->head;

		d->head = job->next;
		if (d->head == NULL)
			d->tail = NULL;
		fail_suspended(d, job);
	}
}

void qmgr_dest_done(struct qmgr_transport *t, struct qmgr_dest *d, enum qmgr_dest_outcome how,
		    const char *status, const char *reason)
{
	if (d == NULL)
		return;
	d->inflight--;
	if (t->rate_delay_ms > 0)
		d->next_start_ms = ev_now_ms(t->q->loop) + t->rate_delay_ms;
	if (how == QMGR_DEST_REACHED && d->window < t->max_window)
		d->window += 1.0 / (d->window < 1 ? 1 : d->window);
	else if (how == QMGR_DEST_DOWN)
		suspend(t, d, status, reason);
	dest_update(t, d);
}

/* on_wake: rate delays ran out: those destinations may start again. */
static void on_wake(void *ctx)
{
	struct qmgr_transport *t = ctx;
	uint64_t now = ev_now_ms(t->q->loop), next = 0;

	t->wake_at = 0;
	for (unsigned h = 0; t->buckets != NULL && h < DEST_BUCKETS; h++) {
		struct qmgr_dest *d = t->buckets[h], *hn;

		for (; d != NULL; d = hn) {
			hn = d->hnext;
			if (d->next_start_ms != 0 && d->next_start_ms != UINT64_MAX &&
			    d->next_start_ms > now && (next == 0 || d->next_start_ms < next))
				next = d->next_start_ms;
			else if (d->next_start_ms <= now)
				dest_update(t, d);
		}
	}
	if (next != 0)
		arm_wake(t, next);
	qmgr_transport_dispatch(t);
}

void qmgr_dest_init(struct qmgr_transport *t)
{
	t->wake = ev_timer_add(t->q->loop, 3600000, false, on_wake, t);
}

/* qmgr_dest_revive: a flush: suspended destinations are tried again. */
void qmgr_dest_revive(struct qmgr_transport *t)
{
	for (unsigned h = 0; t->buckets != NULL && h < DEST_BUCKETS; h++) {
		struct qmgr_dest *d = t->buckets[h], *hn;

		for (; d != NULL; d = hn) {
			hn = d->hnext;
			if (d->dead_until != 0) {
				d->dead_until = 0;
				dest_update(t, d);
			}
		}
	}
}

/* fail_naming_hop: the reason names the job's next hop, if it has one. */
static void fail_naming_hop(struct qmgr_job *job, const char *status, const char *reason)
{
	char *why = job->nexthop != NULL ? xasprintf("%s (next hop %s)", reason, job->nexthop) :
					   xstrdup(reason);

	job_fail_now(job, status, why);
	free(why);
}

/* qmgr_dest_fail_all: the transport cannot be reached: every waiting job
 * is deferred with status and reason. */
void qmgr_dest_fail_all(struct qmgr_transport *t, const char *status, const char *reason)
{
	while (t->ready_head != NULL) {
		struct qmgr_dest *d = t->ready_head;

		ready_remove(t, d);
		while (d->head != NULL) {
			struct qmgr_job *job = d->head;

			d->head = job->next;
			if (d->head == NULL)
				d->tail = NULL;
			fail_naming_hop(job, status, reason);
		}
		dest_update(t, d);
	}
}

void qmgr_dest_stop(struct qmgr_transport *t)
{
	for (unsigned h = 0; t->buckets != NULL && h < DEST_BUCKETS; h++)
		while (t->buckets[h] != NULL) {
			struct qmgr_dest *d = t->buckets[h];

			while (d->head != NULL) {
				struct qmgr_job *job = d->head;

				d->head = job->next;
				qmgr_job_free(job); /* the message stays in active/ */
			}
			dest_free(t, d);
		}
	free(t->buckets);
	t->buckets = NULL;
	t->ready_head = t->ready_tail = NULL;
	ev_timer_remove(&t->wake);
}
