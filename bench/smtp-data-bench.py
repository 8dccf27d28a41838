#!/usr/bin/env python3
"""smtp-data-bench.py: DATA throughput of one smtpd, for A/B runs of two
Postern builds (the codec in lib/dot.c is on this path): N messages of
about SIZE bytes (70-byte lines, every 40th dot-stuffed), sent one after
the other over one SMTP session to RCPT, each waiting for its 250. Prints
the wall time and the CPU (user+system) of every process named smtpd.

  bench/smtp-data-bench.py PORT N SIZE RCPT"""
import os, socket, sys, time
port, n, size, rcpt = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

def smtpd_cpu():
    tot = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            s = open(f"/proc/{d}/stat").read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        f = s[s.rindex(")") + 2:].split()
        if comm == "smtpd":
            tot += int(f[11]) + int(f[12])
    return tot / os.sysconf("SC_CLK_TCK")

line = b"abcdefghijklmnopqrstuvwxyz0123456789 the quick brown fox jumps over\r\n"
body = bytearray(b"Subject: bench\r\n\r\n")
i = 0
while len(body) < size:
    body += (b".." if i % 40 == 0 else b"") + line
    i += 1
body += b".\r\n"
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
def reply():
    while True:
        l = f.readline()
        if l[3:4] != b"-":
            return l
reply()
s.sendall(b"EHLO bench\r\n"); reply()
c0, t0 = smtpd_cpu(), time.time()
for k in range(n):
    s.sendall(b"MAIL FROM:<b@bench.test>\r\nRCPT TO:<%s>\r\nDATA\r\n" % rcpt.encode())
    for _ in range(3):
        r = reply()
    assert r.startswith(b"354"), r
    s.sendall(body)
    r = reply()
    assert r.startswith(b"250"), r
t1, c1 = time.time(), smtpd_cpu()
s.sendall(b"QUIT\r\n"); reply()
mb = n * len(body) / 1e6
print(f"data: {n} msgs {mb:.0f} MB in {t1-t0:.2f} s ({mb/(t1-t0):.0f} MB/s), smtpd cpu {c1-c0:.2f} s ({(c1-c0)*1000/mb:.2f} ms/MB)")
