/* dkim_int.h: the pieces lib/dkim*.c share and the unit and fuzz tests
 * reach: the streaming body canonicalizer, header field canonicalization,
 * the header block split into fields and the h= selection, and the key
 * record parser. Not for programs: they use dkim.h. */
#ifndef POSTERN_DKIM_INT_H
#define POSTERN_DKIM_INT_H

#include <openssl/evp.h>

#include "dkim.h"

#define DKIM_MAX_HNAMES 256 /* names in one h= */
#define DKIM_SIG_MAX 8192 /* bytes of one DKIM-Signature field */

/* ---- body (dkim_canon.c) ---- */

typedef struct dkim_body dkim_body;

/* dkim_body_new: a body canonicalizer for canon that hashes with SHA-256
 * at most limit canonical bytes (-1: all), or, with sink set, appends the
 * canonical form to sink instead (tests). */
dkim_body *dkim_body_new(enum dkim_canon canon, int64_t limit, buf *sink);
void dkim_body_update(dkim_body *b, const void *data, size_t len);
/* dkim_body_final: ends the body; writes the 32-byte hash (nothing with a
 * sink). Call once. */
void dkim_body_final(dkim_body *b, unsigned char hash[32]);
/* dkim_body_length: canonical bytes produced so far, past any limit. */
uint64_t dkim_body_length(const dkim_body *b);
enum dkim_canon dkim_body_canon(const dkim_body *b);
int64_t dkim_body_limit(const dkim_body *b);
void dkim_body_free(dkim_body **b);

/* dkim_canon_header: appends the canonical form of one header field
 * field[0..len) (name, colon, value with its folding, with or without the
 * final CRLF) to out, ending in CRLF unless no_crlf. */
void dkim_canon_header(enum dkim_canon canon, const char *field, size_t len, bool no_crlf,
		       buf *out);

/* ---- header block (dkim_hdr.c) ---- */

struct dkim_field {
	const char *name; /* into the block copy; name_len bytes, no colon */
	size_t name_len;
	const char *raw; /* the whole field with CRLF line ends */
	size_t raw_len;
};

typedef struct dkim_hdrs dkim_hdrs;

/* dkim_hdrs_parse: splits hdr[0..len) into fields (bare LF is taken as
 * CRLF; the block ends at an empty line; lines without a colon are
 * skipped). At most max fields are kept. */
dkim_hdrs *dkim_hdrs_parse(const char *hdr, size_t len, size_t max);
size_t dkim_hdrs_count(const dkim_hdrs *h);
const struct dkim_field *dkim_hdrs_field(const dkim_hdrs *h, size_t i);
/* dkim_hdrs_count_name: how many fields are called name (any case). */
size_t dkim_hdrs_count_name(const dkim_hdrs *h, const char *name);
void dkim_hdrs_free(dkim_hdrs **h);

/* dkim_hdrs_hash_selected: feeds the canonical form of the fields named
 * in names[0..n) to md, choosing for each name the lowest instance not yet
 * chosen (RFC 6376 5.4.2); a name with no instance left adds nothing. */
void dkim_hdrs_hash_selected(const dkim_hdrs *h, const char *const *names, size_t n,
			     enum dkim_canon canon, EVP_MD_CTX *md);

/* dkim_field_without_b: a heap copy of a DKIM-Signature field with the
 * value of its b= tag removed (everything between "b=" and the next ';'
 * or the end), length in *len_r. */
char *dkim_field_without_b(const char *raw, size_t len, size_t *len_r);

/* ---- key records (dkim_key.c) ---- */

/* A parsed key record. */
struct dkim_pubkey {
	EVP_PKEY *pkey;
	enum dkim_alg alg;
	unsigned bits;
	bool testing; /* t=y */
	bool strict; /* t=s: i= must be exactly d= */
};

/* dkim_pubkey_parse: a key record's text. Returns 0, or -1 with a static
 * reason in *reason_r (syntax, version, key type, hash, service, revoked,
 * undecodable key). */
int dkim_pubkey_parse(const char *txt, size_t len, struct dkim_pubkey *k,
		      const char **reason_r);
void dkim_pubkey_clear(struct dkim_pubkey *k);
/* dkim_key_pkey: the private key inside k. */
EVP_PKEY *dkim_key_pkey(const dkim_key *k);

/* dkim_sig_sign / dkim_sig_verify: the algorithm on a SHA-256 digest of the
 * header data (RSA: PKCS#1 v1.5 over it; Ed25519: over the 32 bytes as
 * RFC 8463 says). sign appends the signature to out; both return 0 or -1. */
int dkim_sig_sign(EVP_PKEY *pkey, enum dkim_alg alg, const unsigned char digest[32], buf *out);
int dkim_sig_verify(EVP_PKEY *pkey, enum dkim_alg alg, const unsigned char digest[32],
		    const unsigned char *sig, size_t siglen);

/* dkim_b64_decode: base64 with white space ignored (the DKIM form);
 * appends to out, returns 0 or -1. */
int dkim_b64_decode(buf *out, const char *in);

/* dkim_tag_name_ok: a domain, selector or header name (letters, digits
 * and the bytes of extra, at most 253) that can be written into a tag
 * value without breaking the tag list. */
bool dkim_tag_name_ok(const char *s, const char *extra);
/* dkim_check_signed_headers: a signer's h= list (NULL ended): every name
 * writable, none equal to forbidden (NULL: none; ARC-Seal for an
 * ARC-Message-Signature), From among them. 0, or -1 with *err_r. */
int dkim_check_signed_headers(const char *const *h, const char *forbidden, char **err_r);

#endif
