#!/usr/bin/env python3
"""relay-bench.py: one run of the outbound relay benchmark (bench/relay-bench.sh
sets up the MTAs and the DNS). Starts Postfix's smtp-sink on SINK:25 (the MX
of every test domain), injects N messages of about SIZE bytes into the MTA's
SMTP port over SESSIONS sessions (several messages per session, MAIL/RCPT/DATA
pipelined when offered), each to user<i>@<domain i mod DOMAINS>, and waits
until the sink has received N messages (its -c counters). Prints

  run: delivered R msg/s (N msgs in T s) server_cpu C ms/msg inject_cpu ...

delivered = N / (last message at the sink - first connection of the
injector); server CPU = user+system time of the process trees under --pid
(exited children included through cutime/cstime), from before the first
injection until the queue directories given by --queue-dir are empty (at
most 15 s after the last delivery), divided by N.

  relay-bench.py --port P --pid MASTER_PID [--queue-dir D ...] [-n N]
      [--size S] [--sessions K] [--domains D] [--sink ADDR] [--json FILE]
      [--outage --deferred-dir D --flush CMD]

--outage: the destination comes back after an outage. The sink is not
running while the N messages are injected; once all N are in the deferred
queue (files under --deferred-dir) and the others are empty, the sink
starts and the shell command --flush runs (postqueue -f, mailctl queue
flush); delivered and CPU then count from just before the flush."""
import argparse, asyncio, json, os, re, resource, socket, subprocess, sys, threading, time

HZ = os.sysconf("SC_CLK_TCK")


def tree_jiffies(roots, by_comm=None):
    """utime+stime+cutime+cstime summed over the processes under roots;
    by_comm (a dict) gets the same per process name (exited children count
    under their parent's name)."""
    stats, children, comms = {}, {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            s = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        f = s[s.rindex(")") + 2:].split()
        pid, ppid = int(d), int(f[1])
        stats[pid] = sum(int(x) for x in f[11:15])
        comms[pid] = s[s.index("(") + 1:s.rindex(")")]
        children.setdefault(ppid, []).append(pid)
    total, todo, seen = 0, list(roots), set()
    while todo:
        p = todo.pop()
        if p in seen or p not in stats:
            continue
        seen.add(p)
        total += stats[p]
        if by_comm is not None:
            by_comm[comms[p]] = by_comm.get(comms[p], 0) + stats[p]
        todo.extend(children.get(p, ()))
    return total


def domain_name(i, ndomains):
    return "d%04d.test" % (i % ndomains + 1)


def make_body(size):
    line = b"The quick brown fox jumps over the lazy dog, relay benchmark text.\r\n"
    body = bytearray()
    while len(body) + len(line) <= size:
        body += line
    return bytes(body)


class Sink:
    """smtp-sink on addr:25 with running counters (-c) read by a thread."""

    def __init__(self, addr, want):
        self.want, self.count, self.done_at, self.last_at = want, 0, None, time.time()
        self.sessions = 0
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(
            ["smtp-sink", "-c", "-4", "-u", "nobody", "-m", "2000", f"{addr}:25", "1024"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
        for _ in range(100):
            try:
                socket.create_connection((addr, 25), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None:
                    sys.exit("relay-bench.py: smtp-sink did not start on %s:25" % addr)
                time.sleep(0.05)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        pat, buf = re.compile(rb"sess=(\d+) .*mesg=(\d+)"), b""
        while True:
            data = self.proc.stdout.read(65536)
            if not data:
                return
            buf += data
            *parts, buf = buf.split(b"\r")
            for part in reversed(parts):
                m = pat.search(part)
                if m:
                    with self.cond:
                        self.sessions, n = int(m.group(1)), int(m.group(2))
                        if n != self.count:
                            self.count, self.last_at = n, time.time()
                        if n >= self.want and self.done_at is None:
                            self.done_at = self.last_at
                        self.cond.notify_all()
                    break

    def wait(self, stall):
        """Until want messages came, or none for stall seconds."""
        with self.cond:
            while self.done_at is None and time.time() - self.last_at < stall:
                self.cond.wait(1)
            return self.done_at

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


async def reply(reader):
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed")
        if line[3:4] != b"-":
            return line


async def session(port, msgs, body, ndomains, errors):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await reply(reader)
        writer.write(b"EHLO inject.bench.test\r\n")
        ehlo = b""
        while True:
            line = await reader.readline()
            ehlo += line
            if line[3:4] != b"-":
                break
        pipelining = b"PIPELINING" in ehlo.upper()
        for i in msgs:
            dom = domain_name(i, ndomains)
            head = (f"MAIL FROM:<sender@inject.bench.test>\r\nRCPT TO:<user{i}@{dom}>\r\n"
                    "DATA\r\n").encode()
            replies = []
            if pipelining:
                writer.write(head)
                for _ in range(3):
                    replies.append(await reply(reader))
            else:
                for cmd in head.split(b"\r\n")[:3]:
                    writer.write(cmd + b"\r\n")
                    replies.append(await reply(reader))
            if not (replies[0][:1] == b"2" and replies[1][:1] == b"2" and replies[2][:3] == b"354"):
                errors.append(b" / ".join(r.strip() for r in replies).decode(errors="replace"))
                writer.write(b".\r\n" if replies[2][:3] == b"354" else b"RSET\r\n")
                await reply(reader)
                continue
            hdr = (f"From: <sender@inject.bench.test>\r\nTo: <user{i}@{dom}>\r\n"
                   f"Subject: relay bench {i}\r\nMessage-ID: <{i}.{os.getpid()}@inject.bench.test>\r\n"
                   "\r\n").encode()
            writer.write(hdr + body + b".\r\n")
            r = await reply(reader)
            if r[:1] != b"2":
                errors.append(r.strip().decode(errors="replace"))
        writer.write(b"QUIT\r\n")
        await reply(reader)
    finally:
        writer.close()


async def inject(port, n, sessions, body, ndomains, errors):
    tasks = [session(port, range(k, n, sessions), body, ndomains, errors) for k in range(sessions)]
    await asyncio.gather(*tasks)


def count_files(dirs):
    return sum(len(files) for d in dirs for _root, _dirs, files in os.walk(d))


def queue_empty(dirs):
    return count_files(dirs) == 0


def wait_deferred(a):
    """Until the N messages are all deferred (the others empty)."""
    last, since = -1, time.time()
    while True:
        n = count_files(a.deferred_dir)
        if n >= a.n and queue_empty(a.queue_dir):
            return True
        if n != last:
            last, since = n, time.time()
        if time.time() - since > a.stall:
            print(f"run: {a.label} FAILED: {n} of {a.n} messages deferred, the queue stalled", flush=True)
            return False
        time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, action="append", required=True)
    ap.add_argument("--queue-dir", action="append", default=[])
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--domains", type=int, default=1)
    ap.add_argument("--sink", default="127.0.13.25")
    ap.add_argument("--stall", type=float, default=120, help="give up after so many seconds without a delivery")
    ap.add_argument("--label", default="")
    ap.add_argument("--json")
    ap.add_argument("--outage", action="store_true")
    ap.add_argument("--deferred-dir", action="append", default=[])
    ap.add_argument("--flush")
    a = ap.parse_args()

    body = make_body(max(0, a.size - 200))
    errors = []
    if a.outage:
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.time()
        asyncio.run(inject(a.port, a.n, a.sessions, body, a.domains, errors))
        inj_s = time.time() - t0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        if errors or not wait_deferred(a):
            for e in errors[:5]:
                print("inject error:", e, file=sys.stderr)
            return 1
    sink = Sink(a.sink, a.n)
    try:
        comm0, comm1 = {}, {}
        cpu0 = tree_jiffies(a.pid, comm0)
        if a.outage:
            t0 = time.time()
            subprocess.run(a.flush, shell=True, check=True, stdout=subprocess.DEVNULL)
        else:
            ru0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.time()
            asyncio.run(inject(a.port, a.n, a.sessions, body, a.domains, errors))
            inj_s = time.time() - t0
            ru1 = resource.getrusage(resource.RUSAGE_SELF)
        sink.last_at = max(sink.last_at, time.time())
        done = sink.wait(a.stall)
        deadline = time.time() + 15
        while not queue_empty(a.queue_dir) and time.time() < deadline:
            time.sleep(0.1)
        cpu1 = tree_jiffies(a.pid, comm1)
        time.sleep(3)  # cached connections close (2 s idle in both MTAs): sess= counts ended sessions
        sink_cpu = sum(int(x) for x in open(f"/proc/{sink.proc.pid}/stat").read().rsplit(")", 1)[1].split()[11:13]) / HZ
    finally:
        sink.stop()
    inj_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    res = {"label": a.label, "n": a.n, "size": a.size, "sessions": a.sessions, "domains": a.domains,
           "outage": a.outage,
        "inject_s": round(inj_s, 3), "accept_rate": round(a.n / inj_s, 1),
           "errors": len(errors), "received": sink.count, "sink_sessions": sink.sessions,
           "server_cpu_s": round((cpu1 - cpu0) / HZ, 2),
           "server_cpu_ms_per_msg": round(1000 * (cpu1 - cpu0) / HZ / a.n, 3),
           "inject_cpu_s": round(inj_cpu, 2), "sink_cpu_s": round(sink_cpu, 2),
           "server_cpu_by_name_ms_per_msg": {k: round(1000 * (v - comm0.get(k, 0)) / HZ / a.n, 3)
                                             for k, v in sorted(comm1.items())}}
    if done:
        res["delivered_s"] = round(done - t0, 3)
        res["delivered_rate"] = round(a.n / (done - t0), 1)
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(res) + "\n")
    for e in errors[:5]:
        print("inject error:", e, file=sys.stderr)
    if not done:
        print(f"run: {a.label} FAILED: sink got {sink.count} of {a.n} (stalled {a.stall:.0f} s); "
              f"{len(errors)} injection errors", flush=True)
        return 1
    print(f"run: {a.label} delivered {res['delivered_rate']} msg/s ({a.n} msgs in {res['delivered_s']} s; "
          f"accept {res['accept_rate']} msg/s) server_cpu {res['server_cpu_ms_per_msg']} ms/msg "
          f"({res['server_cpu_s']} s) inject_cpu {res['inject_cpu_s']} s sink_cpu {res['sink_cpu_s']} s "
          f"sink_sessions {sink.sessions} "
          f"errors {len(errors)}", flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
