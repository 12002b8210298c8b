/* batch_lines.c - input lines read straight from a descriptor, so that
 * the loop can tell "no line yet" from "a line is here": stdio's buffer
 * would hide lines already read from poll. */
#include "batch_int.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

#define READ_CHUNK 65536

struct batch_lines {
	int fd;
	char *buf;
	size_t start, end, cap; /* unread bytes: buf[start..end) */
	bool eof;
};

struct batch_lines *batch_lines_new(int fd)
{
	struct batch_lines *l = calloc(1, sizeof *l);

	if (l)
		l->fd = fd;
	return l;
}

void batch_lines_free(struct batch_lines *l)
{
	if (l)
		free(l->buf);
	free(l);
}

/* Room for READ_CHUNK more bytes, the consumed ones dropped first. */
static int make_room(struct batch_lines *l)
{
	char *grown;

	if (l->start) {
		memmove(l->buf, l->buf + l->start, l->end - l->start);
		l->end -= l->start;
		l->start = 0;
	}
	if (l->cap - l->end >= READ_CHUNK)
		return 0;
	if (!(grown = realloc(l->buf, l->cap + READ_CHUNK)))
		return -1;
	l->buf = grown;
	l->cap += READ_CHUNK;
	return 0;
}

/* One read when poll says there is something within timeout_ms.
 * Returns 1 when bytes (or the end) came, 0 when nothing did. */
static int fill(struct batch_lines *l, int timeout_ms)
{
	struct pollfd p = {.fd = l->fd, .events = POLLIN};
	ssize_t n;
	int ready;

	do
		ready = poll(&p, 1, timeout_ms);
	while (ready < 0 && errno == EINTR);
	if (ready == 0)
		return 0;
	if (ready < 0 || make_room(l) < 0) {
		l->eof = true;
		return 1;
	}
	do
		n = read(l->fd, l->buf + l->end, l->cap - l->end);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		l->eof = true;
	else
		l->end += (size_t)n;
	return 1;
}

static enum batch_read take(struct batch_lines *l, size_t stop, size_t skip, char **line,
			    size_t *len)
{
	*line = l->buf + l->start;
	*len = stop - l->start;
	while (*len && (*line)[*len - 1] == '\r')
		(*len)--;
	l->start = stop + skip;
	return BATCH_LINE;
}

enum batch_read batch_lines_next(struct batch_lines *l, int timeout_ms, char **line, size_t *len)
{
	int64_t deadline = timeout_ms < 0 ? 0 : clock_ms() + timeout_ms;
	size_t seen = 0; /* bytes past start known to hold no line end */

	for (;;) {
		size_t avail = l->end - l->start - seen;
		char *nl = avail ? memchr(l->buf + l->start + seen, '\n', avail) : NULL;
		int wait = -1;

		if (nl)
			return take(l, (size_t)(nl - l->buf), 1, line, len);
		if (l->eof)
			return l->end > l->start ? take(l, l->end, 0, line, len) : BATCH_EOF;
		seen = l->end - l->start;
		if (timeout_ms >= 0) {
			int64_t left = deadline - clock_ms();

			wait = left > 0 ? (int)left : 0;
		}
		if (!fill(l, wait))
			return BATCH_NONE;
	}
}
