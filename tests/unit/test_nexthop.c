/* test_nexthop.c: unit tests for lib/nexthop.c against a real DNS server,
 * dnsmasq on 127.0.0.1 and a free port (as in test_dns.c): test.example
 * is answered locally (unknown names NXDOMAIN), other names are REFUSED
 * (a temporary failure for c-ares), and a UDP socket nobody reads stands
 * for a server that never answers. Checked: MX order and the shuffle among
 * equal preferences, fallback to A / AAAA without MX, inet_protocols,
 * null MX, NXDOMAIN (and for a relayhost), temporary failures of the MX
 * lookup and of single MX hosts, address literals, the address limit,
 * cancelling, inet_protocols parsing and the connect helper. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "dns.h"
#include "dnsmasq.h"
#include "ev.h"
#include "mem.h"
#include "nexthop.h"

static const char *const records[] = {
	"--local=/test.example/",
	"--local-ttl=300",
	"--host-record=mx1.test.example,192.0.2.1,2001:db8::1",
	"--host-record=mx2.test.example,192.0.2.2",
	"--host-record=mx3.test.example,192.0.2.3",
	"--host-record=mx4.test.example,192.0.2.4",
	"--host-record=mx5.test.example,192.0.2.5",
	"--host-record=mx5.test.example,192.0.2.55",
	"--host-record=v6.test.example,2001:db8::6",
	"--host-record=plain.test.example,192.0.2.7,2001:db8::7",
	/* order: mx1 (10), then mx2 / mx3 / mx4 (20) in any order, then mx5 */
	"--mx-host=order.test.example,mx5.test.example,30",
	"--mx-host=order.test.example,mx2.test.example,20",
	"--mx-host=order.test.example,mx1.test.example,10",
	"--mx-host=order.test.example,mx3.test.example,20",
	"--mx-host=order.test.example,mx4.test.example,20",
	"--mx-host=nullmx.test.example,.,0",
	/* the first MX has no address at all, the second one has */
	"--mx-host=skip.test.example,gone.test.example,5",
	"--mx-host=skip.test.example,mx2.test.example,10",
	/* the first MX's lookups are REFUSED (temporary), the second works */
	"--mx-host=partial.test.example,mx.refused.example,5",
	"--mx-host=partial.test.example,mx3.test.example,10",
	/* every MX host fails temporarily */
	"--mx-host=allfail.test.example,mx.refused.example,5",
	"--mx-host=allfail.test.example,mx2.refused.example,10",
	/* every MX host is missing */
	"--mx-host=nohosts.test.example,gone.test.example,5",
	"--mx-host=nohosts.test.example,gone2.test.example,10",
	/* this host (me.test.example) is a backup MX: only mx1 is better */
	"--mx-host=backup.test.example,mx2.test.example,30",
	"--mx-host=backup.test.example,ME.test.example,20",
	"--mx-host=backup.test.example,mx1.test.example,10",
	/* this host is the best MX: a loop */
	"--mx-host=loop.test.example,me.test.example,10",
	"--mx-host=loop.test.example,mx2.test.example,20",
	"--host-record=me.test.example,192.0.2.99",
	"--mx-host=v6mx.test.example,v6.test.example,10",
	"--mx-host=v6mx.test.example,mx2.test.example,20",
	NULL,
};

struct fixture {
	pid_t pid;
	int port;
	int silent_fd; /* bound, never read */
	int silent_port;
	ev_loop *loop;
	dns_resolver *dns;
};

static struct fixture *fx;

struct catch {
	int calls;
	struct nexthop_result *res;
};

static dns_resolver *resolver(int port, unsigned timeout_ms, unsigned cache)
{
	return dnsmasq_resolver(fx->loop, port, timeout_ms, 1, cache);
}

static int group_setup(void **state)
{
	(void)state;
	fx = xcalloc(1, sizeof(*fx));
	fx->silent_port = dnsmasq_free_udp_port(&fx->silent_fd);
	if (dnsmasq_start(records, &fx->port, &fx->pid) < 0)
		return -1;
	fx->loop = ev_loop_new();
	fx->dns = resolver(fx->port, 3000, 100);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	dns_free(&fx->dns);
	ev_loop_free(&fx->loop);
	dnsmasq_stop(&fx->pid);
	close(fx->silent_fd);
	free(fx);
	return 0;
}

/* ---- asking ---- */

static void catch_cb(void *ctx, const struct nexthop_result *res)
{
	struct catch *c = ctx;

	c->calls++;
	nexthop_result_free(&c->res);
	c->res = nexthop_result_dup(res);
}

static void run_for(unsigned ms, const struct catch *c)
{
	uint64_t end = ev_now_ms(fx->loop) + ms;

	while ((c == NULL || c->calls == 0) && ev_now_ms(fx->loop) < end)
		ev_run_once(fx->loop, 20);
}

/* resolve_with: resolves text (route_parse_nexthop syntax) on r. */
static const char *self_name; /* opts.self_name of the next resolve */

static struct nexthop_result *resolve_with(dns_resolver *r, const char *text, int protocols,
					   unsigned limit, bool relayhost)
{
	struct route_nexthop hop;
	struct nexthop_opts opts = { .loop = fx->loop, .inet_protocols = protocols,
				     .max_addrs = limit, .relayhost = relayhost,
				     .self_name = self_name };
	struct catch c = { 0 };
	char *err = NULL;
	nexthop_query *q;

	if (route_parse_nexthop(text, &hop, &err) < 0)
		fail_msg("%s", err);
	q = nexthop_resolve(r, &hop, &opts, catch_cb, &c);
	route_nexthop_clear(&hop);
	assert_non_null(q);
	assert_int_equal(c.calls, 0); /* never from inside nexthop_resolve */
	run_for(10000, &c);
	assert_int_equal(c.calls, 1);
	run_for(30, NULL); /* no second call */
	assert_int_equal(c.calls, 1);
	return c.res;
}

static struct nexthop_result *resolve(const char *text, int protocols, unsigned limit)
{
	return resolve_with(fx->dns, text, protocols, limit, false);
}

/* addr_list: "host[addr]:port host[addr]:port ..." of an OK result. */
static char *addr_list(const struct nexthop_result *res)
{
	char *out = xstrdup("");

	assert_int_equal(res->status, NEXTHOP_OK);
	assert_null(res->dsn);
	assert_null(res->reason);
	for (size_t i = 0; i < res->naddrs; i++) {
		char *one = nexthop_addr_relay(&res->addrs[i]);
		char *more = xasprintf("%s%s%s", out, i > 0 ? " " : "", one);

		free(one);
		free(out);
		out = more;
	}
	return out;
}

static void expect_addrs(const char *text, int protocols, unsigned limit, const char *want)
{
	struct nexthop_result *res = resolve(text, protocols, limit);
	char *got = addr_list(res);

	if (strcmp(got, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", text, got, want);
	free(got);
	nexthop_result_free(&res);
}

static void expect_fail(struct nexthop_result *res, enum nexthop_status st, const char *dsn,
			const char *reason)
{
	assert_int_equal(res->status, st);
	assert_string_equal(res->dsn, dsn);
	assert_string_equal(res->reason, reason);
	assert_int_equal(res->naddrs, 0);
	assert_null(res->addrs);
}

/* ---- tests ---- */

static void test_parse_inet_protocols(void **state)
{
	static const struct {
		const char *in;
		int flags; /* -1: an error */
	} rows[] = {
		{ "all", NEXTHOP_INET_ALL },
		{ "ipv4", NEXTHOP_INET4 },
		{ "ipv6", NEXTHOP_INET6 },
		{ "ipv4, ipv6", NEXTHOP_INET_ALL },
		{ "IPv6 ipv4", NEXTHOP_INET_ALL },
		{ "", -1 },
		{ "ipv5", -1 },
		{ "ipv4, bogus", -1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int flags = 12345;
		char *err = NULL;
		int rc = nexthop_parse_inet_protocols(rows[i].in, &flags, &err);

		if (rows[i].flags < 0) {
			assert_int_equal(rc, -1);
			assert_non_null(err);
			assert_int_equal(flags, 12345);
			free(err);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(flags, rows[i].flags);
			assert_null(err);
		}
	}
}

/* MX by preference; the three of preference 20 in every order over many
 * tries; each host's addresses AAAA first; the port carried. */
static void test_mx_order_and_shuffle(void **state)
{
	bool seen_first[3] = { false, false, false };

	(void)state;
	for (int i = 0; i < 60; i++) {
		struct nexthop_result *res = resolve("order.test.example:2525", 0, 0);

		assert_int_equal(res->status, NEXTHOP_OK);
		assert_int_equal(res->naddrs, 7);
		assert_string_equal(res->addrs[0].host, "mx1.test.example");
		assert_string_equal(res->addrs[0].addr, "2001:db8::1");
		assert_string_equal(res->addrs[1].addr, "192.0.2.1");
		assert_int_equal(res->addrs[0].pref, 10);
		for (int k = 2; k < 5; k++) {
			assert_int_equal(res->addrs[k].pref, 20);
			assert_int_equal(nexthop_addr_port(&res->addrs[k]), 2525);
		}
		assert_string_equal(res->addrs[5].host, "mx5.test.example");
		assert_string_equal(res->addrs[6].host, "mx5.test.example");
		assert_int_equal(res->addrs[6].pref, 30);
		seen_first[res->addrs[2].host[2] - '2'] = true;
		nexthop_result_free(&res);
		if (seen_first[0] && seen_first[1] && seen_first[2])
			break;
	}
	assert_true(seen_first[0] && seen_first[1] && seen_first[2]);
}

/* inet_protocols: only the families asked for, AAAA before A for one
 * host, IPv6-only MX hosts skipped under ipv4. */
static void test_inet_protocols(void **state)
{
	(void)state;
	expect_addrs("[plain.test.example]", 0, 0,
		     "plain.test.example[2001:db8::7]:25 plain.test.example[192.0.2.7]:25");
	expect_addrs("[plain.test.example]", NEXTHOP_INET_ALL, 0,
		     "plain.test.example[2001:db8::7]:25 plain.test.example[192.0.2.7]:25");
	expect_addrs("[plain.test.example]", NEXTHOP_INET4, 0, "plain.test.example[192.0.2.7]:25");
	expect_addrs("[plain.test.example]", NEXTHOP_INET6, 0, "plain.test.example[2001:db8::7]:25");
	expect_addrs("v6mx.test.example", 0, 0,
		     "v6.test.example[2001:db8::6]:25 mx2.test.example[192.0.2.2]:25");
	expect_addrs("v6mx.test.example", NEXTHOP_INET4, 0, "mx2.test.example[192.0.2.2]:25");
	expect_addrs("v6mx.test.example", NEXTHOP_INET6, 0, "v6.test.example[2001:db8::6]:25");
}

/* no MX: the host's own addresses; brackets: no MX lookup at all */
static void test_no_mx(void **state)
{
	struct nexthop_result *res;

	(void)state;
	expect_addrs("plain.test.example:587", NEXTHOP_INET4, 0, "plain.test.example[192.0.2.7]:587");
	/* order.test.example has MX but no A: "[order.test.example]" finds nothing */
	res = resolve("[order.test.example]", 0, 0);
	expect_fail(res, NEXTHOP_NOTFOUND, "5.4.4",
		    "Host or domain name not found. Name service error for name=order.test.example "
		    "type=A: Host found but no data record of requested type");
	nexthop_result_free(&res);
}

static void test_nxdomain(void **state)
{
	static const char text[] = "Host or domain name not found. Name service error for "
				   "name=nosuch.test.example type=A: Host not found";
	struct nexthop_result *res;

	(void)state;
	res = resolve("nosuch.test.example", 0, 0);
	expect_fail(res, NEXTHOP_NOTFOUND, "5.1.2", text);
	nexthop_result_free(&res);
	res = resolve("[nosuch.test.example]", 0, 0);
	expect_fail(res, NEXTHOP_NOTFOUND, "5.1.2", text);
	nexthop_result_free(&res);
	/* a relayhost that does not resolve defers */
	res = resolve_with(fx->dns, "[nosuch.test.example]:587", 0, 0, true);
	expect_fail(res, NEXTHOP_NOTFOUND, "4.4.3", text);
	nexthop_result_free(&res);
	/* IPv6 only: the text names AAAA */
	res = resolve("nosuch.test.example", NEXTHOP_INET6, 0);
	expect_fail(res, NEXTHOP_NOTFOUND, "5.1.2",
		    "Host or domain name not found. Name service error for "
		    "name=nosuch.test.example type=AAAA: Host not found");
	nexthop_result_free(&res);
}

static void test_null_mx(void **state)
{
	struct nexthop_result *res;

	(void)state;
	res = resolve("nullmx.test.example", 0, 0);
	expect_fail(res, NEXTHOP_NULLMX, "5.1.10",
		    "<nullmx.test.example> does not accept mail (nullMX)");
	nexthop_result_free(&res);
}

/* An MX host named like this host, and those no better, are dropped;
 * when this host is the best MX the mail would loop: 5.4.6. */
static void test_mx_is_myself(void **state)
{
	struct nexthop_result *res;

	(void)state;
	self_name = "me.test.example";
	expect_addrs("backup.test.example", NEXTHOP_INET4, 0, "mx1.test.example[192.0.2.1]:25");
	res = resolve("loop.test.example", NEXTHOP_INET4, 0);
	expect_fail(res, NEXTHOP_LOOP, "5.4.6", "mail for loop.test.example loops back to myself");
	nexthop_result_free(&res);
	expect_addrs("[me.test.example]", NEXTHOP_INET4, 0, "me.test.example[192.0.2.99]:25");
	self_name = "other.test.example"; /* another host: all MX stay */
	expect_addrs("loop.test.example", NEXTHOP_INET4, 0,
		     "me.test.example[192.0.2.99]:25 mx2.test.example[192.0.2.2]:25");
	self_name = NULL;
}

/* MX hosts without addresses or with failing lookups are skipped; when
 * none is left: TEMPFAIL if any lookup failed for a while, else NOTFOUND */
static void test_mx_hosts_skipped(void **state)
{
	struct nexthop_result *res;

	(void)state;
	expect_addrs("skip.test.example", 0, 0, "mx2.test.example[192.0.2.2]:25");
	expect_addrs("partial.test.example", 0, 0, "mx3.test.example[192.0.2.3]:25");
	res = resolve("allfail.test.example", NEXTHOP_INET4, 0);
	expect_fail(res, NEXTHOP_TEMPFAIL, "4.4.3",
		    "Host or domain name not found. Name service error for name=mx.refused.example "
		    "type=A: Host not found, try again");
	nexthop_result_free(&res);
	res = resolve("nohosts.test.example", 0, 0);
	expect_fail(res, NEXTHOP_NOTFOUND, "5.4.4",
		    "Host or domain name not found. Name service error for name=gone.test.example "
		    "type=A: Host not found");
	nexthop_result_free(&res);
}

/* the MX lookup itself fails: REFUSED, and a server that never answers */
static void test_mx_tempfail(void **state)
{
	dns_resolver *silent;
	struct nexthop_result *res;

	(void)state;
	res = resolve("elsewhere.example", 0, 0);
	expect_fail(res, NEXTHOP_TEMPFAIL, "4.4.3",
		    "Host or domain name not found. Name service error for name=elsewhere.example "
		    "type=MX: Host not found, try again");
	nexthop_result_free(&res);

	silent = resolver(fx->silent_port, 300, 10);
	res = resolve_with(silent, "order.test.example", 0, 0, false);
	expect_fail(res, NEXTHOP_TEMPFAIL, "4.4.3",
		    "Host or domain name not found. Name service error for name=order.test.example "
		    "type=MX: Host not found, try again");
	nexthop_result_free(&res);
	/* the same server without MX lookup: the A lookup times out */
	res = resolve_with(silent, "[mx1.test.example]", NEXTHOP_INET4, 0, false);
	expect_fail(res, NEXTHOP_TEMPFAIL, "4.4.3",
		    "Host or domain name not found. Name service error for name=mx1.test.example "
		    "type=A: Host not found, try again");
	nexthop_result_free(&res);
	dns_free(&silent);
}

/* literals need no DNS: a resolver pointed at nobody still answers */
static void test_literals(void **state)
{
	dns_resolver *silent = resolver(fx->silent_port, 300, 10);
	struct nexthop_result *res;

	(void)state;
	res = resolve_with(silent, "[192.0.2.9]:2525", 0, 0, false);
	assert_int_equal(res->naddrs, 1);
	assert_string_equal(res->addrs[0].host, "192.0.2.9");
	assert_string_equal(res->addrs[0].addr, "192.0.2.9");
	assert_int_equal(res->addrs[0].sa.ss_family, AF_INET);
	assert_int_equal(res->addrs[0].salen, sizeof(struct sockaddr_in));
	assert_int_equal(nexthop_addr_port(&res->addrs[0]), 2525);
	nexthop_result_free(&res);
	res = resolve_with(silent, "192.0.2.9", 0, 0, false); /* no brackets: still no MX */
	assert_int_equal(res->status, NEXTHOP_OK);
	assert_string_equal(res->addrs[0].addr, "192.0.2.9");
	nexthop_result_free(&res);
	res = resolve_with(silent, "[ipv6:2001:db8::9]", 0, 0, false);
	assert_int_equal(res->status, NEXTHOP_OK);
	assert_string_equal(res->addrs[0].host, "2001:db8::9");
	assert_string_equal(res->addrs[0].addr, "2001:db8::9");
	assert_int_equal(res->addrs[0].sa.ss_family, AF_INET6);
	assert_int_equal(nexthop_addr_port(&res->addrs[0]), 25);
	nexthop_result_free(&res);
	res = resolve_with(silent, "[2001:db8::9]:26", 0, 0, false);
	assert_int_equal(res->status, NEXTHOP_OK);
	assert_string_equal(res->addrs[0].addr, "2001:db8::9");
	nexthop_result_free(&res);
	/* a literal of a family inet_protocols leaves out: deferred */
	res = resolve_with(silent, "[2001:db8::9]", NEXTHOP_INET4, 0, false);
	expect_fail(res, NEXTHOP_NOTFOUND, "4.4.4",
		    "address 2001:db8::9: IPv6 is disabled by inet_protocols");
	nexthop_result_free(&res);
	dns_free(&silent);
}

static void never_cb(void *ctx, const struct nexthop_result *res)
{
	(void)res;
	fail_msg("callback of a cancelled query (%s)", (const char *)ctx);
}

static nexthop_query *start(dns_resolver *r, const char *text)
{
	struct route_nexthop hop;
	struct nexthop_opts opts = { .loop = fx->loop };
	char *err = NULL;
	nexthop_query *q;

	assert_int_equal(route_parse_nexthop(text, &hop, &err), 0);
	q = nexthop_resolve(r, &hop, &opts, never_cb, (void *)text);
	route_nexthop_clear(&hop);
	return q;
}

/* cancelled in each phase: no callback, nothing leaks (ASan) */
static void test_cancel(void **state)
{
	dns_resolver *silent = resolver(fx->silent_port, 200, 10);
	dns_resolver *fresh = resolver(fx->port, 3000, 0);
	nexthop_query *q;

	(void)state;
	q = start(silent, "order.test.example"); /* MX in flight */
	run_for(50, NULL);
	nexthop_cancel(&q);
	assert_null(q);
	nexthop_cancel(&q); /* NULL is fine */
	q = start(silent, "[192.0.2.1]"); /* literal, timer pending */
	nexthop_cancel(&q);
	q = start(silent, "[mx1.test.example]"); /* address lookups in flight */
	nexthop_cancel(&q);
	/* MX answered, address lookups started: cancel from outside after a
	 * few rounds, whichever phase it is in */
	for (int rounds = 0; rounds < 4; rounds++) {
		struct route_nexthop hop = { .host = (char *)"order.test.example", .mx = true };
		struct nexthop_opts opts = { .loop = fx->loop };
		struct catch c = { 0 };

		q = nexthop_resolve(fresh, &hop, &opts, catch_cb, &c);
		for (int i = 0; i < rounds && c.calls == 0; i++)
			ev_run_once(fx->loop, 5);
		if (c.calls == 0) /* else it was quicker: done, nothing to cancel */
			nexthop_cancel(&q);
		nexthop_result_free(&c.res);
	}
	run_for(400, NULL); /* the silent server's timeouts pass: no callback */
	dns_free(&silent);
	dns_free(&fresh);
}

struct self_cancel {
	nexthop_query *q;
	int calls;
};

static void cancel_in_cb(void *ctx, const struct nexthop_result *res)
{
	struct self_cancel *sc = ctx;

	assert_int_equal(res->status, NEXTHOP_OK);
	sc->calls++;
	nexthop_cancel(&sc->q); /* the owner's cleanup path: harmless here */
	assert_null(sc->q);
}

/* a cancel from inside the query's own callback only forgets the handle */
static void test_cancel_in_callback(void **state)
{
	struct route_nexthop hop = { .host = (char *)"192.0.2.1", .mx = false };
	struct nexthop_opts opts = { .loop = fx->loop };
	struct self_cancel sc = { 0 };

	(void)state;
	sc.q = nexthop_resolve(fx->dns, &hop, &opts, cancel_in_cb, &sc);
	for (int i = 0; i < 20 && sc.calls == 0; i++)
		ev_run_once(fx->loop, 10);
	assert_int_equal(sc.calls, 1);
	hop = (struct route_nexthop){ .host = (char *)"order.test.example", .mx = true };
	sc.q = nexthop_resolve(fx->dns, &hop, &opts, cancel_in_cb, &sc);
	for (int i = 0; i < 500 && sc.calls == 1; i++)
		ev_run_once(fx->loop, 10);
	assert_int_equal(sc.calls, 2);
}

/* the connect helper: refused at once or later, in Postfix's words */
static void test_connect(void **state)
{
	struct nexthop_addr a = { .host = "mx.test.example", .addr = "127.0.0.1" };
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.sa;
	struct sockaddr_in lsin = { .sin_family = AF_INET };
	socklen_t len = sizeof(lsin);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fd = -1, port;
	char *err = NULL, want[128];
	struct pollfd pfd;

	(void)state;
	lsin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&lsin, sizeof(lsin)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&lsin, &len), 0);
	port = ntohs(lsin.sin_port);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons(25);
	a.salen = sizeof(*sin);

	/* port given: overrides the 25 in sa; connected (or in progress) */
	assert_int_equal(nexthop_connect(&a, port, &fd, &err), 0);
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_int_equal(nexthop_connect_result(&a, port, fd, &err), 0);
	assert_null(err);
	close(fd);
	close(lfd); /* nobody listens there now */

	if (nexthop_connect(&a, port, &fd, &err) == 0) {
		pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
		assert_int_equal(poll(&pfd, 1, 2000), 1);
		assert_int_equal(nexthop_connect_result(&a, port, fd, &err), -1);
		close(fd);
	}
	snprintf(want, sizeof(want), "connect to mx.test.example[127.0.0.1]:%d: Connection refused",
		 port);
	assert_string_equal(err, want);
	free(err);
	err = nexthop_connect_error(&a, 0, ETIMEDOUT);
	assert_string_equal(err, "connect to mx.test.example[127.0.0.1]:25: Connection timed out");
	free(err);
	err = nexthop_addr_relay(&a);
	assert_string_equal(err, "mx.test.example[127.0.0.1]:25");
	free(err);
}

static void test_address_limit(void **state)
{
	struct nexthop_result *res;

	(void)state;
	res = resolve("order.test.example", NEXTHOP_INET4, 3);
	assert_int_equal(res->status, NEXTHOP_OK);
	assert_int_equal(res->naddrs, 3);
	assert_string_equal(res->addrs[0].addr, "192.0.2.1");
	assert_int_equal(res->addrs[1].pref, 20);
	assert_int_equal(res->addrs[2].pref, 20);
	nexthop_result_free(&res);

	/* the limit counts addresses, not hosts: mx5 has two (in the order
	 * the server gives them) */
	res = resolve("[mx5.test.example]", 0, 1);
	assert_int_equal(res->naddrs, 1);
	assert_true(strcmp(res->addrs[0].addr, "192.0.2.5") == 0 ||
		    strcmp(res->addrs[0].addr, "192.0.2.55") == 0);
	nexthop_result_free(&res);
	res = resolve("[mx5.test.example]", 0, 0);
	assert_int_equal(res->naddrs, 2);
	assert_string_not_equal(res->addrs[0].addr, res->addrs[1].addr);
	nexthop_result_free(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_inet_protocols),
		cmocka_unit_test(test_mx_order_and_shuffle),
		cmocka_unit_test(test_address_limit),
		cmocka_unit_test(test_inet_protocols),
		cmocka_unit_test(test_no_mx),
		cmocka_unit_test(test_nxdomain),
		cmocka_unit_test(test_null_mx),
		cmocka_unit_test(test_mx_is_myself),
		cmocka_unit_test(test_mx_hosts_skipped),
		cmocka_unit_test(test_mx_tempfail),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_cancel_in_callback),
		cmocka_unit_test(test_connect),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
