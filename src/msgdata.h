/* msgdata.h - the message a user asked for, as data: what a front end
 * fills (through msgbuild.h) and what the composer and the ready-message
 * reader (rawmsg.h) read. Types only, so that every module can include it
 * without depending on message.c. */
#ifndef ENVOI_MSGDATA_H
#define ENVOI_MSGDATA_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "address.h"

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
	bool null_sender;     /* envelope sender <> (a bounce); From stays from */
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

#endif
