/* txt_dns.h: the TXT lookup of txt_lookup.h (DKIM and ARC keys, DMARC
 * policies) on the shared asynchronous resolver of lib/dns.h: answers
 * found / not found / temporary failure are passed through unchanged. */
#ifndef POSTERN_TXT_DNS_H
#define POSTERN_TXT_DNS_H

#include "dns.h"
#include "txt_lookup.h"

/* txt_dns_resolver: a txt_resolver asking r (which must outlive every
 * check using it). Answers always come later, from the loop. */
struct txt_resolver txt_dns_resolver(dns_resolver *r);

#endif
