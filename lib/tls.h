/* tls.h: OpenSSL contexts for servers and clients. Loading certificates,
 * keys and chains, protocol floor and cipher lists live here; the streams
 * (strm.h) take an SSL_CTX and do the handshakes. */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H

#include <openssl/ssl.h>

/* tls_server_ctx_new: cert_file holds the certificate followed by its chain,
 * key_file the private key (may be the same file). min_proto "TLSv1.2" or
 * "TLSv1.3" (NULL = TLSv1.2). Returns NULL with *err_r set (missing file,
 * key not matching the certificate, ...). */
SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file,
			    const char *min_proto, char **err_r);
/* tls_client_ctx_new: verify = 0 accepts any certificate (opportunistic). */
SSL_CTX *tls_client_ctx_new(const char *ca_file, int verify, char **err_r);
/* tls_errors: the OpenSSL error queue as one heap string, queue cleared. */
char *tls_errors(void);

#endif
