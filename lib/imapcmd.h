/* imapcmd.h: the IMAP command reader (RFC 3501 section 9 with RFC 7888's
 * LITERAL+ / LITERAL- and RFC 3516's literal8): fed the bytes a client
 * sends, it hands back one command at a time as a tag, a name and a tree
 * of arguments, tells its caller when to send "+" for a synchronizing
 * literal, refuses over-limit input with a code and a text for the BAD
 * reply, and then finds the start of the next command by itself. It does
 * no I/O and knows no command's own grammar beyond the FETCH section
 * atoms (imapcmd_section.c); sequence sets, dates and mailbox names are
 * imapseq.h, imapdate.h and mutf7.h. */
#ifndef POSTERN_IMAPCMD_H
#define POSTERN_IMAPCMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Defaults of struct imapcmd_limits (imapcmd_limits_default). */
#define IMAPCMD_MAX_LINE_DEFAULT (64 * 1024)	    /* one line, literals not counted */
#define IMAPCMD_MAX_LITERAL_DEFAULT 10240000	    /* APPENDLIMIT (message_size_limit) */
#define IMAPCMD_MAX_COMMAND_DEFAULT (IMAPCMD_MAX_LITERAL_DEFAULT + 1024 * 1024)
#define IMAPCMD_MAX_DEPTH_DEFAULT 16		    /* nested parenthesized lists */
#define IMAPCMD_MAX_TOKENS_DEFAULT 10000	    /* arguments, lists included */
#define IMAPCMD_MAX_SKIP_DEFAULT (16 * 1024 * 1024) /* resynchronising after an error */
/* RFC 7888: with LITERAL- a non-synchronizing literal may be this big. */
#define IMAPCMD_LITERAL_MINUS_MAX 4096
/* Part numbers in one section spec ("1.2.3"). */
#define IMAPCMD_MAX_SECTION_PARTS 32

/* Which non-synchronizing literals ("{n+}") the server announced. LITERAL-
 * uses the same "{n+}" form with a size cap; "{n-}" is no RFC syntax and is
 * refused as a malformed literal. */
enum imapcmd_nonsync {
	IMAPCMD_NONSYNC_NONE,  /* neither: "{n+}" is a syntax error */
	IMAPCMD_NONSYNC_PLUS,  /* LITERAL+: any size up to max_literal */
	IMAPCMD_NONSYNC_MINUS, /* LITERAL-: up to IMAPCMD_LITERAL_MINUS_MAX */
};

struct imapcmd_limits {
	size_t max_line;    /* bytes of one line (tag, atoms, literal headers) */
	size_t max_literal; /* bytes of one literal (the APPENDLIMIT) */
	size_t max_command; /* bytes of the whole command, literals included */
	size_t max_depth;   /* list nesting */
	size_t max_tokens;  /* arguments in all, lists counted */
	size_t max_skip;    /* bytes skipped after an error before giving up */
	enum imapcmd_nonsync nonsync;
	bool utf8_quoted;   /* well-formed UTF-8 in quoted strings (UTF8=ACCEPT) */
};

/* imapcmd_limits_default: fills *l with the defaults above, LITERAL+. */
void imapcmd_limits_default(struct imapcmd_limits *l);

enum imapcmd_arg_type {
	IMAPCMD_ATOM,	  /* also flags (\Seen), sequence sets, LIST patterns */
	IMAPCMD_NIL,	  /* the atom NIL, any case */
	IMAPCMD_QUOTED,	  /* "..." with its escapes undone */
	IMAPCMD_LITERAL,  /* {n}, {n+}, {n-}: no NUL inside */
	IMAPCMD_LITERAL8, /* ~{n}, ~{n+}: any bytes (RFC 3516) */
	IMAPCMD_LIST,	  /* ( ... ) */
};

struct imapcmd_section;

/* One argument. Strings (every type but LIST) have their bytes in str,
 * NUL-terminated, len long (a LITERAL8 may hold NULs). A LIST has its
 * elements in list[0..count). An ATOM of the FETCH form
 * BODY[...]<...>, BODY.PEEK[...], BINARY[...], BINARY.PEEK[...] or
 * BINARY.SIZE[...] has its section parsed in section (NULL otherwise). */
struct imapcmd_arg {
	enum imapcmd_arg_type type;
	const char *str;
	size_t len;
	const struct imapcmd_arg *list;
	size_t count;
	const struct imapcmd_section *section;
	bool streamed; /* a literal whose bytes went to a sink (str "", len 0) */
};

/* A whole command; valid until the next imapcmd_feed or _free. */
struct imapcmd {
	const char *tag;
	const char *name; /* as sent; compare without case */
	const struct imapcmd_arg *args;
	size_t count;
};

/* Results of imapcmd_feed. */
enum imapcmd_status {
	IMAPCMD_MORE,	  /* all input taken, the command is not complete */
	IMAPCMD_DONE,	  /* a command is complete: imapcmd_command */
	IMAPCMD_CONTINUE, /* send "+ ..." now, then feed the literal */
	IMAPCMD_ERROR,	  /* the command is refused: imapcmd_error; go on feeding */
	IMAPCMD_FATAL,	  /* cannot resynchronise: say BYE and close */
};

/* Error codes; imapcmd_error_text gives the reply text. */
enum imapcmd_error {
	IMAPCMD_ERR_NONE,
	IMAPCMD_ERR_EMPTY,	      /* an empty line */
	IMAPCMD_ERR_TAG,	      /* missing or invalid tag */
	IMAPCMD_ERR_NAME,	      /* missing or invalid command name */
	IMAPCMD_ERR_SPACE,	      /* missing, doubled or misplaced space */
	IMAPCMD_ERR_CHAR,	      /* a byte the grammar forbids (8-bit, control, ...) */
	IMAPCMD_ERR_QUOTED,	      /* bad escape, or a quoted string not closed */
	IMAPCMD_ERR_LITERAL,	      /* malformed {n} */
	IMAPCMD_ERR_LITERAL_NUL,      /* NUL inside a {n} literal */
	IMAPCMD_ERR_NONSYNC,	      /* {n+} without LITERAL+ / LITERAL- */
	IMAPCMD_ERR_LITERAL_TOO_BIG,  /* n over max_literal (TOOBIG) */
	IMAPCMD_ERR_NONSYNC_TOO_BIG,  /* {n+} over 4096 under LITERAL- (TOOBIG) */
	IMAPCMD_ERR_PARENS,	      /* unbalanced parentheses */
	IMAPCMD_ERR_SECTION,	      /* malformed BODY[...] / BINARY[...] */
	IMAPCMD_ERR_LINE_TOO_LONG,    /* a line over max_line */
	IMAPCMD_ERR_COMMAND_TOO_BIG,  /* a command over max_command */
	IMAPCMD_ERR_TOO_DEEP,	      /* lists nested deeper than max_depth */
	IMAPCMD_ERR_TOO_MANY_TOKENS,  /* more than max_tokens arguments */
};

typedef struct imapcmd_reader imapcmd_reader;

/* imapcmd_reader_new: a reader with a copy of *limits (NULL: defaults). */
imapcmd_reader *imapcmd_reader_new(const struct imapcmd_limits *limits);
void imapcmd_reader_free(imapcmd_reader **r);
/* imapcmd_set_limits: new limits from the next command on (after LOGIN,
 * ENABLE UTF8=ACCEPT, or a per-user APPENDLIMIT). */
void imapcmd_set_limits(imapcmd_reader *r, const struct imapcmd_limits *limits);

/* imapcmd_feed: reads from data[0..len) and sets *used_r to the bytes it
 * took; the caller keeps the rest for the next call (pipelined commands).
 * It stops after each result other than IMAPCMD_MORE:
 * - IMAPCMD_DONE: imapcmd_command gives the command.
 * - IMAPCMD_CONTINUE: a synchronizing literal was announced within the
 *   limits; the caller sends "+ Ready" and feeds the rest afterwards.
 * - IMAPCMD_ERROR: the command is refused; imapcmd_error_tag (NULL: reply
 *   untagged "* BAD"), imapcmd_error and imapcmd_error_text make the
 *   reply. The reader then skips the rest of the command by itself:
 *   literals it never agreed to are not expected, non-synchronizing ones
 *   are skipped by their announced size, and the next line starts a new
 *   command. A literal over the limits is refused before any byte of it.
 * - IMAPCMD_FATAL: the client sent, or announced, more than max_skip
 *   bytes of a broken command (a 100 MB line, a huge non-synchronizing
 *   literal): close. The command's ERROR always comes first; from then on
 *   every call says FATAL.
 * Bare LF is taken as a line end, like CRLF. */
enum imapcmd_status imapcmd_feed(imapcmd_reader *r, const char *data, size_t len, size_t *used_r);

/* imapcmd_command: the command of the last IMAPCMD_DONE. */
const struct imapcmd *imapcmd_command(const imapcmd_reader *r);
/* The last error: its tag (NULL if none was read), code and reply text
 * (starting with "[TOOBIG] " for the too-big literal codes). */
const char *imapcmd_error_tag(const imapcmd_reader *r);
enum imapcmd_error imapcmd_error(const imapcmd_reader *r);
const char *imapcmd_error_text(enum imapcmd_error code);
/* imapcmd_literal_size: the size of the literal a CONTINUE is about. */
size_t imapcmd_literal_size(const imapcmd_reader *r);
/* imapcmd_partial: after IMAPCMD_CONTINUE, the command so far (tag, name,
 * the arguments read, open lists as far as read), its last argument the
 * announced literal, still empty. The caller may look at it before it
 * sends "+" (APPEND to a missing mailbox, over quota) and then refuse.
 * Valid until the next call on the reader. */
const struct imapcmd *imapcmd_partial(imapcmd_reader *r);
/* imapcmd_refuse_literal: after IMAPCMD_CONTINUE, the caller answered the
 * command itself (tagged NO or BAD) instead of "+": the client sends none
 * of the literal, so the reader drops the command and the next line starts
 * a new one. Returns 0, or -1 when no synchronizing literal is waiting for
 * its first byte (nothing changes then). */
int imapcmd_refuse_literal(imapcmd_reader *r);

/* imapcmd_sink_fn: takes the next len bytes of a streamed literal. */
typedef void imapcmd_sink_fn(void *ctx, const char *data, size_t len);
/* imapcmd_stream_literal: after IMAPCMD_CONTINUE, before "+" is sent: the
 * literal's bytes go to sink as they arrive instead of into memory (an
 * APPEND's message written straight to a tmp file); its argument comes
 * with streamed set. The sink cannot stop the reading: on trouble (disk
 * full) it notes it in ctx and drops the rest, and the caller answers NO
 * when the command is done. A {n} literal holding a NUL still ends in
 * IMAPCMD_ERROR. Also for a non-synchronizing literal the reader stopped
 * at (imapcmd_pause_nonsync). Returns 0, or -1 when no literal is waiting
 * for its first byte. */
int imapcmd_stream_literal(imapcmd_reader *r, imapcmd_sink_fn *sink, void *ctx);
/* imapcmd_pause_nonsync: with on, the reader also stops with
 * IMAPCMD_CONTINUE at a non-synchronizing literal ({n+}) within the
 * limits, so the caller may stream it (imapcmd_stream_literal) rather
 * than have it gathered in memory; imapcmd_literal_sync then says false
 * and the caller sends no "+". Such a literal cannot be refused: the
 * client sends it anyway. Off by default. */
void imapcmd_pause_nonsync(imapcmd_reader *r, bool on);
/* imapcmd_literal_sync: after IMAPCMD_CONTINUE, whether the literal is a
 * synchronizing one (the caller must send "+"). */
bool imapcmd_literal_sync(const imapcmd_reader *r);

/* Helpers for command handlers. */
/* imapcmd_is_string: ATOM, NIL, QUOTED, LITERAL (an astring). */
bool imapcmd_is_astring(const struct imapcmd_arg *a);
/* imapcmd_is_atom: an ATOM (or NIL) equal to word, ignoring case. */
bool imapcmd_is_atom(const struct imapcmd_arg *a, const char *word);

/* FETCH section specs (imapcmd_section.c). */
enum imapcmd_fetch_item {
	IMAPCMD_ITEM_BODY,	  /* BODY[...] */
	IMAPCMD_ITEM_BODY_PEEK,	  /* BODY.PEEK[...] */
	IMAPCMD_ITEM_BINARY,	  /* BINARY[...] (RFC 3516) */
	IMAPCMD_ITEM_BINARY_PEEK, /* BINARY.PEEK[...] */
	IMAPCMD_ITEM_BINARY_SIZE, /* BINARY.SIZE[...], no partial */
};

enum imapcmd_section_text {
	IMAPCMD_TEXT_NONE,	     /* the whole part: BODY[] or BODY[1.2] */
	IMAPCMD_TEXT_HEADER,	     /* HEADER */
	IMAPCMD_TEXT_HEADER_FIELDS,  /* HEADER.FIELDS (list) */
	IMAPCMD_TEXT_HEADER_FIELDS_NOT,
	IMAPCMD_TEXT_TEXT,	     /* TEXT */
	IMAPCMD_TEXT_MIME,	     /* MIME, after part numbers only */
};

struct imapcmd_section {
	enum imapcmd_fetch_item item;
	uint32_t parts[IMAPCMD_MAX_SECTION_PARTS]; /* part numbers, >= 1 */
	size_t nparts;
	enum imapcmd_section_text text;
	char **fields; /* HEADER.FIELDS names, as sent (astrings undone) */
	size_t nfields;
	bool partial; /* <origin.length> given */
	uint32_t origin, length;
};

/* imapcmd_section_parse: parses a FETCH attribute text[0..len) of one of
 * the forms above (names in any case). Returns a new section (free with
 * imapcmd_section_free) or NULL with a static reason in *error_r (may be
 * NULL): unknown item, part number 0 or over 2^32-1, too many parts, an
 * unknown or misplaced text part (MIME without part numbers, any text part
 * for BINARY), an empty or malformed field list, a partial of length 0 or
 * one for BINARY.SIZE, or anything after the partial. */
struct imapcmd_section *imapcmd_section_parse(const char *text, size_t len, const char **error_r);
void imapcmd_section_free(struct imapcmd_section **s);
/* imapcmd_section_is_item: whether an atom starts with a section item name
 * and "[" (the reader then takes spaces and parentheses up to "]"). */
bool imapcmd_section_is_item(const char *text, size_t len);

#endif
