/* test_password.c - each password source, their precedence, and the
 * no-echo prompt under a pseudo-terminal. Criterion runs every test in
 * its own process, so the environment changes here do not leak. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "password.h"

static char dir[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_dir(void)
{
	if (dir[0])
		nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* A fresh HOME with no netrc, and no password in the environment. */
static struct password_source fresh(void)
{
	struct password_source s = {
		.host = "mail.example.com", .user = "tester", .timeout = 10,
	};

	strcpy(dir, "/tmp/envoi-pw-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	atexit(remove_dir);
	setenv("HOME", dir, 1);
	unsetenv("NETRC");
	unsetenv("ENVOI_PASSWORD");
	return s;
}

/* Returns the path; it lives until the test process ends (kept in a
 * static table so LeakSanitizer does not count it as lost). */
static char *write_file(const char *name, const char *content)
{
	static char *paths[16];
	static size_t npaths;
	char *path;
	FILE *f;

	cr_assert(npaths < sizeof paths / sizeof *paths);
	cr_assert(asprintf(&path, "%s/%s", dir, name) > 0);
	paths[npaths++] = path;
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(content, f);
	fclose(f);
	return path;
}

static void expect_password(const struct password_source *s, const char *want)
{
	struct error err = {0};
	char *pw = NULL;

	cr_assert_eq(password_get(s, &pw, &err), 0, "%s", err.text);
	cr_expect_str_eq(pw, want);
	password_free(pw);
}

static void expect_failure(const struct password_source *s, const char *text)
{
	struct error err = {0};
	char *pw = NULL;

	cr_assert_eq(password_get(s, &pw, &err), -1, "got '%s'", pw ? pw : "");
	cr_expect_null(pw);
	cr_expect_eq(err.cls, ERR_CONFIG, "class %d: %s", err.cls, err.text);
	cr_expect(strstr(err.text, text), "'%s' lacks '%s'", err.text, text);
}

/* Runs password_get without a controlling terminal, as under cron, so
 * that the prompt cannot be reached. "=" + password or "!" + error. */
static void get_without_tty(const struct password_source *s, char *out, size_t size)
{
	int p[2];
	pid_t pid;
	ssize_t n;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		struct error err = {0};
		char *pw = NULL, buf[1024];

		setsid();
		if (password_get(s, &pw, &err) == 0)
			snprintf(buf, sizeof buf, "=%s", pw);
		else
			snprintf(buf, sizeof buf, "!%d %s (%s)", err.cls, err.text, err.hint);
		if (write(p[1], buf, strlen(buf)) < 0)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], out, size - 1);
	out[n > 0 ? n : 0] = '\0';
	close(p[0]);
	waitpid(pid, NULL, 0);
}

Test(password, file_gives_its_first_line_without_crlf)
{
	struct password_source s = fresh();

	s.file = write_file("pw", "s3cret-Pa55!\r\nsecond line\n");
	expect_password(&s, "s3cret-Pa55!");
	s.file = write_file("pw2", "no newline at all");
	expect_password(&s, "no newline at all");
	s.file = write_file("pw3", "  spaces kept  \n");
	expect_password(&s, "  spaces kept  ");
}

Test(password, missing_file_is_a_config_error_naming_it)
{
	struct password_source s = fresh();

	s.file = "/nonexistent/envoi-password";
	expect_failure(&s, "/nonexistent/envoi-password");
}

Test(password, empty_file_or_empty_first_line_is_a_config_error)
{
	struct password_source s = fresh();

	s.file = write_file("empty", "");
	expect_failure(&s, "empty");
	s.file = write_file("blank", "\nsecond\n");
	expect_failure(&s, "empty");
}

Test(password, directory_as_file_is_a_config_error)
{
	struct password_source s = fresh();

	s.file = dir;
	expect_failure(&s, dir);
}

Test(password, named_file_failing_does_not_fall_back)
{
	struct password_source s = fresh();

	setenv("ENVOI_PASSWORD", "from-env", 1);
	s.file = "/nonexistent/pw";
	expect_failure(&s, "/nonexistent/pw");
}

Test(password, command_output_loses_trailing_newlines_only)
{
	struct password_source s = fresh();

	s.command = "printf 'pw\\n\\n\\r\\n'";
	expect_password(&s, "pw");
	s.command = "printf 'a\\nb\\n'";
	expect_password(&s, "a\nb");
	s.command = "echo s3cret-Pa55!";
	expect_password(&s, "s3cret-Pa55!");
}

Test(password, command_without_metacharacters_runs_without_shell)
{
	struct password_source s = fresh();
	struct error err = {0};
	char *pw = NULL;

	/* dash and bash both export PWD; env run directly does not. */
	unsetenv("PWD");
	unsetenv("OLDPWD");
	s.command = "env";
	cr_assert_eq(password_get(&s, &pw, &err), 0, "%s", err.text);
	cr_expect_null(strstr(pw, "PWD="), "a shell ran the command");
	password_free(pw);
	s.command = "env; true";
	cr_assert_eq(password_get(&s, &pw, &err), 0, "%s", err.text);
	cr_expect_not_null(strstr(pw, "PWD="), "no shell for a command that needs one");
	password_free(pw);
}

Test(password, command_quotes_are_split_like_the_shell)
{
	struct password_source s = fresh();

	s.command = "printf %s.%s.%s  \"two  words\" 'it''s' \"\"";
	expect_password(&s, "two  words.its.");
	s.command = "  printf   --%s-- x\"y z\"'w'  ";
	expect_password(&s, "--xy zw--");
}

Test(password, command_with_metacharacters_runs_through_the_shell)
{
	struct password_source s = fresh();

	s.command = "printf 'pw-%s\\n' \"$((6 * 7))\" | tr a-z A-Z";
	expect_password(&s, "PW-42");
	setenv("TEST_SECRET_VAR", "from-var", 1);
	s.command = "echo $TEST_SECRET_VAR";
	expect_password(&s, "from-var");
	s.command = "ENVOI_X=assigned env";
	{
		struct error err = {0};
		char *pw = NULL;

		cr_assert_eq(password_get(&s, &pw, &err), 0, "%s", err.text);
		cr_expect_not_null(strstr(pw, "ENVOI_X=assigned"));
		password_free(pw);
	}
}

/* ENVOI_PASSWORD is a secret, and the other ENVOI_ variables are envoi's
 * settings: the command sees none of them. */
Test(password, command_gets_no_envoi_variables)
{
	struct password_source s = fresh();

	setenv("ENVOI_PASSWORD", "not-for-the-command", 1);
	setenv("ENVOI_SERVER", "smtp.example.com", 1);
	s.command = "sh -c 'env | grep -c ^ENVOI_ || true'";
	expect_password(&s, "0");
	unsetenv("ENVOI_PASSWORD");
	unsetenv("ENVOI_SERVER");
}

Test(password, failing_command_reports_its_status)
{
	struct password_source s = fresh();

	s.command = "false";
	expect_failure(&s, "password command `false` exited with status 1");
	s.command = "sh -c 'echo pw; exit 3'";
	expect_failure(&s, "exited with status 3");
	s.command = "kill -TERM $$";
	expect_failure(&s, "killed by signal 15");
}

Test(password, missing_command_cannot_run)
{
	struct password_source s = fresh();
	struct error err = {0};
	char *pw = NULL;

	s.command = "envoi-no-such-command --flag";
	expect_failure(&s, "envoi-no-such-command");
	s.command = "envoi-no-such-command 2>/dev/null";
	cr_assert_eq(password_get(&s, &pw, &err), -1);
	cr_expect(strstr(err.text, "status 127"), "%s", err.text);
	cr_expect(strstr(err.hint, "PATH"), "%s", err.hint);
}

Test(password, command_printing_nothing_is_a_config_error)
{
	struct password_source s = fresh();

	s.command = "true";
	expect_failure(&s, "printed nothing");
	s.command = "echo";
	expect_failure(&s, "printed nothing");
}

Test(password, bad_command_lines_are_config_errors)
{
	struct password_source s = fresh();

	s.command = "   ";
	expect_failure(&s, "empty");
	s.command = "echo 'unterminated";
	expect_failure(&s, "unterminated");
}

static long long elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000LL + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void expect_no_child_left(void)
{
	errno = 0;
	cr_expect_eq(waitpid(-1, NULL, WNOHANG), -1, "a child is left");
	cr_expect_eq(errno, ECHILD);
}

Test(password, hung_command_is_killed_at_the_timeout)
{
	struct password_source s = fresh();
	struct timespec t0;

	s.timeout = 1;
	s.command = "sleep 30";
	clock_gettime(CLOCK_MONOTONIC, &t0);
	expect_failure(&s, "did not finish in time (1 s)");
	cr_expect_lt(elapsed_ms(&t0), 5000);
	expect_no_child_left();
}

Test(password, command_that_closes_stdout_and_hangs_is_killed)
{
	struct password_source s = fresh();
	struct timespec t0;

	s.timeout = 1;
	s.command = "exec sleep 30 >&-";
	clock_gettime(CLOCK_MONOTONIC, &t0);
	expect_failure(&s, "did not finish in time");
	cr_expect_lt(elapsed_ms(&t0), 5000);
	expect_no_child_left();
}

Test(password, endless_output_is_cut_off)
{
	struct password_source s = fresh();

	s.command = "yes";
	expect_failure(&s, "printed over");
	expect_no_child_left();
}

Test(password, output_of_exactly_the_limit_is_accepted)
{
	struct password_source s = fresh();
	struct error err = {0};
	char *pw = NULL;

	s.command = "head -c 65536 /dev/zero | tr '\\0' x";
	cr_assert_eq(password_get(&s, &pw, &err), 0, "%s", err.text);
	cr_expect_eq(strlen(pw), 65536);
	password_free(pw);
	s.command = "head -c 65537 /dev/zero | tr '\\0' x";
	expect_failure(&s, "printed over 65536 bytes");
}

Test(password, command_leaves_no_zombie)
{
	struct password_source s = fresh();

	s.command = "echo pw";
	expect_password(&s, "pw");
	expect_no_child_left();
	s.command = "false";
	expect_failure(&s, "status 1");
	expect_no_child_left();
}

Test(password, ignored_sigpipe_is_not_inherited)
{
	struct password_source s = fresh();
	struct error err = {0};
	char *pw = NULL;
	unsigned long long ign;

	/* envoi ignores SIGPIPE; a pipeline in the command must not. */
	signal(SIGPIPE, SIG_IGN);
	s.command = "grep SigIgn /proc/self/status";
	cr_assert_eq(password_get(&s, &pw, &err), 0, "%s", err.text);
	cr_assert_eq(sscanf(pw, "SigIgn: %llx", &ign), 1, "%s", pw);
	cr_expect_eq(ign & (1ULL << (SIGPIPE - 1)), 0, "SIGPIPE ignored: %s", pw);
	password_free(pw);
}

Test(password, precedence_file_command_config_env_netrc)
{
	struct password_source s = fresh();

	write_file(".netrc", "machine mail.example.com login tester password from-netrc\n");
	expect_password(&s, "from-netrc");
	setenv("ENVOI_PASSWORD", "from-env", 1);
	expect_password(&s, "from-env");
	s.value = "from-config";
	expect_password(&s, "from-config");
	s.command = "echo from-command";
	expect_password(&s, "from-command");
	s.file = write_file("pw", "from-file\n");
	expect_password(&s, "from-file");
}

Test(password, empty_environment_variable_is_not_a_password)
{
	struct password_source s = fresh();

	write_file(".netrc", "machine mail.example.com password from-netrc\n");
	setenv("ENVOI_PASSWORD", "", 1);
	expect_password(&s, "from-netrc");
}

Test(password, netrc_picks_the_machine_and_login)
{
	struct password_source s = fresh();

	write_file(".netrc",
		   "machine other.example.com login tester password wrong-host\n"
		   "machine MAIL.example.com login someone password wrong-login\n"
		   "machine mail.example.com\n  login tester\n  password right\n"
		   "machine mail.example.com login tester password later\n"
		   "default login tester password from-default\n");
	expect_password(&s, "right");
	s.user = "someone";
	expect_password(&s, "wrong-login");
	s.user = NULL;
	expect_password(&s, "wrong-login");
}

Test(password, netrc_default_entry_is_the_fallback)
{
	struct password_source s = fresh();

	write_file(".netrc",
		   "default login tester password from-default\n"
		   "machine mail.example.com login other password not-mine\n");
	expect_password(&s, "from-default");
	s.host = "unknown.example.org";
	expect_password(&s, "from-default");
}

Test(password, netrc_quotes_macdef_and_account)
{
	struct password_source s = fresh();

	write_file(".netrc",
		   "macdef init\nmachine mail.example.com password in-macro\n\n"
		   "machine mail.example.com account acct login \"tester\" "
		   "password \"with \\\"quote\\\" and space\"\n");
	expect_password(&s, "with \"quote\" and space");
}

Test(password, netrc_with_crlf_lines)
{
	struct password_source s = fresh();

	write_file(".netrc", "machine mail.example.com\r\nlogin tester\r\npassword crlf-pw\r\n");
	expect_password(&s, "crlf-pw");
}

Test(password, netrc_variable_overrides_home)
{
	struct password_source s = fresh();
	char *other = write_file("elsewhere", "machine mail.example.com password from-NETRC\n");

	write_file(".netrc", "machine mail.example.com password from-home\n");
	setenv("NETRC", other, 1);
	expect_password(&s, "from-NETRC");
}

Test(password, netrc_login_mismatch_means_no_password)
{
	struct password_source s = fresh();
	char out[1200];

	write_file(".netrc", "machine mail.example.com login alice password alices\n"
			     "machine other.example.com login tester password elsewhere\n");
	get_without_tty(&s, out, sizeof out);
	cr_expect_eq(out[0], '!', "got %s", out);
	cr_expect(strstr(out, "no password for tester on mail.example.com"), "%s", out);
}

Test(password, nothing_found_without_terminal_says_what_to_give)
{
	struct password_source s = fresh();
	char out[1200];

	get_without_tty(&s, out, sizeof out);
	cr_expect(strncmp(out, "!78 ", 4) == 0 || out[0] == '!', "got %s", out);
	cr_expect(strstr(out, "no password for tester on mail.example.com"), "%s", out);
	cr_expect(strstr(out, "give --password-file, --password-command or ENVOI_PASSWORD"),
		  "%s", out);
}

/* ---- the prompt, under a pseudo-terminal ---- */

/* Reads from the pty master until want appears or 5 s pass. */
static bool read_until(int fd, char *buf, size_t size, size_t *len, const char *want)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!strstr(buf, want) && elapsed_ms(&t0) < 5000 && *len + 1 < size) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(fd, buf + *len, size - 1 - *len);
		if (n <= 0)
			break;
		*len += (size_t)n;
		buf[*len] = '\0';
	}
	return strstr(buf, want) != NULL;
}

static volatile sig_atomic_t got_sigint;

static void on_sigint(int sig)
{
	got_sigint = sig;
}

/* In the child: asks, then reports the result and whether echo is back. */
static void prompt_child(int report, bool own_handler)
{
	struct password_source s = {.host = "mail.example.com", .user = "tester", .timeout = 5};
	struct error err = {0};
	struct termios t;
	char *pw = NULL, buf[600];
	int rc;

	unsetenv("ENVOI_PASSWORD");
	setenv("HOME", "/nonexistent", 1);
	/* Set both ways: a shell starts background jobs with SIGINT ignored. */
	signal(SIGINT, own_handler ? on_sigint : SIG_DFL);
	rc = password_get(&s, &pw, &err);
	tcgetattr(STDIN_FILENO, &t);
	snprintf(buf, sizeof buf, "%s|%s|echo=%d|sig=%d", rc == 0 ? "ok" : "err",
		 rc == 0 ? pw : err.text, (t.c_lflag & ECHO) != 0, (int)got_sigint);
	if (write(report, buf, strlen(buf)) < 0)
		_exit(2);
	_exit(0);
}

static void run_prompt(const char *typed, bool own_handler, char *screen, size_t size,
		       char *report, int *status)
{
	int p[2], master;
	size_t len = 0;
	pid_t pid;
	ssize_t n;

	cr_assert_eq(pipe(p), 0);
	pid = forkpty(&master, NULL, NULL, NULL);
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		close(p[0]);
		prompt_child(p[1], own_handler);
	}
	close(p[1]);
	screen[0] = '\0';
	cr_assert(read_until(master, screen, size, &len, "Password for tester@mail.example.com: "),
		  "no prompt: '%s'", screen);
	cr_assert_eq(write(master, typed, strlen(typed)), (ssize_t)strlen(typed));
	n = read(p[0], report, 599);
	report[n > 0 ? n : 0] = '\0';
	read_until(master, screen, size, &len, "\n");
	waitpid(pid, status, 0);
	close(p[0]);
	close(master);
}

Test(password, prompt_reads_without_echo_on_the_terminal)
{
	char screen[2048], report[600];
	int status;

	run_prompt("typed-s3cret\n", false, screen, sizeof screen, report, &status);
	cr_expect_str_eq(report, "ok|typed-s3cret|echo=1|sig=0");
	cr_expect_null(strstr(screen, "typed-s3cret"), "the password was echoed: '%s'", screen);
}

Test(password, prompt_with_empty_line_is_no_password)
{
	char screen[2048], report[600];
	int status;

	run_prompt("\n", false, screen, sizeof screen, report, &status);
	cr_expect(strstr(report, "err|no password entered|echo=1"), "%s", report);
}

Test(password, interrupted_prompt_restores_echo_and_reraises)
{
	char screen[2048], report[600];
	int status;

	run_prompt("half\003", true, screen, sizeof screen, report, &status);
	cr_expect_str_eq(report, "err|password prompt interrupted|echo=1|sig=2");
	cr_expect_null(strstr(screen, "half"), "'%s'", screen);
}

Test(password, interrupted_prompt_with_default_handler_ends_the_process)
{
	char screen[2048], report[600];
	int status;

	run_prompt("half\003", false, screen, sizeof screen, report, &status);
	cr_expect_str_eq(report, "");
	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT, "status %#x", status);
}

Test(password, free_accepts_null)
{
	password_free(NULL);
}

/* ENVOI_PASSWORD's text stays in the environment block (and in
 * /proc/PID/environ) after unsetenv unless it is overwritten. */
Test(password, wipe_sources_overwrites_the_environment_and_the_session_copy)
{
	char *entry, *value;

	fresh();

	setenv("ENVOI_PASSWORD", "hunter2", 1);
	entry = getenv("ENVOI_PASSWORD");
	value = strdup("from-config");
	password_wipe_sources(&value);
	cr_expect_null(getenv("ENVOI_PASSWORD"));
	cr_expect_null(value);
	cr_expect_eq(memcmp(entry, "\0\0\0\0\0\0\0", 7), 0, "the value was left in place");
}
