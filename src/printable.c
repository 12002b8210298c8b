/* printable.c - showing untrusted text (see printable.h for the rules). */
#include "printable.h"

#include <stdint.h>
#include <string.h>

/* Decodes one UTF-8 character (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF). Returns its length with *cp set,
 * or 0 when s does not start with a valid character. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 :
		   s[0] >= 0xe0 && s[0] <= 0xef ? 3 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
	uint32_t v;

	if (n == 0 || n > len)
		return 0;
	v = n == 1 ? s[0] : s[0] & (0x7fu >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3fu);
	}
	if (v < min[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/* Code points that control a terminal or the order of the text. */
static bool dangerous(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c ||
	       cp == 0x200e || cp == 0x200f || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t printable_char(const char *s, size_t len, char out[PRINTABLE_MAX], bool json)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp = 0;
	size_t n = utf8_decode(p, len, &cp);

	if (n == 0)
		snprintf(out, PRINTABLE_MAX, json ? "\\\\x%02x" : "\\x%02x", p[0]);
	else if (json && (cp == '"' || cp == '\\'))
		snprintf(out, PRINTABLE_MAX, "\\%c", (char)cp);
	else if (!json && (cp < 0x20 || cp == 0x7f))
		snprintf(out, PRINTABLE_MAX, "\\x%02x", (unsigned)cp);
	else if (dangerous(cp))
		snprintf(out, PRINTABLE_MAX, "\\u%04x", (unsigned)cp);
	else {
		memcpy(out, s, n);
		out[n] = '\0';
	}
	return n ? n : 1;
}

size_t printable_copy(char *out, size_t size, const char *s, size_t len)
{
	size_t o = 0, i = 0;

	while (i < len) {
		char one[PRINTABLE_MAX];
		size_t took = printable_char(s + i, len - i, one, false);
		size_t n = strlen(one);

		if (o + n >= size)
			break;
		memcpy(out + o, one, n);
		o += n;
		i += took;
	}
	out[o] = '\0';
	return o;
}

void printable_write(FILE *f, const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		char one[PRINTABLE_MAX];

		i += printable_char(s + i, len - i, one, false);
		fputs(one, f);
	}
}

void printable_json(FILE *f, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	fputc('"', f);
	for (size_t i = 0; i < len;) {
		char one[PRINTABLE_MAX];

		i += printable_char(s + i, len - i, one, true);
		fputs(one, f);
	}
	fputc('"', f);
}
