/* dotstuff.h - the filter between the composer and DATA (RFC 5321
 * 4.5.2): every line ends in CRLF (a bare LF or a lone CR becomes CRLF),
 * and a line that starts with '.' gets one more, so the only line that
 * is a single '.' is the terminator written by dot_finish. */
#ifndef ENVOI_DOTSTUFF_H
#define ENVOI_DOTSTUFF_H

#include <stdbool.h>

#include "sink.h"

struct dot_sink {
	struct sink base;
	struct sink *next;
	bool line_start; /* the next byte begins a line */
	bool cr;         /* the last byte was a CR whose LF has not come */
};

void dot_init(struct dot_sink *d, struct sink *next);

/* Ends the last line if needed and writes the terminating ".\r\n". */
int dot_finish(struct dot_sink *d);

#endif
