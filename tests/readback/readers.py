"""The independent readers of test_readback.py. Each function takes the
path of a composed message (CRLF, exactly as envoi wrote it) and a scratch
directory, and returns a Reading: what that reader makes of the message.
A field is None when the reader cannot tell it (ripmime and munpack do not
decode headers, for instance); the test then makes no case for it."""
import email
import email.header
import email.policy
import email.utils
import os
import re
import subprocess
from dataclasses import dataclass, field

ADDRESS_HEADERS = ("From", "To", "Cc", "Reply-To")


@dataclass
class Part:
    type: str            # lower-case content type as the reader reports it, or None
    filename: str        # None when the reader finds no file name
    data: object         # bytes, or str for readers that convert the charset, or None


@dataclass
class Reading:
    subject: str = None
    addresses: dict = None    # header -> [(display name, addr-spec)]
    parts: list = None        # leaf parts in order
    notes: list = field(default_factory=list)


def run(argv, stdin=None, env=None, cwd=None):
    r = subprocess.run(argv, input=stdin, capture_output=True, env=env, cwd=cwd, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    return r.stdout


def raw_header(raw, name):
    """The unfolded value of header NAME in RAW (bytes), leading white
    space after the colon dropped, as every reader does; None if absent."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    unfolded = re.sub(r"\r\n(?=[ \t])", "", head)
    for line in unfolded.split("\r\n"):
        k, sep, v = line.partition(":")
        if sep and k.lower() == name.lower():
            return v.lstrip(" \t")
    return None


# --- Python's email, compat32 -------------------------------------------------

def py_compat32(path, scratch):
    with open(path, "rb") as f:
        m = email.message_from_binary_file(f, policy=email.policy.compat32)

    def decode(s):
        # compat32 hands back header values still folded; unfolding
        # (RFC 5322 2.2.3) is its caller's job.
        s = re.sub(r"\r?\n(?=[ \t])", "", s)
        return str(email.header.make_header(email.header.decode_header(s)))
    r = Reading(subject=decode(m["Subject"]) if m["Subject"] is not None else None)
    r.addresses = {}
    for h in ADDRESS_HEADERS:
        values = m.get_all(h, [])
        if values:
            values = [re.sub(r"\r?\n(?=[ \t])", "", v) for v in values]
            r.addresses[h] = [(decode(n), a) for n, a in email.utils.getaddresses(values)]
    r.parts = [Part(p.get_content_type(), p.get_filename(), p.get_payload(decode=True))
               for p in m.walk() if not p.is_multipart()]
    return r


# --- Python's email, policy.default ------------------------------------------

def py_default(path, scratch):
    with open(path, "rb") as f:
        m = email.message_from_binary_file(f, policy=email.policy.default)
    r = Reading(subject=str(m["Subject"]) if m["Subject"] is not None else None)
    r.addresses = {}
    for h in ADDRESS_HEADERS:
        if m[h] is not None:
            r.addresses[h] = [(a.display_name, a.addr_spec) for a in m[h].addresses]
    r.parts = []
    for p in m.walk():
        if p.is_multipart():
            continue
        try:
            data = p.get_content()      # str for text/*, with its charset applied
        except (LookupError, UnicodeError) as e:
            data = f"<get_content failed: {e!r}>"
        r.parts.append(Part(p.get_content_type(), p.get_filename(), data))
    return r


# --- mblaze: mshow -t / mshow -O / mhdr / maddr ------------------------------

def mblaze_env(scratch):
    d = os.path.join(scratch, "mblaze")
    os.makedirs(d, exist_ok=True)
    return dict(os.environ, MBLAZE=d, MBLAZE_PAGER="cat", MBLAZE_NOCOLOR="1",
                HOME=scratch, LC_ALL="C.UTF-8")


def mblaze(path, scratch):
    env = mblaze_env(scratch)
    r = Reading()
    if raw_header(open(path, "rb").read(), "Subject") is not None:
        subj = run(["mhdr", "-h", "subject", "-d", path], env=env).decode()
        r.subject = subj[:-1] if subj.endswith("\n") else subj
    r.addresses = {}
    for h in ADDRESS_HEADERS:
        if raw_header(open(path, "rb").read(), h) is None:
            continue
        names = run(["maddr", "-d", "-h", h.lower(), path], env=env).decode().split("\n")[:-1]
        addrs = run(["maddr", "-a", "-h", h.lower(), path], env=env).decode().split("\n")[:-1]
        # maddr -d prints the address itself when a mailbox has no name.
        r.addresses[h] = [("" if n == a else n, a) for n, a in zip(names, addrs)]
        if len(names) != len(addrs):
            r.notes.append(f"maddr -d / -a disagree on {h}: {names} / {addrs}")
    listing = run(["mshow", "-t", path], env=env).decode()
    r.parts = []
    for line in listing.split("\n")[1:]:
        m = re.match(r'^\s*(\d+): (\S+) size=\d+(?: name="(.*)")?$', line)
        if not m:
            continue
        if m.group(2).lower().startswith("multipart/"):
            continue
        data = run(["mshow", "-O", path, m.group(1)], env=env)
        r.parts.append(Part(m.group(2).lower(), m.group(3), data))
    return r


# --- reformime (maildrop) ----------------------------------------------------

def reformime(path, scratch):
    raw = open(path, "rb").read()
    r = Reading()
    s = raw_header(raw, "Subject")
    if s is not None:
        out = run(["reformime", "-h", s]).decode()
        r.subject = out[:-1] if out.endswith("\n") else out
    r.addresses = {}
    for h in ADDRESS_HEADERS:
        v = raw_header(raw, h)
        if v is not None:
            r.addresses[h] = parse_mailboxes(run(["reformime", "-H", v]).decode().rstrip("\n"))
    info = run(["reformime", "-i"], stdin=raw).decode()
    r.parts = []
    for block in info.strip().split("\n\n"):
        kv = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        if kv["content-type"].lower().startswith("multipart/"):
            continue
        name = kv.get("content-disposition-filename", kv.get("content-name"))
        data = run(["reformime", "-e", "-s", kv["section"]], stdin=raw)
        r.parts.append(Part(kv["content-type"].lower(), name, data))
    return r


def parse_mailboxes(s):
    """Splits an RFC 5322 address list as reformime -H prints it (decoded,
    names re-quoted where needed) into [(name, addr)]."""
    out, name, i, tok = [], "", 0, ""
    while i < len(s):
        c = s[i]
        if c == '"':
            i += 1
            while s[i] != '"':
                if s[i] == "\\":
                    i += 1
                tok += s[i]
                i += 1
        elif c == "<":
            j = s.index(">", i)
            name, addr = tok.strip(), s[i + 1:j]
            out.append((name, addr))
            tok, i = "", j
        elif c == ",":
            if tok.strip():
                out.append(("", tok.strip()))
            tok = ""
        else:
            tok += c
        i += 1
    if tok.strip():
        out.append(("", tok.strip()))
    return out


# --- ripmime -----------------------------------------------------------------

def ripmime(path, scratch):
    d = os.path.join(scratch, "ripmime")
    os.makedirs(d)
    # --no-multiple-filenames: when a part's name= and filename= differ,
    # ripmime otherwise saves it twice, once under each name.
    out = run(["ripmime", "-i", path, "-d", d, "-v", "--verbose-contenttype",
               "--no-paranoid", "--no-multiple-filenames"]).decode("utf-8", "surrogateescape")
    r = Reading(parts=[])
    for line in out.split("\n"):
        m = re.match(r"^Decoding content-type=(\S+) filename=(.*)$", line)
        if not m or m.group(1).lower().startswith("multipart/"):
            continue
        fname = m.group(2)
        if not os.path.exists(os.path.join(d, fname)):
            # ripmime prints the name through a format string: % comes out as %%.
            fname = fname.replace("%%", "%")
        with open(os.path.join(d, fname), "rb") as f:
            data = f.read()
        r.parts.append(Part(m.group(1).lower(), None if re.fullmatch(r"textfile\d+", fname) else fname, data))
    return r


# --- munpack (mpack) ---------------------------------------------------------

def munpack(path, scratch):
    d = os.path.join(scratch, "munpack")
    os.makedirs(d)
    out = run(["munpack", "-t", "-C", d, path]).decode("utf-8", "surrogateescape")
    r = Reading(parts=[])
    for line in out.split("\n"):
        m = re.match(r"^(.*) \(([^()\s]+)\)$", line)
        if not m:
            continue
        fname = m.group(1)
        with open(os.path.join(d, fname), "rb") as f:
            data = f.read()
        r.parts.append(Part(m.group(2).lower(), None if re.fullmatch(r"part\d+", fname) else fname, data))
    return r


# --- s-nail ------------------------------------------------------------------

def snail(path, scratch):
    """s-nail in batch mode (-#) on a one-message mbox: the message with
    its CRLF turned into the local LF and a From_ line in front (no
    >From quoting: s-nail only splits at a From_ line with a date).
    mime-counter-evidence=0: report the declared content type, not the
    type s-nail guesses from the name and content (marked with a +)."""
    raw = open(path, "rb").read()
    home = os.path.join(scratch, "snail")
    os.makedirs(home)
    mbox = os.path.join(home, "mbox")
    with open(mbox, "wb") as f:
        f.write(b"From sender@example.com Tue Dec  1 21:19:44 2026\n" + raw.replace(b"\r\n", b"\n") + b"\n")
    env = dict(os.environ, HOME=home, MAIL=mbox, LC_ALL="C.UTF-8", MAILRC="/dev/null")
    out = run(["s-nail", "-#", "-N", "-R", "-f", mbox],
              stdin=b"set ttycharset=utf-8\nset mime-counter-evidence=0\nprint 1\n", env=env).decode()
    head, _, body = out.partition("\n\n")
    r = Reading()
    for line in head.split("\n"):
        if line.startswith("Subject: "):
            r.subject = line[len("Subject: "):]
    r.parts = []
    # A part marker: [-- #1.2 8/279 text/plain, base64, utf-8 --]; a + before
    # the type marks a part s-nail has no viewer for.
    chunks = re.split(r"\n?\[-- #[\d.]+ \d+/\d+ \+?(\S+?)(?:,[^\n]*)? --\]\n", "\n" + body)
    if len(chunks) == 1:       # not multipart: no part markers
        r.parts.append(Part(None, None, snail_text(body)))
        return r
    for ctype, text in zip(chunks[1::2], chunks[2::2]):
        if ctype.lower().startswith("multipart/"):
            continue
        m = re.match(r"\[-- (.*) --\]\n", text)
        name = None
        if m and not text.startswith("[-- No MIME handler"):
            name, text = m.group(1), text[m.end():]
        # s-nail shows text/plain itself; other types only through a
        # handler (mailcap), which this test does not set up.
        shown = ctype.lower() == "text/plain"
        r.parts.append(Part(ctype.lower(), name, snail_text(text) if shown else None))
    return r


def snail_text(t):
    """The text s-nail shows for a part, without the blank line it puts
    after the part marker and the line breaks at the end (s-nail's view
    cannot show whether the text ended in a line break)."""
    if t.startswith("\n"):
        t = t[1:]
    return t.rstrip("\n")


READERS = {
    "py_compat32": py_compat32,
    "py_default": py_default,
    "mblaze": mblaze,
    "reformime": reformime,
    "ripmime": ripmime,
    "munpack": munpack,
    "snail": snail,
}

# What each reader can tell: the test makes a case only for these.
CAN = {
    "py_compat32": {"subject", "addresses", "parts", "filenames", "contents"},
    "py_default": {"subject", "addresses", "parts", "filenames", "contents"},
    "mblaze": {"subject", "addresses", "parts", "filenames", "contents"},
    "reformime": {"subject", "addresses", "parts", "filenames", "contents"},
    "ripmime": {"parts", "filenames", "contents"},
    "munpack": {"parts", "filenames", "contents"},
    "snail": {"subject", "parts", "filenames", "contents"},
}
