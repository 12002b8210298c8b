/* error.c - the error type and the one table from class to exit code. */
#include "error.h"
#include "printable.h"

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

/* Server text is untrusted: it is stored in its shown form (printable.h)
 * so that it can neither break the one-line error nor drive the terminal.
 * Line breaks between reply lines become " / ". */
void err_reply(struct error *err, const char *reply, size_t len)
{
	size_t o = 0, cap = sizeof err->reply;

	for (size_t i = 0; i < len && o + 1 < cap;) {
		size_t end = i;

		while (end < len && reply[end] != '\n' && reply[end] != '\r')
			end++;
		o += printable_copy(err->reply + o, cap - o, reply + i, end - i);
		if (end < len && reply[end] == '\n' && o + 4 < cap) {
			memcpy(err->reply + o, " / ", 4);
			o += 3;
		}
		i = end < len ? end + 1 : end;
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

/* Every part is escaped again on the way out: the text and the hint may
 * quote a certificate name or a reply, and escaping shown text changes
 * nothing, so nothing a server sent reaches the terminal raw. */
void err_format(const struct error *err, char *buf, size_t size)
{
	char part[sizeof err->text * 2];
	size_t o;

	snprintf(buf, size, "envoi: %s: ", err_class_name(err->cls));
	o = strlen(buf);
	printable_copy(part, sizeof part, err->text, strnlen(err->text, sizeof err->text));
	o += (size_t)snprintf(buf + o, size - o, "%s", part);
	if (o < size && err->reply[0]) {
		printable_copy(part, sizeof part, err->reply, strnlen(err->reply, sizeof err->reply));
		o += (size_t)snprintf(buf + o, size - o, "; server said: %s", part);
	}
	if (o < size && err->hint[0]) {
		printable_copy(part, sizeof part, err->hint, strnlen(err->hint, sizeof err->hint));
		snprintf(buf + o, size - o, " (%s)", part);
	}
}
