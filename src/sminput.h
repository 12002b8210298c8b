/* sminput.h - the message sendmail mode reads on standard input, made
 * ready to send: the lone-dot end (without -i), a missing From, Date and
 * Message-ID added, local names in From, To, Cc and Reply-To completed
 * with a domain, body lines longer than SMTP allows broken, and the
 * recipients -t takes read from the header. */
#ifndef ENVOI_SMINPUT_H
#define ENVOI_SMINPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "address.h"
#include "error.h"

struct smin_opts {
	bool dot_ends;                 /* a line "." ends the input (no -i) */
	const char *domain;            /* completes local names; NULL: none */
	const struct address *sender;  /* for a missing From; NULL: none */
};

struct smin_result {
	char **rcpts;     /* To, Cc and Bcc addresses, or Resent-To, -Cc and
	                     -Bcc when there are Resent- fields; local names
	                     as written (not completed); malloc'd */
	size_t nrcpts;
	bool had_from;    /* the message brought its own From */
	uint64_t size;    /* bytes written */
};

/* Reads in to its end (or a lone "." line) and writes the message to
 * out. Returns 0, or -1 with err set (ERR_DATA for a header section that
 * is too large, ERR_IOERR when out cannot be written, ERR_OSERR). Free r
 * with smin_result_free. */
int smin_read(FILE *in, int out, const struct smin_opts *o, struct smin_result *r,
	      struct error *err);

/* Completes the addr-specs without '@' in an address-list field value
 * with "@" + domain, keeping names, comments and spacing. When addrs is
 * not NULL, appends each addr-spec as written (malloc'd) to it. Returns
 * the new value (malloc'd, caller frees) or NULL when out of memory. */
char *smin_complete(const char *value, const char *domain, char ***addrs, size_t *naddrs);

void smin_result_free(struct smin_result *r);

#endif
