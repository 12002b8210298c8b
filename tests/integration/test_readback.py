#!/usr/bin/python3
"""Read-back: a battery of messages composed by envoi (--dry-run), each
read by seven independent readers, every one of which must get back what
went in. Readers, versions, what "exact" means and the exclusions are in
tests/readback/README.md; the battery is tests/readback/battery.py.

Cases are named CHECK__MESSAGE__READER (what a reader got back) or
CHECK__MESSAGE (what envoi wrote, read by this file itself), and
control_* (a hand-written, RFC-correct message that shows a reader's own
fault, the proof behind each exclusion)."""
import concurrent.futures
import email
import email.policy
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

import tap

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "readback"))
import battery   # noqa: E402
import readers   # noqa: E402

BATTERY = battery.battery()
CHECKS = ("subject", "addresses", "parts", "filenames", "contents")
STATE = {}


def mailbox(name, addr):
    """NAME <ADDR> as envoi's command line takes it: a quoted string."""
    if not name:
        return addr
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '" <' + addr + ">"


def compose(msg, top):
    d = os.path.join(top, msg.name)
    os.makedirs(d)
    args = [tap.ENVOI, "--dry-run", "-s", msg.subject, "-f", mailbox(*msg.from_)]
    for opt, lst in (("-t", msg.to), ("-c", msg.cc), ("-r", msg.reply_to)):
        for name, addr in lst:
            args += [opt, mailbox(name, addr)]
    for opt, data in (("--body-file", msg.text), ("--html-file", msg.html)):
        if data is not None:
            p = os.path.join(d, opt.strip("-"))
            with open(p, "wb") as f:
                f.write(data)
            args += [opt, p]
    seen = []
    for opt, files in (("--inline", msg.inline), ("-a", msg.attach)):
        for name, data in files:
            # The same file name twice: from two folders.
            folder = os.path.join(d, "files" + str(seen.count(name)))
            seen.append(name)
            os.makedirs(folder, exist_ok=True)
            p = os.path.join(folder, name)
            with open(p, "wb") as f:
                f.write(data)
            args += [opt, p]
    r = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    if msg.may_refuse is not None and r.returncode == msg.may_refuse:
        raise Refused(r.stderr.decode(errors="replace").strip())
    if r.returncode != 0:
        raise RuntimeError(f"envoi exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    path = os.path.join(d, "message.eml")
    with open(path, "wb") as f:
        f.write(r.stdout)
    return path


class Refused(Exception):
    """envoi refused the message with the code the battery allows."""


def read_all(msg, top):
    """Composes MSG and runs every reader on it; returns {reader: Reading
    or the exception it raised}, and the raw message under "raw"."""
    out = {}
    try:
        path = compose(msg, top)
    except Exception as e:     # every case of this message then reports it (or skips: Refused)
        return {"raw": e}
    with open(path, "rb") as f:
        out["raw"] = f.read()
    for name, fn in readers.READERS.items():
        scratch = os.path.join(top, msg.name, "read-" + name)
        os.makedirs(scratch)
        try:
            out[name] = fn(path, scratch)
        except Exception as e:
            out[name] = e
    return out


def setUpModule():
    top = tempfile.mkdtemp(prefix="envoi-readback-")
    STATE["top"] = top
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {m.name: pool.submit(read_all, m, top) for m in BATTERY}
        STATE.update({k: f.result() for k, f in futures.items()})


def tearDownModule():
    if os.environ.get("READBACK_KEEP"):
        print(f"# kept {STATE['top']}")
    else:
        shutil.rmtree(STATE["top"], ignore_errors=True)


# --- what "exact" means ------------------------------------------------------

def text_lines(data):
    """A text as its lines: CRLF, a lone CR and a lone LF each end a line.
    RFC 2046 4.1.1 makes CRLF the only line break of a text part, so a
    composer must turn the other two into CRLF; a reader then hands the
    lines back with its own local break (LF, or CRLF)."""
    if isinstance(data, bytes):
        return re.split(rb"\r\n|\r|\n", data)
    return re.split(r"\r\n|\r|\n", data)


def reader_lines(data):
    """The lines a reader returned: CRLF or LF ends a line; a CR left over
    is a character the reader saw in the text (it must not be there)."""
    if isinstance(data, bytes):
        return re.split(rb"\r?\n", data)
    return re.split(r"\r?\n", data)


def is_text(ctype):
    return ctype is not None and ctype.startswith("text/")


# An encoded-word as a reader finds one (RFC 2047 2, 5): a word of its
# own, not text inside a quoted parameter such as filename="=?x?.bin".
ENCODED_WORD = re.compile(rb"(?:^|[\s(])=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=(?=$|[\s),])")


class ReadBack(unittest.TestCase):
    maxDiff = 2000

    def reading(self, msg, reader):
        got = STATE[msg.name]
        self.refused(got["raw"])
        if isinstance(got["raw"], Exception):
            self.fail(f"envoi could not compose {msg.name}: {got['raw']}")
        r = got[reader]
        if isinstance(r, Exception):
            self.fail(f"{reader} failed on {msg.name}: {r}")
        return r

    def refused(self, raw):
        if isinstance(raw, Refused):
            self.skipTest(f"envoi refused it, an allowed answer: {raw}")

    def check_subject(self, msg, reader):
        self.assertEqual(self.reading(msg, reader).subject, msg.subject)

    def check_addresses(self, msg, reader):
        r = self.reading(msg, reader)
        for h, want in (("From", [msg.from_]), ("To", msg.to), ("Cc", msg.cc), ("Reply-To", msg.reply_to)):
            if want:
                self.assertEqual(r.addresses.get(h), [tuple(x) for x in want], f"{h} {r.notes}")

    def check_parts(self, msg, reader):
        got = [p.type for p in self.reading(msg, reader).parts]
        want = [t for t, _, _ in msg.parts()]
        if reader == "snail" and got == [None]:
            got = want[:1]     # s-nail marks no part in a message that is not multipart
        self.assertEqual(got, want)

    def check_filenames(self, msg, reader):
        got = [p.filename for p in self.reading(msg, reader).parts]
        self.assertEqual(got, [n for _, n, _ in msg.parts()])

    def check_contents(self, msg, reader):
        parts = self.reading(msg, reader).parts
        want = msg.parts()
        self.assertEqual(len(parts), len(want), "number of parts")
        # One TAP line per case: every part is checked, the faults are
        # reported together (no subTest, whose lines would break the plan).
        faults = []
        for i, (p, (wtype, wname, wdata)) in enumerate(zip(parts, want)):
            rule = EXCLUDE_PART.get(reader)
            if rule and rule[0](p.type or wtype, wdata):
                print(f"# {self.id()}: part {i} not asked: {rule[1]} (control: {rule[2]})", flush=True)
                continue
            try:
                self.check_part(reader, p, wtype, wdata)
            except AssertionError as e:
                faults.append(f"part {i} ({p.type}, {wname!r}): {e}")
        if faults:
            self.fail("\n".join(faults))

    def check_part(self, reader, p, wtype, wdata):
        if p.data is None:
            return            # this reader does not show this kind of part (s-nail: not text)
        if not (is_text(p.type) or (p.type is None and is_text(wtype))):
            self.assertIsInstance(p.data, bytes)
            self.assertEqual(len(p.data), len(wdata), "size")
            self.assertTrue(p.data == wdata, "bytes differ")
            return
        want = wdata
        if isinstance(p.data, str):
            try:
                want = wdata.decode("utf-8")
            except UnicodeDecodeError:
                # No string is right for bytes that are not UTF-8 text:
                # the byte readers check these bytes, readers that convert
                # the charset are not asked.
                return
        want_lines, got_lines = text_lines(want), reader_lines(p.data)
        if reader == "snail":
            # s-nail's view cannot show whether the text ended in line breaks.
            while want_lines and not want_lines[-1]:
                want_lines.pop()
            while got_lines and not got_lines[-1]:
                got_lines.pop()
        if (p.type or wtype) == "text/html":
            # The composer may rewrite a cid: URL to the Content-ID it made
            # (RFC 2392); check_cid_resolves checks where it points.
            want_lines, got_lines = [cid_free(x) for x in want_lines], [cid_free(x) for x in got_lines]
        self.assertEqual(got_lines, want_lines)

    # --- what envoi wrote, read here ---------------------------------------

    def composed(self, msg):
        raw = STATE[msg.name]["raw"]
        self.refused(raw)
        if isinstance(raw, Exception):
            self.fail(f"envoi could not compose {msg.name}: {raw}")
        return raw

    def check_header_lines_76(self, msg):
        """RFC 2047 2: a line holding an encoded-word is at most 76 columns."""
        for part_head in header_blocks(self.composed(msg)):
            for line in part_head.split(b"\r\n"):
                if ENCODED_WORD.search(line):
                    self.assertLessEqual(len(line), 76, line)

    def check_text_canonical(self, msg):
        """RFC 2045 6.8 / RFC 2046 4.1.1: a text part decodes to CRLF lines."""
        m = email.message_from_bytes(self.composed(msg), policy=email.policy.compat32)
        for p in m.walk():
            if p.get_content_maintype() == "text":
                data = p.get_payload(decode=True)
                self.assertNotRegex(data, rb"\r(?!\n)|(?<!\r)\n", p.get("Content-Type"))

    def check_charset_declared(self, msg):
        """RFC 2046 4.1.2: text with no charset is US-ASCII; the declared
        charset must be one the bytes are valid in."""
        m = email.message_from_bytes(self.composed(msg), policy=email.policy.compat32)
        for p in m.walk():
            if p.get_content_maintype() != "text":
                continue
            data = p.get_payload(decode=True)
            charset = p.get_param("charset") or "us-ascii"
            if charset.lower() == "unknown-8bit":
                continue      # RFC 1428: a true label for bytes of no known charset
            try:
                data.decode(charset)
            except (UnicodeDecodeError, LookupError) as e:
                self.fail(f"{p.get('Content-Type')}: {e}")

    def check_one_filename_form(self, msg):
        """A file name in one form per header: filename* (RFC 2231) or
        filename, never both, or readers disagree about which is meant."""
        for part_head in header_blocks(self.composed(msg)):
            unfolded = re.sub(rb"\r\n[ \t]+", b" ", part_head).lower()
            for line in unfolded.split(b"\r\n"):
                for param in (b"filename", b"name"):
                    both = re.search(rb"[;\s]" + param + rb"\*", line) and re.search(rb"[;\s]" + param + rb"=", line)
                    self.assertFalse(both, line)

    def check_cid_resolves(self, msg):
        """RFC 2392: each cid: URL of the HTML names the Content-ID of the
        inline part made from the file it named."""
        m = email.message_from_bytes(self.composed(msg), policy=email.policy.compat32)
        leaves = [p for p in m.walk() if not p.is_multipart()]
        html = [p for p in leaves if p.get_content_type() == "text/html"][0].get_payload(decode=True)
        ids = {(p.get("Content-ID") or "").strip().strip("<>"): p.get_filename() for p in leaves}
        refs_in = re.findall(CID, msg.html)
        refs_out = re.findall(CID, html)
        self.assertEqual(len(refs_out), len(refs_in), "cid: URLs")
        for ref_in, ref_out in zip(refs_in, refs_out):
            cid = urllib.parse.unquote(ref_out.decode())
            self.assertIn(cid, ids, f"cid:{cid} matches no Content-ID")
            self.assertEqual(ids[cid], ref_in.decode(), f"cid:{cid} is not the file it named")

    def check_content_id(self, msg):
        """RFC 2045 7: Content-ID is a msg-id, <left@right>; unique."""
        ids = re.findall(rb"(?im)^content-id:[ \t]*([^\r\n]*)", self.composed(msg))
        self.assertEqual(len(ids), len(msg.inline))
        for i in ids:
            self.assertRegex(i, rb"^<[^<>@\s]+@[^<>@\s]+>$")
        self.assertEqual(len(set(ids)), len(ids))


CID = rb"cid:([^\"'\s>)]+)"


def cid_free(line):
    """LINE with every cid: URL the same (see check_cid_resolves)."""
    if isinstance(line, bytes):
        return re.sub(CID, b"cid:*", line)
    return re.sub(CID.decode(), "cid:*", line)


def header_blocks(raw):
    """The header block of the message and of each body part (bytes)."""
    blocks = [raw.split(b"\r\n\r\n", 1)[0]]
    for m in re.finditer(rb"\r\n--[^\r\n]+\r\n((?:[^\r\n]+\r\n)*?)\r\n", raw):
        blocks.append(m.group(1))
    return blocks


# --- exclusions, each proved by a control message ----------------------------
# A control is a message written here by hand, correct by the RFCs cited,
# on which the reader is wrong in the same way. Its case asserts that the
# reader IS wrong there: once a reader is fixed, the control fails, and its
# exclusion must go.

def multipart(*parts, boundary="b0undary"):
    """A hand-written multipart/mixed message of PARTS (each: header
    lines and body, as text with \n), CRLF throughout."""
    out = ("From: a@example.com\nTo: b@example.org\nSubject: control\n"
           "Date: Tue, 1 Dec 2026 21:00:00 +0000\nMessage-ID: <c@example.com>\nMIME-Version: 1.0\n"
           f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n')
    for head, body in parts:
        out += f"--{boundary}\n{head}\n\n{body}\n"
    out += f"--{boundary}--\n"
    return out.replace("\n", "\r\n").encode()


def single(head, body):
    """A hand-written message that is not multipart: HEAD (header lines,
    a From of its own or the default one) and BODY, CRLF throughout."""
    if not head.startswith("From:"):
        head = "From: a@example.com\n" + head
    return (head.split("\n", 1)[0] + "\nTo: b@example.org\nDate: Tue, 1 Dec 2026 21:00:00 +0000\n"
            f"Message-ID: <c@example.com>\nMIME-Version: 1.0\n{head.split(chr(10), 1)[1]}\n\n{body}"
            ).replace("\n", "\r\n").encode()


TEXT_7BIT = "Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit"
LONG_ASCII_NAME = "n" * 251 + ".bin"


def attachment(disposition, ctype="Content-Type: application/octet-stream"):
    return (f"{ctype}\nContent-Transfer-Encoding: base64\n{disposition}", "eA==")


def with_file(disposition):
    return multipart((TEXT_7BIT, "x"), attachment(disposition))


def filename_of_last(r):
    return r.parts[-1].filename


# name -> (faulty reader, hand-written message, what to take from a
#          Reading, the right value, a reader that gets it right)
CONTROLS = {
    # RFC 2046 5.1.1: the CRLF before a boundary belongs to the boundary.
    "ripmime_keeps_crlf_before_boundary": (
        "ripmime", multipart((TEXT_7BIT, "hello")),
        lambda r: r.parts[0].data, b"hello", "py_compat32"),
    # RFC 2183 2.3 sets no length limit; 255 bytes is what file systems take.
    "ripmime_truncates_long_filename": (
        "ripmime", with_file(f'Content-Disposition: attachment;\n filename="{LONG_ASCII_NAME}"'),
        filename_of_last, LONG_ASCII_NAME, "py_default"),
    # RFC 2183 does not forbid two parts with one file name; a reader that
    # writes files must rename one.
    "ripmime_renames_second_same_file_name": (
        "ripmime", multipart((TEXT_7BIT, "x"), *[attachment('Content-Disposition: attachment; filename="a.bin"')] * 2),
        lambda r: [p.filename for p in r.parts[1:]], ["a.bin", "a.bin"], "py_default"),
    # RFC 822 quoted-pair: \" in a quoted-string is a double quote.
    "ripmime_loses_filename_with_quoted_pair": (
        "ripmime", with_file('Content-Disposition: attachment; filename="the \\"best\\" one.pdf"'),
        filename_of_last, 'the "best" one.pdf', "py_default"),
    "mblaze_keeps_backslash_of_quoted_pair_in_filename": (
        "mblaze", with_file('Content-Disposition: attachment; filename="the \\"best\\" one.pdf"'),
        filename_of_last, 'the "best" one.pdf', "py_default"),
    "reformime_keeps_backslash_of_quoted_pair_in_filename": (
        "reformime", with_file('Content-Disposition: attachment; filename="the \\"best\\" one.pdf"'),
        filename_of_last, 'the "best" one.pdf', "py_default"),
    # RFC 2047 5: no encoded-word inside a quoted-string or a parameter,
    # so this file name is the literal text. mblaze reads it right.
    "ripmime_decodes_encoded_word_in_quoted_filename": (
        "ripmime", with_file('Content-Disposition: attachment; filename="=?UTF-8?B?SGk=?=.bin"'),
        filename_of_last, "=?UTF-8?B?SGk=?=.bin", "mblaze"),
    "py_default_decodes_encoded_word_in_quoted_filename": (
        "py_default", with_file('Content-Disposition: attachment; filename="=?UTF-8?B?SGk=?=.bin"'),
        filename_of_last, "=?UTF-8?B?SGk=?=.bin", "mblaze"),
    "snail_decodes_encoded_word_in_quoted_filename": (
        "snail", with_file('Content-Disposition: attachment; filename="=?UTF-8?B?SGk=?=.bin"'),
        filename_of_last, "=?UTF-8?B?SGk=?=.bin", "mblaze"),
    # RFC 2183 2.3 lets a reader drop what looks like a directory path;
    # ripmime takes a backslash for one. Its choice, not envoi's fault.
    "ripmime_cuts_filename_at_backslash": (
        "ripmime", with_file("Content-Disposition: attachment; filename*=UTF-8''back%5Cslash.bin"),
        filename_of_last, "back\\slash.bin", "py_default"),
    # RFC 2045: a message that is not multipart is one text part.
    "munpack_finds_no_part_in_single_part_message": (
        "munpack", single(TEXT_7BIT, "hello\n"),
        lambda r: len(r.parts), 1, "py_default"),
    "munpack_mangles_text_parts": (
        "munpack", multipart((TEXT_7BIT, "hello"), attachment("Content-Disposition: attachment; filename=a.bin")),
        lambda r: r.parts[0].data.replace(b"\r\n", b"\n"), b"hello", "py_compat32"),
    # A quoted-string file name may hold spaces; munpack turns every
    # character it does not like into X, and reads no RFC 2231 name.
    "munpack_rewrites_filenames": (
        "munpack", with_file('Content-Disposition: attachment; filename="a b.bin"'),
        filename_of_last, "a b.bin", "py_default"),
    "munpack_ignores_rfc2231_filename": (
        "munpack", with_file("Content-Disposition: attachment; filename*=UTF-8''%C3%A9.bin"),
        filename_of_last, "é.bin", "py_default"),
    # munpack writes the name as it stands in the header; past 255 bytes
    # the file system refuses it and the part is lost.
    "munpack_loses_part_with_long_name": (
        "munpack", with_file('Content-Disposition: attachment;\n filename="' + "n" * 300 + '"'),
        lambda r: len(r.parts), 2, "py_default"),
    # RFC 5322 3.2.4: the quotes of a quoted-string are not part of the
    # display name; maddr -d prints them.
    "mblaze_maddr_prints_quotes": (
        "mblaze", single('From: "Smith, John" <js@example.com>\n' + TEXT_7BIT, "x\n"),
        lambda r: r.addresses["From"], [("Smith, John", "js@example.com")], "py_default"),
    # RFC 2047 5 (3) / 6.2: an encoded-word is one word of the phrase; the
    # comma it decodes to does not end the mailbox.
    "mblaze_maddr_splits_encoded_word_at_comma": (
        "mblaze", single("From: =?UTF-8?B?w5xuYWwsIMOHYcSfcsSx?= <c@example.com>\n" + TEXT_7BIT, "x\n"),
        lambda r: r.addresses["From"], [("Ünal, Çağrı", "c@example.com")], "py_default"),
    # RFC 2047 6.2: white space between adjacent encoded-words is ignored;
    # policy.default keeps it inside a display name (not in a Subject).
    "py_default_keeps_space_between_encoded_words_in_name": (
        "py_default", single("From: =?UTF-8?B?w6Q=?= =?UTF-8?B?w7Y=?= <x@example.com>\n" + TEXT_7BIT, "x\n"),
        lambda r: r.addresses["From"], [("äö", "x@example.com")], "reformime"),
    # RFC 5322 2.2.1 / 3.2.5: unstructured text keeps its white space.
    "snail_collapses_spaces_in_subject": (
        "snail", single("Subject: a  b   c\n" + TEXT_7BIT, "x\n"),
        lambda r: r.subject, "a  b   c", "py_default"),
    # U+200D (zero width joiner, inside emoji sequences) is text like any other.
    "snail_drops_zero_width_joiner": (
        "snail", single("Subject: =?UTF-8?B?8J+RqeKAjfCfkrs=?=\n" + TEXT_7BIT, "x\n"),
        lambda r: r.subject, "\U0001F469\u200d\U0001F4BB", "py_default"),
    # RFC 2045 6.7: =00 is a NUL octet; s-nail shows U+2400 instead.
    "snail_shows_nul_as_symbol": (
        "snail", single("Content-Type: text/plain; charset=us-ascii\n"
                        "Content-Transfer-Encoding: quoted-printable", "a=00b\n"),
        lambda r: r.parts[0].data.rstrip("\r\n"), "a\x00b", "py_default"),
}


def has_specials(name):
    return any(c in name for c in '()<>[]:;@\\,."')


def adjacent_encoded_words_in_addresses(raw):
    head = re.sub(rb"\r\n(?=[ \t])", b" ", raw.split(b"\r\n\r\n", 1)[0])
    return bool(re.search(rb"(?im)^(from|to|cc|reply-to):.*\?=[ \t]+=\?", head))


def all_names(msg):
    return [n for n, _ in [msg.from_] + msg.to + msg.cc + msg.reply_to]


def file_names(msg):
    return [n for _, n, _ in msg.parts() if n]


def quoted_params(raw):
    """Per part: the quoted-string file names (name=, filename=) of a
    header block that has no RFC 2231 form (name*, filename*) of them,
    i.e. what a reader that reads the quoted form sees."""
    out = []
    for block in header_blocks(raw):
        un = re.sub(rb"\r\n[ \t]+", b" ", block)
        if re.search(rb"(?i)[;\s](file)?name\*", un):
            continue
        out += [v.decode("utf-8", "replace") for v in re.findall(rb'(?i)[;\s](?:file)?name="((?:[^"\\]|\\.)*)"', un)]
    return out


def long_param(raw):
    """A name= or filename= value (any form but RFC 2231 sections) over 255 bytes."""
    for block in header_blocks(raw):
        un = re.sub(rb"\r\n[ \t]+", b" ", block)
        for v in re.findall(rb'(?i)[;\s](?:file)?name="((?:[^"\\]|\\.)*)"', un):
            if len(v) > 255:
                return True
    return False


# (reader, check) -> [(does it apply (msg, raw), why, controls)]
EXCLUDE = {
    ("ripmime", "filenames"): [
        (lambda m, raw: any(len(n.encode()) > 128 for n in file_names(m)),
         "ripmime cuts long file names", "ripmime_truncates_long_filename"),
        (lambda m, raw: len(set(file_names(m))) < len(file_names(m)),
         "ripmime renames a repeated file name", "ripmime_renames_second_same_file_name"),
        (lambda m, raw: any('"' in n for n in file_names(m)),
         "ripmime cannot read a file name holding a double quote", "ripmime_loses_filename_with_quoted_pair"),
        (lambda m, raw: any("=?" in n for n in file_names(m)),
         "ripmime decodes encoded-words in file names", "ripmime_decodes_encoded_word_in_quoted_filename"),
        (lambda m, raw: any("\\" in n for n in file_names(m)),
         "ripmime cuts a file name at a backslash (RFC 2183 2.3 allows it)", "ripmime_cuts_filename_at_backslash"),
    ],
    ("mblaze", "filenames"): [
        (lambda m, raw: any("\\" in v for v in quoted_params(raw)),
         "mshow keeps the backslash of a quoted-pair", "mblaze_keeps_backslash_of_quoted_pair_in_filename")],
    ("reformime", "filenames"): [
        (lambda m, raw: any("\\" in v for v in quoted_params(raw)),
         "reformime keeps the backslash of a quoted-pair", "reformime_keeps_backslash_of_quoted_pair_in_filename")],
    ("py_default", "filenames"): [
        (lambda m, raw: any("=?" in v for v in quoted_params(raw)),
         "policy.default decodes encoded-words in a quoted file name",
         "py_default_decodes_encoded_word_in_quoted_filename")],
    ("snail", "filenames"): [
        (lambda m, raw: any("=?" in v for v in quoted_params(raw)),
         "s-nail decodes encoded-words in a quoted file name", "snail_decodes_encoded_word_in_quoted_filename")],
    ("munpack", "parts"): [
        (lambda m, raw: len(m.parts()) == 1,
         "munpack finds no part in a single-part message", "munpack_finds_no_part_in_single_part_message"),
        (lambda m, raw: long_param(raw),
         "munpack loses a part whose file name is over 255 bytes", "munpack_loses_part_with_long_name")],
    ("munpack", "filenames"): [
        (lambda m, raw: True, "munpack rewrites file names and reads no RFC 2231 names",
         "munpack_rewrites_filenames, munpack_ignores_rfc2231_filename")],
    ("mblaze", "addresses"): [
        (lambda m, raw: any(has_specials(n) for n in all_names(m)),
         "maddr prints quotes and splits encoded-words at commas",
         "mblaze_maddr_prints_quotes, mblaze_maddr_splits_encoded_word_at_comma")],
    ("py_default", "addresses"): [
        (lambda m, raw: adjacent_encoded_words_in_addresses(raw),
         "policy.default keeps the space between adjacent encoded-words in a name",
         "py_default_keeps_space_between_encoded_words_in_name")],
    ("snail", "subject"): [
        (lambda m, raw: re.search(r"\s\s", m.subject),
         "s-nail collapses runs of spaces", "snail_collapses_spaces_in_subject"),
        (lambda m, raw: "\u200d" in m.subject,
         "s-nail drops U+200D", "snail_drops_zero_width_joiner")],
}
EXCLUDE[("munpack", "contents")] = EXCLUDE[("munpack", "parts")]

# Within the contents check, parts a reader is not asked about:
# reader -> (does it apply to this expected part (type, data), why, control)
EXCLUDE_PART = {
    "ripmime": (lambda t, d: is_text(t), "ripmime keeps the CRLF before a boundary in text parts",
                "ripmime_keeps_crlf_before_boundary"),
    "munpack": (lambda t, d: is_text(t), "munpack mangles text parts", "munpack_mangles_text_parts"),
    "snail": (lambda t, d: b"\x00" in d or "\u200d".encode() in d,
              "s-nail shows NUL as a symbol and drops U+200D",
              "snail_shows_nul_as_symbol, snail_drops_zero_width_joiner"),
}


def excluded(reader, check, msg):
    raw = STATE[msg.name]["raw"]
    if isinstance(raw, Exception):
        return None
    why = [f"{rule[1]} (control: {rule[2]})" for rule in EXCLUDE.get((reader, check), []) if rule[0](msg, raw)]
    return "; ".join(why) or None


class Controls(unittest.TestCase):
    """Each reader fault behind an exclusion, shown on a hand-written message."""


def read_control(reader, raw, take):
    d = tempfile.mkdtemp(prefix="envoi-readback-control-")
    try:
        path = os.path.join(d, "control.eml")
        with open(path, "wb") as f:
            f.write(raw)
        try:
            return take(readers.READERS[reader](path, os.path.join(d, "scratch")))
        except Exception as e:     # a reader that fails outright is wrong too
            return f"<{reader} failed: {e!r}>"
    finally:
        shutil.rmtree(d)


def make_control(reader, raw, take, right, reference):
    def case(self):
        # The control is right, and readable: a reference reader gets it.
        self.assertEqual(read_control(reference, raw, take), right, f"reference reader {reference}")
        self.assertNotEqual(read_control(reader, raw, take), right,
                            f"{reader} reads the control right now: drop its exclusion")
    return case


for _name, (_reader, _raw, _take, _right, _ref) in CONTROLS.items():
    setattr(Controls, f"test_control_{_name}", make_control(_reader, _raw, _take, _right, _ref))


def make_case(check, msg, reader=None):
    def case(self):
        if reader is not None:
            why = excluded(reader, check, msg)
            if why:
                self.skipTest(f"{reader} excluded: {why}")
            getattr(self, "check_" + check)(msg, reader)
        else:
            getattr(self, "check_" + check)(msg)
    return case


COMPOSER_CHECKS = ("header_lines_76", "text_canonical", "charset_declared", "one_filename_form")
for _msg in BATTERY:
    for _check in COMPOSER_CHECKS:
        setattr(ReadBack, f"test_{_check}__{_msg.name}", make_case(_check, _msg))
    if _msg.inline:
        setattr(ReadBack, f"test_content_id__{_msg.name}", make_case("content_id", _msg))
        setattr(ReadBack, f"test_cid_resolves__{_msg.name}", make_case("cid_resolves", _msg))
    for _check in CHECKS:
        if _msg.light and _check in ("parts", "filenames", "contents"):
            continue
        if _check == "addresses" and not _msg.name.startswith("names_") and _msg.from_[0] == "":
            continue
        for _reader, _can in readers.CAN.items():
            if _check in _can:
                setattr(ReadBack, f"test_{_check}__{_msg.name}__{_reader}", make_case(_check, _msg, _reader))


if __name__ == "__main__":
    tap.main()
