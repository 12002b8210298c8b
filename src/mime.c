/* mime.c - the composer.
 *
 * Structure, from the outside in:
 *   multipart/mixed          when there are attachments
 *     multipart/alternative  when there are a text and an HTML body
 *       text/plain
 *       multipart/related    when there are inline images
 *         text/html
 *         image/...          Content-ID: <name.token@domain> (see cid.h)
 *     application/...        attachments
 *
 * Everything is written in order into a sink; file contents are read and
 * encoded in blocks of B64_LINE_IN * 1152 bytes. Text (bodies and text
 * attachments) goes in canonical form, every line break CRLF. In
 * measuring mode (for SIZE=) attachments are not read: their base64 size
 * follows from their size, or for text from the canonical size that
 * msg_prepare's scan found. The HTML's cid: references are rewritten as
 * it streams, in both modes.
 */
#include "mime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cid.h"
#include "encode.h"
#include "header.h"
#include "rawmsg.h"

#define B64_LINES_PER_BLOCK 1152
#define IN_BLOCK (B64_LINE_IN * B64_LINES_PER_BLOCK)
#define OUT_BLOCK (B64_LINE_OUT * B64_LINES_PER_BLOCK)

/* Remembers whether the last byte written was a line feed, so the
 * message can be made to end with CRLF exactly once. */
struct track {
	struct sink base;
	struct sink *next;
	bool lf;
};

static int track_write(struct sink *s, const void *buf, size_t len)
{
	struct track *t = (struct track *)s;

	t->lf = ((const char *)buf)[len - 1] == '\n';
	return t->next->write(t->next, buf, len);
}

struct ctx {
	const struct message *m;
	struct track out;
	struct sink *s;      /* &out.base */
	bool measure;        /* count only: do not read attachments */
	uint64_t skipped;    /* bytes counted in measuring mode */
	bool need_crlf;      /* the part just written did not end its line */
	unsigned char *in;   /* IN_BLOCK bytes */
	unsigned char *canon; /* IN_BLOCK bytes: text made canonical */
	struct cid_rewrite *cid; /* the HTML's cid: references, when inline images */
	char *enc;           /* OUT_BLOCK bytes */
};

static int put(struct ctx *c, const char *str)
{
	return sink_puts(c->s, str);
}

/* Writes a header built by header.c, which returns NULL only when out
 * of memory. */
static int put_field(struct ctx *c, char *field)
{
	int rc;

	if (!field)
		return err_set(c->s->err, ERR_OSERR, "out of memory");
	rc = put(c, field);
	free(field);
	return rc;
}

static int put_plain_field(struct ctx *c, const char *name, const char *value)
{
	return put(c, name) || put(c, ": ") || put(c, value) || put(c, "\r\n") ? -1 : 0;
}

/* ---- leaves --------------------------------------------------------- */

/* 7bit text: line ends become CRLF; lone CRs cannot be here (msg_prepare
 * chose quoted-printable for them). */
static int copy_crlf(struct ctx *c, const unsigned char *p, size_t n, bool *after_cr)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		bool had_cr = i > 0 ? p[i - 1] == '\r' : *after_cr;
		if (!had_cr && (sink_write(c->s, p + start, i - start) < 0 ||
				sink_write(c->s, "\r\n", 2) < 0))
			return -1;
		if (!had_cr)
			start = i + 1;
	}
	if (n)
		*after_cr = p[n - 1] == '\r';
	return sink_write(c->s, p + start, n - start);
}

/* Where a text part's bytes go once read: its encoder. */
struct text_out {
	struct ctx *c;
	const struct body *b;
	struct qp *q;
	bool *after_cr;
};

static int text_encode(void *ctx, const unsigned char *p, size_t n)
{
	struct text_out *t = ctx;

	return t->b->qp ? qp_update(t->q, p, n) : copy_crlf(t->c, p, n, t->after_cr);
}

/* The HTML goes through the cid: rewriter when there are inline images
 * (c->cid is then set); everything else straight to its encoder. */
static int text_block(struct ctx *c, const struct body *b, struct qp *q, bool *after_cr,
		      const unsigned char *p, size_t n)
{
	struct text_out t = {c, b, q, after_cr};

	if (!c->cid || b != &c->m->html)
		return text_encode(&t, p, n);
	c->cid->emit = text_encode;
	c->cid->ctx = &t;
	return cid_rewrite_update(c->cid, p, n);
}

/* The end of a text part: what the rewriter still holds goes out. */
static int text_end(struct ctx *c, const struct body *b, struct qp *q, bool *after_cr)
{
	struct text_out t = {c, b, q, after_cr};

	if (!c->cid || b != &c->m->html)
		return 0;
	c->cid->emit = text_encode;
	c->cid->ctx = &t;
	return cid_rewrite_final(c->cid);
}

/* A 7bit body is checked again as it is written: what goes out must be
 * what msg_prepare scanned, whatever happened to the file since. */
static int text_file(struct ctx *c, const struct body *b, struct qp *q, const char *what)
{
	struct msg_in in = {b->fd, b->size, b->mtime, what};
	struct msg_scan s = {0};
	bool after_cr = false;
	uint64_t off = 0;
	ssize_t n;

	while ((n = msg_read_input(&in, c->in, IN_BLOCK, off, c->s->err)) > 0) {
		if (!b->qp)
			msg_scan_text(&s, c->in, (size_t)n);
		if (s.qp)
			break;
		if (text_block(c, b, q, &after_cr, c->in, (size_t)n) < 0)
			return -1;
		off += (uint64_t)n;
	}
	if (n < 0)
		return -1;
	if (s.qp || s.prev == '\r')
		return err_set(c->s->err, ERR_DATA, "%s changed while it was being sent; nothing was sent",
			       what);
	return 0;
}

static int text_content(struct ctx *c, const struct body *b, const char *what)
{
	struct qp q;
	bool after_cr = false;

	qp_init(&q, c->s);
	if (b->text) {
		if (text_block(c, b, &q, &after_cr, (const unsigned char *)b->text, strlen(b->text)) < 0)
			return -1;
	} else if (b->present && text_file(c, b, &q, what) < 0) {
		return -1;
	}
	if (text_end(c, b, &q, &after_cr) < 0 || (b->qp && qp_final(&q) < 0))
		return -1;
	c->need_crlf = true;
	return 0;
}

static int text_part(struct ctx *c, const struct body *b, const char *subtype)
{
	if (put(c, "Content-Type: text/") || put(c, subtype) || put(c, "; charset=") ||
	    put(c, b->charset ? b->charset : "utf-8") || put(c, "\r\n") ||
	    put(c, "Content-Transfer-Encoding: ") || put(c, b->qp ? "quoted-printable" : "7bit") ||
	    put(c, "\r\n\r\n"))
		return -1;
	return text_content(c, b, b->path ? b->path : "the body");
}

/* A pipe is read once, as it comes, in whole lines of base64. */
static int base64_stream(struct ctx *c, const struct file_part *f)
{
	for (;;) {
		size_t got = 0;

		while (got < IN_BLOCK) {
			ssize_t n = read(f->fd, c->in + got, IN_BLOCK - got);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return err_set(c->s->err, ERR_NOPERM, "cannot read %s: %s", f->path,
					       strerror(errno));
			if (n == 0)
				break;
			got += (size_t)n;
		}
		if (sink_write(c->s, c->enc, b64_encode_lines(c->enc, c->in, got)) < 0)
			return -1;
		if (got < IN_BLOCK)
			return 0;
	}
}

static int too_large(struct error *err, const char *path)
{
	return err_set(err, ERR_MESSAGE, "the message would be larger than %llu bytes%s%s: "
		       "no server takes it", (unsigned long long)MSG_SIZE_MAX,
		       path ? " with " : "", path ? path : "");
}

static int base64_content(struct ctx *c, const struct file_part *f)
{
	struct msg_in in = {f->fd, f->size, f->mtime, f->path};
	uint64_t off = 0;
	ssize_t n;

	c->need_crlf = false;
	if (f->size == MSG_SIZE_UNKNOWN && c->measure)
		return err_set(c->s->err, ERR_SOFTWARE, "the size of %s is not known", f->path);
	if (f->size == MSG_SIZE_UNKNOWN)
		return base64_stream(c, f);
	if (c->measure) {
		uint64_t enc = b64_encoded_size(f->size); /* cannot wrap: size < 2^63 */

		if (enc > MSG_SIZE_MAX - c->skipped)
			return too_large(c->s->err, f->path);
		c->skipped += enc;
		if (f->size)
			c->out.lf = true;
		return 0;
	}
	while ((n = msg_read_input(&in, c->in, IN_BLOCK, off, c->s->err)) > 0) {
		if (sink_write(c->s, c->enc, b64_encode_lines(c->enc, c->in, (size_t)n)) < 0)
			return -1;
		off += (uint64_t)n;
	}
	return n < 0 ? -1 : 0;
}

/* Text in canonical form, base64: each block read is made CRLF, whole
 * base64 lines go out, and what is left of a line waits in front of the
 * next block. Blocks are read small enough that the canonical text (at
 * most twice as long) and the bytes left over fit in IN_BLOCK. */
static int text_file_content(struct ctx *c, const struct file_part *f)
{
	enum { READ = IN_BLOCK / 2 - B64_LINE_IN };
	struct msg_in in = {f->fd, f->size, f->mtime, f->path};
	uint64_t off = 0;
	size_t held = 0;
	bool cr = false;
	ssize_t n;

	c->need_crlf = false;
	if (c->measure) {
		uint64_t enc = b64_encoded_size(f->canon_size);

		if (enc > MSG_SIZE_MAX - c->skipped)
			return too_large(c->s->err, f->path);
		c->skipped += enc;
		c->out.lf = f->canon_size > 0;
		return 0;
	}
	while ((n = msg_read_input(&in, c->in, READ, off, c->s->err)) > 0) {
		held += crlf_canon(&cr, c->in, (size_t)n, c->canon + held);
		off += (uint64_t)n;
		size_t whole = off < f->size ? held / B64_LINE_IN * B64_LINE_IN : held;

		if (sink_write(c->s, c->enc, b64_encode_lines(c->enc, c->canon, whole)) < 0)
			return -1;
		memmove(c->canon, c->canon + whole, held - whole);
		held -= whole;
	}
	return n < 0 ? -1 : 0;
}

/* Content-ID for inline image i: see cid.h. */
static int put_content_id(struct ctx *c, size_t i)
{
	char *cid = cid_for(c->m, i);
	int rc;

	if (!cid)
		return err_set(c->s->err, ERR_OSERR, "out of memory");
	rc = put(c, "Content-ID: <") || put(c, cid) || put(c, ">\r\n") ? -1 : 0;
	free(cid);
	return rc;
}

static int file_part(struct ctx *c, const struct file_part *f, bool is_inline)
{
	char type[512];

	snprintf(type, sizeof type, f->charset ? "%s; charset=%s" : "%s", f->type, f->charset);
	if (put_field(c, hdr_name_param("Content-Type", type, "name", f->name)) ||
	    put(c, "Content-Transfer-Encoding: base64\r\n") ||
	    (is_inline && put_content_id(c, (size_t)(f - c->m->inlines))) ||
	    put_field(c, hdr_file_param("Content-Disposition", is_inline ? "inline" : "attachment",
					"filename", f->name)) ||
	    put(c, "\r\n"))
		return -1;
	return f->charset ? text_file_content(c, f) : base64_content(c, f);
}

/* ---- multiparts ---------------------------------------------------- */

static int multipart_open(struct ctx *c, const char *subtype, const char *params,
			  const char *boundary)
{
	c->need_crlf = false;
	return put(c, "Content-Type: multipart/") || put(c, subtype) || put(c, ";") ||
	       put(c, params) || put(c, "\r\n boundary=\"") || put(c, boundary) ||
	       put(c, "\"\r\n\r\n") ? -1 : 0;
}

static int delimiter(struct ctx *c, const char *boundary, bool last)
{
	int rc = (c->need_crlf && put(c, "\r\n")) || put(c, "--") || put(c, boundary) ||
		 put(c, last ? "--" : "\r\n") ? -1 : 0;

	c->need_crlf = last;
	return rc;
}

/* The HTML with its cid: references rewritten (see cid.h). */
static int html_part(struct ctx *c)
{
	struct cid_rewrite r;
	int rc;

	if (cid_rewrite_init(&r, c->m) < 0) {
		cid_rewrite_free(&r);
		return err_set(c->s->err, ERR_OSERR, "out of memory");
	}
	c->cid = &r;
	rc = text_part(c, &c->m->html, "html");
	c->cid = NULL;
	cid_rewrite_free(&r);
	return rc;
}

static int html_block(struct ctx *c)
{
	const struct message *m = c->m;
	const char *b = m->boundary[2];

	if (!m->ninline)
		return text_part(c, &m->html, "html");
	if (multipart_open(c, "related", " type=\"text/html\";", b) ||
	    delimiter(c, b, false) || html_part(c))
		return -1;
	for (size_t i = 0; i < m->ninline; i++)
		if (delimiter(c, b, false) || file_part(c, &m->inlines[i], true))
			return -1;
	return delimiter(c, b, true);
}

static int content(struct ctx *c)
{
	const struct message *m = c->m;
	const char *b = m->boundary[1];

	if (m->html.present && !m->text.present)
		return html_block(c);
	if (!m->html.present)
		return text_part(c, &m->text, "plain");
	if (multipart_open(c, "alternative", "", b) || delimiter(c, b, false) ||
	    text_part(c, &m->text, "plain") || delimiter(c, b, false) || html_block(c))
		return -1;
	return delimiter(c, b, true);
}

static int root(struct ctx *c)
{
	const struct message *m = c->m;
	const char *b = m->boundary[0];

	if (!m->nattach)
		return content(c);
	if (multipart_open(c, "mixed", "", b) || delimiter(c, b, false) || content(c))
		return -1;
	for (size_t i = 0; i < m->nattach; i++)
		if (delimiter(c, b, false) || file_part(c, &m->attach[i], false))
			return -1;
	return delimiter(c, b, true);
}

/* ---- top-level header ---------------------------------------------- */

/* A --header with the same name replaces the field envoi would write. */
static bool overridden(const struct message *m, const char *name)
{
	for (size_t i = 0; i < m->nheaders; i++)
		if (strcasecmp(m->headers[i].name, name) == 0)
			return true;
	return false;
}

static int address_field(struct ctx *c, const char *name, const struct addr_list *l)
{
	if (!l->n || overridden(c->m, name))
		return 0;
	return put_field(c, hdr_address_list(name, l));
}

static int priority_fields(struct ctx *c)
{
	static const char *const xprio[] = {NULL, "5 (Lowest)", "1 (Highest)", "1 (Highest)"};
	static const char *const importance[] = {NULL, "low", "high", "high"};
	enum priority p = c->m->priority;

	if (p == PRIO_NORMAL)
		return 0;
	if ((!overridden(c->m, "X-Priority") && put_plain_field(c, "X-Priority", xprio[p])) ||
	    (!overridden(c->m, "Importance") && put_plain_field(c, "Importance", importance[p])))
		return -1;
	if (p == PRIO_URGENT && !overridden(c->m, "Priority"))
		return put_plain_field(c, "Priority", "urgent");
	return 0;
}

static int headers(struct ctx *c)
{
	const struct message *m = c->m;

	if ((!overridden(m, "Date") && put_plain_field(c, "Date", m->date)) ||
	    (!overridden(m, "From") && put_field(c, hdr_addresses("From", &m->from, 1))) ||
	    address_field(c, "To", &m->to) || address_field(c, "Cc", &m->cc))
		return -1;
	/* Only Bcc recipients: say so rather than leave To out (RFC 5322 3.6.3). */
	if (!m->to.n && !m->cc.n && !overridden(m, "To") &&
	    put_plain_field(c, "To", "undisclosed-recipients:;"))
		return -1;
	if (address_field(c, "Reply-To", &m->reply_to) ||
	    (m->subject && !overridden(m, "Subject") && put_field(c, hdr_text("Subject", m->subject))) ||
	    (!overridden(m, "Message-ID") && put_plain_field(c, "Message-ID", m->message_id)) ||
	    priority_fields(c))
		return -1;
	if (m->read_receipt && !overridden(m, "Disposition-Notification-To") &&
	    put_field(c, hdr_addresses("Disposition-Notification-To", &m->from, 1)))
		return -1;
	for (size_t i = 0; i < m->nheaders; i++)
		if (put_field(c, hdr_text(m->headers[i].name, m->headers[i].value)))
			return -1;
	return put(c, "MIME-Version: 1.0\r\n");
}

static int compose(const struct message *m, struct sink *out, bool measure, uint64_t *skipped)
{
	struct ctx c = {.m = m, .measure = measure};
	int rc;

	c.out.base.write = track_write;
	c.out.base.err = out->err;
	c.out.next = out;
	c.s = &c.out.base;
	c.in = malloc(IN_BLOCK);
	c.enc = malloc(OUT_BLOCK);
	c.canon = malloc(IN_BLOCK);
	if (!c.in || !c.enc || !c.canon)
		rc = err_set(out->err, ERR_OSERR, "out of memory");
	else if (m->message_file)
		rc = raw_write(m, c.s);
	else
		rc = headers(&c) || root(&c) ? -1 : 0;
	/* The data must end with CRLF; it belongs to the final "CRLF.CRLF". */
	if (rc == 0 && !c.out.lf)
		rc = put(&c, "\r\n");
	if (rc == 0)
		rc = sink_flush(out);
	free(c.in);
	free(c.enc);
	free(c.canon);
	*skipped = c.skipped;
	return rc;
}

int mime_write(const struct message *m, struct sink *out)
{
	uint64_t skipped;

	return compose(m, out, false, &skipped);
}

int mime_size(const struct message *m, uint64_t *size, struct error *err)
{
	struct sink_count count;
	uint64_t skipped;

	sink_count_init(&count, err);
	if (compose(m, &count.base, true, &skipped) < 0)
		return -1;
	if (skipped > MSG_SIZE_MAX - count.bytes)
		return too_large(err, NULL);
	*size = count.bytes + skipped;
	return 0;
}
