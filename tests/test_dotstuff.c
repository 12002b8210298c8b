/* The DATA filter: CRLF only, dot-stuffed, terminator only at the end. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "dotstuff.h"

/* A sink that keeps everything in memory. */
struct mem {
	struct sink base;
	char *buf;
	size_t len, cap;
};

static int mem_write(struct sink *s, const void *p, size_t n)
{
	struct mem *m = (struct mem *)s;

	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2;
		m->buf = realloc(m->buf, m->cap);
	}
	memcpy(m->buf + m->len, p, n);
	m->len += n;
	return 0;
}

static struct error err;

/* Runs input through the filter in blocks of step bytes (0: whole). */
static struct mem stuff(const char *in, size_t n, size_t step)
{
	struct mem m = {{mem_write, NULL, &err}, NULL, 0, 0};
	struct dot_sink d;

	dot_init(&d, &m.base);
	for (size_t off = 0; off < n;) {
		size_t k = step && step < n - off ? step : n - off;

		cr_assert_eq(sink_write(&d.base, in + off, k), 0);
		off += k;
	}
	cr_assert_eq(dot_finish(&d), 0);
	return m;
}

static void expect(const char *in, const char *out)
{
	for (size_t step = 0; step <= 3; step++) {
		struct mem m = stuff(in, strlen(in), step);

		cr_expect_eq(m.len, strlen(out), "step %zu: %.*s", step, (int)m.len, m.buf);
		cr_expect_eq(memcmp(m.buf, out, m.len < strlen(out) ? m.len : strlen(out)), 0,
			     "step %zu: got %.*s", step, (int)m.len, m.buf);
		free(m.buf);
	}
}

Test(dotstuff, leading_dots_are_doubled)
{
	expect(".\r\n..\r\n.x\r\nx.\r\n", "..\r\n...\r\n..x\r\nx.\r\n.\r\n");
}

Test(dotstuff, first_byte_is_a_line_start)
{
	expect(".hidden", "..hidden\r\n.\r\n");
}

Test(dotstuff, bare_lf_and_lone_cr_become_crlf)
{
	expect("a\nb\rc\r\n.d\n", "a\r\nb\r\nc\r\n..d\r\n.\r\n");
}

Test(dotstuff, lone_cr_before_dot_starts_a_line)
{
	expect("a\r.b", "a\r\n..b\r\n.\r\n");
}

Test(dotstuff, empty_input_is_just_the_terminator)
{
	expect("", ".\r\n");
}

Test(dotstuff, final_line_without_newline_is_ended)
{
	expect("last", "last\r\n.\r\n");
	expect("last\r", "last\r\n.\r\n");
}

/* Reverses the filter as a server does (RFC 5321 4.5.2). */
static size_t unstuff(const char *in, size_t n, char *out, bool *early_end)
{
	size_t o = 0;
	bool start = true;

	*early_end = false;
	for (size_t i = 0; i < n; i++) {
		if (start && in[i] == '.') {
			if (i + 2 < n && in[i + 1] == '\r' && in[i + 2] == '\n') {
				*early_end = i + 3 != n;
				return o;
			}
			i++;
		}
		out[o++] = in[i];
		start = in[i] == '\n';
	}
	return o;
}

Test(dotstuff, random_input_round_trips_at_every_block_size)
{
	static const char alphabet[] = ".\r\nab";
	char in[4096], *norm = malloc(8192), *back = malloc(8192);

	srand(42);
	for (int round = 0; round < 300; round++) {
		size_t n = (size_t)rand() % sizeof in, nn = 0;

		for (size_t i = 0; i < n; i++)
			in[i] = alphabet[rand() % 5];
		/* What the receiver must see: every CR, LF or CRLF is one CRLF. */
		for (size_t i = 0; i < n; i++) {
			if (in[i] == '\r' || in[i] == '\n') {
				norm[nn++] = '\r';
				norm[nn++] = '\n';
				if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
					i++;
			} else {
				norm[nn++] = in[i];
			}
		}
		if (nn && norm[nn - 1] != '\n') {
			norm[nn++] = '\r';
			norm[nn++] = '\n';
		}
		size_t step = 1 + (size_t)rand() % 70;
		struct mem m = stuff(in, n, round % 2 ? step : 0);
		bool early;
		size_t bn = unstuff(m.buf, m.len, back, &early);

		cr_assert_not(early, "early end of data in round %d", round);
		cr_assert_eq(bn, nn, "round %d", round);
		cr_assert_eq(memcmp(back, norm, nn), 0, "round %d", round);
		for (size_t i = 0; i < m.len; i++) {
			if (m.buf[i] == '\n')
				cr_assert(i > 0 && m.buf[i - 1] == '\r', "bare LF at %zu", i);
			if (m.buf[i] == '\r')
				cr_assert(i + 1 < m.len && m.buf[i + 1] == '\n', "bare CR at %zu", i);
		}
		free(m.buf);
	}
	free(norm);
	free(back);
}
