/* caps.c - EHLO keywords. */
#include "caps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void add_mechs(struct caps *c, const char *params, size_t len)
{
	size_t have = strlen(c->mechs);

	while (len && (*params == ' ' || *params == '='))
		params++, len--;
	if (len && have + 1 + len < sizeof c->mechs)
		snprintf(c->mechs + have, sizeof c->mechs - have, "%s%.*s", have ? " " : "", (int)len,
			 params);
	c->auth = true;
}

void caps_parse(struct caps *c, const char *text)
{
	const char *line = strchr(text, '\n');

	memset(c, 0, sizeof *c);
	c->esmtp = true;
	while (line) {
		const char *end, *params;
		size_t n, len;

		line++;
		end = strchr(line, '\n');
		len = end ? (size_t)(end - line) : strlen(line);
		n = strcspn(line, " =\n");
		if (n > len)
			n = len;
		params = line + n;
#define IS(kw) (n == sizeof kw - 1 && strncasecmp(line, kw, n) == 0)
		if (IS("PIPELINING")) c->pipelining = true;
		else if (IS("CHUNKING")) c->chunking = true;
		else if (IS("STARTTLS")) c->starttls = true;
		else if (IS("8BITMIME")) c->eightbitmime = true;
		else if (IS("SMTPUTF8")) c->smtputf8 = true;
		else if (IS("DSN")) c->dsn = true;
		else if (IS("SIZE")) c->size = strtoull(params, NULL, 10);
		else if (IS("AUTH")) add_mechs(c, params, len - n);
#undef IS
		line = end;
	}
}
