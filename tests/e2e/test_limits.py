#!/usr/bin/env python3
"""End-to-end tests of two session limits (issue 11 point 4), with real
clients against one private instance (smtpd, pop3d, qmgr, local):

- recipients past smtpd_recipient_limit get 452 4.5.3 and do not count as
  errors up to smtpd_recipient_overshoot_limit: a client that pipelines
  1,500 RCPTs (raw socket) or sends them one by one (smtplib) keeps its
  transaction, the message reaches the 1,000 accepted recipients, and the
  other 500 go through in a second transaction; past the overshoot limit
  each refused recipient counts and the hard error limit ends the session;
- the per-record deadline: a client that drips a command line, a DATA line
  or a BDAT chunk one byte at a time is cut off with 421 4.4.2 (pop3d: -ERR)
  and a log line, although each byte restarts the idle timer; whole lines
  at the same pace keep the session, and smtpd_per_record_deadline = no
  brings the old behaviour back."""
import os
import select
import smtplib
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MAIL_SERVICES, InstanceCase, PopClient, SmtpClient,  # noqa: E402
                     free_port, port_open, wait_for)

USERS = 1500
DOMAINS = "example.test OK\n"
TIMEOUT = 2  # seconds: smtpd_timeout and pop3d_timeout of the drip services


def user(i):
    return "u%04d@example.test" % i


class LimitsTests(InstanceCase):
    @classmethod
    def configure(cls):
        inst = cls.inst
        cls.port, cls.strict, cls.slow, cls.noddl, cls.pop = (free_port() for _ in range(5))
        inst.set_master_cf(MAIL_SERVICES + [
            "127.0.0.1:%d inet n - n - 1 smtpd" % cls.port,
            # small limits: 2 recipients, 3 more refused without counting
            "127.0.0.1:%d inet n - n - 1 smtpd -o smtpd_recipient_limit=2 "
            "-o smtpd_recipient_overshoot_limit=3 -o smtpd_hard_error_limit=3 "
            "-o smtpd_soft_error_limit=10" % cls.strict,
            "127.0.0.1:%d inet n - n - 1 smtpd -o smtpd_timeout=%ds" % (cls.slow, TIMEOUT),
            "127.0.0.1:%d inet n - n - 1 smtpd -o smtpd_timeout=%ds "
            "-o smtpd_per_record_deadline=no" % (cls.noddl, TIMEOUT),
            "127.0.0.1:%d inet n - n - 1 pop3d -o pop3d_timeout=%ds" % (cls.pop, TIMEOUT),
        ])
        inst.set_main("smtpd_error_sleep_time", "0")
        inst.build_map("domains", DOMAINS)
        inst.build_map("mailboxes", "".join("%s example.test/u%04d/\n" % (user(i), i)
                                            for i in range(USERS)))
        cls.base = inst.ctl("config", "get", "virtual_mailbox_base").stdout.strip()
        inst.start()
        for p in (cls.port, cls.strict, cls.slow, cls.noddl, cls.pop):
            if not wait_for(lambda: port_open(p), 10):
                raise RuntimeError("service on port %d did not come up: %s" % (p, inst.log()))

    # --- helpers ----------------------------------------------------------
    def raw(self, port):
        c = SmtpClient(port, timeout=30)
        self.addCleanup(c.close)
        self.assertEqual(c.greeting[0], 220)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        return c

    def delivered(self, i, subject):
        """Whether user i's Maildir holds a message with this subject."""
        d = os.path.join(self.base, "example.test", "u%04d" % i, "new")
        try:
            names = os.listdir(d)
        except OSError:
            return False
        for name in names:
            try:
                with open(os.path.join(d, name), "rb") as f:
                    if b"Subject: " + subject.encode() + b"\n" in f.read():
                        return True
            except OSError:
                pass
        return False

    def wait_delivered(self, subject, users):
        missing = lambda: [i for i in users if not self.delivered(i, subject)]  # noqa: E731
        self.assertTrue(wait_for(lambda: not missing(), 120, 0.2),
                        "%d recipients lack %r\n%s" % (len(missing()), subject,
                                                       self.inst.log()[-3000:]))

    def drip(self, sock, data, gap):
        """Sends data one byte per gap seconds until the server answers;
        returns (answer bytes, bytes sent, seconds from the first byte)."""
        t0 = time.monotonic()
        for n in range(len(data)):
            try:
                sock.sendall(data[n:n + 1])
            except OSError:
                break
            ready, _, _ = select.select([sock], [], [], gap)
            if ready:
                break
        else:
            n = len(data)
        got = b""
        sock.settimeout(TIMEOUT * 3)
        try:
            while not got.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                got += chunk
        except OSError:
            pass
        return got, n + 1, time.monotonic() - t0

    # --- recipients past the limit ------------------------------------------
    def test_pipelined_1500_rcpts(self):
        c = self.raw(self.port)
        log_before = len(self.inst.log())
        rcpts = [user(i) for i in range(USERS)]
        batch = "MAIL FROM:<s@remote.test>\r\n" + "".join(
            "RCPT TO:<%s>\r\n" % r for r in rcpts) + "DATA\r\n"
        c.send(batch)
        self.assertEqual(c.reply()[0], 250)
        replies = [c.reply() for _ in rcpts]
        codes = [r[0] for r in replies]
        self.assertEqual(codes[:1000], [250] * 1000)
        self.assertEqual(codes[1000:], [452] * 500)
        self.assertTrue(all(r[1][0].startswith("4.5.3") for r in replies[1000:]), replies[1000])
        self.assertEqual(c.reply()[0], 354)  # the transaction survived
        c.send("Subject: raw1500\r\n\r\nhello\r\n.\r\n")
        self.assertEqual(c.reply()[0], 250)
        # the client retries the rest
        c.send("MAIL FROM:<s@remote.test>\r\n" + "".join(
            "RCPT TO:<%s>\r\n" % r for r in rcpts[1000:]) + "DATA\r\n")
        codes = [c.reply()[0] for _ in range(502)]
        self.assertEqual(codes, [250] * 501 + [354])
        c.send("Subject: raw1500\r\n\r\nhello again\r\n.\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        log = self.inst.log()[log_before:]
        self.assertEqual(log.count("452 4.5.3 more than 1000 recipients"), 1, log)
        self.assertNotIn("too many errors", log)
        self.wait_delivered("raw1500", range(USERS))

    def test_smtplib_1500_rcpts(self):
        rcpts = [user(i) for i in range(USERS)]
        with smtplib.SMTP("127.0.0.1", self.port, timeout=60) as s:
            refused = s.sendmail("s@remote.test", rcpts, b"Subject: lib1500\r\n\r\nhi\r\n")
            self.assertEqual(sorted(refused), rcpts[1000:])
            self.assertTrue(all(v[0] == 452 and v[1].startswith(b"4.5.3")
                                for v in refused.values()), next(iter(refused.values())))
            again = s.sendmail("s@remote.test", sorted(refused), b"Subject: lib1500\r\n\r\nhi\r\n")
            self.assertEqual(again, {})
        self.wait_delivered("lib1500", range(USERS))

    def test_overshoot_past_its_limit_counts(self):
        # limit 2, overshoot 3 uncounted, then each one counts; hard limit 3
        c = self.raw(self.strict)
        self.assertEqual(c.cmd("MAIL FROM:<s@remote.test>")[0], 250)
        codes = [c.cmd("RCPT TO:<%s>" % user(i))[0] for i in range(7)]
        self.assertEqual(codes, [250, 250, 452, 452, 452, 452, 452])
        self.assertEqual(c.cmd("NOOP")[0], 250)  # two errors so far
        c.send("RCPT TO:<%s>\r\n" % user(7))
        self.assertEqual(c.reply()[0], 452)
        self.assertEqual(c.reply()[0], 421)
        self.assertEqual(c.reply(), (0, []))
        self.assertIn("too many errors after RCPT", self.inst.log())

    def test_overshoot_counted_per_transaction(self):
        c = self.raw(self.strict)
        for _ in range(3):  # 3 x 3 overshoots, none counted
            self.assertEqual(c.cmd("MAIL FROM:<s@remote.test>")[0], 250)
            codes = [c.cmd("RCPT TO:<%s>" % user(i))[0] for i in range(5)]
            self.assertEqual(codes, [250, 250, 452, 452, 452])
            self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)

    # --- the per-record deadline ----------------------------------------------
    def test_smtpd_dripped_command_line(self):
        c = self.raw(self.slow)
        log_before = len(self.inst.log())
        got, sent, took = self.drip(c.sock, b"MAIL FROM:<someone@remote.test>\r\n", 0.4)
        self.assertTrue(got.startswith(b"421 4.4.2 "), got)
        self.assertIn(b"Error: timeout exceeded", got)
        self.assertLess(sent, 30)  # cut off before the line was complete
        self.assertLess(took, TIMEOUT + 2)
        self.assertTrue(wait_for(lambda: "timeout after EHLO from unknown[127.0.0.1]: line or "
                                 "data block not complete in time" in
                                 self.inst.log()[log_before:], 5), self.inst.log()[log_before:])

    def test_smtpd_whole_lines_at_the_same_pace_are_fine(self):
        c = self.raw(self.slow)
        for _ in range(4):  # 4 x 0.8 s, longer than smtpd_timeout in all
            time.sleep(0.8)
            self.assertEqual(c.cmd("NOOP")[0], 250)

    def test_smtpd_without_the_deadline_a_drip_survives(self):
        c = self.raw(self.noddl)
        got, sent, took = self.drip(c.sock, b"NOOP\r\n", 0.6)  # 3.6 s > smtpd_timeout
        self.assertTrue(got.startswith(b"250 "), got)
        self.assertGreater(took, TIMEOUT)

    def test_smtpd_dripped_data_line(self):
        c = self.raw(self.slow)
        c.send("MAIL FROM:<s@remote.test>\r\nRCPT TO:<%s>\r\nDATA\r\n" % user(0))
        self.assertEqual([c.reply()[0] for _ in range(3)], [250, 250, 354])
        c.send("Subject: dripped\r\n\r\nfirst line\r\n")
        log_before = len(self.inst.log())
        got, sent, took = self.drip(c.sock, b"a line that never ends in time\r\n.\r\n", 0.4)
        self.assertTrue(got.startswith(b"421 4.4.2 "), got)
        self.assertLess(sent, 30)
        self.assertTrue(wait_for(lambda: "timeout after DATA from unknown[127.0.0.1]: line or "
                                 "data block not complete in time" in
                                 self.inst.log()[log_before:], 5))
        time.sleep(0.5)
        self.assertFalse(self.delivered(0, "dripped"))

    def test_smtpd_dripped_bdat_chunk(self):
        c = self.raw(self.slow)
        c.send("MAIL FROM:<s@remote.test>\r\nRCPT TO:<%s>\r\n" % user(0))
        self.assertEqual([c.reply()[0] for _ in range(2)], [250, 250])
        log_before = len(self.inst.log())
        c.send("BDAT 100 LAST\r\nSubject: bdat\r\n\r\n")
        got, sent, took = self.drip(c.sock, b"x" * 100, 0.4)
        self.assertTrue(got.startswith(b"421 4.4.2 "), got)
        self.assertLess(sent, 30)
        self.assertTrue(wait_for(lambda: "timeout after BDAT from" in
                                 self.inst.log()[log_before:], 5))

    def test_pop3d_dripped_command_line(self):
        c = PopClient(self.pop)
        self.addCleanup(c.close)
        self.assertTrue(c.greeting.startswith("+OK"))
        for _ in range(3):  # whole lines at a slow pace are fine
            time.sleep(0.8)
            self.assertTrue(c.cmd("CAPA").startswith("+OK"))
            self.assertIsNotNone(c.multi())
        log_before = len(self.inst.log())
        got, sent, took = self.drip(c.sock, b"USER u0000@example.test\r\n", 0.4)
        self.assertEqual(got, b"-ERR Command line not complete in time.\r\n")
        self.assertLess(sent, 20)
        self.assertLess(took, TIMEOUT + 2)
        try:
            self.assertEqual(c.sock.recv(100), b"")  # closed
        except ConnectionResetError:
            pass  # a dripped byte the server never read makes the close a reset
        self.assertTrue(wait_for(lambda: "timeout after CAPA from [127.0.0.1]: line or data "
                                 "block not complete in time" in self.inst.log()[log_before:], 5),
                        self.inst.log()[log_before:])


if __name__ == "__main__":
    unittest.main()
