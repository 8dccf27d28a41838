/* dmarc_report.c: the aggregate-report data line, one per message, that a
 * report tool reads from the log (docs/dmarc-report.md is the contract):
 * a fixed sequence of key=value fields; values hold only [A-Za-z0-9._-]
 * (and ':' in ip=; other bytes become '?', spaces in the reason '_'),
 * "-" for empty. New fields may be added at the end, never reordered. */
#include "dmarc_int.h"

#include <stdio.h>
#include <string.h>

/* put_safe: s with every byte outside [A-Za-z0-9._-] (and ':' when
 * colon) replaced: a space by '_', anything else by '?'; "-" for an empty
 * or NULL s. */
static void put_safe(buf *out, const char *s, bool colon)
{
	if (s == NULL || *s == '\0') {
		buf_putc(out, '-');
		return;
	}
	for (; *s != '\0'; s++) {
		char c = *s;
		bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '.' || c == '-' || c == '_' || (colon && c == ':');

		buf_putc(out, safe ? c : c == ' ' ? '_' : '?');
	}
}

static void put_value(buf *out, const char *key, const char *value)
{
	buf_printf(out, " %s=", key);
	put_safe(out, value, false);
}

static const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

static const char *align_name(enum dmarc_align a)
{
	return a == DMARC_ALIGN_STRICT ? "s" : "r";
}

/* put_dkim: "d:s:result:aligned" per signature, comma-separated. */
static void put_dkim(const dmarc_check *c, const struct dmarc_author *a, buf *out)
{
	enum dmarc_align adkim =
		a != NULL && a->have_record ? a->record.adkim : DMARC_ALIGN_RELAXED;

	buf_puts(out, " dkim=");
	if (c->nsigs == 0)
		buf_putc(out, '-');
	for (size_t i = 0; i < c->nsigs; i++) {
		const struct dmarc_sig *s = &c->sigs[i];
		bool aligned = a != NULL && dmarc_pair_aligned(a, s->domain, s->org, adkim);

		put_safe(out, s->domain, false);
		buf_putc(out, ':');
		put_safe(out, s->selector, false);
		buf_printf(out, ":%s:%s", dkim_status_name(s->status), yes_no(aligned));
		if (i + 1 < c->nsigs)
			buf_putc(out, ',');
	}
}

/* put_policy: the record's published values, "-" without a record. */
static void put_policy(const struct dmarc_author *a, buf *out)
{
	const struct dmarc_record *r = a != NULL && a->have_record ? &a->record : NULL;
	char pct[8];

	put_value(out, "p", r ? dmarc_policy_name(r->p) : NULL);
	put_value(out, "sp", r ? dmarc_policy_name(r->sp) : NULL);
	snprintf(pct, sizeof(pct), "%u", r ? r->pct : 0);
	put_value(out, "pct", r ? pct : NULL);
	put_value(out, "adkim", r ? align_name(r->adkim) : NULL);
	put_value(out, "aspf", r ? align_name(r->aspf) : NULL);
}

void dmarc_report_line(const dmarc_check *c, buf *out)
{
	const struct dmarc_author *a = c->chosen;
	const struct dmarc_verdict *v = &c->verdict;
	char n[24];

	buf_puts(out, "dmarc-report v=1");
	buf_puts(out, " ip="); /* an IPv6 address keeps its colons */
	put_safe(out, c->source_ip, true);
	put_value(out, "header_from", a ? a->domain : NULL);
	snprintf(n, sizeof(n), "%zu", c->nauthors);
	put_value(out, "authors", n);
	put_value(out, "policy_domain", a ? a->policy_domain : NULL);
	put_value(out, "result", dmarc_result_name(v->result));
	put_value(out, "disposition", dmarc_policy_name(v->disposition));
	put_value(out, "policy", a && a->have_record ? dmarc_policy_name(v->policy) : NULL);
	put_value(out, "sampled_out", yes_no(v->sampled_out));
	put_policy(a, out);
	put_value(out, "spf", c->spf_domain ? spf_result_name(c->spf) : "none");
	put_value(out, "spf_domain", c->spf_domain);
	put_value(out, "spf_aligned", yes_no(v->spf_aligned));
	put_dkim(c, a, out);
	put_value(out, "dkim_aligned", yes_no(v->dkim_aligned));
	put_value(out, "reason", v->reason);
}
