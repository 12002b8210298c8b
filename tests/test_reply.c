/* test_reply.c - the SMTP reply parser: what it accepts, what it refuses,
 * and that hostile replies cost bounded memory. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

static struct reply r;
static struct error err;

static void setup(void)
{
	reply_init(&r);
	memset(&err, 0, sizeof err);
}

static void teardown(void)
{
	reply_free(&r);
}

TestSuite(reply, .init = setup, .fini = teardown);

/* Feeds the lines of s (separated by '\n') and returns the last result. */
static int feed_all(const char *s)
{
	int ret = 0;

	for (;;) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);

		ret = reply_feed(&r, s, len, &err);
		if (ret != 0 || !nl)
			return ret;
		s = nl + 1;
	}
}

static int feed1(const char *line, size_t len)
{
	return reply_feed(&r, line, len, &err);
}

Test(reply, single_line)
{
	cr_assert_eq(feed_all("220 mail.example.com ESMTP ready"), 1);
	cr_expect_eq(r.code, 220);
	cr_expect_str_eq(r.text, "mail.example.com ESMTP ready");
	cr_expect_str_eq(r.enhanced, "");
	cr_expect_eq(r.nlines, 1);
	cr_expect(r.done);
}

Test(reply, bare_code_is_a_complete_last_line)
{
	cr_assert_eq(feed_all("250"), 1);
	cr_expect_eq(r.code, 250);
	cr_expect_str_eq(r.text, "");
	cr_expect_eq(r.len, 0);
}

Test(reply, bare_code_ends_a_multiline_reply)
{
	cr_assert_eq(feed_all("250-first\n250"), 1);
	cr_expect_str_eq(r.text, "first\n");
	cr_expect_eq(r.nlines, 2);
}

Test(reply, code_with_space_and_no_text)
{
	cr_assert_eq(feed_all("354 "), 1);
	cr_expect_eq(r.code, 354);
	cr_expect_str_eq(r.text, "");
}

Test(reply, multiline_ehlo)
{
	cr_expect_eq(feed1("250-mx.example.com Hello", 24), 0);
	cr_expect_not(r.done);
	cr_expect_eq(feed1("250-PIPELINING", 14), 0);
	cr_expect_eq(feed1("250-SIZE 52428800", 17), 0);
	cr_expect_eq(feed1("250-8BITMIME", 12), 0);
	cr_expect_eq(feed1("250-AUTH PLAIN LOGIN CRAM-MD5", 29), 0);
	cr_expect_eq(feed1("250 STARTTLS", 12), 1);
	cr_expect_eq(r.code, 250);
	cr_expect_eq(r.nlines, 6);
	cr_expect_str_eq(r.enhanced, "");
	cr_expect_str_eq(r.text, "mx.example.com Hello\nPIPELINING\nSIZE 52428800\n"
			 "8BITMIME\nAUTH PLAIN LOGIN CRAM-MD5\nSTARTTLS");
}

Test(reply, continuation_with_empty_text)
{
	cr_assert_eq(feed_all("250-\n250 done"), 1);
	cr_expect_str_eq(r.text, "\ndone");
}

Test(reply, enhanced_code_is_parsed_and_stripped)
{
	cr_assert_eq(feed_all("550 5.1.1 <nobody@example.com>: user unknown"), 1);
	cr_expect_eq(r.code, 550);
	cr_expect_str_eq(r.enhanced, "5.1.1");
	cr_expect_str_eq(r.text, "<nobody@example.com>: user unknown");
}

Test(reply, enhanced_code_with_three_digit_parts)
{
	cr_assert_eq(feed_all("452 4.123.456 busy"), 1);
	cr_expect_str_eq(r.enhanced, "4.123.456");
	cr_expect_str_eq(r.text, "busy");
}

Test(reply, enhanced_code_alone)
{
	cr_assert_eq(feed_all("250 2.0.0"), 1);
	cr_expect_str_eq(r.enhanced, "2.0.0");
	cr_expect_str_eq(r.text, "");
}

Test(reply, enhanced_code_of_other_class_is_text)
{
	/* "2.5" in a 5yz reply is not an enhanced code (class must match). */
	cr_assert_eq(feed_all("552 2.5.0 is not our class"), 1);
	cr_expect_str_eq(r.enhanced, "");
	cr_expect_str_eq(r.text, "2.5.0 is not our class");
}

Test(reply, enhanced_code_needs_a_space_after_it)
{
	cr_assert_eq(feed_all("250 2.0.0OK"), 1);
	cr_expect_str_eq(r.enhanced, "");
	cr_expect_str_eq(r.text, "2.0.0OK");
}

Test(reply, enhanced_code_parts_longer_than_three_digits_are_text)
{
	cr_assert_eq(feed_all("250 2.1234.0 x"), 1);
	cr_expect_str_eq(r.enhanced, "");
	cr_expect_str_eq(r.text, "2.1234.0 x");
}

Test(reply, enhanced_code_repeated_on_continuations_is_stripped)
{
	cr_assert_eq(feed_all("550-5.1.1 The account does not exist.\n"
			      "550-5.1.1 Please check the address\n"
			      "550 5.1.1 and try again."), 1);
	cr_expect_str_eq(r.enhanced, "5.1.1");
	cr_expect_str_eq(r.text, "The account does not exist.\n"
			 "Please check the address\nand try again.");
}

Test(reply, different_enhanced_code_on_continuation_is_kept)
{
	cr_assert_eq(feed_all("550-5.1.1 first\n550 5.7.1 second"), 1);
	cr_expect_str_eq(r.enhanced, "5.1.1");
	cr_expect_str_eq(r.text, "first\n5.7.1 second");
}

Test(reply, digits_in_text_are_text)
{
	cr_assert_eq(feed_all("250 2.0.0 OK 12345 queued as 67"), 1);
	cr_expect_eq(r.code, 250);
	cr_expect_str_eq(r.enhanced, "2.0.0");
	cr_expect_str_eq(r.text, "OK 12345 queued as 67");
}

Test(reply, text_that_starts_with_a_code_is_text)
{
	cr_assert_eq(feed_all("250 250 250"), 1);
	cr_expect_str_eq(r.text, "250 250");
}

Test(reply, utf8_text_is_allowed)
{
	cr_assert_eq(feed_all("550 5.1.1 Empfänger unbekannt — 用户"), 1);
	cr_expect_str_eq(r.text, "Empfänger unbekannt — 用户");
}

Test(reply, tab_is_allowed)
{
	cr_assert_eq(feed_all("250 a\tb"), 1);
	cr_expect_str_eq(r.text, "a\tb");
}

Test(reply, temp_and_perm_classes)
{
	cr_assert_eq(feed_all("421 4.3.2 shutting down"), 1);
	cr_expect_eq(r.code, 421);
	cr_expect_str_eq(r.enhanced, "4.3.2");
}

/* --- refused forms --- */

static void expect_protocol_error(const char *line, size_t len)
{
	cr_expect_eq(reply_feed(&r, line, len, &err), -1, "accepted \"%.*s\"",
		     (int)len, line);
	cr_expect_eq(err.cls, ERR_PROTOCOL);
	cr_expect_neq(err.text[0], '\0');
}

Test(reply, empty_line_is_refused)
{
	expect_protocol_error("", 0);
}

Test(reply, short_lines_are_refused)
{
	expect_protocol_error("2", 1);
	expect_protocol_error("25", 2);
}

Test(reply, letters_in_code_are_refused)
{
	expect_protocol_error("25x ok", 6);
	expect_protocol_error("abc ok", 6);
	expect_protocol_error(" 250 ok", 7);
}

Test(reply, codes_outside_2xx_5xx_are_refused)
{
	expect_protocol_error("100 continue", 12);
	expect_protocol_error("199 x", 5);
	expect_protocol_error("600 x", 5);
	expect_protocol_error("000 x", 5);
	expect_protocol_error("260 second digit too big", 24);
	expect_protocol_error("590 x", 5);
}

Test(reply, four_digit_code_is_refused)
{
	expect_protocol_error("2500 ok", 7);
}

Test(reply, wrong_separator_is_refused)
{
	expect_protocol_error("250_ok", 6);
	expect_protocol_error("250\tok", 6);
	expect_protocol_error("250:ok", 6);
}

Test(reply, nul_byte_is_refused)
{
	expect_protocol_error("250 o\0k", 7);
	cr_expect(strstr(err.text, "0x00"));
}

Test(reply, cr_in_text_is_refused)
{
	expect_protocol_error("250 ok\rRCPT TO:<x@y>", 20);
}

Test(reply, other_control_bytes_are_refused)
{
	expect_protocol_error("250 \x1b[31mred", 12);
	expect_protocol_error("250 del\x7f", 8);
	expect_protocol_error("250 \x01", 5);
	expect_protocol_error("250 a\nb", 7);
}

Test(reply, code_changing_mid_reply_is_refused)
{
	cr_expect_eq(feed_all("250-first"), 0);
	expect_protocol_error("550 second", 10);
	cr_expect(strstr(err.text, "changed mid-reply"));
}

Test(reply, malformed_continuation_is_refused)
{
	cr_expect_eq(feed_all("250-first"), 0);
	expect_protocol_error("250second", 9);
}

Test(reply, error_carries_the_offending_line)
{
	expect_protocol_error("hello world", 11);
	cr_expect(strstr(err.reply, "hello world"), "reply: %s", err.reply);
}

Test(reply, max_lines_are_accepted)
{
	for (int i = 0; i < REPLY_MAX_LINES - 1; i++)
		cr_assert_eq(feed1("250-line", 8), 0);
	cr_assert_eq(feed1("250 end", 7), 1);
	cr_expect_eq(r.nlines, REPLY_MAX_LINES);
}

Test(reply, more_than_max_lines_is_refused)
{
	int ret = 0, i;

	for (i = 0; i < 100000 && ret == 0; i++)
		ret = feed1("250-line", 8);
	cr_expect_eq(ret, -1);
	cr_expect_eq(i, REPLY_MAX_LINES + 1);
	cr_expect_eq(err.cls, ERR_PROTOCOL);
}

Test(reply, text_is_bounded)
{
	static char line[4100];
	int ret = 0;

	memset(line, 'x', sizeof line);
	memcpy(line, "250-", 4);
	for (int i = 0; i < REPLY_MAX_LINES - 1 && ret == 0; i++)
		ret = feed1(line, sizeof line);
	cr_assert_eq(ret, 0);
	cr_assert_eq(feed1("250 end", 7), 1);
	cr_expect_leq(r.len, REPLY_MAX_TEXT);
	cr_expect_leq(r.cap, REPLY_MAX_TEXT + 1);
	cr_expect_eq(strlen(r.text), r.len);
}

Test(reply, feeding_after_done_starts_a_new_reply)
{
	cr_assert_eq(feed_all("250-a\n250 b"), 1);
	cr_assert_eq(feed_all("354 go ahead"), 1);
	cr_expect_eq(r.code, 354);
	cr_expect_eq(r.nlines, 1);
	cr_expect_str_eq(r.text, "go ahead");
}

Test(reply, reset_clears_everything)
{
	cr_assert_eq(feed_all("550 5.1.1 no"), 1);
	reply_reset(&r);
	cr_expect_eq(r.code, 0);
	cr_expect_str_eq(r.enhanced, "");
	cr_expect_eq(r.nlines, 0);
	cr_expect_not(r.done);
	cr_expect_eq(r.len, 0);
}

/* --- reply_oneline --- */

Test(reply, oneline_joins_lines)
{
	char buf[128];

	cr_assert_eq(feed_all("550-5.1.1 first\n550 5.1.1 second"), 1);
	reply_oneline(&r, buf, sizeof buf);
	cr_expect_str_eq(buf, "550 5.1.1 first / second");
}

Test(reply, oneline_without_text)
{
	char buf[32];

	cr_assert_eq(feed_all("250"), 1);
	reply_oneline(&r, buf, sizeof buf);
	cr_expect_str_eq(buf, "250");
}

Test(reply, oneline_of_an_empty_reply)
{
	char buf[32];

	reply_oneline(&r, buf, sizeof buf);
	cr_expect_str_eq(buf, "000");
}

Test(reply, oneline_truncates_within_the_buffer)
{
	char buf[12];

	memset(buf, '#', sizeof buf);
	cr_assert_eq(feed_all("250 abcdefghijklmnop"), 1);
	reply_oneline(&r, buf, sizeof buf);
	cr_expect_str_eq(buf, "250 abcdefg");
}

Test(reply, oneline_truncation_keeps_utf8_whole)
{
	char buf[8];

	/* "250 ab" + the first byte of "é" would fit; the sequence must go. */
	cr_assert_eq(feed_all("250 abé"), 1);
	reply_oneline(&r, buf, sizeof buf);
	cr_expect_str_eq(buf, "250 ab");
}

Test(reply, oneline_tiny_buffers)
{
	char buf[4];

	cr_assert_eq(feed_all("250 2.0.0 ok"), 1);
	reply_oneline(&r, buf, 1);
	cr_expect_eq(buf[0], '\0');
	reply_oneline(&r, buf, sizeof buf);
	cr_expect_str_eq(buf, "250");
}

Test(reply, oneline_does_not_split_the_separator)
{
	char buf[10];

	cr_assert_eq(feed_all("250-abcd\n250 efgh"), 1);
	reply_oneline(&r, buf, sizeof buf);
	cr_expect_str_eq(buf, "250 abcd");
}
