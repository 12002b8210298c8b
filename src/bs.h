/* bs.h - sendmail -bs: an SMTP server for one caller on standard input
 * and output, relaying each transaction live through the account's
 * session (smtp_live.h), or into the queue when the relay cannot take it
 * for now. */
#ifndef ENVOI_BS_H
#define ENVOI_BS_H

#include "cli.h"

/* What a caller may do, and for how long. */
#define BS_LINE_MAX 512              /* a command line with its CRLF (RFC 5321 4.5.3.1.4) */
#define BS_RCPT_MAX 1000             /* recipients in one transaction */
#define BS_SIZE_MAX (64ull << 20)    /* message bytes, as SIZE says */
#define BS_TIMEOUT_DEFAULT 300       /* seconds to wait for each command or data line */

struct bs_opts {
	const char *fullname;  /* -F: the display name of a From that is added */
	unsigned timeout;      /* seconds; 0: BS_TIMEOUT_DEFAULT */
	int in, out;           /* the caller's descriptors */
};

/* Serves the caller until QUIT, the end of its input or its deadline.
 * o is sendmail mode's options (account, queue, log). Returns the exit
 * code: 0 after QUIT or an end of input between transactions, 75 when
 * the caller went silent or its input ended inside a transaction (that
 * message was not sent), 74 when the replies cannot be written. */
int bs_serve(struct options *o, const struct bs_opts *bo);

#endif
