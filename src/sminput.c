/* sminput.c - standard input of sendmail mode into a ready message. */
#include "sminput.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "header.h"
#include "message.h"

#define HEADER_MAX (8u << 20) /* the whole header section */
/* The addr-spec spans of one address-list value, in order: as many as
 * it holds (a -t Bcc field may list thousands; none may be lost). */
struct spans {
	size_t (*at)[2];
	size_t n, cap;
	bool failed;  /* out of memory: the caller gives up */
};

struct item {
	size_t first, last;      /* bare token span, first == SIZE_MAX: none */
	size_t ang_start, ang_end;
	bool has_angle;
};

static void item_reset(struct item *it)
{
	*it = (struct item){.first = SIZE_MAX};
}

static void item_end(const char *v, struct item *it, struct spans *s)
{
	size_t a = it->has_angle ? it->ang_start : it->first;
	size_t b = it->has_angle ? it->ang_end : it->last;

	while (a < b && isspace((unsigned char)v[a]))
		a++;
	while (b > a && isspace((unsigned char)v[b - 1]))
		b--;
	if (a != SIZE_MAX && a < b && s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		size_t (*at)[2] = realloc(s->at, cap * sizeof *at);

		if (at)
			s->at = at, s->cap = cap;
		s->failed |= !at;
	}
	if (a != SIZE_MAX && a < b && s->n < s->cap) {
		s->at[s->n][0] = a;
		s->at[s->n++][1] = b;
	}
	item_reset(it);
}

/* Quotes, comments (nested), angle brackets and group syntax, as RFC
 * 5322 3.4 has them; commas split only outside all of them. */
static void find_spans(const char *v, struct spans *s)
{
	struct item it;
	bool quote = false, angle = false;
	int depth = 0;

	item_reset(&it);
	for (size_t i = 0;; i++) {
		char c = v[i];

		if (c && (quote || depth) && c == '\\' && v[i + 1]) {
			i++;
		} else if (c && quote) {
			quote = c != '"';
		} else if (c && depth) {
			depth += c == '(' ? 1 : c == ')' ? -1 : 0;
			continue;
		} else if (c == '(') {
			depth = 1;
			continue;
		} else if (c == '<' && !angle) {
			angle = true;
			it.ang_start = i + 1;
			continue;
		} else if (c == '>' && angle) {
			angle = false;
			it.ang_end = i;
			it.has_angle = true;
			continue;
		} else if (angle && c) {
			continue;
		} else if (c == ':' && !it.has_angle) {
			item_reset(&it); /* a group's name */
			continue;
		} else if (c == ',' || c == ';' || !c) {
			item_end(v, &it, s);
			if (!c)
				return;
			continue;
		} else if (isspace((unsigned char)c)) {
			continue;
		} else if (c == '"') {
			quote = true;
		}
		if (it.first == SIZE_MAX)
			it.first = i;
		it.last = i + 1;
	}
}

static bool has_at(const char *v, size_t a, size_t b)
{
	return memchr(v + a, '@', b - a) != NULL;
}

char *smin_complete(const char *value, const char *domain, char ***addrs, size_t *naddrs)
{
	struct spans sp = {0}, *s = &sp;
	size_t dlen = domain ? strlen(domain) : 0, len = strlen(value), o = 0, from = 0;
	char *out;

	find_spans(value, s);
	out = s->failed ? NULL : malloc(len + s->n * (dlen + 1) + 1);
	for (size_t i = 0; out && i < s->n; i++) {
		size_t a = s->at[i][0], b = s->at[i][1];

		if (addrs) {
			char **v = realloc(*addrs, (*naddrs + 1) * sizeof *v);

			if (v && (v[*naddrs] = strndup(value + a, b - a)))
				*addrs = v, (*naddrs)++;
		}
		if (!dlen || has_at(value, a, b))
			continue;
		memcpy(out + o, value + from, b - from);
		o += b - from;
		out[o++] = '@';
		memcpy(out + o, domain, dlen);
		o += dlen;
		from = b;
	}
	if (out) {
		memcpy(out + o, value + from, len - from);
		out[o + len - from] = '\0';
	}
	free(s->at);
	return out;
}

void smin_result_free(struct smin_result *r)
{
	for (size_t i = 0; i < r->nrcpts; i++)
		free(r->rcpts[i]);
	free(r->rcpts);
	memset(r, 0, sizeof *r);
}

struct text {
	char *p;
	size_t len, cap;
};

static int text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4096;
		char *p;

		while (cap < t->len + n + 1)
			cap *= 2;
		if (cap > HEADER_MAX * 2 || !(p = realloc(t->p, cap)))
			return -1;
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
	return 0;
}

struct reader {
	const struct smin_opts *o;
	struct smin_result *r;
	struct text head;           /* the header section as it will go */
	struct text field, raw;     /* the current field: unfolded, as read */
	char **set[2];              /* recipients: plain, Resent- */
	size_t nset[2];
	bool resent, has_date, has_id;
	struct error *err;
};

static bool name_is(const char *f, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(f, name, n) == 0;
}

static int field_done(struct reader *rd)
{
	const char *f = rd->field.p, *colon = f ? strchr(f, ':') : NULL;
	static const char *const completed[] = {"From", "To", "Cc", "Reply-To"};
	static const char *const listed[] = {"To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"};
	size_t n;
	int rc = 0;

	if (!colon)
		return 0;
	for (n = (size_t)(colon - f); n && (f[n - 1] == ' ' || f[n - 1] == '\t'); n--)
		;
	rd->has_date |= name_is(f, n, "Date");
	rd->has_id |= name_is(f, n, "Message-ID");
	rd->r->had_from |= name_is(f, n, "From");
	rd->resent |= n > 7 && strncasecmp(f, "Resent-", 7) == 0;
	for (int i = 0; i < 6; i++)
		if (name_is(f, n, listed[i]))
			free(smin_complete(colon + 1, NULL, &rd->set[i >= 3], &rd->nset[i >= 3]));
	for (int i = 0; i < 4 && rd->o->domain; i++) {
		char *v;

		if (!name_is(f, n, completed[i]))
			continue;
		if (!(v = smin_complete(colon + 1, rd->o->domain, NULL, NULL)))
			return err_set(rd->err, ERR_OSERR, "out of memory");
		if (strcmp(v, colon + 1) != 0) {
			rc = text_add(&rd->head, f, (size_t)(colon - f) + 1) |
			     text_add(&rd->head, v, strlen(v)) | text_add(&rd->head, "\n", 1);
			free(v);
			rd->raw.len = 0;
			return rc ? err_set(rd->err, ERR_DATA, "the header section is too large") : 0;
		}
		free(v);
	}
	if (text_add(&rd->head, rd->raw.p, rd->raw.len) < 0)
		return err_set(rd->err, ERR_DATA, "the header section is too large");
	rd->raw.len = 0;
	return 0;
}

/* The length of line without its line end. */
static size_t content_len(const char *line, size_t n)
{
	if (n && line[n - 1] == '\n')
		n--;
	if (n && line[n - 1] == '\r')
		n--;
	return n;
}

static bool starts_field(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && (unsigned char)s[i] > ' ' && (unsigned char)s[i] < 0x7f && s[i] != ':')
		i++;
	while (i > 0 && i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i > 0 && i < n && s[i] == ':';
}

/* One header-section line. 1: still in the header, 0: it has ended
 * (the line, when not blank, is the first of the body), -1: error. */
static int header_line(struct reader *rd, const char *line, size_t n, bool first)
{
	size_t c = content_len(line, n);

	if ((line[0] == ' ' || line[0] == '\t') && rd->field.len && c) {
		if (text_add(&rd->field, line, c) < 0 || text_add(&rd->raw, line, n) < 0)
			return err_set(rd->err, ERR_DATA, "a header field is too large");
		return 1;
	}
	if (field_done(rd) < 0)
		return -1;
	rd->field.len = 0;
	if (first && c >= 5 && strncmp(line, "From ", 5) == 0)
		return 1; /* an mbox separator, as sendmail drops it */
	if (!starts_field(line, c))
		return 0;
	if (text_add(&rd->field, line, c) < 0 || text_add(&rd->raw, line, n) < 0)
		return err_set(rd->err, ERR_DATA, "a header field is too large");
	return 1;
}

static void format_id(const struct reader *rd, char *buf, size_t size)
{
	const struct address *s = rd->o->sender;
	const char *at = s && s->mailbox ? strrchr(s->mailbox, '@') : NULL;
	const char *domain = at ? at + 1 : rd->o->domain ? rd->o->domain : "localhost";
	unsigned char rnd[12] = {0};
	char hex[25];

	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		abort(); /* no randomness means ids that can collide */
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	snprintf(buf, size, "Message-ID: <%lld.%s@%.200s>\n", (long long)time(NULL), hex, domain);
}

/* Date, Message-ID and From in front of the message's own fields. */
static int put_missing(struct reader *rd, FILE *out)
{
	char line[400];
	char *from;

	if (!rd->has_date) {
		msg_format_date(line, sizeof line);
		fprintf(out, "Date: %s\n", line);
	}
	if (!rd->has_id) {
		format_id(rd, line, sizeof line);
		fputs(line, out);
	}
	if (rd->r->had_from || !rd->o->sender)
		return 0;
	if (!(from = hdr_addresses("From", rd->o->sender, 1)))
		return err_set(rd->err, ERR_OSERR, "out of memory");
	fputs(from, out);
	free(from);
	return 0;
}

static bool lone_dot(const char *line, size_t n)
{
	return content_len(line, n) == 1 && line[0] == '.';
}

/* Reads the header section; *line holds the first body line (or NULL). */
static int read_header(struct reader *rd, FILE *in, char **line, size_t *cap, ssize_t *n)
{
	bool first = true;
	int rc;

	while ((*n = getline(line, cap, in)) > 0) {
		if (rd->o->dot_ends && lone_dot(*line, (size_t)*n)) {
			*n = -1;
			break;
		}
		rc = header_line(rd, *line, (size_t)*n, first);
		first = false;
		if (rc <= 0)
			return rc;
	}
	return field_done(rd);
}

static void take_rcpts(struct reader *rd)
{
	int keep = rd->resent && rd->nset[1] ? 1 : 0;

	rd->r->rcpts = rd->set[keep];
	rd->r->nrcpts = rd->nset[keep];
	for (size_t i = 0; i < rd->nset[!keep]; i++)
		free(rd->set[!keep][i]);
	free(rd->set[!keep]);
}

/* SMTP carries lines of at most 998 octets: a longer body line (a cron
 * job's progress output) is broken, as Postfix does, rather than the
 * whole message refused. Never inside a UTF-8 character. */
static void put_body_line(FILE *out, const char *line, size_t n)
{
	size_t c = content_len(line, n);

	while (c > 998) {
		size_t cut = 998;

		while (cut > 990 && ((unsigned char)line[cut] & 0xC0) == 0x80)
			cut--;
		fwrite(line, 1, cut, out);
		fputc('\n', out);
		line += cut;
		n -= cut;
		c -= cut;
	}
	fwrite(line, 1, n, out);
}

static int write_rest(struct reader *rd, FILE *in, FILE *out, char **line, size_t *cap,
		      ssize_t n)
{
	if (put_missing(rd, out) < 0)
		return -1;
	fwrite(rd->head.p ? rd->head.p : "", 1, rd->head.len, out);
	if (n > 0 && content_len(*line, (size_t)n) != 0)
		fputs("\n", out); /* the body began without its blank line */
	for (; n > 0; n = getline(line, cap, in)) {
		if (rd->o->dot_ends && lone_dot(*line, (size_t)n))
			break;
		put_body_line(out, *line, (size_t)n);
	}
	return 0;
}

int smin_read(FILE *in, int out_fd, const struct smin_opts *o, struct smin_result *r,
	      struct error *err)
{
	struct reader rd = {.o = o, .r = r, .err = err};
	FILE *out = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = -1;
	int fd = dup(out_fd), rc;

	memset(r, 0, sizeof *r);
	if (fd < 0 || !(out = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		return err_set(err, ERR_OSERR, "cannot write a temporary file: %s", strerror(errno));
	}
	rc = read_header(&rd, in, &line, &cap, &n);
	if (rc == 0 && ferror(in))
		rc = err_set(err, ERR_IOERR, "cannot read standard input: %s", strerror(errno));
	if (rc == 0)
		rc = write_rest(&rd, in, out, &line, &cap, n);
	take_rcpts(&rd);
	r->size = (uint64_t)(ftello(out) > 0 ? ftello(out) : 0);
	if ((fflush(out) != 0 || ferror(out)) && rc == 0)
		rc = err_set(err, ERR_IOERR, "cannot write a temporary file: %s", strerror(errno));
	fclose(out);
	free(line);
	free(rd.head.p);
	free(rd.field.p);
	free(rd.raw.p);
	return rc;
}
