/* wipe.h - freeing memory that held a secret (a password, a token, a
 * SASL response): zeroed first, in a way the compiler cannot drop. */
#ifndef ENVOI_WIPE_H
#define ENVOI_WIPE_H

#include <stdlib.h>
#include <string.h>

/* Zeroes len bytes at p, then frees p. NULL ok. */
static inline void wipe_free(void *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	free(p);
}

#endif
