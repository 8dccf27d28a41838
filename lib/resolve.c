/* resolve.c: the recipient resolver of resolve.h, shared by smtpd (RCPT
 * checks), local (delivery) and qmgr (routing). It owns the maps named by
 * the hosted domain, mailbox, alias, quota, relay domain, relay recipient
 * and transport settings, opened once and kept; a map
 * that cannot be opened answers TEMP and is reopened at most every few
 * seconds, or at once when mailctl changed a map (mapgen.h). It reads no Maildir except to see whether a folder exists.
 *
 * Expansion of one address A (local+ext@domain), in this order:
 *   1. A in virtual_alias_maps: expand each target again (nested);
 *   2. A in virtual_mailbox_maps: a final mailbox;
 *   3. domain not hosted: a forward target (maildir NULL);
 *   4. with an extension: the same for the base local@domain (aliases, then
 *      the mailbox, into folder .ext when folder_delivery allows);
 *   5. the catch-all "@domain" of virtual_alias_maps;
 *   6. postmaster@hosted falls back to postmaster@$mydomain (RFC 5321 4.5.1;
 *      a bare "postmaster" must be qualified by the caller with $mydomain);
 *   7. NOTFOUND.
 * An address already on its own expansion chain (a loop), a target equal to
 * the alias itself ("alice -> alice, bob": keep a copy) and an address at
 * virtual_alias_recursion_limit depth are final: they get their mailbox (or
 * forward) and no further alias expansion, else NOTFOUND. Targets are
 * deduplicated by Maildir (forwards by address). When some targets of a
 * fan-out are unknown and others are not, the known ones are delivered and
 * the unknown ones logged; TEMP anywhere makes the whole expansion TEMP. */
#include "resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "map.h"
#include "mapgen.h"
#include "mem.h"
#include "route.h"

#define RESOLVE_REOPEN_SECS 3
/* Bound on alias lookups per expansion, as a multiple of the expansion
 * limit, so a fan-out of fan-outs cannot take unbounded work. */
#define RESOLVE_WORK_FACTOR 10

/* One configured map: kept open; reopened after a failure. */
struct map_slot {
	char *name;
	map *m;
	time_t last_try; /* CLOCK_MONOTONIC seconds of the last map_open */
	uint64_t gen; /* mapgen_current() at the last map_open */
	char *error;
};

struct map_list {
	struct map_slot *slots;
	int count;
};

/* A domain list setting: plain names and maps whose keys are domains. */
struct domain_set {
	char **names; /* lower case, NULL-terminated */
	size_t count;
	struct map_list maps;
};

struct resolver {
	struct domain_set hosted; /* virtual_mailbox_domains + mydestination */
	struct domain_set relay; /* relay_domains */
	struct map_list relay_rcpt_maps; /* relay_recipient_maps */
	struct map_list transport_maps;
	struct route_nexthop relayhost; /* host NULL: none (direct by MX) */
	char *relayhost_error; /* a malformed relayhost (mailctl check reports it) */
	struct map_list mailbox_maps;
	struct map_list alias_maps;
	struct map_list quota_maps;
	char *base; /* virtual_mailbox_base */
	char *mydomain;
	char *delimiters;
	bool folder_delivery;
	long long default_quota;
	int recursion_limit;
	int expansion_limit;
};

/* ---- map lists ---- */

static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static bool is_map_name(const char *entry)
{
	return strchr(entry, ':') != NULL || strchr(entry, '/') != NULL;
}

static void slot_open(struct map_slot *s)
{
	char *err = NULL;

	s->last_try = mono_now();
	s->gen = mapgen_current();
	s->m = map_open(s->name, &err);
	free(s->error);
	s->error = err;
	if (s->m == NULL)
		log_warn("cannot open map %s: %s (lookups through it fail temporarily)", s->name,
			 err ? err : "unknown error");
}

static void list_add(struct map_list *l, const char *name)
{
	struct map_slot *s;

	l->slots = xrealloc(l->slots, (size_t)(l->count + 1) * sizeof(*l->slots));
	s = &l->slots[l->count++];
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(name);
	slot_open(s);
}

static void list_free(struct map_list *l)
{
	for (int i = 0; i < l->count; i++) {
		map_close(&l->slots[i].m);
		free(l->slots[i].name);
		free(l->slots[i].error);
	}
	free(l->slots);
	l->slots = NULL;
	l->count = 0;
}

/* slot_ready: the map is open, reopening it when the last try is old or
 * the maps changed since. */
static bool slot_ready(struct map_slot *s)
{
	if (s->m == NULL &&
	    (mono_now() - s->last_try >= RESOLVE_REOPEN_SECS || s->gen != mapgen_current()))
		slot_open(s);
	return s->m != NULL;
}

/* list_lookup: the first map that answers wins; a map that fails makes the
 * lookup TEMP (never skipped: that could turn into "user unknown"). */
static enum resolve_result list_lookup(struct map_list *l, const char *key, char **value_r,
				       char **why_r)
{
	const char *value;

	*value_r = NULL;
	for (int i = 0; i < l->count; i++) {
		struct map_slot *s = &l->slots[i];
		enum map_result res;

		if (!slot_ready(s)) {
			*why_r = xasprintf("map %s is unavailable: %s", s->name,
					   s->error ? s->error : "cannot open");
			return RESOLVE_TEMP;
		}
		res = map_lookup(s->m, key, &value);
		if (res == MAP_TEMP) {
			*why_r = xasprintf("map %s lookup failed: %s", s->name, map_error(s->m));
			return RESOLVE_TEMP;
		}
		if (res == MAP_FOUND) {
			*value_r = xstrdup(value);
			return RESOLVE_OK;
		}
	}
	return RESOLVE_NOTFOUND;
}

/* ---- construction ---- */

static void add_domain_entries(struct domain_set *d, const char *list)
{
	char **words = cfg_split_list(list);

	if (d->names == NULL)
		d->names = xcalloc(1, sizeof(char *));
	for (char **w = words; *w != NULL; w++) {
		if (is_map_name(*w)) {
			list_add(&d->maps, *w);
			continue;
		}
		d->names = xrealloc(d->names, (d->count + 2) * sizeof(char *));
		for (char *p = *w; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		d->names[d->count++] = xstrdup(*w);
		d->names[d->count] = NULL;
	}
	cfg_free_list(&words);
}

static void domain_set_free(struct domain_set *d)
{
	cfg_free_list(&d->names);
	list_free(&d->maps);
	d->count = 0;
}

static void add_maps(struct map_list *l, const char *list)
{
	char **words = cfg_split_list(list);

	for (char **w = words; *w != NULL; w++)
		list_add(l, *w);
	cfg_free_list(&words);
}

/* my_domain: $mydomain, or $myhostname without its first label. */
static char *my_domain(cfg *c)
{
	const char *d = cfg_get(c, "mydomain");
	const char *host = cfg_get(c, "myhostname");
	const char *dot = strchr(host, '.');

	if (*d != '\0')
		return xstrdup(d);
	return xstrdup(dot != NULL ? dot + 1 : host);
}

const char *resolver_mydomain(const resolver *r)
{
	return r->mydomain;
}

resolver *resolver_new(cfg *c)
{
	resolver *r = xcalloc(1, sizeof(*r));

	add_domain_entries(&r->hosted, cfg_get(c, "virtual_mailbox_domains"));
	add_domain_entries(&r->hosted, cfg_get(c, "mydestination"));
	add_domain_entries(&r->relay, cfg_get(c, "relay_domains"));
	add_maps(&r->relay_rcpt_maps, cfg_get(c, "relay_recipient_maps"));
	add_maps(&r->transport_maps, cfg_get(c, "transport_maps"));
	if (route_parse_nexthop(cfg_get(c, "relayhost"), &r->relayhost, &r->relayhost_error) < 0)
		log_warn("relayhost: %s (mail that would use it is deferred)", r->relayhost_error);
	add_maps(&r->mailbox_maps, cfg_get(c, "virtual_mailbox_maps"));
	add_maps(&r->alias_maps, cfg_get(c, "virtual_alias_maps"));
	add_maps(&r->quota_maps, cfg_get(c, "virtual_mailbox_quota_maps"));
	r->base = xstrdup(cfg_get(c, "virtual_mailbox_base"));
	r->mydomain = my_domain(c);
	r->delimiters = xstrdup(cfg_get(c, "recipient_delimiter"));
	r->folder_delivery = cfg_get_bool(c, "folder_delivery");
	r->default_quota = cfg_get_int(c, "mailbox_quota");
	r->recursion_limit = (int)cfg_get_int(c, "virtual_alias_recursion_limit");
	r->expansion_limit = (int)cfg_get_int(c, "virtual_alias_expansion_limit");
	return r;
}

void resolver_free(resolver **rp)
{
	resolver *r = *rp;

	if (r == NULL)
		return;
	domain_set_free(&r->hosted);
	domain_set_free(&r->relay);
	list_free(&r->relay_rcpt_maps);
	list_free(&r->transport_maps);
	route_nexthop_clear(&r->relayhost);
	free(r->relayhost_error);
	list_free(&r->mailbox_maps);
	list_free(&r->alias_maps);
	list_free(&r->quota_maps);
	free(r->base);
	free(r->mydomain);
	free(r->delimiters);
	free(r);
	*rp = NULL;
}

/* ---- hosted domains ---- */

static enum resolve_result domain_in(struct domain_set *d, const char *domain, char **why_r)
{
	char *value = NULL;
	enum resolve_result res;

	for (char **n = d->names; *n != NULL; n++)
		if (strcasecmp(*n, domain) == 0)
			return RESOLVE_OK;
	res = list_lookup(&d->maps, domain, &value, why_r);
	free(value);
	return res;
}

static enum resolve_result domain_hosted(resolver *r, const char *domain, char **why_r)
{
	return domain_in(&r->hosted, domain, why_r);
}

enum resolve_result resolver_domain_hosted(resolver *r, const char *domain)
{
	char *why = NULL;
	enum resolve_result res = domain_hosted(r, domain, &why);

	if (res == RESOLVE_TEMP)
		log_warn("hosted domain check for %s: %s", domain, why);
	free(why);
	return res;
}

/* ---- addresses ---- */

/* normalize_address: a target from an alias value: "<>" stripped, a bare
 * local part qualified with $mydomain, the domain lower-cased. NULL when
 * empty. "@dom" (domain rewrite in a catch-all) becomes local@dom. */
static char *normalize_address(const resolver *r, const char *text, const char *orig_local)
{
	size_t len = strlen(text);
	char *addr, *at;

	if (len >= 2 && text[0] == '<' && text[len - 1] == '>') {
		text++;
		len -= 2;
	}
	if (len == 0)
		return NULL;
	if (text[0] == '@')
		addr = xasprintf("%s%.*s", orig_local, (int)len, text);
	else if (memchr(text, '@', len) == NULL)
		addr = xasprintf("%.*s@%s", (int)len, text, r->mydomain);
	else
		addr = xstrndup(text, len);
	at = strrchr(addr, '@');
	for (char *p = at + 1; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return addr;
}

/* split_extension: local+ext@domain -> base local@domain and ext. */
static bool split_extension(const resolver *r, const char *address, char **base_r, char **ext_r)
{
	const char *at = strrchr(address, '@');
	size_t cut;

	if (*r->delimiters == '\0' || at == NULL)
		return false;
	cut = strcspn(address, r->delimiters);
	if (address + cut >= at || cut == 0)
		return false;
	*base_r = xasprintf("%.*s%s", (int)cut, address, at);
	*ext_r = xstrndup(address + cut + 1, (size_t)(at - address - (long)cut - 1));
	return true;
}

/* ---- expansion state ---- */

struct expansion {
	resolver *r;
	struct resolve_target *targets;
	int count;
	char **chain; /* addresses being expanded, outermost first */
	int depth;
	int work; /* alias lookups done */
	int unknown; /* final addresses without a mailbox */
	char *why; /* first NOTFOUND or the TEMP reason */
};

static void set_why(struct expansion *x, char *why)
{
	if (x->why == NULL)
		x->why = why;
	else
		free(why);
}

static bool on_chain(const struct expansion *x, const char *address)
{
	for (int i = 0; i < x->depth; i++)
		if (strcasecmp(x->chain[i], address) == 0)
			return true;
	return false;
}

static bool target_known(const struct expansion *x, const char *address, const char *maildir)
{
	for (int i = 0; i < x->count; i++) {
		const struct resolve_target *t = &x->targets[i];

		if (maildir != NULL && t->maildir != NULL && strcmp(t->maildir, maildir) == 0)
			return true;
		if (maildir == NULL && t->maildir == NULL && strcasecmp(t->address, address) == 0)
			return true;
	}
	return false;
}

static enum resolve_result add_target(struct expansion *x, const char *address, char *maildir,
				      long long quota)
{
	struct resolve_target *t;

	if (target_known(x, address, maildir)) {
		free(maildir);
		return RESOLVE_OK;
	}
	if (x->count >= x->r->expansion_limit) {
		free(maildir);
		free(x->why);
		x->why = xasprintf("alias expansion limit (%d addresses) exceeded",
				   x->r->expansion_limit);
		return RESOLVE_TEMP;
	}
	x->targets = xrealloc(x->targets, (size_t)(x->count + 1) * sizeof(*x->targets));
	t = &x->targets[x->count++];
	t->address = xstrdup(address);
	t->maildir = maildir;
	t->quota = quota;
	return RESOLVE_OK;
}

/* ---- mailboxes ---- */

static bool path_safe(const char *path)
{
	const char *p = path;

	while (*p != '\0') {
		size_t len = strcspn(p, "/");

		if (len == 2 && strncmp(p, "..", 2) == 0)
			return false;
		p += len;
		p += strspn(p, "/");
	}
	return true;
}

/* maildir_path: the absolute Maildir of a mailbox map value. */
static enum resolve_result maildir_path(resolver *r, const char *key, const char *value,
					char **path_r, char **why_r)
{
	size_t len = strlen(value);

	if (len == 0 || value[len - 1] != '/') {
		*why_r = xasprintf("mailbox of %s is '%s': only Maildirs (ending in '/') are "
				   "supported", key, value);
		return RESOLVE_TEMP;
	}
	if (!path_safe(value)) {
		*why_r = xasprintf("mailbox of %s is '%s': '..' is not allowed", key, value);
		return RESOLVE_TEMP;
	}
	while (len > 1 && value[len - 1] == '/')
		len--;
	if (value[0] == '/')
		*path_r = xstrndup(value, len);
	else
		*path_r = xasprintf("%s/%.*s", r->base, (int)len, value);
	return RESOLVE_OK;
}

static enum resolve_result mailbox_quota(resolver *r, const char *key, long long *quota_r,
					 char **why_r)
{
	char *value = NULL, *err = NULL;
	enum resolve_result res = list_lookup(&r->quota_maps, key, &value, why_r);

	*quota_r = r->default_quota;
	if (res != RESOLVE_OK)
		return res == RESOLVE_NOTFOUND ? RESOLVE_OK : res;
	if (cfg_parse_value(cfg_key_find("mailbox_quota"), value, quota_r, &err) < 0) {
		*why_r = xasprintf("quota of %s is '%s': %s", key, value, err);
		res = RESOLVE_TEMP;
	}
	free(err);
	free(value);
	return res;
}

/* folder_path: maildir/.ext when folder delivery applies, else NULL. */
static char *folder_path(const resolver *r, const char *maildir, const char *ext)
{
	struct stat st;
	char *path;

	if (!r->folder_delivery || ext == NULL || *ext == '\0' || ext[0] == '.' ||
	    strchr(ext, '/') != NULL)
		return NULL;
	path = xasprintf("%s/.%s", maildir, ext);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return path;
	free(path);
	return NULL;
}

/* find_mailbox: key's mailbox; NOTFOUND when key has none. */
static enum resolve_result find_mailbox(struct expansion *x, const char *address, const char *key,
					const char *ext)
{
	char *value = NULL, *path = NULL, *why = NULL, *folder;
	long long quota = 0;
	enum resolve_result res = list_lookup(&x->r->mailbox_maps, key, &value, &why);

	if (res == RESOLVE_OK)
		res = maildir_path(x->r, key, value, &path, &why);
	if (res == RESOLVE_OK)
		res = mailbox_quota(x->r, key, &quota, &why);
	free(value);
	if (res == RESOLVE_TEMP) {
		free(path);
		free(x->why);
		x->why = why;
		return res;
	}
	free(why);
	if (res == RESOLVE_NOTFOUND)
		return res;
	folder = folder_path(x->r, path, ext);
	if (folder != NULL) {
		free(path);
		path = folder;
	}
	return add_target(x, address, path, quota);
}

/* ---- expansion ---- */

static enum resolve_result expand(struct expansion *x, const char *address);

static const char *domain_of(const char *address)
{
	const char *at = strrchr(address, '@');

	return at != NULL ? at + 1 : "";
}

static enum resolve_result hosted(struct expansion *x, const char *address)
{
	char *why = NULL;
	enum resolve_result res = domain_hosted(x->r, domain_of(address), &why);

	if (res == RESOLVE_TEMP) {
		free(x->why);
		x->why = why;
	} else
		free(why);
	return res;
}

/* deliver_final: address gets no further alias expansion: its mailbox (or
 * its base's), a forward when not hosted, else NOTFOUND. */
static enum resolve_result deliver_final(struct expansion *x, const char *address)
{
	char *base = NULL, *ext = NULL;
	enum resolve_result res = find_mailbox(x, address, address, NULL);

	if (res != RESOLVE_NOTFOUND)
		return res;
	res = hosted(x, address);
	if (res == RESOLVE_NOTFOUND)
		return add_target(x, address, NULL, 0);
	if (res == RESOLVE_TEMP)
		return res;
	if (split_extension(x->r, address, &base, &ext))
		res = find_mailbox(x, address, base, ext);
	else
		res = RESOLVE_NOTFOUND;
	free(base);
	free(ext);
	return res;
}

static enum resolve_result note_unknown(struct expansion *x, const char *address)
{
	x->unknown++;
	set_why(x, xasprintf("%s: no such mailbox or alias", address));
	return RESOLVE_NOTFOUND;
}

/* expand_value: the targets of self's alias value. NOTFOUND of one target
 * is counted, not returned; TEMP stops everything. */
static enum resolve_result expand_value(struct expansion *x, const char *self, const char *value)
{
	char **words = cfg_split_list(value);
	const char *at = strrchr(self, '@');
	char *local = xstrndup(self, at ? (size_t)(at - self) : strlen(self));
	enum resolve_result res = RESOLVE_OK;

	for (char **w = words; *w != NULL && res != RESOLVE_TEMP; w++) {
		char *target = normalize_address(x->r, *w, local);

		if (target == NULL)
			continue;
		if (strcasecmp(target, self) == 0)
			res = deliver_final(x, target); /* "alice -> alice, bob" */
		else
			res = expand(x, target);
		if (res == RESOLVE_NOTFOUND)
			note_unknown(x, target);
		free(target);
	}
	free(local);
	cfg_free_list(&words);
	return res == RESOLVE_TEMP ? res : RESOLVE_OK;
}

/* try_alias: key in the alias maps -> expand its value on behalf of self. */
static enum resolve_result try_alias(struct expansion *x, const char *key, const char *self)
{
	char *value = NULL, *why = NULL;
	enum resolve_result res;

	if (++x->work > x->r->expansion_limit * RESOLVE_WORK_FACTOR) {
		free(x->why);
		x->why = xasprintf("alias expansion of too many addresses (%d lookups)", x->work);
		return RESOLVE_TEMP;
	}
	res = list_lookup(&x->r->alias_maps, key, &value, &why);
	if (res == RESOLVE_TEMP) {
		free(x->why);
		x->why = why;
		return res;
	}
	free(why);
	if (res == RESOLVE_OK)
		res = expand_value(x, self, value);
	free(value);
	return res;
}

/* expand_hosted: steps 4-6 of the header comment for a hosted address. */
static enum resolve_result expand_hosted(struct expansion *x, const char *address)
{
	char *base = NULL, *ext = NULL, *catchall, *pm;
	enum resolve_result res = RESOLVE_NOTFOUND;

	if (split_extension(x->r, address, &base, &ext)) {
		res = on_chain(x, base) ? RESOLVE_NOTFOUND : try_alias(x, base, base);
		if (res == RESOLVE_NOTFOUND)
			res = find_mailbox(x, address, base, ext);
	}
	free(base);
	free(ext);
	if (res != RESOLVE_NOTFOUND)
		return res;
	catchall = xasprintf("@%s", domain_of(address));
	res = try_alias(x, catchall, address);
	free(catchall);
	if (res != RESOLVE_NOTFOUND)
		return res;
	pm = xasprintf("postmaster@%s", x->r->mydomain);
	if (strncasecmp(address, "postmaster@", 11) == 0 && strcasecmp(address, pm) != 0 &&
	    !on_chain(x, pm))
		res = expand(x, pm);
	free(pm);
	return res;
}

static enum resolve_result expand_address(struct expansion *x, const char *address)
{
	enum resolve_result res = try_alias(x, address, address);
	if (res != RESOLVE_NOTFOUND)
		return res;
	res = find_mailbox(x, address, address, NULL);
	if (res != RESOLVE_NOTFOUND)
		return res;
	res = hosted(x, address);
	if (res == RESOLVE_NOTFOUND)
		return add_target(x, address, NULL, 0);
	if (res == RESOLVE_TEMP)
		return res;
	return expand_hosted(x, address);
}

static enum resolve_result expand(struct expansion *x, const char *address)
{
	enum resolve_result res;

	if (on_chain(x, address))
		return deliver_final(x, address); /* a loop: the address is final */
	if (x->depth >= x->r->recursion_limit) {
		log_warn("alias expansion of %s: nesting deeper than %d levels: "
			 "delivering to it as it is", address, x->r->recursion_limit);
		return deliver_final(x, address);
	}
	x->chain = xrealloc(x->chain, (size_t)(x->depth + 1) * sizeof(char *));
	x->chain[x->depth++] = xstrdup(address);
	res = expand_address(x, address);
	free(x->chain[--x->depth]);
	return res;
}

enum resolve_result resolver_expand(resolver *r, const char *address,
				    struct resolve_target **targets_r, int *count_r, char **why_r)
{
	struct expansion x = { .r = r };
	char *addr = normalize_address(r, address, "");
	enum resolve_result res;

	*targets_r = NULL;
	*count_r = 0;
	*why_r = NULL;
	if (addr == NULL) {
		*why_r = xstrdup("empty address");
		return RESOLVE_NOTFOUND;
	}
	res = expand(&x, addr);
	if (res != RESOLVE_TEMP && x.count == 0) {
		res = RESOLVE_NOTFOUND;
		if (x.why == NULL)
			x.why = xasprintf("%s: no such mailbox or alias", addr);
	} else if (res != RESOLVE_TEMP) {
		if (x.unknown > 0)
			log_warn("%s: %d alias target(s) unknown, delivering to the others: %s",
				 addr, x.unknown, x.why);
		res = RESOLVE_OK;
	}
	free(x.chain);
	free(addr);
	if (res == RESOLVE_OK) {
		free(x.why);
		*targets_r = x.targets;
		*count_r = x.count;
		return res;
	}
	resolver_targets_free(&x.targets, x.count);
	*why_r = x.why;
	return res;
}

void resolver_targets_free(struct resolve_target **targets, int count)
{
	if (*targets == NULL)
		return;
	for (int i = 0; i < count; i++) {
		free((*targets)[i].address);
		free((*targets)[i].maildir);
	}
	free(*targets);
	*targets = NULL;
}

enum resolve_result resolver_check_rcpt(resolver *r, const char *address, char **why_r)
{
	struct resolve_target *targets;
	int count;
	enum resolve_result res = resolver_expand(r, address, &targets, &count, why_r);

	resolver_targets_free(&targets, count);
	return res;
}

enum resolve_result resolver_mailbox(resolver *r, const char *address, char **maildir_r,
				     char **why_r)
{
	char *addr = normalize_address(r, address, ""), *value = NULL;
	enum resolve_result res;

	*maildir_r = NULL;
	*why_r = NULL;
	if (addr == NULL) {
		*why_r = xstrdup("empty address");
		return RESOLVE_NOTFOUND;
	}
	res = list_lookup(&r->mailbox_maps, addr, &value, why_r);
	if (res == RESOLVE_OK)
		res = maildir_path(r, addr, value, maildir_r, why_r);
	else if (res == RESOLVE_NOTFOUND && *why_r == NULL)
		*why_r = xasprintf("%s: no mailbox", addr);
	free(value);
	free(addr);
	return res;
}

enum resolve_result resolver_mailbox_quota(resolver *r, const char *address, long long *quota_r,
					   char **why_r)
{
	char *addr = normalize_address(r, address, "");
	enum resolve_result res;

	*why_r = NULL;
	*quota_r = r->default_quota;
	if (addr == NULL)
		return RESOLVE_OK;
	res = mailbox_quota(r, addr, quota_r, why_r);
	free(addr);
	return res;
}

/* ---- relaying and routing (route.h) ---- */

/* domain_or_parent: domain itself, then ".parent" entries for each parent
 * domain (".example.com" covers every sub-domain of example.com). */
static enum resolve_result domain_or_parent(struct domain_set *d, const char *domain,
					    char **why_r)
{
	enum resolve_result res = domain_in(d, domain, why_r);

	for (const char *p = strchr(domain, '.'); res == RESOLVE_NOTFOUND && p != NULL;
	     p = strchr(p + 1, '.'))
		res = domain_in(d, p, why_r);
	return res;
}

enum resolve_result resolver_relay_domain(resolver *r, const char *domain)
{
	char *why = NULL;
	enum resolve_result res = domain_or_parent(&r->relay, domain, &why);

	if (res == RESOLVE_TEMP)
		log_warn("relay domain check for %s: %s", domain, why);
	free(why);
	return res;
}

enum resolve_result resolver_relay_recipient(resolver *r, const char *address, char **why_r)
{
	char *value = NULL, *base = NULL, *ext = NULL, *catchall;
	enum resolve_result res;

	*why_r = NULL;
	if (r->relay_rcpt_maps.count == 0)
		return RESOLVE_OK;
	res = list_lookup(&r->relay_rcpt_maps, address, &value, why_r);
	if (res == RESOLVE_NOTFOUND && split_extension(r, address, &base, &ext))
		res = list_lookup(&r->relay_rcpt_maps, base, &value, why_r);
	if (res == RESOLVE_NOTFOUND) {
		catchall = xasprintf("@%s", domain_of(address));
		res = list_lookup(&r->relay_rcpt_maps, catchall, &value, why_r);
		free(catchall);
	}
	if (res == RESOLVE_NOTFOUND)
		*why_r = xasprintf("%s: not in relay_recipient_maps", address);
	free(value);
	free(base);
	free(ext);
	return res;
}

/* transport_entry: the transport_maps value for address: the address,
 * the address without its extension, its domain, then ".parent" domains,
 * then "*". */
static enum resolve_result transport_entry(resolver *r, const char *address, char **value_r,
					   char **key_r, char **why_r)
{
	const char *domain = domain_of(address);
	enum resolve_result res;
	char *base_key = NULL, *ext = NULL;

	*key_r = *value_r = NULL;
	if (r->transport_maps.count == 0)
		return RESOLVE_NOTFOUND; /* the usual case: no keys built per recipient */
	res = list_lookup(&r->transport_maps, address, value_r, why_r);
	*key_r = xstrdup(address);
	if (res == RESOLVE_NOTFOUND && split_extension(r, address, &base_key, &ext)) {
		free(*key_r);
		*key_r = base_key;
		res = list_lookup(&r->transport_maps, base_key, value_r, why_r);
	}
	free(ext);
	for (const char *p = domain; res == RESOLVE_NOTFOUND && p != NULL && *p != '\0';
	     p = strchr(p + 1, '.')) {
		free(*key_r);
		*key_r = xstrdup(p);
		res = list_lookup(&r->transport_maps, p, value_r, why_r);
	}
	if (res == RESOLVE_NOTFOUND) {
		free(*key_r);
		*key_r = xstrdup("*");
		res = list_lookup(&r->transport_maps, "*", value_r, why_r);
	}
	return res;
}

/* default_hop: the recipient's domain by MX; the relayhost when set and
 * the domain is neither hosted here nor a relay domain. */
static enum resolve_result default_hop(resolver *r, const char *domain, bool own_mx,
				       struct route_nexthop *hop, char **why_r)
{
	if (own_mx || (r->relayhost.host == NULL && r->relayhost_error == NULL)) {
		hop->host = xstrdup(domain);
		hop->mx = true;
		return RESOLVE_OK;
	}
	if (r->relayhost_error != NULL) {
		*why_r = xasprintf("relayhost: %s", r->relayhost_error);
		return RESOLVE_TEMP;
	}
	hop->host = xstrdup(r->relayhost.host);
	hop->port = r->relayhost.port;
	hop->mx = r->relayhost.mx;
	return RESOLVE_OK;
}

/* route_by_domain: no transport_maps entry: hosted -> local, a relay
 * domain -> its own MX, anything else -> relayhost or its MX. */
static enum resolve_result route_by_domain(resolver *r, const char *domain,
					   struct route *route_r, char **why_r)
{
	enum resolve_result res = *domain ? domain_hosted(r, domain, why_r) : RESOLVE_OK;

	if (res == RESOLVE_OK) {
		route_r->transport = ROUTE_LOCAL;
		return res;
	}
	if (res == RESOLVE_TEMP)
		return res;
	res = domain_or_parent(&r->relay, domain, why_r);
	if (res == RESOLVE_TEMP)
		return res;
	route_r->transport = ROUTE_SMTP;
	return default_hop(r, domain, res == RESOLVE_OK, &route_r->hop, why_r);
}

/* local_hosted: "local" is for hosted domains only: local would forward
 * any other address straight back into the queue, a loop. */
static enum resolve_result local_hosted(resolver *r, const char *domain, const char *key,
					char **why_r)
{
	enum resolve_result res = *domain ? domain_hosted(r, domain, why_r) : RESOLVE_OK;

	if (res == RESOLVE_NOTFOUND) {
		*why_r = xasprintf("transport_maps entry for %s: local delivery, but %s is not "
				   "a domain hosted here", key, domain);
		res = RESOLVE_TEMP;
	}
	return res;
}

/* route_from_entry: a transport_maps value; an SMTP route without a
 * next hop gets the default one. */
static enum resolve_result route_from_entry(resolver *r, const char *domain, const char *key,
					    const char *value, struct route *route_r,
					    char **why_r)
{
	enum resolve_result res;
	char *err = NULL;

	if (route_parse_transport(value, route_r, &err) < 0) {
		*why_r = xasprintf("transport_maps entry for %s: %s", key, err);
		free(err);
		return RESOLVE_TEMP;
	}
	if (route_r->transport == ROUTE_LOCAL)
		return local_hosted(r, domain, key, why_r);
	if (route_r->transport != ROUTE_SMTP || route_r->hop.host != NULL)
		return RESOLVE_OK;
	res = domain_hosted(r, domain, why_r);
	if (res == RESOLVE_NOTFOUND)
		res = domain_or_parent(&r->relay, domain, why_r);
	if (res == RESOLVE_TEMP)
		return res;
	return default_hop(r, domain, res == RESOLVE_OK, &route_r->hop, why_r);
}

enum resolve_result resolver_route(resolver *r, const char *address, struct route *route_r,
				   char **why_r)
{
	char *value = NULL, *key = NULL;
	enum resolve_result res;

	memset(route_r, 0, sizeof(*route_r));
	*why_r = NULL;
	res = transport_entry(r, address, &value, &key, why_r);
	if (res == RESOLVE_OK)
		res = route_from_entry(r, domain_of(address), key, value, route_r, why_r);
	else if (res == RESOLVE_NOTFOUND)
		res = route_by_domain(r, domain_of(address), route_r, why_r);
	free(value);
	free(key);
	if (res != RESOLVE_OK)
		route_clear(route_r);
	return res;
}
