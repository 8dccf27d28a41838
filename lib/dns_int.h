/* dns_int.h: what dns.c (the resolver on the loop, its cache) and
 * dns_msg.c (reading a DNS answer into a dns_result) share; not for other
 * modules. */
#ifndef POSTERN_DNS_INT_H
#define POSTERN_DNS_INT_H

#include "dns.h"

/* Longest CNAME chain followed, counting each hop in one answer and each
 * new question for a chain's target. */
#define DNS_CHAIN_MAX 8
/* Cache bounds: no answer is kept longer than DNS_TTL_MAX seconds; a
 * negative answer without an SOA is kept DNS_NEG_TTL_DEFAULT seconds. */
#define DNS_TTL_MAX 3600
#define DNS_NEG_TTL_DEFAULT 60

enum dns_msg_outcome {
	DNS_MSG_DONE, /* *res_r is the answer (FOUND or NOTFOUND) */
	DNS_MSG_FOLLOW, /* a CNAME chain ends in *next_r with no data: ask it */
	DNS_MSG_BAD, /* unreadable answer: TEMPFAIL */
};

/* dns_msg_read: reads answer abuf of c-ares status ares_status (SUCCESS,
 * ENODATA or ENOTFOUND) for qname/type. chain_hops counts the hops so
 * far and is advanced; chain_ttl (DNS_TTL_MAX before the first answer) is
 * lowered to the smallest CNAME TTL of the chain so far, and bounds the
 * TTL of the result, so an answer reached through a CNAME asked in an
 * earlier message is not cached longer than that CNAME. On DONE *res_r
 * is a heap result; on FOLLOW *next_r is the heap name to ask next. */
enum dns_msg_outcome dns_msg_read(const unsigned char *abuf, int alen, int ares_status,
				  const char *qname, enum dns_type type, unsigned *chain_hops,
				  uint32_t *chain_ttl, struct dns_result **res_r, char **next_r);

/* dns_wire_type: the RR type number on the wire (A = 1, ...). */
int dns_wire_type(enum dns_type type);

/* dns_result_new: an empty result of status st with error text (may be
 * NULL). */
struct dns_result *dns_result_new(enum dns_status st, const char *name, const char *error);

#endif
