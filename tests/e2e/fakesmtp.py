"""fakesmtp.py: a scriptable fake SMTP server for the relay tests.

FakeSmtp listens on a given loopback address and port (a thread that
accepts, a thread per connection) and plays a well-behaved ESMTP server
that records what it was sent, unless told to misbehave at one stage of
the dialogue: garbage instead of a reply, a reply line that never ends,
a multi-line reply that never finishes, replies trickled one byte a
second, a connection closed (mid-DATA too) or left hanging. Every
recorded session says whether TLS and AUTH were used, and each mail
transaction keeps its envelope (with ESMTP parameters) and its content.

    fake = FakeSmtp("127.45.6.7", 25, replies={"greeting": HANG})
    ...
    fake.stop()

Stages: greeting, ehlo, helo, starttls, auth, mail, rcpt, data, dot,
rset, noop, quit. A reply is the text of a reply ("250 2.1.0 Ok"; lines
separated by newlines make a multi-line reply) or one of the
misbehaviours below. `rcpt` maps a recipient address (lower case) to its
own RCPT reply, `close_mid_data` closes the connection after the first
chunk of message content, `close_after_dot` right after the reply to the
final dot (no QUIT awaited)."""
import base64
import socket
import ssl
import subprocess
import threading
import time

# misbehaviours, usable wherever a reply is expected
GARBAGE = "garbage"     # a line that is no SMTP reply, then waits
NOEOL = "noeol"         # the start of a reply line without CRLF, then waits
LONGLINE = "longline"   # a reply line of 200 KB and no CRLF, then waits
ENDLESS = "endless"     # "250-..." continuation lines, never a last line
SLOW = "slow"           # the normal reply, one byte a second
CLOSE = "close"         # closes the connection instead of answering
HANG = "hang"           # never answers, keeps the connection open
BAD = (GARBAGE, NOEOL, LONGLINE, ENDLESS, SLOW, CLOSE, HANG)

MAX_LINE = 65536


class Transaction:
    """One MAIL FROM ... with its recipients and (when it got so far) its
    content with dot-stuffing undone."""

    def __init__(self, sender, params):
        self.sender = sender
        self.params = params          # {"SIZE": "123", "SMTPUTF8": None, ...}
        self.rcpts = []               # [(address, params)] every RCPT TO sent
        self.accepted = []            # addresses answered 2xx
        self.data = None              # bytes, once the final dot arrived
        self.done = False             # the final dot was answered 2xx

    def __repr__(self):
        return "Transaction(%r -> %r, done=%r)" % (self.sender, self.accepted, self.done)


class Session:
    """One connection: what the client said and did."""

    def __init__(self, peer):
        self.peer = peer
        self.helo = None
        self.tls = None               # TLS version once STARTTLS succeeded
        self.sni = None
        self.auth = None              # user name once AUTH succeeded
        self.commands = []            # every command line (text), in order
        self.transactions = []
        self.closed = False


class _Closed(Exception):
    pass


def _param_dict(words):
    params = {}
    for word in words:
        key, eq, value = word.partition("=")
        params[key.upper()] = value if eq else None
    return params


def _path(arg):
    """The address inside <...> of "FROM:<a@b> PARAMS" (and the params)."""
    _, _, rest = arg.partition(":")
    rest = rest.strip()
    if rest.startswith("<"):
        end = rest.find(">")
        if end < 0:
            return rest[1:], []
        return rest[1:end], rest[end + 1:].split()
    words = rest.split()
    return (words[0] if words else ""), words[1:]


class FakeSmtp:
    def __init__(self, addr="127.0.0.1", port=0, name="fake.example.net", replies=None,
                 rcpt=None, starttls=None, smtputf8=True, dsn=False, pipelining=True,
                 size=None, eightbitmime=True, auth=None, auth_needs_tls=True,
                 ehlo=True, close_mid_data=False, close_after_dot=False, hooks=None):
        """starttls: None (not offered) or (cert file, key file); auth: {user:
        password} offers AUTH PLAIN LOGIN (only after STARTTLS if
        auth_needs_tls); ehlo=False answers EHLO 502 (HELO works); hooks:
        {stage: function(session)} called just before the reply of that stage
        is sent (e.g. to stop a process of the client side first)."""
        self.name = name
        self.replies = dict(replies or {})
        self.rcpt_replies = {k.lower(): v for k, v in (rcpt or {}).items()}
        self.smtputf8, self.dsn, self.pipelining = smtputf8, dsn, pipelining
        self.size, self.eightbitmime, self.ehlo_ok = size, eightbitmime, ehlo
        self.auth_users, self.auth_needs_tls = auth, auth_needs_tls
        self.close_mid_data = close_mid_data
        self.close_after_dot = close_after_dot
        self.hooks = dict(hooks or {})
        self.hook_errors = []
        self.tls_ctx = None
        if starttls is not None:
            self.tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls_ctx.load_cert_chain(*starttls)
            self.tls_ctx.sni_callback = self._sni
        self.sessions = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.queued = 0
        self.conns = []
        self.threads = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((addr, port))
        self.listener.listen(64)
        self.addr, self.port = self.listener.getsockname()
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self.threads.append(t)

    # --- what the tests look at --------------------------------------------
    def transactions(self, done_only=True):
        with self.lock:
            return [t for s in self.sessions for t in s.transactions if t.done or not done_only]

    def wait_sessions(self, n=1, timeout=20.0):
        """True once at least n connections were accepted."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.sessions) >= n:
                    return True
            time.sleep(0.02)
        return False

    def open_sessions(self):
        with self.lock:
            return [s for s in self.sessions if not s.closed]

    def stop(self):
        self.stopping.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass
        for t in self.threads:
            t.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # --- the server ---------------------------------------------------------
    def _sni(self, sslobj, server_name, ctx):
        sslobj.fake_sni = server_name

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                conn, peer = self.listener.accept()
            except OSError:
                return
            session = Session(peer)
            with self.lock:
                if self.stopping.is_set():
                    conn.close()
                    return
                self.sessions.append(session)
                self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn, session), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, conn, session):
        io = _Conn(conn, self.stopping)
        io.session = session
        try:
            self._dialogue(io, session)
        except (_Closed, OSError, ssl.SSLError, ValueError):
            pass
        finally:
            session.closed = True
            io.close()

    def _reply(self, io, stage, default):
        """Sends the reply of stage (configured or default); False when the
        configured reply was a misbehaviour (the dialogue is over)."""
        reply = self.replies.get(stage, default)
        if stage in self.hooks:
            try:
                self.hooks[stage](io.session)
            except Exception as e:  # shown by the test that set the hook
                self.hook_errors.append("%s: %r" % (stage, e))
        if reply in BAD:
            return self._misbehave(io, reply, default)
        io.send_reply(reply)
        return True

    def _misbehave(self, io, how, normal):
        """Plays how instead of the reply normal: True when the dialogue
        goes on (SLOW sent the whole reply), else raises _Closed."""
        if how == CLOSE:
            raise _Closed()
        if how == GARBAGE:
            io.send(b"\x00\x7f this is no SMTP reply \xff\xfe\r\n")
        elif how == NOEOL:
            io.send(normal.split("\n")[0][:3].encode() + b" the line goes on and on")
        elif how == LONGLINE:
            io.send(b"250 " + b"x" * 200000)
        elif how == ENDLESS:
            n = 0
            while not self.stopping.is_set():
                io.send(b"250-continued line %d of a reply that never ends\r\n" % n)
                n += 1
                self.stopping.wait(0.02)
            raise _Closed()
        elif how == SLOW:
            for byte in _reply_bytes(normal):
                io.send(bytes([byte]))
                if self.stopping.wait(1.0):
                    raise _Closed()
            return True
        # then wait (HANG and the others) until the client gives up
        io.wait_eof()
        raise _Closed()

    def _ehlo_lines(self, io):
        lines = ["%s Hello" % self.name]
        if self.pipelining:
            lines.append("PIPELINING")
        if self.size is not None:
            lines.append("SIZE %d" % self.size)
        if self.eightbitmime:
            lines.append("8BITMIME")
        if self.tls_ctx is not None and not io.tls:
            lines.append("STARTTLS")
        if self.auth_users is not None and (io.tls or not self.auth_needs_tls):
            lines.append("AUTH PLAIN LOGIN")
        if self.dsn:
            lines.append("DSN")
        if self.smtputf8:
            lines.append("SMTPUTF8")
        lines.append("ENHANCEDSTATUSCODES")
        return "\n".join("250 " + line for line in lines)

    def _dialogue(self, io, session):
        greeting = "220 %s ESMTP fake" % self.name
        if not self._reply(io, "greeting", greeting):
            return
        if self.replies.get("greeting", greeting)[:3] == "421":
            return
        txn = None
        while True:
            line = io.readline()
            session.commands.append(line)
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                session.helo = arg
                if not self.ehlo_ok:
                    io.send_reply("502 5.5.2 EHLO not understood")
                    continue
                if not self._reply(io, "ehlo", self._ehlo_lines(io)):
                    return
            elif verb == "HELO":
                session.helo = arg
                if not self._reply(io, "helo", "250 %s" % self.name):
                    return
            elif verb == "STARTTLS" and self.tls_ctx is not None and not io.tls:
                if not self._reply(io, "starttls", "220 2.0.0 Ready to start TLS"):
                    return
                io.starttls(self.tls_ctx)
                session.tls = io.sock.version()
                session.sni = getattr(io.sock, "fake_sni", None)
                txn = None
            elif verb == "AUTH" and self.auth_users is not None:
                user = self._auth(io, arg)
                if user is None:
                    io.send_reply("535 5.7.8 Authentication failed")
                    continue
                if not self._reply(io, "auth", "235 2.7.0 Authentication successful"):
                    return
                session.auth = user
            elif verb == "MAIL":
                sender, words = _path(arg)
                txn = Transaction(sender, _param_dict(words))
                session.transactions.append(txn)
                if not self._reply(io, "mail", "250 2.1.0 Ok"):
                    return
            elif verb == "RCPT":
                if txn is None:
                    io.send_reply("503 5.5.1 Error: need MAIL command")
                    continue
                address, words = _path(arg)
                txn.rcpts.append((address, _param_dict(words)))
                reply = self.rcpt_replies.get(address.lower(),
                                              self.replies.get("rcpt", "250 2.1.5 Ok"))
                if reply in BAD:
                    self._misbehave(io, reply, "250 2.1.5 Ok")  # returns after SLOW only
                    txn.accepted.append(address)
                    continue
                if reply.startswith("2"):
                    txn.accepted.append(address)
                io.send_reply(reply)
            elif verb == "DATA":
                if txn is None or not txn.accepted:
                    io.send_reply("554 5.5.1 Error: no valid recipients")
                    continue
                if not self._reply(io, "data", "354 End data with <CR><LF>.<CR><LF>"):
                    return
                if self.close_mid_data:
                    io.read_some()
                    raise _Closed()
                txn.data = io.read_data()
                with self.lock:
                    self.queued += 1
                    qid = "FAKE%04d" % self.queued
                dot = "250 2.0.0 Ok: queued as %s" % qid
                if not self._reply(io, "dot", dot):
                    return
                txn.done = self.replies.get("dot", dot).startswith("2")
                txn = None
                if self.close_after_dot:
                    raise _Closed()
            elif verb == "RSET":
                txn = None
                if not self._reply(io, "rset", "250 2.0.0 Ok"):
                    return
            elif verb == "NOOP":
                if not self._reply(io, "noop", "250 2.0.0 Ok"):
                    return
            elif verb == "QUIT":
                self._reply(io, "quit", "221 2.0.0 Bye")
                return
            else:
                io.send_reply("502 5.5.2 Error: command not recognized")

    def _auth(self, io, arg):
        """The user name after a successful AUTH PLAIN / LOGIN, else None."""
        words = arg.split()
        mech = words[0].upper() if words else ""
        try:
            if mech == "PLAIN":
                blob = words[1] if len(words) > 1 else None
                if blob is None:
                    io.send_reply("334 ")
                    blob = io.readline()
                parts = base64.b64decode(blob).split(b"\0")
                user, password = parts[1].decode(), parts[2].decode()
            elif mech == "LOGIN":
                if len(words) > 1:
                    user = base64.b64decode(words[1]).decode()
                else:
                    io.send_reply("334 VXNlcm5hbWU6")
                    user = base64.b64decode(io.readline()).decode()
                io.send_reply("334 UGFzc3dvcmQ6")
                password = base64.b64decode(io.readline()).decode()
            else:
                return None
        except (ValueError, IndexError, UnicodeDecodeError):
            return None
        if self.auth_users.get(user) == password:
            return user
        return None


def _reply_bytes(text):
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        sep = "-" if i < len(lines) - 1 else " "
        out.append(line[:3] + sep + line[4:] if len(line) > 3 else line)
    return ("\r\n".join(out) + "\r\n").encode()


class _Conn:
    """A socket with a line reader that survives STARTTLS."""

    def __init__(self, sock, stopping):
        self.sock = sock
        self.stopping = stopping
        self.buf = b""
        self.tls = False
        sock.settimeout(0.2)

    def _recv(self):
        while True:
            if self.stopping.is_set():
                raise _Closed()
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ssl.SSLWantReadError:
                continue
            if not data:
                raise _Closed()
            return data

    def readline(self):
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise _Closed()
            self.buf += self._recv()
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def read_some(self):
        if not self.buf:
            self.buf = self._recv()
        self.buf = b""

    def read_data(self):
        lines = []
        while True:
            while b"\n" not in self.buf:
                self.buf += self._recv()
            line, _, self.buf = self.buf.partition(b"\n")
            if line in (b".\r", b"."):
                return b"\n".join(lines) + (b"\n" if lines else b"")
            if line.startswith(b"."):
                line = line[1:]
            lines.append(line.rstrip(b"\r"))

    def wait_eof(self):
        """Reads and drops whatever comes until the client closes or the
        server stops."""
        try:
            while True:
                self._recv()
        except (_Closed, OSError):
            return

    def send(self, data):
        self.sock.sendall(data)

    def send_reply(self, text):
        self.send(_reply_bytes(text))

    def starttls(self, ctx):
        self.buf = b""  # what was pipelined before the handshake is dropped
        self.sock.settimeout(10)
        self.sock = ctx.wrap_socket(self.sock, server_side=True)
        self.sock.settimeout(0.2)
        self.tls = True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def make_cert(directory, name):
    """A self-signed certificate for name (CN and subjectAltName) made by
    openssl in directory: (cert file, key file)."""
    cert = "%s/%s.crt" % (directory, name)
    key = "%s/%s.key" % (directory, name)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=DNS:" + name, "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=30)
    return cert, key


class FakeDns:
    """A UDP DNS server on addr and a free port that answers every
    question SERVFAIL (mode "servfail") or never answers ("silent"); to
    reach it for one domain only, give the test's dnsmasq the option
    "--server=/DOMAIN/ADDR#PORT" (forwarding)."""

    def __init__(self, mode="servfail", addr="127.0.0.1"):
        self.mode = mode
        self.queries = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, 0))
        self.sock.settimeout(0.2)
        self.addr, self.port = self.sock.getsockname()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    @property
    def server_option(self):
        return "%s#%d" % (self.addr, self.port)

    def _loop(self):
        while not self.stopping.is_set():
            try:
                packet, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(packet) < 12:
                continue
            self.queries += 1
            if self.mode != "servfail":
                continue
            # the header with QR set, opcode and RD kept, RA, RCODE 2 (SERVFAIL),
            # the question echoed, no records
            flags = 0x8000 | (packet[2] & 0x79) << 8 | 0x0080 | 2
            end = 12
            while end < len(packet) and packet[end] != 0:
                end += packet[end] + 1
            end += 5  # the root label, type and class
            reply = packet[:2] + flags.to_bytes(2, "big") + b"\x00\x01" + b"\x00" * 6 \
                + packet[12:end]
            try:
                self.sock.sendto(reply, peer)
            except OSError:
                pass

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()
