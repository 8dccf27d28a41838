/* authres.h: the Authentication-Results header field (RFC 8601): writing
 * one (the authserv-id, then one "method=result" clause per check, with
 * reason= and ptype.property=value properties), values made safe for a
 * header whatever the message or the client gave, and telling whether a
 * received field carries a given authserv-id (a forgery to remove). Pure
 * text work: no checks are run here (smtpd runs them). */
#ifndef POSTERN_AUTHRES_H
#define POSTERN_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* One property of a clause: "smtp.mailfrom", "header.d", ... and its
 * value (any bytes; written as a token, an address or a quoted string). */
struct authres_prop {
	const char *name;
	const char *value;
};

/* authres_begin: "Authentication-Results: <authserv-id>" into out
 * (emptied first); the id is made safe like a value. */
void authres_begin(buf *out, const char *authserv_id);
/* authres_add: one clause ";\n\t<method>=<result> [reason="..."] props".
 * reason may be NULL; nprops may be 0. */
void authres_add(buf *out, const char *method, const char *result, const char *reason,
		 const struct authres_prop *props, size_t nprops);
/* authres_comment: " (text)" after the last clause, for what has no
 * registered property (ARC's instance and sealer domain); parentheses,
 * backslashes, control and 8-bit bytes of text become '?', at most 256
 * bytes are used. */
void authres_comment(buf *out, const char *text);
/* authres_end: "; none" when no clause was added, then the final LF. */
void authres_end(buf *out);

/* authres_value: appends value as RFC 8601 pvalue: as it is when it is a
 * MIME token or a dot-atom address (local@domain) or domain name; else as a
 * quoted string in which '"' and '\' are escaped and control or 8-bit bytes
 * become '?'. At most 256 bytes of value are used. */
void authres_value(buf *out, const char *value);

/* authres_find_result: the result of the first "method=result" clause of
 * the Authentication-Results value (after the field name: authserv-id,
 * then clauses; folds, comments and quoted strings skipped, the method
 * matched in any case): a pointer into value, *len_r bytes; NULL when no
 * clause has that method. */
const char *authres_find_result(const char *value, const char *method, size_t *len_r);

/* authres_is_ours: field[0..len) is an Authentication-Results header field
 * (name, colon, value; folded lines allowed) whose authserv-id equals id
 * (case-insensitive, comments skipped). */
bool authres_is_ours(const char *field, size_t len, const char *id);

#endif
