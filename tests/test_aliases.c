/* test_aliases.c - the aliases file and its recursive lookup. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aliases.h"

static size_t expand(const char *text, const char *name, char ***out)
{
	struct aliases a = {0};
	struct error err;
	size_t n = 0;

	*out = NULL;
	cr_assert_eq(aliases_parse(&a, text, &err), 0);
	cr_assert_geq(aliases_expand(&a, name, out, &n, &err), 0, "%s", err.text);
	aliases_free(&a);
	return n;
}

static void free_all(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

Test(aliases, comments_continuations_and_recursion)
{
	char **v;
	size_t n = expand("# the file\nroot: admin@example.net,\n\tops\n  , third@example.org\n"
			  "OPS: ops@example.com\n", "Root", &v);

	cr_assert_eq(n, 3);
	cr_expect_str_eq(v[0], "admin@example.net");
	cr_expect_str_eq(v[1], "ops@example.com");
	cr_expect_str_eq(v[2], "third@example.org");
	free_all(v, n);
}

Test(aliases, loop_ends_instead_of_recursing)
{
	char **v;
	size_t n = expand("a: b, x@example.com\nb: a\nroot: root, y@example.com\n", "a", &v);

	cr_assert_eq(n, 2);
	cr_expect_str_eq(v[0], "a");
	cr_expect_str_eq(v[1], "x@example.com");
	free_all(v, n);
	n = expand("root: root, y@example.com\n", "root", &v);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(v[0], "root");
	free_all(v, n);
}

Test(aliases, pipes_files_and_includes_are_skipped)
{
	char **v;
	size_t n = expand("x: |/usr/bin/prog, /var/mail/x, :include:/etc/list, z@example.com\n", "x", &v);

	cr_assert_eq(n, 1);
	cr_expect_str_eq(v[0], "z@example.com");
	free_all(v, n);
}

Test(aliases, unknown_name_gives_nothing)
{
	char **v;

	cr_expect_eq(expand("root: a@example.com\n", "nobody", &v), 0);
	free(v);
}

Test(aliases, deep_nesting_is_refused)
{
	struct aliases a = {0};
	struct error err;
	char text[2048] = "", **v = NULL;
	size_t n = 0;

	for (int i = 0; i < 30; i++)
		snprintf(text + strlen(text), sizeof text - strlen(text), "a%d: a%d\n", i, i + 1);
	cr_assert_eq(aliases_parse(&a, text, &err), 0);
	cr_expect_eq(aliases_expand(&a, "a0", &v, &n, &err), -1);
	cr_expect_eq(err.cls, ERR_CONFIG);
	free_all(v, n);
	aliases_free(&a);
}
