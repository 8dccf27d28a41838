#!/usr/bin/env python3
"""End-to-end tests of admin changes acting at once (lib/mapgen: mailctl
bumps the map generation before it returns, every daemon looks at its maps
again at its next lookup), with smtplib and poplib against a private
instance running several smtpd and pop3d processes:
a user added and sent to with no pause, a hundred times; a new password
taking effect for the next AUTH (and the old one, cached, refused); a
deleted user refused at the next RCPT; domains and aliases added and
removed; an open POP3 or SMTP AUTH session of a deleted user ending at its
next command; map files replaced by half-written ones refused with a log
line while the old data stays in use; and a storm of 100 reloads that
loses no mail and no listening socket."""
import os
import poplib
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MAILCTL, MAIL_SERVICES, InstanceCase, free_port,  # noqa: E402
                     port_open, wait_for)

SENDER = "sender@client.test"


def message(subject):
    return "From: %s\r\nSubject: %s\r\n\r\nbody of %s\r\n" % (SENDER, subject, subject)


class ReloadBase(InstanceCase):
    """smtpd (3 processes, AUTH on plaintext, nobody trusted to relay),
    pop3d (2 processes, USER/PASS on plaintext), qmgr and local; an extra
    texthash alias map after the one mailctl edits."""

    @classmethod
    def configure(cls):
        inst = cls.inst
        cls.smtp, cls.pop = free_port(), free_port()
        inst.set_master_cf(MAIL_SERVICES + [
            "127.0.0.1:%d inet n - n - 3 smtpd -o smtpd_tls_auth_only=no "
            "-o mynetworks=10.0.0.0/8 -o smtpd_soft_error_limit=1000 "
            "-o smtpd_hard_error_limit=1000" % cls.smtp,
            "127.0.0.1:%d inet n - n - 2 pop3d -o pop3d_tls_auth_only=no" % cls.pop,
        ])
        for key, value in (("smtpd_auth_failure_delay", "0"),
                           ("smtpd_auth_failure_limit", "100000"),
                           ("smtpd_error_sleep_time", "0"),
                           ("virtual_alias_maps", "hash:$config_directory/aliases "
                            "texthash:$config_directory/extra_aliases")):
            inst.set_main(key, value)
        inst.write("extra_aliases", "extra@example.test demo@example.test\n")
        inst.start()
        for p in (cls.smtp, cls.pop):
            if not wait_for(lambda: port_open(p)):
                raise RuntimeError("port %d did not come up: %s" % (p, inst.log()))

    # --- helpers ----------------------------------------------------------
    def run_ctl(self, *args, stdin=None, code=0):
        res = subprocess.run([MAILCTL, "-c", self.inst.config_dir] + list(args),
                             input=stdin, capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, code, "%s: %s%s" % (args, res.stdout, res.stderr))
        return res

    def add_user(self, address, password=None):
        if password is None:
            self.run_ctl("user", "add", address)
        else:
            self.run_ctl("user", "add", address, "--password-stdin", stdin=password + "\n")

    def smtp_session(self):
        c = smtplib.SMTP("127.0.0.1", self.smtp, timeout=10)
        c.ehlo("client.test")
        return c

    def rcpt(self, address, session=None):
        """The RCPT TO reply code for address (in a MAIL transaction)."""
        c = session or self.smtp_session()
        try:
            c.rset()
            self.assertEqual(c.mail(SENDER)[0], 250)
            return c.rcpt(address)[0]
        finally:
            if session is None:
                c.quit()

    def send(self, address, subject, session=None):
        c = session or self.smtp_session()
        try:
            refused = c.sendmail(SENDER, [address], message(subject))
            self.assertEqual(refused, {})
        finally:
            if session is None:
                c.quit()

    def new_mail(self, address):
        user, domain = address.split("@")
        new = os.path.join(self.inst.config_dir, "mail", domain, user, "new")
        try:
            return os.listdir(new)
        except OSError:
            return []

    def wait_mail(self, address, count):
        found = wait_for(lambda: len(self.new_mail(address)) >= count, timeout=30)
        self.assertTrue(found, "%s got %d of %d; log:\n%s" % (
            address, len(self.new_mail(address)), count, self.inst.log()[-3000:]))

    def smtp_auth(self, user, password):
        """True when AUTH PLAIN with user/password succeeds."""
        c = self.smtp_session()
        try:
            c.login(user, password)
            return True
        except smtplib.SMTPAuthenticationError:
            return False
        finally:
            c.close()

    def pop_login(self, user, password):
        """An open, logged-in poplib client, or None when PASS fails. A
        mailbox still locked by the session just ended (its QUIT answered,
        its lock not yet dropped) is waited for."""
        for _ in range(100):
            p = poplib.POP3("127.0.0.1", self.pop, timeout=10)
            try:
                p.user(user)
                p.pass_(password)
                return p
            except poplib.error_proto as e:
                p.close()
                if b"[IN-USE]" not in e.args[0]:
                    return None
            time.sleep(0.02)
        self.fail("mailbox of %s stays locked" % user)


class AtOnce(ReloadBase):
    def test_add_user_and_send_a_hundred_times(self):
        kept = self.smtp_session()  # a session opened before every change
        started = time.monotonic()
        for i in range(100):
            address = "new%03d@example.test" % i
            self.add_user(address)
            self.send(address, "fresh %d" % i)  # a new connection, no pause
            self.send(address, "kept %d" % i, session=kept)
        kept.quit()
        took = time.monotonic() - started
        for i in range(100):
            self.wait_mail("new%03d@example.test" % i, 2)
        self.assertNotIn("User unknown", self.inst.log())
        print("100 x (user add + 2 messages): %.1f s" % took, file=sys.stderr)

    def test_passwd_change_acts_at_once(self):
        user = "pw@example.test"
        self.add_user(user, "first one")
        for _ in range(4):  # fill the verification caches of the processes
            self.assertTrue(self.smtp_auth(user, "first one"))
            p = self.pop_login(user, "first one")
            self.assertIsNotNone(p)
            p.quit()
        old = "first one"
        for round_ in range(5):
            new = "secret number %d" % round_
            self.run_ctl("user", "passwd", user, stdin=new + "\n")
            self.assertTrue(self.smtp_auth(user, new), "SMTP AUTH with the new password")
            p = self.pop_login(user, new)
            self.assertIsNotNone(p, "POP3 PASS with the new password")
            p.quit()
            self.assertFalse(self.smtp_auth(user, old), "the old password still works")
            self.assertIsNone(self.pop_login(user, old), "the old POP3 password still works")
            old = new

    def test_user_del_refused_at_once(self):
        kept = self.smtp_session()
        for i in range(20):
            address = "gone%02d@example.test" % i
            self.add_user(address)
            self.assertEqual(self.rcpt(address), 250)
            self.assertEqual(self.rcpt(address, kept), 250)
            self.run_ctl("user", "del", address)
            self.assertEqual(self.rcpt(address), 550)
            self.assertEqual(self.rcpt(address, kept), 550)
        kept.quit()

    def test_domain_and_alias_at_once(self):
        kept = self.smtp_session()
        for i in range(10):
            domain = "d%02d.test" % i
            self.assertEqual(self.rcpt("x@" + domain, kept), 554)  # not hosted: relay denied
            self.run_ctl("domain", "add", domain)
            self.assertEqual(self.rcpt("x@" + domain), 550)  # hosted now, no such user
            self.run_ctl("alias", "add", "@" + domain, "demo@example.test")
            self.assertEqual(self.rcpt("x@" + domain), 250)
            self.assertEqual(self.rcpt("x@" + domain, kept), 250)
            self.run_ctl("alias", "del", "@" + domain)
            self.assertEqual(self.rcpt("x@" + domain), 550)
            self.run_ctl("domain", "del", domain)
            self.assertEqual(self.rcpt("x@" + domain, kept), 554)
        for i in range(10):
            alias = "team%02d@example.test" % i
            self.run_ctl("alias", "add", alias, "demo@example.test")
            self.assertEqual(self.rcpt(alias, kept), 250)
            self.run_ctl("alias", "del", alias)
            self.assertEqual(self.rcpt(alias), 550)
        kept.quit()


class DeletedMidSession(ReloadBase):
    def test_pop3_session_ends_after_user_del(self):
        user = "popper@example.test"
        self.add_user(user, "pop pass")
        self.send(user, "one")
        self.wait_mail(user, 1)
        p = self.pop_login(user, "pop pass")
        self.assertIsNotNone(p)
        other = self.pop_login("demo@example.test", "x")  # no password: refused
        self.assertIsNone(other)
        self.assertEqual(p.stat()[0], 1)
        self.run_ctl("user", "del", user)
        with self.assertRaises(poplib.error_proto) as cm:
            p.stat()
        self.assertIn(b"no longer exists", cm.exception.args[0])
        # and the server hung up: nothing more is answered
        with self.assertRaises((poplib.error_proto, OSError, EOFError)):
            p.noop()
        p.close()
        self.assertIn("user=%s: the user was deleted" % user, self.inst.log())
        self.assertIsNone(self.pop_login(user, "pop pass"))

    def test_pop3_session_survives_other_changes(self):
        user = "stays@example.test"
        self.add_user(user, "stay pass")
        p = self.pop_login(user, "stay pass")
        self.assertIsNotNone(p)
        self.add_user("someone.else@example.test")
        self.run_ctl("user", "passwd", user, stdin="changed pass\n")
        self.assertEqual(p.stat()[0], 0)
        p.quit()

    def test_smtp_auth_session_ends_after_user_del(self):
        user = "submitter@example.test"
        self.add_user(user, "smtp pass")
        c = self.smtp_session()
        c.login(user, "smtp pass")
        self.assertEqual(c.noop()[0], 250)
        self.run_ctl("user", "del", user)
        code, text = c.docmd("MAIL", "FROM:<%s>" % user)
        self.assertEqual(code, 421, text)
        self.assertIn(b"no longer exists", text)
        c.close()


class HalfWritten(ReloadBase):
    def assert_still_answers(self, seconds, address):
        """RCPT address keeps getting 250 for the given time (the maps'
        once-a-second look at the files falls in it)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.assertEqual(self.rcpt(address), 250, self.inst.log()[-1500:])
            time.sleep(0.05)

    def test_db_cut_short_is_refused(self):
        for i in range(300):  # a database of several pages
            self.add_user("many%03d@example.test" % i)
        db = self.inst.path("mailboxes.db")
        with open(db, "rb") as f:
            data = f.read()
        self.assertGreaterEqual(len(data), 4 * 4096)
        cut = db + ".cut"
        with open(cut, "wb") as f:
            f.write(data[:2 * 4096])  # on a page boundary: BDB itself opens it
        os.rename(cut, db)
        # each process keeps the last version it opened: one it may have
        # opened before the 300 adds, so ask for a user of every version
        self.assert_still_answers(1.5, "demo@example.test")
        self.assertTrue(wait_for(lambda: "file cut short" in self.inst.log(), timeout=5),
                        self.inst.log()[-2000:])
        self.assertIn("still using the previous version", self.inst.log())
        self.run_ctl("map", "build", self.inst.path("mailboxes"))
        for _ in range(6):
            self.assertEqual(self.rcpt("many150@example.test"), 250)

    def test_text_map_with_broken_line_is_refused(self):
        self.assertEqual(self.rcpt("extra@example.test"), 250)
        self.inst.write("extra_aliases",
                        "extra@example.test demo@example.test\nthis-line-is-broken\n")
        self.assert_still_answers(1.5, "extra@example.test")
        self.run_ctl("user", "add", "bump@example.test")  # a change: looked at at once
        self.assertEqual(self.rcpt("extra@example.test"), 250)
        self.assertTrue(wait_for(lambda: "extra_aliases:2: expected 'key value'; still using "
                                 "the previous version" in self.inst.log(), timeout=5),
                        self.inst.log()[-2000:])
        self.inst.write("extra_aliases", "extra2@example.test demo@example.test\n")
        self.run_ctl("user", "add", "bump2@example.test")
        self.assertEqual(self.rcpt("extra2@example.test"), 250)
        self.assertEqual(self.rcpt("extra@example.test"), 550)

    def test_map_build_of_broken_text_keeps_the_db(self):
        with open(self.inst.path("mailboxes"), "a") as f:
            f.write("broken-entry-without-value\n")
        try:
            res = self.run_ctl("map", "build", self.inst.path("mailboxes"), code=1)
            self.assertIn("not built", res.stderr)
            self.assertEqual(self.rcpt("demo@example.test"), 250)
        finally:
            with open(self.inst.path("mailboxes")) as f:
                lines = f.readlines()
            self.inst.write("mailboxes", "".join(lines[:-1]))


class ReloadStorm(ReloadBase):
    def test_hundred_reloads_lose_nothing(self):
        user = "storm@example.test"
        pids = sorted(self.inst.processes())
        self.add_user(user)
        sent, errors, stop = [], [], threading.Event()

        def sender():
            n = 0
            while not stop.is_set():
                try:
                    self.send(user, "storm %d" % n)
                    sent.append(n)
                except (smtplib.SMTPException, OSError) as e:
                    # a refused connection would be a lost socket; none allowed
                    errors.append(repr(e))
                n += 1

        t = threading.Thread(target=sender)
        t.start()
        try:
            for _ in range(100):
                self.run_ctl("reload")
            for _ in range(100):  # and bare signals, faster than master can reload
                os.kill(self.inst.master_pid(), signal.SIGHUP)
            time.sleep(0.5)
        finally:
            stop.set()
            t.join(60)
        self.assertEqual(errors, [])
        self.assertGreater(len(sent), 0)
        for n in range(10):  # and after the storm
            self.send(user, "after %d" % n)
        self.wait_mail(user, len(sent) + 10)
        for p in (self.smtp, self.pop):
            with socket.create_connection(("127.0.0.1", p), timeout=5) as s:
                self.assertTrue(s.recv(100).startswith((b"220", b"+OK")))
        self.assertNotIn("bounce", self.inst.log().lower())
        # a child that is still starting when a SIGHUP comes is not killed by it
        self.assertNotIn("killed by signal", self.inst.log())
        # unchanged services are not restarted by a reload: every process
        # is still there (local may have started more on demand)
        self.assertLessEqual(set(pids), set(self.inst.processes()))


if __name__ == "__main__":
    unittest.main()
