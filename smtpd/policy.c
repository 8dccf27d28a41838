/* policy.c: the RCPT TO decision. A recipient at a hosted domain must
 * resolve (lib/resolve) to a mailbox, alias or catch-all, else 550 5.1.1
 * at once (no backscatter later); any other domain is relayed only for
 * trusted clients (mynetworks, or the local sendmail socket), else
 * 554 5.7.1. A map that cannot be read gives 451 4.3.0, never a 5xx.
 * Relay tricks need no special case: lib/addr drops source routes, and a
 * percent hack, bang path or quoted "a@b" local part at a hosted domain is
 * just a local part that is looked up like any other (and is unknown). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "mem.h"
#include "smtpd.h"

static void log_reject(struct session *s, int code, const char *dsn, const char *text,
		       const char *rcpt)
{
	log_info("reject: RCPT from %s: %d %s %s; from=<%s> to=<%s> proto=%s helo=<%s>",
		 s->client, code, dsn, text, s->txn->sender, rcpt, s->esmtp ? "ESMTP" : "SMTP",
		 s->helo ? s->helo : "");
}

static int reject(struct session *s, int code, const char *dsn, const char *address,
		  const char *why)
{
	char *text = xasprintf("<%s>: %s", address, why);

	log_reject(s, code, dsn, text, address);
	smtpd_reply(s, code, dsn, "%s", text);
	free(text);
	return -1;
}

/* check_hosted: the recipient is at a domain of ours. */
static int check_hosted(struct session *s, const char *address)
{
	char *why = NULL;
	enum resolve_result r = resolver_check_rcpt(s->srv->resolver, address, &why);

	if (r == RESOLVE_OK) {
		free(why);
		return 0;
	}
	if (why != NULL)
		log_debug("%s: %s", address, why);
	free(why);
	if (r == RESOLVE_NOTFOUND)
		return reject(s, 550, "5.1.1", address,
			      "Recipient address rejected: User unknown in virtual mailbox table");
	return reject(s, 451, "4.3.0", address, "Temporary lookup failure");
}

int smtpd_policy_rcpt(struct session *s, const struct addr *a, char **address_r)
{
	struct addr local = *a;
	enum resolve_result hosted;
	char *address;
	int rc = 0;

	if (a->domain == NULL && !a->quoted && strcasecmp(a->local, "postmaster") == 0) {
		/* RFC 5321 4.5.1: always accepted, for the postmaster of this host */
		*address_r = xasprintf("postmaster@%s", s->srv->mydomain);
		return 0;
	}
	if (a->domain == NULL && !s->srv->local_service) {
		address = addr_format(a);
		reject(s, 501, "5.1.3", address, "Bad recipient address syntax: need fully-qualified address");
		free(address);
		return -1;
	}
	if (a->domain == NULL)
		local.domain = s->srv->myorigin; /* a bare user name from sendmail */
	address = addr_format(&local);
	hosted = resolver_domain_hosted(s->srv->resolver, local.domain);
	if (hosted == RESOLVE_OK)
		rc = check_hosted(s, address);
	else if (hosted == RESOLVE_TEMP)
		rc = reject(s, 451, "4.3.0", address, "Temporary lookup failure");
	else if (!s->trusted)
		rc = reject(s, 554, "5.7.1", address, "Relay access denied");
	if (rc < 0) {
		free(address);
		return -1;
	}
	*address_r = address;
	return 0;
}
