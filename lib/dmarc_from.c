/* dmarc_from.c: the author domains of RFC 7489 6.6.1: every address of
 * every From field (lib/mime finds the fields and parses the address
 * lists), each domain converted to its A-label, lower-case form and kept
 * once. Group syntax (RFC 6854) contributes its members. */
#include "dmarc.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "mime.h"

/* add_domain: one address's host; false when it has no usable domain. */
static bool add_domain(struct dmarc_authors *a, const char *host)
{
	buf *b;

	if (host == NULL || *host == '\0' || *host == '[' || strcmp(host, "MISSING_DOMAIN") == 0)
		return false;
	b = buf_new(64);
	if (psl_normalize(host, b) < 0) {
		buf_free(&b);
		return false;
	}
	for (size_t i = 0; i < a->count; i++) {
		if (strcmp(a->domains[i], buf_cstr(b)) == 0) {
			buf_free(&b);
			return true;
		}
	}
	if (a->count == DMARC_MAX_AUTHORS) {
		a->status = DMARC_FROM_TOO_MANY;
		buf_free(&b);
		return true;
	}
	a->domains[a->count++] = buf_steal_free(&b);
	return true;
}

static enum dmarc_from_status settle(struct dmarc_authors *a)
{
	if (a->status == DMARC_FROM_TOO_MANY)
		return a->status;
	if (a->fields == 0)
		a->status = DMARC_FROM_NONE;
	else
		a->status = a->count > 0 ? DMARC_FROM_OK : DMARC_FROM_NO_DOMAIN;
	return a->status;
}

enum dmarc_from_status dmarc_authors_add_field(struct dmarc_authors *a, const char *value,
					       size_t len)
{
	struct mime_addr *addrs = NULL;
	size_t n = mime_addr_parse(value, len, &addrs);

	a->fields++;
	for (size_t i = 0; i < n; i++) {
		/* group start and end entries carry no host */
		if (addrs[i].host == NULL)
			continue;
		a->addresses++;
		add_domain(a, addrs[i].host);
	}
	mime_addr_free(&addrs, n);
	return settle(a);
}

enum dmarc_from_status dmarc_authors_from_header(const char *hdr, size_t len,
						 struct dmarc_authors *a)
{
	mime_msg *m = mime_parse_header(hdr, len);
	const struct mime_part *root = mime_root(m);
	const struct mime_field *f;
	buf *value = buf_new(256);

	memset(a, 0, sizeof(*a));
	for (size_t i = 0; (f = mime_field_find(m, root, "From", i)) != NULL; i++) {
		buf_reset(value);
		mime_field_value(m, f, value);
		dmarc_authors_add_field(a, buf_cstr(value), buf_len(value));
	}
	buf_free(&value);
	mime_free(&m);
	return settle(a);
}

void dmarc_authors_clear(struct dmarc_authors *a)
{
	for (size_t i = 0; i < a->count; i++)
		free(a->domains[i]);
	memset(a, 0, sizeof(*a));
}

const char *dmarc_from_status_name(enum dmarc_from_status st)
{
	switch (st) {
	case DMARC_FROM_OK:
		return "ok";
	case DMARC_FROM_NONE:
		return "no From field";
	case DMARC_FROM_NO_DOMAIN:
		return "no author domain in From";
	case DMARC_FROM_TOO_MANY:
		return "too many author domains in From";
	}
	return "no From field";
}
