/* dmarc.h: DMARC (RFC 7489) for inbound mail, without blocking. It parses
 * policy records (dmarc_record.c), finds the author domains of a message's
 * From fields (dmarc_from.c), discovers the policy record of each through
 * the asynchronous TXT lookup of txt_lookup.h (dmarc_check.c; lib/dns
 * plugs in through txt_dns.h, the one DKIM uses; tests answer from memory), judges SPF and DKIM
 * alignment with the organisational domain of lib/psl, applies p=, sp= and
 * pct=, and writes the aggregate-report data line (dmarc_report.c). It does
 * not verify SPF or DKIM (the caller hands in their results) and does not
 * act on the verdict (reject, quarantine, defer): that is smtpd's job. */
#ifndef POSTERN_DMARC_H
#define POSTERN_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "txt_lookup.h"
#include "dkim.h"
#include "psl.h"
#include "spf.h"

enum dmarc_result {
	DMARC_RESULT_NONE, /* no policy record (or no author domain to look up) */
	DMARC_RESULT_PASS,
	DMARC_RESULT_FAIL,
	DMARC_RESULT_TEMPERROR, /* DNS trouble: a retry may conclude */
	DMARC_RESULT_PERMERROR, /* unusable record(s) or From field */
};

/* Policies, weakest first (the order is used to compare them). */
enum dmarc_policy { DMARC_POLICY_NONE, DMARC_POLICY_QUARANTINE, DMARC_POLICY_REJECT };
enum dmarc_align { DMARC_ALIGN_RELAXED, DMARC_ALIGN_STRICT };

/* ---- policy records (dmarc_record.c) ---- */

/* A parsed record. sp is p when the record has no (valid) sp=. rua, ruf:
 * as written, NULL when absent. fo, rf: as written, or their defaults
 * "0" and "afrf". defaulted: tags whose bad value was replaced by the
 * default (RFC 7489 6.3: syntax errors outside v= and p= fall back to the
 * defaults). p_from_rua: p= (or sp=) was missing or invalid, but rua= has
 * a valid URI, so the record counts as p=none (6.6.3 step 6). */
struct dmarc_record {
	enum dmarc_policy p, sp;
	bool sp_given;
	bool p_from_rua;
	unsigned pct;
	enum dmarc_align adkim, aspf;
	char *rua, *ruf, *fo, *rf;
	unsigned long ri;
	unsigned defaulted;
};

#define DMARC_MAX_RECORD 4096 /* bytes; a longer record is unusable */

/* dmarc_record_is_dmarc: text starts with the v=DMARC1 tag (white space
 * around "=" allowed; "DMARC1" in that case, followed by ";", white
 * space or the end). Other TXT records at _dmarc are discarded. */
bool dmarc_record_is_dmarc(const char *text, size_t len);
/* dmarc_record_parse: parses a record that dmarc_record_is_dmarc. Returns
 * 0 with *rec filled (clear it with dmarc_record_clear), or -1 with
 * *err_r (heap) when the record is unusable: not v=DMARC1 first, a broken
 * tag list (empty tag-specs and trailing white space are tolerated), a
 * duplicate tag (names compared without case), no valid p= or an invalid
 * sp= without a valid rua= URI, or longer than DMARC_MAX_RECORD. Unknown
 * tags are ignored; values are compared without case. */
int dmarc_record_parse(const char *text, size_t len, struct dmarc_record *rec, char **err_r);
void dmarc_record_clear(struct dmarc_record *rec);

/* dmarc_uri_list_valid: value (rua= / ruf=) holds at least one
 * syntactically valid DMARC URI: scheme ":" something, an optional
 * "!" size limit; items separated by commas. */
bool dmarc_uri_list_valid(const char *value);

const char *dmarc_result_name(enum dmarc_result r);
const char *dmarc_policy_name(enum dmarc_policy p);

/* ---- author domains (dmarc_from.c) ---- */

/* RFC 7489 6.6.1. Every address of every From field counts: each distinct
 * domain is judged and the strictest failing verdict wins (the RFC's rule
 * for a multi-valued From; used for several From fields too, so adding a
 * field never hides a domain). NONE: no From field; NO_DOMAIN: no address
 * with a usable domain (a missing domain, a domain literal, a bad name);
 * TOO_MANY: more than DMARC_MAX_AUTHORS distinct domains. The last three
 * make the verdict permerror without DNS. Domains are normalised
 * (A-labels, lower case, no final dot). */
#define DMARC_MAX_AUTHORS 8
enum dmarc_from_status { DMARC_FROM_OK, DMARC_FROM_NONE, DMARC_FROM_NO_DOMAIN, DMARC_FROM_TOO_MANY };
struct dmarc_authors {
	enum dmarc_from_status status;
	size_t count;
	char *domains[DMARC_MAX_AUTHORS];
	size_t fields; /* From fields seen */
	size_t addresses; /* addresses seen, with or without a domain */
};

/* dmarc_authors_from_header: the author domains of a header block (len
 * bytes, CRLF or LF line ends, with or without the empty line). Fills *a
 * (dmarc_authors_clear frees it) and returns a->status. */
enum dmarc_from_status dmarc_authors_from_header(const char *hdr, size_t len,
						 struct dmarc_authors *a);
/* dmarc_authors_add_field: adds one From field's value (unfolded or not)
 * to *a (zeroed first by the caller); sets and returns a->status. */
enum dmarc_from_status dmarc_authors_add_field(struct dmarc_authors *a, const char *value,
					       size_t len);
void dmarc_authors_clear(struct dmarc_authors *a);
const char *dmarc_from_status_name(enum dmarc_from_status st);

/* ---- the lookup interface ---- */

/* Policy records are looked up through struct txt_resolver
 * (txt_lookup.h; lib/txt_dns.c on lib/dns). */

/* ---- the check (dmarc_check.c) ---- */

#define DMARC_MAX_DKIM 32 /* signatures looked at; the rest are ignored */

/* What is judged, once the content is complete. spf_domain: the domain
 * SPF checked (the MAIL FROM domain, or the HELO name for the null
 * sender, RFC 7489 4.1), NULL when SPF was not run; spf: its result.
 * dkim: lib/dkim's verdicts on the message's signatures (d= and s= are
 * used, entries without d= skipped). source_ip: the client address, for
 * the report line. All copied. */
struct dmarc_request {
	const char *spf_domain;
	enum spf_result spf;
	const struct dkim_result *const *dkim;
	size_t dkim_count;
	const char *source_ip;
};

/* sample: the pct= draw, a number 0..99 (a message is subject to the
 * policy when the draw is below pct); NULL uses arc4random_uniform(100).
 * Only called for a failing message whose record has pct below 100. */
typedef unsigned dmarc_sample_fn(void *ctx);
struct dmarc_settings {
	const psl_table *psl; /* used inside dmarc_check_start only */
	struct txt_resolver resolver;
	dmarc_sample_fn *sample;
	void *sample_ctx;
};

/* The verdict. policy: what the record asks for this author domain (p=, or
 * sp= when the record was found at the organisational domain of a
 * subdomain); NONE without a record. disposition: for fail, the policy
 * after pct= sampling (sampled_out: the draw chose the next weaker
 * policy, as 6.6.4 says: reject becomes quarantine, quarantine none); for
 * temperror, the disposition a fail would have had (a caller that would
 * reject or quarantine defers with 4xx instead); NONE otherwise.
 * from_domain: the author domain the verdict is about (with several, the
 * one whose verdict won); org_domain: its organisational domain;
 * policy_domain: where the record was found (NULL: none); record: the
 * parsed record, or NULL; spf_aligned / dkim_aligned: an aligned pass
 * (dkim_domain: the d= that gave it); reason: a short text for the log.
 * Strings live as long as the check. */
struct dmarc_verdict {
	enum dmarc_result result;
	enum dmarc_policy policy;
	enum dmarc_policy disposition;
	bool sampled_out;
	const char *from_domain;
	const char *org_domain;
	const char *policy_domain;
	const struct dmarc_record *record;
	bool spf_aligned;
	bool dkim_aligned;
	const char *dkim_domain;
	const char *reason;
};

typedef struct dmarc_check dmarc_check;
typedef void dmarc_done_cb(void *ctx, dmarc_check *c);

/* A check has two steps, so DNS runs while the body streams: policy
 * discovery starts as soon as the header (the From field) is known, the
 * judgement needs the SPF and DKIM verdicts of the complete message.
 *
 * dmarc_check_start: discovers the policy of each author domain of
 * authors (copied; a status other than OK needs no DNS). When discovery
 * ends before it returns (no DNS needed, or a resolver answering at
 * once), dmarc_check_done is true and cb is never called; otherwise cb
 * is called once, later, as the check's last act (it may free it). */
dmarc_check *dmarc_check_start(const struct dmarc_settings *set,
			       const struct dmarc_authors *authors, dmarc_done_cb *cb, void *ctx);
/* dmarc_check_done: discovery is over (dmarc_check_judge may be called). */
bool dmarc_check_done(const dmarc_check *c);
/* dmarc_check_judge: the verdict on req once discovery is done (NULL
 * before). psl gives the organisational domains of the SPF and DKIM
 * domains (NULL: the fallback rule). Call it once; later calls return the
 * first verdict. */
const struct dmarc_verdict *dmarc_check_judge(dmarc_check *c, const psl_table *psl,
					      const struct dmarc_request *req);
/* dmarc_check_verdict: the verdict once judged, else NULL. */
const struct dmarc_verdict *dmarc_check_verdict(const dmarc_check *c);
/* dmarc_check_free: cancels a pending lookup; sets *c to NULL. */
void dmarc_check_free(dmarc_check **c);

/* dmarc_aligned: a and b (domains, any case, final dot allowed) are in
 * alignment: equal (strict), or with equal organisational domains
 * (relaxed; a name that is itself a public suffix is its own). */
bool dmarc_aligned(const psl_table *psl, const char *a, const char *b, enum dmarc_align mode);

/* ---- the report line (dmarc_report.c) ---- */

/* dmarc_report_line: appends the aggregate-report data line of a judged
 * check (no newline): "dmarc-report v=1 ip=... header_from=... ...", a
 * fixed list of key=value fields separated by single spaces, values
 * without spaces ("-" when empty). docs/dmarc-report.md is its contract. */
void dmarc_report_line(const dmarc_check *c, buf *out);

#endif
