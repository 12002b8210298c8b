/* parse.h - parsers for option values: pure functions, no I/O, so the
 * same checks serve the command line, the environment and the config
 * file. Each returns 0, or -1 with err set (class ERR_USAGE unless noted)
 * and a text that names the bad value. */
#ifndef ENVOI_PARSE_H
#define ENVOI_PARSE_H

#include <stdbool.h>

#include "error.h"
#include "session.h"

/* "1".."65535" only. */
int parse_port(const char *s, unsigned *port, struct error *err);

/* HOST, HOST:PORT, [V6]:PORT, V6 literal, smtp://..., smtps://... (a
 * trailing "/" is allowed). *host is malloc'd, without brackets; *port is
 * 0 when absent; *tls is TLS_IMPLICIT for smtps://, else TLS_AUTO. */
int parse_server(const char *s, char **host, unsigned *port, enum tls_mode *tls,
		 struct error *err);

/* socks5://HOST:PORT (also socks5h://); port required. */
int parse_proxy(const char *s, char **host, unsigned *port, struct error *err);

int parse_tls_mode(const char *s, enum tls_mode *mode, struct error *err);

/* 64 hex digits, colons allowed between pairs, any case. */
int parse_fingerprint(const char *s, unsigned char out[32], struct error *err);

/* NEVER, or a comma list of SUCCESS, FAILURE, DELAY (any case). */
int parse_dsn_notify(const char *s, unsigned *bits, struct error *err);
int parse_dsn_return(const char *s, enum dsn_ret *ret, struct error *err);

/* A whole number in [min, max]; what names the option in the message. */
int parse_uint(const char *s, unsigned min, unsigned max, const char *what, unsigned *out,
	       struct error *err);

/* yes/no, true/false, on/off, 1/0; NULL (a bare config key) means yes. */
int parse_bool(const char *s, bool *out, struct error *err);

/* A host name or address literal for EHLO: letters, digits, '-', '.',
 * or [literal]; at most 255 characters. */
int parse_helo(const char *s, struct error *err);

/* "Name: value" -> malloc'd name and value (value without leading
 * blanks). ERR_DATA for a missing colon, an invalid name, or CR/LF/NUL. */
int parse_header(const char *s, char **name, char **value, struct error *err);

/* ERR_DATA when s holds CR, LF or NUL (len bytes; s may hold a NUL when
 * it came from a file); what names the field in the message. */
int parse_no_breaks(const char *s, size_t len, const char *what, struct error *err);

/* Shows s for an error message: quoted, in printable_quote's form (CR,
 * LF and TAB as \r, \n, \t, other controls, bidi controls and broken
 * UTF-8 escaped), cut at 120 bytes of s (or what fits in size). Returns
 * buf. */
const char *parse_show(const char *s, char *buf, size_t size);

#endif
