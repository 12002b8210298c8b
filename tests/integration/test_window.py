#!/usr/bin/python3
"""The engine's window of transactions in flight (smtp_submit and
smtp_collect) against real servers (Exim ours and Debian's stock, Postfix,
OpenSMTPD), through tests/window_drive: one session, many messages, a
middle one whose every recipient is refused.
Every other message must be delivered exactly once, under its own
envelope sender (a MAIL pipelined into a transaction the server still
held would put it under the previous sender), and, for Postfix, no
"improper command pipelining" in its log. Exim keeps a transaction open
after a refused BDAT LAST ("503 sender already given" to the next MAIL):
the RSET the engine sends there is what keeps the senders apart."""
import glob
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import servers
import tap

DRIVE = os.environ.get("WINDOW_DRIVE", "window_drive")
REFUSED = "reject-1@example.com"


class Window:
    """What the servers' classes share; subclasses set cls.env, cls.maildir."""

    refused_rcpt = REFUSED

    def drive(self, port, n, token, refused=(), user=True, tls="starttls", rcpt=None, extra=0):
        """Runs the driver; returns its outcome lines as lists of fields.
        extra: that many more recipients per message, all refused."""
        args = [DRIVE, "-n", str(n), "-T", token, "-t", tls, "-f", f"{token}-from-%d@example.com",
                "-e", str(extra)]
        if rcpt:
            args += ["-r", rcpt]
        if tls != "none":
            args += ["-c", self.env["CA"]]
        if user:
            args += ["-u", self.env["USER"]]
        for k in refused:
            args += ["-x", f"{k}:{self.refused_rcpt}"]
        env = dict(os.environ, WINDOW_PASSWORD=self.env.get("PASS", ""))
        r = subprocess.run(args + ["127.0.0.1", str(port)], capture_output=True, env=env,
                           timeout=240)
        lines = [l.split(" ", 8) for l in r.stdout.decode().splitlines()]
        self.assertEqual(r.returncode, 1 if refused or extra else 0,
                         r.stdout.decode() + r.stderr.decode())
        self.assertEqual([int(l[0]) for l in lines], list(range(n)), "one outcome per message, in order")
        for l in lines:
            i, rc, code, delivered, maybe, lost = (int(f) for f in l[:6])
            if i in refused:
                self.assertEqual((rc, code, delivered, maybe, lost), (-1, 88, 0, 0, 0), l)
            elif extra:
                self.assertEqual((rc, code, delivered, maybe, lost), (-1, 87, 1, 1, 0), l)
            else:
                self.assertEqual((rc, delivered, maybe, lost), (0, 1, 1, 0), l)
        return lines

    def stored(self, token, expected):
        """{message number: [envelope senders of its copies]}, once expected copies are in."""
        pattern = re.compile(rf"^Subject: {re.escape(token)} (\d+)$", re.M)
        deadline = time.monotonic() + 30
        while True:
            found = {}
            for path in glob.glob(os.path.join(self.maildir, "new", "*")):
                with open(path, errors="replace") as f:
                    text = f.read()
                m = pattern.search(text)
                if m:
                    rp = re.search(r"^Return-path: <([^>]*)>", text, re.M | re.I)
                    found.setdefault(int(m.group(1)), []).append(rp.group(1) if rp else None)
            if sum(len(v) for v in found.values()) >= expected or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def check_delivered(self, token, n, refused=(), copies=1):
        time.sleep(0.5)  # a duplicate would arrive with the others
        found = self.stored(token, (n - len(refused)) * copies)
        for i in range(n):
            if i in refused:
                self.assertNotIn(i, found, f"message {i} was refused, yet delivered")
            else:
                self.assertEqual(found.get(i), [f"{token}-from-{i}@example.com"] * copies,
                                 f"message {i}: delivered once, under its own sender")


class Exim(Window, unittest.TestCase):
    """The project's Exim: STARTTLS, AUTH PLAIN, PIPELINING, CHUNKING."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="envoi-window-exim-")
        cls.server = servers.Exim(cls.dir)
        cls.env = cls.server.env
        cls.env["USER"] = cls.env["SMTP_USER"]
        cls.maildir = cls.env["MAILDIR"]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_middle_message_refused_others_once_with_their_sender(self):
        self.drive(self.env["SUBMIT_PORT"], 50, "ex-mid", refused=(20,))
        self.check_delivered("ex-mid", 50, refused=(20,))

    def test_more_messages_than_the_window(self):
        self.drive(self.env["SUBMIT_PORT"], 300, "ex-many", refused=(0, 150, 299))
        self.check_delivered("ex-many", 300, refused=(0, 150, 299))

    def test_many_refused_recipients_no_deadlock(self):
        # 12,000 refusals (some 600 KB of replies) while the messages'
        # data keeps going out: replies are read while writing.
        self.drive(self.env["SUBMIT_PORT"], 30, "ex-rcpts", extra=400)
        self.check_delivered("ex-rcpts", 30)

    def test_implicit_tls(self):
        self.drive(self.env["IMPLICIT_PORT"], 20, "ex-implicit", tls="implicit", refused=(19,))
        self.check_delivered("ex-implicit", 20, refused=(19,))


class EximStock(Window, unittest.TestCase):
    """Exim with Debian's stock configuration: plaintext, no AUTH, one
    local recipient; an empty address is refused (501) at RCPT."""
    refused_rcpt = ""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="envoi-window-eximstock-")
        cls.server = servers.EximStock(cls.dir)
        cls.env = cls.server.env
        cls.maildir = cls.env["MAILDIR"]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_middle_message_refused(self):
        self.drive(self.env["PORT"], 30, "es-mid", refused=(12,), user=False, tls="none",
                   rcpt=self.env["RCPT"])
        self.check_delivered("es-mid", 30, refused=(12,))


class Postfix(Window, unittest.TestCase):
    """Postfix 3.7 + Dovecot SASL, with smtpd_forbid_unauth_pipelining."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="envoi-window-postfix-")
        cls.server = servers.Postfix(cls.dir)
        cls.env = cls.server.env
        cls.maildir = cls.env["MAILDIR"]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def log_since(self, mark):
        with open(self.env["LOG"], errors="replace") as f:
            f.seek(mark)
            return f.read()

    def run_port(self, port, token, n=40, refused=(10, 11, 39)):
        mark = os.path.getsize(self.env["LOG"])
        self.drive(self.env[port], n, token, refused=refused)
        self.check_delivered(token, n, refused=refused)
        time.sleep(0.3)
        log = self.log_since(mark)
        self.assertNotIn("improper command pipelining", log)
        service = {"SUBMIT_PORT": "submit", "NOCHUNK_PORT": "nochunk", "NOPIPE_PORT": "nopipe"}[port]
        ends = re.findall(rf"/{service}/smtpd\[\d+\]: disconnect from \S+ (.*)$", log, re.M)
        self.assertEqual(len(ends), 1, log)
        self.assertIn(f" mail={n} ", f" {ends[0]} ")
        self.assertIn(" quit=1 ", f" {ends[0]} ")
        return ends[0]

    def test_pipelining_and_chunking(self):
        self.run_port("SUBMIT_PORT", "pf-bdat")

    def test_pipelining_without_chunking(self):
        self.assertIn(" data=", " " + self.run_port("NOCHUNK_PORT", "pf-data"))

    def test_without_pipelining_rset_only_after_a_failure(self):
        end = self.run_port("NOPIPE_PORT", "pf-lockstep")
        # one RSET after each refused message that is followed by another
        self.assertIn(" rset=2 ", f" {end} ")


class OpenSMTPD(Window, unittest.TestCase):
    """OpenSMTPD 6.8, plaintext, PIPELINING without CHUNKING."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="envoi-window-opensmtpd-")
        cls.server = servers.OpenSMTPD(cls.dir)
        cls.env = cls.server.env
        cls.maildir = cls.env["MAILDIR"]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_middle_message_refused(self):
        self.drive(self.env["PORT"], 30, "os-mid", refused=(7,), user=False, tls="none")
        self.check_delivered("os-mid", 30, refused=(7,))


class Faults(unittest.TestCase):
    """The session ends mid-window (tests/servers/faultserver.py, branch
    window's scenarios): the messages before keep their verdicts, a
    message whose data went out with no verdict may have been delivered
    (75, never to be sent again), and one the server never took is
    session_lost (to go over a new session). The server's own record says
    which it took."""

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-window-faults-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def run_scenario(self, scenario, n):
        """(outcomes {i: (exit, maybe, lost)}, messages the server took, pending at end)."""
        d = os.path.join(self.base, f"{scenario}-{n}")
        port = servers.fault_start(scenario, d, self.certs)
        try:
            r = subprocess.run([DRIVE, "-n", str(n), "-T", scenario, "-c",
                                os.path.join(self.certs, "ca.pem"), "127.0.0.1", port],
                               capture_output=True, timeout=120)
        finally:
            servers.fault_stop(d)
        _, summary, _ = servers.fault_logs(d)
        taken = sum(len(c.get("messages", [])) for c in summary.get("connections", []))
        out, pending = {}, 0
        for line in r.stdout.decode().splitlines():
            f = line.split(" ", 8)
            if f[0] == "pending-at-end":
                pending = int(f[1])
            else:
                out[int(f[0])] = (int(f[2]), int(f[4]), int(f[5]))
        self.assertEqual(len(out) + pending, n, r.stdout.decode() + r.stderr.decode())
        return out, taken, pending

    def check(self, scenario, third, later):
        """third: the 3rd message's (exit, maybe, lost); later: the set of
        (exit, maybe, lost) the ones after it may have."""
        for n in (8, 200):
            with self.subTest(n=n):
                out, taken, _ = self.run_scenario(scenario, n)
                self.assertEqual(out[0], (0, 1, 0))
                self.assertEqual(out[1], (0, 1, 0))
                self.assertEqual(out[2], third)
                for i in range(3, len(out)):
                    self.assertIn(out[i], later, f"message {i}")
                self.assertLessEqual(taken, 3)

    def test_drop_after_the_3rd_data(self):
        # data of the later ones went out too, with no verdict: in doubt;
        # one cut short by the failed write was not taken
        self.check("window_drop_after_3rd_data", (75, 1, 1), {(75, 1, 1), (75, 0, 1)})

    def test_421_at_the_3rd_mail(self):
        self.check("window_421_at_3rd_mail", (75, 0, 1), {(75, 0, 1)})

    def test_421_instead_of_the_3rd_verdict(self):
        self.check("window_421_after_3rd_data", (75, 1, 1), {(75, 0, 1)})


if __name__ == "__main__":
    tap.main()
