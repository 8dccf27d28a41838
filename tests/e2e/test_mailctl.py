#!/usr/bin/env python3
"""End-to-end tests of the mailctl admin command that need no running
services: init, check, config get/set/list, map build/get, help."""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import MAILCTL, Instance  # noqa: E402

SUBCOMMANDS = ["init", "start", "stop", "reload", "status", "check", "config", "map", "help"]


def mailctl(*args):
    return subprocess.run([MAILCTL] + list(args), capture_output=True, text=True, timeout=60)


class Init(unittest.TestCase):
    def test_port_base_and_domain(self):
        with tempfile.TemporaryDirectory() as tmp:
            d = os.path.join(tmp, "mx")
            res = mailctl("init", d, "--domain", "demo.test", "--port-base", "20000")
            self.assertEqual(res.returncode, 0, res.stderr)
            master_cf = open(os.path.join(d, "master.cf")).read()
            for port in (20025, 20587, 20465, 20110, 20995, 20143, 20993):
                self.assertIn("127.0.0.1:%d" % port, master_cf)
            main_cf = open(os.path.join(d, "main.cf")).read()
            self.assertIn("mydomain = demo.test", main_cf)
            self.assertIn("myhostname = mail.demo.test", main_cf)
            for sub in ("queue", "mail", "log"):
                self.assertTrue(os.path.isdir(os.path.join(d, sub)), sub)
            get = mailctl("-c", d, "config", "get", "queue_directory")
            self.assertEqual(get.stdout.strip(), os.path.join(os.path.realpath(d), "queue"))
            # never overwrites an existing instance
            again = mailctl("init", d)
            self.assertNotEqual(again.returncode, 0)
            self.assertIn("already exists", again.stderr)

    def test_bad_port_base(self):
        with tempfile.TemporaryDirectory() as tmp:
            res = mailctl("init", os.path.join(tmp, "x"), "--port-base", "70000")
            self.assertNotEqual(res.returncode, 0)


class Config(unittest.TestCase):
    def setUp(self):
        self.inst = Instance()

    def tearDown(self):
        self.inst.cleanup()

    def test_check_ok(self):
        res = self.inst.ctl("check")
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_set_get_keeps_comments(self):
        before = open(self.inst.path("main.cf")).read()
        res = self.inst.ctl("config", "set", "default_process_limit=7", "myhostname=mx.example.test")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(self.inst.ctl("config", "get", "default_process_limit").stdout, "7\n")
        self.assertEqual(self.inst.ctl("config", "get", "myorigin").stdout, "mx.example.test\n")
        after = open(self.inst.path("main.cf")).read()
        for line in before.splitlines():
            if line.startswith("#"):
                self.assertIn(line, after)

    def test_set_refuses_bad_values(self):
        for bad in ("default_process_limit=many", "default_process_limit=-1",
                    "no_such_key=1", "missing_equals"):
            res = self.inst.ctl("config", "set", bad)
            self.assertNotEqual(res.returncode, 0, bad)
            self.assertTrue(res.stderr, bad)
        self.assertNotIn("no_such_key", open(self.inst.path("main.cf")).read())

    def test_unknown_key_warns_with_file_line(self):
        with open(self.inst.path("main.cf"), "a") as f:
            f.write("frobnicate = yes\n")
        n = sum(1 for _ in open(self.inst.path("main.cf")))
        res = self.inst.ctl("check")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("main.cf:%d:" % n, res.stderr)
        self.assertIn("frobnicate", res.stderr)

    def test_list(self):
        res = self.inst.ctl("config", "list")
        self.assertEqual(res.returncode, 0)
        self.assertIn("queue_directory = ", res.stdout)
        only = self.inst.ctl("config", "list", "-n").stdout
        self.assertIn("mydomain = example.test", only)
        self.assertNotIn("default_process_limit", only)

    def test_missing_config_dir(self):
        res = mailctl("-c", "/nonexistent/postern", "check")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("/nonexistent/postern", res.stderr)

    def test_status_not_running(self):
        res = self.inst.ctl("status")
        self.assertEqual(res.returncode, 1)
        self.assertIn("not running", res.stdout + res.stderr)


class Maps(unittest.TestCase):
    def test_build_and_get(self):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "virtual")
            with open(src, "w") as f:
                f.write("# comment\nInfo@Example.Test  alice@example.test\n"
                        "sales@example.test bob@example.test,\n  carol@example.test\n")
            res = mailctl("map", "build", src)
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertTrue(os.path.exists(src + ".db"))
            get = mailctl("map", "get", "hash:" + src, "info@example.test")
            self.assertEqual(get.stdout, "alice@example.test\n")
            get = mailctl("map", "get", "hash:" + src, "sales@example.test")
            self.assertEqual(get.stdout, "bob@example.test, carol@example.test\n")
            self.assertEqual(mailctl("map", "get", src, "nobody@x").returncode, 1)
            self.assertEqual(mailctl("map", "get", "texthash:" + src,
                                     "INFO@example.test").stdout, "alice@example.test\n")

    def test_syntax_error_names_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "aliases")
            with open(src, "w") as f:
                f.write("good value\nlonely\n")
            res = mailctl("map", "build", src)
            self.assertNotEqual(res.returncode, 0)
            self.assertIn("%s:2:" % src, res.stderr)
            self.assertFalse(os.path.exists(src + ".db"))

    def test_unreadable_map(self):
        res = mailctl("map", "build", "/nonexistent/map")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("/nonexistent/map", res.stderr)
        res = mailctl("map", "get", "hash:/nonexistent/map", "x")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("/nonexistent/map", res.stderr)


class Help(unittest.TestCase):
    def test_every_subcommand_has_help(self):
        top = mailctl("--help")
        self.assertEqual(top.returncode, 0)
        for cmd in SUBCOMMANDS:
            self.assertIn(cmd, top.stdout)
            res = mailctl(cmd, "--help")
            self.assertEqual(res.returncode, 0, cmd)
            self.assertIn("usage: mailctl", res.stdout, cmd)

    def test_unknown_command(self):
        res = mailctl("frobnicate")
        self.assertEqual(res.returncode, 2)
        self.assertIn("unknown command", res.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
