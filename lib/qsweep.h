/* qsweep.h: the queue's tmp/ sweeper. A writer killed while it wrote a
 * queue file (smtpd under SIGKILL, a crash) leaves its file in tmp/, where
 * nothing reads it; files recycled into the pool (q.h) may sit idle there
 * too. q_tmp_sweep removes both once they are old and no writer holds
 * them. qmgr runs it at start and on a timer (qmgr/sweep.c). */
#ifndef POSTERN_QSWEEP_H
#define POSTERN_QSWEEP_H

#include <time.h>

struct q_sweep_counts {
	int writers; /* left-over writer files removed */
	int pool; /* idle pool files removed */
	long long bytes; /* their sizes, summed */
	int busy; /* old enough but locked by a live writer: kept */
	int young; /* younger than max_age: kept */
	int other; /* not a regular file: kept, with a warning */
};

/* q_tmp_sweep: removes each regular file in $queue_dir/tmp whose ctime is
 * at least max_age seconds before *now (CLOCK_REALTIME; NULL = the current
 * time) and that it can flock (a writer holds its lock until commit or
 * abort, q.h), after checking that the name still names the locked file.
 * Every writer file removed gets a log line (name, age, size); idle pool
 * files get one summary line; other entries are kept and warned about.
 * Counts go to *counts_r (may be NULL). 0, or -1 with *err_r (heap) when
 * tmp/ cannot be read. */
int q_tmp_sweep(const char *queue_dir, const struct timespec *now, long long max_age,
		struct q_sweep_counts *counts_r, char **err_r);

#endif
