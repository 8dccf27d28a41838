/* quota.c: QUOTA (RFC 9208) over the Maildir++ quota that local enforces:
 * the limit is the login's virtual_mailbox_quota_maps entry or
 * mailbox_quota (lib/resolve), the usage the maildirsize file of the
 * Maildir root (lib/md), one quota root "" for all of a user's folders.
 * GETQUOTAROOT and GETQUOTA report STORAGE in units of 1024 octets;
 * SETQUOTA is refused (limits are the administrator's: mailctl user add
 * --quota). Also the [OVERQUOTA] check APPEND makes before its "+".
 * Count limits ("C" in maildirsize) are not enforced by Postern, so no
 * MESSAGE resource is reported. */
#include <stdlib.h>
#include <string.h>

#include "imapd.h"
#include "log.h"
#include "md.h"
#include "mem.h"

/* The one quota root of a user (RFC 9208 examples use ""). */
#define QUOTA_ROOT ""

bool imapd_quota_limit(struct session *s, long long *bytes_r)
{
	char *why = NULL;

	if (resolver_mailbox_quota(s->srv->resolver, s->login, bytes_r, &why) == RESOLVE_OK)
		return true;
	log_warn("%s: user=%s: cannot look up the quota: %s", s->client, s->login,
		 why != NULL ? why : "?");
	free(why);
	imapd_no(s, "UNAVAILABLE", "Cannot look up the quota now, try again later.");
	return false;
}

/* usage: the bytes (and messages) maildirsize counts; false after NO. */
static bool usage(struct session *s, long long limit, long long *bytes_r, long long *count_r)
{
	char *err = NULL;

	if (md_quota_usage(s->maildir, limit, bytes_r, count_r, &err) == 0)
		return true;
	log_warn("%s: user=%s: cannot read maildirsize: %s", s->client, s->login,
		 err != NULL ? err : "?");
	free(err);
	imapd_no(s, "UNAVAILABLE", "Cannot read the quota usage now, try again later.");
	return false;
}

bool imapd_quota_room(struct session *s, long long size)
{
	long long limit, bytes, count;

	if (!imapd_quota_limit(s, &limit))
		return false;
	if (limit <= 0)
		return true;
	if (!usage(s, limit, &bytes, &count))
		return false;
	if (bytes + size <= limit)
		return true;
	log_info("%s: user=%s: over quota: %lld + %lld > %lld bytes", s->client, s->login, bytes,
		 size, limit);
	imapd_no(s, "OVERQUOTA", "Quota exceeded (mailbox full).");
	return false;
}

/* quota_line: "* QUOTA "" (STORAGE used limit)"; false after NO. */
static bool quota_line(struct session *s, long long limit)
{
	long long bytes, count;

	if (!usage(s, limit, &bytes, &count))
		return false;
	imapd_untagged(s, "QUOTA \"%s\" (STORAGE %lld %lld)", QUOTA_ROOT, bytes / 1024,
		       limit / 1024);
	return true;
}

void imapd_cmd_getquotaroot(struct session *s, const struct imapcmd *cmd)
{
	buf *canon, *line;
	const char *reason;
	long long limit;
	int exists;

	if (cmd->count != 1 || !imapcmd_is_astring(&cmd->args[0])) {
		imapd_bad(s, "Syntax: GETQUOTAROOT name");
		return;
	}
	canon = buf_new(64);
	if (mfolder_name_check(cmd->args[0].str, cmd->args[0].len, canon, &reason) < 0) {
		imapd_no(s, "CANNOT", "%s", reason);
	} else if ((exists = mfolder_exists(s->mf, buf_cstr(canon))) <= 0) {
		if (exists == 0)
			imapd_no(s, "NONEXISTENT", "No such folder.");
		else
			imapd_no(s, "UNAVAILABLE", "Cannot open the folder now.");
	} else if (imapd_quota_limit(s, &limit)) {
		line = buf_new(64);
		buf_puts(line, "QUOTAROOT ");
		mfolder_quote(line, buf_cstr(canon));
		if (limit > 0)
			buf_puts(line, " \"" QUOTA_ROOT "\"");
		imapd_untagged(s, "%s", buf_cstr(line));
		buf_free(&line);
		if (limit <= 0 || quota_line(s, limit))
			imapd_ok(s, "Getquotaroot completed.");
	}
	buf_free(&canon);
}

void imapd_cmd_getquota(struct session *s, const struct imapcmd *cmd)
{
	long long limit;

	if (cmd->count != 1 || !imapcmd_is_astring(&cmd->args[0])) {
		imapd_bad(s, "Syntax: GETQUOTA root");
		return;
	}
	if (!imapd_quota_limit(s, &limit))
		return;
	if (limit <= 0 || strcmp(cmd->args[0].str, QUOTA_ROOT) != 0) {
		imapd_no(s, "NONEXISTENT", "No such quota root.");
		return;
	}
	if (quota_line(s, limit))
		imapd_ok(s, "Getquota completed.");
}

void imapd_cmd_setquota(struct session *s, const struct imapcmd *cmd)
{
	if (cmd->count != 2 || !imapcmd_is_astring(&cmd->args[0]) ||
	    cmd->args[1].type != IMAPCMD_LIST) {
		imapd_bad(s, "Syntax: SETQUOTA root (resource limit ...)");
		return;
	}
	log_info("%s: user=%s: SETQUOTA refused", s->client, s->login);
	imapd_no(s, "NOPERM", "Quotas are set by the administrator.");
}
