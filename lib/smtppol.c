/* smtppol.c: parsers of smtppol.h for the smtp client's TLS policy and
 * SASL settings. Strict: a value that does not parse is an error for
 * mailctl check and, at run time, a deferral of that destination. */
#include "smtppol.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"
#include "mem.h"

static const char *const level_names[] = {
	[SMTPC_TLS_NONE] = "none",     [SMTPC_TLS_MAY] = "may",	      [SMTPC_TLS_ENCRYPT] = "encrypt",
	[SMTPC_TLS_VERIFY] = "verify", [SMTPC_TLS_SECURE] = "secure",
};

int smtppol_parse_level(const char *word, enum smtpc_tls_level *level_r)
{
	for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
		if (strcasecmp(word, level_names[i]) == 0) {
			*level_r = (enum smtpc_tls_level)i;
			return 0;
		}
	return -1;
}

const char *smtppol_level_name(enum smtpc_tls_level level)
{
	return (unsigned)level < sizeof(level_names) / sizeof(level_names[0]) ? level_names[level]
									     : "?";
}

void smtppol_tls_clear(struct smtppol_tls *r)
{
	for (char **m = r->match; m != NULL && *m != NULL; m++)
		free(*m);
	free(r->match);
	r->match = NULL;
	r->level = SMTPC_TLS_NONE;
}

/* parse_match: "match=a:b:c", every name (none empty). */
static int parse_match(const char *attr, struct smtppol_tls *r, char **err_r)
{
	const char *p = attr + strlen("match=");
	size_t n = 0;

	if (r->match != NULL) {
		*err_r = xstrdup("match= given twice");
		return -1;
	}
	r->match = xcalloc(strlen(p) + 2, sizeof(char *));
	for (;;) {
		size_t len = strcspn(p, ":");

		if (len == 0) {
			*err_r = xasprintf("empty name in '%s'", attr);
			return -1;
		}
		r->match[n++] = xstrndup(p, len);
		if (p[len] == '\0')
			return 0;
		p += len + 1;
	}
}

int smtppol_parse_tls(const char *value, struct smtppol_tls *r, char **err_r)
{
	char **words = cfg_split_list(value);
	int rc = 0;

	memset(r, 0, sizeof(*r));
	if (words[0] == NULL || smtppol_parse_level(words[0], &r->level) < 0) {
		*err_r = xasprintf("unknown TLS security level '%s' (none, may, encrypt, verify, secure)",
				   words[0] ? words[0] : "");
		rc = -1;
	}
	for (char **w = words + 1; rc == 0 && *w != NULL; w++) {
		if (strncasecmp(*w, "match=", 6) == 0)
			rc = parse_match(*w, r, err_r);
		else {
			*err_r = xasprintf("unknown TLS policy attribute '%s'", *w);
			rc = -1;
		}
	}
	cfg_free_list(&words);
	if (rc < 0)
		smtppol_tls_clear(r);
	return rc;
}

int smtppol_check_tls(const char *value, char **err_r)
{
	struct smtppol_tls r;

	if (smtppol_parse_tls(value, &r, err_r) < 0)
		return -1;
	smtppol_tls_clear(&r);
	return 0;
}

int smtppol_parse_sasl(const char *value, char **user_r, char **pass_r, char **err_r)
{
	const char *colon = strchr(value, ':');

	*user_r = *pass_r = NULL;
	if (colon == NULL || colon == value) {
		*err_r = xstrdup("expected user:password");
		return -1;
	}
	if (strpbrk(value, " \t") != NULL && strpbrk(value, " \t") < colon) {
		*err_r = xstrdup("white space in the user name");
		return -1;
	}
	*user_r = xstrndup(value, (size_t)(colon - value));
	*pass_r = xstrdup(colon + 1);
	return 0;
}

int smtppol_check_sasl(const char *value, char **err_r)
{
	char *user, *pass;

	if (smtppol_parse_sasl(value, &user, &pass, err_r) < 0)
		return -1;
	free(user);
	free(pass);
	return 0;
}

int smtppol_sasl_plaintext(const char *options, bool *allowed_r, char **err_r)
{
	static const char *const known[] = { "noplaintext", "noanonymous", "noactive",
					     "nodictionary", "mutual_auth", "forward_secrecy" };
	char **words = cfg_split_list(options);
	int rc = 0;

	*allowed_r = true;
	for (char **w = words; rc == 0 && *w != NULL; w++) {
		bool ok = false;

		for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			ok |= strcasecmp(*w, known[k]) == 0;
		if (!ok) {
			*err_r = xasprintf("unknown SASL security option '%s'", *w);
			rc = -1;
		} else if (strcasecmp(*w, "noplaintext") == 0)
			*allowed_r = false;
	}
	cfg_free_list(&words);
	return rc;
}

/* ---- lookup keys ---- */

static void key_add(char ***keys, size_t *n, char *key)
{
	for (size_t i = 0; i < *n; i++)
		if (strcasecmp((*keys)[i], key) == 0) {
			free(key);
			return;
		}
	*keys = xrealloc(*keys, (*n + 2) * sizeof(char *));
	(*keys)[(*n)++] = key;
	(*keys)[*n] = NULL;
}

char **smtppol_tls_keys(const struct route_nexthop *hop)
{
	char **keys = xcalloc(1, sizeof(char *));
	size_t n = 0;
	char *text = route_nexthop_format(hop);

	if (text != NULL)
		key_add(&keys, &n, text);
	if (hop->host != NULL) {
		key_add(&keys, &n, hop->mx ? xstrdup(hop->host) : xasprintf("[%s]", hop->host));
		key_add(&keys, &n, xstrdup(hop->host));
	}
	return keys;
}

char **smtppol_sasl_keys(const struct route_nexthop *hop, const char *server)
{
	char **keys = xcalloc(1, sizeof(char *));
	size_t n = 0;

	if (hop->host != NULL) {
		key_add(&keys, &n, xasprintf("[%s]:%d", hop->host, hop->port ? hop->port : 25));
		key_add(&keys, &n, xasprintf("[%s]", hop->host));
	}
	if (server != NULL && *server != '\0')
		key_add(&keys, &n, xstrdup(server));
	if (hop->host != NULL)
		key_add(&keys, &n, xstrdup(hop->host));
	return keys;
}

void smtppol_keys_free(char ***keys)
{
	if (*keys == NULL)
		return;
	for (char **k = *keys; *k != NULL; k++)
		free(*k);
	free(*keys);
	*keys = NULL;
}
