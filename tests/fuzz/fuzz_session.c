/* fuzz_session.c: the harness the whole-session fuzz targets share (see
 * fuzz_session.h): the svc stubs (the daemon skeleton itself is not linked:
 * it has the process's main loop), the scratch directory and the loop that
 * feeds one input to a session and waits for its end. */
#include "fuzz_session.h"
#include "fuzz_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "log.h"
#include "mem.h"
#include "svc.h"

static char fs_top[64];
static bool fs_trace;
static char fs_head[FUZZ_SESSION_HEAD + 1]; /* the first replies of a run */
static size_t fs_head_len;

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

void fuzz_session_write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		abort();
	close(fd);
}

static int fs_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void fuzz_session_rm_tree(const char *path)
{
	nftw(path, fs_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fs_remove_all(void)
{
	fuzz_session_rm_tree(fs_top);
}

static void fs_put(const char *name, const char *text)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", fs_top, name);
	fuzz_session_write_file(path, text, strlen(text));
}

const char *fuzz_session_init(const char *name, const char *trace_env, const char *passwd_line)
{
	char path[256];
	struct stat st;

	signal(SIGPIPE, SIG_IGN);
	fs_trace = getenv(trace_env) != NULL;
	log_set_level(fs_trace ? LOG_LVL_DEBUG : LOG_LVL_FATAL);
	snprintf(fs_top, sizeof(fs_top), "%s/postern-fuzz-%s.XXXXXX",
		 stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
		 name);
	if (mkdtemp(fs_top) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/example.org", fs_top);
	if (mkdir(path, 0700) < 0)
		abort();
	atexit(fs_remove_all);
	fs_put("passwd", passwd_line);
	fs_put("mailboxes", "user@example.org example.org/user/\n");
	return fs_top;
}

static void fs_set(cfg *c, const char *prefix, const char *key, const char *value)
{
	char *name = xasprintf("%s_%s", prefix, key);

	cfg_set(c, name, value);
	free(name);
}

cfg *fuzz_session_config(const char *top, const char *prefix)
{
	cfg *c = cfg_new(top);
	char *v;

	cfg_set(c, "myhostname", "fuzz.example.org");
	cfg_set(c, "mydomain", "example.org");
	fs_set(c, prefix, "tls_auth_only", "no");
	fs_set(c, prefix, "auth_failure_delay", "0s");
	fs_set(c, prefix, "auth_failure_limit", "100000");
	fs_set(c, prefix, "auth_failure_window", "1s");
	cfg_set(c, "virtual_mailbox_domains", "example.org");
	cfg_set(c, "virtual_mailbox_base", top);
	cfg_set(c, "virtual_alias_maps", "");
	v = xasprintf("texthash:%s/passwd", top);
	cfg_set(c, "virtual_passwd_maps", v);
	free(v);
	v = xasprintf("texthash:%s/mailboxes", top);
	cfg_set(c, "virtual_mailbox_maps", v);
	free(v);
	return c;
}

/* fs_read: reads what is there; true when it got something. */
static bool fs_read(int fd)
{
	char sink[65536];
	bool got = false;
	ssize_t n;

	while ((n = read(fd, sink, sizeof(sink))) > 0) {
		size_t keep = FUZZ_SESSION_HEAD - fs_head_len;

		keep = (size_t)n < keep ? (size_t)n : keep;
		memcpy(fs_head + fs_head_len, sink, keep);
		fs_head_len += keep;
		got = true;
		if (fs_trace)
			fwrite(sink, 1, (size_t)n, stderr);
	}
	return got;
}

/* fs_send: writes what the socket takes of data[*sent..size). */
static bool fs_send(int fd, const uint8_t *data, size_t size, size_t *sent)
{
	ssize_t n = write(fd, data + *sent, size - *sent);

	if (n > 0)
		*sent += (size_t)n;
	else if (n < 0 && errno != EAGAIN)
		*sent = size; /* the server closed: stop sending */
	return n > 0;
}

/* fs_talk: sends the preamble and the input, half-closes, reads everything
 * until the session has ended; all replies are then in the socket, which
 * must be at its end. */
static void fs_talk(sess_server *sessions, ev_loop *loop, int fd, const char *preamble,
		    const uint8_t *data, size_t size)
{
	size_t pre_len = preamble != NULL ? strlen(preamble) : 0, pre_sent = 0, sent = 0;
	bool shut = false;
	int quiet = 0;
	char c;

	while (sess_server_count(sessions) > 0) {
		bool moved = false;

		if (pre_sent < pre_len)
			moved = fs_send(fd, (const uint8_t *)preamble, pre_len, &pre_sent);
		else if (sent < size)
			moved = fs_send(fd, data, size, &sent);
		else if (!shut) {
			shutdown(fd, SHUT_WR);
			shut = moved = true;
		}
		if (fs_read(fd))
			moved = true;
		ev_run_once(loop, moved ? 0 : 10);
		quiet = moved ? 0 : quiet + 1;
		if (quiet > 500) /* 5 s without progress after the input: stuck */
			abort();
	}
	(void)fs_read(fd);
	if (read(fd, &c, 1) != 0)
		abort();
}

void fuzz_session_run(sess_server *sessions, ev_loop *loop, const char *preamble,
		      const char *expect, const uint8_t *data, size_t size)
{
	int sv[2];

	fs_head_len = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	sess_accept(sessions, sv[0]);
	fs_talk(sessions, loop, sv[1], preamble, data, size);
	close(sv[1]);
	if (sess_server_count(sessions) != 0)
		abort();
	fs_head[fs_head_len] = '\0';
	if (expect != NULL && strstr(fs_head, expect) == NULL)
		abort();
}
