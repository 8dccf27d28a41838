/* tls.c: OpenSSL 3 contexts for servers (smtpd, pop3d, imapd) and clients
 * (smtp). Owns the policy: protocol floor, cipher list, no renegotiation,
 * no compression, and the checks that make a bad certificate setup fail at
 * startup with a message naming the file. It does no I/O on connections;
 * handshakes and records are strm.c's job. The tls_server part adds the
 * setup of a server program: main (and second) certificate, SNI maps with
 * a cache of per-certificate contexts, and reloads that leave open
 * connections alone (see tls.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "buf.h"
#include "cfg.h"
#include "log.h"
#include "map.h"
#include "mapedit.h"
#include "mem.h"
#include "tls.h"
#include "tlstix.h"

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

/* tls_server_lean: drops per-handshake work that buys nothing here.
 * - Sessions resume only with tickets under the keys every process of the
 *   instance shares (tlstix.h), or not at all (lifetime 0): OpenSSL's own
 *   ticket key and session cache are per process, and the kernel spreads
 *   a client's connections over all the processes of a service.
 * - No automatic chain: the chain sent is the certificate file's, as
 *   loaded; OpenSSL would otherwise try, in every handshake, to complete
 *   it from the context's trust store, which a server context never
 *   loads, so the attempt could only come back empty. */
static void tls_server_lean(SSL_CTX *ctx, unsigned session_lifetime, const char *sid_ctx)
{
	tlstix_enable(ctx, session_lifetime, sid_ctx);
	SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
}

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

/* tls_load_pair: certificate chain, then the key, checked against it.
 * *which_r (may be NULL) tells which file is at fault: 0 the certificate,
 * 1 the key (a key that does not match counts as the key's fault). */
static int tls_load_pair_which(SSL_CTX *ctx, const char *cert_file, const char *key_file,
			       int *which_r, char **err_r)
{
	int which_dummy;

	if (which_r == NULL)
		which_r = &which_dummy;
	*which_r = 0;
	if (tls_check_readable("certificate", cert_file, err_r) < 0)
		return -1;
	*which_r = 1;
	if (tls_check_readable("private key", key_file, err_r) < 0)
		return -1;
	*which_r = 0;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		char *errs = tls_errors();
		*err_r = xasprintf("cannot read certificate %s: %s", cert_file, errs);
		free(errs);
		return -1;
	}
	*which_r = 1;
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

static int tls_load_pair(SSL_CTX *ctx, const char *cert_file, const char *key_file,
			 char **err_r)
{
	return tls_load_pair_which(ctx, cert_file, key_file, NULL, err_r);
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
	tls_server_lean(ctx, 0, "");
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

static const char *tls_nonempty(const char *s);

/* tls_client_ctx_from: the CA locations are loaded but the context does
 * not verify by itself (SSL_VERIFY_NONE still computes the verification
 * result): the caller turns verification on per connection, so one
 * context serves every security level. */
SSL_CTX *tls_client_ctx_from(const struct tls_client_conf *conf, char **err_r)
{
	const char *ca_file = tls_nonempty(conf->ca_file), *ca_dir = tls_nonempty(conf->ca_dir);
	const char *cert = tls_nonempty(conf->cert_file), *key = tls_nonempty(conf->key_file);
	SSL_CTX *ctx = tls_client_ctx_new(ca_file, 0, err_r);

	if (ctx == NULL)
		return NULL;
	if (ca_dir != NULL && SSL_CTX_load_verify_locations(ctx, NULL, ca_dir) != 1) {
		char *what = xasprintf("cannot use CA directory %s", ca_dir);

		tls_fail(ctx, err_r, what);
		free(what);
		return NULL;
	}
	if (ca_file == NULL && ca_dir == NULL && SSL_CTX_set_default_verify_paths(ctx) != 1)
		return tls_fail(ctx, err_r, "cannot load the system CA certificates");
	if (cert != NULL && tls_load_pair(ctx, cert, key != NULL ? key : cert, err_r) < 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* ---- protocol ranges ---- */

static const struct tls_proto_name {
	const char *name;
	int version;
} tls_proto_names[] = {
	{ "SSLv2", SSL2_VERSION },     { "SSLv3", SSL3_VERSION },     { "TLSv1", TLS1_VERSION },
	{ "TLSv1.1", TLS1_1_VERSION }, { "TLSv1.2", TLS1_2_VERSION }, { "TLSv1.3", TLS1_3_VERSION },
};
#define TLS_PROTO_COUNT (sizeof(tls_proto_names) / sizeof(tls_proto_names[0]))
#define TLS_PROTO_FIRST_TLS 2 /* SSLv2 and SSLv3 are never enabled */

static int tls_proto_index(const char *name)
{
	for (size_t i = 0; i < TLS_PROTO_COUNT; i++)
		if (strcasecmp(tls_proto_names[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* tls_proto_apply: one word onto the allowed set; -1 for an unknown name. */
static int tls_proto_apply(const char *word, bool allowed[], bool *listed)
{
	int op = 0; /* 0 list, '>' at least, '<' at most, '!' not */

	if (strncmp(word, ">=", 2) == 0 || strncmp(word, "<=", 2) == 0) {
		op = word[0];
		word += 2;
	} else if (word[0] == '!') {
		op = '!';
		word++;
	}
	int idx = tls_proto_index(word);
	if (idx < 0)
		return -1;
	for (int i = 0; i < (int)TLS_PROTO_COUNT; i++) {
		if ((op == '>' && i < idx) || (op == '<' && i > idx) || (op == '!' && i == idx))
			allowed[i] = false;
	}
	if (op == 0) {
		if (!*listed)
			for (size_t i = 0; i < TLS_PROTO_COUNT; i++)
				allowed[i] = false;
		*listed = true;
		allowed[idx] = true;
	}
	return 0;
}

/* tls_proto_range: the allowed set as one range, or -1 if it has a gap or
 * is empty. */
static int tls_proto_range(const bool allowed[], int *min_r, int *max_r)
{
	int lo = -1, hi = -1;

	for (int i = TLS_PROTO_FIRST_TLS; i < (int)TLS_PROTO_COUNT; i++) {
		if (!allowed[i])
			continue;
		if (lo < 0)
			lo = i;
		else if (hi != i - 1)
			return -1;
		hi = i;
	}
	if (lo < 0)
		return -1;
	*min_r = tls_proto_names[lo].version;
	*max_r = tls_proto_names[hi].version;
	return 0;
}

int tls_parse_protocols(const char *text, int *min_r, int *max_r, char **err_r)
{
	bool allowed[TLS_PROTO_COUNT], listed = false;
	char **words = cfg_split_list(text != NULL && *text ? text : ">=TLSv1.2");
	int rc = 0;

	*err_r = NULL;
	for (size_t i = 0; i < TLS_PROTO_COUNT; i++)
		allowed[i] = i >= TLS_PROTO_FIRST_TLS;
	for (size_t i = 0; words[i] != NULL && rc == 0; i++) {
		if (tls_proto_apply(words[i], allowed, &listed) < 0) {
			*err_r = xasprintf("unknown protocol \"%s\" (use SSLv3, TLSv1, TLSv1.1, "
					   "TLSv1.2, TLSv1.3 with >=, <= or !)",
					   words[i]);
			rc = -1;
		}
	}
	if (rc == 0 && tls_proto_range(allowed, min_r, max_r) < 0) {
		*err_r = xasprintf("\"%s\" does not leave one contiguous range of TLS versions",
				   text);
		rc = -1;
	}
	cfg_free_list(&words);
	return rc;
}

/* ---- server setup ---- */

/* Distinct SNI certificates kept loaded; beyond this many, further ones
 * are loaded for each handshake (slow, but correct) and a warning says so. */
#define TLS_SNI_CACHE_MAX 10000
/* Longest SNI name considered (RFC 1035 name, plus a trailing dot). */
#define TLS_SNI_NAME_MAX 254

struct tls_sni_entry {
	char *value; /* the map value, the cache key */
	SSL_CTX *ctx; /* NULL: the entry did not load (warned once) */
};

struct tls_server {
	SSL_CTX *ctx; /* default context; owns this struct (ex_data) */
	int min_version, max_version;
	unsigned session_lifetime; /* seconds a ticket resumes; 0 = no tickets */
	char *ciphers, *ciphersuites, *key_prefix; /* NULL = default / none */
	char **map_names; /* NULL-terminated */
	map **maps; /* one per map name */
	struct tls_sni_entry *cache;
	size_t cache_count, cache_cap;
	bool cache_full_warned;
};

/* The pieces of one certificate setup (default, or one SNI entry). */
struct tls_pairs {
	const char *cert, *key, *cert2, *key2;
};

static const char *tls_nonempty(const char *s)
{
	return s != NULL && *s != '\0' ? s : NULL;
}

/* tls_keyed: prefixes msg with "<prefix>_tls_<what>: " when the setup has a
 * key prefix; takes ownership of msg. */
static char *tls_keyed(const char *prefix, const char *what, char *msg)
{
	if (prefix == NULL)
		return msg;
	char *out = xasprintf("%s_tls_%s: %s", prefix, what, msg);
	free(msg);
	return out;
}

/* tls_time_text: an ASN1_TIME as "2035-01-31 12:00:00 UTC". */
static char *tls_time_text(const ASN1_TIME *t)
{
	struct tm tm;
	char text[64];

	if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC",
						     &tm) == 0)
		return xstrdup("(unreadable date)");
	return xstrdup(text);
}

/* tls_check_dates: NULL, or a heap message saying the certificate is out
 * of its validity period. */
static char *tls_check_dates(X509 *cert, const char *path)
{
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
		char *when = tls_time_text(X509_get0_notAfter(cert));
		char *msg = xasprintf("certificate %s expired on %s", path, when);
		free(when);
		return msg;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
		char *when = tls_time_text(X509_get0_notBefore(cert));
		char *msg = xasprintf("certificate %s is not valid before %s", path, when);
		free(when);
		return msg;
	}
	return NULL;
}

/* tls_cert_key_type: the public key type (EVP_PKEY_EC, ...) of the first
 * certificate in path, or -1. */
static int tls_cert_key_type(const char *path)
{
	BIO *bio = BIO_new_file(path, "r");
	X509 *cert = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	int type = -1;

	if (cert != NULL && X509_get0_pubkey(cert) != NULL)
		type = EVP_PKEY_get_base_id(X509_get0_pubkey(cert));
	X509_free(cert);
	BIO_free(bio);
	ERR_clear_error();
	return type;
}

/* tls_load_one: one certificate/key pair into ctx, then its dates.
 * what_cert / what_key name the keys for messages. */
static int tls_load_one(SSL_CTX *ctx, const char *cert, const char *key, bool reject_expired,
			const char *prefix, const char *what_cert, const char *what_key,
			char **err_r)
{
	int which;
	char *msg = NULL;

	if (tls_load_pair_which(ctx, cert, key, &which, &msg) < 0) {
		*err_r = tls_keyed(prefix, which == 0 ? what_cert : what_key, msg);
		return -1;
	}
	msg = tls_check_dates(SSL_CTX_get0_certificate(ctx), cert);
	if (msg == NULL)
		return 0;
	if (reject_expired) {
		*err_r = tls_keyed(prefix, what_cert, msg);
		return -1;
	}
	log_warn("%s", msg);
	free(msg);
	return 0;
}

/* tls_load_pairs: the main pair and, if given, the second one, which must
 * have another key type: OpenSSL keeps one certificate per key type and a
 * second one of the same type would silently replace the first. */
static int tls_load_pairs(SSL_CTX *ctx, const struct tls_pairs *p, bool reject_expired,
			  const char *prefix, char **err_r)
{
	if (tls_load_one(ctx, p->cert, p->key, reject_expired, prefix, "cert_file", "key_file",
			 err_r) < 0)
		return -1;
	if (p->cert2 == NULL)
		return 0;
	int first = EVP_PKEY_get_base_id(X509_get0_pubkey(SSL_CTX_get0_certificate(ctx)));
	int second = tls_cert_key_type(p->cert2);
	if (second == first) {
		*err_r = tls_keyed(prefix, "rsa_cert_file",
				   xasprintf("certificate %s has the same key type as %s; the "
					     "second certificate must be of another type (RSA)",
					     p->cert2, p->cert));
		return -1;
	}
	return tls_load_one(ctx, p->cert2, p->key2, reject_expired, prefix, "rsa_cert_file",
			    "rsa_key_file", err_r);
}

/* tls_server_base: a server context with the policy of ts, no certificate. */
static SSL_CTX *tls_server_base(const tls_server *ts, char **err_r)
{
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		return tls_fail(NULL, err_r, "cannot create TLS server context");
	if (SSL_CTX_set_min_proto_version(ctx, ts->min_version) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, ts->max_version) != 1) {
		*err_r = tls_keyed(ts->key_prefix, "protocols", tls_errors());
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, TLS_COMMON_OPTIONS | SSL_OP_CIPHER_SERVER_PREFERENCE);
	tls_server_lean(ctx, ts->session_lifetime,
			ts->key_prefix != NULL ? ts->key_prefix : "postern");
	const char *list = ts->ciphers != NULL ? ts->ciphers : TLS_CIPHER_LIST;
	if (SSL_CTX_set_cipher_list(ctx, list) != 1) {
		ERR_clear_error();
		*err_r = tls_keyed(ts->key_prefix, "ciphers",
				   xasprintf("no usable cipher in \"%s\"", list));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (ts->ciphersuites != NULL && SSL_CTX_set_ciphersuites(ctx, ts->ciphersuites) != 1) {
		ERR_clear_error();
		*err_r = tls_keyed(ts->key_prefix, "ciphersuites",
				   xasprintf("no usable TLS 1.3 suite in \"%s\"", ts->ciphersuites));
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* tls_server_ctx_for: a loaded context for the pairs, or NULL (*err_r). */
static SSL_CTX *tls_server_ctx_for(const tls_server *ts, const struct tls_pairs *p,
				   bool reject_expired, const char *prefix, char **err_r)
{
	SSL_CTX *ctx = tls_server_base(ts, err_r);

	if (ctx != NULL && tls_load_pairs(ctx, p, reject_expired, prefix, err_r) < 0) {
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* ---- SNI ---- */

/* tls_sni_parse_value: "CERT [KEY [CERT2 KEY2]]" into p (pointers into
 * words). 0 or -1 with *err_r. */
static int tls_sni_parse_value(char **words, struct tls_pairs *p, char **err_r)
{
	size_t n = 0;

	while (words[n] != NULL)
		n++;
	if (n == 0 || n == 3 || n > 4) {
		*err_r = xstrdup("expected \"CERT [KEY [CERT2 KEY2]]\"");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (words[i][0] != '/') {
			*err_r = xasprintf("%s is not an absolute path", words[i]);
			return -1;
		}
	}
	p->cert = words[0];
	p->key = n >= 2 ? words[1] : words[0];
	p->cert2 = n == 4 ? words[2] : NULL;
	p->key2 = n == 4 ? words[3] : NULL;
	return 0;
}

/* tls_sni_load: a context for one map value, or NULL with *err_r. */
static SSL_CTX *tls_sni_load(const tls_server *ts, const char *value, bool reject_expired,
			     char **err_r)
{
	char **words = cfg_split_list(value);
	struct tls_pairs p;
	SSL_CTX *ctx = NULL;

	if (tls_sni_parse_value(words, &p, err_r) == 0)
		ctx = tls_server_ctx_for(ts, &p, reject_expired, NULL, err_r);
	cfg_free_list(&words);
	return ctx;
}

/* tls_sni_cached: a new reference to the context of a map value (from the
 * cache, or loaded and cached), or NULL when the entry does not load. */
static SSL_CTX *tls_sni_cached(tls_server *ts, const char *value, const char *name)
{
	for (size_t i = 0; i < ts->cache_count; i++) {
		if (strcmp(ts->cache[i].value, value) != 0)
			continue;
		if (ts->cache[i].ctx != NULL)
			SSL_CTX_up_ref(ts->cache[i].ctx);
		return ts->cache[i].ctx;
	}
	char *err = NULL;
	SSL_CTX *ctx = tls_sni_load(ts, value, false, &err);
	if (ctx == NULL) {
		log_warn("TLS SNI name %s: %s; using the default certificate", name, err);
		free(err);
	}
	if (ts->cache_count >= TLS_SNI_CACHE_MAX) {
		if (!ts->cache_full_warned)
			log_warn("TLS SNI: more than %d certificates; the others are loaded "
				 "for each handshake", TLS_SNI_CACHE_MAX);
		ts->cache_full_warned = true;
		return ctx;
	}
	if (ts->cache_count == ts->cache_cap) {
		ts->cache_cap = ts->cache_cap ? 2 * ts->cache_cap : 8;
		ts->cache = xrealloc(ts->cache, ts->cache_cap * sizeof(*ts->cache));
	}
	ts->cache[ts->cache_count].value = xstrdup(value);
	ts->cache[ts->cache_count].ctx = ctx;
	ts->cache_count++;
	if (ctx != NULL)
		SSL_CTX_up_ref(ctx);
	return ctx;
}

/* tls_sni_lookup: the first map that knows key. 1 found (*value_r heap),
 * 0 not found, -1 a map could not answer (warned). */
static int tls_sni_lookup(tls_server *ts, const char *key, char **value_r)
{
	const char *value;

	for (size_t i = 0; ts->maps[i] != NULL; i++) {
		switch (map_lookup(ts->maps[i], key, &value)) {
		case MAP_FOUND: *value_r = xstrdup(value); return 1;
		case MAP_NOTFOUND: break;
		default:
			log_warn("TLS SNI map %s: %s; using the default certificate",
				 map_name(ts->maps[i]), map_error(ts->maps[i]));
			return -1;
		}
	}
	return 0;
}

/* tls_sni_normalize: the client's name lower-cased without a trailing
 * dot, or NULL when it is no plausible host name. */
static char *tls_sni_normalize(const char *sent)
{
	size_t len = strlen(sent);

	if (len > 0 && sent[len - 1] == '.')
		len--;
	if (len == 0 || len > TLS_SNI_NAME_MAX - 1)
		return NULL;
	char *name = xstrndup(sent, len);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		bool ok = isalnum(ch) || ch == '-' || ch == '_' || (ch == '.' && i > 0 && name[i - 1] != '.');
		if (!ok) {
			free(name);
			return NULL;
		}
		name[i] = (char)tolower(ch);
	}
	return name;
}

/* tls_sni_find: a new reference to the context for name, trying the name
 * and then ".parent" suffixes; NULL means the default certificate. */
static SSL_CTX *tls_sni_find(tls_server *ts, const char *name)
{
	char *value = NULL;
	int found = 0;

	for (const char *key = name; key != NULL && found == 0; key = strchr(key + 1, '.'))
		found = tls_sni_lookup(ts, key, &value);
	if (found <= 0)
		return NULL;
	SSL_CTX *ctx = tls_sni_cached(ts, value, name);
	free(value);
	return ctx;
}

/* tls_sni_callback: the servername callback of the default context. It
 * always lets the handshake go on: a name without a certificate of its own
 * gets the default one, as a client without SNI does. */
static int tls_sni_callback(SSL *ssl, int *alert, void *arg)
{
	tls_server *ts = arg;
	const char *sent = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)alert;
	if (sent == NULL || ts->maps == NULL || ts->maps[0] == NULL)
		return SSL_TLSEXT_ERR_OK;
	char *name = tls_sni_normalize(sent);
	if (name == NULL) {
		log_debug("TLS SNI: ignoring malformed name from client");
		return SSL_TLSEXT_ERR_OK;
	}
	SSL_CTX *ctx = tls_sni_find(ts, name);
	if (ctx != NULL && SSL_set_SSL_CTX(ssl, ctx) == NULL)
		log_warn("TLS SNI name %s: cannot switch certificate", name);
	SSL_CTX_free(ctx);
	free(name);
	return SSL_TLSEXT_ERR_OK;
}

/* ---- tls_server lifetime ---- */

static int tls_server_ex_index = -1;

static void tls_server_destroy(tls_server *ts)
{
	for (size_t i = 0; ts->maps != NULL && ts->maps[i] != NULL; i++)
		map_close(&ts->maps[i]);
	free(ts->maps);
	cfg_free_list(&ts->map_names);
	for (size_t i = 0; i < ts->cache_count; i++) {
		free(ts->cache[i].value);
		SSL_CTX_free(ts->cache[i].ctx);
	}
	free(ts->cache);
	free(ts->ciphers);
	free(ts->ciphersuites);
	free(ts->key_prefix);
	free(ts);
}

/* tls_server_ex_free: OpenSSL calls this when the default context's last
 * reference goes (tls_server_free and every connection that used it). */
static void tls_server_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			       void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (ptr != NULL)
		tls_server_destroy(ptr);
}

static int tls_server_attach(tls_server *ts, char **err_r)
{
	if (tls_server_ex_index < 0)
		tls_server_ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
							       tls_server_ex_free);
	if (tls_server_ex_index < 0 || SSL_CTX_set_ex_data(ts->ctx, tls_server_ex_index, ts) != 1) {
		*err_r = xstrdup("cannot attach the TLS setup to its context");
		return -1;
	}
	SSL_CTX_set_tlsext_servername_callback(ts->ctx, tls_sni_callback);
	SSL_CTX_set_tlsext_servername_arg(ts->ctx, ts);
	return 0;
}

static int tls_server_open_maps(tls_server *ts, const char *list, char **err_r)
{
	size_t n = 0;

	ts->map_names = cfg_split_list(list != NULL ? list : "");
	while (ts->map_names[n] != NULL)
		n++;
	ts->maps = xcalloc(n + 1, sizeof(*ts->maps));
	for (size_t i = 0; i < n; i++) {
		char *err = NULL;
		ts->maps[i] = map_open(ts->map_names[i], &err);
		if (ts->maps[i] == NULL) {
			*err_r = tls_keyed(ts->key_prefix, "sni_maps", err);
			return -1;
		}
	}
	return 0;
}

/* tls_server_policy: protocol range and cipher lists from conf. */
static int tls_server_policy(tls_server *ts, const struct tls_server_conf *conf, char **err_r)
{
	char *err = NULL;

	if (tls_parse_protocols(conf->protocols, &ts->min_version, &ts->max_version, &err) < 0) {
		*err_r = tls_keyed(ts->key_prefix, "protocols", err);
		return -1;
	}
	if (tls_nonempty(conf->ciphers) != NULL)
		ts->ciphers = xstrdup(conf->ciphers);
	if (tls_nonempty(conf->ciphersuites) != NULL)
		ts->ciphersuites = xstrdup(conf->ciphersuites);
	return 0;
}

tls_server *tls_server_new(const struct tls_server_conf *conf, char **err_r)
{
	tls_server *ts = xcalloc(1, sizeof(*ts));
	struct tls_pairs p = {
		.cert = tls_nonempty(conf->cert_file),
		.key = tls_nonempty(conf->key_file),
		.cert2 = tls_nonempty(conf->cert2_file),
		.key2 = tls_nonempty(conf->key2_file),
	};

	*err_r = NULL;
	if (tls_nonempty(conf->key_prefix) != NULL)
		ts->key_prefix = xstrdup(conf->key_prefix);
	ts->session_lifetime = conf->session_lifetime;
	if (p.key == NULL)
		p.key = p.cert;
	if (p.key2 == NULL)
		p.key2 = p.cert2;
	if (p.cert == NULL)
		*err_r = tls_keyed(ts->key_prefix, "cert_file", xstrdup("no certificate file given"));
	if (*err_r == NULL && tls_server_policy(ts, conf, err_r) == 0 &&
	    tls_server_open_maps(ts, conf->sni_maps, err_r) == 0)
		ts->ctx = tls_server_ctx_for(ts, &p, conf->reject_expired, ts->key_prefix, err_r);
	if (ts->ctx == NULL || tls_server_attach(ts, err_r) < 0) {
		SSL_CTX *ctx = ts->ctx; /* not attached: ts is freed here */
		tls_server_destroy(ts);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ts;
}

SSL_CTX *tls_server_ctx(tls_server *ts)
{
	return ts->ctx;
}

void tls_server_free(tls_server **ts)
{
	if (*ts == NULL)
		return;
	SSL_CTX_free((*ts)->ctx); /* the last reference frees the rest */
	*ts = NULL;
}

/* tls_cfg_file: <prefix>_tls_<what> if set; relative paths are refused
 * because services run with another working directory. */
static int tls_cfg_file(cfg *c, const char *prefix, const char *what, const char **path_r,
			char **err_r)
{
	char *name = xasprintf("%s_tls_%s", prefix, what);
	const char *value = cfg_get(c, name);

	*path_r = tls_nonempty(value);
	free(name);
	if (*path_r != NULL && (*path_r)[0] != '/') {
		*err_r = tls_keyed(prefix, what, xasprintf("%s is not an absolute path", *path_r));
		return -1;
	}
	return 0;
}

static const char *tls_cfg_get(cfg *c, const char *prefix, const char *what)
{
	char *name = xasprintf("%s_tls_%s", prefix, what);
	const char *value = cfg_get(c, name);

	free(name);
	return value;
}

static long long tls_cfg_get_int(cfg *c, const char *prefix, const char *what)
{
	char *name = xasprintf("%s_tls_%s", prefix, what);
	long long value = cfg_get_int(c, name);

	free(name);
	return value;
}

int tls_server_from_cfg(struct cfg *c, const char *prefix, bool reject_expired,
			tls_server **ts_r, char **err_r)
{
	struct tls_server_conf conf = { .key_prefix = prefix, .reject_expired = reject_expired };

	*ts_r = NULL;
	*err_r = NULL;
	if (tls_cfg_file(c, prefix, "cert_file", &conf.cert_file, err_r) < 0 ||
	    tls_cfg_file(c, prefix, "key_file", &conf.key_file, err_r) < 0 ||
	    tls_cfg_file(c, prefix, "rsa_cert_file", &conf.cert2_file, err_r) < 0 ||
	    tls_cfg_file(c, prefix, "rsa_key_file", &conf.key2_file, err_r) < 0)
		return -1;
	if (conf.cert_file == NULL) {
		if (conf.key_file == NULL && conf.cert2_file == NULL)
			return 0;
		*err_r = tls_keyed(prefix, "cert_file",
				   xasprintf("not set, but %s_tls_%s is", prefix,
					     conf.key_file != NULL ? "key_file" : "rsa_cert_file"));
		return -1;
	}
	conf.sni_maps = tls_cfg_get(c, prefix, "sni_maps");
	conf.protocols = tls_cfg_get(c, prefix, "protocols");
	conf.ciphers = tls_cfg_get(c, prefix, "ciphers");
	conf.ciphersuites = tls_cfg_get(c, prefix, "ciphersuites");
	conf.session_lifetime = (unsigned)tls_cfg_get_int(c, prefix, "session_cache_timeout");
	*ts_r = tls_server_new(&conf, err_r);
	return *ts_r != NULL ? 0 : -1;
}

/* ---- checking SNI maps (mailctl check) ---- */

struct tls_sni_check {
	tls_server *ts;
	const char *map_name;
	void (*report)(void *ctx, const char *msg);
	void *report_ctx;
	int errors;
};

static void tls_sni_check_entry(void *ctx, const char *key, const char *value)
{
	struct tls_sni_check *chk = ctx;
	char *err = NULL;
	SSL_CTX *ssl_ctx = tls_sni_load(chk->ts, value, true, &err);

	if (ssl_ctx != NULL) {
		SSL_CTX_free(ssl_ctx);
		return;
	}
	char *msg = tls_keyed(chk->ts->key_prefix, "sni_maps",
			      xasprintf("%s: %s: %s", chk->map_name, key, err));
	chk->report(chk->report_ctx, msg);
	chk->errors++;
	free(msg);
	free(err);
}

/* tls_map_source: the text file behind a map name ("hash:/p" -> "/p"). */
static const char *tls_map_source(const char *name)
{
	const char *colon = strchr(name, ':');

	return colon != NULL && colon[1] == '/' ? colon + 1 : name;
}

int tls_server_check_sni(tls_server *ts, void (*report)(void *ctx, const char *msg), void *ctx)
{
	struct tls_sni_check chk = { .ts = ts, .report = report, .report_ctx = ctx };

	for (size_t i = 0; ts->map_names[i] != NULL; i++) {
		char *err = NULL;
		chk.map_name = ts->map_names[i];
		if (mapedit_list(tls_map_source(ts->map_names[i]), tls_sni_check_entry, &chk,
				 &err) < 0) {
			char *msg = tls_keyed(ts->key_prefix, "sni_maps", err);
			report(ctx, msg);
			free(msg);
			chk.errors++;
		}
	}
	return chk.errors;
}

void tls_server_reload(tls_server **ts, struct cfg *c, const char *prefix)
{
	tls_server *fresh = NULL;
	char *err = NULL;

	if (*ts == NULL)
		return;
	if (tls_server_from_cfg(c, prefix, false, &fresh, &err) < 0 || fresh == NULL) {
		log_warn("reload: keeping the old TLS certificates: %s", err ? err : "none set");
		free(err);
		return;
	}
	tls_server_free(ts);
	*ts = fresh;
	log_info("reload: TLS certificates loaded again");
}
