/* parse.c - option value parsers. */
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "header.h"
#include "printable.h"

const char *parse_show(const char *s, char *buf, size_t size)
{
	size_t n;

	if (size < 8)
		return "";
	buf[0] = '"';
	/* size - 3: the closing quote and the NUL, with the cut where the
	 * line always had it */
	n = strlen(printable_quote(buf + 1, size - 3, s, 120, false));
	buf[1 + n] = '"';
	buf[2 + n] = '\0';
	return buf;
}

int parse_uint(const char *s, unsigned min, unsigned max, const char *what, unsigned *out,
	       struct error *err)
{
	char show[80];
	char *end;
	unsigned long v;

	if (!s || !isdigit((unsigned char)s[0]))
		goto bad;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		goto bad;
	*out = (unsigned)v;
	return 0;
bad:
	return err_set(err, ERR_USAGE, "%s must be a number from %u to %u, not %s", what, min,
		       max, parse_show(s ? s : "", show, sizeof show));
}

int parse_port(const char *s, unsigned *port, struct error *err)
{
	return parse_uint(s, 1, 65535, "the port", port, err);
}

static int split_host_port(const char *hp, char **host, unsigned *port, const char *whole,
			   struct error *err)
{
	char show[80];
	const char *colon, *end;

	*port = 0;
	if (hp[0] == '[') {
		end = strchr(hp, ']');
		if (!end || end == hp + 1)
			goto bad;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (!colon && end[1])
			goto bad;
		*host = strndup(hp + 1, (size_t)(end - hp - 1));
	} else {
		colon = strchr(hp, ':');
		/* Two or more colons without brackets: a bare IPv6 literal. */
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;
		end = colon ? colon : hp + strlen(hp);
		if (end == hp)
			goto bad;
		*host = strndup(hp, (size_t)(end - hp));
	}
	if (!*host)
		return err_set(err, ERR_OSERR, "out of memory");
	for (const char *c = *host; *c; c++)
		if ((unsigned char)*c <= ' ' || strchr("/@[]<>\"\\", *c)) {
			free(*host);
			*host = NULL;
			goto bad;
		}
	if (colon && parse_port(colon + 1, port, err) < 0) {
		free(*host);
		*host = NULL;
		return -1;
	}
	return 0;
bad:
	return err_set(err, ERR_USAGE, "invalid server %s: expected HOST[:PORT]",
		       parse_show(whole, show, sizeof show));
}

int parse_server(const char *s, char **host, unsigned *port, enum tls_mode *tls,
		 struct error *err)
{
	char buf[512];
	size_t n;

	*tls = TLS_AUTO;
	if (strncasecmp(s, "smtps://", 8) == 0) {
		*tls = TLS_IMPLICIT;
		s += 8;
	} else if (strncasecmp(s, "smtp://", 7) == 0) {
		s += 7;
	} else if (strstr(s, "://")) {
		char show[80];
		return err_set(err, ERR_USAGE, "invalid server %s: only smtp:// and smtps:// are known",
			       parse_show(s, show, sizeof show));
	}
	n = strlen(s);
	if (n >= sizeof buf)
		return err_set(err, ERR_USAGE, "server name is too long");
	memcpy(buf, s, n + 1);
	if (n > 0 && buf[n - 1] == '/')
		buf[n - 1] = '\0';
	return split_host_port(buf, host, port, s, err);
}

int parse_proxy(const char *s, char **host, unsigned *port, struct error *err)
{
	char show[80];
	const char *hp;

	if (strncasecmp(s, "socks5://", 9) == 0)
		hp = s + 9;
	else if (strncasecmp(s, "socks5h://", 10) == 0)
		hp = s + 10;
	else
		return err_set(err, ERR_USAGE, "invalid proxy %s: expected socks5://HOST:PORT",
			       parse_show(s, show, sizeof show));
	if (split_host_port(hp, host, port, s, err) < 0)
		return -1;
	if (*port == 0) {
		free(*host);
		*host = NULL;
		return err_set(err, ERR_USAGE, "invalid proxy %s: the port is missing",
			       parse_show(s, show, sizeof show));
	}
	return 0;
}

int parse_tls_mode(const char *s, enum tls_mode *mode, struct error *err)
{
	static const char *const names[] = {"auto", "implicit", "starttls", "none"};
	char show[80];

	for (unsigned i = 0; i < 4; i++)
		if (strcasecmp(s, names[i]) == 0) {
			*mode = (enum tls_mode)i;
			return 0;
		}
	return err_set(err, ERR_USAGE, "invalid TLS mode %s: use auto, implicit, starttls or none",
		       parse_show(s, show, sizeof show));
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int parse_fingerprint(const char *s, unsigned char out[32], struct error *err)
{
	char show[80];
	const char *p = s;
	unsigned n = 0;

	if (strncasecmp(p, "sha256:", 7) == 0)
		p += 7;
	while (*p && n < 32) {
		int hi = hexval((unsigned char)p[0]), lo = hi < 0 ? -1 : hexval((unsigned char)p[1]);

		if (hi < 0 || lo < 0)
			break;
		out[n++] = (unsigned char)(hi << 4 | lo);
		p += 2;
		if (*p == ':' && p[1])
			p++;
	}
	if (n != 32 || *p)
		return err_set(err, ERR_USAGE,
			       "invalid fingerprint %s: expected the SHA-256 of the certificate as 64 hex digits",
			       parse_show(s, show, sizeof show));
	return 0;
}

int parse_dsn_notify(const char *s, unsigned *bits, struct error *err)
{
	char show[80], word[16];
	const char *p = s;

	*bits = 0;
	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == 0 || n >= sizeof word)
			goto bad;
		memcpy(word, p, n);
		word[n] = '\0';
		if (strcasecmp(word, "never") == 0)
			*bits |= DSN_NEVER;
		else if (strcasecmp(word, "success") == 0)
			*bits |= DSN_SUCCESS;
		else if (strcasecmp(word, "failure") == 0)
			*bits |= DSN_FAILURE;
		else if (strcasecmp(word, "delay") == 0)
			*bits |= DSN_DELAY;
		else
			goto bad;
		p += n;
		if (*p == ',')
			p++;
	}
	/* RFC 3461 4.1: NEVER stands alone. */
	if (*bits == 0 || ((*bits & DSN_NEVER) && *bits != DSN_NEVER))
		goto bad;
	return 0;
bad:
	return err_set(err, ERR_USAGE,
		       "invalid --dsn-notify %s: use never, or a list of success, failure, delay",
		       parse_show(s, show, sizeof show));
}

int parse_dsn_return(const char *s, enum dsn_ret *ret, struct error *err)
{
	char show[80];

	if (strcasecmp(s, "full") == 0)
		*ret = DSN_RET_FULL;
	else if (strcasecmp(s, "headers") == 0 || strcasecmp(s, "hdrs") == 0)
		*ret = DSN_RET_HDRS;
	else
		return err_set(err, ERR_USAGE, "invalid --dsn-return %s: use full or headers",
			       parse_show(s, show, sizeof show));
	return 0;
}

int parse_bool(const char *s, bool *out, struct error *err)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	char show[80];

	if (!s) {
		*out = true;
		return 0;
	}
	for (unsigned i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return err_set(err, ERR_USAGE, "invalid switch value %s: use yes or no",
		       parse_show(s, show, sizeof show));
}

int parse_helo(const char *s, struct error *err)
{
	char show[80];
	size_t n = strlen(s);
	bool ok = n > 0 && n <= 255;

	if (ok && s[0] == '[')
		ok = s[n - 1] == ']' && n > 2 && strspn(s + 1, "0123456789abcdefABCDEF.:IPv6") == n - 2;
	else
		for (size_t i = 0; ok && i < n; i++)
			ok = isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '.';
	if (!ok)
		return err_set(err, ERR_USAGE,
			       "invalid --helo name %s: use a host name or an address literal like [192.0.2.1]",
			       parse_show(s, show, sizeof show));
	return 0;
}

int parse_no_breaks(const char *s, size_t len, const char *what, struct error *err)
{
	char show[80];

	for (size_t i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			return err_set(err, ERR_DATA, "%s %s holds a %s: line breaks cannot be sent in it",
				       what, parse_show(s, show, sizeof show),
				       s[i] == '\r' ? "carriage return" :
				       s[i] == '\n' ? "line feed" : "NUL byte");
	return 0;
}

int parse_header(const char *s, char **name, char **value, struct error *err)
{
	char show[80];
	const char *colon = strchr(s, ':');
	const char *v;

	if (parse_no_breaks(s, strlen(s), "header", err) < 0)
		return -1;
	if (!colon)
		return err_set(err, ERR_DATA, "invalid header %s: expected 'Name: value'",
			       parse_show(s, show, sizeof show));
	*name = strndup(s, (size_t)(colon - s));
	if (!*name)
		return err_set(err, ERR_OSERR, "out of memory");
	if (!hdr_name_valid(*name)) {
		err_set(err, ERR_DATA,
			"invalid header name %s: use printable ASCII without spaces or ':'",
			parse_show(*name, show, sizeof show));
		free(*name);
		*name = NULL;
		return -1;
	}
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	*value = strdup(v);
	if (!*value) {
		free(*name);
		*name = NULL;
		return err_set(err, ERR_OSERR, "out of memory");
	}
	return 0;
}
