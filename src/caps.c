/* caps.c - EHLO keywords.
 *
 * Each line is parsed within its own bounds: a keyword's parameters end
 * at the line's end, never in the next line (a bare "SIZE" followed by
 * "8BITMIME" once read as SIZE 8). */
#include "caps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Parameters of one line: [p, end). */
struct span {
	const char *p, *end;
};

/* The next space-separated word of s, or an empty span at its end. */
static struct span next_word(struct span *s)
{
	struct span w;

	while (s->p < s->end && *s->p == ' ')
		s->p++;
	w.p = s->p;
	while (s->p < s->end && *s->p != ' ')
		s->p++;
	w.end = s->p;
	return w;
}

/* RFC 1870: "SIZE" [SP 1*DIGIT]. No number, zero, anything that is not
 * all digits, or a value past 64 bits all mean that no limit is known. */
static uint64_t parse_size(struct span params)
{
	struct span w = next_word(&params);
	uint64_t v = 0;

	if (w.p == w.end)
		return 0;
	for (const char *q = w.p; q < w.end; q++) {
		unsigned d = (unsigned)(*q - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	return v;
}

/* Appends each mechanism in order while it fits, so that a cut list is a
 * prefix of the offer. */
static void add_mechs(struct caps *c, struct span params)
{
	size_t have = strlen(c->mechs);
	bool full = c->mechs_cut;

	c->auth = true;
	for (struct span w = next_word(&params); w.p < w.end && !full; w = next_word(&params)) {
		size_t len = (size_t)(w.end - w.p), sep = have ? 1 : 0;

		if (have + sep + len >= sizeof c->mechs) {
			c->mechs_cut = full = true;
			break;
		}
		snprintf(c->mechs + have, sizeof c->mechs - have, "%s%.*s", sep ? " " : "", (int)len, w.p);
		have += sep + len;
	}
}

/* One EHLO line [line, end), without its line break. */
static void parse_line(struct caps *c, const char *line, const char *end)
{
	struct span params;
	size_t n = 0;

	if (end > line && end[-1] == '\r')
		end--;
	while (line + n < end && line[n] != ' ' && line[n] != '=')
		n++;
	/* "AUTH=PLAIN LOGIN" is the pre-standard form of "AUTH PLAIN LOGIN". */
	params.p = line + n + (line + n < end && line[n] == '=');
	params.end = end;
#define IS(kw) (n == sizeof kw - 1 && strncasecmp(line, kw, n) == 0)
	if (IS("PIPELINING")) c->pipelining = true;
	else if (IS("CHUNKING")) c->chunking = true;
	else if (IS("STARTTLS")) c->starttls = true;
	else if (IS("8BITMIME")) c->eightbitmime = true;
	else if (IS("SMTPUTF8")) c->smtputf8 = true;
	else if (IS("DSN")) c->dsn = true;
	else if (IS("SIZE")) c->size = parse_size(params);
	else if (IS("AUTH")) add_mechs(c, params);
#undef IS
}

void caps_parse(struct caps *c, const char *text)
{
	const char *line = strchr(text, '\n');

	memset(c, 0, sizeof *c);
	c->esmtp = true;
	while (line) {
		const char *end;

		line++;
		end = strchr(line, '\n');
		parse_line(c, line, end ? end : line + strlen(line));
		line = end;
	}
}
