/* test_arc.c: unit tests for ARC (lib/arc*.c) with keys made here and an
 * in-memory key zone: seal then verify over 1, 2, 3 and 50 hops (Ed25519
 * and RSA), asynchronous key answers, and the ways a chain fails: body or
 * signed header changed after sealing (and the cv=fail seal after it), a
 * missing, duplicated or swapped set, bad cv=, i= above 50, a key lookup
 * that fails for now, and the sealer's refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "arc.h"
#include "arc_int.h"
#include "buf.h"
#include "mem.h"

#define MSG                                                                              \
	"From: Alice <alice@origin.test>\r\nTo: list@lists.test\r\n"                      \
	"Subject: hello\r\nDate: Mon, 7 Dec 2026 20:00:00 +0000\r\n"                      \
	"Message-ID: <1@origin.test>\r\n\r\nHello,  world.\r\n\r\nsecond line\r\n"

/* ---- the key zone ---- */

struct zone_entry {
	char *name, *txt;
};

static struct zone_entry zone[8];
static size_t zone_len;
static bool zone_async, zone_tempfail;
static struct {
	txt_cb *cb;
	void *ctx;
	char *name;
} parked[64];
static size_t nparked;

static void zone_answer(const char *name, txt_cb *cb, void *cb_ctx)
{
	if (zone_tempfail) {
		cb(cb_ctx, TXT_TEMPFAIL, NULL, NULL, 0);
		return;
	}
	for (size_t i = 0; i < zone_len; i++) {
		if (strcmp(zone[i].name, name) == 0) {
			const char *txt[1] = { zone[i].txt };
			size_t len[1] = { strlen(zone[i].txt) };
			cb(cb_ctx, TXT_FOUND, txt, len, 1);
			return;
		}
	}
	cb(cb_ctx, TXT_NOTFOUND, NULL, NULL, 0);
}

static void *zone_lookup(void *rctx, const char *name, txt_cb *cb, void *cb_ctx)
{
	(void)rctx;
	if (!zone_async) {
		zone_answer(name, cb, cb_ctx);
		return NULL;
	}
	assert_true(nparked < 64);
	parked[nparked].cb = cb;
	parked[nparked].ctx = cb_ctx;
	parked[nparked].name = xstrdup(name);
	return &parked[nparked++];
}

static void zone_cancel(void *rctx, void *handle)
{
	struct txt_resolver *unused = rctx;
	(void)unused;
	((typeof(&parked[0]))handle)->cb = NULL;
}

static void zone_flush(void)
{
	for (size_t i = 0; i < nparked; i++) {
		if (parked[i].cb != NULL)
			zone_answer(parked[i].name, parked[i].cb, parked[i].ctx);
		free(parked[i].name);
	}
	nparked = 0;
}

/* make_key: a new key (Ed25519 or RSA-1024) for sel._domainkey.dom,
 * published in the zone. */
static dkim_key *make_key(const char *dom, const char *sel, bool rsa)
{
	EVP_PKEY *pk = rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024)
			   : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem, *err = NULL;
	long n;
	dkim_key *k;

	assert_non_null(pk);
	assert_int_equal(PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &pem);
	k = dkim_key_load(pem, (size_t)n, &err);
	assert_non_null(k);
	BIO_free(bio);
	EVP_PKEY_free(pk);
	assert_true(zone_len < 8);
	zone[zone_len].name = xasprintf("%s._domainkey.%s", sel, dom);
	zone[zone_len++].txt = dkim_key_txt_record(k);
	return k;
}

static dkim_key *key_a, *key_b, *key_rsa;

static int setup(void **state)
{
	(void)state;
	key_a = make_key("lists.test", "arc1", false);
	key_b = make_key("relay.test", "seal", false);
	key_rsa = make_key("rsa.test", "r", true);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dkim_key_free(&key_a);
	dkim_key_free(&key_b);
	dkim_key_free(&key_rsa);
	for (size_t i = 0; i < zone_len; i++) {
		free(zone[i].name);
		free(zone[i].txt);
	}
	return 0;
}

/* ---- helpers ---- */

static size_t header_len(const char *msg)
{
	const char *sep = strstr(msg, "\r\n\r\n");

	assert_non_null(sep);
	return (size_t)(sep - msg) + 4;
}

static struct {
	bool called;
} cb_seen;

static void verify_done(void *ctx, arc_verifier *v)
{
	(void)ctx;
	(void)v;
	cb_seen.called = true;
}

/* verify: the chain result on msg, the reason in *why_r. */
static enum arc_result verify(const char *msg, const char **why_r)
{
	static char why[128];
	struct arc_verify_params p = { { zone_lookup, zone_cancel, NULL }, 0, 0, 0 };
	arc_verifier *v = arc_verify_new(&p);
	size_t hl = header_len(msg), bl = strlen(msg) - hl;
	enum arc_result r;

	arc_verify_headers(v, msg, hl);
	arc_verify_body(v, msg + hl, bl / 2); /* in two chunks */
	arc_verify_body(v, msg + hl + bl / 2, bl - bl / 2);
	cb_seen.called = false;
	if (arc_verify_finish(v, verify_done, NULL) == 0) {
		zone_flush();
		assert_true(cb_seen.called);
	}
	r = arc_verify_result(v);
	snprintf(why, sizeof(why), "%s", arc_verify_reason(v) ? arc_verify_reason(v) : "");
	if (why_r != NULL)
		*why_r = why;
	arc_verify_free(&v);
	return r;
}

/* seal: msg with the next set added by dom/sel (chain: the verdict on
 * msg); heap. NULL when the sealer refuses (*err_r then says why). */
static char *seal_err(const char *msg, const char *dom, const char *sel, const dkim_key *k,
		      enum arc_result chain, char **err_r)
{
	char *ar = xasprintf("%s; arc=%s; spf=pass smtp.mailfrom=origin.test", dom,
			     arc_result_name(chain));
	struct arc_seal_params p = { dom, sel, k, ar, NULL, 1765137600 };
	arc_sealer *s = arc_sealer_new(&p, err_r);
	size_t hl = header_len(msg);
	buf *out = buf_new(4096);
	char *ret = NULL;

	assert_non_null(s);
	arc_sealer_body(s, msg + hl, 3);
	arc_sealer_body(s, msg + hl + 3, strlen(msg) - hl - 3);
	if (arc_sealer_finish(s, msg, hl, chain, out, err_r) == 0) {
		buf_puts(out, msg);
		ret = buf_steal(out);
	}
	buf_free(&out);
	arc_sealer_free(&s);
	free(ar);
	return ret;
}

static char *seal(const char *msg, const char *dom, const char *sel, const dkim_key *k)
{
	char *err = NULL, *out;
	enum arc_result chain = verify(msg, NULL);

	out = seal_err(msg, dom, sel, k, chain, &err);
	if (out == NULL)
		fail_msg("seal refused: %s", err);
	return out;
}

/* replace: msg with the first from replaced by to (heap). */
static char *replace(const char *msg, const char *from, const char *to)
{
	const char *at = strstr(msg, from);
	buf *b = buf_new(strlen(msg) + 64);

	assert_non_null(at);
	buf_append(b, msg, (size_t)(at - msg));
	buf_puts(b, to);
	buf_puts(b, at + strlen(from));
	return buf_steal_free(&b);
}

/* field_span: the whole field that starts with prefix (with its folded
 * lines and CRLF) in msg. */
static void field_span(const char *msg, const char *prefix, const char **start_r, size_t *len_r)
{
	const char *s = strstr(msg, prefix), *e;

	assert_non_null(s);
	for (e = strstr(s, "\r\n"); e[2] == ' ' || e[2] == '\t'; e = strstr(e + 2, "\r\n"))
		;
	*start_r = s;
	*len_r = (size_t)(e + 2 - s);
}

/* ---- tests ---- */

static void test_no_chain(void **state)
{
	(void)state;
	assert_int_equal(verify(MSG, NULL), ARC_NONE);
}

static void test_hops(void **state)
{
	char *m1, *m2, *m3;
	const char *why;

	(void)state;
	m1 = seal(MSG, "lists.test", "arc1", key_a);
	assert_non_null(strstr(m1, "ARC-Seal: i=1; cv=none;"));
	assert_non_null(strstr(m1, "ARC-Authentication-Results: i=1; lists.test; arc=none;"));
	assert_true(strncmp(m1, "ARC-Seal:", 9) == 0);
	assert_int_equal(verify(m1, &why), ARC_PASS);
	m2 = seal(m1, "relay.test", "seal", key_b);
	assert_non_null(strstr(m2, "ARC-Seal: i=2; cv=pass;"));
	assert_int_equal(verify(m2, &why), ARC_PASS);
	m3 = seal(m2, "rsa.test", "r", key_rsa);
	assert_non_null(strstr(m3, "a=rsa-sha256;"));
	assert_int_equal(verify(m3, &why), ARC_PASS);
	free(m1);
	free(m2);
	free(m3);
}

static void test_async(void **state)
{
	char *m1 = seal(MSG, "lists.test", "arc1", key_a), *m2 = seal(m1, "relay.test", "seal", key_b);

	(void)state;
	zone_async = true;
	assert_int_equal(verify(m2, NULL), ARC_PASS);
	/* freeing with lookups out cancels them */
	{
		struct arc_verify_params p = { { zone_lookup, zone_cancel, NULL }, 0, 0, 0 };
		arc_verifier *v = arc_verify_new(&p);
		assert_int_equal(arc_verify_headers(v, m2, header_len(m2)), 2);
		assert_int_equal(arc_verify_finish(v, verify_done, NULL), 0);
		arc_verify_free(&v);
		cb_seen.called = false;
		zone_flush();
		assert_false(cb_seen.called);
	}
	zone_async = false;
	free(m1);
	free(m2);
}

static void test_body_changed(void **state)
{
	char *m1 = seal(MSG, "lists.test", "arc1", key_a), *m2 = seal(m1, "relay.test", "seal", key_b);
	char *bad = replace(m2, "second line", "second lime"), *m3, *m4, *err = NULL;
	const char *why;

	(void)state;
	assert_int_equal(verify(bad, &why), ARC_FAIL);
	assert_string_equal(why, "body hash mismatch");
	/* the next hop seals with cv=fail; the chain stays failed */
	m3 = seal(bad, "rsa.test", "r", key_rsa);
	assert_non_null(strstr(m3, "ARC-Seal: i=3; cv=fail;"));
	assert_int_equal(verify(m3, &why), ARC_FAIL);
	assert_string_equal(why, "a seal says cv=fail");
	/* and nobody seals after a cv=fail */
	m4 = seal_err(m3, "lists.test", "arc1", key_a, ARC_FAIL, &err);
	assert_null(m4);
	assert_string_equal(err, "the chain ended with cv=fail");
	free(err);
	free(m1);
	free(m2);
	free(bad);
	free(m3);
}

static void test_header_changed(void **state)
{
	char *m1 = seal(MSG, "lists.test", "arc1", key_a);
	char *bad = replace(m1, "Subject: hello", "Subject: hellO");
	char *aar = replace(m1, "arc=none; spf=pass", "arc=none; spf=fail");
	const char *why;

	(void)state;
	assert_int_equal(verify(bad, &why), ARC_FAIL);
	assert_string_equal(why, "signature mismatch");
	/* the AAR is covered by the seal only */
	assert_int_equal(verify(aar, &why), ARC_FAIL);
	assert_string_equal(why, "signature mismatch");
	free(m1);
	free(bad);
	free(aar);
}

static void test_missing_set_and_duplicate(void **state)
{
	char *m1 = seal(MSG, "lists.test", "arc1", key_a), *m2 = seal(m1, "relay.test", "seal", key_b);
	const char *s, *why;
	size_t n;
	buf *b = buf_new(8192);

	(void)state;
	/* drop the ARC-Seal of i=1 */
	field_span(m2, "ARC-Seal: i=1;", &s, &n);
	buf_append(b, m2, (size_t)(s - m2));
	buf_puts(b, s + n);
	assert_int_equal(verify(buf_cstr(b), &why), ARC_FAIL);
	assert_string_equal(why, "incomplete ARC set");
	/* add a second ARC-Seal of i=1 on top */
	buf_reset(b);
	buf_append(b, s, n);
	buf_puts(b, m2);
	assert_int_equal(verify(buf_cstr(b), &why), ARC_FAIL);
	assert_string_equal(why, "duplicate ARC instance");
	/* the i=2 fields alone (i=1 missing entirely) */
	buf_reset(b);
	field_span(m2, "ARC-Seal: i=2;", &s, &n);
	buf_append(b, s, n);
	field_span(m2, "ARC-Message-Signature: i=2;", &s, &n);
	buf_append(b, s, n);
	field_span(m2, "ARC-Authentication-Results: i=2;", &s, &n);
	buf_append(b, s, n);
	buf_puts(b, MSG);
	assert_int_equal(verify(buf_cstr(b), &why), ARC_FAIL);
	assert_string_equal(why, "incomplete ARC set");
	buf_free(&b);
	free(m1);
	free(m2);
}

static void test_reordered(void **state)
{
	char *m1 = seal(MSG, "lists.test", "arc1", key_a), *m2 = seal(m1, "relay.test", "seal", key_b);
	char *a, *b;
	const char *why;

	(void)state;
	/* swap the instance numbers of the two AARs */
	a = replace(m2, "ARC-Authentication-Results: i=1;", "ARC-Authentication-Results: i=X;");
	b = replace(a, "ARC-Authentication-Results: i=2;", "ARC-Authentication-Results: i=1;");
	free(a);
	a = replace(b, "ARC-Authentication-Results: i=X;", "ARC-Authentication-Results: i=2;");
	assert_int_equal(verify(a, &why), ARC_FAIL);
	assert_string_equal(why, "signature mismatch");
	free(a);
	free(b);
	/* where the fields stand does not matter, their i= does: move set 1 up */
	{
		buf *c = buf_new(8192);
		const char *s;
		size_t n;
		char *rest = xstrdup(m2);
		const char *names[] = { "ARC-Authentication-Results: i=1;",
					"ARC-Message-Signature: i=1;", "ARC-Seal: i=1;" };
		for (int k = 0; k < 3; k++) {
			field_span(rest, names[k], &s, &n);
			buf_append(c, s, n);
			char *cut = xstrndup(rest, (size_t)(s - rest));
			char *next = xasprintf("%s%s", cut, s + n);
			free(cut);
			free(rest);
			rest = next;
		}
		buf_puts(c, rest);
		assert_int_equal(verify(buf_cstr(c), &why), ARC_PASS);
		free(rest);
		buf_free(&c);
	}
	free(m1);
	free(m2);
}

static void test_bad_cv(void **state)
{
	char *m1 = seal(MSG, "lists.test", "arc1", key_a), *m2 = seal(m1, "relay.test", "seal", key_b);
	char *a = replace(m2, "i=2; cv=pass;", "i=2; cv=none;");
	char *b = replace(m2, "i=1; cv=none;", "i=1; cv=pass;");
	char *c = replace(m2, "i=2; cv=pass;", "i=2; cv=maybe;");
	const char *why;

	(void)state;
	assert_int_equal(verify(a, &why), ARC_FAIL);
	assert_string_equal(why, "cv=none above i=1");
	assert_int_equal(verify(b, &why), ARC_FAIL);
	assert_string_equal(why, "cv= is not none at i=1");
	assert_int_equal(verify(c, &why), ARC_FAIL);
	assert_string_equal(why, "missing or bad cv=");
	free(a);
	free(b);
	free(c);
	free(m1);
	free(m2);
}

static void test_limits(void **state)
{
	char *m = xstrdup(MSG), *next, *err = NULL, *big;
	const char *why;

	(void)state;
	for (int i = 0; i < ARC_MAX_INSTANCES; i++) {
		next = seal(m, i % 2 ? "relay.test" : "lists.test", i % 2 ? "seal" : "arc1",
			    i % 2 ? key_b : key_a);
		free(m);
		m = next;
	}
	assert_int_equal(verify(m, &why), ARC_PASS);
	assert_null(seal_err(m, "lists.test", "arc1", key_a, ARC_PASS, &err));
	assert_string_equal(err, "50 ARC sets already");
	free(err);
	free(m);
	/* i=51 is malformed */
	big = xstrdup("ARC-Seal: i=51; cv=pass; a=ed25519-sha256; d=a.test; s=s; b=AAAA\r\n" MSG);
	assert_int_equal(verify(big, &why), ARC_FAIL);
	assert_string_equal(why, "malformed ARC field or bad i=");
	free(big);
	big = xstrdup("ARC-Authentication-Results: i=0; x; none\r\n" MSG);
	assert_int_equal(verify(big, &why), ARC_FAIL);
	free(big);
}

static void test_tempfail_and_refusals(void **state)
{
	char *m1 = seal(MSG, "lists.test", "arc1", key_a), *err = NULL;
	const char *why;
	struct arc_seal_params p = { "lists.test", "arc1", key_a, "no semicolon", NULL, 0 };
	const char *no_from[] = { "Subject", NULL };

	(void)state;
	zone_tempfail = true;
	assert_int_equal(verify(m1, &why), ARC_TEMPERROR);
	assert_string_equal(why, "key lookup failed");
	zone_tempfail = false;
	assert_null(seal_err(m1, "lists.test", "arc1", key_a, ARC_TEMPERROR, &err));
	free(err);
	assert_null(seal_err(m1, "lists.test", "arc1", key_a, ARC_NONE, &err));
	assert_string_equal(err, "chain none on a message with ARC sets");
	free(err);
	assert_null(seal_err(MSG, "lists.test", "arc1", key_a, ARC_PASS, &err));
	free(err);
	assert_null(arc_sealer_new(&p, &err));
	free(err);
	p.authres = "lists.test; arc=none";
	p.headers = no_from;
	assert_null(arc_sealer_new(&p, &err));
	assert_string_equal(err, "the signed headers must include From");
	free(err);
	/* folds in the Authentication-Results text: CRLF + white space only */
	p.headers = NULL;
	p.authres = "lists.test;\r\n\tspf=pass;\r\n\tarc=none";
	{
		arc_sealer *ok = arc_sealer_new(&p, &err);
		assert_non_null(ok);
		arc_sealer_free(&ok);
	}
	p.authres = "lists.test;\n\tarc=none";
	assert_null(arc_sealer_new(&p, &err));
	free(err);
	p.authres = "lists.test;\r\narc=none";
	assert_null(arc_sealer_new(&p, &err));
	free(err);
	/* unknown key: fail */
	{
		char *other = replace(m1, "d=lists.test; s=arc1;", "d=lists.test; s=gone;");
		assert_int_equal(verify(other, &why), ARC_FAIL);
		assert_string_equal(why, "no key record");
		free(other);
	}
	free(m1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_chain),
		cmocka_unit_test(test_hops),
		cmocka_unit_test(test_async),
		cmocka_unit_test(test_body_changed),
		cmocka_unit_test(test_header_changed),
		cmocka_unit_test(test_missing_set_and_duplicate),
		cmocka_unit_test(test_reordered),
		cmocka_unit_test(test_bad_cv),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_tempfail_and_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
