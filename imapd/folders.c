/* folders.c: the folder commands of the authenticated state on
 * lib/mfolder (the user's Maildir++ namespace): LIST with LIST-EXTENDED
 * (RFC 5258) selection and return options, CHILDREN (RFC 3348) and
 * SPECIAL-USE (RFC 6154) attributes; LSUB; CREATE with CREATE-SPECIAL-USE's
 * USE (...); DELETE; RENAME; SUBSCRIBE; UNSUBSCRIBE. Names are checked by
 * mfolder (nothing can leave the Maildir) and refused with NO and the
 * code mfolder gives; syntax errors get BAD. */
#include <stdlib.h>
#include <string.h>

#include "imapd.h"
#include "log.h"
#include "mem.h"
#include "mfolder.h"

/* ---- shared ---- */

/* folder_name: the canonical name of argument a into canon; false after
 * the reply (BAD for a non-string, NO for a refused name). */
static bool folder_name(struct session *s, const struct imapcmd_arg *a, buf *canon)
{
	const char *reason;

	if (!imapcmd_is_astring(a)) {
		imapd_bad(s, "A folder name is a string.");
		return false;
	}
	if (mfolder_name_check(a->str, a->len, canon, &reason) < 0) {
		imapd_no(s, "CANNOT", "%s", reason);
		return false;
	}
	return true;
}

/* done: the reply of a change; TEMP is logged with its detail. */
static void done(struct session *s, const char *what, enum mfolder_result r, const char *reason,
		 char *err)
{
	if (r == MFOLDER_OK)
		imapd_ok(s, "%s completed.", what);
	else
		imapd_no(s, mfolder_result_code(r), "%s", reason != NULL ? reason : "Failed.");
	if (r == MFOLDER_ERR_TEMP)
		log_warn("%s: user=%s: %s: %s", s->client, s->login, what, err != NULL ? err : "?");
	free(err);
}

/* ---- LIST / LSUB ---- */

struct list_args {
	unsigned select, ret;
	unsigned status;   /* RETURN (STATUS (items)) of LIST-STATUS, 0: none */
	bool extended;     /* LIST-EXTENDED syntax: \NonExistent, CHILDINFO */
	const struct imapcmd_arg *ref;
	const struct imapcmd_arg *pats; /* one pattern, or a list */
};

static const struct {
	const char *name;
	unsigned bit;
} select_opts[] = {
	{ "SUBSCRIBED", MFOLDER_SEL_SUBSCRIBED },
	{ "REMOTE", MFOLDER_SEL_REMOTE },
	{ "RECURSIVEMATCH", MFOLDER_SEL_RECURSIVEMATCH },
	{ "SPECIAL-USE", MFOLDER_SEL_SPECIAL_USE },
}, return_opts[] = {
	{ "CHILDREN", MFOLDER_RET_CHILDREN },
	{ "SUBSCRIBED", MFOLDER_RET_SUBSCRIBED },
	{ "SPECIAL-USE", MFOLDER_RET_SPECIAL_USE },
};

/* options: the bits of an option list; false for an unknown option. */
static bool options(const struct imapcmd_arg *list, bool selection, unsigned *bits_r)
{
	size_t n = selection ? sizeof(select_opts) / sizeof(select_opts[0])
			     : sizeof(return_opts) / sizeof(return_opts[0]);

	*bits_r = 0;
	for (size_t i = 0; i < list->count; i++) {
		bool known = false;

		for (size_t j = 0; j < n && !known; j++) {
			const char *name = selection ? select_opts[j].name : return_opts[j].name;

			if (imapcmd_is_atom(&list->list[i], name)) {
				*bits_r |= selection ? select_opts[j].bit : return_opts[j].bit;
				known = true;
			}
		}
		if (!known)
			return false;
	}
	return true;
}

/* return_options: the RETURN list, with LIST-STATUS's "STATUS (items)"
 * (RFC 5819) taken out of it first. */
static bool return_options(const struct imapcmd_arg *list, struct list_args *la)
{
	struct imapcmd_arg rest[16];
	struct imapcmd_arg plain = *list;
	size_t n = 0;

	for (size_t i = 0; i < list->count; i++) {
		const struct imapcmd_arg *o = &list->list[i];

		if (imapcmd_is_atom(o, "STATUS")) {
			if (i + 1 >= list->count || o[1].type != IMAPCMD_LIST || o[1].count == 0 ||
			    !imapd_status_items(&o[1], &la->status))
				return false;
			i++;
		} else if (n < sizeof(rest) / sizeof(rest[0])) {
			rest[n++] = *o;
		} else {
			return false;
		}
	}
	plain.list = rest;
	plain.count = n;
	return options(&plain, false, &la->ret);
}

/* list_parse: LIST [(sel)] ref pattern|(patterns) [RETURN (opts)]. */
static const char *list_parse(const struct imapcmd *cmd, struct list_args *la)
{
	const struct imapcmd_arg *a = cmd->args;
	size_t n = cmd->count, i = 0;

	memset(la, 0, sizeof(*la));
	if (n > 0 && a[0].type == IMAPCMD_LIST) {
		if (!options(&a[0], true, &la->select))
			return "Unknown LIST selection option.";
		la->extended = true;
		i++;
	}
	if (n < i + 2)
		return "Syntax: LIST [(options)] reference pattern [RETURN (options)]";
	la->ref = &a[i];
	la->pats = &a[i + 1];
	i += 2;
	if (!imapcmd_is_astring(la->ref))
		return "The reference is a string.";
	if (la->pats->type == IMAPCMD_LIST) {
		la->extended = true;
		if (la->pats->count == 0)
			return "Empty pattern list.";
		for (size_t j = 0; j < la->pats->count; j++)
			if (!imapcmd_is_astring(&la->pats->list[j]))
				return "A pattern is a string.";
	} else if (!imapcmd_is_astring(la->pats)) {
		return "The pattern is a string.";
	}
	if (i < n) {
		if (n != i + 2 || !imapcmd_is_atom(&a[i], "RETURN") || a[i + 1].type != IMAPCMD_LIST)
			return "Syntax: ... RETURN (options)";
		if (!return_options(&a[i + 1], la))
			return "Unknown or malformed LIST return option.";
		la->extended = true;
	}
	if ((la->select & MFOLDER_SEL_RECURSIVEMATCH) &&
	    !(la->select & (MFOLDER_SEL_SUBSCRIBED | MFOLDER_SEL_SPECIAL_USE)))
		return "RECURSIVEMATCH needs another selection option.";
	return NULL;
}

/* list_root: LIST ref "": the hierarchy delimiter and the root name. */
static void list_root(struct session *s, const struct imapcmd_arg *ref)
{
	buf *root = buf_new(64);
	buf *line = buf_new(128);

	mfolder_list_root(ref->str, ref->len, root);
	buf_puts(line, "LIST (\\Noselect) \".\" ");
	mfolder_quote(line, buf_cstr(root));
	imapd_untagged(s, "%s", buf_cstr(line));
	buf_free(&root);
	buf_free(&line);
	imapd_ok(s, "List completed.");
}

static void run_list(struct session *s, const char *verb, const struct list_args *la)
{
	mfolder_match *m = mfolder_match_new(la->ref->str, la->ref->len);
	mfolder_list *list = NULL;
	const char *reason = NULL;
	char *err = NULL;
	enum mfolder_result r;
	size_t np = la->pats->type == IMAPCMD_LIST ? la->pats->count : 1;

	for (size_t i = 0; i < np && reason == NULL; i++) {
		const struct imapcmd_arg *p = la->pats->type == IMAPCMD_LIST ? &la->pats->list[i]
									     : la->pats;

		mfolder_match_add(m, p->str, p->len, &reason);
	}
	if (reason != NULL) {
		mfolder_match_free(&m);
		imapd_bad(s, "%s", reason);
		return;
	}
	r = mfolder_list_run(s->mf, m, la->select, la->ret, &list, &err);
	mfolder_match_free(&m);
	if (r != MFOLDER_OK) {
		done(s, verb, r, r == MFOLDER_ERR_LIMIT ? "Too many folders." : "Cannot list now.",
		     err);
		return;
	}
	for (size_t i = 0; i < mfolder_list_count(list); i++) {
		buf *out = buf_new(128);

		const struct mfolder_entry *e = mfolder_list_entry(list, i);

		mfolder_format(out, verb, e, la->extended ? MFOLDER_FMT_EXTENDED : 0);
		strm_write(s->stream, buf_cstr(out), buf_len(out));
		buf_free(&out);
		if (la->status != 0 && !(e->attrs & (MFOLDER_NOSELECT | MFOLDER_NONEXISTENT)))
			imapd_list_status(s, e->name, la->status);
	}
	mfolder_list_free(&list);
	imapd_ok(s, "%s completed.", verb[1] == 'S' ? "Lsub" : "List");
}

void imapd_cmd_list(struct session *s, const struct imapcmd *cmd)
{
	struct list_args la;
	const char *why = list_parse(cmd, &la);

	if (why != NULL) {
		imapd_bad(s, "%s", why);
		return;
	}
	if (la.pats->type != IMAPCMD_LIST && la.pats->len == 0 && !la.extended) {
		list_root(s, la.ref);
		return;
	}
	run_list(s, "LIST", &la);
}

void imapd_cmd_lsub(struct session *s, const struct imapcmd *cmd)
{
	struct list_args la = { 0 };

	if (cmd->count != 2 || !imapcmd_is_astring(&cmd->args[0]) ||
	    !imapcmd_is_astring(&cmd->args[1])) {
		imapd_bad(s, "Syntax: LSUB reference pattern");
		return;
	}
	la.ref = &cmd->args[0];
	la.pats = &cmd->args[1];
	la.ret = MFOLDER_LSUB;
	run_list(s, "LSUB", &la);
}

/* ---- changes ---- */

/* use_attrs: CREATE's "(USE (\Sent ...))" (RFC 6154); false after BAD. */
static bool use_attrs(struct session *s, const struct imapcmd_arg *a, unsigned *bits_r,
		      bool *bad_attr_r)
{
	*bits_r = 0;
	*bad_attr_r = false;
	if (a->type != IMAPCMD_LIST || a->count != 2 || !imapcmd_is_atom(&a->list[0], "USE") ||
	    a->list[1].type != IMAPCMD_LIST) {
		imapd_bad(s, "Syntax: CREATE name [(USE (attributes))]");
		return false;
	}
	for (size_t i = 0; i < a->list[1].count; i++) {
		const struct imapcmd_arg *f = &a->list[1].list[i];
		unsigned bit = f->type == IMAPCMD_ATOM ? mfolder_special_parse(f->str, f->len) : 0;

		if (bit == 0)
			*bad_attr_r = true;
		*bits_r |= bit;
	}
	return true;
}

void imapd_cmd_create(struct session *s, const struct imapcmd *cmd)
{
	buf *canon = buf_new(64);
	const char *reason = NULL;
	char *err = NULL, *name;
	unsigned special = 0;
	bool bad_attr = false;
	enum mfolder_result r;

	if (cmd->count < 1 || cmd->count > 2 || !imapcmd_is_astring(&cmd->args[0])) {
		imapd_bad(s, "Syntax: CREATE name [(USE (attributes))]");
		goto out;
	}
	if (cmd->count == 2 && !use_attrs(s, &cmd->args[1], &special, &bad_attr))
		goto out;
	if (bad_attr) {
		imapd_no(s, "USEATTR", "Unknown special-use attribute.");
		goto out;
	}
	/* RFC 3501 6.3.3: a trailing separator only says a child will follow */
	name = xstrndup(cmd->args[0].str, cmd->args[0].len);
	if (strlen(name) > 1 && name[strlen(name) - 1] == MFOLDER_SEP)
		name[strlen(name) - 1] = '\0';
	{
		struct imapcmd_arg a = cmd->args[0];

		a.str = name;
		a.len = strlen(name);
		if (!folder_name(s, &a, canon)) {
			free(name);
			goto out;
		}
	}
	free(name);
	r = mfolder_create(s->mf, buf_cstr(canon), special, &reason, &err);
	done(s, "Create", r, reason, err);
out:
	buf_free(&canon);
}

void imapd_cmd_delete(struct session *s, const struct imapcmd *cmd)
{
	buf *canon = buf_new(64);
	const char *reason = NULL;
	char *err = NULL;

	if (cmd->count != 1)
		imapd_bad(s, "Syntax: DELETE name");
	else if (folder_name(s, &cmd->args[0], canon))
		done(s, "Delete", mfolder_delete(s->mf, buf_cstr(canon), &reason, &err), reason,
		     err);
	buf_free(&canon);
}

void imapd_cmd_rename(struct session *s, const struct imapcmd *cmd)
{
	buf *from = buf_new(64), *to = buf_new(64);
	const char *reason = NULL;
	char *err = NULL;

	if (cmd->count != 2)
		imapd_bad(s, "Syntax: RENAME from to");
	else if (folder_name(s, &cmd->args[0], from) && folder_name(s, &cmd->args[1], to))
		done(s, "Rename",
		     mfolder_rename(s->mf, buf_cstr(from), buf_cstr(to), &reason, &err), reason,
		     err);
	buf_free(&from);
	buf_free(&to);
}

static void subscribe(struct session *s, const struct imapcmd *cmd, bool on)
{
	buf *canon = buf_new(64);
	const char *reason = NULL;
	char *err = NULL;

	if (cmd->count != 1)
		imapd_bad(s, "Syntax: %s name", on ? "SUBSCRIBE" : "UNSUBSCRIBE");
	else if (folder_name(s, &cmd->args[0], canon))
		done(s, on ? "Subscribe" : "Unsubscribe",
		     mfolder_subscribe(s->mf, buf_cstr(canon), on, &reason, &err), reason, err);
	buf_free(&canon);
}

void imapd_cmd_subscribe(struct session *s, const struct imapcmd *cmd)
{
	subscribe(s, cmd, true);
}

void imapd_cmd_unsubscribe(struct session *s, const struct imapcmd *cmd)
{
	subscribe(s, cmd, false);
}
