/* fuzz_imapd_session.c: fuzz target for whole imapd sessions (the files of
 * imapd/ but imapd.c's main). Every input runs after a LOGIN the target
 * sends first: it is what a logged-in client sends, written into a
 * socketpair whose other end is a real session on the event loop; replies
 * are read and dropped, then the client half-closes and the loop runs until
 * the session is gone (a session that never ends aborts). One user,
 * "user@example.org" with password "pw" (texthash maps), and a scratch
 * Maildir made anew before every run: an INBOX of four messages (flags,
 * keywords, a multipart with a message/rfc822 part), a folder "Work", a
 * dovecot-keywords and a subscriptions file. No TLS; the svc skeleton is
 * replaced by stubs. FUZZ_IMAPD_TRACE=1 copies the replies to stderr. */
#include "fuzz_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "buf.h"
#include "imapd.h"
#include "log.h"
#include "mem.h"

/* The svc functions the session code calls (the daemon skeleton itself is
 * not linked: it has the process's main loop). */
void svc_conn_done(svc *s)
{
	(void)s;
}

void svc_refuse(svc *s, int fd, const char *reply, int sessions)
{
	(void)s;
	(void)reply;
	(void)sessions;
	close(fd);
}

const char *svc_name(svc *s)
{
	(void)s;
	return "fuzz";
}

static struct imapd_server fz_srv;
static bool fz_trace;
static char fz_top[64], fz_maildir[128];

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

static void fz_write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
}

static void fz_put(const char *rel, const char *data)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", fz_maildir, rel);
	fz_write_file(path, data, strlen(data));
}

static void fz_mkdir(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s%s%s", fz_maildir, rel[0] != '\0' ? "/" : "", rel);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		abort();
}

static int fz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void fz_rm_tree(const char *path)
{
	nftw(path, fz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* fz_restore: the Maildir as at the start of every run. */
static void fz_restore(void)
{
	static const char *const dirs[] = { "", "new", "cur", "tmp", ".Work", ".Work/new",
					    ".Work/cur", ".Work/tmp" };

	fz_rm_tree(fz_maildir);
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

static void fz_remove_all(void)
{
	fz_rm_tree(fz_top);
}

static cfg *fz_config(void)
{
	cfg *c = cfg_new(fz_top);
	char *v;

	cfg_set(c, "myhostname", "fuzz.example.org");
	cfg_set(c, "mydomain", "example.org");
	cfg_set(c, "imapd_tls_auth_only", "no");
	cfg_set(c, "imapd_auth_failure_delay", "0s");
	cfg_set(c, "imapd_auth_failure_limit", "100000");
	cfg_set(c, "imapd_auth_failure_window", "1s");
	cfg_set(c, "virtual_mailbox_domains", "example.org");
	cfg_set(c, "virtual_mailbox_base", fz_top);
	cfg_set(c, "virtual_alias_maps", "");
	v = xasprintf("texthash:%s/passwd", fz_top);
	cfg_set(c, "virtual_passwd_maps", v);
	free(v);
	v = xasprintf("texthash:%s/mailboxes", fz_top);
	cfg_set(c, "virtual_mailbox_maps", v);
	free(v);
	return c;
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
	imapd_login_init(&fz_srv, c);
	fz_srv.resolver = resolver_new(c);
	fz_srv.watches = watch_hub_new(fz_srv.loop, &err);
	free(err);
	imapd_session_init(&fz_srv);
}

/* fz_setup: once per process: files, maps, the server and its loop. */
static void fz_setup(void)
{
	static const char mailboxes[] = "user@example.org example.org/user/\n";
	char path[256], *cram, *entry, *err = NULL;
	struct stat st;
	cfg *c;

	if (fz_top[0] != '\0')
		return;
	signal(SIGPIPE, SIG_IGN);
	fz_trace = getenv("FUZZ_IMAPD_TRACE") != NULL;
	log_set_level(fz_trace ? LOG_LVL_DEBUG : LOG_LVL_FATAL);
	snprintf(fz_top, sizeof(fz_top), "%s/postern-fuzz-imapd.XXXXXX",
		 stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(fz_top) == NULL)
		abort();
	snprintf(fz_maildir, sizeof(fz_maildir), "%s/example.org/user", fz_top);
	snprintf(path, sizeof(path), "%s/example.org", fz_top);
	if (mkdir(path, 0700) < 0)
		abort();
	atexit(fz_remove_all);
	/* {CRAM-MD5}: the cheapest scheme to verify */
	cram = passdb_cram_make("pw", &err);
	if (cram == NULL)
		abort();
	entry = xasprintf("user@example.org {CRAM-MD5}%s\n", cram);
	snprintf(path, sizeof(path), "%s/passwd", fz_top);
	fz_write_file(path, entry, strlen(entry));
	free(entry);
	free(cram);
	snprintf(path, sizeof(path), "%s/mailboxes", fz_top);
	fz_write_file(path, mailboxes, sizeof(mailboxes) - 1);
	c = fz_config();
	fz_server(c);
	cfg_free(&c);
}

/* fz_read: reads what is there; true when it got something. */
static bool fz_read(int fd)
{
	char sink[65536];
	bool got = false;
	ssize_t n;

	while ((n = read(fd, sink, sizeof(sink))) > 0) {
		got = true;
		if (fz_trace)
			fwrite(sink, 1, (size_t)n, stderr);
	}
	return got;
}

/* fz_send: writes what the socket takes of data[*sent..size). */
static bool fz_send(int fd, const uint8_t *data, size_t size, size_t *sent)
{
	ssize_t n = write(fd, data + *sent, size - *sent);

	if (n > 0)
		*sent += (size_t)n;
	else if (n < 0 && errno != EAGAIN)
		*sent = size; /* the server closed: stop sending */
	return n > 0;
}

/* fz_talk: sends the login and the input, half-closes, reads everything
 * until the session has ended. */
static void fz_talk(int fd, const uint8_t *data, size_t size)
{
	size_t login_sent = 0, sent = 0;
	bool shut = false;
	int quiet = 0;
	char c;

	while (sess_server_count(fz_srv.sessions) > 0) {
		bool moved = false;

		if (login_sent < sizeof(fz_login) - 1)
			moved = fz_send(fd, (const uint8_t *)fz_login, sizeof(fz_login) - 1,
					&login_sent);
		else if (sent < size)
			moved = fz_send(fd, data, size, &sent);
		else if (!shut) {
			shutdown(fd, SHUT_WR);
			shut = moved = true;
		}
		if (fz_read(fd))
			moved = true;
		ev_run_once(fz_srv.loop, moved ? 0 : 10);
		quiet = moved ? 0 : quiet + 1;
		if (quiet > 500) /* 5 s without progress after the input: stuck */
			abort();
	}
	(void)fz_read(fd);
	if (read(fd, &c, 1) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];

	fz_setup();
	fz_restore();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	sess_accept(fz_srv.sessions, sv[0]);
	fz_talk(sv[1], data, size);
	close(sv[1]);
	if (sess_server_count(fz_srv.sessions) != 0)
		abort();
	return 0;
}
