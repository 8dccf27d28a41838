/* fuzz_imapsearch.c: fuzz target for SEARCH (lib/imapsearch*). The first
 * byte chooses UID SEARCH (bit 0), a cached header block (bit 1: the
 * message's own bytes are offered as the block) and a saved "$" (bit 2);
 * then the SEARCH arguments up to the first NUL, read by lib/imapcmd;
 * after it, the bytes of a message. A program that parses runs over three
 * messages with those bytes; the matches must be a subset of them and
 * the reply well formed. */
#include "fuzz_util.h"

#include <errno.h>
#include <stdbool.h>

#include "buf.h"
#include "imapcmd.h"
#include "imapsearch.h"

static const char *fz_data;
static size_t fz_len;
static bool fz_cached;

static int fz_cached_fn(void *ctx, const struct imapmsg *m, enum imapmsg_field field, buf *out)
{
	(void)ctx;
	if (!fz_cached || field != IMAPMSG_HEADER || m->seq == 3)
		return 0;
	buf_append(out, fz_data, fz_len);
	return 1;
}

static int fz_data_fn(void *ctx, const struct imapmsg *m, const char **data_r, size_t *len_r)
{
	(void)ctx;
	if (m->seq == 2 && fz_len % 7 == 3) { /* now and then a vanished file */
		errno = ENOENT;
		return -1;
	}
	*data_r = fz_data;
	*len_r = fz_len;
	return 0;
}

static const struct imapmsg_source fz_source = { .cached = fz_cached_fn,
						    .data = fz_data_fn };

/* read_command: the first command of line, or NULL. */
static const struct imapcmd *read_command(imapcmd_reader *r, const char *line, size_t len)
{
	size_t pos = 0, used;

	while (pos < len) {
		enum imapcmd_status st = imapcmd_feed(r, line + pos, len - pos, &used);

		pos += used;
		if (st == IMAPCMD_DONE)
			return imapcmd_command(r);
		if (st != IMAPCMD_CONTINUE && st != IMAPCMD_MORE)
			return NULL;
	}
	return NULL;
}

static void check_reply(const imapsearch *p, const buf *out)
{
	const char *s = buf_cstr(out);
	size_t n = buf_len(out);

	if (imapseq_count(imapsearch_result(p)) > 3)
		abort();
	if (n == 0) {
		if (!imapsearch_saves(p))
			abort();
		return;
	}
	if (n < 2 || s[n - 2] != '\r' || s[n - 1] != '\n' ||
	    (strncmp(s, "* SEARCH", 8) != 0 && strncmp(s, "* ESEARCH", 9) != 0))
		abort();
}

static void run_program(imapsearch *p)
{
	static const char *const kw[] = { "$Junk", "work" };
	struct imapmsg m[3] = {
		{ 1, 5, IMAPMSG_SEEN, kw, 2, 1000000000, 100, 3, &fz_source, NULL },
		{ 2, 9, IMAPMSG_RECENT | IMAPMSG_DELETED, NULL, 0, 1700000000, 5000, 8, &fz_source,
		  NULL },
		{ 3, 12, 0, kw, 1, 0, 0, 1, &fz_source, NULL },
	};
	buf *out = buf_new(64);

	for (size_t i = 0; i < 3; i++)
		if (imapsearch_match(p, &m[i]) < -1)
			abort();
	imapsearch_format(p, "A1", out);
	check_reply(p, out);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imapcmd_limits lim;
	imapcmd_reader *r;
	const struct imapcmd *c;
	const uint8_t *nul;
	buf *line;
	imapseq *saved;
	imapsearch *p = NULL;
	const char *err = NULL;

	if (size < 1)
		return 0;
	nul = memchr(data + 1, '\0', size - 1);
	fz_data = nul != NULL ? (const char *)nul + 1 : "";
	fz_len = nul != NULL ? size - (size_t)(nul + 1 - data) : 0;
	fz_cached = (data[0] & 2) != 0;
	line = buf_new(size + 16);
	buf_puts(line, "t SEARCH ");
	buf_append(line, data + 1, nul != NULL ? (size_t)(nul - data) - 1 : size - 1);
	buf_puts(line, "\r\n");
	imapcmd_limits_default(&lim);
	lim.utf8_quoted = true;
	r = imapcmd_reader_new(&lim);
	saved = imapseq_new();
	imapseq_add_range(saved, 4, 9);
	c = read_command(r, buf_cstr(line), buf_len(line));
	if (c != NULL) {
		struct imapsearch_box box = { 3, 12, (data[0] & 4) ? saved : NULL, 1700000500, 60 };
		enum imapsearch_status st =
			imapsearch_parse(c->args, c->count, data[0] & 1, &box, &p, &err);

		if (st == IMAPSEARCH_OK) {
			if (p == NULL)
				abort();
			run_program(p);
			imapsearch_free(&p);
		} else if (p != NULL || err == NULL) {
			abort();
		}
	}
	imapcmd_reader_free(&r);
	imapseq_free(&saved);
	buf_free(&line);
	return 0;
}
