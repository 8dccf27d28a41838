/* test_imapcmd.c: unit tests for the IMAP command reader (lib/imapcmd.c,
 * imapcmd_token.c, imapcmd_section.c). A table of inputs (RFC 3501
 * examples, literals of every kind, the FETCH section atoms, each error
 * followed by a good command to show the reader resynchronises) runs
 * through the reader whole and a byte at a time, and must give the same
 * transcript of events both ways; then section specs, limits changed
 * between commands, error texts and the argument helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "imapcmd.h"

/* describe_arg: one argument in the transcripts' notation: atoms as sent,
 * <NIL>, "quoted", {n}literal, ~{n}literal8 (NUL shown as '.'), (lists). */
static void describe_arg(buf *out, const struct imapcmd_arg *a)
{
	switch (a->type) {
	case IMAPCMD_ATOM:
		buf_append(out, a->str, a->len);
		break;
	case IMAPCMD_NIL:
		buf_puts(out, "<NIL>");
		break;
	case IMAPCMD_QUOTED:
		buf_printf(out, "\"%s\"", a->str);
		break;
	case IMAPCMD_LITERAL:
	case IMAPCMD_LITERAL8:
		buf_printf(out, "%s{%zu}", a->type == IMAPCMD_LITERAL8 ? "~" : "", a->len);
		for (size_t i = 0; i < a->len; i++)
			buf_putc(out, a->str[i] == '\0' ? '.' : a->str[i]);
		assert_int_equal(a->str[a->len], '\0');
		break;
	case IMAPCMD_LIST:
		buf_putc(out, '(');
		for (size_t i = 0; i < a->count; i++) {
			if (i > 0)
				buf_putc(out, ' ');
			describe_arg(out, &a->list[i]);
		}
		buf_putc(out, ')');
		break;
	}
}

static const char *const code_names[] = {
	"NONE", "EMPTY", "TAG", "NAME", "SPACE", "CHAR", "QUOTED", "LITERAL", "LITERAL_NUL",
	"NONSYNC", "LITERAL_TOO_BIG", "NONSYNC_TOO_BIG", "PARENS", "SECTION", "LINE_TOO_LONG",
	"COMMAND_TOO_BIG", "TOO_DEEP", "TOO_MANY_TOKENS",
};

/* run: feeds input[0..len) in pieces of chunk bytes, keeping unused bytes
 * as a caller must, and writes one transcript line per event. */
static void run(imapcmd_reader *r, const char *input, size_t len, size_t chunk, buf *out)
{
	size_t start = 0, end = 0, used;
	enum imapcmd_status st;

	while (start < len) {
		if (end < start + 1 || end == start)
			end = start + chunk < len ? start + chunk : len;
		st = imapcmd_feed(r, input + start, end - start, &used);
		start += used;
		if (st == IMAPCMD_MORE) {
			assert_int_equal(start, end);
			end = start + chunk < len ? start + chunk : len;
			continue;
		}
		if (st == IMAPCMD_DONE) {
			const struct imapcmd *c = imapcmd_command(r);

			buf_printf(out, "DONE %s %s", c->tag, c->name);
			for (size_t i = 0; i < c->count; i++) {
				buf_putc(out, ' ');
				describe_arg(out, &c->args[i]);
			}
			buf_putc(out, '\n');
		} else if (st == IMAPCMD_CONTINUE) {
			buf_printf(out, "CONT %zu\n", imapcmd_literal_size(r));
		} else if (st == IMAPCMD_ERROR) {
			const char *tag = imapcmd_error_tag(r);

			buf_printf(out, "ERR %s %s\n", tag != NULL ? tag : "*", code_names[imapcmd_error(r)]);
		} else {
			buf_puts(out, "FATAL\n");
			return;
		}
		if (start == end)
			end = start + chunk < len ? start + chunk : len;
	}
}

struct reader_case {
	const char *input;
	size_t len; /* 0: strlen(input) */
	const char *transcript;
};

static void check_cases(const struct reader_case *cases, size_t n, const struct imapcmd_limits *l)
{
	buf *whole = buf_new(256), *bytes = buf_new(256);

	for (size_t i = 0; i < n; i++) {
		size_t len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].input);
		imapcmd_reader *r = imapcmd_reader_new(l);

		buf_reset(whole);
		buf_reset(bytes);
		run(r, cases[i].input, len, len, whole);
		imapcmd_reader_free(&r);
		r = imapcmd_reader_new(l);
		run(r, cases[i].input, len, 1, bytes);
		imapcmd_reader_free(&r);
		if (strcmp(buf_cstr(whole), cases[i].transcript) != 0 ||
		    strcmp(buf_cstr(bytes), cases[i].transcript) != 0)
			print_error("case %zu: %s\nwhole:\n%sbytes:\n%sexpected:\n%s", i, cases[i].input,
				    buf_cstr(whole), buf_cstr(bytes), cases[i].transcript);
		assert_string_equal(buf_cstr(whole), cases[i].transcript);
		assert_string_equal(buf_cstr(bytes), cases[i].transcript);
	}
	buf_free(&whole);
	buf_free(&bytes);
}

static const struct reader_case good_cases[] = {
	{ "a001 NOOP\r\n", 0, "DONE a001 NOOP\n" },
	{ "a001 capability\n", 0, "DONE a001 capability\n" },
	{ "a NOOP\r\nb NOOP\r\n", 0, "DONE a NOOP\nDONE b NOOP\n" },
	{ "a002 LOGIN fred \"p\\\"w\\\\d\"\r\n", 0, "DONE a002 LOGIN fred \"p\"w\\d\"\n" },
	{ "A003 APPEND saved-messages (\\Seen) {5}\r\nhello\r\n", 0,
	  "CONT 5\nDONE A003 APPEND saved-messages (\\Seen) {5}hello\n" },
	{ "A004 APPEND box (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {3}\r\nx\ny\r\n", 0,
	  "CONT 3\nDONE A004 APPEND box (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {3}x\ny\n" },
	{ "a LOGIN {4+}\r\nfred {3+}\r\npwd\r\n", 0, "DONE a LOGIN {4}fred {3}pwd\n" },
	{ "a LOGIN {4}\r\nfred {3}\r\npwd\r\n", 0, "CONT 4\nCONT 3\nDONE a LOGIN {4}fred {3}pwd\n" },
	{ "a LOGIN {0}\r\n {0}\r\n\r\n", 0, "CONT 0\nCONT 0\nDONE a LOGIN {0} {0}\n" },
	{ "a APPEND box ~{3}\r\na\0b\r\n", 25, "CONT 3\nDONE a APPEND box ~{3}a.b\n" },
	{ "a APPEND box ~{3+}\r\na\0b\r\n", 26, "DONE a APPEND box ~{3}a.b\n" },
	{ "a FETCH 1 (FLAGS (X (Y)) NIL nil \"NIL\")\r\n", 0,
	  "DONE a FETCH 1 (FLAGS (X (Y)) <NIL> <NIL> \"NIL\")\n" },
	{ "a X (a {3}\r\nb c d)\r\n", 0, "CONT 3\nDONE a X (a {3}b c d)\n" },
	{ "a X ({1}\r\n1)\r\n", 0, "CONT 1\nDONE a X ({1}1)\n" },
	{ "a STORE 2:4 +FLAGS.SILENT ()\r\n", 0, "DONE a STORE 2:4 +FLAGS.SILENT ()\n" },
	{ "a UID FETCH 1:*,$ (UID FLAGS BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100>)\r\n", 0,
	  "DONE a UID FETCH 1:*,$ (UID FLAGS BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100>)\n" },
	{ "a FETCH 1 (BODY[] BINARY[1.2] BINARY.SIZE[3] body[1.mime])\r\n", 0,
	  "DONE a FETCH 1 (BODY[] BINARY[1.2] BINARY.SIZE[3] body[1.mime])\n" },
	{ "a FETCH 1 BODY[HEADER.FIELDS.NOT (\"A)B\" C)]\r\n", 0,
	  "DONE a FETCH 1 BODY[HEADER.FIELDS.NOT (\"A)B\" C)]\n" },
	{ "a SELECT [Gmail]/Sent\r\n", 0, "DONE a SELECT [Gmail]/Sent\n" },
	{ "a LIST \"\" %\r\nb LIST \"\" *\r\n", 0, "DONE a LIST \"\" %\nDONE b LIST \"\" *\n" },
	{ "a SELECT \"\"\r\n", 0, "DONE a SELECT \"\"\n" },
	{ "a] NOOP\r\n", 0, "DONE a] NOOP\n" },
	{ "a SEARCH CHARSET UTF-8 SUBJECT {4+}\r\n\xc3\xa9t\xc3\r\n", 0,
	  "DONE a SEARCH CHARSET UTF-8 SUBJECT {4}\xc3\xa9t\xc3\n" },
	{ "a SEARCH OR (SEEN UNDELETED) NOT (FLAGGED)\r\n", 0,
	  "DONE a SEARCH OR (SEEN UNDELETED) NOT (FLAGGED)\n" },
	{ "a STORE 1 FLAGS (\\Seen \\Deleted $Label1)\r\n", 0,
	  "DONE a STORE 1 FLAGS (\\Seen \\Deleted $Label1)\n" },
	{ "a X \"tab\there\"\r\n", 0, "DONE a X \"tab\there\"\n" },
	/* RFC 3501 section 6 examples */
	{ "A142 SELECT INBOX\r\n", 0, "DONE A142 SELECT INBOX\n" },
	{ "A999 UID FETCH 4827313:4828442 FLAGS\r\n", 0, "DONE A999 UID FETCH 4827313:4828442 FLAGS\n" },
	{ "A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n", 0,
	  "DONE A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\n" },
	{ "A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\r\n", 0,
	  "DONE A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\n" },
	{ "A202 LIST ~/Mail/ %\r\n", 0, "DONE A202 LIST ~/Mail/ %\n" },
	{ "A042 STATUS blurdybloop (UIDNEXT MESSAGES)\r\n", 0,
	  "DONE A042 STATUS blurdybloop (UIDNEXT MESSAGES)\n" },
	{ "A003 COPY 2:4 MEETING\r\n", 0, "DONE A003 COPY 2:4 MEETING\n" },
	{ "a AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=\r\n", 0,
	  "DONE a AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=\n" },
	{ "A001 LOGIN SMITH SESAME\r\n", 0, "DONE A001 LOGIN SMITH SESAME\n" },
	{ "a ID (\"name\" \"sodr\" \"version\" \"19.34\")\r\n", 0,
	  "DONE a ID (\"name\" \"sodr\" \"version\" \"19.34\")\n" },
	{ "a ID NIL\r\n", 0, "DONE a ID <NIL>\n" },
	{ "a SELECT INBOX (CONDSTORE)\r\nb FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n", 0,
	  "DONE a SELECT INBOX (CONDSTORE)\nDONE b FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\n" },
	{ "a LIST (SUBSCRIBED) \"\" \"*\" RETURN (CHILDREN STATUS (MESSAGES))\r\n", 0,
	  "DONE a LIST (SUBSCRIBED) \"\" \"*\" RETURN (CHILDREN STATUS (MESSAGES))\n" },
};

static void test_good(void **state)
{
	(void)state;
	check_cases(good_cases, sizeof(good_cases) / sizeof(good_cases[0]), NULL);
}

/* Each error is followed by "b NOOP", which must come through. */
static const struct reader_case bad_cases[] = {
	{ "\r\nb NOOP\r\n", 0, "ERR * EMPTY\nDONE b NOOP\n" },
	{ "a\r\nb NOOP\r\n", 0, "ERR a NAME\nDONE b NOOP\n" },
	{ "a+ NOOP\r\nb NOOP\r\n", 0, "ERR * TAG\nDONE b NOOP\n" },
	{ " NOOP\r\nb NOOP\r\n", 0, "ERR * TAG\nDONE b NOOP\n" },
	{ "a(b NOOP\r\nb NOOP\r\n", 0, "ERR * TAG\nDONE b NOOP\n" },
	{ "a  NOOP\r\nb NOOP\r\n", 0, "ERR a NAME\nDONE b NOOP\n" },
	{ "a NO(OP\r\nb NOOP\r\n", 0, "ERR a NAME\nDONE b NOOP\n" },
	{ "a NOOP \r\nb NOOP\r\n", 0, "ERR a SPACE\nDONE b NOOP\n" },
	{ "a FOO  x\r\nb NOOP\r\n", 0, "ERR a SPACE\nDONE b NOOP\n" },
	{ "a FOO ( x)\r\nb NOOP\r\n", 0, "ERR a SPACE\nDONE b NOOP\n" },
	{ "a FOO (x )\r\nb NOOP\r\n", 0, "ERR a SPACE\nDONE b NOOP\n" },
	{ "a FOO \"x\"y\r\nb NOOP\r\n", 0, "ERR a SPACE\nDONE b NOOP\n" },
	{ "a FOO (x\r\nb NOOP\r\n", 0, "ERR a PARENS\nDONE b NOOP\n" },
	{ "a FOO x)\r\nb NOOP\r\n", 0, "ERR a PARENS\nDONE b NOOP\n" },
	{ "a FOO )\r\nb NOOP\r\n", 0, "ERR a PARENS\nDONE b NOOP\n" },
	{ "a FOO \"abc\r\nb NOOP\r\n", 0, "ERR a QUOTED\nDONE b NOOP\n" },
	{ "a FOO \"a\\bc\"\r\nb NOOP\r\n", 0, "ERR a QUOTED\nDONE b NOOP\n" },
	{ "a FOO \"caf\xc3\xa9\"\r\nb NOOP\r\n", 0, "ERR a CHAR\nDONE b NOOP\n" },
	{ "a FOO caf\xc3\xa9\r\nb NOOP\r\n", 0, "ERR a CHAR\nDONE b NOOP\n" },
	{ "a FOO x\x01y\r\nb NOOP\r\n", 0, "ERR a CHAR\nDONE b NOOP\n" },
	{ "a FOO \\\r\nb NOOP\r\n", 0, "ERR a CHAR\nDONE b NOOP\n" },
	{ "a FOO a\\b\r\nb NOOP\r\n", 0, "ERR a CHAR\nDONE b NOOP\n" },
	{ "a FOO {3x}\r\nb NOOP\r\n", 0, "ERR a LITERAL\nDONE b NOOP\n" },
	{ "a FOO {}\r\nb NOOP\r\n", 0, "ERR a LITERAL\nDONE b NOOP\n" },
	{ "a FOO {3} x\r\nb NOOP\r\n", 0, "ERR a LITERAL\nDONE b NOOP\n" },
	{ "a FOO {3-}\r\nb NOOP\r\n", 0, "ERR a LITERAL\nDONE b NOOP\n" },
	{ "a FOO {12345678901234567890}\r\nb NOOP\r\n", 0, "ERR a LITERAL\nDONE b NOOP\n" },
	{ "a X {3}\r\na\0b rest\r\nb NOOP\r\n", 28, "CONT 3\nERR a LITERAL_NUL\nDONE b NOOP\n" },
	{ "a X {2}\r\nab\"q\"\r\nb NOOP\r\n", 0, "CONT 2\nERR a SPACE\nDONE b NOOP\n" },
	{ "a FETCH 1 BODY[FOO]\r\nb NOOP\r\n", 0, "ERR a SECTION\nDONE b NOOP\n" },
	{ "a FETCH 1 BODY[HEADER.FIELDS (A B)\r\nb NOOP\r\n", 0, "ERR a SECTION\nDONE b NOOP\n" },
	{ "a FETCH 1 BINARY[1.TEXT]\r\nb NOOP\r\n", 0, "ERR a SECTION\nDONE b NOOP\n" },
	{ "a FETCH 1 BODY[]<0.0>\r\nb NOOP\r\n", 0, "ERR a SECTION\nDONE b NOOP\n" },
	{ "a FETCH 1 BODY[\xc3\xa9]\r\nb NOOP\r\n", 0, "ERR a CHAR\nDONE b NOOP\n" },
	/* a non-synchronizing literal in a bad command is skipped unread,
	 * even when it looks like commands */
	{ "a FOO \"open {8+}\r\nc NOOP\r\n\r\nb NOOP\r\n", 0, "ERR a QUOTED\nDONE b NOOP\n" },
	{ "a FOO ) {8+}\r\nc NOOP\r\n {3+}\r\nd\r\n\r\nb NOOP\r\n", 0, "ERR a PARENS\nDONE b NOOP\n" },
	/* a synchronizing one was never agreed to: the client waits */
	{ "a FOO ) {8}\r\nb NOOP\r\n", 0, "ERR a PARENS\nDONE b NOOP\n" },
};

static void test_bad(void **state)
{
	(void)state;
	check_cases(bad_cases, sizeof(bad_cases) / sizeof(bad_cases[0]), NULL);
}

static const struct reader_case limit_cases[] = {
	/* max_literal 100 */
	{ "a APPEND x {100}\r\nb NOOP\r\n", 0, "CONT 100\n" },
	{ "a APPEND x {101}\r\nb NOOP\r\n", 0, "ERR a LITERAL_TOO_BIG\nDONE b NOOP\n" },
	{ "a APPEND x {101+}\r\n"
	  "c NOOP\r\nc NOOP\r\nc NOOP\r\nc NOOP\r\nc NOOP\r\nc NOOP\r\nc NOOP\r\nc NOOP\r\n"
	  "c NOOP\r\nc NOOP\r\nc NOOP\r\nc NOO\r\n more {5+}\r\n12345\r\nb NOOP\r\n",
	  0, "ERR a LITERAL_TOO_BIG\nDONE b NOOP\n" },
	/* max_line 40 */
	{ "a X xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nb NOOP\r\n", 0,
	  "ERR a LINE_TOO_LONG\nDONE b NOOP\n" },
	{ "a X xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nb NOOP\r\n", 0, "DONE a X xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nDONE b NOOP\n" },
	{ "a X xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx {5+}\r\nc NO\r\nb NOOP\r\n", 0,
	  "ERR a LINE_TOO_LONG\nDONE b NOOP\n" },
	{ "a X y {2+}\r\nab xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nb NOOP\r\n", 0,
	  "ERR a LINE_TOO_LONG\nDONE b NOOP\n" },
	/* max_skip 200 */
	{ "a X xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nb NOOP\r\n",
	  0, "ERR a LINE_TOO_LONG\nFATAL\n" },
	{ "a X \"open {201+}\r\nb NOOP\r\n", 0, "ERR a QUOTED\nFATAL\n" },
	{ "a X " "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx {190+}\r\nb NOOP\r\n", 0,
	  "ERR a LINE_TOO_LONG\nFATAL\n" },
	/* max_command 150 */
	{ "a X {60}\r\n012345678901234567890123456789012345678901234567890123456789 {80}\r\n"
	  "b NOOP\r\n", 0, "CONT 60\nERR a COMMAND_TOO_BIG\nDONE b NOOP\n" },
	{ "a X {60}\r\n012345678901234567890123456789012345678901234567890123456789 {50}\r\n"
	  "01234567890123456789012345678901234567890123456789\r\nb NOOP\r\n", 0,
	  "CONT 60\nCONT 50\nDONE a X {60}012345678901234567890123456789012345678901234567890123456789 "
	  "{50}01234567890123456789012345678901234567890123456789\nDONE b NOOP\n" },
	/* max_depth 3 */
	{ "a X (((x)))\r\nb X ((((x))))\r\nb NOOP\r\n", 0, "DONE a X (((x)))\nERR b TOO_DEEP\nDONE b NOOP\n" },
	/* max_tokens 6 */
	{ "a X 1 2 3 4 5 6\r\nb NOOP\r\n", 0, "DONE a X 1 2 3 4 5 6\nDONE b NOOP\n" },
	{ "a X 1 2 3 4 5 6 7\r\nb NOOP\r\n", 0, "ERR a TOO_MANY_TOKENS\nDONE b NOOP\n" },
	{ "a X 1 (2 3 4 5) 6\r\nb NOOP\r\n", 0, "ERR a TOO_MANY_TOKENS\nDONE b NOOP\n" },
};

static void test_limits(void **state)
{
	struct imapcmd_limits l;

	(void)state;
	imapcmd_limits_default(&l);
	l.max_literal = 100;
	l.max_line = 40;
	l.max_skip = 200;
	l.max_command = 150;
	l.max_depth = 3;
	l.max_tokens = 6;
	check_cases(limit_cases, sizeof(limit_cases) / sizeof(limit_cases[0]), &l);
}

static const struct reader_case nonsync_none_cases[] = {
	{ "a LOGIN {3+}\r\nabc def\r\nb NOOP\r\n", 0, "ERR a NONSYNC\nDONE b NOOP\n" },
	{ "a LOGIN {3}\r\nabc def\r\nb NOOP\r\n", 0, "CONT 3\nDONE a LOGIN {3}abc def\nDONE b NOOP\n" },
};

static const struct reader_case nonsync_minus_cases[] = {
	{ "a LOGIN {4097+}\r\nb NOOP\r\n", 0, "ERR a NONSYNC_TOO_BIG\n" },
	{ "a LOGIN {1+}\r\nx {4096+}\r\n", 0, "" },
	{ "a LOGIN {2+}\r\nab {4097}\r\nb NOOP\r\n", 0, "CONT 4097\n" },
	{ "a X \"\xc3\xa9t\xc3\xa9\"\r\n", 0, "DONE a X \"\xc3\xa9t\xc3\xa9\"\n" },
	{ "a X \"\xc3t\"\r\nb NOOP\r\n", 0, "ERR a CHAR\nDONE b NOOP\n" },
	{ "a X \"\xed\xa0\x80\"\r\nb NOOP\r\n", 0, "ERR a CHAR\nDONE b NOOP\n" },
	{ "a X \xc3\xa9\r\nb NOOP\r\n", 0, "ERR a CHAR\nDONE b NOOP\n" },
};

static void test_nonsync(void **state)
{
	struct imapcmd_limits l;

	(void)state;
	imapcmd_limits_default(&l);
	l.nonsync = IMAPCMD_NONSYNC_NONE;
	check_cases(nonsync_none_cases, sizeof(nonsync_none_cases) / sizeof(nonsync_none_cases[0]), &l);
	l.nonsync = IMAPCMD_NONSYNC_MINUS;
	l.utf8_quoted = true;
	check_cases(nonsync_minus_cases, sizeof(nonsync_minus_cases) / sizeof(nonsync_minus_cases[0]), &l);
}

/* A non-synchronizing literal over 4096 bytes under LITERAL- is skipped:
 * its bytes never become a command. */
static void test_nonsync_minus_skip(void **state)
{
	struct imapcmd_limits l;
	imapcmd_reader *r;
	buf *input = buf_new(8192), *out = buf_new(64);

	(void)state;
	imapcmd_limits_default(&l);
	l.nonsync = IMAPCMD_NONSYNC_MINUS;
	r = imapcmd_reader_new(&l);
	buf_puts(input, "a APPEND box {5000+}\r\n");
	for (int i = 0; i < 500; i++)
		buf_puts(input, "c DELETE\r\n");
	buf_puts(input, "\r\nb NOOP\r\n");
	run(r, buf_cstr(input), buf_len(input), buf_len(input), out);
	assert_string_equal(buf_cstr(out), "ERR a NONSYNC_TOO_BIG\nDONE b NOOP\n");
	imapcmd_reader_free(&r);
	buf_free(&input);
	buf_free(&out);
}

/* New limits apply from the next command on. */
static void test_set_limits(void **state)
{
	struct imapcmd_limits l;
	imapcmd_reader *r = imapcmd_reader_new(NULL);
	buf *out = buf_new(64);
	static const char in[] = "a APPEND x {20}\r\n01234567890123456789\r\nb APPEND x {20}\r\n";

	(void)state;
	imapcmd_limits_default(&l);
	l.max_literal = 10;
	run(r, in, 17, 17, out); /* "a APPEND x {20}\r\n" */
	imapcmd_set_limits(r, &l);
	run(r, in + 17, sizeof(in) - 1 - 17, sizeof(in) - 1 - 17, out);
	assert_string_equal(buf_cstr(out), "CONT 20\nDONE a APPEND x {20}01234567890123456789\n"
					   "ERR b LITERAL_TOO_BIG\n");
	imapcmd_reader_free(&r);
	imapcmd_reader_free(&r);
	/* on a fresh reader, and half-way through a line */
	r = imapcmd_reader_new(NULL);
	imapcmd_set_limits(r, &l);
	buf_reset(out);
	run(r, in + 39, sizeof(in) - 1 - 39, 3, out);
	assert_string_equal(buf_cstr(out), "ERR b LITERAL_TOO_BIG\n");
	imapcmd_reader_free(&r);
	r = imapcmd_reader_new(NULL);
	buf_reset(out);
	run(r, in, 12, 12, out);
	imapcmd_set_limits(r, &l);
	run(r, in + 12, sizeof(in) - 1 - 12, 100, out);
	assert_string_equal(buf_cstr(out), "CONT 20\nDONE a APPEND x {20}01234567890123456789\n"
					   "ERR b LITERAL_TOO_BIG\n");
	imapcmd_reader_free(&r);
	buf_free(&out);
}

/* describe_section: a section in a compact notation for the table. */
static void describe_section(buf *out, const struct imapcmd_section *s)
{
	static const char *const items[] = { "BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE" };
	static const char *const texts[] = { "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME" };

	buf_printf(out, "%s parts=", items[s->item]);
	for (size_t i = 0; i < s->nparts; i++)
		buf_printf(out, "%s%u", i > 0 ? "." : "", s->parts[i]);
	buf_printf(out, " text=%s fields=", texts[s->text]);
	for (size_t i = 0; i < s->nfields; i++)
		buf_printf(out, "%s%s", i > 0 ? "," : "", s->fields[i]);
	if (s->partial)
		buf_printf(out, " <%u.%u>", s->origin, s->length);
}

static void test_section(void **state)
{
	static const struct {
		const char *text, *parsed;
	} cases[] = {
		{ "BODY[]", "BODY parts= text= fields=" },
		{ "body.peek[]<0.100>", "BODY.PEEK parts= text= fields= <0.100>" },
		{ "BODY[HEADER]", "BODY parts= text=HEADER fields=" },
		{ "BODY[TEXT]<5.4294967295>", "BODY parts= text=TEXT fields= <5.4294967295>" },
		{ "BODY[1.2.3]", "BODY parts=1.2.3 text= fields=" },
		{ "BODY[4.2.HEADER]", "BODY parts=4.2 text=HEADER fields=" },
		{ "BODY[3.MIME]", "BODY parts=3 text=MIME fields=" },
		{ "BODY[4.2.2.1.TEXT]", "BODY parts=4.2.2.1 text=TEXT fields=" },
		{ "BODY.PEEK[HEADER.FIELDS (DATE FROM)]", "BODY.PEEK parts= text=HEADER.FIELDS fields=DATE,FROM" },
		{ "BODY[1.HEADER.FIELDS.NOT (\"X-A\\\"\" Y)]", "BODY parts=1 text=HEADER.FIELDS.NOT fields=X-A\",Y" },
		{ "BINARY[]", "BINARY parts= text= fields=" },
		{ "BINARY.PEEK[1.2]<0.10>", "BINARY.PEEK parts=1.2 text= fields= <0.10>" },
		{ "binary.size[1]", "BINARY.SIZE parts=1 text= fields=" },
		{ "BODY[1.4294967295]", "BODY parts=1.4294967295 text= fields=" },
		{ "BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.25.26.27.28.29.30.31.32]",
		  "BODY parts=1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.25.26.27.28.29.30.31.32 text= fields=" },
		{ "BODY[", NULL },
		{ "BODY]", NULL },
		{ "RFC822[]", NULL },
		{ "BODY.PEEKX[]", NULL },
		{ "BODY[MIME]", NULL },
		{ "BODY[0]", NULL },
		{ "BODY[1.0]", NULL },
		{ "BODY[1.]", NULL },
		{ "BODY[.1]", NULL },
		{ "BODY[1..2]", NULL },
		{ "BODY[1HEADER]", NULL },
		{ "BODY[4294967296]", NULL },
		{ "BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.25.26.27.28.29.30.31.32.33]", NULL },
		{ "BODY[HEADERS]", NULL },
		{ "BODY[HEADER.FIELDS]", NULL },
		{ "BODY[HEADER.FIELDS ()]", NULL },
		{ "BODY[HEADER.FIELDS (A  B)]", NULL },
		{ "BODY[HEADER.FIELDS (A B) ]", NULL },
		{ "BODY[HEADER.FIELDS (A]", NULL },
		{ "BODY[TEXT (A)]", NULL },
		{ "BINARY[HEADER]", NULL },
		{ "BINARY[1.MIME]", NULL },
		{ "BINARY.SIZE[1]<0.1>", NULL },
		{ "BODY[]<0>", NULL },
		{ "BODY[]<0.0>", NULL },
		{ "BODY[]<.5>", NULL },
		{ "BODY[]<1.5>x", NULL },
		{ "BODY[]x", NULL },
		{ "BODY[]<4294967296.1>", NULL },
	};
	buf *out = buf_new(64);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *err = NULL;
		struct imapcmd_section *s = imapcmd_section_parse(cases[i].text, strlen(cases[i].text), &err);

		if (cases[i].parsed == NULL) {
			if (s != NULL)
				print_error("accepted: %s\n", cases[i].text);
			assert_null(s);
			assert_non_null(err);
			continue;
		}
		if (s == NULL)
			print_error("refused: %s (%s)\n", cases[i].text, err);
		assert_non_null(s);
		buf_reset(out);
		describe_section(out, s);
		assert_string_equal(buf_cstr(out), cases[i].parsed);
		imapcmd_section_free(&s);
		assert_null(s);
	}
	buf_free(&out);
}

/* The reader attaches the parsed section to the atom. */
static void test_section_in_command(void **state)
{
	imapcmd_reader *r = imapcmd_reader_new(NULL);
	static const char in[] = "a FETCH 1 (FLAGS BODY.PEEK[1.HEADER.FIELDS (A B)]<10.20>)\r\n";
	const struct imapcmd *c;
	const struct imapcmd_arg *items;
	size_t used;

	(void)state;
	assert_int_equal(imapcmd_feed(r, in, sizeof(in) - 1, &used), IMAPCMD_DONE);
	assert_int_equal(used, sizeof(in) - 1);
	c = imapcmd_command(r);
	assert_int_equal(c->count, 2);
	assert_int_equal(c->args[1].type, IMAPCMD_LIST);
	items = c->args[1].list;
	assert_int_equal(c->args[1].count, 2);
	assert_null(items[0].section);
	assert_non_null(items[1].section);
	assert_int_equal(items[1].section->item, IMAPCMD_ITEM_BODY_PEEK);
	assert_int_equal(items[1].section->nparts, 1);
	assert_int_equal(items[1].section->text, IMAPCMD_TEXT_HEADER_FIELDS);
	assert_int_equal(items[1].section->nfields, 2);
	assert_string_equal(items[1].section->fields[1], "B");
	assert_true(items[1].section->partial);
	assert_int_equal(items[1].section->origin, 10);
	assert_int_equal(items[1].section->length, 20);
	assert_true(imapcmd_is_atom(&items[0], "flags"));
	assert_false(imapcmd_is_atom(&items[0], "flag"));
	assert_true(imapcmd_is_astring(&c->args[0]));
	assert_false(imapcmd_is_astring(&c->args[1]));
	imapcmd_reader_free(&r);
}

/* feed stops after each command; the caller passes the rest again. */
static void test_pipelined_used(void **state)
{
	imapcmd_reader *r = imapcmd_reader_new(NULL);
	static const char in[] = "a NOOP\r\nb LOGIN {3}\r\nxyz\r\n";
	size_t used;

	(void)state;
	assert_int_equal(imapcmd_feed(r, in, sizeof(in) - 1, &used), IMAPCMD_DONE);
	assert_int_equal(used, 8);
	assert_string_equal(imapcmd_command(r)->tag, "a");
	assert_int_equal(imapcmd_feed(r, in + 8, sizeof(in) - 1 - 8, &used), IMAPCMD_CONTINUE);
	assert_int_equal(used, 13);
	assert_int_equal(imapcmd_literal_size(r), 3);
	assert_int_equal(imapcmd_feed(r, in + 21, 0, &used), IMAPCMD_MORE);
	assert_int_equal(imapcmd_feed(r, in + 21, sizeof(in) - 1 - 21, &used), IMAPCMD_DONE);
	assert_string_equal(imapcmd_command(r)->args[0].str, "xyz");
	assert_int_equal(imapcmd_feed(r, "", 0, &used), IMAPCMD_MORE);
	imapcmd_reader_free(&r);
}

/* The tag of a line cut off for its length is still known; FATAL stays. */
static void test_long_line_tag_fatal(void **state)
{
	struct imapcmd_limits l;
	imapcmd_reader *r;
	char line[100];
	size_t used;

	(void)state;
	imapcmd_limits_default(&l);
	l.max_line = 20;
	l.max_skip = 60;
	r = imapcmd_reader_new(&l);
	memset(line, 'x', sizeof(line));
	memcpy(line, "t9 APPEND ", 10);
	assert_int_equal(imapcmd_feed(r, line, 30, &used), IMAPCMD_ERROR);
	assert_string_equal(imapcmd_error_tag(r), "t9");
	assert_int_equal(imapcmd_error(r), IMAPCMD_ERR_LINE_TOO_LONG);
	assert_int_equal(imapcmd_feed(r, line + used, 20, &used), IMAPCMD_MORE);
	assert_int_equal(used, 20);
	assert_int_equal(imapcmd_feed(r, line, 50, &used), IMAPCMD_FATAL);
	assert_int_equal(imapcmd_feed(r, "b NOOP\r\n", 8, &used), IMAPCMD_FATAL);
	assert_int_equal(used, 0);
	imapcmd_reader_free(&r);
}

/* At a CONTINUE the command so far can be seen and refused. */
static void test_partial_refuse(void **state)
{
	imapcmd_reader *r = imapcmd_reader_new(NULL);
	static const char in[] = "a APPEND Nope (\\Seen (x)) {310}\r\nb NOOP\r\n";
	const struct imapcmd *c;
	size_t used;

	(void)state;
	assert_int_equal(imapcmd_refuse_literal(r), -1);
	assert_int_equal(imapcmd_feed(r, in, sizeof(in) - 1, &used), IMAPCMD_CONTINUE);
	c = imapcmd_partial(r);
	assert_string_equal(c->tag, "a");
	assert_string_equal(c->name, "APPEND");
	assert_int_equal(c->count, 3);
	assert_string_equal(c->args[0].str, "Nope");
	assert_int_equal(c->args[1].count, 2);
	assert_int_equal(c->args[1].list[1].list[0].type, IMAPCMD_ATOM);
	assert_int_equal(c->args[2].type, IMAPCMD_LITERAL);
	assert_int_equal(c->args[2].len, 0);
	assert_string_equal(c->args[2].str, "");
	assert_int_equal(imapcmd_literal_size(r), 310);
	assert_int_equal(imapcmd_refuse_literal(r), 0);
	assert_int_equal(imapcmd_refuse_literal(r), -1);
	assert_int_equal(imapcmd_feed(r, in + used, sizeof(in) - 1 - used, &used), IMAPCMD_DONE);
	assert_string_equal(imapcmd_command(r)->tag, "b");
	/* not once bytes of the literal came, nor for a non-synchronizing one */
	assert_int_equal(imapcmd_feed(r, "c X {3}\r\na", 11, &used), IMAPCMD_CONTINUE);
	assert_int_equal(imapcmd_feed(r, "a", 1, &used), IMAPCMD_MORE);
	assert_int_equal(imapcmd_refuse_literal(r), -1);
	assert_int_equal(imapcmd_feed(r, "bc\r\n", 4, &used), IMAPCMD_DONE);
	assert_string_equal(imapcmd_command(r)->args[0].str, "abc");
	assert_int_equal(imapcmd_feed(r, "d X {3+}\r\n", 11, &used), IMAPCMD_MORE);
	assert_int_equal(imapcmd_refuse_literal(r), -1);
	imapcmd_reader_free(&r);
}

static void sink_to_buf(void *ctx, const char *data, size_t len)
{
	buf_append(ctx, data, len);
}

/* A streamed literal's bytes go to the sink, in pieces as fed. */
static void test_stream(void **state)
{
	imapcmd_reader *r = imapcmd_reader_new(NULL);
	static const char in[] = "a APPEND box {10}\r\n0123456789 x\r\n";
	buf *got = buf_new(16);
	const struct imapcmd *c;
	size_t used, start;

	(void)state;
	assert_int_equal(imapcmd_stream_literal(r, sink_to_buf, got), -1);
	assert_int_equal(imapcmd_feed(r, in, sizeof(in) - 1, &used), IMAPCMD_CONTINUE);
	assert_int_equal(imapcmd_stream_literal(r, sink_to_buf, got), 0);
	for (start = used; start < 25; start += used)
		assert_int_equal(imapcmd_feed(r, in + start, 2, &used), IMAPCMD_MORE);
	assert_int_equal(buf_len(got), 6);
	assert_int_equal(imapcmd_feed(r, in + start, sizeof(in) - 1 - start, &used), IMAPCMD_DONE);
	assert_string_equal(buf_cstr(got), "0123456789");
	c = imapcmd_command(r);
	assert_int_equal(c->count, 3);
	assert_true(c->args[1].streamed);
	assert_int_equal(c->args[1].len, 0);
	assert_string_equal(c->args[1].str, "");
	assert_false(c->args[2].streamed);
	/* the next literal is kept in memory again; a NUL is still an error */
	buf_reset(got);
	assert_int_equal(imapcmd_feed(r, "b X {2}\r\n", 9, &used), IMAPCMD_CONTINUE);
	assert_int_equal(imapcmd_feed(r, "ab\r\n", 4, &used), IMAPCMD_DONE);
	assert_false(imapcmd_command(r)->args[0].streamed);
	assert_string_equal(imapcmd_command(r)->args[0].str, "ab");
	assert_int_equal(imapcmd_feed(r, "c X {2}\r\n", 9, &used), IMAPCMD_CONTINUE);
	assert_int_equal(imapcmd_stream_literal(r, sink_to_buf, got), 0);
	assert_int_equal(imapcmd_feed(r, "a\0\r\n", 4, &used), IMAPCMD_ERROR);
	assert_int_equal(imapcmd_error(r), IMAPCMD_ERR_LITERAL_NUL);
	assert_int_equal(buf_len(got), 2);
	assert_int_equal(used, 2);
	assert_int_equal(imapcmd_feed(r, "\r\nd NOOP\r\n", 10, &used), IMAPCMD_DONE);
	assert_string_equal(imapcmd_command(r)->tag, "d");
	buf_free(&got);
	imapcmd_reader_free(&r);
}

/* With imapcmd_pause_nonsync a {n+} literal stops the reader too, and
 * can be streamed; no "+" is due for it. */
static void test_stream_nonsync(void **state)
{
	imapcmd_reader *r = imapcmd_reader_new(NULL);
	static const char in[] = "a APPEND box {4+}\r\nabcd\r\nb NOOP\r\n";
	buf *got = buf_new(16);
	size_t used, start;

	(void)state;
	assert_int_equal(imapcmd_feed(r, in, sizeof(in) - 1, &used), IMAPCMD_DONE);
	assert_string_equal(imapcmd_command(r)->args[1].str, "abcd");
	start = used;
	assert_int_equal(imapcmd_feed(r, in + start, sizeof(in) - 1 - start, &used), IMAPCMD_DONE);
	imapcmd_pause_nonsync(r, true);
	assert_int_equal(imapcmd_feed(r, in, sizeof(in) - 1, &used), IMAPCMD_CONTINUE);
	assert_false(imapcmd_literal_sync(r));
	assert_int_equal(imapcmd_refuse_literal(r), -1);
	assert_int_equal(imapcmd_stream_literal(r, sink_to_buf, got), 0);
	start = used;
	assert_int_equal(imapcmd_feed(r, in + start, sizeof(in) - 1 - start, &used), IMAPCMD_DONE);
	assert_true(imapcmd_command(r)->args[1].streamed);
	assert_string_equal(buf_cstr(got), "abcd");
	start += used;
	assert_int_equal(imapcmd_feed(r, in + start, sizeof(in) - 1 - start, &used), IMAPCMD_DONE);
	assert_string_equal(imapcmd_command(r)->name, "NOOP");
	/* a synchronizing literal still says so */
	assert_int_equal(imapcmd_feed(r, "c X {2}\r\n", 9, &used), IMAPCMD_CONTINUE);
	assert_true(imapcmd_literal_sync(r));
	buf_free(&got);
	imapcmd_reader_free(&r);
}

static void test_error_texts(void **state)
{
	(void)state;
	for (int i = IMAPCMD_ERR_NONE; i <= IMAPCMD_ERR_TOO_MANY_TOKENS; i++) {
		const char *t = imapcmd_error_text((enum imapcmd_error)i);

		assert_non_null(t);
		for (int j = IMAPCMD_ERR_NONE; j < i; j++)
			assert_string_not_equal(t, imapcmd_error_text((enum imapcmd_error)j));
		assert_null(strchr(t, '\r'));
		assert_null(strchr(t, '\n'));
	}
	assert_string_equal(imapcmd_error_text(IMAPCMD_ERR_LITERAL_TOO_BIG), "[TOOBIG] Literal too big");
	assert_string_equal(imapcmd_error_text((enum imapcmd_error)999), "Invalid command");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_nonsync),
		cmocka_unit_test(test_nonsync_minus_skip),
		cmocka_unit_test(test_set_limits),
		cmocka_unit_test(test_section),
		cmocka_unit_test(test_section_in_command),
		cmocka_unit_test(test_pipelined_used),
		cmocka_unit_test(test_long_line_tag_fatal),
		cmocka_unit_test(test_partial_refuse),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_stream_nonsync),
		cmocka_unit_test(test_error_texts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
