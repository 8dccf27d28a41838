/* dmarc_check.c: policy discovery (RFC 7489 6.6.3) and the verdict. For
 * each author domain in turn: a TXT query at _dmarc.<domain>; when that
 * holds no v=DMARC1 record, one at _dmarc.<organisational domain>; one
 * record is used, several make a permerror, none a "none", a temporary
 * DNS failure a temperror. Alignment, p=/sp= and pct= follow (6.6.2,
 * 6.6.4) are judged later, in dmarc_check_judge, once the caller has the
 * SPF and DKIM verdicts. With several author domains the strictest failing
 * verdict wins. The authors' organisational domains are computed in
 * dmarc_check_start, so its PSL table is not kept. One query is in flight
 * at a time. */
#include "dmarc_int.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

/* org_of: name's organisational domain, or name itself when it is a
 * public suffix; name is normalised already. */
static char *org_of(const psl_table *psl, const char *name)
{
	char *org = psl_org_domain(psl, name);

	return org != NULL ? org : xstrdup(name);
}

/* normalized: name in lookup form (heap), or NULL when no domain name. */
static char *normalized(const char *name)
{
	buf *b;

	if (name == NULL || *name == '\0')
		return NULL;
	b = buf_new(64);
	if (psl_normalize(name, b) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal_free(&b);
}

bool dmarc_pair_aligned(const struct dmarc_author *a, const char *name, const char *org,
			enum dmarc_align mode)
{
	if (name == NULL)
		return false;
	if (mode == DMARC_ALIGN_STRICT)
		return strcmp(a->domain, name) == 0;
	return strcmp(a->org, org) == 0;
}

bool dmarc_aligned(const psl_table *psl, const char *a, const char *b, enum dmarc_align mode)
{
	char *na = normalized(a), *nb = normalized(b);
	bool same = false;

	if (na != NULL && nb != NULL) {
		struct dmarc_author author = { .domain = na, .org = org_of(psl, na) };
		char *org_b = org_of(psl, nb);

		same = dmarc_pair_aligned(&author, nb, org_b, mode);
		free(author.org);
		free(org_b);
	}
	free(na);
	free(nb);
	return same;
}

/* draw: the pct= sample, 0..99. */
static unsigned draw(struct dmarc_check *c)
{
	if (c->sample != NULL)
		return c->sample(c->sample_ctx) % 100;
	return arc4random_uniform(100);
}

static enum dmarc_policy weaker(enum dmarc_policy p)
{
	return p == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE : DMARC_POLICY_NONE;
}

/* judge_alignment: the aligned passes (and aligned temperrors, returned)
 * of SPF and DKIM for author a under the record's modes (relaxed when
 * there is no record: the flags are then only for the log). */
static bool judge_alignment(struct dmarc_check *c, struct dmarc_author *a)
{
	enum dmarc_align aspf = a->have_record ? a->record.aspf : DMARC_ALIGN_RELAXED;
	enum dmarc_align adkim = a->have_record ? a->record.adkim : DMARC_ALIGN_RELAXED;
	bool spf_here = dmarc_pair_aligned(a, c->spf_domain, c->spf_org, aspf);
	bool temp = spf_here && c->spf == SPF_TEMPERROR;

	a->spf_aligned = spf_here && c->spf == SPF_PASS;
	for (size_t i = 0; i < c->nsigs; i++) {
		const struct dmarc_sig *s = &c->sigs[i];

		if (!dmarc_pair_aligned(a, s->domain, s->org, adkim))
			continue;
		if (s->status == DKIM_PASS && !a->dkim_aligned) {
			a->dkim_aligned = true;
			a->dkim_domain = s->domain;
		}
		temp = temp || s->status == DKIM_TEMPERROR;
	}
	return temp;
}

/* judge: author a's verdict from its record (6.6.2, 6.6.4). */
static void judge(struct dmarc_check *c, struct dmarc_author *a)
{
	bool temp = judge_alignment(c, a);

	if (!a->have_record)
		return;
	a->policy = a->at_org ? a->record.sp : a->record.p;
	if (a->spf_aligned || a->dkim_aligned) {
		a->result = DMARC_RESULT_PASS;
		a->reason = xstrdup(a->spf_aligned ? "aligned SPF pass" : "aligned DKIM pass");
		return;
	}
	a->result = temp ? DMARC_RESULT_TEMPERROR : DMARC_RESULT_FAIL;
	a->reason = xstrdup(temp ? "no aligned pass; an aligned check had a temporary error"
				 : "no aligned SPF or DKIM pass");
	a->disposition = a->policy;
	if (a->record.pct < 100 && draw(c) >= a->record.pct) {
		a->disposition = weaker(a->policy);
		a->sampled_out = true;
	}
}

/* count_dmarc: how many of the TXT records are v=DMARC1; *first_r: the
 * first of them. */
static size_t count_dmarc(const char *const *txt, const size_t *len, size_t count,
			  size_t *first_r)
{
	size_t n = 0;

	for (size_t i = 0; i < count; i++) {
		if (!dmarc_record_is_dmarc(txt[i], len[i]))
			continue;
		if (n++ == 0)
			*first_r = i;
	}
	return n;
}

static void author_done(struct dmarc_author *a, enum dmarc_result r, char *reason)
{
	a->result = r;
	a->reason = reason;
	a->phase = PHASE_DONE;
}

/* use_record: the one record found at name. */
static void use_record(struct dmarc_check *c, struct dmarc_author *a, const char *name,
		       const char *text, size_t len)
{
	char *err = NULL;

	(void)c;
	a->policy_domain = xstrdup(name);
	a->phase = PHASE_DONE;
	if (dmarc_record_parse(text, len, &a->record, &err) != 0) {
		author_done(a, DMARC_RESULT_PERMERROR, xasprintf("_dmarc.%s: %s", name, err));
		free(err);
		return;
	}
	a->have_record = true;
}

static void handle_answer(struct dmarc_check *c, struct dmarc_author *a, enum txt_status st,
			  const char *const *txt, const size_t *len, size_t count)
{
	const char *name = a->phase == PHASE_FROM ? a->domain : a->org;
	size_t first = 0, n = st == TXT_FOUND ? count_dmarc(txt, len, count, &first) : 0;

	if (st == TXT_TEMPFAIL) {
		author_done(a, DMARC_RESULT_TEMPERROR,
			    xasprintf("_dmarc.%s: temporary DNS failure", name));
	} else if (n == 1) {
		a->at_org = a->phase == PHASE_ORG;
		use_record(c, a, name, txt[first], len[first]);
	} else if (n > 1) {
		author_done(a, DMARC_RESULT_PERMERROR,
			    xasprintf("_dmarc.%s: %zu DMARC records", name, n));
	} else if (a->phase == PHASE_FROM && strcmp(a->domain, a->org) != 0) {
		a->phase = PHASE_ORG;
	} else {
		author_done(a, DMARC_RESULT_NONE, xstrdup("no DMARC record"));
	}
	if (a->phase == PHASE_DONE)
		c->cur++;
}

static void pump(struct dmarc_check *c);

static void on_txt(void *ctx, enum txt_status st, const char *const *txt, const size_t *len,
		   size_t count)
{
	struct dmarc_check *c = ctx;

	c->pending = NULL;
	c->waiting = false;
	handle_answer(c, &c->authors[c->cur], st, txt, len, count);
	if (!c->in_pump)
		pump(c);
}

static void start_query(struct dmarc_check *c)
{
	struct dmarc_author *a = &c->authors[c->cur];
	char *name = xasprintf("_dmarc.%s", a->phase == PHASE_FROM ? a->domain : a->org);
	void *h;

	if (strlen(name) > PSL_MAX_NAME) {
		/* no such name can exist in the DNS */
		handle_answer(c, a, TXT_NOTFOUND, NULL, NULL, 0);
		free(name);
		return;
	}
	c->waiting = true;
	h = c->resolver.lookup(c->resolver.rctx, name, on_txt, c);
	if (c->waiting)
		c->pending = h;
	free(name);
}

/* rank: which author's verdict speaks for the message: a fail with the
 * strictest disposition, then a temperror, permerror, none, pass. */
static int rank(const struct dmarc_author *a)
{
	switch (a->result) {
	case DMARC_RESULT_FAIL:
		return 100 + (int)a->disposition;
	case DMARC_RESULT_TEMPERROR:
		return 50 + (int)a->disposition;
	case DMARC_RESULT_PERMERROR:
		return 20;
	case DMARC_RESULT_NONE:
		return 10;
	case DMARC_RESULT_PASS:
		return 0;
	}
	return 20;
}

static void set_verdict(struct dmarc_check *c)
{
	struct dmarc_verdict *v = &c->verdict;
	const struct dmarc_author *a = NULL;

	for (size_t i = 0; i < c->nauthors; i++) {
		if (a == NULL || rank(&c->authors[i]) > rank(a))
			a = &c->authors[i];
	}
	c->chosen = a;
	memset(v, 0, sizeof(*v));
	if (a == NULL) {
		v->result = DMARC_RESULT_PERMERROR;
		v->reason = dmarc_from_status_name(c->from_status);
		return;
	}
	v->result = a->result;
	v->policy = a->policy;
	v->disposition = a->disposition;
	v->sampled_out = a->sampled_out;
	v->from_domain = a->domain;
	v->org_domain = a->org;
	v->policy_domain = a->policy_domain;
	v->record = a->have_record ? &a->record : NULL;
	v->spf_aligned = a->spf_aligned;
	v->dkim_aligned = a->dkim_aligned;
	v->dkim_domain = a->dkim_domain;
	v->reason = a->reason;
}

static void pump(struct dmarc_check *c)
{
	c->in_pump = true;
	while (!c->waiting && c->cur < c->nauthors)
		start_query(c);
	c->in_pump = false;
	if (c->waiting || c->done)
		return;
	c->done = true;
	if (!c->in_start && c->cb != NULL)
		c->cb(c->ctx, c);
}

static void copy_authors(struct dmarc_check *c, const psl_table *psl,
			 const struct dmarc_authors *au)
{
	c->from_status = au != NULL ? au->status : DMARC_FROM_NONE;
	for (size_t i = 0; c->from_status == DMARC_FROM_OK && i < au->count; i++) {
		char *d = normalized(au->domains[i]);

		if (d == NULL)
			continue;
		c->authors[c->nauthors].domain = d;
		c->authors[c->nauthors++].org = org_of(psl, d);
	}
	if (c->from_status == DMARC_FROM_OK && c->nauthors == 0)
		c->from_status = DMARC_FROM_NO_DOMAIN;
}

static void copy_identities(struct dmarc_check *c, const psl_table *psl,
			    const struct dmarc_request *req)
{
	c->source_ip = xstrdup(req->source_ip != NULL ? req->source_ip : "");
	c->spf = req->spf;
	c->spf_domain = normalized(req->spf_domain);
	c->spf_org = c->spf_domain != NULL ? org_of(psl, c->spf_domain) : NULL;
	for (size_t i = 0; i < req->dkim_count && c->nsigs < DMARC_MAX_DKIM; i++) {
		const struct dkim_result *r = req->dkim[i];
		char *d = r != NULL ? normalized(r->domain) : NULL;
		struct dmarc_sig *s = &c->sigs[c->nsigs];

		if (d == NULL)
			continue;
		s->domain = d;
		s->org = org_of(psl, d);
		s->selector = xstrdup(r->selector != NULL ? r->selector : "");
		s->status = r->status;
		c->nsigs++;
	}
}

dmarc_check *dmarc_check_start(const struct dmarc_settings *set,
			       const struct dmarc_authors *authors, dmarc_done_cb *cb, void *ctx)
{
	dmarc_check *c = xcalloc(1, sizeof(*c));
	psl_table *own = set->psl == NULL ? psl_fallback() : NULL;

	c->resolver = set->resolver;
	c->sample = set->sample;
	c->sample_ctx = set->sample_ctx;
	c->cb = cb;
	c->ctx = ctx;
	copy_authors(c, set->psl != NULL ? set->psl : own, authors);
	psl_free(&own);
	c->in_start = true;
	pump(c);
	c->in_start = false;
	return c;
}

bool dmarc_check_done(const dmarc_check *c)
{
	return c->done;
}

const struct dmarc_verdict *dmarc_check_judge(dmarc_check *c, const psl_table *psl,
					      const struct dmarc_request *req)
{
	psl_table *own = psl == NULL ? psl_fallback() : NULL;

	if (!c->done)
		return NULL;
	if (c->judged)
		return &c->verdict;
	copy_identities(c, psl != NULL ? psl : own, req);
	psl_free(&own);
	for (size_t i = 0; i < c->nauthors; i++)
		judge(c, &c->authors[i]);
	set_verdict(c);
	c->judged = true;
	return &c->verdict;
}

const struct dmarc_verdict *dmarc_check_verdict(const dmarc_check *c)
{
	return c->judged ? &c->verdict : NULL;
}

void dmarc_check_free(dmarc_check **cp)
{
	dmarc_check *c = *cp;

	if (c == NULL)
		return;
	if (c->pending != NULL && c->resolver.cancel != NULL)
		c->resolver.cancel(c->resolver.rctx, c->pending);
	for (size_t i = 0; i < c->nsigs; i++) {
		free(c->sigs[i].domain);
		free(c->sigs[i].org);
		free(c->sigs[i].selector);
	}
	for (size_t i = 0; i < c->nauthors; i++) {
		struct dmarc_author *a = &c->authors[i];

		free(a->domain);
		free(a->org);
		free(a->policy_domain);
		free(a->reason);
		dmarc_record_clear(&a->record);
	}
	free(c->source_ip);
	free(c->spf_domain);
	free(c->spf_org);
	free(c);
	*cp = NULL;
}
