/* dkim_dns.c: the adapter from struct dkim_resolver to lib/dns: each
 * lookup is a DNS_TXT query whose answer is handed on as a list of
 * strings. The handle given to the verifier is a small heap record that
 * holds the dns query, so cancel can drop it. */
#include "dkim_dns.h"

#include <stdlib.h>

#include "mem.h"

struct dkim_dns_query {
	dns_query *q;
	dkim_txt_cb *cb;
	void *cb_ctx;
};

static void dns_answer(void *ctx, const struct dns_result *res)
{
	struct dkim_dns_query *dq = ctx;
	const char **txt = xcalloc(res->count + 1, sizeof(char *));
	size_t *len = xcalloc(res->count + 1, sizeof(size_t));
	enum dkim_dns_status st = DKIM_DNS_TEMPFAIL;

	if (res->status == DNS_FOUND)
		st = DKIM_DNS_FOUND;
	else if (res->status == DNS_NOTFOUND)
		st = DKIM_DNS_NOTFOUND;
	for (size_t i = 0; st == DKIM_DNS_FOUND && i < res->count; i++) {
		txt[i] = res->rrs[i].text;
		len[i] = res->rrs[i].len;
	}
	dq->cb(dq->cb_ctx, st, txt, len, st == DKIM_DNS_FOUND ? res->count : 0);
	free(txt);
	free(len);
	free(dq);
}

static void *dkim_dns_lookup(void *rctx, const char *name, dkim_txt_cb *cb, void *cb_ctx)
{
	struct dkim_dns_query *dq = xcalloc(1, sizeof(*dq));

	dq->cb = cb;
	dq->cb_ctx = cb_ctx;
	dq->q = dns_lookup(rctx, name, DNS_TXT, dns_answer, dq);
	return dq;
}

static void dkim_dns_cancel(void *rctx, void *handle)
{
	struct dkim_dns_query *dq = handle;

	(void)rctx;
	if (dq == NULL)
		return;
	dns_cancel(&dq->q);
	free(dq);
}

struct dkim_resolver dkim_dns_resolver(dns_resolver *r)
{
	return (struct dkim_resolver){ dkim_dns_lookup, dkim_dns_cancel, r };
}
