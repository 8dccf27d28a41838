/* scan.c: how queue files get into qmgr's active set. Three sources:
 * the names found in active/ at start (read once, in delivery when a crash
 * came: taken in recover mode), incoming/ (new mail: on triggers, wakeups
 * and at start) and deferred/ (files whose mtime, the next retry time, has
 * passed: every queue_run_delay, or all of them on a flush). A directory is
 * read a chunk of entries per loop turn and never held in memory, and no
 * more than qmgr_message_active_limit messages are active at once: with a
 * million files queued, memory stays that of the active set. A file
 * renamed during a pass may be missed by readdir: when incoming/ changed
 * during a pass (its mtime moved), it is scanned again a moment later, so
 * such a file waits a second, not until the next trigger or wakeup; in
 * deferred/ the next queue run finds it. Recovery takes a small batch per
 * loop turn; a scan of active/ every 30 s takes any file nobody holds
 * (the safety net behind limbo.c). Files that open but do not parse go to
 * corrupt/ (an empty one too), files that cannot be opened to deferred/. */
#include "qmgr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "logic.h"
#include "log.h"
#include "mem.h"
#include "qreason.h"

#define SCAN_CHUNK 256
/* Recovered messages taken per loop turn (take_recovered). */
#define RECOVER_BATCH 16
/* The scan of active/ for orphans (so one waits 30 to 90 s), and the age
 * a file must have there. */
#define ORPHAN_SCAN_MS 30000
#define ORPHAN_AGE 60
/* defer/ is swept every this many orphan scans, of files this old. */
#define REASONS_SWEEP_TICKS 120
#define REASONS_SWEEP_AGE 3600
/* The least time between the start of a pass over deferred/ and an extra
 * one for a message due before the next queue run (qmgr_deferred_due). */
#define DUE_MIN_GAP 10
/* Delay of the extra pass over incoming/ after one it changed under. */
#define RECHECK_MS 1000

bool qmgr_has_room(const struct qmgr *q)
{
	return q->nactive < q->active_limit;
}

bool qmgr_holds(const struct qmgr *q, const char *id)
{
	for (const struct qmgr_msg *m = q->active; m != NULL; m = m->next)
		if (strcmp(m->msg->id, id) == 0)
			return true;
	return qmgr_limbo_has(q, id);
}

/* park_unreadable: a file we cannot open (EMFILE, EACCES, ...) is not
 * corrupt: it goes back to deferred/ for a later try (or into the limbo
 * when even that fails). */
static void park_unreadable(struct qmgr *q, const char *id, const char *path)
{
	time_t when = time(NULL) + q->min_backoff;
	struct timespec times[2] = { { 0, UTIME_OMIT }, { when, 0 } };
	struct qmgr_limbo *l;

	if (utimensat(AT_FDCWD, path, times, 0) == 0 &&
	    q_move(q->queue_dir, id, Q_ACTIVE, Q_DEFERRED) == 0)
		return;
	l = qmgr_limbo_add(q, id, QMGR_LIMBO_DEFER, "move to " Q_DEFERRED "/", errno);
	l->set_time = true;
	l->retry_at = when;
}

static void move_corrupt(struct qmgr *q, const char *id, const char *err)
{
	if (q_move(q->queue_dir, id, Q_ACTIVE, Q_CORRUPT) < 0) {
		log_warn("%s: corrupt queue file (%s)", id, err);
		qmgr_limbo_add(q, id, QMGR_LIMBO_CORRUPT, "move to " Q_CORRUPT "/", errno);
		return;
	}
	log_warn("%s: corrupt queue file (%s): moved to %s/", id, err, Q_CORRUPT);
	qreason_remove(q->queue_dir, id);
}

/* take_failed: q_msg_open refused active/id. A file that opens but does
 * not parse (an empty one, one cut short by a crash, garbage) is
 * corrupt; one that cannot be opened waits in deferred/; one that is
 * gone was deleted meanwhile. */
static void take_failed(struct qmgr *q, const char *id, const char *path, const char *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		move_corrupt(q, id, err);
	} else if (errno != ENOENT) {
		log_warn("%s: cannot open queue file: %s", id, err);
		park_unreadable(q, id, path);
	}
}

bool qmgr_take(struct qmgr *q, const char *sub, const char *id, bool recover)
{
	struct q_msg *msg = NULL;
	char *path, *err = NULL;

	if (strcmp(sub, Q_ACTIVE) != 0 && q_move(q->queue_dir, id, sub, Q_ACTIVE) < 0) {
		if (errno != ENOENT) {
			log_warn("%s: cannot move from %s/ to %s/: %s (tried again soon)", id, sub,
				 Q_ACTIVE, strerror(errno));
			if (strcmp(sub, Q_INCOMING) == 0)
				q->incoming.take_failed = true;
			else if (strcmp(sub, Q_DEFERRED) == 0)
				q->deferred.take_failed = true;
		}
		return false;
	}
	path = q_path(q->queue_dir, Q_ACTIVE, id);
	if (q_msg_open(path, &msg, &err) < 0) {
		take_failed(q, id, path, err);
		free(err);
		free(path);
		return false;
	}
	free(path);
	qmgr_msg_start(q, msg, recover);
	return true;
}

/* ---- active/ at start ---- */

static void read_active_names(struct qmgr *q)
{
	char *dir = fs_join(q->queue_dir, Q_ACTIVE);
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 0;

	while (d != NULL && (de = readdir(d)) != NULL) {
		if (!q_id_valid(de->d_name))
			continue;
		if (q->nrecover == cap) {
			cap = cap ? cap * 2 : 64;
			q->recover_ids = xrealloc(q->recover_ids, cap * sizeof(char *));
		}
		q->recover_ids[q->nrecover++] = xstrdup(de->d_name);
	}
	if (d != NULL)
		closedir(d);
	if (q->nrecover > 0)
		log_info("%zu message(s) in %s/ from an earlier run: delivering them in "
			 "recover mode", q->nrecover, Q_ACTIVE);
	free(dir);
}

/* take_recovered: at most RECOVER_BATCH per loop turn, so deliveries of
 * the first ones start (and their results are written) before the rest
 * is opened, and new mail is taken in between: a qmgr killed again and
 * again still moves the queue on. true when names are left. */
static bool take_recovered(struct qmgr *q)
{
	for (int i = 0; i < RECOVER_BATCH && q->recover_pos < q->nrecover && qmgr_has_room(q);
	     i++) {
		char *id = q->recover_ids[q->recover_pos++];

		if (!qmgr_holds(q, id))
			qmgr_take(q, Q_ACTIVE, id, true);
		free(id);
	}
	if (q->recover_pos == q->nrecover && q->recover_ids != NULL) {
		free(q->recover_ids);
		q->recover_ids = NULL;
		q->nrecover = q->recover_pos = 0;
	}
	return q->recover_ids != NULL;
}

/* ---- orphans in active/ ---- */

/* orphan: a file in active/ that nobody holds: not in the active set,
 * not in the limbo, not waiting for start-up recovery, and unchanged for
 * ORPHAN_AGE seconds (a rename into active/ sets the ctime), so a file an
 * old qmgr still finishing during a reload has just taken is left to it. */
static bool orphan(struct qmgr *q, DIR *d, const char *name, time_t now)
{
	struct stat st;

	return q_id_valid(name) && !qmgr_holds(q, name) &&
	       fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	       st.st_ctime <= now - ORPHAN_AGE;
}

/* in_queue: the message id is in one of the queue directories. */
static bool in_queue(const struct qmgr *q, const char *id)
{
	static const char *const subs[] = { Q_INCOMING, Q_ACTIVE, Q_DEFERRED, Q_HOLD };

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		char *path = q_path(q->queue_dir, subs[i], id);
		bool there = access(path, F_OK) == 0;

		free(path);
		if (there)
			return true;
	}
	return false;
}

/* sweep_reasons: defer/ files an hour old whose message is gone (removed
 * by hand) and tmp files of a writer killed before its rename. */
static void sweep_reasons(struct qmgr *q)
{
	char *dir = fs_join(q->queue_dir, QREASON_DIR);
	DIR *d = opendir(dir);
	time_t old = time(NULL) - REASONS_SWEEP_AGE;
	struct dirent *de;
	struct stat st;

	while (d != NULL && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		bool tmp = len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0;

		if ((!tmp && !q_id_valid(de->d_name)) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    st.st_mtime > old || (!tmp && in_queue(q, de->d_name)))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_info("removed %s/%s: its message left the queue", QREASON_DIR,
				 de->d_name);
	}
	if (d != NULL)
		closedir(d);
	free(dir);
}

/* on_orphan_timer: the safety net behind the limbo: whatever left a
 * message in active/ without qmgr holding it, it is taken again in
 * recover mode. Once an hour it also sweeps defer/. */
static void on_orphan_timer(void *ctx)
{
	struct qmgr *q = ctx;
	char *dir = fs_join(q->queue_dir, Q_ACTIVE);
	DIR *d = q->recover_ids == NULL ? opendir(dir) : NULL;
	time_t now = time(NULL);
	struct dirent *de;

	while (d != NULL && qmgr_has_room(q) && !svc_stopping(q->service) &&
	       (de = readdir(d)) != NULL) {
		if (!orphan(q, d, de->d_name, now))
			continue;
		log_warn("%s: found in %s/ without an owner: delivering it in recover mode",
			 de->d_name, Q_ACTIVE);
		qmgr_take(q, Q_ACTIVE, de->d_name, true);
	}
	if (d != NULL)
		closedir(d);
	free(dir);
	if (q->orphan_ticks++ % REASONS_SWEEP_TICKS == 0)
		sweep_reasons(q);
}

/* ---- directory passes ---- */

/* dir_mtime: of the open directory; {-1, -1} (never equal) on error. */
static struct timespec dir_mtime(DIR *d)
{
	struct stat st;
	struct timespec none = { -1, -1 };

	return fstat(dirfd(d), &st) == 0 ? st.st_mtim : none;
}

static void on_recheck(void *ctx)
{
	struct qmgr *q = ctx;

	q->recheck_armed = false;
	q->incoming.again = true;
	qmgr_kick(q);
}

static void on_scan_retry(void *ctx)
{
	struct qmgr_scan *sc = ctx;

	sc->again = true;
	qmgr_kick(sc->q);
}

/* plan_retry: a pass in which a file could not be moved into active/ (a
 * full disk: the directory needs a block) is followed by another after
 * 2, 4, 8, 16 and then every 30 s while that goes on, so such mail moves
 * on once there is room, not at the next trigger or queue run. */
static void plan_retry(struct qmgr *q, struct qmgr_scan *sc)
{
	uint64_t ms;

	if (!sc->take_failed) {
		sc->failed_passes = 0;
		return;
	}
	sc->take_failed = false;
	ms = (uint64_t)qmgr_limbo_delay(++sc->failed_passes) * 1000;
	if (sc->retry == NULL)
		sc->retry = ev_timer_add(q->loop, ms, false, on_scan_retry, sc);
	else
		ev_timer_reset(sc->retry, ms);
}

static void on_due(void *ctx)
{
	struct qmgr *q = ctx;

	q->due_at = 0;
	q->deferred.again = true;
	qmgr_kick(q);
}

void qmgr_deferred_due(struct qmgr *q, time_t when)
{
	time_t now = time(NULL), floor = q->deferred.pass_start.tv_sec + DUE_MIN_GAP;
	uint64_t ms;

	if (when < floor)
		when = floor;
	if (when >= now + q->run_delay || (q->due_at != 0 && q->due_at <= when))
		return;
	q->due_at = when > now ? when : now;
	ms = (uint64_t)(q->due_at - now) * 1000 + 100;
	if (q->due_timer == NULL)
		q->due_timer = ev_timer_add(q->loop, ms, false, on_due, q);
	else
		ev_timer_reset(q->due_timer, ms);
}

/* pass_end: a file renamed into incoming/ while its pass ran may have
 * been missed: look again a moment later (not at once: during a busy
 * time every pass changes the directory). */
static void pass_end(struct qmgr *q, struct qmgr_scan *sc)
{
	struct timespec now = dir_mtime(sc->dir);

	plan_retry(q, sc);
	if (sc != &q->incoming || q->recheck_armed ||
	    (now.tv_sec == sc->dir_mtime.tv_sec && now.tv_nsec == sc->dir_mtime.tv_nsec &&
	     now.tv_sec != -1))
		return;
	q->recheck_armed = true;
	if (q->recheck == NULL)
		q->recheck = ev_timer_add(q->loop, RECHECK_MS, false, on_recheck, q);
	else
		ev_timer_reset(q->recheck, RECHECK_MS);
}

static bool scan_open(struct qmgr *q, struct qmgr_scan *sc)
{
	char *dir;

	if (sc->dir != NULL)
		return true;
	if (!sc->again)
		return false;
	sc->again = false;
	sc->flush = sc->flush_wanted;
	sc->flush_wanted = false;
	clock_gettime(CLOCK_REALTIME, &sc->pass_start);
	dir = fs_join(q->queue_dir, sc->sub);
	sc->dir = opendir(dir);
	if (sc->dir == NULL)
		log_warn("cannot scan %s: %s", dir, strerror(errno));
	else
		sc->dir_mtime = dir_mtime(sc->dir);
	free(dir);
	return sc->dir != NULL;
}

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* due: a deferred file whose retry time has come; in a flush pass also
 * every file not renamed (deferred again) since the pass began. One that
 * is due before the next queue run gets a pass of its own then (a qmgr
 * started since it was deferred knows it only from here). */
static bool due(struct qmgr_scan *sc, const char *name)
{
	struct stat st;

	if (strcmp(sc->sub, Q_DEFERRED) != 0)
		return true;
	if (fstatat(dirfd(sc->dir), name, &st, 0) < 0)
		return false;
	if (st.st_mtime <= time(NULL))
		return true;
	if (sc->flush && ts_before(&st.st_ctim, &sc->pass_start))
		return true;
	qmgr_deferred_due(sc->q, st.st_mtime);
	return false;
}

/* scan_step: up to SCAN_CHUNK entries; true when the pass has more. */
static bool scan_step(struct qmgr *q, struct qmgr_scan *sc)
{
	struct dirent *de;

	if (!scan_open(q, sc))
		return false;
	for (int i = 0; i < SCAN_CHUNK && qmgr_has_room(q); i++) {
		errno = 0;
		de = readdir(sc->dir);
		if (de == NULL) {
			if (errno != 0)
				log_warn("reading %s/: %s", sc->sub, strerror(errno));
			pass_end(q, sc);
			closedir(sc->dir);
			sc->dir = NULL;
			return sc->again;
		}
		if (q_id_valid(de->d_name) && due(sc, de->d_name))
			qmgr_take(q, sc->sub, de->d_name, false);
	}
	return true;
}

static void on_work(void *ctx)
{
	struct qmgr *q = ctx;
	bool more = false;

	q->work_armed = false;
	if (svc_stopping(q->service))
		return;
	more = take_recovered(q);
	if (qmgr_has_room(q))
		more |= scan_step(q, &q->incoming);
	if (qmgr_has_room(q))
		more |= scan_step(q, &q->deferred);
	if (more && qmgr_has_room(q))
		qmgr_kick(q);
}

void qmgr_kick(struct qmgr *q)
{
	if (q->work_armed || svc_stopping(q->service))
		return;
	q->work_armed = true;
	ev_timer_reset(q->work, 0);
}

static void on_deferred_timer(void *ctx)
{
	struct qmgr *q = ctx;

	q->deferred.again = true;
	qmgr_kick(q);
}

void qmgr_scan_init(struct qmgr *q)
{
	q->incoming.sub = Q_INCOMING;
	q->deferred.sub = Q_DEFERRED;
	q->incoming.q = q->deferred.q = q;
	q->incoming.again = q->deferred.again = true;
	read_active_names(q);
	q->work = ev_timer_add(q->loop, 0, false, on_work, q);
	q->work_armed = true;
	q->deferred_timer = ev_timer_add(q->loop, (uint64_t)q->run_delay * 1000, true,
					 on_deferred_timer, q);
	q->orphan_timer = ev_timer_add(q->loop, ORPHAN_SCAN_MS, true, on_orphan_timer, q);
}
