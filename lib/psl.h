/* psl.h: the Public Suffix List (publicsuffix.org; Debian's publicsuffix
 * package installs it as PSL_DEFAULT_PATH) as an immutable hash table,
 * and the organisational domain of RFC 7489 3.2 computed from it. A table
 * is loaded once at start and again on reload; the caller swaps its
 * pointer and frees the old table (nothing else keeps one). Rules are
 * stored as A-labels (the .dat file holds UTF-8; see psl_idna.h); both
 * the ICANN and the private section are used unless PSL_ICANN_ONLY. */
#ifndef POSTERN_PSL_H
#define POSTERN_PSL_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define PSL_DEFAULT_PATH "/usr/share/publicsuffix/public_suffix_list.dat"

/* Limits: a domain of more than PSL_MAX_LABELS labels, a label over
 * PSL_MAX_LABEL bytes or a name over PSL_MAX_NAME bytes (A-label form) is
 * not a domain; a list file over PSL_MAX_FILE bytes or PSL_MAX_RULES
 * rules is refused. */
#define PSL_MAX_LABELS 127
#define PSL_MAX_LABEL 63
#define PSL_MAX_NAME 253
#define PSL_MAX_FILE (16u * 1024 * 1024)
#define PSL_MAX_RULES 500000

/* psl_load and psl_parse flags */
#define PSL_ICANN_ONLY 1u /* skip the "===BEGIN PRIVATE DOMAINS===" section */

typedef struct psl_table psl_table;

/* psl_parse: a table from list text (the .dat format: one rule per line,
 * up to the first white space; "//" comments; "*." wildcards and "!"
 * exceptions). Lines that are no valid rule (a '*' elsewhere than as the
 * whole first label, an empty label, a label that does not convert, an
 * exception of one label) are skipped and counted. Returns NULL with
 * *err_r (heap) when the text holds no rule at all or more than
 * PSL_MAX_RULES. */
psl_table *psl_parse(const char *text, size_t len, unsigned flags, char **err_r);
/* psl_load: psl_parse on a file; NULL with *err_r (heap) naming the file
 * when it cannot be read or is larger than PSL_MAX_FILE. */
psl_table *psl_load(const char *path, unsigned flags, char **err_r);
/* psl_fallback: a table without rules: only the default rule "*" applies,
 * so the organisational domain is the last two labels. */
psl_table *psl_fallback(void);
/* psl_load_or_fallback: psl_load (path NULL: PSL_DEFAULT_PATH), or, when
 * that fails, a log_warn saying so and psl_fallback(). Never NULL: a
 * missing package must not stop a daemon. */
psl_table *psl_load_or_fallback(const char *path, unsigned flags);
void psl_free(psl_table **t);

/* psl_rules: rules stored (ICANN and private); psl_skipped: lines that
 * were refused; psl_is_fallback: the table has no rules. */
size_t psl_rules(const psl_table *t, size_t *icann_r, size_t *private_r);
size_t psl_skipped(const psl_table *t);
bool psl_is_fallback(const psl_table *t);

/* psl_normalize: appends domain in the form lookups use: A-labels, lower
 * case, no final dot. Returns the number of labels, or -1 (out partly
 * written) when domain is no domain name: empty, an empty label (a
 * leading dot, two dots), bad UTF-8, or beyond the limits above. */
int psl_normalize(const char *domain, buf *out);

/* psl_suffix_labels: how many labels of domain (normalised) form its
 * public suffix (at least 1: the default rule), or -1 when domain is no
 * domain name. */
int psl_suffix_labels(const psl_table *t, const char *domain);

/* psl_org_domain: the organisational domain of domain: its public suffix
 * and one more label, normalised, as a heap string. NULL when domain is
 * itself a public suffix (one label, "co.uk", "city.kobe.jp"'s parent)
 * or no domain name. */
char *psl_org_domain(const psl_table *t, const char *domain);

#endif
