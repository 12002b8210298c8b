/* The result's recipients: four bytes each, replies stored once, the
 * addresses read where the message keeps them (smtp_rcpt.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "smtp_txn.h"

static struct smtp_result res;
static struct error err;

static void fini(void)
{
	smtp_result_free(&res);
}

TestSuite(smtp_rcpt, .fini = fini);

/* Records reply text (one line, "NNN ...") for recipient i. */
static void record(struct txn *t, size_t i, const char *text)
{
	struct reply rp;

	reply_init(&rp);
	cr_assert_eq(reply_feed(&rp, text, strlen(text), &err), 1, "%s", err.text);
	cr_assert_eq(txn_record_rcpt(t, i, &rp), 0, "%s", err.text);
	reply_free(&rp);
}

static const char *nth(const void *ctx, size_t i)
{
	static char buf[4][32];

	(void)ctx;
	snprintf(buf[i % 4], sizeof buf[i % 4], "r%zu@example.com", i);
	return buf[i % 4];
}

Test(smtp_rcpt, each_recipient_gets_its_code_status_and_reply)
{
	const char *rcpts[] = {"a@x.example", "b@x.example", "c@x.example", "d@x.example"};
	struct smtp_message m = {.from = "s@x.example", .rcpts = rcpts, .nrcpts = 4};
	struct txn t = {.m = &m, .r = &res, .err = &err};

	cr_assert_eq(smtp_result_init(&res, &m, &err), 0);
	record(&t, 0, "250 2.1.5 ok");
	record(&t, 1, "250 2.1.5 ok");
	record(&t, 2, "550 5.1.1 no such user");
	cr_expect_eq(res.accepted, 2);
	cr_expect_eq(smtp_result_rcpt(&res, 1).mailbox, rcpts[1]);
	cr_expect_str_eq(smtp_result_rcpt(&res, 1).reply, "250 2.1.5 ok");
	cr_expect_eq(smtp_result_rcpt(&res, 1).status, SMTP_RCPT_ACCEPTED);
	cr_expect_eq(smtp_result_rcpt(&res, 2).code, 550);
	cr_expect_eq(smtp_result_rcpt(&res, 2).status, SMTP_RCPT_REFUSED);
	cr_expect_str_eq(smtp_result_rcpt(&res, 2).reply, "550 5.1.1 no such user");
	cr_expect_eq(smtp_result_rcpt(&res, 3).code, 0);
	cr_expect_eq(smtp_result_rcpt(&res, 3).status, SMTP_RCPT_UNASKED);
	cr_expect_str_eq(smtp_result_rcpt(&res, 3).reply, "");
	cr_expect_str_eq(res.mail_from, "s@x.example");
}

Test(smtp_rcpt, equal_replies_in_a_row_share_one_text)
{
	const char *rcpts[] = {"a@x.example", "b@x.example", "c@x.example"};
	struct smtp_message m = {.from = "s@x.example", .rcpts = rcpts, .nrcpts = 3};
	struct txn t = {.m = &m, .r = &res, .err = &err};

	cr_assert_eq(smtp_result_init(&res, &m, &err), 0);
	for (size_t i = 0; i < 3; i++)
		record(&t, i, "250 2.1.5 ok");
	cr_expect_eq(smtp_result_rcpt(&res, 0).reply, smtp_result_rcpt(&res, 2).reply);
}

Test(smtp_rcpt, envelope_from_a_function_needs_no_array)
{
	struct smtp_message m = {.from = "s@x.example", .rcpt = nth, .nrcpts = 1000000};
	struct txn t = {.m = &m, .r = &res, .err = &err};

	cr_assert_eq(smtp_result_init(&res, &m, &err), 0);
	cr_expect_str_eq(smtp_message_rcpt(&m, 999999), "r999999@example.com");
	record(&t, 999999, "250 ok");
	cr_expect_str_eq(smtp_result_rcpt(&res, 999999).mailbox, "r999999@example.com");
	cr_expect_eq(smtp_result_rcpt(&res, 999999).status, SMTP_RCPT_ACCEPTED);
	cr_expect_eq(smtp_result_rcpt(&res, 999998).status, SMTP_RCPT_UNASKED);
}

/* A server naming each recipient in its 2xx (sendmail): the first 1,024
 * texts are kept, then the code alone, stored once. */
Test(smtp_rcpt, past_1024_distinct_2xx_texts_the_code_alone)
{
	struct smtp_message m = {.from = "s@x.example", .rcpt = nth, .nrcpts = 1100};
	struct txn t = {.m = &m, .r = &res, .err = &err};
	char text[64];

	cr_assert_eq(smtp_result_init(&res, &m, &err), 0);
	for (size_t i = 0; i < 1100; i++) {
		snprintf(text, sizeof text, "250 <r%zu@example.com> ok", i);
		record(&t, i, text);
	}
	cr_expect_str_eq(smtp_result_rcpt(&res, 1023).reply, "250 <r1023@example.com> ok");
	cr_expect_str_eq(smtp_result_rcpt(&res, 1024).reply, "250");
	cr_expect_eq(smtp_result_rcpt(&res, 1024).reply, smtp_result_rcpt(&res, 1099).reply);
}

/* Refusals are kept whole while the reply index (20 bits) has room;
 * then the code alone, one text per code: memory stays bounded by what
 * the index can name whatever the server says. */
Test(smtp_rcpt, refusals_past_the_index_keep_the_code_alone, .timeout = 60)
{
	enum { N = (1 << 20) + 10 };
	struct smtp_message m = {.from = "s@x.example", .rcpt = nth, .nrcpts = N};
	struct txn t = {.m = &m, .r = &res, .err = &err};
	char text[64];
	size_t whole = 0;

	cr_assert_eq(smtp_result_init(&res, &m, &err), 0);
	for (size_t i = 0; i < N; i++) {
		snprintf(text, sizeof text, "%d user %zu unknown", i % 2 ? 550 : 450, i);
		record(&t, i, text);
	}
	for (size_t i = 0; i < N; i++)
		whole += strlen(smtp_result_rcpt(&res, i).reply) > 3;
	cr_expect_gt(whole, (1 << 20) - 1100);
	cr_expect_lt(whole, 1 << 20);
	cr_expect_str_eq(smtp_result_rcpt(&res, 0).reply, "450 user 0 unknown");
	cr_expect_str_eq(smtp_result_rcpt(&res, N - 1).reply, "550");
	cr_expect_str_eq(smtp_result_rcpt(&res, N - 2).reply, "450");
	cr_expect_eq(smtp_result_rcpt(&res, N - 1).code, 550);
	cr_expect_eq(smtp_result_rcpt(&res, N - 1).status, SMTP_RCPT_REFUSED);
	cr_expect_eq(smtp_result_rcpt(&res, N - 1).reply, smtp_result_rcpt(&res, N - 3).reply);
}
