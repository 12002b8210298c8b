#!/usr/bin/python3
"""sendmail mode, the queue and the send log, against a private Exim
(tests/servers/exim-start): envoi run through a link named sendmail with
cron's exact command line and every flag the contract lists; sendmail -bs
as an SMTP client drives it (BsSession), and as Symfony Mailer does;
messages queued while the server is down and flushed once it is back
(each delivered exactly once, over one session per account, also with
two flushes at once); permanent
refusals and expired entries in failed/; the log's fields, and never a
password in the log or the queue."""
import base64
import email
import email.policy
import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

import servers
import tap


def closed_port():
    """A loopback port nothing listens on (connection refused: 69)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BsSession:
    """sendmail -bs driven as an SMTP client drives a server: one command,
    then its reply (every line of it)."""

    def __init__(self, cmd, env, kill_after=120):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env)
        # A session that hangs fails its test instead of the whole suite.
        self.timer = threading.Timer(kill_after, self.p.kill)
        self.timer.start()

    def write(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def read(self):
        lines = []
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise EOFError("no reply; stderr: " + self.p.stderr.read().decode())
            assert line.endswith(b"\r\n"), line
            lines.append(line[:-2].decode())
            if line[3:4] != b"-":
                return lines

    def cmd_bytes(self, line):
        self.write(line + b"\r\n")
        return self.read()

    def cmd(self, line):
        return self.cmd_bytes(line.encode())

    def close(self):
        try:
            self.p.stdin.close()
        except BrokenPipeError:
            pass
        self.p.stdout.read()
        self.stderr = self.p.stderr.read().decode()
        self.p.stdout.close()
        self.p.stderr.close()
        self.timer.cancel()
        return self.p.wait(timeout=60)


class Sendmail(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="envoi-sm-exim-")
        cls.exim = servers.Exim(cls.dir)
        cls.env = cls.exim.env
        cls.work = tempfile.mkdtemp(prefix="envoi-sm-")
        cls.link = os.path.join(cls.work, "sendmail")
        os.symlink(os.path.abspath(tap.ENVOI), cls.link)

    @classmethod
    def tearDownClass(cls):
        cls.exim.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        shutil.rmtree(cls.work, ignore_errors=True)

    def setUp(self):
        self.case = tempfile.mkdtemp(prefix="case-", dir=self.work)
        self.queue = os.path.join(self.case, "queue")
        self.log = os.path.join(self.case, "log")
        self.conf = os.path.join(self.case, "config")
        self.write_config()

    def write_config(self, port=None, extra=""):
        port = port or self.env["PLAIN_PORT"]
        with open(self.conf, "w") as f:
            f.write(f"server = 127.0.0.1:{port}\nfrom = me@example.org\ndomain = example.net\n"
                    f"queue-dir = {self.queue}\nlog = {self.log}\ntimeout = 10\n{extra}")
        os.chmod(self.conf, 0o600)

    def run_env(self, **more):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
        env["HOME"] = self.case
        env["ENVOI_CONFIG"] = self.conf
        env.update(more)
        return env

    def sendmail(self, *args, data=b"", env=None, argv0=None, timeout=60):
        cmd = [argv0 or self.link] + list(args)
        return subprocess.run(cmd, input=data, capture_output=True, env=env or self.run_env(),
                              timeout=timeout)

    def delivered(self, token, count, timeout=15, maildir="MAILDIR"):
        """Every copy (one per recipient) whose text holds token, after
        waiting for count of them (a few seconds more when count is 0).
        maildir="BOUNCE_MAILDIR": the messages with the null sender."""
        deadline = time.time() + timeout
        while True:
            found = []
            for path in glob.glob(os.path.join(self.env[maildir], "new", "*")):
                with open(path, "rb") as f:
                    data = f.read()
                if token.encode() in data:
                    m = email.message_from_bytes(data, policy=email.policy.default)
                    m.raw = data
                    found.append(m)
            if (count and len(found) >= count) or time.time() > deadline:
                time.sleep(0.5 if count else 0)
                return found
            time.sleep(0.1)

    def message(self, token, headers="To: someone@example.com\n"):
        return (f"Subject: {token}\n{headers}\nbody of {token}\n").encode()

    def entries(self, sub=""):
        return sorted(glob.glob(os.path.join(self.queue, sub, "*.env")))

    # ---- the command line ---------------------------------------------

    def test_cron_exact_command_line(self):
        token = "cron-" + uuid.uuid4().hex
        aliases = os.path.join(self.case, "aliases")
        with open(aliases, "w") as f:
            f.write("# comment\npostmaster: root\nroot: admin@example.net,\n  ops\nops: ops@example.com\n")
        self.write_config(extra=f"aliases = {aliases}\n")
        data = (f"From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@host> echo {token}\n"
                "MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n"
                "Content-Transfer-Encoding: 8bit\nX-Cron-Env: <SHELL=/bin/sh>\n\n"
                f"{token} output\n").encode()
        r = self.sendmail("-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root", data=data)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(r.stderr, b"")
        got = self.delivered(token, 2)
        self.assertEqual(sorted(m["Envelope-to"] for m in got),
                         ["admin@example.net", "ops@example.com"])
        # The comment is kept (Python's parser would drop it: read the bytes).
        self.assertIn(b"\nFrom: root@example.net (Cron Daemon)\n", got[0].raw)
        self.assertEqual(got[0]["To"], "root@example.net")
        self.assertIsNotNone(got[0]["Date"])
        self.assertIsNotNone(got[0]["Message-ID"])

    def test_sendmail_flag_selects_mode_too(self):
        token = "flag-" + uuid.uuid4().hex
        r = self.sendmail("--sendmail", "-i", "a@example.com", data=self.message(token),
                          argv0=tap.ENVOI)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(len(self.delivered(token, 1)), 1)

    def test_unknown_flag_is_one_line_64(self):
        for flag in ("-X", "-bz", "-Az", "-d0.1"):
            r = self.sendmail(flag, "a@example.com", data=self.message("x"))
            self.assertEqual(r.returncode, 64, flag)
            lines = r.stderr.decode().splitlines()
            self.assertEqual(len(lines), 1, lines)
            self.assertIn(flag[:2], lines[0])

    def test_ignored_flags_are_accepted(self):
        token = "ignored-" + uuid.uuid4().hex
        r = self.sendmail("-oem", "-odi", "-odb", "-oi", "-Am", "-Ac", "-em", "-ep", "-eq", "-ew",
                          "-L", "tag", "-h", "5", "-O", "DeliveryMode=b", "-B", "8BITMIME", "-U",
                          "-bm", "--", "a@example.com", data=self.message(token))
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(len(self.delivered(token, 1)), 1)

    def test_t_clustered_reads_to_cc_bcc_and_drops_bcc(self):
        token = "t-" + uuid.uuid4().hex
        data = self.message(token, "To: A <a@example.com>\nCc: b@example.com,\n c@example.com\n"
                                   "Bcc: hidden@example.com\n")
        r = self.sendmail("-ti", data=data)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        got = self.delivered(token, 4)
        self.assertEqual(sorted(m["Envelope-to"] for m in got),
                         ["a@example.com", "b@example.com", "c@example.com", "hidden@example.com"])
        for m in got:
            self.assertIsNone(m["Bcc"])
            self.assertNotIn(b"hidden", m["To"].encode() + m["Cc"].encode())

    def test_t_takes_resent_fields_when_present(self):
        token = "resent-" + uuid.uuid4().hex
        data = self.message(token, "To: old@example.com\nResent-To: new@example.com\n"
                                   "Resent-Bcc: rb@example.com\n")
        r = self.sendmail("-t", "-i", data=data)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        got = self.delivered(token, 2)
        self.assertEqual(sorted(m["Envelope-to"] for m in got), ["new@example.com", "rb@example.com"])
        self.assertIsNone(got[0]["Resent-Bcc"])

    def test_lone_dot_ends_input_without_i(self):
        token = "dot-" + uuid.uuid4().hex
        data = self.message(token) + b".\nafter the dot\n"
        self.assertEqual(self.sendmail("a@example.com", data=data).returncode, 0)
        got = self.delivered(token, 1)
        self.assertNotIn("after the dot", got[0].get_content())
        token2 = "dot-i-" + uuid.uuid4().hex
        data = self.message(token2) + b".\nafter the dot\n"
        for flag in ("-i", "-oi"):
            self.assertEqual(self.sendmail(flag, "b@example.com", data=data).returncode, 0)
        got = self.delivered(token2, 2)
        self.assertEqual(len(got), 2)
        for m in got:
            self.assertIn(".\nafter the dot", m.get_content())

    def test_missing_from_gets_sender_with_F_name(self):
        token = "from-" + uuid.uuid4().hex
        r = self.sendmail("-i", "-f", "robot@example.org", "-F", "Build Robot", "a@example.com",
                          data=self.message(token))
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        m = self.delivered(token, 1)[0]
        self.assertEqual(m["From"], "Build Robot <robot@example.org>")
        self.assertEqual(m["Return-path"], "<robot@example.org>")

    def test_body_without_header_still_goes(self):
        token = "bare-" + uuid.uuid4().hex
        r = self.sendmail("a@example.com", data=f"just text {token}\n".encode())
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        m = self.delivered(token, 1)[0]
        self.assertEqual(m["From"], "me@example.org")
        self.assertIn(token, m.get_content())

    def test_local_name_without_alias_or_domain_is_67(self):
        with open(self.conf, "w") as f:
            f.write(f"server = 127.0.0.1:{self.env['PLAIN_PORT']}\nfrom = me@example.org\n"
                    f"queue-dir = {self.queue}\n")
        r = self.sendmail("-i", "root", data=self.message("x"))
        self.assertEqual(r.returncode, 67, r.stderr.decode())
        self.assertIn("root", r.stderr.decode())

    def test_account_chosen_by_envelope_sender(self):
        plain = self.env["PLAIN_PORT"]
        self.write_config(extra=f"[account exact]\nfrom = Me <me@one.example>\nserver = 127.0.0.1:{plain}\n"
                                f"[account wild]\nfrom = *@two.example\nserver = 127.0.0.1:{plain}\n"
                                f"[account default]\nserver = 127.0.0.1:{plain}\n")
        for sender, account in (("me@one.example", "exact"), ("x@two.example", "wild"),
                                ("y@three.example", "default")):
            r = self.sendmail("-i", "-f", sender, "a@example.com", data=self.message("acc"))
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            with open(self.log) as f:
                last = f.read().splitlines()[-1]
            self.assertIn(f"account={account} ", last)
            self.assertIn(f"from={sender} ", last)

    def test_no_home_reads_etc_envoi_conf_message(self):
        # Without HOME and without /etc/envoi.conf: the hint names HOME.
        env = self.run_env()
        del env["HOME"], env["ENVOI_CONFIG"]
        if os.path.exists("/etc/envoi.conf"):
            self.skipTest("/etc/envoi.conf exists on this machine")
        r = self.sendmail("-i", "a@example.com", data=self.message("x"), env=env)
        self.assertEqual(r.returncode, 64)
        self.assertIn("/etc/envoi.conf", r.stderr.decode())

    def test_exit_codes_are_sysexits(self):
        cases = (("-f", "reject-me@example.org", "a@example.com", 77),  # 86
                 ("-f", "me@example.org", "reject-a@example.com", 67))  # 88
        for flag, sender, rcpt, code in cases:
            r = self.sendmail("-i", flag, sender, rcpt, data=self.message("exit"))
            self.assertEqual(r.returncode, code, r.stderr.decode())
        self.write_config(extra="queue = no\n", port=closed_port())
        r = self.sendmail("-i", "a@example.com", data=self.message("exit"))
        self.assertEqual(r.returncode, 69, r.stderr.decode())
        self.assertEqual(self.entries(), [])

    # ---- sendmail -bs ---------------------------------------------------

    def bs(self, *args, env=None, kill_after=120):
        return BsSession([self.link, "-bs", *args], env or self.run_env(), kill_after)

    def bs_send(self, c, sender, rcpts, body):
        """One transaction; returns the reply to the final dot."""
        self.assertEqual(c.cmd(f"MAIL FROM:<{sender}>")[0][:3], "250")
        for r in rcpts:
            self.assertEqual(c.cmd(f"RCPT TO:<{r}>")[0][:3], "250")
        self.assertEqual(c.cmd("DATA")[0][:3], "354")
        return c.cmd(body.rstrip("\n").replace("\n", "\r\n") + "\r\n.")[0]

    def test_bs_two_transactions_over_one_relay_session(self):
        tokens = ["bs-" + uuid.uuid4().hex for _ in range(3)]
        mark = self.log_mark()
        c = self.bs()
        self.assertRegex(c.read()[0], r"^220 ")
        ehlo = c.cmd("EHLO caller.example")
        self.assertEqual([l[4:] for l in ehlo[1:]], ["8BITMIME", "SIZE 67108864"])
        self.assertNotIn("PIPELINING", " ".join(ehlo))
        first = self.bs_send(c, "app@example.org", ["a@example.com", "b@example.com"],
                             f"Subject: {tokens[0]}\nTo: a@example.com\n\n..one dot\n..\nend\n")
        self.assertRegex(first, r"^250 OK id=\S+$")
        # A transaction reset half-way: nothing goes to its recipient.
        self.assertEqual(c.cmd("MAIL FROM:<app@example.org>")[0][:3], "250")
        self.assertEqual(c.cmd("RCPT TO:<reset@example.com>")[0][:3], "250")
        self.assertEqual(c.cmd("RSET"), ["250 reset"])
        self.assertEqual(c.cmd("RCPT TO:<reset@example.com>")[0][:3], "503")
        second = self.bs_send(c, "app@example.org", ["c@example.com"],
                              f"From: App <app@example.org>\nBcc: c@example.com,\n  x@example.com\n"
                              f"Subject: {tokens[1]}\n\nsecond\n")
        self.assertRegex(second, r"^250 OK id=\S+$")
        self.assertEqual(c.cmd("QUIT"), ["221 bye"])
        self.assertEqual(c.close(), 0)
        self.assertEqual(self.connections_since(mark), 1)
        got = self.delivered(tokens[0], 2)
        self.assertEqual(sorted(m["Envelope-to"] for m in got), ["a@example.com", "b@example.com"])
        self.assertEqual(got[0]["From"], "app@example.org")  # added, as for standard input
        self.assertIsNotNone(got[0]["Date"])
        self.assertIsNotNone(got[0]["Message-ID"])
        self.assertIn(b"\n.one dot\n.\nend\n", got[0].raw.replace(b"\r\n", b"\n"))
        (m2,) = self.delivered(tokens[1], 1)
        self.assertEqual((m2["Envelope-to"], m2["From"]), ("c@example.com", "App <app@example.org>"))
        self.assertIsNone(m2["Bcc"])  # never sent, as with -t
        self.assertNotIn(b"x@example.com", m2.raw)
        self.assertEqual(self.delivered("reset@example.com", 0, timeout=1), [])
        with open(self.log) as f:
            self.assertEqual(sum("outcome=sent" in l for l in f), 2)

    def test_bs_reopens_a_relay_session_that_ended(self):
        fdir = self.fault_server("one_message_per_session")
        try:
            c = self.bs()
            c.read()
            c.cmd("EHLO caller.example")
            for i in range(2):
                self.assertRegex(self.bs_send(c, "app@example.org", ["a@example.com"],
                                              f"Subject: {i}\n\nbody\n"), "^250 ", i)
            c.cmd("QUIT")
            self.assertEqual(c.close(), 0, c.stderr)
        finally:
            servers.fault_stop(fdir)
        conns = servers.fault_logs(fdir)[1]["connections"]
        self.assertEqual([len(c["messages"]) for c in conns], [1, 1])
        self.assertEqual(self.entries(), [])

    def test_bs_logs_in_once_for_every_transaction(self):
        e = self.env
        self.write_config(port=e["SUBMIT_PORT"], extra=f"user = {e['USER']}\nca-file = {e['CA']}\n")
        tokens = ["bs-login-" + uuid.uuid4().hex for _ in range(2)]
        mark = self.log_mark()
        c = self.bs(env=self.run_env(ENVOI_PASSWORD=e["PASS"]))
        c.read()
        c.cmd("EHLO caller.example")
        for t in tokens:
            self.assertRegex(self.bs_send(c, "me@example.org", ["a@example.com"],
                                          f"Subject: {t}\n\nbody\n"), "^250 OK id=")
        c.cmd("QUIT")
        self.assertEqual(c.close(), 0, c.stderr)
        self.assertEqual(self.connections_since(mark), 1)
        for t in tokens:
            self.assertEqual(len(self.delivered(t, 1)), 1)
        with open(self.log) as f:
            self.assertNotIn(e["PASS"], f.read())
        self.assertNotIn(e["PASS"], c.stderr)

    def test_bs_message_the_relay_may_have_is_451_not_queued(self):
        fdir = self.fault_server("drop_after_data")
        try:
            c = self.bs()
            c.read()
            c.cmd("EHLO caller.example")
            reply = self.bs_send(c, "app@example.org", ["a@example.com"], "Subject: x\n\nbody\n")
            c.cmd("QUIT")
            self.assertEqual(c.close(), 0)
        finally:
            servers.fault_stop(fdir)
        self.assertRegex(reply, r"^451 no reply to the data came")
        self.assertEqual(self.entries(), [])

    def test_bs_relays_refusals_as_the_relay_said(self):
        c = self.bs()
        c.read()
        c.cmd("EHLO caller.example")
        self.assertRegex(c.cmd("MAIL FROM:<reject-me@example.org>")[0], r"^550 .*test hook")
        self.assertEqual(c.cmd("MAIL FROM:<app@example.org>")[0][:3], "250")
        self.assertRegex(c.cmd("RCPT TO:<reject-x@example.com>")[0], r"^550 .*test hook")
        self.assertEqual(c.cmd("DATA")[0], "503 no valid recipients")
        self.assertEqual(c.cmd("RCPT TO:<ok@example.com>")[0][:3], "250")
        token = "bs-refused-" + uuid.uuid4().hex
        self.assertEqual(c.cmd("DATA")[0][:3], "354")
        self.assertRegex(c.cmd(f"Subject: {token}\r\n\r\nx\r\n.")[0], r"^250 ")
        self.assertEqual(c.cmd("QUIT"), ["221 bye"])
        self.assertEqual(c.close(), 0)
        (m,) = self.delivered(token, 1)
        self.assertEqual(m["Envelope-to"], "ok@example.com")

    def test_bs_sequence_and_line_limits(self):
        c = self.bs()
        c.read()
        self.assertEqual(c.cmd("MAIL FROM:<app@example.org>")[0][:3], "503")  # before EHLO
        self.assertEqual(c.cmd("EHLO")[0][:3], "501")
        c.cmd("HELO caller.example")
        self.assertEqual(c.cmd("RCPT TO:<a@example.com>")[0][:3], "503")
        self.assertEqual(c.cmd("DATA")[0][:3], "503")
        self.assertEqual(c.cmd("NOOP"), ["250 ok"])
        # 513 bytes with CRLF: refused, and the session goes on.
        self.assertEqual(c.cmd("NOOP " + "x" * 506)[0][:3], "500")
        self.assertEqual(c.cmd("NOOP " + "x" * 505), ["250 ok"])  # 512: the limit
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org> " + "x" * 5000)[0][:3], "500")
        self.assertEqual(c.cmd("MAIL FROM:<app@example.org> SIZE=67108865")[0][:3], "552")
        self.assertEqual(c.cmd("MAIL FROM:<app@example.org> AUTH=<>")[0][:3], "555")
        self.assertEqual(c.cmd("MAIL FROM:<app@example.org>")[0][:3], "250")
        self.assertEqual(c.cmd("MAIL FROM:<app@example.org>")[0][:3], "503")  # nested
        self.assertEqual(c.cmd("VRFY root")[0][:3], "502")
        self.assertEqual(c.cmd("BOGUS")[0][:3], "500")
        self.assertEqual(c.cmd("QUIT"), ["221 bye"])
        self.assertEqual(c.close(), 0)

    def test_bs_injection_never_reaches_the_relay(self):
        mark = self.log_mark()
        c = self.bs()
        c.read()
        c.cmd("EHLO caller.example")
        c.cmd("MAIL FROM:<app@example.org>")
        for bad, code in ((b"RCPT TO:<a@example.com>\rRCPT TO:<evil1@example.com>", "500"),
                          (b"RCPT TO:<evil2@example.com\x00>", "500"),
                          (b"RCPT TO:<evil3@example.com> NOTIFY=NEVER", "555"),
                          (b"RCPT TO:<evil4@example.com>>", "555"),
                          (b"RCPT TO:<@relay.example:evil5@example.com>", "553"),
                          (b"RCPT TO:<evil 6@example.com>", "553"),
                          (b"RCPT TO:<root>", "553")):
            self.assertEqual(c.cmd_bytes(bad)[0][:3], code, bad)
        token = "bs-inject-" + uuid.uuid4().hex
        self.assertEqual(c.cmd("RCPT TO:<good@example.com>")[0][:3], "250")
        c.cmd("DATA")
        self.assertRegex(c.cmd(f"Subject: {token}\r\n\r\nRCPT TO:<evil7@example.com>\r\n.")[0], "^250")
        c.cmd("QUIT")
        self.assertEqual(c.close(), 0)
        (m,) = self.delivered(token, 1)
        self.assertEqual(m["Envelope-to"], "good@example.com")
        time.sleep(0.5)
        with open(self.env["LOG"], "rb") as f:
            f.seek(mark)
            self.assertNotIn(b"evil", f.read())

    def test_bs_oversized_message_is_552_and_session_goes_on(self):
        c = self.bs()
        c.read()
        c.cmd("EHLO caller.example")
        c.cmd("MAIL FROM:<app@example.org>")
        c.cmd("RCPT TO:<big@example.com>")
        self.assertEqual(c.cmd("DATA")[0][:3], "354")
        line = b"y" * 998 + b"\r\n"
        c.write(b"Subject: big\r\n\r\n" + line * (64 * 1024 * 1024 // len(line) + 10) + b".\r\n")
        self.assertEqual(c.read()[0][:3], "552")
        token = "bs-after-big-" + uuid.uuid4().hex
        self.assertRegex(self.bs_send(c, "app@example.org", ["a@example.com"],
                                      f"Subject: {token}\n\nsmall\n"), "^250")
        c.cmd("QUIT")
        self.assertEqual(c.close(), 0)
        self.assertEqual(len(self.delivered(token, 1)), 1)
        self.assertEqual(self.delivered("big@example.com", 0, timeout=1), [])

    def test_bs_caller_going_silent_meets_the_deadline(self):
        c = self.bs("-O", "Timeout.command=2s", kill_after=15)
        c.read()
        c.cmd("EHLO caller.example")
        start = time.time()
        self.assertRegex(c.read()[0], r"^421 nothing came for 2 seconds")
        self.assertLess(time.time() - start, 10)
        self.assertEqual(c.close(), 75)

    def test_bs_end_of_input_inside_a_transaction_is_75(self):
        c = self.bs()
        c.read()
        c.cmd("EHLO caller.example")
        c.cmd("MAIL FROM:<app@example.org>")
        c.cmd("RCPT TO:<a@example.com>")
        c.cmd("DATA")
        c.write(b"Subject: cut\r\n\r\nhalf\r\n")
        self.assertEqual(c.close(), 75)
        self.assertEqual(self.delivered("half", 0, timeout=1), [])
        c = self.bs()
        c.read()
        c.cmd("NOOP")
        self.assertEqual(c.close(), 0)  # between transactions: nothing lost

    def test_bs_relay_down_queues_and_answers_250(self):
        self.write_config(port=closed_port())
        token = "bs-down-" + uuid.uuid4().hex
        c = self.bs()
        c.read()
        c.cmd("EHLO caller.example")
        reply = self.bs_send(c, "app@example.org", ["a@example.com", "b@example.com"],
                             f"Subject: {token}\n\nqueued\n")
        self.assertRegex(reply, r"^250 queued as [0-9]{14}-[0-9a-z]{8} \(cannot connect")
        # The recipient limit, checked here where RCPTs cost nothing.
        c.cmd("MAIL FROM:<app@example.org>")
        c.write(b"".join(b"RCPT TO:<r%d@example.com>\r\n" % i for i in range(1001)))
        replies = [c.read()[0][:3] for _ in range(1001)]
        self.assertEqual(replies, ["250"] * 1000 + ["452"])
        c.cmd("RSET")
        c.cmd("QUIT")
        self.assertEqual(c.close(), 0)
        (env,) = self.entries()
        self.assertIn(reply.split()[3], env)
        self.write_config()
        r = self.sendmail("-q")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(len(self.delivered(token, 2)), 2)

    def test_bs_null_sender_queued_keeps_it(self):
        # A bounce (MAIL FROM:<>) queued while the relay is down goes out
        # later with <> too, never with the account's from (RFC 5321 4.5.5).
        self.write_config(port=closed_port())
        token = "bs-null-" + uuid.uuid4().hex
        c = self.bs()
        c.read()
        c.cmd("EHLO caller.example")
        reply = self.bs_send(c, "", ["a@example.com"],
                             f"From: MAILER-DAEMON@example.org\nSubject: {token}\n\nbounce\n")
        self.assertRegex(reply, r"^250 queued as ")
        c.cmd("QUIT")
        self.assertEqual(c.close(), 0)
        (env,) = self.entries()
        with open(env) as f:
            self.assertIn("\nsender \n", f.read())
        r = self.sendmail("-bp")
        self.assertEqual(r.stdout.decode().split("\t")[3:5], ["<>", "<a@example.com>"])
        self.write_config()
        r = self.sendmail("-q")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        (m,) = self.delivered(token, 1, maildir="BOUNCE_MAILDIR")
        self.assertEqual(m["Return-Path"], "<>")
        self.assertEqual(m["From"], "MAILER-DAEMON@example.org")
        self.assertEqual(self.entries(), [])

    def test_bs_deferred_recipient_is_queued_alone(self):
        token = "bs-defer-" + uuid.uuid4().hex
        c = self.bs()
        c.read()
        c.cmd("EHLO caller.example")
        c.cmd("MAIL FROM:<app@example.org>")
        self.assertRegex(c.cmd("RCPT TO:<tempfail-x@example.com>")[0],
                         r"^250 recipient ok; the relay deferred it \(451 ")
        c.cmd("RCPT TO:<ok@example.com>")
        c.cmd("DATA")
        self.assertRegex(c.cmd(f"Subject: {token}\r\n\r\nx\r\n.")[0],
                         r"^250 OK id=\S+; queued as \S+ for 1 deferred recipient$")
        c.cmd("QUIT")
        self.assertEqual(c.close(), 0)
        self.assertEqual(len(self.delivered(token, 1)), 1)
        (env,) = self.entries()
        with open(env) as f:
            text = f.read()
        self.assertIn("rcpt tempfail-x@example.com\n", text)
        self.assertNotIn("ok@example.com", text)

    def test_bs_refuses_recipient_arguments_and_a_bad_timeout(self):
        for args in (("-bs", "a@example.com"), ("-bs", "-O", "Timeout.command=soon")):
            r = self.sendmail(*args)
            self.assertEqual(r.returncode, 64, args)
            self.assertEqual(len(r.stderr.decode().splitlines()), 1, r.stderr)
            self.assertEqual(r.stdout, b"")

    # ---- the queue -----------------------------------------------------

    def queue_while_down(self, tokens, rcpt="a@example.com"):
        self.write_config(port=closed_port())
        for t in tokens:
            r = self.sendmail("-i", rcpt, data=self.message(t))
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            self.assertRegex(r.stderr.decode(), r"^envoi: queued as [0-9]{14}-[0-9a-z]{8}\n$")
        self.write_config()

    def test_server_down_queues_then_flush_delivers_once(self):
        token = "queued-" + uuid.uuid4().hex
        self.queue_while_down([token])
        self.assertEqual(self.delivered(token, 0, timeout=1), [])
        (env,) = self.entries()
        self.assertEqual(os.stat(env).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(env[:-4] + ".msg").st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(self.queue).st_mode & 0o777, 0o700)
        r = self.sendmail("-bp")
        self.assertEqual(r.returncode, 0)
        fields = r.stdout.decode().rstrip("\n").split("\t")
        self.assertEqual(fields[0], os.path.basename(env)[:-4])
        self.assertEqual(fields[3:5], ["<me@example.org>", "<a@example.com>"])
        self.assertIn("connect", fields[5])
        r = self.sendmail("-q")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(len(self.delivered(token, 1)), 1)
        self.assertEqual(self.entries(), [])
        self.assertEqual(self.sendmail("-q").returncode, 0)
        self.assertEqual(self.sendmail("-bp").stdout, b"Mail queue is empty\n")
        self.assertEqual(len(self.delivered(token, 2, timeout=2)), 1)

    def test_f_null_sender_is_a_bounce_sent_and_queued(self):
        # -f '<>' and -f '' are the null sender, as in Postfix: MAIL FROM:<>,
        # the account's from only in an added From, and kept so in the queue.
        for i, flag in enumerate(("-f<>", "-f", "-r<>")):
            token = f"f-null-{i}-" + uuid.uuid4().hex
            args = ("-i", flag, "", "a@example.com") if flag == "-f" else ("-i", flag, "a@example.com")
            r = self.sendmail(*args, data=self.message(token))
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            (m,) = self.delivered(token, 1, maildir="BOUNCE_MAILDIR")
            self.assertEqual((m["Return-Path"], m["From"]), ("<>", "me@example.org"), flag)
        token = "f-null-queued-" + uuid.uuid4().hex
        self.write_config(port=closed_port())
        r = self.sendmail("-i", "-f", "<>", "a@example.com", data=self.message(token))
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn("queued as", r.stderr.decode())
        r = self.sendmail("-bp")
        self.assertEqual(r.stdout.decode().split("\t")[3:5], ["<>", "<a@example.com>"])
        self.write_config()
        r = self.sendmail("-q")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        (m,) = self.delivered(token, 1, maildir="BOUNCE_MAILDIR")
        self.assertEqual((m["Return-Path"], m["From"]), ("<>", "me@example.org"))
        self.assertEqual(self.delivered(token, 0, timeout=1), [])  # nothing with a sender
        with open(self.log) as f:
            lines = [l for l in f if "a@example.com" in l]
        self.assertTrue(lines)
        self.assertFalse([l for l in lines if "me@example.org" in l], lines)

    def test_message_the_server_may_have_is_not_queued(self):
        # The whole message went out and the connection dropped before the
        # verdict: queueing it could deliver it twice, so 75 is reported.
        certs = os.path.join(self.case, "certs")
        servers.gen_certs(certs)
        for mode in ("sendmail", "envoi"):
            fdir = os.path.join(self.case, "fault-" + mode)
            port = servers.fault_start("drop_after_data", fdir, certs)
            try:
                self.write_config(port=port, extra=f"ca-file = {certs}/ca.pem\n")
                if mode == "sendmail":
                    r = self.sendmail("-i", "a@example.com", data=self.message("maybe"))
                else:
                    r = subprocess.run([tap.ENVOI, "--queue", "-m", "hi", "a@example.com"],
                                       capture_output=True, env=self.run_env(), timeout=60)
            finally:
                servers.fault_stop(fdir)
            self.assertEqual(r.returncode, 75, mode + ": " + r.stderr.decode())
            self.assertNotIn(b"queued", r.stderr)
            self.assertEqual(self.entries(), [], mode)

    def test_flush_moves_a_message_the_server_may_have_to_failed(self):
        certs = os.path.join(self.case, "certs")
        servers.gen_certs(certs)
        self.queue_while_down(["maybe-flush"])
        fdir = os.path.join(self.case, "fault")
        port = servers.fault_start("drop_after_data", fdir, certs)
        try:
            self.write_config(port=port, extra=f"ca-file = {certs}/ca.pem\n")
            r = subprocess.run([tap.ENVOI, "--flush"], capture_output=True, env=self.run_env(),
                               timeout=60)
        finally:
            servers.fault_stop(fdir)
        self.assertEqual(r.returncode, 79, r.stderr.decode())
        self.assertEqual(self.entries(), [])
        (reply,) = glob.glob(os.path.join(self.queue, "failed", "*.reply"))
        with open(reply) as f:
            self.assertIn("not sent again", f.read())

    def test_envoi_flush_and_queue_list_options(self):
        token = "opts-" + uuid.uuid4().hex
        self.queue_while_down([token])
        env = {k: v for k, v in self.run_env().items()}
        r = subprocess.run([tap.ENVOI, "--queue-list"], capture_output=True, env=env)
        self.assertEqual(r.returncode, 0)
        self.assertEqual(len(r.stdout.splitlines()), 1)
        r = subprocess.run([tap.ENVOI, "--flush"], capture_output=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(len(self.delivered(token, 1)), 1)

    def test_envoi_queue_option_in_normal_mode(self):
        token = "normal-" + uuid.uuid4().hex
        self.write_config(port=closed_port())
        r = subprocess.run([tap.ENVOI, "--queue", "-s", token, "-m", "hi", "a@example.com"],
                           capture_output=True, env=self.run_env())
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn("queued as", r.stderr.decode())
        self.write_config()
        r = subprocess.run([tap.ENVOI, "--flush"], capture_output=True, env=self.run_env())
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(len(self.delivered(token, 1)), 1)

    def test_queue_json_says_queued_with_exit_0(self):
        # The object agrees with the exit code: queued, with envoi's id;
        # what kept it from the server is its class and error.
        self.write_config(port=closed_port())
        r = subprocess.run([tap.ENVOI, "--queue", "--json", "-m", "hi", "a@example.com"],
                           capture_output=True, env=self.run_env(), timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        (line,) = r.stdout.decode().splitlines()
        obj = json.loads(line)
        (env,) = self.entries()
        self.assertEqual((obj["status"], obj["exit_code"], obj["queue_id"]),
                         ("queued", 0, os.path.basename(env)[:-4]))
        self.assertEqual(obj["class"], "cannot connect")
        # A queue that cannot be written: the failure it was, with its code.
        self.write_config(port=closed_port(), extra="queue-dir = /dev/null/queue\n")
        r = subprocess.run([tap.ENVOI, "--queue", "--json", "-m", "hi", "a@example.com"],
                           capture_output=True, env=self.run_env(), timeout=60)
        self.assertEqual(r.returncode, 69, r.stderr.decode())
        (line,) = r.stdout.decode().splitlines()
        self.assertEqual((json.loads(line)["status"], json.loads(line)["exit_code"]), ("failed", 69))

    def test_two_concurrent_flushes_send_each_entry_once(self):
        tokens = [f"conc-{i}-" + uuid.uuid4().hex for i in range(20)]
        self.queue_while_down(tokens)
        self.assertEqual(len(self.entries()), 20)
        procs = [subprocess.Popen([self.link, "-q"], env=self.run_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for _ in range(2)]
        codes = [p.wait(timeout=120) for p in procs]
        for p in procs:
            p.stdout.close()
            p.stderr.close()
        self.assertEqual(codes, [0, 0])
        time.sleep(1)
        for t in tokens:
            self.assertEqual(len(self.delivered(t, 1)), 1, t)
        self.assertEqual(self.entries(), [])
        with open(self.log) as f:
            sent = [line for line in f if "outcome=sent" in line]
        self.assertEqual(len(sent), 20)

    def test_permanent_refusal_moves_to_failed(self):
        self.queue_while_down(["refused"], rcpt="reject-x@example.com")
        (env,) = self.entries()
        qid = os.path.basename(env)[:-4]
        r = self.sendmail("-q")
        self.assertEqual(r.returncode, 69, r.stderr.decode())  # 79 as a sysexit
        r = subprocess.run([tap.ENVOI, "--flush"], capture_output=True, env=self.run_env())
        self.assertEqual(r.returncode, 0)  # nothing left
        self.assertEqual(self.entries(), [])
        failed = os.path.join(self.queue, "failed")
        self.assertTrue(os.path.exists(os.path.join(failed, qid + ".msg")))
        with open(os.path.join(failed, qid + ".reply")) as f:
            self.assertIn("550", f.read())

    def test_deferred_recipient_alone_stays_after_87(self):
        token = "partial-" + uuid.uuid4().hex
        self.write_config(port=closed_port())
        r = self.sendmail("-i", "ok@example.com", "tempfail-x@example.com", data=self.message(token))
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.write_config()
        r = subprocess.run([tap.ENVOI, "--flush"], capture_output=True, env=self.run_env())
        self.assertEqual(r.returncode, 75, r.stderr.decode())
        self.assertEqual(len(self.delivered(token, 1)), 1)
        (env,) = self.entries()
        with open(env) as f:
            text = f.read()
        self.assertIn("rcpt tempfail-x@example.com\n", text)
        self.assertNotIn("rcpt ok@example.com", text)

    def log_mark(self):
        return os.path.getsize(self.env["LOG"])

    def connections_since(self, mark):
        """Sessions Exim opened since mark (its log, +smtp_connection)."""
        time.sleep(0.5)
        with open(self.env["LOG"], "rb") as f:
            f.seek(mark)
            text = f.read().decode(errors="replace")
        lines = [l for l in text.splitlines() if "SMTP connection from" in l and "connection count" in l]
        return len(lines)

    def test_flush_sends_a_group_over_one_session(self):
        tokens = [f"one-session-{i}-" + uuid.uuid4().hex for i in range(5)]
        self.queue_while_down(tokens[:2])
        self.queue_while_down(tokens[2:3], rcpt="tempfail-x@example.com")  # deferred: RSET, go on
        self.queue_while_down(tokens[3:])
        mark = self.log_mark()
        r = subprocess.run([tap.ENVOI, "--flush", "-v"], capture_output=True, env=self.run_env(),
                           timeout=60)
        self.assertEqual(r.returncode, 75, r.stderr.decode())
        self.assertEqual(self.connections_since(mark), 1)
        self.assertIn("5 messages over 1 session\n", r.stderr.decode())
        self.assertIn(b"RSET", r.stderr)
        for t in tokens[:2] + tokens[3:]:
            self.assertEqual(len(self.delivered(t, 1)), 1, t)
        (env,) = self.entries()
        with open(env) as f:
            self.assertIn("rcpt tempfail-x@example.com\n", f.read())
        with open(self.log) as f:
            self.assertEqual(sum("outcome=sent" in line and "entry=" in line for line in f), 4)

    def fault_server(self, scenario):
        certs = os.path.join(self.case, "certs")
        servers.gen_certs(certs)
        fdir = os.path.join(self.case, "fault-" + scenario)
        port = servers.fault_start(scenario, fdir, certs)
        self.write_config(port=port, extra=f"ca-file = {certs}/ca.pem\n")
        return fdir

    def test_t_with_100000_bcc_recipients_is_fast(self):
        # Each recipient is checked against the earlier ones through a hash
        # set: comparing it with every earlier one (as before) took 84 s
        # (49 s of CPU) for these 100,000 before connecting; now 0.3 s.
        # Duplicates (in any case, across fields) still go out once.
        # Fields of 1,000 addresses: sminput.c reads at most 1,024 a field.
        n = 100000
        bcc = "".join("Bcc: " + ",\n ".join(f"r{i}@example.com" for i in range(k, k + 1000)) + "\n"
                      for k in range(0, n, 1000))
        again = ",\n ".join(f"R{i}@Example.COM" for i in range(0, n, 100))
        data = (f"From: me@example.org\nTo: list@example.com, r5@example.com\nSubject: many\n"
                f"{bcc}Bcc: {again}\n\nhello\n").encode()
        # The recipients alone: nothing listens, so the run ends after them.
        self.write_config(port=closed_port(), extra="queue = no\n")
        start = time.monotonic()
        r = self.sendmail("-t", "-i", data=data, timeout=300)
        took = time.monotonic() - start
        self.assertEqual(r.returncode, 69, r.stderr[-2000:])
        # A complexity guard, not a speed target: quadratic is minutes,
        # linear well under a second. ASan's own cost (57 s here) hides it.
        if not tap.SANITIZED:
            self.assertLess(took, 20)
        certs = os.path.join(self.case, "certs")
        servers.gen_certs(certs)
        fdir = os.path.join(self.case, "fault-bulk")
        # envoi reads 100,000 recipients before it connects (about a
        # minute under ASan): the server waits longer than its default idle
        port = servers.fault_start("bulk_rcpts", fdir, certs, "--alarm", "600", "--idle", "300")
        self.write_config(port=port, extra="tls = none\nqueue = no\n")
        try:
            r = self.sendmail("-t", "-i", data=data, timeout=120)
        finally:
            servers.fault_stop(fdir)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        _, summary, _ = servers.fault_logs(fdir)
        self.assertEqual(summary["connections"][0]["rcpts"], n + 1)

    def test_flush_reopens_a_session_the_server_ended(self):
        # The server takes one message per session, then answers the next
        # MAIL with 421: that message was not taken and goes over a new
        # session at once, not at the next flush.
        tokens = [f"reopen-{i}-" + uuid.uuid4().hex for i in range(2)]
        self.queue_while_down(tokens)
        fdir = self.fault_server("one_message_per_session")
        try:
            r = subprocess.run([tap.ENVOI, "--flush"], capture_output=True, env=self.run_env(),
                               timeout=60)
        finally:
            servers.fault_stop(fdir)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(self.entries(), [])
        conns = servers.fault_logs(fdir)[1]["connections"]
        self.assertEqual([len(c["messages"]) for c in conns], [1, 1])

    def test_flush_reads_envoi_password_for_every_account_group(self):
        # Two accounts (two groups) that log in with ENVOI_PASSWORD: the
        # first group must not leave the second without it.
        e = self.env
        def accounts(port):
            return "".join(f"[account {n}]\nfrom = {n}@{n}.example\nserver = 127.0.0.1:{port}\n"
                           f"user = {e['USER']}\nca-file = {e['CA']}\n" for n in ("one", "two"))
        pw = {"ENVOI_PASSWORD": e["PASS"]}
        self.write_config(port=closed_port(), extra=accounts(closed_port()))
        tokens = []
        for n in ("one", "two"):
            tokens.append(f"pw-{n}-" + uuid.uuid4().hex)
            r = self.sendmail("-i", "-f", f"{n}@{n}.example", "a@example.com",
                              data=self.message(tokens[-1]), env=self.run_env(**pw))
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            self.assertIn(b"queued as", r.stderr)
        self.write_config(extra=accounts(e["SUBMIT_PORT"]))
        r = subprocess.run([tap.ENVOI, "--flush"], capture_output=True, env=self.run_env(**pw),
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        for t in tokens:
            self.assertEqual(len(self.delivered(t, 1)), 1, t)
        self.assertEqual(self.entries(), [])

    def test_expired_entry_moves_to_failed(self):
        self.queue_while_down(["old"])
        time.sleep(2.2)
        r = subprocess.run([tap.ENVOI, "--flush", "--queue-lifetime=1s"], capture_output=True,
                           env=self.run_env())
        self.assertEqual(r.returncode, 79, r.stderr.decode())
        self.assertEqual(self.entries(), [])
        (reply,) = glob.glob(os.path.join(self.queue, "failed", "*.reply"))
        with open(reply) as f:
            self.assertIn("expired", f.read())
        r = subprocess.run([tap.ENVOI, "--flush", "--queue-lifetime=5x"], capture_output=True,
                           env=self.run_env())
        self.assertEqual(r.returncode, 64)

    # ---- the log -------------------------------------------------------

    def test_log_fields_and_no_password_anywhere(self):
        pw = self.env["PASS"]
        token = "log-" + uuid.uuid4().hex
        auth = (f"user = {self.env['USER']}\nca-file = {self.env['CA']}\n")
        self.write_config(port=closed_port(), extra=auth)
        env = self.run_env(ENVOI_PASSWORD=pw)
        r = self.sendmail("-i", "-f", "me@example.org", "a@example.com", data=self.message(token), env=env)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.write_config(port=self.env["SUBMIT_PORT"], extra=auth)
        r = self.sendmail("-q", env=env)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(len(self.delivered(token, 1)), 1)
        with open(self.log) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 2)
        queued, sent = lines
        self.assertRegex(queued, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ outcome=queued account=default "
                                 r"server=127\.0\.0\.1:\d+ from=me@example\.org to=a@example\.com "
                                 r"size=\d+ class=\S+ exit=0 id=\d{14}-[0-9a-z]{8}$")
        qid = queued.rsplit("id=", 1)[1]
        self.assertRegex(sent, r"outcome=sent .* class=sent exit=0 id=\S+ entry=" + qid + "$")
        forms = [pw, base64.b64encode(pw.encode()).decode(),
                 base64.b64encode(f"\0{self.env['USER']}\0{pw}".encode()).decode()]
        blobs = [open(p, "rb").read() for p in [self.log] + glob.glob(os.path.join(self.queue, "**", "*"), recursive=True)
                 if os.path.isfile(p)]
        for blob in blobs:
            for form in forms:
                self.assertNotIn(form.encode(), blob)
            self.assertNotIn(b"body of", blob if blob is blobs[0] else b"")


    def test_root_without_home_reads_etc_envoi_conf_and_queues_in_var_spool(self):
        # As cron runs it: no HOME, no ENVOI_CONFIG. In a private mount
        # namespace /etc gets an overlay holding envoi.conf and /var/spool
        # a scratch directory; the real ones are never touched.
        if os.geteuid() != 0:
            self.skipTest("needs root for a mount namespace")
        upper, work, spool = (os.path.join(self.case, d) for d in ("etc-upper", "etc-work", "spool"))
        for d in (upper, work, spool):
            os.mkdir(d)
        with open(os.path.join(upper, "envoi.conf"), "w") as f:
            f.write(f"server = 127.0.0.1:{closed_port()}\nfrom = host@example.org\ndomain = example.net\n")
        env = {k: v for k, v in self.run_env().items() if k not in ("HOME", "ENVOI_CONFIG", "XDG_STATE_HOME")}
        script = ('mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc && '
                  'mount --bind "$3" /var/spool && shift 3 && exec "$@"')
        r = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", upper, work, spool, self.link,
                            "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"],
                           input=b"From: root (Cron Daemon)\nTo: root\nSubject: job\n\nout\n",
                           capture_output=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn(b"queued as", r.stderr)
        (entry,) = glob.glob(os.path.join(spool, "envoi", "*.env"))
        with open(entry) as f:
            text = f.read()
        self.assertIn("config /etc/envoi.conf\n", text)
        self.assertIn("rcpt root@example.net\n", text)
        self.assertEqual(os.stat(os.path.join(spool, "envoi")).st_mode & 0o777, 0o700)
        self.assertFalse(os.path.exists("/etc/envoi.conf"))

    def test_other_user_without_home_has_no_queue(self):
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            self.skipTest("needs root and setpriv to run as nobody")
        shared = tempfile.mkdtemp(prefix="envoi-sm-nobody-")
        try:
            os.chmod(shared, 0o755)
            conf = os.path.join(shared, "conf")
            with open(conf, "w") as f:
                f.write(f"server = 127.0.0.1:{closed_port()}\nfrom = a@example.org\n")
            os.chmod(conf, 0o644)
            env = {"PATH": "/usr/bin:/bin", "ENVOI_CONFIG": conf}
            r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                os.path.abspath(tap.ENVOI), "--sendmail", "-i", "a@example.com"],
                               input=self.message("nobody"), capture_output=True, env=env, timeout=60)
            self.assertEqual(r.returncode, 69, r.stderr.decode())
            self.assertNotIn(b"queued", r.stderr)
        finally:
            shutil.rmtree(shared, ignore_errors=True)

    def test_log_to_syslog_is_facility_mail_ident_envoi(self):
        # A private /dev (tmpfs, with /dev/null kept) in a mount namespace,
        # where a listener takes syslog's datagram on /dev/log.
        if os.geteuid() != 0:
            self.skipTest("needs root for a mount namespace")
        got, old = os.path.join(self.case, "got"), os.path.join(self.case, "olddev")
        os.mkdir(old)
        self.write_config(port=closed_port(), extra="log = syslog\n")
        listener = ("import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\n"
                    "s.bind('/dev/log'); s.settimeout(30); open(sys.argv[1]+'.ready','w').close()\n"
                    "open(sys.argv[1],'wb').write(s.recv(65536))\n")
        script = ('set -e; mount --bind /dev "$1"; mount -t tmpfs none /dev; touch /dev/null; '
                  'mount --bind "$1/null" /dev/null; /usr/bin/python3 -c "$2" "$3" & '
                  'while [ ! -e "$3.ready" ]; do sleep 0.05; done; "$4" -i a@example.com; wait')
        r = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", old, listener, got, self.link],
                           input=self.message("syslog"), capture_output=True, env=self.run_env(),
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        with open(got, "rb") as f:
            line = f.read().decode()
        self.assertRegex(line, r"^<22>\w{3} [ \d]\d \d\d:\d\d:\d\d envoi\[\d+\]: outcome=queued "
                               r"account=default server=127\.0\.0\.1:\d+ from=me@example\.org "
                               r"to=a@example\.com size=\d+ class=cannot_connect exit=0 id=\S+$")

    # ---- the real callers (Debian's packages) --------------------------

    def in_namespace(self, cmd, env, data=b""):
        """cmd with envoi bind-mounted over /usr/sbin/sendmail in a private
        mount namespace: the callers that hard-code the path find envoi,
        and the system's own file is never touched."""
        script = 'mount --bind "$0" /usr/sbin/sendmail && exec "$@"'
        return subprocess.run(["unshare", "-m", "sh", "-c", script, os.path.abspath(tap.ENVOI)] + cmd,
                              input=data, capture_output=True, env=env, timeout=60)

    def need(self, program):
        if not shutil.which(program):
            self.skipTest(f"{program} is not installed (scripts/setup installs it)")

    def test_cron_daemon_mails_a_jobs_output(self):
        # Debian's cron daemon itself (unpacked from its .deb, never
        # installed), in a private mount namespace: /etc gets an overlay
        # with envoi.conf, a PAM file, cron's group and one job in an
        # otherwise empty cron.d; /run and /var/spool are scratch
        # directories (nothing is created outside them), and
        # envoi is bind-mounted over /usr/sbin/sendmail. The script stops
        # before starting cron if any mount fails, so no job of the real
        # system can run.
        if os.geteuid() != 0:
            self.skipTest("needs root for a mount namespace")
        # The interop suites' cache when run beside them, else one in /tmp.
        cache = os.environ.get("ENVOI_DEB_CACHE", os.path.join(tempfile.gettempdir(), "envoi-deb-cache"))
        r = subprocess.run([os.path.join(servers.SERVERS, "debs-unpack"), cache, "cron"],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            self.skipTest("cannot fetch Debian's cron package: " + r.stderr[-200:])
        cron = os.path.join(r.stdout.strip(), "usr", "sbin", "cron")
        token = "crond-" + uuid.uuid4().hex
        upper, work, crond, run, spool = (os.path.join(self.case, d) for d in
                                          ("upper", "work", "crond", "run", "spool"))
        for d in (upper, work, crond, run, os.path.join(spool, "cron", "crontabs"),
                  os.path.join(upper, "pam.d")):
            os.makedirs(d, exist_ok=True)
        # cron wants its group; the overlay's /etc/group has it.
        with open("/etc/group") as f:
            groups = f.read()
        if not any(line.startswith("crontab:") for line in groups.splitlines()):
            groups += "crontab:x:64999:\n"
        with open(os.path.join(upper, "group"), "w") as f:
            f.write(groups)
        os.chmod(self.case, 0o755)
        with open(os.path.join(upper, "envoi.conf"), "w") as f:
            f.write(f"server = 127.0.0.1:{self.env['PLAIN_PORT']}\nfrom = host@example.org\n"
                    f"domain = example.net\nlog = {self.log}\n")
        with open(os.path.join(upper, "pam.d", "cron"), "w") as f:
            f.write("auth required pam_permit.so\naccount required pam_permit.so\n"
                    "session required pam_permit.so\n")
        with open(os.path.join(crond, "envoitest"), "w") as f:
            f.write(f"* * * * * root echo {token}\n")
        script = ('set -e; mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc; '
                  'mount --bind "$3" /etc/cron.d; mount --bind "$4" /run; '
                  'mount --bind "$5" /var/spool; '
                  'mount --bind "$6" /usr/sbin/sendmail; exec "$7" -f')
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        p = subprocess.Popen(["unshare", "-m", "--kill-child", "sh", "-c", script, "sh", upper, work,
                              crond, run, spool, os.path.abspath(tap.ENVOI), cron],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        try:
            got = self.delivered(token, 1, timeout=75)
        finally:
            p.kill()
            err = p.communicate(timeout=30)[1]
        self.assertEqual(len(got), 1, err.decode())
        m = got[0]
        self.assertEqual(m["Envelope-to"], "root@example.net")
        self.assertIn(b"\nFrom: root@example.net (Cron Daemon)\n", m.raw)
        self.assertIn(token, m.get_content())
        with open(self.log) as f:
            self.assertIn("outcome=sent", f.read())

    def test_bsd_mailx_mail_s(self):
        self.need("bsd-mailx")
        token = "mailx-" + uuid.uuid4().hex
        with open(os.path.join(self.case, ".mailrc"), "w") as f:
            f.write(f"set sendmail={self.link}\n")
        r = subprocess.run(["bsd-mailx", "-s", token, "friend@example.com"], input=b"hello from mailx\n",
                           capture_output=True, env=self.run_env(), timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        (m,) = self.delivered(token, 1)
        self.assertEqual(m["Envelope-to"], "friend@example.com")
        self.assertEqual(m["Subject"], token)
        self.assertEqual(m["From"], "me@example.org")

    def test_bsd_mailx_default_path_in_private_namespace(self):
        self.need("bsd-mailx")
        token = "mailx-ns-" + uuid.uuid4().hex
        r = self.in_namespace(["bsd-mailx", "-s", token, "root"], self.run_env(), b"to root\n")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        (m,) = self.delivered(token, 1)
        self.assertEqual(m["Envelope-to"], "root@example.net")

    def test_php_mail_default_path_and_f(self):
        self.need("php")
        token = "php-" + uuid.uuid4().hex
        code = (f'exit(mail("p@example.com", "{token}", "php body", "From: Web <web@example.org>") ? 0 : 1);')
        r = self.in_namespace(["php", "-r", code], self.run_env())
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())
        token2 = "php-f-" + uuid.uuid4().hex
        code = (f'exit(mail("q@example.com", "{token2}", "php body", "", "-fbounce@example.org") ? 0 : 1);')
        r = subprocess.run(["php", "-d", f"sendmail_path={self.link} -t -i", "-r", code],
                           capture_output=True, env=self.run_env(), timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())
        (m,) = self.delivered(token, 1)
        self.assertEqual(m["From"], "Web <web@example.org>")
        (m2,) = self.delivered(token2, 1)
        self.assertEqual(m2["Return-path"], "<bounce@example.org>")
        self.assertEqual(m2["From"], "bounce@example.org")

    def test_symfony_mailer_sendmail_transport_t(self):
        # Symfony Mailer's SendmailTransport with "-t -i" (its other mode).
        autoload = "/usr/share/php/Symfony/Component/Mailer/autoload.php"
        if not shutil.which("php") or not os.path.exists(autoload):
            self.skipTest("php-symfony-mailer is not installed (scripts/setup installs it)")
        token = "symfony-" + uuid.uuid4().hex
        code = (f"require_once '{autoload}';\n"
                "require_once '/usr/share/php/Symfony/Component/Mime/autoload.php';\n"
                "use Symfony\\Component\\Mailer\\Mailer;\n"
                "use Symfony\\Component\\Mailer\\Transport\\SendmailTransport;\n"
                "use Symfony\\Component\\Mime\\Email;\n"
                f"$m = new Mailer(new SendmailTransport('{self.link} -t -i'));\n"
                "$m->send((new Email())->from('App <app@example.org>')->to('s@example.com')"
                f"->bcc('hidden@example.com')->subject('{token}')->text('symfony body'));\n")
        r = subprocess.run(["php", "-r", code], capture_output=True, env=self.run_env(), timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())
        got = self.delivered(token, 2)
        self.assertEqual(sorted(m["Envelope-to"] for m in got), ["hidden@example.com", "s@example.com"])
        for m in got:
            self.assertIsNone(m["Bcc"])
            self.assertEqual(m["From"], "App <app@example.org>")

    def test_symfony_mailer_sendmail_transport_bs(self):
        # Symfony Mailer's default: SendmailTransport speaking SMTP to
        # "sendmail -bs". Two messages over one envoi (and one relay
        # session), each arriving once, with its From and without Bcc.
        autoload = "/usr/share/php/Symfony/Component/Mailer/autoload.php"
        if not shutil.which("php") or not os.path.exists(autoload):
            self.skipTest("php-symfony-mailer is not installed (scripts/setup installs it)")
        tokens = ["symfony-bs-" + uuid.uuid4().hex for _ in range(2)]
        code = (f"require_once '{autoload}';\n"
                "require_once '/usr/share/php/Symfony/Component/Mime/autoload.php';\n"
                "use Symfony\\Component\\Mailer\\Transport\\SendmailTransport;\n"
                "use Symfony\\Component\\Mime\\Email;\n"
                f"$t = new SendmailTransport('{self.link} -bs');\n"
                "$t->send((new Email())->from('App <app@example.org>')->to('s@example.com')"
                f"->bcc('hidden@example.com')->subject('{tokens[0]}')->text('first'));\n"
                "$t->send((new Email())->from('app@example.org')->to('t@example.com')"
                f"->subject('{tokens[1]}')->text('second'));\n")
        mark = self.log_mark()
        r = subprocess.run(["php", "-r", code], capture_output=True, env=self.run_env(), timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode())
        got = self.delivered(tokens[0], 2)
        self.assertEqual(sorted(m["Envelope-to"] for m in got), ["hidden@example.com", "s@example.com"])
        for m in got:
            self.assertIsNone(m["Bcc"])
            self.assertEqual(m["From"], "App <app@example.org>")
        (m2,) = self.delivered(tokens[1], 1)
        self.assertEqual((m2["Envelope-to"], m2["From"]), ("t@example.com", "app@example.org"))
        self.assertEqual(len(self.delivered(tokens[0], 3, timeout=2)), 2)
        with open(self.log) as f:
            self.assertEqual(sum("outcome=sent" in l for l in f), 2)
        self.assertEqual(self.connections_since(mark), 1)

    def git(self, repo, *args, data=None):
        env = dict(self.run_env(), GIT_AUTHOR_NAME="A U Thor", GIT_AUTHOR_EMAIL="author@example.org",
                   GIT_COMMITTER_NAME="A U Thor", GIT_COMMITTER_EMAIL="author@example.org")
        r = subprocess.run(["git", "-C", repo] + list(args), input=data, capture_output=True,
                           env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return r.stdout.decode().strip()

    def test_git_send_email_series_with_cover_letter(self):
        self.need("git")
        exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True).stdout.strip()
        if not os.path.exists(os.path.join(exec_path, "git-send-email")):
            self.skipTest("git send-email is not installed (git-email)")
        token = "git-" + uuid.uuid4().hex
        repo = os.path.join(self.case, "repo")
        os.mkdir(repo)
        self.git(repo, "init", "-q", "-b", "main")
        with open(os.path.join(repo, "a.txt"), "w") as f:
            f.write("base\n")
        self.git(repo, "add", ".")
        self.git(repo, "commit", "-qm", "base")
        base = self.git(repo, "rev-parse", "HEAD")
        for i, text in enumerate(["one\n", "two\n"]):
            with open(os.path.join(repo, f"f{i}.txt"), "w") as f:
                f.write(text + token + "\n")
            self.git(repo, "add", ".")
            self.git(repo, "commit", "-qm", f"change {i} {token}")
        tree = self.git(repo, "rev-parse", "HEAD^{tree}")
        out = os.path.join(self.case, "patches")
        self.git(repo, "format-patch", "-q", "--cover-letter", "-o", out, base)
        self.git(repo, "send-email", "--confirm=never", "--quiet", f"--sendmail-cmd={self.link}",
                 "--from=A U Thor <author@example.org>", "--to=list@example.com", "--force",
                 "--no-signed-off-by-cc", "--suppress-cc=all", *sorted(glob.glob(out + "/*.patch")))
        # The cover letter's shortlog holds the token too: three messages.
        every = self.delivered(token, 3)
        cover = [m for m in every if m["Subject"].startswith("[PATCH 0/2]")]
        got = sorted((m for m in every if not m["Subject"].startswith("[PATCH 0/2]")),
                     key=lambda m: m["Subject"])
        self.assertEqual(len(cover), 1)
        self.assertEqual([m["Subject"][:11] for m in got], ["[PATCH 1/2]", "[PATCH 2/2]"])
        for m in got:
            self.assertEqual(m["In-Reply-To"], cover[0]["Message-ID"])
            self.assertEqual(m["From"], "A U Thor <author@example.org>")
        clone = os.path.join(self.case, "clone")
        self.git(self.case, "clone", "-q", repo, clone)
        self.git(clone, "checkout", "-q", base)
        for m in got:
            self.git(clone, "am", "-q", data=m.raw)
        self.assertEqual(self.git(clone, "rev-parse", "HEAD^{tree}"), tree)

if __name__ == "__main__":
    tap.main()
