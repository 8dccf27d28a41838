/* test_dmarc_dns.c: unit tests for lib/txt_dns.c as DMARC's policy
 * lookup on lib/dns: a private dnsmasq serves _dmarc.example.com (a
 * DMARC record beside an unrelated TXT record) and nothing else under
 * example.com, so a subdomain's check falls back to the organisational
 * domain through real DNS; a server that never answers gives temperror,
 * and a check freed with its lookup in flight cancels it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmarc.h"
#include "txt_dns.h"
#include "dnsmasq.h"
#include "ev.h"
#include "mem.h"

static const char *const records[] = {
	"--txt-record=_dmarc.example.com,v=DMARC1; p=reject; sp=quarantine",
	"--txt-record=_dmarc.example.com,google-site-verification=abc",
	"--local=/example.com/",
	NULL,
};

struct fixture {
	pid_t pid;
	int port, silent_port, silent_fd;
	ev_loop *loop;
	psl_table *psl;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->silent_port = dnsmasq_free_udp_port(&f->silent_fd);
	if (dnsmasq_start(records, &f->port, &f->pid) < 0)
		return -1;
	f->loop = ev_loop_new();
	f->psl = psl_fallback(); /* example.com is the org domain either way */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	psl_free(&f->psl);
	ev_loop_free(&f->loop);
	dnsmasq_stop(&f->pid);
	close(f->silent_fd);
	free(f);
	return 0;
}

static dns_resolver *resolver(struct fixture *f, int port, unsigned timeout_ms)
{
	return dnsmasq_resolver(f->loop, port, timeout_ms, 0, 0);
}

static void done(void *ctx, dmarc_check *c)
{
	(void)c;
	(*(int *)ctx)++;
}

/* run: checks author with an SPF fail; returns the finished check */
static dmarc_check *run(struct fixture *f, dns_resolver *r, const char *author)
{
	struct dmarc_authors au = { .status = DMARC_FROM_OK, .count = 1, .fields = 1 };
	struct dmarc_settings set = { f->psl, txt_dns_resolver(r), NULL, NULL };
	struct dmarc_request req = { "other.example.net", SPF_FAIL, NULL, 0, "192.0.2.9" };
	dmarc_check *c;
	int called = 0;
	uint64_t end;

	au.domains[0] = xstrdup(author);
	c = dmarc_check_start(&set, &au, done, &called);
	dmarc_authors_clear(&au);
	assert_false(dmarc_check_done(c)); /* DNS answers later */
	end = ev_now_ms(f->loop) + 10000;
	while (called == 0 && ev_now_ms(f->loop) < end)
		ev_run_once(f->loop, 50);
	assert_int_equal(called, 1);
	assert_non_null(dmarc_check_judge(c, f->psl, &req));
	return c;
}

static void test_discovery_through_dns(void **state)
{
	struct fixture *f = *state;
	dns_resolver *r = resolver(f, f->port, 3000);
	dmarc_check *c = run(f, r, "example.com");
	const struct dmarc_verdict *v = dmarc_check_verdict(c);

	assert_int_equal(v->result, DMARC_RESULT_FAIL);
	assert_int_equal(v->disposition, DMARC_POLICY_REJECT);
	assert_string_equal(v->policy_domain, "example.com");
	dmarc_check_free(&c);
	/* _dmarc.news.example.com does not exist: the org record's sp= */
	c = run(f, r, "news.example.com");
	v = dmarc_check_verdict(c);
	assert_int_equal(v->result, DMARC_RESULT_FAIL);
	assert_int_equal(v->disposition, DMARC_POLICY_QUARANTINE);
	assert_string_equal(v->policy_domain, "example.com");
	dmarc_check_free(&c);
	dns_free(&r);
}

static void test_timeout_and_cancel(void **state)
{
	struct fixture *f = *state;
	dns_resolver *r = resolver(f, f->silent_port, 300);
	dmarc_check *c = run(f, r, "example.com");
	struct dmarc_authors au = { .status = DMARC_FROM_OK, .count = 1, .fields = 1 };
	struct dmarc_settings set = { f->psl, txt_dns_resolver(r), NULL, NULL };
	int called = 0;

	assert_int_equal(dmarc_check_verdict(c)->result, DMARC_RESULT_TEMPERROR);
	dmarc_check_free(&c);
	/* freed while the lookup is out: nothing may call back later */
	au.domains[0] = xstrdup("example.com");
	c = dmarc_check_start(&set, &au, done, &called);
	dmarc_check_free(&c);
	for (int i = 0; i < 8; i++)
		ev_run_once(f->loop, 50);
	assert_int_equal(called, 0);
	dmarc_authors_clear(&au);
	dns_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discovery_through_dns),
		cmocka_unit_test(test_timeout_and_cancel),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
