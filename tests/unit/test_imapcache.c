/* test_imapcache.c: unit tests of the per-folder FETCH cache
 * (lib/imapcache*.c): values made by imapcache_compute, put / flush / get
 * round trips, the base-name check, persistence and UIDVALIDITY, two
 * handles on one file as two processes (flock is per open file), a busy
 * lock, torn and corrupt records (a miss, never a wrong value), limits,
 * and compaction seen by another handle. Scratch folders under /tmp. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "imapcache.h"
#include "imapcache_int.h"
#include "mem.h"
#include "mime.h"

static char dir[64];
static char *cpath;

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/test_imapcache.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	cpath = fs_join(dir, IMAPCACHE_FILE);
	return 0;
}

/* fresh: every test starts without a cache file */
static int fresh(void **state)
{
	(void)state;
	unlink(cpath);
	return 0;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	(void)state;
	if (system(cmd) != 0)
		return -1;
	free(cmd);
	free(cpath);
	return 0;
}

static imapcache *open_cache(uint32_t uidvalidity)
{
	imapcache *c = NULL;
	char *err = NULL;

	assert_int_equal(imapcache_open(dir, uidvalidity, &c, &err), 0);
	assert_null(err);
	assert_non_null(c);
	return c;
}

static void flush_ok(imapcache *c)
{
	char *err = NULL;

	assert_int_equal(imapcache_flush(c, &err), 1);
	assert_null(err);
}

static void refresh_ok(imapcache *c)
{
	char *err = NULL;

	assert_int_equal(imapcache_refresh(c, &err), 0);
	assert_null(err);
}

/* expect: the cached value of field is want (NULL: a miss). */
static void expect(imapcache *c, uint32_t uid, const char *base, enum imapmsg_field f,
		   const char *want)
{
	const char *v;
	size_t len;
	int rc = imapcache_get(c, uid, base, f, &v, &len);

	if (want == NULL) {
		assert_int_equal(rc, 0);
		return;
	}
	assert_int_equal(rc, 1);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(v, want, len);
}

static bool imapcache_stats_pending(const imapcache *c)
{
	struct imapcache_stats st;

	imapcache_stats(c, &st);
	return st.pending_bytes > 0;
}

static off_t file_size(void)
{
	struct stat st;

	assert_int_equal(stat(cpath, &st), 0);
	return st.st_size;
}

static void append_raw(const char *data, size_t len)
{
	int fd = open(cpath, O_WRONLY | O_APPEND);

	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, data, len), 0);
	close(fd);
}

static void poke(off_t off, char byte)
{
	int fd = open(cpath, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &byte, 1, off), 1);
	close(fd);
}

/* ---- CRC-32C --------------------------------------------------------------- */

static void test_crc(void **state)
{
	unsigned char data[300];

	(void)state;
	assert_int_equal(imapcache_crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(imapcache_crc32c_soft(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(imapcache_crc32c(0, "", 0), 0);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 37 + 11);
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len + off <= sizeof(data); len += 7) {
			uint32_t whole = imapcache_crc32c(0, data + off, len);

			assert_int_equal(whole, imapcache_crc32c_soft(0, data + off, len));
			/* continuing a CRC over two pieces gives the whole's */
			assert_int_equal(imapcache_crc32c(imapcache_crc32c(0, data + off, len / 2),
							  data + off + len / 2, len - len / 2),
					 whole);
		}
}

/* ---- imapcache_compute ------------------------------------------------- */

static const char msg_mixed[] =
	"From: Ann <ann@example.org>\n"
	"To: bob@example.net\n"
	"Subject: =?UTF-8?Q?caf=C3=A9?=\n"
	"Date: Mon, 7 Dec 2026 10:00:00 +0000\n"
	"Message-ID: <1@example.org>\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/mixed; boundary=xx\n"
	"\n"
	"--xx\n"
	"Content-Type: text/plain; charset=utf-8\n"
	"\n"
	"hello\n"
	"--xx\n"
	"Content-Type: application/pdf; name=a.pdf\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	"AAAA\n"
	"--xx--\n";

static void test_compute(void **state)
{
	buf *v[IMAPMSG_NFIELDS], *want = buf_new(0);
	buf *only[IMAPMSG_NFIELDS] = { 0 };
	mime_msg *m = mime_parse(msg_mixed, strlen(msg_mixed));

	(void)state;
	for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++)
		v[f] = buf_new(0);
	imapcache_compute(msg_mixed, strlen(msg_mixed), v);
	mime_envelope(m, mime_root(m), want);
	assert_string_equal(buf_cstr(v[IMAPMSG_ENVELOPE]), buf_cstr(want));
	buf_reset(want);
	mime_bodystructure(m, mime_root(m), false, want);
	assert_string_equal(buf_cstr(v[IMAPMSG_BODY]), buf_cstr(want));
	buf_reset(want);
	mime_bodystructure(m, mime_root(m), true, want);
	assert_string_equal(buf_cstr(v[IMAPMSG_BODYSTRUCTURE]), buf_cstr(want));
	assert_non_null(strcasestr(buf_cstr(want), "\"MIXED\""));
	assert_int_equal(strncmp(buf_cstr(v[IMAPMSG_HEADER]), "From: Ann <ann@example.org>\r\n", 29),
			 0);
	assert_non_null(strstr(buf_cstr(v[IMAPMSG_HEADER]), "boundary=xx\r\n\r\n"));
	assert_null(strstr(buf_cstr(v[IMAPMSG_HEADER]), "hello"));
	/* the header-only parse gives the same ENVELOPE and HEADER */
	only[IMAPMSG_ENVELOPE] = buf_new(0);
	only[IMAPMSG_HEADER] = buf_new(0);
	imapcache_compute(msg_mixed, strlen(msg_mixed), only);
	assert_string_equal(buf_cstr(only[IMAPMSG_ENVELOPE]), buf_cstr(v[IMAPMSG_ENVELOPE]));
	assert_string_equal(buf_cstr(only[IMAPMSG_HEADER]), buf_cstr(v[IMAPMSG_HEADER]));
	buf_free(&only[IMAPMSG_ENVELOPE]);
	buf_free(&only[IMAPMSG_HEADER]);
	for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++)
		buf_free(&v[f]);
	buf_free(&want);
	mime_free(&m);
}

/* ---- round trips --------------------------------------------------------- */

static void test_put_get(void **state)
{
	imapcache *c = open_cache(1000);
	struct imapcache_stats st;
	char *err = NULL;

	(void)state;
	assert_int_equal(file_size(), IMAPCACHE_HDR_LEN);
	assert_int_equal(imapcache_put(c, 1, "1.M1.host", IMAPMSG_ENVELOPE, "(env one)", 9), 1);
	/* queued, not seen before the flush, not queued twice */
	expect(c, 1, "1.M1.host", IMAPMSG_ENVELOPE, NULL);
	assert_int_equal(imapcache_put(c, 1, "1.M1.host", IMAPMSG_ENVELOPE, "(env one)", 9), 0);
	assert_int_equal(imapcache_put(c, 2, "2.M2.host", IMAPMSG_HEADER, "A: b\r\n\r\n", 8), 1);
	assert_int_equal(imapcache_put(c, 3, "3.M3.host", IMAPMSG_BODY, "", 0), 1);
	flush_ok(c);
	assert_int_equal(imapcache_flush(c, &err), 0); /* nothing queued */
	expect(c, 1, "1.M1.host", IMAPMSG_ENVELOPE, "(env one)");
	expect(c, 2, "2.M2.host", IMAPMSG_HEADER, "A: b\r\n\r\n");
	expect(c, 3, "3.M3.host", IMAPMSG_BODY, "");
	/* another field, another UID, another file under the UID: misses */
	expect(c, 1, "1.M1.host", IMAPMSG_BODY, NULL);
	expect(c, 4, "1.M1.host", IMAPMSG_ENVELOPE, NULL);
	expect(c, 1, "1.M1.hos", IMAPMSG_ENVELOPE, NULL);
	expect(c, 1, "1.M1.hostx", IMAPMSG_ENVELOPE, NULL);
	expect(c, 1, "9.M9.other", IMAPMSG_ENVELOPE, NULL);
	/* cached already: not queued again; a value for the new base is */
	assert_int_equal(imapcache_put(c, 1, "1.M1.host", IMAPMSG_ENVELOPE, "(env one)", 9), 0);
	assert_int_equal(imapcache_put(c, 1, "1.Mnew.host", IMAPMSG_ENVELOPE, "(env new)", 9), 1);
	flush_ok(c);
	expect(c, 1, "1.Mnew.host", IMAPMSG_ENVELOPE, "(env new)");
	expect(c, 1, "1.M1.host", IMAPMSG_ENVELOPE, NULL);
	imapcache_stats(c, &st);
	assert_int_equal(st.records, 4);
	assert_int_equal(st.messages, 3);
	assert_int_equal(st.pending_bytes, 0);
	assert_int_equal(st.file_bytes, file_size());
	imapcache_close(&c);
	assert_null(c);
	imapcache_close(&c);
	unlink(cpath);
}

static void test_put_all_and_reopen(void **state)
{
	buf *v[IMAPMSG_NFIELDS];
	imapcache *c = open_cache(7);
	char base[32];
	buf *got = buf_new(0);

	(void)state;
	for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++)
		v[f] = buf_new(0);
	imapcache_compute(msg_mixed, strlen(msg_mixed), v);
	for (uint32_t uid = 1; uid <= 3000; uid++) {
		snprintf(base, sizeof(base), "%u.M%u.host", uid, uid * 7);
		assert_int_equal(imapcache_put_all(c, uid, base, v), IMAPMSG_NFIELDS);
	}
	imapcache_close(&c); /* close flushes */
	c = open_cache(7);
	for (uint32_t uid = 1; uid <= 3000; uid++) {
		snprintf(base, sizeof(base), "%u.M%u.host", uid, uid * 7);
		for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++) {
			buf_reset(got);
			assert_int_equal(imapcache_get_buf(c, uid, base, f, got), 1);
			assert_int_equal(buf_len(got), buf_len(v[f]));
			assert_memory_equal(buf_cstr(got), buf_cstr(v[f]), buf_len(got));
		}
	}
	imapcache_close(&c);
	/* a new UIDVALIDITY: the old values are gone, the file made anew */
	c = open_cache(8);
	expect(c, 1, "1.M7.host", IMAPMSG_ENVELOPE, NULL);
	assert_int_equal(file_size(), IMAPCACHE_HDR_LEN);
	assert_int_equal(imapcache_put(c, 1, "1.M7.host", IMAPMSG_ENVELOPE, "(x)", 3), 1);
	imapcache_close(&c);
	/* a stale process (older UIDVALIDITY) gets no cache and harms nothing */
	c = open_cache(7);
	expect(c, 1, "1.M7.host", IMAPMSG_ENVELOPE, NULL);
	imapcache_put(c, 1, "1.M7.host", IMAPMSG_ENVELOPE, "(stale)", 7);
	imapcache_close(&c);
	c = open_cache(8);
	expect(c, 1, "1.M7.host", IMAPMSG_ENVELOPE, "(x)");
	imapcache_close(&c);
	for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++)
		buf_free(&v[f]);
	buf_free(&got);
	unlink(cpath);
}

/* ---- several writers ----------------------------------------------------- */

static void test_two_handles(void **state)
{
	imapcache *a = open_cache(5), *b = open_cache(5);
	char *err = NULL;
	int lockfd;

	(void)state;
	assert_int_equal(imapcache_put(a, 10, "10.A", IMAPMSG_ENVELOPE, "(a)", 3), 1);
	assert_int_equal(imapcache_put(b, 11, "11.B", IMAPMSG_ENVELOPE, "(b)", 3), 1);
	flush_ok(a);
	flush_ok(b); /* b indexes a's record first, then appends */
	expect(b, 10, "10.A", IMAPMSG_ENVELOPE, "(a)");
	expect(a, 11, "11.B", IMAPMSG_ENVELOPE, NULL);
	refresh_ok(a);
	expect(a, 11, "11.B", IMAPMSG_ENVELOPE, "(b)");
	/* another process holds the lock: the flush waits for nothing */
	lockfd = open(cpath, O_RDONLY);
	assert_int_equal(flock(lockfd, LOCK_EX), 0);
	assert_int_equal(imapcache_put(a, 12, "12.A", IMAPMSG_ENVELOPE, "(c)", 3), 1);
	assert_int_equal(imapcache_flush(a, &err), 0);
	assert_null(err);
	expect(a, 12, "12.A", IMAPMSG_ENVELOPE, NULL);
	flock(lockfd, LOCK_UN);
	close(lockfd);
	flush_ok(a); /* still queued, written now */
	expect(a, 12, "12.A", IMAPMSG_ENVELOPE, "(c)");
	imapcache_close(&a);
	imapcache_close(&b);
	unlink(cpath);
}

/* writer_child: one process of test_processes: values for its UIDs,
 * flushed in small batches, retried while another holds the lock. */
static void writer_child(int k, int per)
{
	imapcache *c = NULL;
	char *err = NULL, base[32], val[64];

	if (imapcache_open(dir, 5, &c, &err) < 0)
		_exit(2);
	for (int i = 0; i < per; i++) {
		uint32_t uid = (uint32_t)(k * per + i + 1);

		snprintf(base, sizeof(base), "%u.P%d", uid, k);
		snprintf(val, sizeof(val), "(value %u of process %d)", uid, k);
		imapcache_put(c, uid, base, IMAPMSG_ENVELOPE, val, strlen(val));
		if (i % 10 == 9)
			while (imapcache_flush(c, &err) == 0 && imapcache_stats_pending(c))
				usleep(100);
	}
	while (imapcache_flush(c, &err) == 0 && imapcache_stats_pending(c))
		usleep(100);
	imapcache_close(&c);
	_exit(err == NULL ? 0 : 3);
}

static void test_processes(void **state)
{
	enum { NPROC = 4, PER = 300 };
	imapcache *c;
	struct imapcache_stats st;
	char base[32], val[64];
	pid_t pids[NPROC];
	int status;

	(void)state;
	for (int k = 0; k < NPROC; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0)
			writer_child(k, PER);
	}
	for (int k = 0; k < NPROC; k++) {
		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	c = open_cache(5);
	for (int k = 0; k < NPROC; k++)
		for (int i = 0; i < PER; i++) {
			uint32_t uid = (uint32_t)(k * PER + i + 1);

			snprintf(base, sizeof(base), "%u.P%d", uid, k);
			snprintf(val, sizeof(val), "(value %u of process %d)", uid, k);
			expect(c, uid, base, IMAPMSG_ENVELOPE, val);
		}
	imapcache_stats(c, &st);
	assert_int_equal(st.bad_records, 0);
	assert_int_equal(st.records, NPROC * PER); /* one record a put */
	assert_int_equal(st.file_bytes, file_size());
	imapcache_close(&c);
}

/* ---- damage -------------------------------------------------------------- */

static void test_torn_tail(void **state)
{
	imapcache *a = open_cache(5), *b;
	buf *rec = buf_new(0);
	const char *vals[IMAPMSG_NFIELDS] = { "(torn)", NULL, NULL, NULL };
	size_t lens[IMAPMSG_NFIELDS] = { 6, 0, 0, 0 };
	off_t good;

	(void)state;
	imapcache_put(a, 1, "1.A", IMAPMSG_ENVELOPE, "(one)", 5);
	flush_ok(a);
	good = file_size();
	/* a crashed writer left half a record; every cut point is a miss */
	imapcache_rec_encode(rec, 2, "2.B", 3, vals, lens);
	for (size_t cut = 1; cut < buf_len(rec); cut++) {
		assert_int_equal(truncate(cpath, good), 0);
		append_raw(buf_cstr(rec), cut);
		b = open_cache(5);
		expect(b, 1, "1.A", IMAPMSG_ENVELOPE, "(one)");
		expect(b, 2, "2.B", IMAPMSG_ENVELOPE, NULL);
		imapcache_close(&b);
	}
	/* the next writer cuts it off and appends after the good records */
	imapcache_put(a, 3, "3.C", IMAPMSG_ENVELOPE, "(three)", 7);
	flush_ok(a);
	expect(a, 3, "3.C", IMAPMSG_ENVELOPE, "(three)");
	b = open_cache(5);
	expect(b, 1, "1.A", IMAPMSG_ENVELOPE, "(one)");
	expect(b, 2, "2.B", IMAPMSG_ENVELOPE, NULL);
	expect(b, 3, "3.C", IMAPMSG_ENVELOPE, "(three)");
	imapcache_close(&b);
	imapcache_close(&a);
	buf_free(&rec);
	unlink(cpath);
}

static void test_corrupt(void **state)
{
	imapcache *a = open_cache(5), *b;
	struct imapcache_stats st;
	off_t first, second;

	(void)state;
	imapcache_put(a, 1, "1.A", IMAPMSG_ENVELOPE, "(one)", 5);
	flush_ok(a);
	first = file_size();
	imapcache_put(a, 2, "2.B", IMAPMSG_ENVELOPE, "(two)", 5);
	flush_ok(a);
	second = file_size();
	imapcache_put(a, 3, "3.C", IMAPMSG_ENVELOPE, "(three)", 7);
	flush_ok(a);
	imapcache_close(&a);
	/* a flipped value byte: that value is a miss, the others are fine */
	poke(second - 2, 'X');
	b = open_cache(5);
	expect(b, 2, "2.B", IMAPMSG_ENVELOPE, NULL);
	expect(b, 1, "1.A", IMAPMSG_ENVELOPE, "(one)");
	expect(b, 3, "3.C", IMAPMSG_ENVELOPE, "(three)");
	imapcache_close(&b);
	/* a flipped head byte: that record and all after it are not used */
	poke(first + 8, 9); /* the uid */
	b = open_cache(5);
	expect(b, 1, "1.A", IMAPMSG_ENVELOPE, "(one)");
	expect(b, 2, "2.B", IMAPMSG_ENVELOPE, NULL);
	expect(b, 9, "2.B", IMAPMSG_ENVELOPE, NULL);
	expect(b, 3, "3.C", IMAPMSG_ENVELOPE, NULL);
	imapcache_stats(b, &st);
	assert_int_equal(st.bad_records, 1);
	/* the next writer makes the file anew (by rename: b's mapping stays) */
	imapcache_put(b, 4, "4.D", IMAPMSG_ENVELOPE, "(four)", 6);
	flush_ok(b);
	expect(b, 4, "4.D", IMAPMSG_ENVELOPE, "(four)");
	expect(b, 1, "1.A", IMAPMSG_ENVELOPE, NULL);
	imapcache_close(&b);
	assert_int_equal(file_size(), IMAPCACHE_HDR_LEN + 41);
	(void)second;
	/* a bad file header: the file is made anew */
	poke(0, 'X');
	b = open_cache(5);
	expect(b, 1, "1.A", IMAPMSG_ENVELOPE, NULL);
	assert_int_equal(file_size(), IMAPCACHE_HDR_LEN);
	imapcache_close(&b);
	unlink(cpath);
}

static void test_limits(void **state)
{
	imapcache *c = open_cache(5);
	char *big = xcalloc(1, IMAPCACHE_MAX_VALUE + 1);
	char longbase[IMAPCACHE_MAX_BASE + 2];

	(void)state;
	memset(big, 'v', IMAPCACHE_MAX_VALUE);
	memset(longbase, 'b', sizeof(longbase) - 1);
	longbase[sizeof(longbase) - 1] = '\0';
	assert_int_equal(imapcache_put(c, 1, "1.A", IMAPMSG_HEADER, big, IMAPCACHE_MAX_VALUE + 1), 0);
	assert_int_equal(imapcache_put(c, 1, longbase, IMAPMSG_HEADER, "x", 1), 0);
	assert_int_equal(imapcache_put(c, 1, "", IMAPMSG_HEADER, "x", 1), 0);
	assert_int_equal(imapcache_put(c, 0, "0.A", IMAPMSG_HEADER, "x", 1), 0);
	assert_int_equal(imapcache_put(c, 1, "1.A", IMAPMSG_NFIELDS, "x", 1), 0);
	longbase[IMAPCACHE_MAX_BASE] = '\0';
	/* queueing IMAPCACHE_MAX_PENDING bytes writes them at once */
	assert_int_equal(imapcache_put(c, 1, longbase, IMAPMSG_HEADER, big, IMAPCACHE_MAX_VALUE), 1);
	expect(c, 1, longbase, IMAPMSG_HEADER, big);
	expect(c, 1, "1.A", IMAPMSG_NFIELDS, NULL);
	assert_int_equal(imapcache_put(c, 2, "2.A", IMAPMSG_HEADER, big, IMAPCACHE_MAX_VALUE), 1);
	expect(c, 2, "2.A", IMAPMSG_HEADER, big);
	imapcache_close(&c);
	free(big);
	unlink(cpath);
}

/* ---- compaction ---------------------------------------------------------- */

static void test_compact(void **state)
{
	imapcache *a = open_cache(5), *b = open_cache(5);
	struct imapcache_live live[50];
	char bases[100][16], val[64];
	struct imapcache_stats st;
	char *err = NULL;
	off_t before;

	(void)state;
	for (uint32_t uid = 1; uid <= 100; uid++) {
		snprintf(bases[uid - 1], sizeof(bases[0]), "%u.X", uid);
		snprintf(val, sizeof(val), "(envelope of %u)", uid);
		imapcache_put(a, uid, bases[uid - 1], IMAPMSG_ENVELOPE, val, strlen(val));
		imapcache_put(a, uid, bases[uid - 1], IMAPMSG_HEADER, val, strlen(val));
	}
	flush_ok(a);
	refresh_ok(b);
	/* the even UIDs stay, the odd ones were expunged */
	for (size_t i = 0; i < 50; i++) {
		live[i].uid = (uint32_t)(2 * i + 2);
		live[i].base = bases[2 * i + 1];
	}
	assert_int_equal(imapcache_compact(a, live, 50, false, &err), 0); /* too small */
	assert_null(err);
	before = file_size();
	assert_int_equal(imapcache_compact(a, live, 50, true, &err), 1);
	assert_null(err);
	assert_true(file_size() < before * 6 / 10);
	imapcache_stats(a, &st);
	assert_int_equal(st.records, 50);
	assert_int_equal(st.messages, 50);
	assert_int_equal(st.live_bytes + IMAPCACHE_HDR_LEN, file_size());
	expect(a, 2, "2.X", IMAPMSG_ENVELOPE, "(envelope of 2)");
	expect(a, 100, "100.X", IMAPMSG_HEADER, "(envelope of 100)");
	expect(a, 1, "1.X", IMAPMSG_ENVELOPE, NULL);
	/* b still reads the old file until it refreshes, then the new one */
	expect(b, 1, "1.X", IMAPMSG_ENVELOPE, "(envelope of 1)");
	refresh_ok(b);
	expect(b, 1, "1.X", IMAPMSG_ENVELOPE, NULL);
	expect(b, 4, "4.X", IMAPMSG_ENVELOPE, "(envelope of 4)");
	/* b's queued value goes into the new file */
	imapcache_put(b, 101, "101.X", IMAPMSG_ENVELOPE, "(new)", 5);
	flush_ok(b);
	refresh_ok(a);
	expect(a, 101, "101.X", IMAPMSG_ENVELOPE, "(new)");
	imapcache_close(&a);
	imapcache_close(&b);
	unlink(cpath);
}

static void test_no_dir(void **state)
{
	imapcache *c = NULL;
	char *err = NULL;

	(void)state;
	assert_int_equal(imapcache_open("/nonexistent/imapcache/dir", 1, &c, &err), -1);
	assert_null(c);
	assert_non_null(err);
	free(err);
	expect(NULL, 1, "1.A", IMAPMSG_ENVELOPE, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc),
		cmocka_unit_test_setup(test_compute, fresh),
		cmocka_unit_test_setup(test_put_get, fresh),
		cmocka_unit_test_setup(test_put_all_and_reopen, fresh),
		cmocka_unit_test_setup(test_two_handles, fresh),
		cmocka_unit_test_setup(test_processes, fresh),
		cmocka_unit_test_setup(test_torn_tail, fresh),
		cmocka_unit_test_setup(test_corrupt, fresh),
		cmocka_unit_test_setup(test_limits, fresh),
		cmocka_unit_test_setup(test_compact, fresh),
		cmocka_unit_test_setup(test_no_dir, fresh),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
