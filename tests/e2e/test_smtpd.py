#!/usr/bin/env python3
"""End-to-end tests of smtpd against a private instance, with real clients
(Python smtplib, raw sockets for pipelining, BDAT and smuggling, curl and
swaks). No qmgr runs here: a message that got its 250 must sit in
queue/incoming/ as a queue file holding the envelope and the content.

One instance serves several smtpd services that differ only in their -o
options: a trusted one (client in mynetworks), an untrusted one (mynetworks
10.0.0.0/8), one with small limits, one with tight error limits and a short
timeout, and the local `submit` socket that sendmail uses."""
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Instance, InstanceCase, free_port, port_open, require_tools,  # noqa: E402
                     wait_for, SmtpClient)

require_tools("curl", "swaks")

DOMAINS = "example.test OK\n"
MAILBOXES = ("alice@example.test example.test/alice/\n"
             "bob@example.test example.test/bob/\n"
             "jörg@example.test example.test/joerg/\n")
ALIASES = "postmaster@example.test alice@example.test\n"



class SmtpdTests(InstanceCase):
    @classmethod
    def configure(cls):
        inst = cls.inst
        cls.port = free_port()
        cls.untrusted = free_port()
        cls.small = free_port()
        cls.strict = free_port()
        inst.set_master_cf([
            "127.0.0.1:%d inet n - n - 2 smtpd" % cls.port,
            "127.0.0.1:%d inet n - n - 1 smtpd -o mynetworks=10.0.0.0/8" % cls.untrusted,
            "127.0.0.1:%d inet n - n - 1 smtpd -o message_size_limit=4000 "
            "-o header_size_limit=1024 -o smtpd_command_line_limit=512 "
            "-o smtpd_recipient_limit=2" % cls.small,
            "127.0.0.1:%d inet n - n - 1 smtpd -o smtpd_soft_error_limit=2 "
            "-o smtpd_hard_error_limit=5 -o smtpd_error_sleep_time=1s "
            "-o smtpd_timeout=2s" % cls.strict,
            "submit unix n - n - 1 smtpd -o smtpd_service=local",
        ])
        inst.set_main("smtpd_error_sleep_time", "0")
        inst.build_map("domains", DOMAINS)
        inst.build_map("mailboxes", MAILBOXES)
        inst.build_map("aliases", ALIASES)
        inst.start()
        for p in (cls.port, cls.untrusted, cls.small, cls.strict):
            if not wait_for(lambda: port_open(p)):
                raise RuntimeError("smtpd on port %d did not come up: %s" % (p, inst.log()))
        cls.submit = inst.path("queue", "public", "submit")

    def setUp(self):
        incoming = self.inst.path("queue", "incoming")
        for name in self.inst.queue_files():
            os.unlink(os.path.join(incoming, name))

    # --- helpers ----------------------------------------------------------
    def queued(self):
        """{qid: bytes} of every queue file in incoming/."""
        out = {}
        for name in self.inst.queue_files():
            with open(self.inst.path("queue", "incoming", name), "rb") as f:
                out[name] = f.read()
        return out

    def only_queued(self):
        files = self.queued()
        self.assertEqual(len(files), 1, list(files))
        return next(iter(files.items()))

    def raw(self, port=None, ehlo=True):
        c = SmtpClient(port or self.port)
        self.addCleanup(c.close)
        self.assertEqual(c.greeting[0], 220)
        if ehlo:
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        return c

    # --- the basics -------------------------------------------------------
    def test_greeting_and_ehlo(self):
        c = self.raw(ehlo=False)
        self.assertIn("ESMTP", c.greeting[1][0])
        code, lines = c.cmd("EHLO client.test")
        self.assertEqual(code, 250)
        for ext in ("PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES",
                    "CHUNKING", "SMTPUTF8", "DSN", "STARTTLS"):  # mailctl init made a cert
            self.assertIn(ext, lines[1:])
        self.assertEqual(c.cmd("HELO client.test"), (250, ["2.0.0 mail.example.test"]))
        self.assertEqual(c.cmd("QUIT")[0], 221)

    def test_one_recipient(self):
        with smtplib.SMTP("127.0.0.1", self.port) as s:
            s.ehlo("client.test")
            s.mail("sender@remote.test")
            s.rcpt("alice@example.test")
            code, msg = s.data(b"Subject: one\r\n\r\nHello Alice.\r\n.leading dot\r\n")  # smtplib stuffs it
        self.assertEqual(code, 250)
        self.assertTrue(msg.startswith(b"2.0.0 Ok: queued as "), msg)
        qid = msg.split()[-1].decode()
        name, data = self.only_queued()
        self.assertEqual(name, qid)
        self.assertIn(b"sender@remote.test", data)
        self.assertIn(b"alice@example.test", data)
        self.assertIn(b"Received: from client.test (unknown [127.0.0.1])\n"
                      b"\tby mail.example.test (Postern) with ESMTP id " + qid.encode() +
                      b"\n\tfor <alice@example.test>; ", data)
        self.assertTrue(data.endswith(b"Subject: one\n\nHello Alice.\n.leading dot\n"), data)
        self.assertIn("%s: client=unknown[127.0.0.1]" % qid, self.inst.log())
        self.assertIn("%s: from=<sender@remote.test>, size=" % qid, self.inst.log())

    def test_many_recipients(self):
        rcpts = ["alice@example.test", "bob@example.test", "postmaster",
                 "someone@elsewhere.test"]  # the last is relayed: we are in mynetworks
        with smtplib.SMTP("127.0.0.1", self.port) as s:
            refused = s.sendmail("sender@remote.test", rcpts, b"Subject: many\r\n\r\nhi\r\n")
        self.assertEqual(refused, {})
        _, data = self.only_queued()
        for r in ("alice@example.test", "bob@example.test", "postmaster@example.test",
                  "someone@elsewhere.test"):
            self.assertIn(r.encode(), data)
        self.assertNotIn(b"\tfor <", data)  # "for" only names a single recipient

    def test_recipient_limit(self):
        c = self.raw(self.small)
        self.assertEqual(c.cmd("MAIL FROM:<s@remote.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<bob@example.test>")[0], 250)
        code, text = c.cmd("RCPT TO:<postmaster>")
        self.assertEqual(code, 452)
        self.assertTrue(text[0].startswith("4.5.3"), text)

    def test_pipelining_replies_in_order(self):
        c = self.raw()
        c.send("MAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
               "RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
        codes = [c.reply()[0] for _ in range(5)]
        self.assertEqual(codes, [250, 250, 550, 250, 354])
        # the message end and the next transaction in one write
        c.send("Subject: p1\r\n\r\nfirst\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.test>\r\n"
               "DATA\r\n")
        codes = [c.reply()[0] for _ in range(4)]
        self.assertEqual(codes, [250, 250, 250, 354])
        c.send("Subject: p2\r\n\r\nsecond\r\n.\r\nNOOP\r\nQUIT\r\n")
        self.assertEqual([c.reply()[0] for _ in range(3)], [250, 250, 221])
        self.assertEqual(len(self.queued()), 2)

    # --- BDAT ---------------------------------------------------------------
    def test_bdat_chunks(self):
        c = self.raw()
        one = b"Subject: chunked\r\n\r\nfirst part, "
        two = b"second part\r\n.not stuffed\r\n"
        c.send(b"MAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\n" +
               b"BDAT %d\r\n" % len(one) + one + b"BDAT %d LAST\r\n" % len(two) + two)
        r = [c.reply() for _ in range(4)]
        self.assertEqual([x[0] for x in r], [250, 250, 250, 250], r)
        self.assertIn("queued as", r[3][1][0])
        _, data = self.only_queued()
        self.assertTrue(data.endswith(
            b"Subject: chunked\n\nfirst part, second part\n.not stuffed\n"), data)
        self.assertEqual(c.cmd("NOOP")[0], 250)

    def test_bdat_refused_chunk_still_consumes_bytes(self):
        c = self.raw()
        # no transaction: the 11 bytes must not be read as a command
        c.send(b"BDAT 12\r\nNOOP\r\nQUIT\r\n")
        self.assertEqual(c.reply()[0], 503)
        self.assertEqual(c.cmd("MAIL FROM:<s@remote.test>")[0], 250)
        # MAIL but no recipient
        c.send(b"BDAT 6 LAST\r\nRSET\r\n")
        self.assertEqual(c.reply()[0], 554)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        c.send(b"BDAT 3\r\nabc")
        self.assertEqual(c.reply()[0], 250)
        code, text = c.cmd("DATA")
        self.assertEqual(code, 503)  # DATA and BDAT are not mixed
        self.assertTrue(text[0].startswith("5.5.1"), text)
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(self.queued(), {})

    # --- 8-bit and SMTPUTF8 ---------------------------------------------------
    def test_8bit_and_smtputf8(self):
        body = "Subject: Grüße\r\n\r\nÄrger über Öl\r\n".encode()
        with smtplib.SMTP("127.0.0.1", self.port) as s:
            s.ehlo("client.test")
            refused = s.sendmail("jörg@example.test", ["jörg@example.test"], body,
                                 mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        self.assertEqual(refused, {})
        _, data = self.only_queued()
        self.assertIn("jörg@example.test".encode(), data)
        self.assertIn("with UTF8SMTP id".encode(), data)
        self.assertTrue(data.endswith("Subject: Grüße\n\nÄrger über Öl\n".encode()))

    def test_utf8_address_needs_smtputf8(self):
        c = self.raw()
        code, text = c.cmd("MAIL FROM:<jörg@example.test>")
        self.assertEqual(code, 553)
        self.assertTrue(text[0].startswith("5.6.7"), text)

    # --- limits -----------------------------------------------------------------
    def test_size_declared_too_big(self):
        c = self.raw(self.small)
        code, text = c.cmd("MAIL FROM:<s@remote.test> SIZE=5000")
        self.assertEqual((code, text[0][:5]), (552, "5.3.4"))
        self.assertEqual(c.cmd("MAIL FROM:<s@remote.test> SIZE=3000")[0], 250)

    def test_size_actual_too_big(self):
        c = self.raw(self.small)
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<alice@example.test>")
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n" * 1 + (b"y" * 98 + b"\r\n") * 60 +
               b".\r\n")
        code, text = c.reply()
        self.assertEqual((code, text[0][:5]), (552, "5.3.4"))
        self.assertEqual(c.cmd("NOOP")[0], 250)  # the session goes on
        self.assertEqual(self.queued(), {})
        self.assertEqual(self.inst.queue_files("tmp"), [])

    def test_header_too_big(self):
        c = self.raw(self.small)
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<alice@example.test>")
        c.cmd("DATA")
        c.send(b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 60) for i in range(30)) +
               b"\r\nbody\r\n.\r\n")
        code, text = c.reply()
        self.assertEqual((code, text[0][:5]), (552, "5.3.4"))
        self.assertEqual(self.queued(), {})

    def test_too_many_hops_is_a_loop(self):
        def send(hops):
            c = self.raw()
            c.cmd("MAIL FROM:<s@remote.test>")
            c.cmd("RCPT TO:<alice@example.test>")
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(b"".join(b"Received: from hop%d.test by x; Mon, 7 Dec 2026\r\n" % i
                            for i in range(hops)) +
                   b"reCEIVED: (another spelling)\r\nX-Received: not counted\r\n"
                   b"Subject: loop\r\n\r\nReceived: in the body, not counted\r\n.\r\n")
            return c.reply()

        before = set(self.queued())
        code, text = send(50)  # 51 with the other spelling: one too many
        self.assertEqual((code, text[0][:5]), (554, "5.4.6"))
        self.assertIn("too many hops", text[0])
        self.assertEqual(set(self.queued()), before)
        self.assertTrue(wait_for(lambda: "more than 50 Received: fields" in self.inst.log(), 5))
        code, _ = send(49)  # exactly 50: still fine
        self.assertEqual(code, 250)
        self.assertEqual(len(set(self.queued()) - before), 1)

    def test_long_line_and_flood(self):
        c = self.raw(self.small)
        code, text = c.cmd("NOOP " + "x" * 600)
        self.assertEqual((code, text[0][:5]), (500, "5.5.2"))
        self.assertEqual(c.cmd("NOOP")[0], 250)
        try:
            c.send(b"z" * 100000)
        except OSError:
            pass
        code, text = c.reply()
        self.assertEqual(code, 500)
        self.assertEqual(c.reply()[0], 421)
        try:
            self.assertEqual(c.reply(), (0, []))  # disconnected
        except ConnectionResetError:
            pass  # unread flood bytes make the close a reset

    def test_too_many_errors(self):
        c = self.raw(self.strict)
        t0 = time.monotonic()
        codes = [c.cmd("BOGUS")[0] for _ in range(4)]
        self.assertEqual(codes, [500] * 4)
        c.send("BOGUS\r\n")
        r = [c.reply()[0], c.reply()[0]]
        self.assertEqual(r, [500, 421])
        self.assertEqual(c.reply(), (0, []))
        # errors 2..5 were delayed by the 1 s error sleep (no sleep() in smtpd:
        # another session is served meanwhile)
        self.assertGreaterEqual(time.monotonic() - t0, 2.5)
        self.assertIn("too many errors", self.inst.log())

    def test_error_sleep_does_not_block_others(self):
        slow = self.raw(self.strict)
        for _ in range(2):
            slow.send("BOGUS\r\n")
        fast = self.raw(self.strict)
        t0 = time.monotonic()
        self.assertEqual(fast.cmd("NOOP")[0], 250)
        self.assertLess(time.monotonic() - t0, 0.5)

    def test_idle_timeout(self):
        c = self.raw(self.strict)
        c.sock.settimeout(6)
        code, text = c.reply()
        self.assertEqual((code, text[0][:5]), (421, "4.4.2"))

    # --- recipients and relaying ------------------------------------------------
    def test_unknown_user(self):
        c = self.raw()
        c.cmd("MAIL FROM:<s@remote.test>")
        code, text = c.cmd("RCPT TO:<nobody@example.test>")
        self.assertEqual((code, text[0][:5]), (550, "5.1.1"))
        self.assertIn("reject: RCPT from unknown[127.0.0.1]: 550 5.1.1 <nobody@example.test>",
                      self.inst.log())
        code, text = c.cmd("DATA")
        self.assertEqual(code, 554)

    def test_relay_denied(self):
        c = self.raw(self.untrusted)
        c.cmd("MAIL FROM:<s@remote.test>")
        code, text = c.cmd("RCPT TO:<victim@elsewhere.test>")
        self.assertEqual((code, text[0][:5]), (554, "5.7.1"))
        self.assertIn("Relay access denied", text[0])
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)

    def test_relay_tricks(self):
        c = self.raw(self.untrusted)
        c.cmd("MAIL FROM:<s@remote.test>")
        tricks = {
            "<victim%elsewhere.test@example.test>": 550,
            "<elsewhere.test!victim@example.test>": 550,
            '<"victim@elsewhere.test"@example.test>': 550,
            "<@example.test:victim@elsewhere.test>": 554,
            "<@example.test,@mx.test:victim@elsewhere.test>": 554,
            "<victim@elsewhere.test@example.test>": 501,
        }
        for rcpt, want in tricks.items():
            code, text = c.cmd("RCPT TO:" + rcpt)
            self.assertEqual(code, want, "%s: %s" % (rcpt, text))
        self.assertEqual(c.cmd("DATA")[0], 554)
        self.assertEqual(self.queued(), {})

    # --- SMTP smuggling -----------------------------------------------------------
    def test_smuggling_does_not_end_data(self):
        for fake_end in (b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r.\n", b"\r\n.\n"):
            with self.subTest(fake_end=fake_end):
                self.setUp()
                c = self.raw()
                c.cmd("MAIL FROM:<s@remote.test>")
                c.cmd("RCPT TO:<alice@example.test>")
                self.assertEqual(c.cmd("DATA")[0], 354)
                c.send(b"Subject: smuggle\r\n\r\nfirst" + fake_end +
                       b"MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
                       b"DATA\r\nsmuggled\r\n\r\n.\r\n")
                code, text = c.reply()
                self.assertEqual(code, 250, text)
                self.assertEqual(c.cmd("QUIT")[0], 221)  # nothing else was answered
                _, data = self.only_queued()
                self.assertIn(b"MAIL FROM:<evil@remote.test>", data)
                self.assertIn(b"smuggled", data)
                envelope = data.split(b"\nX\n", 1)[0]
                self.assertNotIn(b"bob@example.test", envelope)
                self.assertNotIn(b"evil@remote.test", envelope)

    # --- syntax and order -------------------------------------------------------------
    def test_bad_commands(self):
        c = self.raw(ehlo=False)
        cases = [
            ("FOO", 500, "5.5.2"),
            ("MAIL FROM:<s@remote.test>", 503, "5.5.1"),
            ("HELO", 501, "5.5.4"),
            ("EHLO client.test", 250, None),
            ("RCPT TO:<alice@example.test>", 503, "5.5.1"),
            ("DATA", 503, "5.5.1"),
            ("MAIL FROM:s@remote.test", 501, "5.1.7"),
            ("MAIL TO:<s@remote.test>", 501, "5.5.4"),
            ("MAIL FROM:<s@remote.test> FOO=1", 555, "5.5.4"),
            ("MAIL FROM:<s@remote.test> SIZE=x", 501, "5.5.4"),
            ("MAIL FROM:<s@remote.test> RET=FULL ENVID=abc+2B", 250, "2.1.0"),
            ("MAIL FROM:<other@remote.test>", 503, "5.5.1"),
            ("RCPT TO:<>", 501, "5.1.3"),
            ("RCPT TO:<a b@example.test>", 501, "5.1.3"),
            ("RCPT TO:<alice@example.test> NOTIFY=NEVER,SUCCESS", 501, "5.5.4"),
            ("RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice+40example.test",
             250, "2.1.5"),
            ("VRFY alice", 252, "2.5.2"),
            ("VRFY", 501, "5.5.4"),
            ("EXPN staff", 502, "5.5.1"),
            ("HELP", 214, None),
            ("NOOP", 250, "2.0.0"),
            ("RSET", 250, "2.0.0"),
            ("DATA", 503, "5.5.1"),
            ("BDAT x", 501, "5.5.4"),
            ("MAIL FROM:<>", 250, "2.1.0"),
            ("QUIT", 221, "2.0.0"),
        ]
        for line, want, dsn in cases:
            code, text = c.cmd(line)
            self.assertEqual(code, want, "%s -> %s" % (line, text))
            if dsn:
                self.assertTrue(text[0].startswith(dsn), "%s -> %s" % (line, text))

    # --- storage failure ------------------------------------------------------------
    def test_queue_unwritable(self):
        tmp = self.inst.path("queue", "tmp")
        os.rename(tmp, tmp + ".save")
        try:
            with open(tmp, "w") as f:  # a file, not a directory: fails even for root
                f.write("not a directory\n")
            c = self.raw()
            c.cmd("MAIL FROM:<s@remote.test>")
            c.cmd("RCPT TO:<alice@example.test>")
            code, text = c.cmd("DATA")
            self.assertEqual((code, text[0][:5]), (452, "4.3.1"))
            c.send(b"BDAT 5 LAST\r\nhello")
            code, text = c.reply()
            self.assertEqual((code, text[0][:5]), (452, "4.3.1"))
            self.assertEqual(c.cmd("RSET")[0], 250)
        finally:
            os.unlink(tmp)
            os.rename(tmp + ".save", tmp)
        self.assertEqual(self.queued(), {})
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<alice@example.test>")
        c.cmd("DATA")
        self.assertEqual(c.cmd("Subject: x\r\n\r\nnow it works\r\n.")[0], 250)
        self.assertEqual(len(self.queued()), 1)

    # --- the local submission socket -------------------------------------------------
    def test_local_submission(self):
        self.assertTrue(wait_for(lambda: os.path.exists(self.submit)))
        c = SmtpClient(path=self.submit)
        self.addCleanup(c.close)
        self.assertEqual(c.greeting[0], 220)
        self.assertEqual(c.cmd("EHLO localhost")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<root>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<friend@elsewhere.test>")[0], 250)  # may relay
        self.assertEqual(c.cmd("DATA")[0], 354)
        self.assertEqual(c.cmd("Subject: from cron\r\n\r\nbody\r\n.")[0], 250)
        _, data = self.only_queued()
        self.assertIn(b"Received: from local (uid %d)" % os.getuid(), data)
        self.assertIn(b"\nFrom: root@mail.example.test\n", data)
        self.assertIn(b"\nDate: ", data)
        self.assertIn(b"\nMessage-ID: <", data)
        self.assertTrue(data.endswith(b"\n\nbody\n"), data)

    # --- other clients ------------------------------------------------------------------
    def test_curl(self):
        curl = shutil.which("curl")
        with tempfile.NamedTemporaryFile("wb", suffix=".eml") as f:
            f.write(b"Subject: via curl\r\n\r\ncurl body\r\n")
            f.flush()
            res = subprocess.run([curl, "-sS", "--mail-from", "s@remote.test", "--mail-rcpt",
                                  "alice@example.test", "-T", f.name,
                                  "smtp://127.0.0.1:%d" % self.port],
                                 capture_output=True, text=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        _, data = self.only_queued()
        self.assertIn(b"curl body", data)

    def test_swaks(self):
        swaks = shutil.which("swaks")
        res = subprocess.run([swaks, "--server", "127.0.0.1", "--port", str(self.port),
                              "--from", "s@remote.test", "--to", "bob@example.test",
                              "--pipeline", "--body", "swaks body"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("queued as", res.stdout)
        _, data = self.only_queued()
        self.assertIn(b"swaks body", data)


class TriggerTests(unittest.TestCase):
    """smtpd tells qmgr about each new message over private/qmgr."""

    def setUp(self):
        self.inst = Instance()
        self.addCleanup(self.inst.cleanup)
        self.port = free_port()
        self.inst.set_master_cf(["127.0.0.1:%d inet n - n - 1 smtpd" % self.port])
        self.inst.build_map("domains", DOMAINS)
        self.inst.build_map("mailboxes", MAILBOXES)
        self.inst.build_map("aliases", ALIASES)

    def test_trigger_after_250(self):
        path = self.inst.path("queue", "private", "qmgr")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(listener.close)
        listener.bind(path)
        self.inst.give(path)  # smtpd, as mail_owner under root, must connect
        listener.listen(5)
        listener.settimeout(10)
        self.inst.start()
        self.assertTrue(wait_for(lambda: port_open(self.port)))
        qids = []
        with smtplib.SMTP("127.0.0.1", self.port) as s:
            s.ehlo("client.test")
            for i in range(2):
                s.mail("s@remote.test")
                s.rcpt("alice@example.test")
                code, msg = s.data(b"Subject: %d\r\n\r\nx\r\n" % i)
                self.assertEqual(code, 250)
                qids.append(msg.split()[-1].decode())
        conn, _ = listener.accept()
        conn.settimeout(5)
        got = b""
        while got.count(b"\n\n") < 2:
            chunk = conn.recv(4096)
            if not chunk:
                break
            got += chunk
        conn.close()
        want = "".join("protocol=qmgr_trigger\nqueue_id=%s\n\n" % q for q in qids)
        self.assertEqual(got.decode(), want)


if __name__ == "__main__":
    unittest.main()
