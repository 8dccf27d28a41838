/* sendmail.c: the sendmail-compatible submission command (and mailq, the
 * same program under another name). Options follow Postfix's sendmail;
 * the instance is found through -C DIR or MAIL_CONFIG, like Postfix. The
 * message goes over SMTP to the local submission service (submit.c) and
 * never straight into the queue; when that service is not reachable the
 * command fails with EX_TEMPFAIL so the caller keeps the mail. -bp and
 * mailq print the queue with lib/qlist.c, as "mailctl queue list" does. */
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "fsutil.h"
#include "hdr.h"
#include "log.h"
#include "mem.h"
#include "qlist.h"
#include "sendmail.h"

static int usage(const char *why)
{
	fprintf(stderr, "sendmail: %s\n"
			"usage: sendmail [-t] [-i] [-f sender] [-F name] [-C dir] [-N dsn] [-R ret]\n"
			"                [-V envid] [-B type] [-v] [-bm|-bs|-bp] [recipient...]\n",
		why);
	return SM_EX_USAGE;
}

/* ---- options ---- */

/* The letters that take a value ("-f addr" or "-faddr"). Of these, -L,
 * -h, -O and -X are accepted and ignored, as Postfix does. */
static bool takes_value(char letter)
{
	return strchr("CfrFNRVBLhOX", letter) != NULL;
}

static int set_dsn_notify(struct sm_opts *o, const char *v)
{
	static char upper[64];
	char **words;
	size_t len = strlen(v);
	bool ok = len > 0 && len < sizeof(upper);

	words = cfg_split_list(v);
	for (char **w = words; ok && *w != NULL; w++)
		ok = strcasecmp(*w, "never") == 0 ? words[1] == NULL
						  : strcasecmp(*w, "success") == 0 ||
							    strcasecmp(*w, "failure") == 0 ||
							    strcasecmp(*w, "delay") == 0;
	cfg_free_list(&words);
	if (!ok)
		return usage("-N wants never, or a list of success, failure, delay");
	for (size_t i = 0; i <= len; i++)
		upper[i] = v[i] == ' ' ? ',' : (char)(v[i] >= 'a' && v[i] <= 'z' ? v[i] - 32 : v[i]);
	o->notify = upper;
	return 0;
}

static int set_value(struct sm_opts *o, char letter, const char *v)
{
	switch (letter) {
	case 'C':
		o->config_dir = v;
		return 0;
	case 'f':
	case 'r':
		o->sender = v;
		return 0;
	case 'F':
		o->full_name = v;
		return 0;
	case 'N':
		return set_dsn_notify(o, v);
	case 'R':
		if (strcasecmp(v, "full") != 0 && strcasecmp(v, "hdrs") != 0)
			return usage("-R wants full or hdrs");
		o->ret = strcasecmp(v, "full") == 0 ? "FULL" : "HDRS";
		return 0;
	case 'V':
		if (*v == '\0' || strlen(v) > 100)
			return usage("-V wants an envelope ID of 1 to 100 characters");
		o->envid = v;
		return 0;
	case 'B':
		if (strcasecmp(v, "8bitmime") != 0 && strcasecmp(v, "7bit") != 0)
			return usage("-B wants 7BIT or 8BITMIME");
		o->body = strcasecmp(v, "7bit") == 0 ? "7BIT" : "8BITMIME";
		return 0;
	default: /* L h O X */
		return 0;
	}
}

/* mode_option: -bm, -bs, -bp (others are not offered). */
static int mode_option(struct sm_opts *o, const char *rest)
{
	if (strcmp(rest, "m") == 0 || strcmp(rest, "s") == 0 || strcmp(rest, "p") == 0) {
		o->mode = rest[0];
		return 0;
	}
	if (strcmp(rest, "i") == 0) {
		fprintf(stderr, "sendmail: -bi: nothing to do: aliases are kept in\n"
				"virtual_alias_maps; see 'mailctl alias'\n");
		exit(SM_EX_OK);
	}
	return usage("this -b mode is not supported (use -bm, -bs or -bp)");
}

/* letter_option: one flag letter of a bundle such as "-ti". */
static int letter_option(struct sm_opts *o, char letter)
{
	switch (letter) {
	case 't':
		o->extract = true;
		return 0;
	case 'i':
		o->ignore_dots = true;
		return 0;
	case 'v':
		o->verbose = true;
		return 0;
	case 'U': case 'm': case 'n': case 's': case 'x': case 'G':
		return 0; /* accepted and ignored, as Postfix does */
	default:
		fprintf(stderr, "sendmail: unknown option -%c\n", letter);
		return usage("bad option");
	}
}

/* one_option: argv[*i] starts with '-'; may consume the next argument. */
static int one_option(struct sm_opts *o, int argc, char **argv, int *i)
{
	const char *arg = argv[*i];

	if (arg[1] == 'b')
		return mode_option(o, arg + 2);
	if (arg[1] == 'o') { /* -oi, -o i; every other -o option is ignored */
		const char *v = arg[2] != '\0' ? arg + 2 : *i + 1 < argc ? argv[++*i] : "";

		if (strcmp(v, "i") == 0)
			o->ignore_dots = true;
		return 0;
	}
	if (arg[1] == 'q')
		return usage("-q is not supported; use 'mailctl queue flush'");
	for (int j = 1; arg[j] != '\0'; j++) {
		int rc;

		if (takes_value(arg[j])) {
			if (arg[j + 1] == '\0' && *i + 1 >= argc)
				return usage("an option wants a value");
			return set_value(o, arg[j], arg[j + 1] != '\0' ? arg + j + 1 : argv[++*i]);
		}
		if ((rc = letter_option(o, arg[j])) != 0)
			return rc;
	}
	return 0;
}

static int parse_options(struct sm_opts *o, int argc, char **argv)
{
	bool options_done = false;

	for (int i = 1; i < argc; i++) {
		int rc;

		if (!options_done && strcmp(argv[i], "--") == 0) {
			options_done = true;
		} else if (!options_done && argv[i][0] == '-' && argv[i][1] != '\0') {
			if ((rc = one_option(o, argc, argv, &i)) != 0)
				return rc;
		} else {
			sm_list_add(&o->rcpts, argv[i]);
		}
	}
	return 0;
}

/* ---- configuration and addresses ---- */

static void print_diag(void *ctx, const char *file, int line, const char *severity,
		       const char *msg)
{
	(void)ctx;
	if (strcmp(severity, "error") == 0)
		fprintf(stderr, "sendmail: %s:%d: %s\n", file, line, msg);
}

/* load_config: -C names the directory (or its main.cf), else MAIL_CONFIG,
 * else the installed one. NULL when main.cf is unusable (printed). */
static cfg *load_config(const struct sm_opts *o)
{
	const char *dir = o->config_dir != NULL ? o->config_dir
			  : getenv("MAIL_CONFIG") != NULL ? getenv("MAIL_CONFIG")
							  : POSTERN_CONFIG_DIR;
	char *copy = xstrdup(dir), *path;
	struct stat st;
	cfg *c;

	if (stat(copy, &st) == 0 && S_ISREG(st.st_mode)) {
		char *d = xstrdup(dirname(copy));

		free(copy);
		copy = d;
	}
	c = cfg_new(copy);
	path = fs_join(copy, "main.cf");
	if (cfg_load_file(c, path, print_diag, NULL) != 0 || cfg_check(c, print_diag, NULL) != 0) {
		fprintf(stderr, "sendmail: cannot use the configuration in %s\n", copy);
		cfg_free(&c);
	}
	free(path);
	free(copy);
	return c;
}

/* qualify: address with "@myorigin" added when it has no domain. */
static char *qualify(const char *address, const char *origin)
{
	if (strchr(address, '@') != NULL || *address == '\0')
		return xstrdup(address);
	return xasprintf("%s@%s", address, origin);
}

/* sender_address: -f (brackets dropped, "" or "<>" the null sender) or
 * the login name, qualified with myorigin. */
static char *sender_address(const struct sm_opts *o, const char *origin)
{
	struct passwd *pw;
	char *s, *q;
	size_t len;

	if (o->sender != NULL) {
		s = xstrdup(o->sender);
		len = strlen(s);
		if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
			memmove(s, s + 1, len - 2);
			s[len - 2] = '\0';
		}
		q = qualify(s, origin);
		free(s);
		return q;
	}
	pw = getpwuid(getuid());
	s = pw != NULL ? xstrdup(pw->pw_name) : xasprintf("uid%ld", (long)getuid());
	q = qualify(s, origin);
	free(s);
	return q;
}

/* full_name: -F, else $NAME, else the first field of the passwd GECOS. */
static char *full_name(const struct sm_opts *o)
{
	struct passwd *pw;

	if (o->full_name != NULL)
		return xstrdup(o->full_name);
	if (getenv("NAME") != NULL)
		return xstrdup(getenv("NAME"));
	pw = getpwuid(getuid());
	if (pw == NULL || pw->pw_gecos == NULL)
		return NULL;
	return xstrndup(pw->pw_gecos, strcspn(pw->pw_gecos, ","));
}

struct rcpt_ctx {
	struct sm_list *out;
	const char *origin;
};

static void add_qualified(void *ctx, const char *addr)
{
	struct rcpt_ctx *rc = ctx;
	char *q = qualify(addr, rc->origin);

	sm_list_add(rc->out, q);
	free(q);
}

/* collect_rcpts: command line recipients (each may be an address list)
 * and, with -t, those of the header, all qualified. */
static int collect_rcpts(const struct sm_list *argv_rcpts, const struct sm_list *hdr_rcpts,
			 const char *origin, struct sm_list *out)
{
	struct rcpt_ctx ctx = { out, origin };
	const char *why = NULL;

	for (int i = 0; i < argv_rcpts->n; i++) {
		if (hdr_addr_list(argv_rcpts->v[i], add_qualified, &ctx, &why) < 0) {
			fprintf(stderr, "sendmail: bad recipient '%s': %s\n", argv_rcpts->v[i], why);
			return SM_EX_USAGE;
		}
	}
	for (int i = 0; i < hdr_rcpts->n; i++)
		add_qualified(&ctx, hdr_rcpts->v[i]);
	if (out->n == 0) {
		fprintf(stderr, "sendmail: no recipient addresses found (give them as arguments,\n"
				"or in To:, Cc: or Bcc: with -t)\n");
		return SM_EX_USAGE;
	}
	return 0;
}

/* ---- modes ---- */

static int list_queue(cfg *c)
{
	char *err = NULL;

	if (qlist_print(cfg_get(c, "queue_directory"), stdout, &err) < 0) {
		fprintf(stderr, "sendmail: %s\n", err);
		free(err);
		return SM_EX_UNAVAILABLE;
	}
	return fflush(stdout) == 0 ? SM_EX_OK : SM_EX_IOERR;
}

static int send_mail(cfg *c, const struct sm_opts *o, const char *socket_path)
{
	const char *origin = cfg_get(c, "myorigin");
	struct sm_envelope env = { 0 };
	struct sm_message m = { 0 };
	struct sm_list none = { 0 };
	char *sender = sender_address(o, origin), *name = full_name(o);
	int status = 0;

	if (!o->extract && o->rcpts.n == 0)
		status = collect_rcpts(&o->rcpts, &o->rcpts, origin, &env.rcpts);
	if (status == 0)
		status = sm_read_message(stdin, o, sender, name, &m);
	if (status == 0)
		status = collect_rcpts(&o->rcpts, o->extract ? &m.rcpts : &none, origin,
				       &env.rcpts);
	env.sender = sender;
	if (status == 0)
		status = sm_submit(socket_path, o, &env, &m);
	sm_message_free(&m);
	sm_list_clear(&env.rcpts);
	free(sender);
	free(name);
	return status;
}

static bool called_as(const char *argv0, const char *name)
{
	const char *slash = strrchr(argv0, '/');

	return strcmp(slash != NULL ? slash + 1 : argv0, name) == 0;
}

int main(int argc, char **argv)
{
	struct sm_opts o = { .mode = 'm' };
	char *socket_path;
	int status;
	cfg *c;

	log_init("sendmail");
	signal(SIGPIPE, SIG_IGN);
	if (argc > 0 && called_as(argv[0], "mailq"))
		o.mode = 'p';
	status = parse_options(&o, argc, argv);
	c = status == 0 ? load_config(&o) : NULL;
	if (status == 0 && c == NULL)
		status = SM_EX_CONFIG;
	if (status == 0) {
		socket_path = fs_join(cfg_get(c, "queue_directory"), "public/submit");
		if (o.mode == 'p')
			status = list_queue(c);
		else if (o.mode == 's')
			status = sm_relay_stdio(socket_path, o.verbose);
		else
			status = send_mail(c, &o, socket_path);
		free(socket_path);
	}
	cfg_free(&c);
	sm_list_clear(&o.rcpts);
	return status;
}
