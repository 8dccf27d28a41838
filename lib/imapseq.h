/* imapseq.h: IMAP sequence sets (RFC 3501 sequence-set, with RFC 5182's
 * "$") for message numbers and UIDs: parsed into sorted, merged ranges with
 * "*" resolved against the caller's largest number, built up from single
 * numbers (SEARCH results, COPYUID), tested, iterated and written back in
 * the short form. The set owns its ranges; it knows nothing of mailboxes:
 * whether a number exists is the caller's question. */
#ifndef POSTERN_IMAPSEQ_H
#define POSTERN_IMAPSEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Default limit on the items ("5", "2:7", "*", "$") of one parsed set: a
 * client sends at most a few thousand; the cap bounds the work and the
 * memory one command can cause. */
#define IMAPSEQ_MAX_ITEMS_DEFAULT 100000

typedef struct imapseq imapseq;

/* One range, lo <= hi, both >= 1. */
struct imapseq_range {
	uint32_t lo, hi;
};

imapseq *imapseq_new(void);
/* imapseq_free: frees *set (NULL is fine) and sets *set to NULL. */
void imapseq_free(imapseq **set);
void imapseq_clear(imapseq *set);

/* imapseq_parse: parses text[0..len) (digits, ',', ':', '*', '$' only)
 * and adds its numbers to set. "*" stands for max, the largest number in
 * use (the message count, or the highest UID); "n:m" and "m:n" are the
 * same range; so RFC 3501's "559:*" includes the last UID even when 559 is
 * larger. With max 0 (an empty mailbox) "*" stands for no number: "*"
 * adds nothing and "n:*" adds 1:n. "$" (RFC 5182) adds nothing here and
 * sets imapseq_has_saved(set): the caller adds its saved result with
 * imapseq_add_set, or refuses "$" where the command does not allow it.
 * At most max_items items (0: IMAPSEQ_MAX_ITEMS_DEFAULT).
 * Returns 0, or -1 with a static reason for a BAD reply in *error_r (may
 * be NULL) and the set cleared: empty text, a 0, a number over 2^32-1,
 * a misplaced separator or character, too many items. */
int imapseq_parse(imapseq *set, const char *text, size_t len, uint32_t max,
		  size_t max_items, const char **error_r);
/* imapseq_has_saved: the last parse met "$". */
bool imapseq_has_saved(const imapseq *set);

/* imapseq_add / imapseq_add_range: add n, or lo..hi (either order; 0 is
 * ignored as a bound's lower end is raised to 1, a range of 0:0 adds
 * nothing). Cheap when numbers come in ascending order. */
void imapseq_add(imapseq *set, uint32_t n);
void imapseq_add_range(imapseq *set, uint32_t lo, uint32_t hi);
/* imapseq_add_set: adds every number of from to set. */
void imapseq_add_set(imapseq *set, const imapseq *from);

bool imapseq_contains(const imapseq *set, uint32_t n);
bool imapseq_is_empty(const imapseq *set);
/* imapseq_count: how many numbers the set holds. */
uint64_t imapseq_count(const imapseq *set);
/* imapseq_min / imapseq_max: smallest and largest number, 0 if empty. */
uint32_t imapseq_min(const imapseq *set);
uint32_t imapseq_max(const imapseq *set);
/* imapseq_ranges: the sorted, merged ranges (no two touch or overlap);
 * *count_r gets their number. Valid until the set changes. */
const struct imapseq_range *imapseq_ranges(const imapseq *set, size_t *count_r);

/* imapseq_format: appends the set in its shortest form ("1:3,7,9:12"), or
 * nothing for an empty set. */
void imapseq_format(buf *out, const imapseq *set);

/* Iteration in ascending order; the set must not change meanwhile:
 *	struct imapseq_iter it; uint32_t n;
 *	imapseq_iter_init(&it, set);
 *	while (imapseq_iter_next(&it, &n)) ... */
struct imapseq_iter {
	const imapseq *set;
	size_t range;
	uint64_t next;
};
void imapseq_iter_init(struct imapseq_iter *it, const imapseq *set);
bool imapseq_iter_next(struct imapseq_iter *it, uint32_t *n_r);

#endif
