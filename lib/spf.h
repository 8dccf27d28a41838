/* spf.h: Sender Policy Framework (RFC 7208) check_host() without blocking.
 * A check asks DNS through a small lookup interface (struct spf_dns: a
 * function that issues one query and answers later through a callback),
 * so production plugs in lib/dns (spf_dns_from_resolver) and tests an
 * in-memory zone. It owns the record parser (spf_record.c), the macro
 * expander (spf_macro.c) and the evaluator (spf_eval.c); it does not
 * decide policy (reject, defer, record): that is the caller's job. */
#ifndef POSTERN_SPF_H
#define POSTERN_SPF_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "dns.h"

enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

/* Limits. RFC 7208 4.6.4: 10 terms that cause DNS lookups, 2 void
 * lookups, 10 names per MX or PTR answer. The others bound our memory. */
#define SPF_MAX_DNS_TERMS 10
#define SPF_MAX_VOID_LOOKUPS 2
#define SPF_MAX_NAMES 10
#define SPF_MAX_RECORD_LEN 4096 /* bytes of one v=spf1 record */
#define SPF_MAX_TERMS 256 /* terms of one record */
#define SPF_MAX_EXPANSION 4096 /* bytes of one macro expansion */
#define SPF_MAX_DEPTH 16 /* nested include/redirect records at once */

/* The lookup interface. lookup issues a query for name/type and returns
 * a handle, or NULL after it has already called cb (an answer known at
 * once). cb is called exactly once per query that was not cancelled; it
 * may be called from inside lookup. cancel drops a query whose cb has not
 * run yet. res is valid only during cb. */
typedef void spf_dns_cb(void *cb_ctx, const struct dns_result *res);
struct spf_dns {
	void *(*lookup)(void *ctx, const char *name, enum dns_type type, spf_dns_cb *cb,
			void *cb_ctx);
	void (*cancel)(void *ctx, void *handle);
	void *ctx;
};

/* spf_dns_from_resolver: the interface over a lib/dns resolver (which
 * must outlive every check that uses it). */
struct spf_dns spf_dns_from_resolver(dns_resolver *r);

/* What check_host() is asked. ip: the client address as text (IPv4 or
 * IPv6; IPv4-mapped IPv6 counts as IPv4). sender: the MAIL FROM address
 * without brackets ("" for the null sender). helo: the HELO/EHLO name.
 * domain: the domain to check; NULL means the sender's domain, or the
 * HELO name for the null sender (RFC 7208 2.4). receiver: %{r} (NULL:
 * "unknown"). now: %{t} (0: time(NULL)). default_exp: the explanation
 * for a fail without a usable exp= (NULL: none). */
struct spf_request {
	const char *ip;
	const char *sender;
	const char *helo;
	const char *domain;
	const char *receiver;
	time_t now;
	const char *default_exp;
};

/* The verdict. explanation: for fail only (else NULL). reason: a short
 * text for the log (the matching mechanism or what went wrong). Owned by
 * the check. */
struct spf_answer {
	enum spf_result result;
	const char *explanation;
	const char *reason;
};

typedef struct spf_check spf_check;
typedef void spf_done_cb(void *ctx, const struct spf_answer *ans);

/* spf_check_start: begins check_host() for req (copied). When the answer
 * is known before spf_check_start returns (no DNS needed, or the lookup
 * interface answered at once), spf_check_done is true and cb is never
 * called; otherwise cb is called exactly once, later, from a DNS answer.
 * The caller frees the check with spf_check_free, also inside cb (cb is
 * the last thing the check does). */
spf_check *spf_check_start(const struct spf_dns *dns, const struct spf_request *req,
			   spf_done_cb *cb, void *ctx);
bool spf_check_done(const spf_check *c);
/* spf_check_answer: the verdict once done, else NULL. */
const struct spf_answer *spf_check_answer(const spf_check *c);
/* spf_check_free: cancels a pending query; sets *c to NULL; NULL is fine. */
void spf_check_free(spf_check **c);

const char *spf_result_name(enum spf_result r);

/* ---- the record parser (spf_record.c) ---- */

enum spf_mech {
	SPF_MECH_ALL,
	SPF_MECH_INCLUDE,
	SPF_MECH_A,
	SPF_MECH_MX,
	SPF_MECH_PTR,
	SPF_MECH_IP4,
	SPF_MECH_IP6,
	SPF_MECH_EXISTS,
};

/* One mechanism. qualifier: '+', '-', '~' or '?'. domain: the
 * domain-spec (a macro string; NULL = the current domain). cidr4/cidr6:
 * prefix lengths (32/128 when absent). addr: ip4 (4 bytes) / ip6. */
struct spf_term {
	char qualifier;
	enum spf_mech mech;
	char *domain;
	unsigned cidr4;
	unsigned cidr6;
	unsigned char addr[16];
};

struct spf_record {
	struct spf_term *terms;
	size_t count;
	char *redirect; /* redirect= domain-spec, or NULL */
	char *exp; /* exp= domain-spec, or NULL */
};

/* spf_record_is_spf: text (len bytes) is a version 1 SPF record: it
 * starts with "v=spf1" (any case) followed by a space or its end. */
bool spf_record_is_spf(const char *text, size_t len);
/* spf_record_parse: parses a whole record ("v=spf1 ..."). Any syntax
 * error makes the record invalid (RFC 7208 4.6: permerror): returns NULL
 * with *err_r (heap) saying why. */
struct spf_record *spf_record_parse(const char *text, size_t len, char **err_r);
void spf_record_free(struct spf_record **rec);
const char *spf_mech_name(enum spf_mech m);

/* ---- the macro expander (spf_macro.c) ---- */

/* The values macros expand to (RFC 7208 7.3). ptr: the validated name of
 * the client (%{p}); NULL while not yet looked up. */
struct spf_macro_vars {
	const char *sender; /* s */
	const char *local; /* l */
	const char *sender_domain; /* o */
	const char *domain; /* d */
	const char *ip_dotted; /* i: dotted quad, or dotted nibbles for IPv6 */
	const char *ip_text; /* c: the address as usually written */
	const char *ptr; /* p */
	const char *helo; /* h */
	const char *receiver; /* r */
	bool ipv6; /* v: "ip6" or "in-addr" */
	unsigned long long now; /* t */
};

#define SPF_MACRO_EXP 1 /* an explain-string: spaces and c, r, t allowed */

/* spf_macro_expand: expands the macro-string in (len bytes) into out
 * (appended). vars NULL checks the syntax only. Returns 0; 1 when %{p}
 * is used and vars->ptr is NULL (out then holds a partial expansion: look
 * the name up and call again); -1 for a
 * syntax error or an expansion over SPF_MAX_EXPANSION, with *err_r
 * (static text). */
int spf_macro_expand(const char *in, size_t len, const struct spf_macro_vars *vars,
		     unsigned flags, buf *out, const char **err_r);
/* spf_domain_truncate: a name over 253 bytes loses labels on the left
 * until it fits (RFC 7208 7.3); a final dot is dropped. In place. */
void spf_domain_truncate(char *name);

#endif
