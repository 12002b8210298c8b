/* address.h - e-mail addresses as users type them.
 *
 * "user@domain", "<user@domain>", "Display Name <user@domain>" and
 * "\"Last, First\" <user@domain>"; display names may be UTF-8. A list is
 * comma-separated; commas inside quotes or angle brackets do not split.
 */
#ifndef ENVOI_ADDRESS_H
#define ENVOI_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct address {
	char *name;    /* display name, UTF-8, unquoted; NULL when none */
	char *mailbox; /* local-part@domain, as sent in MAIL FROM / RCPT TO */
};

/* A list packed in one buffer: entry i is its mailbox, a NUL, its display
 * name ("" when none) and a NUL, from text + off[i]. A million recipients
 * cost their text and four bytes each, not two allocations and a struct
 * apiece. Read it through addr_list_mailbox, addr_list_name, addr_list_at;
 * what they return stays valid until the list changes. */
struct addr_list {
	char *text;
	size_t used, size;
	uint32_t *off;
	size_t n, cap;
	bool mailboxes_only;  /* set when the list feeds only an envelope:
	                         display names are parsed, then dropped */
};

/* Parses one address. On success fills *a (caller frees with addr_free)
 * and returns 0; else returns -1 with err set to ERR_USAGE naming the
 * problem (CR, LF or NUL anywhere is malformed, too). */
int addr_parse(struct address *a, const char *text, struct error *err);

/* Parses a comma-separated list and appends every address to l. Empty
 * items (",,", trailing comma) are ignored. Returns 0 or -1 (ERR_USAGE);
 * on failure l keeps what it held before the call. */
int addr_parse_list(struct addr_list *l, const char *text, struct error *err);

/* Domain part of the mailbox (points into a->mailbox). */
const char *addr_domain(const struct address *a);

/* True when the mailbox is all ASCII (no SMTPUTF8 needed). */
bool addr_mailbox_is_ascii(const struct address *a);

/* Appends a copy of a to l. Returns 0, or -1 on out of memory (or when
 * l would pass 4 GiB of text). */
int addr_list_add(struct addr_list *l, const struct address *a);

/* Entry i's mailbox (i < l->n); points into l. */
const char *addr_list_mailbox(const struct addr_list *l, size_t i);

/* Entry i's display name, NULL when it has none; points into l. */
const char *addr_list_name(const struct addr_list *l, size_t i);

/* Entry i as a struct address whose strings point into l: read it, never
 * free it (no addr_free). */
struct address addr_list_at(const struct addr_list *l, size_t i);

void addr_free(struct address *a);
void addr_list_free(struct addr_list *l);

#endif
