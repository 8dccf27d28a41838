/* fuzz_map_line.c: fuzz target for the map text format (lib/map.c,
 * lib/map_text.c): map_parse_line on the input as one logical line (the
 * returned key and value must lie inside it), then the input as a whole
 * file opened as texthash: and looked up, which drives the reader that
 * joins continuation lines and enforces the limits. */
#include "fuzz_util.h"

#include "log.h"
#include "map.h"

static void fuzz_line(const uint8_t *data, size_t size)
{
	char *line = fuzz_cstr(data, size);
	size_t len = strlen(line);
	char *key = NULL, *value = NULL;
	int r = map_parse_line(line, &key, &value);

	if (r == 1) {
		if (key < line || key > line + len || value < line || value > line + len)
			abort();
		if (*key == '\0' || *value == '\0')
			abort();
	} else if (r != 0 && r != -1) {
		abort();
	}
	free(line);
}

static void fuzz_file(const uint8_t *data, size_t size)
{
	char *path = fuzz_temp_file(data, size);
	char *name = malloc(strlen(path) + 16);
	char *err = NULL;
	map *m;

	if (name == NULL)
		abort();
	sprintf(name, "texthash:%s", path);
	m = map_open(name, &err);
	if (m != NULL) {
		const char *value;

		(void)map_lookup(m, "key", &value);
		(void)map_lookup(m, "user@example.org", &value);
		map_close(&m);
	}
	free(err);
	free(name);
	fuzz_temp_remove(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool quiet;

	if (!quiet) {
		log_set_level(LOG_LVL_FATAL); /* syntax warnings would flood the output */
		quiet = true;
	}
	fuzz_line(data, size);
	fuzz_file(data, size);
	return 0;
}
