/* imapseq.c: IMAP sequence sets as sorted arrays of merged ranges. A parse
 * gathers its items unsorted, then sorts and merges once (n log n); single
 * additions in ascending order extend the last range in place, others
 * append and re-normalise at once, so outside a parse the ranges are
 * always sorted and merged. See imapseq.h for the grammar and "*". */
#include "imapseq.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

struct imapseq {
	struct imapseq_range *ranges;
	size_t count, alloc;
	bool saved;	 /* the last parse met "$" */
	bool unsorted;	 /* during a parse: ranges need sorting and merging */
};

imapseq *imapseq_new(void)
{
	return xcalloc(1, sizeof(imapseq));
}

void imapseq_free(imapseq **set)
{
	if (*set == NULL)
		return;
	free((*set)->ranges);
	free(*set);
	*set = NULL;
}

void imapseq_clear(imapseq *set)
{
	set->count = 0;
	set->saved = false;
	set->unsorted = false;
}

static void seq_push(imapseq *set, uint32_t lo, uint32_t hi)
{
	if (set->count == set->alloc) {
		set->alloc = set->alloc == 0 ? 8 : set->alloc * 2;
		set->ranges = xrealloc(set->ranges, set->alloc * sizeof(*set->ranges));
	}
	set->ranges[set->count].lo = lo;
	set->ranges[set->count].hi = hi;
	set->count++;
}

static int range_cmp(const void *a, const void *b)
{
	const struct imapseq_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* seq_push_unsorted: append a range, noting when it breaks the order or
 * touches the last one (seq_normalise then sorts and merges). */
static void seq_push_unsorted(imapseq *set, uint32_t lo, uint32_t hi)
{
	if (set->count > 0 && (uint64_t)lo <= (uint64_t)set->ranges[set->count - 1].hi + 1)
		set->unsorted = true;
	seq_push(set, lo, hi);
}

/* seq_normalise: sort and merge overlapping or touching ranges. */
static void seq_normalise(imapseq *set)
{
	size_t out = 0;

	if (!set->unsorted)
		return;
	set->unsorted = false;
	if (set->count == 0)
		return;
	qsort(set->ranges, set->count, sizeof(*set->ranges), range_cmp);
	for (size_t i = 1; i < set->count; i++) {
		struct imapseq_range *last = &set->ranges[out];

		if ((uint64_t)set->ranges[i].lo <= (uint64_t)last->hi + 1) {
			if (set->ranges[i].hi > last->hi)
				last->hi = set->ranges[i].hi;
		} else {
			set->ranges[++out] = set->ranges[i];
		}
	}
	set->count = out + 1;
}

void imapseq_add_range(imapseq *set, uint32_t lo, uint32_t hi)
{
	struct imapseq_range *last;

	if (lo > hi) {
		uint32_t t = lo;

		lo = hi;
		hi = t;
	}
	if (hi == 0)
		return;
	if (lo == 0)
		lo = 1;
	last = set->count > 0 ? &set->ranges[set->count - 1] : NULL;
	if (!set->unsorted && last != NULL && lo >= last->lo && (uint64_t)lo <= (uint64_t)last->hi + 1) {
		if (hi > last->hi)
			last->hi = hi;
		return;
	}
	seq_push_unsorted(set, lo, hi);
	seq_normalise(set);
}

void imapseq_add(imapseq *set, uint32_t n)
{
	imapseq_add_range(set, n, n);
}

void imapseq_add_set(imapseq *set, const imapseq *from)
{
	for (size_t i = 0; i < from->count; i++)
		imapseq_add_range(set, from->ranges[i].lo, from->ranges[i].hi);
}

/* seq_number: a seq-number at text[*pos]: digits (no leading 0, at most
 * 2^32-1) or "*" (returned as max, or 0 when max is 0). -1 if malformed. */
static int64_t seq_number(const char *text, size_t len, size_t *pos, uint32_t max)
{
	uint64_t n = 0;
	size_t start = *pos;

	if (*pos < len && text[*pos] == '*') {
		(*pos)++;
		return max;
	}
	while (*pos < len && text[*pos] >= '0' && text[*pos] <= '9') {
		n = n * 10 + (uint64_t)(text[*pos] - '0');
		if (n > UINT32_MAX)
			return -1;
		(*pos)++;
	}
	if (*pos == start || text[start] == '0')
		return -1;
	return (int64_t)n;
}

/* seq_item: one item at text[*pos]; NULL or the reason it is bad. */
static const char *seq_item(imapseq *set, const char *text, size_t len, size_t *pos, uint32_t max)
{
	int64_t lo, hi;

	if (*pos < len && text[*pos] == '$') {
		(*pos)++;
		set->saved = true;
		return NULL;
	}
	lo = seq_number(text, len, pos, max);
	if (lo < 0)
		return "Invalid number in sequence set";
	hi = lo;
	if (*pos < len && text[*pos] == ':') {
		(*pos)++;
		hi = seq_number(text, len, pos, max);
		if (hi < 0)
			return "Invalid range in sequence set";
	}
	if (lo == 0 && hi == 0)
		return NULL; /* "*" of an empty mailbox */
	if (lo == 0 || hi == 0) {
		hi = lo == 0 ? hi : lo;
		lo = 1;
	}
	if (lo > hi) {
		int64_t t = lo;

		lo = hi;
		hi = t;
	}
	seq_push_unsorted(set, (uint32_t)lo, (uint32_t)hi);
	return NULL;
}

int imapseq_parse(imapseq *set, const char *text, size_t len, uint32_t max,
		  size_t max_items, const char **error_r)
{
	const char *err = NULL;
	size_t pos = 0, items = 0;

	if (max_items == 0)
		max_items = IMAPSEQ_MAX_ITEMS_DEFAULT;
	seq_normalise(set);
	set->saved = false;
	if (len == 0)
		err = "Empty sequence set";
	while (err == NULL && pos < len) {
		if (++items > max_items) {
			err = "Too many items in sequence set";
			break;
		}
		err = seq_item(set, text, len, &pos, max);
		if (err == NULL && pos < len && (text[pos] != ',' || ++pos == len))
			err = "Invalid sequence set";
	}
	if (err != NULL) {
		imapseq_clear(set);
		if (error_r != NULL)
			*error_r = err;
		return -1;
	}
	seq_normalise(set);
	return 0;
}

bool imapseq_has_saved(const imapseq *set)
{
	return set->saved;
}

const struct imapseq_range *imapseq_ranges(const imapseq *set, size_t *count_r)
{
	*count_r = set->count;
	return set->ranges;
}

bool imapseq_contains(const imapseq *set, uint32_t n)
{
	size_t count, lo = 0, hi;
	const struct imapseq_range *r = imapseq_ranges(set, &count);

	hi = count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (n < r[mid].lo)
			hi = mid;
		else if (n > r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

bool imapseq_is_empty(const imapseq *set)
{
	return set->count == 0;
}

uint64_t imapseq_count(const imapseq *set)
{
	size_t count;
	const struct imapseq_range *r = imapseq_ranges(set, &count);
	uint64_t total = 0;

	for (size_t i = 0; i < count; i++)
		total += (uint64_t)r[i].hi - r[i].lo + 1;
	return total;
}

uint32_t imapseq_min(const imapseq *set)
{
	size_t count;
	const struct imapseq_range *r = imapseq_ranges(set, &count);

	return count == 0 ? 0 : r[0].lo;
}

uint32_t imapseq_max(const imapseq *set)
{
	size_t count;
	const struct imapseq_range *r = imapseq_ranges(set, &count);

	return count == 0 ? 0 : r[count - 1].hi;
}

void imapseq_format(buf *out, const imapseq *set)
{
	size_t count;
	const struct imapseq_range *r = imapseq_ranges(set, &count);

	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			buf_putc(out, ',');
		if (r[i].lo == r[i].hi)
			buf_printf(out, "%u", r[i].lo);
		else
			buf_printf(out, "%u:%u", r[i].lo, r[i].hi);
	}
}

void imapseq_iter_init(struct imapseq_iter *it, const imapseq *set)
{
	size_t count;
	const struct imapseq_range *r = imapseq_ranges(set, &count);

	it->set = set;
	it->range = 0;
	it->next = count > 0 ? r[0].lo : 0;
}

bool imapseq_iter_next(struct imapseq_iter *it, uint32_t *n_r)
{
	const struct imapseq_range *r = it->set->ranges;

	if (it->range >= it->set->count)
		return false;
	*n_r = (uint32_t)it->next;
	if (it->next == r[it->range].hi) {
		it->range++;
		if (it->range < it->set->count)
			it->next = r[it->range].lo;
	} else {
		it->next++;
	}
	return true;
}
