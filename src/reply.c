/* reply.c - strict parser for SMTP replies (RFC 5321 4.2, RFC 2034/3463).
 *
 * Every line is checked before any of it is kept: a server that sends
 * garbage must produce a protocol error, not a half-understood reply that
 * the engine then acts on. Memory stays bounded whatever the server sends:
 * the line count is capped and the kept text is truncated at REPLY_MAX_TEXT.
 */
#include "reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void reply_init(struct reply *r)
{
	memset(r, 0, sizeof *r);
}

void reply_reset(struct reply *r)
{
	r->code = 0;
	r->enhanced[0] = '\0';
	r->len = 0;
	r->nlines = 0;
	r->done = false;
	if (r->text)
		r->text[0] = '\0';
}

void reply_free(struct reply *r)
{
	free(r->text);
	reply_init(r);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 5321 allows only 2yz-5yz with y in 0-5; 1yz is never sent by SMTP. */
static int parse_code(const char *line, size_t len)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '5' || !is_digit(line[2]))
		return -1;
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

/* Length of a 1-3 digit run at s (0 if none or too long). */
static size_t digit_run(const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && is_digit(s[n]))
		n++;
	return n <= 3 ? n : 0;
}

/* Length of an enhanced status code "c.sss.ddd" at the start of text whose
 * class digit is cls, followed by a space or the end; 0 when there is none.
 * The class check keeps text such as "2.5 MB" from a 5yz reply intact. */
static size_t enhanced_len(const char *t, size_t len, char cls)
{
	size_t i, n;

	if (len < 5 || t[0] != cls || t[1] != '.')
		return 0;
	i = 2;
	n = digit_run(t + i, len - i);
	if (n == 0 || i + n >= len || t[i + n] != '.')
		return 0;
	i += n + 1;
	n = digit_run(t + i, len - i);
	if (n == 0)
		return 0;
	i += n;
	if (i < len && t[i] != ' ')
		return 0;
	return i;
}

/* Reply text is shown to the user and written to logs and JSON: a control
 * byte in it is either an attack on those or a broken server. Bytes >= 0x80
 * are allowed because RFC 6531 servers may send UTF-8 text. */
static int check_text(const char *t, size_t len, struct error *err,
		      const char *line, size_t line_len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)t[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			err_set(err, ERR_PROTOCOL,
				"server sent a control byte (0x%02x) in a reply", c);
			err_reply(err, line, line_len);
			return -1;
		}
	}
	return 0;
}

/* Appends one line of text, joined by '\n', truncating at REPLY_MAX_TEXT
 * so that a huge reply costs at most that much memory. */
static int append_text(struct reply *r, const char *t, size_t len,
		       struct error *err)
{
	size_t room, need;

	if (!r->text || r->cap == 0) {
		r->cap = 256;
		r->text = malloc(r->cap);
		if (!r->text) {
			r->cap = 0;
			return err_set(err, ERR_OSERR, "out of memory");
		}
		r->text[0] = '\0';
	}
	need = r->nlines > 1 ? 1 + len : len;
	room = REPLY_MAX_TEXT - r->len;
	if (need > room)
		need = room;
	if (r->len + need + 1 > r->cap) {
		size_t cap = r->cap;
		char *p;

		while (cap < r->len + need + 1)
			cap *= 2;
		if (cap > REPLY_MAX_TEXT + 1)
			cap = REPLY_MAX_TEXT + 1;
		p = realloc(r->text, cap);
		if (!p)
			return err_set(err, ERR_OSERR, "out of memory");
		r->text = p;
		r->cap = cap;
	}
	if (need > 0 && r->nlines > 1) {
		r->text[r->len++] = '\n';
		need--;
	}
	memcpy(r->text + r->len, t, need);
	r->len += need;
	r->text[r->len] = '\0';
	return 0;
}

/* Takes the enhanced code from the first line, and drops the same code
 * from continuation lines (RFC 2034 repeats it on each line), so that the
 * kept text reads as prose. Advances *t and shrinks *len. */
static void take_enhanced(struct reply *r, const char **t, size_t *len)
{
	size_t n = enhanced_len(*t, *len, (char)('0' + r->code / 100));

	if (n == 0)
		return;
	if (r->nlines == 1) {
		memcpy(r->enhanced, *t, n);
		r->enhanced[n] = '\0';
	} else if (strlen(r->enhanced) != n || memcmp(r->enhanced, *t, n) != 0) {
		return;
	}
	*t += n;
	*len -= n;
	while (*len > 0 && **t == ' ') {
		(*t)++;
		(*len)--;
	}
}

static int malformed(struct error *err, const char *why, const char *line,
		     size_t len)
{
	err_set(err, ERR_PROTOCOL, "server sent a malformed reply line (%s)", why);
	err_reply(err, line, len);
	return -1;
}

int reply_feed(struct reply *r, const char *line, size_t len, struct error *err)
{
	const char *t;
	size_t tlen;
	bool last;
	int code;

	if (r->done)
		reply_reset(r);
	code = parse_code(line, len);
	if (code < 0)
		return malformed(err, len < 3 ? "too short" : "no valid reply code",
				 line, len);
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return malformed(err, "no space or hyphen after the code", line, len);
	last = len == 3 || line[3] == ' ';
	t = len > 3 ? line + 4 : line + 3;
	tlen = len > 3 ? len - 4 : 0;
	if (check_text(t, tlen, err, line, len) < 0)
		return -1;
	if (r->nlines > 0 && code != r->code) {
		err_set(err, ERR_PROTOCOL, "reply code changed mid-reply (%d then %d)",
			r->code, code);
		err_reply(err, line, len);
		return -1;
	}
	if (r->nlines >= REPLY_MAX_LINES)
		return err_set(err, ERR_PROTOCOL,
			       "server sent a reply longer than %d lines",
			       REPLY_MAX_LINES);
	r->code = code;
	r->nlines++;
	take_enhanced(r, &t, &tlen);
	if (append_text(r, t, tlen, err) < 0)
		return -1;
	r->done = last;
	return last ? 1 : 0;
}

/* Where to cut out[start..o) when the byte that did not fit (next) is
 * a UTF-8 continuation: drop the incomplete sequence, never emit half. */
static size_t utf8_cut(const char *out, size_t start, size_t o, char next)
{
	if (((unsigned char)next & 0xc0) != 0x80)
		return o;
	while (o > start && ((unsigned char)out[o - 1] & 0xc0) == 0x80)
		o--;
	if (o > start && (unsigned char)out[o - 1] >= 0xc0)
		o--;
	return o;
}

void reply_oneline(const struct reply *r, char *buf, size_t size)
{
	size_t o, i, start;
	int n;

	if (size == 0)
		return;
	n = snprintf(buf, size, "%03d%s%s", r->code, r->enhanced[0] ? " " : "",
		     r->enhanced);
	o = n < 0 ? 0 : (size_t)n;
	if (o >= size) {
		buf[size - 1] = '\0';
		return;
	}
	if (r->text && r->len > 0 && o + 1 < size)
		buf[o++] = ' ';
	start = o;
	for (i = 0; r->text && i < r->len && o + 1 < size; i++) {
		if (r->text[i] != '\n') {
			buf[o++] = r->text[i];
		} else if (o + 3 < size) {
			memcpy(buf + o, " / ", 3);
			o += 3;
		} else {
			break;
		}
	}
	if (r->text && i < r->len)
		o = utf8_cut(buf, start, o, r->text[i]);
	buf[o] = '\0';
}
