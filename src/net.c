/* net.c - reaching the server: name resolution (bounded), TCP connect
 * to each address in turn, SOCKS5; and the waits and failure sentences
 * the other transport layers (io.c, tls.c) share.
 *
 * Every socket is non-blocking and every wait goes through poll with a
 * bound (see conn.h for the timeout rules). Each failure fills the
 * caller's struct error once, naming host, address, port and what
 * happened.
 */
#include "net.h"
#include "clock.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ---- time and waiting ---- */

int net_remaining_ms(int64_t deadline)
{
	int64_t left = deadline - clock_ms();

	return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

int net_timeout_ms(unsigned timeout_s)
{
	return timeout_s == 0 ? NET_DEFAULT_TIMEOUT_S * 1000 :
	       timeout_s > INT32_MAX / 1000 ? INT32_MAX : (int)timeout_s * 1000;
}

/* Waits for events on fd until deadline. Returns 1 ready (errors and
 * hang-ups count: the next I/O call reports them), 0 timeout, -1 poll
 * failed. A signal only restarts the wait; the deadline stays. */
int net_wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, net_remaining_ms(deadline));

		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* strerror with a lower-case first letter, to fit inside a sentence. */
const char *net_strerror(int e, char *buf, size_t size)
{
	snprintf(buf, size, "%s", strerror(e));
	buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

int net_poll_failed(struct error *err)
{
	char why[96];

	return err_set(err, ERR_OSERR, "cannot wait for the network: %s",
		       net_strerror(errno, why, sizeof why));
}

int net_timed_out(const char *peer, int timeout_ms, const char *doing, struct error *err)
{
	return err_set(err, ERR_TEMPFAIL, "timed out after %d s %s %s",
		       timeout_ms / 1000, doing, peer);
}

int net_lost(const char *peer, int e, const char *doing, struct error *err)
{
	char why[96];

	return err_set(err, ERR_TEMPFAIL, "connection to %s lost %s: %s", peer,
		       doing, net_strerror(e, why, sizeof why));
}

/* ---- name resolution and TCP connect ---- */

bool net_is_ip_literal(const char *host)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST }, *res = NULL;

	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return false;
	freeaddrinfo(res);
	return true;
}

/* RFC 6761: names under .invalid never resolve, so a resolver that cannot
 * be reached (EAI_AGAIN) still gives a definite answer for them. */
static bool is_invalid_tld(const char *host)
{
	size_t n = strlen(host);

	if (n > 0 && host[n - 1] == '.')
		n--;
	return (n == 7 && strncasecmp(host, "invalid", 7) == 0) ||
	       (n > 8 && strncasecmp(host + n - 8, ".invalid", 8) == 0);
}

static bool no_such_name(int rc)
{
	switch (rc) {
	case EAI_NONAME:
	case EAI_FAIL:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY:
#endif
		return true;
	default:
		return false;
	}
}

static int resolve_failed(int rc, const char *what, const char *host,
			  int family, struct error *err)
{
	const char *fam = family == AF_INET ? " to an IPv4 address" :
			  family == AF_INET6 ? " to an IPv6 address" : "";

	if (no_such_name(rc) || (rc == EAI_AGAIN && is_invalid_tld(host)))
		return err_set(err, ERR_NOHOST, "%s%s does not resolve%s",
			       what[0] ? what : "host ", host, fam);
	if (rc == EAI_AGAIN) {
		err_set(err, ERR_TEMPFAIL, "cannot resolve %s%s: the name server "
			"did not answer", what, host);
		err_hint(err, "check the network and DNS settings, or try again later");
		return -1;
	}
	if (rc == EAI_MEMORY)
		return err_set(err, ERR_OSERR, "out of memory resolving %s", host);
	if (rc == EAI_SYSTEM) {
		char why[96];

		return err_set(err, ERR_OSERR, "cannot resolve %s%s: %s", what, host,
			       net_strerror(errno, why, sizeof why));
	}
	return err_set(err, ERR_NOHOST, "cannot resolve %s%s: %s", what, host,
		       gai_strerror(rc));
}

/* One lookup handed to glibc's resolver thread (getaddrinfo_a). It owns
 * copies of everything the thread reads, because a lookup that misses its
 * deadline and cannot be cancelled is abandoned to the thread: leaked on
 * purpose, never freed under it. */
struct lookup {
	struct gaicb cb;
	struct addrinfo hints;
	char service[8];
	char name[];
};

/* Waits for l until deadline. Returns its result code, or EAI_INPROGRESS
 * when it is still running at the deadline. */
static int lookup_wait(struct lookup *l, int64_t deadline)
{
	const struct gaicb *list[1] = { &l->cb };

	while (gai_error(&l->cb) == EAI_INPROGRESS) {
		int left = net_remaining_ms(deadline);
		struct timespec ts = { left / 1000, (long)(left % 1000) * 1000000 };

		if (left == 0)
			break;
		gai_suspend(list, 1, &ts);
	}
	return gai_error(&l->cb);
}

/* getaddrinfo bounded by deadline (conn.h: resolution is one step);
 * service may be NULL. When
 * no resolver thread can be started (out of memory, a tight address
 * space limit) it falls back to the plain, unbounded call. Returns
 * getaddrinfo's codes; EAI_AGAIN with *late set when the deadline passed. */
static int lookup(const char *name, const char *service, const struct addrinfo *hints,
		  struct addrinfo **res, int64_t deadline, bool *late)
{
	size_t n = strlen(name) + 1;
	struct lookup *l = calloc(1, sizeof *l + n);
	struct gaicb *list[1];
	int rc;

	*late = false;
	if (net_is_ip_literal(name) || !l) {
		/* An address needs no resolver: no thread, no wait. */
		free(l);
		return getaddrinfo(name, service, hints, res);
	}
	/* The resolver thread would get a malloc arena of its own, which
	 * reserves tens of MB of address space: under a tight ulimit -v that
	 * alone would make envoi run out of memory. One arena is plenty. */
	mallopt(M_ARENA_MAX, 1);
	memcpy(l->name, name, n);
	snprintf(l->service, sizeof l->service, "%s", service ? service : "");
	l->hints = *hints;
	l->cb = (struct gaicb){ .ar_name = l->name, .ar_service = service ? l->service : NULL,
				.ar_request = &l->hints };
	list[0] = &l->cb;
	if (getaddrinfo_a(GAI_NOWAIT, list, 1, NULL) != 0) {
		free(l);
		return getaddrinfo(name, service, hints, res);
	}
	rc = lookup_wait(l, deadline);
	if (rc == EAI_INPROGRESS && gai_cancel(&l->cb) != EAI_ALLDONE) {
		*late = true;
		if (gai_error(&l->cb) == EAI_CANCELED)
			free(l);
		return EAI_AGAIN;
	}
	rc = gai_error(&l->cb);
	*res = l->cb.ar_result;
	free(l);
	return rc;
}

int net_getaddrinfo(const char *name, const struct addrinfo *hints,
		     struct addrinfo **res, unsigned timeout_s)
{
	bool late;

	return lookup(name, NULL, hints, res, clock_ms() + net_timeout_ms(timeout_s), &late);
}

/* AI_ADDRCONFIG skips address families this machine cannot reach, but on
 * a machine whose only interface is loopback it hides every address, even
 * localhost's: retry without it before calling the name unresolvable.
 * Both tries together get one timeout. */
static int resolve(int timeout_ms, const char *what, const char *host,
		   unsigned port, int family, struct addrinfo **res, struct error *err)
{
	struct addrinfo hints = {
		.ai_family = family,
		.ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP,
		.ai_flags = AI_ADDRCONFIG,
	};
	int64_t deadline = clock_ms() + timeout_ms;
	char service[8];
	bool late;
	int rc;

	snprintf(service, sizeof service, "%u", port);
	rc = lookup(host, service, &hints, res, deadline, &late);
	if (rc != 0 && no_such_name(rc)) {
		hints.ai_flags = 0;
		rc = lookup(host, service, &hints, res, deadline, &late);
	}
	if (rc == 0)
		return 0;
	if (late && !is_invalid_tld(host)) {
		err_set(err, ERR_TEMPFAIL, "cannot resolve %s%s: no answer within %d s",
			what, host, timeout_ms / 1000);
		err_hint(err, "check the network and DNS settings, or try again later");
		return -1;
	}
	return resolve_failed(rc, what, host, family, err);
}

static void addr_text(const struct sockaddr *sa, char *buf, size_t size)
{
	if (getnameinfo(sa, sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
			sizeof(struct sockaddr_in), buf, (socklen_t)size, NULL, 0,
			NI_NUMERICHOST) != 0)
		snprintf(buf, size, "?");
}

/* One non-blocking connect bounded by timeout_ms. Returns the socket, or
 * -1 with *e set to the errno that explains the failure. */
static int connect_one(const struct addrinfo *ai, int timeout_ms, int *e)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			ai->ai_protocol);
	socklen_t len = sizeof *e;
	int w;

	if (fd < 0) {
		*e = errno;
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR) {
		*e = errno;
		close(fd);
		return -1;
	}
	w = net_wait_fd(fd, POLLOUT, clock_ms() + timeout_ms);
	if (w <= 0)
		*e = w == 0 ? ETIMEDOUT : errno;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, e, &len) < 0)
		*e = errno;
	if (w > 0 && *e == 0)
		return fd;
	close(fd);
	return -1;
}

static int connect_failed(int timeout_ms, const char *what, const char *name,
			  unsigned port, const char *addr, int tried, int e,
			  int family, struct error *err)
{
	char why[96], shown[INET6_ADDRSTRLEN + 4] = "", more[40] = "";

	if (strcmp(name, addr) != 0)
		snprintf(shown, sizeof shown, " (%s)", addr);
	if (tried > 1)
		snprintf(more, sizeof more, " (last of %d addresses)", tried);
	if (e == ETIMEDOUT)
		snprintf(why, sizeof why, "timed out after %d s", timeout_ms / 1000);
	else
		net_strerror(e, why, sizeof why);
	err_set(err, e == ETIMEDOUT ? ERR_TEMPFAIL : ERR_UNAVAILABLE,
		"cannot connect to %s%s%s port %u: %s%s", what, name, shown, port,
		why, more);
	if (e == ETIMEDOUT && port == 25)
		err_hint(err, "many networks block outgoing port 25: try port 587");
	else if (family == AF_INET6 && (e == ENETUNREACH || e == EADDRNOTAVAIL))
		err_hint(err, "this machine has no IPv6 route: try -4");
	return -1;
}

/* How long one address may take out of what is left of the step: an even
 * share, so that one silent address cannot starve the others, but at
 * least 1 s (or all that is left), enough for a distant server. */
static int share_ms(int64_t deadline, int left_addrs)
{
	int left = net_remaining_ms(deadline);
	int share = left / (left_addrs > 0 ? left_addrs : 1);

	return share >= 1000 ? share : left < 1000 ? left : 1000;
}

static int count_addrs(const struct addrinfo *ai)
{
	int n = 0;

	for (; ai; ai = ai->ai_next)
		n++;
	return n;
}

/* Resolves name (one timeout), then tries every address in turn, all of
 * them together within one more; the error names the last one tried. */
static int connect_any(struct net_link *c, int timeout_ms, const char *what,
		       const char *name, unsigned port, int family, struct error *err)
{
	struct addrinfo *res, *ai;
	int e = 0, tried = 0, last_family = AF_UNSPEC, total;
	int64_t deadline;

	if (resolve(timeout_ms, what, name, port, family, &res, err) < 0)
		return -1;
	deadline = clock_ms() + timeout_ms;
	total = count_addrs(res);
	for (ai = res; ai && (tried == 0 || net_remaining_ms(deadline) > 0); ai = ai->ai_next) {
		addr_text(ai->ai_addr, c->addr, sizeof c->addr);
		last_family = ai->ai_family;
		c->fd = connect_one(ai, share_ms(deadline, total - tried), &e);
		tried++;
		if (c->fd >= 0) {
			if (ai->ai_addrlen <= sizeof c->sa)
				memcpy(&c->sa, ai->ai_addr, ai->ai_addrlen);
			break;
		}
	}
	freeaddrinfo(res);
	if (c->fd >= 0)
		return 0;
	if (tried == 0)
		return err_set(err, ERR_NOHOST, "%s%s does not resolve",
			       what[0] ? what : "host ", name);
	connect_failed(timeout_ms, what, name, port, c->addr, tried, e, last_family, err);
	if (tried < total) {
		size_t n = strlen(err->text);

		snprintf(err->text + n, sizeof err->text - n, "; %d more address%s not "
			 "tried: the timeout ran out", total - tried, total - tried == 1 ? "" : "es");
	}
	return -1;
}

/* ---- SOCKS5 (RFC 1928), no authentication ---- */

/* Sends or receives exactly len bytes before deadline. The proxy's reply
 * is read byte-exact so that no byte of the SMTP greeting is swallowed. */
static int socks_io(const struct net_link *c, const struct net_target *t, unsigned char *buf,
		    size_t len, bool out, int64_t deadline, struct error *err)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = out ? send(c->fd, buf + done, len - done, MSG_NOSIGNAL) :
				  recv(c->fd, buf + done, len - done, 0);
		int w;

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0)
			return err_set(err, ERR_UNAVAILABLE, "socks5 proxy %s closed "
				       "the connection during the handshake", c->peer);
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return net_lost(c->peer, errno, "during the socks5 handshake", err);
		w = net_wait_fd(c->fd, out ? POLLOUT : POLLIN, deadline);
		if (w == 0)
			return net_timed_out(c->peer, t->timeout_ms,
					     "in the socks5 handshake with proxy", err);
		if (w < 0)
			return net_poll_failed(err);
	}
	return 0;
}

static int socks_bad_reply(const struct net_link *c, struct error *err)
{
	return err_set(err, ERR_PROTOCOL, "socks5 proxy %s sent a malformed reply",
		       c->peer);
}

static int socks_refused(const struct net_link *c, const struct net_target *s,
			 unsigned rep, struct error *err)
{
	static const char *const why[] = {
		NULL, "general failure", "not allowed by its rules",
		"network unreachable", "host unreachable", "connection refused",
		"TTL expired", "command not supported", "address type not supported",
	};

	if (rep >= sizeof why / sizeof why[0])
		return socks_bad_reply(c, err);
	return err_set(err, rep == 6 ? ERR_TEMPFAIL : ERR_UNAVAILABLE,
		       "socks5 proxy %s cannot connect to %s port %u: %s", c->peer,
		       s->host, s->port, why[rep]);
}

/* Builds the CONNECT request. A name goes as a name (ATYP 3) so that the
 * proxy resolves it: the client may have no DNS of its own. Returns the
 * length, 0 when the name is too long for the protocol. */
static size_t socks_request(unsigned char *buf, const char *host, unsigned port)
{
	size_t n = 4, hlen = strlen(host);

	memcpy(buf, "\x05\x01\x00", 3);
	if (inet_pton(AF_INET, host, buf + 4) == 1) {
		buf[3] = 1;
		n += 4;
	} else if (inet_pton(AF_INET6, host, buf + 4) == 1) {
		buf[3] = 4;
		n += 16;
	} else {
		if (hlen == 0 || hlen > 255)
			return 0;
		buf[3] = 3;
		buf[4] = (unsigned char)hlen;
		memcpy(buf + 5, host, hlen);
		n += 1 + hlen;
	}
	buf[n++] = (unsigned char)(port >> 8);
	buf[n++] = (unsigned char)(port & 0xff);
	return n;
}

static int socks5_connect(const struct net_link *c, const struct net_target *s, struct error *err)
{
	int64_t deadline = clock_ms() + s->timeout_ms;
	unsigned char buf[4 + 1 + 255 + 2];
	size_t n, skip;

	memcpy(buf, "\x05\x01\x00", 3);
	if (socks_io(c, s, buf, 3, true, deadline, err) < 0 ||
	    socks_io(c, s, buf, 2, false, deadline, err) < 0)
		return -1;
	if (buf[0] == 5 && buf[1] == 0xff) {
		err_set(err, ERR_UNAVAILABLE, "socks5 proxy %s requires "
			"authentication", c->peer);
		err_hint(err, "envoi supports only SOCKS5 proxies without authentication");
		return -1;
	}
	if (buf[0] != 5 || buf[1] != 0)
		return socks_bad_reply(c, err);
	n = socks_request(buf, s->host, s->port);
	if (n == 0)
		return err_set(err, ERR_NOHOST, "host name %s is too long", s->host);
	if (socks_io(c, s, buf, n, true, deadline, err) < 0 ||
	    socks_io(c, s, buf, 4, false, deadline, err) < 0)
		return -1;
	if (buf[0] != 5 || buf[2] != 0)
		return socks_bad_reply(c, err);
	if (buf[1] != 0)
		return socks_refused(c, s, buf[1], err);
	/* The bound address that follows is of no use; read it to its end. */
	if (buf[3] == 1) {
		skip = 4 + 2;
	} else if (buf[3] == 4) {
		skip = 16 + 2;
	} else if (buf[3] == 3) {
		if (socks_io(c, s, buf, 1, false, deadline, err) < 0)
			return -1;
		skip = buf[0] + 2u;
	} else {
		return socks_bad_reply(c, err);
	}
	return socks_io(c, s, buf, skip, false, deadline, err);
}

/* ---- opening ---- */

static int open_direct(struct net_link *c, const struct net_target *t, struct error *err)
{
	if (connect_any(c, t->timeout_ms, "", t->host, t->port, t->family, err) < 0)
		return -1;
	if (strcmp(t->host, c->addr) == 0)
		snprintf(c->peer, sizeof c->peer, "%.255s port %u", t->host, t->port);
	else
		snprintf(c->peer, sizeof c->peer, "%.255s (%s) port %u", t->host,
			 c->addr, t->port);
	return 0;
}

/* The proxy is reached with any address family: -4/-6 choose how the
 * server is reached, and only the proxy can honour that (it resolves). */
static int open_proxy(struct net_link *c, const struct net_target *t, struct error *err)
{
	char proxy[300];

	c->proxied = true;
	if (connect_any(c, t->timeout_ms, "socks5 proxy ", t->proxy_host, t->proxy_port,
			AF_UNSPEC, err) < 0)
		return -1;
	if (strcmp(t->proxy_host, c->addr) == 0)
		snprintf(proxy, sizeof proxy, "%s port %u", c->addr, t->proxy_port);
	else
		snprintf(proxy, sizeof proxy, "%s (%s) port %u", t->proxy_host,
			 c->addr, t->proxy_port);
	snprintf(c->peer, sizeof c->peer, "%s", proxy);
	if (socks5_connect(c, t, err) < 0)
		return -1;
	snprintf(c->peer, sizeof c->peer, "%.255s port %u via socks5 proxy %s",
		 t->host, t->port, proxy);
	return 0;
}

int net_open(struct net_link *out, const struct net_target *t, struct error *err)
{
	int one = 1;

	memset(out, 0, sizeof *out);
	out->fd = -1;
	snprintf(out->peer, sizeof out->peer, "%.255s port %u", t->host, t->port);
	if ((t->proxy_host ? open_proxy(out, t, err) : open_direct(out, t, err)) < 0) {
		if (out->fd >= 0)
			close(out->fd);
		out->fd = -1;
		return -1;
	}
	/* envoi batches its own writes; Nagle would only delay each batch. */
	setsockopt(out->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return 0;
}

bool net_addr_is_loopback(const struct sockaddr *sa)
{
	static const unsigned char mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		const unsigned char *b = in6->sin6_addr.s6_addr;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
		       (memcmp(b, mapped, sizeof mapped) == 0 && b[12] == 127);
	}
	return false;
}

