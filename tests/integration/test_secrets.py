#!/usr/bin/python3
"""Secrets: a running envoi that has logged in (its session then blocked by
the fault server) shows its password neither in /proc/PID/cmdline nor in
/proc/PID/environ, and its memory (read through /proc/PID/mem, as root) holds
no AUTH payload; the -v transcript never shows them; and no TLS failure ever
lets credentials reach the wire, even when the server offers AUTH in clear.

Finding F1 (expected failure below): the password itself stays in the heap
for the whole session, after AUTH succeeded and even with --retry=0: main.c
deliver_smtp() keeps the buffer from password_get() until send_with_retry()
returns (it is needed again only for a --retry reconnect)."""
import base64
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import servers
import tap

PASSWORD = b"s3cret-Pa55!"
# What a login puts in memory besides the password: the AUTH PLAIN payload
# (raw and base64), and the base64 password (AUTH LOGIN).
PAYLOADS = {"AUTH PLAIN payload (base64)": base64.b64encode(b"\0tester\0" + PASSWORD),
            "AUTH PLAIN payload (raw)": b"\0tester\0" + PASSWORD,
            "AUTH LOGIN password (base64)": base64.b64encode(PASSWORD)}
ALL_FORMS = dict(PAYLOADS, password=PASSWORD)


def clean_env(home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
    env["HOME"] = home
    return env


def raw_logs(d):
    """Every byte the client sent, all connections."""
    out = b""
    for name in sorted(os.listdir(d)):
        if re.fullmatch(r"log(\.\d+)?", name):
            with open(os.path.join(d, name), "rb") as f:
                out += f.read()
    return out


def scan_memory(pid, forms):
    """{form name: [(address, mapping)]} for every readable mapping of pid."""
    found = {}
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            f = line.split()
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            name = f[5] if len(f) > 5 else "[anon]"
            # Mappings over 1 GiB are a sanitizer's shadow reservations
            # (terabytes, mostly never touched), not envoi's memory.
            if "r" not in f[1] or name in ("[vvar]", "[vsyscall]") or hi - lo > 1 << 30:
                continue
            for off, data in read_mapping(mem, lo, hi, max(len(v) for v in forms.values())):
                for k, v in forms.items():
                    for m in re.finditer(re.escape(v), data):
                        found.setdefault(k, []).append((hex(off + m.start()), name))
    return found


def read_mapping(mem, lo, hi, overlap, chunk=16 << 20):
    """(address, bytes) pieces of a mapping, each overlapping the next by
    overlap - 1 bytes so that no match is split; unreadable parts skipped."""
    pos = lo
    while pos < hi:
        end = min(hi, pos + chunk)
        try:
            mem.seek(pos)
            data = mem.read(min(hi, end + overlap - 1) - pos)
        except (OSError, ValueError, OverflowError):
            data = b""
        if data:
            yield pos, data
        pos = end


class Blocked(unittest.TestCase):
    """envoi blocked after AUTH (MAIL unanswered) and after the data."""

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-secrets-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)
        cls.pwfile = os.path.join(cls.base, "pw")
        with open(cls.pwfile, "wb") as f:
            f.write(PASSWORD + b"\n")
        os.chmod(cls.pwfile, 0o600)
        cls.runs = {}
        cls.config = os.path.join(cls.base, "config")
        with open(cls.config, "wb") as f:
            f.write(b"# the password key, in the defaults\npassword = " + PASSWORD + b"\n")
        os.chmod(cls.config, 0o600)
        jobs = [(sc, src) for sc in ("stall_after_auth", "stall_after_data")
                for src in ("file", "command", "env", "config")]
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for key, res in zip(jobs, pool.map(lambda j: cls.blocked_run(*j), jobs)):
                cls.runs[key] = res

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    @classmethod
    def blocked_run(cls, scenario, source):
        d = os.path.join(cls.base, f"{scenario}-{source}")
        # A sanitizer build's memory takes tens of seconds to scan, four
        # at a time: neither the server nor envoi may give up before the
        # scan is over (envoi is killed right after it).
        port = servers.fault_start(scenario, d, cls.certs, "--alarm", "200", "--idle", "200")
        env = clean_env(d)
        pw_opt = {"file": f"--password-file={cls.pwfile}",
                  "command": f"--password-command=cat {cls.pwfile}",
                  "env": "--timeout=150",
                  "config": f"--config={cls.config}"}[source]
        if source == "env":
            env["ENVOI_PASSWORD"] = PASSWORD.decode()
        p = subprocess.Popen([tap.ENVOI, f"--server=127.0.0.1:{port}", f"--ca-file={cls.certs}/ca.pem",
                              "--timeout=150", "--tls=starttls", "-u", "tester", pw_opt, "-v",
                              "-f", "sender@example.com", "-m", "hello", "rcpt@example.com"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env)
        res = {"error": None}
        try:
            # Blocked once the server stalls (it logs "stalling").
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    with open(os.path.join(d, "log.txt")) as f:
                        if "stalling" in f.read():
                            break
                except OSError:
                    pass
                time.sleep(0.05)
            else:
                res["error"] = "the server never stalled"
            time.sleep(0.2)
            with open(f"/proc/{p.pid}/cmdline", "rb") as f:
                res["cmdline"] = f.read()
            with open(f"/proc/{p.pid}/environ", "rb") as f:
                res["environ"] = f.read()
            res["memory"] = scan_memory(p.pid, ALL_FORMS)
            res["alive"] = p.poll() is None
        finally:
            p.kill()
            out, err = p.communicate(timeout=10)
            servers.fault_stop(d)
        res["output"] = out + err
        with open(os.path.join(d, "log.json")) as f:
            res["summary"] = json.load(f)
        return res

    def run_of(self, scenario, source):
        r = self.runs[(scenario, source)]
        self.assertIsNone(r["error"], r["error"])
        self.assertTrue(r["alive"], "envoi had already ended when its memory was read")
        auth = r["summary"]["connections"][0]["auth"]
        self.assertTrue(auth and auth["ok"] and auth["tls"], f"no successful AUTH over TLS: {auth}")
        return r

    def check_proc(self, scenario, source):
        r = self.run_of(scenario, source)
        for form in ALL_FORMS.values():
            self.assertNotIn(form, r["cmdline"], "password in /proc/PID/cmdline")
            self.assertNotIn(form, r["environ"], "password in /proc/PID/environ")
            self.assertNotIn(form, r["output"], "password in the -v transcript")
        self.assertIn(b"<redacted>", r["output"], "the -v transcript shows no redacted AUTH")

    def check_payloads_wiped(self, scenario, source):
        r = self.run_of(scenario, source)
        leaks = {k: v for k, v in r["memory"].items() if k in PAYLOADS}
        self.assertEqual(leaks, {}, "AUTH payload still in memory after the login")

    def check_password_wiped(self, scenario, source):
        if source == "env" and tap.SANITIZED:
            # The sanitizer runtime reads /proc/self/environ into a buffer of
            # its own at start-up and keeps it: a copy envoi cannot reach. The
            # normal build runs this check against envoi's own memory.
            self.skipTest("sanitizer build: its runtime keeps a copy of the environment")
        r = self.run_of(scenario, source)
        self.assertNotIn("password", r["memory"],
                         "password still in memory after the login: %s" % r["memory"].get("password"))

    def test_proc_and_transcript_file_after_auth(self):
        self.check_proc("stall_after_auth", "file")

    def test_proc_and_transcript_command_after_auth(self):
        self.check_proc("stall_after_auth", "command")

    def test_proc_and_transcript_file_after_data(self):
        self.check_proc("stall_after_data", "file")

    def test_proc_and_transcript_command_after_data(self):
        self.check_proc("stall_after_data", "command")

    def test_auth_payload_wiped_file_after_auth(self):
        self.check_payloads_wiped("stall_after_auth", "file")

    def test_auth_payload_wiped_command_after_auth(self):
        self.check_payloads_wiped("stall_after_auth", "command")

    def test_auth_payload_wiped_file_after_data(self):
        self.check_payloads_wiped("stall_after_data", "file")

    def test_auth_payload_wiped_command_after_data(self):
        self.check_payloads_wiped("stall_after_data", "command")

    # The password is wiped as soon as the login is over (finding F1:
    # main.c kept it until the session ended).
    def test_password_wiped_after_auth_file(self):
        self.check_password_wiped("stall_after_auth", "file")

    def test_password_wiped_after_data_command(self):
        self.check_password_wiped("stall_after_data", "command")

    # ENVOI_PASSWORD and a configuration file's password key left copies
    # (the environment block, the session, the parser's buffers) behind.
    def test_password_wiped_after_auth_env(self):
        self.check_password_wiped("stall_after_auth", "env")

    def test_password_wiped_after_data_env(self):
        self.check_password_wiped("stall_after_data", "env")

    def test_password_wiped_after_auth_config(self):
        self.check_password_wiped("stall_after_auth", "config")

    def test_password_wiped_after_data_config(self):
        self.check_password_wiped("stall_after_data", "config")

    def test_proc_and_transcript_env_after_auth(self):
        self.check_proc("stall_after_auth", "env")

    def test_proc_and_transcript_config_after_data(self):
        self.check_proc("stall_after_data", "config")

    def test_auth_payload_wiped_env_after_auth(self):
        self.check_payloads_wiped("stall_after_auth", "env")

    def test_auth_payload_wiped_config_after_data(self):
        self.check_payloads_wiped("stall_after_data", "config")


def wait_for_stall(d, seconds=15):
    """True once the fault server in d logs that it stalls."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(os.path.join(d, "log.txt")) as f:
                if "stalling" in f.read():
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


class CoreDumps(unittest.TestCase):
    """No core dump can hold the password: with "ulimit -c unlimited", a
    logged-in envoi has a core size limit of 0 and is not dumpable. The
    system's core_pattern is left alone; the process's own state is read."""

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-secrets-core-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def test_core_limit_is_zero_after_login(self):
        d = os.path.join(self.base, "stall")
        port = servers.fault_start("stall_after_auth", d, self.certs)
        env = clean_env(d)
        env["ENVOI_PASSWORD"] = PASSWORD.decode()
        cmd = (f"ulimit -c unlimited; exec {tap.ENVOI} --server=127.0.0.1:{port} "
               f"--ca-file={self.certs}/ca.pem --timeout=20 --tls=starttls -u tester "
               "-f sender@example.com -m hello rcpt@example.com")
        p = subprocess.Popen(["/bin/bash", "-c", cmd], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            self.assertTrue(wait_for_stall(d), "the server never stalled")
            with open(f"/proc/{p.pid}/limits") as f:
                line = [l for l in f if l.startswith("Max core file size")][0]
            self.assertEqual(line.split()[4:6], ["0", "0"], line)
        finally:
            p.kill()
            p.wait(timeout=10)
            servers.fault_stop(d)

    def test_not_dumpable(self):
        # A process that is not dumpable has its /proc/PID owned by root,
        # which shows when it runs as another user. It waits here on its
        # password command, long after the start.
        p = subprocess.Popen([tap.ENVOI, "--server=127.0.0.1:9", "-u", "tester",
                              "--password-command=sleep 30", "-f", "a@example.com", "-m", "x",
                              "b@example.com"], user="nobody",
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=clean_env("/nonexistent"))
        try:
            time.sleep(0.5)
            self.assertIsNone(p.poll(), "envoi ended early")
            self.assertEqual(os.stat(f"/proc/{p.pid}/status").st_uid, 0, "envoi is dumpable")
        finally:
            p.terminate()  # envoi ends its password command's group too
            p.wait(timeout=10)


def gone(pid, seconds=5):
    """True once pid has ended (a zombie nobody reaps counts as ended)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/status") as f:
                if re.search(r"^State:\s+Z", f.read(), re.M):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


class PasswordCommand(unittest.TestCase):
    """What --password-command's child gets: descriptors 0-2 only, no
    ENVOI_ variable; and nothing it started outlives a timeout, a failure
    or envoi being stopped."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="envoi-pwcmd-")
        self.env = clean_env(self.dir)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def argv(self, command, *extra):
        # Nothing listens on port 9: the run ends after the password.
        return [tap.ENVOI, "--server=127.0.0.1:9", "-u", "tester", f"--password-command={command}",
                "-f", "a@example.com", "b@example.com", *extra]

    def test_child_gets_only_standard_fds_and_no_envoi_variables(self):
        env = dict(self.env, ENVOI_PASSWORD="leak-me-not", ENVOI_TIMEOUT="10")
        # The body comes from standard input, which envoi holds a copy of.
        probe = os.path.join(self.dir, "probe.py")
        with open(probe, "w") as f:
            f.write("import os, sys\n"
                    "def is_open(fd):\n"
                    "    try:\n"
                    "        os.fstat(fd)\n"
                    "        return True\n"
                    "    except OSError:\n"
                    "        return False\n"
                    "fds = [str(fd) for fd in range(1024) if is_open(fd)]\n"
                    "with open(sys.argv[1] + '/fds', 'w') as f:\n"
                    "    f.write(' '.join(fds))\n"
                    "with open(sys.argv[1] + '/env', 'w') as f:\n"
                    "    f.write('\\n'.join(k + '=' + v for k, v in os.environ.items()))\n"
                    "print('pw')\n")
        r = subprocess.run(self.argv(f"/usr/bin/python3 {probe} {self.dir}"), input=b"hello",
                           capture_output=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 69, r.stderr)
        with open(f"{self.dir}/fds") as f:
            self.assertEqual(sorted(f.read().split()), ["0", "1", "2"])
        with open(f"{self.dir}/env") as f:
            text = f.read()
        self.assertNotIn("ENVOI_", text)
        self.assertNotIn("leak-me-not", text)
        self.assertIn("HOME=", text)

    def background_child(self, cmd, *extra, abort=False):
        pidfile = f"{self.dir}/pid"
        p = subprocess.Popen(self.argv(cmd.replace("PIDFILE", pidfile), *extra), env=self.env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not os.path.exists(pidfile) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)
        with open(pidfile) as f:
            child = int(f.read())
        try:
            if abort:
                p.terminate()
            out, err = p.communicate(timeout=30)
            self.assertTrue(gone(child), f"the command's background child {child} outlived envoi")
        finally:
            try:
                os.kill(child, 9)
            except ProcessLookupError:
                pass
        return p.returncode, err

    def test_timeout_ends_the_command_and_its_background_children(self):
        code, err = self.background_child("sleep 300 & echo $! > PIDFILE; wait", "--timeout=1")
        self.assertEqual(code, 78, err)
        self.assertIn(b"did not finish in time", err)

    def test_failed_command_leaves_nothing_running(self):
        code, err = self.background_child("sleep 300 >/dev/null & echo $! > PIDFILE; exit 3")
        self.assertEqual(code, 78, err)

    def test_stopping_envoi_stops_the_command(self):
        code, err = self.background_child("sleep 300 & echo $! > PIDFILE; wait", abort=True)
        self.assertEqual(code, -15, err)


class Transcript(unittest.TestCase):
    """-v with every password mechanism: the transcript has <redacted> only."""

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-secrets-v-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def test_verbose_every_mechanism(self):
        forms = dict(ALL_FORMS)
        forms["CRAM/SCRAM/XOAUTH2 bearer"] = b"Bearer " + PASSWORD
        for mech in ("PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "XOAUTH2", "OAUTHBEARER"):
            d = os.path.join(self.base, mech)
            port = servers.fault_start("ok_auth_all", d, self.certs)
            env = clean_env(d)
            env["ENVOI_PASSWORD"] = PASSWORD.decode()
            r = subprocess.run([tap.ENVOI, f"--server=127.0.0.1:{port}", f"--ca-file={self.certs}/ca.pem",
                                "--timeout=10", "-u", "tester", f"--auth={mech}", "-v",
                                "-f", "sender@example.com", "-m", "hi", "rcpt@example.com"],
                               capture_output=True, stdin=subprocess.DEVNULL, env=env, timeout=60)
            servers.fault_stop(d)
            self.assertEqual(r.returncode, 0, f"{mech}: {r.stderr.decode(errors='replace')}")
            out = r.stdout + r.stderr
            self.assertIn(b"AUTH", out, f"{mech}: no transcript")
            for k, form in forms.items():
                self.assertNotIn(form, out, f"{mech}: {k} in the -v transcript")


def tls_failure_rows():
    """Rows of scenarios.tsv where TLS fails or is refused (exit 80-83, or
    76 around STARTTLS/TLS): credentials are given in all of them."""
    return [(name, args, codes) for name, args, codes, _ in servers.scenarios()
            if codes & {80, 81, 82, 83} or (76 in codes and re.match(r"(starttls|tls|cert)_", name))]


def run_tls_failure(name, args, base, certs):
    d = os.path.join(base, name)
    port = servers.fault_start(name, d, certs)
    argv = servers.scenario_argv(args, port, certs)
    if "--user=tester" not in argv:
        argv.append("--user=tester")
    if not any(a.startswith("--timeout=") for a in argv):
        argv.append("--timeout=5")
    argv += ["--from=sender@example.com", "--to=rcpt@example.com", "--body=hello",
             f"--ca-file={os.path.join(certs, 'ca.pem')}", "-v"]
    env = clean_env(d)
    env["ENVOI_PASSWORD"] = PASSWORD.decode()
    try:
        r = subprocess.run([tap.ENVOI] + argv, capture_output=True, stdin=subprocess.DEVNULL,
                           env=env, timeout=60)
        code, out = r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired:
        code, out = None, b"hung"
    servers.fault_stop(d)
    return code, out, raw_logs(d), argv


class NoCredentialsOnTlsFailure(unittest.TestCase):
    """Every TLS failure scenario, run with credentials: the server never sees
    an AUTH command nor any form of the password, on any connection."""

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-secrets-tls-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            futs = {n: pool.submit(run_tls_failure, n, a, cls.base, cls.certs)
                    for n, a, _ in tls_failure_rows()}
            cls.results = {n: f.result() for n, f in futs.items()}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def check(self, name, codes):
        code, out, raw, argv = self.results[name]
        self.assertNotEqual(code, 0, f"{name}: sent?\n{' '.join(argv)}")
        self.assertIsNotNone(code, f"{name}: envoi hung")
        self.assertNotIn(b"AUTH ", raw.upper(), f"{name}: AUTH sent\n{out.decode(errors='replace')}")
        for k, form in ALL_FORMS.items():
            self.assertNotIn(form, raw, f"{name}: {k} on the wire")
            self.assertNotIn(form, out, f"{name}: {k} in envoi's output")


def _make(n, c):
    return lambda self: self.check(n, c)


for _n, _a, _c in tls_failure_rows():
    setattr(NoCredentialsOnTlsFailure, "test_" + _n, _make(_n, _c))


if __name__ == "__main__":
    tap.main()
