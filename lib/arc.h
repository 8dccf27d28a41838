/* arc.h: Authenticated Received Chain (RFC 8617) on top of lib/dkim: the
 * verifier judges the ARC sets a message carries (structure, the newest
 * ARC-Message-Signature, every ARC-Seal) and answers none / pass / fail;
 * the sealer adds the next set (ARC-Authentication-Results,
 * ARC-Message-Signature, ARC-Seal) to a message it forwards. Both stream
 * the body once; keys come through txt_lookup.h's txt_resolver. What to do
 * with the verdict (Authentication-Results, DMARC override) is the
 * caller's. */
#ifndef POSTERN_ARC_H
#define POSTERN_ARC_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "dkim.h"

#define ARC_MAX_INSTANCES 50 /* RFC 8617 4.2.1: i= is 1..50 */

/* The chain validation status (cv=, and arc= in Authentication-Results);
 * temperror: a key lookup failed for now (nothing else failed). */
enum arc_result { ARC_NONE, ARC_PASS, ARC_FAIL, ARC_TEMPERROR };

const char *arc_result_name(enum arc_result r);

/* ---- verification ---- */

/* now: the clock for t= checks (0 = time(NULL)); min_rsa_bits as in
 * dkim_verify_params (0 = 1024); max_headers: fields considered (0 =
 * 1000). */
struct arc_verify_params {
	struct txt_resolver resolver;
	time_t now;
	unsigned min_rsa_bits;
	unsigned max_headers;
};

typedef struct arc_verifier arc_verifier;
typedef void arc_verify_cb(void *ctx, arc_verifier *v);

arc_verifier *arc_verify_new(const struct arc_verify_params *p);
/* arc_verify_headers: the header block hdr[0..len). Collects the ARC sets,
 * checks their structure and starts the key lookups (one per ARC-Seal and
 * one for the newest ARC-Message-Signature). Returns the number of sets
 * (the highest i=), 0 when the message has none. Call once. */
unsigned arc_verify_headers(arc_verifier *v, const char *hdr, size_t len);
void arc_verify_body(arc_verifier *v, const void *data, size_t len);
/* arc_verify_finish: the body is complete. Returns 1 when the verdict is
 * in (cb not called) or 0 when lookups are out (cb called once later;
 * freeing the verifier first cancels them). */
int arc_verify_finish(arc_verifier *v, arc_verify_cb *cb, void *ctx);
enum arc_result arc_verify_result(const arc_verifier *v);
/* arc_verify_reason: why the chain is not pass (static text), or NULL. */
const char *arc_verify_reason(const arc_verifier *v);
/* arc_verify_instances: the highest i= seen (valid or not). */
unsigned arc_verify_instances(const arc_verifier *v);
/* arc_verify_domain: d= of the newest ARC-Seal (header.oldest-pass and
 * smtp.remote-ip are not reported), or NULL. */
const char *arc_verify_domain(const arc_verifier *v);
void arc_verify_free(arc_verifier **v);

/* ---- sealing ---- */

/* The parameters of one seal. authres: our Authentication-Results clause,
 * "authserv-id; method=result ..." (without the field name; folded lines,
 * CRLF then white space, are kept as they are), which becomes
 * the ARC-Authentication-Results value after "i=N; " (it should carry the
 * arc= result the verifier gave). headers: signed by the
 * ARC-Message-Signature (NULL = dkim_default_headers plus every
 * DKIM-Signature); ARC-Seal may not be among them. timestamp 0 = now.
 * Strings are copied; key is borrowed. */
struct arc_seal_params {
	const char *domain;
	const char *selector;
	const dkim_key *key;
	const char *authres;
	const char *const *headers;
	time_t timestamp;
};

typedef struct arc_sealer arc_sealer;

/* arc_sealer_new: NULL with *err_r (heap) for a bad domain, selector,
 * header list or Authentication-Results text. */
arc_sealer *arc_sealer_new(const struct arc_seal_params *p, char **err_r);
void arc_sealer_body(arc_sealer *s, const void *data, size_t len);
/* arc_sealer_finish: seals the message whose header block is hdr[0..len)
 * with chain = the verifier's result on it (NONE when it has no ARC set,
 * PASS or FAIL; TEMPERROR is refused: defer and seal later). Appends the
 * three fields of the next instance (ARC-Seal, ARC-Message-Signature,
 * ARC-Authentication-Results, each ending in CRLF) to out, to prepend to
 * the message in this order. Returns 0, or -1 with *err_r (heap): no From,
 * 50 sets already, a chain whose newest seal says cv=fail (it ends
 * there), chain NONE on a message with sets, or a signing failure. */
int arc_sealer_finish(arc_sealer *s, const char *hdr, size_t len, enum arc_result chain,
		      buf *out, char **err_r);
void arc_sealer_free(arc_sealer **s);

#endif
