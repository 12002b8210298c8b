/* caps.h - what an SMTP server offers, from its EHLO reply (RFC 5321
 * 4.1.1.1 and the extensions envoi uses). */
#ifndef ENVOI_CAPS_H
#define ENVOI_CAPS_H

#include <stdbool.h>
#include <stdint.h>

struct caps {
	bool esmtp, pipelining, chunking, starttls, eightbitmime, smtputf8, dsn, auth;
	uint64_t size;     /* SIZE limit, 0 when none or unlimited */
	char mechs[512];   /* AUTH mechanisms, space-separated (cut when longer) */
};

/* Fills c from the text of a 250 EHLO reply: lines separated by '\n',
 * the first being the server's greeting. Unknown keywords are ignored;
 * "AUTH=..." (the pre-standard form) counts as AUTH. */
void caps_parse(struct caps *c, const char *text);

#endif
