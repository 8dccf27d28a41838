/* test_spf.c: unit tests for lib/spf: the record parser (tables of good
 * and bad records), the macro expander (the RFC 7208 7.4 examples, URL
 * escaping, exp-only letters, syntax errors, the size bound), domain
 * truncation, and the evaluator's asynchronous contract over the
 * in-memory test zone (no answer before DNS answers, cancel by free, the
 * DNS-term and void-lookup limits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonread.h"
#include "spf.h"
#include "spf_zone.h"

struct record_case {
	const char *text;
	bool ok;
	size_t terms;
};

static const struct record_case record_cases[] = {
	{ "v=spf1", true, 0 },
	{ "V=SPF1 -ALL", true, 1 },
	{ "v=spf1  ip4:192.0.2.0/24   ip6:2001:db8::/32 ~all ", true, 3 },
	{ "v=spf1 a mx ptr a:example.com/24 mx:example.com//64 a/24//96", true, 6 },
	{ "v=spf1 include:_spf.example.com exists:%{i}.in.example.com -all", true, 3 },
	{ "v=spf1 redirect=_spf.example.com", true, 0 },
	{ "v=spf1 exp=explain.%{d} -all", true, 1 },
	{ "v=spf1 foo=bar x-y.z=%{d} -all", true, 1 },
	{ "v=spf1 a:foo.example.com.", true, 1 },
	{ "v=spf1 a:%{d}", true, 1 },
	{ "v=spf10", false, 0 },
	{ "v=spf1 -all\t", false, 0 },
	{ "v=spf1 -all \xc3\xa9", false, 0 },
	{ "v=spf1 all:foo", false, 0 },
	{ "v=spf1 include", false, 0 },
	{ "v=spf1 include:", false, 0 },
	{ "v=spf1 exists", false, 0 },
	{ "v=spf1 a:museum", false, 0 },
	{ "v=spf1 a:111.222.33.44", false, 0 },
	{ "v=spf1 a/33", false, 0 },
	{ "v=spf1 a//129", false, 0 },
	{ "v=spf1 a/024", false, 0 },
	{ "v=spf1 ip4:1.2.3.4/33", false, 0 },
	{ "v=spf1 ip4:1.2.3", false, 0 },
	{ "v=spf1 ip4:", false, 0 },
	{ "v=spf1 ip6:1.2.3.4", false, 0 },
	{ "v=spf1 ip6:::1/129", false, 0 },
	{ "v=spf1 frob", false, 0 },
	{ "v=spf1 !all", false, 0 },
	{ "v=spf1 redirect=a.example.com redirect=b.example.com", false, 0 },
	{ "v=spf1 exp=a.example.com exp=b.example.com", false, 0 },
	{ "v=spf1 redirect=", false, 0 },
	{ "v=spf1 foo=%", false, 0 },
	{ "v=spf1 exists:%{c}.example.com", false, 0 },
	{ "v=spf1 a:%{x}.example.com", false, 0 },
	{ "v=spf1 a:%{d0}.example.com", false, 0 },
};

static void test_record_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(record_cases) / sizeof(record_cases[0]); i++) {
		const struct record_case *rc = &record_cases[i];
		char *err = NULL;
		struct spf_record *rec = spf_record_parse(rc->text, strlen(rc->text), &err);

		if (rc->ok != (rec != NULL))
			fail_msg("%s: want %s, got %s", rc->text, rc->ok ? "ok" : "error",
				 err != NULL ? err : "ok");
		if (rec != NULL)
			assert_int_equal(rec->count, rc->terms);
		else
			assert_non_null(err);
		spf_record_free(&rec);
		free(err);
	}
}

static void test_record_fields(void **state)
{
	const char *text = "v=spf1 -a:mail.%{d}/24//64 ~mx ?ip4:10.1.0.0/16 "
			   "redirect=_spf.example.net exp=why.example.net";
	char *err = NULL;
	struct spf_record *rec = spf_record_parse(text, strlen(text), &err);

	(void)state;
	assert_non_null(rec);
	assert_int_equal(rec->count, 3);
	assert_int_equal(rec->terms[0].mech, SPF_MECH_A);
	assert_int_equal(rec->terms[0].qualifier, '-');
	assert_string_equal(rec->terms[0].domain, "mail.%{d}");
	assert_int_equal(rec->terms[0].cidr4, 24);
	assert_int_equal(rec->terms[0].cidr6, 64);
	assert_int_equal(rec->terms[1].mech, SPF_MECH_MX);
	assert_int_equal(rec->terms[1].qualifier, '~');
	assert_null(rec->terms[1].domain);
	assert_int_equal(rec->terms[1].cidr4, 32);
	assert_int_equal(rec->terms[2].cidr4, 16);
	assert_memory_equal(rec->terms[2].addr, "\x0a\x01\x00\x00", 4);
	assert_string_equal(rec->redirect, "_spf.example.net");
	assert_string_equal(rec->exp, "why.example.net");
	spf_record_free(&rec);
	assert_null(rec);
}

static void test_record_limits(void **state)
{
	buf *b = buf_new(8192);
	char *err = NULL;
	struct spf_record *rec;

	(void)state;
	buf_puts(b, "v=spf1");
	for (int i = 0; i < SPF_MAX_TERMS + 1; i++)
		buf_puts(b, " a");
	rec = spf_record_parse(buf_cstr(b), buf_len(b), &err);
	assert_null(rec);
	assert_non_null(strstr(err, "too many terms"));
	free(err);
	buf_reset(b);
	buf_puts(b, "v=spf1 ");
	while (buf_len(b) <= SPF_MAX_RECORD_LEN)
		buf_puts(b, "x");
	rec = spf_record_parse(buf_cstr(b), buf_len(b), &err);
	assert_null(rec);
	free(err);
	buf_free(&b);
}

struct macro_case {
	const char *in;
	const char *want; /* NULL: a syntax error */
	unsigned flags;
};

static const struct macro_case macro_cases[] = {
	{ "%{s}", "strong-bad@email.example.com", 0 },
	{ "%{o}", "email.example.com", 0 },
	{ "%{d}", "email.example.com", 0 },
	{ "%{d4}", "email.example.com", 0 },
	{ "%{d3}", "email.example.com", 0 },
	{ "%{d2}", "example.com", 0 },
	{ "%{d1}", "com", 0 },
	{ "%{dr}", "com.example.email", 0 },
	{ "%{d2r}", "example.email", 0 },
	{ "%{l}", "strong-bad", 0 },
	{ "%{l-}", "strong.bad", 0 },
	{ "%{lr}", "strong-bad", 0 },
	{ "%{lr-}", "bad.strong", 0 },
	{ "%{l1r-}", "strong", 0 },
	{ "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com", 0 },
	{ "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com", 0 },
	{ "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com", 0 },
	{ "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com", 0 },
	{ "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net", 0 },
	{ "%{S}", "strong-bad%40email.example.com", 0 },
	{ "%{D1R}", "email", 0 },
	{ "a%%b%_c%-d", "a%b c%20d", 0 },
	{ "%{h}.%{p}", "mx.example.org.mail.example.com", 0 },
	{ "%{d128}", "email.example.com", 0 },
	{ "%{l+-=}", "strong.bad", 0 },
	{ "%{c} %{r} at %{t}", "192.0.2.3 rcpt.example.net at 1234567890", SPF_MACRO_EXP },
	{ "%{c}", NULL, 0 },
	{ "%{r}", NULL, 0 },
	{ "%{t}", NULL, 0 },
	{ "a b", NULL, 0 },
	{ "%{x}", NULL, 0 },
	{ "%{d0}", NULL, 0 },
	{ "%{d", NULL, 0 },
	{ "%{dx}", NULL, 0 },
	{ "%", NULL, 0 },
	{ "%a", NULL, 0 },
	{ "%{}", NULL, 0 },
};

static void macro_vars(struct spf_macro_vars *v)
{
	memset(v, 0, sizeof(*v));
	v->sender = "strong-bad@email.example.com";
	v->local = "strong-bad";
	v->sender_domain = "email.example.com";
	v->domain = "email.example.com";
	v->ip_dotted = "192.0.2.3";
	v->ip_text = "192.0.2.3";
	v->ptr = "mail.example.com";
	v->helo = "mx.example.org";
	v->receiver = "rcpt.example.net";
	v->now = 1234567890;
}

static void test_macro_table(void **state)
{
	struct spf_macro_vars v;

	(void)state;
	macro_vars(&v);
	for (size_t i = 0; i < sizeof(macro_cases) / sizeof(macro_cases[0]); i++) {
		const struct macro_case *mc = &macro_cases[i];
		buf *b = buf_new(64);
		const char *err = NULL;
		int r = spf_macro_expand(mc->in, strlen(mc->in), &v, mc->flags, b, &err);

		if (mc->want == NULL) {
			if (r != -1)
				fail_msg("%s: want a syntax error, got \"%s\"", mc->in, buf_cstr(b));
			assert_non_null(err);
			/* the syntax-only check agrees */
			assert_int_equal(spf_macro_expand(mc->in, strlen(mc->in), NULL, mc->flags,
							  NULL, &err), -1);
		} else {
			if (r != 0 || strcmp(buf_cstr(b), mc->want) != 0)
				fail_msg("%s: want \"%s\", got %d \"%s\"", mc->in, mc->want, r,
					 buf_cstr(b));
			assert_int_equal(spf_macro_expand(mc->in, strlen(mc->in), NULL, mc->flags,
							  NULL, &err), 0);
		}
		buf_free(&b);
	}
}

static void test_macro_ipv6_and_ptr(void **state)
{
	struct spf_macro_vars v;
	buf *b = buf_new(64);
	const char *err;

	(void)state;
	macro_vars(&v);
	v.ipv6 = true;
	v.ip_dotted = "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1";
	assert_int_equal(spf_macro_expand("%{ir}.%{v}._spf.%{d2}", 21, &v, 0, b, &err), 0);
	assert_string_equal(buf_cstr(b), "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
					 "8.b.d.0.1.0.0.2.ip6._spf.example.com");
	/* %{p} unknown yet: ask the caller to look it up */
	v.ptr = NULL;
	buf_reset(b);
	assert_int_equal(spf_macro_expand("x.%{p}", 6, &v, 0, b, &err), 1);
	buf_free(&b);
}

static void test_macro_size_bound(void **state)
{
	struct spf_macro_vars v;
	buf *spec = buf_new(4096), *out = buf_new(64);
	const char *err = NULL;
	char big[600];

	(void)state;
	macro_vars(&v);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	v.local = big;
	for (int i = 0; i < 10; i++)
		buf_puts(spec, "%{l}");
	assert_int_equal(spf_macro_expand(buf_cstr(spec), buf_len(spec), &v, 0, out, &err), -1);
	assert_non_null(strstr(err, "too long"));
	buf_free(&spec);
	buf_free(&out);
}

static void test_domain_truncate(void **state)
{
	char name[400];

	(void)state;
	strcpy(name, "example.com.");
	spf_domain_truncate(name);
	assert_string_equal(name, "example.com");
	memset(name, 0, sizeof(name));
	for (int i = 0; i < 30; i++)
		strcat(name, "abcdefghi."); /* 300 bytes */
	strcat(name, "example.com");
	spf_domain_truncate(name);
	assert_true(strlen(name) <= 253);
	assert_int_equal(strncmp(name, "abcdefghi.", 10), 0);
	assert_non_null(strstr(name, ".example.com"));
}

/* ---- the evaluator over an in-memory zone ---- */

static const char zone_json[] =
	"{\"example.com\": [{\"TXT\": \"v=spf1 ip4:192.0.2.0/24 a:mail.example.com "
	"-all\"}],"
	" \"mail.example.com\": [{\"A\": \"198.51.100.7\"}],"
	" \"loop.example.com\": [{\"TXT\": \"v=spf1 include:loop.example.com -all\"}],"
	" \"void.example.com\": [{\"TXT\": \"v=spf1 a:n1.example.com a:n2.example.com "
	"a:n3.example.com +all\"}],"
	" \"slow.example.com\": [\"TIMEOUT\"],"
	" \"exp.example.com\": [{\"TXT\": \"v=spf1 -all exp=why.example.com\"}],"
	" \"why.example.com\": [{\"TXT\": \"%{i} is not one of %{d}'s servers\"}]}";

struct eval_fixture {
	struct jv *zone_data;
	spf_zone *zone;
	int calls;
	enum spf_result result;
};

static int eval_setup(void **state)
{
	struct eval_fixture *f = calloc(1, sizeof(*f));
	const char *err;
	size_t pos;

	f->zone_data = jv_parse(zone_json, strlen(zone_json), &err, &pos);
	assert_non_null(f->zone_data);
	f->zone = spf_zone_new(f->zone_data);
	*state = f;
	return 0;
}

static int eval_teardown(void **state)
{
	struct eval_fixture *f = *state;

	spf_zone_free(&f->zone);
	jv_free(&f->zone_data);
	free(f);
	return 0;
}

static void eval_done(void *ctx, const struct spf_answer *ans)
{
	struct eval_fixture *f = ctx;

	f->calls++;
	f->result = ans->result;
}

static enum spf_result eval_run(struct eval_fixture *f, const char *ip, const char *sender,
				const char **exp_r)
{
	struct spf_dns dns = spf_zone_dns(f->zone);
	struct spf_request req = { .ip = ip, .sender = sender, .helo = "client.example.org" };
	spf_check *c;
	enum spf_result r;

	f->calls = 0;
	c = spf_check_start(&dns, &req, eval_done, f);
	/* the zone answers only when run: nothing is known yet */
	assert_false(spf_check_done(c));
	assert_null(spf_check_answer(c));
	assert_true(spf_zone_run(f->zone) > 0);
	assert_true(spf_check_done(c));
	assert_int_equal(f->calls, 1);
	r = spf_check_answer(c)->result;
	assert_int_equal(r, f->result);
	if (exp_r != NULL)
		*exp_r = spf_check_answer(c)->explanation != NULL
				 ? strdup(spf_check_answer(c)->explanation)
				 : NULL;
	spf_check_free(&c);
	assert_null(c);
	return r;
}

static void test_eval_basic(void **state)
{
	struct eval_fixture *f = *state;

	assert_int_equal(eval_run(f, "192.0.2.9", "a@example.com", NULL), SPF_PASS);
	assert_int_equal(eval_run(f, "198.51.100.7", "a@example.com", NULL), SPF_PASS);
	assert_int_equal(eval_run(f, "::ffff:198.51.100.7", "a@example.com", NULL), SPF_PASS);
	assert_int_equal(eval_run(f, "203.0.113.1", "a@example.com", NULL), SPF_FAIL);
	assert_int_equal(eval_run(f, "2001:db8::1", "a@example.com", NULL), SPF_FAIL);
	assert_int_equal(eval_run(f, "192.0.2.9", "a@nothing.example.com", NULL), SPF_NONE);
	assert_int_equal(eval_run(f, "192.0.2.9", "a@slow.example.com", NULL), SPF_TEMPERROR);
}

static void test_eval_limits(void **state)
{
	struct eval_fixture *f = *state;

	/* include of itself: stopped by the 10 DNS-term limit */
	assert_int_equal(eval_run(f, "192.0.2.9", "a@loop.example.com", NULL), SPF_PERMERROR);
	/* three names that do not exist: the third void lookup is one too many */
	assert_int_equal(eval_run(f, "192.0.2.9", "a@void.example.com", NULL), SPF_PERMERROR);
}

static void test_eval_explanation(void **state)
{
	struct eval_fixture *f = *state;
	const char *exp = NULL;

	assert_int_equal(eval_run(f, "192.0.2.9", "a@exp.example.com", &exp), SPF_FAIL);
	assert_non_null(exp);
	assert_string_equal(exp, "192.0.2.9 is not one of exp.example.com's servers");
	free((char *)exp);
}

static void test_eval_cancel(void **state)
{
	struct eval_fixture *f = *state;
	struct spf_dns dns = spf_zone_dns(f->zone);
	struct spf_request req = { .ip = "192.0.2.9", .sender = "a@example.com", .helo = "x" };
	spf_check *c = spf_check_start(&dns, &req, eval_done, f);

	f->calls = 0;
	assert_false(spf_check_done(c));
	spf_check_free(&c); /* cancels the pending query */
	assert_int_equal(spf_zone_run(f->zone), 0);
	assert_int_equal(f->calls, 0);
}

static void test_eval_bad_request(void **state)
{
	struct eval_fixture *f = *state;
	struct spf_dns dns = spf_zone_dns(f->zone);
	struct spf_request req = { .ip = "not-an-ip", .sender = "a@example.com", .helo = "x" };
	spf_check *c = spf_check_start(&dns, &req, eval_done, f);

	f->calls = 0;
	/* known at once: done on return and no callback */
	assert_true(spf_check_done(c));
	assert_int_equal(spf_check_answer(c)->result, SPF_PERMERROR);
	assert_int_equal(f->calls, 0);
	spf_check_free(&c);
	assert_string_equal(spf_result_name(SPF_SOFTFAIL), "softfail");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_table),
		cmocka_unit_test(test_record_fields),
		cmocka_unit_test(test_record_limits),
		cmocka_unit_test(test_macro_table),
		cmocka_unit_test(test_macro_ipv6_and_ptr),
		cmocka_unit_test(test_macro_size_bound),
		cmocka_unit_test(test_domain_truncate),
		cmocka_unit_test_setup_teardown(test_eval_basic, eval_setup, eval_teardown),
		cmocka_unit_test_setup_teardown(test_eval_limits, eval_setup, eval_teardown),
		cmocka_unit_test_setup_teardown(test_eval_explanation, eval_setup, eval_teardown),
		cmocka_unit_test_setup_teardown(test_eval_cancel, eval_setup, eval_teardown),
		cmocka_unit_test_setup_teardown(test_eval_bad_request, eval_setup, eval_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
