/* cfg.c: main.cf reading, $name expansion, value checks against the key
 * tables (cfg_key_tables) and "postconf -e" style editing of the file.
 * A cfg owns the settings read from files or given with cfg_set, in the
 * order first seen, each with the file:line it came from, plus a cache of
 * expanded values that every change throws away. It knows nothing about
 * what a key means beyond its table entry; programs read values through
 * cfg_get* after cfg_check has passed.
 *
 * Expansion: "$name", "${name}", "$(name)"; "$$" is a dollar;
 * "${name?text}" is text when name is not empty, "${name:text}" is text
 * when it is empty (text is expanded too). Loops are found by marking a
 * key busy while its value is expanded. Each cached value also knows its
 * height (the longest chain of references below it), so cfg_check can
 * refuse chains longer than CFG_EXPAND_DEPTH whatever order values were
 * first asked for in; recursion itself stops at CFG_EXPAND_HARD to bound
 * the stack (a value cut there is garbage in a config cfg_check rejects). */
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "mem.h"
#include "route.h"

#define CFG_LINE_MAX (64 * 1024) /* longest logical line */
#define CFG_EXPAND_DEPTH 32 /* deepest $name nesting cfg_check accepts */
#define CFG_EXPAND_HARD (4 * CFG_EXPAND_DEPTH) /* deepest recursion */
#define CFG_VALUE_MAX (1024 * 1024) /* longest expanded value */
#define CFG_EDIT_MAX (16 * 1024 * 1024) /* largest file cfg_edit_file reads */
#define CFG_QUOTE_MAX 100 /* longest value quoted in a message */
#define CFG_CMDLINE "command line"

/* One key given in a file or by cfg_set. */
struct cfg_setting {
	char *name;
	char *raw;
	char *file;
	int line;
	unsigned load_gen; /* which cfg_load_file call set it; 0 = cfg_set */
};

/* Flags of an expansion result. */
enum {
	EXP_LOOP = 1, /* a loop or too deep recursion: the value is garbage */
	EXP_SYNTAX = 2, /* a bad "$" in this key's own text (not propagated) */
	EXP_LONG = 4, /* cut at CFG_VALUE_MAX bytes */
};

/* An expanded value, allocated one by one so pointers stay put while the
 * cache grows during a recursive expansion. */
struct cfg_cached {
	char *name;
	char *value; /* NULL while busy */
	unsigned flags;
	int height; /* longest chain of $name references below this value */
	bool busy;
};

struct cfg {
	char *config_dir;
	struct cfg_setting *set;
	size_t nset, set_cap;
	struct cfg_cached **cache;
	size_t ncache, cache_cap;
	unsigned load_gen;
};

/* State of one text expansion. unknown (may be NULL) hears about names
 * referenced by this text that are neither in the table nor set. */
struct expand {
	cfg *c;
	unsigned flags;
	int height; /* 1 + the largest height of a value referenced */
	void (*unknown)(void *arg, const char *name);
	void *arg;
};

/* Keys whose value must be one of a few words. */
static const struct {
	const char *name;
	const char *const *choices;
} cfg_choices[] = {
	{ "log_level", (const char *const[]){ "debug", "info", "warning", NULL } },
};

static const char *expand_key(cfg *c, const char *name, int depth, unsigned *flags,
			      int *height_r);

/* ---- small helpers ---- */

static bool is_name_char(int ch)
{
	return isalnum((unsigned char)ch) || ch == '_';
}

static bool is_blank(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v';
}

static bool valid_name(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_name_char(s[i]))
			return false;
	return true;
}

/* trim_copy: s without leading and trailing white space (heap). */
static char *trim_copy(const char *s)
{
	size_t len;

	while (is_blank(*s) || *s == '\n')
		s++;
	len = strlen(s);
	while (len > 0 && (is_blank(s[len - 1]) || s[len - 1] == '\n'))
		len--;
	return xstrndup(s, len);
}

/* quote: value shortened for a message (heap). */
static char *quote(const char *s)
{
	size_t len = strlen(s);

	if (len <= CFG_QUOTE_MAX)
		return xstrdup(s);
	return xasprintf("%.*s...", CFG_QUOTE_MAX, s);
}

static void diag_vemit(cfg_diag_fn *diag, void *ctx, const char *file, int line,
		       const char *severity, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));

static void diag_vemit(cfg_diag_fn *diag, void *ctx, const char *file, int line,
		       const char *severity, const char *fmt, va_list ap)
{
	buf *msg;

	if (diag == NULL)
		return;
	msg = buf_new(128);
	buf_vprintf(msg, fmt, ap);
	diag(ctx, file, line, severity, buf_cstr(msg));
	buf_free(&msg);
}

static void diag_emit(cfg_diag_fn *diag, void *ctx, const char *file, int line,
		      const char *severity, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void diag_emit(cfg_diag_fn *diag, void *ctx, const char *file, int line,
		      const char *severity, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vemit(diag, ctx, file, line, severity, fmt, ap);
	va_end(ap);
}

/* ---- settings and cache ---- */

static struct cfg_setting *setting_find(cfg *c, const char *name)
{
	for (size_t i = 0; i < c->nset; i++)
		if (strcmp(c->set[i].name, name) == 0)
			return &c->set[i];
	return NULL;
}

static struct cfg_setting *setting_add(cfg *c, const char *name)
{
	struct cfg_setting *s;

	if (c->nset == c->set_cap) {
		c->set_cap = c->set_cap ? c->set_cap * 2 : 16;
		c->set = xrealloc(c->set, c->set_cap * sizeof(*c->set));
	}
	s = &c->set[c->nset++];
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(name);
	return s;
}

static void setting_update(struct cfg_setting *s, const char *raw, const char *file, int line,
			   unsigned gen)
{
	free(s->raw);
	free(s->file);
	s->raw = xstrdup(raw);
	s->file = xstrdup(file);
	s->line = line;
	s->load_gen = gen;
}

static void cache_clear(cfg *c)
{
	for (size_t i = 0; i < c->ncache; i++) {
		free(c->cache[i]->name);
		free(c->cache[i]->value);
		free(c->cache[i]);
	}
	c->ncache = 0;
}

static struct cfg_cached *cache_find(cfg *c, const char *name)
{
	for (size_t i = 0; i < c->ncache; i++)
		if (strcmp(c->cache[i]->name, name) == 0)
			return c->cache[i];
	return NULL;
}

static struct cfg_cached *cache_add(cfg *c, const char *name)
{
	struct cfg_cached *e = xcalloc(1, sizeof(*e));

	if (c->ncache == c->cache_cap) {
		c->cache_cap = c->cache_cap ? c->cache_cap * 2 : 16;
		c->cache = xrealloc(c->cache, c->cache_cap * sizeof(*c->cache));
	}
	e->name = xstrdup(name);
	c->cache[c->ncache++] = e;
	return e;
}

cfg *cfg_new(const char *config_dir)
{
	cfg *c = xcalloc(1, sizeof(*c));

	if (config_dir != NULL)
		c->config_dir = xstrdup(config_dir);
	return c;
}

void cfg_free(cfg **cp)
{
	cfg *c = *cp;

	if (c == NULL)
		return;
	cache_clear(c);
	free(c->cache);
	for (size_t i = 0; i < c->nset; i++) {
		free(c->set[i].name);
		free(c->set[i].raw);
		free(c->set[i].file);
	}
	free(c->set);
	free(c->config_dir);
	free(c);
	*cp = NULL;
}

void cfg_set(cfg *c, const char *name, const char *value)
{
	struct cfg_setting *s = setting_find(c, name);

	if (s == NULL)
		s = setting_add(c, name);
	setting_update(s, value ? value : "", CFG_CMDLINE, 0, 0);
	cache_clear(c);
}

const char *cfg_raw(cfg *c, const char *name)
{
	struct cfg_setting *s = setting_find(c, name);
	const struct cfg_key *k;

	if (s != NULL)
		return s->raw;
	if (c->config_dir != NULL && strcmp(name, "config_directory") == 0)
		return c->config_dir;
	k = cfg_key_find(name);
	return k ? k->defval : NULL;
}

bool cfg_is_set(cfg *c, const char *name)
{
	return setting_find(c, name) != NULL;
}

void cfg_each_set(cfg *c, void (*fn)(void *ctx, const char *name, const char *raw), void *ctx)
{
	for (size_t i = 0; i < c->nset; i++)
		fn(ctx, c->set[i].name, c->set[i].raw);
}

/* ---- expansion ---- */

static void expand_text(struct expand *x, const char *s, size_t len, int depth, buf *out);

/* substitute: appends the value of name (len bytes) or, for a conditional
 * (op '?' or ':'), the expansion of text when the value is (not) empty. */
static void substitute(struct expand *x, const char *name, size_t len, int op, const char *text,
		       size_t textlen, int depth, buf *out)
{
	char *key = xstrndup(name, len);
	unsigned nested = 0;
	int height = 0;
	const char *value = expand_key(x->c, key, depth + 1, &nested, &height);

	x->flags |= nested & (EXP_LOOP | EXP_LONG);
	if (value != NULL && height + 1 > x->height)
		x->height = height + 1;
	if (value == NULL && op == 0 && x->unknown != NULL)
		x->unknown(x->arg, key);
	if (value == NULL)
		value = "";
	if (op == 0)
		buf_puts(out, value);
	else if ((op == '?') == (*value != '\0'))
		expand_text(x, text, textlen, depth, out);
	free(key);
}

/* closing: index of the bracket closing the one before s[0], counting
 * nested pairs; len if there is none. */
static size_t closing(const char *s, size_t len, char open, char close)
{
	int level = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == open)
			level++;
		else if (s[i] == close && level-- == 0)
			return i;
	}
	return len;
}

/* expand_bracketed: s points after "${" or "$("; returns the bytes used
 * after the bracket, or 0 for bad syntax. */
static size_t expand_bracketed(struct expand *x, const char *s, size_t len, char open, int depth,
			       buf *out)
{
	char close = open == '{' ? '}' : ')';
	size_t n = 0, end;

	while (n < len && is_name_char(s[n]))
		n++;
	if (n == 0 || n == len)
		return 0;
	if (s[n] == close) {
		substitute(x, s, n, 0, NULL, 0, depth, out);
		return n + 1;
	}
	if (s[n] != '?' && s[n] != ':')
		return 0;
	end = n + 1 + closing(s + n + 1, len - n - 1, open, close);
	if (end >= len)
		return 0;
	substitute(x, s, n, s[n], s + n + 1, end - n - 1, depth, out);
	return end + 1;
}

/* expand_dollar: s[0] is '$'; appends its expansion and returns the bytes
 * used. A '$' that starts nothing valid is kept and flagged. */
static size_t expand_dollar(struct expand *x, const char *s, size_t len, int depth, buf *out)
{
	size_t n = 1;

	if (len >= 2 && s[1] == '$') {
		buf_putc(out, '$');
		return 2;
	}
	if (len >= 2 && (s[1] == '{' || s[1] == '(')) {
		n = expand_bracketed(x, s + 2, len - 2, s[1], depth, out);
		if (n > 0)
			return n + 2;
	} else {
		while (n < len && is_name_char(s[n]))
			n++;
		if (n > 1) {
			substitute(x, s + 1, n - 1, 0, NULL, 0, depth, out);
			return n;
		}
	}
	x->flags |= EXP_SYNTAX;
	buf_putc(out, '$');
	return 1;
}

/* cut_long: cuts out at CFG_VALUE_MAX; "a = $b$b", "b = $c$c", ... doubles
 * with every level. */
static bool cut_long(struct expand *x, buf *out)
{
	if (buf_len(out) <= CFG_VALUE_MAX)
		return false;
	buf_truncate(out, CFG_VALUE_MAX);
	x->flags |= EXP_LONG;
	return true;
}

static void expand_text(struct expand *x, const char *s, size_t len, int depth, buf *out)
{
	size_t i = 0;

	while (i < len && !cut_long(x, out)) {
		const char *dollar = memchr(s + i, '$', len - i);

		if (dollar == NULL) {
			buf_append(out, s + i, len - i);
			break;
		}
		buf_append(out, s + i, (size_t)(dollar - (s + i)));
		i = (size_t)(dollar - s);
		i += expand_dollar(x, s + i, len - i, depth, out);
	}
	cut_long(x, out);
}

/* expand_key: the expanded value of name, from the cache or computed and
 * cached; NULL when name is neither known nor set. ORs the result's flags
 * into *flags and stores its height in *height_r. */
static const char *expand_key(cfg *c, const char *name, int depth, unsigned *flags,
			      int *height_r)
{
	struct cfg_cached *e = cache_find(c, name);
	struct expand sub = { .c = c };
	const char *raw;
	buf *out;

	*height_r = 0;
	if (e != NULL && e->busy) {
		*flags |= EXP_LOOP;
		return "";
	}
	if (e != NULL) {
		*flags |= e->flags;
		*height_r = e->height;
		return e->value;
	}
	raw = cfg_raw(c, name);
	if (raw == NULL)
		return NULL;
	if (depth > CFG_EXPAND_HARD) {
		*flags |= EXP_LOOP;
		return "";
	}
	e = cache_add(c, name);
	e->busy = true;
	out = buf_new(strlen(raw) + 1);
	expand_text(&sub, raw, strlen(raw), depth, out);
	e->value = buf_steal(out);
	buf_free(&out);
	e->flags = sub.flags;
	e->height = sub.height;
	e->busy = false;
	*flags |= e->flags;
	*height_r = e->height;
	return e->value;
}

const char *cfg_get(cfg *c, const char *name)
{
	unsigned flags = 0;
	int height;
	const char *value = expand_key(c, name, 0, &flags, &height);

	return value ? value : "";
}

/* ---- typed values ---- */

/* parse_digits: a non-negative decimal number; -1 if there are no digits
 * (*end_r unchanged), -2 on overflow. */
static int parse_digits(const char *s, long long *n_r, const char **end_r)
{
	long long n = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		int d = *p - '0';

		if (n > (LLONG_MAX - d) / 10)
			return -2;
		n = n * 10 + d;
	}
	*n_r = n;
	*end_r = p;
	return 0;
}

/* unit_scale: multiplier of a TIME or SIZE suffix; 0 if not valid. */
static long long unit_scale(enum cfg_type type, const char *unit)
{
	static const char time_units[] = "smhdw";
	static const long long time_scale[] = { 1, 60, 3600, 86400, 604800 };
	static const char size_units[] = "kmg";
	static const long long size_scale[] = { 1LL << 10, 1LL << 20, 1LL << 30 };
	const char *units = type == CFG_TIME ? time_units : size_units;
	const char *hit;

	if (*unit == '\0')
		return 1;
	if (unit[1] != '\0')
		return 0;
	hit = strchr(units, tolower((unsigned char)*unit));
	if (hit == NULL)
		return 0;
	return type == CFG_TIME ? time_scale[hit - units] : size_scale[hit - units];
}

static const char *type_problem(enum cfg_type type)
{
	switch (type) {
	case CFG_INT: return "not a number";
	case CFG_BOOL: return "not yes or no";
	case CFG_TIME: return "not a time (a number with an optional unit s, m, h, d or w)";
	case CFG_SIZE: return "not a size (a number with an optional suffix k, m or g)";
	case CFG_PATH: return "not an absolute path";
	default: return "not valid";
	}
}

/* parse_number: INT, TIME or SIZE text into *n_r; returns NULL or the
 * problem. */
static const char *parse_number(enum cfg_type type, const char *s, long long *n_r)
{
	bool negative = false;
	const char *end;
	long long n, scale;
	int rc;

	if (type == CFG_INT && (*s == '-' || *s == '+'))
		negative = *s++ == '-';
	rc = parse_digits(s, &n, &end);
	if (rc == -1)
		return type_problem(type);
	if (rc == -2)
		return "out of range";
	scale = type == CFG_INT ? (*end == '\0') : unit_scale(type, end);
	if (scale == 0)
		return type_problem(type);
	if (n > LLONG_MAX / scale)
		return "out of range";
	*n_r = negative ? -n : n * scale;
	return NULL;
}

static const char *parse_bool(const char *s, long long *n_r)
{
	if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0)
		*n_r = 1;
	else if (strcasecmp(s, "no") == 0 || strcasecmp(s, "false") == 0)
		*n_r = 0;
	else
		return type_problem(CFG_BOOL);
	return NULL;
}

/* range_problem: heap text when n is outside the key's bounds (or did
 * not fit in a long long: overflow), else NULL. */
static char *range_problem(const struct cfg_key *key, long long n, bool overflow)
{
	const char *unit = key->type == CFG_TIME ? " seconds" : key->type == CFG_SIZE ? " bytes" : "";

	if (key->min == 0 && key->max == 0)
		return overflow ? xstrdup("out of range") : NULL;
	if (!overflow && n >= key->min && n <= key->max)
		return NULL;
	return xasprintf("out of range (%lld..%lld%s)", key->min, key->max, unit);
}

/* number_problem: heap text saying what is wrong with a number, or NULL. */
static char *number_problem(const struct cfg_key *key, const char *s, long long *n_r)
{
	const char *problem = parse_number(key->type, s, n_r);

	if (problem == NULL)
		return range_problem(key, *n_r, false);
	if (strcmp(problem, "out of range") != 0)
		return xstrdup(problem);
	return range_problem(key, 0, true);
}

/* check_relayhost: a next hop as route.h parses it. */
static char *check_relayhost(const char *s)
{
	struct route_nexthop hop;
	char *err = NULL;

	if (route_parse_nexthop(s, &hop, &err) == 0) {
		route_nexthop_clear(&hop);
		return NULL;
	}
	return err;
}

/* check_str: length and choices of a CFG_STR key. */
static char *check_str(const struct cfg_key *key, const char *s)
{
	size_t len = strlen(s);

	if ((long long)len < key->min)
		return xstrdup(len == 0 ? "must not be empty" : "too short");
	for (size_t i = 0; i < sizeof(cfg_choices) / sizeof(cfg_choices[0]); i++) {
		const char *const *w = cfg_choices[i].choices;

		if (strcmp(cfg_choices[i].name, key->name) != 0)
			continue;
		for (; *w != NULL; w++)
			if (strcmp(*w, s) == 0)
				return NULL;
		return xstrdup("not one of the allowed words (see docs/config.md)");
	}
	if (strcmp(key->name, "relayhost") == 0)
		return check_relayhost(s);
	return NULL;
}

/* value_problem: heap text saying what is wrong with s (already trimmed),
 * or NULL; *n_r gets the number of INT/TIME/SIZE/BOOL keys. */
static char *value_problem(const struct cfg_key *key, const char *s, long long *n_r)
{
	const char *problem = NULL;

	switch (key->type) {
	case CFG_INT:
	case CFG_TIME:
	case CFG_SIZE:
		return number_problem(key, s, n_r);
	case CFG_BOOL:
		problem = parse_bool(s, n_r);
		break;
	case CFG_PATH:
		if (*s != '/')
			problem = type_problem(CFG_PATH);
		break;
	case CFG_STR:
		return check_str(key, s);
	case CFG_LIST:
		break;
	}
	return problem ? xstrdup(problem) : NULL;
}

int cfg_parse_value(const struct cfg_key *key, const char *text, long long *num_r, char **err_r)
{
	char *trimmed = trim_copy(text), *problem, *shown;
	long long num = 0;

	problem = value_problem(key, trimmed, &num);
	free(trimmed);
	if (problem == NULL) {
		if (num_r != NULL)
			*num_r = num;
		return 0;
	}
	shown = quote(text);
	*err_r = xasprintf("bad value '%s' for %s: %s", shown, key->name, problem);
	free(shown);
	free(problem);
	return -1;
}

/* number_of: the number in value for key, or in its default when value is
 * bad (cfg_check reports that; a program that skipped it still gets sane
 * numbers). */
static long long number_of(cfg *c, const struct cfg_key *key, const char *value)
{
	struct expand x = { .c = c };
	long long n = 0;
	char *err = NULL;
	buf *def;

	if (cfg_parse_value(key, value, &n, &err) == 0)
		return n;
	free(err);
	err = NULL;
	def = buf_new(64);
	expand_text(&x, key->defval, strlen(key->defval), 0, def);
	if (cfg_parse_value(key, buf_cstr(def), &n, &err) != 0) {
		free(err);
		n = 0;
	}
	buf_free(&def);
	return n;
}

long long cfg_get_int(cfg *c, const char *name)
{
	const struct cfg_key *key = cfg_key_find(name);
	const char *value = cfg_get(c, name);

	if (key == NULL || (key->type != CFG_INT && key->type != CFG_TIME &&
			    key->type != CFG_SIZE && key->type != CFG_BOOL))
		return strtoll(value, NULL, 10);
	return number_of(c, key, value);
}

bool cfg_get_bool(cfg *c, const char *name)
{
	const struct cfg_key *key = cfg_key_find(name);
	const char *value = cfg_get(c, name);
	long long n = 0;

	if (key == NULL || key->type != CFG_BOOL)
		return parse_bool(value, &n) == NULL && n != 0;
	return number_of(c, key, value) != 0;
}

/* ---- checking ---- */

struct check {
	cfg_diag_fn *diag;
	void *ctx;
	const struct cfg_setting *s;
};

static void report_unknown_ref(void *arg, const char *name)
{
	struct check *ck = arg;

	diag_emit(ck->diag, ck->ctx, ck->s->file, ck->s->line, "warning",
		  "value of %s refers to unknown parameter $%s", ck->s->name, name);
}

/* own_flags: flags of the setting's own text; unknown references are
 * reported on the way. */
static unsigned own_flags(cfg *c, struct check *ck)
{
	struct expand x = { .c = c, .unknown = report_unknown_ref, .arg = ck };
	buf *out = buf_new(64);

	expand_text(&x, ck->s->raw, strlen(ck->s->raw), 0, out);
	buf_free(&out);
	return x.flags;
}

/* expansion_problem: what is wrong with the expansion of a value (heap),
 * or NULL. */
static char *expansion_problem(const char *name, unsigned flags, int height)
{
	if (flags & EXP_LOOP)
		return xasprintf("expansion loop in value of %s", name);
	if (flags & EXP_LONG)
		return xasprintf("value of %s is longer than %d bytes after expansion", name,
				 CFG_VALUE_MAX);
	if (height > CFG_EXPAND_DEPTH)
		return xasprintf("expansion loop in value of %s (more than %d levels of $name)",
				 name, CFG_EXPAND_DEPTH);
	if (flags & EXP_SYNTAX)
		return xasprintf("bad '$' in value of %s (write $$ for a dollar sign)", name);
	return NULL;
}

/* check_setting: 0 or the number of errors (1) for one setting. */
static int check_setting(cfg *c, struct check *ck)
{
	const struct cfg_setting *s = ck->s;
	const struct cfg_key *key = cfg_key_find(s->name);
	unsigned flags = own_flags(c, ck);
	const char *value;
	char *err;
	int height;

	if (key == NULL && s->load_gen == 0)
		diag_emit(ck->diag, ck->ctx, s->file, s->line, "warning", "unknown parameter %s",
			  s->name);
	value = expand_key(c, s->name, 0, &flags, &height);
	err = expansion_problem(s->name, flags, height);
	if (err == NULL && (key == NULL || cfg_parse_value(key, value, NULL, &err) == 0))
		return 0;
	diag_emit(ck->diag, ck->ctx, s->file, s->line, "error", "%s", err);
	free(err);
	return 1;
}

int cfg_check(cfg *c, cfg_diag_fn *diag, void *ctx)
{
	int errors = 0;

	for (size_t i = 0; i < c->nset; i++) {
		struct check ck = { .diag = diag, .ctx = ctx, .s = &c->set[i] };

		errors += check_setting(c, &ck);
	}
	return errors;
}

/* ---- reading main.cf ---- */

struct loader {
	cfg *c;
	const char *path;
	cfg_diag_fn *diag;
	void *ctx;
	int errors;
	buf *logical; /* the logical line being collected */
	int logical_line; /* where it started; 0 = none yet */
	bool too_long, has_nul;
};

static void load_error(struct loader *ld, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void load_error(struct loader *ld, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vemit(ld->diag, ld->ctx, ld->path, line, "error", fmt, ap);
	va_end(ap);
	ld->errors++;
}

/* store: records name = value from ld's current logical line. */
static void store(struct loader *ld, const char *name, const char *value)
{
	struct cfg_setting *s = setting_find(ld->c, name);
	int line = ld->logical_line;

	if (s != NULL && s->load_gen == ld->c->load_gen)
		diag_emit(ld->diag, ld->ctx, ld->path, line, "warning",
			  "%s is set again; the setting at line %d is ignored", name, s->line);
	if (s == NULL && cfg_key_find(name) == NULL)
		diag_emit(ld->diag, ld->ctx, ld->path, line, "warning", "unknown parameter %s", name);
	if (s == NULL)
		s = setting_add(ld->c, name);
	setting_update(s, value, ld->path, line, ld->c->load_gen);
}

/* finish_logical: parses the collected logical line, if any. */
static void finish_logical(struct loader *ld)
{
	const char *s = buf_cstr(ld->logical);
	size_t n = strcspn(s, " \t\r\f\v=");
	const char *p = s + n;
	char *name;

	if (ld->logical_line == 0)
		return;
	if (ld->too_long)
		load_error(ld, ld->logical_line, "line too long (more than %d bytes)", CFG_LINE_MAX);
	else if (ld->has_nul)
		load_error(ld, ld->logical_line, "NUL byte in line");
	else if (n == 0)
		load_error(ld, ld->logical_line, "missing parameter name before '='");
	else if (!valid_name(s, n))
		load_error(ld, ld->logical_line, "bad parameter name '%.*s' (use letters, digits and _)",
			   (int)(n > CFG_QUOTE_MAX ? CFG_QUOTE_MAX : n), s);
	else {
		while (is_blank(*p))
			p++;
		name = xstrndup(s, n);
		if (*p != '=')
			load_error(ld, ld->logical_line, "missing '=' after %s", name);
		else {
			for (p++; is_blank(*p); p++)
				;
			store(ld, name, p);
		}
		free(name);
	}
	buf_reset(ld->logical);
	ld->logical_line = 0;
	ld->too_long = ld->has_nul = false;
}

/* add_physical: one physical line (without newline, trailing white space
 * and, for a continuation, leading white space). */
static void add_physical(struct loader *ld, const char *s, size_t len, bool continuation)
{
	if (buf_len(ld->logical) + (continuation ? 1 : 0) + len > CFG_LINE_MAX)
		ld->too_long = true;
	if (ld->too_long)
		return;
	if (continuation)
		buf_putc(ld->logical, ' ');
	buf_append(ld->logical, s, len);
	if (memchr(s, '\0', len) != NULL)
		ld->has_nul = true;
}

/* handle_line: sorts one physical line into comment, blank, start or
 * continuation of a logical line. truncated: the line was longer than
 * CFG_LINE_MAX and only its start is in s. */
static void handle_line(struct loader *ld, const char *s, size_t len, int lineno, bool truncated)
{
	size_t lead = 0;

	while (lead < len && is_blank(s[lead]))
		lead++;
	while (len > lead && is_blank(s[len - 1]))
		len--;
	if (lead == len || s[lead] == '#')
		return;
	if (lead > 0 && ld->logical_line == 0) {
		load_error(ld, lineno, "continuation line before any setting");
		return;
	}
	if (lead == 0) {
		finish_logical(ld);
		ld->logical_line = lineno;
	}
	add_physical(ld, s + lead, len - lead, lead > 0);
	if (truncated)
		ld->too_long = true;
}

/* read_line: one physical line into line (at most CFG_LINE_MAX + 1 bytes
 * kept; *truncated_r tells). Returns false at end of file. */
static bool read_line(FILE *fp, buf *line, bool *truncated_r)
{
	int ch;

	buf_reset(line);
	*truncated_r = false;
	while ((ch = getc(fp)) != EOF && ch != '\n') {
		if (buf_len(line) <= CFG_LINE_MAX)
			buf_putc(line, ch);
		else
			*truncated_r = true;
	}
	return ch != EOF || buf_len(line) > 0 || *truncated_r;
}

int cfg_load_file(cfg *c, const char *path, cfg_diag_fn *diag, void *ctx)
{
	struct loader ld = { .c = c, .path = path, .diag = diag, .ctx = ctx };
	FILE *fp = fopen(path, "re");
	buf *line;
	bool truncated;
	int lineno = 0;

	if (fp == NULL) {
		diag_emit(diag, ctx, path, 0, "error", "cannot open: %s", strerror(errno));
		return -1;
	}
	c->load_gen++;
	cache_clear(c);
	line = buf_new(256);
	ld.logical = buf_new(256);
	while (read_line(fp, line, &truncated))
		handle_line(&ld, buf_cstr(line), buf_len(line), ++lineno, truncated);
	finish_logical(&ld);
	buf_free(&line);
	buf_free(&ld.logical);
	if (ferror(fp)) {
		diag_emit(diag, ctx, path, 0, "error", "read error: %s", strerror(errno));
		fclose(fp);
		return -1;
	}
	fclose(fp);
	return ld.errors;
}

/* ---- editing main.cf ---- */

/* line_sets: the physical line (len bytes) is a setting of name. */
static bool line_sets(const char *s, size_t len, const char *name)
{
	size_t n = strlen(name), i;

	if (len <= n || memcmp(s, name, n) != 0)
		return false;
	for (i = n; i < len && is_blank(s[i]); i++)
		;
	return i < len && s[i] == '=';
}

/* edit_text: copies text to out with name's settings replaced by one
 * "name = value" line (appended if there was none). */
static void edit_text(const char *text, size_t len, const char *name, const char *value, buf *out)
{
	bool in_target = false, done = false;
	size_t pos = 0;

	while (pos < len) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) + 1 : len - pos, lead = 0;

		pos += n;
		while (lead < n && is_blank(s[lead]))
			lead++;
		if (lead == n || s[lead] == '\n' || s[lead] == '#') {
			buf_append(out, s, n); /* blank or comment: always kept */
			continue;
		}
		if (lead == 0)
			in_target = line_sets(s, n, name);
		if (in_target && lead == 0 && !done)
			buf_printf(out, "%s =%s%s\n", name, *value ? " " : "", value);
		done |= in_target;
		if (!in_target)
			buf_append(out, s, n);
	}
	if (done)
		return;
	if (buf_len(out) > 0 && buf_cstr(out)[buf_len(out) - 1] != '\n')
		buf_putc(out, '\n');
	buf_printf(out, "%s =%s%s\n", name, *value ? " " : "", value);
}

/* edit_target: the file to replace (symlinks resolved) and its mode. */
static char *edit_target(const char *path, mode_t *mode_r)
{
	char *real = realpath(path, NULL);
	struct stat st;

	if (real == NULL)
		real = xstrdup(path);
	*mode_r = 0644;
	if (stat(real, &st) == 0)
		*mode_r = st.st_mode & 07777;
	return real;
}

int cfg_edit_file(const char *path, const char *name, const char *value, char **err_r)
{
	buf *in, *out;
	mode_t mode;
	char *target, *trimmed;
	int rc = -1;

	if (!valid_name(name, strlen(name))) {
		*err_r = xasprintf("bad parameter name '%s'", name);
		return -1;
	}
	if (strpbrk(value, "\r\n") != NULL) {
		*err_r = xasprintf("value for %s contains a line break", name);
		return -1;
	}
	target = edit_target(path, &mode);
	in = buf_new(4096);
	out = buf_new(4096);
	if (access(target, F_OK) == 0 && fs_read_file(target, in, CFG_EDIT_MAX, err_r) < 0)
		goto out;
	trimmed = trim_copy(value);
	edit_text(buf_cstr(in), buf_len(in), name, trimmed, out);
	free(trimmed);
	rc = fs_write_atomic(target, buf_cstr(out), buf_len(out), mode, err_r);
out:
	buf_free(&in);
	buf_free(&out);
	free(target);
	return rc;
}

/* ---- lists ---- */

char **cfg_split_list(const char *value)
{
	size_t n = 0, cap = 4;
	char **words = xmalloc(cap * sizeof(*words));
	const char *p = value ? value : "";

	for (;;) {
		size_t len;

		p += strspn(p, ", \t\r\n\f\v");
		if (*p == '\0')
			break;
		len = strcspn(p, ", \t\r\n\f\v");
		if (n + 1 >= cap) {
			cap *= 2;
			words = xrealloc(words, cap * sizeof(*words));
		}
		words[n++] = xstrndup(p, len);
		p += len;
	}
	words[n] = NULL;
	return words;
}

void cfg_free_list(char ***list)
{
	if (*list == NULL)
		return;
	for (char **w = *list; *w != NULL; w++)
		free(*w);
	free(*list);
	*list = NULL;
}

char *cfg_myhostname(cfg *c)
{
	const char *h = cfg_get(c, "myhostname");
	char name[256];

	if (*h != '\0')
		return xstrdup(h);
	if (gethostname(name, sizeof(name)) < 0 || name[0] == '\0')
		return xstrdup("localhost");
	name[sizeof(name) - 1] = '\0';
	return xstrdup(name);
}

/* The message size the automatic reserves assume when message_size_limit
 * is 0 (no limit): Postfix's default limit. */
#define CFG_MINFREE_SIZE_UNLIMITED 10240000LL

long long cfg_queue_minfree(cfg *c)
{
	long long set = cfg_get_int(c, "queue_minfree");
	long long size = cfg_get_int(c, "message_size_limit");

	if (set > 0)
		return set;
	if (size <= 0)
		size = CFG_MINFREE_SIZE_UNLIMITED;
	return size > LLONG_MAX / 4 ? LLONG_MAX : size * 4;
}

long long cfg_local_minfree(cfg *c)
{
	long long set = cfg_get_int(c, "local_minfree");

	return set > 0 ? set : cfg_queue_minfree(c) / 2;
}
