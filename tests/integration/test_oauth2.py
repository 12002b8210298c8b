#!/usr/bin/python3
"""OAuth2 built in: the account's keys and presets, --oauth2-login (device
and browser flows), client credentials, the token store, the cached token,
refresh and rotation, a token the SMTP server refuses, the provider's
failures and every secret kept out of argv, -v, --json, the log and the
error lines. Against tests/servers/fakeidp.py: a fake identity provider on
loopback HTTPS (the test CA) and an SMTP server that takes only the access
tokens it issued and that are still valid."""
import json
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

import servers
import tap

sys.path.insert(0, servers.SERVERS)
import fakeidp  # noqa: E402

ENVOI = tap.ENVOI


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class OAuth2(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="envoi-oauth2-")
        cls.certs = os.path.join(cls.tmp.name, "certs")
        servers.gen_certs(cls.certs)
        cls.ca = os.path.join(cls.certs, "ca.pem")
        cls.idp = fakeidp.FakeIdP(cls.certs).start()
        cls.tls = ssl.create_default_context(cafile=cls.ca)

    @classmethod
    def tearDownClass(cls):
        cls.idp.stop()
        cls.tmp.cleanup()

    def setUp(self):
        idp = self.idp
        with idp.lock:
            idp.fault, idp.expires_in, idp.token_len = None, 3600, 40
            idp.rotate, idp.refresh_in_answer, idp.smtp_refuse = True, True, 0
            idp.requests.clear()
            idp.smtp_logins.clear()
            idp.messages = 0
        self.home = tempfile.mkdtemp(dir=self.tmp.name)
        self.state = os.path.join(self.home, "state")
        self.secret = os.path.join(self.home, "client-secret")
        with open(self.secret, "w") as f:
            f.write(fakeidp.CLIENT_SECRET + "\n")
        os.chmod(self.secret, 0o600)
        self.write_config()

    # ---- helpers
    def write_config(self, **keys):
        base = self.idp.base
        conf = {"from": fakeidp.USER, "server": "smtps://127.0.0.1:%d" % self.idp.smtp_port,
                "ca-file": self.ca, "oauth2-provider": "custom",
                "oauth2-client-id": fakeidp.CLIENT_ID, "oauth2-token-url": base + "/token",
                "oauth2-device-url": base + "/devicecode", "oauth2-auth-url": base + "/authorize",
                "oauth2-scope": "mail offline_access", "oauth2-ca-file": self.ca}
        conf.update(keys)
        self.config = os.path.join(self.home, "config")
        with open(self.config, "w") as f:
            f.write("[account test]\n")
            for k, v in conf.items():
                if v is not None:
                    f.write("%s = %s\n" % (k, v))
        os.chmod(self.config, 0o600)

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ENVOI_") and "proxy" not in k.lower()}
        env.update(HOME=self.home, XDG_STATE_HOME=self.state, ENVOI_CONFIG=self.config)
        for k in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
            env.pop(k, None)  # no browser, no keyring: the file store
        return env

    def envoi(self, *args, timeout=60):
        return subprocess.run([ENVOI, "--account=test", *args], env=self.env(),
                              capture_output=True, text=True, timeout=timeout)

    def send(self, *args, **kw):
        return self.envoi("--to=rcpt@example.com", "--body=hello", *args, **kw)

    def popen(self, *args):
        return subprocess.Popen([ENVOI, "--account=test", *args], env=self.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @property
    def token_file(self):
        return os.path.join(self.state, "envoi", "tokens", "test.json")

    def stored(self):
        with open(self.token_file) as f:
            return json.load(f)

    def seed(self, refresh="rt-seed", access=None, expires_at=None, valid_refresh=True):
        """A token store as a login left it."""
        d = os.path.dirname(self.token_file)
        os.makedirs(d, mode=0o700, exist_ok=True)
        entry = {"refresh_token": refresh}
        if access:
            entry["access_token"] = access
            entry["expires_at"] = int(expires_at or time.time() + 3600)
            with self.idp.lock:
                self.idp.access[access] = time.time() + 3600
        if valid_refresh:
            with self.idp.lock:
                self.idp.refresh.add(refresh)
        with open(self.token_file, "w") as f:
            json.dump(entry, f)
        os.chmod(self.token_file, 0o600)

    def https_get(self, url):
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=self.tls),
                                             NoRedirect)
        try:
            return opener.open(url, timeout=10)
        except urllib.error.HTTPError as e:
            return e

    def read_until(self, proc, pattern, limit=20):
        """Lines of proc's stderr up to the one matching pattern."""
        seen, deadline = [], time.time() + limit
        while time.time() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
            m = re.search(pattern, line)
            if m:
                return m, seen
        self.fail("no %r in envoi's output: %r" % (pattern, seen))

    def assert_no_secret(self, text, secrets):
        for s in secrets:
            self.assertNotIn(s, text)

    def all_secrets(self):
        with self.idp.lock:
            out = list(self.idp.access) + list(self.idp.refresh) + [fakeidp.CLIENT_SECRET]
            out += list(self.idp.codes) + list(self.idp.device)
            for _, form in self.idp.requests:
                for k in ("refresh_token", "code", "code_verifier", "device_code"):
                    if k in form:
                        out.append(form[k])
        return out

    # ---- device flow
    def device_login(self, *args):
        p = self.popen("--oauth2-login", *args)
        m, _ = self.read_until(p, r"open (\S+) and enter the code (\S+)")
        self.assertEqual(m.group(1), self.idp.base + "/device")
        r = self.https_get(self.idp.base + "/device/approve?user_code=" + m.group(2))
        self.assertEqual(r.status, 200)
        out, err = p.communicate(timeout=30)
        self.login_stdout = out
        return p.returncode, err

    def test_device_login_stores_tokens_then_send_uses_the_cached_token(self):
        rc, err = self.device_login()
        self.assertEqual(rc, 0, err)
        self.assertIn("logged in", err)
        entry = self.stored()
        self.assertIn(entry["refresh_token"], self.idp.refresh)
        self.assertTrue(self.idp.valid(entry["access_token"]))
        with self.idp.lock:
            self.idp.requests.clear()
        r = self.send()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.idp.requests, [], "the cached token must be used: no request")
        self.assertEqual(self.idp.smtp_logins, [("XOAUTH2", fakeidp.USER, True)])
        self.assertEqual(self.idp.messages, 1)

    def test_device_login_with_json_prints_one_object(self):
        rc, err = self.device_login("--json")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(self.login_stdout), {"status": "logged_in", "exit_code": 0})
        self.idp.fault = "expired_token"
        p = self.popen("--oauth2-login", "--json")
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 75, err)
        self.assertEqual(json.loads(out)["exit_code"], 75)

    def test_device_login_file_and_directory_modes(self):
        os.umask(0)
        try:
            rc, err = self.device_login()
        finally:
            os.umask(0o022)
        self.assertEqual(rc, 0, err)
        self.assertEqual(stat.S_IMODE(os.stat(self.token_file).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(self.token_file)).st_mode), 0o700)
        self.assertEqual([f for f in os.listdir(os.path.dirname(self.token_file))
                          if not f.startswith("test.")], [], "no temporary file left")

    def test_a_loose_token_directory_is_tightened_and_a_loose_file_refused(self):
        self.seed(access="at-cached")
        d = os.path.dirname(self.token_file)
        os.chmod(d, 0o755)
        r = self.send()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700)
        os.chmod(self.token_file, 0o644)
        r = self.send()
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("readable by others", r.stderr)

    def test_device_login_honours_slow_down(self):
        self.idp.fault = "slow_down"
        start = time.time()
        rc, err = self.device_login()
        self.assertEqual(rc, 0, err)
        polls = [t for t in self.idp.grants("urn:ietf:params:oauth:grant-type:device_code")]
        self.assertGreaterEqual(len(polls), 2)
        # interval 1 s, then 1 + 5 s after slow_down (RFC 8628 3.5)
        self.assertGreaterEqual(time.time() - start, 6.5)

    def test_device_login_expired_is_75(self):
        self.idp.fault = "expired_token"
        p = self.popen("--oauth2-login")
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 75, err)
        self.assertIn("login not completed in time", err)
        self.assertFalse(os.path.exists(self.token_file))

    def test_device_login_denied_is_84(self):
        p = self.popen("--oauth2-login")
        m, _ = self.read_until(p, r"enter the code (\S+)")
        self.https_get(self.idp.base + "/device/deny?user_code=" + m.group(1))
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 84, err)
        self.assertIn("access_denied", err)

    def test_no_secret_in_argv_or_environment_of_a_running_login(self):
        self.write_config(**{"oauth2-client-secret-file": self.secret})
        p = self.popen("--oauth2-login")
        self.read_until(p, r"enter the code")
        time.sleep(1.5)  # polling: the device code and the client secret are in use
        with open("/proc/%d/cmdline" % p.pid, "rb") as f:
            cmdline = f.read().decode(errors="replace")
        with open("/proc/%d/environ" % p.pid, "rb") as f:
            environ = f.read().decode(errors="replace")
        p.kill()
        p.communicate()
        self.assertTrue(self.idp.grants("urn:ietf:params:oauth:grant-type:device_code"))
        self.assert_no_secret(cmdline + environ, self.all_secrets())

    # ---- browser flow
    def browser_redirect(self, tamper=None):
        self.write_config(**{"oauth2-flow": "browser"})
        p = self.popen("--oauth2-login")
        m, _ = self.read_until(p, r"(https://\S+/authorize\?\S+)")
        url = m.group(1)
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        self.assertEqual(q["code_challenge_method"], "S256")
        self.assertRegex(q["redirect_uri"], r"^http://127\.0\.0\.1:\d+/$")
        r = self.https_get(url)
        self.assertEqual(r.status, 302)
        location = r.headers["Location"]
        if tamper:
            location = tamper(location)
        try:
            back = urllib.request.urlopen(location, timeout=10)
            status = back.status
        except urllib.error.HTTPError as e:
            status = e.code
        out, err = p.communicate(timeout=30)
        return p.returncode, err, status

    def test_browser_login_with_pkce_then_send(self):
        rc, err, status = self.browser_redirect()
        self.assertEqual((rc, status), (0, 200), err)
        self.assertEqual(len(self.idp.grants("authorization_code")), 1)
        r = self.send()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.idp.messages, 1)

    def test_browser_login_refuses_a_wrong_state(self):
        rc, err, status = self.browser_redirect(
            lambda loc: re.sub(r"state=[^&]*", "state=forged", loc))
        self.assertEqual((rc, status), (84, 400), err)
        self.assertIn("state", err)
        self.assertEqual(self.idp.grants("authorization_code"), [], "the code is never spent")
        self.assertFalse(os.path.exists(self.token_file))

    # ---- client credentials
    def test_client_credentials_send_then_cached(self):
        self.write_config(**{"oauth2-flow": "client-credentials",
                             "oauth2-client-secret-file": self.secret})
        r = self.send()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.idp.grants("client_credentials")), 1)
        r = self.send()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.idp.grants("client_credentials")), 1, "cached token reused")
        self.assertEqual(self.idp.messages, 2)

    def test_client_credentials_secret_from_a_command(self):
        self.write_config(**{"oauth2-flow": "client-credentials",
                             "oauth2-client-secret-command": "cat " + self.secret})
        r = self.send()
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_client_credentials_login_is_78(self):
        self.write_config(**{"oauth2-flow": "client-credentials",
                             "oauth2-client-secret-file": self.secret})
        r = self.envoi("--oauth2-login")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("nothing to log in", r.stderr)

    # ---- refresh, rotation
    def test_refresh_after_expiry_rotates_and_stores_first(self):
        self.seed(access="at-old", expires_at=time.time() + 30)  # < 60 s left
        r = self.send()
        self.assertEqual(r.returncode, 0, r.stderr)
        grants = self.idp.grants("refresh_token")
        self.assertEqual([g["refresh_token"] for g in grants], ["rt-seed"])
        entry = self.stored()
        self.assertNotEqual(entry["refresh_token"], "rt-seed")
        self.assertIn(entry["refresh_token"], self.idp.refresh)
        self.assertNotEqual(entry["access_token"], "at-old")
        self.assertEqual(self.idp.smtp_logins, [("XOAUTH2", fakeidp.USER, True)])
        # the old refresh token now fails at the provider
        form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": "rt-seed",
                                       "client_id": fakeidp.CLIENT_ID}).encode()
        try:
            urllib.request.urlopen(self.idp.base + "/token", form, context=self.tls, timeout=10)
            self.fail("the rotated-out refresh token was accepted")
        except urllib.error.HTTPError as e:
            self.assertEqual(json.load(e)["error"], "invalid_grant")

    def test_refresh_without_a_new_refresh_token_keeps_the_old_one(self):
        self.idp.refresh_in_answer = False
        self.seed()
        r = self.send()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.stored()["refresh_token"], "rt-seed")
        self.assertTrue(self.idp.valid(self.stored()["access_token"]))

    def test_a_second_run_uses_the_rotated_token(self):
        self.idp.expires_in = 30  # every run refreshes
        self.seed()
        for _ in range(3):
            r = self.send()
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.idp.grants("refresh_token")), 3)
        self.assertEqual(self.idp.messages, 3)

    def test_runs_at_once_spend_a_rotating_refresh_token_once(self):
        self.seed(access="at-expiring", expires_at=time.time() + 10)
        procs = [subprocess.Popen([ENVOI, "--account=test", "--to=rcpt@example.com",
                                   "--body=%d" % i], env=self.env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for i in range(4)]
        for p in procs:
            out, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
        self.assertEqual(len(self.idp.grants("refresh_token")), 1,
                         "one run refreshes; the others wait and take its token")
        self.assertEqual(self.idp.messages, 4)

    def test_no_refresh_token_yet_says_to_log_in(self):
        r = self.send()
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("--oauth2-login --account=test", r.stderr)

    # ---- the SMTP server refuses the token
    def test_token_refused_once_gets_a_fresh_one(self):
        self.seed(access="at-cached")
        self.idp.smtp_refuse = 1
        r = self.send()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([ok for _, _, ok in self.idp.smtp_logins], [False, True])
        self.assertEqual(len(self.idp.grants("refresh_token")), 1, "a fresh token, not the cache")
        self.assertEqual(self.idp.messages, 1)

    def test_sendmail_bs_gets_a_fresh_token_when_refused(self):
        """The sessions that carry many transactions (-bs, --flush, batch)
        open through engine_open, which tries a fresh token once too."""
        self.seed(access="at-cached")
        self.idp.smtp_refuse = 1
        dialogue = ("EHLO client.example\r\nMAIL FROM:<%s>\r\nRCPT TO:<rcpt@example.com>\r\n"
                    "DATA\r\nSubject: bs\r\n\r\nhello\r\n.\r\nQUIT\r\n") % fakeidp.USER
        r = subprocess.run([ENVOI, "--sendmail", "-bs", "-f", fakeidp.USER], env=self.env(),
                           input=dialogue, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([ok for _, _, ok in self.idp.smtp_logins], [False, True], r.stdout)
        self.assertEqual(self.idp.messages, 1, r.stdout)
        self.assertIn("250 2.0.0 OK queued as FAKE", r.stdout, "the relay took it, not the queue")

    def test_token_refused_twice_is_84(self):
        self.seed(access="at-cached")
        self.idp.smtp_refuse = 2
        r = self.send()
        self.assertEqual(r.returncode, 84, r.stderr)
        self.assertEqual(len(self.idp.smtp_logins), 2, "one retry, not more")
        self.assertEqual(self.idp.messages, 0)
        self.assertIn("the server rejected the OAuth2 token for", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    # ---- the provider's failures
    def test_invalid_grant_is_84_with_the_hint(self):
        self.seed(refresh="rt-revoked", valid_refresh=False)
        r = self.send()
        self.assertEqual(r.returncode, 84, r.stderr)
        self.assertIn("invalid_grant", r.stderr)
        self.assertIn("envoi --oauth2-login --account=test", r.stderr)
        self.assertNotIn("rt-revoked", r.stderr)
        self.assertNotIn("password from", r.stderr, "the provider refused it, not a password")
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_token_endpoint_503_is_75(self):
        self.seed()
        self.idp.fault = "503"
        r = self.send()
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("503", r.stderr)
        self.assertEqual(self.stored()["refresh_token"], "rt-seed", "the store is untouched")

    def test_token_endpoint_down_is_75(self):
        held = socket.socket()
        held.bind(("127.0.0.1", 0))  # bound, never listening: refused
        try:
            self.write_config(**{"oauth2-token-url": "https://127.0.0.1:%d/token"
                                 % held.getsockname()[1]})
            self.seed()
            r = self.send()
        finally:
            held.close()
        self.assertEqual(r.returncode, 75, r.stderr)

    def test_token_endpoint_silent_is_75_after_the_timeout(self):
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts, never answers the TLS handshake
        try:
            self.write_config(**{"oauth2-token-url": "https://127.0.0.1:%d/token"
                                 % silent.getsockname()[1]})
            self.seed()
            start = time.time()
            r = self.send("--timeout=2")
        finally:
            silent.close()
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("did not answer within 2 s", r.stderr)
        self.assertLess(time.time() - start, 15)

    def test_provider_certificate_refused_is_82_and_ca_file_does_not_apply(self):
        # ca-file (the SMTP server's) trusts the test CA; oauth2-ca-file is unset
        self.write_config(**{"oauth2-ca-file": None})
        self.seed()
        r = self.send()
        self.assertEqual(r.returncode, 82, r.stderr)

    def test_missing_or_contradictory_settings_are_78(self):
        cases = {
            "no client id": {"oauth2-client-id": None},
            "no token url": {"oauth2-token-url": None},
            "google with the device flow": {"oauth2-provider": "google", "oauth2-flow": "device",
                                            "oauth2-token-url": None},
            "client credentials without a secret": {"oauth2-flow": "client-credentials"},
            "microsoft client credentials without a tenant": {
                "oauth2-provider": "microsoft", "oauth2-flow": "client-credentials",
                "oauth2-client-secret-file": self.secret},
            "a key without a provider": {"oauth2-provider": None},
            "auth = PLAIN": {"auth": "PLAIN"},
            "unknown provider": {"oauth2-provider": "yahoo"},
            "http token url": {"oauth2-token-url": "http://127.0.0.1/token"},
        }
        for name, keys in cases.items():
            with self.subTest(name):
                self.write_config(**keys)
                r = self.send()
                self.assertEqual(r.returncode, 78, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertEqual(self.idp.requests, [])

    def test_client_secret_file_readable_by_others_is_78(self):
        os.chmod(self.secret, 0o644)
        self.write_config(**{"oauth2-flow": "client-credentials",
                             "oauth2-client-secret-file": self.secret})
        r = self.send()
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("readable by others", r.stderr)
        self.assertEqual(self.idp.requests, [])

    def test_login_without_a_provider_is_78(self):
        self.write_config(**{k: None for k in (
            "oauth2-provider", "oauth2-client-id", "oauth2-token-url", "oauth2-device-url",
            "oauth2-auth-url", "oauth2-scope", "oauth2-ca-file")})
        r = self.envoi("--oauth2-login")
        self.assertEqual(r.returncode, 78, r.stderr)

    def test_batch_logs_in_with_the_token_as_the_from_mailbox(self):
        self.write_config(**{"from": "Test Er <%s>" % fakeidp.USER})
        self.seed(access="at-cached")
        r = subprocess.run([ENVOI, "--account=test", "--batch=-"], env=self.env(),
                           input='{"to": "a@example.com", "body": "one"}\n'
                                 '{"to": "b@example.com", "body": "two"}\n',
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertTrue(self.idp.smtp_logins)
        self.assertEqual(set(self.idp.smtp_logins), {("XOAUTH2", fakeidp.USER, True)})
        self.assertEqual(self.idp.messages, 2)

    def test_batch_gets_a_fresh_token_when_refused(self):
        self.seed(access="at-cached")
        self.idp.smtp_refuse = 1
        r = subprocess.run([ENVOI, "--account=test", "--batch=-"], env=self.env(),
                           input='{"to": "a@example.com", "body": "one"}\n'
                                 '{"to": "b@example.com", "body": "two"}\n',
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertEqual([ok for _, _, ok in self.idp.smtp_logins], [False, True])
        self.assertEqual(self.idp.messages, 2)

    def test_refresh_token_in_the_keyring_when_one_is_reachable(self):
        for tool in ("dbus-run-session", "dbus-send", "gnome-keyring-daemon", "secret-tool"):
            if not shutil.which(tool):
                self.skipTest(f"{tool} is not installed")
        self.idp.expires_in = 30  # each run refreshes (and rotates)
        self.seed()
        script = (
            "printf unlock | gnome-keyring-daemon --daemonize --unlock --components=secrets >/dev/null\n"
            "for i in $(seq 100); do dbus-send --session --print-reply --dest=org.freedesktop.DBus "
            "/org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets "
            "| grep -q 'boolean true' && break; sleep 0.05; done\n"
            "\"$ENVOI\" --account=test --to=rcpt@example.com --body=one\n"
            "cp \"$TOKENS\" \"$TOKENS.after-first\"\n"
            "\"$ENVOI\" --account=test --to=rcpt@example.com --body=two\n"
            "secret-tool lookup service envoi oauth2-account test\n")
        env = self.env()
        env.update(ENVOI=ENVOI, TOKENS=self.token_file)
        r = subprocess.run(["dbus-run-session", "--", "bash", "-e", "-c", script], env=env,
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.token_file + ".after-first") as f:
            first = json.load(f)
        self.assertEqual(first.get("refresh_token_in"), "keyring")
        self.assertNotIn("refresh_token", first)
        self.assertNotIn("refresh_token", self.stored())
        grants = self.idp.grants("refresh_token")
        self.assertEqual(len(grants), 2, "the second run took the rotated token from the keyring")
        self.assertNotEqual(grants[1]["refresh_token"], "rt-seed")
        self.assertIn(r.stdout.strip(), self.idp.refresh)
        self.assertEqual(self.idp.messages, 2)
        # without the keyring, the file alone says where the token is
        r = self.send()
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("keyring", r.stderr)

    # ---- mechanisms, long tokens
    def test_oauthbearer_when_asked(self):
        self.write_config(auth="OAUTHBEARER")
        self.seed()
        r = self.send()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.idp.smtp_logins, [("OAUTHBEARER", fakeidp.USER, True)])

    def test_tokens_of_6_kb_with_both_mechanisms(self):
        self.idp.token_len = 6000
        for mech in ("XOAUTH2", "OAUTHBEARER"):
            with self.subTest(mech):
                self.idp.smtp_logins.clear()
                self.write_config(auth=mech)
                self.seed(refresh="rt-" + mech)
                r = self.send()
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(self.idp.smtp_logins, [(mech, fakeidp.USER, True)])
                self.assertGreaterEqual(len(self.stored()["access_token"]), 5000)

    # ---- secrets in the output
    def test_no_secret_in_verbose_json_log_or_error_lines(self):
        self.write_config(**{"oauth2-client-secret-file": self.secret})
        self.seed(access="at-expiring", expires_at=time.time() + 10)
        log = os.path.join(self.home, "envoi.log")
        self.idp.smtp_refuse = 1
        r = self.send("-v", "--json", "--log=" + log)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"oauth2: POST https://127\.0\.0\.1:\d+/token \(.*"
                         r"refresh_token=<redacted>.*client_secret=<redacted>")
        self.assertIn("oauth2: HTTP 200", r.stderr)
        with open(log) as f:
            logged = f.read()
        json.loads(r.stdout)
        self.assert_no_secret(r.stdout + r.stderr + logged, self.all_secrets())
        # a failure's line too
        self.seed(refresh="rt-refused", valid_refresh=False)
        r = self.send("-v", "--json")
        self.assertEqual(r.returncode, 84, r.stderr)
        self.assert_no_secret(r.stdout + r.stderr, self.all_secrets())


if __name__ == "__main__":
    tap.main()
