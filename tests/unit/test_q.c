/* test_q.c: unit tests for queue files (lib/q.c): a write/commit/open round
 * trip with many recipients, odd addresses, every DSN field and binary
 * content; in-place state updates that change exactly one byte; queue ID
 * uniqueness and alphabet; a table of malformed files that must be refused;
 * abort, misuse, and a write failure (RLIMIT_FSIZE) that must leave nothing
 * in incoming/ or tmp/; the pool of removed files (q_recycle): a taken
 * file is reused whole (same inode, old bytes cut, mode reset), a full
 * pool unlinks, and a tampered slot is never written through; the small
 * path helpers; the content tap (q_writer_tap). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "mem.h"
#include "q.h"

static char qdir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int make_queue(const char *base)
{
	static const char *const subs[] = { Q_TMP, Q_INCOMING, Q_ACTIVE, Q_DEFERRED, Q_CORRUPT };

	snprintf(qdir, sizeof(qdir), "%s/test_q.XXXXXX", base);
	if (mkdtemp(qdir) == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		char *d = xasprintf("%s/%s", qdir, subs[i]);

		if (mkdir(d, 0700) < 0)
			return -1;
		free(d);
	}
	return 0;
}

static int setup(void **state)
{
	(void)state;
	return make_queue("/tmp");
}

/* setup_tmpfs: for the 10000-file test. ext4 makes a create that follows
 * many unlinks slow (it avoids reusing inodes freed in the running journal
 * transaction), which would make this test take seconds. */
static int setup_tmpfs(void **state)
{
	(void)state;
	if (access("/dev/shm", W_OK) == 0 && make_queue("/dev/shm") == 0)
		return 0;
	return make_queue("/tmp");
}

static int teardown(void **state)
{
	(void)state;
	return nftw(qdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int count_files(const char *sub)
{
	char *d = xasprintf("%s/%s", qdir, sub);
	DIR *dh = opendir(d);
	struct dirent *de;
	int n = 0;

	assert_non_null(dh);
	while ((de = readdir(dh)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dh);
	free(d);
	return n;
}

static char *slurp(const char *path, size_t *len_r)
{
	buf *b = buf_new(1024);
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	while ((n = read(fd, buf_reserve(b, 65536), 65536)) > 0)
		buf_commit(b, (size_t)n);
	close(fd);
	*len_r = buf_len(b);
	return buf_steal_free(&b);
}

static void spew(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* open_ok: takes &err so the error is read after the call */
static void open_ok(int rc, char **err)
{
	if (rc != 0)
		fail_msg("open failed: %s", *err != NULL ? *err : "(no error text)");
}

/* ---- round trip ---- */

#define NRCPTS 1500

static const char *const odd_addresses[] = {
	"\"john smith\"@example.com",
	"\"a\\\"b\"@example.com",
	"j\xc3\xb6rg@ex\xc3\xa4mple.de",
	"plus+tag+@example.org",
	"percent%hack@example.net",
	"\"line\nbreak\r\"@example.com",
	"\"tab\there\"@x",
	"postmaster",
};

static char *rcpt_address(int i)
{
	size_t n = sizeof(odd_addresses) / sizeof(odd_addresses[0]);

	if (i < (int)n)
		return xstrdup(odd_addresses[i]);
	return xasprintf("user%d@domain%d.example", i, i % 7);
}

static void fill_envelope(struct q_envelope *env)
{
	memset(env, 0, sizeof(*env));
	env->arrival = 1700000123;
	env->sender = "\"odd sender\"+x@example.com";
	env->envid = "env id with spaces\n+and newline=";
	env->ret = 2;
	env->body_8bit = true;
	env->smtputf8 = true;
	env->client = "mail.example.com [192.0.2.1]";
	env->nrcpts = NRCPTS;
	env->rcpts = xcalloc(NRCPTS, sizeof(struct q_rcpt));
	for (int i = 0; i < NRCPTS; i++) {
		env->rcpts[i].address = rcpt_address(i);
		env->rcpts[i].orcpt = i % 3 == 0 ? xasprintf("rfc822;orig+%d@x y", i) : NULL;
		env->rcpts[i].notify = i % 16;
		env->rcpts[i].state = i == 5 ? Q_RCPT_DONE : Q_RCPT_PENDING;
	}
}

static void free_envelope(struct q_envelope *env)
{
	for (int i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].address);
		free(env->rcpts[i].orcpt);
	}
	free(env->rcpts);
}

/* make_content: NULs, CRs, 8-bit bytes and one 300 KiB line. */
static char *make_content(size_t len)
{
	char *c = xmalloc(len);

	for (size_t i = 0; i < len; i++)
		c[i] = i < 1000 ? (char)(i % 256) : (i > 400000 && i % 77 == 0 ? '\n' : 'x');
	return c;
}

static char *write_message(const struct q_envelope *env, const char *content, size_t len)
{
	char *err = NULL;
	q_writer *w = q_writer_new(qdir, &err);
	char *id;
	size_t step = 1;

	assert_non_null(w);
	id = xstrdup(q_writer_id(w));
	assert_true(q_id_valid(id));
	assert_int_equal(q_writer_envelope(w, env, &err), 0);
	/* uneven chunks: tiny ones, buffered ones and ones over the buffer */
	for (size_t off = 0; off < len; off += step, step = step * 3 + 1) {
		size_t n = len - off < step ? len - off : step;

		assert_int_equal(q_writer_content(w, content + off, n, &err), 0);
	}
	assert_int_equal(q_writer_content_size(w), (off_t)len);
	assert_int_equal(q_writer_commit(&w, &err), 0);
	assert_null(w);
	assert_int_equal(q_sync_dir(qdir, Q_INCOMING), 0);
	return id;
}

static void check_envelope(const struct q_envelope *want, const struct q_envelope *got)
{
	assert_int_equal(got->arrival, want->arrival);
	assert_string_equal(got->sender, want->sender);
	assert_string_equal(got->envid, want->envid);
	assert_int_equal(got->ret, want->ret);
	assert_int_equal(got->body_8bit, want->body_8bit);
	assert_int_equal(got->smtputf8, want->smtputf8);
	assert_string_equal(got->client, want->client);
	assert_int_equal(got->nrcpts, want->nrcpts);
	for (int i = 0; i < want->nrcpts; i++) {
		assert_string_equal(got->rcpts[i].address, want->rcpts[i].address);
		if (want->rcpts[i].orcpt == NULL)
			assert_null(got->rcpts[i].orcpt);
		else
			assert_string_equal(got->rcpts[i].orcpt, want->rcpts[i].orcpt);
		assert_int_equal(got->rcpts[i].notify, want->rcpts[i].notify);
		assert_int_equal(got->rcpts[i].state, want->rcpts[i].state);
	}
}

static void check_content(struct q_msg *m, const char *content, size_t len)
{
	char *back = xmalloc(len + 1);

	assert_int_equal(m->content_size, (off_t)len);
	assert_int_equal(pread(m->fd, back, len + 1, m->content_offset),
			 (ssize_t)len + (m->top_len > 0 ? 1 : 0));
	assert_memory_equal(back, content, len);
	free(back);
}

static void test_round_trip(void **state)
{
	struct q_envelope env;
	size_t len = 600 * 1024;
	char *content = make_content(len);
	char *id, *path, *err = NULL;
	struct q_msg *m = NULL;

	(void)state;
	fill_envelope(&env);
	id = write_message(&env, content, len);
	assert_int_equal(count_files(Q_TMP), 0);
	path = q_path(qdir, Q_INCOMING, id);
	open_ok(q_msg_open(path, &m, &err), &err);
	assert_string_equal(m->id, id);
	assert_string_equal(m->path, path);
	check_envelope(&env, &m->env);
	check_content(m, content, len);
	assert_int_equal(q_msg_pending(m), NRCPTS - 1);
	q_msg_free(&m);
	assert_null(m);
	free_envelope(&env);
	free(content);
	free(path);
	free(id);
}

static void test_minimal(void **state)
{
	struct q_rcpt r = { .address = "a@b" };
	struct q_envelope env = { .arrival = 1, .sender = "", .rcpts = &r, .nrcpts = 1 };
	char *id = write_message(&env, "", 0);
	char *path = q_path(qdir, Q_INCOMING, id);
	char *err = NULL;
	struct q_msg *m = NULL;

	(void)state;
	open_ok(q_msg_open_ro(path, &m, &err), &err);
	assert_string_equal(m->env.sender, "");
	assert_null(m->env.envid);
	assert_null(m->env.client);
	assert_int_equal(m->env.ret, 0);
	assert_false(m->env.body_8bit);
	assert_false(m->env.smtputf8);
	assert_int_equal(m->env.rcpts[0].state, Q_RCPT_PENDING);
	assert_int_equal(m->content_size, 0);
	/* read-only: the state cannot be written */
	assert_int_equal(q_rcpt_set_state(m, 0, Q_RCPT_DONE), -1);
	q_msg_free(&m);
	free(path);
	free(id);
}

/* ---- state updates ---- */

static void test_set_state(void **state)
{
	struct q_envelope env;
	const char *content = "Subject: x\n\nbody\n";
	char *id, *path, *err = NULL, *before, *after;
	size_t blen, alen;
	struct q_msg *m = NULL;
	off_t where;

	(void)state;
	fill_envelope(&env);
	id = write_message(&env, content, strlen(content));
	path = q_path(qdir, Q_INCOMING, id);
	before = slurp(path, &blen);
	open_ok(q_msg_open(path, &m, &err), &err);
	where = m->env.rcpts[777].state_offset;
	assert_int_equal(before[where], Q_RCPT_PENDING);
	assert_int_equal(q_rcpt_set_state(m, 777, Q_RCPT_FAILED), 0);
	assert_int_equal(m->env.rcpts[777].state, Q_RCPT_FAILED);
	assert_int_equal(q_msg_sync(m), 0);
	/* bad index and bad state are refused */
	assert_int_equal(q_rcpt_set_state(m, NRCPTS, Q_RCPT_DONE), -1);
	assert_int_equal(q_rcpt_set_state(m, -1, Q_RCPT_DONE), -1);
	assert_int_equal(q_rcpt_set_state(m, 0, 'Q'), -1);
	assert_int_equal(q_rcpt_set_state(m, 0, '\0'), -1);
	q_msg_free(&m);

	after = slurp(path, &alen);
	assert_int_equal(alen, blen);
	for (size_t i = 0; i < alen; i++)
		if ((off_t)i != where && before[i] != after[i])
			fail_msg("byte %zu changed", i);
	assert_int_equal(after[where], Q_RCPT_FAILED);

	open_ok(q_msg_open(path, &m, &err), &err);
	assert_int_equal(m->env.rcpts[777].state, Q_RCPT_FAILED);
	assert_int_equal(m->env.rcpts[776].state, Q_RCPT_PENDING);
	assert_int_equal(q_msg_pending(m), NRCPTS - 2);
	for (int i = 0; i < NRCPTS; i++)
		assert_int_equal(q_rcpt_set_state(m, i, Q_RCPT_DONE), 0);
	q_msg_free(&m);
	open_ok(q_msg_open(path, &m, &err), &err);
	assert_int_equal(q_msg_pending(m), 0);
	check_content(m, content, strlen(content));
	q_msg_free(&m);

	free(before);
	free(after);
	free_envelope(&env);
	free(path);
	free(id);
}

/* ---- queue IDs ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* 10000 writers, in batches of 500 that exist at the same time. */
static void test_ids_unique(void **state)
{
	enum { TOTAL = 10000, BATCH = 500 };
	char **ids = xcalloc(TOTAL, sizeof(char *));
	q_writer *live[BATCH];
	char *err = NULL;

	(void)state;
	for (int b = 0; b < TOTAL / BATCH; b++) {
		for (int i = 0; i < BATCH; i++) {
			live[i] = q_writer_new(qdir, &err);
			assert_non_null(live[i]);
			ids[b * BATCH + i] = xstrdup(q_writer_id(live[i]));
		}
		for (int i = 0; i < BATCH; i++)
			q_writer_abort(&live[i]);
	}
	assert_int_equal(count_files(Q_TMP), 0);
	qsort(ids, TOTAL, sizeof(char *), cmp_str);
	for (int i = 0; i < TOTAL; i++) {
		size_t n = strlen(ids[i]);

		assert_true(n >= 12 && n <= 20);
		assert_int_equal(strspn(ids[i], "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
						"abcdefghijklmnopqrstuvwxyz"),
				 n);
		if (i > 0 && strcmp(ids[i - 1], ids[i]) == 0)
			fail_msg("duplicate queue ID %s", ids[i]);
	}
	for (int i = 0; i < TOTAL; i++)
		free(ids[i]);
	free(ids);
}

static void test_id_valid(void **state)
{
	static const struct {
		const char *id;
		bool valid;
	} cases[] = {
		{ "4XkW2b0001", true },	 { "abcdefgh", true },	   { "abcdefg", false },
		{ "", false },		 { "abc/defgh", false },   { "abcd.efgh", false },
		{ "..", false },	 { "ABCDEFGH12345678ABCDEFGH12345678", true },
		{ "ABCDEFGH12345678ABCDEFGH123456789", false }, { "abc defgh", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (q_id_valid(cases[i].id) != cases[i].valid)
			fail_msg("q_id_valid(\"%s\") != %d", cases[i].id, cases[i].valid);
	assert_false(q_id_valid(NULL));
}

/* ---- malformed files ---- */

#define GOOD_HEAD "POSTERN-QUEUE 1\nZ0000000000000000005\nT1700000000\nS+22a+20b+22@x\n"

/* a head with a P record of n bytes (one digit) */
#define GOOD_TOP(n) "POSTERN-QUEUE 1\nZ0000000000000000005\nP000000000000000000" #n \
		    "\nT1700000000\nSa@b\n"

/* sizeof, not strlen: one case holds a NUL */
#define GOOD_HEAD_Q(q) "POSTERN-QUEUE 1\nZ0000000000000000005\nQ" q "\nT1\nSa@b\nN1\nRP0 c@d\nX\nhello"
#define CASE(name, text) { name, text, sizeof(text) - 1 }

static const struct {
	const char *name;
	const char *text;
	size_t len;
} malformed[] = {
	CASE("empty", ""),
	CASE("bad magic", "POSTERN-QUEUE 2\nZ0000000000000000005\nT1\nSa@b\nN1\nRP0 c@d\nX\nhello"),
	CASE("no newline after magic", "POSTERN-QUEUE 1"),
	CASE("truncated envelope", GOOD_HEAD "N1\nRP0 c@"),
	CASE("missing end marker", GOOD_HEAD "N1\nRP0 c@d\n"),
	CASE("content truncated", GOOD_HEAD "N1\nRP0 c@d\nX\nhell"),
	CASE("content too long", GOOD_HEAD "N1\nRP0 c@d\nX\nhello!"),
	CASE("count too high", GOOD_HEAD "N2\nRP0 c@d\nX\nhello"),
	CASE("count too low", GOOD_HEAD "N1\nRP0 c@d\nRP0 e@f\nX\nhello"),
	CASE("count zero", GOOD_HEAD "N0\nX\nhello"),
	CASE("count huge", GOOD_HEAD "N100001\nRP0 c@d\nX\nhello"),
	CASE("count not a number", GOOD_HEAD "N1x\nRP0 c@d\nX\nhello"),
	CASE("no count", GOOD_HEAD "RP0 c@d\nX\nhello"),
	CASE("no sender", "POSTERN-QUEUE 1\nZ0000000000000000005\nT1\nN1\nRP0 c@d\nX\nhello"),
	CASE("no size", "POSTERN-QUEUE 1\nT1\nSa@b\nN1\nRP0 c@d\nX\nhello"),
	CASE("short size", "POSTERN-QUEUE 1\nZ5\nT1\nSa@b\nN1\nRP0 c@d\nX\nhello"),
	CASE("out of order", "POSTERN-QUEUE 1\nT1\nZ0000000000000000005\nSa@b\nN1\nRP0 c@d\nX\nhello"),
	CASE("repeated sender", GOOD_HEAD "Sb@c\nN1\nRP0 c@d\nX\nhello"),
	CASE("unknown record", GOOD_HEAD "Q1\nN1\nRP0 c@d\nX\nhello"),
	CASE("empty line", GOOD_HEAD "\nN1\nRP0 c@d\nX\nhello"),
	CASE("bad state", GOOD_HEAD "N1\nRQ0 c@d\nX\nhello"),
	CASE("bad notify", GOOD_HEAD "N1\nRPx c@d\nX\nhello"),
	CASE("no space in rcpt", GOOD_HEAD "N1\nRP0c@d\nX\nhello"),
	CASE("short rcpt", GOOD_HEAD "N1\nRP\nX\nhello"),
	CASE("raw space", GOOD_HEAD "N1\nRP0 c d@e\nX\nhello"),
	CASE("raw CR", GOOD_HEAD "N1\nRP0 c@d\r\nX\nhello"),
	CASE("raw 8-bit", GOOD_HEAD "N1\nRP0 c\xc3\xa9@d\nX\nhello"),
	CASE("raw NUL", GOOD_HEAD "N1\nRP0 c\0@d\nX\nhello"),
	CASE("short escape", GOOD_HEAD "N1\nRP0 c@d+4\nX\nhello"),
	CASE("bad escape", GOOD_HEAD "N1\nRP0 c+zz@d\nX\nhello"),
	CASE("escaped NUL", GOOD_HEAD "N1\nRP0 c+00@d\nX\nhello"),
	CASE("orcpt first", GOOD_HEAD "N1\nOrfc822;x@y\nRP0 c@d\nX\nhello"),
	CASE("two orcpts", GOOD_HEAD "N1\nRP0 c@d\nOrfc822;x@y\nOrfc822;x@y\nX\nhello"),
	CASE("bad ret", GOOD_HEAD "DSOME\nN1\nRP0 c@d\nX\nhello"),
	CASE("bad body", GOOD_HEAD "B7BIT\nN1\nRP0 c@d\nX\nhello"),
	CASE("value after U", GOOD_HEAD "Ux\nN1\nRP0 c@d\nX\nhello"),
	CASE("value after X", GOOD_HEAD "N1\nRP0 c@d\nXX\nhello"),
	CASE("time overflow", "POSTERN-QUEUE 1\nZ0000000000000000005\nT9300000000000000000\nSa@b\nN1\nRP0 c@d\nX\nhello"),
	CASE("bad time", "POSTERN-QUEUE 1\nZ0000000000000000005\nT-1\nSa@b\nN1\nRP0 c@d\nX\nhello"),
	/* the top-header trailer (P record) */
	CASE("bad folder", GOOD_HEAD_Q("X")),
	CASE("empty folder", GOOD_HEAD_Q("")),
	CASE("long folder", GOOD_HEAD_Q("JJ")),
	CASE("top missing", GOOD_TOP(9) "N1\nRP0 c@d\nX\nhello"),
	CASE("top cut short", GOOD_TOP(9) "N1\nRP0 c@d\nX\nhelloA: b\n"),
	CASE("top without LF", GOOD_TOP(9) "N1\nRP0 c@d\nX\nhelloA: bcdefg"),
	CASE("top no colon", GOOD_TOP(9) "N1\nRP0 c@d\nX\nhelloAbcdefgh\n"),
	CASE("top blank line", GOOD_TOP(9) "N1\nRP0 c@d\nX\nhelloA: b\n\ncd\n"),
	CASE("top NUL", GOOD_TOP(9) "N1\nRP0 c@d\nX\nhelloA: b\0cde\n"),
	CASE("top starts folded", GOOD_TOP(9) "N1\nRP0 c@d\nX\nhello A: bcde\n"),
	CASE("top too large", "POSTERN-QUEUE 1\nZ0000000000000000005\nP0000000000001048577\n"
			      "T1\nSa@b\nN1\nRP0 c@d\nX\nhello"),
	CASE("top after T", "POSTERN-QUEUE 1\nZ0000000000000000005\nT1\nP0000000000000000000\n"
			    "Sa@b\nN1\nRP0 c@d\nX\nhello"),
};

static int open_text(const char *text, size_t len, char **err_r)
{
	char *path = q_path(qdir, Q_INCOMING, "Malformed0001");
	struct q_msg *m = NULL;
	int rc;

	spew(path, text, len);
	rc = q_msg_open(path, &m, err_r);
	if (rc == 0)
		q_msg_free(&m);
	unlink(path);
	free(path);
	return rc;
}

static void test_malformed(void **state)
{
	const char *good = GOOD_HEAD "EENV\nDHDRS\nB8BITMIME\nU\nCh+20+5B1.2.3.4+5D\nN2\nRP0 c@d\n"
				     "Orfc822;c@d\nRDF e@f\nX\nhello";
	char *err = NULL;

	(void)state;
	open_ok(open_text(good, strlen(good), &err), &err);
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		err = NULL;
		if (open_text(malformed[i].text, malformed[i].len, &err) != -1)
			fail_msg("malformed case \"%s\" was accepted", malformed[i].name);
		if (err == NULL || strstr(err, "Malformed0001") == NULL)
			fail_msg("case \"%s\": error does not name the file: %s", malformed[i].name,
				 err != NULL ? err : "(null)");
		free(err);
	}
}

/* ---- top header fields (the trailer after the content) ---- */

static char *read_all(const struct q_msg *m, size_t chunk)
{
	off_t size = q_msg_size(m), pos = 0;
	char *out = xmalloc((size_t)size + 1);

	while (pos < size) {
		ssize_t n = q_msg_pread(m, out + pos, chunk, pos);

		assert_true(n > 0);
		pos += n;
	}
	assert_int_equal(q_msg_pread(m, out, chunk, pos), 0);
	out[size] = '\0';
	return out;
}

static void test_top_headers(void **state)
{
	static const char *const fields[] = {
		"Authentication-Results: mx.example; spf=pass\n",
		"DKIM-Signature: v=1; a=ed25519-sha256;\n\tb=abc\n",
	};
	const char *content = "Received: x\nSubject: y\n\nbody\n";
	struct q_rcpt r = { .address = "a@b" };
	struct q_envelope env = { .arrival = 1, .sender = "", .rcpts = &r, .nrcpts = 1 };
	char *err = NULL, *id, *path, *all, *want;
	q_writer *w = q_writer_new(qdir, &err), *copy;
	struct q_msg *m = NULL, *m2 = NULL;

	(void)state;
	assert_non_null(w);
	id = xstrdup(q_writer_id(w));
	assert_int_equal(q_writer_envelope(w, &env, &err), 0);
	assert_int_equal(q_writer_content(w, content, strlen(content), &err), 0);
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(q_writer_top_header(w, fields[i], &err), 0);
	/* refused: no colon, no final LF, a blank line, a NUL-free name only */
	static const char *const bad[] = { "nocolon\n", "A: b", "A: b\n\nc\n", ": b\n",
					   "A: b\nc\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(q_writer_top_header(w, bad[i], &err), -1);
		free(err);
		err = NULL;
	}
	/* a block of fields as a signer makes them: CRLF, folded */
	{
		const char *block = "X-A: 1\r\n\t2\r\nX-B: 3\r\n";
		const char *bad_block = "X-C: 4\r\n\r\nX-D: 5\r\n";

		assert_int_equal(q_writer_top_fields(w, block, strlen(block), &err), 0);
		assert_int_equal(q_writer_top_fields(w, bad_block, strlen(bad_block), &err), -1);
		free(err);
		err = NULL;
	}
	assert_int_equal(q_writer_commit(&w, &err), 0);
	path = q_path(qdir, Q_INCOMING, id);
	open_ok(q_msg_open(path, &m, &err), &err);
	want = xasprintf("%s%sX-A: 1\n\t2\nX-B: 3\nX-C: 4\n%s", fields[0], fields[1], content);
	check_content(m, content, strlen(content));
	assert_int_equal(m->top_len, strlen(want) - strlen(content));
	assert_memory_equal(m->top, want, m->top_len);
	assert_int_equal(q_msg_size(m), (off_t)strlen(want));
	for (size_t chunk = 1; chunk < 80; chunk += 7) {
		all = read_all(m, chunk);
		assert_string_equal(all, want);
		free(all);
	}
	/* a copy (forward, bounce) takes the top fields into its content */
	copy = q_writer_new(qdir, &err);
	assert_non_null(copy);
	free(id);
	id = xstrdup(q_writer_id(copy));
	assert_int_equal(q_writer_envelope(copy, &env, &err), 0);
	assert_int_equal(q_writer_copy_content(copy, m, q_msg_size(m), NULL, &err), 0);
	assert_int_equal(q_writer_commit(&copy, &err), 0);
	free(path);
	path = q_path(qdir, Q_INCOMING, id);
	open_ok(q_msg_open(path, &m2, &err), &err);
	assert_null(m2->top);
	check_content(m2, want, strlen(want));
	q_msg_free(&m2);
	q_msg_free(&m);
	free(want);
	free(path);
	free(id);
}

/* tap_collect: a q_writer_tap that keeps what it sees and counts calls. */
struct tap_seen {
	buf *bytes;
	int calls;
};

static void tap_collect(void *ctx, const void *data, size_t len)
{
	struct tap_seen *t = ctx;

	buf_append(t->bytes, data, len);
	t->calls++;
}

/* tap: the tap sees exactly the content appended while it is set, from
 * q_writer_content and from a copy of another message (several chunks),
 * and nothing before, after, or of a refused write. */
static void test_tap(void **state)
{
	struct q_rcpt r = { .address = "a@b" };
	struct q_envelope env = { .arrival = 1, .sender = "", .rcpts = &r, .nrcpts = 1 };
	size_t len = 200 * 1024;
	char *content = make_content(len), *id = write_message(&env, content, len);
	char *path = q_path(qdir, Q_INCOMING, id), *err = NULL, *id2;
	struct tap_seen seen = { .bytes = buf_new(len + 64) };
	struct q_msg *m = NULL, *m2 = NULL;
	q_writer *w = q_writer_new(qdir, &err);
	buf *want = buf_new(len + 64);

	(void)state;
	open_ok(q_msg_open_ro(path, &m, &err), &err);
	assert_non_null(w);
	id2 = xstrdup(q_writer_id(w));
	q_writer_tap(w, tap_collect, &seen);
	assert_int_equal(q_writer_content(w, "early", 5, &err), -1); /* before the envelope */
	free(err);
	err = NULL;
	q_writer_tap(w, NULL, NULL);
	assert_int_equal(q_writer_envelope(w, &env, &err), 0);
	assert_int_equal(q_writer_content(w, "Head: 1\n\n", 9, &err), 0);
	q_writer_tap(w, tap_collect, &seen);
	assert_int_equal(q_writer_content(w, "text\n", 5, &err), 0);
	assert_int_equal(q_writer_content(w, "", 0, &err), 0);
	assert_int_equal(q_writer_copy_content(w, m, q_msg_size(m), NULL, &err), 0);
	q_writer_tap(w, NULL, &seen);
	assert_int_equal(q_writer_content(w, "tail\n", 5, &err), 0);
	buf_append(want, "text\n", 5);
	buf_append(want, content, len);
	assert_int_equal(buf_len(seen.bytes), buf_len(want));
	assert_memory_equal(buf_cstr(seen.bytes), buf_cstr(want), buf_len(want));
	assert_true(seen.calls >= 1 + 4); /* 200 KiB copied in 64 KiB chunks */
	assert_int_equal(q_writer_commit(&w, &err), 0);
	free(path);
	path = q_path(qdir, Q_INCOMING, id2);
	open_ok(q_msg_open_ro(path, &m2, &err), &err);
	assert_int_equal(m2->content_size, (off_t)(9 + buf_len(want) + 5));
	q_msg_free(&m2);
	q_msg_free(&m);
	buf_free(&want);
	buf_free(&seen.bytes);
	free(content);
	free(path);
	free(id);
	free(id2);
}

/* quarantine: the Q record, patched at commit, read back; files without
 * it go to the inbox. */
static void test_quarantine(void **state)
{
	struct q_rcpt r = { .address = "a@b" };
	struct q_envelope env = { .arrival = 1, .sender = "", .rcpts = &r, .nrcpts = 1 };
	const char *old = GOOD_HEAD "N1\nRP0 c@d\nX\nhello";
	char *err = NULL, *id, *path;
	struct q_msg *m = NULL;

	(void)state;
	for (int junk = 0; junk < 2; junk++) {
		q_writer *w = q_writer_new(qdir, &err);

		assert_non_null(w);
		id = xstrdup(q_writer_id(w));
		assert_int_equal(q_writer_envelope(w, &env, &err), 0);
		assert_int_equal(q_writer_content(w, "x\n", 2, &err), 0);
		if (junk)
			q_writer_quarantine(w);
		assert_int_equal(q_writer_commit(&w, &err), 0);
		path = q_path(qdir, Q_INCOMING, id);
		open_ok(q_msg_open(path, &m, &err), &err);
		assert_int_equal(m->env.quarantine, junk);
		check_content(m, "x\n", 2);
		q_msg_free(&m);
		free(path);
		free(id);
	}
	path = q_path(qdir, Q_INCOMING, "OldFormat0002");
	spew(path, old, strlen(old));
	open_ok(q_msg_open(path, &m, &err), &err);
	assert_false(m->env.quarantine);
	q_msg_free(&m);
	free(path);
}

/* old_file_without_top: a file written before the P record existed. */
static void test_top_absent(void **state)
{
	const char *old = GOOD_HEAD "N1\nRP0 c@d\nX\nhello";
	const char *with = GOOD_TOP(8) "N1\nRP0 c@d\nX\nhelloA: bcde\n";
	char *path = q_path(qdir, Q_INCOMING, "OldFormat0001"), *err = NULL, *all;
	struct q_msg *m = NULL;

	(void)state;
	spew(path, old, strlen(old));
	open_ok(q_msg_open(path, &m, &err), &err);
	assert_null(m->top);
	assert_int_equal(q_msg_size(m), 5);
	all = read_all(m, 3);
	assert_string_equal(all, "hello");
	free(all);
	q_msg_free(&m);
	spew(path, with, strlen(with));
	open_ok(q_msg_open(path, &m, &err), &err);
	assert_string_equal(m->top, "A: bcde\n");
	assert_int_equal(m->content_size, 5);
	all = read_all(m, 100);
	assert_string_equal(all, "A: bcde\nhello");
	free(all);
	q_msg_free(&m);
	unlink(path);
	free(path);
}

static void test_limits(void **state)
{
	buf *b = buf_new(1 << 20);
	char *err = NULL;

	(void)state;
	/* a line over the limit, with and without its newline in the file */
	buf_puts(b, GOOD_HEAD "N1\nRP0 ");
	for (int i = 0; i < 9000; i++)
		buf_putc(b, 'a');
	assert_int_equal(open_text(buf_cstr(b), buf_len(b), &err), -1);
	assert_non_null(strstr(err, "longer"));
	free(err);
	buf_puts(b, "@d\nX\nhello");
	assert_int_equal(open_text(buf_cstr(b), buf_len(b), &err), -1);
	assert_non_null(strstr(err, "longer"));
	free(err);
	/* the recipient limit: 100000 is fine, 100001 is not */
	for (int n = 100000; n <= 100001; n++) {
		buf_reset(b);
		buf_printf(b, "POSTERN-QUEUE 1\nZ0000000000000000000\nT1\nS\nN%d\n", n);
		for (int i = 0; i < n; i++)
			buf_printf(b, "RP0 r%d@example.com\n", i);
		buf_puts(b, "X\n");
		if (n == 100000) {
			open_ok(open_text(buf_cstr(b), buf_len(b), &err), &err);
		} else {
			assert_int_equal(open_text(buf_cstr(b), buf_len(b), &err), -1);
			assert_non_null(strstr(err, "recipient count"));
			free(err);
		}
	}
	/* a name that is not a queue ID */
	{
		char *path = q_path(qdir, Q_INCOMING, "bad.name");
		struct q_msg *m = NULL;

		spew(path, "x", 1);
		assert_int_equal(q_msg_open(path, &m, &err), -1);
		free(err);
		unlink(path);
		free(path);
	}
	buf_free(&b);
}

/* ---- writer misuse and failures ---- */

static void test_abort(void **state)
{
	struct q_rcpt r = { .address = "a@b" };
	struct q_envelope env = { .sender = "x@y", .rcpts = &r, .nrcpts = 1 };
	char *err = NULL;
	q_writer *w = q_writer_new(qdir, &err);

	(void)state;
	assert_non_null(w);
	assert_int_equal(count_files(Q_TMP), 1);
	assert_int_equal(q_writer_envelope(w, &env, &err), 0);
	assert_int_equal(q_writer_content(w, "abc", 3, &err), 0);
	q_writer_abort(&w);
	assert_null(w);
	q_writer_abort(&w); /* NULL is fine */
	assert_int_equal(count_files(Q_TMP), 0);
	assert_int_equal(count_files(Q_INCOMING), 0);
}

static void test_misuse(void **state)
{
	struct q_rcpt r = { .address = "a@b" };
	struct q_envelope env = { .sender = "x@y", .rcpts = &r, .nrcpts = 1 };
	struct q_envelope none = { .sender = "x@y", .rcpts = &r, .nrcpts = 0 };
	char *err = NULL;
	q_writer *w = q_writer_new(qdir, &err);

	(void)state;
	assert_int_equal(q_writer_content(w, "abc", 3, &err), -1);
	free(err);
	assert_int_equal(q_writer_envelope(w, &none, &err), -1);
	free(err);
	r.notify = 16;
	assert_int_equal(q_writer_envelope(w, &env, &err), -1);
	free(err);
	r.notify = 0;
	assert_int_equal(q_writer_commit(&w, &err), -1); /* no envelope yet */
	free(err);
	assert_null(w);
	assert_int_equal(count_files(Q_TMP), 0);
	assert_int_equal(count_files(Q_INCOMING), 0);

	w = q_writer_new(qdir, &err);
	assert_int_equal(q_writer_envelope(w, &env, &err), 0);
	assert_int_equal(q_writer_envelope(w, &env, &err), -1);
	free(err);
	q_writer_abort(&w);

	assert_null(q_writer_new("/nonexistent/queue", &err));
	assert_non_null(strstr(err, "No such file"));
	free(err);
}

static void test_write_failure(void **state)
{
	struct q_rcpt r = { .address = "a@b" };
	struct q_envelope env = { .sender = "x@y", .rcpts = &r, .nrcpts = 1 };
	struct rlimit old, small;
	char *content = make_content(300 * 1024);
	char *err = NULL;
	q_writer *w;
	int rc = 0;

	(void)state;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 100 * 1024;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);

	w = q_writer_new(qdir, &err);
	assert_non_null(w);
	assert_int_equal(q_writer_envelope(w, &env, &err), 0);
	for (size_t off = 0; off < 300 * 1024 && rc == 0; off += 10 * 1024)
		rc = q_writer_content(w, content + off, 10 * 1024, &err);
	if (rc == 0)
		rc = q_writer_commit(&w, &err);
	else
		q_writer_abort(&w);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);

	assert_int_equal(rc, -1);
	assert_non_null(err);
	assert_non_null(strstr(err, strerror(EFBIG)));
	free(err);
	assert_null(w);
	assert_int_equal(count_files(Q_TMP), 0);
	assert_int_equal(count_files(Q_INCOMING), 0);
	free(content);
}

/* the failure surfaces at commit when everything fit in the buffer */
static void test_write_failure_at_commit(void **state)
{
	struct q_rcpt r = { .address = "a@b" };
	struct q_envelope env = { .sender = "x@y", .rcpts = &r, .nrcpts = 1 };
	struct rlimit old, small;
	char *err = NULL;
	q_writer *w;

	(void)state;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 10;
	w = q_writer_new(qdir, &err);
	assert_int_equal(q_writer_envelope(w, &env, &err), 0);
	assert_int_equal(q_writer_content(w, "hello\n", 6, &err), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	assert_int_equal(q_writer_commit(&w, &err), -1);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_non_null(strstr(err, strerror(EFBIG)));
	free(err);
	assert_int_equal(count_files(Q_TMP), 0);
	assert_int_equal(count_files(Q_INCOMING), 0);
}

/* ---- helpers ---- */

/* ---- the pool ---- */

static ino_t inode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

/* minimal_message: a one-recipient message with content, committed. */
static char *minimal_message(const char *content)
{
	struct q_rcpt r = { .address = "a@b" };
	struct q_envelope env = { .arrival = 1, .sender = "s@x", .rcpts = &r, .nrcpts = 1 };

	return write_message(&env, content, strlen(content));
}

/* is_one_of: st_ino is among the n inodes. */
static bool is_one_of(ino_t ino, const ino_t *inodes, int n)
{
	for (int i = 0; i < n; i++)
		if (inodes[i] == ino)
			return true;
	return false;
}

/* Long messages fill most of the pool; a short one then reuses one of
 * their inodes (a take tries a few slots at random, so a miss is possible
 * but rare: the first of a few messages that reuses one is checked),
 * without the old bytes and without the mode mark qmgr may have left. */
static void test_pool_reuse(void **state)
{
	enum { FILES = 256 }; /* as many as slots */
	char *big = xmalloc(10001), *err = NULL, *paths[FILES];
	ino_t inodes[FILES];
	struct q_msg *m = NULL;
	struct stat st;
	int pooled;

	(void)state;
	memset(big, 'b', 10000);
	big[10000] = '\0';
	for (int i = 0; i < FILES; i++) { /* all first: a writer takes from the pool */
		char *id = minimal_message(big);

		paths[i] = q_path(qdir, Q_INCOMING, id);
		inodes[i] = inode_of(paths[i]);
		assert_int_equal(chmod(paths[i], 0700), 0);
		free(id);
	}
	for (int i = 0; i < FILES; i++) {
		assert_int_equal(q_recycle(qdir, paths[i]), 0);
		free(paths[i]);
	}
	assert_int_equal(count_files(Q_INCOMING), 0);
	pooled = count_files(Q_TMP);
	assert_true(pooled > FILES / 2);

	for (int tries = 0; tries < 10; tries++) {
		char *id = minimal_message("short\n");
		char *path = q_path(qdir, Q_INCOMING, id);

		assert_int_equal(stat(path, &st), 0);
		free(id);
		if (!is_one_of(st.st_ino, inodes, FILES)) {
			free(path);
			continue;
		}
		assert_int_equal(count_files(Q_TMP), pooled - 1);
		assert_int_equal(st.st_mode & 07777, 0600);
		open_ok(q_msg_open(path, &m, &err), &err);
		check_content(m, "short\n", 6);
		assert_int_equal(m->content_offset + 6, st.st_size);
		q_msg_free(&m);
		free(path);
		free(big);
		return;
	}
	fail_msg("no message reused a pooled file");
}

/* More files than slots: the pool keeps at most its slots, the rest are
 * unlinked, and every q_recycle succeeds either way. */
static void test_pool_full(void **state)
{
	enum { FILES = 300 };
	char *paths[FILES];

	(void)state;
	for (int i = 0; i < FILES; i++) {
		char *id = minimal_message("x\n");
		paths[i] = q_path(qdir, Q_INCOMING, id);
		free(id);
	}
	for (int i = 0; i < FILES; i++) {
		assert_int_equal(q_recycle(qdir, paths[i]), 0);
		free(paths[i]);
	}
	assert_int_equal(count_files(Q_INCOMING), 0);
	assert_true(count_files(Q_TMP) > 0);
	assert_true(count_files(Q_TMP) <= 256);
}

/* A large file is unlinked, not pooled: the pool must not hold back the
 * data blocks of big messages on a disk that is filling up. */
static void test_pool_skips_large(void **state)
{
	enum { BIG = 300 * 1024 };
	char *big = xmalloc(BIG + 1), *id, *path;

	(void)state;
	memset(big, 'b', BIG - 1);
	big[BIG - 1] = '\n';
	big[BIG] = '\0';
	id = minimal_message(big);
	path = q_path(qdir, Q_INCOMING, id);
	assert_int_equal(count_files(Q_TMP), 0);
	assert_int_equal(q_recycle(qdir, path), 0);
	assert_int_equal(count_files(Q_INCOMING), 0);
	assert_int_equal(count_files(Q_TMP), 0);
	free(path);
	free(id);
	free(big);
}

/* Slots holding a symlink or a second link to another file are dropped,
 * never written through: the files behind them keep their bytes. */
static void test_pool_tampered(void **state)
{
	char *victim = xasprintf("%s/victim", qdir), *back;
	size_t len;

	(void)state;
	spew(victim, "keep me\n", 8);
	for (unsigned slot = 0; slot < 256; slot++) {
		char *p = xasprintf("%s/%s/pool.%u", qdir, Q_TMP, slot);
		assert_int_equal(slot % 2 ? symlink(victim, p) : link(victim, p), 0);
		free(p);
	}
	for (int i = 0; i < 40; i++) {
		char *id = minimal_message("new\n");
		free(id);
	}
	back = slurp(victim, &len);
	assert_int_equal(len, 8);
	assert_memory_equal(back, "keep me\n", 8);
	free(back);
	free(victim);
}

static void test_move_and_path(void **state)
{
	struct q_rcpt r = { .address = "a@b" };
	struct q_envelope env = { .sender = "x@y", .rcpts = &r, .nrcpts = 1 };
	char *id = write_message(&env, "x\n", 2);
	char *want = xasprintf("%s/active/%s", qdir, id);
	char *path = q_path(qdir, Q_ACTIVE, id);
	struct q_msg *m = NULL;
	char *err = NULL;

	(void)state;
	assert_string_equal(path, want);
	assert_int_equal(q_move(qdir, id, Q_INCOMING, Q_ACTIVE), 0);
	assert_int_equal(count_files(Q_INCOMING), 0);
	open_ok(q_msg_open(path, &m, &err), &err);
	assert_string_equal(m->id, id);
	q_msg_free(&m);
	assert_int_equal(q_move(qdir, id, Q_INCOMING, Q_DEFERRED), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(q_sync_dir(qdir, Q_ACTIVE), 0);
	assert_int_equal(q_sync_dir(qdir, "nonexistent"), -1);
	unlink(path);
	free(path);
	free(want);
	free(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_minimal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ids_unique, setup_tmpfs, teardown),
		cmocka_unit_test(test_id_valid),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_top_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_top_absent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_failure_at_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_skips_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_move_and_path, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
