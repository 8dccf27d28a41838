/* fuzz_imapseq.c: fuzz target for IMAP sequence sets (lib/imapseq.c). The
 * first four bytes are the "*" maximum, the rest the set's text. A set
 * that parses is written back, which must parse to the same text; its
 * ranges must be sorted, merged and within 1..2^32-1, every bound a member
 * and every gap not, and the count must match iteration when small. */
#include "fuzz_util.h"

#include "buf.h"
#include "imapseq.h"

static void check_ranges(const imapseq *set)
{
	size_t n;
	const struct imapseq_range *r = imapseq_ranges(set, &n);
	uint64_t total = 0;

	for (size_t i = 0; i < n; i++) {
		if (r[i].lo == 0 || r[i].lo > r[i].hi)
			abort();
		if (i > 0 && (uint64_t)r[i - 1].hi + 1 >= r[i].lo)
			abort();
		if (!imapseq_contains(set, r[i].lo) || !imapseq_contains(set, r[i].hi))
			abort();
		if (r[i].lo > 1 && imapseq_contains(set, r[i].lo - 1))
			abort();
		if (r[i].hi < UINT32_MAX && imapseq_contains(set, r[i].hi + 1))
			abort();
		total += (uint64_t)r[i].hi - r[i].lo + 1;
	}
	if (total != imapseq_count(set))
		abort();
	if (total <= 100000) {
		struct imapseq_iter it;
		uint64_t seen = 0;
		uint32_t v, last = 0;

		imapseq_iter_init(&it, set);
		while (imapseq_iter_next(&it, &v)) {
			if (v <= last && seen > 0)
				abort();
			last = v;
			seen++;
		}
		if (seen != total)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	imapseq *set, *again;
	buf *text, *text2;
	uint32_t max;
	const char *err = NULL;

	if (size < 4)
		return 0;
	max = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3];
	set = imapseq_new();
	if (imapseq_parse(set, (const char *)data + 4, size - 4, max, 1000, &err) < 0) {
		if (err == NULL || !imapseq_is_empty(set))
			abort();
		imapseq_free(&set);
		return 0;
	}
	check_ranges(set);
	text = buf_new(64);
	text2 = buf_new(64);
	imapseq_format(text, set);
	again = imapseq_new();
	if (buf_len(text) > 0) {
		if (imapseq_parse(again, buf_cstr(text), buf_len(text), max, 0, NULL) < 0)
			abort();
		imapseq_format(text2, again);
		if (strcmp(buf_cstr(text), buf_cstr(text2)) != 0)
			abort();
	}
	imapseq_add_set(again, set);
	if (imapseq_count(again) != imapseq_count(set))
		abort();
	imapseq_free(&again);
	imapseq_free(&set);
	buf_free(&text);
	buf_free(&text2);
	return 0;
}
