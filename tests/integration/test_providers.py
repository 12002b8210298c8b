#!/usr/bin/python3
"""envoi against the big providers' SMTP dialogues, replayed by the fault
server (the prov_* scenarios of tests/servers/faultserver.py, each with its
published source named in a comment there): Gmail, Microsoft 365, Yahoo,
iCloud, Fastmail, Zoho, Amazon SES, SendGrid, Mailgun, Postmark, and an
Exim without a size limit (bare SIZE).

For each scenario: the exit code of its row in scenarios.tsv, with a
composed message (UTF-8 subject and body, lines starting with dots, a
binary attachment with a UTF-8 name); no protocol violation recorded by the
server; QUIT at the end of the session (unless the server closed it
first, as after a 421); and, when the
message was taken, the stored bytes decoded and compared with the inputs.
"""
import email
import email.policy
import os
import shutil
import subprocess
import tempfile
import unittest

import servers
import tap

PASS = "s3cret-Pa55!"


class Providers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-providers-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)
        data = os.urandom(3000)
        cls.name = "relevé ünïcödé.bin"
        cls.attachment = os.path.join(cls.base, cls.name)
        with open(cls.attachment, "wb") as f:
            f.write(data)
        cls.expect = {"subject": "Provider replay ✓ — Grüße", "data": data,
                      "body": "Hello from envoi — ünïcödé\n.\n..two dots\nlast line\n"}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def send(self, scenario, args):
        server = servers.FaultServer(scenario, self.base, self.certs)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
        env.update(HOME=self.base, ENVOI_PASSWORD=PASS)
        argv = servers.scenario_argv(args, server.port, self.certs)
        e = self.expect
        try:
            r = subprocess.run([tap.ENVOI, "--timeout=5", f"--ca-file={self.certs}/ca.pem",
                                "--from=sender@example.com", "--to=rcpt@example.com",
                                "-s", e["subject"], "-m", e["body"], "-a", self.attachment, *argv],
                               capture_output=True, stdin=subprocess.DEVNULL, env=env, timeout=60)
        finally:
            raw, summary, stored = server.stop()
        return r, summary, stored

    def check(self, scenario, args, codes):
        r, summary, stored = self.send(scenario, args)
        conns = summary.get("connections", [])
        with self.subTest("exit"):
            self.assertIn(r.returncode, codes, r.stderr.decode(errors="replace"))
        with self.subTest("violations"):
            self.assertEqual([v for c in conns for v in c.get("violations", [])], [])
        with self.subTest("quit"):
            self.assertTrue(conns, "no connection")
            for c in conns:
                # After a 421 the server closes first: nothing to QUIT.
                self.assertIn(c.get("end"), ("quit", "dropped by server"),
                              f"session ended: {c.get('end')}; last commands: "
                              f"{c.get('commands', [])[-3:]}")
        if codes == {0}:
            with self.subTest("read back"):
                self.assertIsNotNone(stored, "no message stored")
                self.check_stored(stored)

    def check_stored(self, raw):
        e = self.expect
        m = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertEqual(m["subject"], e["subject"])
        self.assertEqual(m.get_body(("plain",)).get_content().replace("\r\n", "\n"), e["body"])
        atts = list(m.iter_attachments())
        self.assertEqual(len(atts), 1)
        self.assertEqual(atts[0].get_filename(), self.name)
        self.assertEqual(atts[0].get_content(), e["data"])


def make_test(name, args, codes):
    def test(self):
        self.check(name, args, codes)
    test.__doc__ = f"{name}: exit {sorted(codes)}"
    return test


for _name, _args, _codes, _desc in servers.scenarios():
    if _name.startswith("prov_"):
        setattr(Providers, "test_" + _name, make_test(_name, _args, _codes))


if __name__ == "__main__":
    tap.main()
