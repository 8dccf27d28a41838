/* dkim_check.c: mailctl check's look at DKIM signing: the settings, and
 * every entry of the text source of each dkim_signing_table map, reported
 * as FILE:LINE of that source: a broken entry, a key file that cannot be
 * read (by mail_owner, under root), is no key or is of another algorithm
 * than the entry says, and one readable by others (a warning). With DNS
 * (mailctl check, not start or reload), each key's selector record is
 * looked up, all at once with a short timeout: a record with another key,
 * or revoked, is an error, a missing one a warning, and when no lookup
 * got an answer the DNS check is skipped with a warning. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dkim.h"
#include "dkim_policy.h"
#include "dns.h"
#include "ev.h"
#include "mailctl.h"
#include "map.h"
#include "mem.h"

#define DNS_CHECK_TIMEOUT_MS 3000

/* A key that loaded, for the DNS check. */
struct checked_key {
	char *where; /* "FILE:LINE" */
	char *domain, *selector;
	dkim_key *key;
	dns_query *query;
	int outcome; /* 0 pending, 1 found, 2 not found, 3 temporary */
	char *problem; /* found: NULL when a record matches */
	struct dkim_check *chk;
};

struct dkim_check {
	struct mailctl *ctl;
	bool have_owner;
	uid_t uid;
	gid_t gid;
	struct checked_key *keys;
	size_t nkeys;
	size_t pending;
};

static int report(const char *path, int line, const char *severity, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int report(const char *path, int line, const char *severity, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: %s: ", path, line, severity);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return strcmp(severity, "error") == 0;
}

/* owner_can_read: whether mail_owner (uid, gid) may read a file of st. */
static bool owner_can_read(const struct dkim_check *chk, const struct stat *st)
{
	if (st->st_uid == chk->uid)
		return (st->st_mode & 0400) != 0;
	if (st->st_gid == chk->gid)
		return (st->st_mode & 0040) != 0;
	return (st->st_mode & 0004) != 0;
}

/* check_file_access: the key file's mode and owner. */
static int check_file_access(struct dkim_check *chk, const char *path, int line,
			     const struct dkim_policy_entry *e)
{
	struct stat st;

	if (stat(e->key_path, &st) < 0)
		return 0; /* the load reports it */
	if (chk->have_owner && !owner_can_read(chk, &st))
		return report(path, line, "error", "%s: key file %s cannot be read by mail_owner "
			      "(owner %ld, mode %04o)", e->selector, e->key_path,
			      (long)st.st_uid, (unsigned)(st.st_mode & 07777));
	if (st.st_mode & 0044)
		report(path, line, "warning", "%s: key file %s is readable by others (mode %04o): "
		       "chmod 600 it", e->selector, e->key_path, (unsigned)(st.st_mode & 07777));
	return 0;
}

static void keep_key(struct dkim_check *chk, const char *path, int line, const char *domain,
		     const struct dkim_policy_entry *e, dkim_key *k)
{
	struct checked_key *ck;

	chk->keys = xrealloc(chk->keys, (chk->nkeys + 1) * sizeof(*chk->keys));
	ck = &chk->keys[chk->nkeys++];
	memset(ck, 0, sizeof(*ck));
	ck->where = xasprintf("%s:%d", path, line);
	ck->domain = xstrdup(domain[0] == '.' ? domain + 1 : domain);
	ck->selector = xstrdup(e->selector);
	ck->key = k;
	ck->chk = chk;
}

/* check_entry: one table entry (map_entry_fn). */
static int check_entry(void *fctx, const char *path, int line, const char *key,
		       const char *value)
{
	struct dkim_check *chk = fctx;
	struct dkim_policy_entry *e = NULL;
	char *err = NULL;
	size_t n = 0;
	int errors = 0;

	if (dkim_policy_parse_value(value, chk->ctl->config_dir, &e, &n, &err) < 0) {
		errors = report(path, line, "error", "%s: %s", key, err);
		free(err);
		return errors;
	}
	for (size_t i = 0; i < n; i++) {
		dkim_key *k = dkim_policy_load_key(&e[i], &err);

		if (k == NULL) {
			errors += report(path, line, "error", "%s: selector %s: %s", key,
					 e[i].selector, err);
			free(err);
			err = NULL;
			continue;
		}
		errors += check_file_access(chk, path, line, &e[i]);
		keep_key(chk, path, line, key, &e[i], k);
	}
	dkim_policy_entries_free(&e, n);
	return errors;
}

/* ---- the published records ---- */

static void record_answer(void *ctx, const struct dns_result *res)
{
	struct checked_key *ck = ctx;
	const char *why = "not a key record";

	ck->query = NULL;
	ck->chk->pending--;
	if (res->status == DNS_TEMPFAIL) {
		ck->outcome = 3;
		ck->problem = xstrdup(res->error ? res->error : "temporary failure");
		return;
	}
	if (res->status == DNS_NOTFOUND) {
		ck->outcome = 2;
		return;
	}
	ck->outcome = 1;
	for (size_t i = 0; i < res->count; i++) {
		const char *w = NULL;
		int m = dkim_policy_record_matches(ck->key, res->rrs[i].text, res->rrs[i].len, &w);

		if (m == 1)
			return;
		why = w;
	}
	ck->problem = xstrdup(why);
}

/* lookup_all: every selector record, in parallel, until all answered. */
static void lookup_all(struct dkim_check *chk, cfg *c)
{
	struct dns_settings set = { .servers = cfg_get(c, "dns_servers"),
				    .timeout_ms = DNS_CHECK_TIMEOUT_MS,
				    .retries = 1,
				    .cache_max = 0 };
	ev_loop *loop = ev_loop_new();
	char *err = NULL;
	dns_resolver *r = dns_new(loop, &set, &err);

	if (r == NULL) {
		fprintf(stderr, "mailctl: warning: DKIM records not checked: %s\n", err);
		free(err);
		ev_loop_free(&loop);
		return;
	}
	for (size_t i = 0; i < chk->nkeys; i++) {
		struct checked_key *ck = &chk->keys[i];
		char *name = xasprintf("%s._domainkey.%s", ck->selector, ck->domain);

		chk->pending++;
		ck->query = dns_lookup(r, name, DNS_TXT, record_answer, ck);
		free(name);
	}
	while (chk->pending > 0)
		ev_run_once(loop, 100);
	dns_free(&r);
	ev_loop_free(&loop);
}

/* report_records: the DNS findings; errors counted. */
static int report_records(struct dkim_check *chk)
{
	size_t temp = 0;
	int errors = 0;

	for (size_t i = 0; i < chk->nkeys; i++)
		temp += chk->keys[i].outcome == 3;
	if (temp == chk->nkeys && temp > 0) {
		fprintf(stderr, "mailctl: warning: DNS did not answer (%s): published DKIM "
				"records not checked\n", chk->keys[0].problem);
		return 0;
	}
	for (size_t i = 0; i < chk->nkeys; i++) {
		struct checked_key *ck = &chk->keys[i];

		if (ck->outcome == 2)
			fprintf(stderr, "%s: warning: %s: no key record at %s._domainkey.%s: "
					"publish the one 'mailctl dkim txt %s %s' prints\n",
				ck->where, ck->domain, ck->selector, ck->domain, ck->domain,
				ck->selector);
		else if (ck->outcome == 3)
			fprintf(stderr, "%s: warning: %s: record of selector %s not checked: %s\n",
				ck->where, ck->domain, ck->selector, ck->problem);
		else if (ck->problem != NULL) {
			fprintf(stderr, "%s: error: %s: the record published at %s._domainkey.%s "
					"does not match the key file: %s\n",
				ck->where, ck->domain, ck->selector, ck->domain, ck->problem);
			errors++;
		}
	}
	return errors;
}

static void free_keys(struct dkim_check *chk)
{
	for (size_t i = 0; i < chk->nkeys; i++) {
		struct checked_key *ck = &chk->keys[i];

		dkim_key_free(&ck->key);
		free(ck->where);
		free(ck->domain);
		free(ck->selector);
		free(ck->problem);
	}
	free(chk->keys);
}

int check_dkim(struct mailctl *ctl, cfg *c, bool dns)
{
	char **names = cfg_split_list(cfg_get(c, "dkim_signing_table"));
	struct dkim_check chk = { .ctl = ctl };
	char *err = NULL;
	int errors = 0;

	if (dkim_policy_check_settings(c, &err) < 0) {
		fprintf(stderr, "%s/main.cf: error: %s\n", ctl->config_dir, err);
		free(err);
		errors++;
	}
	chk.have_owner = owner_lookup(ctl, &chk.uid, &chk.gid) == 1;
	for (char **n = names; *n != NULL; n++)
		errors += map_each_entry(*n, check_entry, &chk, mailctl_print_diag, NULL);
	cfg_free_list(&names);
	if (dns && chk.nkeys > 0 && cfg_get_bool(c, "dkim_sign")) {
		lookup_all(&chk, c);
		errors += report_records(&chk);
	}
	free_keys(&chk);
	return errors;
}
