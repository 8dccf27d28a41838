/* login.c: the AUTHORIZATION state: USER/PASS (RFC 1939), AUTH (RFC 5034,
 * over lib/sasl with the password database's backend), APOP (refused: it
 * needs clear-text stored passwords), and the step into TRANSACTION:
 * finding the user's Maildir, locking it against a second POP3 session
 * ([IN-USE], RFC 2449) and reading its index.
 *
 * Failed logins are logged in one line a log watcher (fail2ban) can match
 * and delay their -ERR per client address (lib/authfail), up to a cut-off
 * that disconnects. The POP3 lock is an flock on a file in the Maildir:
 * the kernel drops it when the process dies, so a crashed session never
 * leaves a mailbox locked; local and imapd never take it.
 *
 * A session outlives no deletion of its user: before each command in
 * TRANSACTION, when the map generation moved since the login was last
 * known good, the user is looked up again (password map and mailbox map);
 * gone means -ERR and the end of the session, without UPDATE. A changed
 * password does not end a session (as in Dovecot). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "mem.h"
#include "pop3d.h"
#include "sess_login.h"

#define POP3_LOCK_FILE "postern-pop3.lock"

static void sasl_success(void *ctx, char *user, const char *mech);
static void sasl_reply(void *ctx, enum sess_auth_event event, const char *reason);

void pop3d_login_init(struct pop3d_server *srv, cfg *c)
{
	srv->tls_auth_only = cfg_get_bool(c, "pop3d_tls_auth_only");
	srv->auth = (struct sess_auth){
		.success = sasl_success,
		.reply = sasl_reply,
	};
	srv->passdb = sess_login_init(&srv->auth, &srv->sasl_backend, c, "pop3d", srv->service);
}

bool pop3d_plaintext_ok(const struct session *s)
{
	return strm_is_tls(s->stream) || !s->srv->tls_auth_only;
}

/* ---- into TRANSACTION ---- */

/* lock_mailbox: the POP3 session lock of maildir; false after -ERR. */
static bool lock_mailbox(struct session *s, const char *maildir)
{
	char *path = fs_join(maildir, POP3_LOCK_FILE);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	free(path);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
		s->lock_fd = fd;
		return true;
	}
	if (fd >= 0 && errno == EWOULDBLOCK) {
		log_info("%s: user=%s: mailbox in use by another POP3 session", s->client,
			 s->login);
		pop3d_err(s, "[IN-USE] Mailbox is locked by another POP3 session.");
	} else {
		log_warn("%s: user=%s: cannot lock %s/%s: %s", s->client, s->login, maildir,
			 POP3_LOCK_FILE, strerror(errno));
		pop3d_err(s, "[SYS/TEMP] Cannot open the mailbox, try again later.");
	}
	if (fd >= 0)
		close(fd);
	return false;
}

/* find_maildir: the login's Maildir (lib/sess_login); NULL after -ERR. */
static char *find_maildir(struct session *s)
{
	char *maildir = NULL;

	switch (sess_login_maildir(s->srv->resolver, s->client, s->login, &maildir)) {
	case RESOLVE_OK: break;
	case RESOLVE_NOTFOUND: pop3d_err(s, "[SYS/PERM] There is no mailbox for this user."); break;
	default: pop3d_err(s, "[SYS/TEMP] Cannot open the mailbox, try again later."); break;
	}
	return maildir;
}

static bool read_mailbox(struct session *s, const char *maildir)
{
	char *err = NULL;

	if (mbx_open(maildir, &s->mb, &err) == 0 && mbx_vsizes(s->mb, &err) == 0)
		return true;
	log_warn("%s: user=%s: cannot read %s: %s", s->client, s->login, maildir, err);
	pop3d_err(s, "[SYS/TEMP] Cannot read the mailbox, try again later.");
	free(err);
	mbx_free(&s->mb);
	return false;
}

static void logged_in(struct session *s, const char *method)
{
	char *maildir = find_maildir(s);

	if (maildir == NULL || !lock_mailbox(s, maildir) || !read_mailbox(s, maildir)) {
		free(maildir);
		pop3d_logout(s);
		return;
	}
	free(maildir);
	s->marks = xcalloc(mbx_count(s->mb) + 1, 1);
	s->state = ST_TRANSACTION;
	log_info("%s: login: user=%s, method=%s%s, messages=%zu", s->client, s->login, method,
		 strm_is_tls(s->stream) ? ", TLS" : "", mbx_count(s->mb));
	pop3d_ok(s, "Logged in.");
}

/* ---- USER / PASS ---- */

static bool plaintext_allowed(struct session *s)
{
	if (pop3d_plaintext_ok(s))
		return true;
	pop3d_err(s, "[AUTH] Plaintext authentication is not allowed without TLS (use STLS).");
	return false;
}

void pop3d_cmd_user(struct session *s, const char *arg)
{
	if (!plaintext_allowed(s))
		return;
	if (*arg == '\0' || strlen(arg) > SASL_MAX_NAME) {
		pop3d_err(s, "Syntax: USER name");
		return;
	}
	free(s->user);
	s->user = xstrdup(arg);
	pop3d_raw(s, "+OK\r\n");
}

void pop3d_cmd_pass(struct session *s, const char *arg)
{
	char *user = s->user;

	if (!plaintext_allowed(s))
		return;
	if (user == NULL) {
		pop3d_err(s, "No user name given (USER first).");
		return;
	}
	s->user = NULL;
	if (!sess_auth_allowed(s->base, &s->srv->auth)) {
		free(user);
		return;
	}
	switch (passdb_verify(s->srv->passdb, user, arg)) {
	case PASSDB_OK:
		free(s->login);
		s->login = sess_login_name(user);
		logged_in(s, "PASS");
		break;
	case PASSDB_TEMP:
		log_warn("%s: PASS authentication: temporary failure, user=%s", s->client, user);
		pop3d_err(s, "[SYS/TEMP] Temporary authentication failure, try again later.");
		break;
	default:
		sess_auth_failed(s->base, &s->srv->auth, "PASS", user,
				 "wrong password or unknown user");
		break;
	}
	free(user);
}

void pop3d_cmd_apop(struct session *s, const char *arg)
{
	(void)arg;
	pop3d_err(s, "[AUTH] APOP is not supported (passwords are stored hashed).");
}

/* ---- AUTH ---- */

static void sasl_success(void *ctx, char *user, const char *mech)
{
	struct session *s = ctx;

	free(s->login);
	s->login = user;
	logged_in(s, mech);
}

static void sasl_reply(void *ctx, enum sess_auth_event event, const char *reason)
{
	struct session *s = ctx;

	switch (event) {
	case SESS_AUTH_UNSUPPORTED: pop3d_err(s, "Unsupported authentication mechanism."); break;
	case SESS_AUTH_FAILED: pop3d_err(s, "[AUTH] Authentication failed."); break;
	case SESS_AUTH_CUT_OFF: break; /* the -ERR is out; the session closes */
	case SESS_AUTH_BLOCKED:
		pop3d_err(s, "[AUTH] Too many failed logins, try again later.");
		break;
	case SESS_AUTH_CANCELLED: pop3d_err(s, "Authentication aborted."); break;
	case SESS_AUTH_TEMP:
		pop3d_err(s, "[SYS/TEMP] Temporary authentication failure, try again later.");
		break;
	case SESS_AUTH_MALFORMED:
		pop3d_err(s, "Malformed authentication response (%s).", reason);
		break;
	case SESS_AUTH_TOO_LONG: /* as any over-long line, it ends the session */
		pop3d_err(s, "Authentication line too long.");
		sess_close(s->base);
		break;
	}
}

/* list_mechanisms: "AUTH" alone lists the mechanisms (the pre-RFC 5034
 * form that Outlook and others still send). */
static void list_mechanisms(struct session *s)
{
	char *mechs = xstrdup(sasl_mechanisms(&s->srv->sasl_backend, pop3d_plaintext_ok(s)));

	pop3d_raw(s, "+OK\r\n");
	for (char *m = strtok(mechs, " "); m != NULL; m = strtok(NULL, " ")) {
		pop3d_raw(s, m);
		pop3d_raw(s, "\r\n");
	}
	pop3d_raw(s, ".\r\n");
	free(mechs);
}

void pop3d_cmd_auth(struct session *s, const char *arg)
{
	if (*arg == '\0')
		list_mechanisms(s);
	else
		sess_auth_start(s->base, &s->srv->auth, arg, pop3d_plaintext_ok(s));
}

/* ---- the end ---- */

bool pop3d_login_current(struct session *s)
{
	const char *user = s->state == ST_TRANSACTION ? s->login : NULL;

	switch (sess_login_recheck(s->srv->passdb, s->srv->resolver, s->client, user,
				   &s->login_gen)) {
	case RESOLVE_OK:
		return true;
	case RESOLVE_NOTFOUND:
		pop3d_err(s, "[AUTH] The user no longer exists.");
		pop3d_logout(s);
		sess_close(s->base);
		return false;
	default:
		pop3d_err(s, "[SYS/TEMP] Cannot check the login now, try again later.");
		return false;
	}
}

/* pop3d_logout: drops everything of the login (no UPDATE here: that is
 * QUIT's, in commands.c). The lock goes with its descriptor. */
void pop3d_logout(struct session *s)
{
	pop3d_send_abort(s);
	mbx_free(&s->mb);
	free(s->marks);
	s->marks = NULL;
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->lock_fd = -1;
	free(s->user);
	s->user = NULL;
	free(s->login);
	s->login = NULL;
	if (s->state == ST_TRANSACTION)
		s->state = ST_AUTHORIZATION;
}
