/* bs_in.c - sendmail -bs: the caller's input, bytes with a deadline. */
#include "bs_in.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "bs.h"

/* The next byte, IN_EOF (end of input or a read error) or IN_TIMEOUT
 * (nothing came for timeout seconds). */
int bs_in_byte(struct bs_in *in)
{
	if (in->pos == in->len) {
		struct pollfd p = {.fd = in->fd, .events = POLLIN};
		ssize_t n;
		int rc;

		do
			rc = poll(&p, 1, (int)in->timeout * 1000);
		while (rc < 0 && errno == EINTR);
		if (rc == 0)
			return IN_TIMEOUT;
		do
			n = read(in->fd, in->buf, sizeof in->buf);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			return IN_EOF;
		in->pos = 0;
		in->len = (size_t)n;
	}
	return (unsigned char)in->buf[in->pos++];
}

/* One command line, without its line end, into buf (BS_LINE_MAX). A
 * longer line is read to its end and dropped (CMD_LONG). */
int bs_in_command(struct bs_in *in, char *buf, size_t *len)
{
	size_t n = 0;

	for (;;) {
		int c = bs_in_byte(in);

		if (c < 0)
			return c;
		if (c == '\n')
			break;
		if (n < BS_LINE_MAX - 1)
			buf[n++] = (char)c;
	}
	if (n && buf[n - 1] == '\r')
		n--;
	/* With its CRLF at most BS_LINE_MAX bytes; a longer line filled buf
	 * and lost its CR, so it is caught here too. */
	if (n > BS_LINE_MAX - 2)
		return CMD_LONG;
	buf[n] = '\0';
	*len = n;
	return CMD_LINE;
}
