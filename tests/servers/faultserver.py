#!/usr/bin/python3
"""faultserver.py — a scriptable, fault-injecting SMTP server for envoi's tests.

    faultserver.py --scenario NAME [--cert-dir DIR] [--portfile FILE]
                   [--log FILE] [--connections N] [--host ADDR]
                   [--auth-mechs "M1 M2"] [--password-file FILE] [--alarm SECONDS]
    faultserver.py --list          # scenarios.tsv (scenario, args, exit, description)

Binds ADDR (default 127.0.0.1) port 0, writes the port number to --portfile
(atomically) once listening, serves --connections connections (default: the
scenario's, usually 1; each in its own thread), and exits 0. It never runs
longer than --alarm seconds (default 30): then it writes its files and exits 3.
SIGTERM: gives open connections up to 2 s to end (a client that has
exited is read to its end), then writes its files and exits 0.

Files (all optional, derived from --log):
  LOG             every byte the client sent on connection 1, raw (after TLS:
                  the decrypted bytes). Connection n>1 goes to LOG.n.
                  NOTE: holds credentials (AUTH payloads) verbatim.
  LOG.txt         readable transcript of all connections ("[n] C:", "[n] S:",
                  "[n] --" events); AUTH payloads redacted.
  LOG.json        summary: per connection TLS version/cipher/SNI/client cert,
                  commands (AUTH payloads redacted), auth result, protocol
                  violations the client committed, and each message received
                  (envelope, SIZE= declared, size, sha256, via DATA/BDAT,
                  file LOG.msgK with the unstuffed message bytes).

The default server is a correct, strict ESMTP server: EHLO offers PIPELINING,
8BITMIME, SIZE 100000000 and STARTTLS before TLS; after TLS the same plus AUTH
PLAIN LOGIN. User "tester", password "s3cret-Pa55!" (for XOAUTH2/OAUTHBEARER
the token is the password). It checks the client: pipelining only when offered
and only as RFC 2920 allows, no data after STARTTLS, no bare CR/LF in DATA/BDAT,
lines <= 1000 octets, SIZE= equal to the real size, 8-bit data only with
BODY=8BITMIME/SMTPUTF8, AUTH only when offered. Any violation is recorded, and
the end of data is then answered "554 5.7.0 test server: client violations: ..."
so a misbehaving client cannot pass a test that expects exit 0.

A scenario is a row in SCENARIOS below: keyword overrides of the default
server plus "on" hooks, stage -> action. Stages: greeting, ehlo, helo,
starttls, tls_up, auth, auth_result, mail, rcpt, data, enddata, bdat, rset,
noop, quit. Actions: a str (a reply; "\\n" separates lines, CRLF added),
bytes (sent raw), STALL (read and log until the client closes), DROP (close),
StartTLS(raw_reply) (send raw_reply then start TLS), a list (done in order),
or a callable(session, *args) returning an action or None (None = default).
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import select
import signal
import socket
import ssl
import sys
import threading
import time

USER = "tester"
PASSWORD = "s3cret-Pa55!"
HOSTNAME = "faultserver.test"
DEFAULT_SIZE = 100000000
MAX_CMD_LINE = 64 * 1024

# --------------------------------------------------------------------------
# actions


class _Marker:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


STALL = _Marker("STALL")
DROP = _Marker("DROP")


class StartTLS:
    """Send raw bytes in reply to STARTTLS (in one write), then start TLS."""

    def __init__(self, raw=b"220 2.0.0 Ready to start TLS\r\n"):
        self.raw = raw


class ConnectionDone(Exception):
    """End this connection (reason in args[0])."""


def reply_code(action):
    """The 3-digit code an action replies with, or None."""
    if isinstance(action, list):
        for a in action:
            c = reply_code(a)
            if c:
                return c
        return None
    if isinstance(action, str):
        action = action.encode()
    if isinstance(action, (bytes, bytearray)) and len(action) >= 3 and action[:3].isdigit():
        return action[:3].decode()
    return None


# --------------------------------------------------------------------------
# scenarios


class Scenario:
    defaults = dict(
        exit="0", args="", doc="",
        implicit=False,           # TLS from the first byte (no plaintext greeting)
        cert="good",              # cert file stem in --cert-dir (key: STEM-key.pem)
        key=None,                 # key file name when not STEM-key.pem
        starttls=True,            # offer STARTTLS before TLS
        auth_in_clear=False,      # offer AUTH before TLS too
        auth_mechs=("PLAIN", "LOGIN"),
        pipelining=True, chunking=False, dsn=False, smtputf8=False,
        eightbitmime=True, size=DEFAULT_SIZE, enhanced=True,
        caps_pre=None, caps_tls=None,   # explicit capability lists (override)
        on=None,                  # stage -> action
        send_mode="normal",       # normal | byte | coalesce
        reply_delay=0.0,          # seconds before each reply
        connections=1,
        per_connection=None,      # list of scenario names, one per connection
        tls_setup=None,           # callable(SSLContext)
        special=None,             # callable(session): replaces the whole session
        listen=True,              # False: bind without listen (connection refused)
    )

    def __init__(self, name, **kw):
        unknown = set(kw) - set(self.defaults)
        if unknown:
            raise TypeError(f"scenario {name}: unknown keys {unknown}")
        self.name = name
        for k, v in self.defaults.items():
            setattr(self, k, kw.get(k, v))
        self.on = dict(self.on or {})


SCENARIOS = {}


def sc(name, **kw):
    SCENARIOS[name] = Scenario(name, **kw)


def nth_rcpt_rejected(sess, idx, addr):
    """rcpt_some_550: reject the 2nd, 4th, ... recipient of a transaction."""
    return "550 5.1.1 <%s>: no such user" % addr if idx % 2 == 1 else None


def endless_334(sess, mech, initial):
    """Answer every AUTH response with another challenge, for ever."""
    sess.summary["auth"] = {"mech": mech, "endless": True}
    rounds = 0
    while rounds < 1000000:
        sess.reply("334 " + base64.b64encode(secrets.token_bytes(12)).decode())
        line = sess.readline()
        rounds += 1
        sess.summary["auth"]["rounds"] = rounds
        if line.strip() == b"*":
            sess.reply("501 5.7.0 Authentication cancelled")
            return
    sess.reply("535 5.7.8 giving up")


def tls_alert(sess, raw):
    """Reply 220 to STARTTLS, read the ClientHello, answer a fatal alert."""
    sess.send_raw(raw)
    sess.read_some(5)
    sess.event("sending TLS alert handshake_failure")
    sess.send_raw(b"\x15\x03\x03\x00\x02\x02\x28")
    time.sleep(0.2)
    raise ConnectionDone("tls alert sent")


def tls_garbage(sess, raw):
    """Reply 220 to STARTTLS, then answer the ClientHello with non-TLS bytes."""
    sess.send_raw(raw)
    sess.read_some(5)
    sess.send_raw(b"this is not a TLS record\r\n" * 4)
    sess.stall()


def old_tls_only(ctx):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("ALL:@SECLEVEL=0")


def require_client_cert(ctx):
    # TLS 1.2 so that a missing client certificate fails inside the handshake.
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED


def implicit_tls_port(sess):
    """A TLS-only port: never greets in plaintext. A TLS ClientHello (e.g. a
    probe by the client) gets a normal TLS session with the greeting."""
    sess.start_tls(immediate=True)
    sess.serve_after_connect()


def plaintext_on_implicit(sess):
    """A plaintext server; the client will have sent a ClientHello."""
    sess.reply("220 %s ESMTP plaintext ready" % HOSTNAME)
    sess.stall()


def refused(sess):
    pass  # never called: listen=False


R = "--tls=starttls --user=tester"   # cert rows: TLS forced, credentials present

# name, expected exit, extra envoi args, description, behaviour
sc("ok", doc="normal ESMTP server with STARTTLS; AUTH PLAIN LOGIN after TLS")
sc("ok_auth", args="--user=tester", doc="ok, logging in (AUTH after STARTTLS)")
sc("ok_auth_all", args="--user=tester",
   auth_mechs=("SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"),
   doc="AUTH offers every mechanism the server implements; summary says which was used")
sc("ok_chunking", chunking=True, doc="CHUNKING offered; BDAT or DATA both accepted (summary: via)")
sc("ok_no_pipelining", pipelining=False, doc="no PIPELINING: any pipelined command is a violation")
sc("ok_plain", starttls=False, auth_in_clear=True,
   doc="no STARTTLS (AUTH offered in clear): loopback --tls=auto sends in plaintext")
sc("ok_plain_tls_none_auth", args="--tls=none --user=tester", starttls=False, auth_in_clear=True,
   doc="no STARTTLS; --tls=none explicitly allows AUTH in clear")
sc("ok_plain_auth_refused", args="--user=tester", exit="81", starttls=False, auth_in_clear=True,
   doc="no STARTTLS, credentials given, --tls=auto: envoi must not send them in clear (policy: 81)")
sc("ok_dsn_utf8", dsn=True, smtputf8=True, args="--dsn-notify=SUCCESS,FAILURE --dsn-return=headers",
   doc="DSN and SMTPUTF8 offered; summary records MAIL/RCPT parameters")
sc("ok_implicit", implicit=True, args="--tls=implicit --user=tester",
   doc="implicit TLS from the first byte (like port 465)")
sc("ok_smtps_url", implicit=True, args="--server=smtps://127.0.0.1:{PORT}",
   doc="implicit TLS chosen with an smtps:// server URL")
sc("ok_chain", cert="chain", key="leaf-key.pem", args=R,
   doc="leaf signed by an intermediate, full chain served")
sc("ok_pin", args="--fingerprint={GOOD_SHA256} --tls=starttls",
   doc="--fingerprint matches good.pem")
sc("ok_insecure_selfsigned", cert="selfsigned", args="--insecure --tls=starttls",
   doc="self-signed certificate accepted with --insecure")
sc("ok_client_cert", tls_setup=require_client_cert,
   args="--tls=starttls --client-cert={CERT_DIR}/client.pem --client-key={CERT_DIR}/client-key.pem",
   doc="server requires a client certificate (TLS 1.2); envoi presents client.pem")
sc("client_cert_missing", exit="83", tls_setup=require_client_cert, args="--tls=starttls",
   doc="server requires a client certificate (TLS 1.2), none given: handshake fails")
sc("slow_ok", reply_delay=0.8, args="--timeout=2",
   doc="every reply 0.8 s late (about 6 s in all): --timeout is per command, not per session")

sc("byte_at_a_time", send_mode="byte", args="--user=tester",
   doc="every reply sent one byte per write, 1 ms apart (also inside TLS)")
sc("replies_coalesced", send_mode="coalesce", chunking=True, args="--user=tester",
   doc="replies held back while more pipelined commands arrive, then sent in one write")

sc("greeting_never", exit="75", connections=2, on={"greeting": STALL}, args="--timeout=2",
   doc="accepts, never greets (also on a second connection): timeout")
sc("greeting_421", exit="75", on={"greeting": ["421 4.3.2 Service not available", DROP]},
   doc="421 greeting")
sc("greeting_554", exit="69", on={"greeting": "554 5.3.2 No SMTP service here"},
   doc="554 greeting: the server refuses service (policy: 69 as for a refused connection)")
sc("stall_after_data", exit="75", on={"enddata": STALL}, args="--timeout=2",
   doc="never answers the end of data")
sc("drop_after_data", exit="75", on={"enddata": DROP},
   doc="closes without a reply after the end of data")
sc("temp_fail_data", exit="75", on={"enddata": "451 4.3.0 Temporary failure, try later"},
   doc="451 after the data")
sc("data_cmd_451", exit="75", on={"data": "451 4.3.0 Not now"}, doc="451 to the DATA command")
sc("reject_data_554", exit="89", on={"enddata": "554 5.6.0 Message content rejected"},
   doc="554 after the data")
sc("data_cmd_554", exit="89", on={"data": "554 5.7.1 Not accepting messages"},
   doc="554 to the DATA command")
sc("reject_bdat_554", exit="89", chunking=True,
   on={"enddata": "554 5.6.0 Message content rejected"},
   doc="CHUNKING offered; the last chunk (or the data) answered 554")
sc("size_552_at_mail", exit="89", on={"mail": "552 5.3.4 Message size exceeds fixed maximum message size"},
   doc="552 to MAIL FROM")
sc("small_size", exit="89", size=100,
   doc="EHLO SIZE 100 (any message is larger): envoi must refuse before sending (summary: no MAIL, no data)")
sc("mail_from_550", exit="86", on={"mail": "550 5.7.1 Sender rejected"}, doc="550 to MAIL FROM")
sc("mail_from_451", exit="75", on={"mail": "451 4.7.1 Greylisted, try later"}, doc="451 to MAIL FROM")
sc("rcpt_some_550", exit="87", on={"rcpt": nth_rcpt_rejected},
   args="--to=second@example.com --to=third@example.com --cc=fourth@example.com",
   doc="the 2nd and 4th RCPT get 550, the others 250: message goes to the rest")
sc("rcpt_all_550", exit="88", on={"rcpt": "550 5.1.1 No such user"},
   args="--to=second@example.com", doc="every RCPT 550: no DATA")
sc("rcpt_451", exit="75", on={"rcpt": "451 4.2.1 Mailbox busy, try later"},
   args="--to=second@example.com", doc="every RCPT 451")

sc("auth_535", exit="84", args="--user=tester", on={"auth_result": "535 5.7.8 Authentication credentials invalid"},
   doc="credentials rejected")
sc("auth_535_data_354", exit="84", args="--user=tester", on={"auth_result": "535 5.7.8 Authentication credentials invalid"},
   doc="AUTH PLAIN pipelined with the envelope gets 535, yet MAIL and RCPT succeed: envoi queued no DATA behind the unanswered login, sends nothing more and QUITs")
sc("auth_535_bdat_taken", exit="84", args="--user=tester", chunking=True,
   on={"auth_result": "535 5.7.8 Authentication credentials invalid"},
   doc="AUTH 535 on a server that would take a BDAT message without a login: no data goes with an unanswered login, so nothing is delivered (84, QUIT)")
sc("no_auth", exit="85", args="--user=tester", auth_mechs=(), doc="no AUTH in EHLO, credentials given")
sc("auth_mechs_unsupported", exit="85", args="--user=tester", auth_mechs=("X-ENVOI-UNKNOWN", "KERBEROS_V4"),
   doc="AUTH offers only mechanisms envoi does not have")
sc("auth_endless_334", exit="76", args="--user=tester", on={"auth": endless_334},
   doc="every AUTH response gets another 334 challenge (policy: capped rounds -> 76)")

sc("starttls_missing", exit="81", starttls=False, args="--tls=starttls",
   doc="STARTTLS not offered, --tls=starttls")
sc("starttls_missing_creds", exit="81", starttls=False, args="--user=tester",
   doc="STARTTLS not offered, no AUTH either, credentials given (loopback auto)")
sc("starttls_454", exit="81", on={"starttls": "454 4.7.0 TLS not available due to temporary reason"},
   args="--tls=starttls", doc="454 to STARTTLS")
sc("starttls_502", exit="81", on={"starttls": "502 5.5.1 Command not implemented"},
   args="--tls=starttls", doc="502 to STARTTLS")
sc("starttls_garbage", exit="76", on={"starttls": StartTLS(b"Ready to start TLS\r\n")},
   args="--tls=starttls", doc="a reply without a code to STARTTLS")
sc("starttls_injection", exit="76", on={"starttls": StartTLS(b"220 2.0.0 Ready\r\n250 injected\r\n")},
   args=R, doc='"220 ready" and "250 injected" in one write: plaintext bytes after the 220')
sc("starttls_half_line_after_220", exit="76", on={"starttls": StartTLS(b"220 2.0.0 Ready\r\n25")},
   args=R, doc="half a line after the 220, same write")
sc("ehlo_refused", exit="81", on={"ehlo": "502 5.5.2 EHLO not implemented"}, args="--tls=starttls",
   doc="EHLO refused to push the client to HELO (no STARTTLS possible)")
sc("caps_change_after_tls", args="--user=tester",
   caps_pre=["PIPELINING", "CHUNKING", "SIZE 1000", "8BITMIME", "STARTTLS", "AUTH X-ENVOI-UNKNOWN"],
   caps_tls=["8BITMIME", "SIZE 100000000", "ENHANCEDSTATUSCODES", "AUTH PLAIN LOGIN"],
   doc="before TLS: PIPELINING CHUNKING SIZE 1000 AUTH X-ENVOI-UNKNOWN; after: none of them but "
       "SIZE 100000000 AUTH PLAIN LOGIN. Only the second list may be used (else violation/89/85)")

for _c in ("expired", "notyet", "wronghost", "selfsigned"):
    sc("cert_" + _c, exit="82", cert=_c, args=R, doc=f"server certificate {_c}.pem")
sc("cert_incomplete_chain", exit="82", cert="leaf-only", key="leaf-key.pem", args=R,
   doc="leaf signed by an intermediate that is not sent")
sc("cert_pin_mismatch", exit="82", args="--tls=starttls --user=tester "
   "--fingerprint=0000000000000000000000000000000000000000000000000000000000000000",
   doc="good certificate, --fingerprint does not match")
sc("cert_expired_implicit", exit="82", implicit=True, cert="expired", args="--tls=implicit --user=tester",
   doc="expired certificate on an implicit-TLS port")
sc("tls_alert", exit="83", on={"starttls": lambda s: tls_alert(s, b"220 2.0.0 Ready\r\n")}, args=R,
   doc="answers the ClientHello with a fatal handshake_failure alert")
sc("tls_garbage", exit="76", on={"starttls": lambda s: tls_garbage(s, b"220 2.0.0 Ready\r\n")}, args=R,
   doc="answers the ClientHello with plaintext bytes: plaintext where TLS was agreed is a protocol error, like injection (policy: 76)")
sc("tls_old_version", exit="83", tls_setup=old_tls_only, args=R,
   doc="server speaks only TLS 1.0 (envoi requires 1.2)")

sc("implicit_tls_port", exit="80", special=implicit_tls_port, connections=2,
   args="--tls=starttls --timeout=3",
   doc="TLS-only port: never greets in plaintext (a TLS probe on a 2nd connection is answered)")
sc("plaintext_on_implicit", exit="80", special=plaintext_on_implicit, args="--tls=implicit",
   doc="plaintext greeting while envoi does implicit TLS")

sc("bad_code", exit="76", on={"greeting": "2x0 hi"}, doc='greeting "2x0 hi"')
sc("code_changes_midreply", exit="76", on={"ehlo": "250-%s\n251 b" % HOSTNAME},
   doc='EHLO reply "250-...", then "251 b"')
sc("nul_in_reply", exit="76", on={"greeting": b"220 faultserver\x00.test ready\r\n"},
   doc="NUL byte in the greeting")
sc("endless_line", exit="76", on={"greeting": lambda s: s.send_endless(b"220 ", 8 << 20)},
   doc="8 MB greeting line without CRLF (connection then held open)")
sc("many_continuations", exit="76",
   on={"ehlo": lambda s: [b"250-" + HOSTNAME.encode() + b"\r\n" + b"250-X-FILLER\r\n" * 100000 + b"250 8BITMIME\r\n"]},
   doc="EHLO reply of 100,000 continuation lines (policy: replies are bounded -> 76)")
sc("eof_midline", exit="75", on={"greeting": [b"220 faultserver.te", DROP]},
   doc="greeting cut mid-line by EOF: connection lost")
sc("last_line_250_no_text", on={"ehlo": lambda s: s.ehlo_reply_text().replace("\n250 ", "\n250-") + "\n250",
                                "mail": "250", "rcpt": "250", "enddata": "250"},
   doc='replies whose last line is a bare "250" (legal)')
sc("digits_in_text", on={"greeting": "220 354 250 421 ready 2.0.0",
                         "ehlo": lambda s: s.ehlo_reply_text().replace(
                             "250-" + HOSTNAME, "250-" + HOSTNAME + " 421 250 354", 1),
                         "mail": "250 2.1.0 550 is just text", "rcpt": "250 2.1.5 421 5.1.1 ok",
                         "data": "354 250 go ahead", "enddata": "250 2.0.0 554 451 queued"},
   doc="digits and codes inside reply texts")

STAGES_421 = ("greeting", "ehlo", "starttls", "tls_ehlo", "auth", "mail", "rcpt", "data", "enddata")
for _st in STAGES_421:
    _a = ["421 4.3.2 Service shutting down", DROP]
    if _st == "tls_ehlo":
        _on = {"ehlo": (lambda a: lambda s: a if s.tls else None)(_a)}
    else:
        _on = {_st: _a}
    sc("421_at_" + _st, exit="75", on=_on, args="--user=tester" if _st in ("auth", "tls_ehlo") else
       ("--tls=starttls" if _st == "starttls" else ""), doc=f"421 and close at {_st}")
sc("421_at_quit", on={"quit": ["421 4.3.2 bye", DROP]}, doc="421 to QUIT after the message was accepted")


def login_then_421(sess, mech, initial):
    """AUTH LOGIN: ask for the user name, then 421 instead of the password prompt."""
    sess.reply("334 VXNlcm5hbWU6")
    sess.readline(log=False)
    return ["421 4.3.2 Service shutting down", DROP]


_B = ["421 4.3.2 Service shutting down", DROP]
sc("421_after_auth", exit="75", args="--user=tester", on={"mail": lambda s, *a: _B if s.authed else None},
   doc="421 and close at MAIL FROM right after a successful AUTH")
sc("421_mid_auth", exit="75", args="--user=tester --auth=LOGIN", on={"auth": login_then_421},
   doc="AUTH LOGIN: 421 and close after the user name, before the password")
sc("421_at_bdat", exit="75", chunking=True, on={"enddata": _B},
   doc="CHUNKING offered: 421 and close after the BDAT LAST chunk")
sc("421_at_helo", exit="75", on={"ehlo": "502 5.5.2 EHLO not implemented", "helo": _B},
   doc="EHLO refused, then 421 and close at HELO")
sc("421_at_tls_up", exit="75", args="--tls=starttls --user=tester", on={"tls_up": _B},
   doc="unsolicited 421 and close right after the TLS handshake")
sc("421_at_second_rcpt", exit="75", args="--to=second@example.com --to=third@example.com",
   on={"rcpt": lambda s, idx, addr: _B if idx == 1 else None},
   doc="421 and close at the 2nd of three pipelined RCPTs")
sc("421_multiline", exit="75", on={"mail": ["421-4.3.2 going\n421-4.3.2 down\n421 4.3.2 now", DROP]},
   doc="multi-line 421 and close at MAIL FROM")
sc("stall_after_auth", exit="75", args="--user=tester --timeout=2",
   on={"mail": lambda s, *a: STALL if s.authed else None},
   doc="AUTH succeeds, then MAIL FROM is never answered (secrets test: blocked after login)")

# TLS failures with credentials given and AUTH offered in clear before TLS,
# to tempt the client: it must never send AUTH (checked by the runner and
# by test_secrets.py).
R2 = "--tls=starttls --user=tester"
sc("starttls_extra_lines_after_220", exit="76", auth_in_clear=True,
   on={"starttls": StartTLS(b"220 2.0.0 Ready\r\n250-faultserver.test\r\n250-AUTH PLAIN LOGIN\r\n250 OK\r\n")},
   args=R2, doc="three full lines (an EHLO reply) after the 220, same write")
sc("starttls_missing_auth_offered", exit="81", starttls=False, auth_in_clear=True, args=R2,
   doc="STARTTLS not offered but AUTH offered in clear, --tls=starttls and credentials")
sc("starttls_454_creds", exit="81", auth_in_clear=True, args=R2,
   on={"starttls": "454 4.7.0 TLS not available due to temporary reason"},
   doc="454 to STARTTLS, credentials given, AUTH offered in clear")
sc("starttls_502_creds", exit="81", auth_in_clear=True, args=R2,
   on={"starttls": "502 5.5.1 Command not implemented"},
   doc="502 to STARTTLS, credentials given, AUTH offered in clear")
sc("starttls_garbage_creds", exit="76", auth_in_clear=True, args=R2,
   on={"starttls": StartTLS(b"Ready to start TLS\r\n")},
   doc="a reply without a code to STARTTLS, credentials given, AUTH offered in clear")
sc("ehlo_refused_creds", exit="81", auth_in_clear=True, args="--user=tester",
   on={"ehlo": "502 5.5.2 EHLO not implemented"},
   doc="EHLO refused (HELO has no STARTTLS), credentials given: nothing may be sent")
sc("client_cert_missing_creds", exit="83", tls_setup=require_client_cert, auth_in_clear=True, args=R2,
   doc="client certificate required, none given, credentials given")
sc("plaintext_on_implicit_creds", exit="80", special=plaintext_on_implicit,
   args="--tls=implicit --user=tester", doc="plaintext greeting to implicit TLS, credentials given")
for _c in ("expired", "selfsigned", "wronghost"):
    sc("cert_%s_auth_offered" % _c, exit="82", cert=_c, auth_in_clear=True, args=R2,
       doc=f"server certificate {_c}.pem; AUTH also offered in clear before TLS")

sc("retry_then_ok", args="--retry=1", connections=2, per_connection=["greeting_421", "ok"],
   doc="1st connection 421, 2nd succeeds: --retry=1 exits 0")
sc("retry_exhausted", exit="75", args="--retry=2", connections=3,
   per_connection=["temp_fail_data"] * 3, doc="three 451s after data: --retry=2 gives up with 75")
sc("refused", exit="69", listen=False, connections=0,
   doc="port bound but not listening (connection refused) until SIGTERM/alarm")
sc("resolve_fail", exit="68", listen=False, connections=0, args="--server=envoi-test.invalid:2525",
   doc="no server needed: a name under .invalid never resolves")

# --------------------------------------------------------------------------
# interop branch: the big providers, replayed. Each block below replays the
# greeting, the EHLO lines and the typical replies of one provider as
# published (the source is named above it; host names, ids and addresses
# kept as published or shortened). The server stays this strict test server
# (it checks what envoi sends against the capabilities it offered), with
# the test CA's certificate and the test user instead of the provider's.
# tests/integration/test_providers.py sends a composed message through each
# *_ok scenario and reads it back.

def replay_ehlo(first):
    """EHLO reply: the provider's first line, then the scenario's caps."""
    return lambda s: "\n".join(("250 " if i == len(s.current_caps()) else "250-") + l
                               for i, l in enumerate([first] + s.current_caps()))


def over_size(limit, reply):
    """MAIL hook: reply when the declared SIZE= is over limit."""
    def hook(sess, addr, params):
        return reply if int(params.get("SIZE", "0") or 0) > limit else None
    return hook


def needs_auth(reply):
    """MAIL hook: a submission server refuses MAIL before a login."""
    return lambda sess, addr, params: None if sess.authed else reply


# RFC 4954 section 6's reply, where a provider's own text is not published.
AUTH_REQUIRED = "530 5.7.0 Authentication required"


def provider(name, greeting, ehlo_first, caps_pre, caps_tls, args="--user=tester", errors=(),
             doc="", auth_required=AUTH_REQUIRED, **kw):
    """prov_NAME (exit 0) and one prov_NAME_X scenario per error:
    (suffix, exit, stage, action, extra args, description). MAIL before a
    login gets auth_required, as on the real submission servers."""
    on = {"greeting": greeting, "ehlo": replay_ehlo(ehlo_first), "mail": needs_auth(auth_required)}
    sc("prov_" + name, args=args, caps_pre=caps_pre, caps_tls=caps_tls, on=dict(on), doc=doc, **kw)
    for suffix, code, stage, action, more, edoc in errors:
        sc("prov_%s_%s" % (name, suffix), exit=code, args=(args + " " + more).strip(),
           caps_pre=caps_pre, caps_tls=caps_tls, on=dict(on, **{stage: action}),
           doc="%s: %s" % (name, edoc), **kw)


# Gmail, smtp.gmail.com. Greeting, EHLO (implicit TLS, port 465) and the 421
# at MAIL: https://github.com/datawookie/emayili/issues/71 ; STARTTLS before
# TLS (port 587): https://github.com/PHPMailer/PHPMailer/issues/490 ; the
# multi-line 535 with its URL: https://daimto.com/how-to-fix-username-and-
# password-when-accessing-googles-smtp-server ; the 552 5.3.4 size refusal
# at MAIL FROM: https://www.suped.com/learn/email-deliverability/what-is-the-
# google-error-message-when-an-email-exceeds-size-limits (Gmail refuses
# below its advertised SIZE; replayed here for any SIZE= over 100); the 530
# to MAIL without a login: https://github.com/chenjj/espoofer/issues/42
_GMAIL = ["SIZE 35882577", "8BITMIME", "AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH",
          "ENHANCEDSTATUSCODES", "PIPELINING", "CHUNKING", "SMTPUTF8"]
provider("gmail", "220 smtp.gmail.com ESMTP g19sm112160pjl.25 - gsmtp",
         "smtp.gmail.com at your service, [127.0.0.1]",
         ["SIZE 35882577", "8BITMIME", "STARTTLS", "ENHANCEDSTATUSCODES", "PIPELINING", "CHUNKING",
          "SMTPUTF8"], _GMAIL, doc="Gmail (STARTTLS, port 587): delivery",
         auth_required="530-5.7.0 Authentication Required. Learn more at\n530 5.7.0  "
         "https://support.google.com/mail/?p=WantAuthError y18-20020a92d0d2 - gsmtp", errors=[
    ("535", "84", "auth_result",
     "535-5.7.8 Username and Password not accepted. Learn more at\n"
     "535 5.7.8  https://support.google.com/mail/?p=BadCredentials lf4-20020a170902fb44 - gsmtp",
     "", "multi-line 535 5.7.8 with a URL"),
    ("421_rate", "75", "mail",
     ["421 4.7.0 Try again later, closing connection. (MAIL) g19sm112160pjl.25 - gsmtp", DROP],
     "", "421 4.7.0 to MAIL, then the connection is closed"),
    ("552_size", "89", "mail", over_size(100,
     "552-5.3.4 Your message exceeded Google's message size limits. Please visit\n"
     "552-5.3.4  https://support.google.com/mail/?p=MaxSizeError to view our size\n"
     "552 5.3.4 guidelines. abc123 - gsmtp"), "", "552 5.3.4 (three lines) to MAIL FROM SIZE=")])
provider("gmail_465", "220 smtp.gmail.com ESMTP g19sm112160pjl.25 - gsmtp",
         "smtp.gmail.com at your service, [127.0.0.1]", None, _GMAIL, implicit=True,
         args="--tls=implicit --user=tester", doc="Gmail (implicit TLS, port 465): delivery")

# Microsoft 365, smtp.office365.com: greeting and EHLO before and after
# STARTTLS: https://github.com/simonrob/email-oauth2-proxy/issues/95 and
# /issues/416 (AUTH LOGIN XOAUTH2 only: envoi must choose LOGIN); the 535
# 5.7.139: https://github.com/simonrob/email-oauth2-proxy/issues/193
_M365 = ["SIZE 157286400", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "8BITMIME", "BINARYMIME",
         "CHUNKING", "SMTPUTF8"]
provider("m365", "220 AM3PR05CA0094.outlook.office365.com Microsoft ESMTP MAIL Service ready at "
         "Wed, 9 Nov 2022 10:09:41 +0000", "AM3PR05CA0094.outlook.office365.com Hello [127.0.0.1]",
         _M365[:4] + ["STARTTLS"] + _M365[4:], _M365[:4] + ["AUTH LOGIN XOAUTH2"] + _M365[4:],
         doc="Microsoft 365 (STARTTLS): AUTH LOGIN XOAUTH2 only", errors=[
    ("535", "84", "auth_result",
     "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
     "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. "
     "[MN2PR05CA0004.namprd05.prod.outlook.com 2023-09-12T20:59:57.214Z 08DBB276B7E699C4]",
     "", "535 5.7.139 with a URL")])

# Yahoo, smtp.mail.yahoo.com (implicit TLS, port 465): greeting and EHLO,
# with its "8 BITMIME" (so no 8BITMIME) and AUTH on the last line:
# https://github.com/zetacomponents/Mail/pull/37 ,
# https://github.com/MailCore/mailcore2/issues/1488 ; the 535 5.7.0:
# https://github.com/GUI/lua-resty-mail/issues/4
provider("yahoo", "220 smtp.mail.yahoo.com ESMTP ready", "smtp.mail.yahoo.com", None,
         ["PIPELINING", "SIZE 41697280", "8 BITMIME", "AUTH PLAIN LOGIN XOAUTH2 XYMCOOKIE"],
         implicit=True, args="--tls=implicit --user=tester",
         doc="Yahoo (implicit TLS): '8 BITMIME' is no 8BITMIME", errors=[
    ("535", "84", "auth_result", "535 5.7.0 (#AUTH005) Too many bad auth attempts.", "",
     "535 5.7.0 (#AUTH005)")])

# iCloud: the greeting and first EHLO lines of its SMTP proxy (iscream):
# https://github.com/reacherhq/check-if-email-exists/issues/1410 ; the rest
# (STARTTLS on 587, AUTH PLAIN LOGIN after it) from Apple's settings page
# https://support.apple.com/en-us/102525 (no complete transcript found).
provider("icloud", "220 iCloud iscream SMTP proxy - p00-iscream-smtp-d759469dd-ss5bd 3.5.0 "
         "(2403B23-529c1e05a5df)", "p00-iscream-smtp-d759469dd-ss5bd",
         ["PIPELINING", "8BITMIME", "STARTTLS"], ["PIPELINING", "8BITMIME", "AUTH PLAIN LOGIN"],
         doc="iCloud (STARTTLS): no SIZE at all")

# Fastmail, smtp.fastmail.com: EHLO with the old-style AUTH= line, and the
# 530 5.7.1 to MAIL FROM without a login: https://github.com/corecode/dma/issues/50
provider("fastmail", "220 smtp.fastmail.com ESMTP ready", "smtp.fastmail.com", None,
         ["PIPELINING", "SIZE 71000000", "ENHANCEDSTATUSCODES", "8BITMIME", "AUTH PLAIN LOGIN",
          "AUTH=PLAIN LOGIN"], implicit=True, args="--tls=implicit --user=tester",
         doc="Fastmail (implicit TLS): AUTH and old-style AUTH= lines", errors=[
    ("530", "86", "mail", "530 5.7.1 Authentication required", "", "530 5.7.1 to MAIL FROM")])
SCENARIOS["prov_fastmail_530"].args = "--tls=implicit"   # no login: the 530 that follows

# Zoho, smtp.zoho.com (STARTTLS, port 587): greeting and both EHLO replies
# (no PIPELINING, no 8BITMIME): https://github.com/PHPAuth/PHPAuth/issues/282
# and https://github.com/jeremydumais/CPP-SMTPClient-library/issues/28 ;
# the 535: https://github.com/nodemailer/nodemailer/issues/456
provider("zoho", "220 mx.zohomail.com SMTP Server ready April 18, 2024 6:38:02 AM PDT",
         "mx.zohomail.com Hello localhost (127.0.0.1 (127.0.0.1))", ["STARTTLS", "SIZE 53477376"],
         ["AUTH LOGIN PLAIN", "SIZE 53477376"], doc="Zoho (STARTTLS): no PIPELINING, no 8BITMIME",
         errors=[("535", "84", "auth_result", "535 Authentication Failed", "",
                  "535 without an enhanced code")])

# Amazon SES, email-smtp.<region>.amazonaws.com: greeting and EHLO ending in
# "250 Ok": https://github.com/jetmore/swaks/issues/15 ; the 454 throttling
# reply: https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html ;
# the 554 for an unverified sender:
# https://docs.aws.amazon.com/ses/latest/dg/troubleshoot-error-messages.html
_SES = ["8BITMIME", "SIZE 10485760", "AUTH PLAIN LOGIN", "Ok"]
provider("ses", "220 email-smtp.amazonaws.com ESMTP SimpleEmailService-d-UCMGFU8F2 "
         "l8rfaVjiaG1V7Lvw7tuo", "email-smtp.amazonaws.com", _SES[:2] + ["STARTTLS"] + _SES[2:],
         _SES, doc="Amazon SES (STARTTLS): no PIPELINING, last line '250 Ok'", errors=[
    ("454", "75", "mail", "454 Throttling failure: Maximum sending rate exceeded", "",
     "454 throttling at MAIL FROM"),
    ("554", "89", "enddata", "554 Message rejected: Email address is not verified. The following "
     "identities failed the check in region US-EAST-1: sender@example.com", "",
     "554 after the data")])

# SendGrid, smtp.sendgrid.net: greeting, EHLO (AUTH and old-style AUTH= as
# the last line) and its 451 to a failed AUTH LOGIN:
# https://github.com/sendgrid/docs/issues/2191
_SG = ["8BITMIME", "PIPELINING", "SIZE 31457280", "AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN"]
provider("sendgrid", "220 SG ESMTP service ready at ismtpd0002p1sjc2.sendgrid.net",
         "smtp.sendgrid.net", _SG[:3] + ["STARTTLS"] + _SG[3:], _SG,
         doc="SendGrid (STARTTLS): AUTH= line last", errors=[
    ("451_auth", "75", "auth_result", "451 Authentication failed: Could not authenticate", "",
     "451 to AUTH (temporary)")])

# Mailgun, smtp.mailgun.org: greeting, EHLO (AUTH offered before TLS too),
# the 550 5.7.1 to RCPT and its 221: https://github.com/mludvig/smtp-cli/issues/26
_MG = ["AUTH PLAIN LOGIN", "SIZE 52428800", "8BITMIME", "SMTPUTF8", "PIPELINING"]
provider("mailgun", "220 Mailgun Influx ready", "4e119dd77b0c", _MG + ["STARTTLS"], _MG,
         auth_in_clear=True, doc="Mailgun (STARTTLS): AUTH offered in clear too",
         errors=[("550", "88", "rcpt", "550 5.7.1 Relaying denied", "", "550 5.7.1 to RCPT")])
SCENARIOS["prov_mailgun"].on["quit"] = "221 See you later. Yours truly, Mailgun"

# Postmark, smtp.postmarkapp.com: STARTTLS, AUTH plain text or CRAM-MD5, as
# documented at https://postmarkapp.com/developer/user-guide/send-email-with-smtp
# (no published EHLO transcript found: the lines are built from that page).
provider("postmark", "220 smtp.postmarkapp.com ESMTP", "smtp.postmarkapp.com",
         ["PIPELINING", "8BITMIME", "SIZE 10485760", "STARTTLS"],
         ["PIPELINING", "8BITMIME", "SIZE 10485760", "AUTH CRAM-MD5 PLAIN LOGIN"],
         doc="Postmark (STARTTLS): CRAM-MD5 offered")

# Exim 4.96 with no size limit (message_size_limit = 0, common on internal
# relays): a bare "SIZE" keyword followed by 8BITMIME (checked against the
# real Exim in test_interop.py; issue 9).
provider("exim_nolimit", "220 relay.example ESMTP Exim 4.96", "relay.example Hello localhost [127.0.0.1]",
         ["SIZE", "8BITMIME", "PIPELINING", "CHUNKING", "STARTTLS", "HELP"],
         ["SIZE", "8BITMIME", "PIPELINING", "AUTH PLAIN LOGIN", "CHUNKING", "HELP"],
         doc="bare SIZE, then 8BITMIME: no limit")
# --- end of the interop branch's block -------------------------------------


# ---- branch engine: EHLO parsing, QUIT after refusals, retry after BDAT,
# long SASL tokens, many recipients.
# Exim with message_size_limit = 0 (or a limit past 2 GiB) says a bare
# "SIZE" and then "8BITMIME" (seen on Exim 4.96, Debian 12).
_EXIM_NOLIMIT = ["SIZE", "8BITMIME", "PIPELINING", "CHUNKING", "PRDR"]
sc("size_bare_8bitmime", caps_pre=_EXIM_NOLIMIT + ["STARTTLS"], caps_tls=_EXIM_NOLIMIT + ["AUTH PLAIN LOGIN"],
   args="--user=tester", doc="EHLO has a bare SIZE (no limit) followed by 8BITMIME, as Exim with "
   "message_size_limit = 0 sends it: no size limit, the message is sent")
sc("retry_rcpt_451_bdat", exit="75", args="--retry=2 --to=second@example.com", chunking=True, connections=3,
   on={"rcpt": "451 4.2.1 Mailbox busy, try later"},
   doc="every RCPT 451 and the pipelined BDAT LAST answered 554 no valid recipients: nothing can "
   "have been delivered, so --retry=2 makes 3 attempts (3 connections) and exits 75")


def bulk_rcpts(sess):
    """A fast plaintext server for huge recipient lists, as an MTA behaves:
    it reads what has arrived, answers every command in it with a blocking
    write, and reads on only when that write is done. A client that writes
    every RCPT before reading a reply fills both directions and hangs.
    RCPT <refuse-...> gets 550; <named-...> a 250 naming the address.
    Records rcpts (count), refused, data_size, commands (all but RCPT)."""
    sess.summary.update(rcpts=0, refused=0)
    sess.sock.settimeout(60)
    # Small buffers, so that a client that does not read hangs at once,
    # not only past the megabytes loopback autotuning allows.
    sess.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    sess.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sess.send_raw(b"220 %s ESMTP bulk ready\r\n" % HOSTNAME.encode())
    buf, out = b"", []
    while True:
        if b"\r\n" not in buf:
            data = sess.sock.recv(1 << 16)
            if not data:
                raise ConnectionDone("eof")
            buf += data
        lines = buf.split(b"\r\n")
        buf = lines.pop()
        for i, ln in enumerate(lines):
            verb = ln[:4].upper()
            if verb == b"RCPT":
                sess.summary["rcpts"] += 1
                bad = b"<refuse-" in ln
                sess.summary["refused"] += bad
                if bad:
                    out.append(b"550 5.1.1 no such user\r\n")
                elif b"<named-" in ln:   # a 2xx naming the recipient, as sendmail's
                    out.append(b"250 2.1.5 " + ln[8:].split(b">")[0] + b"> recipient ok\r\n")
                else:
                    out.append(b"250 2.1.5 ok\r\n")
                continue
            sess.summary["commands"].append(ln.decode(errors="replace"))
            if verb == b"EHLO":
                out.append(b"250-%s\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 0\r\n" % HOSTNAME.encode())
            elif verb == b"DATA":
                out.append(b"354 go ahead\r\n")
                sess.sock.sendall(b"".join(out))
                out = []
                buf = b"\r\n" + b"".join(x + b"\r\n" for x in lines[i + 1:]) + buf
                while b"\r\n.\r\n" not in buf:
                    more = sess.sock.recv(1 << 16)
                    if not more:
                        raise ConnectionDone("eof in data")
                    buf += more
                end = buf.find(b"\r\n.\r\n")
                sess.summary["data_size"] = end
                buf = buf[end + 5:]
                out.append(b"250 2.0.0 queued\r\n")
                break
            elif verb == b"QUIT":
                sess.sock.sendall(b"".join(out) + b"221 2.0.0 bye\r\n")
                raise ConnectionDone("quit")
            else:
                out.append(b"250 2.0.0 ok\r\n")
        if out:
            sess.sock.sendall(b"".join(out))   # blocks while the client does not read
            out = []


sc("bulk_rcpts", special=bulk_rcpts, args="--tls=none",
   doc="fast plaintext server answering a whole read of pipelined commands before reading on: "
   "test_faults sends 200,000 recipients to it; envoi must read replies while writing")
sc("ok_auth_long_token", args="--user=tester",
   auth_mechs=("PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"),
   doc="AUTH with XOAUTH2 and PLAIN; test_faults starts it with --password-file holding a token "
   "of 7,000 or 20,000 bytes, which must arrive intact (an AUTH line that long goes after a 334)")
# ---- branch transport: hostile text from the server (terminal escapes) ----
# ESC [2J, an OSC title, CSI as the C1 control U+009B (UTF-8 C2 9B), a bidi
# override U+202E, a lone 0x9B byte (not UTF-8): envoi must print every one
# escaped (-v, the error line, --probe, --json). evil.pem's subject holds them.
EVIL_TEXT = b"\x1b[2J\x1b]0;pwned\x07 \xc2\x9b31m \xe2\x80\xae \x9b1m M\xc3\xbcller"
sc("evil_cert_names", exit="82", cert="evil", args="--tls=starttls",
   doc="certificate valid for localhost only, subject full of terminal escapes: the 82 line shows them escaped")
sc("evil_cert_insecure", cert="evil", args="--tls=starttls --insecure",
   doc="the same certificate accepted with --insecure (test_transport.py adds --probe: subject printed escaped)")
EVIL_8BIT = b"\xc2\x9b31m \xc2\x85 \xe2\x80\xae \xe2\x81\xa6 \x9b1m M\xc3\xbcller"
sc("evil_reply_5xx", exit="86",
   on={"mail": b"550-5.7.1 " + EVIL_8BIT + b"\r\n550 5.7.1 end " + EVIL_8BIT + b"\r\n"},
   doc="a 550 to MAIL FROM with C1 controls (U+009B CSI, U+0085), bidi controls and a lone 0x9B byte")
sc("evil_greeting_esc", exit="76", on={"greeting": b"220 faultserver.test " + EVIL_TEXT + b"\r\n"},
   doc="greeting with ESC [2J and an OSC title: a control byte in a reply is a protocol error, shown escaped")
sc("evil_ehlo_esc", exit="76", caps_pre=["PIPELINING", "X-EVIL-\x1b[2J\x1b]0;pwned\x07"],
   doc="EHLO keyword with ESC [2J and an OSC title: protocol error, shown escaped")
sc("evil_ehlo_lines", starttls=False,
   on={"ehlo": lambda s: b"250-faultserver.test \xc2\x9b2J\r\n250-8BITMIME\r\n250-X-C1 " + EVIL_8BIT + b"\r\n250 PIPELINING\r\n"},
   doc="EHLO lines with C1 controls, bidi controls and a lone 0x9B byte (-v and --probe show them escaped)")

# ---- branch transport: slow greetings and the ClientHello probe ----
# After a short silence envoi sends a ClientHello to find implicit-TLS
# ports; only a TLS record in answer may make that exit 80.


def slow_greeting_drops_garbage(sess):
    """A plaintext server that greets after 4 s and hangs up on anything
    sent before its greeting (as a strict server may on a ClientHello)."""
    if sess.pending_input(4.0):
        sess.event("input before the greeting: hanging up")
        raise ConnectionDone("input before the greeting")
    sess.serve_after_connect()


def never_greets_hangs_up(sess):
    """Never greets: hangs up on any input, else after 1.5 s of silence."""
    sess.pending_input(1.5)
    raise ConnectionDone("hung up without a greeting")


def alert_on_probe(sess):
    """A TLS-only port that refuses every ClientHello with a fatal alert."""
    sess.read_some(5)
    sess.send_raw(b"\x15\x03\x03\x00\x02\x02\x28")
    time.sleep(0.2)
    raise ConnectionDone("tls alert sent")


sc("slow_greeting_drops_probe", special=slow_greeting_drops_garbage, connections=2,
   doc="greets after 4 s, hangs up on the ClientHello probe: not a TLS answer, so envoi reconnects "
       "and waits for the greeting on a fresh connection")
sc("greeting_drop_after_probe", exit="75", special=never_greets_hangs_up, connections=4,
   args="--timeout=2 --retry=1",
   doc="never greets, hangs up on the probe and after 1.5 s: 75 (closed without a greeting), retried once")
sc("implicit_tls_alert", exit="80", special=alert_on_probe, connections=2, args="--tls=starttls --timeout=3",
   doc="answers the ClientHello probe with a TLS alert record: a TLS answer, so 80 (use --tls=implicit)")


# ---- branch transport: deadlines bound steps, not lines ----


def drip_greeting_lines(sess):
    """A 16-line greeting, one line every 1.8 s: each line comes within a
    2 s timeout, the whole reply does not."""
    for i in range(15):
        sess.send_raw(b"220-faultserver.test line %d\r\n" % i)
        time.sleep(1.8)
    sess.send_raw(b"220 faultserver.test ready\r\n")
    sess.serve_after_connect()


sc("greeting_slow_lines", exit="75", special=drip_greeting_lines, args="--timeout=2",
   doc="16 greeting lines 1.8 s apart with --timeout=2: the whole reply is one step (75 after about 2 s, not 27 s)")

# ---- branch window: many transactions in flight on one session ----
# (tests/integration/test_window.py drives them with tests/window_drive;
# a one-shot send carries one message, which these let through.)


def at_message(n, action):
    """An action for the nth message of the session only (from 1)."""
    def pick(sess, *args):
        return action if len(sess.summary["messages"]) + 1 == n else None
    return pick


def at_enddata(n, action):
    """An action for the end of the nth message's data (from 1)."""
    def pick(sess, *args):
        return action if len(sess.summary["messages"]) == n else None
    return pick


sc("window_drop_after_3rd_data", chunking=True, on={"enddata": at_enddata(3, DROP)},
   doc="CHUNKING; closes without a reply after the 3rd message's data of the session")
sc("window_421_at_3rd_mail", chunking=True,
   on={"mail": at_message(3, ["421 4.3.2 Service shutting down", DROP])},
   doc="CHUNKING; 421 and close at the 3rd MAIL FROM of the session")
sc("window_421_after_3rd_data", chunking=True,
   on={"enddata": at_enddata(3, ["421 4.3.2 Service shutting down", DROP])},
   doc="CHUNKING; 421 and close instead of the verdict on the 3rd message")


# ---- branch batchsess: one session carrying many messages (--batch) ----
# The fault strikes on connection 1 only; connection 2 is a normal server,
# so the test sees which messages envoi sent again on the new session.


def nth_on_first_connection(stage, n, action):
    """A hook doing action at the n-th `stage` of connection 1."""
    def hook(sess, *args):
        count = getattr(sess, "batch_counts", {})
        sess.batch_counts = count
        count[stage] = count.get(stage, 0) + 1
        return action if sess.n == 1 and count[stage] == n else None
    return hook


sc("batch_421_third_mail", connections=2, starttls=False,
   on={"mail": nth_on_first_connection("mail", 3, ["421 4.7.0 Too many messages, closing", DROP])},
   doc="connection 1 answers its 3rd MAIL FROM with 421 and closes; connection 2 is normal "
   "(test_batch: the 3rd message and those after it go on a second session)")
sc("batch_drop_after_second_data", connections=2, starttls=False,
   on={"enddata": nth_on_first_connection("enddata", 2, DROP)},
   doc="connection 1 takes the 2nd message's data, then closes without a reply; connection 2 is "
   "normal (test_batch: that message is 75 and never sent again, the next go on a second session)")
sc("batch_451_first_mail", exit="75", starttls=False,
   on={"mail": nth_on_first_connection("mail", 1, "451 4.7.1 Greylisted, try again")},
   doc="the first MAIL FROM of connection 1 gets 451, later ones 250 (test_batch: --retry "
   "sends that message again)")
# --- end of the batchsess branch's block -------------------------------------
# ---- branch bsflush: sessions that carry several transactions ----


def close_after_first_message(sess, addr, params):
    """The second MAIL of a connection gets 421 and the connection ends,
    as a server does that closes a session idle too long."""
    if sess.summary["messages"]:
        return ["421 4.4.2 faultserver.test idle too long, closing", DROP]
    return None


sc("one_message_per_session", connections=2,
   per_connection=["close_after_first_mail", "ok"],
   doc="1st connection takes one message, then 421 to the next MAIL; 2nd connection normal "
       "(a session reopened: sendmail -bs, --flush)")
sc("close_after_first_mail", on={"mail": close_after_first_message},
   doc="takes one message per connection, then 421 to MAIL and closes")

# --- end of the bsflush branch's block -------------------------------------
# ---- branch preopen: the next --batch session opened ahead ----
# Each message's final reply 0.5 s late, so a session's last replies take
# long enough for the next session's set-up to overlap them (or not): the
# transcript shows which came first.


def late_final_reply(sess, *args):
    """The reply to the end of data, as usual but 0.5 s late."""
    time.sleep(0.5)
    return None


sc("preopen_slow", starttls=False, connections=3, on={"enddata": late_final_reply},
   doc="each final reply 0.5 s late (test_batch: with --max-per-connection, the next session "
   "is greeted before the previous one's QUIT)")
sc("preopen_second_554", starttls=False, connections=4,
   per_connection=["preopen_slow", "greeting_554", "preopen_slow"],
   doc="connection 2 answers 554 at the greeting, the others as preopen_slow (test_batch: a "
   "session opened ahead that fails is a failed open)")
# --- end of the preopen branch's block ---------------------------------------


# --------------------------------------------------------------------------
# server machinery


class Recorder:
    """Files and summary shared by all connections."""

    def __init__(self, log):
        self.log = log
        self.lock = threading.RLock()   # re-entered by signal handlers
        self.summary = {"scenario": None, "port": None, "connections": [], "messages": 0}
        self.transcript = open(log + ".txt", "w", encoding="utf-8", errors="replace") if log else None
        self.msg_count = 0

    def raw_file(self, n):
        if not self.log:
            return None
        return open(self.log if n == 1 else "%s.%d" % (self.log, n), "wb", buffering=0)

    def line(self, n, tag, text):
        if self.transcript:
            with self.lock:
                self.transcript.write("[%d] %s %s\n" % (n, tag, text))
                self.transcript.flush()

    def save_message(self, data):
        with self.lock:
            self.msg_count += 1
            k = self.msg_count
            self.summary["messages"] = k
        path = None
        if self.log:
            path = "%s.msg%d" % (self.log, k)
            with open(path, "wb") as f:
                f.write(data)
        return path

    def write_summary(self):
        if not self.log:
            return
        with self.lock:
            for _ in range(5):   # other threads may be mutating it
                try:
                    text = json.dumps(self.summary, indent=1, default=str)
                    break
                except RuntimeError:
                    time.sleep(0.01)
            else:
                return
            tmp = self.log + ".json.tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, self.log + ".json")


def show(data, limit=300):
    s = data.decode("utf-8", "backslashreplace")
    s = s.replace("\r\n", "\\r\\n").replace("\r", "\\r").replace("\n", "\\n").replace("\0", "\\0")
    if len(s) > limit:
        s = s[:limit] + "...<%d bytes>" % len(data)
    return s


class Session:
    def __init__(self, server, sock, n, scenario):
        self.server = server
        self.sc = scenario
        self.sock = sock
        self.n = n
        self.rec = server.rec
        self.raw = self.rec.raw_file(n)
        self.buf = bytearray()
        self.out = bytearray()
        self.tls = False
        self.eof = False
        self.ehlo_done = False
        self.helo_only = False
        self.caps = []
        self.authed = False
        self.summary = {"n": n, "scenario": scenario.name, "tls": None, "commands": [],
                        "auth": None, "violations": [], "messages": [], "end": None}
        with self.rec.lock:
            self.rec.summary["connections"].append(self.summary)
        self.reset_tx()
        sock.settimeout(server.idle)

    # ---- low level I/O
    def event(self, text):
        self.rec.line(self.n, "--", text)

    def violation(self, text):
        if text not in self.summary["violations"]:
            self.summary["violations"].append(text)
            self.event("VIOLATION: " + text)

    def recv(self):
        """Read more bytes into buf; False at EOF."""
        if self.eof:
            return False
        self.flush_out(force=True)
        try:
            data = self.sock.recv(1 << 16)
        except (ConnectionError, ssl.SSLError) as e:
            self.event("recv error: %s" % e)
            data = b""
        except socket.timeout:
            raise ConnectionDone("idle timeout (server side)")
        if not data:
            self.eof = True
            return False
        if self.raw:
            self.raw.write(data)
        self.buf += data
        return True

    def read_some(self, n):
        while len(self.buf) < n:
            if not self.recv():
                raise ConnectionDone("eof")
        data = bytes(self.buf)
        self.buf.clear()
        self.rec.line(self.n, "C:", "<%d raw bytes>" % len(data))
        return data

    def readline(self, log=True):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                if not line.endswith(b"\r\n"):
                    self.violation("bare LF ends a command line")
                if log:
                    self.rec.line(self.n, "C:", show(line))
                return line
            if len(self.buf) > MAX_CMD_LINE:
                self.reply("500 5.5.2 Line too long")
                raise ConnectionDone("command line too long")
            if not self.recv():
                raise ConnectionDone("eof")

    def send_raw(self, data):
        if not data:
            return
        self.rec.line(self.n, "S:", show(bytes(data)))
        try:
            if self.sc.send_mode == "byte":
                for i in range(len(data)):
                    self.sock.sendall(data[i:i + 1])
                    time.sleep(0.001)
            else:
                self.sock.sendall(data)
        except (OSError, ssl.SSLError) as e:
            raise ConnectionDone("send failed: %s" % e)

    def flush_out(self, force=False):
        if self.out:
            data = bytes(self.out)
            self.out.clear()
            self.send_raw(data)

    def pending_input(self, wait=0.0):
        if self.buf:
            return True
        if self.tls and self.sock.pending():
            return True
        try:
            r, _, _ = select.select([self.sock], [], [], wait)
        except (OSError, ValueError):
            return False
        return bool(r)

    def reply(self, text):
        if isinstance(text, str):
            text = text.encode()
        if not text.endswith(b"\r\n"):
            text = b"\r\n".join(text.split(b"\n")) + b"\r\n"
        if self.sc.reply_delay:
            time.sleep(self.sc.reply_delay)
        if self.sc.send_mode == "coalesce":
            self.out += text
            # hold back while the client is still sending pipelined commands
            if not self.pending_input(0.1):
                self.flush_out()
        else:
            self.send_raw(text)

    def stall(self):
        """Send nothing more; read (and log) until the client closes."""
        self.flush_out()
        self.event("stalling")
        self.sock.settimeout(None)
        while self.recv():
            self.buf.clear()
        raise ConnectionDone("client closed during stall")

    def drop(self):
        self.flush_out()
        raise ConnectionDone("dropped by server")

    def send_endless(self, prefix, total):
        self.send_raw(prefix)
        chunk = b"a" * 65536
        sent = len(prefix)
        self.rec.line(self.n, "S:", "<%d bytes of 'a', no CRLF>" % total)
        try:
            while sent < total:
                self.sock.sendall(chunk)
                sent += len(chunk)
        except (OSError, ssl.SSLError):
            raise ConnectionDone("client closed during endless line (%d bytes sent)" % sent)
        self.stall()

    # ---- actions
    def act(self, stage, *args):
        """Run the scenario's action for stage. Returns (handled, code)."""
        if stage not in self.sc.on:
            return False, None
        return self.run_action(self.sc.on[stage], *args)

    def run_action(self, action, *args):
        if callable(action) and not isinstance(action, _Marker):
            action = action(self, *args)
            if action is None:
                return False, None
        code = reply_code(action)
        self.perform(action)
        return True, code

    def perform(self, action):
        if action is None:
            return
        if isinstance(action, list):
            for a in action:
                self.perform(a)
        elif action is STALL:
            self.stall()
        elif action is DROP:
            self.drop()
        elif isinstance(action, StartTLS):
            self.flush_out()
            self.send_raw(action.raw)
            self.start_tls()
        elif isinstance(action, (bytes, bytearray)):
            self.flush_out()
            self.send_raw(bytes(action))
        elif isinstance(action, str):
            self.reply(action)
        elif callable(action):
            self.perform(action(self))
        else:
            raise TypeError("bad action %r" % (action,))

    # ---- TLS
    def tls_context(self):
        cd = self.server.cert_dir
        cert = os.path.join(cd, self.sc.cert + ".pem")
        key = os.path.join(cd, self.sc.key or self.sc.cert + "-key.pem")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ca = os.path.join(cd, "ca.pem")
        if os.path.exists(ca):
            ctx.load_verify_locations(ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL

        def sni(sslobj, name, c):
            self.summary.setdefault("tls_pending", {})["sni"] = name
        ctx.sni_callback = sni
        if self.sc.tls_setup:
            self.sc.tls_setup(ctx)
        return ctx

    def start_tls(self, immediate=False):
        """Wrap the socket now. The caller has read nothing beyond the
        STARTTLS line, so the ClientHello is still in the kernel buffer."""
        self.flush_out()
        if self.buf:
            self.violation("client sent %d bytes after STARTTLS before the 220" % len(self.buf))
            self.buf.clear()
        try:
            ctx = self.tls_context()
            s = ctx.wrap_socket(self.sock, server_side=True, do_handshake_on_connect=False)
            s.settimeout(self.server.idle)
            s.do_handshake()
        except (ssl.SSLError, OSError) as e:
            self.summary["tls"] = {"error": str(e)}
            self.event("TLS handshake failed: %s" % e)
            raise ConnectionDone("tls handshake failed")
        self.sock = s
        self.tls = True
        peer = s.getpeercert()
        info = {"version": s.version(), "cipher": s.cipher()[0],
                "sni": self.summary.pop("tls_pending", {}).get("sni"),
                "client_cert": dict(x[0] for x in peer["subject"]) if peer else None}
        self.summary["tls"] = info
        self.event("TLS up: %s" % json.dumps(info))
        # forget everything learnt in plaintext
        self.ehlo_done = self.helo_only = False
        self.authed = False
        self.reset_tx()
        self.act("tls_up")

    # ---- SMTP
    def reset_tx(self):
        self.mail_from = None
        self.mail_params = {}
        self.rcpts = []
        self.rcpt_index = 0

    def current_caps(self):
        s = self.sc
        explicit = s.caps_tls if self.tls else s.caps_pre
        if explicit is not None:
            return list(explicit)
        caps = []
        if s.pipelining:
            caps.append("PIPELINING")
        if s.eightbitmime:
            caps.append("8BITMIME")
        if s.size is not None:
            caps.append("SIZE %d" % s.size)
        if s.enhanced:
            caps.append("ENHANCEDSTATUSCODES")
        if s.dsn:
            caps.append("DSN")
        if s.smtputf8:
            caps.append("SMTPUTF8")
        if s.chunking:
            caps.append("CHUNKING")
        if not self.tls and s.starttls and not s.implicit:
            caps.append("STARTTLS")
        if s.auth_mechs and (self.tls or s.auth_in_clear):
            caps.append("AUTH " + " ".join(s.auth_mechs))
        return caps

    def ehlo_reply_text(self):
        lines = ["%s greets you" % HOSTNAME] + self.current_caps()
        return "\n".join(("250 " if i == len(lines) - 1 else "250-") + l for i, l in enumerate(lines))

    def has_cap(self, name):
        return any(c.split()[0].upper() == name for c in self.caps)

    def cap_value(self, name):
        for c in self.caps:
            p = c.split()
            if p[0].upper() == name:
                return p[1:]
        return None

    def check_pipelining(self, verb):
        more = bool(self.buf)
        if not more:
            return
        if not self.has_cap("PIPELINING"):
            self.violation("pipelined %s without PIPELINING offered" % verb)
        elif verb in ("EHLO", "HELO", "DATA", "QUIT", "NOOP", "STARTTLS", "VRFY", "EXPN"):
            self.violation("data pipelined after %s (must end a command group)" % verb)

    def greet(self):
        if not self.act("greeting")[0]:
            self.reply("220 %s ESMTP faultserver ready" % HOSTNAME)

    def serve(self):
        if self.sc.implicit:
            self.start_tls(immediate=True)
        self.serve_after_connect()

    def serve_after_connect(self):
        self.greet()
        while True:
            line = self.readline(log=False)
            text = line.rstrip(b"\r\n").decode("utf-8", "surrogateescape")
            verb = text.split(" ", 1)[0].upper()
            shown = text if verb != "AUTH" else " ".join(text.split()[:2] + (["<redacted>"] if len(text.split()) > 2 else []))
            self.rec.line(self.n, "C:", show(shown.encode("utf-8", "surrogateescape")))
            self.summary["commands"].append(shown)
            handler = getattr(self, "cmd_" + verb.lower(), None) if verb.isalpha() else None
            if handler is None:
                self.reply("500 5.5.1 Command unrecognized")
                continue
            if verb != "BDAT":     # its chunk follows the command line
                self.check_pipelining(verb)
            handler(text[len(verb):].strip())

    def cmd_ehlo(self, arg):
        if not arg:
            self.reply("501 5.5.4 EHLO needs a domain")
            return
        handled, code = self.act("ehlo")
        if handled:
            if code == "250":
                self.ehlo_done = True
                self.caps = self.current_caps()
            return
        self.reset_tx()
        self.caps = self.current_caps()
        self.ehlo_done = True
        self.helo_only = False
        self.reply(self.ehlo_reply_text())

    def cmd_helo(self, arg):
        if self.act("helo")[0]:
            return
        self.reset_tx()
        self.caps = []
        self.ehlo_done = True
        self.helo_only = True
        self.reply("250 %s" % HOSTNAME)

    def cmd_starttls(self, arg):
        handled, code = self.act("starttls")
        if handled:
            return
        if self.tls:
            self.reply("503 5.5.1 TLS already active")
        elif not self.has_cap("STARTTLS"):
            self.violation("STARTTLS sent but not offered")
            self.reply("502 5.5.1 STARTTLS not offered")
        else:
            self.perform(StartTLS())

    def cmd_noop(self, arg):
        if not self.act("noop")[0]:
            self.reply("250 2.0.0 OK")

    def cmd_rset(self, arg):
        if not self.act("rset")[0]:
            self.reset_tx()
            self.reply("250 2.0.0 OK")

    def cmd_vrfy(self, arg):
        self.reply("252 2.5.2 Cannot VRFY")

    def cmd_quit(self, arg):
        if not self.act("quit")[0]:
            self.reply("221 2.0.0 Bye")
        self.flush_out()
        raise ConnectionDone("quit")

    # ---- AUTH
    def cmd_auth(self, arg):
        parts = arg.split()
        if not parts:
            self.reply("501 5.5.4 AUTH needs a mechanism")
            return
        mech = parts[0].upper()
        initial = parts[1] if len(parts) > 1 else None
        if self.authed:
            self.reply("503 5.5.1 Already authenticated")
            return
        if self.act("auth", mech, initial)[0]:
            return
        offered = self.cap_value("AUTH") or []
        if mech not in [m.upper() for m in offered]:
            self.violation("AUTH %s not offered" % mech)
            self.reply("504 5.5.4 Mechanism not offered")
            return
        fn = getattr(self, "sasl_" + mech.replace("-", "_").lower(), None)
        if fn is None:
            self.reply("504 5.5.4 Mechanism not implemented")
            return
        self.summary["auth"] = {"mech": mech, "user": None, "ok": False, "tls": self.tls}
        try:
            user, ok = fn(initial)
        except SaslAbort as e:
            self.reply(str(e))
            return
        self.summary["auth"].update(user=user, ok=ok)
        handled, code = self.act("auth_result")
        if handled:
            self.authed = code == "235"
            self.summary["auth"]["ok"] = self.authed
            return
        if ok:
            self.authed = True
            self.reply("235 2.7.0 Authentication successful")
        else:
            self.reply("535 5.7.8 Authentication credentials invalid")

    def sasl_step(self, challenge):
        """Send a 334 challenge (bytes), return the decoded response."""
        self.reply("334 " + base64.b64encode(challenge).decode())
        line = self.readline(log=False).strip()
        self.rec.line(self.n, "C:", "<redacted AUTH response>")
        if line == b"*":
            raise SaslAbort("501 5.7.0 Authentication cancelled")
        return self.b64(line)

    def b64(self, data):
        if data in (b"=", "="):
            return b""
        try:
            return base64.b64decode(data, validate=True)
        except Exception:
            raise SaslAbort("501 5.5.2 Invalid base64")

    def initial_or_step(self, initial):
        if initial is None:
            return self.sasl_step(b"")
        return self.b64(initial.encode())

    def sasl_plain(self, initial):
        data = self.initial_or_step(initial)
        p = data.split(b"\0")
        if len(p) != 3:
            raise SaslAbort("501 5.5.2 Malformed PLAIN response")
        user, pw = p[1].decode(errors="replace"), p[2].decode(errors="replace")
        return user, (user == USER and pw == self.server.password)

    def sasl_login(self, initial):
        user = self.b64(initial.encode()) if initial else self.sasl_step(b"Username:")
        pw = self.sasl_step(b"Password:")
        user = user.decode(errors="replace")
        return user, (user == USER and pw.decode(errors="replace") == self.server.password)

    def sasl_cram_md5(self, initial):
        if initial:
            raise SaslAbort("501 5.5.2 CRAM-MD5 takes no initial response")
        chal = ("<%d.%d@%s>" % (os.getpid(), time.time_ns(), HOSTNAME)).encode()
        resp = self.sasl_step(chal).decode(errors="replace")
        user, _, digest = resp.rpartition(" ")
        good = hmac.new(self.server.password.encode(), chal, hashlib.md5).hexdigest()
        return user, (user == USER and hmac.compare_digest(digest.lower(), good))

    def _scram(self, initial, hname):
        h = getattr(hashlib, hname)
        cfirst = self.initial_or_step(initial).decode(errors="replace")
        m = re.match(r"^([nyp][^,]*),([^,]*),(n=([^,]*),r=([^,]+)(?:,.*)?)$", cfirst)
        if not m:
            raise SaslAbort("501 5.5.2 Malformed SCRAM client-first")
        gs2 = m.group(1) + "," + m.group(2) + ","
        if m.group(1).startswith("p"):
            raise SaslAbort("535 5.7.8 channel binding not supported by this server")
        bare, user, cnonce = m.group(3), m.group(4).replace("=2C", ",").replace("=3D", "="), m.group(5)
        salt, iters = secrets.token_bytes(16), 4096
        nonce = cnonce + base64.b64encode(secrets.token_bytes(18)).decode()
        sfirst = "r=%s,s=%s,i=%d" % (nonce, base64.b64encode(salt).decode(), iters)
        cfinal = self.sasl_step(sfirst.encode()).decode(errors="replace")
        m2 = re.match(r"^c=([^,]*),r=([^,]*)(?:,.*)?,p=([^,]+)$", cfinal)
        if not m2 or m2.group(2) != nonce:
            raise SaslAbort("501 5.5.2 Malformed SCRAM client-final")
        if base64.b64decode(m2.group(1)) != gs2.encode():
            return user, False
        salted = hashlib.pbkdf2_hmac(hname, self.server.password.encode(), salt, iters)
        ckey = hmac.new(salted, b"Client Key", h).digest()
        stored = h(ckey).digest()
        authmsg = (bare + "," + sfirst + "," + cfinal[:cfinal.rindex(",p=")]).encode()
        csig = hmac.new(stored, authmsg, h).digest()
        proof = base64.b64decode(m2.group(3))
        ok = len(proof) == len(csig) and h(bytes(a ^ b for a, b in zip(proof, csig))).digest() == stored
        if not (ok and user == USER):
            return user, False
        skey = hmac.new(salted, b"Server Key", h).digest()
        ssig = hmac.new(skey, authmsg, h).digest()
        last = self.sasl_step(b"v=" + base64.b64encode(ssig))
        if last:
            raise SaslAbort("501 5.5.2 SCRAM: unexpected data after server-final")
        return user, True

    def sasl_scram_sha_1(self, initial):
        return self._scram(initial, "sha1")

    def sasl_scram_sha_256(self, initial):
        return self._scram(initial, "sha256")

    def _bearer_fail(self):
        err = json.dumps({"status": "invalid_token", "schemes": "bearer", "scope": "mail"}).encode()
        self.sasl_step(err)  # the client answers with an empty line or ^A

    def sasl_xoauth2(self, initial):
        data = self.initial_or_step(initial).decode(errors="replace")
        m = re.match(r"^user=([^\x01]*)\x01auth=Bearer ([^\x01]*)\x01\x01$", data)
        if not m:
            raise SaslAbort("501 5.5.2 Malformed XOAUTH2 response")
        ok = m.group(1) == USER and m.group(2) == self.server.password
        if not ok:
            self._bearer_fail()
        return m.group(1), ok

    def sasl_oauthbearer(self, initial):
        data = self.initial_or_step(initial).decode(errors="replace")
        m = re.match(r"^([ny]|p=[^,]*),(?:a=([^,]*))?,\x01(.*)\x01\x01$", data, re.S)
        if not m:
            raise SaslAbort("501 5.5.2 Malformed OAUTHBEARER response")
        kv = dict(p.split("=", 1) for p in m.group(3).split("\x01") if "=" in p)
        token = kv.get("auth", "")
        user = m.group(2) or ""
        ok = token == "Bearer " + self.server.password and user in ("", USER)
        if not ok:
            self._bearer_fail()
        return user, ok

    # ---- envelope
    def parse_path(self, arg, keyword):
        m = re.match(r"^%s:\s*<([^>]*)>(.*)$" % keyword, arg, re.I)
        if not m:
            return None, None
        params = {}
        for p in m.group(2).split():
            k, _, v = p.partition("=")
            params[k.upper()] = v if _ else True
        return m.group(1), params

    def cmd_mail(self, arg):
        if not self.ehlo_done:
            self.violation("MAIL before EHLO/HELO")
            self.reply("503 5.5.1 EHLO first")
            return
        if self.mail_from is not None:
            self.violation("MAIL inside a transaction")
            self.reply("503 5.5.1 Nested MAIL command")
            return
        self.mail_refused = True  # until a 2xx below says otherwise
        addr, params = self.parse_path(arg, "FROM")
        if addr is None:
            self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
            return
        for k, v in params.items():
            ok = {"SIZE": self.has_cap("SIZE"), "BODY": self.has_cap("8BITMIME") or v == "7BIT",
                  "SMTPUTF8": self.has_cap("SMTPUTF8"), "RET": self.has_cap("DSN"),
                  "ENVID": self.has_cap("DSN"), "AUTH": self.has_cap("AUTH")}.get(k, False)
            if not ok:
                self.violation("MAIL parameter %s not offered" % k)
                self.reply("555 5.5.4 Unsupported parameter %s" % k)
                return
        if "SMTPUTF8" not in params and any(ord(ch) > 127 for ch in addr):
            self.violation("non-ASCII sender without SMTPUTF8")
        handled, code = self.act("mail", addr, params)
        if handled:
            if code and code[0] == "2":
                self.mail_from, self.mail_params = addr, params
                self.mail_refused = False
            return
        limit = self.cap_value("SIZE")
        if "SIZE" in params and limit and limit[0].isdigit() and int(limit[0]) and \
                int(params["SIZE"]) > int(limit[0]):
            self.reply("552 5.3.4 Message size exceeds fixed maximum message size")
            return
        self.mail_from, self.mail_params = addr, params
        self.mail_refused = False
        self.reply("250 2.1.0 Sender OK")

    def cmd_rcpt(self, arg):
        if self.mail_from is None:
            # RFC 2920 3.1: a pipelining client sends its RCPTs before it
            # knows whether MAIL was accepted; after a refused MAIL they
            # get 503 but are no fault of the client.
            if not (self.has_cap("PIPELINING") and getattr(self, "mail_refused", False)):
                self.violation("RCPT without MAIL")
            self.reply("503 5.5.1 Need MAIL first")
            return
        addr, params = self.parse_path(arg, "TO")
        if addr is None:
            self.reply("501 5.5.4 Syntax: RCPT TO:<address>")
            return
        for k in params:
            if k not in ("NOTIFY", "ORCPT") or not self.has_cap("DSN"):
                self.violation("RCPT parameter %s not offered" % k)
                self.reply("555 5.5.4 Unsupported parameter %s" % k)
                return
        if "SMTPUTF8" not in self.mail_params and any(ord(ch) > 127 for ch in addr):
            self.violation("non-ASCII recipient without SMTPUTF8")
        idx = self.rcpt_index
        self.rcpt_index += 1
        handled, code = self.act("rcpt", idx, addr)
        entry = {"addr": addr, "params": params, "code": code or "250"}
        if handled:
            if code and code[0] == "2":
                self.rcpts.append(entry)
            else:
                self.summary.setdefault("rejected_rcpts", []).append(entry)
            return
        self.rcpts.append(entry)
        self.reply("250 2.1.5 Recipient OK")

    def cmd_data(self, arg):
        if self.mail_from is None:
            self.reply("503 5.5.1 Need MAIL first")
            return
        if not self.rcpts:
            self.reply("554 5.5.1 No valid recipients")
            return
        handled, code = self.act("data")
        if handled:
            if code != "354":
                return
        else:
            self.reply("354 End data with <CR><LF>.<CR><LF>")
        raw = self.read_dot_data()
        self.finish_message(raw, "DATA")

    def read_dot_data(self):
        """Read up to CRLF.CRLF; return the unstuffed message bytes."""
        self.flush_out()
        data = bytearray(b"\r\n")        # the CRLF that ended "DATA"
        data += self.buf
        self.buf.clear()
        start = 0
        while True:
            i = data.find(b"\r\n.\r\n", start)
            if i >= 0:
                break
            start = max(0, len(data) - 4)
            if not self.recv():
                raise ConnectionDone("eof inside DATA")
            data += self.buf
            self.buf.clear()
        self.buf += data[i + 5:]
        body = bytes(data[2:i + 2])
        self.rec.line(self.n, "C:", "<DATA: %d bytes incl. terminator>" % (len(body) + 3))
        self.check_canonical(body)
        lines = body.split(b"\r\n")
        out = []
        for ln in lines[:-1]:
            if len(ln) > 998:
                self.violation("DATA line longer than 1000 octets")
            out.append(ln[1:] if ln.startswith(b".") else ln)
        out.append(lines[-1])
        # A "." never appears alone before the terminator, so unstuffing is exact.
        return b"\r\n".join(out)

    def check_canonical(self, body):
        if re.search(rb"\r(?!\n)", body):
            self.violation("bare CR in message data")
        if re.search(rb"(?<!\r)\n", body):
            self.violation("bare LF in message data")
        if body and not body.endswith(b"\r\n"):
            self.violation("message data does not end with CRLF")

    def cmd_bdat(self, arg):
        m = re.match(r"^(\d+)(\s+LAST)?$", arg, re.I)
        if not m:
            self.reply("501 5.5.4 Syntax: BDAT size [LAST]")
            return
        size, last = int(m.group(1)), bool(m.group(2))
        if not self.has_cap("CHUNKING"):
            self.violation("BDAT without CHUNKING offered")
        while len(self.buf) < size:
            if not self.recv():
                raise ConnectionDone("eof inside BDAT")
        chunk = bytes(self.buf[:size])
        del self.buf[:size]
        self.check_pipelining("BDAT")
        self.rec.line(self.n, "C:", "<BDAT chunk: %d bytes%s>" % (size, " LAST" if last else ""))
        if getattr(self, "bdat_failed", False) or self.mail_from is None or not self.rcpts:
            self.bdat_failed = not last
            # Postfix's words when MAIL was taken and every RCPT refused.
            self.reply("503 5.5.1 No valid transaction" if self.mail_from is None else
                       "554 5.5.1 Error: no valid recipients" if not self.rcpts
                       else "554 5.5.0 Earlier BDAT failed")
            if last:
                self.reset_tx()
            return
        if not self.has_cap("CHUNKING"):
            self.reply("502 5.5.1 BDAT not offered")
            return
        self.bdat_buf = getattr(self, "bdat_buf", bytearray()) + chunk
        if not last:
            if not self.act("bdat", size)[0]:
                self.reply("250 2.0.0 %d octets received" % size)
            return
        body = bytes(self.bdat_buf)
        self.bdat_buf = bytearray()
        self.check_canonical(body)
        if any(len(ln) > 998 for ln in body.split(b"\r\n")):
            self.violation("BDAT line longer than 1000 octets")
        self.finish_message(body, "BDAT")

    def finish_message(self, body, via):
        declared = self.mail_params.get("SIZE")
        if declared is not None and str(declared).isdigit() and int(declared) != len(body):
            self.violation("SIZE=%s declared but message is %d octets" % (declared, len(body)))
        if re.search(rb"[\x80-\xff]", body):
            if self.mail_params.get("BODY", "").upper() != "8BITMIME" and "SMTPUTF8" not in self.mail_params:
                self.violation("8-bit data without BODY=8BITMIME")
        path = self.rec.save_message(body)
        msg = {"from": self.mail_from, "mail_params": self.mail_params,
               "rcpts": [r["addr"] for r in self.rcpts], "rcpt_params": [r["params"] for r in self.rcpts],
               "size": len(body), "sha256": hashlib.sha256(body).hexdigest(), "via": via, "file": path,
               "tls": self.tls, "authed": self.authed}
        self.summary["messages"].append(msg)
        self.reset_tx()
        handled, code = self.act("enddata")
        if handled:
            msg["reply"] = code
            return
        limit = self.cap_value("SIZE")
        if limit and limit[0].isdigit() and int(limit[0]) and len(body) > int(limit[0]):
            msg["reply"] = "552"
            self.reply("552 5.3.4 Message too big")
        elif self.summary["violations"]:
            msg["reply"] = "554"
            self.reply("554 5.7.0 test server: client violations: " + "; ".join(self.summary["violations"]))
        else:
            msg["reply"] = "250"
            self.reply("250 2.0.0 OK queued as FS%d" % self.rec.msg_count)


class SaslAbort(Exception):
    pass


class Server:
    def __init__(self, opts):
        self.opts = opts
        self.sc = SCENARIOS[opts.scenario]
        self.cert_dir = opts.cert_dir
        self.idle = opts.idle
        self.rec = Recorder(opts.log)
        self.rec.summary["scenario"] = self.sc.name
        self.password = PASSWORD
        if opts.password_file:
            with open(opts.password_file, encoding="utf-8") as f:
                self.password = f.read().rstrip("\n")
        self.threads = []

    def scenario_for(self, n):
        pc = self.sc.per_connection
        if pc:
            return SCENARIOS[pc[min(n, len(pc)) - 1]]
        return self.sc

    def handle(self, conn, n):
        sc = self.scenario_for(n)
        s = Session(self, conn, n, sc)
        self.rec.line(n, "--", "connection %d (scenario %s)" % (n, sc.name))
        try:
            try:
                if sc.special:
                    sc.special(s)
                else:
                    s.serve()
                s.summary["end"] = "server finished"
            except ConnectionDone as e:
                s.summary["end"] = str(e)
            except Exception as e:  # a bug in the test server: record it loudly
                s.summary["end"] = "server exception: %r" % e
                import traceback
                traceback.print_exc()
            try:
                s.flush_out()
            except ConnectionDone:
                pass
        finally:
            self.rec.line(n, "--", "end: %s" % s.summary["end"])
            try:
                s.sock.close()
            except OSError:
                pass
            if s.raw:
                s.raw.close()
            self.rec.write_summary()

    def run(self):
        fam = socket.AF_INET6 if ":" in self.opts.host else socket.AF_INET
        ls = socket.socket(fam, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((self.opts.host, 0))
        port = ls.getsockname()[1]
        self.rec.summary["port"] = port
        if self.sc.listen:
            ls.listen(16)
        if self.opts.portfile:
            tmp = self.opts.portfile + ".tmp"
            with open(tmp, "w") as f:
                f.write("%d\n" % port)
            os.replace(tmp, self.opts.portfile)
        self.rec.write_summary()
        n_conn = self.opts.connections if self.opts.connections is not None else self.sc.connections
        if not self.sc.listen or n_conn == 0:
            while True:          # hold the port until SIGTERM or the alarm
                time.sleep(3600)
        for n in range(1, n_conn + 1):
            conn, _ = ls.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t = threading.Thread(target=self.handle, args=(conn, n), daemon=True)
            t.start()
            self.threads.append(t)
        ls.close()
        for t in self.threads:
            t.join()
        self.rec.write_summary()


def list_scenarios():
    print("# envoi integration scenarios for tests/servers/faultserver.py (generated by --list).")
    print("# Columns (TAB-separated): scenario, extra envoi args ('-' = none), expected exit")
    print("# code ('a|b' = either, policy not fixed), description. Placeholders in args:")
    print("# {PORT} {HOST} {CA} {CERT_DIR} {GOOD_SHA256}. The runner adds --server={HOST}:{PORT}")
    print("# unless args hold --server=, --timeout=5 unless they hold --timeout=, and always")
    print("# --from=sender@example.com --to=rcpt@example.com --body=hello --ca-file={CA};")
    print("# it exports ENVOI_PASSWORD='s3cret-Pa55!' (used only with --user=tester).")
    print("# scenario\targs\texit\tdescription")
    for s in SCENARIOS.values():
        print("%s\t%s\t%s\t%s" % (s.name, s.args or "-", s.exit, s.doc))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario")
    ap.add_argument("--cert-dir", default=os.environ.get("CERT_DIR", "."))
    ap.add_argument("--portfile")
    ap.add_argument("--log")
    ap.add_argument("--connections", type=int)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--auth-mechs", help='override the AUTH list, e.g. "SCRAM-SHA-256 PLAIN"')
    ap.add_argument("--password-file", help="the password (or OAuth2 token) on the first line of FILE")
    ap.add_argument("--alarm", type=int, default=30, help="hard limit on the server's life (s)")
    ap.add_argument("--idle", type=float, default=20, help="per-read idle limit (s)")
    ap.add_argument("--list", action="store_true", help="print the scenario table (TSV)")
    opts = ap.parse_args()
    if opts.list:
        list_scenarios()
        return 0
    if opts.scenario not in SCENARIOS:
        ap.error("unknown scenario %r (see --list)" % opts.scenario)
    if opts.auth_mechs is not None:
        SCENARIOS[opts.scenario].auth_mechs = tuple(opts.auth_mechs.split())
    server = Server(opts)

    def on_alarm(sig, frame):
        server.rec.summary["alarm"] = True
        server.rec.write_summary()
        os._exit(3)

    def on_term(sig, frame):
        # The client may have exited the moment its last command (QUIT)
        # was written: let connections whose client is gone finish
        # reading, so that the summary holds everything sent.
        deadline = time.monotonic() + 2
        for t in list(server.threads):
            t.join(max(0.0, deadline - time.monotonic()))
        server.rec.summary["terminated"] = True
        server.rec.write_summary()
        os._exit(0)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.alarm(opts.alarm)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
