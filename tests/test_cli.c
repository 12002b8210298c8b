/* Command line, environment and configuration file, merged. Each test
 * runs in its own process (Criterion forks), so environment changes
 * stay local. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static struct options o;
static struct error err;
static char dir[64];

static void setup(void)
{
	char path[128];

	strcpy(dir, "/tmp/envoi-cli-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/home", dir);
	mkdir(path, 0700);
	setenv("HOME", path, 1);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("ENVOI_CONFIG");
	unsetenv("ENVOI_ACCOUNT");
	unsetenv("ENVOI_PASSWORD");
	unsetenv("ENVOI_SERVER");
}

static void teardown(void)
{
	char cmd[128];

	cli_free(&o);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(cli, .init = setup, .fini = teardown);

/* Writes a config file (mode given) and returns its path. */
static const char *config(mode_t mode, const char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof path, "%s/config", dir);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
	return path;
}

/* Runs cli_parse on the given arguments (NULL-terminated). */
static int run(const char *first, ...)
{
	char *argv[64] = {"envoi"};
	int argc = 1;
	va_list ap;

	va_start(ap, first);
	for (const char *a = first; a && argc < 63; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	cli_free(&o);
	memset(&err, 0, sizeof err);
	return cli_parse(&o, argc, argv, &err);
}

#define BASIC "-S", "mail.example.com", "-f", "me@example.com", "-m", "hi"

Test(cli, minimal_send_parses)
{
	cr_assert_eq(run(BASIC, "you@example.com", NULL), 0, "%s", err.text);
	cr_expect_str_eq(o.sess.host, "mail.example.com");
	cr_expect_eq(o.sess.port, 587);
	cr_expect_eq(o.sess.tls, TLS_AUTO);
	cr_expect_eq(o.sess.timeout, 60);
	cr_expect_eq(o.msg.to.n, 1);
	cr_expect_str_eq(addr_list_mailbox(&o.msg.to, 0), "you@example.com");
}

Test(cli, bad_port_is_usage_error)
{
	const char *bad[] = {"0", "65536", "x"};

	for (int i = 0; i < 3; i++) {
		cr_expect_eq(run(BASIC, "-P", bad[i], "you@example.com", NULL), -1);
		cr_expect_eq(err.cls, ERR_USAGE, "port %s", bad[i]);
	}
}

Test(cli, bad_port_in_config_is_config_error_naming_the_line)
{
	const char *path = config(0600, "# defaults\nport = 0\n");

	cr_expect_eq(run("--config", path, BASIC, "you@example.com", NULL), -1);
	cr_expect_eq(err.cls, ERR_CONFIG);
	cr_expect(strncmp(err.text, path, strlen(path)) == 0 && strstr(err.text, ":2: the port"),
		  "%s", err.text);
}

Test(cli, precedence_cmdline_env_account_defaults)
{
	const char *path = config(0600, "server = defaults.example\n"
				       "[account work]\nserver = account.example\n");

	setenv("ENVOI_CONFIG", path, 1);
	setenv("ENVOI_SERVER", "env.example", 1);
	cr_assert_eq(run("--account", "work", "-S", "cmd.example", "-f", "a@b.c", "-m", "", "x@y.z", NULL), 0, "%s", err.text);
	cr_expect_str_eq(o.sess.host, "cmd.example");
	cr_assert_eq(run("--account", "work", "-f", "a@b.c", "-m", "", "x@y.z", NULL), 0, "%s", err.text);
	cr_expect_str_eq(o.sess.host, "env.example");
	unsetenv("ENVOI_SERVER");
	cr_assert_eq(run("--account", "work", "-f", "a@b.c", "-m", "", "x@y.z", NULL), 0, "%s", err.text);
	cr_expect_str_eq(o.sess.host, "account.example");
	cr_assert_eq(run("-f", "a@b.c", "-m", "", "x@y.z", NULL), 0, "%s", err.text);
	cr_expect_str_eq(o.sess.host, "defaults.example");
}

Test(cli, default_account_is_used_without_account_option)
{
	const char *path = config(0600, "server = defaults.example\n"
				       "[account default]\nserver = default.example\n");

	cr_assert_eq(run("--config", path, "-f", "a@b.c", "-m", "", "x@y.z", NULL), 0, "%s", err.text);
	cr_expect_str_eq(o.sess.host, "default.example");
}

Test(cli, account_from_environment)
{
	const char *path = config(0600, "[account ci]\nserver = ci.example\n");

	setenv("ENVOI_ACCOUNT", "ci", 1);
	cr_assert_eq(run("--config", path, "-f", "a@b.c", "-m", "", "x@y.z", NULL), 0, "%s", err.text);
	cr_expect_str_eq(o.sess.host, "ci.example");
}

Test(cli, missing_account_is_config_error)
{
	const char *path = config(0600, "server = s.example\n");

	cr_expect_eq(run("--config", path, "--account", "nope", BASIC, "x@y.z", NULL), -1);
	cr_expect_eq(err.cls, ERR_CONFIG);
	cr_expect(strstr(err.text, "nope"), "%s", err.text);
}

Test(cli, missing_explicit_config_is_config_error)
{
	cr_expect_eq(run("--config", "/nonexistent/envoi.conf", BASIC, "x@y.z", NULL), -1);
	cr_expect_eq(err.cls, ERR_CONFIG);
}

Test(cli, unknown_config_key_is_config_error)
{
	const char *path = config(0600, "sever = typo.example\n");

	cr_expect_eq(run("--config", path, BASIC, "x@y.z", NULL), -1);
	cr_expect_eq(err.cls, ERR_CONFIG);
	cr_expect(strstr(err.text, "sever"), "%s", err.text);
}

Test(cli, password_in_world_readable_config_is_refused)
{
	const char *path = config(0644, "[account default]\npassword = hunter2\n");

	cr_expect_eq(run("--config", path, BASIC, "x@y.z", NULL), -1);
	cr_expect_eq(err.cls, ERR_CONFIG);
	cr_expect_null(strstr(err.text, "hunter2"), "the password must not be shown");
}

Test(cli, password_source_from_highest_level)
{
	const char *path = config(0600, "password-command = pass show mail\n");

	setenv("ENVOI_PASSWORD", "from-env", 1);
	cr_assert_eq(run("--config", path, BASIC, "x@y.z", NULL), 0, "%s", err.text);
	cr_expect_str_eq(o.sess.password, "from-env");
	cr_expect_null(o.sess.password_command);
	cr_assert_eq(run("--config", path, "--password-file", "/x", BASIC, "x@y.z", NULL), 0);
	cr_expect_str_eq(o.sess.password_file, "/x");
	cr_expect_null(o.sess.password);
}

Test(cli, password_code_gets_only_its_sources)
{
	const char *path = config(0600, "password-command = pass show mail\nuser = me\n");
	struct password_source src;

	setenv("ENVOI_PASSWORD", "from-env", 1);
	cr_assert_eq(run("--config", path, "--timeout", "7", BASIC, "x@y.z", NULL), 0, "%s", err.text);
	src = cli_password_source(&o.sess);
	cr_expect_str_eq(src.host, "mail.example.com");
	cr_expect_str_eq(src.user, "me");
	cr_expect_str_eq(src.value, "from-env");
	cr_expect(src.value_from_env);
	cr_expect_null(src.file);
	cr_expect_null(src.command);
	cr_expect_eq(src.timeout, 7);
	unsetenv("ENVOI_PASSWORD");
	cr_assert_eq(run("--config", path, BASIC, "x@y.z", NULL), 0, "%s", err.text);
	src = cli_password_source(&o.sess);
	cr_expect_str_eq(src.command, "pass show mail");
	cr_expect_null(src.value);
	cr_expect_not(src.value_from_env);
}

Test(cli, command_line_list_replaces_config_list)
{
	const char *path = config(0600, "to = config@example.com\n");

	cr_assert_eq(run("--config", path, BASIC, NULL), 0, "%s", err.text);
	cr_expect_eq(o.msg.to.n, 1);
	cr_expect_str_eq(addr_list_mailbox(&o.msg.to, 0), "config@example.com");
	cr_assert_eq(run("--config", path, BASIC, "a@example.com", "-t", "b@example.com, c@example.com", NULL), 0);
	cr_assert_eq(o.msg.to.n, 3);
	for (size_t i = 0; i < 3; i++)
		cr_expect_neq(strcmp(addr_list_mailbox(&o.msg.to, i), "config@example.com"), 0);
}

Test(cli, smtps_scheme_means_implicit_tls_on_465)
{
	cr_assert_eq(run("-S", "smtps://mail.example.com", "-f", "a@b.c", "-m", "", "x@y.z", NULL), 0);
	cr_expect_eq(o.sess.tls, TLS_IMPLICIT);
	cr_expect_eq(o.sess.port, 465);
	cr_assert_eq(run("-S", "mail.example.com", "--tls=implicit", "-f", "a@b.c", "-m", "", "x@y.z", NULL), 0);
	cr_expect_eq(o.sess.port, 465);
	cr_assert_eq(run("-S", "smtp://mail.example.com:2525", "-P", "26", "-f", "a@b.c", "-m", "", "x@y.z", NULL), 0);
	cr_expect_eq(o.sess.port, 26, "--port wins over the port in --server");
	cr_expect_eq(run("-S", "smtps://mail.example.com", "--tls=none", "-f", "a@b.c", "-m", "", "x@y.z", NULL), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
}

Test(cli, header_injection_is_bad_data)
{
	cr_expect_eq(run(BASIC, "-H", "X-A: 1\nBcc: evil@example.com", "x@y.z", NULL), -1);
	cr_expect_eq(err.cls, ERR_DATA);
	cr_expect_eq(run(BASIC, "-H", "Bad Name: 1", "x@y.z", NULL), -1);
	cr_expect_eq(err.cls, ERR_DATA);
	cr_expect_eq(run(BASIC, "-H", "Content-Type: text/evil", "x@y.z", NULL), -1);
	cr_expect_eq(err.cls, ERR_DATA);
	cr_expect_eq(run(BASIC, "-s", "hi\r\nBcc: evil@example.com", "x@y.z", NULL), -1);
	cr_expect_eq(err.cls, ERR_DATA);
}

Test(cli, line_break_in_attachment_name_is_bad_data)
{
	cr_expect_eq(run(BASIC, "-a", "/tmp/evil\r\nContent-Type: x", "x@y.z", NULL), -1);
	cr_expect_eq(err.cls, ERR_DATA);
}

Test(cli, malformed_addresses_are_usage_errors)
{
	cr_expect_eq(run(BASIC, "not-an-address", NULL), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
	cr_expect_eq(run(BASIC, "a@b.c\r\nRCPT TO:<x@y.z>", NULL), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
	cr_expect_eq(run("-S", "s", "-f", "bad@", "-m", "", "x@y.z", NULL), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
}

Test(cli, missing_sender_recipient_or_server)
{
	cr_expect_eq(run("-S", "s", "-m", "", "x@y.z", NULL), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
	cr_expect(strstr(err.text, "sender"), "%s", err.text);
	cr_expect_eq(run("-S", "s", "-f", "a@b.c", "-m", "", NULL), -1);
	cr_expect(strstr(err.text, "recipient"), "%s", err.text);
	cr_expect_eq(run("-f", "a@b.c", "-m", "", "x@y.z", NULL), -1);
	cr_expect(strstr(err.text, "server"), "%s", err.text);
	cr_expect_eq(run("--dry-run", "-f", "a@b.c", "-m", "", "x@y.z", NULL), 0, "dry run needs no server");
}

Test(cli, exclusive_switches)
{
	cr_expect_eq(run(BASIC, "-v", "-q", "x@y.z", NULL), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
	cr_expect_eq(run(BASIC, "-4", "-6", "x@y.z", NULL), -1);
	cr_expect_eq(run(BASIC, "--dry-run", "--pickup-dir", "/tmp", "x@y.z", NULL), -1);
	cr_expect_eq(run(BASIC, "--body-file", "/etc/hostname", "x@y.z", NULL), -1);
	cr_expect(strstr(err.text, "not both"), "%s", err.text);
}

Test(cli, quiet_in_config_yields_to_verbose_on_command_line)
{
	const char *path = config(0600, "quiet\n");

	cr_assert_eq(run("--config", path, BASIC, "x@y.z", NULL), 0, "%s", err.text);
	cr_expect_eq(o.sess.output, OUT_QUIET);
	cr_assert_eq(run("--config", path, "-v", BASIC, "x@y.z", NULL), 0, "%s", err.text);
	cr_expect_eq(o.sess.output, OUT_VERBOSE);
}

Test(cli, message_file_refuses_composing_options)
{
	cr_expect_eq(run("-S", "s", "--message-file", "/tmp/m", "-s", "x", NULL), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
	cr_expect(strstr(err.text, "--subject"), "%s", err.text);
}

Test(cli, inline_needs_html)
{
	cr_expect_eq(run(BASIC, "--inline", "/tmp/logo.png", "x@y.z", NULL), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
}

Test(cli, value_checks)
{
	cr_expect_eq(run(BASIC, "--tls", "sometimes", "x@y.z", NULL), -1);
	cr_expect_eq(run(BASIC, "--priority", "meh", "x@y.z", NULL), -1);
	cr_expect_eq(run(BASIC, "--timeout", "0", "x@y.z", NULL), -1);
	cr_expect_eq(run(BASIC, "--helo", "a b", "x@y.z", NULL), -1);
	cr_expect_eq(run(BASIC, "--auth", "PL AIN", "x@y.z", NULL), -1);
	cr_expect_eq(run(BASIC, "--auth", "NOSUCHMECH", "x@y.z", NULL), -1);
	cr_expect(strstr(err.text, "unknown SASL mechanism"), "%s", err.text);
	cr_expect_eq(run(BASIC, "--proxy", "http://p:1", "x@y.z", NULL), -1);
	cr_expect_eq(run(BASIC, "--fingerprint", "abc", "x@y.z", NULL), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
	cr_assert_eq(run(BASIC, "--auth", "cram-md5", "--priority", "URGENT", "x@y.z", NULL), 0);
	cr_expect_str_eq(o.sess.auth_mech, "CRAM-MD5");
	cr_expect_eq(o.msg.priority, PRIO_URGENT);
}

Test(cli, queue_and_log_options_and_keys)
{
	const char *path = config(0600, "queue = no\nqueue-dir = /q\nqueue-lifetime = 2h\nlog = syslog\n"
				       "aliases = /etc/aliases\ndomain = example.net\n");

	cr_assert_eq(run(BASIC, "you@example.com", NULL), 0, "%s", err.text);
	cr_expect_eq(o.queue, -1, "unset: sendmail mode turns it on");
	cr_expect_eq(o.queue_lifetime, 5ul * 86400);
	cr_assert_eq(run("--config", path, BASIC, "you@example.com", NULL), 0, "%s", err.text);
	cr_expect_eq(o.queue, 0);
	cr_expect_str_eq(o.queue_dir, "/q");
	cr_expect_eq(o.queue_lifetime, 7200);
	cr_expect_str_eq(o.log, "syslog");
	cr_expect_str_eq(o.aliases, "/etc/aliases");
	cr_expect_str_eq(o.domain, "example.net");
	cr_assert_eq(run("--config", path, "--queue", BASIC, "you@example.com", NULL), 0, "%s", err.text);
	cr_expect_eq(o.queue, 1);
}

Test(cli, flush_and_queue_list_need_no_server)
{
	cr_expect_eq(run("--flush", NULL), 0, "%s", err.text);
	cr_expect(o.flush);
	cr_expect_eq(run("--queue-list", NULL), 0, "%s", err.text);
	cr_expect(o.queue_list);
	cr_expect_eq(run("--queue-list", "--flush", NULL), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
}

Test(cli, bad_queue_lifetime_in_config_names_the_line)
{
	const char *path = config(0600, "queue-lifetime = 5x\n");

	cr_expect_eq(run("--config", path, BASIC, "you@example.com", NULL), -1);
	cr_expect_eq(err.cls, ERR_CONFIG);
	cr_expect(strstr(err.text, ":1: invalid queue lifetime"), "%s", err.text);
	cr_expect_eq(run("--queue-lifetime=0", BASIC, "you@example.com", NULL), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
}

Test(cli, aliases_and_domain_are_no_options)
{
	cr_expect_eq(run("--domain=x", BASIC, "you@example.com", NULL), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
}
