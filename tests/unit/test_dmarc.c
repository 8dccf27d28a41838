/* test_dmarc.c: unit tests for lib/dmarc*.c: record parsing (tables of
 * good and bad records), the author domains of From fields, and whole
 * checks over a DNS zone in memory that answers at once or later:
 * discovery with the organisational-domain fallback, several and no
 * records, temporary failures, strict and relaxed alignment of SPF and
 * DKIM, sp= for subdomains, pct= with a fixed draw, several author
 * domains, cancelling, and the report line. Organisational domains come
 * from tests/data/psl_test.dat. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"
#include "mem.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- records ---- */

struct good_record {
	const char *text;
	enum dmarc_policy p, sp;
	unsigned pct;
	enum dmarc_align adkim, aspf;
	unsigned defaulted;
	bool p_from_rua;
};

static const struct good_record good_records[] = {
	{ "v=DMARC1; p=none", DMARC_POLICY_NONE, DMARC_POLICY_NONE, 100, 0, 0, 0, false },
	{ "v=DMARC1; p=reject; sp=quarantine; pct=30; adkim=s; aspf=s", DMARC_POLICY_REJECT,
	  DMARC_POLICY_QUARANTINE, 30, DMARC_ALIGN_STRICT, DMARC_ALIGN_STRICT, 0, false },
	{ "v=DMARC1;p=Quarantine;", DMARC_POLICY_QUARANTINE, DMARC_POLICY_QUARANTINE, 100, 0, 0,
	  0, false },
	{ " v = DMARC1 ;; p=reject ; rua=mailto:agg@example.com; ", DMARC_POLICY_REJECT,
	  DMARC_POLICY_REJECT, 100, 0, 0, 0, false },
	{ "v=DMARC1; rua=mailto:a@example.com; p=reject; fo=1:d; rf=afrf; ri=3600; x=unknown",
	  DMARC_POLICY_REJECT, DMARC_POLICY_REJECT, 100, 0, 0, 0, false },
	/* bad optional values fall back to their defaults */
	{ "v=DMARC1; p=reject; pct=150; adkim=x; aspf=; fo=2; rf=a b; ri=soon", DMARC_POLICY_REJECT,
	  DMARC_POLICY_REJECT, 100, 0, 0, 6, false },
	{ "v=DMARC1; p=reject; pct=0", DMARC_POLICY_REJECT, DMARC_POLICY_REJECT, 0, 0, 0, 0, false },
	/* 6.6.3 step 6: no valid p=, but a valid rua= */
	{ "v=DMARC1; rua=mailto:d@example.com", DMARC_POLICY_NONE, DMARC_POLICY_NONE, 100, 0, 0, 0,
	  true },
	{ "v=DMARC1; p=bogus; rua=junk, mailto:d@example.com!10m", DMARC_POLICY_NONE,
	  DMARC_POLICY_NONE, 100, 0, 0, 0, true },
	{ "v=DMARC1; p=reject; sp=bogus; rua=mailto:d@example.com", DMARC_POLICY_NONE,
	  DMARC_POLICY_NONE, 100, 0, 0, 0, true },
	{ "v=DMARC1; P=reject", DMARC_POLICY_REJECT, DMARC_POLICY_REJECT, 100, 0, 0, 0, false },
};

static void test_record_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(good_records); i++) {
		const struct good_record *g = &good_records[i];
		struct dmarc_record r;
		char *err = NULL;

		if (dmarc_record_parse(g->text, strlen(g->text), &r, &err) != 0)
			fail_msg("%s: %s", g->text, err);
		assert_int_equal(r.p, g->p);
		assert_int_equal(r.sp, g->sp);
		assert_int_equal(r.pct, g->pct);
		assert_int_equal(r.adkim, g->adkim);
		assert_int_equal(r.aspf, g->aspf);
		if (r.defaulted != g->defaulted)
			fail_msg("%s: %u defaulted", g->text, r.defaulted);
		assert_int_equal(r.p_from_rua, g->p_from_rua);
		dmarc_record_clear(&r);
	}
}

static void test_record_fields(void **state)
{
	const char *text = "v=DMARC1; p=reject; rua=mailto:a@x.example; ruf=mailto:f@x.example; "
			   "fo=1; ri=3600";
	struct dmarc_record r;
	char *err = NULL;

	(void)state;
	assert_int_equal(dmarc_record_parse(text, strlen(text), &r, &err), 0);
	assert_string_equal(r.rua, "mailto:a@x.example");
	assert_string_equal(r.ruf, "mailto:f@x.example");
	assert_string_equal(r.fo, "1");
	assert_string_equal(r.rf, "afrf");
	assert_int_equal(r.ri, 3600);
	assert_false(r.sp_given);
	dmarc_record_clear(&r);
}

static const char *const bad_records[] = {
	"v=DMARC1",
	"v=DMARC1;",
	"v=DMARC1; p=bogus",
	"v=DMARC1; p=reject; sp=bogus",
	"v=DMARC1; p=reject; rua=bogus; sp=x",
	"v=DMARC1; p=none; p=reject",
	"v=DMARC1; p=none; P=reject",
	"v=DMARC1; p=none; =x",
	"v=DMARC1; p=none; bad tag=1",
	"p=none; v=DMARC1",
	"v=dmarc1; p=none",
	"v=DMARC2; p=none",
	"v=DMARC1 p=none",
	"v=spf1 -all",
	"",
};

static void test_record_bad(void **state)
{
	buf *big = buf_new(5000);

	(void)state;
	for (size_t i = 0; i < N_ELEMS(bad_records); i++) {
		struct dmarc_record r;
		char *err = NULL;

		if (dmarc_record_parse(bad_records[i], strlen(bad_records[i]), &r, &err) == 0)
			fail_msg("accepted: %s", bad_records[i]);
		assert_non_null(err);
		free(err);
	}
	buf_puts(big, "v=DMARC1; p=none; x=");
	while (buf_len(big) <= DMARC_MAX_RECORD)
		buf_putc(big, 'a');
	{
		struct dmarc_record r;
		char *err = NULL;

		assert_int_equal(dmarc_record_parse(buf_cstr(big), buf_len(big), &r, &err), -1);
		free(err);
	}
	buf_free(&big);
}

static void test_is_dmarc(void **state)
{
	(void)state;
	assert_true(dmarc_record_is_dmarc("v=DMARC1", 8));
	assert_true(dmarc_record_is_dmarc("v=DMARC1; p=none", 16));
	assert_true(dmarc_record_is_dmarc("  v = DMARC1 ;", 14));
	assert_false(dmarc_record_is_dmarc("v=DMARC10", 9));
	assert_false(dmarc_record_is_dmarc("v=dmarc1", 8));
	assert_false(dmarc_record_is_dmarc("v=spf1 -all", 11));
	assert_false(dmarc_record_is_dmarc("x=1; v=DMARC1", 13));
	assert_false(dmarc_record_is_dmarc("v=DMARC", 7));
	assert_true(dmarc_uri_list_valid("mailto:a@b.example"));
	assert_true(dmarc_uri_list_valid(" x , mailto:a@b.example!20k"));
	assert_false(dmarc_uri_list_valid("mailto:"));
	assert_false(dmarc_uri_list_valid("a@b.example"));
	assert_false(dmarc_uri_list_valid("mailto:a@b.example!x"));
	assert_false(dmarc_uri_list_valid(""));
}

/* ---- author domains ---- */

struct from_case {
	const char *header;
	enum dmarc_from_status status;
	size_t count;
	const char *first, *second;
};

static const struct from_case from_cases[] = {
	{ "From: Ann <ann@Example.COM>\r\nTo: b@example.net\r\n\r\n", DMARC_FROM_OK, 1,
	  "example.com", NULL },
	{ "Subject: x\nFrom: a@example.com, \"B\" <b@EXAMPLE.com.>\n\n", DMARC_FROM_OK, 1,
	  "example.com", NULL },
	{ "From: a@one.example,\r\n b@two.example\r\n", DMARC_FROM_OK, 2, "one.example",
	  "two.example" },
	{ "From: a@one.example\r\nFrom: b@two.example\r\n", DMARC_FROM_OK, 2, "one.example",
	  "two.example" },
	{ "From: team: a@one.example, b@two.example;\r\n", DMARC_FROM_OK, 2, "one.example",
	  "two.example" },
	{ "From: a@m\xc3\xbcnchen.example\r\n", DMARC_FROM_OK, 1, "xn--mnchen-3ya.example", NULL },
	{ "From: a@one.example, bob\r\n", DMARC_FROM_OK, 1, "one.example", NULL },
	{ "To: a@example.com\r\n\r\nFrom: b@example.com\r\n", DMARC_FROM_NONE, 0, NULL, NULL },
	{ "From: undisclosed-recipients:;\r\n", DMARC_FROM_NO_DOMAIN, 0, NULL, NULL },
	{ "From: bob\r\n", DMARC_FROM_NO_DOMAIN, 0, NULL, NULL },
	{ "From: a@[192.0.2.1]\r\n", DMARC_FROM_NO_DOMAIN, 0, NULL, NULL },
	{ "From: a@b..example\r\n", DMARC_FROM_NO_DOMAIN, 0, NULL, NULL },
	{ "From: a@a.example, a@b.example, a@c.example, a@d.example, a@e.example, a@f.example, "
	  "a@g.example, a@h.example, a@i.example\r\n",
	  DMARC_FROM_TOO_MANY, 8, "a.example", "b.example" },
};

static void test_authors(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(from_cases); i++) {
		const struct from_case *fc = &from_cases[i];
		struct dmarc_authors a;
		enum dmarc_from_status st =
			dmarc_authors_from_header(fc->header, strlen(fc->header), &a);

		if (st != fc->status || a.count != fc->count)
			fail_msg("case %zu: status %s, %zu domains", i, dmarc_from_status_name(st),
				 a.count);
		if (fc->first != NULL)
			assert_string_equal(a.domains[0], fc->first);
		if (fc->second != NULL)
			assert_string_equal(a.domains[1], fc->second);
		dmarc_authors_clear(&a);
	}
}

/* ---- a zone in memory ---- */

struct rr {
	const char *name;
	const char *txt; /* NULL: a temporary failure for this name */
};

struct pending {
	char *name;
	txt_cb *cb;
	void *cb_ctx;
	bool live;
};

struct zone {
	const struct rr *rrs;
	size_t nrrs;
	bool later; /* answer from zone_run, not inside lookup */
	struct pending q[16];
	size_t nq;
	size_t queries, cancels;
	char asked[8][128];
};

static void zone_answer(struct zone *z, const char *name, txt_cb *cb, void *cb_ctx)
{
	const char *txt[8];
	size_t len[8], n = 0;

	for (size_t i = 0; i < z->nrrs; i++) {
		if (strcmp(z->rrs[i].name, name) != 0)
			continue;
		if (z->rrs[i].txt == NULL) {
			cb(cb_ctx, TXT_TEMPFAIL, NULL, NULL, 0);
			return;
		}
		txt[n] = z->rrs[i].txt;
		len[n++] = strlen(z->rrs[i].txt);
	}
	cb(cb_ctx, n > 0 ? TXT_FOUND : TXT_NOTFOUND, txt, len, n);
}

static void *zone_lookup(void *rctx, const char *name, txt_cb *cb, void *cb_ctx)
{
	struct zone *z = rctx;
	struct pending *p;

	if (z->queries < 8)
		snprintf(z->asked[z->queries], sizeof(z->asked[0]), "%s", name);
	z->queries++;
	if (!z->later) {
		zone_answer(z, name, cb, cb_ctx);
		return NULL;
	}
	assert_true(z->nq < 16);
	p = &z->q[z->nq++];
	*p = (struct pending){ xstrdup(name), cb, cb_ctx, true };
	return p;
}

static void zone_cancel(void *rctx, void *handle)
{
	struct pending *p = handle;

	((struct zone *)rctx)->cancels++;
	p->live = false;
}

/* zone_run: answers the queries waiting now (not those they start). */
static void zone_run(struct zone *z)
{
	size_t n = z->nq;

	for (size_t i = 0; i < n; i++) {
		struct pending *p = &z->q[i];

		if (p->live) {
			p->live = false;
			zone_answer(z, p->name, p->cb, p->cb_ctx);
		}
	}
}

static void zone_clear(struct zone *z)
{
	for (size_t i = 0; i < z->nq; i++)
		free(z->q[i].name);
}

static unsigned fixed_draw(void *ctx)
{
	return *(unsigned *)ctx;
}

/* ---- checks ---- */

static psl_table *test_psl;

static int setup(void **state)
{
	const char *srcdir = getenv("srcdir");
	char *path = xasprintf("%s/tests/data/psl_test.dat", srcdir != NULL ? srcdir : ".");
	char *err = NULL;

	(void)state;
	test_psl = psl_load(path, 0, &err);
	free(path);
	if (test_psl == NULL)
		fail_msg("%s", err);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	psl_free(&test_psl);
	return 0;
}

/* One check case: the zone, the message's identities, the verdict. */
struct check_case {
	const char *title;
	const struct rr *rrs;
	size_t nrrs;
	const char *from; /* one author domain, or "a,b" for two */
	const char *spf_domain;
	enum spf_result spf;
	const char *dkim_d;
	enum dkim_status dkim;
	unsigned draw;
	enum dmarc_result result;
	enum dmarc_policy policy, disposition;
	const char *policy_domain; /* NULL: none */
	bool spf_aligned, dkim_aligned, sampled_out;
	size_t queries;
};

static const struct rr zone_main[] = {
	{ "_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine" },
	{ "_dmarc.example.com", "some other text" },
	{ "_dmarc.own.example.com", "v=DMARC1; p=none" },
	{ "_dmarc.strict.test", "v=DMARC1; p=reject; adkim=s; aspf=s" },
	{ "_dmarc.two.test", "v=DMARC1; p=reject" },
	{ "_dmarc.two.test", "v=DMARC1; p=none" },
	{ "_dmarc.temp.test", NULL },
	{ "_dmarc.half.test", "v=DMARC1; p=reject; pct=50" },
	{ "_dmarc.halfq.test", "v=DMARC1; p=quarantine; pct=50" },
	{ "_dmarc.broken.test", "v=DMARC1; p=maybe" },
	{ "_dmarc.rua.test", "v=DMARC1; p=maybe; rua=mailto:r@rua.test" },
	{ "_dmarc.bbc.co.uk", "v=DMARC1; p=reject" },
	{ "_dmarc.c.kobe.jp", "v=DMARC1; p=reject" },
	{ "_dmarc.city.kobe.jp", "v=DMARC1; p=quarantine" },
	{ "_dmarc.sub.orgtemp.test", "v=DMARC1; p=reject" },
	{ "_dmarc.orgtemp.test", NULL },
};

#define Z zone_main, N_ELEMS(zone_main)

static const struct check_case check_cases[] = {
	{ "SPF pass, relaxed, subdomain MAIL FROM", Z, "example.com", "bounce.example.com", SPF_PASS,
	  NULL, DKIM_NONE, 0, DMARC_RESULT_PASS, DMARC_POLICY_REJECT, DMARC_POLICY_NONE,
	  "example.com", true, false, false, 1 },
	{ "DKIM pass, relaxed, subdomain d=", Z, "example.com", "other.test", SPF_FAIL,
	  "mail.example.com", DKIM_PASS, 0, DMARC_RESULT_PASS, DMARC_POLICY_REJECT,
	  DMARC_POLICY_NONE, "example.com", false, true, false, 1 },
	{ "nothing aligned: fail, p=reject", Z, "example.com", "other.test", SPF_PASS, "other.test",
	  DKIM_PASS, 0, DMARC_RESULT_FAIL, DMARC_POLICY_REJECT, DMARC_POLICY_REJECT, "example.com",
	  false, false, false, 1 },
	{ "aligned DKIM that failed does not count", Z, "example.com", NULL, SPF_NONE, "example.com",
	  DKIM_FAIL, 0, DMARC_RESULT_FAIL, DMARC_POLICY_REJECT, DMARC_POLICY_REJECT, "example.com",
	  false, false, false, 1 },
	{ "aligned SPF softfail does not count", Z, "example.com", "example.com", SPF_SOFTFAIL, NULL,
	  DKIM_NONE, 0, DMARC_RESULT_FAIL, DMARC_POLICY_REJECT, DMARC_POLICY_REJECT, "example.com",
	  false, false, false, 1 },
	{ "subdomain falls back to the org record: sp=", Z, "a.b.example.com", NULL, SPF_NONE, NULL,
	  DKIM_NONE, 0, DMARC_RESULT_FAIL, DMARC_POLICY_QUARANTINE, DMARC_POLICY_QUARANTINE,
	  "example.com", false, false, false, 2 },
	{ "subdomain with its own record: its p=", Z, "own.example.com", NULL, SPF_NONE, NULL,
	  DKIM_NONE, 0, DMARC_RESULT_FAIL, DMARC_POLICY_NONE, DMARC_POLICY_NONE, "own.example.com",
	  false, false, false, 1 },
	{ "relaxed: sibling subdomains align", Z, "a.example.com", "b.example.com", SPF_PASS, NULL,
	  DKIM_NONE, 0, DMARC_RESULT_PASS, DMARC_POLICY_QUARANTINE, DMARC_POLICY_NONE, "example.com",
	  true, false, false, 2 },
	{ "strict: subdomain SPF does not align", Z, "strict.test", "mail.strict.test", SPF_PASS,
	  "mail.strict.test", DKIM_PASS, 0, DMARC_RESULT_FAIL, DMARC_POLICY_REJECT,
	  DMARC_POLICY_REJECT, "strict.test", false, false, false, 1 },
	{ "strict: exact DKIM d= aligns, any case", Z, "strict.test", NULL, SPF_NONE, "Strict.Test.",
	  DKIM_PASS, 0, DMARC_RESULT_PASS, DMARC_POLICY_REJECT, DMARC_POLICY_NONE, "strict.test",
	  false, true, false, 1 },
	{ "no record anywhere: none", Z, "www.nothing.test", "www.nothing.test", SPF_PASS, NULL,
	  DKIM_NONE, 0, DMARC_RESULT_NONE, DMARC_POLICY_NONE, DMARC_POLICY_NONE, NULL, true, false,
	  false, 2 },
	{ "two records: permerror, no fallback", Z, "two.test", NULL, SPF_NONE, NULL, DKIM_NONE, 0,
	  DMARC_RESULT_PERMERROR, DMARC_POLICY_NONE, DMARC_POLICY_NONE, NULL, false, false, false,
	  1 },
	{ "DNS failure: temperror", Z, "temp.test", NULL, SPF_NONE, NULL, DKIM_NONE, 0,
	  DMARC_RESULT_TEMPERROR, DMARC_POLICY_NONE, DMARC_POLICY_NONE, NULL, false, false, false,
	  1 },
	{ "DNS failure at the org domain: temperror", Z, "x.orgtemp.test", NULL, SPF_NONE, NULL,
	  DKIM_NONE, 0, DMARC_RESULT_TEMPERROR, DMARC_POLICY_NONE, DMARC_POLICY_NONE, NULL, false,
	  false, false, 2 },
	{ "aligned DKIM temperror: temperror keeps the disposition", Z, "example.com", NULL,
	  SPF_NONE, "example.com", DKIM_TEMPERROR, 0, DMARC_RESULT_TEMPERROR, DMARC_POLICY_REJECT,
	  DMARC_POLICY_REJECT, "example.com", false, false, false, 1 },
	{ "aligned SPF temperror, DKIM pass: pass", Z, "example.com", "example.com", SPF_TEMPERROR,
	  "example.com", DKIM_PASS, 0, DMARC_RESULT_PASS, DMARC_POLICY_REJECT, DMARC_POLICY_NONE,
	  "example.com", false, true, false, 1 },
	{ "pct=50, draw 49: reject", Z, "half.test", NULL, SPF_NONE, NULL, DKIM_NONE, 49,
	  DMARC_RESULT_FAIL, DMARC_POLICY_REJECT, DMARC_POLICY_REJECT, "half.test", false, false,
	  false, 1 },
	{ "pct=50, draw 50: quarantine instead", Z, "half.test", NULL, SPF_NONE, NULL, DKIM_NONE, 50,
	  DMARC_RESULT_FAIL, DMARC_POLICY_REJECT, DMARC_POLICY_QUARANTINE, "half.test", false, false,
	  true, 1 },
	{ "pct=50 quarantine, draw 99: none", Z, "halfq.test", NULL, SPF_NONE, NULL, DKIM_NONE, 99,
	  DMARC_RESULT_FAIL, DMARC_POLICY_QUARANTINE, DMARC_POLICY_NONE, "halfq.test", false, false,
	  true, 1 },
	{ "broken record: permerror", Z, "broken.test", NULL, SPF_NONE, NULL, DKIM_NONE, 0,
	  DMARC_RESULT_PERMERROR, DMARC_POLICY_NONE, DMARC_POLICY_NONE, "broken.test", false, false,
	  false, 1 },
	{ "bad p= with rua=: p=none", Z, "rua.test", NULL, SPF_NONE, NULL, DKIM_NONE, 0,
	  DMARC_RESULT_FAIL, DMARC_POLICY_NONE, DMARC_POLICY_NONE, "rua.test", false, false, false,
	  1 },
	{ "org domain from the list: co.uk", Z, "news.bbc.co.uk", "bbc.co.uk", SPF_PASS, NULL,
	  DKIM_NONE, 0, DMARC_RESULT_PASS, DMARC_POLICY_REJECT, DMARC_POLICY_NONE, "bbc.co.uk", true,
	  false, false, 2 },
	{ "public suffix d= never aligns a registrable From", Z, "bbc.co.uk", NULL, SPF_NONE,
	  "co.uk", DKIM_PASS, 0, DMARC_RESULT_FAIL, DMARC_POLICY_REJECT, DMARC_POLICY_REJECT,
	  "bbc.co.uk", false, false, false, 1 },
	{ "wildcard rule: org of x.b.c.kobe.jp is b.c.kobe.jp", Z, "x.b.c.kobe.jp", NULL, SPF_NONE,
	  NULL, DKIM_NONE, 0, DMARC_RESULT_NONE, DMARC_POLICY_NONE, DMARC_POLICY_NONE, NULL, false,
	  false, false, 2 },
	{ "exception rule: org of www.city.kobe.jp is city.kobe.jp", Z, "www.city.kobe.jp", NULL,
	  SPF_NONE, NULL, DKIM_NONE, 0, DMARC_RESULT_FAIL, DMARC_POLICY_QUARANTINE,
	  DMARC_POLICY_QUARANTINE, "city.kobe.jp", false, false, false, 2 },
	{ "two authors: the failing reject wins over a pass", Z, "own.example.com,strict.test",
	  "own.example.com", SPF_PASS, NULL, DKIM_NONE, 0, DMARC_RESULT_FAIL, DMARC_POLICY_REJECT,
	  DMARC_POLICY_REJECT, "strict.test", false, false, false, 2 },
	{ "two authors, both pass", Z, "own.example.com,example.com", "example.com", SPF_PASS, NULL,
	  DKIM_NONE, 0, DMARC_RESULT_PASS, DMARC_POLICY_NONE, DMARC_POLICY_NONE, "own.example.com",
	  true, false, false, 2 },
};

static void fill_authors(struct dmarc_authors *a, const char *from)
{
	const char *comma = strchr(from, ',');

	memset(a, 0, sizeof(*a));
	a->fields = 1;
	a->domains[a->count++] = comma ? xstrndup(from, (size_t)(comma - from)) : xstrdup(from);
	if (comma != NULL)
		a->domains[a->count++] = xstrdup(comma + 1);
}

static dmarc_check *run_case(const struct check_case *cc, struct zone *z, unsigned *draw,
			     struct dmarc_authors *au)
{
	struct dkim_result sig = { .status = cc->dkim, .domain = cc->dkim_d, .selector = "sel" };
	const struct dkim_result *sigs[1] = { &sig };
	struct dmarc_request req = { cc->spf_domain, cc->spf, sigs, cc->dkim_d ? 1 : 0,
				     "192.0.2.1" };
	struct dmarc_settings set = { test_psl, { zone_lookup, zone_cancel, z }, fixed_draw, draw };
	dmarc_check *c;

	*draw = cc->draw;
	fill_authors(au, cc->from);
	c = dmarc_check_start(&set, au, NULL, NULL);
	assert_true(dmarc_check_done(c));
	assert_null(dmarc_check_verdict(c));
	assert_non_null(dmarc_check_judge(c, test_psl, &req));
	return c;
}

static void test_checks(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(check_cases); i++) {
		const struct check_case *cc = &check_cases[i];
		struct zone z = { .rrs = cc->rrs, .nrrs = cc->nrrs };
		struct dmarc_authors au;
		unsigned draw;
		dmarc_check *c = run_case(cc, &z, &draw, &au);
		const struct dmarc_verdict *v = dmarc_check_verdict(c);

		dmarc_authors_clear(&au);
		if (v == NULL)
			fail_msg("%s: not done", cc->title);
		if (v->result != cc->result || v->policy != cc->policy ||
		    v->disposition != cc->disposition || v->spf_aligned != cc->spf_aligned ||
		    v->dkim_aligned != cc->dkim_aligned || v->sampled_out != cc->sampled_out ||
		    z.queries != cc->queries)
			fail_msg("%s: %s policy %s disposition %s spf %d dkim %d sampled %d, "
				 "%zu queries (%s)",
				 cc->title, dmarc_result_name(v->result),
				 dmarc_policy_name(v->policy), dmarc_policy_name(v->disposition),
				 v->spf_aligned, v->dkim_aligned, v->sampled_out, z.queries,
				 v->reason ? v->reason : "");
		if ((cc->policy_domain == NULL) != (v->policy_domain == NULL) ||
		    (cc->policy_domain && strcmp(cc->policy_domain, v->policy_domain) != 0))
			fail_msg("%s: policy domain %s", cc->title,
				 v->policy_domain ? v->policy_domain : "none");
		assert_non_null(v->reason);
		dmarc_check_free(&c);
		assert_null(c);
	}
}

static void test_discovery_names(void **state)
{
	struct zone z = { .rrs = zone_main, .nrrs = N_ELEMS(zone_main) };
	struct dmarc_authors au;
	unsigned draw;
	struct check_case cc = check_cases[5]; /* a.b.example.com */
	dmarc_check *c = run_case(&cc, &z, &draw, &au);

	(void)state;
	assert_int_equal(z.queries, 2);
	assert_string_equal(z.asked[0], "_dmarc.a.b.example.com");
	assert_string_equal(z.asked[1], "_dmarc.example.com");
	assert_string_equal(dmarc_check_verdict(c)->org_domain, "example.com");
	dmarc_check_free(&c);
	dmarc_authors_clear(&au);
}

static int cb_calls;

static void count_cb(void *ctx, dmarc_check *c)
{
	(void)ctx;
	assert_true(dmarc_check_done(c));
	cb_calls++;
}

/* answers that come later, from the "loop" */
static void test_async(void **state)
{
	struct zone z = { .rrs = zone_main, .nrrs = N_ELEMS(zone_main), .later = true };
	struct dmarc_authors au;
	struct dmarc_settings set = { test_psl, { zone_lookup, zone_cancel, &z }, NULL, NULL };
	struct dmarc_request req = { "example.com", SPF_PASS, NULL, 0, "192.0.2.7" };
	dmarc_check *c;

	(void)state;
	fill_authors(&au, "x.y.example.com");
	cb_calls = 0;
	c = dmarc_check_start(&set, &au, count_cb, NULL);
	assert_false(dmarc_check_done(c));
	assert_null(dmarc_check_judge(c, test_psl, &req)); /* too early */
	zone_run(&z); /* the From domain: nothing; the org query starts */
	assert_false(dmarc_check_done(c));
	zone_run(&z);
	assert_true(dmarc_check_done(c));
	assert_int_equal(cb_calls, 1);
	assert_int_equal(dmarc_check_judge(c, test_psl, &req)->result, DMARC_RESULT_PASS);
	/* a second judgement gives the first verdict */
	req.spf = SPF_FAIL;
	assert_int_equal(dmarc_check_judge(c, test_psl, &req)->result, DMARC_RESULT_PASS);
	dmarc_check_free(&c);
	assert_int_equal(z.cancels, 0);

	/* freed while a query waits: it is cancelled, the callback never runs */
	c = dmarc_check_start(&set, &au, count_cb, NULL);
	dmarc_check_free(&c);
	assert_int_equal(z.cancels, 1);
	zone_run(&z);
	assert_int_equal(cb_calls, 1);
	dmarc_authors_clear(&au);
	zone_clear(&z);
}

static void test_no_author(void **state)
{
	struct zone z = { .rrs = zone_main, .nrrs = N_ELEMS(zone_main) };
	struct dmarc_authors au;
	struct dmarc_settings set = { test_psl, { zone_lookup, zone_cancel, &z }, NULL, NULL };
	struct dmarc_request req = { NULL, SPF_NONE, NULL, 0, NULL };
	const char *hdr = "From: undisclosed-recipients:;\r\n\r\n";
	dmarc_check *c;
	buf *line = buf_new(256);

	(void)state;
	dmarc_authors_from_header(hdr, strlen(hdr), &au);
	c = dmarc_check_start(&set, &au, NULL, NULL);
	assert_true(dmarc_check_done(c));
	assert_int_equal(dmarc_check_judge(c, test_psl, &req)->result, DMARC_RESULT_PERMERROR);
	assert_int_equal(z.queries, 0);
	dmarc_report_line(c, line);
	assert_string_equal(buf_cstr(line),
			    "dmarc-report v=1 ip=- header_from=- authors=0 policy_domain=- "
			    "result=permerror disposition=none policy=- sampled_out=no p=- sp=- "
			    "pct=- adkim=- aspf=- spf=none spf_domain=- spf_aligned=no dkim=- "
			    "dkim_aligned=no reason=no_author_domain_in_From");
	buf_free(&line);
	dmarc_check_free(&c);
	dmarc_authors_clear(&au);
}

static void test_report_line(void **state)
{
	struct zone z = { .rrs = zone_main, .nrrs = N_ELEMS(zone_main) };
	struct dmarc_authors au;
	struct dkim_result r1 = { .status = DKIM_FAIL, .domain = "mail.example.com", .selector = "s1" };
	struct dkim_result r2 = { .status = DKIM_PASS, .domain = "other.test", .selector = "s 2" };
	struct dkim_result r3 = { .status = DKIM_PERMERROR }; /* too broken to have d= */
	const struct dkim_result *sigs[3] = { &r1, &r3, &r2 };
	struct dmarc_settings set = { test_psl, { zone_lookup, zone_cancel, &z }, NULL, NULL };
	struct dmarc_request req = { "bounce.other.test", SPF_PASS, sigs, 3, "2001:db8::1" };
	dmarc_check *c;
	buf *line = buf_new(256);

	(void)state;
	fill_authors(&au, "news.example.com");
	c = dmarc_check_start(&set, &au, NULL, NULL);
	dmarc_check_judge(c, test_psl, &req);
	dmarc_report_line(c, line);
	assert_string_equal(buf_cstr(line),
			    "dmarc-report v=1 ip=2001:db8::1 header_from=news.example.com authors=1 "
			    "policy_domain=example.com result=fail disposition=quarantine "
			    "policy=quarantine sampled_out=no p=reject sp=quarantine pct=100 "
			    "adkim=r aspf=r spf=pass spf_domain=bounce.other.test spf_aligned=no "
			    "dkim=mail.example.com:s1:fail:yes,other.test:s_2:pass:no "
			    "dkim_aligned=no reason=no_aligned_SPF_or_DKIM_pass");
	buf_free(&line);
	dmarc_check_free(&c);
	dmarc_authors_clear(&au);
}

static void test_aligned(void **state)
{
	(void)state;
	assert_true(dmarc_aligned(test_psl, "a.example.com", "B.Example.Com.", DMARC_ALIGN_RELAXED));
	assert_false(dmarc_aligned(test_psl, "a.example.com", "b.example.com", DMARC_ALIGN_STRICT));
	assert_true(dmarc_aligned(test_psl, "example.com", "EXAMPLE.com", DMARC_ALIGN_STRICT));
	assert_false(dmarc_aligned(test_psl, "a.co.uk", "b.co.uk", DMARC_ALIGN_RELAXED));
	assert_false(dmarc_aligned(test_psl, "example.com", "com", DMARC_ALIGN_RELAXED));
	assert_false(dmarc_aligned(test_psl, "example.com", "", DMARC_ALIGN_RELAXED));
	assert_false(dmarc_aligned(test_psl, "a..com", "a..com", DMARC_ALIGN_STRICT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_good),
		cmocka_unit_test(test_record_fields),
		cmocka_unit_test(test_record_bad),
		cmocka_unit_test(test_is_dmarc),
		cmocka_unit_test(test_authors),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_discovery_names),
		cmocka_unit_test(test_async),
		cmocka_unit_test(test_no_author),
		cmocka_unit_test(test_report_line),
		cmocka_unit_test(test_aligned),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
