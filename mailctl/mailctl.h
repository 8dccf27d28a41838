/* mailctl.h: the admin command's shared pieces: the options common to all
 * subcommands, and one entry point per subcommand file. Internal to
 * mailctl/. */
#ifndef POSTERN_MAILCTL_H
#define POSTERN_MAILCTL_H

#include <stdbool.h>
#include "attr.h"
#include "cfg.h"

struct mailctl {
	const char *config_dir; /* absolute */
	cfg *config; /* loaded on demand by mailctl_config() */
	int config_errors;
	bool maps_changed; /* a map file was (or may have been) rewritten */
};

/* A subcommand: name, one-line summary, usage text and handler. argv[0] is
 * the subcommand's name. Handlers return the exit status. */
struct mailctl_cmd {
	const char *name;
	const char *summary;
	const char *usage;
	int (*run)(struct mailctl *ctl, int argc, char **argv);
};

/* mailctl_config: main.cf loaded and checked; problems printed as
 * "file:line: ..." on stderr. */
cfg *mailctl_config(struct mailctl *ctl);
/* mailctl_maps_changed: a map file is about to be rewritten; main() bumps
 * the instance's map generation (lib/mapgen) before mailctl exits, so the
 * running daemons look at their maps again at their next lookup. */
void mailctl_maps_changed(struct mailctl *ctl);
/* mailctl_wants_help: argv has -h or --help; prints the command's usage. */
bool mailctl_wants_help(const struct mailctl_cmd *cmd, int argc, char **argv);
const struct mailctl_cmd *mailctl_find(const char *name);
void mailctl_print_diag(void *ctx, const char *file, int line, const char *severity,
			const char *msg);
/* mailctl_running_pid: pid of the master holding the pid-file lock, or 0. */
int mailctl_running_pid(struct mailctl *ctl);
/* mailctl_request: sends protocol=master request=what to the control
 * socket and returns the reply, or NULL after printing why. */
attr_rec *mailctl_request(struct mailctl *ctl, const char *what);

int cmd_start(struct mailctl *ctl, int argc, char **argv);
int cmd_stop(struct mailctl *ctl, int argc, char **argv);
int cmd_reload(struct mailctl *ctl, int argc, char **argv);
int cmd_status(struct mailctl *ctl, int argc, char **argv);
int cmd_check(struct mailctl *ctl, int argc, char **argv);
int cmd_config(struct mailctl *ctl, int argc, char **argv);
int cmd_map(struct mailctl *ctl, int argc, char **argv);
int cmd_init(struct mailctl *ctl, int argc, char **argv);
int cmd_domain(struct mailctl *ctl, int argc, char **argv);
int cmd_user(struct mailctl *ctl, int argc, char **argv);
int cmd_alias(struct mailctl *ctl, int argc, char **argv);
int cmd_queue(struct mailctl *ctl, int argc, char **argv);
int cmd_dkim(struct mailctl *ctl, int argc, char **argv);
/* admin.c pieces init.c reuses for the demo domain: exit status, messages
 * printed. quota may be NULL. */
int admin_domain_add(struct mailctl *ctl, const char *domain);
int admin_user_add(struct mailctl *ctl, const char *address, const char *quota);
int admin_alias_add(struct mailctl *ctl, const char *address, const char *targets);
/* admin.c helpers for passwd.c. admin_address_key: the canonical key of
 * an address "user@domain" (heap), or NULL (printed). admin_domain_hosted
 * and admin_user_exists: 1, 0 or -1 (printed). admin_first_map: the text
 * file (heap) of the first map of a list key and whether it is hashed;
 * 0 or -1 (printed). */
char *admin_address_key(const char *text);
int admin_domain_hosted(struct mailctl *ctl, const char *domain);
int admin_user_exists(struct mailctl *ctl, const char *key);
int admin_first_map(struct mailctl *ctl, const char *key, char **path_r, bool *rebuild_r);
/* passwd.c: "user passwd", "user add --password-stdin", "user import"
 * (exit status; messages printed; scheme NULL = SHA512-CRYPT; cram: also
 * store the CRAM-MD5 secret of the password, of {PLAIN} ones for import),
 * and the removal of a user's password entry for user del: 1 removed, 0
 * none, -1 error (printed). */
int passwd_user(struct mailctl *ctl, const char *address, const char *scheme, bool cram);
int passwd_user_add(struct mailctl *ctl, const char *address, const char *quota,
		    const char *scheme, bool cram);
int passwd_import(struct mailctl *ctl, const char *file, const char *scheme, bool cram);
int passwd_remove(struct mailctl *ctl, const char *key);
/* owner.c: mail_owner under root (docs/internals.md lists the owners).
 * owner_create: makes the system user name (useradd) unless it exists;
 * refuses one with user or group id 0. 0 or -1 (printed).
 * owner_lookup: 1 with mail_owner's ids when mailctl runs as root and the
 * user exists (and is not root), else 0 (a warning printed if it should).
 * owner_give_tree: chown -R without following links; 0 or -1 (warned). */
int owner_create(const char *name);
int owner_lookup(struct mailctl *ctl, uid_t *uid_r, gid_t *gid_r);
int owner_give_tree(const char *path, uid_t uid, gid_t gid);
/* check_all: the checks of "mailctl check"; returns the number of errors.
 * dns: also look up what is published (the DKIM key records). */
int check_all(struct mailctl *ctl, bool quiet_ok, bool dns);
/* dkim_check.c: the DKIM settings and every signing table entry's key
 * (file:line of the table's text), with dns the published records too.
 * Returns the number of errors (printed). */
int check_dkim(struct mailctl *ctl, cfg *c, bool dns);

#endif
