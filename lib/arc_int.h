/* arc_int.h: what lib/arc_verify.c, lib/arc_seal.c and the tests share:
 * the ARC sets of a header block collected by instance with their
 * structural checks (RFC 8617 5.2 steps 1-4), and the ARC-Seal hash
 * (relaxed header canonicalization of the sets in instance order, the
 * newest ARC-Seal without its b= value and without a final CRLF,
 * RFC 8617 5.1.1). Not for programs: they use arc.h. */
#ifndef POSTERN_ARC_INT_H
#define POSTERN_ARC_INT_H

#include "arc.h"
#include "dkim_int.h"
#include "taglist.h"

/* One instance: its three fields (pointers into the dkim_hdrs) and the
 * parsed tag lists of its signatures. */
struct arc_set {
	const struct dkim_field *aar, *ams, *as;
	taglist *ams_tags, *as_tags;
	enum arc_result cv;
};

struct arc_chain {
	struct arc_set sets[ARC_MAX_INSTANCES + 1]; /* [1..count] */
	unsigned count; /* highest i= seen */
	const char *error; /* static: the first structural fault, or NULL */
};

/* arc_chain_collect: fills c from h. Returns the number of sets (0: no
 * ARC field at all), or -1 with c->error when the fields do not make a
 * well-formed chain (a bad or duplicate i=, a missing field, a bad cv=,
 * h= in an ARC-Seal, ARC-Seal in an ARC-Message-Signature's h=, ...).
 * c->count is set either way. Free with arc_chain_clear. */
int arc_chain_collect(const dkim_hdrs *h, struct arc_chain *c);
void arc_chain_clear(struct arc_chain *c);

/* arc_seal_hash_field: feeds one ARC field raw[0..len) to md in relaxed
 * form; last: it is the ARC-Seal being signed or checked: its b= value is
 * dropped and no CRLF follows. */
void arc_seal_hash_field(EVP_MD_CTX *md, const char *raw, size_t len, bool last);

/* arc_parse_instance: "1".."50" into *i_r; 0 or -1. */
int arc_parse_instance(const char *s, unsigned *i_r);

#endif
