/* dkim_policy.h: which mail Postern signs, and with which DKIM keys. It
 * owns the signing settings of main.cf (dkim_sign, dkim_signing_table,
 * dkim_signed_headers, dkim_canonicalization), the signing table (a map of
 * a domain to "selector:algorithm:keyfile" entries) and a cache of the key
 * files it names (each loaded once, loaded again when the file changes).
 * For one message it hands out a ready signer (lib/dkim.h) with one
 * signature per entry. Who may have mail signed (authenticated or local
 * clients) is the caller's decision; so is the reply when signing fails. */
#ifndef POSTERN_DKIM_POLICY_H
#define POSTERN_DKIM_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "cfg.h"
#include "dkim.h"

/* ---- the entries of the signing table ---- */

/* One signature to make: a table value holds one or more of these as
 * "selector:algorithm:keyfile", separated by commas and/or white space.
 * algorithm is rsa-sha256 or ed25519-sha256 (rsa, ed25519 for short);
 * a relative keyfile is under config_directory. */
struct dkim_policy_entry {
	char *selector;
	enum dkim_alg alg;
	char *key_path; /* absolute */
};

#define DKIM_POLICY_MAX_ENTRIES 8 /* signatures per domain */

/* dkim_policy_parse_value: a table value into *entries_r (heap, *n_r of
 * them; free with dkim_policy_entries_free). config_dir completes
 * relative key paths. Returns 0, or -1 with *err_r (heap) for a bad
 * selector, an unknown algorithm, a missing key file name, a selector
 * listed twice or more than DKIM_POLICY_MAX_ENTRIES entries. */
int dkim_policy_parse_value(const char *value, const char *config_dir,
			    struct dkim_policy_entry **entries_r, size_t *n_r, char **err_r);
void dkim_policy_entries_free(struct dkim_policy_entry **entries, size_t n);
/* dkim_policy_format_entry: "selector:algorithm:keyfile" (heap). */
char *dkim_policy_format_entry(const char *selector, enum dkim_alg alg, const char *key_path);
/* dkim_policy_alg_parse: rsa-sha256 / rsa / ed25519-sha256 / ed25519 (any
 * case). 0 or -1. */
int dkim_policy_alg_parse(const char *text, enum dkim_alg *alg_r);

/* dkim_policy_load_key: the entry's key file, loaded and checked against
 * the entry's algorithm. NULL with *err_r (heap, naming the file) when it
 * cannot be read, is no key, or is a key of the other algorithm. */
dkim_key *dkim_policy_load_key(const struct dkim_policy_entry *e, char **err_r);

/* dkim_policy_record_matches: whether the key record txt[0..len) (a
 * selector's TXT record as published) carries the public half of k.
 * Returns 1 yes, 0 no (*why_r: a static reason: "another key", "revoked",
 * "another key type"), -1 when the record is not a usable key record
 * (*why_r says why). */
int dkim_policy_record_matches(const dkim_key *k, const char *txt, size_t len,
			       const char **why_r);

/* dkim_policy_keygen: a new private key in PEM (PKCS#8), heap in *pem_r:
 * RSA of bits bits (1024 to 4096) or Ed25519 (bits ignored). 0, or -1
 * with *err_r (heap). */
int dkim_policy_keygen(enum dkim_alg alg, unsigned bits, char **pem_r, char **err_r);

/* dkim_policy_zone_record: the zone file line that publishes record for
 * selector in domain: "SELECTOR._domainkey.DOMAIN. IN TXT ( "..." "..." )"
 * with the value split into strings of at most 255 bytes (heap). */
char *dkim_policy_zone_record(const char *domain, const char *selector, const char *record);

/* ---- the settings ---- */

/* dkim_policy_check_settings: dkim_canonicalization and
 * dkim_signed_headers of c, as dkim_policy_new reads them. 0, or -1 with
 * *err_r (heap, starting with the key's name). */
int dkim_policy_check_settings(cfg *c, char **err_r);

/* ---- signing ---- */

typedef struct dkim_policy dkim_policy;
typedef struct dkim_policy_signing dkim_policy_signing;

/* dkim_policy_new: the signing policy of c. Returns NULL when signing is
 * off (dkim_sign = no or an empty dkim_signing_table; *err_r stays NULL),
 * or NULL with *err_r (heap) for bad settings. A table that cannot be
 * opened now is no error here: each lookup tries it again (temporary). */
dkim_policy *dkim_policy_new(cfg *c, char **err_r);
void dkim_policy_free(dkim_policy **p);

enum dkim_policy_result {
	DKIM_POLICY_NONE, /* no entry: the message is not signed */
	DKIM_POLICY_SIGN, /* *signing_r is ready for the body */
	DKIM_POLICY_TEMP, /* table or keys unusable now (*err_r): try later */
};

/* dkim_policy_start: the signing of one message whose From: domain is
 * from_domain, else (no such domain, or one without an entry) whose
 * envelope sender domain is env_domain; either may be NULL. A domain
 * matches its own entry or, failing that, an entry ".parent" of a parent
 * domain; d= is the domain of the entry. A key that cannot be used is
 * logged and left out as long as another entry of the domain works; with
 * none left the result is TEMP. Log lines start with log_id (a queue
 * ID). */
enum dkim_policy_result dkim_policy_start(dkim_policy *p, const char *log_id,
					  const char *from_domain, const char *env_domain,
					  dkim_policy_signing **signing_r, char **err_r);
/* dkim_policy_body: the next piece of the message body (LF or CRLF). */
void dkim_policy_body(dkim_policy_signing *s, const void *data, size_t len);
/* dkim_policy_finish: signs with the message's header block hdr[0..len)
 * and appends the DKIM-Signature fields to out (CRLF line ends; the
 * caller converts when it stores LF). 0, or -1 with *err_r (heap: no
 * From, unusable header). Call once. */
int dkim_policy_finish(dkim_policy_signing *s, const char *hdr, size_t len, buf *out,
		       char **err_r);
/* dkim_policy_signing_domain: the d= of the signatures; "s1,s2" selectors. */
const char *dkim_policy_signing_domain(const dkim_policy_signing *s);
const char *dkim_policy_signing_selectors(const dkim_policy_signing *s);
void dkim_policy_signing_free(dkim_policy_signing **s);

/* dkim_policy_key: one key of the table for another signer than
 * DKIM-Signature (an ARC seal): the first entry of domain (matched like
 * dkim_policy_start) whose key file loads. SIGN with *domain_r (the
 * entry's domain), *selector_r (both heap) and *key_r (the caller frees
 * it with dkim_key_free); NONE (no entry); TEMP with *err_r (table or key
 * files unusable now). The key file is read at each call. */
enum dkim_policy_result dkim_policy_key(dkim_policy *p, const char *domain, char **domain_r,
					char **selector_r, dkim_key **key_r, char **err_r);

/* dkim_policy_from_domain: the domain of the (first) address of the first
 * From: field of the header block hdr[0..len), lower case (heap), or NULL
 * when there is no From: field or no address with a domain in it. */
char *dkim_policy_from_domain(const char *hdr, size_t len);

#endif
