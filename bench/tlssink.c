/* tlssink.c - an SMTP server that takes anything and keeps nothing, as
 * fast as GnuTLS can decrypt: the far end of the throughput benchmark.
 *
 *   tlssink PORTFILE CERT KEY [--implicit] [--no-chunking] [--no-pipelining]
 *
 * Listens on 127.0.0.1 (free port written to PORTFILE), one child per
 * connection. Speaks just enough SMTP: greeting; EHLO (PIPELINING,
 * CHUNKING, 8BITMIME, SIZE, STARTTLS before TLS, AUTH PLAIN LOGIN after);
 * STARTTLS; AUTH (any credentials; PLAIN with or without an initial
 * response, LOGIN); MAIL, RCPT, RSET, NOOP; DATA (scans for the
 * terminator with memchr for '.', so base64 costs nearly nothing); BDAT
 * (counts bytes, never looks at them); QUIT. Every reply is written at
 * once; data is discarded. SIGTERM ends it and its children.
 * Built by bench/run: cc -O2 -o tlssink tlssink.c -lgnutls
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#define BUF (256 * 1024)

static gnutls_certificate_credentials_t cred;
static int implicit, chunking = 1, pipelining = 1;

struct peer {
	int fd;
	gnutls_session_t tls;  /* NULL before TLS */
	char *buf;
	size_t start, end;
};

static void die(const char *why)
{
	fprintf(stderr, "tlssink: %s\n", why);
	_exit(1);
}

/* Reads more into the buffer (compacting it first). 0 at end. */
static ssize_t fill(struct peer *p)
{
	ssize_t n;

	if (p->start > 0) {
		memmove(p->buf, p->buf + p->start, p->end - p->start);
		p->end -= p->start;
		p->start = 0;
	}
	if (p->end == BUF)
		die("line too long");
	do {
		n = p->tls ? gnutls_record_recv(p->tls, p->buf + p->end, BUF - p->end) :
			     read(p->fd, p->buf + p->end, BUF - p->end);
	} while ((p->tls && (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)) ||
		 (!p->tls && n < 0 && errno == EINTR));
	if (n < 0)
		return 0;
	p->end += (size_t)n;
	return n;
}

static void say(struct peer *p, const char *text)
{
	size_t len = strlen(text);

	if (p->tls) {
		if (gnutls_record_send(p->tls, text, len) < 0)
			die("send failed");
	} else if (write(p->fd, text, len) != (ssize_t)len) {
		die("write failed");
	}
}

/* The next line without CRLF, NUL-terminated in place; NULL at end. */
static char *get_line(struct peer *p)
{
	for (;;) {
		char *nl = memchr(p->buf + p->start, '\n', p->end - p->start);

		if (nl) {
			char *line = p->buf + p->start;

			p->start = (size_t)(nl - p->buf) + 1;
			*nl = '\0';
			if (nl > line && nl[-1] == '\r')
				nl[-1] = '\0';
			return line;
		}
		if (fill(p) == 0)
			return NULL;
	}
}

/* Discards DATA content up to and including CRLF.CRLF. Base64 holds no
 * '.', so memchr skips it at memory speed. bol: the byte before
 * p->start ended a line (DATA's own CRLF did, at first). */
static int skip_data(struct peer *p)
{
	int bol = 1;

	for (;;) {
		char *s = p->buf + p->start, *e = p->buf + p->end, *d;

		while ((d = memchr(s, '.', (size_t)(e - s))) != NULL) {
			int at_bol = d > p->buf + p->start ? d[-1] == '\n' : bol;

			if (at_bol && e - d < 3) {
				break;                  /* wait for the bytes after it */
			}
			if (at_bol && d[1] == '\r' && d[2] == '\n') {
				p->start = (size_t)(d + 3 - p->buf);
				return 0;
			}
			s = d + 1;
		}
		if (d) {
			bol = d > p->buf + p->start ? d[-1] == '\n' : bol;
			p->start = (size_t)(d - p->buf);
		} else {
			bol = e > p->buf + p->start ? e[-1] == '\n' : bol;
			p->start = p->end;
		}
		if (fill(p) == 0)
			return -1;
	}
}

/* Discards n bytes of BDAT content. */
static int skip_bytes(struct peer *p, unsigned long long n)
{
	while (n > 0) {
		size_t have = p->end - p->start;

		if (have == 0) {
			p->start = p->end = 0;
			if (fill(p) == 0)
				return -1;
			continue;
		}
		if (have > n)
			have = (size_t)n;
		p->start += have;
		n -= have;
	}
	return 0;
}

static void start_tls(struct peer *p)
{
	int ret;

	gnutls_init(&p->tls, GNUTLS_SERVER);
	gnutls_set_default_priority(p->tls);
	gnutls_credentials_set(p->tls, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_certificate_server_set_request(p->tls, GNUTLS_CERT_IGNORE);
	gnutls_transport_set_int(p->tls, p->fd);
	do
		ret = gnutls_handshake(p->tls);
	while (ret < 0 && !gnutls_error_is_fatal(ret));
	if (ret < 0)
		die(gnutls_strerror(ret));
	p->start = p->end = 0;
}

static void ehlo(struct peer *p)
{
	char caps[512];

	snprintf(caps, sizeof caps, "250-sink\r\n%s%s250-8BITMIME\r\n%s%s250 SIZE 0\r\n",
		 pipelining ? "250-PIPELINING\r\n" : "", chunking ? "250-CHUNKING\r\n" : "",
		 p->tls ? "" : "250-STARTTLS\r\n", p->tls ? "250-AUTH PLAIN LOGIN\r\n" : "");
	say(p, caps);
}

static void session(int fd)
{
	struct peer p = {.fd = fd, .buf = malloc(BUF)};
	char *line;

	if (!p.buf)
		die("out of memory");
	if (implicit)
		start_tls(&p);
	say(&p, "220 sink ESMTP\r\n");
	while ((line = get_line(&p)) != NULL) {
		if (!strncasecmp(line, "EHLO", 4) || !strncasecmp(line, "HELO", 4)) {
			ehlo(&p);
		} else if (!strncasecmp(line, "STARTTLS", 8) && !p.tls) {
			say(&p, "220 go ahead\r\n");
			start_tls(&p);
		} else if (!strncasecmp(line, "AUTH PLAIN ", 11)) {
			say(&p, "235 ok\r\n");
		} else if (!strncasecmp(line, "AUTH PLAIN", 10)) {
			say(&p, "334 \r\n");
			if (!get_line(&p))
				break;
			say(&p, "235 ok\r\n");
		} else if (!strncasecmp(line, "AUTH LOGIN", 10)) {
			say(&p, "334 VXNlcm5hbWU6\r\n");
			if (!get_line(&p))
				break;
			say(&p, "334 UGFzc3dvcmQ6\r\n");
			if (!get_line(&p))
				break;
			say(&p, "235 ok\r\n");
		} else if (!strncasecmp(line, "DATA", 4)) {
			say(&p, "354 go\r\n");
			if (skip_data(&p) < 0)
				break;
			say(&p, "250 discarded\r\n");
		} else if (!strncasecmp(line, "BDAT ", 5)) {
			unsigned long long n = strtoull(line + 5, NULL, 10);
			int last = strcasestr(line, "LAST") != NULL;

			if (skip_bytes(&p, n) < 0)
				break;
			say(&p, last ? "250 discarded\r\n" : "250 more\r\n");
		} else if (!strncasecmp(line, "QUIT", 4)) {
			say(&p, "221 bye\r\n");
			break;
		} else {
			say(&p, "250 ok\r\n");
		}
	}
	if (p.tls)
		gnutls_bye(p.tls, GNUTLS_SHUT_WR);
	close(fd);
	if (getenv("TLSSINK_STATS")) {
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		fprintf(stderr, "tlssink: session CPU %.2f s user, %.2f s sys\n",
			ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
			ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	}
}

static void on_term(int sig)
{
	(void)sig;
	signal(SIGTERM, SIG_IGN);
	kill(-getpid(), SIGTERM);
	_exit(0);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof sa;
	int ls, one = 1;
	FILE *f;

	if (argc < 4)
		die("usage: tlssink PORTFILE CERT KEY [--implicit] [--no-chunking] [--no-pipelining]");
	for (int i = 4; i < argc; i++) {
		implicit |= strcmp(argv[i], "--implicit") == 0;
		if (strcmp(argv[i], "--no-chunking") == 0)
			chunking = 0;
		if (strcmp(argv[i], "--no-pipelining") == 0)
			pipelining = 0;
	}
	if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
	    gnutls_certificate_set_x509_key_file(cred, argv[2], argv[3], GNUTLS_X509_FMT_PEM) < 0)
		die("cannot load the certificate");
	setpgid(0, 0);
	signal(SIGTERM, on_term);
	signal(SIGCHLD, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 16) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &len) < 0)
		die("cannot listen");
	f = fopen(argv[1], "w");
	if (!f)
		die("cannot write the port file");
	fprintf(f, "%u\n", ntohs(sa.sin_port));
	fclose(f);
	for (;;) {
		int c = accept(ls, NULL, NULL);

		if (c < 0)
			continue;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (fork() == 0) {
			close(ls);
			signal(SIGTERM, SIG_DFL);
			session(c);
			_exit(0);
		}
		close(c);
	}
}
