"""The read-back battery: the messages envoi composes for test_readback.py,
each described by what went in (so that what comes out can be compared).
Random bytes come from a fixed seed, so that a failure can be reproduced."""
import random
from dataclasses import dataclass, field

RNG = random.Random(9)


@dataclass
class Msg:
    name: str
    subject: str = "read-back"
    from_: tuple = ("", "sender@example.com")
    to: list = field(default_factory=lambda: [("", "rcpt@example.org")])
    cc: list = field(default_factory=list)
    reply_to: list = field(default_factory=list)
    text: bytes = None          # --body-file content, None for no text body
    html: bytes = None          # --html-file content
    inline: list = field(default_factory=list)   # [(file name, bytes)]
    attach: list = field(default_factory=list)   # [(file name, bytes)]
    light: bool = False         # headers only: no part checks (subject battery)
    may_refuse: int = None      # an exit code that is an acceptable answer too

    def parts(self):
        """The leaf parts a reader must find, in order: (content type or
        None when the composer may choose, file name or None, bytes)."""
        out = []
        text = self.text
        if text is None and self.html is None:
            text = b""          # the contract: no body at all is an empty text body
        if text is not None:
            out.append(("text/plain", None, text))
        if self.html is not None:
            out.append(("text/html", None, self.html))
        for name, data in self.inline + self.attach:
            out.append((type_of(name), name, data))
        return out


TYPES = {"txt": "text/plain", "png": "image/png", "pdf": "application/pdf",
         "bin": "application/octet-stream", "html": "text/html"}


def type_of(name):
    return TYPES.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")


def png(n):
    return b"\x89PNG\r\n\x1a\n" + RNG.randbytes(n)


# One alphabet per script; each subject is cut from its alphabet, words
# separated by single spaces, so every length from 1 on is a valid string.
SCRIPTS = {
    "latin": "Ça été très œuvré über straße façade naïve Ångström señor",
    "cyrillic": "Съешь же ещё этих мягких французских булок да выпей чаю",
    "cjk": "日本語の件名は長くなりがちです中文标题也一样한국어제목도",
    "arabic": "نص حكيم له سر قاطع وذو شأن عظيم مكتوب على ثوب أخضر",
    "emoji": "😀📈🎉👩‍💻🇩🇪✉️🔥💡🚀🌍",
    "mixed": "Invoice 42 — Счёт für Zürich 請求書 فاتورة 📎 final",
}
LENGTHS = [1, 2, 20, 63, 64, 75, 76, 77, 78, 120, 300]


def cut(alphabet, n):
    s = (alphabet + " ") * (n // len(alphabet) + 2)
    s = s[:n]
    # A subject must not start or end in a space by accident; those
    # cases are in SPECIAL_SUBJECTS, on purpose.
    return s.replace(" ", "x") if s.strip() != s else s


def subject_messages():
    out = []
    for script, alphabet in SCRIPTS.items():
        for n in LENGTHS:
            out.append(Msg(f"subject_{script}_{n}", subject=cut(alphabet, n), text=b"x\n", light=True))
    special = {
        "ascii_long_word": "x" * 200,
        "ascii_many_words": " ".join(["word"] * 80),
        "leading_trailing_spaces": "  Grüße an alle  ",
        "ascii_leading_space": " plain ascii",
        "double_spaces": "a  b   Привет    c",
        "encoded_word_lookalike": "=?UTF-8?B?SGk=?= is not encoded",
        "encoded_word_lookalike_utf8": "Прочти =?utf-8?q?x?= дословно",
        "equals_question": "a=?b ?= c =? d",
        "underscore_equals_utf8": "a_b=c ü_=?",
        "quotes_parens": 'He said "hi" (not bye) <x@y> ü',
        "only_spaces_utf8": "  ü  ",
    }
    for name, s in special.items():
        out.append(Msg(f"subject_{name}", subject=s, text=b"x\n", light=True))
    return out


NAMES = [
    ("Zoë Müller-Lüdenscheidt", "zoe@example.com"),
    ("Ünal, Çağrı", "cagri@example.com"),
    ('O\'Brien "the boss"', "boss@example.com"),
    ("a@b.example", "at@example.com"),
    ("Smith, John <js>", "js@example.com"),
    ("Иван Петров", "ivan@example.ru"),
    ("山田 太郎", "taro@example.jp"),
    ("محمد", "m@example.eg"),
    ("😀 Happy, \"Crew\" @ Work", "crew@example.com"),
    ("back\\slash", "bs@example.com"),
    ("=?UTF-8?B?SGk=?=", "ew@example.com"),
    ("", "bare@example.com"),
    ("Plain Name", "plain@example.com"),
    ("Łukasz " + "Długi" * 15, "long@example.pl"),
]


def address_messages():
    return [
        Msg("names_from_each", from_=NAMES[0], to=NAMES[1:5], cc=NAMES[5:9],
            reply_to=NAMES[9:11], text=b"names\n", light=True),
        Msg("names_from_quotes_at", from_=NAMES[8], to=NAMES[11:], cc=[NAMES[2]],
            reply_to=[NAMES[4]], text=b"names\n", light=True),
        Msg("names_from_plain", from_=NAMES[12], to=[NAMES[3]], text=b"names\n", light=True),
        Msg("names_from_encoded_lookalike", from_=NAMES[10], to=[NAMES[6]], text=b"x\n", light=True),
    ]


FILE_NAMES = {
    "spaces": "quarterly report 2026 final.pdf",
    "quotes": 'the "best" one.pdf',
    "semicolon": "a;b; filename=evil.pdf",
    "utf8": "résumé Ωμέγα 日本.pdf",
    "utf8_txt": "Grüße.txt",
    "apostrophe": "it's here.bin",
    "encoded_lookalike": "=?UTF-8?B?SGk=?=.bin",
    "percent_star": "100% *done*.bin",
    "long_255_utf8": ("é" * 125) + "x.bin",          # 250 + 5 = 255 bytes
    "long_255_ascii": ("n" * 251) + ".bin",
    "backslash": "back\\slash.bin",
}


def file_messages():
    out = []
    for key, fname in FILE_NAMES.items():
        data = "Grüße\r\nzweite Zeile\r\n".encode() if fname.endswith(".txt") else RNG.randbytes(500)
        out.append(Msg(f"filename_{key}", text=b"see attachment\n", attach=[(fname, data)]))
    out.append(Msg("filenames_all_in_one", text=b"all\n",
                   attach=[(n, RNG.randbytes(64)) for n in FILE_NAMES.values() if n.endswith(".bin")]))
    return out


def body_messages():
    long_line = ("0123456789" * 500).encode()
    return [
        Msg("body_long_line", text=long_line + b"\n"),
        Msg("body_long_line_utf8", text=("ü" * 5000).encode() + b"\nend\n"),
        Msg("body_lone_dots", text=b".\n..\nx\n.\n. \n.x\n"),
        Msg("body_crlf", text=b"one\r\ntwo\r\nthree\r\n"),
        Msg("body_bare_lf", text=b"one\ntwo\nthree\n"),
        Msg("body_bare_cr", text=b"one\rtwo\rthree\r"),
        Msg("body_mixed_breaks", text=b"a\r\nb\nc\rd\r\n\r\ne\n\rf"),
        Msg("body_cr_before_crlf", text=b"a\r\r\nb\n"),
        Msg("body_no_final_newline", text="kein Zeilenende — ü".encode()),
        Msg("body_utf8_scripts", text=("\n".join(SCRIPTS.values()) + "\n").encode()),
        Msg("body_nul", text=b"before\x00after\nline two\n"),
        Msg("body_invalid_utf8", text=b"caf\xe9 latin-1 \xff\xfe\n"),
        Msg("body_trailing_space_and_tabs", text=b"trailing  \ntab\t\n \n"),
        Msg("body_from_and_equals", text=b"From here\n=41 not qp\n=\n"),
        Msg("body_empty", text=b""),
        Msg("body_only_newline", text=b"\n"),
    ]


def mixed_messages():
    text = "Bonjour — ligne café ☕\n.\nFrom x\n".encode()
    html = '<html><body><p>Bonjour — <img src="cid:logo.png"></p></body></html>\n'.encode()
    return [
        Msg("html_only", html=html),
        Msg("text_and_html", text=text, html=html),
        Msg("text_html_inline", text=text, html=html, inline=[("logo.png", png(3000))]),
        Msg("text_html_inline_attachments", subject="Alles — 全部 📎",
            from_=NAMES[0], to=NAMES[1:3], text=text, html=html,
            inline=[("logo.png", png(2000)), ("chart.png", png(100))],
            attach=[("data.bin", RNG.randbytes(70000)),
                    ("résumé 2026.pdf", b"%PDF-1.4\n" + RNG.randbytes(3000)),
                    ("notes.txt", "plain notes ü\r\n".encode())]),
        # Two inline images with one file name: the HTML cannot name them
        # apart by cid:logo.png, so refusing them (64) is as right as
        # composing them with two distinct Content-IDs.
        Msg("inline_same_file_name", text=b"two logos\n", html=b'<img src="cid:logo.png">\n',
            inline=[("logo.png", png(300)), ("logo.png", png(301))], may_refuse=64),
        Msg("empty_files", text=b"empties\n",
            attach=[("empty.bin", b""), ("empty.txt", b""), ("empty.pdf", b"")]),
        Msg("attachments_no_body", attach=[("a.bin", RNG.randbytes(10)), ("b.pdf", b"%PDF")]),
        Msg("binary_random_sizes", text=b"sizes\n",
            attach=[(f"r{n}.bin", RNG.randbytes(n)) for n in (1, 2, 3, 57, 58, 76, 77, 4096, 100001)]),
        Msg("binary_all_bytes", text=b"bytes\n", attach=[("all.bin", bytes(range(256)) * 4)]),
        Msg("binary_crlf_rich", text=b"crlf\n",
            attach=[("crlf.bin", b"\r\n\r\r\n\n.\r\n" * 50 + b"\x00\r")]),
        Msg("text_attachment_utf8_lf", text=b"t\n",
            attach=[("lf.txt", "zeile ü\nzwei\n".encode())]),
        Msg("text_attachment_no_newline", text=b"t\n",
            attach=[("nonl.txt", "ende ü".encode())]),
    ]


def battery():
    return subject_messages() + address_messages() + file_messages() + body_messages() + mixed_messages()
