/* address.c - e-mail addresses as users type them.
 *
 * The mailbox is checked against what RFC 5321 (with RFC 6531 for UTF-8)
 * can carry in MAIL FROM / RCPT TO, because it goes on the wire verbatim:
 * anything that could end the command early or add parameters to it must
 * be refused here, not by the server.
 */
#include "address.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "printable.h"
#include "utf8.h"

#define MAILBOX_MAX 254 /* RFC 5321 path of 256 octets, less "<" and ">" */
#define DOMAIN_MAX 255
#define LABEL_MAX 63
#define SHOW_MAX 80     /* input octets quoted in an error message */

__attribute__((format(printf, 3, 4)))
static int bad(struct error *err, const char *text, const char *fmt, ...)
{
	char shown[SHOW_MAX * 4 + 8], why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	/* shown between quotes: the quote and backslash escaped too */
	printable_quote(shown, sizeof shown, text, SHOW_MAX, true);
	return err_set(err, ERR_USAGE, "malformed address \"%s\": %s", shown, why);
}

/* Control bytes are checked over the whole input first, so that a CR/LF
 * is reported as such rather than as some later syntax error. */
static int check_bytes(const char *text, struct error *err)
{
	const unsigned char *p = (const unsigned char *)text;

	while (*p) {
		if (*p == '\r')
			return bad(err, text, "it contains a carriage return (\\r)");
		if (*p == '\n')
			return bad(err, text, "it contains a line feed (\\n)");
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return bad(err, text, "it contains a control character (\\x%02x)", *p);
		if (*p < 0x80) {
			p++;
			continue;
		}
		/* strnlen: a sequence cut by the NUL is invalid, as it should be */
		size_t n = utf8_decode(p, strnlen((const char *)p, 4), NULL);
		if (!n)
			return bad(err, text, "it is not valid UTF-8");
		p += n;
	}
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void trim(const char **s, const char **e)
{
	while (*s < *e && is_blank(**s))
		(*s)++;
	while (*e > *s && is_blank((*e)[-1]))
		(*e)--;
}

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 atext, plus UTF-8 (already validated) per RFC 6532. */
static bool is_atext(unsigned char c)
{
	return is_alnum(c) || c >= 0x80 || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* Why c can't stand in a mailbox, for the messages. */
static int bad_char(struct error *err, const char *text, unsigned char c, const char *where)
{
	if (c == ' ' || c == '\t')
		return bad(err, text, "a space in the mailbox");
	if (c == '<' || c == '>')
		return bad(err, text, "\"%c\" inside the mailbox", c);
	return bad(err, text, "character \"%c\" is not allowed in the %s", c, where);
}

/* Quoted local part: "john doe"@example.com (RFC 5321 Quoted-string). */
static int check_quoted_local(const char *s, const char *at, const char *text,
	struct error *err)
{
	const char *p = s + 1;

	if (at == s)
		return bad(err, text, "unterminated quoted local part");
	if (at - s < 2 || at[-1] != '"')
		return bad(err, text, "the quoted local part must be followed by \"@\"");
	if (at - s == 2)
		return bad(err, text, "the quoted local part is empty");
	for (; p < at - 1; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\\') {
			if (++p == at - 1)
				return bad(err, text, "unterminated quoted local part");
			c = (unsigned char)*p;
		} else if (c == '"') {
			return bad(err, text, "the quoted local part must be followed by \"@\"");
		}
		if (c == '<' || c == '>')
			return bad_char(err, text, c, "local part");
		if (c < 0x20) /* the only control byte check_bytes lets through */
			return bad(err, text, "a tab in the quoted local part");
	}
	return 0;
}

static int check_local(const char *s, const char *at, const char *text, struct error *err)
{
	if (*s == '"')
		return check_quoted_local(s, at, text, err);
	if (s == at)
		return bad(err, text, "no local part before \"@\"");
	for (const char *p = s; p < at; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '.') {
			if (p == s || p[-1] == '.' || p + 1 == at)
				return bad(err, text, "the local part has a leading, trailing or double \".\"");
		} else if (c == '"') {
			return bad(err, text, "a quote in the middle of the local part");
		} else if (!is_atext(c)) {
			return bad_char(err, text, c, "local part");
		}
	}
	return 0;
}

/* [192.0.2.1] or [IPv6:2001:db8::1]; general literals (tag:text) have no
 * use for a sender and are refused. */
static int check_literal(const char *s, const char *e, const char *text, struct error *err)
{
	char buf[64];
	unsigned char addr[16];
	size_t len = (size_t)(e - s);

	if (e[-1] != ']' || len < 3 || len - 2 >= sizeof buf)
		return bad(err, text, "invalid address literal");
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, buf + 5, addr) == 1)
			return 0;
	} else if (inet_pton(AF_INET, buf, addr) == 1) {
		return 0;
	}
	return bad(err, text, "invalid address literal");
}

static int check_label(const char *s, const char *e, const char *text, struct error *err)
{
	if (s == e)
		return bad(err, text, "the domain has an empty label (leading, trailing or double \".\")");
	if (e - s > LABEL_MAX)
		return bad(err, text, "a domain label is longer than %d octets", LABEL_MAX);
	if (*s == '-' || e[-1] == '-')
		return bad(err, text, "a domain label starts or ends with \"-\"");
	for (const char *p = s; p < e; p++) {
		unsigned char c = (unsigned char)*p;
		if (!is_alnum(c) && c != '-' && c < 0x80)
			return bad_char(err, text, c, "domain");
	}
	return 0;
}

static int check_domain(const char *s, const char *e, const char *text, struct error *err)
{
	if (s == e)
		return bad(err, text, "no domain after \"@\"");
	if (*s == '[')
		return check_literal(s, e, text, err);
	if (e - s > DOMAIN_MAX)
		return bad(err, text, "the domain is longer than %d octets", DOMAIN_MAX);
	for (const char *l = s;;) {
		const char *dot = memchr(l, '.', (size_t)(e - l));
		const char *end = dot ? dot : e;
		if (check_label(l, end, text, err) < 0)
			return -1;
		if (!dot)
			return 0;
		l = dot + 1;
	}
}

/* The '@' that ends the local part: after a quoted local part, else the
 * first one. NULL when there is none. */
static const char *find_at(const char *s, const char *e)
{
	const char *p = s;

	if (p < e && *p == '"') {
		for (p++; p < e && *p != '"'; p++)
			if (*p == '\\' && p + 1 < e)
				p++;
		if (p == e)
			return s; /* unterminated: let check_quoted_local say so */
	}
	return memchr(p, '@', (size_t)(e - p));
}

/* "a@x.com; b@y.com" or "a@x.com b@y.com": a list written the way other
 * mail programs take it, where envoi wants commas. */
static bool looks_like_two(const char *s, const char *e)
{
	for (; s < e && *s != '@'; s++)
		if (*s == ';' || *s == ' ' || *s == '\t')
			return true;
	return false;
}

static int check_mailbox(const char *s, const char *e, const char *text, struct error *err)
{
	const char *at = find_at(s, e);

	if (s == e)
		return bad(err, text, "no mailbox inside \"<>\"");
	if (e - s > MAILBOX_MAX)
		return bad(err, text, "the mailbox is longer than %d octets", MAILBOX_MAX);
	if (!at)
		return bad(err, text, "no \"@\" and domain");
	if (check_local(s, at, text, err) < 0)
		return -1;
	if (memchr(at + 1, '@', (size_t)(e - at - 1)))
		return bad(err, text, "more than one \"@\"%s", looks_like_two(at + 1, e) ?
			   ": separate addresses with commas" : "");
	return check_domain(at + 1, e, text, err);
}

/* The '<' that opens the angle address: the first one outside quotes.
 * Sets *open when a quote is left unterminated. */
static const char *find_angle(const char *s, const char *e, bool *open)
{
	bool quoted = false;

	for (const char *p = s; p < e; p++) {
		if (quoted && *p == '\\' && p + 1 < e)
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == '<' && !quoted)
			return p;
	}
	*open = quoted;
	return NULL;
}

/* Unquotes a display name: quoted strings lose their quotes and escapes,
 * the rest is kept as typed. *name stays NULL when nothing is left. */
static int parse_name(char **name, const char *s, const char *e, const char *text,
	struct error *err)
{
	char *out = malloc((size_t)(e - s) + 1), *o = out;
	bool quoted = false;

	if (!out)
		return err_set(err, ERR_OSERR, "out of memory");
	for (const char *p = s; p < e; p++) {
		if (*p == '"') {
			quoted = !quoted;
			continue;
		}
		if (quoted && *p == '\\' && p + 1 < e)
			p++;
		else if (!quoted && *p == '>') {
			free(out);
			return bad(err, text, "\">\" before \"<\"");
		}
		*o++ = *p;
	}
	*o = '\0';
	if (o == out)
		free(out);
	else
		*name = out;
	return 0;
}

static int take_mailbox(struct address *a, const char *s, const char *e, struct error *err)
{
	a->mailbox = strndup(s, (size_t)(e - s));
	if (!a->mailbox) {
		addr_free(a);
		return err_set(err, ERR_OSERR, "out of memory");
	}
	return 0;
}

int addr_parse(struct address *a, const char *text, struct error *err)
{
	const char *s = text, *e = text + strlen(text), *lt, *gt;
	bool open = false;

	a->name = a->mailbox = NULL;
	if (check_bytes(text, err) < 0)
		return -1;
	trim(&s, &e);
	if (s == e)
		return bad(err, text, "it is empty");
	lt = find_angle(s, e, &open);
	if (open)
		return bad(err, text, "unterminated quoted string");
	if (!lt) {
		if (check_mailbox(s, e, text, err) < 0)
			return -1;
		return take_mailbox(a, s, e, err);
	}
	gt = memchr(lt + 1, '>', (size_t)(e - lt - 1));
	if (!gt)
		return bad(err, text, "no closing \">\"");
	if (check_mailbox(lt + 1, gt, text, err) < 0)
		return -1;
	if (gt + 1 != e)
		return bad(err, text, "unexpected text after \">\"");
	e = lt;
	trim(&s, &e);
	if (parse_name(&a->name, s, e, text, err) < 0)
		return -1;
	return take_mailbox(a, lt + 1, gt, err);
}

/* End of the list item at p: the first ',' outside quotes and "<>". */
static const char *item_end(const char *p)
{
	bool quoted = false, angle = false;

	for (; *p; p++) {
		if (quoted) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				quoted = false;
		} else if (*p == '"') {
			quoted = true;
		} else if (*p == '<') {
			angle = true;
		} else if (*p == '>') {
			angle = false;
		} else if (*p == ',' && !angle) {
			break;
		}
	}
	return p;
}

/* Room for need more bytes of text and one more entry. The text grows by
 * doubling: past glibc's mmap threshold that is mremap, and pages not yet
 * written cost no memory. */
static int list_reserve(struct addr_list *l, size_t need)
{
	if (need > UINT32_MAX - l->used)
		return -1; /* the offsets are 32 bits: 4 GiB of addresses */
	if (l->used + need > l->size) {
		size_t size = l->size ? l->size : 256;
		char *text;

		while (size < l->used + need)
			size *= 2;
		if (!(text = realloc(l->text, size)))
			return -1;
		l->text = text;
		l->size = size;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		uint32_t *off = realloc(l->off, cap * sizeof *off);

		if (!off)
			return -1;
		l->off = off;
		l->cap = cap;
	}
	return 0;
}

/* Appends a copy of mailbox and name (NULL: none). Returns 0 or -1. */
static int list_push(struct addr_list *l, const char *mailbox, const char *name)
{
	size_t mlen = strlen(mailbox) + 1, nlen = name ? strlen(name) + 1 : 1;

	if (list_reserve(l, mlen + nlen) < 0)
		return -1;
	l->off[l->n++] = (uint32_t)l->used;
	memcpy(l->text + l->used, mailbox, mlen);
	l->used += mlen;
	memcpy(l->text + l->used, name ? name : "", nlen);
	l->used += nlen;
	return 0;
}

static void list_truncate(struct addr_list *l, size_t n)
{
	if (n < l->n) {
		l->used = l->off[n];
		l->n = n;
	}
}

static bool all_blank(const char *s, const char *e)
{
	trim(&s, &e);
	return s == e;
}

/* Parses the item from s to e and appends it to l. Returns 0 or -1. */
static int push_item(struct addr_list *l, const char *s, const char *e, struct error *err)
{
	struct address a;
	char *item = strndup(s, (size_t)(e - s));
	int rc;

	if (!item)
		return err_set(err, ERR_OSERR, "out of memory");
	rc = addr_parse(&a, item, err);
	free(item);
	if (rc < 0)
		return -1;
	if (list_push(l, a.mailbox, l->mailboxes_only ? NULL : a.name) < 0)
		rc = err_set(err, ERR_OSERR, "out of memory (or 4 GiB of addresses)");
	addr_free(&a);
	return rc;
}

int addr_parse_list(struct addr_list *l, const char *text, struct error *err)
{
	size_t keep = l->n;

	for (const char *p = text; *p;) {
		const char *end = item_end(p);

		if (!all_blank(p, end) && push_item(l, p, end, err) < 0) {
			list_truncate(l, keep);
			return -1;
		}
		p = *end ? end + 1 : end;
	}
	return 0;
}

const char *addr_domain(const struct address *a)
{
	/* a quoted local part may hold '@', a domain never does */
	const char *at = strrchr(a->mailbox, '@');

	return at ? at + 1 : "";
}

bool addr_mailbox_is_ascii(const struct address *a)
{
	for (const unsigned char *p = (const unsigned char *)a->mailbox; *p; p++)
		if (*p >= 0x80)
			return false;
	return true;
}

int addr_list_add(struct addr_list *l, const struct address *a)
{
	return list_push(l, a->mailbox, a->name);
}

const char *addr_list_mailbox(const struct addr_list *l, size_t i)
{
	return l->text + l->off[i];
}

const char *addr_list_name(const struct addr_list *l, size_t i)
{
	const char *mailbox = addr_list_mailbox(l, i), *name = mailbox + strlen(mailbox) + 1;

	return *name ? name : NULL;
}

struct address addr_list_at(const struct addr_list *l, size_t i)
{
	/* the cast: struct address owns its strings elsewhere; here it is a view */
	return (struct address){.name = (char *)addr_list_name(l, i),
				.mailbox = (char *)addr_list_mailbox(l, i)};
}

void addr_free(struct address *a)
{
	free(a->name);
	free(a->mailbox);
	a->name = a->mailbox = NULL;
}

void addr_list_free(struct addr_list *l)
{
	free(l->text);
	free(l->off);
	memset(l, 0, sizeof *l);
}
