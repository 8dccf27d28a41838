/* fuzz_dmarc.c: fuzz target for lib/dmarc*.c and lib/psl*.c: the input as
 * a DMARC record (a parsed record must hold sane values), as a header
 * block whose From fields give author domains, as the TXT answer of every
 * _dmarc query of a whole check (which must finish at once with a
 * verdict and a report line), as a Public Suffix List and as a domain
 * to normalise and find the organisational domain of. */
#include "fuzz_util.h"

#include "dmarc.h"
#include "psl.h"
#include "psl_idna.h"

struct fuzz_zone {
	const char *text;
	size_t len;
};

static void *fuzz_lookup(void *rctx, const char *name, txt_cb *cb, void *cb_ctx)
{
	struct fuzz_zone *z = rctx;
	const char *txt[2] = { z->text, "v=DMARC1; p=reject" };
	size_t len[2] = { z->len, 18 };

	/* the From domain answers the input, the org domain a fixed record */
	cb(cb_ctx, TXT_FOUND, txt + (strncmp(name, "_dmarc.a.", 9) != 0),
	   len + (strncmp(name, "_dmarc.a.", 9) != 0), 1);
	return NULL;
}

static void fuzz_record(const char *text, size_t len, const char *cstr)
{
	struct dmarc_record r;
	char *err = NULL;

	if (dmarc_record_parse(text, len, &r, &err) == 0) {
		if (r.pct > 100 || r.fo == NULL || r.rf == NULL || err != NULL)
			abort();
		if (!r.sp_given && r.sp != r.p)
			abort();
		dmarc_record_clear(&r);
	} else if (err == NULL) {
		abort();
	}
	free(err);
	(void)dmarc_uri_list_valid(cstr);
}

static void fuzz_check(const psl_table *psl, const char *text, size_t len)
{
	struct fuzz_zone z = { text, len };
	struct dmarc_authors au;
	struct dkim_result sig = { .status = DKIM_PASS, .domain = "example.com", .selector = "s" };
	const struct dkim_result *sigs[1] = { &sig };
	struct dmarc_request req = { "b.example.com", SPF_PASS, sigs, 1, "192.0.2.1" };
	struct dmarc_settings set = { psl, { fuzz_lookup, NULL, &z }, NULL, NULL };
	dmarc_check *c;
	buf *line = buf_new(256);

	memset(&au, 0, sizeof(au));
	dmarc_authors_add_field(&au, "x@a.example.com, y@example.org", 30);
	c = dmarc_check_start(&set, &au, NULL, NULL);
	if (!dmarc_check_done(c) || dmarc_check_judge(c, psl, &req)->reason == NULL)
		abort();
	dmarc_report_line(c, line);
	if (strchr(buf_cstr(line), '\n') != NULL)
		abort();
	buf_free(&line);
	dmarc_check_free(&c);
	dmarc_authors_clear(&au);
}

static void fuzz_authors(const char *text, size_t len)
{
	struct dmarc_authors a;

	dmarc_authors_from_header(text, len, &a);
	if (a.count > DMARC_MAX_AUTHORS || (a.status == DMARC_FROM_OK && a.count == 0) ||
	    (a.status == DMARC_FROM_NONE && a.fields > 0))
		abort();
	dmarc_authors_clear(&a);
}

static void fuzz_psl(const char *text, size_t len, const char *cstr)
{
	char *err = NULL;
	psl_table *t = psl_parse(text, len, 0, &err);
	char *org;

	if ((t == NULL) == (err == NULL))
		abort();
	free(err);
	if (t == NULL)
		t = psl_fallback();
	org = psl_org_domain(t, cstr);
	if (org != NULL && (strlen(org) > PSL_MAX_NAME || strchr(org, '.') == NULL))
		abort();
	free(org);
	org = psl_org_domain(t, "a.b.c.example.com");
	free(org);
	psl_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *cstr = fuzz_cstr(data, size);
	psl_table *psl = psl_fallback();

	fuzz_record((const char *)data, size, cstr);
	fuzz_authors((const char *)data, size);
	fuzz_check(psl, (const char *)data, size);
	fuzz_psl((const char *)data, size, cstr);
	psl_free(&psl);
	free(cstr);
	return 0;
}
