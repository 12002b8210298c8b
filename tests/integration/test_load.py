#!/usr/bin/python3
"""Load: 200 envoi processes at once against the test Exim (STARTTLS, AUTH),
each with its own attachment, its own subject and its body on standard input
(so each spools it into a temporary file). Every message arrives once and
intact (SHA-256 of the decoded attachment and body), no temporary file is left
behind in the private TMPDIR, no envoi process remains, all within 90 s."""
import email
import email.policy
import glob
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid

import servers
import tap

N = 200


def marked_processes(marker):
    """PIDs of live processes whose environment holds marker (envoi and
    anything it started inherit it; other tests' envoi do not have it)."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                with open(f"/proc/{d}/environ", "rb") as f:
                    if marker in f.read().split(b"\0"):
                        with open(f"/proc/{d}/stat") as st:
                            if st.read().rsplit(")", 1)[1].split()[0] != "Z":
                                pids.append(int(d))
            except OSError:
                pass
    return pids


class Load(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="envoi-load-exim-")
        cls.exim = servers.Exim(cls.dir)
        cls.env = cls.exim.env
        cls.work = tempfile.mkdtemp(prefix="envoi-load-")

    @classmethod
    def tearDownClass(cls):
        cls.exim.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)
        shutil.rmtree(cls.work, ignore_errors=True)

    def test_200_at_once(self):
        e = self.env
        run = uuid.uuid4().hex[:12]
        tmpdir = os.path.join(self.work, "tmp")
        os.makedirs(tmpdir)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
        env.update(HOME=self.work, TMPDIR=tmpdir, ENVOI_PASSWORD=e["PASS"], LOAD_TEST_MARK=run)
        want = {}
        procs = []
        start = time.monotonic()
        for i in range(N):
            token = f"load-{run}-{i:03d}"
            att = os.path.join(self.work, f"att-{i:03d}.bin")
            data = os.urandom(2000 + 997 * i)          # 2 KB .. 200 KB, all different
            with open(att, "wb") as f:
                f.write(data)
            body = (f"body of {token}\n" + ".\n" * i + "end\n").encode()
            want[token] = (hashlib.sha256(data).hexdigest(), body)
            p = subprocess.Popen([tap.ENVOI, "-S", f"127.0.0.1:{e['SUBMIT_PORT']}", "--ca-file", e["CA"],
                                  "-u", e["USER"], "--timeout=60", "-q",
                                  "-f", "load@example.com", "-s", token, "-a", att,
                                  "--body-file=-", "rcpt@example.com"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=env)
            procs.append((token, p, body))
        failures = []
        for token, p, body in procs:
            out, err = p.communicate(body, timeout=120)
            if p.returncode != 0:
                failures.append(f"{token}: exit {p.returncode}: {err.decode(errors='replace')}")
        sent = time.monotonic() - start
        self.assertEqual(failures, [], "\n".join(failures[:10]))
        # Delivery is asynchronous: wait for all N.
        got = {}
        deadline = time.monotonic() + 60
        while len(got) < N and time.monotonic() < deadline:
            for path in glob.glob(os.path.join(e["MAILDIR"], "new", "*")):
                if path in got.values():
                    continue
                with open(path, "rb") as f:
                    head = f.read(4096)
                if f"load-{run}-".encode() in head:
                    got.setdefault(path, path)
            time.sleep(0.2)
        total = time.monotonic() - start
        seen = {}
        for path in got:
            with open(path, "rb") as f:
                msg = email.message_from_bytes(f.read(), policy=email.policy.default)
            token = str(msg["Subject"])
            self.assertIn(token, want, f"unexpected subject {token}")
            self.assertNotIn(token, seen, f"{token} delivered twice")
            seen[token] = True
            atts = list(msg.iter_attachments())
            self.assertEqual(len(atts), 1, token)
            self.assertEqual(hashlib.sha256(atts[0].get_payload(decode=True)).hexdigest(),
                             want[token][0], f"{token}: attachment damaged")
            text = msg.get_body(("plain",)).get_payload(decode=True).replace(b"\r\n", b"\n")
            self.assertEqual(text, want[token][1], f"{token}: body damaged")
        self.assertEqual(len(seen), N, f"{N - len(seen)} messages missing after {total:.1f} s")
        self.assertLess(total, 90, f"took {total:.1f} s (sending {sent:.1f} s)")
        self.assertEqual(os.listdir(tmpdir), [], "temporary files left behind")
        self.assertEqual(marked_processes(f"LOAD_TEST_MARK={run}".encode()), [],
                         "envoi processes left behind")


if __name__ == "__main__":
    tap.main()
