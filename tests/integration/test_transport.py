#!/usr/bin/python3
"""The transport against hostile and slow servers (branch transport of
issue 10): nothing a server sends reaches the terminal raw (-v, the error
line, --probe, --json); slow greetings; the loopback exception; deadlines
per step; out of memory."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import servers
import tap

# What must never leave envoi raw: C0 controls but LF (ESC above all), DEL,
# the C1 controls in UTF-8 (C2 80..C2 9F), bidi controls, and bytes that
# are not UTF-8 (a lone 0x9B is CSI to an 8-bit terminal).
RAW_C0 = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]")
RAW_C1 = re.compile(rb"\xc2[\x80-\x9f]")
RAW_BIDI = re.compile(rb"\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]")


class Server(servers.FaultServer):
    def envoi(self, *args, timeout=60):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
        cmd = [tap.ENVOI, *self.options(), "--from=sender@example.com", "--to=rcpt@example.com",
               "--body=hello", *args]
        return subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout,
                              env=env)


class Escapes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-transport-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def run_envoi(self, scenario, *args):
        srv = Server(scenario, self.base, self.certs)
        try:
            return srv.envoi("--timeout=10", *args)
        finally:
            srv.stop()

    def assert_clean(self, out, what):
        self.assertIsNone(RAW_C0.search(out), f"raw control byte in {what}: {out!r}")
        self.assertIsNone(RAW_C1.search(out), f"raw C1 control in {what}: {out!r}")
        self.assertIsNone(RAW_BIDI.search(out), f"raw bidi control in {what}: {out!r}")
        out.decode("utf-8")   # raises on a byte that is not UTF-8

    def check(self, scenario, code, *args):
        for extra in ([], ["-v"], ["--json"]):
            r = self.run_envoi(scenario, *args, *extra)
            self.assertEqual(r.returncode, code, r.stderr)
            self.assert_clean(r.stderr, f"stderr with {extra}")
            self.assert_clean(r.stdout, f"stdout with {extra}")
            if extra == ["--json"]:
                json.loads(r.stdout)
            yield extra, r.stdout + r.stderr

    def test_certificate_subject_in_the_82_line(self):
        for extra, out in self.check("evil_cert_names", 82, "--tls=starttls"):
            self.assertIn(b"\\x1b[2J", out.replace(b"\\\\", b"\\"), extra)
            self.assertIn("Müller".encode(), out, extra)

    def test_certificate_subject_in_probe(self):
        for extra, out in self.check("evil_cert_probe", 0, "--tls=starttls", "--insecure", "--probe"):
            self.assertIn(b"\\u009b31m", out.replace(b"\\\\", b"\\"), extra)
            self.assertIn(b"\\u202e", out.replace(b"\\\\", b"\\"), extra)

    def test_reply_text_in_error_line(self):
        for extra, out in self.check("evil_reply_5xx", 86):
            self.assertIn(b"\\x9b1m", out.replace(b"\\\\", b"\\"), extra)
            self.assertIn(b"\\u0085", out.replace(b"\\\\", b"\\"), extra)

    def test_control_bytes_in_greeting_and_ehlo(self):
        for scenario in ("evil_greeting_esc", "evil_ehlo_esc"):
            for extra, out in self.check(scenario, 76):
                self.assertIn(b"\\x1b[2J\\x1b]0;pwned\\x07", out.replace(b"\\\\", b"\\"), extra)

    def test_ehlo_lines_in_probe(self):
        for extra, out in self.check("evil_ehlo_lines", 0, "--probe"):
            self.assertIn(b"X-C1 \\u009b31m", out.replace(b"\\\\", b"\\"), extra)



class SlowGreeting(unittest.TestCase):
    """The ClientHello sent after a silence must not turn a slow plaintext
    server into exit 80: only a TLS record in answer proves a TLS port."""

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-slow-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def run_envoi(self, scenario, *args):
        srv = Server(scenario, self.base, self.certs)
        try:
            r = srv.envoi("-v", *args)
        finally:
            _, summary, _ = srv.stop()
        return r, summary.get("connections", [])

    def test_server_hanging_up_on_the_probe_gets_a_fresh_connection(self):
        r, conns = self.run_envoi("slow_greeting_drops_probe", "--timeout=5")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(conns), 2, r.stderr)
        self.assertIn(b"no TLS answer", r.stderr)

    def test_no_greeting_after_the_probe_is_75_and_retried(self):
        r, conns = self.run_envoi("greeting_drop_after_probe", "--timeout=2", "--retry=1")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertEqual(len(conns), 4, r.stderr)   # two attempts of probe + fresh connection
        self.assertIn(b"no greeting came; retrying in", r.stderr)
        self.assertNotIn(b"implicit", r.stderr)

    def test_tls_answer_to_the_probe_is_80(self):
        for scenario in ("implicit_tls_alert", "implicit_tls_port"):
            r, _ = self.run_envoi(scenario, "--tls=starttls", "--timeout=3")
            self.assertEqual(r.returncode, 80, r.stderr)
            self.assertIn(b"use --tls=implicit", r.stderr)

if __name__ == "__main__":
    tap.main()
