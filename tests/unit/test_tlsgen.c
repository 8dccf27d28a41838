/* test_tlsgen.c: unit tests for lib/tlsgen.c. Generates ECDSA P-256 and
 * RSA-2048 certificates in a mkdtemp directory and checks them with
 * OpenSSL's own functions: file modes, key type and size, the names (CN and
 * subjectAltName entries, DNS and IP), validity, self-signature, leaf
 * extensions, that lib/tls.c loads the pair, and the error paths. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "mem.h"
#include "tls.h"
#include "tlsgen.h"

struct fixture {
	char dir[64];
	char *cert, *key;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_tlsgen.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->cert = xasprintf("%s/cert.pem", f->dir);
	f->key = xasprintf("%s/key.pem", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->cert);
	unlink(f->key);
	rmdir(f->dir);
	free(f->cert);
	free(f->key);
	free(f);
	return 0;
}

static X509 *read_cert(const char *path)
{
	FILE *fp = fopen(path, "r");

	assert_non_null(fp);
	X509 *cert = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(cert);
	return cert;
}

static EVP_PKEY *read_key(const char *path)
{
	FILE *fp = fopen(path, "r");

	assert_non_null(fp);
	EVP_PKEY *key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(key);
	return key;
}

static mode_t file_mode(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* san_count: entries of the subjectAltName extension. */
static int san_count(X509 *cert)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int n = gens != NULL ? sk_GENERAL_NAME_num(gens) : 0;

	GENERAL_NAMES_free(gens);
	return n;
}

static void expect_common(X509 *cert, EVP_PKEY *key, int days)
{
	/* self-signed by the key in the key file */
	assert_int_equal(X509_check_private_key(cert, key), 1);
	assert_int_equal(X509_verify(cert, X509_get0_pubkey(cert)), 1);
	assert_int_equal(X509_get_version(cert), X509_VERSION_3);
	/* a leaf for TLS servers */
	assert_int_equal(X509_check_ca(cert), 0);
	assert_int_equal(X509_check_purpose(cert, X509_PURPOSE_SSL_SERVER, 0), 1);
	/* valid now, until about days from now */
	assert_true(X509_cmp_current_time(X509_get0_notBefore(cert)) < 0);
	time_t soon = time(NULL) + (time_t)(days - 1) * 86400;
	time_t late = time(NULL) + (time_t)(days + 1) * 86400;
	assert_true(X509_cmp_time(X509_get0_notAfter(cert), &soon) > 0);
	assert_true(X509_cmp_time(X509_get0_notAfter(cert), &late) < 0);
	/* a positive serial */
	BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	assert_non_null(serial);
	assert_false(BN_is_negative(serial));
	assert_true(BN_num_bits(serial) > 64);
	BN_free(serial);
}

static void test_ec_default(void **state)
{
	struct fixture *f = *state;
	const char *names[] = { "mail.example.test", "localhost", "127.0.0.1", NULL };
	char *err = NULL;

	assert_int_equal(tlsgen_self_signed(names, TLSGEN_EC_P256, 3650, f->cert, f->key, &err), 0);
	assert_null(err);
	assert_int_equal(file_mode(f->key), 0600);
	assert_int_equal(file_mode(f->cert), 0644);

	X509 *cert = read_cert(f->cert);
	EVP_PKEY *key = read_key(f->key);
	char group[64];
	size_t glen;
	assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_group_name(key, group, sizeof(group), &glen), 1);
	assert_string_equal(group, "prime256v1");
	expect_common(cert, key, 3650);

	/* names: SANs (DNS and IP) and the CN */
	assert_int_equal(san_count(cert), 3);
	assert_int_equal(X509_check_host(cert, "mail.example.test", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(cert, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_host(cert, "other.example.test", 0, 0, NULL), 0);
	assert_int_equal(X509_check_host(cert, "127.0.0.1", 0, 0, NULL), 0); /* IP, not DNS */
	char cn[128];
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
					      sizeof(cn)) > 0);
	assert_string_equal(cn, "mail.example.test");
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)), 0);

	/* lib/tls.c loads the pair */
	SSL_CTX *ctx = tls_server_ctx_new(f->cert, f->key, NULL, &err);
	assert_non_null(ctx);
	SSL_CTX_free(ctx);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void test_rsa_and_ipv6(void **state)
{
	struct fixture *f = *state;
	const char *names[] = { "mx.example.test", "::1", NULL };
	char *err = NULL;

	assert_int_equal(tlsgen_self_signed(names, TLSGEN_RSA_2048, 30, f->cert, f->key, &err), 0);
	X509 *cert = read_cert(f->cert);
	EVP_PKEY *key = read_key(f->key);
	assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_RSA);
	assert_int_equal(EVP_PKEY_get_bits(key), 2048);
	expect_common(cert, key, 30);
	assert_int_equal(san_count(cert), 2);
	assert_int_equal(X509_check_ip_asc(cert, "::1", 0), 1);
	assert_int_equal(X509_check_host(cert, "mx.example.test", 0, 0, NULL), 1);
	X509_free(cert);
	EVP_PKEY_free(key);
}

/* Two generations never share a key or a serial. */
static void test_fresh_each_time(void **state)
{
	struct fixture *f = *state;
	const char *names[] = { "a.test", NULL };
	char *err = NULL;

	assert_int_equal(tlsgen_self_signed(names, TLSGEN_EC_P256, 1, f->cert, f->key, &err), 0);
	X509 *one = read_cert(f->cert);
	assert_int_equal(tlsgen_self_signed(names, TLSGEN_EC_P256, 1, f->cert, f->key, &err), 0);
	X509 *two = read_cert(f->cert);
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(one),
					      X509_get0_serialNumber(two)), 0);
	assert_int_not_equal(EVP_PKEY_eq(X509_get0_pubkey(one), X509_get0_pubkey(two)), 1);
	X509_free(one);
	X509_free(two);
}

/* A host name longer than a CN may be goes into the SAN only. */
static void test_long_name(void **state)
{
	struct fixture *f = *state;
	char host[120];
	char *err = NULL;

	memset(host, 'a', 100);
	strcpy(host + 100, ".example.test");
	const char *names[] = { host, NULL };
	assert_int_equal(tlsgen_self_signed(names, TLSGEN_EC_P256, 10, f->cert, f->key, &err), 0);
	X509 *cert = read_cert(f->cert);
	assert_int_equal(X509_check_host(cert, host, 0, 0, NULL), 1);
	assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(cert)), 0);
	X509_free(cert);
}

struct error_case {
	const char *names[3];
	int days;
	const char *dir; /* NULL: the fixture's */
	const char *needle;
};

static const struct error_case error_cases[] = {
	{ { NULL }, 10, NULL, "host name" },
	{ { "", NULL }, 10, NULL, "host name" },
	{ { "a.test", NULL }, 0, NULL, "validity" },
	{ { "a.test", NULL }, 10, "/nonexistent/dir", "/nonexistent/dir" },
};

static void test_errors(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *c = &error_cases[i];
		char *cert = xasprintf("%s/c.pem", c->dir ? c->dir : f->dir);
		char *key = xasprintf("%s/k.pem", c->dir ? c->dir : f->dir);
		char *err = NULL;

		assert_int_equal(tlsgen_self_signed(c->names, TLSGEN_EC_P256, c->days, cert, key, &err),
				 -1);
		assert_non_null(err);
		if (strstr(err, c->needle) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, c->needle);
		assert_int_equal(access(cert, F_OK), -1);
		free(err);
		free(cert);
		free(key);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ec_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rsa_and_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fresh_each_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
