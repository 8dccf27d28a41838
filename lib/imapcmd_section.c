/* imapcmd_section.c: the section specs of FETCH attributes (RFC 3501
 * section-spec, RFC 3516 section-binary): BODY[1.2.HEADER.FIELDS (A B)]<0.100>
 * and its kin, parsed from the one atom the command reader made of them
 * into part numbers, the text part, the field names and the partial. */
#include "imapcmd.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "mem.h"

static const struct {
	const char *name;
	enum imapcmd_fetch_item item;
} section_items[] = {
	{ "BODY", IMAPCMD_ITEM_BODY },
	{ "BODY.PEEK", IMAPCMD_ITEM_BODY_PEEK },
	{ "BINARY", IMAPCMD_ITEM_BINARY },
	{ "BINARY.PEEK", IMAPCMD_ITEM_BINARY_PEEK },
	{ "BINARY.SIZE", IMAPCMD_ITEM_BINARY_SIZE },
};

static int section_item(const char *text, size_t len)
{
	for (size_t i = 0; i < sizeof(section_items) / sizeof(section_items[0]); i++)
		if (strlen(section_items[i].name) == len &&
		    strncasecmp(text, section_items[i].name, len) == 0)
			return (int)i;
	return -1;
}

bool imapcmd_section_is_item(const char *text, size_t len)
{
	const char *open = memchr(text, '[', len);

	return open != NULL && section_item(text, (size_t)(open - text)) >= 0;
}

/* The parse position and the result being built. */
struct section_parse {
	const char *text;
	size_t len, pos;
	struct imapcmd_section *s;
};

static bool sp_char(struct section_parse *p, char c)
{
	if (p->pos >= p->len || p->text[p->pos] != c)
		return false;
	p->pos++;
	return true;
}

static bool sp_digit(const struct section_parse *p)
{
	return p->pos < p->len && p->text[p->pos] >= '0' && p->text[p->pos] <= '9';
}

/* sp_number: digits as a 32-bit number; -1 if none or too big. */
static int64_t sp_number(struct section_parse *p)
{
	int64_t n = 0;
	size_t start = p->pos;

	while (sp_digit(p)) {
		n = n * 10 + (p->text[p->pos++] - '0');
		if (n > UINT32_MAX)
			return -1;
	}
	return p->pos == start ? -1 : n;
}

static const char *sp_parts(struct section_parse *p)
{
	while (sp_digit(p)) {
		int64_t n = sp_number(p);

		if (n <= 0)
			return "Invalid part number in section";
		if (p->s->nparts == IMAPCMD_MAX_SECTION_PARTS)
			return "Too many part numbers in section";
		p->s->parts[p->s->nparts++] = (uint32_t)n;
		if (p->pos >= p->len || p->text[p->pos] != '.')
			break;
		p->pos++;
		if (!sp_digit(p))
			break;
	}
	return NULL;
}

/* sp_field: one header field name, an atom or a quoted string. */
static const char *sp_field(struct section_parse *p, buf *name)
{
	if (sp_char(p, '"')) {
		while (p->pos < p->len && p->text[p->pos] != '"') {
			if (p->text[p->pos] == '\\' && p->pos + 1 < p->len)
				p->pos++;
			buf_putc(name, p->text[p->pos++]);
		}
		if (!sp_char(p, '"'))
			return "Unterminated quoted field name in section";
		return NULL;
	}
	while (p->pos < p->len && strchr(" ()[]\"{", p->text[p->pos]) == NULL)
		buf_putc(name, p->text[p->pos++]);
	return buf_len(name) == 0 ? "Empty field name in section" : NULL;
}

static const char *sp_fields(struct section_parse *p)
{
	const char *err = NULL;
	buf *name = buf_new(32);

	if (!sp_char(p, ' ') || !sp_char(p, '('))
		err = "Missing field list in section";
	while (err == NULL) {
		buf_reset(name);
		err = sp_field(p, name);
		if (err != NULL)
			break;
		p->s->fields = xrealloc(p->s->fields, (p->s->nfields + 1) * sizeof(char *));
		p->s->fields[p->s->nfields++] = xstrdup(buf_cstr(name));
		if (sp_char(p, ')'))
			break;
		if (!sp_char(p, ' '))
			err = "Malformed field list in section";
	}
	buf_free(&name);
	return err;
}

static const char *sp_text(struct section_parse *p)
{
	static const struct {
		const char *word;
		enum imapcmd_section_text text;
	} words[] = { { "HEADER.FIELDS.NOT", IMAPCMD_TEXT_HEADER_FIELDS_NOT },
		      { "HEADER.FIELDS", IMAPCMD_TEXT_HEADER_FIELDS },
		      { "HEADER", IMAPCMD_TEXT_HEADER },
		      { "TEXT", IMAPCMD_TEXT_TEXT },
		      { "MIME", IMAPCMD_TEXT_MIME } };
	size_t end = p->pos;

	while (end < p->len && p->text[end] != ']' && p->text[end] != ' ')
		end++;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strlen(words[i].word) != end - p->pos ||
		    strncasecmp(p->text + p->pos, words[i].word, end - p->pos) != 0)
			continue;
		p->pos = end;
		p->s->text = words[i].text;
		if (p->s->text == IMAPCMD_TEXT_MIME && p->s->nparts == 0)
			return "MIME needs a part number in section";
		if (p->s->text == IMAPCMD_TEXT_HEADER_FIELDS ||
		    p->s->text == IMAPCMD_TEXT_HEADER_FIELDS_NOT)
			return sp_fields(p);
		return NULL;
	}
	return "Unknown section text";
}

/* sp_spec: what lies between "[" and "]". */
static const char *sp_spec(struct section_parse *p)
{
	bool binary = p->s->item >= IMAPCMD_ITEM_BINARY;
	const char *err = sp_parts(p);

	if (err != NULL)
		return err;
	if (p->pos < p->len && p->text[p->pos] != ']') {
		if (binary)
			return "BINARY takes part numbers only";
		if (p->s->nparts > 0 && p->text[p->pos - 1] != '.')
			return "Malformed section";
		err = sp_text(p);
		if (err != NULL)
			return err;
	} else if (p->s->nparts > 0 && p->text[p->pos - 1] == '.') {
		return "Malformed section";
	}
	return sp_char(p, ']') ? NULL : "Malformed section";
}

static const char *sp_partial(struct section_parse *p)
{
	int64_t origin, length;

	if (p->pos == p->len)
		return NULL;
	if (p->s->item == IMAPCMD_ITEM_BINARY_SIZE)
		return "BINARY.SIZE takes no partial";
	if (!sp_char(p, '<'))
		return "Malformed partial";
	origin = sp_number(p);
	if (origin < 0 || !sp_char(p, '.'))
		return "Malformed partial";
	length = sp_number(p);
	if (length <= 0 || !sp_char(p, '>') || p->pos != p->len)
		return "Malformed partial";
	p->s->partial = true;
	p->s->origin = (uint32_t)origin;
	p->s->length = (uint32_t)length;
	return NULL;
}

struct imapcmd_section *imapcmd_section_parse(const char *text, size_t len, const char **error_r)
{
	const char *open = memchr(text, '[', len);
	struct section_parse p = { text, len, 0, NULL };
	const char *err = NULL;
	int item = open == NULL ? -1 : section_item(text, (size_t)(open - text));

	if (item < 0) {
		if (error_r != NULL)
			*error_r = "Unknown fetch item with section";
		return NULL;
	}
	p.s = xcalloc(1, sizeof(*p.s));
	p.s->item = section_items[item].item;
	p.pos = (size_t)(open - text) + 1;
	err = sp_spec(&p);
	if (err == NULL)
		err = sp_partial(&p);
	if (err != NULL) {
		imapcmd_section_free(&p.s);
		if (error_r != NULL)
			*error_r = err;
	}
	return p.s;
}

void imapcmd_section_free(struct imapcmd_section **s)
{
	if (*s == NULL)
		return;
	for (size_t i = 0; i < (*s)->nfields; i++)
		free((*s)->fields[i]);
	free((*s)->fields);
	free(*s);
	*s = NULL;
}
