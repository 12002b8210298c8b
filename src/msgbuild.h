/* msgbuild.h - the message checks every front end shares.
 *
 * A front end (today's command line; a JSON-lines reader or the sendmail
 * command line later) maps its input to these calls, then calls
 * msg_finish. Each call checks its value where it is given: addresses
 * parse, header names and values are well formed, no CR, LF or NUL gets
 * into a header. The error sentences name the command line's options,
 * which every front end maps to. What only a front end knows (which
 * source wins, defaults, its own options) stays in the front end.
 */
#ifndef ENVOI_MSGBUILD_H
#define ENVOI_MSGBUILD_H

#include "error.h"
#include "msgdata.h"

enum msg_field { MSG_FROM, MSG_TO, MSG_CC, MSG_BCC, MSG_REPLY_TO };
enum msg_body { MSG_TEXT, MSG_HTML };
enum msg_file { MSG_ATTACH, MSG_INLINE };

/* Empties m for building: no files open. Free it with msg_free. */
void msg_init(struct message *m);

/* Adds a comma-separated address list to field f (MSG_FROM takes exactly
 * one mailbox and replaces any earlier one). Returns 0, or -1 with
 * ERR_USAGE (a bad address) or ERR_DATA. */
int msg_add_address(struct message *m, enum msg_field f, const char *text,
		    struct error *err);

/* Sets the Subject (UTF-8; CR, LF and NUL refused). Returns 0 or -1. */
int msg_set_subject(struct message *m, const char *text, struct error *err);

/* Sets the text or HTML body: inline text, or a file path ("-" for
 * standard input); exactly one of text and path. Returns 0 or -1
 * ERR_OSERR. */
int msg_set_body(struct message *m, enum msg_body which, const char *text, const char *path,
		 struct error *err);

/* Adds an attachment or an inline image (for the HTML body) from path;
 * its base name goes into the headers. Returns 0, or -1: ERR_USAGE for a
 * directory, ERR_DATA for a name with CR, LF or NUL. */
int msg_add_file(struct message *m, enum msg_file kind, const char *path, struct error *err);

/* Adds a header "Name: value". Returns 0 or -1 with ERR_DATA: for a
 * malformed header (m unchanged), or for Bcc, MIME-Version and Content-*,
 * which envoi writes itself (the refused header stays in m, counted, so
 * a front end can tell the two apart). */
int msg_add_header(struct message *m, const char *line, struct error *err);

/* Sets the priority by name: low, normal, high or urgent (any case).
 * Returns 0 or -1 ERR_USAGE, without showing the value. */
int msg_set_priority(struct message *m, const char *name, struct error *err);

/* Sends the ready RFC 5322 message at path ("-": standard input) instead
 * of composing one. Returns 0 or -1 ERR_OSERR. */
int msg_set_message_file(struct message *m, const char *path, struct error *err);

/* The rules about the parts taken together: inline images need an HTML
 * body; standard input feeds one body at most. A ready message skips
 * them (its composing parts are the front end's to refuse or ignore).
 * Returns 0 or -1 ERR_USAGE. */
int msg_finish(struct message *m, struct error *err);

/* What the envelope still lacks: checked once msg_prepare has read a
 * ready message, which may bring its own sender and recipients. The
 * front end words the error, naming its own options. */
enum msg_missing { MSG_COMPLETE, MSG_NO_SENDER, MSG_NO_RECIPIENT };
enum msg_missing msg_missing(const struct message *m);

/* The envelope's recipients: To, then Cc, then Bcc. */
size_t msg_rcpt_count(const struct message *m);

/* Recipient i's mailbox (i < msg_rcpt_count); points into m, valid
 * until its address lists change. */
const char *msg_rcpt(const struct message *m, size_t i);

#endif
