#!/usr/bin/env python3
"""Disk full (issue 12). The test makes a small file system itself: an ext4
image on a loop device (what showed the bug: a rename fails with ENOSPC
when the target directory needs a new block), or a size-limited tmpfs only
where loop devices cannot be used; it says which. Needs root (mount).

- Everything on one 64 MiB file system (queue, mail store, log): 32 KB
  messages over 4 sessions until refusals start, more while it is full,
  every 250 recorded; then space is freed (a filler file the test made is
  removed) and every message answered 250 must be delivered exactly once
  within a minute, without a restart. Refusals must be 452 4.3.1 at MAIL
  FROM (queue_minfree), never 421 "too many errors", never 5xx.
- The same file system filled to its last block behind Postern's back
  (qmgr held while 200 messages queue, then every block taken, as a
  runaway log would): qmgr's moves and local's deliveries fail with
  ENOSPC; once space is back, every message is delivered exactly once
  within a minute by the same processes, with no flush and no new mail.
- The mail store on its own small file system, the queue with room: local
  defers (nothing bounced, messages wait in deferred/) and delivers them
  once space is freed.

DISKFULL_MB, DISKFULL_LEAVE_MB (free space left by the filler) and
DISKFULL_MORE (messages per session while full) size the first test; its
figures go to stderr as one "diskfull:" line (bench/disk-full.sh reads it).
"""
import errno
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, Instance, free_port, port_open, require_tools, wait_for  # noqa: E402

if not ROOT:
    print("%s: needs root: it mounts a loop-device ext4 image (mkfs.ext4, mount -o loop)"
          " or a tmpfs; run make check as root (as CI does)" % os.path.basename(sys.argv[0]),
          file=sys.stderr)
    sys.exit(99)
require_tools("mkfs.ext4", "losetup", "mount")

FS_MB = int(os.environ.get("DISKFULL_MB", "64"))
LEAVE_MB = float(os.environ.get("DISKFULL_LEAVE_MB", "10"))
# more than smtpd_hard_error_limit (20): a 452 must not count as an error
MORE = int(os.environ.get("DISKFULL_MORE", "40"))
SESSIONS = 4
MESSAGE_SIZE = 32 * 1024
DELIVERY_DEADLINE = 60  # seconds after space is freed, as the issue says
QUEUE_DIRS = ("incoming", "active", "deferred")


def run(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60)


class SmallFs:
    """A file system of size_mb MiB mounted on a fresh directory: ext4 on a
    loop device, or tmpfs (size=) when loop devices are not available.
    kind says which; cleanup() unmounts (lazily if busy) and removes all."""

    def __init__(self, size_mb):
        self.top = tempfile.mkdtemp(prefix="postern-smallfs-")
        os.chmod(self.top, 0o711)  # the daemons (mail_owner) pass through
        self.mnt = os.path.join(self.top, "mnt")
        os.mkdir(self.mnt)
        image = os.path.join(self.top, "fs.img")
        with open(image, "wb") as f:
            f.truncate(size_mb << 20)
        res = run("mkfs.ext4", "-q", "-F", image)
        if res.returncode != 0:
            raise RuntimeError("mkfs.ext4: " + res.stderr)
        res = run("mount", "-o", "loop", image, self.mnt)
        if res.returncode == 0:
            self.kind = "ext4 on a loop device"
        else:
            why = res.stderr.strip()
            os.unlink(image)
            res = run("mount", "-t", "tmpfs", "-o", "size=%dm,mode=0755" % size_mb,
                      "tmpfs", self.mnt)
            if res.returncode != 0:
                raise RuntimeError("cannot mount ext4 (%s) nor tmpfs: %s" % (why, res.stderr))
            self.kind = "tmpfs (no loop device: %s)" % why
        os.chmod(self.mnt, 0o755)
        print("small file system: %d MiB %s at %s" % (size_mb, self.kind, self.mnt),
              file=sys.stderr)

    def free(self):
        """Bytes an unprivileged writer (the daemons) may still use."""
        st = os.statvfs(self.mnt)
        return st.f_bavail * st.f_frsize

    def fill(self, leave, name="filler"):
        """Makes a file (as root) that leaves about `leave` bytes free for
        the daemons; returns its path."""
        path = os.path.join(self.mnt, name)
        size = max(self.free() - leave, 0)
        with open(path, "wb") as f:
            chunk = b"\0" * (1 << 20)
            while size > 0:
                f.write(chunk[:min(size, len(chunk))])
                size -= len(chunk)
            f.flush()
            os.fsync(f.fileno())
        return path

    def fill_all(self, name="filler.all"):
        """Takes every block left, root's reserve too (as a runaway log
        would), writing until ENOSPC; returns the file's path."""
        path = os.path.join(self.mnt, name)
        chunk = b"\0" * (64 << 10)
        with open(path, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
            try:
                while True:  # the last partial chunk
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        return path

    def cleanup(self):
        if run("umount", self.mnt).returncode != 0:
            run("umount", "-l", self.mnt)
        shutil.rmtree(self.top, ignore_errors=True)


def maildir_tokens(maildir):
    """{X-Disk-Token: copies} over a Maildir's new/ and cur/."""
    counts = {}
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(maildir, sub)):
            with open(os.path.join(maildir, sub, name), "rb") as f:
                for line in f:
                    if line.startswith(b"X-Disk-Token: "):
                        token = line.split()[1].decode()
                        counts[token] = counts.get(token, 0) + 1
                        break
                    if line in (b"\n", b"\r\n"):
                        break
    return counts


class Sender:
    """SMTP sessions that send numbered 32 KB messages and record every
    outcome: the 250s (accepted), and each refusal as (stage, code, text)
    where stage is the command smtplib was at (MAIL, RCPT, DATA)."""

    def __init__(self, port, prefix, free=None, rcpt="demo@example.test"):
        self.port, self.prefix, self.free, self.rcpt = port, prefix, free, rcpt
        self.free_at_first = None  # free() when the first refusal came
        self.lock = threading.Lock()
        self.accepted = set()
        self.refusals = []  # (stage, code, enhanced status + text)
        self.broken = 0
        self.counter = 0

    def next_token(self):
        with self.lock:
            self.counter += 1
            return "%s%05d" % (self.prefix, self.counter)

    def body(self, token):
        head = ("From: full@remote.test\r\nTo: %s\r\nSubject: disk %s\r\n"
                "X-Disk-Token: %s\r\n\r\n" % (self.rcpt, token, token))
        line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-\r\n"
        return head + line * ((MESSAGE_SIZE - len(head)) // len(line))

    def send(self, conn):
        """One message over conn (a new session if None): returns
        (refused?, conn to go on with)."""
        token = self.next_token()
        try:
            if conn is None:
                conn = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
            conn.sendmail("full@remote.test", [self.rcpt], self.body(token))
            with self.lock:
                self.accepted.add(token)
            return False, conn
        except smtplib.SMTPSenderRefused as e:
            self.refused("MAIL", e.smtp_code, e.smtp_error)
        except smtplib.SMTPRecipientsRefused as e:
            code, text = list(e.recipients.values())[0]
            self.refused("RCPT", code, text)
        except smtplib.SMTPDataError as e:
            self.refused("DATA", e.smtp_code, e.smtp_error)
        except (smtplib.SMTPException, OSError):
            with self.lock:
                self.broken += 1
            conn = None
        if conn is not None and self.refusals and self.refusals[-1][1] == 421:
            conn = None
        return True, conn

    def refused(self, stage, code, text):
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        with self.lock:
            if not self.refusals and self.free is not None:
                self.free_at_first = self.free()
            self.refusals.append((stage, code, text))

    def session(self, full, more, limit):
        """Sends until `full` is set (by this or another session's first
        refusal), then `more` messages; at most `limit` in all."""
        conn, after = None, 0
        for _ in range(limit):
            refused, conn = self.send(conn)
            if refused:
                full.set()
            if full.is_set():
                after += 1
                if after > more:
                    break
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                pass

    def run(self, sessions, more, limit):
        full = threading.Event()
        threads = [threading.Thread(target=self.session, args=(full, more, limit))
                   for _ in range(sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return full.is_set()


class DiskFullCase(unittest.TestCase):
    def make_instance(self, base=None):
        self.inst = Instance(base=base)
        self.addCleanup(self.inst.cleanup)
        self.port = free_port()
        for key, value in (("minimal_backoff_time", "1s"), ("maximal_backoff_time", "5s"),
                           ("queue_run_delay", "1s"), ("message_size_limit", "1m")):
            self.inst.set_main(key, value)
        self.inst.set_mail_services(["127.0.0.1:%d inet n - n - 2 smtpd" % self.port])
        return self.inst

    def has_key(self, key):
        """Whether main.cf knows a key (issue 12 adds some)."""
        return self.inst.ctl("config", "get", key).returncode == 0

    def start(self):
        self.inst.start()
        self.assertTrue(wait_for(lambda: port_open(self.port), 10), self.inst.log())

    def queue_counts(self):
        return {d: len(self.inst.queue_files(d)) for d in QUEUE_DIRS}

    def delivered_once(self, maildir, accepted):
        """True when the queue is empty and every accepted token is in the
        Maildir (the exact counts are checked afterwards)."""
        if any(self.queue_counts().values()):
            return False
        counts = maildir_tokens(maildir)
        return all(counts.get(t) for t in accepted)

    def assert_exactly_once(self, maildir, accepted, what):
        counts = maildir_tokens(maildir)
        lost = sorted(t for t in accepted if counts.get(t, 0) == 0)
        twice = sorted(t for t, n in counts.items() if n > 1)
        self.assertEqual(twice[:10], [], "%s: delivered more than once" % what)
        self.assertEqual(lost[:10], [], "%s: %d accepted messages not delivered; queue %s;"
                         " log tail:\n%s" % (what, len(lost), self.queue_counts(),
                                             "\n".join(self.inst.log().splitlines()[-15:])))
        return counts


class OneFullFileSystem(DiskFullCase):
    """Queue, mail store and log share one small file system."""

    def test_full_disk_refuses_early_and_delivers_all_after_space_is_freed(self):
        fs = SmallFs(FS_MB)
        self.addCleanup(fs.cleanup)
        self.make_instance(base=fs.mnt)
        # queue_minfree and local_minfree keep their defaults (4 and 2 x
        # message_size_limit); the key is missing before issue 12
        reserve = self.has_key("queue_minfree")
        self.start()
        maildir = self.inst.path("mail", "example.test", "demo")
        run = full_disk_run(fs, self.port, maildir, self.queue_counts)
        print("diskfull: reserve=%s %s" % ("yes" if reserve else "no", run.figures()),
              file=sys.stderr)

        self.assertTrue(run.full, "%d messages of 32 KB filled nothing (%d bytes free)"
                        % (run.limit * SESSIONS, fs.free()))
        self.assertEqual(len(run.after.accepted), 20, "refusals after space was freed: %s"
                         % run.after.refusals[:3])
        self.assert_exactly_once(maildir, run.accepted, "full disk")
        self.assertTrue(run.done, "not all delivered %d s after space was freed: queue %s"
                        % (DELIVERY_DEADLINE, self.queue_counts()))
        refusals = run.sender.refusals
        bad = [r for r in refusals if r[1] != 452 or not r[2].startswith("4.3.1")]
        self.assertEqual(bad[:5], [], "refusals other than 452 4.3.1 (421 = counted as errors)")
        late = [r for r in refusals if r[0] != "MAIL"]
        self.assertEqual(late[:5], [], "452 after the client sent more than MAIL FROM")


class FullDiskRun:
    """One run of the full-disk scenario against any SMTP server whose
    queue, mail store and log sit on fs (bench/disk-full.sh runs it against
    Postfix too): a filler leaves LEAVE_MB free; 4 sessions send until the
    first refusal and MORE each after it; the filler goes; 20 more
    messages; then up to DELIVERY_DEADLINE s for every 250 to be in maildir
    and queue_counts() to be all zero."""

    def __init__(self, fs, port, maildir, queue_counts, rcpt):
        self.fs, self.maildir, self.queue_counts = fs, maildir, queue_counts
        self.sender = Sender(port, "d", fs.free, rcpt)
        self.after = Sender(port, "a", None, rcpt)
        self.limit = int(LEAVE_MB * (1 << 20) / MESSAGE_SIZE) + MORE + 50

    def run(self):
        filler = self.fs.fill(int(LEAVE_MB * (1 << 20)))
        self.full = self.sender.run(SESSIONS, MORE, self.limit)
        self.free_when_full = self.fs.free()
        self.queue_when_full = self.queue_counts()
        t_freed = time.monotonic()
        os.unlink(filler)
        self.after.run(1, 0, 20)  # mail after the space came back
        self.accepted = self.sender.accepted | self.after.accepted
        self.done = wait_for(self.delivered, timeout=DELIVERY_DEADLINE, step=0.5)
        self.delivery_s = time.monotonic() - t_freed
        self.counts = maildir_tokens(self.maildir)
        return self

    def delivered(self):
        if any(self.queue_counts().values()):
            return False
        counts = maildir_tokens(self.maildir)
        return all(counts.get(t) for t in self.accepted)

    def figures(self):
        """key=value text of the run (one line, for the bench)."""
        stages = {}
        for stage, code, text in self.sender.refusals:
            key = "%s:%d:%s" % (stage, code, text.split()[0] if text else "")
            stages[key] = stages.get(key, 0) + 1
        first = self.sender.refusals[0] if self.sender.refusals else None
        pairs = lambda d: ",".join("%s:%d" % kv for kv in sorted(d.items())) or "-"  # noqa: E731
        return " ".join("%s=%s" % kv for kv in [
            ("fs", self.fs.kind.split()[0]),
            ("accepted", len(self.sender.accepted)),
            ("after_free", len(self.after.accepted)),
            ("delivered", sum(self.counts.values())),
            ("lost", len([t for t in self.accepted if not self.counts.get(t)])),
            ("twice", len([t for t, n in self.counts.items() if n > 1])),
            ("refusals", pairs(stages)),
            ("broken", self.sender.broken),
            ("first_refusal", "%s:%d" % first[:2] if first else "-"),
            ("free_at_first", self.sender.free_at_first),
            ("free_when_full", self.free_when_full),
            ("queue_when_full", pairs(self.queue_when_full)),
            ("delivery_s", "%.1f" % self.delivery_s if self.done else "timeout"),
            ("queue_at_end", pairs(self.queue_counts())),
            ("active_at_end", self.queue_counts().get("active", 0)),
        ])


def full_disk_run(fs, port, maildir, queue_counts, rcpt="demo@example.test"):
    return FullDiskRun(fs, port, maildir, queue_counts, rcpt).run()


class FilledBehindItsBack(DiskFullCase):
    """The reserve cannot help when something else takes the last block
    while mail waits in the queue: qmgr is held (SIGSTOP) while 200
    messages are queued, the test then takes every free block (as a
    runaway log would, root's reserve too), and qmgr goes on: its moves
    between incoming/, active/ and deferred/ and local's deliveries fail
    with ENOSPC (a directory that needs a new block). Once the space is
    back, every message is delivered exactly once within a minute by the
    same processes (no restart)."""

    outcome = None  # the scenario runs once for both tests

    def test_every_message_delivered_exactly_once(self):
        r = self.scenario()
        self.assertEqual((r["accepted"], r["refusals"]), (200, []))
        self.assertEqual(r["twice"][:10], [], "delivered more than once")
        self.assertEqual(r["lost"][:10], [], "%d accepted messages never delivered (not even"
                         " after a flush); queue %s" % (len(r["lost"]), r["queue_at_end"]))
        self.assertFalse(r["bounced"], "a message was bounced")

    def test_delivered_within_a_minute_without_help(self):
        """No flush, no new mail, no restart: a move from incoming/ to
        active/ that failed for lack of space is qmgr's to try again."""
        r = self.scenario()
        self.assertTrue(r["done"], "queue not empty %d s after space was freed: %s"
                        % (DELIVERY_DEADLINE, r["queue_at_60s"]))

    def scenario(self):
        cls = type(self)
        if cls.outcome is None:
            cls.outcome = {"error": "the scenario did not finish"}
            cls.outcome = self.run_scenario()
        if "error" in cls.outcome:
            self.fail(cls.outcome["error"])
        return cls.outcome

    def run_scenario(self):
        """Runs the scenario; a dict of what happened."""
        fs = SmallFs(FS_MB)
        self.addCleanup(fs.cleanup)
        self.make_instance(base=fs.mnt)
        self.start()
        maildir = self.inst.path("mail", "example.test", "demo")
        qmgr = wait_for(lambda: self.child("qmgr"), timeout=10)
        if not qmgr:
            return {"error": "no qmgr: %s" % self.inst.describe_processes()}
        os.kill(qmgr, signal.SIGSTOP)
        self.addCleanup(self.cont, qmgr)
        sender = Sender(self.port, "q")
        sender.run(4, 0, 50)
        filler = fs.fill_all()
        self.cont(qmgr)
        # qmgr works through what it can: wait until the queue stops moving
        settled = wait_for(self.queue_settled, timeout=30, step=0.5)
        stuck = self.queue_counts()
        t_freed = time.monotonic()
        os.unlink(filler)
        done = wait_for(lambda: self.delivered_once(maildir, sender.accepted),
                        timeout=DELIVERY_DEADLINE, step=0.5)
        delivery = "%.1f" % (time.monotonic() - t_freed) if done else "timeout"
        at_60s = self.queue_counts()
        flushed = "-"
        if not done:  # what a flush (a pass over incoming/ and deferred/) does
            self.inst.ctl("queue", "flush")
            flushed = "yes" if wait_for(lambda: self.delivered_once(
                maildir, sender.accepted), timeout=30, step=0.5) else "no"
        counts = maildir_tokens(maildir)
        pairs = lambda d: ",".join("%s:%d" % kv for kv in sorted(d.items()))  # noqa: E731
        print("filled-behind: fs=%s accepted=%d queue_when_full=%s settled=%s "
              "delivery_s=%s queue_at_60s=%s delivered_after_flush=%s same_qmgr=%s" % (
                  fs.kind.split()[0], len(sender.accepted), pairs(stuck), bool(settled),
                  delivery, pairs(at_60s), flushed, self.child("qmgr") == qmgr),
              file=sys.stderr)
        return {
            "accepted": len(sender.accepted), "refusals": sender.refusals[:3],
            "lost": sorted(t for t in sender.accepted if not counts.get(t)),
            "twice": sorted(t for t, n in counts.items() if n > 1),
            "bounced": "status=bounced" in self.inst.log(),
            "done": done, "queue_at_60s": at_60s, "queue_at_end": self.queue_counts(),
        }

    def child(self, command):
        """pid of master's child running command, or None."""
        master = self.inst.master_pid()
        for pid in self.inst.processes():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    text = f.read()
            except OSError:
                continue
            name = text[text.index("(") + 1:text.rindex(")")]
            if name == command and int(text[text.rindex(")") + 2:].split()[1]) == master:
                return pid
        return None

    @staticmethod
    def cont(pid):
        try:
            os.kill(pid, signal.SIGCONT)
        except OSError:
            pass

    def queue_settled(self):
        """True once the queue counts were the same over the last 2 s."""
        now = (time.monotonic(), self.queue_counts())
        history = getattr(self, "history", [])
        history = [h for h in history if now[0] - h[0] <= 2.5] + [now]
        self.history = history
        return now[0] - history[0][0] >= 2 and all(h[1] == now[1] for h in history)


class MailStoreFull(DiskFullCase):
    """The mail store on its own small file system, the queue with room:
    local cannot write, the messages wait in deferred/ (never bounced) and
    are delivered once space is freed, without a restart."""

    def test_full_mail_store_defers_then_delivers(self):
        fs = SmallFs(16)
        self.addCleanup(fs.cleanup)
        inst = self.make_instance()
        store = os.path.join(fs.mnt, "mail")
        shutil.copytree(inst.path("mail"), store, symlinks=True)
        inst.give(store)
        os.chmod(store, 0o755)
        inst.set_main("virtual_mailbox_base", store)
        self.start()
        maildir = os.path.join(store, "example.test", "demo")
        filler = fs.fill(1 << 20)

        sender = Sender(self.port, "m")
        sender.run(2, 0, 40)  # 80 x 32 KB = 2.5 MiB into 1 MiB of room
        self.assertEqual(sender.refusals[:3], [], "the queue had room: no refusal")
        self.assertEqual(len(sender.accepted), 80)
        waiting = wait_for(lambda: self.inst.queue_files("deferred"), timeout=30, step=0.25)
        self.assertTrue(waiting, "nothing deferred with a full mail store: queue %s"
                        % self.queue_counts())
        bounced = [t for t in maildir_tokens(maildir) if t not in sender.accepted]
        self.assertEqual(bounced, [])
        n_waiting = len(waiting)
        t_freed = time.monotonic()
        os.unlink(filler)
        done = wait_for(lambda: self.delivered_once(maildir, sender.accepted),
                        timeout=DELIVERY_DEADLINE, step=0.5)
        print("mailstore-full: fs=%s accepted=%d deferred_when_full=%d delivery_s=%s" % (
            fs.kind.split()[0], len(sender.accepted), n_waiting,
            "%.1f" % (time.monotonic() - t_freed) if done else "timeout"), file=sys.stderr)
        self.assert_exactly_once(maildir, sender.accepted, "full mail store")
        self.assertTrue(done, "queue not empty %d s after space was freed: %s"
                        % (DELIVERY_DEADLINE, self.queue_counts()))
        self.assertNotIn("status=bounced", self.inst.log())


if __name__ == "__main__":
    unittest.main(verbosity=2)
