/* mcf.h: master.cf, the table of services master runs. Postfix's columns:
 *   service type private unpriv chroot wakeup maxproc command [args...]
 * type is inet or unix; "-" takes the default of a column (private y,
 * unpriv y, chroot n, wakeup 0, maxproc $default_process_limit). A line
 * starting with white space continues the previous entry; '#' starts a
 * comment line. An inet service name is [host:]port, "[ipv6]:port" or a
 * service name from /etc/services; a unix service name is a socket under
 * $queue_directory/private (private = y) or public (private = n). */
#ifndef POSTERN_MCF_H
#define POSTERN_MCF_H

#include <stdbool.h>
#include "cfg.h"

enum mcf_type { MCF_INET, MCF_UNIX };

struct mcf_service {
	char *name; /* as written: "127.0.0.1:10025", "smtp", "qmgr" */
	enum mcf_type type;
	bool private_;
	bool unpriv;
	bool chroot;
	int wakeup; /* seconds, 0 = none */
	int maxproc; /* > 0 */
	char *command; /* program name (in daemon_directory) or absolute path */
	char **args; /* NULL-terminated, without the command itself */
	int nargs;
	int line; /* where the entry starts */
};

struct mcf {
	char *path;
	struct mcf_service *services;
	int count;
};

/* mcf_auto_maxproc: the process count of default_process_limit = 0: the
 * number of online CPUs, at least 2 and at most MCF_AUTO_MAXPROC_MAX. */
#define MCF_AUTO_MAXPROC_MAX 64
int mcf_auto_maxproc(void);

/* mcf_load: parses path. Errors (bad column, duplicate service, ...) go to
 * diag with file:line. default_maxproc fills "-" in the maxproc column
 * (0 or less: mcf_auto_maxproc()).
 * Returns NULL if there was any error or the file cannot be read. */
struct mcf *mcf_load(const char *path, int default_maxproc, cfg_diag_fn *diag, void *ctx);
void mcf_free(struct mcf **m);
/* mcf_service_equal: same name, type, every column and args. */
bool mcf_service_equal(const struct mcf_service *a, const struct mcf_service *b);
/* mcf_service_key: "name/type", unique per file; heap string. */
char *mcf_service_key(const struct mcf_service *s);

#endif
