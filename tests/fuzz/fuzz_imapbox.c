/* fuzz_imapbox.c: fuzz target for the two file parsers of lib/imapbox:
 * dovecot-keywords (imapbox_kw.c) and postern-modseq (imapbox_modseq.c),
 * files other programs (Dovecot, crashed writers) may have left in any
 * state. The first input byte picks the parser (even: keywords, odd:
 * modseq), the rest is the file. Keywords: every name kept is a valid
 * keyword, found at its own index, no two alike; writing the map out and
 * parsing it again gives the same map. Modseq: the table is in strictly
 * increasing UID order, HIGHESTMODSEQ is at least every MODSEQ, only
 * whole records are taken, and parsing in two pieces (at a record
 * boundary the input chooses) gives the same table as parsing it whole. */
#include "fuzz_util.h"

#include <strings.h>

#include "buf.h"
#include "imapbox_int.h"
#include "log.h"

#define FZ_REC 24

static void fz_keywords(const uint8_t *data, size_t size)
{
	struct ibx_kw kw, again;
	buf *text = buf_new(256);
	unsigned count = 0;

	memset(&kw, 0, sizeof(kw));
	memset(&again, 0, sizeof(again));
	ibx_kw_parse(&kw, (const char *)data, size);
	for (int i = 0; i < IMAPBOX_MAX_KEYWORDS; i++) {
		if (kw.names[i] == NULL)
			continue;
		count++;
		if (!imapbox_keyword_valid(kw.names[i]) || ibx_kw_index(&kw, kw.names[i]) != i)
			abort();
		buf_printf(text, "%d %s\n", i, kw.names[i]);
	}
	if (count != kw.count)
		abort();
	ibx_kw_parse(&again, buf_cstr(text), buf_len(text));
	for (int i = 0; i < IMAPBOX_MAX_KEYWORDS; i++)
		if ((kw.names[i] == NULL) != (again.names[i] == NULL) ||
		    (kw.names[i] != NULL && strcmp(kw.names[i], again.names[i]) != 0))
			abort();
	ibx_kw_free(&kw);
	ibx_kw_free(&again);
	buf_free(&text);
}

static void fz_check_table(const struct ibx_mseq *ms)
{
	for (size_t i = 0; i < ms->n; i++) {
		if (i > 0 && ms->recs[i - 1].uid >= ms->recs[i].uid)
			abort();
		if (ms->recs[i].modseq > ms->highest || ms->recs[i].uid == 0)
			abort();
	}
}

static void fz_modseq(const uint8_t *data, size_t size, uint8_t split_hint)
{
	struct ibx_mseq whole, pieces;
	size_t used = 0, used1 = 0, used2 = 0, cut;
	uint32_t uidvalidity = 0;
	int rc1, rc2;

	if (size >= 12)
		memcpy(&uidvalidity, data + 8, 4); /* let the header's own value pass */
	ibx_mseq_init(&whole, "/nonexistent", uidvalidity);
	ibx_mseq_init(&pieces, "/nonexistent", uidvalidity);
	rc1 = ibx_mseq_parse(&whole, data, size, true, &used);
	if (used > size || used % FZ_REC != 0 || (rc1 < 0 && used != 0))
		abort();
	fz_check_table(&whole);
	/* the same bytes in two pieces, cut at a record boundary */
	cut = FZ_REC * (1 + (size_t)split_hint % (size / FZ_REC + 1));
	if (cut > size)
		cut = size - size % FZ_REC;
	rc2 = ibx_mseq_parse(&pieces, data, cut, true, &used1);
	if (rc1 == 0 && rc2 == 0 && used1 == cut && cut < size)
		(void)ibx_mseq_parse(&pieces, data + cut, size - cut, false, &used2);
	if (rc1 == 0 && rc2 == 0 && used1 == cut) {
		if (used1 + used2 != used || pieces.n != whole.n || pieces.highest != whole.highest)
			abort();
		for (size_t i = 0; i < whole.n; i++) { /* field by field: padding differs */
			const struct ibx_mrec *a = &pieces.recs[i], *b = &whole.recs[i];

			if (a->uid != b->uid || a->mask != b->mask || a->modseq != b->modseq ||
			    a->expunged != b->expunged)
				abort();
		}
	}
	ibx_mseq_free(&whole);
	ibx_mseq_free(&pieces);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;

	if (!quiet) {
		log_set_level(LOG_LVL_FATAL);
		quiet = true;
	}
	if (size < 2)
		return 0;
	if ((data[0] & 1) == 0)
		fz_keywords(data + 1, size - 1);
	else
		fz_modseq(data + 2, size - 2, data[1]);
	return 0;
}
