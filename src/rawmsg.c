/* rawmsg.c - a ready RFC 5322 message, read line by line from its file. */
#include "rawmsg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "header.h"
#include "msgread.h"

#define FIELD_MAX (4u << 20) /* one header field, unfolded */

/* Reads the file as lines, in blocks; memory stays one block. */
struct lines {
	struct msg_in in; /* never read past its measured size */
	uint64_t off;     /* file offset of buf[0] */
	size_t pos, len;
	unsigned lineno;
	struct error *err;
	unsigned char buf[65536];
	char line[1000];  /* the current line, without its line end */
	size_t n;
};

static int fill(struct lines *l)
{
	ssize_t got;

	l->off += l->len;
	l->pos = l->len = 0;
	got = msg_read_input(&l->in, l->buf, sizeof l->buf, l->off, l->err);
	if (got < 0)
		return -1;
	l->len = (size_t)got;
	return 0;
}

/* Returns 1 with the next line in l->line, 0 at the end, -1 on error. */
static int next_line(struct lines *l)
{
	bool any = false;

	l->n = 0;
	l->lineno++;
	for (;;) {
		if (l->pos == l->len) {
			if (fill(l) < 0)
				return -1;
			if (l->len == 0 && l->n && l->line[l->n - 1] == '\r')
				return err_set(l->err, ERR_DATA, "line %u of the message file holds a lone carriage return", l->lineno);
			if (l->len == 0)
				return any ? 1 : 0;
		}
		unsigned char c = l->buf[l->pos++];
		any = true;
		if (c == '\n') {
			if (l->n && l->line[l->n - 1] == '\r')
				l->n--;
			return 1;
		}
		if (l->n && l->line[l->n - 1] == '\r')
			return err_set(l->err, ERR_DATA, "line %u of the message file holds a lone carriage return", l->lineno);
		if (c == 0)
			return err_set(l->err, ERR_DATA, "line %u of the message file holds a NUL byte", l->lineno);
		if (l->n == 999 || (l->n == 998 && c != '\r')) /* room for the CR of CRLF only */
			return err_set(l->err, ERR_DATA, "line %u of the message file is longer than 998 octets", l->lineno);
		l->line[l->n++] = (char)c;
	}
}

static void lines_init(struct lines *l, const struct message *m, struct error *err)
{
	memset(l, 0, offsetof(struct lines, buf));
	l->in = (struct msg_in){m->message_fd, m->message_size, m->message_mtime, m->message_file};
	l->err = err;
}

/* The length of the field name when the line s (n bytes) starts a header
 * field, else 0: a name of printable ASCII but the colon (RFC 5322 3.6.8),
 * then the colon, after white space in the obsolete form (4.5). *colon
 * gets the colon's index. */
static size_t field_name(const char *s, size_t n, size_t *colon)
{
	size_t i = 0, len;

	while (i < n && (unsigned char)s[i] > ' ' && (unsigned char)s[i] < 0x7f && s[i] != ':')
		i++;
	len = i;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (len == 0 || i == n || s[i] != ':')
		return 0;
	*colon = i;
	return len;
}

/* Whether the line s (n bytes) starts a field called name, in any case. */
/* What raw_scan read is not what is being sent. */
static int changed(const struct lines *l)
{
	return err_set(l->err, ERR_DATA, "%s changed while it was being sent; nothing was sent",
		       l->in.what);
}

static bool has_8bit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

static bool field_is(const char *s, size_t n, const char *name)
{
	size_t colon, len = field_name(s, n, &colon);

	return len && len == strlen(name) && strncasecmp(s, name, len) == 0;
}

/* Fields that name hidden recipients: never sent (RFC 5322 3.6.3, 3.6.6). */
static bool field_is_hidden(const char *s, size_t n)
{
	return field_is(s, n, "Bcc") || field_is(s, n, "Resent-Bcc");
}

/* RFC 5322 groups ("Friends: a@x, b@y;", "undisclosed-recipients:;")
 * rewritten in place as a plain list: each group's display name and
 * colon become blanks and its closing semicolon a comma, so that every
 * member is a recipient and an empty group gives none. Colons and
 * semicolons inside quotes, comments and angle brackets (routes) stay. */
static void ungroup(char *v)
{
	char *item = v;  /* where the current list item starts */
	bool quoted = false, in_group = false;
	int comment = 0, angle = 0;

	for (char *p = v; *p; p++) {
		if (quoted) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				quoted = false;
		} else if (comment) {
			if (*p == '\\' && p[1])
				p++;
			else
				comment += *p == '(' ? 1 : *p == ')' ? -1 : 0;
		} else if (*p == '"') {
			quoted = true;
		} else if (*p == '(') {
			comment = 1;
		} else if (*p == '<') {
			angle++;
		} else if (*p == '>' && angle) {
			angle--;
		} else if (angle) {
			continue;
		} else if (*p == ':' && !in_group) {
			memset(item, ' ', (size_t)(p - item + 1));
			in_group = true;
			item = p + 1;
		} else if (*p == ';' && in_group) {
			*p = ',';
			in_group = false;
			item = p + 1;
		} else if (*p == ',') {
			item = p + 1;
		}
	}
}

/* Takes what one unfolded header field gives the envelope. */
static int take_field(struct message *m, char *f, bool want_rcpts, struct error *err)
{
	static const char *const names[] = {"To", "Cc", "Bcc"};
	struct addr_list *lists[] = {&m->to, &m->cc, &m->bcc};
	size_t n = strlen(f);
	char *v = strchr(f, ':') + 1;

	m->raw_has_date |= field_is(f, n, "Date");
	m->raw_has_id |= field_is(f, n, "Message-ID");
	if (field_is(f, n, "From")) {
		m->raw_has_from = true;
		if (!m->have_from && addr_parse(&m->from, v, err) < 0)
			goto bad;
		m->have_from = true;
	}
	for (int i = 0; want_rcpts && i < 3; i++) {
		/* the file's own header goes out as it is: names are not needed */
		lists[i]->mailboxes_only = true;
		if (field_is(f, n, names[i])) {
			ungroup(v);
			if (addr_parse_list(lists[i], v, err) < 0)
				goto bad;
		}
	}
	return 0;
bad:
	/* A bad address in a ready message is bad data, not bad usage. */
	err->cls = ERR_DATA;
	{
		static const char where[] = " (in the message file)";
		size_t end = strnlen(err->text, sizeof err->text - sizeof where);

		memcpy(err->text + end, where, sizeof where);
	}
	return -1;
}

struct field {
	char *buf;
	size_t len, cap;
};

static int field_add(struct field *f, const char *s, size_t n, struct error *err)
{
	if (f->len + n + 1 > f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 1024;
		char *p;

		while (cap < f->len + n + 1)
			cap *= 2;
		if (cap > FIELD_MAX)
			return err_set(err, ERR_DATA, "a header field of the message file is longer than %u bytes", FIELD_MAX);
		if (!(p = realloc(f->buf, cap)))
			return err_set(err, ERR_OSERR, "out of memory");
		f->buf = p;
		f->cap = cap;
	}
	memcpy(f->buf + f->len, s, n);
	f->len += n;
	f->buf[f->len] = '\0';
	return 0;
}

static int scan_headers(struct message *m, struct lines *l, struct error *err)
{
	bool want_rcpts = m->to.n + m->cc.n + m->bcc.n == 0;
	struct field f = {0};
	int rc;

	while ((rc = next_line(l)) == 1) {
		size_t colon;

		if (l->n && (l->line[0] == ' ' || l->line[0] == '\t') && f.len) {
			rc = field_add(&f, l->line, l->n, err);
		} else {
			if (f.len && (rc = take_field(m, f.buf, want_rcpts, err)) < 0)
				break;
			f.len = 0;
			if (l->n == 0)
				break;
			if (!field_name(l->line, l->n, &colon)) {
				rc = err_set(err, ERR_DATA, "line %u of the message file is not a header field (\"Name: value\", the name printable ASCII without spaces)", l->lineno);
				break;
			}
			rc = field_add(&f, l->line, l->n, err);
		}
		if (rc < 0)
			break;
	}
	if (rc == 0 && f.len)
		rc = take_field(m, f.buf, want_rcpts, err);
	free(f.buf);
	return rc < 0 ? -1 : 0;
}

int raw_scan(struct message *m, struct error *err)
{
	struct lines *l = malloc(sizeof *l);
	int rc;

	if (!l)
		return err_set(err, ERR_OSERR, "out of memory");
	lines_init(l, m, err);
	rc = scan_headers(m, l, err);
	while (rc >= 0 && (rc = next_line(l)) == 1)
		m->eightbit |= has_8bit(l->line, l->n);
	free(l);
	return rc < 0 ? -1 : 0;
}

static int put_line(struct sink *out, const char *s, size_t n)
{
	if (sink_write(out, s, n) < 0)
		return -1;
	return sink_write(out, "\r\n", 2);
}

/* The fields a ready message lacks, in front of its own: Date,
 * Message-ID and From (the sender from --from or the configuration). */
static int put_missing(const struct message *m, struct sink *out)
{
	char buf[400], *from;
	int rc = 0;

	if (!m->raw_has_date) {
		snprintf(buf, sizeof buf, "Date: %s", m->date);
		rc = put_line(out, buf, strlen(buf));
	}
	if (rc == 0 && !m->raw_has_id) {
		snprintf(buf, sizeof buf, "Message-ID: %s", m->message_id);
		rc = put_line(out, buf, strlen(buf));
	}
	if (rc < 0 || m->raw_has_from)
		return rc;
	if (!(from = hdr_addresses("From", &m->from, 1)))
		return err_set(out->err, ERR_OSERR, "out of memory");
	rc = sink_puts(out, from);
	free(from);
	return rc;
}

/* Header lines pass unless they belong to a Bcc or Resent-Bcc field;
 * 1 = send the line, 0 = drop it, -1 = the file is not what raw_scan
 * read (it changed under us). */
static int header_line(struct lines *l, bool *in_headers, bool *skipping)
{
	size_t colon;

	if (l->n == 0) {
		*in_headers = *skipping = false;
		return 1;
	}
	if (l->line[0] != ' ' && l->line[0] != '\t') {
		if (!field_name(l->line, l->n, &colon))
			return changed(l);
		*skipping = field_is_hidden(l->line, l->n);
	}
	return !*skipping;
}

int raw_write(const struct message *m, struct sink *out)
{
	struct lines *l = malloc(sizeof *l);
	bool in_headers = true, skipping = false;
	int rc;

	if (!l)
		return err_set(out->err, ERR_OSERR, "out of memory");
	lines_init(l, m, out->err);
	rc = put_missing(m, out);
	while (rc == 0 && (rc = next_line(l)) == 1) {
		/* BODY=8BITMIME or not was decided from raw_scan's reading. */
		if (!in_headers && !m->eightbit && has_8bit(l->line, l->n))
			rc = changed(l);
		else
			rc = in_headers ? header_line(l, &in_headers, &skipping) : 1;
		if (rc == 1)
			rc = put_line(out, l->line, l->n);
	}
	free(l);
	return rc < 0 ? -1 : 0;
}
