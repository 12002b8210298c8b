/* test_habits.c - input that shows a habit from another mail tool. */
#include <criterion/criterion.h>

#include <string.h>

#include "habits.h"

static bool looks(const char *text, char *names)
{
	return habits_looks_like_message(text, strlen(text), names, 64);
}

Test(habits, piped_message_is_recognised)
{
	char names[64];

	cr_assert(looks("From: a@b.c\nTo: d@e.f\nSubject: hi\n\nbody\n", names));
	cr_expect_str_eq(names, "From:, To:, Subject:");
	cr_assert(looks("Subject: report\r\nX-Mailer: cron\r\n  folded\r\n\r\n", names));
	cr_expect_str_eq(names, "Subject:");
}

Test(habits, ordinary_bodies_are_not)
{
	char names[64];

	cr_expect(!looks("Hello Bob,\n\nthe backup ran.\n", names));
	cr_expect(!looks("Note: the backup ran.\nAll fine.\n", names));     /* no blank line */
	cr_expect(!looks("Status: ok\n\nall fine\n", names));                 /* no telling field */
	cr_expect(!looks("Subject: x\nthen words\n\n", names));
	cr_expect(!looks("", names));
	cr_expect(!looks("\nFrom: a@b.c\n\n", names));
}
