/* aliases.h - local names looked up in an aliases file, /etc/aliases
 * format: "name: addr, other-name, addr", continuation lines starting
 * with white space, '#' comments. Pipes, files and :include: targets are
 * skipped: envoi only relays to addresses. */
#ifndef ENVOI_ALIASES_H
#define ENVOI_ALIASES_H

#include <stddef.h>

#include "error.h"

struct alias {
	char *name;  /* lower case */
	char *value; /* the right side, continuation lines joined */
};

struct aliases {
	struct alias *v;
	size_t n;
};

/* Reads path into a. Returns 0, or -1 with ERR_CONFIG when it cannot be
 * read. Free with aliases_free. */
int aliases_load(struct aliases *a, const char *path, struct error *err);

/* Parses a file's text (what aliases_load reads). Returns 0 or -1 (out
 * of memory, ERR_OSERR). */
int aliases_parse(struct aliases *a, const char *text, struct error *err);

/* Expands name (case-insensitive) recursively: each result is an address
 * or a local name that is no alias (a name met again on its own path, as
 * "root: root, ops", ends there instead of looping). Appends malloc'd
 * strings to *out (grown with realloc; caller frees each and the array).
 * Returns the number appended (0: name is no alias), or -1 (ERR_OSERR,
 * or ERR_CONFIG when nesting passes 20 levels). */
int aliases_expand(const struct aliases *a, const char *name, char ***out, size_t *n,
		   struct error *err);

void aliases_free(struct aliases *a);

#endif
