/* fuzz_uidlist.c: fuzz target for the dovecot-uidlist parser
 * (lib/mbx_uidlist.c) and the UID bookkeeping of lib/mbx*.c. The input
 * becomes the dovecot-uidlist of a small Maildir (made once per process,
 * in /dev/shm when it exists, with the message files the seed corpus
 * names); then mbx_open, mbx_vsizes, every message checked and opened,
 * mbx_pop3_uidl, mbx_free. A second open must give every file the same
 * UID, UIDL and size: what the first one wrote (or left) must read back
 * the same. Any broken invariant aborts. */
#include "fuzz_util.h"

#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "log.h"
#include "mbx.h"

/* The folder's files: names as Dovecot and Postern write them, some with
 * ",S=" / ",W=" sizes and flags, one with a wrong ",S=" on purpose. */
static const struct fz_file {
	const char *rel;
	const char *text;
} fz_files[] = {
	{ "new/1700000004.M4P100.fuzz", "To: a\n\nnew mail\n.\n" },
	{ "cur/1700000001.M1P100.fuzz,S=17,W=20:2,S", "To: a\n\nbody line\n" },
	{ "cur/1700000002.M2P100.fuzz:2,RSa", "To: b\r\n\r\nwith CRLF\r\n" },
	{ "cur/1700000003.M3P100.fuzz,S=5:2,", "Subject: x\n\nno final line end" },
};
#define FZ_NFILES (sizeof(fz_files) / sizeof(fz_files[0]))

/* What one open saw of a file, found by its base name. */
struct fz_seen {
	uint32_t uid;
	long long vsize;
	char uidl[80];
};

static char fz_dir[64];

static void fz_put(const char *rel, const char *text)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", fz_dir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
}

static void fz_remove_dir(void)
{
	char path[256];

	for (size_t i = 0; i < FZ_NFILES; i++) {
		snprintf(path, sizeof(path), "%s/%s", fz_dir, fz_files[i].rel);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/%s", fz_dir, MBX_UIDLIST);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s.lock", fz_dir, MBX_UIDLIST);
	unlink(path);
	for (const char *const *sub = (const char *const[]){ "new", "cur", "tmp", NULL }; *sub; sub++) {
		snprintf(path, sizeof(path), "%s/%s", fz_dir, *sub);
		rmdir(path);
	}
	rmdir(fz_dir);
}

/* fz_setup: the Maildir, once per process; quiet logs, no lock waits. */
static void fz_setup(void)
{
	char path[256];
	struct stat st;

	if (fz_dir[0] != '\0')
		return;
	snprintf(fz_dir, sizeof(fz_dir), "%s/postern-fuzz-mbx.XXXXXX",
		 stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(fz_dir) == NULL)
		abort();
	for (const char *const *sub = (const char *const[]){ "new", "cur", "tmp", NULL }; *sub; sub++) {
		snprintf(path, sizeof(path), "%s/%s", fz_dir, *sub);
		if (mkdir(path, 0700) < 0)
			abort();
	}
	log_set_level(LOG_LVL_FATAL);
	mbx_lock_wait_ms = 0;
	atexit(fz_remove_dir);
}

/* fz_restore: the message files as they should be, no lock left over,
 * and the input as the uidlist. */
static void fz_restore(const uint8_t *data, size_t size)
{
	char path[256];
	struct stat st;
	FILE *f;

	for (size_t i = 0; i < FZ_NFILES; i++) {
		snprintf(path, sizeof(path), "%s/%s", fz_dir, fz_files[i].rel);
		if (stat(path, &st) < 0 || st.st_size != (off_t)strlen(fz_files[i].text))
			fz_put(fz_files[i].rel, fz_files[i].text);
	}
	snprintf(path, sizeof(path), "%s/%s.lock", fz_dir, MBX_UIDLIST);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s", fz_dir, MBX_UIDLIST);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
}

/* fz_file_of: which of fz_files a message is, by its base name. */
static size_t fz_file_of(const struct mbx_msg *m)
{
	for (size_t i = 0; i < FZ_NFILES; i++) {
		const char *name = strchr(fz_files[i].rel, '/') + 1;
		size_t len = strlen(m->base);

		if (strncmp(name, m->base, len) == 0 && (name[len] == '\0' || name[len] == ':'))
			return i;
	}
	abort(); /* a message that is none of our files */
}

static bool fz_valid_uidl(const char *s)
{
	size_t len = strlen(s);

	if (len < 1 || len > 70)
		return false;
	for (; *s != '\0'; s++)
		if (*s < 0x21 || *s > 0x7e)
			return false;
	return true;
}

/* fz_walk: checks every message of mb and records what it saw. */
static void fz_walk(mbx *mb, struct fz_seen seen[FZ_NFILES], bool want_vsize)
{
	uint32_t prev = 0;

	if (mbx_count(mb) != FZ_NFILES || mbx_uidvalidity(mb) == 0)
		abort();
	memset(seen, 0, FZ_NFILES * sizeof(*seen));
	for (size_t i = 0; i < mbx_count(mb); i++) {
		const struct mbx_msg *m = mbx_msg(mb, i);
		size_t f = fz_file_of(m);
		const char *uidl = mbx_pop3_uidl(mb, i);
		int fd;

		if (m->uid <= prev || m->uid >= mbx_uidnext(mb) || seen[f].uid != 0)
			abort();
		if (strncmp(m->name, m->base, strlen(m->base)) != 0 || m->psize < 0 ||
		    (want_vsize && m->vsize < 0) || !fz_valid_uidl(uidl) || strlen(uidl) >= sizeof(seen[f].uidl))
			abort();
		prev = m->uid;
		seen[f].uid = m->uid;
		seen[f].vsize = m->vsize;
		snprintf(seen[f].uidl, sizeof(seen[f].uidl), "%s", uidl);
		fd = mbx_msg_open(mb, i);
		if (fd < 0)
			abort();
		close(fd);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_seen first[FZ_NFILES], second[FZ_NFILES];
	mbx *mb = NULL;
	char *err = NULL;
	uint32_t validity;

	fz_setup();
	fz_restore(data, size);
	if (mbx_open(fz_dir, &mb, &err) < 0 || mbx_vsizes(mb, &err) < 0)
		abort(); /* nothing here may fail: no lock is held, every file is readable */
	fz_walk(mb, first, true);
	validity = mbx_uidvalidity(mb);
	mbx_free(&mb);
	if (mbx_open(fz_dir, &mb, &err) < 0)
		abort();
	fz_walk(mb, second, false);
	if (mbx_uidvalidity(mb) != validity)
		abort();
	for (size_t i = 0; i < FZ_NFILES; i++)
		if (first[i].uid != second[i].uid || first[i].vsize != second[i].vsize ||
		    strcmp(first[i].uidl, second[i].uidl) != 0)
			abort();
	mbx_free(&mb);
	return 0;
}
