/* fuzz_imapd_session.c: fuzz target for whole imapd sessions (the files of
 * imapd/ but imapd.c's main). Every input runs after a LOGIN the target
 * sends first: it is what a logged-in client sends to a real session (the
 * run, the svc stubs and the scratch maps are fuzz_session.c's). One user,
 * "user@example.org" with password "pw" (texthash maps), and a scratch
 * Maildir made anew before every run: an INBOX of four messages (flags,
 * keywords, a multipart with a message/rfc822 part), a folder "Work", a
 * dovecot-keywords and a subscriptions file. No TLS.
 * FUZZ_IMAPD_TRACE=1 copies the replies to stderr. */
#include "fuzz_session.h"
#include "fuzz_util.h"

#include <errno.h>
#include <sys/stat.h>

#include "imapd.h"
#include "mem.h"

static struct imapd_server fz_srv;
static const char *fz_top;
static char fz_maildir[128];

static const char fz_login[] = "L LOGIN user@example.org pw\r\n";

static const char fz_multipart[] =
	"From: =?UTF-8?B?SsO8cmdlbg==?= <j@example.org>\n"
	"To: user@example.org, \"Two\" <two@example.org>\n"
	"Subject: =?ISO-8859-1?Q?f=FCr?= you\n"
	"Date: Mon, 7 Dec 2026 10:00:00 +0100\n"
	"Message-ID: <m1@example.org>\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/mixed; boundary=\"b1\"\n\n"
	"preamble\n--b1\nContent-Type: text/plain; charset=utf-8\n"
	"Content-Transfer-Encoding: quoted-printable\n\nhello =C3=BC world\n"
	"--b1\nContent-Type: application/octet-stream; name=\"a.bin\"\n"
	"Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC.bin\n"
	"Content-Transfer-Encoding: base64\n\nAAECAwQFBgcICQ==\n"
	"--b1\nContent-Type: message/rfc822\n\n"
	"From: inner@example.org\nSubject: inner\n\ninner body\n"
	"--b1--\nepilogue\n";

static void fz_put(const char *rel, const char *data)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", fz_maildir, rel);
	fuzz_session_write_file(path, data, strlen(data));
}

static void fz_mkdir(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s%s%s", fz_maildir, rel[0] != '\0' ? "/" : "", rel);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		abort();
}

/* fz_restore: the Maildir as at the start of every run. */
static void fz_restore(void)
{
	static const char *const dirs[] = { "", "new", "cur", "tmp", ".Work", ".Work/new",
					    ".Work/cur", ".Work/tmp" };

	fuzz_session_rm_tree(fz_maildir);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		fz_mkdir(dirs[i]);
	fz_put(".Work/maildirfolder", "");
	fz_put("dovecot-keywords", "0 $Forwarded\n1 Junk\n");
	fz_put("subscriptions", "INBOX\nWork\n");
	fz_put("cur/1700000001.M1P1.fuzz,S=60:2,S",
	       "From: a@example.org\nSubject: one\nDate: 1 Jan 2020 00:00 +0000\n\nbody one\n");
	fz_put("cur/1700000002.M2P1.fuzz:2,FRa", "Subject: two\r\n\r\nline\r\n");
	fz_put("cur/1700000003.M3P1.fuzz:2,b", fz_multipart);
	fz_put("new/1700000004.M4P1.fuzz", "Subject: new\n\nnew message\n");
	fz_put(".Work/cur/1700000005.M5P1.fuzz:2,S", "Subject: work\n\nwork\n");
}

/* fz_server: the server struct as imapd.c's init fills it, with small
 * limits so the fuzzer reaches them. */
static void fz_server(cfg *c)
{
	char *err = NULL;

	fz_srv.loop = ev_loop_new();
	fz_srv.myhostname = xstrdup("fuzz.example.org");
	fz_srv.timeout_ms = 600000;
	fz_srv.login_timeout_ms = 600000;
	fz_srv.handshake_timeout_ms = 60000;
	/* the slow-down of many BADs would only stall the fuzzer: off; the
	 * cut-off at the limit stays */
	fz_srv.error_limit = 200;
	fz_srv.error_sleep_ms = 0;
	fz_srv.session_limit = 10;
	imapcmd_limits_default(&fz_srv.limits);
	fz_srv.limits.max_line = 8192;
	fz_srv.limits.max_literal = 65536;
	fz_srv.limits.max_command = fz_srv.limits.max_literal + fz_srv.limits.max_line;
	fz_srv.limits.nonsync = IMAPCMD_NONSYNC_PLUS;
	fz_srv.prelogin_limits = fz_srv.limits; /* as imapd.c's limits_init */
	fz_srv.prelogin_limits.max_literal = IMAPD_PRELOGIN_LITERAL_MAX;
	fz_srv.prelogin_limits.max_command = IMAPD_PRELOGIN_LITERAL_MAX + fz_srv.limits.max_line;
	fz_srv.prelogin_limits.nonsync = IMAPCMD_NONSYNC_MINUS;
	imapd_login_init(&fz_srv, c);
	fz_srv.resolver = resolver_new(c);
	fz_srv.watches = watch_hub_new(fz_srv.loop, &err);
	free(err);
	imapd_session_init(&fz_srv);
}

/* fz_setup: once per process: files, maps, the server and its loop. */
static void fz_setup(void)
{
	char *cram, *entry, *err = NULL;
	cfg *c;

	if (fz_top != NULL)
		return;
	/* {CRAM-MD5}: the cheapest scheme to verify */
	cram = passdb_cram_make("pw", &err);
	if (cram == NULL)
		abort();
	entry = xasprintf("user@example.org {CRAM-MD5}%s\n", cram);
	fz_top = fuzz_session_init("imapd", "FUZZ_IMAPD_TRACE", entry);
	free(entry);
	free(cram);
	snprintf(fz_maildir, sizeof(fz_maildir), "%s/example.org/user", fz_top);
	c = fuzz_session_config(fz_top, "imapd");
	fz_server(c);
	cfg_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_setup();
	fz_restore();
	fuzz_session_run(fz_srv.sessions, fz_srv.loop, fz_login, "\r\nL OK ", data, size);
	return 0;
}
