/* cfg_keys.c: the main.cf keys no single program owns: those read by
 * lib/ code (paths, maps, passwords, the service skeleton, logging), by
 * two or more programs, or under another program's defaults ($smtpd_tls_*
 * under pop3d_tls_*). A key one program alone reads is declared in that
 * program's folder (smtpd/smtpd_keys.c, ...). cfg_key_tables lists every
 * table, and every program links them all: one main.cf serves them all.
 * How to add a key: docs/internals.md, "Configuration keys". */
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

const struct cfg_key cfg_shared_keys[] = {
	/* Files and directories */
	{ "config_directory", CFG_PATH, POSTERN_CONFIG_DIR, CFG_NO_BOUNDS,
	  "directory holding main.cf and master.cf" },
	{ "queue_directory", CFG_PATH, POSTERN_QUEUE_DIR, CFG_NO_BOUNDS,
	  "root of the mail queue and of the private/ and public/ sockets" },
	{ "daemon_directory", CFG_PATH, POSTERN_DAEMON_DIR, CFG_NO_BOUNDS,
	  "directory holding the service programs that master starts" },

	/* Identity */
	{ "mail_owner", CFG_STR, "postern", 1, 0,
	  "unprivileged user that owns the queue and runs every service" },
	{ "myhostname", CFG_STR, "", CFG_NO_BOUNDS,
	  "fully qualified name of this host; empty means the name from gethostname()" },
	{ "mydomain", CFG_STR, "", CFG_NO_BOUNDS,
	  "domain of this host; empty means $myhostname without its first label" },
	{ "myorigin", CFG_STR, "$myhostname", CFG_NO_BOUNDS,
	  "domain added to unqualified addresses in mail posted on this host" },

	/* Hosted domains, mailboxes and aliases (lib/resolve.c: smtpd, local, pop3d, mailctl) */
	{ "mydestination", CFG_LIST, "$myhostname, localhost.$mydomain, localhost", CFG_NO_BOUNDS,
	  "domains delivered locally on this host" },
	{ "virtual_mailbox_base", CFG_PATH, "/var/mail/vhosts", CFG_NO_BOUNDS,
	  "directory that relative virtual mailbox paths start from" },
	{ "virtual_mailbox_domains", CFG_LIST, "hash:$config_directory/domains", CFG_NO_BOUNDS,
	  "domains delivered into mailboxes here: names and/or maps (type:path)" },
	{ "virtual_mailbox_maps", CFG_LIST, "hash:$config_directory/mailboxes", CFG_NO_BOUNDS,
	  "maps of user@domain to a Maildir path under virtual_mailbox_base" },
	{ "virtual_alias_maps", CFG_LIST, "hash:$config_directory/aliases", CFG_NO_BOUNDS,
	  "maps of an address (or @domain, a catch-all) to other addresses" },
	{ "virtual_mailbox_quota_maps", CFG_LIST, "", CFG_NO_BOUNDS,
	  "maps of user@domain to a quota in bytes (k, m, g suffixes); overrides mailbox_quota" },
	{ "mailbox_quota", CFG_SIZE, "0", 0, LLONG_MAX,
	  "Maildir++ quota of a mailbox in bytes; 0 means no limit" },
	{ "recipient_delimiter", CFG_STR, "+", CFG_NO_BOUNDS,
	  "characters that separate a user name from an address extension (user+tag)" },
	{ "folder_delivery", CFG_BOOL, "no", CFG_NO_BOUNDS,
	  "deliver user+folder@domain into the mailbox folder .folder when it exists" },
	{ "virtual_alias_recursion_limit", CFG_INT, "100", 1, 10000,
	  "deepest nesting of alias expansion before it is treated as a loop" },
	{ "virtual_alias_expansion_limit", CFG_INT, "1000", 1, 100000,
	  "most addresses one recipient may expand into" },

	/* Routing and relaying (lib/route.c, lib/resolve.c: qmgr, smtpd, mailctl) */
	{ "transport_maps", CFG_LIST, "", CFG_NO_BOUNDS,
	  "maps of an address or domain to a transport: local, smtp:[host]:port, error:text, discard" },
	{ "relayhost", CFG_STR, "", CFG_NO_BOUNDS,
	  "next hop of mail that leaves: [host]:port, host (by MX) ...; empty means each domain's MX" },
	{ "relay_domains", CFG_LIST, "", CFG_NO_BOUNDS,
	  "domains this host relays for from any client (backup MX): names, .parent names and/or maps" },
	{ "relay_recipient_maps", CFG_LIST, "", CFG_NO_BOUNDS,
	  "maps of the valid addresses (or @domain) of relay_domains; empty means all are accepted" },

	/* Passwords (lib/passdb.c: smtpd, pop3d, mailctl) */
	{ "virtual_passwd_maps", CFG_LIST, "hash:$config_directory/passwd", CFG_NO_BOUNDS,
	  "maps of user@domain to the user's password hash and SASL secrets" },
	{ "auth_cache_size", CFG_INT, "10000", 0, 10000000,
	  "successful password checks remembered per process; 0 turns the cache off" },
	{ "auth_cache_ttl", CFG_TIME, "1h", 0, 604800,
	  "how long a remembered password check stays valid; 0 turns the cache off" },

	/* Limits used by several programs */
	{ "header_size_limit", CFG_SIZE, "102400", 1024, LLONG_MAX,
	  "largest message header accepted, in bytes" },
	{ "queue_minfree", CFG_SIZE, "0", 0, LLONG_MAX,
	  "free bytes the queue file system keeps: smtpd refuses mail below it (+ SIZE=); 0 = 4 x message_size_limit" },
	{ "local_minfree", CFG_SIZE, "0", 0, LLONG_MAX,
	  "free bytes a mail store keeps after a delivery, else local defers; 0 = half of queue_minfree" },

	/* Server TLS: smtpd's keys, the defaults of pop3d's (and later imapd's) */
	{ "smtpd_tls_cert_file", CFG_STR, "", CFG_NO_BOUNDS,
	  "PEM file with the server certificate and its chain; empty means no TLS" },
	{ "smtpd_tls_key_file", CFG_STR, "$smtpd_tls_cert_file", CFG_NO_BOUNDS,
	  "PEM file with the private key of smtpd_tls_cert_file" },
	{ "smtpd_tls_rsa_cert_file", CFG_STR, "", CFG_NO_BOUNDS,
	  "optional second certificate of another key type (RSA) for old clients" },
	{ "smtpd_tls_rsa_key_file", CFG_STR, "$smtpd_tls_rsa_cert_file", CFG_NO_BOUNDS,
	  "PEM file with the private key of smtpd_tls_rsa_cert_file" },
	{ "smtpd_tls_sni_maps", CFG_LIST, "", CFG_NO_BOUNDS,
	  "maps of a host name a client asks for (SNI) to its certificate and key files" },
	{ "smtpd_tls_protocols", CFG_STR, ">=TLSv1.2", 1, 0,
	  "TLS versions smtpd accepts: >=V, <=V, !V or a list of versions" },
	{ "smtpd_tls_ciphers", CFG_STR, "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:!DES", 1, 0,
	  "OpenSSL cipher list for TLS 1.2 and older" },
	{ "smtpd_tls_ciphersuites", CFG_STR, "", CFG_NO_BOUNDS,
	  "TLS 1.3 cipher suites; empty means OpenSSL's defaults" },
	{ "smtpd_tls_session_cache_timeout", CFG_TIME, "3600s", 0, 3600,
	  "how long a client may resume a TLS session with a ticket; 0 turns tickets off" },
	{ "smtpd_tls_handshake_timeout", CFG_TIME, "60s", 1, 3600,
	  "longest a TLS handshake (STARTTLS or port 465) may take" },

	/* Server logins: smtpd's keys, the defaults of pop3d's (and later imapd's) */
	{ "smtpd_auth_failure_delay", CFG_TIME, "1s", 0, 60,
	  "delay of the reply to a client's first failed AUTH; it doubles with each further failure" },
	{ "smtpd_auth_failure_limit", CFG_INT, "10", 1, 100000,
	  "failed AUTH attempts from one client address within the window before it is cut off" },
	{ "smtpd_auth_failure_window", CFG_TIME, "600s", 1, 86400,
	  "how long failed AUTH attempts of a client address are remembered" },
	{ "smtpd_auth_cram_md5", CFG_BOOL, "no", CFG_NO_BOUNDS,
	  "offer AUTH CRAM-MD5, for users whose password entry has a CRAM-MD5 secret" },

	/* IP versions (master listens, the smtp client connects) */
	{ "inet_protocols", CFG_LIST, "all", CFG_NO_BOUNDS,
	  "IP versions used for listening and connecting: all, ipv4, ipv6" },

	/* DNS (lib/dns.c: smtpd's client name lookup, later the smtp client) */
	{ "dns_servers", CFG_LIST, "", CFG_NO_BOUNDS,
	  "DNS servers to ask (address or [address]:port); empty means /etc/resolv.conf" },
	{ "dns_timeout", CFG_TIME, "5s", 1, 300,
	  "longest time one DNS lookup may take, all retries included (then a temporary failure)" },
	{ "dns_retries", CFG_INT, "2", 0, 10,
	  "how many times an unanswered DNS question is sent again within dns_timeout" },
	{ "dns_cache_size", CFG_INT, "1000", 0, 1000000,
	  "DNS answers each process keeps for their TTL (at most one hour); 0 disables the cache" },

	/* Every service process (lib/svc.c) */
	{ "max_use", CFG_INT, "0", 0, INT_MAX,
	  "connections a service process serves before it exits; 0 means no limit" },
	{ "ipc_timeout", CFG_TIME, "60s", 1, 3600,
	  "time limit for one request or reply between Postern processes" },

	/* Logging (lib/svc.c) */
	{ "maillog_file", CFG_STR, "", CFG_NO_BOUNDS,
	  "file to log to instead of syslog; empty means syslog" },
	{ "syslog_facility", CFG_STR, "mail", 1, 0,
	  "syslog facility of the log messages" },
	{ "syslog_name", CFG_STR, "postern", 1, 0,
	  "prefix of the program name in log messages (postern/smtpd)" },
	{ "log_level", CFG_STR, "info", 1, 0,
	  "least severe messages logged: debug, info or warning" },

	/* DKIM signing (lib/dkim_policy.c: smtpd signs, mailctl keygen and check) */
	{ "dkim_sign", CFG_BOOL, "yes", CFG_NO_BOUNDS,
	  "DKIM-sign mail of authenticated and local senders whose domain has dkim_signing_table keys" },
	{ "dkim_signing_table", CFG_LIST, "", CFG_NO_BOUNDS,
	  "maps of a domain (or .parent) to selector:algorithm:keyfile entries; empty = no signing" },
	{ "dkim_signed_headers", CFG_LIST, "", CFG_NO_BOUNDS,
	  "header fields DKIM signatures cover (oversigned); empty means the built-in list" },
	{ "dkim_canonicalization", CFG_STR, "relaxed/relaxed", 1, 0,
	  "DKIM canonicalization header/body: relaxed or simple each" },
	{ "arc_seal", CFG_BOOL, "yes", CFG_NO_BOUNDS,
	  "local: ARC-seal forwarded copies of mail smtpd checked, with the alias domain's dkim_signing_table key" },

	{ NULL, CFG_STR, NULL, 0, 0, NULL },
};

/* Every table, the shared one first (mailctl config list prints them in
 * this order). Each program knows every key, so that a main.cf shared by
 * all of them draws no "unknown key" warning for another program's keys
 * and "$name" defaults may refer to keys of other tables. */
const struct cfg_key *const cfg_key_tables[] = {
	cfg_shared_keys, smtpd_cfg_keys, pop3d_cfg_keys, qmgr_cfg_keys, master_cfg_keys,
	smtp_cfg_keys, imapd_cfg_keys, NULL,
};

const struct cfg_key *cfg_key_find(const char *name)
{
	for (const struct cfg_key *const *t = cfg_key_tables; *t != NULL; t++)
		for (const struct cfg_key *k = *t; k->name != NULL; k++)
			if (strcmp(k->name, name) == 0)
				return k;
	return NULL;
}
