/* mutf7.h: IMAP's modified UTF-7 for mailbox names (RFC 3501 section
 * 5.1.3), in both directions between it and UTF-8. Decoding is strict:
 * every accepted name is the one minimal encoding of its UTF-8 form, so
 * decode then encode gives back the same bytes, and two spellings of one
 * name can never both be accepted. Results go into a buf; the hierarchy
 * separator and the folder rules are the caller's (imapd, lib/mbx). */
#ifndef POSTERN_MUTF7_H
#define POSTERN_MUTF7_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* mutf7_encode: appends the modified UTF-7 form of the UTF-8 text
 * utf8[0..len) to out. Returns 0, or -1 when the input is not well-formed
 * UTF-8 (overlong forms, surrogates, code points over U+10FFFF, NUL, cut
 * sequences); on -1 out holds its old contents. */
int mutf7_encode(buf *out, const char *utf8, size_t len);

/* mutf7_decode: appends the UTF-8 form of the modified UTF-7 name
 * in[0..len) to out. Returns 0, or -1 (out unchanged) with a static reason
 * in *error_r (may be NULL) when the input is malformed: a byte outside
 * printable US-ASCII, an '&' not closed by '-', a character outside the
 * modified base64 alphabet, leftover bits that are not zero or make a
 * whole base64 digit, an unpaired UTF-16 surrogate, NUL, or a non-minimal
 * form (a printable ASCII character encoded, "&" encoded otherwise than
 * "&-", two encoded runs next to each other). */
int mutf7_decode(buf *out, const char *in, size_t len, const char **error_r);

/* mutf7_utf8_valid: whether s[0..len) is well-formed UTF-8 without NUL,
 * as mutf7_encode requires (also for UTF8=ACCEPT strings, RFC 6855). */
bool mutf7_utf8_valid(const char *s, size_t len);

/* mutf7_is_valid: whether in[0..len) would decode (no output). */
bool mutf7_is_valid(const char *in, size_t len);

#endif
