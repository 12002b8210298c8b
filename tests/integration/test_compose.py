#!/usr/bin/python3
"""The composed message, read back by an independent MIME parser (Python's
email package): structure, every decoded part byte-identical, names
decoded, no Bcc, CRLF only, no line over 998 octets."""
import email
import email.header
import email.policy
import email.utils
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import tap

SUBJECT = "Rapport trimestriel — données clés 📈 pour l'équipe de Zürich, version finale"
FROM = "Zoë Müller-Lüdenscheidt <zoe@example.com>"
TO = ['"Ünal, Çağrı" <cagri@example.com>', "Bob <bob@example.org>"]
BCC = "secret-boss@example.net"
TEXT = "Bonjour,\n\nVoici le rapport — ligne café ☕.\n.\n..\nFrom the start\n" + "x" * 1500 + "\nfin\n"
HTML = '<html><body><p>Bonjour — <img src="cid:logo.png"></p></body></html>\n'


def run(args, **kw):
    return subprocess.run([tap.ENVOI] + args, capture_output=True, **kw)


class Compose(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="envoi-compose-")
        d = cls.dir
        cls.files = {
            "big.bin": os.urandom(20 * 1024 * 1024),
            "résumé 2026.pdf": b"%PDF-1.4\n" + os.urandom(3000) + b"\n%%EOF\n",
            "notes.txt": "plain\r\nnotes\n\x00binary?\n".encode(),
            "logo.png": b"\x89PNG\r\n\x1a\n" + os.urandom(5000),
        }
        for name, data in cls.files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        args = ["--dry-run", "-f", FROM, "-s", SUBJECT, "-b", BCC, "-c", "carol@example.com",
                "-m", TEXT, "--html", HTML, "--inline", os.path.join(d, "logo.png"),
                "-a", os.path.join(d, "big.bin"), "-a", os.path.join(d, "résumé 2026.pdf"),
                "-a", os.path.join(d, "notes.txt"), "-p", "high", "-H", "X-Ticket: 4711"] + TO
        r = run(args, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr.decode()
        cls.raw = r.stdout
        cls.msg = email.message_from_bytes(cls.raw, policy=email.policy.default)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def test_structure(self):
        m = self.msg
        self.assertEqual(m.get_content_type(), "multipart/mixed")
        parts = m.get_payload()
        self.assertEqual([p.get_content_type() for p in parts],
                         ["multipart/alternative", "application/octet-stream",
                          "application/pdf", "application/octet-stream"])  # .txt with a NUL
        alt = parts[0].get_payload()
        self.assertEqual([p.get_content_type() for p in alt], ["text/plain", "multipart/related"])
        rel = alt[1]
        self.assertEqual(rel.get_param("type"), "text/html")
        self.assertEqual([p.get_content_type() for p in rel.get_payload()], ["text/html", "image/png"])

    def test_headers_decode(self):
        m = self.msg
        self.assertEqual(str(m["Subject"]), SUBJECT)
        self.assertEqual(m["From"].addresses[0].display_name, "Zoë Müller-Lüdenscheidt")
        self.assertEqual(m["From"].addresses[0].addr_spec, "zoe@example.com")
        names = [a.display_name for a in m["To"].addresses]
        self.assertEqual(names, ["Ünal, Çağrı", "Bob"])
        self.assertEqual(m["X-Priority"], "1 (Highest)")
        self.assertEqual(m["Importance"], "high")
        self.assertEqual(m["X-Ticket"], "4711")
        self.assertEqual(m["MIME-Version"], "1.0")
        self.assertRegex(m["Message-ID"], r"^<[^<>@\s]+@example\.com>$")
        self.assertIsNotNone(m["Date"].datetime)

    def test_no_bcc_anywhere(self):
        self.assertIsNone(self.msg["Bcc"])
        self.assertNotIn(BCC.encode(), self.raw)

    def test_parts_byte_identical(self):
        m = self.msg
        atts = {p.get_filename(): p.get_content() for p in m.iter_attachments()}
        for name in ("big.bin", "résumé 2026.pdf", "notes.txt"):
            self.assertIn(name, atts)
            data = atts[name]
            if isinstance(data, str):
                data = data.encode()
            self.assertEqual(data, self.files[name], name)
        img = m.get_payload()[0].get_payload()[1].get_payload()[1]
        # A msg-id (RFC 2045 7): the file name, the Message-ID's token and domain.
        self.assertRegex(img["Content-ID"], r"^<logo\.png\.[A-Za-z0-9]{24}@example\.com>$")
        self.assertIn(img["Content-ID"][10:-1], m["Message-ID"])
        self.assertEqual(img.get_content(), self.files["logo.png"])

    def test_text_and_html_decode(self):
        alt = self.msg.get_payload()[0].get_payload()
        text = alt[0].get_payload(decode=True).replace(b"\r\n", b"\n")
        self.assertEqual(text, TEXT.encode())
        html = alt[1].get_payload()[0].get_payload(decode=True).replace(b"\r\n", b"\n")
        # The cid: reference now names the image's whole Content-ID.
        cid = alt[1].get_payload()[1]["Content-ID"].strip("<>")
        self.assertEqual(html, HTML.replace("cid:logo.png", "cid:" + cid).encode())

    def test_crlf_only_and_short_lines(self):
        raw = self.raw
        self.assertIsNone(re.search(rb"[^\r]\n", raw), "bare LF")
        self.assertIsNone(re.search(rb"\r[^\n]", raw), "bare CR")
        self.assertTrue(raw.endswith(b"\r\n"))
        longest = max(len(line) for line in raw.split(b"\r\n"))
        self.assertLessEqual(longest, 998)
        header = raw.split(b"\r\n\r\n", 1)[0]
        self.assertLessEqual(max(len(line) for line in header.split(b"\r\n")), 78)
        self.assertTrue(all(b < 0x80 for b in raw), "the whole message is 7-bit")

    def test_boundaries_unique_and_absent_from_content(self):
        bounds = re.findall(rb'boundary="([^"]+)"', self.raw)
        self.assertEqual(len(bounds), 3)
        self.assertEqual(len(set(bounds)), 3)


class Memory(unittest.TestCase):
    def test_one_gib_attachment_stays_under_16_mib(self):
        """Streams, never slurps: a 1 GiB (sparse) attachment composed to
        /dev/null peaks far below its size. Measured by /usr/bin/time, a
        small parent: a child forked from this big Python process would
        report the parent's size as its own peak."""
        with tempfile.TemporaryDirectory() as d:
            big = os.path.join(d, "big.bin")
            with open(big, "wb") as f:
                f.truncate(1 << 30)
            r = subprocess.run(["/usr/bin/time", "-f", "%M", tap.ENVOI, "--dry-run", "-f",
                                "a@example.com", "-a", big, "b@example.com"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
            self.assertEqual(r.returncode, 0, r.stderr)
        peak_kib = int(r.stderr.split()[-1])
        self.assertLess(peak_kib, 16 * 1024)


class Encodings(unittest.TestCase):
    def compose(self, *args, stdin=subprocess.DEVNULL):
        r = run(["--dry-run", "-f", "a@example.com", "b@example.com"] + list(args), stdin=stdin)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return r.stdout, email.message_from_bytes(r.stdout, policy=email.policy.default)

    def test_ascii_text_is_7bit(self):
        raw, m = self.compose("-m", "hello\nworld\n")
        self.assertEqual(m["Content-Transfer-Encoding"], "7bit")
        self.assertTrue(raw.endswith(b"\r\n\r\nhello\r\nworld\r\n"))

    def test_utf8_text_is_quoted_printable(self):
        body = "héllo wörld " * 30 + "\n"
        raw, m = self.compose("-m", body)
        self.assertEqual(m["Content-Transfer-Encoding"], "quoted-printable")
        self.assertEqual(m.get_content().replace("\r\n", "\n"), body)

    def test_body_from_stdin(self):
        raw, m = self.compose(stdin=open("/etc/passwd", "rb"))
        with open("/etc/passwd", "rb") as f:
            self.assertEqual(m.get_payload(decode=True).replace(b"\r\n", b"\n"), f.read())

    def test_lone_cr_and_boundary_lookalike_force_qp(self):
        # A lone CR is a line break too: text goes in canonical form.
        for body, want in (("a\rb\n", b"a\r\nb\r\n"), ("--=_envoi_x\n", b"--=_envoi_x\r\n")):
            raw, m = self.compose("-m", body)
            self.assertEqual(m["Content-Transfer-Encoding"], "quoted-printable", body)
            self.assertEqual(m.get_payload(decode=True), want)

    def test_html_only(self):
        raw, m = self.compose("--html", "<p>hi</p>")
        self.assertEqual(m.get_content_type(), "text/html")

    def test_no_body_gives_empty_text(self):
        raw, m = self.compose()
        self.assertEqual(m.get_content_type(), "text/plain")
        self.assertEqual(m.get_content().strip(), "")

    def test_only_bcc_gives_undisclosed_recipients(self):
        r = run(["--dry-run", "-f", "a@example.com", "-b", "hidden@example.com", "-m", "x"])
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn(b"To: undisclosed-recipients:;\r\n", r.stdout)
        self.assertNotIn(b"hidden@example.com", r.stdout)

    def test_header_option_replaces_generated_field(self):
        raw, m = self.compose("-H", "Subject: from header", "-s", "from option")
        self.assertEqual(raw.count(b"Subject:"), 1)
        self.assertEqual(m["Subject"], "from header")

    def test_read_receipt_and_urgent(self):
        raw, m = self.compose("--read-receipt", "-p", "urgent")
        self.assertEqual(m["Disposition-Notification-To"], "a@example.com")
        self.assertEqual(m["Priority"], "urgent")


def header_str_compat32(value):
    """A header as compat32 users decode it: unfolded, then decode_header +
    make_header."""
    value = re.sub(r"\r?\n", "", value)
    return str(email.header.make_header(email.header.decode_header(value)))


def header_lines(raw):
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


class ReadBack(unittest.TestCase):
    """Exact inputs come back from Python's email, with both policies."""

    def compose(self, *args):
        r = run(["--dry-run", "-f", "a@example.com"] + list(args), stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return (r.stdout, email.message_from_bytes(r.stdout, policy=email.policy.compat32),
                email.message_from_bytes(r.stdout, policy=email.policy.default))

    def assert_header_lines(self, raw):
        for line in header_lines(raw):
            self.assertLessEqual(len(line), 78, line)
            if b"=?" in line:
                self.assertLessEqual(len(line), 76, line)

    def test_utf8_subjects_of_every_length(self):
        """1..300 characters of several scripts, 4-byte emoji among them;
        one message carries 300 of them as extra headers, which go through
        the same encoder as Subject."""
        chars = "éЖα日한😀a "
        for script in range(len(chars)):
            values = {}
            args = []
            for n in range(1, 301):
                v = "".join(chars[(script + (i % 5 == 4)) % len(chars)] for i in range(n))
                v = "x" + v if v[0] == " " else v
                values["X-S%d" % n] = v
                args += ["-H", "X-S%d: %s" % (n, v)]
            subject = values["X-S%d" % (200 + script)]
            raw, old, new = self.compose("-s", subject, "b@x.org", *args)
            self.assert_header_lines(raw)
            self.assertEqual(str(new["Subject"]), subject)
            self.assertEqual(header_str_compat32(old["Subject"]), subject)
            for name, v in values.items():
                self.assertEqual(str(new[name]), v, name)
                self.assertEqual(header_str_compat32(old[name]), v, name)

    def test_display_names_with_specials(self):
        names = ['J. "Bob" Dobbs, Jr.', "user@home", "Smith, John", "Zoë \\ Müller",
                 "Ünal, Çağrı 😀", '"quoted"', "日本語の名前" * 8, "a" * 70 + " Zoë",
                 "Zoë @ Straße, \"Chef\" 😀 " * 4]
        tos = []
        for i, n in enumerate(names):
            q = n.replace("\\", "\\\\").replace('"', '\\"')
            tos.append('"%s" <u%d@example.com>' % (q, i))
        raw, old, new = self.compose(*tos)
        self.assert_header_lines(raw)
        want = [(n, "u%d@example.com" % i) for i, n in enumerate(names)]
        # compat32: split the raw list, then decode each name.
        raw_to = re.sub(r"\r?\n", "", old["To"])
        got = [(header_str_compat32(n), a) for n, a in email.utils.getaddresses([raw_to])]
        self.assertEqual(got, want)
        # policy.default keeps the space between two encoded-words of a
        # display name (RFC 2047 6.2 says to drop it, as compat32 does), so
        # a name too long for one encoded-word reads back with spaces
        # added: those are compared without spaces.
        got = [(a.display_name, a.addr_spec) for a in new["To"].addresses]
        for (g, ga), (w, wa) in zip(got, want):
            self.assertEqual(ga, wa)
            if len(w.encode()) > 40 and not w.isascii():
                g, w = g.replace(" ", ""), w.replace(" ", "")
            self.assertEqual(g, w)
        self.assertEqual(len(got), len(want))

    FILE_NAMES = ["a b c.pdf", 'say "hi".txt', "semi;colon=1.txt", "back\\slash.bin",
                  "=?utf-8?q?x?=.txt", "odd?=name", "y" * 251 + ".txt", "é" * 125 + ".pdf",
                  "日本語のファイル名" * 9 + ".doc", "Ζωή 😀 Москва — résumé.png",
                  "한국어 עברית عربي.zip", "tab\tin name", "'single' %41.txt"]

    def test_file_names_come_back_exact(self):
        with tempfile.TemporaryDirectory() as d:
            args = []
            for i, name in enumerate(self.FILE_NAMES):
                self.assertLessEqual(len(name.encode()), 255, name)
                path = os.path.join(d, name)
                with open(path, "wb") as f:
                    f.write(b"%d\r\n" % i)
                args += ["-a", path]
            raw, old, new = self.compose("-m", "x", "b@x.org", *args)
        self.assert_header_lines(raw)
        for pol, m in (("compat32", old), ("default", new)):
            parts = m.get_payload()[1:]
            self.assertEqual([p.get_filename() for p in parts], self.FILE_NAMES, pol)
            for i, p in enumerate(parts):
                self.assertEqual(p.get_payload(decode=True), b"%d\r\n" % i)
        for p in new.get_payload()[1:]:
            self.assertEqual(p["Content-Type"].params["name"], p.get_filename())
        for p in old.get_payload()[1:]:
            name = p.get_param("name")
            self.assertEqual(header_str_compat32(name), p.get_filename())
        # One form of the name per field, never a lossy twin beside it.
        for block in raw.split(b"\r\n\r\n"):
            unfolded = block.replace(b"\r\n ", b" ")
            for line in unfolded.split(b"\r\n"):
                if line.lower().startswith(b"content-disposition:"):
                    self.assertNotEqual(b"filename=" in line, b"filename*" in line, line)

    def test_file_name_not_utf8_comes_back_with_replacement_characters(self):
        """A name is labelled UTF-8, so bytes that are not UTF-8 become
        U+FFFD; the content is untouched."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d.encode(), b"r\xe9sum\xe9 \xff.bin")
            with open(path, "wb") as f:
                f.write(b"\x00\x01data")
            r = subprocess.run([tap.ENVOI.encode(), b"--dry-run", b"-f", b"a@example.com",
                                b"-m", b"x", b"-a", path, b"b@x.org"], capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Python would replace the bad bytes itself: look at the wire too.
        self.assertIn(b"r%EF%BF%BDsum%EF%BF%BD%20%EF%BF%BD.bin", r.stdout)
        self.assertNotIn(b"%E9", r.stdout)
        for pol in (email.policy.compat32, email.policy.default):
            m = email.message_from_bytes(r.stdout, policy=pol)
            att = m.get_payload()[1]
            self.assertEqual(att.get_filename(), "r\ufffdsum\ufffd \ufffd.bin")
            self.assertEqual(att.get_payload(decode=True), b"\x00\x01data")

    def test_text_parts_are_canonical_and_labelled(self):
        """Bodies and text attachments: every line break CRLF (RFC 2045
        6.8); charset us-ascii or utf-8 by content; a .txt that is not
        UTF-8 goes as application/octet-stream, bytes untouched."""
        text = "one\rtwo\nthree\r\nZoë ☕ 😀\r\rend"
        canon = "one\r\ntwo\r\nthree\r\nZoë ☕ 😀\r\n\r\nend"
        with tempfile.TemporaryDirectory() as d:
            files = {"u.txt": text.encode(), "a.csv": b"x,y\n1,2\r3,4\n",
                     "l.txt": "café\n".encode("latin-1"), "i.png": b"\x89PNG\r\n\n\r"}
            args = []
            for name, data in files.items():
                with open(os.path.join(d, name), "wb") as f:
                    f.write(data)
                args += ["-a", os.path.join(d, name)]
            raw, old, new = self.compose("-m", text, "--html", "<p>" + text + "</p>",
                                         "b@x.org", *args)
        for pol, m in (("compat32", old), ("default", new)):
            alt, *atts = m.get_payload()
            body, html = alt.get_payload()
            self.assertEqual(body.get_payload(decode=True), canon.encode(), pol)
            self.assertEqual(html.get_payload(decode=True), ("<p>" + canon + "</p>").encode())
            self.assertEqual(body.get_content_charset(), "utf-8")
            got = {a.get_filename(): a for a in atts}
            self.assertEqual(got["u.txt"].get_content_type(), "text/plain")
            self.assertEqual(got["u.txt"].get_content_charset(), "utf-8")
            self.assertEqual(got["u.txt"].get_payload(decode=True), canon.encode())
            self.assertEqual(got["a.csv"].get_content_charset(), "us-ascii")
            self.assertEqual(got["a.csv"].get_payload(decode=True), b"x,y\r\n1,2\r\n3,4\r\n")
            self.assertEqual(got["l.txt"].get_content_type(), "application/octet-stream")
            self.assertIsNone(got["l.txt"].get_content_charset())
            self.assertEqual(got["l.txt"].get_payload(decode=True), files["l.txt"])
            self.assertEqual(got["i.png"].get_payload(decode=True), files["i.png"])
        atts = {a.get_filename(): a for a in new.iter_attachments()}
        self.assertEqual(atts["u.txt"].get_content(), canon)
        self.assertEqual(new.get_body(("plain",)).get_content(), canon)

    def test_body_not_utf8_is_never_labelled_utf8(self):
        """Kept byte for byte, labelled unknown-8bit (RFC 1428): Python's
        get_content() has no codec of that name, so the bytes are read."""
        body = "café\n".encode("latin-1")
        r = subprocess.run([tap.ENVOI, "--dry-run", "-f", "a@example.com", "b@x.org"],
                           input=body, capture_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(b"utf-8", r.stdout.lower())
        for pol in (email.policy.compat32, email.policy.default):
            m = email.message_from_bytes(r.stdout, policy=pol)
            self.assertEqual(m.get_content_charset(), "unknown-8bit")
            self.assertEqual(m.get_payload(decode=True), b"caf\xe9\r\n")

    def test_inline_images_get_msg_ids_the_html_refers_to(self):
        """Each cid: reference in the HTML equals its image's Content-ID,
        which is a msg-id; two images named alike are refused (64)."""
        with tempfile.TemporaryDirectory() as d:
            images = {"logo.png": b"\x89PNG1", "my chart.png": b"\x89PNG2", "Zoë.gif": b"GIF89a",
                      "a long name for a chart of the year 2026.png": b"\x89PNG3"}
            args = []
            for name, data in images.items():
                with open(os.path.join(d, name), "wb") as f:
                    f.write(data)
                args += ["--inline", os.path.join(d, name)]
            html = "".join('<img src="cid:%s">' % n for n in images) + "\n"
            raw, old, new = self.compose("--html", html, "b@x.org", *args)
            for pol, m in (("compat32", old), ("default", new)):
                rel = m.get_payload()
                page = rel[0].get_payload(decode=True).decode()
                refs = re.findall(r'src="cid:([^"]+)"', page)
                self.assertEqual(len(refs), len(images), page)
                for ref, part, name in zip(refs, rel[1:], images):
                    cid = part["Content-ID"]
                    self.assertRegex(cid, r"^<[!-?A-~]+@[!-?A-~]+>$", pol)  # no space, one @
                    self.assertEqual(cid.count("@"), 1)
                    self.assertLessEqual(len("Content-ID: " + cid), 78)
                    self.assertEqual("<%s>" % ref, cid, pol)
                    self.assertEqual(part.get_filename(), name)
                    self.assertEqual(part.get_payload(decode=True), images[name])
            os.mkdir(os.path.join(d, "other"))
            with open(os.path.join(d, "other", "logo.png"), "wb") as f:
                f.write(b"other")
            r = run(["--dry-run", "-f", "a@example.com", "--html", html, "b@x.org",
                     "--inline", os.path.join(d, "logo.png"),
                     "--inline", os.path.join(d, "other", "logo.png")])
            self.assertEqual(r.returncode, 64, r.stderr)
            self.assertIn(b"logo.png", r.stderr)
            self.assertEqual(r.stdout, b"")


if __name__ == "__main__":
    tap.main()
