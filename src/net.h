/* net.h - reaching the server: name resolution, TCP connect (direct or
 * through a SOCKS5 proxy) to a connected non-blocking descriptor; and the
 * bounded waits and failure sentences the other transport layers (io.h,
 * tls.h) share. Never prints, never exits; every failure fills err once.
 * The timeout rules are conn.h's.
 */
#ifndef ENVOI_NET_H
#define ENVOI_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "error.h"

#define NET_DEFAULT_TIMEOUT_S 60

/* Where to connect. Strings are borrowed for the call. */
struct net_target {
	const char *host;          /* name or address literal (no brackets) */
	unsigned port;
	int family;                /* AF_UNSPEC, AF_INET or AF_INET6 */
	const char *proxy_host;    /* SOCKS5 proxy; NULL = direct */
	unsigned proxy_port;
	int timeout_ms;            /* one step (see conn.h) */
};

/* What net_open produced. The caller owns fd (closes it). */
struct net_link {
	int fd;                         /* -1 when not connected */
	bool proxied;
	char addr[INET6_ADDRSTRLEN];    /* address connected to (the proxy's with one) */
	struct sockaddr_storage sa;     /* the same, as a socket address */
	char peer[640];                 /* "HOST (ADDR) port N [via socks5 proxy ...]" */
};

/* Resolves t->host (t->family), connects to each address in turn (via
 * t->proxy_host when set: the proxy's name is resolved here with any
 * family and the server's name passed to the proxy). TCP_NODELAY is set.
 * Returns 0 with *out filled, or -1 with out->fd == -1 and ERR_NOHOST
 * (name does not resolve, also a name under .invalid when the resolver
 * cannot be reached), ERR_UNAVAILABLE (refused/unreachable, proxy
 * refused), ERR_TEMPFAIL (timed out, resolver did not answer),
 * ERR_PROTOCOL (malformed SOCKS5 reply), ERR_OSERR. */
int net_open(struct net_link *out, const struct net_target *t, struct error *err);

/* getaddrinfo(name, NULL, hints, res) within timeout_s seconds (0: the
 * default 60), through glibc's getaddrinfo_a (unbounded only when no
 * resolver thread can be started). Returns getaddrinfo's codes,
 * EAI_AGAIN when the time ran out; the caller frees *res with
 * freeaddrinfo. */
struct addrinfo;
int net_getaddrinfo(const char *name, const struct addrinfo *hints,
		    struct addrinfo **res, unsigned timeout_s);

/* True when sa is a loopback address: 127.0.0.0/8, ::1, or ::ffff:127.x
 * (IPv4-mapped). NULL is not. */
bool net_addr_is_loopback(const struct sockaddr *sa);

/* True when host is a numeric IPv4 or IPv6 address. */
bool net_is_ip_literal(const char *host);

/* Timeout in seconds (0: the default) as milliseconds, capped at INT32_MAX. */
int net_timeout_ms(unsigned timeout_s);

/* Milliseconds left until deadline (clock.h), 0 when past. */
int net_remaining_ms(int64_t deadline);

/* Waits for events on fd until deadline. Returns 1 ready (errors and
 * hang-ups count: the next I/O call reports them), 0 timeout, -1 poll
 * failed (errno set). A signal only restarts the wait. */
int net_wait_fd(int fd, short events, int64_t deadline);

/* strerror(e) with a lower-case first letter, in the caller's buf.
 * Returns buf. */
const char *net_strerror(int e, char *buf, size_t size);

/* Failure sentences shared by the layers; each fills err and returns -1.
 * net_poll_failed: poll itself failed (errno), ERR_OSERR.
 * net_timed_out: "timed out after N s DOING PEER", ERR_TEMPFAIL.
 * net_lost: "connection to PEER lost DOING: strerror(e)", ERR_TEMPFAIL. */
int net_poll_failed(struct error *err);
int net_timed_out(const char *peer, int timeout_ms, const char *doing, struct error *err);
int net_lost(const char *peer, int e, const char *doing, struct error *err);

#endif
