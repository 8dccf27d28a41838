/* test_imapsearch.c: unit tests for lib/imapsearch*: SEARCH commands read
 * by lib/imapcmd's reader run over a small folder of five messages held
 * by a fake source (flags, keywords, dates, sizes, MODSEQs, an encoded
 * subject, a base64 body, an attachment, an embedded message, a cached
 * header block), as a table of arguments and the expected reply; then the
 * refused commands (BAD, BADCHARSET), SAVE, what a program needs, the
 * cache use, a vanished message, case folding and Date: parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "imapcmd.h"
#include "imapdate.h"
#include "imapsearch.h"

/* 2024-06-01 00:00:00 UTC */
#define NOW ((time_t)1717200000)

static const char msg1[] = "From: Alice Example <alice@example.org>\n"
			   "To: bob@example.com\n"
			   "Subject: Hello world\n"
			   "Date: Wed, 10 Jan 2024 23:30:00 -0800\n"
			   "\n"
			   "plain text body about kittens\n";

static const char msg2[] = "From: =?ISO-8859-1?Q?J=F6rg?= <joerg@example.de>\n"
			   "To: alice@example.org\n"
			   "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4=?=\n"
			   "Date: 1 Feb 24 08:00 +0100\n"
			   "MIME-Version: 1.0\n"
			   "Content-Type: multipart/mixed; boundary=\"b1\"\n"
			   "\n"
			   "--b1\n"
			   "Content-Type: text/plain; charset=utf-8\n"
			   "Content-Transfer-Encoding: base64\n"
			   "\n"
			   "RGFzIFdldHRlciBpc3Qgc2Now7ZuIGhldXRl\n"
			   "--b1\n"
			   "Content-Type: application/octet-stream\n"
			   "Content-Transfer-Encoding: base64\n"
			   "\n"
			   "c2VjcmV0IGtpdHRlbnMgaW5zaWRl\n"
			   "--b1--\n";

static const char msg3[] = "From: carol@example.net\n"
			   "Cc: Dave <dave@example.net>\n"
			   "Subject: Fwd: inner\n"
			   "MIME-Version: 1.0\n"
			   "Content-Type: message/rfc822\n"
			   "\n"
			   "From: eve@example.com\n"
			   "Subject: inner subject\n"
			   "\n"
			   "deep needle here\n";

static const char msg4[] = "From: frank@example.com\n"
			   "Subject: draft\n"
			   "Date: Fri, 31 May 2024 23:59:00 +0000\n"
			   "\n"
			   "short\n";

static const char msg5[] = "From: gina@example.com\n"
			   "Subject: cached on disk\n"
			   "\n"
			   "ciao\n";

/* The cache has msg5's header block with a field the file lacks, so a
 * match on it proves the cache was read instead of the file. */
static const char msg5_cached[] = "From: gina@example.com\r\n"
				  "Subject: cached on disk\r\n"
				  "X-Cached: yes\r\n"
				  "\r\n";

struct fake {
	int data_calls, release_calls, store_calls;
	bool vanish; /* data() fails with ENOENT */
};

static struct fake fake;

static const char *const kw_junk[] = { "$Junk" };
static const char *const kw_work[] = { "Work", "$Forwarded" };

static int fake_cached(void *ctx, const struct imapmsg *m, enum imapmsg_field field, buf *out)
{
	(void)ctx;
	if (m->uid != 50 || field != IMAPMSG_HEADER)
		return 0;
	buf_puts(out, msg5_cached);
	return 1;
}

static void fake_store(void *ctx, const struct imapmsg *m, enum imapmsg_field field,
		       const char *value, size_t len)
{
	(void)ctx;
	(void)m;
	assert_int_equal(field, IMAPMSG_HEADER);
	assert_true(len > 2 && memcmp(value + len - 2, "\r\n", 2) == 0);
	fake.store_calls++;
}

static const char *const msg_texts[] = { msg1, msg2, msg3, msg4, msg5 };

static int fake_data(void *ctx, const struct imapmsg *m, const char **data_r, size_t *len_r)
{
	(void)ctx;
	fake.data_calls++;
	if (fake.vanish) {
		errno = ENOENT;
		return -1;
	}
	*data_r = msg_texts[m->seq - 1];
	*len_r = strlen(*data_r);
	return 0;
}

static void fake_release(void *ctx, const struct imapmsg *m)
{
	(void)ctx;
	(void)m;
	fake.release_calls++;
}

static const struct imapmsg_source fake_source = {
	.cached = fake_cached, .store = fake_store, .data = fake_data, .release = fake_release
};

/* day_time: noon UTC of a day. */
static time_t day_time(int y, int mo, int d)
{
	struct imapdate_day day = { y, mo, d };

	return (time_t)imapdate_day_number(&day) * 86400 + 12 * 3600;
}

static struct imapmsg box[5];

static void box_init(void)
{
	static const struct imapmsg init[5] = {
		{ 1, 10, IMAPMSG_SEEN, kw_junk, 1, 0, 500, 5, &fake_source, NULL },
		{ 2, 20, IMAPMSG_RECENT, kw_work, 2, 0, 1500, 9, &fake_source, NULL },
		{ 3, 30, IMAPMSG_DELETED | IMAPMSG_FLAGGED | IMAPMSG_ANSWERED, NULL, 0, 0, 3000, 3,
		  &fake_source, NULL },
		{ 4, 31, IMAPMSG_DRAFT | IMAPMSG_SEEN | IMAPMSG_RECENT, NULL, 0, 0, 100, 12,
		  &fake_source, NULL },
		{ 5, 50, 0, NULL, 0, 0, 200, 7, &fake_source, NULL },
	};

	memcpy(box, init, sizeof(box));
	box[0].internaldate = day_time(2024, 1, 11);
	box[1].internaldate = day_time(2024, 2, 1);
	box[2].internaldate = day_time(2024, 3, 5);
	box[3].internaldate = NOW - 100;
	box[4].internaldate = NOW - 3 * 86400;
	memset(&fake, 0, sizeof(fake));
}

/* read_cmd: "t SEARCH <args>" through the command reader. */
static imapcmd_reader *read_cmd(const char *args, bool uid)
{
	struct imapcmd_limits lim;
	imapcmd_reader *r;
	char line[2048];
	size_t used;

	imapcmd_limits_default(&lim);
	lim.utf8_quoted = true; /* UTF-8 in quoted strings, as after UTF8=ACCEPT */
	r = imapcmd_reader_new(&lim);

	snprintf(line, sizeof(line), "t %sSEARCH%s%s\r\n", uid ? "UID " : "", *args ? " " : "",
		 args);
	if (imapcmd_feed(r, line, strlen(line), &used) != IMAPCMD_DONE)
		fail_msg("reader refused: %s", line);
	return r;
}

static const struct imapcmd_arg *cmd_args(imapcmd_reader *r, size_t *count_r)
{
	const struct imapcmd *c = imapcmd_command(r);

	/* UID SEARCH: the reader's name is UID, SEARCH is the first argument */
	if (strcasecmp(c->name, "UID") == 0) {
		*count_r = c->count - 1;
		return c->args + 1;
	}
	*count_r = c->count;
	return c->args;
}

static struct imapsearch_box search_box(const imapseq *saved)
{
	struct imapsearch_box b = { 5, 50, saved, NOW, 0 };

	return b;
}

/* run_search: the reply to a command over the folder, or "BAD reason",
 * "NO ...". */
static void run_search(const char *args, bool uid, const imapseq *saved, buf *out)
{
	imapcmd_reader *r = read_cmd(args, uid);
	struct imapsearch_box b = search_box(saved);
	const struct imapcmd_arg *a;
	size_t count;
	imapsearch *p = NULL;
	const char *err = NULL;
	enum imapsearch_status st;

	a = cmd_args(r, &count);
	st = imapsearch_parse(a, count, uid, &b, &p, &err);
	if (st == IMAPSEARCH_BAD) {
		assert_null(p);
		buf_printf(out, "BAD %s", err);
	} else if (st == IMAPSEARCH_BADCHARSET) {
		assert_null(p);
		buf_printf(out, "NO %s", err);
	} else {
		for (size_t i = 0; i < 5; i++)
			assert_true(imapsearch_match(p, &box[i]) >= 0);
		imapsearch_format(p, "t", out);
		imapsearch_free(&p);
		assert_null(p);
	}
	imapcmd_reader_free(&r);
}

static const struct {
	const char *args;
	bool uid;
	const char *reply;
} cases[] = {
	{ "ALL", false, "* SEARCH 1 2 3 4 5\r\n" },
	{ "ALL", true, "* SEARCH 10 20 30 31 50\r\n" },
	{ "SEEN", false, "* SEARCH 1 4\r\n" },
	{ "UNSEEN", false, "* SEARCH 2 3 5\r\n" },
	{ "ANSWERED", false, "* SEARCH 3\r\n" },
	{ "UNANSWERED DELETED", false, "* SEARCH\r\n" },
	{ "DELETED FLAGGED", false, "* SEARCH 3\r\n" },
	{ "UNDELETED", false, "* SEARCH 1 2 4 5\r\n" },
	{ "DRAFT", false, "* SEARCH 4\r\n" },
	{ "UNDRAFT unflagged", false, "* SEARCH 1 2 5\r\n" },
	{ "RECENT", false, "* SEARCH 2 4\r\n" },
	{ "NEW", false, "* SEARCH 2\r\n" },
	{ "OLD", false, "* SEARCH 1 3 5\r\n" },
	{ "KEYWORD $junk", false, "* SEARCH 1\r\n" },
	{ "KEYWORD work", false, "* SEARCH 2\r\n" },
	{ "UNKEYWORD $Junk", false, "* SEARCH 2 3 4 5\r\n" },
	{ "KEYWORD \\Seen", false, "* SEARCH 1 4\r\n" },
	{ "KEYWORD nosuch", false, "* SEARCH\r\n" },
	{ "LARGER 500", false, "* SEARCH 2 3\r\n" },
	{ "SMALLER 500", false, "* SEARCH 4 5\r\n" },
	{ "LARGER 100 SMALLER 1500", false, "* SEARCH 1 5\r\n" },
	{ "2:4", false, "* SEARCH 2 3 4\r\n" },
	{ "4:*", false, "* SEARCH 4 5\r\n" },
	{ "*", true, "* SEARCH 50\r\n" },
	{ "1,3,5 SEEN", false, "* SEARCH 1\r\n" },
	{ "UID 20:31", false, "* SEARCH 2 3 4\r\n" },
	{ "UID 32:*", true, "* SEARCH 50\r\n" },
	{ "UID 999:*", true, "* SEARCH 50\r\n" }, /* RFC 3501: n:* holds the last UID */
	{ "OR SEEN DRAFT", false, "* SEARCH 1 4\r\n" },
	{ "OR DELETED OR DRAFT KEYWORD work", false, "* SEARCH 2 3 4\r\n" },
	{ "NOT SEEN", false, "* SEARCH 2 3 5\r\n" },
	{ "NOT NOT SEEN", false, "* SEARCH 1 4\r\n" },
	{ "(SEEN DRAFT)", false, "* SEARCH 4\r\n" },
	{ "OR (SEEN DRAFT) (DELETED)", false, "* SEARCH 3 4\r\n" },
	{ "NOT (OR 1 2)", false, "* SEARCH 3 4 5\r\n" },
	/* INTERNALDATE days, in UTC here */
	{ "BEFORE 1-Feb-2024", false, "* SEARCH 1\r\n" },
	{ "ON 1-Feb-2024", false, "* SEARCH 2\r\n" },
	{ "ON \"01-FEB-2024\"", false, "* SEARCH 2\r\n" },
	{ "SINCE 1-Feb-2024", false, "* SEARCH 2 3 4 5\r\n" },
	{ "SINCE 5-Mar-2024 BEFORE 1-Jun-2024", false, "* SEARCH 3 4 5\r\n" },
	/* the Date: header's own day: msg1 says 10 Jan in -0800 (11 Jan UTC);
	 * msg3 has none (its INTERNALDATE's day is taken); msg2 a 2-digit
	 * year */
	{ "SENTON 10-Jan-2024", false, "* SEARCH 1\r\n" },
	{ "SENTON 1-Feb-2024", false, "* SEARCH 2\r\n" },
	{ "SENTBEFORE 1-Feb-2024", false, "* SEARCH 1\r\n" },
	{ "SENTSINCE 5-Mar-2024", false, "* SEARCH 3 4 5\r\n" },
	{ "SENTON 31-May-2024", false, "* SEARCH 4\r\n" },
	/* WITHIN */
	{ "YOUNGER 3600", false, "* SEARCH 4\r\n" },
	{ "OLDER 3600", false, "* SEARCH 1 2 3 5\r\n" },
	{ "YOUNGER 300000", false, "* SEARCH 4 5\r\n" },
	/* MODSEQ */
	{ "MODSEQ 7", false, "* SEARCH 2 4 5 (MODSEQ 12)\r\n" },
	{ "MODSEQ \"/flags/\\\\draft\" all 9", false, "* SEARCH 2 4 (MODSEQ 12)\r\n" },
	{ "MODSEQ 100", false, "* SEARCH\r\n" },
	{ "MODSEQ 1 UID 10", true, "* SEARCH 10 (MODSEQ 5)\r\n" },
	/* headers */
	{ "FROM alice", false, "* SEARCH 1\r\n" },
	{ "FROM \"J\xc3\x96RG\"", false, "* SEARCH 2\r\n" }, /* encoded word, folded */
	{ "TO alice", false, "* SEARCH 2\r\n" },
	{ "CC dave", false, "* SEARCH 3\r\n" },
	{ "BCC dave", false, "* SEARCH\r\n" },
	{ "SUBJECT \"gr\xc3\xbc\xc3\x9f" "e\"", false, "* SEARCH 2\r\n" },
	{ "SUBJECT \"M\xc3\x9cNCHEN\"", false, "* SEARCH 2\r\n" },
	{ "SUBJECT inner", false, "* SEARCH 3\r\n" },
	{ "HEADER Date \"\"", false, "* SEARCH 1 2 4\r\n" },
	{ "HEADER content-type multipart", false, "* SEARCH 2\r\n" },
	{ "HEADER X-Cached \"\"", false, "* SEARCH 5\r\n" },
	{ "HEADER X-Cached YES", false, "* SEARCH 5\r\n" },
	/* body: decoded text parts only, embedded messages included */
	{ "BODY kittens", false, "* SEARCH 1\r\n" },
	{ "BODY \"SCH\xc3\x96N\"", false, "* SEARCH 2\r\n" },
	{ "BODY secret", false, "* SEARCH\r\n" },
	{ "BODY needle", false, "* SEARCH 3\r\n" },
	{ "BODY {6+}\r\nNEEDLE", false, "* SEARCH 3\r\n" },
	{ "BODY \"inner subject\"", false, "* SEARCH 3\r\n" },
	{ "BODY hello", false, "* SEARCH\r\n" },
	{ "TEXT hello", false, "* SEARCH 1\r\n" },
	{ "TEXT ciao", false, "* SEARCH 5\r\n" },
	{ "TEXT \"\"", false, "* SEARCH 1 2 3 4 5\r\n" },
	{ "CHARSET UTF-8 SUBJECT {8+}\r\nm\xc3\xbcnchen", false, "* SEARCH 2\r\n" },
	{ "CHARSET us-ascii SEEN", false, "* SEARCH 1 4\r\n" },
	/* ESEARCH */
	{ "RETURN () ALL", false, "* ESEARCH (TAG \"t\") ALL 1:5\r\n" },
	{ "RETURN (MIN MAX) UNSEEN", false, "* ESEARCH (TAG \"t\") MIN 2 MAX 5\r\n" },
	{ "RETURN (COUNT) UNSEEN", true, "* ESEARCH (TAG \"t\") UID COUNT 3\r\n" },
	{ "RETURN (ALL COUNT MIN) NOT 2", true,
	  "* ESEARCH (TAG \"t\") UID MIN 10 COUNT 4 ALL 10,30:31,50\r\n" },
	{ "RETURN (MIN MAX COUNT ALL) DRAFT DELETED", false, "* ESEARCH (TAG \"t\") COUNT 0\r\n" },
	{ "RETURN (SAVE) ALL", false, "" },
	{ "RETURN (SAVE MIN) ALL", false, "* ESEARCH (TAG \"t\") MIN 1\r\n" },
	{ "RETURN (MIN) MODSEQ 6", false, "* ESEARCH (TAG \"t\") MIN 2 MODSEQ 9\r\n" },
	{ "RETURN (MAX) MODSEQ 6", false, "* ESEARCH (TAG \"t\") MAX 5 MODSEQ 7\r\n" },
	{ "RETURN (MIN MAX) MODSEQ 6", false, "* ESEARCH (TAG \"t\") MIN 2 MAX 5 MODSEQ 9\r\n" },
	{ "RETURN (ALL) MODSEQ 6", false, "* ESEARCH (TAG \"t\") ALL 2,4:5 MODSEQ 12\r\n" },
	/* refused */
	{ "", false, "BAD Missing search key" },
	{ "FOO", false, "BAD Unknown search key" },
	{ "SUBJECT", false, "BAD Missing search string" },
	{ "SUBJECT (a)", false, "BAD Search string expected" },
	{ "BEFORE 31-Feb-2024", false, "BAD Invalid date" },
	{ "BEFORE (1-Feb-2024)", false, "BAD Invalid date" },
	{ "LARGER x", false, "BAD Invalid number" },
	{ "LARGER 99999999999999999999", false, "BAD Invalid number" },
	{ "OLDER 0", false, "BAD Invalid number" },
	{ "OR SEEN", false, "BAD Missing search key" },
	{ "NOT", false, "BAD Missing search key" },
	{ "()", false, "BAD Empty search key list" },
	{ "UID", false, "BAD Missing UID set" },
	{ "UID 1:x", false, "BAD Invalid sequence set" },
	{ "0", false, "BAD Invalid number in sequence set" },
	{ "KEYWORD (a)", false, "BAD Invalid keyword" },
	{ "HEADER \"a:b\" x", false, "BAD Invalid header field name" },
	{ "MODSEQ \"/flags/x\" weird 5", false, "BAD Invalid MODSEQ entry type" },
	{ "MODSEQ \"other\" all 5", false, "BAD Invalid MODSEQ entry name" },
	{ "RETURN (FOO) ALL", false, "BAD Unknown RETURN option" },
	{ "RETURN ALL", false, "BAD RETURN options must be a list" },
	{ "CHARSET", false, "BAD Missing charset" },
	{ "CHARSET UTF-8", false, "BAD Missing search key" },
	{ "CHARSET KOI8-R ALL", false, "NO " IMAPSEARCH_BADCHARSET_TEXT },
};

static void test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf *out = buf_new(64);

		box_init();
		run_search(cases[i].args, cases[i].uid, NULL, out);
		if (strcmp(buf_cstr(out), cases[i].reply) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].args, buf_cstr(out),
				 cases[i].reply);
		buf_free(&out);
	}
}

/* compile: a program for args, which must parse. */
static imapsearch *compile(const char *args, bool uid, const imapseq *saved)
{
	imapcmd_reader *r = read_cmd(args, uid);
	struct imapsearch_box b = search_box(saved);
	const struct imapcmd_arg *a;
	size_t count;
	imapsearch *p = NULL;

	a = cmd_args(r, &count);
	assert_int_equal(imapsearch_parse(a, count, uid, &b, &p, NULL), IMAPSEARCH_OK);
	imapcmd_reader_free(&r);
	return p;
}

static void run_all(imapsearch *p)
{
	for (size_t i = 0; i < 5; i++)
		assert_true(imapsearch_match(p, &box[i]) >= 0);
}

static void assert_set(const imapseq *set, const char *want)
{
	buf *b = buf_new(16);

	assert_non_null(set);
	imapseq_format(b, set);
	assert_string_equal(buf_cstr(b), want);
	buf_free(&b);
}

/* SAVE keeps UIDs; "$" then matches by UID in SEARCH and UID SEARCH. */
static void test_save(void **state)
{
	imapsearch *p;
	imapseq *saved = imapseq_new();
	buf *out = buf_new(64);

	(void)state;
	box_init();
	p = compile("RETURN (SAVE) UNSEEN", false, NULL);
	assert_true(imapsearch_saves(p));
	run_all(p);
	imapseq_add_set(saved, imapsearch_saved(p));
	imapsearch_free(&p);
	assert_set(saved, "20,30,50");

	run_search("$", false, saved, out);
	assert_string_equal(buf_cstr(out), "* SEARCH 2 3 5\r\n");
	buf_reset(out);
	run_search("UID $ SEEN", true, saved, out);
	assert_string_equal(buf_cstr(out), "* SEARCH\r\n");
	buf_reset(out);
	run_search("OR $ DRAFT", true, saved, out);
	assert_string_equal(buf_cstr(out), "* SEARCH 20 30 31 50\r\n");
	buf_reset(out);
	run_search("$", false, NULL, out); /* nothing saved: empty */
	assert_string_equal(buf_cstr(out), "* SEARCH\r\n");

	/* SAVE with MIN and MAX keeps those two only; without SAVE, NULL */
	p = compile("RETURN (SAVE MIN MAX) UNSEEN", false, NULL);
	run_all(p);
	assert_set(imapsearch_saved(p), "20,50");
	imapsearch_free(&p);
	p = compile("RETURN (SAVE MAX COUNT) UNSEEN", false, NULL);
	run_all(p);
	assert_set(imapsearch_saved(p), "20,30,50");
	imapsearch_free(&p);
	p = compile("RETURN (MIN) UNSEEN", false, NULL);
	run_all(p);
	assert_null(imapsearch_saved(p));
	assert_false(imapsearch_saves(p));
	imapsearch_free(&p);
	imapseq_free(&saved);
	buf_free(&out);
}

static void test_need(void **state)
{
	static const struct {
		const char *args;
		enum imapsearch_need need;
	} table[] = {
		{ "ALL", IMAPSEARCH_NEED_MEMORY },
		{ "SEEN LARGER 5 UID 1:* MODSEQ 3 YOUNGER 5 ON 1-Jan-2024", IMAPSEARCH_NEED_MEMORY },
		{ "SEEN SUBJECT x", IMAPSEARCH_NEED_HEADER },
		{ "NOT SENTON 1-Jan-2024", IMAPSEARCH_NEED_HEADER },
		{ "OR SEEN (DRAFT BODY x)", IMAPSEARCH_NEED_BODY },
		{ "TEXT x", IMAPSEARCH_NEED_BODY },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		imapsearch *p = compile(table[i].args, false, NULL);

		assert_int_equal(imapsearch_need(p), table[i].need);
		imapsearch_free(&p);
	}
}

/* Memory keys read no message; a failing memory key spares the header;
 * header keys use the cache when it has the block and otherwise store the
 * block they read; every data call is released. */
static void test_io(void **state)
{
	imapsearch *p;

	(void)state;
	box_init();
	p = compile("SEEN UID 1:* NOT DELETED", false, NULL);
	run_all(p);
	assert_int_equal(fake.data_calls, 0);
	imapsearch_free(&p);

	box_init();
	p = compile("SUBJECT hello SEEN", false, NULL); /* SEEN first: 1 and 4 */
	run_all(p);
	assert_int_equal(fake.data_calls, 2);
	assert_int_equal(fake.store_calls, 2);
	assert_int_equal(fake.release_calls, 2);
	assert_set(imapsearch_result(p), "1");
	imapsearch_free(&p);

	box_init();
	p = compile("UID 50 HEADER x-cached yes", false, NULL);
	run_all(p);
	assert_int_equal(fake.data_calls, 0);
	assert_set(imapsearch_result(p), "5");
	imapsearch_free(&p);

	box_init();
	/* one read per message, none for msg5: its cached header fails SUBJECT */
	p = compile("SUBJECT x BODY y TEXT z", false, NULL);
	run_all(p);
	assert_int_equal(fake.data_calls, 4);
	assert_int_equal(fake.release_calls, 4);
	imapsearch_free(&p);
}

/* A message whose bytes vanished: -1 with ENOENT, not a match, and the
 * next message still works. */
static void test_vanished(void **state)
{
	imapsearch *p;

	(void)state;
	box_init();
	p = compile("BODY kittens", false, NULL);
	fake.vanish = true;
	errno = 0;
	assert_int_equal(imapsearch_match(p, &box[0]), -1);
	assert_int_equal(errno, ENOENT);
	fake.vanish = false;
	assert_int_equal(imapsearch_match(p, &box[1]), 0);
	assert_int_equal(fake.release_calls, 1);
	assert_true(imapseq_is_empty(imapsearch_result(p)));
	imapsearch_free(&p);

	/* a source without data at all */
	box_init();
	box[0].source = NULL;
	p = compile("SUBJECT x", false, NULL);
	assert_int_equal(imapsearch_match(p, &box[0]), -1);
	assert_int_equal(imapsearch_match(p, &box[1]), 0);
	imapsearch_free(&p);
}

static void test_candidates(void **state)
{
	imapsearch *p;

	(void)state;
	p = compile("SEEN 2:3 UID 10:20", false, NULL);
	assert_set(imapsearch_candidates(p), "2:3");
	assert_set(imapsearch_uid_candidates(p), "10:20");
	imapsearch_free(&p);
	p = compile("OR 1 2", false, NULL);
	assert_null(imapsearch_candidates(p));
	assert_null(imapsearch_uid_candidates(p));
	imapsearch_free(&p);
}

/* The key and nesting limits. */
static void test_limits(void **state)
{
	buf *args = buf_new(8192), *out = buf_new(64);

	(void)state;
	for (size_t i = 0; i <= IMAPSEARCH_MAX_KEYS; i++)
		buf_puts(args, i > 0 ? " SEEN" : "SEEN");
	{
		imapcmd_reader *r = imapcmd_reader_new(NULL);
		buf *line = buf_new(8192);
		struct imapsearch_box b = search_box(NULL);
		imapsearch *p = NULL;
		const char *err = NULL;
		size_t used;

		buf_printf(line, "t SEARCH %s\r\n", buf_cstr(args));
		assert_int_equal(imapcmd_feed(r, buf_cstr(line), buf_len(line), &used),
				 IMAPCMD_DONE);
		assert_int_equal(imapsearch_parse(imapcmd_command(r)->args,
						  imapcmd_command(r)->count, false, &b, &p, &err),
				 IMAPSEARCH_BAD);
		assert_string_equal(err, "Too many search keys");
		imapcmd_reader_free(&r);
		buf_free(&line);
	}
	buf_reset(args);
	for (size_t i = 0; i < IMAPSEARCH_MAX_DEPTH + 1; i++)
		buf_puts(args, "NOT ");
	buf_puts(args, "SEEN");
	run_search(buf_cstr(args), false, NULL, out);
	assert_string_equal(buf_cstr(out), "BAD Search keys nested too deeply");
	buf_free(&args);
	buf_free(&out);
}

/* INTERNALDATE's day is taken in the box's zone: msg4 (31 May 23:58 UTC)
 * is on 1 June at UTC+10 and msg1 (11 Jan 12:00 UTC) on 10 January at
 * UTC-13; SENTON keeps the Date: header's day whatever the zone. */
static void test_zone(void **state)
{
	static const struct {
		const char *args;
		int zone;
		const char *set;
	} table[] = {
		{ "ON 31-May-2024", 0, "4" },
		{ "ON 1-Jun-2024", 600, "4" },
		{ "ON 31-May-2024", 600, "" },
		{ "ON 10-Jan-2024", -780, "1" },
		{ "SENTON 31-May-2024", 600, "4" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		imapcmd_reader *r = read_cmd(table[i].args, false);
		struct imapsearch_box b = search_box(NULL);
		const struct imapcmd_arg *a;
		size_t count;
		imapsearch *p = NULL;

		b.zone_minutes = table[i].zone;
		a = cmd_args(r, &count);
		assert_int_equal(imapsearch_parse(a, count, false, &b, &p, NULL), IMAPSEARCH_OK);
		box_init();
		run_all(p);
		assert_set(imapsearch_result(p), table[i].set);
		imapsearch_free(&p);
		imapcmd_reader_free(&r);
	}
}

/* An empty folder: "*" stands for no message, and replies are empty. */
static void test_empty_box(void **state)
{
	static const char *const args[] = { "*", "1:*", "UID *", "ALL" };

	(void)state;
	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		imapcmd_reader *r = read_cmd(args[i], false);
		struct imapsearch_box b = { 0, 0, NULL, NOW, 0 };
		const struct imapcmd_arg *a;
		size_t count;
		imapsearch *p = NULL;
		buf *out = buf_new(32);

		a = cmd_args(r, &count);
		assert_int_equal(imapsearch_parse(a, count, false, &b, &p, NULL), IMAPSEARCH_OK);
		imapsearch_format(p, "t", out);
		assert_string_equal(buf_cstr(out), "* SEARCH\r\n");
		imapsearch_free(&p);
		imapcmd_reader_free(&r);
		buf_free(&out);
	}
}

static void test_fold(void **state)
{
	static const struct {
		const char *in, *out;
	} table[] = {
		{ "Hello WORLD", "hello world" },
		{ "\xc3\x84\xc3\x96\xc3\x9c\xc3\x9f", "\xc3\xa4\xc3\xb6\xc3\xbc\xc3\x9f" }, /* ÄÖÜß */
		{ "\xc5\x81\xc3\x93" "D\xc5\xb9", "\xc5\x82\xc3\xb3" "d\xc5\xba" },	      /* ŁÓDŹ */
		{ "\xce\xa3\xce\x9f\xce\xa6\xce\x8f\xcf\x82",
		  "\xcf\x83\xce\xbf\xcf\x86\xcf\x8e\xcf\x83" }, /* ΣΟΦΏς */
		{ "\xd0\x9c\xd0\x9e\xd0\xa1\xd0\x9a\xd0\x92\xd0\x90 \xd0\x81",
		  "\xd0\xbc\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0 \xd1\x91" }, /* МОСКВА Ё */
		{ "A\xff\xc3" "B", "a\xff\xc3" "b" }, /* bad bytes kept */
		{ "ABCDEFG\xc3\x84HIJKLMNOPQRSTUV\xd0\x81WXYZ@[`{",
		  "abcdefg\xc3\xa4hijklmnopqrstuv\xd1\x91wxyz@[`{" },
		{ "\xe2\x82\xac\xf0\x9f\x98\x80", "\xe2\x82\xac\xf0\x9f\x98\x80" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		buf *b = buf_new(16);

		imapsearch_fold(table[i].in, strlen(table[i].in), b);
		assert_string_equal(buf_cstr(b), table[i].out);
		buf_free(&b);
	}
	/* every ASCII byte, in 8-byte words and one by one at every offset */
	for (size_t off = 0; off < 8; off++) {
		char in[160], want[160];
		buf *b = buf_new(160);

		memset(in, 'x', off);
		for (int c = 0; c < 128; c++)
			in[off + (size_t)c] = (char)c;
		for (size_t i = 0; i < off + 128; i++)
			want[i] = (char)tolower((unsigned char)in[i]);
		imapsearch_fold(in, off + 128, b);
		assert_int_equal(buf_len(b), off + 128);
		assert_memory_equal(buf_cstr(b), want, off + 128);
		buf_free(&b);
	}
	assert_true(imapsearch_text_contains("Grüße", strlen("Grüße"), "üß", strlen("üß")));
	assert_true(imapsearch_text_contains("GRÜSSE", strlen("GRÜSSE"), "üss", strlen("üss")));
	assert_false(imapsearch_text_contains("abc", 3, "abd", 3));
	assert_true(imapsearch_text_contains("abc", 3, "", 0));
}

static void test_sent_day(void **state)
{
	static const struct {
		const char *in;
		int y, m, d; /* y 0: no date */
	} table[] = {
		{ "Tue, 1 Jul 2003 10:52:37 +0200", 2003, 7, 1 },
		{ "1 Jul 2003 10:52:37 +0200", 2003, 7, 1 },
		{ "Thu, 31 Dec 2099 23:59:59 -1200", 2099, 12, 31 },
		{ "Mon, 02 feb 99 10:00 EST", 1999, 2, 2 },
		{ "02 Feb 49 10:00 EST", 2049, 2, 2 },
		{ "29 Feb 2024 00:00 +0000", 2024, 2, 29 },
		{ "Monday,  3 June 2024", 2024, 6, 3 },
		{ "29 Feb 2023 00:00 +0000", 0, 0, 0 },
		{ "32 Jan 2024", 0, 0, 0 },
		{ "1 Foo 2024", 0, 0, 0 },
		{ "yesterday", 0, 0, 0 },
		{ "", 0, 0, 0 },
		{ "Tue, Wed, 1 Jul 2003", 0, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		long day = -1;
		int r = imapsearch_sent_day(table[i].in, strlen(table[i].in), &day);

		if (table[i].y == 0) {
			if (r != -1)
				fail_msg("%s: parsed", table[i].in);
		} else {
			struct imapdate_day d = { table[i].y, table[i].m, table[i].d };

			if (r != 0 || day != imapdate_day_number(&d))
				fail_msg("%s: r %d day %ld", table[i].in, r, day);
		}
	}
}

/* A reply naming thousands of messages comes out the same whole
 * (imapsearch_format) and in pieces of any size (imapsearch_reply_next),
 * and no piece is much bigger than asked for. */
#define MANY 20000

static imapsearch *run_many(const char *args, bool uid)
{
	imapcmd_reader *r = read_cmd(args, uid);
	struct imapsearch_box b = { MANY, 2 * MANY, NULL, NOW, 0 };
	const struct imapcmd_arg *a;
	size_t count;
	imapsearch *p = NULL;

	a = cmd_args(r, &count);
	assert_int_equal(imapsearch_parse(a, count, uid, &b, &p, NULL), IMAPSEARCH_OK);
	imapcmd_reader_free(&r);
	for (uint32_t i = 1; i <= MANY; i++) {
		struct imapmsg m = { .seq = i, .uid = 2 * i, .flags = i % 2 ? IMAPMSG_SEEN : 0,
				     .size = 100, .modseq = i, .source = &fake_source };

		assert_true(imapsearch_match(p, &m) >= 0);
	}
	return p;
}

static void expect_pieces(imapsearch *p, size_t max, const char *whole)
{
	imapsearch_reply *r = imapsearch_reply_new(p, "t");
	buf *out = buf_new(64), *piece = buf_new(64);
	size_t pieces = 0;
	bool more;

	do {
		buf_reset(piece);
		more = imapsearch_reply_next(r, piece, max);
		assert_true(buf_len(piece) <= max + 64); /* one number or the head over */
		buf_append(out, buf_cstr(piece), buf_len(piece));
		pieces++;
	} while (more);
	assert_string_equal(buf_cstr(out), whole);
	if (max < strlen(whole) / 4)
		assert_true(pieces > 2);
	imapsearch_reply_free(&r);
	buf_free(&out);
	buf_free(&piece);
}

static void test_reply_pieces(void **state)
{
	static const char *const args[] = { "SEEN", "MODSEQ 1 UNSEEN", "RETURN (ALL COUNT) SEEN",
					    "RETURN (MIN MAX ALL) MODSEQ 5 SEEN", "1:*",
					    "RETURN () UNSEEN", "RETURN (SAVE) SEEN" };
	static const size_t sizes[] = { 1, 7, 100, 4096, 1 << 20 };

	(void)state;
	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		for (int uid = 0; uid < 2; uid++) {
			imapsearch *p = run_many(args[i], uid);
			buf *whole = buf_new(1024);

			imapsearch_format(p, "t", whole);
			if (i == 0 && !uid) { /* the reference, written out here */
				buf *want = buf_new(1024);

				buf_puts(want, "* SEARCH");
				for (uint32_t n = 1; n <= MANY; n += 2)
					buf_printf(want, " %u", n);
				buf_puts(want, "\r\n");
				assert_string_equal(buf_cstr(whole), buf_cstr(want));
				buf_free(&want);
			}
			for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
				expect_pieces(p, sizes[k], buf_cstr(whole));
			imapsearch_free(&p);
			buf_free(&whole);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),	  cmocka_unit_test(test_save),
		cmocka_unit_test(test_need),	  cmocka_unit_test(test_io),
		cmocka_unit_test(test_vanished),  cmocka_unit_test(test_candidates),
		cmocka_unit_test(test_limits),	  cmocka_unit_test(test_fold),
		cmocka_unit_test(test_sent_day),  cmocka_unit_test(test_zone),
		cmocka_unit_test(test_empty_box), cmocka_unit_test(test_reply_pieces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
