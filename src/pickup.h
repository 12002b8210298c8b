/* pickup.h - delivery into a directory (--pickup-dir): the message is
 * written under a temporary name in DIR, synced, then renamed to a new
 * unique NAME.eml, so a reader never sees half a message. */
#ifndef ENVOI_PICKUP_H
#define ENVOI_PICKUP_H

#include <stddef.h>

#include "message.h"

/* Default mode of the file: it may hold anything, Bcc recipients included. */
#define PICKUP_MODE_DEFAULT 0600u

/* Writes the file with exactly this mode (umask not applied). Returns 0
 * and the final path in path (size bytes), or -1 with ERR_CANTCREAT
 * (directory missing or not writable) or the composer's error. No
 * temporary file is left behind on failure, nor when SIGTERM, SIGINT or
 * SIGHUP ends envoi while it writes. */
int pickup_deliver(const struct message *m, const char *dir, unsigned mode, char *path,
		   size_t size, struct error *err);

#endif
