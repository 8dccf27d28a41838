/* imapd.c: the IMAP server's main(): reads its main.cf keys once into the
 * server struct, opens the password database and the mailbox maps, loads
 * the TLS setup, sets the command reader's limits (APPENDLIMIT =
 * message_size_limit, LITERAL+ or LITERAL-) and hands accept/stop/reload to the daemon skeleton
 * (lib/svc). See imapd.h for the map of the program. */
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "imapd.h"
#include "log.h"
#include "mem.h"

static void limits_init(struct imapd_server *srv, cfg *c)
{
	struct imapcmd_limits *l = &srv->limits;

	imapcmd_limits_default(l);
	l->max_line = (size_t)cfg_get_int(c, "imapd_max_line_length");
	l->max_literal = (size_t)cfg_get_int(c, "message_size_limit");
	l->max_command = l->max_literal + l->max_line;
	l->nonsync = cfg_get_bool(c, "imapd_literal_plus") ? IMAPCMD_NONSYNC_PLUS
							   : IMAPCMD_NONSYNC_MINUS;
	srv->prelogin_limits = *l;
	srv->prelogin_limits.max_literal = IMAPD_PRELOGIN_LITERAL_MAX;
	srv->prelogin_limits.max_command = IMAPD_PRELOGIN_LITERAL_MAX + l->max_line;
	/* RFC 7888: LITERAL+ promises {n+} of any size; before login no
	 * literal over 8 KiB is taken, so LITERAL- (4096) is what holds there */
	srv->prelogin_limits.nonsync = IMAPCMD_NONSYNC_MINUS;
}

/* watches_init: one inotify hub for the IDLE sessions of the process. */
static void watches_init(struct imapd_server *srv)
{
	char *err = NULL;

	srv->watches = watch_hub_new(srv->loop, &err);
	if (srv->watches == NULL) {
		log_warn("IDLE sessions will not be woken by changes: %s", err);
		free(err);
	}
}

/* fit_open_limit: a session holds its socket and, with a folder selected,
 * about two more files (the folders' directories and caches are shared by
 * the process's sessions); a soft RLIMIT_NOFILE of 1024 would refuse the
 * 400th session with EMFILE, so it is raised towards what
 * imapd_process_session_limit needs (logged when the hard limit is lower). */
static void fit_open_limit(struct imapd_server *srv)
{
	long want = (long)srv->session_limit * IMAPD_FILES_PER_SESSION + IMAPD_SPARE_FILES;
	long have = fs_raise_open_limit(want);

	if (have < want)
		log_warn("imapd_process_session_limit %d needs about %ld open files, but the limit "
			 "is %ld: about %ld sessions fit", srv->session_limit, want, have,
			 (have - IMAPD_SPARE_FILES) / IMAPD_FILES_PER_SESSION);
}

static void imapd_init(svc *service)
{
	struct imapd_server *srv = svc_ctx(service);
	cfg *c = svc_cfg(service);
	const char *role = cfg_get(c, "imapd_service");

	srv->service = service;
	srv->loop = svc_loop(service);
	if (strcmp(role, "imap") != 0 && strcmp(role, "imaps") != 0)
		log_fatal("imapd_service: unknown role \"%s\" (imap or imaps)", role);
	srv->implicit_tls = strcmp(role, "imaps") == 0;
	srv->myhostname = cfg_myhostname(c);
	srv->timeout_ms = (uint64_t)cfg_get_int(c, "imapd_timeout") * 1000;
	srv->login_timeout_ms = (uint64_t)cfg_get_int(c, "imapd_login_timeout") * 1000;
	srv->error_limit = (int)cfg_get_int(c, "imapd_error_limit");
	srv->error_sleep_ms = IMAPD_ERROR_SLEEP_MS;
	srv->session_limit = (int)cfg_get_int(c, "imapd_process_session_limit");
	fit_open_limit(srv);
	ev_set_busy_poll(srv->loop, (unsigned)cfg_get_int(c, "imapd_busy_poll"));
	limits_init(srv, c);
	imapd_tls_init(srv, c);
	imapd_login_init(srv, c);
	srv->resolver = resolver_new(c);
	watches_init(srv);
	imapd_session_init(srv);
	log_debug("imapd %s ready (role %s)", svc_name(service), role);
}

static void imapd_accept(svc *service, int fd)
{
	struct imapd_server *srv = svc_ctx(service);

	sess_accept(srv->sessions, fd);
}

static void imapd_stop(svc *service)
{
	struct imapd_server *srv = svc_ctx(service);

	sess_server_stop(srv->sessions);
}

static void imapd_reload(svc *service)
{
	imapd_tls_reload(svc_ctx(service), svc_cfg(service));
}

int main(int argc, char **argv)
{
	static const struct svc_ops ops = {
		.init = imapd_init,
		.accept = imapd_accept,
		.stop = imapd_stop,
		.reload = imapd_reload,
	};
	static struct imapd_server server;

	svc_main(argc, argv, "imapd", &ops, &server);
}
