#!/usr/bin/env python3
"""Crash storm (issue 12): while several SMTP clients send a few thousand
messages, a random child of master (smtpd, qmgr or local) gets SIGKILL
every few hundred ms. The clients behave like a real MTA: a 4xx, a lost
connection or a timeout means "try again", so a message whose 250 never
arrived may have been queued and be sent again. Each attempt carries its
own token (X-Storm-Id + X-Storm-Try), so the counts are exact:

- the attempt that got 250 is in the Maildir exactly once;
- an attempt without a 250 is there at most once (0 or 1 times);
- nothing is there that was never sent.

After the storm the queue must drain while the instance keeps running
(no restart): nothing left in incoming/, active/ or deferred/, no stale
writer file in queue/tmp/ once the sweeper's age has passed, no Maildir
tmp/ collision ("cannot link") in the log. The drain time is printed.

The short form runs in make check; the environment makes it longer
(bench/crash-storm.sh): STORM_MESSAGES, STORM_SESSIONS, STORM_KILL_MS
(mean interval between kills), STORM_SEND_S (the clients pace themselves
to send for at least that long; 0: as fast as they can), STORM_DRAIN_KILL_S (seconds the kills go on
after the clients are done, while the queue drains), STORM_DRAIN_TIMEOUT.
The figures go to stderr as one "storm:" line (key=value) for the bench.
"""
import os
import random
import signal
import smtplib
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, free_port, port_open, wait_for  # noqa: E402

MESSAGES = int(os.environ.get("STORM_MESSAGES", "2000"))
SESSIONS = int(os.environ.get("STORM_SESSIONS", "6"))
KILL_MS = int(os.environ.get("STORM_KILL_MS", "250"))
# the clients spread their messages over at least this many seconds, so
# that the storm lasts (unpaced, a quiet instance takes 2000 in 2 s)
SEND_S = float(os.environ.get("STORM_SEND_S", "15"))
DRAIN_KILL_S = float(os.environ.get("STORM_DRAIN_KILL_S", "3"))
DRAIN_TIMEOUT = float(os.environ.get("STORM_DRAIN_TIMEOUT", "60"))
SEND_TIMEOUT = float(os.environ.get("STORM_SEND_TIMEOUT", "150"))
PER_CONNECTION = 25  # messages per SMTP session before a new one
VICTIMS = ("smtpd", "qmgr", "local")
QUEUE_DIRS = ("incoming", "active", "deferred")
# The sweeper's age for orphaned queue/tmp files, when the key exists.
TMP_MAX_AGE = 2


def proc_stat(pid):
    """(command name, parent pid) of a live process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return name, int(fields[1])


class Storm(unittest.TestCase):
    def setUp(self):
        self.inst = Instance()
        self.addCleanup(self.inst.cleanup)
        self.port = free_port()
        self.inst.set_main("minimal_backoff_time", "1s")
        self.inst.set_main("maximal_backoff_time", "2s")
        self.inst.set_main("queue_run_delay", "1s")
        # the sweeper of killed writers' files, once it exists
        self.tmp_age = TMP_MAX_AGE
        if self.inst.ctl("config", "set", "queue_tmp_max_age=%ds" % TMP_MAX_AGE).returncode:
            self.tmp_age = None
        self.inst.set_mail_services(["127.0.0.1:%d inet n - n - 2 smtpd" % self.port])
        self.lock = threading.Lock()
        self.attempts = {}   # id -> attempts made
        self.accepted = {}   # id -> the attempt that got 250
        self.refusals = {}   # "stage code" -> count of 4xx/5xx replies
        self.broken = 0      # attempts ended by a lost connection or timeout
        self.permanent = []  # (id, code, text) of 5xx answers: never allowed
        self.kills = {}

    # --- the clients ------------------------------------------------------
    def body(self, msg_id, attempt):
        return ("From: storm@remote.test\r\nTo: demo@example.test\r\n"
                "Subject: storm %s try %d\r\nX-Storm-Id: %s\r\nX-Storm-Try: %d\r\n\r\n"
                % (msg_id, attempt, msg_id, attempt) + "a line of storm text\r\n" * 30)

    def count_refusal(self, stage, code):
        with self.lock:
            key = "%s %d" % (stage, code)
            self.refusals[key] = self.refusals.get(key, 0) + 1

    def try_once(self, conn, msg_id, attempt):
        """One attempt over conn: returns (sent, conn to go on with)."""
        try:
            if conn is None:
                conn = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
            conn.sendmail("storm@remote.test", ["demo@example.test"],
                          self.body(msg_id, attempt))
            return True, conn
        except smtplib.SMTPResponseException as e:
            code, stage = e.smtp_code, type(e).__name__
        except smtplib.SMTPRecipientsRefused as e:
            code, stage = list(e.recipients.values())[0][0], "SMTPRecipientsRefused"
        except (smtplib.SMTPException, OSError):
            with self.lock:
                self.broken += 1
            self.close(conn)
            return False, None
        self.count_refusal(stage, code)
        if code >= 500:
            with self.lock:
                self.permanent.append((msg_id, code, stage))
        if code == 421:
            self.close(conn)
            conn = None
        return False, conn

    @staticmethod
    def close(conn):
        if conn is None:
            return
        try:
            conn.close()
        except (smtplib.SMTPException, OSError):
            pass

    def client(self, ids, start, deadline):
        """Sends each id until it gets a 250 (or a 5xx), as an MTA would:
        a new attempt after any temporary failure, after a short pause."""
        conn, in_session = None, 0
        for n, msg_id in enumerate(ids):
            pause = start + SEND_S * n / len(ids) - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            attempt = 0
            while time.monotonic() < deadline:
                attempt += 1
                with self.lock:
                    self.attempts[msg_id] = attempt
                sent, conn = self.try_once(conn, msg_id, attempt)
                if sent:
                    with self.lock:
                        self.accepted[msg_id] = attempt
                    break
                if self.permanent and self.permanent[-1][0] == msg_id:
                    break
                time.sleep(random.uniform(0.02, 0.2))
            in_session += 1
            if conn is not None and in_session >= PER_CONNECTION:
                try:
                    conn.quit()
                except (smtplib.SMTPException, OSError):
                    pass
                conn, in_session = None, 0
        self.close(conn)

    # --- the killer -------------------------------------------------------
    def victims(self):
        """{command: [pids]} of master's children that run smtpd, qmgr or
        local (a child still in master's code before exec is skipped)."""
        master = self.inst.master_pid()
        found = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            st = proc_stat(int(entry))
            if st and st[1] == master and st[0] in VICTIMS:
                found.setdefault(st[0], []).append(int(entry))
        return found

    def killer(self, stop):
        while not stop.wait(random.uniform(0.5, 1.5) * KILL_MS / 1000.0):
            found = self.victims()
            if not found:
                continue
            command = random.choice(sorted(found))
            try:
                os.kill(random.choice(found[command]), signal.SIGKILL)
            except OSError:
                continue
            self.kills[command] = self.kills.get(command, 0) + 1

    # --- what is on disk --------------------------------------------------
    def maildir_tokens(self):
        """{(id, try): copies} over the demo Maildir's new/ and cur/."""
        counts = {}
        base = os.path.join(self.inst.config_dir, "mail", "example.test", "demo")
        for sub in ("new", "cur"):
            for name in os.listdir(os.path.join(base, sub)):
                msg_id = attempt = None
                with open(os.path.join(base, sub, name), "rb") as f:
                    for line in f:
                        if line.startswith(b"X-Storm-Id: "):
                            msg_id = line.split()[1].decode()
                        elif line.startswith(b"X-Storm-Try: "):
                            attempt = int(line.split()[1])
                        elif line in (b"\n", b"\r\n"):
                            break
                key = (msg_id, attempt)
                counts[key] = counts.get(key, 0) + 1
        return counts

    def queue_counts(self):
        return {d: len(self.inst.queue_files(d)) for d in QUEUE_DIRS}

    def queue_empty(self):
        return not any(self.queue_counts().values())

    def all_delivered(self):
        if not self.queue_empty():
            return False
        counts = self.maildir_tokens()
        return all(counts.get(k) for k in self.accepted.items())

    def judge(self, counts):
        """(lost, twice, extra, unknown) lists for the figures and asserts."""
        lost = sorted(k for k in self.accepted.items() if counts.get(k, 0) == 0)
        twice = sorted(k for k, n in counts.items() if n > 1)
        unknown = sorted(k for k in counts
                         if k[0] not in self.attempts or k[1] is None
                         or k[1] > self.attempts[k[0]])
        extra = sorted(k for k in counts
                       if k not in unknown and self.accepted.get(k[0]) != k[1])
        return lost, twice, extra, unknown

    # --- the test ---------------------------------------------------------
    def test_storm_loses_and_doubles_nothing(self):
        self.inst.start()
        self.assertTrue(wait_for(lambda: port_open(self.port), 10), self.inst.log())
        ids = ["s%05d" % i for i in range(MESSAGES)]
        stop = threading.Event()
        killer = threading.Thread(target=self.killer, args=(stop,))
        t0 = time.monotonic()
        killer.start()
        deadline = t0 + SEND_TIMEOUT
        clients = [threading.Thread(target=self.client, args=(ids[i::SESSIONS], t0, deadline))
                   for i in range(SESSIONS)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        t_sent = time.monotonic()
        # the drain goes on under fire for a while, then in peace
        t_done = None
        while not stop.wait(0.5) and time.monotonic() < t_sent + DRAIN_KILL_S:
            if t_done is None and self.all_delivered():
                t_done = time.monotonic()
        stop.set()
        killer.join()
        t_calm = time.monotonic()
        # what still waits in active/ a minute after the storm (issue 12
        # saw 307 there for 300 s), then the rest of the drain time
        drained = wait_for(self.all_delivered, timeout=min(60, DRAIN_TIMEOUT), step=0.25)
        self.active_60s = 0 if drained else len(self.inst.queue_files("active"))
        if not drained and DRAIN_TIMEOUT > 60:
            drained = wait_for(self.all_delivered, timeout=DRAIN_TIMEOUT - 60, step=0.25)
        t_drained = time.monotonic()
        if drained and t_done is None:
            t_done = t_drained
        left = self.queue_counts()
        counts = self.maildir_tokens()
        lost, twice, extra, unknown = self.judge(counts)
        tmp_left = self.stale_tmp_files()
        collisions = [line for line in self.inst.log().splitlines() if "cannot link" in line]
        self.report(t0, t_sent, t_calm, t_drained if drained else None, t_done, counts,
                    lost, twice, extra, left, tmp_left, collisions)

        self.assertEqual(self.permanent[:10], [], "5xx during the storm")
        self.assertGreater(sum(self.kills.values()), 5, "the storm killed nothing")
        self.assertEqual(len(self.accepted), MESSAGES,
                         "the clients could not send everything in %d s" % SEND_TIMEOUT)
        self.assertEqual(unknown[:10], [], "tokens in the Maildir that were never sent")
        self.assertEqual(twice[:10], [], "attempts delivered more than once")
        self.assertEqual(lost[:10], [], "%d accepted attempts not delivered; queue %s;"
                         " log tail:\n%s" % (len(lost), left,
                                             "\n".join(self.inst.log().splitlines()[-20:])))
        self.assertTrue(drained, "queue did not drain in %d s: %s" % (DRAIN_TIMEOUT, left))
        self.assertEqual(collisions[:5], [], "Maildir tmp/ collisions")
        self.assertEqual(tmp_left, [], "stale writer files in queue/tmp/ (%s)"
                         % ("queue_tmp_max_age=%ds" % self.tmp_age if self.tmp_age
                            else "no queue_tmp_max_age key: no sweeper"))

    def stale_tmp_files(self):
        """queue/tmp/ files still there once the sweeper had time to remove
        writers' leftovers (every writer is idle now: the clients are done).
        The pool of recycled queue files (tmp/pool.N, lib/q.c) is not a
        writer's file and may stay."""
        tmp = lambda: [n for n in self.inst.queue_files("tmp")  # noqa: E731
                       if not n.startswith("pool.")]
        if self.tmp_age is not None:
            # sweeper age plus a few of its rounds
            wait_for(lambda: not tmp(), timeout=self.tmp_age + 30, step=0.5)
        return tmp()

    def longest_backoff(self):
        """The longest restart delay master logged ("next start in N ms")."""
        longest = 0
        for line in self.inst.log().splitlines():
            if "next start in " in line:
                try:
                    longest = max(longest, int(line.split("next start in ")[1].split()[0]))
                except ValueError:
                    pass
        return longest

    def report(self, t0, t_sent, t_calm, t_drained, t_done, counts, lost, twice, extra,
               left, tmp_left, collisions):
        figures = {
            "messages": MESSAGES, "sessions": SESSIONS, "kill_ms": KILL_MS,
            "accepted": len(self.accepted),
            "attempts": sum(self.attempts.values()),
            "delivered": sum(counts.values()),
            "duplicates_unacked": len(extra),
            "twice": len(twice), "lost": len(lost),
            "kills": sum(self.kills.values()),
            "kills_by": ",".join("%s:%d" % kv for kv in sorted(self.kills.items())),
            "broken": self.broken,
            "refusals": ",".join("%s:%d" % kv for kv in sorted(self.refusals.items())) or "-",
            "send_s": "%.1f" % (t_sent - t0),
            "drain_s": "%.1f" % (t_drained - t_calm) if t_drained else "timeout",
            # from the last 250 to everything delivered, kills or not
            "drain_from_sent_s": "%.1f" % (t_done - t_sent) if t_done else "timeout",
            "active_60s": self.active_60s,
            "left": ",".join("%s:%d" % kv for kv in sorted(left.items())),
            "tmp_left": len(tmp_left), "cannot_link": len(collisions),
            "backoff_max_ms": self.longest_backoff(),
        }
        print("storm: " + " ".join("%s=%s" % kv for kv in figures.items()), file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
