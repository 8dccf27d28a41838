/* test_spf_dns.c: lib/spf over the real resolver (spf_dns_from_resolver
 * on lib/dns and the ev loop) against a private dnsmasq: pass by a, mx
 * and include, fail with the exp= explanation, none, and temperror from a
 * server that never answers; the answer always comes later from the loop,
 * never from inside spf_check_start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns.h"
#include "dnsmasq.h"
#include "ev.h"
#include "mem.h"
#include "spf.h"

static const char *const records[] = {
	"--local=/test.example/",
	"--txt-record=spf.test.example,v=spf1 a:mail.test.example mx "
	"include:inc.test.example -all exp=why.test.example",
	"--txt-record=why.test.example,%{i} may not send for %{d}",
	"--txt-record=inc.test.example,v=spf1 ip4:198.51.100.0/24 -all",
	"--txt-record=other.test.example,not spf at all",
	"--host-record=mail.test.example,192.0.2.10",
	"--host-record=mx.test.example,192.0.2.20",
	"--mx-host=spf.test.example,mx.test.example,10",
	NULL,
};

struct fixture {
	pid_t pid;
	int silent_fd;
	ev_loop *loop;
	dns_resolver *r, *silent;
};

struct outcome {
	bool called;
	enum spf_result result;
	char *explanation;
};

static dns_resolver *make_resolver(ev_loop *loop, int port, unsigned timeout_ms)
{
	return dnsmasq_resolver(loop, port, timeout_ms, 1, 0);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	int port;
	int silent_port = dnsmasq_free_udp_port(&f->silent_fd);

	if (dnsmasq_start(records, &port, &f->pid) < 0)
		return -1;
	f->loop = ev_loop_new();
	f->r = make_resolver(f->loop, port, 3000);
	f->silent = make_resolver(f->loop, silent_port, 300);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dns_free(&f->r);
	dns_free(&f->silent);
	ev_loop_free(&f->loop);
	dnsmasq_stop(&f->pid);
	close(f->silent_fd);
	free(f);
	return 0;
}

static void done_cb(void *ctx, const struct spf_answer *ans)
{
	struct outcome *o = ctx;

	o->called = true;
	o->result = ans->result;
	o->explanation = ans->explanation != NULL ? xstrdup(ans->explanation) : NULL;
}

static enum spf_result check(struct fixture *f, dns_resolver *r, const char *ip,
			     const char *sender, char **exp_r)
{
	struct spf_dns dns = spf_dns_from_resolver(r);
	struct spf_request req = { .ip = ip, .sender = sender, .helo = "client.test.example" };
	struct outcome o = { 0 };
	spf_check *c = spf_check_start(&dns, &req, done_cb, &o);
	uint64_t end = ev_now_ms(f->loop) + 10000;

	assert_false(spf_check_done(c)); /* lib/dns never answers at once */
	while (!o.called && ev_now_ms(f->loop) < end)
		ev_run_once(f->loop, 50);
	assert_true(o.called);
	assert_true(spf_check_done(c));
	spf_check_free(&c);
	if (exp_r != NULL)
		*exp_r = o.explanation;
	else
		free(o.explanation);
	return o.result;
}

static void test_results(void **state)
{
	struct fixture *f = *state;
	char *exp = NULL;

	assert_int_equal(check(f, f->r, "192.0.2.10", "a@spf.test.example", NULL), SPF_PASS);
	assert_int_equal(check(f, f->r, "192.0.2.20", "a@spf.test.example", NULL), SPF_PASS);
	assert_int_equal(check(f, f->r, "198.51.100.9", "a@spf.test.example", NULL), SPF_PASS);
	assert_int_equal(check(f, f->r, "203.0.113.1", "a@spf.test.example", &exp), SPF_FAIL);
	assert_non_null(exp);
	assert_string_equal(exp, "203.0.113.1 may not send for spf.test.example");
	free(exp);
	assert_int_equal(check(f, f->r, "192.0.2.10", "a@other.test.example", NULL), SPF_NONE);
	assert_int_equal(check(f, f->r, "192.0.2.10", "a@nx.test.example", NULL), SPF_NONE);
}

static void test_timeout_is_temperror(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(check(f, f->silent, "192.0.2.10", "a@spf.test.example", NULL),
			 SPF_TEMPERROR);
}

static void test_free_while_pending(void **state)
{
	struct fixture *f = *state;
	struct spf_dns dns = spf_dns_from_resolver(f->silent);
	struct spf_request req = { .ip = "192.0.2.10", .sender = "a@spf.test.example" };
	struct outcome o = { 0 };
	spf_check *c = spf_check_start(&dns, &req, done_cb, &o);
	uint64_t end;

	spf_check_free(&c); /* cancels the query: no callback afterwards */
	end = ev_now_ms(f->loop) + 600;
	while (ev_now_ms(f->loop) < end)
		ev_run_once(f->loop, 50);
	assert_false(o.called);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_timeout_is_temperror),
		cmocka_unit_test(test_free_while_pending),
	};

	if (access(DNSMASQ, X_OK) != 0) {
		printf("test_spf_dns: %s missing, skipped\n", DNSMASQ);
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
