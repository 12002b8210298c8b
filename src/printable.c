/* printable.c - showing untrusted text (see printable.h for the rules). */
#include "printable.h"

#include <stdint.h>
#include <string.h>

#include "utf8.h"

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

/* The form a user's own typing takes: CR, LF and TAB by name, and with
 * quotes the quote and the backslash. NULL: printable_char's form. */
static const char *typed_form(unsigned char c, bool quotes)
{
	switch (c) {
	case '\r': return "\\r";
	case '\n': return "\\n";
	case '\t': return "\\t";
	case '"': return quotes ? "\\\"" : NULL;
	case '\\': return quotes ? "\\\\" : NULL;
	}
	return NULL;
}

const char *printable_quote(char *out, size_t size, const char *s, size_t limit, bool quotes)
{
	size_t o = 0, in = 0, len = strlen(s);

	while (in < len) {
		char one[PRINTABLE_MAX];
		const char *typed = typed_form((unsigned char)s[in], quotes);
		size_t took = typed ? 1 : printable_char(s + in, len - in, one, false);
		const char *form = typed ? typed : one;
		size_t n = strlen(form);

		if (in >= limit) {
			if (o + 3 < size) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (o + n + 3 >= size) /* room left for "..." on a later call */
			break;
		memcpy(out + o, form, n);
		o += n;
		in += took;
	}
	out[o] = '\0';
	return out;
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
