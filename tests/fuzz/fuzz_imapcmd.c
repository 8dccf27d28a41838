/* fuzz_imapcmd.c: fuzz target for the IMAP command reader (lib/imapcmd.c
 * and its token and section files). The first byte picks the
 * non-synchronizing literal mode, UTF-8 in quoted strings and a chunk
 * size; the rest is fed twice, whole and in chunks, as a session would
 * (unused bytes passed again); at a CONTINUE some literals are refused and
 * some streamed to a counting sink. Every command's tree, and the partial
 * one at each CONTINUE, is walked (strings NUL-ended at their length,
 * sections consistent) and both runs must give the same events up to a
 * FATAL. */
#include "fuzz_util.h"

#include "buf.h"
#include "imapcmd.h"

static void walk(const struct imapcmd_arg *a, size_t count, buf *out, int depth)
{
	if (depth > IMAPCMD_MAX_DEPTH_DEFAULT + 1)
		abort();
	for (size_t i = 0; i < count; i++) {
		if (a[i].type == IMAPCMD_LIST) {
			buf_putc(out, '(');
			walk(a[i].list, a[i].count, out, depth + 1);
			buf_putc(out, ')');
			continue;
		}
		if (a[i].str == NULL || a[i].str[a[i].len] != '\0')
			abort();
		if (a[i].type != IMAPCMD_LITERAL8 && memchr(a[i].str, '\0', a[i].len) != NULL)
			abort();
		if (a[i].section != NULL &&
		    (a[i].section->nparts > IMAPCMD_MAX_SECTION_PARTS ||
		     (a[i].section->nfields > 0) != (a[i].section->fields != NULL)))
			abort();
		if (a[i].streamed && a[i].len != 0)
			abort();
		buf_printf(out, "%d:%zu:", (int)a[i].type, a[i].len);
		buf_append(out, a[i].str, a[i].len);
		buf_putc(out, ' ');
	}
}

static void count_sink(void *ctx, const char *data, size_t len)
{
	(void)data;
	*(size_t *)ctx += len;
}

/* run: the events of feeding data in pieces of chunk bytes, cut at the
 * first FATAL. */
static void run(const struct imapcmd_limits *l, const char *data, size_t size, size_t chunk, buf *out)
{
	imapcmd_reader *r = imapcmd_reader_new(l);
	size_t start = 0, end, used, streamed = 0;
	enum imapcmd_status st;

	while (start < size) {
		end = start + chunk < size ? start + chunk : size;
		st = imapcmd_feed(r, data + start, end - start, &used);
		if (used > end - start)
			abort();
		start += used;
		if (st == IMAPCMD_FATAL)
			break;
		if (st == IMAPCMD_DONE) {
			const struct imapcmd *c = imapcmd_command(r);

			buf_printf(out, "DONE %s %s %zu ", c->tag, c->name, streamed);
			walk(c->args, c->count, out, 0);
			buf_putc(out, '\n');
		} else if (st == IMAPCMD_CONTINUE) {
			const struct imapcmd *c = imapcmd_partial(r);

			buf_printf(out, "CONT %zu %s %s ", imapcmd_literal_size(r), c->tag, c->name);
			walk(c->args, c->count, out, 0);
			buf_putc(out, '\n');
			/* refuse some, as imapd does for a missing mailbox */
			if (imapcmd_literal_size(r) % 7 == 3 && imapcmd_refuse_literal(r) < 0)
				abort();
			if (imapcmd_literal_size(r) % 7 == 5 &&
			    imapcmd_stream_literal(r, count_sink, &streamed) < 0)
				abort();
		} else if (st == IMAPCMD_ERROR) {
			const char *tag = imapcmd_error_tag(r);

			buf_printf(out, "ERR %s %s\n", tag != NULL ? tag : "*",
				   imapcmd_error_text(imapcmd_error(r)));
		} else if (used == 0 && end > start) {
			abort(); /* MORE must take everything */
		}
	}
	imapcmd_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imapcmd_limits l;
	buf *whole, *chunked;

	if (size == 0)
		return 0;
	imapcmd_limits_default(&l);
	l.max_line = 200;
	l.max_literal = 300;
	l.max_command = 1000;
	l.max_depth = 4;
	l.max_tokens = 40;
	l.max_skip = 2000;
	l.nonsync = (enum imapcmd_nonsync)(data[0] % 3);
	l.utf8_quoted = (data[0] & 4) != 0;
	whole = buf_new(256);
	chunked = buf_new(256);
	run(&l, (const char *)data + 1, size - 1, size, whole);
	run(&l, (const char *)data + 1, size - 1, (size_t)(data[0] >> 3) % 8 + 1, chunked);
	if (buf_len(chunked) != buf_len(whole) ||
	    memcmp(buf_cstr(whole), buf_cstr(chunked), buf_len(chunked)) != 0) {
		fprintf(stderr, "whole:\n%s\nchunked:\n%s\n", buf_cstr(whole), buf_cstr(chunked));
		abort();
	}
	buf_free(&whole);
	buf_free(&chunked);
	return 0;
}
