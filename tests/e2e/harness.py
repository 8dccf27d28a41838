"""harness.py: runs private Postern instances for the end-to-end tests.

An Instance lives in a fresh temporary directory, made by the real
`mailctl init`, runs as the current user on free loopback ports, and uses
the daemons of the build tree (through a daemon directory of symlinks).
Run as root (as CI does), `mailctl init` makes the instance's mail_owner
the unprivileged user postern and the daemons run as that user: the
instance directory is made searchable for it, the daemons are copies
outside the build tree (which may sit under /root), and what a test puts
into the queue or a Maildir must be given to it (inject, give).
Everything it starts is found again through /proc by its directory name,
so a test can check that nothing is left behind.

Sanitizers (configure --enable-sanitizers): importing this module points
ASan, LSan and UBSan of every program the test starts (daemons included,
which have no terminal) at report files in a directory of this test
process; a report there fails the test (Instance.cleanup, and at exit).
"""
import atexit
import base64
import glob
import hashlib
import hmac
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

BUILD = os.environ.get("POSTERN_BUILDDIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
MAILCTL = os.path.join(BUILD, "mailctl", "mailctl")
DAEMONS = {
    "master": os.path.join(BUILD, "master", "master"),
    "echod": os.path.join(BUILD, "tests", "echod"),
    "smtpd": os.path.join(BUILD, "smtpd", "smtpd"),
    "qmgr": os.path.join(BUILD, "qmgr", "qmgr"),
    "local": os.path.join(BUILD, "local", "local"),
    "smtp": os.path.join(BUILD, "smtp", "smtp"),
    "pop3d": os.path.join(BUILD, "pop3d", "pop3d"),
    "imapd": os.path.join(BUILD, "imapd", "imapd"),
}
QINJECT = os.path.join(BUILD, "tests", "qinject")
# The internal mail services every delivering instance runs (master.cf lines).
MAIL_SERVICES = [
    "qmgr unix - - n 300 1 qmgr",  # private/qmgr, as docs/internals.md says
    "local unix - - n - 4 local",
]


# One directory per test process for sanitizer reports (asan.PROGRAM.PID,
# ubsan.PROGRAM.PID); world-writable: daemons may run as another user.
SAN_DIR = tempfile.mkdtemp(prefix="postern-san-")
os.chmod(SAN_DIR, 0o1777)
# The leak suppressions, copied there so that a daemon running as another
# user can read them wherever the source tree is.
SAN_SUPP = os.path.join(SAN_DIR, "leaks.supp")
shutil.copyfile(os.path.join(os.environ.get("POSTERN_SRCDIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", ".."), "tests", "lsan.supp"), SAN_SUPP)
os.chmod(SAN_SUPP, 0o644)


def san_setup():
    """Sets ASAN/LSAN/UBSAN_OPTIONS for every child of this process: report
    to SAN_DIR, stop at the first error (abort, so master logs a signal),
    check leaks at exit. Options the caller already set come last and win."""
    common = "log_path=%s/%%s:abort_on_error=1:print_summary=1:log_exe_name=1" % SAN_DIR
    opts = {
        "ASAN_OPTIONS": (common % "asan") + ":detect_leaks=1:detect_stack_use_after_return=1",
        "UBSAN_OPTIONS": (common % "ubsan") + ":print_stacktrace=1:halt_on_error=1",
        "LSAN_OPTIONS": "suppressions=%s:print_suppressions=0" % SAN_SUPP,
    }
    for name, value in opts.items():
        old = os.environ.get(name)
        os.environ[name] = value + (":" + old if old else "")


def san_reports():
    """Text of every sanitizer report written so far (and removes them)."""
    out = []
    for path in sorted(glob.glob(os.path.join(SAN_DIR, "*san.*"))):
        try:
            with open(path, errors="replace") as f:
                out.append("== %s\n%s" % (os.path.basename(path), f.read()))
            os.unlink(path)
        except OSError:
            pass
    return "".join(out)


def san_check():
    """Raises AssertionError with the reports if any program reported."""
    text = san_reports()
    if text:
        raise AssertionError("sanitizer reports:\n" + text)


@atexit.register
def san_at_exit():
    """Reports written after the last check fail the whole test file."""
    text = san_reports()
    shutil.rmtree(SAN_DIR, ignore_errors=True)
    if text:
        sys.stderr.write("FAIL: sanitizer reports:\n" + text)
        sys.stderr.flush()
        os._exit(1)


san_setup()


# The outside tools the tests drive: name -> (Debian packages, check). A
# check gets the tool's path and answers whether it does what the tests need.
def _swaks_has_tls(path):
    res = subprocess.run([path, "--support"], capture_output=True, text=True, timeout=30)
    return "=== TLS supported" in res.stdout + res.stderr


TOOLS = {
    "curl": ("curl", None),
    "fetchmail": ("fetchmail", None),
    "openssl": ("openssl", None),
    "swaks": ("swaks", None),
    # swaks speaks TLS only with these Perl modules, which are merely
    # Recommends of the swaks package
    "swaks-tls": ("swaks libnet-ssleay-perl libio-socket-ssl-perl", _swaks_has_tls),
    # the small file systems of test_diskfull.py
    "mkfs.ext4": ("e2fsprogs", None),
    "losetup": ("util-linux", None),
    "mount": ("mount", None),
    # the DNS server of DnsServer (the binary only, no system service)
    "dnsmasq": ("dnsmasq-base", None),
    # test_imap_interop.py: an IMAP <-> Maildir synchroniser
    "mbsync": ("isync", None),
}


def require_tools(*names):
    """Called at the top of a test file for the tools it drives: if one is
    missing, the whole file fails at once (exit status 99, a hard error
    for make check) naming the Debian packages to install; never a skip."""
    missing = []
    for name in names:
        packages, check = TOOLS[name]
        path = shutil.which(name.split("-")[0])
        if path is None or (check is not None and not check(path)):
            missing.append((name, packages))
    if missing:
        for name, packages in missing:
            print("%s: the tests need %s: apt-get install %s (or run ./install-deps test)"
                  % (os.path.basename(sys.argv[0]), name, packages), file=sys.stderr)
        sys.exit(99)


ROOT = os.geteuid() == 0
_daemon_copies = {}


def daemon_paths():
    """The daemons an instance runs: the build tree's, or under root copies
    in a directory any user can read, made once per test process (the
    daemons run as mail_owner, who may not reach the build tree)."""
    if not ROOT:
        return DAEMONS
    if not _daemon_copies:
        where = tempfile.mkdtemp(prefix="postern-e2e-bin-")
        os.chmod(where, 0o755)
        atexit.register(shutil.rmtree, where, True)
        for name, path in DAEMONS.items():
            if os.path.exists(path):
                shutil.copy2(path, os.path.join(where, name))
            _daemon_copies[name] = os.path.join(where, name)
    return _daemon_copies


def free_port():
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=5.0, step=0.02):
    """Polls predicate until it returns something true; returns it or None."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(step)


class Session:
    """A line-oriented client connection to an echod service."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")
        self.greeting = self.readline()

    def readline(self):
        return self.file.readline().decode("utf-8", "replace").rstrip("\r\n")

    def ask(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.readline()

    def pid(self):
        return int(self.ask("PID").split()[1])

    def close(self):
        self.file.close()
        self.sock.close()


class Instance:
    """A private instance: init, configure services, start, stop, clean up."""

    def __init__(self, base=None, domain="example.test"):
        """base: the directory to make the instance in (e.g. a small file
        system a test mounted); the system's temporary directory if None.
        domain: the hosted domain mailctl init makes (with demo@domain)."""
        self.dir = tempfile.mkdtemp(prefix="postern-e2e-", dir=base)
        if ROOT:
            os.chmod(self.dir, 0o711)  # mail_owner must reach etc/ below it
        self.daemon_dir = os.path.join(self.dir, "libexec")
        os.mkdir(self.daemon_dir)
        for name, path in daemon_paths().items():
            os.symlink(path, os.path.join(self.daemon_dir, name))
        res = self.mailctl("init", os.path.join(self.dir, "etc"), "--daemon-dir",
                           self.daemon_dir, "--domain", domain,
                           "--port-base", "0")
        if res.returncode != 0:
            raise RuntimeError("mailctl init failed: " + res.stderr)
        self.config_dir = os.path.join(self.dir, "etc")
        self.set_main("service_stop_timeout", "5s")
        # no DNS round trip per session unless a test asks for one: the
        # system's resolver may be slow or absent here (DnsServer)
        self.set_main("smtpd_peername_lookup", "no")
        # nor an SPF check per message (test_authres.py turns it on)
        self.set_main("smtpd_spf_policy", "off")
        self.services = {}

    # --- configuration --------------------------------------------------
    def path(self, *parts):
        return os.path.join(self.config_dir, *parts)

    def set_main(self, key, value):
        res = self.ctl("config", "set", "%s=%s" % (key, value))
        if res.returncode != 0:
            raise RuntimeError(res.stderr)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)

    def set_services(self, services):
        """services: {port: (maxproc, command+args)}; writes master.cf."""
        self.services = dict(services)
        lines = ["# written by the e2e harness"]
        for port, (maxproc, command) in services.items():
            lines.append("127.0.0.1:%d inet n - n - %s %s" % (port, maxproc, command))
        self.write("master.cf", "\n".join(lines) + "\n")

    def set_master_cf(self, lines):
        """Writes master.cf from whole service lines of any type, e.g.
        "submit unix n - n - - smtpd -o smtpd_service=local"."""
        self.write("master.cf", "# written by the e2e harness\n" + "\n".join(lines) + "\n")

    def set_mail_services(self, extra_lines=()):
        """Writes master.cf with the standard mail services (qmgr, local)
        plus extra_lines (e.g. an smtpd service line)."""
        self.set_master_cf(MAIL_SERVICES + list(extra_lines))

    def owner(self):
        """(uid, gid) of the instance's mail_owner when the tests run as
        root (the daemons run as that user), else None."""
        if not ROOT:
            return None
        with open(self.path("main.cf")) as f:
            for line in f:
                key, _, value = line.partition("=")
                if key.strip() == "mail_owner":
                    pw = pwd.getpwnam(value.strip())
                    return (pw.pw_uid, pw.pw_gid)
        raise RuntimeError("no mail_owner in main.cf")

    def give(self, *paths):
        """Under root, gives files and trees a test made in the queue or a
        Maildir to mail_owner, as the daemons would have made them."""
        ids = self.owner()
        for top in paths if ids else ():
            os.lchown(top, *ids)
            for where, dirs, files in os.walk(top):
                for name in [where] + [os.path.join(where, n) for n in dirs + files]:
                    os.lchown(name, *ids)

    def as_owner(self):
        """A preexec_fn for subprocess that runs a helper as mail_owner under
        root (None otherwise)."""
        ids = self.owner()
        if ids is None:
            return None

        def drop():
            os.setgroups([ids[1]])
            os.setgid(ids[1])
            os.setuid(ids[0])
        return drop

    def inject(self, sender, rcpts, text, *options):
        """Queues a message with tests/qinject (as smtpd would, as mail_owner
        under root) and triggers qmgr; returns the queue ID."""
        res = subprocess.run([QINJECT] + list(options) + [self.path("queue"), sender]
                             + list(rcpts), input=text.encode(), capture_output=True,
                             timeout=30, preexec_fn=self.as_owner())
        if res.returncode != 0:
            raise RuntimeError("qinject failed: %s" % res.stderr.decode())
        return res.stdout.decode().strip()

    def build_map(self, name, text):
        """Writes the text map etc/NAME and builds NAME.db (mailctl map build)."""
        self.write(name, text)
        res = self.ctl("map", "build", self.path(name))
        if res.returncode != 0:
            raise RuntimeError("map build %s failed: %s" % (name, res.stderr))

    def queue_files(self, sub="incoming"):
        """Names of the queue files in queue/SUB (sorted)."""
        try:
            return sorted(os.listdir(self.path("queue", sub)))
        except OSError:
            return []

    # --- mailboxes and queue, as a relay test reads them ----------------
    def maildir_files(self, address):
        """Paths of the messages in the Maildir of a user of a hosted
        domain (new/ and cur/, sorted)."""
        local, _, domain = address.partition("@")
        base = os.path.join(self.config_dir, "mail", domain.lower(), local)
        found = []
        for sub in ("new", "cur"):
            d = os.path.join(base, sub)
            if os.path.isdir(d):
                found += [os.path.join(d, n) for n in sorted(os.listdir(d))]
        return found

    def messages(self, address):
        """The messages in address's Maildir, parsed by Python's email
        package (policy default)."""
        import email
        import email.policy
        out = []
        for path in self.maildir_files(address):
            with open(path, "rb") as f:
                out.append(email.message_from_binary_file(f, policy=email.policy.default))
        return out

    def queue_json(self, *filters):
        """`mailctl queue list --json` parsed: {queue_id: object}."""
        import json
        res = self.ctl("queue", "list", "--json", *filters)
        if res.returncode != 0:
            raise RuntimeError("queue list --json: %s" % res.stderr)
        return {m["queue_id"]: m for m in (json.loads(line) for line in res.stdout.splitlines())}

    def queue_why(self, qid):
        """`mailctl queue why QID` parsed (parse_queue_why), or None when
        the message is not in the queue."""
        res = self.ctl("queue", "why", qid)
        if res.returncode != 0:
            return None
        return parse_queue_why(res.stdout)

    def wait_log(self, text, timeout=20):
        """True once text appears in the instance's log."""
        return bool(wait_for(lambda: text in self.log(), timeout, 0.05))

    def removed(self, qid):
        """True when the log says qid left the queue."""
        return ("%s: removed" % qid) in self.log()

    # --- commands -------------------------------------------------------
    def mailctl(self, *args, timeout=60):
        return subprocess.run([MAILCTL] + list(args), capture_output=True, text=True,
                              timeout=timeout)

    def ctl(self, *args, timeout=60):
        return self.mailctl("-c", self.config_dir, *args, timeout=timeout)

    def start(self):
        res = self.ctl("start")
        if res.returncode != 0:
            raise RuntimeError("start failed: %s%s" % (res.stdout, res.stderr))
        return res

    def stop(self):
        return self.ctl("stop")

    def master_pid(self):
        try:
            with open(self.path("queue", "pid", "master.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return 0

    def processes(self):
        """pids of every live process started for this instance."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    cmdline = f.read().decode("utf-8", "replace")
                with open("/proc/%s/stat" % entry) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if self.config_dir in cmdline and state != "Z" and int(entry) != os.getpid():
                found.append(int(entry))
        return found

    def describe_processes(self):
        """pid, state, kernel wait channel and command line of every process
        of the instance, one a line: for the message of a failed wait."""
        lines = []
        for pid in self.processes():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                with open("/proc/%d/wchan" % pid) as f:
                    wchan = f.read().strip()
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            lines.append("%d %s %s %s" % (pid, state, wchan, cmdline))
        return "\n".join(lines)

    def describe_sockets(self, pid):
        """What a stalled process waits for: each epoll set's registered fds
        with their event masks (/proc/PID/fdinfo), and each TCP socket's
        send and receive queues (/proc/net/tcp*), for a failed wait."""
        queues = {}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    for row in f.read().splitlines()[1:]:
                        col = row.split()
                        queues[col[9]] = "%s -> %s st %s tx:rx %s" % (col[1], col[2], col[3], col[4])
            except OSError:
                pass
        lines = []
        fd_dir = "/proc/%d/fd" % pid
        try:
            fds = sorted(os.listdir(fd_dir), key=int)
        except OSError:
            return "(no /proc/%d)" % pid
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                inode = target[8:-1]
                lines.append("fd %s %s %s" % (fd, target, queues.get(inode, "")))
            elif "eventpoll" in target:
                try:
                    with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                        watched = [ln for ln in f.read().splitlines() if ln.startswith("tfd:")]
                except OSError:
                    watched = []
                lines.append("fd %s epoll: %s" % (fd, "; ".join(watched)))
        return "\n".join(lines)

    def log(self):
        try:
            with open(os.path.join(self.dir, "etc", "log", "maillog")) as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        if self.master_pid() and self.processes():
            self.stop()
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
        san_check()


def reverse_name(address):
    """The PTR name of an IPv4 or IPv6 address (in-addr.arpa, ip6.arpa)."""
    import ipaddress
    return ipaddress.ip_address(address).reverse_pointer


class DnsServer:
    """A real DNS server for a test: dnsmasq (require_tools("dnsmasq")) on
    127.0.0.1 and a free port, answering only the records given, started
    at once and stopped by stop() (or at the end of a with block).

    records: tuples ("A"|"AAAA", name, address), ("MX", domain, host,
    preference), ("TXT", name, text), ("PTR", address, name), ("CNAME",
    alias, target), ("NULLMX", domain), or a raw dnsmasq option string
    ("--..."). An A/AAAA record also answers the PTR of its address (as
    dnsmasq's --host-record does): give a PTR alone for an address whose
    name must not confirm. Names under the domains of `local` that have no
    record are NXDOMAIN; names elsewhere are REFUSED (a temporary failure
    for the resolver). ttl: of every answer. `servers` is the value for
    main.cf's dns_servers."""

    DNSMASQ = "/usr/sbin/dnsmasq"

    def __init__(self, records=(), local=("example.net", "example.com", "example.org"),
                 ttl=60):
        self.options = ["--local=/%s/" % d for d in local]
        self.options.append("--local-ttl=%d" % ttl)
        for rec in records:
            self.options.append(self._option(rec))
        self.proc = None
        self.port = None
        self.logfile = tempfile.NamedTemporaryFile(prefix="postern-dnsmasq-", suffix=".log")
        for _ in range(5):  # a free port may be taken again before dnsmasq binds it
            if self._start(free_port()):
                return
        raise RuntimeError("dnsmasq did not start: " + self.log())

    @staticmethod
    def _option(rec):
        if isinstance(rec, str):
            return rec
        kind = rec[0].upper()
        if kind in ("A", "AAAA"):
            return "--host-record=%s,%s" % (rec[1], rec[2])
        if kind == "MX":
            return "--mx-host=%s,%s,%d" % (rec[1], rec[2], rec[3])
        if kind == "NULLMX":
            return "--mx-host=%s,.,0" % rec[1]
        if kind == "TXT":
            return "--txt-record=%s,%s" % (rec[1], rec[2])
        if kind == "PTR":
            return "--ptr-record=%s,%s" % (reverse_name(rec[1]), rec[2])
        if kind == "CNAME":
            return "--cname=%s,%s" % (rec[1], rec[2])
        raise ValueError("unknown record %r" % (rec,))

    def _start(self, port):
        argv = [self.DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null", "--pid-file=",
                "--no-resolv", "--no-hosts", "--bind-interfaces",
                "--listen-address=127.0.0.1", "--port=%d" % port, "--log-queries",
                "--log-facility=-"]
        if ROOT:
            argv.append("--user=root")  # no need to drop to nobody for a test
        self.proc = subprocess.Popen(argv + self.options, stdout=self.logfile,
                                     stderr=subprocess.STDOUT)
        self.port = port
        if wait_for(lambda: self.proc.poll() is not None or port_open(port)) and \
                self.proc.poll() is None:
            return True
        self.stop()
        return False

    @property
    def servers(self):
        return "127.0.0.1:%d" % self.port

    def log(self):
        with open(self.logfile.name, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self.logfile.close()


class SmtpClient:
    """A raw SMTP client over TCP or a Unix socket: send bytes, read whole
    (multi-line) replies as (code, [text lines]); the socket can be wrapped
    in TLS later (STARTTLS)."""

    def __init__(self, port=None, path=None, timeout=5.0, tls_context=None):
        if path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls_context is not None:
            self.sock = tls_context.wrap_socket(self.sock)
        self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def reply(self):
        """(code, [text lines]) of the next reply; (0, []) at EOF."""
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

    def starttls(self, tls_context):
        self.file.close()
        self.sock = tls_context.wrap_socket(self.sock)
        self.file = self.sock.makefile("rb")

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class InstanceCase(unittest.TestCase):
    """A test class with one private instance for all its tests:
    setUpClass makes it and calls the class's configure() (which sets it up
    and starts it); a failure there, and tearDownClass, clean it up."""

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
        pass

    @classmethod
    def tearDownClass(cls):
        cls.inst.cleanup()


def client_tls_context():
    """A client TLS context that accepts the instance's self-signed
    certificate (mailctl init makes it)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def b64(data):
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def set_password(inst, user, password, *opts):
    """mailctl user passwd USER (password on stdin)."""
    res = subprocess.run([MAILCTL, "-c", inst.config_dir, "user", "passwd", user] + list(opts),
                         input=password + "\n", capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise RuntimeError(res.stderr)


class ScramClient:
    """The client side of SCRAM-SHA-256 (RFC 5802 / RFC 7677), without
    channel binding: first() -> server-first -> final() -> server-final ->
    verify()."""

    def __init__(self, user, password, cnonce="rOprNGfwEbeRWgbNEkqO"):
        self.user, self.password = user, password
        self.first_bare = "n=%s,r=%s" % (user, cnonce)
        self.cnonce = cnonce

    def first(self):
        return b64("n,," + self.first_bare)

    def final(self, server_first_b64):
        self.server_first = base64.b64decode(server_first_b64).decode()
        fields = dict(f.split("=", 1) for f in self.server_first.split(","))
        if not fields["r"].startswith(self.cnonce):
            raise ValueError("server nonce does not extend ours")
        self.salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(),
                                          base64.b64decode(fields["s"]), int(fields["i"]))
        client_key = hmac.new(self.salted, b"Client Key", "sha256").digest()
        stored = hashlib.sha256(client_key).digest()
        final_bare = "c=biws,r=" + fields["r"]
        self.auth_msg = ",".join([self.first_bare, self.server_first, final_bare]).encode()
        sig = hmac.new(stored, self.auth_msg, "sha256").digest()
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        return b64(final_bare + ",p=" + b64(proof))

    def verify(self, server_final_b64):
        server_key = hmac.new(self.salted, b"Server Key", "sha256").digest()
        expect = b64(hmac.new(server_key, self.auth_msg, "sha256").digest())
        return base64.b64decode(server_final_b64).decode() == "v=" + expect


class PopClient:
    """A raw POP3 client: one-line replies as text, multi-line answers as
    raw bytes (to check sizes and byte-stuffing exactly)."""

    def __init__(self, port, tls=False, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            self.sock = client_tls_context().wrap_socket(self.sock)
        self.file = self.sock.makefile("rb")
        self.greeting = self.line()

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def line(self):
        """The next line without CRLF ("" at EOF)."""
        return self.file.readline().decode("utf-8", "replace").rstrip("\r\n")

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.line()

    def multi(self):
        """The raw bytes of a multi-line body up to (not including) the
        terminating ".CRLF"; None at EOF."""
        data = b""
        while True:
            line = self.file.readline()
            if not line:
                return None
            if line == b".\r\n":
                return data
            data += line

    def stls(self):
        reply = self.cmd("STLS")
        if reply.startswith("+OK"):
            self.file.close()
            self.sock = client_tls_context().wrap_socket(self.sock)
            self.file = self.sock.makefile("rb")
        return reply

    def login(self, user, password):
        self.cmd("USER " + user)
        return self.cmd("PASS " + password)

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass


def parse_queue_why(text):
    """The text of `mailctl queue why QID` as a dict: queue_id, queue
    (deferred, hold, ...), next_attempt (the text after "next attempt at",
    or None), header (the first line), notes (other lines of the message),
    rcpts {address: {"state", "status", "reason", "details": [lines under
    it], "fields": {key: value} from its detail lines "relay: H[A]:P, TLS:
    ..." (keys in lower case)}} and text (all of it)."""
    import re
    lines = text.splitlines()
    out = {"text": text, "queue_id": None, "queue": None, "next_attempt": None,
           "header": lines[0] if lines else "", "notes": [], "rcpts": {}}
    if lines:
        qid, _, rest = lines[0].partition(": ")
        out["queue_id"] = qid
        m = re.match(r"in (\w+)/", rest)
        out["queue"] = m.group(1) if m else None
        m = re.search(r"next attempt at ([^,]+)", rest)
        out["next_attempt"] = m.group(1).strip() if m else None
    current = None
    for line in lines[1:]:
        depth = len(line) - len(line.lstrip(" "))
        body = line.strip()
        m = re.match(r"(\S+@\S+|\S+): (pending|delivered|failed[^:]*|bounced|[a-z ,]+?)"
                     r"(?:: (\d\.\d{1,3}\.\d{1,3}) (.*)|( .*)?)$", body)
        if depth <= 2 and m:
            current = {"state": m.group(2), "status": m.group(3),
                       "reason": m.group(4) if m.group(3) else (m.group(5) or "").strip(),
                       "details": [], "fields": {}}
            out["rcpts"][m.group(1)] = current
        elif current is not None and depth > 2:
            current["details"].append(body)
            for item in body.split(", "):
                key, sep, value = item.partition(": ")
                if sep and re.match(r"^[A-Za-z_]+$", key):
                    current["fields"].setdefault(key.lower(), value)
        else:
            out["notes"].append(body)
    return out


def loopback_address(port, taken=()):
    """A random loopback address 127.x.y.z (x in 100..199) where nothing
    listens on port and that we can bind: the relay tests give each
    server (instances, fake servers) its own, on one port (25 as MX
    lookups need), without clashing with another test run."""
    import random
    for _ in range(200):
        addr = "127.%d.%d.%d" % (random.randint(100, 199), random.randint(0, 255),
                                 random.randint(2, 254))
        if addr in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind((addr, port))
            except OSError:
                continue
        return addr
    raise RuntimeError("no free loopback address for port %d" % port)


class RelayNet:
    """The network of a relay test: loopback addresses handed out for the
    servers, the port every "remote" SMTP server listens on (25 when run
    as root, as MX delivery needs; else one free port, and every instance
    gets a transport_maps entry "D smtp:D:PORT" for each domain given to
    route(), an MX lookup all the same), and one DnsServer for all of
    them, started by start_dns() with the records collected by add()."""

    def __init__(self, local=("example.net", "example.com", "example.org")):
        self.port = self._port()
        self.local = local
        self.records = []
        self.domains = []
        self.taken = set()
        self.dns = None

    @staticmethod
    def _port():
        """25 when we may bind it on loopback addresses (root, and no
        wildcard listener on 25), else a free port; POSTERN_RELAY_PORT=N
        forces N (0: a free port)."""
        forced = os.environ.get("POSTERN_RELAY_PORT")
        if forced is not None:
            return int(forced) or free_port()
        if ROOT:
            try:
                loopback_address(25)
                return 25
            except RuntimeError:
                pass
        return free_port()

    def address(self):
        addr = loopback_address(self.port, self.taken)
        self.taken.add(addr)
        return addr

    def add(self, *records):
        self.records += list(records)

    def route(self, *domains):
        """Domains the sending instance reaches by MX (see the class)."""
        self.domains += list(domains)

    def start_dns(self, ttl=60):
        self.dns = DnsServer(self.records, local=self.local, ttl=ttl)
        return self.dns

    def stop(self):
        if self.dns is not None:
            self.dns.__exit__()
            self.dns = None


# master.cf line of the outbound SMTP client (issue 13 contract)
SMTP_SERVICE = "smtp unix - - n - %s smtp"


def relay_instance(net, addr, domain, users=("alice",), main=None, smtpd_args="",
                   port=None, extra_services=(), smtp_maxproc="-", also_hosts=()):
    """An Instance (not started) hosting domain (and the domains of
    also_hosts) with a mailbox for each of users in domain, its smtpd on
    addr:port (net.port by default) with smtpd_args,
    the mail services plus the smtp client (maxproc smtp_maxproc),
    dns_servers pointing at net.dns, myhostname mail.DOMAIN, and the main
    keys given. mynetworks stays 127.0.0.0/8 (mailctl init), so every
    loopback client may relay through it."""
    inst = Instance(domain=domain)
    try:
        inst.addr, inst.domain = addr, domain
        inst.smtp_port = port or net.port
        inst.set_main("myhostname", "mail." + domain)
        inst.set_main("inet_interfaces", addr)
        inst.set_main("smtpd_error_sleep_time", "0")
        if net.dns is not None:
            inst.set_main("dns_servers", net.dns.servers)
        for other in also_hosts:
            res = inst.ctl("domain", "add", other)
            if res.returncode != 0:
                raise RuntimeError("domain add: " + res.stderr)
        for user in users:
            res = inst.ctl("user", "add", "%s@%s" % (user, domain))
            if res.returncode != 0:
                raise RuntimeError("user add: " + res.stderr)
        # never a route for a domain it hosts: the mail would loop
        routed = [d for d in net.domains if d != domain and d not in also_hosts]
        if net.port != 25 and routed:
            inst.build_map("relay_transport", "".join(
                "%s smtp:%s:%d\n" % (d, d, net.port) for d in routed))
            inst.set_main("transport_maps", "hash:" + inst.path("relay_transport"))
        for key, value in (main or {}).items():
            inst.set_main(key, value)
        inst.set_mail_services([SMTP_SERVICE % smtp_maxproc,
                                "%s:%d inet n - n - - smtpd %s" % (addr, inst.smtp_port,
                                                                   smtpd_args)]
                               + list(extra_services))
        return inst
    except Exception:
        inst.cleanup()
        raise


def start_with_dns(instances, servers):
    """Points each instance's resolver at servers (dns_servers) and starts
    it as start_relay_instance does."""
    for inst in instances:
        inst.set_main("dns_servers", servers)
        start_relay_instance(inst)


def cleanup_all(instances, *stoppable):
    """Cleans up every instance that was made, then stops the rest (a
    test network or DNS server)."""
    for inst in instances:
        if inst is not None:
            inst.cleanup()
    for thing in stoppable:
        thing.stop()


def start_relay_instance(inst, timeout=20):
    """Starts inst and waits for its smtpd and its qmgr socket."""
    inst.start()
    if not wait_for(lambda: port_open(inst.smtp_port, inst.addr), timeout):
        raise RuntimeError("smtpd on %s:%d did not come up: %s"
                           % (inst.addr, inst.smtp_port, inst.log()))
    if not wait_for(lambda: os.path.exists(inst.path("queue", "private", "qmgr")), timeout):
        raise RuntimeError("qmgr did not come up: %s" % inst.log())
