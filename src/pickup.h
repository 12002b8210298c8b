/* pickup.h - delivery into a directory (--pickup-dir): the message is
 * written under a temporary name in DIR, synced, then renamed to a new
 * unique NAME.eml, so a reader never sees half a message. */
#ifndef ENVOI_PICKUP_H
#define ENVOI_PICKUP_H

#include <stddef.h>

#include "message.h"

/* Returns 0 and the final path in path (size bytes), or -1 with
 * ERR_CANTCREAT (directory missing or not writable) or the composer's
 * error. No temporary file is left behind on failure. */
int pickup_deliver(const struct message *m, const char *dir, char *path, size_t size,
		   struct error *err);

#endif
