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
 * leaves a mailbox locked; local and imapd never take it. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "md.h"
#include "mem.h"
#include "pop3d.h"
#include "sasl_passdb.h"

#define POP3_LOCK_FILE "postern-pop3.lock"

void pop3d_login_init(struct pop3d_server *srv, cfg *c)
{
	srv->tls_auth_only = cfg_get_bool(c, "pop3d_tls_auth_only");
	srv->passdb = passdb_new(c);
	sasl_passdb_backend(&srv->sasl_backend, cfg_get_bool(c, "pop3d_auth_cram_md5"));
	srv->authfail = authfail_from_cfg(c, "pop3d",
					  srv->service != NULL ? svc_name(srv->service) : "pop3d");
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

/* find_maildir: the login's Maildir (created when it does not exist yet:
 * a user who never got mail has none). NULL after -ERR. */
static char *find_maildir(struct session *s)
{
	char *maildir = NULL, *why = NULL;
	enum resolve_result r = resolver_mailbox(s->srv->resolver, s->login, &maildir, &why);

	if (r == RESOLVE_OK && md_create(maildir, false, &why) == 0)
		return maildir;
	log_warn("%s: user=%s: no usable mailbox: %s", s->client, s->login, why);
	if (r == RESOLVE_NOTFOUND)
		pop3d_err(s, "[SYS/PERM] There is no mailbox for this user.");
	else
		pop3d_err(s, "[SYS/TEMP] Cannot open the mailbox, try again later.");
	free(why);
	free(maildir);
	return NULL;
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

static void set_login(struct session *s, const char *user)
{
	char *p;

	free(s->login);
	s->login = xstrdup(user);
	for (p = s->login; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
}

/* login_failed: logs, counts and delays; disconnects at the cut-off. */
static void login_failed(struct session *s, const char *method, const char *who,
			 const char *why)
{
	bool cut;
	uint64_t delay;

	log_warn("%s: %s authentication failed: %s, user=%s", s->client, method, why,
		 who != NULL ? who : "");
	delay = authfail_record(s->srv->authfail, s->client_addr, ev_now_ms(s->srv->loop), &cut);
	pop3d_err(s, "[AUTH] Authentication failed.");
	if (cut) {
		log_warn("%s: too many failed logins: disconnecting", s->client);
		pop3d_close(s);
	} else if (delay > 0) {
		pop3d_pause(s, delay);
	}
}

/* login_allowed: refuses before any check when the address is cut off. */
static bool login_allowed(struct session *s)
{
	if (!authfail_blocked(s->srv->authfail, s->client_addr, ev_now_ms(s->srv->loop)))
		return true;
	log_warn("%s: login refused: too many failed logins", s->client);
	pop3d_err(s, "[AUTH] Too many failed logins, try again later.");
	pop3d_close(s);
	return false;
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
	if (!login_allowed(s)) {
		free(user);
		return;
	}
	switch (passdb_verify(s->srv->passdb, user, arg)) {
	case PASSDB_OK:
		set_login(s, user);
		logged_in(s, "PASS");
		break;
	case PASSDB_TEMP:
		log_warn("%s: PASS authentication: temporary failure, user=%s", s->client, user);
		pop3d_err(s, "[SYS/TEMP] Temporary authentication failure, try again later.");
		break;
	default:
		login_failed(s, "PASS", user, "wrong password or unknown user");
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

static void end_sasl(struct session *s)
{
	sasl_free(&s->sasl);
	if (s->input == IN_SASL)
		s->input = IN_COMMAND;
}

static void sasl_result(struct session *s, int r, char *challenge)
{
	switch (r) {
	case SASL_CONTINUE:
		pop3d_raw(s, "+ ");
		pop3d_raw(s, challenge);
		pop3d_raw(s, "\r\n");
		free(challenge);
		s->input = IN_SASL;
		return;
	case SASL_OK:
		set_login(s, sasl_user(s->sasl));
		logged_in(s, sasl_mech(s->sasl));
		break;
	case SASL_FAIL:
		login_failed(s, sasl_mech(s->sasl), sasl_login_name(s->sasl), sasl_reason(s->sasl));
		break;
	case SASL_CANCEL: pop3d_err(s, "Authentication aborted."); break;
	case SASL_TEMP:
		log_warn("%s: %s authentication: temporary failure: %s", s->client,
			 sasl_mech(s->sasl), sasl_reason(s->sasl));
		pop3d_err(s, "[SYS/TEMP] Temporary authentication failure, try again later.");
		break;
	default:
		log_info("%s: %s: malformed response: %s", s->client, sasl_mech(s->sasl),
			 sasl_reason(s->sasl));
		pop3d_err(s, "Malformed authentication response (%s).", sasl_reason(s->sasl));
		break;
	}
	free(challenge);
	end_sasl(s);
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
	const char *space = strchr(arg, ' ');
	char *mech = space ? xstrndup(arg, (size_t)(space - arg)) : xstrdup(arg);
	const char *initial = space ? space + 1 : NULL;
	char *challenge = NULL;
	int r;

	if (*arg == '\0') {
		free(mech);
		list_mechanisms(s);
		return;
	}
	if (!login_allowed(s)) {
		free(mech);
		return;
	}
	s->sasl = sasl_new(mech, &s->srv->sasl_backend, s->srv->passdb, pop3d_plaintext_ok(s));
	free(mech);
	if (s->sasl == NULL) {
		pop3d_err(s, "Unsupported authentication mechanism.");
		return;
	}
	r = sasl_step(s->sasl, initial, initial ? strlen(initial) : 0, &challenge);
	sasl_result(s, r, challenge);
}

/* pop3d_sasl_step: one response line of an AUTH exchange. An over-long
 * one ends the session (as any over-long line does). */
int pop3d_sasl_step(struct session *s)
{
	const char *line;
	size_t len;
	char *challenge = NULL;
	int r = strm_read_line(s->stream, SASL_LINE_MAX, &line, &len);

	if (r == STRM_TOOLONG) {
		log_warn("%s: %s: response line longer than %d bytes: disconnecting", s->client,
			 sasl_mech(s->sasl), SASL_LINE_MAX);
		pop3d_err(s, "Authentication line too long.");
		end_sasl(s);
		pop3d_close(s);
		return STRM_OK;
	}
	if (r != STRM_OK)
		return r;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	r = sasl_step(s->sasl, line, len, &challenge);
	sasl_result(s, r, challenge);
	return STRM_OK;
}

/* ---- the end ---- */

/* pop3d_logout: drops everything of the login (no UPDATE here: that is
 * QUIT's, in commands.c). The lock goes with its descriptor. */
void pop3d_logout(struct session *s)
{
	pop3d_send_abort(s);
	sasl_free(&s->sasl);
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
