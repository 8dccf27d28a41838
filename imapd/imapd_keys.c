/* imapd_keys.c: the main.cf keys only imapd reads: its sessions, limits,
 * logins and TLS. Most default to the smtpd_* key of the same meaning, so
 * one certificate and one set of login limits serve every server unless
 * set apart. Data only; compiled into libpostern so every program knows
 * these keys (see cfg_key_tables). Every key has a section in
 * docs/config.md. */
#include "cfg.h"

const struct cfg_key imapd_cfg_keys[] = {
	/* Sessions and limits */
	{ "imapd_service", CFG_STR, "imap", 1, 0,
	  "role of an imapd service: imap (STARTTLS offered) or imaps (TLS from the first byte)" },
	{ "imapd_timeout", CFG_TIME, "30m", 1800, 86400,
	  "autologout: how long imapd waits for a logged-in client (RFC 3501: at least 30 minutes)" },
	{ "imapd_login_timeout", CFG_TIME, "60s", 1, 3600,
	  "how long imapd waits for a client that has not logged in yet" },
	{ "imapd_error_limit", CFG_INT, "10", 1, 1000,
	  "BAD replies in one session after which imapd disconnects (from half of it each waits 1s)" },
	{ "imapd_process_session_limit", CFG_INT, "10000", 1, 100000,
	  "most simultaneous sessions one imapd process serves" },
	{ "imapd_busy_poll", CFG_INT, "50", 0, 1000,
	  "microseconds imapd polls for the next command before it sleeps; 0 = never" },
	{ "imapd_max_line_length", CFG_SIZE, "64k", 1024, 16777216,
	  "longest IMAP command line imapd reads, literals not counted" },
	{ "imapd_literal_plus", CFG_BOOL, "yes", CFG_NO_BOUNDS,
	  "after login announce LITERAL+ (any {n+} literal); no: LITERAL-, {n+} up to 4096 bytes" },

	/* Logins */
	{ "imapd_tls_auth_only", CFG_BOOL, "yes", CFG_NO_BOUNDS,
	  "accept LOGIN and cleartext SASL mechanisms only over TLS (else LOGINDISABLED)" },
	{ "imapd_auth_cram_md5", CFG_BOOL, "$smtpd_auth_cram_md5", CFG_NO_BOUNDS,
	  "offer AUTH=CRAM-MD5, for users whose password entry has a CRAM-MD5 secret" },
	{ "imapd_auth_failure_delay", CFG_TIME, "$smtpd_auth_failure_delay", 0, 60,
	  "delay of the reply to a client's first failed login; it doubles with each further failure" },
	{ "imapd_auth_failure_limit", CFG_INT, "$smtpd_auth_failure_limit", 1, 100000,
	  "failed logins from one client address within the window before it is cut off" },
	{ "imapd_auth_failure_window", CFG_TIME, "$smtpd_auth_failure_window", 1, 86400,
	  "how long failed logins of a client address are remembered" },

	/* TLS */
	{ "imapd_tls_cert_file", CFG_STR, "$smtpd_tls_cert_file", CFG_NO_BOUNDS,
	  "PEM file with imapd's certificate and chain; empty means no TLS" },
	{ "imapd_tls_key_file", CFG_STR, "$smtpd_tls_key_file", CFG_NO_BOUNDS,
	  "PEM file with the private key of imapd_tls_cert_file" },
	{ "imapd_tls_rsa_cert_file", CFG_STR, "$smtpd_tls_rsa_cert_file", CFG_NO_BOUNDS,
	  "optional second certificate of another key type (RSA) for old clients" },
	{ "imapd_tls_rsa_key_file", CFG_STR, "$smtpd_tls_rsa_key_file", CFG_NO_BOUNDS,
	  "PEM file with the private key of imapd_tls_rsa_cert_file" },
	{ "imapd_tls_sni_maps", CFG_LIST, "$smtpd_tls_sni_maps", CFG_NO_BOUNDS,
	  "maps of a host name a client asks for (SNI) to its certificate and key files" },
	{ "imapd_tls_protocols", CFG_STR, "$smtpd_tls_protocols", 1, 0,
	  "TLS versions imapd accepts: >=V, <=V, !V or a list of versions" },
	{ "imapd_tls_ciphers", CFG_STR, "$smtpd_tls_ciphers", 1, 0,
	  "OpenSSL cipher list for TLS 1.2 and older" },
	{ "imapd_tls_ciphersuites", CFG_STR, "$smtpd_tls_ciphersuites", CFG_NO_BOUNDS,
	  "TLS 1.3 cipher suites; empty means OpenSSL's defaults" },
	{ "imapd_tls_session_cache_timeout", CFG_TIME, "$smtpd_tls_session_cache_timeout", 0, 3600,
	  "how long an IMAP client may resume a TLS session with a ticket; 0 turns tickets off" },
	{ "imapd_tls_handshake_timeout", CFG_TIME, "$smtpd_tls_handshake_timeout", 1, 3600,
	  "longest a TLS handshake (STARTTLS or port 993) may take" },

	{ NULL, CFG_STR, NULL, 0, 0, NULL },
};
