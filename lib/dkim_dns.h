/* dkim_dns.h: the DKIM key lookup (struct dkim_resolver) on the shared
 * asynchronous resolver of lib/dns.h: TXT answers found / not found /
 * temporary failure are passed through unchanged. */
#ifndef POSTERN_DKIM_DNS_H
#define POSTERN_DKIM_DNS_H

#include "dkim.h"
#include "dns.h"

/* dkim_dns_resolver: a dkim_resolver asking r (which must outlive every
 * verifier using it). Answers always come later, from the loop. */
struct dkim_resolver dkim_dns_resolver(dns_resolver *r);

#endif
