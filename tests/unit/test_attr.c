/* test_attr.c: unit tests for attribute records (lib/attr.c): the escape
 * codec round trip, a golden encoding, incremental decoding one byte at a
 * time, a table of malformed records, the field / value / record limits,
 * the getters, attr_scan's success and error kinds, and attr_send /
 * attr_recv over socketpairs and pipes (back-to-back records, large records
 * from a child process, timeout, EOF, closed peer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "buf.h"
#include "mem.h"

static attr_rec *decode_all(const char *data, size_t len)
{
	attr_rec *rec = NULL;
	size_t used = 0;
	char *err = NULL;
	int ret = attr_decode(data, len, &rec, &used, &err);

	if (ret != 1)
		fail_msg("decode returned %d: %s", ret, err ? err : "");
	assert_int_equal(used, len);
	return rec;
}

/* ---- codec ---- */

static const char *const round_trip_values[] = {
	"plain", "", "two\nlines", "cr\rlf\r\n", "back\\slash", "\\n is not a newline",
	"a=b=c", "=", "\\", "\n\n", "trailing\\", " spaces  kept ", "caf\xc3\xa9 \t tab",
};

static void test_round_trip(void **state)
{
	attr_rec *rec = attr_new("test");
	size_t n = sizeof(round_trip_values) / sizeof(round_trip_values[0]);
	buf *out = buf_new(256);
	attr_rec *back;

	(void)state;
	for (size_t i = 0; i < n; i++)
		attr_add_str(rec, "v", round_trip_values[i]);
	attr_encode(rec, out);
	/* one line per field plus the empty line, and no raw CR */
	assert_null(memchr(buf_cstr(out), '\r', buf_len(out)));
	back = decode_all(buf_cstr(out), buf_len(out));
	assert_string_equal(attr_protocol(back), "test");
	assert_int_equal(attr_count(back), n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(attr_name_at(back, i), "v");
		assert_string_equal(attr_value_at(back, i), round_trip_values[i]);
	}
	attr_free(&back);
	attr_free(&rec);
	assert_null(rec);
	attr_free(&rec); /* NULL is fine */
	buf_free(&out);
}

static void test_golden_encoding(void **state)
{
	attr_rec *rec = attr_new("delivery");
	buf *out = buf_new(64);

	(void)state;
	attr_add_str(rec, "queue_id", "4XkW2b0001");
	attr_add_str(rec, "rcpt", "a\\b\nc\rd");
	attr_add_int(rec, "size", -1234567890123LL);
	attr_add_bool(rec, "dsn", true);
	attr_add_bool(rec, "hold", false);
	attr_add_str(rec, "empty", "");
	attr_encode(rec, out);
	assert_string_equal(buf_cstr(out), "protocol=delivery\n"
					   "queue_id=4XkW2b0001\n"
					   "rcpt=a\\\\b\\nc\\rd\n"
					   "size=-1234567890123\n"
					   "dsn=1\n"
					   "hold=0\n"
					   "empty=\n"
					   "\n");
	attr_free(&rec);
	buf_free(&out);
}

static void test_nul_value(void **state)
{
	static const char in[] = "protocol=p\nv=a\\0b\\0\nw=\\\\0\n\n";
	attr_rec *rec;
	buf *out = buf_new(64);

	(void)state;
	rec = decode_all(in, sizeof(in) - 1);
	/* the getter is a C string, but the bytes after the NUL are kept */
	assert_memory_equal(attr_get(rec, "v"), "a\0b\0", 5);
	assert_string_equal(attr_get(rec, "w"), "\\0");
	attr_encode(rec, out);
	assert_int_equal(buf_len(out), sizeof(in) - 1);
	assert_memory_equal(buf_cstr(out), in, sizeof(in) - 1);
	attr_free(&rec);
	buf_free(&out);
}

static void test_incremental(void **state)
{
	attr_rec *rec = attr_new("inc");
	buf *out = buf_new(128);
	size_t first_len;

	(void)state;
	attr_add_str(rec, "a", "x\ny");
	attr_add_str(rec, "b", "");
	attr_encode(rec, out);
	first_len = buf_len(out);
	attr_encode(rec, out); /* a second record right behind the first */
	attr_free(&rec);

	for (size_t len = 0; len < first_len; len++) {
		attr_rec *r = NULL;
		size_t used = 99;
		char *err = NULL;
		if (attr_decode(buf_cstr(out), len, &r, &used, &err) != 0)
			fail_msg("prefix of %zu bytes did not ask for more: %s", len,
				 err ? err : "");
		assert_null(r);
		assert_null(err);
	}
	for (size_t len = first_len; len <= buf_len(out); len++) {
		attr_rec *r = NULL;
		size_t used = 0;
		char *err = NULL;
		assert_int_equal(attr_decode(buf_cstr(out), len, &r, &used, &err), 1);
		assert_int_equal(used, first_len);
		assert_string_equal(attr_get(r, "a"), "x\ny");
		attr_free(&r);
	}
	/* the second record decodes from where the first ended */
	rec = decode_all(buf_cstr(out) + first_len, buf_len(out) - first_len);
	assert_string_equal(attr_protocol(rec), "inc");
	attr_free(&rec);
	buf_free(&out);
}

struct bad_case {
	const char *data;
	size_t len; /* 0: strlen(data) */
	const char *err;
};

static const struct bad_case bad_cases[] = {
	{ "nonsense\n\n", 0, "line 1: line without '='" },
	{ "protocol=x\nno equals here\n\n", 0, "line 2: line without '='" },
	{ "protocol=x\nBad=1\n\n", 0, "bad field name" },
	{ "protocol=x\n=1\n\n", 0, "bad field name" },
	{ "protocol=x\nsp ace=1\n\n", 0, "bad field name" },
	{ "protocol=x\na-b=1\n\n", 0, "bad field name" },
	{ "protocol=x\na=\\q\n\n", 0, "bad escape" },
	{ "protocol=x\na=\\t\n\n", 0, "bad escape" },
	{ "protocol=x\na=abc\\\n\n", 0, "bad escape" },
	{ "foo=x\nprotocol=x\n\n", 0, "first field is not 'protocol'" },
	{ "protocolx=x\n\n", 0, "first field is not 'protocol'" },
	{ "\n", 0, "empty record" },
	{ "protocol=x\na=b\rc\n\n", 0, "unescaped CR or NUL" },
	{ "protocol=x\na=b\0c\n\n", 18, "unescaped CR or NUL" },
	/* an error is found as soon as its line is complete */
	{ "protocol=x\nbroken\n", 0, "line without '='" },
};

static void test_malformed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t len = c->len ? c->len : strlen(c->data);
		attr_rec *rec = NULL;
		size_t used = 0;
		char *err = NULL;
		int ret = attr_decode(c->data, len, &rec, &used, &err);

		if (ret != -1)
			fail_msg("case %zu: returned %d", i, ret);
		assert_null(rec);
		assert_non_null(err);
		if (strstr(err, c->err) == NULL)
			fail_msg("case %zu: error '%s' lacks '%s'", i, err, c->err);
		free(err);
	}
}

/* ---- limits ---- */

static int decode_buf(buf *b, char **err_r)
{
	attr_rec *rec = NULL;
	size_t used;
	int ret;

	*err_r = NULL;
	ret = attr_decode(buf_cstr(b), buf_len(b), &rec, &used, err_r);
	attr_free(&rec);
	return ret;
}

static void expect_error(buf *b, const char *what)
{
	char *err;

	assert_int_equal(decode_buf(b, &err), -1);
	if (strstr(err, what) == NULL)
		fail_msg("error '%s' lacks '%s'", err, what);
	free(err);
}

static void test_limits(void **state)
{
	buf *b = buf_new(2 * ATTR_MAX_RECORD);
	char *err;

	(void)state;
	/* ATTR_MAX_FIELDS lines including the protocol line */
	buf_puts(b, "protocol=x\n");
	for (int i = 1; i < ATTR_MAX_FIELDS; i++)
		buf_printf(b, "f%d=%d\n", i, i);
	buf_puts(b, "\n");
	assert_int_equal(decode_buf(b, &err), 1);
	buf_truncate(b, buf_len(b) - 1);
	buf_puts(b, "one_more=1\n\n");
	expect_error(b, "too many fields");

	/* a value of exactly ATTR_MAX_VALUE bytes (after unescaping) */
	buf_reset(b);
	buf_puts(b, "protocol=x\nv=");
	for (int i = 0; i < ATTR_MAX_VALUE; i++)
		buf_puts(b, i % 2 ? "a" : "\\n");
	buf_puts(b, "\n\n");
	assert_int_equal(decode_buf(b, &err), 1);
	buf_truncate(b, buf_len(b) - 2);
	buf_puts(b, "a\n\n");
	expect_error(b, "value too long");

	/* incomplete but already over the record limit: give up, don't wait */
	char *line = xmalloc(50004);
	memcpy(line, "v=", 2);
	memset(line + 2, 'x', 50000);
	memcpy(line + 50002, "\n", 2);
	buf_reset(b);
	buf_puts(b, "protocol=x\n");
	while (buf_len(b) < ATTR_MAX_RECORD - 50003)
		buf_puts(b, line);
	assert_int_equal(decode_buf(b, &err), 0);
	buf_puts(b, line);
	assert_true(buf_len(b) > ATTR_MAX_RECORD);
	expect_error(b, "record too long");
	free(line);
	/* complete, but the empty line lies beyond the limit */
	buf_puts(b, "\n");
	expect_error(b, "record too long");
	/* one long line without a newline at all */
	buf_reset(b);
	buf_puts(b, "protocol=");
	while (buf_len(b) <= ATTR_MAX_RECORD)
		buf_putc(b, 'x');
	expect_error(b, "record too long");
	buf_free(&b);
}

/* ---- getters ---- */

static void test_getters(void **state)
{
	static const char in[] = "protocol=get\nn=42\nneg=-7\nbig=9223372036854775807\n"
				 "small=-9223372036854775808\nover=9223372036854775808\n"
				 "word=12x\nsp= 1\nempty=\nn=43\nplus=+5\nnul=1\\02\n\n";
	attr_rec *rec;
	long long v = 0;

	(void)state;
	rec = decode_all(in, sizeof(in) - 1);
	assert_string_equal(attr_protocol(rec), "get");
	assert_string_equal(attr_get(rec, "protocol"), "get");
	assert_int_equal(attr_count(rec), 11);
	assert_string_equal(attr_name_at(rec, 0), "n");
	assert_string_equal(attr_name_at(rec, 8), "n");
	assert_string_equal(attr_value_at(rec, 8), "43");
	assert_null(attr_name_at(rec, 11));
	assert_null(attr_value_at(rec, 11));
	assert_string_equal(attr_get(rec, "n"), "42"); /* the first one */
	assert_null(attr_get(rec, "nope"));

	struct {
		const char *name;
		int ret;
		long long value;
	} ints[] = {
		{ "n", 0, 42 },
		{ "neg", 0, -7 },
		{ "big", 0, INT64_MAX },
		{ "small", 0, INT64_MIN },
		{ "plus", 0, 5 },
		{ "over", -1, 0 },
		{ "word", -1, 0 },
		{ "sp", -1, 0 },
		{ "empty", -1, 0 },
		{ "nul", -1, 0 },
		{ "nope", -1, 0 },
	};
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		v = 12345;
		if (attr_get_int(rec, ints[i].name, &v) != ints[i].ret)
			fail_msg("attr_get_int(%s) wrong result", ints[i].name);
		if (ints[i].ret == 0)
			assert_int_equal(v, ints[i].value);
	}
	attr_free(&rec);
}

/* ---- attr_scan ---- */

static attr_rec *scan_record(void)
{
	attr_rec *rec = attr_new("delivery");

	attr_add_str(rec, "queue_id", "4XkW2b0001");
	attr_add_int(rec, "size", 1024);
	attr_add_str(rec, "notify", "never");
	return rec;
}

static void test_scan_ok(void **state)
{
	attr_rec *rec = scan_record();
	const char *qid = NULL, *notify = NULL, *absent = "set";
	long long size = 0, retries = 7;
	char *err = NULL;

	(void)state;
	assert_int_equal(attr_scan(rec, "delivery", &err, ATTR_STR, "queue_id", &qid, ATTR_INT,
				   "size", &size, ATTR_OPT_STR, "notify", &notify, ATTR_OPT_STR,
				   "orcpt", &absent, ATTR_OPT_INT, "retries", &retries, ATTR_END),
			 0);
	assert_null(err);
	assert_string_equal(qid, "4XkW2b0001");
	assert_int_equal(size, 1024);
	assert_string_equal(notify, "never");
	assert_null(absent);
	assert_int_equal(retries, 7); /* absent optional int keeps its default */

	/* fields in another order than listed; a list read by naming it twice */
	attr_add_str(rec, "rcpt", "a@x");
	attr_add_str(rec, "rcpt", "b@x");
	const char *r1 = NULL, *r2 = NULL;
	assert_int_equal(attr_scan(rec, "delivery", &err, ATTR_STR, "rcpt", &r1, ATTR_STR, "rcpt",
				   &r2, ATTR_INT, "size", &size, ATTR_STR, "notify", &notify,
				   ATTR_STR, "queue_id", &qid, ATTR_END),
			 0);
	assert_string_equal(r1, "a@x");
	assert_string_equal(r2, "b@x");
	attr_free(&rec);

	/* a record with only the protocol */
	rec = attr_new("ping");
	assert_int_equal(attr_scan(rec, "ping", &err, ATTR_END), 0);
	attr_free(&rec);
}

static void expect_scan_error(int ret, char *err, const char *what)
{
	assert_int_equal(ret, -1);
	assert_non_null(err);
	if (strstr(err, what) == NULL)
		fail_msg("error '%s' lacks '%s'", err, what);
	free(err);
}

static void test_scan_errors(void **state)
{
	attr_rec *rec = scan_record();
	const char *qid, *notify;
	long long size;
	char *err = NULL;
	int ret;

	(void)state;
	ret = attr_scan(rec, "trigger", &err, ATTR_END);
	expect_scan_error(ret, err, "wrong protocol 'delivery' (expected 'trigger')");

	err = NULL;
	ret = attr_scan(rec, "delivery", &err, ATTR_STR, "queue_id", &qid, ATTR_INT, "size", &size,
			ATTR_STR, "notify", &notify, ATTR_STR, "sender", &notify, ATTR_END);
	expect_scan_error(ret, err, "missing field 'sender'");

	err = NULL;
	ret = attr_scan(rec, "delivery", &err, ATTR_STR, "queue_id", &qid, ATTR_INT, "notify",
			&size, ATTR_INT, "size", &size, ATTR_END);
	expect_scan_error(ret, err, "field 'notify' is not a number");

	err = NULL;
	ret = attr_scan(rec, "delivery", &err, ATTR_STR, "queue_id", &qid, ATTR_INT, "size", &size,
			ATTR_END);
	expect_scan_error(ret, err, "unexpected field 'notify'");

	/* a repeated field listed once is a leftover */
	attr_add_str(rec, "notify", "again");
	err = NULL;
	ret = attr_scan(rec, "delivery", &err, ATTR_STR, "queue_id", &qid, ATTR_INT, "size", &size,
			ATTR_OPT_STR, "notify", &notify, ATTR_END);
	expect_scan_error(ret, err, "unexpected field 'notify'");

	/* optional int present but not numeric */
	err = NULL;
	ret = attr_scan(rec, "delivery", &err, ATTR_STR, "queue_id", &qid, ATTR_OPT_INT, "notify",
			&size, ATTR_END);
	expect_scan_error(ret, err, "field 'notify' is not a number");
	attr_free(&rec);

	/* a peer's protocol name is quoted safely */
	static const char evil[] = "protocol=a'b\\nc\n\n";
	rec = decode_all(evil, sizeof(evil) - 1);
	err = NULL;
	ret = attr_scan(rec, "x", &err, ATTR_END);
	expect_scan_error(ret, err, "wrong protocol 'a?b?c'");
	attr_free(&rec);
}

/* ---- socket I/O ---- */

static void make_pair(int fds[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
}

static void write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		assert_true(n > 0);
		data += n;
		len -= (size_t)n;
	}
}

static void test_send_recv_back_to_back(void **state)
{
	int fds[2];
	attr_rec *a = attr_new("one"), *b = attr_new("two"), *got = NULL;
	char *err = NULL;

	(void)state;
	make_pair(fds);
	attr_add_str(a, "value", "line1\nline2\\");
	attr_add_int(b, "n", 2);
	assert_int_equal(attr_send(fds[0], a, 1000, &err), 0);
	assert_int_equal(attr_send(fds[0], b, 1000, &err), 0);
	assert_int_equal(attr_recv(fds[1], &got, 1000, &err), 0);
	assert_string_equal(attr_protocol(got), "one");
	assert_string_equal(attr_get(got, "value"), "line1\nline2\\");
	attr_free(&got);
	assert_int_equal(attr_recv(fds[1], &got, 1000, &err), 0);
	assert_string_equal(attr_protocol(got), "two");
	assert_string_equal(attr_get(got, "n"), "2");
	attr_free(&got);

	/* both records arrive in one write, plus the start of a third */
	buf *out = buf_new(128);
	attr_encode(a, out);
	attr_encode(b, out);
	buf_puts(out, "protocol=three\n");
	write_all(fds[0], buf_cstr(out), buf_len(out));
	assert_int_equal(attr_recv(fds[1], &got, 1000, &err), 0);
	assert_string_equal(attr_protocol(got), "one");
	attr_free(&got);
	assert_int_equal(attr_recv(fds[1], &got, 0, &err), 0);
	assert_string_equal(attr_protocol(got), "two");
	attr_free(&got);
	write_all(fds[0], "\n", 1);
	assert_int_equal(attr_recv(fds[1], &got, 1000, &err), 0);
	assert_string_equal(attr_protocol(got), "three");
	assert_int_equal(attr_count(got), 0);
	attr_free(&got);

	/* a malformed record is consumed whole; the next one is intact */
	write_all(fds[0], "protocol=x\ngarbage\n\n", 20);
	assert_int_equal(attr_send(fds[0], b, 1000, &err), 0);
	assert_int_equal(attr_recv(fds[1], &got, 1000, &err), -1);
	assert_null(got);
	assert_non_null(strstr(err, "line without '='"));
	free(err);
	assert_int_equal(attr_recv(fds[1], &got, 1000, &err), 0);
	assert_string_equal(attr_protocol(got), "two");
	attr_free(&got);

	buf_free(&out);
	attr_free(&a);
	attr_free(&b);
	close(fds[0]);
	close(fds[1]);
}

/* A child writes what the socket buffer cannot hold at once. */
static pid_t spawn_writer(int fd, int other_end, const char *data, size_t len)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		close(other_end); /* so the parent's close is seen as EPIPE here */
		while (len > 0) {
			ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
			if (n <= 0)
				_exit(1);
			data += n;
			len -= (size_t)n;
		}
		_exit(0);
	}
	return pid;
}

static void test_large_record(void **state)
{
	int fds[2], status;
	attr_rec *rec = attr_new("big"), *got = NULL;
	char *value = xmalloc(ATTR_MAX_VALUE + 1);
	buf *out = buf_new(ATTR_MAX_RECORD);
	char *err = NULL;
	pid_t pid;

	(void)state;
	make_pair(fds);
	for (int i = 0; i < ATTR_MAX_VALUE; i++)
		value[i] = (char)('a' + i % 26);
	value[ATTR_MAX_VALUE] = '\0';
	for (int i = 0; i < 8; i++)
		attr_add_str(rec, "v", value);
	attr_encode(rec, out);
	attr_encode(rec, out);
	pid = spawn_writer(fds[0], fds[1], buf_cstr(out), buf_len(out));
	for (int n = 0; n < 2; n++) {
		assert_int_equal(attr_recv(fds[1], &got, 2000, &err), 0);
		assert_int_equal(attr_count(got), 8);
		assert_string_equal(attr_value_at(got, 7), value);
		attr_free(&got);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* a peer that never ends its record is cut off at the limit */
	buf_reset(out);
	buf_puts(out, "protocol=x\nv=");
	while (buf_len(out) < ATTR_MAX_RECORD + 100)
		buf_puts(out, value);
	pid = spawn_writer(fds[0], fds[1], buf_cstr(out), buf_len(out));
	assert_int_equal(attr_recv(fds[1], &got, 2000, &err), -1);
	assert_non_null(strstr(err, "record too long"));
	free(err);
	close(fds[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(fds[0]);

	/* attr_send refuses what the receiver would reject */
	make_pair(fds);
	attr_add_str(rec, "v", value);
	for (int i = 0; i < 8; i++) /* 17 values of 64 KiB: over 1 MiB */
		attr_add_str(rec, "v", value);
	assert_int_equal(attr_send(fds[0], rec, 100, &err), -1);
	assert_non_null(strstr(err, "exceeds"));
	free(err);
	close(fds[0]);
	close(fds[1]);

	free(value);
	buf_free(&out);
	attr_free(&rec);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_recv_timeout(void **state)
{
	int fds[2];
	attr_rec *got = NULL;
	char *err = NULL;
	long long start;

	(void)state;
	make_pair(fds);
	start = now_ms();
	assert_int_equal(attr_recv(fds[1], &got, 100, &err), -1);
	assert_true(now_ms() - start >= 90);
	assert_true(now_ms() - start < 1000);
	assert_string_equal(err, "timeout");
	free(err);

	/* half a record, then silence: still a timeout, not a hang */
	write_all(fds[0], "protocol=x\n", 11);
	err = NULL;
	assert_int_equal(attr_recv(fds[1], &got, 100, &err), -1);
	assert_string_equal(err, "timeout");
	assert_null(got);
	free(err);
	close(fds[0]);
	close(fds[1]);
}

static void test_eof(void **state)
{
	int fds[2];
	attr_rec *got = NULL, *rec = attr_new("x");
	char *err = NULL;

	(void)state;
	make_pair(fds);
	close(fds[0]);
	assert_int_equal(attr_recv(fds[1], &got, 1000, &err), -1);
	assert_string_equal(err, "connection closed");
	free(err);
	close(fds[1]);

	make_pair(fds);
	write_all(fds[0], "protocol=x\na=b\n", 15);
	close(fds[0]);
	assert_int_equal(attr_recv(fds[1], &got, 0, &err), -1);
	assert_non_null(strstr(err, "connection closed after 15 bytes"));
	free(err);
	close(fds[1]);

	/* sending to a closed peer is an error, not a SIGPIPE */
	make_pair(fds);
	close(fds[1]);
	assert_int_equal(attr_send(fds[0], rec, 1000, &err), -1);
	assert_string_equal(err, "connection closed");
	free(err);
	close(fds[0]);
	attr_free(&rec);
}

static void test_pipe(void **state)
{
	int fds[2];
	attr_rec *a = attr_new("one"), *b = attr_new("two"), *got = NULL;
	char *err = NULL;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	attr_add_str(a, "k", "v");
	assert_int_equal(attr_send(fds[1], a, 1000, &err), 0);
	assert_int_equal(attr_send(fds[1], b, 1000, &err), 0);
	assert_int_equal(attr_recv(fds[0], &got, 1000, &err), 0);
	assert_string_equal(attr_protocol(got), "one");
	assert_string_equal(attr_get(got, "k"), "v");
	attr_free(&got);
	assert_int_equal(attr_recv(fds[0], &got, 1000, &err), 0);
	assert_string_equal(attr_protocol(got), "two");
	attr_free(&got);
	close(fds[1]);
	assert_int_equal(attr_recv(fds[0], &got, 1000, &err), -1);
	assert_string_equal(err, "connection closed");
	free(err);
	close(fds[0]);
	attr_free(&a);
	attr_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_golden_encoding),
		cmocka_unit_test(test_nul_value),
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_getters),
		cmocka_unit_test(test_scan_ok),
		cmocka_unit_test(test_scan_errors),
		cmocka_unit_test(test_send_recv_back_to_back),
		cmocka_unit_test(test_large_record),
		cmocka_unit_test(test_recv_timeout),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_pipe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
