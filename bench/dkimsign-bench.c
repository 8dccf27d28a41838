/* dkimsign-bench.c: the cost of DKIM signing per message, for
 * BENCHMARKS.md: the whole path smtpd takes (lib/dkim_policy: table
 * lookup in a texthash map, key cache check, signer set-up, the body fed
 * in 64 KiB pieces, the signature) for 4 KB and 1 MB messages with an
 * RSA-2048 key, an Ed25519 key and both at once.
 *   bench/dkimsign-bench [-n messages]
 * Keys and table are made in a temporary directory and removed at the
 * end. Built by make check, not run by it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "dkim_policy.h"
#include "fsutil.h"
#include "mem.h"

static const char header[] = "From: Alice <alice@example.com>\nTo: bob@example.net\n"
			     "Subject: benchmark\nDate: Mon, 07 Dec 2026 10:00:00 +0000\n"
			     "Message-ID: <bench@example.com>\n\n";

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char *path = fs_join(dir, name);
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	free(path);
}

static void make_key(const char *dir, const char *name, enum dkim_alg alg)
{
	char *pem = NULL, *err = NULL;

	if (dkim_policy_keygen(alg, 2048, &pem, &err) < 0) {
		fprintf(stderr, "keygen: %s\n", err);
		exit(1);
	}
	write_file(dir, name, pem);
	free(pem);
}

/* body: size bytes of 72-column text lines. */
static char *make_body(size_t size)
{
	char *b = xmalloc(size + 1);

	for (size_t i = 0; i < size; i++)
		b[i] = i % 73 == 72 ? '\n' : (char)('a' + i % 26);
	b[size] = '\0';
	return b;
}

/* run: ms per message for domain's keys. */
static double run(dkim_policy *p, const char *domain, const char *body, size_t size, int n)
{
	double start = now_ms();

	for (int i = 0; i < n; i++) {
		dkim_policy_signing *s = NULL;
		char *err = NULL;
		buf *out = buf_new(2048);

		if (dkim_policy_start(p, "BENCH", domain, NULL, &s, &err) != DKIM_POLICY_SIGN) {
			fprintf(stderr, "no signing: %s\n", err ? err : "?");
			exit(1);
		}
		for (size_t off = 0; off < size; off += 65536)
			dkim_policy_body(s, body + off, size - off < 65536 ? size - off : 65536);
		if (dkim_policy_finish(s, header, sizeof(header) - 1, out, &err) < 0) {
			fprintf(stderr, "finish: %s\n", err);
			exit(1);
		}
		buf_free(&out);
		dkim_policy_signing_free(&s);
	}
	return (now_ms() - start) / n;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *label, *domain;
	} keys[] = { { "RSA-2048", "rsa.example" },
		     { "Ed25519", "ed.example" },
		     { "RSA-2048 + Ed25519", "both.example" } };
	static const size_t sizes[] = { 4096, 1024 * 1024 };
	char dir[] = "/tmp/dkimsign-bench.XXXXXX", *table, *cmd, *err = NULL;
	int n = argc == 3 && strcmp(argv[1], "-n") == 0 ? atoi(argv[2]) : 200;
	dkim_policy *p;
	cfg *c;

	if (mkdtemp(dir) == NULL || n <= 0) {
		fprintf(stderr, "usage: dkimsign-bench [-n messages]\n");
		return 2;
	}
	make_key(dir, "r.key", DKIM_RSA_SHA256);
	make_key(dir, "e.key", DKIM_ED25519_SHA256);
	write_file(dir, "table", "rsa.example r:rsa:r.key\ned.example e:ed25519:e.key\n"
				 "both.example r:rsa:r.key, e:ed25519:e.key\n");
	c = cfg_new(dir);
	table = xasprintf("texthash:%s/table", dir);
	cfg_set(c, "dkim_signing_table", table);
	p = dkim_policy_new(c, &err);
	printf("%-20s %12s %12s\n", "key", "4 KB ms/msg", "1 MB ms/msg");
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		printf("%-20s", keys[k].label);
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			char *body = make_body(sizes[i]);
			int times = sizes[i] > 100000 ? (n / 10 > 0 ? n / 10 : 1) : n;

			printf(" %12.3f", run(p, keys[k].domain, body, sizes[i], times));
			free(body);
		}
		printf("\n");
	}
	dkim_policy_free(&p);
	cfg_free(&c);
	free(table);
	cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	free(cmd);
	return 0;
}
