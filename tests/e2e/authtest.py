"""authtest.py: what the sender-authentication end-to-end tests share: an
RSA key for a DKIM record, a message signed by dkimpy (under
/usr/bin/python3, where python3-dkim imports), a mailbox made with
mailctl, and a second instance that a first one relays a domain to."""
import base64
import os
import subprocess

from harness import Instance, free_port

INTEROP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dkim_interop.py")


def make_key(tmp):
    """An RSA 1024 key: (PEM path, the p= value of its DNS record)."""
    key = os.path.join(tmp, "dkim.pem")
    subprocess.run(["openssl", "genrsa", "-out", key, "1024"], check=True,
                   capture_output=True, timeout=60)
    der = subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True, timeout=60).stdout
    return key, base64.b64encode(der).decode()


def sign(tmp, key, text, domain="signed.example.org", selector="sel"):
    """text (bytes) signed by dkimpy."""
    path = os.path.join(tmp, "msg")
    with open(path, "wb") as f:
        f.write(text)
    res = subprocess.run(["/usr/bin/python3", INTEROP, "sign", path, key, domain, selector],
                         capture_output=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError("dkimpy sign: %s" % res.stderr.decode())
    return res.stdout


def add_user(inst, address):
    """mailctl user add, or RuntimeError with what it said."""
    res = inst.ctl("user", "add", address)
    if res.returncode != 0:
        raise RuntimeError(res.stderr)


def relay_peer(inst, domain, user, hostname):
    """A second instance for domain (one mailbox, user; it trusts
    127.0.0.1, so it checks nothing and keeps the first one's header),
    started on a free port; inst is set to relay domain to it. Returns it;
    the caller cleans it up."""
    peer = Instance(domain=domain)
    port = free_port()
    peer.set_mail_services(["127.0.0.1:%d inet n - n - 1 smtpd" % port])
    peer.set_main("myhostname", hostname)
    add_user(peer, user)
    peer.start()
    inst.set_main("relay_domains", domain)
    inst.build_map("relay_transport", "%s smtp:[127.0.0.1]:%d\n" % (domain, port))
    inst.set_main("transport_maps", "hash:" + inst.path("relay_transport"))
    return peer
