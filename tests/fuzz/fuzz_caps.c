/* fuzz_caps.c - libFuzzer target for the EHLO capability parser: the
 * text of a 250 reply as the reply parser hands it over (lines joined
 * by '\n'). It must never read or write out of bounds, keep the AUTH
 * mechanisms NUL-terminated within their buffer, and agree in every
 * field with the reference parse below.
 *
 * The reference is written another way on purpose (a copy of each line,
 * strtok_r for words, SIZE compared as a digit string against 2^64-1):
 * without an oracle a parser that reads the next line's digits as a bare
 * SIZE's value passed millions of runs. The rules it encodes are those of
 * caps.h: the first line is the greeting; each later line, without a
 * trailing '\r', is a keyword ended by ' ' or '=' (one '=' is skipped)
 * and space-separated words. */
#include "fuzz.h"

#include <strings.h>

#include "caps.h"

static const char U64_MAX_DIGITS[] = "18446744073709551615";

/* The SIZE value of word w: 0 unless all digits and at most 2^64-1. */
static uint64_t ref_size(const char *w)
{
	const char *d = w;
	size_t len = strlen(w);

	if (len == 0 || strspn(w, "0123456789") != len)
		return 0;
	while (*d == '0' && d[1])
		d++;
	if (strlen(d) > sizeof U64_MAX_DIGITS - 1 ||
	    (strlen(d) == sizeof U64_MAX_DIGITS - 1 && strcmp(d, U64_MAX_DIGITS) > 0))
		return 0;
	return strtoull(d, NULL, 10);
}

static void ref_auth(struct caps *c, char *params)
{
	char *save = NULL;

	c->auth = true;
	for (char *w = strtok_r(params, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		size_t have = strlen(c->mechs);

		if (c->mechs_cut)
			return;
		if (have + (have > 0) + strlen(w) + 1 > sizeof c->mechs) {
			c->mechs_cut = true;
			return;
		}
		if (have)
			strcat(c->mechs, " ");
		strcat(c->mechs, w);
	}
}

static void ref_line(struct caps *c, char *line)
{
	size_t len = strlen(line), k;
	char *params, *save = NULL, *first;

	if (len && line[len - 1] == '\r')
		line[--len] = '\0';
	k = strcspn(line, " =");
	/* The keyword ends in place; its separator, ' ' or '=', is skipped. */
	params = line[k] ? line + k + 1 : line + k;
	line[k] = '\0';
	if (!strcasecmp(line, "PIPELINING")) c->pipelining = true;
	else if (!strcasecmp(line, "CHUNKING")) c->chunking = true;
	else if (!strcasecmp(line, "STARTTLS")) c->starttls = true;
	else if (!strcasecmp(line, "8BITMIME")) c->eightbitmime = true;
	else if (!strcasecmp(line, "SMTPUTF8")) c->smtputf8 = true;
	else if (!strcasecmp(line, "DSN")) c->dsn = true;
	else if (!strcasecmp(line, "AUTH")) ref_auth(c, params);
	else if (!strcasecmp(line, "SIZE")) {
		first = strtok_r(params, " ", &save);
		c->size = first ? ref_size(first) : 0;
	}
}

static void ref_parse(struct caps *c, const char *text)
{
	char *copy = strdup(text), *p, *nl;

	FUZZ_CHECK(copy != NULL);
	memset(c, 0, sizeof *c);
	c->esmtp = true;
	p = strchr(copy, '\n');
	while (p) {
		p++;
		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		ref_line(c, p);
		p = nl;
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_str(data, size);
	struct caps a, ref;

	memset(&a, 0x55, sizeof a);
	caps_parse(&a, text);
	ref_parse(&ref, text);
	FUZZ_CHECK(memchr(a.mechs, '\0', sizeof a.mechs) != NULL);
	FUZZ_CHECK(a.esmtp == ref.esmtp && a.pipelining == ref.pipelining);
	FUZZ_CHECK(a.chunking == ref.chunking && a.starttls == ref.starttls);
	FUZZ_CHECK(a.eightbitmime == ref.eightbitmime && a.smtputf8 == ref.smtputf8);
	FUZZ_CHECK(a.dsn == ref.dsn && a.auth == ref.auth && a.mechs_cut == ref.mechs_cut);
	FUZZ_CHECK(a.size == ref.size);
	FUZZ_CHECK(strcmp(a.mechs, ref.mechs) == 0);
	free(text);
	return 0;
}
