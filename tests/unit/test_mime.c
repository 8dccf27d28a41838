/* test_mime.c: unit tests for lib/mime*.c, the MIME parser of imapd:
 * ENVELOPE and BODYSTRUCTURE text of real-world-shaped messages (plain,
 * multipart/mixed with attachments, alternative, nested message/rfc822,
 * digest), encoded words in several charsets, RFC 2231 parameters, address
 * lists, FETCH sections with CRLF sizes, and broken MIME and the limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mem.h"
#include "mime.h"

/* ENVELOPE / BODYSTRUCTURE of a message given as a C string. */
static char *envelope_of(const char *text)
{
	mime_msg *m = mime_parse(text, strlen(text));
	buf *out = buf_new(256);

	mime_envelope(m, mime_root(m), out);
	mime_free(&m);
	return buf_steal_free(&out);
}

static char *structure_of(const char *text, bool extended)
{
	mime_msg *m = mime_parse(text, strlen(text));
	buf *out = buf_new(256);

	mime_bodystructure(m, mime_root(m), extended, out);
	mime_free(&m);
	return buf_steal_free(&out);
}

static void check_envelope(const char *text, const char *want)
{
	char *got = envelope_of(text);

	assert_string_equal(got, want);
	free(got);
}

static void check_structure(const char *text, bool extended, const char *want)
{
	char *got = structure_of(text, extended);

	assert_string_equal(got, want);
	free(got);
}

static const char plain_msg[] =
	"From: \"Joe Q. Public\" <john.q.public@example.com>\n"
	"To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>\n"
	"Cc: <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>\n"
	"Date: Tue, 1 Jul 2003 10:52:37\n"
	" +0200\n"
	"Message-ID: <5678.21-Nov-1997@example.com>\n"
	"Subject: Saying Hello\n"
	"\n"
	"Hi.\n"
	"Bye.\n";

static void test_plain(void **state)
{
	mime_msg *m = mime_parse(plain_msg, strlen(plain_msg));

	(void)state;
	check_envelope(plain_msg,
		       "(\"Tue, 1 Jul 2003 10:52:37 +0200\" \"Saying Hello\" "
		       "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
		       "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
		       "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
		       "((\"Mary Smith\" NIL \"mary\" \"x.test\")(NIL NIL \"jdoe\" \"example.org\")"
		       "(\"Who?\" NIL \"one\" \"y.test\")) "
		       "((NIL NIL \"boss\" \"nil.test\")"
		       "(\"Giant; \\\"Big\\\" Box\" NIL \"sysservices\" \"example.net\")) "
		       "NIL NIL \"<5678.21-Nov-1997@example.com>\")");
	/* body "Hi.\nBye.\n": 9 bytes, 11 with CRLF, 2 lines */
	check_structure(plain_msg, true,
			"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 2 "
			"NIL NIL NIL NIL)");
	check_structure(plain_msg, false,
			"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 2)");
	assert_int_equal(mime_size(m), strlen(plain_msg) + 10);
	assert_int_equal(mime_root(m)->nfields, 6);
	mime_free(&m);
}

/* The header of the sample FETCH of RFC 3501 section 8. The RFC shows a
 * space between the two Cc addresses, which its grammar does not allow
 * (and no server sends); "7bit" is Dovecot's spelling of the default. */
static const char rfc3501_msg[] =
	"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\n"
	"From: Terry Gray <gray@cac.washington.edu>\r\n"
	"Subject: IMAP4rev1 WG mtg summary and minutes\r\n"
	"To: imap@cac.washington.edu\r\n"
	"cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\r\n"
	"Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
	"\r\n"
	"minutes\r\n";

static void test_rfc3501_example(void **state)
{
	(void)state;
	check_envelope(rfc3501_msg,
		       "(\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
		       "\"IMAP4rev1 WG mtg summary and minutes\" "
		       "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
		       "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
		       "((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
		       "((NIL NIL \"imap\" \"cac.washington.edu\")) "
		       "((NIL NIL \"minutes\" \"CNRI.Reston.VA.US\")"
		       "(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL NIL "
		       "\"<B27397-0100000@cac.washington.edu>\")");
	check_structure(rfc3501_msg, false,
			"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7bit\" 9 1)");
}

static const char mixed_msg[] =
	"From: a@b.test\r\n"
	"Subject: =?ISO-8859-1?Q?Caf=E9?= report\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
	"\r\n"
	"This is a multi-part message in MIME format.\r\n"
	"--XX\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Hello=20w=C3=B6rld=\r\n"
	"!\r\n"
	"--XX\r\n"
	"Content-Type: application/pdf; name=\"r.pdf\"\r\n"
	"Content-Disposition: attachment;\r\n"
	" filename*0*=utf-8''%E2%82%AC;\r\n"
	" filename*1=\" rates.pdf\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"SGVsbG8g\r\n"
	"d29ybGQ=\r\n"
	"--XX--\r\n"
	"epilogue\r\n";

static void test_mixed(void **state)
{
	mime_msg *m = mime_parse(mixed_msg, strlen(mixed_msg));
	const struct mime_part *root = mime_root(m), *att;
	const struct mime_param *fn;
	buf *out = buf_new(64);

	(void)state;
	check_structure(mixed_msg, true,
			"((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" "
			"22 2 NIL NIL NIL NIL)"
			"(\"application\" \"pdf\" (\"name\" \"r.pdf\") NIL NIL \"base64\" 18 NIL "
			"(\"attachment\" (\"filename*\" \"utf-8''%E2%82%AC rates.pdf\")) NIL NIL) "
			"\"mixed\" (\"boundary\" \"XX\") NIL NIL NIL)");
	check_structure(mixed_msg, false,
			"((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" "
			"22 2)(\"application\" \"pdf\" (\"name\" \"r.pdf\") NIL NIL \"base64\" 18) "
			"\"mixed\")");
	assert_int_equal(mime_size(m), strlen(mixed_msg));
	assert_int_equal(root->nchildren, 2);
	att = root->children[1];
	fn = mime_param_get(att->disp_params, att->ndisp_params, "filename");
	assert_non_null(fn);
	assert_string_equal(fn->decoded, "\xe2\x82\xac rates.pdf");
	assert_int_equal(mime_body_text(m, root->children[0], out), 0);
	assert_string_equal(buf_cstr(out), "Hello w\xc3\xb6rld!");
	buf_reset(out);
	mime_body_decode(m, att, out);
	assert_string_equal(buf_cstr(out), "Hello world");
	buf_free(&out);
	mime_free(&m);
}

static const char nested_msg[] =
	"From: x@y.test\n"
	"Subject: fwd\n"
	"Content-Type: multipart/mixed; boundary=outer\n"
	"\n"
	"--outer\n"
	"Content-Type: multipart/alternative; boundary=inner\n"
	"\n"
	"--inner\n"
	"Content-Type: text/plain\n"
	"\n"
	"plain\n"
	"--inner\n"
	"Content-Type: text/html; charset=\"UTF-8\"\n"
	"Content-ID: <c1@y.test>\n"
	"Content-Description: the HTML\n"
	"Content-Language: en, de\n"
	"Content-Location: http://y.test/a\n"
	"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
	"\n"
	"<p>html</p>\n"
	"--inner--\n"
	"\n"
	"--outer\n"
	"Content-Type: message/rfc822\n"
	"Content-Disposition: inline\n"
	"\n"
	"From: Inner <in@z.test>\n"
	"Subject: inner subj\n"
	"Content-Type: text/plain; charset=iso-8859-1\n"
	"\n"
	"inner body\n"
	"--outer--\n";

static void test_nested(void **state)
{
	(void)state;
	/* the embedded message: 100 bytes with 4 LFs, 104 octets, 5 lines */
	check_structure(
		nested_msg, true,
		"(((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL)"
		"(\"text\" \"html\" (\"charset\" \"UTF-8\") \"<c1@y.test>\" \"the HTML\" \"7bit\" 11 1 "
		"\"Q2hlY2sgSW50ZWdyaXR5IQ==\" NIL (\"en\" \"de\") \"http://y.test/a\") "
		"\"alternative\" (\"boundary\" \"inner\") NIL NIL NIL)"
		"(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 104 "
		"(NIL \"inner subj\" ((\"Inner\" NIL \"in\" \"z.test\")) ((\"Inner\" NIL \"in\" \"z.test\")) "
		"((\"Inner\" NIL \"in\" \"z.test\")) NIL NIL NIL NIL NIL) "
		"(\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"7bit\" 10 1 NIL NIL NIL NIL) "
		"5 NIL (\"inline\" NIL) NIL NIL) "
		"\"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)");
}

/* A message shaped like the trickiest case of Dovecot's own BODYSTRUCTURE
 * tests (a folded boundary with a space, prologue and epilogue at both
 * levels, a quoted-pair in a parameter, a language list, an embedded
 * multipart message, an invalid transfer encoding); the expected text is
 * what Dovecot 2.3 gives for it. */
static const char dovecot_msg[] =
	"From: someone@example.org\n"
	"Date: Mon, 7 Dec 2026 12:00:00 +0000\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/mixed; boundary=\"two\n"
	" words\"\n"
	"\n"
	"Prologue text\n"
	"\n"
	"--two words\n"
	"Content-Type: text/x-note; charset=us-ascii; tag=\"a\\\"b\"\n"
	"Content-Disposition: inline; size=5\n"
	"Content-Language: fr\n"
	"\n"
	"salut\n"
	"\n"
	"--two words\n"
	"Content-Type: message/rfc822\n"
	"\n"
	"From: inner@example.org\n"
	"To: one@example.org, two@example.org\n"
	"Subject: inside\n"
	"Content-Type: multipart/alternative; boundary=\"alt\"\n"
	"\n"
	"Inner prologue\n"
	"--alt\n"
	"Content-Type: text/html\n"
	"Content-Transfer-Encoding: 8bit\n"
	"\n"
	"<b>hi</b>\n"
	"\n"
	"--alt\n"
	"Content-Type: text/plain\n"
	"Content-Transfer-Encoding: ?invalid\n"
	"\n"
	"hi\n"
	"\n"
	"--alt--\n"
	"Inner epilogue\n"
	"\n"
	"--two words--\n"
	"Epilogue\n";

static void test_dovecot_shape(void **state)
{
	(void)state;
	check_structure(
		dovecot_msg, true,
		"((\"text\" \"x-note\" (\"charset\" \"us-ascii\" \"tag\" \"a\\\"b\") NIL NIL \"7bit\" 7 1 "
		"NIL (\"inline\" (\"size\" \"5\")) (\"fr\") NIL)"
		"(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 334 "
		"(NIL \"inside\" ((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"inner\" \"example.org\")) "
		"((NIL NIL \"inner\" \"example.org\")) ((NIL NIL \"one\" \"example.org\")"
		"(NIL NIL \"two\" \"example.org\")) NIL NIL NIL NIL) "
		"((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"8bit\" 11 1 NIL NIL NIL NIL)"
		"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 1 NIL NIL NIL NIL) "
		"\"alternative\" (\"boundary\" \"alt\") NIL NIL NIL) 20 NIL NIL NIL NIL) "
		"\"mixed\" (\"boundary\" \"two words\") NIL NIL NIL)");
}

/* section: the text of BODY[spec] of msg (partial skip/max), or NULL. */
static char *section(const char *msg, const unsigned *parts, size_t nparts,
		     enum mime_section_what what, const char *const *fields, size_t nfields)
{
	mime_msg *m = mime_parse(msg, strlen(msg));
	struct mime_section s = { parts, nparts, what, fields, nfields };
	struct mime_range r;
	buf *out = buf_new(64);
	int rc = mime_section_find(m, &s, &r, out);

	if (rc == 0)
		mime_crlf_append(out, msg, r.off, r.len, 0, SIZE_MAX);
	if (rc == 0)
		assert_int_equal(buf_len(out), r.size);
	mime_free(&m);
	if (rc < 0) {
		buf_free(&out);
		return NULL;
	}
	return buf_steal_free(&out);
}

static void check_section(const char *msg, const unsigned *parts, size_t nparts,
			  enum mime_section_what what, const char *want)
{
	char *got = section(msg, parts, nparts, what, NULL, 0);

	if (want == NULL) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_sections(void **state)
{
	static const unsigned p1[] = { 1 }, p2[] = { 2 }, p3[] = { 3 }, p12[] = { 1, 2 },
			      p21[] = { 2, 1 }, p0[] = { 0 }, p111[] = { 1, 1, 1 };
	static const char *const fields[] = { "subject", "FROM" };
	char *got;

	(void)state;
	check_section(nested_msg, p12, 2, MIME_SECTION_ALL, "<p>html</p>");
	check_section(nested_msg, p21, 2, MIME_SECTION_ALL, "inner body");
	check_section(nested_msg, p21, 2, MIME_SECTION_MIME,
		      "From: Inner <in@z.test>\r\nSubject: inner subj\r\n"
		      "Content-Type: text/plain; charset=iso-8859-1\r\n\r\n");
	check_section(nested_msg, p2, 1, MIME_SECTION_TEXT, "inner body");
	check_section(nested_msg, p2, 1, MIME_SECTION_MIME,
		      "Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n");
	check_section(nested_msg, p1, 1, MIME_SECTION_HEADER, NULL);
	check_section(nested_msg, p3, 1, MIME_SECTION_ALL, NULL);
	check_section(nested_msg, p0, 1, MIME_SECTION_ALL, NULL);
	check_section(nested_msg, p111, 3, MIME_SECTION_ALL, NULL);
	check_section(nested_msg, NULL, 0, MIME_SECTION_MIME, NULL);
	check_section(plain_msg, p1, 1, MIME_SECTION_ALL, "Hi.\r\nBye.\r\n");
	check_section(plain_msg, NULL, 0, MIME_SECTION_TEXT, "Hi.\r\nBye.\r\n");
	check_section(mixed_msg, p1, 1, MIME_SECTION_ALL, "Hello=20w=C3=B6rld=\r\n!");
	{
		mime_msg *m = mime_parse(nested_msg, strlen(nested_msg));
		const struct mime_part *p = mime_part_find(m, p12, 2);

		assert_non_null(p);
		assert_string_equal(p->subtype, "html");
		assert_ptr_equal(mime_part_find(m, NULL, 0), mime_root(m));
		assert_null(mime_part_find(m, p3, 1));
		mime_free(&m);
	}
	got = section(plain_msg, NULL, 0, MIME_SECTION_FIELDS, fields, 2);
	assert_string_equal(got, "From: \"Joe Q. Public\" <john.q.public@example.com>\r\n"
				 "Subject: Saying Hello\r\n\r\n");
	free(got);
	got = section(nested_msg, p2, 1, MIME_SECTION_FIELDS_NOT, fields, 2);
	assert_string_equal(got, "Content-Type: text/plain; charset=iso-8859-1\r\n\r\n");
	free(got);
	{
		static const char *const subj[] = { "Subject" }, *const x[] = { "x" };
		static const char cut[] = "Subject: a\n b\nno colon\nX: y";

		got = section(cut, NULL, 0, MIME_SECTION_FIELDS, subj, 1);
		assert_string_equal(got, "Subject: a\r\n b\r\n\r\n");
		free(got);
		got = section(cut, NULL, 0, MIME_SECTION_FIELDS, x, 1);
		assert_string_equal(got, "X: y\r\n\r\n");
		free(got);
		got = section(cut, NULL, 0, MIME_SECTION_FIELDS_NOT, subj, 1);
		assert_string_equal(got, "X: y\r\n\r\n");
		free(got);
	}
	got = section(plain_msg, NULL, 0, MIME_SECTION_ALL, NULL, 0);
	assert_int_equal(strlen(got), strlen(plain_msg) + 10);
	free(got);
}

static void test_partial(void **state)
{
	static const char text[] = "ab\ncd\r\nef";
	static const struct {
		size_t skip, max;
		const char *want;
	} cases[] = {
		{ 0, SIZE_MAX, "ab\r\ncd\r\nef" }, { 3, 3, "\ncd" }, { 2, 1, "\r" },
		{ 4, 100, "cd\r\nef" },		   { 10, 5, "" },    { 0, 0, "" },
	};
	buf *out = buf_new(16);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(out);
		mime_crlf_append(out, text, 0, strlen(text), cases[i].skip, cases[i].max);
		assert_string_equal(buf_cstr(out), cases[i].want);
	}
	buf_free(&out);
}

static void test_encoded_words(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "=?UTF-8?B?w6lsw6h2ZQ==?=", "\xc3\xa9l\xc3\xa8ve" },
		{ "=?koi8-r?B?8NLJ18XU?= !", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 !" },
		{ "=?ISO-2022-JP?B?GyRCRnxLXBsoQg==?=", "\xe6\x97\xa5\xe6\x9c\xac" },
		{ "=?iso-8859-1?q?this=20is=20some_text?=", "this is some text" },
		{ "(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)" },
		{ "=?ISO-8859-1?Q?a?=\r\n   =?ISO-8859-1?Q?b?=", "ab" },
		{ "=?ISO-8859-1?Q?a?= b", "a b" },
		{ "=?windows-1252?Q?=80?=", "\xe2\x82\xac" },
		{ "=?utf-8*en?Q?x?=", "x" },
		{ "=?x-no-such-charset?Q?abc?=", "=?x-no-such-charset?Q?abc?=" },
		{ "=?utf-8?X?abc?=", "=?utf-8?X?abc?=" },
		{ "=?utf-8//IGNORE?Q?a?=", "=?utf-8//IGNORE?Q?a?=" },
		{ "=?utf-8?Q?a b?=", "=?utf-8?Q?a b?=" },
		{ "plain =? text ?=", "plain =? text ?=" },
		{ "=?" "?=", "=?" "?=" },
		{ "=?iso-8859-1?B?6Q?=", "\xc3\xa9" },
	};
	buf *out = buf_new(64);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(out);
		mime_decode_words(cases[i].in, strlen(cases[i].in), out);
		assert_string_equal(buf_cstr(out), cases[i].want);
	}
	buf_free(&out);
}

static void test_params(void **state)
{
	static const char msg[] =
		"Content-Type: application/x-stuff;\n"
		" title*=iso-8859-1'en'%A3%20rates.txt;\n"
		" url*1=\"ftp/x\"; url*0=\"ftp://a.test/\";\n"
		" (comment) junk; orphan*1=\"lost\";\n"
		" name=\"=?UTF-8?Q?r=C3=A9sum=C3=A9.doc?=\"; dup=1; DUP=2\n"
		"\n";
	mime_msg *m = mime_parse(msg, strlen(msg));
	const struct mime_part *p = mime_root(m);
	const struct mime_param *v;

	(void)state;
	assert_string_equal(p->type, "application");
	assert_string_equal(p->subtype, "x-stuff");
	assert_int_equal(p->nparams, 4);
	v = mime_param_get(p->params, p->nparams, "title");
	assert_string_equal(v->name, "title*");
	assert_string_equal(v->value, "iso-8859-1'en'%A3%20rates.txt");
	assert_string_equal(v->decoded, "\xc2\xa3 rates.txt");
	v = mime_param_get(p->params, p->nparams, "url");
	assert_string_equal(v->name, "url");
	assert_string_equal(v->value, "ftp://a.test/ftp/x");
	assert_null(mime_param_get(p->params, p->nparams, "orphan"));
	v = mime_param_get(p->params, p->nparams, "name");
	assert_string_equal(v->value, "=?UTF-8?Q?r=C3=A9sum=C3=A9.doc?=");
	assert_string_equal(v->decoded, "r\xc3\xa9sum\xc3\xa9.doc");
	assert_string_equal(mime_param_get(p->params, p->nparams, "dup")->value, "1");
	mime_free(&m);
}

static char *addresses(const char *text)
{
	struct mime_addr *a;
	size_t n = mime_addr_parse(text, strlen(text), &a);
	buf *out = buf_new(64);

	for (size_t i = 0; i < n; i++) {
		buf_putc(out, '(');
		mime_imap_cstring(out, a[i].name);
		buf_putc(out, ' ');
		mime_imap_cstring(out, a[i].route);
		buf_putc(out, ' ');
		mime_imap_cstring(out, a[i].mailbox);
		buf_putc(out, ' ');
		mime_imap_cstring(out, a[i].host);
		buf_putc(out, ')');
	}
	mime_addr_free(&a, n);
	return buf_steal_free(&out);
}

static void test_addresses(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "undisclosed-recipients:;", "(NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)" },
		{ "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, x@y.test",
		  "(NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")"
		  "(NIL NIL \"joe\" \"where.test\")(\"John\" NIL \"jdoe\" \"one.test\")"
		  "(NIL NIL NIL NIL)(NIL NIL \"x\" \"y.test\")" },
		{ "<@a.test,@b.test:joe@c.test>", "(NIL \"@a.test,@b.test\" \"joe\" \"c.test\")" },
		{ "pete@silly.test (Pete Smith)", "(\"Pete Smith\" NIL \"pete\" \"silly.test\")" },
		{ "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
		  "(\"Pete\" NIL \"pete\" \"silly.test\")" },
		{ "joe", "(NIL NIL \"joe\" \"MISSING_DOMAIN\")" },
		{ "@nohost.test", "(NIL NIL \"MISSING_MAILBOX\" \"nohost.test\")" },
		{ "\"john doe\"@example.com", "(NIL NIL \"\\\"john doe\\\"\" \"example.com\")" },
		{ "=?utf-8?Q?J=C3=B6rg?= <j@x.test>", "(\"=?utf-8?Q?J=C3=B6rg?=\" NIL \"j\" \"x.test\")" },
		{ "a@[10.0.0.1]", "(NIL NIL \"a\" \"[10.0.0.1]\")" },
		{ "Unclosed <u@x.test", "(\"Unclosed\" NIL \"u\" \"x.test\")" },
		{ ",,, ;;", "" },
		{ "\"unterminated <a@b>", "(NIL NIL \"\\\"unterminated <a@b>\" \"MISSING_DOMAIN\")" },
		{ "g: a@b.test", "(NIL NIL \"g\" NIL)(NIL NIL \"a\" \"b.test\")(NIL NIL NIL NIL)" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = addresses(cases[i].in);

		assert_string_equal(got, cases[i].want);
		free(got);
	}
}

static void test_imap_string(void **state)
{
	buf *out = buf_new(32);

	(void)state;
	mime_imap_cstring(out, "a\"b\\c");
	buf_putc(out, ' ');
	mime_imap_cstring(out, NULL);
	buf_putc(out, ' ');
	mime_imap_cstring(out, "caf\xc3\xa9");
	buf_putc(out, ' ');
	mime_imap_string(out, "a\r\nb", 4);
	buf_putc(out, ' ');
	mime_imap_cstring(out, "");
	assert_string_equal(buf_cstr(out),
			    "\"a\\\"b\\\\c\" NIL {5}\r\ncaf\xc3\xa9 {4}\r\na\r\nb \"\"");
	buf_free(&out);
}

static void test_broken(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		/* a line that only starts with the boundary is one too */
		{ "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--bz\n\ntwo\n--b--x\n",
		  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1)"
		  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1) \"mixed\")" },
		/* no close delimiter, boundary with trailing white space */
		{ "Content-Type: multipart/mixed; boundary=b\n\n--b \t\n\none\n--b\n"
		  "Content-Type: text/html\n\ntwo\n",
		  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1)"
		  "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1) \"mixed\")" },
		/* no boundary parameter, a boundary that never comes, no body:
		 * one empty part, as Dovecot shows them */
		{ "Content-Type: multipart/mixed\n\n--b\n\nx\n",
		  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")" },
		{ "Content-Type: multipart/mixed; boundary=zz\n\n--b\n\nx\n",
		  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")" },
		{ "Content-Type: multipart/mixed; boundary=\"zz\"\n\n",
		  "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")" },
		/* an encoding that is no token is 7bit */
		{ "Content-Transfer-Encoding: ?bad\n\nx\n",
		  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1)" },
		/* an invalid Content-Type is text/plain without its parameters */
		{ "Content-Type: text; charset=koi8-r\n\nx",
		  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 1)" },
		/* no header, no blank line, junk lines without a colon */
		{ "", "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)" },
		{ "just a line\nSubject: x", "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)" },
		/* base64 message/rfc822 is not looked into */
		{ "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nQQ==\n",
		  "(\"message\" \"rfc822\" NIL NIL NIL \"base64\" 6)" },
		/* a digest's parts are message/rfc822 by default */
		{ "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: s\n\nb\n--d--\n",
		  "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 15 (NIL \"s\" NIL NIL NIL NIL NIL NIL NIL NIL) "
		  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 1) 3) \"digest\")" },
		/* transfer encoding with junk, encoding-less type */
		{ "Content-Transfer-Encoding: QUOTED-PRINTABLE (comment)\n\n=41",
		  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"QUOTED-PRINTABLE\" 3 1)" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_structure(cases[i].in, false, cases[i].want);
}

/* test_limits: 100 nested multiparts and 5000 parts parse within limits. */
static void test_limits(void **state)
{
	buf *msg = buf_new(4096), *out = buf_new(4096);
	mime_msg *m;
	const struct mime_part *p;
	int depth = 0;

	(void)state;
	for (int i = 0; i < 100; i++)
		buf_printf(msg, "Content-Type: multipart/mixed; boundary=b%dx\n\n--b%dx\n", i, i);
	buf_puts(msg, "\ndeep\n");
	m = mime_parse(buf_cstr(msg), buf_len(msg));
	for (p = mime_root(m); p->nchildren > 0; p = p->children[0])
		depth++;
	assert_int_equal(depth, MIME_MAX_DEPTH);
	assert_true(p->flattened);
	mime_bodystructure(m, mime_root(m), true, out);
	assert_int_equal(buf_cstr(out)[0], '(');
	mime_free(&m);

	buf_reset(msg);
	buf_puts(msg, "Content-Type: multipart/mixed; boundary=b\n\n");
	for (int i = 0; i < 5000; i++)
		buf_puts(msg, "--b\n\nx\n");
	m = mime_parse(buf_cstr(msg), buf_len(msg));
	assert_int_equal(mime_nparts(m), MIME_MAX_PARTS);
	assert_int_equal(mime_root(m)->nchildren, MIME_MAX_PARTS - 1);
	mime_free(&m);

	buf_reset(msg);
	for (int i = 0; i < MIME_MAX_FIELDS + 10; i++)
		buf_printf(msg, "X-%d: y\n", i);
	buf_puts(msg, "Subject: late\n\nbody\n");
	m = mime_parse(buf_cstr(msg), buf_len(msg));
	assert_int_equal(mime_root(m)->nfields, MIME_MAX_FIELDS);
	assert_null(mime_field_find(m, mime_root(m), "subject", 0));
	assert_int_equal(mime_root(m)->body.len, 5);
	mime_free(&m);

	buf_reset(msg);
	buf_puts(msg, "Content-Type: multipart/mixed; boundary=b\n\n");
	for (int i = 0; i < 100; i++) {
		buf_puts(msg, "--b\n");
		for (int k = 0; k < 300; k++)
			buf_puts(msg, "X: y\n");
		buf_puts(msg, "Content-Type: image/png\n\nx\n");
	}
	m = mime_parse(buf_cstr(msg), buf_len(msg));
	assert_int_equal(mime_root(m)->nchildren, 100);
	assert_string_equal(mime_root(m)->children[10]->subtype, "png");
	assert_int_equal(mime_root(m)->children[99]->nfields, 0);
	assert_string_equal(mime_root(m)->children[99]->subtype, "plain");
	mime_free(&m);
	buf_free(&msg);
	buf_free(&out);
}

/* same_pick: mime_header_fields gives what mime_section_find builds from
 * mime_parse_header of the same bytes, for the names and both forms. */
static void same_pick(const char *hdr, size_t len, const char *const *names, size_t n)
{
	mime_msg *m = mime_parse_header(hdr, len);
	struct mime_section s = { NULL, 0, MIME_SECTION_FIELDS, names, n };
	struct mime_range r;
	buf *want = buf_new(256), *got = buf_new(256);

	for (int w = 0; w < 2; w++) {
		s.what = w == 0 ? MIME_SECTION_FIELDS : MIME_SECTION_FIELDS_NOT;
		buf_reset(want);
		buf_reset(got);
		buf_puts(got, "kept:"); /* appended after what out held */
		assert_int_equal(mime_section_find(m, &s, &r, want), 1);
		mime_header_fields(hdr, len, names, n, w == 0, got);
		assert_int_equal(buf_len(got), buf_len(want) + 5);
		assert_memory_equal(buf_cstr(got) + 5, buf_cstr(want), buf_len(want));
	}
	buf_free(&want);
	buf_free(&got);
	mime_free(&m);
}

/* test_header_fields_pick: the picker on folding, odd lines, bare LF, a
 * missing blank line, a field over the length limit, too many fields. */
static void test_header_fields_pick(void **state)
{
	static const char *const names[] = { "from", "SUBJECT", "date", "x-long" };
	static const char *const hdrs[] = {
		"From: a@b\r\nSubject: hi\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n",
		"Subject: folded\n  on two\n\tlines\nTo: x\nfrom : spaced@name\n\nbody\n",
		" leading continuation\nno colon line\nSubject: after junk\r\n  more\r\n",
		"Subject: no end of line",
		"Subject: a\r\nSubject: b\r\nFROM:c\r\n\r\nFrom: in body\r\n",
		"Subject: cr only\r\r\nDate: x\r\n\r",
		"",
		"\r\nSubject: after blank\r\n",
		"X-Long: a\r\nSubject:\r\n\r\n",
		"Bad name: x\r\nSub\x7fject: y\r\nSubject :z\r\n",
	};
	buf *big = buf_new(200000);

	(void)state;
	for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++)
		same_pick(hdrs[i], strlen(hdrs[i]), names, 4);
	same_pick(hdrs[0], strlen(hdrs[0]), names, 0);
	/* a folded field past MIME_MAX_FIELD_LEN is forgotten, the next kept */
	buf_puts(big, "From: first\nX-Long: start\n");
	for (int i = 0; i < 3000; i++)
		buf_puts(big, " continuation line of a field that grows too long\n");
	buf_puts(big, "Subject: kept\n\n");
	same_pick(buf_cstr(big), buf_len(big), names, 4);
	/* more fields than MIME_MAX_FIELDS: the late ones are not there */
	buf_reset(big);
	for (int i = 0; i < MIME_MAX_FIELDS + 5; i++)
		buf_printf(big, "%s: %d\n", i % 3 == 0 ? "Subject" : "X-Other", i);
	buf_puts(big, "\n");
	same_pick(buf_cstr(big), buf_len(big), names, 4);
	buf_free(&big);
}

static void test_header_only(void **state)
{
	mime_msg *m = mime_parse_header(mixed_msg, strlen(mixed_msg));
	buf *out = buf_new(64);

	(void)state;
	assert_int_equal(mime_nparts(m), 1);
	assert_false(mime_root(m)->is_multipart);
	mime_field_decoded(m, mime_field_find(m, mime_root(m), "subject", 0), out);
	assert_string_equal(buf_cstr(out), "Caf\xc3\xa9 report");
	buf_reset(out);
	mime_envelope(m, mime_root(m), out);
	assert_string_equal(buf_cstr(out),
			    "(NIL \"=?ISO-8859-1?Q?Caf=E9?= report\" ((NIL NIL \"a\" \"b.test\")) "
			    "((NIL NIL \"a\" \"b.test\")) ((NIL NIL \"a\" \"b.test\")) NIL NIL NIL NIL NIL)");
	buf_free(&out);
	mime_free(&m);
}

/* test_lf_crlf: a message stored with LF line ends has the sizes, lines
 * and sections of its CRLF form, as the client sees it. */
static void test_lf_crlf(void **state)
{
	const char *msgs[] = { mixed_msg, nested_msg, dovecot_msg, rfc3501_msg };

	(void)state;
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		buf *lf = buf_new(1024), *crlf = buf_new(1024);
		char *a, *b;

		for (const char *c = msgs[i]; *c != '\0'; c++) {
			if (*c != '\r')
				buf_putc(lf, *c);
			if (*c == '\n')
				buf_putc(crlf, '\r');
			if (*c != '\r')
				buf_putc(crlf, *c);
		}
		a = structure_of(buf_cstr(lf), true);
		b = structure_of(buf_cstr(crlf), true);
		assert_string_equal(a, b);
		free(a);
		free(b);
		buf_free(&lf);
		buf_free(&crlf);
	}
}

static void test_body_decoding(void **state)
{
	static const char msg[] =
		"Content-Type: multipart/mixed; boundary=q\n\n"
		"--q\nContent-Type: text/plain; charset=iso-8859-1\n"
		"Content-Transfer-Encoding: Quoted-Printable\n\n"
		"caf=E9 =\nsoft=  \nbreak a=3Db =ZZ\n"
		"--q\nContent-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: base64\n\n"
		"8NLJ\n18XU\n"
		"--q\nContent-Type: text/plain; charset=x-unknown\n\nraw\n--q--\n";
	mime_msg *m = mime_parse(msg, strlen(msg));
	const struct mime_part *root = mime_root(m);
	buf *out = buf_new(64);

	(void)state;
	assert_int_equal(root->nchildren, 3);
	assert_int_equal(mime_body_text(m, root->children[0], out), 0);
	assert_string_equal(buf_cstr(out), "caf\xc3\xa9 softbreak a=b =ZZ");
	buf_reset(out);
	assert_int_equal(mime_body_text(m, root->children[1], out), 0);
	assert_string_equal(buf_cstr(out), "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
	buf_reset(out);
	assert_int_equal(mime_body_text(m, root->children[2], out), -1);
	assert_string_equal(buf_cstr(out), "raw");
	buf_reset(out);
	assert_int_equal(mime_charset_to_utf8("utf-16le", "a\0\xac\x20", 4, out), 0);
	assert_string_equal(buf_cstr(out), "a\xe2\x82\xac");
	buf_reset(out);
	assert_int_equal(mime_charset_to_utf8("iso-2022-jp", "\x1b$B\xff\xff", 5, out), 0);
	assert_non_null(strstr(buf_cstr(out), "\xef\xbf\xbd"));
	buf_free(&out);
	mime_free(&m);
}

static void test_fields(void **state)
{
	static const char msg[] = "Received: one\nreceived: two\n\tfolded\nX-Long:\n\n";
	static const char crlf[] = "To: a@b,\r\n c@d,\r\n\te@f \r\n\r\nbody";
	mime_msg *m = mime_parse(msg, strlen(msg));
	const struct mime_field *f;
	buf *out = buf_new(16);

	(void)state;
	f = mime_field_find(m, mime_root(m), "RECEIVED", 1);
	assert_non_null(f);
	mime_field_value(m, f, out);
	assert_string_equal(buf_cstr(out), "two\tfolded");
	assert_null(mime_field_find(m, mime_root(m), "received", 2));
	buf_reset(out);
	mime_field_value(m, mime_field_find(m, mime_root(m), "x-long", 0), out);
	assert_string_equal(buf_cstr(out), "");
	mime_free(&m);
	/* CRLF folds: every line end dropped, the runs between kept whole */
	m = mime_parse(crlf, strlen(crlf));
	buf_reset(out);
	mime_field_value(m, mime_field_find(m, mime_root(m), "to", 0), out);
	assert_string_equal(buf_cstr(out), "a@b, c@d,\te@f");
	buf_free(&out);
	mime_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),	      cmocka_unit_test(test_mixed),
		cmocka_unit_test(test_nested),	      cmocka_unit_test(test_sections),
		cmocka_unit_test(test_partial),	      cmocka_unit_test(test_encoded_words),
		cmocka_unit_test(test_params),	      cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_imap_string),   cmocka_unit_test(test_broken),
		cmocka_unit_test(test_limits),	      cmocka_unit_test(test_fields),
		cmocka_unit_test(test_dovecot_shape), cmocka_unit_test(test_rfc3501_example),
		cmocka_unit_test(test_header_only),   cmocka_unit_test(test_lf_crlf),
		cmocka_unit_test(test_body_decoding),
		cmocka_unit_test(test_header_fields_pick),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
