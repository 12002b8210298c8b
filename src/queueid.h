/* queueid.h - the server's queue id in its reply to the end of data.
 *
 * Servers say where the message went in their own words: Exim "OK
 * id=1xYTbZ-0001En-2d", Postfix "Ok: queued as 4RfX2k0Zkz", OpenSMTPD and
 * Sendmail "a1b2c3d4 Message accepted for delivery", Gmail "OK  1700000000
 * d9443c01a7336-1d0e5c8c2f5si.123 - gsmtp", Microsoft "<...>
 * [InternalId=123, Hostname=...] Queued mail for delivery". The id is
 * what a user quotes to the server's postmaster.
 */
#ifndef ENVOI_QUEUEID_H
#define ENVOI_QUEUEID_H

#include <stdbool.h>
#include <stddef.h>

/* Looks for a queue id in a reply text (lines joined by '\n', codes and
 * enhanced codes removed, as struct reply holds it), last line first.
 * Returns true and copies it into out (a NUL-terminated token of letters,
 * digits, '.', '_' and '-'); false, with out "", when none is found. */
bool queueid_find(const char *text, size_t len, char *out, size_t size);

#endif
