/* test_sminput.c - sendmail mode's input: domain completion, -t
 * recipients, the lone dot and the fields added. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sminput.h"

static void complete(const char *in, const char *domain, const char *want)
{
	char *got = smin_complete(in, domain, NULL, NULL);

	cr_assert_not_null(got);
	cr_expect_str_eq(got, want);
	free(got);
}

Test(sminput, local_names_get_the_domain)
{
	complete(" root (Cron Daemon)", "example.net", " root@example.net (Cron Daemon)");
	complete(" root", "example.net", " root@example.net");
	complete(" Bob <bob>, a@x.example, \"Last, First\" <lf>", "d.example",
		 " Bob <bob@d.example>, a@x.example, \"Last, First\" <lf@d.example>");
	complete(" undisclosed-recipients:;", "d.example", " undisclosed-recipients:;");
	complete(" team: a, b@x.example;", "d.example", " team: a@d.example, b@x.example;");
	complete(" \"x@y\" <z> (c, d)", "d.example", " \"x@y\" <z@d.example> (c, d)");
	complete(" root", NULL, " root");
}

Test(sminput, addr_specs_are_listed_as_written)
{
	char **v = NULL;
	size_t n = 0;

	free(smin_complete(" A <a@x.example>, root (c), \"q,r\"@y.example", "d", &v, &n));
	cr_assert_eq(n, 3);
	cr_expect_str_eq(v[0], "a@x.example");
	cr_expect_str_eq(v[1], "root");
	cr_expect_str_eq(v[2], "\"q,r\"@y.example");
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* -t with one Bcc field of 5,000 addresses: every one is a recipient
 * (the first 1,024 once were, and the rest were dropped with exit 0). */
Test(sminput, a_field_of_thousands_loses_none)
{
	enum { N = 5000 };
	char *field = malloc(N * 24), *p = field, **v = NULL;
	size_t n = 0;

	cr_assert_not_null(field);
	for (int i = 0; i < N; i++)
		p += sprintf(p, "%sr%d@x.example", i ? ", " : "", i);
	free(smin_complete(field, "d", &v, &n));
	cr_assert_eq(n, N);
	cr_expect_str_eq(v[N - 1], "r4999@x.example");
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	free(field);
}

/* Runs smin_read over input; returns what it wrote (malloc'd). */
static char *run(const char *input, const struct smin_opts *o, struct smin_result *r)
{
	FILE *in = fmemopen((void *)input, strlen(input), "r");
	FILE *out = tmpfile();
	struct error err;
	char *text = calloc(1, 65536);

	cr_assert(in && out && text);
	cr_assert_eq(smin_read(in, fileno(out), o, r, &err), 0, "%s", err.text);
	rewind(out);
	cr_assert_geq(fread(text, 1, 65535, out), 0);
	fclose(in);
	fclose(out);
	return text;
}

Test(sminput, lone_dot_ends_only_without_i)
{
	struct smin_opts dot = {.dot_ends = true}, keep = {.dot_ends = false};
	struct smin_result r;
	char *t = run("Date: x\nMessage-ID: <a@b>\nFrom: a@b\n\none\n.\ntwo\n", &dot, &r);

	cr_expect(strstr(t, "one\n") && !strstr(t, "two"));
	free(t);
	smin_result_free(&r);
	t = run("Date: x\nMessage-ID: <a@b>\nFrom: a@b\n\none\n.\ntwo\n", &keep, &r);
	cr_expect(strstr(t, "one\n.\ntwo\n"));
	free(t);
	smin_result_free(&r);
}

Test(sminput, missing_fields_added_with_display_name)
{
	struct address sender = {.name = "Cron Daemon", .mailbox = "root@example.net"};
	struct smin_opts o = {.sender = &sender};
	struct smin_result r;
	char *t = run("Subject: hi\n\nbody\n", &o, &r);

	cr_expect(strncmp(t, "Date: ", 6) == 0, "%s", t);
	cr_expect(strstr(t, "\nMessage-ID: <") != NULL);
	cr_expect(strstr(t, "\nFrom: Cron Daemon <root@example.net>\r\n") != NULL, "%s", t);
	cr_expect(!r.had_from);
	free(t);
	smin_result_free(&r);
}

Test(sminput, recipients_from_resent_fields_when_present)
{
	struct smin_opts o = {.domain = "d.example"};
	struct smin_result r;
	char *t = run("From: me\nTo: a\nCc: b@x.example\nResent-To: c\nResent-Bcc: e@x.example\n\n", &o, &r);

	cr_assert_eq(r.nrcpts, 2);
	cr_expect_str_eq(r.rcpts[0], "c");
	cr_expect_str_eq(r.rcpts[1], "e@x.example");
	cr_expect(strstr(t, "From: me@d.example\n") && strstr(t, "To: a@d.example\n"), "%s", t);
	free(t);
	smin_result_free(&r);
	t = run("From: me\nTo: a,\n b\nBcc: z@x.example\n\n", &o, &r);
	cr_assert_eq(r.nrcpts, 3);
	cr_expect_str_eq(r.rcpts[1], "b");
	free(t);
	smin_result_free(&r);
}

Test(sminput, body_without_header_gets_its_blank_line)
{
	struct address sender = {.mailbox = "a@b.example"};
	struct smin_opts o = {.sender = &sender};
	struct smin_result r;
	char *t = run("just text\nmore\n", &o, &r);

	cr_expect(strstr(t, "From: a@b.example\r\n\njust text\nmore\n") != NULL, "%s", t);
	free(t);
	smin_result_free(&r);
}

Test(sminput, long_body_lines_are_broken_not_refused)
{
	struct smin_opts o = {0};
	struct smin_result r;
	char *in = malloc(3000), *t, *body;
	size_t at = (size_t)sprintf(in, "From: a@b\n\n");

	memset(in + at, 'x', 2500);
	memcpy(in + at + 997, "\xc3\xa9", 2); /* a UTF-8 character across 998 */
	strcpy(in + at + 2500, "\r\nend\n");
	t = run(in, &o, &r);
	body = strstr(t, "\n\n") + 2;
	cr_expect_eq(strcspn(body, "\n"), 997, "the line breaks before the character");
	cr_expect(strncmp(body + 998, "\xc3\xa9", 2) == 0);
	cr_expect(strstr(body, "x\r\nend\n") != NULL);
	for (char *p = body; *p; p += strcspn(p, "\n") + 1)
		cr_expect_leq(strcspn(p, "\r\n"), 998);
	free(t);
	free(in);
	smin_result_free(&r);
}
