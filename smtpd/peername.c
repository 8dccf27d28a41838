/* peername.c: the client's name, as Postfix finds it: the PTR name of its
 * address, kept only when an A (AAAA for IPv6) lookup of that name gives
 * the address back ("forward-confirmed"); anything else is "unknown". The
 * lookup runs on the loop (lib/dns) while the session is held (sess_hold):
 * the "connect from name[addr]" line, the greeting and so the Received:
 * header and the queue file's client field all get the confirmed name.
 * The whole lookup waits at most dns_timeout; smtpd_peername_lookup = no
 * skips it (no resolver is even made). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "log.h"
#include "mem.h"
#include "smtpd.h"

static void peername_forward_done(void *ctx, const struct dns_result *res);

void smtpd_peername_init(struct smtpd_server *srv, cfg *c)
{
	srv->peername_ms = (uint64_t)cfg_get_int(c, "dns_timeout") * 1000;
	srv->peername_lookup = !srv->local_service && cfg_get_bool(c, "smtpd_peername_lookup");
	if (srv->peername_lookup)
		srv->dns = dns_new_from_cfg(srv->loop, c);
}

/* valid_hostname: letters, digits, '-' and '_' in dot-separated labels of
 * 1..63 characters, at most 253 in all, and not all digits and dots (a
 * PTR record that pretends to be an address). */
static bool valid_hostname(const char *name)
{
	size_t label = 0, len = strlen(name);
	bool alpha = false;

	if (len == 0 || len > 253)
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return false;
		if (!isdigit((unsigned char)*p))
			alpha = true;
		if (++label > 63)
			return false;
	}
	return label > 0 && alpha;
}

/* peername_done: the lookup is over; name is the confirmed name or NULL.
 * The session begins now. */
static void peername_done(struct session *s, const char *name)
{
	char *addr = xstrdup(sess_client_addr(s->base));

	ev_timer_remove(&s->peername_timer);
	dns_cancel(&s->peername_query);
	free(s->peername_ptr);
	s->peername_ptr = NULL;
	if (name != NULL) {
		free(s->client_name);
		s->client_name = xstrdup(name);
	}
	sess_set_client(s->base, addr, xasprintf("%s[%s]", s->client_name, addr));
	s->client = sess_client(s->base);
	sess_begin(s->base);
}

static void peername_timeout(void *ctx)
{
	struct session *s = ctx;

	log_warn("%s: client name lookup timed out after %llu ms", sess_client_addr(s->base),
		 (unsigned long long)s->srv->peername_ms);
	peername_done(s, NULL);
}

static void peername_ptr_done(void *ctx, const struct dns_result *res)
{
	struct session *s = ctx;
	const char *addr = sess_client_addr(s->base);
	char *name;

	s->peername_query = NULL;
	if (res->status != DNS_FOUND) {
		if (res->status == DNS_TEMPFAIL)
			log_warn("%s: address to name lookup failed: %s", addr, res->error);
		peername_done(s, NULL);
		return;
	}
	name = xstrdup(res->rrs[0].text);
	for (char *p = name; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!valid_hostname(name)) {
		log_warn("%s: malformed name in its PTR record: \"%.100s\"", addr, name);
		free(name);
		peername_done(s, NULL);
		return;
	}
	s->peername_ptr = name;
	s->peername_query = dns_lookup(s->srv->dns, name,
				       dns_forward_type((const struct sockaddr *)&s->peer),
				       peername_forward_done, s);
}

static void peername_forward_done(void *ctx, const struct dns_result *res)
{
	struct session *s = ctx;

	s->peername_query = NULL;
	if (dns_result_has_addr(res, (const struct sockaddr *)&s->peer)) {
		char *name = s->peername_ptr;

		s->peername_ptr = NULL;
		peername_done(s, name);
		free(name);
		return;
	}
	if (res->status == DNS_TEMPFAIL)
		log_warn("%s: name to address lookup for %s failed: %s", sess_client_addr(s->base),
			 s->peername_ptr, res->error);
	else
		log_warn("%s: hostname %s does not resolve to address %s", sess_client_addr(s->base),
			 s->peername_ptr, sess_client_addr(s->base));
	peername_done(s, NULL);
}

bool smtpd_peername_start(struct session *s)
{
	char name[128];

	if (!s->srv->peername_lookup || !s->have_peer ||
	    dns_reverse_name((const struct sockaddr *)&s->peer, name, sizeof(name)) < 0)
		return false;
	sess_hold(s->base);
	s->peername_timer = ev_timer_add(s->srv->loop, s->srv->peername_ms, false,
					 peername_timeout, s);
	s->peername_query = dns_lookup(s->srv->dns, name, DNS_PTR, peername_ptr_done, s);
	return true;
}

void smtpd_peername_stop(struct session *s)
{
	ev_timer_remove(&s->peername_timer);
	dns_cancel(&s->peername_query);
	free(s->peername_ptr);
	s->peername_ptr = NULL;
}
