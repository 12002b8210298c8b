#!/usr/bin/python3
"""Every usage-class error of the contract (64, 65, 66, 77, 78) gives its
exit code and exactly one line on stderr that names the problem; nothing
reaches stdout or any output file."""
import os
import shutil
import subprocess
import tempfile
import unittest

import tap

BASE = ["-S", "mail.example.com", "-f", "me@example.com", "-m", "hi"]


class Usage(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="envoi-usage-")
        self.env = dict(os.environ, HOME=self.dir)
        for k in list(self.env):
            if k.startswith("ENVOI_") or k == "XDG_CONFIG_HOME":
                del self.env[k]

    def tearDown(self):
        shutil.rmtree(self.dir)

    def envoi(self, *args, env=None, user=None):
        cmd = [tap.ENVOI] + list(args)
        if user:
            cmd = ["runuser", "-u", user, "--"] + cmd
        return subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL,
                              env=env or self.env, timeout=30)

    def expect(self, code, words, *args, **kw):
        r = self.envoi(*args, **kw)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, code, f"{args}: {err}")
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, f"one line expected: {err!r}")
        self.assertTrue(lines[0].startswith("envoi: "), lines[0])
        for w in words:
            self.assertIn(w, lines[0])
        self.assertEqual(r.stdout, b"")
        return lines[0]

    def path(self, name, data=b"x", mode=0o644):
        p = os.path.join(self.dir, name)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
        return p

    # 64
    def test_unknown_option(self):
        r = self.envoi("--frobnicate")
        self.assertEqual(r.returncode, 64)
        self.assertIn("frobnicate", r.stderr.decode().splitlines()[0])

    def test_bad_ports(self):
        for p in ("0", "65536", "http"):
            self.expect(64, ["port", f'"{p}"'], *BASE, "-P", p, "you@example.com")

    def test_missing_sender(self):
        self.expect(64, ["sender", "--from"], "-S", "s", "-m", "x", "you@example.com")

    def test_missing_recipient(self):
        self.expect(64, ["recipient"], *BASE)

    def test_malformed_addresses(self):
        for bad in ("you", "you@", "@example.com", "a b@example.com", "you@exa mple.com",
                    "<you@example.com", "you@example.com\r\nRCPT TO:<x@y.z>"):
            self.expect(64, ["address"], *BASE, bad)

    def test_address_starting_with_dash_is_data_not_option(self):
        r = self.envoi("--dry-run", "-f", "me@example.com", "-m", "x", "--", "-you@example.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"To: -you@example.com\r\n", r.stdout)

    # 65
    def test_line_breaks_in_header_data(self):
        self.expect(65, ["subject", "line feed"], *BASE, "-s", "a\nBcc: x@y.z", "you@example.com")
        self.expect(65, ["header", "carriage return"], *BASE, "-H", "X-A: b\rc", "you@example.com")
        self.expect(65, ["header name"], *BASE, "-H", "X A: b", "you@example.com")
        name = os.path.join(self.dir, "evil\nname.txt")
        self.expect(65, ["file name"], *BASE, "-a", name, "you@example.com")

    # 66
    def test_missing_files(self):
        self.expect(66, ["attachment", "/nonexistent/a.pdf", "does not exist"],
                    *BASE, "-a", "/nonexistent/a.pdf", "you@example.com")
        self.expect(66, ["body file", "does not exist"], "-S", "s", "-f", "me@example.com",
                    "--body-file", "/nonexistent/body.txt", "you@example.com")
        self.expect(66, ["message file"], "-S", "s", "--message-file", "/nonexistent/m.eml")

    # 77
    def test_unreadable_files(self):
        self.expect(77, ["directory"], *BASE, "-a", self.dir, "you@example.com")
        secret = self.path("secret.pdf", mode=0)
        if os.geteuid() == 0:
            os.chmod(self.dir, 0o755)
            self.expect(77, ["secret.pdf", "ermission denied"], "--dry-run", "-f", "me@example.com",
                        "-m", "x", "-a", secret, "you@example.com", user="nobody")
        else:
            self.expect(77, ["secret.pdf"], *BASE, "-a", secret, "you@example.com")

    # 78
    def test_config_errors(self):
        cfg = self.path("config", b"server = s\nport = 0\n", 0o600)
        self.expect(78, ["port", f"{cfg}:2: "], "--config", cfg, "-f", "a@b.c", "-m", "x", "d@e.f")
        cfg = self.path("config", b"[account work]\npassword = hunter2\n", 0o644)
        line = self.expect(78, ["readable", "chmod 600"], "--config", cfg, *BASE, "d@e.f")
        self.assertNotIn("hunter2", line)
        self.expect(78, ["nope"], "--config", self.path("c2", b"", 0o600), "--account", "nope",
                    *BASE, "d@e.f")
        self.expect(78, ["/nonexistent/envoi.conf"], "--config", "/nonexistent/envoi.conf", *BASE, "d@e.f")
        self.expect(78, ["[oops"], "--config", self.path("c3", b"[oops\n", 0o600), *BASE, "d@e.f")

    def test_bad_value_in_environment_is_config_error(self):
        env = dict(self.env, ENVOI_PORT="99999")
        self.expect(78, ["ENVOI_PORT"], *BASE, "d@e.f", env=env)


class Outputs(unittest.TestCase):
    def test_pickup_dir_writes_one_eml_atomically(self):
        d = tempfile.mkdtemp(prefix="envoi-pickup-")
        try:
            r = subprocess.run([tap.ENVOI, "--pickup-dir", d, "-f", "a@example.com", "-m", "hello",
                                "b@example.com"], capture_output=True, stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 0, r.stderr)
            files = os.listdir(d)
            self.assertEqual(len(files), 1)
            self.assertTrue(files[0].endswith(".eml"))
            with open(os.path.join(d, files[0]), "rb") as f:
                self.assertIn(b"\r\n\r\nhello\r\n", f.read())
        finally:
            shutil.rmtree(d)

    def test_pickup_dir_missing_is_cantcreat(self):
        r = subprocess.run([tap.ENVOI, "--pickup-dir", "/nonexistent/dir", "-f", "a@example.com",
                            "-m", "x", "b@example.com"], capture_output=True, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 73, r.stderr)
        self.assertIn(b"/nonexistent/dir", r.stderr)

    def test_dry_run_to_closed_pipe_is_an_error_not_a_crash(self):
        for source in ("/dev/zero", "big.bin"):  # a device, streamed; a sparse 1 GiB file
            r = subprocess.run(f"truncate -s 1G big.bin; {tap.ENVOI} --dry-run -f a@example.com "
                               f"-a {source} b@example.com </dev/null | head -c 10 >/dev/null; "
                               "echo ${PIPESTATUS[0]}", shell=True, executable="/bin/bash",
                               capture_output=True, timeout=60, cwd=self.dir)
            self.assertEqual(r.stdout.strip(), b"74", r.stderr)
            self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="envoi-out-")

    def tearDown(self):
        shutil.rmtree(self.dir)


class MessageFile(unittest.TestCase):
    RAW = (b"From: Alice <alice@example.com>\nTo: bob@example.com, Carol <carol@example.com>\n"
           b"Bcc: hidden@example.com,\n  hidden2@example.com\nSubject: ready\n\nbody line\n.\n")

    def test_message_file_is_passed_through_without_bcc(self):
        r = subprocess.run([tap.ENVOI, "--dry-run", "--message-file", "-"], input=self.RAW,
                           capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertNotIn(b"hidden", out)
        self.assertNotIn(b"Bcc", out)
        self.assertIn(b"\r\nSubject: ready\r\n\r\nbody line\r\n.\r\n", out)
        self.assertTrue(out.startswith(b"Date: "))
        self.assertIn(b"\r\nMessage-ID: <", out)

    def test_message_file_with_bare_cr_is_bad_data(self):
        r = subprocess.run([tap.ENVOI, "--dry-run", "--message-file", "-"],
                           input=b"From: a@b.c\nTo: d@e.f\n\nx\ry\n", capture_output=True)
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn(b"line 4", r.stderr)

    def test_message_file_without_recipients_is_usage_error(self):
        r = subprocess.run([tap.ENVOI, "--dry-run", "--message-file", "-"],
                           input=b"From: a@b.c\nSubject: x\n\nbody\n", capture_output=True)
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn(b"recipient", r.stderr)


if __name__ == "__main__":
    tap.main()
