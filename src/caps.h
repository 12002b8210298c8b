/* caps.h - what an SMTP server offers, from its EHLO reply (RFC 5321
 * 4.1.1.1 and the extensions envoi uses). */
#ifndef ENVOI_CAPS_H
#define ENVOI_CAPS_H

#include <stdbool.h>
#include <stdint.h>

struct caps {
	bool esmtp, pipelining, chunking, starttls, eightbitmime, smtputf8, dsn, auth;
	bool mechs_cut;    /* some mechanisms did not fit in mechs */
	uint64_t size;     /* SIZE limit, 0 when none, unlimited or unreadable */
	char mechs[512];   /* AUTH mechanisms, single-space-separated, in order;
	                      when longer, a prefix of whole mechanisms */
};

/* Fills c from the text of a 250 EHLO reply: lines separated by '\n'
 * (a '\r' before it is ignored), the first being the server's greeting.
 * Each line is a keyword (ended by ' ' or '=', case-insensitive) and
 * space-separated parameters, read only within that line. Unknown
 * keywords are ignored; "AUTH=..." (the pre-standard form) counts as
 * AUTH, and the mechanisms of every AUTH line are collected. SIZE gives a
 * limit only when its first parameter is all digits and fits 64 bits.
 * The SIZE line that comes last wins. Nothing is allocated. */
void caps_parse(struct caps *c, const char *text);

#endif
