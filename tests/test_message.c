/* test_message.c - getting a message ready: a --message-file's header
 * fields (Bcc in every form, invalid lines, missing From, Date and
 * Message-ID), and file inputs that change between measuring and
 * sending. Each test runs in its own process (Criterion forks). */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "message.h"
#include "mime.h"

static struct message m;
static struct error err;
static char dir[64];

/* A sink that keeps everything written to it, NUL-terminated. */
struct buf_sink {
	struct sink base;
	char *p;
	size_t len;
};

static int buf_write(struct sink *s, const void *data, size_t len)
{
	struct buf_sink *b = (struct buf_sink *)s;

	b->p = realloc(b->p, b->len + len + 1);
	cr_assert_not_null(b->p);
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return 0;
}

static void setup(void)
{
	strcpy(dir, "/tmp/envoi-msg-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	memset(&m, 0, sizeof m);
	m.text.fd = m.html.fd = m.message_fd = -1;
	memset(&err, 0, sizeof err);
}

static void teardown(void)
{
	char cmd[128];

	msg_free(&m);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* Writes data into a file in the test's directory; returns its path
 * (static storage, one at a time). */
static char *file_with(const char *name, const char *data, size_t len)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
	return path;
}

static int prepare_raw(const char *text)
{
	m.message_file = strdup(file_with("m.eml", text, strlen(text)));
	return msg_prepare(&m, &err);
}

/* The composed message; the caller frees it. */
static char *written(void)
{
	struct buf_sink b = {{buf_write, NULL, &err}, NULL, 0};

	cr_assert_eq(mime_write(&m, &b.base), 0, "%s", err.text);
	return b.p;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

TestSuite(message, .init = setup, .fini = teardown);

static const char bcc_forms[] =
	"From: a@example.com\n"
	"To: to@example.com\n"
	"Bcc: one@example.com\n"
	"Bcc : two@example.com,\n"
	"  three@example.com\n"
	"bcc\t: four@example.com\n"
	"RESENT-BCC: five@example.com\n"
	"Resent-Bcc :\n six@example.com\n"
	"Subject: kept\n"
	"\n"
	"Bcc: in the body stays\n";

Test(message, bcc_and_resent_bcc_are_removed_in_every_form)
{
	char *out;

	cr_assert_eq(prepare_raw(bcc_forms), 0, "%s", err.text);
	out = written();
	for (const char *h = "one\0two\0three\0four\0five\0six\0"; *h; h += strlen(h) + 1)
		cr_expect_null(strstr(out, h), "%s leaked:\n%s", h, out);
	cr_expect_not_null(strstr(out, "\r\nTo: to@example.com\r\nSubject: kept\r\n\r\n"
				       "Bcc: in the body stays\r\n"), "%s", out);
	free(out);
}

Test(message, bcc_in_every_form_gives_recipients)
{
	cr_assert_eq(prepare_raw(bcc_forms), 0, "%s", err.text);
	cr_assert_eq(m.to.n, 1);
	cr_assert_eq(m.bcc.n, 4);
	cr_expect_str_eq(addr_list_mailbox(&m.bcc, 1), "two@example.com");
	cr_expect_str_eq(addr_list_mailbox(&m.bcc, 3), "four@example.com");
}

/* RFC 5322 3.4 groups: every member is a recipient (they were once
 * dropped whole when the field ended in ';'), an empty group gives none,
 * and colons or semicolons inside quotes are not
 * group syntax. */
Test(message, group_members_are_recipients)
{
	cr_assert_eq(prepare_raw("From: a@example.com\n"
				 "To: Friends: one@example.com, \"x:y;\" <two@example.com>;, three@example.com\n"
				 "Cc: undisclosed-recipients:;\n"
				 "Bcc: four@example.com, Team:five@example.com;\n\nx\n"),
		     0, "%s", err.text);
	cr_assert_eq(m.to.n, 3);
	cr_expect_str_eq(addr_list_mailbox(&m.to, 0), "one@example.com");
	cr_expect_str_eq(addr_list_mailbox(&m.to, 1), "two@example.com");
	cr_expect_str_eq(addr_list_mailbox(&m.to, 2), "three@example.com");
	cr_expect_eq(m.cc.n, 0);
	cr_assert_eq(m.bcc.n, 2);
	cr_expect_str_eq(addr_list_mailbox(&m.bcc, 0), "four@example.com");
	cr_expect_str_eq(addr_list_mailbox(&m.bcc, 1), "five@example.com");
}

/* Outside a group a semicolon is still an error, not a separator. */
Test(message, a_semicolon_outside_a_group_is_bad_data)
{
	cr_expect_eq(prepare_raw("From: a@example.com\nTo: one@example.com; two@example.com\n\nx\n"), -1);
	cr_expect_eq(err.cls, ERR_DATA);
}

/* The file's header is sent as it is: the envelope needs no names, and a
 * million "Full Name <address>" recipients do not keep a million names. */
Test(message, ready_message_recipients_keep_no_names)
{
	cr_assert_eq(prepare_raw("To: Ann Example <ann@example.com>\nBcc: \"B, B\" <b@example.com>\n\nx\n"),
		     0, "%s", err.text);
	cr_assert_eq(m.bcc.n, 1);
	cr_expect_str_eq(addr_list_mailbox(&m.to, 0), "ann@example.com");
	cr_expect_null(addr_list_name(&m.to, 0));
	cr_expect_null(addr_list_name(&m.bcc, 0));
	cr_expect_eq(m.bcc.used, sizeof "b@example.com" + 1);
}

Test(message, invalid_header_lines_are_refused_with_their_number)
{
	static const char *const bad[] = {
		"To: a@example.com\nX Bad: y\n\nb\n",
		"To: a@example.com\n: no name\n\nb\n",
		" starts folded\nTo: a@example.com\n\nb\n",
		"To: a@example.com\nno colon at all\n\nb\n",
		"To: a@example.com\nN\xc3\xa4me: v\n\nb\n",
	};
	static const unsigned line[] = {2, 2, 1, 2, 2};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char want[32];

		msg_free(&m);
		cr_expect_eq(prepare_raw(bad[i]), -1, "case %zu accepted", i);
		cr_expect_eq(err.cls, ERR_DATA, "case %zu", i);
		snprintf(want, sizeof want, "line %u ", line[i]);
		cr_expect_not_null(strstr(err.text, want), "case %zu: %s", i, err.text);
	}
}

Test(message, missing_from_date_and_id_are_added_once)
{
	char *out;

	cr_assert_eq(addr_parse(&m.from, "Me <me@example.org>", &err), 0);
	m.have_from = true;
	cr_assert_eq(prepare_raw("To: a@example.com\nSubject: s\n\nbody\n"), 0, "%s", err.text);
	out = written();
	cr_expect_eq(count(out, "From: "), 1, "%s", out);
	cr_expect_not_null(strstr(out, "From: Me <me@example.org>\r\n"), "%s", out);
	cr_expect_eq(count(out, "Date: "), 1, "%s", out);
	cr_expect_eq(count(out, "Message-ID: <"), 1, "%s", out);
	cr_expect_not_null(strstr(out, "@example.org>\r\n"), "%s", out);
	free(out);
}

Test(message, present_fields_in_any_form_are_not_doubled)
{
	char *out;

	cr_assert_eq(addr_parse(&m.from, "me@example.org", &err), 0);
	m.have_from = true;
	cr_assert_eq(prepare_raw("from : x@example.com\nDATE\t: Mon, 1 Dec 2026 10:00:00 +0000\n"
				 "message-id : <a@b>\nTo: a@example.com\n\nbody\n"), 0, "%s", err.text);
	out = written();
	/* Missing fields go in front: nothing was put there. */
	cr_expect_eq(strncmp(out, "from : x@example.com\r\n", 22), 0, "%s", out);
	cr_expect_eq(count(out, "rom"), 1, "%s", out);
	cr_expect_eq(count(out, "Date"), 0, "%s", out);
	cr_expect_eq(count(out, "Message-ID"), 0, "%s", out);
	free(out);
}

Test(message, obsolete_from_gives_the_sender)
{
	cr_assert_eq(prepare_raw("From\t: Sender <s@example.com>\nTo: a@example.com\n\nb\n"), 0,
		     "%s", err.text);
	cr_expect(m.have_from);
	cr_expect_str_eq(m.from.mailbox, "s@example.com");
}

/* ---- inputs that change after msg_prepare measured them ------------- */

/* Rewrites path with data and gives it back its time of change, as a
 * writer within the same clock tick would. */
static void rewrite_same_time(const char *path, const char *data)
{
	struct stat st;
	struct timespec t[2];
	FILE *f;

	cr_assert_eq(stat(path, &st), 0);
	f = fopen(path, "r+b");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, strlen(data), f), strlen(data));
	cr_assert_eq(fclose(f), 0);
	t[0] = st.st_atim;
	t[1] = st.st_mtim;
	cr_assert_eq(utimensat(AT_FDCWD, path, t, 0), 0);
}

static void append(const char *path, const char *data)
{
	FILE *f = fopen(path, "ab");

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, strlen(data), f), strlen(data));
	cr_assert_eq(fclose(f), 0);
}

/* The composed message up to the failure, which must be a change. */
static char *written_until_change(void)
{
	struct buf_sink b = {{buf_write, NULL, &err}, NULL, 0};

	cr_assert_eq(mime_write(&m, &b.base), -1, "a changed file went out:\n%s", b.p);
	cr_expect_eq(err.cls, ERR_DATA);
	cr_expect_not_null(strstr(err.text, "changed while it was being sent"), "%s", err.text);
	return b.p ? b.p : strdup("");
}

static void add_body_file(const char *data)
{
	m.text.present = true;
	m.text.path = strdup(file_with("body.txt", data, strlen(data)));
	cr_assert_eq(addr_parse(&m.from, "me@example.org", &err), 0);
	m.have_from = true;
	cr_assert_eq(msg_prepare(&m, &err), 0, "%s", err.text);
}

Test(message, growth_of_a_body_file_is_never_read)
{
	char *out;

	add_body_file("measured\n");
	append(m.text.path, "RSET\r\nMAIL FROM:<x@y>\r\n");
	out = written_until_change();
	cr_expect_null(strstr(out, "RSET"), "%s", out);
	free(out);
}

Test(message, growth_of_an_attachment_is_never_read)
{
	char *out;

	m.attach = calloc(1, sizeof *m.attach);
	m.nattach = 1;
	m.attach[0].path = strdup(file_with("a.txt", "AAAA", 4));
	m.attach[0].name = strdup("a.txt");
	cr_assert_eq(addr_parse(&m.from, "me@example.org", &err), 0);
	m.have_from = true;
	cr_assert_eq(msg_prepare(&m, &err), 0, "%s", err.text);
	append(m.attach[0].path, "BBBB");
	out = written_until_change();
	cr_expect_null(strstr(out, "QUFBQU"), "%s", out); /* base64 of AAAA... */
	free(out);
}

Test(message, a_7bit_body_rewritten_in_the_same_tick_is_caught)
{
	char *out;

	add_body_file("plain ascii\n");
	cr_assert_not(m.text.qp);
	rewrite_same_time(m.text.path, "pl\xffin\x00ascii\n");
	out = written_until_change();
	cr_expect_null(strstr(out, "\xff"), "%s", out);
	free(out);
}

Test(message, an_ascii_message_file_rewritten_in_the_same_tick_is_caught)
{
	char *out;

	cr_assert_eq(prepare_raw("From: a@example.com\nTo: b@example.com\n\nascii body\n"), 0,
		     "%s", err.text);
	cr_assert_not(m.eightbit);
	rewrite_same_time(m.message_file, "From: a@example.com\nTo: b@example.com\n\nascii b" "\xff" "dy\n");
	out = written_until_change();
	cr_expect_null(strstr(out, "\xff"), "%s", out);
	free(out);
}

Test(message, a_message_file_that_shrank_or_grew_is_caught)
{
	char *out;

	cr_assert_eq(prepare_raw("From: a@example.com\nTo: b@example.com\n\nbody\n"), 0, "%s",
		     err.text);
	append(m.message_file, "RSET\r\n");
	out = written_until_change();
	cr_expect_null(strstr(out, "RSET"), "%s", out);
	free(out);
	cr_assert_eq(truncate(m.message_file, 10), 0);
	free(written_until_change());
}

/* ---- sizes ----------------------------------------------------------- */

static void add_sized_attachments(uint64_t a, uint64_t b)
{
	m.attach = calloc(2, sizeof *m.attach);
	m.nattach = 2;
	for (int i = 0; i < 2; i++) {
		m.attach[i].path = strdup(i ? "b.bin" : "a.bin");
		m.attach[i].name = strdup(m.attach[i].path);
		m.attach[i].type = strdup("application/octet-stream");
		m.attach[i].fd = -1; /* measuring reads no attachment */
		m.attach[i].size = i ? b : a;
	}
}

Test(message, sizes_that_would_wrap_are_refused)
{
	uint64_t size = 0;

	add_body_file("text\n");
	/* 7 EiB each: their base64 sizes sum past 2^64 (it gave SIZE=385). */
	add_sized_attachments(7ull << 60, 7ull << 60);
	cr_expect_eq(mime_size(&m, &size, &err), -1, "size %llu", (unsigned long long)size);
	cr_expect_eq(err.cls, ERR_MESSAGE);
	cr_expect_not_null(strstr(err.text, "larger than"), "%s", err.text);
}

Test(message, a_size_below_the_limit_is_exact)
{
	uint64_t small = 0, big = 0, n = 1ull << 61;

	add_body_file("text\n");
	add_sized_attachments(0, 0);
	cr_assert_eq(mime_size(&m, &small, &err), 0, "%s", err.text);
	m.attach[0].size = m.attach[1].size = n;
	cr_assert_eq(mime_size(&m, &big, &err), 0, "%s", err.text);
	/* Each empty part grows by its base64 lines. */
	cr_expect_eq(big - small, 2 * (n / 57 * 78 + ((n % 57) ? ((n % 57) + 2) / 3 * 4 + 2 : 0)));
}
