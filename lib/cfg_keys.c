/* cfg_keys.c: the table of every main.cf key: name, type, default, bounds
 * and a one-line description. docs/config.md documents each key at length
 * (tests/unit/test_cfg.c fails when a key is missing there).
 * To add a key: add one line in its topic below and a section in
 * docs/config.md. Bounds: min/max for CFG_INT, CFG_TIME (seconds) and
 * CFG_SIZE (bytes); min = max = 0 means "no bounds". For CFG_STR, min is
 * the minimum length (1 = must not be empty). This file has no code beyond
 * the lookup. */
#include "cfg.h"

#include <limits.h>
#include <string.h>

#ifndef POSTERN_CONFIG_DIR
#define POSTERN_CONFIG_DIR "/usr/local/etc/postern"
#endif
#ifndef POSTERN_DAEMON_DIR
#define POSTERN_DAEMON_DIR "/usr/local/libexec/postern"
#endif
#ifndef POSTERN_QUEUE_DIR
#define POSTERN_QUEUE_DIR "/usr/local/var/spool/postern"
#endif

#define NO_BOUNDS 0, 0

const struct cfg_key cfg_keys[] = {
	/* Files and directories */
	{ "config_directory", CFG_PATH, POSTERN_CONFIG_DIR, NO_BOUNDS,
	  "directory holding main.cf and master.cf" },
	{ "queue_directory", CFG_PATH, POSTERN_QUEUE_DIR, NO_BOUNDS,
	  "root of the mail queue and of the private/ and public/ sockets" },
	{ "daemon_directory", CFG_PATH, POSTERN_DAEMON_DIR, NO_BOUNDS,
	  "directory holding the service programs that master starts" },

	/* Identity */
	{ "mail_owner", CFG_STR, "postern", 1, 0,
	  "unprivileged user that owns the queue and runs every service" },
	{ "mail_name", CFG_STR, "Postern", 1, 0,
	  "name of the mail system in the SMTP banner and in Received: headers" },
	{ "myhostname", CFG_STR, "", NO_BOUNDS,
	  "fully qualified name of this host; empty means the name from gethostname()" },
	{ "mydomain", CFG_STR, "", NO_BOUNDS,
	  "domain of this host; empty means $myhostname without its first label" },
	{ "myorigin", CFG_STR, "$myhostname", NO_BOUNDS,
	  "domain added to unqualified addresses in mail posted on this host" },
	{ "smtpd_banner", CFG_STR, "$myhostname ESMTP $mail_name", NO_BOUNDS,
	  "text after the 220 code in the SMTP greeting" },

	/* Networks and domains */
	{ "mydestination", CFG_LIST, "$myhostname, localhost.$mydomain, localhost", NO_BOUNDS,
	  "domains delivered locally on this host" },
	{ "mynetworks", CFG_LIST, "127.0.0.0/8 [::1]/128", NO_BOUNDS,
	  "client networks trusted to relay through this host" },
	{ "inet_interfaces", CFG_LIST, "all", NO_BOUNDS,
	  "local addresses inet services listen on: all, loopback-only or addresses" },
	{ "inet_protocols", CFG_LIST, "all", NO_BOUNDS,
	  "IP versions used for listening and connecting: all, ipv4, ipv6" },

	/* Delivery and size limits */
	{ "virtual_mailbox_base", CFG_PATH, "/var/mail/vhosts", NO_BOUNDS,
	  "directory that relative virtual mailbox paths start from" },
	{ "message_size_limit", CFG_SIZE, "10240000", 0, LLONG_MAX,
	  "largest message accepted, in bytes; 0 means no limit" },

	/* Hosted domains, mailboxes and aliases */
	{ "virtual_mailbox_domains", CFG_LIST, "hash:$config_directory/domains", NO_BOUNDS,
	  "domains delivered into mailboxes here: names and/or maps (type:path)" },
	{ "virtual_mailbox_maps", CFG_LIST, "hash:$config_directory/mailboxes", NO_BOUNDS,
	  "maps of user@domain to a Maildir path under virtual_mailbox_base" },
	{ "virtual_alias_maps", CFG_LIST, "hash:$config_directory/aliases", NO_BOUNDS,
	  "maps of an address (or @domain, a catch-all) to other addresses" },
	{ "virtual_mailbox_quota_maps", CFG_LIST, "", NO_BOUNDS,
	  "maps of user@domain to a quota in bytes (k, m, g suffixes); overrides mailbox_quota" },
	{ "mailbox_quota", CFG_SIZE, "0", 0, LLONG_MAX,
	  "Maildir++ quota of a mailbox in bytes; 0 means no limit" },
	{ "recipient_delimiter", CFG_STR, "+", NO_BOUNDS,
	  "characters that separate a user name from an address extension (user+tag)" },
	{ "folder_delivery", CFG_BOOL, "no", NO_BOUNDS,
	  "deliver user+folder@domain into the mailbox folder .folder when it exists" },
	{ "virtual_alias_recursion_limit", CFG_INT, "100", 1, 10000,
	  "deepest nesting of alias expansion before it is treated as a loop" },
	{ "virtual_alias_expansion_limit", CFG_INT, "1000", 1, 100000,
	  "most addresses one recipient may expand into" },
	{ "virtual_passwd_maps", CFG_LIST, "hash:$config_directory/passwd", NO_BOUNDS,
	  "maps of user@domain to the user's password hash and SASL secrets" },
	{ "auth_cache_size", CFG_INT, "10000", 0, 10000000,
	  "successful password checks remembered per process; 0 turns the cache off" },
	{ "auth_cache_ttl", CFG_TIME, "1h", 0, 604800,
	  "how long a remembered password check stays valid; 0 turns the cache off" },

	/* SMTP server */
	{ "smtpd_service", CFG_STR, "smtp", 1, 0,
	  "role of an smtpd service: smtp, submission, smtps or local (sendmail socket)" },
	{ "smtpd_timeout", CFG_TIME, "300s", 1, 3600,
	  "how long smtpd waits for a client's next command or data" },
	{ "smtpd_per_record_deadline", CFG_BOOL, "yes", NO_BOUNDS,
	  "smtpd_timeout bounds each whole command line or block of data, not each read" },
	{ "smtpd_recipient_limit", CFG_INT, "1000", 1, 100000,
	  "most recipients accepted in one message" },
	{ "smtpd_recipient_overshoot_limit", CFG_INT, "1000", 0, 1000000,
	  "recipients past smtpd_recipient_limit in one message that are refused without counting as errors" },
	{ "smtpd_soft_error_limit", CFG_INT, "10", 0, 1000,
	  "errors in one session after which smtpd slows its error replies" },
	{ "smtpd_hard_error_limit", CFG_INT, "20", 1, 1000,
	  "errors in one session after which smtpd disconnects" },
	{ "smtpd_error_sleep_time", CFG_TIME, "1s", 0, 60,
	  "delay before each error reply once the soft error limit is passed" },
	{ "smtpd_command_line_limit", CFG_INT, "2048", 512, 65536,
	  "longest SMTP command line accepted, in bytes including CRLF" },
	{ "header_size_limit", CFG_SIZE, "102400", 1024, LLONG_MAX,
	  "largest message header accepted, in bytes" },
	{ "smtpd_busy_poll", CFG_INT, "0", 0, 1000,
	  "microseconds smtpd polls for the next command before it sleeps; 0 = never" },
	{ "smtpd_process_session_limit", CFG_INT, "2000", 1, 100000,
	  "most simultaneous sessions one smtpd process serves" },

	/* TLS in the SMTP server */
	{ "smtpd_tls_cert_file", CFG_STR, "", NO_BOUNDS,
	  "PEM file with the server certificate and its chain; empty means no TLS" },
	{ "smtpd_tls_key_file", CFG_STR, "$smtpd_tls_cert_file", NO_BOUNDS,
	  "PEM file with the private key of smtpd_tls_cert_file" },
	{ "smtpd_tls_rsa_cert_file", CFG_STR, "", NO_BOUNDS,
	  "optional second certificate of another key type (RSA) for old clients" },
	{ "smtpd_tls_rsa_key_file", CFG_STR, "$smtpd_tls_rsa_cert_file", NO_BOUNDS,
	  "PEM file with the private key of smtpd_tls_rsa_cert_file" },
	{ "smtpd_tls_sni_maps", CFG_LIST, "", NO_BOUNDS,
	  "maps of a host name a client asks for (SNI) to its certificate and key files" },
	{ "smtpd_tls_protocols", CFG_STR, ">=TLSv1.2", 1, 0,
	  "TLS versions smtpd accepts: >=V, <=V, !V or a list of versions" },
	{ "smtpd_tls_ciphers", CFG_STR, "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:!DES", 1, 0,
	  "OpenSSL cipher list for TLS 1.2 and older" },
	{ "smtpd_tls_ciphersuites", CFG_STR, "", NO_BOUNDS,
	  "TLS 1.3 cipher suites; empty means OpenSSL's defaults" },
	{ "smtpd_tls_security_level", CFG_STR, "may", 1, 0,
	  "none, may (offer STARTTLS) or encrypt (require TLS before MAIL)" },
	{ "smtpd_tls_auth_only", CFG_BOOL, "yes", NO_BOUNDS,
	  "offer and accept AUTH only over TLS" },
	{ "smtpd_tls_session_cache_timeout", CFG_TIME, "3600s", 0, 3600,
	  "how long a client may resume a TLS session with a ticket; 0 turns tickets off" },
	{ "smtpd_tls_handshake_timeout", CFG_TIME, "60s", 1, 3600,
	  "longest a TLS handshake (STARTTLS or port 465) may take" },

	/* SASL authentication and relay policy in the SMTP server */
	{ "smtpd_auth_failure_delay", CFG_TIME, "1s", 0, 60,
	  "delay of the reply to a client's first failed AUTH; it doubles with each further failure" },
	{ "smtpd_auth_failure_limit", CFG_INT, "10", 1, 100000,
	  "failed AUTH attempts from one client address within the window before it is cut off" },
	{ "smtpd_auth_failure_window", CFG_TIME, "600s", 1, 86400,
	  "how long failed AUTH attempts of a client address are remembered" },
	{ "smtpd_auth_cram_md5", CFG_BOOL, "no", NO_BOUNDS,
	  "offer AUTH CRAM-MD5, for users whose password entry has a CRAM-MD5 secret" },
	{ "smtpd_relay_restrictions", CFG_LIST,
	  "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination", NO_BOUNDS,
	  "ordered checks at RCPT TO that decide whether a recipient may be relayed" },
	{ "smtpd_recipient_restrictions", CFG_LIST,
	  "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination", NO_BOUNDS,
	  "ordered checks at RCPT TO after smtpd_relay_restrictions" },

	/* POP3 server */
	{ "pop3d_service", CFG_STR, "pop3", 1, 0,
	  "role of a pop3d service: pop3 (STLS offered) or pop3s (TLS from the first byte)" },
	{ "pop3d_timeout", CFG_TIME, "600s", 1, 86400,
	  "how long pop3d waits for a client's next command (RFC 1939: at least 10 minutes)" },
	{ "pop3d_per_record_deadline", CFG_BOOL, "yes", NO_BOUNDS,
	  "pop3d_timeout bounds each whole command line, not each read" },
	{ "pop3d_error_limit", CFG_INT, "10", 1, 1000,
	  "errors in one session after which pop3d disconnects" },
	{ "pop3d_process_session_limit", CFG_INT, "2000", 1, 100000,
	  "most simultaneous sessions one pop3d process serves" },
	{ "pop3d_busy_poll", CFG_INT, "50", 0, 1000,
	  "microseconds pop3d polls for the next command before it sleeps; 0 = never" },
	{ "pop3d_tls_auth_only", CFG_BOOL, "yes", NO_BOUNDS,
	  "accept USER/PASS and cleartext SASL mechanisms only over TLS" },
	{ "pop3d_auth_cram_md5", CFG_BOOL, "$smtpd_auth_cram_md5", NO_BOUNDS,
	  "offer AUTH CRAM-MD5, for users whose password entry has a CRAM-MD5 secret" },
	{ "pop3d_auth_failure_delay", CFG_TIME, "$smtpd_auth_failure_delay", 0, 60,
	  "delay of the reply to a client's first failed login; it doubles with each further failure" },
	{ "pop3d_auth_failure_limit", CFG_INT, "$smtpd_auth_failure_limit", 1, 100000,
	  "failed logins from one client address within the window before it is cut off" },
	{ "pop3d_auth_failure_window", CFG_TIME, "$smtpd_auth_failure_window", 1, 86400,
	  "how long failed logins of a client address are remembered" },
	{ "pop3d_tls_cert_file", CFG_STR, "$smtpd_tls_cert_file", NO_BOUNDS,
	  "PEM file with pop3d's certificate and chain; empty means no TLS" },
	{ "pop3d_tls_key_file", CFG_STR, "$smtpd_tls_key_file", NO_BOUNDS,
	  "PEM file with the private key of pop3d_tls_cert_file" },
	{ "pop3d_tls_rsa_cert_file", CFG_STR, "$smtpd_tls_rsa_cert_file", NO_BOUNDS,
	  "optional second certificate of another key type (RSA) for old clients" },
	{ "pop3d_tls_rsa_key_file", CFG_STR, "$smtpd_tls_rsa_key_file", NO_BOUNDS,
	  "PEM file with the private key of pop3d_tls_rsa_cert_file" },
	{ "pop3d_tls_sni_maps", CFG_LIST, "$smtpd_tls_sni_maps", NO_BOUNDS,
	  "maps of a host name a client asks for (SNI) to its certificate and key files" },
	{ "pop3d_tls_protocols", CFG_STR, "$smtpd_tls_protocols", 1, 0,
	  "TLS versions pop3d accepts: >=V, <=V, !V or a list of versions" },
	{ "pop3d_tls_ciphers", CFG_STR, "$smtpd_tls_ciphers", 1, 0,
	  "OpenSSL cipher list for TLS 1.2 and older" },
	{ "pop3d_tls_ciphersuites", CFG_STR, "$smtpd_tls_ciphersuites", NO_BOUNDS,
	  "TLS 1.3 cipher suites; empty means OpenSSL's defaults" },
	{ "pop3d_tls_session_cache_timeout", CFG_TIME, "$smtpd_tls_session_cache_timeout", 0, 3600,
	  "how long a POP3 client may resume a TLS session with a ticket; 0 turns tickets off" },
	{ "pop3d_tls_handshake_timeout", CFG_TIME, "$smtpd_tls_handshake_timeout", 1, 3600,
	  "longest a TLS handshake (STLS or port 995) may take" },

	/* Queue manager */
	{ "queue_run_delay", CFG_TIME, "300s", 1, 86400,
	  "how often qmgr scans the deferred queue for messages due for retry" },
	{ "minimal_backoff_time", CFG_TIME, "300s", 1, 86400,
	  "shortest wait before a deferred message is tried again" },
	{ "maximal_backoff_time", CFG_TIME, "4000s", 1, 604800,
	  "longest wait between two delivery attempts of a deferred message" },
	{ "maximal_queue_lifetime", CFG_TIME, "5d", 0, 31536000,
	  "how long a message may stay deferred before it is returned as undeliverable" },
	{ "local_destination_concurrency_limit", CFG_INT, "20", 1, 1000,
	  "most deliveries qmgr runs at once through local" },
	{ "qmgr_message_active_limit", CFG_INT, "1000", 1, 1000000,
	  "most messages qmgr holds in memory at once" },

	/* Processes */
	{ "default_process_limit", CFG_INT, "0", 0, 10000,
	  "processes of one service when master.cf says '-' for maxproc; 0 means one per CPU, at least 2" },
	{ "service_restart_delay_max", CFG_TIME, "30s", 1, 3600,
	  "longest wait before master restarts a service that keeps crashing" },
	{ "service_stop_timeout", CFG_TIME, "10s", 1, 600,
	  "how long master waits after SIGTERM before it sends SIGKILL" },
	{ "max_use", CFG_INT, "0", 0, INT_MAX,
	  "connections a service process serves before it exits; 0 means no limit" },
	{ "ipc_timeout", CFG_TIME, "60s", 1, 3600,
	  "time limit for one request or reply between Postern processes" },

	/* Logging */
	{ "maillog_file", CFG_STR, "", NO_BOUNDS,
	  "file to log to instead of syslog; empty means syslog" },
	{ "syslog_facility", CFG_STR, "mail", 1, 0,
	  "syslog facility of the log messages" },
	{ "syslog_name", CFG_STR, "postern", 1, 0,
	  "prefix of the program name in log messages (postern/smtpd)" },
	{ "log_level", CFG_STR, "info", 1, 0,
	  "least severe messages logged: debug, info or warning" },

	{ NULL, CFG_STR, NULL, 0, 0, NULL },
};

const struct cfg_key *cfg_key_find(const char *name)
{
	for (const struct cfg_key *k = cfg_keys; k->name != NULL; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}
