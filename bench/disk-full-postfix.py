#!/usr/bin/env python3
"""disk-full-postfix.py: the full-disk scenario of tests/e2e/test_diskfull.py
(the same SmallFs, senders and checks) against the private Postfix of
../shared/bench/peers.sh, with its whole state (config, queue, Maildir,
log) on the small file system. Postfix gets the settings the Postern test
uses: message_size_limit 1 MiB (Postfix refuses MAIL FROM below 1.5 x that
free) and retries after 1-5 s. Prints one "diskfull:" line like the test.

    bench/disk-full-postfix.py SHARED_DIR      (as root; bench/disk-full.sh)
    bench/disk-full-postfix.py SHARED_DIR behind

"behind" runs the scenario of the test's FilledBehindItsBack instead: qmgr
held (SIGSTOP) while 200 messages are queued, every free block taken, qmgr
let go; then the space is freed and the delivery timed (60 s, then a
flush). Prints one "filled-behind:" line.
Environment: DISKFULL_MB, DISKFULL_LEAVE_MB, DISKFULL_MORE as for the test;
PEER_SMTP_PORT (2625, so as not to meet a peers.sh run on 2525).
"""
import os
import signal
import subprocess
import sys
import time

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


def postfix_qmgr(spool):
    """pid of the qmgr child of this Postfix instance's master."""
    with open(os.path.join(spool, "pid", "master.pid")) as f:
        master = int(f.read().strip())
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                text = f.read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        if name == "qmgr" and int(text[text.rindex(")") + 2:].split()[1]) == master:
            return int(entry)
    return None


def behind(fs, etc, maildir, queue_counts):
    spool = os.path.join(os.path.dirname(etc), "spool")
    qmgr = wait_for(lambda: postfix_qmgr(spool), timeout=10)
    os.kill(qmgr, signal.SIGSTOP)
    try:
        sender = dfull.Sender(PORT, "q", None, "user@bench.test")
        sender.run(4, 0, 50)
        filler = fs.fill_all()
    finally:
        os.kill(qmgr, signal.SIGCONT)
    history = []

    def settled():
        now = (time.monotonic(), queue_counts())
        history[:] = [h for h in history if now[0] - h[0] <= 2.5] + [now]
        return now[0] - history[0][0] >= 2 and all(h[1] == now[1] for h in history)
    wait_for(settled, timeout=30, step=0.5)
    stuck = queue_counts()
    t_freed = time.monotonic()
    os.unlink(filler)

    def delivered():
        if any(queue_counts().values()):
            return False
        counts = dfull.maildir_tokens(maildir)
        return all(counts.get(t) for t in sender.accepted)
    done = wait_for(delivered, timeout=dfull.DELIVERY_DEADLINE, step=0.5)
    delivery = "%.1f" % (time.monotonic() - t_freed) if done else "timeout"
    at_60s = queue_counts()
    flushed = "-"
    if not done:
        subprocess.run(["postqueue", "-c", etc, "-f"], capture_output=True)
        flushed = "yes" if wait_for(delivered, timeout=30, step=0.5) else "no"
    counts = dfull.maildir_tokens(maildir)
    pairs = lambda d: ",".join("%s:%d" % kv for kv in sorted(d.items()))  # noqa: E731
    print("filled-behind: server=postfix fs=%s accepted=%d refusals=%d queue_when_full=%s "
          "delivery_s=%s queue_at_60s=%s delivered_after_flush=%s lost=%d twice=%d "
          "same_qmgr=%s" % (
              fs.kind.split()[0], len(sender.accepted), len(sender.refusals), pairs(stuck),
              delivery, pairs(at_60s), flushed,
              len([t for t in sender.accepted if not counts.get(t)]),
              len([t for t, n in counts.items() if n > 1]), postfix_qmgr(spool) == qmgr),
          file=sys.stderr)


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
        if sys.argv[2:3] == ["behind"]:
            behind(fs, etc, maildir, queue_counts)
        else:
            run = dfull.full_disk_run(fs, PORT, maildir, queue_counts, rcpt="user@bench.test")
            print("diskfull: server=postfix %s" % run.figures(), file=sys.stderr)
    finally:
        try:
            peers(shared, env, "stop", "postfix")
        finally:
            fs.cleanup()


if __name__ == "__main__":
    main()
