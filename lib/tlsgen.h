/* tlsgen.h: self-signed server certificates, made with OpenSSL's C API.
 * mailctl init uses it so a new instance speaks TLS at once, and the tests
 * of every TLS server (smtpd, pop3d, imapd, lib/tls.c) use it to make their
 * fixtures. It writes PEM files; loading them is tls.h's job. */
#ifndef POSTERN_TLSGEN_H
#define POSTERN_TLSGEN_H

#include <stdbool.h>

enum tlsgen_key_type {
	TLSGEN_EC_P256, /* ECDSA on prime256v1: cheap handshakes, the default */
	TLSGEN_RSA_2048, /* for old clients without ECDSA */
};

/* tlsgen_self_signed: a new key of the given type and a self-signed X.509v3
 * certificate (SHA-256, random serial, valid from one hour ago for days
 * days) whose subject CN is names[0] and whose subjectAltName lists every
 * name in names (NULL-terminated, at least one): an IPv4 or IPv6 literal
 * becomes an IP entry, anything else a DNS entry. The certificate is a
 * leaf (CA:FALSE, serverAuth) so mail clients accept it once trusted.
 * Writes cert_path (mode 0644) and key_path (mode 0600, unencrypted PKCS#8)
 * atomically. Returns 0, or -1 with *err_r (heap). */
int tlsgen_self_signed(const char *const *names, enum tlsgen_key_type type, int days,
		       const char *cert_path, const char *key_path, char **err_r);

#endif
