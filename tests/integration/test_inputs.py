#!/usr/bin/python3
"""File inputs that change between measuring and sending (issue 10, item
1): a --body-file, --html-file, --message-file, attachment or inline image
that grows, shrinks or is rewritten after envoi measured it. envoi must
never put a byte past what it announced on the wire (BDAT: the byte
count; DATA: SIZE= and the classification of its text), must exit 65
with one line naming the file, and must not end the data, so that the
server delivers nothing.

The trigger is deterministic: envoi measures every input before it
connects, so a server that changes the file when it sees EHLO (or, for a
change in the middle of the data, after the first bytes of the data) does
it between measuring and reading. Against the private Exim the change is
made by --password-command, which runs after the measuring too."""
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import glob
import email
import email.policy

import servers
import tap

INJECT = (b"\r\n.\r\nRSET\r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.com>\r\n"
          b"DATA\r\nSubject: injected\r\n\r\n\x00\xff" + b"L" * 3000 + b"\r\n.\r\nQUIT\r\n")


class Server(threading.Thread):
    """A one-connection SMTP server on loopback that records everything.
    on_ehlo() runs when EHLO arrives; on_data(n) after n bytes of message
    data (BDAT or DATA) have been read; it then goes on reading."""

    def __init__(self, chunking, on_ehlo=None, on_data=None, data_mark=65536):
        super().__init__(daemon=True)
        self.chunking, self.on_ehlo, self.on_data, self.mark = chunking, on_ehlo, on_data, data_mark
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.commands = []     # command lines, in order
        self.chunks = []       # (announced, received bytes) per BDAT
        self.messages = []     # complete DATA contents
        self.data_bytes = 0    # message data bytes read, stuffed or not
        self.size_param = None
        self.start()

    def run(self):
        conn, _ = self.sock.accept()
        conn.settimeout(20)
        self.f = conn.makefile("rb")
        self.w = conn.makefile("wb", buffering=0)
        try:
            self.dialogue()
        except (OSError, ValueError):
            pass
        conn.close()
        self.sock.close()

    def reply(self, text):
        self.w.write(text.encode() + b"\r\n")

    def read_counted(self, n):
        """Reads up to n bytes (less when the client goes away)."""
        got = bytearray()
        while len(got) < n:
            want = min(n - len(got), 65536)
            if self.on_data and self.data_bytes < self.mark <= self.data_bytes + want:
                want = self.mark - self.data_bytes
            b = self.f.read(want)
            if not b:
                break
            got += b
            self.data_bytes += len(b)
            if self.on_data and self.data_bytes == self.mark:
                self.on_data()
        return bytes(got)

    def dialogue(self):
        self.reply("220 test ESMTP")
        while True:
            line = self.f.readline()
            if not line:
                return
            self.commands.append(line)
            verb = line.split(b" ")[0].strip().upper()
            if verb == b"EHLO":
                if self.on_ehlo:
                    self.on_ehlo()
                self.reply("250-test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 100000000" +
                           ("\r\n250 CHUNKING" if self.chunking else "\r\n250 HELP"))
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                if verb == b"MAIL" and b" SIZE=" in line:
                    self.size_param = int(line.split(b" SIZE=")[1].split()[0])
                self.reply("250 ok")
            elif verb == b"BDAT":
                n = int(line.split()[1])
                got = self.read_counted(n)
                self.chunks.append((n, got))
                if len(got) < n:
                    return
                self.reply("250 chunk taken")
            elif verb == b"DATA":
                self.reply("354 go ahead")
                self.read_data()
            elif verb == b"QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("500 what")

    def read_data(self):
        data = bytearray()
        while not data.endswith(b"\r\n.\r\n"):
            line = self.f.readline()
            if not line:
                return
            data += line
            self.data_bytes += len(line)
            if self.on_data and self.data_bytes >= self.mark:
                self.on_data()
                self.on_data = None
        self.messages.append(bytes(data))
        self.reply("250 queued")


def grow(path, data=INJECT):
    with open(path, "ab") as f:
        f.write(data)


def shrink(path):
    os.truncate(path, os.path.getsize(path) // 2)


def rewrite(path):
    """Same size, new bytes that the measured text never had."""
    n = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.write((b"\xff\x00" * n)[:n])


class Growing(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="envoi-inputs-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def file(self, name, data):
        p = os.path.join(self.dir, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def run_envoi(self, srv, *args):
        r = subprocess.run([tap.ENVOI, "-S", f"127.0.0.1:{srv.port}", "--tls=none", "-q",
                            "-f", "a@example.com", *args], capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        srv.join(30)
        self.assertFalse(srv.is_alive(), "server still waiting")
        return r

    def assert_refused(self, r, srv, name):
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 65, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("changed while it was being sent", err)
        self.assertIn(name, err)
        # Nothing that came from the file ran as a command ...
        verbs = [c.split(b" ")[0].strip().upper() for c in srv.commands]
        self.assertNotIn(b"RSET", verbs)
        self.assertNotIn(b"QUIT", verbs)
        self.assertLessEqual(verbs.count(b"MAIL"), 1, srv.commands)
        self.assertFalse(any(b"evil" in c or b"victim" in c for c in srv.commands), srv.commands)
        # ... no chunk went past its count, none was completed, no data ended.
        for announced, got in srv.chunks:
            self.assertLess(len(got), announced)
        self.assertEqual(srv.messages, [])
        if srv.size_param is not None:
            self.assertLessEqual(srv.data_bytes, srv.size_param + srv.size_param // 10 + 3)

    def body_at_ehlo(self, chunking, change, big=False):
        text = (b"first line of a live log\n" * (20000 if big else 3))
        p = self.file("build.log", text)
        srv = Server(chunking, on_ehlo=lambda: change(p))
        r = self.run_envoi(srv, "-s", "log", "--body-file", p, "b@example.com")
        self.assert_refused(r, srv, "build.log")
        return srv

    def test_body_file_growing_bdat(self):
        srv = self.body_at_ehlo(True, grow)
        # Small: MAIL, RCPT and BDAT go in one write, which never happens.
        self.assertLessEqual(len(srv.chunks), 1, srv.commands)

    def test_body_file_growing_data(self):
        srv = self.body_at_ehlo(False, grow)
        self.assertIn(b"DATA\r\n", srv.commands)

    def test_big_body_file_growing_bdat_and_data(self):
        for chunking in (True, False):
            with self.subTest(chunking=chunking):
                self.body_at_ehlo(chunking, grow, big=True)

    def test_body_file_shrinking_or_rewritten(self):
        for chunking in (True, False):
            for change in (shrink, rewrite):
                with self.subTest(chunking=chunking, change=change.__name__):
                    self.body_at_ehlo(chunking, change)

    def test_quoted_printable_body_rewritten_never_overflows_the_chunk(self):
        """A body that needs quoted-printable, rewritten in place with bytes
        that encode three times as long: the first blocks would overflow
        the announced BDAT count before the end of the file is reached."""
        p = self.file("report.txt", "caf\u00e9\n".encode() * 40000)
        srv = Server(True, on_ehlo=lambda: rewrite(p))
        r = self.run_envoi(srv, "--body-file", p, "b@example.com")
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 65, err)
        self.assertIn("nothing was sent", err)
        self.assertEqual(len(srv.chunks), 1, srv.commands)
        announced, got = srv.chunks[0]
        self.assertLess(len(got), announced)
        self.assertTrue(srv.commands[-1].startswith(b"BDAT "), srv.commands)

    def test_html_file_growing(self):
        p = self.file("page.html", b"<p>hello</p>\n")
        srv = Server(True, on_ehlo=lambda: grow(p))
        r = self.run_envoi(srv, "-m", "text", "--html-file", p, "b@example.com")
        self.assert_refused(r, srv, "page.html")

    def test_message_file_growing(self):
        raw = b"From: a@example.com\nTo: b@example.com\nSubject: s\n\nbody\n"
        for chunking in (True, False):
            for change in (grow, shrink):
                with self.subTest(chunking=chunking, change=change.__name__):
                    p = self.file("m.eml", raw)
                    srv = Server(chunking, on_ehlo=lambda: change(p))
                    r = self.run_envoi(srv, "--message-file", p)
                    self.assert_refused(r, srv, "m.eml")

    def test_attachment_and_inline_growing(self):
        for opt in ("-a", "--inline"):
            with self.subTest(opt=opt):
                p = self.file("data.bin", os.urandom(1000))
                srv = Server(True, on_ehlo=lambda: grow(p))
                extra = ["--html", "<img src=cid:data.bin>"] if opt == "--inline" else []
                r = self.run_envoi(srv, "-m", "x", *extra, opt, p, "b@example.com")
                self.assert_refused(r, srv, "data.bin")

    def test_attachment_changing_in_the_middle_of_the_data(self):
        """The file changes after the server has read 64 KiB of the data
        and before envoi reaches its end (12 MB: more than the socket
        buffers hold)."""
        for chunking in (True, False):
            for change in (grow, shrink):
                with self.subTest(chunking=chunking, change=change.__name__):
                    p = self.file("big.log", os.urandom(12 << 20))
                    srv = Server(chunking, on_data=lambda: change(p))
                    r = self.run_envoi(srv, "-m", "x", "-a", p, "b@example.com")
                    self.assert_refused(r, srv, "big.log")

    def test_unchanged_files_still_go(self):
        body = self.file("body.txt", b"hello\n")
        att = self.file("a.bin", os.urandom(5000))
        for chunking in (True, False):
            with self.subTest(chunking=chunking):
                srv = Server(chunking)
                r = self.run_envoi(srv, "--body-file", body, "-a", att, "b@example.com")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn(b"QUIT\r\n", srv.commands)


class Sizes(unittest.TestCase):
    """Issue 10 item 2: two sparse attachments whose base64 sizes sum past
    2^64 gave SIZE=385 and BDAT 385 LAST. The sum is checked: 89 before
    connecting."""

    def test_sizes_past_2_63_are_refused_before_connecting(self):
        d = tempfile.mkdtemp(prefix="envoi-sparse-", dir="/dev/shm")
        lsn = socket.socket()
        try:
            a, b = os.path.join(d, "a.bin"), os.path.join(d, "b.bin")
            try:
                for p in (a, b):
                    with open(p, "wb") as f:
                        f.truncate(7 << 60)  # 7 EiB, sparse (tmpfs allows it)
            except OSError as e:
                self.skipTest(f"no sparse 7 EiB file here: {e}")
            lsn.bind(("127.0.0.1", 0))
            lsn.listen(1)
            port = lsn.getsockname()[1]
            for files in ([a, b], [a]):
                with self.subTest(files=len(files)):
                    att = [x for p in files for x in ("-a", p)]
                    r = subprocess.run([tap.ENVOI, "-S", f"127.0.0.1:{port}", "--tls=none",
                                        "-f", "a@example.com", "-m", "x", *att, "b@example.com"],
                                       capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
                    err = r.stderr.decode()
                    self.assertEqual(r.returncode, 89, err)
                    self.assertIn("larger than 9223372036854775807 bytes", err)
                    self.assertEqual(len(err.splitlines()), 1, err)
            lsn.setblocking(False)
            with self.assertRaises(BlockingIOError):
                lsn.accept()  # nothing connected
        finally:
            lsn.close()
            shutil.rmtree(d)


class SpecialFiles(unittest.TestCase):
    """Issue 10 item 12: a file whose st_size says nothing of its content
    (procfs shows 0, sysfs 4096) is spooled like a pipe, so it goes whole."""

    FILES = [p for p in ("/proc/version", "/proc/sys/kernel/ostype",
                         "/sys/devices/system/cpu/online") if os.path.exists(p)]

    def attachments(self, data):
        msg = email.message_from_bytes(data, policy=email.policy.default)
        return [part.get_content() for part in msg.iter_attachments()]

    def expected(self, path):
        with open(path, "rb") as f:
            return f.read()

    def test_dry_run_attaches_the_content(self):
        for path in self.FILES:
            with self.subTest(path=path):
                r = subprocess.run([tap.ENVOI, "--dry-run", "-f", "a@example.com", "-m", "x",
                                    "-a", path, "b@example.com"], capture_output=True, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
                got = self.attachments(r.stdout)
                self.assertEqual(len(got), 1)
                self.assertNotEqual(got[0], b"")
                self.assertEqual(got[0], self.expected(path))

    def test_sent_attachment_and_body_hold_the_content(self):
        for chunking in (True, False):
            with self.subTest(chunking=chunking):
                srv = Server(chunking)
                r = subprocess.run([tap.ENVOI, "-S", f"127.0.0.1:{srv.port}", "--tls=none", "-q",
                                    "-f", "a@example.com", "--body-file", "/proc/sys/kernel/ostype",
                                    "-a", "/proc/version", "b@example.com"], capture_output=True,
                                   stdin=subprocess.DEVNULL, timeout=60)
                srv.join(30)
                self.assertEqual(r.returncode, 0, r.stderr)
                data = srv.chunks[0][1] if chunking else srv.messages[0][:-3]
                self.assertEqual(self.attachments(data), [self.expected("/proc/version")])
                msg = email.message_from_bytes(data, policy=email.policy.default)
                self.assertEqual(msg.get_body(("plain",)).get_content().strip(), "Linux")


class GrowingAgainstExim(unittest.TestCase):
    """The attack of the review: over verified STARTTLS with AUTH, a body
    file that grows after measuring carries a second transaction. No
    message at all may be delivered."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="envoi-inputs-exim-")
        cls.exim = servers.Exim(cls.dir)
        cls.env = cls.exim.env

    @classmethod
    def tearDownClass(cls):
        cls.exim.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_growth_delivers_nothing(self):
        e = self.env
        work = tempfile.mkdtemp(prefix="envoi-inputs-work-")
        try:
            body = os.path.join(work, "build.log")
            with open(body, "wb") as f:
                f.write(b"build started\n")
            inject = os.path.join(work, "inject")
            with open(inject, "wb") as f:
                f.write(b"\r\nRSET\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<victim@example.com>\r\n"
                        b"BDAT 30 LAST\r\nSubject: injected-second\r\n\r\nx\r\n")
            pw = os.path.join(work, "pw")
            with open(pw, "w") as f:
                f.write(e["PASS"] + "\n")
            env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
            env["HOME"] = work
            # The password command runs after envoi measured the body.
            r = subprocess.run([tap.ENVOI, "-S", f"127.0.0.1:{e['SUBMIT_PORT']}", "--tls=starttls",
                                "--ca-file", e["CA"], "-u", e["USER"],
                                f"--password-command=cat {inject} >> {body}; cat {pw}",
                                "-f", "a@example.com", "-s", "first-original", "--body-file", body,
                                "b@example.com"], capture_output=True, env=env,
                               stdin=subprocess.DEVNULL, timeout=60)
            self.assertEqual(r.returncode, 65, r.stderr)
            self.assertIn(b"changed while it was being sent", r.stderr)
            time.sleep(2)  # Exim delivers asynchronously
            stored = glob.glob(os.path.join(e["MAILDIR"], "new", "*"))
            self.assertEqual(stored, [], "a message was delivered")
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    tap.main()
