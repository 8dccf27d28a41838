#!/usr/bin/python3
# arc_interop.py: the dkimpy side of tests/unit/test_arc_interop.c
# (Debian's python3-dkim with python3-authres, importable under
# /usr/bin/python3 only).
#   arc_interop.py verify MSG RECORDS   prints "cv=RESULT: reason"; exit 0
#                                       for pass, 1 for fail, 3 for none
#   arc_interop.py seal MSG KEY DOMAIN SELECTOR SRVID
#                                       prints MSG with the next ARC set
#                                       (dkimpy's arc_sign, rsa-sha256; MSG
#                                       must carry an Authentication-Results
#                                       field of SRVID); exit 1 if refused
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


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def verify(msg_path, records_path):
    records = load_records(records_path)

    def dnsfunc(name, timeout=5):
        return records.get(name.decode().rstrip('.').lower(), b'')

    cv, results, reason = dkim.arc_verify(read(msg_path), dnsfunc=dnsfunc)
    cv = cv.decode() if cv is not None else 'ended'
    print('cv=%s: %s' % (cv, reason))
    return {'pass': 0, 'none': 3}.get(cv, 1)


def seal(msg_path, key_path, domain, selector, srv_id):
    msg = read(msg_path)
    new_set = dkim.arc_sign(msg, selector.encode(), domain.encode(), read(key_path),
                            srv_id.encode())
    if not new_set:
        return 1
    sys.stdout.buffer.write(b''.join(new_set) + msg)
    return 0


if __name__ == '__main__':
    if len(sys.argv) == 4 and sys.argv[1] == 'verify':
        sys.exit(verify(sys.argv[2], sys.argv[3]))
    if len(sys.argv) == 7 and sys.argv[1] == 'seal':
        sys.exit(seal(*sys.argv[2:]))
    sys.stderr.write('usage: see the head of this file\n')
    sys.exit(2)
