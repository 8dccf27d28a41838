/* test_imapfetch.c: unit tests for lib/imapfetch*.c: FETCH item lists as
 * the command reader hands them (macros, sections, BINARY, CHANGEDSINCE,
 * the BAD cases), and replies rendered from a fake message source that
 * counts cache and data calls: cache hits read no bytes, misses are
 * computed and stored, partials count CRLF octets, BINARY decodes, bodies
 * stream in bounded chunks, vanished bytes are their own result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "imapcmd.h"
#include "imapfetch.h"
#include "mem.h"

/* A fake source: the message's bytes, optional cached values, counters. */
struct fake {
	const char *data;
	size_t len;
	int fail_errno;
	const char *cache[IMAPMSG_NFIELDS];
	int data_calls, release_calls, store_calls, ref_calls;
	char *stored[IMAPMSG_NFIELDS];
};

static int fake_cached(void *ctx, const struct imapmsg *m, enum imapmsg_field f, buf *out)
{
	struct fake *fk = ctx;

	(void)m;
	if (fk->cache[f] == NULL)
		return 0;
	buf_puts(out, fk->cache[f]);
	return 1;
}

static void fake_store(void *ctx, const struct imapmsg *m, enum imapmsg_field f,
		       const char *value, size_t len)
{
	struct fake *fk = ctx;

	(void)m;
	fk->store_calls++;
	free(fk->stored[f]);
	fk->stored[f] = xstrndup(value, len);
}

static int fake_data(void *ctx, const struct imapmsg *m, const char **data_r, size_t *len_r)
{
	struct fake *fk = ctx;

	(void)m;
	fk->data_calls++;
	if (fk->fail_errno != 0) {
		errno = fk->fail_errno;
		return -1;
	}
	*data_r = fk->data;
	*len_r = fk->len;
	return 0;
}

static void fake_release(void *ctx, const struct imapmsg *m)
{
	(void)m;
	((struct fake *)ctx)->release_calls++;
}

static const struct imapmsg_source fake_source = {
	.cached = fake_cached, .store = fake_store, .data = fake_data, .release = fake_release
};

/* fake_cached_ref: the cached value in place, as imapd's cache gives it. */
static int fake_cached_ref(void *ctx, const struct imapmsg *m, enum imapmsg_field f,
			   const char **val_r, size_t *len_r)
{
	struct fake *fk = ctx;

	(void)m;
	fk->ref_calls++;
	if (fk->cache[f] == NULL)
		return 0;
	*val_r = fk->cache[f];
	*len_r = strlen(fk->cache[f]);
	return 1;
}

static const struct imapmsg_source fake_ref_source = {
	.cached = fake_cached, .store = fake_store, .data = fake_data, .release = fake_release,
	.cached_ref = fake_cached_ref
};

static void fake_clear(struct fake *fk)
{
	for (int i = 0; i < IMAPMSG_NFIELDS; i++)
		free(fk->stored[i]);
}

static struct imapmsg msg_of(struct fake *fk, const char *data)
{
	struct imapmsg m = { 0 };

	fk->data = data;
	fk->len = strlen(data);
	m.seq = 3;
	m.uid = 42;
	m.flags = IMAPMSG_SEEN | IMAPMSG_FLAGGED;
	m.internaldate = 1700000000; /* 14-Nov-2023 22:13:20 UTC */
	m.size = 1234;
	m.modseq = 77;
	m.source = &fake_source;
	m.source_ctx = fk;
	return m;
}

/* parse: the FETCH items of a command line read by lib/imapcmd. */
static imapfetch_spec *parse(const char *line, bool uid, const char **error_r)
{
	imapcmd_reader *rd = imapcmd_reader_new(NULL);
	const struct imapcmd *cmd;
	imapfetch_spec *spec;
	size_t used, skip;

	assert_int_equal(imapcmd_feed(rd, line, strlen(line), &used), IMAPCMD_DONE);
	cmd = imapcmd_command(rd);
	skip = strcasecmp(cmd->name, "UID") == 0 ? 2 : 1;
	assert_true(cmd->count >= skip);
	spec = imapfetch_parse(cmd->args + skip, cmd->count - skip, uid, error_r);
	imapcmd_reader_free(&rd);
	return spec;
}

/* render: the reply to line for m, as one string. */
static char *render(const char *line, bool uid, const struct imapmsg *m, unsigned options,
		    enum imapfetch_result *result_r)
{
	imapfetch_spec *spec = parse(line, uid, NULL);
	buf *out = buf_new(256);

	assert_non_null(spec);
	*result_r = imapfetch_render_all(spec, m, options, out);
	imapfetch_spec_free(&spec);
	return buf_steal_free(&out);
}

static void check_reply(const char *line, bool uid, const struct imapmsg *m, const char *want)
{
	enum imapfetch_result result;
	char *got = render(line, uid, m, 0, &result);

	assert_int_equal(result, IMAPFETCH_OK);
	assert_string_equal(got, want);
	free(got);
}

static const char simple_msg[] = "From: a@b.test\n"
				 "Subject: hello\n"
				 "To: c@d.test\n"
				 "\n"
				 "line one\n"
				 "line two\n";

static const char multi_msg[] = "From: a@b.test\n"
				"Subject: parts\n"
				"MIME-Version: 1.0\n"
				"Content-Type: multipart/mixed; boundary=XX\n"
				"\n"
				"--XX\n"
				"Content-Type: text/plain\n"
				"\n"
				"first\n"
				"--XX\n"
				"Content-Type: application/octet-stream\n"
				"Content-Transfer-Encoding: base64\n"
				"\n"
				"AGFiYwBk\n"
				"--XX\n"
				"Content-Type: text/plain\n"
				"Content-Transfer-Encoding: quoted-printable\n"
				"\n"
				"caf=C3=A9 soft=\n"
				"break\n"
				"--XX\n"
				"Content-Type: text/plain\n"
				"Content-Transfer-Encoding: x-uuencode\n"
				"\n"
				"begin 644 x\n"
				"--XX--\n";

static void test_parse_errors(void **state)
{
	static const struct {
		const char *line;
		const char *error;
	} bad[] = {
		{ "a FETCH 1 ()\r\n", "Empty FETCH item list" },
		{ "a FETCH 1 (FLAGS ALL)\r\n", "FETCH macro inside a list" },
		{ "a FETCH 1 FOO\r\n", "Unknown FETCH item" },
		{ "a FETCH 1 \"FLAGS\"\r\n", "Invalid FETCH item" },
		{ "a FETCH 1\r\n", "Missing FETCH items" },
		{ "a FETCH 1 FLAGS (VANISHED)\r\n", "Unknown FETCH modifier" },
		{ "a FETCH 1 FLAGS (CHANGEDSINCE)\r\n", "Invalid CHANGEDSINCE value" },
		{ "a FETCH 1 FLAGS (CHANGEDSINCE x1)\r\n", "Invalid CHANGEDSINCE value" },
		{ "a FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775808)\r\n",
		  "Invalid CHANGEDSINCE value" },
		{ "a FETCH 1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)\r\n",
		  "Invalid CHANGEDSINCE value" },
		{ "a FETCH 1 FLAGS FLAGS FLAGS\r\n", "Too many FETCH arguments" },
		{ "a FETCH 1 FLAGS ()\r\n", "Invalid FETCH modifier list" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *error = NULL;

		assert_null(parse(bad[i].line, false, &error));
		assert_non_null(error);
		assert_string_equal(error, bad[i].error);
	}
}

static void test_parse_properties(void **state)
{
	static const struct {
		const char *line;
		bool seen;
		enum imapfetch_need need;
	} cases[] = {
		{ "a FETCH 1 FAST\r\n", false, IMAPFETCH_NEED_MEMORY },
		{ "a FETCH 1 (UID MODSEQ FLAGS)\r\n", false, IMAPFETCH_NEED_MEMORY },
		{ "a FETCH 1 ALL\r\n", false, IMAPFETCH_NEED_CACHE },
		{ "a FETCH 1 FULL\r\n", false, IMAPFETCH_NEED_CACHE },
		{ "a FETCH 1 BODY.PEEK[HEADER.FIELDS (From To)]\r\n", false, IMAPFETCH_NEED_CACHE },
		{ "a FETCH 1 RFC822.HEADER\r\n", false, IMAPFETCH_NEED_CACHE },
		{ "a FETCH 1 BODY[HEADER]\r\n", true, IMAPFETCH_NEED_CACHE },
		{ "a FETCH 1 BODY.PEEK[1.HEADER]\r\n", false, IMAPFETCH_NEED_DATA },
		{ "a FETCH 1 BODY.PEEK[]\r\n", false, IMAPFETCH_NEED_DATA },
		{ "a FETCH 1 BODY[]<0.10>\r\n", true, IMAPFETCH_NEED_DATA },
		{ "a FETCH 1 RFC822\r\n", true, IMAPFETCH_NEED_DATA },
		{ "a FETCH 1 RFC822.TEXT\r\n", true, IMAPFETCH_NEED_DATA },
		{ "a FETCH 1 BINARY[1]\r\n", true, IMAPFETCH_NEED_DATA },
		{ "a FETCH 1 BINARY.PEEK[1]\r\n", false, IMAPFETCH_NEED_DATA },
		{ "a FETCH 1 BINARY.SIZE[1]\r\n", false, IMAPFETCH_NEED_DATA },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		imapfetch_spec *spec = parse(cases[i].line, false, NULL);

		assert_non_null(spec);
		assert_int_equal(imapfetch_sets_seen(spec), cases[i].seen);
		assert_int_equal(imapfetch_need(spec), cases[i].need);
		assert_int_equal(imapfetch_changedsince(spec), 0);
		imapfetch_spec_free(&spec);
	}
}

static void test_changedsince(void **state)
{
	imapfetch_spec *spec = parse("a FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n", true, NULL);
	struct fake fk = { 0 };
	struct imapmsg m = msg_of(&fk, simple_msg);
	buf *out = buf_new(64);

	(void)state;
	assert_non_null(spec);
	assert_int_equal(imapfetch_changedsince(spec), 12345);
	assert_true(imapfetch_uses_modseq(spec));
	assert_int_equal(imapfetch_render_all(spec, &m, 0, out), IMAPFETCH_OK);
	assert_string_equal(buf_cstr(out), "* 3 FETCH (UID 42 FLAGS (\\Flagged \\Seen) MODSEQ (77))\r\n");
	assert_int_equal(fk.data_calls, 0);
	buf_free(&out);
	imapfetch_spec_free(&spec);
	spec = parse("a FETCH 1 FLAGS\r\n", false, NULL);
	assert_false(imapfetch_uses_modseq(spec));
	assert_int_equal(imapfetch_cache_fields(spec), 0);
	imapfetch_spec_free(&spec);
	spec = parse("a FETCH 1 (ENVELOPE BODY.PEEK[HEADER.FIELDS (A)] BODY[1])\r\n", false, NULL);
	assert_int_equal(imapfetch_cache_fields(spec),
			 (1u << IMAPMSG_ENVELOPE) | (1u << IMAPMSG_HEADER));
	imapfetch_spec_free(&spec);
	spec = parse("a FETCH 1 (BODYSTRUCTURE RFC822.HEADER BODY)\r\n", false, NULL);
	assert_int_equal(imapfetch_cache_fields(spec), (1u << IMAPMSG_BODYSTRUCTURE) |
								(1u << IMAPMSG_HEADER) |
								(1u << IMAPMSG_BODY));
	imapfetch_spec_free(&spec);
}

static void test_memory_items(void **state)
{
	struct fake fk = { 0 };
	struct imapmsg m = msg_of(&fk, simple_msg);
	static const char *const kw[] = { "$Junk", "work" };
	enum imapfetch_result result;
	char *got;

	(void)state;
	check_reply("a FETCH 3 FAST\r\n", false, &m,
		    "* 3 FETCH (FLAGS (\\Flagged \\Seen) INTERNALDATE \"14-Nov-2023 22:13:20 +0000\" "
		    "RFC822.SIZE 1234)\r\n");
	m.flags = IMAPMSG_ANSWERED | IMAPMSG_DELETED | IMAPMSG_DRAFT | IMAPMSG_RECENT |
		  IMAPMSG_PASSED;
	m.keywords = kw;
	m.nkeywords = 2;
	check_reply("a FETCH 3 (FLAGS UID FLAGS)\r\n", true, &m,
		    "* 3 FETCH (FLAGS (\\Answered \\Deleted \\Draft \\Recent $Junk work) UID 42)\r\n");
	m.flags = IMAPMSG_SEEN;
	m.nkeywords = 0;
	got = render("a FETCH 3 UID\r\n", false, &m, IMAPFETCH_RENDER_FLAGS, &result);
	assert_string_equal(got, "* 3 FETCH (UID 42 FLAGS (\\Seen))\r\n");
	free(got);
	got = render("a FETCH 3 (FLAGS UID)\r\n", false, &m,
		     IMAPFETCH_RENDER_FLAGS | IMAPFETCH_RENDER_MODSEQ, &result);
	assert_string_equal(got, "* 3 FETCH (FLAGS (\\Seen) UID 42 MODSEQ (77))\r\n");
	free(got);
	got = render("a FETCH 3 (MODSEQ)\r\n", false, &m, IMAPFETCH_RENDER_MODSEQ, &result);
	assert_string_equal(got, "* 3 FETCH (MODSEQ (77))\r\n");
	free(got);
	check_reply("a FETCH 3 MODSEQ\r\n", false, &m, "* 3 FETCH (MODSEQ (77))\r\n");
	assert_int_equal(fk.data_calls, 0);
}

static void test_cache_hit_and_miss(void **state)
{
	struct fake fk = { 0 };
	struct imapmsg m = msg_of(&fk, simple_msg);

	(void)state;
	fk.cache[IMAPMSG_ENVELOPE] = "(CACHED)";
	check_reply("a FETCH 3 ENVELOPE\r\n", false, &m, "* 3 FETCH (ENVELOPE (CACHED))\r\n");
	assert_int_equal(fk.data_calls, 0);
	assert_int_equal(fk.store_calls, 0);
	fk.cache[IMAPMSG_ENVELOPE] = NULL;
	check_reply("a FETCH 3 (ENVELOPE BODY)\r\n", false, &m,
		    "* 3 FETCH (ENVELOPE (NIL \"hello\" ((NIL NIL \"a\" \"b.test\")) "
		    "((NIL NIL \"a\" \"b.test\")) ((NIL NIL \"a\" \"b.test\")) "
		    "((NIL NIL \"c\" \"d.test\")) NIL NIL NIL NIL) "
		    "BODY (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 20 2))\r\n");
	assert_int_equal(fk.data_calls, 1);
	assert_int_equal(fk.release_calls, 1);
	assert_int_equal(fk.store_calls, 2);
	assert_non_null(fk.stored[IMAPMSG_ENVELOPE]);
	assert_string_equal(fk.stored[IMAPMSG_BODY],
			    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 20 2)");
	fake_clear(&fk);
}

static void test_header_from_cache(void **state)
{
	struct fake fk = { 0 };
	struct imapmsg m = msg_of(&fk, simple_msg);

	(void)state;
	fk.cache[IMAPMSG_HEADER] = "Subject: cached\r\nX-A: 1\r\n\r\n";
	check_reply("a FETCH 3 BODY.PEEK[HEADER.FIELDS (SUBJECT)]\r\n", false, &m,
		    "* 3 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {19}\r\nSubject: cached\r\n\r\n)\r\n");
	check_reply("a FETCH 3 BODY.PEEK[HEADER.FIELDS.NOT (Subject)]<0.4>\r\n", false, &m,
		    "* 3 FETCH (BODY[HEADER.FIELDS.NOT (Subject)]<0> {4}\r\nX-A:)\r\n");
	check_reply("a FETCH 3 RFC822.HEADER\r\n", false, &m,
		    "* 3 FETCH (RFC822.HEADER {27}\r\nSubject: cached\r\nX-A: 1\r\n\r\n)\r\n");
	assert_int_equal(fk.data_calls, 0);
	fk.cache[IMAPMSG_HEADER] = NULL;
	check_reply("a FETCH 3 BODY[HEADER]\r\n", false, &m,
		    "* 3 FETCH (BODY[HEADER] {48}\r\nFrom: a@b.test\r\nSubject: hello\r\n"
		    "To: c@d.test\r\n\r\n)\r\n");
	assert_int_equal(fk.data_calls, 1);
	assert_string_equal(fk.stored[IMAPMSG_HEADER],
			    "From: a@b.test\r\nSubject: hello\r\nTo: c@d.test\r\n\r\n");
	fake_clear(&fk);
}

/* test_header_in_place: a source that lends its cached header block
 * (cached_ref) gives the same replies as one that copies it, on a hit and
 * on a miss, several header items in one FETCH too. */
static void test_header_in_place(void **state)
{
	static const char *const lines[] = {
		"a FETCH 3 BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)]\r\n",
		"a FETCH 3 (BODY.PEEK[HEADER.FIELDS.NOT (X-A)]<2.30> RFC822.HEADER UID)\r\n",
		"a FETCH 3 (BODY[HEADER] BODY[HEADER.FIELDS (x-a subject)] ENVELOPE)\r\n",
	};
	static const char hdr[] = "Subject: cached\r\nX-A: 1\r\n  folded\r\nFrom: z@y\r\n\r\n";

	(void)state;
	for (int hit = 0; hit < 2; hit++) {
		for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
			struct fake copy = { 0 }, ref = { 0 };
			struct imapmsg mc = msg_of(&copy, simple_msg), mr = msg_of(&ref, simple_msg);
			enum imapfetch_result rc, rr;
			char *want, *got;

			mr.source = &fake_ref_source;
			copy.cache[IMAPMSG_HEADER] = ref.cache[IMAPMSG_HEADER] = hit ? hdr : NULL;
			copy.cache[IMAPMSG_ENVELOPE] = ref.cache[IMAPMSG_ENVELOPE] = "(E)";
			want = render(lines[i], false, &mc, 0, &rc);
			got = render(lines[i], false, &mr, 0, &rr);
			assert_int_equal(rc, IMAPFETCH_OK);
			assert_int_equal(rr, IMAPFETCH_OK);
			assert_string_equal(got, want);
			assert_true(ref.ref_calls > 0);
			assert_int_equal(ref.data_calls, hit ? 0 : 1);
			if (hit)
				assert_non_null(strstr(got, "cached"));
			free(want);
			free(got);
			fake_clear(&copy);
			fake_clear(&ref);
		}
	}
}

/* test_render_reuse: renders follow each other (the finished one is
 * reused): a big reply, then small ones, then one left unfinished while
 * another is made, all as rendered alone. */
static void test_render_reuse(void **state)
{
	struct fake fk = { 0 };
	struct imapmsg m = msg_of(&fk, multi_msg);
	imapfetch_spec *big = parse("a FETCH 3 (BODY[] BODY[HEADER] FLAGS BODY[1])\r\n", false,
				    NULL);
	imapfetch_spec *small = parse("a FETCH 3 (UID BODY.PEEK[HEADER.FIELDS (FROM)])\r\n",
				      false, NULL);
	buf *first = buf_new(256), *again = buf_new(256), *part = buf_new(256);
	enum imapfetch_result res;
	imapfetch_render *held;

	(void)state;
	assert_int_equal(imapfetch_render_all(small, &m, 0, first), IMAPFETCH_OK);
	for (int i = 0; i < 3; i++) {
		buf_reset(again);
		assert_int_equal(imapfetch_render_all(big, &m, 0, again), IMAPFETCH_OK);
		assert_non_null(strstr(buf_cstr(again), "BODY[1] {"));
		buf_reset(again);
		assert_int_equal(imapfetch_render_all(small, &m, IMAPFETCH_RENDER_FLAGS, again),
				 IMAPFETCH_OK);
		assert_non_null(strstr(buf_cstr(again), " FLAGS (\\Flagged \\Seen))\r\n"));
		buf_reset(again);
		assert_int_equal(imapfetch_render_all(small, &m, 0, again), IMAPFETCH_OK);
		assert_string_equal(buf_cstr(again), buf_cstr(first));
	}
	held = imapfetch_render_begin(small, &m, 0, &res);
	assert_int_equal(imapfetch_render_next(held, part, 5), 1);
	buf_reset(again);
	assert_int_equal(imapfetch_render_all(big, &m, 0, again), IMAPFETCH_OK);
	while (imapfetch_render_next(held, part, 5))
		;
	imapfetch_render_end(&held);
	assert_string_equal(buf_cstr(part), buf_cstr(first));
	buf_free(&first);
	buf_free(&again);
	buf_free(&part);
	imapfetch_spec_free(&big);
	imapfetch_spec_free(&small);
	fake_clear(&fk);
}

static void test_sections(void **state)
{
	struct fake fk = { 0 };
	struct imapmsg m = msg_of(&fk, simple_msg);

	(void)state;
	check_reply("a FETCH 3 BODY[TEXT]\r\n", false, &m,
		    "* 3 FETCH (BODY[TEXT] {20}\r\nline one\r\nline two\r\n)\r\n");
	check_reply("a FETCH 3 RFC822.TEXT\r\n", false, &m,
		    "* 3 FETCH (RFC822.TEXT {20}\r\nline one\r\nline two\r\n)\r\n");
	/* CRLF octets: "line one\r\n" is 10, so <8.4> is "\r\nli". */
	check_reply("a FETCH 3 BODY.PEEK[TEXT]<8.4>\r\n", false, &m,
		    "* 3 FETCH (BODY[TEXT]<8> {4}\r\n\r\nli)\r\n");
	check_reply("a FETCH 3 BODY.PEEK[TEXT]<9.2>\r\n", false, &m,
		    "* 3 FETCH (BODY[TEXT]<9> {2}\r\n\nl)\r\n");
	check_reply("a FETCH 3 BODY.PEEK[TEXT]<18.100>\r\n", false, &m,
		    "* 3 FETCH (BODY[TEXT]<18> {2}\r\n\r\n)\r\n");
	check_reply("a FETCH 3 BODY.PEEK[TEXT]<20.5>\r\n", false, &m,
		    "* 3 FETCH (BODY[TEXT]<20> \"\")\r\n");
	check_reply("a FETCH 3 BODY.PEEK[1]\r\n", false, &m,
		    "* 3 FETCH (BODY[1] {20}\r\nline one\r\nline two\r\n)\r\n");
	check_reply("a FETCH 3 BODY.PEEK[2]\r\n", false, &m, "* 3 FETCH (BODY[2] \"\")\r\n");
	m = msg_of(&fk, multi_msg);
	check_reply("a FETCH 3 (BODY.PEEK[1] BODY.PEEK[2.MIME])\r\n", false, &m,
		    "* 3 FETCH (BODY[1] {5}\r\nfirst BODY[2.MIME] {77}\r\n"
		    "Content-Type: application/octet-stream\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\n)\r\n");
	check_reply("a FETCH 3 BODY.PEEK[1.HEADER]\r\n", false, &m,
		    "* 3 FETCH (BODY[1.HEADER] \"\")\r\n");
}

static const char nested_msg[] = "Subject: outer\n"
				 "Content-Type: multipart/mixed; boundary=B\n"
				 "\n"
				 "--B\n"
				 "\n"
				 "text\n"
				 "--B\n"
				 "Content-Type: message/rfc822\n"
				 "\n"
				 "Subject: inner\n"
				 "X-Y: z\n"
				 "\n"
				 "inner body\n"
				 "--B--\n";

/* Sections through an embedded message/rfc822 part (RFC 3501 6.4.5). */
static void test_nested_message(void **state)
{
	struct fake fk = { 0 };
	struct imapmsg m = msg_of(&fk, nested_msg);

	(void)state;
	check_reply("a FETCH 3 BODY.PEEK[2.HEADER]\r\n", false, &m,
		    "* 3 FETCH (BODY[2.HEADER] {26}\r\nSubject: inner\r\nX-Y: z\r\n\r\n)\r\n");
	check_reply("a FETCH 3 BODY.PEEK[2.HEADER.FIELDS (x-y)]\r\n", false, &m,
		    "* 3 FETCH (BODY[2.HEADER.FIELDS (x-y)] {10}\r\nX-Y: z\r\n\r\n)\r\n");
	check_reply("a FETCH 3 (BODY.PEEK[2.TEXT] BODY.PEEK[2.1])\r\n", false, &m,
		    "* 3 FETCH (BODY[2.TEXT] {10}\r\ninner body BODY[2.1] {10}\r\ninner body)\r\n");
	check_reply("a FETCH 3 BODY.PEEK[2.MIME]\r\n", false, &m,
		    "* 3 FETCH (BODY[2.MIME] {32}\r\nContent-Type: message/rfc822\r\n\r\n)\r\n");
	check_reply("a FETCH 3 BODY.PEEK[HEADER.FIELDS (\"Subject\")]\r\n", false, &m,
		    "* 3 FETCH (BODY[HEADER.FIELDS (Subject)] {18}\r\nSubject: outer\r\n\r\n)\r\n");
	assert_string_equal(fk.stored[IMAPMSG_HEADER], "Subject: outer\r\n"
			    "Content-Type: multipart/mixed; boundary=B\r\n\r\n");
	fake_clear(&fk);
}

static void test_rfc822_whole(void **state)
{
	struct fake fk = { 0 };
	struct imapmsg m = msg_of(&fk, "A: b\r\n\r\nx\ny");

	(void)state;
	check_reply("a FETCH 3 RFC822\r\n", false, &m, "* 3 FETCH (RFC822 {12}\r\nA: b\r\n\r\nx\r\ny)\r\n");
	check_reply("a FETCH 3 BODY[]\r\n", false, &m, "* 3 FETCH (BODY[] {12}\r\nA: b\r\n\r\nx\r\ny)\r\n");
}

static void test_binary(void **state)
{
	struct fake fk = { 0 };
	struct imapmsg m = msg_of(&fk, multi_msg);
	enum imapfetch_result result;
	char *got;
	size_t len;

	(void)state;
	/* base64 "AGFiYwBk" is "\0abc\0d": literal8. */
	got = render("a FETCH 3 BINARY.PEEK[2]\r\n", false, &m, 0, &result);
	assert_int_equal(result, IMAPFETCH_OK);
	len = strlen(got);
	assert_string_equal(got, "* 3 FETCH (BINARY[2] ~{6}\r\n");
	assert_memory_equal(got + len + 1, "abc", 3);
	free(got);
	check_reply("a FETCH 3 BINARY.PEEK[2]<1.3>\r\n", false, &m,
		    "* 3 FETCH (BINARY[2]<1> {3}\r\nabc)\r\n");
	check_reply("a FETCH 3 (BINARY.SIZE[2] BINARY.SIZE[3] BINARY.SIZE[1])\r\n", false, &m,
		    "* 3 FETCH (BINARY.SIZE[2] 6 BINARY.SIZE[3] 15 BINARY.SIZE[1] 5)\r\n");
	check_reply("a FETCH 3 BINARY.PEEK[3]\r\n", false, &m,
		    "* 3 FETCH (BINARY[3] {15}\r\ncaf\xc3\xa9 softbreak)\r\n");
	check_reply("a FETCH 3 (BINARY.PEEK[9] BINARY.SIZE[9])\r\n", false, &m,
		    "* 3 FETCH (BINARY[9] NIL BINARY.SIZE[9] 0)\r\n");
	got = render("a FETCH 3 (UID BINARY.PEEK[4])\r\n", false, &m, 0, &result);
	assert_int_equal(result, IMAPFETCH_UNKNOWN_CTE);
	assert_string_equal(got, "");
	free(got);
}

static void test_binary_qp_and_mixed(void **state)
{
	struct fake fk = { 0 };
	struct imapmsg m = msg_of(&fk, "Content-Transfer-Encoding: Quoted-Printable\n\n"
				       "a=3Db=\nc\nd");

	(void)state;
	check_reply("a FETCH 3 (BINARY.SIZE[1] BINARY.PEEK[1])\r\n", false, &m,
		    "* 3 FETCH (BINARY.SIZE[1] 7 BINARY[1] {7}\r\na=bc\r\nd)\r\n");
	check_reply("a FETCH 3 BINARY.PEEK[]\r\n", false, &m,
		    "* 3 FETCH (BINARY[] {59}\r\nContent-Transfer-Encoding: Quoted-Printable\r\n"
		    "\r\na=3Db=\r\nc\r\nd)\r\n");
	m = msg_of(&fk, "Content-Transfer-Encoding: quoted-printable\n\na=0Ab=\r\n =3d=\n");
	check_reply("a FETCH 3 BINARY.PEEK[1]\r\n", false, &m,
		    "* 3 FETCH (BINARY[1] {5}\r\na\nb =)\r\n");
	/* CRLF and bare LF mixed: "x\r\ny\r\nz" once sent; <2.3> is "\ny\r". */
	m = msg_of(&fk, "A: b\r\n\r\nx\r\ny\nz");
	check_reply("a FETCH 3 BODY.PEEK[TEXT]<2.3>\r\n", false, &m,
		    "* 3 FETCH (BODY[TEXT]<2> {3}\r\n\ny\r)\r\n");
	check_reply("a FETCH 3 BINARY.SIZE[1]\r\n", false, &m, "* 3 FETCH (BINARY.SIZE[1] 7)\r\n");
}

/* A big base64 attachment: decoded while streamed, in bounded chunks. */
static void test_binary_streamed(void **state)
{
	struct fake fk = { 0 };
	buf *msg = buf_new(200000), *out = buf_new(200000), *want = buf_new(200000);
	imapfetch_spec *spec = parse("a FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])\r\n", false, NULL);
	struct imapmsg m;
	enum imapfetch_result result;
	imapfetch_render *r;

	(void)state;
	buf_puts(msg, "Content-Transfer-Encoding: base64\n\n");
	for (int i = 0; i < 3000; i++)
		buf_puts(msg, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss\n");
	for (int i = 0; i < 3000; i++)
		for (int j = 0; j < 45; j++)
			buf_putc(want, j);
	m = msg_of(&fk, buf_cstr(msg));
	fk.len = buf_len(msg);
	r = imapfetch_render_begin(spec, &m, 0, &result);
	assert_int_equal(result, IMAPFETCH_OK);
	while (imapfetch_render_next(r, out, 1000))
		;
	imapfetch_render_end(&r);
	assert_memory_equal(buf_cstr(out), "* 3 FETCH (BINARY[1] ~{135000}\r\n", 32);
	assert_memory_equal(buf_cstr(out) + 32, buf_cstr(want), 135000);
	assert_string_equal(buf_cstr(out) + 32 + 135000, " BINARY.SIZE[1] 135000)\r\n");
	imapfetch_spec_free(&spec);
	buf_free(&msg);
	buf_free(&out);
	buf_free(&want);
}

static void test_vanished(void **state)
{
	struct fake fk = { 0 };
	struct imapmsg m = msg_of(&fk, simple_msg);
	enum imapfetch_result result;
	char *got;

	(void)state;
	fk.fail_errno = ENOENT;
	got = render("a FETCH 3 (FLAGS BODY[])\r\n", false, &m, 0, &result);
	assert_int_equal(result, IMAPFETCH_EXPUNGED);
	assert_string_equal(got, "");
	free(got);
	fk.fail_errno = EIO;
	got = render("a FETCH 3 ENVELOPE\r\n", false, &m, 0, &result);
	assert_int_equal(result, IMAPFETCH_IO);
	assert_string_equal(got, "");
	free(got);
	assert_int_equal(fk.release_calls, 0);
}

/* A big body pulled in small chunks: each call bounded, the whole equal to
 * a one-call render, and the bytes are the CRLF form. */
static void test_streaming(void **state)
{
	struct fake fk = { 0 };
	buf *big = buf_new(300000), *whole = buf_new(1024), *chunked = buf_new(1024);
	imapfetch_spec *spec = parse("a UID FETCH 1 (UID BODY.PEEK[TEXT])\r\n", true, NULL);
	struct imapmsg m;
	enum imapfetch_result result;
	imapfetch_render *r;
	int more, calls = 0;

	(void)state;
	buf_puts(big, "Subject: big\n\n");
	for (int i = 0; i < 20000; i++)
		buf_printf(big, "line %05d\n", i);
	m = msg_of(&fk, buf_cstr(big));
	assert_int_equal(imapfetch_render_all(spec, &m, 0, whole), IMAPFETCH_OK);
	r = imapfetch_render_begin(spec, &m, 0, &result);
	assert_int_equal(result, IMAPFETCH_OK);
	do {
		size_t before = buf_len(chunked);

		more = imapfetch_render_next(r, chunked, 997);
		assert_true(buf_len(chunked) - before <= 997);
		assert_true(!more || buf_len(chunked) - before == 997);
		calls++;
	} while (more);
	imapfetch_render_end(&r);
	assert_int_equal(buf_len(whole), buf_len(chunked));
	assert_memory_equal(buf_cstr(whole), buf_cstr(chunked), buf_len(whole));
	assert_true(calls > 200);
	assert_non_null(strstr(buf_cstr(whole), "* 3 FETCH (UID 42 BODY[TEXT] {240000}\r\nline 00000\r\n"));
	assert_non_null(strstr(buf_cstr(whole), "line 19999\r\n)\r\n"));
	assert_int_equal(fk.release_calls, 2);
	imapfetch_spec_free(&spec);
	buf_free(&big);
	buf_free(&whole);
	buf_free(&chunked);
}

static void test_section_to_mime(void **state)
{
	static const char text[] = "BODY[1.2.HEADER.FIELDS (A \"B C\")]<1.2>";
	const char *error = NULL;
	struct imapcmd_section *s =
		imapcmd_section_parse(text, strlen(text), &error);
	unsigned parts[IMAPCMD_MAX_SECTION_PARTS];
	struct mime_section ms;

	(void)state;
	assert_non_null(s);
	imapfetch_section_to_mime(s, parts, &ms);
	assert_int_equal(ms.nparts, 2);
	assert_int_equal(ms.parts[0], 1);
	assert_int_equal(ms.parts[1], 2);
	assert_int_equal(ms.what, MIME_SECTION_FIELDS);
	assert_int_equal(ms.nfields, 2);
	assert_string_equal(ms.fields[1], "B C");
	imapcmd_section_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_errors),	  cmocka_unit_test(test_parse_properties),
		cmocka_unit_test(test_changedsince),	  cmocka_unit_test(test_memory_items),
		cmocka_unit_test(test_cache_hit_and_miss), cmocka_unit_test(test_header_from_cache),
		cmocka_unit_test(test_sections),	  cmocka_unit_test(test_nested_message),
		cmocka_unit_test(test_rfc822_whole),
		cmocka_unit_test(test_binary),		  cmocka_unit_test(test_binary_qp_and_mixed),
		cmocka_unit_test(test_binary_streamed),	  cmocka_unit_test(test_vanished),
		cmocka_unit_test(test_streaming),	  cmocka_unit_test(test_section_to_mime),
		cmocka_unit_test(test_header_in_place),	  cmocka_unit_test(test_render_reuse),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
