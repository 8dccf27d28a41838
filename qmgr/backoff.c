/* backoff.c: qmgr's retry arithmetic and small classifications (see
 * logic.h): when a deferred message is due again (sooner when it waits
 * for disk space here), when it has been queued too long, when a failed
 * state change of a queue file is tried again, and what class a DSN
 * status is. No I/O, no state. */
#include "logic.h"

#include <string.h>

#include "q.h"

time_t qmgr_next_retry(time_t now, time_t arrival, long long min_backoff, long long max_backoff)
{
	long long age = (long long)now - (long long)arrival;

	if (max_backoff < min_backoff)
		max_backoff = min_backoff;
	if (age < min_backoff)
		age = min_backoff;
	if (age > max_backoff)
		age = max_backoff;
	return now + (time_t)age;
}

time_t qmgr_storage_retry(time_t now, time_t backoff_next)
{
	time_t soon = now + QMGR_STORAGE_RETRY;

	return backoff_next < soon ? backoff_next : soon;
}

long long qmgr_limbo_delay(int tries)
{
	long long delay = QMGR_LIMBO_FIRST_DELAY;

	for (int i = 1; i < tries && delay < QMGR_LIMBO_MAX_DELAY; i++)
		delay *= 2;
	return delay < QMGR_LIMBO_MAX_DELAY ? delay : QMGR_LIMBO_MAX_DELAY;
}

bool qmgr_expired(time_t now, time_t arrival, long long lifetime)
{
	return (long long)now - (long long)arrival >= lifetime;
}

int qmgr_dsn_class(const char *status)
{
	if (status == NULL || strlen(status) < 5 || status[1] != '.')
		return 4;
	if (status[0] == '2' || status[0] == '5')
		return status[0] - '0';
	return 4;
}

long long qmgr_lifetime(const char *sender, long long lifetime, long long bounce_lifetime)
{
	return *sender == '\0' ? bounce_lifetime : lifetime;
}

bool qmgr_delay_due(time_t now, time_t arrival, long long warn_after)
{
	return warn_after > 0 && (long long)now - (long long)arrival >= warn_after;
}

bool qmgr_wants_delay(int notify, long long warn_after)
{
	return warn_after > 0 && (notify == 0 || (notify & Q_NOTIFY_DELAY) != 0);
}

bool qmgr_wants_success(int notify)
{
	return (notify & Q_NOTIFY_SUCCESS) != 0;
}

const char *qmgr_rcpt_domain(const char *address)
{
	const char *at = strrchr(address, '@');

	return at != NULL ? at + 1 : "";
}
