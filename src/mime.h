/* mime.h - the composer: a struct message written out as RFC 5322 +
 * MIME, streamed into a sink. Attachments are read and encoded in small
 * blocks while they are written, so memory is flat for any size.
 */
#ifndef ENVOI_MIME_H
#define ENVOI_MIME_H

#include <stdint.h>

#include "message.h"
#include "sink.h"

/* Writes the whole message, CRLF line ends, no dot-stuffing. The message
 * must have been through msg_prepare. Returns 0, or -1 with err set by
 * the sink (its class) or ERR_NOPERM / ERR_NOINPUT when a file cannot be
 * read, ERR_DATA when a file changed size since msg_prepare. */
int mime_write(const struct message *m, struct sink *out);

/* The exact number of bytes mime_write will produce, without reading
 * attachment contents (their encoded size follows from their size). */
int mime_size(const struct message *m, uint64_t *size, struct error *err);

#endif
