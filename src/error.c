/* error.c - the error type and the one table from class to exit code. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
	int code;
	const char *name;
} classes[ERR_CLASS_COUNT] = {
	[ERR_OK] = {0, "sent"},
	[ERR_USAGE] = {64, "usage error"},
	[ERR_DATA] = {65, "bad message data"},
	[ERR_NOINPUT] = {66, "file not found"},
	[ERR_NOHOST] = {68, "unknown host"},
	[ERR_UNAVAILABLE] = {69, "cannot connect"},
	[ERR_SOFTWARE] = {70, "internal error"},
	[ERR_OSERR] = {71, "system error"},
	[ERR_CANTCREAT] = {73, "cannot create output"},
	[ERR_IOERR] = {74, "output error"},
	[ERR_TEMPFAIL] = {75, "temporary failure"},
	[ERR_PROTOCOL] = {76, "protocol error"},
	[ERR_NOPERM] = {77, "cannot read file"},
	[ERR_CONFIG] = {78, "configuration error"},
	[ERR_TLS_MISMATCH] = {80, "TLS mismatch"},
	[ERR_STARTTLS] = {81, "STARTTLS unavailable"},
	[ERR_CERT] = {82, "certificate rejected"},
	[ERR_TLS] = {83, "TLS handshake failed"},
	[ERR_AUTH_FAILED] = {84, "authentication failed"},
	[ERR_AUTH_IMPOSSIBLE] = {85, "authentication impossible"},
	[ERR_SENDER] = {86, "sender rejected"},
	[ERR_SOME_RCPT] = {87, "some recipients rejected"},
	[ERR_ALL_RCPT] = {88, "all recipients rejected"},
	[ERR_MESSAGE] = {89, "message rejected"},
};

int err_set(struct error *err, enum err_class cls, const char *fmt, ...)
{
	va_list ap;

	err->cls = cls;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof err->text, fmt, ap);
	va_end(ap);
	err->reply[0] = '\0';
	err->hint[0] = '\0';
	return -1;
}

void err_hint(struct error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->hint, sizeof err->hint, fmt, ap);
	va_end(ap);
}

/* Server text is untrusted: anything that is not printable is shown as
 * an escape so that it can neither break the one-line error nor drive
 * the terminal. Line breaks between reply lines become " / ". */
void err_reply(struct error *err, const char *reply, size_t len)
{
	size_t o = 0, cap = sizeof err->reply - 1;

	for (size_t i = 0; i < len && o < cap; i++) {
		unsigned char c = (unsigned char)reply[i];
		char tmp[8];
		const char *s = tmp;

		if (c == '\n')
			s = " / ";
		else if (c == '\r')
			continue;
		else if (c < 0x20 || c == 0x7f)
			snprintf(tmp, sizeof tmp, "\\x%02x", c);
		else {
			tmp[0] = (char)c;
			tmp[1] = '\0';
		}
		size_t n = strlen(s);
		if (o + n > cap)
			break;
		memcpy(err->reply + o, s, n);
		o += n;
	}
	err->reply[o] = '\0';
}

int err_exit_code(enum err_class cls)
{
	if ((unsigned)cls >= ERR_CLASS_COUNT)
		return 70;
	return classes[cls].code;
}

const char *err_class_name(enum err_class cls)
{
	if ((unsigned)cls >= ERR_CLASS_COUNT)
		return "internal error";
	return classes[cls].name;
}

void err_format(const struct error *err, char *buf, size_t size)
{
	int n = snprintf(buf, size, "envoi: %s: %s", err_class_name(err->cls), err->text);

	if (n >= 0 && (size_t)n < size && err->reply[0])
		n += snprintf(buf + n, size - (size_t)n, "; server said: %s", err->reply);
	if (n >= 0 && (size_t)n < size && err->hint[0])
		snprintf(buf + n, size - (size_t)n, " (%s)", err->hint);
}
