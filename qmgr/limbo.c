/* limbo.c: messages whose queue file could not change state. When qmgr
 * cannot move a file out of active/ (into deferred/ or corrupt/, a full
 * disk or a broken permission), cannot set its mode or retry time, or
 * cannot remove it, the message is not left behind: it goes into the
 * limbo, a list of (queue ID, what is still to be done, why it failed,
 * since when, next try). A one-second timer retries each entry on the
 * schedule of qmgr_limbo_delay (2 s growing to 30 s) until it succeeds;
 * a message then continues as if the change had worked at once (a
 * deferred one is taken again when its retry time has passed). One that
 * still cannot reach deferred/ when its retry time comes is delivered
 * again from active/, so its delivery keeps its normal schedule. Entries
 * keep no file open and do not count against the active limit: they hold
 * no delivery slot, and a problem with one directory must not stop the
 * delivery of everything else. The file stays in active/, so a qmgr
 * that dies meanwhile recovers it at its next start; the periodic scan
 * of active/ (scan.c) leaves limbo entries alone. "mailctl queue list"
 * shows the reasons through the status request (qmgr.c). */
#include "qmgr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "logic.h"
#include "mem.h"
#include "qreason.h"

#define LIMBO_TICK_MS 1000

static const char *op_dir(enum qmgr_limbo_op op)
{
	return op == QMGR_LIMBO_CORRUPT ? Q_CORRUPT : op == QMGR_LIMBO_DEFER ? Q_DEFERRED : "tmp";
}

static struct qmgr_limbo *limbo_find(const struct qmgr *q, const char *id)
{
	for (struct qmgr_limbo *l = q->limbo; l != NULL; l = l->next)
		if (strcmp(l->id, id) == 0)
			return l;
	return NULL;
}

bool qmgr_limbo_has(const struct qmgr *q, const char *id)
{
	return limbo_find(q, id) != NULL;
}

static void limbo_unlink(struct qmgr *q, struct qmgr_limbo *l)
{
	struct qmgr_limbo **pp = &q->limbo;

	while (*pp != l)
		pp = &(*pp)->next;
	*pp = l->next;
	q->nlimbo--;
	free(l->id);
	free(l->reason);
	free(l);
}

/* try_defer: mode, retry time, then the rename; each step is idempotent,
 * so a retry simply does them all again. */
static int try_defer(struct qmgr *q, struct qmgr_limbo *l, const char *path, const char **step)
{
	struct timespec times[2] = { { 0, UTIME_OMIT }, { l->retry_at, 0 } };

	*step = "set the mode of";
	if (l->set_mode && chmod(path, l->mode) < 0)
		return -1;
	*step = "set the retry time of";
	if (l->set_time && utimensat(AT_FDCWD, path, times, 0) < 0)
		return -1;
	*step = "move to deferred/";
	return q_move(q->queue_dir, l->id, Q_ACTIVE, Q_DEFERRED);
}

/* try_op: 0 done, -1 failed (errno, *step says what). ENOENT on the file
 * itself means it is gone (mailctl queue delete): nothing left to do. */
static int try_op(struct qmgr *q, struct qmgr_limbo *l, const char **step)
{
	char *path = q_path(q->queue_dir, Q_ACTIVE, l->id);
	int rc;

	switch (l->op) {
	case QMGR_LIMBO_DEFER:
		rc = try_defer(q, l, path, step);
		break;
	case QMGR_LIMBO_CORRUPT:
		*step = "move to corrupt/";
		rc = q_move(q->queue_dir, l->id, Q_ACTIVE, Q_CORRUPT);
		break;
	default:
		*step = "remove";
		rc = q_recycle(q->queue_dir, path);
		break;
	}
	if (rc < 0 && errno == ENOENT && access(path, F_OK) < 0 && errno == ENOENT) {
		log_info("%s: gone from %s/ while qmgr retried to %s it", l->id, Q_ACTIVE, *step);
		rc = 1;
	}
	free(path);
	return rc;
}

static void limbo_done(struct qmgr *q, struct qmgr_limbo *l)
{
	long long waited = (long long)(time(NULL) - l->since);

	if (l->op == QMGR_LIMBO_DEFER) {
		log_info("%s: moved to %s/ after %d tries (%lld s late)", l->id, Q_DEFERRED,
			 l->tries + 1, waited);
		if (l->retry_at <= time(NULL))
			q->deferred.again = true;
		else
			qmgr_deferred_due(q, l->retry_at);
	} else if (l->op == QMGR_LIMBO_CORRUPT) {
		log_warn("%s: corrupt queue file: moved to %s/ after %d tries", l->id, Q_CORRUPT,
			 l->tries + 1);
		qreason_remove(q->queue_dir, l->id);
	} else {
		log_info("%s: removed after %d tries (%lld s late)", l->id, l->tries + 1, waited);
		qreason_remove(q->queue_dir, l->id);
	}
}

/* retake: a message still stuck on its way to deferred/ when its retry
 * time has come is delivered again straight from active/ (its next
 * deferral puts it back here with a later retry time): a directory that
 * stays unwritable delays the mail by its backoff, no more. */
static bool retake(struct qmgr *q, struct qmgr_limbo *l, time_t now, const char *why)
{
	char *id;
	bool recover;

	if (l->op != QMGR_LIMBO_DEFER || l->retry_at > now || !qmgr_has_room(q) ||
	    svc_stopping(q->service))
		return false;
	log_info("%s: %s; its retry time has come: delivering it again from %s/", l->id, why,
		 Q_ACTIVE);
	id = xstrdup(l->id);
	recover = l->set_mode && (l->mode & S_IXUSR) != 0;
	limbo_unlink(q, l);
	qmgr_take(q, Q_ACTIVE, id, recover);
	free(id);
	return true;
}

static void limbo_retry(struct qmgr *q, struct qmgr_limbo *l, time_t now)
{
	const char *step = "";
	int rc = try_op(q, l, &step);
	char *why;

	if (rc > 0) {
		limbo_unlink(q, l);
		return;
	}
	if (rc == 0) {
		limbo_done(q, l);
		limbo_unlink(q, l);
		qmgr_kick(q);
		return;
	}
	why = xasprintf("cannot %s: %s", step, strerror(errno));
	if (retake(q, l, now, why)) {
		free(why);
		return;
	}
	l->tries++;
	l->next_try = now + (time_t)qmgr_limbo_delay(l->tries);
	if (strcmp(why, l->reason) != 0)
		log_warn("%s: %s (still kept by qmgr, try %d)", l->id, why, l->tries + 1);
	else
		log_debug("%s: %s (try %d)", l->id, why, l->tries);
	free(l->reason);
	l->reason = why;
}

static void on_limbo_tick(void *ctx)
{
	struct qmgr *q = ctx;
	time_t now = time(NULL);
	struct qmgr_limbo *l = q->limbo, *next;

	for (; l != NULL; l = next) {
		next = l->next;
		if (l->next_try <= now)
			limbo_retry(q, l, now);
	}
	if (q->limbo == NULL)
		ev_timer_remove(&q->limbo_timer);
}

struct qmgr_limbo *qmgr_limbo_add(struct qmgr *q, const char *id, enum qmgr_limbo_op op,
				  const char *what, int err)
{
	struct qmgr_limbo *l = limbo_find(q, id);

	if (l == NULL) {
		l = xcalloc(1, sizeof(*l));
		l->id = xstrdup(id);
		l->next = q->limbo;
		q->limbo = l;
		q->nlimbo++;
	}
	l->op = op;
	free(l->reason);
	l->reason = xasprintf("cannot %s: %s", what, strerror(err));
	l->since = time(NULL);
	l->tries = 1;
	l->next_try = l->since + (time_t)qmgr_limbo_delay(1);
	log_warn("%s: %s: kept by qmgr, retried in %lld s until it can be moved to %s/", id,
		 l->reason, qmgr_limbo_delay(1), op_dir(op));
	if (q->limbo_timer == NULL)
		q->limbo_timer = ev_timer_add(q->loop, LIMBO_TICK_MS, true, on_limbo_tick, q);
	return l;
}

void qmgr_limbo_stop(struct qmgr *q)
{
	ev_timer_remove(&q->limbo_timer);
	while (q->limbo != NULL)
		limbo_unlink(q, q->limbo); /* the files stay in active/: recovered at start */
}
