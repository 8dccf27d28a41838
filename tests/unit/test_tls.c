/* test_tls.c: unit tests for the server setup of lib/tls.c (tls_server):
 * SNI picks the certificate per name (exact, ".parent", unknown and
 * malformed names get the default), ECDSA + RSA in one context, reload while
 * old connections go on (and one is still mid-handshake), the protocol
 * syntax, setup errors naming the main.cf key and file, the cfg reader and
 * the SNI map check; session tickets (lib/tlstix.c) that open in another
 * process given the same key chain, across key epochs, not when turned
 * off and not on another kind of server. Handshakes run over socketpairs with lib/strm.c, both
 * ends non-blocking; certificates come from lib/tlsgen.c. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "cfg.h"
#include "mem.h"
#include "strm.h"
#include "tls.h"
#include "tlsgen.h"
#include "tlstix.h"

/* The certificates of the fixture, by role. */
enum { DEF, DEF_RSA, CERT_A, CERT_B, OLD, NCERTS };

struct fixture {
	char dir[64];
	char *cert[NCERTS], *key[NCERTS];
	X509 *x509[NCERTS];
	char *sni_map; /* "texthash:DIR/sni" */
	char *sni_path;
	SSL_CTX *client;
};

static X509 *read_cert(const char *path)
{
	FILE *fp = fopen(path, "r");

	assert_non_null(fp);
	X509 *cert = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(cert);
	return cert;
}

/* make_expired: re-dates and re-signs the certificate at cert_path. */
static void make_expired(const char *cert_path, const char *key_path)
{
	X509 *cert = read_cert(cert_path);
	FILE *fp = fopen(key_path, "r");
	assert_non_null(fp);
	EVP_PKEY *key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(key);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(cert), -3 * 86400));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(cert), -86400));
	assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
	fp = fopen(cert_path, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_X509(fp, cert), 1);
	fclose(fp);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static int group_setup(void **state)
{
	static const char *const hosts[NCERTS] = { "default.test", "default.test", "a.test",
						   "b.test", "old.test" };
	struct fixture *f = xcalloc(1, sizeof(*f));
	char *err = NULL;

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_tls.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	for (int i = 0; i < NCERTS; i++) {
		const char *names[] = { hosts[i], NULL };
		f->cert[i] = xasprintf("%s/cert%d.pem", f->dir, i);
		f->key[i] = xasprintf("%s/key%d.pem", f->dir, i);
		if (tlsgen_self_signed(names, i == DEF_RSA ? TLSGEN_RSA_2048 : TLSGEN_EC_P256, 10,
				       f->cert[i], f->key[i], &err) < 0) {
			fprintf(stderr, "tlsgen: %s\n", err);
			return -1;
		}
	}
	make_expired(f->cert[OLD], f->key[OLD]);
	for (int i = 0; i < NCERTS; i++)
		f->x509[i] = read_cert(f->cert[i]);
	f->sni_path = xasprintf("%s/sni", f->dir);
	f->sni_map = xasprintf("texthash:%s", f->sni_path);
	char *text = xasprintf("# SNI test map\n"
			       "a.test %s %s\n"
			       "b.test %s,%s\n"
			       ".b.test %s %s\n"
			       "broken.test /nonexistent/cert.pem\n"
			       "relative.test cert.pem\n"
			       "old.test %s %s\n",
			       f->cert[CERT_A], f->key[CERT_A], f->cert[CERT_B], f->key[CERT_B],
			       f->cert[CERT_B], f->key[CERT_B], f->cert[OLD], f->key[OLD]);
	write_file(f->sni_path, text);
	free(text);
	f->client = tls_client_ctx_new(NULL, 0, &err);
	if (f->client == NULL)
		return -1;
	*state = f;
	return 0;
}

static int group_teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < NCERTS; i++) {
		unlink(f->cert[i]);
		unlink(f->key[i]);
		free(f->cert[i]);
		free(f->key[i]);
		X509_free(f->x509[i]);
	}
	unlink(f->sni_path);
	rmdir(f->dir);
	free(f->sni_path);
	free(f->sni_map);
	SSL_CTX_free(f->client);
	free(f);
	return 0;
}

static tls_server *make_server(struct fixture *f, int def, const char *sni_map, bool rsa)
{
	struct tls_server_conf conf = {
		.cert_file = f->cert[def],
		.key_file = f->key[def],
		.cert2_file = rsa ? f->cert[DEF_RSA] : NULL,
		.key2_file = rsa ? f->key[DEF_RSA] : NULL,
		.sni_maps = sni_map,
		.key_prefix = "smtpd",
	};
	char *err = NULL;
	tls_server *ts = tls_server_new(&conf, &err);

	if (ts == NULL)
		fail_msg("tls_server_new: %s", err);
	return ts;
}

/* ---- connections ---- */

struct conn {
	strm *server, *client;
};

/* conn_start: a socketpair with both TLS handshakes begun, none run. */
static void conn_start(struct conn *c, SSL_CTX *server_ctx, SSL_CTX *client_ctx, const char *sni)
{
	int fds[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
	c->server = strm_new(fds[0]);
	c->client = strm_new(fds[1]);
	strm_start_tls(c->server, server_ctx, true, NULL);
	strm_start_tls(c->client, client_ctx, false, sni);
}

static void conn_handshake(struct conn *c)
{
	int rs = STRM_AGAIN, rc = STRM_AGAIN;

	for (int i = 0; i < 100 && (rs != STRM_OK || rc != STRM_OK); i++) {
		if (rc != STRM_OK)
			rc = strm_handshake(c->client);
		if (rs != STRM_OK)
			rs = strm_handshake(c->server);
		if (rs < 0 || rc < 0)
			fail_msg("handshake: server %s, client %s", strm_error(c->server),
				 strm_error(c->client));
	}
	assert_int_equal(rs, STRM_OK);
	assert_int_equal(rc, STRM_OK);
}

/* conn_echo: one line each way over the connection. */
static void conn_echo(struct conn *c, const char *text)
{
	struct {
		strm *from, *to;
	} dirs[2] = { { c->client, c->server }, { c->server, c->client } };
	const char *line;
	size_t len;

	for (int d = 0; d < 2; d++) {
		strm_printf(dirs[d].from, "%s\r\n", text);
		assert_int_equal(strm_flush(dirs[d].from), STRM_OK);
		int r = STRM_AGAIN;
		for (int i = 0; i < 100 && r == STRM_AGAIN; i++)
			r = strm_read_line(dirs[d].to, 200, &line, &len);
		assert_int_equal(r, STRM_OK);
		assert_int_equal(len, strlen(text) + 2);
		assert_memory_equal(line, text, strlen(text));
	}
}

static void conn_free(struct conn *c)
{
	strm_free(&c->server);
	strm_free(&c->client);
}

/* peer_is: the client saw the certificate f->x509[want]. */
static void expect_peer(struct conn *c, struct fixture *f, int want, const char *sni)
{
	X509 *peer = SSL_get1_peer_certificate(strm_ssl(c->client));

	assert_non_null(peer);
	if (X509_cmp(peer, f->x509[want]) != 0) {
		char cn[128] = "";
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn,
					  sizeof(cn));
		fail_msg("SNI %s: got a certificate for %s (want role %d)", sni ? sni : "(none)", cn,
			 want);
	}
	X509_free(peer);
}

/* ---- SNI ---- */

struct sni_case {
	const char *sni; /* NULL: the client sends none */
	int want;
};

static const struct sni_case sni_cases[] = {
	{ "a.test", CERT_A },
	{ "A.Test.", CERT_A }, /* case and trailing dot */
	{ "b.test", CERT_B },
	{ "mx.b.test", CERT_B }, /* ".b.test" */
	{ "deep.mx.b.test", CERT_B },
	{ "x.a.test", DEF }, /* no ".a.test" entry */
	{ "unknown.test", DEF },
	{ NULL, DEF },
	{ "broken.test", DEF }, /* entry whose files do not load */
	{ "relative.test", DEF },
	{ "bad..name", DEF },
	{ "under_score.b.test", CERT_B },
	{ "a.test", CERT_A }, /* again: from the cache */
	{ "broken.test", DEF },
};

static void test_sni_table(void **state)
{
	struct fixture *f = *state;
	tls_server *ts = make_server(f, DEF, f->sni_map, false);

	for (size_t i = 0; i < sizeof(sni_cases) / sizeof(sni_cases[0]); i++) {
		struct conn c;
		conn_start(&c, tls_server_ctx(ts), f->client, sni_cases[i].sni);
		conn_handshake(&c);
		expect_peer(&c, f, sni_cases[i].want, sni_cases[i].sni);
		conn_echo(&c, "EHLO client.test");
		conn_free(&c);
	}
	tls_server_free(&ts);
	assert_null(ts);
}

/* Without SNI maps the default certificate serves every name. */
static void test_no_sni_maps(void **state)
{
	struct fixture *f = *state;
	tls_server *ts = make_server(f, CERT_B, NULL, false);
	struct conn c;

	conn_start(&c, tls_server_ctx(ts), f->client, "a.test");
	conn_handshake(&c);
	expect_peer(&c, f, CERT_B, "a.test");
	conn_free(&c);
	tls_server_free(&ts);
}

/* ECDSA and RSA in one context: a client that cannot verify ECDSA gets
 * the RSA certificate, others the ECDSA one; TLS 1.2 and 1.3. */
static void test_dual_certificates(void **state)
{
	struct fixture *f = *state;
	tls_server *ts = make_server(f, DEF, NULL, true);
	char *err = NULL;

	for (int v = 0; v < 2; v++) {
		int version = v == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
		SSL_CTX *rsa_only = tls_client_ctx_new(NULL, 0, &err);
		assert_non_null(rsa_only);
		assert_int_equal(SSL_CTX_set1_sigalgs_list(rsa_only,
							   "rsa_pss_rsae_sha256:RSA+SHA256"), 1);
		SSL_CTX *any = tls_client_ctx_new(NULL, 0, &err);
		assert_non_null(any);
		for (int i = 0; i < 2; i++) {
			SSL_CTX *client = i == 0 ? rsa_only : any;
			struct conn c;
			SSL_CTX_set_min_proto_version(client, version);
			SSL_CTX_set_max_proto_version(client, version);
			conn_start(&c, tls_server_ctx(ts), client, NULL);
			conn_handshake(&c);
			expect_peer(&c, f, i == 0 ? DEF_RSA : DEF, NULL);
			assert_int_equal(SSL_version(strm_ssl(c.client)), version);
			conn_free(&c);
		}
		SSL_CTX_free(rsa_only);
		SSL_CTX_free(any);
	}
	tls_server_free(&ts);
}

/* Reload: a new setup for new connections; an open connection and one
 * whose handshake has not run yet (its SNI callback still needs the old
 * setup's maps) both carry on after the old setup was freed. */
static void test_reload(void **state)
{
	struct fixture *f = *state;
	tls_server *old = make_server(f, DEF, f->sni_map, false);
	struct conn open_conn, mid, fresh;

	conn_start(&open_conn, tls_server_ctx(old), f->client, "a.test");
	conn_handshake(&open_conn);
	expect_peer(&open_conn, f, CERT_A, "a.test");
	conn_start(&mid, tls_server_ctx(old), f->client, "mx.b.test");

	/* renewed setup: another default, no SNI */
	tls_server *renewed = make_server(f, CERT_B, NULL, false);
	tls_server_free(&old);

	conn_echo(&open_conn, "still here after the reload");
	conn_handshake(&mid);
	expect_peer(&mid, f, CERT_B, "mx.b.test");
	conn_echo(&mid, "handshake finished on the old setup");
	conn_start(&fresh, tls_server_ctx(renewed), f->client, "a.test");
	conn_handshake(&fresh);
	expect_peer(&fresh, f, CERT_B, "a.test");
	conn_echo(&fresh, "new connection, new setup");
	conn_echo(&open_conn, "old one still fine");
	conn_free(&open_conn);
	conn_free(&mid);
	conn_free(&fresh);
	tls_server_free(&renewed);
}

/* ---- protocols ---- */

struct proto_case {
	const char *text;
	int min, max; /* 0: an error */
};

static const struct proto_case proto_cases[] = {
	{ "", TLS1_2_VERSION, TLS1_3_VERSION },
	{ ">=TLSv1.2", TLS1_2_VERSION, TLS1_3_VERSION },
	{ ">=TLSv1.3", TLS1_3_VERSION, TLS1_3_VERSION },
	{ "<=TLSv1.2", TLS1_VERSION, TLS1_2_VERSION },
	{ ">=TLSv1.1 <=TLSv1.2", TLS1_1_VERSION, TLS1_2_VERSION },
	{ "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", TLS1_2_VERSION, TLS1_3_VERSION },
	{ "TLSv1.2, TLSv1.3", TLS1_2_VERSION, TLS1_3_VERSION },
	{ "TLSv1.2", TLS1_2_VERSION, TLS1_2_VERSION },
	{ "tlsv1.3", TLS1_3_VERSION, TLS1_3_VERSION },
	{ ">=TLSv1.1 !TLSv1.2", 0, 0 }, /* a gap */
	{ "!TLSv1 !TLSv1.1 !TLSv1.2 !TLSv1.3", 0, 0 }, /* nothing left */
	{ "SSLv3", 0, 0 }, /* never enabled */
	{ "TLSv1.4", 0, 0 },
	{ ">TLSv1.2", 0, 0 },
	{ "=>TLSv1.2", 0, 0 },
};

static void test_protocols(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(proto_cases) / sizeof(proto_cases[0]); i++) {
		const struct proto_case *c = &proto_cases[i];
		int min = -1, max = -1;
		char *err = NULL;
		int rc = tls_parse_protocols(c->text, &min, &max, &err);

		if (c->min == 0) {
			if (rc != -1 || err == NULL)
				fail_msg("\"%s\" accepted", c->text);
			free(err);
			continue;
		}
		if (rc != 0)
			fail_msg("\"%s\": %s", c->text, err);
		assert_int_equal(min, c->min);
		assert_int_equal(max, c->max);
	}
}

/* The range reaches the context, and a TLS 1.2-only client cannot connect
 * to a TLS 1.3-only server. */
static void test_protocol_floor(void **state)
{
	struct fixture *f = *state;
	struct tls_server_conf conf = { .cert_file = f->cert[DEF], .key_file = f->key[DEF],
					.protocols = ">=TLSv1.3" };
	char *err = NULL;
	tls_server *ts = tls_server_new(&conf, &err);

	assert_non_null(ts);
	assert_int_equal(SSL_CTX_get_min_proto_version(tls_server_ctx(ts)), TLS1_3_VERSION);
	SSL_CTX *old_client = tls_client_ctx_new(NULL, 0, &err);
	SSL_CTX_set_max_proto_version(old_client, TLS1_2_VERSION);
	struct conn c;
	conn_start(&c, tls_server_ctx(ts), old_client, NULL);
	int rs = STRM_AGAIN, rc = STRM_AGAIN;
	for (int i = 0; i < 20 && rs >= 0 && rc >= 0; i++) {
		rc = strm_handshake(c.client);
		rs = strm_handshake(c.server);
	}
	assert_int_equal(rs, STRM_ERROR);
	conn_free(&c);
	SSL_CTX_free(old_client);
	tls_server_free(&ts);
}

/* ---- setup errors ---- */

struct error_case {
	int cert, key, cert2, key2; /* roles; NONE, or MISSING for a missing file */
	const char *protocols, *ciphers, *ciphersuites;
	bool sni_missing, reject_expired;
	const char *prefix, *needle; /* the error starts with prefix, has needle */
	int file_role; /* the error names this role's file (or NONE) */
	bool file_is_key;
};

#define MISSING (-2)
#define NONE (-1)

static const struct error_case error_cases[] = {
	{ MISSING, DEF, NONE, NONE, NULL, NULL, NULL, false, false,
	  "smtpd_tls_cert_file: cannot read certificate", "missing.pem", NONE, false },
	{ DEF, MISSING, NONE, NONE, NULL, NULL, NULL, false, false,
	  "smtpd_tls_key_file: cannot read private key", "missing.pem", NONE, false },
	{ DEF, CERT_A, NONE, NONE, NULL, NULL, NULL, false, false,
	  "smtpd_tls_key_file: certificate", "does not match", CERT_A, true },
	{ DEF, DEF, CERT_A, CERT_A, NULL, NULL, NULL, false, false,
	  "smtpd_tls_rsa_cert_file:", "same key type", CERT_A, false },
	{ DEF, DEF, DEF_RSA, CERT_A, NULL, NULL, NULL, false, false,
	  "smtpd_tls_rsa_key_file:", "does not match", CERT_A, true },
	{ DEF, DEF, DEF_RSA, MISSING, NULL, NULL, NULL, false, false,
	  "smtpd_tls_rsa_key_file: cannot read private key", "missing.pem", NONE, false },
	{ OLD, OLD, NONE, NONE, NULL, NULL, NULL, false, true,
	  "smtpd_tls_cert_file: certificate", "expired on", OLD, false },
	{ DEF, DEF, NONE, NONE, "TLSv9", NULL, NULL, false, false,
	  "smtpd_tls_protocols:", "TLSv9", NONE, false },
	{ DEF, DEF, NONE, NONE, NULL, "NO-SUCH-CIPHER", NULL, false, false,
	  "smtpd_tls_ciphers:", "NO-SUCH-CIPHER", NONE, false },
	{ DEF, DEF, NONE, NONE, NULL, NULL, "TLS_NOPE", false, false,
	  "smtpd_tls_ciphersuites:", "TLS_NOPE", NONE, false },
	{ DEF, DEF, NONE, NONE, NULL, NULL, NULL, true, false,
	  "smtpd_tls_sni_maps:", "nonexistent", NONE, false },
	{ NONE, NONE, NONE, NONE, NULL, NULL, NULL, false, false,
	  "smtpd_tls_cert_file:", "no certificate", NONE, false },
};

static const char *role_file(struct fixture *f, int role, bool key, char *missing)
{
	if (role == NONE)
		return NULL;
	if (role == MISSING)
		return missing;
	return key ? f->key[role] : f->cert[role];
}

static void test_setup_errors(void **state)
{
	struct fixture *f = *state;
	char missing[128];

	snprintf(missing, sizeof(missing), "%s/missing.pem", f->dir);
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];
		struct tls_server_conf conf = {
			.cert_file = role_file(f, c->cert, false, missing),
			.key_file = role_file(f, c->key, true, missing),
			.cert2_file = role_file(f, c->cert2, false, missing),
			.key2_file = role_file(f, c->key2, true, missing),
			.protocols = c->protocols,
			.ciphers = c->ciphers,
			.ciphersuites = c->ciphersuites,
			.sni_maps = c->sni_missing ? "texthash:/nonexistent/sni" : NULL,
			.key_prefix = "smtpd",
			.reject_expired = c->reject_expired,
		};
		char *err = NULL;
		tls_server *ts = tls_server_new(&conf, &err);

		if (ts != NULL)
			fail_msg("case %zu accepted", i);
		assert_non_null(err);
		const char *file = c->file_role == NONE	 ? NULL
				   : c->file_is_key ? f->key[c->file_role]
						    : f->cert[c->file_role];
		if (strstr(err, c->prefix) != err || strstr(err, c->needle) == NULL ||
		    (file != NULL && strstr(err, file) == NULL))
			fail_msg("case %zu: \"%s\" lacks \"%s\" / \"%s\" / %s", i, err, c->prefix,
				 c->needle, file ? file : "");
		free(err);
	}
	/* an expired certificate is only a warning when not rejected */
	struct tls_server_conf conf = { .cert_file = f->cert[OLD], .key_file = f->key[OLD] };
	char *err = NULL;
	tls_server *ts = tls_server_new(&conf, &err);
	assert_non_null(ts);
	tls_server_free(&ts);
}

/* test_client_ctx_from: the client context of lib/smtpc: CA file and
 * directory, a client certificate, and errors that name the file. It
 * never verifies on its own (smtpc asks per connection). */
static void test_client_ctx_from(void **state)
{
	struct fixture *f = *state;
	char missing[128];
	const struct {
		struct tls_client_conf conf;
		const char *needle; /* NULL: loads */
	} cases[] = {
		{ { 0 }, NULL }, /* the system's CAs */
		{ { .ca_file = "" , .ca_dir = "" }, NULL },
		{ { .ca_file = f->cert[CERT_A] }, NULL },
		{ { .ca_dir = f->dir }, NULL },
		{ { .ca_file = f->cert[CERT_A], .cert_file = f->cert[CERT_B],
		    .key_file = f->key[CERT_B] }, NULL },
		{ { .ca_file = missing }, missing },
		{ { .cert_file = missing }, missing },
		{ { .cert_file = f->cert[CERT_A], .key_file = f->key[CERT_B] }, "does not match" },
	};

	snprintf(missing, sizeof(missing), "%s/missing.pem", f->dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *err = NULL;
		SSL_CTX *ctx = tls_client_ctx_from(&cases[i].conf, &err);

		if (cases[i].needle == NULL && ctx == NULL)
			fail_msg("case %zu: %s", i, err);
		if (cases[i].needle != NULL && (ctx != NULL || strstr(err, cases[i].needle) == NULL))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err ? err : "(loaded)",
				 cases[i].needle);
		if (ctx != NULL)
			assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_NONE);
		SSL_CTX_free(ctx);
		free(err);
	}
}

/* ---- main.cf ---- */

static void test_from_cfg(void **state)
{
	struct fixture *f = *state;
	cfg *c = cfg_new(f->dir);
	tls_server *ts = NULL;
	char *err = NULL;

	/* nothing configured: TLS off, no error */
	assert_int_equal(tls_server_from_cfg(c, "smtpd", false, &ts, &err), 0);
	assert_null(ts);
	assert_null(err);
	/* a key without a certificate */
	cfg_set(c, "smtpd_tls_key_file", f->key[DEF]);
	assert_int_equal(tls_server_from_cfg(c, "smtpd", false, &ts, &err), -1);
	assert_non_null(strstr(err, "smtpd_tls_cert_file: not set"));
	free(err);
	/* relative paths are refused */
	cfg_set(c, "smtpd_tls_cert_file", "cert.pem");
	assert_int_equal(tls_server_from_cfg(c, "smtpd", false, &ts, &err), -1);
	assert_non_null(strstr(err, "smtpd_tls_cert_file: cert.pem is not an absolute path"));
	free(err);
	/* the whole setup: both certificates, SNI, protocols */
	cfg_set(c, "smtpd_tls_cert_file", f->cert[DEF]);
	cfg_set(c, "smtpd_tls_rsa_cert_file", f->cert[DEF_RSA]);
	cfg_set(c, "smtpd_tls_rsa_key_file", f->key[DEF_RSA]);
	cfg_set(c, "smtpd_tls_sni_maps", f->sni_map);
	cfg_set(c, "smtpd_tls_protocols", "TLSv1.3");
	assert_int_equal(tls_server_from_cfg(c, "smtpd", false, &ts, &err), 0);
	assert_non_null(ts);
	assert_int_equal(SSL_CTX_get_min_proto_version(tls_server_ctx(ts)), TLS1_3_VERSION);
	struct conn cn;
	conn_start(&cn, tls_server_ctx(ts), f->client, "a.test");
	conn_handshake(&cn);
	expect_peer(&cn, f, CERT_A, "a.test");
	conn_free(&cn);
	tls_server_free(&ts);
	/* the key defaults to the certificate file */
	cfg_set(c, "smtpd_tls_key_file", "$smtpd_tls_cert_file");
	assert_int_equal(tls_server_from_cfg(c, "smtpd", false, &ts, &err), -1);
	assert_non_null(strstr(err, "smtpd_tls_key_file: cannot read private key"));
	free(err);
	cfg_free(&c);
}

static void collect(void *ctx, const char *msg)
{
	char **all = ctx;
	char *joined = xasprintf("%s%s\n", *all ? *all : "", msg);

	free(*all);
	*all = joined;
}

/* The check loads every entry: the broken, relative and expired ones are
 * reported with the map, the key and the reason. */
static void test_check_sni(void **state)
{
	struct fixture *f = *state;
	tls_server *ts = make_server(f, DEF, f->sni_map, false);
	char *all = NULL;

	assert_int_equal(tls_server_check_sni(ts, collect, &all), 3);
	assert_non_null(all);
	assert_non_null(strstr(all, "smtpd_tls_sni_maps: texthash:"));
	assert_non_null(strstr(all, ": broken.test: cannot read certificate /nonexistent/cert.pem"));
	assert_non_null(strstr(all, ": relative.test: cert.pem is not an absolute path"));
	assert_non_null(strstr(all, ": old.test: certificate"));
	assert_non_null(strstr(all, "expired on"));
	assert_null(strstr(all, "a.test:"));
	free(all);
	tls_server_free(&ts);
}


/* ---- session tickets (tlstix) ---- */

static time_t fake_now;

static time_t fake_clock(time_t *t)
{
	if (t != NULL)
		*t = fake_now;
	return fake_now;
}

static tls_server *make_tix_server(struct fixture *f, unsigned lifetime, const char *prefix)
{
	struct tls_server_conf conf = {
		.cert_file = f->cert[DEF],
		.key_file = f->key[DEF],
		.key_prefix = prefix,
		.session_lifetime = lifetime,
	};
	char *err = NULL;
	tls_server *ts = tls_server_new(&conf, &err);

	if (ts == NULL)
		fail_msg("tls_server_new: %s", err);
	return ts;
}

/* visit: one handshake and one line each way, offering resume; *reused_r
 * says whether the session was resumed. Returns the client's session. */
static SSL_SESSION *visit(tls_server *ts, struct fixture *f, SSL_SESSION *resume, bool *reused_r)
{
	struct conn c;
	SSL_SESSION *got;

	conn_start(&c, tls_server_ctx(ts), f->client, NULL);
	if (resume != NULL)
		assert_int_equal(SSL_set_session(strm_ssl(c.client), resume), 1);
	conn_handshake(&c);
	conn_echo(&c, "ticket please"); /* the client reads the TLS 1.3 ticket too */
	*reused_r = SSL_session_reused(strm_ssl(c.client)) == 1;
	got = SSL_get1_session(strm_ssl(c.client));
	conn_free(&c);
	return got;
}

/* serve_once: a child process that takes the key chain c the way a child
 * of master does (a pipe named by POSTERN_TLSTIX_FD), serves one TLS
 * connection on fd (echoing a line) and exits 0. */
static pid_t serve_once(struct fixture *f, const struct tlstix_chain *c, int fd)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid > 0)
		return pid;
	int tix_fd = tlstix_send(c);
	char num[16];
	const char *line;
	size_t len;

	snprintf(num, sizeof(num), "%d", tix_fd);
	setenv(TLSTIX_ENV, num, 1);
	tlstix_inherit();
	if (getenv(TLSTIX_ENV) != NULL || fcntl(tix_fd, F_GETFD) >= 0)
		_exit(2); /* the variable and the pipe must be gone */
	tls_server *ts = make_tix_server(f, 3600, "smtpd");
	strm *s = strm_new(fd);
	strm_start_tls(s, tls_server_ctx(ts), true, NULL);
	if (strm_handshake(s) != STRM_OK || strm_read_line(s, 200, &line, &len) != STRM_OK)
		_exit(1);
	strm_write(s, line, len);
	_exit(strm_flush(s) == STRM_OK ? 0 : 1);
}

/* client_visit: the parent's side of serve_once. */
static SSL_SESSION *client_visit(struct fixture *f, const struct tlstix_chain *c,
				 SSL_SESSION *resume, bool *reused_r)
{
	int fds[2], status = -1;
	const char *line;
	size_t len;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	pid_t pid = serve_once(f, c, fds[0]);
	close(fds[0]);
	strm *cl = strm_new(fds[1]);
	strm_start_tls(cl, f->client, false, NULL);
	if (resume != NULL)
		assert_int_equal(SSL_set_session(strm_ssl(cl), resume), 1);
	assert_int_equal(strm_handshake(cl), STRM_OK);
	strm_puts(cl, "across processes\r\n");
	assert_int_equal(strm_flush(cl), STRM_OK);
	assert_int_equal(strm_read_line(cl, 200, &line, &len), STRM_OK);
	assert_memory_equal(line, "across processes", 16);
	*reused_r = SSL_session_reused(strm_ssl(cl)) == 1;
	SSL_SESSION *got = SSL_get1_session(strm_ssl(cl));
	strm_free(&cl);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return got;
}

/* Runs first: this process must not have a chain of its own yet, so the
 * children's tlstix_inherit really installs the chain they are given. */
static void test_tickets_across_processes(void **state)
{
	struct fixture *f = *state;
	struct tlstix_chain chain, other;
	bool reused;

	assert_true(tlstix_chain_new(&chain, time(NULL)));
	assert_true(tlstix_chain_new(&other, time(NULL)));
	SSL_SESSION *first = client_visit(f, &chain, NULL, &reused);
	assert_false(reused);
	assert_true(SSL_SESSION_is_resumable(first));
	SSL_SESSION *again = client_visit(f, &chain, first, &reused);
	assert_true(reused); /* sealed in one child, opened in another */
	SSL_SESSION_free(again);
	again = client_visit(f, &other, first, &reused);
	assert_false(reused); /* another chain: another instance */
	SSL_SESSION_free(again);
	SSL_SESSION_free(first);
}

static void test_tlstix_chain(void **state)
{
	struct tlstix_chain a, b;

	(void)state;
	assert_true(tlstix_chain_new(&a, 7200));
	assert_int_equal(a.epoch, 7200 / TLSTIX_EPOCH_SECONDS);
	b = a;
	tlstix_chain_advance(&a, a.epoch + 3);
	assert_memory_not_equal(a.state, b.state, TLSTIX_STATE_LEN);
	for (int i = 0; i < 3; i++)
		tlstix_chain_advance(&b, b.epoch + 1); /* step by step: the same chain */
	assert_int_equal(a.epoch, b.epoch);
	assert_memory_equal(a.state, b.state, TLSTIX_STATE_LEN);
	tlstix_chain_advance(&b, 1); /* never backward */
	assert_memory_equal(a.state, b.state, TLSTIX_STATE_LEN);
	assert_int_equal(tlstix_epoch(-5), 0);
}

static void test_tickets_epochs(void **state)
{
	struct fixture *f = *state;
	tls_server *ts = make_tix_server(f, 3600, "smtpd");
	bool reused;

	fake_now = time(NULL) + TLSTIX_EPOCH_SECONDS; /* chains never move back */
	tlstix_set_clock(fake_clock);
	SSL_SESSION *s0 = visit(ts, f, NULL, &reused);
	assert_false(reused);
	SSL_SESSION_free(visit(ts, f, s0, &reused));
	assert_true(reused);
	fake_now += TLSTIX_EPOCH_SECONDS; /* next epoch: the old key still opens */
	SSL_SESSION *s1 = visit(ts, f, s0, &reused);
	assert_true(reused);
	fake_now += 2 * TLSTIX_EPOCH_SECONDS; /* two more: both keys are gone */
	SSL_SESSION_free(visit(ts, f, s0, &reused));
	assert_false(reused);
	SSL_SESSION *s3 = visit(ts, f, s1, &reused);
	assert_false(reused);
	SSL_SESSION_free(visit(ts, f, s3, &reused));
	assert_true(reused);
	tlstix_set_clock(NULL);
	SSL_SESSION_free(s0);
	SSL_SESSION_free(s1);
	SSL_SESSION_free(s3);
	tls_server_free(&ts);
}

static void test_tickets_off_and_per_kind(void **state)
{
	struct fixture *f = *state;
	tls_server *off = make_tix_server(f, 0, "smtpd");
	tls_server *smtpd = make_tix_server(f, 3600, "smtpd");
	tls_server *pop3d = make_tix_server(f, 3600, "pop3d");
	bool reused;

	SSL_SESSION *s = visit(off, f, NULL, &reused);
	assert_false(SSL_SESSION_is_resumable(s)); /* no ticket was issued */
	SSL_SESSION_free(s);
	s = visit(smtpd, f, NULL, &reused);
	SSL_SESSION_free(visit(off, f, s, &reused));
	assert_false(reused);
	SSL_SESSION_free(visit(pop3d, f, s, &reused));
	assert_false(reused); /* an smtpd session does not resume on pop3d */
	SSL_SESSION_free(visit(smtpd, f, s, &reused));
	assert_true(reused);
	SSL_SESSION_free(s);
	tls_server_free(&off);
	tls_server_free(&smtpd);
	tls_server_free(&pop3d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tickets_across_processes),
		cmocka_unit_test(test_tlstix_chain),
		cmocka_unit_test(test_tickets_epochs),
		cmocka_unit_test(test_tickets_off_and_per_kind),
		cmocka_unit_test(test_sni_table),
		cmocka_unit_test(test_no_sni_maps),
		cmocka_unit_test(test_dual_certificates),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_protocols),
		cmocka_unit_test(test_protocol_floor),
		cmocka_unit_test(test_setup_errors),
		cmocka_unit_test(test_client_ctx_from),
		cmocka_unit_test(test_from_cfg),
		cmocka_unit_test(test_check_sni),
	};

	signal(SIGPIPE, SIG_IGN); /* close_notify to a peer that is gone */
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
