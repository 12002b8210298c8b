/* conn.h - the transport under SMTP: a TCP connection (direct or through
 * a SOCKS5 proxy), optionally wrapped in TLS, with a timeout on every
 * wait. The SMTP engine sees only these functions; it never touches a
 * socket or GnuTLS directly. Underneath: net.h (resolve, TCP, SOCKS5),
 * tls.h (credentials, handshake, certificates), io.h (buffered lines).
 *
 * Timeouts (p->timeout seconds, 0 meaning the default 60) bound steps:
 *  - name resolution: one timeout (both tries, with and without
 *    AI_ADDRCONFIG), through glibc's getaddrinfo_a; only when no resolver
 *    thread can be started does it fall back to the unbounded call;
 *  - connect: one timeout for all the addresses of the name together
 *    (each gets an even share of what is left, at least 1 s); the SOCKS5
 *    negotiation gets one more; the TLS handshake gets one as a whole;
 *  - conn_read_line: every line read after conn_start_step must arrive
 *    before that step's deadline (one SMTP reply of any number of lines
 *    takes at most one timeout; a server that drips bytes is cut off);
 *    without a step, each line gets its own timeout;
 *  - conn_write/conn_flush: the timeout counts from the last progress, so
 *    a large message on a slow link is not cut off while it still moves.
 * A signal (EINTR) restarts a wait without extending its deadline.
 * The transport never prints and never exits; every failure fills err.
 */
#ifndef ENVOI_CONN_H
#define ENVOI_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "tls.h"

struct conn;

/* What the transport needs to reach the server and check its
 * certificate: filled by the caller (from its own settings), read-only
 * here and only borrowed for the call (nothing is kept after it returns
 * but copies). Strings may be NULL where noted. */
struct conn_params {
	const char *host;          /* host name or address literal (no brackets) */
	unsigned port;
	int family;                /* AF_UNSPEC, AF_INET or AF_INET6 */
	unsigned timeout;          /* seconds per step, 0 = the default 60 */
	const char *proxy_host;    /* SOCKS5 proxy; NULL = direct */
	unsigned proxy_port;

	const char *ca_file;       /* NULL: the system store */
	unsigned char fingerprint[32];  /* SHA-256 pin of the leaf (DER) */
	bool have_fingerprint;
	bool insecure;             /* no CA or host name check */
	const char *client_cert, *client_key;  /* NULL: none; key defaults to cert */
	bool tls_from_scheme;      /* implicit TLS because of smtps://, for the hint */
};

/* getaddrinfo(name, NULL, hints, res) within timeout_s seconds (0: the
 * default 60), for names looked up outside conn_open (the EHLO name):
 * net_getaddrinfo, named here for the engine. Returns getaddrinfo's
 * codes, EAI_AGAIN when the time ran out; the caller frees *res with
 * freeaddrinfo. */
struct addrinfo;
int conn_getaddrinfo(const char *name, const struct addrinfo *hints,
		     struct addrinfo **res, unsigned timeout_s);

/* Resolves p->host (p->family), connects to each address in turn (via
 * p->proxy_host when set), bounded as the timeouts above say.
 * Returns 0 and *out, or -1 with ERR_NOHOST (name does not resolve, also
 * a name under .invalid when the resolver cannot be reached),
 * ERR_UNAVAILABLE (refused/unreachable, proxy refused), ERR_TEMPFAIL
 * (timed out, resolver did not answer), ERR_PROTOCOL (malformed SOCKS5
 * reply), ERR_OSERR. With a proxy, the proxy's name is resolved here with
 * any address family and the server's name is passed to the proxy to
 * resolve (-4/-6 then have no effect). The caller frees *out with
 * conn_close. */
int conn_open(struct conn **out, const struct conn_params *p, struct error *err);

/* TLS handshake on the open connection (implicit TLS or after a 220 to
 * STARTTLS): TLS 1.2 minimum, SNI (not for address literals), certificate
 * verified against the system store or p->ca_file and the host name
 * unless p->insecure, client certificate when given (p->client_key
 * defaults to p->client_cert). The CA file and client certificate are
 * loaded once per process, the system store too (only when a check needs
 * it): every later handshake must name the same files (else ERR_SOFTWARE).
 * Pin (msmtp's rule): with p->have_fingerprint the SHA-256 of the leaf
 * certificate (DER) must match, and a match is trust enough - the CA and
 * host name are not checked, so a self-signed certificate works with
 * --fingerprint alone. A mismatch is ERR_CERT even with p->insecure.
 * The handshake is implicit TLS when no plaintext byte has been sent or
 * received on the connection yet, STARTTLS otherwise. After STARTTLS it
 * fails with ERR_PROTOCOL if any plaintext byte is buffered or already
 * waiting on the socket (injection), or if the server answers the
 * handshake in plaintext; with implicit TLS a plaintext answer is
 * ERR_TLS_MISMATCH (hint: use --tls=starttls). ERR_CERT for a rejected
 * certificate (subject, validity, issuer and reason in the text; a hint
 * with the fingerprint to pin), ERR_CONFIG for an unreadable --ca-file or
 * client certificate, ERR_TEMPFAIL on timeout, ERR_TLS otherwise.
 * conn_tls_info is filled as far as the handshake got, also on failure
 * and with p->insecure. The handshake, and every wait after it, is
 * bounded by p->timeout. */
int conn_start_tls(struct conn *c, const struct conn_params *p, struct error *err);

/* Reads one line without its CRLF (a bare LF also ends it; a lone CR is
 * kept, as are NUL bytes: the reply parser refuses them) into an internal
 * buffer valid until the next read or write; *line is NUL-terminated at
 * *len. Lines longer than CONN_MAX_LINE fail with ERR_PROTOCOL as soon as
 * that is certain (memory stays bounded). Returns 0, or -1 with
 * ERR_TEMPFAIL (timeout, connection closed or reset, also mid-line) or
 * ERR_TLS (TLS error after the handshake). */
#define CONN_MAX_LINE 4096
int conn_read_line(struct conn *c, const char **line, size_t *len, struct error *err);

/* Starts a step: the lines read from now on, until the next call, must
 * all arrive within one timeout from now (see the timeouts above). */
void conn_start_step(struct conn *c);

/* Bytes already received but not yet read as lines (with TLS: also
 * decrypted bytes GnuTLS holds). */
size_t conn_pending(const struct conn *c);

/* Waits up to ms milliseconds (< 0: no limit) for data to read, plaintext
 * or TLS. Returns 1 readable (also at end of stream or on an error that
 * the next read reports), 0 timeout, -1 error (err filled). */
int conn_wait_readable(struct conn *c, int ms, struct error *err);

/* Queues bytes (64 KiB buffer; bigger writes go straight out in full
 * 16 KiB TLS records); they are sent when the buffer fills or on
 * conn_flush. Never raises SIGPIPE. Returns 0 or -1 (ERR_TEMPFAIL:
 * timeout, connection lost; ERR_TLS). Unflushed data is dropped by
 * conn_close. */
int conn_write(struct conn *c, const void *buf, size_t len, struct error *err);
int conn_flush(struct conn *c, struct error *err);

/* True when the first bytes the server sent during a TLS handshake
 * (successful or not) began a TLS record: a handshake (0x16) or alert
 * (0x15) record of version 3.x. That, and nothing else (silence, a
 * closed connection, plaintext), proves that the server speaks TLS. */
bool conn_tls_answered(const struct conn *c);

/* True when the connection goes straight (no proxy) to a loopback
 * address. Decided by the address actually connected to, never by the
 * spelling of the name ("127.mail.example.com" is not loopback); through
 * a proxy always false, since the hop to the proxy says nothing about
 * where the server is. */
bool conn_is_loopback(const struct conn *c);

/* True once conn_start_tls succeeded. */
bool conn_is_tls(const struct conn *c);

/* What the TLS layer learnt (all empty before conn_start_tls). Valid
 * until conn_close. */
const struct tls_info *conn_tls_info(const struct conn *c);

/* Channel binding data for SCRAM-*-PLUS ("tls-exporter" for TLS 1.3,
 * "tls-unique" before), base64, malloc'd (the caller frees); NULL when
 * not available.
 * *type gets the binding name. */
char *conn_channel_binding(struct conn *c, const char **type);

/* The peer as text, for messages: "mail.example.com (192.0.2.1) port 587",
 * "192.0.2.1 port 587" for an address literal, "HOST port N via socks5
 * proxy P (ADDR) port M" through a proxy. Valid until conn_close. */
const char *conn_peer(const struct conn *c);

/* Closes the connection (TLS close_notify, waiting at most 2 s) and frees
 * it, wiping its buffers. NULL ok. */
void conn_close(struct conn *c);

#endif
