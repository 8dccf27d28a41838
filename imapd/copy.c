/* copy.c: COPY and UID COPY (RFC 3501 6.4.7) with UIDPLUS's [COPYUID]
 * (RFC 4315), MOVE and UID MOVE (RFC 6851), and UID EXPUNGE (RFC 4315
 * 2.1). The messages go through lib/imapbox (hard links, the keywords
 * mapped to the target's letters, UIDs given at once); a missing target
 * is NO [TRYCREATE], a COPY that does not fit the Maildir++ quota NO
 * [OVERQUOTA] (MOVE frees what it adds, so it is not refused for quota).
 * MOVE answers "* OK [COPYUID ...]", then the EXPUNGEs, then the tagged
 * OK; it may move messages into the selected folder itself. Message
 * sets name sequence numbers, or UIDs for the UID forms (UIDs not in the
 * folder are ignored, as RFC 3501 6.4.8 says), or "$" (SEARCHRES). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "imapseq.h"
#include "log.h"
#include "mem.h"

/* A message set resolved to sequence numbers of the view, ascending. */
struct msg_set {
	uint32_t *seqs;
	size_t n;
};

static bool is_uid(const struct imapcmd *cmd)
{
	return strncasecmp(cmd->name, "UID ", 4) == 0;
}

/* msg_set_parse: a's message set (msgsource.c: "$" of SEARCHRES too);
 * false after BAD. */
static bool msg_set_parse(struct session *s, const struct imapcmd_arg *a, bool uid,
			  struct msg_set *ms)
{
	memset(ms, 0, sizeof(*ms));
	return imapd_msgset(s, a, uid, &ms->seqs, &ms->n);
}

/* copyuid: "COPYUID <uidvalidity> <source UIDs> <new UIDs>" (heap). */
static char *copyuid(uint32_t uidvalidity, const uint32_t *src, const uint32_t *dst, size_t n)
{
	imapseq *from = imapseq_new(), *to = imapseq_new();
	buf *code = buf_new(64);
	char *text;

	for (size_t i = 0; i < n; i++) {
		imapseq_add(from, src[i]);
		imapseq_add(to, dst[i]);
	}
	buf_printf(code, "COPYUID %u ", uidvalidity);
	imapseq_format(code, from);
	buf_putc(code, ' ');
	imapseq_format(code, to);
	text = xstrdup(buf_cstr(code));
	buf_free(&code);
	imapseq_free(&from);
	imapseq_free(&to);
	return text;
}

static void copy_failed(struct session *s, bool move, int r, const char *err)
{
	const char *what = move ? "MOVE" : "COPY";

	switch (r) {
	case IMAPBOX_NONEXISTENT: imapd_no(s, "TRYCREATE", "No such folder."); return;
	case IMAPBOX_OVERQUOTA: imapd_no(s, "OVERQUOTA", "Quota exceeded (mailbox full)."); return;
	case IMAPBOX_NOSPACE: imapd_no(s, NULL, "Disk full, nothing was %s.",
				       move ? "moved" : "copied"); return;
	case IMAPBOX_LIMIT: imapd_no(s, "LIMIT", "Too many keywords in the target folder."); return;
	case IMAPBOX_READONLY: imapd_no(s, "READ-ONLY", "The folder is read-only."); return;
	default:
		log_warn("%s: user=%s: %s: %s", s->client, s->login, what, err != NULL ? err : "?");
		imapd_no(s, "UNAVAILABLE", "%s failed, try again later.", move ? "Move" : "Copy");
	}
}

/* copy_done: the replies of a COPY or MOVE that worked. */
static void copy_done(struct session *s, bool move, uint32_t uidvalidity, const uint32_t *src,
		      const uint32_t *dst, size_t n)
{
	char *code = n > 0 ? copyuid(uidvalidity, src, dst, n) : NULL;

	log_info("%s: user=%s: %s %zu message%s", s->client, s->login, move ? "MOVE" : "COPY", n,
		 n == 1 ? "" : "s");
	if (move) {
		if (code != NULL)
			imapd_untagged(s, "OK [%s] Moved.", code);
		imapd_report_changes(s); /* the EXPUNGEs (and any EXISTS) */
		if (s->box != NULL)
			imapd_ok(s, "Move completed.");
	} else if (code != NULL) {
		imapd_report_changes(s);
		imapd_tagged(s, "OK", code, "Copy completed.");
	} else {
		imapd_ok(s, "Copy completed.");
	}
	free(code);
}

void imapd_cmd_copy(struct session *s, const struct imapcmd *cmd)
{
	bool uid = is_uid(cmd);
	bool move = strcasecmp(cmd->name + (uid ? 4 : 0), "MOVE") == 0;
	struct msg_set ms;
	uint32_t uidvalidity = 0, *src = NULL, *dst = NULL;
	long long quota = 0;
	size_t ncopied = 0;
	char *dir, *err = NULL;
	int r;

	if (cmd->count != 2 || !imapcmd_is_astring(&cmd->args[1])) {
		imapd_bad(s, "Syntax: %s set folder", cmd->name);
		return;
	}
	if (!msg_set_parse(s, &cmd->args[0], uid, &ms))
		return;
	dir = imapd_target_dir(s, &cmd->args[1]);
	if (dir != NULL && (move || imapd_quota_limit(s, &quota))) {
		r = imapbox_copy(s->box, ms.seqs, ms.n, dir, move, quota, &uidvalidity, &src, &dst,
				 &ncopied, &err);
		if (r == IMAPBOX_OK)
			copy_done(s, move, uidvalidity, src, dst, ncopied);
		else
			copy_failed(s, move, r, err);
	}
	free(src);
	free(dst);
	free(err);
	free(dir);
	free(ms.seqs);
}

void imapd_cmd_uid_expunge(struct session *s, const struct imapcmd *cmd)
{
	struct msg_set ms;
	uint32_t *uids;
	char *err = NULL;
	int r;

	if (cmd->count != 1) {
		imapd_bad(s, "Syntax: UID EXPUNGE set");
		return;
	}
	if (imapbox_read_write(s->box))
		imapd_report_changes(s); /* \Deleted set elsewhere counts too */
	if (s->box == NULL || !msg_set_parse(s, &cmd->args[0], true, &ms))
		return;
	uids = xcalloc(ms.n + 1, sizeof(*uids));
	for (size_t i = 0; i < ms.n; i++)
		uids[i] = imapbox_uid(s->box, ms.seqs[i]);
	r = ms.n == 0 ? IMAPBOX_OK : imapbox_expunge(s->box, uids, ms.n, &err);
	if (r == IMAPBOX_READONLY) {
		imapd_no(s, "READ-ONLY", "The folder is read-only.");
	} else if (r != IMAPBOX_OK) {
		log_warn("%s: user=%s: UID EXPUNGE: %s", s->client, s->login, err);
		imapd_report_changes(s);
		imapd_no(s, "UNAVAILABLE", "Expunge failed, try again later.");
	} else {
		imapd_report_changes(s);
		imapd_ok(s, "Expunge completed.");
	}
	free(err);
	free(uids);
	free(ms.seqs);
}
