/* fuzz_imapfetch.c: fuzz target for the FETCH items module (lib/imapfetch*.c).
 * The input's first line is a FETCH or UID FETCH command as a client sends
 * it, the rest a message. The items are parsed and the reply rendered
 * twice: with an empty cache (values computed and stored) and with those
 * stored values as the cache, pulled in chunks whose size the input picks.
 * Both replies must be equal, and well formed: literal counts match the
 * octets sent, and the only line end outside literals is the last. */
#include "fuzz_util.h"

#include <errno.h>
#include <strings.h>

#include "buf.h"
#include "imapcmd.h"
#include "imapfetch.h"

struct fuzz_cache {
	const char *data;
	size_t len;
	bool serve;
	buf *values[IMAPMSG_NFIELDS];
};

static int fc_cached(void *ctx, const struct imapmsg *m, enum imapmsg_field f, buf *out)
{
	struct fuzz_cache *c = ctx;

	(void)m;
	if (!c->serve || c->values[f] == NULL)
		return 0;
	buf_append(out, buf_cstr(c->values[f]), buf_len(c->values[f]));
	return 1;
}

static void fc_store(void *ctx, const struct imapmsg *m, enum imapmsg_field f,
		     const char *value, size_t len)
{
	struct fuzz_cache *c = ctx;

	(void)m;
	if (c->values[f] == NULL)
		c->values[f] = buf_new(len + 1);
	buf_reset(c->values[f]);
	buf_append(c->values[f], value, len);
}

static int fc_data(void *ctx, const struct imapmsg *m, const char **data_r, size_t *len_r)
{
	struct fuzz_cache *c = ctx;

	(void)m;
	*data_r = c->data;
	*len_r = c->len;
	return 0;
}

static const struct imapmsg_source fc_source = { .cached = fc_cached,
						   .store = fc_store,
						   .data = fc_data };

/* check_reply: literals hold what they announce; CRLF only at the end. */
static void check_reply(const buf *out)
{
	const char *s = buf_cstr(out);
	size_t len = buf_len(out), i = 0;

	if (len < 3 || memcmp(s + len - 3, ")\r\n", 3) != 0)
		abort();
	while (i < len - 2) {
		if (s[i] == '{') {
			size_t n = 0, j = i + 1;

			while (j < len && s[j] >= '0' && s[j] <= '9')
				n = n * 10 + (size_t)(s[j++] - '0');
			if (j + 2 < len && s[j] == '}' && s[j + 1] == '\r' && s[j + 2] == '\n') {
				if (n > len - (j + 3))
					abort();
				i = j + 3 + n;
				continue;
			}
		}
		if (s[i] == '\r' || s[i] == '\n')
			abort();
		i++;
	}
}

static enum imapfetch_result render(const imapfetch_spec *spec, const struct imapmsg *m,
				    size_t chunk, buf *out)
{
	enum imapfetch_result result;
	imapfetch_render *r = imapfetch_render_begin(spec, m, IMAPFETCH_RENDER_FLAGS, &result);
	size_t before = buf_len(out);

	while (imapfetch_render_next(r, out, chunk)) {
		if (buf_len(out) - before != chunk)
			abort();
		before = buf_len(out);
	}
	imapfetch_render_end(&r);
	return result;
}

static void run(const imapfetch_spec *spec, const char *msg, size_t len, size_t chunk)
{
	struct fuzz_cache cache = { msg, len, false, { NULL } };
	struct imapmsg m = { .seq = 1, .uid = 7, .flags = IMAPMSG_SEEN, .size = (long long)len,
			     .modseq = 1, .source = &fc_source, .source_ctx = &cache };
	buf *first = buf_new(1024), *second = buf_new(1024);
	enum imapfetch_result r1 = render(spec, &m, chunk, first), r2;

	cache.serve = true;
	r2 = render(spec, &m, chunk + 1, second);
	if (r1 != r2 || buf_len(first) != buf_len(second) ||
	    memcmp(buf_cstr(first), buf_cstr(second), buf_len(first)) != 0)
		abort();
	if (getenv("FUZZ_IMAPFETCH_PRINT") != NULL) /* to look at a seed's reply */
		fprintf(stderr, "result %d: %s\n", (int)r1, buf_cstr(first));
	if (r1 == IMAPFETCH_OK)
		check_reply(first);
	else if (buf_len(first) != 0)
		abort();
	for (int i = 0; i < IMAPMSG_NFIELDS; i++)
		buf_free(&cache.values[i]);
	buf_free(&first);
	buf_free(&second);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	imapcmd_reader *rd;
	const struct imapcmd *cmd;
	imapfetch_spec *spec;
	size_t used, line, skip;
	const char *error = NULL;

	if (nl == NULL)
		return 0;
	line = (size_t)(nl - (const char *)data) + 1;
	rd = imapcmd_reader_new(NULL);
	if (imapcmd_feed(rd, (const char *)data, line, &used) == IMAPCMD_DONE) {
		cmd = imapcmd_command(rd);
		skip = strcasecmp(cmd->name, "UID") == 0 ? 2 : 1;
		if (cmd->count >= skip) {
			spec = imapfetch_parse(cmd->args + skip, cmd->count - skip, skip == 2, &error);
			if (spec == NULL && error == NULL)
				abort();
			if (spec != NULL)
				run(spec, (const char *)data + line, size - line, 1 + line % 509);
			imapfetch_spec_free(&spec);
		}
	}
	imapcmd_reader_free(&rd);
	return 0;
}
