/* dkim.h: DKIM signing and verification (RFC 6376) with rsa-sha256 and
 * ed25519-sha256 (RFC 8463), on OpenSSL. Both sides stream the body: it is
 * fed in chunks of any size and hashed as it comes, one hash context per
 * canonicalization (and l= for verification), so several signatures cost
 * one pass and no copy of the body. Key records are fetched through a
 * small asynchronous TXT lookup interface (txt_lookup.h): lib/txt_dns.c
 * puts it on lib/dns, tests answer from memory. This module judges
 * signatures; policy (DMARC, what to do with a failure) is the caller's. */
#ifndef POSTERN_DKIM_H
#define POSTERN_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "txt_lookup.h"

enum dkim_alg { DKIM_RSA_SHA256, DKIM_ED25519_SHA256 };
enum dkim_canon { DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED };

/* ---- keys ---- */

typedef struct dkim_key dkim_key;

/* dkim_key_load: a private signing key from text: PEM (RSA in PKCS#1 or
 * PKCS#8, Ed25519 in PKCS#8), or the base64 of a raw 32-byte Ed25519 seed
 * (the RFC 8463 / dkimpy form). Returns NULL with *err_r (heap) when the
 * text is no such key or an RSA key is below 1024 bits. */
dkim_key *dkim_key_load(const char *text, size_t len, char **err_r);
/* dkim_key_load_file: dkim_key_load on a file's contents. */
dkim_key *dkim_key_load_file(const char *path, char **err_r);
void dkim_key_free(dkim_key **k);
/* dkim_key_alg: the algorithm this key signs with. */
enum dkim_alg dkim_key_alg(const dkim_key *k);
/* dkim_key_txt_record: the key record to publish for k's public half,
 * "v=DKIM1; k=rsa; p=..." (heap). */
char *dkim_key_txt_record(const dkim_key *k);

/* ---- signing ---- */

/* The parameters of one signature. headers NULL = dkim_default_headers;
 * every listed header is signed as often as it occurs plus once more
 * (oversigning), so no instance can be added later without breaking the
 * signature. identity (i=) may be NULL. timestamp 0 = no t=; expire_secs
 * 0 = no x=. length_tag adds l= with the body's canonical length (text
 * appended later, e.g. by a list, then keeps the signature valid: use with
 * care). The strings are copied. */
struct dkim_sign_params {
	const char *domain;
	const char *selector;
	const dkim_key *key; /* borrowed: must outlive the signer */
	enum dkim_canon header_canon;
	enum dkim_canon body_canon;
	const char *const *headers;
	const char *identity;
	time_t timestamp;
	unsigned long expire_secs;
	bool length_tag;
};

/* dkim_default_headers: From, To, Cc, Subject, Date, Reply-To,
 * Message-ID, In-Reply-To, References, MIME-Version, Content-Type,
 * Content-Transfer-Encoding, Sender and the List-* and Resent-* headers;
 * a NULL-ended array. */
extern const char *const dkim_default_headers[];

typedef struct dkim_signer dkim_signer;

dkim_signer *dkim_signer_new(void);
/* dkim_signer_add: one more signature to make (before any body data).
 * Returns 0, or -1 with *err_r (heap) for a missing domain or selector, a
 * bad name or a header list without From. */
int dkim_signer_add(dkim_signer *s, const struct dkim_sign_params *p, char **err_r);
/* dkim_signer_body: the next chunk of the body (CRLF or LF line ends). */
void dkim_signer_body(dkim_signer *s, const void *data, size_t len);
/* dkim_signer_finish: signs the header block hdr[0..len) (the header
 * fields, an end blank line is allowed) and appends one DKIM-Signature
 * field per dkim_signer_add, each ending in CRLF, to out: prepend them to
 * the message, in this order. Returns 0, or -1 with *err_r (heap) when the
 * message has no From field or the header block is unusable; out is then
 * unchanged. Call once. */
int dkim_signer_finish(dkim_signer *s, const char *hdr, size_t len, buf *out, char **err_r);
void dkim_signer_free(dkim_signer **s);

/* ---- key lookup ---- */

/* The key records are looked up through struct txt_resolver
 * (txt_lookup.h; lib/txt_dns.c on lib/dns). */

/* ---- verification ---- */

enum dkim_status {
	DKIM_NONE, /* not judged (not reached) */
	DKIM_PASS,
	DKIM_FAIL, /* a valid signature that does not match the message */
	DKIM_NEUTRAL, /* not checked: beyond the signature limit */
	DKIM_PERMERROR, /* malformed signature, bad or missing key */
	DKIM_TEMPERROR, /* key lookup failed for now */
};

/* The verdict on one DKIM-Signature field, in message order (top first).
 * reason says why for all but pass ("body hash mismatch", "signature
 * mismatch", "key revoked", ...). domain, selector, identity (i=, or "@d")
 * and b_prefix (the start of b=, for Authentication-Results header.b) may
 * be NULL when the signature was too broken to tell. */
struct dkim_result {
	enum dkim_status status;
	const char *reason;
	const char *domain;
	const char *selector;
	const char *identity;
	const char *b_prefix;
	enum dkim_alg alg;
	unsigned key_bits;
	bool testing; /* the key record has t=y */
};

/* Verifier settings. now: the clock for t= and x= (0 = time(NULL)).
 * max_signatures: well-formed signatures judged per message (0 = 10, at
 * most 20); the ones after them are neutral without a key lookup or any
 * hashing (malformed ones are permerror and do not count). max_headers: header fields considered (0 =
 * 1000). min_rsa_bits: smaller RSA keys are permerror (0 = 1024). */
struct dkim_verify_params {
	struct txt_resolver resolver;
	time_t now;
	unsigned max_signatures;
	unsigned max_headers;
	unsigned min_rsa_bits;
};

typedef struct dkim_verifier dkim_verifier;
/* dkim_verify_cb: all verdicts are in (read them with dkim_verify_result
 * from inside or later). */
typedef void dkim_verify_cb(void *ctx, dkim_verifier *v);

dkim_verifier *dkim_verify_new(const struct dkim_verify_params *p);
/* dkim_verify_headers: the header block hdr[0..len); parses every
 * DKIM-Signature (up to the limit), hashes the signed header fields and
 * starts the key lookups, so they run while the body streams in. Call
 * once, before the body. Returns the number of DKIM-Signature fields. */
size_t dkim_verify_headers(dkim_verifier *v, const char *hdr, size_t len);
void dkim_verify_body(dkim_verifier *v, const void *data, size_t len);
/* dkim_verify_finish: the body is complete. Returns 1 when every verdict
 * is in (cb is then not called), or 0 when key lookups are still out: cb
 * is called once when the last one answers. Freeing the verifier before
 * that cancels them. */
int dkim_verify_finish(dkim_verifier *v, dkim_verify_cb *cb, void *ctx);
/* dkim_verify_count: DKIM-Signature fields seen; dkim_verify_result: the
 * verdict on the i-th, valid until dkim_verify_free. */
size_t dkim_verify_count(const dkim_verifier *v);
const struct dkim_result *dkim_verify_result(const dkim_verifier *v, size_t i);
void dkim_verify_free(dkim_verifier **v);

const char *dkim_status_name(enum dkim_status st);
const char *dkim_alg_name(enum dkim_alg alg);

#endif
