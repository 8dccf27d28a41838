/* smtpd_keys.c: the main.cf keys only smtpd reads: its sessions, limits,
 * greeting, TLS policy and relay policy. The TLS certificate and protocol
 * keys and the failed-login limits are smtpd_* too, but pop3d's defaults
 * refer to them, so they are shared (lib/cfg_keys.c). Data only; compiled
 * into libpostern so every program knows these keys (see cfg_key_tables).
 * Every key has a section in docs/config.md. */
#include "cfg.h"

#include <limits.h>

const struct cfg_key smtpd_cfg_keys[] = {
	/* Identity in the greeting and in Received: */
	{ "mail_name", CFG_STR, "Postern", 1, 0,
	  "name of the mail system in the SMTP banner and in Received: headers" },
	{ "smtpd_banner", CFG_STR, "$myhostname ESMTP $mail_name", CFG_NO_BOUNDS,
	  "text after the 220 code in the SMTP greeting" },

	/* Sessions and limits */
	{ "smtpd_service", CFG_STR, "smtp", 1, 0,
	  "role of an smtpd service: smtp, submission, smtps or local (sendmail socket)" },
	{ "smtpd_timeout", CFG_TIME, "300s", 1, 3600,
	  "how long smtpd waits for a client's next command or data" },
	{ "smtpd_peername_lookup", CFG_BOOL, "yes", CFG_NO_BOUNDS,
	  "look up the client's name (PTR, confirmed by A/AAAA) before the greeting" },
	{ "smtpd_per_record_deadline", CFG_BOOL, "yes", CFG_NO_BOUNDS,
	  "smtpd_timeout bounds each whole command line or block of data, not each read" },
	{ "hopcount_limit", CFG_INT, "50", 1, 1000,
	  "most Received: fields a message may carry: more is a mail loop (554 5.4.6)" },
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
	{ "message_size_limit", CFG_SIZE, "10240000", 0, LLONG_MAX,
	  "largest message accepted, in bytes; 0 means no limit" },
	{ "smtpd_busy_poll", CFG_INT, "0", 0, 1000,
	  "microseconds smtpd polls for the next command before it sleeps; 0 = never" },
	{ "smtpd_process_session_limit", CFG_INT, "2000", 1, 100000,
	  "most simultaneous sessions one smtpd process serves" },

	/* TLS and AUTH policy (certificates, login limits: lib/cfg_keys.c) */
	{ "smtpd_tls_security_level", CFG_STR, "may", 1, 0,
	  "none, may (offer STARTTLS) or encrypt (require TLS before MAIL)" },
	{ "smtpd_tls_auth_only", CFG_BOOL, "yes", CFG_NO_BOUNDS,
	  "offer and accept AUTH only over TLS" },

	/* Relay policy */
	{ "mynetworks", CFG_LIST, "127.0.0.0/8 [::1]/128", CFG_NO_BOUNDS,
	  "client networks trusted to relay through this host" },
	{ "smtpd_relay_restrictions", CFG_LIST,
	  "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination", CFG_NO_BOUNDS,
	  "ordered checks at RCPT TO that decide whether a recipient may be relayed" },
	{ "smtpd_recipient_restrictions", CFG_LIST,
	  "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination", CFG_NO_BOUNDS,
	  "ordered checks at RCPT TO after smtpd_relay_restrictions" },

	/* Sender authentication of mail from outside (SPF, DKIM) */
	{ "smtpd_spf_policy", CFG_STR, "reject", 1, 0,
	  "SPF check of MAIL FROM / HELO: off, record (Authentication-Results only) or reject (fail: 550 5.7.23, temperror: 451 4.7.24)" },
	{ "smtpd_spf_permerror_reject", CFG_BOOL, "no", CFG_NO_BOUNDS,
	  "with smtpd_spf_policy = reject, also refuse an SPF permerror (550 5.7.24)" },
	{ "smtpd_dkim_verify", CFG_BOOL, "yes", CFG_NO_BOUNDS,
	  "verify the DKIM signatures of mail from outside while it is received" },
	{ "authserv_id", CFG_STR, "", CFG_NO_BOUNDS,
	  "the authserv-id of the Authentication-Results header smtpd adds (RFC 8601); empty: myhostname" },
	{ "smtpd_dmarc_policy", CFG_STR, "enforce", 1, 0,
	  "DMARC of mail from outside: off, record (Authentication-Results and the report line) or enforce (reject: 550 5.7.1, quarantine: Junk folder, temperror where a fail would reject: 451 4.7.1)" },
	{ "smtpd_dmarc_public_suffix_list", CFG_STR, "/usr/share/publicsuffix/public_suffix_list.dat", 1, 0,
	  "the Public Suffix List file DMARC finds organisational domains with (read at start and on reload; missing: the last two labels)" },
	{ "smtpd_arc_verify", CFG_BOOL, "yes", CFG_NO_BOUNDS,
	  "verify the ARC sets (RFC 8617) of mail from outside and record arc= in Authentication-Results" },
	{ "smtpd_arc_trusted_sealers", CFG_LIST, "", CFG_NO_BOUNDS,
	  "the forwarders (ARC-Seal d= domains, comma or space separated) whose passing ARC chain overrides a DMARC reject or quarantine; empty: none" },

	{ NULL, CFG_STR, NULL, 0, 0, NULL },
};
