/* pop3d_keys.c: the main.cf keys only pop3d reads: its sessions, logins
 * and TLS. Most default to the smtpd_* key of the same meaning, so one
 * certificate and one set of login limits serve both servers unless set
 * apart. Data only; compiled into libpostern so every program knows these
 * keys (see cfg_key_tables). Every key has a section in docs/config.md. */
#include "cfg.h"

const struct cfg_key pop3d_cfg_keys[] = {
	/* Sessions and limits */
	{ "pop3d_service", CFG_STR, "pop3", 1, 0,
	  "role of a pop3d service: pop3 (STLS offered) or pop3s (TLS from the first byte)" },
	{ "pop3d_timeout", CFG_TIME, "600s", 1, 86400,
	  "how long pop3d waits for a client's next command (RFC 1939: at least 10 minutes)" },
	{ "pop3d_per_record_deadline", CFG_BOOL, "yes", CFG_NO_BOUNDS,
	  "pop3d_timeout bounds each whole command line, not each read" },
	{ "pop3d_error_limit", CFG_INT, "10", 1, 1000,
	  "errors in one session after which pop3d disconnects" },
	{ "pop3d_process_session_limit", CFG_INT, "2000", 1, 100000,
	  "most simultaneous sessions one pop3d process serves" },
	{ "pop3d_busy_poll", CFG_INT, "50", 0, 1000,
	  "microseconds pop3d polls for the next command before it sleeps; 0 = never" },

	/* Logins */
	{ "pop3d_tls_auth_only", CFG_BOOL, "yes", CFG_NO_BOUNDS,
	  "accept USER/PASS and cleartext SASL mechanisms only over TLS" },
	{ "pop3d_auth_cram_md5", CFG_BOOL, "$smtpd_auth_cram_md5", CFG_NO_BOUNDS,
	  "offer AUTH CRAM-MD5, for users whose password entry has a CRAM-MD5 secret" },
	{ "pop3d_auth_failure_delay", CFG_TIME, "$smtpd_auth_failure_delay", 0, 60,
	  "delay of the reply to a client's first failed login; it doubles with each further failure" },
	{ "pop3d_auth_failure_limit", CFG_INT, "$smtpd_auth_failure_limit", 1, 100000,
	  "failed logins from one client address within the window before it is cut off" },
	{ "pop3d_auth_failure_window", CFG_TIME, "$smtpd_auth_failure_window", 1, 86400,
	  "how long failed logins of a client address are remembered" },

	/* TLS */
	{ "pop3d_tls_cert_file", CFG_STR, "$smtpd_tls_cert_file", CFG_NO_BOUNDS,
	  "PEM file with pop3d's certificate and chain; empty means no TLS" },
	{ "pop3d_tls_key_file", CFG_STR, "$smtpd_tls_key_file", CFG_NO_BOUNDS,
	  "PEM file with the private key of pop3d_tls_cert_file" },
	{ "pop3d_tls_rsa_cert_file", CFG_STR, "$smtpd_tls_rsa_cert_file", CFG_NO_BOUNDS,
	  "optional second certificate of another key type (RSA) for old clients" },
	{ "pop3d_tls_rsa_key_file", CFG_STR, "$smtpd_tls_rsa_key_file", CFG_NO_BOUNDS,
	  "PEM file with the private key of pop3d_tls_rsa_cert_file" },
	{ "pop3d_tls_sni_maps", CFG_LIST, "$smtpd_tls_sni_maps", CFG_NO_BOUNDS,
	  "maps of a host name a client asks for (SNI) to its certificate and key files" },
	{ "pop3d_tls_protocols", CFG_STR, "$smtpd_tls_protocols", 1, 0,
	  "TLS versions pop3d accepts: >=V, <=V, !V or a list of versions" },
	{ "pop3d_tls_ciphers", CFG_STR, "$smtpd_tls_ciphers", 1, 0,
	  "OpenSSL cipher list for TLS 1.2 and older" },
	{ "pop3d_tls_ciphersuites", CFG_STR, "$smtpd_tls_ciphersuites", CFG_NO_BOUNDS,
	  "TLS 1.3 cipher suites; empty means OpenSSL's defaults" },
	{ "pop3d_tls_session_cache_timeout", CFG_TIME, "$smtpd_tls_session_cache_timeout", 0, 3600,
	  "how long a POP3 client may resume a TLS session with a ticket; 0 turns tickets off" },
	{ "pop3d_tls_handshake_timeout", CFG_TIME, "$smtpd_tls_handshake_timeout", 1, 3600,
	  "longest a TLS handshake (STLS or port 995) may take" },

	{ NULL, CFG_STR, NULL, 0, 0, NULL },
};
