/* attr.c: attribute records for internal IPC (format in attr.h). Owns the
 * record (an array of name/value pairs whose first entry is the protocol),
 * the escaping codec, the incremental decoder and the blocking send and
 * receive helpers. Values are kept with their length, so a decoded "\0"
 * survives a re-encode even though the getters hand out C strings.
 * attr_recv peeks at the socket and consumes only the bytes of one record,
 * so a second record queued behind it stays for the next call. It does not
 * know any protocol: callers check fields with attr_scan. */
#include "attr.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"

#define ATTR_RECV_CHUNK 4096

struct attr_field {
	char *name;
	char *value; /* NUL-terminated; may hold NULs inside */
	size_t value_len;
};

struct attr_rec {
	struct attr_field *fields; /* [0] is protocol=NAME */
	size_t count;
	size_t cap;
};

/* ---- names and values ---- */

static bool attr_valid_name(const char *name, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '_'))
			return false;
	return true;
}

/* attr_push: takes ownership of name and value. */
static void attr_push(attr_rec *rec, char *name, char *value, size_t value_len)
{
	if (rec->count == rec->cap) {
		rec->cap = rec->cap ? rec->cap * 2 : 8;
		rec->fields = xrealloc(rec->fields, rec->cap * sizeof(*rec->fields));
	}
	rec->fields[rec->count].name = name;
	rec->fields[rec->count].value = value;
	rec->fields[rec->count].value_len = value_len;
	rec->count++;
}

/* attr_printable: a short, log-safe copy of peer text for error messages. */
static char *attr_printable(const char *s, size_t len)
{
	size_t n = len > 64 ? 64 : len;
	char *out = xmalloc(n + 4);

	for (size_t i = 0; i < n; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'') ? s[i] : '?';
	strcpy(out + n, len > n ? "..." : "");
	return out;
}

/* attr_parse_int: the whole value is an optionally signed decimal number. */
static int attr_parse_int(const char *s, size_t len, long long *value_r)
{
	bool neg = false;
	unsigned long long v = 0, limit;
	size_t i = 0;

	if (len > 0 && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		i = 1;
	}
	if (i == len)
		return -1;
	limit = neg ? (unsigned long long)INT64_MAX + 1 : (unsigned long long)INT64_MAX;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (limit - (unsigned long long)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	if (neg)
		*value_r = v == (unsigned long long)INT64_MAX + 1 ? INT64_MIN : -(long long)v;
	else
		*value_r = (long long)v;
	return 0;
}

/* ---- building and reading records ---- */

attr_rec *attr_new(const char *protocol)
{
	attr_rec *rec = xcalloc(1, sizeof(*rec));

	attr_push(rec, xstrdup("protocol"), xstrdup(protocol), strlen(protocol));
	return rec;
}

void attr_free(attr_rec **rec)
{
	if (*rec == NULL)
		return;
	for (size_t i = 0; i < (*rec)->count; i++) {
		free((*rec)->fields[i].name);
		free((*rec)->fields[i].value);
	}
	free((*rec)->fields);
	free(*rec);
	*rec = NULL;
}

const char *attr_protocol(const attr_rec *rec)
{
	return rec->fields[0].value;
}

void attr_add_str(attr_rec *rec, const char *name, const char *value)
{
	/* Names are constants in our own code, so a bad one is our bug. */
	if (!attr_valid_name(name, strlen(name)))
		log_panic("attr_add: bad field name '%s'", name);
	attr_push(rec, xstrdup(name), xstrdup(value), strlen(value));
}

void attr_add_int(attr_rec *rec, const char *name, long long value)
{
	char *text = xasprintf("%lld", value);

	attr_add_str(rec, name, text);
	free(text);
}

/* Booleans travel as 1 / 0, so attr_get_int and ATTR_INT read them. */
void attr_add_bool(attr_rec *rec, const char *name, bool value)
{
	attr_add_str(rec, name, value ? "1" : "0");
}

const char *attr_get(const attr_rec *rec, const char *name)
{
	for (size_t i = 0; i < rec->count; i++)
		if (strcmp(rec->fields[i].name, name) == 0)
			return rec->fields[i].value;
	return NULL;
}

int attr_get_int(const attr_rec *rec, const char *name, long long *value_r)
{
	for (size_t i = 0; i < rec->count; i++)
		if (strcmp(rec->fields[i].name, name) == 0)
			return attr_parse_int(rec->fields[i].value, rec->fields[i].value_len,
					      value_r);
	return -1;
}

size_t attr_count(const attr_rec *rec)
{
	return rec->count - 1;
}

const char *attr_name_at(const attr_rec *rec, size_t i)
{
	return i + 1 < rec->count ? rec->fields[i + 1].name : NULL;
}

const char *attr_value_at(const attr_rec *rec, size_t i)
{
	return i + 1 < rec->count ? rec->fields[i + 1].value : NULL;
}

/* ---- encoding ---- */

static void attr_encode_value(buf *out, const char *value, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		const char *esc;
		switch (value[i]) {
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\0': esc = "\\0"; break;
		default: continue;
		}
		buf_append(out, value + start, i - start);
		buf_append(out, esc, 2);
		start = i + 1;
	}
	buf_append(out, value + start, len - start);
}

void attr_encode(const attr_rec *rec, buf *out)
{
	for (size_t i = 0; i < rec->count; i++) {
		buf_puts(out, rec->fields[i].name);
		buf_putc(out, '=');
		attr_encode_value(out, rec->fields[i].value, rec->fields[i].value_len);
		buf_putc(out, '\n');
	}
	buf_putc(out, '\n');
}

/* ---- decoding ---- */

/* attr_unescape: decodes value text into a fresh heap string. */
static int attr_unescape(const char *s, size_t len, char **value_r, size_t *len_r, char **err_r)
{
	char *out = xmalloc(len + 1);
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '\r' || c == '\0') {
			*err_r = xstrdup("unescaped CR or NUL in value");
			goto fail;
		}
		if (c == '\\') {
			c = ++i < len ? s[i] : 'x';
			if (c == 'n')
				c = '\n';
			else if (c == 'r')
				c = '\r';
			else if (c == '0')
				c = '\0';
			else if (c != '\\') {
				*err_r = xstrdup("bad escape in value");
				goto fail;
			}
		}
		if (n >= ATTR_MAX_VALUE) {
			*err_r = xasprintf("value too long (limit %d bytes)", ATTR_MAX_VALUE);
			goto fail;
		}
		out[n++] = c;
	}
	out[n] = '\0';
	*value_r = out;
	*len_r = n;
	return 0;
fail:
	free(out);
	return -1;
}

/* attr_decode_line: one "name=value" line (without its newline). */
static int attr_decode_line(attr_rec *rec, const char *line, size_t len, char **err_r)
{
	const char *eq = memchr(line, '=', len);
	size_t name_len;
	char *value;
	size_t value_len;

	if (eq == NULL) {
		*err_r = xstrdup("line without '='");
		return -1;
	}
	name_len = (size_t)(eq - line);
	if (!attr_valid_name(line, name_len)) {
		*err_r = xstrdup("bad field name");
		return -1;
	}
	if (rec->count == 0 && (name_len != 8 || memcmp(line, "protocol", 8) != 0)) {
		*err_r = xstrdup("first field is not 'protocol'");
		return -1;
	}
	if (rec->count >= ATTR_MAX_FIELDS) {
		*err_r = xasprintf("too many fields (limit %d)", ATTR_MAX_FIELDS);
		return -1;
	}
	if (attr_unescape(eq + 1, len - name_len - 1, &value, &value_len, err_r) < 0)
		return -1;
	attr_push(rec, xstrndup(line, name_len), value, value_len);
	return 0;
}

int attr_decode(const char *data, size_t len, attr_rec **rec_r, size_t *used_r, char **err_r)
{
	attr_rec *rec = xcalloc(1, sizeof(*rec));
	size_t pos = 0, lineno = 0;
	/* Only the first ATTR_MAX_RECORD bytes can belong to a valid record. */
	size_t scan_end = len < ATTR_MAX_RECORD ? len : ATTR_MAX_RECORD;
	char *why = NULL;

	for (;;) {
		const char *nl = memchr(data + pos, '\n', scan_end - pos);
		size_t line_len;

		if (nl == NULL) {
			if (len < ATTR_MAX_RECORD) {
				attr_free(&rec);
				return 0;
			}
			why = xasprintf("record too long (limit %d bytes)", ATTR_MAX_RECORD);
			break;
		}
		line_len = (size_t)(nl - (data + pos));
		lineno++;
		if (line_len == 0) {
			if (rec->count == 0) {
				why = xstrdup("empty record");
				break;
			}
			*rec_r = rec;
			*used_r = pos + 1;
			return 1;
		}
		if (attr_decode_line(rec, data + pos, line_len, &why) < 0)
			break;
		pos += line_len + 1;
	}
	*err_r = lineno > 0 ? xasprintf("line %zu: %s", lineno, why) : xstrdup(why);
	free(why);
	attr_free(&rec);
	return -1;
}

/* ---- typed scan ---- */

static struct attr_field *attr_take(const attr_rec *rec, bool *used, const char *name)
{
	for (size_t i = 1; i < rec->count; i++) {
		if (!used[i] && strcmp(rec->fields[i].name, name) == 0) {
			used[i] = true;
			return &rec->fields[i];
		}
	}
	return NULL;
}

/* attr_scan_one: one (type, name, pointer) triple. */
static int attr_scan_one(const attr_rec *rec, bool *used, enum attr_scan_type type,
			 const char *name, va_list *ap, char **err_r)
{
	struct attr_field *f = attr_take(rec, used, name);
	bool optional = type == ATTR_OPT_STR || type == ATTR_OPT_INT;

	if (type == ATTR_STR || type == ATTR_OPT_STR) {
		const char **str_r = va_arg(*ap, const char **);
		*str_r = f ? f->value : NULL;
	} else if (type == ATTR_INT || type == ATTR_OPT_INT) {
		long long *int_r = va_arg(*ap, long long *);
		/* an absent optional int keeps the caller's default */
		if (f != NULL && attr_parse_int(f->value, f->value_len, int_r) < 0) {
			*err_r = xasprintf("field '%s' is not a number", name);
			return -1;
		}
	} else {
		log_panic("attr_scan: bad type %d for field '%s'", (int)type, name);
	}
	if (f == NULL && !optional) {
		*err_r = xasprintf("missing field '%s'", name);
		return -1;
	}
	return 0;
}

int attr_scan(const attr_rec *rec, const char *protocol, char **err_r, ...)
{
	bool *used = xcalloc(rec->count, sizeof(bool));
	va_list ap;
	int ret = 0;

	if (strcmp(attr_protocol(rec), protocol) != 0) {
		char *got = attr_printable(rec->fields[0].value, rec->fields[0].value_len);
		*err_r = xasprintf("wrong protocol '%s' (expected '%s')", got, protocol);
		free(got);
		free(used);
		return -1;
	}
	va_start(ap, err_r);
	for (;;) {
		enum attr_scan_type type = (enum attr_scan_type)va_arg(ap, int);
		if (type == ATTR_END)
			break;
		const char *name = va_arg(ap, const char *);
		if ((ret = attr_scan_one(rec, used, type, name, &ap, err_r)) < 0)
			break;
	}
	va_end(ap);
	for (size_t i = 1; ret == 0 && i < rec->count; i++) {
		if (!used[i]) {
			*err_r = xasprintf("unexpected field '%s'", rec->fields[i].name);
			ret = -1;
		}
	}
	free(used);
	return ret;
}

/* ---- blocking I/O ---- */

static long long attr_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* attr_wait: waits until fd is ready for events or the deadline (-1 =
 * none) passes. */
static int attr_wait(int fd, short events, long long deadline, char **err_r)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int wait_ms = -1, n;
		if (deadline >= 0) {
			long long left = deadline - attr_now_ms();
			wait_ms = left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
		}
		n = poll(&pfd, 1, wait_ms);
		if (n > 0)
			return 0; /* also on POLLHUP / POLLERR: the I/O call tells */
		if (n == 0) {
			*err_r = xstrdup("timeout");
			return -1;
		}
		if (errno != EINTR) {
			*err_r = xasprintf("poll: %s", strerror(errno));
			return -1;
		}
	}
}

static long long attr_deadline(int timeout_ms)
{
	return timeout_ms > 0 ? attr_now_ms() + timeout_ms : -1;
}

static bool attr_fits_limits(const attr_rec *rec, size_t encoded_len)
{
	if (rec->count > ATTR_MAX_FIELDS || encoded_len > ATTR_MAX_RECORD)
		return false;
	for (size_t i = 0; i < rec->count; i++)
		if (rec->fields[i].value_len > ATTR_MAX_VALUE)
			return false;
	return true;
}

static bool attr_is_closed(int err)
{
	return err == EPIPE || err == ECONNRESET;
}

int attr_send(int fd, const attr_rec *rec, int timeout_ms, char **err_r)
{
	long long deadline = attr_deadline(timeout_ms);
	buf *out = buf_new(256);
	size_t done = 0;
	bool is_socket = true;
	int ret = -1;

	attr_encode(rec, out);
	if (!attr_fits_limits(rec, buf_len(out))) {
		*err_r = xstrdup("record exceeds the attribute limits");
		goto out;
	}
	while (done < buf_len(out)) {
		const char *p = buf_cstr(out) + done;
		size_t left = buf_len(out) - done;
		ssize_t n;
		if (attr_wait(fd, POLLOUT, deadline, err_r) < 0)
			goto out;
		n = is_socket ? send(fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT) : write(fd, p, left);
		if (n < 0 && errno == ENOTSOCK && is_socket) {
			is_socket = false; /* a pipe: timeout is best effort */
			continue;
		}
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0) {
			*err_r = attr_is_closed(errno) ? xstrdup("connection closed")
						       : xasprintf("write: %s", strerror(errno));
			goto out;
		}
		done += (size_t)n;
	}
	ret = 0;
out:
	buf_free(&out);
	return ret;
}

/* State of one attr_recv: the record so far and the last byte taken, so
 * the end ("\n" at the start of a line) is found across reads. */
struct attr_reader {
	int fd;
	buf *in;
	char prev;
	bool peek; /* false on a non-socket: byte-wise reads */
	bool complete;
};

/* attr_take_bytes: n bytes were peeked into place; consume exactly them. */
static int attr_take_bytes(struct attr_reader *r, char *dst, size_t n, char **err_r)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = recv(r->fd, dst + got, n - got, MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			/* peeked bytes are queued; losing them is not expected */
			*err_r = xasprintf("read: %s", k < 0 ? strerror(errno) : "short read");
			return -1;
		}
		got += (size_t)k;
	}
	buf_commit(r->in, n);
	return 0;
}

/* attr_read_some: one read: returns 1 progress, 0 retry, -1 error. */
static int attr_read_some(struct attr_reader *r, char **err_r)
{
	size_t room = ATTR_MAX_RECORD - buf_len(r->in), take;
	size_t want = r->peek ? (room < ATTR_RECV_CHUNK ? room : ATTR_RECV_CHUNK) : 1;
	char *dst = buf_reserve(r->in, want);
	ssize_t n;

	n = r->peek ? recv(r->fd, dst, want, MSG_PEEK | MSG_DONTWAIT) : read(r->fd, dst, 1);
	if (n < 0 && errno == ENOTSOCK && r->peek) {
		r->peek = false;
		return 0;
	}
	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0) {
		*err_r = attr_is_closed(errno) ? xstrdup("connection closed")
					       : xasprintf("read: %s", strerror(errno));
		return -1;
	}
	if (n == 0) {
		*err_r = buf_len(r->in) == 0
				 ? xstrdup("connection closed")
				 : xasprintf("connection closed after %zu bytes of a record",
					     buf_len(r->in));
		return -1;
	}
	for (take = 0; take < (size_t)n && !r->complete; take++) {
		r->complete = dst[take] == '\n' && r->prev == '\n';
		r->prev = dst[take];
	}
	if (!r->peek) {
		buf_commit(r->in, (size_t)n);
		return 1;
	}
	return attr_take_bytes(r, dst, take, err_r) < 0 ? -1 : 1;
}

int attr_recv(int fd, attr_rec **rec_r, int timeout_ms, char **err_r)
{
	struct attr_reader r = { .fd = fd, .in = buf_new(1024), .prev = '\n', .peek = true };
	long long deadline = attr_deadline(timeout_ms);
	size_t used;
	int ret = -1;

	while (!r.complete) {
		if (buf_len(r.in) >= ATTR_MAX_RECORD) {
			*err_r = xasprintf("record too long (limit %d bytes)", ATTR_MAX_RECORD);
			goto out;
		}
		if (attr_wait(fd, POLLIN, deadline, err_r) < 0 || attr_read_some(&r, err_r) < 0)
			goto out;
	}
	ret = attr_decode(buf_cstr(r.in), buf_len(r.in), rec_r, &used, err_r);
	if (ret == 0 || (ret == 1 && used != buf_len(r.in)))
		log_panic("attr_recv: decoder and reader disagree on the record end");
	ret = ret == 1 ? 0 : -1;
out:
	buf_free(&r.in);
	return ret;
}
