/* fuzz_mcf.c: fuzz target for master.cf (lib/mcf.c): the input is written
 * to a temporary file and loaded with mcf_load; a loaded table is walked
 * (service keys, comparison with itself). */
#include "fuzz_util.h"

#include "mcf.h"

static void diag(void *ctx, const char *file, int line, const char *severity, const char *msg)
{
	(void)ctx;
	(void)file;
	(void)line;
	(void)severity;
	(void)msg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = fuzz_temp_file(data, size);
	struct mcf *m = mcf_load(path, 4, diag, NULL);

	if (m != NULL) {
		for (int i = 0; i < m->count; i++) {
			char *key = mcf_service_key(&m->services[i]);

			free(key);
			if (!mcf_service_equal(&m->services[i], &m->services[i]))
				abort();
		}
		mcf_free(&m);
	}
	fuzz_temp_remove(path);
	return 0;
}
