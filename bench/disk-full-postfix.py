#!/usr/bin/env python3
"""disk-full-postfix.py: the full-disk scenario of tests/e2e/test_diskfull.py
(the same SmallFs, senders and checks) against the private Postfix of
../shared/bench/peers.sh, with its whole state (config, queue, Maildir,
log) on the small file system. Postfix gets the settings the Postern test
uses: message_size_limit 1 MiB (Postfix refuses MAIL FROM below 1.5 x that
free) and retries after 1-5 s. Prints one "diskfull:" line like the test.

    bench/disk-full-postfix.py SHARED_DIR      (as root; bench/disk-full.sh)
Environment: DISKFULL_MB, DISKFULL_LEAVE_MB, DISKFULL_MORE as for the test;
PEER_SMTP_PORT (2625, so as not to meet a peers.sh run on 2525).
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import test_diskfull as dfull  # noqa: E402
from harness import port_open, wait_for  # noqa: E402

PORT = int(os.environ.get("PEER_SMTP_PORT", "2625"))
SETTINGS = ["message_size_limit=1048576", "minimal_backoff_time=1s",
            "maximal_backoff_time=5s", "queue_run_delay=1s"]


def peers(shared, env, *args):
    res = subprocess.run([os.path.join(shared, "bench", "peers.sh")] + list(args), env=env,
                         capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        raise RuntimeError("peers.sh %s: %s%s" % (" ".join(args), res.stdout, res.stderr))


def main():
    shared = os.path.abspath(sys.argv[1])
    fs = dfull.SmallFs(dfull.FS_MB)
    env = dict(os.environ, BENCH_DIR=fs.mnt, SMTP_PORT=str(PORT))
    etc = os.path.join(fs.mnt, "postfix", "etc")
    spool = os.path.join(fs.mnt, "postfix", "spool")
    try:
        peers(shared, env, "start", "postfix")
        subprocess.run(["postconf", "-c", etc, "-e"] + SETTINGS, check=True)
        subprocess.run(["postfix", "-c", etc, "reload"], check=True, capture_output=True)
        if not wait_for(lambda: port_open(PORT), 20):
            raise RuntimeError("postfix does not listen on %d" % PORT)

        def queue_counts():
            found = {}
            for sub in ("maildrop", "incoming", "active", "deferred"):
                n = sum(len(files) for _, _, files in os.walk(os.path.join(spool, sub)))
                found[sub] = n
            return found

        maildir = os.path.join(fs.mnt, "mail", "maildir")
        run = dfull.full_disk_run(fs, PORT, maildir, queue_counts, rcpt="user@bench.test")
        print("diskfull: server=postfix %s" % run.figures(), file=sys.stderr)
    finally:
        try:
            peers(shared, env, "stop", "postfix")
        finally:
            fs.cleanup()


if __name__ == "__main__":
    main()
