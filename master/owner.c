/* owner.c: master's mail_owner, the user every child runs as when master
 * runs as root. Looks the user up and refuses one with user or group id 0
 * (a network-facing parser must never run as root); gives that user the
 * log file master may just have created; and checks, in a short-lived
 * child that has become that user, that it can reach what every child
 * needs (main.cf, the service programs, the queue, the log, the mail
 * store), naming the directory in the way, so a bad setup stops startup
 * with a clear error instead of a crash loop of children. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "master.h"
#include "mem.h"

#define OWNER_REPORT_MAX 4096

int owner_find(struct master *m)
{
	const char *owner = cfg_get(m->config, "mail_owner");
	struct passwd *pw = getpwnam(owner);

	m->is_root = geteuid() == 0;
	if (pw != NULL && (pw->pw_uid == 0 || pw->pw_gid == 0)) {
		master_error(m, "mail_owner %s has %s id 0: the services must never run as root; "
				"set mail_owner to an unprivileged user (mailctl init run as root "
				"makes one: postern)", owner, pw->pw_uid == 0 ? "user" : "group");
		return -1;
	}
	if (!m->is_root)
		return 0;
	if (pw == NULL) {
		master_error(m, "mail_owner %s: no such user", owner);
		return -1;
	}
	m->owner_uid = pw->pw_uid;
	m->owner_gid = pw->pw_gid;
	return 0;
}

void owner_give_log(struct master *m)
{
	const char *file = cfg_get(m->config, "maillog_file");
	struct stat st;

	if (!m->is_root || *file == '\0' || stat(file, &st) < 0 || st.st_uid != 0)
		return;
	if (chown(file, m->owner_uid, m->owner_gid) < 0)
		log_warn("cannot give %s to mail_owner: %s", file, strerror(errno));
}

/* blocked_dir: the first directory on the way to path that the current
 * user cannot search, or NULL. Heap string. */
static char *blocked_dir(const char *path)
{
	char *prefix = xstrdup(path);

	for (char *slash = strchr(prefix + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (access(prefix, X_OK) < 0)
			return prefix;
		*slash = '/';
	}
	free(prefix);
	return NULL;
}

/* check_one: in the child: one line to fd when path is not reachable
 * with mode. */
static void check_one(int fd, const char *owner, const char *what, const char *path, int mode)
{
	char *dir, line[OWNER_REPORT_MAX];
	int err, n;

	if (access(path, mode) == 0)
		return;
	err = errno;
	dir = blocked_dir(path);
	if (dir != NULL)
		n = snprintf(line, sizeof(line), "mail_owner %s cannot reach %s %s: directory %s "
				 "is not searchable by %s (make it so, e.g. setfacl -m u:%s:x %s, "
				 "or put the instance elsewhere)\n", owner, what, path, dir, owner, owner,
			     dir);
	else
		n = snprintf(line, sizeof(line), "mail_owner %s cannot %s %s %s: %s\n", owner,
			     mode & W_OK ? "write" : mode & R_OK ? "read" : "run", what, path,
			     strerror(err));
	free(dir);
	if (n > 0 && write(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0)
		_exit(2);
}

static void check_all(struct master *m, int fd)
{
	const char *owner = cfg_get(m->config, "mail_owner");
	const char *log_file = cfg_get(m->config, "maillog_file");
	const char *mail = cfg_get(m->config, "virtual_mailbox_base");
	char *main_cf = fs_join(m->config_dir, "main.cf");
	char *incoming = fs_join(cfg_get(m->config, "queue_directory"), "incoming");

	check_one(fd, owner, "the configuration", main_cf, R_OK);
	check_one(fd, owner, "the queue", incoming, W_OK | X_OK);
	if (*log_file != '\0')
		check_one(fd, owner, "the log file", log_file, W_OK);
	if (access(mail, F_OK) == 0)
		check_one(fd, owner, "the mail store", mail, W_OK | X_OK);
	for (int i = 0; i < m->mcf->count; i++) {
		const struct mcf_service *def = &m->mcf->services[i];
		char *path;

		if (def->chroot || !def->unpriv)
			continue;
		path = service_command_path(m, def);
		check_one(fd, owner, "the program", path, X_OK);
		free(path);
	}
	free(main_cf);
	free(incoming);
}

int owner_check_access(struct master *m)
{
	char text[8 * OWNER_REPORT_MAX], *line, *next;
	int fds[2], status;
	ssize_t n, total = 0;
	pid_t pid;

	if (!m->is_root)
		return 0;
	if (pipe(fds) < 0 || (pid = fork()) < 0) {
		master_error(m, "cannot check what mail_owner can reach: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		if (setgroups(1, &m->owner_gid) < 0 || setgid(m->owner_gid) < 0 ||
		    setuid(m->owner_uid) < 0)
			_exit(3);
		check_all(m, fds[1]);
		_exit(0);
	}
	close(fds[1]);
	while (total < (ssize_t)sizeof(text) - 1 &&
	       (n = read(fds[0], text + total, sizeof(text) - 1 - (size_t)total)) > 0)
		total += n;
	text[total] = '\0';
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	for (line = text; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		next = next != NULL ? (*next = '\0', next + 1) : line + strlen(line);
		master_error(m, "%s", line);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		master_error(m, "cannot become mail_owner %s to check what it can reach",
			     cfg_get(m->config, "mail_owner"));
		return -1;
	}
	return total > 0 ? -1 : 0;
}
