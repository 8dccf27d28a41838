/* spf_eval.c: check_host() (RFC 7208 sections 4 to 6) as a state machine
 * that never blocks. A check keeps a stack of frames (the record being
 * evaluated and the records it includes); each DNS question parks the
 * check until the lookup interface answers, and spf_pump then runs the
 * handler and the following terms. Counts the DNS-term and void-lookup
 * limits over the whole check, and fetches the exp= text for a fail. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "spf.h"

struct spf_frame {
	char *domain;
	struct spf_record *rec; /* NULL until fetched */
	size_t next; /* the next term to evaluate */
	bool include; /* started by include: its result goes to the parent */
	bool redirected; /* the record came through redirect= */
};

typedef void spf_handler(spf_check *c, const struct dns_result *res);

struct spf_check {
	struct spf_dns dns;
	spf_done_cb *cb;
	void *cb_ctx;

	/* the request */
	char *sender, *local, *sender_domain, *helo, *receiver, *default_exp;
	unsigned char ip[16];
	bool ipv6;
	char ip_dotted[72];
	char ip_text[INET6_ADDRSTRLEN];
	unsigned long long now;
	char *ptr_name; /* %{p} once looked up */

	/* the evaluation */
	struct spf_frame frames[SPF_MAX_DEPTH];
	size_t depth;
	unsigned dns_terms, voids;
	const struct spf_term *term; /* the term whose lookups run */
	char *target; /* its expanded domain */
	struct dns_result *names; /* MX or PTR names being walked */
	size_t name_next, name_max;
	int ptr_rank; /* %{p}: rank of the best name so far (3 = none) */
	bool in_exp; /* fetching the explanation */

	/* the pending query */
	void *handle;
	bool waiting;
	spf_handler *on_answer;
	struct dns_result *answer;
	bool pumping, starting, finished, reported;

	struct spf_answer ans;
	char *explanation, *reason;
};

static const char *const spf_result_names[] = {
	[SPF_NONE] = "none",	   [SPF_NEUTRAL] = "neutral",	  [SPF_PASS] = "pass",
	[SPF_FAIL] = "fail",	   [SPF_SOFTFAIL] = "softfail",	  [SPF_TEMPERROR] = "temperror",
	[SPF_PERMERROR] = "permerror",
};

const char *spf_result_name(enum spf_result r)
{
	return spf_result_names[r];
}

static void spf_step(spf_check *c);

/* ---- finishing ---- */

static void spf_finish(spf_check *c, enum spf_result r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void spf_finish(spf_check *c, enum spf_result r, const char *fmt, ...)
{
	buf *b = buf_new(128);
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
	free(c->reason);
	c->reason = buf_steal_free(&b);
	c->ans.result = r;
	c->ans.reason = c->reason;
	c->ans.explanation = NULL;
	if (r == SPF_FAIL)
		c->ans.explanation = c->explanation != NULL ? c->explanation : c->default_exp;
	c->finished = true;
}

/* ---- DNS ---- */

static void spf_pump(spf_check *c);

static void spf_lookup_done(void *ctx, const struct dns_result *res)
{
	spf_check *c = ctx;

	c->waiting = false;
	c->handle = NULL;
	c->answer = dns_result_dup(res);
	spf_pump(c);
}

static void spf_query(spf_check *c, const char *name, enum dns_type type, spf_handler *h)
{
	void *handle;

	c->on_answer = h;
	c->waiting = true;
	handle = c->dns.lookup(c->dns.ctx, name, type, spf_lookup_done, c);
	if (c->waiting)
		c->handle = handle;
}

/* spf_pump: runs handlers and terms until the check waits or is done;
 * the callback is its very last act. */
static void spf_pump(spf_check *c)
{
	if (c->pumping)
		return;
	c->pumping = true;
	while (!c->finished) {
		if (c->answer != NULL) {
			struct dns_result *res = c->answer;

			c->answer = NULL;
			c->on_answer(c, res);
			dns_result_free(&res);
		} else if (c->waiting) {
			break;
		} else {
			spf_step(c);
		}
	}
	c->pumping = false;
	if (c->finished && !c->starting && !c->reported) {
		c->reported = true;
		c->cb(c->cb_ctx, &c->ans);
	}
}

/* ---- helpers ---- */

static enum dns_type spf_addr_type(const spf_check *c)
{
	return c->ipv6 ? DNS_AAAA : DNS_A;
}

static bool spf_prefix_match(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* spf_rrs_match: an A/AAAA answer holds an address in the client's
 * network of the given prefix lengths. */
static bool spf_rrs_match(const spf_check *c, const struct dns_result *res, unsigned cidr4,
			  unsigned cidr6)
{
	for (size_t i = 0; i < res->count; i++) {
		const struct dns_rr *rr = &res->rrs[i];

		if (!c->ipv6 && rr->family == AF_INET && spf_prefix_match(rr->addr, c->ip, cidr4))
			return true;
		if (c->ipv6 && rr->family == AF_INET6 && spf_prefix_match(rr->addr, c->ip, cidr6))
			return true;
	}
	return false;
}

/* spf_domain_valid: RFC 7208 4.3: labels of 1..63 bytes, at most 253
 * bytes, more than one label, no address literal. */
static bool spf_domain_valid(const char *d)
{
	size_t len = strlen(d), labels = 0;

	if (len > 0 && d[len - 1] == '.')
		len--;
	if (len == 0 || len > 253 || d[0] == '[')
		return false;
	for (size_t i = 0; i < len;) {
		size_t l = 0;

		while (i + l < len && d[i + l] != '.')
			l++;
		if (l == 0 || l > 63)
			return false;
		labels++;
		i += l + 1;
	}
	return labels > 1;
}

static bool spf_name_within(const char *name, const char *domain)
{
	size_t nl = strlen(name), dl = strlen(domain);

	if (nl > 0 && name[nl - 1] == '.')
		nl--;
	if (dl > 0 && domain[dl - 1] == '.')
		dl--;
	if (nl < dl || strncasecmp(name + nl - dl, domain, dl) != 0)
		return false;
	return nl == dl || name[nl - dl - 1] == '.';
}

static void spf_macro_vars_fill(const spf_check *c, const char *domain,
				struct spf_macro_vars *v)
{
	v->sender = c->sender;
	v->local = c->local;
	v->sender_domain = c->sender_domain;
	v->domain = domain;
	v->ip_dotted = c->ip_dotted;
	v->ip_text = c->ip_text;
	v->ptr = c->ptr_name;
	v->helo = c->helo;
	v->receiver = c->receiver;
	v->ipv6 = c->ipv6;
	v->now = c->now;
}

/* spf_expand: a domain-spec (NULL: the domain itself) into *out_r (heap).
 * Returns 0, 1 (%{p} needed first) or -1 (finished with permerror). */
static int spf_expand(spf_check *c, const char *spec, const char *domain, char **out_r)
{
	struct spf_macro_vars v;
	const char *err;
	buf *b;
	int r;

	if (spec == NULL) {
		*out_r = xstrdup(domain);
		return 0;
	}
	spf_macro_vars_fill(c, domain, &v);
	b = buf_new(64);
	r = spf_macro_expand(spec, strlen(spec), &v, 0, b, &err);
	if (r != 0) {
		buf_free(&b);
		if (r < 0)
			spf_finish(c, SPF_PERMERROR, "%s in %s", err, spec);
		return r;
	}
	*out_r = buf_steal_free(&b);
	spf_domain_truncate(*out_r);
	return 0;
}

static void spf_reverse_name(const spf_check *c, char *out, size_t size)
{
	size_t n = 0;

	if (!c->ipv6) {
		snprintf(out, size, "%u.%u.%u.%u.in-addr.arpa", c->ip[3], c->ip[2], c->ip[1],
			 c->ip[0]);
		return;
	}
	for (int i = 15; i >= 0 && n + 4 < size; i--)
		n += (size_t)snprintf(out + n, size - n, "%x.%x.", c->ip[i] & 0xf, c->ip[i] >> 4);
	snprintf(out + n, size - n, "ip6.arpa");
}

/* spf_void: a lookup gave no answer; a third one is a permerror. */
static void spf_void(spf_check *c, const char *name)
{
	if (++c->voids > SPF_MAX_VOID_LOOKUPS)
		spf_finish(c, SPF_PERMERROR, "more than %d void lookups (last %s)",
			   SPF_MAX_VOID_LOOKUPS, name);
}

/* ---- frames ---- */

static void spf_frame_push(spf_check *c, char *domain, bool include)
{
	struct spf_frame *f;

	if (c->depth >= SPF_MAX_DEPTH) {
		free(domain);
		spf_finish(c, SPF_PERMERROR, "records nested too deep");
		return;
	}
	f = &c->frames[c->depth++];
	memset(f, 0, sizeof(*f));
	f->domain = domain;
	f->include = include;
}

static void spf_frame_pop(spf_check *c)
{
	struct spf_frame *f = &c->frames[--c->depth];

	free(f->domain);
	spf_record_free(&f->rec);
}

static enum spf_result spf_qualifier_result(char q)
{
	return q == '-' ? SPF_FAIL : q == '~' ? SPF_SOFTFAIL : q == '?' ? SPF_NEUTRAL : SPF_PASS;
}

static void spf_exp_start(spf_check *c);
static void spf_frame_result(spf_check *c, enum spf_result r, const char *why);

/* spf_include_result: the included record said r (RFC 7208 5.2). */
static void spf_include_result(spf_check *c, enum spf_result r, const char *why)
{
	struct spf_frame *parent = &c->frames[c->depth - 1];
	const struct spf_term *t = &parent->rec->terms[parent->next - 1];

	switch (r) {
	case SPF_PASS:
		spf_frame_result(c, spf_qualifier_result(t->qualifier), "include matched");
		break;
	case SPF_FAIL:
	case SPF_SOFTFAIL:
	case SPF_NEUTRAL:
		break; /* no match: go on with the parent's next term */
	case SPF_NONE:
		spf_finish(c, SPF_PERMERROR, "included domain has no SPF record (%s)", why);
		break;
	default:
		spf_finish(c, r, "%s", why);
	}
}

/* spf_frame_result: the record on top of the stack gave r. */
static void spf_frame_result(spf_check *c, enum spf_result r, const char *why)
{
	struct spf_frame *f = &c->frames[c->depth - 1];
	char *text = xstrdup(why);

	if (r == SPF_NONE && f->redirected)
		r = SPF_PERMERROR;
	if (f->include) {
		spf_frame_pop(c);
		spf_include_result(c, r, text);
	} else if (r == SPF_FAIL && f->rec != NULL && f->rec->exp != NULL) {
		free(c->reason);
		c->reason = text;
		text = NULL;
		c->in_exp = true;
	} else {
		spf_finish(c, r, "%s", text);
	}
	free(text);
}

static void spf_term_matched(spf_check *c, const struct spf_term *t, const char *domain)
{
	char why[512];

	snprintf(why, sizeof(why), "%c%s%s%s matched in %s", t->qualifier, spf_mech_name(t->mech),
		 t->domain != NULL ? ":" : "", t->domain != NULL ? t->domain : "", domain);
	spf_frame_result(c, spf_qualifier_result(t->qualifier), why);
}

/* ---- record lookup (RFC 7208 4.4, 4.5) ---- */

static void spf_on_record(spf_check *c, const struct dns_result *res)
{
	struct spf_frame *f = &c->frames[c->depth - 1];
	const struct dns_rr *found = NULL;
	size_t n = 0;
	char *err = NULL;

	if (res->status == DNS_TEMPFAIL) {
		spf_finish(c, SPF_TEMPERROR, "DNS error for TXT %s", f->domain);
		return;
	}
	for (size_t i = 0; res->status == DNS_FOUND && i < res->count; i++)
		if (spf_record_is_spf(res->rrs[i].text, res->rrs[i].len)) {
			found = &res->rrs[i];
			n++;
		}
	if (n == 0) {
		spf_frame_result(c, SPF_NONE, "no SPF record");
		return;
	}
	if (n > 1) {
		spf_finish(c, SPF_PERMERROR, "more than one SPF record for %s", f->domain);
		return;
	}
	f->rec = spf_record_parse(found->text, found->len, &err);
	if (f->rec == NULL) {
		spf_finish(c, SPF_PERMERROR, "bad SPF record for %s: %s", f->domain, err);
		free(err);
	}
}

static void spf_fetch_record(spf_check *c, struct spf_frame *f)
{
	if (!spf_domain_valid(f->domain)) {
		spf_frame_result(c, SPF_NONE, "not a valid domain name");
		return;
	}
	spf_query(c, f->domain, DNS_TXT, spf_on_record);
}

/* ---- %{p}: the validated client name (RFC 7208 7.3) ---- */

static void spf_p_next(spf_check *c);

static void spf_p_on_addr(spf_check *c, const struct dns_result *res)
{
	const char *name = c->names->rrs[c->name_next - 1].text;
	const char *domain = c->frames[c->depth - 1].domain;
	int rank;

	if (res->status == DNS_FOUND && spf_rrs_match(c, res, 32, 128)) {
		rank = strcasecmp(name, domain) == 0 ? 0 : spf_name_within(name, domain) ? 1 : 2;
		if (rank < c->ptr_rank) {
			free(c->ptr_name);
			c->ptr_name = xstrdup(name);
			c->ptr_rank = rank;
		}
	}
	spf_p_next(c);
}

static void spf_p_next(spf_check *c)
{
	if (c->ptr_rank == 0 || c->name_next >= c->name_max) {
		if (c->ptr_name == NULL)
			c->ptr_name = xstrdup("unknown");
		dns_result_free(&c->names);
		return;
	}
	spf_query(c, c->names->rrs[c->name_next++].text, spf_addr_type(c), spf_p_on_addr);
}

static void spf_p_on_ptr(spf_check *c, const struct dns_result *res)
{
	if (res->status != DNS_FOUND) {
		c->ptr_name = xstrdup("unknown");
		return;
	}
	c->names = dns_result_dup(res);
	c->name_next = 0;
	c->name_max = res->count < SPF_MAX_NAMES ? res->count : SPF_MAX_NAMES;
	c->ptr_rank = 3;
	spf_p_next(c);
}

static void spf_p_start(spf_check *c)
{
	char rev[80];

	spf_reverse_name(c, rev, sizeof(rev));
	spf_query(c, rev, DNS_PTR, spf_p_on_ptr);
}

/* ---- mechanisms (RFC 7208 5) ---- */

static const struct spf_term *spf_current_term(const spf_check *c)
{
	return c->term;
}

static void spf_on_a(spf_check *c, const struct dns_result *res)
{
	const struct spf_term *t = spf_current_term(c);

	if (res->status == DNS_TEMPFAIL)
		spf_finish(c, SPF_TEMPERROR, "DNS error for %s", c->target);
	else if (res->status == DNS_NOTFOUND)
		spf_void(c, c->target);
	else if (spf_rrs_match(c, res, t->cidr4, t->cidr6))
		spf_term_matched(c, t, c->frames[c->depth - 1].domain);
}

static void spf_on_exists(spf_check *c, const struct dns_result *res)
{
	if (res->status == DNS_TEMPFAIL)
		spf_finish(c, SPF_TEMPERROR, "DNS error for %s", c->target);
	else if (res->status == DNS_NOTFOUND)
		spf_void(c, c->target);
	else
		spf_term_matched(c, spf_current_term(c), c->frames[c->depth - 1].domain);
}

static void spf_mx_next(spf_check *c);

static void spf_on_mx_addr(spf_check *c, const struct dns_result *res)
{
	const struct spf_term *t = spf_current_term(c);

	if (res->status == DNS_TEMPFAIL) {
		spf_finish(c, SPF_TEMPERROR, "DNS error for %s", c->names->rrs[c->name_next - 1].text);
	} else if (res->status == DNS_FOUND && spf_rrs_match(c, res, t->cidr4, t->cidr6)) {
		dns_result_free(&c->names);
		spf_term_matched(c, t, c->frames[c->depth - 1].domain);
	} else {
		spf_mx_next(c);
	}
}

static void spf_mx_next(spf_check *c)
{
	while (c->name_next < c->name_max && c->names->rrs[c->name_next].text[0] == '\0')
		c->name_next++; /* a null MX names no host */
	if (c->name_next >= c->name_max) {
		dns_result_free(&c->names);
		return;
	}
	spf_query(c, c->names->rrs[c->name_next++].text, spf_addr_type(c), spf_on_mx_addr);
}

static void spf_on_mx(spf_check *c, const struct dns_result *res)
{
	if (res->status == DNS_TEMPFAIL) {
		spf_finish(c, SPF_TEMPERROR, "DNS error for MX %s", c->target);
	} else if (res->status == DNS_NOTFOUND) {
		spf_void(c, c->target);
	} else if (res->count > SPF_MAX_NAMES) {
		spf_finish(c, SPF_PERMERROR, "more than %d MX records for %s", SPF_MAX_NAMES,
			   c->target);
	} else {
		c->names = dns_result_dup(res);
		c->name_next = 0;
		c->name_max = res->count;
		spf_mx_next(c);
	}
}

static void spf_ptr_next(spf_check *c);

static void spf_on_ptr_addr(spf_check *c, const struct dns_result *res)
{
	if (res->status == DNS_FOUND && spf_rrs_match(c, res, 32, 128)) {
		dns_result_free(&c->names);
		spf_term_matched(c, spf_current_term(c), c->frames[c->depth - 1].domain);
		return;
	}
	spf_ptr_next(c);
}

static void spf_ptr_next(spf_check *c)
{
	/* only names within the target can match: skip the others unasked */
	while (c->name_next < c->name_max &&
	       !spf_name_within(c->names->rrs[c->name_next].text, c->target))
		c->name_next++;
	if (c->name_next >= c->name_max) {
		dns_result_free(&c->names);
		return;
	}
	spf_query(c, c->names->rrs[c->name_next++].text, spf_addr_type(c), spf_on_ptr_addr);
}

static void spf_on_ptr(spf_check *c, const struct dns_result *res)
{
	if (res->status != DNS_FOUND) {
		if (res->status == DNS_NOTFOUND)
			spf_void(c, "PTR");
		return; /* a PTR lookup error is no match (RFC 7208 5.5) */
	}
	c->names = dns_result_dup(res);
	c->name_next = 0;
	c->name_max = res->count < SPF_MAX_NAMES ? res->count : SPF_MAX_NAMES;
	spf_ptr_next(c);
}

/* spf_dns_term: a term that asks DNS: expand, count, ask. */
static void spf_dns_term(spf_check *c, struct spf_frame *f, const struct spf_term *t)
{
	char rev[80];
	int r;

	free(c->target);
	c->target = NULL;
	r = spf_expand(c, t->domain, f->domain, &c->target);
	if (r == 1)
		spf_p_start(c);
	if (r != 0)
		return;
	f->next++;
	if (++c->dns_terms > SPF_MAX_DNS_TERMS) {
		spf_finish(c, SPF_PERMERROR, "more than %d DNS lookups", SPF_MAX_DNS_TERMS);
		return;
	}
	c->term = t;
	if (t->mech != SPF_MECH_PTR && !spf_domain_valid(c->target)) {
		/* RFC 7208 leaves it open; like a name that does not exist */
		if (t->mech == SPF_MECH_INCLUDE)
			spf_finish(c, SPF_PERMERROR, "include of an invalid name %s", c->target);
		else
			spf_void(c, c->target);
		return;
	}
	switch (t->mech) {
	case SPF_MECH_A: spf_query(c, c->target, spf_addr_type(c), spf_on_a); break;
	case SPF_MECH_MX: spf_query(c, c->target, DNS_MX, spf_on_mx); break;
	case SPF_MECH_EXISTS: spf_query(c, c->target, DNS_A, spf_on_exists); break;
	case SPF_MECH_PTR:
		spf_reverse_name(c, rev, sizeof(rev));
		spf_query(c, rev, DNS_PTR, spf_on_ptr);
		break;
	case SPF_MECH_INCLUDE:
		spf_frame_push(c, c->target, true);
		c->target = NULL;
		break;
	default:
		break;
	}
}

static void spf_eval_term(spf_check *c, struct spf_frame *f)
{
	const struct spf_term *t = &f->rec->terms[f->next];

	switch (t->mech) {
	case SPF_MECH_ALL:
		f->next++;
		spf_term_matched(c, t, f->domain);
		break;
	case SPF_MECH_IP4:
	case SPF_MECH_IP6:
		f->next++;
		if ((t->mech == SPF_MECH_IP6) == c->ipv6 &&
		    spf_prefix_match(t->addr, c->ip, c->ipv6 ? t->cidr6 : t->cidr4))
			spf_term_matched(c, t, f->domain);
		break;
	default:
		spf_dns_term(c, f, t);
	}
}

/* spf_redirect: no mechanism matched and the record names another
 * (RFC 7208 6.1): that record's result is this one's. */
static void spf_redirect(spf_check *c, struct spf_frame *f)
{
	char *target = NULL;
	int r = spf_expand(c, f->rec->redirect, f->domain, &target);

	if (r == 1)
		spf_p_start(c);
	if (r != 0)
		return;
	if (++c->dns_terms > SPF_MAX_DNS_TERMS) {
		free(target);
		spf_finish(c, SPF_PERMERROR, "more than %d DNS lookups", SPF_MAX_DNS_TERMS);
		return;
	}
	free(f->domain);
	spf_record_free(&f->rec);
	f->domain = target;
	f->next = 0;
	f->redirected = true;
}

/* ---- the explanation (RFC 7208 6.2) ---- */

static void spf_exp_done(spf_check *c)
{
	char *why = c->reason;

	c->reason = NULL;
	spf_finish(c, SPF_FAIL, "%s", why);
	free(why);
}

static void spf_on_exp(spf_check *c, const struct dns_result *res)
{
	struct spf_macro_vars v;
	const char *err;
	buf *b;
	int r;

	if (res->status != DNS_FOUND || res->count != 1) {
		spf_exp_done(c);
		return;
	}
	spf_macro_vars_fill(c, c->frames[c->depth - 1].domain, &v);
	b = buf_new(128);
	r = spf_macro_expand(res->rrs[0].text, res->rrs[0].len, &v, SPF_MACRO_EXP, b, &err);
	if (r == 1) {
		buf_free(&b);
		spf_p_start(c); /* then spf_step asks for the text again */
		return;
	}
	if (r == 0) {
		free(c->explanation);
		c->explanation = buf_steal(b);
	}
	buf_free(&b);
	spf_exp_done(c);
}

static void spf_exp_start(spf_check *c)
{
	struct spf_frame *f = &c->frames[c->depth - 1];
	struct spf_macro_vars v;
	const char *err;
	buf *b = buf_new(64);
	int r;

	spf_macro_vars_fill(c, f->domain, &v);
	r = spf_macro_expand(f->rec->exp, strlen(f->rec->exp), &v, 0, b, &err);
	if (r == 1) {
		buf_free(&b);
		spf_p_start(c);
		return;
	}
	if (r < 0 || buf_len(b) == 0) {
		buf_free(&b);
		spf_exp_done(c);
		return;
	}

	char *name = buf_steal_free(&b);

	spf_domain_truncate(name);
	if (spf_domain_valid(name))
		spf_query(c, name, DNS_TXT, spf_on_exp);
	else
		spf_exp_done(c);
	free(name);
}

/* spf_step: the next thing to do when no answer is awaited. */
static void spf_step(spf_check *c)
{
	struct spf_frame *f = &c->frames[c->depth - 1];

	if (c->in_exp)
		spf_exp_start(c);
	else if (f->rec == NULL)
		spf_fetch_record(c, f);
	else if (f->next < f->rec->count)
		spf_eval_term(c, f);
	else if (f->rec->redirect != NULL)
		spf_redirect(c, f);
	else
		spf_frame_result(c, SPF_NEUTRAL, "no mechanism matched");
}

/* ---- the check ---- */

/* spf_ip_dotted: %{i}. XXX The RFC writes IPv6 nibbles in lower case;
 * the RFC 7208 test suite wants them in the case the address was given
 * in, so an address written with upper-case hex gives upper-case nibbles. */
static void spf_ip_dotted(spf_check *c, const char *text)
{
	const char *digits = strpbrk(text, "ABCDEF") != NULL ? "0123456789ABCDEF" : "0123456789abcdef";
	size_t n = 0;

	if (!c->ipv6) {
		snprintf(c->ip_dotted, sizeof(c->ip_dotted), "%u.%u.%u.%u", c->ip[0], c->ip[1],
			 c->ip[2], c->ip[3]);
		return;
	}
	for (int i = 0; i < 16; i++)
		n += (size_t)snprintf(c->ip_dotted + n, sizeof(c->ip_dotted) - n, "%s%c.%c",
				      i > 0 ? "." : "", digits[c->ip[i] >> 4], digits[c->ip[i] & 0xf]);
}

static int spf_set_ip(spf_check *c, const char *text)
{
	unsigned char a6[16];

	if (text != NULL && inet_pton(AF_INET, text, c->ip) == 1) {
		c->ipv6 = false;
	} else if (text != NULL && inet_pton(AF_INET6, text, a6) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

		c->ipv6 = memcmp(a6, mapped, 12) != 0;
		memcpy(c->ip, c->ipv6 ? a6 : a6 + 12, c->ipv6 ? 16 : 4);
	} else {
		return -1;
	}
	inet_ntop(c->ipv6 ? AF_INET6 : AF_INET, c->ip, c->ip_text, sizeof(c->ip_text));
	spf_ip_dotted(c, text);
	return 0;
}

/* spf_set_sender: s, l and o (RFC 7208 4.3): the null sender is
 * postmaster@helo; a missing local-part is "postmaster". */
static void spf_set_sender(spf_check *c, const char *sender, const char *helo)
{
	const char *at;

	if (sender == NULL || sender[0] == '\0') {
		c->local = xstrdup("postmaster");
		c->sender_domain = xstrdup(helo);
	} else if ((at = strrchr(sender, '@')) == NULL) {
		c->local = xstrdup("postmaster");
		c->sender_domain = xstrdup(sender);
	} else {
		c->local = at == sender ? xstrdup("postmaster") : xstrndup(sender, (size_t)(at - sender));
		c->sender_domain = xstrdup(at + 1);
	}
	c->sender = xmalloc(strlen(c->local) + strlen(c->sender_domain) + 2);
	sprintf(c->sender, "%s@%s", c->local, c->sender_domain);
}

spf_check *spf_check_start(const struct spf_dns *dns, const struct spf_request *req,
			   spf_done_cb *cb, void *ctx)
{
	spf_check *c = xcalloc(1, sizeof(*c));
	const char *helo = req->helo != NULL ? req->helo : "";

	c->dns = *dns;
	c->cb = cb;
	c->cb_ctx = ctx;
	c->helo = xstrdup(helo);
	c->receiver = xstrdup(req->receiver != NULL ? req->receiver : "unknown");
	c->default_exp = req->default_exp != NULL ? xstrdup(req->default_exp) : NULL;
	c->now = (unsigned long long)(req->now != 0 ? req->now : time(NULL));
	spf_set_sender(c, req->sender, helo);
	c->starting = true;
	if (spf_set_ip(c, req->ip) < 0) {
		spf_finish(c, SPF_PERMERROR, "bad client address");
	} else {
		spf_frame_push(c, xstrdup(req->domain != NULL ? req->domain : c->sender_domain),
			       false);
		spf_pump(c);
	}
	c->starting = false;
	return c;
}

bool spf_check_done(const spf_check *c)
{
	return c->finished;
}

const struct spf_answer *spf_check_answer(const spf_check *c)
{
	return c->finished ? &c->ans : NULL;
}

void spf_check_free(spf_check **cp)
{
	spf_check *c = *cp;

	if (c == NULL)
		return;
	if (c->waiting && c->handle != NULL && c->dns.cancel != NULL)
		c->dns.cancel(c->dns.ctx, c->handle);
	while (c->depth > 0)
		spf_frame_pop(c);
	dns_result_free(&c->answer);
	dns_result_free(&c->names);
	free(c->sender);
	free(c->local);
	free(c->sender_domain);
	free(c->helo);
	free(c->receiver);
	free(c->default_exp);
	free(c->ptr_name);
	free(c->target);
	free(c->explanation);
	free(c->reason);
	free(c);
	*cp = NULL;
}
