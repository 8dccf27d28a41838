/* resolve.h: where a recipient goes. Shared by smtpd (RCPT TO checks),
 * local (delivery) and qmgr (routing), so all answer the same questions alike:
 *   - is a domain hosted here (virtual_mailbox_domains, mydestination)?
 *   - what does an address expand to (virtual_alias_maps, nested, with
 *     loop detection, recipient_delimiter extensions, @domain catch-all)?
 *   - which Maildir belongs to a final address (virtual_mailbox_maps)?
 *   - where does a recipient go (transport_maps, relay_domains, relayhost;
 *     qmgr), and may a relay domain's recipient be accepted (smtpd)?
 * Every answer is OK, NOTFOUND or TEMP (a map could not be read: never
 * turned into "user unknown"). */
#ifndef POSTERN_RESOLVE_H
#define POSTERN_RESOLVE_H

#include <stdbool.h>
#include "cfg.h"
#include "route.h"

enum resolve_result { RESOLVE_OK = 0, RESOLVE_NOTFOUND = 1, RESOLVE_TEMP = -1 };

typedef struct resolver resolver;

/* resolver_new: opens the maps named in c. A map that cannot be opened is
 * not fatal: lookups through it answer TEMP (and it is retried later). */
resolver *resolver_new(cfg *c);
void resolver_free(resolver **r);
/* resolver_mydomain: $mydomain, or $myhostname without its first label
 * (what a bare local part is qualified with). */
const char *resolver_mydomain(const resolver *r);

/* resolver_domain_hosted: the domain (lower case) is delivered here. */
enum resolve_result resolver_domain_hosted(resolver *r, const char *domain);

/* A final destination of an expanded address. */
struct resolve_target {
	char *address; /* the final address (after aliases), canonical */
	char *maildir; /* absolute Maildir path (with /.Folder for folder delivery) */
	long long quota; /* bytes, 0 = none */
};

/* resolver_expand: expands address (canonical, lower-cased domain) into
 * its final targets. NOTFOUND when the address (of a hosted domain) has no
 * mailbox, no alias and no catch-all; TEMP on a map failure or when a limit
 * is passed. *why_r (heap) explains NOTFOUND/TEMP for the log and bounce. */
enum resolve_result resolver_expand(resolver *r, const char *address,
				    struct resolve_target **targets_r, int *count_r,
				    char **why_r);
void resolver_targets_free(struct resolve_target **targets, int count);

/* resolver_check_rcpt: the RCPT TO check: OK when the address is deliverable
 * here (expansion finds at least one mailbox or a non-hosted forward
 * target). Cheaper than a full expansion where it can be. */
enum resolve_result resolver_check_rcpt(resolver *r, const char *address, char **why_r);

/* resolver_mailbox: the Maildir of a mailbox address itself (a login
 * name of pop3d / imapd), from virtual_mailbox_maps only: no aliases, no
 * extensions, no folders. *maildir_r (heap) on OK; *why_r (heap) on
 * NOTFOUND / TEMP. */
enum resolve_result resolver_mailbox(resolver *r, const char *address, char **maildir_r,
				     char **why_r);

/* resolver_mailbox_quota: the Maildir++ quota in bytes of a mailbox
 * address (a login name), as local enforces it: virtual_mailbox_quota_maps,
 * else mailbox_quota; 0 is none. TEMP (*why_r heap) when a map fails. */
enum resolve_result resolver_mailbox_quota(resolver *r, const char *address, long long *quota_r,
					   char **why_r);

/* resolver_relay_domain: the domain (lower case) is in relay_domains (a
 * name or map key equal to it, or ".parent" for one of its parents): this
 * host relays mail for it from anyone. */
enum resolve_result resolver_relay_domain(resolver *r, const char *domain);

/* resolver_relay_recipient: the address of a relay domain may be relayed:
 * OK when relay_recipient_maps is empty or has the address, the address
 * without its extension, or "@domain"; NOTFOUND (with *why_r, heap)
 * when it has none of them; TEMP when a map fails. */
enum resolve_result resolver_relay_recipient(resolver *r, const char *address, char **why_r);

/* resolver_route: where mail for address (canonical, domain lower case)
 * goes, Postfix-style: transport_maps (the address, the address without its
 * extension, its domain, ".parent" domains, "*") first; else a hosted
 * domain is local, a relay domain goes by SMTP to its own MX, and any
 * other to relayhost (or its MX without one). An SMTP route always names
 * its host (the domain, by MX, when the entry gave none). TEMP (with *why_r, heap) when a map fails, an entry is
 * malformed or relayhost is: never a bounce for an admin's typo. *route_r
 * is to be freed with route_clear on OK. */
enum resolve_result resolver_route(resolver *r, const char *address, struct route *route_r,
				   char **why_r);

#endif
