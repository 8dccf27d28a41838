/* test_dkim_dns.c: unit tests for lib/txt_dns.c as DKIM's key lookup on
 * lib/dns: a private dnsmasq serves the RFC 8463 example's two key
 * records and the signed example verifies through it; a missing record
 * gives permerror, a server that never answers temperror, and a verifier
 * freed with lookups in flight cancels them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "dkim.h"
#include "txt_dns.h"
#include "dnsmasq.h"
#include "ev.h"
#include "mem.h"
#include "dkim_kit.h"

static const char *const records[] = {
	"--txt-record=brisbane._domainkey.football.example.com,"
	"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
	"--txt-record=test._domainkey.football.example.com,v=DKIM1; k=rsa; "
	"p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQ"
	"iY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9Pzo"
	"xZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB",
	"--local=/football.example.com/",
	NULL,
};

struct fixture {
	pid_t pid;
	int port, silent_port, silent_fd;
	ev_loop *loop;
	char *msg;
};

static char *read_vector(const char *file)
{
	char *path = dkim_kit_path(file);
	FILE *f = fopen(path, "r");
	buf *b = buf_new(4096);
	char chunk[4096];
	size_t n;

	if (f == NULL)
		fail_msg("cannot read %s (set SHARED to the shared kit)", path);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(b, chunk, n);
	fclose(f);
	free(path);
	return buf_steal_free(&b);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->silent_port = dnsmasq_free_udp_port(&f->silent_fd);
	if (dnsmasq_start(records, &f->port, &f->pid) < 0)
		return -1;
	f->loop = ev_loop_new();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ev_loop_free(&f->loop);
	dnsmasq_stop(&f->pid);
	close(f->silent_fd);
	free(f->msg);
	free(f);
	return 0;
}

static dns_resolver *resolver(struct fixture *f, int port, unsigned timeout_ms)
{
	return dnsmasq_resolver(f->loop, port, timeout_ms, 0, 0);
}

static void done(void *ctx, dkim_verifier *v)
{
	(void)v;
	(*(int *)ctx)++;
}

/* run: verifies msg with keys from r; returns the verifier when done */
static dkim_verifier *run(struct fixture *f, dns_resolver *r, const char *msg)
{
	struct dkim_verify_params p = { txt_dns_resolver(r), 0, 0, 0, 0 };
	dkim_verifier *v = dkim_verify_new(&p);
	const char *sep = strstr(msg, "\n\n");
	size_t hl = (size_t)(sep - msg) + 2;
	int called = 0;
	uint64_t end;

	dkim_verify_headers(v, msg, hl);
	dkim_verify_body(v, msg + hl, strlen(msg + hl));
	assert_int_equal(dkim_verify_finish(v, done, &called), 0); /* DNS answers later */
	end = ev_now_ms(f->loop) + 10000;
	while (called == 0 && ev_now_ms(f->loop) < end)
		ev_run_once(f->loop, 50);
	assert_int_equal(called, 1);
	return v;
}

static void test_verify_through_dns(void **state)
{
	struct fixture *f = *state;
	dns_resolver *r = resolver(f, f->port, 3000);
	char *msg = read_vector("rfc6376.signed.msg");
	dkim_verifier *v = run(f, r, msg);

	assert_int_equal(dkim_verify_count(v), 2);
	assert_int_equal(dkim_verify_result(v, 0)->status, DKIM_PASS);
	assert_int_equal(dkim_verify_result(v, 1)->status, DKIM_PASS);
	dkim_verify_free(&v);
	/* no record under another selector */
	char *other = strstr(msg, "s=brisbane");
	assert_non_null(other);
	memcpy(other, "s=brisbone", 10);
	v = run(f, r, msg);
	assert_int_equal(dkim_verify_result(v, 0)->status, DKIM_PERMERROR);
	assert_string_equal(dkim_verify_result(v, 0)->reason, "no key record");
	assert_int_equal(dkim_verify_result(v, 1)->status, DKIM_PASS);
	dkim_verify_free(&v);
	dns_free(&r);
	free(msg);
}

static void test_timeout_and_cancel(void **state)
{
	struct fixture *f = *state;
	dns_resolver *r = resolver(f, f->silent_port, 300);
	char *msg = read_vector("rfc6376.signed.msg");
	dkim_verifier *v = run(f, r, msg);
	struct dkim_verify_params p = { txt_dns_resolver(r), 0, 0, 0, 0 };

	assert_int_equal(dkim_verify_result(v, 0)->status, DKIM_TEMPERROR);
	assert_int_equal(dkim_verify_result(v, 1)->status, DKIM_TEMPERROR);
	dkim_verify_free(&v);
	/* freed while both lookups are out: nothing may call back later */
	v = dkim_verify_new(&p);
	dkim_verify_headers(v, msg, (size_t)(strstr(msg, "\n\n") - msg) + 2);
	dkim_verify_free(&v);
	for (int i = 0; i < 8; i++)
		ev_run_once(f->loop, 50);
	dns_free(&r);
	free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verify_through_dns),
		cmocka_unit_test(test_timeout_and_cancel),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
