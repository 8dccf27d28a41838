/* init.c: mailctl init DIR: a complete private instance that runs as the
 * current user: main.cf, master.cf, queue, mail store and log file. With
 * --port-base N each service listens on 127.0.0.1 at N + its standard
 * port. master.cf gets an active line for each daemon that is installed
 * and a commented one for the others, so the file never names a program
 * that is not there. The instance gets its --domain as a hosted domain
 * with a demo user (demo@DOMAIN, with a Maildir) and the postmaster and
 * abuse aliases pointing to it, and .db files for the three maps.
 * TLS: a self-signed ECDSA P-256 certificate for the host name in DIR/tls/
 * (plus an RSA one with --rsa), or the --cert/--key files after checking
 * that they load; main.cf gets the smtpd_tls_* keys either way.
 * Run as root, mail_owner is the system user postern (created if missing,
 * owner.c), which gets the queue, the mail store, the log and the TLS key
 * (the owners and modes are listed in docs/internals.md). */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "mailctl.h"
#include "map.h"
#include "mem.h"
#include "tls.h"
#include "tlsgen.h"

struct init_opts {
	char *dir;
	const char *hostname;
	const char *domain;
	const char *daemon_dir;
	long port_base; /* -1 = standard ports on all interfaces */
	const char *cert, *key; /* --cert / --key, or NULL: generate */
	bool rsa; /* --rsa: also an RSA-2048 certificate */
	char *tls_cert, *tls_key, *tls_rsa_cert, *tls_rsa_key; /* for main.cf */
};

/* Validity of the generated certificates, days. */
#define INIT_CERT_DAYS 3650

/* The standard services: inet ones with their port, unix ones with 0 (a
 * unix service's socket is in public/ when priv is "n", else private/:
 * submit is the sendmail socket public/submit, qmgr and local must stay
 * private, docs/internals.md). */
static const struct std_service {
	const char *name;
	int port;
	const char *priv, *wakeup, *maxproc;
	const char *command;
	const char *args;
} std_services[] = {
	{ "smtp", 25, "n", "-", "-", "smtpd", "" },
	/* submission needs AUTH before MAIL; smtps speaks TLS from the first
	 * byte with the certificate init makes or is given */
	{ "submission", 587, "n", "-", "-", "smtpd", "-o smtpd_service=submission" },
	{ "smtps", 465, "n", "-", "-", "smtpd", "-o smtpd_service=smtps" },
	{ "submit", 0, "n", "-", "-", "smtpd", "-o smtpd_service=local" },
	{ "pop3", 110, "n", "-", "-", "pop3d", "" },
	{ "pop3s", 995, "n", "-", "-", "pop3d", "-o pop3d_service=pop3s" },
	{ "imap", 143, "n", "-", "-", "imapd", "" },
	{ "imaps", 993, "n", "-", "-", "imapd", "-o imapd_service=imaps" },
	{ "qmgr", 0, "-", "300", "1", "qmgr", "" },
	{ "local", 0, "-", "-", "4", "local", "" },
	{ "smtp", 0, "-", "-", "-", "smtp", "" },
};

static void service_line(buf *out, const struct init_opts *o, const struct std_service *s)
{
	char *path = fs_join(o->daemon_dir, s->command);
	bool present = access(path, X_OK) == 0;
	char name[64];

	free(path);
	if (s->port == 0)
		snprintf(name, sizeof(name), "%s", s->name);
	else if (o->port_base >= 0)
		snprintf(name, sizeof(name), "127.0.0.1:%ld", o->port_base + s->port);
	else
		snprintf(name, sizeof(name), "%s", s->name);
	buf_printf(out, "%s%-22s %-5s %-4s %-4s %-4s %-4s %-4s %s%s%s\n", present ? "" : "#",
		   name, s->port ? "inet" : "unix", s->priv, "-", "n", s->wakeup, s->maxproc,
		   s->command, *s->args ? " " : "", s->args);
}

static char *master_cf_text(const struct init_opts *o)
{
	buf *out = buf_new(2048);

	buf_printf(out, "# master.cf: the services of this Postern instance (see master(8)).\n"
			"# Lines starting with '#' are services whose program is not installed.\n"
			"# service              type  priv unpr chro wake maxp command + args\n");
	for (size_t i = 0; i < sizeof(std_services) / sizeof(std_services[0]); i++)
		service_line(out, o, &std_services[i]);
	return buf_steal_free(&out);
}

static char *main_cf_text(const struct init_opts *o, const char *owner)
{
	buf *out = buf_new(2048);

	buf_printf(out, "# main.cf for the Postern instance in %s, made by mailctl init.\n"
			"# Every key is described in docs/config.md; 'mailctl config list' shows\n"
			"# the values in effect.\n"
			"myhostname = %s\n"
			"mydomain = %s\n"
			"mydestination = $myhostname, localhost\n"
			"queue_directory = %s/queue\n"
			"daemon_directory = %s\n"
			"mail_owner = %s\n"
			"virtual_mailbox_base = %s/mail\n"
			"maillog_file = %s/log/maillog\n",
		   o->dir, o->hostname, o->domain, o->dir, o->daemon_dir, owner, o->dir, o->dir);
	if (o->port_base >= 0)
		buf_printf(out, "inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n"
				"mynetworks = 127.0.0.0/8\n");
	buf_printf(out, "%s"
			"smtpd_tls_cert_file = %s\n"
			"smtpd_tls_key_file = %s\n",
		   o->cert == NULL ? "# TLS: a self-signed certificate made by mailctl init;\n"
				     "# replace it with one from a CA clients trust.\n"
				   : "# TLS\n",
		   o->tls_cert, o->tls_key);
	if (o->tls_rsa_cert != NULL)
		buf_printf(out, "smtpd_tls_rsa_cert_file = %s\nsmtpd_tls_rsa_key_file = %s\n",
			   o->tls_rsa_cert, o->tls_rsa_key);
	buf_printf(out, "smtpd_tls_security_level = may\n");
	return buf_steal_free(&out);
}

static int write_new(const char *dir, const char *name, const char *text)
{
	char *path = fs_join(dir, name), *err = NULL;
	int rc = fs_write_atomic(path, text, strlen(text), 0644, &err);

	if (rc < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
	}
	free(path);
	return rc;
}

static int make_dirs(const char *dir)
{
	static const char *const subdirs[] = {
		"queue",          "queue/pid",    "queue/private",  "queue/public",
		"queue/tmp",      "queue/incoming", "queue/active", "queue/deferred",
		"queue/hold",     "queue/corrupt",  "queue/defer",  "mail",
		"log",
	};
	char *err = NULL;

	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		char *path = fs_join(dir, subdirs[i]);
		int rc = fs_mkdir_p(path, strstr(subdirs[i], "private") ? 0700 : 0755, &err);

		free(path);
		if (rc < 0) {
			fprintf(stderr, "mailctl: %s\n", err);
			free(err);
			return -1;
		}
	}
	return 0;
}

static int parse_init_args(struct init_opts *o, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;

		if (arg[0] != '-') {
			if (o->dir != NULL)
				return -1;
			o->dir = xstrdup(arg);
			continue;
		}
		if (strcmp(arg, "--rsa") == 0) {
			o->rsa = true;
			continue;
		}
		if (val == NULL)
			return -1;
		i++;
		if (strcmp(arg, "--hostname") == 0)
			o->hostname = val;
		else if (strcmp(arg, "--domain") == 0)
			o->domain = val;
		else if (strcmp(arg, "--daemon-dir") == 0)
			o->daemon_dir = val;
		else if (strcmp(arg, "--cert") == 0)
			o->cert = val;
		else if (strcmp(arg, "--key") == 0)
			o->key = val;
		else if (strcmp(arg, "--port-base") == 0) {
			errno = 0;
			o->port_base = strtol(val, &end, 10);
			if (errno || *end || o->port_base < 0 || o->port_base + 995 > 65535) {
				fprintf(stderr, "mailctl: --port-base must be 0..64540\n");
				return -1;
			}
		} else
			return -1;
	}
	if (o->dir == NULL)
		return -1;
	if ((o->cert == NULL) != (o->key == NULL) || (o->cert != NULL && o->rsa)) {
		fprintf(stderr, "mailctl: give --cert and --key together; --rsa only makes "
				"a self-signed certificate (set smtpd_tls_rsa_cert_file for yours)\n");
		return -1;
	}
	return 0;
}

/* given_tls: --cert / --key as absolute paths, checked to load and match
 * (the same check smtpd makes at startup). */
static int given_tls(struct init_opts *o)
{
	char *err = NULL;
	SSL_CTX *ctx;

	o->tls_cert = realpath(o->cert, NULL);
	o->tls_key = realpath(o->key, NULL);
	if (o->tls_cert == NULL || o->tls_key == NULL) {
		fprintf(stderr, "mailctl: --%s %s: %s\n", o->tls_cert == NULL ? "cert" : "key",
			o->tls_cert == NULL ? o->cert : o->key, strerror(errno));
		return -1;
	}
	ctx = tls_server_ctx_new(o->tls_cert, o->tls_key, NULL, &err);
	if (ctx == NULL) {
		fprintf(stderr, "mailctl: --cert/--key: %s\n", err);
		free(err);
		return -1;
	}
	SSL_CTX_free(ctx);
	return 0;
}

/* generate_one: a self-signed certificate for the host name, localhost and
 * 127.0.0.1 as DIR/tls/<prefix>cert.pem and <prefix>key.pem. */
static int generate_one(const struct init_opts *o, const char *tls_dir, const char *prefix,
			enum tlsgen_key_type type, char **cert_r, char **key_r)
{
	const char *names[] = { o->hostname, "localhost", "127.0.0.1", NULL };
	char *name, *err = NULL;

	if (strcmp(o->hostname, "localhost") == 0)
		names[1] = "127.0.0.1", names[2] = NULL;
	name = xasprintf("%scert.pem", prefix);
	*cert_r = fs_join(tls_dir, name);
	free(name);
	name = xasprintf("%skey.pem", prefix);
	*key_r = fs_join(tls_dir, name);
	free(name);
	if (tlsgen_self_signed(names, type, INIT_CERT_DAYS, *cert_r, *key_r, &err) < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
		return -1;
	}
	printf("mailctl: self-signed %s certificate for %s in %s\n",
	       type == TLSGEN_RSA_2048 ? "RSA-2048" : "ECDSA P-256", o->hostname, *cert_r);
	return 0;
}

/* make_tls: the certificate files (or the given ones) named in main.cf. */
static int make_tls(struct init_opts *o)
{
	char *tls_dir, *err = NULL;
	int rc = 0;

	if (o->cert != NULL)
		return given_tls(o);
	tls_dir = fs_join(o->dir, "tls");
	if (fs_mkdir_p(tls_dir, 0755, &err) < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
		rc = -1;
	}
	if (rc == 0)
		rc = generate_one(o, tls_dir, "", TLSGEN_EC_P256, &o->tls_cert, &o->tls_key);
	if (rc == 0 && o->rsa)
		rc = generate_one(o, tls_dir, "rsa-", TLSGEN_RSA_2048, &o->tls_rsa_cert,
				  &o->tls_rsa_key);
	free(tls_dir);
	return rc;
}

static int absolute_dir(struct init_opts *o)
{
	char *err = NULL, *abs;

	if (fs_mkdir_p(o->dir, 0755, &err) < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
		return -1;
	}
	abs = realpath(o->dir, NULL);
	free(o->dir);
	o->dir = abs;
	return abs == NULL ? -1 : 0;
}

/* ROOT_MAIL_OWNER: mail_owner of an instance made by root. */
#define ROOT_MAIL_OWNER "postern"

/* give_one: path to uid:gid with mode (-1: unchanged). 0 or -1 (printed). */
static int give_one(const char *path, uid_t uid, gid_t gid, int mode)
{
	if (chown(path, uid, gid) == 0 && (mode < 0 || chmod(path, (mode_t)mode) == 0))
		return 0;
	fprintf(stderr, "mailctl: cannot give %s to mail_owner: %s\n", path, strerror(errno));
	return -1;
}

/* give_to_owner: under root, what the daemons write becomes mail_owner's:
 * the queue (but pid/, which is master's), the mail store (0700: nobody
 * else reads mail), the log directory and a log file made now (0640), and
 * the TLS keys, which the daemons load after dropping root. */
static int give_to_owner(struct mailctl *ctl, const struct init_opts *o)
{
	static const char *const queue_dirs[] = { "queue", "queue/private", "queue/public",
						  "queue/tmp", "queue/incoming", "queue/active",
						  "queue/deferred", "queue/hold", "queue/corrupt",
						  "queue/defer" };
	char *path, *err = NULL;
	uid_t uid;
	gid_t gid;
	int rc = 0;

	if (owner_lookup(ctl, &uid, &gid) != 1)
		return 0;
	for (size_t i = 0; i < sizeof(queue_dirs) / sizeof(queue_dirs[0]); i++) {
		path = fs_join(o->dir, queue_dirs[i]);
		rc |= give_one(path, uid, gid, -1);
		free(path);
	}
	path = fs_join(o->dir, "mail");
	rc |= owner_give_tree(path, uid, gid) | give_one(path, uid, gid, 0700);
	free(path);
	path = fs_join(o->dir, "log");
	rc |= give_one(path, uid, gid, 0755);
	free(path);
	path = fs_join(o->dir, "log/maillog");
	if (access(path, F_OK) < 0 && fs_write_atomic(path, "", 0, 0640, &err) < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
		rc = -1;
	}
	rc |= give_one(path, uid, gid, 0640);
	free(path);
	if (o->cert == NULL)
		rc |= give_one(o->tls_key, uid, gid, 0600);
	if (o->tls_rsa_key != NULL)
		rc |= give_one(o->tls_rsa_key, uid, gid, 0600);
	return rc < 0 ? -1 : 0;
}

/* build_empty_map: the map file of a key exists and has a .db, so hash:
 * lookups answer "not found" instead of failing for a missing file. */
static int build_empty_map(struct mailctl *ctl, const char *key)
{
	char **words = cfg_split_list(cfg_get(mailctl_config(ctl), key));
	const char *name = words[0];
	char *path, *err = NULL;
	int rc = 0;

	if (name == NULL || strncmp(name, "hash:", 5) != 0) {
		cfg_free_list(&words);
		return 0;
	}
	path = xstrdup(name + 5);
	if (access(path, F_OK) < 0 && fs_write_atomic(path, "", 0, 0644, &err) < 0)
		rc = -1;
	if (rc == 0 && map_build(path, mailctl_print_diag, NULL, &err) < 0)
		rc = -1;
	if (rc < 0) {
		fprintf(stderr, "mailctl: %s\n", err != NULL ? err : path);
		free(err);
	}
	free(path);
	cfg_free_list(&words);
	return rc;
}

/* make_demo: the demo domain with a demo user and the postmaster and
 * abuse aliases every domain needs, then .db files for the three maps. */
static int make_demo(struct mailctl *ctl, const struct init_opts *o)
{
	char *demo = xasprintf("demo@%s", o->domain), *alias;
	int rc = 0;

	ctl->config_dir = xstrdup(o->dir);
	(void)mailctl_config(ctl);
	if (ctl->config_errors > 0)
		rc = 1;
	if (rc == 0)
		rc = admin_domain_add(ctl, o->domain);
	if (rc == 0)
		rc = admin_user_add(ctl, demo, NULL);
	for (int i = 0; i < 2 && rc == 0; i++) {
		alias = xasprintf("%s@%s", i == 0 ? "postmaster" : "abuse", o->domain);
		rc = admin_alias_add(ctl, alias, demo);
		free(alias);
	}
	if (build_empty_map(ctl, "virtual_mailbox_domains") < 0 ||
	    build_empty_map(ctl, "virtual_mailbox_maps") < 0 ||
	    build_empty_map(ctl, "virtual_alias_maps") < 0)
		rc = 1;
	if (rc == 0)
		printf("mailctl: demo user %s (Maildir %s/mail/%s/demo/)\n", demo, o->dir, o->domain);
	free(demo);
	return rc;
}

int cmd_init(struct mailctl *ctl, int argc, char **argv)
{
	struct init_opts o = { .daemon_dir = POSTERN_DAEMON_DIR, .port_base = -1 };
	struct passwd *pw = getpwuid(getuid());
	const char *owner = pw != NULL ? pw->pw_name : ROOT_MAIL_OWNER;
	char *main_path, *host = NULL, *text;
	int rc = 1;

	if (parse_init_args(&o, argc, argv) < 0) {
		fputs(mailctl_find("init")->usage, stderr);
		free(o.dir);
		return 2;
	}
	if (o.domain == NULL)
		o.domain = "example.test";
	if (o.hostname == NULL)
		o.hostname = host = xasprintf("mail.%s", o.domain);
	if (absolute_dir(&o) < 0)
		goto out;
	main_path = fs_join(o.dir, "main.cf");
	if (access(main_path, F_OK) == 0) {
		fprintf(stderr, "mailctl: %s already exists: not overwriting an instance\n", main_path);
		free(main_path);
		goto out;
	}
	free(main_path);
	if (geteuid() == 0) {
		owner = ROOT_MAIL_OWNER;
		if (owner_create(owner) < 0)
			goto out;
	}
	if (make_tls(&o) < 0 || make_dirs(o.dir) < 0)
		goto out;
	text = main_cf_text(&o, owner);
	rc = write_new(o.dir, "main.cf", text);
	free(text);
	text = master_cf_text(&o);
	rc = rc < 0 ? rc : write_new(o.dir, "master.cf", text);
	free(text);
	if (rc == 0 && make_demo(ctl, &o) != 0)
		rc = -1;
	if (rc == 0 && give_to_owner(ctl, &o) < 0)
		rc = -1;
	if (rc == 0)
		printf("mailctl: instance created in %s\nstart it with: mailctl -c %s start\n", o.dir,
		       o.dir);
	rc = rc < 0 ? 1 : 0;
out:
	free(host);
	free(o.dir);
	free(o.tls_cert);
	free(o.tls_key);
	free(o.tls_rsa_cert);
	free(o.tls_rsa_key);
	return rc;
}
