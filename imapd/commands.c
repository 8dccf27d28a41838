/* commands.c: the IMAP command table: each command with the states it is
 * valid in (RFC 3501 section 6: any, not authenticated, authenticated,
 * selected) and its handler; an unknown command or one in the wrong state
 * gets BAD and the session goes on. Also the small commands of any state
 * and of the authenticated state: CAPABILITY, NOOP, LOGOUT, ID (RFC 2971),
 * ENABLE (RFC 5161), NAMESPACE (RFC 2342). NOOP reports what changed
 * in a selected folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "log.h"
#include "mem.h"

#define ANY (IST_NOAUTH | IST_AUTH | IST_SELECTED)
#define LOGGED_IN (IST_AUTH | IST_SELECTED)

typedef void cmd_fn(struct session *s, const struct imapcmd *cmd);

struct command {
	const char *name;
	int states;     /* enum imap_state bits it is valid in */
	cmd_fn *run;
};

/* no_args: BAD unless the command has none. */
static bool no_args(struct session *s, const struct imapcmd *cmd)
{
	if (cmd->count == 0)
		return true;
	imapd_bad(s, "%s takes no arguments.", cmd->name);
	return false;
}

static void cmd_capability(struct session *s, const struct imapcmd *cmd)
{
	buf *caps;

	if (!no_args(s, cmd))
		return;
	caps = buf_new(256);
	imapd_capabilities(s, caps);
	imapd_untagged(s, "CAPABILITY %s", buf_cstr(caps));
	buf_free(&caps);
	imapd_ok(s, "Capability completed.");
}

static void cmd_noop(struct session *s, const struct imapcmd *cmd)
{
	if (!no_args(s, cmd))
		return;
	imapd_report_changes(s);
	imapd_ok(s, "NOOP completed.");
}

static void cmd_logout(struct session *s, const struct imapcmd *cmd)
{
	if (!no_args(s, cmd))
		return;
	imapd_untagged(s, "BYE Logging out.");
	imapd_ok(s, "Logout completed.");
	sess_close(s->base);
}

/* ---- ID (RFC 2971) ---- */

/* id_log: the client's fields in one log line, bounded and printable. */
static void id_log(struct session *s, const struct imapcmd_arg *list)
{
	buf *text = buf_new(256);

	for (size_t i = 0; i + 1 < list->count && i / 2 < IMAPD_ID_FIELDS_MAX; i += 2) {
		const struct imapcmd_arg *k = &list->list[i], *v = &list->list[i + 1];

		buf_puts(text, i > 0 ? ", " : "");
		for (size_t j = 0; j < 2; j++) {
			const struct imapcmd_arg *a = j == 0 ? k : v;
			size_t n = a->len < IMAPD_ID_VALUE_MAX ? a->len : IMAPD_ID_VALUE_MAX;

			if (a->type == IMAPCMD_NIL)
				buf_puts(text, "NIL");
			for (size_t c = 0; a->type != IMAPCMD_NIL && c < n; c++)
				buf_putc(text, a->str[c] >= 0x20 && a->str[c] < 0x7f ? a->str[c] : '?');
			buf_puts(text, j == 0 ? "=" : "");
		}
	}
	log_info("%s: ID: %s", s->client, buf_cstr(text));
	buf_free(&text);
}

static void cmd_id(struct session *s, const struct imapcmd *cmd)
{
	const struct imapcmd_arg *a = cmd->count == 1 ? &cmd->args[0] : NULL;

	if (a == NULL || (a->type != IMAPCMD_NIL && a->type != IMAPCMD_LIST)) {
		imapd_bad(s, "Syntax: ID (field value ...) or ID NIL");
		return;
	}
	if (a->type == IMAPCMD_LIST) {
		bool ok = a->count % 2 == 0 && a->count / 2 <= IMAPD_ID_FIELDS_MAX;

		for (size_t i = 0; ok && i < a->count; i++)
			ok = imapcmd_is_astring(&a->list[i]) || a->list[i].type == IMAPCMD_NIL;
		if (!ok) {
			imapd_bad(s, "ID: pairs of strings expected (at most %d).",
				  IMAPD_ID_FIELDS_MAX);
			return;
		}
		id_log(s, a);
	}
	imapd_untagged(s, "ID (\"name\" \"Postern\" \"version\" \"%s\")", PACKAGE_VERSION);
	imapd_ok(s, "ID completed.");
}

/* ---- ENABLE (RFC 5161), NAMESPACE (RFC 2342) ---- */

/* cmd_enable: CONDSTORE (RFC 7162 3.1) can be switched on; RFC 5161 says
 * unknown ones are ignored (left out of the ENABLED list). */
static void cmd_enable(struct session *s, const struct imapcmd *cmd)
{
	bool condstore = false;

	if (cmd->count == 0) {
		imapd_bad(s, "Syntax: ENABLE capability ...");
		return;
	}
	for (size_t i = 0; i < cmd->count; i++) {
		if (cmd->args[i].type != IMAPCMD_ATOM) {
			imapd_bad(s, "ENABLE takes capability names.");
			return;
		}
		if (imapcmd_is_atom(&cmd->args[i], "CONDSTORE"))
			condstore = true;
	}
	if (condstore)
		s->condstore = true;
	imapd_untagged(s, "ENABLED%s", condstore ? " CONDSTORE" : "");
	imapd_ok(s, "Enabled.");
}

static void cmd_namespace(struct session *s, const struct imapcmd *cmd)
{
	if (!no_args(s, cmd))
		return;
	imapd_untagged(s, "NAMESPACE ((\"\" \".\")) NIL NIL");
	imapd_ok(s, "Namespace completed.");
}

/* ---- the table ---- */

static const struct command commands[] = {
	{ "CAPABILITY", ANY, cmd_capability },
	{ "NOOP", ANY, cmd_noop },
	{ "LOGOUT", ANY, cmd_logout },
	{ "ID", ANY, cmd_id },
	{ "STARTTLS", IST_NOAUTH, imapd_cmd_starttls },
	{ "LOGIN", IST_NOAUTH, imapd_cmd_login },
	{ "AUTHENTICATE", IST_NOAUTH, imapd_cmd_authenticate },
	{ "ENABLE", IST_AUTH, cmd_enable },
	{ "NAMESPACE", LOGGED_IN, cmd_namespace },
	{ "IDLE", LOGGED_IN, imapd_cmd_idle },
	{ "LIST", LOGGED_IN, imapd_cmd_list },
	{ "LSUB", LOGGED_IN, imapd_cmd_lsub },
	{ "CREATE", LOGGED_IN, imapd_cmd_create },
	{ "DELETE", LOGGED_IN, imapd_cmd_delete },
	{ "RENAME", LOGGED_IN, imapd_cmd_rename },
	{ "SUBSCRIBE", LOGGED_IN, imapd_cmd_subscribe },
	{ "UNSUBSCRIBE", LOGGED_IN, imapd_cmd_unsubscribe },
	{ "SELECT", LOGGED_IN, imapd_cmd_select },
	{ "EXAMINE", LOGGED_IN, imapd_cmd_examine },
	{ "STATUS", LOGGED_IN, imapd_cmd_status },
	{ "CLOSE", IST_SELECTED, imapd_cmd_close },
	{ "UNSELECT", IST_SELECTED, imapd_cmd_close },
	{ "EXPUNGE", IST_SELECTED, imapd_cmd_expunge },
	{ "CHECK", IST_SELECTED, imapd_cmd_check },
	{ "APPEND", LOGGED_IN, imapd_cmd_append },
	{ "COPY", IST_SELECTED, imapd_cmd_copy },
	{ "MOVE", IST_SELECTED, imapd_cmd_copy },
	{ "UID COPY", IST_SELECTED, imapd_cmd_copy },
	{ "UID MOVE", IST_SELECTED, imapd_cmd_copy },
	{ "UID EXPUNGE", IST_SELECTED, imapd_cmd_uid_expunge },
	{ "GETQUOTAROOT", LOGGED_IN, imapd_cmd_getquotaroot },
	{ "GETQUOTA", LOGGED_IN, imapd_cmd_getquota },
	{ "SETQUOTA", LOGGED_IN, imapd_cmd_setquota },
	{ "FETCH", IST_SELECTED, imapd_cmd_fetch },
	{ "UID FETCH", IST_SELECTED, imapd_cmd_fetch },
	{ "STORE", IST_SELECTED, imapd_cmd_store },
	{ "UID STORE", IST_SELECTED, imapd_cmd_store },
	{ "SEARCH", IST_SELECTED, imapd_cmd_search },
	{ "UID SEARCH", IST_SELECTED, imapd_cmd_search },
};

static const char *state_name(enum imap_state state)
{
	switch (state) {
	case IST_NOAUTH: return "not authenticated";
	case IST_AUTH: return "authenticated";
	case IST_SELECTED: return "selected";
	default: return "logout";
	}
}

static const struct command *find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcasecmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* uid_command: "UID X args" runs the table's "UID X" with args. */
static void uid_command(struct session *s, const struct imapcmd *cmd)
{
	struct imapcmd sub = *cmd;
	char name[32];

	if (cmd->count == 0 || cmd->args[0].type != IMAPCMD_ATOM || cmd->args[0].len > 16) {
		sess_set_last(s->base, "UID");
		imapd_bad(s, "Syntax: UID FETCH|STORE|SEARCH|COPY|MOVE|EXPUNGE ...");
		return;
	}
	snprintf(name, sizeof(name), "UID %s", cmd->args[0].str);
	sub.name = name;
	sub.args = cmd->args + 1;
	sub.count = cmd->count - 1;
	imapd_command(s, &sub);
}

void imapd_command(struct session *s, const struct imapcmd *cmd)
{
	const struct command *c;

	if (strcasecmp(cmd->name, "UID") == 0) {
		uid_command(s, cmd);
		return;
	}
	c = find(cmd->name);

	if (c == NULL) {
		sess_set_last(s->base, "unknown command");
		log_info("%s: unknown command after %s", s->client, sess_last(s->base));
		imapd_bad(s, "Unknown command.");
		return;
	}
	sess_set_last(s->base, c->name);
	if (!(c->states & (int)s->state)) {
		imapd_bad(s, "%s is not valid in the %s state.", c->name, state_name(s->state));
		return;
	}
	if (s->state != IST_NOAUTH && !imapd_login_current(s))
		return;
	if (s->box != NULL)
		imapd_msgsource_refresh(s);
	c->run(s, cmd);
	if (s->box != NULL && s->fetch == NULL)
		imapd_msgsource_flush(s);
}
