#!/usr/bin/python3
"""Hostile command-line input: CR/LF in every option that reaches a header
or an SMTP command, on the command line, in ENVOI_* variables and in the
configuration file (NUL where the route can carry it: a --message-file, a
configuration file); addresses starting with '-'; long and quote-laden
attachment names (RFC 2231, checked with Python's email package); 10,000
recipients. Each refusal is one line on stderr with the contract's code
(65 header data and file names, 64 addresses and other options, 78 for a
usage-class value that came from the environment or a configuration file;
header data stays 65 whatever its source), and nothing reaches the wire:
every run also points at a fault server that must see no connection."""
import email
import email.policy
import email.utils
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import servers
import tap

MARK = "X-Evil-Injected"
INJ = {"cr": "\r" + MARK + ": 1", "lf": "\n" + MARK + ": 1", "crlf": "\r\n" + MARK + ": 1\r\n"}

# option -> (value template with {I} for the injection, code on the command line,
#            code from the environment / configuration file)
OPTIONS = {
    "from": ("a{I}@example.com", 64, 78),
    "to": ("b{I}@example.com", 64, 78),
    "cc": ("c@example.com{I}", 64, 78),
    "bcc": ("d@exa{I}mple.com", 64, 78),
    "reply-to": ("Name{I} <r@example.com>", 64, 78),
    "subject": ("hello{I}", 65, 65),
    "header": ("X-Test: v{I}", 65, 65),
    "header-name": ("X-Te{I}st: v", 65, 65),
    "attach": ("{DIR}/att{I}.txt", 65, 65),
    "inline": ("{DIR}/img{I}.png", 65, 65),   # (a configuration file: always 78, see check_config)
    "helo": ("client.example{I}", 64, 78),
    "user": ("tester{I}", 64, 78),
    "auth": ("PLAIN{I}", 64, 78),
    "server": ("127.0.0.1{I}:{PORT}", 64, 78),
    "dsn-notify": ("SUCCESS{I}", 64, 78),
    "dsn-return": ("full{I}", 64, 78),
    "priority": ("high{I}", 64, 78),
    "tls": ("starttls{I}", 64, 78),
    "port": ("{PORT}{I}", 64, 78),
    "fingerprint": ("ab{I}", 64, 78),
    "proxy": ("socks5://127.0.0.1{I}:1080", 64, 78),
}
OPT_NAME = {"header-name": "header"}


class Hostile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-hostile-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)
        # A server that should never be reached: it records any connection.
        cls.sdir = os.path.join(cls.base, "server")
        cls.port = servers.fault_start("ok", cls.sdir, cls.certs, "--connections", "1000",
                                       "--alarm", "600")
        for inj in INJ.values():   # files whose names hold the injection
            for stem in ("att", "img"):
                ext = ".txt" if stem == "att" else ".png"
                with open(os.path.join(cls.base, stem + inj + ext), "w") as f:
                    f.write("x")

    @classmethod
    def tearDownClass(cls):
        servers.fault_stop(cls.sdir)
        shutil.rmtree(cls.base, ignore_errors=True)

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
        env.update(HOME=self.base, XDG_CONFIG_HOME=os.path.join(self.base, "noconf"))
        env.update(extra)
        return env

    def value(self, opt, inj):
        return OPTIONS[opt][0].format(I=INJ[inj], DIR=self.base, PORT=self.port)

    def base_args(self, skip):
        args = {"server": f"127.0.0.1:{self.port}", "from": "sender@example.com",
                "to": "rcpt@example.com"}
        out = [f"--ca-file={self.certs}/ca.pem", "--timeout=5", "-m", "body", "--html=<p>x</p>"]
        for k, v in args.items():
            if k != skip:
                out.append(f"--{k}={v}")
        return out

    def run_envoi(self, args, env, dry):
        cmd = [tap.ENVOI] + (["--dry-run"] if dry else []) + args
        return subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL, env=env, timeout=30)

    def assert_refused(self, r, code, what):
        err = r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, code, f"{what}: {err!r}")
        self.assertEqual(r.stdout, b"", f"{what}: wrote a message")
        lines = err.rstrip("\n").split("\n")
        self.assertEqual(len(lines), 1, f"{what}: not one line: {err!r}")
        self.assertTrue(lines[0].startswith("envoi: "), err)
        self.assertNotIn("\r", err, f"{what}: raw CR in the error line")

    def assert_no_connection(self):
        with open(os.path.join(self.sdir, "log.json")) as f:
            conns = json.load(f)["connections"]
        self.assertEqual(conns, [], "envoi connected to the server")

    def check_cmdline(self, opt):
        for inj in INJ:
            for dry in (True, False):
                v = self.value(opt, inj)
                name = OPT_NAME.get(opt, opt)
                r = self.run_envoi(self.base_args(name) + [f"--{name}={v}"], self.env(), dry)
                self.assert_refused(r, OPTIONS[opt][1], f"--{name} {inj} dry={dry}")
        self.assert_no_connection()

    def check_environment(self, opt):
        for inj in INJ:
            name = OPT_NAME.get(opt, opt)
            var = "ENVOI_" + name.upper().replace("-", "_")
            for dry in (True, False):
                r = self.run_envoi(self.base_args(name), self.env(**{var: self.value(opt, inj)}), dry)
                code = OPTIONS[opt][2]
                self.assert_refused(r, code, f"{var} {inj} dry={dry}")
                self.assertIn(var, r.stderr.decode(errors="replace"), "the error does not name its source")
        self.assert_no_connection()

    def check_config(self, opt):
        # A configuration line cannot hold a line feed; a CR can.
        name = OPT_NAME.get(opt, opt)
        conf = os.path.join(self.base, f"conf-{opt}")
        with open(conf, "w", newline="") as f:
            f.write(f"{name} = {self.value(opt, 'cr')}\n")
        for dry in (True, False):
            r = self.run_envoi(self.base_args(name) + [f"--config={conf}"], self.env(), dry)
            # config.c refuses any control character in a line: 78 for all
            self.assert_refused(r, 78, f"config {name} dry={dry}")
            self.assertIn(conf, r.stderr.decode(errors="replace"))
        self.assert_no_connection()

    def test_nul_in_config_file(self):
        conf = os.path.join(self.base, "conf-nul")
        with open(conf, "wb") as f:
            f.write(b"subject = a\0" + MARK.encode() + b"\n")
        r = self.run_envoi(self.base_args("") + [f"--config={conf}"], self.env(), False)
        self.assertIn(r.returncode, (65, 78), r.stderr)
        self.assert_refused(r, r.returncode, "NUL in config")
        self.assert_no_connection()

    def test_nul_cr_lf_in_message_file_headers(self):
        for k, hdr in (("nul", b"Subject: a\0b\r\n"), ("cr", b"Subject: a\rX-Evil: 1\r\n"),
                       ("nul_name", b"X-\0Name: v\r\n")):
            p = os.path.join(self.base, f"msg-{k}.eml")
            with open(p, "wb") as f:
                f.write(b"From: a@example.com\r\nTo: b@example.com\r\n" + hdr + b"\r\nbody\r\n")
            for dry in (True, False):
                r = self.run_envoi([f"--server=127.0.0.1:{self.port}", "--timeout=5",
                                    f"--message-file={p}"], self.env(), dry)
                self.assert_refused(r, 65, f"message file {k}")
        self.assert_no_connection()


def _mk(kind, opt):
    return lambda self: getattr(self, "check_" + kind)(opt)


for _o in OPTIONS:
    _t = _o.replace("-", "_")
    setattr(Hostile, f"test_cmdline_{_t}", _mk("cmdline", _o))
    setattr(Hostile, f"test_environment_{_t}", _mk("environment", _o))
    setattr(Hostile, f"test_config_{_t}", _mk("config", _o))


class Server(servers.FaultServer):
    def __init__(self, base, certs, scenario="ok", *opts):
        super().__init__(scenario, base, certs, *opts)

    def envoi(self, *args, timeout=60):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
        cmd = [tap.ENVOI, *self.options(), "--timeout=30", *args]
        return subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout, env=env)


class Data(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-hostile-data-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def test_addresses_starting_with_dash_are_data(self):
        srv = Server(self.base, self.certs)
        r = srv.envoi("-f", "-sender@example.com", "--to=-x@example.com", "-c", "-cc@example.com",
                      "-m", "hi", "--", "-y@example.com", "--help@example.com")
        raw, summary, stored = srv.stop()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"MAIL FROM:<-sender@example.com>", raw)
        rcpts = summary["connections"][0]["messages"][0]["rcpts"]
        self.assertEqual(sorted(rcpts), sorted(["-x@example.com", "-cc@example.com", "-y@example.com",
                                                "--help@example.com"]))
        msg = email.message_from_bytes(stored, policy=email.policy.default)
        tos = [a for _, a in email.utils.getaddresses([str(msg["To"])])]
        self.assertEqual(sorted(tos), sorted(["-x@example.com", "-y@example.com", "--help@example.com"]))

    def test_dash_option_lookalikes_without_separator_are_refused(self):
        # Without "--", "--evil@example.com" is an unknown option: usage error.
        srv = Server(self.base, self.certs, "ok", "--connections", "0")
        r = srv.envoi("-f", "a@example.com", "-m", "x", "--evil@example.com")
        servers.fault_stop(srv.dir)
        self.assertEqual(r.returncode, 64, r.stderr)

    def file_names(self):
        long_dir = os.path.join(self.base, *(["d" * 50] * 5))  # a path over 300 characters
        os.makedirs(long_dir, exist_ok=True)
        names = ["n" * 251 + ".txt",                               # longest a file name may be
                 "é" * 60 + "ü" * 60 + ".txt",                       # 120 characters, 240 bytes of UTF-8
                 'q"uo\\te\'s; a=b %20 *star* x.txt',
                 "; = % * ' \" \\ ;.pdf",
                 "x  double  spaces\ttab .txt",                      # (Python strips leading/trailing ones)
                 "日本語の ファイル 名.txt",
                 "=?UTF-8?B?SGk=?=.txt",                             # looks like an encoded word
                 "filename*=utf-8''x.txt"]
        out = []
        for i, n in enumerate(names):
            d = long_dir if i == 0 else self.base
            p = os.path.join(d, n)
            with open(p, "wb") as f:
                f.write(("content %d %s" % (i, n)).encode())
            out.append(p)
        return out

    def test_long_and_quote_laden_file_names_round_trip(self):
        paths = self.file_names()
        self.assertGreater(len(paths[0]), 300)
        srv = Server(self.base, self.certs)
        args = ["-f", "a@example.com", "-m", "x", "--html=<img src=cid:x>"]
        for p in paths:
            args += ["-a", p]
        args += ["--inline", paths[2], "--inline", paths[5], "b@example.com"]
        r = srv.envoi(*args)
        raw, summary, stored = srv.stop()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(all(len(l) <= 998 for l in stored.split(b"\r\n")), "line over 998")
        # The default policy prefers the RFC 2231 form (name*=) over the
        # ASCII fallback envoi adds (compat32 takes the fallback).
        msg = email.message_from_bytes(stored, policy=email.policy.default)
        names = []
        for part in msg.walk():
            fn = part.get_filename()
            if fn is not None:
                names.append((part.get_content_disposition(), fn, part.get_payload(decode=True)))
                # the name parameter of Content-Type agrees too
                self.assertEqual(email.utils.collapse_rfc2231_value(
                    part.get_param("name", header="content-type")), fn)
        want = [("attachment", os.path.basename(p)) for p in paths] + \
               [("inline", os.path.basename(paths[2])), ("inline", os.path.basename(paths[5]))]
        self.assertEqual(sorted((d, n) for d, n, _ in names), sorted(want))
        for d, n, data in names:
            i = [os.path.basename(p) for p in paths].index(n)
            self.assertEqual(data, ("content %d %s" % (i, n)).encode(), n)
        # raw 8-bit never in a header: every non-ASCII name is encoded
        head = stored.split(b"\r\n\r\n", 1)[0]
        for part_head in stored.split(b"\r\n\r\n"):
            if b"filename" in part_head:
                self.assertTrue(all(b < 0x80 for b in part_head), part_head[:200])
        self.assertTrue(all(b < 0x80 for b in head))

    def recipients(self, n):
        # short: one --to of them must fit in one argument (128 KiB)
        return [f"{i}@e.io" for i in range(n)]

    def check_many(self, srv, r, start, rcpts):
        took = time.monotonic() - start
        raw, summary, stored = srv.stop()
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertLess(took, 60, "10,000 recipients took too long")
        msg = summary["connections"][0]["messages"][0]
        self.assertEqual(msg["rcpts"], rcpts)
        self.assertEqual(raw.count(b"\r\nRCPT TO:<"), len(rcpts))
        lines = stored.split(b"\r\n")
        self.assertLessEqual(max(len(l) for l in lines), 998)
        parsed = email.message_from_bytes(stored, policy=email.policy.compat32)
        tos = [a for _, a in email.utils.getaddresses(parsed.get_all("To"))]
        self.assertEqual(tos, rcpts)
        return took

    def test_ten_thousand_recipients_one_option(self):
        rcpts = self.recipients(10000)
        srv = Server(self.base, self.certs, "ok", "--alarm", "120")
        start = time.monotonic()
        r = srv.envoi("-f", "a@example.com", "-m", "x", "--to=" + ",".join(rcpts), timeout=120)
        self.check_many(srv, r, start, rcpts)

    def test_ten_thousand_positional_recipients(self):
        rcpts = self.recipients(10000)
        srv = Server(self.base, self.certs, "ok_chunking", "--alarm", "120")
        start = time.monotonic()
        r = srv.envoi("-f", "a@example.com", "-m", "x", "--", *rcpts, timeout=120)
        self.check_many(srv, r, start, rcpts)


if __name__ == "__main__":
    tap.main()
