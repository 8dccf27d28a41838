/* fuzz_qreason.c: fuzz target for the deferral reasons side file parser
 * (lib/qreason.c), which mailctl and mailq run over files in
 * $queue_directory/defer/. A set that parses is formatted again and must
 * parse again to the same time and recipients (reasons and statuses may
 * come back cleaned or cut, so only their presence is checked). */
#include "fuzz_util.h"

#include "buf.h"
#include "qreason.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qreason_set set, again;
	buf *text;

	if (qreason_parse((const char *)data, size, &set) < 0) {
		if (set.n != 0 || set.items != NULL)
			abort();
		return 0;
	}
	text = buf_new(size + 64);
	qreason_format(text, set.when, set.items, set.n);
	if (qreason_parse(buf_cstr(text), buf_len(text), &again) < 0 || again.n != set.n ||
	    again.when != set.when)
		abort();
	for (int i = 0; i < set.n; i++)
		if (again.items[i].rcpt != set.items[i].rcpt || again.items[i].status == NULL ||
		    again.items[i].reason == NULL)
			abort();
	qreason_free(&again);
	qreason_free(&set);
	buf_free(&text);
	return 0;
}
