/* test_sendmail.c - sendmail mode's command line and exit codes. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "sendmail.h"

static int parse(struct sm_args *a, char **argv, struct error *err)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	memset(err, 0, sizeof *err);
	return sm_parse(a, argc, argv, 1, err);
}

Test(sendmail, selected_by_program_name_or_first_flag)
{
	char *by_name[] = {"/usr/sbin/sendmail", "-t", NULL};
	char *by_flag[] = {"envoi", "--sendmail", "-t", NULL};
	char *late_flag[] = {"envoi", "-v", "--sendmail", NULL};
	char *other[] = {"/usr/bin/envoi", NULL};

	cr_expect(sm_selected(2, by_name));
	cr_expect(sm_selected(3, by_flag));
	cr_expect(!sm_selected(3, late_flag));
	cr_expect(!sm_selected(1, other));
}

Test(sendmail, cron_command_line)
{
	char *argv[] = {"sendmail", "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root", NULL};
	struct sm_args a;
	struct error err;

	cr_assert_eq(parse(&a, argv, &err), 0, "%s", err.text);
	cr_expect_str_eq(a.fullname, "CronDaemon");
	cr_expect(a.i);
	cr_expect(!a.t);
	cr_expect_eq(a.mode, SM_SEND);
	cr_assert_eq(a.nrcpts, 1);
	cr_expect_str_eq(a.rcpts[0], "root");
	free(a.rcpts);
}

Test(sendmail, clustered_flags_and_values_in_next_word)
{
	char *argv[] = {"sendmail", "-ti", "-f", "a@b.example", "-oi", "-N", "success,failure",
			"-R", "hdrs", "-C", "/etc/x.conf", "-v", "--", "-dash@x.example", NULL};
	struct sm_args a;
	struct error err;

	cr_assert_eq(parse(&a, argv, &err), 0, "%s", err.text);
	cr_expect(a.t && a.i && a.verbose);
	cr_expect_str_eq(a.sender, "a@b.example");
	cr_expect_str_eq(a.dsn_notify, "success,failure");
	cr_expect_str_eq(a.dsn_ret, "hdrs");
	cr_expect_str_eq(a.config, "/etc/x.conf");
	cr_assert_eq(a.nrcpts, 1);
	cr_expect_str_eq(a.rcpts[0], "-dash@x.example");
	free(a.rcpts);
}

Test(sendmail, r_is_f_and_modes)
{
	char *list[] = {"sendmail", "-bp", NULL}, *flush[] = {"sendmail", "-q15m", NULL};
	char *serve[] = {"sendmail", "-bs", NULL}, *r[] = {"sendmail", "-rx@y.example", NULL};
	struct sm_args a;
	struct error err;

	cr_assert_eq(parse(&a, list, &err), 0);
	cr_expect_eq(a.mode, SM_LIST);
	free(a.rcpts);
	cr_assert_eq(parse(&a, flush, &err), 0);
	cr_expect_eq(a.mode, SM_FLUSH);
	free(a.rcpts);
	cr_assert_eq(parse(&a, serve, &err), 0);
	cr_expect_eq(a.mode, SM_SERVE);
	free(a.rcpts);
	cr_assert_eq(parse(&a, r, &err), 0);
	cr_expect_str_eq(a.sender, "x@y.example");
	free(a.rcpts);
}

Test(sendmail, ignored_flags_are_accepted)
{
	char *argv[] = {"sendmail", "-oem", "-odi", "-odb", "-O", "X=y", "-B", "8BITMIME", "-U",
			"-Am", "-Ac", "-em", "-ep", "-eq", "-ew", "-L", "tag", "-h", "17", "x@y.example",
			NULL};
	struct sm_args a;
	struct error err;

	cr_assert_eq(parse(&a, argv, &err), 0, "%s", err.text);
	cr_assert_eq(a.nrcpts, 1);
	free(a.rcpts);
}

Test(sendmail, unknown_flag_is_named)
{
	static const char *bad[] = {"-X", "-bz", "-Ax", "-ez", "-d0"};
	struct sm_args a;
	struct error err;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char *argv[] = {"sendmail", (char *)bad[i], NULL};

		cr_expect_eq(parse(&a, argv, &err), -1, "%s", bad[i]);
		cr_expect_eq(err.cls, ERR_USAGE);
		cr_expect(strstr(err.text, bad[i]) || strstr(err.text, "-d"), "%s", err.text);
		free(a.rcpts);
	}
}

Test(sendmail, missing_value_is_usage)
{
	char *argv[] = {"sendmail", "-f", NULL};
	struct sm_args a;
	struct error err;

	cr_expect_eq(parse(&a, argv, &err), -1);
	cr_expect(strstr(err.text, "-f"));
	free(a.rcpts);
}

Test(sendmail, exit_codes_are_sysexits)
{
	static const int map[][2] = {{0, 0}, {64, 64}, {75, 75}, {78, 78}, {80, 69}, {83, 69},
				     {84, 77}, {86, 77}, {87, 67}, {88, 67}, {89, 65}, {79, 69}};

	for (size_t i = 0; i < sizeof map / sizeof *map; i++)
		cr_expect_eq(sm_exit_code(map[i][0]), map[i][1], "%d", map[i][0]);
}

Test(sendmail, bs_and_its_command_timeout_option)
{
	char *argv[] = {"sendmail", "-bs", "-O", "DeliveryMode=b", "-OTimeout.command=30s",
			"-O", "Timeout.queuereturn=5d", NULL};
	struct sm_args a;
	struct error err;

	cr_assert_eq(parse(&a, argv, &err), 0, "%s", err.text);
	cr_expect_eq(a.mode, SM_SERVE);
	cr_assert_not_null(a.command_timeout);
	cr_expect_str_eq(a.command_timeout, "30s");
	cr_expect_eq(a.nrcpts, 0);
	free(a.rcpts);
}
