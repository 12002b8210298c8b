/* rawmsg.h - a ready message (--message-file): checked, its envelope
 * read from its headers, and written with CRLF line ends, Bcc removed. */
#ifndef ENVOI_RAWMSG_H
#define ENVOI_RAWMSG_H

#include "error.h"
#include "msgdata.h"
#include "sink.h"

/* Reads m->message_fd once: every line at most 998 octets, no NUL, no
 * lone CR; notes 8-bit data, Date and Message-ID; takes the sender from
 * From and the recipients from To, Cc and Bcc when the options gave none.
 * Returns 0 or -1 (ERR_DATA naming the line, ERR_NOPERM, ERR_OSERR). */
int raw_scan(struct message *m, struct error *err);

/* Writes the message: Date and Message-ID first when it lacks them, its
 * header fields without Bcc, then its body; CRLF line ends. Returns 0 or
 * -1 with the sink's error. */
int raw_write(const struct message *m, struct sink *out);

#endif
