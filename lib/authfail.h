/* authfail.h: a server's memory of failed logins per client address
 * (smtpd AUTH, pop3d USER/PASS and AUTH), for the slow-down and cut-off of
 * password guessing. A fixed number of slots (the least recently seen
 * address gives way), so an attacker with many addresses costs bounded
 * memory. A shared table (authfail_new_shared, authfail_from_cfg) lives in
 * a file every process of a service maps, so an attacker gets no fresh
 * count from the next process; a private one (authfail_new) is per
 * process. The time is passed in (CLOCK_MONOTONIC ms, as ev_now_ms). */
#ifndef POSTERN_AUTHFAIL_H
#define POSTERN_AUTHFAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct authfail authfail;

/* authfail_new: slots > 0; limit failures within window_ms cut an address
 * off; the nth failure's reply waits base_delay_ms * 2^(n-1), at most
 * AUTHFAIL_MAX_FACTOR * base_delay_ms. */
#define AUTHFAIL_MAX_FACTOR 30
authfail *authfail_new(size_t slots, unsigned limit, uint64_t window_ms,
		       uint64_t base_delay_ms);
/* authfail_new_shared: the same table, kept in the file path (made, or
 * reset when it has another layout) and shared by every process that
 * opens it; falls back to a private table, with a log_warn, when the file
 * cannot be used. Never NULL. */
authfail *authfail_new_shared(const char *path, size_t slots, unsigned limit,
			      uint64_t window_ms, uint64_t base_delay_ms);
/* authfail_from_cfg: the table shared by the processes of one service
 * (its master.cf name): $queue_directory/private/authfail.<service>,
 * AUTHFAIL_SERVICE_SLOTS addresses, with the keys
 * <prefix>_auth_failure_limit, _window and _delay ("smtpd", "pop3d"),
 * which master.cf may set per service. */
#define AUTHFAIL_SERVICE_SLOTS 1024
struct cfg;
authfail *authfail_from_cfg(struct cfg *c, const char *prefix, const char *service);
void authfail_free(authfail **a);

/* authfail_blocked: ip reached the limit and its window has not passed. */
bool authfail_blocked(authfail *a, const char *ip, uint64_t now_ms);
/* authfail_record: counts one failure of ip at now_ms; returns the delay
 * for the failure reply (ms) and sets *cut_r when the limit is reached. */
uint64_t authfail_record(authfail *a, const char *ip, uint64_t now_ms, bool *cut_r);
/* authfail_count: failures of ip in the current window (for logs, tests). */
unsigned authfail_count(authfail *a, const char *ip, uint64_t now_ms);

#endif
