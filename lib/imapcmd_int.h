/* imapcmd_int.h: what imapcmd.c (the reader's input states) and
 * imapcmd_token.c (tokens of one line, the argument tree) share: the
 * reader's struct and the flat node list. Not for use outside lib/imapcmd*. */
#ifndef POSTERN_IMAPCMD_INT_H
#define POSTERN_IMAPCMD_INT_H

#include "buf.h"
#include "imapcmd.h"

/* Where the reader is in its input. */
enum imapcmd_state {
	RD_LINE,	 /* gathering a line up to LF */
	RD_LITERAL,	 /* taking literal_left bytes of an accepted literal */
	RD_SKIP_LINE,	 /* after an error: dropping bytes up to LF */
	RD_SKIP_LITERAL, /* after an error: dropping a non-synchronizing literal */
};

/* Where the tokeniser is in the command. */
enum imapcmd_phase { PH_TAG, PH_NAME, PH_ARGS };

/* One argument while the command is read; parent is an index or NO_PARENT. */
#define IMAPCMD_NO_PARENT ((size_t)-1)
struct imapcmd_node {
	enum imapcmd_arg_type type;
	size_t off, len; /* in r->text */
	size_t parent;
	bool streamed;
	size_t count; /* LIST: direct children */
	struct imapcmd_section *section;
};

/* The last bytes of a skipped line: enough for "{" 19 digits "+}" CR. */
#define IMAPCMD_TAIL 24

struct imapcmd_reader {
	struct imapcmd_limits limits, pending;
	enum imapcmd_state state;
	enum imapcmd_phase phase;
	bool finished;	   /* the last command is done: reset before more */
	bool fatal;	   /* gave up: every later feed says IMAPCMD_FATAL */
	buf *line;	   /* the line being gathered */
	buf *text;	   /* tag, name, strings: each ends in a NUL */
	size_t tag_off, name_off;
	struct imapcmd_node *nodes;
	size_t nnodes, nalloc;
	size_t *open; /* indices of the open lists */
	size_t depth, open_alloc;
	bool need_sep;	   /* a token ended: SP, ')' or the line end next */
	bool after_space;  /* an SP was read: a token must follow */
	uint64_t total;	   /* bytes of the command so far */
	uint64_t literal_left, literal_size;
	bool literal_sync, literal_nul_bad, literal_has_nul;
	size_t literal_node;
	bool pause_nonsync; /* stop at {n+} too (imapcmd_pause_nonsync) */
	imapcmd_sink_fn *sink; /* the literal being read is streamed to it */
	void *sink_ctx;
	uint64_t skipped;  /* bytes dropped since the error */
	char tail[IMAPCMD_TAIL];
	size_t tail_len;
	enum imapcmd_error error;
	buf *error_tag;
	bool error_has_tag;
	struct imapcmd cmd;
	struct imapcmd_arg *args;
};

/* imapcmd_tokenise: the tokens of one complete line (no line end) into
 * r's node list; a literal's announcement at its end sets r->state to
 * RD_LITERAL. Returns IMAPCMD_ERR_NONE or the error. */
enum imapcmd_error imapcmd_tokenise(imapcmd_reader *r, const char *line, size_t len);
/* imapcmd_literal_done: a literal's bytes are all in r->text; -1 if a
 * {n} literal held a NUL. */
int imapcmd_literal_done(imapcmd_reader *r);
/* imapcmd_build: the argument tree of r->cmd from the node list (as far
 * as it goes: also for a command still being read). */
void imapcmd_build(imapcmd_reader *r);
/* imapcmd_tail_keep: remember the last bytes of data (skip mode). */
void imapcmd_tail_keep(imapcmd_reader *r, const char *data, size_t len);
/* imapcmd_tag_char: a byte a tag may hold (ASTRING-CHAR but "+"). */
bool imapcmd_tag_char(unsigned char c);

#endif
