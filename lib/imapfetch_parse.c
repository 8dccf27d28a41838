/* imapfetch_parse.c: the item list of FETCH / UID FETCH (RFC 3501 6.4.5,
 * RFC 3516 BINARY, RFC 7162 MODSEQ and CHANGEDSINCE) into a spec: macros
 * expanded, UID added for UID FETCH and MODSEQ for CHANGEDSINCE, every body
 * section copied with the name its reply will carry, and what the spec
 * needs (memory, cache, bytes; \Seen) worked out once. */
#include "imapfetch_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"

static const struct {
	const char *name;
	enum imapfetch_kind kind;
} simple_items[] = {
	{ "UID", IMAPFETCH_UID },
	{ "FLAGS", IMAPFETCH_FLAGS },
	{ "INTERNALDATE", IMAPFETCH_INTERNALDATE },
	{ "RFC822.SIZE", IMAPFETCH_RFC822_SIZE },
	{ "MODSEQ", IMAPFETCH_MODSEQ },
	{ "ENVELOPE", IMAPFETCH_ENVELOPE },
	{ "BODY", IMAPFETCH_BODY },
	{ "BODYSTRUCTURE", IMAPFETCH_BODYSTRUCTURE },
	{ "RFC822", IMAPFETCH_RFC822 },
	{ "RFC822.HEADER", IMAPFETCH_RFC822_HEADER },
	{ "RFC822.TEXT", IMAPFETCH_RFC822_TEXT },
};

/* The macros of RFC 3501 6.4.5, outside a list only. */
static const struct {
	const char *name;
	const char *items[5];
} macros[] = {
	{ "ALL", { "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", NULL } },
	{ "FAST", { "FLAGS", "INTERNALDATE", "RFC822.SIZE", NULL } },
	{ "FULL", { "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY" } },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

bool imapfetch_string_atom(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f ||
		    strchr("(){%*\"\\]", *s) != NULL)
			return false;
	return true;
}

static void item_free(struct imapfetch_item *it)
{
	for (size_t i = 0; it->fields != NULL && i < it->section.nfields; i++)
		free(it->fields[i]);
	free(it->fields);
	free(it->name);
}

void imapfetch_spec_free(imapfetch_spec **spec)
{
	if (*spec == NULL)
		return;
	for (size_t i = 0; i < (*spec)->nitems; i++)
		item_free(&(*spec)->items[i]);
	free(*spec);
	*spec = NULL;
}

static bool has_kind(const imapfetch_spec *spec, enum imapfetch_kind kind)
{
	for (size_t i = 0; i < spec->nitems; i++)
		if (spec->items[i].kind == kind)
			return true;
	return false;
}

static struct imapfetch_item *add_item(imapfetch_spec *spec, enum imapfetch_kind kind,
				       const char *name, const char **error_r)
{
	struct imapfetch_item *it;

	if (spec->nitems == IMAPFETCH_MAX_ITEMS) {
		*error_r = "Too many FETCH items";
		return NULL;
	}
	it = &spec->items[spec->nitems++];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	it->name = xstrdup(name);
	it->section.parts = it->parts;
	return it;
}

/* add_simple: a named item; duplicates are answered once. The RFC822 forms
 * get their BODY[...] section here. */
static int add_simple(imapfetch_spec *spec, size_t index, const char **error_r)
{
	enum imapfetch_kind kind = simple_items[index].kind;
	struct imapfetch_item *it;

	if (has_kind(spec, kind))
		return 0;
	if ((it = add_item(spec, kind, simple_items[index].name, error_r)) == NULL)
		return -1;
	if (kind == IMAPFETCH_RFC822_HEADER)
		it->section.what = MIME_SECTION_HEADER;
	else if (kind == IMAPFETCH_RFC822_TEXT)
		it->section.what = MIME_SECTION_TEXT;
	return 0;
}

static const char *text_name(enum imapcmd_section_text text)
{
	switch (text) {
	case IMAPCMD_TEXT_HEADER: return "HEADER";
	case IMAPCMD_TEXT_HEADER_FIELDS: return "HEADER.FIELDS";
	case IMAPCMD_TEXT_HEADER_FIELDS_NOT: return "HEADER.FIELDS.NOT";
	case IMAPCMD_TEXT_TEXT: return "TEXT";
	case IMAPCMD_TEXT_MIME: return "MIME";
	case IMAPCMD_TEXT_NONE: break;
	}
	return "";
}

/* section_name: the reply's name of a section item: the item without
 * .PEEK, the section as asked (field names as atoms or quoted), and the
 * origin of a partial. */
static char *section_name(const struct imapcmd_section *s)
{
	buf *b = buf_new(64);

	if (s->item == IMAPCMD_ITEM_BODY || s->item == IMAPCMD_ITEM_BODY_PEEK)
		buf_puts(b, "BODY[");
	else if (s->item == IMAPCMD_ITEM_BINARY_SIZE)
		buf_puts(b, "BINARY.SIZE[");
	else
		buf_puts(b, "BINARY[");
	for (size_t i = 0; i < s->nparts; i++)
		buf_printf(b, "%s%u", i > 0 ? "." : "", (unsigned)s->parts[i]);
	if (s->text != IMAPCMD_TEXT_NONE)
		buf_printf(b, "%s%s", s->nparts > 0 ? "." : "", text_name(s->text));
	if (s->nfields > 0) {
		buf_puts(b, " (");
		for (size_t i = 0; i < s->nfields; i++) {
			if (i > 0)
				buf_putc(b, ' ');
			if (imapfetch_string_atom(s->fields[i]))
				buf_puts(b, s->fields[i]);
			else
				mime_imap_cstring(b, s->fields[i]);
		}
		buf_putc(b, ')');
	}
	buf_putc(b, ']');
	if (s->partial)
		buf_printf(b, "<%u>", (unsigned)s->origin);
	return buf_steal_free(&b);
}

static enum mime_section_what section_what(enum imapcmd_section_text text)
{
	switch (text) {
	case IMAPCMD_TEXT_HEADER: return MIME_SECTION_HEADER;
	case IMAPCMD_TEXT_HEADER_FIELDS: return MIME_SECTION_FIELDS;
	case IMAPCMD_TEXT_HEADER_FIELDS_NOT: return MIME_SECTION_FIELDS_NOT;
	case IMAPCMD_TEXT_TEXT: return MIME_SECTION_TEXT;
	case IMAPCMD_TEXT_MIME: return MIME_SECTION_MIME;
	case IMAPCMD_TEXT_NONE: break;
	}
	return MIME_SECTION_ALL;
}

void imapfetch_section_to_mime(const struct imapcmd_section *in, unsigned *parts_r,
			       struct mime_section *out)
{
	for (size_t i = 0; i < in->nparts; i++)
		parts_r[i] = in->parts[i];
	out->parts = parts_r;
	out->nparts = in->nparts;
	out->what = section_what(in->text);
	out->fields = (const char *const *)in->fields;
	out->nfields = in->nfields;
}

static enum imapfetch_kind section_kind(enum imapcmd_fetch_item item)
{
	if (item == IMAPCMD_ITEM_BODY || item == IMAPCMD_ITEM_BODY_PEEK)
		return IMAPFETCH_SECTION;
	return item == IMAPCMD_ITEM_BINARY_SIZE ? IMAPFETCH_BINARY_SIZE : IMAPFETCH_BINARY;
}

static int add_section(imapfetch_spec *spec, const struct imapcmd_section *s,
		       const char **error_r)
{
	struct imapfetch_item *it;
	char *name = section_name(s);

	if ((s->item != IMAPCMD_ITEM_BODY && s->item != IMAPCMD_ITEM_BODY_PEEK) &&
	    s->text != IMAPCMD_TEXT_NONE) {
		free(name);
		*error_r = "BINARY takes part numbers only";
		return -1;
	}
	it = add_item(spec, section_kind(s->item), name, error_r);
	free(name);
	if (it == NULL)
		return -1;
	imapfetch_section_to_mime(s, it->parts, &it->section);
	it->section.parts = it->parts;
	if (s->nfields > 0) {
		it->fields = xcalloc(s->nfields, sizeof(*it->fields));
		for (size_t i = 0; i < s->nfields; i++)
			it->fields[i] = xstrdup(s->fields[i]);
		it->section.fields = (const char *const *)it->fields;
	}
	it->partial = s->partial;
	it->origin = s->origin;
	it->length = s->length;
	if (s->item == IMAPCMD_ITEM_BODY || s->item == IMAPCMD_ITEM_BINARY)
		spec->sets_seen = true;
	return 0;
}

/* add_atom: one fetch-att that is an atom (sections come parsed). */
static int add_atom(imapfetch_spec *spec, const struct imapcmd_arg *a, const char **error_r)
{
	if (a->type != IMAPCMD_ATOM) {
		*error_r = "Invalid FETCH item";
		return -1;
	}
	if (a->section != NULL)
		return add_section(spec, a->section, error_r);
	for (size_t i = 0; i < NELEM(simple_items); i++)
		if (strcasecmp(a->str, simple_items[i].name) == 0)
			return add_simple(spec, i, error_r);
	*error_r = imapcmd_section_is_item(a->str, a->len) ? "Invalid FETCH section"
							   : "Unknown FETCH item";
	return -1;
}

static int add_macro(imapfetch_spec *spec, const struct imapcmd_arg *a, bool *found_r,
		     const char **error_r)
{
	*found_r = false;
	for (size_t i = 0; i < NELEM(macros); i++) {
		if (!imapcmd_is_atom(a, macros[i].name))
			continue;
		*found_r = true;
		for (size_t j = 0; j < NELEM(macros[i].items) && macros[i].items[j] != NULL; j++)
			for (size_t k = 0; k < NELEM(simple_items); k++)
				if (strcmp(simple_items[k].name, macros[i].items[j]) == 0 &&
				    add_simple(spec, k, error_r) < 0)
					return -1;
	}
	return 0;
}

static int parse_items(imapfetch_spec *spec, const struct imapcmd_arg *a, const char **error_r)
{
	bool macro;

	if (a->type == IMAPCMD_LIST) {
		if (a->count == 0) {
			*error_r = "Empty FETCH item list";
			return -1;
		}
		for (size_t i = 0; i < a->count; i++) {
			if (add_macro(spec, &a->list[i], &macro, error_r) < 0)
				return -1;
			if (macro) {
				*error_r = "FETCH macro inside a list";
				return -1;
			}
			if (add_atom(spec, &a->list[i], error_r) < 0)
				return -1;
		}
		return 0;
	}
	if (add_macro(spec, a, &macro, error_r) < 0)
		return -1;
	return macro ? 0 : add_atom(spec, a, error_r);
}

/* parse_modseq: a 63-bit decimal number (0 taken, as some clients send). */
static int parse_modseq(const struct imapcmd_arg *a, uint64_t *value_r)
{
	uint64_t v = 0;

	if (a->type != IMAPCMD_ATOM || a->len == 0 || a->len > 19)
		return -1;
	for (size_t i = 0; i < a->len; i++) {
		if (a->str[i] < '0' || a->str[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(a->str[i] - '0');
	}
	if (v > (uint64_t)IMAPFETCH_MODSEQ_MAX)
		return -1;
	*value_r = v;
	return 0;
}

static int parse_modifiers(imapfetch_spec *spec, const struct imapcmd_arg *a,
			   const char **error_r)
{
	bool seen = false;

	if (a->type != IMAPCMD_LIST || a->count == 0) {
		*error_r = "Invalid FETCH modifier list";
		return -1;
	}
	for (size_t i = 0; i < a->count; i += 2) {
		if (!imapcmd_is_atom(&a->list[i], "CHANGEDSINCE")) {
			*error_r = "Unknown FETCH modifier";
			return -1;
		}
		if (seen || i + 1 >= a->count ||
		    parse_modseq(&a->list[i + 1], &spec->changedsince) < 0) {
			*error_r = "Invalid CHANGEDSINCE value";
			return -1;
		}
		seen = true;
	}
	spec->uses_modseq = true;
	if (!has_kind(spec, IMAPFETCH_MODSEQ) &&
	    add_item(spec, IMAPFETCH_MODSEQ, "MODSEQ", error_r) == NULL)
		return -1;
	return 0;
}

enum imapfetch_need imapfetch_item_need(const struct imapfetch_item *it)
{
	switch (it->kind) {
	case IMAPFETCH_UID:
	case IMAPFETCH_FLAGS:
	case IMAPFETCH_INTERNALDATE:
	case IMAPFETCH_RFC822_SIZE:
	case IMAPFETCH_MODSEQ:
		return IMAPFETCH_NEED_MEMORY;
	case IMAPFETCH_ENVELOPE:
	case IMAPFETCH_BODY:
	case IMAPFETCH_BODYSTRUCTURE:
	case IMAPFETCH_RFC822_HEADER:
		return IMAPFETCH_NEED_CACHE;
	case IMAPFETCH_SECTION:
		/* The message's own header and its fields come from the
		 * cached header block. */
		if (it->section.nparts == 0 && (it->section.what == MIME_SECTION_HEADER ||
						it->section.what == MIME_SECTION_FIELDS ||
						it->section.what == MIME_SECTION_FIELDS_NOT))
			return IMAPFETCH_NEED_CACHE;
		return IMAPFETCH_NEED_DATA;
	default:
		return IMAPFETCH_NEED_DATA;
	}
}

/* finish: the implied UID, and what the whole spec needs. */
static int finish(imapfetch_spec *spec, bool uid_command, const char **error_r)
{
	if (uid_command && !has_kind(spec, IMAPFETCH_UID)) {
		if (spec->nitems == IMAPFETCH_MAX_ITEMS) {
			*error_r = "Too many FETCH items";
			return -1;
		}
		memmove(&spec->items[1], &spec->items[0], spec->nitems * sizeof(spec->items[0]));
		spec->nitems++;
		memset(&spec->items[0], 0, sizeof(spec->items[0]));
		spec->items[0].kind = IMAPFETCH_UID;
		spec->items[0].name = xstrdup("UID");
	}
	for (size_t i = 0; i < spec->nitems; i++) {
		struct imapfetch_item *it = &spec->items[i];
		enum imapfetch_need need = imapfetch_item_need(it);

		it->section.parts = it->parts; /* the memmove moved the array */
		if (need > spec->need)
			spec->need = need;
		if (it->kind == IMAPFETCH_MODSEQ)
			spec->uses_modseq = true;
		if (it->kind == IMAPFETCH_RFC822 || it->kind == IMAPFETCH_RFC822_TEXT)
			spec->sets_seen = true;
		if (need == IMAPFETCH_NEED_DATA || it->kind == IMAPFETCH_BODY ||
		    it->kind == IMAPFETCH_BODYSTRUCTURE)
			spec->full_parse = true;
	}
	return 0;
}

imapfetch_spec *imapfetch_parse(const struct imapcmd_arg *args, size_t count, bool uid_command,
				const char **error_r)
{
	imapfetch_spec *spec = xcalloc(1, sizeof(*spec));
	const char *dummy;

	if (error_r == NULL)
		error_r = &dummy;
	if (count == 0 || count > 2) {
		*error_r = count == 0 ? "Missing FETCH items" : "Too many FETCH arguments";
		goto fail;
	}
	if (parse_items(spec, &args[0], error_r) < 0)
		goto fail;
	if (count == 2 && parse_modifiers(spec, &args[1], error_r) < 0)
		goto fail;
	if (finish(spec, uid_command, error_r) < 0)
		goto fail;
	return spec;
fail:
	imapfetch_spec_free(&spec);
	return NULL;
}

bool imapfetch_sets_seen(const imapfetch_spec *spec)
{
	return spec->sets_seen;
}

enum imapfetch_need imapfetch_need(const imapfetch_spec *spec)
{
	return spec->need;
}

unsigned imapfetch_cache_fields(const imapfetch_spec *spec)
{
	unsigned bits = 0;

	for (size_t i = 0; i < spec->nitems; i++) {
		const struct imapfetch_item *it = &spec->items[i];

		if (it->kind == IMAPFETCH_ENVELOPE)
			bits |= 1u << IMAPMSG_ENVELOPE;
		else if (it->kind == IMAPFETCH_BODY)
			bits |= 1u << IMAPMSG_BODY;
		else if (it->kind == IMAPFETCH_BODYSTRUCTURE)
			bits |= 1u << IMAPMSG_BODYSTRUCTURE;
		else if (imapfetch_item_need(it) == IMAPFETCH_NEED_CACHE)
			bits |= 1u << IMAPMSG_HEADER;
	}
	return bits;
}

uint64_t imapfetch_changedsince(const imapfetch_spec *spec)
{
	return spec->changedsince;
}

bool imapfetch_uses_modseq(const imapfetch_spec *spec)
{
	return spec->uses_modseq;
}
