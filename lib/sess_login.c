/* sess_login.c: the login steps pop3d and imapd share (see sess_login.h):
 * setup from main.cf, the login name, the Maildir found and made at the
 * login, and the recheck of a logged-in user after the maps changed.
 * The SASL exchange and failed-login table themselves are sess_auth.c's;
 * what the client hears is the protocol's. */
#include "sess_login.h"

#include <ctype.h>
#include <stdlib.h>

#include "log.h"
#include "md.h"
#include "mem.h"
#include "sasl_passdb.h"

passdb *sess_login_init(struct sess_auth *auth, struct sasl_backend *backend, cfg *c,
			const char *prefix, svc *service)
{
	char *key = xasprintf("%s_auth_cram_md5", prefix);
	passdb *db = passdb_new(c);

	sasl_passdb_backend(backend, cfg_get_bool(c, key));
	free(key);
	auth->backend = backend;
	auth->backend_ctx = db;
	auth->fails = authfail_from_cfg(c, prefix, service != NULL ? svc_name(service) : prefix);
	auth->mech_prefix = "";
	auth->user_key = "user";
	auth->command = "login";
	auth->failures = "failed logins";
	auth->continuation = "+ ";
	return db;
}

void sess_login_tls(cfg *c, const char *prefix, bool implicit_tls, tls_server **tls_r,
		    uint64_t *handshake_ms_r)
{
	char *key = xasprintf("%s_tls_handshake_timeout", prefix), *err = NULL;

	*handshake_ms_r = (uint64_t)cfg_get_int(c, key) * 1000;
	free(key);
	if (tls_server_from_cfg(c, prefix, false, tls_r, &err) < 0)
		log_fatal("%s", err);
	if (*tls_r == NULL && implicit_tls) {
		key = xasprintf("%s_service", prefix);
		log_fatal("%s_tls_cert_file: not set, but %s=%s needs TLS", prefix, key,
			  cfg_get(c, key));
	}
}

char *sess_login_name(const char *user)
{
	char *name = xstrdup(user);

	for (char *p = name; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return name;
}

enum resolve_result sess_login_maildir(resolver *res, const char *client, const char *login,
				       char **maildir_r)
{
	char *why = NULL;
	enum resolve_result r = resolver_mailbox(res, login, maildir_r, &why);

	if (r == RESOLVE_OK && md_create(*maildir_r, false, &why) == 0)
		return RESOLVE_OK;
	log_warn("%s: user=%s: no usable mailbox: %s", client, login, why);
	free(why);
	free(*maildir_r);
	*maildir_r = NULL;
	return r == RESOLVE_NOTFOUND ? RESOLVE_NOTFOUND : RESOLVE_TEMP;
}

/* mailbox_lookup: whether the login still has a mailbox. */
static enum resolve_result mailbox_lookup(resolver *res, const char *client, const char *user)
{
	char *maildir = NULL, *why = NULL;
	enum resolve_result r = resolver_mailbox(res, user, &maildir, &why);

	if (r == RESOLVE_TEMP)
		log_warn("%s: user=%s: cannot check the login: %s", client, user, why);
	free(maildir);
	free(why);
	return r;
}

enum resolve_result sess_login_recheck(passdb *db, resolver *res, const char *client,
				       const char *user, uint64_t *gen_r)
{
	uint64_t seen = *gen_r;
	enum resolve_result r;

	switch (sess_auth_recheck(db, user, gen_r)) {
	case PASSDB_OK: /* the maps changed: the mailbox must still be there */
		r = user != NULL && *gen_r != seen ? mailbox_lookup(res, client, user) : RESOLVE_OK;
		break;
	case PASSDB_NOTFOUND: r = RESOLVE_NOTFOUND; break;
	default: r = RESOLVE_TEMP; break;
	}
	if (r == RESOLVE_OK)
		return r;
	*gen_r = seen; /* look again at the next command */
	if (r == RESOLVE_NOTFOUND)
		log_info("%s: user=%s: the user was deleted: session ended", client, user);
	return r;
}
