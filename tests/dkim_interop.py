#!/usr/bin/python3
# dkim_interop.py: the dkimpy side of tests/unit/test_dkim_interop.c
# (Debian's python3-dkim, importable under /usr/bin/python3 only).
#   dkim_interop.py verify MSG RECORDS   exit 0 when every signature in the
#                                        header of MSG verifies, keys from
#                                        RECORDS
#   dkim_interop.py sign MSG KEY DOMAIN SELECTOR   prints MSG signed
#                                        (relaxed/relaxed; rsa-sha256 for a
#                                        PEM key, ed25519-sha256 otherwise)
# RECORDS holds "owner. value" lines (';' starts a comment); keys reach
# dkimpy through its dnsfunc, so no DNS is asked.
import sys

import dkim


def load_records(path):
    records = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(';'):
                continue
            name, value = line.split(' ', 1)
            records[name.rstrip('.').lower()] = value.encode()
    return records


def verify(msg_path, records_path):
    records = load_records(records_path)
    with open(msg_path, 'rb') as f:
        msg = f.read()

    def dnsfunc(name, timeout=5):
        return records.get(name.decode().rstrip('.').lower(), b'')

    d = dkim.DKIM(msg)
    # the signatures of the header only: a bounce returns the headers of
    # the original message (DKIM-Signature lines too) in its body
    head = min((msg.find(sep) for sep in (b'\r\n\r\n', b'\n\n') if sep in msg),
               default=len(msg))
    head = b'\n' + msg[:head].lower()
    count = head.count(b'\ndkim-signature:')
    ok = count > 0
    for i in range(count):
        try:
            good = d.verify(idx=i, dnsfunc=dnsfunc)
            why = ''
        except dkim.DKIMException as e:
            good, why = False, ' (%s)' % e
        print('signature %d: %s%s' % (i, 'pass' if good else 'fail', why))
        ok = ok and good
    return 0 if ok else 1


def sign(msg_path, key_path, domain, selector):
    with open(msg_path, 'rb') as f:
        msg = f.read()
    with open(key_path, 'rb') as f:
        key = f.read()
    alg = b'rsa-sha256' if key.startswith(b'-----BEGIN') else b'ed25519-sha256'
    sig = dkim.sign(msg, selector.encode(), domain.encode(), key,
                    canonicalize=(b'relaxed', b'relaxed'), signature_algorithm=alg,
                    include_headers=[b'from', b'to', b'subject', b'date', b'message-id'])
    sys.stdout.buffer.write(sig + msg)
    return 0


if __name__ == '__main__':
    if len(sys.argv) == 4 and sys.argv[1] == 'verify':
        sys.exit(verify(sys.argv[2], sys.argv[3]))
    if len(sys.argv) == 6 and sys.argv[1] == 'sign':
        sys.exit(sign(*sys.argv[2:]))
    sys.stderr.write(__doc__ if __doc__ else 'usage: see the head of this file\n')
    sys.exit(2)
