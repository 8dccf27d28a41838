/* test_sasl.c: unit tests for the SASL server engine (lib/sasl*.c): a
 * table of scripted exchanges (client messages, expected results and
 * challenges) covering PLAIN, LOGIN, CRAM-MD5 with the RFC 2195 example,
 * SCRAM-SHA-256 with the RFC 7677 example, initial responses, "=", "*",
 * bad base64, malformed messages and backend TEMP; plus a small SCRAM client
 * for GS2 variants, escaped names and fresh secrets, the size limits, the
 * advertised mechanism lists, and CRAM contexts checked against HMAC(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base64.h"
#include "mem.h"
#include "sasl.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

#define RFC7677_SALT "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC7677_CNONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC7677_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC7677_NONCE RFC7677_CNONCE RFC7677_SNONCE
#define RFC7677_PROOF "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC2195_CHALLENGE "<1896.697170952@postoffice.reston.mci.net>"
#define LONG_SECRET "0123456789012345678901234567890123456789012345678901234567890123456789"

/* --- the test backend: a few users, each with some kinds of secret --- */

struct user {
	const char *name;
	const char *password;
	bool cram;
	bool scram;
};

static const struct user users[] = {
	{ "alice", "secret", false, false },
	{ "tim", "tanstaaftanstaaf", true, false },
	{ "user", "pencil", false, true },
	{ "long", LONG_SECRET, true, false },
	{ "we,ird=name", "pw", false, true },
	{ "j\xc3\xb6rg", "umlaut", true, true },
};

/* the fresh user's secret comes from sasl_scram_secret at run time */
static char *fresh_salt, *fresh_stored, *fresh_server;

static const struct user *find_user(const char *name)
{
	for (size_t i = 0; i < N_ELEMS(users); i++)
		if (strcmp(users[i].name, name) == 0)
			return &users[i];
	return NULL;
}

static int be_verify_plain(void *ctx, const char *user, const char *password)
{
	const struct user *u = find_user(user);

	(void)ctx;
	if (strcmp(user, "tempuser") == 0)
		return SASL_TEMP;
	return u != NULL && strcmp(u->password, password) == 0 ? SASL_OK : SASL_FAIL;
}

static int be_get_cram(void *ctx, const char *user, unsigned char context_r[SASL_CRAM_CONTEXT_LEN])
{
	const struct user *u = find_user(user);

	(void)ctx;
	if (strcmp(user, "tempuser") == 0)
		return SASL_TEMP;
	if (u == NULL || !u->cram)
		return SASL_FAIL;
	sasl_cram_context(u->password, strlen(u->password), context_r);
	return SASL_OK;
}

static char *b64(const void *data, size_t len)
{
	buf *b = buf_new(0);

	base64_encode(b, data, len);
	return buf_steal_free(&b);
}

static int be_get_scram(void *ctx, const char *user, struct sasl_scram_secret *r)
{
	const struct user *u = find_user(user);
	unsigned char stored[SASL_SCRAM_KEY_LEN], server[SASL_SCRAM_KEY_LEN];
	buf *salt;

	(void)ctx;
	if (strcmp(user, "tempuser") == 0)
		return SASL_TEMP;
	if (strcmp(user, "corrupt") == 0) {
		r->iterations = 4096;
		r->salt_b64 = xstrdup("!!");
		r->stored_key_b64 = xstrdup("AAAA");
		r->server_key_b64 = xstrdup("AAAA");
		return SASL_OK;
	}
	if (strcmp(user, "fresh") == 0) {
		r->iterations = 4096;
		r->salt_b64 = xstrdup(fresh_salt);
		r->stored_key_b64 = xstrdup(fresh_stored);
		r->server_key_b64 = xstrdup(fresh_server);
		return SASL_OK;
	}
	if (u == NULL || !u->scram)
		return SASL_FAIL;
	salt = buf_new(0);
	assert_int_equal(base64_decode(salt, RFC7677_SALT, strlen(RFC7677_SALT)), 0);
	assert_int_equal(sasl_scram_keys(u->password, buf_cstr(salt), buf_len(salt), 4096,
					 stored, server), 0);
	buf_free(&salt);
	r->iterations = 4096;
	r->salt_b64 = xstrdup(RFC7677_SALT);
	r->stored_key_b64 = b64(stored, sizeof(stored));
	r->server_key_b64 = b64(server, sizeof(server));
	return SASL_OK;
}

static const struct sasl_backend full_backend = { be_verify_plain, be_get_cram, be_get_scram };
static const struct sasl_backend plain_backend = { be_verify_plain, NULL, NULL };

/* --- scripted exchanges --- */

struct step {
	const char *in;   /* NULL: no initial response */
	size_t in_len;    /* 0: strlen(in) */
	bool raw;         /* send in as is instead of base64-encoding it */
	int result;
	const char *challenge; /* decoded; NULL: not checked */
};

struct exchange {
	const char *name;
	const char *mech;
	const char *nonce;
	const char *user; /* expected sasl_user after SASL_OK */
	struct step steps[4];
};

#define BIN(s) .in = (s), .in_len = sizeof(s) - 1
#define RAW(s) .in = (s), .raw = true

static const struct exchange exchanges[] = {
	{ "plain ir", "PLAIN", NULL, "alice",
	  { { BIN("\0alice\0secret"), .result = SASL_OK } } },
	{ "plain ir authzid", "PLAIN", NULL, "alice",
	  { { BIN("alice\0alice\0secret"), .result = SASL_OK } } },
	{ "plain authzid differs", "PLAIN", NULL, NULL,
	  { { BIN("bob\0alice\0secret"), .result = SASL_FAIL } } },
	{ "plain no ir", "PLAIN", NULL, "alice",
	  { { .in = NULL, .result = SASL_CONTINUE, .challenge = "" },
	    { BIN("\0alice\0secret"), .result = SASL_OK } } },
	{ "plain lower-case mech", "plain", NULL, "alice",
	  { { BIN("\0alice\0secret"), .result = SASL_OK } } },
	{ "plain wrong password", "PLAIN", NULL, NULL,
	  { { BIN("\0alice\0wrong"), .result = SASL_FAIL } } },
	{ "plain unknown user", "PLAIN", NULL, NULL,
	  { { BIN("\0nobody\0secret"), .result = SASL_FAIL } } },
	{ "plain temp", "PLAIN", NULL, NULL,
	  { { BIN("\0tempuser\0secret"), .result = SASL_TEMP } } },
	{ "plain empty ir", "PLAIN", NULL, NULL, { { RAW("="), .result = SASL_BAD } } },
	{ "plain empty line", "PLAIN", NULL, NULL,
	  { { .in = NULL, .result = SASL_CONTINUE }, { RAW(""), .result = SASL_BAD } } },
	{ "plain '=' after ir", "PLAIN", NULL, NULL,
	  { { .in = NULL, .result = SASL_CONTINUE }, { RAW("="), .result = SASL_BAD } } },
	{ "plain one nul", "PLAIN", NULL, NULL,
	  { { BIN("alice\0secret"), .result = SASL_BAD } } },
	{ "plain three nuls", "PLAIN", NULL, NULL,
	  { { BIN("\0alice\0sec\0ret"), .result = SASL_BAD } } },
	{ "plain empty password", "PLAIN", NULL, NULL,
	  { { BIN("\0alice\0"), .result = SASL_BAD } } },
	{ "plain empty user", "PLAIN", NULL, NULL,
	  { { BIN("\0\0secret"), .result = SASL_BAD } } },
	{ "plain control char in user", "PLAIN", NULL, NULL,
	  { { BIN("\0ali\rce\0secret"), .result = SASL_BAD } } },
	{ "plain latin-1 user", "PLAIN", NULL, NULL,
	  { { BIN("\0j\xf6rg\0umlaut"), .result = SASL_BAD } } },
	{ "plain utf-8 user", "PLAIN", NULL, "j\xc3\xb6rg",
	  { { BIN("\0j\xc3\xb6rg\0umlaut"), .result = SASL_OK } } },
	{ "plain cancel ir", "PLAIN", NULL, NULL, { { RAW("*"), .result = SASL_CANCEL } } },
	{ "plain cancel", "PLAIN", NULL, NULL,
	  { { .in = NULL, .result = SASL_CONTINUE }, { RAW("*"), .result = SASL_CANCEL } } },
	{ "plain bad base64", "PLAIN", NULL, NULL,
	  { { RAW("AGFsaWNlAHNlY3JldA=!"), .result = SASL_BAD } } },
	{ "plain base64 with CRLF", "PLAIN", NULL, NULL,
	  { { RAW("AGFsaWNlAHNlY3JldA==\r\n"), .result = SASL_BAD } } },
	{ "plain base64 with space", "PLAIN", NULL, NULL,
	  { { RAW("AGFsaWNl AHNlY3JldA=="), .result = SASL_BAD } } },

	{ "login", "LOGIN", NULL, "alice",
	  { { .in = NULL, .result = SASL_CONTINUE, .challenge = "Username:" },
	    { .in = "alice", .result = SASL_CONTINUE, .challenge = "Password:" },
	    { .in = "secret", .result = SASL_OK } } },
	{ "login wire form", "LOGIN", NULL, "alice",
	  { { .in = NULL, .result = SASL_CONTINUE },
	    { RAW("YWxpY2U="), .result = SASL_CONTINUE },
	    { RAW("c2VjcmV0"), .result = SASL_OK } } },
	{ "login ir", "LOGIN", NULL, "alice",
	  { { .in = "alice", .result = SASL_CONTINUE, .challenge = "Password:" },
	    { .in = "secret", .result = SASL_OK } } },
	{ "login wrong password", "LOGIN", NULL, NULL,
	  { { .in = NULL, .result = SASL_CONTINUE },
	    { .in = "alice", .result = SASL_CONTINUE },
	    { .in = "secrets", .result = SASL_FAIL } } },
	{ "login empty password", "LOGIN", NULL, NULL,
	  { { .in = "alice", .result = SASL_CONTINUE }, { RAW(""), .result = SASL_FAIL } } },
	{ "login nul in password", "LOGIN", NULL, NULL,
	  { { .in = "alice", .result = SASL_CONTINUE }, { BIN("sec\0ret"), .result = SASL_BAD } } },
	{ "login empty user", "LOGIN", NULL, NULL,
	  { { .in = NULL, .result = SASL_CONTINUE }, { RAW(""), .result = SASL_BAD } } },
	{ "login cancel at user", "LOGIN", NULL, NULL,
	  { { .in = NULL, .result = SASL_CONTINUE }, { RAW("*"), .result = SASL_CANCEL } } },
	{ "login cancel at password", "LOGIN", NULL, NULL,
	  { { .in = "alice", .result = SASL_CONTINUE }, { RAW("*"), .result = SASL_CANCEL } } },
	{ "login temp", "LOGIN", NULL, NULL,
	  { { .in = "tempuser", .result = SASL_CONTINUE }, { .in = "x", .result = SASL_TEMP } } },
	{ "login bad base64", "LOGIN", NULL, NULL,
	  { { .in = NULL, .result = SASL_CONTINUE }, { RAW("YWxpY2"), .result = SASL_BAD } } },

	/* RFC 2195 section 2, the wire form both ways */
	{ "cram rfc 2195", "CRAM-MD5", RFC2195_CHALLENGE, "tim",
	  { { .in = NULL, .result = SASL_CONTINUE, .challenge = RFC2195_CHALLENGE },
	    { RAW("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"), .result = SASL_OK } } },
	{ "cram upper-case hex", "CRAM-MD5", RFC2195_CHALLENGE, "tim",
	  { { .in = NULL, .result = SASL_CONTINUE },
	    { .in = "tim B913A602C7EDA7A495B4E6E7334D3890", .result = SASL_OK } } },
	{ "cram wrong digest", "CRAM-MD5", RFC2195_CHALLENGE, NULL,
	  { { .in = NULL, .result = SASL_CONTINUE },
	    { .in = "tim b913a602c7eda7a495b4e6e7334d3891", .result = SASL_FAIL } } },
	{ "cram other challenge", "CRAM-MD5", "<1.2@example.org>", NULL,
	  { { .in = NULL, .result = SASL_CONTINUE },
	    { .in = "tim b913a602c7eda7a495b4e6e7334d3890", .result = SASL_FAIL } } },
	{ "cram user without secret", "CRAM-MD5", RFC2195_CHALLENGE, NULL,
	  { { .in = NULL, .result = SASL_CONTINUE },
	    { .in = "alice b913a602c7eda7a495b4e6e7334d3890", .result = SASL_FAIL } } },
	{ "cram temp", "CRAM-MD5", RFC2195_CHALLENGE, NULL,
	  { { .in = NULL, .result = SASL_CONTINUE },
	    { .in = "tempuser b913a602c7eda7a495b4e6e7334d3890", .result = SASL_TEMP } } },
	{ "cram ir refused", "CRAM-MD5", NULL, NULL,
	  { { .in = "tim b913a602c7eda7a495b4e6e7334d3890", .result = SASL_BAD } } },
	{ "cram no space", "CRAM-MD5", RFC2195_CHALLENGE, NULL,
	  { { .in = NULL, .result = SASL_CONTINUE },
	    { .in = "timb913a602c7eda7a495b4e6e7334d3890", .result = SASL_BAD } } },
	{ "cram short digest", "CRAM-MD5", RFC2195_CHALLENGE, NULL,
	  { { .in = NULL, .result = SASL_CONTINUE },
	    { .in = "tim b913a602c7eda7a495b4e6e7334d389", .result = SASL_BAD } } },
	{ "cram non-hex digest", "CRAM-MD5", RFC2195_CHALLENGE, NULL,
	  { { .in = NULL, .result = SASL_CONTINUE },
	    { .in = "tim b913a602c7eda7a495b4e6e7334d389g", .result = SASL_BAD } } },
	{ "cram empty user", "CRAM-MD5", RFC2195_CHALLENGE, NULL,
	  { { .in = NULL, .result = SASL_CONTINUE },
	    { .in = " b913a602c7eda7a495b4e6e7334d3890", .result = SASL_BAD } } },
	{ "cram cancel", "CRAM-MD5", NULL, NULL,
	  { { .in = NULL, .result = SASL_CONTINUE }, { RAW("*"), .result = SASL_CANCEL } } },

	/* RFC 7677 section 3 */
	{ "scram rfc 7677", "SCRAM-SHA-256", RFC7677_SNONCE, "user",
	  { { .in = "n,,n=user,r=" RFC7677_CNONCE, .result = SASL_CONTINUE,
	      .challenge = "r=" RFC7677_NONCE ",s=" RFC7677_SALT ",i=4096" },
	    { .in = "c=biws,r=" RFC7677_NONCE ",p=" RFC7677_PROOF, .result = SASL_CONTINUE,
	      .challenge = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" },
	    { RAW(""), .result = SASL_OK } } },
	{ "scram rfc 7677 no ir", "SCRAM-SHA-256", RFC7677_SNONCE, "user",
	  { { .in = NULL, .result = SASL_CONTINUE, .challenge = "" },
	    { .in = "n,,n=user,r=" RFC7677_CNONCE, .result = SASL_CONTINUE },
	    { .in = "c=biws,r=" RFC7677_NONCE ",p=" RFC7677_PROOF, .result = SASL_CONTINUE },
	    { RAW(""), .result = SASL_OK } } },
	{ "scram rfc 7677 wrong proof", "SCRAM-SHA-256", RFC7677_SNONCE, NULL,
	  { { .in = "n,,n=user,r=" RFC7677_CNONCE, .result = SASL_CONTINUE },
	    { .in = "c=biws,r=" RFC7677_NONCE ",p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
	      .result = SASL_FAIL } } },
	{ "scram other server nonce", "SCRAM-SHA-256", "other", NULL,
	  { { .in = "n,,n=user,r=" RFC7677_CNONCE, .result = SASL_CONTINUE },
	    { .in = "c=biws,r=" RFC7677_NONCE ",p=" RFC7677_PROOF, .result = SASL_FAIL } } },
	{ "scram cbind mismatch", "SCRAM-SHA-256", RFC7677_SNONCE, NULL,
	  { { .in = "n,,n=user,r=" RFC7677_CNONCE, .result = SASL_CONTINUE },
	    { .in = "c=eSws,r=" RFC7677_NONCE ",p=" RFC7677_PROOF, .result = SASL_FAIL } } },
	{ "scram short proof", "SCRAM-SHA-256", RFC7677_SNONCE, NULL,
	  { { .in = "n,,n=user,r=" RFC7677_CNONCE, .result = SASL_CONTINUE },
	    { .in = "c=biws,r=" RFC7677_NONCE ",p=dHzb", .result = SASL_BAD } } },
	{ "scram no proof", "SCRAM-SHA-256", RFC7677_SNONCE, NULL,
	  { { .in = "n,,n=user,r=" RFC7677_CNONCE, .result = SASL_CONTINUE },
	    { .in = "c=biws,r=" RFC7677_NONCE, .result = SASL_BAD } } },
	{ "scram data after signature", "SCRAM-SHA-256", RFC7677_SNONCE, NULL,
	  { { .in = "n,,n=user,r=" RFC7677_CNONCE, .result = SASL_CONTINUE },
	    { .in = "c=biws,r=" RFC7677_NONCE ",p=" RFC7677_PROOF, .result = SASL_CONTINUE },
	    { .in = "x", .result = SASL_BAD } } },
	{ "scram cancel at final", "SCRAM-SHA-256", RFC7677_SNONCE, NULL,
	  { { .in = "n,,n=user,r=" RFC7677_CNONCE, .result = SASL_CONTINUE },
	    { RAW("*"), .result = SASL_CANCEL } } },
	{ "scram channel binding", "SCRAM-SHA-256", NULL, NULL,
	  { { .in = "p=tls-unique,,n=user,r=abc", .result = SASL_FAIL } } },
	{ "scram bad gs2", "SCRAM-SHA-256", NULL, NULL,
	  { { .in = "x,,n=user,r=abc", .result = SASL_BAD } } },
	{ "scram gs2 no comma", "SCRAM-SHA-256", NULL, NULL,
	  { { .in = "n,n=user,r=abc", .result = SASL_BAD } } },
	{ "scram mandatory ext", "SCRAM-SHA-256", NULL, NULL,
	  { { .in = "n,,m=foo,n=user,r=abc", .result = SASL_BAD } } },
	{ "scram bad escape", "SCRAM-SHA-256", NULL, NULL,
	  { { .in = "n,,n=us=3Fer,r=abc", .result = SASL_BAD } } },
	{ "scram short escape", "SCRAM-SHA-256", NULL, NULL,
	  { { .in = "n,,n=user=2,r=abc", .result = SASL_BAD } } },
	{ "scram no nonce", "SCRAM-SHA-256", NULL, NULL,
	  { { .in = "n,,n=user,x=abc", .result = SASL_BAD } } },
	{ "scram empty nonce", "SCRAM-SHA-256", NULL, NULL,
	  { { .in = "n,,n=user,r=", .result = SASL_BAD } } },
	{ "scram nonce with space", "SCRAM-SHA-256", NULL, NULL,
	  { { .in = "n,,n=user,r=a c", .result = SASL_BAD } } },
	{ "scram empty user", "SCRAM-SHA-256", NULL, NULL,
	  { { .in = "n,,n=,r=abc", .result = SASL_BAD } } },
	{ "scram nul", "SCRAM-SHA-256", NULL, NULL,
	  { { BIN("n,,n=us\0er,r=abc"), .result = SASL_BAD } } },
	{ "scram authzid differs", "SCRAM-SHA-256", NULL, NULL,
	  { { .in = "n,a=admin,n=user,r=abc", .result = SASL_FAIL } } },
	{ "scram temp", "SCRAM-SHA-256", NULL, NULL,
	  { { .in = "n,,n=tempuser,r=abc", .result = SASL_TEMP } } },
	{ "scram corrupt secret", "SCRAM-SHA-256", NULL, NULL,
	  { { .in = "n,,n=corrupt,r=abc", .result = SASL_TEMP } } },
	{ "scram empty ir", "SCRAM-SHA-256", NULL, NULL, { { RAW("="), .result = SASL_BAD } } },
};

/* run_step: sends one scripted message and checks the answer. */
static void run_step(sasl_server *s, const struct exchange *x, size_t i)
{
	const struct step *st = &x->steps[i];
	char *challenge = (char *)"unset";
	char *wire = NULL;
	size_t len = 0;
	int r;

	if (st->in != NULL && st->raw) {
		wire = xstrdup(st->in);
		len = strlen(wire);
	} else if (st->in != NULL) {
		wire = b64(st->in, st->in_len != 0 ? st->in_len : strlen(st->in));
		len = strlen(wire);
	}
	r = sasl_step(s, wire, len, &challenge);
	if (r != st->result)
		fail_msg("%s, step %zu: result %d, expected %d (%s)", x->name, i, r, st->result,
			 sasl_reason(s));
	if (r != SASL_CONTINUE) {
		assert_null(challenge);
	} else {
		buf *d = buf_new(0);

		assert_non_null(challenge);
		assert_int_equal(base64_decode(d, challenge, strlen(challenge)), 0);
		if (st->challenge != NULL && strcmp(buf_cstr(d), st->challenge) != 0)
			fail_msg("%s, step %zu: challenge \"%s\", expected \"%s\"", x->name, i,
				 buf_cstr(d), st->challenge);
		buf_free(&d);
		free(challenge);
	}
	if (r != SASL_CONTINUE && r != SASL_OK)
		assert_true(sasl_reason(s)[0] != '\0');
	free(wire);
}

static void test_exchanges(void **state)
{
	(void)state;
	for (size_t n = 0; n < N_ELEMS(exchanges); n++) {
		const struct exchange *x = &exchanges[n];
		sasl_server *s = sasl_new(x->mech, &full_backend, NULL, true);
		size_t i = 0;

		if (s == NULL)
			fail_msg("%s: sasl_new refused %s", x->name, x->mech);
		if (x->nonce != NULL)
			sasl_set_nonce(s, x->nonce);
		for (;;) {
			run_step(s, x, i);
			if (x->steps[i].result != SASL_CONTINUE)
				break;
			i++;
			assert_true(i < N_ELEMS(x->steps));
		}
		if (x->user != NULL) {
			assert_int_equal(x->steps[i].result, SASL_OK);
			assert_non_null(sasl_user(s));
			assert_string_equal(sasl_user(s), x->user);
		} else {
			assert_null(sasl_user(s));
		}
		sasl_free(&s);
		assert_null(s);
	}
}

/* --- identities, limits, mechanism lists --- */

static void test_identities(void **state)
{
	static const char msg[] = "\0alice\0wrong";
	sasl_server *s = sasl_new("PLAIN", &full_backend, NULL, true);
	char *wire = b64(msg, sizeof(msg) - 1);
	char *challenge;

	(void)state;
	assert_string_equal(sasl_mech(s), "PLAIN");
	assert_null(sasl_login_name(s));
	assert_int_equal(sasl_step(s, wire, strlen(wire), &challenge), SASL_FAIL);
	assert_string_equal(sasl_login_name(s), "alice");
	assert_null(sasl_user(s));
	assert_null(sasl_authzid(s));
	free(wire);
	sasl_free(&s);

	s = sasl_new("plain", &full_backend, NULL, true);
	wire = b64("alice\0alice\0secret", 18);
	assert_string_equal(sasl_mech(s), "PLAIN");
	assert_int_equal(sasl_step(s, wire, strlen(wire), &challenge), SASL_OK);
	assert_string_equal(sasl_authzid(s), "alice");
	assert_string_equal(sasl_user(s), "alice");
	free(wire);
	sasl_free(&s);
	sasl_free(&s); /* NULL is fine */
}

/* plain_with: a PLAIN initial response for user and a password of
 * pass_len 'x' characters. */
static char *plain_with(const char *user, size_t pass_len)
{
	size_t ulen = strlen(user), len = ulen + 2 + pass_len;
	char *msg = xmalloc(len);
	char *wire;

	msg[0] = '\0';
	memcpy(msg + 1, user, ulen);
	msg[1 + ulen] = '\0';
	memset(msg + 2 + ulen, 'x', pass_len);
	wire = b64(msg, len);
	free(msg);
	return wire;
}

static int plain_result(const char *wire, size_t len)
{
	sasl_server *s = sasl_new("PLAIN", &full_backend, NULL, true);
	char *challenge;
	int r = sasl_step(s, wire, len, &challenge);

	sasl_free(&s);
	return r;
}

static void test_limits(void **state)
{
	char name[SASL_MAX_NAME + 2];
	char *wire;

	(void)state;
	/* exactly the limit decoded: parsed (and refused as a wrong password) */
	wire = plain_with("alice", SASL_MAX_RESPONSE - 7);
	assert_int_equal(plain_result(wire, strlen(wire)), SASL_FAIL);
	free(wire);
	/* one byte more: refused before decoding */
	wire = plain_with("alice", SASL_MAX_RESPONSE - 6);
	assert_int_equal(plain_result(wire, strlen(wire)), SASL_BAD);
	free(wire);
	/* a huge line of garbage */
	wire = xmalloc(1 << 20);
	memset(wire, 'A', 1 << 20);
	assert_int_equal(plain_result(wire, 1 << 20), SASL_BAD);
	free(wire);

	memset(name, 'a', sizeof(name) - 1);
	name[SASL_MAX_NAME] = '\0';
	wire = plain_with(name, 8);
	assert_int_equal(plain_result(wire, strlen(wire)), SASL_FAIL);
	free(wire);
	name[SASL_MAX_NAME] = 'a';
	name[SASL_MAX_NAME + 1] = '\0';
	wire = plain_with(name, 8);
	assert_int_equal(plain_result(wire, strlen(wire)), SASL_BAD);
	free(wire);
}

static int no_scram(void *ctx, const char *user, struct sasl_scram_secret *r)
{
	(void)ctx, (void)user, (void)r;
	return SASL_FAIL;
}

static void test_mechanisms(void **state)
{
	static const struct sasl_backend scram_only = { be_verify_plain, NULL, no_scram };

	(void)state;
	assert_string_equal(sasl_mechanisms(&full_backend, true),
			    "PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256");
	assert_string_equal(sasl_mechanisms(&full_backend, false), "CRAM-MD5 SCRAM-SHA-256");
	assert_string_equal(sasl_mechanisms(&plain_backend, true), "PLAIN LOGIN");
	assert_string_equal(sasl_mechanisms(&plain_backend, false), "");
	assert_string_equal(sasl_mechanisms(&scram_only, true), "PLAIN LOGIN SCRAM-SHA-256");
	assert_string_equal(sasl_mechanisms(&scram_only, false), "SCRAM-SHA-256");

	assert_null(sasl_new("PLAIN", &full_backend, NULL, false));
	assert_null(sasl_new("LOGIN", &plain_backend, NULL, false));
	assert_null(sasl_new("CRAM-MD5", &plain_backend, NULL, true));
	assert_null(sasl_new("SCRAM-SHA-256", &plain_backend, NULL, true));
	assert_null(sasl_new("SCRAM-SHA-1", &full_backend, NULL, true));
	assert_null(sasl_new("SCRAM-SHA-256-PLUS", &full_backend, NULL, true));
	assert_null(sasl_new("", &full_backend, NULL, true));
	for (const char *m = "CRAM-MD5"; m != NULL; m = strcmp(m, "CRAM-MD5") == 0 ? "scram-sha-256" : NULL) {
		sasl_server *s = sasl_new(m, &full_backend, NULL, false);

		assert_non_null(s);
		sasl_free(&s);
	}
}

/* --- CRAM-MD5 against OpenSSL's HMAC --- */

static void cram_expect(const char *secret, const char *challenge, char hex_r[33])
{
	unsigned char mac[16];
	unsigned int len = 0;

	assert_non_null(HMAC(EVP_md5(), secret, (int)strlen(secret),
			     (const unsigned char *)challenge, strlen(challenge), mac, &len));
	assert_int_equal(len, 16);
	for (size_t i = 0; i < 16; i++)
		snprintf(hex_r + 2 * i, 3, "%02x", mac[i]);
}

static void test_cram_hmac(void **state)
{
	static const char *const cases[][2] = {
		{ "long", LONG_SECRET },          /* key longer than a block: hashed */
		{ "tim", "tanstaaftanstaaf" },
		{ "j\xc3\xb6rg", "umlaut" },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		sasl_server *s = sasl_new("CRAM-MD5", &full_backend, NULL, false);
		buf *chal = buf_new(0);
		char *challenge, *wire, *resp, hex[33];

		assert_int_equal(sasl_step(s, NULL, 0, &challenge), SASL_CONTINUE);
		assert_int_equal(base64_decode(chal, challenge, strlen(challenge)), 0);
		free(challenge);
		/* the generated challenge looks like a msg-id */
		assert_true(buf_cstr(chal)[0] == '<' && strchr(buf_cstr(chal), '@') != NULL);
		cram_expect(cases[i][1], buf_cstr(chal), hex);
		resp = xasprintf("%s %s", cases[i][0], hex);
		wire = b64(resp, strlen(resp));
		assert_int_equal(sasl_step(s, wire, strlen(wire), &challenge), SASL_OK);
		assert_string_equal(sasl_user(s), cases[i][0]);
		free(resp);
		free(wire);
		buf_free(&chal);
		sasl_free(&s);
	}
}

static void test_cram_context_format(void **state)
{
	unsigned char a[SASL_CRAM_CONTEXT_LEN], b[SASL_CRAM_CONTEXT_LEN];
	static const unsigned char md5_iv[4] = { 0x01, 0x23, 0x45, 0x67 };

	(void)state;
	sasl_cram_context("tanstaaftanstaaf", 16, a);
	sasl_cram_context("tanstaaftanstaaX", 16, b);
	assert_memory_not_equal(a, b, sizeof(a));
	/* after a block, the state is no longer the MD5 initial value
	 * (stored little-endian: 0x67452301 is 01 23 45 67) */
	assert_memory_not_equal(a, md5_iv, sizeof(md5_iv));
	assert_memory_not_equal(a + 16, md5_iv, sizeof(md5_iv));
}

/* --- a small SCRAM-SHA-256 client for the variants --- */

static void scram_client_proof(const char *password, const char *salt_b64, unsigned int iter,
			       const char *auth_message, char **proof_b64_r)
{
	unsigned char salted[32], client_key[32], stored[32], sig[32], proof[32];
	unsigned int len;
	buf *salt = buf_new(0);

	assert_int_equal(base64_decode(salt, salt_b64, strlen(salt_b64)), 0);
	assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int)strlen(password),
					   (const unsigned char *)buf_cstr(salt), (int)buf_len(salt),
					   (int)iter, EVP_sha256(), 32, salted), 1);
	assert_non_null(HMAC(EVP_sha256(), salted, 32, (const unsigned char *)"Client Key", 10,
			     client_key, &len));
	assert_int_equal(EVP_Digest(client_key, 32, stored, &len, EVP_sha256(), NULL), 1);
	assert_non_null(HMAC(EVP_sha256(), stored, 32, (const unsigned char *)auth_message,
			     strlen(auth_message), sig, &len));
	for (size_t i = 0; i < 32; i++)
		proof[i] = client_key[i] ^ sig[i];
	*proof_b64_r = b64(proof, sizeof(proof));
	buf_free(&salt);
}

/* scram_login: runs a whole SCRAM exchange with the given GS2 header and
 * escaped user name; returns the result of the last step. */
static int scram_login(const char *gs2, const char *saslname, const char *password,
		       sasl_server **s_r)
{
	sasl_server *s = sasl_new("SCRAM-SHA-256", &full_backend, NULL, true);
	char *first = xasprintf("%sn=%s,r=clientnonce", gs2, saslname);
	char *wire = b64(first, strlen(first));
	char *challenge, *final, *proof, *auth, *salt;
	buf *sf = buf_new(0), *cb = buf_new(0);
	unsigned int iter;
	int r = sasl_step(s, wire, strlen(wire), &challenge);

	free(wire);
	*s_r = s;
	if (r != SASL_CONTINUE) {
		free(first);
		buf_free(&sf);
		buf_free(&cb);
		return r;
	}
	assert_int_equal(base64_decode(sf, challenge, strlen(challenge)), 0);
	free(challenge);
	assert_int_equal(strncmp(buf_cstr(sf), "r=clientnonce", 13), 0);
	salt = xstrdup(strstr(buf_cstr(sf), ",s=") + 3);
	*strchr(salt, ',') = '\0';
	iter = (unsigned int)atoi(strstr(buf_cstr(sf), ",i=") + 3);
	base64_encode(cb, gs2, strlen(gs2));
	final = xasprintf("c=%s,r=%.*s", buf_cstr(cb), (int)strcspn(buf_cstr(sf) + 2, ","),
			  buf_cstr(sf) + 2);
	auth = xasprintf("%s,%s,%s", first + strlen(gs2), buf_cstr(sf), final);
	scram_client_proof(password, salt, iter, auth, &proof);
	free(first);
	first = xasprintf("%s,p=%s", final, proof);
	wire = b64(first, strlen(first));
	r = sasl_step(s, wire, strlen(wire), &challenge);
	if (r == SASL_CONTINUE) {
		free(challenge);
		r = sasl_step(s, "", 0, &challenge);
	}
	free(wire);
	free(first);
	free(final);
	free(auth);
	free(proof);
	free(salt);
	buf_free(&sf);
	buf_free(&cb);
	return r;
}

static void test_scram_variants(void **state)
{
	static const struct {
		const char *gs2, *saslname, *password, *user;
		int result;
	} cases[] = {
		{ "n,,", "user", "pencil", "user", SASL_OK },
		{ "y,,", "user", "pencil", "user", SASL_OK },
		{ "n,a=user,", "user", "pencil", "user", SASL_OK },
		{ "n,,", "user", "pencils", NULL, SASL_FAIL },
		{ "n,,", "we=2Cird=3Dname", "pw", "we,ird=name", SASL_OK },
		{ "n,a=we=2Cird=3Dname,", "we=2Cird=3Dname", "pw", "we,ird=name", SASL_OK },
		{ "n,,", "j\xc3\xb6rg", "umlaut", "j\xc3\xb6rg", SASL_OK },
		{ "n,,", "fresh", "fresh password", "fresh", SASL_OK },
		{ "n,,", "fresh", "stale password", NULL, SASL_FAIL },
		/* no SCRAM secret: the exchange runs, the proof fails */
		{ "n,,", "alice", "secret", NULL, SASL_FAIL },
		{ "n,,", "nobody", "x", NULL, SASL_FAIL },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		sasl_server *s;
		int r = scram_login(cases[i].gs2, cases[i].saslname, cases[i].password, &s);

		if (r != cases[i].result)
			fail_msg("case %zu: result %d, expected %d (%s)", i, r, cases[i].result,
				 sasl_reason(s));
		if (cases[i].user != NULL)
			assert_string_equal(sasl_user(s), cases[i].user);
		else
			assert_null(sasl_user(s));
		sasl_free(&s);
	}
}

/* first_challenge: the server-first message for a client-first message. */
static char *first_challenge(const char *client_first)
{
	sasl_server *s = sasl_new("SCRAM-SHA-256", &full_backend, NULL, true);
	char *wire = b64(client_first, strlen(client_first));
	char *challenge;
	buf *d = buf_new(0);

	assert_int_equal(sasl_step(s, wire, strlen(wire), &challenge), SASL_CONTINUE);
	assert_int_equal(base64_decode(d, challenge, strlen(challenge)), 0);
	free(challenge);
	free(wire);
	sasl_free(&s);
	return buf_steal_free(&d);
}

static void test_scram_unknown_user_salt(void **state)
{
	char *a = first_challenge("n,,n=nobody,r=abc");
	char *b = first_challenge("n,,n=nobody,r=abc");
	char *c = first_challenge("n,,n=somebody,r=abc");

	(void)state;
	/* the server nonce is random, the salt stays the same per user */
	assert_string_not_equal(a, b);
	assert_string_equal(strstr(a, ",s="), strstr(b, ",s="));
	assert_string_not_equal(strstr(a, ",s="), strstr(c, ",s="));
	assert_non_null(strstr(a, ",i=4096"));
	free(a);
	free(b);
	free(c);
}

static void test_scram_secret(void **state)
{
	unsigned char stored[32], server[32];
	buf *salt = buf_new(0);
	char *s1, *s2, *s3;

	(void)state;
	assert_int_equal(sasl_scram_secret("x", 4096, &s1, &s2, &s3), 0);
	assert_int_equal(base64_decode(salt, s1, strlen(s1)), 0);
	assert_int_equal(buf_len(salt), 16);
	assert_int_equal(strlen(s2), 44);
	assert_int_equal(strlen(s3), 44);
	/* a fresh salt each time */
	assert_string_not_equal(s1, fresh_salt);
	assert_int_equal(sasl_scram_keys("x", buf_cstr(salt), buf_len(salt), 0, stored, server), -1);
	free(s1);
	free(s2);
	free(s3);
	buf_free(&salt);
}

static int setup(void **state)
{
	(void)state;
	return sasl_scram_secret("fresh password", 4096, &fresh_salt, &fresh_stored,
				 &fresh_server);
}

static int teardown(void **state)
{
	(void)state;
	free(fresh_salt);
	free(fresh_stored);
	free(fresh_server);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exchanges),
		cmocka_unit_test(test_identities),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_mechanisms),
		cmocka_unit_test(test_cram_hmac),
		cmocka_unit_test(test_cram_context_format),
		cmocka_unit_test(test_scram_variants),
		cmocka_unit_test(test_scram_unknown_user_salt),
		cmocka_unit_test(test_scram_secret),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
