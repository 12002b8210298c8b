/* test_address.c - addresses as users type them. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "address.h"

/* Parses text, expecting success, and checks name (NULL: none) and mailbox. */
static void expect_ok(const char *text, const char *name, const char *mailbox)
{
	struct address a;
	struct error err = { 0 };

	cr_assert_eq(addr_parse(&a, text, &err), 0, "rejected \"%s\": %s", text, err.text);
	if (name)
		cr_expect_str_eq(a.name, name);
	else
		cr_expect_null(a.name, "name of \"%s\" is \"%s\"", text, a.name);
	cr_expect_str_eq(a.mailbox, mailbox);
	addr_free(&a);
}

/* Parses text, expecting a usage error whose text holds why. */
static void expect_bad(const char *text, const char *why)
{
	struct address a;
	struct error err = { 0 };

	cr_assert_eq(addr_parse(&a, text, &err), -1, "accepted \"%s\"", text);
	cr_expect_eq(err.cls, ERR_USAGE);
	cr_expect_null(a.name);
	cr_expect_null(a.mailbox);
	cr_expect(strstr(err.text, why) != NULL, "\"%s\": got \"%s\", want \"%s\"",
		text, err.text, why);
}

/* Accepted forms */

Test(address, bare_mailbox_has_no_name)
{
	expect_ok("user@example.com", NULL, "user@example.com");
}

Test(address, angle_mailbox_without_name)
{
	expect_ok("<user@example.com>", NULL, "user@example.com");
}

Test(address, display_name_before_angle_mailbox)
{
	expect_ok("Jane Doe <jane@example.com>", "Jane Doe", "jane@example.com");
}

Test(address, display_name_needs_no_space_before_angle)
{
	expect_ok("Jane<jane@example.com>", "Jane", "jane@example.com");
}

Test(address, quoted_display_name_keeps_its_comma)
{
	expect_ok("\"Doe, Jane\" <jane@example.com>", "Doe, Jane", "jane@example.com");
}

Test(address, quoted_display_name_unescapes_quote_and_backslash)
{
	expect_ok("\"A \\\"B\\\" C\\\\D\" <a@example.com>", "A \"B\" C\\D", "a@example.com");
}

Test(address, quoted_display_name_keeps_inner_spaces)
{
	expect_ok("\"  two  spaces \" <a@example.com>", "  two  spaces ", "a@example.com");
}

Test(address, quoted_display_name_may_hold_angle_brackets)
{
	expect_ok("\"a <b> c\" <a@example.com>", "a <b> c", "a@example.com");
}

Test(address, utf8_display_name_is_kept)
{
	expect_ok("Jürgen Müller <jm@example.de>", "Jürgen Müller", "jm@example.de");
	expect_ok("\"山田, 太郎\" <taro@example.jp>", "山田, 太郎", "taro@example.jp");
}

Test(address, surrounding_whitespace_is_trimmed)
{
	expect_ok("  \t user@example.com \t ", NULL, "user@example.com");
	expect_ok("   Bob   <bob@example.com>   ", "Bob", "bob@example.com");
}

Test(address, empty_quoted_name_means_no_name)
{
	expect_ok("\"\" <a@example.com>", NULL, "a@example.com");
}

Test(address, display_name_may_hold_an_at_sign)
{
	expect_ok("bob@example.com <bob@example.com>", "bob@example.com", "bob@example.com");
}

Test(address, local_part_may_use_every_atext_character)
{
	expect_ok("a.b+tag!#$%&'*/=?^_`{|}~-@example.com", NULL,
		"a.b+tag!#$%&'*/=?^_`{|}~-@example.com");
}

Test(address, leading_hyphen_is_data_not_an_option)
{
	expect_ok("-f@example.com", NULL, "-f@example.com");
}

Test(address, quoted_local_part_stays_quoted)
{
	expect_ok("\"john doe\"@example.com", NULL, "\"john doe\"@example.com");
	expect_ok("<\"a\\\"b\"@example.com>", NULL, "\"a\\\"b\"@example.com");
}

Test(address, single_label_domain_is_accepted)
{
	expect_ok("root@localhost", NULL, "root@localhost");
}

Test(address, case_is_kept)
{
	expect_ok("John.Smith@Example.COM", NULL, "John.Smith@Example.COM");
}

Test(address, ipv4_address_literal_is_accepted)
{
	expect_ok("postmaster@[192.0.2.1]", NULL, "postmaster@[192.0.2.1]");
}

Test(address, ipv6_address_literal_is_accepted)
{
	expect_ok("<pm@[IPv6:2001:db8::1]>", NULL, "pm@[IPv6:2001:db8::1]");
}

Test(address, utf8_mailbox_is_accepted_but_not_ascii)
{
	struct address a;
	struct error err;

	cr_assert_eq(addr_parse(&a, "用户@例子.广告", &err), 0, "%s", err.text);
	cr_expect_not(addr_mailbox_is_ascii(&a));
	cr_expect_str_eq(addr_domain(&a), "例子.广告");
	addr_free(&a);
}

Test(address, ascii_mailbox_with_utf8_name_is_ascii)
{
	struct address a;
	struct error err;

	cr_assert_eq(addr_parse(&a, "Zoë <zoe@example.com>", &err), 0, "%s", err.text);
	cr_expect(addr_mailbox_is_ascii(&a));
	addr_free(&a);
}

Test(address, domain_follows_the_last_at_sign)
{
	struct address a;
	struct error err;

	cr_assert_eq(addr_parse(&a, "\"a@b\"@example.org", &err), 0, "%s", err.text);
	cr_expect_str_eq(addr_domain(&a), "example.org");
	addr_free(&a);
}

Test(address, label_of_63_octets_is_accepted)
{
	char text[128];

	snprintf(text, sizeof text, "a@%.*s.com", 63,
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	expect_ok(text, NULL, text);
}

Test(address, mailbox_of_254_octets_is_accepted)
{
	char text[300];

	/* 64 + 1 + 63 + 1 + 63 + 1 + 61 = 254 */
	snprintf(text, sizeof text, "%s@%s.%s.%s", "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		"ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
	cr_assert_eq(strlen(text), 254);
	expect_ok(text, NULL, text);
}

/* Refused forms */

Test(address, error_message_names_input_and_problem)
{
	struct address a;
	struct error err;

	cr_assert_eq(addr_parse(&a, "bob@", &err), -1);
	cr_expect_str_eq(err.text, "malformed address \"bob@\": no domain after \"@\"");
}

Test(address, missing_domain_is_refused)
{
	expect_bad("<bob@>", "no domain after \"@\"");
}

Test(address, missing_local_part_is_refused)
{
	expect_bad("@example.com", "no local part before \"@\"");
}

Test(address, missing_at_sign_is_refused)
{
	expect_bad("bob", "no \"@\"");
	expect_bad("Bob <bob>", "no \"@\"");
}

Test(address, second_at_sign_is_refused)
{
	expect_bad("a@b@example.com", "more than one \"@\"");
}

Test(address, space_in_mailbox_is_refused)
{
	expect_bad("bob smith@example.com", "space in the mailbox");
	expect_bad("Bob bob@example.com", "space in the mailbox");
	expect_bad("<bob @example.com>", "space in the mailbox");
	expect_bad("bob@exa mple.com", "space in the mailbox");
}

Test(address, tab_in_mailbox_is_refused)
{
	expect_bad("bob\t@example.com", "space in the mailbox");
	expect_bad("\"a\tb\"@example.com", "tab");
}

Test(address, stray_dots_in_local_part_are_refused)
{
	expect_bad(".bob@example.com", "leading, trailing or double \".\"");
	expect_bad("bob.@example.com", "leading, trailing or double \".\"");
	expect_bad("b..ob@example.com", "leading, trailing or double \".\"");
}

Test(address, stray_dots_in_domain_are_refused)
{
	expect_bad("bob@.example.com", "empty label");
	expect_bad("bob@example.com.", "empty label");
	expect_bad("bob@example..com", "empty label");
}

Test(address, hyphen_at_label_edge_is_refused)
{
	expect_bad("bob@-example.com", "starts or ends with \"-\"");
	expect_bad("bob@example-.com", "starts or ends with \"-\"");
}

Test(address, underscore_in_domain_is_refused)
{
	expect_bad("bob@my_host.example.com", "character \"_\" is not allowed in the domain");
}

Test(address, special_character_in_local_part_is_refused)
{
	expect_bad("bo(b)@example.com", "character \"(\" is not allowed in the local part");
	expect_bad("bo,b@example.com", "character \",\" is not allowed");
}

Test(address, label_of_64_octets_is_refused)
{
	char text[128];

	snprintf(text, sizeof text, "a@%.*s.com", 64,
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	expect_bad(text, "longer than 63 octets");
}

Test(address, mailbox_of_255_octets_is_refused)
{
	char text[300];

	snprintf(text, sizeof text, "%s@%s.%s.%s", "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
	cr_assert_eq(strlen(text), 255);
	expect_bad(text, "longer than 254 octets");
}

Test(address, long_input_is_cut_in_the_message)
{
	char text[400];
	struct address a;
	struct error err;

	memset(text, 'x', 300);
	strcpy(text + 300, "@");
	cr_assert_eq(addr_parse(&a, text, &err), -1);
	cr_expect(strstr(err.text, "...\": ") != NULL, "%s", err.text);
	cr_expect_lt(strlen(err.text), 200);
}

Test(address, carriage_return_is_refused_and_shown_escaped)
{
	struct address a;
	struct error err;

	cr_assert_eq(addr_parse(&a, "a@example.com\r\nRCPT TO:<x@y>", &err), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
	cr_expect_str_eq(err.text, "malformed address \"a@example.com\\r\\nRCPT TO:<x@y>\": "
		"it contains a carriage return (\\r)");
	cr_expect_null(strchr(err.text, '\r'));
	cr_expect_null(strchr(err.text, '\n'));
}

Test(address, bidi_control_is_shown_escaped)
{
	struct address a;
	struct error err;

	cr_assert_eq(addr_parse(&a, "\"x\\\" \xe2\x80\xae\x01\" <b@example.com>", &err), -1);
	cr_expect_str_eq(err.text, "malformed address \"\\\"x\\\\\\\" \\u202e\\x01\\\" <b@example.com>\": "
		"it contains a control character (\\x01)");
}

Test(address, line_feed_in_display_name_is_refused)
{
	expect_bad("Bob\nBcc: x@evil.example <bob@example.com>", "line feed (\\n)");
}

Test(address, line_feed_inside_quotes_is_refused)
{
	expect_bad("\"Bob\nX\" <bob@example.com>", "line feed");
}

Test(address, other_control_bytes_are_refused)
{
	expect_bad("bob\x01@example.com", "control character (\\x01)");
	expect_bad("Bob\x1b[31m <bob@example.com>", "control character (\\x1b)");
	expect_bad("bob@example.com\x7f", "control character (\\x7f)");
}

Test(address, invalid_utf8_is_refused)
{
	expect_bad("b\xffob@example.com", "not valid UTF-8");
	expect_bad("Bob \xc3 <bob@example.com>", "not valid UTF-8");
}

Test(address, overlong_utf8_is_refused)
{
	/* an overlong "/" and an overlong NUL */
	expect_bad("a\xc0\xaf@example.com", "not valid UTF-8");
	expect_bad("a\xc0\x80@example.com", "not valid UTF-8");
	expect_bad("a\xe0\x80\x8a@example.com", "not valid UTF-8");
}

Test(address, utf8_surrogate_is_refused)
{
	expect_bad("a\xed\xa0\x80@example.com", "not valid UTF-8");
}

Test(address, text_after_closing_angle_is_refused)
{
	expect_bad("<a@example.com> SIZE=999999999", "unexpected text after \">\"");
	expect_bad("<a@example.com>x", "unexpected text after \">\"");
	expect_bad("<a@example.com> <b@example.com>", "unexpected text after \">\"");
}

Test(address, parameters_after_bare_mailbox_are_refused)
{
	expect_bad("a@example.com NOTIFY=NEVER", "space in the mailbox");
}

Test(address, angle_bracket_inside_mailbox_is_refused)
{
	expect_bad("<a<b@example.com>", "\"<\" inside the mailbox");
	expect_bad("a@example.com>", "\">\" inside the mailbox");
	expect_bad("<\"a<b\"@example.com>", "\"<\" inside the mailbox");
}

Test(address, unclosed_angle_is_refused)
{
	expect_bad("Bob <bob@example.com", "no closing \">\"");
}

Test(address, empty_angle_is_refused)
{
	expect_bad("<>", "no mailbox inside \"<>\"");
	expect_bad("Bob <>", "no mailbox inside \"<>\"");
}

Test(address, empty_input_is_refused)
{
	expect_bad("", "empty");
	expect_bad("  \t ", "empty");
}

Test(address, unterminated_quote_is_refused)
{
	expect_bad("\"Bob <bob@example.com>", "unterminated quoted string");
}

Test(address, closing_angle_before_opening_is_refused)
{
	expect_bad("a>b <bob@example.com>", "\">\" before \"<\"");
}

Test(address, bad_quoted_local_part_is_refused)
{
	expect_bad("\"\"@example.com", "quoted local part is empty");
	expect_bad("\"a\"b@example.com", "must be followed by \"@\"");
}

Test(address, unterminated_quoted_local_part_is_refused)
{
	expect_bad("<\"abc@example.com>", "unterminated quoted local part");
}

Test(address, angle_inside_angle_is_refused_as_such)
{
	expect_bad("<<a@example.com>>", "\"<\" inside the mailbox");
}

Test(address, bad_address_literal_is_refused)
{
	expect_bad("a@[192.0.2]", "invalid address literal");
	expect_bad("a@[192.0.2.256]", "invalid address literal");
	expect_bad("a@[IPv6:zz::1]", "invalid address literal");
	expect_bad("a@[192.0.2.1", "invalid address literal");
	expect_bad("a@[tag:text]", "invalid address literal");
}

/* Lists */

Test(address, list_splits_on_commas)
{
	struct addr_list l = { 0 };
	struct error err;

	cr_assert_eq(addr_parse_list(&l, "a@x.org, Bob <b@y.org>,c@z.org", &err), 0, "%s", err.text);
	cr_assert_eq(l.n, 3);
	cr_expect_str_eq(addr_list_mailbox(&l, 0), "a@x.org");
	cr_expect_str_eq(addr_list_name(&l, 1), "Bob");
	cr_expect_str_eq(addr_list_mailbox(&l, 1), "b@y.org");
	cr_expect_str_eq(addr_list_mailbox(&l, 2), "c@z.org");
	addr_list_free(&l);
}

Test(address, list_comma_inside_quotes_does_not_split)
{
	struct addr_list l = { 0 };
	struct error err;

	cr_assert_eq(addr_parse_list(&l, "\"Doe, Jane\" <jane@x.org>, \"Roe, \\\"R, R\\\"\" <r@x.org>",
		&err), 0, "%s", err.text);
	cr_assert_eq(l.n, 2);
	cr_expect_str_eq(addr_list_name(&l, 0), "Doe, Jane");
	cr_expect_str_eq(addr_list_name(&l, 1), "Roe, \"R, R\"");
	cr_expect_str_eq(addr_list_mailbox(&l, 1), "r@x.org");
	addr_list_free(&l);
}

Test(address, list_comma_inside_angle_brackets_does_not_split)
{
	struct addr_list l = { 0 };
	struct error err;

	cr_assert_eq(addr_parse_list(&l, "<\"a,b\"@x.org>, c@y.org", &err), 0, "%s", err.text);
	cr_assert_eq(l.n, 2);
	cr_expect_str_eq(addr_list_mailbox(&l, 0), "\"a,b\"@x.org");
	addr_list_free(&l);
}

Test(address, list_ignores_empty_items)
{
	struct addr_list l = { 0 };
	struct error err;

	cr_assert_eq(addr_parse_list(&l, ",, a@x.org ,, \t, b@y.org,", &err), 0, "%s", err.text);
	cr_expect_eq(l.n, 2);
	addr_list_free(&l);
	cr_assert_eq(addr_parse_list(&l, " , ,", &err), 0);
	cr_expect_eq(l.n, 0);
	cr_assert_eq(addr_parse_list(&l, "", &err), 0);
	cr_expect_eq(l.n, 0);
	addr_list_free(&l);
}

Test(address, list_appends_to_what_it_holds)
{
	struct addr_list l = { 0 };
	struct error err;

	cr_assert_eq(addr_parse_list(&l, "a@x.org", &err), 0);
	cr_assert_eq(addr_parse_list(&l, "b@x.org, c@x.org", &err), 0);
	cr_assert_eq(l.n, 3);
	cr_expect_str_eq(addr_list_mailbox(&l, 2), "c@x.org");
	addr_list_free(&l);
}

Test(address, list_failure_keeps_previous_contents_and_names_the_item)
{
	struct addr_list l = { 0 };
	struct error err;

	cr_assert_eq(addr_parse_list(&l, "a@x.org", &err), 0);
	cr_assert_eq(addr_parse_list(&l, "b@x.org, bad@, c@x.org", &err), -1);
	cr_expect_eq(err.cls, ERR_USAGE);
	cr_expect_str_eq(err.text, "malformed address \" bad@\": no domain after \"@\"");
	cr_assert_eq(l.n, 1);
	cr_expect_str_eq(addr_list_mailbox(&l, 0), "a@x.org");
	addr_list_free(&l);
}

Test(address, list_item_with_crlf_is_refused)
{
	struct addr_list l = { 0 };
	struct error err;

	cr_expect_eq(addr_parse_list(&l, "a@x.org,\r\nb@x.org", &err), -1);
	cr_expect(strstr(err.text, "carriage return") != NULL, "%s", err.text);
	cr_expect_eq(l.n, 0);
	addr_list_free(&l);
}

/* Speed belongs in benchmarks; this checks that a list this long works. */
Test(address, list_of_10000_addresses_parses)
{
	enum { N = 10000 };
	size_t size = N * 48, o = 0;
	char *text = malloc(size);
	struct addr_list l = { 0 };
	struct error err;

	cr_assert_not_null(text);
	for (int i = 0; i < N; i++)
		o += (size_t)snprintf(text + o, size - o, "\"User, %d\" <user%d@example.com>,", i, i);
	cr_assert_eq(addr_parse_list(&l, text, &err), 0, "%s", err.text);
	cr_expect_eq(l.n, N);
	cr_expect_str_eq(addr_list_name(&l, N - 1), "User, 9999");
	cr_expect_str_eq(addr_list_mailbox(&l, N - 1), "user9999@example.com");
	addr_list_free(&l);
	free(text);
}

Test(address, list_free_empties_the_list)
{
	struct addr_list l = { 0 };
	struct error err;

	cr_assert_eq(addr_parse_list(&l, "Bob <bob@x.org>", &err), 0);
	cr_assert_eq(l.n, 1);
	cr_expect_str_eq(addr_list_name(&l, 0), "Bob");
	cr_expect_str_eq(addr_list_mailbox(&l, 0), "bob@x.org");
	addr_list_free(&l);
	cr_expect_null(l.text);
	cr_expect_null(l.off);
	cr_expect_eq(l.n, 0);
}

Test(address, semicolon_list_says_to_use_commas)
{
	expect_bad("a@x.com; b@y.com", "separate addresses with commas");
	expect_bad("a@x.com b@y.com", "separate addresses with commas");
}

/* The list is packed: one buffer of text, an offset per entry. */
Test(address, list_entries_read_through_the_accessors)
{
	struct addr_list l = { 0 };
	struct error err;
	struct address a;

	cr_assert_eq(addr_parse_list(&l, "a@x.org, Bob <b@y.org>", &err), 0, "%s", err.text);
	cr_expect_null(addr_list_name(&l, 0));
	cr_expect_str_eq(addr_list_name(&l, 1), "Bob");
	a = addr_list_at(&l, 1);
	cr_expect_str_eq(a.mailbox, "b@y.org");
	cr_expect_str_eq(a.name, "Bob");
	cr_expect_eq(a.mailbox, addr_list_mailbox(&l, 1), "a view, not a copy");
	cr_expect_eq(l.used, sizeof "a@x.org" + 1 + sizeof "b@y.org" + sizeof "Bob");
	addr_list_free(&l);
}

Test(address, list_add_copies_the_address)
{
	struct addr_list l = { 0 };
	struct address a = { .name = strdup("Ann"), .mailbox = strdup("ann@x.org") };

	cr_assert_eq(addr_list_add(&l, &a), 0);
	addr_free(&a);
	cr_assert_eq(l.n, 1);
	cr_expect_str_eq(addr_list_mailbox(&l, 0), "ann@x.org");
	cr_expect_str_eq(addr_list_name(&l, 0), "Ann");
	addr_list_free(&l);
}

/* A failed list gives its room back: what follows is stored where the
 * refused items were. */
Test(address, list_failure_gives_back_the_text)
{
	struct addr_list l = { 0 };
	struct error err;
	size_t used;

	cr_assert_eq(addr_parse_list(&l, "a@x.org", &err), 0);
	used = l.used;
	cr_assert_eq(addr_parse_list(&l, "b@x.org, c@x.org, bad@", &err), -1);
	cr_expect_eq(l.n, 1);
	cr_expect_eq(l.used, used);
	cr_assert_eq(addr_parse_list(&l, "d@x.org", &err), 0);
	cr_expect_str_eq(addr_list_mailbox(&l, 1), "d@x.org");
	addr_list_free(&l);
}

/* 200,000 addresses cost their text and four bytes each. */
Test(address, list_holds_each_address_once_packed)
{
	enum { N = 200000 };
	struct addr_list l = { 0 };
	struct error err;
	size_t text = 0;
	char buf[64];

	for (int i = 0; i < N; i++) {
		snprintf(buf, sizeof buf, "r%d@example.com", i);
		cr_assert_eq(addr_parse_list(&l, buf, &err), 0, "%s", err.text);
		text += strlen(buf) + 2; /* its NUL and the empty name's */
	}
	cr_expect_eq(l.used, text);
	cr_expect_leq(l.cap, 2 * (size_t)N);
	cr_expect_str_eq(addr_list_mailbox(&l, N - 1), "r199999@example.com");
	addr_list_free(&l);
}

Test(address, list_of_mailboxes_only_drops_the_names)
{
	struct addr_list l = { .mailboxes_only = true };
	struct error err;

	cr_assert_eq(addr_parse_list(&l, "Bob <bob@x.org>, \"Doe, J\" <j@x.org>", &err), 0, "%s", err.text);
	cr_assert_eq(l.n, 2);
	cr_expect_str_eq(addr_list_mailbox(&l, 1), "j@x.org");
	cr_expect_null(addr_list_name(&l, 0));
	cr_expect_null(addr_list_name(&l, 1));
	addr_list_free(&l);
}
