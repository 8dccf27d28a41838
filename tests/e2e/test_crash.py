#!/usr/bin/env python3
"""Crash test of the receive-and-deliver path: while several SMTP clients
send a few thousand messages, qmgr and local are killed with SIGKILL again
and again (master restarts them). Afterwards every message that got a 250
must sit in the Maildir exactly once: nothing lost, nothing twice."""
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

MESSAGES = int(os.environ.get("CRASH_MESSAGES", "3000"))
CLIENTS = 8


class CrashDuringLoad(unittest.TestCase):
    def setUp(self):
        self.inst = Instance()
        self.addCleanup(self.inst.cleanup)
        self.port = free_port()
        self.inst.set_main("minimal_backoff_time", "1s")
        self.inst.set_main("maximal_backoff_time", "2s")
        self.inst.set_main("queue_run_delay", "1s")
        self.inst.set_mail_services(["127.0.0.1:%d inet n - n - 2 smtpd" % self.port])
        self.accepted = set()
        self.lock = threading.Lock()

    def client(self, ids):
        """Sends one message per id, several per connection; records the
        ids that got their 250."""
        conn = None
        for n, msg_id in enumerate(ids):
            try:
                if conn is None or n % 20 == 0:
                    if conn is not None:
                        conn.quit()
                    conn = smtplib.SMTP("127.0.0.1", self.port, timeout=60)
                body = ("From: load@remote.test\r\nTo: demo@example.test\r\n"
                        "Subject: crash %s\r\nX-Crash-Id: %s\r\n\r\n" % (msg_id, msg_id)
                        + "line of text\r\n" * 40)
                conn.sendmail("load@remote.test", ["demo@example.test"], body)
                with self.lock:
                    self.accepted.add(msg_id)
            except (smtplib.SMTPException, OSError):
                conn = None  # a refused or broken message is simply not counted

    def worker_pids(self, command):
        pids = []
        for pid in self.inst.processes():
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    argv0 = f.read().split(b"\0")[0].decode()
            except OSError:
                continue
            if os.path.basename(argv0) == command:
                pids.append(pid)
        return pids

    def killer(self, stop):
        self.kills = 0
        while not stop.is_set():
            time.sleep(random.uniform(0.03, 0.2))
            victims = self.worker_pids(random.choice(["qmgr", "local"]))
            if victims:
                try:
                    os.kill(random.choice(victims), signal.SIGKILL)
                    self.kills += 1
                except OSError:
                    pass

    def maildir_ids(self):
        counts = {}
        base = os.path.join(self.inst.config_dir, "mail", "example.test", "demo")
        for sub in ("new", "cur"):
            for name in os.listdir(os.path.join(base, sub)):
                with open(os.path.join(base, sub, name), "rb") as f:
                    for line in f:
                        if line.startswith(b"X-Crash-Id: "):
                            key = line.split()[1].decode()
                            counts[key] = counts.get(key, 0) + 1
                            break
        return counts

    def queue_empty(self):
        return all(not self.inst.queue_files(d) for d in ("incoming", "active", "deferred"))

    def test_kill_qmgr_and_local_during_load(self):
        self.inst.start()
        self.assertTrue(wait_for(lambda: port_open(self.port), 10))
        ids = ["m%05d" % i for i in range(MESSAGES)]
        stop = threading.Event()
        killer = threading.Thread(target=self.killer, args=(stop,))
        killer.start()
        clients = [threading.Thread(target=self.client, args=(ids[i::CLIENTS],))
                   for i in range(CLIENTS)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        # the load may be accepted faster than the killer kills: go on
        # killing while delivery still has work, up to a dozen kills
        wait_for(lambda: self.kills >= 12 or self.queue_empty(), timeout=60, step=0.1)
        stop.set()
        killer.join()
        self.assertGreater(self.kills, 5, "the test did not kill anything")
        self.assertGreater(len(self.accepted), MESSAGES * 0.9)
        # master restarts qmgr and local; the queue drains
        self.assertTrue(wait_for(self.queue_empty, timeout=120, step=0.5),
                        "queue did not drain: %s" % {d: len(self.inst.queue_files(d))
                                                      for d in ("incoming", "active", "deferred")})
        counts = self.maildir_ids()
        lost = sorted(self.accepted - set(counts))
        twice = sorted(k for k, v in counts.items() if v > 1)
        self.assertEqual(lost, [], "accepted but not delivered")
        self.assertEqual(twice, [], "delivered more than once")
        print("crash test: %d accepted, %d delivered, %d kills" %
              (len(self.accepted), len(counts), self.kills), file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
