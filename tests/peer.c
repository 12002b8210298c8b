/* peer.c - the shared part of the transport suites (peer.h). */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer.h"

pid_t child = -1;
char tmpdir[64];
struct conn_params sess;
struct error err;

void peer_setup(void)
{
	memset(&sess, 0, sizeof sess);
	memset(&err, 0, sizeof err);
	sess.host = "127.0.0.1";
	sess.timeout = 5;
	sess.family = AF_UNSPEC;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/test_conn.XXXXXX");
	cr_assert(mkdtemp(tmpdir));
	child = -1;
}

void peer_teardown(void)
{
	char cmd[128];

	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

int listen_any(unsigned *port, int backlog)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	cr_assert_geq(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	cr_assert_eq(listen(fd, backlog), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* Starts fn on the first connection to a fresh port; sess.port gets it. */
void serve(serve_fn fn)
{
	unsigned port;
	int lfd = listen_any(&port, 4);

	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		int fd;

		alarm(20);
		signal(SIGPIPE, SIG_IGN);
		fd = accept(lfd, NULL, NULL);
		if (fd >= 0)
			fn(fd);
		_exit(0);
	}
	close(lfd);
	sess.port = port;
}

void send_str(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t k = send(fd, s, n, MSG_NOSIGNAL);

		if (k <= 0)
			return;
		s += k;
		n -= (size_t)k;
	}
}

/* Reads until a '\n' or EOF; returns the bytes read. */
size_t recv_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size && recv(fd, buf + n, 1, 0) == 1)
		if (buf[n++] == '\n')
			break;
	buf[n] = '\0';
	return n;
}

void drain(int fd)
{
	char buf[4096];

	while (recv(fd, buf, sizeof buf, 0) > 0)
		;
}

struct conn *open_ok(void)
{
	struct conn *c = NULL;

	cr_assert_eq(conn_open(&c, &sess, &err), 0, "%s", err.text);
	cr_assert_not_null(c);
	return c;
}

void expect_line(struct conn *c, const char *want)
{
	const char *line;
	size_t len;

	cr_assert_eq(conn_read_line(c, &line, &len, &err), 0, "%s", err.text);
	cr_expect_eq(len, strlen(want));
	cr_expect_str_eq(line, want);
}

void expect_read_error(struct conn *c, enum err_class cls, const char *part)
{
	const char *line;
	size_t len;

	cr_assert_eq(conn_read_line(c, &line, &len, &err), -1);
	cr_expect_eq(err.cls, cls, "class %d: %s", err.cls, err.text);
	if (part)
		cr_expect(strstr(err.text, part), "text: %s", err.text);
}

/* ---- servers and helpers more than one suite uses ---- */

void close_at_once(int fd)
{
	(void)fd;
}

void silent(int fd)
{
	drain(fd);
}

unsigned long checksum(const unsigned char *p, size_t n, unsigned long h)
{
	for (size_t i = 0; i < n; i++)
		h = h * 31 + p[i];
	return h;
}

/* Reads PEER_BIG bytes, answers with their count and checksum. */
void count_bytes(int fd)
{
	static unsigned char buf[65536];
	size_t total = 0;
	unsigned long h = 0;
	char reply[64];

	while (total < PEER_BIG) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);

		if (n <= 0)
			break;
		h = checksum(buf, (size_t)n, h);
		total += (size_t)n;
	}
	snprintf(reply, sizeof reply, "250 %zu %lu\r\n", total, h);
	send_str(fd, reply);
	drain(fd);
}

void write_big(struct conn *c)
{
	unsigned char *data = malloc(PEER_BIG);
	size_t off = 0, step = 1;
	char want[64];

	cr_assert_not_null(data);
	for (size_t i = 0; i < PEER_BIG; i++)
		data[i] = (unsigned char)(i * 7 + i / 251);
	/* Every size from tiny to larger than the buffer. */
	while (off < PEER_BIG) {
		size_t n = step < PEER_BIG - off ? step : PEER_BIG - off;

		cr_assert_eq(conn_write(c, data + off, n, &err), 0, "%s", err.text);
		off += n;
		step = step * 3 + 1;
		if (step > 200000)
			step = 1;
	}
	cr_assert_eq(conn_flush(c, &err), 0, "%s", err.text);
	snprintf(want, sizeof want, "250 %d %lu", PEER_BIG, checksum(data, PEER_BIG, 0));
	expect_line(c, want);
	free(data);
}
