/* psl_idna.h: domain names in their ASCII form for the Public Suffix List
 * and DMARC. Each label that holds non-ASCII UTF-8 becomes "xn--" and its
 * RFC 3492 Punycode; ASCII labels are only lower-cased. No IDNA2008
 * mapping or validity rules are applied (no NFC, no Unicode case folding):
 * the list is published normalised, and the domains mail carries are
 * A-labels already (RFC 7489 6.6.1 asks for A-labels). libidn2 is not a
 * dependency of Postern, hence this small encoder. */
#ifndef POSTERN_PSL_IDNA_H
#define POSTERN_PSL_IDNA_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* psl_punycode_encode: appends the Punycode (RFC 3492 6.3, no "xn--")
 * of the n code points cps to out. Returns 0, or -1 on overflow (an
 * input far longer than a label; out is then partly written). */
int psl_punycode_encode(const uint32_t *cps, size_t n, buf *out);

/* psl_idna_to_ascii: appends name (len bytes, labels separated by dots)
 * to out with every non-ASCII label as an A-label and ASCII letters in
 * lower case. Returns 0, or -1 when a label is not valid UTF-8 (overlong
 * forms, surrogates and code points past U+10FFFF count as invalid) or
 * its A-label would exceed 63 bytes; out is then partly written. Empty
 * labels and the other DNS limits are the caller's to check. */
int psl_idna_to_ascii(const char *name, size_t len, buf *out);

#endif
