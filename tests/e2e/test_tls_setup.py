#!/usr/bin/env python3
"""End-to-end tests of the TLS setup that mailctl makes and checks, with no
running services: `mailctl init` writes a self-signed ECDSA P-256
certificate (and an RSA one with --rsa) with the right names, modes and
main.cf keys, or takes --cert/--key; `mailctl check` names the key and the
file when a certificate is missing, does not match its key, or an SNI map
entry is broken. Certificates are inspected with the openssl command."""
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import MAILCTL, require_tools  # noqa: E402

require_tools("openssl")


def run(*args):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60)


def mailctl(*args):
    return run(MAILCTL, *args)


def openssl(*args):
    res = run("openssl", *args)
    if res.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), res.stderr))
    return res.stdout


def main_cf_value(d, key):
    return mailctl("-c", d, "config", "get", key).stdout.strip()


def make_pair(d, name, *keyopts):
    """A self-signed certificate and key made by the openssl command."""
    cert, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    openssl("req", "-x509", "-newkey", *keyopts, "-nodes", "-keyout", key, "-out", cert,
            "-days", "30", "-subj", "/CN=%s.example.test" % name)
    return cert, key


class Init(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = os.path.join(self.tmp.name, "mx")

    def tearDown(self):
        self.tmp.cleanup()

    def init(self, *args):
        res = mailctl("init", self.dir, "--domain", "demo.test", "--port-base", "20000",
                      "--daemon-dir", self.tmp.name, *args)
        self.assertEqual(res.returncode, 0, res.stderr)
        return res

    def test_default_ecdsa_certificate(self):
        res = self.init()
        tls = os.path.join(os.path.realpath(self.dir), "tls")
        cert, key = os.path.join(tls, "cert.pem"), os.path.join(tls, "key.pem")
        self.assertIn("self-signed ECDSA P-256 certificate for mail.demo.test", res.stdout)
        self.assertEqual(os.stat(key).st_mode & 0o7777, 0o600)
        self.assertEqual(os.stat(cert).st_mode & 0o7777, 0o644)
        self.assertFalse(os.path.exists(os.path.join(tls, "rsa-cert.pem")))
        # main.cf names them
        self.assertEqual(main_cf_value(self.dir, "smtpd_tls_cert_file"), cert)
        self.assertEqual(main_cf_value(self.dir, "smtpd_tls_key_file"), key)
        self.assertEqual(main_cf_value(self.dir, "smtpd_tls_rsa_cert_file"), "")
        self.assertEqual(main_cf_value(self.dir, "smtpd_tls_security_level"), "may")
        self.assertEqual(main_cf_value(self.dir, "smtpd_tls_auth_only"), "yes")
        # what is in the certificate
        text = openssl("x509", "-in", cert, "-noout", "-text")
        self.assertIn("ASN1 OID: prime256v1", text)
        self.assertIn("NIST CURVE: P-256", text)
        self.assertIn("Signature Algorithm: ecdsa-with-SHA256", text)
        self.assertRegex(text, r"Subject: CN ?= ?mail\.demo\.test")
        san = re.search(r"Subject Alternative Name:.*\n\s*(.*)", text).group(1)
        self.assertEqual(san, "DNS:mail.demo.test, DNS:localhost, IP Address:127.0.0.1")
        self.assertIn("CA:FALSE", text)
        self.assertIn("TLS Web Server Authentication", text)
        # valid for 10 years: still valid in 9, no longer in 11
        self.assertEqual(run("openssl", "x509", "-in", cert, "-noout", "-checkend",
                             str(9 * 365 * 86400)).returncode, 0)
        self.assertNotEqual(run("openssl", "x509", "-in", cert, "-noout", "-checkend",
                                str(11 * 365 * 86400)).returncode, 0)
        # self-signed, and the key is its key
        self.assertIn("OK", openssl("verify", "-CAfile", cert, cert))
        self.assertEqual(openssl("x509", "-in", cert, "-noout", "-pubkey"),
                         openssl("pkey", "-in", key, "-pubout"))
        # and it passes the check
        chk = mailctl("-c", self.dir, "check")
        self.assertEqual(chk.returncode, 0, chk.stderr)

    def test_hostname_in_names(self):
        self.init("--hostname", "mx1.hosting.test")
        cert = os.path.join(self.dir, "tls", "cert.pem")
        text = openssl("x509", "-in", cert, "-noout", "-ext", "subjectAltName")
        self.assertIn("DNS:mx1.hosting.test", text)
        self.assertIn("DNS:localhost", text)
        self.assertIn("IP Address:127.0.0.1", text)

    def test_rsa_as_well(self):
        res = self.init("--rsa")
        self.assertIn("self-signed RSA-2048 certificate", res.stdout)
        tls = os.path.join(os.path.realpath(self.dir), "tls")
        rsa_cert, rsa_key = os.path.join(tls, "rsa-cert.pem"), os.path.join(tls, "rsa-key.pem")
        self.assertEqual(os.stat(rsa_key).st_mode & 0o7777, 0o600)
        self.assertEqual(main_cf_value(self.dir, "smtpd_tls_rsa_cert_file"), rsa_cert)
        self.assertEqual(main_cf_value(self.dir, "smtpd_tls_rsa_key_file"), rsa_key)
        text = openssl("x509", "-in", rsa_cert, "-noout", "-text")
        self.assertIn("rsaEncryption", text)
        self.assertIn("Public-Key: (2048 bit)", text)
        self.assertIn("IP Address:127.0.0.1", text)
        self.assertIn("prime256v1", openssl("x509", "-in", os.path.join(tls, "cert.pem"),
                                            "-noout", "-text"))
        chk = mailctl("-c", self.dir, "check")
        self.assertEqual(chk.returncode, 0, chk.stderr)

    def test_given_certificate(self):
        cert, key = make_pair(self.tmp.name, "own", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
        self.init("--cert", cert, "--key", key)
        self.assertEqual(main_cf_value(self.dir, "smtpd_tls_cert_file"), os.path.realpath(cert))
        self.assertEqual(main_cf_value(self.dir, "smtpd_tls_key_file"), os.path.realpath(key))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "tls")))
        chk = mailctl("-c", self.dir, "check")
        self.assertEqual(chk.returncode, 0, chk.stderr)

    def test_given_certificate_refused(self):
        cert, _ = make_pair(self.tmp.name, "one", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
        _, other_key = make_pair(self.tmp.name, "two", "ec", "-pkeyopt",
                                 "ec_paramgen_curve:P-256")
        cases = [
            (["--cert", cert, "--key", other_key], "does not match"),
            (["--cert", cert, "--key", os.path.join(self.tmp.name, "nokey.pem")], "nokey.pem"),
            (["--cert", cert], "together"),
            (["--cert", cert, "--key", other_key, "--rsa"], "--rsa"),
        ]
        for args, needle in cases:
            res = mailctl("init", self.dir, "--port-base", "20000", *args)
            self.assertNotEqual(res.returncode, 0, args)
            self.assertIn(needle, res.stderr, args)
            self.assertFalse(os.path.exists(os.path.join(self.dir, "main.cf")), args)


class Check(unittest.TestCase):
    """mailctl check on a broken TLS setup: exit status 1 and a message that
    names the main.cf key and the file."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = os.path.join(self.tmp.name, "mx")
        res = mailctl("init", self.dir, "--port-base", "20000", "--daemon-dir", self.tmp.name)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.tls = os.path.join(os.path.realpath(self.dir), "tls")

    def tearDown(self):
        self.tmp.cleanup()

    def set(self, *assignments):
        res = mailctl("-c", self.dir, "config", "set", *assignments)
        self.assertEqual(res.returncode, 0, res.stderr)

    def expect_error(self, *needles):
        res = mailctl("-c", self.dir, "check")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        for needle in needles:
            self.assertIn(needle, res.stderr)
        return res.stderr

    def test_key_does_not_match(self):
        _, other_key = make_pair(self.tmp.name, "other", "ec", "-pkeyopt",
                                 "ec_paramgen_curve:P-256")
        self.set("smtpd_tls_key_file=" + other_key)
        err = self.expect_error("smtpd_tls_key_file", "does not match", other_key,
                                os.path.join(self.tls, "cert.pem"))
        self.assertIn("main.cf: error:", err)

    def test_missing_certificate(self):
        cert = os.path.join(self.tls, "cert.pem")
        os.unlink(cert)
        self.expect_error("smtpd_tls_cert_file", cert, "No such file or directory")

    def test_missing_key(self):
        key = os.path.join(self.tls, "key.pem")
        os.unlink(key)
        self.expect_error("smtpd_tls_key_file", key, "No such file or directory")

    @unittest.skipIf(os.geteuid() == 0, "root reads any file")
    def test_unreadable_key(self):
        key = os.path.join(self.tls, "key.pem")
        os.chmod(key, 0)
        self.expect_error("smtpd_tls_key_file", key, "Permission denied")

    def test_not_a_certificate(self):
        key = os.path.join(self.tls, "key.pem")
        self.set("smtpd_tls_cert_file=" + key)
        self.expect_error("smtpd_tls_cert_file", "cannot read certificate", key)

    def test_relative_path(self):
        self.set("smtpd_tls_cert_file=tls/cert.pem")
        self.expect_error("smtpd_tls_cert_file", "not an absolute path")

    def test_rsa_of_the_wrong_type(self):
        cert, key = make_pair(self.tmp.name, "ec2", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
        self.set("smtpd_tls_rsa_cert_file=" + cert, "smtpd_tls_rsa_key_file=" + key)
        self.expect_error("smtpd_tls_rsa_cert_file", "same key type", cert)

    def test_rsa_pair_accepted(self):
        cert, key = make_pair(self.tmp.name, "rsa", "rsa:2048")
        self.set("smtpd_tls_rsa_cert_file=" + cert, "smtpd_tls_rsa_key_file=" + key)
        res = mailctl("-c", self.dir, "check")
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_policy_values(self):
        for assignment, needles in [
                ("smtpd_tls_security_level=sometimes", ["smtpd_tls_security_level", "sometimes"]),
                ("smtpd_tls_protocols=>=TLSv1.4", ["smtpd_tls_protocols", "TLSv1.4"]),
                ("smtpd_tls_ciphers=NOTHING-AT-ALL", ["smtpd_tls_ciphers", "NOTHING-AT-ALL"]),
        ]:
            with open(os.path.join(self.dir, "main.cf")) as f:
                before = f.read()
            self.set(assignment)
            self.expect_error(*needles)
            with open(os.path.join(self.dir, "main.cf"), "w") as f:
                f.write(before)

    def test_encrypt_needs_certificate(self):
        self.set("smtpd_tls_cert_file=", "smtpd_tls_key_file=", "smtpd_tls_security_level=encrypt")
        self.expect_error("smtpd_tls_security_level = encrypt needs smtpd_tls_cert_file")

    def test_sni_map_entries(self):
        good_cert, good_key = make_pair(self.tmp.name, "a", "ec", "-pkeyopt",
                                        "ec_paramgen_curve:P-256")
        _, bad_key = make_pair(self.tmp.name, "b", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
        sni = os.path.join(self.tmp.name, "sni")
        with open(sni, "w") as f:
            f.write("a.example.test %s %s\n" % (good_cert, good_key))
            f.write("b.example.test %s %s\n" % (good_cert, bad_key))
            f.write(".c.example.test /nonexistent/c.pem\n")
        self.assertEqual(mailctl("map", "build", sni).returncode, 0)
        self.set("smtpd_tls_sni_maps=hash:" + sni)
        err = self.expect_error("smtpd_tls_sni_maps: hash:%s: b.example.test:" % sni,
                                "does not match", bad_key,
                                ".c.example.test: cannot read certificate /nonexistent/c.pem")
        self.assertNotIn("a.example.test", err)
        # a map that does not exist
        self.set("smtpd_tls_sni_maps=hash:" + sni + "-missing")
        self.expect_error("smtpd_tls_sni_maps", sni + "-missing")


if __name__ == "__main__":
    unittest.main()
