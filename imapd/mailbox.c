/* mailbox.c: the selected state on lib/imapbox: SELECT and EXAMINE (the
 * untagged FLAGS, PERMANENTFLAGS, EXISTS, RECENT, UNSEEN, UIDVALIDITY,
 * UIDNEXT and the READ-WRITE/READ-ONLY code), STATUS (RFC 3501 6.3.10,
 * SIZE of RFC 8438), CLOSE, UNSELECT (RFC 3691), EXPUNGE, CHECK, and the
 * untagged EXPUNGE / EXISTS / RECENT / FETCH (FLAGS) that tell a session
 * what other processes changed: after NOOP, CHECK and EXPUNGE, and during
 * IDLE, woken by lib/watch when the folder's new/, cur/ or side files
 * change (no polling). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "imapbox.h"
#include "imapd.h"
#include "log.h"
#include "mem.h"

/* ---- reporting changes ---- */

/* folder_gone: the selected folder's directory no longer exists (another
 * session or process deleted or renamed it). */
static bool folder_gone(const imapbox *box)
{
	struct stat st;

	return stat(imapbox_path(box), &st) < 0 && (errno == ENOENT || errno == ENOTDIR);
}

/* close_deleted: a session whose folder was deleted under it ends, as
 * Dovecot's does: its view can never be synced again, and every command
 * would otherwise answer "try again later" forever. */
static void close_deleted(struct session *s)
{
	log_warn("%s: user=%s: %s was deleted under the session: session closed", s->client,
		 s->login, imapbox_path(s->box));
	imapd_untagged(s, "BYE The selected folder was deleted.");
	imapd_mailbox_close(s);
	sess_close(s->base);
}

void imapd_report_changes(struct session *s)
{
	imapd_report(s, true);
}

void imapd_report(struct session *s, bool expunges)
{
	struct imapbox_changes ch;
	char *err = NULL;

	if (s->box == NULL)
		return;
	if (imapbox_sync(s->box, &err) != IMAPBOX_OK) {
		log_warn("%s: user=%s: cannot sync %s: %s", s->client, s->login,
			 imapbox_path(s->box), err);
		free(err);
		if (folder_gone(s->box))
			close_deleted(s);
		return;
	}
	imapbox_take(s->box, expunges, &ch);
	if (ch.uidvalidity_changed) {
		log_warn("%s: user=%s: %s was renumbered: session closed", s->client, s->login,
			 imapbox_path(s->box));
		imapd_untagged(s, "BYE [UNAVAILABLE] The folder was renumbered, select it again.");
		imapd_mailbox_close(s);
		sess_close(s->base);
		return;
	}
	for (size_t i = 0; i < ch.nexpunged; i++)
		imapd_untagged(s, "%u EXPUNGE", ch.expunged_seqs[i]);
	if (ch.flags_changed) {
		buf *f = buf_new(128);

		imapbox_flags_list(s->box, f);
		imapd_untagged(s, "FLAGS %s", buf_cstr(f));
		buf_reset(f);
		imapbox_permanentflags(s->box, f);
		imapd_untagged(s, "OK [PERMANENTFLAGS %s] Flags permitted.", buf_cstr(f));
		buf_free(&f);
	}
	if (ch.exists_changed) {
		imapd_untagged(s, "%u EXISTS", ch.exists);
		imapd_untagged(s, "%u RECENT", ch.recent);
	}
	for (size_t i = 0; i < ch.nchanged; i++) {
		buf *f = buf_new(64);

		imapbox_flags_text(s->box, ch.changed_seqs[i], f);
		if (s->condstore)
			buf_printf(f, " MODSEQ (%llu)",
				   (unsigned long long)imapbox_modseq(s->box, ch.changed_seqs[i]));
		imapd_untagged(s, "%u FETCH (UID %u FLAGS %s)", ch.changed_seqs[i],
			       imapbox_uid(s->box, ch.changed_seqs[i]), buf_cstr(f));
		buf_free(&f);
	}
}

/* ---- IDLE wake-ups ---- */

static void folder_changed(void *ctx)
{
	struct session *s = ctx;

	if (!s->idling || s->box == NULL)
		return;
	imapd_report_changes(s);
	conn_run(sess_conn(s->base)); /* flush what was queued outside a step */
}

void imapd_mailbox_watch(struct session *s, bool on)
{
	char *err = NULL;
	const char *const *paths;
	size_t n = 0;

	watch_remove(&s->watch);
	if (!on || s->box == NULL || s->srv->watches == NULL)
		return;
	paths = imapbox_watch_paths(s->box);
	while (paths[n] != NULL && n < WATCH_MAX_PATHS)
		n++;
	s->watch = watch_add(s->srv->watches, paths, n, folder_changed, s, &err);
	if (s->watch == NULL) {
		log_warn("%s: user=%s: IDLE without wake-ups: %s", s->client, s->login, err);
		free(err);
	}
}

/* ---- SELECT / EXAMINE ---- */

void imapd_mailbox_close(struct session *s)
{
	watch_remove(&s->watch);
	imapd_fetch_abort(s);
	imapd_search_abort(s);
	imapd_msgsource_close(s);
	imapbox_close(&s->box);
	if (s->state == IST_SELECTED)
		s->state = IST_AUTH;
}

static void select_replies(struct session *s)
{
	buf *f = buf_new(128);
	uint32_t unseen = imapbox_unseen_first(s->box);

	imapbox_flags_list(s->box, f);
	imapd_untagged(s, "FLAGS %s", buf_cstr(f));
	buf_reset(f);
	imapbox_permanentflags(s->box, f);
	imapd_untagged(s, "OK [PERMANENTFLAGS %s] Flags permitted.", buf_cstr(f));
	buf_free(&f);
	imapd_untagged(s, "%u EXISTS", imapbox_count(s->box));
	imapd_untagged(s, "%u RECENT", imapbox_recent(s->box));
	if (unseen > 0)
		imapd_untagged(s, "OK [UNSEEN %u] First unseen.", unseen);
	imapd_untagged(s, "OK [UIDVALIDITY %u] UIDs valid.", imapbox_uidvalidity(s->box));
	imapd_untagged(s, "OK [UIDNEXT %u] Predicted next UID.", imapbox_uidnext(s->box));
	imapd_untagged(s, "OK [HIGHESTMODSEQ %llu] Highest.",
		       (unsigned long long)imapbox_highestmodseq(s->box));
}

/* folder_dir: the directory of a folder argument; NULL after the reply. */
static char *folder_dir(struct session *s, const struct imapcmd_arg *a, buf *canon)
{
	const char *reason;
	int exists;

	if (!imapcmd_is_astring(a)) {
		imapd_bad(s, "A folder name is a string.");
		return NULL;
	}
	if (mfolder_name_check(a->str, a->len, canon, &reason) < 0) {
		imapd_no(s, "CANNOT", "%s", reason);
		return NULL;
	}
	exists = mfolder_exists(s->mf, buf_cstr(canon));
	if (exists == 0) {
		imapd_no(s, "NONEXISTENT", "No such folder.");
		return NULL;
	}
	if (exists < 0) {
		log_warn("%s: user=%s: cannot look at folder %s", s->client, s->login,
			 buf_cstr(canon));
		imapd_no(s, "UNAVAILABLE", "Cannot open the folder now.");
		return NULL;
	}
	return mfolder_path(s->mf, buf_cstr(canon));
}

static void open_folder(struct session *s, const struct imapcmd *cmd, bool read_write)
{
	buf *canon = buf_new(64);
	char *dir, *err = NULL;
	int r;

	if (cmd->count == 2 && cmd->args[1].type == IMAPCMD_LIST && cmd->args[1].count == 1 &&
	    imapcmd_is_atom(&cmd->args[1].list[0], "CONDSTORE")) {
		s->condstore = true; /* RFC 7162 3.1.8 */
	} else if (cmd->count != 1) {
		imapd_bad(s, "Syntax: %s name [(CONDSTORE)]", read_write ? "SELECT" : "EXAMINE");
		buf_free(&canon);
		return;
	}
	imapd_mailbox_close(s); /* RFC 3501 6.3.1: even when the new one fails */
	dir = folder_dir(s, &cmd->args[0], canon);
	if (dir == NULL) {
		buf_free(&canon);
		return;
	}
	r = imapbox_open(dir, read_write, &s->box, &err);
	if (r == IMAPBOX_OK) {
		s->state = IST_SELECTED;
		imapd_msgsource_open(s);
		select_replies(s);
		imapd_tagged(s, "OK", read_write ? "READ-WRITE" : "READ-ONLY", "%s completed.",
			     read_write ? "Select" : "Examine");
	} else if (r == IMAPBOX_NONEXISTENT) {
		imapd_no(s, "NONEXISTENT", "No such folder.");
	} else {
		log_warn("%s: user=%s: cannot open %s: %s", s->client, s->login, dir, err);
		imapd_no(s, "UNAVAILABLE", "Cannot open the folder now, try again later.");
	}
	free(err);
	free(dir);
	buf_free(&canon);
}

void imapd_cmd_select(struct session *s, const struct imapcmd *cmd)
{
	open_folder(s, cmd, true);
}

void imapd_cmd_examine(struct session *s, const struct imapcmd *cmd)
{
	open_folder(s, cmd, false);
}

/* ---- STATUS ---- */

static const struct {
	const char *name;
	unsigned bit;
} status_items[] = {
	{ "MESSAGES", IMAPBOX_ST_MESSAGES }, { "RECENT", IMAPBOX_ST_RECENT },
	{ "UIDNEXT", IMAPBOX_ST_UIDNEXT },   { "UIDVALIDITY", IMAPBOX_ST_UIDVALIDITY },
	{ "UNSEEN", IMAPBOX_ST_UNSEEN },     { "SIZE", IMAPBOX_ST_SIZE },
	{ "HIGHESTMODSEQ", IMAPBOX_ST_HIGHESTMODSEQ }, { "DELETED", IMAPBOX_ST_DELETED },
	{ "DELETED-STORAGE", IMAPBOX_ST_DELETED_STORAGE },
};

static void status_reply(struct session *s, const char *canon, unsigned items,
			 const struct imapbox_status *st)
{
	buf *out = buf_new(128);
	const char *sep = "";

	buf_puts(out, "STATUS ");
	mfolder_quote(out, canon);
	buf_puts(out, " (");
	for (size_t i = 0; i < sizeof(status_items) / sizeof(status_items[0]); i++) {
		unsigned bit = status_items[i].bit;
		unsigned long long v = bit == IMAPBOX_ST_MESSAGES ? st->messages
				       : bit == IMAPBOX_ST_RECENT ? st->recent
				       : bit == IMAPBOX_ST_UIDNEXT ? st->uidnext
				       : bit == IMAPBOX_ST_UIDVALIDITY ? st->uidvalidity
				       : bit == IMAPBOX_ST_UNSEEN ? st->unseen
				       : bit == IMAPBOX_ST_SIZE ? st->size
				       : bit == IMAPBOX_ST_DELETED ? st->deleted
				       : bit == IMAPBOX_ST_DELETED_STORAGE ? st->deleted_storage
								   : st->highestmodseq;

		if (!(items & bit))
			continue;
		buf_printf(out, "%s%s %llu", sep, status_items[i].name, v);
		sep = " ";
	}
	buf_puts(out, ")");
	imapd_untagged(s, "%s", buf_cstr(out));
	buf_free(&out);
}

bool imapd_status_items(const struct imapcmd_arg *list, unsigned *items_r)
{
	*items_r = 0;
	for (size_t i = 0; i < list->count; i++) {
		unsigned bit = 0;

		for (size_t j = 0; j < sizeof(status_items) / sizeof(status_items[0]); j++)
			if (imapcmd_is_atom(&list->list[i], status_items[j].name))
				bit = status_items[j].bit;
		if (bit == 0)
			return false;
		*items_r |= bit;
	}
	return true;
}

void imapd_list_status(struct session *s, const char *canon, unsigned items)
{
	char *dir = mfolder_path(s->mf, canon);
	struct imapbox_status st;
	char *err = NULL;

	memset(&st, 0, sizeof(st));
	if (imapbox_status(dir, items, &st, &err) == IMAPBOX_OK)
		status_reply(s, canon, items, &st);
	else if (err != NULL) /* RFC 5819: no STATUS line then, no error */
		log_info("%s: user=%s: LIST-STATUS %s: %s", s->client, s->login, dir, err);
	free(err);
	free(dir);
}

void imapd_cmd_status(struct session *s, const struct imapcmd *cmd)
{
	const struct imapcmd_arg *list = cmd->count == 2 ? &cmd->args[1] : NULL;
	struct imapbox_status st;
	unsigned items = 0;
	buf *canon;
	char *dir, *err = NULL;
	int r;

	if (list == NULL || list->type != IMAPCMD_LIST || list->count == 0) {
		imapd_bad(s, "Syntax: STATUS name (items)");
		return;
	}
	if (!imapd_status_items(list, &items)) {
		imapd_bad(s, "Unknown STATUS item.");
		return;
	}
	canon = buf_new(64);
	dir = folder_dir(s, &cmd->args[0], canon);
	if (dir != NULL) {
		memset(&st, 0, sizeof(st));
		r = imapbox_status(dir, items, &st, &err);
		if (r == IMAPBOX_OK) {
			status_reply(s, buf_cstr(canon), items, &st);
			imapd_ok(s, "Status completed.");
		} else if (r == IMAPBOX_NONEXISTENT) {
			imapd_no(s, "NONEXISTENT", "No such folder.");
		} else {
			log_warn("%s: user=%s: STATUS %s: %s", s->client, s->login, dir, err);
			imapd_no(s, "UNAVAILABLE", "Cannot read the folder now, try again later.");
		}
	}
	free(err);
	free(dir);
	buf_free(&canon);
}

/* ---- CLOSE, UNSELECT, EXPUNGE, CHECK ---- */

void imapd_cmd_close(struct session *s, const struct imapcmd *cmd)
{
	char *err = NULL;

	if (cmd->count != 0) {
		imapd_bad(s, "%s takes no arguments.", cmd->name);
		return;
	}
	/* CLOSE expunges silently (RFC 3501 6.4.2); UNSELECT does not */
	if (strcasecmp(cmd->name, "CLOSE") == 0 && imapbox_read_write(s->box) &&
	    imapbox_expunge(s->box, NULL, 0, &err) == IMAPBOX_TEMP) {
		log_warn("%s: user=%s: CLOSE: expunge failed: %s", s->client, s->login, err);
		free(err);
	}
	imapd_mailbox_close(s);
	imapd_ok(s, "%s completed.", strcasecmp(cmd->name, "CLOSE") == 0 ? "Close" : "Unselect");
}

void imapd_cmd_expunge(struct session *s, const struct imapcmd *cmd)
{
	char *err = NULL;
	int r;

	if (cmd->count != 0) {
		imapd_bad(s, "EXPUNGE takes no arguments.");
		return;
	}
	/* \Deleted set by another process counts too: learn it first */
	if (imapbox_read_write(s->box))
		imapd_report_changes(s);
	if (s->box == NULL)
		return; /* renumbered: the session is closing */
	r = imapbox_expunge(s->box, NULL, 0, &err);
	if (r == IMAPBOX_READONLY) {
		imapd_no(s, "READ-ONLY", "The folder is read-only.");
		return;
	}
	if (r != IMAPBOX_OK) {
		log_warn("%s: user=%s: EXPUNGE: %s", s->client, s->login, err);
		free(err);
		imapd_report_changes(s);
		imapd_no(s, "UNAVAILABLE", "Expunge failed, try again later.");
		return;
	}
	imapd_report_changes(s);
	imapd_msgsource_compact(s);
	imapd_ok(s, "Expunge completed.");
}

void imapd_cmd_check(struct session *s, const struct imapcmd *cmd)
{
	if (cmd->count != 0) {
		imapd_bad(s, "CHECK takes no arguments.");
		return;
	}
	imapd_report_changes(s);
	imapd_ok(s, "Check completed.");
}
