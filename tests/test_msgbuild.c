/* test_msgbuild.c - the message builder every front end shares: each
 * value checked where it is given, the parts checked together, and what
 * the envelope still lacks. No command line involved. */
#include <criterion/criterion.h>

#include <string.h>

#include "message.h"
#include "msgbuild.h"

static struct message m;
static struct error err;

static void setup(void)
{
	msg_init(&m);
	memset(&err, 0, sizeof err);
}

static void teardown(void)
{
	msg_free(&m);
}

TestSuite(msgbuild, .init = setup, .fini = teardown);

Test(msgbuild, init_leaves_no_file_open)
{
	cr_expect_eq(m.text.fd, -1);
	cr_expect_eq(m.html.fd, -1);
	cr_expect_eq(m.message_fd, -1);
	cr_expect_not(m.have_from);
}

Test(msgbuild, addresses_go_to_their_field)
{
	cr_assert_eq(msg_add_address(&m, MSG_FROM, "Ann <ann@example.org>", &err), 0);
	cr_assert_eq(msg_add_address(&m, MSG_TO, "b@example.org, c@example.org", &err), 0);
	cr_assert_eq(msg_add_address(&m, MSG_TO, "d@example.org", &err), 0);
	cr_assert_eq(msg_add_address(&m, MSG_CC, "e@example.org", &err), 0);
	cr_assert_eq(msg_add_address(&m, MSG_BCC, "f@example.org", &err), 0);
	cr_assert_eq(msg_add_address(&m, MSG_REPLY_TO, "g@example.org", &err), 0);
	cr_expect(m.have_from);
	cr_expect_eq(m.to.n, 3);
	cr_expect_eq(m.cc.n, 1);
	cr_expect_eq(m.bcc.n, 1);
	cr_expect_eq(m.reply_to.n, 1);
}

Test(msgbuild, a_second_sender_replaces_the_first)
{
	cr_assert_eq(msg_add_address(&m, MSG_FROM, "a@example.org", &err), 0);
	cr_assert_eq(msg_add_address(&m, MSG_FROM, "b@example.org", &err), 0);
	cr_expect(m.have_from);
}

Test(msgbuild, bad_sender_is_refused_and_leaves_none)
{
	cr_expect_eq(msg_add_address(&m, MSG_FROM, "not an address", &err), -1);
	cr_expect_neq(err.cls, ERR_OK);
	cr_expect_not(m.have_from);
	cr_expect_eq(msg_missing(&m), MSG_NO_SENDER);
}

Test(msgbuild, bad_recipient_is_refused)
{
	cr_expect_eq(msg_add_address(&m, MSG_TO, "a@example.org, @@", &err), -1);
	cr_expect_neq(err.cls, ERR_OK);
}

Test(msgbuild, subject_with_line_break_is_refused)
{
	cr_expect_eq(msg_set_subject(&m, "Hello\r\nBcc: x@example.org", &err), -1);
	cr_expect_eq(err.cls, ERR_DATA);
	cr_expect_null(m.subject);
	cr_expect_eq(msg_set_subject(&m, "Grüße", &err), 0);
	cr_expect_str_eq(m.subject, "Grüße");
}

Test(msgbuild, header_is_split_into_name_and_value)
{
	cr_assert_eq(msg_add_header(&m, "X-Tag:   blue", &err), 0);
	cr_assert_eq(m.nheaders, 1);
	cr_expect_str_eq(m.headers[0].name, "X-Tag");
	cr_expect_str_eq(m.headers[0].value, "blue");
}

Test(msgbuild, malformed_header_leaves_the_message_unchanged)
{
	cr_expect_eq(msg_add_header(&m, "no colon here", &err), -1);
	cr_expect_eq(err.cls, ERR_DATA);
	cr_expect_eq(msg_add_header(&m, "Bad Name: v", &err), -1);
	cr_expect_eq(msg_add_header(&m, "X-A: v\nBcc: x@example.org", &err), -1);
	cr_expect_eq(m.nheaders, 0);
}

Test(msgbuild, mime_and_bcc_headers_are_refused)
{
	cr_expect_eq(msg_add_header(&m, "Bcc: x@example.org", &err), -1);
	cr_expect_eq(err.cls, ERR_DATA);
	cr_expect(strstr(err.text, "use --bcc"));
	cr_expect_eq(msg_add_header(&m, "content-type: text/html", &err), -1);
	cr_expect_eq(msg_add_header(&m, "MIME-Version: 2.0", &err), -1);
	cr_expect(strstr(err.text, "MIME structure"));
}

Test(msgbuild, attachment_takes_its_base_name)
{
	cr_assert_eq(msg_add_file(&m, MSG_ATTACH, "/tmp/dir/report.pdf", &err), 0);
	cr_assert_eq(msg_add_file(&m, MSG_INLINE, "logo.png", &err), 0);
	cr_assert_eq(m.nattach, 1);
	cr_expect_str_eq(m.attach[0].name, "report.pdf");
	cr_expect_str_eq(m.attach[0].path, "/tmp/dir/report.pdf");
	cr_expect_eq(m.attach[0].fd, -1);
	cr_assert_eq(m.ninline, 1);
	cr_expect_str_eq(m.inlines[0].name, "logo.png");
}

Test(msgbuild, directory_or_broken_file_name_is_refused)
{
	cr_expect_eq(msg_add_file(&m, MSG_ATTACH, "/tmp/", &err), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
	cr_expect(strstr(err.text, "--attach needs a file"));
	cr_expect_eq(msg_add_file(&m, MSG_INLINE, "/tmp/a\nb.png", &err), -1);
	cr_expect_eq(err.cls, ERR_DATA);
	cr_expect_eq(m.nattach + m.ninline, 0);
}

Test(msgbuild, priority_by_name_any_case)
{
	cr_expect_eq(msg_set_priority(&m, "URGENT", &err), 0);
	cr_expect_eq(m.priority, PRIO_URGENT);
	cr_expect_eq(msg_set_priority(&m, "hunter2", &err), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
	cr_expect_null(strstr(err.text, "hunter2"), "the value may be a password");
	cr_expect_eq(m.priority, PRIO_URGENT);
}

Test(msgbuild, inline_image_needs_an_html_body)
{
	cr_assert_eq(msg_set_body(&m, MSG_TEXT, "hi", NULL, &err), 0);
	cr_assert_eq(msg_add_file(&m, MSG_INLINE, "logo.png", &err), 0);
	cr_expect_eq(msg_finish(&m, &err), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
	cr_assert_eq(msg_set_body(&m, MSG_HTML, "<img src=cid:logo.png>", NULL, &err), 0);
	cr_expect_eq(msg_finish(&m, &err), 0);
}

Test(msgbuild, standard_input_feeds_one_body)
{
	cr_assert_eq(msg_set_body(&m, MSG_TEXT, NULL, "-", &err), 0);
	cr_assert_eq(msg_set_body(&m, MSG_HTML, NULL, "-", &err), 0);
	cr_expect_eq(msg_finish(&m, &err), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
	cr_assert_eq(msg_set_body(&m, MSG_HTML, "<p>x</p>", NULL, &err), 0);
	cr_expect_eq(msg_finish(&m, &err), 0);
}

Test(msgbuild, ready_message_skips_the_part_rules)
{
	cr_assert_eq(msg_add_file(&m, MSG_INLINE, "logo.png", &err), 0);
	cr_assert_eq(msg_set_message_file(&m, "-", &err), 0);
	cr_expect_eq(msg_finish(&m, &err), 0);
}

Test(msgbuild, envelope_needs_sender_then_a_recipient)
{
	cr_expect_eq(msg_missing(&m), MSG_NO_SENDER);
	cr_assert_eq(msg_add_address(&m, MSG_FROM, "a@example.org", &err), 0);
	cr_expect_eq(msg_missing(&m), MSG_NO_RECIPIENT);
	cr_assert_eq(msg_add_address(&m, MSG_BCC, "b@example.org", &err), 0);
	cr_expect_eq(msg_missing(&m), MSG_COMPLETE);
}
