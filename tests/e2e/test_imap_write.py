#!/usr/bin/env python3
"""End-to-end tests of imapd's writing commands with Python's imaplib and
a raw client: APPEND with flags and a date (the Maildir file's name, line
ends and mtime checked), [APPENDUID], [TRYCREATE], a literal over the
APPENDLIMIT refused without "+", [OVERQUOTA] before "+", LITERAL+, EXISTS
for an APPEND to the selected folder, a full disk during APPEND (a small
tmpfs: NO and nothing left behind), a client gone mid-literal; COPY, UID COPY, MOVE, UID MOVE with
[COPYUID] checked against the target folder's dovecot-uidlist, MOVE seen
by a second session as EXPUNGE, MOVE into the same folder, UID EXPUNGE
leaving other \\Deleted messages; GETQUOTAROOT / GETQUOTA against
maildirsize, SETQUOTA refused; a folder with a non-ASCII name."""
import imaplib
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (InstanceCase, free_port, port_open, set_password,  # noqa: E402
                     wait_for)
from imaptest import RawImap  # noqa: E402

DOMAINS = "example.test OK\n"
USERS = ("alice", "bob", "carol", "dave", "erin")
PASSWORD = "secret pw"
LIMIT = 200000          # message_size_limit: the APPENDLIMIT
CAROL_QUOTA = 20000     # bytes
DATE = "17-Jul-1996 02:44:25 -0700"
DATE_EPOCH = 837596665  # the same instant
ENTWUERFE = "Entw&APw-rfe"  # "Entwürfe" in modified UTF-7


def message(subject, body="Hello.\r\n", size=0):
    text = ("From: a@example.test\r\nTo: b@example.test\r\nSubject: %s\r\n\r\n%s"
            % (subject, body))
    if size > len(text):
        line = "x" * 70 + "\r\n"
        text += line * ((size - len(text)) // len(line) + 1)
    return text.encode()


def code(resp_line, name):
    """The arguments of response code [NAME ...] in a reply line, or None."""
    m = re.search(r"\[%s ?([^\]]*)\]" % name, resp_line)
    return m.group(1) if m else None


def uid_set(text):
    """The UIDs of a UID set "1:3,7"."""
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


class WriteBase(InstanceCase):
    """imapd on a plain port that allows cleartext logins; carol has a
    quota, erin's Maildir is where a test may mount a tmpfs."""

    @classmethod
    def configure(cls):
        inst = cls.inst
        cls.port = free_port()
        inst.set_master_cf(["127.0.0.1:%d inet n - n - 2 imapd -o imapd_tls_auth_only=no"
                            % cls.port])
        cls.erin_dir = inst.path("erin-store")
        os.mkdir(cls.erin_dir)
        inst.give(cls.erin_dir)
        mailboxes = "".join("%s@example.test example.test/%s/\n" % (u, u) for u in USERS
                            if u != "erin")
        mailboxes += "erin@example.test %s/Maildir/\n" % cls.erin_dir
        inst.build_map("domains", DOMAINS)
        inst.build_map("mailboxes", mailboxes)
        inst.build_map("quotas", "carol@example.test %d\n" % CAROL_QUOTA)
        inst.set_main("virtual_mailbox_quota_maps", "hash:" + inst.path("quotas"))
        inst.set_main("message_size_limit", str(LIMIT))
        for u in USERS:
            set_password(inst, u + "@example.test", PASSWORD)
        inst.set_main("imapd_auth_failure_delay", "0")
        inst.start()
        if not wait_for(lambda: port_open(cls.port)):
            raise RuntimeError("imapd did not come up: %s" % inst.log())

    def login(self, user):
        m = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        self.addCleanup(self.quiet_logout, m)
        self.assertEqual(m.login(user + "@example.test", PASSWORD)[0], "OK")
        return m

    def raw(self, user=None):
        c = RawImap(self.port)
        self.addCleanup(c.close)
        if user is not None:
            _, tagged = c.cmd('LOGIN "%s@example.test" "%s"' % (user, PASSWORD))
            self.assertIn(" OK ", tagged)
        return c

    @staticmethod
    def quiet_logout(m):
        try:
            m.logout()
        except (OSError, imaplib.IMAP4.error):
            pass

    def maildir(self, user, folder=None):
        base = (os.path.join(self.erin_dir, "Maildir") if user == "erin"
                else self.inst.path("mail", "example.test", user))
        return base if folder is None else os.path.join(base, "." + folder)

    def files(self, user, folder=None, subs=("new", "cur")):
        d = self.maildir(user, folder)
        out = []
        for sub in subs:
            p = os.path.join(d, sub)
            if os.path.isdir(p):
                out += [os.path.join(p, n) for n in sorted(os.listdir(p))]
        return out

    def uidlist(self, user, folder=None):
        """(uidvalidity, {uid: base file name}) of a folder's dovecot-uidlist."""
        with open(os.path.join(self.maildir(user, folder), "dovecot-uidlist")) as f:
            lines = f.read().splitlines()
        uidvalidity = int(re.search(r" V(\d+)", lines[0]).group(1))
        uids = {}
        for ln in lines[1:]:
            uid, _, name = ln.partition(" :")
            uids[int(uid.split()[0])] = name.split(":")[0]  # the base name
        return uidvalidity, uids

    def append(self, m, folder, msg, flags=None, date=None):
        typ, data = m.append(folder, flags, date, msg)
        self.assertEqual(typ, "OK", data)
        uv, uid = code(data[0].decode(), "APPENDUID").split()
        return int(uv), int(uid)

    def exists(self, m, folder):
        typ, data = m.select(folder)
        self.assertEqual(typ, "OK", data)
        return int(data[0])


class TestAppend(WriteBase):
    def test_append_flags_date_appenduid(self):
        m = self.login("alice")
        msg = message("flags and date")
        uv, uid = self.append(m, "INBOX", msg, "(\\Seen \\Flagged work)", '"%s"' % DATE)
        uidvalidity, uids = self.uidlist("alice")
        self.assertEqual(uv, uidvalidity)
        self.assertIn(uid, uids)
        path = [p for p in self.files("alice") if os.path.basename(p).startswith(uids[uid])]
        self.assertEqual(len(path), 1)
        name = os.path.basename(path[0])
        self.assertTrue(path[0].endswith(":2,FSa"), name)  # keyword work is letter a
        with open(path[0], "rb") as f:
            stored = f.read()
        self.assertEqual(stored, msg.replace(b"\r\n", b"\n"))  # LF, as local stores mail
        self.assertIn(",S=%d," % len(stored), name)
        self.assertIn(",W=%d" % len(msg), name)
        self.assertEqual(int(os.stat(path[0]).st_mtime), DATE_EPOCH)
        with open(os.path.join(self.maildir("alice"), "dovecot-keywords")) as f:
            self.assertIn("0 work", f.read())
        # and as FETCH shows it: the date, the CRLF size, the flags, the bytes
        self.exists(m, "INBOX")
        typ, data = m.uid("FETCH", str(uid), "(INTERNALDATE RFC822.SIZE FLAGS BODY.PEEK[])")
        self.assertEqual(typ, "OK", data)
        head = data[0][0].decode()
        self.assertEqual(time.mktime(imaplib.Internaldate2tuple(data[0][0])), DATE_EPOCH)
        self.assertIn("RFC822.SIZE %d" % len(msg), head)
        self.assertRegex(head, r"FLAGS \([^)]*\\Seen")
        self.assertIn("work", head)
        self.assertEqual(data[0][1], msg)

    def test_append_without_flags_goes_to_new(self):
        m = self.login("alice")
        _, uid1 = self.append(m, "INBOX", message("one"))
        _, uid2 = self.append(m, "INBOX", message("two"))
        self.assertGreater(uid2, uid1)
        _, uids = self.uidlist("alice")
        new = os.listdir(os.path.join(self.maildir("alice"), "new"))
        self.assertTrue(any(n.startswith(uids[uid2]) for n in new))

    def test_trycreate(self):
        c = self.raw("alice")
        c.send("a1 APPEND NoSuchFolder {10}\r\n")
        self.assertRegex(c.line(), r"^a1 NO \[TRYCREATE\] ")
        _, tagged = c.cmd("NOOP")  # the session goes on, no literal expected
        self.assertIn(" OK ", tagged)
        m = self.login("alice")
        typ, data = m.append("Nope", None, None, message("x"))
        self.assertEqual(typ, "NO")
        self.assertIn(b"[TRYCREATE]", data[0])

    def test_toobig_without_continuation(self):
        c = self.raw("alice")
        self.assertIn("APPENDLIMIT=%d" % LIMIT, " ".join(c.cmd("CAPABILITY")[0]))
        c.send("a1 APPEND INBOX {%d}\r\n" % (LIMIT + 1))
        line = c.line()
        self.assertFalse(line.startswith("+"), line)
        self.assertRegex(line, r"^a1 (NO|BAD) \[TOOBIG\]")
        _, tagged = c.cmd("NOOP")
        self.assertIn(" OK ", tagged)
        before = len(self.files("alice"))
        m = self.login("alice")
        with self.assertRaises(imaplib.IMAP4.error):
            m.append("INBOX", None, None, message("big", size=LIMIT + 10))
        self.assertEqual(len(self.files("alice")), before)

    def test_disconnect_mid_literal_leaves_nothing(self):
        m = self.login("dave")
        m.create("Cut")
        c = self.raw("dave")
        c.send("a1 APPEND Cut {5000}\r\n")
        self.assertTrue(c.line().startswith("+"))
        c.send("x" * 2000)
        tmp = os.path.join(self.maildir("dave", "Cut"), "tmp")
        self.assertTrue(wait_for(lambda: len(os.listdir(tmp)) == 1), os.listdir(tmp))
        c.close()
        self.assertTrue(wait_for(lambda: os.listdir(tmp) == []), os.listdir(tmp))
        self.assertEqual(self.files("dave", "Cut"), [])

    def test_bad_arguments_before_continuation(self):
        c = self.raw("alice")
        c.send("a1 APPEND INBOX (\\Recent) {10}\r\n")
        self.assertRegex(c.line(), r"^a1 BAD ")
        c.send('a2 APPEND INBOX "31-Feb-2020 00:00:00 +0000" {10}\r\n')
        self.assertRegex(c.line(), r"^a2 BAD ")
        _, tagged = c.cmd("NOOP")
        self.assertIn(" OK ", tagged)

    def test_literal_plus(self):
        c = self.raw("alice")
        msg = message("literal plus")
        c.send(b"a1 APPEND INBOX (\\Draft) {%d+}\r\n" % len(msg) + msg + b"\r\n")
        _, tagged = c.until("a1")
        self.assertRegex(tagged, r"^a1 OK \[APPENDUID \d+ \d+\] ")
        uid = int(code(tagged, "APPENDUID").split()[1])
        _, uids = self.uidlist("alice")
        path = [p for p in self.files("alice") if os.path.basename(p).startswith(uids[uid])]
        with open(path[0], "rb") as f:
            self.assertEqual(f.read(), msg.replace(b"\r\n", b"\n"))
        # refused only after the literal was read; the pipelined NOOP runs
        c.send(b"a2 APPEND Nowhere {%d+}\r\n" % len(msg) + msg + b"\r\na3 NOOP\r\n")
        _, tagged = c.until("a2")
        self.assertRegex(tagged, r"^a2 NO \[TRYCREATE\] ")
        _, tagged = c.until("a3")
        self.assertRegex(tagged, r"^a3 OK ")

    def test_exists_when_appending_to_selected(self):
        c = self.raw("bob")
        untagged, _ = c.cmd("SELECT INBOX")
        n = int([ln for ln in untagged if ln.endswith(" EXISTS")][0].split()[1])
        msg = message("to the selected folder")
        c.send(b"a1 APPEND INBOX {%d}\r\n" % len(msg))
        self.assertTrue(c.line().startswith("+"))
        c.send(msg + b"\r\n")
        untagged, tagged = c.until("a1")
        self.assertIn("* %d EXISTS" % (n + 1), untagged)
        self.assertRegex(tagged, r"^a1 OK \[APPENDUID ")

    def test_nonascii_folder(self):
        m = self.login("alice")
        self.assertEqual(m.create(ENTWUERFE)[0], "OK")
        _, uid = self.append(m, ENTWUERFE, message("Entwurf"))
        self.assertTrue(os.path.isdir(self.maildir("alice", ENTWUERFE)))
        self.assertIn(uid, self.uidlist("alice", ENTWUERFE)[1])
        _, uid2 = self.append(m, "INBOX", message("to copy"))
        c = self.raw("alice")
        c.cmd("SELECT INBOX")
        _, tagged = c.cmd("UID COPY %d %s" % (uid2, ENTWUERFE))
        _, src, dst = code(tagged, "COPYUID").split()
        self.assertEqual(int(src), uid2)
        self.assertIn(int(dst), self.uidlist("alice", ENTWUERFE)[1])
        untagged, tagged = c.cmd("UID MOVE %d %s" % (uid2, ENTWUERFE))
        self.assertRegex(tagged, r"^t\d+ OK ")
        self.assertEqual(len(self.files("alice", ENTWUERFE)), 3)


class TestQuota(WriteBase):
    def usage(self, user):
        """Bytes and messages the user's maildirsize counts, and its limit."""
        with open(os.path.join(self.maildir(user), "maildirsize")) as f:
            lines = f.read().splitlines()
        limit = int(lines[0].split("S")[0])
        total = [sum(int(ln.split()[i]) for ln in lines[1:]) for i in (0, 1)]
        return total[0], total[1], limit

    def test_capabilities(self):
        c = self.raw("carol")
        caps = c.cmd("CAPABILITY")[0][0].split()
        for cap in ("QUOTA", "QUOTA=RES-STORAGE", "UIDPLUS", "MOVE"):
            self.assertIn(cap, caps)

    def test_getquotaroot_and_getquota_match_maildirsize(self):
        m = self.login("carol")
        self.append(m, "INBOX", message("counted", size=3000))
        typ, data = m.getquotaroot("INBOX")
        self.assertEqual(typ, "OK", data)
        self.assertEqual(data[0], [b'"INBOX" ""'])
        used, _, limit = self.usage("carol")
        self.assertEqual(limit, CAROL_QUOTA)
        self.assertGreater(used, 2900)
        want = ('"" (STORAGE %d %d)' % (used // 1024, limit // 1024)).encode()
        self.assertEqual(data[1], [want])
        typ, data = m.getquota('""')
        self.assertEqual((typ, data), ("OK", [want]))
        typ, data = m.getquota('"nosuchroot"')
        self.assertEqual(typ, "NO")

    def test_quota_set_by_mailctl(self):
        res = self.inst.ctl("user", "add", "frank@example.test", "--quota", "30k")
        self.assertEqual(res.returncode, 0, res.stderr)
        set_password(self.inst, "frank@example.test", PASSWORD)
        c = self.raw("frank")
        untagged, tagged = c.cmd('GETQUOTA ""')
        self.assertIn(" OK ", tagged)
        self.assertEqual(untagged, ['* QUOTA "" (STORAGE 0 30)'])

    def test_no_quota_no_root(self):
        c = self.raw("bob")
        untagged, tagged = c.cmd("GETQUOTAROOT INBOX")
        self.assertEqual(untagged, ['* QUOTAROOT "INBOX"'])
        self.assertIn(" OK ", tagged)
        _, tagged = c.cmd('GETQUOTA ""')
        self.assertIn(" NO ", tagged)

    def test_setquota_refused(self):
        c = self.raw("carol")
        _, tagged = c.cmd('SETQUOTA "" (STORAGE 100)')
        self.assertRegex(tagged, r"^t\d+ NO ")
        _, tagged = c.cmd("SETQUOTA")
        self.assertRegex(tagged, r"^t\d+ BAD ")

    def test_overquota_before_continuation(self):
        c = self.raw("carol")
        c.send("a1 APPEND INBOX {%d}\r\n" % (CAROL_QUOTA + 100))
        line = c.line()
        self.assertRegex(line, r"^a1 NO \[OVERQUOTA\] ")
        _, tagged = c.cmd("NOOP")
        self.assertIn(" OK ", tagged)

    def test_copy_overquota(self):
        m = self.login("carol")
        m.create("Big")
        self.append(m, "Big", message("big one", size=CAROL_QUOTA // 3))
        c = self.raw("carol")
        c.cmd("SELECT Big")
        _, tagged = c.cmd("COPY 1:* Big")
        if " OK " in tagged:  # two fit: a third copy cannot
            _, tagged = c.cmd("COPY 1:* Big")
        self.assertRegex(tagged, r"^t\d+ NO \[OVERQUOTA\]")
        used, _, _ = self.usage("carol")
        self.assertLessEqual(used, CAROL_QUOTA)
        # MOVE needs no room: it frees what it adds
        m.create("Elsewhere")
        _, tagged = c.cmd("MOVE 1 Elsewhere")
        self.assertRegex(tagged, r"^t\d+ OK ")


class TestCopyMove(WriteBase):
    def fill(self, m, folder, n, flags=None):
        return [self.append(m, folder, message("%s %d" % (folder, i)), flags)[1]
                for i in range(n)]

    def test_copy_copyuid(self):
        m = self.login("dave")
        m.create("Target")
        uids = self.fill(m, "INBOX", 3, "(\\Seen hot)")
        c = self.raw("dave")
        c.cmd("SELECT INBOX")
        _, tagged = c.cmd("COPY 2:3 Target")
        self.assertRegex(tagged, r"^t\d+ OK \[COPYUID ")
        uv, src, dst = code(tagged, "COPYUID").split()
        self.assertEqual(uid_set(src), uids[1:])
        tv, tuids = self.uidlist("dave", "Target")
        self.assertEqual(int(uv), tv)
        self.assertEqual(sorted(uid_set(dst)), sorted(u for u in tuids))
        # the copies are the same messages, with their flags and keyword
        _, suids = self.uidlist("dave")
        for s, d in zip(uid_set(src), uid_set(dst)):
            sp = [p for p in self.files("dave") if suids[s] in p][0]
            dp = [p for p in self.files("dave", "Target") if tuids[d] in p][0]
            with open(sp, "rb") as f1, open(dp, "rb") as f2:
                self.assertEqual(f1.read(), f2.read())
            self.assertTrue(dp.endswith(":2,Sa"), dp)
        # FETCH in the target finds the copies under the new UIDs
        t = self.login("dave")
        t.select("Target", readonly=True)
        typ, data = t.uid("FETCH", dst, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertEqual(typ, "OK", data)
        subjects = [d[1].strip() for d in data if isinstance(d, tuple)]
        self.assertEqual(subjects, [b"Subject: INBOX 1", b"Subject: INBOX 2"], data)
        # UID COPY of UIDs that are not there: OK, nothing copied
        _, tagged = c.cmd("UID COPY 9000:9010 Target")
        self.assertRegex(tagged, r"^t\d+ OK ")
        self.assertIsNone(code(tagged, "COPYUID"))

    def test_copy_trycreate_and_bad_set(self):
        c = self.raw("dave")
        c.cmd("SELECT INBOX")
        _, tagged = c.cmd("COPY 1 Missing")
        self.assertRegex(tagged, r"NO \[TRYCREATE\]")
        _, tagged = c.cmd("COPY 99999 INBOX")
        self.assertRegex(tagged, r"^t\d+ BAD ")
        _, tagged = c.cmd("UID COPY 1 Missing")
        self.assertRegex(tagged, r"NO \[TRYCREATE\]")

    def test_move_and_second_session(self):
        m = self.login("alice")
        m.create("Moved")
        m.create("Movesrc")
        uids = self.fill(m, "Movesrc", 3)
        other = self.raw("alice")
        other.cmd("SELECT Movesrc")
        c = self.raw("alice")
        c.cmd("SELECT Movesrc")
        untagged, tagged = c.cmd("UID MOVE %d Moved" % uids[0])
        self.assertRegex(untagged[0], r"^\* OK \[COPYUID \d+ %d \d+\]" % uids[0])
        self.assertIn("* 1 EXPUNGE", untagged)
        self.assertRegex(tagged, r"^t\d+ OK ")
        dst = int(code(untagged[0], "COPYUID").split()[2])
        self.assertIn(dst, self.uidlist("alice", "Moved")[1])
        self.assertEqual(len(self.files("alice", "Movesrc")), 2)
        # the other session hears of it at its next NOOP
        untagged, _ = other.cmd("NOOP")
        self.assertIn("* 1 EXPUNGE", untagged)
        # MOVE by sequence number
        untagged, tagged = c.cmd("MOVE 1 Moved")
        self.assertIn("* 1 EXPUNGE", untagged)
        self.assertRegex(untagged[0], r"^\* OK \[COPYUID \d+ %d \d+\]" % uids[1])

    def test_move_into_same_folder(self):
        m = self.login("bob")
        m.create("Same")
        uids = self.fill(m, "Same", 2)
        c = self.raw("bob")
        c.cmd("SELECT Same")
        untagged, tagged = c.cmd("MOVE 1 Same")
        self.assertRegex(tagged, r"^t\d+ OK ")
        self.assertIn("* 1 EXPUNGE", untagged)
        new = int(code(untagged[0], "COPYUID").split()[2])
        self.assertGreater(new, uids[-1])
        _, tuids = self.uidlist("bob", "Same")
        names = sorted(os.path.basename(p).split(":")[0] for p in self.files("bob", "Same"))
        self.assertEqual(names, sorted([tuids[uids[1]], tuids[new]]))
        untagged, _ = c.cmd("NOOP")
        exists = [ln for ln in untagged if ln.endswith("EXISTS")]
        self.assertTrue(exists == [] or exists[-1] == "* 2 EXISTS", untagged)

    def test_move_from_examined_refused(self):
        m = self.login("bob")
        self.fill(m, "INBOX", 1)
        c = self.raw("bob")
        c.cmd("EXAMINE INBOX")
        _, tagged = c.cmd("MOVE 1 INBOX")
        self.assertRegex(tagged, r"^t\d+ NO ")

    def test_uid_expunge_leaves_other_deleted(self):
        m = self.login("dave")
        m.create("Exp")
        uids = self.fill(m, "Exp", 3, "(\\Deleted)")
        c = self.raw("dave")
        c.cmd("SELECT Exp")
        untagged, tagged = c.cmd("UID EXPUNGE %d" % uids[1])
        self.assertRegex(tagged, r"^t\d+ OK ")
        self.assertEqual(untagged, ["* 2 EXPUNGE"])
        _, tuids = self.uidlist("dave", "Exp")
        names = sorted(os.path.basename(p).split(":")[0] for p in self.files("dave", "Exp"))
        self.assertEqual(names, sorted([tuids[uids[0]], tuids[uids[2]]]))
        _, tagged = c.cmd("UID EXPUNGE")
        self.assertRegex(tagged, r"^t\d+ BAD ")


class TestDiskFull(WriteBase):
    """erin's Maildir on a 128 KiB tmpfs (root only, as CI runs)."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        mnt = os.path.join(self.erin_dir, "Maildir")
        os.makedirs(mnt, exist_ok=True)
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k,mode=0755", "tmpfs", mnt],
                             capture_output=True, text=True)
        if res.returncode != 0:
            self.fail("cannot mount a tmpfs as root: " + res.stderr.strip())
        self.addCleanup(subprocess.run, ["umount", "-l", mnt])
        self.inst.give(mnt)

    def test_enospc_during_append(self):
        m = self.login("erin")
        typ, data = m.append("INBOX", None, None, message("too big for the disk", size=190000))
        self.assertEqual(typ, "NO", data)
        self.assertEqual(self.files("erin", subs=("tmp", "new", "cur")), [])
        self.assertTrue(self.inst.wait_log("No space left"), self.inst.log()[-2000:])
        # the session and the disk still work
        _, uid = self.append(m, "INBOX", message("small"))
        self.assertIn(uid, self.uidlist("erin")[1])


if __name__ == "__main__":
    unittest.main()
