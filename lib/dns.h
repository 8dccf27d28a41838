/* dns.h: the asynchronous DNS resolver every program shares, c-ares on the
 * ev loop. It asks for A, AAAA, MX, PTR and TXT records, follows CNAME
 * chains, keeps a small per-process cache that respects TTLs and reports
 * one of three outcomes: found, does not exist (NXDOMAIN or no data, told
 * apart) and temporary failure (timeout, SERVFAIL, REFUSED, network). It
 * does not choose among MX hosts or addresses: that is the caller's job
 * (dns_mx_shuffle helps). */
#ifndef POSTERN_DNS_H
#define POSTERN_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cfg.h"
#include "ev.h"

enum dns_type { DNS_A, DNS_AAAA, DNS_MX, DNS_PTR, DNS_TXT };

enum dns_status {
	DNS_FOUND, /* at least one record of the type asked for */
	DNS_NOTFOUND, /* nxdomain tells NXDOMAIN from "name exists, no such data" */
	DNS_TEMPFAIL, /* timeout, SERVFAIL, REFUSED, network error: try later */
};

/* One record. A/AAAA: family (AF_INET/AF_INET6), addr (4 or 16 bytes) and
 * text (the address printed). MX: pref and text (the exchange, no final
 * dot; "" for the root, as in a null MX). PTR: text (the name). TXT: text
 * (the record's character-strings joined) and len (it may hold NULs). */
struct dns_rr {
	char *text;
	size_t len;
	unsigned pref;
	int family;
	unsigned char addr[16];
};

struct dns_result {
	enum dns_status status;
	bool nxdomain; /* NOTFOUND: the name does not exist (else: no data) */
	bool null_mx; /* MX: RFC 7505 null MX (one MX, preference 0, target ".") */
	char *name; /* the name that owns the records, after CNAMEs */
	char *error; /* NOTFOUND / TEMPFAIL: a reason for the log */
	uint32_t ttl; /* seconds the answer may be cached */
	size_t count;
	struct dns_rr *rrs; /* MX sorted by preference, stable */
};

/* Settings: servers in dns_servers syntax ("" or NULL = resolv.conf);
 * timeout_ms bounds a whole lookup, retries included; retries = resends
 * after the first try (at most 10); cache_max entries (0 = no cache). */
struct dns_settings {
	const char *servers;
	unsigned timeout_ms;
	unsigned retries;
	unsigned cache_max;
};

typedef struct dns_resolver dns_resolver;
typedef struct dns_query dns_query;
/* A query's answer. res is valid only during the call (dns_result_dup to
 * keep it). The query handle is finished when cb is called: the caller
 * must forget it then, not cancel it. */
typedef void dns_cb(void *ctx, const struct dns_result *res);

/* dns_new: a resolver on loop. Returns NULL with *err_r (heap) for bad
 * settings (a malformed server list: "dns_servers: ...") or when c-ares
 * cannot start. */
dns_resolver *dns_new(ev_loop *loop, const struct dns_settings *set, char **err_r);
/* dns_new_from_cfg: dns_new with dns_servers, dns_timeout, dns_retries and
 * dns_cache_size from c; log_fatal naming the key when they are bad. */
dns_resolver *dns_new_from_cfg(ev_loop *loop, cfg *c);
/* dns_free: pending queries are dropped without their callbacks. Not from
 * inside a dns callback. */
void dns_free(dns_resolver **r);

/* dns_lookup: asks for name's records of type. cb is always called later
 * from the loop, never from inside dns_lookup, exactly once, unless the
 * query is cancelled first. Names are absolute ("example.com", a final dot
 * is allowed); no search domains. */
dns_query *dns_lookup(dns_resolver *r, const char *name, enum dns_type type, dns_cb *cb,
		      void *ctx);
/* dns_cancel: the callback will not be called; safe while c-ares still
 * has the question in flight. Sets *q to NULL; NULL is allowed. */
void dns_cancel(dns_query **q);

/* dns_parse_servers: checks a dns_servers value (addresses separated by
 * white space or commas: 192.0.2.1, 192.0.2.1:5353, ::1, [::1], [::1]:53)
 * and returns it in c-ares's CSV form in *csv_r (heap; "" for an empty
 * list). Returns 0, or -1 with *err_r (heap). */
int dns_parse_servers(const char *value, char **csv_r, char **err_r);

/* dns_reverse_name: the PTR name of sa (in-addr.arpa / ip6.arpa) into out.
 * Returns 0, or -1 for another family or a too small out. */
int dns_reverse_name(const struct sockaddr *sa, char *out, size_t size);

/* dns_result_has_addr: res holds an A/AAAA record equal to sa's address
 * (an IPv4-mapped IPv6 address matches the IPv4 one). */
bool dns_result_has_addr(const struct dns_result *res, const struct sockaddr *sa);

/* dns_forward_type: DNS_A for an IPv4 (or IPv4-mapped) address, else
 * DNS_AAAA: the type that confirms a PTR name of sa. */
enum dns_type dns_forward_type(const struct sockaddr *sa);

/* dns_mx_shuffle: puts MX records of equal preference in random order
 * (the order stays sorted by preference). */
void dns_mx_shuffle(struct dns_result *res);

struct dns_result *dns_result_dup(const struct dns_result *res);
void dns_result_free(struct dns_result **res);

const char *dns_status_name(enum dns_status st);
const char *dns_type_name(enum dns_type type);

#endif
