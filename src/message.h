/* message.h - the message a user asked for, as data.
 *
 * cli.c fills it from options and configuration; msg_prepare() checks the
 * files, spools standard input and fixes the parts that must be the same
 * every time the message is written (Date, Message-ID, boundaries), so the
 * composer can write it twice (once to count, once to send) byte for byte.
 */
#ifndef ENVOI_MESSAGE_H
#define ENVOI_MESSAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "address.h"
#include "error.h"

enum priority { PRIO_NORMAL, PRIO_LOW, PRIO_HIGH, PRIO_URGENT };

/* A body: a string from the command line, or a file (path "-" is stdin,
 * spooled by msg_prepare into an unlinked temporary file). */
struct body {
	char *text;        /* when given inline, else NULL */
	char *path;        /* when read from a file, else NULL */
	int fd;            /* open file after msg_prepare, -1 otherwise */
	uint64_t size;     /* of the file, as msg_prepare measured it */
	struct timespec mtime;
	bool present;
	/* found by msg_prepare's scan */
	bool qp;           /* needs quoted-printable (else 7bit) */
	const char *charset; /* "utf-8", or "unknown-8bit" when not valid UTF-8 */
};

struct file_part {
	char *path;
	char *name;        /* base name used in headers (UTF-8) */
	char *type;        /* MIME type */
	uint64_t size;     /* bytes, from fstat; MSG_SIZE_UNKNOWN for a pipe */
	int fd;            /* open from msg_prepare on, else -1 */
	struct timespec mtime; /* time of change when size was measured */
	/* Text (a text type, valid UTF-8 without NUL) goes in canonical
	 * form, every line break CRLF, canon_size bytes, labelled with this
	 * charset ("us-ascii" or "utf-8"); NULL: the bytes as they are. */
	const char *charset;
	uint64_t canon_size;
};

#define MSG_SIZE_UNKNOWN UINT64_MAX
/* No message may be larger: sums of sizes are checked against it, so
 * none can wrap (no server takes anything near it). */
#define MSG_SIZE_MAX ((uint64_t)INT64_MAX)

struct header {
	char *name;
	char *value;
};

struct message {
	struct address from;
	bool have_from;
	struct addr_list to, cc, bcc, reply_to;
	char *subject;
	struct body text, html;
	struct file_part *attach;
	size_t nattach;
	struct file_part *inlines;
	size_t ninline;
	struct header *headers;
	size_t nheaders;
	enum priority priority;
	bool read_receipt;

	/* --message-file: send this ready message instead of composing */
	char *message_file;
	int message_fd;
	uint64_t message_size;
	struct timespec message_mtime;

	/* fixed by msg_prepare */
	char date[64];
	char message_id[320];
	char cid_suffix[300];  /* "token@domain": inline images' Content-IDs end in it */
	char boundary[3][48]; /* mixed, alternative, related */
	bool eightbit;        /* the data holds 8-bit bytes (BODY=8BITMIME) */
	bool smtputf8;        /* an address (envelope or header) is not ASCII */
	bool utf8_headers;    /* From, To, Cc or Reply-To holds a UTF-8 mailbox */
	bool raw_has_date;    /* the --message-file has its own Date */
	bool raw_has_id;      /* ... and its own Message-ID */
	bool raw_has_from;    /* ... and its own From */
};

/* Checks and opens the files, spools standard input, scans the bodies
 * (7bit or quoted-printable), reads sender and recipients from a
 * --message-file when the options gave none, and fixes Date, Message-ID
 * and boundaries. Returns 0, or -1 with ERR_NOINPUT (missing file),
 * ERR_NOPERM (unreadable), ERR_DATA (bad message file), ERR_OSERR. */
int msg_prepare(struct message *m, struct error *err);

/* Copies attachments that are pipes or devices into temporary files, so
 * that their size is known and they can be read twice (SIZE=, retries).
 * Only sending needs this; --dry-run and --pickup-dir stream them once.
 * Returns 0 or -1 (ERR_NOPERM, ERR_OSERR). */
int msg_spool_pipes(struct message *m, struct error *err);

/* Frees everything in m (not m itself) and closes its files. */
void msg_free(struct message *m);

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

/* What decides a text part's encoding: 7bit only when every line is
 * short ASCII without NUL or lone CR, and "=_" (the start of every
 * boundary) never occurs, so no boundary can appear inside the part.
 * Zero it, feed it the text in order; qp is set once the text needs
 * quoted-printable, and then also when prev is '\r' at the end. */
struct msg_scan {
	size_t col;
	bool qp;
	unsigned char prev;
};
void msg_scan_text(struct msg_scan *s, const unsigned char *p, size_t n);

/* Reads up to len bytes at offset off from fd, retrying short reads,
 * so that a block is full unless the file ends. Returns the bytes read
 * or -1 with ERR_NOPERM naming what (a file or part name). */
ssize_t msg_read_full(int fd, void *buf, size_t len, uint64_t off, const char *what,
		      struct error *err);

#endif
