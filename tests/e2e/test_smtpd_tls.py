#!/usr/bin/env python3
"""End-to-end tests of TLS and AUTH in smtpd against a private instance:
STARTTLS (RFC 3207) and implicit TLS on an smtps service, with Python
smtplib, swaks, curl and openssl s_client; the plaintext injection after
STARTTLS (CVE-2011-0411), the session reset after the handshake, STARTTLS
twice, smtpd_tls_security_level=encrypt, garbage and stalls in the
handshake, SNI certificates per name, and the TLS note in the Received:
header. AUTH (RFC 4954) PLAIN, LOGIN and SCRAM-SHA-256 against the passwd
map: refused before TLS, wrong password, cancel, bad base64, the order
rules, and the slow-down and cut-off of password guessing; CRAM-MD5 where
smtpd_auth_cram_md5 turns it on, for a user stored with --cram and one
imported as {CRAM-MD5}, but not for a user without the secret. Relay policy:
an authenticated client may relay to a foreign domain, an unauthenticated
one may not, with or without address tricks; submission needs AUTH and
the sender must belong to the login.

The instance uses the self-signed certificate `mailctl init` made; the
clients do not verify it. No qmgr runs: accepted mail stays in incoming/."""
import base64
import hmac
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MAILCTL, InstanceCase, ScramClient, SmtpClient, b64,  # noqa: E402
                     client_tls_context, free_port, port_open, require_tools, wait_for)

require_tools("swaks-tls", "curl", "openssl")

DOMAINS = "example.test OK\n"
MAILBOXES = ("alice@example.test example.test/alice/\n"
             "bob@example.test example.test/bob/\n"
             "carol@example.test example.test/carol/\n")
ALIASES = "postmaster@example.test alice@example.test\n"
MESSAGE = "From: a@example.test\r\nSubject: tls\r\n\r\nhello\r\n"


def run(*args, stdin=None, timeout=30):
    return subprocess.run(list(args), input=stdin, capture_output=True, text=True,
                          timeout=timeout)


class Raw(SmtpClient):
    """The harness's SMTP client with this file's TLS context."""

    def __init__(self, port, tls=False, timeout=5.0):
        super().__init__(port, timeout=timeout, tls_context=client_tls_context() if tls else None)

    def starttls(self):
        super().starttls(client_tls_context())


class TlsBase(InstanceCase):
    """One instance for the whole class; subclasses add their services."""
    SERVICES = {}

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
            s.starttls(context=client_tls_context())
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
                              context=client_tls_context()) as s:
            code, text = s.ehlo("client.test")
            self.assertEqual(code, 250)
            self.assertNotIn(b"STARTTLS", text)
            self.assertIn(b"AUTH PLAIN LOGIN", text)
            with self.assertRaises(smtplib.SMTPSenderRefused) as cm:  # smtps is submission
                s.sendmail("a@example.test", ["bob@example.test"], MESSAGE)
            self.assertEqual(cm.exception.smtp_code, 530)

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
        res = run("curl", "-sS", "--ssl-reqd", "-k", "smtp://127.0.0.1:%d" % self.ports["smtp"],
                  "--mail-from", "a@example.test", "--mail-rcpt", "alice@example.test",
                  "-T", "-", stdin=MESSAGE)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(len(self.wait_queued(2)), 2)
        # port 465 with AUTH: AuthTests


PASSWORDS = {"alice@example.test": "alice secret", "bob@example.test": "bob secret"}


def plain(user, password):
    return b64("\0%s\0%s" % (user, password))


# carol's entry gets a CRAM-MD5 secret (mailctl --cram); tim is imported from
# a Dovecot passwd-file as {CRAM-MD5} (doveadm pw -s CRAM-MD5 -p tanstaaftanstaaf,
# the password of RFC 2195's example).
CRAM_PASSWORDS = {"carol@example.test": "carol secret"}
TIM_IMPORT = ("tim@example.test:{CRAM-MD5}d06d4e1b26fccaa4b0b61801132340a354b21152711fb604"
              "ca3e035e7015116b::::::\n")


def set_passwords(inst, cram=False):
    users = [(u, p, []) for u, p in PASSWORDS.items()]
    if cram:
        users += [(u, p, ["--cram"]) for u, p in CRAM_PASSWORDS.items()]
    for user, password, opts in users:
        res = subprocess.run([MAILCTL, "-c", inst.config_dir, "user", "passwd", user] + opts,
                             input=password + "\n", capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            raise RuntimeError(res.stderr)
    if cram:
        path = inst.path("tim.passwd")
        with open(path, "w") as f:
            f.write(TIM_IMPORT)
        res = subprocess.run([MAILCTL, "-c", inst.config_dir, "user", "import", path],
                             capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            raise RuntimeError(res.stdout + res.stderr)


def cram_response(user, password, challenge_b64):
    """The client's answer to a CRAM-MD5 challenge (RFC 2195), base64."""
    digest = hmac.new(password.encode(), base64.b64decode(challenge_b64), "md5").hexdigest()
    return b64("%s %s" % (user, digest))


class AuthTests(TlsBase):
    SERVICES = {
        "smtp": "-o mynetworks=10.0.0.0/8",
        "smtps": "-o smtpd_service=smtps -o mynetworks=10.0.0.0/8",
        "submission": "-o smtpd_service=submission -o mynetworks=10.0.0.0/8",
        "plainauth": "-o smtpd_tls_auth_only=no -o mynetworks=10.0.0.0/8",
        "brute": "-o smtpd_tls_auth_only=no -o smtpd_auth_failure_limit=3",
        "brute4": "-o smtpd_tls_auth_only=no -o smtpd_auth_failure_limit=3",
        "cram": "-o smtpd_auth_cram_md5=yes -o mynetworks=10.0.0.0/8",
    }

    @classmethod
    def extra_config(cls):
        cls.inst.set_main("smtpd_error_sleep_time", "0")
        cls.inst.set_main("smtpd_auth_failure_delay", "0")  # the brute service sets its own
        # one process, so that every session shares its failure table
        with open(cls.inst.path("master.cf")) as f:
            lines = f.read()
        lines = lines.replace(
            "- 4 smtpd -o smtpd_tls_auth_only=no -o smtpd_auth_failure_limit=3",
            "- 1 smtpd -o smtpd_tls_auth_only=no -o smtpd_auth_failure_limit=3 "
            "-o smtpd_auth_failure_delay=1s")
        cls.inst.write("master.cf", lines)
        set_passwords(cls.inst, cram=True)

    def tls_raw(self, service="smtp"):
        c = self.raw(service, tls=service == "smtps")
        if service != "smtps":
            self.assertEqual(c.cmd("STARTTLS")[0], 220)
            c.starttls()
            code, lines = c.cmd("EHLO client.test")
            self.assertEqual(code, 250)
        return c

    def test_auth_not_offered_before_tls(self):
        c = self.raw("smtp", ehlo=False)
        lines = c.cmd("EHLO client.test")[1]
        self.assertFalse([x for x in lines if x.startswith("AUTH")], lines)
        code, _ = c.cmd("AUTH PLAIN " + plain("alice@example.test", "alice secret"))
        self.assertEqual(code, 538)
        self.assertNotIn("sasl_username=alice", self.inst.log())
        c = self.tls_raw()
        self.assertEqual(c.cmd("EHLO client.test")[1][-1], "DSN")
        self.assertIn("AUTH PLAIN LOGIN SCRAM-SHA-256", c.cmd("EHLO client.test")[1])

    def test_plain_with_initial_response_and_order_rules(self):
        c = self.tls_raw()
        self.assertEqual(c.cmd("AUTH PLAIN " + plain("Alice@Example.TEST", "alice secret")),
                         (235, ["2.7.0 Authentication successful"]))
        self.assertEqual(c.cmd("AUTH PLAIN " + plain("alice@example.test", "alice secret"))[0],
                         503)  # twice
        self.assertIn("sasl_method=PLAIN, sasl_username=alice@example.test", self.inst.log())
        c = self.raw("plainauth")
        self.assertEqual(c.cmd("MAIL FROM:<x@remote.test>")[0], 250)
        self.assertEqual(c.cmd("AUTH PLAIN " + plain("alice@example.test", "alice secret")),
                         (503, ["5.5.1 Error: MAIL transaction in progress"]))

    def test_plain_and_login_with_challenges(self):
        c = self.tls_raw()
        self.assertEqual(c.cmd("AUTH PLAIN"), (334, [""]))
        self.assertEqual(c.cmd(plain("bob@example.test", "bob secret"))[0], 235)
        c = self.tls_raw("smtps")
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
        self.assertEqual(c.cmd(b64("bob@example.test"))[0], 334)
        self.assertEqual(c.cmd(b64("bob secret"))[0], 235)

    def test_wrong_password_cancel_bad_base64(self):
        c = self.tls_raw()
        self.assertEqual(c.cmd("AUTH PLAIN " + plain("alice@example.test", "wrong")),
                         (535, ["5.7.8 Error: authentication failed"]))
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
        self.assertEqual(c.cmd("*"), (501, ["5.0.0 Authentication aborted"]))
        self.assertEqual(c.cmd("AUTH PLAIN !!!notbase64")[0], 501)
        self.assertEqual(c.cmd("AUTH PLAIN")[0], 334)
        self.assertEqual(c.cmd("a" * 20000)[0], 500)  # oversized response
        self.assertEqual(c.cmd("AUTH FOO")[0], 504)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assertIn("warning: unknown[127.0.0.1]: SASL PLAIN authentication failed: ",
                      self.inst.log())
        self.assertIn("sasl_username=alice@example.test", self.inst.log())

    def test_scram_sha_256(self):
        c = self.tls_raw()
        scram = ScramClient("alice@example.test", "alice secret")
        code, lines = c.cmd("AUTH SCRAM-SHA-256 " + scram.first())
        self.assertEqual(code, 334)
        code, lines = c.cmd(scram.final(lines[0]))
        self.assertEqual(code, 334)
        self.assertTrue(scram.verify(lines[0]))
        self.assertEqual(c.cmd("")[0], 235)

    def cram(self, c, user, password):
        """One AUTH CRAM-MD5 exchange on c; the final reply."""
        code, lines = c.cmd("AUTH CRAM-MD5")
        self.assertEqual(code, 334)
        challenge = base64.b64decode(lines[0]).decode()
        self.assertRegex(challenge, r"^<[0-9a-f]+\.[0-9]+@[^>]+>$")
        return c.cmd(cram_response(user, password, lines[0]))

    def test_cram_md5(self):
        failed = (535, ["5.7.8 Error: authentication failed"])
        c = self.tls_raw("cram")
        self.assertIn("AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256", c.cmd("EHLO client.test")[1])
        self.assertEqual(self.cram(c, "carol@example.test", "wrong"), failed)
        # the right password, but alice's entry has no CRAM-MD5 secret
        self.assertEqual(self.cram(c, "alice@example.test", "alice secret"), failed)
        self.assertEqual(self.cram(c, "nobody@example.test", "alice secret"), failed)
        self.assertEqual(c.cmd("AUTH CRAM-MD5 " + b64("carol@example.test"))[0], 501)
        self.assertEqual(self.cram(c, "Carol@Example.TEST", "carol secret"),
                         (235, ["2.7.0 Authentication successful"]))
        log = self.inst.log()
        self.assertIn("SASL CRAM-MD5 authentication failed: ", log)
        self.assertIn("sasl_method=CRAM-MD5, sasl_username=carol@example.test", log)
        # the imported {CRAM-MD5} entry: CRAM-MD5 and PLAIN, no SCRAM keys
        c = self.tls_raw("cram")
        self.assertEqual(self.cram(c, "tim@example.test", "tanstaaftanstaaf")[0], 235)
        c = self.tls_raw("cram")
        self.assertEqual(c.cmd("AUTH PLAIN " + plain("tim@example.test", "tanstaaftanstaaf"))[0],
                         235)
        # carol's other mechanisms still work; CRAM-MD5 is off where not enabled
        c = self.tls_raw("cram")
        self.assertEqual(c.cmd("AUTH PLAIN " + plain("carol@example.test", "carol secret"))[0],
                         235)
        c = self.tls_raw("smtp")
        self.assertEqual(c.cmd("AUTH CRAM-MD5")[0], 504)

    def test_cram_md5_with_curl(self):
        # curl's own CRAM-MD5; it picks CRAM-MD5 whenever offered, which is
        # why smtpd_auth_cram_md5 is off by default: alice has no secret.
        port = self.ports["cram"]
        for user, ok in (("carol@example.test:carol secret", True),
                         ("alice@example.test:alice secret", False)):
            res = run("curl", "-sS", "--ssl-reqd", "-k", "smtp://127.0.0.1:%d" % port,
                      "--login-options", "AUTH=CRAM-MD5", "--user", user,
                      "--mail-from", user.split(":")[0], "--mail-rcpt", "bob@example.test",
                      "-T", "-", stdin=MESSAGE)
            self.assertEqual(res.returncode == 0, ok, res.stderr)
        self.assertEqual(len(self.wait_queued(1)), 1)
        self.assertIn("sasl_method=CRAM-MD5, sasl_username=carol@example.test", self.inst.log())

    def test_clients_with_auth(self):
        p, ps = self.ports["smtp"], self.ports["smtps"]
        with smtplib.SMTP("127.0.0.1", p, timeout=10) as s:
            s.starttls(context=client_tls_context())
            s.login("alice@example.test", "alice secret")
        with smtplib.SMTP_SSL("127.0.0.1", ps, timeout=10, context=client_tls_context()) as s:
            s.ehlo()
            s.user, s.password = "bob@example.test", "bob secret"
            self.assertEqual(s.auth("LOGIN", s.auth_login, initial_response_ok=False)[0], 235)
        with smtplib.SMTP_SSL("127.0.0.1", ps, timeout=10, context=client_tls_context()) as s:
            with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
                s.login("bob@example.test", "wrong")
            self.assertEqual(cm.exception.smtp_code, 535)
        for mech, port, tls in (("PLAIN", p, "--tls"), ("LOGIN", ps, "--tls-on-connect")):
            res = run("swaks", "--server", "127.0.0.1", "--port", str(port), tls,
                      "--auth", mech, "--auth-user", "alice@example.test",
                      "--auth-password", "alice secret", "--from", "alice@example.test",
                      "--to", "bob@example.test", "--helo", "c.test")
            self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        res = run("curl", "-sS", "-k", "smtps://127.0.0.1:%d" % ps, "--user",
                  "bob@example.test:bob secret", "--mail-from", "bob@example.test",
                  "--mail-rcpt", "alice@example.test", "-T", "-", stdin=MESSAGE)
        self.assertEqual(res.returncode, 0, res.stderr)
        res = run("curl", "-sS", "--ssl-reqd", "-k", "smtp://127.0.0.1:%d" % p, "--user",
                  "bob@example.test:wrong", "--mail-from", "bob@example.test",
                  "--mail-rcpt", "alice@example.test", "-T", "-", stdin=MESSAGE)
        self.assertNotEqual(res.returncode, 0)
        self.assertEqual(len(self.wait_queued(3)), 3)

    def test_brute_force_slow_down_and_cut_off(self):
        c = self.raw("brute")
        times = []
        for _ in range(2):
            start = time.monotonic()
            self.assertEqual(c.cmd("AUTH PLAIN " + plain("alice@example.test", "guess"))[0], 535)
            times.append(time.monotonic() - start)
        self.assertGreaterEqual(times[0], 0.9)
        self.assertGreaterEqual(times[1], 1.9)  # growing
        other = self.raw("brute")  # the delay is a timer: others are served meanwhile
        c.send("AUTH PLAIN " + plain("alice@example.test", "guess") + "\r\n")
        start = time.monotonic()
        self.assertEqual(other.cmd("NOOP")[0], 250)
        self.assertLess(time.monotonic() - start, 0.5)
        self.assertEqual(c.reply()[0], 535)
        self.assertEqual(c.reply()[0], 421)  # the cut-off
        self.assertEqual(c.reply()[0], 0)
        # the address stays cut off, even with the right password
        self.assertEqual(other.cmd("AUTH PLAIN " + plain("alice@example.test", "alice secret"))[0],
                         421)
        self.assertIn("too many failed authentications", self.inst.log())

    def test_failure_counts_are_shared_by_the_processes(self):
        # brute4 runs 4 processes; the one that saw two failures is killed,
        # and the third failure, on another process, still cuts off
        port = self.ports["brute4"]
        c = self.raw("brute4")
        for _ in range(2):
            self.assertEqual(c.cmd("AUTH PLAIN " + plain("alice@example.test", "guess"))[0], 535)
        self.assertEqual(c.cmd("NOOP")[0], 250)

        def serving():  # the brute4 process that logged a connection
            on_port = set()
            for p in self.inst.processes():
                try:
                    with open("/proc/%d/cmdline" % p, "rb") as f:
                        if b"127.0.0.1:%d" % port in f.read():
                            on_port.add(p)
                except OSError:
                    pass
            logged = re.findall(r"smtpd\[(\d+)\]: connect from", self.inst.log())
            return next((int(p) for p in reversed(logged) if int(p) in on_port), None)
        victim = wait_for(serving)
        self.assertIsNotNone(victim, self.inst.log())
        os.kill(victim, signal.SIGKILL)
        self.assertTrue(wait_for(lambda: victim not in self.inst.processes()))
        d = self.raw("brute4")
        self.assertEqual(d.cmd("AUTH PLAIN " + plain("alice@example.test", "guess"))[0], 535)
        self.assertEqual(d.reply()[0], 421)  # the third failure of the address
        e = self.raw("brute4")
        self.assertEqual(e.cmd("AUTH PLAIN " + plain("alice@example.test", "alice secret"))[0],
                         421)

    # --- relay policy -----------------------------------------------------
    def login(self, c, user="alice@example.test"):
        self.assertEqual(c.cmd("AUTH PLAIN " + plain(user, PASSWORDS[user]))[0], 235)

    def test_unauthenticated_client_cannot_relay(self):
        c = self.raw("smtp")
        self.assertEqual(c.cmd("MAIL FROM:<x@remote.test>")[0], 250)
        for rcpt in ("<u@foreign.test>",
                     "<u%foreign.test@example.test>",       # percent hack
                     "<@example.test:u@foreign.test>",      # source route
                     "<@example.test,@x.test:u@foreign.test>",
                     "<foreign.test!u@example.test>",       # bang path
                     '<"u@foreign.test"@example.test>',     # quoted local part
                     '<"u%foreign.test"@example.test>',
                     "<u@foreign.test@example.test>"):
            code, lines = c.cmd("RCPT TO:%s" % rcpt)
            self.assertIn(code, (501, 550, 553, 554), (rcpt, code, lines))
        self.assertEqual(c.cmd("RCPT TO:<u@foreign.test>"),
                         (554, ["5.7.1 <u@foreign.test>: Relay access denied"]))
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)  # hosted: fine
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertEqual(self.queued(), {})

    def test_authenticated_client_relays_and_is_queued(self):
        c = self.tls_raw()
        self.assertEqual(c.cmd("MAIL FROM:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<u@foreign.test>")[0], 554)  # not yet logged in
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.login(c)
        self.assertEqual(c.cmd("MAIL FROM:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<u@foreign.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        self.assertEqual(c.cmd(MESSAGE + ".")[0], 250)
        (_, data), = self.wait_queued().items()
        self.assertIn(b"u@foreign.test", data)
        self.assertIn(b"with ESMTPSA id", data)
        # a trick through an authenticated session is still only a local part
        self.assertEqual(c.cmd("MAIL FROM:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<u%foreign.test@example.test>")[0], 550)

    def test_submission_needs_auth_and_owned_sender(self):
        c = self.tls_raw("submission")
        self.assertEqual(c.cmd("MAIL FROM:<alice@example.test>"),
                         (530, ["5.7.0 Authentication required"]))
        self.login(c)
        code, lines = c.cmd("MAIL FROM:<bob@example.test>")
        self.assertEqual((code, lines[0][:5]), (553, "5.7.1"))
        self.assertIn("Sender address rejected: not owned by user", lines[0])
        self.assertEqual(c.cmd("MAIL FROM:<someone@foreign.test>")[0], 553)
        self.assertEqual(c.cmd("MAIL FROM:<Alice@EXAMPLE.test>")[0], 250)
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<postmaster@example.test>")[0], 250)  # alias of hers
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<>")[0], 250)
        c = self.tls_raw("smtps")
        self.assertEqual(c.cmd("MAIL FROM:<bob@example.test>")[0], 530)
        self.login(c, "bob@example.test")
        self.assertEqual(c.cmd("MAIL FROM:<postmaster@example.test>")[0], 553)
        self.assertEqual(c.cmd("MAIL FROM:<bob@example.test>")[0], 250)


def make_cert(inst, directory, name):
    """A self-signed certificate and key the instance's smtpd can read."""
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    res = run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
              "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=" + name,
              "-keyout", key, "-out", cert)
    if res.returncode != 0:
        raise RuntimeError(res.stderr)
    inst.give(key)
    return cert, key


class SniTests(TlsBase):
    SERVICES = {"smtp": "", "smtps": "-o smtpd_service=smtps"}

    @classmethod
    def extra_config(cls):
        inst = cls.inst
        cert, key = make_cert(inst, inst.config_dir, "mail.other.test")
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


class ReloadTests(TlsBase):
    SERVICES = {"smtps": "-o smtpd_service=smtps"}

    def subject(self):
        res = run("openssl", "s_client", "-connect", "127.0.0.1:%d" % self.ports["smtps"],
                  stdin="QUIT\n")
        return [l for l in res.stdout.splitlines() if l.startswith("subject=")]

    def test_reload_serves_renewed_certificate_keeping_sessions(self):
        before = self.subject()
        self.assertTrue(before and "renewed.test" not in before[0], before)
        old = self.raw("smtps", tls=True)
        pids = set(self.inst.processes())
        cert, key = make_cert(self.inst, self.inst.dir, "renewed.test")
        os.replace(cert, self.inst.path("tls", "cert.pem"))
        os.replace(key, self.inst.path("tls", "key.pem"))
        res = self.inst.ctl("reload")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertTrue(wait_for(lambda: "renewed.test" in (self.subject() or [""])[0], 10),
                        self.subject())
        self.assertEqual(old.cmd("NOOP")[0], 250)  # the open session goes on
        self.assertEqual(set(self.inst.processes()), pids)  # nobody was restarted


class SessionTicketTests(TlsBase):
    """TLS session tickets under the keys master hands to every child
    (lib/tlstix.c): a client resumes on any process of the service, also
    after the one that issued its ticket is gone; not with tickets off;
    not after a restart of the instance (a new key chain)."""
    SERVICES = {
        "smtps": "-o smtpd_service=smtps",
        "notix": "-o smtpd_service=smtps -o smtpd_tls_session_cache_timeout=0",
    }

    @classmethod
    def extra_config(cls):
        cls.ctx = client_tls_context()  # Python ties a session to its context

    def visit(self, name, session=None):
        """One implicit-TLS connection: greeting, QUIT. (session, reused)."""
        sock = socket.create_connection(("127.0.0.1", self.ports[name]), timeout=5)
        tls = self.ctx.wrap_socket(sock, server_hostname="mail.example.test", session=session)
        f = tls.makefile("rb")
        self.assertTrue(f.readline().startswith(b"220"))  # also reads the TLS 1.3 ticket
        tls.sendall(b"QUIT\r\n")
        self.assertTrue(f.readline().startswith(b"221"))
        result = (tls.session, tls.session_reused)
        f.close()
        tls.close()
        return result

    def handshakes(self):
        """pids of the smtpd processes that logged TLS handshakes, in order."""
        return [int(p) for p in
                re.findall(r"smtpd\[(\d+)\]: TLS connection established", self.inst.log())]

    def issuer(self, count):
        """pid of the process of handshake number count (1-based)."""
        self.assertTrue(wait_for(lambda: len(self.handshakes()) >= count), self.inst.log())
        return self.handshakes()[count - 1]

    def test_resume_on_every_process_and_after_the_issuer_died(self):
        before = len(self.handshakes())
        session, reused = self.visit("smtps")
        self.assertFalse(reused)
        self.assertTrue(session.has_ticket)
        issuer = self.issuer(before + 1)
        for _ in range(6):
            self.assertTrue(self.visit("smtps", session)[1])
        os.kill(issuer, signal.SIGKILL)  # the next connection meets another process
        self.assertTrue(wait_for(lambda: issuer not in self.inst.processes()))
        before = len(self.handshakes())
        for i in range(3):
            self.assertTrue(self.visit("smtps", session)[1])
            self.assertNotEqual(self.issuer(before + i + 1), issuer)
        # a session of one service does not resume on a server with tickets off
        self.assertFalse(self.visit("notix", session)[1])
        # a restart makes a new key chain: the old ticket no longer opens
        self.inst.stop()
        self.inst.start()
        self.assertTrue(wait_for(lambda: port_open(self.ports["smtps"])))
        fresh, reused = self.visit("smtps", session)
        self.assertFalse(reused)
        self.assertTrue(self.visit("smtps", fresh)[1])

    def test_no_tickets_when_turned_off(self):
        session, reused = self.visit("notix")
        self.assertFalse(reused)
        self.assertFalse(session.has_ticket)
        self.assertFalse(self.visit("notix", session)[1])


if __name__ == "__main__":
    unittest.main()
