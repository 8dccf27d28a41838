/* test_dkim.c: unit tests for lib/dkim: the canonicalization examples of
 * RFC 6376 3.4.5 fed in every chunking, the vectors of
 * ../shared/conformance/dkim (RFC 8463 example, Exim and gmail messages,
 * bad key records, a message without From), sign + verify round trips
 * for all four c= combinations and both key types, oversigning, l=, the
 * asynchronous key lookup, and a table of broken signatures that must give
 * permerror or fail. Keys come from an in-memory resolver. The vectors
 * are found in $SHARED/conformance/dkim, else $srcdir/../shared/... */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "base64.h"
#include "buf.h"
#include "dkim.h"
#include "dkim_int.h"
#include "mem.h"
#include "dkim_kit.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the vectors ---- */

static char *vector_path(const char *file)
{
	return dkim_kit_path(file);
}

static buf *read_vector(const char *file)
{
	char *path = vector_path(file), chunk[4096];
	FILE *f = fopen(path, "r");
	buf *b = buf_new(4096);
	size_t n;

	if (f == NULL)
		fail_msg("cannot read %s (set SHARED to the shared kit)", path);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(b, chunk, n);
	fclose(f);
	free(path);
	return b;
}

/* ---- an in-memory resolver ---- */

#define MEM_MAX 16

struct mem_dns {
	char *names[MEM_MAX], *values[MEM_MAX];
	size_t count;
	bool deferred, tempfail;
	/* deferred lookups */
	txt_cb *cb[32];
	void *cb_ctx[32];
	char *asked[32];
	size_t queued, lookups, cancels;
};

static void mem_set(struct mem_dns *m, const char *name, const char *value)
{
	for (size_t i = 0; i < m->count; i++) {
		if (strcmp(m->names[i], name) == 0) {
			free(m->values[i]);
			m->values[i] = xstrdup(value);
			return;
		}
	}
	assert_true(m->count < MEM_MAX);
	m->names[m->count] = xstrdup(name);
	m->values[m->count++] = xstrdup(value);
}

/* mem_load_records: dns-records.txt: "owner. value" lines, ';' comments. */
static void mem_load_records(struct mem_dns *m)
{
	buf *b = read_vector("dns-records.txt");
	char *text = buf_steal_free(&b), *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		if (line[0] == ';' || sp == NULL)
			continue;
		*sp = '\0';
		if (sp > line && sp[-1] == '.')
			sp[-1] = '\0';
		mem_set(m, line, sp + 1);
	}
	free(text);
}

static void mem_answer(struct mem_dns *m, const char *name, txt_cb *cb, void *cb_ctx)
{
	if (m->tempfail) {
		cb(cb_ctx, TXT_TEMPFAIL, NULL, NULL, 0);
		return;
	}
	for (size_t i = 0; i < m->count; i++) {
		if (strcmp(m->names[i], name) == 0) {
			const char *txt[1] = { m->values[i] };
			size_t len[1] = { strlen(m->values[i]) };
			cb(cb_ctx, TXT_FOUND, txt, len, 1);
			return;
		}
	}
	cb(cb_ctx, TXT_NOTFOUND, NULL, NULL, 0);
}

static void *mem_lookup(void *rctx, const char *name, txt_cb *cb, void *cb_ctx)
{
	struct mem_dns *m = rctx;

	m->lookups++;
	if (!m->deferred) {
		mem_answer(m, name, cb, cb_ctx);
		return NULL;
	}
	assert_true(m->queued < 32);
	m->cb[m->queued] = cb;
	m->cb_ctx[m->queued] = cb_ctx;
	m->asked[m->queued] = xstrdup(name);
	return &m->cb[m->queued++];
}

static void mem_cancel(void *rctx, void *handle)
{
	struct mem_dns *m = rctx;

	for (size_t i = 0; i < m->queued; i++) {
		if (handle == &m->cb[i]) {
			m->cb[i] = NULL;
			m->cancels++;
		}
	}
}

static void mem_flush(struct mem_dns *m)
{
	for (size_t i = 0; i < m->queued; i++) {
		if (m->cb[i] != NULL)
			mem_answer(m, m->asked[i], m->cb[i], m->cb_ctx[i]);
		m->cb[i] = NULL;
	}
}

static void mem_free(struct mem_dns *m)
{
	for (size_t i = 0; i < m->count; i++) {
		free(m->names[i]);
		free(m->values[i]);
	}
	for (size_t i = 0; i < m->queued; i++)
		free(m->asked[i]);
	memset(m, 0, sizeof(*m));
}

static unsigned max_headers; /* 0: the default */

static struct dkim_verify_params mem_params(struct mem_dns *m)
{
	struct dkim_verify_params p = { { mem_lookup, mem_cancel, m }, 0, 0, max_headers, 0 };
	return p;
}

/* ---- message helpers ---- */

/* split: the length of the header block (blank line included). */
static size_t split(const char *msg, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (msg[i] == '\n' && msg[i + 1] == '\n')
			return i + 2;
		if (msg[i] == '\n' && msg[i + 1] == '\r' && i + 2 < len && msg[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

/* verify: runs the verifier over msg, body in chunks of chunk bytes. */
static dkim_verifier *verify(struct mem_dns *m, const char *msg, size_t len, size_t chunk)
{
	struct dkim_verify_params p = mem_params(m);
	dkim_verifier *v = dkim_verify_new(&p);
	size_t hl = split(msg, len);

	dkim_verify_headers(v, msg, hl);
	for (size_t off = hl; off < len; off += chunk)
		dkim_verify_body(v, msg + off, len - off < chunk ? len - off : chunk);
	assert_int_equal(dkim_verify_finish(v, NULL, NULL), 1);
	return v;
}

static void expect(dkim_verifier *v, size_t i, enum dkim_status st, const char *reason)
{
	const struct dkim_result *r;

	assert_true(i < dkim_verify_count(v));
	r = dkim_verify_result(v, i);
	if (r->status != st)
		fail_msg("signature %zu: %s (%s), expected %s", i, dkim_status_name(r->status),
			 r->reason ? r->reason : "-", dkim_status_name(st));
	if (reason != NULL)
		assert_string_equal(r->reason, reason);
}

/* verify_one: the first signature of msg gets st. */
static void verify_one(struct mem_dns *m, const char *msg, enum dkim_status st,
		       const char *reason)
{
	dkim_verifier *v = verify(m, msg, strlen(msg), 7);

	expect(v, 0, st, reason);
	dkim_verify_free(&v);
}

/* sign: msg signed with p (chunks of 5 bytes), the fields prepended. */
static char *sign(const char *msg, const struct dkim_sign_params *p, size_t count)
{
	dkim_signer *s = dkim_signer_new();
	size_t len = strlen(msg), hl = split(msg, len);
	buf *out = buf_new(4096);
	char *err = NULL;

	for (size_t i = 0; i < count; i++) {
		if (dkim_signer_add(s, &p[i], &err) != 0)
			fail_msg("add: %s", err);
	}
	for (size_t off = hl; off < len; off += 5)
		dkim_signer_body(s, msg + off, len - off < 5 ? len - off : 5);
	if (dkim_signer_finish(s, msg, hl, out, &err) != 0)
		fail_msg("sign: %s", err);
	dkim_signer_free(&s);
	buf_append(out, msg, len);
	return buf_steal_free(&out);
}

static dkim_key *load_key(const char *file)
{
	buf *b = read_vector(file);
	char *err = NULL;
	dkim_key *k = dkim_key_load(buf_cstr(b), buf_len(b), &err);

	if (k == NULL)
		fail_msg("%s: %s", file, err);
	buf_free(&b);
	return k;
}

static char *vector_text(const char *file)
{
	buf *b = read_vector(file);
	return buf_steal_free(&b);
}

static struct dkim_sign_params rsa_params(const dkim_key *k)
{
	struct dkim_sign_params p = { 0 };

	p.domain = "example.com";
	p.selector = "test";
	p.key = k;
	p.header_canon = p.body_canon = DKIM_CANON_RELAXED;
	return p;
}

/* ---- canonicalization ---- */

struct canon_case {
	enum dkim_canon canon;
	const char *in, *out;
};

static const struct canon_case body_cases[] = {
	/* RFC 6376 3.4.5 */
	{ DKIM_CANON_RELAXED, " C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n" },
	{ DKIM_CANON_SIMPLE, " C \r\nD \t E\r\n\r\n\r\n", " C \r\nD \t E\r\n" },
	{ DKIM_CANON_SIMPLE, "", "\r\n" },
	{ DKIM_CANON_RELAXED, "", "" },
	{ DKIM_CANON_SIMPLE, "\r\n\r\n", "\r\n" },
	{ DKIM_CANON_RELAXED, " \r\n\t\r\n", "" },
	{ DKIM_CANON_SIMPLE, "a", "a\r\n" },
	{ DKIM_CANON_RELAXED, "a  ", "a\r\n" },
	{ DKIM_CANON_SIMPLE, "a\n\nb\n\n", "a\r\n\r\nb\r\n" },
	{ DKIM_CANON_SIMPLE, "a\rb\r\n", "a\rb\r\n" },
	{ DKIM_CANON_SIMPLE, "a\r", "a\r\r\n" },
	{ DKIM_CANON_RELAXED, "\r\n\r\nx\r\n", "\r\n\r\nx\r\n" },
	{ DKIM_CANON_RELAXED, "x \r\n \r\ny", "x\r\n\r\ny\r\n" },
};

static void test_body_canon(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(body_cases); i++) {
		const struct canon_case *c = &body_cases[i];
		size_t len = strlen(c->in);
		/* every chunk size, so each boundary falls everywhere */
		for (size_t chunk = 1; chunk <= len + 1; chunk++) {
			buf *out = buf_new(64);
			dkim_body *b = dkim_body_new(c->canon, -1, out);
			for (size_t off = 0; off < len; off += chunk)
				dkim_body_update(b, c->in + off, len - off < chunk ? len - off : chunk);
			dkim_body_final(b, NULL);
			if (strcmp(buf_cstr(out), c->out) != 0)
				fail_msg("case %zu chunk %zu: got \"%s\"", i, chunk, buf_cstr(out));
			assert_int_equal(dkim_body_length(b), strlen(c->out));
			dkim_body_free(&b);
			buf_free(&out);
		}
	}
}

static void test_body_limit(void **state)
{
	buf *out = buf_new(64);
	dkim_body *b = dkim_body_new(DKIM_CANON_SIMPLE, 4, out);

	(void)state;
	dkim_body_update(b, "abc\r\ndef\r\n", 10);
	dkim_body_final(b, NULL);
	assert_string_equal(buf_cstr(out), "abc\r");
	assert_int_equal(dkim_body_length(b), 10);
	dkim_body_free(&b);
	buf_free(&out);
}

static const struct canon_case header_cases[] = {
	{ DKIM_CANON_RELAXED, "A: X\r\n", "a:X\r\n" },
	{ DKIM_CANON_RELAXED, "B : Y\t\r\n\tZ  \r\n", "b:Y Z\r\n" },
	{ DKIM_CANON_SIMPLE, "B : Y\t\r\n\tZ  \r\n", "B : Y\t\r\n\tZ  \r\n" },
	{ DKIM_CANON_RELAXED, "Subject:   \r\n", "subject:\r\n" },
	{ DKIM_CANON_RELAXED, "SUBJECT:\r\n a \r\n  b\r\n", "subject:a b\r\n" },
};

static void test_header_canon(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(header_cases); i++) {
		buf *out = buf_new(64);
		dkim_canon_header(header_cases[i].canon, header_cases[i].in,
				  strlen(header_cases[i].in), false, out);
		assert_string_equal(buf_cstr(out), header_cases[i].out);
		buf_free(&out);
	}
}

static void test_without_b(void **state)
{
	static const char *const cases[][2] = {
		{ "DKIM-Signature: a=1; b=abc\r\n def; bh=xyz\r\n",
		  "DKIM-Signature: a=1; b=; bh=xyz\r\n" },
		{ "DKIM-Signature: a=1; bh=x; b = ab\r\n\tc\r\n", "DKIM-Signature: a=1; bh=x; b =\r\n" },
		{ "DKIM-Signature: b=a;b=c", "DKIM-Signature: b=;b=" },
	};
	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		size_t len;
		char *s = dkim_field_without_b(cases[i][0], strlen(cases[i][0]), &len);
		assert_string_equal(s, cases[i][1]);
		assert_int_equal(len, strlen(cases[i][1]));
		free(s);
	}
}

/* header selection: a header listed more often than present adds nothing;
 * instances are taken bottom-up */
static void test_header_selection(void **state)
{
	const char *hdr = "X: 1\r\nY: a\r\nX: 2\r\n\r\n";
	const char *names[] = { "x", "x", "x", "y" };
	dkim_hdrs *h = dkim_hdrs_parse(hdr, strlen(hdr), 100);
	EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
	unsigned char da[32], db[32];
	const char *want = "x:2\r\nx:1\r\ny:a\r\n";

	(void)state;
	assert_int_equal(dkim_hdrs_count(h), 3);
	EVP_DigestInit_ex(a, EVP_sha256(), NULL);
	EVP_DigestInit_ex(b, EVP_sha256(), NULL);
	dkim_hdrs_hash_selected(h, names, 4, DKIM_CANON_RELAXED, a);
	EVP_DigestUpdate(b, want, strlen(want));
	EVP_DigestFinal_ex(a, da, NULL);
	EVP_DigestFinal_ex(b, db, NULL);
	assert_memory_equal(da, db, 32);
	EVP_MD_CTX_free(a);
	EVP_MD_CTX_free(b);
	dkim_hdrs_free(&h);
}

/* ---- the shared vectors ---- */

static void test_rfc8463_example(void **state)
{
	struct mem_dns m = { 0 };
	char *msg = vector_text("rfc6376.signed.msg"), *word;
	dkim_verifier *v;

	(void)state;
	mem_load_records(&m);
	v = verify(&m, msg, strlen(msg), 1);
	assert_int_equal(dkim_verify_count(v), 2);
	expect(v, 0, DKIM_PASS, NULL);
	expect(v, 1, DKIM_PASS, NULL);
	assert_int_equal(dkim_verify_result(v, 0)->alg, DKIM_ED25519_SHA256);
	assert_int_equal(dkim_verify_result(v, 1)->alg, DKIM_RSA_SHA256);
	assert_string_equal(dkim_verify_result(v, 0)->domain, "football.example.com");
	assert_string_equal(dkim_verify_result(v, 1)->identity, "@football.example.com");
	dkim_verify_free(&v);

	word = strstr(msg, "hungry");
	assert_non_null(word);
	word[0] = 'H';
	v = verify(&m, msg, strlen(msg), 4096);
	expect(v, 0, DKIM_FAIL, "body hash mismatch");
	expect(v, 1, DKIM_FAIL, "body hash mismatch");
	dkim_verify_free(&v);
	free(msg);
	mem_free(&m);
}

static void test_exim_and_gmail(void **state)
{
	static const char *const files[] = { "ed25519test2.msg", "test2.message" };
	struct mem_dns m = { 0 };

	(void)state;
	mem_load_records(&m);
	for (size_t i = 0; i < N_ELEMS(files); i++) {
		char *msg = vector_text(files[i]);
		verify_one(&m, msg, DKIM_PASS, NULL);
		/* the same with a changed From: the signature no longer matches */
		char *from = strstr(msg, "\nFrom:");
		assert_non_null(from);
		from[7] = from[7] == 'X' ? 'Y' : 'X';
		verify_one(&m, msg, DKIM_FAIL, "signature mismatch");
		free(msg);
	}
	mem_free(&m);
}

/* test.message signed with test.private, verified against each key
 * record file: the good ones pass, the broken ones are permerror */
static void test_key_records(void **state)
{
	static const struct {
		const char *file;
		enum dkim_status st;
		const char *reason;
	} cases[] = {
		{ "test.txt", DKIM_PASS, NULL },
		{ "test2.txt", DKIM_PASS, NULL },
		{ "badk.txt", DKIM_PERMERROR, "key record: unknown key type" },
		{ "badversion.txt", DKIM_PERMERROR, "key record: bad version" },
		{ "test_bad.txt", DKIM_PERMERROR, "key record: undecodable public key" },
		{ "test_tlsrpt.txt", DKIM_PERMERROR, "key record: service type is not email" },
	};
	dkim_key *k = load_key("test.private");
	struct dkim_sign_params p = rsa_params(k);
	char *msg = vector_text("test.message"), *signed_msg = sign(msg, &p, 1);
	struct mem_dns m = { 0 };

	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		char *rec = vector_text(cases[i].file);
		rec[strcspn(rec, "\r\n")] = '\0';
		mem_set(&m, "test._domainkey.example.com", rec);
		verify_one(&m, signed_msg, cases[i].st, cases[i].reason);
		free(rec);
	}
	free(msg);
	free(signed_msg);
	dkim_key_free(&k);
	mem_free(&m);
}

/* ed25519_record: the key record of a made-up Ed25519 public key. */
static char *ed25519_record(unsigned char fill)
{
	unsigned char raw[32];
	buf *b64 = buf_new(64);
	char *rec;

	memset(raw, fill, sizeof(raw));
	raw[0] = 0x5a;
	base64_encode(b64, raw, sizeof(raw));
	rec = xasprintf("v=DKIM1; k=ed25519; p=%s", buf_cstr(b64));
	buf_free(&b64);
	return rec;
}

/* The decoded keys are cached: the same record gives the same key object,
 * another record another, and a key pushed out by 40 others is decoded
 * again, equal to what it was. */
static void test_pubkey_cache(void **state)
{
	char *rsa = vector_text("test.txt"), *rsa2 = vector_text("test2.txt");
	char *other = ed25519_record(99);
	struct dkim_pubkey a, b, c;
	const char *reason = NULL;
	char *first = ed25519_record(1);

	(void)state;
	rsa[strcspn(rsa, "\r\n")] = '\0';
	rsa2[strcspn(rsa2, "\r\n")] = '\0';
	assert_int_equal(dkim_pubkey_parse(rsa, strlen(rsa), &a, &reason), 0);
	assert_int_equal(dkim_pubkey_parse(rsa, strlen(rsa), &b, &reason), 0);
	assert_ptr_equal(a.pkey, b.pkey);
	dkim_pubkey_clear(&b);
	/* test2.txt: the same key under other tags */
	assert_int_equal(dkim_pubkey_parse(rsa2, strlen(rsa2), &b, &reason), 0);
	assert_ptr_equal(a.pkey, b.pkey);
	assert_int_equal(dkim_pubkey_parse(other, strlen(other), &c, &reason), 0);
	assert_ptr_not_equal(a.pkey, c.pkey);
	dkim_pubkey_clear(&b);
	dkim_pubkey_clear(&c);
	assert_int_equal(dkim_pubkey_parse(first, strlen(first), &b, &reason), 0);
	for (unsigned char i = 2; i < 42; i++) {
		char *rec = ed25519_record(i);
		assert_int_equal(dkim_pubkey_parse(rec, strlen(rec), &c, &reason), 0);
		assert_int_equal(c.alg, DKIM_ED25519_SHA256);
		dkim_pubkey_clear(&c);
		free(rec);
	}
	assert_int_equal(dkim_pubkey_parse(first, strlen(first), &c, &reason), 0);
	assert_ptr_not_equal(b.pkey, c.pkey);
	assert_int_equal(EVP_PKEY_eq(b.pkey, c.pkey), 1);
	dkim_pubkey_clear(&a);
	dkim_pubkey_clear(&b);
	dkim_pubkey_clear(&c);
	free(first);
	free(other);
	free(rsa);
	free(rsa2);
}

static void test_no_from(void **state)
{
	dkim_key *k = load_key("test.private");
	struct dkim_sign_params p = rsa_params(k);
	char *msg = vector_text("test_nofrom.message"), *err = NULL;
	dkim_signer *s = dkim_signer_new();
	buf *out = buf_new(100);
	const char *no_from[] = { "To", "Subject", NULL };

	(void)state;
	assert_int_equal(dkim_signer_add(s, &p, &err), 0);
	dkim_signer_body(s, "x\r\n", 3);
	assert_int_equal(dkim_signer_finish(s, msg, split(msg, strlen(msg)), out, &err), -1);
	assert_non_null(strstr(err, "From"));
	assert_int_equal(buf_len(out), 0);
	free(err);
	dkim_signer_free(&s);
	/* a header list without From is refused up front */
	s = dkim_signer_new();
	p.headers = no_from;
	assert_int_equal(dkim_signer_add(s, &p, &err), -1);
	free(err);
	dkim_signer_free(&s);
	buf_free(&out);
	free(msg);
	dkim_key_free(&k);
}

/* ---- round trips ---- */

static void round_trip(const char *msgfile, const char *keyfile, const char *domain,
		       const char *selector)
{
	static const enum dkim_canon canons[][2] = {
		{ DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE },
		{ DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED },
		{ DKIM_CANON_RELAXED, DKIM_CANON_SIMPLE },
		{ DKIM_CANON_RELAXED, DKIM_CANON_RELAXED },
	};
	dkim_key *k = load_key(keyfile);
	char *msg = vector_text(msgfile), *rec = dkim_key_txt_record(k), *name;
	struct dkim_sign_params p[4];
	struct mem_dns m = { 0 };
	dkim_verifier *v;
	char *signed_msg;

	name = xasprintf("%s._domainkey.%s", selector, domain);
	mem_set(&m, name, rec);
	for (size_t i = 0; i < 4; i++) {
		p[i] = rsa_params(k);
		p[i].domain = domain;
		p[i].selector = selector;
		p[i].header_canon = canons[i][0];
		p[i].body_canon = canons[i][1];
		p[i].timestamp = time(NULL);
		p[i].expire_secs = 3600;
	}
	/* four signatures, one pass over the body */
	signed_msg = sign(msg, p, 4);
	v = verify(&m, signed_msg, strlen(signed_msg), 3);
	assert_true(dkim_verify_count(v) >= 4); /* message.mbox has one already */
	for (size_t i = 0; i < 4; i++)
		expect(v, i, DKIM_PASS, NULL);
	dkim_verify_free(&v);
	/* with a changed body every signature fails on its body hash */
	signed_msg[strlen(signed_msg) - 3] ^= 1;
	v = verify(&m, signed_msg, strlen(signed_msg), 3);
	for (size_t i = 0; i < 4; i++)
		expect(v, i, DKIM_FAIL, "body hash mismatch");
	dkim_verify_free(&v);
	free(signed_msg);
	free(name);
	free(rec);
	free(msg);
	dkim_key_free(&k);
	mem_free(&m);
}

static void test_round_trip_rsa(void **state)
{
	(void)state;
	round_trip("test.message", "test.private", "example.com", "test");
	round_trip("message.mbox", "test.private", "example.com", "test");
}

static void test_round_trip_ed25519(void **state)
{
	(void)state;
	round_trip("ed25519test.msg", "ed25519test.key", "example.net", "test");
	round_trip("rfc6376.msg", "rfc8032_7_1.key", "football.example.com", "brisbane");
}

/* the public halves we derive match the published records */
static void test_txt_records(void **state)
{
	dkim_key *k = load_key("ed25519test.key");
	char *rec = dkim_key_txt_record(k), *want = vector_text("ed25519test.dns");
	struct mem_dns m = { 0 };

	(void)state;
	want[strcspn(want, "\r\n")] = '\0';
	assert_non_null(strstr(rec, strstr(want, "p=")));
	free(rec);
	dkim_key_free(&k);
	k = load_key("rfc8032_7_1.key");
	rec = dkim_key_txt_record(k);
	mem_load_records(&m);
	assert_non_null(strstr(rec, strstr(m.values[0], "p=")));
	free(rec);
	free(want);
	dkim_key_free(&k);
	mem_free(&m);
}

/* ---- behaviour ---- */

static void test_oversigning(void **state)
{
	dkim_key *k = load_key("test.private");
	struct dkim_sign_params p = rsa_params(k);
	char *msg = vector_text("test.message"), *signed_msg = sign(msg, &p, 1), *twice;
	struct mem_dns m = { 0 };

	(void)state;
	mem_load_records(&m);
	assert_non_null(strstr(signed_msg, "h=from:from:to:to:cc:subject:subject:"));
	verify_one(&m, signed_msg, DKIM_PASS, NULL);
	/* an added From, Subject or Cc (absent before) breaks it */
	static const char *const added[] = { "From: evil@example.org\r\n", "Subject: new\r\n",
					     "Cc: x@example.org\r\n", "Reply-To: a@b.example\r\n" };
	for (size_t i = 0; i < N_ELEMS(added); i++) {
		twice = xasprintf("%s%s", added[i], signed_msg);
		verify_one(&m, twice, DKIM_FAIL, "signature mismatch");
		free(twice);
	}
	/* an unsigned header may be added */
	twice = xasprintf("X-Other: 1\r\n%s", signed_msg);
	verify_one(&m, twice, DKIM_PASS, NULL);
	free(twice);
	free(signed_msg);
	free(msg);
	dkim_key_free(&k);
	mem_free(&m);
}

static void test_length_tag(void **state)
{
	dkim_key *k = load_key("test.private");
	struct dkim_sign_params p = rsa_params(k);
	char *msg = vector_text("test.message"), *signed_msg, *more;
	struct mem_dns m = { 0 };

	(void)state;
	mem_load_records(&m);
	p.length_tag = true;
	signed_msg = sign(msg, &p, 1);
	assert_non_null(strstr(signed_msg, "l=25;"));
	more = xasprintf("%sappended by a list\r\n", signed_msg);
	verify_one(&m, more, DKIM_PASS, NULL);
	free(more);
	/* a body shorter than l= */
	more = xstrdup(signed_msg);
	strcpy(strstr(more, "This is a test"), "Short\r\n");
	verify_one(&m, more, DKIM_FAIL, "l= exceeds the body length");
	free(more);
	free(signed_msg);
	free(msg);
	dkim_key_free(&k);
	mem_free(&m);
}

static void test_async_lookup(void **state)
{
	char *msg = vector_text("rfc6376.signed.msg");
	struct mem_dns m = { 0 };
	struct dkim_verify_params p = mem_params(&m);
	dkim_verifier *v = dkim_verify_new(&p);
	size_t hl = split(msg, strlen(msg));
	int called = 0;

	(void)state;
	mem_load_records(&m);
	m.deferred = true;
	assert_int_equal(dkim_verify_headers(v, msg, hl), 2);
	dkim_verify_body(v, msg + hl, strlen(msg) - hl);
	assert_int_equal(dkim_verify_finish(v, (dkim_verify_cb *)(void (*)(void))NULL, NULL), 0);
	mem_flush(&m); /* with no callback set: must not crash */
	expect(v, 0, DKIM_PASS, NULL);
	expect(v, 1, DKIM_PASS, NULL);
	dkim_verify_free(&v);

	/* freed before the answers: the lookups are cancelled */
	v = dkim_verify_new(&p);
	dkim_verify_headers(v, msg, hl);
	dkim_verify_free(&v);
	assert_int_equal(m.cancels, 2);
	mem_flush(&m);

	/* temporary failure */
	m.deferred = false;
	m.tempfail = true;
	verify_one(&m, msg, DKIM_TEMPERROR, "key lookup failed");
	(void)called;
	free(msg);
	mem_free(&m);
}

static void note_done(void *ctx, dkim_verifier *v)
{
	(void)v;
	(*(int *)ctx)++;
}

static void test_async_callback(void **state)
{
	char *msg = vector_text("ed25519test2.msg");
	struct mem_dns m = { 0 };
	struct dkim_verify_params p = mem_params(&m);
	dkim_verifier *v = dkim_verify_new(&p);
	size_t hl = split(msg, strlen(msg));
	int called = 0;

	(void)state;
	mem_load_records(&m);
	m.deferred = true;
	dkim_verify_headers(v, msg, hl);
	dkim_verify_body(v, msg + hl, strlen(msg) - hl);
	assert_int_equal(dkim_verify_finish(v, note_done, &called), 0);
	assert_int_equal(called, 0);
	mem_flush(&m);
	assert_int_equal(called, 1);
	expect(v, 0, DKIM_PASS, NULL);
	dkim_verify_free(&v);
	free(msg);
	mem_free(&m);
}

/* a message with 1,000 signatures: 10 judged, no more key lookups */
static void test_signature_limit(void **state)
{
	char *msg = vector_text("ed25519test2.msg");
	buf *b = buf_new(200000);
	size_t hl = split(msg, strlen(msg));
	struct mem_dns m = { 0 };
	dkim_verifier *v;

	(void)state;
	mem_load_records(&m);
	for (int i = 0; i < 1000; i++)
		buf_append(b, msg, (size_t)(strstr(msg, "Received:") - msg)); /* its signature */
	buf_append(b, msg, strlen(msg));
	(void)hl;
	/* the default header limit (1000) cuts the block short: From is lost */
	v = verify(&m, buf_cstr(b), buf_len(b), 4096);
	assert_int_equal(dkim_verify_count(v), 1000);
	assert_int_equal(m.lookups, 10);
	expect(v, 0, DKIM_FAIL, "signature mismatch");
	dkim_verify_free(&v);
	m.lookups = 0;
	max_headers = 2000;
	v = verify(&m, buf_cstr(b), buf_len(b), 4096);
	max_headers = 0;
	assert_int_equal(dkim_verify_count(v), 1001);
	assert_int_equal(m.lookups, 10);
	expect(v, 0, DKIM_PASS, NULL);
	expect(v, 9, DKIM_PASS, NULL);
	expect(v, 10, DKIM_NEUTRAL, NULL);
	expect(v, 1000, DKIM_NEUTRAL, NULL);
	dkim_verify_free(&v);

	/* broken signatures on top do not push a good one out of the limit */
	buf_reset(b);
	for (int i = 0; i < 15; i++)
		buf_puts(b, "DKIM-Signature: v=2; a=rsa-sha256; d=x.example; s=s; h=from; bh=; b=\r\n");
	buf_append(b, msg, strlen(msg));
	m.lookups = 0;
	v = verify(&m, buf_cstr(b), buf_len(b), 4096);
	assert_int_equal(dkim_verify_count(v), 16);
	assert_int_equal(m.lookups, 1);
	expect(v, 14, DKIM_PERMERROR, "bad version");
	expect(v, 15, DKIM_PASS, NULL);
	dkim_verify_free(&v);
	buf_free(&b);
	free(msg);
	mem_free(&m);
}

/* broken signatures: the valid RSA signature of test.message with one
 * tag replaced (the replacement text swaps in for the first match) */
struct broken {
	const char *from, *to;
	enum dkim_status st;
	const char *reason;
};

static const struct broken broken[] = {
	{ "v=1;", "v=2;", DKIM_PERMERROR, "bad version" },
	{ "v=1;", "", DKIM_PERMERROR, "missing required tag" },
	{ "a=rsa-sha256;", "a=rsa-sha1;", DKIM_PERMERROR, "rsa-sha1 is not accepted" },
	{ "a=rsa-sha256;", "a=ed25519-sha256;", DKIM_PERMERROR, "key type does not match a=" },
	{ "a=rsa-sha256;", "a=rsa-md5;", DKIM_PERMERROR, "unknown algorithm" },
	{ "d=example.com;", "d=example.com; i=user@example.org;", DKIM_PERMERROR,
	  "i= not within d=" },
	{ "d=example.com;", "d=example.com; i=user@sub.example.com;", DKIM_FAIL,
	  "signature mismatch" },
	{ "d=example.com;", "d=example.com; l=99999999999999999999999;", DKIM_PERMERROR,
	  "bad l=" },
	{ "d=example.com;", "d=example.com; x=1000;", DKIM_PERMERROR, "signature expired" },
	{ "d=example.com;", "d=example.com; t=99999999999;", DKIM_PERMERROR,
	  "signature timestamp in the future" },
	{ "d=example.com;", "d=example.com; t=2000; x=1000;", DKIM_PERMERROR, "x= before t=" },
	{ "d=example.com;", "d=example.com; q=http;", DKIM_PERMERROR, "no q=dns/txt" },
	{ "d=example.com;", "d=example.com; d=example.org;", DKIM_PERMERROR,
	  "malformed signature" },
	{ "c=relaxed/relaxed;", "c=fancy;", DKIM_PERMERROR, "bad c=" },
	{ "s=test;", "s=nokey;", DKIM_PERMERROR, "no key record" },
	{ "s=test;", "s=te$t;", DKIM_PERMERROR, "bad d= or s=" },
	{ "h=from:from:", "h=to:from:", DKIM_FAIL, "signature mismatch" },
	{ "h=from:from:", "h=to:to:", DKIM_PERMERROR, "From is not signed" },
	{ "h=from:from:", "h=::", DKIM_PERMERROR, "bad h=" },
	{ "bh=", "bh=!!", DKIM_PERMERROR, "bad bh=" },
	{ "bh=", "bh=AAAA", DKIM_PERMERROR, "bad bh=" },
	{ "b=", "b=*", DKIM_PERMERROR, "bad b=" },
};

static void test_broken_signatures(void **state)
{
	dkim_key *k = load_key("test.private");
	struct dkim_sign_params p = rsa_params(k);
	char *msg = vector_text("test.message"), *signed_msg = sign(msg, &p, 1);
	struct mem_dns m = { 0 };

	(void)state;
	mem_load_records(&m);
	for (size_t i = 0; i < N_ELEMS(broken); i++) {
		const char *at = strstr(signed_msg, broken[i].from);
		if (at == NULL)
			fail_msg("case %zu: %s not in the signature", i, broken[i].from);
		char *bad = xasprintf("%.*s%s%s", (int)(at - signed_msg), signed_msg, broken[i].to,
				      at + strlen(broken[i].from));
		dkim_verifier *v = verify(&m, bad, strlen(bad), 64);
		const struct dkim_result *r = dkim_verify_result(v, 0);
		if (r->status != broken[i].st || strcmp(r->reason, broken[i].reason) != 0)
			fail_msg("case %zu (%s): %s (%s)", i, broken[i].to, dkim_status_name(r->status),
				 r->reason ? r->reason : "-");
		dkim_verify_free(&v);
		free(bad);
	}
	/* a header-list loop: h= with From a thousand times */
	buf *loop = buf_new(8000);
	buf_puts(loop, "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=test; bh=");
	buf_puts(loop, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA; h=from");
	for (int i = 0; i < 1000; i++)
		buf_puts(loop, ":from");
	buf_puts(loop, "\r\nFrom: a@example.com\r\n\r\nbody\r\n");
	verify_one(&m, buf_cstr(loop), DKIM_PERMERROR, "bad h=");
	buf_free(&loop);
	free(signed_msg);
	free(msg);
	dkim_key_free(&k);
	mem_free(&m);
}

/* fill_key: tmpl with "%s" replaced by the p= tag p */
static char *fill_key(const char *tmpl, const char *p)
{
	const char *at = strstr(tmpl, "%s");

	if (at == NULL)
		return xstrdup(tmpl);
	return xasprintf("%.*s%s%s", (int)(at - tmpl), tmpl, p, at + 2);
}

/* key record flags and sizes */
static void test_key_flags(void **state)
{
	dkim_key *k = load_key("test.private");
	struct dkim_sign_params p = rsa_params(k);
	char *msg = vector_text("test.message"), *signed_msg, *rec = dkim_key_txt_record(k);
	char *p_value = strstr(rec, "p="), *r;
	struct mem_dns m = { 0 };
	const struct dkim_result *res;
	dkim_verifier *v;

	(void)state;
	p.identity = "user@sub.example.com";
	signed_msg = sign(msg, &p, 1);
	r = xasprintf("v=DKIM1; t=y; %s", p_value);
	mem_set(&m, "test._domainkey.example.com", r);
	v = verify(&m, signed_msg, strlen(signed_msg), 100);
	res = dkim_verify_result(v, 0);
	assert_int_equal(res->status, DKIM_PASS);
	assert_true(res->testing);
	assert_int_equal(res->key_bits, 1024);
	assert_string_equal(res->identity, "user@sub.example.com");
	dkim_verify_free(&v);
	free(r);
	static const struct {
		const char *rec;
		const char *reason;
	} cases[] = {
		{ "v=DKIM1; t=s; %s", "i= domain is not d= (key has t=s)" },
		{ "v=DKIM1; h=sha1; %s", "key record: sha256 not allowed by h=" },
		{ "v=DKIM1; p=", "key revoked" },
		{ "v=DKIM1; k=ed25519; %s", "key record: undecodable public key" },
		{ "k=rsa; v=DKIM1; %s", "key record: bad version" },
		{ "v=DKIM1; %s; p=x", "key record: syntax error" },
		{ "v=DKIM1; k=rsa", "key record: no p=" },
	};
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		r = fill_key(cases[i].rec, p_value);
		mem_set(&m, "test._domainkey.example.com", r);
		verify_one(&m, signed_msg, DKIM_PERMERROR, cases[i].reason);
		free(r);
	}
	/* a 512-bit RSA key record */
	EVP_PKEY *small = EVP_RSA_gen(512);
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(small, &der);
	buf *b = buf_new(200);
	buf_puts(b, "v=DKIM1; p=");
	base64_encode(b, der, (size_t)n);
	mem_set(&m, "test._domainkey.example.com", buf_cstr(b));
	verify_one(&m, signed_msg, DKIM_PERMERROR, "RSA key too small");
	OPENSSL_free(der);
	EVP_PKEY_free(small);
	buf_free(&b);
	free(signed_msg);
	free(rec);
	free(msg);
	dkim_key_free(&k);
	mem_free(&m);
}

static void test_key_load(void **state)
{
	char *err = NULL;

	(void)state;
	assert_null(dkim_key_load("nonsense", 8, &err));
	free(err);
	assert_null(dkim_key_load("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
				  58, &err));
	free(err);
	assert_null(dkim_key_load_file("/nonexistent/key", &err));
	assert_non_null(strstr(err, "/nonexistent/key"));
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_canon),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_header_canon),
		cmocka_unit_test(test_without_b),
		cmocka_unit_test(test_header_selection),
		cmocka_unit_test(test_rfc8463_example),
		cmocka_unit_test(test_exim_and_gmail),
		cmocka_unit_test(test_key_records),
		cmocka_unit_test(test_pubkey_cache),
		cmocka_unit_test(test_no_from),
		cmocka_unit_test(test_round_trip_rsa),
		cmocka_unit_test(test_round_trip_ed25519),
		cmocka_unit_test(test_txt_records),
		cmocka_unit_test(test_oversigning),
		cmocka_unit_test(test_length_tag),
		cmocka_unit_test(test_async_lookup),
		cmocka_unit_test(test_async_callback),
		cmocka_unit_test(test_signature_limit),
		cmocka_unit_test(test_broken_signatures),
		cmocka_unit_test(test_key_flags),
		cmocka_unit_test(test_key_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
