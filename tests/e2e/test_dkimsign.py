"""test_dkimsign.py: DKIM signing end to end (issue 15).

`mailctl dkim keygen` makes an RSA and an Ed25519 key for example.test;
mail submitted with AUTH and mail from sendmail arrive in the Maildir with
two DKIM-Signature fields that dkimpy's verifier (python3-dkim, through
tests/dkim_interop.py, keys from the records keygen printed) accepts;
mail from an outside client without AUTH is not signed; a key that cannot
be read defers the message (451) and is used again once back; a user
who logged in is signed for their own domain whatever From: says; `mailctl
check` reports broken keys with the table's file:line and, against a
private dnsmasq, a published record that does not match; keygen's output
is a valid zone file TXT record.
"""
import os
import re
import smtplib
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BUILD, MAIL_SERVICES, DnsServer, InstanceCase, free_port,  # noqa: E402
                     port_open, require_tools, set_password, wait_for)

require_tools("dnsmasq")
SRCDIR = os.environ.get("POSTERN_SRCDIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
INTEROP = os.path.join(SRCDIR, "tests", "dkim_interop.py")
SENDMAIL = os.path.join(BUILD, "sendmail", "sendmail")
USER, PASSWORD = "demo@example.test", "demo secret"
ZONE_LINE = re.compile(r'^(\S+)\. IN TXT \((( "[^"]{1,255}")+) \)$')


def parse_zone(line):
    """(owner, value) of a keygen zone line, or None when malformed."""
    m = ZONE_LINE.match(line.strip())
    if m is None:
        return None
    return m.group(1), "".join(re.findall(r'"([^"]*)"', m.group(2)))


def read(path):
    with open(path) as f:
        return f.read()


def message(subject, sender=USER):
    return ("From: Demo <%s>\r\nTo: %s\r\nSubject: %s\r\n"
            "Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <%s@example.test>\r\n\r\n"
            "Hello,\r\n\r\n  some   spaces  and a tab\tthere.\r\n\r\n\r\n"
            % (sender, USER, subject, subject.replace(" ", "."))).encode()


class DkimSign(InstanceCase):
    @classmethod
    def configure(cls):
        inst = cls.inst
        cls.port = free_port()
        cls.trusted_port = free_port()
        inst.set_master_cf(MAIL_SERVICES + [
            # 127.0.0.1 outside mynetworks: only AUTH makes a client ours
            "127.0.0.1:%d inet n - n - 2 smtpd -o smtpd_tls_auth_only=no "
            "-o mynetworks=10.0.0.0/8" % cls.port,
            # and inside (mailctl init's mynetworks): a trusted relay client
            "127.0.0.1:%d inet n - n - 1 smtpd" % cls.trusted_port,
            "submit unix n - n - 1 smtpd -o smtpd_service=local",
        ])
        set_password(inst, USER, PASSWORD)
        cls.records = {}
        cls.zone_lines = []
        for selector, opts in (("r1", ["--bits", "1024"]), ("e1", ["--ed25519"])):
            res = inst.ctl("dkim", "keygen", "example.test", selector, *opts)
            if res.returncode != 0:
                raise RuntimeError("keygen: " + res.stderr)
            cls.zone_lines.append(res.stdout)
            owner, value = parse_zone(res.stdout)
            cls.records[owner] = value
        inst.start()
        for port in (cls.port, cls.trusted_port):
            if not wait_for(lambda: port_open(port)):
                raise RuntimeError("smtpd did not come up: " + inst.log())

    # --- helpers ---------------------------------------------------------
    def submit(self, data, auth=True, sender=USER, port=None):
        with smtplib.SMTP("127.0.0.1", port or self.port, timeout=30) as s:
            if auth:
                s.login(USER, PASSWORD)
            return s.sendmail(sender, [USER], data)

    def arrived(self, subject):
        """The raw bytes of the delivered message with that subject."""
        def find():
            for path in self.inst.maildir_files(USER):
                with open(path, "rb") as f:
                    data = f.read()
                if ("Subject: %s\n" % subject).encode() in data:
                    return data
            return None
        data = wait_for(find, timeout=20)
        self.assertIsNotNone(data, "no message %r: %s" % (subject, self.inst.log()))
        return data

    def dkimpy_verify(self, data, records=None):
        """dkimpy's verdict on every signature: (exit status, output)."""
        tmp = self.inst.path("verify.eml")
        with open(tmp, "wb") as f:
            f.write(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        rec = self.inst.path("verify.records")
        with open(rec, "w") as f:
            for owner, value in (records or self.records).items():
                f.write("%s. %s\n" % (owner, value))
        res = subprocess.run(["/usr/bin/python3", INTEROP, "verify", tmp, rec],
                             capture_output=True, text=True, timeout=60)
        return res.returncode, res.stdout + res.stderr

    @staticmethod
    def signatures(data):
        return re.findall(rb"(?im)^DKIM-Signature:.*(?:\n[ \t].*)*", data)

    # --- tests -----------------------------------------------------------
    def test_keygen_zone_records(self):
        for text in self.zone_lines:
            lines = text.splitlines()
            self.assertEqual(len(lines), 1, text)
            self.assertIsNotNone(parse_zone(lines[0]), text)
        self.assertIn("r1._domainkey.example.test", self.records)
        rsa = self.records["r1._domainkey.example.test"]
        self.assertTrue(rsa.startswith("v=DKIM1; k=rsa; p=MI"), rsa)
        self.assertTrue(self.records["e1._domainkey.example.test"].startswith(
            "v=DKIM1; k=ed25519; p="))
        key = self.inst.path("dkim", "example.test.r1.key")
        st = os.stat(key)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        owner = self.inst.owner()
        if owner:
            self.assertEqual((st.st_uid, st.st_gid), owner)
        listed = self.inst.ctl("dkim", "list").stdout.split("\n")
        self.assertIn("example.test\tr1\trsa-sha256\t%s" % key, listed)
        self.assertIn("example.test\te1\ted25519-sha256\t%s"
                      % self.inst.path("dkim", "example.test.e1.key"), listed)
        txt = self.inst.ctl("dkim", "txt", "example.test", "e1")
        self.assertEqual(txt.stdout, self.zone_lines[1])
        # bad arguments: a usage error or a message, never a crash or a key
        for args, code in ((["example.test", "s9", "--bits", "512"], 2),
                           (["example.test", "s9", "--bogus"], 2), (["example.test"], 2),
                           (["example.test", "s9", "extra"], 2), (["bad_domain", "s9"], 1),
                           (["example.test", "bad/sel"], 1)):
            res = self.inst.ctl("dkim", "keygen", *args)
            self.assertEqual(res.returncode, code, (args, res.stderr))
        self.assertFalse(os.path.exists(self.inst.path("dkim", "example.test.s9.key")))
        # the same selector twice is refused, the key kept
        res = self.inst.ctl("dkim", "keygen", "example.test", "e1", "--ed25519")
        self.assertEqual(res.returncode, 1)
        self.assertEqual(self.inst.ctl("dkim", "txt", "example.test", "e1").stdout,
                         self.zone_lines[1])

    def test_auth_submission_signed_both_types(self):
        self.assertEqual(self.submit(message("auth one")), {})
        data = self.arrived("auth one")
        sigs = self.signatures(data)
        self.assertEqual(len(sigs), 2, data)
        self.assertTrue(any(b"a=rsa-sha256" in s for s in sigs))
        self.assertTrue(any(b"a=ed25519-sha256" in s for s in sigs))
        self.assertTrue(all(b"d=example.test" in s for s in sigs))
        code, out = self.dkimpy_verify(data)
        self.assertEqual(code, 0, out)
        self.assertEqual(out.count(": pass"), 2, out)
        # a changed body fails: the check can fail
        code, out = self.dkimpy_verify(data.replace(b"Hello,", b"Hallo,"))
        self.assertNotEqual(code, 0, out)
        self.assertIn("dkim-signed d=example.test s=r1,e1", self.inst.log())

    def test_sendmail_signed(self):
        env = dict(os.environ, MAIL_CONFIG=self.inst.config_dir)
        text = "To: %s\nSubject: from sendmail\n\nbody from cron\n" % USER
        res = subprocess.run([SENDMAIL, "-f", USER, USER], input=text.encode(),
                             capture_output=True, env=env, timeout=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        data = self.arrived("from sendmail")
        # sendmail's message had no From: one was added, and it is signed
        self.assertRegex(data, rb"\nFrom: .*<demo@example.test>\n")
        self.assertEqual(len(self.signatures(data)), 2, data)
        code, out = self.dkimpy_verify(data)
        self.assertEqual(code, 0, out)

    def test_outside_mail_not_signed(self):
        self.assertEqual(self.submit(message("from outside", sender="x@remote.test"),
                                     auth=False, sender="x@remote.test"), {})
        data = self.arrived("from outside")
        self.assertEqual(self.signatures(data), [], data)

    def test_unreadable_key_defers(self):
        res = self.inst.ctl("dkim", "keygen", "other.test", "o1", "--ed25519")
        self.assertEqual(res.returncode, 0, res.stderr)
        owner, value = parse_zone(res.stdout)
        key = self.inst.path("dkim", "other.test.o1.key")
        # a trusted client (mynetworks) sending as other.test
        os.rename(key, key + ".away")
        try:
            with self.assertRaises(smtplib.SMTPDataError) as cm:
                self.submit(message("other away", sender="x@other.test"), auth=False,
                            sender="x@other.test", port=self.trusted_port)
            self.assertEqual(cm.exception.smtp_code, 451)
            self.assertIn(b"4.7.0", cm.exception.smtp_error)
        finally:
            os.rename(key + ".away", key)
        self.assertEqual(self.submit(message("other back", sender="x@other.test"), auth=False,
                                     sender="x@other.test", port=self.trusted_port), {})
        data = self.arrived("other back")
        sigs = self.signatures(data)
        self.assertEqual(len(sigs), 1, data)
        self.assertIn(b"d=other.test", sigs[0])
        code, out = self.dkimpy_verify(data, {owner: value})
        self.assertEqual(code, 0, out)
        # a logged-in user of example.test with From: other.test is signed
        # as example.test (the envelope's domain), never as other.test
        self.assertEqual(self.submit(message("user as other", sender="x@other.test")), {})
        data = self.arrived("user as other")
        sigs = self.signatures(data)
        self.assertEqual(len(sigs), 2, data)
        self.assertTrue(all(b"d=example.test" in s for s in sigs), sigs)
        code, out = self.dkimpy_verify(data)
        self.assertEqual(code, 0, out)
        self.assertIn("From: domain other.test is not demo@example.test's", self.inst.log())
        self.assertEqual(self.inst.ctl("dkim", "del", "other.test", "o1", "--purge").returncode,
                         0)
        self.assertFalse(os.path.exists(key))

    def test_check_reports_broken_keys(self):
        table = self.inst.path("dkim_signing")
        with open(table) as f:
            good = f.read()
        junk = self.inst.path("dkim", "junk.key")
        with open(junk, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
        self.inst.give(junk)
        ed = self.inst.path("dkim", "example.test.e1.key")
        try:
            with open(table, "a") as f:
                f.write("# broken ones\n"
                        "broken.test j1:rsa:%s\n"
                        "wrong.test w1:rsa-sha256:%s\n"
                        "missing.test m1:ed25519:/nonexistent/m1.key\n"
                        "bad.test m1:dsa:/x\n" % (junk, ed))
            lines = {n + 1: line for n, line in enumerate(read(table).split("\n"))}
            res = self.inst.ctl("check", "--no-dns")
            self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
            for domain, says in (("broken.test", "junk.key"), ("wrong.test", "ed25519"),
                                 ("missing.test", "No such file"), ("bad.test", "algorithm")):
                line = [n for n, text in lines.items() if text.startswith(domain)][0]
                self.assertRegex(res.stderr, r"%s:%d: error: %s: .*%s"
                                 % (re.escape(table), line, re.escape(domain), says))
            # the good entry on line 1 draws nothing
            self.assertNotIn("%s:1:" % table, res.stderr)
        finally:
            with open(table, "w") as f:
                f.write(good)
            os.unlink(junk)
        self.assertEqual(self.inst.ctl("check", "--no-dns").returncode, 0)

    def test_check_published_records(self):
        table = self.inst.path("dkim_signing")
        line = [n + 1 for n, text in enumerate(read(table).split("\n"))
                if text.startswith("example.test")][0]
        other = parse_zone(self.inst.ctl("dkim", "txt", "example.test", "r1").stdout)[1]
        # e1's record carries r1's key; r1's is right
        records = [("TXT", "r1._domainkey.example.test", ",".join(
            other[i:i + 255] for i in range(0, len(other), 255))),
            ("TXT", "e1._domainkey.example.test", ",".join(
                other[i:i + 255] for i in range(0, len(other), 255)))]
        with DnsServer(records, local=("example.test",)) as dns:
            self.inst.set_main("dns_servers", dns.servers)
            res = self.inst.ctl("check")
            self.assertEqual(res.returncode, 1, res.stderr)
            self.assertRegex(res.stderr, r"%s:%d: error: example.test: the record published "
                             r"at e1._domainkey.example.test does not match the key file: "
                             r"another key type" % (re.escape(table), line))
            self.assertNotIn("r1._domainkey", res.stderr)
        # both right: valid
        good = [("TXT", owner, ",".join(v[i:i + 255] for i in range(0, len(v), 255)))
                for owner, v in self.records.items()]
        with DnsServer(good, local=("example.test",)) as dns:
            self.inst.set_main("dns_servers", dns.servers)
            res = self.inst.ctl("check")
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertNotIn("dkim", res.stderr.lower())
        # no record at all: a warning, not an error
        with DnsServer([], local=("example.test",)) as dns:
            self.inst.set_main("dns_servers", dns.servers)
            res = self.inst.ctl("check")
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertIn("warning: example.test: no key record at r1._domainkey.example.test",
                          res.stderr)
        # DNS gone: the DNS check is skipped with a warning
        self.inst.set_main("dns_servers", "127.0.0.1:%d" % free_port())
        res = self.inst.ctl("check")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("published DKIM records not checked", res.stderr)
        self.inst.set_main("dns_servers", "")


if __name__ == "__main__":
    unittest.main()
