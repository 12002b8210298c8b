/* msgread.h - reading a message's input files (bodies, attachments, a
 * ready message) exactly as they were measured. */
#ifndef ENVOI_MSGREAD_H
#define ENVOI_MSGREAD_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"

/* A file input as msg_prepare measured it. Every read of a file goes
 * through msg_read_input, so that no byte past the measured size is ever
 * read (it could not have been counted in SIZE= or BDAT, nor checked). */
struct msg_in {
	int fd;
	uint64_t size;
	struct timespec mtime;
	const char *what; /* its path, for errors */
};

/* Reads the next block at offset off, at most cap bytes and never past
 * in->size. With the block that reaches in->size (or at once for an
 * empty file) it checks that the file still ends there and that its size
 * and time of change are those measured. Returns the bytes read, 0 past
 * the end, or -1: ERR_DATA "FILE changed while it was being sent" when it
 * shrank, grew or was written to; ERR_NOPERM when it cannot be read. */
ssize_t msg_read_input(const struct msg_in *in, void *buf, size_t cap, uint64_t off,
		       struct error *err);

/* Reads up to len bytes at offset off from fd, retrying short reads,
 * so that a block is full unless the file ends. Returns the bytes read
 * or -1 with ERR_NOPERM naming what (a file or part name). */
ssize_t msg_read_full(int fd, void *buf, size_t len, uint64_t off, const char *what,
		      struct error *err);

#endif
