#!/usr/bin/python3
"""What a stranger meets (issue 11): the lines envoi prints for the
mistakes a new user makes and for habits brought from other mail tools.
Each case checks the exact line, or its essential words. A small scripted
SMTP server on loopback stands in where a server is needed."""
import json
import os
import pty
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import tap

BASE = ["-f", "me@example.com", "-m", "hi"]


class MiniServer:
    """Plaintext SMTP on 127.0.0.1, one thread per connection. final is the
    reply to the end of the data (a list of lines, the last without '-');
    auth is the reply to AUTH; the envelope is recorded in .mail_from."""

    def __init__(self, final=("250 OK",), auth="235 ok", greeting="220 mini ESMTP", port=0):
        self.final, self.auth, self.greeting = final, auth, greeting
        self.mail_from = None
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        f = c.makefile("rb")
        send = lambda *lines: c.sendall(b"".join(l.encode() + b"\r\n" for l in lines))
        try:
            send(self.greeting)
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.decode(errors="replace").strip()
                verb = cmd.split(" ")[0].upper()
                if verb == "EHLO":
                    send("250-mini", "250-AUTH PLAIN LOGIN", "250 8BITMIME")
                elif verb == "AUTH":
                    send(self.auth)
                elif verb == "MAIL":
                    self.mail_from = cmd
                    send("250 ok")
                elif verb == "RCPT":
                    send("250 ok")
                elif verb == "DATA":
                    send("354 go on")
                    while f.readline() not in (b".\r\n", b""):
                        pass
                    send(*self.final)
                elif verb == "QUIT":
                    send("221 bye")
                    return
                else:
                    send("502 no")
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()


class Stranger(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="envoi-stranger-")
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("ENVOI_") and k != "XDG_CONFIG_HOME"}
        self.env["HOME"] = self.dir

    def tearDown(self):
        shutil.rmtree(self.dir)

    def envoi(self, *args, env=None, input=None):
        return subprocess.run([tap.ENVOI] + list(args), capture_output=True, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL,
                              env=env or self.env, timeout=60)

    def one_line(self, code, *args, **kw):
        """Runs envoi, expects exit code and one line on stderr; returns it."""
        r = self.envoi(*args, **kw)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, code, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        return err.rstrip("\n")

    def path(self, name, data, mode=0o600):
        p = os.path.join(self.dir, name)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
        return p

    # 7: lists written with ";" or spaces
    def test_semicolon_list_says_to_use_commas(self):
        for text in ("a@x.com; b@y.com", "a@x.com b@y.com"):
            line = self.one_line(64, "--dry-run", *BASE, text)
            self.assertEqual(line, f'envoi: usage error: malformed address "{text}": '
                             'more than one "@": separate addresses with commas')

    # 1: smtps:// against a STARTTLS port names the URL that works
    def test_smtps_against_plaintext_port_names_smtp_url(self):
        srv = MiniServer()
        try:
            line = self.one_line(80, "-S", f"smtps://127.0.0.1:{srv.port}", *BASE, "d@e.f")
            self.assertTrue(line.endswith(f"(port {srv.port} speaks plaintext SMTP: use "
                                          f"smtp://127.0.0.1:{srv.port} for STARTTLS, not smtps://)"),
                            line)
            self.assertNotIn("--tls=starttls", line)
            line = self.one_line(80, "-S", f"127.0.0.1:{srv.port}", "--tls=implicit", *BASE, "d@e.f")
            self.assertIn("use --tls=starttls", line)
        finally:
            srv.close()

    # 10: the queue id, plainly, on the success line and in --json
    def test_success_line_shows_the_queue_id(self):
        replies = {
            "exim": (["250- 1002 byte chunk, total 1002", "250 OK id=1xYTbZ-0001En-2d"],
                     "1xYTbZ-0001En-2d"),
            "postfix": (["250 2.0.0 Ok: queued as 4RfX2k0Zkz"], "4RfX2k0Zkz"),
            "opensmtpd": (["250 2.0.0 5e6a2b1c Message accepted for delivery"], "5e6a2b1c"),
            "none": (["250 Great success"], None),
        }
        for name, (final, qid) in replies.items():
            srv = MiniServer(final=final)
            try:
                args = ["-S", f"127.0.0.1:{srv.port}", *BASE, "d@e.f"]
                line = self.one_line(0, *args)
                head = f"envoi: sent to 1 recipient via 127.0.0.1:{srv.port} (unencrypted); "
                self.assertEqual(line, head + (f"queued as {qid}" if qid else
                                               "server said: 250 Great success"), name)
                r = self.envoi("--json", *args)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(json.loads(r.stdout)["queue_id"], qid, name)
            finally:
                srv.close()

    # 4: one format for configuration errors, FILE:LINE:
    def test_config_errors_read_file_colon_line(self):
        prefix = "envoi: configuration error: "
        cfg = self.path("c1", b"server = s\nport = 0\n")
        self.assertEqual(self.one_line(78, "--config", cfg, *BASE, "d@e.f"),
                         f'{prefix}{cfg}:2: the port must be a number from 1 to 65535, not "0"')
        cfg = self.path("c2", b"# mine\n[account default\nserver = s\n")
        self.assertEqual(self.one_line(78, "--config", cfg, *BASE, "d@e.f"),
                         f'{prefix}{cfg}:2: "[account default" lacks its closing "]"')
        cfg = self.path("c3", b"server = s\nfrom\n")
        self.assertEqual(self.one_line(78, "--config", cfg, *BASE, "d@e.f"),
                         f'{prefix}{cfg}:2: key "from" needs a value')

    def test_unknown_account_lists_the_accounts(self):
        cfg = self.path("c", b"[account work]\nserver = w\n[account home]\nserver = h\n")
        self.assertEqual(self.one_line(78, "--config", cfg, "--account", "wrok", *BASE, "d@e.f"),
                         f'envoi: configuration error: no account "wrok" in {cfg} '
                         "(its accounts: work, home)")
        cfg = self.path("c0", b"server = s\n")
        self.assertIn("(it has no [account NAME] section)",
                      self.one_line(78, "--config", cfg, "--account", "x", *BASE, "d@e.f"))

    # 3: "did you mean" for options, configuration keys and ENVOI_ variables
    def test_option_typo_says_did_you_mean_with_the_envoi_prefix(self):
        self.assertEqual(self.one_line(64, "--subjet", "x", *BASE, "d@e.f"),
                         'envoi: usage error: unknown option "--subjet" (did you mean --subject?)')
        self.assertRegex(self.one_line(64, "-z", *BASE, "d@e.f"),
                         r'^envoi: usage error: unknown option "?-z')
        self.assertEqual(self.one_line(64, "--re", "x", *BASE, "d@e.f"),
                         'envoi: usage error: ambiguous option "--re" '
                         "(one of --reply-to, --read-receipt, --retry)")
        self.assertEqual(self.one_line(64, "--insecure=yes", *BASE, "d@e.f"),
                         "envoi: usage error: --insecure takes no value")
        self.assertEqual(self.one_line(64, *BASE, "d@e.f", "-s"),
                         "envoi: usage error: -s needs a value")
        # what getopt accepts still works: abbreviations, clusters, values that look like options
        r = self.envoi("--dry-run", "--subj", "--x", "-qf", "me@example.com", "-m", "-z", "d@e.f")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"Subject: --x\r\n", r.stdout)

    def test_config_key_typo_says_did_you_mean(self):
        for key, near in (("username", "user"), ("host", "server"), ("sevrer", "server"),
                          ("passwordeval", "password-command")):
            cfg = self.path("c", f"{key} = x\n".encode())
            self.assertEqual(self.one_line(78, "--config", cfg, *BASE, "d@e.f"),
                             f'envoi: configuration error: {cfg}:1: unknown key "{key}" '
                             f'(did you mean "{near}"?)')

    def test_unknown_envoi_variable_is_a_warning_naming_the_nearest(self):
        env = dict(self.env, ENVOI_SEVRER="mail.example.com", ENVOI_FROBNICATE="1")
        r = self.envoi("--dry-run", *BASE, "d@e.f", env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(r.stderr.decode().splitlines()), [
            "envoi: warning: unknown variable ENVOI_FROBNICATE ignored",
            "envoi: warning: unknown variable ENVOI_SEVRER ignored (did you mean ENVOI_SERVER?)"])
        # before the failure it causes, too; never with --quiet
        line = self.envoi(*BASE, "d@e.f", env=env).stderr.decode().splitlines()
        self.assertIn("ENVOI_SEVRER", line[0])
        self.assertIn("no server", line[-1])
        self.assertIn("no server", self.one_line(64, "-q", *BASE, "d@e.f", env=env))

    # 2: "no server" says where envoi looked, and that HOME is unset
    def test_no_server_names_the_files_looked_for(self):
        line = self.one_line(64, *BASE, "d@e.f")
        self.assertEqual(line, "envoi: usage error: no server: give --server HOST, or server = HOST "
                         "in a configuration file (none found: looked for "
                         f"{self.dir}/.config/envoi/config and /etc/envoi.conf)")
        env = dict(self.env)
        del env["HOME"]
        line = self.one_line(64, *BASE, "d@e.f", env=env)
        self.assertIn("(none found: looked for /etc/envoi.conf)", line)
        self.assertTrue(line.endswith("(HOME is unset, as under cron or systemd: give --config "
                                      "FILE, or set ENVOI_CONFIG or HOME)"), line)
        cfg = self.path("c", b"from = me@example.com\n")
        self.assertEqual(self.one_line(64, "--config", cfg, "-m", "x", "d@e.f"),
                         f"envoi: usage error: no server: give --server HOST (or server = HOST in {cfg})")

    # 5: a refused login says where the password came from
    def test_refused_login_names_the_password_source(self):
        srv = MiniServer(auth="535 5.7.8 Username and Password not accepted")
        try:
            args = ["-S", f"127.0.0.1:{srv.port}", "--tls=none", "-u", "me", *BASE, "d@e.f"]
            head = ("envoi: authentication failed: the server rejected the user name or password "
                    "for me (password ")
            tail = "; server said: 535 5.7.8 Username and Password not accepted"
            cfg = self.path("c", b"password-command = echo from-command\n")
            pwfile = self.path("pw", b"from-file\n")
            cases = [
                ([], dict(ENVOI_PASSWORD="stale"), "from ENVOI_PASSWORD"),
                # the commonest trap: a stale variable over the account's command
                (["--config", cfg], dict(ENVOI_PASSWORD="stale"), "from ENVOI_PASSWORD"),
                (["--config", cfg], {}, "from password-command"),
                (["--password-file", pwfile], {}, f"from password-file {pwfile}"),
            ]
            for extra, env, origin in cases:
                line = self.one_line(84, *extra, *args, env=dict(self.env, **env))
                self.assertEqual(line, f"{head}{origin}){tail}", (extra, env))
            with open(os.path.join(self.dir, ".netrc"), "w") as f:
                f.write("machine 127.0.0.1 login me password from-netrc\n")
            os.chmod(os.path.join(self.dir, ".netrc"), 0o600)
            self.assertEqual(self.one_line(84, *args), f"{head}from ~/.netrc){tail}")
            os.unlink(os.path.join(self.dir, ".netrc"))
            self.assertIn(f"{head}typed at the prompt){tail}", self.typed_password(args))
        finally:
            srv.close()

    def typed_password(self, args):
        """Runs envoi on a terminal of its own, types a password at its
        prompt, and returns all it wrote there."""
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(tap.ENVOI, [tap.ENVOI] + args, self.env)
        out = b""
        try:
            while b"Password for" not in out:
                out += os.read(fd, 4096)
            os.write(fd, b"typed\n")
            while True:
                out += os.read(fd, 4096)
        except OSError:
            pass  # the terminal closes when envoi exits
        os.close(fd)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 84, out)
        return out.decode(errors="replace")

    # 9: a refused connection is retried with --retry, like a timeout
    def test_refused_connection_is_retried(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        args = ["-S", f"127.0.0.1:{port}", *BASE, "d@e.f"]
        r = self.envoi("--retry=1", *args)
        lines = r.stderr.decode().splitlines()
        self.assertEqual(r.returncode, 69, r.stderr)
        refused = f"envoi: cannot connect: cannot connect to 127.0.0.1 port {port}: connection refused"
        self.assertEqual(lines, [refused + "; retrying in 1 s (1 of 1)", refused])
        # the server comes back during the wait: sent
        p = subprocess.Popen([tap.ENVOI, "--retry=3"] + args, stdin=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=self.env)
        time.sleep(0.5)
        srv = MiniServer(port=port)
        try:
            _, err = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, err)
            self.assertIn(b"retrying in 1 s (1 of 3)", err)
        finally:
            srv.close()
        # a server that answers to refuse service is not asked again
        srv = MiniServer(greeting="554 no service for you")
        try:
            line = self.one_line(69, "--retry=2", "-S", f"127.0.0.1:{srv.port}", *BASE, "d@e.f")
            self.assertIn("554 no service for you", line)
        finally:
            srv.close()

    # 8: -r is Reply-To (not mailx's sender); -v shows the envelope sender
    def test_verbose_success_line_shows_the_envelope_sender(self):
        srv = MiniServer(final=["250 2.0.0 Ok: queued as 4RfX2k0Zkz"])
        try:
            args = ["-S", f"127.0.0.1:{srv.port}", "-r", "reply@example.com", *BASE, "d@e.f"]
            r = self.envoi("-v", *args)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr.decode().splitlines()[-1],
                             f"envoi: sent to 1 recipient via 127.0.0.1:{srv.port} (unencrypted); "
                             "queued as 4RfX2k0Zkz; envelope sender <me@example.com>")
            self.assertEqual(srv.mail_from, "MAIL FROM:<me@example.com>")
            self.assertTrue(self.one_line(0, *args).startswith("envoi: sent to 1 recipient"))
            r = self.envoi("--dry-run", *args)
            self.assertIn(b"\r\nReply-To: reply@example.com\r\n", r.stdout)
        finally:
            srv.close()

    # 6: a whole message piped in as the body
    def test_piped_message_as_body_warns_about_message_file(self):
        msg = b"From: a@example.com\nTo: d@e.f\nSubject: hi\n\nbody\n"
        args = ["--dry-run", "-f", "me@example.com", "d@e.f"]
        r = self.envoi(*args, input=msg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.decode(), "envoi: warning: standard input starts with header lines "
                         "(From:, To:, Subject:) but is sent as the body: for a whole message, "
                         "use --message-file=-\n")
        self.assertIn(b"\r\n\r\nFrom: a@example.com\r\nTo: d@e.f\r\n", r.stdout)  # sent as asked
        for quiet in (["-q"], ["--body-file=-"]):
            r = self.envoi(*quiet, *args, input=msg)
            self.assertEqual((r.returncode, r.stderr), (0, b""), quiet)
        r = self.envoi(*args, input=b"Hello,\n\nNote: all fine.\n")
        self.assertEqual((r.returncode, r.stderr), (0, b""))

    # 12: at a terminal with no body option, the body is typed, as in mail(1)
    def test_body_is_typed_at_a_terminal(self):
        master, slave = pty.openpty()
        try:
            p = subprocess.Popen([tap.ENVOI, "--dry-run", "-f", "me@example.com", "-s", "x", "d@e.f"],
                                 stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=self.env)
            os.close(slave)
            slave = None
            notice = p.stderr.readline()
            self.assertEqual(notice, b"envoi: type the message, end with Ctrl-D on a line of its own\n")
            self.assertIsNone(p.poll())  # waiting for the body, not sent at once
            os.write(master, b"Typed at the terminal.\n\x04")
            out, err = p.communicate(timeout=30)
            self.assertEqual((p.returncode, err), (0, b""))
            self.assertTrue(out.endswith(b"\r\n\r\nTyped at the terminal.\r\n"), out[-200:])
        finally:
            os.close(master)
            if slave is not None:
                os.close(slave)
        # not a terminal: as before, standard input is read without a word
        r = self.envoi("--dry-run", "-f", "me@example.com", "d@e.f", input=b"piped\n")
        self.assertEqual((r.returncode, r.stderr), (0, b""))

    # 11: the progress line counts the file's own size, with a percentage
    def test_progress_shows_the_files_own_size_and_a_percentage(self):
        big = self.path("big.bin", os.urandom(3 * 1000 * 1000))
        srv = MiniServer()
        master, slave = pty.openpty()
        try:
            p = subprocess.Popen([tap.ENVOI, "-S", f"127.0.0.1:{srv.port}", *BASE, "-a", big,
                                  "d@e.f"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=slave, env=self.env)
            os.close(slave)
            out = b""
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                if not data:
                    break
                out += data
            self.assertEqual(p.wait(timeout=60), 0, out)
        finally:
            os.close(master)
            srv.close()
        # 3.0 MB of file is about 4.1 MB of base64 on the wire
        self.assertRegex(out, rb"\r100%  3\.0 of 3\.0 MB  [\d.]+ MB/s")
        self.assertNotIn(b"of 4.1 MB", out)


if __name__ == "__main__":
    tap.main()
