/* tls.h: OpenSSL contexts for servers and clients. Loading certificates,
 * keys and chains, protocol floor and cipher lists live here; the streams
 * (strm.h) take an SSL_CTX and do the handshakes. */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H

#include <stdbool.h>
#include <openssl/ssl.h>

/* tls_server_ctx_new: cert_file holds the certificate followed by its chain,
 * key_file the private key (may be the same file). min_proto "TLSv1.2" or
 * "TLSv1.3" (NULL = TLSv1.2). Returns NULL with *err_r set (missing file,
 * key not matching the certificate, ...). */
SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file,
			    const char *min_proto, char **err_r);
/* tls_client_ctx_new: verify = 0 accepts any certificate (opportunistic). */
SSL_CTX *tls_client_ctx_new(const char *ca_file, int verify, char **err_r);
/* tls_client_ctx_from: a client context for lib/smtpc and its TLS
 * security levels: CA file and directory (both NULL or "": the system's),
 * an optional client certificate (key_file NULL = cert_file). It does not
 * verify on its own: smtpc asks for verification per connection. NULL
 * with *err_r (heap) when a file does not load. */
struct tls_client_conf {
	const char *ca_file, *ca_dir, *cert_file, *key_file;
};
SSL_CTX *tls_client_ctx_from(const struct tls_client_conf *conf, char **err_r);
/* tls_errors: the OpenSSL error queue as one heap string, queue cleared. */
char *tls_errors(void);

/* ---- server setup with SNI (additions for issue 4) ----
 * A tls_server is the TLS setup of one server program: a default SSL_CTX
 * holding the main certificate (ECDSA P-256 as mailctl init makes it) and
 * optionally a second one of another key type (RSA, for old clients; one
 * SSL_CTX keeps one certificate per key type and picks by the client's
 * signature algorithms), plus SNI maps "hostname -> files" whose
 * certificates are chosen in the servername callback of the handshake.
 *
 * SNI map values: "CERT [KEY [CERT2 KEY2]]" (absolute paths separated by
 * white space or commas; KEY defaults to CERT, for a file holding both).
 * Lookups try the name the client sent (lower-cased, trailing dot dropped),
 * then ".parent" for each parent domain ("mail.example.com", then
 * ".example.com", then ".com"), like Postfix's tls_server_sni_maps. A name
 * found nowhere, a map that cannot answer now, or an entry whose files do
 * not load gets the default certificate (the last two with a log_warn).
 * The certificate of an entry is loaded on first use and kept (by the map
 * value, so names sharing a certificate share one SSL_CTX) until the
 * tls_server goes: renewed files are seen after a reload.
 *
 * Reload: build a new tls_server, hand its ctx to new connections, and
 * tls_server_free the old one. Open connections hold references to their
 * SSL_CTX (OpenSSL counts them) and the old setup, SNI maps and cache
 * included, is freed with the last of them. */
typedef struct tls_server tls_server;

struct cfg;

/* What a tls_server is made of. Empty strings count as NULL. */
struct tls_server_conf {
	const char *cert_file, *key_file; /* required; key_file NULL = cert_file */
	const char *cert2_file, *key2_file; /* optional second pair, another key type */
	const char *sni_maps; /* map names separated by commas/space, or NULL */
	const char *protocols; /* Postfix syntax, see tls_parse_protocols; NULL = >=TLSv1.2 */
	const char *ciphers; /* OpenSSL cipher list for TLS <= 1.2; NULL = built-in */
	const char *ciphersuites; /* TLS 1.3 suites; NULL = OpenSSL's defaults */
	const char *key_prefix; /* "smtpd": errors name "smtpd_tls_cert_file" etc. */
	bool reject_expired; /* an expired (or not yet valid) certificate is an
				error, not a log_warn (mailctl check) */
	unsigned session_lifetime; /* seconds a session ticket resumes (at most
				      TLSTIX_EPOCH_SECONDS); 0 = no tickets */
};

/* tls_server_new: loads and checks everything (files, key matching its
 * certificate, the second pair being of another key type, protocol range,
 * cipher lists, maps opening). Returns NULL with *err_r (heap), which
 * starts with the main.cf key name when key_prefix is set and names the
 * file, e.g. "smtpd_tls_key_file: certificate /a does not match private
 * key /b". SNI map entries are not loaded here (see tls_server_check_sni). */
tls_server *tls_server_new(const struct tls_server_conf *conf, char **err_r);
/* tls_server_from_cfg: the conf from main.cf keys <prefix>_tls_cert_file,
 * _key_file, _rsa_cert_file, _rsa_key_file, _sni_maps, _protocols,
 * _ciphers, _ciphersuites, _session_cache_timeout. Returns 0 with *ts_r
 * NULL when no certificate is configured (TLS off), 0 with *ts_r set, or -1
 * with *err_r. */
int tls_server_from_cfg(struct cfg *c, const char *prefix, bool reject_expired,
			tls_server **ts_r, char **err_r);
/* tls_server_reload: for a server's reload (SIGHUP): builds the setup
 * again from the same keys, so renewed certificate files serve new
 * connections, and replaces *ts; open connections keep the context they
 * started with (OpenSSL counts the references). On a failure the old
 * setup stays (logged). Nothing happens when *ts is NULL (TLS off). */
void tls_server_reload(tls_server **ts, struct cfg *c, const char *prefix);

/* tls_server_ctx: the SSL_CTX to give strm_start_tls; owned by ts (take a
 * reference with SSL_CTX_up_ref to keep it beyond tls_server_free). */
SSL_CTX *tls_server_ctx(tls_server *ts);
/* tls_server_free: drops the caller's reference; *ts = NULL. */
void tls_server_free(tls_server **ts);
/* tls_server_check_sni: loads every entry of the text source of each SNI
 * map (hash:/p reads /p, texthash:/p reads /p) the way a handshake would,
 * and calls report for each broken one. Returns the number reported. For
 * mailctl check. */
int tls_server_check_sni(tls_server *ts, void (*report)(void *ctx, const char *msg),
			 void *ctx);

/* tls_parse_protocols: Postfix's smtpd_tls_protocols syntax, words among
 * SSLv2 SSLv3 TLSv1 TLSv1.1 TLSv1.2 TLSv1.3 separated by commas/space:
 * ">=V" and "<=V" bound the range, "!V" excludes one, plain names list the
 * ones allowed. SSLv2/SSLv3 are never enabled. Empty = ">=TLSv1.2". The
 * result must be one contiguous range: *min_r and *max_r are OpenSSL
 * version numbers (TLS1_2_VERSION ...). 0 or -1 with *err_r (heap). */
int tls_parse_protocols(const char *text, int *min_r, int *max_r, char **err_r);

#endif
