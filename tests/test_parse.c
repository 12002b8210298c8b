/* Option value parsers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

static struct error err;

Test(parse, port_accepts_1_to_65535)
{
	unsigned p;

	cr_expect_eq(parse_port("1", &p, &err), 0);
	cr_expect_eq(p, 1);
	cr_expect_eq(parse_port("65535", &p, &err), 0);
	cr_expect_eq(p, 65535);
}

Test(parse, port_rejects_zero_large_signs_and_words)
{
	const char *bad[] = {"0", "65536", "99999999999999999999", "-1", "+5", "587x", "", " 25", "abc"};
	unsigned p;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cr_expect_eq(parse_port(bad[i], &p, &err), -1, "%s accepted", bad[i]);
		cr_expect_eq(err.cls, ERR_USAGE);
	}
	parse_port("0", &p, &err);
	cr_expect(strstr(err.text, "\"0\""), "message names the value: %s", err.text);
}

Test(parse, server_forms)
{
	struct { const char *in, *host; unsigned port; enum tls_mode tls; } ok[] = {
		{"mail.example.com", "mail.example.com", 0, TLS_AUTO},
		{"mail.example.com:2525", "mail.example.com", 2525, TLS_AUTO},
		{"smtp://mail.example.com", "mail.example.com", 0, TLS_AUTO},
		{"smtps://mail.example.com", "mail.example.com", 0, TLS_IMPLICIT},
		{"SMTPS://mail.example.com:4650/", "mail.example.com", 4650, TLS_IMPLICIT},
		{"[2001:db8::1]:587", "2001:db8::1", 587, TLS_AUTO},
		{"[::1]", "::1", 0, TLS_AUTO},
		{"2001:db8::1", "2001:db8::1", 0, TLS_AUTO},
		{"127.0.0.1:25", "127.0.0.1", 25, TLS_AUTO},
	};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		char *host = NULL;
		unsigned port;
		enum tls_mode tls;

		cr_assert_eq(parse_server(ok[i].in, &host, &port, &tls, &err), 0, "%s: %s", ok[i].in, err.text);
		cr_expect_str_eq(host, ok[i].host);
		cr_expect_eq(port, ok[i].port, "%s", ok[i].in);
		cr_expect_eq(tls, ok[i].tls, "%s", ok[i].in);
		free(host);
	}
}

Test(parse, server_rejects_bad_forms)
{
	const char *bad[] = {"", ":25", "host:0", "host:70000", "http://host", "[::1", "[]:25",
			     "host name", "user@host", "host\r\nRCPT", "[::1]x"};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char *host = NULL;
		unsigned port;
		enum tls_mode tls;

		cr_expect_eq(parse_server(bad[i], &host, &port, &tls, &err), -1, "%s accepted", bad[i]);
		cr_expect_null(host);
	}
}

Test(parse, proxy_needs_socks5_and_port)
{
	char *host = NULL;
	unsigned port;

	cr_expect_eq(parse_proxy("socks5://127.0.0.1:1080", &host, &port, &err), 0);
	cr_expect_str_eq(host, "127.0.0.1");
	cr_expect_eq(port, 1080);
	free(host);
	host = NULL;
	cr_expect_eq(parse_proxy("socks5://proxy", &host, &port, &err), -1);
	cr_expect_eq(parse_proxy("http://proxy:3128", &host, &port, &err), -1);
}

Test(parse, fingerprint_hex_with_or_without_colons)
{
	unsigned char fp[32];
	char hex[100] = "", colons[200] = "";

	for (int i = 0; i < 32; i++) {
		sprintf(hex + 2 * i, "%02X", i * 7);
		sprintf(colons + 3 * i, "%02x%s", i * 7, i < 31 ? ":" : "");
	}
	cr_expect_eq(parse_fingerprint(hex, fp, &err), 0);
	cr_expect_eq(fp[5], 35);
	cr_expect_eq(parse_fingerprint(colons, fp, &err), 0);
	cr_expect_eq(fp[31], (unsigned char)(31 * 7));
	hex[62] = '\0';
	cr_expect_eq(parse_fingerprint(hex, fp, &err), -1);
	cr_expect_eq(parse_fingerprint("zz", fp, &err), -1);
}

Test(parse, dsn_notify_lists)
{
	unsigned bits;

	cr_expect_eq(parse_dsn_notify("success,failure", &bits, &err), 0);
	cr_expect_eq(bits, DSN_SUCCESS | DSN_FAILURE);
	cr_expect_eq(parse_dsn_notify("NEVER", &bits, &err), 0);
	cr_expect_eq(parse_dsn_notify("never,success", &bits, &err), -1);
	cr_expect_eq(parse_dsn_notify("sometimes", &bits, &err), -1);
	cr_expect_eq(parse_dsn_notify("", &bits, &err), -1);
}

Test(parse, header_splits_name_and_value)
{
	char *name, *value;

	cr_assert_eq(parse_header("X-Tag:   hello: world", &name, &value, &err), 0);
	cr_expect_str_eq(name, "X-Tag");
	cr_expect_str_eq(value, "hello: world");
	free(name);
	free(value);
}

Test(parse, header_with_line_break_is_bad_data)
{
	char *name, *value;

	cr_expect_eq(parse_header("X-Tag: a\r\nBcc: victim@example.com", &name, &value, &err), -1);
	cr_expect_eq(err.cls, ERR_DATA);
	cr_expect(strstr(err.text, "\\r"), "shows the CR: %s", err.text);
	cr_expect_eq(parse_header("Bad Name: x", &name, &value, &err), -1);
	cr_expect_eq(err.cls, ERR_DATA);
	cr_expect_eq(parse_header("NoColon", &name, &value, &err), -1);
	cr_expect_eq(err.cls, ERR_DATA);
}

Test(parse, helo_names)
{
	cr_expect_eq(parse_helo("client.example.com", &err), 0);
	cr_expect_eq(parse_helo("[192.0.2.1]", &err), 0);
	cr_expect_eq(parse_helo("[IPv6:2001:db8::1]", &err), 0);
	cr_expect_eq(parse_helo("bad name", &err), -1);
	cr_expect_eq(parse_helo("x\r\nMAIL FROM:<a@b>", &err), -1);
	cr_expect_eq(parse_helo("", &err), -1);
}

Test(parse, bool_words)
{
	bool b;

	cr_expect_eq(parse_bool(NULL, &b, &err), 0);
	cr_expect(b);
	cr_expect_eq(parse_bool("No", &b, &err), 0);
	cr_expect_not(b);
	cr_expect_eq(parse_bool("maybe", &b, &err), -1);
}

Test(parse, show_escapes_control_bytes)
{
	char buf[80];

	cr_expect_str_eq(parse_show("a\rb\nc\x1b", buf, sizeof buf), "\"a\\rb\\nc\\x1b\"");
}

Test(parse, show_escapes_bidi_c1_and_broken_utf8)
{
	char buf[80];

	cr_expect_str_eq(parse_show("1\xe2\x80\xae" "2\xc2\x9b" "3\xff M\xc3\xbcller", buf, sizeof buf),
			 "\"1\\u202e2\\u009b3\\xff M\xc3\xbcller\"");
}

Test(parse, show_cuts_long_values)
{
	char buf[200], small[80], in[300];

	memset(in, 'a', sizeof in - 1);
	in[sizeof in - 1] = '\0';
	parse_show(in, buf, sizeof buf);
	cr_expect_eq(strlen(buf), 1 + 120 + 3 + 1, "%s", buf);
	cr_expect(strstr(buf, "a...\""));
	parse_show(in, small, sizeof small);
	cr_expect_eq(strlen(small), sizeof small - 5, "%s", small);
	cr_expect_eq(small[strlen(small) - 1], '"');
}
