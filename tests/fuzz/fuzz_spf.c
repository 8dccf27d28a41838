/* fuzz_spf.c: fuzz target for lib/spf: the input is parsed as an SPF
 * record, expanded as a macro string (domain-spec and exp rules, with and
 * without %{p} known), and then evaluated by check_host() over a tiny
 * resolver that answers at once (the synchronous path of the lookup
 * interface): every TXT query gets the input back, A/AAAA/MX/PTR fixed
 * answers, names under "void." nothing and "slow." a timeout. */
#include "fuzz_util.h"

#include <arpa/inet.h>
#include <strings.h>

#include "spf.h"

static void fuzz_rr(struct dns_rr *rr, const char *text, size_t len)
{
	memset(rr, 0, sizeof(*rr));
	rr->text = (char *)text;
	rr->len = len;
}

static void *fuzz_lookup(void *ctx, const char *name, enum dns_type type, spf_dns_cb *cb,
			 void *cb_ctx)
{
	const char *input = ctx;
	struct dns_result res;
	struct dns_rr rr;

	memset(&res, 0, sizeof(res));
	res.name = (char *)name;
	res.status = DNS_FOUND;
	res.count = 1;
	res.rrs = &rr;
	if (strncasecmp(name, "slow.", 5) == 0) {
		res.status = DNS_TEMPFAIL;
		res.count = 0;
	} else if (strncasecmp(name, "void.", 5) == 0) {
		res.status = DNS_NOTFOUND;
		res.count = 0;
	} else if (type == DNS_TXT) {
		fuzz_rr(&rr, input, strlen(input));
	} else if (type == DNS_A) {
		fuzz_rr(&rr, "192.0.2.1", 9);
		rr.family = AF_INET;
		inet_pton(AF_INET, "192.0.2.1", rr.addr);
	} else if (type == DNS_AAAA) {
		fuzz_rr(&rr, "2001:db8::1", 11);
		rr.family = AF_INET6;
		inet_pton(AF_INET6, "2001:db8::1", rr.addr);
	} else if (type == DNS_MX) {
		fuzz_rr(&rr, "mx.example.com", 14);
	} else {
		fuzz_rr(&rr, "host.example.com", 16);
	}
	cb(cb_ctx, &res);
	return NULL;
}

static void fuzz_done(void *ctx, const struct spf_answer *ans)
{
	(void)ctx;
	(void)ans;
	abort(); /* a synchronous resolver finishes inside spf_check_start */
}

static void fuzz_macros(const char *text, size_t len)
{
	struct spf_macro_vars v = {
		.sender = "user@example.com", .local = "user", .sender_domain = "example.com",
		.domain = "example.com", .ip_dotted = "192.0.2.1", .ip_text = "192.0.2.1",
		.ptr = NULL, .helo = "helo.example.org", .receiver = "rcpt.example.net",
		.now = 1,
	};
	const char *err;

	for (unsigned flags = 0; flags <= SPF_MACRO_EXP; flags++) {
		buf *b = buf_new(64);
		const char *expand_err = NULL;
		int r = spf_macro_expand(text, len, &v, flags, b, &expand_err);
		int check = spf_macro_expand(text, len, NULL, flags, NULL, &err);

		/* the syntax check and the expansion agree, but for the size
		 * bound, which only the expansion meets (1: %{p} asked) */
		if (check < 0 && r >= 0)
			abort();
		if (r < 0 && check == 0 && strstr(expand_err, "too long") == NULL)
			abort();
		if (r == 1) {
			v.ptr = "ptr.example.com";
			buf_reset(b);
			if (spf_macro_expand(text, len, &v, flags, b, &err) == 1)
				abort(); /* asked for %{p} although it is known */
			v.ptr = NULL;
		}
		if (r >= 0) {
			char *name = buf_steal(b);

			spf_domain_truncate(name);
			if (strlen(name) > 253)
				abort();
			free(name);
		}
		buf_free(&b);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	size_t len = strlen(text);
	char *err = NULL;
	struct spf_record *rec = spf_record_parse(text, len, &err);
	struct spf_dns dns = { fuzz_lookup, NULL, text };
	const char *ips[] = { "192.0.2.1", "2001:db8::1" };

	if (rec == NULL && err == NULL)
		abort();
	spf_record_free(&rec);
	free(err);
	fuzz_macros(text, len);
	for (int i = 0; i < 2; i++) {
		struct spf_request req = { .ip = ips[i], .sender = "user@example.com",
					   .helo = "helo.example.org", .now = 1 };
		spf_check *c = spf_check_start(&dns, &req, fuzz_done, NULL);

		if (!spf_check_done(c))
			abort();
		spf_check_free(&c);
	}
	free(text);
	return 0;
}
