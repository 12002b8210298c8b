/* cid.h - Content-IDs of inline images, and the HTML's references to
 * them.
 *
 * The HTML refers to an inline image as "cid:" + its file name (the
 * contract's form), but a Content-ID must be a msg-id, left@right (RFC
 * 2045 7, RFC 5322 3.6.4). So each image gets the Content-ID
 * NAME.TOKEN@DOMAIN, and the HTML's references are rewritten to it
 * while the HTML streams out: "cid:logo.png" becomes
 * "cid:logo.png.j6cdsHhiFHGtlxTihBbuC6UA@example.com" (RFC 2392).
 */
#ifndef ENVOI_CID_H
#define ENVOI_CID_H

#include <stdbool.h>
#include <stddef.h>

#include "msgdata.h"

/* The Content-ID of inline image i of m (through msg_prepare), without
 * angle brackets: its file name as dot-atom-text (each byte that cannot
 * stand there as %XX, '%' too), "." and m->cid_suffix, a random token
 * and the domain, which makes it unique. A name too long for
 * "Content-ID: <...>" to fit in 78 columns is cut (never inside a %XX)
 * and marked "%-" + i + 1, which no whole name can produce. Returns a
 * malloc'd string, NULL when out of memory. */
char *cid_for(const struct message *m, size_t i);

/* A streaming rewriter: text goes in by blocks of any size, and comes
 * out through emit with each "cid:NAME" (NAME as written, or in its
 * Content-ID form) that is not followed by a character that could
 * continue a name replaced by "cid:" + the image's Content-ID. The
 * output does not depend on how the input is cut. */
struct cid_pattern;
struct cid_rewrite {
	int (*emit)(void *ctx, const unsigned char *p, size_t n);
	void *ctx;
	struct cid_pattern *pat;
	size_t npat;
	unsigned char *hold; /* input that may still start a reference */
	size_t held;
};

/* Sets up r for m's inline images (m through msg_prepare: its
 * Message-ID is fixed). The caller sets emit and ctx. Returns 0, or -1
 * when out of memory; either way free with cid_rewrite_free. */
int cid_rewrite_init(struct cid_rewrite *r, const struct message *m);
/* Return 0, or -1 when emit failed (which filled its own error). */
int cid_rewrite_update(struct cid_rewrite *r, const unsigned char *p, size_t n);
int cid_rewrite_final(struct cid_rewrite *r);
void cid_rewrite_free(struct cid_rewrite *r);

#endif
