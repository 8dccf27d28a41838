/* test_md.c: unit tests for Maildir delivery and quota (lib/md.c): a
 * delivery lands in new/ as prefix + exact content under the documented
 * name; a second delivery is a duplicate; a copy moved to cur/ is found in
 * recover mode only; failures (short source, file size limit, bad request)
 * leave nothing behind; maildirsize is created, appended to, recalculated
 * when malformed, too long or for another limit, and over-quota deliveries
 * write nothing; a mail store below min_free defers and writes nothing;
 * md_create and md_unique_name; tmp names: two attempts at one delivery in
 * flight at once never share a tmp file (the first, stopped half-way,
 * finds the second's copy and reports a duplicate), a stale tmp file under
 * the old (final) name is left alone, and md_tmp_clean removes tmp files
 * 36 hours old and nothing younger. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "md.h"
#include "mem.h"

static char top[64];
static char *mdir; /* top/Maildir */
static int src_fd = -1; /* a fake queue file: 100 bytes of junk, content, junk */
static char *content;
static size_t content_len;

#define JUNK 100

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void make_source(size_t len)
{
	char *path = xasprintf("%s/queuefile", top);
	char junk[JUNK];

	free(content);
	content_len = len;
	content = xmalloc(len + 1);
	for (size_t i = 0; i < len; i++)
		content[i] = i % 61 == 60 ? '\n' : (char)('A' + i % 26);
	if (len > 10)
		content[5] = '\0'; /* binary-safe */
	memset(junk, '#', sizeof(junk));
	if (src_fd >= 0)
		close(src_fd);
	src_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(src_fd >= 0);
	assert_int_equal(write(src_fd, junk, JUNK), JUNK);
	assert_int_equal(write(src_fd, content, len), (ssize_t)len);
	assert_int_equal(write(src_fd, junk, JUNK), JUNK);
	free(path);
}

static int setup(void **state)
{
	(void)state;
	strcpy(top, "/tmp/test_md.XXXXXX");
	if (mkdtemp(top) == NULL)
		return -1;
	mdir = xasprintf("%s/Maildir", top);
	make_source(1000);
	return 0;
}

static pid_t stopped_child; /* killed by teardown if a test failed with it stopped */

static int teardown(void **state)
{
	(void)state;
	if (stopped_child > 0) {
		kill(stopped_child, SIGKILL);
		waitpid(stopped_child, NULL, 0);
		stopped_child = 0;
	}
	close(src_fd);
	src_fd = -1;
	free(content);
	content = NULL;
	free(mdir);
	return nftw(top, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct md_delivery delivery(void)
{
	struct md_delivery d = {
		.maildir = mdir,
		.queue_id = "8DnHVu5HejzQo",
		.rcpt_index = 3,
		.arrival = 1700000000,
		.prefix = "Return-Path: <a@b>\nDelivered-To: c@d\n",
		.src_fd = src_fd,
		.offset = JUNK,
		.length = (off_t)content_len,
	};

	return d;
}

/* list: names in maildir/sub, sorted, joined by '|'. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *list(const char *maildir, const char *sub)
{
	char *dir = xasprintf("%s/%s", maildir, sub);
	DIR *dh = opendir(dir);
	struct dirent *de;
	char *names[64];
	int n = 0;
	buf *b = buf_new(256);

	assert_non_null(dh);
	while ((de = readdir(dh)) != NULL && n < 64)
		if (de->d_name[0] != '.')
			names[n++] = xstrdup(de->d_name);
	closedir(dh);
	qsort(names, (size_t)n, sizeof(char *), cmp_str);
	for (int i = 0; i < n; i++) {
		buf_printf(b, "%s%s", i > 0 ? "|" : "", names[i]);
		free(names[i]);
	}
	free(dir);
	return buf_steal_free(&b);
}

static int count(const char *maildir, const char *sub)
{
	char *names = list(maildir, sub);
	int n = names[0] == '\0' ? 0 : 1;

	for (char *p = names; *p != '\0'; p++)
		n += *p == '|';
	free(names);
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

static void spew(const char *path, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char *data = xcalloc(1, len + 1);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	free(data);
}

static void check_message(const char *maildir, const char *sub, const char *name,
			  const char *prefix)
{
	char *path = xasprintf("%s/%s/%s", maildir, sub, name);
	size_t len, plen = strlen(prefix);
	char *data = slurp(path, &len);

	assert_int_equal(len, plen + content_len);
	assert_memory_equal(data, prefix, plen);
	assert_memory_equal(data + plen, content, content_len);
	free(data);
	free(path);
}

static enum md_result deliver(const struct md_delivery *d, char **name_r)
{
	char *err = NULL;
	enum md_result r = md_deliver(d, name_r, &err);

	if ((r == MD_TEMP || r == MD_QUOTA || r == MD_SPACE) && err == NULL)
		fail_msg("md_deliver %d without an error text", r);
	free(err);
	return r;
}

/* ---- delivery ---- */

static void test_deliver(void **state)
{
	struct md_delivery d = delivery();
	char *name = NULL, *err = NULL, *names, *want;
	char host[256];
	regex_t re;

	(void)state;
	assert_int_equal(md_create(mdir, false, &err), 0);
	assert_int_equal(deliver(&d, &name), MD_OK);
	assert_non_null(name);
	names = list(mdir, "new");
	assert_string_equal(names, name);
	free(names);
	check_message(mdir, "new", name, d.prefix);
	assert_int_equal(count(mdir, "tmp"), 0);
	assert_int_equal(md_sync_new(mdir), 0);

	/* <arrival>.Q<id>R<index>M<8 hex>.<host>,S=<size> */
	assert_int_equal(regcomp(&re, "^1700000000\\.Q8DnHVu5HejzQoR3M[0-9a-f]{8}\\.[^/:,]+,S=[0-9]+$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	if (regexec(&re, name, 0, NULL, 0) != 0)
		fail_msg("bad name %s", name);
	regfree(&re);
	want = xasprintf(",S=%zu", strlen(d.prefix) + content_len);
	assert_non_null(strstr(name, want));
	free(want);
	gethostname(host, sizeof(host));
	if (strchr(host, '/') == NULL && strchr(host, ':') == NULL && strchr(host, ',') == NULL)
		assert_non_null(strstr(name, host));
	want = md_delivery_name(&d, (off_t)(strlen(d.prefix) + content_len));
	assert_string_equal(want, name);
	free(want);
	free(name);
}

static void test_duplicate(void **state)
{
	struct md_delivery d = delivery();
	char *first = NULL, *second = NULL;

	(void)state;
	assert_int_equal(deliver(&d, &first), MD_OK); /* creates the Maildir */
	assert_int_equal(deliver(&d, &second), MD_DUPLICATE);
	assert_string_equal(first, second);
	assert_int_equal(count(mdir, "new"), 1);
	assert_int_equal(count(mdir, "tmp"), 0);
	free(second);
	d.recover = true;
	assert_int_equal(deliver(&d, &second), MD_DUPLICATE);
	assert_int_equal(count(mdir, "new"), 1);
	free(second);
	/* another recipient index or mailbox is another message */
	d.recover = false;
	d.rcpt_index = 33;
	assert_int_equal(deliver(&d, NULL), MD_OK);
	d.rcpt_index = 3;
	d.maildir = xasprintf("%s/Other", top);
	assert_int_equal(deliver(&d, &second), MD_OK);
	assert_string_not_equal(first, second);
	assert_int_equal(count(mdir, "new"), 2);
	assert_int_equal(count(d.maildir, "new"), 1);
	free((char *)d.maildir);
	free(first);
	free(second);
}

/* One final address, two envelope recipients (two aliases of one mailbox):
 * the second delivery finds the first copy, in new/ by link() and in cur/
 * in recover mode; another address is another copy. */
static void test_duplicate_by_address(void **state)
{
	struct md_delivery d = delivery();
	char *first = NULL, *second = NULL, *from, *to;
	regex_t re;

	(void)state;
	d.address = "carol@example.test";
	assert_int_equal(deliver(&d, &first), MD_OK);
	assert_int_equal(regcomp(&re, "^1700000000\\.Q8DnHVu5HejzQoA[0-9a-f]{16}M[0-9a-f]{8}\\.",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	if (regexec(&re, first, 0, NULL, 0) != 0)
		fail_msg("bad name %s", first);
	regfree(&re);
	d.rcpt_index = 17;
	assert_int_equal(deliver(&d, &second), MD_DUPLICATE);
	assert_string_equal(first, second);
	free(second);
	from = xasprintf("%s/new/%s", mdir, first);
	to = xasprintf("%s/cur/%s:2,S", mdir, first);
	assert_int_equal(rename(from, to), 0);
	d.rcpt_index = 18;
	d.recover = true;
	assert_int_equal(deliver(&d, NULL), MD_DUPLICATE);
	assert_int_equal(count(mdir, "new"), 0);
	d.recover = false;
	d.address = "dave@example.test";
	assert_int_equal(deliver(&d, NULL), MD_OK);
	assert_int_equal(count(mdir, "new"), 1);
	free(from);
	free(to);
	free(first);
}

/* A copy made under the older name (by recipient index) is found in
 * recover mode by a delivery that names its address. */
static void test_recover_legacy_name(void **state)
{
	struct md_delivery d = delivery();
	char *name = NULL;

	(void)state;
	assert_int_equal(deliver(&d, &name), MD_OK); /* address NULL: R<index> */
	d.address = "c@d";
	d.recover = true;
	assert_int_equal(deliver(&d, NULL), MD_DUPLICATE);
	assert_int_equal(count(mdir, "new"), 1);
	d.rcpt_index = 4; /* another recipient's legacy copy is not this one */
	assert_int_equal(deliver(&d, NULL), MD_OK);
	assert_int_equal(count(mdir, "new"), 2);
	free(name);
}

static void move_to_cur(const char *name, const char *suffix)
{
	char *from = xasprintf("%s/new/%s", mdir, name);
	char *to = xasprintf("%s/cur/%s%s", mdir, name, suffix);

	assert_int_equal(rename(from, to), 0);
	free(from);
	free(to);
}

static void test_recover(void **state)
{
	static const char *const suffixes[] = { ":2,S", "", ",W=1234:2,RS", ":2," };
	struct md_delivery d = delivery();

	(void)state;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char *name = NULL, *again = NULL, *names, *want;

		d.rcpt_index = (int)i;
		d.recover = false;
		assert_int_equal(deliver(&d, &name), MD_OK);
		move_to_cur(name, suffixes[i]);
		/* without recover a copy moved to cur/ is not seen (documented) */
		assert_int_equal(deliver(&d, &again), MD_OK);
		free(again);
		assert_int_equal(count(mdir, "new"), 1);
		names = list(mdir, "new");
		want = xasprintf("%s/new/%s", mdir, names);
		assert_int_equal(unlink(want), 0);
		free(want);
		free(names);
		/* with recover it is */
		d.recover = true;
		assert_int_equal(deliver(&d, &again), MD_DUPLICATE);
		assert_string_equal(again, name);
		assert_int_equal(count(mdir, "new"), 0);
		assert_int_equal(count(mdir, "tmp"), 0);
		free(again);
		free(name);
	}
	assert_int_equal(count(mdir, "cur"), 4);
	/* recover mode still delivers what is not there, e.g. index 4 vs 40 */
	d.rcpt_index = 40;
	assert_int_equal(deliver(&d, NULL), MD_OK);
	d.rcpt_index = 4;
	assert_int_equal(deliver(&d, NULL), MD_OK);
	assert_int_equal(count(mdir, "new"), 2);
}

static void test_content_sizes(void **state)
{
	static const size_t sizes[] = { 0, 1, 4095, 128 * 1024 - 40, 128 * 1024, 700 * 1024 + 3 };
	struct md_delivery d;

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *name = NULL;

		make_source(sizes[i]);
		d = delivery();
		d.rcpt_index = (int)i;
		if (i == 2) {
			d.prefix = NULL; /* no prefix */
			assert_int_equal(deliver(&d, &name), MD_OK);
			check_message(mdir, "new", name, "");
		} else {
			assert_int_equal(deliver(&d, &name), MD_OK);
			check_message(mdir, "new", name, d.prefix);
		}
		free(name);
	}
	/* a prefix longer than the copy buffer */
	{
		buf *p = buf_new(300 * 1024);
		char *name = NULL;

		for (int i = 0; i < 5000; i++)
			buf_printf(p, "X-Long-%d: %s\n", i, "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
		d.prefix = buf_cstr(p);
		d.rcpt_index = 99;
		assert_int_equal(deliver(&d, &name), MD_OK);
		check_message(mdir, "new", name, d.prefix);
		free(name);
		buf_free(&p);
	}
}

static void test_failures(void **state)
{
	struct md_delivery d = delivery();
	struct md_delivery bad;
	char *name = (char *)"unchanged";

	(void)state;
	/* the source is shorter than promised */
	d.length = (off_t)content_len + JUNK + 1;
	assert_int_equal(deliver(&d, &name), MD_TEMP);
	assert_null(name);
	assert_int_equal(count(mdir, "new"), 0);
	assert_int_equal(count(mdir, "tmp"), 0);
	/* a bad source fd */
	d = delivery();
	d.src_fd = 1000;
	assert_int_equal(deliver(&d, NULL), MD_TEMP);
	assert_int_equal(count(mdir, "new"), 0);
	assert_int_equal(count(mdir, "tmp"), 0);
	/* bad requests */
	bad = delivery();
	bad.queue_id = "../../etc";
	assert_int_equal(deliver(&bad, NULL), MD_TEMP);
	bad = delivery();
	bad.rcpt_index = -1;
	assert_int_equal(deliver(&bad, NULL), MD_TEMP);
	bad = delivery();
	bad.maildir = NULL;
	assert_int_equal(deliver(&bad, NULL), MD_TEMP);
	/* a Maildir that cannot be created */
	bad = delivery();
	bad.maildir = "/proc/nonexistent/Maildir";
	assert_int_equal(deliver(&bad, NULL), MD_TEMP);
}

static void test_file_too_large(void **state)
{
	struct md_delivery d;
	struct rlimit old, small;
	enum md_result r;
	char *err = NULL;

	(void)state;
	make_source(200 * 1024);
	d = delivery();
	assert_int_equal(md_create(mdir, false, &err), 0);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 150 * 1024; /* the source is already written */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	r = md_deliver(&d, NULL, &err);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(r, MD_TEMP);
	assert_non_null(strstr(err, strerror(EFBIG)));
	free(err);
	assert_int_equal(count(mdir, "new"), 0);
	assert_int_equal(count(mdir, "tmp"), 0);
}

/* ---- md_create and names ---- */

static void test_create(void **state)
{
	char *err = NULL;
	char *folder = xasprintf("%s/.Sent", mdir);
	char *marker = xasprintf("%s/maildirfolder", folder);
	char *sub = xasprintf("%s/cur", mdir);
	struct stat st;

	(void)state;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(md_create(mdir, false, &err), 0);
		assert_int_equal(md_create(folder, true, &err), 0);
	}
	assert_int_equal(stat(sub, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(marker, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	free(marker);
	marker = xasprintf("%s/maildirfolder", mdir);
	assert_int_equal(stat(marker, &st), -1);
	assert_int_equal(count(folder, "new"), 0);
	assert_int_equal(count(folder, "tmp"), 0);
	/* a file in the way */
	free(folder);
	folder = xasprintf("%s/afile", top);
	spew(folder, 1);
	free(marker);
	marker = xasprintf("%s/Maildir", folder);
	assert_int_equal(md_create(marker, false, &err), -1);
	assert_non_null(strstr(err, "afile"));
	free(err);
	free(folder);
	free(marker);
	free(sub);
}

static void test_unique_name(void **state)
{
	char *a = md_unique_name();
	char *b = md_unique_name();
	regex_t re;

	(void)state;
	assert_string_not_equal(a, b);
	assert_int_equal(regcomp(&re, "^[0-9]+\\.M[0-9]{6}P[0-9]+Q[0-9]+\\.[^/:]+$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	if (regexec(&re, a, 0, NULL, 0) != 0)
		fail_msg("bad unique name %s", a);
	regfree(&re);
	free(a);
	free(b);
}

/* ---- quota ---- */

static char *read_sizefile(const char *maildir)
{
	char *path = xasprintf("%s/maildirsize", maildir);
	size_t len;
	char *text = slurp(path, &len);

	free(path);
	return text;
}

static void write_sizefile(const char *text)
{
	char *path = xasprintf("%s/maildirsize", mdir);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

static void test_quota(void **state)
{
	struct md_delivery d;
	long long bytes = -1, n = -1;
	char *err = NULL, *text, *want;
	size_t msg;

	(void)state;
	make_source(250);
	d = delivery();
	d.prefix = "Return-Path: <>\n"; /* 16 bytes: 266 a message */
	msg = 266;
	d.quota_bytes = 1000;
	assert_int_equal(md_create(mdir, false, &err), 0);
	for (int i = 0; i < 3; i++) {
		d.rcpt_index = i;
		assert_int_equal(deliver(&d, NULL), MD_OK);
	}
	text = read_sizefile(mdir);
	/* created before the first delivery (empty), then one line each */
	assert_string_equal(text, "1000S\n0 0\n266 1\n266 1\n266 1\n");
	free(text);
	assert_int_equal(md_quota_usage(mdir, 1000, &bytes, &n, &err), 0);
	assert_int_equal(bytes, 3 * msg);
	assert_int_equal(n, 3);

	/* 798 + 266 > 1000: refused, nothing written */
	d.rcpt_index = 3;
	err = NULL;
	assert_int_equal(md_deliver(&d, NULL, &err), MD_QUOTA);
	assert_non_null(strstr(err, "full"));
	free(err);
	assert_int_equal(count(mdir, "new"), 3);
	assert_int_equal(count(mdir, "tmp"), 0);
	/* a duplicate is still a duplicate when over quota */
	d.rcpt_index = 0;
	assert_int_equal(deliver(&d, NULL), MD_DUPLICATE);
	d.recover = true;
	assert_int_equal(deliver(&d, NULL), MD_DUPLICATE);
	/* a message that fits exactly is accepted */
	d.recover = false;
	d.rcpt_index = 4;
	d.quota_bytes = 3 * (long long)msg + (long long)msg;
	assert_int_equal(deliver(&d, NULL), MD_OK);
	text = read_sizefile(mdir);
	/* the limit changed: recalculated, then the delivery added */
	want = xasprintf("%lldS\n%zu 3\n266 1\n", d.quota_bytes, 3 * msg);
	assert_string_equal(text, want);
	free(want);
	free(text);
	/* full now: even an empty message is refused */
	d.rcpt_index = 5;
	d.prefix = "";
	d.length = 0;
	assert_int_equal(deliver(&d, NULL), MD_QUOTA);
}

static void test_quota_recalc(void **state)
{
	static const char *const broken[] = {
		"garbage\n",
		"1000S\n12 1\nnot a line\n",
		"1000S\n12 1", /* unterminated */
		"1000S\n-500 -1\n",
		"1000X\n1 1\n",
		"S\n",
		"",
		"2000S\n1 1\n", /* another limit */
	};
	char *err = NULL, *path, *text;
	long long bytes, n;
	struct md_delivery d = delivery();
	size_t msg = strlen(d.prefix) + content_len;

	(void)state;
	assert_int_equal(deliver(&d, NULL), MD_OK);
	/* one message without ,S= in its name: stat counts it */
	path = xasprintf("%s/cur/plainname:2,S", mdir);
	spew(path, 50);
	free(path);
	msg += 50;
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		char *want = xasprintf("1000S\n%zu 2\n", msg);

		write_sizefile(broken[i]);
		bytes = n = -1;
		assert_int_equal(md_quota_usage(mdir, 1000, &bytes, &n, &err), 0);
		if (bytes != (long long)msg || n != 2)
			fail_msg("case %zu: %lld bytes, %lld messages", i, bytes, n);
		text = read_sizefile(mdir);
		assert_string_equal(text, want);
		free(want);
		free(text);
	}
	/* a valid file is believed, with a count limit kept */
	write_sizefile("1000S,10C\n5 1\n-2 0\n");
	assert_int_equal(md_quota_usage(mdir, 1000, &bytes, &n, &err), 0);
	assert_int_equal(bytes, 3);
	assert_int_equal(n, 1);
	/* too long: recalculated */
	{
		buf *b = buf_new(8192);

		buf_puts(b, "1000S\n");
		while (buf_len(b) <= 5120)
			buf_puts(b, "1 1\n");
		write_sizefile(buf_cstr(b));
		buf_free(&b);
	}
	assert_int_equal(md_quota_usage(mdir, 1000, &bytes, &n, &err), 0);
	assert_int_equal(bytes, (long long)msg);
	assert_int_equal(n, 2);
}

static void test_quota_folder(void **state)
{
	struct md_delivery d = delivery();
	char *folder = xasprintf("%s/.Lists", mdir);
	char *err = NULL, *text;
	long long bytes, n;

	(void)state;
	assert_int_equal(md_create(mdir, false, &err), 0);
	assert_int_equal(md_create(folder, true, &err), 0);
	d.quota_bytes = 1000000;
	assert_int_equal(deliver(&d, NULL), MD_OK); /* INBOX */
	d.maildir = folder;
	assert_int_equal(deliver(&d, NULL), MD_OK);
	text = read_sizefile(mdir);
	assert_int_equal(strncmp(text, "1000000S\n", 9), 0);
	free(text);
	/* the root counts both; a recalculation finds both too */
	assert_int_equal(md_quota_usage(mdir, 1000000, &bytes, &n, &err), 0);
	assert_int_equal(n, 2);
	write_sizefile("junk");
	assert_int_equal(md_quota_usage(mdir, 1000000, &bytes, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(bytes, 2 * (long long)(strlen(d.prefix) + content_len));
	free(folder);
}

/* ---- free-space reserve (local_minfree) ---- */

/* A reserve larger than the free space defers (MD_SPACE, reason with the
 * path and both figures) and writes nothing; a duplicate is still found;
 * a reserve that leaves room, or none, delivers. */
static void test_min_free(void **state)
{
	struct md_delivery d = delivery();
	long long free_bytes = 0;
	char *err = NULL, *want;

	(void)state;
	make_source(300);
	d = delivery();
	assert_int_equal(md_create(mdir, false, &err), 0);
	assert_int_equal(fs_free_bytes(mdir, &free_bytes), 0);
	d.min_free = free_bytes + 1024LL * 1024 * 1024; /* never met */
	assert_int_equal(md_deliver(&d, NULL, &err), MD_SPACE);
	assert_non_null(err);
	want = xasprintf("mail store %s: ", mdir);
	assert_memory_equal(err, want, strlen(want));
	assert_non_null(strstr(err, "bytes free, below local_minfree"));
	free(want);
	free(err);
	err = NULL;
	assert_int_equal(count(mdir, "new"), 0);
	assert_int_equal(count(mdir, "tmp"), 0);

	d.min_free = 0;
	assert_int_equal(deliver(&d, NULL), MD_OK);
	d.min_free = LLONG_MAX;
	assert_int_equal(deliver(&d, NULL), MD_DUPLICATE);
	d.rcpt_index = 7;
	d.min_free = 4096; /* the test's file system has more than that */
	assert_int_equal(deliver(&d, NULL), MD_OK);
	assert_int_equal(count(mdir, "new"), 2);
}

/* ---- tmp names ---- */

/* A tmp file under the old-style name (the final name) left by a crash is
 * neither reused nor removed by a delivery; new/ gets the right copy. */
static void test_stale_old_style_tmp(void **state)
{
	struct md_delivery d = delivery();
	off_t size = (off_t)(strlen(d.prefix) + content_len);
	char *final = md_delivery_name(&d, size), *err = NULL, *name = NULL;
	char *stale = xasprintf("%s/tmp/%s", mdir, final);
	size_t len;
	char *back;

	(void)state;
	assert_int_equal(md_create(mdir, false, &err), 0);
	spew(stale, 7);
	assert_int_equal(deliver(&d, &name), MD_OK);
	assert_string_equal(name, final);
	check_message(mdir, "new", name, d.prefix);
	back = slurp(stale, &len);
	assert_int_equal(len, 7);
	assert_int_equal(count(mdir, "tmp"), 1);
	free(back);
	free(stale);
	free(final);
	free(name);
}

/* stop_in_tmp: forks a process that delivers d and exits 0 on
 * MD_DUPLICATE; stops it once its tmp file exists. The pid, or 0 when it
 * finished before it could be stopped (the caller tries again). */
static pid_t stop_in_tmp(const struct md_delivery *d)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		char *err = NULL;

		_exit(md_deliver(d, NULL, &err) == MD_DUPLICATE ? 0 : 1);
	}
	while (count(mdir, "tmp") == 0 && waitpid(pid, &status, WNOHANG) == 0)
		;
	kill(pid, SIGSTOP);
	assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
	if (WIFSTOPPED(status) && count(mdir, "tmp") == 1 && count(mdir, "new") == 0)
		return pid;
	if (WIFSTOPPED(status)) {
		kill(pid, SIGCONT);
		waitpid(pid, &status, 0);
	}
	return 0;
}

/* Two attempts at one delivery in flight at once (a process left over from
 * before a crash and a recovering one): the second never touches the
 * first's tmp file, and the first, resumed, finds the copy in new/. With a
 * shared tmp name the second would remove the first's file, and the
 * first's link would fail (or link a truncated file). */
static void test_inflight_never_share_tmp(void **state)
{
	struct md_delivery d;
	char *err = NULL, *name = NULL, *before, *after;
	pid_t first = 0;
	int status;

	(void)state;
	make_source(16 * 1024 * 1024); /* long enough to be caught half-way */
	d = delivery();
	assert_int_equal(md_create(mdir, false, &err), 0);
	for (int tries = 0; tries < 20 && first == 0; tries++) {
		first = stop_in_tmp(&d);
		if (first == 0) { /* finished too soon: start over */
			char *names = list(mdir, "new");
			char *path = xasprintf("%s/new/%s", mdir, names);

			unlink(path);
			free(path);
			free(names);
		}
	}
	if (first == 0)
		skip();
	stopped_child = first;
	before = list(mdir, "tmp");
	assert_int_equal(deliver(&d, &name), MD_OK);
	after = list(mdir, "tmp");
	assert_string_equal(before, after); /* the first's file untouched */
	assert_true(strcmp(before, name) != 0);
	check_message(mdir, "new", name, d.prefix);
	kill(first, SIGCONT);
	assert_int_equal(waitpid(first, &status, 0), first);
	stopped_child = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0); /* MD_DUPLICATE */
	assert_int_equal(count(mdir, "new"), 1);
	assert_int_equal(count(mdir, "tmp"), 0);
	check_message(mdir, "new", name, d.prefix);
	free(before);
	free(after);
	free(name);
}

static void test_tmp_clean(void **state)
{
	char *err = NULL;
	char *file = xasprintf("%s/tmp/1.P2N3.Q4R0.host", mdir);
	char *dir = xasprintf("%s/tmp/adir", mdir);
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(md_create(mdir, false, &err), 0);
	spew(file, 10);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(md_tmp_clean(mdir, now), 0);
	assert_int_equal(md_tmp_clean(mdir, now + 35 * 3600), 0);
	assert_int_equal(count(mdir, "tmp"), 2);
	assert_int_equal(md_tmp_clean(mdir, now + 36 * 3600 + 1), 1);
	assert_int_equal(access(file, F_OK), -1);
	assert_int_equal(access(dir, F_OK), 0);
	assert_int_equal(md_tmp_clean("/nonexistent/Maildir", now), 0);
	free(file);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deliver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_by_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_legacy_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unique_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota_recalc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_min_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_old_style_tmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inflight_never_share_tmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tmp_clean, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
