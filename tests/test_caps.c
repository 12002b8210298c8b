/* EHLO capabilities. */
#include <criterion/criterion.h>

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
