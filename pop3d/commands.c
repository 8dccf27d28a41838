/* commands.c: the POP3 command table (RFC 1939, RFC 2449 CAPA) and the
 * commands of the TRANSACTION state, and UPDATE after QUIT.
 *
 * Message numbers are 1..count of the mailbox as it was at login; a
 * deleted message keeps its number and every command on it fails until
 * RSET. Sizes are the octets RETR sends before byte-stuffing (the CRLF
 * size the Maildir index keeps). Only QUIT in TRANSACTION enters UPDATE:
 * deletions and the Seen flags of retrieved messages are written there
 * and nowhere else. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "mem.h"
#include "pop3d.h"

#define IN_AUTH_STATE 1
#define IN_TRANS_STATE 2
/* Digits of a message number or line count worth reading. */
#define NUMBER_DIGITS_MAX 10

/* ---- arguments ---- */

/* parse_count: a decimal number of at most NUMBER_DIGITS_MAX digits and
 * nothing else. */
static bool parse_count(const char *text, unsigned long long *n_r)
{
	size_t len = strspn(text, "0123456789");

	if (len == 0 || len > NUMBER_DIGITS_MAX || text[len] != '\0')
		return false;
	*n_r = strtoull(text, NULL, 10);
	return true;
}

/* message_arg: the message a command's argument names (an index), or
 * false after the -ERR. */
static bool message_arg(struct session *s, const char *arg, size_t *index_r)
{
	unsigned long long n;

	if (!parse_count(arg, &n)) {
		pop3d_err(s, "Invalid message number: %.40s", arg);
		return false;
	}
	if (n < 1 || n > mbx_count(s->mb)) {
		pop3d_err(s, "There is no message %llu.", n);
		return false;
	}
	if (s->marks[n - 1] & MARK_DELETED) {
		pop3d_err(s, "Message %llu is deleted.", n);
		return false;
	}
	*index_r = (size_t)(n - 1);
	return true;
}

static void mailbox_totals(const struct session *s, size_t *count_r, long long *bytes_r)
{
	*count_r = 0;
	*bytes_r = 0;
	for (size_t i = 0; i < mbx_count(s->mb); i++) {
		if (s->marks[i] & MARK_DELETED)
			continue;
		(*count_r)++;
		*bytes_r += mbx_msg(s->mb, i)->vsize;
	}
}

/* ---- TRANSACTION commands ---- */

static void cmd_stat(struct session *s, const char *arg)
{
	size_t count;
	long long bytes;

	if (*arg != '\0') {
		pop3d_err(s, "STAT takes no argument.");
		return;
	}
	mailbox_totals(s, &count, &bytes);
	pop3d_ok(s, "%zu %lld", count, bytes);
}

/* listing: LIST and UIDL: one message, or all that are not deleted. */
static void listing(struct session *s, const char *arg, bool uidl)
{
	size_t i, count;
	long long bytes;
	buf *out;

	if (*arg != '\0') {
		if (!message_arg(s, arg, &i))
			return;
		if (uidl)
			pop3d_ok(s, "%zu %s", i + 1, mbx_pop3_uidl(s->mb, i));
		else
			pop3d_ok(s, "%zu %lld", i + 1, mbx_msg(s->mb, i)->vsize);
		return;
	}
	mailbox_totals(s, &count, &bytes);
	out = buf_new(64 + mbx_count(s->mb) * (uidl ? 28 : 16));
	if (uidl)
		buf_puts(out, "+OK\r\n");
	else
		buf_printf(out, "+OK %zu messages (%lld octets)\r\n", count, bytes);
	for (i = 0; i < mbx_count(s->mb); i++) {
		if (s->marks[i] & MARK_DELETED)
			continue;
		if (uidl)
			buf_printf(out, "%zu %s\r\n", i + 1, mbx_pop3_uidl(s->mb, i));
		else
			buf_printf(out, "%zu %lld\r\n", i + 1, mbx_msg(s->mb, i)->vsize);
	}
	buf_puts(out, ".\r\n");
	strm_write(s->stream, buf_cstr(out), buf_len(out));
	buf_free(&out);
}

static void cmd_list(struct session *s, const char *arg)
{
	listing(s, arg, false);
}

static void cmd_uidl(struct session *s, const char *arg)
{
	listing(s, arg, true);
}

/* open_message: the message's file, or -ERR when it vanished under us
 * (expunged by an IMAP client) or cannot be read. */
static int open_message(struct session *s, size_t i)
{
	int fd = mbx_msg_open(s->mb, i);

	if (fd >= 0)
		return fd;
	if (errno == ENOENT) {
		log_info("%s: user=%s: message %zu (UID %u) was removed by another session",
			 s->client, s->login, i + 1, mbx_msg(s->mb, i)->uid);
		pop3d_err(s, "Message %zu was removed by another session.", i + 1);
	} else {
		log_warn("%s: user=%s: cannot open message UID %u in %s: %s", s->client, s->login,
			 mbx_msg(s->mb, i)->uid, mbx_path(s->mb), strerror(errno));
		pop3d_err(s, "[SYS/TEMP] Cannot read message %zu.", i + 1);
	}
	return -1;
}

static void cmd_retr(struct session *s, const char *arg)
{
	size_t i;
	int fd;

	if (!message_arg(s, arg, &i) || (fd = open_message(s, i)) < 0)
		return;
	pop3d_ok(s, "%lld octets", mbx_msg(s->mb, i)->vsize);
	s->marks[i] |= MARK_RETRIEVED;
	s->retrieved++;
	s->retrieved_bytes += mbx_msg(s->mb, i)->vsize;
	pop3d_send_start(s, i, fd, -1);
}

static void cmd_top(struct session *s, const char *arg)
{
	const char *space = strchr(arg, ' ');
	unsigned long long lines;
	char *msg;
	size_t i;
	int fd;

	if (space == NULL || !parse_count(space + 1, &lines)) {
		pop3d_err(s, "Syntax: TOP message lines");
		return;
	}
	msg = xstrndup(arg, (size_t)(space - arg));
	if (!message_arg(s, msg, &i) || (fd = open_message(s, i)) < 0) {
		free(msg);
		return;
	}
	free(msg);
	pop3d_raw(s, "+OK\r\n");
	pop3d_send_start(s, i, fd, (long long)lines);
}

static void cmd_dele(struct session *s, const char *arg)
{
	size_t i;

	if (!message_arg(s, arg, &i))
		return;
	s->marks[i] |= MARK_DELETED;
	s->deleted++;
	pop3d_ok(s, "Marked to be deleted.");
}

static void cmd_noop(struct session *s, const char *arg)
{
	(void)arg;
	pop3d_raw(s, "+OK\r\n");
}

/* cmd_rset: undeletes everything and forgets what was retrieved (no Seen
 * flags are set at QUIT for them), as Dovecot does. */
static void cmd_rset(struct session *s, const char *arg)
{
	(void)arg;
	memset(s->marks, 0, mbx_count(s->mb));
	s->deleted = 0;
	s->retrieved = 0;
	s->retrieved_bytes = 0;
	pop3d_raw(s, "+OK\r\n");
}

/* ---- UPDATE ---- */

/* update_message: the QUIT-time change of message i; false on an error
 * other than the message having vanished. */
static bool update_message(struct session *s, size_t i, size_t *expunged)
{
	const struct mbx_msg *m = mbx_msg(s->mb, i);
	int r = 0;

	if (s->marks[i] & MARK_DELETED) {
		r = mbx_expunge(s->mb, i);
		if (r == 0)
			(*expunged)++;
	} else if ((s->marks[i] & MARK_RETRIEVED) && !(m->flags & MBX_SEEN)) {
		r = mbx_set_flags(s->mb, i, m->flags | MBX_SEEN);
	}
	if (r < 0)
		log_warn("%s: user=%s: cannot %s %s/%s: %s", s->client, s->login,
			 (s->marks[i] & MARK_DELETED) ? "delete" : "set the Seen flag of",
			 mbx_path(s->mb), m->name, strerror(errno));
	return r >= 0;
}

static void enter_update(struct session *s)
{
	size_t expunged = 0;
	bool ok = true;

	for (size_t i = 0; i < mbx_count(s->mb); i++)
		if (s->marks[i] != 0 && !update_message(s, i, &expunged))
			ok = false;
	log_info("%s: user=%s: logout: retr=%zu/%lld, del=%zu/%zu, expunged=%zu", s->client,
		 s->login, s->retrieved, s->retrieved_bytes, s->deleted, mbx_count(s->mb),
		 expunged);
	if (ok)
		pop3d_ok(s, "Logging out.");
	else
		pop3d_err(s, "[SYS/TEMP] Some messages could not be deleted.");
}

/* ---- both states ---- */

static void cmd_quit(struct session *s, const char *arg)
{
	(void)arg;
	if (s->state == ST_TRANSACTION)
		enter_update(s);
	else
		pop3d_ok(s, "Logging out.");
	/* The lock goes before the reply is flushed: a client that has read
	 * it may log in again at once, from another process too. */
	pop3d_logout(s);
	sess_close(s->base);
}

static void cmd_capa(struct session *s, const char *arg)
{
	buf *out = buf_new(256);
	const char *mechs;

	(void)arg;
	buf_puts(out, "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
		      "AUTH-RESP-CODE\r\nPIPELINING\r\n");
	if (s->state == ST_AUTHORIZATION) {
		if (pop3d_plaintext_ok(s))
			buf_puts(out, "USER\r\n");
		mechs = sasl_mechanisms(&s->srv->sasl_backend, pop3d_plaintext_ok(s));
		if (*mechs != '\0')
			buf_printf(out, "SASL %s\r\n", mechs);
		if (s->srv->tls != NULL && !strm_is_tls(s->stream))
			buf_puts(out, "STLS\r\n");
	}
	buf_puts(out, "IMPLEMENTATION Postern\r\n.\r\n");
	strm_write(s->stream, buf_cstr(out), buf_len(out));
	buf_free(&out);
}

/* ---- dispatch ---- */

struct command {
	const char *name;
	int states;
	void (*run)(struct session *s, const char *arg);
};

static const struct command commands[] = {
	{ "USER", IN_AUTH_STATE, pop3d_cmd_user },
	{ "PASS", IN_AUTH_STATE, pop3d_cmd_pass },
	{ "AUTH", IN_AUTH_STATE, pop3d_cmd_auth },
	{ "APOP", IN_AUTH_STATE, pop3d_cmd_apop },
	{ "STLS", IN_AUTH_STATE, pop3d_cmd_stls },
	{ "CAPA", IN_AUTH_STATE | IN_TRANS_STATE, cmd_capa },
	{ "QUIT", IN_AUTH_STATE | IN_TRANS_STATE, cmd_quit },
	{ "STAT", IN_TRANS_STATE, cmd_stat },
	{ "LIST", IN_TRANS_STATE, cmd_list },
	{ "RETR", IN_TRANS_STATE, cmd_retr },
	{ "DELE", IN_TRANS_STATE, cmd_dele },
	{ "NOOP", IN_TRANS_STATE, cmd_noop },
	{ "RSET", IN_TRANS_STATE, cmd_rset },
	{ "TOP", IN_TRANS_STATE, cmd_top },
	{ "UIDL", IN_TRANS_STATE, cmd_uidl },
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcasecmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* printable: the line has no control characters (NUL included). */
static bool printable(const char *line)
{
	for (const unsigned char *p = (const unsigned char *)line; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

void pop3d_command(struct session *s, char *line)
{
	size_t len = strcspn(line, " ");
	const char *arg = line[len] == ' ' ? line + len + 1 : "";
	int state = s->state == ST_TRANSACTION ? IN_TRANS_STATE : IN_AUTH_STATE;
	const struct command *cmd;

	if (!pop3d_login_current(s))
		return;
	line[len] = '\0';
	cmd = len <= 4 ? find_command(line) : NULL;
	if (cmd == NULL || !printable(arg)) {
		log_info("%s: unknown or malformed command after %s", s->client, sess_last(s->base));
		pop3d_err(s, cmd == NULL ? "Unknown command." : "Bad characters in the command.");
		return;
	}
	sess_set_last(s->base, cmd->name);
	if (!(cmd->states & state)) {
		pop3d_err(s, "%s is not valid in the %s state.", cmd->name,
			  state == IN_AUTH_STATE ? "AUTHORIZATION" : "TRANSACTION");
		return;
	}
	cmd->run(s, arg);
}
