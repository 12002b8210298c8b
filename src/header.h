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

/* The same for every address of l. */
char *hdr_address_list(const char *name, const struct addr_list *l);

/* A field with one file-name parameter, in the form every reader gets
 * right. A name of printable ASCII that fits on one line and holds no
 * "=?", quote or backslash (readers differ on escapes) goes as one
 * quoted-string:
 *   Content-Disposition: attachment; filename="a b.pdf"
 * Any other name goes in exactly one form, never with a lossy twin
 * (readers then show no name, or both run together):
 * hdr_file_param writes RFC 2231 (Content-Disposition's filename),
 * split into sections of whole characters so no line passes 78:
 *   Content-Disposition: attachment;
 *    filename*=UTF-8''r%C3%A9sum%C3%A9%202026.pdf
 *    (or filename*0*=UTF-8''...; filename*1*=...)
 * hdr_name_param writes RFC 2047 words in a quoted-string (Content-Type's
 * name, as the big mail clients write it), folded between words, each
 * line within 76:
 *   Content-Type: application/pdf; name="=?UTF-8?B?csOpc3Vtw6kgMjAyNi5wZGY=?="
 * A byte of the name that is not part of valid UTF-8 becomes U+FFFD.
 * value may carry parameters of its own ("text/plain; charset=utf-8"). */
char *hdr_file_param(const char *name, const char *value, const char *param,
		     const char *filename);
char *hdr_name_param(const char *name, const char *value, const char *param,
		     const char *filename);

/* True when s is a valid header field name: 1 to 76 characters of
 * printable ASCII (33..126) other than ':'. */
int hdr_name_valid(const char *s);

#endif
