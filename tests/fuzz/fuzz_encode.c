/* fuzz_encode.c - libFuzzer target for the body encoders. The input is
 * encoded as base64 (in lines and plain) and as quoted-printable, cut
 * into blocks whose size comes from the first input byte; each output
 * is checked for its line rules and decoded here, and must give the
 * input back (for QP: with LF and CRLF line ends as CRLF, a lone CR
 * kept). QP output must not depend on how the input was cut. */
#include "fuzz.h"

#include "encode.h"

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

/* Decodes n base64 characters (padded) onto out; returns bytes added. */
static size_t b64_decode(const char *s, size_t n, unsigned char *out)
{
	size_t k = 0;

	FUZZ_CHECK(n % 4 == 0);
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		unsigned bits;

		for (int j = 0; j < 4; j++) {
			v[j] = s[i + j] == '=' ? 0 : b64_value(s[i + j]);
			FUZZ_CHECK(v[j] >= 0);
			FUZZ_CHECK(s[i + j] != '=' || (i + 4 == n && j >= 2));
		}
		bits = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
		out[k++] = (unsigned char)(bits >> 16);
		if (s[i + 2] != '=')
			out[k++] = (unsigned char)(bits >> 8);
		if (s[i + 3] != '=')
			out[k++] = (unsigned char)bits;
	}
	return k;
}

static void check_base64(const uint8_t *in, size_t n, size_t block)
{
	size_t cap = (n + 56) / 57 * 78 + 1, len = 0, k = 0;
	char *out = malloc(cap), *plain = malloc(4 * ((n + 2) / 3) + 1);
	unsigned char *back = malloc(n + 3);

	FUZZ_CHECK(out && plain && back);
	block = (block / 57 + 1) * 57;
	for (size_t off = 0; off < n; off += block)
		len += b64_encode_lines(out + len, in + off, n - off < block ? n - off : block);
	FUZZ_CHECK(len == b64_encoded_size(n) && len <= cap - 1);
	for (size_t i = 0; i < len;) {
		char *crlf = memchr(out + i, '\r', len - i);
		size_t line;

		FUZZ_CHECK(crlf && crlf + 1 < out + len && crlf[1] == '\n');
		line = (size_t)(crlf - (out + i));
		FUZZ_CHECK(line > 0 && line <= 76 && (line == 76 || crlf + 2 == out + len));
		k += b64_decode(out + i, line, back + k);
		i += line + 2;
	}
	FUZZ_CHECK(k == n && memcmp(back, in, n) == 0);
	len = b64_encode(plain, in, n);
	FUZZ_CHECK(len == strlen(plain) && b64_decode(plain, len, back) == n);
	FUZZ_CHECK(memcmp(back, in, n) == 0);
	free(out);
	free(plain);
	free(back);
}

static struct mem_sink qp_run(const uint8_t *in, size_t n, size_t block, struct error *err)
{
	struct mem_sink m;
	struct qp q;

	mem_init(&m, err);
	qp_init(&q, &m.base);
	for (size_t off = 0; off < n; off += block)
		FUZZ_CHECK(qp_update(&q, in + off, n - off < block ? n - off : block) == 0);
	FUZZ_CHECK(qp_final(&q) == 0);
	return m;
}

static int hex(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Checks the line rules of QP output and decodes it into a buffer of
 * at most len bytes (decoding never grows). Returns its length. */
static size_t qp_decode(const char *s, size_t len, unsigned char *out)
{
	size_t k = 0, col = 0;

	FUZZ_CHECK(len == 0 || (len >= 2 && s[len - 2] == '\r' && s[len - 1] == '\n'));
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r') {
			FUZZ_CHECK(i + 1 < len && s[i + 1] == '\n' && col <= 76);
			FUZZ_CHECK(col == 0 || (s[i - 1] != ' ' && s[i - 1] != '\t'));
			out[k++] = '\r';
			out[k++] = '\n';
			i++;
			col = 0;
		} else if (c == '=') {
			if (i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n') {
				FUZZ_CHECK(col + 1 <= 76);
				i += 2;
				col = 0;
				continue;
			}
			FUZZ_CHECK(i + 2 < len && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0);
			out[k++] = (unsigned char)(hex(s[i + 1]) << 4 | hex(s[i + 2]));
			i += 2;
			col += 3;
		} else {
			FUZZ_CHECK((c >= 33 && c <= 126) || c == ' ' || c == '\t');
			out[k++] = c;
			col++;
		}
	}
	return k;
}

static void check_qp(const uint8_t *in, size_t n, size_t block)
{
	struct error err;
	struct mem_sink whole = qp_run(in, n, n ? n : 1, &err), cut = qp_run(in, n, block, &err);
	unsigned char *want = malloc(2 * n + 1), *got = malloc(whole.len + 1);
	size_t w = 0, g;

	FUZZ_CHECK(want && got);
	FUZZ_CHECK(whole.len == cut.len && (!whole.len || memcmp(whole.buf, cut.buf, whole.len) == 0));
	/* Text in canonical form: every LF, CR and CRLF is one CRLF. */
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\n' && i > 0 && in[i - 1] == '\r')
			continue;
		if (in[i] == '\r' || in[i] == '\n') {
			want[w++] = '\r';
			want[w++] = '\n';
		} else {
			want[w++] = in[i];
		}
	}
	g = qp_decode(whole.buf, whole.len, got);
	FUZZ_CHECK(g == w && (!w || memcmp(got, want, w) == 0));
	free(whole.buf);
	free(cut.buf);
	free(want);
	free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t block;

	if (size == 0)
		return 0;
	block = (size_t)data[0] + 1;
	check_base64(data + 1, size - 1, block);
	check_qp(data + 1, size - 1, block);
	return 0;
}
