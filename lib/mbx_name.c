/* mbx_name.c: Maildir file names. A name is "<base>[:2,<letters>]": the
 * base never changes (it is how a message is found again after another
 * process renamed it, and the key of its uidlist record), may carry
 * ",S=<size>" and ",W=<CRLF size>", and the letters after ":2," are the
 * flags (upper case, enum mbx_flag) and keywords (a-z). Pure string work:
 * no file system access here. */
#include "mbx_int.h"

#include <string.h>

#include "mem.h"

long long mbx_name_size_field(const char *name, size_t baselen, char key)
{
	const char *end = name + baselen;

	for (const char *p = name; p < end; p++) {
		long long v = 0;
		const char *d;

		if (p[0] != ',' || end - p < 4 || p[1] != key || p[2] != '=')
			continue;
		for (d = p + 3; d < end && *d >= '0' && *d <= '9' && v < (1LL << 50); d++)
			v = v * 10 + (*d - '0');
		if (d > p + 3 && (d == end || *d == ','))
			return v;
	}
	return -1;
}

unsigned long long mbx_name_leading_number(const char *name)
{
	unsigned long long v = 0;

	for (; *name >= '0' && *name <= '9' && v < (1ULL << 58); name++)
		v = v * 10 + (unsigned)(*name - '0');
	return v;
}

const char *mbx_name_keywords(struct mbx_arena **ar, const char *letters)
{
	size_t n = 0;
	char *kw;

	for (const char *p = letters; *p != '\0'; p++)
		n += *p >= 'a' && *p <= 'z';
	if (n == 0)
		return "";
	kw = mbx_arena_alloc(ar, n + 1);
	n = 0;
	for (const char *p = letters; *p != '\0'; p++)
		if (*p >= 'a' && *p <= 'z')
			kw[n++] = *p;
	kw[n] = '\0';
	return kw;
}

static const char flag_letters[] = "DFPRST"; /* bit i of enum mbx_flag */

unsigned mbx_flags_parse(const char *letters)
{
	unsigned flags = 0;

	for (; *letters != '\0'; letters++) {
		const char *f = strchr(flag_letters, *letters);

		if (f != NULL)
			flags |= 1u << (f - flag_letters);
	}
	return flags;
}

void mbx_flags_format(unsigned flags, char *out)
{
	for (int i = 0; flag_letters[i] != '\0'; i++)
		if (flags & (1u << i))
			*out++ = flag_letters[i];
	*out = '\0';
}

void mbx_msg_set_name(struct mbx_arena **ar, struct mbx_msg *m, const char *name, bool in_new)
{
	size_t baselen = mbx_name_baselen(name);
	const char *info;

	m->name = mbx_arena_strndup(ar, name, strlen(name));
	info = mbx_name_info(m->name, baselen);
	m->in_new = in_new;
	m->flags = mbx_flags_parse(info);
	m->keywords = mbx_name_keywords(ar, info);
}

/* mbx_name_with_flags: the given flags plus the letters of the current
 * name that are not standard flags (keywords unless keywords is given,
 * which then replaces them), in ASCII order. */
char *mbx_name_with_flags(const struct mbx_msg *m, unsigned flags, const char *keywords)
{
	bool set[128] = { false };
	char letters[128];
	size_t n = 0;

	mbx_flags_format(flags, letters);
	for (const char *p = letters; *p != '\0'; p++)
		set[(unsigned char)*p] = true;
	for (const char *p = mbx_name_info(m->name, strlen(m->base)); *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (keywords != NULL && c >= 'a' && c <= 'z')
			continue;
		if (c > ' ' && c < 127 && c != '/' && c != ':' && strchr(flag_letters, c) == NULL)
			set[c] = true;
	}
	for (const char *p = keywords != NULL ? keywords : ""; *p != '\0'; p++)
		if (*p >= 'a' && *p <= 'z')
			set[(unsigned char)*p] = true;
	for (int c = 0; c < 128; c++)
		if (set[c])
			letters[n++] = (char)c;
	letters[n] = '\0';
	return xasprintf("%s:2,%s", m->base, letters);
}

