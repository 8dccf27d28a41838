/* test_dns.c: unit tests for lib/dns.c against a real DNS server: the test
 * starts dnsmasq (--no-resolv, records from the command line, test.example
 * answered locally so unknown names there are NXDOMAIN, everything else
 * REFUSED) on 127.0.0.1 and a free port, and a UDP socket nobody reads
 * stands for a server that never answers. Checked: each record type, MX
 * order and null MX, CNAME chains, NXDOMAIN vs no data vs REFUSED vs
 * timeout, the cache (answers survive the server's death, TTL 0 / size 0
 * does not), cancelling in flight and from the cache, and the pure
 * helpers (server list syntax, reverse names, address match, an MX
 * shuffle that differs between processes). A tiny fake
 * server on the test's loop gives what dnsmasq will not: a CNAME without
 * its target's records, an endless chain, SERVFAIL, a truncated record. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
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
#include "dns_int.h"
#include "ev.h"
#include "mem.h"


static const char *const records[] = {
	"--local=/test.example/",
	"--local-ttl=300",
	"--host-record=mail.test.example,192.0.2.10,2001:db8::10",
	"--host-record=mail2.test.example,192.0.2.11",
	"--host-record=mail3.test.example,192.0.2.12",
	"--mx-host=test.example,mail2.test.example,20",
	"--mx-host=test.example,mail.test.example,10",
	"--mx-host=test.example,mail3.test.example,10",
	"--mx-host=nullmx.test.example,.,0",
	"--txt-record=test.example,v=spf1 -all",
	"--txt-record=txt2.test.example,part one,part two",
	"--ptr-record=10.2.0.192.in-addr.arpa,mail.test.example",
	"--cname=alias.test.example,mail.test.example",
	"--cname=alias2.test.example,alias.test.example",
	"--cname=mxalias.test.example,test.example",
	"--cname=dangling.test.example,nowhere.test.example",
	NULL,
};

struct fixture {
	pid_t pid;
	int port;
	int silent_fd; /* bound, never read */
	int silent_port;
	ev_loop *loop;
	dns_resolver *r;
};

/* One answer caught by the test's callback. */
struct catch {
	bool called;
	int calls;
	struct dns_result *res;
	ev_loop *loop;
};

/* ---- hand-made answers for dns_msg_read (what dnsmasq will not send) ---- */

struct wire {
	unsigned char b[512];
	int len;
};

static void wire_name(struct wire *w, const char *name)
{
	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t n = dot != NULL ? (size_t)(dot - name) : strlen(name);

		w->b[w->len++] = (unsigned char)n;
		memcpy(w->b + w->len, name, n);
		w->len += (int)n;
		name += n + (dot != NULL);
	}
	w->b[w->len++] = 0;
}

static void wire_16(struct wire *w, unsigned v)
{
	w->b[w->len++] = (unsigned char)(v >> 8);
	w->b[w->len++] = (unsigned char)v;
}

/* wire_start: a response header with one question and ancount answers. */
static void wire_start(struct wire *w, const char *qname, unsigned qtype, unsigned ancount)
{
	static const unsigned char hdr[] = { 0x12, 0x34, 0x81, 0x80, 0, 1 };

	memset(w, 0, sizeof(*w));
	memcpy(w->b, hdr, sizeof(hdr));
	w->len = 6;
	wire_16(w, ancount);
	wire_16(w, 0);
	wire_16(w, 0);
	wire_name(w, qname);
	wire_16(w, qtype);
	wire_16(w, 1);
}

static void wire_cname(struct wire *w, const char *owner, const char *target, unsigned ttl)
{
	struct wire t = { .len = 0 };

	wire_name(w, owner);
	wire_16(w, 5);
	wire_16(w, 1);
	wire_16(w, ttl >> 16);
	wire_16(w, ttl & 0xffff);
	wire_name(&t, target);
	wire_16(w, (unsigned)t.len);
	memcpy(w->b + w->len, t.b, (size_t)t.len);
	w->len += t.len;
}

static void test_msg_read(void **state)
{
	struct wire w;
	struct dns_result *res = NULL;
	char *next = NULL;
	unsigned hops = 0;
	uint32_t ttl = DNS_TTL_MAX;

	(void)state;
	/* a CNAME without the target's data: ask the target next, the chain's
	 * TTL carried to the next answer */
	wire_start(&w, "a.example", 15, 1);
	wire_cname(&w, "a.example", "b.example", 100);
	assert_int_equal(dns_msg_read(w.b, w.len, 0, "a.example", DNS_MX, &hops, &ttl, &res, &next),
			 DNS_MSG_FOLLOW);
	assert_null(res);
	assert_string_equal(next, "b.example");
	assert_int_equal(hops, 1);
	assert_int_equal(ttl, 100);
	free(next);
	next = NULL;

	/* a chain at the limit: a temporary failure, no further question */
	hops = DNS_CHAIN_MAX - 1;
	assert_int_equal(dns_msg_read(w.b, w.len, 0, "a.example", DNS_MX, &hops, &ttl, &res, &next),
			 DNS_MSG_DONE);
	assert_null(next);
	assert_int_equal(res->status, DNS_TEMPFAIL);
	dns_result_free(&res);

	/* cut short in the middle of the record: unreadable */
	hops = 0;
	assert_int_equal(dns_msg_read(w.b, w.len - 3, 0, "a.example", DNS_MX, &hops, &ttl, &res, &next),
			 DNS_MSG_BAD);
	assert_int_equal(dns_msg_read(w.b, 5, 0, "a.example", DNS_MX, &hops, &ttl, &res, &next),
			 DNS_MSG_BAD);
	assert_int_equal(dns_msg_read(NULL, 0, 0, "a.example", DNS_MX, &hops, &ttl, &res, &next),
			 DNS_MSG_BAD);
	assert_null(res);
	assert_null(next);
}

static dns_resolver *resolver(struct fixture *f, int port, unsigned timeout_ms, unsigned cache)
{
	return dnsmasq_resolver(f->loop, port, timeout_ms, 1, cache);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->silent_port = dnsmasq_free_udp_port(&f->silent_fd);
	if (dnsmasq_start(records, &f->port, &f->pid) < 0)
		return -1;
	f->loop = ev_loop_new();
	f->r = resolver(f, f->port, 3000, 100);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dns_free(&f->r);
	ev_loop_free(&f->loop);
	dnsmasq_stop(&f->pid);
	close(f->silent_fd);
	free(f);
	return 0;
}

static void catch_cb(void *ctx, const struct dns_result *res)
{
	struct catch *c = ctx;

	c->called = true;
	c->calls++;
	dns_result_free(&c->res);
	c->res = dns_result_dup(res);
	ev_stop(c->loop);
}

/* wait_for: runs the loop until c is called or ms pass. */
static void wait_for(ev_loop *loop, struct catch *c, unsigned ms)
{
	uint64_t end = ev_now_ms(loop) + ms;

	while (!c->called && ev_now_ms(loop) < end)
		ev_run_once(loop, 50);
}

static struct dns_result *ask(struct fixture *f, dns_resolver *r, const char *name,
			      enum dns_type type)
{
	struct catch c = { .loop = f->loop };
	dns_query *q = dns_lookup(r, name, type, catch_cb, &c);

	assert_non_null(q);
	assert_false(c.called); /* never from inside dns_lookup */
	wait_for(f->loop, &c, 10000);
	assert_true(c.called);
	assert_int_equal(c.calls, 1);
	return c.res;
}

/* One lookup and what it must give. */
struct case_row {
	const char *name;
	enum dns_type type;
	enum dns_status status;
	bool nxdomain;
	const char *texts; /* FOUND: the records' text, space-separated, in order */
};

static void check_texts(const struct dns_result *res, const char *want)
{
	char got[512] = "";

	for (size_t i = 0; i < res->count; i++) {
		if (i > 0)
			strcat(got, " ");
		strncat(got, res->rrs[i].text, sizeof(got) - strlen(got) - 2);
	}
	assert_string_equal(got, want);
}

static void wire_a(struct wire *w, const char *owner, unsigned last_octet, unsigned ttl)
{
	wire_name(w, owner);
	wire_16(w, 1);
	wire_16(w, 1);
	wire_16(w, ttl >> 16);
	wire_16(w, ttl & 0xffff);
	wire_16(w, 4);
	w->b[w->len++] = 192, w->b[w->len++] = 0, w->b[w->len++] = 2;
	w->b[w->len++] = (unsigned char)last_octet;
}

/* A fake server on the test's loop for what dnsmasq does not do: a CNAME
 * without the target's records (c.fake -> a.fake -> A), an endless chain
 * (loopN.fake -> loopN+1.fake), SERVFAIL and an unreadable answer. */
struct fake_dns {
	int fd, port, questions;
	ev_io *io;
};

static void fake_answer(struct wire *w, const char *qname)
{
	int n;

	if (strcmp(qname, "a.fake") == 0) {
		wire_start(w, qname, 1, 1);
		wire_a(w, qname, 99, 300);
	} else if (strcmp(qname, "c.fake") == 0) {
		wire_start(w, qname, 1, 1);
		wire_cname(w, qname, "a.fake", 300);
	} else if (sscanf(qname, "loop%d.fake", &n) == 1) {
		char next[32];

		snprintf(next, sizeof(next), "loop%d.fake", n + 1);
		wire_start(w, qname, 1, 1);
		wire_cname(w, qname, next, 300);
	} else if (strcmp(qname, "servfail.fake") == 0) {
		wire_start(w, qname, 1, 0);
		w->b[3] = 0x82;
	} else { /* garbage.fake: an answer that ends inside its record */
		wire_start(w, qname, 1, 1);
		wire_a(w, qname, 1, 300);
		w->len -= 6;
	}
}

static void fake_dns_read(void *ctx, int fd, int events)
{
	struct fake_dns *fd_ = ctx;
	unsigned char q[512];
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
	char qname[256] = "";
	struct wire w;

	(void)events;
	if (n < 13)
		return;
	fd_->questions++;
	for (ssize_t p = 12; p < n && q[p] != 0 && p + q[p] < n; p += q[p] + 1) {
		if (qname[0] != '\0')
			strcat(qname, ".");
		strncat(qname, (const char *)q + p + 1, q[p]);
	}
	fake_answer(&w, qname);
	w.b[0] = q[0], w.b[1] = q[1];
	sendto(fd, w.b, (size_t)w.len, 0, (struct sockaddr *)&from, flen);
}

static void test_fake_server(void **state)
{
	static const struct {
		const char *name;
		enum dns_status status;
		const char *texts;
	} rows[] = {
		{ "c.fake", DNS_FOUND, "192.0.2.99" }, /* asks a.fake itself */
		{ "loop1.fake", DNS_TEMPFAIL, "" }, /* chain too long */
		{ "servfail.fake", DNS_TEMPFAIL, "" },
		{ "garbage.fake", DNS_TEMPFAIL, "" },
	};
	struct fixture f = { .loop = ev_loop_new() };
	struct fake_dns fake;
	dns_resolver *r;

	(void)state;
	fake.port = dnsmasq_free_udp_port(&fake.fd);
	fake.io = ev_io_add(f.loop, fake.fd, EV_READ, fake_dns_read, &fake);
	r = resolver(&f, fake.port, 2000, 100);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct dns_result *res;

		fake.questions = 0;
		res = ask(&f, r, rows[i].name, DNS_A);
		print_message("%s: %s %s (%d questions)\n", rows[i].name,
			      dns_status_name(res->status), res->error ? res->error : "",
			      fake.questions);
		assert_int_equal(res->status, rows[i].status);
		if (res->status == DNS_FOUND) {
			check_texts(res, rows[i].texts);
			assert_string_equal(res->name, "a.fake");
			assert_int_equal(fake.questions, 2);
		}
		if (i == 1) /* one question per hop, no more than the limit */
			assert_int_equal(fake.questions, DNS_CHAIN_MAX);
		dns_result_free(&res);
	}
	dns_free(&r);
	ev_io_remove(&fake.io);
	close(fake.fd);
	ev_loop_free(&f.loop);
}

static void test_lookups(void **state)
{
	static const struct case_row rows[] = {
		{ "mail.test.example", DNS_A, DNS_FOUND, false, "192.0.2.10" },
		{ "MAIL.Test.Example.", DNS_AAAA, DNS_FOUND, false, "2001:db8::10" },
		{ "test.example", DNS_TXT, DNS_FOUND, false, "v=spf1 -all" },
		{ "10.2.0.192.in-addr.arpa", DNS_PTR, DNS_FOUND, false, "mail.test.example" },
		{ "alias.test.example", DNS_A, DNS_FOUND, false, "192.0.2.10" },
		{ "alias2.test.example", DNS_AAAA, DNS_FOUND, false, "2001:db8::10" },
		{ "nosuch.test.example", DNS_A, DNS_NOTFOUND, true, "" },
		{ "mail2.test.example", DNS_AAAA, DNS_NOTFOUND, false, "" },
		{ "mail2.test.example", DNS_MX, DNS_NOTFOUND, false, "" },
		{ "dangling.test.example", DNS_A, DNS_NOTFOUND, true, "" },
		{ "elsewhere.invalid", DNS_A, DNS_TEMPFAIL, false, "" }, /* REFUSED */
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct dns_result *res = ask(f, f->r, rows[i].name, rows[i].type);

		print_message("%s %s: %s %s\n", rows[i].name, dns_type_name(rows[i].type),
			      dns_status_name(res->status), res->error ? res->error : "");
		assert_int_equal(res->status, rows[i].status);
		if (rows[i].status == DNS_NOTFOUND)
			assert_int_equal(res->nxdomain, rows[i].nxdomain);
		if (rows[i].status == DNS_FOUND) {
			check_texts(res, rows[i].texts);
			assert_true(res->ttl > 0);
		}
		dns_result_free(&res);
	}
}

static void test_mx(void **state)
{
	struct fixture *f = *state;
	struct dns_result *res = ask(f, f->r, "test.example", DNS_MX);

	assert_int_equal(res->status, DNS_FOUND);
	assert_false(res->null_mx);
	/* by preference, equal ones in the server's order */
	assert_int_equal(res->count, 3);
	assert_int_equal(res->rrs[0].pref, 10);
	assert_int_equal(res->rrs[1].pref, 10);
	assert_int_equal(res->rrs[2].pref, 20);
	assert_string_equal(res->rrs[2].text, "mail2.test.example");
	for (int i = 0; i < 20; i++) {
		dns_mx_shuffle(res);
		assert_int_equal(res->rrs[2].pref, 20);
		assert_int_equal(res->rrs[0].pref, 10);
	}
	dns_result_free(&res);

	res = ask(f, f->r, "mxalias.test.example", DNS_MX); /* through a CNAME */
	assert_int_equal(res->status, DNS_FOUND);
	assert_int_equal(res->count, 3);
	assert_string_equal(res->name, "test.example");
	dns_result_free(&res);

	res = ask(f, f->r, "nullmx.test.example", DNS_MX);
	assert_int_equal(res->status, DNS_FOUND);
	assert_true(res->null_mx);
	assert_int_equal(res->count, 1);
	assert_string_equal(res->rrs[0].text, "");
	dns_result_free(&res);
}

/* shuffled_in_child: the order a fresh child process gives ten MX hosts
 * of equal preference, as ten letters. */
static void shuffled_in_child(char out[11])
{
	int fds[2];
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct dns_rr rrs[10];
		struct dns_result res = { .status = DNS_FOUND, .count = 10, .rrs = rrs };
		char names[10][2], order[10];

		for (int i = 0; i < 10; i++) {
			names[i][0] = (char)('a' + i);
			names[i][1] = '\0';
			rrs[i] = (struct dns_rr){ .text = names[i], .pref = 10 };
		}
		dns_mx_shuffle(&res);
		for (int i = 0; i < 10; i++)
			order[i] = rrs[i].text[0];
		_exit(write(fds[1], order, 10) == 10 ? 0 : 1);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], out, 10), 10);
	out[10] = '\0';
	close(fds[0]);
	waitpid(pid, NULL, 0);
}

/* test_shuffle_per_process: two processes do not shuffle alike (random()
 * was never seeded: every smtp process tried equal MX hosts in the same
 * order). Equal by chance: 1 in 3.6 million. */
static void test_shuffle_per_process(void **state)
{
	char a[11], b[11];

	(void)state;
	shuffled_in_child(a);
	shuffled_in_child(b);
	assert_string_not_equal(a, b);
}

static void test_txt_joined(void **state)
{
	struct fixture *f = *state;
	struct dns_result *res = ask(f, f->r, "txt2.test.example", DNS_TXT);

	assert_int_equal(res->status, DNS_FOUND);
	assert_int_equal(res->count, 1);
	assert_string_equal(res->rrs[0].text, "part onepart two");
	assert_int_equal(res->rrs[0].len, strlen("part onepart two"));
	dns_result_free(&res);
}

static void test_timeout(void **state)
{
	struct fixture *f = *state;
	dns_resolver *r = resolver(f, f->silent_port, 400, 100);
	uint64_t start = ev_now_ms(f->loop);
	struct dns_result *res = ask(f, r, "mail.test.example", DNS_A);
	uint64_t took = ev_now_ms(f->loop) - start;

	assert_int_equal(res->status, DNS_TEMPFAIL);
	assert_true(took >= 300 && took < 2000);
	dns_result_free(&res);
	/* a temporary failure is not cached: the second one waits again */
	start = ev_now_ms(f->loop);
	res = ask(f, r, "mail.test.example", DNS_A);
	assert_int_equal(res->status, DNS_TEMPFAIL);
	assert_true(ev_now_ms(f->loop) - start >= 300);
	dns_result_free(&res);
	dns_free(&r);
}

static void test_cache(void **state)
{
	struct fixture *f = *state;
	dns_resolver *nocache = resolver(f, f->port, 1000, 0);
	struct dns_result *res;

	res = ask(f, f->r, "mail3.test.example", DNS_A);
	assert_int_equal(res->status, DNS_FOUND);
	dns_result_free(&res);
	res = ask(f, f->r, "nosuch2.test.example", DNS_A);
	assert_int_equal(res->status, DNS_NOTFOUND);
	dns_result_free(&res);
	res = ask(f, nocache, "mail3.test.example", DNS_A);
	assert_int_equal(res->status, DNS_FOUND);
	dns_result_free(&res);

	dnsmasq_stop(&f->pid); /* from now on only the cache answers */
	res = ask(f, f->r, "MAIL3.test.example.", DNS_A);
	assert_int_equal(res->status, DNS_FOUND);
	check_texts(res, "192.0.2.12");
	dns_result_free(&res);
	res = ask(f, f->r, "nosuch2.test.example", DNS_A);
	assert_int_equal(res->status, DNS_NOTFOUND);
	assert_true(res->nxdomain);
	dns_result_free(&res);
	res = ask(f, nocache, "mail3.test.example", DNS_A);
	assert_int_equal(res->status, DNS_TEMPFAIL);
	dns_result_free(&res);
	dns_free(&nocache);
}

static void test_cancel(void **state)
{
	struct fixture *f = *state;
	dns_resolver *r = resolver(f, f->silent_port, 300, 100);
	struct catch c = { .loop = f->loop }, warm = { .loop = f->loop };
	dns_query *q;

	/* in flight at a server that never answers */
	q = dns_lookup(r, "mail.test.example", DNS_A, catch_cb, &c);
	dns_cancel(&q);
	assert_null(q);
	dns_cancel(&q); /* NULL is fine */
	wait_for(f->loop, &c, 1500);
	assert_false(c.called);

	/* answered from the cache, cancelled before the answer is handed over */
	warm.res = ask(f, f->r, "mail.test.example", DNS_A);
	assert_int_equal(warm.res->status, DNS_FOUND);
	dns_result_free(&warm.res);
	q = dns_lookup(f->r, "mail.test.example", DNS_A, catch_cb, &c);
	dns_cancel(&q);
	wait_for(f->loop, &c, 200);
	assert_false(c.called);

	/* many pending when the resolver goes: no callback */
	for (int i = 0; i < 10; i++)
		(void)dns_lookup(r, "x.test.example", DNS_MX, catch_cb, &c);
	dns_free(&r);
	wait_for(f->loop, &c, 200);
	assert_false(c.called);
}

static void test_parse_servers(void **state)
{
	static const struct {
		const char *in, *csv;
	} rows[] = {
		{ "", "" },
		{ "127.0.0.1", "127.0.0.1:53" },
		{ "127.0.0.1:5353 [::1]:53", "127.0.0.1:5353,[::1]:53" },
		{ "::1, 192.0.2.1", "[::1]:53,192.0.2.1:53" },
		{ "[2001:db8::1]", "[2001:db8::1]:53" },
		{ "dns.example", NULL },
		{ "127.0.0.1:0", NULL },
		{ "127.0.0.1:99999", NULL },
		{ "127.0.0.1:x", NULL },
		{ "[::1", NULL },
		{ "[::1]x", NULL },
		{ "[127.0.0.1:53", NULL },
		{ "1.2.3", NULL },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *csv = NULL, *err = NULL;
		int rc = dns_parse_servers(rows[i].in, &csv, &err);

		if (rows[i].csv == NULL) {
			assert_int_equal(rc, -1);
			assert_non_null(err);
			free(err);
		}
		else {
			assert_int_equal(rc, 0);
			assert_string_equal(csv, rows[i].csv);
		}
		free(csv);
	}
}

static void test_reverse_and_match(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	char name[128];
	struct dns_rr rr = { .family = AF_INET, .addr = { 192, 0, 2, 10 } };
	struct dns_result res = { .status = DNS_FOUND, .count = 1, .rrs = &rr };

	(void)state;
	inet_pton(AF_INET, "192.0.2.10", &sin.sin_addr);
	assert_int_equal(dns_reverse_name((struct sockaddr *)&sin, name, sizeof(name)), 0);
	assert_string_equal(name, "10.2.0.192.in-addr.arpa");
	assert_int_equal(dns_reverse_name((struct sockaddr *)&sin, name, 10), -1);
	assert_true(dns_result_has_addr(&res, (struct sockaddr *)&sin));

	inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
	assert_int_equal(dns_reverse_name((struct sockaddr *)&sin6, name, sizeof(name)), 0);
	assert_string_equal(name, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
	assert_false(dns_result_has_addr(&res, (struct sockaddr *)&sin6));

	inet_pton(AF_INET6, "::ffff:192.0.2.10", &sin6.sin6_addr);
	assert_int_equal(dns_reverse_name((struct sockaddr *)&sin6, name, sizeof(name)), 0);
	assert_string_equal(name, "10.2.0.192.in-addr.arpa");
	assert_true(dns_result_has_addr(&res, (struct sockaddr *)&sin6));

	inet_pton(AF_INET, "192.0.2.11", &sin.sin_addr);
	assert_false(dns_result_has_addr(&res, (struct sockaddr *)&sin));
	res.status = DNS_NOTFOUND;
	inet_pton(AF_INET, "192.0.2.10", &sin.sin_addr);
	assert_false(dns_result_has_addr(&res, (struct sockaddr *)&sin));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_servers),
		cmocka_unit_test(test_reverse_and_match),
		cmocka_unit_test(test_msg_read),
		cmocka_unit_test(test_fake_server),
		cmocka_unit_test_setup_teardown(test_lookups, setup, teardown),
		cmocka_unit_test(test_shuffle_per_process),
		cmocka_unit_test_setup_teardown(test_mx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_txt_joined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
