/* nexthop.h: from a next hop (lib/route.h: a domain by MX, a [host] or an
 * address literal, a port) to the ordered list of addresses the smtp
 * client tries, asynchronously on lib/dns: MX by preference (random order
 * among equals), the A / AAAA records of each MX host per inet_protocols,
 * the host's own A / AAAA when it has no MX, null MX (RFC 7505), MX hosts
 * that are this host by name (Postfix's "mail loops back to myself"), and
 * the Postfix texts for what goes wrong. Also a non-blocking connect to
 * one of the addresses. It does not connect to several addresses in turn
 * and does not cache anything itself (lib/dns does). */
#ifndef POSTERN_NEXTHOP_H
#define POSTERN_NEXTHOP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "dns.h"
#include "ev.h"
#include "route.h"

/* inet_protocols as flags */
#define NEXTHOP_INET4 1
#define NEXTHOP_INET6 2
#define NEXTHOP_INET_ALL (NEXTHOP_INET4 | NEXTHOP_INET6)

#define NEXTHOP_DEFAULT_PORT 25
#define NEXTHOP_DEFAULT_ADDRESS_LIMIT 5

/* One address to try. host is the MX host name (or the next hop's own host
 * name, or the literal's text); sa holds the address with the next hop's
 * port already set (25 unless given); addr is the address printed
 * ("192.0.2.1", "2001:db8::1"), for "host H[A]" texts. pref is the MX
 * preference (0 when there was no MX). */
struct nexthop_addr {
	char host[256];
	char addr[46];
	struct sockaddr_storage sa;
	socklen_t salen;
	unsigned pref;
};

enum nexthop_status {
	NEXTHOP_OK, /* naddrs >= 1 */
	NEXTHOP_NOTFOUND, /* no such domain / host: 5.1.2 (4.4.3 for a relayhost) */
	NEXTHOP_NULLMX, /* the domain says it takes no mail: 5.1.10 */
	NEXTHOP_TEMPFAIL, /* DNS trouble: 4.4.3 */
	NEXTHOP_LOOP, /* the best MX is this host (self_name): 5.4.6 */
};

/* The outcome. dsn ("5.1.2") and reason (Postfix's text, without the
 * status) are set for every status but NEXTHOP_OK (NULL then); addrs holds
 * naddrs addresses in the order to try them (NULL / 0 unless OK). */
struct nexthop_result {
	enum nexthop_status status;
	char *dsn;
	char *reason;
	struct nexthop_addr *addrs;
	size_t naddrs;
};

/* loop: the event loop dns runs on (required: answers that need no DNS,
 * address literals, are handed over from a zero timer on it).
 * inet_protocols: NEXTHOP_INET4 and / or NEXTHOP_INET6 (0 = both).
 * max_addrs: smtp_mx_address_limit, the most addresses in a result (0 = no
 * limit). relayhost: the next hop is the relayhost (or a transport's
 * fixed next hop); "not found" then defers (4.4.3) as in Postfix, which
 * takes a relayhost that does not resolve for a local misconfiguration.
 * self_name: this host's name (myhostname) or NULL: an MX host of that
 * name, and every MX host not better than it, is dropped (this host is a
 * backup MX: only better ones may take the mail); when none is left the
 * result is NEXTHOP_LOOP, "mail for D loops back to myself". It must
 * outlive the query (the other fields are copied). */
struct nexthop_opts {
	ev_loop *loop;
	int inet_protocols;
	unsigned max_addrs;
	bool relayhost;
	const char *self_name;
};

typedef struct nexthop_query nexthop_query;
/* The answer; res and what it points to live only during the call
 * (nexthop_result_dup to keep it). The query is finished and freed when
 * cb runs: forget the handle then, do not cancel it. */
typedef void nexthop_cb(void *ctx, const struct nexthop_result *res);

/* nexthop_resolve: resolves hop into the addresses to try, by these rules:
 * - an address literal as host ("192.0.2.1", "2001:db8::1",
 *   "ipv6:2001:db8::1") needs no DNS (but inet_protocols still applies:
 *   an IPv6 literal with ipv4 only is NOTFOUND);
 * - hop->mx false ("[host]"): the A / AAAA records of host;
 * - hop->mx true: the MX records of host, sorted by preference, equal
 *   preferences shuffled (dns_mx_shuffle); the A / AAAA of each MX host in
 *   parallel, IPv6 before IPv4 for one host when both are wanted (as
 *   Postfix does with smtp_address_preference = any: within a host we keep
 *   the DNS order, AAAA first); a host whose address lookups fail
 *   temporarily or find nothing is skipped, unless no host gives an
 *   address: then TEMPFAIL if any lookup failed temporarily, else
 *   NOTFOUND. An MX answer of no data or NXDOMAIN falls back to the A /
 *   AAAA of host itself; a null MX gives NULLMX; an MX TEMPFAIL gives
 *   TEMPFAIL (no fallback: RFC 5321 5.1).
 * - NXDOMAIN everywhere (or no A / AAAA data): NOTFOUND.
 * The callback always runs later from the loop, never from inside
 * nexthop_resolve, exactly once unless cancelled. hop->host must not be
 * NULL (the recipient's domain is the caller's default). hop and opts are
 * copied. */
nexthop_query *nexthop_resolve(dns_resolver *dns, const struct route_nexthop *hop,
			       const struct nexthop_opts *opts, nexthop_cb *cb, void *ctx);
/* nexthop_cancel: stops the query and its DNS lookups; the callback will
 * not run. Sets *q to NULL; NULL is allowed. From inside the query's own
 * callback it only clears *q (the query goes when the callback returns);
 * after the callback returned the handle is stale: do not pass it. */
void nexthop_cancel(nexthop_query **q);

/* nexthop_parse_inet_protocols: "all", "ipv4", "ipv6", "ipv4, ipv6" (any
 * order, commas or white space) into NEXTHOP_INET4 / NEXTHOP_INET6 flags.
 * Returns 0, or -1 with *err_r (heap) for an empty list or another word. */
int nexthop_parse_inet_protocols(const char *value, int *flags_r, char **err_r);

/* nexthop_connect: starts a non-blocking TCP connect to a (to port, or to
 * the port already in a->sa when port is 0). *fd_r is then a non-blocking,
 * close-on-exec socket whose connect is done or in progress: watch it for
 * EV_WRITE (bounded by smtp_connect_timeout), then nexthop_connect_result
 * says how it went, and smtpc_start takes the connected fd. (smtpc_start
 * also accepts a connect in progress, but a failed connect then looks like
 * an I/O error at the greeting, without Postfix's "connect to" text.)
 * Returns 0, or -1 with *err_r (heap) in Postfix's words: "connect to
 * H[A]:P: Network is unreachable". */
int nexthop_connect(const struct nexthop_addr *a, int port, int *fd_r, char **err_r);
/* nexthop_connect_result: after the fd became writable: 0 when connected,
 * else -1 with *err_r (heap): "connect to H[A]:P: Connection refused". */
int nexthop_connect_result(const struct nexthop_addr *a, int port, int fd, char **err_r);
/* nexthop_connect_error: "connect to H[A]:P: <strerror(err)>" (heap), e.g.
 * for a timeout: nexthop_connect_error(a, port, ETIMEDOUT) gives "...:
 * Connection timed out". */
char *nexthop_connect_error(const struct nexthop_addr *a, int port, int err);

/* nexthop_addr_port: the port in a->sa. */
int nexthop_addr_port(const struct nexthop_addr *a);
/* nexthop_addr_relay: "host[addr]:port" (heap), the relay= of log lines. */
char *nexthop_addr_relay(const struct nexthop_addr *a);

struct nexthop_result *nexthop_result_dup(const struct nexthop_result *res);
void nexthop_result_free(struct nexthop_result **res);

const char *nexthop_status_name(enum nexthop_status st);

#endif
