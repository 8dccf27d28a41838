/* fuzz_pop3_session.c: fuzz target for whole pop3d sessions (the files of pop3d/
 * but pop3d.c's main). The input is what a client sends, written into a
 * socketpair whose other end is a real session on the event loop; the
 * replies are read and dropped, then the client half-closes and the loop
 * runs until the session is gone (a session that never ends aborts).
 * One user, "user@example.org" (also "user") with password "pw", made
 * once per process with a texthash passwd map ({CRAM-MD5} with a cheap
 * SCRAM secret, so PLAIN, LOGIN, CRAM-MD5 and SCRAM all work fast) and a
 * Maildir of three messages that is restored before every run (DELE and
 * QUIT really delete). No TLS. The svc skeleton is replaced by a stub.
 * FUZZ_POP3_TRACE=1 in the environment copies the replies to stderr. */
#include "fuzz_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "buf.h"
#include "log.h"
#include "mem.h"
#include "pop3d.h"

/* The svc functions the session code calls (the daemon skeleton itself
 * is not linked: it has the process's main loop). */
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

static struct pop3d_server fz_srv;
static bool fz_trace;
static char fz_top[64], fz_maildir[128];
static buf *fz_big;      /* a larger message, for sending in many chunks */
static const char *const fz_subdirs[] = { "new", "cur", "tmp" };

static void fz_write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
}

static void fz_put(const char *rel, const char *data, size_t len)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", fz_maildir, rel);
	fz_write_file(path, data, len);
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

static void fz_remove_all(void)
{
	char path[256];

	fz_empty_dir(fz_maildir);
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", fz_maildir, fz_subdirs[i]);
		fz_empty_dir(path);
		rmdir(path);
	}
	rmdir(fz_maildir);
	snprintf(path, sizeof(path), "%s/example.org", fz_top);
	rmdir(path);
	fz_empty_dir(fz_top);
	rmdir(fz_top);
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
	cfg *c = cfg_new(fz_top);
	char *v;

	cfg_set(c, "myhostname", "fuzz.example.org");
	cfg_set(c, "mydomain", "example.org");
	cfg_set(c, "pop3d_tls_auth_only", "no");
	cfg_set(c, "pop3d_auth_cram_md5", "yes");
	cfg_set(c, "pop3d_auth_failure_delay", "0s");
	cfg_set(c, "pop3d_auth_failure_limit", "100000");
	cfg_set(c, "pop3d_auth_failure_window", "1s");
	cfg_set(c, "pop3d_error_limit", "10");
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

/* fz_setup: once per process: files, maps, the server and its loop. */
static void fz_setup(void)
{
	static const char mailboxes[] = "user@example.org example.org/user/\n";
	char path[256];
	struct stat st;
	char *entry;
	cfg *c;

	if (fz_top[0] != '\0')
		return;
	signal(SIGPIPE, SIG_IGN);
	fz_trace = getenv("FUZZ_POP3_TRACE") != NULL;
	log_set_level(fz_trace ? LOG_LVL_DEBUG : LOG_LVL_FATAL);
	snprintf(fz_top, sizeof(fz_top), "%s/postern-fuzz-pop3.XXXXXX",
		 stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(fz_top) == NULL)
		abort();
	snprintf(fz_maildir, sizeof(fz_maildir), "%s/example.org/user", fz_top);
	snprintf(path, sizeof(path), "%s/example.org", fz_top);
	if (mkdir(path, 0700) < 0 || mkdir(fz_maildir, 0700) < 0)
		abort();
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", fz_maildir, fz_subdirs[i]);
		if (mkdir(path, 0700) < 0)
			abort();
	}
	atexit(fz_remove_all);
	entry = fz_passwd_entry();
	snprintf(path, sizeof(path), "%s/passwd", fz_top);
	fz_write_file(path, entry, strlen(entry));
	free(entry);
	snprintf(path, sizeof(path), "%s/mailboxes", fz_top);
	fz_write_file(path, mailboxes, sizeof(mailboxes) - 1);
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

/* fz_drain: the rest of the replies after the session ended: all of them
 * are in the socket, which must then be at its end. */
static void fz_drain(int fd)
{
	char c;

	(void)fz_read(fd);
	if (read(fd, &c, 1) != 0)
		abort();
}

/* fz_talk: sends the input, half-closes, reads everything until the
 * session has ended. */
static void fz_talk(int fd, const uint8_t *data, size_t size)
{
	size_t sent = 0;
	bool shut = false;
	int quiet = 0;

	while (sess_server_count(fz_srv.sessions) > 0) {
		bool moved = false;
		ssize_t n;

		if (sent < size) {
			n = write(fd, data + sent, size - sent);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				sent = size; /* the server closed: stop sending */
			moved = n > 0;
		} else if (!shut) {
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
	fz_drain(fd);
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
