/* test_header.c - header fields on the wire (RFC 5322, 2047, 2231).
 *
 * Golden strings were checked by hand with Python's email package
 * (policy.default): each decodes back to the input. The property tests
 * decode with a small RFC 2047 / RFC 2231 decoder written here.
 */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "header.h"

/* ---- test-only decoding --------------------------------------------- */

static unsigned rnd_next(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 16;
}

/* Strict UTF-8: no overlong forms, surrogates or code points past
 * U+10FFFF, as the encoder sees it. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t len = s[i] < 0x80 ? 1 : s[i] < 0xc2 ? 0 : s[i] < 0xe0 ? 2 :
			     s[i] < 0xf0 ? 3 : s[i] < 0xf5 ? 4 : 0;

		if (len == 0 || i + len > n)
			return false;
		for (size_t k = 1; k < len; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		if ((s[i] == 0xe0 && s[i + 1] < 0xa0) || (s[i] == 0xed && s[i + 1] > 0x9f) ||
		    (s[i] == 0xf0 && s[i + 1] < 0x90) || (s[i] == 0xf4 && s[i + 1] > 0x8f))
			return false;
		i += len;
	}
	return true;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int b64val(char c)
{
	const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(a, c) : NULL;

	return p ? (int)(p - a) : -1;
}

/* Decodes one encoded-word s[0..n) into out; returns the byte count or
 * -1 when s is not a well-formed UTF-8 encoded-word. */
static long ew_decode(const char *s, size_t n, unsigned char *out)
{
	long o = 0;

	if (n < 12 || strncmp(s, "=?UTF-8?", 8) != 0 || s[9] != '?' ||
	    s[n - 2] != '?' || s[n - 1] != '=')
		return -1;
	if (s[8] == 'Q') {
		for (size_t i = 10; i < n - 2; i++) {
			if (s[i] == '_') {
				out[o++] = ' ';
			} else if (s[i] == '=') {
				if (hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
					return -1;
				out[o++] = (unsigned char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
				i += 2;
			} else if ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
				   (s[i] >= '0' && s[i] <= '9') || strchr("!*+-/", s[i])) {
				out[o++] = (unsigned char)s[i]; /* RFC 2047 5(3) only */
			} else {
				return -1;
			}
		}
		return o;
	}
	if (s[8] != 'B' || (n - 12) % 4 != 0)
		return -1;
	for (size_t i = 10; i < n - 2; i += 4) {
		unsigned v = 0;
		int pad = 0;

		for (int k = 0; k < 4; k++) {
			int d = s[i + k] == '=' ? (pad++, 0) : b64val(s[i + k]);

			if (d < 0)
				return -1;
			v = v << 6 | (unsigned)d;
		}
		out[o++] = (unsigned char)(v >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(v >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)v;
	}
	return o;
}

/* True when the line of len characters at s holds an encoded-word. */
static bool line_has_ew(const char *s, size_t len)
{
	for (size_t i = 0; i + 8 <= len; i++)
		if (strncmp(s + i, "=?UTF-8?", 8) == 0)
			return true;
	return false;
}

/* Checks the shape of a whole field: "Name:", CRLF only at line ends,
 * continuation lines start with white space and are not blank, no line
 * over max (998 always), no line holding an encoded-word over 76 (RFC
 * 2047 2). Returns the unfolded value after "Name:". */
static char *unfold(const char *field, const char *name, size_t max)
{
	size_t nlen = strlen(name), n = strlen(field), o = 0, col = 0;
	char *v = malloc(n + 1);

	cr_assert_not_null(v);
	cr_assert(strncmp(field, name, nlen) == 0 && field[nlen] == ':',
		  "bad start: \"%s\"", field);
	cr_assert(n >= 2 && strcmp(field + n - 2, "\r\n") == 0, "no final CRLF");
	for (size_t i = 0; i < n; i++) {
		if (field[i] == '\r' || field[i] == '\n') {
			cr_assert(field[i] == '\r' && field[i + 1] == '\n',
				  "bare CR or LF in \"%s\"", field);
			cr_expect_leq(col, max, "line of %zu in \"%s\"", col, field);
			cr_expect_leq(col, 998);
			if (line_has_ew(field + i - col, col))
				cr_expect_leq(col, 76, "encoded-word line of %zu in \"%s\"",
					      col, field);
			i++;
			if (i + 1 < n) {
				cr_assert(field[i + 1] == ' ' || field[i + 1] == '\t',
					  "continuation without WSP in \"%s\"", field);
				cr_assert(field[i + 1 + strspn(field + i + 1, " \t")] != '\r',
					  "blank continuation line in \"%s\"", field);
			}
			col = 0;
			continue;
		}
		col++;
		if (i > nlen)
			v[o++] = field[i];
	}
	v[o] = '\0';
	return v;
}

/* RFC 2047 reading of unfolded text: encoded-words decoded, white space
 * between two adjacent encoded-words dropped, leading white space gone.
 * Every encoded-word is checked: at most 75 characters, and, when
 * whole_chars, holding whole UTF-8 characters. */
static char *ew_text(const char *v, bool whole_chars)
{
	size_t n = strlen(v), o = 0, i = strspn(v, " \t");
	char *out = malloc(n + 1);
	bool prev_ew = false;

	cr_assert_not_null(out);
	while (i < n) {
		size_t ws = strspn(v + i, " \t");
		size_t tok = strcspn(v + i + ws, " \t");
		const char *t = v + i + ws;
		long d = -1;

		if (tok >= 2 && t[0] == '=' && t[1] == '?') {
			d = ew_decode(t, tok, (unsigned char *)out + o + (prev_ew ? 0 : ws));
			cr_assert_geq(d, 0, "malformed encoded-word \"%.*s\"", (int)tok, t);
			cr_expect_leq(tok, 75, "encoded-word of %zu", tok);
		}
		if (d >= 0) {
			if (!prev_ew) {
				memcpy(out + o, v + i, ws);
				o += ws;
			}
			if (whole_chars)
				cr_expect(utf8_valid((unsigned char *)out + o, (size_t)d),
					  "encoded-word splits a character: \"%.*s\"", (int)tok, t);
			o += (size_t)d;
		} else {
			memcpy(out + o, v + i, ws + tok);
			o += ws + tok;
		}
		prev_ew = d >= 0;
		i += ws + tok;
	}
	out[o] = '\0';
	return out;
}

/* hdr_text(name, in) must decode back to in exactly. */
static void expect_text_roundtrip(const char *name, const char *in, size_t max)
{
	char *f = hdr_text(name, in);

	cr_assert_not_null(f);
	char *v = unfold(f, name, max);
	char *d = ew_text(v, utf8_valid((const unsigned char *)in, strlen(in)));

	cr_expect_str_eq(d, in, "field \"%s\"", f);
	free(d);
	free(v);
	free(f);
}

static void expect_text(const char *in, const char *want)
{
	char *f = hdr_text("Subject", in);

	cr_assert_not_null(f);
	cr_expect_str_eq(f, want);
	free(f);
	expect_text_roundtrip("Subject", in, 78);
}

/* ---- unstructured text ---------------------------------------------- */

Test(header, ascii_subject_goes_as_it_is)
{
	expect_text("Hello world", "Subject: Hello world\r\n");
	expect_text("100% sure? (yes)", "Subject: 100% sure? (yes)\r\n");
	expect_text("tab\there", "Subject: tab\there\r\n");
	expect_text("", "Subject:\r\n");
}

Test(header, non_ascii_words_become_encoded_words)
{
	expect_text("Gr\xc3\xbc\xc3\x9f" "e an alle Freunde",
		    "Subject: =?UTF-8?B?R3LDvMOfZQ==?= an alle Freunde\r\n");
	expect_text("Re: \xc3\xbcn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9",
		    "Subject: Re: =?UTF-8?B?w7xuw69jw7Zkw6k=?=\r\n");
}

Test(header, ascii_word_between_encoded_words_keeps_its_spaces)
{
	expect_text("\xc3\xa4 x \xc3\xb6",
		    "Subject: =?UTF-8?B?w6Q=?= x =?UTF-8?B?w7Y=?=\r\n");
	expect_text_roundtrip("Subject", "\xc3\xa4  \xc3\xb6", 78);
	expect_text_roundtrip("Subject", "\xc3\xa4\t\xc3\xb6 \xc3\xb6", 78);
}

Test(header, edge_white_space_is_kept_inside_encoded_words)
{
	expect_text(" lead", "Subject: =?UTF-8?Q?_lead?=\r\n");
	expect_text("trail ", "Subject: =?UTF-8?Q?trail_?=\r\n");
	expect_text_roundtrip("Subject", "   ", 78);
	expect_text_roundtrip("Subject", "\t", 78);
}

Test(header, encoded_word_lookalike_is_encoded)
{
	expect_text("a=?x?q?y?=b", "Subject: =?UTF-8?B?YT0/eD9xP3k/PWI=?=\r\n");
	expect_text_roundtrip("Subject", "see =?utf-8?q?hi?= now", 78);
	expect_text_roundtrip("Subject", "odd?= end", 78);
}

Test(header, long_ascii_subject_is_folded_at_white_space)
{
	expect_text("Subject line that is quite long and has many words in it so it "
		    "must fold somewhere around here ok",
		    "Subject: Subject line that is quite long and has many words in "
		    "it so it must\r\n fold somewhere around here ok\r\n");
}

Test(header, long_utf8_subject_is_folded)
{
	expect_text("R\xc3\xa9union de l'\xc3\xa9quipe: ordre du jour pour la semaine "
		    "prochaine \xe2\x80\x94 merci de confirmer votre pr\xc3\xa9sence",
		    "Subject: =?UTF-8?Q?R=C3=A9union?= de =?UTF-8?B?bCfDqXF1aXBlOg==?= "
		    "ordre du\r\n jour pour la semaine prochaine =?UTF-8?B?4oCU?= merci de "
		    "confirmer votre\r\n =?UTF-8?B?cHLDqXNlbmNl?=\r\n");

	/* 100 three-byte characters in one word: several encoded-words. */
	char in[400];

	for (int i = 0; i < 100; i++)
		memcpy(in + 3 * i, "\xe6\x97\xa5", 3);
	in[300] = '\0';
	expect_text_roundtrip("Subject", in, 78);
}

Test(header, word_longer_than_998_is_split_into_encoded_words)
{
	char in[2100];

	memset(in, 'x', 2000);
	in[2000] = '\0';
	expect_text_roundtrip("Subject", in, 78);
	memcpy(in, "a ", 2);
	memcpy(in + 1500, " b", 3);
	expect_text_roundtrip("Subject", in, 78);
	/* Too long for a nice line, short enough to go as it is. */
	memset(in, 'y', 300);
	in[300] = '\0';
	expect_text_roundtrip("Subject", in, 998);
	char *f = hdr_text("Subject", in);

	cr_expect(strstr(f, "=?") == NULL, "a 300-character word needs no encoding");
	free(f);
}

Test(header, long_white_space_runs_never_pass_998)
{
	char in[2100];

	memset(in, ' ', 2000);
	in[0] = 'a';
	in[1999] = 'b';
	in[2000] = '\0';
	expect_text_roundtrip("Subject", in, 998);
}

Test(header, random_text_round_trips_within_78_columns)
{
	static const char *const pool[] = {
		"hello", "world", "a", "Gr\xc3\xbc\xc3\x9f" "e", "na\xc3\xafve",
		"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "\xf0\x9f\x98\x80",
		"emoji\xf0\x9f\x98\x80x", "=?utf-8?q?x?=", "what?=", "x=y", "_u_",
		"a.b", "(c)", "\"q\"", "\\", "\x01" "ctl", "\x7f",
		"\xe2\x82\xac" "uro", "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
		"\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc",
		"\xff\xfe", "\xc3", "\xe2\x82", "\xed\xa0\x80"
	};
	static const char *const ws[] = { " ", " ", " ", "  ", "\t", " \t " };
	unsigned seed = 42;
	char in[2000];

	for (int round = 0; round < 2000; round++) {
		size_t n = 0, words = rnd_next(&seed) % 16;

		if (rnd_next(&seed) % 5 == 0)
			in[n++] = ' ';
		for (size_t w = 0; w < words; w++) {
			const char *s = pool[rnd_next(&seed) % (sizeof pool / sizeof pool[0])];

			if (w) {
				const char *sp = ws[rnd_next(&seed) % 6];

				memcpy(in + n, sp, strlen(sp));
				n += strlen(sp);
			}
			memcpy(in + n, s, strlen(s));
			n += strlen(s);
		}
		if (rnd_next(&seed) % 5 == 0)
			in[n++] = '\t';
		in[n] = '\0';
		expect_text_roundtrip(round % 3 ? "Subject" : "X-Long-Custom-Header-Name", in, 78);
	}
}

/* Every length from 1 to 300 characters, in scripts of 1 to 4 bytes a
 * character, alone and after ASCII words: whole characters in every
 * encoded-word, lines with encoded-words within 76 columns. */
Test(header, utf8_subjects_of_every_length_keep_encoded_word_lines_within_76)
{
	static const char *const chars[] = {
		"\xc3\xa9", "\xd0\x96", "\xce\xb1", "\xd8\xb9", "\xe6\x97\xa5",
		"\xe0\xa4\x95", "\xed\x95\x9c", "\xf0\x9f\x98\x80", "a", " "
	};
	static const char *const heads[] = { "", "Re: ", "Fwd: a b c d e f g h ", "x" };
	char in[1400];

	for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++)
		for (size_t c = 0; c < sizeof chars / sizeof chars[0]; c++)
			for (size_t len = 1; len <= 300; len++) {
				size_t n = strlen(heads[h]);

				memcpy(in, heads[h], n);
				for (size_t i = 0; i < len; i++) {
					/* mix the script with the next one */
					const char *ch = chars[(c + (i % 7 == 6)) % 10];

					memcpy(in + n, ch, strlen(ch));
					n += strlen(ch);
				}
				in[n] = '\0';
				expect_text_roundtrip("Subject", in, 78);
			}
}

/* White space stands on the line of the word after it: a long run next
 * to an encoded-word must not push that line past 76. */
Test(header, long_white_space_next_to_encoded_words_stays_within_76)
{
	char in[300];

	for (size_t ws = 1; ws < 120; ws += 7)
		for (int form = 0; form < 4; form++) {
			size_t n = 0;

			n += (size_t)sprintf(in + n, "%s", form & 1 ? "Re: r\xc3\xa9sum\xc3\xa9" : "plain");
			memset(in + n, form & 2 ? '\t' : ' ', ws);
			n += ws;
			n += (size_t)sprintf(in + n, "%s", form & 1 ? "word" : "\xe6\x97\xa5 end");
			expect_text_roundtrip("Subject", in, 78);
		}
}

/* ---- addresses ------------------------------------------------------ */

static void expect_addresses(const struct address *v, size_t n, const char *want)
{
	char *f = hdr_addresses("To", v, n);

	cr_assert_not_null(f);
	cr_expect_str_eq(f, want);
	free(f);
}

Test(header, address_forms)
{
	struct address v[] = {
		{ NULL, "a@example.com" },
		{ "John Smith", "john@example.com" },
		{ "O'Brien", "ob@example.com" },
	};

	expect_addresses(v, 1, "To: a@example.com\r\n");
	expect_addresses(v + 1, 1, "To: John Smith <john@example.com>\r\n");
	expect_addresses(v, 3, "To: a@example.com, John Smith <john@example.com>, "
			 "O'Brien <ob@example.com>\r\n");
	expect_addresses(v, 2, "To: a@example.com, John Smith <john@example.com>\r\n");
}

Test(header, display_name_with_specials_is_quoted)
{
	struct address v[] = {
		{ "Smith, John", "j@x.org" },
		{ "J. R. \"Bob\" Dobbs", "b@x.org" },
		{ "back\\slash", "s@x.org" },
		{ "a  b", "d@x.org" },
	};

	expect_addresses(v, 1, "To: \"Smith, John\" <j@x.org>\r\n");
	expect_addresses(v + 1, 1, "To: \"J. R. \\\"Bob\\\" Dobbs\" <b@x.org>\r\n");
	expect_addresses(v + 2, 1, "To: \"back\\\\slash\" <s@x.org>\r\n");
	expect_addresses(v + 3, 1, "To: \"a  b\" <d@x.org>\r\n");
}

Test(header, utf8_display_name_is_encoded_with_phrase_characters)
{
	struct address v[] = {
		{ "J\xc3\xbcrgen M\xc3\xbcller", "j@x.de" },
		{ "M\xc3\xbcller, J\xc3\xbcrgen", "m@x.de" },
		{ "emoji \xf0\x9f\x98\x80 name", "e@x.de" },
		{ "a=?b", "q@x.de" },
	};

	expect_addresses(v, 1, "To: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <j@x.de>\r\n");
	expect_addresses(v + 1, 1, "To: =?UTF-8?B?TcO8bGxlciwgSsO8cmdlbg==?= <m@x.de>\r\n");
	expect_addresses(v + 2, 1, "To: emoji =?UTF-8?B?8J+YgA==?= name <e@x.de>\r\n");
	expect_addresses(v + 3, 1, "To: =?UTF-8?Q?a=3D=3Fb?= <q@x.de>\r\n");
}

/* The display name as a reader gets it back: a quoted-string unquoted,
 * or words with encoded-words decoded. */
static char *phrase_decode(const char *p, size_t n)
{
	char *out = malloc(n + 1), *copy;
	size_t o = 0;

	cr_assert_not_null(out);
	if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
		for (size_t i = 1; i + 1 < n; i++) {
			if (p[i] == '\\')
				i++;
			out[o++] = p[i];
		}
		out[o] = '\0';
		return out;
	}
	free(out);
	copy = strndup(p, n);
	out = ew_text(copy, true);
	free(copy);
	return out;
}

Test(header, random_display_names_round_trip)
{
	static const char *const pool[] = {
		"John", "Smith,", "J.", "\"Bob\"", "\xc3\xbc", "M\xc3\xbcller",
		"\xe6\x97\xa5\xe6\x9c\xac", "=?x?=", "a@b", "(c)", "O'Neil",
		"\xf0\x9f\x98\x80", "back\\slash", "<x>", "Dr",
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	};
	unsigned seed = 9;
	char name[600];

	for (int round = 0; round < 1000; round++) {
		size_t words = 1 + rnd_next(&seed) % 8, n = 0;

		for (size_t w = 0; w < words; w++) {
			const char *s = pool[rnd_next(&seed) % (sizeof pool / sizeof pool[0])];

			if (w)
				name[n++] = ' ';
			memcpy(name + n, s, strlen(s));
			n += strlen(s);
		}
		name[n] = '\0';

		struct address a = { name, "someone@example.com" };
		char *f = hdr_addresses("From", &a, 1);
		char *v = unfold(f, "From", 78);
		char *end = strstr(v, " <someone@example.com>");

		cr_assert_not_null(end, "\"%s\"", f);
		cr_assert_str_eq(end, " <someone@example.com>");
		char *d = phrase_decode(v + 1, (size_t)(end - v - 1));

		cr_expect_str_eq(d, name, "field \"%s\"", f);
		free(d);
		free(v);
		free(f);
	}
}

/* Names of every length with quotes, commas, "@" and UTF-8: each comes
 * back exactly, and a line with an encoded-word stays within 76. */
Test(header, display_names_of_every_length_keep_encoded_word_lines_within_76)
{
	static const char *const pieces[] = {
		"\"", ",", "@", "\xc3\xbc", "\xf0\x9f\x98\x80", "\xe6\x97\xa5", "a", " ", "\\"
	};
	char name[1200];

	for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++)
		for (size_t len = 1; len <= 120; len++) {
			size_t n = 0;

			for (size_t i = 0; i < len; i++) {
				const char *s = i % 3 == 1 ? pieces[(p + i) % 9] : "b";

				memcpy(name + n, s, strlen(s));
				n += strlen(s);
			}
			name[n] = '\0';

			struct address a[2] = { { name, "someone@example.com" }, { "Z", "z@x.org" } };
			char *f = hdr_addresses("From", a, 2);
			char *v = unfold(f, "From", 78);
			char *end = strstr(v, " <someone@example.com>,");

			cr_assert_not_null(end, "\"%s\"", f);
			char *d = phrase_decode(v + 1, (size_t)(end - v - 1));

			cr_expect_str_eq(d, name, "field \"%s\"", f);
			free(d);
			free(v);
			free(f);
		}
}

/* Speed belongs in benchmarks; this checks that a list this long folds. */
Test(header, ten_thousand_addresses_fold)
{
	enum { N = 10000 };
	static struct address v[N];
	static char names[N][24], boxes[N][40];
	char *f;

	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "User %d", i);
		snprintf(boxes[i], sizeof boxes[i], "user%d@example.com", i);
		v[i].name = i % 3 ? names[i] : NULL;
		v[i].mailbox = boxes[i];
	}
	f = hdr_addresses("To", v, N);
	cr_assert_not_null(f);

	char *u = unfold(f, "To", 78);
	const char *p = u + 1;

	for (int i = 0; i < N; i++) {
		char want[64];
		int len = v[i].name ? snprintf(want, sizeof want, "%s <%s>", names[i], boxes[i])
				    : snprintf(want, sizeof want, "%s", boxes[i]);

		cr_assert(strncmp(p, want, (size_t)len) == 0, "address %d: \"%.40s\"", i, p);
		p += len;
		if (i + 1 < N) {
			cr_assert(strncmp(p, ", ", 2) == 0, "after address %d", i);
			p += 2;
		}
	}
	cr_expect_str_eq(p, "");
	free(u);
	free(f);
}

/* ---- file-name parameters ------------------------------------------- */

/* Reads param back as an RFC 2231 reader would: the param*= or
 * param*0*=, param*1*=... sections percent-decoded and joined, each
 * section holding whole UTF-8 characters; else the plain quoted form.
 * Exactly one form must be there: a lossy twin next to the exact form
 * makes readers show no name or both run together. */
static char *param_decode(const char *v, const char *param)
{
	size_t plen = strlen(param), o = 0;
	char *out = malloc(strlen(v) + 1), key[64];
	const char *p;
	bool found = false;

	cr_assert_not_null(out);
	for (unsigned sec = 0;; sec++) {
		snprintf(key, sizeof key, " %s*%u*=", param, sec);
		p = strstr(v, key);
		if (!p && sec == 0) {
			snprintf(key, sizeof key, " %s*=", param);
			p = strstr(v, key);
		}
		if (!p)
			break;
		p += strlen(key);
		if (sec == 0) {
			cr_assert(strncmp(p, "UTF-8''", 7) == 0);
			p += 7;
		}
		size_t start = o;

		for (; *p && *p != ';'; p++) {
			if (*p == '%') {
				cr_assert(hexval(p[1]) >= 0 && hexval(p[2]) >= 0);
				out[o++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
				p += 2;
			} else {
				cr_assert(!strchr(" *'()<>@,:\\\"/[]?=", *p), "raw '%c'", *p);
				out[o++] = *p;
			}
		}
		cr_expect(utf8_valid((unsigned char *)out + start, o - start),
			  "section %u splits a character", sec);
		found = true;
		if (strncmp(key + 1 + plen, "*=", 2) == 0)
			break;
	}
	snprintf(key, sizeof key, " %s=\"", param);
	p = strstr(v, key);
	cr_expect(!found || !p, "two forms of %s in \"%s\"", param, v);
	if (!found) {
		cr_assert_not_null(p, "no %s in \"%s\"", param, v);
		for (p += strlen(key); *p != '"'; p++) {
			if (*p == '\\')
				p++;
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	return out;
}

/* Reads name="..." back: unquoted, encoded-words decoded. */
static char *name_decode(const char *v, const char *param)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof key, " %s=\"", param);
	p = strstr(v, key);
	cr_assert_not_null(p, "no %s in \"%s\"", param, v);
	p += strlen(key);
	if (strncmp(p, "=?", 2) == 0) {
		char *q = strndup(p, strcspn(p, "\""));
		char *d = ew_text(q, true);

		free(q);
		return d;
	}
	char *out = malloc(strlen(p) + 1);
	size_t o = 0;

	for (; *p != '"'; p++) {
		if (*p == '\\')
			p++;
		out[o++] = *p;
	}
	out[o] = '\0';
	return out;
}

/* The name as it must come back: invalid UTF-8 bytes as U+FFFD. */
static char *clean_name(const char *in)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t n = strlen(in), o = 0;
	char *out = malloc(3 * n + 1);

	cr_assert_not_null(out);
	for (size_t i = 0; i < n;) {
		size_t len = s[i] < 0xc0 ? 1 : s[i] < 0xe0 ? 2 : s[i] < 0xf0 ? 3 : 4;

		if (i + len <= n && utf8_valid(s + i, len)) {
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	out[o] = '\0';
	return out;
}

/* Both fields, all lines within 78 (76 with encoded-words): each gives
 * back the name. */
static void expect_file_roundtrip(const char *filename)
{
	char *want = clean_name(filename);
	char *f = hdr_file_param("Content-Disposition", "attachment", "filename", filename);
	char *t = hdr_name_param("Content-Type", "text/plain; charset=utf-8", "name", filename);

	cr_assert_not_null(f);
	cr_assert_not_null(t);
	char *v = unfold(f, "Content-Disposition", 78);
	char *d = param_decode(v, "filename");

	cr_expect_str_eq(d, want, "field \"%s\"", f);
	cr_expect(strncmp(v, " attachment;", 12) == 0);
	free(d);
	free(v);
	v = unfold(t, "Content-Type", 78);
	d = name_decode(v, "name");
	cr_expect_str_eq(d, want, "field \"%s\"", t);
	cr_expect(strncmp(v, " text/plain; charset=utf-8;", 27) == 0);
	free(d);
	free(v);
	free(f);
	free(t);
	free(want);
}

static void expect_file(const char *filename, const char *want, const char *want_type)
{
	char *f = hdr_file_param("Content-Disposition", "attachment", "filename", filename);
	char *t = hdr_name_param("Content-Type", "application/pdf", "name", filename);

	cr_assert_not_null(f);
	cr_expect_str_eq(f, want);
	cr_expect_str_eq(t, want_type);
	free(f);
	free(t);
	expect_file_roundtrip(filename);
}

Test(header, ascii_file_name_is_one_quoted_parameter)
{
	expect_file("report.pdf", "Content-Disposition: attachment; filename=\"report.pdf\"\r\n",
		    "Content-Type: application/pdf; name=\"report.pdf\"\r\n");
	expect_file("a;b=c (1).tar.gz",
		    "Content-Disposition: attachment; filename=\"a;b=c (1).tar.gz\"\r\n",
		    "Content-Type: application/pdf; name=\"a;b=c (1).tar.gz\"\r\n");
}

Test(header, utf8_file_name_gets_rfc2231_form_alone)
{
	expect_file("r\xc3\xa9sum\xc3\xa9 2026.pdf",
		    "Content-Disposition: attachment; "
		    "filename*=UTF-8''r%C3%A9sum%C3%A9%202026.pdf\r\n",
		    "Content-Type: application/pdf; "
		    "name=\"=?UTF-8?B?csOpc3Vtw6kgMjAyNi5wZGY=?=\"\r\n");
}

/* mblaze's mshow ends a quoted name at an escaped quote: the exact
 * forms reach every reader tried. */
Test(header, quotes_and_backslashes_take_the_exact_forms)
{
	expect_file("a\"b\\c.txt",
		    "Content-Disposition: attachment; filename*=UTF-8''a%22b%5Cc.txt\r\n",
		    "Content-Type: application/pdf; name=\"=?UTF-8?B?YSJiXGMudHh0?=\"\r\n");
}

Test(header, encoded_word_lookalike_file_name_is_not_quoted)
{
	expect_file("x=?y.txt",
		    "Content-Disposition: attachment; filename*=UTF-8''x%3D%3Fy.txt\r\n",
		    "Content-Type: application/pdf; name=\"=?UTF-8?B?eD0/eS50eHQ=?=\"\r\n");
}

Test(header, invalid_utf8_in_a_file_name_becomes_replacement_characters)
{
	expect_file("bad\xff.txt",
		    "Content-Disposition: attachment; filename*=UTF-8''bad%EF%BF%BD.txt\r\n",
		    "Content-Type: application/pdf; name=\"=?UTF-8?B?YmFk77+9LnR4dA==?=\"\r\n");
}

Test(header, long_utf8_file_name_is_split_into_sections)
{
	char name[1000];

	for (int i = 0; i < 300; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2);
	memcpy(name + 600, ".pdf", 5);
	expect_file_roundtrip(name);

	char *f = hdr_file_param("Content-Disposition", "attachment", "filename", name);

	cr_expect_not_null(strstr(f, "filename*0*=UTF-8''%C3%A9"));
	cr_expect_not_null(strstr(f, "filename*1*=%C3%A9"));
	cr_expect_null(strstr(f, "filename="));
	free(f);

	for (int i = 0; i < 100; i++)
		memcpy(name + 4 * i, "\xf0\x9f\x98\x80", 4);
	name[400] = '\0';
	expect_file_roundtrip(name);
}

Test(header, long_ascii_file_names_are_split_too)
{
	char name[1300];

	for (size_t len = 1; len <= 1200; len += len < 300 ? 1 : 97) {
		memset(name, 'y', len);
		memcpy(name + len, ".jpeg", 6);
		expect_file_roundtrip(name);
		memset(name, '"', len);
		expect_file_roundtrip(name);
	}
}

Test(header, random_file_names_round_trip)
{
	static const char *const pool[] = {
		"a", "\xc3\xa9", " ", "%", "'", "*", "\"", "\\", "\xe6\x97\xa5",
		"\xf0\x9f\x98\x80", ".", "Z", "-", "~", ";", "\t", "\xff", "=?", "?="
	};
	unsigned seed = 5;
	char name[800];

	for (int round = 0; round < 500; round++) {
		size_t n = 0, len = 1 + rnd_next(&seed) % 150;

		for (size_t i = 0; i < len; i++) {
			const char *s = pool[rnd_next(&seed) % (sizeof pool / sizeof pool[0])];

			memcpy(name + n, s, strlen(s));
			n += strlen(s);
		}
		name[n] = '\0';
		expect_file_roundtrip(name);
	}
}

/* ---- names ---------------------------------------------------------- */

Test(header, header_name_validity)
{
	char long_name[100];

	cr_expect(hdr_name_valid("Subject"));
	cr_expect(hdr_name_valid("X-Mailer"));
	cr_expect(hdr_name_valid("X!#$%&'*+-.^_`|~0"));
	cr_expect(!hdr_name_valid(""));
	cr_expect(!hdr_name_valid("X Mailer"));
	cr_expect(!hdr_name_valid("X-Mailer:"));
	cr_expect(!hdr_name_valid("X-\xc3\xa9"));
	cr_expect(!hdr_name_valid("X-\x7f"));
	cr_expect(!hdr_name_valid("X-\t"));
	memset(long_name, 'X', 76);
	long_name[76] = '\0';
	cr_expect(hdr_name_valid(long_name));
	long_name[76] = 'X';
	long_name[77] = '\0';
	cr_expect(!hdr_name_valid(long_name));
}
