/* smtppol.h: the outbound smtp client's per-destination policy, as pure
 * parsing: smtp_tls_policy_maps values ("encrypt", "secure match=a:b"),
 * smtp_sasl_password_maps values ("user:password"), the SASL security
 * options and the order of keys looked up for a next hop. The smtp
 * program does the map lookups; mailctl check uses the value checkers
 * (map_check_values) so a typo is reported with file:line. */
#ifndef POSTERN_SMTPPOL_H
#define POSTERN_SMTPPOL_H

#include <stdbool.h>

#include "route.h"
#include "smtpc.h"

/* smtppol_parse_level: "none" "may" "encrypt" "verify" "secure" (any
 * case) into *level_r. 0, or -1 for another word. */
int smtppol_parse_level(const char *word, enum smtpc_tls_level *level_r);
const char *smtppol_level_name(enum smtpc_tls_level level);

/* A TLS policy: the level and, for verify / secure, the names the
 * certificate may carry (from "match=a:b": as written, so Postfix's words
 * "hostname", "nexthop" and "dot-nexthop" are the caller's to expand;
 * NULL = the server's host name). */
struct smtppol_tls {
	enum smtpc_tls_level level;
	char **match; /* heap, NULL-terminated, or NULL */
};

/* smtppol_parse_tls: a smtp_tls_policy_maps value: a level followed by
 * optional attributes; only "match=NAME[:NAME...]" is known. 0, or -1
 * with *err_r (heap). */
int smtppol_parse_tls(const char *value, struct smtppol_tls *r, char **err_r);
int smtppol_check_tls(const char *value, char **err_r);
void smtppol_tls_clear(struct smtppol_tls *r);

/* smtppol_parse_sasl: "user:password" (the password may hold ':'; the
 * user may not be empty) into heap strings. 0, or -1 with *err_r. */
int smtppol_parse_sasl(const char *value, char **user_r, char **pass_r, char **err_r);
int smtppol_check_sasl(const char *value, char **err_r);

/* smtppol_sasl_plaintext: may PLAIN / LOGIN go without TLS under these
 * smtp_sasl_security_options (not when "noplaintext" is listed)? -1 with
 * *err_r for an unknown option word. */
int smtppol_sasl_plaintext(const char *options, bool *allowed_r, char **err_r);

/* smtppol_tls_keys: the smtp_tls_policy_maps keys for hop, most specific
 * first: the next hop as written ("[host]:port", "host:port", "[host]",
 * "host"), then without the port, then the bare host (domain). Heap,
 * NULL-terminated, no duplicates; free with smtppol_keys_free. */
char **smtppol_tls_keys(const struct route_nexthop *hop);
/* smtppol_sasl_keys: the smtp_sasl_password_maps keys for a connection to
 * server (a host name) for hop: "[host]:port", "[host]" of the next hop,
 * then the server's name, then the next hop's host (domain). */
char **smtppol_sasl_keys(const struct route_nexthop *hop, const char *server);
void smtppol_keys_free(char ***keys);

#endif
