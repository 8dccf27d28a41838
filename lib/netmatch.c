/* netmatch.c: mynetworks-style client address lists. The list is parsed
 * once into an array of (family, network bytes, prefix length) entries;
 * matching compares the leading prefix bits. IPv4 and IPv6 entries are kept
 * apart: an IPv4 client, or an IPv4-mapped IPv6 client (::ffff:a.b.c.d),
 * is compared with the IPv4 entries, a mapped client also with the IPv6
 * ones. Host bits set beyond the prefix ("127.0.0.1/8") are cleared, not
 * refused, as that form is common in real configurations. Hostnames,
 * "!negation" and "type:table" entries are not supported and are errors. */
#include "netmatch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"

struct netmatch_entry {
	int family; /* AF_INET or AF_INET6 */
	unsigned char net[16]; /* 4 bytes used for AF_INET */
	unsigned prefix;
};

struct netmatch {
	struct netmatch_entry *ents;
	size_t count, cap;
};

static const unsigned char mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* ---- bit helpers ---- */

static void mask_bits(unsigned char *bytes, size_t len, unsigned prefix)
{
	for (size_t i = 0; i < len; i++) {
		unsigned keep = prefix >= 8 ? 8 : prefix;

		bytes[i] &= (unsigned char)(0xff00u >> keep);
		prefix -= keep;
	}
}

static bool prefix_equal(const unsigned char *a, const unsigned char *b, unsigned prefix)
{
	size_t whole = prefix / 8;
	unsigned rest = prefix % 8;
	unsigned char mask = (unsigned char)(0xff00u >> rest);

	if (memcmp(a, b, whole) != 0)
		return false;
	return rest == 0 || ((a[whole] ^ b[whole]) & mask) == 0;
}

/* ---- parsing ---- */

/* parse_prefix: decimal 0..max; false on anything else. */
static bool parse_prefix(const char *s, unsigned max, unsigned *prefix_r)
{
	unsigned v = 0;

	if (*s == '\0' || strlen(s) > 3)
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v > max)
		return false;
	*prefix_r = v;
	return true;
}

/* split_entry: "[addr]/len", "addr/len", "[addr]" or "addr" (entry is
 * modified) into address text and prefix text (NULL when absent). */
static const char *split_entry(char *entry, const char **addr_r, const char **prefix_r)
{
	char *slash;

	*prefix_r = NULL;
	if (entry[0] == '[') {
		char *close = strchr(entry, ']');

		if (close == NULL)
			return "missing ]";
		if (close[1] != '\0' && close[1] != '/')
			return "text after ]";
		*close = '\0';
		if (close[1] == '/')
			*prefix_r = close + 2;
		*addr_r = entry + 1;
		return NULL;
	}
	slash = strchr(entry, '/');
	if (slash != NULL) {
		*slash = '\0';
		*prefix_r = slash + 1;
	}
	*addr_r = entry;
	return NULL;
}

/* parse_entry: one list entry into *e; NULL or the reason it is bad. */
static const char *parse_entry(const char *text, struct netmatch_entry *e)
{
	char *copy = xstrdup(text);
	const char *addr = NULL, *prefix = NULL, *why;
	unsigned max;

	memset(e, 0, sizeof(*e));
	why = split_entry(copy, &addr, &prefix);
	if (why == NULL) {
		if (inet_pton(AF_INET, addr, e->net) == 1)
			e->family = AF_INET;
		else if (inet_pton(AF_INET6, addr, e->net) == 1)
			e->family = AF_INET6;
		else
			why = "not a numeric IPv4 or IPv6 address";
	}
	if (why == NULL) {
		max = e->family == AF_INET ? 32 : 128;
		e->prefix = max;
		if (prefix != NULL && !parse_prefix(prefix, max, &e->prefix))
			why = e->family == AF_INET ? "prefix length must be 0..32"
						   : "prefix length must be 0..128";
	}
	if (why == NULL)
		mask_bits(e->net, e->family == AF_INET ? 4 : 16, e->prefix);
	free(copy);
	return why;
}

static void add_entry(netmatch *n, const struct netmatch_entry *e)
{
	if (n->count == n->cap) {
		n->cap = n->cap ? n->cap * 2 : 8;
		n->ents = xrealloc(n->ents, n->cap * sizeof(*n->ents));
	}
	n->ents[n->count++] = *e;
}

static bool is_separator(char ch)
{
	return ch == ',' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

netmatch *netmatch_new(const char *list, char **err_r)
{
	netmatch *n = xcalloc(1, sizeof(*n));
	const char *p = list != NULL ? list : "";

	*err_r = NULL;
	for (;;) {
		struct netmatch_entry e;
		const char *start, *why;
		char *word;

		while (is_separator(*p))
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p != '\0' && !is_separator(*p))
			p++;
		word = xstrndup(start, (size_t)(p - start));
		why = parse_entry(word, &e);
		if (why != NULL) {
			*err_r = xasprintf("bad network entry \"%s\": %s", word, why);
			free(word);
			netmatch_free(&n);
			return NULL;
		}
		free(word);
		add_entry(n, &e);
	}
	return n;
}

void netmatch_free(netmatch **n)
{
	if (*n == NULL)
		return;
	free((*n)->ents);
	free(*n);
	*n = NULL;
}

/* ---- matching ---- */

static bool match_family(const netmatch *n, int family, const unsigned char *bytes)
{
	for (size_t i = 0; i < n->count; i++) {
		const struct netmatch_entry *e = &n->ents[i];

		if (e->family == family && prefix_equal(e->net, bytes, e->prefix))
			return true;
	}
	return false;
}

static bool match_v6(const netmatch *n, const unsigned char *bytes)
{
	if (memcmp(bytes, mapped_prefix, sizeof(mapped_prefix)) == 0 &&
	    match_family(n, AF_INET, bytes + 12))
		return true;
	return match_family(n, AF_INET6, bytes);
}

bool netmatch_match(const netmatch *n, const struct sockaddr *sa)
{
	if (n == NULL || sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

		return match_family(n, AF_INET, (const unsigned char *)&sin->sin_addr);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;

		return match_v6(n, sin6->sin6_addr.s6_addr);
	}
	return false;
}

/* strip_ip: copies ip without brackets, an "IPv6:" tag or a "%zone". */
static char *strip_ip(const char *ip)
{
	size_t len = strlen(ip);
	char *copy, *zone;

	if (len >= 2 && ip[0] == '[' && ip[len - 1] == ']') {
		ip++;
		len -= 2;
	}
	if (len > 5 && strncasecmp(ip, "IPv6:", 5) == 0) {
		ip += 5;
		len -= 5;
	}
	copy = xstrndup(ip, len);
	zone = strchr(copy, '%');
	if (zone != NULL)
		*zone = '\0';
	return copy;
}

bool netmatch_match_str(const netmatch *n, const char *ip)
{
	unsigned char bytes[16];
	char *copy;
	bool found = false;

	if (n == NULL || ip == NULL)
		return false;
	copy = strip_ip(ip);
	if (inet_pton(AF_INET, copy, bytes) == 1)
		found = match_family(n, AF_INET, bytes);
	else if (inet_pton(AF_INET6, copy, bytes) == 1)
		found = match_v6(n, bytes);
	free(copy);
	return found;
}
