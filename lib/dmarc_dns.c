/* dmarc_dns.c: the adapter from struct dmarc_resolver to lib/dns: each
 * lookup is a DNS_TXT query whose answer is handed on as a list of
 * strings. The handle given to the check is a small heap record holding
 * the dns query, so cancel can drop it. */
#include "dmarc_dns.h"

#include <stdlib.h>

#include "mem.h"

struct dmarc_dns_query {
	dns_query *q;
	dmarc_txt_cb *cb;
	void *cb_ctx;
};

static void dmarc_dns_answer(void *ctx, const struct dns_result *res)
{
	struct dmarc_dns_query *dq = ctx;
	const char **txt = xcalloc(res->count + 1, sizeof(char *));
	size_t *len = xcalloc(res->count + 1, sizeof(size_t));
	enum dmarc_dns_status st = DMARC_DNS_TEMPFAIL;
	size_t n = 0;

	if (res->status == DNS_FOUND)
		st = DMARC_DNS_FOUND;
	else if (res->status == DNS_NOTFOUND)
		st = DMARC_DNS_NOTFOUND;
	for (size_t i = 0; st == DMARC_DNS_FOUND && i < res->count; i++, n++) {
		txt[i] = res->rrs[i].text;
		len[i] = res->rrs[i].len;
	}
	dq->cb(dq->cb_ctx, st, txt, len, n);
	free(txt);
	free(len);
	free(dq);
}

static void *dmarc_dns_lookup(void *rctx, const char *name, dmarc_txt_cb *cb, void *cb_ctx)
{
	struct dmarc_dns_query *dq = xcalloc(1, sizeof(*dq));

	dq->cb = cb;
	dq->cb_ctx = cb_ctx;
	dq->q = dns_lookup(rctx, name, DNS_TXT, dmarc_dns_answer, dq);
	return dq;
}

static void dmarc_dns_cancel(void *rctx, void *handle)
{
	struct dmarc_dns_query *dq = handle;

	(void)rctx;
	if (dq == NULL)
		return;
	dns_cancel(&dq->q);
	free(dq);
}

struct dmarc_resolver dmarc_dns_resolver(dns_resolver *r)
{
	return (struct dmarc_resolver){ dmarc_dns_lookup, dmarc_dns_cancel, r };
}
