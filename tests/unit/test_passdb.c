/* test_passdb.c: unit tests for lib/passdb.c: hash-then-verify for every
 * scheme that can be generated, fixed vectors from doveadm, openssl and
 * libxcrypt (so a change of the parser cannot go unnoticed), a table of
 * malformed and unknown-scheme entries, the map-backed database (found,
 * wrong password, unknown user, first map wins, unreadable map is TEMP),
 * SCRAM-SHA-256 keys checked against the RFC 7677 example exchange, and
 * CRAM-MD5 secrets checked against doveadm and, through lib/sasl, the
 * RFC 2195 example exchange. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cfg.h"
#include "mem.h"
#include "passdb.h"
#include "sasl.h"

/* doveadm pw -s CRAM-MD5 -p tanstaaftanstaaf (Dovecot 2.3, Debian 12): the
 * secret of the RFC 2195 example user "tim". */
#define TIM_CRAM "d06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b"

/* ---- fixed vectors: entry, password, expected ---- */

struct vector {
	const char *entry;
	const char *password;
	enum passdb_result expect;
	bool unusable; /* why_r must be set */
};

static const struct vector vectors[] = {
	/* doveadm pw -s SHA512-CRYPT -p pencil (Dovecot 2.3, Debian 12) */
	{ "{SHA512-CRYPT}$6$6kOdMMCbVTPafYgw$fJvFnFq28h3Vfbs2MnHnSscmwNjNOXjfzqQOKIArAXnC5hvyo/"
	  "Mfcq6ZvbKttJayzNd/ryz1RMTwhiCpepdN9/",
	  "pencil", PASSDB_OK, false },
	{ "{SHA512-CRYPT}$6$6kOdMMCbVTPafYgw$fJvFnFq28h3Vfbs2MnHnSscmwNjNOXjfzqQOKIArAXnC5hvyo/"
	  "Mfcq6ZvbKttJayzNd/ryz1RMTwhiCpepdN9/",
	  "Pencil", PASSDB_FAIL, false },
	/* lower-case scheme name, extra secrets after it */
	{ "{sha512-crypt}$6$6kOdMMCbVTPafYgw$fJvFnFq28h3Vfbs2MnHnSscmwNjNOXjfzqQOKIArAXnC5hvyo/"
	  "Mfcq6ZvbKttJayzNd/ryz1RMTwhiCpepdN9/ future=1 other=2",
	  "pencil", PASSDB_OK, false },
	/* doveadm pw -s BLF-CRYPT -p pencil */
	{ "{BLF-CRYPT}$2y$05$l9sKAMzQtgKOe4lRt3fO0uEIsItEKFEhaAnyiVuFpFl/YvsqS/WSe", "pencil",
	  PASSDB_OK, false },
	{ "{BLF-CRYPT}$2y$05$l9sKAMzQtgKOe4lRt3fO0uEIsItEKFEhaAnyiVuFpFl/YvsqS/WSe", "pencil2",
	  PASSDB_FAIL, false },
	/* openssl passwd -6 -salt X pencil, as {CRYPT} and bare */
	{ "{CRYPT}$6$X$qsLL7kwpL4PGC8UKVczs5r9HruvE89LJnJCkseXOCSB1.dbvySS9fkKG5pGLwz/vQCARq/"
	  "j0.Cfpa4U57/o6k0",
	  "pencil", PASSDB_OK, false },
	{ "$6$X$qsLL7kwpL4PGC8UKVczs5r9HruvE89LJnJCkseXOCSB1.dbvySS9fkKG5pGLwz/vQCARq/"
	  "j0.Cfpa4U57/o6k0",
	  "pencil", PASSDB_OK, false },
	/* libxcrypt yescrypt, sha256-crypt with rounds, md5-crypt */
	{ "{YESCRYPT}$y$j9T$Pen.cil/salt.Postern$ZStGHLEQ4EXuqkVRYd8PszJ6emzIR.iX8moTvBFZ9a/",
	  "pencil", PASSDB_OK, false },
	{ "{CRYPT}$y$j9T$Pen.cil/salt.Postern$ZStGHLEQ4EXuqkVRYd8PszJ6emzIR.iX8moTvBFZ9a/",
	  "pencil", PASSDB_OK, false },
	{ "{YESCRYPT}$y$j9T$Pen.cil/salt.Postern$ZStGHLEQ4EXuqkVRYd8PszJ6emzIR.iX8moTvBFZ9a/",
	  "pencil ", PASSDB_FAIL, false },
	{ "{SHA256-CRYPT}$5$rounds=1000$pencilsalt$rg/ldmyZ9i91zUYSUT6I0YHLbY4o6Af9iDIDsVK1XN/",
	  "pencil", PASSDB_OK, false },
	{ "{MD5-CRYPT}$1$pencil$vYXVUUzbBp2j1yy74XZ8X/", "pencil", PASSDB_OK, false },
	/* a hash that is one character short never matches */
	{ "{MD5-CRYPT}$1$pencil$vYXVUUzbBp2j1yy74XZ8X", "pencil", PASSDB_FAIL, false },
	/* unusable entries */
	{ "{SSHA512}aGVsbG8=", "pencil", PASSDB_FAIL, true },
	{ "{PLAIN}pencil", "pencil", PASSDB_FAIL, true },
	{ "{NOSUCH}$6$X$abc", "pencil", PASSDB_FAIL, true },
	{ "pencil", "pencil", PASSDB_FAIL, true },
	{ "{SHA512-CRYPT", "pencil", PASSDB_FAIL, true },
	{ "{SHA512-CRYPT}", "pencil", PASSDB_FAIL, true },
	{ "{SHA512-CRYPT}$2y$05$l9sKAMzQtgKOe4lRt3fO0uEIsItEKFEhaAnyiVuFpFl/YvsqS/WSe", "pencil",
	  PASSDB_FAIL, true },
	{ "{BLF-CRYPT}$6$X$qsLL7kwpL4PGC8UKVczs5r9HruvE89LJnJCkseXOCSB1.dbvySS9fkKG5pGLwz/vQCARq/"
	  "j0.Cfpa4U57/o6k0",
	  "pencil", PASSDB_FAIL, true },
	{ "{CRYPT}$6$X$qs\001LL", "pencil", PASSDB_FAIL, true },
	{ "{CRYPT}$9$unknown$method", "pencil", PASSDB_FAIL, true },
	{ "{AVERYVERYVERYVERYVERYLONGSCHEMENAMEXX}$6$", "pencil", PASSDB_FAIL, true },
	{ "", "pencil", PASSDB_FAIL, true },
	{ "   ", "pencil", PASSDB_FAIL, true },
	{ "{SHA512-CRYPT}$6$X$qsLL7kwpL4PGC8UKVczs5r9HruvE89LJnJCkseXOCSB1.dbvySS9fkKG5pGLwz/vQCARq/"
	  "j0.Cfpa4U57/o6k0 a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9 j=10 k=11 l=12 m=13 n=14 o=15 "
	  "p=16 q=17",
	  "pencil", PASSDB_FAIL, true },
	/* {CRAM-MD5}: verified by computing the password's context */
	{ "{CRAM-MD5}" TIM_CRAM, "tanstaaftanstaaf", PASSDB_OK, false },
	{ "{cram-md5}D06D4E1B26FCCAA4B0B61801132340A354B21152711FB604CA3E035E7015116B",
	  "tanstaaftanstaaf", PASSDB_OK, false },
	{ "{CRAM-MD5}" TIM_CRAM " scram-sha-256=1:2:3:4", "tanstaaftanstaaf", PASSDB_OK, false },
	{ "{CRAM-MD5}" TIM_CRAM, "tanstaaftanstaafx", PASSDB_FAIL, false },
	{ "{CRAM-MD5}" TIM_CRAM, "", PASSDB_FAIL, false },
	/* the cram-md5= field does not change what a crypt entry verifies */
	{ "{MD5-CRYPT}$1$pencil$vYXVUUzbBp2j1yy74XZ8X/ cram-md5=" TIM_CRAM, "pencil", PASSDB_OK,
	  false },
	{ "{MD5-CRYPT}$1$pencil$vYXVUUzbBp2j1yy74XZ8X/ cram-md5=" TIM_CRAM, "tanstaaftanstaaf",
	  PASSDB_FAIL, false },
	/* malformed {CRAM-MD5}: short, long, not hex, control characters */
	{ "{CRAM-MD5}d06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116",
	  "tanstaaftanstaaf", PASSDB_FAIL, true },
	{ "{CRAM-MD5}" TIM_CRAM "0", "tanstaaftanstaaf", PASSDB_FAIL, true },
	{ "{CRAM-MD5}g06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b",
	  "tanstaaftanstaaf", PASSDB_FAIL, true },
	{ "{CRAM-MD5}$6$X$qsLL7kwpL4PGC8UKVczs5r9HruvE89LJnJCkseXOCSB1.dbvySS9fkKG5pGLwz/vQCARq/"
	  "j0.Cfpa4U57/o6k0",
	  "pencil", PASSDB_FAIL, true },
	{ "{CRAM-MD5}", "tanstaaftanstaaf", PASSDB_FAIL, true },
	/* an empty password never matches, nor does a usable entry with one */
	{ "$6$X$qsLL7kwpL4PGC8UKVczs5r9HruvE89LJnJCkseXOCSB1.dbvySS9fkKG5pGLwz/vQCARq/"
	  "j0.Cfpa4U57/o6k0",
	  "", PASSDB_FAIL, false },
};

static void test_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		const char *why = NULL;
		enum passdb_result r = passdb_entry_verify(v->entry, v->password, &why);

		if (r != v->expect || (why != NULL) != v->unusable)
			fail_msg("vector %zu (%s): got %d why=%s", i, v->entry, r, why ? why : "-");
	}
}

/* ---- hash then verify ---- */

static void test_hash_verify(void **state)
{
	static const char *const schemes[] = { "SHA512-CRYPT", "sha256-crypt", "BLF-CRYPT",
					       "YESCRYPT", NULL };
	static const char *const prefixes[] = { "{SHA512-CRYPT}$6$", "{SHA256-CRYPT}$5$",
						"{BLF-CRYPT}$2y$05$", "{YESCRYPT}$y$" };
	(void)state;

	for (size_t i = 0; schemes[i] != NULL; i++) {
		char *err = NULL, *h1 = passdb_hash(schemes[i], "correct horse", &err);
		char *h2 = passdb_hash(schemes[i], "correct horse", &err);
		const char *why = NULL;

		assert_non_null(h1);
		assert_non_null(h2);
		assert_null(err);
		if (strncmp(h1, prefixes[i], strlen(prefixes[i])) != 0)
			fail_msg("%s: unexpected hash %s", schemes[i], h1);
		assert_string_not_equal(h1, h2); /* random salts */
		assert_null(strstr(h1, "correct"));
		assert_int_equal(passdb_entry_verify(h1, "correct horse", &why), PASSDB_OK);
		assert_int_equal(passdb_entry_verify(h1, "correct horsE", &why), PASSDB_FAIL);
		assert_null(why);
		assert_int_equal(passdb_scheme_check(h1, &why), 0);
		free(h1);
		free(h2);
	}
}

static void test_hash_default_and_errors(void **state)
{
	char *err = NULL, *h = passdb_hash(NULL, "pw", &err);
	char *long_pw = xmalloc(PASSDB_PASSWORD_MAX + 2);

	(void)state;
	assert_non_null(h);
	assert_true(strncmp(h, "{SHA512-CRYPT}$6$", 17) == 0);
	free(h);
	assert_null(passdb_hash("MD5-CRYPT", "pw", &err)); /* verify only */
	assert_non_null(err);
	free(err);
	assert_null(passdb_hash("PLAIN", "pw", &err));
	free(err);
	assert_null(passdb_hash(NULL, "", &err));
	free(err);
	memset(long_pw, 'a', PASSDB_PASSWORD_MAX + 1);
	long_pw[PASSDB_PASSWORD_MAX + 1] = '\0';
	assert_null(passdb_hash(NULL, long_pw, &err));
	free(err);
	free(long_pw);
}

static void test_scheme_check(void **state)
{
	const char *why = NULL;

	(void)state;
	assert_int_equal(passdb_scheme_check("{MD5-CRYPT}$1$pencil$vYXVUUzbBp2j1yy74XZ8X/", &why),
			 0);
	assert_int_equal(passdb_scheme_check("{SSHA}abc", &why), -1);
	assert_non_null(why);
	assert_int_equal(passdb_scheme_check("{CRYPT}$9$x$y", &why), -1);
	assert_int_equal(passdb_scheme_check("plain", &why), -1);
	assert_int_equal(passdb_scheme_check("{CRAM-MD5}" TIM_CRAM, &why), 0);
	assert_int_equal(passdb_scheme_check("{CRAM-MD5}" TIM_CRAM "00", &why), -1);
	assert_non_null(why);
}

/* ---- CRAM-MD5 ---- */

static void test_cram_make(void **state)
{
	unsigned char ctx[SASL_CRAM_CONTEXT_LEN];
	char hex[2 * SASL_CRAM_CONTEXT_LEN + 1];
	char *err = NULL, *made = passdb_cram_make("tanstaaftanstaaf", &err);

	(void)state;
	assert_non_null(made);
	assert_null(err);
	/* passdb, lib/sasl and doveadm agree on the secret */
	assert_string_equal(made, TIM_CRAM);
	sasl_cram_context("tanstaaftanstaaf", 16, ctx);
	for (size_t i = 0; i < sizeof(ctx); i++)
		snprintf(hex + 2 * i, 3, "%02x", ctx[i]);
	assert_string_equal(hex, TIM_CRAM);
	free(made);
	assert_null(passdb_cram_make("", &err));
	assert_non_null(err);
	free(err);
}


/* ---- SCRAM-SHA-256 ---- */

/* RFC 7677 section 3: user "user", password "pencil". */
static const char rfc7677_auth_message[] =
	"n=user,r=rOprNGfwEbeRWgbNEkqO,"
	"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
	"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

static void test_scram_rfc7677(void **state)
{
	static const unsigned char salt[] = { 0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
					      0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81 };
	struct passdb_scram s, back;
	unsigned char sig[32], sig_b64[64];
	unsigned int len = sizeof(sig);
	const char *why = NULL;
	char *text;

	(void)state;
	assert_int_equal(passdb_scram_derive("pencil", salt, sizeof(salt), 4096, &s), 0);
	text = passdb_scram_format(&s);
	assert_string_equal(text, "4096:W22ZaJ0SNY7soEsUEjb6gQ==:"
				  "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
				  "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
	/* The server signature of the RFC's exchange, from ServerKey alone. */
	HMAC(EVP_sha256(), s.server_key, 32, (const unsigned char *)rfc7677_auth_message,
	     strlen(rfc7677_auth_message), sig, &len);
	EVP_EncodeBlock(sig_b64, sig, 32);
	assert_string_equal((char *)sig_b64, "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
	assert_int_equal(passdb_scram_parse(text, &back, &why), 0);
	assert_int_equal(back.iterations, 4096);
	assert_int_equal(back.salt_len, sizeof(salt));
	assert_memory_equal(back.salt, salt, sizeof(salt));
	assert_memory_equal(back.stored_key, s.stored_key, 32);
	assert_memory_equal(back.server_key, s.server_key, 32);
	free(text);
}

static void test_scram_parse_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"4096",
		"4096:W22ZaJ0SNY7soEsUEjb6gQ==:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
		"0:W22ZaJ0SNY7soEsUEjb6gQ==:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"x:W22ZaJ0SNY7soEsUEjb6gQ==:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"4096:W22Z*J0SNY7soEsUEjb6gQ==:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"4096:W22ZaJ0SNY7soEsUEjb6gQ==:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"4096:W22ZaJ0SNY7soEsUEjb6gQ==:d2hhdA==:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"4096::WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"4096:W22ZaJ0SNY7soEsUEjb6gQ==:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=:extra",
		NULL,
	};
	struct passdb_scram s;
	const char *why = NULL;

	(void)state;
	for (size_t i = 0; bad[i] != NULL; i++)
		if (passdb_scram_parse(bad[i], &s, &why) != -1 || why == NULL)
			fail_msg("accepted bad scram secret %zu: %s", i, bad[i]);
}

/* ---- the map-backed database ---- */

struct fixture {
	char dir[64];
	char *path1, *path2;
	cfg *c;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test_passdb.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	f->path1 = xasprintf("%s/passwd", f->dir);
	f->path2 = xasprintf("%s/passwd2", f->dir);
	f->c = cfg_new(f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path1);
	unlink(f->path2);
	rmdir(f->dir);
	free(f->path1);
	free(f->path2);
	cfg_free(&f->c);
	free(f);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
}

static void use_maps(struct fixture *f, bool two)
{
	char *list = two ? xasprintf("texthash:%s, texthash:%s", f->path1, f->path2)
			 : xasprintf("texthash:%s", f->path1);

	cfg_set(f->c, "virtual_passwd_maps", list);
	free(list);
}

static void test_db_verify(void **state)
{
	struct fixture *f = *state;
	char *err = NULL, *entry = passdb_entry_make(NULL, "secret 1", true, &err), *text;
	passdb *db;

	assert_non_null(entry);
	text = xasprintf("# users\nalice@example.org %s\n"
			 "bob@example.org {SSHA512}bm90c3VwcG9ydGVk\n"
			 "carol@example.org {BLF-CRYPT}$2y$05$l9sKAMzQtgKOe4lRt3fO0uEIsItEKFEhaAnyiVuF"
			 "pFl/YvsqS/WSe\n",
			 entry);
	write_file(f->path1, text);
	use_maps(f, false);
	db = passdb_new(f->c);
	assert_int_equal(passdb_verify(db, "alice@example.org", "secret 1"), PASSDB_OK);
	assert_int_equal(passdb_verify(db, "ALICE@Example.ORG", "secret 1"), PASSDB_OK);
	assert_int_equal(passdb_verify(db, "alice@example.org", "secret 2"), PASSDB_FAIL);
	assert_int_equal(passdb_verify(db, "alice@example.org", ""), PASSDB_FAIL);
	assert_int_equal(passdb_verify(db, "bob@example.org", "notsupported"), PASSDB_FAIL);
	assert_int_equal(passdb_verify(db, "carol@example.org", "pencil"), PASSDB_OK);
	assert_int_equal(passdb_verify(db, "dave@example.org", "pencil"), PASSDB_NOTFOUND);
	assert_int_equal(passdb_verify(db, "", "pencil"), PASSDB_NOTFOUND);
	passdb_free(&db);
	assert_null(db);
	free(text);
	free(entry);
}

static void test_db_scram(void **state)
{
	struct fixture *f = *state;
	char *err = NULL, *entry = passdb_entry_make("BLF-CRYPT", "pencil", true, &err), *text;
	struct passdb_scram s, expect;
	passdb *db;

	assert_non_null(entry);
	text = xasprintf("alice@example.org %s\n"
			 "carol@example.org {CRYPT}$1$pencil$vYXVUUzbBp2j1yy74XZ8X/\n"
			 "dave@example.org {CRYPT}$1$pencil$vYXVUUzbBp2j1yy74XZ8X/ scram-sha-256=1:2:3:4\n",
			 entry);
	write_file(f->path1, text);
	use_maps(f, false);
	db = passdb_new(f->c);
	assert_int_equal(passdb_get_scram(db, "alice@example.org", &s), PASSDB_OK);
	assert_int_equal(s.iterations, PASSDB_SCRAM_ITER_DEFAULT);
	assert_int_equal(s.salt_len, 16);
	assert_int_equal(passdb_scram_derive("pencil", s.salt, s.salt_len, s.iterations, &expect), 0);
	assert_memory_equal(s.stored_key, expect.stored_key, 32);
	assert_memory_equal(s.server_key, expect.server_key, 32);
	assert_int_equal(passdb_get_scram(db, "carol@example.org", &s), PASSDB_FAIL);
	assert_int_equal(passdb_get_scram(db, "dave@example.org", &s), PASSDB_FAIL);
	assert_int_equal(passdb_get_scram(db, "erin@example.org", &s), PASSDB_NOTFOUND);
	passdb_free(&db);
	free(text);
	free(entry);
}

/* The SASL backend a server would build over passdb_get_cram. */
static int cram_backend(void *ctx, const char *user, unsigned char context_r[SASL_CRAM_CONTEXT_LEN])
{
	switch (passdb_get_cram(ctx, user, context_r)) {
	case PASSDB_OK: return SASL_OK;
	case PASSDB_TEMP: return SASL_TEMP;
	default: return SASL_FAIL;
	}
}

/* cram_exchange: the RFC 2195 exchange for response (the decoded text;
 * sent base64 as a client would) against db; the result of the final
 * sasl_step. */
static int cram_exchange(passdb *db, const char *response)
{
	static const struct sasl_backend backend = { NULL, cram_backend, NULL };
	sasl_server *s = sasl_new("CRAM-MD5", &backend, db, false);
	unsigned char b64[256];
	char *challenge = NULL;
	int r;

	assert_non_null(s);
	sasl_set_nonce(s, "<1896.697170952@postoffice.reston.mci.net>");
	assert_int_equal(sasl_step(s, NULL, 0, &challenge), SASL_CONTINUE);
	/* base64 of the RFC's challenge */
	assert_string_equal(challenge, "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+");
	free(challenge);
	assert_true(strlen(response) < sizeof(b64) / 4 * 3);
	EVP_EncodeBlock(b64, (const unsigned char *)response, (int)strlen(response));
	r = sasl_step(s, (const char *)b64, strlen((const char *)b64), &challenge);
	assert_null(challenge);
	sasl_free(&s);
	return r;
}

static void test_db_cram(void **state)
{
	struct fixture *f = *state;
	char *err = NULL, *entry = passdb_entry_make(NULL, "tanstaaftanstaaf", true, &err);
	char *cram = passdb_cram_make("tanstaaftanstaaf", &err), *text;
	unsigned char ctx[PASSDB_CRAM_LEN], tim[PASSDB_CRAM_LEN];
	struct passdb_scram scram;
	passdb *db;

	assert_non_null(entry);
	assert_non_null(cram);
	text = xasprintf("tim@example.org {CRAM-MD5}" TIM_CRAM "\n"
			 "alice@example.org %s cram-md5=%s\n"
			 "carol@example.org %s\n"
			 "dave@example.org %s cram-md5=xyz\n",
			 entry, cram, entry, entry);
	write_file(f->path1, text);
	use_maps(f, false);
	db = passdb_new(f->c);
	sasl_cram_context("tanstaaftanstaaf", 16, tim);
	assert_int_equal(passdb_get_cram(db, "tim@example.org", ctx), PASSDB_OK);
	assert_memory_equal(ctx, tim, sizeof(tim));
	assert_int_equal(passdb_get_cram(db, "Alice@Example.org", ctx), PASSDB_OK);
	assert_memory_equal(ctx, tim, sizeof(tim));
	assert_int_equal(passdb_get_cram(db, "carol@example.org", ctx), PASSDB_NOTFOUND);
	assert_int_equal(passdb_get_cram(db, "dave@example.org", ctx), PASSDB_NOTFOUND);
	assert_int_equal(passdb_get_cram(db, "erin@example.org", ctx), PASSDB_NOTFOUND);
	/* plain passwords and SCRAM for the same users */
	assert_int_equal(passdb_verify(db, "tim@example.org", "tanstaaftanstaaf"), PASSDB_OK);
	assert_int_equal(passdb_verify(db, "tim@example.org", "tanstaaf"), PASSDB_FAIL);
	assert_int_equal(passdb_verify(db, "alice@example.org", "tanstaaftanstaaf"), PASSDB_OK);
	assert_int_equal(passdb_get_scram(db, "tim@example.org", &scram), PASSDB_FAIL);
	assert_int_equal(passdb_get_scram(db, "alice@example.org", &scram), PASSDB_OK);
	/* RFC 2195 section 2, through the SASL engine */
	assert_int_equal(cram_exchange(db, "tim@example.org b913a602c7eda7a495b4e6e7334d3890"),
			 SASL_OK);
	assert_int_equal(cram_exchange(db, "alice@example.org b913a602c7eda7a495b4e6e7334d3890"),
			 SASL_OK);
	assert_int_equal(cram_exchange(db, "tim@example.org b913a602c7eda7a495b4e6e7334d3891"),
			 SASL_FAIL);
	assert_int_equal(cram_exchange(db, "carol@example.org b913a602c7eda7a495b4e6e7334d3890"),
			 SASL_FAIL);
	assert_int_equal(cram_exchange(db, "erin@example.org b913a602c7eda7a495b4e6e7334d3890"),
			 SASL_FAIL);
	passdb_free(&db);
	free(text);
	free(cram);
	free(entry);
}

static void test_db_first_map_wins(void **state)
{
	struct fixture *f = *state;
	passdb *db;

	write_file(f->path1, "alice@example.org {MD5-CRYPT}$1$pencil$vYXVUUzbBp2j1yy74XZ8X/\n");
	write_file(f->path2, "alice@example.org {PLAIN}other\n"
			     "bob@example.org {MD5-CRYPT}$1$pencil$vYXVUUzbBp2j1yy74XZ8X/\n");
	use_maps(f, true);
	db = passdb_new(f->c);
	assert_int_equal(passdb_verify(db, "alice@example.org", "pencil"), PASSDB_OK);
	assert_int_equal(passdb_verify(db, "bob@example.org", "pencil"), PASSDB_OK);
	assert_int_equal(passdb_verify(db, "carol@example.org", "pencil"), PASSDB_NOTFOUND);
	passdb_free(&db);
}

static void test_db_missing_map_is_temp(void **state)
{
	struct fixture *f = *state;
	passdb *db;

	use_maps(f, false); /* path1 does not exist */
	db = passdb_new(f->c);
	assert_int_equal(passdb_verify(db, "alice@example.org", "pencil"), PASSDB_TEMP);
	/* The map appears: the next lookup opens it. */
	write_file(f->path1, "alice@example.org {MD5-CRYPT}$1$pencil$vYXVUUzbBp2j1yy74XZ8X/\n");
	assert_int_equal(passdb_verify(db, "alice@example.org", "pencil"), PASSDB_OK);
	passdb_free(&db);
}

static void test_db_default_and_bad_words(void **state)
{
	struct fixture *f = *state;
	passdb *db;

	cfg_set(f->c, "virtual_passwd_maps", "notamap");
	db = passdb_new(f->c);
	assert_int_equal(passdb_verify(db, "alice@example.org", "pencil"), PASSDB_NOTFOUND);
	passdb_free(&db);
	passdb_free(&db); /* NULL is fine */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_hash_verify),
		cmocka_unit_test(test_hash_default_and_errors),
		cmocka_unit_test(test_scheme_check),
		cmocka_unit_test(test_scram_rfc7677),
		cmocka_unit_test(test_scram_parse_bad),
		cmocka_unit_test(test_cram_make),
		cmocka_unit_test_setup_teardown(test_db_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_db_scram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_db_cram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_db_first_map_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_db_missing_map_is_temp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_db_default_and_bad_words, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
