/* test_dkim_interop.c: lib/dkim against dkimpy, the reference DKIM
 * implementation (Debian's python3-dkim), through tests/dkim_interop.py:
 * messages lib/dkim signs (four c= combinations, RSA and Ed25519) verify
 * in dkimpy and a changed one does not; messages dkimpy signs verify in
 * lib/dkim. Keys are the ones of $SHARED/conformance/dkim (default
 * $srcdir/../shared); dkimpy gets the key records from a file. */
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

#include "buf.h"
#include "dkim.h"
#include "mem.h"
#include "dkim_kit.h"

static char *vector_path(const char *file)
{
	return dkim_kit_path(file);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	buf *b = buf_new(4096);
	char chunk[4096];
	size_t n;

	if (f == NULL)
		fail_msg("cannot read %s (set SHARED to the shared kit)", path);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(b, chunk, n);
	fclose(f);
	return buf_steal_free(&b);
}

static char *write_temp(const char *text)
{
	return dkim_kit_write_temp(text);
}

static int python(const char *args, char **out_r)
{
	return dkim_kit_python("dkim_interop.py", args, out_r);
}

static size_t header_len(const char *msg)
{
	const char *sep = strstr(msg, "\n\n"), *crlf = strstr(msg, "\n\r\n");

	if (crlf != NULL && (sep == NULL || crlf < sep))
		return (size_t)(crlf - msg) + 3;
	return sep != NULL ? (size_t)(sep - msg) + 2 : strlen(msg);
}

static dkim_key *load_key(const char *file)
{
	char *path = vector_path(file), *err = NULL;
	dkim_key *k = dkim_key_load_file(path, &err);

	if (k == NULL)
		fail_msg("%s", err);
	free(path);
	return k;
}

/* lib/dkim signs msgfile with keyfile four times (every c=), dkimpy
 * verifies all four; with a changed body it must not. */
static void lib_signs(const char *msgfile, const char *keyfile, const char *domain)
{
	static const enum dkim_canon canons[4][2] = {
		{ DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE },
		{ DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED },
		{ DKIM_CANON_RELAXED, DKIM_CANON_SIMPLE },
		{ DKIM_CANON_RELAXED, DKIM_CANON_RELAXED },
	};
	char *path = vector_path(msgfile), *msg = read_file(path), *err = NULL;
	dkim_key *k = load_key(keyfile);
	char *rec = dkim_key_txt_record(k);
	char *records = xasprintf("test._domainkey.%s. %s\n", domain, rec);
	char *rec_path = write_temp(records), *msg_path, *args;
	dkim_signer *s = dkim_signer_new();
	size_t hl = header_len(msg);
	buf *out = buf_new(4096);

	for (size_t i = 0; i < 4; i++) {
		struct dkim_sign_params p = { domain, "test", k, canons[i][0], canons[i][1],
					      NULL, NULL, time(NULL), 600, false };
		assert_int_equal(dkim_signer_add(s, &p, &err), 0);
	}
	dkim_signer_body(s, msg + hl, strlen(msg + hl));
	assert_int_equal(dkim_signer_finish(s, msg, hl, out, &err), 0);
	buf_puts(out, msg);
	msg_path = write_temp(buf_cstr(out));
	args = xasprintf("verify %s %s", msg_path, rec_path);
	assert_int_equal(python(args, NULL), 0);
	unlink(msg_path);
	free(msg_path);
	/* a changed body: dkimpy must say no */
	buf_data(out)[buf_len(out) - 3] ^= 1;
	msg_path = write_temp(buf_cstr(out));
	free(args);
	args = xasprintf("verify %s %s", msg_path, rec_path);
	assert_int_equal(python(args, NULL), 1);
	unlink(msg_path);
	unlink(rec_path);
	free(args);
	free(msg_path);
	free(rec_path);
	free(records);
	free(rec);
	free(path);
	free(msg);
	buf_free(&out);
	dkim_signer_free(&s);
	dkim_key_free(&k);
}

static void test_lib_signs_rsa(void **state)
{
	(void)state;
	lib_signs("test.message", "test.private", "example.com");
}

static void test_lib_signs_ed25519(void **state)
{
	(void)state;
	lib_signs("ed25519test.msg", "ed25519test.key", "example.net");
}

/* the key record of keyfile, answered from memory */
static void *one_key(void *rctx, const char *name, txt_cb *cb, void *cb_ctx)
{
	const char *txt[1] = { rctx };
	size_t len[1] = { strlen(rctx) };

	if (strncmp(name, "test._domainkey.", 16) != 0)
		cb(cb_ctx, TXT_NOTFOUND, NULL, NULL, 0);
	else
		cb(cb_ctx, TXT_FOUND, txt, len, 1);
	return NULL;
}

/* dkimpy signs msgfile with keyfile; lib/dkim verifies */
static void dkimpy_signs(const char *msgfile, const char *keyfile, const char *domain)
{
	char *msg_path = vector_path(msgfile), *key_path = vector_path(keyfile), *signed_msg;
	char *args = xasprintf("sign %s %s %s test", msg_path, key_path, domain);
	dkim_key *k = load_key(keyfile);
	char *rec = dkim_key_txt_record(k);
	struct dkim_verify_params p = { { one_key, NULL, rec }, 0, 0, 0, 0 };
	dkim_verifier *v = dkim_verify_new(&p);
	size_t hl;

	assert_int_equal(python(args, &signed_msg), 0);
	hl = header_len(signed_msg);
	assert_int_equal(dkim_verify_headers(v, signed_msg, hl), 1);
	dkim_verify_body(v, signed_msg + hl, strlen(signed_msg + hl));
	assert_int_equal(dkim_verify_finish(v, NULL, NULL), 1);
	if (dkim_verify_result(v, 0)->status != DKIM_PASS)
		fail_msg("%s: %s", dkim_status_name(dkim_verify_result(v, 0)->status),
			 dkim_verify_result(v, 0)->reason);
	dkim_verify_free(&v);
	free(signed_msg);
	free(args);
	free(rec);
	free(msg_path);
	free(key_path);
	dkim_key_free(&k);
}

static void test_dkimpy_signs_rsa(void **state)
{
	(void)state;
	dkimpy_signs("test.message", "test.private", "example.com");
}

static void test_dkimpy_signs_ed25519(void **state)
{
	(void)state;
	dkimpy_signs("ed25519test.msg", "ed25519test.key", "example.net");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lib_signs_rsa),
		cmocka_unit_test(test_lib_signs_ed25519),
		cmocka_unit_test(test_dkimpy_signs_rsa),
		cmocka_unit_test(test_dkimpy_signs_ed25519),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
