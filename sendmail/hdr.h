/* hdr.h: the little header parsing sendmail needs: is a line a header
 * field, which field is it, and the addresses in an RFC 5322 address list
 * (To:, Cc:, Bcc: for "sendmail -t", and recipients on the command line).
 * Pure functions over strings, unit tested in tests/unit/test_sendmail_hdr.c. */
#ifndef POSTERN_SENDMAIL_HDR_H
#define POSTERN_SENDMAIL_HDR_H

#include <stdbool.h>
#include <stddef.h>

/* Longest address hdr_addr_list hands out; longer ones are an error. */
#define HDR_ADDR_MAX 1000

/* hdr_field_name_len: length of the field name when line starts with
 * "Name:" (printable ASCII other than ':' and space before the colon),
 * else 0. */
size_t hdr_field_name_len(const char *line, size_t len);
/* hdr_is: line is a field called name (case-insensitive). */
bool hdr_is(const char *line, size_t len, const char *name);

/* hdr_addr_list: calls fn for each address (the addr-spec, without
 * display name, comments or angle brackets; group names dropped) in an
 * address list. Returns the number of addresses, or -1 (*why_r static
 * English) for an unterminated quote, comment or angle bracket or an
 * address over HDR_ADDR_MAX. */
int hdr_addr_list(const char *text, void (*fn)(void *ctx, const char *addr), void *ctx,
		  const char **why_r);

#endif
