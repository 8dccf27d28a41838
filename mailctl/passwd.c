/* passwd.c: mailctl's password commands: "user passwd ADDRESS", "user add
 * ADDRESS --password-stdin" and "user import FILE" (a Dovecot passwd-file),
 * plus the removal of a password entry for "user del". Passwords are read
 * from the terminal with echo off (asked twice) or as one line from stdin
 * when it is not a terminal; never from argv. They are hashed by passdb
 * and written to the text file of the first map of virtual_passwd_maps,
 * which is kept at mode 0600 (owned by mail_owner when root runs this),
 * and the .db is rebuilt with the same mode. Buffers holding a password
 * are wiped after use. The CRAM-MD5 secret (--cram) is password-
 * equivalent, so it is stored only on request. */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "buf.h"
#include "mailctl.h"
#include "map.h"
#include "mapedit.h"
#include "mem.h"
#include "passdb.h"

/* Limits of an import file: its lines and its size. */
#define IMPORT_LINE_MAX (64 * 1024)
#define IMPORT_FILE_MAX (256L * 1024 * 1024)

/* ---- reading a password ---- */

/* The terminal settings to put back if a signal arrives while echo is off
 * (mailctl is one thread; a handler has no context pointer). */
static struct termios saved_termios;
static volatile sig_atomic_t echo_is_off;

static void restore_and_die(int sig)
{
	if (echo_is_off)
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void catch_signals(void (*handler)(int))
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static int echo_off(void)
{
	struct termios t;

	if (tcgetattr(STDIN_FILENO, &saved_termios) < 0)
		return -1;
	t = saved_termios;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	catch_signals(restore_and_die);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) < 0)
		return -1;
	echo_is_off = 1;
	return 0;
}

static void echo_on(void)
{
	if (echo_is_off)
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
	echo_is_off = 0;
	catch_signals(SIG_DFL);
}

/* read_line: one line from stdin, unbuffered, into pw (sized so that it
 * never reallocates: no stray copies of the password). 1 line, 0 EOF at
 * once, -1 read error or too long (printed). */
static int read_line(buf *pw)
{
	char c;
	ssize_t n;

	buf_reset(pw);
	while ((n = read(STDIN_FILENO, &c, 1)) == 1 || (n < 0 && errno == EINTR)) {
		if (n < 0)
			continue;
		if (c == '\n')
			break;
		if (buf_len(pw) >= PASSDB_PASSWORD_MAX) {
			fprintf(stderr, "mailctl: the password is longer than %d bytes\n",
				PASSDB_PASSWORD_MAX);
			return -1;
		}
		buf_putc(pw, c);
	}
	if (n < 0) {
		fprintf(stderr, "mailctl: cannot read the password: %s\n", strerror(errno));
		return -1;
	}
	if (n == 0 && buf_len(pw) == 0)
		return 0;
	if (buf_len(pw) > 0 && buf_cstr(pw)[buf_len(pw) - 1] == '\r')
		buf_truncate(pw, buf_len(pw) - 1);
	return 1;
}

static buf *pw_new(void)
{
	return buf_new(PASSDB_PASSWORD_MAX + 8);
}

static void pw_free(buf **pw)
{
	if (*pw == NULL)
		return;
	explicit_bzero(buf_data(*pw), buf_len(*pw));
	buf_free(pw);
}

/* prompt_once: asks on the terminal with echo off. */
static int prompt_once(const char *prompt, buf *pw)
{
	int rc;

	fputs(prompt, stderr);
	fflush(stderr);
	if (echo_off() < 0) {
		fprintf(stderr, "\nmailctl: cannot turn off echo on the terminal: %s\n",
			strerror(errno));
		echo_on();
		return -1;
	}
	rc = read_line(pw);
	echo_on();
	fputc('\n', stderr);
	return rc;
}

/* read_password: from the terminal (twice, must match) or one line of
 * stdin. A heap buf (wipe with pw_free), or NULL (printed). */
static buf *read_password(const char *address)
{
	buf *pw = pw_new(), *again = NULL;
	char *prompt = xasprintf("New password for %s: ", address);
	int rc;

	if (isatty(STDIN_FILENO)) {
		rc = prompt_once(prompt, pw);
		again = pw_new();
		if (rc == 1 && buf_len(pw) > 0 &&
		    (prompt_once("Retype the new password: ", again) != 1 ||
		     strcmp(buf_cstr(pw), buf_cstr(again)) != 0)) {
			fprintf(stderr, "mailctl: the passwords do not match\n");
			rc = -1;
		}
	} else {
		rc = read_line(pw);
	}
	if (rc == 0 || (rc == 1 && buf_len(pw) == 0)) {
		fprintf(stderr, "mailctl: no password given (empty passwords are refused)\n");
		rc = -1;
	}
	if (rc == 1 && strlen(buf_cstr(pw)) != buf_len(pw)) {
		fprintf(stderr, "mailctl: the password contains a NUL byte\n");
		rc = -1;
	}
	pw_free(&again);
	free(prompt);
	if (rc != 1)
		pw_free(&pw);
	return pw;
}

/* ---- the password map file ---- */

static void give_to_mail_owner(struct mailctl *ctl, const char *path)
{
	uid_t uid;
	gid_t gid;

	if (owner_lookup(ctl, &uid, &gid) == 1 && chown(path, uid, gid) < 0)
		fprintf(stderr, "mailctl: warning: cannot give %s to mail_owner %s: %s\n", path,
			cfg_get(mailctl_config(ctl), "mail_owner"), strerror(errno));
}

/* keep_private: a passwd file readable by others becomes 0600 (the .db
 * follows at the rebuild). A group-only mode (0640, group mail_owner's)
 * is left as the admin chose it. */
static void keep_private(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0 || (st.st_mode & 007) == 0)
		return;
	if (chmod(path, st.st_mode & 0700) == 0)
		fprintf(stderr, "mailctl: note: %s was readable by others; mode is now %04o\n",
			path, (unsigned)(st.st_mode & 0700));
}

/* passwd_file: the text file of the password map, created 0600 (and
 * given to mail_owner under root) when missing. Heap path, or NULL. */
static char *passwd_file(struct mailctl *ctl, bool *rebuild_r)
{
	char *path = NULL, *err = NULL;
	int rc;

	if (admin_first_map(ctl, "virtual_passwd_maps", &path, rebuild_r) < 0)
		return NULL;
	rc = mapedit_create(path, 0600, &err);
	if (rc < 0) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
		free(path);
		return NULL;
	}
	if (rc == 1)
		give_to_mail_owner(ctl, path);
	keep_private(path);
	return path;
}

/* store_entry: key -> entry in the password map. 0 or -1 (printed). */
static int store_entry(struct mailctl *ctl, const char *key, const char *entry)
{
	bool rebuild;
	char *path = passwd_file(ctl, &rebuild), *err = NULL;
	int rc = -1;

	if (path == NULL)
		return -1;
	mailctl_maps_changed(ctl);
	if (mapedit_set(path, key, entry, rebuild, &err) == 0)
		rc = 0;
	else
		fprintf(stderr, "mailctl: %s\n", err);
	free(err);
	free(path);
	return rc;
}

int passwd_remove(struct mailctl *ctl, const char *key)
{
	bool rebuild;
	char *path = NULL, *err = NULL;
	int rc;

	if (*cfg_get(mailctl_config(ctl), "virtual_passwd_maps") == '\0')
		return 0;
	if (admin_first_map(ctl, "virtual_passwd_maps", &path, &rebuild) < 0)
		return -1;
	mailctl_maps_changed(ctl);
	rc = mapedit_del(path, key, rebuild, &err);
	if (rc < 0)
		fprintf(stderr, "mailctl: %s\n", err);
	else if (rc == 1)
		printf("mailctl: password of %s removed\n", key);
	free(err);
	free(path);
	return rc;
}

/* make_entry: the entry for password: its hash, the SCRAM secret, and
 * the CRAM-MD5 secret when cram. Heap, or NULL with *err_r (heap). */
static char *make_entry(const char *scheme, const char *password, bool cram, char **err_r)
{
	char *entry = passdb_entry_make(scheme, password, true, err_r), *secret, *both;

	if (entry == NULL || !cram)
		return entry;
	secret = passdb_cram_make(password, err_r);
	if (secret == NULL) {
		free(entry);
		return NULL;
	}
	both = xasprintf("%s cram-md5=%s", entry, secret);
	explicit_bzero(secret, strlen(secret));
	free(secret);
	free(entry);
	return both;
}

/* hash_and_store: the entry for password (make_entry) into the map. */
static int hash_and_store(struct mailctl *ctl, const char *key, const char *password,
			  const char *scheme, bool cram)
{
	char *err = NULL, *entry = make_entry(scheme, password, cram, &err);
	int rc;

	if (entry == NULL) {
		fprintf(stderr, "mailctl: %s\n", err);
		free(err);
		return -1;
	}
	if (scheme != NULL && strcasecmp(scheme, "BLF-CRYPT") == 0 && strlen(password) > 72)
		fprintf(stderr, "mailctl: warning: BLF-CRYPT uses only the first 72 bytes of "
				"the password\n");
	rc = store_entry(ctl, key, entry);
	explicit_bzero(entry, strlen(entry));
	free(entry);
	return rc;
}

/* check_scheme: refuse an unknown --scheme before asking for a password. */
static int check_scheme(const char *scheme)
{
	char *err = NULL, *h = passdb_hash(scheme, "x", &err);

	if (h != NULL) {
		free(h);
		return 0;
	}
	fprintf(stderr, "mailctl: %s\n", err);
	free(err);
	return -1;
}

/* ---- user passwd / user add --password-stdin ---- */

int passwd_user(struct mailctl *ctl, const char *address, const char *scheme, bool cram)
{
	char *key = admin_address_key(address);
	buf *pw = NULL;
	int rc = 1, exists;

	if (key == NULL || check_scheme(scheme) < 0)
		goto out;
	exists = admin_user_exists(ctl, key);
	if (exists == 0)
		fprintf(stderr, "mailctl: user %s does not exist (add it with: mailctl user add %s)\n",
			key, key);
	if (exists != 1)
		goto out;
	pw = read_password(key);
	if (pw != NULL && hash_and_store(ctl, key, buf_cstr(pw), scheme, cram) == 0) {
		printf("mailctl: password of %s set\n", key);
		rc = 0;
	}
out:
	pw_free(&pw);
	free(key);
	return rc;
}

int passwd_user_add(struct mailctl *ctl, const char *address, const char *quota,
		    const char *scheme, bool cram)
{
	char *key = admin_address_key(address);
	buf *pw = NULL;
	int rc = 1;

	/* The password comes first: a typo in it must not leave a user
	 * without one behind. */
	if (key == NULL || check_scheme(scheme) < 0 || (pw = read_password(key)) == NULL)
		goto out;
	rc = admin_user_add(ctl, key, quota);
	if (rc == 0 && hash_and_store(ctl, key, buf_cstr(pw), scheme, cram) < 0)
		rc = 1;
	if (rc == 0)
		printf("mailctl: password of %s set\n", key);
out:
	pw_free(&pw);
	free(key);
	return rc;
}

/* ---- user import ---- */

struct import {
	struct mailctl *ctl;
	const char *file;
	const char *scheme; /* for {PLAIN} passwords */
	bool cram; /* {PLAIN} passwords get a CRAM-MD5 secret too */
	int line;
	int added, updated, skipped;
};

static void skip(struct import *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void skip(struct import *im, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: skipped: ", im->file, im->line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	im->skipped++;
}

/* quota_from_rule: Dovecot's "*:storage=SIZE" (B, k, M, G, T units) as a
 * mailctl --quota value (heap), or NULL when it cannot be expressed. */
static char *quota_from_rule(const char *rule)
{
	const char *p = rule + strlen("*:storage=");
	size_t digits = strspn(p, "0123456789");
	char unit;

	if (strncmp(rule, "*:storage=", 10) != 0 || digits == 0 || digits > 15)
		return NULL;
	unit = p[digits];
	if (unit != '\0' && p[digits + 1] != '\0')
		return NULL;
	switch (unit) {
	case '\0': case 'b': case 'B':
		return xasprintf("%.*s", (int)digits, p);
	case 'k': case 'K': case 'm': case 'M': case 'g': case 'G':
		return xasprintf("%.*s%c", (int)digits, p, unit | 0x20);
	case 't': case 'T':
		return digits > 9 ? NULL : xasprintf("%lldg", atoll(p) * 1024);
	default:
		return NULL;
	}
}

/* import_quota: the quota among the extra fields (field 8 on), or NULL. */
static char *import_quota(struct import *im, char *extra)
{
	char *save = NULL, *quota = NULL;

	for (char *f = strtok_r(extra, " \t", &save); f != NULL; f = strtok_r(NULL, " \t", &save)) {
		const char *rule = NULL;

		if (strncmp(f, "userdb_quota_rule=", 18) == 0)
			rule = f + 18;
		else if (strncmp(f, "quota_rule=", 11) == 0)
			rule = f + 11;
		if (rule == NULL)
			continue;
		free(quota);
		quota = quota_from_rule(rule);
		if (quota == NULL)
			fprintf(stderr, "%s:%d: note: quota rule '%s' not imported\n", im->file,
				im->line, rule);
	}
	return quota;
}

/* import_secret: the entry to store for a passwd-file password field:
 * supported crypt hashes and {CRAM-MD5} as they are, {PLAIN}/{CLEARTEXT}
 * hashed now.
 * "" for an empty field (no password); NULL (skipped) otherwise. */
static char *import_secret(struct import *im, const char *field)
{
	const char *why = NULL, *plain = NULL;
	char *err = NULL, *entry;

	if (*field == '\0')
		return xstrdup("");
	if (strncasecmp(field, "{PLAIN}", 7) == 0)
		plain = field + 7;
	else if (strncasecmp(field, "{CLEARTEXT}", 11) == 0)
		plain = field + 11;
	if (plain == NULL) {
		if (passdb_scheme_check(field, &why) == 0)
			return xstrdup(field);
		skip(im, "password field not importable: %s", why);
		return NULL;
	}
	entry = make_entry(im->scheme, plain, im->cram, &err);
	if (entry == NULL) {
		skip(im, "%s", err);
		free(err);
	}
	return entry;
}

/* import_user: creates the mailbox unless it exists, then stores the
 * password. Counts the result. */
static void import_user(struct import *im, const char *key, const char *secret,
			const char *quota)
{
	int exists = admin_user_exists(im->ctl, key);

	if (exists < 0 || (exists == 0 && admin_user_add(im->ctl, key, quota) != 0)) {
		skip(im, "cannot add user %s", key);
		return;
	}
	if (*secret != '\0' && store_entry(im->ctl, key, secret) < 0) {
		skip(im, "cannot store the password of %s", key);
		return;
	}
	if (exists == 1) {
		printf("mailctl: user %s exists; password %s\n", key,
		       *secret != '\0' ? "replaced" : "unchanged (none in the file)");
		im->updated++;
	} else {
		if (*secret == '\0')
			printf("%s:%d: note: %s has no password\n", im->file, im->line, key);
		im->added++;
	}
}

/* nth_field: where the n-th ':'-separated field of line starts (0-based;
 * it runs to the end of the line), or NULL when the line has fewer. */
static char *nth_field(char *line, int n)
{
	char *p = line;

	for (int i = 0; i < n; i++) {
		p = strchr(p, ':');
		if (p == NULL)
			return NULL;
		p++;
	}
	return p;
}

static void import_line(struct import *im, char *line)
{
	char *user = line, *pass = nth_field(line, 1), *extra = nth_field(line, 7), *end;
	char *key = NULL, *secret = NULL, *quota = NULL;
	const char *domain;

	if (pass == NULL) {
		skip(im, "%s", "not a passwd-file line (user:password:...)");
		return;
	}
	if (extra != NULL)
		quota = import_quota(im, extra);
	end = strchr(pass, ':');
	if (end != NULL)
		*end = '\0';
	pass[-1] = '\0';
	if (strchr(user, '@') == NULL) {
		skip(im, "user '%s' has no domain", user);
		goto out;
	}
	key = admin_address_key(user);
	if (key == NULL) {
		skip(im, "bad address '%s'", user);
		goto out;
	}
	domain = strrchr(key, '@') + 1;
	if (admin_domain_hosted(im->ctl, domain) != 1) {
		skip(im, "domain %s is not hosted here (mailctl domain add)", domain);
		goto out;
	}
	secret = import_secret(im, pass);
	if (secret != NULL)
		import_user(im, key, secret, quota);
out:
	if (secret != NULL)
		explicit_bzero(secret, strlen(secret));
	free(secret);
	free(quota);
	free(key);
}

static bool blank_or_comment(const char *line)
{
	line += strspn(line, " \t");
	return *line == '\0' || *line == '#';
}

/* import_stream: every line of fp. -1 when the file could not be read. */
static int import_stream(struct import *im, FILE *fp)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long total = 0;

	while ((n = getline(&line, &cap, fp)) >= 0) {
		im->line++;
		total += n;
		if (total > IMPORT_FILE_MAX) {
			fprintf(stderr, "%s: larger than %ld bytes; stopped\n", im->file,
				IMPORT_FILE_MAX);
			break;
		}
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if ((size_t)n != strlen(line) || n > IMPORT_LINE_MAX)
			skip(im, "%s", "line too long or contains a NUL byte");
		else if (!blank_or_comment(line))
			import_line(im, line);
		explicit_bzero(line, cap);
	}
	free(line);
	return ferror(fp) ? -1 : 0;
}

int passwd_import(struct mailctl *ctl, const char *file, const char *scheme, bool cram)
{
	struct import im = { ctl, file, scheme, cram, 0, 0, 0, 0 };
	FILE *fp;
	int rc;

	if (check_scheme(scheme) < 0)
		return 1;
	fp = fopen(file, "re");
	if (fp == NULL) {
		fprintf(stderr, "mailctl: cannot open %s: %s\n", file, strerror(errno));
		return 1;
	}
	rc = import_stream(&im, fp);
	if (rc < 0)
		fprintf(stderr, "mailctl: error reading %s: %s\n", file, strerror(errno));
	fclose(fp);
	printf("mailctl: import of %s: %d user%s added, %d updated, %d line%s skipped\n", file,
	       im.added, im.added == 1 ? "" : "s", im.updated, im.skipped,
	       im.skipped == 1 ? "" : "s");
	return rc < 0 || im.skipped > 0 ? 1 : 0;
}
