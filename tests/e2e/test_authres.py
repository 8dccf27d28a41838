#!/usr/bin/env python3
"""End-to-end tests of smtpd's sender authentication (issue 15): SPF at
MAIL FROM, DKIM verified while DATA streams, Authentication-Results on top
of the delivered message. DNS comes from dnsmasq (harness.DnsServer): SPF
records of pass/fail domains and a DKIM key (RSA 1024, made with openssl;
messages signed by dkimpy through tests/dkim_interop.py under
/usr/bin/python3). The client (127.0.0.1) is outside mynetworks. Services:
"reject" (smtpd_spf_policy = reject), "record" (record only), "silent"
(a DNS server that never answers: temperror gives 4xx, never 5xx), and
"inside" (the client in mynetworks: no checks, no header). Mail is
delivered by qmgr and local into alice@example.test's Maildir, where the
tests read the header."""
import os
import re
import smtplib
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DnsServer, Instance, free_port, port_open, require_tools,  # noqa: E402
                     wait_for)
from authtest import add_user, make_key, relay_peer, sign  # noqa: E402

require_tools("dnsmasq", "openssl")

MYHOST = "mx.example.test"
SILENT_TIMEOUT = 2


class AuthresTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="postern-authres-")
        cls.key, pub = make_key(cls.tmp)
        cls.dns = DnsServer([
            ("TXT", "pass.example.org", "v=spf1 ip4:127.0.0.1 -all"),
            ("TXT", "fail.example.org", "v=spf1 ip4:192.0.2.1 -all"),
            ("TXT", "soft.example.org", "v=spf1 ~all"),
            ("TXT", "signed.example.org", "v=spf1 ip4:127.0.0.0/8 -all"),
            ("TXT", "client.example.net", "v=spf1 a -all"),
            ("A", "client.example.net", "127.0.0.1"),
            ("TXT", "sel._domainkey.signed.example.org", "v=DKIM1; k=rsa; p=" + pub),
        ])
        cls.silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        cls.silent.bind(("127.0.0.1", 0))
        cls.inst = Instance()
        try:
            cls.configure()
        except Exception:
            cls.inst.cleanup()
            if hasattr(cls, "b"):
                cls.b.cleanup()
            cls.dns.stop()
            raise

    @classmethod
    def configure(cls):
        inst = cls.inst
        cls.ports = {name: free_port() for name in ("reject", "record", "silent", "inside")}
        outside = "-o mynetworks=10.0.0.0/8 -o smtpd_peername_lookup=no"
        inst.set_mail_services([
            "127.0.0.1:%d inet n - n - 1 smtpd %s -o smtpd_spf_policy=reject"
            % (cls.ports["reject"], outside),
            "127.0.0.1:%d inet n - n - 1 smtpd %s -o smtpd_spf_policy=record"
            % (cls.ports["record"], outside),
            "127.0.0.1:%d inet n - n - 1 smtpd %s -o smtpd_spf_policy=reject "
            "-o dns_servers=127.0.0.1:%d -o dns_timeout=%ds"
            % (cls.ports["silent"], outside, cls.silent.getsockname()[1], SILENT_TIMEOUT),
            "127.0.0.1:%d inet n - n - 1 smtpd -o smtpd_spf_policy=reject" % cls.ports["inside"],
            "smtp unix - - n - - smtp",
        ])
        inst.set_main("myhostname", MYHOST)
        inst.set_main("dns_servers", cls.dns.servers)
        inst.set_main("smtpd_error_sleep_time", "0")
        add_user(inst, "alice@example.test")
        # example.net is relayed (for anyone) to a second instance, B
        cls.b = relay_peer(inst, "example.net", "bob@example.net", "mx.example.net")
        inst.start()
        for p in cls.ports.values():
            if not wait_for(lambda: port_open(p), 20):
                raise RuntimeError("smtpd on %d did not come up: %s" % (p, inst.log()))

    @classmethod
    def tearDownClass(cls):
        cls.b.cleanup()
        cls.inst.cleanup()
        cls.dns.__exit__()
        cls.silent.close()
        import shutil
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # --- helpers --------------------------------------------------------
    def send(self, service, sender, text, helo="client.example.net"):
        """Sends text; returns the Maildir file (bytes) of the message with
        its Subject."""
        subject = re.search(rb"Subject: ([^\r\n]*)", text).group(1).decode()
        with smtplib.SMTP("127.0.0.1", self.ports[service], timeout=30) as s:
            s.ehlo(helo)
            s.sendmail(sender, ["alice@example.test"], text)
        return self.wait_delivered(subject)

    def wait_delivered(self, subject):
        def find():
            for path in self.inst.maildir_files("alice@example.test"):
                with open(path, "rb") as f:
                    data = f.read()
                if ("Subject: %s\n" % subject).encode() in data:
                    return data
            return None
        data = wait_for(find, 30, 0.05)
        self.assertIsNotNone(data, "%s not delivered:\n%s" % (subject, self.inst.log()))
        return data

    @staticmethod
    def header(data):
        """The header fields of a Maildir file, unfolded, in order."""
        head = data.split(b"\n\n", 1)[0].decode("utf-8", "replace")
        return [f.replace("\n", "") for f in re.split(r"\n(?=[^ \t])", head)]

    def authres(self, data, above=("return-path", "delivered-to")):
        """The Authentication-Results fields; checks ours is exactly one and
        sits on top (below local's Return-Path and Delivered-To, and what
        later hops added: above)."""
        fields = self.header(data)
        found = [f for f in fields if f.lower().startswith("authentication-results:")]
        ours = [f for f in found if f.split(":", 1)[1].strip().startswith(MYHOST + ";")]
        self.assertEqual(len(ours), 1, fields)
        names = [f.split(":", 1)[0].lower() for f in fields]
        self.assertEqual(names[:len(above) + 2],
                         list(above) + ["authentication-results", "received"], fields)
        self.assertEqual(fields[len(above)], ours[0])
        return ours[0], found

    @staticmethod
    def message(subject, sender, extra=""):
        return ("From: <%s>\r\nTo: <alice@example.test>\r\nSubject: %s\r\n"
                "Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <%s@example.org>\r\n"
                "%s\r\nhello\r\nsecond line\r\n" % (sender, subject, subject, extra)).encode()

    def mail_reply(self, service, sender, helo="client.example.net"):
        with smtplib.SMTP("127.0.0.1", self.ports[service], timeout=30) as s:
            s.ehlo(helo)
            return s.mail(sender)

    # --- SPF ------------------------------------------------------------
    def test_spf_fail_rejected(self):
        code, msg = self.mail_reply("reject", "someone@fail.example.org")
        self.assertEqual(code, 550, msg)
        self.assertTrue(msg.startswith(b"5.7.23"), msg)
        self.assertTrue(self.inst.wait_log("reject: MAIL from"))

    def test_spf_fail_recorded(self):
        data = self.send("record", "someone@fail.example.org",
                         self.message("recorded-fail", "someone@fail.example.org"))
        ar, _ = self.authres(data)
        self.assertIn("spf=fail smtp.mailfrom=someone@fail.example.org", ar)

    def test_spf_pass(self):
        data = self.send("reject", "someone@pass.example.org",
                         self.message("spf-pass", "someone@pass.example.org"))
        ar, _ = self.authres(data)
        self.assertIn("spf=pass smtp.mailfrom=someone@pass.example.org", ar)
        self.assertIn("spf=pass smtp.helo=client.example.net", ar)
        self.assertIn("dkim=none", ar)

    def test_spf_softfail_accepted(self):
        data = self.send("reject", "x@soft.example.org", self.message("soft", "x@soft.example.org"))
        self.assertIn("spf=softfail smtp.mailfrom=x@soft.example.org", self.authres(data)[0])

    def test_null_sender_uses_helo(self):
        data = self.send("reject", "", self.message("bounce-helo", "mailer-daemon@x"))
        ar, _ = self.authres(data)
        self.assertIn("spf=pass smtp.helo=client.example.net", ar)
        self.assertNotIn("smtp.mailfrom", ar)

    def test_temperror_is_4xx(self):
        start = time.monotonic()
        code, msg = self.mail_reply("silent", "someone@pass.example.org")
        self.assertEqual(code, 451, msg)
        self.assertTrue(msg.startswith(b"4.7.24"), msg)
        self.assertLess(time.monotonic() - start, 4 * SILENT_TIMEOUT + 2)

    def test_pipelined_after_wait(self):
        """MAIL, RCPT and DATA in one write: the RCPT waits for MAIL's
        verdict and is answered in order."""
        sock = socket.create_connection(("127.0.0.1", self.ports["reject"]), timeout=30)
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"EHLO client.example.net\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        sock.sendall(b"MAIL FROM:<a@fail.example.org>\r\nRCPT TO:<alice@example.test>\r\n"
                     b"QUIT\r\n")
        self.assertTrue(f.readline().startswith(b"550 5.7.23"))
        self.assertTrue(f.readline().startswith(b"503"))
        self.assertTrue(f.readline().startswith(b"221"))
        sock.close()

    def test_inside_unchecked(self):
        data = self.send("inside", "someone@fail.example.org",
                         self.message("inside", "someone@fail.example.org"))
        self.assertNotIn(b"Authentication-Results: " + MYHOST.encode(), data)

    # --- DKIM -----------------------------------------------------------
    def test_dkim_pass(self):
        text = sign(self.tmp, self.key, self.message("dkim-good", "a@signed.example.org"))
        data = self.send("reject", "a@signed.example.org", text)
        ar, _ = self.authres(data)
        self.assertRegex(ar, r"dkim=pass header\.d=signed\.example\.org header\.s=sel "
                             r"header\.b=\S{8}")
        self.assertIn("spf=pass", ar)

    def test_dkim_body_changed(self):
        text = sign(self.tmp, self.key, self.message("dkim-bad", "a@signed.example.org"))
        text = text.replace(b"second line", b"second Line")
        data = self.send("reject", "a@signed.example.org", text)
        ar, _ = self.authres(data)
        self.assertIn("dkim=fail reason=\"body hash mismatch\" header.d=signed.example.org", ar)

    def test_dkim_bdat(self):
        """The same signed message in BDAT chunks passes too."""
        text = sign(self.tmp, self.key, self.message("dkim-bdat", "a@signed.example.org"))
        sock = socket.create_connection(("127.0.0.1", self.ports["record"]), timeout=30)
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"EHLO client.example.net\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        sock.sendall(b"MAIL FROM:<a@signed.example.org>\r\nRCPT TO:<alice@example.test>\r\n")
        self.assertTrue(f.readline().startswith(b"250"))
        self.assertTrue(f.readline().startswith(b"250"))
        half = len(text) // 2
        for chunk, last in ((text[:half], b""), (text[half:], b" LAST")):
            sock.sendall(b"BDAT %d%s\r\n" % (len(chunk), last) + chunk)
            self.assertTrue(f.readline().startswith(b"250"))
        sock.sendall(b"QUIT\r\n")
        sock.close()
        ar, _ = self.authres(self.wait_delivered("dkim-bdat"))
        self.assertIn("dkim=pass header.d=signed.example.org", ar)

    # --- relayed ---------------------------------------------------------
    def test_relayed_once_on_top(self):
        """Mail relayed by smtp to B (which trusts us: mynetworks) keeps our
        field, once, on top; B adds none."""
        text = sign(self.tmp, self.key, self.message("relayed", "a@signed.example.org"))
        with smtplib.SMTP("127.0.0.1", self.ports["reject"], timeout=30) as s:
            s.ehlo("client.example.net")
            s.sendmail("a@signed.example.org", ["bob@example.net"], text)

        def find():
            for path in self.b.maildir_files("bob@example.net"):
                with open(path, "rb") as f:
                    return f.read()
            return None
        data = wait_for(find, 30, 0.05)
        self.assertIsNotNone(data, self.inst.log() + self.b.log())
        ar, found = self.authres(data, ("return-path", "delivered-to", "received"))
        self.assertEqual(len(found), 1, found)
        self.assertIn("dkim=pass header.d=signed.example.org", ar)
        self.assertIn("spf=pass smtp.mailfrom=a@signed.example.org", ar)
        self.assertIn("by mx.example.net", self.header(data)[2])

    # --- forged fields --------------------------------------------------
    def test_forged_removed_foreign_kept(self):
        extra = ("Authentication-Results: %s; spf=pass smtp.mailfrom=x@forged\r\n"
                 "Authentication-Results: (c) %s;\r\n\tdkim=pass header.d=forged\r\n"
                 "Authentication-Results: other.example; spf=pass smtp.mailfrom=x@foreign\r\n"
                 % (MYHOST, MYHOST.upper()))
        data = self.send("reject", "someone@pass.example.org",
                         self.message("forged", "someone@pass.example.org", extra))
        ar, found = self.authres(data)
        self.assertNotIn(b"x@forged", data)
        self.assertNotIn(b"header.d=forged", data)
        self.assertEqual(len(found), 2, found)
        self.assertIn("other.example; spf=pass smtp.mailfrom=x@foreign", found[1])
        self.assertTrue(self.inst.wait_log("removed a forged Authentication-Results field"))


if __name__ == "__main__":
    unittest.main()
