/* sink.c - the simple sinks: a buffered file descriptor and a counter. */
#include "sink.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int sink_puts(struct sink *s, const char *str)
{
	return sink_write(s, str, strlen(str));
}

int sink_flush(struct sink *s)
{
	return s->flush ? s->flush(s) : 0;
}

static int fd_drain(struct sink_fd *f, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(f->fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(f->base.err, ERR_IOERR, "cannot write the message: %s",
				       strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fd_flush(struct sink *s)
{
	struct sink_fd *f = (struct sink_fd *)s;
	size_t len = f->len;

	f->len = 0;
	return fd_drain(f, f->buf, len);
}

static int fd_write(struct sink *s, const void *buf, size_t len)
{
	struct sink_fd *f = (struct sink_fd *)s;

	if (f->len + len <= sizeof f->buf) {
		memcpy(f->buf + f->len, buf, len);
		f->len += len;
		return 0;
	}
	if (fd_flush(s) < 0)
		return -1;
	/* Big blocks bypass the buffer: copying them would only cost time. */
	if (len >= sizeof f->buf / 2)
		return fd_drain(f, buf, len);
	memcpy(f->buf, buf, len);
	f->len = len;
	return 0;
}

void sink_fd_init(struct sink_fd *s, int fd, struct error *err)
{
	s->base.write = fd_write;
	s->base.flush = fd_flush;
	s->base.err = err;
	s->fd = fd;
	s->len = 0;
}

static int count_write(struct sink *s, const void *buf, size_t len)
{
	(void)buf;
	((struct sink_count *)s)->bytes += len;
	return 0;
}

void sink_count_init(struct sink_count *s, struct error *err)
{
	s->base.write = count_write;
	s->base.flush = NULL;
	s->base.err = err;
	s->bytes = 0;
}
