/* policy.c: the RCPT TO decision and the sender check of authenticated
 * clients. The restriction lists (smtpd_relay_restrictions, then
 * smtpd_recipient_restrictions; restrict.c) decide relaying: by default a
 * domain not hosted here is relayed only for mynetworks, the local
 * sendmail socket and clients that did AUTH, else 554 5.7.1; a domain of
 * relay_domains counts as a destination of ours (relayed for anyone). A
 * recipient at a hosted domain must also resolve (lib/resolve) to a
 * mailbox, alias or catch-all, one at a relay domain must be in
 * relay_recipient_maps when that is set, else 550 5.1.1 at once (no
 * backscatter later). A map that cannot be read gives 451 4.3.0, never a
 * 5xx.
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

/* check_relay_rcpt: a recipient at a relay domain is in
 * relay_recipient_maps (when set). */
static int check_relay_rcpt(struct session *s, const char *address)
{
	char *why = NULL;
	enum resolve_result r = resolver_relay_recipient(s->srv->resolver, address, &why);

	if (why != NULL)
		log_debug("%s: %s", address, why);
	free(why);
	if (r == RESOLVE_OK)
		return 0;
	if (r == RESOLVE_NOTFOUND)
		return reject(s, 550, "5.1.1", address,
			      "Recipient address rejected: User unknown in relay recipient table");
	return reject(s, 451, "4.3.0", address, "Temporary lookup failure");
}

/* destination: is the domain hosted here, and if not, a relay domain?
 * TEMP when either cannot be told now. */
static enum resolve_result destination(struct session *s, const char *domain, bool *relay_r)
{
	enum resolve_result hosted = resolver_domain_hosted(s->srv->resolver, domain);
	enum resolve_result relay;

	*relay_r = false;
	if (hosted != RESOLVE_NOTFOUND)
		return hosted;
	relay = resolver_relay_domain(s->srv->resolver, domain);
	*relay_r = relay == RESOLVE_OK;
	return relay == RESOLVE_TEMP ? RESOLVE_TEMP : RESOLVE_NOTFOUND;
}

void smtpd_policy_init(struct smtpd_server *srv, cfg *c)
{
	static const char *const keys[] = { "smtpd_relay_restrictions",
					    "smtpd_recipient_restrictions" };
	struct smtpd_restrictions *lists[] = { &srv->relay_restrictions,
					       &srv->recipient_restrictions };
	char *err = NULL;

	for (int i = 0; i < 2; i++)
		if (smtpd_restrictions_parse(cfg_get(c, keys[i]), lists[i], &err) < 0)
			log_fatal("%s: %s", keys[i], err);
}

static int restriction_reject(struct session *s, const char *address, enum smtpd_verdict v)
{
	if (v == SMTPD_REJECT_RELAY)
		return reject(s, 554, "5.7.1", address, "Relay access denied");
	return reject(s, 554, "5.7.1", address, "Recipient address rejected: Access denied");
}

/* check_restrictions: both lists in turn; either may reject. */
static int check_restrictions(struct session *s, const char *address, bool hosted)
{
	struct smtpd_facts facts = {
		.mynetworks = s->trusted,
		.authenticated = s->auth_user != NULL,
		.dest_hosted = hosted,
	};
	enum smtpd_verdict v = smtpd_restrictions_eval(&s->srv->relay_restrictions, &facts);

	if (v == SMTPD_REJECT || v == SMTPD_REJECT_RELAY)
		return restriction_reject(s, address, v);
	v = smtpd_restrictions_eval(&s->srv->recipient_restrictions, &facts);
	if (v == SMTPD_REJECT || v == SMTPD_REJECT_RELAY)
		return restriction_reject(s, address, v);
	return 0;
}

/* sender_leads_to_user: the sender's alias expansion reaches the login. */
static enum resolve_result sender_leads_to_user(struct session *s, const char *sender)
{
	struct resolve_target *targets = NULL;
	int count = 0;
	char *why = NULL;
	enum resolve_result r = resolver_expand(s->srv->resolver, sender, &targets, &count, &why);

	if (r == RESOLVE_OK) {
		r = RESOLVE_NOTFOUND;
		for (int i = 0; i < count; i++)
			if (strcasecmp(targets[i].address, s->auth_user) == 0)
				r = RESOLVE_OK;
		resolver_targets_free(&targets, count);
	}
	if (why != NULL)
		log_debug("%s: sender %s: %s", s->client, sender, why);
	free(why);
	return r;
}

int smtpd_policy_sender(struct session *s, const char *sender)
{
	enum resolve_result r;

	if (s->auth_user == NULL || *sender == '\0' || strcasecmp(sender, s->auth_user) == 0)
		return 0;
	r = sender_leads_to_user(s, sender);
	if (r == RESOLVE_OK)
		return 0;
	if (r == RESOLVE_TEMP) {
		smtpd_reply(s, 451, "4.3.0", "<%s>: Temporary lookup failure", sender);
		return -1;
	}
	log_info("reject: MAIL from %s: 553 5.7.1 <%s>: Sender address rejected: not owned by "
		 "user %s", s->client, sender, s->auth_user);
	smtpd_reply(s, 553, "5.7.1", "<%s>: Sender address rejected: not owned by user %s", sender,
		    s->auth_user);
	return -1;
}

int smtpd_policy_rcpt(struct session *s, const struct addr *a, char **address_r)
{
	struct addr local = *a;
	enum resolve_result hosted;
	bool relay;
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
	hosted = destination(s, local.domain, &relay);
	if (hosted == RESOLVE_TEMP)
		rc = reject(s, 451, "4.3.0", address, "Temporary lookup failure");
	else
		rc = check_restrictions(s, address, hosted == RESOLVE_OK || relay);
	if (rc == 0 && hosted == RESOLVE_OK)
		rc = check_hosted(s, address);
	else if (rc == 0 && relay)
		rc = check_relay_rcpt(s, address);
	if (rc < 0) {
		free(address);
		return -1;
	}
	*address_r = address;
	return 0;
}
