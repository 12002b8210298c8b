#!/usr/bin/python3
"""Every usage-class error of the contract (64, 65, 66, 77, 78) gives its
exit code and exactly one line on stderr that names the problem; nothing
reaches stdout or any output file."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import servers
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

    def test_password_on_command_line_is_refused_without_echo(self):
        # getopt would echo "--password=hunter2" whole ("ambiguous option").
        cases = [["--password=hunter2"], ["--pass=hunter2"], ["--passw=hunter2"], ["--pw=hunter2"],
                 ["--passwd=hunter2"], ["--password", "hunter2"], ["--pa", "hunter2"],
                 ["--p=hunter2"], ["--frob=hunter2"], ["--insecure=hunter2"], ["--json=hunter2"],
                 ["-p", "hunter2"], ["-phunter2"]]  # -p is a password elsewhere (mysql)
        for extra in ([], ["--json"]):
            for case in cases:
                r = self.envoi(*BASE, *case, *extra, "you@example.com")
                self.assertEqual(r.returncode, 64, f"{case}: {r.stderr!r}")
                self.assertNotIn(b"hunter2", r.stdout + r.stderr, f"{case}{extra}: secret echoed")
                lines = r.stderr.decode().splitlines()
                self.assertEqual(len(lines), 1, f"{case}: {lines}")
                if case[0] in ("--password=hunter2", "--pass=hunter2", "--pw=hunter2", "--password"):
                    self.assertIn("no password on the command line", lines[0])
                    self.assertIn("--password-file", lines[0])

    def test_bad_ports(self):
        for p in ("0", "65536", "http"):
            self.expect(64, ["port", f'"{p}"'], *BASE, "-P", p, "you@example.com")

    def test_unknown_auth_mechanism_is_refused_before_connecting(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as ls:
            ls.bind(("127.0.0.1", 0))
            ls.listen(1)
            ls.setblocking(False)
            server = f"127.0.0.1:{ls.getsockname()[1]}"
            pw = self.path("pw", b"secret\n", 0o600)
            line = self.expect(64, ["unknown SASL mechanism NOSUCHMECH", "envoi knows", "PLAIN"],
                               "-S", server, "--tls=none", "-u", "me", f"--password-file={pw}",
                               "--auth=NOSUCHMECH", "-f", "a@b.c", "-m", "x", "d@e.f")
            self.assertNotIn("secret", line)
            cfg = self.path("config", f"server = {server}\nauth = nosuchmech\n".encode(), 0o600)
            self.expect(78, [f"{cfg}:2: ", "unknown SASL mechanism nosuchmech"], "--config", cfg,
                        "--tls=none", "-u", "me", f"--password-file={pw}", "-f", "a@b.c", "-m", "x",
                        "d@e.f")
            with self.assertRaises(BlockingIOError, msg="envoi connected before refusing --auth"):
                ls.accept()

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

    def config_runs_command(self, mode, owner=None, user=None):
        """(exit code, stderr, whether password-command ran) for a config
        file holding password-command, with that mode and owner."""
        os.chmod(self.dir, 0o755)
        out = os.path.join(self.dir, "out")
        os.makedirs(out, exist_ok=True)
        os.chmod(out, 0o777)
        marker = os.path.join(out, "ran")
        if os.path.exists(marker):
            os.unlink(marker)
        cfg = self.path("owned.conf", f"server = 127.0.0.1:9\nuser = u\n"
                        f"password-command = touch {marker}; echo pw\n".encode(), mode)
        if owner is not None:
            os.chown(cfg, owner, -1)
        r = self.envoi("--config", cfg, "-f", "a@example.com", "-m", "x", "b@example.com", user=user)
        return r.returncode, r.stderr.decode(), os.path.exists(marker)

    def test_config_others_can_change_is_refused(self):
        # Control: the same file, safe, runs its command (nothing listens: 69).
        self.assertEqual(self.config_runs_command(0o644)[::2], (69, True))
        self.assertEqual(self.config_runs_command(0o644, user="nobody")[::2], (69, True))
        for mode, owner, user, words in (
                (0o646, None, None, ["writable by others", "chmod go-w"]),
                (0o664, None, None, ["writable by its group"]),
                (0o666, None, "nobody", ["writable by others"]),
                (0o600, 1, None, ["another user", "uid 1"]),          # daemon's file, root runs
                (0o644, 1, "nobody", ["another user", "uid 1"])):     # daemon's file, nobody runs
            code, err, ran = self.config_runs_command(mode, owner, user)
            self.assertEqual(code, 78, f"{mode:o} {owner} {user}: {err}")
            self.assertFalse(ran, f"{mode:o} {owner} {user}: the password command ran")
            for w in words:
                self.assertIn(w, err)

    def expect_json(self, code, *args, **kw):
        """With --json, every early error still writes exactly one JSON
        object on stdout, with status, exit_code, class and error."""
        r = self.envoi(*args, **kw)
        self.assertEqual(r.returncode, code, f"{args}: {r.stderr!r}")
        self.assertEqual(r.stdout.count(b"\n"), 1, f"{args}: one line expected: {r.stdout!r}")
        obj = json.loads(r.stdout)
        self.assertIsInstance(obj, dict)
        self.assertEqual(obj["status"], "failed")
        self.assertEqual(obj["exit_code"], code)
        self.assertTrue(obj["class"] and obj["error"], obj)
        return obj

    def test_json_for_every_early_error(self):
        cfg_bad = self.path("bad.conf", b"server = s\nport = 0\n", 0o600)
        cfg_syntax = self.path("syntax.conf", b"[oops\n", 0o600)
        cfg_json = self.path("json.conf", b"json = yes\n[oops\n", 0o600)
        cases = [
            (64, ["--frobnicate"]), (64, ["--frob=x"]), (64, ["-x"]),
            (64, ["--insecure=yes"]), (64, ["--password=hunter2"]),
            (64, [*BASE, "-P", "0", "you@example.com"]), (64, [*BASE, "-P", "http", "you@example.com"]),
            (64, ["-S", "s", "-m", "x", "you@example.com"]), (64, [*BASE]), (64, [*BASE, "you@"]),
            (64, ["--dry-run", "-f", "a@example.com", "-m", "x", "b@example.com"]),
            (65, [*BASE, "-s", "a\nb", "you@example.com"]),
            (66, [*BASE, "-a", "/nonexistent/a.pdf", "you@example.com"]),
            (66, ["-S", "s", "--message-file", "/nonexistent/m.eml"]),
            (77, [*BASE, "-a", self.dir, "you@example.com"]),
            (78, ["--config", cfg_bad, "-f", "a@b.c", "-m", "x", "d@e.f"]),
            (78, ["--config", cfg_syntax, *BASE, "d@e.f"]),
            (78, ["--config", "/nonexistent/envoi.conf", *BASE, "d@e.f"]),
        ]
        for code, args in cases:
            with self.subTest(args=args):
                self.expect_json(code, *args, "--json")
                self.expect_json(code, "--json", *args)
        self.expect_json(64, "--json", "--from")  # after --from, "--json" would be its value
        # Asked for in the environment or the configuration file.
        self.expect_json(64, "--frobnicate", env=dict(self.env, ENVOI_JSON="1"))
        self.expect_json(78, *BASE, "d@e.f", env=dict(self.env, ENVOI_PORT="99999", ENVOI_JSON="yes"))
        secret = self.path("secret.pdf", mode=0)
        os.chmod(self.dir, 0o755)
        self.expect_json(77, "--json", "--pickup-dir", self.dir, "-f", "me@example.com", "-m", "x",
                         "-a", secret, "you@example.com", user="nobody")
        # Without --json, stdout stays empty.
        r = self.envoi("--frobnicate")
        self.assertEqual(r.stdout, b"")
        r = self.envoi("--config", cfg_json, *BASE, "d@e.f")
        self.assertEqual(r.returncode, 78)

    def test_help_and_version_print_their_text_not_json(self):
        for opt in ("--help", "--version", "--usage"):
            r = self.envoi(opt, "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertFalse(r.stdout.startswith(b"{"), r.stdout[:80])

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

    def test_pickup_dir_json_names_the_file(self):
        d = tempfile.mkdtemp(prefix="envoi-pickup-")
        try:
            r = subprocess.run([tap.ENVOI, "--pickup-dir", d, "--json", "-f", "a@example.com", "-m",
                                "hello", "b@example.com"], capture_output=True, stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 0, r.stderr)
            obj = json.loads(r.stdout)
            self.assertEqual((obj["status"], obj["exit_code"]), ("written", 0))
            self.assertEqual(os.listdir(d), [os.path.basename(obj["file"])])
        finally:
            shutil.rmtree(d)

    def pickup(self, d, *extra, umask=0o022):
        cmd = " ".join([f"umask {umask:03o}; exec", tap.ENVOI, "--pickup-dir", d, *extra,
                        "-f a@example.com -m hello b@example.com"])
        return subprocess.run(["/bin/sh", "-c", cmd], capture_output=True, stdin=subprocess.DEVNULL)

    def test_pickup_file_mode_is_0600_unless_told(self):
        for umask, extra, mode in ((0o022, [], 0o600), (0o000, [], 0o600),
                                   (0o077, ["--pickup-mode=640"], 0o640),
                                   (0o022, ["--pickup-mode=0644"], 0o644)):
            d = tempfile.mkdtemp(prefix="envoi-pickup-", dir=self.dir)
            r = self.pickup(d, *extra, umask=umask)
            self.assertEqual(r.returncode, 0, r.stderr)
            [name] = os.listdir(d)
            self.assertEqual(os.stat(os.path.join(d, name)).st_mode & 0o7777, mode,
                             f"umask {umask:o} {extra}")
        for bad in ("755", "8", "", "1600", "rw", "-600"):
            r = self.pickup(self.dir, f"--pickup-mode='{bad}'")
            self.assertEqual(r.returncode, 64, f"{bad}: {r.stderr}")
            self.assertIn(b"pickup-mode", r.stderr)

    def test_pickup_stopped_mid_write_leaves_no_tmp(self):
        # /dev/zero as an attachment never ends: envoi is always mid-write.
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            d = tempfile.mkdtemp(prefix="envoi-pickup-", dir=self.dir)
            p = subprocess.Popen([tap.ENVOI, "--pickup-dir", d, "-f", "a@example.com", "-a", "/dev/zero",
                                  "b@example.com"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + 10
                while not os.listdir(d) and time.monotonic() < deadline:
                    time.sleep(0.01)
                self.assertTrue(os.listdir(d), "no temporary file appeared")
                p.send_signal(sig)
                self.assertEqual(p.wait(timeout=10), -sig)
            finally:
                p.kill()
                p.wait()
            self.assertEqual(os.listdir(d), [], f"{sig!r} left a file behind")

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

    def dry(self, raw, *args):
        return subprocess.run([tap.ENVOI, "--dry-run", *args, "--message-file", "-"],
                              input=raw, capture_output=True)

    def test_obsolete_bcc_and_resent_bcc_never_leave(self):
        """RFC 5322 4.5.3: "Bcc :" is a Bcc field too (issue 9)."""
        r = self.dry(b"From: a@example.com\nTo: t@example.com\nBcc : h1@example.com,\n"
                     b" h2@example.com\nbCc\t: h3@example.com\nResent-Bcc: h4@example.com\n"
                     b"RESENT-BCC :\n h5@example.com\nSubject: s\n\nbody\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        # whole addresses and field names: a random Message-ID may hold
        # "h5" or "cc" by chance
        for h in (b"h1@", b"h2@", b"h3@", b"h4@", b"h5@"):
            self.assertNotIn(h, r.stdout)
        names = [line.split(b":")[0].strip().lower() for line in r.stdout.split(b"\r\n\r\n")[0].split(b"\r\n")]
        self.assertFalse([n for n in names if n.endswith(b"cc")], names)
        self.assertIn(b"\r\nTo: t@example.com\r\nSubject: s\r\n\r\nbody\r\n", r.stdout)

    def test_line_that_is_no_header_field_is_refused(self):
        for raw in (b"To: t@example.com\nX Bad: y\n\nb\n", b"To: t@example.com\n: y\n\nb\n"):
            r = self.dry(raw, "-f", "a@example.com")
            self.assertEqual(r.returncode, 65, r.stderr)
            self.assertIn(b"line 2", r.stderr)
            self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
            self.assertEqual(r.stdout, b"")

    def test_missing_from_is_added_from_the_option_once(self):
        r = self.dry(b"To: t@example.com\nSubject: s\n\nbody\n", "-f", "Me <me@example.org>")
        self.assertEqual(r.returncode, 0, r.stderr)
        head = r.stdout.split(b"\r\n\r\n")[0].split(b"\r\n")
        self.assertEqual([h for h in head if h.lower().startswith(b"from")],
                         [b"From: Me <me@example.org>"])
        self.assertEqual(len([h for h in head if h.startswith(b"Date: ")]), 1)
        ids = [h for h in head if h.startswith(b"Message-ID: ")]
        self.assertEqual(len(ids), 1)
        self.assertRegex(ids[0], rb"^Message-ID: <[^@<> ]+@example\.org>$")
        r = self.dry(b"from : x@example.com\nTo: t@example.com\n\nbody\n", "-f", "me@example.org")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.lower().count(b"from"), 1, r.stdout)

    def test_missing_from_without_sender_names_from_option(self):
        r = self.dry(b"To: t@example.com\nSubject: s\n\nbody\n")
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn(b"--from", r.stderr)
        self.assertIn(b"no From", r.stderr)

    def test_message_file_without_recipients_is_usage_error(self):
        r = subprocess.run([tap.ENVOI, "--dry-run", "--message-file", "-"],
                           input=b"From: a@b.c\nSubject: x\n\nbody\n", capture_output=True)
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn(b"recipient", r.stderr)


class AgainstServer(unittest.TestCase):
    """Runs against the fault server: what reaches the wire besides SMTP."""

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-usage-srv-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
        env["HOME"] = self.base
        return env

    def test_closed_standard_fds_keep_transcript_off_the_wire(self):
        # With 2 closed, the socket would become fd 2 and "-v" would write
        # the transcript into the SMTP session.
        for closed in ("2>&-", "2>&- 1>&-", "0<&- 1>&- 2>&-"):
            srv = servers.FaultServer("ok", self.base, self.certs)
            cmd = " ".join([tap.ENVOI, *srv.options(), "-v", "--timeout=10", "-f", "a@example.com",
                            "-m", "hello", "b@example.com", closed])
            r = subprocess.run(["/bin/sh", "-c", cmd + "; echo $?"], capture_output=True,
                               env=self.env(), timeout=60)
            raw, summary, stored = srv.stop()
            self.assertEqual(r.stdout.strip().splitlines()[-1:], [b"0"], f"{closed}: {r.stdout!r}")
            for marker in (b"< 220", b"> EHLO", b"envoi:"):
                self.assertNotIn(marker, raw, f"{closed}: transcript on the wire: {raw[:300]!r}")
            self.assertIsNotNone(stored, f"{closed}: nothing delivered")

    def test_insecure_warns_once_before_anything_is_sent(self):
        for out in ("-q", None, "-v"):
            srv = servers.FaultServer("ok_insecure_selfsigned", self.base, self.certs)
            argv = [tap.ENVOI, f"--server=127.0.0.1:{srv.port}", "--insecure", "--tls=starttls",
                    "--timeout=10", "-f", "a@example.com", "-m", "hello", "b@example.com"]
            r = subprocess.run(argv + ([out] if out else []), capture_output=True,
                               stdin=subprocess.DEVNULL, env=self.env(), timeout=60)
            srv.stop()
            lines = r.stderr.decode().splitlines()
            self.assertEqual(r.returncode, 0, f"{out}: {lines}")
            warnings = [l for l in lines if "--insecure" in l and "warning" in l]
            self.assertEqual(len(warnings), 1, f"{out}: {lines}")
            # The first line, before the transcript's first line.
            self.assertEqual(lines[0], warnings[0], f"{out}: {lines}")
            self.assertIn("not be verified", warnings[0])
            if out == "-q":
                self.assertEqual(len(lines), 1, lines)
            else:
                self.assertIn("sent to", lines[-1])
                self.assertIn("NOT verified", lines[-1])


if __name__ == "__main__":
    tap.main()
