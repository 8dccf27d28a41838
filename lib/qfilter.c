/* qfilter.c: the message filters of mailctl queue (see qfilter.h). The
 * age uses cfg_parse_value with a CFG_TIME key, so --older-than reads
 * exactly like a time in main.cf. */
#include "qfilter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"
#include "mem.h"

void qfilter_init(struct qfilter *f)
{
	f->domain = NULL;
	f->sender = NULL;
	f->older_than = -1;
}

bool qfilter_empty(const struct qfilter *f)
{
	return f->domain == NULL && f->sender == NULL && f->older_than < 0;
}

int qfilter_parse_age(const char *text, long long *secs_r, char **err_r)
{
	static const struct cfg_key age = { "--older-than", CFG_TIME, "0", 0, 100LL * 366 * 86400,
					    "message age" };

	return cfg_parse_value(&age, text, secs_r, err_r);
}

/* in_domain: address ends in "@domain" (ASCII case ignored). */
static bool in_domain(const char *address, const char *domain)
{
	const char *at = strrchr(address, '@');

	return at != NULL && strcasecmp(at + 1, domain) == 0;
}

static bool sender_is(const char *sender, const char *want)
{
	bool want_null = *want == '\0' || strcmp(want, "<>") == 0;

	if (sender == NULL || *sender == '\0')
		return want_null;
	return !want_null && strcasecmp(sender, want) == 0;
}

static bool has_domain(const struct q_envelope *env, const char *domain)
{
	for (int i = 0; i < env->nrcpts; i++)
		if (env->rcpts[i].state == Q_RCPT_PENDING && in_domain(env->rcpts[i].address, domain))
			return true;
	return false;
}

bool qfilter_match(const struct qfilter *f, const struct q_envelope *env, time_t now)
{
	if (f->domain != NULL && !has_domain(env, f->domain))
		return false;
	if (f->sender != NULL && !sender_is(env->sender, f->sender))
		return false;
	if (f->older_than >= 0 && (long long)(now - env->arrival) < f->older_than)
		return false;
	return true;
}
