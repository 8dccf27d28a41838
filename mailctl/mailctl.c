/* mailctl.c: the Postern admin command: option parsing, the subcommand
 * table and help. The subcommands live in lifecycle.c (start, stop,
 * reload, status), check.c (check, config, map), init.c (init),
 * admin.c (domain, user, alias), passwd.c (user passwords), queue.c
 * (queue) and dkim.c (dkim; its checks in dkim_check.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "mailctl.h"
#include "mapgen.h"
#include "mem.h"

static int cmd_help(struct mailctl *ctl, int argc, char **argv);

static const struct mailctl_cmd commands[] = {
	{ "init", "create a complete private instance in a directory",
	  "usage: mailctl init DIR [--hostname HOST] [--domain DOMAIN] [--port-base N]\n"
	  "                        [--daemon-dir DIR] [--cert FILE --key FILE | --rsa]\n"
	  "Creates DIR with main.cf, master.cf, the queue, the mail store and a log\n"
	  "file, set up to run as the current user. With --port-base N every service\n"
	  "listens on 127.0.0.1 at N plus its standard port (N+25 SMTP, N+587\n"
	  "submission, N+465 SMTPS, N+110 POP3, N+995 POP3S, N+143 IMAP, N+993 IMAPS);\n"
	  "without it, on the standard ports. --daemon-dir names where the daemons\n"
	  "are (default: the installed ones). TLS: a self-signed ECDSA P-256\n"
	  "certificate for HOST in DIR/tls/ (--rsa: also an RSA-2048 one), unless\n"
	  "--cert and --key name your own. Then: mailctl -c DIR start\n",
	  cmd_init },
	{ "start", "check the configuration and start the mail system",
	  "usage: mailctl [-c DIR] start\n"
	  "Runs the same checks as 'mailctl check', then starts master in the\n"
	  "background and returns once every service listens. Exits 1 if the\n"
	  "configuration is bad, a port is taken, or it is already running.\n",
	  cmd_start },
	{ "stop", "stop the mail system and wait until every process is gone",
	  "usage: mailctl [-c DIR] stop\n"
	  "Asks master to stop (SIGTERM); master stops its workers, killing any\n"
	  "that do not end within service_stop_timeout. Returns once all are gone.\n",
	  cmd_stop },
	{ "reload", "re-read main.cf and master.cf in the running system",
	  "usage: mailctl [-c DIR] reload\n"
	  "Changed services restart, new ones start, removed ones stop; listening\n"
	  "sockets of unchanged services stay open. A bad configuration is refused\n"
	  "(the errors are printed) and the running one is kept.\n",
	  cmd_reload },
	{ "status", "show the services, their processes and addresses",
	  "usage: mailctl [-c DIR] status\n"
	  "Prints master's pid and, per service, its command, listening address(es)\n"
	  "and worker pids. Exits 1 when the mail system is not running.\n",
	  cmd_status },
	{ "check", "validate main.cf and master.cf",
	  "usage: mailctl [-c DIR] check [--no-dns]\n"
	  "Checks every setting, the service table, the daemons and the queue\n"
	  "directory, the maps' entries and the DKIM signing keys; prints each\n"
	  "problem as file:line: message. Exits 1 on errors. Unless --no-dns, the\n"
	  "DKIM key records published in DNS are compared with the key files\n"
	  "(start and reload make the other checks only).\n",
	  cmd_check },
	{ "config", "read or change main.cf settings (like postconf)",
	  "usage: mailctl [-c DIR] config get KEY...\n"
	  "       mailctl [-c DIR] config set KEY=VALUE...\n"
	  "       mailctl [-c DIR] config list [-d] [-n]\n"
	  "get prints the value (after $name expansion); set checks the value and\n"
	  "edits main.cf in place (other lines are kept); list prints every key with\n"
	  "its value, -d defaults only, -n only the keys set in main.cf.\n"
	  "Run 'mailctl reload' after a change.\n",
	  cmd_config },
	{ "map", "build lookup tables (like postmap)",
	  "usage: mailctl map build FILE...\n"
	  "       mailctl map get MAP KEY\n"
	  "build reads the text file FILE ('key value' lines) and writes FILE.db,\n"
	  "replacing it atomically; syntax errors are printed as FILE:line.\n"
	  "get looks KEY up in MAP (hash:FILE or texthash:FILE) and prints the value.\n",
	  cmd_map },
	{ "domain", "add, remove or list the hosted (virtual mailbox) domains",
	  "usage: mailctl [-c DIR] domain add DOMAIN\n"
	  "       mailctl [-c DIR] domain del DOMAIN [--force]\n"
	  "       mailctl [-c DIR] domain list\n"
	  "Edits the text file of the first map in virtual_mailbox_domains (value OK)\n"
	  "and rebuilds it. del refuses while the domain has users or aliases;\n"
	  "--force removes them too (their Maildirs are kept).\n",
	  cmd_domain },
	{ "user", "add, remove or list mailboxes; set or import passwords",
	  "usage: mailctl [-c DIR] user add ADDRESS [--quota SIZE] [--password-stdin]\n"
	  "                                 [--scheme SCHEME] [--cram]\n"
	  "       mailctl [-c DIR] user passwd ADDRESS [--scheme SCHEME] [--cram]\n"
	  "       mailctl [-c DIR] user import FILE [--scheme SCHEME] [--cram]\n"
	  "       mailctl [-c DIR] user del ADDRESS [--purge]\n"
	  "       mailctl [-c DIR] user list [DOMAIN]\n"
	  "add creates the Maildir virtual_mailbox_base/DOMAIN/USER/ and maps ADDRESS\n"
	  "to it in the first map of virtual_mailbox_maps; the domain must be hosted.\n"
	  "--quota SIZE (bytes, k/m/g suffix) goes into virtual_mailbox_quota_maps,\n"
	  "set to hash:$config_directory/quotas if empty. --password-stdin also sets\n"
	  "a password, read like passwd reads it. del keeps the Maildir unless --purge\n"
	  "is given, and removes the password.\n"
	  "passwd sets the password of an existing user in the first map of\n"
	  "virtual_passwd_maps (kept at mode 0600): asked twice with echo off on a\n"
	  "terminal, else one line of stdin; never from the command line. SCHEME:\n"
	  "SHA512-CRYPT (default), SHA256-CRYPT, BLF-CRYPT or YESCRYPT.\n"
	  "--cram also stores the CRAM-MD5 secret (for AUTH CRAM-MD5): it is\n"
	  "password-equivalent, so it is added only on request.\n"
	  "import reads a Dovecot passwd-file (user@domain:{SCHEME}hash:uid:gid::home::\n"
	  "extra): adds each user of a hosted domain with its password and any\n"
	  "userdb_quota_rule=*:storage=SIZE; {CRAM-MD5} entries are kept as they are;\n"
	  "{PLAIN} passwords are hashed with SCHEME (and get CRAM-MD5 with --cram);\n"
	  "skipped lines are printed as FILE:line and make it exit 1.\n",
	  cmd_user },
	{ "alias", "add, change, remove or list aliases",
	  "usage: mailctl [-c DIR] alias add ADDRESS TARGET[,TARGET...]\n"
	  "       mailctl [-c DIR] alias set ADDRESS TARGET[,TARGET...]\n"
	  "       mailctl [-c DIR] alias del ADDRESS [TARGET]\n"
	  "       mailctl [-c DIR] alias list [DOMAIN]\n"
	  "Edits the first map of virtual_alias_maps. add appends targets to an\n"
	  "existing alias, set replaces them, del removes one target or the whole\n"
	  "alias. ADDRESS may be @DOMAIN, a catch-all for the domain; its domain\n"
	  "must be hosted. Targets are full addresses.\n",
	  cmd_alias },
	{ "queue", "list, show, explain, hold, release, requeue, delete or flush queued mail",
	  "usage: mailctl [-c DIR] queue list [--json] [FILTER...]\n"
	  "       mailctl [-c DIR] queue show QUEUE_ID\n"
	  "       mailctl [-c DIR] queue why [QUEUE_ID...]\n"
	  "       mailctl [-c DIR] queue hold|release|requeue|delete QUEUE_ID...|FILTER...\n"
	  "       mailctl [-c DIR] queue delete ALL\n"
	  "       mailctl [-c DIR] queue flush [QUEUE_ID...|FILTER...]\n"
	  "FILTER (all given must hold): --domain D (a recipient still pending is\n"
	  "in domain D), --sender S (the envelope sender; <> is the null sender),\n"
	  "--older-than AGE (arrived AGE ago or more: 90, 30m, 2h, 1d, 1w).\n"
	  "list prints the queue like mailq ('*' being delivered, '!' on hold);\n"
	  "--json prints one JSON object per message instead, like postqueue -j.\n"
	  "show prints a message's envelope and content; why prints each recipient's\n"
	  "state, the reason it waits and the next attempt (every waiting message\n"
	  "without an ID).\n"
	  "hold keeps messages out of delivery (in hold/) until release, which\n"
	  "puts them back in deferred/, due now; requeue sends deferred or held\n"
	  "messages through qmgr's routing again (delivered recipients stay\n"
	  "delivered); delete removes messages and their deferral reasons.\n"
	  "flush asks qmgr to retry now: all deferred mail without arguments, else\n"
	  "the chosen deferred messages (the mail system must be running).\n"
	  "A message being delivered (in active/) is left alone: try again when the\n"
	  "attempt ends.\n",
	  cmd_queue },
	{ "dkim", "make DKIM signing keys, list them, print their DNS records",
	  "usage: mailctl [-c DIR] dkim keygen DOMAIN SELECTOR [--ed25519] [--bits N]\n"
	  "       mailctl [-c DIR] dkim list [DOMAIN]\n"
	  "       mailctl [-c DIR] dkim txt DOMAIN SELECTOR\n"
	  "       mailctl [-c DIR] dkim del DOMAIN SELECTOR [--purge]\n"
	  "keygen writes a new private key (RSA of N bits, default 2048, or Ed25519)\n"
	  "to CONFIG_DIR/dkim/DOMAIN.SELECTOR.key (mode 0600, mail_owner's under\n"
	  "root), adds SELECTOR:ALGORITHM:KEYFILE to DOMAIN's entry in the first map\n"
	  "of dkim_signing_table (set to hash:$config_directory/dkim_signing if\n"
	  "empty), rebuilds it, and prints the TXT record to publish as a zone file\n"
	  "line (the value in strings of at most 255 bytes). A DOMAIN of .PARENT\n"
	  "signs the subdomains of PARENT. Several keys per domain make several\n"
	  "signatures (e.g. one RSA, one Ed25519).\n"
	  "list prints DOMAIN, selector, algorithm and key file of each entry.\n"
	  "txt prints the record of an existing key again. del removes a selector\n"
	  "from the table (--purge: and its key file).\n",
	  cmd_dkim },
	{ "help", "list the commands, or show one command's help",
	  "usage: mailctl help [COMMAND]\n", cmd_help },
};

const struct mailctl_cmd *mailctl_find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void print_overview(FILE *out)
{
	fprintf(out, "usage: mailctl [-c CONFIG_DIR] COMMAND [ARGS]\n\n"
		     "Administers a Postern mail system. CONFIG_DIR holds main.cf and master.cf\n"
		     "(default: $MAIL_CONFIG, else %s).\n\nCommands:\n",
		POSTERN_CONFIG_DIR);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n'mailctl COMMAND --help' shows a command's options.\n"
		     "Quick start: mailctl init /tmp/mx --domain example.test --port-base 10000\n"
		     "             mailctl -c /tmp/mx start\n");
}

static int cmd_help(struct mailctl *ctl, int argc, char **argv)
{
	const struct mailctl_cmd *cmd = argc > 1 ? mailctl_find(argv[1]) : NULL;
	(void)ctl;

	if (argc > 1 && cmd == NULL) {
		fprintf(stderr, "mailctl: unknown command '%s'\n", argv[1]);
		return 2;
	}
	if (cmd != NULL)
		fputs(cmd->usage, stdout);
	else
		print_overview(stdout);
	return 0;
}

bool mailctl_wants_help(const struct mailctl_cmd *cmd, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(cmd->usage, stdout);
			return true;
		}
	}
	return false;
}

void mailctl_print_diag(void *ctx, const char *file, int line, const char *severity,
			const char *msg)
{
	int *errors = ctx;

	if (line > 0)
		fprintf(stderr, "%s:%d: %s: %s\n", file, line, severity, msg);
	else
		fprintf(stderr, "%s: %s: %s\n", file, severity, msg);
	if (errors != NULL && strcmp(severity, "error") == 0)
		(*errors)++;
}

cfg *mailctl_config(struct mailctl *ctl)
{
	char *path;

	if (ctl->config != NULL)
		return ctl->config;
	ctl->config = cfg_new(ctl->config_dir);
	path = fs_join(ctl->config_dir, "main.cf");
	if (cfg_load_file(ctl->config, path, mailctl_print_diag, NULL) != 0)
		ctl->config_errors++;
	else
		ctl->config_errors += cfg_check(ctl->config, mailctl_print_diag, NULL);
	free(path);
	return ctl->config;
}

void mailctl_maps_changed(struct mailctl *ctl)
{
	ctl->maps_changed = true;
}

/* queue_dir_of: the queue directory of the instance in ctl->config_dir
 * (heap), or NULL when there is no usable main.cf (map build on a file of
 * no instance): loaded quietly unless the command loaded it already. */
static char *queue_dir_of(struct mailctl *ctl)
{
	char *path, *dir = NULL;
	cfg *c;

	if (ctl->config != NULL)
		return xstrdup(cfg_get(ctl->config, "queue_directory"));
	if (ctl->config_dir == NULL)
		return NULL;
	c = cfg_new(ctl->config_dir);
	path = fs_join(ctl->config_dir, "main.cf");
	if (cfg_load_file(c, path, NULL, NULL) == 0)
		dir = xstrdup(cfg_get(c, "queue_directory"));
	free(path);
	cfg_free(&c);
	return dir;
}

/* bump_generation: after the maps changed, the running daemons must see
 * them at their next lookup (lib/mapgen). An instance with no queue yet
 * has no daemons to tell. */
static void bump_generation(struct mailctl *ctl)
{
	char *queue = queue_dir_of(ctl), *err = NULL;

	if (queue == NULL || *queue == '\0' || access(queue, F_OK) < 0) {
		free(queue);
		return;
	}
	if (mapgen_bump(queue, &err) == 0) {
		fprintf(stderr,
			"mailctl: warning: %s; running daemons see the change within a second\n",
			err);
		free(err);
	}
	free(queue);
}

static const char *pick_config_dir(int *argc, char ***argv)
{
	const char *dir = getenv("MAIL_CONFIG") ? getenv("MAIL_CONFIG") : POSTERN_CONFIG_DIR;

	while (*argc > 1 && (*argv)[1][0] == '-') {
		if (strcmp((*argv)[1], "-c") == 0 && *argc > 2) {
			dir = (*argv)[2];
			*argc -= 2;
			*argv += 2;
		} else if (strcmp((*argv)[1], "--help") == 0 || strcmp((*argv)[1], "-h") == 0) {
			print_overview(stdout);
			exit(0);
		} else {
			fprintf(stderr, "mailctl: unknown option '%s'\n", (*argv)[1]);
			print_overview(stderr);
			exit(2);
		}
	}
	return dir;
}

int main(int argc, char **argv)
{
	struct mailctl ctl = { 0 };
	const struct mailctl_cmd *cmd;
	const char *dir;
	int rc;

	log_init("mailctl");
	dir = pick_config_dir(&argc, &argv);
	if (argc < 2) {
		print_overview(stderr);
		return 2;
	}
	cmd = mailctl_find(argv[1]);
	if (cmd == NULL) {
		fprintf(stderr, "mailctl: unknown command '%s' (try mailctl --help)\n", argv[1]);
		return 2;
	}
	if (mailctl_wants_help(cmd, argc - 1, argv + 1))
		return 0;
	if (cmd->run != cmd_init && strcmp(cmd->name, "map") != 0 && strcmp(cmd->name, "help") != 0) {
		char *abs = realpath(dir, NULL);

		if (abs == NULL) {
			fprintf(stderr, "mailctl: config directory %s: %s\n", dir, strerror(errno));
			return 1;
		}
		ctl.config_dir = abs;
	} else if (strcmp(cmd->name, "map") == 0) {
		ctl.config_dir = realpath(dir, NULL); /* only for bump_generation */
	}
	rc = cmd->run(&ctl, argc - 1, argv + 1);
	if (ctl.maps_changed)
		bump_generation(&ctl);
	cfg_free(&ctl.config);
	free((char *)ctl.config_dir);
	return rc;
}
