/* test_utf8.c - the one UTF-8 validator, and the streaming scanner of
 * encode.c that must judge every character the same way. */
#include <criterion/criterion.h>

#include <string.h>

#include "encode.h"
#include "utf8.h"

#define DECODE(lit, cp) utf8_decode((const unsigned char *)(lit), sizeof(lit) - 1, (cp))

Test(utf8, decodes_each_length)
{
	uint32_t cp = 0;

	cr_expect_eq(DECODE("A", &cp), 1);
	cr_expect_eq(cp, 'A');
	cr_expect_eq(DECODE("\xc3\xbc", &cp), 2);
	cr_expect_eq(cp, 0xfc);
	cr_expect_eq(DECODE("\xe2\x82\xac", &cp), 3);
	cr_expect_eq(cp, 0x20ac);
	cr_expect_eq(DECODE("\xf0\x9f\x93\xa7", &cp), 4);
	cr_expect_eq(cp, 0x1f4e7);
	cr_expect_eq(DECODE("\xf4\x8f\xbf\xbf", NULL), 4, "U+10FFFF is the last");
}

Test(utf8, refuses_disguises_and_broken_forms)
{
	cr_expect_eq(DECODE("\xc0\xaf", NULL), 0, "overlong '/'");
	cr_expect_eq(DECODE("\xe0\x80\xaf", NULL), 0, "overlong '/'");
	cr_expect_eq(DECODE("\xf0\x80\x80\xaf", NULL), 0, "overlong '/'");
	cr_expect_eq(DECODE("\xed\xa0\x80", NULL), 0, "surrogate");
	cr_expect_eq(DECODE("\xf4\x90\x80\x80", NULL), 0, "past U+10FFFF");
	cr_expect_eq(DECODE("\x80", NULL), 0, "lone continuation");
	cr_expect_eq(DECODE("\xff", NULL), 0);
	cr_expect_eq(DECODE("\xe2\x82", NULL), 0, "cut short");
	cr_expect_eq(DECODE("\xc3" "A", NULL), 0);
	cr_expect_eq(utf8_decode((const unsigned char *)"A", 0, NULL), 0, "nothing to read");
}

static bool scan_invalid(const unsigned char *p, size_t n)
{
	struct text_scan t;

	text_scan_init(&t);
	text_scan_update(&t, p, n);
	text_scan_final(&t);
	return t.invalid;
}

/* Every sequence of one to three bytes, and every 4-byte one whose last
 * two bytes are continuations: both validators agree on each. */
Test(utf8, stream_scanner_agrees_on_every_short_sequence)
{
	unsigned char s[4];
	unsigned long checked = 0;

	for (unsigned a = 0x80; a < 0x100; a++)
		for (unsigned b = 0; b < 0x100; b++)
			for (unsigned c = 0; c < (a >= 0xe0 ? 0x100u : 1u); c++)
				for (unsigned d = 0x80; d < (a >= 0xf0 ? 0xc0u : 0x81u); d += 0x3f) {
					size_t n = a >= 0xf0 ? 4 : a >= 0xe0 ? 3 : 2;
					bool valid;

					s[0] = (unsigned char)a;
					s[1] = (unsigned char)b;
					s[2] = (unsigned char)c;
					s[3] = (unsigned char)d;
					valid = utf8_decode(s, n, NULL) == n;
					cr_assert_eq(!scan_invalid(s, n), valid, "%02x %02x %02x %02x (%zu)",
						     a, b, c, d, n);
					checked++;
				}
	cr_expect_gt(checked, 1000000ul);
}
