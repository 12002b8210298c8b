/* header.h - header fields as they go on the wire (RFC 5322, 2047, 2231).
 *
 * Each function builds one complete field, "Name: value" folded so that
 * no line is longer than 78 characters, and no line holding an
 * encoded-word longer than 76 (RFC 2047 2), where a fold point exists
 * (never more than 998), ending in CRLF. Non-ASCII text becomes RFC 2047
 * encoded-words of at most 75 characters that never split a UTF-8
 * character. The result is malloc'd; the caller frees it. NULL means out
 * of memory.
 *
 * Callers guarantee the inputs hold no CR, LF or NUL (checked earlier).
 */
#ifndef ENVOI_HEADER_H
#define ENVOI_HEADER_H

#include <stddef.h>

#include "address.h"

/* Unstructured text (Subject, custom headers): ASCII words as they are,
 * runs of other words (non-ASCII, control bytes, "=?" or "?=" inside,
 * too long for 998) as encoded-words, with the white space inside a run
 * encoded too; leading and trailing white space is kept, encoded. An
 * empty value gives "Name:\r\n". */
char *hdr_text(const char *name, const char *value);

/* Address list (From, To, Cc, Reply-To): "Name <mailbox>", or "mailbox"
 * when the name is NULL or "". A name of atoms goes as it is; other
 * printable ASCII as a quoted-string (\" and \\ escaped, folded at its
 * spaces if long); non-ASCII words as encoded-words using only the RFC
 * 2047 5(3) characters, the ASCII atoms around them as they are. Folded
 * after commas and between words. Linear in the list's length; n == 0
 * gives "Name:\r\n". */
char *hdr_addresses(const char *name, const struct address *v, size_t n);

/* A field with one file-name parameter, e.g.
 *   hdr_file_param("Content-Disposition", "attachment", "filename", name)
 *   hdr_file_param("Content-Type", "application/pdf", "name", name)
 * The parameter goes as a quoted ASCII fallback (each character that is
 * not printable ASCII as "_", quotes and backslashes escaped; its middle
 * cut, keeping the extension, should the line pass 998). When the name
 * is not plain printable ASCII, holds '"' or '\\', or does not fit on one
 * line, the exact RFC 2231 form comes first (param*=UTF-8''%XX...,
 * or param*0*=UTF-8''...; param*1*=...; one line each, never splitting
 * a character), then the fallback:
 *   Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%202026.pdf;
 *    filename="r_sum_ 2026.pdf"
 * Order: Python's email parser keeps the first of two parameters with
 * one name, and readers that know RFC 2231 prefer it wherever it is. */
char *hdr_file_param(const char *name, const char *value, const char *param,
		     const char *filename);

/* True when s is a valid header field name: 1 to 76 characters of
 * printable ASCII (33..126) other than ':'. */
int hdr_name_valid(const char *s);

#endif
