/* dkim.c: mailctl dkim: the DKIM signing keys. keygen makes a key file
 * (<config_dir>/dkim/DOMAIN.SELECTOR.key, mode 0600, mail_owner's under
 * root), adds it to the first map of dkim_signing_table (set to
 * hash:$config_directory/dkim_signing when empty) and prints the DNS
 * record to publish; list shows the table; txt prints a key's record
 * again; del takes an entry out. The table format and the keys are
 * lib/dkim_policy's; the checks of the keys are in dkim_check.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "dkim.h"
#include "dkim_policy.h"
#include "fsutil.h"
#include "mailctl.h"
#include "mapedit.h"
#include "mem.h"

#define DEFAULT_TABLE "hash:$config_directory/dkim_signing"

/* ---- the table ---- */

/* table_file: the text file of the first map of dkim_signing_table,
 * setting the key first when it is empty (create). 0 or -1 (printed). */
static int table_file(struct mailctl *ctl, bool create, char **path_r, bool *rebuild_r)
{
	char *main_cf, *err = NULL;

	if (create && *cfg_get(mailctl_config(ctl), "dkim_signing_table") == '\0') {
		main_cf = fs_join(ctl->config_dir, "main.cf");
		if (cfg_edit_file(main_cf, "dkim_signing_table", DEFAULT_TABLE, &err) < 0) {
			fprintf(stderr, "mailctl: %s\n", err);
			free(err);
			free(main_cf);
			return -1;
		}
		free(main_cf);
		fprintf(stderr, "mailctl: set dkim_signing_table = %s (run 'mailctl reload' if the "
				"mail system runs)\n", DEFAULT_TABLE);
		cfg_free(&ctl->config);
		ctl->config_errors = 0;
	}
	return admin_first_map(ctl, "dkim_signing_table", path_r, rebuild_r);
}

struct find_ctx {
	const char *domain;
	char *value;
};

static void find_one(void *ctx, const char *key, const char *value)
{
	struct find_ctx *f = ctx;

	if (f->value == NULL && strcmp(key, f->domain) == 0)
		f->value = xstrdup(value);
}

/* table_value: the domain's value in the text file (heap), or NULL when
 * it has none; -1 on errors (printed). */
static int table_value(const char *path, const char *domain, char **value_r)
{
	struct find_ctx f = { domain, NULL };
	char *err = NULL;

	if (mapedit_list(path, find_one, &f, &err) < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
		return -1;
	}
	*value_r = f.value;
	return 0;
}

/* parse_entries: a value as entries; -1 (printed) when it is broken. */
static int parse_entries(struct mailctl *ctl, const char *domain, const char *value,
			 struct dkim_policy_entry **e_r, size_t *n_r)
{
	char *err = NULL;

	if (dkim_policy_parse_value(value, ctl->config_dir, e_r, n_r, &err) == 0)
		return 0;
	fprintf(stderr, "mailctl: the signing table entry of %s is broken: %s\n", domain, err);
	free(err);
	return -1;
}

static const struct dkim_policy_entry *entry_find(const struct dkim_policy_entry *e, size_t n,
						  const char *selector)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(e[i].selector, selector) == 0)
			return &e[i];
	return NULL;
}

/* join_entries: the value of entries e[0..n) less the one skipped (heap),
 * plus extra when it is not NULL. */
static char *join_entries(const struct dkim_policy_entry *e, size_t n, const char *skip,
			  const char *extra)
{
	buf *b = buf_new(256);

	for (size_t i = 0; i < n; i++) {
		char *one;

		if (skip != NULL && strcasecmp(e[i].selector, skip) == 0)
			continue;
		one = dkim_policy_format_entry(e[i].selector, e[i].alg, e[i].key_path);
		buf_printf(b, "%s%s", buf_len(b) ? ", " : "", one);
		free(one);
	}
	if (extra != NULL)
		buf_printf(b, "%s%s", buf_len(b) ? ", " : "", extra);
	return buf_steal_free(&b);
}

/* ---- arguments ---- */

/* check_domain: a lower-cased copy of a valid domain name, or NULL
 * (printed). A leading '.' (an entry for the subdomains) is kept when
 * parent_ok. */
static char *check_domain(const char *name, bool parent_ok)
{
	const char *bare = parent_ok && name[0] == '.' ? name + 1 : name;
	char *d;

	if (!addr_domain_valid(bare, false) || strchr(bare, '.') == NULL) {
		fprintf(stderr, "mailctl: '%s' is not a valid domain name\n", name);
		return NULL;
	}
	d = xstrdup(name);
	for (char *c = d; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return d;
}

static bool check_selector(struct mailctl *ctl, const char *selector)
{
	struct dkim_policy_entry *e = NULL;
	char *value = xasprintf("%s:rsa:x", selector), *err = NULL;
	size_t n = 0;
	int rc = dkim_policy_parse_value(value, ctl->config_dir, &e, &n, &err);

	free(value);
	dkim_policy_entries_free(&e, n);
	if (rc < 0)
		fprintf(stderr, "mailctl: '%s' is not a valid selector (letters, digits, '-', '_', "
				"dots between labels)\n", selector);
	free(err);
	return rc == 0;
}

/* ---- the key file ---- */

static void give_to_owner(struct mailctl *ctl, const char *path)
{
	uid_t uid;
	gid_t gid;

	if (owner_lookup(ctl, &uid, &gid) == 1 && chown(path, uid, gid) < 0)
		fprintf(stderr, "mailctl: warning: cannot give %s to mail_owner: %s\n", path,
			strerror(errno));
}

/* key_dir: <config_dir>/dkim, made 0700 (mail_owner's) when missing. */
static char *key_dir(struct mailctl *ctl)
{
	char *dir = fs_join(ctl->config_dir, "dkim");

	if (mkdir(dir, 0700) == 0) {
		give_to_owner(ctl, dir);
	} else if (errno != EEXIST) {
		fprintf(stderr, "mailctl: cannot create %s: %s\n", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	return dir;
}

/* write_new: text into path, which must not exist: a temporary file of
 * mode 0600 (mail_owner's), fsynced, then linked to path (never over an
 * existing file). 0 or -1 (printed). */
static int write_new(struct mailctl *ctl, const char *path, const char *text)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	size_t len = strlen(text);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600), rc = -1;

	if (fd < 0) {
		fprintf(stderr, "mailctl: cannot create %s: %s\n", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	give_to_owner(ctl, tmp);
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
		fprintf(stderr, "mailctl: cannot write %s: %s\n", tmp, strerror(errno));
	else if (link(tmp, path) < 0)
		fprintf(stderr, "mailctl: cannot create %s: %s\n", path, strerror(errno));
	else
		rc = 0;
	if (rc == 0 && fs_fsync_parent(path) < 0)
		fprintf(stderr, "mailctl: warning: cannot fsync the directory of %s: %s\n", path,
			strerror(errno));
	close(fd);
	unlink(tmp);
	free(tmp);
	return rc;
}

/* print_record: the zone file line for k on stdout. */
static void print_record(const char *domain, const char *selector, const dkim_key *k)
{
	char *rec = dkim_key_txt_record(k);
	char *zone = dkim_policy_zone_record(domain[0] == '.' ? domain + 1 : domain, selector,
					     rec);

	printf("%s\n", zone);
	free(zone);
	free(rec);
}

/* ---- keygen ---- */

struct keygen_args {
	char *domain;
	const char *selector;
	enum dkim_alg alg;
	unsigned bits;
};

static int keygen_parse(struct mailctl *ctl, int argc, char **argv, struct keygen_args *a)
{
	const char *domain = NULL;
	int pos = 0;

	a->alg = DKIM_RSA_SHA256;
	a->bits = 2048;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--ed25519") == 0) {
			a->alg = DKIM_ED25519_SHA256;
		} else if (strcmp(argv[i], "--bits") == 0 && i + 1 < argc) {
			char *end;
			unsigned long v = strtoul(argv[++i], &end, 10);

			if (*end != '\0' || v < 1024 || v > 4096) {
				fprintf(stderr, "mailctl: --bits: 1024 to 4096\n");
				return 2;
			}
			a->bits = (unsigned)v;
		} else if (argv[i][0] == '-' || pos == 2) {
			pos = -1;
			break;
		} else if (pos++ == 0) {
			domain = argv[i];
		} else {
			a->selector = argv[i];
		}
	}
	if (pos != 2) {
		fputs(mailctl_find("dkim")->usage, stderr);
		return 2;
	}
	a->domain = check_domain(domain, true); /* heap from here on */
	if (a->domain == NULL || !check_selector(ctl, a->selector))
		return 1;
	return 0;
}

/* keygen_entry: the new entry in the table (path: its text file). */
static int keygen_entry(struct mailctl *ctl, const char *path, bool rebuild,
			const struct keygen_args *a, const char *key_path, const char *old)
{
	char *entry = dkim_policy_format_entry(a->selector, a->alg, key_path), *err = NULL;
	struct dkim_policy_entry *e = NULL;
	size_t n = 0;
	char *value = entry;
	int rc = 0;

	if (old != NULL) {
		if (parse_entries(ctl, a->domain, old, &e, &n) < 0) {
			free(entry);
			return -1;
		}
		value = join_entries(e, n, NULL, entry);
	}
	mailctl_maps_changed(ctl);
	if (mapedit_set(path, a->domain, value, rebuild, &err) < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
		rc = -1;
	}
	if (value != entry)
		free(value);
	free(entry);
	dkim_policy_entries_free(&e, n);
	return rc;
}

/* keygen_taken: 1 when the domain's entry already has the selector
 * (printed), 0 no, -1 error; *old_r the domain's value (heap or NULL). */
static int keygen_taken(struct mailctl *ctl, const char *path, const struct keygen_args *a,
			char **old_r)
{
	struct dkim_policy_entry *e = NULL;
	size_t n = 0;
	int rc = 0;

	if (table_value(path, a->domain, old_r) < 0)
		return -1;
	if (*old_r == NULL)
		return 0;
	if (parse_entries(ctl, a->domain, *old_r, &e, &n) < 0)
		return -1;
	if (entry_find(e, n, a->selector) != NULL) {
		fprintf(stderr, "mailctl: %s already has the selector %s (see mailctl dkim list)\n",
			a->domain, a->selector);
		rc = 1;
	}
	dkim_policy_entries_free(&e, n);
	return rc;
}

static int dkim_keygen(struct mailctl *ctl, int argc, char **argv)
{
	struct keygen_args a = { 0 };
	char *path = NULL, *old = NULL, *dir = NULL, *key_path = NULL, *name, *pem = NULL,
	     *err = NULL;
	dkim_key *k = NULL;
	bool rebuild;
	int rc = keygen_parse(ctl, argc, argv, &a);

	if (rc != 0)
		goto out;
	rc = 1;
	if (table_file(ctl, true, &path, &rebuild) < 0 || keygen_taken(ctl, path, &a, &old) != 0 ||
	    (dir = key_dir(ctl)) == NULL)
		goto out;
	name = xasprintf("%s.%s.key", a.domain[0] == '.' ? a.domain + 1 : a.domain, a.selector);
	key_path = fs_join(dir, name);
	free(name);
	if (access(key_path, F_OK) == 0) {
		fprintf(stderr, "mailctl: %s exists already: remove it or choose another selector\n",
			key_path);
		goto out;
	}
	if (dkim_policy_keygen(a.alg, a.bits, &pem, &err) < 0 ||
	    (k = dkim_key_load(pem, strlen(pem), &err)) == NULL) {
		fprintf(stderr, "mailctl: %s\n", err);
		goto out;
	}
	if (write_new(ctl, key_path, pem) < 0 || keygen_entry(ctl, path, rebuild, &a, key_path,
							      old) < 0)
		goto out;
	fprintf(stderr, "mailctl: wrote %s (%s", key_path, dkim_alg_name(a.alg));
	if (a.alg == DKIM_RSA_SHA256)
		fprintf(stderr, ", %u bits", a.bits);
	fprintf(stderr, ") and added it to %s for %s; publish this record in DNS:\n", path,
		a.domain);
	print_record(a.domain, a.selector, k);
	rc = 0;
out:
	if (pem != NULL)
		memset(pem, 0, strlen(pem));
	free(pem);
	free(err);
	dkim_key_free(&k);
	free(key_path);
	free(dir);
	free(old);
	free(path);
	free(a.domain);
	return rc;
}

/* ---- list, txt, del ---- */

struct list_ctx {
	struct mailctl *ctl;
	const char *domain; /* NULL: all */
};

static void list_one(void *ctx, const char *key, const char *value)
{
	struct list_ctx *l = ctx;
	struct dkim_policy_entry *e = NULL;
	size_t n = 0;
	char *err = NULL;

	if (l->domain != NULL && strcmp(key, l->domain) != 0)
		return;
	if (dkim_policy_parse_value(value, l->ctl->config_dir, &e, &n, &err) < 0) {
		printf("%s\t(broken entry: %s)\n", key, err);
		free(err);
		return;
	}
	for (size_t i = 0; i < n; i++)
		printf("%s\t%s\t%s\t%s\n", key, e[i].selector, dkim_alg_name(e[i].alg),
		       e[i].key_path);
	dkim_policy_entries_free(&e, n);
}

static int dkim_list(struct mailctl *ctl, int argc, char **argv)
{
	char **names = cfg_split_list(cfg_get(mailctl_config(ctl), "dkim_signing_table"));
	struct list_ctx l = { ctl, argc > 0 ? argv[0] : NULL };
	int rc = 0;

	if (!cfg_get_bool(mailctl_config(ctl), "dkim_sign"))
		fprintf(stderr, "mailctl: note: dkim_sign = no: nothing is signed\n");
	for (char **w = names; *w != NULL; w++) {
		const char *colon = strchr(*w, ':');
		const char *file = colon != NULL ? colon + 1 : *w;
		char *err = NULL;

		if (colon != NULL && strncmp(*w, "hash:", 5) != 0 && strncmp(*w, "texthash:", 9) != 0)
			continue;
		if (access(file, F_OK) < 0 && errno == ENOENT)
			continue;
		if (mapedit_list(file, list_one, &l, &err) < 0) {
			fprintf(stderr, "mailctl: %s\n", err);
			free(err);
			rc = 1;
		}
	}
	cfg_free_list(&names);
	return rc;
}

/* find_entry: the entry of domain and selector in the first map (heap
 * copies in *e_r, *n_r; *hit_r points into them). 0, or 1 (printed). */
static int find_entry(struct mailctl *ctl, const char *domain, const char *selector,
		      char **path_r, bool *rebuild_r, struct dkim_policy_entry **e_r, size_t *n_r,
		      const struct dkim_policy_entry **hit_r)
{
	char *value = NULL;

	if (table_file(ctl, false, path_r, rebuild_r) < 0)
		return 1;
	if (table_value(*path_r, domain, &value) < 0)
		return 1;
	if (value == NULL || parse_entries(ctl, domain, value, e_r, n_r) < 0 ||
	    (*hit_r = entry_find(*e_r, *n_r, selector)) == NULL) {
		if (value != NULL && *e_r != NULL)
			fprintf(stderr, "mailctl: %s has no selector %s\n", domain, selector);
		else if (value == NULL)
			fprintf(stderr, "mailctl: %s has no entry in %s\n", domain, *path_r);
		free(value);
		return 1;
	}
	free(value);
	return 0;
}

static int dkim_txt(struct mailctl *ctl, int argc, char **argv)
{
	const struct dkim_policy_entry *hit = NULL;
	struct dkim_policy_entry *e = NULL;
	char *path = NULL, *err = NULL, *domain;
	size_t n = 0;
	bool rebuild;
	dkim_key *k;
	int rc = 1;

	if (argc != 2) {
		fputs(mailctl_find("dkim")->usage, stderr);
		return 2;
	}
	domain = check_domain(argv[0], true);
	if (domain == NULL ||
	    find_entry(ctl, domain, argv[1], &path, &rebuild, &e, &n, &hit) != 0)
		goto out;
	k = dkim_policy_load_key(hit, &err);
	if (k == NULL) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
		goto out;
	}
	print_record(domain, hit->selector, k);
	dkim_key_free(&k);
	rc = 0;
out:
	dkim_policy_entries_free(&e, n);
	free(path);
	free(domain);
	return rc;
}

static int dkim_del(struct mailctl *ctl, int argc, char **argv)
{
	const struct dkim_policy_entry *hit = NULL;
	struct dkim_policy_entry *e = NULL;
	char *path = NULL, *err = NULL, *domain, *value = NULL;
	bool rebuild, purge = argc == 3 && strcmp(argv[2], "--purge") == 0;
	size_t n = 0;
	int rc = 1;

	if (argc != 2 && !purge) {
		fputs(mailctl_find("dkim")->usage, stderr);
		return 2;
	}
	domain = check_domain(argv[0], true);
	if (domain == NULL ||
	    find_entry(ctl, domain, argv[1], &path, &rebuild, &e, &n, &hit) != 0)
		goto out;
	mailctl_maps_changed(ctl);
	value = join_entries(e, n, hit->selector, NULL);
	if ((*value != '\0' ? mapedit_set(path, domain, value, rebuild, &err)
			    : mapedit_del(path, domain, rebuild, &err)) < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
		goto out;
	}
	printf("mailctl: removed selector %s of %s from %s\n", hit->selector, domain, path);
	if (purge && unlink(hit->key_path) == 0)
		printf("mailctl: removed %s\n", hit->key_path);
	else if (purge)
		fprintf(stderr, "mailctl: warning: %s: %s\n", hit->key_path, strerror(errno));
	rc = 0;
out:
	dkim_policy_entries_free(&e, n);
	free(value);
	free(path);
	free(domain);
	return rc;
}

int cmd_dkim(struct mailctl *ctl, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
		return dkim_keygen(ctl, argc - 2, argv + 2);
	if (argc >= 2 && argc <= 3 && strcmp(argv[1], "list") == 0)
		return dkim_list(ctl, argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "txt") == 0)
		return dkim_txt(ctl, argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "del") == 0)
		return dkim_del(ctl, argc - 2, argv + 2);
	fputs(mailctl_find("dkim")->usage, stderr);
	return 2;
}
