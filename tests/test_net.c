/* test_net.c - reaching the server: resolution, TCP connect, the peer's
 * name, SOCKS5, loopback, against servers forked on 127.0.0.1 (peer.h). */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "net.h"
#include "peer.h"

TestSuite(net, .init = peer_setup, .fini = peer_teardown, .timeout = 60);

/* ---- connecting ---- */

Test(net, refused_connection_is_unavailable)
{
	unsigned port;
	struct conn *c = NULL;

	close(listen_any(&port, 1));
	sess.port = port;
	cr_assert_eq(conn_open(&c, &sess, &err), -1);
	cr_expect_null(c);
	cr_expect_eq(err.cls, ERR_UNAVAILABLE);
	cr_expect(strstr(err.text, "cannot connect to 127.0.0.1 port"), "%s", err.text);
	cr_expect(strstr(err.text, "connection refused"), "%s", err.text);
}

Test(net, invalid_name_does_not_resolve)
{
	struct conn *c = NULL;

	sess.host = "no-such-host.invalid";
	sess.port = 587;
	cr_assert_eq(conn_open(&c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_NOHOST, "%d: %s", err.cls, err.text);
	cr_expect(strstr(err.text, "no-such-host.invalid"), "%s", err.text);
}

Test(net, ipv4_literal_with_ipv6_only_does_not_resolve)
{
	struct conn *c = NULL;

	sess.port = 587;
	sess.family = AF_INET6;
	cr_assert_eq(conn_open(&c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_NOHOST, "%d: %s", err.cls, err.text);
}

Test(net, connect_timeout_is_tempfail)
{
	/* A listener that never accepts, with its backlog full: the kernel
	 * drops further SYNs, so the connect can only time out. */
	unsigned port;
	int lfd = listen_any(&port, 0), extra[4];
	struct conn *c = NULL;
	time_t t0 = time(NULL);

	for (int i = 0; i < 4; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons((uint16_t)port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		extra[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(extra[i], (struct sockaddr *)&a, sizeof a);
	}
	sess.port = port;
	sess.timeout = 1;
	cr_assert_eq(conn_open(&c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_TEMPFAIL, "%d: %s", err.cls, err.text);
	cr_expect(strstr(err.text, "timed out"), "%s", err.text);
	cr_expect_leq(time(NULL) - t0, 3);
	for (int i = 0; i < 4; i++)
		close(extra[i]);
	close(lfd);
}

static void say_hello(int fd)
{
	send_str(fd, "220 hello\r\n");
	drain(fd);
}

Test(net, peer_names_host_and_address)
{
	struct conn *c;
	char want[64];

	serve(say_hello);
	sess.host = "localhost";
	c = open_ok();
	snprintf(want, sizeof want, "localhost (127.0.0.1) port %u", sess.port);
	cr_expect_str_eq(conn_peer(c), want);
	expect_line(c, "220 hello");
	conn_close(c);
}

Test(net, peer_of_an_address_literal)
{
	struct conn *c;
	char want[64];

	serve(say_hello);
	c = open_ok();
	snprintf(want, sizeof want, "127.0.0.1 port %u", sess.port);
	cr_expect_str_eq(conn_peer(c), want);
	cr_expect_not(conn_is_tls(c));
	conn_close(c);
}

/* ---- SOCKS5 ---- */

static struct {
	unsigned char method_reply[2];
	unsigned char rep;
	bool garbage;
	char seen_host[256];
} socks;

static void socks_server(int fd)
{
	unsigned char buf[512], reply[10] = { 5, 0, 0, 1, 127, 0, 0, 1, 0, 25 };
	ssize_t n = recv(fd, buf, 3, MSG_WAITALL);

	if (n != 3 || buf[0] != 5)
		return;
	send(fd, socks.method_reply, 2, MSG_NOSIGNAL);
	if (socks.method_reply[1] != 0)
		return;
	if (recv(fd, buf, 5, MSG_WAITALL) != 5 || buf[3] != 3)
		return;
	n = recv(fd, buf + 5, buf[4] + 2u, MSG_WAITALL);
	if (socks.garbage) {
		send_str(fd, "HTTP/1.0 400 Bad Request\r\n\r\n");
		return;
	}
	reply[1] = socks.rep;
	send(fd, reply, sizeof reply, MSG_NOSIGNAL);
	if (socks.rep == 0) {
		char line[300];

		snprintf(line, sizeof line, "220 via proxy to %.*s port %u\r\n",
			 buf[4], (char *)buf + 5, buf[5 + buf[4]] << 8 | buf[6 + buf[4]]);
		send_str(fd, line);
		drain(fd);
	}
}

static void serve_socks(void)
{
	serve(socks_server);
	sess.proxy_host = "127.0.0.1";
	sess.proxy_port = sess.port;
	sess.host = "mail.example.test";
	sess.port = 2525;
}

Test(net, socks5_connect_passes_the_name)
{
	struct conn *c;

	socks.method_reply[0] = 5;
	serve_socks();
	c = open_ok();
	expect_line(c, "220 via proxy to mail.example.test port 2525");
	cr_expect(strstr(conn_peer(c), "mail.example.test port 2525 via socks5 proxy "
			 "127.0.0.1 port"), "%s", conn_peer(c));
	conn_close(c);
}

Test(net, proxied_connection_is_never_loopback)
{
	struct conn *c;

	socks.method_reply[0] = 5;
	serve_socks();
	c = open_ok();
	cr_expect_not(conn_is_loopback(c), "the proxy is on loopback, the server need not be");
	conn_close(c);
}

static bool loopback4(const char *text)
{
	struct sockaddr_in a = { .sin_family = AF_INET };

	cr_assert_eq(inet_pton(AF_INET, text, &a.sin_addr), 1, "%s", text);
	return net_addr_is_loopback((struct sockaddr *)&a);
}

static bool loopback6(const char *text)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };

	cr_assert_eq(inet_pton(AF_INET6, text, &a.sin6_addr), 1, "%s", text);
	return net_addr_is_loopback((struct sockaddr *)&a);
}

Test(net, loopback_is_decided_by_the_address)
{
	cr_expect(loopback4("127.0.0.1"));
	cr_expect(loopback4("127.255.3.4"));
	cr_expect_not(loopback4("128.0.0.1"));
	cr_expect_not(loopback4("10.127.0.1"));
	cr_expect_not(loopback4("0.0.0.0"));
	cr_expect(loopback6("::1"));
	cr_expect(loopback6("::ffff:127.0.0.1"));
	cr_expect(loopback6("::ffff:127.9.8.7"));
	cr_expect_not(loopback6("::ffff:192.0.2.1"));
	cr_expect_not(loopback6("::127.0.0.1"));   /* IPv4-compatible: obsolete, not loopback */
	cr_expect_not(loopback6("::2"));
	cr_expect_not(loopback6("::"));
	cr_expect_not(loopback6("2001:db8::1"));
	cr_expect_not(net_addr_is_loopback(NULL));
}

Test(net, direct_connection_to_127_is_loopback)
{
	struct conn *c;

	serve(say_hello);
	c = open_ok();
	cr_expect(conn_is_loopback(c));
	conn_close(c);
}

Test(net, socks5_refusal_is_unavailable)
{
	struct conn *c = NULL;

	socks.method_reply[0] = 5;
	socks.rep = 5;
	serve_socks();
	cr_assert_eq(conn_open(&c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_UNAVAILABLE, "%d: %s", err.cls, err.text);
	cr_expect(strstr(err.text, "connection refused"), "%s", err.text);
	cr_expect(strstr(err.text, "mail.example.test port 2525"), "%s", err.text);
}

Test(net, socks5_auth_required_is_unavailable)
{
	struct conn *c = NULL;

	socks.method_reply[0] = 5;
	socks.method_reply[1] = 0xff;
	serve_socks();
	cr_assert_eq(conn_open(&c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_UNAVAILABLE, "%d: %s", err.cls, err.text);
	cr_expect(strstr(err.text, "requires authentication"), "%s", err.text);
}

Test(net, socks5_garbage_is_protocol_error)
{
	struct conn *c = NULL;

	socks.method_reply[0] = 5;
	socks.garbage = true;
	serve_socks();
	cr_assert_eq(conn_open(&c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_PROTOCOL, "%d: %s", err.cls, err.text);
}

Test(net, socks5_proxy_down_is_unavailable)
{
	struct conn *c = NULL;
	unsigned port;

	close(listen_any(&port, 1));
	sess.proxy_host = "127.0.0.1";
	sess.proxy_port = port;
	sess.host = "mail.example.test";
	sess.port = 25;
	cr_assert_eq(conn_open(&c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_UNAVAILABLE, "%d: %s", err.cls, err.text);
	cr_expect(strstr(err.text, "socks5 proxy 127.0.0.1"), "%s", err.text);
}

Test(net, close_accepts_null)
{
	conn_close(NULL);
}
