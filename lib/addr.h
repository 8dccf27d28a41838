/* addr.h: mail addresses. Parses the RFC 5321 paths of MAIL FROM and
 * RCPT TO (with their ESMTP parameters split off), including quoted local
 * parts, source routes (accepted and dropped, as RFC 5321 4.1.1.3 asks),
 * address literals and UTF-8 (RFC 6531), and turns an address into the
 * canonical form used for lookups and in the queue. Limits of RFC 5321
 * 4.5.3.1: local part 64 octets, domain 255, path 256. */
#ifndef POSTERN_ADDR_H
#define POSTERN_ADDR_H

#include <stdbool.h>
#include <stddef.h>

struct addr {
	char *local; /* as sent, quotes removed and quoted pairs unescaped */
	char *domain; /* lower-cased; NULL when absent (RCPT TO:<postmaster>) */
	bool quoted; /* the local part was a quoted string */
	bool utf8; /* non-ASCII bytes appear (needs SMTPUTF8) */
	bool had_route; /* a source route <@a,@b:u@d> was given and dropped */
};

enum addr_err {
	ADDR_OK = 0,
	ADDR_SYNTAX, /* 501 5.1.3 / 5.1.7 */
	ADDR_TOO_LONG, /* 501 5.1.3 (or 553) */
	ADDR_BAD_UTF8, /* invalid UTF-8 */
};

/* addr_parse_path: parses "<...>" (the path of MAIL FROM / RCPT TO) at the
 * start of text. On success fills *a (free with addr_clear), sets *rest_r to
 * the text after '>' (the ESMTP parameters, leading spaces skipped) and
 * returns ADDR_OK. "<>" gives local = "" and domain = NULL (null sender).
 * allow_utf8: accept non-ASCII (the client said SMTPUTF8). *why_r is a
 * static English reason for the reply on error. */
enum addr_err addr_parse_path(const char *text, bool allow_utf8, struct addr *a,
			      const char **rest_r, const char **why_r);
/* addr_parse: parses a bare address "local@domain" (no angle brackets),
 * as found in maps, aliases and the command line. */
enum addr_err addr_parse(const char *text, bool allow_utf8, struct addr *a, const char **why_r);
void addr_clear(struct addr *a);

/* addr_format: "local@domain" with the local part quoted again when it
 * needs quotes ("a b"@x); "" for the null address. Heap string. */
char *addr_format(const struct addr *a);
/* addr_lookup_key: the key for maps: the formatted address lower-cased.
 * Heap string. */
char *addr_lookup_key(const struct addr *a);
/* addr_split_extension: for user+ext@domain with delimiter set "+", sets
 * *base_r to "user@domain" and *ext_r to "ext" (heap) and returns true;
 * false (nothing set) when there is no extension. */
bool addr_split_extension(const char *address, const char *delimiters, char **base_r,
			  char **ext_r);

/* ESMTP parameters ("SIZE=123 BODY=8BITMIME"): addr_param_next splits the
 * next "keyword[=value]" from *text, advancing it; returns false at the end.
 * keyword and value are copied (upper-casing the keyword) into the caller's
 * buffers; false with *why_r on a malformed or over-long parameter. */
bool addr_param_next(const char **text, char *keyword, size_t keyword_size, char *value,
		     size_t value_size, const char **why_r);
/* xtext (RFC 3461 4): decode into a heap string; NULL if malformed. */
char *addr_xtext_decode(const char *xtext);
char *addr_xtext_encode(const char *text);
/* addr_orcpt: a DSN ORCPT value for a raw address (RFC 3461 4.2:
 * "rfc822;" and the address in xtext, "a+b@x" -> "rfc822;a+2Bb@x"), heap;
 * for recipients that came without one (forwards, the smtp client). */
char *addr_orcpt(const char *addr);

/* addr_domain_valid: a syntactically valid domain or address literal. */
bool addr_domain_valid(const char *domain, bool allow_utf8);

#endif
