/* qinject.c: a test-only tool (never installed) that queues a message the
 * way smtpd does, for the end-to-end tests of qmgr and local before and
 * besides smtpd: reads the message (LF line ends) from stdin, writes it
 * with q_writer (tmp/, fsync, rename into incoming/, fsync incoming/),
 * prints the queue ID and triggers qmgr unless -T is given; -A makes the
 * arrival time that many seconds ago (for the queue filters by age).
 *   qinject [-T] [-U] [-A SECONDS_AGO] [-R full|hdrs] [-N never|success|failure|delay]
 *           [-E ENVID] [-O] QUEUE_DIR SENDER RCPT...
 * SENDER "" is the null sender; -N may be repeated; -O gives every
 * recipient the ORCPT "rfc822;<its address>"; -U marks the message
 * SMTPUTF8. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "mem.h"
#include "q.h"
#include "sock.h"

struct opts {
	bool trigger;
	bool smtputf8;
	int ret;
	int notify;
	long age; /* arrival this many seconds ago */
	char *envid;
	bool orcpt;
};

static void usage(void)
{
	fprintf(stderr, "usage: qinject [-T] [-U] [-A SECONDS_AGO] [-R full|hdrs] "
			"[-N never|success|failure|delay] [-E ENVID] [-O] "
			"QUEUE_DIR SENDER RCPT...\n");
	exit(2);
}

static int parse_notify(const char *s)
{
	if (strcmp(s, "never") == 0)
		return Q_NOTIFY_NEVER;
	if (strcmp(s, "success") == 0)
		return Q_NOTIFY_SUCCESS;
	if (strcmp(s, "failure") == 0)
		return Q_NOTIFY_FAILURE;
	if (strcmp(s, "delay") == 0)
		return Q_NOTIFY_DELAY;
	usage();
	return 0;
}

static int write_content(q_writer *w, char **err_r)
{
	char chunk[65536];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		if (q_writer_content(w, chunk, n, err_r) < 0)
			return -1;
	return 0;
}

static void trigger(const char *queue_dir, const char *id)
{
	char *path = xasprintf("%s/private/qmgr", queue_dir), *err = NULL;
	attr_rec *rec = attr_new("qmgr_trigger");
	int fd = sock_connect_unix(path, &err);

	attr_add_str(rec, "queue_id", id);
	if (fd < 0 || attr_send(fd, rec, 5000, &err) < 0)
		fprintf(stderr, "qinject: trigger: %s\n", err);
	if (fd >= 0)
		close(fd);
	free(err);
	free(path);
	attr_free(&rec);
}

static int inject(const struct opts *o, const char *queue_dir, const char *sender, char **rcpts,
		  int n)
{
	struct q_rcpt *r = xcalloc((size_t)n, sizeof(*r));
	struct q_envelope env = { .arrival = time(NULL) - o->age, .sender = (char *)sender,
				  .ret = o->ret, .envid = o->envid, .smtputf8 = o->smtputf8,
				  .client = "qinject",
				  .rcpts = r, .nrcpts = n };
	char *err = NULL, *id;
	q_writer *w = q_writer_new(queue_dir, &err);

	for (int i = 0; i < n; i++) {
		r[i].address = rcpts[i];
		r[i].notify = o->notify;
		r[i].orcpt = o->orcpt ? xasprintf("rfc822;%s", rcpts[i]) : NULL;
		r[i].state = Q_RCPT_PENDING;
	}
	if (w == NULL || q_writer_envelope(w, &env, &err) < 0 || write_content(w, &err) < 0) {
		fprintf(stderr, "qinject: %s\n", err);
		if (w != NULL)
			q_writer_abort(&w);
		return 1;
	}
	id = xstrdup(q_writer_id(w));
	if (q_writer_commit(&w, &err) < 0 || q_sync_dir(queue_dir, Q_INCOMING) < 0) {
		fprintf(stderr, "qinject: %s\n", err ? err : "fsync failed");
		return 1;
	}
	printf("%s\n", id);
	fflush(stdout);
	if (o->trigger)
		trigger(queue_dir, id);
	free(id);
	for (int i = 0; i < n; i++)
		free(r[i].orcpt);
	free(r);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .trigger = true };
	int c;

	while ((c = getopt(argc, argv, "TUA:R:N:E:O")) != -1) {
		switch (c) {
		case 'T': o.trigger = false; break;
		case 'U': o.smtputf8 = true; break;
		case 'A': o.age = atol(optarg); break;
		case 'R': o.ret = strcmp(optarg, "full") == 0 ? 1 : 2; break;
		case 'N': o.notify |= parse_notify(optarg); break;
		case 'E': o.envid = optarg; break;
		case 'O': o.orcpt = true; break;
		default: usage();
		}
	}
	if (argc - optind < 3)
		usage();
	return inject(&o, argv[optind], argv[optind + 1], argv + optind + 2, argc - optind - 2);
}
