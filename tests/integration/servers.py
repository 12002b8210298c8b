"""The test servers of tests/servers/, from Python: certificates, a private
Exim, and the fault-injecting server with its scenario table. Every
integration test starts and stops its servers through these."""
import json
import os
import subprocess

SERVERS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))


def gen_certs(directory):
    """The test CA and every server certificate the scenarios use."""
    subprocess.run([os.path.join(SERVERS, "gen-certs"), directory], check=True, timeout=60)


def load_env(path):
    """A KEY='value' file, as exim-start writes it, into a dict."""
    env = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v.strip("'")
    return env


class Exim:
    """A private Exim on free loopback ports (see tests/servers/exim-start);
    .env holds SUBMIT_PORT, IMPLICIT_PORT, CA, USER, PASS, MAILDIR..."""

    def __init__(self, directory):
        self.dir = directory
        r = subprocess.run([os.path.join(SERVERS, "exim-start"), directory], capture_output=True,
                           timeout=60)
        if r.returncode != 0:
            raise RuntimeError("exim-start failed: " + r.stderr.decode())
        self.env = load_env(os.path.join(directory, "env"))

    def stop(self):
        subprocess.run([os.path.join(SERVERS, "exim-stop"), self.dir], capture_output=True, timeout=60)


def fault_start(scenario, directory, certs, *opts):
    """Starts faultserver.py with its files in directory; returns the port."""
    r = subprocess.run([os.path.join(SERVERS, "fault-start"), scenario, directory, *opts],
                       capture_output=True, env=dict(os.environ, CERT_DIR=certs), timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"fault-start {scenario} failed: " + r.stderr.decode())
    return r.stdout.decode().strip()


def fault_stop(directory):
    """Stops the server; its summary (log.json) is complete after this."""
    subprocess.run([os.path.join(SERVERS, "fault-stop"), directory], capture_output=True, timeout=60)


def fault_logs(directory):
    """(raw client bytes, summary dict, first stored message or None)."""
    def read(name, mode="rb"):
        try:
            with open(os.path.join(directory, name), mode) as f:
                return f.read()
        except OSError:
            return None
    raw = read("log") or b""
    text = read("log.json", "r")
    summary = json.loads(text) if text else {}
    stored = None
    for conn in summary.get("connections", []):
        if conn.get("messages"):
            with open(conn["messages"][0]["file"], "rb") as f:
                stored = f.read()
            break
    return raw, summary, stored


def scenarios():
    """The rows of scenarios.tsv: (name, extra args, exit codes, description)."""
    rows = []
    with open(os.path.join(SERVERS, "scenarios.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, args, code, desc = line.rstrip("\n").split("\t", 3)
            rows.append((name, [] if args == "-" else args.split(" "),
                         {int(c) for c in code.split("|")}, desc))
    return rows


def scenario_argv(args, port, certs):
    """A scenario's extra args with {PORT} {HOST} {CA} {CERT_DIR}
    {GOOD_SHA256} filled in, plus --server unless the args name one."""
    with open(os.path.join(certs, "good.sha256")) as f:
        pin = f.read().strip()
    subst = {"{PORT}": port, "{HOST}": "127.0.0.1", "{CA}": os.path.join(certs, "ca.pem"),
             "{CERT_DIR}": certs, "{GOOD_SHA256}": pin}
    argv = []
    for a in args:
        for k, v in subst.items():
            a = a.replace(k, v)
        argv.append(a)
    if not any(a.startswith("--server=") for a in argv):
        argv.append(f"--server=127.0.0.1:{port}")
    return argv


class FaultServer:
    """One fault-server scenario for a test of its own; .port, .dir."""

    def __init__(self, scenario, base, certs, *opts):
        self.dir = os.path.join(base, scenario + "-" + os.urandom(4).hex())
        self.certs = certs
        self.port = fault_start(scenario, self.dir, certs, *opts)

    def options(self):
        """What envoi needs to reach this server and trust it."""
        return [f"--server=127.0.0.1:{self.port}", f"--ca-file={self.certs}/ca.pem"]

    def stop(self):
        """Stops it; returns fault_logs()."""
        fault_stop(self.dir)
        return fault_logs(self.dir)


# --- interop branch: real servers from Debian packages -------------------
# Each starts with its tests/servers/*-start script and stops with the
# matching *-stop, which waits until every process it started is gone.
# The .debs (postfix, opensmtpd, exim4-config) are fetched once into
# $ENVOI_DEB_CACHE (tests/meson.build sets it to a folder of the build dir).

class Server:
    """A server started by tests/servers/START DIR [ARGS]; .env holds what
    its env file says (ports, MAILDIR, LOG...)."""
    start_script = stop_script = None

    def __init__(self, directory, *args, certs=None):
        self.dir = directory
        env = dict(os.environ)
        if certs:
            env["CERT_DIR"] = certs
        r = subprocess.run([os.path.join(SERVERS, self.start_script), *args, directory],
                           capture_output=True, env=env, timeout=300)
        if r.returncode != 0:
            self.stop()
            raise RuntimeError(f"{self.start_script} failed: " + r.stderr.decode())
        self.env = load_env(os.path.join(directory, "env"))

    def stop(self):
        subprocess.run([os.path.join(SERVERS, self.stop_script), self.dir], capture_output=True,
                       timeout=60)


class Postfix(Server):
    """Postfix 3.7 + Dovecot SASL (tests/servers/postfix-start)."""
    start_script, stop_script = "postfix-start", "postfix-stop"


class OpenSMTPD(Server):
    """OpenSMTPD 6.8, plaintext listener (tests/servers/opensmtpd-start)."""
    start_script, stop_script = "opensmtpd-start", "opensmtpd-stop"


class EximStock(Server):
    """Exim with Debian's generated configuration; size0=True adds
    MESSAGE_SIZE_LIMIT=0 (tests/servers/exim-stock-start)."""
    start_script, stop_script = "exim-stock-start", "exim-stop"

    def __init__(self, directory, size0=False):
        super().__init__(directory, *(["--size0"] if size0 else []))


def maildir_copies(maildir, token, count, timeout):
    """The messages in maildir/new holding token, parsed; waits up to
    timeout seconds for count of them (returns what is there then)."""
    import email
    import email.policy
    import glob
    import time
    deadline = time.time() + timeout
    while True:
        found = []
        for path in glob.glob(os.path.join(maildir, "new", "*")):
            with open(path, "rb") as f:
                data = f.read()
            if token.encode() in data:
                found.append(email.message_from_bytes(data, policy=email.policy.default))
        if len(found) >= count or time.time() > deadline:
            return found
        time.sleep(0.1)

