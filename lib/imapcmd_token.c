/* imapcmd_token.c: the tokens of one command line (RFC 3501 section 9):
 * tag, command name, atoms, NIL, quoted strings, literal announcements,
 * parentheses, and the FETCH atoms whose brackets may hold spaces and
 * parentheses (BODY[HEADER.FIELDS (A B)]<0.100>). Tokens become nodes of
 * a flat list with parent links; imapcmd_build makes the tree at the end.
 * Atoms here are lenient where commands need it: '*' and '%' (sequence
 * sets, LIST patterns), ']' and '[' (astrings), a leading '\' (flags). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapcmd_int.h"
#include "mem.h"
#include "mutf7.h"

bool imapcmd_tag_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\+", c) == NULL;
}

static bool tok_atom_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("(){\"\\", c) == NULL;
}

/* tok_string_end: closes a string started at off in r->text. */
static size_t tok_string_end(imapcmd_reader *r, size_t off)
{
	size_t len = buf_len(r->text) - off;

	buf_putc(r->text, '\0');
	return len;
}

static enum imapcmd_error tok_node(imapcmd_reader *r, enum imapcmd_arg_type type, size_t off,
				   size_t len)
{
	struct imapcmd_node *n;

	if (r->nnodes >= r->limits.max_tokens)
		return IMAPCMD_ERR_TOO_MANY_TOKENS;
	if (r->nnodes == r->nalloc) {
		r->nalloc = r->nalloc == 0 ? 16 : r->nalloc * 2;
		r->nodes = xrealloc(r->nodes, r->nalloc * sizeof(*r->nodes));
	}
	n = &r->nodes[r->nnodes++];
	n->type = type;
	n->off = off;
	n->len = len;
	n->parent = r->depth > 0 ? r->open[r->depth - 1] : IMAPCMD_NO_PARENT;
	n->count = 0;
	n->section = NULL;
	n->streamed = false;
	if (n->parent != IMAPCMD_NO_PARENT)
		r->nodes[n->parent].count++;
	r->need_sep = true;
	r->after_space = false;
	return IMAPCMD_ERR_NONE;
}

/* tok_word: the tag or the command name at line[*pos], into r->text. */
static size_t tok_word(imapcmd_reader *r, const char *line, size_t len, size_t *pos, bool tag)
{
	size_t start = *pos, off = buf_len(r->text);

	while (*pos < len && (tag ? imapcmd_tag_char((unsigned char)line[*pos])
				  : tok_atom_char((unsigned char)line[*pos])))
		(*pos)++;
	buf_append(r->text, line + start, *pos - start);
	tok_string_end(r, off);
	return *pos - start;
}

static enum imapcmd_error tok_head(imapcmd_reader *r, const char *line, size_t len, size_t *pos)
{
	if (r->phase == PH_TAG) {
		if (len == 0)
			return IMAPCMD_ERR_EMPTY;
		r->tag_off = buf_len(r->text);
		if (tok_word(r, line, len, pos, true) == 0 || (*pos < len && line[*pos] != ' '))
			return IMAPCMD_ERR_TAG;
		r->phase = PH_NAME;
		if (*pos == len)
			return IMAPCMD_ERR_NAME;
		(*pos)++;
	}
	r->name_off = buf_len(r->text);
	if (tok_word(r, line, len, pos, false) == 0 || (*pos < len && line[*pos] != ' '))
		return IMAPCMD_ERR_NAME;
	r->phase = PH_ARGS;
	if (*pos < len) {
		(*pos)++;
		r->after_space = true;
	}
	return IMAPCMD_ERR_NONE;
}

static enum imapcmd_error tok_open(imapcmd_reader *r, size_t *pos)
{
	enum imapcmd_error code;

	if (r->depth >= r->limits.max_depth)
		return IMAPCMD_ERR_TOO_DEEP;
	code = tok_node(r, IMAPCMD_LIST, 0, 0);
	if (code != IMAPCMD_ERR_NONE)
		return code;
	if (r->depth == r->open_alloc) {
		r->open_alloc = r->open_alloc == 0 ? 8 : r->open_alloc * 2;
		r->open = xrealloc(r->open, r->open_alloc * sizeof(*r->open));
	}
	r->open[r->depth++] = r->nnodes - 1;
	r->need_sep = false;
	(*pos)++;
	return IMAPCMD_ERR_NONE;
}

static enum imapcmd_error tok_close(imapcmd_reader *r, size_t *pos)
{
	if (r->depth == 0)
		return IMAPCMD_ERR_PARENS;
	if (r->after_space)
		return IMAPCMD_ERR_SPACE;
	r->depth--;
	r->need_sep = true;
	(*pos)++;
	return IMAPCMD_ERR_NONE;
}

static enum imapcmd_error tok_quoted(imapcmd_reader *r, const char *line, size_t len, size_t *pos)
{
	size_t off = buf_len(r->text);

	for ((*pos)++; *pos < len && line[*pos] != '"'; (*pos)++) {
		unsigned char c = (unsigned char)line[*pos];

		if (c == '\\') {
			if (++*pos == len || (line[*pos] != '"' && line[*pos] != '\\'))
				return IMAPCMD_ERR_QUOTED;
			c = (unsigned char)line[*pos];
		} else if (c == '\0' || c == '\r' || (c >= 0x80 && !r->limits.utf8_quoted)) {
			return IMAPCMD_ERR_CHAR;
		}
		buf_putc(r->text, c);
	}
	if (*pos == len)
		return IMAPCMD_ERR_QUOTED;
	(*pos)++;
	if (r->limits.utf8_quoted && !mutf7_utf8_valid(buf_cstr(r->text) + off, buf_len(r->text) - off))
		return IMAPCMD_ERR_CHAR;
	return tok_node(r, IMAPCMD_QUOTED, off, tok_string_end(r, off));
}

/* tok_literal_check: whether a literal of size bytes may be read. */
static enum imapcmd_error tok_literal_check(const imapcmd_reader *r, uint64_t size, bool nonsync)
{
	if (nonsync && r->limits.nonsync == IMAPCMD_NONSYNC_NONE)
		return IMAPCMD_ERR_NONSYNC;
	if (nonsync && r->limits.nonsync == IMAPCMD_NONSYNC_MINUS && size > IMAPCMD_LITERAL_MINUS_MAX)
		return IMAPCMD_ERR_NONSYNC_TOO_BIG;
	if (size > r->limits.max_literal)
		return IMAPCMD_ERR_LITERAL_TOO_BIG;
	if (r->total + size > r->limits.max_command)
		return IMAPCMD_ERR_COMMAND_TOO_BIG;
	return IMAPCMD_ERR_NONE;
}

/* tok_literal: "{n}", "{n+}", "~{n}" or "~{n+}", the last thing on a line. */
static enum imapcmd_error tok_literal(imapcmd_reader *r, const char *line, size_t len, size_t *pos)
{
	bool literal8 = line[*pos] == '~', nonsync = false;
	size_t start;
	uint64_t size = 0;
	enum imapcmd_error code;

	*pos += literal8 ? 2 : 1;
	for (start = *pos; *pos < len && line[*pos] >= '0' && line[*pos] <= '9'; (*pos)++)
		size = size * 10 + (uint64_t)(line[*pos] - '0');
	if (*pos == start || *pos - start > 19)
		return IMAPCMD_ERR_LITERAL;
	if (*pos < len && line[*pos] == '+') {
		nonsync = true;
		(*pos)++;
	}
	if (*pos + 1 != len || line[*pos] != '}')
		return IMAPCMD_ERR_LITERAL;
	*pos = len;
	code = tok_literal_check(r, size, nonsync);
	if (code == IMAPCMD_ERR_NONE)
		code = tok_node(r, literal8 ? IMAPCMD_LITERAL8 : IMAPCMD_LITERAL, buf_len(r->text), 0);
	if (code != IMAPCMD_ERR_NONE)
		return code;
	r->need_sep = false;
	r->literal_node = r->nnodes - 1;
	r->literal_left = r->literal_size = size;
	r->literal_sync = !nonsync;
	r->literal_nul_bad = !literal8;
	r->literal_has_nul = false;
	r->state = RD_LITERAL;
	return IMAPCMD_ERR_NONE;
}

int imapcmd_literal_done(imapcmd_reader *r)
{
	struct imapcmd_node *n = &r->nodes[r->literal_node];

	n->streamed = r->sink != NULL;
	r->sink = NULL;
	n->len = tok_string_end(r, n->off);
	r->state = RD_LINE;
	r->need_sep = true;
	r->after_space = false;
	return r->literal_has_nul ? -1 : 0;
}

/* tok_bracket: from the "[" of a section atom to its "]": printable
 * ASCII, spaces, parentheses and quoted strings. */
static enum imapcmd_error tok_bracket(const char *line, size_t len, size_t *pos)
{
	bool quoted = false;

	for ((*pos)++; *pos < len; (*pos)++) {
		unsigned char c = (unsigned char)line[*pos];

		if (c < 0x20 || c > 0x7e)
			return IMAPCMD_ERR_CHAR;
		if (quoted && c == '\\' && *pos + 1 < len)
			(*pos)++;
		else if (c == '"')
			quoted = !quoted;
		else if (c == ']' && !quoted)
			break;
	}
	if (*pos == len)
		return IMAPCMD_ERR_SECTION;
	(*pos)++;
	return IMAPCMD_ERR_NONE;
}

static enum imapcmd_error tok_atom(imapcmd_reader *r, const char *line, size_t len, size_t *pos)
{
	size_t start = *pos, off = buf_len(r->text), n;
	bool section = false;
	enum imapcmd_error code;

	if (line[*pos] == '\\')
		(*pos)++;
	while (*pos < len && tok_atom_char((unsigned char)line[*pos])) {
		if (line[*pos] == '[' && !section && imapcmd_section_is_item(line + start, *pos - start + 1)) {
			section = true;
			code = tok_bracket(line, len, pos);
			if (code != IMAPCMD_ERR_NONE)
				return code;
		} else {
			(*pos)++;
		}
	}
	n = *pos - start;
	if (n == 0 || (n == 1 && line[start] == '\\'))
		return IMAPCMD_ERR_CHAR;
	if (*pos < len && line[*pos] != ' ' && line[*pos] != ')')
		return IMAPCMD_ERR_CHAR;
	buf_append(r->text, line + start, n);
	tok_string_end(r, off);
	code = tok_node(r, n == 3 && strncasecmp(line + start, "NIL", 3) == 0 ? IMAPCMD_NIL : IMAPCMD_ATOM,
			off, n);
	if (code == IMAPCMD_ERR_NONE && section) {
		r->nodes[r->nnodes - 1].section = imapcmd_section_parse(line + start, n, NULL);
		if (r->nodes[r->nnodes - 1].section == NULL)
			return IMAPCMD_ERR_SECTION;
	}
	return code;
}

/* tok_step: one token, or the separator after one. */
static enum imapcmd_error tok_step(imapcmd_reader *r, const char *line, size_t len, size_t *pos)
{
	char c = line[*pos];

	if (r->need_sep) {
		if (c == ')')
			return tok_close(r, pos);
		if (c != ' ')
			return IMAPCMD_ERR_SPACE;
		r->need_sep = false;
		r->after_space = true;
		(*pos)++;
		return IMAPCMD_ERR_NONE;
	}
	if (c == ' ')
		return IMAPCMD_ERR_SPACE;
	if (c == ')')
		return tok_close(r, pos);
	if (c == '(')
		return tok_open(r, pos);
	if (c == '"')
		return tok_quoted(r, line, len, pos);
	if (c == '{' || (c == '~' && *pos + 1 < len && line[*pos + 1] == '{'))
		return tok_literal(r, line, len, pos);
	return tok_atom(r, line, len, pos);
}

enum imapcmd_error imapcmd_tokenise(imapcmd_reader *r, const char *line, size_t len)
{
	enum imapcmd_error code = IMAPCMD_ERR_NONE;
	size_t pos = 0;

	if (r->phase != PH_ARGS)
		code = tok_head(r, line, len, &pos);
	while (code == IMAPCMD_ERR_NONE && pos < len)
		code = tok_step(r, line, len, &pos);
	if (code != IMAPCMD_ERR_NONE || r->state == RD_LITERAL)
		return code;
	if (r->after_space)
		return IMAPCMD_ERR_SPACE;
	return r->depth > 0 ? IMAPCMD_ERR_PARENS : IMAPCMD_ERR_NONE;
}

void imapcmd_build(imapcmd_reader *r)
{
	size_t *start = xcalloc(r->nnodes + 1, sizeof(size_t));
	size_t *fill = xcalloc(r->nnodes + 1, sizeof(size_t));
	size_t top = 0, next = 0, top_fill = 0;
	const char *text = buf_cstr(r->text);

	for (size_t i = 0; i < r->nnodes; i++)
		top += r->nodes[i].parent == IMAPCMD_NO_PARENT;
	next = top;
	for (size_t i = 0; i < r->nnodes; i++)
		if (r->nodes[i].type == IMAPCMD_LIST) {
			start[i] = next;
			next += r->nodes[i].count;
		}
	free(r->args);
	r->args = xcalloc(r->nnodes + 1, sizeof(*r->args));
	for (size_t i = 0; i < r->nnodes; i++) {
		const struct imapcmd_node *n = &r->nodes[i];
		struct imapcmd_arg *a = n->parent == IMAPCMD_NO_PARENT
			? &r->args[top_fill++] : &r->args[start[n->parent] + fill[n->parent]++];

		a->type = n->type;
		a->section = n->section;
		a->streamed = n->streamed;
		if (n->type == IMAPCMD_LIST) {
			a->list = &r->args[start[i]];
			a->count = n->count;
			a->str = "";
		} else {
			a->str = text + n->off;
			a->len = n->len;
		}
	}
	r->cmd.tag = text + r->tag_off;
	r->cmd.name = text + r->name_off;
	r->cmd.args = r->args;
	r->cmd.count = top;
	free(start);
	free(fill);
}

void imapcmd_tail_keep(imapcmd_reader *r, const char *data, size_t len)
{
	if (len >= IMAPCMD_TAIL) {
		memcpy(r->tail, data + len - IMAPCMD_TAIL, IMAPCMD_TAIL);
		r->tail_len = IMAPCMD_TAIL;
		return;
	}
	if (r->tail_len + len > IMAPCMD_TAIL) {
		size_t drop = r->tail_len + len - IMAPCMD_TAIL;

		memmove(r->tail, r->tail + drop, r->tail_len - drop);
		r->tail_len -= drop;
	}
	memcpy(r->tail + r->tail_len, data, len);
	r->tail_len += len;
}
