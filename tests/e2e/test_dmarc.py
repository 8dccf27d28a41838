#!/usr/bin/env python3
"""End-to-end tests of DMARC in smtpd (issue 15, RFC 7489): policy
records served by dnsmasq (harness.DnsServer), SPF and DKIM verdicts
judged with alignment, the dmarc= clause of Authentication-Results, the
dmarc-report log line, and smtpd_dmarc_policy = enforce: p=reject gets
550 5.7.1, p=quarantine lands in the recipient's Junk folder (read back
over IMAP), a temperror where a fail would reject gets 451. Messages are
signed with dkimpy (tests/dkim_interop.py under /usr/bin/python3).
Services: "enforce" and "record" (smtpd_spf_policy = record, so SPF
fails reach DMARC), "slow" (SPF of one domain goes to a DNS server that
never answers), "inside" (127.0.0.1 in mynetworks: not checked)."""
import imaplib
import os
import re
import smtplib
import socket
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DnsServer, Instance, free_port, port_open, require_tools,  # noqa: E402
                     set_password, wait_for)
from authtest import add_user, make_key, relay_peer, sign  # noqa: E402

require_tools("dnsmasq", "openssl")

MYHOST = "mx.example.test"
ALICE, ALICE_PW = "alice@example.test", "alice secret"
SLOW_TIMEOUT = 2
NOT_ME = "v=spf1 ip4:192.0.2.1 -all"  # SPF fail for 127.0.0.1
ME = "v=spf1 ip4:127.0.0.1 -all"


class DmarcTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="postern-dmarc-")
        cls.key, pub = make_key(cls.tmp)
        cls.silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        cls.silent.bind(("127.0.0.1", 0))
        cls.dns = DnsServer([
            ("TXT", "_dmarc.rej.example.org", "v=DMARC1; p=reject"),
            ("TXT", "rej.example.org", NOT_ME),
            ("TXT", "_dmarc.quar.example.org", "v=DMARC1; p=quarantine"),
            ("TXT", "quar.example.org", NOT_ME),
            ("TXT", "_dmarc.none.example.org", "v=DMARC1; p=none"),
            ("TXT", "none.example.org", NOT_ME),
            ("TXT", "_dmarc.signed.example.org", "v=DMARC1; p=reject"),
            ("TXT", "signed.example.org", NOT_ME),
            ("TXT", "sel._domainkey.signed.example.org", "v=DKIM1; k=rsa; p=" + pub),
            # relaxed (default) at example.com, strict SPF at example.net;
            # subdomains without a record of their own get sp=
            ("TXT", "_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine"),
            ("TXT", "bounce.example.com", ME),
            ("TXT", "news.example.com", NOT_ME),
            ("TXT", "_dmarc.example.net", "v=DMARC1; p=reject; aspf=s"),
            ("TXT", "bounce.example.net", ME),
            # the From domain's record comes at once, the SPF of its
            # aligned MAIL FROM domain never
            ("TXT", "_dmarc.tmp.example.org", "v=DMARC1; p=reject"),
            "--server=/slowdns.example.org/127.0.0.1#%d" % cls.silent.getsockname()[1],
        ])
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
        cls.ports = {name: free_port() for name in ("enforce", "record", "slow", "inside")}
        cls.imap_port = free_port()
        outside = ("-o mynetworks=10.0.0.0/8 -o smtpd_peername_lookup=no "
                   "-o smtpd_spf_policy=record")
        inst.set_mail_services([
            "127.0.0.1:%d inet n - n - 1 smtpd %s" % (cls.ports["enforce"], outside),
            "127.0.0.1:%d inet n - n - 1 smtpd %s -o smtpd_dmarc_policy=record"
            % (cls.ports["record"], outside),
            "127.0.0.1:%d inet n - n - 1 smtpd %s -o dns_timeout=%ds"
            % (cls.ports["slow"], outside, SLOW_TIMEOUT),
            "127.0.0.1:%d inet n - n - 1 smtpd -o smtpd_spf_policy=record"
            % cls.ports["inside"],
            "127.0.0.1:%d inet n - n - 1 imapd -o imapd_tls_auth_only=no" % cls.imap_port,
            "smtp unix - - n - - smtp",
        ])
        inst.set_main("myhostname", MYHOST)
        inst.set_main("dns_servers", cls.dns.servers)
        inst.set_main("smtpd_error_sleep_time", "0")
        add_user(inst, ALICE)
        set_password(inst, ALICE, ALICE_PW)
        add_user(inst, "carol@example.test")
        # example.net mail is relayed to a second instance, B (which trusts
        # 127.0.0.1: it checks nothing and keeps our header)
        cls.b = relay_peer(inst, "example.net", "bob@example.net", "mx.example.net")
        inst.start()
        for p in list(cls.ports.values()) + [cls.imap_port]:
            if not wait_for(lambda: port_open(p), 20):
                raise RuntimeError("service on %d did not come up: %s" % (p, inst.log()))

    @classmethod
    def tearDownClass(cls):
        cls.b.cleanup()
        cls.inst.cleanup()
        cls.dns.__exit__()
        cls.silent.close()
        import shutil
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # --- helpers --------------------------------------------------------
    def maildir(self, folder=""):
        return os.path.join(self.inst.config_dir, "mail", "example.test", "alice", folder)

    def files(self, folder=""):
        found = []
        for sub in ("new", "cur"):
            d = os.path.join(self.maildir(folder), sub)
            if os.path.isdir(d):
                found += [os.path.join(d, n) for n in sorted(os.listdir(d))]
        return found

    def find(self, subject, folder=""):
        for path in self.files(folder):
            with open(path, "rb") as f:
                data = f.read()
            if ("Subject: %s\n" % subject).encode() in data:
                return data
        return None

    def wait_in(self, subject, folder=""):
        data = wait_for(lambda: self.find(subject, folder), 30, 0.05)
        self.assertIsNotNone(data, "%s not in %r:\n%s" % (subject, folder, self.inst.log()))
        return data

    @staticmethod
    def message(subject, author):
        return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
                "Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <%s@example.org>\r\n"
                "\r\nhello\r\nsecond line\r\n" % (author, ALICE, subject, subject)).encode()

    def send(self, service, sender, text):
        """(code, reply) of the end of DATA (250 when accepted)."""
        with smtplib.SMTP("127.0.0.1", self.ports[service], timeout=30) as s:
            s.ehlo("client.example.net")
            try:
                s.sendmail(sender, [ALICE], text)
            except smtplib.SMTPDataError as e:
                return e.smtp_code, e.smtp_error
            return 250, b""

    def accepted(self, service, sender, text, folder=""):
        code, msg = self.send(service, sender, text)
        self.assertEqual(code, 250, msg)
        subject = re.search(rb"Subject: ([^\r\n]*)", text).group(1).decode()
        return self.wait_in(subject, folder)

    @staticmethod
    def authres(data):
        head = data.split(b"\n\n", 1)[0].decode("utf-8", "replace")
        for f in re.split(r"\n(?=[^ \t])", head):
            if f.lower().startswith("authentication-results: " + MYHOST + ";"):
                return re.sub(r"\s+", " ", f)
        return None

    def report_line(self, domain):
        line = wait_for(lambda: re.search(
            r"(\S+): dmarc-report v=1 ip=127\.0\.0\.1 header_from=%s .*" % re.escape(domain),
            self.inst.log()), 10, 0.05)
        self.assertIsNotNone(line, self.inst.log())
        return line

    # --- tests ----------------------------------------------------------
    def test_reject(self):
        code, msg = self.send("enforce", "a@rej.example.org",
                              self.message("reject1", "a@rej.example.org"))
        self.assertEqual(code, 550, msg)
        self.assertTrue(msg.startswith(b"5.7.1"), msg)
        line = self.report_line("rej.example.org")
        self.assertIn(" result=fail disposition=reject ", line.group(0))
        self.assertIn(" spf=fail ", line.group(0))

    def test_reject_recorded_only(self):
        data = self.accepted("record", "a@rej.example.org",
                             self.message("reject2", "a@rej.example.org"))
        self.assertIn("dmarc=fail", self.authres(data))
        self.assertIn("header.from=rej.example.org", self.authres(data))

    def test_quarantine_into_junk(self):
        data = self.accepted("enforce", "a@quar.example.org",
                             self.message("quarantine1", "a@quar.example.org"), ".Junk")
        self.assertIn("dmarc=fail", self.authres(data))
        self.assertIn("policy.dmarc=quarantine", self.authres(data))
        self.assertIsNone(self.find("quarantine1"))  # not in INBOX
        self.assertTrue(os.path.exists(os.path.join(self.maildir(".Junk"), "maildirfolder")))
        m = imaplib.IMAP4("127.0.0.1", self.imap_port)
        try:
            m.login(ALICE, ALICE_PW)
            typ, _ = m.select("Junk", readonly=True)
            self.assertEqual(typ, "OK")
            typ, found = m.search(None, "SUBJECT", "quarantine1")
            self.assertEqual(typ, "OK")
            self.assertTrue(found[0].split(), found)
            typ, got = m.fetch(found[0].split()[0], "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            self.assertEqual(typ, "OK")
            self.assertIn(b"quarantine1", got[0][1])
            typ, _ = m.select("INBOX", readonly=True)
            typ, found = m.search(None, "SUBJECT", "quarantine1")
            self.assertEqual(found, [b""])
            m.logout()
        finally:
            try:
                m.shutdown()
            except OSError:
                pass

    def test_quarantine_relayed_as_is(self):
        text = self.message("quarantine2", "a@quar.example.org")
        with smtplib.SMTP("127.0.0.1", self.ports["enforce"], timeout=30) as s:
            s.ehlo("client.example.net")
            s.sendmail("a@quar.example.org", [ALICE, "bob@example.net"], text)
        self.wait_in("quarantine2", ".Junk")

        def at_bob():
            for path in self.b.maildir_files("bob@example.net"):
                with open(path, "rb") as f:
                    data = f.read()
                if b"Subject: quarantine2\n" in data:
                    return data
            return None
        data = wait_for(at_bob, 30, 0.05)
        self.assertIsNotNone(data, self.inst.log() + self.b.log())
        self.assertIn("dmarc=fail", self.authres(data))
        for sub in ("new", "cur"):
            junk = os.path.join(self.b.config_dir, "mail", "example.net", "bob", ".Junk", sub)
            self.assertEqual(os.listdir(junk) if os.path.isdir(junk) else [], [])

    def test_junk_made_when_missing(self):
        import shutil
        carol = os.path.join(self.inst.config_dir, "mail", "example.test", "carol")
        shutil.rmtree(os.path.join(carol, ".Junk"), ignore_errors=True)
        text = self.message("quarantine3", "a@quar.example.org")
        with smtplib.SMTP("127.0.0.1", self.ports["enforce"], timeout=30) as s:
            s.ehlo("client.example.net")
            s.sendmail("a@quar.example.org", ["carol@example.test"], text)
        junk_new = os.path.join(carol, ".Junk", "new")
        self.assertTrue(wait_for(lambda: os.path.isdir(junk_new) and os.listdir(junk_new),
                                 30, 0.05), self.inst.log())
        self.assertTrue(os.path.exists(os.path.join(carol, ".Junk", "maildirfolder")))

    def test_none_recorded(self):
        data = self.accepted("enforce", "a@none.example.org",
                             self.message("none1", "a@none.example.org"))
        self.assertIn("dmarc=fail", self.authres(data))
        line = self.report_line("none.example.org")
        self.assertIn(" result=fail disposition=none policy=none ", line.group(0))
        self.assertIn(line.group(1), self.inst.log())  # the queue ID first

    def test_aligned_dkim_pass(self):
        text = sign(self.tmp, self.key, self.message("dkim1", "a@signed.example.org"),
                    "signed.example.org")
        data = self.accepted("enforce", "a@signed.example.org", text)
        ar = self.authres(data)
        self.assertIn("spf=fail", ar)
        self.assertIn("dkim=pass", ar)
        self.assertIn("dmarc=pass header.from=signed.example.org", ar)

    def test_relaxed_alignment(self):
        data = self.accepted("enforce", "b@bounce.example.com",
                             self.message("relaxed1", "a@example.com"))
        self.assertIn("dmarc=pass header.from=example.com", self.authres(data))

    def test_strict_alignment(self):
        code, msg = self.send("enforce", "b@bounce.example.net",
                              self.message("strict1", "a@example.net"))
        self.assertEqual(code, 550, msg)
        line = self.report_line("example.net")
        self.assertIn(" spf=pass spf_domain=bounce.example.net spf_aligned=no ",
                      line.group(0))

    def test_subdomain_policy(self):
        data = self.accepted("enforce", "a@news.example.com",
                             self.message("subdomain1", "a@news.example.com"), ".Junk")
        self.assertIn("dmarc=fail", self.authres(data))
        line = self.report_line("news.example.com")
        self.assertIn(" policy_domain=example.com result=fail disposition=quarantine ",
                      line.group(0))

    def test_temperror_would_reject(self):
        code, msg = self.send("slow", "b@x.slowdns.example.org",
                              self.message("slow1", "a@tmp.example.org"))
        self.assertEqual(code, 451, msg)
        self.assertTrue(msg.startswith(b"4.7.1"), msg)

    def test_reload_reads_the_list_again(self):
        before = self.inst.log().count("public suffix list ")
        res = self.inst.ctl("reload")
        self.assertEqual(res.returncode, 0, res.stderr)
        # four smtpd processes each load the list again
        self.assertTrue(wait_for(lambda: self.inst.log().count("public suffix list ")
                                 >= before + 4, 20, 0.05), self.inst.log())
        data = self.accepted("enforce", "b@bounce.example.com",
                             self.message("reload1", "a@example.com"))
        self.assertIn("dmarc=pass", self.authres(data))

    def test_policy_lookup_timeout_accepted(self):
        # _dmarc.y.slowdns.example.org never answers: the policy is unknown,
        # so the message is accepted with dmarc=temperror
        data = self.accepted("slow", "a@none.example.org",
                             self.message("slow2", "a@y.slowdns.example.org"))
        self.assertIn("dmarc=temperror", self.authres(data))
        self.assertIn("header.from=y.slowdns.example.org", self.authres(data))

    def test_inside_not_checked(self):
        data = self.accepted("inside", "a@rej.example.org",
                             self.message("inside1", "a@rej.example.org"))
        self.assertNotIn(b"dmarc=", data)


if __name__ == "__main__":
    unittest.main()
