/* encode_speed.c - throughput of the body encoders.
 *
 * Standalone, not built by meson:
 *   gcc -std=c11 -D_GNU_SOURCE -O2 -Isrc bench/encode_speed.c src/encode.c \
 *       -o /tmp/encode_speed && /tmp/encode_speed
 * Optionally add -DWITH_NETTLE ... -lnettle to compare with nettle.
 * Prints each measurement RUNS times; read the best line of each kind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "encode.h"

#ifdef WITH_NETTLE
#include <nettle/base64.h>
#endif

#define TOTAL (256u * 1024 * 1024) /* bytes pushed per measurement */
#define RUNS 5 /* best of: the machine is shared */
#define BLOCK (B64_LINE_IN * 1150)  /* ~64 KiB, as the composer reads */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned char *random_block(size_t n, unsigned seed)
{
	unsigned char *b = malloc(n);

	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (unsigned char)(seed >> 16);
	}
	return b;
}

/* A sink that discards, but touches the data so it cannot be elided. */
struct count_sink {
	struct sink base;
	unsigned long long bytes, sum;
};

static int count_write(struct sink *s, const void *buf, size_t len)
{
	struct count_sink *c = (struct count_sink *)s;

	c->bytes += len;
	c->sum += ((const unsigned char *)buf)[len - 1];
	return 0;
}

static void bench_b64(void)
{
	unsigned char *in = random_block(BLOCK, 1);
	char *out = malloc(b64_encoded_size(BLOCK));
	unsigned long long sum = 0;
	double t = now();

	for (size_t done = 0; done < TOTAL; done += BLOCK)
		sum += (unsigned char)out[b64_encode_lines(out, in, BLOCK) - 3];
	t = now() - t;
	printf("b64_encode_lines: %7.0f MB/s (check %llu)\n",
	       TOTAL / t / 1e6, sum);
	free(in);
	free(out);
}

#ifdef WITH_NETTLE
static void bench_nettle(void)
{
	unsigned char *in = random_block(BLOCK, 1);
	char *out = malloc(b64_encoded_size(BLOCK));
	unsigned long long sum = 0;
	double t = now();

	for (size_t done = 0; done < TOTAL; done += BLOCK) {
		char *o = out;

		for (size_t i = 0; i < BLOCK; i += B64_LINE_IN) {
			base64_encode_raw(o, B64_LINE_IN, in + i);
			o[76] = '\r';
			o[77] = '\n';
			o += B64_LINE_OUT;
		}
		sum += (unsigned char)out[3];
	}
	t = now() - t;
	printf("nettle raw lines: %7.0f MB/s (check %llu)\n",
	       TOTAL / t / 1e6, sum);
	free(in);
	free(out);
}
#endif

/* Text: printable ASCII with spaces and newlines, a few 8-bit bytes. */
static unsigned char *text_block(size_t n)
{
	static const char words[] = "the quick brown fox jumps over a lazy "
				    "dog; caf\xc3\xa9 = 42\n";
	unsigned char *b = malloc(n);

	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)words[i % (sizeof words - 1)];
	return b;
}

static void bench_qp(const char *what, unsigned char *in)
{
	struct count_sink s = { { count_write, NULL, NULL }, 0, 0 };
	struct qp q;
	double t = now();

	qp_init(&q, &s.base);
	for (size_t done = 0; done < TOTAL; done += BLOCK)
		qp_update(&q, in, BLOCK);
	qp_final(&q);
	t = now() - t;
	printf("qp (%s): %7.0f MB/s in, %.2f bytes out per byte in\n", what,
	       TOTAL / t / 1e6, (double)s.bytes / TOTAL);
	free(in);
}

int main(void)
{
	for (int run = 0; run < RUNS; run++) {
		bench_b64();
#ifdef WITH_NETTLE
		bench_nettle();
#endif
		bench_qp("text", text_block(BLOCK));
		bench_qp("binary", random_block(BLOCK, 7));
	}
	return 0;
}
