/* message.h - getting the message a user asked for (msgdata.h) ready.
 *
 * A front end fills it (msgbuild.h); msg_prepare() checks the
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

#include "error.h"
#include "msgdata.h"
#include "msgread.h"

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

/* Now as an RFC 5322 3.3 date-time, in English whatever the locale
 * ("Tue, 1 Dec 2026 23:30:00 +0000"), into buf. */
void msg_format_date(char *buf, size_t size);

#endif
