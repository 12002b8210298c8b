/* test_sendlog.c - the send log line. */
#include <criterion/criterion.h>

#include <string.h>

#include "sendlog.h"

Test(sendlog, every_field_on_one_line)
{
	const char *rcpts[] = {"a@x.example", "b@y.example"};
	struct sendlog_rec r = {.account = "work", .server = "smtp.x.example:587",
				.sender = "me@x.example", .rcpts = rcpts, .nrcpts = 2, .size = 1234,
				.outcome = "sent", .cls = "sent", .exit_code = 0, .queue_id = "1xYZ-0001"};
	char line[1024];

	sendlog_format(line, sizeof line, &r, 1700000000);
	cr_expect_str_eq(line, "2023-11-14T22:13:20Z outcome=sent account=work "
		"server=smtp.x.example:587 from=me@x.example to=a@x.example,b@y.example size=1234 "
		"class=sent exit=0 id=1xYZ-0001");
	r.entry_id = "20261201220924-2602s4ij";
	sendlog_format(line, sizeof line, &r, 1700000000);
	cr_expect(strstr(line, " id=1xYZ-0001 entry=20261201220924-2602s4ij") != NULL, "%s", line);
}

Test(sendlog, values_cannot_add_fields_or_lines)
{
	const char *rcpts[] = {"a@x.example\nfake=1"};
	struct sendlog_rec r = {.sender = "x y@z", .rcpts = rcpts, .nrcpts = 1, .outcome = "failed",
				.cls = "temporary failure", .exit_code = 75};
	char line[1024];

	sendlog_format(line, sizeof line, &r, 0);
	cr_expect_str_eq(line, "outcome=failed account=default server=- from=x_y@z "
		"to=a@x.example_fake=1 size=0 class=temporary_failure exit=75 id=-");
}
