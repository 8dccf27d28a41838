/* test_arc_interop.c: lib/arc against dkimpy's ARC (Debian's python3-dkim
 * with python3-authres) through tests/arc_interop.py: chains lib/arc seals
 * (1 and 2 hops) pass dkimpy's arc_verify and fail it once the body
 * changes; chains dkimpy's arc_sign seals (1 and 2 hops,
 * and one hop on top of a lib/arc set) pass lib/arc's verifier. Keys are
 * the ones of $SHARED/conformance/dkim; dkimpy gets the records from a
 * file, lib/arc from memory. RSA only: dkimpy's ARC knows no
 * ed25519-sha256 (test_arc covers Ed25519 seals). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arc.h"
#include "buf.h"
#include "mem.h"
#include "dkim_kit.h"

#define SRV "mx.example.com"
#define MSG                                                                              \
	"Authentication-Results: " SRV "; spf=pass smtp.mailfrom=example.com\r\n"         \
	"From: Joe <joe@example.com>\r\nTo: Jane <jane@example.org>\r\n"                  \
	"Subject: ARC interop\r\nDate: Mon, 7 Dec 2026 20:00:00 +0000\r\n"               \
	"Message-ID: <arc-1@example.com>\r\n\r\nHi.\r\n\r\n  Indented   line.\r\n\r\n"

static char *rsa_record, *records_path;
static dkim_key *rsa_key;

static char *write_temp(const char *text)
{
	return dkim_kit_write_temp(text);
}

static int python(const char *args, char **out_r)
{
	return dkim_kit_python("arc_interop.py", args, out_r);
}

static dkim_key *load_key(const char *file)
{
	char *path = dkim_kit_path(file), *err = NULL;
	dkim_key *k = dkim_key_load_file(path, &err);

	if (k == NULL)
		fail_msg("%s", err);
	free(path);
	return k;
}

static int setup(void **state)
{
	char *text;

	(void)state;
	rsa_key = load_key("test.private");
	rsa_record = dkim_key_txt_record(rsa_key);
	text = xasprintf("test._domainkey.example.com. %s\ntest._domainkey.example.org. %s\n"
			 "test._domainkey.example.net. %s\n",
			 rsa_record, rsa_record, rsa_record);
	records_path = write_temp(text);
	free(text);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (records_path != NULL)
		unlink(records_path);
	free(records_path);
	free(rsa_record);
	dkim_key_free(&rsa_key);
	return 0;
}

static void *zone_lookup(void *rctx, const char *name, txt_cb *cb, void *cb_ctx)
{
	const char *txt[1];
	size_t len[1];

	(void)rctx;
	if (strcmp(name, "test._domainkey.example.com") == 0 ||
	    strcmp(name, "test._domainkey.example.org") == 0 ||
	    strcmp(name, "test._domainkey.example.net") == 0)
		txt[0] = rsa_record;
	else {
		cb(cb_ctx, TXT_NOTFOUND, NULL, NULL, 0);
		return NULL;
	}
	len[0] = strlen(txt[0]);
	cb(cb_ctx, TXT_FOUND, txt, len, 1);
	return NULL;
}

static size_t header_len(const char *msg)
{
	const char *sep = strstr(msg, "\r\n\r\n");

	assert_non_null(sep);
	return (size_t)(sep - msg) + 4;
}

static enum arc_result lib_verify(const char *msg, const char **why_r)
{
	struct arc_verify_params p = { { zone_lookup, NULL, NULL }, 0, 0, 0 };
	arc_verifier *v = arc_verify_new(&p);
	size_t hl = header_len(msg);
	enum arc_result r;
	static char why[128];

	arc_verify_headers(v, msg, hl);
	arc_verify_body(v, msg + hl, strlen(msg + hl));
	assert_int_equal(arc_verify_finish(v, NULL, NULL), 1);
	r = arc_verify_result(v);
	snprintf(why, sizeof(why), "%s", arc_verify_reason(v) ? arc_verify_reason(v) : "");
	*why_r = why;
	arc_verify_free(&v);
	return r;
}

/* lib_seal: msg with a lib/arc set of domain/selector on top (heap). */
static char *lib_seal(const char *msg, const char *domain, const char *sel, const dkim_key *k)
{
	const char *why;
	enum arc_result chain = lib_verify(msg, &why);
	char *ar = xasprintf("%s; arc=%s; spf=pass smtp.mailfrom=example.com", SRV,
			     arc_result_name(chain));
	struct arc_seal_params p = { domain, sel, k, ar, NULL, 0 };
	char *err = NULL;
	arc_sealer *s = arc_sealer_new(&p, &err);
	size_t hl = header_len(msg);
	buf *out = buf_new(8192);

	assert_non_null(s);
	arc_sealer_body(s, msg + hl, strlen(msg + hl));
	if (arc_sealer_finish(s, msg, hl, chain, out, &err) != 0)
		fail_msg("lib/arc refused to seal: %s", err);
	buf_puts(out, msg);
	arc_sealer_free(&s);
	free(ar);
	return buf_steal_free(&out);
}

/* dkimpy_verify: the script's exit status on msg (0 pass, 1 fail). */
static int dkimpy_verify(const char *msg)
{
	char *path = write_temp(msg), *args = xasprintf("verify %s %s", path, records_path);
	char *out = NULL;
	int rc = python(args, &out);

	if (rc != 0)
		print_message("dkimpy: %s", out);
	unlink(path);
	free(path);
	free(args);
	free(out);
	return rc;
}

/* dkimpy_seal: msg sealed by dkimpy as example.org/test (heap). The
 * message gets an Authentication-Results of SRV first, with arc=pass
 * when it already has a chain (dkimpy takes cv= from there). */
static char *dkimpy_seal(const char *msg, bool chain)
{
	char *with_ar = xasprintf("Authentication-Results: %s; arc=pass\r\n%s", SRV, msg);
	char *path = write_temp(chain ? with_ar : msg), *key = dkim_kit_path("test.private");
	char *args = xasprintf("seal %s %s example.org test %s", path, key, SRV), *out = NULL;

	assert_int_equal(python(args, &out), 0);
	unlink(path);
	free(path);
	free(key);
	free(args);
	free(with_ar);
	return out;
}

static void test_lib_seals_dkimpy_verifies(void **state)
{
	char *m1 = lib_seal(MSG, "example.com", "test", rsa_key);
	char *m2 = lib_seal(m1, "example.net", "test", rsa_key);
	char *bad = xstrdup(m2);

	(void)state;
	assert_int_equal(dkimpy_verify(m1), 0);
	assert_int_equal(dkimpy_verify(m2), 0);
	/* a changed body: the newest AMS fails in dkimpy too */
	bad[strlen(bad) - 5] ^= 1;
	assert_int_equal(dkimpy_verify(bad), 1);
	free(m1);
	free(m2);
	free(bad);
}

static void test_dkimpy_seals_lib_verifies(void **state)
{
	char *m1 = dkimpy_seal(MSG, false), *m2 = dkimpy_seal(m1, true);
	char *m3 = lib_seal(m2, "example.net", "test", rsa_key), *bad = xstrdup(m2);
	const char *why;

	(void)state;
	assert_non_null(strstr(m1, "ARC-Seal: i=1;"));
	assert_int_equal(lib_verify(m1, &why), ARC_PASS);
	assert_non_null(strstr(m2, "ARC-Seal: i=2;"));
	assert_int_equal(lib_verify(m2, &why), ARC_PASS);
	/* a third hop by lib/arc on dkimpy's chain passes both */
	assert_int_equal(lib_verify(m3, &why), ARC_PASS);
	assert_int_equal(dkimpy_verify(m3), 0);
	bad[strlen(bad) - 5] ^= 1;
	assert_int_equal(lib_verify(bad, &why), ARC_FAIL);
	free(m1);
	free(m2);
	free(m3);
	free(bad);
}

static void test_mixed_chain(void **state)
{
	char *m1 = lib_seal(MSG, "example.com", "test", rsa_key), *m2 = dkimpy_seal(m1, true);
	const char *why;

	(void)state;
	assert_int_equal(lib_verify(m2, &why), ARC_PASS);
	assert_int_equal(dkimpy_verify(m2), 0);
	free(m1);
	free(m2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lib_seals_dkimpy_verifies),
		cmocka_unit_test(test_dkimpy_seals_lib_verifies),
		cmocka_unit_test(test_mixed_chain),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
