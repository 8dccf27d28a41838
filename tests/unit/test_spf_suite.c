/* test_spf_suite.c: runs the RFC 7208 conformance suite (the openspf.org
 * test suite as JSON, ../shared/conformance/spf/rfc7208-tests.json beside
 * the source tree, or $SPF_SUITE, or $SHARED/conformance/spf/...) against
 * lib/spf: each document's zone is served from memory (spf_zone), every
 * test is evaluated asynchronously and compared with its result(s) and
 * explanation. Prints "SPF suite: N passed, M failed" and each failure;
 * exits 77 (skipped) when the suite file is absent. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "jsonread.h"
#include "mem.h"
#include "spf.h"
#include "spf_zone.h"

#define SUITE_REL "conformance/spf/rfc7208-tests.json"

struct suite_count {
	unsigned passed, failed;
};

static void suite_done(void *ctx, const struct spf_answer *ans)
{
	(void)ans;
	*(bool *)ctx = true;
}

static const char *suite_str(const struct jv *t, const char *key)
{
	const struct jv *v = jv_get(t, key);

	return v != NULL && v->type == JV_STRING ? v->str : NULL;
}

static bool suite_result_ok(const struct jv *want, enum spf_result got)
{
	const char *name = spf_result_name(got);

	if (want == NULL)
		return false;
	if (want->type == JV_STRING)
		return strcmp(want->str, name) == 0;
	for (size_t i = 0; want->type == JV_ARRAY && i < want->count; i++)
		if (want->items[i]->type == JV_STRING && strcmp(want->items[i]->str, name) == 0)
			return true;
	return false;
}

static void suite_want_text(const struct jv *want, buf *b)
{
	if (want != NULL && want->type == JV_STRING)
		buf_puts(b, want->str);
	for (size_t i = 0; want != NULL && want->type == JV_ARRAY && i < want->count; i++)
		buf_printf(b, "%s%s", i > 0 ? "|" : "", want->items[i]->str);
}

/* suite_run_test: one test of one document; 0 passed, -1 failed. */
static int suite_run_test(spf_zone *z, const char *doc, const char *name, const struct jv *t)
{
	struct spf_dns dns = spf_zone_dns(z);
	struct spf_request req = {
		.ip = suite_str(t, "host"),
		.sender = suite_str(t, "mailfrom"),
		.helo = suite_str(t, "helo"),
		.now = 1700000000,
		.default_exp = "DEFAULT",
	};
	const char *want_exp = suite_str(t, "explanation");
	bool called = false;
	spf_check *c = spf_check_start(&dns, &req, suite_done, &called);
	const struct spf_answer *ans;
	int rc = 0;

	spf_zone_run(z);
	ans = spf_check_answer(c);
	if (ans == NULL || (called && spf_check_done(c) && 0)) {
		printf("FAIL %s / %s: no answer after every query was answered\n", doc, name);
		rc = -1;
	} else if (!suite_result_ok(jv_get(t, "result"), ans->result) ||
		   (want_exp != NULL &&
		    (ans->explanation == NULL || strcmp(ans->explanation, want_exp) != 0))) {
		buf *w = buf_new(32);

		suite_want_text(jv_get(t, "result"), w);
		printf("FAIL %s / %s: got %s (%s), want %s", doc, name,
		       spf_result_name(ans->result), ans->reason, buf_cstr(w));
		if (want_exp != NULL)
			printf("; explanation \"%s\", want \"%s\"",
			       ans->explanation != NULL ? ans->explanation : "(none)", want_exp);
		printf("\n");
		buf_free(&w);
		rc = -1;
	}
	spf_check_free(&c);
	return rc;
}

static void suite_run_doc(const struct jv *d, struct suite_count *n)
{
	const struct jv *zonedata = jv_get(d, "zonedata");
	const struct jv *tests = jv_get(d, "tests");
	const char *desc = suite_str(d, "description");
	struct jv empty = { .type = JV_OBJECT };
	spf_zone *z = spf_zone_new(zonedata != NULL ? zonedata : &empty);

	for (size_t i = 0; tests != NULL && i < tests->count; i++) {
		if (suite_run_test(z, desc != NULL ? desc : "?", tests->keys[i], tests->items[i]) == 0)
			n->passed++;
		else
			n->failed++;
	}
	spf_zone_free(&z);
}

/* suite_path: where the suite is, or NULL. */
static char *suite_path(void)
{
	const char *env = getenv("SPF_SUITE");
	const char *dirs[3] = { getenv("SHARED"), getenv("POSTERN_SRCDIR"), "." };
	buf *b = buf_new(256);

	if (env != NULL && *env != '\0') {
		buf_free(&b);
		return xstrdup(env);
	}
	for (int i = 0; i < 3; i++) {
		if (dirs[i] == NULL || *dirs[i] == '\0')
			continue;
		buf_reset(b);
		buf_printf(b, i == 0 ? "%s/%s" : "%s/../shared/%s", dirs[i], SUITE_REL);
		if (access(buf_cstr(b), R_OK) == 0)
			return buf_steal_free(&b);
	}
	buf_free(&b);
	return NULL;
}

static char *suite_read(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "r");
	buf *b = buf_new(65536);
	char chunk[65536];
	size_t n;

	if (f == NULL) {
		buf_free(&b);
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(b, chunk, n);
	fclose(f);
	*len_r = buf_len(b);
	return buf_steal_free(&b);
}

int main(void)
{
	char *path = suite_path();
	struct suite_count n = { 0, 0 };
	const char *err;
	size_t len, pos;
	struct jv *docs;
	char *text;

	if (path == NULL) {
		printf("SPF suite: skipped: %s not found (put the shared directory beside the "
		       "source tree, or set SHARED or SPF_SUITE)\n", "../shared/" SUITE_REL);
		if (fcntl(9, F_GETFD) != -1)
			dprintf(9, "SPF suite: skipped: ../shared/%s not found\n", SUITE_REL);
		return 77;
	}
	text = suite_read(path, &len);
	if (text == NULL) {
		printf("SPF suite: cannot read %s\n", path);
		return 1;
	}
	docs = jv_parse(text, len, &err, &pos);
	if (docs == NULL || docs->type != JV_ARRAY) {
		printf("SPF suite: %s: bad JSON at byte %zu: %s\n", path, pos,
		       docs == NULL ? err : "not a list of documents");
		return 1;
	}
	for (size_t i = 0; i < docs->count; i++)
		suite_run_doc(docs->items[i], &n);
	printf("SPF suite: %u passed, %u failed (%s, %zu documents)\n", n.passed, n.failed, path,
	       docs->count);
	if (fcntl(9, F_GETFD) != -1) /* make check shows fd 9 (AM_TESTS_FD_REDIRECT) */
		dprintf(9, "SPF suite: %u passed, %u failed\n", n.passed, n.failed);
	jv_free(&docs);
	free(text);
	free(path);
	return n.failed == 0 && n.passed > 0 ? 0 : 1;
}
