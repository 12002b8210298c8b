/* test_printable.c - the one helper that shows untrusted text. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "printable.h"

static const char *shown(const char *s, size_t len)
{
	static char buf[512];

	printable_copy(buf, sizeof buf, s, len);
	return buf;
}

#define SHOWN(lit) shown(lit, sizeof lit - 1)

static char *json(const char *s)
{
	static char buf[512];
	FILE *f = fmemopen(buf, sizeof buf, "w");

	printable_json(f, s);
	fclose(f);
	return buf;
}

Test(printable, ascii_and_valid_utf8_stay)
{
	cr_expect_str_eq(SHOWN("250 ok, M\xc3\xbcller \xe2\x82\xac \xf0\x9f\x93\xa7"),
			 "250 ok, M\xc3\xbcller \xe2\x82\xac \xf0\x9f\x93\xa7");
	cr_expect_str_eq(SHOWN("a\\x1b"), "a\\x1b");  /* already shown: unchanged */
}

Test(printable, c0_controls_and_del_are_escaped)
{
	cr_expect_str_eq(SHOWN("\x1b[2J\x1b]0;t\x07|\t|\r\n|\x7f"),
			 "\\x1b[2J\\x1b]0;t\\x07|\\x09|\\x0d\\x0a|\\x7f");
	cr_expect_str_eq(shown("a\0b", 3), "a\\x00b");
}

Test(printable, c1_controls_are_escaped)
{
	cr_expect_str_eq(SHOWN("\xc2\x80|\xc2\x85|\xc2\x9b" "31m|\xc2\x9f|\xc2\xa0"),
			 "\\u0080|\\u0085|\\u009b31m|\\u009f|\xc2\xa0");
}

Test(printable, bidi_controls_are_escaped)
{
	cr_expect_str_eq(SHOWN("\xe2\x80\xaa\xe2\x80\xae|\xe2\x81\xa6\xe2\x81\xa9|\xe2\x80\x8f|\xe2\x80\xa8"),
			 "\\u202a\\u202e|\\u2066\\u2069|\\u200f|\\u2028");
}

Test(printable, invalid_utf8_is_shown_byte_by_byte)
{
	cr_expect_str_eq(SHOWN("\x9b" "1m"), "\\x9b1m");                /* lone continuation */
	cr_expect_str_eq(SHOWN("\xc0\x9b"), "\\xc0\\x9b");              /* overlong */
	cr_expect_str_eq(SHOWN("\xe0\x80\x9b"), "\\xe0\\x80\\x9b");     /* overlong */
	cr_expect_str_eq(SHOWN("\xed\xa0\x80"), "\\xed\\xa0\\x80");     /* surrogate */
	cr_expect_str_eq(SHOWN("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80"); /* past U+10FFFF */
	cr_expect_str_eq(SHOWN("x\xc3"), "x\\xc3");                     /* cut short */
	cr_expect_str_eq(SHOWN("\xff\xfe"), "\\xff\\xfe");
}

Test(printable, copy_cuts_between_characters)
{
	char buf[8];

	cr_expect_eq(printable_copy(buf, sizeof buf, "ab\x1b" "cd", 5), 7);
	cr_expect_str_eq(buf, "ab\\x1bc");
	cr_expect_eq(printable_copy(buf, 6, "ab\x1b", 3), 2);
	cr_expect_str_eq(buf, "ab");
	cr_expect_eq(printable_copy(buf, 4, "\xc3\xbc\xc3\xbc", 4), 2);
	cr_expect_str_eq(buf, "\xc3\xbc");
}

Test(printable, json_is_valid_and_carries_no_control)
{
	cr_expect_str_eq(json("q\"b\\ \x1b[2J \xc2\x9b \xe2\x80\xae \x9b M\xc3\xbcller"),
			 "\"q\\\"b\\\\ \\u001b[2J \\u009b \\u202e \\\\x9b M\xc3\xbcller\"");
	cr_expect_str_eq(json(NULL), "\"\"");
}

Test(printable, every_byte_value_comes_out_safe)
{
	for (int a = 0; a < 256; a++)
		for (int b = 0; b < 256; b += 7) {
			char in[3] = { (char)a, (char)b, (char)0xc2 };
			const unsigned char *o = (const unsigned char *)shown(in, 3);

			for (; *o; o++) {
				cr_assert(*o >= 0x20 && *o != 0x7f, "byte %02x in %02x %02x", *o, a, b);
				cr_assert(!(o[0] == 0xc2 && o[1] >= 0x80 && o[1] <= 0x9f),
					  "C1 from %02x %02x", a, b);
			}
		}
}

Test(printable, error_reply_and_line_are_escaped)
{
	struct error e;
	char line[1200];
	static const char reply[] = "550-a\x1b]0;t\x07\r\n550 b\xe2\x80\xae";

	err_set(&e, ERR_CERT, "certificate for CN=x\x1b[2J\xc2\x9b");
	err_reply(&e, reply, sizeof reply - 1);
	cr_expect_str_eq(e.reply, "550-a\\x1b]0;t\\x07 / 550 b\\u202e");
	err_format(&e, line, sizeof line);
	cr_expect_str_eq(line, "envoi: certificate rejected: certificate for CN=x\\x1b[2J\\u009b; "
			 "server said: 550-a\\x1b]0;t\\x07 / 550 b\\u202e");
}

Test(printable, quote_names_what_a_user_typed)
{
	char buf[128];

	cr_expect_str_eq(printable_quote(buf, sizeof buf, "a\rb\nc\td\x1b", 80, false),
			 "a\\rb\\nc\\td\\x1b");
	cr_expect_str_eq(printable_quote(buf, sizeof buf, "say \"hi\" \\o", 80, false),
			 "say \"hi\" \\o");
	cr_expect_str_eq(printable_quote(buf, sizeof buf, "say \"hi\" \\o", 80, true),
			 "say \\\"hi\\\" \\\\o");
}

Test(printable, quote_escapes_what_would_drive_the_terminal)
{
	char buf[128];

	cr_expect_str_eq(printable_quote(buf, sizeof buf, "a\xe2\x80\xae" "b\xc2\x9b" "c\xff", 80, false),
			 "a\\u202eb\\u009bc\\xff");
	cr_expect_str_eq(printable_quote(buf, sizeof buf, "M\xc3\xbcller", 80, true), "M\xc3\xbcller");
}

Test(printable, quote_cuts_after_limit_or_when_full)
{
	char buf[16];

	cr_expect_str_eq(printable_quote(buf, sizeof buf, "abcdefgh", 4, false), "abcd...");
	cr_expect_str_eq(printable_quote(buf, sizeof buf, "abcdefghijklmnopqrstuvwxyz", 100, false),
			 "abcdefghijkl");
	cr_expect_str_eq(printable_quote(buf, sizeof buf, "abcdefghijk\x1b", 100, false),
			 "abcdefghijk");
}
