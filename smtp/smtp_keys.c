/* smtp_keys.c: the main.cf keys only the outbound smtp client reads:
 * timeouts per stage (Postfix's names and defaults), the HELO name, how
 * many addresses of a destination are tried, TLS (level, per-destination
 * policy, CA and client certificate), SASL for a relayhost, connection
 * reuse and pipelining. Data only; compiled into libpostern so every
 * program knows these keys (see cfg_key_tables). Documented in
 * docs/config.md. */
#include "cfg.h"

const struct cfg_key smtp_cfg_keys[] = {
	/* Timeouts, one per stage of the dialogue */
	{ "smtp_connect_timeout", CFG_TIME, "30s", 1, 3600,
	  "how long the smtp client waits for a TCP connection to a server" },
	{ "smtp_helo_timeout", CFG_TIME, "300s", 1, 3600,
	  "time for the server's greeting and for the reply to EHLO / HELO (and AUTH)" },
	{ "smtp_starttls_timeout", CFG_TIME, "300s", 1, 3600,
	  "time for the reply to STARTTLS and the TLS handshake" },
	{ "smtp_mail_timeout", CFG_TIME, "300s", 1, 3600,
	  "time for the reply to MAIL FROM" },
	{ "smtp_rcpt_timeout", CFG_TIME, "300s", 1, 3600,
	  "time for the reply to each RCPT TO" },
	{ "smtp_data_init_timeout", CFG_TIME, "120s", 1, 3600,
	  "time for the reply to DATA" },
	{ "smtp_data_xfer_timeout", CFG_TIME, "180s", 1, 3600,
	  "longest stall while the message content is sent" },
	{ "smtp_data_done_timeout", CFG_TIME, "600s", 1, 3600,
	  "time for the reply to the final dot of the message" },
	{ "smtp_rset_timeout", CFG_TIME, "20s", 1, 3600,
	  "time for the reply to RSET between two messages on one connection" },
	{ "smtp_quit_timeout", CFG_TIME, "300s", 1, 3600,
	  "time for the reply to QUIT" },

	/* The conversation */
	{ "smtp_helo_name", CFG_STR, "$myhostname", 1, 0,
	  "the host name the smtp client sends in EHLO / HELO" },
	{ "smtp_mx_address_limit", CFG_INT, "5", 0, 1000,
	  "most server addresses tried for one destination per delivery (0: no limit)" },
	{ "smtp_pipelining", CFG_BOOL, "yes", CFG_NO_BOUNDS,
	  "send MAIL, RCPT and DATA together when the server offers PIPELINING" },
	{ "smtp_connection_cache_time_limit", CFG_TIME, "2s", 0, 300,
	  "how long an idle connection waits for the next message to the same destination" },

	/* TLS */
	{ "smtp_tls_security_level", CFG_STR, "may", 1, 0,
	  "STARTTLS by default: none, may, encrypt, verify or secure" },
	{ "smtp_tls_policy_maps", CFG_LIST, "", CFG_NO_BOUNDS,
	  "maps from a destination (domain or [host]:port) to its TLS security level" },
	{ "smtp_tls_CAfile", CFG_STR, "", CFG_NO_BOUNDS,
	  "file of CA certificates for verifying servers (empty: the system's)" },
	{ "smtp_tls_CApath", CFG_STR, "", CFG_NO_BOUNDS,
	  "directory of hashed CA certificates for verifying servers (empty: the system's)" },
	{ "smtp_tls_cert_file", CFG_STR, "", CFG_NO_BOUNDS,
	  "client certificate the smtp client presents, if any" },
	{ "smtp_tls_key_file", CFG_STR, "$smtp_tls_cert_file", CFG_NO_BOUNDS,
	  "private key of smtp_tls_cert_file" },

	/* SASL */
	{ "smtp_sasl_auth_enable", CFG_BOOL, "no", CFG_NO_BOUNDS,
	  "authenticate to servers listed in smtp_sasl_password_maps" },
	{ "smtp_sasl_password_maps", CFG_LIST, "", CFG_NO_BOUNDS,
	  "maps from [host]:port, [host], host or domain to user:password" },
	{ "smtp_sasl_security_options", CFG_LIST, "noplaintext, noanonymous", CFG_NO_BOUNDS,
	  "SASL restrictions without TLS: noplaintext refuses PLAIN / LOGIN in the clear" },
	{ "smtp_sasl_tls_security_options", CFG_LIST, "noanonymous", CFG_NO_BOUNDS,
	  "SASL restrictions over TLS" },

	{ NULL, CFG_STR, NULL, 0, 0, NULL },
};
