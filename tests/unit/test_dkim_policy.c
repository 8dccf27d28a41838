/* test_dkim_policy.c: the DKIM signing policy (lib/dkim_policy*.c): table
 * entries as tables of good and bad values, the From: domain, the zone
 * file line, key generation and record matching, and whole signings from
 * a texthash table with keys in a temporary directory, each verified by
 * lib/dkim's verifier with the key records answered from memory: both
 * key types, several signatures, parent-domain entries, the envelope
 * fallback, a replaced key file, broken keys and settings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "dkim.h"
#include "dkim_policy.h"
#include "fsutil.h"
#include "mem.h"

/* ---- entries ---- */

static void test_parse_good(void **state)
{
	static const struct {
		const char *value;
		size_t n;
		const char *sel0, *path0;
		enum dkim_alg alg0;
	} cases[] = {
		{ "s1:rsa-sha256:/k/a.key", 1, "s1", "/k/a.key", DKIM_RSA_SHA256 },
		{ "s1:ED25519:rel.key", 1, "s1", "/etc/x/rel.key", DKIM_ED25519_SHA256 },
		{ "a:rsa:/a, b:ed25519-sha256:/b", 2, "a", "/a", DKIM_RSA_SHA256 },
		{ "a-1.x_y:rsa:/p:with:colons  b:ed25519:/b", 2, "a-1.x_y", "/p:with:colons",
		  DKIM_RSA_SHA256 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dkim_policy_entry *e = NULL;
		size_t n = 0;
		char *err = NULL;

		assert_int_equal(dkim_policy_parse_value(cases[i].value, "/etc/x", &e, &n, &err), 0);
		assert_null(err);
		assert_int_equal(n, cases[i].n);
		assert_string_equal(e[0].selector, cases[i].sel0);
		assert_string_equal(e[0].key_path, cases[i].path0);
		assert_int_equal(e[0].alg, cases[i].alg0);
		dkim_policy_entries_free(&e, n);
		assert_null(e);
	}
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "s1", "s1:rsa", "s1:rsa:", ":rsa:/k", "s1:dsa:/k", "s 1:rsa:/k",
		"bad/sel:rsa:/k", "a..b:rsa:/k", "s1:rsa-sha1:/k", "a:rsa:/a b:rsa:/b A:rsa:/c",
		"a:rsa:/1 b:rsa:/2 c:rsa:/3 d:rsa:/4 e:rsa:/5 f:rsa:/6 g:rsa:/7 h:rsa:/8 i:rsa:/9",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dkim_policy_entry *e = NULL;
		size_t n = 0;
		char *err = NULL;

		assert_int_equal(dkim_policy_parse_value(bad[i], "/etc", &e, &n, &err), -1);
		assert_non_null(err);
		assert_null(e);
		free(err);
	}
}

static void test_format_entry(void **state)
{
	char *s = dkim_policy_format_entry("sel", DKIM_ED25519_SHA256, "/k/x.key");
	(void)state;
	assert_string_equal(s, "sel:ed25519-sha256:/k/x.key");
	free(s);
}

/* ---- From: ---- */

static void test_from_domain(void **state)
{
	static const struct {
		const char *hdr;
		const char *domain; /* NULL: none */
	} cases[] = {
		{ "From: a@Example.COM\nTo: b@c\n\n", "example.com" },
		{ "To: b@c.example\nfrom: \"A, B\" <a@x.example>\n", "x.example" },
		{ "From: Group: a@g.example, b@h.example;\n", "g.example" },
		{ "From: =?utf-8?q?J=C3=B6rg?=\n <joerg@folded.example>\n", "folded.example" },
		{ "From: no-domain\n", NULL },
		{ "Subject: no from\n\n", NULL },
		{ "From: a@[192.0.2.1]\n", NULL },
		{ "From: a@first.example\nFrom: b@second.example\n", "first.example" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *d = dkim_policy_from_domain(cases[i].hdr, strlen(cases[i].hdr));

		if (cases[i].domain == NULL) {
			assert_null(d);
		} else {
			assert_non_null(d);
			assert_string_equal(d, cases[i].domain);
		}
		free(d);
	}
}

/* ---- zone record, keygen, record matching ---- */

static void test_zone_record(void **state)
{
	char value[600];
	char *z;
	(void)state;

	memset(value, 'A', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	z = dkim_policy_zone_record("example.com", "s1", value);
	assert_true(strncmp(z, "s1._domainkey.example.com. IN TXT ( \"", 36) == 0);
	/* 599 bytes: strings of 255, 255 and 89 */
	char *q1 = strchr(z, '"'), *q2 = strchr(q1 + 1, '"');
	assert_int_equal(q2 - q1 - 1, 255);
	char *q3 = strchr(q2 + 1, '"'), *q4 = strchr(q3 + 1, '"');
	assert_int_equal(q4 - q3 - 1, 255);
	char *q5 = strchr(q4 + 1, '"'), *q6 = strchr(q5 + 1, '"');
	assert_int_equal(q6 - q5 - 1, 89);
	assert_string_equal(q6 + 1, " )");
	free(z);
}

static dkim_key *gen_key(enum dkim_alg alg, unsigned bits)
{
	char *pem = NULL, *err = NULL;
	dkim_key *k;

	assert_int_equal(dkim_policy_keygen(alg, bits, &pem, &err), 0);
	k = dkim_key_load(pem, strlen(pem), &err);
	assert_non_null(k);
	assert_int_equal(dkim_key_alg(k), alg);
	free(pem);
	return k;
}

static void test_keygen_and_match(void **state)
{
	dkim_key *rsa = gen_key(DKIM_RSA_SHA256, 1024), *rsa2 = gen_key(DKIM_RSA_SHA256, 1024);
	dkim_key *ed = gen_key(DKIM_ED25519_SHA256, 0);
	char *rec = dkim_key_txt_record(rsa), *erec = dkim_key_txt_record(ed), *err = NULL,
	     *pem = NULL;
	const char *why = NULL;
	(void)state;

	assert_int_equal(dkim_policy_record_matches(rsa, rec, strlen(rec), &why), 1);
	assert_int_equal(dkim_policy_record_matches(rsa2, rec, strlen(rec), &why), 0);
	assert_string_equal(why, "another key");
	assert_int_equal(dkim_policy_record_matches(ed, rec, strlen(rec), &why), 0);
	assert_string_equal(why, "another key type");
	assert_int_equal(dkim_policy_record_matches(ed, erec, strlen(erec), &why), 1);
	assert_int_equal(dkim_policy_record_matches(ed, "v=DKIM1; p=", 11, &why), -1);
	assert_int_equal(dkim_policy_record_matches(ed, "garbage", 7, &why), -1);
	assert_int_equal(dkim_policy_keygen(DKIM_RSA_SHA256, 512, &pem, &err), -1);
	assert_non_null(err);
	free(err);
	free(rec);
	free(erec);
	dkim_key_free(&rsa);
	dkim_key_free(&rsa2);
	dkim_key_free(&ed);
}

/* ---- signing through a table ---- */

struct fixture {
	char dir[64];
	cfg *c;
};

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	char *path = fs_join(dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	free(path);
}

/* write_key: a new key in DIR/name; returns its record (heap). */
static char *write_key(struct fixture *fx, const char *name, enum dkim_alg alg)
{
	char *pem = NULL, *err = NULL, *rec;
	dkim_key *k;

	assert_int_equal(dkim_policy_keygen(alg, 1024, &pem, &err), 0);
	write_file(fx->dir, name, pem, 0600);
	k = dkim_key_load(pem, strlen(pem), &err);
	rec = dkim_key_txt_record(k);
	dkim_key_free(&k);
	free(pem);
	return rec;
}

static int setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));
	char *table;

	strcpy(fx->dir, "/tmp/test_dkim_policy.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	fx->c = cfg_new(fx->dir);
	table = xasprintf("texthash:%s/signing", fx->dir);
	cfg_set(fx->c, "dkim_signing_table", table);
	free(table);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char *cmd = xasprintf("rm -rf '%s'", fx->dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
	cfg_free(&fx->c);
	free(fx);
	return 0;
}

/* Records served to the verifier: name -> text. */
struct zone {
	const char *names[8];
	char *texts[8];
	size_t n;
};

static void *zone_lookup(void *rctx, const char *name, txt_cb *cb, void *cb_ctx)
{
	struct zone *z = rctx;

	for (size_t i = 0; i < z->n; i++) {
		if (strcmp(z->names[i], name) == 0) {
			const char *t[1] = { z->texts[i] };
			size_t l[1] = { strlen(z->texts[i]) };

			cb(cb_ctx, TXT_FOUND, t, l, 1);
			return NULL;
		}
	}
	cb(cb_ctx, TXT_NOTFOUND, NULL, NULL, 0);
	return NULL;
}

static void zone_cancel(void *rctx, void *handle)
{
	(void)rctx;
	(void)handle;
}

static const char msg_hdr[] = "Received: from local\n"
			      "From: Alice <alice@example.com>\n"
			      "To: bob@example.net\n"
			      "Subject: hello\n"
			      "Date: Mon, 07 Dec 2026 10:00:00 +0000\n"
			      "Message-ID: <1@example.com>\n"
			      "\n";
static const char msg_body[] = "Hello Bob,\n\n  spaces   here  \n\n\n";

/* sign: the message signed through the policy: its DKIM-Signature fields
 * (heap), or NULL when the result is not SIGN (*res_r says which). */
static char *sign(dkim_policy *p, const char *hdr, const char *from, const char *env,
		  enum dkim_policy_result *res_r)
{
	dkim_policy_signing *s = NULL;
	char *err = NULL;
	buf *out;

	*res_r = dkim_policy_start(p, "TESTQID", from, env, &s, &err);
	if (*res_r != DKIM_POLICY_SIGN) {
		assert_null(s);
		free(err);
		return NULL;
	}
	/* the body in two pieces, as it comes off the wire */
	dkim_policy_body(s, msg_body, 7);
	dkim_policy_body(s, msg_body + 7, strlen(msg_body) - 7);
	out = buf_new(1024);
	assert_int_equal(dkim_policy_finish(s, hdr, strlen(hdr), out, &err), 0);
	dkim_policy_signing_free(&s);
	return buf_steal_free(&out);
}

/* verify: every signature of sigs + hdr + body; returns how many pass. */
static size_t verify(struct zone *z, const char *sigs, const char *hdr)
{
	struct dkim_verify_params vp = { .resolver = { zone_lookup, zone_cancel, z } };
	dkim_verifier *v = dkim_verify_new(&vp);
	buf *h = buf_new(2048);
	size_t pass = 0;

	buf_puts(h, sigs);
	buf_puts(h, hdr);
	dkim_verify_headers(v, buf_cstr(h), buf_len(h));
	dkim_verify_body(v, msg_body, strlen(msg_body));
	assert_int_equal(dkim_verify_finish(v, NULL, NULL), 1);
	for (size_t i = 0; i < dkim_verify_count(v); i++)
		pass += dkim_verify_result(v, i)->status == DKIM_PASS;
	dkim_verify_free(&v);
	buf_free(&h);
	return pass;
}

static void test_sign_both_types(void **state)
{
	struct fixture *fx = *state;
	struct zone z = { .n = 2 };
	enum dkim_policy_result res;
	char *err = NULL, *sigs;
	dkim_policy *p;

	z.texts[0] = write_key(fx, "r.key", DKIM_RSA_SHA256);
	z.texts[1] = write_key(fx, "e.key", DKIM_ED25519_SHA256);
	z.names[0] = "r1._domainkey.example.com";
	z.names[1] = "e1._domainkey.example.com";
	write_file(fx->dir, "signing",
		   "example.com r1:rsa-sha256:r.key,\n  e1:ed25519-sha256:e.key\n", 0644);
	p = dkim_policy_new(fx->c, &err);
	assert_non_null(p);
	sigs = sign(p, msg_hdr, "example.com", "example.com", &res);
	assert_int_equal(res, DKIM_POLICY_SIGN);
	assert_non_null(strstr(sigs, "a=rsa-sha256"));
	assert_non_null(strstr(sigs, "a=ed25519-sha256"));
	assert_non_null(strstr(sigs, "c=relaxed/relaxed"));
	assert_int_equal(verify(&z, sigs, msg_hdr), 2);
	/* the body changed after signing: both fail */
	free(sigs);
	/* no entry: not signed */
	assert_null(sign(p, msg_hdr, "other.example", NULL, &res));
	assert_int_equal(res, DKIM_POLICY_NONE);
	dkim_policy_free(&p);
	free(z.texts[0]);
	free(z.texts[1]);
}

static void test_parent_and_envelope(void **state)
{
	struct fixture *fx = *state;
	struct zone z = { .n = 1, .names = { "p1._domainkey.example.com" } };
	enum dkim_policy_result res;
	char *err = NULL, *sigs;
	dkim_policy *p;

	z.texts[0] = write_key(fx, "p.key", DKIM_ED25519_SHA256);
	write_file(fx->dir, "signing", ".example.com p1:ed25519:p.key\n", 0644);
	p = dkim_policy_new(fx->c, &err);
	assert_non_null(p);
	/* a subdomain signs with d= the parent */
	sigs = sign(p, msg_hdr, "mail.example.com", NULL, &res);
	assert_int_equal(res, DKIM_POLICY_SIGN);
	assert_non_null(strstr(sigs, "d=example.com;"));
	assert_int_equal(verify(&z, sigs, msg_hdr), 1);
	free(sigs);
	/* ".example.com" does not cover example.com itself */
	assert_null(sign(p, msg_hdr, "example.com", NULL, &res));
	assert_int_equal(res, DKIM_POLICY_NONE);
	/* a foreign From: falls back to the envelope domain */
	sigs = sign(p, msg_hdr, "gmail.example", "x.example.com", &res);
	assert_int_equal(res, DKIM_POLICY_SIGN);
	assert_string_equal(strstr(sigs, "d=example.com;") != NULL ? "d" : "", "d");
	free(sigs);
	dkim_policy_free(&p);
	free(z.texts[0]);
}

static void test_key_replaced(void **state)
{
	struct fixture *fx = *state;
	struct zone z = { .n = 1, .names = { "s._domainkey.example.com" } };
	enum dkim_policy_result res;
	char *err = NULL, *sigs;
	dkim_policy *p;

	z.texts[0] = write_key(fx, "k.key", DKIM_ED25519_SHA256);
	write_file(fx->dir, "signing", "example.com s:ed25519:k.key\n", 0644);
	p = dkim_policy_new(fx->c, &err);
	sigs = sign(p, msg_hdr, "example.com", NULL, &res);
	assert_int_equal(verify(&z, sigs, msg_hdr), 1);
	free(sigs);
	/* a new key under the same name is used at once (the old record no
	 * longer verifies, the new one does) */
	char *tmp = fs_join(fx->dir, "k.key.new"), *dst = fs_join(fx->dir, "k.key");
	char *pem = NULL;
	assert_int_equal(dkim_policy_keygen(DKIM_ED25519_SHA256, 0, &pem, &err), 0);
	write_file(fx->dir, "k.key.new", pem, 0600);
	assert_int_equal(rename(tmp, dst), 0);
	sigs = sign(p, msg_hdr, "example.com", NULL, &res);
	assert_int_equal(verify(&z, sigs, msg_hdr), 0);
	free(z.texts[0]);
	dkim_key *k = dkim_key_load(pem, strlen(pem), &err);
	z.texts[0] = dkim_key_txt_record(k);
	assert_int_equal(verify(&z, sigs, msg_hdr), 1);
	free(sigs);
	/* the key file disappears: TEMP, never unsigned */
	assert_int_equal(unlink(dst), 0);
	assert_null(sign(p, msg_hdr, "example.com", NULL, &res));
	assert_int_equal(res, DKIM_POLICY_TEMP);
	dkim_key_free(&k);
	free(pem);
	free(tmp);
	free(dst);
	free(z.texts[0]);
	dkim_policy_free(&p);
}

static void test_broken_keys(void **state)
{
	struct fixture *fx = *state;
	struct zone z = { .n = 1, .names = { "good._domainkey.example.com" } };
	enum dkim_policy_result res;
	char *err = NULL, *sigs;
	dkim_policy *p;

	z.texts[0] = write_key(fx, "good.key", DKIM_RSA_SHA256);
	free(write_key(fx, "ed.key", DKIM_ED25519_SHA256));
	write_file(fx->dir, "junk.key", "not a key\n", 0600);
	write_file(fx->dir, "signing",
		   "example.com bad:rsa:junk.key good:rsa:good.key wrong:rsa:ed.key\n"
		   "example.org wrong:rsa:ed.key\n"
		   "example.net broken-value\n",
		   0644);
	p = dkim_policy_new(fx->c, &err);
	/* the broken entries are left out, the good one signs */
	sigs = sign(p, msg_hdr, "example.com", NULL, &res);
	assert_int_equal(res, DKIM_POLICY_SIGN);
	assert_null(strstr(sigs, "s=bad"));
	assert_null(strstr(sigs, "s=wrong"));
	assert_int_equal(verify(&z, sigs, msg_hdr), 1);
	free(sigs);
	/* nothing usable, or a bad entry: temporary */
	assert_null(sign(p, msg_hdr, "example.org", NULL, &res));
	assert_int_equal(res, DKIM_POLICY_TEMP);
	assert_null(sign(p, msg_hdr, "example.net", NULL, &res));
	assert_int_equal(res, DKIM_POLICY_TEMP);
	dkim_policy_free(&p);
	free(z.texts[0]);
}

/* dkim_policy_key: one key for an ARC seal, matched like signing. */
static void test_seal_key(void **state)
{
	struct fixture *fx = *state;
	enum dkim_policy_result res;
	char *err = NULL, *domain = NULL, *selector = NULL;
	dkim_key *k = NULL;
	dkim_policy *p;

	free(write_key(fx, "good.key", DKIM_RSA_SHA256));
	free(write_key(fx, "ed.key", DKIM_ED25519_SHA256));
	write_file(fx->dir, "junk.key", "not a key\n", 0600);
	write_file(fx->dir, "signing",
		   "example.com bad:rsa:junk.key good:rsa:good.key\n"
		   ".example.org p1:ed25519:ed.key\n"
		   "example.net wrong:rsa:ed.key\n"
		   "broken.test broken-value\n",
		   0644);
	p = dkim_policy_new(fx->c, &err);
	assert_non_null(p);
	/* the first entry whose key loads */
	res = dkim_policy_key(p, "example.com", &domain, &selector, &k, &err);
	assert_int_equal(res, DKIM_POLICY_SIGN);
	assert_null(err);
	assert_string_equal(domain, "example.com");
	assert_string_equal(selector, "good");
	assert_int_equal(dkim_key_alg(k), DKIM_RSA_SHA256);
	dkim_key_free(&k);
	free(domain);
	free(selector);
	/* a parent's entry */
	res = dkim_policy_key(p, "lists.example.org", &domain, &selector, &k, &err);
	assert_int_equal(res, DKIM_POLICY_SIGN);
	assert_string_equal(domain, "example.org");
	assert_string_equal(selector, "p1");
	dkim_key_free(&k);
	free(domain);
	free(selector);
	/* no entry */
	assert_int_equal(dkim_policy_key(p, "example.org", &domain, &selector, &k, &err),
			 DKIM_POLICY_NONE);
	assert_int_equal(dkim_policy_key(p, NULL, &domain, &selector, &k, &err), DKIM_POLICY_NONE);
	assert_null(k);
	/* no usable key, a bad entry: temporary, with a reason */
	assert_int_equal(dkim_policy_key(p, "example.net", &domain, &selector, &k, &err),
			 DKIM_POLICY_TEMP);
	assert_non_null(strstr(err, "example.net"));
	free(err);
	assert_int_equal(dkim_policy_key(p, "broken.test", &domain, &selector, &k, &err),
			 DKIM_POLICY_TEMP);
	assert_non_null(err);
	free(err);
	assert_null(k);
	dkim_policy_free(&p);
}

static void test_settings(void **state)
{
	struct fixture *fx = *state;
	struct zone z = { .n = 1, .names = { "s._domainkey.example.com" } };
	enum dkim_policy_result res;
	char *err = NULL, *sigs;
	dkim_policy *p;

	z.texts[0] = write_key(fx, "k.key", DKIM_RSA_SHA256);
	write_file(fx->dir, "signing", "example.com s:rsa:k.key\n", 0644);
	cfg_set(fx->c, "dkim_canonicalization", "simple/relaxed");
	cfg_set(fx->c, "dkim_signed_headers", "from, subject");
	assert_int_equal(dkim_policy_check_settings(fx->c, &err), 0);
	p = dkim_policy_new(fx->c, &err);
	assert_non_null(p);
	sigs = sign(p, msg_hdr, "example.com", NULL, &res);
	assert_non_null(strstr(sigs, "c=simple/relaxed"));
	assert_non_null(strstr(sigs, "h=from:from:subject:subject;"));
	assert_int_equal(verify(&z, sigs, msg_hdr), 1);
	free(sigs);
	dkim_policy_free(&p);
	/* the table unreadable: temporary */
	cfg_set(fx->c, "dkim_signing_table", "texthash:/nonexistent/table");
	p = dkim_policy_new(fx->c, &err);
	assert_non_null(p);
	assert_null(sign(p, msg_hdr, "example.com", NULL, &res));
	assert_int_equal(res, DKIM_POLICY_TEMP);
	dkim_policy_free(&p);
	/* bad settings */
	static const char *const bad[][2] = {
		{ "dkim_canonicalization", "relaxed/loose" },
		{ "dkim_canonicalization", "nofold" },
		{ "dkim_signed_headers", "to, subject" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg *c = cfg_new(fx->dir);

		cfg_set(c, "dkim_signing_table", "texthash:/x");
		cfg_set(c, bad[i][0], bad[i][1]);
		assert_int_equal(dkim_policy_check_settings(c, &err), -1);
		assert_non_null(strstr(err, bad[i][0]));
		free(err);
		err = NULL;
		assert_null(dkim_policy_new(c, &err));
		assert_non_null(err);
		free(err);
		err = NULL;
		cfg_free(&c);
	}
	/* off */
	cfg_set(fx->c, "dkim_sign", "no");
	assert_null(dkim_policy_new(fx->c, &err));
	assert_null(err);
	cfg_set(fx->c, "dkim_sign", "yes");
	cfg_set(fx->c, "dkim_signing_table", "");
	assert_null(dkim_policy_new(fx->c, &err));
	assert_null(err);
	free(z.texts[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_format_entry),
		cmocka_unit_test(test_from_domain),
		cmocka_unit_test(test_zone_record),
		cmocka_unit_test(test_keygen_and_match),
		cmocka_unit_test_setup_teardown(test_sign_both_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parent_and_envelope, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seal_key, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
