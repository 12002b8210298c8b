/* error.h - the one error type of envoi.
 *
 * A failure is filled once, where it is seen: a class (which main maps to
 * the exit code through the single table in error.c), one human sentence,
 * the server's reply when there was one, and an optional hint saying what
 * to try next. Nothing else flows back from a failed call.
 */
#ifndef ENVOI_ERROR_H
#define ENVOI_ERROR_H

#include <stddef.h>

enum err_class {
	ERR_OK = 0,
	ERR_USAGE,           /* 64: bad option, port, address, missing sender/recipient */
	ERR_DATA,            /* 65: CR/LF/NUL in header data or file name, bad header name */
	ERR_NOINPUT,         /* 66: attachment or body file does not exist */
	ERR_NOHOST,          /* 68: host name does not resolve */
	ERR_UNAVAILABLE,     /* 69: cannot connect */
	ERR_SOFTWARE,        /* 70: internal error */
	ERR_OSERR,           /* 71: system error (out of memory, fork failed) */
	ERR_CANTCREAT,       /* 73: cannot create the output file (--pickup-dir) */
	ERR_IOERR,           /* 74: cannot write the output (--dry-run) */
	ERR_TEMPFAIL,        /* 75: timeout, 4xx, 421, connection lost */
	ERR_PROTOCOL,        /* 76: malformed/unexpected reply, STARTTLS injection */
	ERR_NOPERM,          /* 77: file exists but cannot be read */
	ERR_CONFIG,          /* 78: configuration error */
	ERR_TLS_MISMATCH,    /* 80: implicit TLS vs plaintext port mismatch */
	ERR_STARTTLS,        /* 81: STARTTLS required but not offered/refused */
	ERR_CERT,            /* 82: server certificate rejected */
	ERR_TLS,             /* 83: other TLS handshake failure */
	ERR_AUTH_FAILED,     /* 84: credentials rejected */
	ERR_AUTH_IMPOSSIBLE, /* 85: no AUTH, or no mechanism in common */
	ERR_SENDER,          /* 86: MAIL FROM rejected */
	ERR_SOME_RCPT,       /* 87: some recipients rejected */
	ERR_ALL_RCPT,        /* 88: every recipient rejected */
	ERR_MESSAGE,         /* 89: message rejected (size or content) */
	ERR_CLASS_COUNT
};

struct error {
	enum err_class cls;
	char text[512];  /* one sentence naming the problem, no trailing period */
	char reply[512]; /* the server's reply on one line, "" when none */
	char hint[256];  /* what to try next, "" when none */
};

/* Fills err (class + printf-style text; clears reply and hint).
 * Returns -1 so that callers can write `return err_set(...)`. */
int err_set(struct error *err, enum err_class cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sets the hint of an already-filled error. */
void err_hint(struct error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Copies a server reply into err->reply, with control bytes made visible
 * and multiline replies joined by " / ". */
void err_reply(struct error *err, const char *reply, size_t len);

/* The exit code of a class (the contract's table). */
int err_exit_code(enum err_class cls);

/* Short name of a class for the error line and JSON ("usage", "tls"...). */
const char *err_class_name(enum err_class cls);

/* Formats the one-line message main prints: "envoi: <class>: <text>..." */
void err_format(const struct error *err, char *buf, size_t size);

#endif
