/* fuzz_q.c: fuzz target for the queue file envelope parser (lib/q.c): the
 * input is written as a queue file and opened; when it parses, the content
 * offset and size must add up to the file size and every recipient's state
 * byte must sit inside the envelope at its recorded offset. Not registered
 * in tests/fuzz/Makefile.inc or run.sh yet (owned elsewhere): run it with
 * run.sh after adding "q" to its targets and lib_sources. */
#include "fuzz_util.h"

#include <stdbool.h>
#include <sys/stat.h>

#include "q.h"

static char *fuzz_q_path(void)
{
	static char *path;
	char dir[] = "/tmp/postern-fuzz-q.XXXXXX";

	if (path != NULL)
		return path;
	if (mkdtemp(dir) == NULL)
		abort();
	path = malloc(strlen(dir) + 32);
	if (path == NULL)
		abort();
	snprintf(path, strlen(dir) + 32, "%s/FuzzQueueFile01", dir);
	return path;
}

static void fuzz_q_check(const struct q_msg *m, const uint8_t *data, size_t size)
{
	if (m->content_offset < 0 || (size_t)m->content_offset > size ||
	    (size_t)(m->content_offset + m->content_size) + m->top_len != size || m->env.nrcpts < 1)
		abort();
	for (int i = 0; i < m->env.nrcpts; i++) {
		const struct q_rcpt *r = &m->env.rcpts[i];

		if (r->state_offset <= 0 || r->state_offset >= m->content_offset ||
		    data[r->state_offset] != (uint8_t)r->state || r->address == NULL)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = fuzz_q_path();
	FILE *f = fopen(path, "wb");
	struct q_msg *m = NULL;
	char *err = NULL;

	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	if (q_msg_open_ro(path, &m, &err) == 0) {
		fuzz_q_check(m, data, size);
		q_msg_free(&m);
	} else if (err == NULL) {
		abort();
	}
	free(err);
	unlink(path);
	return 0;
}
