/* log.c: the one logging path of every program. A message is formatted
 * once and written either to syslog (ident "postern/PROGRAM", LOG_PID) or
 * appended to a file as a traditional syslog line with one write(2), so
 * that several processes can share the file. stderr gets a copy for tools
 * and foreground runs. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define LOG_MSG_MAX 4096

static struct {
	char program[64];
	char syslog_name[64];
	char ident[140];
	char host[256];
	enum log_level min_level;
	bool to_stderr;
	bool to_syslog;
	int fd;
	char *path;
} lg = { .program = "postern", .syslog_name = "postern", .fd = -1, .to_stderr = true,
	   .min_level = LOG_LVL_INFO };

static const struct {
	const char *name;
	int value;
} facilities[] = {
	{ "mail", LOG_MAIL },     { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
	{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

static void update_ident(void)
{
	snprintf(lg.ident, sizeof(lg.ident), "%s/%s", lg.syslog_name, lg.program);
}

void log_init(const char *program)
{
	const char *slash = strrchr(program, '/');

	snprintf(lg.program, sizeof(lg.program), "%s", slash ? slash + 1 : program);
	update_ident();
	if (gethostname(lg.host, sizeof(lg.host) - 1) != 0)
		strcpy(lg.host, "localhost");
	lg.host[strcspn(lg.host, ".")] = '\0';
}

void log_set_syslog_name(const char *name)
{
	snprintf(lg.syslog_name, sizeof(lg.syslog_name), "%s", name);
	update_ident();
}

void log_set_level(enum log_level min_level)
{
	lg.min_level = min_level;
}

void log_set_stderr(bool on)
{
	lg.to_stderr = on;
}

static int open_append(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int log_open_file(const char *path, char **err_r)
{
	int fd = open_append(path);

	if (fd < 0) {
		if (asprintf(err_r, "cannot open log file %s: %s", path, strerror(errno)) < 0)
			*err_r = NULL;
		return -1;
	}
	if (lg.fd >= 0)
		close(lg.fd);
	lg.fd = fd;
	free(lg.path);
	lg.path = strdup(path);
	lg.to_syslog = false;
	return 0;
}

int log_open_syslog(const char *facility, char **err_r)
{
	for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
		if (strcasecmp(facility, facilities[i].name) == 0) {
			openlog(lg.ident, LOG_PID | LOG_NDELAY, facilities[i].value);
			lg.to_syslog = true;
			return 0;
		}
	}
	if (asprintf(err_r, "unknown syslog facility '%s'", facility) < 0)
		*err_r = NULL;
	return -1;
}

void log_reopen(void)
{
	int fd;

	if (lg.path == NULL)
		return;
	fd = open_append(lg.path);
	if (fd < 0)
		return; /* keep writing to the old file rather than losing lines */
	close(lg.fd);
	lg.fd = fd;
}

static const char *level_prefix(enum log_level level)
{
	switch (level) {
	case LOG_LVL_WARN:
		return "warning: ";
	case LOG_LVL_FATAL:
		return "fatal: ";
	case LOG_LVL_PANIC:
		return "panic: ";
	default:
		return "";
	}
}

size_t log_format_line(char *out, size_t outlen, long when, const char *host, const char *ident,
		       int pid, enum log_level level, const char *msg)
{
	time_t t = (time_t)when;
	struct tm tm;
	char stamp[32];
	int n;

	localtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	n = snprintf(out, outlen, "%s %s %s[%d]: %s%s\n", stamp, host, ident, pid,
		     level_prefix(level), msg);
	if (n < 0)
		return 0;
	if ((size_t)n >= outlen) { /* cut, but keep the line ending */
		out[outlen - 2] = '\n';
		out[outlen - 1] = '\0';
		return outlen - 1;
	}
	return (size_t)n;
}

static int syslog_priority(enum log_level level)
{
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_CRIT, LOG_CRIT };

	return prio[level];
}

/* Control characters from peers must not forge log lines. */
static void sanitize(char *msg)
{
	for (unsigned char *p = (unsigned char *)msg; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX], line[LOG_MSG_MAX + 512];
	int saved_errno = errno;
	size_t len;

	if (level < lg.min_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	sanitize(msg);
	if (lg.to_syslog)
		syslog(syslog_priority(level), "%s%s", level_prefix(level), msg);
	if (lg.fd >= 0) {
		len = log_format_line(line, sizeof(line), (long)time(NULL), lg.host, lg.ident,
				      (int)getpid(), level, msg);
		if (write(lg.fd, line, len) < 0) {
			/* nowhere left to report it */
		}
	}
	if (lg.to_stderr || (lg.fd < 0 && !lg.to_syslog))
		fprintf(stderr, "%s: %s%s\n", lg.ident, level_prefix(level), msg);
	errno = saved_errno;
}

#define LOG_FN(fn, level)                           \
	void fn(const char *fmt, ...)               \
	{                                           \
		va_list ap;                         \
		va_start(ap, fmt);                  \
		log_vmsg(level, fmt, ap);           \
		va_end(ap);                         \
	}
LOG_FN(log_debug, LOG_LVL_DEBUG)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_warn, LOG_LVL_WARN)

void log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_FATAL, fmt, ap);
	va_end(ap);
	exit(1);
}

void log_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_PANIC, fmt, ap);
	va_end(ap);
	abort();
}
