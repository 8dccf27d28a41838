/* mfolder_match.c: LIST/LSUB patterns of lib/mfolder (RFC 3501 6.3.8,
 * RFC 5258 pattern lists): the reference prefixed to each pattern, '*'
 * matching any bytes, '%' any bytes but the separator, INBOX matched in
 * any case. Matching is a dynamic program over pattern x name (at most
 * MFOLDER_PATTERN_MAX x MFOLDER_NAME_MAX steps), so no pattern of many
 * wildcards can take exponential time. No I/O. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "mfolder.h"

struct mfolder_match {
	char *ref;
	size_t ref_len;
	char *pats[MFOLDER_PATTERNS_MAX];
	size_t npats;
};

mfolder_match *mfolder_match_new(const char *ref, size_t ref_len)
{
	mfolder_match *m = xcalloc(1, sizeof(*m));

	m->ref = xstrndup(ref, ref_len);
	m->ref_len = strlen(m->ref);
	return m;
}

void mfolder_match_free(mfolder_match **mp)
{
	mfolder_match *m = *mp;

	if (m == NULL)
		return;
	for (size_t i = 0; i < m->npats; i++)
		free(m->pats[i]);
	free(m->ref);
	free(m);
	*mp = NULL;
}

int mfolder_match_add(mfolder_match *m, const char *pat, size_t len, const char **reason_r)
{
	const char *reason = NULL;

	if (m->npats == MFOLDER_PATTERNS_MAX)
		reason = "too many LIST patterns";
	else if (m->ref_len + len > MFOLDER_PATTERN_MAX)
		reason = "LIST pattern too long";
	else if (memchr(pat, '\0', len) != NULL)
		reason = "NUL in LIST pattern";
	if (reason != NULL) {
		if (reason_r != NULL)
			*reason_r = reason;
		return -1;
	}
	m->pats[m->npats++] = xasprintf("%s%.*s", m->ref, (int)len, pat);
	return 0;
}

/* fold: upper-cases c when i lies inside a leading INBOX of the name. */
static char fold(char c, size_t i, size_t inbox_len)
{
	if (i < inbox_len && c >= 'a' && c <= 'z')
		return (char)(c - 'a' + 'A');
	return c;
}

/* pattern_match: the dynamic program; row[j] says whether pattern[0..j)
 * matches the name bytes seen so far. */
static bool pattern_match(const char *pat, const char *name)
{
	bool prev[MFOLDER_PATTERN_MAX + 1], cur[MFOLDER_PATTERN_MAX + 1];
	size_t m = strlen(pat), n = strlen(name), inbox_len = 0;

	if (m > MFOLDER_PATTERN_MAX)
		return false;
	if (strncmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == MFOLDER_SEP))
		inbox_len = 5;
	prev[0] = true;
	for (size_t j = 1; j <= m; j++)
		prev[j] = prev[j - 1] && (pat[j - 1] == '*' || pat[j - 1] == '%');
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		cur[0] = false;
		for (size_t j = 1; j <= m; j++) {
			char pc = pat[j - 1];

			if (pc == '*')
				cur[j] = cur[j - 1] || prev[j];
			else if (pc == '%')
				cur[j] = cur[j - 1] || (prev[j] && c != MFOLDER_SEP);
			else
				cur[j] = prev[j - 1] && fold(pc, i, inbox_len) == c;
		}
		memcpy(prev, cur, (m + 1) * sizeof(bool));
	}
	return prev[m];
}

bool mfolder_match_name(const mfolder_match *m, const char *canon)
{
	for (size_t i = 0; i < m->npats; i++)
		if (pattern_match(m->pats[i], canon))
			return true;
	return false;
}

bool mfolder_match_has_percent_only(const mfolder_match *m)
{
	for (size_t i = 0; i < m->npats; i++)
		if (strchr(m->pats[i], '%') != NULL && strchr(m->pats[i], '*') == NULL)
			return true;
	return false;
}

void mfolder_list_root(const char *ref, size_t ref_len, buf *out)
{
	const char *sep = memchr(ref, MFOLDER_SEP, ref_len);

	if (sep != NULL)
		buf_append(out, ref, (size_t)(sep - ref) + 1);
}

struct option_name {
	const char *name;
	unsigned bit;
};

static unsigned option_find(const struct option_name *t, size_t n, const char *atom, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(t[i].name) == len && strncasecmp(t[i].name, atom, len) == 0)
			return t[i].bit;
	return 0;
}

unsigned mfolder_select_option(const char *atom, size_t len)
{
	static const struct option_name t[] = {
		{"SUBSCRIBED", MFOLDER_SEL_SUBSCRIBED},
		{"REMOTE", MFOLDER_SEL_REMOTE},
		{"RECURSIVEMATCH", MFOLDER_SEL_RECURSIVEMATCH},
		{"SPECIAL-USE", MFOLDER_SEL_SPECIAL_USE},
	};

	return option_find(t, sizeof(t) / sizeof(t[0]), atom, len);
}

unsigned mfolder_return_option(const char *atom, size_t len)
{
	static const struct option_name t[] = {
		{"CHILDREN", MFOLDER_RET_CHILDREN},
		{"SUBSCRIBED", MFOLDER_RET_SUBSCRIBED},
		{"SPECIAL-USE", MFOLDER_RET_SPECIAL_USE},
	};

	return option_find(t, sizeof(t) / sizeof(t[0]), atom, len);
}

bool mfolder_select_valid(unsigned select)
{
	/* REMOTE alone does not make RECURSIVEMATCH meaningful either */
	return !(select & MFOLDER_SEL_RECURSIVEMATCH) ||
	       (select & (MFOLDER_SEL_SUBSCRIBED | MFOLDER_SEL_SPECIAL_USE)) != 0;
}
