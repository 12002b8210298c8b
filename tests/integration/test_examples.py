#!/usr/bin/python3
"""The examples of the README and of the man page, run for real against a
private Exim: each must exit 0. The examples name real providers; a
wrapper appends --server, --ca-file, --user and --auth=PLAIN for the
test server (same level, last value wins) and ENVOI_PASSWORD gives the
password, so every example's own options and accounts are exercised and
only the endpoint changes."""
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

import servers
import tap

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CRON = re.compile(r"^(\S+\s+){5}(?P<cmd>.*)$")


def readme_blocks():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    blocks = re.findall(r"```(\w+)\n(.*?)```", text, re.S)
    config = [b for lang, b in blocks if lang == "ini"]
    scripts = [b for lang, b in blocks if lang == "sh"]
    for lang, b in blocks:
        if lang == "yaml":
            scripts += [m.replace("${{ github.run_number }}", "42")
                        for m in re.findall(r"run: (.*)", b)]
    return config, scripts


def readme_python():
    """The README's Python examples (```python blocks), each a whole program."""
    with open(os.path.join(ROOT, "README.md")) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def man_unescape(s):
    for a, b in ((r"\(aq", "'"), (r"\(dq", '"'), (r"\[u00FC]", "ü"), (r"\[u00DF]", "ß"),
                 (r"\%", ""), (r"\-", "-"), (r"\e", "\\")):
        s = s.replace(a, b)
    return s


def man_blocks(section):
    with open(os.path.join(ROOT, "man", "envoi.1")) as f:
        text = f.read()
    head = f'.SH "{section}"\n' if " " in section else f".SH {section}\n"
    part = text.split(head, 1)[1].split("\n.SH ", 1)[0]
    out = []
    for b in re.findall(r"\.EX\n(.*?)\.EE", part, re.S):
        b = man_unescape(b)
        m = CRON.match(b.strip())
        if m and "envoi" in m.group("cmd") and b.strip()[0].isdigit():
            b = m.group("cmd").replace("\\%", "%")  # a crontab line: its command
        out.append(b)
    return out


class Examples(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="envoi-examples-")
        cls.exim = servers.Exim(os.path.join(cls.dir, "exim"))
        cls.env = cls.exim.env
        cls.work = os.path.join(cls.dir, "work")
        cls.bin = os.path.join(cls.dir, "bin")
        home = os.path.join(cls.dir, "home")
        for d in (cls.work, cls.bin, os.path.join(home, ".config", "envoi"), os.path.join(cls.work, "outbox")):
            os.makedirs(d, exist_ok=True)
        config, _ = readme_blocks()
        cfg = os.path.join(home, ".config", "envoi", "config")
        with open(cfg, "w") as f:
            f.write("\n".join(config))
        os.chmod(cfg, 0o600)
        e = cls.env
        cls.script("envoi", f'exec "{tap.ENVOI}" "$@" --server=127.0.0.1:{e["SUBMIT_PORT"]} '
                            f'--ca-file={e["CA"]} --user={e["USER"]} --auth=PLAIN\n')
        cls.script("backup.sh", "echo 'backup finished: 42 files'\n")
        cls.script("less", "cat >/dev/null\n")
        for name in ("report.pdf", "report.txt", "report.html", "chart.png", "status.txt",
                     "build.log", "test-report.html", "board-pack.pdf", "mail.txt", "slides.pdf",
                     "notes.txt"):
            with open(os.path.join(cls.work, name), "w") as f:
                f.write(f"contents of {name}\n")
        cls.run_env = {k: v for k, v in os.environ.items() if not k.startswith("ENVOI_")}
        cls.run_env.update(HOME=home, PATH=cls.bin + ":" + os.environ["PATH"],
                           ENVOI_PASSWORD=e["PASS"], XDG_CONFIG_HOME=os.path.join(home, ".config"))

    @classmethod
    def script(cls, name, body):
        path = os.path.join(cls.bin, name)
        with open(path, "w") as f:
            f.write("#!/bin/bash\n" + body)
        os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)

    @classmethod
    def tearDownClass(cls):
        cls.exim.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_example(self, script):
        script = script.replace("/var/spool/outbox", "outbox")
        r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=self.work,
                           env=self.run_env, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
        self.assertEqual(r.returncode, 0, f"{script}\n{r.stdout.decode()}{r.stderr.decode()}")

    def test_readme_examples(self):
        _, scripts = readme_blocks()
        self.assertGreaterEqual(len(scripts), 10)
        for s in scripts:
            with self.subTest(example=s[:60]):
                self.run_example(s)

    def test_readme_python_examples(self):
        """Each runs with envoi on PATH (the wrapper) and must exit 0; the
        batch caller must print the queue id of the message it sent,
        which it reads before it closes envoi's input."""
        blocks = readme_python()
        self.assertGreaterEqual(len(blocks), 1)
        for b in blocks:
            with self.subTest(example=b[:60]):
                r = subprocess.run(["/usr/bin/python3", "-c", b], cwd=self.work, env=self.run_env,
                                   capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
                self.assertEqual(r.returncode, 0, f"{b}\n{r.stdout.decode()}{r.stderr.decode()}")
                if "--batch" in b:
                    self.assertRegex(r.stdout.decode(), r"queued it as [0-9A-Za-z]{6}-")

    def test_readme_batch_caller_reads_its_result_before_closing(self):
        """The coproc example reads the result while envoi still runs:
        its result is a sent line, printed before the session ends."""
        _, scripts = readme_blocks()
        coproc = [s for s in scripts if s.startswith("coproc")]
        self.assertEqual(len(coproc), 1)
        r = subprocess.run(["bash", "-e", "-c", coproc[0]], cwd=self.work, env=self.run_env,
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        result = json.loads(r.stdout.decode().splitlines()[0])
        self.assertEqual((result["id"], result["status"]), ("welcome-42", "sent"), result)

    def test_man_page_examples(self):
        blocks = man_blocks("EXAMPLES")
        self.assertGreaterEqual(len(blocks), 6)
        for s in blocks:
            with self.subTest(example=s[:60]):
                self.run_example(s)

    def test_man_page_config_example_loads_every_account(self):
        blocks = [b for b in man_blocks("CONFIGURATION FILE") if "[account" in b]
        self.assertEqual(len(blocks), 1)
        cfg = os.path.join(self.dir, "man-config")
        with open(cfg, "w") as f:
            f.write(blocks[0])
        os.chmod(cfg, 0o600)
        accounts = re.findall(r"^\[account (.+)\]", blocks[0], re.M)
        self.assertGreaterEqual(len(accounts), 2)
        for a in accounts:
            r = subprocess.run([tap.ENVOI, f"--config={cfg}", f"--account={a}", "--dry-run", "-m",
                                "x", "-f", "a@example.com", "b@example.com"], capture_output=True,
                               stdin=subprocess.DEVNULL, env=self.run_env, timeout=30)
            self.assertEqual(r.returncode, 0, f"[account {a}]: {r.stderr.decode()}")


if __name__ == "__main__":
    tap.main()
