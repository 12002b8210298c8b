#!/usr/bin/python3
"""--batch: JSON lines in, one JSON result per message out, against the
private Exim (delivery checked in its maildir) and the fault server's
fast plaintext scenario (bulk_rcpts: <refuse-...> recipients get 550)."""
import email
import email.policy
import glob
import json
import os
import resource
import select
import shutil
import socketserver
import threading
import subprocess
import tempfile
import time
import unittest
import uuid

import servers
import tap

SERVERS = servers.SERVERS


def child_peak_rss_kb(cmd, **kw):
    """Runs cmd in a fresh python child that reports the peak RSS of cmd
    (RUSAGE_CHILDREN of that child holds only cmd)."""
    code = ("import resource,subprocess,sys,json;"
            "a=json.loads(sys.argv[1]);"
            "r=subprocess.run(a['cmd'],stdin=open(a['stdin'],'rb'),stdout=open(a['stdout'],'wb'),"
            "stderr=subprocess.DEVNULL,env=a['env']);"
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run(["/usr/bin/python3", "-c", code, json.dumps(dict(cmd=cmd, **kw))],
                         capture_output=True, text=True, timeout=900, check=True).stdout.split()
    return int(out[0]), int(out[1])


class Sink(socketserver.StreamRequestHandler):
    """A minimal fast SMTP server for 20,000 connections: the fault
    server records every connection in one summary it rewrites, which
    grows quadratic at that count. Replies in order, so pipelining works."""
    disable_nagle_algorithm = True  # else each reply waits for a delayed ACK (40 ms)

    def handle(self):
        w = self.wfile
        w.write(b"220 sink ESMTP\r\n")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                w.write(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                w.write(b"354 go ahead\r\n")
                while self.rfile.readline() not in (b".\r\n", b""):
                    pass
                self.server.messages += 1
                w.write(b"250 2.0.0 queued as S%d\r\n" % self.server.messages)
            elif verb == b"QUIT":
                w.write(b"221 bye\r\n")
                return
            else:
                w.write(b"250 ok\r\n")


class SinkServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    messages = 0


class Batch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="envoi-batch-")
        cls.exim = servers.Exim(os.path.join(cls.dir, "exim"))
        cls.env = cls.exim.env
        cls.work = os.path.join(cls.dir, "work")
        os.makedirs(cls.work)
        cls.faults = []

    @classmethod
    def tearDownClass(cls):
        for d in cls.faults:
            servers.fault_stop(d)
        cls.exim.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def clean_env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
        env["HOME"] = self.work
        env["ENVOI_PASSWORD"] = self.env["PASS"]
        return env

    def exim_args(self):
        e = self.env
        return ["-S", f"127.0.0.1:{e['SUBMIT_PORT']}", "--ca-file", e["CA"], "-u", e["USER"]]

    def run_batch(self, lines, *args, server=None, timeout=300):
        text = "".join(line + "\n" for line in lines)
        r = subprocess.run([tap.ENVOI, "--batch=-", *(server or self.exim_args()), *args],
                           input=text.encode(), capture_output=True, env=self.clean_env(),
                           timeout=timeout)
        results = [json.loads(x) for x in r.stdout.decode().splitlines()]
        return r, results

    def fault(self, scenario, connections, alarm=60, login=False, idle=20):
        """The fault server's arguments for envoi; login: STARTTLS and AUTH;
        idle: seconds the server waits for a command before it hangs up."""
        d = os.path.join(self.dir, f"fault-{len(self.faults)}")
        certs = os.path.join(self.dir, "certs")
        port = servers.fault_start(scenario, d, certs, "--connections", str(connections),
                                   "--alarm", str(alarm), "--idle", str(idle))
        self.faults.append(d)
        if login:
            return ["-S", f"127.0.0.1:{port}", "--tls=starttls", "--ca-file",
                    os.path.join(certs, "ca.pem"), "-u", "tester"]
        return ["-S", f"127.0.0.1:{port}", "--tls=none"]

    def fault_summary(self):
        """The last fault server's summary, once it has stopped."""
        servers.fault_stop(self.faults[-1])
        return servers.fault_logs(self.faults[-1])[1]

    @staticmethod
    def rcpts_by_connection(summary):
        """{connection number: [first recipient of each message it took]}."""
        return {c["n"]: [m["rcpts"][0] for m in c["messages"]] for c in summary["connections"]}

    def coprocess(self, args):
        """envoi --batch=- with unbuffered pipes (select sees every byte)."""
        p = subprocess.Popen([tap.ENVOI, "--batch=-", *args], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.clean_env(),
                             bufsize=0)

        def cleanup():
            if p.poll() is None:
                p.kill()
                p.wait()
            for f in (p.stdin, p.stdout, p.stderr):
                f.close()
        self.addCleanup(cleanup)
        return p

    def result(self, p, timeout=30):
        """The coprocess's next result line; fails (never hangs) when none
        comes within timeout."""
        line = b""
        deadline = time.time() + timeout
        while not line.endswith(b"\n"):
            ready, _, _ = select.select([p.stdout], [], [], max(0, deadline - time.time()))
            if not ready:
                self.fail(f"no result within {timeout} s (got {line!r})")
            byte = p.stdout.read(1)
            if not byte:
                self.fail(f"envoi closed its output (got {line!r})")
            line += byte
        return json.loads(line)

    def ask(self, p, obj):
        """Writes one line to the coprocess and reads one result."""
        p.stdin.write((json.dumps(obj) + "\n").encode())
        return self.result(p)

    def delivered(self, token, count, timeout=30):
        return servers.maildir_copies(self.env["MAILDIR"], token, count, timeout)

    def test_ids_echoed_and_defaults(self):
        token = uuid.uuid4().hex
        lines = [json.dumps({"id": 7, "subject": f"{token} one"}),
                 "",
                 json.dumps({"id": {"order": [1, "a"]}, "to": "c@example.com",
                             "subject": f"{token} two", "body": "own body"}),
                 json.dumps({"subject": f"{token} three"})]
        r, res = self.run_batch(lines, "-f", "a@example.com", "-m", "default body",
                                "b@example.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([x["line"] for x in res], [1, 3, 4])
        self.assertEqual([x["id"] for x in res], [7, {"order": [1, "a"]}, None])
        self.assertEqual({x["status"] for x in res}, {"sent"})
        for x in res:
            self.assertEqual(x["exit_code"], 0)
            self.assertIsNone(x["class"])
            self.assertTrue(x["queue_id"])
            self.assertGreater(x["bytes"], 0)
            self.assertIsInstance(x["elapsed_ms"], int)
        self.assertEqual({x["connection"] for x in res}, {1})  # one session carried them all
        self.assertEqual([rc["address"] for rc in res[1]["recipients"]], ["c@example.com"])
        self.assertTrue(res[1]["recipients"][0]["reply"].startswith("250"))
        two = self.delivered(f"{token} two", 1)[0]
        self.assertEqual(two["To"], "c@example.com")  # the key replaced the default
        self.assertIn("own body", two.get_content())
        one = self.delivered(f"{token} one", 1)[0]
        self.assertEqual(one["To"], "b@example.com")
        self.assertIn("default body", one.get_content())
        self.assertIn("envoi: batch: 3 sent", r.stderr.decode())

    def test_email_message_shape(self):
        token = uuid.uuid4().hex
        att = os.path.join(self.work, "shape.txt")
        with open(att, "w") as f:
            f.write("attached " + token)
        base = {"From": {"Name": "Ann, Sender", "Address": "a@example.com"},
                "To": ["b@example.com"], "Cc": None, "Bcc": ["hidden@example.com"],
                "Attachments": [att]}
        lines = [json.dumps(dict(base, Subject=f"{token} html", Body="<p>Hi <b>there</b></p>",
                                 BodyFormat="EmailMessageBodyFormat.Html",
                                 Priority="EmailMessagePriority.High")),
                 json.dumps(dict(base, Subject=f"{token} text", Body="plain words",
                                 BodyFormat=None, Priority="low")),
                 json.dumps(dict(base, Subject=f"{token} null", Body="x", Priority=None,
                                 BodyFormat="Text"))]
        r, res = self.run_batch(lines, "-q")
        self.assertEqual(r.returncode, 0, res)
        self.assertEqual(r.stderr, b"")  # --quiet: no summary
        self.assertEqual([rc["address"] for rc in res[0]["recipients"]],
                         ["b@example.com", "hidden@example.com"])
        html = self.delivered(f"{token} html", 2)
        self.assertEqual(len(html), 2)  # To and the Bcc recipient
        for m in html:
            self.assertNotIn("Bcc", m)
            for name, value in m.items():  # Exim's Envelope-to names the copy's recipient
                if name.lower() != "envelope-to":
                    self.assertNotIn("hidden", value, name)
            self.assertEqual(m["X-Priority"][:1], "1")
            self.assertEqual(str(m["From"]), '"Ann, Sender" <a@example.com>')
            body = m.get_body(("html", "plain"))
            self.assertEqual(body.get_content_type(), "text/html")
            self.assertIn("<b>there</b>", body.get_content())
            names = [p.get_filename() for p in m.iter_attachments()]
            self.assertEqual(names, ["shape.txt"])
        text = self.delivered(f"{token} text", 2)[0]
        self.assertEqual(text.get_body(("html", "plain")).get_content_type(), "text/plain")
        self.assertEqual(text["X-Priority"][:1], "5")
        null = self.delivered(f"{token} null", 2)[0]
        self.assertIsNone(null["X-Priority"])

    def test_bad_lines_in_the_middle(self):
        token = uuid.uuid4().hex
        ok = json.dumps({"to": "b@example.com", "subject": token})
        lines = [ok,
                 "{not json",
                 json.dumps({"to": "b@example.com", "bogus": 1, "id": "u"}),
                 json.dumps({"attach": "x", "Attachments": ["y"], "id": "dup"}),
                 '{"to": "b@example.com", "to": "c@example.com"}',
                 json.dumps({"to": "not an address"}),
                 json.dumps({"to": "b@example.com", "header": "X-A: one\r\nBcc: evil@example.com"}),
                 json.dumps({"to": "b@example.com", "attach": "/nonexistent/file"}),
                 json.dumps({"to": "b@example.com", "body-file": "-"}),
                 "[1, 2]",
                 "",
                 ok]
        r, res = self.run_batch(lines, "-f", "a@example.com")
        self.assertEqual(r.returncode, 79, r.stderr)
        # a bad line's result comes the moment it is read, before the
        # outcome of a message in flight: compare in line order
        res.sort(key=lambda x: x["line"])
        got = [(x["line"], x["status"], x["exit_code"]) for x in res]
        self.assertEqual(got, [(1, "sent", 0), (2, "failed", 65), (3, "failed", 64),
                               (4, "failed", 64), (5, "failed", 64), (6, "failed", 64),
                               (7, "failed", 65), (8, "failed", 66), (9, "failed", 64),
                               (10, "failed", 65), (12, "sent", 0)])
        self.assertEqual(res[2]["id"], "u")  # echoed even when the line fails
        self.assertEqual(res[3]["id"], "dup")
        self.assertIn("bogus", res[2]["error"])
        for x in res[1:-1]:
            self.assertIsNone(x["connection"])
            self.assertEqual(x["recipients"], [])
        self.assertEqual(len(self.delivered(token, 2)), 2)
        self.assertIn("2 sent, 0 partial, 9 failed", r.stderr.decode())

    def test_server_refusals_per_message(self):
        server = self.fault("bulk_rcpts", 4)
        lines = [json.dumps({"id": 1, "to": "ok@example.com"}),
                 json.dumps({"id": 2, "to": ["ok@example.com", "refuse-1@example.com"]}),
                 json.dumps({"id": 3, "to": "refuse-2@example.com"}),
                 json.dumps({"id": 4, "to": "ok2@example.com"})]
        r, res = self.run_batch(lines, "-f", "a@example.com", server=server)
        self.assertEqual(r.returncode, 79, r.stderr)
        self.assertEqual([(x["id"], x["status"], x["exit_code"]) for x in res],
                         [(1, "sent", 0), (2, "partial", 87), (3, "failed", 88), (4, "sent", 0)])
        self.assertEqual([rc["accepted"] for rc in res[1]["recipients"]], [True, False])
        self.assertTrue(res[1]["recipients"][1]["reply"].startswith("550"))

    def test_session_failure_before_first_message(self):
        closed = subprocess.run(["/usr/bin/python3", os.path.join(SERVERS, "freeport.py"),
                                 "--closed"], capture_output=True, text=True).stdout.strip()
        lines = [json.dumps({"id": i, "to": "b@example.com"}) for i in range(3)]
        lines.insert(1, "not json")
        for connections in ("1", "2"):
            r, res = self.run_batch(lines, "-f", "a@example.com", "--connections=" + connections,
                                    server=["-S", f"127.0.0.1:{closed}", "--tls=none"])
            self.assertEqual(r.returncode, 69, (connections, r.stderr))
            self.assertEqual(sorted((x["line"], x["exit_code"]) for x in res),
                             [(1, 69), (2, 65), (3, 69), (4, 69)], connections)
            self.assertEqual({x["connection"] for x in res}, {None})
            # said once, however many sessions met it
            self.assertEqual(r.stderr.decode().count("connection refused"), 1, r.stderr)

    def test_results_flushed_line_by_line(self):
        """A coprocess: each result is read before the next line is written."""
        p = self.coprocess([*self.exim_args(), "-f", "a@example.com", "b@example.com"])
        for i in range(3):
            x = self.ask(p, {"id": i, "subject": f"coproc {i}"})
            self.assertEqual((x["id"], x["status"]), (i, "sent"))
        p.stdin.write(b"\n{bad\n")
        self.assertEqual(self.result(p)["line"], 5)
        p.stdin.close()
        self.assertEqual(p.wait(timeout=60), 79)

    def test_big_messages_in_one_batch(self):
        """1,000 recipients and a 50 MB attachment, one after the other.
        On Exim's plaintext port: through STARTTLS the one-shot engine
        loses the connection with 1,000 pipelined RCPTs before BDAT (also
        without --batch; left to the engine work)."""
        token = uuid.uuid4().hex
        big = os.path.join(self.work, "big.bin")
        with open(big, "wb") as f:
            f.write(os.urandom(50 * 1024 * 1024))
        rcpts = [f"r{i}-{token}@example.com" for i in range(1000)]
        lines = [json.dumps({"id": "many", "to": rcpts, "subject": f"{token} many"}),
                 json.dumps({"id": "big", "to": "b@example.com", "attach": big,
                             "subject": f"{token} big"})]
        server = ["-S", f"127.0.0.1:{self.env['PLAIN_PORT']}", "--tls=none"]
        r, res = self.run_batch(lines, "-f", "a@example.com", server=server)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(res[0]["recipients"]), 1000)
        self.assertTrue(all(x["accepted"] for x in res[0]["recipients"]))
        self.assertGreater(res[1]["bytes"], 50 * 1024 * 1024)
        got = self.delivered(f"{token} big", 1, timeout=60)[0]
        part = next(got.iter_attachments())
        with open(big, "rb") as f:
            self.assertEqual(part.get_content(), f.read())

    def test_rate(self):
        server = self.fault("bulk_rcpts", 4)
        lines = [json.dumps({"to": "ok@example.com"}) for _ in range(4)]
        start = time.time()
        r, res = self.run_batch(lines, "-f", "a@example.com", "--rate=2/s", server=server)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreaterEqual(time.time() - start, 1.0)  # the 3rd waits for the 1st's second

    def test_options_checked(self):
        for args in (["--batch=-", "--connections=17"], ["--batch=-", "--connections=0"],
                     ["--batch=-", "--rate=5"], ["--batch=-", "--rate=5/d"],
                     ["--batch=-", "--max-per-connection=0"], ["--rate=1/s"],
                     ["--batch=-", "--dry-run"]):
            r = subprocess.run([tap.ENVOI, "-S", "127.0.0.1:1", *args], capture_output=True,
                               stdin=subprocess.DEVNULL, env=self.clean_env(), timeout=30)
            self.assertEqual(r.returncode, 64, (args, r.stderr))
        r = subprocess.run([tap.ENVOI, "-S", "127.0.0.1:1", "--batch=/nonexistent"],
                           capture_output=True, env=self.clean_env(), timeout=30)
        self.assertEqual(r.returncode, 66)

    # ---- one session for many messages (branch batchsess) ----

    def test_one_session_one_login_for_many(self):
        server = self.fault("ok", 3, login=True)
        lines = [json.dumps({"id": i, "to": f"m{i}@example.com"}) for i in range(10)]
        r, res = self.run_batch(lines, "-f", "a@example.com", server=server)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([x["connection"] for x in res], [1] * 10)
        summary = self.fault_summary()
        self.assertEqual(len(summary["connections"]), 1)
        conn = summary["connections"][0]
        self.assertEqual([c.split()[0] for c in conn["commands"]].count("AUTH"), 1)
        self.assertTrue(conn["auth"]["ok"])
        self.assertEqual(self.rcpts_by_connection(summary)[1],
                         [f"m{i}@example.com" for i in range(10)])
        self.assertEqual(conn["end"], "quit")
        self.assertEqual(conn["violations"], [])

    def test_421_mid_batch_resends_what_was_not_taken(self):
        server = self.fault("batch_421_third_mail", 2)
        lines = [json.dumps({"id": i, "to": f"m{i}@example.com"}) for i in range(6)]
        r, res = self.run_batch(lines, "-f", "a@example.com", server=server)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual({x["id"]: (x["status"], x["connection"]) for x in res},
                         {0: ("sent", 1), 1: ("sent", 1), 2: ("sent", 2), 3: ("sent", 2),
                          4: ("sent", 2), 5: ("sent", 2)})
        got = self.rcpts_by_connection(self.fault_summary())
        self.assertEqual(got, {1: ["m0@example.com", "m1@example.com"],
                               2: [f"m{i}@example.com" for i in range(2, 6)]})

    def test_dropped_after_data_is_75_and_not_resent(self):
        server = self.fault("batch_drop_after_second_data", 2)
        lines = [json.dumps({"id": i, "to": f"m{i}@example.com"}) for i in range(5)]
        r, res = self.run_batch(lines, "-f", "a@example.com", server=server)
        self.assertEqual(r.returncode, 79, r.stderr)
        by_id = {x["id"]: x for x in res}
        self.assertEqual(len(res), 5)
        self.assertEqual((by_id[1]["status"], by_id[1]["exit_code"], by_id[1]["connection"]),
                         ("failed", 75, 1))
        self.assertIn("may have been delivered", by_id[1]["error"])
        self.assertEqual(by_id[1]["error"].count("may have been delivered"), 1, by_id[1]["error"])
        self.assertEqual({i: (by_id[i]["status"], by_id[i]["connection"]) for i in (0, 2, 3, 4)},
                         {0: ("sent", 1), 2: ("sent", 2), 3: ("sent", 2), 4: ("sent", 2)})
        got = self.rcpts_by_connection(self.fault_summary())
        # the server has message 1 (it read the data): never a second copy
        self.assertEqual(got, {1: ["m0@example.com", "m1@example.com"],
                               2: ["m2@example.com", "m3@example.com", "m4@example.com"]})

    def test_idle_session_ended_then_reopened(self):
        server = self.fault("ok", 2)
        p = self.coprocess([*server, "--timeout=1", "-f", "a@example.com"])
        first = self.ask(p, {"id": 1, "to": "m1@example.com"})
        self.assertEqual((first["status"], first["connection"]), ("sent", 1))
        time.sleep(2.5)  # longer than --timeout without a line
        second = self.ask(p, {"id": 2, "to": "m2@example.com"})
        self.assertEqual((second["status"], second["connection"]), ("sent", 2))
        p.stdin.close()
        self.assertEqual(p.wait(timeout=30), 0)
        summary = self.fault_summary()
        ends = [(c["n"], c["commands"][-1], c["end"]) for c in summary["connections"]]
        self.assertEqual(ends, [(1, "QUIT", "quit"), (2, "QUIT", "quit")])

    def test_session_closed_by_the_server_while_idle(self):
        """The server hangs up on an idle session before --timeout: the
        next message goes on a new one, transparently."""
        server = self.fault("ok", 2, idle=1)
        p = self.coprocess([*server, "--timeout=20", "-f", "a@example.com"])
        first = self.ask(p, {"id": 1, "to": "m1@example.com"})
        self.assertEqual((first["status"], first["connection"]), ("sent", 1))
        time.sleep(2)  # the server has hung up (without a 421)
        second = self.ask(p, {"id": 2, "to": "m2@example.com"})
        self.assertEqual((second["status"], second["connection"]), ("sent", 2))
        p.stdin.close()
        self.assertEqual(p.wait(timeout=30), 0)
        self.assertEqual(self.rcpts_by_connection(self.fault_summary()),
                         {1: ["m1@example.com"], 2: ["m2@example.com"]})

    def test_session_kept_while_lines_come_within_timeout(self):
        server = self.fault("ok", 2)
        p = self.coprocess([*server, "--timeout=3", "-f", "a@example.com"])
        for i in range(3):
            x = self.ask(p, {"id": i, "to": f"m{i}@example.com"})
            self.assertEqual((x["status"], x["connection"]), ("sent", 1))
            time.sleep(1)
        p.stdin.close()
        self.assertEqual(p.wait(timeout=30), 0)
        self.assertEqual(len(self.fault_summary()["connections"]), 1)

    def test_retry_per_message(self):
        """The 1st MAIL gets 451: --retry=1 sends that message again (same
        session); without --retry it fails 75 and the next still goes."""
        for retry, first in (("--retry=1", ("sent", 0)), ("--retry=0", ("failed", 75))):
            server = self.fault("batch_451_first_mail", 1)
            lines = [json.dumps({"id": i, "to": f"m{i}@example.com"}) for i in range(2)]
            r, res = self.run_batch(lines, "-f", "a@example.com", retry, server=server)
            by_id = {x["id"]: (x["status"], x["exit_code"]) for x in res}
            self.assertEqual(by_id, {0: first, 1: ("sent", 0)}, retry)
            got = self.rcpts_by_connection(self.fault_summary())
            taken = ["m0@example.com", "m1@example.com"] if first[0] == "sent" else ["m1@example.com"]
            self.assertEqual(sorted(got[1]), taken)

    def test_server_that_never_takes_it(self):
        """Every session ends at MAIL FROM (421): the message goes on 4
        sessions, then fails 75; the run never loops."""
        server = self.fault("421_at_mail", 6)
        r, res = self.run_batch([json.dumps({"to": "m@example.com"})], "-f", "a@example.com",
                                server=server)
        self.assertEqual(r.returncode, 79, r.stderr)
        self.assertEqual((res[0]["status"], res[0]["exit_code"], res[0]["connection"]),
                         ("failed", 75, 4))
        self.assertEqual(len(self.fault_summary()["connections"]), 4)

    def test_dsn_per_message_on_one_session(self):
        """A line's dsn-notify is its own, though the session is shared."""
        server = self.fault("ok_dsn_utf8", 2)
        lines = [json.dumps({"to": "m0@example.com"}),
                 json.dumps({"to": "m1@example.com", "dsn-notify": "SUCCESS"}),
                 json.dumps({"to": "m2@example.com"})]
        r, res = self.run_batch(lines, "-f", "a@example.com", server=server)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([x["connection"] for x in res], [1, 1, 1])
        summary = self.fault_summary()
        params = [(m["rcpts"][0], m["rcpt_params"][0].get("NOTIFY"))
                  for m in summary["connections"][0]["messages"]]
        self.assertEqual(params, [("m0@example.com", None), ("m1@example.com", "SUCCESS"),
                                  ("m2@example.com", None)])

    def test_max_per_connection(self):
        server = self.fault("ok", 4)
        lines = [json.dumps({"id": i, "to": f"m{i}@example.com"}) for i in range(5)]
        r, res = self.run_batch(lines, "-f", "a@example.com", "--max-per-connection=2",
                                server=server)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([x["connection"] for x in sorted(res, key=lambda x: x["line"])],
                         [1, 1, 2, 2, 3])
        summary = self.fault_summary()
        self.assertEqual(self.rcpts_by_connection(summary),
                         {1: ["m0@example.com", "m1@example.com"],
                          2: ["m2@example.com", "m3@example.com"], 3: ["m4@example.com"]})
        self.assertEqual([c["end"] for c in summary["connections"]], ["quit"] * 3)

    def preopen_run(self, scenario):
        """6 messages, 2 a session, on a fault scenario: (exit, results in
        line order, summary, transcript lines)."""
        server = self.fault(scenario, 4)
        lines = [json.dumps({"id": i, "to": f"m{i}@example.com"}) for i in range(6)]
        r, res = self.run_batch(lines, "-f", "a@example.com", "--max-per-connection=2",
                                server=server)
        summary = self.fault_summary()
        with open(os.path.join(self.faults[-1], "log.txt"), encoding="utf-8") as f:
            log = f.read().splitlines()
        return r, sorted(res, key=lambda x: x["line"]), summary, log

    @staticmethod
    def first_line(log, prefix):
        return next(i for i, line in enumerate(log) if line.startswith(prefix))

    def test_max_per_connection_opens_next_ahead(self):
        """A spent session's last replies and the next session's set-up
        overlap: connection n+1 is greeted before connection n's QUIT."""
        r, res, summary, log = self.preopen_run("preopen_slow")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([x["connection"] for x in res], [1, 1, 2, 2, 3, 3])
        self.assertEqual(self.rcpts_by_connection(summary),
                         {1: ["m0@example.com", "m1@example.com"],
                          2: ["m2@example.com", "m3@example.com"],
                          3: ["m4@example.com", "m5@example.com"]})
        self.assertEqual(summary["messages"], 6)
        self.assertEqual([c["end"] for c in summary["connections"]], ["quit"] * 3)
        for n in (1, 2):
            self.assertLess(self.first_line(log, f"[{n + 1}] S: 220"),
                            self.first_line(log, f"[{n}] C: QUIT"), "\n".join(log))
            # but its first transaction waits for the QUIT
            self.assertLess(self.first_line(log, f"[{n}] C: QUIT"),
                            self.first_line(log, f"[{n + 1}] C: MAIL"), "\n".join(log))

    def test_max_per_connection_next_refused(self):
        """The session opened ahead is refused (554 greeting): as when a
        session opened in turn is, the message it was for fails with 69,
        and the next one opens a new session, numbered 2."""
        r, res, summary, log = self.preopen_run("preopen_second_554")
        self.assertEqual(r.returncode, 79, r.stderr)
        self.assertEqual([(x["status"], x["exit_code"], x["connection"]) for x in res],
                         [("sent", 0, 1), ("sent", 0, 1), ("failed", 69, None),
                          ("sent", 0, 2), ("sent", 0, 2), ("sent", 0, 3)])
        self.assertEqual(self.rcpts_by_connection(summary),
                         {1: ["m0@example.com", "m1@example.com"], 2: [],
                          3: ["m3@example.com", "m4@example.com"], 4: ["m5@example.com"]})
        self.assertEqual(summary["messages"], 5)
        # it was the session opened ahead that was refused
        self.assertLess(self.first_line(log, "[2] S: 554"), self.first_line(log, "[1] C: QUIT"),
                        "\n".join(log))

    def test_max_per_connection_tls_login_each_session(self):
        """Exim, STARTTLS and AUTH on every session, one opened ahead each
        time (a handshake and a login off the main thread): each message
        delivered once, two a session."""
        token = uuid.uuid4().hex
        n = 12
        lines = [json.dumps({"id": i, "subject": f"{token} n{i}."}) for i in range(n)]
        r, res = self.run_batch(lines, "-f", "a@example.com", "b@example.com",
                                "--max-per-connection=2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([x["connection"] for x in sorted(res, key=lambda x: x["line"])],
                         [1 + i // 2 for i in range(n)])
        self.delivered(token, n)
        time.sleep(1)  # a duplicate would arrive by now
        got = self.delivered(token, n + 1, timeout=0)
        self.assertEqual(sorted(str(m["Subject"]).split()[-1] for m in got),
                         sorted(f"n{i}." for i in range(n)))

    def test_connections_parallel_sessions(self):
        token = uuid.uuid4().hex
        n = 12
        lines = [json.dumps({"id": i, "subject": f"{token} n{i}."}) for i in range(n)]
        lines.insert(5, "{bad")
        r, res = self.run_batch(lines, "-f", "a@example.com", "b@example.com",
                                "--connections=3")
        self.assertEqual(r.returncode, 79, r.stderr)
        self.assertEqual(sorted(x["line"] for x in res), list(range(1, n + 2)))
        good = [x for x in res if x["line"] != 6]
        self.assertEqual({x["status"] for x in good}, {"sent"})
        self.assertEqual({x["connection"] for x in good}, {1, 2, 3})
        self.assertEqual(sorted(x["id"] for x in good), list(range(n)))
        self.assertEqual(next(x for x in res if x["line"] == 6)["exit_code"], 65)
        got = self.delivered(token, n)
        time.sleep(1)  # a duplicate would arrive by now
        got = self.delivered(token, n + 1, timeout=0)
        subjects = sorted(str(m["Subject"]).split()[-1] for m in got)
        self.assertEqual(subjects, sorted(f"n{i}." for i in range(n)))
        self.assertIn(f"{n} sent, 0 partial, 1 failed", r.stderr.decode())

    def test_connections_three_sessions_on_the_server(self):
        server = self.fault("ok", 4)
        lines = [json.dumps({"id": i, "to": f"m{i}@example.com"}) for i in range(9)]
        r, res = self.run_batch(lines, "-f", "a@example.com", "--connections=3", server=server)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = self.rcpts_by_connection(self.fault_summary())
        self.assertEqual(len(got), 3)
        self.assertEqual(sorted(a for v in got.values() for a in v),
                         sorted(f"m{i}@example.com" for i in range(9)))

    def test_rate_across_connections(self):
        server = self.fault("bulk_rcpts", 4)
        lines = [json.dumps({"to": "ok@example.com"}) for _ in range(6)]
        start = time.time()
        r, res = self.run_batch(lines, "-f", "a@example.com", "--rate=2/s", "--connections=2",
                                server=server)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(res), 6)
        # 2 per second in all: the 5th waits for the 3rd's second, which
        # waited for the 1st's; each worker alone would allow 3 in 1 s
        self.assertGreaterEqual(time.time() - start, 2.0)

    def test_connections_results_flushed_line_by_line(self):
        p = self.coprocess([*self.exim_args(), "-f", "a@example.com", "b@example.com",
                            "--connections=2"])
        for i in range(4):
            x = self.ask(p, {"id": i, "subject": f"coproc parallel {i}"})
            self.assertEqual((x["id"], x["status"]), (i, "sent"))
        p.stdin.close()
        self.assertEqual(p.wait(timeout=60), 0)

    def test_dead_worker_lines_reported(self):
        server = self.fault("stall_after_data", 2)
        p = self.coprocess([*server, "-f", "a@example.com", "--connections=2", "--timeout=30"])
        p.stdin.write((json.dumps({"id": "stuck", "to": "m@example.com"}) + "\n").encode())
        deadline = time.time() + 10
        while time.time() < deadline:  # the message's data has reached the server
            with open(os.path.join(self.faults[-1], "log.txt"), errors="replace") as f:
                if "DATA:" in f.read():
                    break
            time.sleep(0.1)
        children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(p.pid)],
                                  capture_output=True, text=True).stdout.split()
        self.assertEqual(len(children), 2)
        for pid in children:
            os.kill(int(pid), 9)
        x = self.result(p)
        self.assertEqual((x["id"], x["status"], x["exit_code"]), ("stuck", "failed", 75))
        self.assertIn("may have been delivered", x["error"])
        p.stdin.write(b'{"to": "n@example.com"}\n')
        p.stdin.close()
        x = self.result(p)
        self.assertEqual((x["line"], x["exit_code"]), (2, 70))
        self.assertEqual(p.wait(timeout=30), 79)

    def test_twenty_thousand_lines_flat_memory(self):
        if tap.SANITIZED:
            # ASan holds freed memory in its quarantine (256 MB by default),
            # so RSS grows with every allocation; leaks are LSan's job there.
            self.skipTest("sanitizer build: ASan's quarantine makes RSS grow")
        n = 20000
        sink = SinkServer(("127.0.0.1", 0), Sink)
        threading.Thread(target=sink.serve_forever, daemon=True).start()
        self.addCleanup(sink.server_close)
        self.addCleanup(sink.shutdown)
        server = ["-S", f"127.0.0.1:{sink.server_address[1]}", "--tls=none"]
        env = self.clean_env()
        rss = {}
        for count in (200, n):
            src = os.path.join(self.work, f"lines-{count}.jsonl")
            with open(src, "w") as f:
                for i in range(count):
                    f.write(json.dumps({"id": i, "to": f"r{i}@example.com",
                                        "subject": f"message {i}"}) + "\n")
            out = os.path.join(self.work, f"out-{count}.jsonl")
            rc, rss[count] = child_peak_rss_kb([tap.ENVOI, "--batch=-", *server, "-f",
                                                "a@example.com", "-q"], stdin=src,
                                               stdout=out, env=env)
            with open(out) as f:
                res = [json.loads(x) for x in f]
            self.assertEqual(rc, 0, next((x for x in res if x["status"] != "sent"), None))
            self.assertEqual(len(res), count)
            self.assertEqual(res[-1]["id"], count - 1)
            self.assertTrue(all(x["status"] == "sent" for x in res))
        print(f"# peak RSS: 200 lines {rss[200]} kB, {n} lines {rss[n]} kB", flush=True)
        self.assertLess(rss[n], rss[200] + 2048)
        self.assertEqual(sink.messages, n + 200)


if __name__ == "__main__":
    tap.main()
