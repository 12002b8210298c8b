#!/usr/bin/python3
"""The transport against hostile and slow servers (branch transport of
issue 10): nothing a server sends reaches the terminal raw (-v, the error
line, --probe, --json); slow greetings; the loopback exception; deadlines
per step; out of memory."""
import concurrent.futures
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import servers
import tap

# What must never leave envoi raw: C0 controls but LF (ESC above all), DEL,
# the C1 controls in UTF-8 (C2 80..C2 9F), bidi controls, and bytes that
# are not UTF-8 (a lone 0x9B is CSI to an 8-bit terminal).
RAW_C0 = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]")
RAW_C1 = re.compile(rb"\xc2[\x80-\x9f]")
RAW_BIDI = re.compile(rb"\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]")


class Server(servers.FaultServer):
    def envoi(self, *args, timeout=60):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
        cmd = [tap.ENVOI, *self.options(), "--from=sender@example.com", "--to=rcpt@example.com",
               "--body=hello", *args]
        return subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout,
                              env=env)


class Escapes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-transport-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def run_envoi(self, scenario, *args):
        srv = Server(scenario, self.base, self.certs)
        try:
            return srv.envoi("--timeout=10", *args)
        finally:
            srv.stop()

    def assert_clean(self, out, what):
        self.assertIsNone(RAW_C0.search(out), f"raw control byte in {what}: {out!r}")
        self.assertIsNone(RAW_C1.search(out), f"raw C1 control in {what}: {out!r}")
        self.assertIsNone(RAW_BIDI.search(out), f"raw bidi control in {what}: {out!r}")
        out.decode("utf-8")   # raises on a byte that is not UTF-8

    def check(self, scenario, code, *args):
        for extra in ([], ["-v"], ["--json"]):
            r = self.run_envoi(scenario, *args, *extra)
            self.assertEqual(r.returncode, code, r.stderr)
            self.assert_clean(r.stderr, f"stderr with {extra}")
            self.assert_clean(r.stdout, f"stdout with {extra}")
            if extra == ["--json"]:
                json.loads(r.stdout)
            yield extra, r.stdout + r.stderr

    def test_certificate_subject_in_the_82_line(self):
        for extra, out in self.check("evil_cert_names", 82, "--tls=starttls"):
            self.assertIn(b"\\x1b[2J", out.replace(b"\\\\", b"\\"), extra)
            self.assertIn("Müller".encode(), out, extra)

    def test_certificate_subject_in_probe(self):
        for extra, out in self.check("evil_cert_insecure", 0, "--tls=starttls", "--insecure", "--probe"):
            self.assertIn(b"\\u009b31m", out.replace(b"\\\\", b"\\"), extra)
            self.assertIn(b"\\u202e", out.replace(b"\\\\", b"\\"), extra)

    def test_reply_text_in_error_line(self):
        for extra, out in self.check("evil_reply_5xx", 86):
            self.assertIn(b"\\x9b1m", out.replace(b"\\\\", b"\\"), extra)
            self.assertIn(b"\\u0085", out.replace(b"\\\\", b"\\"), extra)

    def test_control_bytes_in_greeting_and_ehlo(self):
        for scenario in ("evil_greeting_esc", "evil_ehlo_esc"):
            for extra, out in self.check(scenario, 76):
                self.assertIn(b"\\x1b[2J\\x1b]0;pwned\\x07", out.replace(b"\\\\", b"\\"), extra)

    def test_ehlo_lines_in_probe(self):
        for extra, out in self.check("evil_ehlo_lines", 0, "--probe"):
            self.assertIn(b"X-C1 \\u009b31m", out.replace(b"\\\\", b"\\"), extra)



class SlowGreeting(unittest.TestCase):
    """The ClientHello sent after a silence must not turn a slow plaintext
    server into exit 80: only a TLS record in answer proves a TLS port."""

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-slow-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def run_envoi(self, scenario, *args):
        srv = Server(scenario, self.base, self.certs)
        try:
            r = srv.envoi("-v", *args)
        finally:
            _, summary, _ = srv.stop()
        return r, summary.get("connections", [])

    def test_server_hanging_up_on_the_probe_gets_a_fresh_connection(self):
        r, conns = self.run_envoi("slow_greeting_drops_probe", "--timeout=5")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(conns), 2, r.stderr)
        self.assertIn(b"no TLS answer", r.stderr)

    def test_no_greeting_after_the_probe_is_75_and_retried(self):
        r, conns = self.run_envoi("greeting_drop_after_probe", "--timeout=2", "--retry=1")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertEqual(len(conns), 4, r.stderr)   # two attempts of probe + fresh connection
        self.assertIn(b"no greeting came; retrying in", r.stderr)
        self.assertNotIn(b"implicit", r.stderr)

    def test_tls_answer_to_the_probe_is_80(self):
        for scenario in ("implicit_tls_alert", "implicit_tls_port"):
            r, _ = self.run_envoi(scenario, "--tls=starttls", "--timeout=3")
            self.assertEqual(r.returncode, 80, r.stderr)
            self.assertIn(b"use --tls=implicit", r.stderr)


class Socks5Proxy:
    """A SOCKS5 proxy on loopback (no authentication, CONNECT only) that
    relays to the address asked for; .port, .connects."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connects = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(client,), daemon=True).start()

    @staticmethod
    def read(sock, n):
        data = b""
        while len(data) < n:
            more = sock.recv(n - len(data))
            if not more:
                raise OSError("closed")
            data += more
        return data

    def serve(self, client):
        try:
            _, nmethods = self.read(client, 2)
            self.read(client, nmethods)
            client.sendall(b"\x05\x00")
            _, _, _, atyp = self.read(client, 4)
            if atyp == 1:
                host = socket.inet_ntoa(self.read(client, 4))
            elif atyp == 3:
                host = self.read(client, self.read(client, 1)[0]).decode()
            else:
                host = socket.inet_ntop(socket.AF_INET6, self.read(client, 16))
            port = struct.unpack("!H", self.read(client, 2))[0]
            self.connects.append((host, port))
            server = socket.create_connection((host, port), timeout=10)
            client.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01" + struct.pack("!H", port))
        except OSError:
            client.close()
            return
        for a, b in ((client, server), (server, client)):
            threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.sock.close()


class Loopback(unittest.TestCase):
    """--tls=auto lets a server without STARTTLS go on in plaintext only
    when it was reached straight at a loopback address."""

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-loopback-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def send(self, *args):
        srv = Server("starttls_missing", self.base, self.certs)
        try:
            r = srv.envoi("--timeout=10", *args)
        finally:
            _, summary, _ = srv.stop()
        return r, srv.port, summary

    def test_loopback_address_may_go_on_in_plaintext(self):
        r, _, summary = self.send()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(summary["connections"][0]["messages"]), 1)

    def test_localhost_resolves_to_loopback(self):
        srv = Server("starttls_missing", self.base, self.certs)
        try:
            r = srv.envoi("--timeout=10", f"--server=localhost:{srv.port}", "-4")
        finally:
            srv.stop()
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_no_exception_through_a_proxy(self):
        proxy = Socks5Proxy()
        try:
            r, port, summary = self.send(f"--proxy=socks5://127.0.0.1:{proxy.port}")
            self.assertEqual(proxy.connects, [("127.0.0.1", int(port))])
            self.assertEqual(r.returncode, 81, r.stderr)
            self.assertIn(b"STARTTLS", r.stderr)
            self.assertNotIn(b"MAIL FROM", b" ".join(c.encode() for c in summary["connections"][0]["commands"]))
            r, _, summary = self.send(f"--proxy=socks5://127.0.0.1:{proxy.port}", "--tls=none")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(summary["connections"][0]["messages"]), 1)
        finally:
            proxy.close()


def black_holes(addresses):
    """Listeners on one port at each address that never accept, their
    backlogs full: the kernel drops further SYNs, so a connect can only
    time out. Returns (port, sockets to close)."""
    for _ in range(20):
        socks = []
        try:
            port = 0
            for a in addresses:
                s = socket.socket()
                socks.append(s)
                s.bind((a, port))
                s.listen(0)
                port = s.getsockname()[1]
                for _ in range(3):
                    c = socket.socket()
                    c.setblocking(False)
                    c.connect_ex((a, port))
                    socks.append(c)
            return port, socks
        except OSError:
            for s in socks:
                s.close()
    raise RuntimeError("no common free port")


def in_mount_namespace(files, argv):
    """argv run with files ({path in /etc: contents}) bind-mounted over
    /etc, in a private mount namespace (root only). None when this
    machine cannot (no unshare, not root, a sandbox that forbids it)."""
    tmp = tempfile.mkdtemp(prefix="envoi-etc-")
    mounts = []
    for path, text in files.items():
        src = os.path.join(tmp, os.path.basename(path))
        with open(src, "w") as f:
            f.write(text)
        mounts.append(f"mount --bind {src} {path}")
    script = " && ".join(mounts) + ' && exec "$@"'
    try:
        probe = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", "true"],
                               capture_output=True, timeout=30)
        if probe.returncode != 0:
            return None
        start = time.monotonic()
        r = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *argv],
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
        r.elapsed = time.monotonic() - start
        return r
    except (OSError, subprocess.TimeoutExpired):
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class Deadlines(unittest.TestCase):
    """--timeout bounds each step: a whole reply, resolving a name, all
    the addresses of a name together. Bounds are generous (a loaded
    2-core machine); each bug took several times as long."""

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-deadlines-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def timed(self, scenario, *args):
        srv = Server(scenario, self.base, self.certs)
        try:
            start = time.monotonic()
            r = srv.envoi("-v", *args)
            return r, time.monotonic() - start
        finally:
            srv.stop()

    def test_a_reply_of_many_slow_lines_is_one_step(self):
        r, took = self.timed("greeting_slow_lines", "--timeout=2")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertLess(took, 6, "16 lines 1.8 s apart took 27 s before the fix")

    def test_the_tls_probe_is_short(self):
        r, took = self.timed("greeting_never", "--timeout=3")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn(b"timed out after 2 s in the TLS handshake", r.stderr)
        self.assertLess(took, 10)

    def envoi_argv(self, *args):
        return [tap.ENVOI, "--from=sender@example.com", "--to=rcpt@example.com", "--body=x",
                "--timeout=2", *args]

    def test_all_addresses_of_a_name_share_one_timeout(self):
        addrs = [f"127.0.0.{i}" for i in range(2, 8)]
        port, socks = black_holes(addrs)
        try:
            hosts = "127.0.0.1 localhost\n" + "".join(f"{a} many.envoi.test\n" for a in addrs)
            r = in_mount_namespace({"/etc/hosts": hosts},
                                   self.envoi_argv(f"--server=many.envoi.test:{port}", "-4"))
        finally:
            for s in socks:
                s.close()
        if r is None:
            self.skipTest("no private mount namespace here")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn(b"(last of 2 addresses); 4 more addresses not tried", r.stderr)   # 1 s each
        self.assertLess(r.elapsed, 6, "six addresses took 12 s at --timeout=2 before the fix")

    def test_name_resolution_is_bounded(self):
        dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # a name server that never answers
        try:
            dns.bind(("127.0.0.9", 53))
        except OSError as e:
            dns.close()
            self.skipTest(f"cannot bind a silent name server: {e}")
        try:
            r = in_mount_namespace({"/etc/hosts": "127.0.0.1 localhost\n",
                                    "/etc/resolv.conf": "nameserver 127.0.0.9\noptions attempts:3\n"},
                                   self.envoi_argv("--server=silent.envoi.test:2525", "-4"))
        finally:
            dns.close()
        if r is None:
            self.skipTest("no private mount namespace here")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn(b"no answer within 2 s", r.stderr)
        self.assertLess(r.elapsed, 6, "the resolver's own 5 s x attempts applied before the fix")


class OutOfMemory(unittest.TestCase):
    """Under a tight address space (prlimit --as) every run ends with a
    proper class: sent, 71 (out of memory) or the certificate refusal the
    run would give anyway; never 70 or a signal (libtasn1 crashes when an
    allocation fails while it decodes a certificate). The system CA store
    is loaded only when a certificate must be checked against it."""

    STEP = 384 * 1024

    @classmethod
    def setUpClass(cls):
        if tap.SANITIZED:
            # AddressSanitizer reserves terabytes of shadow at start-up and
            # cannot run under prlimit --as at all; the normal build runs this.
            raise unittest.SkipTest("sanitizer build: ASan cannot start in a tight address space")
        cls.base = tempfile.mkdtemp(prefix="envoi-oom-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)
        cls.srv = Server("ok", cls.base, cls.certs, "--connections", "500", "--alarm", "120")
        with open(os.path.join(cls.certs, "good.sha256")) as f:
            cls.pin = f.read().strip()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.base, ignore_errors=True)

    @staticmethod
    def limited(limit, *args):
        r = subprocess.run(["prlimit", f"--as={limit}", tap.ENVOI, *args], capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=60,
                           env={k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")})
        return r.returncode, r.stderr

    def smallest_start(self):
        """The smallest limit (in steps) at which envoi runs at all."""
        lo, hi = 1 << 20, 256 << 20
        while hi - lo > self.STEP:
            mid = (lo + hi) // 2
            if self.limited(mid, "--version")[0] == 0:
                hi = mid
            else:
                lo = mid
        return hi

    def sweep(self, start, span, *args):
        limits = range(start, start + span, self.STEP)
        argv = ["--server=127.0.0.1:" + self.srv.port, "--tls=starttls", "--timeout=10",
                "--from=a@example.com", "--to=b@example.com", "--body=x", *args]
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            return dict(zip(limits, pool.map(lambda l: self.limited(l, *argv), limits)))

    def check(self, results, allowed):
        for limit, (code, err) in results.items():
            if code == 127 and b"error while loading shared libraries" in err:
                continue   # the dynamic loader, before envoi runs
            self.assertIn(code, allowed, f"--as={limit}: {err.decode(errors='replace')}")

    def test_tight_address_space_is_71_never_a_crash(self):
        start = self.smallest_start()
        pinned = self.sweep(start, 10 << 20, f"--fingerprint={self.pin}")
        ca = self.sweep(start, 10 << 20, f"--ca-file={self.certs}/ca.pem")
        system = self.sweep(start, 14 << 20)
        self.check(pinned, {0, 71})
        self.check(ca, {0, 71})
        self.check(system, {71, 82})     # the test CA is not in the system store
        self.assertEqual(pinned[max(pinned)][0], 0, "never sent with --fingerprint")
        self.assertEqual(ca[max(ca)][0], 0, "never sent with --ca-file")
        # With a pin the system store is not loaded: it sends where
        # loading the store would be out of memory.
        first = min(l for l, (code, _) in pinned.items() if code == 0)
        code, err = system[first]
        self.assertEqual(code, 71, err)
        self.assertIn(b"system CA store", err)

if __name__ == "__main__":
    tap.main()
