#!/usr/bin/env python3
"""End-to-end tests of the password commands of mailctl: `user passwd`
from stdin and from a terminal (a pty: echo off, asked twice), the
password never on the command line or in /proc/PID/cmdline, never in the
map in clear, the passwd file and its .db at mode 0600, `user add
--password-stdin`, `--cram` (the CRAM-MD5 secret), `user import` of a
Dovecot passwd-file with good and bad lines (FILE:line reports), and
`user del` / `domain del --force`
removing the password entry. Hashes are checked with Python's crypt
module when it exists (Debian 12's Python 3.11 has it)."""
import os
import pty
import select
import stat
import subprocess
import sys
import time
import unittest
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import MAILCTL, Instance, wait_for  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import crypt  # deprecated in 3.11, gone in 3.13
    except ImportError:
        crypt = None

DOVECOT_SHA512 = ("{SHA512-CRYPT}$6$6kOdMMCbVTPafYgw$fJvFnFq28h3Vfbs2MnHnSscmwNjNOXjfzqQOKIA"
                  "rAXnC5hvyo/Mfcq6ZvbKttJayzNd/ryz1RMTwhiCpepdN9/")
DOVECOT_BLF = "{BLF-CRYPT}$2y$05$l9sKAMzQtgKOe4lRt3fO0uEIsItEKFEhaAnyiVuFpFl/YvsqS/WSe"
# doveadm pw -s CRAM-MD5 -p tanstaaftanstaaf
DOVECOT_CRAM = "d06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b"


def read(path):
    with open(path) as f:
        return f.read()


class PasswdBase(unittest.TestCase):
    def setUp(self):
        self.inst = Instance()
        self.addCleanup(self.inst.cleanup)
        self.etc = self.inst.config_dir
        self.passwd = self.inst.path("passwd")

    def run_ctl(self, *args, stdin=""):
        return subprocess.run([MAILCTL, "-c", self.etc] + list(args), input=stdin,
                              capture_output=True, text=True, timeout=60)

    def ok(self, *args, stdin=""):
        res = self.run_ctl(*args, stdin=stdin)
        self.assertEqual(res.returncode, 0, "%s: %s%s" % (args, res.stdout, res.stderr))
        return res

    def entry(self, address):
        """The value of address in the built passwd.db, or None."""
        res = self.inst.ctl("map", "get", "hash:" + self.passwd, address)
        return res.stdout.strip() if res.returncode == 0 else None

    def assert_matches(self, entry, password):
        field = entry.split()[0]
        self.assertTrue(field.startswith("{"), entry)
        if crypt is None:
            return
        hashed = field[field.index("}") + 1:]
        self.assertEqual(crypt.crypt(password, hashed), hashed)
        self.assertNotEqual(crypt.crypt(password + "x", hashed), hashed)

    def assert_private(self):
        for path in (self.passwd, self.passwd + ".db"):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            self.assertEqual(mode, 0o600, "%s has mode %o" % (path, mode))


class PasswdStdin(PasswdBase):
    def test_passwd_from_stdin(self):
        self.ok("user", "add", "alice@example.test")
        self.assertFalse(os.path.exists(self.passwd))  # add alone sets none
        res = self.ok("user", "passwd", "Alice@Example.TEST", stdin="correct horse\n")
        self.assertIn("password of alice@example.test set", res.stdout)
        entry = self.entry("alice@example.test")
        self.assertTrue(entry.startswith("{SHA512-CRYPT}$6$"), entry)
        self.assertIn(" scram-sha-256=4096:", entry)
        self.assert_matches(entry, "correct horse")
        self.assert_private()
        for text in (read(self.passwd), self.inst.log(), res.stdout + res.stderr):
            self.assertNotIn("correct horse", text)
        # Changing it replaces the entry; CR LF line ends are fine.
        self.ok("user", "passwd", "alice@example.test", "--scheme", "BLF-CRYPT",
                stdin="battery staple\r\n")
        entry = self.entry("alice@example.test")
        self.assertTrue(entry.startswith("{BLF-CRYPT}$2y$05$"), entry)
        self.assert_matches(entry, "battery staple")
        self.assertEqual(read(self.passwd).count("alice@example.test"), 1)
        self.ok("user", "passwd", "alice@example.test", "--scheme", "yescrypt",
                stdin="last one")  # no final newline
        self.assert_matches(self.entry("alice@example.test"), "last one")
        self.assert_private()

    def test_refusals(self):
        self.ok("user", "add", "alice@example.test")
        cases = [
            (("user", "passwd", "bob@example.test"), "pw\n", 1, "does not exist"),
            (("user", "passwd", "alice@example.test"), "", 1, "no password"),
            (("user", "passwd", "alice@example.test"), "\n", 1, "no password"),
            (("user", "passwd", "alice@example.test"), "x" * 2000 + "\n", 1, "longer"),
            (("user", "passwd", "alice@example.test", "--scheme", "PLAIN"), "pw\n", 1,
             "cannot hash"),
            (("user", "passwd", "alice@example.test", "secret"), "pw\n", 2, "usage"),
            (("user", "passwd", "alice@example.test", "--password", "secret"), "pw\n", 2,
             "unknown option"),
            (("user", "add", "carol@example.test", "--scheme", "BLF-CRYPT"), "", 2, "usage"),
            (("user", "passwd", "not an address"), "pw\n", 1, "not a valid address"),
        ]
        for args, stdin, code, says in cases:
            res = self.run_ctl(*args, stdin=stdin)
            self.assertEqual(res.returncode, code, "%s: %s" % (args, res.stderr))
            self.assertIn(says, res.stderr, args)
        self.assertIsNone(self.entry("alice@example.test"))
        self.assertNotIn("secret", read(self.passwd) if os.path.exists(self.passwd) else "")

    def test_cram_option(self):
        self.ok("user", "add", "tim@example.test", "--password-stdin", "--cram",
                stdin="tanstaaftanstaaf\n")
        entry = self.entry("tim@example.test")
        self.assertTrue(entry.startswith("{SHA512-CRYPT}$6$"), entry)
        self.assertIn(" scram-sha-256=4096:", entry)
        self.assertTrue(entry.endswith(" cram-md5=" + DOVECOT_CRAM), entry)
        self.assert_matches(entry, "tanstaaftanstaaf")
        self.assert_private()
        # a new password without --cram drops the old secret; with it, it is new
        self.ok("user", "passwd", "tim@example.test", stdin="other\n")
        self.assertNotIn("cram-md5=", self.entry("tim@example.test"))
        self.ok("user", "passwd", "tim@example.test", "--cram", stdin="tanstaaftanstaaf\n")
        self.assertIn(" cram-md5=" + DOVECOT_CRAM, self.entry("tim@example.test"))
        for args in (("user", "add", "bob@example.test", "--cram"),
                     ("user", "list", "--cram"), ("domain", "list", "--cram")):
            res = self.run_ctl(*args)
            self.assertEqual(res.returncode, 2, args)
        # an imported {CRAM-MD5} entry is kept as it is
        path = self.inst.path("dovecot.passwd")
        with open(path, "w") as f:
            f.write("ann@example.test:{CRAM-MD5}%s::::::\n" % DOVECOT_CRAM.upper())
        self.ok("user", "import", path)
        self.assertEqual(self.entry("ann@example.test"), "{CRAM-MD5}" + DOVECOT_CRAM.upper())

    def test_not_in_argv(self):
        """While mailctl waits for the password, its command line (what ps
        shows) holds no password, and the password given later is used."""
        self.ok("user", "add", "alice@example.test")
        proc = subprocess.Popen([MAILCTL, "-c", self.etc, "user", "passwd",
                                 "alice@example.test"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            def cmdline():
                with open("/proc/%d/cmdline" % proc.pid, "rb") as f:
                    return f.read().split(b"\0")
            args = wait_for(lambda: b"passwd" in cmdline() and cmdline())
            self.assertEqual([a for a in args if a][-3:],
                             [b"user", b"passwd", b"alice@example.test"])
            out, err = proc.communicate(b"hunter2 and more\n", timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, err)
        self.assert_matches(self.entry("alice@example.test"), "hunter2 and more")

    def test_add_with_password(self):
        res = self.ok("user", "add", "bob@example.test", "--quota", "5m", "--password-stdin",
                      stdin="s3cret\n")
        self.assertIn("user bob@example.test added", res.stdout)
        self.assert_matches(self.entry("bob@example.test"), "s3cret")
        self.assertTrue(os.path.isdir(self.inst.path("mail", "example.test", "bob", "new")))
        # No password, no user: the mailbox is not created.
        res = self.run_ctl("user", "add", "carol@example.test", "--password-stdin", stdin="")
        self.assertEqual(res.returncode, 1)
        self.assertFalse(os.path.exists(self.inst.path("mail", "example.test", "carol")))
        # An existing user is refused and keeps its password.
        res = self.run_ctl("user", "add", "bob@example.test", "--password-stdin",
                           stdin="other\n")
        self.assertEqual(res.returncode, 1)
        self.assert_matches(self.entry("bob@example.test"), "s3cret")

    def test_del_removes_password(self):
        for user in ("alice", "bob"):
            self.ok("user", "add", user + "@example.test", "--password-stdin", stdin="pw\n")
        res = self.ok("user", "del", "alice@example.test")
        self.assertIn("password of alice@example.test removed", res.stdout)
        self.assertIsNone(self.entry("alice@example.test"))
        self.assertNotIn("alice@", read(self.passwd))
        self.assertIsNotNone(self.entry("bob@example.test"))
        self.assert_private()
        # A user without a password is removed without complaint.
        self.ok("user", "add", "carol@example.test")
        self.ok("user", "del", "carol@example.test")
        # domain del --force takes the passwords of the domain with it.
        self.ok("domain", "add", "other.test")
        self.ok("user", "add", "dave@other.test", "--password-stdin", stdin="pw\n")
        self.ok("domain", "del", "other.test", "--force")
        self.assertIsNone(self.entry("dave@other.test"))
        self.assertIsNotNone(self.entry("bob@example.test"))

    def test_world_readable_file_made_private(self):
        self.ok("user", "add", "alice@example.test")
        with open(self.passwd, "w") as f:
            f.write("# passwords\n")
        os.chmod(self.passwd, 0o644)
        res = self.ok("user", "passwd", "alice@example.test", stdin="pw\n")
        self.assertIn("readable by others", res.stderr)
        self.assert_private()
        self.assertTrue(read(self.passwd).startswith("# passwords\n"))


class PasswdTerminal(PasswdBase):
    def run_pty(self, *args, answers):
        """Runs mailctl with a terminal as stdin and stderr; types each
        answer after a prompt. Returns (exit status, terminal output)."""
        master, slave = pty.openpty()
        proc = subprocess.Popen([MAILCTL, "-c", self.etc] + list(args), stdin=slave,
                                stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        seen = b""
        pending = list(answers)
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.2)
                if ready:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    seen += chunk
                    if pending and seen.rstrip().endswith(b":"):
                        time.sleep(0.1)  # let it turn echo off first
                        os.write(master, pending.pop(0).encode() + b"\n")
                        seen += b"<typed>"
                elif proc.poll() is not None:
                    break
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(master)
        return proc.returncode, seen.decode("utf-8", "replace")

    def test_prompt_twice_echo_off(self):
        self.ok("user", "add", "alice@example.test")
        code, out = self.run_pty("user", "passwd", "alice@example.test",
                                 answers=["tty secret", "tty secret"])
        self.assertEqual(code, 0, out)
        self.assertIn("New password for alice@example.test:", out)
        self.assertIn("Retype", out)
        self.assertNotIn("tty secret", out)  # not echoed
        self.assert_matches(self.entry("alice@example.test"), "tty secret")

    def test_prompt_mismatch(self):
        self.ok("user", "add", "alice@example.test")
        code, out = self.run_pty("user", "passwd", "alice@example.test",
                                 answers=["one", "two"])
        self.assertEqual(code, 1, out)
        self.assertIn("do not match", out)
        self.assertIsNone(self.entry("alice@example.test"))


class Import(PasswdBase):
    def test_import_passwd_file(self):
        self.ok("user", "add", "alice@example.test")
        path = os.path.join(self.inst.dir, "dovecot.passwd")
        with open(path, "w") as f:
            f.write("# exported from dovecot\n"
                    "\n"
                    "carol@example.test:%s:5000:5000::/home/vmail/carol::"
                    "userdb_quota_rule=*:storage=1G\n"
                    "Dave@Example.test:%s\n"
                    "erin@example.test:{PLAIN}plain pw:::\n"
                    "frank@other.test:%s:::\n"
                    "george:%s:::\n"
                    "helen@example.test:{SSHA512}c2FsdHlzYWx0:::\n"
                    "garbage line\n"
                    "alice@example.test:%s\n"
                    "ivan@example.test::::\n"
                    "bad address@example.test:%s\n"
                    % (DOVECOT_SHA512, DOVECOT_BLF, DOVECOT_SHA512, DOVECOT_SHA512,
                       DOVECOT_BLF, DOVECOT_SHA512))
        res = self.run_ctl("user", "import", path)
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        for line, why in ((6, "not hosted"), (7, "no domain"), (8, "not importable"),
                          (9, "not a passwd-file line"), (12, "bad address")):
            self.assertIn("%s:%d: skipped: " % (path, line), res.stderr)
            msg = [m for m in res.stderr.splitlines()
                   if m.startswith("%s:%d: skipped" % (path, line))][0]
            self.assertIn(why, msg)
        self.assertIn("4 users added, 1 updated, 5 lines skipped", res.stdout)
        # Hashes are stored exactly as Dovecot wrote them.
        self.assertEqual(self.entry("carol@example.test"), DOVECOT_SHA512)
        self.assertEqual(self.entry("dave@example.test"), DOVECOT_BLF)
        self.assertEqual(self.entry("alice@example.test"), DOVECOT_BLF)
        self.assert_matches(self.entry("carol@example.test"), "pencil")
        # A plain-text password is hashed on the way in.
        erin = self.entry("erin@example.test")
        self.assertTrue(erin.startswith("{SHA512-CRYPT}$6$"), erin)
        self.assert_matches(erin, "plain pw")
        self.assertNotIn("plain pw", read(self.passwd))
        # Mailboxes for the new users, the quota from the extra field.
        users = self.ok("user", "list").stdout.split("\n")
        for user in ("carol@example.test quota=1g", "dave@example.test",
                     "erin@example.test", "ivan@example.test"):
            self.assertIn(user, users)
        for user in ("carol", "dave", "erin", "ivan"):
            self.assertTrue(os.path.isdir(self.inst.path("mail", "example.test", user, "cur")))
        self.assertIsNone(self.entry("ivan@example.test"))
        self.assertIsNone(self.entry("frank@other.test"))
        self.assertIsNone(self.entry("helen@example.test"))
        self.assert_private()

    def test_import_clean_file_and_missing_file(self):
        path = os.path.join(self.inst.dir, "ok.passwd")
        with open(path, "w") as f:
            f.write("carol@example.test:%s\r\n" % DOVECOT_SHA512)
        res = self.ok("user", "import", path)
        self.assertIn("1 user added, 0 updated, 0 lines skipped", res.stdout)
        res = self.ok("user", "import", path)  # again: an update, no error
        self.assertIn("0 users added, 1 updated", res.stdout)
        res = self.run_ctl("user", "import", path + ".nope")
        self.assertEqual(res.returncode, 1)
        self.assertIn("cannot open", res.stderr)


if __name__ == "__main__":
    unittest.main()
