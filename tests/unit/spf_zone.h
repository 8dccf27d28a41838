/* spf_zone.h: an in-memory DNS zone behind the SPF lookup interface, for
 * tests: it serves the "zonedata" of an RFC 7208 suite document (A, AAAA,
 * MX, PTR, TXT, SPF, CNAME, TIMEOUT) and answers asynchronously: queries
 * wait in a list until spf_zone_run answers them one by one. */
#ifndef POSTERN_SPF_ZONE_H
#define POSTERN_SPF_ZONE_H

#include "jsonread.h"
#include "spf.h"

typedef struct spf_zone spf_zone;

/* spf_zone_new: a zone over zonedata (an object: name -> list of records;
 * kept by reference, it must outlive the zone). */
spf_zone *spf_zone_new(const struct jv *zonedata);
void spf_zone_free(spf_zone **z);
/* spf_zone_dns: the lookup interface answering from z. */
struct spf_dns spf_zone_dns(spf_zone *z);
/* spf_zone_run: answers waiting queries (and those they cause) until none
 * is left. Returns the number answered. */
size_t spf_zone_run(spf_zone *z);
/* spf_zone_answer: the answer for name/type right away (heap). */
struct dns_result *spf_zone_answer(const spf_zone *z, const char *name, enum dns_type type);

#endif
