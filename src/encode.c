/* encode.c - base64 and quoted-printable body encodings (RFC 2045). */
#include "encode.h"

#include <string.h>

/* ---- base64 ---------------------------------------------------------- */

/* The alphabet as an integer constant expression, so that the pair table
 * below can be built by the compiler instead of at run time (no mutable
 * state, no first-call initialisation). */
#define B64C(v) ((char)((v) < 26 ? 'A' + (v) : (v) < 52 ? 'a' + (v) - 26 : \
			(v) < 62 ? '0' + (v) - 52 : (v) == 62 ? '+' : '/'))
#define B64P(i) { B64C((i) >> 6), B64C((i) & 63) }
#define B64P4(i) B64P(i), B64P((i) + 1), B64P((i) + 2), B64P((i) + 3)
#define B64P16(i) B64P4(i), B64P4((i) + 4), B64P4((i) + 8), B64P4((i) + 12)
#define B64P64(i) B64P16(i), B64P16((i) + 16), B64P16((i) + 32), \
	B64P16((i) + 48)
#define B64P256(i) B64P64(i), B64P64((i) + 64), B64P64((i) + 128), \
	B64P64((i) + 192)
#define B64P1024(i) B64P256(i), B64P256((i) + 256), B64P256((i) + 512), \
	B64P256((i) + 768)

/* Two output characters per 12 input bits: one load and one 16-bit store
 * per half of a 3-byte group keeps the loop free of per-byte work. */
static const char b64_pairs[4096][2] = {
	B64P1024(0), B64P1024(1024), B64P1024(2048), B64P1024(3072)
};

static const char b64_alpha[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

uint64_t b64_encoded_size(uint64_t n)
{
	uint64_t rest = n % B64_LINE_IN;

	return n / B64_LINE_IN * B64_LINE_OUT +
	       (rest ? (rest + 2) / 3 * 4 + 2 : 0);
}

static inline void b64_group(char *out, const unsigned char *in)
{
	uint32_t v = (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];

	memcpy(out, b64_pairs[v >> 12], 2);
	memcpy(out + 2, b64_pairs[v & 0xfff], 2);
}

/* Encodes the 1 or 2 bytes left after the last full group, with '='. */
static size_t b64_tail(char *out, const unsigned char *in, size_t n)
{
	uint32_t v;

	if (n == 0)
		return 0;
	v = (uint32_t)in[0] << 16 | (n > 1 ? (uint32_t)in[1] << 8 : 0);
	out[0] = b64_alpha[v >> 18];
	out[1] = b64_alpha[(v >> 12) & 63];
	out[2] = n > 1 ? b64_alpha[(v >> 6) & 63] : '=';
	out[3] = '=';
	return 4;
}

/* Plain base64 of n bytes into out, without terminator. */
static size_t b64_run(char *out, const unsigned char *in, size_t n)
{
	char *o = out;
	size_t i;

	for (i = 0; i + 3 <= n; i += 3, o += 4)
		b64_group(o, in + i);
	o += b64_tail(o, in + i, n - i);
	return (size_t)(o - out);
}

/* Six input bytes to eight characters: one 8-byte load (two bytes past
 * the six are read, never used), four pair lookups, one 8-byte store. */
static inline void b64_group2(char *out, const unsigned char *in)
{
	uint64_t v, w;
	uint16_t p[4];

	memcpy(&v, in, 8);
	v = __builtin_bswap64(v);
	memcpy(&p[0], b64_pairs[(v >> 52) & 0xfff], 2);
	memcpy(&p[1], b64_pairs[(v >> 40) & 0xfff], 2);
	memcpy(&p[2], b64_pairs[(v >> 28) & 0xfff], 2);
	memcpy(&p[3], b64_pairs[(v >> 16) & 0xfff], 2);
	memcpy(&w, p, 8);
	memcpy(out, &w, 8);
}

size_t b64_encode_lines(char *out, const unsigned char *in, size_t n)
{
	char *o = out;

	/* A full line is 9 double groups and one group (57 bytes: the last
	 * double group reads bytes 48..55, still inside the line); unrolled
	 * by the compiler as a fixed count, with no test on the data. */
	for (; n >= B64_LINE_IN; n -= B64_LINE_IN, in += B64_LINE_IN) {
		for (int g = 0; g < B64_LINE_IN / 6; g++)
			b64_group2(o + 8 * g, in + 6 * g);
		b64_group(o + 72, in + 54);
		o[76] = '\r';
		o[77] = '\n';
		o += B64_LINE_OUT;
	}
	if (n) {
		o += b64_run(o, in, n);
		*o++ = '\r';
		*o++ = '\n';
	}
	return (size_t)(o - out);
}

size_t b64_encode(char *out, const unsigned char *in, size_t n)
{
	size_t len = b64_run(out, in, n);

	out[len] = '\0';
	return len;
}

/* ---- quoted-printable ------------------------------------------------ */

/* Content before a soft break: 75 characters, so that the line with its
 * "=" is at most 76. Lines ended by a hard break use the same limit; the
 * RFC allows 76 there, but one limit keeps the streaming state small and
 * the output independent of what follows. */
#define QP_MAX 75

static const char qp_hex[] = "0123456789ABCDEF";

static int qp_literal(unsigned char c)
{
	return c >= 33 && c <= 126 && c != '=';
}

static int qp_emit(struct qp *q, const char *end, size_t n)
{
	memcpy(q->line + q->len, end, n);
	q->len += n;
	n = q->len;
	q->len = 0;
	return sink_write(q->out, q->line, n);
}

/* Makes room for a token of k characters, breaking softly if needed. */
static int qp_room(struct qp *q, size_t k)
{
	if (q->len + k <= QP_MAX)
		return 0;
	return qp_emit(q, "=\r\n", 3);
}

static int qp_put(struct qp *q, unsigned char c)
{
	if (qp_room(q, 1) < 0)
		return -1;
	q->line[q->len++] = (char)c;
	return 0;
}

static int qp_put_enc(struct qp *q, unsigned char c)
{
	if (qp_room(q, 3) < 0)
		return -1;
	q->line[q->len++] = '=';
	q->line[q->len++] = qp_hex[c >> 4];
	q->line[q->len++] = qp_hex[c & 15];
	return 0;
}

/* A held space or tab turned out not to end a line: it goes as it is. */
static int qp_release(struct qp *q)
{
	int c = q->held;

	q->held = -1;
	return c < 0 ? 0 : qp_put(q, (unsigned char)c);
}

static int qp_hard_break(struct qp *q)
{
	int c = q->held;

	q->held = -1;
	if (c >= 0 && qp_put_enc(q, (unsigned char)c) < 0)
		return -1;
	return qp_emit(q, "\r\n", 2);
}

/* One byte that is not part of a literal run. A CR, LF or CRLF is one
 * line break (RFC 2045 6.8: text goes in canonical form): a CR breaks
 * the line at once and swallows an LF right after it. */
static int qp_byte(struct qp *q, unsigned char c)
{
	if (q->cr) {
		q->cr = 0;
		if (c == '\n')
			return 0;
	}
	switch (c) {
	case '\r':
		q->cr = 1;
		return qp_hard_break(q);
	case '\n':
		return qp_hard_break(q);
	case ' ':
	case '\t':
		if (qp_release(q) < 0)
			return -1;
		q->held = c;
		return 0;
	default:
		if (qp_release(q) < 0)
			return -1;
		return qp_literal(c) ? qp_put(q, c) : qp_put_enc(q, c);
	}
}

void qp_init(struct qp *q, struct sink *out)
{
	q->out = out;
	q->held = -1;
	q->cr = 0;
	q->len = 0;
}

/* Copies what needs no look-ahead straight into the line: plain
 * characters, escapes, and a space or tab already known to be followed
 * by a plain character. Stops at anything else or at the line's end, so
 * the result is the same as going byte by byte through qp_byte. */
static size_t qp_fast(struct qp *q, const unsigned char *in, size_t n)
{
	size_t i = 0, len = q->len;
	char *line = q->line;

	while (i < n) {
		unsigned char c = in[i];

		if (qp_literal(c) || ((c == ' ' || c == '\t') && i + 1 < n &&
				      qp_literal(in[i + 1]))) {
			if (len + 1 > QP_MAX)
				break;
			line[len++] = (char)c;
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			if (len + 3 > QP_MAX)
				break;
			line[len++] = '=';
			line[len++] = qp_hex[c >> 4];
			line[len++] = qp_hex[c & 15];
		} else {
			break;
		}
		i++;
	}
	q->len = len;
	return i;
}

int qp_update(struct qp *q, const unsigned char *in, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (q->held < 0 && !q->cr) {
			i += qp_fast(q, in + i, n - i);
			if (i == n)
				break;
		}
		if (qp_byte(q, in[i++]) < 0)
			return -1;
	}
	return 0;
}

int qp_final(struct qp *q)
{
	q->cr = 0;
	if (q->held >= 0) {
		int c = q->held;

		q->held = -1;
		if (qp_put_enc(q, (unsigned char)c) < 0)
			return -1;
	}
	/* A last line without a line break ends in a soft break, so the
	 * output is whole lines yet decodes to exactly the input. */
	if (q->len > 0)
		return qp_emit(q, "=\r\n", 3);
	return 0;
}

/* ---- text in canonical form ----------------------------------------- */

size_t crlf_canon(bool *after_cr, const unsigned char *in, size_t n, unsigned char *out)
{
	unsigned char *o = out;
	bool cr = *after_cr;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = in[i];

		if (c == '\r' || (c == '\n' && !cr)) {
			*o++ = '\r';
			*o++ = '\n';
		} else if (c != '\n') {
			*o++ = c;
		}
		cr = c == '\r';
	}
	*after_cr = cr;
	return (size_t)(o - out);
}

void text_scan_init(struct text_scan *t)
{
	memset(t, 0, sizeof *t);
}

/* The second byte of a character led by c: its narrower range for the
 * leads that would otherwise allow overlong forms, surrogates or code
 * points past U+10FFFF. */
static void utf8_range(struct text_scan *t, unsigned char c)
{
	t->lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
	t->hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
}

/* utf8.h's rules, one byte at a time: a character may straddle two
 * blocks, which utf8_decode (whole characters) cannot see; test_utf8
 * checks that both agree. */
static void utf8_step(struct text_scan *t, unsigned char c)
{
	if (t->need > 0) {
		if (c < t->lo || c > t->hi) {
			t->invalid = true;
			t->need = 0;
			utf8_step(t, c); /* c starts afresh */
			return;
		}
		t->need--;
		t->lo = 0x80;
		t->hi = 0xbf;
		return;
	}
	if (c < 0x80)
		return;
	t->nonascii = true;
	if (c < 0xc2 || c > 0xf4) {
		t->invalid = true;
		return;
	}
	t->need = c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
	utf8_range(t, c);
}

void text_scan_update(struct text_scan *t, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (c == 0)
			t->nul = true;
		t->canon += c == '\r' || (c == '\n' && !t->cr) ? 2 : c == '\n' ? 0 : 1;
		t->cr = c == '\r';
		utf8_step(t, c);
	}
}

void text_scan_final(struct text_scan *t)
{
	if (t->need > 0)
		t->invalid = true;
	t->need = 0;
}
