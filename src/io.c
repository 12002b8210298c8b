/* io.c - the buffered line reader and writer with deadlines (io.h).
 *
 * Reads and writes go to the descriptor in plaintext, or through tls.c
 * once io_use_tls was called; either way every wait is bounded by poll
 * (net.h), so a silent or slow server can never hang envoi.
 */
#include "io.h"
#include "clock.h"
#include "net.h"
#include "tls.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#define RBUF_SIZE 16384          /* > IO_MAX_LINE + 2: a full line always fits */
#define WBUF_SIZE 65536

struct io {
	int fd;
	int timeout_ms;
	struct tls *tls;              /* NULL: plaintext */
	char peer[640];
	/* Plaintext bytes exchanged before TLS: none means implicit TLS. */
	size_t plain_rx, plain_tx;
	int64_t step_deadline;        /* io_start_step: 0 = a timeout per line */
	size_t rstart, rend;
	size_t wlen;
	char rbuf[RBUF_SIZE];
	char wbuf[WBUF_SIZE];
};

int io_new(struct io **out, int fd, const char *peer, int timeout_ms, struct error *err)
{
	struct io *io = calloc(1, sizeof *io);

	*out = NULL;
	if (!io)
		return err_set(err, ERR_OSERR, "out of memory");
	io->fd = fd;
	io->timeout_ms = timeout_ms;
	snprintf(io->peer, sizeof io->peer, "%s", peer);
	*out = io;
	return 0;
}

void io_set_timeout(struct io *io, int timeout_ms)
{
	io->timeout_ms = timeout_ms;
}

void io_use_tls(struct io *io, struct tls *t)
{
	io->tls = t;
	io->rstart = io->rend = 0;
}

size_t io_plain_bytes(const struct io *io)
{
	return io->plain_rx + io->plain_tx;
}

size_t io_unsent(const struct io *io)
{
	return io->wlen;
}

size_t io_unread(const struct io *io, const char **data)
{
	*data = io->rbuf + io->rstart;
	return io->rend - io->rstart;
}

static int timed_out(const struct io *io, const char *doing, struct error *err)
{
	return net_timed_out(io->peer, io->timeout_ms, doing, err);
}

/* ---- reading ---- */

/* One non-blocking read. Returns bytes (> 0), 0 at end of stream, -1 with
 * err filled, or -2 when it would block (*events: what to poll for; 0 =
 * retry at once, GnuTLS consumed something that was not data). */
static ssize_t read_some(struct io *io, char *buf, size_t len, short *events,
			 struct error *err)
{
	ssize_t n;

	if (io->tls)
		return tls_recv(io->tls, buf, len, events, err);
	n = recv(io->fd, buf, len, 0);
	if (n >= 0) {
		io->plain_rx += (size_t)n;
		return n;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		*events = POLLIN;
		return -2;
	}
	return net_lost(io->peer, errno, "while receiving", err);
}

/* Reads more into rbuf before deadline. Returns bytes, 0 at end of stream,
 * -1 with err filled. The deadline is checked even when GnuTLS keeps
 * returning non-data records, so a record flood cannot hold us. */
static ssize_t fill(struct io *io, int64_t deadline, struct error *err)
{
	for (;;) {
		short ev = 0;
		ssize_t n = read_some(io, io->rbuf + io->rend, RBUF_SIZE - io->rend, &ev, err);
		int w = 1;

		if (n > 0)
			io->rend += (size_t)n;
		if (n >= 0 || n == -1)
			return n;
		if (ev)
			w = net_wait_fd(io->fd, ev, deadline);
		else if (clock_ms() >= deadline)
			w = 0;
		if (w == 0)
			return timed_out(io, "waiting for", err);
		if (w < 0)
			return net_poll_failed(err);
	}
}

static int line_too_long(const struct io *io, struct error *err)
{
	err_set(err, ERR_PROTOCOL, "server %s sent a line longer than %d bytes",
		io->peer, IO_MAX_LINE);
	err_reply(err, io->rbuf + io->rstart, 80);
	return -1;
}

void io_start_step(struct io *io)
{
	io->step_deadline = clock_ms() + io->timeout_ms;
}

/* A complete line at the start of the buffer: returned, and consumed. */
static int take_line(struct io *io, char *start, char *nl, const char **line,
		     size_t *len, struct error *err)
{
	size_t l = (size_t)(nl - start);

	if (l > 0 && start[l - 1] == '\r')
		l--;
	if (l > IO_MAX_LINE)
		return line_too_long(io, err);
	io->rstart += (size_t)(nl - start) + 1;
	start[l] = '\0';
	*line = start;
	*len = l;
	return 0;
}

int io_read_line(struct io *io, const char **line, size_t *len, struct error *err)
{
	int64_t deadline = io->step_deadline ? io->step_deadline : clock_ms() + io->timeout_ms;

	for (;;) {
		char *start = io->rbuf + io->rstart;
		size_t avail = io->rend - io->rstart;
		char *nl = memchr(start, '\n', avail);
		ssize_t n;

		if (nl)
			return take_line(io, start, nl, line, len, err);
		/* Fail as soon as the line cannot be legal: an endless line
		 * costs one buffer, never more. */
		if (avail > IO_MAX_LINE + 1)
			return line_too_long(io, err);
		if (io->rend == RBUF_SIZE || io->rstart == io->rend) {
			memmove(io->rbuf, start, avail);
			io->rstart = 0;
			io->rend = avail;
		}
		n = fill(io, deadline, err);
		if (n < 0)
			return -1;
		if (n == 0)
			return err_set(err, ERR_TEMPFAIL, "connection closed by %s%s",
				       io->peer, avail ? " in the middle of a line" : "");
	}
}

size_t io_pending(const struct io *io)
{
	return io->rend - io->rstart + (io->tls ? tls_pending(io->tls) : 0);
}

int io_wait_readable(struct io *io, int ms, struct error *err)
{
	int w;

	if (io_pending(io) > 0)
		return 1;
	w = net_wait_fd(io->fd, POLLIN, ms < 0 ? clock_ms() + INT32_MAX : clock_ms() + ms);
	if (w < 0)
		return net_poll_failed(err);
	return w;
}

/* ---- writing ---- */

/* One non-blocking write; same returns as read_some (never 0). */
static ssize_t write_some(struct io *io, const char *buf, size_t len,
			  short *events, struct error *err)
{
	ssize_t n;

	*events = POLLOUT;
	if (io->tls)
		return tls_send(io->tls, buf, len, events, err);
	n = send(io->fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0) {
		io->plain_tx += (size_t)n;
		return n;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return -2;
	return net_lost(io->peer, errno, "while sending", err);
}

/* Sends all of buf. The timeout counts from the last progress, so that a
 * large message on a slow link is not cut off while it still moves. */
static int send_all(struct io *io, const char *buf, size_t len, struct error *err)
{
	while (len > 0) {
		short ev;
		ssize_t n = write_some(io, buf, len, &ev, err);
		int w;

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1)
			return -1;
		w = net_wait_fd(io->fd, ev, clock_ms() + io->timeout_ms);
		if (w == 0)
			return timed_out(io, "sending to", err);
		if (w < 0)
			return net_poll_failed(err);
	}
	return 0;
}

int io_flush(struct io *io, struct error *err)
{
	int ret = send_all(io, io->wbuf, io->wlen, err);

	/* What was sent may have been an AUTH payload: it must not stay in
	 * memory while envoi waits for the reply. */
	explicit_bzero(io->wbuf, io->wlen);
	io->wlen = 0;
	return ret;
}

int io_write(struct io *io, const void *buf, size_t len, struct error *err)
{
	const char *p = buf;

	while (len > 0) {
		size_t n;

		/* Big writes bypass the copy; the buffer is always flushed
		 * full, so every TLS record but the last carries 16 KiB. */
		if (io->wlen == 0 && len >= WBUF_SIZE)
			return send_all(io, p, len, err);
		n = WBUF_SIZE - io->wlen < len ? WBUF_SIZE - io->wlen : len;
		memcpy(io->wbuf + io->wlen, p, n);
		io->wlen += n;
		p += n;
		len -= n;
		if (io->wlen == WBUF_SIZE && io_flush(io, err) < 0)
			return -1;
	}
	return 0;
}

void io_free(struct io *io)
{
	if (!io)
		return;
	explicit_bzero(io, sizeof *io);
	free(io);
}
