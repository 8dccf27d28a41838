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
 * deferred/ the next queue run finds it. */
#include "qmgr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "mem.h"

#define SCAN_CHUNK 256
/* Delay of the extra pass over incoming/ after one it changed under. */
#define RECHECK_MS 1000

bool qmgr_has_room(const struct qmgr *q)
{
	return q->nactive < q->active_limit;
}

/* park_unreadable: a file we cannot open (EMFILE, EACCES, ...) is not
 * corrupt: it goes back to deferred/ for a later try. */
static void park_unreadable(struct qmgr *q, const char *id, const char *path)
{
	struct timespec times[2] = { { 0, UTIME_OMIT }, { time(NULL) + q->min_backoff, 0 } };

	utimensat(AT_FDCWD, path, times, 0);
	if (q_move(q->queue_dir, id, Q_ACTIVE, Q_DEFERRED) < 0)
		log_warn("%s: cannot move to %s/: %s", id, Q_DEFERRED, strerror(errno));
}

static void move_corrupt(struct qmgr *q, const char *id, const char *err)
{
	if (q_move(q->queue_dir, id, Q_ACTIVE, Q_CORRUPT) < 0)
		log_warn("%s: corrupt queue file (%s), and cannot move it to %s/: %s", id, err,
			 Q_CORRUPT, strerror(errno));
	else
		log_warn("%s: corrupt queue file (%s): moved to %s/", id, err, Q_CORRUPT);
}

bool qmgr_take(struct qmgr *q, const char *sub, const char *id, bool recover)
{
	struct q_msg *msg = NULL;
	char *path, *err = NULL;
	int fd;

	if (strcmp(sub, Q_ACTIVE) != 0 && q_move(q->queue_dir, id, sub, Q_ACTIVE) < 0) {
		if (errno != ENOENT)
			log_warn("%s: cannot move from %s/ to %s/: %s", id, sub, Q_ACTIVE,
				 strerror(errno));
		return false;
	}
	path = q_path(q->queue_dir, Q_ACTIVE, id);
	if (q_msg_open(path, &msg, &err) < 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			log_warn("%s: cannot open queue file: %s", id, err);
			park_unreadable(q, id, path);
		} else {
			close(fd);
			move_corrupt(q, id, err);
		}
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

static void take_recovered(struct qmgr *q)
{
	while (q->recover_pos < q->nrecover && qmgr_has_room(q)) {
		char *id = q->recover_ids[q->recover_pos++];

		qmgr_take(q, Q_ACTIVE, id, true);
		free(id);
	}
	if (q->recover_pos == q->nrecover && q->recover_ids != NULL) {
		free(q->recover_ids);
		q->recover_ids = NULL;
		q->nrecover = q->recover_pos = 0;
	}
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

/* pass_end: a file renamed into incoming/ while its pass ran may have
 * been missed: look again a moment later (not at once: during a busy
 * time every pass changes the directory). */
static void pass_end(struct qmgr *q, struct qmgr_scan *sc)
{
	struct timespec now = dir_mtime(sc->dir);

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
 * every file not renamed (deferred again) since the pass began. */
static bool due(struct qmgr_scan *sc, const char *name)
{
	struct stat st;

	if (strcmp(sc->sub, Q_DEFERRED) != 0)
		return true;
	if (fstatat(dirfd(sc->dir), name, &st, 0) < 0)
		return false;
	if (st.st_mtime <= time(NULL))
		return true;
	return sc->flush && ts_before(&st.st_ctim, &sc->pass_start);
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
	take_recovered(q);
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
	q->incoming.again = q->deferred.again = true;
	read_active_names(q);
	q->work = ev_timer_add(q->loop, 0, false, on_work, q);
	q->work_armed = true;
	q->deferred_timer = ev_timer_add(q->loop, (uint64_t)q->run_delay * 1000, true,
					 on_deferred_timer, q);
}
