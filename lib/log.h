/* log.h: logging for every program, to syslog or to a file, in the
 * traditional form "Mon DD HH:MM:SS host postern/PROGRAM[PID]: text".
 * Warnings, fatals and panics carry a "warning: ", "fatal: " or "panic: "
 * prefix as Postfix does. One write(2) per line, so several processes can
 * append to one file. Messages about a mail start with its queue ID. */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_FATAL, LOG_LVL_PANIC };

/* log_init: names the program ("master", "smtpd"); until log_open_* is called
 * messages go to stderr only. syslog_name defaults to "postern". */
void log_init(const char *program);
void log_set_syslog_name(const char *name);
void log_set_level(enum log_level min_level);
/* log_set_stderr: also copy every message to stderr (foreground runs, tools). */
void log_set_stderr(bool on);

/* log_open_file: append to path (created 0640). Returns 0, or -1 and sets
 * *err_r to a heap string. log_open_syslog: facility name ("mail", "local0").
 * Returns -1 for an unknown facility. */
int log_open_file(const char *path, char **err_r);
int log_open_syslog(const char *facility, char **err_r);
/* log_reopen: reopen the file (after rotation, on reload). */
void log_reopen(void);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_fatal: cannot go on; logs and exits 1. */
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* log_panic: our own bug; logs and aborts (core dump). */
void log_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void log_vmsg(enum log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* log_format_line: builds the file-format line (with trailing newline) into
 * out of size outlen; exposed for the unit tests. Returns its length. */
size_t log_format_line(char *out, size_t outlen, long when, const char *host,
		       const char *ident, int pid, enum log_level level, const char *msg);

#endif
