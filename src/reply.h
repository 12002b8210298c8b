/* reply.h - SMTP replies (RFC 5321 4.2, RFC 2034 enhanced status codes).
 *
 * The parser is fed one line at a time and validates strictly: three
 * digits 2xx-5xx, then ' ' (last line) or '-' (more follow), the same code
 * on every line, no control bytes, a bounded number and size of lines.
 * It never reads from the network itself, so it can be fuzzed alone.
 */
#ifndef ENVOI_REPLY_H
#define ENVOI_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define REPLY_MAX_LINES 256     /* beyond this: protocol error */
#define REPLY_MAX_TEXT 65536    /* total text kept */

struct reply {
	int code;              /* 211..554 */
	char enhanced[16];     /* "5.7.8" or "" */
	char *text;            /* lines joined by '\n', without codes */
	size_t len, cap;
	size_t nlines;
	bool done;
};

void reply_init(struct reply *r);
/* Clears r for the next reply (keeps its buffer). */
void reply_reset(struct reply *r);
void reply_free(struct reply *r);

/* Feeds one line (without CRLF). Returns 1 when the reply is complete,
 * 0 when more lines are needed, -1 with ERR_PROTOCOL when the line is
 * malformed. */
int reply_feed(struct reply *r, const char *line, size_t len, struct error *err);

/* One-line form "550 5.1.1 text / more text" for messages, into buf. */
void reply_oneline(const struct reply *r, char *buf, size_t size);

#endif
