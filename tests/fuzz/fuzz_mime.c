/* fuzz_mime.c: fuzz target for the MIME parser of imapd (lib/mime*.c):
 * the whole path a FETCH takes. Parses the input as a message, writes
 * ENVELOPE and BODYSTRUCTURE, decodes every part's body and header text,
 * and looks up a grid of sections, checking that every range stays inside
 * the input and that its CRLF form has the size the parser reported, and
 * that mime_header_fields picks the same HEADER.FIELDS(.NOT) bytes as
 * mime_section_find does from the header's parse. */
#include "fuzz_util.h"

#include <string.h>

#include "buf.h"
#include "mime.h"

static void check_range(const struct mime_range *r, size_t size)
{
	if (r->off > size || r->len > size - r->off)
		abort();
}

static void visit(const mime_msg *m, const struct mime_part *p, size_t size, buf *scratch)
{
	check_range(&p->header, size);
	check_range(&p->body, size);
	buf_reset(scratch);
	mime_crlf_append(scratch, mime_data(m), p->body.off, p->body.len, 0, (size_t)-1);
	if (buf_len(scratch) != p->body.size)
		abort();
	buf_reset(scratch);
	(void)mime_body_text(m, p, scratch);
	for (size_t i = 0; i < p->nfields; i++) {
		buf *value = buf_new(64);

		buf_reset(scratch);
		mime_field_value(m, &p->fields[i], value);
		mime_decode_words(buf_cstr(value), buf_len(value), scratch);
		buf_free(&value);
	}
	if (p->is_message) {
		buf_reset(scratch);
		mime_envelope(m, p->children[0], scratch);
	}
	for (size_t i = 0; i < p->nchildren; i++)
		visit(m, p->children[i], size, scratch);
}

static void sections(const mime_msg *m, size_t size, buf *scratch)
{
	static const char *const fields[] = { "subject", "content-type" };
	unsigned nums[2];
	struct mime_section s = { nums, 0, MIME_SECTION_ALL, fields, 2 };
	struct mime_range r;

	for (unsigned a = 0; a < 36; a++) {
		nums[0] = a / 6;
		nums[1] = a % 6;
		for (s.nparts = 0; s.nparts <= 2; s.nparts++) {
			for (int w = MIME_SECTION_ALL; w <= MIME_SECTION_MIME; w++) {
				s.what = (enum mime_section_what)w;
				buf_reset(scratch);
				if (mime_section_find(m, &s, &r, scratch) == 0)
					check_range(&r, size);
			}
		}
	}
}

/* same_fields: the allocation-free field picker against the parse. */
static void same_fields(const char *data, size_t size, buf *scratch)
{
	static const char *const fields[] = { "subject", "FROM", "x" };
	struct mime_section s = { NULL, 0, MIME_SECTION_FIELDS, fields, 3 };
	mime_msg *m = mime_parse_header(data, size);
	struct mime_range r;
	buf *picked = buf_new(256);

	for (int w = 0; w < 2; w++) {
		s.what = w == 0 ? MIME_SECTION_FIELDS : MIME_SECTION_FIELDS_NOT;
		buf_reset(scratch);
		buf_reset(picked);
		if (mime_section_find(m, &s, &r, scratch) != 1)
			abort();
		mime_header_fields(data, size, fields, 3, w == 0, picked);
		if (buf_len(picked) != buf_len(scratch) ||
		    memcmp(buf_cstr(picked), buf_cstr(scratch), buf_len(picked)) != 0)
			abort();
	}
	buf_free(&picked);
	mime_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mime_msg *m = mime_parse((const char *)data, size);
	buf *out = buf_new(1024);

	mime_envelope(m, mime_root(m), out);
	mime_bodystructure(m, mime_root(m), true, out);
	mime_bodystructure(m, mime_root(m), false, out);
	visit(m, mime_root(m), size, out);
	sections(m, size, out);
	mime_free(&m);
	m = mime_parse_header((const char *)data, size);
	if (mime_nparts(m) != 1)
		abort();
	mime_envelope(m, mime_root(m), out);
	mime_free(&m);
	same_fields((const char *)data, size, out);
	buf_free(&out);
	return 0;
}
