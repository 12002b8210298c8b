/* fuzz.h - helpers shared by the libFuzzer targets: a sink that keeps
 * what it is given, a memfd holding the input, and the checks every
 * header field must pass. Header-only, so each target is one file. */
#ifndef ENVOI_FUZZ_H
#define ENVOI_FUZZ_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A failed promise: say which, then crash so libFuzzer keeps the input. */
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* A sink that keeps everything in memory. */
struct mem_sink {
	struct sink base;
	char *buf;
	size_t len, cap;
};

static int mem_write(struct sink *s, const void *p, size_t n)
{
	struct mem_sink *m = (struct mem_sink *)s;

	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2 + 64;
		m->buf = realloc(m->buf, m->cap);
		FUZZ_CHECK(m->buf != NULL);
	}
	memcpy(m->buf + m->len, p, n);
	m->len += n;
	return 0;
}

static inline void mem_init(struct mem_sink *m, struct error *err)
{
	memset(m, 0, sizeof *m);
	m->base.write = mem_write;
	m->base.err = err;
}

/* The input in a memfd, at offset 0. Returns the fd (caller closes). */
static inline int fuzz_memfd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz", 0);

	FUZZ_CHECK(fd >= 0);
	for (size_t off = 0; off < size;) {
		ssize_t n = write(fd, data + off, size - off);

		FUZZ_CHECK(n > 0);
		off += (size_t)n;
	}
	FUZZ_CHECK(lseek(fd, 0, SEEK_SET) == 0);
	return fd;
}

/* A malloc'd NUL-terminated copy of the input. */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	FUZZ_CHECK(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Length of an RFC 2047 encoded-word starting at p ("=?cs?B?text?="),
 * or 0 when p does not start one. */
static inline size_t encoded_word_len(const char *p, const char *end)
{
	const char *q = p + 2;
	int marks = 0;

	if (end - p < 2 || p[0] != '=' || p[1] != '?')
		return 0;
	for (; q < end && *q != ' ' && *q != '\r'; q++) {
		if (*q != '?')
			continue;
		if (++marks == 3) {
			if (q + 1 < end && q[1] == '=')
				return (size_t)(q + 2 - p);
			return 0;
		}
	}
	return 0;
}

/* Every header field envoi writes: "name:" first, 7-bit (utf8: UTF-8
 * mailboxes, RFC 6532, may put 8-bit bytes in), no NUL, lines
 * ending in CRLF and at most 998 octets, continuation lines starting
 * with white space, encoded-words at most 75 (in a structured field,
 * outside quoted strings, where "=?" is plain text). */
static inline void check_header_field(const char *h, const char *name, bool structured,
				      bool utf8)
{
	size_t len = strlen(h), nlen = strlen(name), line = 0;
	bool quoted = false;

	FUZZ_CHECK(len >= nlen + 3);
	FUZZ_CHECK(strncmp(h, name, nlen) == 0 && h[nlen] == ':');
	FUZZ_CHECK(h[len - 2] == '\r' && h[len - 1] == '\n');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)h[i];
		size_t ew;

		FUZZ_CHECK(c != 0 && (c < 0x80 || utf8));
		if (c == '\r') {
			FUZZ_CHECK(h[i + 1] == '\n');
			FUZZ_CHECK(line <= 998);
			FUZZ_CHECK(i + 2 == len || h[i + 2] == ' ' || h[i + 2] == '\t');
			line = 0;
			i++;
			continue;
		}
		FUZZ_CHECK(c != '\n');
		line++;
		if (quoted && c == '\\') {
			i++;
			line++;
			FUZZ_CHECK(h[i] != '\r');
		} else if (c == '"' && structured) {
			quoted = !quoted;
		} else if (!quoted && (ew = encoded_word_len(h + i, h + len)) > 0) {
			FUZZ_CHECK(ew <= 75);
		}
	}
}

#endif
