/* sess_login.h: the login steps the mail readers (pop3d, imapd) share on
 * top of lib/sess: the password side built from main.cf (password
 * database, SASL backend, failed-login table, log wording), the TLS setup,
 * the login name, the user's Maildir, and the check before each command
 * that a logged-in user still exists. Log lines are written here; every
 * reply is the protocol's, chosen from what these functions return. */
#ifndef POSTERN_SESS_LOGIN_H
#define POSTERN_SESS_LOGIN_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "passdb.h"
#include "resolve.h"
#include "sasl.h"
#include "sess.h"
#include "svc.h"
#include "tls.h"

/* sess_login_init: from the <prefix>_auth_cram_md5 and
 * <prefix>_auth_failure_* keys: opens the password database (returned;
 * it lives as long as the process), fills *backend (CRAM-MD5 only when
 * enabled) and sets auth's backend, backend_ctx, fails and log wording
 * ("<client>: PLAIN authentication failed: <why>, user=<login>", "login
 * refused: too many failed logins") and challenges ("+ " and the base64,
 * RFC 5034 and RFC 3501 alike). The failed-login table is the one of
 * service (NULL, in tests: named prefix). auth's success and reply
 * callbacks are the caller's and stay as they are. */
passdb *sess_login_init(struct sess_auth *auth, struct sasl_backend *backend, cfg *c,
			const char *prefix, svc *service);

/* sess_login_tls: the TLS setup from the <prefix>_tls_* keys (NULL in
 * *tls_r: none configured) and the handshake deadline from
 * <prefix>_tls_handshake_timeout. Bad TLS settings, or no certificate
 * while implicit_tls (<prefix>_service is the TLS role), stop the program. */
void sess_login_tls(cfg *c, const char *prefix, bool implicit_tls, tls_server **tls_r,
		    uint64_t *handshake_ms_r);

/* sess_login_name: the login name of user: a heap copy in lower case. */
char *sess_login_name(const char *user);

/* sess_login_maildir: the Maildir of login (heap, *maildir_r), made when
 * it does not exist yet (a user who never got mail has none). Else logs
 * why and returns RESOLVE_NOTFOUND (no mailbox for this login) or
 * RESOLVE_TEMP (a map or the disk failed); *maildir_r is then NULL. */
enum resolve_result sess_login_maildir(resolver *res, const char *client, const char *login,
				       char **maildir_r);

/* sess_login_recheck: before a command: whether user (NULL: nobody logged
 * in yet) still has a password entry and, once the maps changed since
 * *gen_r, a mailbox (see sess_auth_recheck). RESOLVE_OK; RESOLVE_NOTFOUND
 * after the log line "user=<user>: the user was deleted: session ended";
 * RESOLVE_TEMP when a map could not answer. *gen_r moves only on OK, so
 * the next command asks again. */
enum resolve_result sess_login_recheck(passdb *db, resolver *res, const char *client,
				       const char *user, uint64_t *gen_r);

#endif
