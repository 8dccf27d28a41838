"""Never root where root is not needed. Run as root (as CI does), an
instance made by `mailctl init` has the unprivileged mail_owner postern:
master stays root, but no child (smtpd, pop3d, qmgr, local) has user or
group id 0, and the queue files, the mail, the log, the TLS key and the
password map have the owners and modes docs/internals.md lists, also after
later mailctl commands run as root. master refuses mail_owner = root and an
instance its mail_owner cannot reach. Real clients: smtplib and a POP3
client with STLS."""
import os
import pwd
import smtplib
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MAIL_SERVICES, ROOT, Instance, InstanceCase, PopClient,  # noqa: E402
                     free_port, port_open, set_password, wait_for)

NOT_ROOT = "not root: mail_owner and the privilege drop apply only when master runs as root"


def ids_of(pid):
    """{"Uid": [real, effective, saved, fs], "Gid": [...]} of a process."""
    found = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid"):
                found[key] = [int(v) for v in value.split()]
    return found


def comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


@unittest.skipUnless(ROOT, NOT_ROOT)
class RootInstance(InstanceCase):
    """A whole mail system started as root: smtpd, pop3d, qmgr, local."""

    @classmethod
    def configure(cls):
        inst = cls.inst
        cls.smtp, cls.pop3 = free_port(), free_port()
        inst.set_mail_services(["127.0.0.1:%d inet n - n - 1 smtpd" % cls.smtp,
                                "127.0.0.1:%d inet n - n - 1 pop3d" % cls.pop3])
        res = inst.ctl("user", "add", "alice@example.test")
        if res.returncode != 0:
            raise RuntimeError(res.stderr)
        set_password(inst, "alice@example.test", "alice secret")
        inst.start()
        for port in (cls.smtp, cls.pop3):
            if not wait_for(lambda: port_open(port)):
                raise RuntimeError("port %d did not open: %s" % (port, inst.log()))
        cls.owner = pwd.getpwnam("postern")

    def assert_owned(self, path, uid, mode):
        st = os.lstat(path)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (uid, mode),
                         "%s: uid %d mode %04o, want uid %d mode %04o" % (
                             path, st.st_uid, stat.S_IMODE(st.st_mode), uid, mode))

    def maildir(self, user):
        return self.inst.path("mail", "example.test", user)

    def send(self, rcpt, subject):
        with smtplib.SMTP("127.0.0.1", self.smtp, timeout=10) as s:
            s.sendmail("sender@example.test", [rcpt], "Subject: %s\r\n\r\nbody\r\n" % subject)

    def test_mail_owner_is_postern(self):
        self.assertNotEqual(self.owner.pw_uid, 0)
        self.assertNotEqual(self.owner.pw_gid, 0)
        self.assertIn(self.owner.pw_shell, ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false"))
        res = self.inst.ctl("config", "get", "mail_owner")
        self.assertEqual(res.stdout.strip(), "postern")

    def test_no_child_runs_as_root(self):
        master = self.inst.master_pid()
        self.assertEqual(ids_of(master)["Uid"][1], 0, "master itself runs as root")
        seen = set()
        for pid in self.inst.processes():
            if pid == master:
                continue
            ids = ids_of(pid)
            seen.add(comm(pid))
            self.assertEqual(ids["Uid"], [self.owner.pw_uid] * 4, "%s %d" % (comm(pid), pid))
            self.assertEqual(ids["Gid"], [self.owner.pw_gid] * 4, "%s %d" % (comm(pid), pid))
        self.assertTrue({"smtpd", "pop3d", "qmgr", "local"} <= seen, seen)

    def test_mail_and_queue_owners_and_modes(self):
        uid = self.owner.pw_uid
        self.send("alice@example.test", "to alice")
        new = os.path.join(self.maildir("alice"), "new")
        self.assertTrue(wait_for(lambda: os.listdir(new), 15), self.inst.log())
        self.assert_owned(self.inst.path("mail"), uid, 0o700)
        for d in (self.maildir("alice"), new):
            self.assert_owned(d, uid, 0o700)
        for name in os.listdir(new):
            self.assert_owned(os.path.join(new, name), uid, 0o600)
        # mail for another domain waits in the queue (no smtp service)
        self.send("friend@elsewhere.test", "queued")

        def queued():
            """(uid, mode) of the queue file, which qmgr may be moving
            between active/ and deferred/ right now."""
            for sub in ("incoming", "active", "deferred"):
                for name in self.inst.queue_files(sub):
                    try:
                        st = os.lstat(os.path.join(self.inst.path("queue", sub), name))
                    except FileNotFoundError:
                        continue
                    return (st.st_uid, stat.S_IMODE(st.st_mode))
            return None
        self.assertEqual(wait_for(queued, 15), (uid, 0o600), self.inst.log())
        for sub in ("tmp", "incoming", "active", "deferred", "hold", "corrupt", "defer",
                    "public"):
            self.assert_owned(self.inst.path("queue", sub), uid, 0o755)
        self.assert_owned(self.inst.path("queue", "private"), uid, 0o700)
        self.assert_owned(self.inst.path("queue", "pid"), 0, 0o755)
        self.assert_owned(self.inst.path("queue", "pid", "master.pid"), 0, 0o644)
        self.assert_owned(self.inst.path("log", "maillog"), uid, 0o640)
        self.assert_owned(self.inst.path("tls", "key.pem"), uid, 0o600)
        self.assert_owned(self.inst.path("tls", "cert.pem"), 0, 0o644)

    def test_maps_keep_owners_after_mailctl_as_root(self):
        uid = self.owner.pw_uid
        for args in (["user", "add", "bob@example.test"], ["domain", "add", "other.test"],
                     ["user", "add", "carol@other.test"], ["map", "build",
                                                           self.inst.path("domains")]):
            res = self.inst.ctl(*args)
            self.assertEqual(res.returncode, 0, res.stderr)
        set_password(self.inst, "bob@example.test", "bob secret")
        for name in ("passwd", "passwd.db"):
            self.assert_owned(self.inst.path(name), uid, 0o600)
        for name in ("domains", "domains.db", "mailboxes", "mailboxes.db"):
            self.assert_owned(self.inst.path(name), 0, 0o644)
        self.assert_owned(self.maildir("bob"), uid, 0o700)
        self.assert_owned(self.inst.path("mail", "other.test", "carol", "new"), uid, 0o700)
        # pop3d, as postern, reads the rewritten password map
        self.assertTrue(wait_for(lambda: self.pop_login("bob@example.test", "bob secret"), 10),
                        self.inst.log())

    def pop_login(self, user, password):
        pop = PopClient(self.pop3)
        try:
            return pop.stls().startswith("+OK") and pop.login(user, password).startswith("+OK")
        finally:
            pop.close()


class MailOwnerRoot(unittest.TestCase):
    """master refuses to run its children as root."""

    def setUp(self):
        self.inst = Instance()
        self.addCleanup(self.inst.cleanup)
        self.inst.set_mail_services()

    def test_refuses_mail_owner_root(self):
        self.inst.set_main("mail_owner", "root")
        res = self.inst.ctl("start")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("mail_owner root has user id 0: the services must never run as root",
                      res.stderr)
        self.assertEqual(self.inst.processes(), [])

    @unittest.skipUnless(ROOT, NOT_ROOT)
    def test_refuses_instance_mail_owner_cannot_reach(self):
        os.chmod(self.inst.dir, 0o700)
        res = self.inst.ctl("start")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("mail_owner postern cannot reach the configuration %s: directory %s "
                      "is not searchable by postern" % (self.inst.path("main.cf"),
                                                        self.inst.dir), res.stderr)
        self.assertEqual(self.inst.processes(), [])


if __name__ == "__main__":
    unittest.main()
