/* dns.c: the resolver of dns.h. One c-ares channel per resolver; c-ares
 * tells us (sock_state_cb) which sockets to watch and we hand their events
 * back with ares_process_fd; one ev timer follows ares_timeout. Each query
 * also has its own deadline (dns_timeout, all retries included).
 *
 * Lifetime of a query: c-ares has no way to withdraw one question, so a
 * query the caller cancelled (or that met its deadline) stays allocated,
 * with no callback, until c-ares answers or gives up; only then is it
 * freed. Answers found in the cache, and answers c-ares gives from inside
 * ares_query, are handed over from a zero timer so that a callback never
 * runs inside dns_lookup.
 *
 * The cache: at most cache_max answers (FOUND and NOTFOUND, never
 * TEMPFAIL) keyed by type and lower-cased name, each kept for its TTL
 * (the smallest in the answer and its CNAME chain; a negative answer the
 * SOA's minimum, or DNS_NEG_TTL_DEFAULT), at most DNS_TTL_MAX; when full,
 * the oldest entry goes. */
#include "dns_int.h"

#include <arpa/inet.h>
#include <ares.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "mem.h"

#define CACHE_BUCKETS 256

struct dns_sock {
	struct dns_sock *next;
	int fd;
	ev_io *io;
	struct dns_resolver *r;
};

struct cache_entry {
	struct cache_entry *hnext; /* hash chain */
	struct cache_entry *older, *newer; /* age list */
	char *key;
	uint64_t expires_ms;
	struct dns_result *res;
};

struct dns_resolver {
	ev_loop *loop;
	ares_channel channel;
	struct dns_sock *socks;
	ev_timer *timer;
	dns_query *queries; /* every allocated query */
	unsigned timeout_ms;
	unsigned cache_max, cache_count;
	struct cache_entry *buckets[CACHE_BUCKETS];
	struct cache_entry *oldest, *newest;
};

struct dns_query {
	dns_query *prev, *next;
	dns_resolver *r;
	char *asked; /* the name the caller asked for (the cache key's) */
	char *name; /* the name being asked now (a CNAME target later) */
	enum dns_type type;
	unsigned hops;
	uint32_t chain_ttl; /* smallest CNAME TTL of the chain so far */
	dns_cb *cb; /* NULL: nobody waits any more */
	void *ctx;
	bool in_flight; /* c-ares holds a question of ours */
	bool submitting; /* inside ares_query */
	bool delivering;
	ev_timer *deadline, *later;
	struct dns_result *stash; /* answer waiting for the "later" timer */
};

static void timer_update(dns_resolver *r);
static void query_submit(dns_query *q);

/* ---- sockets and timer ---- */

static void sock_event(void *ctx, int fd, int events)
{
	struct dns_sock *s = ctx;
	dns_resolver *r = s->r;

	ares_process_fd(r->channel, (events & (EV_READ | EV_ERROR)) ? fd : ARES_SOCKET_BAD,
			(events & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	timer_update(r);
}

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	dns_resolver *r = data;
	struct dns_sock **sp = &r->socks, *s;
	int events = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);

	while (*sp != NULL && (*sp)->fd != fd)
		sp = &(*sp)->next;
	s = *sp;
	if (events == 0) {
		if (s != NULL) {
			ev_io_remove(&s->io);
			*sp = s->next;
			free(s);
		}
		return;
	}
	if (s != NULL) {
		ev_io_set_events(s->io, events);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->fd = fd;
	s->r = r;
	s->io = ev_io_add(r->loop, fd, events, sock_event, s);
	s->next = r->socks;
	r->socks = s;
}

static void timer_fired(void *ctx)
{
	dns_resolver *r = ctx;

	ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	timer_update(r);
}

/* timer_update: the timer follows c-ares's next timeout. */
static void timer_update(dns_resolver *r)
{
	struct timeval tv, *next = ares_timeout(r->channel, NULL, &tv);
	uint64_t ms;

	if (next == NULL) {
		ev_timer_remove(&r->timer);
		return;
	}
	ms = (uint64_t)next->tv_sec * 1000 + (uint64_t)next->tv_usec / 1000 + 1;
	if (r->timer != NULL)
		ev_timer_reset(r->timer, ms);
	else
		r->timer = ev_timer_add(r->loop, ms, false, timer_fired, r);
}

/* ---- cache ---- */

static unsigned cache_hash(const char *key)
{
	unsigned h = 5381;

	for (; *key != '\0'; key++)
		h = h * 33 + (unsigned char)*key;
	return h % CACHE_BUCKETS;
}

static char *cache_key(const char *name, enum dns_type type)
{
	return xasprintf("%s/%s", dns_type_name(type), name);
}

static void cache_unlink(dns_resolver *r, struct cache_entry *e)
{
	struct cache_entry **hp = &r->buckets[cache_hash(e->key)];

	while (*hp != e)
		hp = &(*hp)->hnext;
	*hp = e->hnext;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		r->oldest = e->newer;
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		r->newest = e->older;
	r->cache_count--;
	free(e->key);
	dns_result_free(&e->res);
	free(e);
}

/* cache_find: the live entry for key, or NULL (an expired one goes). */
static struct cache_entry *cache_find(dns_resolver *r, const char *key)
{
	struct cache_entry *e = r->buckets[cache_hash(key)];

	while (e != NULL && strcmp(e->key, key) != 0)
		e = e->hnext;
	if (e != NULL && e->expires_ms <= ev_now_ms(r->loop)) {
		cache_unlink(r, e);
		e = NULL;
	}
	return e;
}

static void cache_put(dns_resolver *r, const char *name, enum dns_type type,
		      const struct dns_result *res)
{
	char *key;
	struct cache_entry *e;
	unsigned h;

	if (r->cache_max == 0 || res->status == DNS_TEMPFAIL || res->ttl == 0)
		return;
	key = cache_key(name, type);
	if ((e = cache_find(r, key)) != NULL)
		cache_unlink(r, e);
	if (r->cache_count >= r->cache_max)
		cache_unlink(r, r->oldest);
	e = xcalloc(1, sizeof(*e));
	e->key = key;
	e->expires_ms = ev_now_ms(r->loop) + (uint64_t)res->ttl * 1000;
	e->res = dns_result_dup(res);
	h = cache_hash(key);
	e->hnext = r->buckets[h];
	r->buckets[h] = e;
	e->older = r->newest;
	if (r->newest != NULL)
		r->newest->newer = e;
	else
		r->oldest = e;
	r->newest = e;
	r->cache_count++;
}

/* ---- queries ---- */

static void query_destroy(dns_query *q)
{
	dns_resolver *r = q->r;

	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		r->queries = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	ev_timer_remove(&q->deadline);
	ev_timer_remove(&q->later);
	dns_result_free(&q->stash);
	free(q->asked);
	free(q->name);
	free(q);
}

/* query_release: nobody waits any more; freed now or when c-ares lets go. */
static void query_release(dns_query *q)
{
	q->cb = NULL;
	ev_timer_remove(&q->deadline);
	ev_timer_remove(&q->later);
	dns_result_free(&q->stash);
	if (!q->in_flight)
		query_destroy(q);
}

static void query_deliver(dns_query *q, const struct dns_result *res)
{
	dns_cb *cb = q->cb;

	log_debug("dns: %s %s: %s%s%s", dns_type_name(q->type), q->asked,
		  dns_status_name(res->status), res->error != NULL ? ": " : "",
		  res->error != NULL ? res->error : "");
	q->delivering = true;
	cb(q->ctx, res);
	q->delivering = false;
	query_release(q);
}

static void query_later_fired(void *ctx)
{
	dns_query *q = ctx;

	ev_timer_remove(&q->later);
	query_deliver(q, q->stash);
}

/* query_finish: res (heap, taken) is the answer: now, or from a zero
 * timer when we are inside dns_lookup. */
static void query_finish(dns_query *q, struct dns_result *res)
{
	if (q->submitting || q->later != NULL) {
		ev_timer_remove(&q->deadline); /* the answer is there */
		dns_result_free(&q->stash);
		q->stash = res;
		if (q->later == NULL)
			q->later = ev_timer_add(q->r->loop, 0, false, query_later_fired, q);
		return;
	}
	query_deliver(q, res);
	dns_result_free(&res);
}

static void query_deadline_fired(void *ctx)
{
	dns_query *q = ctx;
	char *why = xasprintf("timed out after %u ms", q->r->timeout_ms);

	ev_timer_remove(&q->deadline);
	query_finish(q, dns_result_new(DNS_TEMPFAIL, q->name, why));
	free(why);
}

/* query_answer: what c-ares said, for a query somebody waits for. */
static void query_answer(dns_query *q, int status, unsigned char *abuf, int alen)
{
	struct dns_result *res = NULL;
	char *next = NULL;

	if (status != ARES_SUCCESS && status != ARES_ENODATA && status != ARES_ENOTFOUND) {
		bool bad_name = status == ARES_EBADNAME;

		res = dns_result_new(bad_name ? DNS_NOTFOUND : DNS_TEMPFAIL, q->name,
				     ares_strerror(status));
		res->nxdomain = bad_name;
		query_finish(q, res);
		return;
	}
	switch (dns_msg_read(abuf, alen, status, q->name, q->type, &q->hops, &q->chain_ttl, &res,
			     &next)) {
	case DNS_MSG_FOLLOW:
		free(q->name);
		q->name = next;
		query_submit(q);
		return;
	case DNS_MSG_BAD:
		res = dns_result_new(DNS_TEMPFAIL, q->name, "malformed DNS answer");
		break;
	case DNS_MSG_DONE:
		cache_put(q->r, q->asked, q->type, res);
		break;
	}
	query_finish(q, res);
}

static void query_ares_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	dns_query *q = arg;

	(void)timeouts;
	q->in_flight = false;
	if (q->cb == NULL || status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
		if (q->cb == NULL)
			query_destroy(q);
		return; /* dns_free destroys the rest */
	}
	query_answer(q, status, abuf, alen);
}

static void query_submit(dns_query *q)
{
	bool outer = !q->submitting;

	q->in_flight = true;
	q->submitting = true;
	ares_query(q->r->channel, q->name, 1 /* class IN */, dns_wire_type(q->type), query_ares_done,
		   q);
	if (outer)
		q->submitting = false;
	timer_update(q->r);
}

/* name_normal: lower case, no final dot (the root stays "."). */
static char *name_normal(const char *name)
{
	char *s = xstrdup(name);
	size_t len = strlen(s);

	if (len > 1 && s[len - 1] == '.')
		s[len - 1] = '\0';
	for (char *p = s; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return s;
}

dns_query *dns_lookup(dns_resolver *r, const char *name, enum dns_type type, dns_cb *cb,
		      void *ctx)
{
	dns_query *q = xcalloc(1, sizeof(*q));
	char *key;
	struct cache_entry *e;

	q->r = r;
	q->asked = name_normal(name);
	q->name = xstrdup(q->asked);
	q->type = type;
	q->chain_ttl = DNS_TTL_MAX;
	q->cb = cb;
	q->ctx = ctx;
	q->next = r->queries;
	if (r->queries != NULL)
		r->queries->prev = q;
	r->queries = q;
	key = cache_key(q->asked, type);
	e = cache_find(r, key);
	free(key);
	q->submitting = true;
	if (e != NULL)
		query_finish(q, dns_result_dup(e->res));
	else {
		q->deadline = ev_timer_add(r->loop, r->timeout_ms, false, query_deadline_fired, q);
		query_submit(q);
	}
	q->submitting = false;
	return q;
}

void dns_cancel(dns_query **q)
{
	if (*q == NULL)
		return;
	if (!(*q)->delivering && (*q)->cb != NULL)
		query_release(*q);
	*q = NULL;
}

/* ---- settings ---- */

/* server_word: one dns_servers word into c-ares CSV form in out. */
static int server_word(const char *w, buf *out, char **err_r)
{
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char bin[16];
	const char *port = NULL, *h = w, *close;
	size_t hlen;
	bool v6;

	if (w[0] == '[') {
		close = strchr(w, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			goto bad;
		h = w + 1, hlen = (size_t)(close - h);
		port = close[1] == ':' ? close + 2 : NULL;
	}
	else if (strchr(w, ':') != strrchr(w, ':'))
		hlen = strlen(w); /* bare IPv6 */
	else {
		const char *colon = strchr(w, ':');

		hlen = colon != NULL ? (size_t)(colon - w) : strlen(w);
		port = colon != NULL ? colon + 1 : NULL;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	v6 = inet_pton(AF_INET6, host, bin) == 1;
	if (!v6 && inet_pton(AF_INET, host, bin) != 1)
		goto bad;
	if (port != NULL) {
		char *end;
		long p = strtol(port, &end, 10);

		if (*port < '0' || *port > '9' || *end != '\0' || p < 1 || p > 65535)
			goto bad;
	}
	buf_printf(out, "%s%s%s%s:%s", buf_len(out) > 0 ? "," : "", v6 ? "[" : "", host,
		   v6 ? "]" : "", port != NULL ? port : "53");
	return 0;
bad:
	*err_r = xasprintf("\"%s\" is not an IP address with an optional port", w);
	return -1;
}

int dns_parse_servers(const char *value, char **csv_r, char **err_r)
{
	char **words = cfg_split_list(value != NULL ? value : "");
	buf *out = buf_new(64);
	int rc = 0;

	for (size_t i = 0; words[i] != NULL && rc == 0; i++)
		rc = server_word(words[i], out, err_r);
	cfg_free_list(&words);
	*csv_r = rc == 0 ? xstrdup(buf_cstr(out)) : NULL;
	buf_free(&out);
	return rc;
}

static int channel_init(dns_resolver *r, const struct dns_settings *set, const char *csv,
			char **err_r)
{
	struct ares_options opt;
	unsigned tries = (set->retries > 10 ? 10 : set->retries) + 1;
	int rc;

	memset(&opt, 0, sizeof(opt));
	/* c-ares doubles the wait in each round: t + 2t + 4t ... fits the
	 * deadline (with one server; more servers get the deadline's TEMPFAIL
	 * before their last rounds) */
	opt.timeout = (int)(set->timeout_ms / ((1u << tries) - 1));
	if (opt.timeout < 100)
		opt.timeout = 100;
	opt.tries = (int)tries;
	opt.sock_state_cb = sock_state;
	opt.sock_state_cb_data = r;
	rc = ares_init_options(&r->channel, &opt,
			       ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB);
	if (rc != ARES_SUCCESS) {
		*err_r = xasprintf("cannot start the DNS resolver: %s", ares_strerror(rc));
		return -1;
	}
	if (csv[0] != '\0' && (rc = ares_set_servers_ports_csv(r->channel, csv)) != ARES_SUCCESS) {
		*err_r = xasprintf("dns_servers: %s", ares_strerror(rc));
		ares_destroy(r->channel);
		return -1;
	}
	return 0;
}

dns_resolver *dns_new(ev_loop *loop, const struct dns_settings *set, char **err_r)
{
	dns_resolver *r;
	char *csv, *why = NULL;

	if (dns_parse_servers(set->servers, &csv, &why) < 0) {
		*err_r = xasprintf("dns_servers: %s", why);
		free(why);
		return NULL;
	}
	ares_library_init(ARES_LIB_INIT_ALL);
	r = xcalloc(1, sizeof(*r));
	r->loop = loop;
	r->timeout_ms = set->timeout_ms > 0 ? set->timeout_ms : 1;
	r->cache_max = set->cache_max;
	if (channel_init(r, set, csv, err_r) < 0) {
		free(r);
		r = NULL;
		ares_library_cleanup();
	}
	free(csv);
	return r;
}

dns_resolver *dns_new_from_cfg(ev_loop *loop, cfg *c)
{
	struct dns_settings set = {
		.servers = cfg_get(c, "dns_servers"),
		.timeout_ms = (unsigned)cfg_get_int(c, "dns_timeout") * 1000,
		.retries = (unsigned)cfg_get_int(c, "dns_retries"),
		.cache_max = (unsigned)cfg_get_int(c, "dns_cache_size"),
	};
	char *err = NULL;
	dns_resolver *r = dns_new(loop, &set, &err);

	if (r == NULL)
		log_fatal("%s", err);
	return r;
}

void dns_free(dns_resolver **rp)
{
	dns_resolver *r = *rp;

	if (r == NULL)
		return;
	ares_destroy(r->channel); /* in-flight callbacks: EDESTRUCTION */
	while (r->queries != NULL)
		query_destroy(r->queries);
	while (r->socks != NULL) {
		struct dns_sock *s = r->socks;

		r->socks = s->next;
		ev_io_remove(&s->io);
		free(s);
	}
	ev_timer_remove(&r->timer);
	while (r->oldest != NULL)
		cache_unlink(r, r->oldest);
	free(r);
	ares_library_cleanup();
	*rp = NULL;
}
