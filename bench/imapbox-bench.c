/* imapbox-bench.c: times lib/imapbox on a big folder, for BENCHMARKS.md:
 * open (SELECT) cold and warm, a sync with nothing changed (NOOP, IDLE
 * wake-up), single-message STORE followed by a sync (UID STORE as imapd
 * runs it), STATUS, and APPEND into the big folder.
 *   bench/imapbox-bench [-k] [-n messages] [-s stores] DIR
 * When DIR does not exist it is made as a Maildir of n small messages
 * (in cur/, Seen, with ,S= and ,W= in the names as local and Dovecot
 * write them) and removed at the end; an existing DIR is used as it is
 * and kept (-k keeps the one made too). Built by make check, not run by it. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "imapbox.h"
#include "mbx.h"
#include "md.h"
#include "mem.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, const char *err)
{
	fprintf(stderr, "imapbox-bench: %s: %s\n", what, err != NULL ? err : strerror(errno));
	exit(1);
}

static void make_folder(const char *dir, long n)
{
	static const char body[] = "From: a@example.org\nSubject: bench\n\nhello\n";
	char *err = NULL;

	if (md_create(dir, false, &err) < 0)
		die("md_create", err);
	for (long i = 0; i < n; i++) {
		char *p = xasprintf("%s/cur/%ld.M%ldP1.bench,S=%zu,W=%zu:2,S", dir, 1700000000 + i, i,
				    sizeof(body) - 1, sizeof(body) - 1 + 4);
		int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);

		if (fd < 0 || fs_write_all(fd, body, sizeof(body) - 1) < 0)
			die(p, NULL);
		close(fd);
		free(p);
	}
}

static imapbox *timed_open(const char *dir, const char *label)
{
	imapbox *box = NULL;
	char *err = NULL;
	double t = now_ms(), c = cpu_ms();

	if (imapbox_open(dir, true, &box, &err) != IMAPBOX_OK)
		die("imapbox_open", err);
	printf("%-34s %10.2f ms (cpu %.2f ms; %u messages)\n", label, now_ms() - t, cpu_ms() - c,
	       imapbox_count(box));
	return box;
}

static void bench_stores(imapbox *box, long stores)
{
	struct imapbox_store st = { .op = IMAPBOX_STORE_ADD, .flags = IMAPMSG_FLAGGED };
	struct imapbox_store_result res;
	struct imapbox_changes ch;
	char *err = NULL;
	double t = now_ms();

	for (long i = 0; i < stores; i++) {
		uint32_t seq = (uint32_t)(1 + (i * 7919) % imapbox_count(box));

		st.op = (i / (long)imapbox_count(box)) % 2 ? IMAPBOX_STORE_REMOVE : IMAPBOX_STORE_ADD;
		if (imapbox_store(box, &seq, 1, &st, &res, &err) != IMAPBOX_OK)
			die("imapbox_store", err);
		if (imapbox_sync(box, &err) != IMAPBOX_OK)
			die("imapbox_sync", err);
		imapbox_take(box, false, &ch);
	}
	t = now_ms() - t;
	printf("%-34s %10.3f ms each, %.0f/s (%ld)\n", "UID STORE + sync", t / (double)stores,
	       (double)stores * 1000.0 / t, stores);
}

static void bench_mbx(const char *dir)
{
	mbx *mb = NULL;
	char *err = NULL;
	double t = now_ms(), c = cpu_ms();

	if (mbx_open(dir, &mb, &err) < 0)
		die("mbx_open", err);
	printf("%-34s %10.2f ms (cpu %.2f ms)\n", "of which lib/mbx (mbx_open)", now_ms() - t, cpu_ms() - c);
	mbx_free(&mb);
}

/* bench_delivery: a message appears in new/ (as local delivers it), then
 * the session syncs (an IDLE wake-up): a full rescan of the folder. */
static void bench_delivery(imapbox *box, const char *dir)
{
	struct imapbox_changes ch;
	char *err = NULL, *p = xasprintf("%s/new/%ld.M1P2.delivered", dir, (long)time(NULL));
	double t, c;

	if (fs_write_atomic(p, "Subject: new\n\nnew\n", 19, 0600, &err) < 0)
		die("write", err);
	t = now_ms();
	c = cpu_ms();
	if (imapbox_sync(box, &err) != IMAPBOX_OK)
		die("imapbox_sync", err);
	imapbox_take(box, true, &ch);
	printf("%-34s %10.2f ms (cpu %.2f ms; EXISTS %u, RECENT %u)\n", "sync after a delivery", now_ms() - t,
	       cpu_ms() - c, ch.exists, ch.recent);
	t = now_ms();
	if (imapbox_sync(box, &err) != IMAPBOX_OK)
		die("imapbox_sync", err);
	imapbox_take(box, true, &ch);
	printf("%-34s %10.2f ms\n", "the sync after that", now_ms() - t);
	free(p);
}

static void bench_sync(imapbox *box)
{
	struct imapbox_changes ch;
	char *err = NULL;
	double t = now_ms();

	for (int i = 0; i < 1000; i++) {
		if (imapbox_sync(box, &err) != IMAPBOX_OK)
			die("imapbox_sync", err);
		imapbox_take(box, true, &ch);
	}
	printf("%-34s %10.4f ms each\n", "sync, nothing changed", (now_ms() - t) / 1000.0);
}

static void bench_status_append(const char *dir)
{
	struct imapbox_status st;
	struct imapbox_append ap = { .flags = IMAPMSG_SEEN };
	uint32_t uv, uid;
	char *err = NULL, *tmp = xasprintf("%s/tmp/bench-append", dir);
	double t = now_ms();

	if (imapbox_status(dir, ~0u, &st, &err) != IMAPBOX_OK)
		die("imapbox_status", err);
	printf("%-34s %10.2f ms\n", "STATUS (all items)", now_ms() - t);
	if (fs_write_atomic(tmp, "Subject: x\n\nx\n", 14, 0600, &err) < 0)
		die("write", err);
	ap.tmp_path = tmp;
	t = now_ms();
	if (imapbox_append(dir, &ap, &uv, &uid, &err) != IMAPBOX_OK)
		die("imapbox_append", err);
	printf("%-34s %10.2f ms (UID %u)\n", "APPEND", now_ms() - t, uid);
	free(tmp);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(int argc, char **argv)
{
	long n = 100000, stores = 2000;
	imapbox *box;
	double t;
	bool keep;
	int opt;

	bool keep_made = false;

	while ((opt = getopt(argc, argv, "kn:s:")) != -1) {
		if (opt == 'k')
			keep_made = true;
		else if (opt == 'n')
			n = atol(optarg);
		else if (opt == 's')
			stores = atol(optarg);
		else
			return 2;
	}
	if (optind != argc - 1 || n < 1 || stores < 1) {
		fprintf(stderr, "usage: imapbox-bench [-k] [-n messages] [-s stores] DIR\n");
		return 2;
	}
	keep = access(argv[optind], F_OK) == 0;
	t = now_ms();
	if (!keep) {
		make_folder(argv[optind], n);
		printf("%-34s %10.0f ms\n", "make folder", now_ms() - t);
	}
	box = timed_open(argv[optind], "open, first (uidlist, modseq)");
	imapbox_close(&box);
	for (int i = 0; i < 3; i++) {
		box = timed_open(argv[optind], "open, warm (SELECT)");
		if (i < 2)
			imapbox_close(&box);
	}
	bench_mbx(argv[optind]);
	bench_sync(box);
	bench_delivery(box, argv[optind]);
	bench_stores(box, stores);
	imapbox_close(&box);
	box = timed_open(argv[optind], "open after the stores");
	imapbox_close(&box);
	bench_status_append(argv[optind]);
	if (!keep && !keep_made)
		nftw(argv[optind], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
