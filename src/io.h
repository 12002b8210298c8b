/* io.h - the buffered line reader and writer on a connected descriptor,
 * plaintext or (after io_use_tls) through a TLS session, with the
 * deadlines of conn.h: a step bounds all the lines read in it, a write
 * times out only when it stops moving. Never prints, never exits.
 */
#ifndef ENVOI_IO_H
#define ENVOI_IO_H

#include <stddef.h>

#include "error.h"

struct io;
struct tls;

#define IO_MAX_LINE 4096

/* A reader/writer on fd (borrowed: io_free does not close it). peer names
 * the other end in messages (copied); timeout_ms bounds each wait.
 * Returns 0 and *out, or -1 (ERR_OSERR). The caller frees with io_free. */
int io_new(struct io **out, int fd, const char *peer, int timeout_ms, struct error *err);

/* The bound for the waits from now on. */
void io_set_timeout(struct io *io, int timeout_ms);

/* From now on all bytes go through t (borrowed: it must outlive io's
 * use); what was buffered in plaintext is dropped (the caller checked
 * that there was none: STARTTLS injection). */
void io_use_tls(struct io *io, struct tls *t);

/* Bytes exchanged in plaintext so far, both ways: 0 means nothing was
 * said yet (implicit TLS). */
size_t io_plain_bytes(const struct io *io);

/* Bytes queued by io_write and not yet sent. */
size_t io_unsent(const struct io *io);

/* Bytes received and buffered but not yet read as lines; *data points to
 * them (valid until the next read or write). */
size_t io_unread(const struct io *io, const char **data);

/* Reads one line without its CRLF (a bare LF also ends it; a lone CR is
 * kept, as are NUL bytes) into an internal buffer valid until the next
 * read or write; *line is NUL-terminated at *len. Lines longer than
 * IO_MAX_LINE fail with ERR_PROTOCOL as soon as that is certain. Returns
 * 0, or -1 with ERR_TEMPFAIL (timeout, connection closed or reset, also
 * mid-line), ERR_TLS or ERR_OSERR. */
int io_read_line(struct io *io, const char **line, size_t *len, struct error *err);

/* Starts a step: the lines read from now on, until the next call, must
 * all arrive within one timeout from now. */
void io_start_step(struct io *io);

/* Bytes received but not yet read as lines, TLS-buffered ones included. */
size_t io_pending(const struct io *io);

/* Waits up to ms milliseconds (< 0: no limit) for data to read. Returns
 * 1 readable (also at end of stream or on an error the next read
 * reports), 0 timeout, -1 error (err filled). */
int io_wait_readable(struct io *io, int ms, struct error *err);

/* Queues bytes (64 KiB buffer; bigger writes go straight out); they are
 * sent when the buffer fills or on io_flush, which also wipes the
 * buffer. Never raises SIGPIPE. Returns 0 or -1 (ERR_TEMPFAIL: timeout,
 * connection lost; ERR_TLS; ERR_OSERR). */
int io_write(struct io *io, const void *buf, size_t len, struct error *err);
int io_flush(struct io *io, struct error *err);

/* Frees io, wiping its buffers (they may have carried AUTH exchanges);
 * unflushed data is dropped. NULL ok. */
void io_free(struct io *io);

#endif
