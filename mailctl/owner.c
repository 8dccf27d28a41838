/* owner.c: mailctl's side of mail_owner, the unprivileged user the daemons
 * run as when master runs as root. `mailctl init` run as root creates the
 * system user postern (or reuses it) with useradd, and every command run
 * as root gives what the daemons must write (queue, mail store, log,
 * password map, TLS key) to mail_owner. Without root nothing changes
 * hands: the instance belongs to the user who runs it. The owners and
 * modes are listed in docs/internals.md. */
#include <errno.h>
#include <ftw.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mailctl.h"

#define USERADD "/usr/sbin/useradd"

/* run_useradd: a system user with its own group, no home and no login
 * shell. 0 or -1 (printed). */
static int run_useradd(const char *name)
{
	char *argv[] = { USERADD, "--system", "--user-group", "--no-create-home",
			 "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
			 "--comment", "Postern mail system", (char *)name, NULL };
	int status;
	pid_t pid;

	if (access(USERADD, X_OK) < 0) {
		fprintf(stderr, "mailctl: cannot create the user %s: %s: %s (Debian package "
				"passwd)\n", name, USERADD, strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "mailctl: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		execv(USERADD, argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "mailctl: %s %s failed\n", USERADD, name);
		return -1;
	}
	printf("mailctl: created the system user %s (mail_owner)\n", name);
	return 0;
}

int owner_create(const char *name)
{
	struct passwd *pw = getpwnam(name);

	if (pw == NULL && run_useradd(name) < 0)
		return -1;
	pw = getpwnam(name);
	if (pw == NULL) {
		fprintf(stderr, "mailctl: the user %s does not exist after useradd\n", name);
		return -1;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		fprintf(stderr, "mailctl: the user %s has user or group id 0: it cannot be "
				"mail_owner\n", name);
		return -1;
	}
	return 0;
}

int owner_lookup(struct mailctl *ctl, uid_t *uid_r, gid_t *gid_r)
{
	const char *name = cfg_get(mailctl_config(ctl), "mail_owner");
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	pw = getpwnam(name);
	if (pw == NULL || pw->pw_uid == 0) {
		fprintf(stderr, "mailctl: warning: mail_owner %s: %s\n", name,
			pw == NULL ? "no such user" : "is root");
		return 0;
	}
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
	return 1;
}

/* nftw has no context pointer: the ids for give_one (mailctl is one
 * thread). */
static uid_t give_uid;
static gid_t give_gid;

static int give_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return lchown(path, give_uid, give_gid);
}

int owner_give_tree(const char *path, uid_t uid, gid_t gid)
{
	give_uid = uid;
	give_gid = gid;
	if (nftw(path, give_one, 16, FTW_PHYS) != 0) {
		fprintf(stderr, "mailctl: warning: cannot give %s to uid %ld: %s\n", path,
			(long)uid, strerror(errno));
		return -1;
	}
	return 0;
}
