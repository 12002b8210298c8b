/* test_queueid.c - the queue id in the replies of common servers. */
#include <criterion/criterion.h>

#include <string.h>

#include "queueid.h"

/* text as struct reply holds it: lines joined by '\n', codes removed */
static void expect_id(const char *text, const char *id)
{
	char out[64];
	bool found = queueid_find(text, strlen(text), out, sizeof out);

	if (id) {
		cr_assert(found, "no id found in \"%s\"", text);
		cr_expect_str_eq(out, id);
	} else {
		cr_expect(!found, "\"%s\" found in \"%s\"", out, text);
		cr_expect_str_eq(out, "");
	}
}

Test(queueid, exim_after_a_chunk_line)
{
	expect_id(" 1002 byte chunk, total 1002\nOK id=1xYTbZ-0001En-2d", "1xYTbZ-0001En-2d");
}

Test(queueid, postfix)
{
	expect_id("Ok: queued as 4RfX2k0Zkzz5vN", "4RfX2k0Zkzz5vN");
}

Test(queueid, opensmtpd_and_sendmail)
{
	expect_id("5e6a2b1c Message accepted for delivery", "5e6a2b1c");
	expect_id("4B7LdE1234567 Message accepted for delivery", "4B7LdE1234567");
}

Test(queueid, gmail)
{
	expect_id("OK  1700000000 d9443c01a7336-1d0e5c8c2f5si123456pla.123 - gsmtp",
		  "d9443c01a7336-1d0e5c8c2f5si123456pla.123");
}

Test(queueid, microsoft)
{
	expect_id("<AB12@EX.PROD.OUTLOOK.COM> [InternalId=15586660950532, "
		  "Hostname=AM0PR01MB1234.eurprd01.prod.exchangelabs.com] Queued mail for delivery",
		  "15586660950532");
}

Test(queueid, none_in_plain_words)
{
	expect_id("OK", NULL);
	expect_id("Message accepted", NULL);
	expect_id("Great success", NULL);
	expect_id("", NULL);
}

Test(queueid, server_text_never_passes_for_an_id)
{
	expect_id("OK id=\x1b[31mred", NULL);
	expect_id("queued as <script>", NULL);
}
