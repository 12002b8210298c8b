/* cid.c - Content-IDs of inline images, and the HTML's references to
 * them (see cid.h for why references are rewritten). */
#include "cid.h"

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

/* The Message-ID without its angle brackets: where it starts, *len. */
static const char *id_inner(const char *message_id, size_t *len)
{
	const char *id = message_id + (message_id[0] == '<');

	*len = strcspn(id, ">");
	return id;
}

char *cid_for(const char *name, const char *message_id)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *s = (const unsigned char *)name;
	size_t n = strlen(name), o = 0, idlen;
	const char *id = id_inner(message_id, &idlen);
	char *out = malloc(3 * n + idlen + 2);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		/* dot-atom-text: no dot first or doubled; the "." before id
		 * follows, so no dot last either. */
		bool dot_ok = s[i] == '.' && i > 0 && s[i - 1] != '.' && i + 1 < n;

		if ((is_atext(s[i]) && s[i] != '%') || dot_ok) {
			out[o++] = (char)s[i];
		} else {
			out[o++] = '%';
			out[o++] = hex[s[i] >> 4];
			out[o++] = hex[s[i] & 15];
		}
	}
	out[o++] = '.';
	memcpy(out + o, id, idlen);
	out[o + idlen] = '\0';
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

/* One image's patterns: its name as written and, when different, its
 * percent-encoded form (what the Content-ID holds before the unique
 * part); both become "cid:" + the whole Content-ID. */
static int add_image(struct cid_rewrite *r, const char *name, const char *message_id)
{
	char *cid = cid_for(name, message_id), *enc = NULL;
	size_t idlen;
	int rc = -1;

	id_inner(message_id, &idlen);
	if (cid)
		enc = strndup(cid, strlen(cid) - idlen - 1);
	if (enc && add_pattern(r, name, cid) == 0)
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
		if (add_image(r, m->inlines[i].name, m->message_id) < 0)
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
