/* transport.h - what the SMTP engine needs from a connection, as a table
 * of functions: the conn module implements it over TCP/SOCKS5/TLS
 * (conn_transport.c), and the engine's tests put a scripted peer under
 * the engine in-process (tests/test_smtp.c).
 *
 * Every function that can fail returns 0 or -1 with err filled once, with
 * the classes conn.h documents (ERR_TEMPFAIL for a timeout or a lost
 * connection, ERR_TLS, ERR_CERT, ...). The engine never sees a socket.
 */
#ifndef ENVOI_TRANSPORT_H
#define ENVOI_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct tls_info;
struct transport_ops;

/* One open connection; implementations embed it first in their own. */
struct transport {
	const struct transport_ops *ops;
};

struct transport_ops {
	/* Connects (ctx is the implementation's settings). Returns 0 and *out,
	 * to be released with close, or -1 with err filled. */
	int (*open)(void *ctx, struct transport **out, struct error *err);
	/* Reads one line without its CRLF into a buffer valid until the next
	 * call; see conn_read_line. */
	int (*read_line)(struct transport *t, const char **line, size_t *len, struct error *err);
	/* The lines read from now on must all arrive within one timeout. */
	void (*start_step)(struct transport *t);
	/* Bytes received and not yet read as lines. */
	size_t (*pending)(const struct transport *t);
	/* 1 readable (or at end of stream), 0 nothing within ms, -1 error. */
	int (*wait_readable)(struct transport *t, int ms, struct error *err);
	/* Queues bytes; flush sends what is queued. */
	int (*write)(struct transport *t, const void *buf, size_t len, struct error *err);
	int (*flush)(struct transport *t, struct error *err);
	/* The TLS handshake with the settings the transport was opened with. */
	int (*start_tls)(struct transport *t, struct error *err);
	/* A handshake that only asks whether the peer speaks TLS at all: no
	 * verification, a short timeout. Returns 0 when it completed; either
	 * way tls_answered then says whether a TLS record came back. */
	int (*probe_tls)(struct transport *t, struct error *err);
	bool (*tls_answered)(const struct transport *t);
	bool (*is_loopback)(const struct transport *t);
	bool (*is_tls)(const struct transport *t);
	const struct tls_info *(*tls_info)(const struct transport *t);
	/* Channel binding for SCRAM-*-PLUS, malloc'd base64 (caller frees),
	 * or NULL; *type gets its name. */
	char *(*channel_binding)(struct transport *t, const char **type);
	/* The peer as text for messages, valid until close. */
	const char *(*peer)(const struct transport *t);
	/* Closes and frees; NULL ok. */
	void (*close)(struct transport *t);
};

#endif
