/* nexthop.c: next hop resolution of nexthop.h. A query is a small state
 * machine: an optional MX lookup, then the A and / or AAAA lookups of every
 * host to try (the MX hosts, or the next hop's own host), all in flight at
 * once; when the last answer is in, the addresses are put in order (MX
 * preference, then the order of the MX list after dns_mx_shuffle, AAAA
 * before A within one host) and handed to the callback. Address literals
 * skip DNS and answer from a zero timer. The query owns every dns_query it
 * started and cancels them when it is cancelled itself. */
#include "nexthop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "mem.h"
#include "sock.h"

/* More MX hosts than this are not looked up (smtp_mx_address_limit
 * usually stops far earlier). */
#define NEXTHOP_MAX_HOSTS 32

#define NOT_FOUND_PREFIX "Host or domain name not found. Name service error for "
#define TEXT_NXDOMAIN "Host not found"
#define TEXT_NODATA "Host found but no data record of requested type"
#define TEXT_TRY_AGAIN "Host not found, try again"

struct nexthop_query;

/* One address lookup (A or AAAA) of one host. */
struct family_lookup {
	struct host_lookup *host;
	enum dns_type type;
	dns_query *q;
	bool done;
	struct dns_result *res; /* kept until the end */
};

struct host_lookup {
	struct nexthop_query *nq;
	char name[256];
	unsigned pref;
	struct family_lookup fam[2]; /* [0] AAAA, [1] A */
};

struct nexthop_query {
	dns_resolver *dns;
	struct nexthop_opts opts;
	char *domain;
	int port;
	bool mx;
	nexthop_cb *cb;
	void *ctx;
	dns_query *mxq;
	ev_timer *later;
	struct host_lookup *hosts;
	size_t nhosts;
	size_t pending; /* family lookups not answered yet */
	bool delivering; /* inside cb: a cancel there is a no-op */
	struct nexthop_result res;
};

const char *nexthop_status_name(enum nexthop_status st)
{
	switch (st) {
	case NEXTHOP_OK:
		return "ok";
	case NEXTHOP_NOTFOUND:
		return "notfound";
	case NEXTHOP_NULLMX:
		return "nullmx";
	case NEXTHOP_TEMPFAIL:
		return "tempfail";
	case NEXTHOP_LOOP:
		return "loop";
	}
	return "?";
}

/* ---- results ---- */

static void result_clear(struct nexthop_result *res)
{
	free(res->dsn);
	free(res->reason);
	free(res->addrs);
	memset(res, 0, sizeof(*res));
}

static void result_fail(struct nexthop_result *res, enum nexthop_status st, const char *dsn,
			char *reason)
{
	result_clear(res);
	res->status = st;
	res->dsn = xstrdup(dsn);
	res->reason = reason;
}

struct nexthop_result *nexthop_result_dup(const struct nexthop_result *res)
{
	struct nexthop_result *d = xcalloc(1, sizeof(*d));

	d->status = res->status;
	d->dsn = res->dsn != NULL ? xstrdup(res->dsn) : NULL;
	d->reason = res->reason != NULL ? xstrdup(res->reason) : NULL;
	d->naddrs = res->naddrs;
	if (res->naddrs > 0) {
		d->addrs = xcalloc(res->naddrs, sizeof(*d->addrs));
		memcpy(d->addrs, res->addrs, res->naddrs * sizeof(*d->addrs));
	}
	return d;
}

void nexthop_result_free(struct nexthop_result **res)
{
	if (*res == NULL)
		return;
	result_clear(*res);
	free(*res);
	*res = NULL;
}

/* ---- addresses ---- */

static bool family_wanted(const struct nexthop_query *nq, int family)
{
	int want = nq->opts.inet_protocols != 0 ? nq->opts.inet_protocols : NEXTHOP_INET_ALL;

	return (want & (family == AF_INET6 ? NEXTHOP_INET6 : NEXTHOP_INET4)) != 0;
}

static bool list_full(const struct nexthop_query *nq)
{
	return nq->opts.max_addrs != 0 && nq->res.naddrs >= nq->opts.max_addrs;
}

/* add_addr: appends one address (family, 4 or 16 bytes) unless the list
 * is full or already has it. */
static void add_addr(struct nexthop_query *nq, const char *host, unsigned pref, int family,
		     const unsigned char *bytes)
{
	struct nexthop_result *res = &nq->res;
	struct nexthop_addr *a;

	if (list_full(nq))
		return;
	for (size_t i = 0; i < res->naddrs; i++) {
		const struct nexthop_addr *o = &res->addrs[i];
		const void *ob = o->sa.ss_family == AF_INET6
					 ? (const void *)&((const struct sockaddr_in6 *)&o->sa)->sin6_addr
					 : (const void *)&((const struct sockaddr_in *)&o->sa)->sin_addr;

		if (o->sa.ss_family == family && memcmp(ob, bytes, family == AF_INET6 ? 16 : 4) == 0)
			return;
	}
	res->addrs = xrealloc(res->addrs, (res->naddrs + 1) * sizeof(*res->addrs));
	a = &res->addrs[res->naddrs++];
	memset(a, 0, sizeof(*a));
	snprintf(a->host, sizeof(a->host), "%s", host);
	a->pref = pref;
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)nq->port);
		memcpy(&s6->sin6_addr, bytes, 16);
		a->salen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)nq->port);
		memcpy(&s4->sin_addr, bytes, 4);
		a->salen = sizeof(*s4);
	}
	inet_ntop(family, bytes, a->addr, sizeof(a->addr));
}

/* parse_literal: host is an address ("192.0.2.1", "2001:db8::1",
 * "ipv6:2001:db8::1"): its family and bytes. */
static bool parse_literal(const char *host, int *family_r, unsigned char bytes[16])
{
	if (strncasecmp(host, "ipv6:", 5) == 0) {
		*family_r = AF_INET6;
		return inet_pton(AF_INET6, host + 5, bytes) == 1;
	}
	if (inet_pton(AF_INET, host, bytes) == 1) {
		*family_r = AF_INET;
		return true;
	}
	*family_r = AF_INET6;
	return inet_pton(AF_INET6, host, bytes) == 1;
}

/* ---- finishing ---- */

static void query_free(nexthop_query *nq)
{
	dns_cancel(&nq->mxq);
	ev_timer_remove(&nq->later);
	for (size_t i = 0; i < nq->nhosts; i++) {
		for (int f = 0; f < 2; f++) {
			dns_cancel(&nq->hosts[i].fam[f].q);
			dns_result_free(&nq->hosts[i].fam[f].res);
		}
	}
	free(nq->hosts);
	result_clear(&nq->res);
	free(nq->domain);
	free(nq);
}

static void query_deliver(nexthop_query *nq)
{
	const struct nexthop_result *res = &nq->res;

	if (res->status == NEXTHOP_OK)
		log_debug("nexthop: %s: %zu address(es), first %s[%s]", nq->domain, res->naddrs,
			  res->addrs[0].host, res->addrs[0].addr);
	else
		log_debug("nexthop: %s: %s %s %s", nq->domain, nexthop_status_name(res->status),
			  res->dsn, res->reason);
	nq->delivering = true;
	nq->cb(nq->ctx, res);
	query_free(nq);
}

static void later_fired(void *ctx)
{
	nexthop_query *nq = ctx;

	ev_timer_remove(&nq->later);
	query_deliver(nq);
}

static void finish_hosts(nexthop_query *nq);

static void later_finish_fired(void *ctx)
{
	nexthop_query *nq = ctx;

	ev_timer_remove(&nq->later);
	finish_hosts(nq);
}

/* deliver_later: the result is ready before any DNS was asked. */
static void deliver_later(nexthop_query *nq)
{
	nq->later = ev_timer_add(nq->opts.loop, 0, false, later_fired, nq);
}

/* not_found_text: Postfix's words for a lookup of name and type that gave
 * what (TEXT_*). */
static char *not_found_text(const char *name, enum dns_type type, const char *what)
{
	return xasprintf(NOT_FOUND_PREFIX "name=%s type=%s: %s", name, dns_type_name(type), what);
}

/* the DNS type named in "not found" texts: A unless only IPv6 is used */
static enum dns_type text_type(const nexthop_query *nq)
{
	return family_wanted(nq, AF_INET) ? DNS_A : DNS_AAAA;
}

static void fail_not_found(nexthop_query *nq, const char *dsn, char *reason)
{
	result_fail(&nq->res, NEXTHOP_NOTFOUND, nq->opts.relayhost ? "4.4.3" : dsn, reason);
}

/* collect_host: appends a host's addresses, AAAA before A. */
static void collect_host(nexthop_query *nq, const struct host_lookup *h)
{
	for (int f = 0; f < 2; f++) {
		const struct dns_result *r = h->fam[f].res;

		if (r == NULL || r->status != DNS_FOUND)
			continue;
		for (size_t i = 0; i < r->count; i++)
			if (family_wanted(nq, r->rrs[i].family))
				add_addr(nq, h->name, h->pref, r->rrs[i].family, r->rrs[i].addr);
	}
}

/* first_failure: the first lookup of a host that ended in st (TEMPFAIL),
 * or NULL. */
static const struct family_lookup *first_failure(const nexthop_query *nq, enum dns_status st)
{
	for (size_t i = 0; i < nq->nhosts; i++)
		for (int f = 0; f < 2; f++) {
			const struct family_lookup *fl = &nq->hosts[i].fam[f];

			if (fl->res != NULL && fl->res->status == st)
				return fl;
		}
	return NULL;
}

/* finish_hosts: every address lookup is answered: the list, or why not. */
static void finish_hosts(nexthop_query *nq)
{
	const struct family_lookup *fl;
	const char *first = nq->nhosts > 0 ? nq->hosts[0].name : nq->domain;
	bool nxdomain = true;

	for (size_t i = 0; i < nq->nhosts && !list_full(nq); i++)
		collect_host(nq, &nq->hosts[i]);
	if (nq->res.naddrs > 0) {
		nq->res.status = NEXTHOP_OK;
		query_deliver(nq);
		return;
	}
	fl = first_failure(nq, DNS_TEMPFAIL);
	if (fl != NULL) {
		result_fail(&nq->res, NEXTHOP_TEMPFAIL, "4.4.3",
			    not_found_text(fl->host->name, fl->type, TEXT_TRY_AGAIN));
		query_deliver(nq);
		return;
	}
	for (size_t i = 0; i < nq->nhosts; i++)
		for (int f = 0; f < 2; f++)
			if (nq->hosts[i].fam[f].res != NULL && !nq->hosts[i].fam[f].res->nxdomain)
				nxdomain = false;
	if (nq->nhosts <= 1 && strcasecmp(first, nq->domain) == 0 && nxdomain)
		fail_not_found(nq, "5.1.2", not_found_text(first, text_type(nq), TEXT_NXDOMAIN));
	else
		fail_not_found(nq, "5.4.4",
			       not_found_text(first, text_type(nq),
					      nxdomain ? TEXT_NXDOMAIN : TEXT_NODATA));
	query_deliver(nq);
}

static void family_answer(void *ctx, const struct dns_result *res)
{
	struct family_lookup *fl = ctx;
	nexthop_query *nq = fl->host->nq;

	fl->q = NULL;
	fl->done = true;
	fl->res = dns_result_dup(res);
	if (--nq->pending == 0)
		finish_hosts(nq);
}

/* ---- hosts ---- */

static void add_host(nexthop_query *nq, const char *name, unsigned pref)
{
	struct host_lookup *h;

	for (size_t i = 0; i < nq->nhosts; i++)
		if (strcasecmp(nq->hosts[i].name, name) == 0)
			return; /* listed twice: the better preference counts */
	if (nq->nhosts >= NEXTHOP_MAX_HOSTS || strlen(name) >= sizeof(h->name))
		return;
	nq->hosts = xrealloc(nq->hosts, (nq->nhosts + 1) * sizeof(*nq->hosts));
	h = &nq->hosts[nq->nhosts++];
	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->pref = pref;
}

/* lookup_hosts: starts the address lookups of every listed host. The
 * hosts array is final here (the lookups point into it). */
static void lookup_hosts(nexthop_query *nq)
{
	for (size_t i = 0; i < nq->nhosts; i++) {
		struct host_lookup *h = &nq->hosts[i];

		h->nq = nq;
		h->fam[0].type = DNS_AAAA;
		h->fam[1].type = DNS_A;
		for (int f = 0; f < 2; f++) {
			struct family_lookup *fl = &h->fam[f];

			fl->host = h;
			if (!family_wanted(nq, f == 0 ? AF_INET6 : AF_INET))
				continue;
			nq->pending++;
			fl->q = dns_lookup(nq->dns, h->name, fl->type, family_answer, fl);
		}
	}
	if (nq->pending == 0) /* no host could be asked (a name too long) */
		nq->later = ev_timer_add(nq->opts.loop, 0, false, later_finish_fired, nq);
}

/* self_pref: the best preference of an MX record naming this host, or -1. */
static long self_pref(const nexthop_query *nq, const struct dns_result *mx)
{
	const char *self = nq->opts.self_name;
	long best = -1;

	for (size_t i = 0; self != NULL && *self != '\0' && i < mx->count; i++)
		if (strcasecmp(mx->rrs[i].text, self) == 0 && (best < 0 || mx->rrs[i].pref < best))
			best = (long)mx->rrs[i].pref;
	return best;
}

/* mx_found: the MX list (sorted; shuffled here among equals), without
 * this host and the hosts no better than it. false: nothing is left but
 * this host (a mail loop). */
static bool mx_found(nexthop_query *nq, const struct dns_result *res)
{
	struct dns_result *mx = dns_result_dup(res);
	long self = self_pref(nq, mx);

	dns_mx_shuffle(mx);
	for (size_t i = 0; i < mx->count; i++)
		if (mx->rrs[i].text[0] != '\0' && /* a stray "." among real MX */
		    (self < 0 || mx->rrs[i].pref < self))
			add_host(nq, mx->rrs[i].text, mx->rrs[i].pref);
	dns_result_free(&mx);
	return self < 0 || nq->nhosts > 0;
}

static void mx_answer(void *ctx, const struct dns_result *res)
{
	nexthop_query *nq = ctx;

	nq->mxq = NULL;
	if (res->status == DNS_TEMPFAIL) {
		result_fail(&nq->res, NEXTHOP_TEMPFAIL, "4.4.3",
			    not_found_text(nq->domain, DNS_MX, TEXT_TRY_AGAIN));
		query_deliver(nq);
		return;
	}
	if (res->status == DNS_FOUND && res->null_mx) {
		result_fail(&nq->res, NEXTHOP_NULLMX, "5.1.10",
			    xasprintf("<%s> does not accept mail (nullMX)", nq->domain));
		query_deliver(nq);
		return;
	}
	if (res->status == DNS_FOUND && !mx_found(nq, res)) {
		result_fail(&nq->res, NEXTHOP_LOOP, "5.4.6",
			    xasprintf("mail for %s loops back to myself", nq->domain));
		query_deliver(nq);
		return;
	}
	if (nq->nhosts == 0) /* no MX (or only "."s): the host itself */
		add_host(nq, nq->domain, 0);
	lookup_hosts(nq);
}

/* ---- the public face ---- */

/* resolve_literal: the result for an address literal, no DNS. */
static void resolve_literal(nexthop_query *nq, int family, const unsigned char *bytes)
{
	if (family_wanted(nq, family)) {
		add_addr(nq, nq->domain, 0, family, bytes);
		nq->res.status = NEXTHOP_OK;
	} else
		result_fail(&nq->res, NEXTHOP_NOTFOUND, "4.4.4",
			    xasprintf("address %s: %s is disabled by inet_protocols", nq->domain,
				      family == AF_INET6 ? "IPv6" : "IPv4"));
	deliver_later(nq);
}

nexthop_query *nexthop_resolve(dns_resolver *dns, const struct route_nexthop *hop,
			       const struct nexthop_opts *opts, nexthop_cb *cb, void *ctx)
{
	nexthop_query *nq = xcalloc(1, sizeof(*nq));
	unsigned char bytes[16];
	int family;

	if (hop->host == NULL || opts->loop == NULL)
		log_panic("nexthop_resolve: no host or no loop");
	nq->dns = dns;
	nq->opts = *opts;
	nq->domain = xstrdup(hop->host);
	nq->port = hop->port > 0 ? hop->port : NEXTHOP_DEFAULT_PORT;
	nq->mx = hop->mx;
	nq->cb = cb;
	nq->ctx = ctx;
	if (parse_literal(hop->host, &family, bytes)) {
		/* "ipv6:..." is shown without its tag */
		if (strncasecmp(nq->domain, "ipv6:", 5) == 0)
			memmove(nq->domain, nq->domain + 5, strlen(nq->domain + 5) + 1);
		resolve_literal(nq, family, bytes);
	} else if (nq->mx) {
		nq->mxq = dns_lookup(dns, nq->domain, DNS_MX, mx_answer, nq);
	} else {
		add_host(nq, nq->domain, 0);
		lookup_hosts(nq);
	}
	return nq;
}

void nexthop_cancel(nexthop_query **q)
{
	if (*q == NULL)
		return;
	if (!(*q)->delivering) /* else it is freed when the callback returns */
		query_free(*q);
	*q = NULL;
}

int nexthop_parse_inet_protocols(const char *value, int *flags_r, char **err_r)
{
	char **words = cfg_split_list(value);
	int flags = 0, rc = 0;

	for (size_t i = 0; words[i] != NULL && rc == 0; i++) {
		if (strcasecmp(words[i], "all") == 0)
			flags |= NEXTHOP_INET_ALL;
		else if (strcasecmp(words[i], "ipv4") == 0)
			flags |= NEXTHOP_INET4;
		else if (strcasecmp(words[i], "ipv6") == 0)
			flags |= NEXTHOP_INET6;
		else {
			*err_r = xasprintf("inet_protocols: unknown protocol \"%s\" (expected all, "
					   "ipv4 or ipv6)",
					   words[i]);
			rc = -1;
		}
	}
	cfg_free_list(&words);
	if (rc == 0 && flags == 0) {
		*err_r = xstrdup("inet_protocols: empty (expected all, ipv4 or ipv6)");
		rc = -1;
	}
	if (rc == 0)
		*flags_r = flags;
	return rc;
}

/* ---- connecting ---- */

int nexthop_addr_port(const struct nexthop_addr *a)
{
	if (a->sa.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
}

char *nexthop_addr_relay(const struct nexthop_addr *a)
{
	return xasprintf("%s[%s]:%d", a->host, a->addr, nexthop_addr_port(a));
}

char *nexthop_connect_error(const struct nexthop_addr *a, int port, int err)
{
	return xasprintf("connect to %s[%s]:%d: %s", a->host, a->addr,
			 port > 0 ? port : nexthop_addr_port(a), strerror(err));
}

int nexthop_connect(const struct nexthop_addr *a, int port, int *fd_r, char **err_r)
{
	struct sockaddr_storage ss = a->sa;
	int fd;

	if (port > 0) {
		if (ss.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		else
			((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
	}
	fd = sock_connect_start((const struct sockaddr *)&ss, a->salen);
	if (fd < 0) {
		*err_r = nexthop_connect_error(a, port, errno);
		return -1;
	}
	*fd_r = fd;
	return 0;
}

int nexthop_connect_result(const struct nexthop_addr *a, int port, int fd, char **err_r)
{
	int err = sock_connect_error(fd);

	if (err == 0)
		return 0;
	*err_r = nexthop_connect_error(a, port, err);
	return -1;
}
