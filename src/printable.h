/* printable.h - showing untrusted text: the one place that decides how a
 * byte from the network is printed.
 *
 * Everything a server or a man in the middle chose (reply text, EHLO
 * lines, the certificate's subject, issuer and names, the -v transcript)
 * goes through here before it reaches a terminal or a JSON document, so
 * that it can neither drive the terminal (ESC, CSI, OSC title sequences,
 * C1 controls such as U+009B), nor make the reader see text in another
 * order (bidi overrides), nor break a one-line message (CR, LF).
 *
 * Printable ASCII and valid, printable UTF-8 ("Müller") stay as they are.
 * C0 controls and DEL are shown as \xHH; a byte that is not part of valid
 * UTF-8 (also overlong forms, surrogates, code points past U+10FFFF) as
 * \xHH, one per byte; C1 controls (U+0080..U+009F), bidi controls
 * (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069) and the line
 * and paragraph separators (U+2028, U+2029) as \uHHHH. The result is
 * valid UTF-8 and pure ASCII wherever the input was not printable, so
 * escaping twice changes nothing.
 */
#ifndef ENVOI_PRINTABLE_H
#define ENVOI_PRINTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Longest shown form of one input character, with its NUL. */
#define PRINTABLE_MAX 12

/* The shown form of the character at the start of s (len > 0 bytes),
 * written NUL-terminated into out. With json, the form inside a JSON
 * string instead: '"' and '\' backslashed, controls as \u00HH, the code
 * points above as \uHHHH, a bad byte as the text \\xHH (which a JSON
 * reader decodes to \xHH). Returns how many bytes of s it took (1..4). */
size_t printable_char(const char *s, size_t len, char out[PRINTABLE_MAX], bool json);

/* Copies len bytes of s into out (size > 0 bytes) in their shown form,
 * NUL-terminated, cut before a character that no longer fits. Returns
 * the length written. */
size_t printable_copy(char *out, size_t size, const char *s, size_t len);

/* For an error line that quotes the user's own input (an option value,
 * a file name, a configuration line): s (NUL-terminated) in its shown
 * form, except that CR, LF and TAB read as \r, \n and \t, as typed, and
 * with quotes also '"' and '\' backslashed, for text shown between
 * quotes. Stops with "..." after limit bytes of s, or silently when out
 * (size > 0) is full. Returns out. */
const char *printable_quote(char *out, size_t size, const char *s, size_t limit, bool quotes);

/* Writes len bytes of s to f in their shown form. */
void printable_write(FILE *f, const char *s, size_t len);

/* Writes s (NUL-terminated; NULL counts as "") to f as a JSON string,
 * quotes included. */
void printable_json(FILE *f, const char *s);

#endif
