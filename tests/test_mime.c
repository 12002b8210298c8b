/* test_mime.c - the composer: what it writes for text parts and inline
 * images, and that mime_size counts exactly what mime_write writes.
 *
 * The bytes are checked here by hand; the integration suite
 * (test_compose.py) reads whole messages back with Python's email.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cid.h"
#include "message.h"
#include "mime.h"

/* ---- helpers -------------------------------------------------------- */

struct mem_sink {
	struct sink base;
	char *buf;
	size_t len, cap;
};

static int mem_write(struct sink *s, const void *buf, size_t len)
{
	struct mem_sink *m = (struct mem_sink *)s;

	if (m->len + len + 1 > m->cap) {
		m->cap = (m->len + len + 1) * 2;
		m->buf = realloc(m->buf, m->cap);
		cr_assert_not_null(m->buf);
	}
	memcpy(m->buf + m->len, buf, len);
	m->len += len;
	m->buf[m->len] = '\0';
	return 0;
}

static char dir[] = "/tmp/envoi-test-mime-XXXXXX";

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	cr_expect_eq(system(cmd), 0);
}

static char *write_file(const char *name, const void *data, size_t n)
{
	char *path;
	FILE *f;

	cr_assert(asprintf(&path, "%s/%s", dir, name) > 0);
	f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, n, f), n);
	fclose(f);
	return path;
}

static void message_init(struct message *m)
{
	struct error err = {0};

	memset(m, 0, sizeof *m);
	m->text.fd = m->html.fd = m->message_fd = -1;
	cr_assert_eq(addr_parse(&m->from, "a@example.com", &err), 0);
	m->have_from = true;
	cr_assert_eq(addr_parse_list(&m->to, "b@example.com", &err), 0);
}

/* Adds a file part named name holding data (to attach or inlines). */
static void add_file(struct file_part **v, size_t *n, const char *subdir, const char *name,
		     const void *data, size_t len)
{
	char sub[256];

	snprintf(sub, sizeof sub, "%s/%s", dir, subdir);
	mkdir(sub, 0700);
	snprintf(sub, sizeof sub, "%s/%s", subdir, name);
	*v = realloc(*v, (*n + 1) * sizeof **v);
	cr_assert_not_null(*v);
	memset(&(*v)[*n], 0, sizeof **v);
	(*v)[*n].fd = -1;
	(*v)[*n].path = write_file(sub, data, len);
	(*v)[*n].name = strdup(name);
	(*n)++;
}

/* Prepares m, writes it, and checks that mime_size said the same.
 * Returns the message; the caller frees it. */
static char *compose(struct message *m, size_t *len)
{
	struct error err = {0};
	struct mem_sink s = { .base = { .write = mem_write, .err = &err } };
	uint64_t size = 0;

	cr_assert_eq(msg_prepare(m, &err), 0, "%s", err.text);
	cr_assert_eq(mime_size(m, &size, &err), 0, "%s", err.text);
	cr_assert_eq(mime_write(m, &s.base), 0, "%s", err.text);
	cr_expect_eq(size, (uint64_t)s.len, "mime_size %llu, written %zu",
		     (unsigned long long)size, s.len);
	if (len)
		*len = s.len;
	return s.buf;
}

static int b64val(char c)
{
	const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(a, c) : NULL;

	return p ? (int)(p - a) : -1;
}

/* Decodes the base64 body of the part whose headers hold marker;
 * returns its bytes (malloc'd) and their count in *n. */
static unsigned char *part_body(const char *msg, const char *marker, size_t *n)
{
	const char *p = strstr(msg, marker);
	unsigned char *out;
	unsigned v = 0;
	int bits = 0;

	cr_assert_not_null(p, "no \"%s\"", marker);
	p = strstr(p, "\r\n\r\n");
	cr_assert_not_null(p);
	p += 4;
	out = malloc(strlen(p) + 1);
	*n = 0;
	for (; *p && *p != '-'; p++) {
		int d = b64val(*p);

		if (d < 0)
			continue;
		v = v << 6 | (unsigned)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[(*n)++] = (unsigned char)(v >> bits);
		}
	}
	return out;
}

/* The part's header block (up to the empty line), malloc'd. */
static char *part_headers(const char *msg, const char *marker)
{
	const char *p = strstr(msg, marker), *start, *end;

	cr_assert_not_null(p, "no \"%s\"", marker);
	start = p;
	while (start > msg && !(start[-1] == '\n' && start[-2] == '\r' && start[-3] == '\n'))
		start--;
	end = strstr(p, "\r\n\r\n");
	return strndup(start, (size_t)(end - start));
}

TestSuite(mime, .init = setup, .fini = teardown);

/* ---- text parts in canonical form ----------------------------------- */

Test(mime, text_attachment_goes_in_canonical_form_with_its_charset)
{
	struct message m;
	static const char utf8[] = "caf\xc3\xa9\nline2\rline3\r\nend";
	static const char canon[] = "caf\xc3\xa9\r\nline2\r\nline3\r\nend";
	size_t n;

	message_init(&m);
	add_file(&m.attach, &m.nattach, "a", "u.txt", utf8, sizeof utf8 - 1);
	add_file(&m.attach, &m.nattach, "b", "a.txt", "plain\n", 6);
	add_file(&m.attach, &m.nattach, "c", "bin.png", "x\ny\r", 4);
	char *msg = compose(&m, NULL);
	char *h = part_headers(msg, "name=\"u.txt\"");

	cr_expect_not_null(strstr(h, "Content-Type: text/plain; charset=utf-8; name=\"u.txt\""), "%s", h);
	free(h);
	unsigned char *d = part_body(msg, "name=\"u.txt\"", &n);

	cr_expect_eq(n, sizeof canon - 1);
	cr_expect(memcmp(d, canon, sizeof canon - 1) == 0, "%.*s", (int)n, d);
	free(d);
	cr_expect_not_null(strstr(msg, "Content-Type: text/plain; charset=us-ascii; name=\"a.txt\""));
	d = part_body(msg, "name=\"a.txt\"", &n);
	cr_expect(n == 7 && memcmp(d, "plain\r\n", 7) == 0);
	free(d);
	/* Not text: untouched. */
	d = part_body(msg, "name=\"bin.png\"", &n);
	cr_expect(n == 4 && memcmp(d, "x\ny\r", 4) == 0);
	free(d);
	free(msg);
	msg_free(&m);
}

/* Lines cut at every place a read block can end, CRLFs straddling the
 * blocks: the decoded part is the canonical text, and mime_size counts
 * exactly what is written. */
Test(mime, big_text_attachment_is_canonical_across_blocks)
{
	static const char *const breaks[] = { "\n", "\r", "\r\n", "\xc3\xa9", "abc" };
	size_t cap = 3 << 20, len = 0, clen = 0, n;
	char *text = malloc(cap), *canon = malloc(2 * cap);
	unsigned seed = 7;
	struct message m;

	while (len < cap - 8) {
		seed = seed * 1103515245u + 12345u;
		const char *b = breaks[(seed >> 16) % 5];

		memcpy(text + len, b, strlen(b));
		len += strlen(b);
	}
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\r' || text[i] == '\n') {
			memcpy(canon + clen, "\r\n", 2);
			clen += 2;
			i += text[i] == '\r' && i + 1 < len && text[i + 1] == '\n';
		} else {
			canon[clen++] = text[i];
		}
	}
	message_init(&m);
	add_file(&m.attach, &m.nattach, "a", "big.txt", text, len);
	char *msg = compose(&m, NULL);
	unsigned char *d = part_body(msg, "name=\"big.txt\"", &n);

	cr_expect_eq(n, clen);
	cr_expect(memcmp(d, canon, clen) == 0);
	free(d);
	free(msg);
	free(text);
	free(canon);
	msg_free(&m);
}

Test(mime, text_attachment_that_is_not_utf8_goes_as_octet_stream)
{
	struct message m;
	size_t n;

	message_init(&m);
	add_file(&m.attach, &m.nattach, "a", "latin1.txt", "caf\xe9\n", 5);
	add_file(&m.attach, &m.nattach, "b", "nul.txt", "a\0b\n", 4);
	char *msg = compose(&m, NULL);

	cr_expect_not_null(strstr(msg, "Content-Type: application/octet-stream; name=\"latin1.txt\""));
	cr_expect_not_null(strstr(msg, "Content-Type: application/octet-stream; name=\"nul.txt\""));
	unsigned char *d = part_body(msg, "name=\"latin1.txt\"", &n);

	cr_expect(n == 5 && memcmp(d, "caf\xe9\n", 5) == 0);
	free(d);
	free(msg);
	msg_free(&m);
}

Test(mime, body_with_lone_cr_and_bare_lf_is_canonical)
{
	struct message m;

	message_init(&m);
	m.text.present = true;
	m.text.text = strdup("one\rtwo\nthree\r\n");
	char *msg = compose(&m, NULL);
	const char *body = strstr(msg, "\r\n\r\n") + 4;

	cr_expect_str_eq(body, "one\r\ntwo\r\nthree\r\n");
	free(msg);
	msg_free(&m);
}

Test(mime, body_charset_is_utf8_only_when_it_is_utf8)
{
	struct message m;

	message_init(&m);
	m.text.present = true;
	m.text.text = strdup("caf\xc3\xa9\n");
	char *msg = compose(&m, NULL);

	cr_expect_not_null(strstr(msg, "Content-Type: text/plain; charset=utf-8\r\n"));
	free(msg);
	msg_free(&m);

	message_init(&m);
	m.text.present = true;
	m.text.text = strdup("caf\xe9\n");
	m.html.present = true;
	m.html.text = strdup("<p>\xff</p>");
	msg = compose(&m, NULL);
	cr_expect_not_null(strstr(msg, "Content-Type: text/plain; charset=unknown-8bit\r\n"));
	cr_expect_not_null(strstr(msg, "Content-Type: text/html; charset=unknown-8bit\r\n"));
	cr_expect_null(strstr(msg, "utf-8"));
	cr_expect_not_null(strstr(msg, "caf=E9\r\n"));
	free(msg);
	msg_free(&m);
}

/* ---- inline images: Content-IDs and the HTML's references ------------ */

Test(mime, content_id_is_a_msg_id_and_the_html_refers_to_it)
{
	static const char html[] = "<img src=\"cid:logo.png\"> <img src='cid:my logo.png'>"
				   " cid:logo.pngx cid:logo.png";
	struct message m;
	char want[1024];

	message_init(&m);
	m.html.present = true;
	m.html.text = strdup(html);
	add_file(&m.inlines, &m.ninline, "a", "logo.png", "P1", 2);
	add_file(&m.inlines, &m.ninline, "b", "my logo.png", "P2", 2);
	char *msg = compose(&m, NULL);
	const char *id = m.cid_suffix;

	cr_expect(strlen(id) > 20 && strchr(id, '@'));
	snprintf(want, sizeof want, "Content-ID: <logo.png.%s>\r\n", id);
	cr_expect_not_null(strstr(msg, want), "%s", msg);
	snprintf(want, sizeof want, "Content-ID: <my%%20logo.png.%s>\r\n", id);
	cr_expect_not_null(strstr(msg, want), "%s", msg);
	snprintf(want, sizeof want,
		 "<img src=\"cid:logo.png.%s\"> <img src='cid:my%%20logo.png.%s'>"
		 " cid:logo.pngx cid:logo.png.%s\r\n", id, id, id);
	cr_expect_not_null(strstr(msg, want), "%s", msg);
	free(msg);
	msg_free(&m);
}

Test(mime, content_id_left_part_is_dot_atom_text)
{
	struct message m;

	message_init(&m);
	add_file(&m.inlines, &m.ninline, "a", ".a..b c@d%e\xc3\xa9.", "", 0);
	snprintf(m.cid_suffix, sizeof m.cid_suffix, "x@example.com");
	char *cid = cid_for(&m, 0);

	cr_expect_str_eq(cid, "%2Ea.%2Eb%20c%40d%25e%C3%A9%2E.x@example.com");
	free(cid);
	msg_free(&m);
}

/* Long names are cut to keep "Content-ID: <...>" within 78 columns, and
 * marked with their number: two long names alike still differ, and the
 * HTML's references to both follow. */
Test(mime, long_inline_names_are_cut_yet_distinct)
{
	struct message m;
	char a[256], b[256], html[1200];

	memset(a, 'x', 200);
	strcpy(a + 200, "1.png");
	memset(b, 'x', 200);
	strcpy(b + 200, "2.png");
	snprintf(html, sizeof html, "<img src=\"cid:%s\"><img src=\"cid:%s\">", a, b);
	message_init(&m);
	m.html.present = true;
	m.html.text = strdup(html);
	add_file(&m.inlines, &m.ninline, "a", a, "P1", 2);
	add_file(&m.inlines, &m.ninline, "b", b, "P2", 2);
	char *msg = compose(&m, NULL);
	char *c0 = cid_for(&m, 0), *c1 = cid_for(&m, 1), want[400];

	cr_expect_str_neq(c0, c1);
	cr_expect_leq(strlen("Content-ID: <>") + strlen(c0), 78, "%s", c0);
	cr_expect_not_null(strstr(c0, "%-1."), "%s", c0);
	snprintf(want, sizeof want, "Content-ID: <%s>\r\n", c1);
	cr_expect_not_null(strstr(msg, want));
	snprintf(want, sizeof want, "<img src=\"cid:%s\"><img src=\"cid:%s\">", c0, c1);
	cr_expect_not_null(strstr(msg, want), "%s", msg);
	free(c0);
	free(c1);
	free(msg);
	msg_free(&m);
}

static int grow(void *ctx, const unsigned char *p, size_t n)
{
	struct mem_sink *m = ctx;

	return mem_write(&m->base, p, n);
}

/* The rewriter gives the same output however the input is cut. */
Test(mime, cid_references_are_rewritten_across_any_block_boundary)
{
	static const char in[] = "ccid:cid:a.pn cid:a.png\"cid:a.png.png cid:a.pngcid:a.png"
				 " cid:a%20b cid:a b) cid:a.png";
	struct message m;
	struct mem_sink whole = {0};

	message_init(&m);
	add_file(&m.inlines, &m.ninline, "a", "a.png", "", 0);
	add_file(&m.inlines, &m.ninline, "b", "a.png.png", "", 0);
	add_file(&m.inlines, &m.ninline, "c", "a b", "", 0);
	snprintf(m.cid_suffix, sizeof m.cid_suffix, "I@D");
	for (size_t block = 1; block <= sizeof in; block++) {
		struct cid_rewrite r;
		struct mem_sink out = {0};

		cr_assert_eq(cid_rewrite_init(&r, &m), 0);
		r.emit = grow;
		r.ctx = &out;
		for (size_t i = 0; i < sizeof in - 1; i += block) {
			size_t n = sizeof in - 1 - i < block ? sizeof in - 1 - i : block;

			cr_assert_eq(cid_rewrite_update(&r, (const unsigned char *)in + i, n), 0);
		}
		cr_assert_eq(cid_rewrite_final(&r), 0);
		cid_rewrite_free(&r);
		cr_expect_str_eq(out.buf,
				 "ccid:cid:a.pn cid:a.png.I@D\"cid:a.png.png.I@D cid:a.pngcid:a.png.I@D"
				 " cid:a%20b.I@D cid:a%20b.I@D) cid:a.png.I@D", "block %zu", block);
		free(out.buf);
	}
	free(whole.buf);
	msg_free(&m);
}

Test(mime, two_inline_images_with_one_name_are_refused)
{
	struct message m;
	struct error err = {0};

	message_init(&m);
	m.html.present = true;
	m.html.text = strdup("<img src=\"cid:logo.png\">");
	add_file(&m.inlines, &m.ninline, "a", "logo.png", "P1", 2);
	add_file(&m.inlines, &m.ninline, "b", "logo.png", "P2", 2);
	cr_expect_eq(msg_prepare(&m, &err), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
	cr_expect_not_null(strstr(err.text, "logo.png"), "%s", err.text);
	msg_free(&m);
}

/* A reference makes its line longer: a line that would pass 998 once
 * rewritten makes the HTML quoted-printable. */
Test(mime, html_line_made_too_long_by_a_reference_goes_quoted_printable)
{
	struct message m;
	char *html = malloc(1100);

	memset(html, 'x', 970);
	strcpy(html + 970, "<img src=\"cid:logo.png\">");
	message_init(&m);
	m.html.present = true;
	m.html.text = html;
	add_file(&m.inlines, &m.ninline, "a", "logo.png", "P1", 2);
	char *msg = compose(&m, NULL);

	cr_expect_not_null(strstr(msg, "Content-Transfer-Encoding: quoted-printable"));
	for (const char *line = msg; *line; line = strstr(line, "\r\n") + 2)
		cr_expect_leq((size_t)(strstr(line, "\r\n") - line), 998);
	free(msg);
	msg_free(&m);
}
