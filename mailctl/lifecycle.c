/* lifecycle.c: mailctl start, stop, reload and status. Whether a master
 * runs is decided by the lock on its pid file, not by the file's presence,
 * so a stale pid file after a crash never confuses these commands. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "mailctl.h"
#include "mem.h"
#include "sock.h"

#define CONTROL_TIMEOUT_MS 30000

static char *queue_path(struct mailctl *ctl, const char *name)
{
	return fs_join(cfg_get(mailctl_config(ctl), "queue_directory"), name);
}

int mailctl_running_pid(struct mailctl *ctl)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char *path = queue_path(ctl, "pid/master.pid");
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	free(path);
	if (fd < 0)
		return 0;
	if (fcntl(fd, F_GETLK, &fl) < 0 || fl.l_type == F_UNLCK)
		fl.l_pid = 0;
	close(fd);
	return (int)fl.l_pid;
}

attr_rec *mailctl_request(struct mailctl *ctl, const char *what)
{
	char *path = queue_path(ctl, "pid/master.sock");
	attr_rec *req = attr_new("master"), *reply = NULL;
	char *err = NULL;
	int fd = sock_connect_unix(path, &err);

	attr_add_str(req, "request", what);
	if (fd < 0 || attr_send(fd, req, CONTROL_TIMEOUT_MS, &err) < 0 ||
	    attr_recv(fd, &reply, CONTROL_TIMEOUT_MS, &err) < 0) {
		fprintf(stderr, "mailctl: %s request to master: %s\n", what, err);
		free(err);
		reply = NULL;
	}
	if (fd >= 0)
		close(fd);
	attr_free(&req);
	free(path);
	return reply;
}

static int run_master(struct mailctl *ctl)
{
	char *master = fs_join(cfg_get(mailctl_config(ctl), "daemon_directory"), "master");
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execl(master, master, "-w", "-c", ctl->config_dir, (char *)NULL);
		fprintf(stderr, "mailctl: cannot run %s: %s\n", master, strerror(errno));
		_exit(127);
	}
	free(master);
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int cmd_start(struct mailctl *ctl, int argc, char **argv)
{
	int pid;
	(void)argc;
	(void)argv;

	if (check_all(ctl, true, false) != 0) {
		fprintf(stderr, "mailctl: not started: fix the errors above\n");
		return 1;
	}
	pid = mailctl_running_pid(ctl);
	if (pid > 0) {
		fprintf(stderr, "mailctl: the mail system is already running (pid %d)\n", pid);
		return 1;
	}
	if (run_master(ctl) != 0) {
		fprintf(stderr, "mailctl: start failed\n");
		return 1;
	}
	printf("mailctl: started (pid %d)\n", mailctl_running_pid(ctl));
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A process is gone once it no longer exists or is a zombie nobody reaped
 * yet (it holds no files and no ports any more). */
static bool process_gone(int pid)
{
	char path[64], state = 0;
	FILE *f;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return true;
	if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
		state = 0;
	fclose(f);
	return state == 'Z' || state == 'X';
}

int cmd_stop(struct mailctl *ctl, int argc, char **argv)
{
	long waited = 0, limit = (cfg_get_int(mailctl_config(ctl), "service_stop_timeout") + 30) * 1000;
	int pid = mailctl_running_pid(ctl);
	(void)argc;
	(void)argv;

	if (pid <= 0) {
		fprintf(stderr, "mailctl: the mail system is not running\n");
		return 1;
	}
	if (kill(pid, SIGTERM) < 0) {
		fprintf(stderr, "mailctl: cannot signal master pid %d: %s\n", pid, strerror(errno));
		return 1;
	}
	while (!process_gone(pid)) {
		if (waited >= limit) {
			fprintf(stderr, "mailctl: master pid %d did not stop in %ld s\n", pid,
				limit / 1000);
			return 1;
		}
		sleep_ms(20);
		waited += 20;
	}
	printf("mailctl: stopped\n");
	return 0;
}

int cmd_reload(struct mailctl *ctl, int argc, char **argv)
{
	attr_rec *reply;
	int rc = 1;
	(void)argc;
	(void)argv;

	if (mailctl_running_pid(ctl) <= 0) {
		fprintf(stderr, "mailctl: the mail system is not running\n");
		return 1;
	}
	if (check_all(ctl, true, false) != 0) {
		fprintf(stderr, "mailctl: reload refused: fix the errors above\n");
		return 1;
	}
	reply = mailctl_request(ctl, "reload");
	if (reply == NULL)
		return 1;
	if (strcmp(attr_get(reply, "status") ? attr_get(reply, "status") : "", "ok") == 0) {
		printf("mailctl: reloaded\n");
		rc = 0;
	} else {
		fprintf(stderr, "%smailctl: reload refused, the old configuration stays\n",
			attr_get(reply, "message") ? attr_get(reply, "message") : "");
	}
	attr_free(&reply);
	return rc;
}

/* One line per service: the reply lists service, command, listen and then
 * that service's process fields, in that order. */
static void print_status(const attr_rec *reply)
{
	bool open_line = false, first_pid = true;

	printf("master: pid %s, configuration %s\n", attr_get(reply, "pid"),
	       attr_get(reply, "config_directory"));
	printf("%-24s %-8s %-32s %s\n", "SERVICE", "COMMAND", "LISTEN", "PROCESSES");
	for (size_t i = 0; i < attr_count(reply); i++) {
		const char *name = attr_name_at(reply, i), *value = attr_value_at(reply, i);

		if (strcmp(name, "service") == 0) {
			if (open_line)
				printf("\n");
			printf("%-24s", value);
			open_line = true;
			first_pid = true;
		} else if (strcmp(name, "command") == 0) {
			printf(" %-8s", value);
		} else if (strcmp(name, "listen") == 0) {
			printf(" %-32s", value);
		} else if (strcmp(name, "process") == 0) {
			printf("%s%s", first_pid ? " " : ",", value);
			first_pid = false;
		}
	}
	if (open_line)
		printf("\n");
}

int cmd_status(struct mailctl *ctl, int argc, char **argv)
{
	attr_rec *reply;
	(void)argc;
	(void)argv;

	if (mailctl_running_pid(ctl) <= 0) {
		printf("mailctl: the mail system is not running\n");
		return 1;
	}
	reply = mailctl_request(ctl, "status");
	if (reply == NULL)
		return 1;
	print_status(reply);
	attr_free(&reply);
	return 0;
}
