/* txt_dns.c: the adapter from struct txt_resolver (txt_lookup.h) to
 * lib/dns, for DKIM, ARC and DMARC: each lookup is a DNS_TXT query whose
 * answer is handed on as a list of strings. The handle given to the
 * caller is a small heap record that holds the dns query, so cancel can
 * drop it. */
#include "txt_dns.h"

#include <stdlib.h>

#include "mem.h"

struct txt_dns_query {
	dns_query *q;
	txt_cb *cb;
	void *cb_ctx;
};

static void dns_answer(void *ctx, const struct dns_result *res)
{
	struct txt_dns_query *dq = ctx;
	const char **txt = xcalloc(res->count + 1, sizeof(char *));
	size_t *len = xcalloc(res->count + 1, sizeof(size_t));
	enum txt_status st = TXT_TEMPFAIL;

	if (res->status == DNS_FOUND)
		st = TXT_FOUND;
	else if (res->status == DNS_NOTFOUND)
		st = TXT_NOTFOUND;
	for (size_t i = 0; st == TXT_FOUND && i < res->count; i++) {
		txt[i] = res->rrs[i].text;
		len[i] = res->rrs[i].len;
	}
	dq->cb(dq->cb_ctx, st, txt, len, st == TXT_FOUND ? res->count : 0);
	free(txt);
	free(len);
	free(dq);
}

static void *txt_dns_lookup(void *rctx, const char *name, txt_cb *cb, void *cb_ctx)
{
	struct txt_dns_query *dq = xcalloc(1, sizeof(*dq));

	dq->cb = cb;
	dq->cb_ctx = cb_ctx;
	dq->q = dns_lookup(rctx, name, DNS_TXT, dns_answer, dq);
	return dq;
}

static void txt_dns_cancel(void *rctx, void *handle)
{
	struct txt_dns_query *dq = handle;

	(void)rctx;
	if (dq == NULL)
		return;
	dns_cancel(&dq->q);
	free(dq);
}

struct txt_resolver txt_dns_resolver(dns_resolver *r)
{
	return (struct txt_resolver){ txt_dns_lookup, txt_dns_cancel, r };
}
