/* bs_in.h - sendmail -bs: the caller's input, read with a deadline. */
#ifndef ENVOI_BS_IN_H
#define ENVOI_BS_IN_H

#include <stddef.h>

struct bs_in {
	int fd;
	unsigned timeout;
	size_t pos, len;
	char buf[65536];
};

enum { IN_EOF = -1, IN_TIMEOUT = -2 };

/* The next byte, IN_EOF (end of input or a read error) or IN_TIMEOUT
 * (nothing came for timeout seconds). */
int bs_in_byte(struct bs_in *in);

enum cmd_read { CMD_LINE, CMD_LONG, CMD_EOF = IN_EOF, CMD_TIMEOUT = IN_TIMEOUT };

/* One command line, without its line end, into buf (BS_LINE_MAX bytes).
 * A longer line is read to its end and dropped (CMD_LONG). Returns an
 * enum cmd_read. */
int bs_in_command(struct bs_in *in, char *buf, size_t *len);

#endif
