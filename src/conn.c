/* conn.c - TCP (direct or through SOCKS5) and GnuTLS under the SMTP engine.
 *
 * Every socket is non-blocking and every wait goes through poll with a
 * bound (see conn.h for the timeout rules), so a silent or slow server can
 * never hang envoi. The transport never prints and never exits: each
 * failure fills the caller's struct error once, naming host, address, port
 * and what happened, and the class decides the exit code.
 */
#include "conn.h"
#include "encode.h"
#include "clock.h"
#include "parse.h"
#include "printable.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <malloc.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define RBUF_SIZE 16384          /* > CONN_MAX_LINE + 2: a full line always fits */
#define WBUF_SIZE 65536
#define TLS_CHUNK 16384          /* one full TLS record per send */
#define BYE_TIMEOUT_MS 2000      /* close_notify is a courtesy: do not wait long */
#define DEFAULT_TIMEOUT_S 60
#define FIRST_BYTES 64           /* kept to recognise a plaintext answer to TLS */
#define TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* Why the certificate check in verify_cert() refused (or would refuse). */
enum cert_fail { CERT_OK, CERT_NONE, CERT_PIN, CERT_STATUS, CERT_ERROR };

struct conn {
	int fd;
	int timeout_ms;
	unsigned port;
	char host[256];               /* as given, for messages */
	char tls_name[256];           /* SNI / verification name: no trailing dot */
	bool host_is_ip;
	char addr[INET6_ADDRSTRLEN];
	struct sockaddr_storage sa;   /* the address connected to (the proxy's with one) */
	bool proxied;
	char peer[640];               /* "HOST (ADDR) port N [via ...]" */

	/* Plaintext bytes exchanged before TLS: none means implicit TLS, so a
	 * plaintext answer is a port mismatch rather than an injection. */
	size_t plain_rx, plain_tx;
	int sock_errno;               /* last errno of the TLS transport hooks */

	gnutls_session_t tls;
	gnutls_certificate_credentials_t cred;  /* shared: see load_credentials */
	bool tls_up;
	bool insecure, have_pin;
	unsigned char pin[32];
	enum cert_fail cert_fail;
	bool cert_rejected;           /* verify_cert() ended the handshake */
	unsigned cert_status;         /* gnutls_certificate_status_t bits */
	int cert_error;               /* gnutls error of the verification call */
	bool self_signed;
	char fpr[96];                 /* SHA-256 of the leaf, "AB:CD:..." */
	char names[200];              /* its DNS and IP subject alt names */
	unsigned char first[FIRST_BYTES]; /* first bytes read during the handshake */
	size_t nfirst;
	struct tls_info info;

	int64_t step_deadline;        /* conn_start_step: 0 = a timeout per line */
	size_t rstart, rend;
	size_t wlen;
	char rbuf[RBUF_SIZE];
	char wbuf[WBUF_SIZE];
};

/* ---- time and waiting ---- */

static int remaining_ms(int64_t deadline)
{
	int64_t left = deadline - clock_ms();

	return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

static int timeout_of(unsigned timeout_s)
{
	return timeout_s == 0 ? DEFAULT_TIMEOUT_S * 1000 :
	       timeout_s > INT32_MAX / 1000 ? INT32_MAX : (int)timeout_s * 1000;
}

/* Waits for events on fd until deadline. Returns 1 ready (errors and
 * hang-ups count: the next I/O call reports them), 0 timeout, -1 poll
 * failed. A signal only restarts the wait; the deadline stays. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, remaining_ms(deadline));

		if (n > 0)
			return 1;
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* strerror with a lower-case first letter, to fit inside a sentence. */
static const char *reason(int e, char *buf, size_t size)
{
	snprintf(buf, size, "%s", strerror(e));
	buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

/* gnutls_strerror reworded to fit inside a sentence: lower-case first
 * letter, no final period. The text is valid until the next call. */
static const char *tls_reason(int ret)
{
	static char buf[160];
	size_t n;

	snprintf(buf, sizeof buf, "%s", gnutls_strerror(ret));
	buf[0] = (char)tolower((unsigned char)buf[0]);
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '.')
		buf[n - 1] = '\0';
	return buf;
}

static int poll_failed(struct error *err)
{
	char why[96];

	return err_set(err, ERR_OSERR, "cannot wait for the network: %s",
		       reason(errno, why, sizeof why));
}

static int timed_out(const struct conn *c, const char *doing, struct error *err)
{
	return err_set(err, ERR_TEMPFAIL, "timed out after %d s %s %s",
		       c->timeout_ms / 1000, doing, c->peer);
}

static int lost(const struct conn *c, int e, const char *doing, struct error *err)
{
	char why[96];

	return err_set(err, ERR_TEMPFAIL, "connection to %s lost %s: %s", c->peer,
		       doing, reason(e, why, sizeof why));
}

/* ---- name resolution and TCP connect ---- */

static bool is_ip_literal(const char *host)
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
			       reason(errno, why, sizeof why));
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
		int left = remaining_ms(deadline);
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
	if (is_ip_literal(name) || !l) {
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

int conn_getaddrinfo(const char *name, const struct addrinfo *hints,
		     struct addrinfo **res, unsigned timeout_s)
{
	bool late;

	return lookup(name, NULL, hints, res, clock_ms() + timeout_of(timeout_s), &late);
}

/* AI_ADDRCONFIG skips address families this machine cannot reach, but on
 * a machine whose only interface is loopback it hides every address, even
 * localhost's: retry without it before calling the name unresolvable.
 * Both tries together get one timeout. */
static int resolve(const struct conn *c, const char *what, const char *host,
		   unsigned port, int family, struct addrinfo **res, struct error *err)
{
	struct addrinfo hints = {
		.ai_family = family,
		.ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP,
		.ai_flags = AI_ADDRCONFIG,
	};
	int64_t deadline = clock_ms() + c->timeout_ms;
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
			what, host, c->timeout_ms / 1000);
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
	w = wait_fd(fd, POLLOUT, clock_ms() + timeout_ms);
	if (w <= 0)
		*e = w == 0 ? ETIMEDOUT : errno;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, e, &len) < 0)
		*e = errno;
	if (w > 0 && *e == 0)
		return fd;
	close(fd);
	return -1;
}

static int connect_failed(const struct conn *c, const char *what, const char *name,
			  unsigned port, const char *addr, int tried, int e,
			  int family, struct error *err)
{
	char why[96], shown[INET6_ADDRSTRLEN + 4] = "", more[40] = "";

	if (strcmp(name, addr) != 0)
		snprintf(shown, sizeof shown, " (%s)", addr);
	if (tried > 1)
		snprintf(more, sizeof more, " (last of %d addresses)", tried);
	if (e == ETIMEDOUT)
		snprintf(why, sizeof why, "timed out after %d s", c->timeout_ms / 1000);
	else
		reason(e, why, sizeof why);
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
	int left = remaining_ms(deadline);
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
static int connect_any(struct conn *c, const char *what, const char *name,
		       unsigned port, int family, struct error *err)
{
	struct addrinfo *res, *ai;
	int e = 0, tried = 0, last_family = AF_UNSPEC, total;
	int64_t deadline;

	if (resolve(c, what, name, port, family, &res, err) < 0)
		return -1;
	deadline = clock_ms() + c->timeout_ms;
	total = count_addrs(res);
	for (ai = res; ai && (tried == 0 || remaining_ms(deadline) > 0); ai = ai->ai_next) {
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
	connect_failed(c, what, name, port, c->addr, tried, e, last_family, err);
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
static int socks_io(struct conn *c, unsigned char *buf, size_t len, bool out,
		    int64_t deadline, struct error *err)
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
			return lost(c, errno, "during the socks5 handshake", err);
		w = wait_fd(c->fd, out ? POLLOUT : POLLIN, deadline);
		if (w == 0)
			return timed_out(c, "in the socks5 handshake with proxy", err);
		if (w < 0)
			return poll_failed(err);
	}
	return 0;
}

static int socks_bad_reply(const struct conn *c, struct error *err)
{
	return err_set(err, ERR_PROTOCOL, "socks5 proxy %s sent a malformed reply",
		       c->peer);
}

static int socks_refused(const struct conn *c, const struct conn_params *s,
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

static int socks5_connect(struct conn *c, const struct conn_params *s, struct error *err)
{
	int64_t deadline = clock_ms() + c->timeout_ms;
	unsigned char buf[4 + 1 + 255 + 2];
	size_t n, skip;

	memcpy(buf, "\x05\x01\x00", 3);
	if (socks_io(c, buf, 3, true, deadline, err) < 0 ||
	    socks_io(c, buf, 2, false, deadline, err) < 0)
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
	if (socks_io(c, buf, n, true, deadline, err) < 0 ||
	    socks_io(c, buf, 4, false, deadline, err) < 0)
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
		if (socks_io(c, buf, 1, false, deadline, err) < 0)
			return -1;
		skip = buf[0] + 2u;
	} else {
		return socks_bad_reply(c, err);
	}
	return socks_io(c, buf, skip, false, deadline, err);
}

/* ---- opening ---- */

static void set_names(struct conn *c, const struct conn_params *s)
{
	size_t n;

	c->port = s->port;
	c->timeout_ms = timeout_of(s->timeout);
	snprintf(c->host, sizeof c->host, "%s", s->host);
	snprintf(c->tls_name, sizeof c->tls_name, "%s", s->host);
	n = strlen(c->tls_name);
	if (n > 1 && c->tls_name[n - 1] == '.')
		c->tls_name[n - 1] = '\0';
	c->host_is_ip = is_ip_literal(c->tls_name);
	snprintf(c->peer, sizeof c->peer, "%s port %u", c->host, c->port);
}

static int open_direct(struct conn *c, const struct conn_params *s, struct error *err)
{
	if (connect_any(c, "", s->host, s->port, s->family, err) < 0)
		return -1;
	if (strcmp(c->host, c->addr) == 0)
		snprintf(c->peer, sizeof c->peer, "%s port %u", c->host, c->port);
	else
		snprintf(c->peer, sizeof c->peer, "%s (%s) port %u", c->host,
			 c->addr, c->port);
	return 0;
}

/* The proxy is reached with any address family: -4/-6 choose how the
 * server is reached, and only the proxy can honour that (it resolves). */
static int open_proxy(struct conn *c, const struct conn_params *s, struct error *err)
{
	char proxy[300];

	c->proxied = true;
	if (connect_any(c, "socks5 proxy ", s->proxy_host, s->proxy_port,
			AF_UNSPEC, err) < 0)
		return -1;
	if (strcmp(s->proxy_host, c->addr) == 0)
		snprintf(proxy, sizeof proxy, "%s port %u", c->addr, s->proxy_port);
	else
		snprintf(proxy, sizeof proxy, "%s (%s) port %u", s->proxy_host,
			 c->addr, s->proxy_port);
	snprintf(c->peer, sizeof c->peer, "%s", proxy);
	if (socks5_connect(c, s, err) < 0)
		return -1;
	snprintf(c->peer, sizeof c->peer, "%s port %u via socks5 proxy %s",
		 c->host, c->port, proxy);
	return 0;
}

int conn_open(struct conn **out, const struct conn_params *s, struct error *err)
{
	struct conn *c = calloc(1, sizeof *c);
	int one = 1;

	*out = NULL;
	if (!c)
		return err_set(err, ERR_OSERR, "out of memory");
	c->fd = -1;
	set_names(c, s);
	if ((s->proxy_host ? open_proxy(c, s, err) : open_direct(c, s, err)) < 0) {
		conn_close(c);
		return -1;
	}
	/* envoi batches its own writes; Nagle would only delay each batch. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	*out = c;
	return 0;
}

/* ---- raw I/O, plaintext or TLS ---- */

static ssize_t tls_read_some(struct conn *c, char *buf, size_t len, short *events,
			     struct error *err)
{
	ssize_t n = gnutls_record_recv(c->tls, buf, len);

	if (n >= 0)
		return n;
	*events = 0;
	if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
		*events = gnutls_record_get_direction(c->tls) ? POLLOUT : POLLIN;
		return -2;
	}
	if (n == GNUTLS_E_PREMATURE_TERMINATION)
		return 0;
	if (n == GNUTLS_E_PULL_ERROR)
		return lost(c, c->sock_errno, "while receiving", err);
	if (!gnutls_error_is_fatal((int)n))
		return -2;  /* a warning alert or a renegotiation request we ignore */
	err_set(err, n == GNUTLS_E_MEMORY_ERROR ? ERR_OSERR : ERR_TLS,
		"TLS error receiving from %s: %s", c->peer, tls_reason((int)n));
	if (n == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		gnutls_alert_description_t a = gnutls_alert_get(c->tls);

		if (a == GNUTLS_A_CERTIFICATE_REQUIRED || a == GNUTLS_A_BAD_CERTIFICATE)
			err_hint(err, "the server wants a client certificate: use --client-cert");
	}
	return -1;
}

/* One non-blocking read. Returns bytes (> 0), 0 at end of stream, -1 with
 * err filled, or -2 when it would block (*events: what to poll for; 0 =
 * retry at once, GnuTLS consumed something that was not data). */
static ssize_t read_some(struct conn *c, char *buf, size_t len, short *events,
			 struct error *err)
{
	ssize_t n;

	if (c->tls_up)
		return tls_read_some(c, buf, len, events, err);
	n = recv(c->fd, buf, len, 0);
	if (n >= 0) {
		c->plain_rx += (size_t)n;
		return n;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		*events = POLLIN;
		return -2;
	}
	return lost(c, errno, "while receiving", err);
}

/* Reads more into rbuf before deadline. Returns bytes, 0 at end of stream,
 * -1 with err filled. The deadline is checked even when GnuTLS keeps
 * returning non-data records, so a record flood cannot hold us. */
static ssize_t fill(struct conn *c, int64_t deadline, struct error *err)
{
	for (;;) {
		short ev = 0;
		ssize_t n = read_some(c, c->rbuf + c->rend, RBUF_SIZE - c->rend, &ev, err);
		int w = 1;

		if (n > 0)
			c->rend += (size_t)n;
		if (n >= 0 || n == -1)
			return n;
		if (ev)
			w = wait_fd(c->fd, ev, deadline);
		else if (clock_ms() >= deadline)
			w = 0;
		if (w == 0)
			return timed_out(c, "waiting for", err);
		if (w < 0)
			return poll_failed(err);
	}
}

static int line_too_long(const struct conn *c, struct error *err)
{
	err_set(err, ERR_PROTOCOL, "server %s sent a line longer than %d bytes",
		c->peer, CONN_MAX_LINE);
	err_reply(err, c->rbuf + c->rstart, 80);
	return -1;
}

void conn_start_step(struct conn *c)
{
	c->step_deadline = clock_ms() + c->timeout_ms;
}

int conn_read_line(struct conn *c, const char **line, size_t *len, struct error *err)
{
	int64_t deadline = c->step_deadline ? c->step_deadline : clock_ms() + c->timeout_ms;

	for (;;) {
		char *start = c->rbuf + c->rstart;
		size_t avail = c->rend - c->rstart;
		char *nl = memchr(start, '\n', avail);
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - start);

			if (l > 0 && start[l - 1] == '\r')
				l--;
			if (l > CONN_MAX_LINE)
				return line_too_long(c, err);
			c->rstart += (size_t)(nl - start) + 1;
			start[l] = '\0';
			*line = start;
			*len = l;
			return 0;
		}
		/* Fail as soon as the line cannot be legal: an endless line
		 * costs one buffer, never more. */
		if (avail > CONN_MAX_LINE + 1)
			return line_too_long(c, err);
		if (c->rend == RBUF_SIZE || c->rstart == c->rend) {
			memmove(c->rbuf, start, avail);
			c->rstart = 0;
			c->rend = avail;
		}
		n = fill(c, deadline, err);
		if (n < 0)
			return -1;
		if (n == 0)
			return err_set(err, ERR_TEMPFAIL, "connection closed by %s%s",
				       c->peer, avail ? " in the middle of a line" : "");
	}
}

size_t conn_pending(const struct conn *c)
{
	size_t n = c->rend - c->rstart;

	if (c->tls_up)
		n += gnutls_record_check_pending(c->tls);
	return n;
}

int conn_wait_readable(struct conn *c, int ms, struct error *err)
{
	int w;

	if (conn_pending(c) > 0)
		return 1;
	w = wait_fd(c->fd, POLLIN, ms < 0 ? clock_ms() + INT32_MAX : clock_ms() + ms);
	if (w < 0)
		return poll_failed(err);
	return w;
}

/* One non-blocking write; same returns as read_some (never 0). */
static ssize_t write_some(struct conn *c, const char *buf, size_t len,
			  short *events, struct error *err)
{
	ssize_t n;

	*events = POLLOUT;
	if (c->tls_up) {
		/* After GNUTLS_E_AGAIN the same arguments are passed again, as
		 * GnuTLS requires: the caller retries with buf and len unchanged. */
		n = gnutls_record_send(c->tls, buf, len > TLS_CHUNK ? TLS_CHUNK : len);
		if (n >= 0)
			return n;
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			*events = gnutls_record_get_direction(c->tls) ? POLLOUT : POLLIN;
			return -2;
		}
		if (n == GNUTLS_E_PUSH_ERROR)
			return lost(c, c->sock_errno, "while sending", err);
		return err_set(err, n == GNUTLS_E_MEMORY_ERROR ? ERR_OSERR : ERR_TLS,
			       "TLS error sending to %s: %s", c->peer, tls_reason((int)n));
	}
	n = send(c->fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0) {
		c->plain_tx += (size_t)n;
		return n;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return -2;
	return lost(c, errno, "while sending", err);
}

/* Sends all of buf. The timeout counts from the last progress, so that a
 * large message on a slow link is not cut off while it still moves. */
static int send_all(struct conn *c, const char *buf, size_t len, struct error *err)
{
	while (len > 0) {
		short ev;
		ssize_t n = write_some(c, buf, len, &ev, err);
		int w;

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1)
			return -1;
		w = wait_fd(c->fd, ev, clock_ms() + c->timeout_ms);
		if (w == 0)
			return timed_out(c, "sending to", err);
		if (w < 0)
			return poll_failed(err);
	}
	return 0;
}

int conn_flush(struct conn *c, struct error *err)
{
	int ret = send_all(c, c->wbuf, c->wlen, err);

	/* What was sent may have been an AUTH payload: it must not stay in
	 * memory while envoi waits for the reply. */
	explicit_bzero(c->wbuf, c->wlen);
	c->wlen = 0;
	return ret;
}

int conn_write(struct conn *c, const void *buf, size_t len, struct error *err)
{
	const char *p = buf;

	while (len > 0) {
		size_t n;

		/* Big writes bypass the copy; the buffer is always flushed
		 * full, so every TLS record but the last carries 16 KiB. */
		if (c->wlen == 0 && len >= WBUF_SIZE)
			return send_all(c, p, len, err);
		n = WBUF_SIZE - c->wlen < len ? WBUF_SIZE - c->wlen : len;
		memcpy(c->wbuf + c->wlen, p, n);
		c->wlen += n;
		p += n;
		len -= n;
		if (c->wlen == WBUF_SIZE && conn_flush(c, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- TLS transport hooks ---- */

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const void *buf, size_t len)
{
	struct conn *c = ptr;
	ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);

	if (n < 0) {
		c->sock_errno = errno;
		gnutls_transport_set_errno(c->tls, errno == EWOULDBLOCK ? EAGAIN : errno);
	}
	return n;
}

/* Also keeps the first bytes of the handshake: if they are plaintext the
 * peer is an SMTP server that does not speak TLS on this port. */
static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	struct conn *c = ptr;
	ssize_t n = recv(c->fd, buf, len, 0);

	if (n < 0) {
		c->sock_errno = errno;
		gnutls_transport_set_errno(c->tls, errno == EWOULDBLOCK ? EAGAIN : errno);
		return n;
	}
	if (!c->tls_up && c->nfirst < FIRST_BYTES) {
		size_t k = FIRST_BYTES - c->nfirst < (size_t)n ?
			   FIRST_BYTES - c->nfirst : (size_t)n;

		memcpy(c->first + c->nfirst, buf, k);
		c->nfirst += k;
	}
	return n;
}

static int tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct conn *c = ptr;
	int64_t deadline = ms == GNUTLS_INDEFINITE_TIMEOUT ? clock_ms() + INT32_MAX :
			   clock_ms() + ms;

	return wait_fd(c->fd, POLLIN, deadline);
}

/* ---- certificates ---- */

static void utc_text(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (t == (time_t)-1 || !gmtime_r(&t, &tm) ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "?");
}

/* A certificate's names are the server's to choose (no CA is needed to
 * send one): they are kept only in their shown form (printable.h). */
static void copy_datum(char *dst, size_t size, gnutls_datum_t *d)
{
	printable_copy(dst, size, d->data ? (char *)d->data : "", d->data ? d->size : 0);
	gnutls_free(d->data);
	d->data = NULL;
}

/* Lists the certificate's DNS and IP names, for a host name mismatch. */
static void list_names(struct conn *c, gnutls_x509_crt_t crt)
{
	size_t o = 0;

	for (unsigned seq = 0; seq < 16 && o + 1 < sizeof c->names; seq++) {
		char name[256], text[256];
		size_t size = sizeof name - 1;
		int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, name, &size, NULL);

		if (type < 0 && type != GNUTLS_E_SHORT_MEMORY_BUFFER)
			break;
		if (type == GNUTLS_SAN_DNSNAME) {
			printable_copy(text, sizeof text, name, size);
			snprintf(name, sizeof name, "%s", text);
		} else if (type == GNUTLS_SAN_IPADDRESS && (size == 4 || size == 16)) {
			inet_ntop(size == 4 ? AF_INET : AF_INET6, name, text, sizeof text);
			snprintf(name, sizeof name, "%s", text);
		} else {
			continue;
		}
		o += (size_t)snprintf(c->names + o, sizeof c->names - o, "%s%s",
				      o ? ", " : "", name);
	}
}

/* Fills tls_info and the fingerprint from the leaf certificate. */
static void describe_leaf(struct conn *c, const gnutls_datum_t *der)
{
	unsigned char sha[32];
	size_t size = sizeof sha;
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = { NULL, 0 };

	if (gnutls_fingerprint(GNUTLS_DIG_SHA256, der, sha, &size) == 0 &&
	    size == sizeof sha)
		for (size_t i = 0; i < size; i++)
			snprintf(c->fpr + 3 * i, sizeof c->fpr - 3 * i,
				 i + 1 < size ? "%02X:" : "%02X", sha[i]);
	if (gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) == 0) {
		if (gnutls_x509_crt_get_dn3(crt, &d, 0) == 0)
			copy_datum(c->info.subject, sizeof c->info.subject, &d);
		if (gnutls_x509_crt_get_issuer_dn3(crt, &d, 0) == 0)
			copy_datum(c->info.issuer, sizeof c->info.issuer, &d);
		utc_text(gnutls_x509_crt_get_activation_time(crt), c->info.not_before,
			 sizeof c->info.not_before);
		utc_text(gnutls_x509_crt_get_expiration_time(crt), c->info.not_after,
			 sizeof c->info.not_after);
		c->self_signed = gnutls_x509_crt_check_issuer(crt, crt) == 1;
		list_names(c, crt);
	}
	gnutls_x509_crt_deinit(crt);
}

static bool pin_matches(const struct conn *c, const gnutls_datum_t *der)
{
	unsigned char sha[32];
	size_t size = sizeof sha;

	return gnutls_fingerprint(GNUTLS_DIG_SHA256, der, sha, &size) == 0 &&
	       size == sizeof sha && memcmp(sha, c->pin, sizeof sha) == 0;
}

/* Called by GnuTLS when the server's certificate arrives, so that a bad
 * one ends the handshake before anything else happens. msmtp's rule for
 * pins: a matching pin is trust enough (self-signed certificates work
 * with --fingerprint alone), a mismatch is always fatal, --insecure or not. */
static int verify_cert(gnutls_session_t session)
{
	struct conn *c = gnutls_session_get_ptr(session);
	unsigned n = 0;
	const gnutls_datum_t *certs = gnutls_certificate_get_peers(session, &n);
	int ret;

	if (!certs || n == 0) {
		c->cert_fail = CERT_NONE;
		c->cert_rejected = !c->insecure;
		return c->insecure ? 0 : -1;
	}
	describe_leaf(c, &certs[0]);
	if (c->have_pin) {
		c->cert_fail = pin_matches(c, &certs[0]) ? CERT_OK : CERT_PIN;
		c->info.verified = c->cert_fail == CERT_OK;
		c->cert_rejected = !c->info.verified;
		return c->info.verified ? 0 : -1;
	}
	ret = gnutls_certificate_verify_peers3(session, c->tls_name, &c->cert_status);
	if (ret < 0) {
		c->cert_fail = CERT_ERROR;
		c->cert_error = ret;
	} else if (c->cert_status != 0) {
		c->cert_fail = CERT_STATUS;
	}
	c->info.verified = c->cert_fail == CERT_OK;
	c->cert_rejected = !c->info.verified && !c->insecure;
	return c->cert_rejected ? -1 : 0;
}

/* The reasons GnuTLS gave, in words; "" when none is known. */
static void cert_reasons(const struct conn *c, char *buf, size_t size)
{
	static const struct { unsigned bit; const char *text; } why[] = {
		{ GNUTLS_CERT_EXPIRED, "expired" },
		{ GNUTLS_CERT_NOT_ACTIVATED, "not yet valid" },
		{ GNUTLS_CERT_REVOKED, "revoked" },
		{ GNUTLS_CERT_SIGNER_NOT_CA, "signed by a certificate that is not a CA" },
		{ GNUTLS_CERT_INSECURE_ALGORITHM, "signed with an insecure algorithm" },
		{ GNUTLS_CERT_SIGNATURE_FAILURE, "bad signature" },
		{ GNUTLS_CERT_PURPOSE_MISMATCH, "not meant for a TLS server" },
		{ GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE, "outside its issuer's constraints" },
	};
	size_t o = 0;

	buf[0] = '\0';
	if (c->cert_status & GNUTLS_CERT_SIGNER_NOT_FOUND)
		o += (size_t)snprintf(buf, size, "%s", c->self_signed ? "self-signed" :
				      "issuer not trusted (unknown CA or incomplete chain)");
	for (size_t i = 0; i < sizeof why / sizeof why[0] && o < size; i++)
		if (c->cert_status & why[i].bit)
			o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? ", " : "",
					      why[i].text);
	if (o < size && (c->cert_status & GNUTLS_CERT_UNEXPECTED_OWNER))
		snprintf(buf + o, size - o, "%snot valid for %.100s (%s%.120s)",
			 o ? ", " : "", c->tls_name, c->names[0] ? "it names " :
			 "it names no host", c->names);
}

/* Every hint offers the pin: it is the one way to accept exactly this
 * certificate, whatever is wrong with it, without turning checks off. */
static void cert_hint(const struct conn *c, struct error *err)
{
	unsigned st = c->cert_status;

	if (st & GNUTLS_CERT_SIGNER_NOT_FOUND)
		err_hint(err, "use --ca-file to trust a private CA, or "
			 "--fingerprint=%s to pin this certificate", c->fpr);
	else if (st & GNUTLS_CERT_UNEXPECTED_OWNER)
		err_hint(err, "connect by a name the certificate lists, or "
			 "--fingerprint=%s to pin this certificate", c->fpr);
	else if (st & (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED))
		err_hint(err, "check this machine's clock; to accept this "
			 "certificate anyway, pin it: --fingerprint=%s", c->fpr);
}

static int cert_error(const struct conn *c, struct error *err)
{
	char who[400], why[512];
	const struct tls_info *i = &c->info;

	snprintf(who, sizeof who, "certificate for %.120s, valid %.10s..%.10s, "
		 "issued by %.120s", i->subject[0] ? i->subject : "(no subject)",
		 i->not_before, i->not_after, i->issuer[0] ? i->issuer : "(none)");
	if (c->cert_fail == CERT_NONE)
		return err_set(err, ERR_CERT, "server %s sent no certificate", c->peer);
	if (c->cert_fail == CERT_PIN) {
		err_set(err, ERR_CERT, "%s: SHA-256 fingerprint %s does not match "
			"--fingerprint", who, c->fpr);
		err_hint(err, "if the server's certificate was changed on purpose, "
			 "update --fingerprint");
		return -1;
	}
	if (c->cert_fail == CERT_ERROR)
		return err_set(err, ERR_CERT, "cannot verify the %s: %s", who,
			       tls_reason(c->cert_error));
	cert_reasons(c, why, sizeof why);
	err_set(err, ERR_CERT, "%s: %s", who, why[0] ? why : "rejected");
	cert_hint(c, err);
	return -1;
}

/* ---- TLS handshake ---- */

static int tls_config_error(const char *what, const char *file, int ret,
			    struct error *err)
{
	char shown[160];

	return err_set(err, ERR_CONFIG, "cannot load %s %s: %s", what,
		       parse_show(file, shown, sizeof shown),
		       ret == 0 ? "no certificate found in it" : tls_reason(ret));
}

/* GnuTLS says only "Error while reading file"; errno says why. */
static int check_readable(const char *what, const char *file, struct error *err)
{
	FILE *f = fopen(file, "r");
	char why[96], shown[160];

	if (f) {
		fclose(f);
		return 0;
	}
	return err_set(err, ERR_CONFIG, "cannot read %s %s: %s", what,
		       parse_show(file, shown, sizeof shown), reason(errno, why, sizeof why));
}

/* The credentials are made once per process and shared by every
 * connection of the run (retries, the TLS probe, reconnections), so the
 * system store, by far the largest thing envoi loads, is parsed at most
 * once. They depend only on --ca-file, --client-cert and --client-key,
 * which do not change during a run. */
static struct {
	gnutls_certificate_credentials_t cred;
	bool system_trust;            /* the system store is loaded into cred */
} shared;

/* libtasn1 (4.19) does not survive an allocation that fails while it
 * decodes a certificate: it crashes (or GnuTLS reports a parse error).
 * So work that decodes certificates starts only when the address space
 * can take several times what it needs: the system store, a handshake
 * (the server's chain). Below that, envoi is out of memory (71). */
#define STORE_HEADROOM (8u << 20)
#define HANDSHAKE_HEADROOM (2u << 20)

static bool headroom(size_t n)
{
	void *room = malloc(n);

	free(room);
	return room != NULL;
}

static int out_of_memory(const char *doing, struct error *err)
{
	return err_set(err, ERR_OSERR, "out of memory %s", doing);
}

/* Loaded only when a certificate must be checked against it: not with
 * --fingerprint (the pin is the trust), --ca-file or --insecure. An
 * empty or unreadable store is no error yet: verification then fails
 * with "issuer not trusted". */
static int load_system_trust(struct error *err)
{
	int ret;

	if (!headroom(STORE_HEADROOM))
		return out_of_memory("loading the system CA store", err);
	ret = gnutls_certificate_set_x509_system_trust(shared.cred);
	if (ret == GNUTLS_E_MEMORY_ERROR)
		return out_of_memory("loading the system CA store", err);
	shared.system_trust = true;
	return 0;
}

static int load_client_cert(const struct conn_params *s, struct error *err)
{
	const char *key = s->client_key ? s->client_key : s->client_cert;
	int ret;

	if (check_readable("client certificate", s->client_cert, err) < 0 ||
	    check_readable("client key", key, err) < 0)
		return -1;
	ret = gnutls_certificate_set_x509_key_file(shared.cred, s->client_cert, key,
						   GNUTLS_X509_FMT_PEM);
	if (ret == GNUTLS_E_MEMORY_ERROR)
		return out_of_memory("loading the client certificate", err);
	if (ret < 0)
		return err_set(err, ERR_CONFIG, "cannot load client certificate "
			       "%s with key %s: %s", s->client_cert, key, tls_reason(ret));
	return 0;
}

static int make_credentials(const struct conn_params *s, struct error *err)
{
	int ret = gnutls_certificate_allocate_credentials(&shared.cred);

	if (ret < 0)
		return ret == GNUTLS_E_MEMORY_ERROR ? out_of_memory("setting up TLS", err) :
		       err_set(err, ERR_OSERR, "cannot set up TLS: %s", tls_reason(ret));
	if (s->client_key && !s->client_cert)
		return err_set(err, ERR_CONFIG, "--client-key needs --client-cert");
	if (s->ca_file) {
		if (check_readable("CA file", s->ca_file, err) < 0)
			return -1;
		ret = gnutls_certificate_set_x509_trust_file(shared.cred, s->ca_file,
							     GNUTLS_X509_FMT_PEM);
		if (ret == GNUTLS_E_MEMORY_ERROR)
			return out_of_memory("loading the CA file", err);
		if (ret <= 0)
			return tls_config_error("CA file", s->ca_file, ret, err);
	}
	if (s->client_cert && load_client_cert(s, err) < 0)
		return -1;
	gnutls_certificate_set_verify_function(shared.cred, verify_cert);
	return 0;
}

static int load_credentials(struct conn *c, const struct conn_params *s,
			    struct error *err)
{
	if (!shared.cred && make_credentials(s, err) < 0) {
		if (shared.cred)
			gnutls_certificate_free_credentials(shared.cred);
		shared.cred = NULL;
		return -1;
	}
	if (!s->ca_file && !s->have_fingerprint && !s->insecure && !shared.system_trust &&
	    load_system_trust(err) < 0)
		return -1;
	c->cred = shared.cred;
	return 0;
}

static int tls_setup(struct conn *c, const struct conn_params *s, struct error *err)
{
	const char *errpos = NULL;
	int ret;

	c->insecure = s->insecure;
	c->have_pin = s->have_fingerprint;
	memcpy(c->pin, s->fingerprint, sizeof c->pin);
	if (load_credentials(c, s, err) < 0)
		return -1;
	ret = gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
	if (ret < 0)
		return err_set(err, ERR_OSERR, "cannot set up TLS: %s", tls_reason(ret));
	ret = gnutls_priority_set_direct(c->tls, TLS_PRIORITY, &errpos);
	if (ret == 0)
		ret = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->cred);
	if (ret == 0 && !c->host_is_ip)
		ret = gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, c->tls_name,
					     strlen(c->tls_name));
	if (ret < 0)
		return err_set(err, ret == GNUTLS_E_MEMORY_ERROR ? ERR_OSERR : ERR_SOFTWARE,
			       "cannot set up TLS: %s", tls_reason(ret));
	gnutls_session_set_ptr(c->tls, c);
	gnutls_transport_set_ptr(c->tls, c);
	gnutls_transport_set_push_function(c->tls, tls_push);
	gnutls_transport_set_pull_function(c->tls, tls_pull);
	gnutls_transport_set_pull_timeout_function(c->tls, tls_pull_timeout);
	/* Our own deadline bounds the handshake (handshake()). */
	gnutls_handshake_set_timeout(c->tls, 0);
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
	ssize_t n = c->rend - c->rstart > 0 ? 0 :
		    recv(c->fd, peek, sizeof peek, MSG_PEEK | MSG_DONTWAIT);

	if (c->rend == c->rstart && n <= 0)
		return 0;
	err_set(err, ERR_PROTOCOL, "server %s sent data before the TLS handshake "
		"(STARTTLS injection)", c->peer);
	if (c->rend > c->rstart)
		err_reply(err, c->rbuf + c->rstart, trim_eol(c->rbuf + c->rstart,
							     c->rend - c->rstart));
	else
		err_reply(err, peek, trim_eol(peek, (size_t)n));
	return -1;
}

static bool looks_plaintext(const struct conn *c)
{
	/* TLS records start with a content type 20..24; SMTP with a digit. */
	return c->nfirst > 0 && c->first[0] >= 0x20 && c->first[0] < 0x7f;
}

static int plaintext_answer(struct conn *c, bool implicit, struct error *err)
{
	size_t n = 0;
	ssize_t more;

	/* GnuTLS stopped after a record header; the rest of the line, if it
	 * is there, makes the message show what the server said. */
	more = recv(c->fd, c->first + c->nfirst, FIRST_BYTES - c->nfirst, MSG_DONTWAIT);
	if (more > 0)
		c->nfirst += (size_t)more;
	while (n < c->nfirst && c->first[n] != '\r' && c->first[n] != '\n')
		n++;
	if (!implicit) {
		err_set(err, ERR_PROTOCOL, "server %s answered the TLS handshake in "
			"plaintext after agreeing to STARTTLS", c->peer);
	} else {
		err_set(err, ERR_TLS_MISMATCH, "server %s answered the TLS handshake "
			"in plaintext", c->peer);
		if (isdigit(c->first[0]))
			err_hint(err, "port %u speaks plaintext SMTP: use --tls=starttls "
				 "(or port 587)", c->port);
	}
	err_reply(err, (const char *)c->first, n);
	return -1;
}

static void alert_hint(const struct conn *c, struct error *err)
{
	gnutls_alert_description_t a = gnutls_alert_get(c->tls);

	if (a == GNUTLS_A_CERTIFICATE_REQUIRED || a == GNUTLS_A_BAD_CERTIFICATE ||
	    a == GNUTLS_A_HANDSHAKE_FAILURE)
		err_hint(err, "the server may want a client certificate: use --client-cert");
	if (a == GNUTLS_A_PROTOCOL_VERSION)
		err_hint(err, "the server may support only TLS 1.1 or older, which "
			 "envoi refuses");
}

static int handshake_failed(struct conn *c, int ret, bool implicit, struct error *err)
{
	if (ret == GNUTLS_E_MEMORY_ERROR)
		return err_set(err, ERR_OSERR, "out of memory in the TLS handshake with %s",
			       c->peer);
	if (looks_plaintext(c))
		return plaintext_answer(c, implicit, err);
	if (c->cert_rejected)
		return cert_error(c, err);
	if (ret == GNUTLS_E_PREMATURE_TERMINATION || ret == GNUTLS_E_PULL_ERROR ||
	    ret == GNUTLS_E_PUSH_ERROR) {
		char why[96];

		return err_set(err, ERR_TLS, "server %s closed the connection during "
			       "the TLS handshake%s%s", c->peer,
			       c->sock_errno ? ": " : "",
			       c->sock_errno ? reason(c->sock_errno, why, sizeof why) : "");
	}
	if (ret == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		gnutls_alert_description_t a = gnutls_alert_get(c->tls);
		const char *name = gnutls_alert_get_name(a);

		/* The number is the server's choice: GnuTLS names only known ones. */
		if (name)
			err_set(err, ERR_TLS, "server %s refused the TLS handshake: %s",
				c->peer, name);
		else
			err_set(err, ERR_TLS, "server %s refused the TLS handshake: "
				"alert %u", c->peer, (unsigned)a);
		alert_hint(c, err);
		return -1;
	}
	err_set(err, ERR_TLS, "TLS handshake with %s failed: %s", c->peer,
		tls_reason(ret));
	if (ret == GNUTLS_E_UNSUPPORTED_VERSION_PACKET || ret == GNUTLS_E_NO_CIPHER_SUITES ||
	    ret == GNUTLS_E_INSUFFICIENT_SECURITY)
		err_hint(err, "the server may support only TLS 1.1 or older, which "
			 "envoi refuses");
	return -1;
}

static int handshake(struct conn *c, bool implicit, struct error *err)
{
	int64_t deadline = clock_ms() + c->timeout_ms;

	for (;;) {
		int ret = gnutls_handshake(c->tls), w;

		if (ret == 0)
			return 0;
		if (ret != GNUTLS_E_AGAIN && ret != GNUTLS_E_INTERRUPTED &&
		    gnutls_error_is_fatal(ret))
			return handshake_failed(c, ret, implicit, err);
		if (ret != GNUTLS_E_AGAIN && ret != GNUTLS_E_INTERRUPTED)
			w = clock_ms() < deadline;  /* a warning alert: go on */
		else
			w = wait_fd(c->fd, gnutls_record_get_direction(c->tls) ?
				    POLLOUT : POLLIN, deadline);
		if (w < 0)
			return poll_failed(err);
		if (w == 0 && looks_plaintext(c))
			return plaintext_answer(c, implicit, err);
		if (w == 0)
			return timed_out(c, "in the TLS handshake with", err);
	}
}

static void fill_session_info(struct conn *c)
{
	const char *suite = gnutls_ciphersuite_get(c->tls);
	const char *version = gnutls_protocol_get_name(gnutls_protocol_get_version(c->tls));

	snprintf(c->info.version, sizeof c->info.version, "%s", version ? version : "?");
	if (suite) {
		snprintf(c->info.cipher, sizeof c->info.cipher, "%s", suite);
	} else {
		char *desc = gnutls_session_get_desc(c->tls);

		snprintf(c->info.cipher, sizeof c->info.cipher, "%s", desc ? desc : "?");
		gnutls_free(desc);
	}
}

/* With smtps:// the hint "--tls=starttls" would be a usage error (the
 * scheme already says implicit TLS): name the URL that works instead. */
static void scheme_hint(const struct conn *c, const struct conn_params *s, struct error *err)
{
	bool v6 = strchr(s->host, ':') != NULL;

	if (err->cls == ERR_TLS_MISMATCH && s->tls_from_scheme && err->hint[0])
		err_hint(err, "port %u speaks plaintext SMTP: use smtp://%s%s%s:%u for STARTTLS, "
			 "not smtps://", c->port, v6 ? "[" : "", s->host, v6 ? "]" : "", c->port);
}

int conn_start_tls(struct conn *c, const struct conn_params *s, struct error *err)
{
	bool implicit = c->plain_rx == 0 && c->plain_tx == 0;

	if (c->tls)
		return err_set(err, ERR_SOFTWARE, "TLS started twice on %s", c->peer);
	if (c->wlen > 0)
		return err_set(err, ERR_SOFTWARE, "unsent data before the TLS "
			       "handshake with %s", c->peer);
	if (!implicit && check_injection(c, err) < 0)
		return -1;
	/* s may bound the handshake differently (the short TLS probe). */
	c->timeout_ms = timeout_of(s->timeout);
	if (!headroom(HANDSHAKE_HEADROOM))
		return out_of_memory("starting the TLS handshake", err);
	if (tls_setup(c, s, err) < 0 || handshake(c, implicit, err) < 0) {
		scheme_hint(c, s, err);
		return -1;
	}
	fill_session_info(c);
	c->tls_up = true;
	c->rstart = c->rend = 0;
	return 0;
}

bool conn_addr_is_loopback(const struct sockaddr *sa)
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

bool conn_is_loopback(const struct conn *c)
{
	return !c->proxied && conn_addr_is_loopback((const struct sockaddr *)&c->sa);
}

bool conn_tls_answered(const struct conn *c)
{
	return c->tls_up || (c->nfirst >= 3 && (c->first[0] == 0x15 || c->first[0] == 0x16) &&
			     c->first[1] == 0x03 && c->first[2] <= 0x04);
}

bool conn_is_tls(const struct conn *c)
{
	return c->tls_up;
}

const struct tls_info *conn_tls_info(const struct conn *c)
{
	return &c->info;
}

char *conn_channel_binding(struct conn *c, const char **type)
{
	gnutls_datum_t cb = { NULL, 0 };
	gnutls_channel_binding_t kind = GNUTLS_CB_TLS_UNIQUE;
	const char *name = "tls-unique";
	char *out = NULL;

	if (type)
		*type = NULL;
	if (!c->tls_up)
		return NULL;
	if (gnutls_protocol_get_version(c->tls) == GNUTLS_TLS1_3) {
		kind = GNUTLS_CB_TLS_EXPORTER;
		name = "tls-exporter";
	}
	if (gnutls_session_channel_binding(c->tls, kind, &cb) < 0)
		return NULL;
	out = malloc(4 * ((cb.size + 2) / 3) + 1);
	if (out)
		b64_encode(out, cb.data, cb.size);
	gnutls_free(cb.data);
	if (out && type)
		*type = name;
	return out;
}

const char *conn_peer(const struct conn *c)
{
	return c->peer;
}

/* Sends close_notify so the server sees a clean end, but never waits long
 * for a server that has stopped reading. */
static void tls_bye(struct conn *c)
{
	int64_t deadline = clock_ms() + (c->timeout_ms < BYE_TIMEOUT_MS ?
				       c->timeout_ms : BYE_TIMEOUT_MS);
	int ret;

	while ((ret = gnutls_bye(c->tls, GNUTLS_SHUT_WR)) == GNUTLS_E_AGAIN ||
	       ret == GNUTLS_E_INTERRUPTED)
		if (wait_fd(c->fd, gnutls_record_get_direction(c->tls) ? POLLOUT :
			    POLLIN, deadline) <= 0)
			break;
}

void conn_close(struct conn *c)
{
	if (!c)
		return;
	if (c->tls) {
		if (c->tls_up)
			tls_bye(c);
		gnutls_deinit(c->tls);
	}
	if (c->fd >= 0)
		close(c->fd);
	/* The buffers may have carried AUTH exchanges. */
	explicit_bzero(c, sizeof *c);
	free(c);
}
