/* check.c: mailctl check, config get/set/list and map build/get. check
 * runs the same validation as master's startup: main.cf values, the
 * master.cf table, the daemons it names, the queue directory, the TLS
 * setup (certificates and keys load and match, not expired, SNI entries),
 * the entries of transport_maps and the DNS server list, the smtp
 * client's TLS policy and SASL password maps and its other settings, and
 * the DKIM signing keys (dkim_check.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dns.h"
#include "fsutil.h"
#include "mailctl.h"
#include "map.h"
#include "mcf.h"
#include "mem.h"
#include "nexthop.h"
#include "route.h"
#include "smtppol.h"
#include "tls.h"

static int check_commands(cfg *c, const struct mcf *mcf)
{
	int errors = 0;

	for (int i = 0; i < mcf->count; i++) {
		const struct mcf_service *s = &mcf->services[i];
		char *path = strchr(s->command, '/') ? xstrdup(s->command)
						    : fs_join(cfg_get(c, "daemon_directory"), s->command);

		if (access(path, X_OK) < 0) {
			fprintf(stderr, "%s:%d: error: service %s: command %s: %s\n", mcf->path,
				s->line, s->name, path, strerror(errno));
			errors++;
		}
		free(path);
	}
	return errors;
}

static int check_dir(const char *key, const char *dir)
{
	struct stat st;

	errno = 0;
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	fprintf(stderr, "%s: error: %s %s: %s\n", key, key, dir,
		errno ? strerror(errno) : "not a directory");
	return 1;
}

static void check_tls_report(void *ctx, const char *msg)
{
	fprintf(stderr, "%s: error: %s\n", (const char *)ctx, msg);
}

/* check_tls: the smtpd TLS setup as smtpd will load it, but stricter: an
 * expired certificate is an error here and every SNI entry is loaded. */
static int check_tls(struct mailctl *ctl, cfg *c)
{
	char *main_cf = fs_join(ctl->config_dir, "main.cf"), *err = NULL;
	const char *level = cfg_get(c, "smtpd_tls_security_level");
	tls_server *ts = NULL;
	int errors = 0;

	if (strcmp(level, "none") != 0 && strcmp(level, "may") != 0 &&
	    strcmp(level, "encrypt") != 0) {
		fprintf(stderr, "%s: error: smtpd_tls_security_level: \"%s\" is not none, may "
				"or encrypt\n", main_cf, level);
		errors++;
	}
	if (tls_server_from_cfg(c, "smtpd", true, &ts, &err) < 0) {
		check_tls_report(main_cf, err);
		free(err);
		errors++;
	} else if (ts == NULL && strcmp(level, "encrypt") == 0) {
		fprintf(stderr, "%s: error: smtpd_tls_security_level = encrypt needs "
				"smtpd_tls_cert_file\n", main_cf);
		errors++;
	} else if (ts != NULL) {
		errors += tls_server_check_sni(ts, check_tls_report, main_cf);
	}
	tls_server_free(&ts);
	free(main_cf);
	return errors;
}

/* check_transport_maps: every entry of the text source of each
 * transport_maps map is a valid transport (file:line for each that is
 * not). relayhost is checked with the other main.cf values (cfg.c). */
static int check_transport_maps(cfg *c)
{
	char **names = cfg_split_list(cfg_get(c, "transport_maps"));
	int errors = 0;

	for (char **n = names; *n != NULL; n++)
		errors += map_check_values(*n, route_check_transport, mailctl_print_diag, NULL);
	cfg_free_list(&names);
	return errors;
}

/* main_cf_error: "DIR/main.cf: error: KEY: ERR", err freed. */
static int main_cf_error(struct mailctl *ctl, const char *key, char *err)
{
	fprintf(stderr, "%s/main.cf: error: %s: %s\n", ctl->config_dir, key, err);
	free(err);
	return 1;
}

/* check_smtp: the smtp client's settings: every entry of
 * smtp_tls_policy_maps and smtp_sasl_password_maps (file:line), the
 * default TLS level, the SASL options and inet_protocols. */
static int check_smtp(struct mailctl *ctl, cfg *c)
{
	static const struct {
		const char *key;
		map_value_check_fn *check;
	} maps[] = { { "smtp_tls_policy_maps", smtppol_check_tls },
		     { "smtp_sasl_password_maps", smtppol_check_sasl } };
	enum smtpc_tls_level level;
	char *err = NULL;
	int errors = 0, flags;
	bool plain;

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		char **names = cfg_split_list(cfg_get(c, maps[i].key));

		for (char **n = names; *n != NULL; n++)
			errors += map_check_values(*n, maps[i].check, mailctl_print_diag, NULL);
		cfg_free_list(&names);
	}
	if (smtppol_parse_level(cfg_get(c, "smtp_tls_security_level"), &level) < 0)
		errors += main_cf_error(ctl, "smtp_tls_security_level",
					xasprintf("unknown level '%s'",
						  cfg_get(c, "smtp_tls_security_level")));
	if (smtppol_sasl_plaintext(cfg_get(c, "smtp_sasl_security_options"), &plain, &err) < 0)
		errors += main_cf_error(ctl, "smtp_sasl_security_options", err);
	err = NULL;
	if (smtppol_sasl_plaintext(cfg_get(c, "smtp_sasl_tls_security_options"), &plain, &err) < 0)
		errors += main_cf_error(ctl, "smtp_sasl_tls_security_options", err);
	err = NULL;
	if (nexthop_parse_inet_protocols(cfg_get(c, "inet_protocols"), &flags, &err) < 0)
		errors += main_cf_error(ctl, "inet_protocols", err);
	return errors;
}

/* check_dns: dns_servers as lib/dns reads it (addresses, optional ports). */
static int check_dns(struct mailctl *ctl, cfg *c)
{
	char *csv = NULL, *err = NULL;

	if (dns_parse_servers(cfg_get(c, "dns_servers"), &csv, &err) == 0) {
		free(csv);
		return 0;
	}
	fprintf(stderr, "%s/main.cf: error: dns_servers: %s\n", ctl->config_dir, err);
	free(err);
	return 1;
}

int check_all(struct mailctl *ctl, bool quiet_ok, bool dns)
{
	cfg *c = mailctl_config(ctl);
	char *path = fs_join(ctl->config_dir, "master.cf");
	int errors = ctl->config_errors;
	struct mcf *mcf;

	if (errors == 0) {
		mcf = mcf_load(path, (int)cfg_get_int(c, "default_process_limit"),
			       mailctl_print_diag, &errors);
		if (mcf == NULL && errors == 0)
			errors++;
		if (mcf != NULL)
			errors += check_commands(c, mcf);
		mcf_free(&mcf);
		errors += check_dir("queue_directory", cfg_get(c, "queue_directory"));
		errors += check_dir("daemon_directory", cfg_get(c, "daemon_directory"));
		errors += check_tls(ctl, c);
		errors += check_transport_maps(c);
		errors += check_dns(ctl, c);
		errors += check_smtp(ctl, c);
		errors += check_dkim(ctl, c, dns);
	}
	free(path);
	if (errors == 0 && !quiet_ok)
		printf("mailctl: configuration in %s is valid\n", ctl->config_dir);
	return errors;
}

int cmd_check(struct mailctl *ctl, int argc, char **argv)
{
	bool dns = true;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--no-dns") != 0) {
			fputs(mailctl_find("check")->usage, stderr);
			return 2;
		}
		dns = false;
	}
	return check_all(ctl, false, dns) == 0 ? 0 : 1;
}

static int config_get(struct mailctl *ctl, int argc, char **argv)
{
	cfg *c = mailctl_config(ctl);
	int rc = 0;

	for (int i = 0; i < argc; i++) {
		if (cfg_key_find(argv[i]) == NULL && !cfg_is_set(c, argv[i])) {
			fprintf(stderr, "mailctl: unknown parameter %s\n", argv[i]);
			rc = 1;
			continue;
		}
		printf("%s\n", cfg_get(c, argv[i]));
	}
	return rc;
}

static int config_set_one(struct mailctl *ctl, const char *assignment)
{
	const char *eq = strchr(assignment, '=');
	char *name, *err = NULL, *path;
	const struct cfg_key *key;
	long long num;
	int rc = 0;

	if (eq == NULL || eq == assignment) {
		fprintf(stderr, "mailctl: expected KEY=VALUE, got '%s'\n", assignment);
		return 1;
	}
	name = xstrndup(assignment, (size_t)(eq - assignment));
	key = cfg_key_find(name);
	if (key == NULL) {
		fprintf(stderr, "mailctl: unknown parameter %s\n", name);
		free(name);
		return 1;
	}
	/* $name references are checked once expanded, by the check below */
	if (strchr(eq + 1, '$') == NULL && cfg_parse_value(key, eq + 1, &num, &err) < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		rc = 1;
	} else {
		path = fs_join(ctl->config_dir, "main.cf");
		if (cfg_edit_file(path, name, eq + 1, &err) < 0) {
			fprintf(stderr, "mailctl: %s\n", err);
			rc = 1;
		}
		free(path);
	}
	free(err);
	free(name);
	return rc;
}

static int config_set(struct mailctl *ctl, int argc, char **argv)
{
	int rc = 0;

	for (int i = 0; i < argc; i++)
		rc |= config_set_one(ctl, argv[i]);
	if (rc == 0) {
		cfg_free(&ctl->config);
		ctl->config_errors = 0;
		mailctl_config(ctl);
		if (ctl->config_errors != 0) {
			fprintf(stderr, "mailctl: main.cf now has errors (above); fix them before a reload\n");
			rc = 1;
		}
	}
	return rc;
}

static void print_set(void *ctx, const char *name, const char *raw)
{
	(void)ctx;
	if (cfg_key_find(name) == NULL)
		printf("%s = %s\n", name, raw);
}

/* print_table: "name = value" for the keys of one table. */
static void print_table(cfg *c, const struct cfg_key *table, bool defaults, bool only_set)
{
	for (const struct cfg_key *k = table; k->name != NULL; k++) {
		if (only_set && !cfg_is_set(c, k->name))
			continue;
		printf("%s = %s\n", k->name, defaults ? k->defval : cfg_raw(c, k->name));
	}
}

static int config_list(struct mailctl *ctl, int argc, char **argv)
{
	bool defaults = false, only_set = false;
	cfg *c = mailctl_config(ctl);

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "-d") == 0)
			defaults = true;
		else if (strcmp(argv[i], "-n") == 0)
			only_set = true;
		else {
			fprintf(stderr, "mailctl: config list: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	for (const struct cfg_key *const *t = cfg_key_tables; *t != NULL; t++)
		print_table(c, *t, defaults, only_set);
	if (!defaults)
		cfg_each_set(c, print_set, NULL);
	return 0;
}

int cmd_config(struct mailctl *ctl, int argc, char **argv)
{
	const char *usage = mailctl_find("config")->usage;

	if (argc >= 2 && strcmp(argv[1], "get") == 0 && argc >= 3)
		return config_get(ctl, argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "set") == 0 && argc >= 3)
		return config_set(ctl, argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return config_list(ctl, argc - 2, argv + 2);
	fputs(usage, stderr);
	return 2;
}

static int map_build_files(struct mailctl *ctl, int argc, char **argv)
{
	int rc = 0;

	mailctl_maps_changed(ctl);
	for (int i = 0; i < argc; i++) {
		const char *file = strncmp(argv[i], "hash:", 5) == 0 ? argv[i] + 5 : argv[i];
		char *err = NULL;
		int errors = 0;

		if (map_build(file, mailctl_print_diag, &errors, &err) < 0) {
			if (err != NULL)
				fprintf(stderr, "mailctl: %s\n", err);
			fprintf(stderr, "mailctl: %s.db not built\n", file);
			rc = 1;
		}
		free(err);
	}
	return rc;
}

static int map_get(const char *name, const char *key)
{
	char *err = NULL;
	const char *value;
	map *m = map_open(name, &err);
	int rc;

	if (m == NULL) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
		return 1;
	}
	switch (map_lookup(m, key, &value)) {
	case MAP_FOUND: printf("%s\n", value); rc = 0; break;
	case MAP_NOTFOUND: rc = 1; break;
	default: fprintf(stderr, "mailctl: %s: %s\n", name, map_error(m)); rc = 75;
	}
	map_close(&m);
	return rc;
}

int cmd_map(struct mailctl *ctl, int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "build") == 0)
		return map_build_files(ctl, argc - 2, argv + 2);
	if (argc == 4 && strcmp(argv[1], "get") == 0)
		return map_get(argv[2], argv[3]);
	fputs(mailctl_find("map")->usage, stderr);
	return 2;
}
