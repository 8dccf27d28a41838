/* spf_zone.c: the in-memory test zone of spf_zone.h. It follows the
 * suite's own driver: names are matched without case and without empty
 * labels, a label over 63 bytes or a name under "error." that is not in
 * the zone times out, SPF records are also served as TXT when a name has
 * no TXT record, a bare TIMEOUT makes every type without records time
 * out, and CNAMEs are followed. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "mem.h"
#include "spf_zone.h"

struct spf_zone_query {
	struct spf_zone_query *next;
	char *name;
	enum dns_type type;
	spf_dns_cb *cb;
	void *cb_ctx;
};

struct spf_zone {
	const struct jv *data;
	struct spf_zone_query *head, *tail;
};

spf_zone *spf_zone_new(const struct jv *zonedata)
{
	spf_zone *z = xcalloc(1, sizeof(*z));

	z->data = zonedata;
	return z;
}

static void spf_zone_query_free(struct spf_zone_query *q)
{
	free(q->name);
	free(q);
}

void spf_zone_free(spf_zone **zp)
{
	spf_zone *z = *zp;

	if (z == NULL)
		return;
	while (z->head != NULL) {
		struct spf_zone_query *q = z->head;

		z->head = q->next;
		spf_zone_query_free(q);
	}
	free(z);
	*zp = NULL;
}

/* spf_zone_norm: lower case, no empty labels, no final dot; -1 when a
 * label is over 63 bytes (the suite's driver times out then). */
static int spf_zone_norm(const char *name, buf *out)
{
	const char *p = name;

	while (*p != '\0') {
		size_t l = strcspn(p, ".");

		if (l > 63)
			return -1;
		if (l > 0) {
			if (buf_len(out) > 0)
				buf_putc(out, '.');
			for (size_t i = 0; i < l; i++)
				buf_putc(out, tolower((unsigned char)p[i]));
		}
		p += l;
		if (*p == '.')
			p++;
	}
	return 0;
}

static const struct jv *spf_zone_entry(const spf_zone *z, const char *name)
{
	for (size_t i = 0; i < z->data->count; i++)
		if (strcasecmp(z->data->keys[i], name) == 0)
			return z->data->items[i];
	return NULL;
}

static const char *spf_zone_type_name(enum dns_type t)
{
	static const char *const names[] = { "A", "AAAA", "MX", "PTR", "TXT" };

	return names[t];
}

static void spf_zone_add_rr(struct dns_result *res, enum dns_type type, const struct jv *v)
{
	struct dns_rr *rr;

	res->rrs = xrealloc(res->rrs, (res->count + 1) * sizeof(*res->rrs));
	rr = &res->rrs[res->count++];
	memset(rr, 0, sizeof(*rr));
	if (type == DNS_MX && v->type == JV_ARRAY && v->count == 2) {
		rr->pref = (unsigned)v->items[0]->number;
		rr->text = xstrdup(v->items[1]->str != NULL ? v->items[1]->str : "");
	} else if (v->type == JV_ARRAY) {
		buf *b = buf_new(64);

		for (size_t i = 0; i < v->count; i++)
			if (v->items[i]->type == JV_STRING)
				buf_append(b, v->items[i]->str, v->items[i]->len);
		rr->len = buf_len(b);
		rr->text = buf_steal_free(&b);
	} else {
		/* a TXT string may hold NULs (the suite's null-text test) */
		rr->len = v->str != NULL ? v->len : 0;
		rr->text = xmalloc(rr->len + 1);
		memcpy(rr->text, v->str != NULL ? v->str : "", rr->len);
		rr->text[rr->len] = '\0';
	}
	if (type == DNS_A && inet_pton(AF_INET, rr->text, rr->addr) == 1)
		rr->family = AF_INET;
	if (type == DNS_AAAA && inet_pton(AF_INET6, rr->text, rr->addr) == 1)
		rr->family = AF_INET6;
	if ((type == DNS_MX || type == DNS_PTR) && rr->text[0] != '\0' &&
	    rr->text[strlen(rr->text) - 1] == '.')
		rr->text[strlen(rr->text) - 1] = '\0';
	if (type != DNS_TXT)
		rr->len = strlen(rr->text); /* as lib/dns does: dns_result_dup copies len bytes */
}

static bool spf_zone_has_type(const struct jv *list, const char *tname)
{
	for (size_t i = 0; i < list->count; i++)
		if (list->items[i]->type == JV_OBJECT && jv_get(list->items[i], tname) != NULL)
			return true;
	return false;
}

/* spf_zone_fill: the records of list for type; 1 found a CNAME (its target
 * in *cname_r), 0 done, -1 timeout. */
static int spf_zone_fill(const struct jv *list, enum dns_type type, struct dns_result *res,
			 const char **cname_r)
{
	const char *tname = spf_zone_type_name(type);
	bool spf_as_txt = type == DNS_TXT && !spf_zone_has_type(list, "TXT");

	for (size_t i = 0; i < list->count; i++) {
		const struct jv *r = list->items[i];

		if (r->type == JV_STRING && strcmp(r->str, "TIMEOUT") == 0)
			return res->count == 0 ? -1 : 0;
		if (r->type != JV_OBJECT || r->count != 1)
			continue;

		const char *k = r->keys[0];
		const struct jv *v = r->items[0];
		bool want = strcmp(k, tname) == 0 || (spf_as_txt && strcmp(k, "SPF") == 0);

		if (strcmp(k, "CNAME") == 0 && v->type == JV_STRING) {
			*cname_r = v->str;
			return 1;
		}
		if (!want)
			continue;
		if (v->type == JV_STRING && strcmp(v->str, "TIMEOUT") == 0)
			return -1;
		if (v->type == JV_STRING && strcmp(v->str, "NONE") == 0)
			continue;
		spf_zone_add_rr(res, type, v);
	}
	return 0;
}

struct dns_result *spf_zone_answer(const spf_zone *z, const char *name, enum dns_type type)
{
	struct dns_result *res = xcalloc(1, sizeof(*res));
	buf *norm = buf_new(64);
	int r = 0;

	for (int hops = 0; hops < 8; hops++) {
		const struct jv *list;
		const char *cname = NULL;

		buf_reset(norm);
		if (spf_zone_norm(name, norm) < 0) {
			r = -1;
			break;
		}
		list = spf_zone_entry(z, buf_cstr(norm));
		if (list == NULL || list->type != JV_ARRAY) {
			r = strncmp(buf_cstr(norm), "error.", 6) == 0 ? -1 : 0;
			res->nxdomain = r == 0;
			break;
		}
		r = spf_zone_fill(list, type, res, &cname);
		if (r != 1)
			break;
		name = cname;
	}
	res->name = xstrdup(buf_cstr(norm));
	buf_free(&norm);
	res->status = r < 0 ? DNS_TEMPFAIL : res->count > 0 ? DNS_FOUND : DNS_NOTFOUND;
	if (res->status != DNS_FOUND)
		res->error = xstrdup(r < 0 ? "timeout" : res->nxdomain ? "NXDOMAIN" : "no data");
	return res;
}

static void *spf_zone_lookup(void *ctx, const char *name, enum dns_type type, spf_dns_cb *cb,
			     void *cb_ctx)
{
	spf_zone *z = ctx;
	struct spf_zone_query *q = xcalloc(1, sizeof(*q));

	q->name = xstrdup(name);
	q->type = type;
	q->cb = cb;
	q->cb_ctx = cb_ctx;
	if (z->tail != NULL)
		z->tail->next = q;
	else
		z->head = q;
	z->tail = q;
	return q;
}

static void spf_zone_cancel(void *ctx, void *handle)
{
	spf_zone *z = ctx;
	struct spf_zone_query **pp = &z->head, *prev = NULL;

	for (; *pp != NULL; prev = *pp, pp = &(*pp)->next)
		if (*pp == handle) {
			struct spf_zone_query *q = *pp;

			*pp = q->next;
			if (z->tail == q)
				z->tail = prev;
			spf_zone_query_free(q);
			return;
		}
}

struct spf_dns spf_zone_dns(spf_zone *z)
{
	struct spf_dns d = { spf_zone_lookup, spf_zone_cancel, z };

	return d;
}

size_t spf_zone_run(spf_zone *z)
{
	size_t n = 0;

	while (z->head != NULL) {
		struct spf_zone_query *q = z->head;
		struct dns_result *res;

		z->head = q->next;
		if (z->head == NULL)
			z->tail = NULL;
		res = spf_zone_answer(z, q->name, q->type);
		q->cb(q->cb_ctx, res);
		dns_result_free(&res);
		spf_zone_query_free(q);
		n++;
	}
	return n;
}
