/* habits.c - what users of other mail tools do by habit. */
#include "habits.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The length of the field name when line (len bytes, no line end)
 * starts with "Name:", else 0. */
static size_t field_name(const char *line, size_t len)
{
	size_t n = 0;

	while (n < len && (isalnum((unsigned char)line[n]) || line[n] == '-'))
		n++;
	return n > 0 && n < len && line[n] == ':' ? n : 0;
}

static void note(char *names, size_t size, const char *line, size_t n)
{
	static const char *const telling[] = {"From", "To", "Subject"};
	size_t o = strlen(names);

	for (size_t i = 0; i < sizeof telling / sizeof *telling; i++)
		if (strlen(telling[i]) == n && strncasecmp(line, telling[i], n) == 0 && o < size)
			snprintf(names + o, size - o, "%s%s:", o ? ", " : "", telling[i]);
}

bool habits_looks_like_message(const char *head, size_t len, char *names, size_t size)
{
	const char *p = head, *end = head + len;

	if (!size)
		return false;
	names[0] = '\0';
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p), name;

		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0)
			return names[0] != '\0';
		if (!nl)
			return false; /* a header block cut off: too little to tell */
		name = field_name(p, n);
		if (name)
			note(names, size, p, name);
		else if (p == head || (*p != ' ' && *p != '\t'))
			return false;
		p = nl + 1;
	}
	return false;
}
