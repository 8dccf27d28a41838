/* fuzz_addr.c: fuzz target for the address parser (lib/addr.c): the input
 * (first byte: flags, rest: the text) goes through addr_parse_path, the
 * ESMTP parameters after the path through addr_param_next, and the text
 * through addr_parse, addr_domain_valid, addr_split_extension and the xtext
 * codec. Checks the round trips: a parsed address formats to a path that
 * parses to the same address, and xtext encode then decode is identity. */
#include "fuzz_util.h"

#include "addr.h"

/* RFC 5321 4.5.3.1.3, brackets included. addr_parse checks only the
 * local part (64) and domain (255) limits, so a bare address it accepts
 * can be too long for a path: no round trip for those. */
#define PATH_MAX_OCTETS 256

static void check_round_trip(const struct addr *a, bool utf8)
{
	char *f = addr_format(a), *path, *key;
	struct addr back;
	const char *why;

	key = addr_lookup_key(a);
	if (strlen(key) != strlen(f))
		abort();
	if (strlen(f) + 2 > PATH_MAX_OCTETS) {
		free(key);
		free(f);
		return;
	}
	path = malloc(strlen(f) + 3);
	if (path == NULL)
		abort();
	sprintf(path, "<%s>", f);
	if (addr_parse_path(path, utf8, &back, NULL, &why) != ADDR_OK)
		abort();
	if (strcmp(back.local, a->local) != 0)
		abort();
	if ((back.domain == NULL) != (a->domain == NULL))
		abort();
	if (a->domain != NULL && strcmp(back.domain, a->domain) != 0)
		abort();
	addr_clear(&back);
	free(path);
	free(key);
	free(f);
}

static void fuzz_params(const char *rest)
{
	char keyword[32], value[128];
	const char *why;
	int count = 0;

	while (addr_param_next(&rest, keyword, sizeof(keyword), value, sizeof(value), &why)) {
		char *decoded = addr_xtext_decode(value);

		free(decoded);
		if (++count > 10000)
			abort(); /* no progress */
	}
}

static void fuzz_xtext(const char *text)
{
	char *dec = addr_xtext_decode(text);
	char *enc = addr_xtext_encode(text);
	char *back = addr_xtext_decode(enc);

	if (back == NULL || strcmp(back, text) != 0)
		abort();
	free(back);
	free(enc);
	free(dec);
}

static void fuzz_bare(const char *text, bool utf8)
{
	struct addr a;
	const char *why;
	char *base = NULL, *ext = NULL;

	if (addr_parse(text, utf8, &a, &why) == ADDR_OK) {
		check_round_trip(&a, utf8);
		addr_clear(&a);
	}
	(void)addr_domain_valid(text, utf8);
	if (addr_split_extension(text, "+-=", &base, &ext)) {
		free(base);
		free(ext);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr a;
	const char *rest = NULL, *why;
	bool utf8;
	char *text;

	if (size < 1)
		return 0;
	utf8 = (data[0] & 1) != 0;
	text = fuzz_cstr(data + 1, size - 1);
	if (addr_parse_path(text, utf8, &a, &rest, &why) == ADDR_OK) {
		check_round_trip(&a, utf8);
		fuzz_params(rest);
		addr_clear(&a);
	}
	fuzz_params(text);
	fuzz_bare(text, utf8);
	fuzz_xtext(text);
	free(text);
	return 0;
}
