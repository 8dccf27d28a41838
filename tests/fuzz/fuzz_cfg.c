/* fuzz_cfg.c: fuzz target for main.cf (lib/cfg.c): the input is written to
 * a temporary file and loaded with cfg_load_file; then every value set is
 * checked (cfg_check) and expanded (cfg_get), which drives the $name
 * expansion and its loop limit, and list values are split. */
#include "fuzz_util.h"

#include "cfg.h"

static void diag(void *ctx, const char *file, int line, const char *severity, const char *msg)
{
	(void)ctx;
	(void)file;
	(void)line;
	(void)severity;
	(void)msg;
}

static void expand_one(void *ctx, const char *name, const char *raw)
{
	cfg *c = ctx;
	char **words;

	(void)raw;
	words = cfg_split_list(cfg_get(c, name));
	cfg_free_list(&words);
	(void)cfg_get_int(c, name);
	(void)cfg_get_bool(c, name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = fuzz_temp_file(data, size);
	cfg *c = cfg_new("/nonexistent/postern");

	if (cfg_load_file(c, path, diag, NULL) >= 0) {
		(void)cfg_check(c, diag, NULL);
		cfg_each_set(c, expand_one, c);
	}
	cfg_free(&c);
	fuzz_temp_remove(path);
	return 0;
}
