/* smtp_live.h - one transaction driven a command at a time, for a front
 * end that relays another client's dialogue (sendmail -bs): each call
 * sends one command on a session from smtp_open and hands back the
 * server's reply, whatever its code. smtp_transact does the same for a
 * whole message at once; this is for when the envelope arrives piece by
 * piece and each piece wants the server's own answer. */
#ifndef ENVOI_SMTP_LIVE_H
#define ENVOI_SMTP_LIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "smtp.h"

struct smtp_live_reply {
	int code;
	char text[512];   /* the reply on one line, code first ("550 5.1.1 ...") */
};

/* MAIL FROM:<from> (from may be "" for the null sender), with SIZE=size
 * when size is not 0 and BODY=8BITMIME when eightbit, each only when the
 * server offers it. Returns 0 with the reply in *rep (a 2xx opens the
 * transaction), or -1 with err set when no reply came or it was 421:
 * the session is then unusable (smtp_abort it). */
int smtp_live_mail(struct smtp *x, const char *from, uint64_t size, bool eightbit,
		   struct smtp_live_reply *rep, struct error *err);

/* RCPT TO:<rcpt>. Returns as smtp_live_mail. */
int smtp_live_rcpt(struct smtp *x, const char *rcpt, struct smtp_live_reply *rep,
		   struct error *err);

/* DATA; after its 354 the message write produces (CRLF lines, not
 * dot-stuffed: that is done here) and the end of data. Returns 0 with
 * the reply to DATA (when it was not 354) or to the end of data in
 * *rep; *data_sent says whether the message went out. -1 as
 * smtp_live_mail; with *data_sent the server may have the message. */
int smtp_live_data(struct smtp *x, int (*write)(void *ctx, struct sink *out), void *ctx,
		   struct smtp_live_reply *rep, bool *data_sent, struct error *err);

#endif
