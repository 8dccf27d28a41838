/* smtpd.c: the SMTP server's main(): reads its main.cf keys once into the
 * server struct, opens the maps (resolver) and the mynetworks list, and
 * hands the accept and stop callbacks to the daemon skeleton (lib/svc).
 * Sessions are in session.c, the commands in commands.c; see smtpd.h for
 * the map of the program. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "dkimsign.h"
#include "smtpd.h"

static char *domain_name(cfg *c, const char *hostname)
{
	const char *d = cfg_get(c, "mydomain");
	const char *dot = strchr(hostname, '.');

	if (*d != '\0')
		return xstrdup(d);
	return xstrdup(dot != NULL && dot[1] != '\0' ? dot + 1 : hostname);
}

static void read_limits(struct smtpd_server *srv, cfg *c)
{
	srv->size_limit = cfg_get_int(c, "message_size_limit");
	srv->header_limit = cfg_get_int(c, "header_size_limit");
	srv->hop_limit = (int)cfg_get_int(c, "hopcount_limit");
	srv->rcpt_limit = (int)cfg_get_int(c, "smtpd_recipient_limit");
	srv->soft_error_limit = (int)cfg_get_int(c, "smtpd_soft_error_limit");
	srv->hard_error_limit = (int)cfg_get_int(c, "smtpd_hard_error_limit");
	srv->error_sleep_ms = (uint64_t)cfg_get_int(c, "smtpd_error_sleep_time") * 1000;
	srv->timeout_ms = (uint64_t)cfg_get_int(c, "smtpd_timeout") * 1000;
	srv->record_deadline_ms = cfg_get_bool(c, "smtpd_per_record_deadline") ? srv->timeout_ms : 0;
	srv->rcpt_overshoot_limit = (int)cfg_get_int(c, "smtpd_recipient_overshoot_limit");
	srv->line_limit = (size_t)cfg_get_int(c, "smtpd_command_line_limit");
	srv->session_limit = (int)cfg_get_int(c, "smtpd_process_session_limit");
	srv->queue_minfree = cfg_queue_minfree(c);
}

static void read_names(struct smtpd_server *srv, cfg *c)
{
	srv->myhostname = cfg_myhostname(c);
	srv->mydomain = domain_name(c, srv->myhostname);
	srv->myorigin = xstrdup(*cfg_get(c, "myorigin") ? cfg_get(c, "myorigin") : srv->myhostname);
	srv->banner = xstrdup(cfg_get(c, "smtpd_banner"));
	srv->mail_name = xstrdup(cfg_get(c, "mail_name"));
	srv->queue_dir = xstrdup(cfg_get(c, "queue_directory"));
}

static void smtpd_init(svc *service)
{
	struct smtpd_server *srv = svc_ctx(service);
	cfg *c = svc_cfg(service);
	const char *role = cfg_get(c, "smtpd_service");
	char *err = NULL;

	srv->service = service;
	srv->config = c;
	srv->loop = svc_loop(service);
	ev_set_busy_poll(srv->loop, (unsigned)cfg_get_int(c, "smtpd_busy_poll"));
	read_names(srv, c);
	read_limits(srv, c);
	if (strcmp(role, "smtp") != 0 && strcmp(role, "submission") != 0 &&
	    strcmp(role, "smtps") != 0 && strcmp(role, "local") != 0)
		log_fatal("smtpd_service: unknown role \"%s\" (smtp, submission, smtps or local)",
			  role);
	srv->local_service = strcmp(role, "local") == 0;
	srv->implicit_tls = strcmp(role, "smtps") == 0;
	smtpd_tls_init(srv, c);
	smtpd_auth_init(srv, c);
	smtpd_policy_init(srv, c);
	smtpd_sign_init(c);
	srv->mynetworks = netmatch_new(cfg_get(c, "mynetworks"), &err);
	if (srv->mynetworks == NULL)
		log_fatal("mynetworks: %s", err);
	srv->resolver = resolver_new(c);
	smtpd_peername_init(srv, c);
	smtpd_authres_init(srv, c);
	smtpd_arc_init(srv, c);
	smtpd_dmarc_init(srv, c);
	smtpd_queue_init(srv);
	smtpd_session_init(srv);
	log_debug("smtpd %s ready (role %s)", svc_name(service), role);
}

static void smtpd_accept(svc *service, int fd)
{
	struct smtpd_server *srv = svc_ctx(service);

	sess_accept(srv->sessions, fd);
}

static void smtpd_stop(svc *service)
{
	struct smtpd_server *srv = svc_ctx(service);

	sess_server_stop(srv->sessions);
}

static void smtpd_reload(svc *service)
{
	smtpd_tls_reload(svc_ctx(service), svc_cfg(service));
	smtpd_dmarc_reload(svc_ctx(service));
}

int main(int argc, char **argv)
{
	static const struct svc_ops ops = {
		.init = smtpd_init,
		.accept = smtpd_accept,
		.stop = smtpd_stop,
		.reload = smtpd_reload,
	};
	static struct smtpd_server server = { .trigger_fd = -1 };

	svc_main(argc, argv, "smtpd", &ops, &server);
}
