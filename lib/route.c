/* route.c: parsers of route.h: next hops ("[host]:port" and friends, for
 * relayhost and the smtp transport) and transport_maps values. Strict on
 * purpose: a typo in an admin's map must be found by mailctl check, not
 * guessed at, and at run time it is a temporary failure of that lookup. */
#include "route.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"

#define ROUTE_HOST_MAX 255

void route_nexthop_clear(struct route_nexthop *hop)
{
	free(hop->host);
	hop->host = NULL;
	hop->port = 0;
	hop->mx = false;
}

void route_clear(struct route *r)
{
	route_nexthop_clear(&r->hop);
	free(r->status);
	free(r->text);
	memset(r, 0, sizeof(*r));
}

/* host_name_ok: letters, digits, '-', '_' and dots between labels. */
static bool host_name_ok(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > ROUTE_HOST_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (++label > 63)
				return false;
		} else
			return false;
	}
	return true;
}

/* literal_ok: what may stand in brackets: a host name or an address. */
static bool literal_ok(const char *s, size_t len, char **host_r)
{
	char tmp[ROUTE_HOST_MAX + 1], addr[16];

	if (len > 5 && strncasecmp(s, "ipv6:", 5) == 0) {
		s += 5;
		len -= 5;
	}
	if (len == 0 || len > ROUTE_HOST_MAX)
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (strchr(tmp, ':') != NULL ? inet_pton(AF_INET6, tmp, addr) != 1
				     : !host_name_ok(tmp, len))
		return false;
	*host_r = xstrdup(tmp);
	return true;
}

static int parse_port(const char *s, int *port_r)
{
	long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (*s - '0');
		if (v > 65535)
			return -1;
	}
	if (v == 0)
		return -1;
	*port_r = (int)v;
	return 0;
}

static int nexthop_error(struct route_nexthop *hop, char **err_r, const char *what,
			 const char *text)
{
	route_nexthop_clear(hop);
	*err_r = xasprintf("next hop \"%s\": %s", text, what);
	return -1;
}

int route_parse_nexthop(const char *text, struct route_nexthop *hop, char **err_r)
{
	const char *port = NULL, *end;
	size_t len;

	memset(hop, 0, sizeof(*hop));
	if (*text == '\0')
		return 0;
	if (text[0] == '[') {
		end = strchr(text, ']');
		if (end == NULL)
			return nexthop_error(hop, err_r, "'[' without ']'", text);
		if (!literal_ok(text + 1, (size_t)(end - text - 1), &hop->host))
			return nexthop_error(hop, err_r, "bad host name or address in brackets", text);
		if (end[1] != '\0' && end[1] != ':')
			return nexthop_error(hop, err_r, "text after ']'", text);
		port = end[1] == ':' ? end + 2 : NULL;
	} else {
		end = strchr(text, ':');
		len = end != NULL ? (size_t)(end - text) : strlen(text);
		if (!host_name_ok(text, len))
			return nexthop_error(hop, err_r, "bad host name (an IPv6 address needs "
							 "brackets)", text);
		hop->host = xstrndup(text, len);
		hop->mx = true;
		port = end != NULL ? end + 1 : NULL;
	}
	if (port != NULL && parse_port(port, &hop->port) < 0)
		return nexthop_error(hop, err_r, "bad port (a number from 1 to 65535)", text);
	return 0;
}

/* digits: the length of a run of 1 to 3 digits at s, else 0. */
static size_t digits(const char *s)
{
	size_t n = 0;

	while (n < 4 && isdigit((unsigned char)s[n]))
		n++;
	return n >= 1 && n <= 3 ? n : 0;
}

/* status_len: the length of an enhanced status "c.ddd.ddd" at s, else 0. */
static size_t status_len(const char *s)
{
	size_t a, b;

	if (!isdigit((unsigned char)s[0]) || s[1] != '.' || (a = digits(s + 2)) == 0 ||
	    s[2 + a] != '.' || (b = digits(s + 3 + a)) == 0)
		return 0;
	return 3 + a + b;
}

/* parse_error_value: "error:[5.x.x ]text". */
static int parse_error_value(const char *rest, struct route *r, char **err_r)
{
	size_t len = status_len(rest);
	const char *p = rest + len;

	r->transport = ROUTE_ERROR;
	if (len > 0 && *p != '\0' && *p != ' ' && *p != '\t')
		len = 0; /* "5.1.1x": text, not a status */
	if (len > 0 && rest[0] != '5') {
		*err_r = xasprintf("error: status %.*s is not a permanent one (5.x.x)", (int)len,
				   rest);
		return -1;
	}
	r->status = len > 0 ? xstrndup(rest, len) : xstrdup("5.0.0");
	p = rest + len;
	p += strspn(p, " \t");
	r->text = xstrdup(p);
	return 0;
}

int route_parse_transport(const char *value, struct route *r, char **err_r)
{
	const char *colon = strchr(value, ':');
	size_t nlen = colon != NULL ? (size_t)(colon - value) : strlen(value);
	const char *rest = colon != NULL ? colon + 1 : "";
	int rc = 0;

	memset(r, 0, sizeof(*r));
	if (nlen == 5 && strncasecmp(value, "error", 5) == 0)
		rc = parse_error_value(rest, r, err_r);
	else if (nlen == 7 && strncasecmp(value, "discard", 7) == 0) {
		r->transport = ROUTE_DISCARD;
		r->text = xstrdup(rest);
	} else if (nlen == 5 && strncasecmp(value, "local", 5) == 0)
		r->transport = ROUTE_LOCAL;
	else if ((nlen == 4 && strncasecmp(value, "smtp", 4) == 0) ||
		 (nlen == 5 && strncasecmp(value, "relay", 5) == 0) || nlen == 0) {
		r->transport = ROUTE_SMTP;
		rc = route_parse_nexthop(rest, &r->hop, err_r);
	} else {
		*err_r = xasprintf("unknown transport \"%.*s\" (local, smtp, relay, error or "
				   "discard)", (int)nlen, value);
		rc = -1;
	}
	if (rc < 0)
		route_clear(r);
	return rc;
}

int route_check_transport(const char *value, char **err_r)
{
	struct route r;

	if (route_parse_transport(value, &r, err_r) < 0)
		return -1;
	route_clear(&r);
	return 0;
}

char *route_nexthop_format(const struct route_nexthop *hop)
{
	const char *open = hop->mx ? "" : "[", *close = hop->mx ? "" : "]";

	if (hop->host == NULL)
		return NULL;
	if (hop->port != 0)
		return xasprintf("%s%s%s:%d", open, hop->host, close, hop->port);
	return xasprintf("%s%s%s", open, hop->host, close);
}
