/* dns_msg.c: reads one DNS answer (RFC 1035 wire format, names expanded by
 * c-ares) into a dns_result: follows the CNAME chain from the name asked
 * through the answer section, keeps the records of the asked type owned by
 * the chain's end, their smallest TTL, and for negative answers the SOA
 * minimum of the authority section (RFC 2308). We read the message
 * ourselves rather than with ares_parse_*_reply because those drop TTLs
 * (MX, TXT) and do not say where a CNAME chain ends. Also the result's
 * helpers (copy, free, MX order, address match). */
#include "dns_int.h"

#include <arpa/inet.h>
#include <ares.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "mem.h"

enum { T_A = 1, T_CNAME = 5, T_SOA = 6, T_PTR = 12, T_MX = 15, T_TXT = 16, T_AAAA = 28 };

/* One resource record of the message; rdata points into the message. */
struct msg_rr {
	char *owner;
	int type;
	uint32_t ttl;
	const unsigned char *rdata;
	int rdlen;
};

struct msg {
	const unsigned char *buf;
	int len;
	struct msg_rr *an;
	size_t nan;
	bool have_soa;
	uint32_t soa_ttl;
};

static unsigned get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int dns_wire_type(enum dns_type type)
{
	switch (type) {
	case DNS_A: return T_A;
	case DNS_AAAA: return T_AAAA;
	case DNS_MX: return T_MX;
	case DNS_PTR: return T_PTR;
	case DNS_TXT: return T_TXT;
	}
	return 0;
}

/* expand_name: the name at p (heap, no final dot); *next_r past it. */
static char *expand_name(const struct msg *m, const unsigned char *p, const unsigned char **next_r)
{
	char *s = NULL, *copy;
	long enclen = 0;

	if (p >= m->buf + m->len || ares_expand_name(p, m->buf, m->len, &s, &enclen) != ARES_SUCCESS)
		return NULL;
	copy = xstrdup(s);
	ares_free_string(s);
	if (next_r != NULL)
		*next_r = p + enclen;
	return copy;
}

/* read_rr: one record at *pp into rr (owner on the heap). */
static int read_rr(const struct msg *m, const unsigned char **pp, struct msg_rr *rr)
{
	const unsigned char *p = *pp, *end = m->buf + m->len;

	rr->owner = expand_name(m, p, &p);
	if (rr->owner == NULL)
		return -1;
	if (end - p < 10 || end - p - 10 < (long)get16(p + 8)) {
		free(rr->owner);
		return -1;
	}
	rr->type = (int)get16(p);
	rr->ttl = get32(p + 4) & 0x7fffffffu;
	rr->rdlen = (int)get16(p + 8);
	rr->rdata = p + 10;
	*pp = rr->rdata + rr->rdlen;
	return 0;
}

/* read_soa: an authority record; keeps min(TTL, SOA minimum). */
static void read_soa(struct msg *m, const struct msg_rr *rr)
{
	const unsigned char *p = rr->rdata;
	char *mname, *rname;

	mname = expand_name(m, p, &p);
	rname = mname != NULL ? expand_name(m, p, &p) : NULL;
	if (rname != NULL && rr->rdata + rr->rdlen - p >= 20) {
		uint32_t minimum = get32(p + 16);

		m->have_soa = true;
		m->soa_ttl = rr->ttl < minimum ? rr->ttl : minimum;
	}
	free(mname);
	free(rname);
}

static void msg_clear(struct msg *m)
{
	for (size_t i = 0; i < m->nan; i++)
		free(m->an[i].owner);
	free(m->an);
	m->an = NULL;
	m->nan = 0;
}

/* msg_parse: the answer section into m->an, the SOA of the authority. */
static int msg_parse(struct msg *m)
{
	const unsigned char *p = m->buf + 12;
	unsigned qd, an, ns;

	if (m->len < 12)
		return -1;
	qd = get16(m->buf + 4), an = get16(m->buf + 6), ns = get16(m->buf + 8);
	for (unsigned i = 0; i < qd; i++) {
		char *q = expand_name(m, p, &p);

		free(q);
		if (q == NULL || m->buf + m->len - p < 4)
			return -1;
		p += 4;
	}
	m->an = xcalloc(an + 1, sizeof(*m->an));
	for (unsigned i = 0; i < an; i++, m->nan++)
		if (read_rr(m, &p, &m->an[i]) < 0)
			return -1;
	for (unsigned i = 0; i < ns; i++) {
		struct msg_rr rr;

		if (read_rr(m, &p, &rr) < 0)
			return 0; /* the answer section is what matters */
		if (rr.type == T_SOA)
			read_soa(m, &rr);
		free(rr.owner);
	}
	return 0;
}

struct dns_result *dns_result_new(enum dns_status st, const char *name, const char *error)
{
	struct dns_result *res = xcalloc(1, sizeof(*res));

	res->status = st;
	res->name = xstrdup(name != NULL ? name : "");
	res->error = error != NULL ? xstrdup(error) : NULL;
	return res;
}

/* rr_text: TXT character-strings joined; NULL when malformed. */
static int rr_txt(const struct msg_rr *rr, struct dns_rr *out)
{
	buf *b = buf_new((size_t)rr->rdlen + 1);
	const unsigned char *p = rr->rdata, *end = rr->rdata + rr->rdlen;

	while (p < end) {
		if (end - p - 1 < *p) {
			buf_free(&b);
			return -1;
		}
		buf_append(b, p + 1, *p);
		p += 1 + *p;
	}
	out->len = buf_len(b);
	out->text = xmalloc(out->len + 1);
	memcpy(out->text, buf_cstr(b), out->len + 1);
	buf_free(&b);
	return 0;
}

static int rr_addr(const struct msg_rr *rr, int family, struct dns_rr *out)
{
	char text[INET6_ADDRSTRLEN];
	int want = family == AF_INET ? 4 : 16;

	if (rr->rdlen != want)
		return -1;
	out->family = family;
	memcpy(out->addr, rr->rdata, (size_t)want);
	inet_ntop(family, out->addr, text, sizeof(text));
	out->text = xstrdup(text);
	out->len = strlen(text);
	return 0;
}

/* rr_convert: the record's data into out; -1 when malformed. */
static int rr_convert(const struct msg *m, const struct msg_rr *rr, struct dns_rr *out)
{
	memset(out, 0, sizeof(*out));
	switch (rr->type) {
	case T_A: return rr_addr(rr, AF_INET, out);
	case T_AAAA: return rr_addr(rr, AF_INET6, out);
	case T_TXT: return rr_txt(rr, out);
	case T_MX:
		if (rr->rdlen < 3)
			return -1;
		out->pref = get16(rr->rdata);
		out->text = expand_name(m, rr->rdata + 2, NULL);
		break;
	default: /* PTR */
		out->text = expand_name(m, rr->rdata, NULL);
		break;
	}
	if (out->text == NULL)
		return -1;
	out->len = strlen(out->text);
	return 0;
}

static int mx_compare(const void *a, const void *b)
{
	const struct dns_rr *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return x < y ? -1 : x > y; /* stable: original order */
}

/* chain_end: follows CNAMEs from qname through the answer; the end's
 * owner string (inside m) or qname; *ttl_r lowered by each hop. */
static const char *chain_end(const struct msg *m, const char *qname, unsigned *hops,
			     uint32_t *ttl_r)
{
	const char *cur = qname;
	bool moved = true;

	while (moved && *hops < DNS_CHAIN_MAX) {
		moved = false;
		for (size_t i = 0; i < m->nan; i++) {
			const struct msg_rr *rr = &m->an[i];

			if (rr->type != T_CNAME || strcasecmp(rr->owner, cur) != 0)
				continue;
			char *target = expand_name(m, rr->rdata, NULL);

			if (target == NULL)
				return NULL;
			/* keep the string alive in the message: swap it in */
			free(m->an[i].owner);
			m->an[i].owner = target;
			m->an[i].type = -T_CNAME; /* followed: do not use twice */
			cur = target;
			if (rr->ttl < *ttl_r)
				*ttl_r = rr->ttl;
			(*hops)++;
			moved = true;
			break;
		}
	}
	return cur;
}

/* collect: the records of type owned by owner into res. */
static int collect(const struct msg *m, const char *owner, enum dns_type type,
		   struct dns_result *res)
{
	res->rrs = xcalloc(m->nan + 1, sizeof(*res->rrs));
	for (size_t i = 0; i < m->nan; i++) {
		const struct msg_rr *rr = &m->an[i];

		if (rr->type != dns_wire_type(type) || strcasecmp(rr->owner, owner) != 0)
			continue;
		if (rr_convert(m, rr, &res->rrs[res->count]) < 0)
			return -1;
		res->count++;
		if (rr->ttl < res->ttl)
			res->ttl = rr->ttl;
	}
	if (type == DNS_MX && res->count > 0) {
		qsort(res->rrs, res->count, sizeof(*res->rrs), mx_compare);
		res->null_mx = res->count == 1 && res->rrs[0].pref == 0 &&
			       res->rrs[0].text[0] == '\0';
	}
	return 0;
}

static struct dns_result *negative(const struct msg *m, const char *name, bool nxdomain)
{
	struct dns_result *res = dns_result_new(DNS_NOTFOUND, name,
						nxdomain ? "no such domain" : "no data of this type");

	res->nxdomain = nxdomain;
	res->ttl = m->have_soa ? m->soa_ttl : DNS_NEG_TTL_DEFAULT;
	if (res->ttl > DNS_TTL_MAX)
		res->ttl = DNS_TTL_MAX;
	return res;
}

enum dns_msg_outcome dns_msg_read(const unsigned char *abuf, int alen, int ares_status,
				  const char *qname, enum dns_type type, unsigned *chain_hops,
				  uint32_t *chain_ttl, struct dns_result **res_r, char **next_r)
{
	struct msg m = { .buf = abuf, .len = alen };
	const char *end;
	enum dns_msg_outcome out = DNS_MSG_DONE;

	*res_r = NULL;
	if (abuf == NULL || msg_parse(&m) < 0) {
		msg_clear(&m);
		return DNS_MSG_BAD;
	}
	end = chain_end(&m, qname, chain_hops, chain_ttl);
	if (end == NULL)
		out = DNS_MSG_BAD;
	else if (ares_status == ARES_ENOTFOUND || ares_status == ARES_ENODATA)
		*res_r = negative(&m, end, ares_status == ARES_ENOTFOUND);
	else {
		struct dns_result *res = dns_result_new(DNS_FOUND, end, NULL);

		res->ttl = *chain_ttl;
		if (collect(&m, end, type, res) < 0) {
			dns_result_free(&res);
			out = DNS_MSG_BAD;
		}
		else if (res->count > 0)
			*res_r = res;
		else {
			dns_result_free(&res);
			if (strcasecmp(end, qname) != 0 && *chain_hops < DNS_CHAIN_MAX) {
				*next_r = xstrdup(end);
				out = DNS_MSG_FOLLOW;
			}
			else if (strcasecmp(end, qname) != 0)
				*res_r = dns_result_new(DNS_TEMPFAIL, qname, "CNAME chain too long");
			else
				*res_r = negative(&m, end, false);
		}
	}
	if (*res_r != NULL && (*res_r)->ttl > *chain_ttl)
		(*res_r)->ttl = *chain_ttl;
	msg_clear(&m);
	return out;
}

struct dns_result *dns_result_dup(const struct dns_result *res)
{
	struct dns_result *copy = dns_result_new(res->status, res->name, res->error);

	copy->nxdomain = res->nxdomain;
	copy->null_mx = res->null_mx;
	copy->ttl = res->ttl;
	copy->count = res->count;
	copy->rrs = xcalloc(res->count + 1, sizeof(*copy->rrs));
	for (size_t i = 0; i < res->count; i++) {
		copy->rrs[i] = res->rrs[i];
		copy->rrs[i].text = xmalloc(res->rrs[i].len + 1);
		memcpy(copy->rrs[i].text, res->rrs[i].text, res->rrs[i].len + 1);
	}
	return copy;
}

void dns_result_free(struct dns_result **res)
{
	if (*res == NULL)
		return;
	for (size_t i = 0; i < (*res)->count; i++)
		free((*res)->rrs[i].text);
	free((*res)->rrs);
	free((*res)->name);
	free((*res)->error);
	free(*res);
	*res = NULL;
}

bool dns_result_has_addr(const struct dns_result *res, const struct sockaddr *sa)
{
	const unsigned char *want;
	int family = sa->sa_family;

	if (family == AF_INET)
		want = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
	else if (family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		want = a6->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6))
			family = AF_INET, want += 12;
	}
	else
		return false;
	for (size_t i = 0; res->status == DNS_FOUND && i < res->count; i++)
		if (res->rrs[i].family == family &&
		    memcmp(res->rrs[i].addr, want, family == AF_INET ? 4 : 16) == 0)
			return true;
	return false;
}

enum dns_type dns_forward_type(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6 &&
	    !IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)sa)->sin6_addr))
		return DNS_AAAA;
	return DNS_A;
}

/* shuffle_seed: random() seeded once per process (and again in a forked
 * child): unseeded, every process would put equal MX hosts in the same
 * order. */
static void shuffle_seed(void)
{
	static pid_t seeded;
	pid_t pid = getpid();
	unsigned seed;

	if (seeded == pid)
		return;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = (unsigned)time(NULL) ^ ((unsigned)pid << 16);
	srandom(seed);
	seeded = pid;
}

void dns_mx_shuffle(struct dns_result *res)
{
	size_t start = 0;

	shuffle_seed();
	while (start < res->count) {
		size_t end = start + 1;

		while (end < res->count && res->rrs[end].pref == res->rrs[start].pref)
			end++;
		for (size_t i = end - 1; i > start; i--) {
			size_t j = start + (size_t)random() % (i - start + 1);
			struct dns_rr tmp = res->rrs[i];

			res->rrs[i] = res->rrs[j];
			res->rrs[j] = tmp;
		}
		start = end;
	}
}

int dns_reverse_name(const struct sockaddr *sa, char *out, size_t size)
{
	buf *b = buf_new(80);
	int rc = 0;

	if (sa->sa_family == AF_INET) {
		const unsigned char *a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;

		buf_printf(b, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
	}
	else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		const unsigned char *a = a6->s6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a6))
			buf_printf(b, "%u.%u.%u.%u.in-addr.arpa", a[15], a[14], a[13], a[12]);
		else {
			for (int i = 15; i >= 0; i--)
				buf_printf(b, "%x.%x.", a[i] & 0xf, a[i] >> 4);
			buf_puts(b, "ip6.arpa");
		}
	}
	else
		rc = -1;
	if (rc == 0 && buf_len(b) < size)
		memcpy(out, buf_cstr(b), buf_len(b) + 1);
	else
		rc = -1;
	buf_free(&b);
	return rc;
}

const char *dns_status_name(enum dns_status st)
{
	switch (st) {
	case DNS_FOUND: return "found";
	case DNS_NOTFOUND: return "notfound";
	case DNS_TEMPFAIL: return "tempfail";
	}
	return "?";
}

const char *dns_type_name(enum dns_type type)
{
	switch (type) {
	case DNS_A: return "A";
	case DNS_AAAA: return "AAAA";
	case DNS_MX: return "MX";
	case DNS_PTR: return "PTR";
	case DNS_TXT: return "TXT";
	}
	return "?";
}
