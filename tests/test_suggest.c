/* test_suggest.c - "did you mean" for mistyped names. */
#include <criterion/criterion.h>

#include "suggest.h"

static const char *const names[] = {"from", "to", "subject", "server", "user", "password-command",
				    "password-file", "retry", "timeout", "reply-to"};
#define N (sizeof names / sizeof *names)

Test(suggest, one_typo_finds_the_name)
{
	cr_expect_str_eq(suggest_nearest("subjet", names, N), "subject");
	cr_expect_str_eq(suggest_nearest("sevrer", names, N), "server");
	cr_expect_str_eq(suggest_nearest("SERVR", names, N), "server");
	cr_expect_str_eq(suggest_nearest("timout", names, N), "timeout");
	cr_expect_str_eq(suggest_nearest("password-comand", names, N), "password-command");
}

Test(suggest, a_longer_word_starting_with_a_name_finds_it)
{
	cr_expect_str_eq(suggest_nearest("username", names, N), "user");
}

Test(suggest, unrelated_words_find_nothing)
{
	cr_expect_null(suggest_nearest("frobnicate", names, N));
	cr_expect_null(suggest_nearest("x", names, N));
	cr_expect_null(suggest_nearest("colour", names, N));
}
