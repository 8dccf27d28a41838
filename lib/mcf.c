/* mcf.c: the master.cf parser. Reads the whole file (at most 1 MiB), joins
 * each entry with its continuation lines into one logical line (at most
 * 4096 characters, 64 arguments), checks every column and the service name
 * syntax, and builds the service table for master. It never resolves names
 * or touches sockets; every problem goes to the diag callback with the
 * physical line it was found on, and any error makes mcf_load return NULL
 * after the whole file was checked (so an admin sees all problems at once). */
#include "mcf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "mem.h"

#define MCF_MAX_FILE (1024 * 1024)
#define MCF_MAX_LOGICAL_LINE 4096
#define MCF_MAX_ARGS 64
#define MCF_COLUMNS 8 /* service ... command */
#define MCF_MAX_NAME 255

/* One word of a logical line and the physical line it came from, so an
 * error in a continuation line ("-o foo") points at that line. */
struct mcf_word {
	char *text;
	int line;
};

/* The logical line being collected. */
struct mcf_entry {
	struct mcf_word *words;
	int count;
	int line; /* first physical line, 0 = no entry pending */
	size_t len; /* logical length: physical lines joined by one space */
	bool too_long;
	bool too_many;
};

struct mcf_parser {
	const char *path;
	cfg_diag_fn *diag;
	void *ctx;
	int errors;
	int default_maxproc;
	struct mcf *m;
	int cap;
	struct mcf_entry entry;
};

static void mcf_error(struct mcf_parser *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void mcf_error(struct mcf_parser *p, int line, const char *fmt, ...)
{
	va_list ap;
	buf *msg;

	p->errors++;
	if (p->diag == NULL)
		return;
	msg = buf_new(128);
	va_start(ap, fmt);
	buf_vprintf(msg, fmt, ap);
	va_end(ap);
	p->diag(p->ctx, p->path, line, "error", buf_cstr(msg));
	buf_free(&msg);
}

static const char *mcf_type_name(enum mcf_type type)
{
	return type == MCF_INET ? "inet" : "unix";
}

/* ---- reading the file ---- */

/* mcf_read_file: the whole file into a buf, or NULL after reporting why. */
static buf *mcf_read_file(struct mcf_parser *p)
{
	int fd = open(p->path, O_RDONLY | O_CLOEXEC);
	int errors = p->errors;
	buf *data;
	ssize_t n = 0;

	if (fd < 0) {
		mcf_error(p, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	data = buf_new(8192);
	for (;;) {
		/* Read one byte past the limit to tell "exactly 1 MiB" from "more". */
		size_t room = MCF_MAX_FILE + 1 - buf_len(data);
		if (room > 65536)
			room = 65536;
		n = read(fd, buf_reserve(data, room), room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_commit(data, (size_t)n);
		if (buf_len(data) > MCF_MAX_FILE)
			break;
	}
	if (n < 0)
		mcf_error(p, 0, "cannot read: %s", strerror(errno));
	else if (buf_len(data) > MCF_MAX_FILE)
		mcf_error(p, 0, "file too large (limit %d bytes)", MCF_MAX_FILE);
	close(fd);
	if (p->errors > errors)
		buf_free(&data);
	return data;
}

/* ---- column checks; each returns 0 or -1 after reporting ---- */

static int mcf_parse_type(struct mcf_parser *p, const struct mcf_word *w, enum mcf_type *type_r)
{
	if (strcmp(w->text, "inet") == 0)
		*type_r = MCF_INET;
	else if (strcmp(w->text, "unix") == 0)
		*type_r = MCF_UNIX;
	else {
		mcf_error(p, w->line, "unsupported service type '%s'", w->text);
		return -1;
	}
	return 0;
}

static int mcf_parse_bool(struct mcf_parser *p, const struct mcf_word *w, const char *column,
			  bool defval, bool *value_r)
{
	if (strcmp(w->text, "-") == 0)
		*value_r = defval;
	else if (strcmp(w->text, "y") == 0)
		*value_r = true;
	else if (strcmp(w->text, "n") == 0)
		*value_r = false;
	else {
		mcf_error(p, w->line, "%s column must be y, n or -, not '%s'", column, w->text);
		return -1;
	}
	return 0;
}

/* mcf_parse_number: decimal digits only, no sign, up to INT_MAX. */
static int mcf_parse_number(const char *s, size_t len, int *value_r)
{
	long long v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
		if (v > INT_MAX)
			return -1;
	}
	*value_r = (int)v;
	return 0;
}

/* wakeup: seconds or "-"; Postfix's trailing '?' (wake only if the service
 * was used) is accepted and ignored. */
static int mcf_parse_wakeup(struct mcf_parser *p, const struct mcf_word *w, int *wakeup_r)
{
	size_t len = strlen(w->text);

	if (strcmp(w->text, "-") == 0) {
		*wakeup_r = 0;
		return 0;
	}
	if (len > 0 && w->text[len - 1] == '?')
		len--;
	if (mcf_parse_number(w->text, len, wakeup_r) < 0) {
		mcf_error(p, w->line, "wakeup must be a non-negative number of seconds or -, not '%s'",
			  w->text);
		return -1;
	}
	return 0;
}

static int mcf_parse_maxproc(struct mcf_parser *p, const struct mcf_word *w, int *maxproc_r)
{
	if (strcmp(w->text, "-") == 0) {
		*maxproc_r = p->default_maxproc;
		return 0;
	}
	if (mcf_parse_number(w->text, strlen(w->text), maxproc_r) < 0) {
		mcf_error(p, w->line, "maxproc must be a positive number or -, not '%s'", w->text);
		return -1;
	}
	if (*maxproc_r < 1) {
		mcf_error(p, w->line, "maxproc must be at least 1");
		return -1;
	}
	return 0;
}

/* ---- service name syntax ---- */

static bool mcf_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool mcf_all_chars(const char *s, size_t len, const char *extra)
{
	for (size_t i = 0; i < len; i++)
		if (!mcf_is_alnum(s[i]) && strchr(extra, s[i]) == NULL)
			return false;
	return true;
}

/* A port is 1..65535 or a service name (letters, digits, '-'); the name is
 * resolved by master when it binds, not here. */
static const char *mcf_check_port(const char *port, size_t len)
{
	int num;

	if (len == 0)
		return "empty port";
	if (!mcf_all_chars(port, len, "-"))
		return "bad port (must be a number or a service name)";
	if (strspn(port, "0123456789") < len)
		return NULL; /* a name */
	if (mcf_parse_number(port, len, &num) < 0 || num < 1 || num > 65535)
		return "port out of range 1..65535";
	return NULL;
}

/* [v6addr]: hex digits, ':' and '.', at least one ':'. Host names and IPv4
 * addresses: letters, digits, '-', '.'. */
static const char *mcf_check_host(const char *host, size_t len, bool bracketed)
{
	if (len == 0)
		return "empty host";
	if (bracketed) {
		if (!mcf_all_chars(host, len, ":.") || memchr(host, ':', len) == NULL)
			return "bad IPv6 address";
		for (size_t i = 0; i < len; i++)
			if ((host[i] > 'f' && host[i] <= 'z') || (host[i] > 'F' && host[i] <= 'Z'))
				return "bad IPv6 address";
		return NULL;
	}
	if (!mcf_all_chars(host, len, "-."))
		return "bad host name or address";
	return NULL;
}

static const char *mcf_check_inet_name(const char *name)
{
	const char *colon = strrchr(name, ':');
	const char *why;

	if (name[0] == '[') {
		const char *close = strchr(name, ']');
		if (close == NULL || close[1] != ':')
			return "bracketed address must be followed by :port";
		if ((why = mcf_check_host(name + 1, (size_t)(close - name - 1), true)) != NULL)
			return why;
		return mcf_check_port(close + 2, strlen(close + 2));
	}
	if (colon == NULL)
		return mcf_check_port(name, strlen(name));
	if (strchr(name, ':') != colon)
		return "IPv6 address must be written as [address]:port";
	if ((why = mcf_check_host(name, (size_t)(colon - name), false)) != NULL)
		return why;
	return mcf_check_port(colon + 1, strlen(colon + 1));
}

static const char *mcf_check_unix_name(const char *name)
{
	size_t len = strlen(name);

	if (!mcf_all_chars(name, len, "_.-"))
		return "unix service name may only contain letters, digits, '_', '.' and '-'";
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return "unix service name must not be . or ..";
	return NULL;
}

static int mcf_check_name(struct mcf_parser *p, const struct mcf_word *w, enum mcf_type type)
{
	const char *why;

	if (strlen(w->text) > MCF_MAX_NAME)
		why = "service name too long";
	else if (type == MCF_INET)
		why = mcf_check_inet_name(w->text);
	else
		why = mcf_check_unix_name(w->text);
	if (why == NULL)
		return 0;
	mcf_error(p, w->line, "bad %s service name '%s': %s", mcf_type_name(type), w->text, why);
	return -1;
}

/* ---- arguments ---- */

/* "-o name=value" (or "-oname=value"): name is [a-z0-9_]+. Only the
 * daemon's own options are checked: from a pipe-style "argv=" on, the words
 * are another program's command line and may use -o as they like. */
static bool mcf_valid_override(const char *s)
{
	const char *eq = strchr(s, '=');

	if (eq == NULL || eq == s)
		return false;
	for (const char *c = s; c < eq; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
			return false;
	return true;
}

static int mcf_check_args(struct mcf_parser *p, const struct mcf_word *args, int nargs)
{
	int bad = 0;

	for (int i = 0; i < nargs; i++) {
		const char *a = args[i].text;
		if (strncmp(a, "argv=", 5) == 0)
			break;
		if (strncmp(a, "-o", 2) != 0)
			continue;
		if (a[2] != '\0') {
			if (!mcf_valid_override(a + 2)) {
				mcf_error(p, args[i].line, "bad option '%s': expected -o name=value", a);
				bad = -1;
			}
		} else if (i + 1 >= nargs) {
			mcf_error(p, args[i].line, "-o without name=value");
			bad = -1;
		} else if (!mcf_valid_override(args[++i].text)) {
			mcf_error(p, args[i].line, "bad -o argument '%s': expected name=value",
				  args[i].text);
			bad = -1;
		}
	}
	return bad;
}

/* ---- building a service from a logical line ---- */

static void mcf_service_clear(struct mcf_service *s)
{
	free(s->name);
	free(s->command);
	for (int i = 0; i < s->nargs; i++)
		free(s->args[i]);
	free(s->args);
	memset(s, 0, sizeof(*s));
}

static int mcf_parse_columns(struct mcf_parser *p, const struct mcf_word *w, struct mcf_service *s)
{
	int bad = 0;

	if (mcf_parse_type(p, &w[1], &s->type) < 0)
		return -1; /* the name and private checks depend on the type */
	bad |= mcf_check_name(p, &w[0], s->type);
	bad |= mcf_parse_bool(p, &w[2], "private", true, &s->private_);
	bad |= mcf_parse_bool(p, &w[3], "unpriv", true, &s->unpriv);
	bad |= mcf_parse_bool(p, &w[4], "chroot", false, &s->chroot);
	bad |= mcf_parse_wakeup(p, &w[5], &s->wakeup);
	bad |= mcf_parse_maxproc(p, &w[6], &s->maxproc);
	/* Postfix accepts private=y on inet but an inet port is never private. */
	if (s->type == MCF_INET)
		s->private_ = false;
	return bad ? -1 : 0;
}

static void mcf_add_service(struct mcf_parser *p, struct mcf_service *s)
{
	struct mcf *m = p->m;

	if (m->count == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		m->services = xrealloc(m->services, (size_t)p->cap * sizeof(*m->services));
	}
	m->services[m->count++] = *s;
}

/* mcf_finish_entry: checks the collected logical line and, if it is good,
 * appends the service. The entry is emptied either way. */
static void mcf_finish_entry(struct mcf_parser *p)
{
	struct mcf_entry *e = &p->entry;
	struct mcf_service s = { 0 };
	int nargs = e->count - MCF_COLUMNS;

	if (e->line == 0)
		return;
	if (e->too_long)
		mcf_error(p, e->line, "entry too long (limit %d characters)", MCF_MAX_LOGICAL_LINE);
	else if (e->too_many)
		mcf_error(p, e->line, "too many arguments (limit %d)", MCF_MAX_ARGS);
	else if (e->count < MCF_COLUMNS)
		mcf_error(p, e->line, "missing command (need %d columns, found %d)", MCF_COLUMNS,
			  e->count);
	else if (mcf_parse_columns(p, e->words, &s) == 0 &&
		 mcf_check_args(p, e->words + MCF_COLUMNS, nargs) == 0) {
		s.name = xstrdup(e->words[0].text);
		s.command = xstrdup(e->words[7].text);
		s.args = xcalloc((size_t)nargs + 1, sizeof(char *));
		for (int i = 0; i < nargs; i++)
			s.args[i] = xstrdup(e->words[MCF_COLUMNS + i].text);
		s.nargs = nargs;
		s.line = e->line;
		mcf_add_service(p, &s);
	}
	for (int i = 0; i < e->count; i++)
		free(e->words[i].text);
	free(e->words);
	memset(e, 0, sizeof(*e));
}

/* ---- splitting lines ---- */

static bool mcf_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static void mcf_add_word(struct mcf_entry *e, const char *start, size_t len, int line)
{
	if (e->count >= MCF_COLUMNS + MCF_MAX_ARGS) {
		e->too_many = true;
		return;
	}
	if (e->words == NULL)
		e->words = xcalloc(MCF_COLUMNS + MCF_MAX_ARGS, sizeof(*e->words));
	e->words[e->count].text = xstrndup(start, len);
	e->words[e->count].line = line;
	e->count++;
}

/* mcf_add_line: appends the words of one physical line (comment and blank
 * lines already skipped) to the pending entry. */
static void mcf_add_line(struct mcf_entry *e, const char *s, size_t len, int line)
{
	size_t i = 0;

	while (len > 0 && mcf_is_space(s[len - 1]))
		len--;
	e->len += (e->len > 0 ? 1 : 0) + len;
	if (e->len > MCF_MAX_LOGICAL_LINE)
		e->too_long = true;
	if (e->too_long)
		return;
	while (i < len) {
		size_t start;
		while (i < len && mcf_is_space(s[i]))
			i++;
		start = i;
		while (i < len && !mcf_is_space(s[i]))
			i++;
		if (i > start)
			mcf_add_word(e, s + start, i - start, line);
	}
}

static void mcf_parse_line(struct mcf_parser *p, const char *s, size_t len, int line)
{
	size_t i = 0;

	if (memchr(s, '\0', len) != NULL) {
		mcf_error(p, line, "NUL character in line");
		return;
	}
	while (i < len && mcf_is_space(s[i]))
		i++;
	if (i == len || s[i] == '#')
		return; /* blank or comment: does not end the pending entry (Postfix) */
	if (i > 0 && (s[0] == ' ' || s[0] == '\t')) {
		if (p->entry.line == 0)
			mcf_error(p, line, "continuation line without a service entry before it");
		else
			mcf_add_line(&p->entry, s, len, line);
		return;
	}
	mcf_finish_entry(p);
	p->entry.line = line;
	mcf_add_line(&p->entry, s, len, line);
}

static void mcf_parse_text(struct mcf_parser *p, const char *text, size_t len)
{
	size_t pos = 0;
	int line = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		mcf_parse_line(p, text + pos, end - pos, ++line);
		pos = end + 1;
	}
	mcf_finish_entry(p);
}

/* ---- duplicates ---- */

static int mcf_compare_services(const void *a, const void *b)
{
	const struct mcf_service *x = *(const struct mcf_service *const *)a;
	const struct mcf_service *y = *(const struct mcf_service *const *)b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Sorting keeps this O(n log n) even for a huge (1 MiB) file. */
static void mcf_check_duplicates(struct mcf_parser *p)
{
	struct mcf *m = p->m;
	const struct mcf_service **sorted;
	int first = 0;

	if (m->count < 2)
		return;
	sorted = xcalloc((size_t)m->count, sizeof(*sorted));
	for (int i = 0; i < m->count; i++)
		sorted[i] = &m->services[i];
	qsort(sorted, (size_t)m->count, sizeof(*sorted), mcf_compare_services);
	for (int i = 1; i < m->count; i++) {
		const struct mcf_service *a = sorted[first], *b = sorted[i];
		if (strcmp(a->name, b->name) != 0 || a->type != b->type) {
			first = i;
			continue;
		}
		mcf_error(p, b->line, "duplicate service '%s/%s' at line %d, first defined at line %d",
			  b->name, mcf_type_name(b->type), b->line, a->line);
	}
	free(sorted);
}

/* ---- public ---- */

/* mcf_auto_maxproc: every service is one event loop per process, so one
 * process per CPU keeps the cores busy; a fixed count would leave a big
 * machine's cores idle. Never fewer than two, so one process busy on a
 * slow disk or a held lock leaves another serving. */
int mcf_auto_maxproc(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus < 2)
		return 2;
	return cpus > MCF_AUTO_MAXPROC_MAX ? MCF_AUTO_MAXPROC_MAX : (int)cpus;
}

struct mcf *mcf_load(const char *path, int default_maxproc, cfg_diag_fn *diag, void *ctx)
{
	struct mcf_parser p = { .path = path, .diag = diag, .ctx = ctx };
	buf *data;

	p.default_maxproc = default_maxproc > 0 ? default_maxproc : mcf_auto_maxproc();
	if ((data = mcf_read_file(&p)) == NULL)
		return NULL;
	p.m = xcalloc(1, sizeof(*p.m));
	p.m->path = xstrdup(path);
	mcf_parse_text(&p, buf_cstr(data), buf_len(data));
	buf_free(&data);
	mcf_check_duplicates(&p);
	if (p.errors > 0)
		mcf_free(&p.m);
	return p.m;
}

void mcf_free(struct mcf **m)
{
	if (*m == NULL)
		return;
	for (int i = 0; i < (*m)->count; i++)
		mcf_service_clear(&(*m)->services[i]);
	free((*m)->services);
	free((*m)->path);
	free(*m);
	*m = NULL;
}

bool mcf_service_equal(const struct mcf_service *a, const struct mcf_service *b)
{
	if (strcmp(a->name, b->name) != 0 || a->type != b->type || a->private_ != b->private_ ||
	    a->unpriv != b->unpriv || a->chroot != b->chroot || a->wakeup != b->wakeup ||
	    a->maxproc != b->maxproc || strcmp(a->command, b->command) != 0 ||
	    a->nargs != b->nargs)
		return false;
	for (int i = 0; i < a->nargs; i++)
		if (strcmp(a->args[i], b->args[i]) != 0)
			return false;
	return true;
}

char *mcf_service_key(const struct mcf_service *s)
{
	return xasprintf("%s/%s", s->name, mcf_type_name(s->type));
}
