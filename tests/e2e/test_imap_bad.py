#!/usr/bin/env python3
"""Bad input to imapd (issue 14, "Bad input"): malformed commands get BAD
with a reason and the session goes on; a literal over the limit is refused
before it is read; a 100 MB line is cut off; invalid sequence sets;
unknown folders ([NONEXISTENT] / [TRYCREATE] as RFC 5530 says); folder
names with ".." or "/"; expunged messages; a message file deleted while it
is fetched; another user's Maildir never reachable. After each, the server
still serves other sessions, no imapd died, and the other user's mail is
untouched."""
import os
import re
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (InstanceCase, b64, free_port, port_open, san_reports,  # noqa: E402
                     set_password, wait_for)
from imaptest import RawImap  # noqa: E402

DOMAIN = "example.test"
USERS = ("alice", "bob")
PASSWORDS = {"%s@%s" % (u, DOMAIN): "%s secret" % u for u in USERS}
LIMIT = 1024 * 1024  # message_size_limit: the APPENDLIMIT


class BadBase(InstanceCase):
    @classmethod
    def configure(cls):
        inst = cls.inst
        cls.port = free_port()
        inst.set_master_cf(["127.0.0.1:%d inet n - n - 1 imapd -o imapd_tls_auth_only=no"
                            % cls.port])
        inst.build_map("domains", "%s OK\n" % DOMAIN)
        inst.build_map("mailboxes", "".join("%s@%s %s/%s/\n" % (u, DOMAIN, DOMAIN, u)
                                            for u in USERS))
        for user, password in PASSWORDS.items():
            set_password(inst, user, password)
        inst.set_main("imapd_auth_failure_delay", "0")
        inst.set_main("imapd_error_limit", "1000")  # no slow-down within a test
        inst.set_main("message_size_limit", str(LIMIT))
        inst.start()
        if not wait_for(lambda: port_open(cls.port), 20):
            raise RuntimeError("imapd did not come up: %s" % inst.log())

    @classmethod
    def maildir(cls, user):
        base = cls.inst.ctl("config", "get", "virtual_mailbox_base").stdout.strip()
        return os.path.join(base, DOMAIN, user)

    def setUp(self):
        self.fill("alice", ["alice %d" % i for i in range(1, 4)])
        self.fill("bob", ["bob secret mail"])
        self.imapd_pids = self.pids()

    def tearDown(self):
        if not getattr(self, "known_crash", False):
            self.assert_serving()

    def pids(self):
        out = set()
        for pid in self.inst.processes():
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if b"imapd" in f.read().split(b"\0")[0]:
                        out.add(pid)
            except OSError:
                pass
        return out

    def assert_serving(self):
        """A new session works, no imapd died, bob's mail is untouched."""
        c = self.login("alice")
        _, tagged = c.cmd("NOOP")
        self.assertIn(" OK ", tagged)
        c.cmd("LOGOUT")
        self.assertNotIn("killed by signal", self.inst.log())
        self.assertNotIn("panic", self.inst.log())
        if self.imapd_pids:
            self.assertTrue(self.imapd_pids & self.pids(), "the imapd process was replaced")
        bob = self.maildir("bob")
        files = [n for d in ("new", "cur") for n in os.listdir(os.path.join(bob, d))]
        self.assertEqual(len(files), 1, files)

    def fill(self, user, subjects):
        """Empties user's INBOX (and side files) and stores the messages."""
        md = self.maildir(user)
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
            for name in os.listdir(os.path.join(md, sub)):
                os.unlink(os.path.join(md, sub, name))
        for name in os.listdir(md):
            if name.startswith("dovecot-") or name.startswith("postern-"):
                os.unlink(os.path.join(md, name))
        for i, subject in enumerate(subjects):
            with open(os.path.join(md, "cur", "%d.M%dP7.bad:2," % (1700000000 + i, i)),
                      "wb") as f:
                f.write(b"From: x@example.test\nSubject: %s\n\nbody of %s\n"
                        % (subject.encode(), subject.encode()))
        self.inst.give(md)

    def login(self, user="alice"):
        c = RawImap(self.port, timeout=15)
        self.addCleanup(c.close)
        _, tagged = c.cmd('LOGIN "%s@%s" "%s"' % (user, DOMAIN,
                                                  PASSWORDS["%s@%s" % (user, DOMAIN)]))
        self.assertIn(" OK ", tagged)
        return c

    def selected(self, user="alice"):
        c = self.login(user)
        _, tagged = c.cmd("SELECT INBOX")
        self.assertIn(" OK ", tagged)
        return c

    def assert_bad(self, tagged, tag):
        m = re.match(r"^%s BAD (\[[A-Z-]+\] )?(.+)$" % re.escape(tag), tagged)
        self.assertTrue(m, "expected BAD with a reason: %r" % tagged)
        self.assertGreater(len(m.group(2).strip()), 3, tagged)


class TestMalformed(BadBase):
    COMMANDS = [
        "SELECT",                       # missing argument
        "SELECT INBOX extra junk",      # too many
        "FETCH 1 (FLAGS",               # unclosed list
        "FETCH 1 (NOSUCHITEM)",
        "FETCH 1 BODY[4.TEXT.X]",
        "FETCH 1 BODY[]<10.x>",
        "STORE 1 +FLAGS (\\Bogus",
        "STORE 1 FROBFLAGS (\\Seen)",
        "STORE 1",
        "UID FROB 1",
        "UID",
        "SEARCH (",
        "SEARCH NOSUCHKEY",
        "SEARCH BEFORE 32-Foo-2020",
        "SEARCH OR SEEN",
        'COPY 1',
        'APPEND',
        'APPEND INBOX (\\Seen',
        'APPEND INBOX "not a date" {3}',
        'LIST ""',
        'STATUS INBOX',
        'STATUS INBOX (MESSAGES',
        'EXAMINE "unterminated',
        'CREATE {abc}',
        'RENAME onlyone',
        "NOOP \x01junk",
        "FETCH 1 (" + "(" * 100 + ")" * 100 + ")",
        "FETCH 1:2 FLAGS FLAGS FLAGS)",
    ]

    def test_each_gets_bad_and_session_goes_on(self):
        c = self.selected()
        for i, line in enumerate(self.COMMANDS):
            tag = "m%d" % i
            c.send("%s %s\r\n" % (tag, line))
            while True:
                tagged = c.line()
                if tagged.startswith("+"):  # a literal it wants first
                    c.send("abc\r\n")
                elif not tagged.startswith("* "):
                    break
            self.assert_bad(tagged, tag)
            _, tagged = c.cmd("NOOP", tag="n%d" % i)
            self.assertEqual(tagged, "n%d OK NOOP completed." % i, line)
        self.assertIn("command refused", self.inst.log())

    def test_untagged_and_empty_lines(self):
        c = self.login()
        c.send("\r\n* NOOP\r\n+ x\r\n \r\n")
        for _ in range(4):
            self.assertRegex(c.line(), r"^\* BAD .{4,}")
        _, tagged = c.cmd("NOOP")
        self.assertIn(" OK ", tagged)

    def test_eight_bit_and_nul(self):
        c = self.login()
        c.send(b"a1 SELECT \"INB\xc3\x96X\"\r\n")
        self.assertRegex(c.until("a1")[1], r"^a1 (BAD|NO) ")
        c.send(b"a2 SELECT {5}\r\n")
        self.assertTrue(c.line().startswith("+"))
        c.send(b"IN\x00OX\r\n")
        self.assertRegex(c.until("a2")[1], r"^a2 (BAD|NO) ")
        _, tagged = c.cmd("NOOP")
        self.assertIn(" OK ", tagged)


class TestLimits(BadBase):
    def test_literal_over_limit_refused_before_read(self):
        c = self.login()
        c.send("a1 APPEND INBOX (\\Seen) {%d}\r\n" % (LIMIT + 1))
        line = c.line()
        self.assertRegex(line, r"^a1 (NO|BAD) \[(TOOBIG|LIMIT)\] ")  # and no "+"
        _, tagged = c.cmd("NOOP")
        self.assertIn(" OK ", tagged)
        # a non-synchronizing one: its bytes come anyway and are skipped,
        # never run as commands nor stored
        body = (b"a9 DELETE INBOX\r\n" * (LIMIT // 16 + 10))[:LIMIT + 100]
        c.send(b"a2 APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\na3 NOOP\r\n")
        tagged = c.until("a2")[1]
        self.assertRegex(tagged, r"^a2 (NO|BAD) \[(TOOBIG|LIMIT)\] ")
        self.assertEqual(c.until("a3")[1], "a3 OK NOOP completed.")
        self.assertEqual(len(os.listdir(os.path.join(self.maildir("alice"), "cur"))), 3)

    def test_hundred_megabyte_line_cut_off(self):
        c = self.login()
        other = self.login("bob")
        c.send(b"a1 SELECT ")
        chunk = b"y" * (1024 * 1024)
        sent = 0
        try:
            while sent < 100:
                c.send(chunk)
                sent += 1
        except OSError:
            pass
        self.assertLess(sent, 100)  # closed before all of it was read
        self.assertTrue(wait_for(lambda: "flood of a broken command" in self.inst.log()))
        # the other session, in the same process, was served all along
        _, tagged = other.cmd("NOOP")
        self.assertIn(" OK ", tagged)

    def test_huge_nonsync_literal_cut_off(self):
        # a {n+} of 200 MB: its bytes would come whatever the answer, and
        # skipping them all is too much: BYE and close, not 200 MB read
        c = self.login()
        other = self.login("bob")
        c.send(b"a1 APPEND INBOX {200000000+}\r\n")
        chunk = b"z" * (1024 * 1024)
        sent = 0
        try:
            while sent < 200:
                c.send(chunk)
                sent += 1
        except OSError:
            pass
        self.assertLess(sent, 200)
        lines = []
        try:
            while True:
                ln = c.line()
                if not ln:
                    break
                lines.append(ln)
        except OSError:
            pass
        self.assertTrue(all(ln.startswith(("* BYE", "a1 BAD", "a1 NO")) for ln in lines), lines)
        _, tagged = other.cmd("NOOP")
        self.assertIn(" OK ", tagged)
        self.assertEqual(len(os.listdir(os.path.join(self.maildir("alice"), "cur"))), 3)
        self.assertEqual(os.listdir(os.path.join(self.maildir("alice"), "tmp")), [])

    def test_deep_nesting_and_many_arguments(self):
        c = self.selected()
        c.send("a1 SEARCH " + "(" * 200 + "ALL" + ")" * 200 + "\r\n")
        self.assert_bad(c.until("a1")[1], "a1")
        c.send("a2 SEARCH " + " ".join(["OR SEEN"] * 3000) + " ALL\r\n")
        self.assertRegex(c.until("a2")[1], r"^a2 (BAD|NO|OK) ")
        c.send("a3 FETCH " + ",".join(str(i) for i in range(1, 40000)) + " FLAGS\r\n")
        self.assertRegex(c.until("a3")[1], r"^a3 (BAD|NO|OK) ")
        _, tagged = c.cmd("NOOP")
        self.assertIn(" OK ", tagged)


class TestSequenceSets(BadBase):
    def test_invalid_sets(self):
        c = self.selected()
        for bad in ("0", "0:2", "1:x", "x", "1,,2", ",1", "1:", ":3", "-1", "1.5",
                    "4294967296", "99999999999999999999", "1:*:2", "$$"):
            for cmd in ("FETCH %s FLAGS", "STORE %s +FLAGS (\\Seen)", "COPY %s INBOX",
                        "UID FETCH %s FLAGS", "SEARCH %s"):
                untagged, tagged = c.cmd(cmd % bad)
                self.assertRegex(tagged, r"^t\d+ (BAD|NO) .{4,}", cmd % bad)
                self.assertFalse([u for u in untagged if "FETCH" in u], (cmd % bad, untagged))
        # out of range: a message number past the last is an error (no
        # data, nothing changed); a UID past the last just matches nothing
        untagged, tagged = c.cmd("FETCH 99 FLAGS")
        self.assertRegex(tagged, r"^t\d+ (BAD|NO) ")
        self.assertEqual(untagged, [])
        untagged, tagged = c.cmd("STORE 2:99 +FLAGS (\\Deleted)")
        self.assertRegex(tagged, r"^t\d+ (BAD|NO) ")
        untagged, tagged = c.cmd("UID FETCH 99:200 FLAGS")
        self.assertIn(" OK ", tagged)
        self.assertEqual(untagged, [])
        untagged, tagged = c.cmd("FETCH 1:* FLAGS")
        self.assertEqual(len([u for u in untagged if "FETCH" in u]), 3)
        self.assertFalse([u for u in untagged if "Deleted" in u], untagged)

    def test_sets_before_select(self):
        c = self.login()
        for cmd in ("FETCH 1 FLAGS", "STORE 1 +FLAGS (\\Seen)", "UID FETCH 1 FLAGS",
                    "SEARCH ALL", "EXPUNGE", "COPY 1 INBOX"):
            self.assert_bad(c.cmd(cmd)[1], "t%d" % c.n)


class TestFolders(BadBase):
    def test_unknown_folders(self):
        c = self.selected()
        expect = [
            ("SELECT Nowhere", "NONEXISTENT"),
            ("EXAMINE Nowhere", "NONEXISTENT"),
            ("STATUS Nowhere (MESSAGES)", "NONEXISTENT"),
            ("DELETE Nowhere", "NONEXISTENT"),
            ("RENAME Nowhere Elsewhere", "NONEXISTENT"),
            ("COPY 1 Nowhere", "TRYCREATE"),
            ("MOVE 1 Nowhere", "TRYCREATE"),
            ("UID COPY 1 Nowhere", "TRYCREATE"),
        ]
        c.cmd("SELECT INBOX")
        for cmd, code in expect:
            _, tagged = c.cmd(cmd)
            self.assertRegex(tagged, r"^t\d+ NO \[%s\] .{4,}" % code, cmd)
            if cmd.startswith(("SELECT", "EXAMINE")):
                c.cmd("SELECT INBOX")
        # APPEND to a missing folder: NO [TRYCREATE] before the literal
        c.send("a1 APPEND Nowhere {5}\r\n")
        self.assertRegex(c.line(), r"^a1 NO \[TRYCREATE\] ")
        _, tagged = c.cmd("NOOP")
        self.assertIn(" OK ", tagged)
        self.assertFalse(os.path.exists(os.path.join(self.maildir("alice"), ".Nowhere")))
        # all messages still there
        untagged, _ = c.cmd("SELECT INBOX")
        self.assertIn("* 3 EXISTS", untagged)

    NAMES = ['"../bob"', '"..\\\\bob"', '"a/b"', '"/etc"', '".."', '"."', '"INBOX/../bob"',
             '"INBOX..bob"', '"Trash/../../bob"', '"%2e%2e"', '"a..b"', '".x"',
             '"../../example.test/bob"', '"&AC8-etc"', '"&AC4ALg-"']

    def test_names_that_would_escape(self):
        c = self.selected()
        top = os.path.dirname(self.maildir("alice"))
        before = sorted(os.listdir(top))
        before_md = sorted(os.listdir(self.maildir("alice")))
        for name in self.NAMES:
            for cmd in ("CREATE %s", "SELECT %s", "EXAMINE %s", "STATUS %s (MESSAGES)",
                        "DELETE %s", "RENAME INBOX %s", "SUBSCRIBE %s", "COPY 1 %s",
                        "MOVE 1 %s"):
                untagged, tagged = c.cmd(cmd % name)
                self.assertRegex(tagged, r"^t\d+ (NO|BAD) ", cmd % name)
                self.assertFalse([u for u in untagged if "bob" in u and "EXISTS" in u])
                if cmd.startswith(("SELECT", "EXAMINE")):
                    c.cmd("SELECT INBOX")
            c.send("a1 APPEND %s {5}\r\n" % name)
            line = c.line()
            if line.startswith("+"):  # refused after the literal: allowed too
                c.send("hello\r\n")
                line = c.until("a1")[1]
            self.assertRegex(line, r"^a1 (NO|BAD) ", name)
            c.send("a2 APPEND %s {5+}\r\nhello\r\n" % name)
            self.assertRegex(c.until("a2")[1], r"^a2 (NO|BAD) ", name)
        self.assertEqual(sorted(os.listdir(top)), before)
        self.assertEqual(sorted(os.listdir(self.maildir("alice"))), before_md)
        untagged, _ = c.cmd('LIST "" "*"')
        self.assertFalse([u for u in untagged if "bob" in u], untagged)
        untagged, _ = c.cmd('LIST "../" "*"')
        self.assertFalse([u for u in untagged if "bob" in u], untagged)
        untagged, _ = c.cmd('LIST "/" "%"')
        self.assertFalse([u for u in untagged if "bob" in u or "etc" in u], untagged)

    def test_selected_folder_deleted_by_another_session(self):
        # the session whose folder went away says BYE (as Dovecot does):
        # during IDLE at once, else at its next command; never stale data
        for idle in (True, False):
            a, b = self.login(), self.login()
            self.assertIn(" OK ", b.cmd("CREATE Doomed")[1])
            b.send("x1 APPEND Doomed {21}\r\n")
            self.assertTrue(b.line().startswith("+"))
            b.send("Subject: w\r\n\r\nbody\r\n\r\n")
            self.assertIn(" OK ", b.until("x1")[1])
            self.assertIn(" OK ", a.cmd("SELECT Doomed")[1])
            if idle:
                a.send("i1 IDLE\r\n")
                self.assertEqual(a.line(), "+ idling")
            self.assertIn(" OK ", b.cmd("DELETE Doomed")[1])
            if idle:
                self.assertEqual(a.line(), "* BYE The selected folder was deleted.")
            else:
                untagged, _ = a.cmd("NOOP")
                self.assertEqual(untagged, ["* BYE The selected folder was deleted."])
            self.assertEqual(a.line(), "")  # closed
            self.assertIn("was deleted under the session", self.inst.log())

    def test_other_users_mailbox(self):
        c = self.login()
        # authorization identity of another user with alice's password
        other = RawImap(self.port)
        self.addCleanup(other.close)
        _, tagged = other.cmd(
            "AUTHENTICATE PLAIN " + b64("bob@%s\0alice@%s\0alice secret" % (DOMAIN, DOMAIN)))
        self.assertRegex(tagged, r"^t1 NO ")
        for name in ('"#shared/bob"', '"#user/bob"', '"~bob/INBOX"', '"bob@example.test"',
                     '"Other Users.bob"', '"#public"'):
            untagged, tagged = c.cmd("SELECT %s" % name)
            self.assertRegex(tagged, r"^t\d+ (NO|BAD) ", name)
            self.assertFalse([u for u in untagged if "EXISTS" in u], untagged)
        untagged, _ = c.cmd('LIST "" "*"')
        self.assertFalse([u for u in untagged if "bob" in u.lower()], untagged)
        untagged, _ = c.cmd("NAMESPACE")
        self.assertEqual(untagged, ['* NAMESPACE (("" ".")) NIL NIL'])


class TestExpunged(BadBase):
    def test_fetch_store_copy_of_expunged(self):
        a = self.selected()
        b = self.selected()
        untagged, tagged = b.cmd("UID FETCH 2 (UID)")
        self.assertIn("* 2 FETCH (UID 2)", untagged)
        b.cmd("UID STORE 2 +FLAGS.SILENT (\\Deleted)")
        _, tagged = b.cmd("EXPUNGE")
        self.assertIn(" OK ", tagged)
        # a still shows message 2 until it may hear of the expunge: its
        # FETCH gives no data of another message, and never message 3's
        untagged, tagged = a.cmd("FETCH 2 (UID ENVELOPE)")
        self.assertRegex(tagged, r"^t\d+ (OK|NO) ")
        self.assertFalse([u for u in untagged if "alice 3" in u or "UID 3" in u], untagged)
        untagged, tagged = a.cmd("STORE 2 +FLAGS (\\Flagged)")
        self.assertRegex(tagged, r"^t\d+ (OK|NO) ")
        self.assertFalse([u for u in untagged if "UID 3" in u], untagged)
        untagged, tagged = a.cmd("COPY 2 INBOX")
        self.assertRegex(tagged, r"^t\d+ (OK|NO) ")
        # UID commands on the gone UID: nothing
        untagged, tagged = a.cmd("UID FETCH 2 (FLAGS)")
        self.assertRegex(tagged, r"^t\d+ (OK|NO) ")  # NO: RFC 2180 4.1.3
        self.assertFalse([u for u in untagged if "UID 3" in u])
        untagged, tagged = a.cmd("NOOP")
        self.assertIn("* 2 EXPUNGE", untagged)
        untagged, _ = a.cmd("FETCH 1:* (UID)")
        self.assertEqual([u for u in untagged if "FETCH" in u],
                         ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)"])
        # the third message never got \Flagged meant for the second
        untagged, _ = a.cmd("FETCH 2 (FLAGS)")
        self.assertNotIn("Flagged", " ".join(untagged))

    def test_file_deleted_before_fetch(self):
        c = self.selected()
        cur = os.path.join(self.maildir("alice"), "cur")
        victim = sorted(os.listdir(cur))[0]
        os.unlink(os.path.join(cur, victim))
        untagged, tagged = c.cmd("FETCH 1 (BODY.PEEK[])")
        self.assertRegex(tagged, r"^t\d+ (OK|NO) ")
        self.assertFalse([u for u in untagged if "alice 2" in u or "alice 3" in u], untagged)
        untagged, tagged = c.cmd("FETCH 2 (ENVELOPE)")
        self.assertIn(" OK ", tagged)
        self.assertTrue([u for u in untagged if "alice 2" in u], untagged)
        untagged, tagged = c.cmd("NOOP")
        self.assertIn("* 1 EXPUNGE", untagged)

    def test_file_deleted_while_fetched(self):
        md = self.maildir("alice")
        cur = os.path.join(md, "cur")
        big = b"From: x@example.test\nSubject: big\n\n" + \
            b"".join(b"line %07d of a big message\n" % i for i in range(400000))
        name = "1700009999.M1P7.big:2,"
        with open(os.path.join(cur, name), "wb") as f:
            f.write(big)
        self.inst.give(os.path.join(cur, name))
        c = RawImap(self.port, timeout=30)
        self.addCleanup(c.close)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        c.cmd('LOGIN "alice@%s" "alice secret"' % DOMAIN)
        c.cmd("SELECT INBOX")
        c.send("f1 FETCH 4 (BODY.PEEK[])\r\n")
        head = c.file.readline()
        m = re.match(rb"^\* 4 FETCH \(BODY\[\] \{(\d+)\}\r\n$", head)
        self.assertTrue(m, head)
        size = int(m.group(1))
        self.assertEqual(size, len(big.replace(b"\n", b"\r\n")))
        first = c.file.read(4096)
        os.unlink(os.path.join(cur, name))  # while the rest is in flight
        rest = c.file.read(size - 4096)
        data = first + rest
        # whatever was sent is the message's own bytes, and the literal is
        # as long as announced (or the connection was closed)
        self.assertEqual(data, big.replace(b"\n", b"\r\n")[:len(data)])
        if len(data) == size:
            self.assertEqual(c.file.readline(), b")\r\n")
            self.assertRegex(c.line(), r"^f1 (OK|NO) ")
            _, tagged = c.cmd("NOOP")
            self.assertIn(" OK ", tagged)


class TestTruncated(BadBase):
    """Its own instance: the crash it finds must not spoil other tests."""

    @classmethod
    def tearDownClass(cls):
        # under --enable-sanitizers the known SIGBUS leaves a report; any
        # other report still fails
        text = san_reports()
        stray = [r for r in text.split("== ")[1:] if "BUS" not in r]
        super().tearDownClass()
        if stray:
            raise AssertionError("sanitizer reports:\n" + "".join(stray))

    # imapd/msgsource.c mmaps a big message under lib/mapguard: a file cut
    # short under it reads as zeros, and the session ends without a tagged
    # reply; the process and its other sessions live on.
    def test_file_truncated_while_fetched(self):
        self.known_crash = True  # tearDown cannot check after the crash
        cur = os.path.join(self.maildir("alice"), "cur")
        big = b"From: x@example.test\nSubject: big\n\n" + \
            b"".join(b"line %07d of a big message\n" % i for i in range(400000))
        name = "1700009998.M1P7.big:2,"
        with open(os.path.join(cur, name), "wb") as f:
            f.write(big)
        self.inst.give(os.path.join(cur, name))
        other = self.login("bob")  # a session of another user, same process
        c = RawImap(self.port, timeout=30)
        self.addCleanup(c.close)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        c.cmd('LOGIN "alice@%s" "alice secret"' % DOMAIN)
        c.cmd("SELECT INBOX")
        c.send("f1 FETCH 4 (BODY.PEEK[])\r\n")
        head = c.file.readline()
        size = int(re.match(rb"^\* 4 FETCH \(BODY\[\] \{(\d+)\}", head).group(1))
        first = c.file.read(4096)
        os.truncate(os.path.join(cur, name), 1000)
        data = first + c.file.read(size - 4096)
        # whatever came is the message's own bytes (or NULs of the hole,
        # never another message's); the literal ends or the session closes
        sent = data.rstrip(b"\0")
        self.assertEqual(sent, big.replace(b"\n", b"\r\n")[:len(sent)])
        # the FETCH is not reported done: the session ends without f1 OK
        rest = c.file.read()
        self.assertNotIn(b"f1 OK", rest)
        self.assertTrue(self.inst.wait_log("was cut short while it was sent"))
        _, tagged = other.cmd("NOOP")  # bob's session lives on
        self.assertIn(" OK ", tagged)
        self.known_crash = False
        self.assert_serving()


if __name__ == "__main__":
    unittest.main()
