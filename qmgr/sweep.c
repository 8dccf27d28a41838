/* sweep.c: qmgr's cleanup of the queue's tmp/ directory. Writers killed
 * before their commit (smtpd under SIGKILL) leave files there that nothing
 * else removes; lib/qsweep.c removes the ones no writer holds once they are
 * queue_tmp_max_age old. qmgr sweeps at start and on a timer; the state is
 * this file's own, so qmgr.c only calls qmgr_sweep_init. */
#include <stdlib.h>

#include "log.h"
#include "qmgr.h"
#include "qsweep.h"

#define SWEEP_MIN_PERIOD_MS 1000
#define SWEEP_MAX_PERIOD_MS 60000

static struct {
	const char *queue_dir;
	long long max_age;
	ev_timer *timer;
} sweep_state;

static void sweep_run(void)
{
	char *err = NULL;

	if (q_tmp_sweep(sweep_state.queue_dir, NULL, sweep_state.max_age, NULL, &err) < 0) {
		log_warn("%s", err);
		free(err);
	}
}

static void on_sweep_timer(void *ctx)
{
	(void)ctx;
	sweep_run();
}

/* sweep_period_ms: a quarter of the max age, within 1 s .. 60 s, so a
 * left-over file goes within about 1.25 max ages, and a long max age
 * still gets a prompt first sweep of files that reached it meanwhile. */
static unsigned long long sweep_period_ms(long long max_age)
{
	unsigned long long ms = (unsigned long long)max_age * 1000 / 4;

	if (ms < SWEEP_MIN_PERIOD_MS)
		return SWEEP_MIN_PERIOD_MS;
	return ms > SWEEP_MAX_PERIOD_MS ? SWEEP_MAX_PERIOD_MS : ms;
}

void qmgr_sweep_init(struct qmgr *q)
{
	sweep_state.queue_dir = q->queue_dir;
	sweep_state.max_age = cfg_get_int(q->config, "queue_tmp_max_age");
	sweep_run();
	sweep_state.timer = ev_timer_add(q->loop, sweep_period_ms(sweep_state.max_age), true,
					 on_sweep_timer, NULL);
}
