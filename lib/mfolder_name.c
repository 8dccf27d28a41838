/* mfolder_name.c: folder names of lib/mfolder: the check every wire name
 * passes before it touches the file system (so no name can leave the
 * Maildir), the canonical INBOX spelling, the ".a.b" directory form, and
 * the tables of result codes and special-use attributes. No I/O here. */
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "mfolder.h"
#include "mutf7.h"

static const char *const result_codes[] = {
	[MFOLDER_OK] = NULL,
	[MFOLDER_ERR_NAME] = "CANNOT",
	[MFOLDER_ERR_EXISTS] = "ALREADYEXISTS",
	[MFOLDER_ERR_NONEXISTENT] = "NONEXISTENT",
	[MFOLDER_ERR_INBOX] = "CANNOT",
	[MFOLDER_ERR_USEATTR] = "USEATTR",
	[MFOLDER_ERR_LIMIT] = "LIMIT",
	[MFOLDER_ERR_TEMP] = "UNAVAILABLE",
};

const char *mfolder_result_code(enum mfolder_result res)
{
	if ((unsigned)res >= sizeof(result_codes) / sizeof(result_codes[0]))
		return "UNAVAILABLE";
	return result_codes[res];
}

static const struct {
	const char *name;
	unsigned bit;
} special_names[] = {
	{"\\Sent", MFOLDER_SENT},       {"\\Drafts", MFOLDER_DRAFTS},
	{"\\Trash", MFOLDER_TRASH},     {"\\Junk", MFOLDER_JUNK},
	{"\\Archive", MFOLDER_ARCHIVE}, {"\\All", MFOLDER_ALL},
	{"\\Flagged", MFOLDER_FLAGGED},
};
#define SPECIAL_COUNT (sizeof(special_names) / sizeof(special_names[0]))

unsigned mfolder_special_parse(const char *attr, size_t len)
{
	for (size_t i = 0; i < SPECIAL_COUNT; i++)
		if (strlen(special_names[i].name) == len &&
		    strncasecmp(special_names[i].name, attr, len) == 0)
			return special_names[i].bit;
	return 0;
}

const char *mfolder_special_name(unsigned bit)
{
	for (size_t i = 0; i < SPECIAL_COUNT; i++)
		if (special_names[i].bit == bit)
			return special_names[i].name;
	return NULL;
}

/* check_bytes: printable ASCII without '/' and the wildcards; counts the
 * levels and refuses empty ones. */
static const char *check_bytes(const char *in, size_t len)
{
	size_t depth = 1;

	if (in[0] == MFOLDER_SEP || in[len - 1] == MFOLDER_SEP)
		return "empty hierarchy level in folder name";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x20 || c > 0x7e)
			return "folder name has a byte outside printable ASCII";
		if (c == '/')
			return "folder name contains '/'";
		if (c == '*' || c == '%')
			return "folder name contains a wildcard";
		if (c == MFOLDER_SEP) {
			if (in[i + 1] == MFOLDER_SEP)
				return "empty hierarchy level in folder name";
			depth++;
		}
	}
	if (depth > MFOLDER_DEPTH_MAX)
		return "folder name has too many hierarchy levels";
	return NULL;
}

/* inbox_prefix: whether in[0..len) starts with "INBOX" in any case as a
 * whole first level. */
static bool inbox_prefix(const char *in, size_t len)
{
	return len >= 5 && strncasecmp(in, "INBOX", 5) == 0 && (len == 5 || in[5] == MFOLDER_SEP);
}

int mfolder_name_check(const char *in, size_t len, buf *canon, const char **reason_r)
{
	const char *reason;

	if (len == 0)
		reason = "empty folder name";
	else if (len > MFOLDER_NAME_MAX)
		reason = "folder name too long";
	else if ((reason = check_bytes(in, len)) == NULL && !mutf7_is_valid(in, len))
		reason = "folder name is not valid modified UTF-7";
	if (reason != NULL) {
		if (reason_r != NULL)
			*reason_r = reason;
		return -1;
	}
	if (inbox_prefix(in, len)) {
		buf_puts(canon, "INBOX");
		buf_append(canon, in + 5, len - 5);
	} else {
		buf_append(canon, in, len);
	}
	return 0;
}

bool mfolder_is_inbox(const char *canon)
{
	return strcmp(canon, "INBOX") == 0;
}

char *mfolder_dir_name(const char *canon)
{
	if (mfolder_is_inbox(canon))
		return xstrdup("");
	return xasprintf("%c%s", MFOLDER_SEP, canon);
}

int mfolder_name_of_dir(const char *dirent, buf *out)
{
	size_t len, old = buf_len(out);

	/* Dovecot renames a folder it deletes to this first: a crash's
	 * leftover, never a folder */
	if (dirent[0] != MFOLDER_SEP || strcmp(dirent + 1, MFOLDER_DOVECOT_TRASHED) == 0)
		return -1;
	len = strlen(dirent + 1);
	if (mfolder_name_check(dirent + 1, len, out, NULL) < 0)
		return -1;
	/* ".inbox.x" would list as INBOX.x, whose directory is ".INBOX.x":
	 * only the canonical spelling is a folder; "INBOX" alone is the root. */
	if (memcmp(buf_cstr(out) + old, dirent + 1, len) != 0 ||
	    mfolder_is_inbox(buf_cstr(out) + old)) {
		buf_truncate(out, old);
		return -1;
	}
	return 0;
}

int mfolder_create_name(const char *in, size_t len, buf *canon, const char **reason_r)
{
	if (len > 1 && in[len - 1] == MFOLDER_SEP && in[len - 2] != MFOLDER_SEP)
		len--;
	if (len == 15 && strncmp(in, MFOLDER_DOVECOT_TRASHED, len) == 0) {
		if (reason_r != NULL)
			*reason_r = "folder name reserved by Dovecot";
		return -1;
	}
	return mfolder_name_check(in, len, canon, reason_r);
}
