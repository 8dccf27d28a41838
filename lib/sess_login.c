/* sess_login.c: the login steps pop3d and imapd share (see sess_login.h):
 * setup from main.cf, the login name, the Maildir found and made at the
 * login, and the recheck of a logged-in user after the maps changed.
 * The SASL exchange and failed-login table themselves are sess_auth.c's;
 * what the client hears is the protocol's. */
#include "sess_login.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "md.h"
#include "mem.h"
#include "sasl_passdb.h"

/* The longest key name built here ("<prefix>_tls_handshake_timeout"). */
#define KEY_MAX 64

/* key_name: "<prefix>_<name>" in key (KEY_MAX bytes), without the heap:
 * log_fatal may follow, and exit leaves nothing allocated behind. */
static const char *key_name(char *key, const char *prefix, const char *name)
{
	snprintf(key, KEY_MAX, "%s_%s", prefix, name);
	return key;
}

passdb *sess_login_init(struct sess_auth *auth, struct sasl_backend *backend, cfg *c,
			const char *prefix, svc *service)
{
	char key[KEY_MAX];
	passdb *db = passdb_new(c);

	sasl_passdb_backend(backend, cfg_get_bool(c, key_name(key, prefix, "auth_cram_md5")));
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
	char key[KEY_MAX], *err = NULL;

	*handshake_ms_r =
		(uint64_t)cfg_get_int(c, key_name(key, prefix, "tls_handshake_timeout")) * 1000;
	if (tls_server_from_cfg(c, prefix, false, tls_r, &err) < 0)
		log_fatal("%s", err);
	if (*tls_r == NULL && implicit_tls) {
		const char *role = cfg_get(c, key_name(key, prefix, "service"));

		log_fatal("%s_tls_cert_file: not set, but %s=%s needs TLS", prefix, key, role);
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
