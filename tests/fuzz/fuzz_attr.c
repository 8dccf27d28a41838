/* fuzz_attr.c: fuzz target for IPC attribute records (lib/attr.c): decodes
 * every record in the input, checks that a decoded record encodes and
 * decodes again to the same fields, and feeds the input one prefix at a
 * time to check that an incomplete record never decodes as complete. */
#include "fuzz_util.h"

#include "attr.h"
#include "buf.h"

static void check_re_encode(const attr_rec *rec)
{
	buf *out = buf_new(256);
	attr_rec *back = NULL;
	size_t used = 0;
	char *err = NULL;

	attr_encode(rec, out);
	if (attr_decode(buf_cstr(out), buf_len(out), &back, &used, &err) != 1)
		abort();
	if (used != buf_len(out) || attr_count(back) != attr_count(rec) ||
	    strcmp(attr_protocol(back), attr_protocol(rec)) != 0)
		abort();
	for (size_t i = 0; i < attr_count(rec); i++)
		if (strcmp(attr_name_at(rec, i), attr_name_at(back, i)) != 0 ||
		    strcmp(attr_value_at(rec, i), attr_value_at(back, i)) != 0)
			abort();
	attr_free(&back);
	buf_free(&out);
}

static void use_record(const attr_rec *rec)
{
	long long num;
	char *err = NULL;
	const char *str = NULL;

	(void)attr_get(rec, "queue_id");
	(void)attr_get_int(rec, "size", &num);
	if (attr_scan(rec, "delivery", &err, ATTR_STR, "queue_id", &str, ATTR_OPT_INT, "size",
		      &num, ATTR_END) != 0)
		free(err);
	check_re_encode(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	size_t left = size;

	for (int records = 0; left > 0 && records < 1000; records++) {
		attr_rec *rec = NULL;
		size_t used = 0;
		char *err = NULL;
		int r = attr_decode(p, left, &rec, &used, &err);

		if (r < 0) {
			free(err);
			break;
		}
		if (r == 0)
			break;
		if (used == 0 || used > left)
			abort();
		/* no shorter prefix may already be a complete record */
		if (used > 1) {
			attr_rec *early = NULL;
			size_t early_used = 0;
			char *early_err = NULL;

			if (attr_decode(p, used - 1, &early, &early_used, &early_err) == 1)
				abort();
			free(early_err);
		}
		use_record(rec);
		attr_free(&rec);
		p += used;
		left -= used;
	}
	return 0;
}
