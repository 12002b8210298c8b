/* header.c - header fields on the wire: folding (RFC 5322), encoded-words
 * (RFC 2047) and file-name parameters (RFC 2231).
 *
 * Every field is laid out as a sequence of items, each preceded by the
 * whitespace that separates it from the previous one. A fold (CRLF) is
 * only ever inserted just before such whitespace, so unfolding gives back
 * exactly what was laid out.
 */
#include "header.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "utf8.h"

#define HDR_LINE 78   /* preferred longest line, CRLF excluded */
#define EW_LINE 76    /* longest line holding an encoded-word (RFC 2047 2) */
#define HDR_HARD 998  /* longest line allowed */
#define EW_MAX 75     /* longest encoded-word */
#define EW_OVER 12    /* "=?UTF-8?Q?" + "?=" */
#define EW_MIN 12     /* fewer payload characters left: start a new line */
#define WS_MAX 800    /* longer whitespace runs go inside encoded-words */
#define WS_EW_MAX 16  /* ... and so do those next to an encoded-word */
#define QSTR_MAX 900  /* longest unbreakable piece of a quoted display name */
#define HDR_NAME_MAX 76 /* "Name: " plus one character fits in HDR_LINE */

/* ---- output buffer with line tracking ------------------------------- */

struct hbuf {
	char *p;
	size_t len, cap;
	size_t line; /* offset where the current line starts */
	size_t mark; /* folding helps only once the line holds more than this */
	bool ew;     /* the current line holds an encoded-word */
	bool oom;
};

static void hb_put(struct hbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		/* Doubling keeps a 10,000-address list linear. */
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void hb_puts(struct hbuf *b, const char *s)
{
	hb_put(b, s, strlen(s));
}

static size_t hb_col(const struct hbuf *b)
{
	return b->len - b->line;
}

static bool hb_can_fold(const struct hbuf *b)
{
	return b->len > b->mark;
}

static void hb_fold(struct hbuf *b)
{
	hb_put(b, "\r\n", 2);
	b->line = b->mark = b->len;
	b->ew = false;
}

/* The longest the current line may grow: shorter once it holds an
 * encoded-word. */
static size_t hb_limit(const struct hbuf *b)
{
	return b->ew ? EW_LINE : HDR_LINE;
}

/* Starts a field: "Name:". The first item brings its own " ". */
static void hb_start(struct hbuf *b, const char *name)
{
	memset(b, 0, sizeof *b);
	hb_puts(b, name);
	hb_put(b, ":", 1);
	b->mark = b->len;
}

/* Ends the field with CRLF and hands the string over (NULL when out of
 * memory). */
static char *hb_finish(struct hbuf *b)
{
	hb_put(b, "\r\n", 2);
	if (b->oom) {
		free(b->p);
		return NULL;
	}
	return b->p;
}

/* Folds before an item width characters wide (the whitespace that
 * leads it included) when the line would grow past its limit and
 * folding can shorten it. */
static void hb_fold_for(struct hbuf *b, size_t width)
{
	if (hb_col(b) + width > hb_limit(b) && hb_can_fold(b))
		hb_fold(b);
}

/* Puts sep, text and tail, folding before sep if needed. The tail (a
 * ";" or "," or "") may not be separated from the text. */
static void hb_item(struct hbuf *b, const char *sep, size_t seplen,
		    const char *text, size_t n, const char *tail)
{
	size_t tlen = strlen(tail);

	if (seplen)
		hb_fold_for(b, seplen + n + tlen);
	hb_put(b, sep, seplen);
	hb_put(b, text, n);
	hb_put(b, tail, tlen);
}

/* ---- encoded-words -------------------------------------------------- */

/* Length of the character at s: a whole valid UTF-8 sequence, else one
 * byte (an invalid byte travels alone). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len = utf8_decode(s, n, NULL);

	return len ? len : 1;
}

/* The RFC 2047 5(3) set: the only characters a "Q" word may carry as
 * they are in a phrase; using it everywhere keeps one encoder. */
static bool q_plain(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '!' || c == '*' || c == '+' ||
	       c == '-' || c == '/';
}

static size_t q_len(const unsigned char *s, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		len += q_plain(s[i]) || s[i] == ' ' ? 1 : 3;
	return len;
}

static size_t q_put(char *out, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char *o = out;

	for (size_t i = 0; i < n; i++) {
		if (q_plain(s[i])) {
			*o++ = (char)s[i];
		} else if (s[i] == ' ') {
			*o++ = '_';
		} else {
			*o++ = '=';
			*o++ = hex[s[i] >> 4];
			*o++ = hex[s[i] & 15];
		}
	}
	return (size_t)(o - out);
}

static size_t ew_payload(bool b64, const unsigned char *s, size_t n)
{
	return b64 ? (n + 2) / 3 * 4 : q_len(s, n);
}

/* How many bytes of s, in whole characters, fit in cap payload
 * characters; at least one character, so that progress is certain. */
static size_t ew_take(bool b64, const unsigned char *s, size_t n, size_t cap)
{
	size_t used = 0, qcost = 0;

	do {
		size_t c = utf8_len(s + used, n - used);
		size_t qc = b64 ? 0 : q_len(s + used, c);
		size_t cost = b64 ? (used + c + 2) / 3 * 4 : qcost + qc;

		if (used > 0 && cost > cap)
			break;
		used += c;
		qcost += qc;
	} while (used < n);
	return used;
}

/* Lays out s as adjacent encoded-words, the first preceded by sep and
 * the others by a space (which decoders drop between encoded-words).
 * A run that fits in one word stays one word, on a new line if need be:
 * Python's address parser, unlike RFC 2047, keeps the space between
 * encoded-words of a display name. A longer run fills each line. */
static void ew_run(struct hbuf *b, const char *sep, size_t seplen,
		   const unsigned char *s, size_t n)
{
	bool b64 = (n + 2) / 3 * 4 < q_len(s, n);
	size_t whole = ew_payload(b64, s, n);
	char word[EW_MAX + 1];

	while (n > 0) {
		long room = (long)EW_LINE - (long)(hb_col(b) + seplen) - EW_OVER;
		size_t take, len;

		if ((room < EW_MIN || (whole <= EW_MAX - EW_OVER &&
				       (long)whole > room)) && hb_can_fold(b)) {
			hb_fold(b);
			room = (long)EW_LINE - (long)seplen - EW_OVER;
		}
		if (room > EW_MAX - EW_OVER)
			room = EW_MAX - EW_OVER;
		take = ew_take(b64, s, n, room > 0 ? (size_t)room : 0);
		memcpy(word, b64 ? "=?UTF-8?B?" : "=?UTF-8?Q?", 10);
		len = 10 + (b64 ? b64_encode(word + 10, s, take)
				: q_put(word + 10, s, take));
		memcpy(word + len, "?=", 2);
		hb_put(b, sep, seplen);
		hb_put(b, word, len + 2);
		b->ew = true;
		s += take;
		n -= take;
		whole = EW_MAX; /* the rest goes word after word */
		sep = " ";
		seplen = 1;
	}
}

/* ---- words: unstructured text and phrases --------------------------- */

struct word {
	size_t ws;    /* offset of the whitespace before the word */
	size_t start; /* offset of the word */
	size_t end;   /* offset just past it */
	bool enc;     /* goes inside encoded-words */
};

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_atext(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* A word travels as it is only when it cannot be mistaken for (part of)
 * an encoded-word and holds only what its context allows: printable
 * ASCII in text, atext in a phrase. */
static bool word_is_plain(const char *s, size_t n, bool phrase)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 33 || c > 126 || (phrase && !is_atext(c)))
			return false;
		if (i + 1 < n && ((c == '=' && s[i + 1] == '?') ||
				  (c == '?' && s[i + 1] == '=')))
			return false;
	}
	return true;
}

/* Splits v into words; returns how many, the array in *out, or
 * (size_t)-1 when out of memory. */
static size_t split_words(const char *v, size_t len, struct word **out)
{
	size_t n = 0, i = 0;
	struct word *w = malloc((len / 2 + 1) * sizeof *w);

	*out = w;
	if (!w)
		return (size_t)-1;
	while (i < len) {
		size_t ws = i;

		while (i < len && is_wsp(v[i]))
			i++;
		if (i == len)
			break;
		w[n].ws = ws;
		w[n].start = i;
		while (i < len && !is_wsp(v[i]))
			i++;
		w[n].end = i;
		n++;
	}
	return n;
}

/* White space next to an encoded-word stands on the encoded-word's line
 * (a fold goes before it, never inside): a run longer than WS_EW_MAX
 * there goes inside the encoded-words, so the line stays within
 * EW_LINE. Encoding one word may bring another run next to one, hence
 * the passes until nothing changes. */
static void mark_ew_neighbours(struct word *w, size_t n)
{
	for (bool changed = true; changed;) {
		changed = false;
		for (size_t k = 1; k < n; k++) {
			if (w[k].start - w[k].ws > WS_EW_MAX && w[k].enc != w[k - 1].enc) {
				w[k].enc = w[k - 1].enc = true;
				changed = true;
			}
		}
	}
}

/* Decides which words are encoded. Decoders strip whitespace at the
 * start of a field and may at its end, so edge whitespace is encoded with
 * its word; so is whitespace too long for any line, and, in a phrase,
 * any whitespace but one space (a phrase reads all of it as one space).
 * A plain word that would not fit in HDR_HARD is encoded, too. */
static void mark_words(struct word *w, size_t n, const char *v, size_t len,
		       size_t first_col, bool phrase)
{
	for (size_t k = 0; k < n; k++) {
		size_t wlen = w[k].end - w[k].start;
		size_t wslen = w[k].start - w[k].ws;
		size_t line = k == 0 ? first_col + 1 + wlen : wslen + wlen;

		w[k].enc = !word_is_plain(v + w[k].start, wlen, phrase) ||
			   line > HDR_HARD;
		if (k > 0 && (wslen > WS_MAX ||
			      (phrase && (wslen != 1 || v[w[k].ws] != ' '))))
			w[k - 1].enc = w[k].enc = true;
	}
	if (n > 0 && w[0].start > 0)
		w[0].enc = true;
	if (n > 0 && w[n - 1].end < len)
		w[n - 1].enc = true;
	mark_ew_neighbours(w, n);
}

/* Plain words go as they are, each with the whitespace before it as a
 * fold point; a run of encoded words goes as encoded-words with the
 * whitespace inside the run encoded too, because decoders drop the
 * whitespace between adjacent encoded-words. */
static void words_layout(struct hbuf *b, const char *v, size_t len,
			 const struct word *w, size_t n)
{
	if (n == 0 && len > 0) /* whitespace only */
		ew_run(b, " ", 1, (const unsigned char *)v, len);
	for (size_t k = 0; k < n;) {
		const char *sep = k == 0 ? " " : v + w[k].ws;
		size_t seplen = k == 0 ? 1 : w[k].start - w[k].ws;
		size_t j = k, from, to;

		if (!w[k].enc) {
			hb_item(b, sep, seplen, v + w[k].start,
				w[k].end - w[k].start, "");
			k++;
			continue;
		}
		while (j + 1 < n && w[j + 1].enc)
			j++;
		from = k == 0 ? 0 : w[k].start;
		to = j == n - 1 ? len : w[j].end;
		ew_run(b, sep, seplen, (const unsigned char *)v + from,
		       to - from);
		k = j + 1;
	}
}

/* Words of v laid out after what b holds; first_col bounds the column
 * of the first word, which cannot be folded. Returns false when out of
 * memory. */
static bool put_words(struct hbuf *b, const char *v, size_t first_col,
		      bool phrase)
{
	size_t len = strlen(v);
	struct word *w;
	size_t n = split_words(v, len, &w);

	if (n == (size_t)-1)
		return false;
	mark_words(w, n, v, len, first_col, phrase);
	words_layout(b, v, len, w, n);
	free(w);
	return true;
}

char *hdr_text(const char *name, const char *value)
{
	struct hbuf b;

	hb_start(&b, name);
	if (!put_words(&b, value, b.len, false))
		b.oom = true;
	return hb_finish(&b);
}

/* ---- addresses ------------------------------------------------------ */

/* Atoms separated by single spaces, nothing that looks like an
 * encoded-word: the phrase can go as it is. */
static bool phrase_is_atoms(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || s[0] == ' ' || s[n - 1] == ' ' || strstr(s, "  "))
		return false;
	for (const char *p = s; *p; p += strcspn(p, " ")) {
		p += *p == ' ';
		if (!word_is_plain(p, strcspn(p, " "), true))
			return false;
	}
	return true;
}

/* Printable ASCII with specials goes as a quoted-string, which keeps
 * every character; not when it looks like an encoded-word, since some
 * decoders (Python's) decode those even inside quotes, nor when a word
 * or a white space run in it is too long for any line. */
static bool phrase_is_quotable(const char *s)
{
	if (strstr(s, "=?") || strstr(s, "?="))
		return false;
	while (*s) {
		size_t ws = strspn(s, " \t"), word = strcspn(s + ws, " \t");

		if (ws > WS_MAX || 2 * word + 2 > QSTR_MAX)
			return false;
		for (size_t i = ws; i < ws + word; i++)
			if (s[i] < 32 || s[i] > 126)
				return false;
		s += ws + word;
	}
	return true;
}

/* The quoted-string may fold at the white space inside it: unfolding
 * only removes the CRLF, so every character stays. */
static void put_quoted(struct hbuf *b, const char *s)
{
	size_t n = strlen(s), len = 0, i = 0;
	char *q = malloc(2 * n + 4);

	if (!q) {
		b->oom = true;
		return;
	}
	q[len++] = '"';
	for (size_t k = 0; k < n; k++) {
		if (s[k] == '"' || s[k] == '\\')
			q[len++] = '\\';
		q[len++] = s[k];
	}
	q[len++] = '"';
	q[len] = '\0';
	while (i < len) {
		size_t ws = strspn(q + i, " \t");
		size_t word = strcspn(q + i + ws, " \t");

		hb_item(b, i == 0 ? " " : q + i, i == 0 ? 1 : ws, q + i + ws,
			word, "");
		i += ws + word;
	}
	free(q);
}

/* "Name <mailbox>" or "mailbox", then tail (the list's comma). */
static void put_address(struct hbuf *b, const struct address *a,
			const char *tail)
{
	size_t mlen = strlen(a->mailbox);

	if (!a->name || !a->name[0]) {
		hb_item(b, " ", 1, a->mailbox, mlen, tail);
		return;
	}
	if (!phrase_is_atoms(a->name) && phrase_is_quotable(a->name))
		put_quoted(b, a->name);
	else if (!put_words(b, a->name, HDR_NAME_MAX + 2, true))
		b->oom = true;
	hb_fold_for(b, 1 + mlen + 2 + strlen(tail));
	hb_put(b, " <", 2);
	hb_put(b, a->mailbox, mlen);
	hb_put(b, ">", 1);
	hb_puts(b, tail);
}

char *hdr_addresses(const char *name, const struct address *v, size_t n)
{
	struct hbuf b;

	hb_start(&b, name);
	for (size_t i = 0; i < n; i++)
		put_address(&b, &v[i], i + 1 < n ? "," : "");
	return hb_finish(&b);
}

char *hdr_address_list(const char *name, const struct addr_list *l)
{
	struct hbuf b;

	hb_start(&b, name);
	for (size_t i = 0; i < l->n; i++) {
		struct address a = addr_list_at(l, i);

		put_address(&b, &a, i + 1 < l->n ? "," : "");
	}
	return hb_finish(&b);
}

/* ---- file-name parameters ------------------------------------------- */

/* The name as a valid UTF-8 string: each byte that is not part of a
 * valid character becomes U+FFFD, so that what is labelled UTF-8 is
 * UTF-8. Returns a malloc'd string or NULL. */
static char *utf8_clean(const char *f)
{
	size_t n = strlen(f), len = 0, i = 0;
	char *out = malloc(3 * n + 1);

	if (!out)
		return NULL;
	while (i < n) {
		size_t c = utf8_len((const unsigned char *)f + i, n - i);

		if (c == 1 && (unsigned char)f[i] >= 0x80) {
			memcpy(out + len, "\xef\xbf\xbd", 3);
			len += 3;
		} else {
			memcpy(out + len, f + i, c);
			len += c;
		}
		i += c;
	}
	out[len] = '\0';
	return out;
}

/* A name every reader takes as it is: printable ASCII, nothing that a
 * reader could decode as an encoded-word (Python does, even in quotes),
 * no quote or backslash (mblaze's mshow ends the name at an escaped
 * quote; the RFC 2231 form reaches it whole), and " param=\"...\""
 * short enough for one line. */
static bool name_is_plain(const char *f, size_t plen)
{
	size_t n = strlen(f);

	for (size_t i = 0; i < n; i++)
		if (f[i] < 32 || f[i] > 126 || f[i] == '"' || f[i] == '\\')
			return false;
	return !strstr(f, "=?") && 1 + plen + 3 + n <= HDR_LINE;
}

/* param="name" (a name_is_plain name needs no escapes). */
static void put_plain_param(struct hbuf *b, const char *param, const char *f)
{
	size_t plen = strlen(param), n = strlen(f);
	char *tok = malloc(plen + n + 4);

	if (!tok) {
		b->oom = true;
		return;
	}
	memcpy(tok, param, plen);
	memcpy(tok + plen, "=\"", 2);
	memcpy(tok + plen + 2, f, n);
	tok[plen + 2 + n] = '"';
	hb_item(b, " ", 1, tok, plen + n + 3, "");
	free(tok);
}

/* RFC 2231 attribute-char: what may stand unescaped in param*=. */
static bool attr_char(unsigned char c)
{
	return c > 32 && c < 127 && !strchr("*'%()<>@,;:\\\"/[]?=", c);
}

static size_t pct_len(const unsigned char *s, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		len += attr_char(s[i]) ? 1 : 3;
	return len;
}

static char *pct_put(char *o, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		if (attr_char(s[i])) {
			*o++ = (char)s[i];
		} else {
			*o++ = '%';
			*o++ = hex[s[i] >> 4];
			*o++ = hex[s[i] & 15];
		}
	}
	return o;
}

/* Bytes of s, in whole characters, whose percent form fits in cap: at
 * least one character. Sections are decoded one by one by some readers
 * (Python's among them), so a character never straddles two. */
static size_t pct_take(const unsigned char *s, size_t n, size_t cap)
{
	size_t used = utf8_len(s, n), cost = pct_len(s, used);

	while (used < n) {
		size_t c = utf8_len(s + used, n - used);
		size_t cc = pct_len(s + used, c);

		if (cost + cc > cap)
			break;
		used += c;
		cost += cc;
	}
	return used;
}

/* Lays out param*=UTF-8''... on one line, or as param*0*=UTF-8''...;
 * param*1*=...; sections of at most one line each (" " + section + ";"
 * within HDR_LINE). */
static void put_2231(struct hbuf *b, const char *param, const char *f)
{
	const unsigned char *s = (const unsigned char *)f;
	size_t n = strlen(f), plen = strlen(param);
	char *tok = malloc(plen + 3 * n + 32), *o;
	bool one = 1 + plen + 9 + pct_len(s, n) <= HDR_LINE;

	if (!tok) {
		b->oom = true;
		return;
	}
	for (unsigned sec = 0; n > 0 || sec == 0; sec++) {
		int head = one ? snprintf(tok, plen + 32, "%s*=", param)
			       : snprintf(tok, plen + 32, "%s*%u*=", param, sec);
		size_t hlen = (size_t)head, cap, take;

		if (sec == 0) {
			memcpy(tok + hlen, "UTF-8''", 7);
			hlen += 7;
		}
		cap = HDR_LINE - 2 > hlen ? HDR_LINE - 2 - hlen : 0;
		take = one ? n : (n ? pct_take(s, n, cap) : 0);
		o = pct_put(tok + hlen, s, take);
		s += take;
		n -= take;
		hb_item(b, " ", 1, tok, (size_t)(o - tok), n > 0 ? ";" : "");
	}
	free(tok);
}

/* param="=?UTF-8?B?...?= =?UTF-8?B?...?=": RFC 2047 words inside a
 * quoted-string, as the big mail clients write Content-Type's name;
 * folded between words, each line within EW_LINE. */
static void put_2047_param(struct hbuf *b, const char *param, const char *f)
{
	const unsigned char *s = (const unsigned char *)f;
	size_t n = strlen(f), plen = strlen(param);
	char *tok = malloc(plen + EW_MAX + 8);

	if (!tok) {
		b->oom = true;
		return;
	}
	for (bool first = true; n > 0; first = false) {
		size_t pre = first ? plen + 2 : 0, len = pre;
		/* " " + pre + "=?UTF-8?B?" + payload + "?=" + "\"" */
		size_t cap = EW_LINE - 1 - pre - EW_OVER - 1;
		size_t take = ew_take(true, s, n, cap);

		if (first)
			snprintf(tok, plen + 3, "%s=\"", param);
		memcpy(tok + len, "=?UTF-8?B?", 10);
		len += 10;
		len += b64_encode(tok + len, s, take);
		memcpy(tok + len, "?=", 2);
		len += 2;
		s += take;
		n -= take;
		b->ew = true; /* the limit for this line is EW_LINE */
		hb_item(b, " ", 1, tok, len, n > 0 ? "" : "\"");
		b->ew = true;
	}
	free(tok);
}

/* Starts "Name: value;" and lays out the parameter: plain, or by form. */
static char *file_param(const char *name, const char *value, const char *param,
			const char *filename, bool rfc2231)
{
	struct hbuf b;
	char *f = utf8_clean(filename);

	if (!f)
		return NULL;
	hb_start(&b, name);
	hb_item(&b, " ", 1, value, strlen(value), ";");
	if (name_is_plain(f, strlen(param)))
		put_plain_param(&b, param, f);
	else if (rfc2231)
		put_2231(&b, param, f);
	else
		put_2047_param(&b, param, f);
	free(f);
	return hb_finish(&b);
}

char *hdr_file_param(const char *name, const char *value, const char *param,
		     const char *filename)
{
	return file_param(name, value, param, filename, true);
}

char *hdr_name_param(const char *name, const char *value, const char *param,
		     const char *filename)
{
	return file_param(name, value, param, filename, false);
}

int hdr_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > HDR_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 33 || s[i] > 126 || s[i] == ':')
			return 0;
	return 1;
}
