#!/usr/bin/env python3
"""Interoperability tests of imapd against a private instance: mbsync
(isync) syncing a mailbox (INBOX and a folder) to a local Maildir and
back; curl imap:// and imaps:// reading a message by UID and listing
folders; a Maildir written in Dovecot's format (dovecot-uidlist v3,
dovecot-keywords, subscriptions, dovecot.index junk) moved under Postern,
read over IMAP and POP3, and checked again in Dovecot's format after
Postern changed it; UIDs stable across an imapd restart and a pop3d session
that deletes; IDLE woken by a real SMTP delivery; EXPUNGE seen by a second
session; a folder with a non-ASCII name."""
import imaplib
import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MAIL_SERVICES, InstanceCase, PopClient, free_port,  # noqa: E402
                     port_open, require_tools, set_password, wait_for)
from imaptest import RawImap  # noqa: E402

require_tools("curl", "mbsync")

DOMAIN = "example.test"
USERS = ("alice", "bob", "carol", "dave", "erin")
PASSWORDS = {"%s@%s" % (u, DOMAIN): "%s secret" % u for u in USERS}


def quiet_logout(m):
    try:
        m.logout()
    except (OSError, imaplib.IMAP4.error):
        pass


def message(subject, body="body\n", sender="sender@example.org"):
    return ("From: %s\nTo: someone@%s\nSubject: %s\nDate: Mon, 7 Dec 2026 10:00:00 +0000\n"
            "Message-ID: <%s@example.org>\n\n%s" % (sender, DOMAIN, subject,
                                                      subject.replace(" ", "."), body))


def fetch_uid_flags(m):
    """{uid: set of flags} of the selected folder, through imaplib."""
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS)")
    assert typ == "OK", data
    out = {}
    for item in data:
        if item is None:
            continue
        text = item.decode() if isinstance(item, bytes) else item[0].decode()
        mu = re.search(r"UID (\d+)", text)
        mf = re.search(r"FLAGS \(([^)]*)\)", text)
        if mu and mf:
            out[int(mu.group(1))] = set(mf.group(1).split())
    return out


class InteropBase(InstanceCase):
    """qmgr, local, smtpd, imapd (cleartext logins allowed, and imaps) and
    pop3d (cleartext logins allowed)."""

    @classmethod
    def configure(cls):
        inst = cls.inst
        cls.smtp, cls.imap, cls.imaps, cls.pop = (free_port() for _ in range(4))
        inst.set_master_cf(MAIL_SERVICES + [
            "127.0.0.1:%d inet n - n - 2 smtpd" % cls.smtp,
            "127.0.0.1:%d inet n - n - 2 imapd -o imapd_tls_auth_only=no" % cls.imap,
            "127.0.0.1:%d inet n - n - 2 imapd -o imapd_service=imaps" % cls.imaps,
            "127.0.0.1:%d inet n - n - 1 pop3d -o pop3d_tls_auth_only=no" % cls.pop,
        ])
        inst.build_map("domains", "%s OK\n" % DOMAIN)
        inst.build_map("mailboxes", "".join("%s@%s %s/%s/\n" % (u, DOMAIN, DOMAIN, u)
                                            for u in USERS))
        for user, password in PASSWORDS.items():
            set_password(inst, user, password)
        inst.set_main("imapd_auth_failure_delay", "0")
        inst.set_main("pop3d_auth_failure_delay", "0")
        cls.prepare()
        inst.start()
        for p in (cls.smtp, cls.imap, cls.imaps, cls.pop):
            if not wait_for(lambda: port_open(p), 20):
                raise RuntimeError("port %d did not come up: %s" % (p, inst.log()))
        if not wait_for(lambda: os.path.exists(inst.path("queue", "private", "qmgr")), 20):
            raise RuntimeError("qmgr did not come up: %s" % inst.log())

    @classmethod
    def prepare(cls):
        """Files a test class puts in place before the instance starts."""

    @classmethod
    def maildir(cls, user):
        base = cls.inst.ctl("config", "get", "virtual_mailbox_base").stdout.strip()
        return os.path.join(base, DOMAIN, user)

    def login(self, user):
        m = imaplib.IMAP4("127.0.0.1", self.imap, timeout=15)
        self.addCleanup(quiet_logout, m)
        typ, _ = m.login("%s@%s" % (user, DOMAIN), PASSWORDS["%s@%s" % (user, DOMAIN)])
        self.assertEqual(typ, "OK")
        return m

    def raw_login(self, user):
        c = RawImap(self.imap, timeout=15)
        self.addCleanup(c.close)
        _, tagged = c.cmd('LOGIN "%s@%s" "%s"' % (user, DOMAIN,
                                                  PASSWORDS["%s@%s" % (user, DOMAIN)]))
        self.assertIn(" OK ", tagged)
        return c

    def smtp_send(self, user, subject, body="body\n"):
        with smtplib.SMTP("127.0.0.1", self.smtp, timeout=30) as s:
            s.sendmail("sender@example.org", ["%s@%s" % (user, DOMAIN)],
                       message(subject, body))

    def deliver(self, user, subjects):
        """Delivers messages by SMTP and waits until all are in the Maildir."""
        md = self.maildir(user)

        def count():
            return sum(len(os.listdir(os.path.join(md, d))) for d in ("new", "cur")
                       if os.path.isdir(os.path.join(md, d)))
        before = count()
        for s in subjects:
            self.smtp_send(user, s)
        self.assertTrue(wait_for(lambda: count() >= before + len(subjects), 20),
                        self.inst.log()[-3000:])

    def append(self, m, folder, subject, flags=None):
        typ, data = m.append(folder, flags, None, message(subject).replace("\n", "\r\n")
                             .encode())
        self.assertEqual(typ, "OK", data)
        return data


# --------------------------------------------------------------------------
# mbsync

class TestMbsync(InteropBase):
    """mbsync between alice's mailbox (INBOX and Work) and a local Maildir."""

    def setUp(self):
        self.local = tempfile.mkdtemp(prefix="postern-mbsync-")
        self.addCleanup(shutil.rmtree, self.local, True)
        os.mkdir(os.path.join(self.local, "mail"))
        self.config("alice", self.imap, "SSLType None\nAuthMechs LOGIN")

    def config(self, user, port, tls):
        """Writes the mbsyncrc: user's INBOX and Work <-> self.local/mail."""
        self.rc = os.path.join(self.local, "mbsyncrc")
        with open(self.rc, "w") as f:
            f.write("IMAPAccount remote\nHost 127.0.0.1\nPort %d\nUser %s@%s\n"
                    'Pass "%s secret"\n%s\n\n'
                    "IMAPStore remote\nAccount remote\n\n"
                    "MaildirStore local\nPath %s/mail/\nInbox %s/mail/INBOX\n"
                    "SubFolders Verbatim\n\n"
                    "Channel sync\nFar :remote:\nNear :local:\nPatterns INBOX Work\n"
                    "Create Both\nExpunge Both\nSyncState *\nCopyArrivalDate yes\n"
                    % (port, user, DOMAIN, user, tls, self.local, self.local))

    def mbsync(self):
        res = subprocess.run(["mbsync", "-c", self.rc, "-V", "-Dn", "sync"], capture_output=True,
                             text=True, timeout=120)
        self.assertEqual(res.returncode, 0, "mbsync failed:\n%s\n%s\n%s" % (
            res.stdout, res.stderr, self.inst.log()[-4000:]))
        return res.stdout + res.stderr

    def local_files(self, folder):
        """{Subject: file name} of the local Maildir folder."""
        d = os.path.join(self.local, "mail", folder)
        out = {}
        for sub in ("new", "cur"):
            if not os.path.isdir(os.path.join(d, sub)):
                continue
            for name in os.listdir(os.path.join(d, sub)):
                with open(os.path.join(d, sub, name), errors="replace") as f:
                    subj = re.search(r"^Subject: (.*)$", f.read(), re.M)
                out[subj.group(1).strip() if subj else name] = os.path.join(sub, name)
        return out

    def server_subjects(self, m, folder):
        """{Subject: set of flags} of a folder, through imaplib."""
        typ, _ = m.select(folder)
        self.assertEqual(typ, "OK")
        typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertEqual(typ, "OK")
        out = {}
        for item in data:
            if isinstance(item, tuple):
                flags = set(re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode().split())
                subj = item[1].decode().split(":", 1)[1].strip()
                out[subj] = flags
        return out

    @staticmethod
    def pulled(out, side):
        """Messages mbsync copied to a side, from its protocol trace (-Dn):
        to Near, each is one "UID FETCH n (... BODY.PEEK[])" to the server;
        to Far, one APPEND."""
        if side == "Near":
            return len(re.findall(r"^(?:\(\d+ in progress\) )?>>> \d+ UID FETCH \d+ "
                                  r"\([^)]*BODY\.PEEK\[\]", out, re.M))
        return len(re.findall(r"^(?:\(\d+ in progress\) )?>>> \d+ APPEND ", out, re.M))

    def test_sync_both_ways(self):
        m = self.login("alice")
        m.create("Work")
        self.deliver("alice", ["inbox one", "inbox two", "inbox three"])
        self.append(m, "Work", "work one", r"(\Seen)")
        # first sync: everything comes down
        out = self.mbsync()
        self.assertEqual(set(self.local_files("INBOX")), {"inbox one", "inbox two",
                                                           "inbox three"}, out)
        self.assertEqual(set(self.local_files("Work")), {"work one"}, out)
        self.assertEqual(self.pulled(out, "Near"), 4, out)
        names = self.local_files("INBOX")
        # second sync: nothing is downloaded again, nothing changes locally
        out = self.mbsync()
        self.assertEqual(self.pulled(out, "Near"), 0, out)
        self.assertEqual(self.pulled(out, "Far"), 0, out)
        self.assertEqual(self.local_files("INBOX"), names)

        # a flag set on the server reaches the local Maildir
        m.select("INBOX")
        typ, data = m.search(None, "SUBJECT", '"inbox one"')
        self.assertEqual(typ, "OK")
        m.store(data[0].decode(), "+FLAGS", r"(\Flagged)")
        # a flag set locally (seen + replied) reaches the server
        local2 = os.path.join(self.local, "mail", "INBOX", names["inbox two"])
        base = os.path.basename(local2).split(":2,")[0]
        new_local2 = os.path.join(self.local, "mail", "INBOX", "cur", base + ":2,RS")
        os.rename(local2, new_local2)
        # a message deleted locally disappears on the server
        os.unlink(os.path.join(self.local, "mail", "INBOX", names["inbox three"]))
        # a message appended locally arrives
        with open(os.path.join(self.local, "mail", "Work", "cur",
                               "1765000000.M1P1.local:2,S"), "w") as f:
            f.write(message("work local"))
        out = self.mbsync()
        self.assertEqual(self.pulled(out, "Near"), 0, out)  # nothing downloaded again
        self.assertEqual(self.pulled(out, "Far"), 1, out)   # the local one went up
        local = self.local_files("INBOX")
        self.assertTrue(local["inbox one"].split(":2,")[1].find("F") >= 0, local)
        server = self.server_subjects(m, "INBOX")
        self.assertEqual(set(server), {"inbox one", "inbox two"}, server)
        self.assertIn(r"\Answered", server["inbox two"])
        self.assertIn(r"\Seen", server["inbox two"])
        self.assertIn(r"\Flagged", server["inbox one"])
        server = self.server_subjects(m, "Work")
        self.assertEqual(set(server), {"work one", "work local"})
        self.assertIn(r"\Seen", server["work local"])

        # a message deleted on the server disappears locally
        m.select("Work")
        typ, data = m.search(None, "SUBJECT", '"work one"')
        m.store(data[0].decode(), "+FLAGS", r"(\Deleted)")
        m.expunge()
        out = self.mbsync()
        self.assertEqual(set(self.local_files("Work")), {"work local"}, out)
        # and a last sync has nothing to do at all
        before = (self.local_files("INBOX"), self.local_files("Work"))
        out = self.mbsync()
        for side in ("Near", "Far"):
            self.assertEqual(self.pulled(out, side), 0, out)
        self.assertEqual((self.local_files("INBOX"), self.local_files("Work")), before)

    def test_imaps_big_messages_byte_exact(self):
        # over implicit TLS, messages big enough for FETCH to stream them in
        # many chunks arrive whole; isync checks the certificate: the
        # instance's own self-signed one is trusted
        cert = self.inst.ctl("config", "get", "smtpd_tls_cert_file").stdout.strip()
        self.config("bob", self.imaps, "SSLType IMAPS\nSystemCertificates no\n"
                    "CertificateFile %s" % cert)
        m = self.login("bob")
        bodies = {}
        for i, size in enumerate((10, 300000, 2500000)):
            body = "".join("line %d of message %d %s\n" % (j, i, "x" * (j % 50))
                           for j in range(size // 40 + 1))
            subject = "big %d" % i
            bodies[subject] = body
            m.append("INBOX", None, None, message(subject, body).replace("\n", "\r\n")
                     .encode())
        out = self.mbsync()
        self.assertEqual(self.pulled(out, "Near"), 3, out[-3000:])
        local = self.local_files("INBOX")
        for subject, body in bodies.items():
            with open(os.path.join(self.local, "mail", "INBOX", local[subject]), "rb") as f:
                data = f.read().replace(b"\r\n", b"\n")
            # mbsync marks what it stores with its own X-TUID header
            data = re.sub(rb"(?m)^X-TUID: .*\n", b"", data, count=1)
            self.assertEqual(data, message(subject, body).encode(), subject)
        out = self.mbsync()
        self.assertEqual(self.pulled(out, "Near"), 0)


# --------------------------------------------------------------------------
# curl

class TestCurl(InteropBase):
    def test_read_by_uid_and_list(self):
        m = self.login("bob")
        m.create("Lists")
        self.deliver("bob", ["curl first", "curl second"])
        m.select("INBOX")
        uids = sorted(fetch_uid_flags(m))
        self.assertEqual(len(uids), 2)
        for url in ("imap://127.0.0.1:%d/INBOX;UID=%d" % (self.imap, uids[1]),
                    "imaps://127.0.0.1:%d/INBOX;UID=%d" % (self.imaps, uids[1])):
            res = subprocess.run(["curl", "-s", "-S", "-k", "-u",
                                  "bob@%s:bob secret" % DOMAIN, url],
                                 capture_output=True, timeout=30)
            self.assertEqual(res.returncode, 0, url + res.stderr.decode())
            self.assertIn(b"Subject: curl second", res.stdout)
            self.assertIn(b"\r\n\r\nbody\r\n", res.stdout)
        for url in ("imap://127.0.0.1:%d/" % self.imap, "imaps://127.0.0.1:%d/" % self.imaps):
            res = subprocess.run(["curl", "-s", "-S", "-k", "-u",
                                  "bob@%s:bob secret" % DOMAIN, url],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(res.returncode, 0, url + res.stderr)
            self.assertIn('"INBOX"', res.stdout)
            self.assertIn('"Lists"', res.stdout)
        # SEARCH through the URL's query, as the README shows
        res = subprocess.run(["curl", "-s", "-S", "-k", "-u", "bob@%s:bob secret" % DOMAIN,
                              "imaps://127.0.0.1:%d/INBOX?ALL" % self.imaps],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("* SEARCH %d %d" % (1, 2), res.stdout)
        # a UID that does not exist is an error, not another message
        res = subprocess.run(["curl", "-s", "-k", "-u", "bob@%s:bob secret" % DOMAIN,
                              "imap://127.0.0.1:%d/INBOX;UID=%d" % (self.imap, uids[1] + 50)],
                             capture_output=True, timeout=30)
        self.assertNotIn(b"Subject: curl", res.stdout)


# --------------------------------------------------------------------------
# A Maildir written by Dovecot

UIDVALIDITY = 1712345678
GUID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
DOVECOT_MSGS = [
    # (uid, base name, flags on disk after ":2,", subject)
    (17, "1700000017.M17P4242.oldhost", "S", "dovecot seen"),
    (42, "1700000042.M42P4242.oldhost,S=%d", "FSac", "dovecot flagged kw"),
    (99, "1700000099.M99P4242.oldhost", "RSb", "dovecot answered"),
    (100, "1700000100.M100P4242.oldhost", None, "dovecot unseen in new"),
]
WORK_MSGS = [(5, "1700000105.M5P4242.oldhost", "Sc", "work kw")]
KEYWORDS = ["$Forwarded", "Junk", "project-x"]


def dovecot_name_ok(name):
    """A Maildir file name as Dovecot reads it: base, then ":2," and the
    flags: upper-case standard flags in ASCII order, then keyword letters
    a-z in order, each once."""
    base, sep, flags = name.partition(":2,")
    if not sep:
        return ":" not in base
    return list(flags) == sorted(set(flags)) and re.fullmatch(r"[A-Z]*[a-z]*", flags) is not None


class TestDovecotMaildir(InteropBase):
    USER = "carol"

    @classmethod
    def write_folder(cls, path, msgs, uidvalidity, nextuid):
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        records = []
        for uid, base, flags, subject in msgs:
            data = message(subject).encode()
            if "%d" in base:
                base = base % len(data)
            name = os.path.join("new", base) if flags is None else \
                os.path.join("cur", base + ":2," + flags)
            with open(os.path.join(path, name), "wb") as f:
                f.write(data)
            records.append("%d W%d :%s\n" % (uid, len(data.replace(b"\n", b"\r\n")), base))
        with open(os.path.join(path, "dovecot-uidlist"), "w") as f:
            f.write("3 V%d N%d G%s\n" % (uidvalidity, nextuid, GUID) + "".join(records))
        with open(os.path.join(path, "dovecot-keywords"), "w") as f:
            f.write("".join("%d %s\n" % (i, k) for i, k in enumerate(KEYWORDS)))
        for junk in ("dovecot.index", "dovecot.index.log", "dovecot.index.cache"):
            with open(os.path.join(path, junk), "wb") as f:
                f.write(b"\x07\x02" + os.urandom(200))

    @classmethod
    def prepare(cls):
        md = cls.maildir(cls.USER)
        os.makedirs(md)
        cls.write_folder(md, DOVECOT_MSGS, UIDVALIDITY, 120)
        work = os.path.join(md, ".Work")
        cls.write_folder(work, WORK_MSGS, UIDVALIDITY + 7, 6)
        open(os.path.join(work, "maildirfolder"), "w").close()
        with open(os.path.join(md, "subscriptions"), "w") as f:
            f.write("V\t2\n\nINBOX\nWork\n")
        cls.inst.give(os.path.dirname(md))

    def test_uids_flags_keywords_subscriptions(self):
        c = self.raw_login(self.USER)
        untagged, tagged = c.cmd("SELECT INBOX")
        self.assertIn(" OK ", tagged)
        self.assertIn("* OK [UIDVALIDITY %d] UIDs valid." % UIDVALIDITY, untagged)
        self.assertTrue(any("[UIDNEXT 120]" in u for u in untagged), untagged)
        self.assertIn("* 4 EXISTS", untagged)
        flags = [u for u in untagged if u.startswith("* FLAGS")][0]
        for k in KEYWORDS:
            self.assertIn(k, flags)
        m = self.login(self.USER)
        m.select("INBOX")
        got = fetch_uid_flags(m)
        self.assertEqual(got, {17: {r"\Seen"},
                               42: {r"\Flagged", r"\Seen", "$Forwarded", "project-x"},
                               99: {r"\Answered", r"\Seen", "Junk"},
                               100: set()})
        typ, data = m.uid("FETCH", "42", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertIn(b"dovecot flagged kw", data[0][1])
        typ, data = m.status("Work", "(UIDVALIDITY UIDNEXT MESSAGES)")
        items = re.search(r"\((.*)\)", data[0].decode()).group(1).split()
        self.assertEqual(dict(zip(items[::2], items[1::2])),
                         {"UIDVALIDITY": str(UIDVALIDITY + 7), "UIDNEXT": "6", "MESSAGES": "1"})
        m.select("Work")
        self.assertEqual(fetch_uid_flags(m), {5: {r"\Seen", "project-x"}})
        typ, data = m.lsub('""', "*")
        subs = b" ".join(data)
        self.assertIn(b'"INBOX"', subs)
        self.assertIn(b'"Work"', subs)
        # the Dovecot index files are not folders nor messages
        typ, data = m.list('""', "*")
        self.assertFalse([d for d in data if b"dovecot" in d.lower()], data)

    def test_pop3_uidl_in_dovecot_format(self):
        p = PopClient(self.pop)
        self.addCleanup(p.close)
        self.assertTrue(p.login("%s@%s" % (self.USER, DOMAIN),
                                PASSWORDS["%s@%s" % (self.USER, DOMAIN)]).startswith("+OK"))
        self.assertTrue(p.cmd("UIDL").startswith("+OK"))
        lines = p.multi().decode().split()
        uidls = lines[1::2]
        self.assertEqual(uidls, ["%08x%08x" % (uid, UIDVALIDITY) for uid, _, _, _
                                 in DOVECOT_MSGS])
        p.cmd("QUIT")

    def test_zz_files_stay_in_dovecot_format(self):
        # runs last in the class: changes the store, then reads its files
        md = self.maildir(self.USER)
        m = self.login(self.USER)
        m.select("INBOX")
        m.uid("STORE", "17", "+FLAGS", r"(\Flagged project-x NewKeyword)")
        m.uid("STORE", "42", "-FLAGS", r"($Forwarded)")
        data = self.append(m, "INBOX", "appended by postern", r"(\Seen Junk Another)")
        self.assertIn(b"APPENDUID %d 120" % UIDVALIDITY, data[0])
        m.close()
        m.select("Work")
        m.uid("STORE", "5", "+FLAGS", r"(\Answered)")
        m.close()
        # dovecot-keywords: the old indexes kept, new ones after them
        with open(os.path.join(md, "dovecot-keywords")) as f:
            lines = f.read().splitlines()
        kw = {}
        for ln in lines:
            self.assertRegex(ln, r"^\d+ \S+$")
            idx, name = ln.split(" ", 1)
            kw[name] = int(idx)
        self.assertEqual([kw[k] for k in KEYWORDS], [0, 1, 2])
        self.assertEqual(sorted(kw.values()), list(range(len(kw))))
        self.assertIn("NewKeyword", kw)
        self.assertIn("Another", kw)
        letter = {name: chr(ord("a") + i) for name, i in kw.items()}
        # file names: Dovecot's flags order, keyword letters via the file
        names = {}
        for sub in ("new", "cur"):
            for name in os.listdir(os.path.join(md, sub)):
                self.assertTrue(dovecot_name_ok(name), name)
                names[name.split(":2,")[0]] = (sub, name.partition(":2,")[2])
        self.assertEqual(names["1700000017.M17P4242.oldhost"][1],
                         "FS" + "".join(sorted(("c", letter["NewKeyword"]))))
        base42 = [b for b in names if b.startswith("1700000042.")][0]
        self.assertEqual(names[base42][1], "FSc")
        self.assertEqual(names["1700000099.M99P4242.oldhost"][1], "RSb")
        self.assertEqual(names["1700000100.M100P4242.oldhost"], ("cur", ""))
        new = [b for b in names if not b.startswith("1700000")]
        self.assertEqual(len(new), 1)
        self.assertEqual(names[new[0]],
                         ("cur", "S" + "".join(sorted((letter["Junk"], letter["Another"])))))
        # dovecot-uidlist: version 3, UIDVALIDITY and GUID kept, old UIDs
        # kept, the new message at UID 120, N past it
        with open(os.path.join(md, "dovecot-uidlist")) as f:
            ul = f.read().splitlines()
        head = ul[0].split(" ")
        self.assertEqual(head[0], "3")
        self.assertIn("V%d" % UIDVALIDITY, head)
        self.assertIn("G" + GUID, head)
        nxt = [int(h[1:]) for h in head if h.startswith("N")]
        self.assertEqual(len(nxt), 1)
        recs = {}
        for ln in ul[1:]:
            mrec = re.fullmatch(r"(\d+)((?: [A-Z]\S*)*) :(\S+)", ln)
            self.assertIsNotNone(mrec, ln)
            # Dovecot keeps the name a file had when listed, flags and all
            recs[mrec.group(3).split(":2,")[0]] = int(mrec.group(1))
        self.assertEqual(recs["1700000017.M17P4242.oldhost"], 17)
        self.assertEqual(recs[base42], 42)
        self.assertEqual(recs["1700000099.M99P4242.oldhost"], 99)
        self.assertEqual(recs["1700000100.M100P4242.oldhost"], 100)
        self.assertEqual(recs[new[0]], 120)
        # records appended in place leave N behind, as Dovecot's own do: its
        # reader takes the larger of N and the last UID + 1
        self.assertGreaterEqual(max(nxt[0], max(recs.values()) + 1), 121)
        self.assertEqual(sorted(recs.values()), [int(ln.split()[0]) for ln in ul[1:]])
        with open(os.path.join(md, ".Work", "dovecot-uidlist")) as f:
            self.assertTrue(f.readline().startswith("3 V%d N6 " % (UIDVALIDITY + 7)))
        work = os.listdir(os.path.join(md, ".Work", "cur"))
        self.assertEqual(work, ["1700000105.M5P4242.oldhost:2,RSc"])
        # subscriptions still Dovecot's version 2 file
        with open(os.path.join(md, "subscriptions")) as f:
            self.assertTrue(f.read().startswith("V\t2\n\n"))
        # Dovecot's index files untouched
        self.assertTrue(os.path.exists(os.path.join(md, "dovecot.index")))


# --------------------------------------------------------------------------
# UIDs over restarts and POP3; IDLE; EXPUNGE seen by another session;
# non-ASCII folder names

class TestStability(InteropBase):
    def test_uids_across_restart_and_pop3_delete(self):
        self.deliver("dave", ["stable %d" % i for i in range(4)])
        m = self.login("dave")
        m.select("INBOX")
        before = fetch_uid_flags(m)
        self.assertEqual(len(before), 4)
        m.uid("STORE", str(sorted(before)[1]), "+FLAGS", r"(\Flagged)")
        typ, data = m.status("INBOX", "(UIDVALIDITY UIDNEXT)")
        status = data[0]
        m.logout()
        # restart the whole instance (imapd with it)
        self.inst.stop()
        self.inst.start()
        self.assertTrue(wait_for(lambda: port_open(self.imap) and port_open(self.pop), 20))
        m = self.login("dave")
        m.select("INBOX")
        after = fetch_uid_flags(m)
        self.assertEqual(set(after), set(before))
        self.assertIn(r"\Flagged", after[sorted(before)[1]])
        self.assertEqual(m.status("INBOX", "(UIDVALIDITY UIDNEXT)")[1][0], status)
        m.logout()
        # a POP3 session deletes the first message
        p = PopClient(self.pop)
        self.addCleanup(p.close)
        self.assertTrue(p.login("dave@%s" % DOMAIN, PASSWORDS["dave@%s" % DOMAIN])
                        .startswith("+OK"))
        self.assertTrue(p.cmd("DELE 1").startswith("+OK"))
        self.assertTrue(p.cmd("QUIT").startswith("+OK"))
        m = self.login("dave")
        m.select("INBOX")
        later = fetch_uid_flags(m)
        self.assertEqual(set(later), set(sorted(before)[1:]))
        self.assertEqual(m.status("INBOX", "(UIDVALIDITY UIDNEXT)")[1][0], status)
        # and a new delivery gets a UID past all of them
        self.deliver("dave", ["stable new"])
        m.noop()
        newest = fetch_uid_flags(m)
        self.assertEqual(len(newest), 4)
        self.assertGreater(max(newest), max(before))

    def test_side_files_corrupt_or_missing(self):
        # Postern's own side files (cache, MODSEQ) are rebuilt, never a
        # reason for other UIDs, another UIDVALIDITY or another message's data
        self.deliver("carol", ["side %d" % i for i in range(5)])
        m = self.login("carol")
        m.select("INBOX")
        m.uid("STORE", "1:*", "+FLAGS", r"(\Seen)")
        typ, data = m.fetch("1:*", "(UID ENVELOPE)")
        self.assertEqual(typ, "OK")
        before = sorted(d.decode() for d in data)
        status = m.status("INBOX", "(UIDVALIDITY UIDNEXT)")[1][0]
        m.logout()
        md = self.maildir("carol")
        side = sorted(n for n in os.listdir(md) if n.startswith("postern-"))
        self.assertIn("postern-cache", side)
        self.assertIn("postern-modseq", side)
        for damage in ("garbage", "truncate", "remove"):
            for name in ("postern-cache", "postern-modseq"):
                path = os.path.join(md, name)
                if not os.path.exists(path):
                    continue
                if damage == "garbage":
                    with open(path, "r+b") as f:
                        f.seek(20)
                        f.write(os.urandom(300))
                elif damage == "truncate":
                    os.truncate(path, os.path.getsize(path) // 2)
                else:
                    os.unlink(path)
            m = self.login("carol")
            m.select("INBOX")
            typ, data = m.fetch("1:*", "(UID ENVELOPE)")
            self.assertEqual(typ, "OK", damage)
            self.assertEqual(sorted(d.decode() for d in data), before, damage)
            self.assertEqual(m.status("INBOX", "(UIDVALIDITY UIDNEXT)")[1][0], status, damage)
            self.assertTrue(all(r"\Seen" in f for f in fetch_uid_flags(m).values()), damage)
            m.logout()

    def test_concurrent_sessions_never_mix_uids(self):
        # several sessions (two imapd processes) append, flag, expunge and
        # fetch one folder at once while local delivers into it: every UID
        # always names the same message, and nothing dies
        import random
        import threading
        seen = {}
        errors = []
        lock = threading.Lock()

        def note(data):
            for item in data:
                if not isinstance(item, tuple):
                    continue
                mu = re.search(rb"UID (\d+)", item[0])
                subj = re.search(rb"Subject: ([^\r\n]*)", item[1])
                if mu and subj:
                    with lock:
                        old = seen.setdefault(int(mu.group(1)), subj.group(1))
                        if old != subj.group(1):
                            errors.append((int(mu.group(1)), old, subj.group(1)))

        def worker(n):
            rnd = random.Random(n)
            try:
                m = imaplib.IMAP4("127.0.0.1", self.imap, timeout=30)
                m.login("erin@%s" % DOMAIN, PASSWORDS["erin@%s" % DOMAIN])
                m.select("INBOX")
                for i in range(25):
                    op = rnd.choice(("append", "store", "expunge", "fetch", "fetch"))
                    if op == "append":
                        m.append("INBOX", None, None,
                                 message("w%d-%d" % (n, i)).replace("\n", "\r\n").encode())
                    elif op == "store":
                        # UIDs: an empty folder is no error (1:* would be)
                        m.uid("STORE", "1:*", "+FLAGS", r"(\Deleted)" if rnd.random() < 0.2
                              else r"(\Flagged)")
                    elif op == "expunge":
                        m.expunge()
                    else:
                        typ, data = m.uid("FETCH", "1:*",
                                          "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
                        if typ == "OK":
                            note(data)
                m.logout()
            except Exception as e:  # noqa: BLE001 (reported below)
                with lock:
                    errors.append(("worker %d" % n, repr(e)))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        def delivered():
            return self.inst.log().count("to=<erin@%s>, relay=local" % DOMAIN)
        before = delivered()
        for i in range(5):
            self.smtp_send("erin", "during %d" % i)
        self.assertTrue(wait_for(lambda: delivered() >= before + 5, 30))
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        self.assertNotIn("killed by signal", self.inst.log())
        # a last look: UIDs ascending, unique, each still its message
        m = self.login("erin")
        m.select("INBOX")
        typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        note(data)
        self.assertEqual(errors, [])
        uids = [int(re.search(rb"UID (\d+)", d[0]).group(1)) for d in data
                if isinstance(d, tuple)]
        self.assertEqual(uids, sorted(set(uids)))

    def test_idle_woken_by_smtp_delivery(self):
        self.deliver("erin", ["idle first"])
        c = self.raw_login("erin")
        untagged, _ = c.cmd("SELECT INBOX")
        exists = [int(u.split()[1]) for u in untagged if u.endswith(" EXISTS")][0]
        c.send("i1 IDLE\r\n")
        self.assertEqual(c.line(), "+ idling")
        md = self.maildir("erin")

        def count():
            return sum(len(os.listdir(os.path.join(md, d))) for d in ("new", "cur"))
        files = count()
        self.smtp_send("erin", "idle wake")
        sent = time.monotonic()
        # when the file landed (local's rename into new/; the session may
        # move it on to cur/): polled here while the reply waits in the socket
        landed = wait_for(lambda: count() > files and time.monotonic(), 20, 0.005)
        line = c.line()
        woke = time.monotonic()
        self.assertEqual(line, "* %d EXISTS" % (exists + 1))
        self.assertLess(woke - sent, 10, "SMTP to IDLE took too long")
        self.assertTrue(landed)
        if landed:
            self.assertLess(woke - landed, 1.5, "IDLE woke %.2f s after the delivery"
                            % (woke - landed))
        c.send("DONE\r\n")
        while True:
            ln = c.line()
            if ln.startswith("i1 ") or ln == "":
                break
        self.assertEqual(ln, "i1 OK IDLE completed.")

    def test_expunge_seen_by_second_session(self):
        self.deliver("bob", ["exp a", "exp b", "exp c"])
        a = self.login("bob")
        n = int(a.select("INBOX")[1][0])
        b = self.raw_login("bob")
        untagged, _ = b.cmd("SELECT INBOX")
        self.assertIn("* %d EXISTS" % n, untagged)
        typ, data = a.search(None, "SUBJECT", '"exp b"')
        seq = int(data[0].split()[0])
        a.store(str(seq), "+FLAGS", r"(\Deleted)")
        typ, data = a.expunge()
        self.assertEqual(data, [str(seq).encode()])
        untagged, tagged = b.cmd("NOOP")
        self.assertIn(" OK ", tagged)
        self.assertIn("* %d EXPUNGE" % seq, untagged)
        untagged, _ = b.cmd("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertFalse([u for u in untagged if "exp b" in u], untagged)

    def test_non_ascii_folder(self):
        m = self.login("alice")
        name = "Entw&APw-rfe.&ZeVnLIqe-"  # Entwürfe.日本語 in modified UTF-7
        typ, data = m.create('"%s"' % name)
        self.assertEqual(typ, "OK", data)
        self.assertTrue(os.path.isdir(os.path.join(self.maildir("alice"), "." + name, "cur")))
        typ, data = m.list('""', '"Entw&APw-rfe*"')
        self.assertTrue(any(('"%s"' % name).encode() in d for d in data), data)
        self.append(m, '"%s"' % name, "unicode folder")
        typ, data = m.select('"%s"' % name)
        self.assertEqual((typ, data), ("OK", [b"1"]))
        typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertIn(b"unicode folder", data[0][1])
        typ, data = m.status('"%s"' % name, "(MESSAGES)")
        self.assertEqual(typ, "OK")
        self.assertIn(b"MESSAGES 1", data[0])
        # not minimal / invalid modified UTF-7 is refused
        typ, data = m.create('"Entw&AP-w-rfe"')
        self.assertEqual(typ, "NO")


if __name__ == "__main__":
    unittest.main()
