/* pop3d.c: the POP3 server's main(): reads its main.cf keys once into the
 * server struct, opens the password database and the mailbox maps, loads
 * the TLS setup, and hands accept/stop/reload to the daemon skeleton
 * (lib/svc). See pop3d.h for the map of the program. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "pop3d.h"

static void pop3d_init(svc *service)
{
	struct pop3d_server *srv = svc_ctx(service);
	cfg *c = svc_cfg(service);
	const char *role = cfg_get(c, "pop3d_service");

	srv->service = service;
	srv->loop = svc_loop(service);
	if (strcmp(role, "pop3") != 0 && strcmp(role, "pop3s") != 0)
		log_fatal("pop3d_service: unknown role \"%s\" (pop3 or pop3s)", role);
	srv->implicit_tls = strcmp(role, "pop3s") == 0;
	srv->myhostname = cfg_myhostname(c);
	srv->timeout_ms = (uint64_t)cfg_get_int(c, "pop3d_timeout") * 1000;
	srv->record_deadline_ms = cfg_get_bool(c, "pop3d_per_record_deadline") ? srv->timeout_ms : 0;
	srv->error_limit = (int)cfg_get_int(c, "pop3d_error_limit");
	srv->session_limit = (int)cfg_get_int(c, "pop3d_process_session_limit");
	ev_set_busy_poll(srv->loop, (unsigned)cfg_get_int(c, "pop3d_busy_poll"));
	srv->send_scratch = buf_new(256 * 1024);
	pop3d_tls_init(srv, c);
	pop3d_login_init(srv, c);
	srv->resolver = resolver_new(c);
	pop3d_session_init(srv);
	log_debug("pop3d %s ready (role %s)", svc_name(service), role);
}

static void pop3d_accept(svc *service, int fd)
{
	struct pop3d_server *srv = svc_ctx(service);

	sess_accept(srv->sessions, fd);
}

static void pop3d_stop(svc *service)
{
	struct pop3d_server *srv = svc_ctx(service);

	sess_server_stop(srv->sessions);
}

static void pop3d_reload(svc *service)
{
	pop3d_tls_reload(svc_ctx(service), svc_cfg(service));
}

int main(int argc, char **argv)
{
	static const struct svc_ops ops = {
		.init = pop3d_init,
		.accept = pop3d_accept,
		.stop = pop3d_stop,
		.reload = pop3d_reload,
	};
	static struct pop3d_server server;

	svc_main(argc, argv, "pop3d", &ops, &server);
}
