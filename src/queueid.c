/* queueid.c - the server's queue id in its reply to the end of data. */
#include "queueid.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define LINE_MAX_KEPT 512

static bool is_id_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

/* Copies the token at p (up to a blank, ',', ']' or the end) when it
 * looks like an id: a server's words must never pass for one. */
static bool take_token(const char *p, char *out, size_t size)
{
	size_t n = 0;

	while (p[n] && p[n] != ' ' && p[n] != ',' && p[n] != ']' && p[n] != ')')
		n++;
	if (n == 0 || n >= size || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_id_char(p[i]))
			return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

/* The word after a marker found anywhere in line ("queued as "), or
 * starting a word ("id="). */
static bool after(const char *line, const char *marker, bool word_start, char *out, size_t size)
{
	size_t m = strlen(marker);

	for (const char *p = line; *p; p++)
		if (strncasecmp(p, marker, m) == 0 && (!word_start || p == line || p[-1] == ' '))
			return take_token(p + m, out, size);
	return false;
}

/* The n-th blank-separated word of line (0-based). */
static const char *word(const char *line, int n)
{
	const char *p = line;

	while (*p == ' ')
		p++;
	for (; n > 0 && *p; n--) {
		while (*p && *p != ' ')
			p++;
		while (*p == ' ')
			p++;
	}
	return *p ? p : NULL;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && strcasecmp(s + n - t, tail) == 0;
}

static bool from_line(const char *line, char *out, size_t size)
{
	const char *w;

	if (after(line, "queued as ", false, out, size) || after(line, "InternalId=", false, out, size) ||
	    after(line, "id=", true, out, size))
		return true;
	/* Gmail: "OK  <time> <id> - gsmtp" */
	if (ends_with(line, " - gsmtp") && (w = word(line, 2)))
		return take_token(w, out, size);
	/* OpenSMTPD, Sendmail: "<id> Message accepted for delivery" */
	if ((w = word(line, 1)) && strncasecmp(w, "Message accepted", 16) == 0)
		return take_token(word(line, 0), out, size);
	return false;
}

bool queueid_find(const char *text, size_t len, char *out, size_t size)
{
	char line[LINE_MAX_KEPT];
	size_t end = len;

	if (size)
		out[0] = '\0';
	while (text && end > 0) {
		size_t start = end;

		while (start > 0 && text[start - 1] != '\n')
			start--;
		if (end - start < sizeof line) {
			memcpy(line, text + start, end - start);
			line[end - start] = '\0';
			if (from_line(line, out, size))
				return true;
		}
		end = start ? start - 1 : 0;
	}
	if (size)
		out[0] = '\0';
	return false;
}
