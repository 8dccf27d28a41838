/* tlsgen.c: makes a key pair and a self-signed leaf certificate for a
 * server (mailctl init, test fixtures). Everything goes through OpenSSL 3's
 * C API: EVP_EC_gen / EVP_RSA_gen for the key, X509_* for the certificate,
 * with the subjectAltName built as GENERAL_NAMES rather than from a config
 * string, so no host name is ever parsed as OpenSSL config syntax. The PEM
 * text is made in memory and written with fs_write_atomic, the key 0600. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fsutil.h"
#include "mem.h"
#include "tls.h"
#include "tlsgen.h"

/* RFC 5280 ub-common-name: a longer host name goes in the SAN only. */
#define TLSGEN_CN_MAX 64

/* tlsgen_err: *err_r = "what: <OpenSSL errors>", returns -1. */
static int tlsgen_err(char **err_r, const char *what)
{
	char *errs = tls_errors();

	*err_r = xasprintf("%s: %s", what, errs);
	free(errs);
	return -1;
}

static EVP_PKEY *tlsgen_make_key(enum tlsgen_key_type type)
{
	if (type == TLSGEN_RSA_2048)
		return EVP_RSA_gen(2048);
	return EVP_EC_gen("P-256");
}

/* tlsgen_is_ip: an IPv4 or IPv6 literal goes into the SAN as an address. */
static bool tlsgen_is_ip(const char *name)
{
	unsigned char addr[16];

	return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

/* tlsgen_general_name: one SAN entry, or NULL. */
static GENERAL_NAME *tlsgen_general_name(const char *name)
{
	GENERAL_NAME *gen;

	if (tlsgen_is_ip(name)) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(name);
		if (ip == NULL)
			return NULL;
		gen = GENERAL_NAME_new();
		if (gen != NULL)
			GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
		else
			ASN1_OCTET_STRING_free(ip);
		return gen;
	}
	ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
	if (dns == NULL || ASN1_STRING_set(dns, name, (int)strlen(name)) != 1) {
		ASN1_IA5STRING_free(dns);
		return NULL;
	}
	gen = GENERAL_NAME_new();
	if (gen != NULL)
		GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
	else
		ASN1_IA5STRING_free(dns);
	return gen;
}

static int tlsgen_add_sans(X509 *cert, const char *const *names)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	int ok = gens != NULL;

	for (size_t i = 0; ok && names[i] != NULL; i++) {
		GENERAL_NAME *gen = tlsgen_general_name(names[i]);
		ok = gen != NULL && sk_GENERAL_NAME_push(gens, gen) > 0;
		if (!ok)
			GENERAL_NAME_free(gen);
	}
	ok = ok && X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, 0, 0) == 1;
	GENERAL_NAMES_free(gens);
	return ok ? 0 : -1;
}

/* tlsgen_add_ext: one extension from OpenSSL's value syntax (fixed texts
 * only, never peer or admin input). */
static int tlsgen_add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX ctx;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	int ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static int tlsgen_add_exts(X509 *cert, enum tlsgen_key_type type, const char *const *names)
{
	const char *usage = type == TLSGEN_RSA_2048 ? "critical,digitalSignature,keyEncipherment"
						    : "critical,digitalSignature";

	if (tlsgen_add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    tlsgen_add_ext(cert, NID_key_usage, usage) < 0 ||
	    tlsgen_add_ext(cert, NID_ext_key_usage, "serverAuth") < 0 ||
	    tlsgen_add_ext(cert, NID_subject_key_identifier, "hash") < 0 ||
	    tlsgen_add_ext(cert, NID_authority_key_identifier, "keyid:always") < 0)
		return -1;
	return tlsgen_add_sans(cert, names);
}

/* tlsgen_set_serial: 127 random bits, positive (RFC 5280 4.1.2.2). */
static int tlsgen_set_serial(X509 *cert)
{
	unsigned char raw[16];
	BIGNUM *bn = NULL;
	int ok = RAND_bytes(raw, sizeof(raw)) == 1;

	raw[0] &= 0x7f;
	raw[0] |= 0x01; /* never a short or zero serial */
	if (ok)
		bn = BN_bin2bn(raw, sizeof(raw), NULL);
	ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

static int tlsgen_set_names(X509 *cert, const char *cn)
{
	X509_NAME *name = X509_get_subject_name(cert);

	if (strlen(cn) <= TLSGEN_CN_MAX &&
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
				       -1, 0) != 1)
		return -1;
	return X509_set_issuer_name(cert, name) == 1 ? 0 : -1;
}

/* tlsgen_make_cert: the signed certificate for pkey, or NULL. */
static X509 *tlsgen_make_cert(EVP_PKEY *pkey, enum tlsgen_key_type type,
			      const char *const *names, int days)
{
	X509 *cert = X509_new();
	int ok = cert != NULL && X509_set_version(cert, X509_VERSION_3) == 1 &&
		 tlsgen_set_serial(cert) == 0 &&
		 X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != NULL &&
		 X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL) != NULL &&
		 X509_set_pubkey(cert, pkey) == 1 && tlsgen_set_names(cert, names[0]) == 0 &&
		 tlsgen_add_exts(cert, type, names) == 0 &&
		 X509_sign(cert, pkey, EVP_sha256()) > 0;

	if (!ok) {
		X509_free(cert);
		return NULL;
	}
	return cert;
}

/* tlsgen_write_pem: the PEM text of the key or the certificate to path. */
static int tlsgen_write_pem(const char *path, EVP_PKEY *pkey, X509 *cert, char **err_r)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	int rc = -1;

	if (bio == NULL)
		return tlsgen_err(err_r, "cannot allocate a memory BIO");
	int ok = pkey != NULL ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)
			      : PEM_write_bio_X509(bio, cert);
	long len = BIO_get_mem_data(bio, &data);
	if (ok != 1 || len <= 0) {
		char *what = xasprintf("cannot encode %s", path);
		tlsgen_err(err_r, what);
		free(what);
	} else {
		rc = fs_write_atomic(path, data, (size_t)len, pkey != NULL ? 0600 : 0644, err_r);
	}
	if (data != NULL && len > 0)
		OPENSSL_cleanse(data, (size_t)len);
	BIO_free(bio);
	return rc;
}

int tlsgen_self_signed(const char *const *names, enum tlsgen_key_type type, int days,
		       const char *cert_path, const char *key_path, char **err_r)
{
	*err_r = NULL;
	if (names == NULL || names[0] == NULL || names[0][0] == '\0' || days <= 0) {
		*err_r = xstrdup("tlsgen: need a host name and a positive validity");
		return -1;
	}
	ERR_clear_error();
	EVP_PKEY *pkey = tlsgen_make_key(type);
	if (pkey == NULL)
		return tlsgen_err(err_r, "cannot generate a key");
	X509 *cert = tlsgen_make_cert(pkey, type, names, days);
	int rc = -1;
	if (cert == NULL) {
		char *what = xasprintf("cannot make a certificate for %s", names[0]);
		tlsgen_err(err_r, what);
		free(what);
	} else if (tlsgen_write_pem(key_path, pkey, NULL, err_r) == 0 &&
		   tlsgen_write_pem(cert_path, NULL, cert, err_r) == 0) {
		rc = 0;
	}
	X509_free(cert);
	EVP_PKEY_free(pkey);
	return rc;
}
