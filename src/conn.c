/* conn.c - the connection the SMTP engine sees (conn.h): ties together
 * the descriptor net.c opened, the line reader/writer of io.c and, once
 * started, the TLS session of tls.c. What belongs to the connection as a
 * whole lives here: when TLS may start (nothing unsent, no injected
 * bytes), whether the peer is loopback, the smtps:// hint.
 */
#include "conn.h"
#include "io.h"
#include "net.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

_Static_assert(CONN_MAX_LINE == IO_MAX_LINE, "conn.h promises io.h's line limit");

struct conn {
	struct net_link link;         /* fd, address, peer text */
	unsigned port;
	int timeout_ms;
	struct io *io;
	struct tls *tls;              /* NULL until conn_start_tls got a session */
};

int conn_getaddrinfo(const char *name, const struct addrinfo *hints,
		     struct addrinfo **res, unsigned timeout_s)
{
	return net_getaddrinfo(name, hints, res, timeout_s);
}

int conn_open(struct conn **out, const struct conn_params *p, struct error *err)
{
	struct conn *c = calloc(1, sizeof *c);
	struct net_target t = {
		.host = p->host, .port = p->port, .family = p->family,
		.proxy_host = p->proxy_host, .proxy_port = p->proxy_port,
		.timeout_ms = net_timeout_ms(p->timeout),
	};

	*out = NULL;
	if (!c)
		return err_set(err, ERR_OSERR, "out of memory");
	c->port = p->port;
	c->timeout_ms = t.timeout_ms;
	if (net_open(&c->link, &t, err) < 0 ||
	    io_new(&c->io, c->link.fd, c->link.peer, c->timeout_ms, err) < 0) {
		conn_close(c);
		return -1;
	}
	*out = c;
	return 0;
}

static size_t trim_eol(const char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	return n;
}

/* After STARTTLS nothing may precede the server's TLS records: bytes
 * received in plaintext after the 220 were injected by someone on the path
 * (CVE-2011-0411 class) and would otherwise be read as if encrypted. */
static int check_injection(struct conn *c, struct error *err)
{
	char peek[256];
	const char *data;
	size_t buffered = io_unread(c->io, &data);
	ssize_t n = buffered > 0 ? 0 :
		    recv(c->link.fd, peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT);

	if (buffered == 0 && n <= 0)
		return 0;
	err_set(err, ERR_PROTOCOL, "server %s sent data before the TLS handshake "
		"(STARTTLS injection)", c->link.peer);
	if (buffered > 0)
		err_reply(err, data, trim_eol(data, buffered));
	else
		err_reply(err, peek, trim_eol(peek, (size_t)n));
	return -1;
}

/* With smtps:// the hint "--tls=starttls" would be a usage error (the
 * scheme already says implicit TLS): name the URL that works instead. */
static void scheme_hint(const struct conn *c, const struct conn_params *p, struct error *err)
{
	bool v6 = strchr(p->host, ':') != NULL;

	if (err->cls == ERR_TLS_MISMATCH && p->tls_from_scheme && err->hint[0])
		err_hint(err, "port %u speaks plaintext SMTP: use smtp://%s%s%s:%u for STARTTLS, "
			 "not smtps://", c->port, v6 ? "[" : "", p->host, v6 ? "]" : "", c->port);
}

static struct tls_params tls_params_of(const struct conn_params *p)
{
	struct tls_params tp = {
		.ca_file = p->ca_file, .have_fingerprint = p->have_fingerprint,
		.insecure = p->insecure, .client_cert = p->client_cert,
		.client_key = p->client_key,
	};

	memcpy(tp.fingerprint, p->fingerprint, sizeof tp.fingerprint);
	return tp;
}

int conn_start_tls(struct conn *c, const struct conn_params *p, struct error *err)
{
	bool implicit = io_plain_bytes(c->io) == 0;
	struct tls_params tp = tls_params_of(p);
	struct tls_peer peer = {
		.fd = c->link.fd, .host = p->host, .port = c->port, .peer = c->link.peer,
		.implicit = implicit,
	};

	if (c->tls)
		return err_set(err, ERR_SOFTWARE, "TLS started twice on %s", c->link.peer);
	if (io_unsent(c->io) > 0)
		return err_set(err, ERR_SOFTWARE, "unsent data before the TLS "
			       "handshake with %s", c->link.peer);
	if (!implicit && check_injection(c, err) < 0)
		return -1;
	/* p may bound the handshake differently (the short TLS probe). */
	c->timeout_ms = peer.timeout_ms = net_timeout_ms(p->timeout);
	io_set_timeout(c->io, c->timeout_ms);
	if (tls_start(&c->tls, &peer, &tp, err) < 0) {
		scheme_hint(c, p, err);
		return -1;
	}
	io_use_tls(c->io, c->tls);
	return 0;
}

int conn_read_line(struct conn *c, const char **line, size_t *len, struct error *err)
{
	return io_read_line(c->io, line, len, err);
}

void conn_start_step(struct conn *c)
{
	io_start_step(c->io);
}

size_t conn_pending(const struct conn *c)
{
	return io_pending(c->io);
}

int conn_wait_readable(struct conn *c, int ms, struct error *err)
{
	return io_wait_readable(c->io, ms, err);
}

int conn_write(struct conn *c, const void *buf, size_t len, struct error *err)
{
	return io_write(c->io, buf, len, err);
}

int conn_flush(struct conn *c, struct error *err)
{
	return io_flush(c->io, err);
}

bool conn_is_loopback(const struct conn *c)
{
	return !c->link.proxied && net_addr_is_loopback((const struct sockaddr *)&c->link.sa);
}

bool conn_tls_answered(const struct conn *c)
{
	return tls_answered(c->tls);
}

bool conn_is_tls(const struct conn *c)
{
	return tls_is_up(c->tls);
}

const struct tls_info *conn_tls_info(const struct conn *c)
{
	static const struct tls_info none;

	return c->tls ? tls_get_info(c->tls) : &none;
}

char *conn_channel_binding(struct conn *c, const char **type)
{
	if (type)
		*type = NULL;
	return c->tls ? tls_channel_binding(c->tls, type) : NULL;
}

const char *conn_peer(const struct conn *c)
{
	return c->link.peer;
}

void conn_close(struct conn *c)
{
	if (!c)
		return;
	tls_close(c->tls);
	io_free(c->io);
	if (c->link.fd >= 0)
		close(c->link.fd);
	explicit_bzero(c, sizeof *c);
	free(c);
}
