/* cid.c - Content-IDs of inline images, and the HTML's references to
 * them (see cid.h for why references are rewritten). */
#include "cid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cid_pattern {
	char *from; /* "cid:NAME" as the HTML may write it */
	size_t from_len;
	char *to;   /* "cid:" + the Content-ID */
	size_t to_len;
};

/* RFC 5322 atext. */
static bool is_atext(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* A character that ends a reference: white space or what delimits a
 * URL in HTML or CSS (quotes, brackets, parentheses). Anything else may
 * be more of a longer name, so "cid:logo.pngx" is left alone. */
static bool ends_reference(unsigned char c)
{
	return c <= ' ' || (c < 0x7f && strchr("\"'<>()[]{}\\,;`", c));
}

/* name as dot-atom-text: %XX for each byte that cannot stand there.
 * Returns a malloc'd string or NULL. */
static char *cid_name(const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *s = (const unsigned char *)name;
	size_t n = strlen(name), o = 0;
	char *out = malloc(3 * n + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		/* dot-atom-text: no dot first or doubled; the "." before the
		 * suffix follows, so no dot last either. */
		bool dot_ok = s[i] == '.' && i > 0 && s[i - 1] != '.' && i + 1 < n;

		if ((is_atext(s[i]) && s[i] != '%') || dot_ok) {
			out[o++] = (char)s[i];
		} else {
			out[o++] = '%';
			out[o++] = hex[s[i] >> 4];
			out[o++] = hex[s[i] & 15];
		}
	}
	out[o] = '\0';
	return out;
}

#define CID_LINE 78
#define CID_FIELD 15 /* "Content-ID: <" + "." + ">" */

char *cid_for(const struct message *m, size_t i)
{
	char *left = cid_name(m->inlines[i].name), *out;
	size_t slen = strlen(m->cid_suffix), len, room;

	if (!left)
		return NULL;
	len = strlen(left);
	room = CID_LINE > CID_FIELD + slen ? CID_LINE - CID_FIELD - slen : 0;
	if (len > room) {
		char mark[32];
		int mlen = snprintf(mark, sizeof mark, "%%-%zu", i + 1);

		len = room > (size_t)mlen ? room - (size_t)mlen : 0;
		while (len > 0 && (left[len - 1] == '%' || (len > 1 && left[len - 2] == '%') ||
				   left[len - 1] == '.'))
			len--; /* never inside a %XX, never a dot before the mark */
		memcpy(left + len, mark, (size_t)mlen + 1);
		len += (size_t)mlen;
	}
	out = malloc(len + slen + 2);
	if (out)
		snprintf(out, len + slen + 2, "%.*s.%s", (int)len, left, m->cid_suffix);
	free(left);
	return out;
}

static int add_pattern(struct cid_rewrite *r, const char *from, const char *cid)
{
	struct cid_pattern *p = &r->pat[r->npat];

	p->from = malloc(strlen(from) + 5);
	p->to = malloc(strlen(cid) + 5);
	if (!p->from || !p->to) {
		free(p->from);
		free(p->to);
		return -1;
	}
	p->from_len = (size_t)(stpcpy(stpcpy(p->from, "cid:"), from) - p->from);
	p->to_len = (size_t)(stpcpy(stpcpy(p->to, "cid:"), cid) - p->to);
	r->npat++;
	return 0;
}

/* One image's patterns: its name as written and, when different, as
 * dot-atom-text (what "cid:" + a percent-encoded name gives); both
 * become "cid:" + the image's Content-ID. */
static int add_image(struct cid_rewrite *r, const struct message *m, size_t i)
{
	const char *name = m->inlines[i].name;
	char *cid = cid_for(m, i), *enc = cid_name(name);
	int rc = -1;

	if (cid && enc && add_pattern(r, name, cid) == 0)
		rc = strcmp(enc, name) != 0 ? add_pattern(r, enc, cid) : 0;
	free(enc);
	free(cid);
	return rc;
}

int cid_rewrite_init(struct cid_rewrite *r, const struct message *m)
{
	size_t longest = 0;

	memset(r, 0, sizeof *r);
	r->pat = calloc(2 * m->ninline + 1, sizeof *r->pat);
	if (!r->pat)
		return -1;
	for (size_t i = 0; i < m->ninline; i++)
		if (add_image(r, m, i) < 0)
			return -1;
	for (size_t i = 0; i < r->npat; i++)
		if (r->pat[i].from_len > longest)
			longest = r->pat[i].from_len;
	/* A whole pattern and the character that tells whether it ended. */
	r->hold = malloc(longest + 1);
	return r->hold ? 0 : -1;
}

void cid_rewrite_free(struct cid_rewrite *r)
{
	for (size_t i = 0; i < r->npat; i++) {
		free(r->pat[i].from);
		free(r->pat[i].to);
	}
	free(r->pat);
	free(r->hold);
	memset(r, 0, sizeof *r);
}

static void drop(struct cid_rewrite *r, size_t k)
{
	memmove(r->hold, r->hold + k, r->held - k);
	r->held -= k;
}

/* Which pattern the held input starts with, followed by a character
 * that ends the reference (or the end of the input, at_end): the
 * longest one, or -1. *wait tells that more input could still make a
 * (longer) pattern match. */
static long held_match(const struct cid_rewrite *r, bool at_end, bool *wait)
{
	long best = -1;

	*wait = false;
	for (size_t i = 0; i < r->npat; i++) {
		const struct cid_pattern *p = &r->pat[i];
		size_t k = p->from_len;

		if (r->held <= k) {
			if (memcmp(r->hold, p->from, r->held) != 0)
				continue;
			if (r->held < k || !at_end) {
				*wait = *wait || !at_end;
				continue;
			}
		} else if (memcmp(r->hold, p->from, k) != 0 || !ends_reference(r->hold[k])) {
			continue;
		}
		if (best < 0 || k > r->pat[best].from_len)
			best = (long)i;
	}
	return best;
}

/* Settles what is held as far as the input so far allows. */
static int settle(struct cid_rewrite *r, bool at_end)
{
	while (r->held > 0) {
		bool wait;
		long m = held_match(r, at_end, &wait);

		if (wait)
			return 0;
		if (m >= 0) {
			if (r->emit(r->ctx, (const unsigned char *)r->pat[m].to, r->pat[m].to_len) < 0)
				return -1;
			drop(r, r->pat[m].from_len);
		} else {
			if (r->emit(r->ctx, r->hold, 1) < 0)
				return -1;
			drop(r, 1);
		}
	}
	return 0;
}

int cid_rewrite_update(struct cid_rewrite *r, const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (r->held == 0) {
			/* Every pattern starts with 'c': the rest goes straight out. */
			const unsigned char *c = memchr(p + i, 'c', n - i);
			size_t run = c ? (size_t)(c - (p + i)) : n - i;

			if (run && r->emit(r->ctx, p + i, run) < 0)
				return -1;
			i += run;
			if (!c)
				break;
		}
		r->hold[r->held++] = p[i++];
		if (settle(r, false) < 0)
			return -1;
	}
	return 0;
}

int cid_rewrite_final(struct cid_rewrite *r)
{
	return settle(r, true);
}
