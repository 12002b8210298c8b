/* EHLO capabilities. */
#include <criterion/criterion.h>

#include <string.h>

#include "caps.h"

Test(caps, keywords_and_parameters)
{
	struct caps c;

	caps_parse(&c, "mx.example.com Hello\nSIZE 35882577\n8BITMIME\nAUTH LOGIN PLAIN XOAUTH2\n"
		       "ENHANCEDSTATUSCODES\nPIPELINING\nCHUNKING\nSMTPUTF8\nDSN\nSTARTTLS");
	cr_expect(c.esmtp && c.pipelining && c.chunking && c.starttls && c.eightbitmime);
	cr_expect(c.smtputf8 && c.dsn && c.auth);
	cr_expect_eq(c.size, 35882577);
	cr_expect_str_eq(c.mechs, "LOGIN PLAIN XOAUTH2");
}

Test(caps, lowercase_and_old_auth_form)
{
	struct caps c;

	caps_parse(&c, "hi\npipelining\nAUTH=LOGIN\nauth plain");
	cr_expect(c.pipelining);
	cr_expect_str_eq(c.mechs, "LOGIN plain");
}

Test(caps, greeting_line_is_not_a_keyword)
{
	struct caps c;

	caps_parse(&c, "STARTTLS greets you");
	cr_expect_not(c.starttls);
}

Test(caps, prefixes_do_not_match)
{
	struct caps c;

	caps_parse(&c, "x\nSTARTTLSX\nPIPELININGS\nSIZE");
	cr_expect_not(c.starttls);
	cr_expect_not(c.pipelining);
	cr_expect_eq(c.size, 0);
}

/* Exim with message_size_limit = 0 says a bare SIZE; the next line's
 * digits are not its value. */
Test(caps, bare_size_then_8bitmime_is_no_limit)
{
	struct caps c;

	caps_parse(&c, "exim.example Hello\nSIZE\n8BITMIME\nPIPELINING\nCHUNKING");
	cr_expect_eq(c.size, 0);
	cr_expect(c.eightbitmime && c.pipelining && c.chunking);
	caps_parse(&c, "exim.example Hello\r\nSIZE\r\n8BITMIME\r\n");
	cr_expect_eq(c.size, 0);
	cr_expect(c.eightbitmime);
	caps_parse(&c, "exim.example Hello\nSIZE \n8BITMIME");
	cr_expect_eq(c.size, 0);
}

Test(caps, size_zero_and_unreadable_sizes_are_no_limit)
{
	struct caps c;

	caps_parse(&c, "x\nSIZE 0\n8BITMIME");
	cr_expect_eq(c.size, 0);
	caps_parse(&c, "x\nSIZE abc\n1000");
	cr_expect_eq(c.size, 0);
	caps_parse(&c, "x\nSIZE 12abc");
	cr_expect_eq(c.size, 0);
	caps_parse(&c, "x\nSIZE -5");
	cr_expect_eq(c.size, 0);
	caps_parse(&c, "x\nSIZE +5");
	cr_expect_eq(c.size, 0);
}

Test(caps, size_past_64_bits_is_no_limit)
{
	struct caps c;

	caps_parse(&c, "x\nSIZE 18446744073709551615");
	cr_expect_eq(c.size, UINT64_MAX);
	caps_parse(&c, "x\nSIZE 18446744073709551616\n8BITMIME");
	cr_expect_eq(c.size, 0);
	caps_parse(&c, "x\nSIZE 99999999999999999999999999");
	cr_expect_eq(c.size, 0);
}

Test(caps, size_as_last_line_and_with_crlf)
{
	struct caps c;

	caps_parse(&c, "x\n8BITMIME\nSIZE 35882577");
	cr_expect_eq(c.size, 35882577);
	caps_parse(&c, "x\r\n8BITMIME\r\nSIZE 35882577\r\n");
	cr_expect_eq(c.size, 35882577);
	cr_expect(c.eightbitmime);
	caps_parse(&c, "x\nSIZE");
	cr_expect_eq(c.size, 0);
	caps_parse(&c, "x\r\nSIZE\r\n");
	cr_expect_eq(c.size, 0);
	caps_parse(&c, "x\nsize   1000  \nPIPELINING\r");
	cr_expect_eq(c.size, 1000);
	cr_expect(c.pipelining);
}

Test(caps, old_auth_form_and_repeated_auth_lines)
{
	struct caps c;

	caps_parse(&c, "x\nAUTH=LOGIN\nAUTH LOGIN PLAIN\n");
	cr_expect(c.auth);
	cr_expect_str_eq(c.mechs, "LOGIN LOGIN PLAIN");
	caps_parse(&c, "x\r\nAUTH=LOGIN PLAIN\r\nAUTH  XOAUTH2 \r\nSIZE 10\r\n");
	cr_expect_str_eq(c.mechs, "LOGIN PLAIN XOAUTH2");
	cr_expect_eq(c.size, 10);
	caps_parse(&c, "x\nAUTH\n8BITMIME");
	cr_expect(c.auth);
	cr_expect_str_eq(c.mechs, "");
	cr_expect(c.eightbitmime);
}

Test(caps, too_many_mechanisms_keep_a_prefix_of_whole_names)
{
	struct caps c;
	char text[2048] = "x\nAUTH";

	for (int i = 0; i < 100; i++)
		strcat(text, " MECHANISM-NAME");
	caps_parse(&c, text);
	cr_expect(c.mechs_cut);
	cr_expect_lt(strlen(c.mechs), sizeof c.mechs);
	cr_expect_eq(strlen(c.mechs) % 15, 14, "whole names only: %zu", strlen(c.mechs));
}
