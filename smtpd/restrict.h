/* restrict.h: smtpd's ordered RCPT TO restriction lists
 * (smtpd_relay_restrictions, smtpd_recipient_restrictions), Postfix-like:
 * parsed once at start, evaluated per recipient against the facts the
 * session knows. Pure logic: no replies, no lookups, unit tested alone. */
#ifndef POSTERN_SMTPD_RESTRICT_H
#define POSTERN_SMTPD_RESTRICT_H

#include <stdbool.h>

enum smtpd_restriction {
	R_PERMIT_MYNETWORKS, /* the client is in mynetworks (or local) */
	R_PERMIT_SASL_AUTHENTICATED, /* the client did AUTH */
	R_REJECT_UNAUTH_DESTINATION, /* the domain is not hosted here: reject */
	R_PERMIT_AUTH_DESTINATION, /* the domain is hosted here: permit */
	R_PERMIT,
	R_REJECT,
};

struct smtpd_restrictions {
	enum smtpd_restriction *items;
	int count;
};

/* What a restriction can look at. */
struct smtpd_facts {
	bool mynetworks;
	bool authenticated;
	bool dest_hosted; /* hosted here, or in relay_domains */
};

enum smtpd_verdict {
	SMTPD_DUNNO, /* the list ended undecided (which permits) */
	SMTPD_PERMIT,
	SMTPD_REJECT_RELAY, /* reject_unauth_destination: 554 5.7.1 Relay access denied */
	SMTPD_REJECT, /* reject: 554 5.7.1 Access denied */
};

/* smtpd_restrictions_parse: words separated by commas and/or white space,
 * case-insensitive. 0, or -1 with *err_r (heap) naming the unknown word. */
int smtpd_restrictions_parse(const char *text, struct smtpd_restrictions *r, char **err_r);
void smtpd_restrictions_clear(struct smtpd_restrictions *r);
/* smtpd_restrictions_eval: the first restriction that decides, in order. */
enum smtpd_verdict smtpd_restrictions_eval(const struct smtpd_restrictions *r,
					   const struct smtpd_facts *facts);

#endif
