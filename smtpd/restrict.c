/* restrict.c: parsing and evaluating smtpd's restriction lists
 * (restrict.h). A list is a small array of known words; evaluation walks
 * it in order and stops at the first word that permits or rejects. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "restrict.h"

static const struct {
	const char *word;
	enum smtpd_restriction what;
} words[] = {
	{ "permit_mynetworks", R_PERMIT_MYNETWORKS },
	{ "permit_sasl_authenticated", R_PERMIT_SASL_AUTHENTICATED },
	{ "reject_unauth_destination", R_REJECT_UNAUTH_DESTINATION },
	{ "permit_auth_destination", R_PERMIT_AUTH_DESTINATION },
	{ "permit", R_PERMIT },
	{ "reject", R_REJECT },
};

static int lookup_word(const char *word, size_t len, enum smtpd_restriction *what_r)
{
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strlen(words[i].word) == len && strncasecmp(words[i].word, word, len) == 0) {
			*what_r = words[i].what;
			return 0;
		}
	}
	return -1;
}

int smtpd_restrictions_parse(const char *text, struct smtpd_restrictions *r, char **err_r)
{
	static const char seps[] = ", \t\r\n";
	const char *p = text;

	r->items = NULL;
	r->count = 0;
	for (;;) {
		enum smtpd_restriction what;
		size_t len;

		p += strspn(p, seps);
		if (*p == '\0')
			return 0;
		len = strcspn(p, seps);
		if (lookup_word(p, len, &what) < 0) {
			*err_r = xasprintf("unknown restriction \"%.*s\"", (int)len, p);
			smtpd_restrictions_clear(r);
			return -1;
		}
		r->items = xrealloc(r->items, (size_t)(r->count + 1) * sizeof(*r->items));
		r->items[r->count++] = what;
		p += len;
	}
}

void smtpd_restrictions_clear(struct smtpd_restrictions *r)
{
	free(r->items);
	r->items = NULL;
	r->count = 0;
}

static enum smtpd_verdict eval_one(enum smtpd_restriction what, const struct smtpd_facts *f)
{
	switch (what) {
	case R_PERMIT_MYNETWORKS: return f->mynetworks ? SMTPD_PERMIT : SMTPD_DUNNO;
	case R_PERMIT_SASL_AUTHENTICATED: return f->authenticated ? SMTPD_PERMIT : SMTPD_DUNNO;
	case R_REJECT_UNAUTH_DESTINATION: return f->dest_hosted ? SMTPD_DUNNO : SMTPD_REJECT_RELAY;
	case R_PERMIT_AUTH_DESTINATION: return f->dest_hosted ? SMTPD_PERMIT : SMTPD_DUNNO;
	case R_PERMIT: return SMTPD_PERMIT;
	case R_REJECT: return SMTPD_REJECT;
	}
	return SMTPD_DUNNO;
}

enum smtpd_verdict smtpd_restrictions_eval(const struct smtpd_restrictions *r,
					   const struct smtpd_facts *facts)
{
	for (int i = 0; i < r->count; i++) {
		enum smtpd_verdict v = eval_one(r->items[i], facts);
		if (v != SMTPD_DUNNO)
			return v;
	}
	return SMTPD_DUNNO;
}
