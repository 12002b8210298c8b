/* utf8.h - the one UTF-8 validator (RFC 3629): no overlong forms, no
 * surrogates, nothing past U+10FFFF, so that no ASCII byte can hide in a
 * longer form. */
#ifndef ENVOI_UTF8_H
#define ENVOI_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the character at the start of s (len bytes available; len 0
 * is allowed). Returns its length (1..4) with *cp set when cp is not
 * NULL, or 0 when s does not start with a whole valid character. */
size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

#endif
