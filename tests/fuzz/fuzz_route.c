/* fuzz_route.c: fuzz target for the routing value parsers (lib/route.c):
 * the input as a transport_maps value (route_parse_transport) and as a
 * next hop (route_parse_nexthop). Checks the invariants: a failure sets an
 * error and leaves nothing allocated in the result, an error: route has a
 * 5.x.x status, and a next hop formats to text that parses back to the
 * same host, port and MX flag. */
#include "fuzz_util.h"

#include <stdbool.h>

#include "route.h"

static void check_round_trip(const struct route_nexthop *hop)
{
	char *text = route_nexthop_format(hop), *err = NULL;
	struct route_nexthop back;

	if (hop->host == NULL) {
		if (text != NULL)
			abort();
		return;
	}
	if (text == NULL || route_parse_nexthop(text, &back, &err) != 0)
		abort();
	if (strcmp(back.host, hop->host) != 0 || back.port != hop->port || back.mx != hop->mx)
		abort();
	route_nexthop_clear(&back);
	free(text);
}

static void fuzz_transport(const char *value)
{
	struct route r;
	char *err = NULL;

	if (route_parse_transport(value, &r, &err) != 0) {
		if (err == NULL || r.hop.host != NULL || r.status != NULL || r.text != NULL)
			abort();
		free(err);
		return;
	}
	if (err != NULL)
		abort();
	if (r.transport == ROUTE_ERROR && (r.status == NULL || r.status[0] != '5'))
		abort();
	check_round_trip(&r.hop);
	route_clear(&r);
}

static void fuzz_nexthop(const char *text)
{
	struct route_nexthop hop;
	char *err = NULL;

	if (route_parse_nexthop(text, &hop, &err) != 0) {
		if (err == NULL || hop.host != NULL)
			abort();
		free(err);
		return;
	}
	check_round_trip(&hop);
	route_nexthop_clear(&hop);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);

	fuzz_transport(text);
	fuzz_nexthop(text);
	free(text);
	return 0;
}
