/* spf_dns.c: the SPF lookup interface (struct spf_dns) over the shared
 * asynchronous resolver of lib/dns: each SPF question becomes one
 * dns_lookup on the ev loop, answered later through the same callback
 * shape. Nothing is cached here; lib/dns keeps its own cache. */
#include "spf.h"

static void *spf_dns_lookup(void *ctx, const char *name, enum dns_type type, spf_dns_cb *cb,
			    void *cb_ctx)
{
	return dns_lookup(ctx, name, type, cb, cb_ctx);
}

static void spf_dns_cancel(void *ctx, void *handle)
{
	dns_query *q = handle;

	(void)ctx;
	dns_cancel(&q);
}

struct spf_dns spf_dns_from_resolver(dns_resolver *r)
{
	struct spf_dns d = { spf_dns_lookup, spf_dns_cancel, r };

	return d;
}
