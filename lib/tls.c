/* tls.c: OpenSSL 3 contexts for servers (smtpd, pop3d, imapd) and clients
 * (smtp). Owns the policy: protocol floor, cipher list, no renegotiation,
 * no compression, and the checks that make a bad certificate setup fail at
 * startup with a message naming the file. It does no I/O on connections;
 * handshakes and records are strm.c's job. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "buf.h"
#include "mem.h"
#include "tls.h"

/* TLS 1.2 suites only; TLS 1.3 suites are OpenSSL's defaults, which are all
 * strong. Mail servers talk to many old peers, so this is "HIGH" rather
 * than a short modern list. */
#define TLS_CIPHER_LIST "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:!DES"

/* Options for both sides. Peers that drop the TCP connection without
 * close_notify are common in mail; the line protocols mark their own end
 * (QUIT, "."), so a truncated stream is seen there and we take such an EOF
 * as an ordinary EOF rather than a TLS error. */
#define TLS_COMMON_OPTIONS \
	(SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF)

char *tls_errors(void)
{
	buf *b = buf_new(128);
	unsigned long code;
	char one[256];

	while ((code = ERR_get_error()) != 0) {
		ERR_error_string_n(code, one, sizeof(one));
		if (buf_len(b) > 0)
			buf_puts(b, "; ");
		buf_puts(b, one);
	}
	if (buf_len(b) == 0)
		buf_puts(b, "no OpenSSL error reported");
	char *text = buf_steal(b);
	buf_free(&b);
	return text;
}

/* tls_fail: sets *err_r to "what: <OpenSSL errors>" and returns NULL. */
static SSL_CTX *tls_fail(SSL_CTX *ctx, char **err_r, const char *what)
{
	char *errs = tls_errors();

	*err_r = xasprintf("%s: %s", what, errs);
	free(errs);
	SSL_CTX_free(ctx);
	return NULL;
}

/* tls_proto_version: "TLSv1.2" / "TLSv1.3" (NULL = TLSv1.2) or -1. */
static int tls_proto_version(const char *name)
{
	if (name == NULL || strcmp(name, "TLSv1.2") == 0)
		return TLS1_2_VERSION;
	if (strcmp(name, "TLSv1.3") == 0)
		return TLS1_3_VERSION;
	return -1;
}

/* tls_check_readable: a plain open(2) first, so a missing or unreadable
 * file gets the errno text instead of OpenSSL's generic BIO errors. */
static int tls_check_readable(const char *kind, const char *path, char **err_r)
{
	FILE *fp = fopen(path, "r");

	if (fp == NULL) {
		*err_r = xasprintf("cannot read %s %s: %s", kind, path, strerror(errno));
		return -1;
	}
	fclose(fp);
	return 0;
}

/* tls_read_key: the first private key in path (other PEM blocks, such as
 * the certificate when both share one file, are skipped). */
static EVP_PKEY *tls_read_key(const char *path, char **err_r)
{
	BIO *bio = BIO_new_file(path, "r");
	EVP_PKEY *pkey = NULL;

	if (bio != NULL)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pkey == NULL) {
		char *errs = tls_errors();
		*err_r = xasprintf("cannot read private key %s: %s", path, errs);
		free(errs);
	}
	return pkey;
}

/* tls_load_pair: certificate chain, then the key, checked against it. */
static int tls_load_pair(SSL_CTX *ctx, const char *cert_file, const char *key_file,
			 char **err_r)
{
	if (tls_check_readable("certificate", cert_file, err_r) < 0 ||
	    tls_check_readable("private key", key_file, err_r) < 0)
		return -1;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		char *errs = tls_errors();
		*err_r = xasprintf("cannot read certificate %s: %s", cert_file, errs);
		free(errs);
		return -1;
	}
	EVP_PKEY *pkey = tls_read_key(key_file, err_r);
	if (pkey == NULL)
		return -1;
	X509 *cert = SSL_CTX_get0_certificate(ctx);
	int ok = cert != NULL && X509_check_private_key(cert, pkey) == 1 &&
		 SSL_CTX_use_PrivateKey(ctx, pkey) == 1 &&
		 SSL_CTX_check_private_key(ctx) == 1;
	EVP_PKEY_free(pkey);
	if (!ok) {
		ERR_clear_error();
		*err_r = xasprintf("certificate %s does not match private key %s",
				   cert_file, key_file);
		return -1;
	}
	return 0;
}

SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file,
			    const char *min_proto, char **err_r)
{
	int version = tls_proto_version(min_proto);

	*err_r = NULL;
	if (version < 0) {
		*err_r = xasprintf("unknown TLS protocol version \"%s\" (use TLSv1.2 or TLSv1.3)",
				   min_proto);
		return NULL;
	}
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		return tls_fail(NULL, err_r, "cannot create TLS server context");
	if (SSL_CTX_set_min_proto_version(ctx, version) != 1)
		return tls_fail(ctx, err_r, "cannot set TLS protocol floor");
	SSL_CTX_set_options(ctx, TLS_COMMON_OPTIONS | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_set_cipher_list(ctx, TLS_CIPHER_LIST) != 1)
		return tls_fail(ctx, err_r, "cannot set TLS cipher list");
	if (tls_load_pair(ctx, cert_file, key_file, err_r) < 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* tls_client_ctx_new: the protocol floor is left to the system OpenSSL
 * configuration, because opportunistic TLS to an old MX is still better
 * than plaintext. With verify set, strm_start_tls also checks the peer's
 * name against the SNI name. */
SSL_CTX *tls_client_ctx_new(const char *ca_file, int verify, char **err_r)
{
	*err_r = NULL;
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		return tls_fail(NULL, err_r, "cannot create TLS client context");
	SSL_CTX_set_options(ctx, TLS_COMMON_OPTIONS);
	if (SSL_CTX_set_cipher_list(ctx, TLS_CIPHER_LIST) != 1)
		return tls_fail(ctx, err_r, "cannot set TLS cipher list");
	if (ca_file != NULL) {
		if (tls_check_readable("CA file", ca_file, err_r) < 0) {
			SSL_CTX_free(ctx);
			return NULL;
		}
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			char *what = xasprintf("cannot read CA file %s", ca_file);
			tls_fail(ctx, err_r, what);
			free(what);
			return NULL;
		}
	} else if (verify && SSL_CTX_set_default_verify_paths(ctx) != 1) {
		return tls_fail(ctx, err_r, "cannot load the system CA certificates");
	}
	SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	return ctx;
}
