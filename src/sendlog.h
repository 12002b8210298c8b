/* sendlog.h - one line per outcome (queued, sent, failed) for the
 * administrator: to a file or to syslog (facility mail, ident envoi).
 * A line holds names, addresses, sizes and codes; never a password, a
 * token or any of the message's content. */
#ifndef ENVOI_SENDLOG_H
#define ENVOI_SENDLOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct sendlog_rec {
	const char *account;  /* NULL: "default" */
	const char *server;   /* host:port, NULL: "-" */
	const char *sender;
	const char *const *rcpts;
	size_t nrcpts;
	uint64_t size;
	const char *outcome;  /* "queued", "sent", "failed" */
	const char *cls;      /* the error class name, "sent" on success */
	int exit_code;        /* what the run returned */
	const char *queue_id; /* the server's id, or envoi's for a queued one */
	const char *entry_id; /* a flushed entry's own id (the queued line's
	                         id), NULL for a direct send */
};

/* Formats the line (without a newline, without the time when t is 0);
 * " entry=ID" ends it for a flushed entry.
 * Spaces and control bytes in values become '_'. */
void sendlog_format(char *buf, size_t size, const struct sendlog_rec *r, time_t t);

/* Appends the line to target ("syslog", or a file created 0600). A log
 * that cannot be written is reported on stderr and does not change the
 * outcome. */
void sendlog_write(const char *target, const struct sendlog_rec *r);

#endif
