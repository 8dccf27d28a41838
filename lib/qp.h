/* qp.h: quoted-printable decoding (RFC 2045 6.7) and the Q encoding of
 * encoded words (RFC 2047 4.2), both lenient as mail readers must be: a
 * broken '=' is kept as it is. Also the value of a hex digit, which the
 * other %XX / +XX escapes (RFC 2231 parameters, xtext) use too. The
 * streaming form (qp_escape) serves decoders that resume, such as IMAP
 * BINARY's (lib/imapfetch_decode.c). */
#ifndef POSTERN_QP_H
#define POSTERN_QP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* qp_hex_value: 0..15 for '0'-'9', 'A'-'F' and 'a'-'f'; -1 otherwise. */
int qp_hex_value(int c);

/* qp_escape: the escape at s[0] == '=' with len bytes from there (len >= 1):
 * "=XX" (hex digits, either case) returns the byte (0..255), *used_r 3;
 * a soft line break ('=' then only spaces, tabs and CRs up to a LF, or to
 * the end of the input) returns -1, *used_r through the LF (or all of len);
 * anything else is a lone '=' kept as it is: returns '=', *used_r 1. */
int qp_escape(const char *s, size_t len, size_t *used_r);

/* qp_decode: appends the decoding of in[0..len) to out. q_encoding: the
 * Q encoding of an encoded word ('_' is a space; no soft line breaks). */
void qp_decode(buf *out, const char *in, size_t len, bool q_encoding);

#endif
