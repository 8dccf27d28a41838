/* base64.h: the base64 codec of RFC 4648 section 4 (the standard alphabet
 * with '=' padding), as SASL (RFC 4422 profiles: SMTP AUTH, POP3 AUTH,
 * IMAP AUTHENTICATE) and stored password secrets use it. Decoding is strict
 * and canonical: no whitespace, padding required, unused bits must be zero,
 * so every accepted input re-encodes to itself. Results go into a buf. */
#ifndef POSTERN_BASE64_H
#define POSTERN_BASE64_H

#include <stddef.h>

#include "buf.h"

/* base64_encoded_len: length of the encoding of len bytes (no NUL). */
size_t base64_encoded_len(size_t len);
/* base64_decoded_max: upper bound on the decoded size of len encoded
 * characters; callers use it to refuse over-long input before decoding. */
size_t base64_decoded_max(size_t len);

/* base64_encode: appends the encoding of len bytes at data to out. */
void base64_encode(buf *out, const void *data, size_t len);

/* base64_decode: appends the bytes encoded by in[0..len) to out (they may
 * contain NULs). Returns 0, or -1 when the input is not canonical base64
 * (bad character, length not a multiple of 4, misplaced '=', non-zero
 * unused bits); on -1 out holds its old contents. The empty string decodes
 * to nothing and is valid. */
int base64_decode(buf *out, const char *in, size_t len);

/* base64_char_value: the 6-bit value of an alphabet character, -1 for
 * any other byte ('=' included). For the lenient decoders of message
 * bodies and encoded words (lib/mime, lib/imapfetch). */
int base64_char_value(unsigned char c);

#endif
