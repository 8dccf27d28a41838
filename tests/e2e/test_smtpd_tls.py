#!/usr/bin/env python3
"""End-to-end tests of TLS in smtpd against a private instance: STARTTLS
(RFC 3207) and implicit TLS on an smtps service, with Python smtplib,
swaks, curl and openssl s_client; the plaintext injection after STARTTLS
(CVE-2011-0411), the session reset after the handshake, STARTTLS twice,
smtpd_tls_security_level=encrypt, garbage and stalls in the handshake, SNI
certificates per name, and the TLS note in the Received: header.

The instance uses the self-signed certificate `mailctl init` made; the
clients do not verify it. No qmgr runs: accepted mail stays in incoming/."""
import os
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Instance, free_port, port_open, wait_for  # noqa: E402

DOMAINS = "example.test OK\n"
MAILBOXES = ("alice@example.test example.test/alice/\n"
             "bob@example.test example.test/bob/\n")
ALIASES = "postmaster@example.test alice@example.test\n"
MESSAGE = "From: a@example.test\r\nSubject: tls\r\n\r\nhello\r\n"


def client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def run(*args, stdin=None, timeout=30):
    return subprocess.run(list(args), input=stdin, capture_output=True, text=True,
                          timeout=timeout)


class Raw:
    """A raw SMTP client over a socket that can be wrapped in TLS later."""

    def __init__(self, port, tls=False, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            self.sock = client_context().wrap_socket(self.sock)
        self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def reply(self):
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                return (0, lines)
            line = line.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return (int(line[:3]), lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def starttls(self):
        self.file.close()
        self.sock = client_context().wrap_socket(self.sock)
        self.file = self.sock.makefile("rb")

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass


class TlsBase(unittest.TestCase):
    """One instance for the whole class; subclasses add their services."""
    SERVICES = {}

    @classmethod
    def setUpClass(cls):
        cls.inst = Instance()
        try:
            cls.configure()
        except Exception:
            cls.inst.cleanup()
            raise

    @classmethod
    def configure(cls):
        inst = cls.inst
        cls.ports = {name: free_port() for name in cls.SERVICES}
        inst.set_master_cf(["127.0.0.1:%d inet n - n - 4 smtpd %s" % (cls.ports[name], args)
                            for name, args in cls.SERVICES.items()])
        inst.build_map("domains", DOMAINS)
        inst.build_map("mailboxes", MAILBOXES)
        inst.build_map("aliases", ALIASES)
        cls.extra_config()
        inst.start()
        for p in cls.ports.values():
            if not wait_for(lambda: port_open(p)):
                raise RuntimeError("smtpd on port %d did not come up: %s" % (p, inst.log()))

    @classmethod
    def extra_config(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        cls.inst.cleanup()

    def setUp(self):
        incoming = self.inst.path("queue", "incoming")
        for name in self.inst.queue_files():
            os.unlink(os.path.join(incoming, name))

    def raw(self, service, tls=False, ehlo=True):
        c = Raw(self.ports[service], tls=tls)
        self.addCleanup(c.close)
        self.assertEqual(c.greeting[0], 220, c.greeting)
        if ehlo:
            self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        return c

    def queued(self):
        out = {}
        for name in self.inst.queue_files():
            with open(self.inst.path("queue", "incoming", name), "rb") as f:
                out[name] = f.read()
        return out

    def wait_queued(self, count=1):
        self.assertTrue(wait_for(lambda: len(self.queued()) >= count), self.queued())
        return self.queued()


class StartTlsTests(TlsBase):
    SERVICES = {
        "smtp": "",
        "smtps": "-o smtpd_service=smtps -o smtpd_tls_handshake_timeout=1s",
        "encrypt": "-o smtpd_tls_security_level=encrypt",
        "none": "-o smtpd_tls_security_level=none",
    }

    def test_starttls_advertised_then_not(self):
        c = self.raw("smtp", ehlo=False)
        code, lines = c.cmd("EHLO client.test")
        self.assertIn("STARTTLS", lines)
        self.assertEqual(c.cmd("STARTTLS")[0], 220)
        c.starttls()
        code, lines = c.cmd("EHLO client.test")
        self.assertEqual(code, 250)
        self.assertNotIn("STARTTLS", lines)
        self.assertEqual(c.cmd("STARTTLS")[0], 503)  # twice

    def test_not_offered_with_level_none(self):
        c = self.raw("none", ehlo=False)
        self.assertNotIn("STARTTLS", c.cmd("EHLO client.test")[1])
        self.assertEqual(c.cmd("STARTTLS")[0], 502)

    def test_smtplib_starttls_mail_and_received_header(self):
        with smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=10) as s:
            s.starttls(context=client_context())
            s.ehlo("client.test")
            version = s.sock.version()
            cipher = s.sock.cipher()[0]
            s.sendmail("a@example.test", ["alice@example.test"], MESSAGE)
        (_, data), = self.wait_queued().items()
        self.assertIn(("(using %s with cipher %s)" % (version, cipher)).encode(), data)
        self.assertIn(b"with ESMTPS id", data)
        self.assertIn("TLS connection established from unknown[127.0.0.1]: %s with cipher %s"
                      % (version, cipher), self.inst.log())

    def test_injection_after_starttls_is_discarded(self):
        c = self.raw("smtp")
        c.send("STARTTLS\r\nRSET\r\n")  # one write: RSET must never be answered
        self.assertEqual(c.reply()[0], 220)
        c.starttls()
        c.sock.settimeout(1.0)
        with self.assertRaises(socket.timeout):
            c.sock.recv(100)
        c.sock.settimeout(5.0)
        self.assertEqual(c.cmd("NOOP"), (250, ["2.0.0 Ok"]))
        self.assertIn("plaintext pipelined after STARTTLS dropped", self.inst.log())

    def test_state_reset_after_starttls(self):
        c = self.raw("smtp")
        self.assertEqual(c.cmd("STARTTLS")[0], 220)
        c.starttls()
        self.assertEqual(c.cmd("MAIL FROM:<a@example.test>")[0], 503)  # EHLO again first
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@example.test>")[0], 250)
        self.assertEqual(c.cmd("STARTTLS")[0], 503)  # not in a transaction either

    def test_encrypt_level_refuses_mail_before_tls(self):
        c = self.raw("encrypt")
        self.assertEqual(c.cmd("MAIL FROM:<a@example.test>"),
                         (530, ["5.7.0 Must issue a STARTTLS command first"]))
        self.assertEqual(c.cmd("STARTTLS")[0], 220)
        c.starttls()
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<a@example.test>")[0], 250)

    def test_smtps_implicit_tls(self):
        with smtplib.SMTP_SSL("127.0.0.1", self.ports["smtps"], timeout=10,
                              context=client_context()) as s:
            code, text = s.ehlo("client.test")
            self.assertEqual(code, 250)
            self.assertNotIn(b"STARTTLS", text)
            s.sendmail("a@example.test", ["bob@example.test"], MESSAGE)
        self.wait_queued()

    def test_garbage_and_stall_in_handshake(self):
        good = self.raw("smtps", tls=True)
        bad = socket.create_connection(("127.0.0.1", self.ports["smtps"]), timeout=5)
        self.addCleanup(bad.close)
        bad.sendall(b"\x16\x03\x01\x00\x05hello" + b"GARBAGE\r\n" * 20)
        try:
            self.assertEqual(bad.recv(100)[:1], b"\x15")  # an alert, or nothing
        except ConnectionResetError:
            pass
        stall = socket.create_connection(("127.0.0.1", self.ports["smtps"]), timeout=5)
        self.addCleanup(stall.close)
        stall.sendall(b"\x16\x03\x01")  # a record header, then nothing
        start = time.monotonic()
        try:
            self.assertEqual(stall.recv(100), b"")
        except ConnectionResetError:
            pass
        self.assertLess(time.monotonic() - start, 4)
        self.assertEqual(good.cmd("NOOP")[0], 250)  # the other session goes on
        log = self.inst.log()
        self.assertIn("TLS handshake failed with unknown[127.0.0.1]", log)
        self.assertIn("timeout in the TLS handshake after CONNECT from unknown[127.0.0.1]", log)

    def test_swaks_and_curl(self):
        res = run("swaks", "--server", "127.0.0.1", "--port", str(self.ports["smtp"]), "--tls",
                  "--from", "a@example.test", "--to", "alice@example.test", "--helo", "c.test")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        res = run("swaks", "--server", "127.0.0.1", "--port", str(self.ports["smtps"]),
                  "--tls-on-connect", "--from", "a@example.test", "--to", "bob@example.test",
                  "--helo", "c.test")
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        res = run("curl", "-sS", "--ssl-reqd", "-k", "smtp://127.0.0.1:%d" % self.ports["smtp"],
                  "--mail-from", "a@example.test", "--mail-rcpt", "alice@example.test",
                  "-T", "-", stdin=MESSAGE)
        self.assertEqual(res.returncode, 0, res.stderr)
        res = run("curl", "-sS", "-k", "smtps://127.0.0.1:%d" % self.ports["smtps"],
                  "--mail-from", "a@example.test", "--mail-rcpt", "alice@example.test",
                  "-T", "-", stdin=MESSAGE)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(len(self.wait_queued(4)), 4)


def make_cert(directory, name):
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    res = run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
              "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=" + name,
              "-keyout", key, "-out", cert)
    if res.returncode != 0:
        raise RuntimeError(res.stderr)
    return cert, key


class SniTests(TlsBase):
    SERVICES = {"smtp": "", "smtps": "-o smtpd_service=smtps"}

    @classmethod
    def extra_config(cls):
        inst = cls.inst
        cert, key = make_cert(inst.config_dir, "mail.other.test")
        inst.build_map("sni", "mail.other.test %s %s\n" % (cert, key))
        inst.set_main("smtpd_tls_sni_maps", "hash:" + inst.path("sni"))

    def subject(self, *args):
        res = run("openssl", "s_client", "-connect", "127.0.0.1:%d" % args[0], *args[1:],
                  stdin="QUIT\n")
        self.assertIn("CONNECTED", res.stdout, res.stderr)
        for line in res.stdout.splitlines():
            if line.startswith("subject="):
                return line
        self.fail("no subject in " + res.stdout)

    def test_sni_picks_certificate(self):
        p, ps = self.ports["smtp"], self.ports["smtps"]
        self.assertIn("mail.other.test", self.subject(p, "-starttls", "smtp", "-servername",
                                                      "mail.other.test"))
        self.assertIn("mail.other.test", self.subject(ps, "-servername", "MAIL.other.test"))
        default = self.subject(ps, "-servername", "unknown.test")
        self.assertNotIn("other.test", default)
        self.assertIn("example.test", default)
        self.assertNotIn("other.test", self.subject(p, "-starttls", "smtp"))


if __name__ == "__main__":
    unittest.main()
