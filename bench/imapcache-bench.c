/* imapcache-bench.c: times the per-folder FETCH cache (lib/imapcache) the
 * way imapd uses it for "UID FETCH 1:* ENVELOPE" and a header-field fetch
 * over a big folder: compute and store every field of N messages (default
 * 100,000), open the file again (index build), then read every ENVELOPE
 * and every header block, twice (the first pass checks the checksums).
 * Usage: bench/imapcache-bench [N [dir]]; dir is a scratch directory
 * (default: a new one under /tmp, removed at the end). Built by make
 * check, never run by it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "imapcache.h"
#include "mem.h"

#define BASE_MAX 64 /* room for one base name */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* make_message: a plausible message of a few KB, different per i. */
static void make_message(buf *m, unsigned i)
{
	buf_reset(m);
	buf_printf(m,
		   "Return-Path: <sender%u@example.org>\n"
		   "Received: from mx.example.org (mx.example.org [192.0.2.%u])\n"
		   "\tby mail.example.net with ESMTPS id %08X\n"
		   "\tfor <user@example.net>; Mon, 7 Dec 2026 10:%02u:00 +0000\n"
		   "From: \"Sender Number %u\" <sender%u@example.org>\n"
		   "To: User <user@example.net>, other%u@example.com\n"
		   "Cc: =?UTF-8?Q?J=C3=BCrgen?= <j@example.de>\n"
		   "Subject: Report %u about the things we discussed\n"
		   "Date: Mon, 7 Dec 2026 10:%02u:00 +0000\n"
		   "Message-ID: <%u.%u@example.org>\n"
		   "In-Reply-To: <%u.0@example.org>\n"
		   "MIME-Version: 1.0\n"
		   "Content-Type: multipart/alternative; boundary=\"b%u\"\n"
		   "\n"
		   "--b%u\n"
		   "Content-Type: text/plain; charset=utf-8\n\n",
		   i, i % 250, i, i % 60, i, i, i, i, i % 60, i, i * 7, i, i, i);
	for (int l = 0; l < 20; l++)
		buf_puts(m, "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do.\n");
	buf_printf(m, "--b%u\nContent-Type: text/html; charset=utf-8\n\n<p>hello</p>\n--b%u--\n",
		   i, i);
}

/* read_all: one pass of lookups of field over every message, timed. */
static void read_all(imapcache *c, unsigned n, const char *bases, enum imapmsg_field field,
		     int pass)
{
	double t0 = now();
	size_t hits = 0, total = 0;
	const char *val;
	size_t len;

	for (unsigned i = 1; i <= n; i++)
		if (imapcache_get(c, i, bases + (size_t)(i - 1) * BASE_MAX, field, &val, &len)) {
			hits++;
			total += len;
		}
	printf("%s pass %d: %zu hits, %zu bytes, %.3f s\n",
	       field == IMAPMSG_HEADER ? "HEADER" : "ENVELOPE", pass + 1, hits, total, now() - t0);
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 100000;
	char tmpl[] = "/tmp/imapcache-bench.XXXXXX", *err = NULL, *cmd, *bases;
	const char *dir = argc > 2 ? argv[2] : mkdtemp(tmpl);
	buf *msg = buf_new(4096), *v[IMAPMSG_NFIELDS];
	imapcache *c;
	struct imapcache_stats st;
	double t0, t1, compute = 0;

	if (dir == NULL || n == 0)
		return 1;
	bases = xmalloc((size_t)n * BASE_MAX);
	for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++)
		v[f] = buf_new(4096);
	if (imapcache_open(dir, 1, &c, &err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	t0 = now();
	for (unsigned i = 1; i <= n; i++) {
		double c0 = now();

		make_message(msg, i);
		for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++)
			buf_reset(v[f]);
		imapcache_compute(buf_cstr(msg), buf_len(msg), v);
		compute += now() - c0;
		snprintf(bases + (size_t)(i - 1) * BASE_MAX, BASE_MAX,
			 "%u.M%uP%u.mail.example.net,S=%zu", 1700000000 + i, i, i * 3, buf_len(msg));
		imapcache_put_all(c, i, bases + (size_t)(i - 1) * BASE_MAX, v);
	}
	imapcache_close(&c);
	t1 = now();
	printf("write %u messages: %.3f s (of which compute %.3f s, cache %.3f s)\n", n, t1 - t0,
	       compute, t1 - t0 - compute);

	for (int round = 0; round < 2; round++) {
		enum imapmsg_field field = round == 1 ? IMAPMSG_HEADER : IMAPMSG_ENVELOPE;

		t0 = now();
		if (imapcache_open(dir, 1, &c, &err) < 0)
			return 1;
		printf("open (index build): %.3f s\n", now() - t0);
		for (int pass = 0; pass < 2; pass++)
			read_all(c, n, bases, field, pass);
		imapcache_stats(c, &st);
		if (round == 0)
			printf("file %u bytes, %zu records, %zu messages\n", st.file_bytes, st.records,
			       st.messages);
		imapcache_close(&c);
	}
	for (unsigned f = 0; f < IMAPMSG_NFIELDS; f++)
		buf_free(&v[f]);
	buf_free(&msg);
	free(bases);
	if (argc <= 2) {
		cmd = xasprintf("rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return 1;
		free(cmd);
	}
	return 0;
}
