/* fuzz_mfolder.c: fuzz target for lib/mfolder's input from clients and
 * from files: folder name validation, LIST reference + pattern matching,
 * and the subscriptions / postern-special-use parsers. Input: line 1 a
 * folder name, line 2 a LIST reference, line 3 a pattern, the rest the
 * contents of both side files of a scratch Maildir. Checks: an accepted
 * name is canonical, stays inside the Maildir and round-trips through
 * its directory form, and matches itself as a pattern; every name LSUB
 * returns from the parsed file is a valid canonical name. */
#include "fuzz_util.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "buf.h"
#include "fsutil.h"
#include "md.h"
#include "mem.h"
#include "mfolder.h"

static char root[64];

/* next_line: the bytes up to the next '\n' (or the end). */
static const char *next_line(const char **p, const char *end, size_t *len_r)
{
	const char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));

	*len_r = nl != NULL ? (size_t)(nl - s) : (size_t)(end - s);
	*p = nl != NULL ? nl + 1 : end;
	return s;
}

static void check_accepted(const char *in, size_t len, const char *canon)
{
	buf *back = buf_new(64);
	char *dir = mfolder_dir_name(canon);
	mfolder_match *m;

	if (strlen(canon) != len || canon[0] == '.' || strchr(canon, '/') != NULL ||
	    strstr(canon, "..") != NULL || canon[len - 1] == '.')
		abort();
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)canon[i] < 0x20 || (unsigned char)canon[i] > 0x7e)
			abort();
	if (!mfolder_is_inbox(canon) &&
	    (mfolder_name_of_dir(dir, back) < 0 || strcmp(buf_cstr(back), canon) != 0))
		abort();
	m = mfolder_match_new("", 0);
	if (mfolder_match_add(m, in, len, NULL) < 0 || !mfolder_match_name(m, canon))
		abort();
	mfolder_match_free(&m);
	free(dir);
	buf_free(&back);
}

static void check_name(const char *in, size_t len)
{
	buf *canon = buf_new(64);
	const char *reason = NULL;

	if (mfolder_name_check(in, len, canon, &reason) == 0)
		check_accepted(in, len, buf_cstr(canon));
	else if (reason == NULL || buf_len(canon) != 0)
		abort();
	buf_free(&canon);
}

/* remove_root: the scratch Maildir goes when the process ends. */
static void remove_root(void)
{
	static const char *const parts[] = {MFOLDER_SUBSCRIPTIONS, MFOLDER_SPECIAL_USE, "tmp",
					    "new", "cur", ""};

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		char *path = fs_join(root, parts[i]);

		if (unlink(path) < 0)
			(void)rmdir(path);
		free(path);
	}
	(void)rmdir(root);
}

static void setup_root(void)
{
	char *err = NULL;

	if (root[0] != '\0')
		return;
	strcpy(root, "/tmp/fuzz_mfolder.XXXXXX");
	if (mkdtemp(root) == NULL || md_create(root, false, &err) < 0)
		abort();
	atexit(remove_root);
}

/* put_file: plain write, no fsync (thousands of runs a second). */
static void put_file(const char *name, const char *data, size_t len)
{
	char *path = fs_join(root, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || fs_write_all(fd, data, len) < 0)
		abort();
	close(fd);
	free(path);
}

static void check_files(const mfolder_match *m, const char *data, size_t len)
{
	mfolder *mf;
	mfolder_list *l = NULL;
	char *err = NULL;
	buf *canon = buf_new(64);

	setup_root();
	put_file(MFOLDER_SUBSCRIPTIONS, data, len);
	put_file(MFOLDER_SPECIAL_USE, data, len);
	if (mfolder_open(root, &mf, &err) < 0)
		abort();
	for (unsigned ret = 0; ret <= MFOLDER_LSUB; ret += MFOLDER_LSUB) {
		if (mfolder_list_run(mf, m, MFOLDER_SEL_SUBSCRIBED | MFOLDER_SEL_RECURSIVEMATCH, ret,
				     &l, &err) != MFOLDER_OK) {
			free(err);
			err = NULL;
			continue;
		}
		for (size_t i = 0; i < mfolder_list_count(l); i++) {
			const char *n = mfolder_list_entry(l, i)->name;

			buf_reset(canon);
			if (mfolder_name_check(n, strlen(n), canon, NULL) < 0 ||
			    strcmp(buf_cstr(canon), n) != 0)
				abort();
		}
		mfolder_list_free(&l);
	}
	mfolder_free(&mf);
	buf_free(&canon);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *name, *ref, *pat;
	size_t name_len, ref_len, pat_len;
	mfolder_match *m;

	name = next_line(&p, end, &name_len);
	ref = next_line(&p, end, &ref_len);
	pat = next_line(&p, end, &pat_len);
	check_name(name, name_len);
	m = mfolder_match_new(ref, ref_len);
	if (mfolder_match_add(m, pat, pat_len, NULL) == 0) {
		buf *c = buf_new(64);

		if (mfolder_name_check(name, name_len, c, NULL) == 0)
			(void)mfolder_match_name(m, buf_cstr(c));
		buf_free(&c);
		check_files(m, p, (size_t)(end - p));
	}
	mfolder_match_free(&m);
	return 0;
}
