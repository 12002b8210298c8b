#!/usr/bin/python3
"""envoi against the fault-injecting server (tests/servers/faultserver.py):
every scenario of tests/servers/scenarios.tsv gives its exit code, one
line on stderr naming the failure, no protocol violation seen by the
server, and no credentials where they must not go. Scenarios run
concurrently (most of them wait on a timeout); each is one TAP case."""
import base64
import concurrent.futures
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import tap

HERE = os.path.dirname(os.path.abspath(__file__))
SERVERS = os.path.normpath(os.path.join(HERE, "..", "servers"))
PASSWORD = "s3cret-Pa55!"
SECRET_FORMS = [PASSWORD.encode(), base64.b64encode(PASSWORD.encode()),
                base64.b64encode(b"\0tester\0" + PASSWORD.encode())]


def scenarios():
    rows = []
    with open(os.path.join(SERVERS, "scenarios.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, args, code, desc = line.rstrip("\n").split("\t", 3)
            rows.append((name, [] if args == "-" else args.split(" "),
                         {int(c) for c in code.split("|")}, desc))
    return rows


def run_scenario(name, args, base, cert_dir):
    d = os.path.join(base, name)
    r = subprocess.run([os.path.join(SERVERS, "fault-start"), name, d], capture_output=True,
                       env=dict(os.environ, CERT_DIR=cert_dir), timeout=60)
    if r.returncode != 0:
        return {"error": "fault-start failed: " + r.stderr.decode()}
    port = r.stdout.decode().strip()
    with open(os.path.join(cert_dir, "good.sha256")) as f:
        pin = f.read().strip()
    subst = {"{PORT}": port, "{HOST}": "127.0.0.1", "{CA}": os.path.join(cert_dir, "ca.pem"),
             "{CERT_DIR}": cert_dir, "{GOOD_SHA256}": pin}
    argv = []
    for a in args:
        for k, v in subst.items():
            a = a.replace(k, v)
        argv.append(a)
    if not any(a.startswith("--server=") for a in argv):
        argv.append(f"--server=127.0.0.1:{port}")
    if not any(a.startswith("--timeout=") for a in argv):
        argv.append("--timeout=5")
    argv += ["--from=sender@example.com", "--to=rcpt@example.com", "--body=hello",
             f"--ca-file={subst['{CA}']}", "-v"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
    env.update(ENVOI_PASSWORD=PASSWORD, HOME=d)
    try:
        e = subprocess.run([tap.ENVOI] + argv, capture_output=True, stdin=subprocess.DEVNULL,
                           env=env, timeout=90)
        result = {"code": e.returncode, "stdout": e.stdout, "stderr": e.stderr, "argv": argv}
    except subprocess.TimeoutExpired:
        result = {"code": None, "stdout": b"", "stderr": b"envoi hung", "argv": argv}
    subprocess.run([os.path.join(SERVERS, "fault-stop"), d], capture_output=True, timeout=60)
    for name_, key in (("log", "raw"), ("log.json", "summary")):
        try:
            with open(os.path.join(d, name_), "rb") as f:
                result[key] = f.read()
        except OSError:
            result[key] = b""
    return result


class Faults(unittest.TestCase):
    results = {}

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-faults-")
        cls.certs = os.path.join(cls.base, "certs")
        subprocess.run([os.path.join(SERVERS, "gen-certs"), cls.certs], check=True, timeout=60)
        with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
            futures = {pool.submit(run_scenario, n, a, cls.base, cls.certs): n
                       for n, a, _, _ in scenarios()}
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
        if r["summary"]:
            summary = json.loads(r["summary"])
            for conn in summary.get("connections", []):
                self.assertEqual(conn.get("violations", []), [], f"server saw violations:\n{err}")
        tls_failure = bool(codes & {80, 81, 82, 83}) or name.startswith("starttls_")
        if 0 not in codes and "--user=tester" in args and tls_failure:
            self.assertNotIn(b"AUTH", r["raw"], "credentials offered on a connection that failed")
        if r["summary"] and "--tls=none" not in args:
            for conn in json.loads(r["summary"]).get("connections", []):
                if conn.get("auth") and "tls" in conn["auth"]:
                    self.assertTrue(conn["auth"]["tls"], "AUTH outside TLS")
        for form in SECRET_FORMS:
            self.assertNotIn(form, r["stdout"] + r["stderr"], "password in envoi's output")


def _make(n, a, c, d):
    return lambda self: self.check(n, a, c, d)


for _name, _args, _codes, _desc in scenarios():
    setattr(Faults, "test_" + _name, _make(_name, _args, _codes, _desc))


if __name__ == "__main__":
    tap.main()
