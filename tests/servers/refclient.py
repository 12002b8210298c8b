#!/usr/bin/python3
"""refclient.py — a small reference SMTP client for the self-test only.

It accepts the subset of envoi's options used in scenarios.tsv and exits with
the codes of CONTRACT.md, so selftest.sh can prove that every scenario row is
reachable and deterministic before envoi exists. It is not part of envoi's
suite and is deliberately simple (PLAIN/LOGIN/CRAM-MD5 only; one BDAT chunk).
"""
import argparse
import base64
import hashlib
import hmac
import ipaddress
import os
import re
import socket
import ssl
import sys
import time


class Fail(Exception):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code


class Conn:
    def __init__(self, sock, timeout):
        self.sock = sock
        self.timeout = timeout
        self.buf = bytearray()
        sock.settimeout(timeout)

    def send(self, data):
        try:
            self.sock.sendall(data)
        except socket.timeout:
            raise Fail(75, "timeout while sending")
        except (OSError, ssl.SSLError) as e:
            raise Fail(75, "connection lost while sending: %s" % e)

    def fill(self):
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            raise Fail(75, "timeout waiting for the server")
        except ssl.SSLError as e:
            raise Fail(83, "TLS error: %s" % e)
        except OSError as e:
            raise Fail(75, "connection lost: %s" % e)
        if not d:
            raise Fail(75, "connection closed by the server")
        self.buf += d

    def reply(self):
        """Read one (multi-line) reply: (code, [texts]). Strict."""
        lines, code = [], None
        total = 0
        while True:
            while b"\n" not in self.buf:
                if len(self.buf) > 4096:
                    raise Fail(76, "reply line too long")
                self.fill()
            i = self.buf.index(b"\n")
            line = bytes(self.buf[:i + 1])
            del self.buf[:i + 1]
            if not line.endswith(b"\r\n"):
                raise Fail(76, "reply line not ended by CRLF")
            line = line[:-2]
            if re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", line) or len(line) > 4096:
                raise Fail(76, "malformed reply line (control byte)")
            m = re.match(rb"^([2-5][0-9][0-9])(?:([ -])(.*))?$", line, re.S)
            if not m:
                raise Fail(76, "malformed reply: %r" % line[:60])
            c = m.group(1).decode()
            if code is not None and c != code:
                raise Fail(76, "reply code changed mid-reply")
            code = c
            lines.append((m.group(3) or b"").decode("utf-8", "replace"))
            total += 1
            if total > 1000:
                raise Fail(76, "too many reply lines")
            if m.group(2) != b"-":
                return int(code), lines


def parse_args(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("recipients", nargs="*")
    ap.add_argument("-S", "--server")
    ap.add_argument("-f", "--from", dest="sender")
    ap.add_argument("-t", "--to", action="append", default=[])
    ap.add_argument("-c", "--cc", action="append", default=[])
    ap.add_argument("-b", "--bcc", action="append", default=[])
    ap.add_argument("-m", "--body", default="")
    ap.add_argument("--ca-file")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--tls", default="auto", choices=["auto", "implicit", "starttls", "none"])
    ap.add_argument("-u", "--user")
    ap.add_argument("--auth", help="force PLAIN, LOGIN or CRAM-MD5")
    ap.add_argument("--insecure", action="store_true")
    ap.add_argument("--fingerprint")
    ap.add_argument("--client-cert")
    ap.add_argument("--client-key")
    ap.add_argument("--retry", type=int, default=0)
    ap.add_argument("--dsn-notify")
    ap.add_argument("--dsn-return")
    ap.add_argument("-q", "--quiet", action="store_true")
    return ap.parse_args(argv)


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Client:
    def __init__(self, o):
        self.o = o
        srv = o.server or "localhost"
        self.implicit = o.tls == "implicit"
        m = re.match(r"^(smtps?)://(.*)$", srv)
        if m:
            srv = m.group(2)
            if m.group(1) == "smtps":
                self.implicit = True
        m = re.match(r"^\[([^\]]+)\](?::(\d+))?$", srv) or re.match(r"^([^:]+)(?::(\d+))?$", srv)
        self.host = m.group(1)
        self.port = int(m.group(2)) if m.group(2) else (465 if self.implicit else 587)
        if self.port == 465 and o.tls == "auto":
            self.implicit = True
        self.password = os.environ.get("ENVOI_PASSWORD", "")
        self.rcpts = [a for lst in (o.to, o.cc, o.bcc, o.recipients) for a in lst]

    def message(self):
        body = self.o.body.replace("\r\n", "\n").replace("\n", "\r\n")
        if body and not body.endswith("\r\n"):
            body += "\r\n"
        hdr = "From: %s\r\nTo: %s\r\nSubject: refclient\r\nDate: %s\r\nMessage-ID: <%d@refclient>\r\n\r\n" % (
            self.o.sender, ", ".join(self.o.to + self.o.recipients),
            time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()), time.time_ns())
        return (hdr + body).encode()

    def tls_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.o.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.o.ca_file:
            ctx.load_verify_locations(self.o.ca_file)
        else:
            ctx.load_default_certs()
        if self.o.client_cert:
            ctx.load_cert_chain(self.o.client_cert, self.o.client_key)
        return ctx

    def handshake(self, sock, implicit):
        try:
            s = self.tls_context().wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)
            s.settimeout(self.o.timeout)
            s.do_handshake()
        except ssl.SSLCertVerificationError as e:
            raise Fail(82, "certificate rejected: %s" % e.verify_message)
        except socket.timeout:
            raise Fail(75, "timeout in TLS handshake")
        except ssl.SSLError as e:
            if implicit and "WRONG_VERSION_NUMBER" in str(e):
                raise Fail(80, "plaintext server on an implicit-TLS connection: use --tls=starttls")
            raise Fail(83, "TLS handshake failed: %s" % e)
        except OSError as e:
            raise Fail(83, "TLS handshake failed: %s" % e)
        if self.o.fingerprint:
            fp = hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()
            if fp != self.o.fingerprint.replace(":", "").lower():
                raise Fail(82, "certificate fingerprint mismatch")
        return s

    def connect(self):
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise Fail(68, "cannot resolve %s: %s" % (self.host, e))
        last = None
        for fam, typ, proto, _, addr in infos:
            s = socket.socket(fam, typ, proto)
            s.settimeout(self.o.timeout)
            try:
                s.connect(addr)
                return s
            except OSError as e:
                last = e
                s.close()
        raise Fail(69, "cannot connect: %s" % last)

    def ehlo(self, c):
        c.send(b"EHLO refclient.test\r\n")
        code, lines = c.reply()
        if code == 421 or 400 <= code < 500:
            raise Fail(75, "EHLO: %d" % code)
        if code != 250:
            return None
        return {l.split(" ")[0].upper(): l.split(" ")[1:] for l in lines[1:] if l}

    def session(self):
        o = self.o
        sock = self.connect()
        if self.implicit:
            sock = self.handshake(sock, True)
        c = Conn(sock, o.timeout)
        try:
            code, _ = c.reply()
        except Fail as f:
            if f.code == 75 and "timeout" in str(f) and not self.implicit:
                # no greeting: is this an implicit-TLS port? probe once.
                try:
                    p = self.connect()
                    p = self.tls_context().wrap_socket(p, server_hostname=self.host)
                    p.close()
                    raise Fail(80, "no greeting, but TLS works: use --tls=implicit")
                except ssl.SSLError as e:
                    # a TLS alert is a TLS answer too; a drop is not
                    if "ALERT" in str(e).upper():
                        raise Fail(80, "no greeting, but a TLS alert: use --tls=implicit")
                except OSError:
                    pass
            raise
        if code == 421 or 400 <= code < 500:
            raise Fail(75, "greeting %d" % code)
        if code != 220:
            raise Fail(69, "server refuses service: %d" % code)
        caps = self.ehlo(c)
        creds = bool(o.user)
        need_tls = o.tls == "starttls" or (o.tls == "auto" and not self.implicit and
                                            (creds or not is_loopback(self.host)))
        if caps is None:
            if need_tls:
                raise Fail(81, "EHLO refused: STARTTLS impossible")
            c.send(b"HELO refclient.test\r\n")
            code, _ = c.reply()
            if code == 421:
                raise Fail(75, "421 to HELO")
            if code != 250:
                raise Fail(76, "HELO refused")
            caps = {}
        tls = self.implicit
        if not tls and o.tls != "none" and ("STARTTLS" in caps or need_tls):
            if "STARTTLS" not in caps:
                raise Fail(81, "STARTTLS required but not offered")
            c.send(b"STARTTLS\r\n")
            code, _ = c.reply()
            if code == 421:
                raise Fail(75, "421 to STARTTLS")
            if code != 220:
                raise Fail(81, "STARTTLS refused: %d" % code)
            if c.buf:
                raise Fail(76, "data injected after the STARTTLS reply")
            c = Conn(self.handshake(c.sock, False), o.timeout)
            tls = True
            caps = self.ehlo(c)
            if caps is None:
                raise Fail(76, "EHLO refused after TLS")
        if creds:
            if not tls and o.tls != "none":
                raise Fail(81, "refusing to send credentials without TLS")
            self.auth(c, caps)
        msg = self.message()
        size = len(msg)
        if "SIZE" in caps and caps["SIZE"] and caps["SIZE"][0].isdigit() and \
                int(caps["SIZE"][0]) and size > int(caps["SIZE"][0]):
            raise Fail(89, "message larger than the server's SIZE")
        mail = "MAIL FROM:<%s>" % o.sender
        if "SIZE" in caps:
            mail += " SIZE=%d" % size
        if "DSN" in caps and o.dsn_return:
            mail += " RET=%s" % ("HDRS" if o.dsn_return == "headers" else "FULL")
        cmds = [mail] + ["RCPT TO:<%s>%s" % (r, " NOTIFY=%s" % o.dsn_notify if o.dsn_notify and "DSN" in caps else "")
                         for r in self.rcpts]
        if "PIPELINING" in caps:
            c.send("".join(x + "\r\n" for x in cmds).encode())
            replies = [c.reply() for _ in cmds]
        else:
            replies = []
            for x in cmds:
                c.send((x + "\r\n").encode())
                replies.append(c.reply())
                if len(replies) == 1 and replies[0][0] >= 400:
                    break
        code = replies[0][0]
        if code >= 400:
            raise Fail(89 if code == 552 else 75 if code < 500 else 86, "MAIL: %d" % code)
        rc = [r[0] for r in replies[1:]]
        ok = [x for x in rc if x < 300]
        if not ok:
            raise Fail(75 if any(400 <= x < 500 for x in rc) else 88, "no recipient accepted")
        if "CHUNKING" in caps:
            c.send(b"BDAT %d LAST\r\n" % size + msg)
        else:
            c.send(b"DATA\r\n")
            code, _ = c.reply()
            if code != 354:
                raise Fail(75 if code < 500 else 89, "DATA: %d" % code)
            data = re.sub(rb"(?m)^\.", b"..", msg)
            c.send(data + b".\r\n")
        code, _ = c.reply()
        if code >= 400:
            raise Fail(75 if code < 500 else 89, "message refused: %d" % code)
        try:
            c.send(b"QUIT\r\n")
            c.reply()
        except Fail:
            pass
        return 87 if len(ok) < len(rc) else 0

    def auth(self, c, caps):
        mechs = [m.upper() for m in caps.get("AUTH", [])]
        if self.o.auth:
            mechs = [m for m in mechs if m == self.o.auth.upper()]
        if not mechs:
            raise Fail(85, "server offers no AUTH")
        u, p = self.o.user.encode(), self.password.encode()
        if "CRAM-MD5" in mechs:
            c.send(b"AUTH CRAM-MD5\r\n")
            code, t = c.reply()
            if code == 334:
                chal = base64.b64decode(t[0])
                c.send(base64.b64encode(u + b" " + hmac.new(p, chal, hashlib.md5).hexdigest().encode()) + b"\r\n")
        elif "PLAIN" in mechs:
            c.send(b"AUTH PLAIN " + base64.b64encode(b"\0" + u + b"\0" + p) + b"\r\n")
        elif "LOGIN" in mechs:
            c.send(b"AUTH LOGIN\r\n")
            for v in (u, p):
                code, _ = c.reply()
                if code != 334:
                    break
                c.send(base64.b64encode(v) + b"\r\n")
        else:
            raise Fail(85, "no common AUTH mechanism")
        rounds = 0
        while True:
            code, _ = c.reply()
            if code != 334:
                break
            rounds += 1
            if rounds > 10:
                c.send(b"*\r\n")
                raise Fail(76, "too many AUTH challenges")
            c.send(b"\r\n")
        if code == 235:
            return
        if code == 421 or 400 <= code < 500:
            raise Fail(75, "AUTH: %d" % code)
        raise Fail(84, "authentication failed: %d" % code)


def main(argv):
    o = parse_args(argv)
    cl = Client(o)
    tries = 0
    while True:
        try:
            rc = cl.session()
            return rc
        except Fail as f:
            if f.code == 75 and tries < o.retry:
                time.sleep(0.2 * 2 ** tries)
                tries += 1
                continue
            if not o.quiet:
                print("refclient: %s" % f, file=sys.stderr)
            return f.code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
