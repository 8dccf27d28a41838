/* authfail.h: a server's memory of failed logins per client address
 * (smtpd AUTH, pop3d USER/PASS and AUTH), for the slow-down and cut-off of
 * password guessing. A fixed number of slots (the least recently seen
 * address gives way), so an attacker with many addresses costs bounded
 * memory; each server process has its own table. Pure logic with the time passed in, unit tested alone. */
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
void authfail_free(authfail **a);

/* authfail_blocked: ip reached the limit and its window has not passed. */
bool authfail_blocked(authfail *a, const char *ip, uint64_t now_ms);
/* authfail_record: counts one failure of ip at now_ms; returns the delay
 * for the failure reply (ms) and sets *cut_r when the limit is reached. */
uint64_t authfail_record(authfail *a, const char *ip, uint64_t now_ms, bool *cut_r);
/* authfail_count: failures of ip in the current window (for logs, tests). */
unsigned authfail_count(authfail *a, const char *ip, uint64_t now_ms);

#endif
