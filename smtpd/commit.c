/* commit.c: commits queue files on a few worker threads so their fsyncs
 * overlap (the disks here do ~10,000 concurrent fsyncs/s but ~1,400 in one
 * serial stream) and the event loop never waits for one. A worker runs
 * q_writer_commit (flush, fsync, rename into incoming/) and puts the job on
 * the unsynced list. Group commit of incoming/: if no fsync of incoming/
 * is running, that worker becomes the syncer: it takes the whole unsynced
 * list (the batch), fsyncs incoming/ once for all of it, hands the batch
 * to the loop through an eventfd, and goes on while jobs arrived in the
 * meantime (their renames may have come after its fsync began, so they
 * need one of their own). The loop only calls back, which sends the 250s:
 * every job it sees has its file and its directory entry on disk. The
 * threads touch nothing but the q_writer and the job; all session state
 * stays on the loop thread, and only the loop logs. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "commit.h"
#include "log.h"
#include "mem.h"

#define COMMIT_THREADS 8

struct commit_job {
	struct commit_job *next;
	q_writer *writer;
	void *owner; /* NULL once the owner is gone (commit_forget) */
	int rc;
	char *err;
	int sync_errno; /* 0, or why the fsync of incoming/ failed */
};

struct committer {
	char *queue_dir;
	commit_done_fn *done;
	ev_io *io;
	int event_fd;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct commit_job *todo, *todo_tail; /* for the workers, FIFO */
	struct commit_job *unsynced; /* renamed, waiting for the incoming/ fsync */
	bool syncing; /* a worker is fsyncing incoming/ */
	struct commit_job *finished; /* back from the workers */
};

static struct commit_job *take_job(struct committer *c)
{
	struct commit_job *job;

	pthread_mutex_lock(&c->lock);
	while (c->todo == NULL)
		pthread_cond_wait(&c->wake, &c->lock);
	job = c->todo;
	c->todo = job->next;
	if (c->todo == NULL)
		c->todo_tail = NULL;
	pthread_mutex_unlock(&c->lock);
	return job;
}

static void wake_loop(struct committer *c)
{
	uint64_t one = 1;

	if (write(c->event_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		abort(); /* cannot happen with an eventfd; never log from here */
}

/* finish_batch: moves the jobs of a list to finished (lock held). */
static void finish_batch(struct committer *c, struct commit_job *batch, int sync_errno)
{
	while (batch != NULL) {
		struct commit_job *job = batch;

		batch = job->next;
		job->sync_errno = sync_errno;
		job->next = c->finished;
		c->finished = job;
	}
}

/* sync_batches: the syncer's loop, entered and left with the lock held;
 * the lock is dropped around each fsync and each wake-up of the loop. */
static void sync_batches(struct committer *c)
{
	c->syncing = true;
	while (c->unsynced != NULL) {
		struct commit_job *batch = c->unsynced;

		c->unsynced = NULL;
		pthread_mutex_unlock(&c->lock);
		int sync_errno = q_sync_dir(c->queue_dir, Q_INCOMING) < 0 ? errno : 0;
		pthread_mutex_lock(&c->lock);
		finish_batch(c, batch, sync_errno);
		pthread_mutex_unlock(&c->lock);
		wake_loop(c);
		pthread_mutex_lock(&c->lock);
	}
	c->syncing = false;
}

/* worker: a failed commit goes back at once (there is nothing to sync);
 * a committed one waits for an fsync of incoming/, run by this worker
 * when no other is running one. */
static void *worker(void *arg)
{
	struct committer *c = arg;

	for (;;) {
		struct commit_job *job = take_job(c);
		bool failed;

		job->rc = q_writer_commit(&job->writer, &job->err);
		failed = job->rc != 0;
		struct commit_job **list = failed ? &c->finished : &c->unsynced;

		pthread_mutex_lock(&c->lock);
		job->next = *list;
		*list = job;
		if (!failed && !c->syncing)
			sync_batches(c);
		pthread_mutex_unlock(&c->lock);
		if (failed)
			wake_loop(c);
	}
	return NULL;
}

/* collect: the finished jobs, oldest first. */
static struct commit_job *collect(struct committer *c)
{
	struct commit_job *list, *job, *out = NULL;

	pthread_mutex_lock(&c->lock);
	list = c->finished;
	c->finished = NULL;
	pthread_mutex_unlock(&c->lock);
	while (list != NULL) {
		job = list;
		list = list->next;
		job->next = out;
		out = job;
	}
	return out;
}

static void on_event(void *ctx, int fd, int events)
{
	struct committer *c = ctx;
	struct commit_job *job, *next;
	uint64_t count;
	(void)events;

	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("commit eventfd: %s", strerror(errno));
	for (job = collect(c); job != NULL; job = next) {
		bool ok = job->rc == 0 && job->sync_errno == 0;

		next = job->next;
		if (job->rc == 0 && job->sync_errno != 0)
			log_warn("cannot fsync %s/%s: %s", c->queue_dir, Q_INCOMING,
				 strerror(job->sync_errno));
		if (job->owner != NULL)
			c->done(job->owner, ok, job->err);
		else if (ok)
			log_info("a message was committed after its client left");
		free(job->err);
		free(job);
	}
}

committer *commit_new(ev_loop *loop, const char *queue_dir, commit_done_fn *done)
{
	struct committer *c = xcalloc(1, sizeof(*c));
	sigset_t all, old;

	c->queue_dir = xstrdup(queue_dir);
	c->done = done;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	c->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->event_fd < 0)
		log_fatal("eventfd: %s", strerror(errno));
	c->io = ev_io_add(loop, c->event_fd, EV_READ, on_event, c);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old); /* signals stay with the loop */
	for (int i = 0; i < COMMIT_THREADS; i++) {
		pthread_t t;
		int rc = pthread_create(&t, NULL, worker, c);
		if (rc != 0)
			log_fatal("cannot start a commit thread: %s", strerror(rc));
		pthread_detach(t);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return c;
}

void *commit_submit(committer *c, q_writer **writer, void *owner)
{
	struct commit_job *job = xcalloc(1, sizeof(*job));

	job->writer = *writer;
	*writer = NULL;
	job->owner = owner;
	pthread_mutex_lock(&c->lock);
	if (c->todo_tail != NULL)
		c->todo_tail->next = job;
	else
		c->todo = job;
	c->todo_tail = job;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	return job;
}

void commit_forget(committer *c, void *handle)
{
	struct commit_job *job = handle;

	(void)c;
	job->owner = NULL; /* only the loop thread reads owner; the job is freed
			    * when it comes back */
}
