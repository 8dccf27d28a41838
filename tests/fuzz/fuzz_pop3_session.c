/* fuzz_pop3_session.c: fuzz target for whole pop3d sessions (the files of pop3d/
 * but pop3d.c's main). The input is what a client sends to a real session
 * (the run, the svc stubs and the scratch maps are fuzz_session.c's).
 * One user, "user@example.org" (also "user") with password "pw", made
 * once per process with a texthash passwd map ({CRAM-MD5} with a cheap
 * SCRAM secret, so PLAIN, LOGIN, CRAM-MD5 and SCRAM all work fast) and a
 * Maildir of three messages that is restored before every run (DELE and
 * QUIT really delete). No TLS.
 * FUZZ_POP3_TRACE=1 in the environment copies the replies to stderr. */
#include "fuzz_session.h"
#include "fuzz_util.h"

#include <dirent.h>
#include <sys/stat.h>

#include "buf.h"
#include "mem.h"
#include "pop3d.h"

static struct pop3d_server fz_srv;
static char fz_maildir[128];
static const char *fz_top;
static buf *fz_big;      /* a larger message, for sending in many chunks */
static const char *const fz_subdirs[] = { "new", "cur", "tmp" };

static void fz_put(const char *rel, const char *data, size_t len)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", fz_maildir, rel);
	fuzz_session_write_file(path, data, len);
}

static void fz_empty_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' || (de->d_name[1] != '\0' && strcmp(de->d_name, "..") != 0))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

/* fz_restore: the Maildir as at the start: three messages, no uidlist. */
static void fz_restore(void)
{
	static const char m1[] = "From: a@example.org\nSubject: one\n\nbody\n.\n..dots\nend\n";
	static const char m2[] = "Subject: two\r\n\r\nline\r\n.\r\n";
	char path[256];

	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", fz_maildir, fz_subdirs[i]);
		fz_empty_dir(path);
	}
	snprintf(path, sizeof(path), "%s/%s", fz_maildir, MBX_UIDLIST);
	unlink(path);
	snprintf(path, sizeof(path), "%s/maildirsize", fz_maildir);
	unlink(path);
	fz_put("cur/1700000001.M1P1.fuzz,S=52:2,S", m1, sizeof(m1) - 1);
	fz_put("cur/1700000002.M2P1.fuzz:2,", m2, sizeof(m2) - 1);
	fz_put("new/1700000003.M3P1.fuzz", buf_cstr(fz_big), buf_len(fz_big));
}

/* fz_passwd_entry: {CRAM-MD5} (cheap to verify) plus SCRAM keys with a
 * tiny iteration count. */
static char *fz_passwd_entry(void)
{
	struct passdb_scram sc;
	char *err = NULL, *cram = passdb_cram_make("pw", &err), *scram, *entry;

	if (cram == NULL || passdb_scram_derive("pw", (const unsigned char *)"fuzzsalt", 8, 2, &sc) < 0)
		abort();
	scram = passdb_scram_format(&sc);
	entry = xasprintf("user@example.org {CRAM-MD5}%s scram-sha-256=%s\n", cram, scram);
	free(cram);
	free(scram);
	return entry;
}

static cfg *fz_config(void)
{
	cfg *c = fuzz_session_config(fz_top, "pop3d");

	cfg_set(c, "pop3d_auth_cram_md5", "yes");
	cfg_set(c, "pop3d_error_limit", "10");
	return c;
}

/* fz_setup: once per process: files, maps, the server and its loop. */
static void fz_setup(void)
{
	char path[256], *entry;
	cfg *c;

	if (fz_top != NULL)
		return;
	entry = fz_passwd_entry();
	fz_top = fuzz_session_init("pop3", "FUZZ_POP3_TRACE", entry);
	free(entry);
	snprintf(fz_maildir, sizeof(fz_maildir), "%s/example.org/user", fz_top);
	if (mkdir(fz_maildir, 0700) < 0)
		abort();
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", fz_maildir, fz_subdirs[i]);
		if (mkdir(path, 0700) < 0)
			abort();
	}
	fz_big = buf_new(32768);
	buf_puts(fz_big, "Subject: big\n\n");
	for (int i = 0; i < 2000; i++)
		buf_printf(fz_big, "%sline %d of the big message\n", i % 7 == 0 ? "." : "", i);
	c = fz_config();
	fz_srv.loop = ev_loop_new();
	fz_srv.myhostname = xstrdup("fuzz.example.org");
	fz_srv.timeout_ms = 600000;
	fz_srv.handshake_timeout_ms = 60000;
	fz_srv.error_limit = (int)cfg_get_int(c, "pop3d_error_limit");
	fz_srv.session_limit = 10;
	fz_srv.send_scratch = buf_new(256 * 1024);
	pop3d_login_init(&fz_srv, c);
	fz_srv.resolver = resolver_new(c);
	pop3d_session_init(&fz_srv);
	cfg_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_setup();
	fz_restore();
	fuzz_session_run(fz_srv.sessions, fz_srv.loop, NULL, NULL, data, size);
	return 0;
}
