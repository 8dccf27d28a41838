/* dnsmasq.h: a private dnsmasq for the unit tests that need a real DNS
 * server (test_dns, test_nexthop, the SPF, DKIM and DMARC lookups): started on a free loopback port with
 * the test's records as dnsmasq options, waited for, and stopped. Uses
 * cmocka's asserts, so only for tests. */
#ifndef POSTERN_TEST_DNSMASQ_H
#define POSTERN_TEST_DNSMASQ_H

#include <stdbool.h>
#include <sys/types.h>

#include "dns.h"

#define DNSMASQ "/usr/sbin/dnsmasq"

/* dnsmasq_free_udp_port: a free UDP port on 127.0.0.1; with fd_r the
 * socket stays bound (a server that never answers), else it is closed. */
int dnsmasq_free_udp_port(int *fd_r);
/* dnsmasq_run: starts dnsmasq on 127.0.0.1:port with the records (NULL
 * ended) and waits until it answers; 0 with the pid, or -1 (logged on
 * stderr) when it is missing or does not come up. */
int dnsmasq_run(int port, const char *const *records, pid_t *pid_r);
/* dnsmasq_start: dnsmasq_run on a free port, tried again on another
 * when a test running in parallel took the port first (up to
 * DNSMASQ_TRIES); 0 with *port_r and *pid_r, or -1. */
#define DNSMASQ_TRIES 5
int dnsmasq_start(const char *const *records, int *port_r, pid_t *pid_r);
void dnsmasq_stop(pid_t *pid);
/* dnsmasq_resolver: a lib/dns resolver on loop asking 127.0.0.1:port
 * (the test's dnsmasq, or a silent port); fails the test if it cannot be
 * made. */
dns_resolver *dnsmasq_resolver(ev_loop *loop, int port, unsigned timeout_ms, unsigned retries,
			       unsigned cache_max);

#endif
