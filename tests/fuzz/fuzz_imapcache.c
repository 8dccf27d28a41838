/* fuzz_imapcache.c: fuzz target for the cache file reader (lib/imapcache),
 * which reads postern-cache files that other processes write and a crash
 * may have torn. The input is the file (its UIDVALIDITY is taken from the
 * input's header bytes, so the fuzzer reaches the records). Every indexed
 * value is read; a value that is returned must lie inside the file. Then
 * a value is appended and the file compacted: every value that was
 * readable before must read back the same (or, when the file had a bad
 * record and was made anew, be a miss). */
#include "fuzz_util.h"

#include <sys/stat.h>

#include "buf.h"
#include "imapcache.h"
#include "imapcache_int.h"
#include "log.h"
#include "mem.h"

struct seen {
	uint32_t uid;
	char *base;
	buf *val[IMAPMSG_NFIELDS];
};

/* read_all: every indexed value, checked to lie in the mapping; the
 * values read are kept in seen (n of them, one per indexed message). */
static size_t read_all(imapcache *c, struct seen *seen)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nentries; i++) {
		const struct imapcache_entry *e = &c->entries[i];
		struct seen *s = &seen[n];

		for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++) {
			const char *p, *v;
			size_t bl, len;

			if (e->rec[f] == 0)
				continue;
			p = c->map + e->rec[f];
			bl = (unsigned char)p[12] | (size_t)(unsigned char)p[13] << 8;
			if (s->base == NULL) {
				s->uid = e->uid;
				s->base = xstrndup(p + IMAPCACHE_REC_FIXED, bl);
			}
			if (strlen(s->base) != bl || memcmp(s->base, p + IMAPCACHE_REC_FIXED, bl))
				continue; /* a NUL in it, or another base: not compared */
			if (!imapcache_get(c, e->uid, s->base, f, &v, &len))
				continue;
			if (v < c->map || v + len > c->map + c->end)
				abort();
			s->val[f] = buf_new(len);
			buf_append(s->val[f], v, len);
		}
		if (s->base != NULL)
			n++;
	}
	return n;
}

/* check_again: every value read before reads back the same; when the
 * file had a bad record (strict false) a writer made it anew, and a value
 * may be gone, but never different. */
static void check_again(imapcache *c, struct seen *seen, size_t n, bool strict)
{
	buf *got = buf_new(0);

	for (size_t i = 0; i < n; i++)
		for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++) {
			if (seen[i].val[f] == NULL)
				continue;
			buf_reset(got);
			if (!imapcache_get_buf(c, seen[i].uid, seen[i].base, f, got)) {
				if (strict)
					abort();
				continue;
			}
			if (buf_len(got) != buf_len(seen[i].val[f]) ||
			    memcmp(buf_cstr(got), buf_cstr(seen[i].val[f]), buf_len(got)) != 0)
				abort();
		}
	buf_free(&got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dir[] = "/tmp/fuzz_imapcache.XXXXXX", *path, *err = NULL;
	uint32_t uv = size >= 12 ? imapcache_get32((const char *)data + 8) : 1;
	imapcache *c;
	struct seen *seen;
	struct imapcache_live *live;
	struct imapcache_stats st;
	size_t n;
	uint32_t uid;
	FILE *f;

	log_set_stderr(false);
	if (mkdtemp(dir) == NULL)
		abort();
	path = xasprintf("%s/%s", dir, IMAPCACHE_FILE);
	f = fopen(path, "w");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	if (imapcache_open(dir, uv, &c, &err) < 0)
		abort();
	seen = xcalloc(c->nentries + 1, sizeof(*seen));
	n = read_all(c, seen);
	imapcache_stats(c, &st);
	uid = 0xfffffff0u; /* a UID no record has: its put changes no value */
	while (imapcache_find(c, uid) != NULL)
		uid--;
	imapcache_put(c, uid, "fuzz.base", IMAPMSG_ENVELOPE, "(fuzz)", 6);
	if (imapcache_flush(c, &err) < 0)
		abort();
	check_again(c, seen, n, st.bad_records == 0);
	live = xcalloc(n + 1, sizeof(*live));
	for (size_t i = 0; i < n; i++) {
		live[i].uid = seen[i].uid;
		live[i].base = seen[i].base;
	}
	if (imapcache_compact(c, live, n, true, &err) < 0)
		abort();
	check_again(c, seen, n, st.bad_records == 0);
	imapcache_close(&c);
	for (size_t i = 0; i < n; i++) {
		free(seen[i].base);
		for (unsigned k = 0; k < IMAPMSG_NFIELDS; k++)
			buf_free(&seen[i].val[k]);
	}
	free(seen);
	free(live);
	unlink(path);
	free(path);
	if (rmdir(dir) < 0)
		abort();
	return 0;
}
