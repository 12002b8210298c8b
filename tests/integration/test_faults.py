#!/usr/bin/python3
"""envoi against the fault-injecting server (tests/servers/faultserver.py):
every scenario of tests/servers/scenarios.tsv gives its exit code, one
line on stderr naming the failure, no protocol violation seen by the
server, and no credentials where they must not go. Scenarios run
concurrently (most of them wait on a timeout); each is one TAP case."""
import base64
import concurrent.futures
import email
import email.policy
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import servers
import tap

PASSWORD = "s3cret-Pa55!"
SECRET_FORMS = [PASSWORD.encode(), base64.b64encode(PASSWORD.encode()),
                base64.b64encode(b"\0tester\0" + PASSWORD.encode())]


def run_scenario(name, args, base, cert_dir):
    d = os.path.join(base, name)
    try:
        port = servers.fault_start(name, d, cert_dir)
    except RuntimeError as e:
        return {"error": str(e)}
    argv = servers.scenario_argv(args, port, cert_dir)
    if not any(a.startswith("--timeout=") for a in argv):
        argv.append("--timeout=5")
    argv += ["--from=sender@example.com", "--to=rcpt@example.com", "--body=hello",
             f"--ca-file={os.path.join(cert_dir, 'ca.pem')}", "-v"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
    env.update(ENVOI_PASSWORD=PASSWORD, HOME=d)
    try:
        e = subprocess.run([tap.ENVOI] + argv, capture_output=True, stdin=subprocess.DEVNULL,
                           env=env, timeout=90)
        result = {"code": e.returncode, "stdout": e.stdout, "stderr": e.stderr, "argv": argv}
    except subprocess.TimeoutExpired:
        result = {"code": None, "stdout": b"", "stderr": b"envoi hung", "argv": argv}
    servers.fault_stop(d)
    result["raw"], result["summary"], _ = servers.fault_logs(d)
    return result


class Faults(unittest.TestCase):
    results = {}

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-faults-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)
        with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
            futures = {pool.submit(run_scenario, n, a, cls.base, cls.certs): n
                       for n, a, _, _ in servers.scenarios()}
            for fut, name in futures.items():
                cls.results[name] = fut.result()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def check(self, name, args, codes, desc):
        r = self.results[name]
        self.assertNotIn("error", r, r.get("error"))
        err = r["stderr"].decode(errors="replace")
        self.assertIn(r["code"], codes, f"{desc}\n{' '.join(r['argv'])}\n{err}")
        outcome = [l for l in err.splitlines() if l.startswith("envoi: ") and
                   not l.startswith("envoi: warning:") and "; retrying in " not in l]
        self.assertEqual(len(outcome), 1, f"one outcome line expected:\n{err}")
        self.assertEqual(outcome[0].startswith("envoi: sent to"), r["code"] == 0, outcome[0])
        for conn in r["summary"].get("connections", []):
            self.assertEqual(conn.get("violations", []), [], f"server saw violations:\n{err}")
        tls_failure = bool(codes & {80, 81, 82, 83}) or name.startswith(("starttls_", "tls_", "cert_"))
        if 0 not in codes and "--user=tester" in args and tls_failure:
            self.assertNotIn(b"AUTH", r["raw"], "credentials offered on a connection that failed")
        if "--tls=none" not in args:
            for conn in r["summary"].get("connections", []):
                if conn.get("auth") and "tls" in conn["auth"]:
                    self.assertTrue(conn["auth"]["tls"], "AUTH outside TLS")
        for form in SECRET_FORMS:
            self.assertNotIn(form, r["stdout"] + r["stderr"], "password in envoi's output")


class Server(servers.FaultServer):
    def envoi(self, *args, **kw):
        cmd = [tap.ENVOI, *self.options(), "--timeout=10", "--from=sender@example.com", *args]
        return subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL, timeout=60, **kw)


class Data(unittest.TestCase):
    BODY = ("." + "\n" + ".." + "\n" + ".x\n" + "bare\rcr\n" + "lf only\n" + "z" * 5000 + "\n"
            + "\n.\n" * 3 + "last line without newline")

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-data-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def server(self, scenario):
        return Server(scenario, self.base, self.certs)

    def check_raw(self, raw, summary, via):
        msg = summary["connections"][-1]["messages"][0]
        self.assertEqual(msg["via"], via)
        self.assertIsNone(re.search(rb"[^\r]\n", raw), "bare LF on the wire")
        self.assertIsNone(re.search(rb"\r[^\n]", raw), "bare CR on the wire")
        with open(msg["file"], "rb") as f:
            stored = f.read()
        parsed = email.message_from_bytes(stored, policy=email.policy.default)
        # Text goes in canonical form (a lone CR is a line break too);
        # quoted-printable keeps the unterminated last line.
        body = parsed.get_payload(decode=True).replace(b"\r\n", b"\n")
        self.assertEqual(body, re.sub(r"\r\n|\r|\n", "\n", self.BODY).encode())
        if via == "DATA":
            start = raw.index(b"\r\nDATA\r\n") + 8
            end = raw.index(b"\r\n.\r\n", start)
            self.assertEqual(raw[end:], b"\r\n.\r\nQUIT\r\n", "early end of data")

    def test_tricky_body_over_data(self):
        srv = self.server("ok")
        r = srv.envoi("-m", self.BODY, "rcpt@example.com")
        raw, summary, _ = srv.stop()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_raw(raw, summary, "DATA")

    def test_tricky_body_over_bdat(self):
        srv = self.server("ok_chunking")
        r = srv.envoi("-m", self.BODY, "rcpt@example.com")
        raw, summary, _ = srv.stop()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_raw(raw, summary, "BDAT")

    def test_utf8_recipient_without_smtputf8(self):
        # In a header it cannot be encoded: the whole message needs SMTPUTF8.
        srv = self.server("ok")
        r = srv.envoi("-m", "x", "jörg@example.com", "plain@example.com")
        raw, _, _ = srv.stop()
        self.assertEqual(r.returncode, 89, r.stderr)
        self.assertIn("SMTPUTF8", r.stderr.decode())
        self.assertNotIn(b"MAIL FROM", raw)
        # As Bcc it is only in the envelope: refused alone, the rest is sent.
        srv = self.server("ok")
        r = srv.envoi("-m", "x", "-b", "jörg@example.com", "plain@example.com")
        raw, summary, _ = srv.stop()
        self.assertEqual(r.returncode, 87, r.stderr)
        self.assertIn("jörg@example.com", r.stderr.decode())
        self.assertNotIn("jörg".encode(), raw)
        self.assertEqual(summary["connections"][-1]["messages"][0]["rcpts"], ["plain@example.com"])

    def test_utf8_recipient_with_smtputf8(self):
        srv = self.server("ok_dsn_utf8")
        r = srv.envoi("-m", "x", "jörg@exämple.com")
        raw, summary, _ = srv.stop()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b" SMTPUTF8", raw)

    def test_failed_pipelined_login(self):
        """AUTH PLAIN goes with the envelope (RFC 4954 4). When it fails but
        the server goes on: after a 354 no data is sent (no delivery, 84);
        a BDAT that was taken is reported as sent, with a warning."""
        env = dict(os.environ, ENVOI_PASSWORD="wrong")
        srv = self.server("auth_535_data_354")
        r = srv.envoi("-u", "tester", "-m", "x", "rcpt@example.com", env=env)
        raw, summary, _ = srv.stop()
        self.assertEqual(r.returncode, 84, r.stderr)
        self.assertEqual(summary["connections"][0]["messages"], [])
        self.assertNotIn(b"QUIT", raw, "QUIT after a 354 would be message data")
        srv = self.server("auth_535_bdat_taken")
        r = srv.envoi("-u", "tester", "-m", "x", "rcpt@example.com", env=env)
        srv.stop()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"envoi: warning: the server rejected the user name or password for tester, "
                      b"but the server took the message without a login", r.stderr)

    def test_no_retry_when_the_message_may_have_been_delivered(self):
        """The whole message went out and the connection dropped before the
        reply: it may have been delivered, so --retry does not send again."""
        srv = self.server("drop_after_data")
        r = srv.envoi("--retry=2", "-m", "x", "rcpt@example.com")
        _, summary, _ = srv.stop()
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertEqual(len(summary["connections"]), 1, "sent again")
        self.assertIn(b"check before sending it again", r.stderr)

    def stalled(self, sig):
        srv = self.server("greeting_never")
        p = subprocess.Popen([tap.ENVOI, *srv.options(), "--timeout=60",
                              "-f", "a@example.com", "-m", "x", "b@example.com"],
                             stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        start = time.monotonic()
        p.send_signal(sig)
        try:
            code = p.wait(timeout=5)
        finally:
            p.kill()
            srv.stop()
        return code, time.monotonic() - start, p.stderr.read()

    def test_sigterm_and_sigint_end_the_session_promptly(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            code, took, _ = self.stalled(sig)
            self.assertEqual(code, -sig)
            self.assertLess(took, 2)

    def test_crash_is_internal_error_70(self):
        code, _, err = self.stalled(signal.SIGABRT)
        self.assertEqual(code, 70)
        self.assertIn(b"internal error", err)


def _make(n, a, c, d):
    return lambda self: self.check(n, a, c, d)


for _name, _args, _codes, _desc in servers.scenarios():
    setattr(Faults, "test_" + _name, _make(_name, _args, _codes, _desc))


if __name__ == "__main__":
    tap.main()
