#!/usr/bin/python3
"""envoi against real servers nobody on this team wrote: Postfix 3.7 with
Dovecot SASL, OpenSMTPD 6.8, and Exim three ways (the project's
configuration, Debian's stock configuration, and stock with
message_size_limit = 0). Postfix and OpenSMTPD run from their unpacked
Debian packages (tests/servers/*-start).

For each server: a delivery whose stored bytes are decoded and compared
with the inputs (subject, text body, attachment and its name); every exit
class the server can produce; and, read from the server's own log, that
every session ended with QUIT (RFC 5321 4.1.1.10) and, for Postfix, that
no command was pipelined improperly. Each send checks, as subtests, its exit
code ("exit"), the number of sessions ("sessions"), how each ended
("quit") and, for Postfix, no pipelining complaint ("log"), so a missing
QUIT shows apart from a wrong exit code.
"""
import email
import email.policy
import glob
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid

import servers
import tap

PASS = "s3cret-Pa55!"


def wait_for(predicate, timeout=5.0):
    """predicate()'s first true value, polled until timeout; else its last."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.05)


class Log:
    """A server's log read from an offset (the size when a send began)."""

    def __init__(self, path):
        self.path = path

    def mark(self):
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0

    def since(self, mark):
        try:
            with open(self.path, "rb") as f:
                f.seek(mark)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class Interop:
    """What every server's test class shares. Subclasses set, in
    setUpClass: cls.log (a Log) and the session-end pattern
    (SESSION_END: a regex whose group 1 says how the session ended;
    QUIT_END: the value that means QUIT), and define options()."""
    SESSION_END = None
    QUIT_END = None
    BAD_LOG = ()   # regexes that must never appear in a session's log
    password = None   # ENVOI_PASSWORD for every run unless a test gives one

    @classmethod
    def make_work(cls):
        cls.work = tempfile.mkdtemp(prefix="envoi-interop-work-")

    def envoi(self, *args, password=None, timeout=120):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
        env["HOME"] = self.work
        if password is not None:
            env["ENVOI_PASSWORD"] = password
        return subprocess.run([tap.ENVOI, *args], capture_output=True, stdin=subprocess.DEVNULL,
                              env=env, timeout=timeout)

    def session_ends(self, mark):
        """How each session logged since mark ended (SESSION_END's groups)."""
        found = re.findall(self.SESSION_END, self.log.since(mark), re.M)
        return [m if isinstance(m, str) else "".join(m) for m in found]

    def sessions(self, mark, count):
        """The ends of the sessions logged since mark (waits for count)."""
        return wait_for(lambda: (lambda e: e if len(e) >= count else None)(self.session_ends(mark))) \
            or self.session_ends(mark)

    def check_count(self, mark, count):
        ends = self.sessions(mark, count)
        self.assertEqual(len(ends), count, f"sessions logged:\n{self.log.since(mark)}")

    def check_sessions(self, mark, count):
        ends = self.sessions(mark, count)
        text = self.log.since(mark)
        for end in ends:
            self.assertTrue(self.ended_by_quit(end), f"a session did not end with QUIT:\n{text}")

    def check_log(self, mark):
        text = self.log.since(mark)
        for bad in self.BAD_LOG:
            self.assertIsNone(re.search(bad, text), f"{bad!r} in the server's log:\n{text}")

    def ended_by_quit(self, end):
        return end == self.QUIT_END

    def run_send(self, code, *args, sessions=1, password=None):
        """Runs envoi; asserts its exit code (subtest "exit") and, when
        sessions > 0, that the server logged that many sessions (subtest
        "sessions"), each ended by QUIT (subtest "quit"), and nothing in
        BAD_LOG (subtest "log")."""
        mark = self.log.mark()
        r = self.envoi(*self.options(), *args,
                       password=self.password if password is None else password)
        with self.subTest("exit"):
            self.assertEqual(r.returncode, code, r.stderr.decode(errors="replace"))
        if sessions:
            with self.subTest("sessions"):
                self.check_count(mark, sessions)
            with self.subTest("quit"):
                self.check_sessions(mark, sessions)
            with self.subTest("log"):
                self.check_log(mark)
        return r

    # ---- delivery and read-back
    def message(self, token, size=5000):
        """Options composing a message, and what must come back."""
        data = os.urandom(size)
        name = f"données {token[:8]}.bin"
        path = os.path.join(self.work, name)
        with open(path, "wb") as f:
            f.write(data)
        exp = {"subject": f"Interop ✓ Grüße — {token}",
               "body": "Hello from envoi — ünïcödé\n.\n..leading dots\nlast line\n",
               "name": name, "data": data}
        args = ["-H", f"X-Interop-Token: {token}", "-s", exp["subject"], "-m", exp["body"],
                "-a", path]
        return args, exp

    def stored(self, token, count=1, timeout=20):
        """The copies (bytes) in the server's maildir holding token."""
        def find():
            got = []
            for path in glob.glob(os.path.join(self.maildir, "new", "*")):
                with open(path, "rb") as f:
                    raw = f.read()
                if f"X-Interop-Token: {token}".encode() in raw:
                    got.append(raw)
            return got if len(got) >= count else None
        return wait_for(find, timeout) or []

    def check_stored(self, raw, exp):
        m = email.message_from_bytes(raw, policy=email.policy.default)
        self.assertEqual(m["subject"], exp["subject"])
        body = m.get_body(("plain",)).get_content()
        self.assertEqual(body.replace("\r\n", "\n"), exp["body"])
        atts = list(m.iter_attachments())
        self.assertEqual(len(atts), 1)
        self.assertEqual(atts[0].get_filename(), exp["name"])
        self.assertEqual(atts[0].get_content(), exp["data"])

    def deliver(self, *args, rcpts=None, sessions=1, password=None, size=5000):
        """Sends a composed message; checks exit 0, QUIT, and every stored
        copy decoded against the inputs. Returns envoi's result."""
        token = uuid.uuid4().hex
        margs, exp = self.message(token, size)
        rcpts = rcpts or [self.rcpt()]
        r = self.run_send(0, "-f", self.sender(), *margs, *args, *rcpts, sessions=sessions,
                          password=password)
        self.assertEqual(r.returncode, 0, "not sent, so nothing to read back")
        copies = self.stored(token, len(rcpts))
        self.assertEqual(len(copies), len(rcpts), "stored copies")
        for raw in copies:
            self.check_stored(raw, exp)
        return r

    def sender(self, local="sender"):
        return f"{local}@example.com"

    def rcpt(self, local="rcpt"):
        return f"{local}@example.com"


# --------------------------------------------------------------------------
class Postfix(Interop, unittest.TestCase):
    """Postfix 3.7.11 + Dovecot 2.3 SASL (tests/servers/postfix-start)."""
    SESSION_END = r"disconnect from \S+(.*)$"
    # A session without QUIT shows as "lost connection after X" and no quit=1.
    BAD_LOG = (r"improper command pipelining",)

    @classmethod
    def setUpClass(cls):
        cls.make_work()
        cls.dir = tempfile.mkdtemp(prefix="envoi-postfix-")
        cls.server = servers.Postfix(cls.dir)
        cls.env = cls.server.env
        cls.log = Log(cls.env["LOG"])
        cls.maildir = cls.env["MAILDIR"]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        shutil.rmtree(cls.work, ignore_errors=True)

    port = "SUBMIT_PORT"
    login = True

    def options(self):
        e = self.env
        o = [f"--server=127.0.0.1:{e[self.port]}", f"--ca-file={e['CA']}", "--timeout=20"]
        return o + (["-u", e["USER"]] if self.login else [])

    def ended_by_quit(self, end):
        # Postfix's summary: "disconnect from H ehlo=2 ... quit=1 commands=N".
        return " quit=1 " in end

    password = PASS

    def using(self, port, login=True):
        """A copy of this test's options for another port."""
        self.port, self.login = port, login
        return self

    def test_delivery_starttls_submission(self):
        self.deliver()
        self.assertIn(" bdat=1 ", self.last_disconnect())

    def last_disconnect(self):
        ends = re.findall(r"disconnect from .*$", self.log.since(0), re.M)
        return ends[-1] if ends else ""

    def test_delivery_auth_login(self):
        self.deliver("--auth=LOGIN")
        self.assertIn("auth=1", self.last_disconnect())

    def test_delivery_implicit_tls_wrappermode(self):
        self.using("SMTPS_PORT").deliver("--tls=implicit")

    def test_delivery_with_chunking_hidden(self):
        self.using("NOCHUNK_PORT").deliver()
        self.assertIn(" data=1 ", self.last_disconnect())
        self.assertNotIn("bdat", self.last_disconnect())

    def test_delivery_with_pipelining_hidden(self):
        self.using("NOPIPE_PORT").deliver()
        self.assertIn(" bdat=1 ", self.last_disconnect())

    def test_delivery_plain_port_without_login(self):
        self.using("PLAIN_PORT", login=False).deliver()

    def test_delivery_to_many_recipients(self):
        self.deliver(rcpts=[self.rcpt(f"r{i}") for i in range(5)])

    def test_some_recipients_refused_87(self):
        token = uuid.uuid4().hex
        margs, exp = self.message(token)
        r = self.run_send(87, "-f", self.sender(), *margs, self.rcpt("ok"), self.rcpt("reject-1"))
        self.assertIn(b"reject-1@example.com", r.stderr)
        copies = self.stored(token)
        self.assertEqual(len(copies), 1)
        self.check_stored(copies[0], exp)

    def test_every_recipient_refused_88(self):
        self.run_send(88, "-f", self.sender(), "-m", "x", self.rcpt("reject-1"),
                      self.rcpt("reject-2"))

    def test_recipient_deferred_75(self):
        self.run_send(75, "-f", self.sender(), "-m", "x", self.rcpt("defer-1"))

    def test_recipient_deferred_75_without_chunking(self):
        self.using("NOCHUNK_PORT").run_send(75, "-f", self.sender(), "-m", "x", self.rcpt("defer-1"))

    def test_retry_when_every_recipient_deferred(self):
        # Nothing can have been delivered when every RCPT got 450, so
        # --retry must try again, whether the data went as BDAT LAST
        # (pipelined, CHUNKING) or not.
        for port in ("SUBMIT_PORT", "NOCHUNK_PORT"):
            with self.subTest(port=port):
                self.using(port).run_send(75, "--retry=1", "-f", self.sender(), "-m", "x",
                                          self.rcpt("defer-2"), sessions=2)

    def test_some_recipients_deferred_87(self):
        self.run_send(87, "-f", self.sender(), "-m", "x", self.rcpt("ok"), self.rcpt("defer-3"))

    def test_sender_refused_86(self):
        # PLAIN_PORT has smtpd_delay_reject=no: the refusal comes at MAIL FROM.
        self.using("PLAIN_PORT", login=False).run_send(86, "-f", self.sender("reject-me"), "-m", "x",
                                                       self.rcpt())

    def test_sender_refused_at_rcpt_88(self):
        # Postfix's default (smtpd_delay_reject=yes) refuses a sender at
        # RCPT TO, naming the sender: to envoi every recipient was refused.
        r = self.run_send(88, "-f", self.sender("reject-me"), "-m", "x", self.rcpt())
        self.assertIn(b"Sender address rejected", r.stderr)

    def test_sender_deferred_75(self):
        self.run_send(75, "-f", self.sender("defer-me"), "-m", "x", self.rcpt())

    def test_message_over_size_limit_89(self):
        token = uuid.uuid4().hex
        margs, _ = self.message(token, size=int(self.env["SIZE_LIMIT"]))
        r = self.run_send(89, "-f", self.sender(), *margs, self.rcpt())
        self.assertIn(b"1000000", r.stderr)

    def test_bad_password_84(self):
        self.run_send(84, "-f", self.sender(), "-m", "x", self.rcpt(), password="wrong-Pa55")

    def test_no_starttls_offered_81(self):
        self.using("PLAIN_PORT", login=False).run_send(
            81, "--tls=starttls", "-f", self.sender(), "-m", "x", self.rcpt())

    def test_no_auth_offered_85(self):
        self.using("PLAIN_PORT").run_send(85, "--tls=none", "-f", self.sender(), "-m", "x",
                                          self.rcpt())

    def test_wrong_tls_mode_80(self):
        # The TLS handshake fails (or is never answered): no QUIT possible.
        r = self.using("SMTPS_PORT").run_send(80, "--tls=starttls", "-f", self.sender(), "-m", "x",
                                              self.rcpt(), sessions=0)
        self.assertIn(b"--tls=implicit", r.stderr)


# --------------------------------------------------------------------------
class OpenSMTPD(Interop, unittest.TestCase):
    """OpenSMTPD 6.8.0p2 on its plaintext listener (no STARTTLS, no AUTH:
    see tests/servers/opensmtpd-start)."""
    SESSION_END = r"smtp disconnected reason=(\w+)"
    QUIT_END = "quit"

    @classmethod
    def setUpClass(cls):
        cls.make_work()
        cls.dir = tempfile.mkdtemp(prefix="envoi-opensmtpd-")
        cls.server = servers.OpenSMTPD(cls.dir)
        cls.env = cls.server.env
        cls.log = Log(cls.env["LOG"])
        cls.maildir = cls.env["MAILDIR"]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        shutil.rmtree(cls.work, ignore_errors=True)

    def options(self):
        return [f"--server=127.0.0.1:{self.env['PORT']}", "--timeout=20"]

    def test_delivery(self):
        self.deliver()

    def test_delivery_to_many_recipients(self):
        self.deliver(rcpts=[self.rcpt(f"r{i}") for i in range(4)] + ["x@example.org"])

    def test_some_recipients_refused_87(self):
        token = uuid.uuid4().hex
        margs, exp = self.message(token)
        self.run_send(87, "-f", self.sender(), *margs, self.rcpt("ok"), self.rcpt("reject-1"))
        copies = self.stored(token)
        self.assertEqual(len(copies), 1)
        self.check_stored(copies[0], exp)

    def test_every_recipient_refused_88(self):
        self.run_send(88, "-f", self.sender(), "-m", "x", self.rcpt("reject-1"), "y@unknown.test")

    def test_recipient_deferred_75(self):
        self.run_send(75, "-f", self.sender(), "-m", "x", self.rcpt("defer-1"))

    def test_sender_refused_86(self):
        self.run_send(86, "-f", self.sender("reject-me"), "-m", "x", self.rcpt())

    def test_sender_deferred_75(self):
        self.run_send(75, "-f", self.sender("defer-me"), "-m", "x", self.rcpt())

    def test_message_over_size_limit_89(self):
        margs, _ = self.message(uuid.uuid4().hex, size=int(self.env["SIZE_LIMIT"]))
        self.run_send(89, "-f", self.sender(), *margs, self.rcpt())

    def test_no_starttls_offered_81(self):
        self.run_send(81, "--tls=starttls", "-f", self.sender(), "-m", "x", self.rcpt())

    def test_no_auth_offered_85(self):
        self.run_send(85, "--tls=none", "-u", "tester", "-f", self.sender(), "-m", "x",
                      self.rcpt(), password=PASS)


# --------------------------------------------------------------------------
class EximLog(Interop):
    """Exim with +smtp_connection: "SMTP connection from H closed by QUIT"
    (or "closed by EOF", "... lost"), or, when the client hung up between
    commands, "unexpected disconnection while reading SMTP command"."""
    SESSION_END = (r"SMTP connection from .*? (closed by \w+|lost)\b"
                   r"|(unexpected disconnection) while reading SMTP command")
    QUIT_END = "closed by QUIT"


class EximProject(EximLog, unittest.TestCase):
    """The project's own Exim configuration (tests/servers/exim-start)."""

    @classmethod
    def setUpClass(cls):
        cls.make_work()
        cls.dir = tempfile.mkdtemp(prefix="envoi-exim-interop-")
        cls.server = servers.Exim(cls.dir)
        cls.env = cls.server.env
        cls.log = Log(cls.env["LOG"])
        cls.maildir = cls.env["MAILDIR"]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        shutil.rmtree(cls.work, ignore_errors=True)

    port = "SUBMIT_PORT"

    def options(self):
        e = self.env
        return [f"--server=127.0.0.1:{e[self.port]}", f"--ca-file={e['CA']}", "-u", e["USER"],
                "--timeout=20"]

    password = PASS

    def test_delivery(self):
        self.deliver()

    def test_delivery_implicit_tls(self):
        self.port = "IMPLICIT_PORT"
        self.deliver("--tls=implicit")

    def test_some_recipients_refused_87(self):
        self.run_send(87, "-f", self.sender(), "-m", "x", self.rcpt(), self.rcpt("reject-1"))

    def test_every_recipient_refused_88(self):
        self.run_send(88, "-f", self.sender(), "-m", "x", self.rcpt("reject-1"))

    def test_recipient_deferred_75(self):
        self.run_send(75, "-f", self.sender(), "-m", "x", self.rcpt("tempfail-1"))

    def test_sender_refused_86(self):
        self.run_send(86, "-f", self.sender("reject-me"), "-m", "x", self.rcpt())

    def test_sender_deferred_75(self):
        self.run_send(75, "-f", self.sender("tempfail-me"), "-m", "x", self.rcpt())

    def test_bad_password_84(self):
        self.run_send(84, "-f", self.sender(), "-m", "x", self.rcpt(), password="wrong-Pa55")

    def test_no_starttls_offered_81(self):
        self.port = "PLAIN_PORT"
        self.run_send(81, "--tls=starttls", "-f", self.sender(), "-m", "x", self.rcpt())


class EximStockBase(EximLog):
    size0 = False

    @classmethod
    def setUpClass(cls):
        cls.make_work()
        cls.dir = tempfile.mkdtemp(prefix="envoi-exim-stock-")
        cls.server = servers.EximStock(cls.dir, size0=cls.size0)
        cls.env = cls.server.env
        cls.log = Log(cls.env["LOG"])
        cls.maildir = cls.env["MAILDIR"]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        shutil.rmtree(cls.work, ignore_errors=True)

    def options(self):
        return [f"--server=127.0.0.1:{self.env['PORT']}", "--timeout=20"]

    def rcpt(self, local=None):
        # Debian's routers deliver to local users only (check_local_user).
        return self.env["RCPT"]

    def ehlo(self):
        """The server's EHLO reply (read directly, no envoi)."""
        import socket
        with socket.create_connection(("127.0.0.1", int(self.env["PORT"])), timeout=10) as s:
            f = s.makefile("rwb")
            f.readline()
            f.write(b"EHLO interop.test\r\n")
            f.flush()
            lines = []
            while True:
                line = f.readline()
                lines.append(line)
                if line[3:4] != b"-":
                    break
            f.write(b"QUIT\r\n")
            f.flush()
            f.readline()
        return b"".join(lines)


class EximStock(EximStockBase, unittest.TestCase):
    """Exim with Debian's stock configuration (tests/servers/exim-stock-start
    lists the deviations). It offers STARTTLS with the self-signed
    certificate Exim makes when none is configured, and no AUTH."""

    def test_stock_offers_starttls_with_its_own_certificate_82(self):
        # As shipped, Debian's Exim offers STARTTLS with a self-signed
        # certificate: envoi uses it on loopback and must refuse it (82);
        # the handshake fails, so no QUIT can be sent.
        self.assertIn(b"STARTTLS", self.ehlo())
        r = self.run_send(82, "-f", self.sender(), "-m", "x", self.rcpt(), sessions=0)
        self.assertIn(b"--fingerprint", r.stderr)

    def test_delivery_over_starttls_insecure(self):
        r = self.deliver("--insecure")
        with self.subTest("insecure warning"):
            # The contract: one warning line, and the success line says the
            # certificate was not verified.
            lines = r.stderr.lower().splitlines()
            self.assertEqual(len([l for l in lines if l.startswith(b"envoi: warning: --insecure")]), 1)
            self.assertIn(b"not verified", [l for l in lines if l.startswith(b"envoi: sent to")][0])

    def test_delivery_in_plaintext(self):
        self.deliver("--tls=none")

    def test_no_auth_offered_85(self):
        self.run_send(85, "--insecure", "-u", "tester", "-f", self.sender(), "-m", "x",
                      self.rcpt(), password=PASS)

    def test_message_over_default_size_limit_89(self):
        # Exim's default limit, which Debian keeps: 50 MiB (SIZE 52428800).
        self.assertIn(b"SIZE 52428800", self.ehlo())
        big = os.path.join(self.work, "big.bin")
        with open(big, "wb") as f:
            f.truncate(40 * 1024 * 1024)   # base64: 53.7 MB > 50 MiB
        self.run_send(89, "--tls=none", "-f", self.sender(), "-m", "x", "-a", big, self.rcpt())


class EximSizeZero(EximStockBase, unittest.TestCase):
    """Debian's Exim with MESSAGE_SIZE_LIMIT=0: a bare SIZE keyword,
    followed by 8BITMIME (issue 9: envoi read the 8 as the limit)."""
    size0 = True

    def test_server_advertises_bare_size(self):
        self.assertRegex(self.ehlo(), rb"250-SIZE\r\n250-8BITMIME\r\n")

    def test_delivery_with_bare_size(self):
        self.deliver("--tls=none")

    def test_large_delivery_with_bare_size(self):
        self.deliver("--tls=none", size=3 * 1024 * 1024)

    def test_delivery_over_starttls_with_bare_size(self):
        self.deliver("--insecure")


if __name__ == "__main__":
    tap.main()
