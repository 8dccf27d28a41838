#!/usr/bin/env python3
"""authres-bench.py: smtpd's CPU per message with sender authentication
off and on (issue 15, inbound side). One private instance (the e2e
harness, build tree) with three smtpd services: "trusted" (the client in
mynetworks: no checks, the path of the issue 3 benchmark), "outside_nodkim"
(outside mynetworks, SPF off as the harness sets it, DKIM off: only the
Authentication-Results field and the forgery scan) and "outside" (DKIM on).
N messages of about 4 KB, signed by dkimpy (RSA 1024, key served by
dnsmasq; lib/dns caches it), are sent one after the other over one session
to each, twice; prints wall time and the CPU of the instance's smtpd
processes per message.

  bench/authres-bench.py [N]      (default 1000; run from the build tree)"""
import os, sys, time, socket, tempfile, shutil
TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "e2e"))
from harness import Instance, DnsServer, free_port, port_open, wait_for
import test_authres as T  # noqa: E402
tmp = tempfile.mkdtemp(prefix="postern-authres-bench-")
key, pub = T.make_key(tmp)
dns = DnsServer([("TXT", "sel._domainkey.signed.example.org", "v=DKIM1; k=rsa; p=" + pub)])
inst = Instance()
ports = {"trusted": free_port(), "outside": free_port(), "outside_nodkim": free_port()}
inst.set_mail_services([
    "127.0.0.1:%d inet n - n - 1 smtpd" % ports["trusted"],
    "127.0.0.1:%d inet n - n - 1 smtpd -o mynetworks=10.0.0.0/8" % ports["outside"],
    "127.0.0.1:%d inet n - n - 1 smtpd -o mynetworks=10.0.0.0/8 -o smtpd_dkim_verify=no" % ports["outside_nodkim"]])
inst.set_main("dns_servers", dns.servers)
inst.ctl("user", "add", "alice@example.test")
inst.start()
for p in ports.values():
    wait_for(lambda: port_open(p), 20)
body = b"x" * 70 + b"\r\n"
msg = T.AuthresTests.message("bench", "a@signed.example.org").replace(b"hello\r\n", body * 55)
signed = T.sign(tmp, key, msg)
def cpu():
    tot = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try: s = open("/proc/%s/stat" % d).read()
            except OSError: continue
            if s[s.index("(")+1:s.rindex(")")] == "smtpd" and inst.config_dir in open("/proc/%s/cmdline" % d).read().replace("\0"," "):
                f = s[s.rindex(")")+2:].split(); tot += int(f[11]) + int(f[12])
    return tot / os.sysconf("SC_CLK_TCK")
def run(port, n, text):
    s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb")
    def reply():
        while True:
            l = f.readline()
            if l[3:4] != b"-": return l
    reply(); s.sendall(b"EHLO client.example.net\r\n"); reply()
    c0, t0 = cpu(), time.time()
    for i in range(n):
        s.sendall(b"MAIL FROM:<a@signed.example.org>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        reply(); reply(); reply()
        s.sendall(text + b".\r\n"); r = reply()
        assert r.startswith(b"250"), r
    return time.time() - t0, cpu() - c0
N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
try:
    for rep in range(2):
        for name in ("trusted", "outside_nodkim", "outside"):
            wall, c = run(ports[name], N, signed)
            print("%-15s %d msgs %.2fs wall, smtpd cpu %.1f us/msg" % (name, N, wall, c / N * 1e6))
    print([l for l in inst.log().splitlines() if "dkim=" in l][-1])
finally:
    inst.cleanup()
    dns.stop()
    shutil.rmtree(tmp, ignore_errors=True)
