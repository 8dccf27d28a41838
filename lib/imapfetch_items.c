/* imapfetch_items.c: the text of each FETCH item of one message: flags,
 * dates and sizes from struct imapmsg; ENVELOPE, BODY, BODYSTRUCTURE and
 * the header block from the source's cache, or computed with lib/mime from
 * the bytes (and handed back to the cache); body sections, partial fetches
 * and BINARY decoding. Message ranges are queued for streaming, never
 * copied whole (imapfetch_render.c sends them). */
#include "imapfetch_render.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imapdate.h"

static const struct {
	unsigned bit;
	const char *name;
} flag_names[] = {
	{ IMAPMSG_ANSWERED, "\\Answered" }, { IMAPMSG_FLAGGED, "\\Flagged" },
	{ IMAPMSG_DELETED, "\\Deleted" },   { IMAPMSG_SEEN, "\\Seen" },
	{ IMAPMSG_DRAFT, "\\Draft" },	    { IMAPMSG_RECENT, "\\Recent" },
};

void imapfetch_flags(buf *out, unsigned flags, const char *const *keywords, size_t nkeywords)
{
	bool first = true;

	buf_putc(out, '(');
	for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
		if ((flags & flag_names[i].bit) == 0)
			continue;
		buf_printf(out, "%s%s", first ? "" : " ", flag_names[i].name);
		first = false;
	}
	for (size_t i = 0; i < nkeywords; i++) {
		buf_printf(out, "%s%s", first ? "" : " ", keywords[i]);
		first = false;
	}
	buf_putc(out, ')');
}

bool imapfetch_spec_has_flags(const imapfetch_spec *spec)
{
	for (size_t i = 0; i < spec->nitems; i++)
		if (spec->items[i].kind == IMAPFETCH_FLAGS)
			return true;
	return false;
}

bool imapfetch_spec_uses_item_modseq(const imapfetch_spec *spec)
{
	for (size_t i = 0; i < spec->nitems; i++)
		if (spec->items[i].kind == IMAPFETCH_MODSEQ)
			return true;
	return false;
}

static void put_internaldate(buf *t, time_t when)
{
	struct tm tm;
	int zone = 0;

	if (localtime_r(&when, &tm) != NULL)
		zone = (int)(tm.tm_gmtoff / 60);
	buf_putc(t, '"');
	imapdate_format_time(t, when, zone);
	buf_putc(t, '"');
}

/* compute: a cache field from the parsed message, appended to out. */
static void compute(imapfetch_render *r, enum imapmsg_field field, buf *out)
{
	const struct mime_part *root = mime_root(r->mime);

	switch (field) {
	case IMAPMSG_ENVELOPE:
		mime_envelope(r->mime, root, out);
		break;
	case IMAPMSG_BODY:
		mime_bodystructure(r->mime, root, false, out);
		break;
	case IMAPMSG_BODYSTRUCTURE:
		mime_bodystructure(r->mime, root, true, out);
		break;
	default:
		mime_crlf_append(out, r->data, root->header.off, root->header.len, 0, SIZE_MAX);
		break;
	}
}

/* cache_value: field's value appended to out, from the cache or computed
 * (and stored); 0, or -1 with r->result set. */
static int cache_value(imapfetch_render *r, enum imapmsg_field field, buf *out)
{
	const struct imapmsg_source *src = r->m->source;
	size_t mark = buf_len(out);

	if (src != NULL && src->cached != NULL &&
	    src->cached(r->m->source_ctx, r->m, field, out) == 1)
		return 0;
	buf_truncate(out, mark);
	if (imapfetch_data(r) < 0)
		return -1;
	compute(r, field, out);
	if (src->store != NULL)
		src->store(r->m->source_ctx, r->m, field, buf_cstr(out) + mark,
			   buf_len(out) - mark);
	return 0;
}

/* header_block: the message's header in CRLF form (cached or computed),
 * copied into r->header. */
static const buf *header_block(imapfetch_render *r)
{
	if (r->have_header)
		return r->header;
	buf_reset(r->header);
	if (cache_value(r, IMAPMSG_HEADER, r->header) < 0)
		return NULL;
	r->have_header = true;
	return r->header;
}

/* window: which octets of size a partial <origin.length> sends. */
static void window(const struct imapfetch_item *it, size_t size, size_t *skip_r,
		   size_t *count_r)
{
	*skip_r = 0;
	*count_r = size;
	if (!it->partial)
		return;
	*skip_r = it->origin;
	*count_r = it->origin >= size ? 0 : size - it->origin;
	if (*count_r > it->length)
		*count_r = it->length;
}

static void literal_head(buf *t, size_t count, bool literal8)
{
	buf_puts(t, literal8 ? "~{" : "{");
	imapfetch_put_u64(t, count);
	buf_puts(t, "}\r\n");
}

/* put_bytes: bytes held in memory (headers), cut by the item's partial. */
static void put_bytes(buf *t, const struct imapfetch_item *it, const char *s, size_t len)
{
	size_t skip, count;

	window(it, len, &skip, &count);
	if (count == 0) {
		buf_puts(t, "\"\"");
		return;
	}
	literal_head(t, count, false);
	buf_append(t, s + skip, count);
}

/* put_range: message bytes, cut by the partial, queued for streaming. */
static void put_range(imapfetch_render *r, const struct imapfetch_item *it,
		      const struct mime_range *range, bool literal8)
{
	size_t skip, count;

	window(it, range->size, &skip, &count);
	if (count == 0) {
		buf_puts(imapfetch_text(r), "\"\"");
		return;
	}
	literal_head(imapfetch_text(r), count, literal8);
	imapfetch_range(r, range, skip, count);
}

/* header_bytes: the header block of the message in CRLF form: pointed
 * into the source's cache when it can (no copy), else header_block's. */
static int header_bytes(imapfetch_render *r, const char **hdr_r, size_t *len_r)
{
	const struct imapmsg_source *src = r->m->source;
	const buf *hdr;

	if (!r->have_header && src != NULL && src->cached_ref != NULL &&
	    src->cached_ref(r->m->source_ctx, r->m, IMAPMSG_HEADER, hdr_r, len_r) == 1)
		return 0;
	if ((hdr = header_block(r)) == NULL)
		return -1;
	*hdr_r = buf_cstr(hdr);
	*len_r = buf_len(hdr);
	return 0;
}

/* section_from_header: HEADER and HEADER.FIELDS(.NOT) of the message
 * itself, from the header block alone (the fields picked straight from
 * it, as mime_section_find would from its parse). */
static void section_from_header(imapfetch_render *r, const struct imapfetch_item *it)
{
	const char *hdr;
	size_t len;

	if (header_bytes(r, &hdr, &len) < 0)
		return;
	if (it->section.what == MIME_SECTION_HEADER) {
		put_bytes(imapfetch_text(r), it, hdr, len);
		return;
	}
	buf_reset(r->scratch);
	mime_header_fields(hdr, len, it->section.fields, it->section.nfields,
			   it->section.what == MIME_SECTION_FIELDS, r->scratch);
	put_bytes(imapfetch_text(r), it, buf_cstr(r->scratch), buf_len(r->scratch));
}

static void render_section(imapfetch_render *r, const struct imapfetch_item *it)
{
	struct mime_range range;
	buf *built;
	int rc;

	buf_puts(imapfetch_text(r), it->name);
	buf_putc(imapfetch_text(r), ' ');
	if (imapfetch_item_need(it) == IMAPFETCH_NEED_CACHE) {
		section_from_header(r, it);
		return;
	}
	if (imapfetch_data(r) < 0)
		return;
	built = buf_new(256);
	rc = mime_section_find(r->mime, &it->section, &range, built);
	if (rc < 0)
		buf_puts(imapfetch_text(r), "\"\"");
	else if (rc == 1)
		put_bytes(imapfetch_text(r), it, buf_cstr(built), buf_len(built));
	else
		put_range(r, it, &range, false);
	buf_free(&built);
}

enum binary_kind { BINARY_IDENTITY, BINARY_BASE64, BINARY_QP, BINARY_UNKNOWN };

/* binary_kind_of: how BINARY takes part: multiparts, messages and the whole
 * message go as they are; leaves by their Content-Transfer-Encoding. */
static enum binary_kind binary_kind_of(const struct mime_part *part, size_t nparts)
{
	const char *enc = part->encoding;

	if (nparts == 0 || part->is_multipart || part->is_message || enc == NULL ||
	    strcasecmp(enc, "7bit") == 0 || strcasecmp(enc, "8bit") == 0 ||
	    strcasecmp(enc, "binary") == 0)
		return BINARY_IDENTITY;
	if (strcasecmp(enc, "base64") == 0)
		return BINARY_BASE64;
	if (strcasecmp(enc, "quoted-printable") == 0)
		return BINARY_QP;
	return BINARY_UNKNOWN;
}

/* binary_decoded: a base64 or quoted-printable leaf, decoded as it is sent
 * (sized first, then streamed). */
static void binary_decoded(imapfetch_render *r, const struct imapfetch_item *it,
			   const struct mime_part *part, enum binary_kind kind)
{
	enum imapfetch_cte cte = kind == BINARY_QP ? IMAPFETCH_CTE_QP : IMAPFETCH_CTE_BASE64;
	size_t from = it->partial ? it->origin : 0;
	size_t to = it->partial && it->length <= SIZE_MAX - from ? from + it->length : SIZE_MAX;
	size_t size, skip, count;
	bool nul;

	size = imapfetch_decoded_size(r->data, &part->body, cte, from, to, &nul);
	if (it->kind == IMAPFETCH_BINARY_SIZE) {
		buf_printf(imapfetch_text(r), "%zu", size);
		return;
	}
	window(it, size, &skip, &count);
	if (count == 0) {
		buf_puts(imapfetch_text(r), "\"\"");
		return;
	}
	literal_head(imapfetch_text(r), count, nul);
	imapfetch_decoded(r, &part->body, cte, skip, count);
}

static void binary_identity(imapfetch_render *r, const struct imapfetch_item *it)
{
	struct mime_range range;
	struct mime_section whole = it->section;
	buf *built = buf_new(16);
	bool has_nul;

	whole.what = MIME_SECTION_ALL;
	if (mime_section_find(r->mime, &whole, &range, built) != 0) {
		buf_free(&built);
		buf_puts(imapfetch_text(r), it->kind == IMAPFETCH_BINARY_SIZE ? "0" : "NIL");
		return;
	}
	buf_free(&built);
	if (it->kind == IMAPFETCH_BINARY_SIZE) {
		buf_printf(imapfetch_text(r), "%zu", range.size);
		return;
	}
	has_nul = memchr(r->data + range.off, '\0', range.len) != NULL;
	put_range(r, it, &range, has_nul);
}

static void render_binary(imapfetch_render *r, const struct imapfetch_item *it)
{
	const struct mime_part *part;
	enum binary_kind kind;

	if (imapfetch_data(r) < 0)
		return;
	part = mime_part_find(r->mime, it->section.parts, it->section.nparts);
	buf_printf(imapfetch_text(r), "%s ", it->name);
	if (part == NULL) {
		buf_puts(imapfetch_text(r), it->kind == IMAPFETCH_BINARY_SIZE ? "0" : "NIL");
		return;
	}
	kind = binary_kind_of(part, it->section.nparts);
	if (kind == BINARY_UNKNOWN) {
		r->result = IMAPFETCH_UNKNOWN_CTE;
		return;
	}
	if (kind == BINARY_IDENTITY) {
		binary_identity(r, it);
		return;
	}
	binary_decoded(r, it, part, kind);
}

static void render_cached(imapfetch_render *r, const struct imapfetch_item *it,
			  enum imapmsg_field field)
{
	buf_puts(imapfetch_text(r), it->name);
	buf_putc(imapfetch_text(r), ' ');
	cache_value(r, field, imapfetch_text(r));
}

void imapfetch_item_render(imapfetch_render *r, const struct imapfetch_item *it)
{
	const struct imapmsg *m = r->m;
	buf *t = imapfetch_text(r);

	switch (it->kind) {
	case IMAPFETCH_UID:
		buf_puts(t, "UID ");
		imapfetch_put_u64(t, m->uid);
		break;
	case IMAPFETCH_FLAGS:
		buf_puts(t, "FLAGS ");
		imapfetch_flags(t, m->flags, m->keywords, m->nkeywords);
		break;
	case IMAPFETCH_INTERNALDATE:
		buf_puts(t, "INTERNALDATE ");
		put_internaldate(t, m->internaldate);
		break;
	case IMAPFETCH_RFC822_SIZE:
		buf_puts(t, "RFC822.SIZE ");
		if (m->size < 0)
			buf_printf(t, "%lld", m->size);
		else
			imapfetch_put_u64(t, (uint64_t)m->size);
		break;
	case IMAPFETCH_MODSEQ:
		buf_printf(t, "MODSEQ (%llu)", (unsigned long long)m->modseq);
		break;
	case IMAPFETCH_ENVELOPE:
		render_cached(r, it, IMAPMSG_ENVELOPE);
		break;
	case IMAPFETCH_BODY:
		render_cached(r, it, IMAPMSG_BODY);
		break;
	case IMAPFETCH_BODYSTRUCTURE:
		render_cached(r, it, IMAPMSG_BODYSTRUCTURE);
		break;
	case IMAPFETCH_BINARY:
	case IMAPFETCH_BINARY_SIZE:
		render_binary(r, it);
		break;
	default: /* sections and the RFC822 forms */
		render_section(r, it);
		break;
	}
}
