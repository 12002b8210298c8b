/* sink.h - where composed bytes go.
 *
 * The composer writes the message into a sink; the sink decides whether
 * the bytes land on stdout, in a file, in a byte counter, or (through a
 * dot-stuffing filter) on the SMTP connection. A sink never holds more
 * than its own fixed buffer, so memory stays flat for any message size.
 */
#ifndef ENVOI_SINK_H
#define ENVOI_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct sink {
	/* Writes len bytes. Returns 0, or -1 with *err filled. */
	int (*write)(struct sink *s, const void *buf, size_t len);
	/* Pushes buffered bytes onward (may be NULL). Returns 0 or -1. */
	int (*flush)(struct sink *s);
	struct error *err; /* where a failure is reported */
};

static inline int sink_write(struct sink *s, const void *buf, size_t len)
{
	return len ? s->write(s, buf, len) : 0;
}

int sink_puts(struct sink *s, const char *str);
int sink_flush(struct sink *s);

/* A buffered writer on a file descriptor (64 KiB buffer). */
struct sink_fd {
	struct sink base;
	int fd;
	size_t len;
	char buf[65536];
};
void sink_fd_init(struct sink_fd *s, int fd, struct error *err);

/* Counts bytes and discards them; used to learn the message size. */
struct sink_count {
	struct sink base;
	uint64_t bytes;
};
void sink_count_init(struct sink_count *s, struct error *err);

#endif
