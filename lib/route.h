/* route.h: how mail leaves a recipient's hands, Postfix-style: the values
 * of transport_maps ("local", "smtp:[host]:port", "error:5.1.1 text",
 * "discard:text", ...) and of relayhost, parsed into one result that qmgr
 * acts on and the smtp client will take its next hop from. Pure parsing:
 * the lookups (transport_maps, relay_domains, relay_recipient_maps) live
 * in resolve.c beside the hosted-domain ones, which share their maps. */
#ifndef POSTERN_ROUTE_H
#define POSTERN_ROUTE_H

#include <stdbool.h>

enum route_transport {
	ROUTE_LOCAL, /* the local delivery service */
	ROUTE_SMTP, /* out by SMTP to hop */
	ROUTE_ERROR, /* bounce with status and text */
	ROUTE_DISCARD, /* accept and drop, logged with text */
};

/* Where SMTP mail goes next. host NULL: the recipient's domain by MX. */
struct route_nexthop {
	char *host; /* host name or address literal, without brackets */
	int port; /* 0: the default, 25 */
	bool mx; /* look up MX records of host (false for "[host]") */
};

struct route {
	enum route_transport transport;
	struct route_nexthop hop; /* ROUTE_SMTP */
	char *status; /* ROUTE_ERROR: a 5.x.x status; else NULL */
	char *text; /* ROUTE_ERROR, ROUTE_DISCARD: the reason, "" when none */
};

/* route_parse_nexthop: "host", "host:port", "[host]", "[host]:port"
 * (brackets: no MX lookup; "[ipv6:2001:db8::1]" or "[2001:db8::1]" for an
 * IPv6 literal) into *hop. "" gives host NULL (the default). Returns 0, or
 * -1 with *err_r (heap); *hop is then cleared. */
int route_parse_nexthop(const char *text, struct route_nexthop *hop, char **err_r);

/* route_parse_transport: a transport_maps value: "local", "smtp" or
 * "relay" with an optional ":nexthop", ":nexthop" alone (smtp), "error",
 * "error:text", "error:5.x.x text", "discard", "discard:text". Returns 0,
 * or -1 with *err_r (heap) and *r cleared. */
int route_parse_transport(const char *value, struct route *r, char **err_r);
/* route_check_transport: the same check without a result (a map value
 * checker for map_check_values). */
int route_check_transport(const char *value, char **err_r);

/* route_nexthop_format: "[host]:port", "host" ... as written (heap);
 * "the recipient domain's MX" style defaults are the caller's business:
 * host NULL gives NULL. */
char *route_nexthop_format(const struct route_nexthop *hop);

void route_nexthop_clear(struct route_nexthop *hop);
void route_clear(struct route *r);

#endif
