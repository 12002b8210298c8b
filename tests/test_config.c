/* test_config.c - the configuration file. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static char tmp_path[64];

/* Writes len bytes of text to a new temporary file with the given mode;
 * the path is in tmp_path, removed by the fini hook. */
static void remove_file(void);

static const char *write_file_n(const char *text, size_t len, mode_t mode)
{
	int fd;

	remove_file(); /* a test may write several files */
	strcpy(tmp_path, "/tmp/envoi-test-config-XXXXXX");
	fd = mkstemp(tmp_path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
	return tmp_path;
}

static const char *write_file(const char *text)
{
	return write_file_n(text, strlen(text), 0600);
}

static void remove_file(void)
{
	if (tmp_path[0])
		unlink(tmp_path);
	tmp_path[0] = '\0';
}

TestSuite(config, .fini = remove_file);

/* Loads text as a file and expects it to fail with ERR_CONFIG, the error
 * text holding "PATH:line: " followed by why. */
static void expect_error_at(const char *text, unsigned line, const char *why)
{
	struct cfg c;
	struct error err = { 0 };
	char want[512];
	const char *path = write_file(text);

	cr_assert_eq(cfg_load(&c, path, NULL, &err), -1, "accepted:\n%s", text);
	cr_expect_eq(err.cls, ERR_CONFIG);
	snprintf(want, sizeof want, "%s:%u: %s", path, line, why);
	cr_expect(strncmp(err.text, want, strlen(want)) == 0, "got \"%s\", want \"%s...\"",
		err.text, want);
	cr_expect_null(c.path);
	cr_expect_eq(c.ndefaults + c.naccount, 0);
	cfg_free(&c);
}

static void load_ok(struct cfg *c, const char *text, const char *account)
{
	struct error err = { 0 };

	cr_assert_eq(cfg_load(c, write_file(text), account, &err), 0, "%s", err.text);
}

static void expect_entry(const struct cfg_entry *e, const char *key, const char *value,
	unsigned line)
{
	cr_expect_str_eq(e->key, key);
	if (value)
		cr_expect_str_eq(e->value, value, "value of %s", key);
	else
		cr_expect_null(e->value, "%s is not a flag", key);
	cr_expect_eq(e->line, line, "line of %s: %u, want %u", key, e->line, line);
}

static const char sample[] =
	"# envoi configuration\n"
	"server = smtp.example.com\n"
	"port = 587\n"
	"\n"
	"[account work]\n"
	"user = me@work.example\n"
	"password-command = pass show mail/work\n"
	"\n"
	"[account default]\n"
	"user = me@home.example\n"
	"[account other]\n"
	"user = other@example\n";

Test(config, defaults_before_any_section_are_kept_in_order)
{
	struct cfg c;

	load_ok(&c, sample, "work");
	cr_assert_eq(c.ndefaults, 2);
	expect_entry(&c.defaults[0], "server", "smtp.example.com", 2);
	expect_entry(&c.defaults[1], "port", "587", 3);
	cr_expect_str_eq(c.path, tmp_path);
	cfg_free(&c);
}

Test(config, named_account_section_is_chosen)
{
	struct cfg c;

	load_ok(&c, sample, "work");
	cr_expect(c.has_account);
	cr_assert_eq(c.naccount, 2);
	expect_entry(&c.account[0], "user", "me@work.example", 6);
	expect_entry(&c.account[1], "password-command", "pass show mail/work", 7);
	cfg_free(&c);
}

Test(config, default_account_is_chosen_when_none_is_named)
{
	struct cfg c;

	load_ok(&c, sample, NULL);
	cr_expect(c.has_account);
	cr_assert_eq(c.naccount, 1);
	expect_entry(&c.account[0], "user", "me@home.example", 10);
	cfg_free(&c);
}

Test(config, last_section_ends_at_end_of_file)
{
	struct cfg c;

	load_ok(&c, sample, "other");
	cr_assert_eq(c.naccount, 1);
	expect_entry(&c.account[0], "user", "other@example", 12);
	cfg_free(&c);
}

Test(config, absent_account_is_not_an_error)
{
	struct cfg c;

	load_ok(&c, sample, "nosuch");
	cr_expect_not(c.has_account);
	cr_expect_eq(c.naccount, 0);
	cr_expect_eq(c.ndefaults, 2);
	cfg_free(&c);
}

Test(config, no_default_section_means_no_account)
{
	struct cfg c;

	load_ok(&c, "server = a\n[account work]\nuser = b\n", NULL);
	cr_expect_not(c.has_account);
	cr_expect_eq(c.naccount, 0);
	cr_expect_eq(c.ndefaults, 1);
	cfg_free(&c);
}

Test(config, empty_account_section_exists)
{
	struct cfg c;

	load_ok(&c, "[account empty]\n", "empty");
	cr_expect(c.has_account);
	cr_expect_eq(c.naccount, 0);
	cfg_free(&c);
}

Test(config, account_name_may_hold_spaces_and_is_trimmed)
{
	struct cfg c;

	load_ok(&c, "[  account   my work  ]\nuser = x\n", "my work");
	cr_expect(c.has_account);
	cr_expect_eq(c.naccount, 1);
	cfg_free(&c);
}

Test(config, bare_key_is_a_flag)
{
	struct cfg c;

	load_ok(&c, "insecure\n  read-receipt  \n", NULL);
	cr_assert_eq(c.ndefaults, 2);
	expect_entry(&c.defaults[0], "insecure", NULL, 1);
	expect_entry(&c.defaults[1], "read-receipt", NULL, 2);
	cfg_free(&c);
}

Test(config, key_with_equals_and_nothing_after_is_empty_not_flag)
{
	struct cfg c;

	load_ok(&c, "helo =\n", NULL);
	cr_assert_eq(c.ndefaults, 1);
	expect_entry(&c.defaults[0], "helo", "", 1);
	cfg_free(&c);
}

Test(config, whitespace_around_key_and_value_is_trimmed)
{
	struct cfg c;

	load_ok(&c, " \t server\t=\t smtp.example.com  \t\nport=25\n", NULL);
	cr_assert_eq(c.ndefaults, 2);
	expect_entry(&c.defaults[0], "server", "smtp.example.com", 1);
	expect_entry(&c.defaults[1], "port", "25", 2);
	cfg_free(&c);
}

Test(config, quoted_value_keeps_spaces_and_unescapes)
{
	struct cfg c;

	load_ok(&c, "subject = \"  a \\\"b\\\" \\\\ c  \"\n", NULL);
	cr_assert_eq(c.ndefaults, 1);
	expect_entry(&c.defaults[0], "subject", "  a \"b\" \\ c  ", 1);
	cfg_free(&c);
}

Test(config, backslash_before_other_characters_is_kept)
{
	struct cfg c;

	load_ok(&c, "ca-file = \"C:\\certs\\ca.pem\"\nhelo = a\\b\n", NULL);
	cr_assert_eq(c.ndefaults, 2);
	expect_entry(&c.defaults[0], "ca-file", "C:\\certs\\ca.pem", 1);
	expect_entry(&c.defaults[1], "helo", "a\\b", 2);
	cfg_free(&c);
}

Test(config, equals_sign_inside_value_is_kept)
{
	struct cfg c;

	load_ok(&c, "password-command = gpg --opt=x -d f\n", NULL);
	expect_entry(&c.defaults[0], "password-command", "gpg --opt=x -d f", 1);
	cfg_free(&c);
}

Test(config, comments_and_blank_lines_are_skipped)
{
	struct cfg c;

	load_ok(&c, "# a\n; b\n   # indented\n\t; indented\n\n   \nport = 25 # not a comment\n",
		NULL);
	cr_assert_eq(c.ndefaults, 1);
	expect_entry(&c.defaults[0], "port", "25 # not a comment", 7);
	cfg_free(&c);
}

Test(config, crlf_line_endings_are_accepted)
{
	struct cfg c;

	load_ok(&c, "server = a\r\n[account default]\r\nuser = b\r\n", NULL);
	cr_assert_eq(c.ndefaults, 1);
	expect_entry(&c.defaults[0], "server", "a", 1);
	cr_assert_eq(c.naccount, 1);
	expect_entry(&c.account[0], "user", "b", 3);
	cfg_free(&c);
}

Test(config, last_line_without_newline_is_read)
{
	struct cfg c;

	load_ok(&c, "server = a\nport = 2525", NULL);
	cr_assert_eq(c.ndefaults, 2);
	expect_entry(&c.defaults[1], "port", "2525", 2);
	cfg_free(&c);
}

Test(config, key_names_are_not_checked_here)
{
	struct cfg c;

	load_ok(&c, "no-such-option = 1\n", NULL);
	cr_expect_eq(c.ndefaults, 1);
	cfg_free(&c);
}

Test(config, line_of_4096_bytes_is_accepted)
{
	struct cfg c;
	char *text = malloc(4096 + 2);

	memcpy(text, "helo = ", 7);
	memset(text + 7, 'x', 4096 - 7);
	strcpy(text + 4096, "\n");
	load_ok(&c, text, NULL);
	cr_expect_eq(strlen(c.defaults[0].value), 4096 - 7);
	cfg_free(&c);
	free(text);
}

/* Errors */

Test(config, uppercase_key_is_unknown_syntax)
{
	expect_error_at("# x\nport = 1\nServer = x\n", 3, "unknown syntax \"Server = x\"");
}

Test(config, underscore_in_key_is_unknown_syntax)
{
	expect_error_at("ca_file = x\n", 1, "unknown syntax \"ca_file = x\"");
}

Test(config, key_followed_by_words_is_unknown_syntax)
{
	expect_error_at("server smtp.example.com\n", 1, "unknown syntax \"server smtp.example.com\"");
}

Test(config, line_starting_with_equals_is_unknown_syntax)
{
	expect_error_at("= x\n", 1, "unknown syntax \"= x\"");
}

Test(config, other_section_kind_is_refused)
{
	expect_error_at("a = 1\n\n[foo]\n", 3, "unknown section \"[foo]\"");
	expect_error_at("[accounts x]\n", 1, "unknown section \"[accounts x]\"");
	expect_error_at("[]\n", 1, "unknown section \"[]\"");
}

Test(config, section_without_name_is_refused)
{
	expect_error_at("[account]\n", 1, "section \"[account]\" has no account name");
	expect_error_at("[account   ]\n", 1, "section \"[account   ]\" has no account name");
}

Test(config, unclosed_section_is_refused)
{
	expect_error_at("[account x\n", 1, "\"[account x\" lacks its closing \"]\"");
	expect_error_at("[account default\n", 1, "\"[account default\" lacks its closing \"]\"");
	expect_error_at("[account x] y\n", 1, "unknown syntax \"[account x] y\"");
}

Test(config, duplicate_account_is_refused)
{
	expect_error_at("[account a]\n[account b]\nx = 1\n[account a]\n", 4,
		"duplicate section [account a] (first at line 1)");
}

Test(config, unterminated_quoted_value_is_refused)
{
	expect_error_at("subject = \"abc\n", 1, "unterminated quoted value");
	expect_error_at("subject = \"abc\\\"\n", 1, "unterminated quoted value");
}

Test(config, text_after_closing_quote_is_refused)
{
	expect_error_at("subject = \"abc\" def\n", 1, "text after the closing quote");
}

Test(config, line_longer_than_4096_bytes_is_refused)
{
	char *text = malloc(5000);

	strcpy(text, "port = 1\n");
	memset(text + 9, 'x', 4097);
	strcpy(text + 9 + 4097, "\n");
	expect_error_at(text, 2, "line longer than 4096 bytes");
	free(text);
}

Test(config, nul_byte_is_refused)
{
	struct cfg c;
	struct error err;
	char want[128];
	static const char text[] = "port = 1\nserver = a\0b\n";
	const char *path = write_file_n(text, sizeof text - 1, 0600);

	cr_assert_eq(cfg_load(&c, path, NULL, &err), -1);
	cr_expect_eq(err.cls, ERR_CONFIG);
	snprintf(want, sizeof want, "%s:2: NUL byte in the file", path);
	cr_expect_str_eq(err.text, want);
}

Test(config, control_character_is_refused)
{
	expect_error_at("helo = a\x1b[2Jb\n", 1, "control character (\\x1b) in the line");
	expect_error_at("helo = a\rb\n", 1, "control character (\\x0d) in the line");
}

Test(config, unknown_syntax_is_shown_without_bidi_controls)
{
	expect_error_at("[acc\xe2\x80\xaeount x\n", 1,
			"\"[acc\\u202eount x\" lacks its closing \"]\"");
}

Test(config, missing_file_is_a_config_error)
{
	struct cfg c;
	struct error err;

	cr_assert_eq(cfg_load(&c, "/nonexistent/envoi/config", NULL, &err), -1);
	cr_expect_eq(err.cls, ERR_CONFIG);
	cr_expect_str_eq(err.text, "cannot read configuration file /nonexistent/envoi/config: "
		"No such file or directory");
	cfg_free(&c);
}

Test(config, directory_is_a_config_error)
{
	struct cfg c;
	struct error err;

	cr_assert_eq(cfg_load(&c, "/tmp", NULL, &err), -1);
	cr_expect_eq(err.cls, ERR_CONFIG);
	cr_expect(strstr(err.text, "/tmp") != NULL, "%s", err.text);
}

/* The password rule */

Test(config, password_in_file_readable_by_others_is_refused)
{
	struct cfg c;
	struct error err;
	char want[256];
	const char *text = "[account work]\npassword = secret\n";
	const char *path = write_file_n(text, strlen(text), 0644);

	cr_assert_eq(cfg_load(&c, path, "work", &err), -1);
	cr_expect_eq(err.cls, ERR_CONFIG);
	snprintf(want, sizeof want, "%s holds a password and is readable by others "
		"(mode 0644): chmod 600 %s", path, path);
	cr_expect_str_eq(err.text, want);
	cr_expect_eq(c.naccount, 0);
	cr_expect_null(c.path);
}

Test(config, password_in_group_readable_file_is_refused)
{
	struct cfg c;
	struct error err;
	const char *text = "password = secret\n";

	cr_expect_eq(cfg_load(&c, write_file_n(text, strlen(text), 0640), NULL, &err), -1);
	cr_expect(strstr(err.text, "(mode 0640)") != NULL, "%s", err.text);
}

Test(config, password_in_another_account_still_counts)
{
	struct cfg c;
	struct error err;
	const char *text = "server = a\n[account other]\npassword = secret\n";

	cr_expect_eq(cfg_load(&c, write_file_n(text, strlen(text), 0604), "work", &err), -1);
	cr_expect_eq(err.cls, ERR_CONFIG);
}

Test(config, password_in_private_file_is_accepted)
{
	struct cfg c;
	struct error err;
	const char *text = "[account default]\npassword = secret\n";

	cr_assert_eq(cfg_load(&c, write_file_n(text, strlen(text), 0600), NULL, &err), 0,
		"%s", err.text);
	cr_assert_eq(c.naccount, 1);
	expect_entry(&c.account[0], "password", "secret", 2);
	cfg_free(&c);
}

Test(config, file_without_password_may_be_readable_by_others)
{
	struct cfg c;
	struct error err;
	const char *text = "server = a\npassword-command = pass show mail\n";

	cr_expect_eq(cfg_load(&c, write_file_n(text, strlen(text), 0644), NULL, &err), 0,
		"%s", err.text);
	cfg_free(&c);
}

/* Account names for completions */

Test(config, account_names_are_listed_in_file_order)
{
	char **names = cfg_account_names(write_file(sample));

	cr_assert_not_null(names);
	cr_expect_str_eq(names[0], "work");
	cr_expect_str_eq(names[1], "default");
	cr_expect_str_eq(names[2], "other");
	cr_expect_null(names[3]);
	for (char **p = names; *p; p++)
		free(*p);
	free(names);
}

Test(config, file_without_accounts_lists_no_names)
{
	char **names = cfg_account_names(write_file("server = a\n"));

	cr_assert_not_null(names);
	cr_expect_null(names[0]);
	free(names);
}

Test(config, names_are_listed_even_when_a_password_file_is_too_open)
{
	const char *text = "[account a]\npassword = x\n";
	char **names = cfg_account_names(write_file_n(text, strlen(text), 0644));

	cr_assert_not_null(names);
	cr_expect_str_eq(names[0], "a");
	free(names[0]);
	free(names);
}

Test(config, unreadable_file_lists_no_names)
{
	cr_expect_null(cfg_account_names("/nonexistent/envoi/config"));
}
