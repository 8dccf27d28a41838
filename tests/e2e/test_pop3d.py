#!/usr/bin/env python3
"""End-to-end tests of pop3d against a private instance, with Python's
poplib, curl (pop3:// with STLS, pop3s://), fetchmail and a raw client:
CAPA; USER/PASS refused without TLS; STLS (and the plaintext injected after
it); implicit TLS on a pop3s service; AUTH PLAIN and SCRAM-SHA-256; sizes
in STAT/LIST equal to the bytes RETR sends with CRLF line ends;
byte-stuffing; TOP; UIDL stable across sessions, after an IMAP-style flag
change and in Dovecot's format; deletion only at QUIT; a dropped
connection deletes nothing; [IN-USE] for a second session while local
keeps delivering; the Seen flag after RETR; a message that vanished under
a session; bad input; the slow-down and cut-off of password guessing."""
import os
import poplib
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MAIL_SERVICES, InstanceCase, PopClient, ScramClient, b64,  # noqa: E402
                     client_tls_context, free_port, port_open, require_tools, set_password,
                     wait_for)

require_tools("curl", "fetchmail")

DOMAINS = "example.test OK\n"
MAILBOXES = ("alice@example.test example.test/alice/\n"
             "bob@example.test example.test/bob/\n"
             "carol@example.test example.test/carol/\n")
PASSWORDS = {"alice@example.test": "alice secret", "bob@example.test": "bob secret",
             "carol@example.test": "carol secret"}

# Stored messages (LF line ends as local writes them), in delivery order.
MESSAGES = [
    b"From: a@example.test\nSubject: one\n\nfirst body\n",
    b"From: b@example.test\nSubject: dots\n\n.leading dot\n..two dots\n.\nend\n",
    b"From: c@example.test\r\nSubject: crlf\r\n\r\nalready crlf\r\nline 2\r\n",
    b"From: d@example.test\nSubject: no newline\n\nlast line without newline",
    b"From: e@example.test\nSubject: top\n\nb1\nb2\nb3\nb4\n",
]


def crlf(data):
    """data with every bare LF as CRLF: what RETR sends before stuffing."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def wire(data):
    """The RETR body as sent: CRLF, a final CRLF, dot-stuffed."""
    text = crlf(data)
    if not text.endswith(b"\r\n"):
        text += b"\r\n"
    return b"".join((b"." + ln if ln.startswith(b".") else ln)
                    for ln in text.splitlines(keepends=True))


class Pop3Base(InstanceCase):
    """One instance for the class: pop3d on a plain port (STLS), on a
    pop3s port, and on a plain port that allows cleartext logins, plus qmgr
    and local for delivery."""

    EXTRA_MAIN = {}
    MAXPROC = 2

    @classmethod
    def configure(cls):
        inst = cls.inst
        cls.port, cls.sport, cls.cport = free_port(), free_port(), free_port()
        inst.set_master_cf(MAIL_SERVICES + [
            "127.0.0.1:%d inet n - n - %d pop3d" % (cls.port, cls.MAXPROC),
            "127.0.0.1:%d inet n - n - %d pop3d -o pop3d_service=pop3s" % (cls.sport, cls.MAXPROC),
            "127.0.0.1:%d inet n - n - %d pop3d -o pop3d_tls_auth_only=no"
            % (cls.cport, cls.MAXPROC),
        ])
        inst.build_map("domains", DOMAINS)
        inst.build_map("mailboxes", MAILBOXES)
        for user, password in PASSWORDS.items():
            set_password(inst, user, password)
        inst.set_main("pop3d_auth_failure_delay", "0")
        for key, value in cls.EXTRA_MAIN.items():
            inst.set_main(key, value)
        base = inst.ctl("config", "get", "virtual_mailbox_base").stdout.strip()
        cls.maildirs = {u: os.path.join(base, "example.test", u.split("@")[0])
                        for u in PASSWORDS}
        inst.start()
        for p in (cls.port, cls.sport, cls.cport):
            if not wait_for(lambda: port_open(p)):
                raise RuntimeError("pop3d on %d did not come up: %s" % (p, inst.log()))

    def fill(self, user, messages=MESSAGES):
        """Empties user's Maildir and stores messages in new/ (oldest
        first); returns their file names."""
        md = self.maildirs[user]
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
            for name in os.listdir(os.path.join(md, sub)):
                os.unlink(os.path.join(md, sub, name))
        for name in ("dovecot-uidlist",):
            if os.path.exists(os.path.join(md, name)):
                os.unlink(os.path.join(md, name))
        names = []
        for i, data in enumerate(messages):
            name = "%d.M%dP1.test" % (1700000000 + i, i)
            with open(os.path.join(md, "new", name), "wb") as f:
                f.write(data)
            names.append(name)
        self.inst.give(md)
        return names

    def files(self, user):
        md = self.maildirs[user]
        return sorted(os.listdir(os.path.join(md, "new")) + os.listdir(os.path.join(md, "cur")))

    def plain_login(self, user="alice@example.test"):
        """A raw session on the cleartext-allowed port, logged in."""
        c = PopClient(self.cport)
        self.assertTrue(c.login(user, PASSWORDS[user]).startswith("+OK"))
        return c

    def poplib_stls(self, user="alice@example.test"):
        p = poplib.POP3("127.0.0.1", self.port, timeout=10)
        p.stls(client_tls_context())
        p.user(user)
        p.pass_(PASSWORDS[user])
        return p


class ProtocolTests(Pop3Base):

    def test_capa_plaintext_and_after_stls(self):
        c = PopClient(self.port)
        self.assertTrue(c.greeting.startswith("+OK"))
        self.assertTrue(c.cmd("CAPA").startswith("+OK"))
        capa = c.multi().decode().split("\r\n")
        for word in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "STLS",
                     "IMPLEMENTATION Postern"):
            self.assertIn(word, capa)
        self.assertNotIn("USER", capa)  # no cleartext passwords without TLS
        self.assertIn("SASL SCRAM-SHA-256", capa)
        self.assertTrue(c.stls().startswith("+OK"))
        self.assertTrue(c.cmd("CAPA").startswith("+OK"))
        capa = c.multi().decode().split("\r\n")
        self.assertIn("USER", capa)
        self.assertIn("SASL PLAIN LOGIN SCRAM-SHA-256", capa)
        self.assertNotIn("STLS", capa)
        c.close()

    def test_user_pass_refused_without_tls(self):
        c = PopClient(self.port)
        self.assertTrue(c.cmd("USER alice@example.test").startswith("-ERR [AUTH]"))
        self.assertTrue(c.cmd("PASS alice secret").startswith("-ERR [AUTH]"))
        self.assertTrue(c.cmd("AUTH PLAIN " + b64("\0alice@example.test\0alice secret"))
                        .startswith("-ERR"))
        self.assertTrue(c.cmd("APOP alice@example.test 0123456789abcdef").startswith("-ERR"))
        c.close()

    def test_poplib_stls_retr_sizes(self):
        self.fill("alice@example.test")
        p = self.poplib_stls()
        count, total = p.stat()
        self.assertEqual(count, len(MESSAGES))
        self.assertEqual(total, sum(len(crlf(m)) for m in MESSAGES))
        resp, listing, _ = p.list()
        sizes = [int(x.split()[1]) for x in listing]
        self.assertEqual(sizes, [len(crlf(m)) for m in MESSAGES])
        for i, m in enumerate(MESSAGES):
            resp, lines, octets = p.retr(i + 1)
            self.assertEqual(b"\n".join(lines), crlf(m).rstrip(b"\r\n").replace(b"\r\n", b"\n"))
        self.assertTrue(p.quit().startswith(b"+OK"))

    def test_raw_bytes_and_dot_stuffing(self):
        self.fill("alice@example.test")
        c = self.plain_login()
        for i, m in enumerate(MESSAGES):
            size = int(c.cmd("LIST %d" % (i + 1)).split()[2])
            self.assertEqual(size, len(crlf(m)))
            self.assertEqual(c.cmd("RETR %d" % (i + 1)), "+OK %d octets" % size)
            self.assertEqual(c.multi(), wire(m))
        c.cmd("QUIT")
        c.close()

    def test_pipelined_commands(self):
        self.fill("alice@example.test")
        c = self.plain_login()
        c.send("STAT\r\nRETR 1\r\nRETR 2\r\nLIST 3\r\nNOOP\r\n")
        self.assertTrue(c.line().startswith("+OK 5 "))
        self.assertTrue(c.line().startswith("+OK"))
        self.assertEqual(c.multi(), wire(MESSAGES[0]))
        self.assertTrue(c.line().startswith("+OK"))
        self.assertEqual(c.multi(), wire(MESSAGES[1]))
        self.assertEqual(c.line(), "+OK 3 %d" % len(crlf(MESSAGES[2])))
        self.assertEqual(c.line(), "+OK")
        c.close()

    def test_top(self):
        self.fill("alice@example.test")
        c = self.plain_login()
        self.assertTrue(c.cmd("TOP 5 0").startswith("+OK"))
        self.assertEqual(c.multi(), b"From: e@example.test\r\nSubject: top\r\n\r\n")
        self.assertTrue(c.cmd("TOP 5 2").startswith("+OK"))
        self.assertEqual(c.multi(), b"From: e@example.test\r\nSubject: top\r\n\r\nb1\r\nb2\r\n")
        self.assertTrue(c.cmd("TOP 2 1").startswith("+OK"))
        self.assertEqual(c.multi(), b"From: b@example.test\r\nSubject: dots\r\n\r\n"
                         b"..leading dot\r\n")
        self.assertTrue(c.cmd("TOP 1").startswith("-ERR"))
        self.assertTrue(c.cmd("TOP 1 x").startswith("-ERR"))
        c.cmd("QUIT")
        c.close()
        # TOP does not count as reading: no Seen flags
        self.assertTrue(all(":2," not in f for f in self.files("alice@example.test")))

    def test_uidl_stable_and_dovecot_format(self):
        names = self.fill("alice@example.test")
        c = self.plain_login()
        self.assertTrue(c.cmd("UIDL").startswith("+OK"))
        first = c.multi().decode().split("\r\n")[:-1]
        self.assertEqual(len(first), len(MESSAGES))
        for i, line in enumerate(first):
            num, uidl = line.split()
            self.assertEqual(int(num), i + 1)
            self.assertRegex(uidl, r"^%08x[0-9a-f]{8}$" % (i + 1))
        self.assertEqual(c.cmd("UIDL 2"), "+OK " + first[1])
        c.cmd("QUIT")
        c.close()
        md = self.maildirs["alice@example.test"]
        self.assertTrue(os.path.exists(os.path.join(md, "dovecot-uidlist")))
        # an IMAP client reads message 1: moved to cur/ with the Seen flag
        os.rename(os.path.join(md, "new", names[0]), os.path.join(md, "cur", names[0] + ":2,S"))
        # a new message arrives
        with open(os.path.join(md, "new", "1800000000.M9P9.test"), "wb") as f:
            f.write(b"Subject: later\n\nlater\n")
        c = self.plain_login()
        self.assertTrue(c.cmd("UIDL").startswith("+OK"))
        second = c.multi().decode().split("\r\n")[:-1]
        self.assertEqual(second[:len(first)], first)
        self.assertRegex(second[-1], r"^6 %08x" % 6)
        c.cmd("QUIT")
        c.close()

    def test_delete_only_at_quit(self):
        self.fill("alice@example.test")
        # a dropped connection deletes nothing
        c = self.plain_login()
        self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
        c.close()
        time.sleep(0.2)
        self.assertEqual(len(self.files("alice@example.test")), len(MESSAGES))
        # RSET undeletes
        c = wait_for(lambda: self.try_login()) or self.plain_login()
        self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
        self.assertTrue(c.cmd("RETR 1").startswith("-ERR"))
        self.assertTrue(c.cmd("LIST 1").startswith("-ERR"))
        self.assertTrue(c.cmd("DELE 1").startswith("-ERR"))
        self.assertTrue(c.cmd("STAT").startswith("+OK 4 "))
        self.assertTrue(c.cmd("RSET").startswith("+OK"))
        self.assertTrue(c.cmd("STAT").startswith("+OK 5 "))
        self.assertTrue(c.cmd("DELE 2").startswith("+OK"))
        self.assertTrue(c.cmd("DELE 4").startswith("+OK"))
        self.assertEqual(len(self.files("alice@example.test")), len(MESSAGES))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()
        self.assertEqual(len(self.files("alice@example.test")), len(MESSAGES) - 2)
        # the numbers start again from 1 in the next session
        c = wait_for(lambda: self.try_login())
        self.assertTrue(c.cmd("STAT").startswith("+OK 3 "))
        self.assertTrue(c.cmd("RETR 2").startswith("+OK"))
        self.assertEqual(c.multi(), wire(MESSAGES[2]))
        c.close()

    def try_login(self, user="alice@example.test"):
        c = PopClient(self.cport)
        if c.login(user, PASSWORDS[user]).startswith("+OK"):
            return c
        c.close()
        return None

    def test_seen_flag_after_retr(self):
        names = self.fill("alice@example.test")
        c = self.plain_login()
        self.assertTrue(c.cmd("RETR 3").startswith("+OK"))
        c.multi()
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()
        cur = os.listdir(os.path.join(self.maildirs["alice@example.test"], "cur"))
        self.assertEqual(cur, [names[2] + ":2,S"])

    def test_in_use_while_local_delivers(self):
        self.fill("bob@example.test")
        c = self.plain_login("bob@example.test")
        d = PopClient(self.cport)
        d.cmd("USER bob@example.test")
        self.assertTrue(d.cmd("PASS bob secret").startswith("-ERR [IN-USE]"))
        d.close()
        # local delivers into the open mailbox meanwhile
        self.inst.inject("sender@example.test", ["bob@example.test"],
                         "Subject: during\r\n\r\nwhile a POP3 session is open\r\n")
        self.assertTrue(wait_for(lambda: len(self.files("bob@example.test")) == 6, timeout=10))
        self.assertTrue(c.cmd("STAT").startswith("+OK 5 "))  # the session's view
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()
        c = wait_for(lambda: self.try_login("bob@example.test"))
        self.assertTrue(c.cmd("STAT").startswith("+OK 6 "))
        self.assertTrue(c.cmd("TOP 6 0").startswith("+OK"))
        self.assertIn(b"Subject: during", c.multi())
        c.close()

    def test_vanished_message(self):
        names = self.fill("alice@example.test")
        c = self.plain_login()
        md = self.maildirs["alice@example.test"]
        os.unlink(os.path.join(md, "new", names[1]))  # expunged by an IMAP client
        os.rename(os.path.join(md, "new", names[2]), os.path.join(md, "cur", names[2] + ":2,F"))
        self.assertTrue(c.cmd("RETR 2").startswith("-ERR"))
        self.assertTrue(c.cmd("RETR 3").startswith("+OK"))  # renamed: found again
        self.assertEqual(c.multi(), wire(MESSAGES[2]))
        self.assertTrue(c.cmd("DELE 2").startswith("+OK"))
        self.assertTrue(c.cmd("QUIT").startswith("+OK"))
        c.close()
        self.assertEqual(len(self.files("alice@example.test")), len(MESSAGES) - 1)
        self.assertIn(names[2] + ":2,FS", os.listdir(os.path.join(md, "cur")))

    def test_delivered_by_local(self):
        self.fill("carol@example.test", [])
        self.inst.inject("sender@example.test", ["carol@example.test"],
                         "Subject: via local\r\n\r\n.dot line\r\nbody\r\n")
        self.assertTrue(wait_for(lambda: self.files("carol@example.test"), timeout=10))
        c = self.plain_login("carol@example.test")
        size = int(c.cmd("LIST 1").split()[2])
        self.assertTrue(c.cmd("RETR 1").startswith("+OK"))
        body = c.multi()
        self.assertEqual(len(body) - body.count(b"\r\n..") , size)
        self.assertIn(b"\r\n..dot line\r\n", body)
        self.assertIn(b"Return-Path: <sender@example.test>", body)
        c.close()

    def test_pop3s_implicit_tls(self):
        self.fill("alice@example.test")
        p = poplib.POP3_SSL("127.0.0.1", self.sport, context=client_tls_context(), timeout=10)
        self.assertTrue(p.getwelcome().startswith(b"+OK"))
        p.user("alice@example.test")
        p.pass_(PASSWORDS["alice@example.test"])
        self.assertEqual(p.stat()[0], len(MESSAGES))
        resp, lines, _ = p.retr(1)
        self.assertEqual(lines[-1], b"first body")
        p.quit()

    def test_auth_plain_and_scram(self):
        self.fill("alice@example.test")
        c = PopClient(self.sport, tls=True)
        self.assertTrue(c.cmd("AUTH PLAIN " + b64("\0alice@example.test\0alice secret"))
                        .startswith("+OK"))
        self.assertTrue(c.cmd("STAT").startswith("+OK 5 "))
        c.cmd("QUIT")
        c.close()
        # SCRAM-SHA-256 works on plaintext: the password never crosses the wire
        c = PopClient(self.port)
        scram = ScramClient("alice@example.test", "alice secret")
        reply = c.cmd("AUTH SCRAM-SHA-256 " + scram.first())
        self.assertTrue(reply.startswith("+ "), reply)
        reply = c.cmd(scram.final(reply[2:]))
        self.assertTrue(reply.startswith("+ "), reply)
        self.assertTrue(scram.verify(reply[2:]))
        self.assertTrue(c.cmd("").startswith("+OK"))
        self.assertTrue(c.cmd("STAT").startswith("+OK 5 "))
        c.close()
        # AUTH alone lists the mechanisms; "*" cancels
        c = PopClient(self.sport, tls=True)
        self.assertTrue(c.cmd("AUTH").startswith("+OK"))
        self.assertEqual(c.multi(), b"PLAIN\r\nLOGIN\r\nSCRAM-SHA-256\r\n")
        self.assertEqual(c.cmd("AUTH LOGIN"), "+ " + b64("Username:"))
        self.assertTrue(c.cmd("*").startswith("-ERR"))
        self.assertTrue(c.cmd("AUTH FOO").startswith("-ERR"))
        self.assertTrue(c.cmd("AUTH PLAIN !!!notbase64").startswith("-ERR"))
        c.close()

    def test_login_again_right_after_quit(self):
        # the mailbox lock goes before the QUIT reply: a client that logs in
        # again as soon as it reads "+OK" (on either process) is never
        # answered [IN-USE]
        self.fill("alice@example.test")
        for i in range(40):
            c = self.plain_login()
            self.assertTrue(c.cmd("QUIT").startswith("+OK"), i)
            c.close()
        c = self.plain_login()
        self.assertTrue(c.cmd("STAT").startswith("+OK 5 "))
        c.cmd("QUIT")
        c.close()

    def test_pop3s_session_resumes_on_any_process(self):
        ctx = client_tls_context()  # Python ties a session to its context

        def visit(session=None):
            sock = socket.create_connection(("127.0.0.1", self.sport), timeout=5)
            tls = ctx.wrap_socket(sock, server_hostname="mail.example.test", session=session)
            f = tls.makefile("rb")
            self.assertTrue(f.readline().startswith(b"+OK"))  # reads the TLS 1.3 ticket too
            tls.sendall(b"QUIT\r\n")
            self.assertTrue(f.readline().startswith(b"+OK"))
            result = (tls.session, tls.session_reused)
            f.close()
            tls.close()
            return result

        session, reused = visit()
        self.assertFalse(reused)
        self.assertTrue(session.has_ticket)
        for _ in range(6):  # MAXPROC processes share the port and the keys
            self.assertTrue(visit(session)[1])

    def test_stls_injection_discarded(self):
        c = PopClient(self.port)
        c.send("STLS\r\nUSER alice@example.test\r\n")
        self.assertTrue(c.line().startswith("+OK"))
        c.file.close()
        c.sock = client_tls_context().wrap_socket(c.sock)
        c.file = c.sock.makefile("rb")
        # the pipelined USER was dropped: PASS has no user
        self.assertTrue(c.cmd("PASS alice secret").startswith("-ERR"))
        self.assertTrue(c.cmd("STLS").startswith("-ERR"))
        c.close()
        self.assertTrue(wait_for(lambda: "plaintext pipelined after STLS dropped"
                                 in self.inst.log()))

    def test_bad_input(self):
        self.fill("alice@example.test")
        c = self.plain_login()
        self.assertTrue(c.cmd("FOO").startswith("-ERR"))
        self.assertTrue(c.cmd("USER x").startswith("-ERR"))  # wrong state
        self.assertTrue(c.cmd("RETR").startswith("-ERR"))
        self.assertTrue(c.cmd("RETR x").startswith("-ERR"))
        self.assertTrue(c.cmd("RETR -1").startswith("-ERR"))
        self.assertTrue(c.cmd("RETR 0").startswith("-ERR"))
        self.assertTrue(c.cmd("RETR 99").startswith("-ERR"))
        self.assertTrue(c.cmd("LIST 99999999999999999999").startswith("-ERR"))
        self.assertTrue(c.cmd("STAT").startswith("+OK"))  # the session goes on
        try:  # a 10 MB line ends the session (the -ERR may be lost in the reset)
            c.send("NOOP " + "x" * (10 * 1024 * 1024) + "\r\n")
            reply = c.line()
            self.assertTrue(reply.startswith("-ERR") or reply == "")
            self.assertEqual(c.line(), "")
        except (ConnectionResetError, BrokenPipeError):
            pass
        c.close()
        self.assertTrue(wait_for(lambda: "command line longer than" in self.inst.log()))
        c = PopClient(self.cport)
        c.cmd("STAT")  # wrong state
        replies = []
        try:
            while len(replies) < 12 and (not replies or replies[-1] != ""):
                replies.append(c.cmd("BOGUS"))
        except OSError:
            replies.append("")
        self.assertEqual(replies[-1], "")  # disconnected after too many errors
        self.assertLessEqual(len(replies), 12)
        c.close()
        self.assertTrue(self.try_login())  # the server is fine


class StopTests(Pop3Base):
    """What a stopping or crashing server does to an open session."""

    def pop3d_pids(self):
        pids = []
        for pid in self.inst.processes():
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if os.path.basename(f.read().split(b"\0")[0]) == b"pop3d":
                        pids.append(pid)
            except OSError:
                pass
        return pids

    def test_kill_9_releases_the_lock_and_deletes_nothing(self):
        self.fill("alice@example.test")
        c = self.plain_login()
        self.assertTrue(c.cmd("DELE 1").startswith("+OK"))
        for pid in self.pop3d_pids():  # the session's process among them
            os.kill(pid, signal.SIGKILL)
        self.assertEqual(c.line(), "")
        c.close()
        self.assertEqual(len(self.files("alice@example.test")), len(MESSAGES))
        c = wait_for(self.try_login_alice, timeout=10)  # no stale [IN-USE]
        self.assertIsNotNone(c)
        self.assertTrue(c.cmd("STAT").startswith("+OK 5 "))
        c.close()

    def try_login_alice(self):
        c = PopClient(self.cport)
        if c.login("alice@example.test", PASSWORDS["alice@example.test"]).startswith("+OK"):
            return c
        c.close()
        return None

    def test_stop_deletes_nothing(self):
        self.fill("bob@example.test")
        c = self.plain_login("bob@example.test")
        self.assertTrue(c.cmd("DELE 2").startswith("+OK"))
        self.assertTrue(c.cmd("RETR 1").startswith("+OK"))
        c.multi()
        self.inst.stop()
        self.assertTrue(c.line().startswith("-ERR [SYS/TEMP]"))
        c.close()
        self.assertEqual(len(self.files("bob@example.test")), len(MESSAGES))
        self.assertTrue(all(":2," not in f for f in self.files("bob@example.test")))
        self.inst.start()
        self.assertTrue(wait_for(lambda: port_open(self.cport)))


class GuessingTests(Pop3Base):
    EXTRA_MAIN = {"pop3d_auth_failure_limit": "3", "pop3d_auth_failure_delay": "1s"}
    MAXPROC = 1  # the table of failures is per process

    def test_slow_down_and_cut_off(self):
        c = PopClient(self.cport)
        c.cmd("USER alice@example.test")
        start = time.monotonic()
        self.assertTrue(c.cmd("PASS wrong").startswith("-ERR [AUTH]"))
        self.assertGreaterEqual(time.monotonic() - start, 0.9)
        c.cmd("USER alice@example.test")
        start = time.monotonic()
        self.assertTrue(c.cmd("PASS wrong").startswith("-ERR [AUTH]"))
        self.assertGreaterEqual(time.monotonic() - start, 1.9)
        c.cmd("USER alice@example.test")
        self.assertTrue(c.cmd("PASS wrong").startswith("-ERR"))
        self.assertEqual(c.line(), "")  # cut off at the limit
        c.close()
        c = PopClient(self.cport)
        c.cmd("USER alice@example.test")
        self.assertTrue(c.cmd("PASS alice secret").startswith("-ERR [AUTH]"))
        c.close()
        self.assertIn("PASS authentication failed", self.inst.log())
        self.assertIn("too many failed logins", self.inst.log())


class ClientTests(Pop3Base):
    """curl and fetchmail."""

    def curl(self, *args):
        return subprocess.run(["curl", "-s", "-S", "--max-time", "20", "-k"] + list(args),
                              capture_output=True, timeout=30)

    def test_curl_pop3_stls_and_pop3s(self):
        self.fill("alice@example.test")
        user = "alice@example.test:alice secret"
        res = self.curl("--ssl-reqd", "-u", user, "pop3://127.0.0.1:%d/" % self.port)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout.decode().split("\r\n")[:2],
                         ["1 %d" % len(crlf(MESSAGES[0])), "2 %d" % len(crlf(MESSAGES[1]))])
        res = self.curl("-u", user, "pop3s://127.0.0.1:%d/2" % self.sport)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(res.stdout, crlf(MESSAGES[1]))
        # without TLS curl's USER/PASS login is refused
        res = self.curl("-u", user, "pop3://127.0.0.1:%d/" % self.port)
        self.assertNotEqual(res.returncode, 0)

    def test_fetchmail_with_uidl(self):
        self.fill("bob@example.test")
        with tempfile.TemporaryDirectory() as home:
            out = os.path.join(home, "fetched")
            rc = os.path.join(home, "fetchmailrc")
            with open(rc, "w") as f:
                f.write('poll 127.0.0.1 protocol pop3 port %d uidl:\n'
                        '  user "bob@example.test" there with password "bob secret" is "%s"'
                        ' here\n  ssl no sslcertck keep\n  mda "cat >> %s"\n'
                        % (self.sport, os.environ.get("USER", "root"), out))
            os.chmod(rc, 0o600)
            env = dict(os.environ, HOME=home)
            cmd = ["fetchmail", "-f", rc, "--nosyslog", "-N", "-i", os.path.join(home, "ids")]
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
            self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
            with open(out, "rb") as f:
                data = f.read()
            for m in MESSAGES:
                self.assertIn(m.split(b"\n")[1].rstrip(b"\r"), data)  # each Subject
            # a second run finds nothing new: UIDLs are stable
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
            self.assertEqual(res.returncode, 1, res.stdout + res.stderr)  # 1 = no mail
            with open(out, "rb") as f:
                self.assertEqual(f.read(), data)


if __name__ == "__main__":
    unittest.main()
