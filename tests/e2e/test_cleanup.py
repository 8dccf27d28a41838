#!/usr/bin/env python3
"""End-to-end tests of the cleanup after killed writers: qmgr removes old
files from queue/tmp/ that no writer holds (at start and on its timer,
queue_tmp_max_age), keeps a file a writer holds locked however old it is,
and removes the half-written file of an smtpd killed in the middle of DATA,
while mail keeps flowing."""
import fcntl
import os
import signal
import smtplib
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, SmtpClient, free_port, wait_for  # noqa: E402


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read()


class TmpSweep(unittest.TestCase):
    def setUp(self):
        self.inst = Instance()
        self.addCleanup(self.inst.cleanup)
        self.port = free_port()
        self.inst.set_mail_services(["127.0.0.1:%d inet n - n - 1 smtpd" % self.port])
        self.inst.set_main("queue_tmp_max_age", "1s")
        self.tmp = self.inst.path("queue", "tmp")

    def put(self, name, size):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(b"x" * size)
        self.inst.give(path)
        return path

    def test_old_unlocked_files_go_locked_stays(self):
        stale = self.put("4242.7.123456", 5000)
        pooled = self.put("pool.17", 100)
        held = self.put("4243.1.1", 10)
        lock = open(held, "rb")
        self.addCleanup(lock.close)
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a live writer holds its file
        os.mkdir(os.path.join(self.tmp, "somedir"))
        self.inst.start()
        self.assertTrue(wait_for(lambda: not os.path.exists(stale) and
                                 not os.path.exists(pooled), 10), os.listdir(self.tmp))
        log = self.inst.log()
        self.assertRegex(log, r"removed stale queue tmp file 4242\.7\.123456 \(\d+ s old, "
                         r"5000 bytes, left by a killed writer\)")
        self.assertIn("removed 1 idle pooled queue files", log)
        self.assertIn("somedir, which is not a regular file", log)
        # held for longer than the max age and several sweeps: still there
        time.sleep(2.5)
        self.assertTrue(os.path.exists(held))
        self.assertTrue(os.path.isdir(os.path.join(self.tmp, "somedir")))
        lock.close()  # the writer is gone now
        self.assertTrue(wait_for(lambda: not os.path.exists(held), 10), os.listdir(self.tmp))

    def test_smtpd_killed_in_data_leaves_nothing(self):
        self.inst.start()
        c = SmtpClient(self.port)
        self.assertEqual(c.greeting[0], 220)
        c.cmd("EHLO client.test")
        self.assertEqual(c.cmd("MAIL FROM:<a@example.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<postmaster@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(b"Subject: cut\r\n\r\n" + (b"y" * 998 + b"\r\n") * 300)  # > one write buffer
        # the writer's file shows up in tmp/ ...
        self.assertTrue(wait_for(lambda: any(not n.startswith("pool.")
                                             for n in os.listdir(self.tmp)), 10))
        smtpd = [p for p in self.inst.processes() if b"smtpd" in cmdline(p)]
        self.assertEqual(len(smtpd), 1, smtpd)
        os.kill(smtpd[0], signal.SIGKILL)
        c.close()
        # ... and is gone after the killed writer's file has aged a second
        self.assertTrue(wait_for(lambda: all(n.startswith("pool.")
                                             for n in os.listdir(self.tmp)), 15),
                        os.listdir(self.tmp))
        self.assertIn("left by a killed writer", self.inst.log())
        # mail still flows through the restarted smtpd
        self.assertTrue(wait_for(lambda: self.try_send(), 10))

    def try_send(self):
        try:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=5) as s:
                s.sendmail("a@example.test", ["postmaster@example.test"],
                           "Subject: after\r\n\r\nhello\r\n")
            return True
        except (OSError, smtplib.SMTPException):
            return False


if __name__ == "__main__":
    unittest.main()
