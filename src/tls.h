/* tls.h - GnuTLS under the SMTP engine: one credentials context per
 * process (CA file, client certificate and, only when a certificate must
 * be checked against it, the system store: loaded once, reused by every
 * handshake), the handshake on a connected descriptor with its deadline,
 * certificate verification (CA and host name, or a pin) and diagnostics
 * that say why a certificate was refused, and record I/O for io.c.
 * Never prints, never exits; every failure fills err once.
 */
#ifndef ENVOI_TLS_H
#define ENVOI_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

struct tls;

/* What the TLS layer learnt, for --json, --probe and error hints. */
struct tls_info {
	char version[16];      /* "TLS1.3" */
	char cipher[96];
	char subject[256];     /* server certificate subject DN */
	char issuer[256];
	char not_before[32];   /* "2026-01-01 00:00:00 UTC" */
	char not_after[32];
	bool verified;
};

/* How to check the server and who the client is. Strings are borrowed
 * for the call. The files make the process's one credentials context on
 * the first handshake; later handshakes must name the same files. */
struct tls_params {
	const char *ca_file;       /* NULL: the system store */
	unsigned char fingerprint[32];  /* SHA-256 pin of the leaf (DER) */
	bool have_fingerprint;
	bool insecure;             /* no CA or host name check */
	const char *client_cert, *client_key;  /* NULL: none; key defaults to cert */
};

/* The connection the handshake runs on. Strings are copied. */
struct tls_peer {
	int fd;                    /* connected, non-blocking; borrowed */
	const char *host;          /* as given: SNI and the name checked */
	unsigned port;             /* for hints */
	const char *peer;          /* the other end, for messages */
	int timeout_ms;            /* bounds the handshake and every wait after it */
	bool implicit;             /* nothing said in plaintext yet (no STARTTLS) */
};

/* Handshake: TLS 1.2 minimum, SNI (not for address literals), the
 * certificate checked as conn.h's conn_start_tls says. Returns 0 with *out
 * up, or -1 with err filled (classes: conn_start_tls). *out is set as
 * soon as a GnuTLS session exists, also on failure, so tls_info and
 * tls_answered tell how far it got; it is NULL when the failure came
 * before (credentials, memory). The caller frees *out with tls_close. */
int tls_start(struct tls **out, const struct tls_peer *p, const struct tls_params *tp,
	      struct error *err);

/* Record I/O once up. Return bytes (> 0), 0 at end of stream (recv
 * only), -1 with err filled (ERR_TEMPFAIL connection lost, ERR_TLS,
 * ERR_OSERR), or -2 when it would block: *events says what to poll the
 * descriptor for (0: call again at once, a non-data record was
 * consumed). tls_send sends at most one 16 KiB record; after -2 it must
 * be called again with the same buf and len. */
ssize_t tls_recv(struct tls *t, char *buf, size_t len, short *events, struct error *err);
ssize_t tls_send(struct tls *t, const char *buf, size_t len, short *events, struct error *err);

/* Decrypted bytes GnuTLS holds, not yet returned by tls_recv. */
size_t tls_pending(const struct tls *t);

/* True when the handshake succeeded. NULL is not up. */
bool tls_is_up(const struct tls *t);

/* True when the first bytes the server sent during the handshake began
 * a TLS handshake or alert record (or the handshake succeeded). NULL ok. */
bool tls_answered(const struct tls *t);

/* What was learnt, as far as the handshake got. Valid until tls_close. */
const struct tls_info *tls_get_info(const struct tls *t);

/* Channel binding data for SCRAM-*-PLUS ("tls-exporter" for TLS 1.3,
 * "tls-unique" before), base64, malloc'd (caller frees); NULL when not
 * available. *type gets the binding name. */
char *tls_channel_binding(struct tls *t, const char **type);

/* Sends close_notify when up (waiting at most 2 s), frees t and wipes
 * it. Does not close the descriptor. NULL ok. */
void tls_close(struct tls *t);

/* For tests: how many times this process loaded the system trust store
 * into the credentials context (at most once). */
unsigned tls_system_trust_loads(void);

#endif
