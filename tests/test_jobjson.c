/* test_jobjson.c - a --batch line to a job, and a job over the command
 * line's defaults to a message: keys in any case, the EmailMessage
 * shape, replacing defaults, and the code each bad line fails with. */
#include <criterion/criterion.h>

#include <string.h>

#include "jobjson.h"
#include "msgbuild.h"

static struct job job;
static struct jobvals defaults;
static struct message m;
static struct session s;
static struct error err;

static void setup(void)
{
	memset(&job, 0, sizeof job);
	memset(&defaults, 0, sizeof defaults);
	memset(&s, 0, sizeof s);
	memset(&err, 0, sizeof err);
	msg_init(&m);
}

static void teardown(void)
{
	job_free(&job);
	jobvals_free(&defaults);
	msg_free(&m);
}

TestSuite(jobjson, .init = setup, .fini = teardown);

static int parse(const char *line)
{
	return job_parse(line, strlen(line), &job, &err);
}

static int build(const char *line)
{
	if (parse(line) < 0)
		return -1;
	return job_build(&job, &defaults, &m, &s, &err);
}

Test(jobjson, long_names_build_the_message)
{
	cr_assert_eq(build("{\"from\":\"a@example.org\",\"to\":\"b@example.org, c@example.org\","
			   "\"cc\":[\"d@example.org\"],\"bcc\":\"e@example.org\",\"subject\":\"Hi\","
			   "\"body\":\"text\",\"header\":[\"X-A: 1\",\"X-B: 2\"],\"priority\":\"high\","
			   "\"read-receipt\":true,\"dsn-notify\":\"never\"}"), 0, "%s", err.text);
	cr_expect_str_eq(m.from.mailbox, "a@example.org");
	cr_expect_eq(m.to.n, 2);
	cr_expect_eq(m.cc.n, 1);
	cr_expect_eq(m.bcc.n, 1);
	cr_expect_str_eq(m.subject, "Hi");
	cr_expect_str_eq(m.text.text, "text");
	cr_expect_eq(m.nheaders, 2);
	cr_expect_eq(m.priority, PRIO_HIGH);
	cr_expect(m.read_receipt);
	cr_expect_neq(s.dsn_notify, 0);
}

Test(jobjson, id_of_any_type_is_kept)
{
	cr_assert_eq(parse("{\"id\":{\"a\":[1,2]},\"to\":\"b@example.org\"}"), 0);
	cr_assert(json_is_object(job.id));
	job_free(&job);
	cr_assert_eq(parse("{\"ID\":42}"), 0);
	cr_expect_eq(json_integer_value(job.id), 42);
	job_free(&job);
	cr_assert_eq(parse("{\"to\":\"b@example.org\"}"), 0);
	cr_expect_null(job.id);
}

Test(jobjson, id_kept_when_a_later_key_fails)
{
	cr_assert_eq(parse("{\"id\":\"x\",\"nope\":1}"), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
	cr_expect_str_eq(json_string_value(job.id), "x");
}

Test(jobjson, email_message_shape)
{
	cr_assert_eq(build("{\"From\":{\"Name\":\"Ann, A.\",\"Address\":\"a@example.org\"},"
			   "\"To\":[{\"Name\":\"Bob \\\"B\\\"\",\"Address\":\"b@example.org\"},\"c@example.org\"],"
			   "\"Cc\":null,\"Subject\":\"S\",\"Body\":\"<p>x</p>\","
			   "\"BodyFormat\":\"EmailMessageBodyFormat.Html\","
			   "\"Priority\":\"EmailMessagePriority.Low\"}"), 0, "%s", err.text);
	cr_expect_str_eq(m.from.name, "Ann, A.");
	cr_expect_eq(m.to.n, 2);
	cr_expect_str_eq(addr_list_name(&m.to, 0), "Bob \"B\"");
	cr_expect_str_eq(addr_list_mailbox(&m.to, 0), "b@example.org");
	cr_expect_not(m.text.present && m.text.text && m.text.text[0]);
	cr_expect_str_eq(m.html.text, "<p>x</p>");
	cr_expect_eq(m.priority, PRIO_LOW);
}

Test(jobjson, body_format_text_and_null_priority)
{
	cr_assert_eq(build("{\"to\":\"b@example.org\",\"Body\":\"t\",\"BodyFormat\":\"text\","
			   "\"Priority\":null}"), 0, "%s", err.text);
	cr_expect_str_eq(m.text.text, "t");
	cr_expect_not(m.html.present);
	cr_expect_eq(m.priority, PRIO_NORMAL);
}

Test(jobjson, a_key_replaces_its_default)
{
	jobvals_add(&defaults, O_TO, "default@example.org", &err);
	jobvals_add(&defaults, O_FROM, "a@example.org", &err);
	jobvals_add(&defaults, O_BODY, "default body", &err);
	jobvals_add(&defaults, O_HTML, "<p>default</p>", &err);
	cr_assert_eq(build("{\"to\":\"b@example.org\",\"body\":\"own\"}"), 0, "%s", err.text);
	cr_expect_eq(m.to.n, 1);
	cr_expect_str_eq(addr_list_mailbox(&m.to, 0), "b@example.org");
	cr_expect_str_eq(m.from.mailbox, "a@example.org");
	cr_expect_str_eq(m.text.text, "own");
	cr_expect_not(m.html.present); /* any body key replaces every body default */
}

Test(jobjson, defaults_apply_when_the_line_is_silent)
{
	jobvals_add(&defaults, O_TO, "default@example.org", &err);
	jobvals_add(&defaults, O_HTML, "<p>default</p>", &err);
	cr_assert_eq(build("{\"subject\":\"s\"}"), 0, "%s", err.text);
	cr_expect_str_eq(addr_list_mailbox(&m.to, 0), "default@example.org");
	cr_expect_str_eq(m.html.text, "<p>default</p>");
}

Test(jobjson, no_body_is_an_empty_text_body_not_stdin)
{
	cr_assert_eq(build("{\"to\":\"b@example.org\"}"), 0, "%s", err.text);
	cr_expect(m.text.present);
	cr_expect_str_eq(m.text.text, "");
	cr_expect_null(m.text.path);
}

static void expect_fails(const char *line, enum err_class cls)
{
	memset(&err, 0, sizeof err);
	cr_expect_eq(build(line), -1, "%s", line);
	cr_expect_eq(err.cls, cls, "%s: %s", line, err.text);
	job_free(&job);
	msg_free(&m);
	msg_init(&m);
}

Test(jobjson, bad_lines_fail_with_their_code)
{
	expect_fails("not json", ERR_DATA);
	expect_fails("[1]", ERR_DATA);
	expect_fails("{\"to\":\"b@example.org\"", ERR_DATA);
	expect_fails("{\"frm\":\"a@example.org\"}", ERR_USAGE);
	expect_fails("{\"to\":\"a@example.org\",\"to\":\"b@example.org\"}", ERR_USAGE);
	expect_fails("{\"to\":\"a@example.org\",\"TO\":\"b@example.org\"}", ERR_USAGE);
	expect_fails("{\"attach\":\"x\",\"Attachments\":[\"y\"]}", ERR_USAGE);
	expect_fails("{\"body\":\"x\",\"html\":\"y\",\"BodyFormat\":\"Html\"}", ERR_USAGE);
	expect_fails("{\"to\":\"not an address\"}", ERR_USAGE);
	expect_fails("{\"to\":5}", ERR_USAGE);
	expect_fails("{\"subject\":[\"a\"]}", ERR_USAGE);
	expect_fails("{\"read-receipt\":\"yes\"}", ERR_USAGE);
	expect_fails("{\"BodyFormat\":\"Markdown\"}", ERR_USAGE);
	expect_fails("{\"priority\":\"EmailMessagePriority.Extreme\"}", ERR_USAGE);
	expect_fails("{\"to\":\"b@example.org\",\"header\":\"X-A: 1\\r\\nBcc: x@example.org\"}", ERR_DATA);
	expect_fails("{\"to\":\"b@example.org\",\"subject\":\"a\\nb\"}", ERR_DATA);
	expect_fails("{\"to\":\"b@example.org\",\"body-file\":\"-\"}", ERR_USAGE);
	expect_fails("{\"message-file\":\"m.eml\",\"subject\":\"x\"}", ERR_USAGE);
}
