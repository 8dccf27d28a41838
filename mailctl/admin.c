/* admin.c: mailctl domain, user and alias: the hosted domains, the virtual
 * mailboxes and the aliases, each kept in the text file behind the first
 * map of its main.cf key (virtual_mailbox_domains, virtual_mailbox_maps,
 * virtual_alias_maps, virtual_mailbox_quota_maps). Every change goes
 * through mapedit (the other lines stay as the admin wrote them) and the
 * .db is rebuilt at once; main() then bumps the map generation, so the
 * running daemons answer from the new maps before mailctl returns.
 * Passwords are in passwd.c (user passwd, user import, add --password-stdin);
 * del removes them here too. Queue commands are in queue.c. */
#include <errno.h>
#include <ftw.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "fsutil.h"
#include "mailctl.h"
#include "map.h"
#include "mapedit.h"
#include "md.h"
#include "mem.h"
#include "mfolder.h"

/* ---- the maps behind the keys ---- */

struct edit_map {
	char *path; /* the text file */
	bool rebuild; /* hash: needs map_build after an edit */
	struct mailctl *ctl; /* told of every edit (mailctl_maps_changed) */
};

static void edit_map_clear(struct edit_map *m)
{
	free(m->path);
	m->path = NULL;
}

/* is_map_name: a word of a list that names a map rather than a domain. */
static bool is_map_name(const char *word)
{
	return strchr(word, ':') != NULL || word[0] == '/';
}

/* map_file_of: the text file of a map name, and whether it is hashed.
 * -1 (printed) for a type mailctl cannot edit. */
static int map_file_of(const char *name, struct edit_map *m)
{
	const char *colon = strchr(name, ':');

	m->rebuild = true;
	if (colon == NULL) {
		m->path = xstrdup(name);
	} else if (strncmp(name, "hash:", 5) == 0) {
		m->path = xstrdup(colon + 1);
	} else if (strncmp(name, "texthash:", 9) == 0) {
		m->path = xstrdup(colon + 1);
		m->rebuild = false;
	} else {
		fprintf(stderr, "mailctl: cannot edit %s: only hash: and texthash: maps are text files\n",
			name);
		return -1;
	}
	if (m->path[0] != '/') {
		fprintf(stderr, "mailctl: cannot edit %s: not an absolute path\n", name);
		edit_map_clear(m);
		return -1;
	}
	return 0;
}

/* find_first_map: the map mailctl edits for a main.cf key: its first
 * map. -1 when there is none (printed unless quiet) or it is not a text map. */
static int find_first_map(struct mailctl *ctl, const char *key, struct edit_map *m, bool quiet)
{
	char **words = cfg_split_list(cfg_get(mailctl_config(ctl), key));
	int rc = -1;

	memset(m, 0, sizeof(*m));
	m->ctl = ctl;
	for (char **w = words; *w != NULL; w++) {
		if (is_map_name(*w)) {
			rc = map_file_of(*w, m);
			break;
		}
	}
	if (!quiet && m->path == NULL && rc < 0 && *words == NULL)
		fprintf(stderr, "mailctl: %s is empty: no map to edit\n", key);
	else if (!quiet && m->path == NULL && rc < 0)
		fprintf(stderr, "mailctl: %s names no map to edit\n", key);
	cfg_free_list(&words);
	return rc;
}

static int first_map(struct mailctl *ctl, const char *key, struct edit_map *m)
{
	return find_first_map(ctl, key, m, false);
}

static int map_set(const struct edit_map *m, const char *key, const char *value)
{
	char *err = NULL;

	mailctl_maps_changed(m->ctl);
	if (mapedit_set(m->path, key, value, m->rebuild, &err) == 0)
		return 0;
	fprintf(stderr, "mailctl: %s\n", err);
	free(err);
	return -1;
}

/* map_del: 1 removed, 0 absent, -1 error (printed). */
static int map_del(const struct edit_map *m, const char *key)
{
	char *err = NULL;
	int rc;

	mailctl_maps_changed(m->ctl);
	rc = mapedit_del(m->path, key, m->rebuild, &err);

	if (rc < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
	}
	return rc;
}

/* map_get: the value of key in the text file (heap) or NULL; -1 error. */
struct get_ctx {
	const char *key;
	char *value;
};

static void get_one(void *ctx, const char *key, const char *value)
{
	struct get_ctx *g = ctx;

	if (g->value == NULL && strcmp(key, g->key) == 0)
		g->value = xstrdup(value);
}

static int map_get(const struct edit_map *m, const char *key, char **value_r)
{
	struct get_ctx g = { key, NULL };
	char *err = NULL;

	if (mapedit_list(m->path, get_one, &g, &err) < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
		return -1;
	}
	*value_r = g.value;
	return 0;
}

/* ---- domains ---- */

/* key_domain: the domain of a map key "user@dom" or "@dom", or NULL. */
static const char *key_domain(const char *key)
{
	const char *at = strrchr(key, '@');

	return at != NULL ? at + 1 : NULL;
}

/* in_list: domain appears in a list key, literally or in one of its maps
 * other than skip (the file mailctl reads directly). 1, 0 or -1. */
static int in_list(struct mailctl *ctl, const char *key, const char *domain, const char *skip)
{
	char **words = cfg_split_list(cfg_get(mailctl_config(ctl), key));
	int found = 0;

	for (char **w = words; *w != NULL && found == 0; w++) {
		struct edit_map m = { 0 };
		char *err = NULL;
		const char *value;
		map *mp;

		if (!is_map_name(*w)) {
			found = strcasecmp(*w, domain) == 0;
			continue;
		}
		if (skip != NULL && map_file_of(*w, &m) == 0 && strcmp(m.path, skip) == 0) {
			edit_map_clear(&m);
			continue;
		}
		edit_map_clear(&m);
		mp = map_open(*w, &err);
		if (mp == NULL) {
			fprintf(stderr, "mailctl: warning: %s: %s\n", key, err);
			free(err);
			continue;
		}
		if (map_lookup(mp, domain, &value) == MAP_FOUND)
			found = 1;
		map_close(&mp);
	}
	cfg_free_list(&words);
	return found;
}

/* domain_hosted: the domain is in the domains file, another map of
 * virtual_mailbox_domains, or mydestination. 1, 0, or -1 (printed). */
static int domain_hosted(struct mailctl *ctl, const char *domain)
{
	struct edit_map m;
	char *value = NULL;
	int rc;

	if (find_first_map(ctl, "virtual_mailbox_domains", &m, true) == 0) {
		rc = map_get(&m, domain, &value);
		free(value);
		if (rc < 0 || value != NULL) {
			edit_map_clear(&m);
			return rc < 0 ? -1 : 1;
		}
	}
	rc = in_list(ctl, "virtual_mailbox_domains", domain, m.path);
	edit_map_clear(&m);
	if (rc == 0)
		rc = in_list(ctl, "mydestination", domain, NULL);
	return rc;
}

static char *lower_dup(const char *s)
{
	char *d = xstrdup(s);

	for (char *p = d; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

/* check_domain: a syntactically valid domain name (no address literal). */
static char *check_domain(const char *text)
{
	if (*text == '\0' || *text == '[' || strchr(text, '@') != NULL ||
	    !addr_domain_valid(text, true)) {
		fprintf(stderr, "mailctl: '%s' is not a valid domain name\n", text);
		return NULL;
	}
	return lower_dup(text);
}

/* Counting a domain's users and aliases (for domain del). */
struct count_ctx {
	const char *domain;
	int count;
	char **keys; /* collected when non-NULL-able: for --force */
	int nkeys;
};

static void count_one(void *ctx, const char *key, const char *value)
{
	struct count_ctx *cc = ctx;
	const char *d = key_domain(key);

	(void)value;
	if (d == NULL || strcmp(d, cc->domain) != 0)
		return;
	cc->count++;
	cc->keys = xrealloc(cc->keys, (size_t)(cc->nkeys + 1) * sizeof(*cc->keys));
	cc->keys[cc->nkeys++] = xstrdup(key);
}

static void count_clear(struct count_ctx *cc)
{
	for (int i = 0; i < cc->nkeys; i++)
		free(cc->keys[i]);
	free(cc->keys);
	cc->keys = NULL;
	cc->nkeys = cc->count = 0;
}

/* domain_members: the keys of domain in the first map of key. */
static int domain_members(struct mailctl *ctl, const char *key, const char *domain,
			  struct count_ctx *cc, struct edit_map *m)
{
	char *err = NULL;

	memset(cc, 0, sizeof(*cc));
	cc->domain = domain;
	if (first_map(ctl, key, m) < 0)
		return 0; /* nothing configured: nothing to count */
	if (mapedit_list(m->path, count_one, cc, &err) < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
		return -1;
	}
	return 0;
}

static int remove_members(const struct edit_map *m, struct count_ctx *cc)
{
	for (int i = 0; i < cc->nkeys; i++)
		if (map_del(m, cc->keys[i]) < 0)
			return -1;
	return 0;
}

int admin_domain_add(struct mailctl *ctl, const char *name)
{
	char *domain = check_domain(name), *value = NULL;
	struct edit_map m = { 0 };
	int rc = 1;

	if (domain == NULL)
		return 1;
	if (first_map(ctl, "virtual_mailbox_domains", &m) < 0 || map_get(&m, domain, &value) < 0)
		goto out;
	if (value != NULL) {
		fprintf(stderr, "mailctl: domain %s already exists\n", domain);
		goto out;
	}
	if (in_list(ctl, "mydestination", domain, NULL) == 1)
		fprintf(stderr, "mailctl: note: %s is also listed in mydestination\n", domain);
	if (map_set(&m, domain, "OK") == 0) {
		printf("mailctl: domain %s added\n", domain);
		rc = 0;
	}
out:
	free(value);
	edit_map_clear(&m);
	free(domain);
	return rc;
}

/* domain_del_members: refuses while users or aliases exist, or removes
 * them with force. 0 go on, 1 refused or failed. */
static int domain_del_members(struct mailctl *ctl, const char *domain, bool force)
{
	struct count_ctx users, aliases, quotas, passwords;
	struct edit_map mu = { 0 }, ma = { 0 }, mq = { 0 }, mp = { 0 };
	int rc = 1;

	if (domain_members(ctl, "virtual_mailbox_maps", domain, &users, &mu) < 0 ||
	    domain_members(ctl, "virtual_alias_maps", domain, &aliases, &ma) < 0 ||
	    domain_members(ctl, "virtual_mailbox_quota_maps", domain, &quotas, &mq) < 0 ||
	    domain_members(ctl, "virtual_passwd_maps", domain, &passwords, &mp) < 0)
		goto out;
	if (!force && users.count + aliases.count > 0) {
		fprintf(stderr,
			"mailctl: domain %s still has %d user%s and %d alias%s; remove them first,\n"
			"or use --force to remove them with the domain (Maildirs are kept)\n",
			domain, users.count, users.count == 1 ? "" : "s", aliases.count,
			aliases.count == 1 ? "" : "es");
		goto out;
	}
	if (remove_members(&mu, &users) < 0 || remove_members(&ma, &aliases) < 0 ||
	    remove_members(&mq, &quotas) < 0 || remove_members(&mp, &passwords) < 0)
		goto out;
	if (users.count + aliases.count > 0)
		printf("mailctl: removed %d user%s and %d alias%s of %s\n", users.count,
		       users.count == 1 ? "" : "s", aliases.count, aliases.count == 1 ? "" : "es",
		       domain);
	rc = 0;
out:
	count_clear(&users);
	count_clear(&aliases);
	count_clear(&quotas);
	count_clear(&passwords);
	edit_map_clear(&mu);
	edit_map_clear(&ma);
	edit_map_clear(&mq);
	edit_map_clear(&mp);
	return rc;
}

static int domain_del(struct mailctl *ctl, const char *name, bool force)
{
	char *domain = check_domain(name);
	struct edit_map m = { 0 };
	char *value = NULL;
	int rc = 1;

	if (domain == NULL)
		return 1;
	if (first_map(ctl, "virtual_mailbox_domains", &m) < 0 || map_get(&m, domain, &value) < 0)
		goto out;
	if (value == NULL) {
		fprintf(stderr, "mailctl: domain %s does not exist in %s\n", domain, m.path);
		goto out;
	}
	if (domain_del_members(ctl, domain, force) != 0)
		goto out;
	if (map_del(&m, domain) >= 0) {
		printf("mailctl: domain %s removed\n", domain);
		rc = 0;
	}
out:
	free(value);
	edit_map_clear(&m);
	free(domain);
	return rc;
}

static void print_key(void *ctx, const char *key, const char *value)
{
	(void)ctx;
	(void)value;
	printf("%s\n", key);
}

static int list_map(struct mailctl *ctl, const char *cfg_key,
		    void (*fn)(void *ctx, const char *key, const char *value), void *ctx)
{
	struct edit_map m;
	char *err = NULL;
	int rc = 0;

	if (first_map(ctl, cfg_key, &m) < 0)
		return 1;
	if (mapedit_list(m.path, fn, ctx, &err) < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
		rc = 1;
	}
	edit_map_clear(&m);
	return rc;
}

/* ---- argument helpers ---- */

struct args {
	const char *pos[4];
	int npos;
	bool force, purge, password, cram;
	const char *quota, *scheme;
};

/* parse_args: positional words after the verb and the known options.
 * -1 (printed) for anything else. */
static int parse_args(int argc, char **argv, struct args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0)
			a->force = true;
		else if (strcmp(argv[i], "--purge") == 0)
			a->purge = true;
		else if (strcmp(argv[i], "--quota") == 0 && i + 1 < argc)
			a->quota = argv[++i];
		else if (strcmp(argv[i], "--password-stdin") == 0)
			a->password = true;
		else if (strcmp(argv[i], "--cram") == 0)
			a->cram = true;
		else if (strcmp(argv[i], "--scheme") == 0 && i + 1 < argc)
			a->scheme = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "mailctl: unknown option %s\n", argv[i]);
			return -1;
		} else if (a->npos < 4)
			a->pos[a->npos++] = argv[i];
		else
			return -1;
	}
	return 0;
}

static int usage(const char *cmd)
{
	fputs(mailctl_find(cmd)->usage, stderr);
	return 2;
}

int cmd_domain(struct mailctl *ctl, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";
	struct args a;

	if (parse_args(argc, argv, &a) < 0 || a.password || a.scheme != NULL || a.cram)
		return usage("domain");
	if (strcmp(verb, "add") == 0 && a.npos == 1)
		return admin_domain_add(ctl, a.pos[0]);
	if (strcmp(verb, "del") == 0 && a.npos == 1)
		return domain_del(ctl, a.pos[0], a.force);
	if (strcmp(verb, "list") == 0 && a.npos == 0)
		return list_map(ctl, "virtual_mailbox_domains", print_key, NULL);
	return usage("domain");
}

/* ---- users ---- */

/* parse_address: user@domain, canonical lookup key (heap) and the parsed
 * form in *a; NULL (printed) when malformed or without a domain. */
static char *parse_address(const char *text, struct addr *a)
{
	const char *why = NULL;

	memset(a, 0, sizeof(*a));
	if (addr_parse(text, true, a, &why) != ADDR_OK || a->domain == NULL ||
	    *a->local == '\0') {
		fprintf(stderr, "mailctl: '%s' is not a valid address%s%s\n", text,
			why != NULL ? ": " : "", why != NULL ? why : "");
		addr_clear(a);
		return NULL;
	}
	return addr_lookup_key(a);
}

/* require_hosted: 0 when the domain is hosted here, else 1 (printed). */
static int require_hosted(struct mailctl *ctl, const char *domain)
{
	int rc = domain_hosted(ctl, domain);

	if (rc == 1)
		return 0;
	if (rc == 0)
		fprintf(stderr,
			"mailctl: domain %s is not hosted here (add it with: mailctl domain add %s)\n",
			domain, domain);
	return 1;
}

char *admin_address_key(const char *text)
{
	struct addr a;
	char *key = parse_address(text, &a);

	if (key != NULL)
		addr_clear(&a);
	return key;
}

int admin_domain_hosted(struct mailctl *ctl, const char *domain)
{
	return domain_hosted(ctl, domain);
}

int admin_user_exists(struct mailctl *ctl, const char *key)
{
	struct edit_map m;
	char *value = NULL;
	int rc;

	if (first_map(ctl, "virtual_mailbox_maps", &m) < 0)
		return -1;
	rc = map_get(&m, key, &value);
	edit_map_clear(&m);
	free(value);
	return rc < 0 ? -1 : value != NULL;
}

int admin_first_map(struct mailctl *ctl, const char *key, char **path_r, bool *rebuild_r)
{
	struct edit_map m;

	if (first_map(ctl, key, &m) < 0)
		return -1;
	*path_r = m.path;
	*rebuild_r = m.rebuild;
	return 0;
}

/* safe_path_part: a local part usable as one directory name. */
static bool safe_path_part(const char *s)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+=?^_`{|}~.-";

	if (*s == '\0' || *s == '.' || strlen(s) > 64)
		return false;
	for (; *s != '\0'; s++)
		if (strchr(ok, *s) == NULL)
			return false;
	return true;
}

/* chown_maildir: under root, hand the new Maildir (and its domain
 * directory) to mail_owner so the daemons, which run as mail_owner, can
 * deliver into it. */
static void chown_maildir(struct mailctl *ctl, const char *domain_dir, const char *maildir)
{
	uid_t uid;
	gid_t gid;

	if (owner_lookup(ctl, &uid, &gid) != 1)
		return;
	if (lchown(domain_dir, uid, gid) < 0)
		fprintf(stderr, "mailctl: warning: cannot give %s to mail_owner: %s\n", domain_dir,
			strerror(errno));
	owner_give_tree(maildir, uid, gid);
}

/* make_maildir: base/domain/user/ with tmp, new, cur, and the
 * special-use folders Sent, Drafts, Trash, Junk and Archive (subscribed)
 * that IMAP clients look for. */
static int make_maildir(struct mailctl *ctl, const char *rel, const char *domain)
{
	const char *base = cfg_get(mailctl_config(ctl), "virtual_mailbox_base");
	char *dir = fs_join(base, rel), *domain_dir = fs_join(base, domain), *err = NULL;
	int rc = md_create(dir, false, &err);

	if (rc == 0)
		rc = mfolder_create_defaults(dir, &err);
	if (rc < 0) {
		fprintf(stderr, "mailctl: cannot create Maildir %s: %s\n", dir, err);
		free(err);
	} else {
		chown_maildir(ctl, domain_dir, dir);
	}
	free(domain_dir);
	free(dir);
	return rc;
}

/* quota_map: the map for quotas, setting virtual_mailbox_quota_maps to
 * hash:$config_directory/quotas first when it is empty. */
static int quota_map(struct mailctl *ctl, struct edit_map *m)
{
	char *path, *err = NULL;

	if (*cfg_get(mailctl_config(ctl), "virtual_mailbox_quota_maps") == '\0') {
		path = fs_join(ctl->config_dir, "main.cf");
		if (cfg_edit_file(path, "virtual_mailbox_quota_maps", "hash:$config_directory/quotas",
				  &err) < 0) {
			fprintf(stderr, "mailctl: %s\n", err);
			free(err);
			free(path);
			return -1;
		}
		free(path);
		printf("mailctl: set virtual_mailbox_quota_maps = hash:$config_directory/quotas\n");
		cfg_free(&ctl->config);
		ctl->config_errors = 0;
	}
	return first_map(ctl, "virtual_mailbox_quota_maps", m);
}

static int set_quota(struct mailctl *ctl, const char *key, const char *quota)
{
	struct edit_map m;
	int rc;

	if (quota_map(ctl, &m) < 0)
		return -1;
	rc = map_set(&m, key, quota);
	edit_map_clear(&m);
	return rc;
}

static int check_quota(const char *text)
{
	long long bytes;
	char *err = NULL;

	if (cfg_parse_value(cfg_key_find("mailbox_quota"), text, &bytes, &err) == 0)
		return 0;
	fprintf(stderr, "mailctl: bad --quota %s: %s\n", text, err);
	free(err);
	return -1;
}

/* user_add_checked: the address is valid and its domain hosted. */
static int user_add_checked(struct mailctl *ctl, const char *key, const struct addr *a,
			    const char *quota)
{
	struct edit_map m;
	char *value = NULL, *rel = NULL;
	int rc = 1;

	if (first_map(ctl, "virtual_mailbox_maps", &m) < 0)
		return 1;
	if (map_get(&m, key, &value) < 0)
		goto out;
	if (value != NULL) {
		fprintf(stderr, "mailctl: user %s already exists (Maildir %s)\n", key, value);
		goto out;
	}
	rel = lower_dup(a->local);
	if (!safe_path_part(rel)) {
		fprintf(stderr, "mailctl: the local part of %s cannot name a Maildir directory\n",
			key);
		goto out;
	}
	value = xasprintf("%s/%s/", key_domain(key), rel);
	if (make_maildir(ctl, value, key_domain(key)) < 0 || map_set(&m, key, value) < 0 ||
	    (quota != NULL && set_quota(ctl, key, quota) < 0))
		goto out;
	printf("mailctl: user %s added, Maildir %s/%s\n", key,
	       cfg_get(mailctl_config(ctl), "virtual_mailbox_base"), value);
	rc = 0;
out:
	free(rel);
	free(value);
	edit_map_clear(&m);
	return rc;
}

int admin_user_add(struct mailctl *ctl, const char *address, const char *quota)
{
	struct addr a;
	char *key = parse_address(address, &a);
	int rc = 1;

	if (key == NULL)
		return 1;
	if ((quota == NULL || check_quota(quota) == 0) && require_hosted(ctl, a.domain) == 0)
		rc = user_add_checked(ctl, key, &a, quota);
	addr_clear(&a);
	free(key);
	return rc;
}

static int purge_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* purge_maildir: removes base/rel, but only a relative path that stays
 * below virtual_mailbox_base. */
static int purge_maildir(struct mailctl *ctl, const char *rel)
{
	char *dir;
	int rc = 0;

	if (rel[0] == '/' || strstr(rel, "..") != NULL) {
		fprintf(stderr, "mailctl: not purging %s: not a path below virtual_mailbox_base\n",
			rel);
		return -1;
	}
	dir = fs_join(cfg_get(mailctl_config(ctl), "virtual_mailbox_base"), rel);
	if (nftw(dir, purge_one, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT) {
		fprintf(stderr, "mailctl: cannot remove %s: %s\n", dir, strerror(errno));
		rc = -1;
	} else {
		printf("mailctl: removed Maildir %s\n", dir);
	}
	free(dir);
	return rc;
}

static int user_del_key(struct mailctl *ctl, const char *key, bool purge)
{
	struct edit_map m, mq;
	char *value = NULL;
	int rc = 1;

	if (first_map(ctl, "virtual_mailbox_maps", &m) < 0)
		return 1;
	if (map_get(&m, key, &value) < 0)
		goto out;
	if (value == NULL) {
		fprintf(stderr, "mailctl: user %s does not exist\n", key);
		goto out;
	}
	if (map_del(&m, key) < 0)
		goto out;
	if (*cfg_get(mailctl_config(ctl), "virtual_mailbox_quota_maps") != '\0' &&
	    first_map(ctl, "virtual_mailbox_quota_maps", &mq) == 0) {
		(void)map_del(&mq, key);
		edit_map_clear(&mq);
	}
	if (passwd_remove(ctl, key) < 0)
		goto out;
	printf("mailctl: user %s removed%s\n", key, purge ? "" : " (Maildir kept)");
	rc = purge && purge_maildir(ctl, value) < 0 ? 1 : 0;
out:
	free(value);
	edit_map_clear(&m);
	return rc;
}

static int user_del(struct mailctl *ctl, const char *address, bool purge)
{
	struct addr a;
	char *key = parse_address(address, &a);
	int rc;

	if (key == NULL)
		return 1;
	rc = user_del_key(ctl, key, purge);
	addr_clear(&a);
	free(key);
	return rc;
}

/* Listing with a domain filter and the quota beside each user. The
 * quotas are read once and sorted, so a long list costs n log n. */
struct kv {
	char *key, *value;
};

struct list_ctx {
	const char *domain; /* NULL = all */
	struct kv *quotas;
	size_t nquotas;
};

static void collect_kv(void *ctx, const char *key, const char *value)
{
	struct list_ctx *lc = ctx;

	lc->quotas = xrealloc(lc->quotas, (lc->nquotas + 1) * sizeof(*lc->quotas));
	lc->quotas[lc->nquotas].key = xstrdup(key);
	lc->quotas[lc->nquotas++].value = xstrdup(value);
}

static int kv_compare(const void *a, const void *b)
{
	return strcmp(((const struct kv *)a)->key, ((const struct kv *)b)->key);
}

static void list_user(void *ctx, const char *key, const char *value)
{
	struct list_ctx *lc = ctx;
	const char *d = key_domain(key);
	struct kv probe = { (char *)key, NULL }, *q = NULL;

	(void)value;
	if (lc->domain != NULL && (d == NULL || strcmp(d, lc->domain) != 0))
		return;
	if (lc->nquotas > 0)
		q = bsearch(&probe, lc->quotas, lc->nquotas, sizeof(*lc->quotas), kv_compare);
	if (q != NULL)
		printf("%s quota=%s\n", key, q->value);
	else
		printf("%s\n", key);
}

static int user_list(struct mailctl *ctl, const char *domain)
{
	struct list_ctx lc = { 0 };
	char *d = domain != NULL ? lower_dup(domain) : NULL;
	int rc = 0;

	lc.domain = d;
	if (*cfg_get(mailctl_config(ctl), "virtual_mailbox_quota_maps") != '\0')
		rc = list_map(ctl, "virtual_mailbox_quota_maps", collect_kv, &lc);
	if (lc.nquotas > 1)
		qsort(lc.quotas, lc.nquotas, sizeof(*lc.quotas), kv_compare);
	if (rc == 0)
		rc = list_map(ctl, "virtual_mailbox_maps", list_user, &lc);
	for (size_t i = 0; i < lc.nquotas; i++) {
		free(lc.quotas[i].key);
		free(lc.quotas[i].value);
	}
	free(lc.quotas);
	free(d);
	return rc;
}

int cmd_user(struct mailctl *ctl, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";
	struct args a;

	if (parse_args(argc, argv, &a) < 0 || a.force)
		return usage("user");
	if (strcmp(verb, "add") == 0 && a.npos == 1 && !a.purge && a.password)
		return passwd_user_add(ctl, a.pos[0], a.quota, a.scheme, a.cram);
	if (strcmp(verb, "add") == 0 && a.npos == 1 && !a.purge && a.scheme == NULL && !a.cram)
		return admin_user_add(ctl, a.pos[0], a.quota);
	if (strcmp(verb, "passwd") == 0 && a.npos == 1 && !a.purge && a.quota == NULL &&
	    !a.password)
		return passwd_user(ctl, a.pos[0], a.scheme, a.cram);
	if (strcmp(verb, "import") == 0 && a.npos == 1 && !a.purge && a.quota == NULL &&
	    !a.password)
		return passwd_import(ctl, a.pos[0], a.scheme, a.cram);
	if (a.password || a.scheme != NULL || a.cram)
		return usage("user");
	if (strcmp(verb, "del") == 0 && a.npos == 1 && a.quota == NULL)
		return user_del(ctl, a.pos[0], a.purge);
	if (strcmp(verb, "list") == 0 && a.npos <= 1 && a.quota == NULL)
		return user_list(ctl, a.npos == 1 ? a.pos[0] : NULL);
	return usage("user");
}

/* ---- aliases ---- */

/* alias_key: "user@domain" or "@domain" (catch-all), canonical; *domain_r
 * points into the key. NULL (printed) when malformed. */
static char *alias_key(const char *text, const char **domain_r)
{
	struct addr a;
	char *key, *d;

	if (text[0] == '@') {
		d = check_domain(text + 1);
		if (d == NULL)
			return NULL;
		key = xasprintf("@%s", d);
		free(d);
	} else {
		key = parse_address(text, &a);
		if (key == NULL)
			return NULL;
		addr_clear(&a);
	}
	*domain_r = key_domain(key);
	return key;
}

/* A list of alias targets, kept in order without duplicates. */
struct targets {
	char **v;
	int n;
};

static bool targets_has(const struct targets *t, const char *addr)
{
	for (int i = 0; i < t->n; i++)
		if (strcasecmp(t->v[i], addr) == 0)
			return true;
	return false;
}

static void targets_add(struct targets *t, const char *addr)
{
	if (targets_has(t, addr))
		return;
	t->v = xrealloc(t->v, (size_t)(t->n + 1) * sizeof(*t->v));
	t->v[t->n++] = xstrdup(addr);
}

static void targets_clear(struct targets *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->v[i]);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

/* targets_parse: adds the targets of a "a@x, b@y" list; strict checks
 * every one (the command line), lax copies them (the map as it is). */
static int targets_parse(struct targets *t, const char *list, bool strict)
{
	char **words = cfg_split_list(list);
	int rc = 0;

	for (char **w = words; *w != NULL && rc == 0; w++) {
		struct addr a;
		const char *why = NULL;
		char *formatted;

		if (!strict) {
			targets_add(t, *w);
			continue;
		}
		if (addr_parse(*w, true, &a, &why) != ADDR_OK || a.domain == NULL) {
			fprintf(stderr, "mailctl: alias target '%s' is not a full address%s%s\n", *w,
				why != NULL ? ": " : "", why != NULL ? why : "");
			rc = -1;
			continue;
		}
		formatted = addr_format(&a);
		targets_add(t, formatted);
		free(formatted);
		addr_clear(&a);
	}
	cfg_free_list(&words);
	if (rc == 0 && strict && t->n == 0) {
		fprintf(stderr, "mailctl: no alias targets given\n");
		rc = -1;
	}
	return rc;
}

static char *targets_join(const struct targets *t)
{
	buf *b = buf_new(128);

	for (int i = 0; i < t->n; i++)
		buf_printf(b, "%s%s", i ? ", " : "", t->v[i]);
	return buf_steal_free(&b);
}

/* alias_change: add (append) or set (replace) targets of an alias. */
static int alias_change(struct mailctl *ctl, const char *address, const char *list, bool append)
{
	struct targets t = { 0 };
	struct edit_map m = { 0 };
	const char *domain;
	char *key = alias_key(address, &domain), *old = NULL, *value = NULL;
	int rc = 1;

	if (key == NULL || require_hosted(ctl, domain) != 0 ||
	    first_map(ctl, "virtual_alias_maps", &m) < 0 || map_get(&m, key, &old) < 0)
		goto out;
	if (append && old != NULL)
		(void)targets_parse(&t, old, false);
	if (targets_parse(&t, list, true) < 0)
		goto out;
	value = targets_join(&t);
	if (map_set(&m, key, value) == 0) {
		printf("mailctl: alias %s -> %s\n", key, value);
		rc = 0;
	}
out:
	targets_clear(&t);
	edit_map_clear(&m);
	free(value);
	free(old);
	free(key);
	return rc;
}

/* alias_remove_target: drops one target; the alias goes with its last. */
static int alias_remove_target(const struct edit_map *m, const char *key, const char *old,
			       const char *target)
{
	struct targets t = { 0 }, kept = { 0 };
	char *value;
	int rc = 1;

	(void)targets_parse(&t, old, false);
	for (int i = 0; i < t.n; i++)
		if (strcasecmp(t.v[i], target) != 0)
			targets_add(&kept, t.v[i]);
	if (kept.n == t.n) {
		fprintf(stderr, "mailctl: alias %s has no target %s\n", key, target);
	} else if (kept.n == 0) {
		if (map_del(m, key) >= 0) {
			printf("mailctl: alias %s removed\n", key);
			rc = 0;
		}
	} else {
		value = targets_join(&kept);
		if (map_set(m, key, value) == 0) {
			printf("mailctl: alias %s -> %s\n", key, value);
			rc = 0;
		}
		free(value);
	}
	targets_clear(&t);
	targets_clear(&kept);
	return rc;
}

static int alias_del(struct mailctl *ctl, const char *address, const char *target)
{
	struct edit_map m = { 0 };
	const char *domain;
	char *key = alias_key(address, &domain), *old = NULL;
	int rc = 1;

	if (key == NULL || first_map(ctl, "virtual_alias_maps", &m) < 0 ||
	    map_get(&m, key, &old) < 0)
		goto out;
	if (old == NULL)
		fprintf(stderr, "mailctl: alias %s does not exist\n", key);
	else if (target != NULL)
		rc = alias_remove_target(&m, key, old, target);
	else if (map_del(&m, key) >= 0) {
		printf("mailctl: alias %s removed\n", key);
		rc = 0;
	}
out:
	edit_map_clear(&m);
	free(old);
	free(key);
	return rc;
}

static void list_alias(void *ctx, const char *key, const char *value)
{
	struct list_ctx *lc = ctx;
	const char *d = key_domain(key);

	if (lc->domain != NULL && (d == NULL || strcmp(d, lc->domain) != 0))
		return;
	printf("%s %s\n", key, value);
}

static int alias_list(struct mailctl *ctl, const char *domain)
{
	struct list_ctx lc = { 0 };
	char *d = domain != NULL ? lower_dup(domain) : NULL;
	int rc;

	lc.domain = d;
	rc = list_map(ctl, "virtual_alias_maps", list_alias, &lc);
	free(d);
	return rc;
}

int admin_alias_add(struct mailctl *ctl, const char *address, const char *targets)
{
	return alias_change(ctl, address, targets, true);
}

int cmd_alias(struct mailctl *ctl, int argc, char **argv)
{
	const char *verb = argc > 1 ? argv[1] : "";
	struct args a;

	if (parse_args(argc, argv, &a) < 0 || a.force || a.purge || a.quota != NULL ||
	    a.password || a.scheme != NULL || a.cram)
		return usage("alias");
	if (strcmp(verb, "add") == 0 && a.npos == 2)
		return alias_change(ctl, a.pos[0], a.pos[1], true);
	if (strcmp(verb, "set") == 0 && a.npos == 2)
		return alias_change(ctl, a.pos[0], a.pos[1], false);
	if (strcmp(verb, "del") == 0 && (a.npos == 1 || a.npos == 2))
		return alias_del(ctl, a.pos[0], a.npos == 2 ? a.pos[1] : NULL);
	if (strcmp(verb, "list") == 0 && a.npos <= 1)
		return alias_list(ctl, a.npos == 1 ? a.pos[0] : NULL);
	return usage("alias");
}
