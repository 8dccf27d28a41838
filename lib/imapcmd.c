/* imapcmd.c: the incremental IMAP command reader. Input is gathered a line
 * at a time (a line ends at LF, or at a literal's announcement "{n}" before
 * it); each complete line is tokenised at once into a flat node list with
 * parent links, kept across the literals of one command, and turned into
 * the argument tree of struct imapcmd when the command's last line ends.
 * After an error the reader skips: to the line's end, then over the bytes
 * of a non-synchronizing literal announced there (the client sends those
 * whatever we say), and so on until a line ends without one; a
 * synchronizing literal we refused or never agreed to ends the command,
 * since its client waits for our "+". Tokens: imapcmd_token.c. */
#include "imapcmd.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapcmd_int.h"
#include "mem.h"

void imapcmd_limits_default(struct imapcmd_limits *l)
{
	l->max_line = IMAPCMD_MAX_LINE_DEFAULT;
	l->max_literal = IMAPCMD_MAX_LITERAL_DEFAULT;
	l->max_command = IMAPCMD_MAX_COMMAND_DEFAULT;
	l->max_depth = IMAPCMD_MAX_DEPTH_DEFAULT;
	l->max_tokens = IMAPCMD_MAX_TOKENS_DEFAULT;
	l->max_skip = IMAPCMD_MAX_SKIP_DEFAULT;
	l->nonsync = IMAPCMD_NONSYNC_PLUS;
	l->utf8_quoted = false;
}

imapcmd_reader *imapcmd_reader_new(const struct imapcmd_limits *limits)
{
	imapcmd_reader *r = xcalloc(1, sizeof(*r));

	if (limits != NULL)
		r->limits = *limits;
	else
		imapcmd_limits_default(&r->limits);
	r->pending = r->limits;
	r->line = buf_new(256);
	r->text = buf_new(256);
	r->error_tag = buf_new(16);
	r->state = RD_LINE;
	return r;
}

static void cmd_free_parsed(imapcmd_reader *r)
{
	for (size_t i = 0; i < r->nnodes; i++)
		imapcmd_section_free(&r->nodes[i].section);
	r->nnodes = 0;
	free(r->args);
	r->args = NULL;
}

void imapcmd_reader_free(imapcmd_reader **r)
{
	if (*r == NULL)
		return;
	cmd_free_parsed(*r);
	free((*r)->nodes);
	free((*r)->open);
	buf_free(&(*r)->line);
	buf_free(&(*r)->text);
	buf_free(&(*r)->error_tag);
	free(*r);
	*r = NULL;
}

void imapcmd_set_limits(imapcmd_reader *r, const struct imapcmd_limits *limits)
{
	r->pending = *limits;
	if (r->finished || (r->state == RD_LINE && r->phase == PH_TAG && buf_len(r->line) == 0))
		r->limits = *limits; /* between commands: at once */
}

/* cmd_reset: forget the last command and start a new one. */
static void cmd_reset(imapcmd_reader *r)
{
	cmd_free_parsed(r);
	r->limits = r->pending;
	buf_reset(r->line);
	buf_reset(r->text);
	r->phase = PH_TAG;
	r->depth = 0;
	r->need_sep = false;
	r->after_space = false;
	r->total = 0;
	r->skipped = 0;
	r->tail_len = 0;
	r->state = RD_LINE;
	r->finished = false;
	memset(&r->cmd, 0, sizeof(r->cmd));
}

/* cmd_tag_from: the tag at the start of a line, if the line has one. */
static void cmd_tag_from(imapcmd_reader *r, const char *line, size_t len)
{
	size_t n = 0;

	while (n < len && n < 64 && imapcmd_tag_char((unsigned char)line[n]))
		n++;
	if (n > 0 && n < len && line[n] == ' ')
		buf_append(r->error_tag, line, n);
}

/* cmd_fail: records an error; the tag is the command's if it was read. */
static void cmd_fail(imapcmd_reader *r, enum imapcmd_error code)
{
	r->error = code;
	buf_reset(r->error_tag);
	r->error_has_tag = false;
	if (r->phase != PH_TAG) {
		buf_puts(r->error_tag, buf_cstr(r->text) + r->tag_off);
	} else {
		cmd_tag_from(r, buf_cstr(r->line), buf_len(r->line));
	}
	r->error_has_tag = buf_len(r->error_tag) > 0;
}

/* tail_literal: whether the bytes end in a literal's announcement
 * ("{n}" or "{n+}", CR already gone): sets its size and kind. */
static bool tail_literal(const char *s, size_t len, uint64_t *size_r, bool *nonsync_r)
{
	size_t end = len, digits;
	uint64_t n = 0;

	if (end == 0 || s[end - 1] != '}')
		return false;
	end--;
	*nonsync_r = end > 0 && s[end - 1] == '+';
	if (*nonsync_r)
		end--;
	digits = end;
	while (end > 0 && s[end - 1] >= '0' && s[end - 1] <= '9')
		end--;
	if (end == digits || end == 0 || s[end - 1] != '{' || digits - end > 19)
		return false;
	for (size_t i = end; i < digits; i++)
		n = n * 10 + (uint64_t)(s[i] - '0');
	*size_r = n;
	return true;
}

/* cmd_resync: after an error in the line s[0..len) (complete, or its last
 * bytes in skip mode): skip the non-synchronizing literal it announces, or
 * end the command. When that skip would pass max_skip the reader gives up:
 * the error is still reported, and every later feed says IMAPCMD_FATAL. */
static enum imapcmd_status cmd_resync(imapcmd_reader *r, const char *s, size_t len)
{
	uint64_t size;
	bool nonsync;

	if (tail_literal(s, len, &size, &nonsync) && nonsync) {
		if (r->skipped > r->limits.max_skip || size > r->limits.max_skip - r->skipped) {
			r->fatal = true;
			return IMAPCMD_ERROR;
		}
		r->literal_left = size;
		r->state = RD_SKIP_LITERAL;
		return IMAPCMD_ERROR;
	}
	r->state = RD_LINE;
	r->finished = true;
	return IMAPCMD_ERROR;
}

/* cmd_line_error: an error found in a complete line. */
static enum imapcmd_status cmd_line_error(imapcmd_reader *r, enum imapcmd_error code)
{
	cmd_fail(r, code);
	return cmd_resync(r, buf_cstr(r->line), buf_len(r->line));
}

/* cmd_take_line: a whole line is in r->line (without its line end). */
static enum imapcmd_status cmd_take_line(imapcmd_reader *r)
{
	enum imapcmd_error code;
	size_t len = buf_len(r->line);

	if (len > 0 && buf_cstr(r->line)[len - 1] == '\r')
		buf_truncate(r->line, --len);
	if (len > r->limits.max_line)
		return cmd_line_error(r, IMAPCMD_ERR_LINE_TOO_LONG);
	code = imapcmd_tokenise(r, buf_cstr(r->line), len);
	if (code != IMAPCMD_ERR_NONE)
		return cmd_line_error(r, code);
	buf_reset(r->line);
	if (r->state == RD_LITERAL)
		return r->literal_sync || r->pause_nonsync ? IMAPCMD_CONTINUE : IMAPCMD_MORE;
	imapcmd_build(r);
	r->finished = true;
	return IMAPCMD_DONE;
}

/* line_cut: the line being gathered breaks a limit: drop it, keeping its
 * last bytes for cmd_resync, and skip to its end (at_lf: it ended here). */
static enum imapcmd_status line_cut(imapcmd_reader *r, enum imapcmd_error code, bool at_lf)
{
	cmd_fail(r, code);
	r->skipped = buf_len(r->line);
	imapcmd_tail_keep(r, buf_cstr(r->line), buf_len(r->line));
	buf_reset(r->line);
	r->state = RD_SKIP_LINE;
	if (!at_lf || r->skipped > r->limits.max_skip)
		return IMAPCMD_ERROR; /* feed_skip goes on, or says FATAL */
	if (r->tail_len > 0 && r->tail[r->tail_len - 1] == '\r')
		r->tail_len--;
	return cmd_resync(r, r->tail, r->tail_len);
}

/* feed_line: gather bytes up to a LF. */
static enum imapcmd_status feed_line(imapcmd_reader *r, const char *data, size_t len,
				     size_t *used)
{
	const char *lf = memchr(data, '\n', len);
	size_t n = lf != NULL ? (size_t)(lf - data) : len;

	buf_append(r->line, data, n);
	*used = lf != NULL ? n + 1 : n;
	r->total += *used;
	if (buf_len(r->line) > r->limits.max_line + 1)
		return line_cut(r, IMAPCMD_ERR_LINE_TOO_LONG, lf != NULL);
	if (r->total > r->limits.max_command && lf == NULL)
		return line_cut(r, IMAPCMD_ERR_COMMAND_TOO_BIG, false);
	if (lf == NULL)
		return IMAPCMD_MORE;
	if (r->total > r->limits.max_command)
		return cmd_line_error(r, IMAPCMD_ERR_COMMAND_TOO_BIG);
	return cmd_take_line(r);
}

/* feed_literal: the bytes of an accepted literal. */
static enum imapcmd_status feed_literal(imapcmd_reader *r, const char *data, size_t len,
					size_t *used)
{
	size_t n = len < r->literal_left ? len : (size_t)r->literal_left;

	if (r->literal_nul_bad && memchr(data, '\0', n) != NULL)
		r->literal_has_nul = true;
	if (r->sink != NULL)
		r->sink(r->sink_ctx, data, n);
	else
		buf_append(r->text, data, n);
	r->literal_left -= n;
	r->total += n;
	*used = n;
	if (r->literal_left == 0 && imapcmd_literal_done(r) != 0) {
		cmd_fail(r, IMAPCMD_ERR_LITERAL_NUL);
		r->tail_len = 0;
		r->state = RD_SKIP_LINE;
		return IMAPCMD_ERROR;
	}
	return IMAPCMD_MORE;
}

/* feed_skip: bytes of a refused command, up to a line end or over a
 * literal. */
static enum imapcmd_status feed_skip(imapcmd_reader *r, const char *data, size_t len, size_t *used)
{
	const char *lf;
	size_t n;

	if (r->skipped > r->limits.max_skip)
		return IMAPCMD_FATAL;
	if (r->state == RD_SKIP_LITERAL) {
		n = len < r->literal_left ? len : (size_t)r->literal_left;
		r->literal_left -= n;
		r->skipped += n;
		*used = n;
		if (r->literal_left == 0) {
			r->tail_len = 0;
			r->state = RD_SKIP_LINE;
		}
		return IMAPCMD_MORE;
	}
	lf = memchr(data, '\n', len);
	n = lf != NULL ? (size_t)(lf - data) : len;
	*used = lf != NULL ? n + 1 : n;
	r->skipped += *used;
	if (r->skipped > r->limits.max_skip)
		return IMAPCMD_FATAL;
	imapcmd_tail_keep(r, data, n);
	if (lf == NULL)
		return IMAPCMD_MORE;
	if (r->tail_len > 0 && r->tail[r->tail_len - 1] == '\r')
		r->tail_len--;
	cmd_resync(r, r->tail, r->tail_len); /* the error was reported already */
	return IMAPCMD_MORE;
}

enum imapcmd_status imapcmd_feed(imapcmd_reader *r, const char *data, size_t len, size_t *used_r)
{
	enum imapcmd_status st = IMAPCMD_MORE;
	size_t used = 0, n;

	if (r->fatal) {
		*used_r = 0;
		return IMAPCMD_FATAL;
	}
	while (st == IMAPCMD_MORE && !r->fatal &&
	       (used < len || (r->state == RD_LITERAL && r->literal_left == 0))) {
		if (r->finished)
			cmd_reset(r);
		n = 0;
		if (r->state == RD_LINE)
			st = feed_line(r, data + used, len - used, &n);
		else if (r->state == RD_LITERAL)
			st = feed_literal(r, data + used, len - used, &n);
		else
			st = feed_skip(r, data + used, len - used, &n);
		used += n;
	}
	*used_r = used;
	if (st == IMAPCMD_MORE && r->fatal)
		st = IMAPCMD_FATAL;
	if (st == IMAPCMD_FATAL)
		r->fatal = true;
	return st;
}

const struct imapcmd *imapcmd_partial(imapcmd_reader *r)
{
	imapcmd_build(r);
	return &r->cmd;
}

int imapcmd_refuse_literal(imapcmd_reader *r)
{
	if (r->state != RD_LITERAL || !r->literal_sync || r->literal_left != r->literal_size ||
	    r->finished)
		return -1;
	r->state = RD_LINE;
	r->finished = true;
	return 0;
}

int imapcmd_stream_literal(imapcmd_reader *r, imapcmd_sink_fn *sink, void *ctx)
{
	if (r->state != RD_LITERAL || r->literal_left != r->literal_size || r->finished)
		return -1;
	r->sink = sink;
	r->sink_ctx = ctx;
	return 0;
}

void imapcmd_pause_nonsync(imapcmd_reader *r, bool on)
{
	r->pause_nonsync = on;
}

bool imapcmd_literal_sync(const imapcmd_reader *r)
{
	return r->literal_sync;
}

const struct imapcmd *imapcmd_command(const imapcmd_reader *r)
{
	return &r->cmd;
}

const char *imapcmd_error_tag(const imapcmd_reader *r)
{
	return r->error_has_tag ? buf_cstr(r->error_tag) : NULL;
}

enum imapcmd_error imapcmd_error(const imapcmd_reader *r)
{
	return r->error;
}

size_t imapcmd_literal_size(const imapcmd_reader *r)
{
	return (size_t)r->literal_size;
}

const char *imapcmd_error_text(enum imapcmd_error code)
{
	static const char *const texts[] = {
		[IMAPCMD_ERR_NONE] = "No error",
		[IMAPCMD_ERR_EMPTY] = "Empty command line",
		[IMAPCMD_ERR_TAG] = "Missing or invalid tag",
		[IMAPCMD_ERR_NAME] = "Missing or invalid command name",
		[IMAPCMD_ERR_SPACE] = "Missing, extra or misplaced space",
		[IMAPCMD_ERR_CHAR] = "Invalid character in command",
		[IMAPCMD_ERR_QUOTED] = "Invalid or unterminated quoted string",
		[IMAPCMD_ERR_LITERAL] = "Invalid literal",
		[IMAPCMD_ERR_LITERAL_NUL] = "NUL in literal (use literal8)",
		[IMAPCMD_ERR_NONSYNC] = "Non-synchronizing literals are not supported",
		[IMAPCMD_ERR_LITERAL_TOO_BIG] = "[TOOBIG] Literal too big",
		[IMAPCMD_ERR_NONSYNC_TOO_BIG] = "[TOOBIG] Non-synchronizing literal over 4096 bytes (LITERAL-)",
		[IMAPCMD_ERR_PARENS] = "Unbalanced parentheses",
		[IMAPCMD_ERR_SECTION] = "Invalid section in fetch item",
		[IMAPCMD_ERR_LINE_TOO_LONG] = "Line too long",
		[IMAPCMD_ERR_COMMAND_TOO_BIG] = "[TOOBIG] Command too big",
		[IMAPCMD_ERR_TOO_DEEP] = "Lists nested too deeply",
		[IMAPCMD_ERR_TOO_MANY_TOKENS] = "Too many arguments",
	};

	if ((size_t)code >= sizeof(texts) / sizeof(texts[0]) || texts[code] == NULL)
		return "Invalid command";
	return texts[code];
}

bool imapcmd_is_astring(const struct imapcmd_arg *a)
{
	return a->type == IMAPCMD_ATOM || a->type == IMAPCMD_NIL || a->type == IMAPCMD_QUOTED ||
	       a->type == IMAPCMD_LITERAL;
}

bool imapcmd_is_atom(const struct imapcmd_arg *a, const char *word)
{
	return (a->type == IMAPCMD_ATOM || a->type == IMAPCMD_NIL) && strcasecmp(a->str, word) == 0;
}
