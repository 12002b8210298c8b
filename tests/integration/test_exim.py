#!/usr/bin/python3
"""envoi against a real Exim on loopback (tests/servers/exim-start): both
TLS ports, AUTH PLAIN, LOGIN and CRAM-MD5, many recipients, a 50 MB
attachment; every decoded part must arrive byte-identical, and no output
of any run may hold the password or its base64 forms."""
import base64
import email
import email.policy
import glob
import hashlib
import json
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


class Exim(unittest.TestCase):
    outputs = []  # every stdout/stderr envoi produced, checked for secrets at the end

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="envoi-exim-")
        cls.exim = servers.Exim(cls.dir)
        cls.env = cls.exim.env
        cls.work = tempfile.mkdtemp(prefix="envoi-exim-work-")

    @classmethod
    def tearDownClass(cls):
        cls.exim.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        shutil.rmtree(cls.work, ignore_errors=True)

    def envoi(self, *args, password=None, stdin=subprocess.DEVNULL, timeout=120):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
        env["HOME"] = self.work
        if password is not None:
            env["ENVOI_PASSWORD"] = password
        r = subprocess.run([tap.ENVOI] + list(args), capture_output=True, stdin=stdin, env=env,
                           timeout=timeout)
        Exim.outputs.append(r.stdout + r.stderr)
        return r

    def send(self, port, *args, tls=None, auth=None, user=True):
        e = self.env
        cmd = ["-S", f"127.0.0.1:{e[port]}", "--ca-file", e["CA"], "-v"]
        if tls:
            cmd.append(f"--tls={tls}")
        if auth:
            cmd.append(f"--auth={auth}")
        if user:
            cmd += ["-u", e["USER"]]
        return self.envoi(*cmd, *args, password=e["PASS"] if user else None)

    def delivered(self, token, count, timeout=20):
        """The copies (one per recipient) of the message whose subject holds token."""
        return servers.maildir_copies(self.env["MAILDIR"], token, count, timeout)

    def test_starttls_port_each_auth_mechanism(self):
        for mech in ("PLAIN", "LOGIN", "CRAM-MD5"):
            token = f"mech-{mech}-{uuid.uuid4().hex}"
            r = self.send("SUBMIT_PORT", "-f", "a@example.com", "-s", token, "-m", "hi",
                          "b@example.com", auth=mech)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            self.assertIn(f"AUTH {mech}".encode(), r.stderr)
            msgs = self.delivered(token, 1)
            self.assertEqual(len(msgs), 1)
            self.assertEqual(msgs[0]["X-Envoi-Test-Auth"], "tester")

    def test_default_mechanism_inside_tls_is_plain_with_initial_response(self):
        r = self.send("SUBMIT_PORT", "-f", "a@example.com", "-m", "x", "b@example.com")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn(b"> AUTH PLAIN <redacted>", r.stderr)

    def test_implicit_tls_port(self):
        token = f"implicit-{uuid.uuid4().hex}"
        r = self.send("IMPLICIT_PORT", "-f", "a@example.com", "-s", token, "-m", "hi",
                      "b@example.com", tls="implicit")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        msgs = self.delivered(token, 1)
        self.assertIn("TLS", msgs[0]["X-Envoi-Test-TLS"])

    def test_many_recipients(self):
        token = f"many-{uuid.uuid4().hex}"
        rcpts = [f"r{i}@example.com" for i in range(150)]
        r = self.send("SUBMIT_PORT", "-f", "a@example.com", "-s", token, "-m", "to many",
                      "-c", "cc@example.org", "-b", "hidden@example.net", *rcpts)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        msgs = self.delivered(token, 152, timeout=60)
        self.assertEqual(len(msgs), 152)
        envelope = {m["Envelope-to"] for m in msgs}
        self.assertEqual(envelope, set(rcpts) | {"cc@example.org", "hidden@example.net"})
        for m in msgs:
            self.assertIsNone(m["Bcc"])
            self.assertNotIn("hidden", str(m["To"]) + str(m["Cc"]))

    def test_50_mb_attachment_arrives_identical(self):
        token = f"big-{uuid.uuid4().hex}"
        data = os.urandom(50 * 1024 * 1024)
        big = os.path.join(self.work, "big.bin")
        with open(big, "wb") as f:
            f.write(data)
        r = self.send("SUBMIT_PORT", "-f", "a@example.com", "-s", token, "-m", "big one",
                      "-a", big, "b@example.com", "c@example.com")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        msgs = self.delivered(token, 2, timeout=60)
        self.assertEqual(len(msgs), 2)
        want = hashlib.sha256(data).hexdigest()
        for m in msgs:
            att = next(m.iter_attachments())
            self.assertEqual(att.get_filename(), "big.bin")
            self.assertEqual(hashlib.sha256(att.get_content()).hexdigest(), want)

    def test_tricky_body_arrives_identical(self):
        token = f"dots-{uuid.uuid4().hex}"
        body = ("." + "\n" + ".." + "\n" + ".x\n" + "a\rb\n" + "c\n" + "y" * 5000 + "\n"
                + ".\n.\r\n" + "end")
        r = self.send("SUBMIT_PORT", "-f", "a@example.com", "-s", token, "-m", body, "b@example.com")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        msg = self.delivered(token, 1)[0]
        got = msg.get_payload(decode=True)
        # Text goes in canonical form: a lone CR is a line break too.
        self.assertEqual(got.replace(b"\r\n", b"\n"), re.sub(r"\r\n|\r|\n", "\n", body).encode())

    def test_plain_port_refuses_to_send_password_in_clear(self):
        r = self.send("PLAIN_PORT", "-f", "a@example.com", "-m", "x", "b@example.com")
        self.assertEqual(r.returncode, 81, r.stderr.decode())
        self.assertNotIn(b"> AUTH", r.stderr)

    def test_wrong_password_is_84(self):
        e = self.env
        r = self.envoi("-S", f"127.0.0.1:{e['SUBMIT_PORT']}", "--ca-file", e["CA"], "-u", "tester",
                       "-f", "a@example.com", "-m", "x", "b@example.com", password="wrong-Pa55")
        self.assertEqual(r.returncode, 84, r.stderr.decode())
        self.assertIn(b"535", r.stderr)

    def test_rejected_recipients(self):
        r = self.send("SUBMIT_PORT", "-f", "a@example.com", "-m", "x", "ok@example.com",
                      "reject-1@example.com", "--json")
        self.assertEqual(r.returncode, 87, r.stderr.decode())
        self.assertIn(b"reject-1@example.com", r.stderr)
        r = self.send("SUBMIT_PORT", "-f", "a@example.com", "-m", "x", "reject-2@example.com")
        self.assertEqual(r.returncode, 88, r.stderr.decode())
        r = self.send("SUBMIT_PORT", "-f", "reject-me@example.com", "-m", "x", "b@example.com")
        self.assertEqual(r.returncode, 86, r.stderr.decode())
        r = self.send("SUBMIT_PORT", "-f", "a@example.com", "-m", "x", "tempfail-1@example.com")
        self.assertEqual(r.returncode, 75, r.stderr.decode())

    def json_send(self, *args):
        e = self.env
        return self.envoi("-S", f"127.0.0.1:{e['SUBMIT_PORT']}", "--ca-file", e["CA"], "-u",
                          e["USER"], "-q", "--json", *args, password=e["PASS"])

    def test_json_result(self):
        r = self.json_send("-f", "a@example.com", "-m", "x", "ok@example.com", "reject-3@example.com")
        self.assertEqual(r.returncode, 87, r.stderr.decode())
        out = r.stdout.decode()
        self.assertEqual(out.count("\n"), 1, "one JSON object on one line")
        j = json.loads(out)
        self.assertEqual(j["status"], "failed")
        self.assertEqual(j["exit_code"], 87)
        self.assertEqual(j["server"], "127.0.0.1")
        self.assertEqual(j["tls"]["version"], "TLS1.3")
        self.assertTrue(j["tls"]["verified"])
        self.assertEqual(j["sasl_mechanism"], "PLAIN")
        self.assertEqual([(x["address"], x["accepted"], x["code"]) for x in j["recipients"]],
                         [("ok@example.com", True, 250), ("reject-3@example.com", False, 550)])
        self.assertRegex(j["final_reply"], r"^250 .*id=")
        self.assertRegex(j["queue_id"], r"^[0-9A-Za-z]{6}-[0-9A-Za-z]{4,6}-[0-9A-Za-z]{2,4}$")
        self.assertGreater(j["bytes"], 100)
        self.assertIsInstance(j["elapsed_ms"], int)
        r = self.json_send("-f", "a@example.com", "-m", "x", "ok@example.com")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(r.stderr, b"", "quiet on success")
        j = json.loads(r.stdout)
        self.assertEqual((j["status"], j["exit_code"]), ("sent", 0))

    def test_wrong_tls_mode_is_detected(self):
        r = self.send("SUBMIT_PORT", "-f", "a@example.com", "-m", "x", "b@example.com", tls="implicit")
        self.assertEqual(r.returncode, 80, r.stderr.decode())
        self.assertIn(b"--tls=starttls", r.stderr)
        r = self.send("IMPLICIT_PORT", "-f", "a@example.com", "-m", "x", "b@example.com")
        self.assertEqual(r.returncode, 80, r.stderr.decode())
        self.assertIn(b"--tls=implicit", r.stderr)

    def test_untrusted_certificate_is_82_and_pin_works(self):
        e = self.env
        base = ["-v", "-S", f"localhost:{e['SUBMIT_PORT']}", "-u", "tester", "-f", "a@example.com",
                "-m", "x", "b@example.com"]
        r = self.envoi(*base, password=e["PASS"])
        self.assertEqual(r.returncode, 82, r.stderr.decode())
        self.assertNotIn(b"> AUTH", r.stderr)
        with open(os.path.join(e["CERT_DIR"], "good.sha256")) as f:
            pin = f.read().strip()
        r = self.envoi(*base, f"--fingerprint={pin}", password=e["PASS"])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        r = self.envoi(*base, "--fingerprint=" + "00" * 32, password=e["PASS"])
        self.assertEqual(r.returncode, 82, r.stderr.decode())

    def test_probe(self):
        r = self.send("SUBMIT_PORT", "--probe")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        out = r.stdout.decode()
        for word in ("TLS1.3", "PIPELINING", "CHUNKING", "size limit", "login:", "CN=localhost"):
            self.assertIn(word, out)

    def run_with_stderr_on_pty(self, *args):
        """Runs envoi with its stderr on a pseudo-terminal; returns (code, text)."""
        import pty
        master, slave = pty.openpty()
        e = self.env
        env = dict(os.environ, ENVOI_PASSWORD=e["PASS"], HOME=self.work)
        p = subprocess.Popen([tap.ENVOI, "-S", f"127.0.0.1:{e['SUBMIT_PORT']}", "--ca-file", e["CA"],
                              "-u", e["USER"]] + list(args), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=slave, env=env)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        os.close(master)
        out = b"".join(chunks)
        Exim.outputs.append(out)
        return p.wait(timeout=60), out

    def big_file(self, mb):
        path = os.path.join(self.work, f"prog{mb}.bin")
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(os.urandom(mb * 1024 * 1024))
        return path

    def test_progress_shown_on_a_terminal_for_big_sends(self):
        code, out = self.run_with_stderr_on_pty("-f", "a@example.com", "-m", "x", "-a",
                                                self.big_file(8), "b@example.com")
        self.assertEqual(code, 0, out)
        self.assertIn(b"\r", out)
        self.assertRegex(out, rb"of \d+\.\d MB +[\d.]+ MB/s")

    def test_progress_absent_when_quiet_small_or_not_a_terminal(self):
        code, out = self.run_with_stderr_on_pty("-q", "-f", "a@example.com", "-m", "x", "-a",
                                                self.big_file(8), "b@example.com")
        self.assertEqual(code, 0, out)
        self.assertEqual(out, b"")
        code, out = self.run_with_stderr_on_pty("-f", "a@example.com", "-m", "small", "b@example.com")
        self.assertEqual(code, 0, out)
        self.assertNotIn(b"MB/s", out)
        r = self.send("SUBMIT_PORT", "-f", "a@example.com", "-m", "x", "-a", self.big_file(8),
                      "b@example.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(b"MB/s", r.stderr)

    def test_probe_json(self):
        e = self.env
        r = self.envoi("--probe", "--json", "-S", f"127.0.0.1:{e['SUBMIT_PORT']}", "--ca-file",
                       e["CA"], "-u", e["USER"], password=e["PASS"])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        j = json.loads(r.stdout)
        self.assertEqual(j["status"], "ok")
        self.assertEqual(j["certificate"]["subject"], "CN=localhost")
        self.assertIn("PIPELINING", j["extensions"])
        self.assertEqual(j["size_limit"], 104857600)
        self.assertEqual(j["sasl_mechanism"], "PLAIN")

    RAW = ("From: Alice <alice@example.com>\nTo: rawto@example.com\nCc: rawcc@example.com\n"
           "Bcc: rawbcc@example.com\nSubject: {token}\n\nready-made body\n.\n")

    def test_message_file_recipients_from_headers(self):
        token = f"raw-{uuid.uuid4().hex}"
        e = self.env
        p = subprocess.run([tap.ENVOI, "-S", f"127.0.0.1:{e['SUBMIT_PORT']}", "--ca-file", e["CA"],
                            "-u", e["USER"], "--message-file=-"],
                           input=self.RAW.format(token=token).encode(), capture_output=True,
                           env=dict(os.environ, ENVOI_PASSWORD=e["PASS"], HOME=self.work), timeout=60)
        Exim.outputs.append(p.stdout + p.stderr)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        msgs = self.delivered(token, 3)
        self.assertEqual(sorted(m["Envelope-to"] for m in msgs),
                         ["rawbcc@example.com", "rawcc@example.com", "rawto@example.com"])
        for m in msgs:
            self.assertIsNone(m["Bcc"])
            self.assertIn("ready-made body\n.\n", m.get_content())

    def test_message_file_with_recipient_options(self):
        token = f"rawopt-{uuid.uuid4().hex}"
        e = self.env
        path = os.path.join(self.work, "ready.eml")
        with open(path, "w") as f:
            f.write(self.RAW.format(token=token))
        r = self.send("SUBMIT_PORT", "--message-file", path, "-f", "bounce@example.com",
                      "only@example.com")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.delivered(token, 1)
        time.sleep(0.5)  # give any wrong extra copy the time to arrive
        msgs = self.delivered(token, 1)
        self.assertEqual([m["Envelope-to"] for m in msgs], ["only@example.com"])
        self.assertEqual(msgs[0]["Return-path"], "<bounce@example.com>")

    def test_account_with_password_command(self):
        token = f"acct-{uuid.uuid4().hex}"
        e = self.env
        secret = os.path.join(self.work, "secret")
        with open(secret, "w") as f:
            f.write(e["PASS"] + "\n")
        cfg = os.path.join(self.work, "config")
        with open(cfg, "w") as f:
            f.write(f"from = Robot <robot@example.com>\nca-file = {e['CA']}\n\n"
                    f"[account work]\nserver = 127.0.0.1:{e['SUBMIT_PORT']}\nuser = {e['USER']}\n"
                    f"password-command = cat {secret}\n")
        os.chmod(cfg, 0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
        env.update(HOME=self.work, ENVOI_CONFIG=cfg)
        r = subprocess.run([tap.ENVOI, "--account=work", "-s", token, "-m", "from the account",
                            "b@example.com"], capture_output=True, env=env,
                           stdin=subprocess.DEVNULL, timeout=60)
        Exim.outputs.append(r.stdout + r.stderr)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        msg = self.delivered(token, 1)[0]
        self.assertEqual(msg["From"].addresses[0].addr_spec, "robot@example.com")
        self.assertEqual(msg["X-Envoi-Test-Auth"], "tester")

    def test_password_from_the_keyring(self):
        """With no other source, the Secret Service (a private
        gnome-keyring in a private D-Bus session) gives the password;
        ENVOI_PASSWORD, earlier in the order, still wins over it."""
        for tool in ("dbus-run-session", "dbus-send", "gnome-keyring-daemon", "secret-tool"):
            if not shutil.which(tool):
                self.skipTest(f"{tool} is not installed")
        e = self.env
        home = tempfile.mkdtemp(prefix="envoi-keyring-", dir=self.work)
        token = f"keyring-{uuid.uuid4().hex}"
        script = (
            "printf keyring-unlock | gnome-keyring-daemon --daemonize --unlock --components=secrets >/dev/null\n"
            # Wait until the unlocked daemon owns the name; asking before
            # would make D-Bus start a second, locked one.
            "for i in $(seq 100); do dbus-send --session --print-reply --dest=org.freedesktop.DBus "
            "/org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets "
            "| grep -q 'boolean true' && break; sleep 0.05; done\n"
            "printf %s \"$STORE\" | secret-tool store --label=envoi service envoi server 127.0.0.1 user tester\n"
            f"\"$ENVOI\" -S 127.0.0.1:{e['SUBMIT_PORT']} --ca-file {e['CA']} -u tester -f a@example.com "
            f"-s {token} -m keyring b@example.com\n"
            f"ENVOI_PASSWORD=wrong \"$ENVOI\" -S 127.0.0.1:{e['SUBMIT_PORT']} --ca-file {e['CA']} -u tester "
            "-f a@example.com -m x b@example.com || echo \"env wins: $?\"\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_") and k != "DBUS_SESSION_BUS_ADDRESS"}
        env.update(HOME=home, STORE=e["PASS"], ENVOI=tap.ENVOI)
        r = subprocess.run(["dbus-run-session", "--", "bash", "-e", "-c", script], capture_output=True,
                           env=env, stdin=subprocess.DEVNULL, timeout=60)
        Exim.outputs.append(r.stdout)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn(b"env wins: 84", r.stdout)
        self.assertEqual(len(self.delivered(token, 1)), 1)

    def test_zz_no_output_holds_the_password(self):
        """Runs last (alphabetical order): every earlier run's output."""
        p = self.env["PASS"].encode()
        u = self.env["USER"].encode()
        forms = [p, base64.b64encode(p), base64.b64encode(b"\0" + u + b"\0" + p),
                 base64.b64encode(u + b"\0" + u + b"\0" + p)]
        self.assertGreater(len(Exim.outputs), 10)
        for out in Exim.outputs:
            for form in forms:
                self.assertNotIn(form, out)


if __name__ == "__main__":
    tap.main()
