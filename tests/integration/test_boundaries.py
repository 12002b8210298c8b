#!/usr/bin/python3
"""Data sweeps across envoi's internal buffer sizes, over DATA (scenario
"ok") and BDAT ("ok_chunking"), all inside STARTTLS:

  input side   mime.c IN_BLOCK = 57*1152 = 65664 (body file blocks),
               message.c scan buffer 65536, rawmsg.c file buffer 65536 and
               its 998-octet line limit, 1000, 16384
  output side  io.c write buffer 65536 and TLS records of 16384 (the data
               stream starts at offset 0 of the write buffer), QP soft
               breaks after 75 characters, base64 lines of 57 bytes

A '.' at a line start, a bare LF, a CRLF split across a block, a lone CR
(quoted-printable) is put one byte before, at and after every boundary,
both in composed bodies (--body-file) and in ready messages
(--message-file); plus megabytes of "\\n." and last lines without a
newline. Every message must be accepted (the server answers 554 to bare
CR/LF or long lines), the bytes on the wire must hold no bare CR or LF and
no early end of data, and what the server stored must decode to the input."""
import base64
import concurrent.futures
import email
import email.policy
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import servers
import tap


IN_BLOCK = 57 * 1152          # mime.c
FILE_BUF = 65536              # message.c scan / rawmsg.c buffer
WBUF = 65536                  # io.c write buffer
TLS_CHUNK = 16384             # tls.c
BODY_IN = [1000, TLS_CHUNK, FILE_BUF, IN_BLOCK, 2 * IN_BLOCK]
BODY_OUT = [TLS_CHUNK, WBUF, 2 * WBUF, 3 * WBUF]
RAW_IN = [1000, TLS_CHUNK, FILE_BUF, 2 * FILE_BUF]
DELTAS = (-1, 0, 1)
FIXED = ["-H", "Date: Mon, 1 Jan 2024 00:00:00 +0000", "-H", "Message-ID: <sweep@example.com>",
         "-s", "sweep", "-f", "sender@example.com"]
LINE = b"a" * 78 + b"\r\n"    # filler: CRLF lines, unchanged by the composer

# pattern -> (bytes at the boundary, must the boundary be at a line start)
PATTERNS = {
    "dot": (b".\r\n..\r\n.x\r\n", True),       # "." alone at the boundary
    "lf_dot": (b"\n.\n..\n", False),            # bare LF at the boundary, then dot lines
    "crlf_split": (b"\r\n.\r\n", False),        # CR at the boundary, LF after it
    "lone_cr": (b"\r.y\r\n", False),            # lone CR (quoted-printable)
}


def build(specials, tail=b"\r\nend\r\n", head=b""):
    """Filler with the given {offset: pattern bytes} placed exactly."""
    out = bytearray(head)
    for off in sorted(specials):
        pat, at_line_start = specials[off]
        assert off >= len(out) + 4, "specials too close"
        while len(out) + len(LINE) <= off - 2:
            out += LINE
        gap = off - len(out)
        assert gap >= 2 or (gap == 0 and at_line_start)
        if at_line_start and gap:
            out += b"b" * (gap - 2) + b"\r\n"     # the filler's CRLF ends exactly at off
        elif gap:
            out += b"b" * gap
        assert len(out) == off, (len(out), off)
        out += pat
    out += tail
    return bytes(out)


def crlf(data):
    """Line ends made CRLF, a missing last one added (what --message-file sends)."""
    data = re.sub(rb"\r?\n", b"\r\n", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def lf(data):
    return data.replace(b"\r\n", b"\n")


class Sweep(unittest.TestCase):
    cases = {}     # name -> dict(kind, input, expect_qp)

    @classmethod
    def add(cls, name, kind, data):
        cls.cases[name] = {"kind": kind, "input": data}

    @classmethod
    def make_cases(cls, header_len):
        raw_head = (b"From: sender@example.com\r\nTo: rcpt@example.com\r\n"
                    b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
                    b"Message-ID: <sweep@example.com>\r\nSubject: raw sweep\r\n\r\n")
        for pname, (pat, ls) in PATTERNS.items():
            qp_variants = (True,) if pname == "lone_cr" else (False, True)
            for d in DELTAS:
                for qp in qp_variants:
                    head = b"\r\r\n" if qp and pname != "lone_cr" else b""   # a lone CR forces QP
                    cls.add(f"body_{pname}{'_qp' if qp else ''}_in{d:+d}", "body",
                            build({b + d: (pat, ls) for b in BODY_IN}, head=head))
                if pname != "lone_cr":
                    # output-aligned: the composer adds the header and one byte
                    # per bare LF before the spot; solve for the input offset
                    specials, extra = {}, 0
                    for b in BODY_OUT:
                        off = b + d - header_len - extra
                        specials[off] = (pat, ls)
                        extra += pat.count(b"\n") - pat.count(b"\r\n")
                    cls.add(f"body_{pname}_out{d:+d}", "body", build(specials))
                    cls.add(f"raw_{pname}_in{d:+d}", "raw",
                            build({b + d: (pat, ls) for b in RAW_IN}, head=raw_head))
                    specials, extra = {}, 0
                    for b in BODY_OUT:
                        specials[b + d - extra] = (pat, ls)
                        extra += pat.count(b"\n") - pat.count(b"\r\n")
                    cls.add(f"raw_{pname}_out{d:+d}", "raw", build(specials, head=raw_head))
            # a 998-octet line (the longest allowed) ending at each boundary
        for d in DELTAS:
            cls.add(f"raw_998_line_ends{d:+d}", "raw",
                    build({b + d - 998: (b"c" * 997 + b".\r\n.\r\n", True) for b in RAW_IN if b > 2000},
                          head=raw_head))
        # QP soft breaks: a '.' after 70..80 plain characters (lands at the start
        # of a soft-broken line for 75), and trailing spaces at the break
        qp = b"\r\r\n" + b"".join(b"q" * n + b".dot\r\n" + b"s" * n + b" \r\n" for n in range(70, 81))
        cls.add("body_qp_soft_break_dots", "body", qp)
        # last line without a newline, its "." the last byte of a block
        for d in DELTAS:
            for kind, head in (("body", b""), ("raw", raw_head)):
                total = (IN_BLOCK if kind == "body" else FILE_BUF) + d
                data = (head + LINE * (total // len(LINE) + 2))[:total - 2]
                if data.endswith(b"\r"):
                    data = data[:-1] + b"b"
                data += b"\n."
                assert len(data) == total
                cls.add(f"{kind}_last_line_dot_no_newline{d:+d}", kind, data)
        cls.add("body_last_line_cr_no_newline", "body", build({}, tail=b"x\r"))
        cls.add("body_megabytes_of_lf_dot", "body", b"\n." * (1 << 20))
        cls.add("raw_megabytes_of_lf_dot", "raw", raw_head + b"\n." * (1 << 20))
        cls.add("body_megabytes_of_crlf_dot_qp", "body", b"\r" + b"\r\n." * (1 << 19) + b"\r\n")

    @classmethod
    def setUpClass(cls):
        cls.base = tempfile.mkdtemp(prefix="envoi-bound-")
        cls.certs = os.path.join(cls.base, "certs")
        servers.gen_certs(cls.certs)
        # header length of a composed message (Date and Message-ID fixed)
        probe = os.path.join(cls.base, "probe")
        with open(probe, "wb") as f:
            f.write(LINE)
        r = subprocess.run([tap.ENVOI, "--dry-run", *FIXED, "--body-file", probe, "rcpt@example.com"],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
        cls.header_len = r.stdout.index(b"\r\n\r\n") + 4
        cls.make_cases(cls.header_len)
        for name, c in cls.cases.items():
            c["path"] = os.path.join(cls.base, name + ".in")
            with open(c["path"], "wb") as f:
                f.write(c["input"])
        names = sorted(cls.cases)
        cls.results = {}
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            futs = [pool.submit(cls.run_all, scen, names) for scen in ("ok", "ok_chunking")]
            for f in futs:
                cls.results.update(f.result())

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    @classmethod
    def run_all(cls, scenario, names):
        d = os.path.join(cls.base, scenario)
        port = servers.fault_start(scenario, d, cls.certs, "--connections", str(len(names)),
                                   "--alarm", "300")
        out = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
        env["HOME"] = d
        try:
            for i, name in enumerate(names, 1):
                c = cls.cases[name]
                opt = "--body-file" if c["kind"] == "body" else "--message-file"
                e = subprocess.run([tap.ENVOI, f"--server=127.0.0.1:{port}", f"--ca-file={cls.certs}/ca.pem",
                                    "--timeout=20", *(FIXED if c["kind"] == "body" else ["-f", "sender@example.com"]),
                                    opt, c["path"], "rcpt@example.com"],
                                   capture_output=True, stdin=subprocess.DEVNULL, env=env, timeout=120)
                out[(scenario, name)] = {"code": e.returncode, "stderr": e.stderr, "conn": i}
        finally:
            servers.fault_stop(d)
        with open(os.path.join(d, "log.json")) as f:
            summary = json.load(f)
        conns = {c["n"]: c for c in summary["connections"]}
        for (scen, name), res in out.items():
            n = res["conn"]
            res["summary"] = conns.get(n, {})
            try:
                with open(os.path.join(d, "log" if n == 1 else f"log.{n}"), "rb") as f:
                    res["raw"] = f.read()
            except OSError:
                res["raw"] = b""
            msgs = res["summary"].get("messages", [])
            res["stored"] = None
            if msgs:
                with open(msgs[0]["file"], "rb") as f:
                    res["stored"] = f.read()
                res["via"] = msgs[0]["via"]
        return out

    def check(self, name, scenario):
        c = self.cases[name]
        r = self.results[(scenario, name)]
        err = r["stderr"].decode(errors="replace")
        self.assertEqual(r["code"], 0, f"{name} via {scenario}: {err}")
        self.assertEqual(r["summary"].get("violations"), [], err)
        self.assertIsNotNone(r["stored"], "no message stored")
        raw = r["raw"]
        self.assertIsNone(re.search(rb"(?<!\r)\n", raw), "bare LF on the wire")
        self.assertIsNone(re.search(rb"\r(?!\n)", raw), "bare CR on the wire")
        if scenario == "ok":
            self.assertEqual(r["via"], "DATA")
            start = raw.index(b"\r\nDATA\r\n") + 6
            end = raw.index(b"\r\n.\r\n", start)
            self.assertEqual(raw[end:], b"\r\n.\r\nQUIT\r\n", "early end of data")
        else:
            self.assertEqual(r["via"], "BDAT")
            m = re.search(rb"BDAT (\d+) LAST\r\n", raw)
            self.assertEqual(raw[m.end():m.end() + int(m.group(1))], r["stored"])
            self.assertNotIn(b"\r\nDATA\r\n", raw)
        stored, data = r["stored"], c["input"]
        if c["kind"] == "raw":
            self.assertEqual(hashlib.sha256(stored).hexdigest(), hashlib.sha256(crlf(data)).hexdigest(),
                             "stored message differs from the input with CRLF line ends")
            self.assertEqual(stored, crlf(data))
            return
        parsed = email.message_from_bytes(stored, policy=email.policy.default)
        body = parsed.get_payload(decode=True)
        cte = parsed["Content-Transfer-Encoding"]
        if b"\r" in data.replace(b"\r\n", b""):
            self.assertEqual(cte, "quoted-printable")
        if cte == "quoted-printable":
            # Text goes in canonical form (RFC 2045 6.8): every line break,
            # a lone CR too, is CRLF; QP keeps a missing last newline.
            self.assertEqual(lf(body), lf(re.sub(rb"\r\n|\r|\n", b"\r\n", data)))
        else:
            want = lf(data)
            self.assertEqual(lf(body), want if want.endswith(b"\n") else want + b"\n")

    def test_output_alignment_is_real(self):
        """The output-aligned cases put their byte exactly on the boundary
        of the composed stream (checked on the --dry-run bytes)."""
        for name in ("body_dot_out+0", "raw_dot_out+0", "body_crlf_split_out+0"):
            c = self.cases[name]
            opt = "--body-file" if c["kind"] == "body" else "--message-file"
            r = subprocess.run([tap.ENVOI, "--dry-run", *(FIXED if c["kind"] == "body" else
                                                          ["-f", "sender@example.com"]),
                                opt, c["path"], "rcpt@example.com"],
                               capture_output=True, stdin=subprocess.DEVNULL, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            want = b"." if "dot" in name else b"\r"
            for b in BODY_OUT:
                self.assertEqual(r.stdout[b:b + 1], want, f"{name}: offset {b}")
                if want == b".":
                    self.assertEqual(r.stdout[b - 2:b], b"\r\n")

    def test_binary_attachments_across_base64_blocks(self):
        """Attachments of sizes around the 57-byte line and IN_BLOCK decode
        byte-identical (base64 lines never start with '.')."""
        sizes = [0, 1, 56, 57, 58, IN_BLOCK - 1, IN_BLOCK, IN_BLOCK + 1, 2 * IN_BLOCK + 57]
        d = os.path.join(self.base, "attach")
        port = servers.fault_start("ok", d, self.certs, "--connections", "1")
        files = []
        for s in sizes:
            p = os.path.join(self.base, f"bin{s}.dat")
            with open(p, "wb") as f:
                f.write(bytes((i * 7 + (i >> 8)) % 256 for i in range(s)).replace(b"\n", b"\r\n.")[:s]
                        if s else b"")
            files += ["-a", p]
        e = subprocess.run([tap.ENVOI, f"--server=127.0.0.1:{port}", f"--ca-file={self.certs}/ca.pem",
                            *FIXED, "-m", ".\n", *files, "rcpt@example.com"],
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
        servers.fault_stop(d)
        self.assertEqual(e.returncode, 0, e.stderr)
        with open(os.path.join(d, "log.msg1"), "rb") as f:
            msg = email.message_from_bytes(f.read(), policy=email.policy.default)
        parts = [p for p in msg.iter_attachments()]
        self.assertEqual(len(parts), len(sizes))
        for p, s in zip(parts, sizes):
            with open(os.path.join(self.base, f"bin{s}.dat"), "rb") as f:
                self.assertEqual(p.get_payload(decode=True), f.read(), f"attachment of {s} bytes")
            for line in p.get_payload().splitlines():
                self.assertLessEqual(len(line), 76)

    def test_message_file_limits_exit_65_and_send_nothing(self):
        """A 999-octet line, a lone CR or a NUL in a --message-file is bad
        data (65), found before connecting: nothing reaches the server."""
        head = b"From: sender@example.com\r\nTo: rcpt@example.com\r\nSubject: x\r\n\r\n"
        bad = {"999": head + build({FILE_BUF - 3: (b"d" * 999 + b"\r\n", False)}),
               "cr": head + build({FILE_BUF: (b"x\ry\r\n", False)}),
               "nul": head + build({FILE_BUF: (b"x\0y\r\n", False)})}
        d = os.path.join(self.base, "bad")
        port = servers.fault_start("ok", d, self.certs, "--connections", "3")
        try:
            for k, data in bad.items():
                p = os.path.join(self.base, f"bad-{k}.eml")
                with open(p, "wb") as f:
                    f.write(data)
                e = subprocess.run([tap.ENVOI, f"--server=127.0.0.1:{port}", "--timeout=5",
                                    f"--ca-file={self.certs}/ca.pem", "--message-file", p],
                                   capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
                self.assertEqual(e.returncode, 65, f"{k}: {e.stderr}")
                self.assertEqual(len(e.stderr.decode().strip().splitlines()), 1, e.stderr)
        finally:
            servers.fault_stop(d)
        self.assertFalse(os.path.exists(os.path.join(d, "log")) and
                         os.path.getsize(os.path.join(d, "log")), "envoi connected")


def _make(name, scenario):
    return lambda self: self.check(name, scenario)


def _register():
    # Case names are known only after the header length is measured; the
    # list of names does not depend on it, so make them with a stand-in.
    Sweep.make_cases(400)
    names = sorted(Sweep.cases)
    Sweep.cases = {}
    for n in names:
        for scen, via in (("ok", "data"), ("ok_chunking", "bdat")):
            setattr(Sweep, f"test_{via}_{n}".replace("+", "p").replace("-", "m"), _make(n, scen))


_register()

if __name__ == "__main__":
    tap.main()
