/* store.c: STORE and UID STORE (RFC 3501 6.4.6) with CONDSTORE's
 * UNCHANGEDSINCE (RFC 7162 3.1.3) on lib/imapbox: FLAGS, +FLAGS, -FLAGS
 * and their .SILENT forms, system flags and keywords (a new keyword takes
 * a free letter of dovecot-keywords: NO [LIMIT] when none is left). The
 * changed messages get an untagged FETCH (FLAGS, plus UID for UID STORE
 * and MODSEQ once CONDSTORE is on; with .SILENT only MODSEQ under
 * CONDSTORE); messages that failed UNCHANGEDSINCE are named in
 * "OK [MODIFIED set]". Other sessions learn the change at their next
 * sync point (imapd_report). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd.h"
#include "imapfetch.h"
#include "log.h"
#include "mem.h"

/* The most flags one STORE names. */
#define STORE_MAX_FLAGS 64

struct store_req {
	struct imapbox_store st;
	const char *keywords[STORE_MAX_FLAGS];
	bool silent;
};

static const struct {
	const char *name;
	unsigned bit;
} system_flags[] = {
	{ "\\Seen", IMAPMSG_SEEN },	{ "\\Answered", IMAPMSG_ANSWERED },
	{ "\\Flagged", IMAPMSG_FLAGGED }, { "\\Deleted", IMAPMSG_DELETED },
	{ "\\Draft", IMAPMSG_DRAFT },	{ "\\Recent", 0 },
};

/* add_flag: one flag atom into req; false (after BAD) when invalid. */
static bool add_flag(struct session *s, struct store_req *req, const struct imapcmd_arg *a)
{
	if (a->type != IMAPCMD_ATOM) {
		imapd_bad(s, "STORE: a flag is an atom.");
		return false;
	}
	if (a->str[0] == '\\') {
		for (size_t i = 0; i < sizeof(system_flags) / sizeof(system_flags[0]); i++)
			if (strcasecmp(a->str, system_flags[i].name) == 0) {
				req->st.flags |= system_flags[i].bit;
				return true;
			}
		imapd_bad(s, "STORE: unknown system flag.");
		return false;
	}
	if (!imapbox_keyword_valid(a->str)) {
		imapd_bad(s, "STORE: invalid keyword.");
		return false;
	}
	if (req->st.nkeywords == STORE_MAX_FLAGS) {
		imapd_bad(s, "STORE: too many keywords.");
		return false;
	}
	req->keywords[req->st.nkeywords++] = a->str;
	return true;
}

/* parse_item: "[+|-]FLAGS[.SILENT]". */
static bool parse_item(struct session *s, const struct imapcmd_arg *a, struct store_req *req)
{
	const char *p = a->type == IMAPCMD_ATOM ? a->str : "";

	req->st.op = IMAPBOX_STORE_SET;
	if (*p == '+' || *p == '-') {
		req->st.op = *p == '+' ? IMAPBOX_STORE_ADD : IMAPBOX_STORE_REMOVE;
		p++;
	}
	if (strcasecmp(p, "FLAGS.SILENT") == 0)
		req->silent = true;
	else if (strcasecmp(p, "FLAGS") != 0) {
		imapd_bad(s, "STORE: the item is FLAGS, +FLAGS or -FLAGS (.SILENT).");
		return false;
	}
	return true;
}

/* parse_modifiers: "(UNCHANGEDSINCE n)". */
static bool parse_modifiers(struct session *s, const struct imapcmd_arg *a, struct store_req *req)
{
	char *end;
	unsigned long long v;

	if (a->count != 2 || !imapcmd_is_atom(&a->list[0], "UNCHANGEDSINCE") ||
	    a->list[1].type != IMAPCMD_ATOM) {
		imapd_bad(s, "STORE: the only modifier is (UNCHANGEDSINCE n).");
		return false;
	}
	errno = 0;
	v = strtoull(a->list[1].str, &end, 10);
	if (*end != '\0' || errno != 0 || a->list[1].str[0] < '0' || a->list[1].str[0] > '9' ||
	    v > (unsigned long long)INT64_MAX) {
		imapd_bad(s, "STORE: UNCHANGEDSINCE takes a number.");
		return false;
	}
	/* 0 (RFC 7162 3.1.3): every message fails the test; imapbox's 0
	 * means "none", so imapd_cmd_store answers it itself */
	req->st.unchangedsince = v;
	return true;
}

static bool parse_store(struct session *s, const struct imapcmd *cmd, struct store_req *req,
			bool *has_unchanged_r, bool *zero_r)
{
	size_t i = 1;

	*has_unchanged_r = false;
	*zero_r = false;
	if (i < cmd->count && cmd->args[i].type == IMAPCMD_LIST) {
		if (!parse_modifiers(s, &cmd->args[i], req))
			return false;
		*has_unchanged_r = true;
		*zero_r = req->st.unchangedsince == 0;
		i++;
	}
	if (i + 2 > cmd->count) {
		imapd_bad(s, "Syntax: STORE set [(UNCHANGEDSINCE n)] item flags");
		return false;
	}
	if (!parse_item(s, &cmd->args[i++], req))
		return false;
	if (i + 1 == cmd->count && cmd->args[i].type == IMAPCMD_LIST) {
		for (size_t k = 0; k < cmd->args[i].count; k++)
			if (!add_flag(s, req, &cmd->args[i].list[k]))
				return false;
	} else {
		for (; i < cmd->count; i++)
			if (!add_flag(s, req, &cmd->args[i]))
				return false;
	}
	req->st.keywords = req->keywords;
	return true;
}

/* reply_changes: the untagged FETCH of each changed message. */
static void reply_changes(struct session *s, const struct imapbox_store_result *res, bool uid,
			  bool silent)
{
	buf *out = buf_new(128);

	for (size_t i = 0; i < res->nchanged; i++) {
		uint32_t seq = res->changed_seqs[i];
		const char *sep = "";

		if (silent && !s->condstore)
			break;
		buf_reset(out);
		buf_printf(out, "%u FETCH (", seq);
		if (uid) {
			buf_printf(out, "UID %u", imapbox_uid(s->box, seq));
			sep = " ";
		}
		if (!silent) {
			buf_printf(out, "%sFLAGS ", sep);
			imapbox_flags_text(s->box, seq, out);
			sep = " ";
		}
		if (s->condstore)
			buf_printf(out, "%sMODSEQ (%llu)", sep,
				   (unsigned long long)imapbox_modseq(s->box, seq));
		buf_putc(out, ')');
		imapd_untagged(s, "%s", buf_cstr(out));
	}
	buf_free(&out);
}

/* modified_code: "MODIFIED set" of the messages that failed the test. */
static char *modified_code(struct session *s, const uint32_t *seqs, size_t n, bool uid)
{
	imapseq *set = imapseq_new();
	buf *out = buf_new(64);
	char *code;

	for (size_t i = 0; i < n; i++)
		imapseq_add(set, uid ? imapbox_uid(s->box, seqs[i]) : seqs[i]);
	buf_puts(out, "MODIFIED ");
	imapseq_format(out, set);
	code = xstrdup(buf_cstr(out));
	buf_free(&out);
	imapseq_free(&set);
	return code;
}

static void store_failed(struct session *s, int r, char *err)
{
	switch (r) {
	case IMAPBOX_READONLY: imapd_no(s, "READ-ONLY", "The folder is read-only."); break;
	case IMAPBOX_LIMIT: imapd_no(s, "LIMIT", "No room for another keyword in this folder."); break;
	case IMAPBOX_BAD: imapd_bad(s, "STORE: invalid keyword."); break;
	default:
		log_warn("%s: user=%s: STORE: %s", s->client, s->login, err != NULL ? err : "?");
		imapd_no(s, "UNAVAILABLE", "Cannot store the flags now, try again later.");
	}
}

/* store_zero: UNCHANGEDSINCE 0: nothing changes, every message fails. */
static void store_zero(struct session *s, const uint32_t *seqs, size_t n, bool uid)
{
	char *code = n > 0 ? modified_code(s, seqs, n, uid) : NULL;

	imapd_tagged(s, "OK", code, "Conditional STORE completed.");
	free(code);
}

void imapd_cmd_store(struct session *s, const struct imapcmd *cmd)
{
	bool uid = strncasecmp(cmd->name, "UID", 3) == 0, cond, zero;
	struct store_req req;
	struct imapbox_store_result res;
	uint32_t *seqs = NULL;
	size_t n = 0;
	char *err = NULL, *code = NULL;
	int r;

	memset(&req, 0, sizeof(req));
	if (cmd->count < 3) {
		imapd_bad(s, "Syntax: STORE set [(UNCHANGEDSINCE n)] item flags");
		return;
	}
	if (!parse_store(s, cmd, &req, &cond, &zero) ||
	    !imapd_msgset(s, &cmd->args[0], uid, &seqs, &n))
		return;
	if (cond)
		s->condstore = true;
	if (!imapbox_read_write(s->box)) {
		imapd_no(s, "READ-ONLY", "The folder is read-only.");
	} else if (zero) {
		store_zero(s, seqs, n, uid);
	} else if ((r = imapbox_store(s->box, seqs, n, &req.st, &res, &err)) != IMAPBOX_OK) {
		store_failed(s, r, err);
	} else {
		reply_changes(s, &res, uid, req.silent);
		if (res.nmodified > 0)
			code = modified_code(s, res.modified_seqs, res.nmodified, uid);
		imapd_report(s, false);
		imapd_tagged(s, "OK", code, "%sStore completed.", uid ? "UID " : "");
	}
	free(code);
	free(err);
	free(seqs);
}
