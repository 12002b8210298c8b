/* fuzz_dotstuff.c - libFuzzer target for the DATA filter (CRLF
 * normaliser and dot-stuffer). The first input byte sets the block size
 * the rest is written in. The output must end in "\r\n.\r\n" (or be
 * ".\r\n" alone for an empty message), never hold "\r\n.\r\n" earlier,
 * hold no CR or LF outside CRLF pairs, and, unstuffed, equal the input
 * with CR, LF and CRLF made CRLF and a final CRLF added when missing. */
#include "fuzz.h"

#include "dotstuff.h"

/* The input as the filter must see it: every line end CRLF. */
static size_t normalise(const uint8_t *in, size_t n, char *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\r' || in[i] == '\n') {
			if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
				i++;
			out[k++] = '\r';
			out[k++] = '\n';
		} else {
			out[k++] = (char)in[i];
		}
	}
	if (k > 0 && out[k - 1] != '\n') {
		out[k++] = '\r';
		out[k++] = '\n';
	}
	return k;
}

/* Removes the terminator and one leading dot per line. */
static size_t unstuff(const char *s, size_t len, char *out)
{
	size_t k = 0;
	bool line_start = true;

	FUZZ_CHECK(len >= 3 && memcmp(s + len - 3, ".\r\n", 3) == 0);
	FUZZ_CHECK(len == 3 || (len >= 5 && s[len - 5] == '\r' && s[len - 4] == '\n'));
	len -= 3;
	for (size_t i = 0; i < len; i++) {
		if (line_start && s[i] == '.') {
			FUZZ_CHECK(i + 1 < len && s[i + 1] == '.');
			i++;
		}
		if (s[i] == '\r')
			FUZZ_CHECK(i + 1 < len && s[i + 1] == '\n');
		if (s[i] == '\n')
			FUZZ_CHECK(i > 0 && s[i - 1] == '\r');
		out[k++] = s[i];
		line_start = s[i] == '\n';
	}
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct error err;
	struct mem_sink m;
	struct dot_sink d;
	size_t block, n, want_len, got_len;
	char *want, *got;
	const char *hit;

	if (size == 0)
		return 0;
	block = (size_t)data[0] + 1;
	data++;
	n = size - 1;
	mem_init(&m, &err);
	dot_init(&d, &m.base);
	for (size_t off = 0; off < n; off += block)
		FUZZ_CHECK(sink_write(&d.base, data + off, n - off < block ? n - off : block) == 0);
	FUZZ_CHECK(dot_finish(&d) == 0);
	hit = memmem(m.buf, m.len, "\r\n.\r\n", 5);
	FUZZ_CHECK(hit == NULL ? m.len == 3 : hit == m.buf + m.len - 5);
	want = malloc(2 * n + 2);
	got = malloc(m.len);
	FUZZ_CHECK(want && got);
	want_len = normalise(data, n, want);
	got_len = unstuff(m.buf, m.len, got);
	FUZZ_CHECK(got_len == want_len && memcmp(got, want, want_len) == 0);
	free(want);
	free(got);
	free(m.buf);
	return 0;
}
