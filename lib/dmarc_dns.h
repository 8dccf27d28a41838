/* dmarc_dns.h: the DMARC policy lookup (struct dmarc_resolver) on the
 * shared asynchronous resolver of lib/dns.h: TXT answers found / not
 * found / temporary failure are passed through unchanged. */
#ifndef POSTERN_DMARC_DNS_H
#define POSTERN_DMARC_DNS_H

#include "dmarc.h"
#include "dns.h"

/* dmarc_dns_resolver: a dmarc_resolver asking r (which must outlive every
 * check using it). Answers always come later, from the loop. */
struct dmarc_resolver dmarc_dns_resolver(dns_resolver *r);

#endif
