#!/usr/bin/python3
"""A fake OAuth2 identity provider (HTTPS on loopback) and an SMTP server
(implicit TLS) that accepts only the access tokens the provider issued and
that are still valid. Stdlib only; both run in threads of one process, so
that a test can import this module, start an IdP, switch its faults and
read what it saw.

Identity provider (RFC 6749, 7636, 8628):
  POST /devicecode   client_id, scope -> device_code, user_code,
                     verification_uri (/device), interval, expires_in
  GET  /device/approve?user_code=X  (/device/deny?...): the user's part
  GET  /authorize?response_type=code&client_id&redirect_uri&state
                     &code_challenge&code_challenge_method=S256
                     -> 302 to redirect_uri?code=...&state=...
  POST /token        grant_type = urn:ietf:params:oauth:grant-type:device_code
                     | authorization_code (code_verifier checked against the
                     challenge, S256) | refresh_token (rotated when
                     idp.rotate: the old one then fails invalid_grant)
                     | client_credentials (client_secret checked)
Faults (attributes of FakeIdP): fault = None | "503" | "invalid_grant" |
"slow_down" (the next device poll) | "expired_token" | "access_denied"; expires_in (seconds,
default 3600); token_len (access token length, default 40); rotate (bool);
refresh_in_answer (bool, default True).

SMTP: EHLO, AUTH XOAUTH2 / OAUTHBEARER (initial response or after 334),
MAIL, RCPT, DATA, RSET, NOOP, QUIT. smtp_refuse = N refuses the next N
logins whatever the token. smtp_logins records (mech, user, ok).

Standalone: fakeidp.py CERT_DIR prints the two ports and serves until killed.
"""
import base64
import hashlib
import json
import os
import secrets
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLIENT_ID = "envoi-test-client"
CLIENT_SECRET = "client-s3cret-XYZ"
USER = "tester@example.com"


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class FakeIdP:
    def __init__(self, cert_dir):
        self.cert_dir = cert_dir
        self.lock = threading.Lock()
        self.fault = None
        self.expires_in = 3600
        self.token_len = 40
        self.rotate = True
        self.refresh_in_answer = True
        self.smtp_refuse = 0
        self.device = {}      # device_code -> {"user_code", "state": pending|approved|denied}
        self.codes = {}       # auth code -> {"challenge", "redirect_uri"}
        self.refresh = set()  # valid refresh tokens
        self.access = {}      # access token -> expiry (time.time())
        self.requests = []    # (path, form dict)
        self.smtp_logins = []  # (mech, user, ok)
        self.messages = 0

    # ---- tokens
    def new_access(self):
        tok = "at-" + secrets.token_urlsafe(self.token_len)[:max(1, self.token_len - 3)]
        self.access[tok] = time.time() + self.expires_in
        return tok

    def token_answer(self, with_refresh=True):
        ans = {"token_type": "Bearer", "access_token": self.new_access(),
               "expires_in": self.expires_in}
        if with_refresh and self.refresh_in_answer:
            rt = "rt-" + secrets.token_urlsafe(24)
            self.refresh.add(rt)
            ans["refresh_token"] = rt
        return ans

    def valid(self, token):
        with self.lock:
            exp = self.access.get(token)
            return exp is not None and exp > time.time()

    def grants(self, kind):
        return [f for p, f in self.requests if p == "/token" and f.get("grant_type") == kind]

    # ---- servers
    def start(self):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(os.path.join(self.cert_dir, "good.pem"),
                            os.path.join(self.cert_dir, "good-key.pem"))
        self.ctx = ctx
        idp = self

        class Handler(IdPHandler):
            pass
        Handler.idp = idp
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.http.socket = ctx.wrap_socket(self.http.socket, server_side=True)
        self.port = self.http.server_address[1]
        self.base = "https://127.0.0.1:%d" % self.port
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

        class Smtp(SmtpHandler):
            pass
        Smtp.idp = idp
        self.smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Smtp)
        self.smtp.daemon_threads = True
        self.smtp_port = self.smtp.server_address[1]
        threading.Thread(target=self.smtp.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.http.shutdown()
        self.http.server_close()
        self.smtp.shutdown()
        self.smtp.server_close()


class IdPHandler(BaseHTTPRequestHandler):
    idp = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def error(self, code, status=400):
        self.send_json(status, {"error": code, "error_description": "fake IdP: " + code})

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        idp = self.idp
        with idp.lock:
            idp.requests.append((url.path, q))
            if url.path in ("/device/approve", "/device/deny"):
                for d in idp.device.values():
                    if d["user_code"] == q.get("user_code"):
                        d["state"] = "approved" if url.path.endswith("approve") else "denied"
                        return self.send_json(200, {"ok": True})
                return self.send_json(404, {"ok": False})
            if url.path == "/authorize":
                return self.authorize(q)
        self.send_json(404, {"error": "not_found"})

    def authorize(self, q):
        idp = self.idp
        if (q.get("client_id") != CLIENT_ID or q.get("response_type") != "code" or
                q.get("code_challenge_method") != "S256" or not q.get("code_challenge")):
            return self.send_json(400, {"error": "invalid_request"})
        code = "ac-" + secrets.token_urlsafe(16)
        idp.codes[code] = {"challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"]}
        sep = "&" if "?" in q["redirect_uri"] else "?"
        loc = q["redirect_uri"] + sep + urllib.parse.urlencode({"code": code, "state": q.get("state", "")})
        self.send_response(302)
        self.send_header("Location", loc)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
        path = urllib.parse.urlsplit(self.path).path
        idp = self.idp
        with idp.lock:
            idp.requests.append((path, form))
            if idp.fault == "503":
                return self.send_json(503, {"error": "temporarily_unavailable"})
            if path == "/devicecode":
                return self.devicecode(form)
            if path == "/token":
                return self.token(form)
        self.send_json(404, {"error": "not_found"})

    def devicecode(self, form):
        if form.get("client_id") != CLIENT_ID:
            return self.error("invalid_client", 401)
        dc = "dc-" + secrets.token_urlsafe(24)
        uc = "UC-" + secrets.token_hex(3).upper()
        self.idp.device[dc] = {"user_code": uc, "state": "pending"}
        self.send_json(200, {"device_code": dc, "user_code": uc, "interval": 1, "expires_in": 30,
                             "verification_uri": self.idp.base + "/device"})

    def token(self, form):
        idp = self.idp
        if form.get("client_id") != CLIENT_ID:
            return self.error("invalid_client", 401)
        if "client_secret" in form and form["client_secret"] != CLIENT_SECRET:
            return self.error("invalid_client", 401)
        grant = form.get("grant_type")
        if idp.fault in ("invalid_grant", "access_denied") and grant != "client_credentials":
            return self.error(idp.fault)
        handler = {"urn:ietf:params:oauth:grant-type:device_code": self.grant_device,
                   "authorization_code": self.grant_code, "refresh_token": self.grant_refresh,
                   "client_credentials": self.grant_client}.get(grant)
        if not handler:
            return self.error("unsupported_grant_type")
        handler(form)

    def grant_device(self, form):
        idp = self.idp
        d = idp.device.get(form.get("device_code"))
        if not d:
            return self.error("invalid_grant")
        if idp.fault == "slow_down":
            idp.fault = None
            return self.error("slow_down")
        if idp.fault == "expired_token":
            return self.error("expired_token")
        if d["state"] == "pending":
            return self.error("authorization_pending")
        if d["state"] == "denied":
            return self.error("access_denied")
        del idp.device[form["device_code"]]
        self.send_json(200, idp.token_answer())

    def grant_code(self, form):
        idp = self.idp
        c = idp.codes.pop(form.get("code"), None)
        if not c or c["redirect_uri"] != form.get("redirect_uri"):
            return self.error("invalid_grant")
        verifier = form.get("code_verifier", "")
        if b64url(hashlib.sha256(verifier.encode()).digest()) != c["challenge"]:
            return self.error("invalid_grant")
        self.send_json(200, idp.token_answer())

    def grant_refresh(self, form):
        idp = self.idp
        rt = form.get("refresh_token")
        if rt not in idp.refresh:
            return self.error("invalid_grant")
        if idp.rotate and idp.refresh_in_answer:
            idp.refresh.discard(rt)
            return self.send_json(200, idp.token_answer())
        self.send_json(200, idp.token_answer(with_refresh=False))

    def grant_client(self, form):
        if form.get("client_secret") != CLIENT_SECRET:
            return self.error("invalid_client", 401)
        self.send_json(200, self.idp.token_answer(with_refresh=False))


class SmtpHandler(socketserver.StreamRequestHandler):
    idp = None

    def setup(self):
        self.request = self.idp.ctx.wrap_socket(self.request, server_side=True)
        self.request.settimeout(20)
        super().setup()

    def say(self, line):
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def line(self):
        raw = self.rfile.readline(1 << 20)
        if not raw:
            raise EOFError
        return raw.decode(errors="replace").rstrip("\r\n")

    def handle(self):
        try:
            self.say("220 fakeidp SMTP")
            while self.command(self.line()):
                pass
        except (EOFError, OSError, ssl.SSLError):
            pass

    def command(self, text):
        verb = text.split(" ", 1)[0].upper()
        if verb == "EHLO":
            self.say("250-fakeidp\r\n250-PIPELINING\r\n250-AUTH XOAUTH2 OAUTHBEARER\r\n250 8BITMIME")
        elif verb == "AUTH":
            self.auth(text.split(" ")[1:])
        elif verb == "DATA":
            self.say("354 go on")
            while self.line() != ".":
                pass
            with self.idp.lock:
                self.idp.messages += 1
            self.say("250 2.0.0 OK queued as FAKE1")
        elif verb == "QUIT":
            self.say("221 bye")
            return False
        else:
            self.say("250 2.0.0 OK")
        return True

    def auth(self, args):
        mech = args[0].upper() if args else ""
        if mech not in ("XOAUTH2", "OAUTHBEARER"):
            return self.say("504 5.5.4 unknown mechanism")
        data = args[1] if len(args) > 1 else None
        if data is None:
            self.say("334 ")
            data = self.line()
        raw = base64.b64decode(data).decode(errors="replace")
        user, token = self.parse(mech, raw)
        idp = self.idp
        with idp.lock:
            refuse = idp.smtp_refuse > 0
            idp.smtp_refuse -= 1 if refuse else 0
        ok = user == USER and token is not None and idp.valid(token) and not refuse
        with idp.lock:
            idp.smtp_logins.append((mech, user, ok))
        if ok:
            return self.say("235 2.7.0 Authentication successful")
        err = json.dumps({"status": "invalid_token", "schemes": "bearer"}).encode()
        self.say("334 " + base64.b64encode(err).decode())
        self.line()
        self.say("535 5.7.8 Authentication credentials invalid")

    @staticmethod
    def parse(mech, raw):
        if mech == "XOAUTH2":
            parts = dict(p.split("=", 1) for p in raw.split("\x01") if "=" in p)
            auth = parts.get("auth", "")
            return parts.get("user"), auth[7:] if auth.startswith("Bearer ") else None
        head, _, rest = raw.partition("\x01")
        user = None
        for f in head.split(","):
            if f.startswith("a="):
                user = f[2:]
        kv = dict(p.split("=", 1) for p in rest.split("\x01") if "=" in p)
        auth = kv.get("auth", "")
        return user, auth[7:] if auth.startswith("Bearer ") else None


if __name__ == "__main__":
    idp = FakeIdP(sys.argv[1]).start()
    print(idp.port, idp.smtp_port, flush=True)
    threading.Event().wait()
