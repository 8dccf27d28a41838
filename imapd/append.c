/* append.c: APPEND (RFC 3501 6.3.11) with UIDPLUS's [APPENDUID] (RFC
 * 4315) and APPENDLIMIT (RFC 7889). When the reader stops at the
 * message's synchronizing literal, the command so far is checked before
 * "+" is sent (imapcmd_partial): syntax, the target folder ([TRYCREATE]
 * when missing), the Maildir++ quota ([OVERQUOTA]); a literal over the
 * APPENDLIMIT was refused by lib/imapcmd already. The message is then
 * streamed straight into a file in the target folder's tmp/ with its
 * CRLFs turned into LFs, as local stores mail (so sizes agree with
 * RFC822.SIZE), never held whole in memory; lib/imapbox takes the file
 * over (rename into new/ or cur/, UID at once). A non-synchronizing
 * literal (LITERAL+) is streamed the same way when the command looks
 * good (the reader stops at it too: imapcmd_pause_nonsync); otherwise
 * the reader gathers it (up to the APPENDLIMIT) and the command's end
 * gives the error. A write error (a full disk) removes the file: nothing partial is
 * ever delivered. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dot.h"
#include "fsutil.h"
#include "imapd.h"
#include "imapdate.h"
#include "log.h"
#include "md.h"
#include "mem.h"

/* The converted bytes gathered before each write to the tmp file. */
#define APPEND_WRITE_CHUNK 65536

/* An APPEND's message on its way into the target folder's tmp/. */
struct imapd_append {
	char *dir;       /* the target folder's directory */
	char *tmp_path;  /* its tmp/ file */
	int fd;
	int error;       /* errno of the first failed write, 0 */
	struct dot_lf_decoder lf;
	buf *out;        /* converted bytes not yet written */
};

/* What APPEND's arguments before the message say. */
struct append_args {
	unsigned flags;
	const char **keywords; /* pointers into the command */
	size_t nkeywords;
	time_t date;           /* 0: now */
};

static const struct {
	const char *name;
	unsigned bit;
} system_flags[] = {
	{ "\\Seen", IMAPMSG_SEEN },	  { "\\Answered", IMAPMSG_ANSWERED },
	{ "\\Flagged", IMAPMSG_FLAGGED }, { "\\Deleted", IMAPMSG_DELETED },
	{ "\\Draft", IMAPMSG_DRAFT },
};

/* ---- arguments ---- */

/* flag_list: the flags of a "(\Seen work)" list; a reason for BAD. */
static const char *flag_list(const struct imapcmd_arg *list, struct append_args *aa)
{
	aa->keywords = xcalloc(list->count + 1, sizeof(*aa->keywords));
	for (size_t i = 0; i < list->count; i++) {
		const struct imapcmd_arg *f = &list->list[i];
		bool found = false;

		if (f->type != IMAPCMD_ATOM)
			return "A flag is an atom.";
		for (size_t j = 0; j < sizeof(system_flags) / sizeof(system_flags[0]); j++) {
			if (strcasecmp(f->str, system_flags[j].name) == 0) {
				aa->flags |= system_flags[j].bit;
				found = true;
			}
		}
		if (found)
			continue;
		if (f->str[0] == '\\')
			return "Unknown or unsettable system flag.";
		if (!imapbox_keyword_valid(f->str))
			return "Invalid keyword.";
		aa->keywords[aa->nkeywords++] = f->str;
	}
	return NULL;
}

/* parse_args: args[1..n) (between the folder and the message): an
 * optional flag list, then an optional date-time. A reason for BAD. */
static const char *parse_args(const struct imapcmd_arg *args, size_t n, struct append_args *aa)
{
	size_t i = 1;
	int zone;

	memset(aa, 0, sizeof(*aa));
	if (n < 1 || !imapcmd_is_astring(&args[0]))
		return "Syntax: APPEND name [(flags)] [date-time] literal";
	if (i < n && args[i].type == IMAPCMD_LIST) {
		const char *why = flag_list(&args[i], aa);

		if (why != NULL)
			return why;
		i++;
	}
	if (i < n) {
		if (args[i].type != IMAPCMD_QUOTED ||
		    imapdate_parse_time(args[i].str, args[i].len, &aa->date, &zone) < 0)
			return "Invalid date-time (\"dd-Mon-yyyy hh:mm:ss +zzzz\").";
		i++;
	}
	return i == n ? NULL : "Syntax: APPEND name [(flags)] [date-time] literal";
}

static void args_free(struct append_args *aa)
{
	free(aa->keywords);
	aa->keywords = NULL;
}

char *imapd_target_dir(struct session *s, const struct imapcmd_arg *name)
{
	buf *canon = buf_new(64);
	const char *reason;
	char *dir = NULL;
	int exists;

	if (mfolder_name_check(name->str, name->len, canon, &reason) < 0)
		imapd_no(s, "CANNOT", "%s", reason);
	else if ((exists = mfolder_exists(s->mf, buf_cstr(canon))) == 0)
		imapd_no(s, "TRYCREATE", "No such folder.");
	else if (exists < 0)
		imapd_no(s, "UNAVAILABLE", "Cannot open the folder now, try again later.");
	else
		dir = mfolder_path(s->mf, buf_cstr(canon));
	buf_free(&canon);
	return dir;
}

/* ---- the tmp file ---- */

static void append_free(struct imapd_append **ap)
{
	if (*ap == NULL)
		return;
	if ((*ap)->fd >= 0)
		close((*ap)->fd);
	free((*ap)->dir);
	free((*ap)->tmp_path);
	buf_free(&(*ap)->out);
	free(*ap);
	*ap = NULL;
}

void imapd_append_discard(struct session *s)
{
	if (s->append == NULL)
		return;
	if (unlink(s->append->tmp_path) < 0 && errno != ENOENT)
		log_warn("%s: cannot remove %s: %s", s->client, s->append->tmp_path,
			 strerror(errno));
	append_free(&s->append);
}

/* append_open: a fresh file in dir's tmp/ (dir taken over); NULL with
 * errno when it cannot be made. */
static struct imapd_append *append_open(char *dir)
{
	struct imapd_append *ap = xcalloc(1, sizeof(*ap));
	char *name = md_unique_name();
	int saved;

	ap->dir = dir;
	ap->tmp_path = xasprintf("%s/tmp/%s", dir, name);
	free(name);
	ap->fd = open(ap->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (ap->fd < 0) {
		saved = errno;
		append_free(&ap);
		errno = saved;
		return NULL;
	}
	ap->out = buf_new(APPEND_WRITE_CHUNK + 1024);
	dot_lf_decoder_init(&ap->lf);
	return ap;
}

/* append_start: append_open or the NO. */
static struct imapd_append *append_start(struct session *s, char *dir)
{
	char *path = xasprintf("%s/tmp", dir);
	struct imapd_append *ap = append_open(dir);
	bool full = errno == ENOSPC || errno == EDQUOT;

	if (ap == NULL) {
		log_warn("%s: user=%s: APPEND: cannot create a file in %s: %s", s->client,
			 s->login, path, strerror(errno));
		imapd_no(s, full ? NULL : "UNAVAILABLE", "Cannot store the message now%s.",
			 full ? ": disk full" : ", try again later");
	}
	free(path);
	return ap;
}

static void append_flush(struct imapd_append *ap)
{
	if (ap->error == 0 && buf_len(ap->out) > 0 &&
	    fs_write_all(ap->fd, buf_cstr(ap->out), buf_len(ap->out)) < 0)
		ap->error = errno != 0 ? errno : EIO;
	buf_reset(ap->out);
}

/* append_sink: the message's bytes as they arrive (lib/imapcmd). After a
 * write error the rest is dropped; the command's end answers NO. */
static void append_sink(void *ctx, const char *data, size_t len)
{
	struct imapd_append *ap = ctx;

	if (ap->error != 0)
		return;
	dot_lf_decode(&ap->lf, data, len, ap->out);
	if (buf_len(ap->out) >= APPEND_WRITE_CHUNK)
		append_flush(ap);
}

/* append_finish: the last bytes written and the file closed; 0 or errno. */
static int append_finish(struct imapd_append *ap)
{
	dot_lf_finish(&ap->lf, ap->out);
	append_flush(ap);
	if (close(ap->fd) < 0 && ap->error == 0)
		ap->error = errno;
	ap->fd = -1;
	return ap->error;
}

/* ---- before "+" ---- */

/* message_literal: whether the literal announced last is an APPEND's
 * message (not its folder name or a date sent as a literal). */
static bool message_literal(const struct imapcmd *p)
{
	const struct imapcmd_arg *last;

	if (p->count < 2 || p->count > 4 || strcasecmp(p->name, "APPEND") != 0)
		return false;
	last = &p->args[p->count - 1];
	return last->type == IMAPCMD_LITERAL && last->len == 0;
}

/* refuse: the command answered before "+": no literal follows. */
static bool refuse(struct session *s)
{
	imapcmd_refuse_literal(s->reader);
	return true;
}

/* stream_nonsync: a {n+} message (LITERAL+) cannot be refused: when the
 * command looks good it is streamed to a tmp file; otherwise the reader
 * gathers it and the command's end gives the error. */
static void stream_nonsync(struct session *s, const struct imapcmd *p)
{
	struct append_args aa;
	const char *why = parse_args(p->args, p->count - 1, &aa);
	buf *canon = buf_new(64);
	const char *reason;

	args_free(&aa);
	if (why == NULL &&
	    mfolder_name_check(p->args[0].str, p->args[0].len, canon, &reason) == 0 &&
	    mfolder_exists(s->mf, buf_cstr(canon)) == 1) {
		s->append = append_open(mfolder_path(s->mf, buf_cstr(canon)));
		if (s->append != NULL &&
		    imapcmd_stream_literal(s->reader, append_sink, s->append) < 0)
			log_panic("imapd: APPEND literal cannot be streamed");
	}
	buf_free(&canon);
}

bool imapd_literal_announced(struct session *s)
{
	const struct imapcmd *p = imapcmd_partial(s->reader);
	struct append_args aa;
	const char *why;
	char *dir;

	if ((s->state != IST_AUTH && s->state != IST_SELECTED) || !message_literal(p))
		return false;
	imapd_append_discard(s);
	if (!imapcmd_literal_sync(s->reader)) {
		stream_nonsync(s, p);
		return false;
	}
	free(s->tag);
	s->tag = xstrdup(p->tag);
	why = parse_args(p->args, p->count - 1, &aa);
	args_free(&aa);
	if (why != NULL) {
		imapd_bad(s, "%s", why);
		return refuse(s);
	}
	dir = imapd_target_dir(s, &p->args[0]);
	if (dir == NULL)
		return refuse(s);
	if (!imapd_quota_room(s, (long long)imapcmd_literal_size(s->reader))) {
		free(dir);
		return refuse(s);
	}
	s->append = append_start(s, dir);
	if (s->append == NULL)
		return refuse(s);
	if (imapcmd_stream_literal(s->reader, append_sink, s->append) < 0)
		log_panic("imapd: APPEND literal cannot be streamed");
	return false;
}

/* ---- the command ---- */

/* write_literal: a message the reader holds (LITERAL+) into a tmp file. */
static bool write_literal(struct session *s, const struct imapcmd_arg *msg)
{
	char *dir = imapd_target_dir(s, &imapcmd_command(s->reader)->args[0]);

	if (dir == NULL)
		return false;
	s->append = append_start(s, dir);
	if (s->append == NULL)
		return false;
	append_sink(s->append, msg->str, msg->len);
	return true;
}

static void append_reply(struct session *s, int r, uint32_t uidvalidity, uint32_t uid,
			 const char *err)
{
	switch (r) {
	case IMAPBOX_OK:
		/* the selected folder's new EXISTS, and what else changed */
		imapd_report_changes(s);
		if (uid != 0)
			imapd_tagged(s, "OK", NULL, "[APPENDUID %u %u] Append completed.",
				     uidvalidity, uid);
		else
			imapd_ok(s, "Append completed.");
		return;
	case IMAPBOX_NONEXISTENT: imapd_no(s, "TRYCREATE", "No such folder."); return;
	case IMAPBOX_OVERQUOTA: imapd_no(s, "OVERQUOTA", "Quota exceeded (mailbox full)."); return;
	case IMAPBOX_NOSPACE: imapd_no(s, NULL, "Disk full, the message was not stored."); return;
	case IMAPBOX_LIMIT: imapd_no(s, "LIMIT", "Too many keywords in the folder."); return;
	case IMAPBOX_BAD: imapd_bad(s, "Invalid keyword."); return;
	default:
		log_warn("%s: user=%s: APPEND: %s", s->client, s->login, err != NULL ? err : "?");
		imapd_no(s, "UNAVAILABLE", "Cannot store the message now, try again later.");
	}
}

/* deliver: the finished tmp file into the folder. */
static void deliver(struct session *s, const struct append_args *aa)
{
	struct imapbox_append ap = {
		.tmp_path = s->append->tmp_path,
		.flags = aa->flags,
		.keywords = aa->keywords,
		.nkeywords = aa->nkeywords,
		.internaldate = aa->date,
	};
	uint32_t uidvalidity = 0, uid = 0;
	char *err = NULL;
	int r, werr = append_finish(s->append);

	if (werr != 0) {
		log_warn("%s: user=%s: APPEND: cannot write %s: %s", s->client, s->login,
			 s->append->tmp_path, strerror(werr));
		r = werr == ENOSPC || werr == EDQUOT ? IMAPBOX_NOSPACE : IMAPBOX_TEMP;
		append_reply(s, r, 0, 0, NULL);
		return;
	}
	if (!imapd_quota_limit(s, &ap.quota_bytes))
		return;
	r = imapbox_append(s->append->dir, &ap, &uidvalidity, &uid, &err);
	if (r != IMAPBOX_OK && r != IMAPBOX_TEMP)
		log_info("%s: user=%s: APPEND refused: %s", s->client, s->login,
			 err != NULL ? err : imapbox_result_str(r));
	if (r == IMAPBOX_OK) {
		log_info("%s: user=%s: APPEND uid=%u to %s", s->client, s->login, uid,
			 s->append->dir);
		append_free(&s->append); /* the file was taken over */
	}
	append_reply(s, r, uidvalidity, uid, err);
	free(err);
}

void imapd_cmd_append(struct session *s, const struct imapcmd *cmd)
{
	const struct imapcmd_arg *msg = cmd->count >= 2 ? &cmd->args[cmd->count - 1] : NULL;
	struct append_args aa;
	const char *why;

	if (msg == NULL || msg->type != IMAPCMD_LITERAL) {
		imapd_append_discard(s);
		imapd_bad(s, "Syntax: APPEND name [(flags)] [date-time] literal");
		return;
	}
	why = parse_args(cmd->args, cmd->count - 1, &aa);
	if (why != NULL) {
		imapd_append_discard(s);
		imapd_bad(s, "%s", why);
	} else if (msg->streamed && s->append == NULL) {
		log_panic("imapd: APPEND streamed without a tmp file");
	} else if (msg->streamed || write_literal(s, msg)) {
		deliver(s, &aa);
	}
	args_free(&aa);
	imapd_append_discard(s);
}
