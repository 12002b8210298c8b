/* test_encode.c - base64 and quoted-printable body encodings. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"

/* ---- helpers -------------------------------------------------------- */

/* A sink that keeps everything in memory; fail makes writes fail. */
struct mem_sink {
	struct sink base;
	struct error err;
	char *buf;
	size_t len, cap;
	int fail;
};

static int mem_write(struct sink *s, const void *buf, size_t len)
{
	struct mem_sink *m = (struct mem_sink *)s;

	if (m->fail)
		return -1;
	if (m->len + len + 1 > m->cap) {
		m->cap = (m->len + len + 1) * 2;
		m->buf = realloc(m->buf, m->cap);
		cr_assert_not_null(m->buf);
	}
	memcpy(m->buf + m->len, buf, len);
	m->len += len;
	m->buf[m->len] = '\0';
	return 0;
}

static void mem_init(struct mem_sink *m)
{
	memset(m, 0, sizeof *m);
	m->base.write = mem_write;
	m->base.err = &m->err;
	mem_write(&m->base, "", 0);
}

static unsigned rnd_next(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 16;
}

static void rnd_fill(unsigned char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)rnd_next(&seed);
}

/* Reference base64 one character at a time, to check the fast one. */
static size_t ref_b64(char *out, const unsigned char *in, size_t n)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = i + 1 < n ? a[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? a[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

/* Quoted-printable encoding of in, fed in blocks of the given size
 * (0: all at once; SIZE_MAX: random sizes). Returns a malloc'd string. */
static char *qp_string(const void *in, size_t n, size_t block)
{
	struct mem_sink m;
	struct qp q;
	unsigned seed = 7;
	size_t i = 0;

	mem_init(&m);
	qp_init(&q, &m.base);
	while (i < n) {
		size_t k = block == 0 ? n : block == SIZE_MAX ?
			   rnd_next(&seed) % 9 : block;

		if (k > n - i)
			k = n - i;
		cr_assert_eq(qp_update(&q, (const unsigned char *)in + i, k), 0);
		i += k;
	}
	cr_assert_eq(qp_final(&q), 0);
	return m.buf;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Strict test-only decoder: only "=XX" (upper-case hex), "=" CRLF soft
 * breaks and CRLF hard breaks. Returns the decoded length, or -1 if the
 * text is not well-formed quoted-printable. */
static long qp_decode(const char *s, size_t n, unsigned char *out)
{
	long o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=') {
			if (i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
				i += 2;
			} else if (i + 2 < n && hexval(s[i + 1]) >= 0 &&
				   hexval(s[i + 2]) >= 0) {
				out[o++] = (unsigned char)(hexval(s[i + 1]) * 16 +
							   hexval(s[i + 2]));
				i += 2;
			} else {
				return -1;
			}
		} else if (s[i] == '\r' || s[i] == '\n') {
			if (s[i] != '\r' || i + 1 >= n || s[i + 1] != '\n')
				return -1;
			out[o++] = '\r';
			out[o++] = '\n';
			i++;
		} else {
			out[o++] = (unsigned char)s[i];
		}
	}
	return o;
}

/* in with every LF, CR and CRLF made CRLF: what decoding must give
 * back (written apart from crlf_canon, on purpose). */
static size_t crlf_normalize(const unsigned char *in, size_t n,
			     unsigned char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\r' || in[i] == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
				i++;
		} else {
			out[o++] = in[i];
		}
	}
	return o;
}

/* Structure every QP output must have: CRLF-terminated lines of at most
 * 76 characters, no trailing white space, only allowed characters. */
static void expect_qp_shape(const char *out)
{
	const char *line = out;

	while (*line) {
		const char *end = strstr(line, "\r\n");
		size_t len;

		cr_assert_not_null(end, "unterminated line in \"%s\"", out);
		len = (size_t)(end - line);
		cr_expect_leq(len, 76, "line of %zu: \"%.*s\"", len, (int)len, line);
		if (len > 0)
			cr_expect(line[len - 1] != ' ' && line[len - 1] != '\t',
				  "trailing white space: \"%.*s\"", (int)len, line);
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)line[i];

			cr_expect((c >= 33 && c <= 126) || c == ' ' || c == '\t',
				  "raw byte %#x in output", c);
			if (c == '=' && i + 1 < len)
				cr_expect(i + 2 < len && hexval(line[i + 1]) >= 0 &&
					  hexval(line[i + 2]) >= 0,
					  "split or bad escape: \"%.*s\"", (int)len, line);
		}
		line = end + 2;
	}
}

static void expect_qp(const char *in, const char *want)
{
	char *got = qp_string(in, strlen(in), 0);

	cr_expect_str_eq(got, want, "input \"%s\"", in);
	free(got);
}

/* ---- base64 --------------------------------------------------------- */

Test(encode, b64_matches_rfc4648_vectors)
{
	static const char *const in[] = { "", "f", "fo", "foo", "foob", "fooba",
					   "foobar" };
	static const char *const want[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==",
					     "Zm9vYmE=", "Zm9vYmFy" };
	char out[16];

	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		size_t n = b64_encode(out, (const unsigned char *)in[i], strlen(in[i]));

		cr_expect_str_eq(out, want[i]);
		cr_expect_eq(n, strlen(want[i]));
	}
}

Test(encode, b64_plain_matches_reference_for_every_byte_value)
{
	unsigned char in[768];
	char got[1100], want[1100];

	for (size_t i = 0; i < sizeof in; i++)
		in[i] = (unsigned char)(i * 7 + i / 256);
	for (size_t n = 0; n <= sizeof in; n += n < 70 ? 1 : 97) {
		cr_expect_eq(b64_encode(got, in, n), ref_b64(want, in, n));
		cr_expect_str_eq(got, want, "n=%zu", n);
	}
}

Test(encode, b64_lines_are_76_chars_and_crlf)
{
	unsigned char in[1000];
	char out[2000];
	size_t n;

	rnd_fill(in, sizeof in, 1);
	n = b64_encode_lines(out, in, 0);
	cr_expect_eq(n, 0, "empty input gives no output");
	n = b64_encode_lines(out, in, sizeof in);
	for (size_t i = 0; i < n;) {
		const char *crlf = memchr(out + i, '\r', n - i);
		size_t len;

		cr_assert_not_null(crlf);
		len = (size_t)(crlf - (out + i));
		cr_assert_eq(crlf[1], '\n');
		if (i + len + 2 < n)
			cr_expect_eq(len, 76);
		else
			cr_expect_leq(len, 76);
		i += len + 2;
	}
}

Test(encode, b64_encoded_size_is_exact_for_every_length)
{
	static unsigned char in[4000];
	static char out[6000];

	rnd_fill(in, sizeof in, 2);
	for (size_t n = 0; n <= sizeof in; n++) {
		size_t got = b64_encode_lines(out, in, n);

		cr_assert_eq(b64_encoded_size(n), got, "n=%zu", n);
		cr_assert_leq(got, (n + 56) / 57 * 78, "n=%zu overflows", n);
	}
	cr_expect_eq(b64_encoded_size(0), 0);
	cr_expect_eq(b64_encoded_size(1), 6);
	cr_expect_eq(b64_encoded_size(57), 78);
	cr_expect_eq(b64_encoded_size(58), 84);
	cr_expect_eq(b64_encoded_size(114), 156);
	cr_expect_eq(b64_encoded_size(UINT64_C(57) << 32), UINT64_C(78) << 32);
}

Test(encode, b64_lines_hold_the_same_text_as_plain_base64)
{
	unsigned char in[1234];
	char lines[1800], joined[1800], plain[1800];
	size_t n, j = 0;

	rnd_fill(in, sizeof in, 3);
	n = b64_encode_lines(lines, in, sizeof in);
	for (size_t i = 0; i < n; i++)
		if (lines[i] != '\r' && lines[i] != '\n')
			joined[j++] = lines[i];
	joined[j] = '\0';
	b64_encode(plain, in, sizeof in);
	cr_expect_str_eq(joined, plain);
}

Test(encode, b64_lines_in_blocks_equal_one_call)
{
	static unsigned char in[57 * 40 + 23];
	static char whole[4000], parts[4000];
	size_t n, p = 0, i = 0;
	unsigned seed = 4;

	rnd_fill(in, sizeof in, 5);
	n = b64_encode_lines(whole, in, sizeof in);
	while (i < sizeof in) {
		size_t k = (rnd_next(&seed) % 5) * B64_LINE_IN;

		if (k >= sizeof in - i)
			k = sizeof in - i;
		p += b64_encode_lines(parts + p, in + i, k);
		i += k;
	}
	cr_expect_eq(p, n);
	cr_expect(memcmp(whole, parts, n) == 0);
}

/* ---- quoted-printable ----------------------------------------------- */

Test(encode, qp_golden_outputs)
{
	expect_qp("", "");
	expect_qp("abc", "abc=\r\n");
	expect_qp("abc\n", "abc\r\n");
	expect_qp("abc\r\n", "abc\r\n");
	expect_qp("\n", "\r\n");
	expect_qp("a\n\nb", "a\r\n\r\nb=\r\n");
	expect_qp("a=b", "a=3Db=\r\n");
	expect_qp("caf\xc3\xa9\n", "caf=C3=A9\r\n");
	expect_qp("tab\there", "tab\there=\r\n");
	expect_qp(". and From \n", ". and From=20\r\n");
	expect_qp("\x01\x7f\xff", "=01=7F=FF=\r\n");
}

Test(encode, qp_trailing_white_space_is_encoded)
{
	expect_qp("a \n", "a=20\r\n");
	expect_qp("a\t\r\n", "a=09\r\n");
	expect_qp("a  \n", "a =20\r\n");
	expect_qp("end ", "end=20=\r\n");
	expect_qp("a b", "a b=\r\n");
}

Test(encode, qp_lone_cr_is_a_line_break)
{
	expect_qp("a\rb", "a\r\nb=\r\n");
	expect_qp("a\r", "a\r\n");
	expect_qp("a\r\r\nb", "a\r\n\r\nb=\r\n");
	expect_qp("a\n\rb", "a\r\n\r\nb=\r\n");
	expect_qp("a \rb", "a=20\r\nb=\r\n");
	expect_qp("a \r\n", "a=20\r\n");
}

Test(encode, qp_long_line_gets_soft_breaks)
{
	char in[200], want[300];

	memset(in, 'x', 160);
	in[160] = '\0';
	snprintf(want, sizeof want, "%.75s=\r\n%.75s=\r\n%.10s=\r\n", in, in, in);
	expect_qp(in, want);
}

Test(encode, qp_never_splits_an_escape)
{
	char in[301];

	for (int lead = 0; lead < 4; lead++) {
		memset(in, 'a', (size_t)lead);
		for (int i = lead; i < 300; i++)
			in[i] = (char)(i % 2 ? 0xa9 : 0xc3);
		in[300] = '\0';
		char *out = qp_string(in, 300, 0);

		expect_qp_shape(out);
		free(out);
	}
}

Test(encode, qp_same_output_for_any_block_boundaries)
{
	static const char tricky[] =
		"line one  \r\nline two\t\nbare\rcr\r\r\n= equals =\n"
		"caf\xc3\xa9 \xff\x00 trailing \t \r"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		" \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9 yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
		"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy   \n.\n \n\t";
	size_t n = sizeof tricky - 1;
	char *whole = qp_string(tricky, n, 0);

	for (size_t block = 1; block < 80; block++) {
		char *parts = qp_string(tricky, n, block);

		cr_expect_str_eq(parts, whole, "block size %zu", block);
		free(parts);
	}
	char *random = qp_string(tricky, n, SIZE_MAX);

	cr_expect_str_eq(random, whole);
	expect_qp_shape(whole);
	free(random);
	free(whole);
}

Test(encode, qp_random_text_decodes_to_crlf_normalized_input)
{
	static const char *const pieces[] = {
		"a", "word", " ", "\t", "\n", "\r\n", "\r", "=", ".", "\xc3\xa9",
		"\x00", "\x7f", "\xff", "  ", "From ", "?", "_",
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	};
	static unsigned char in[5000], want[10000], got[10000];
	unsigned seed = 11;

	for (int round = 0; round < 500; round++) {
		size_t n = 0, parts = rnd_next(&seed) % 60;

		for (size_t p = 0; p < parts; p++) {
			const char *piece = pieces[rnd_next(&seed) % (sizeof pieces / sizeof pieces[0])];
			size_t len = piece[0] ? strlen(piece) : 1; /* "\x00" is one NUL */

			memcpy(in + n, piece, len);
			n += len;
		}
		char *out = qp_string(in, n, round % 2 ? SIZE_MAX : 0);
		size_t olen = strlen(out);
		size_t wlen = crlf_normalize(in, n, want);
		long glen = qp_decode(out, olen, got);

		expect_qp_shape(out);
		cr_assert_eq(glen, (long)wlen, "round %d: \"%s\"", round, out);
		cr_assert(memcmp(got, want, wlen) == 0, "round %d: \"%s\"", round, out);
		cr_expect(n == 0 ? olen == 0 : olen >= 2 && out[olen - 2] == '\r' &&
			  out[olen - 1] == '\n', "round %d: output must end in CRLF", round);
		free(out);
	}
}

Test(encode, qp_reports_sink_failure)
{
	struct mem_sink m;
	struct qp q;
	char line[200];

	mem_init(&m);
	m.fail = 1;
	qp_init(&q, &m.base);
	memset(line, 'x', sizeof line);
	cr_expect_eq(qp_update(&q, (const unsigned char *)line, sizeof line), -1);
	qp_init(&q, &m.base);
	cr_expect_eq(qp_update(&q, (const unsigned char *)"ab", 2), 0);
	cr_expect_eq(qp_final(&q), -1);
	free(m.buf);
}

/* ---- canonical text ---------------------------------------------------- */

static size_t canon_blocks(const char *in, size_t n, size_t block, unsigned char *out)
{
	bool cr = false;
	size_t o = 0;

	for (size_t i = 0; i < n; i += block)
		o += crlf_canon(&cr, (const unsigned char *)in + i,
				n - i < block ? n - i : block, out + o);
	return o;
}

Test(encode, crlf_canon_makes_every_line_break_crlf_across_blocks)
{
	static const char in[] = "a\nb\r\nc\rd\r\r\ne\n\rf\r";
	static const char want[] = "a\r\nb\r\nc\r\nd\r\n\r\ne\r\n\r\nf\r\n";
	unsigned char out[64];

	for (size_t block = 1; block <= sizeof in; block++) {
		size_t n = canon_blocks(in, sizeof in - 1, block, out);

		cr_expect_eq(n, sizeof want - 1, "block %zu", block);
		cr_expect(memcmp(out, want, sizeof want - 1) == 0, "block %zu", block);
	}
}

static struct text_scan scan_str(const char *s, size_t n, size_t block)
{
	struct text_scan t;

	text_scan_init(&t);
	for (size_t i = 0; i < n; i += block)
		text_scan_update(&t, (const unsigned char *)s + i, n - i < block ? n - i : block);
	text_scan_final(&t);
	return t;
}

Test(encode, text_scan_tells_ascii_utf8_invalid_and_canonical_length)
{
	static const struct { const char *s; bool nonascii, invalid, nul; } v[] = {
		{ "plain\n", false, false, false },
		{ "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80", true, false, false },
		{ "caf\xe9", true, true, false },
		{ "\xc3", true, true, false },
		{ "\xc0\xaf", true, true, false },          /* overlong */
		{ "\xed\xa0\x80", true, true, false },      /* surrogate */
		{ "\xf4\x90\x80\x80", true, true, false },  /* past U+10FFFF */
		{ "\xe2\x82x", true, true, false },
		{ "\xf4\x8f\xbf\xbf", true, false, false },
	};

	for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
		for (size_t block = 1; block < 6; block++) {
			struct text_scan t = scan_str(v[k].s, strlen(v[k].s), block);

			cr_expect_eq(t.nonascii, v[k].nonascii, "case %zu", k);
			cr_expect_eq(t.invalid, v[k].invalid, "case %zu block %zu", k, block);
			cr_expect_eq(t.nul, v[k].nul, "case %zu", k);
		}
	struct text_scan t = scan_str("a\0\nb\r\nc\rd", 9, 2);

	cr_expect(t.nul);
	cr_expect(!t.invalid);
	cr_expect_eq(t.canon, 11);
}

Test(encode, text_scan_length_equals_crlf_canon_output)
{
	static const char *const pieces[] = { "a", "\r", "\n", "\r\n", "\xc3\xa9", "xyz" };
	static unsigned char out[2000];
	char in[1000];
	unsigned seed = 3;

	for (int round = 0; round < 300; round++) {
		size_t n = 0, parts = rnd_next(&seed) % 100;

		for (size_t p = 0; p < parts; p++) {
			const char *piece = pieces[rnd_next(&seed) % 6];

			memcpy(in + n, piece, strlen(piece));
			n += strlen(piece);
		}
		size_t block = 1 + rnd_next(&seed) % 20;
		struct text_scan t = scan_str(in, n, block);

		cr_expect_eq(t.canon, canon_blocks(in, n, block, out), "round %d", round);
		cr_expect_eq(t.canon, crlf_normalize((unsigned char *)in, n, out));
	}
}
