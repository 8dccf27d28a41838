/* fuzz_netmatch.c: fuzz target for mynetworks-style lists
 * (lib/netmatch.c): the input is parsed as a list and, when it is valid,
 * each of its words is also tried as a client address. */
#include "fuzz_util.h"

#include "netmatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	char *err = NULL;
	netmatch *n = netmatch_new(text, &err);

	if (n == NULL) {
		if (err == NULL)
			abort();
		free(err);
	} else {
		char *save = NULL;

		for (char *w = strtok_r(text, " ,\t\r\n", &save); w != NULL;
		     w = strtok_r(NULL, " ,\t\r\n", &save))
			(void)netmatch_match_str(n, w);
		netmatch_free(&n);
	}
	free(text);
	return 0;
}
