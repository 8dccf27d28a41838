/* qfilter.h: which queued messages an admin command acts on (mailctl
 * queue list, flush, hold, release, requeue, delete with --domain,
 * --sender, --older-than). The conditions combine with AND; an empty
 * filter matches every message. Matching is pure (unit tested): it looks
 * at a parsed envelope and the time, never at the disk. */
#ifndef POSTERN_QFILTER_H
#define POSTERN_QFILTER_H

#include <stdbool.h>
#include <time.h>

#include "q.h"

struct qfilter {
	const char *domain; /* a pending recipient is in this domain, or NULL */
	const char *sender; /* the envelope sender ("<>" or "" = null sender), or NULL */
	long long older_than; /* arrived at least this many seconds ago; -1 = any */
};

/* qfilter_init: the empty filter. */
void qfilter_init(struct qfilter *f);
/* qfilter_empty: no condition is set. */
bool qfilter_empty(const struct qfilter *f);
/* qfilter_parse_age: "90", "30m", "2h", "1d", "1w" (main.cf's time
 * syntax) into seconds; 0, or -1 with *err_r (heap). */
int qfilter_parse_age(const char *text, long long *secs_r, char **err_r);
/* qfilter_match: whether env satisfies every condition at time now.
 * Domains and senders compare without regard to ASCII case; the domain
 * is what follows the last '@' of a recipient still pending. */
bool qfilter_match(const struct qfilter *f, const struct q_envelope *env, time_t now);

#endif
