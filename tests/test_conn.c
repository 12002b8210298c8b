/* test_conn.c - the transport against servers forked from the test itself
 * on 127.0.0.1 (plaintext, TLS with certificates made here, SOCKS5), so
 * that nothing outside the test process is needed. */
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

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "clock.h"
#include "conn.h"

#define DAY (24 * 3600)

/* ---- a one-connection server in a child process ---- */

typedef void (*serve_fn)(int fd);

static pid_t child = -1;
static char tmpdir[64];
static struct conn_params sess;
static struct error err;

static int listen_any(unsigned *port, int backlog)
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
static void serve(serve_fn fn)
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

/* Every certificate and key made by make_cert, freed by teardown. */
static gnutls_x509_crt_t made_crt[16];
static gnutls_x509_privkey_t made_key[16];
static int nmade;

static void setup(void)
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

static void teardown(void)
{
	char cmd[128];

	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	for (int i = 0; i < nmade; i++) {
		gnutls_x509_crt_deinit(made_crt[i]);
		gnutls_x509_privkey_deinit(made_key[i]);
	}
	nmade = 0;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

TestSuite(conn, .init = setup, .fini = teardown, .timeout = 60);

static void send_str(int fd, const char *s)
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
static size_t recv_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	while (n + 1 < size && recv(fd, buf + n, 1, 0) == 1)
		if (buf[n++] == '\n')
			break;
	buf[n] = '\0';
	return n;
}

static void drain(int fd)
{
	char buf[4096];

	while (recv(fd, buf, sizeof buf, 0) > 0)
		;
}

static struct conn *open_ok(void)
{
	struct conn *c = NULL;

	cr_assert_eq(conn_open(&c, &sess, &err), 0, "%s", err.text);
	cr_assert_not_null(c);
	return c;
}

static void expect_line(struct conn *c, const char *want)
{
	const char *line;
	size_t len;

	cr_assert_eq(conn_read_line(c, &line, &len, &err), 0, "%s", err.text);
	cr_expect_eq(len, strlen(want));
	cr_expect_str_eq(line, want);
}

static void expect_read_error(struct conn *c, enum err_class cls, const char *part)
{
	const char *line;
	size_t len;

	cr_assert_eq(conn_read_line(c, &line, &len, &err), -1);
	cr_expect_eq(err.cls, cls, "class %d: %s", err.cls, err.text);
	if (part)
		cr_expect(strstr(err.text, part), "text: %s", err.text);
}

/* ---- connecting ---- */

Test(conn, refused_connection_is_unavailable)
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

Test(conn, invalid_name_does_not_resolve)
{
	struct conn *c = NULL;

	sess.host = "no-such-host.invalid";
	sess.port = 587;
	cr_assert_eq(conn_open(&c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_NOHOST, "%d: %s", err.cls, err.text);
	cr_expect(strstr(err.text, "no-such-host.invalid"), "%s", err.text);
}

Test(conn, ipv4_literal_with_ipv6_only_does_not_resolve)
{
	struct conn *c = NULL;

	sess.port = 587;
	sess.family = AF_INET6;
	cr_assert_eq(conn_open(&c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_NOHOST, "%d: %s", err.cls, err.text);
}

Test(conn, connect_timeout_is_tempfail)
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

Test(conn, peer_names_host_and_address)
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

Test(conn, peer_of_an_address_literal)
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

/* ---- reading lines ---- */

static void mixed_endings(int fd)
{
	send_str(fd, "220 a\r\n250-b\n250 c\r\n\r\nlone\rcr\n");
	drain(fd);
}

Test(conn, lines_end_at_crlf_or_bare_lf)
{
	struct conn *c;

	serve(mixed_endings);
	c = open_ok();
	expect_line(c, "220 a");
	expect_line(c, "250-b");
	expect_line(c, "250 c");
	expect_line(c, "");
	expect_line(c, "lone\rcr");
	conn_close(c);
}

static void one_byte_at_a_time(int fd)
{
	const char *s = "220-first line\r\n220 second\r\n";

	for (; *s; s++) {
		send(fd, s, 1, MSG_NOSIGNAL);
		usleep(2000);
	}
	drain(fd);
}

Test(conn, lines_split_at_every_byte)
{
	struct conn *c;

	serve(one_byte_at_a_time);
	c = open_ok();
	expect_line(c, "220-first line");
	expect_line(c, "220 second");
	conn_close(c);
}

static void two_lines_at_once(int fd)
{
	send_str(fd, "220 one\r\n250 two\r\n");
	drain(fd);
}

Test(conn, pending_counts_unread_bytes)
{
	struct conn *c;

	serve(two_lines_at_once);
	c = open_ok();
	cr_assert_eq(conn_wait_readable(c, 2000, &err), 1);
	usleep(50000);
	expect_line(c, "220 one");
	cr_expect_eq(conn_pending(c), strlen("250 two\r\n"));
	cr_expect_eq(conn_wait_readable(c, 0, &err), 1);
	expect_line(c, "250 two");
	cr_expect_eq(conn_pending(c), 0);
	conn_close(c);
}

static void nul_in_line(int fd)
{
	send(fd, "250 a\0b\r\n", 9, MSG_NOSIGNAL);
	drain(fd);
}

Test(conn, nul_byte_is_returned_with_the_length)
{
	struct conn *c;
	const char *line;
	size_t len;

	serve(nul_in_line);
	c = open_ok();
	cr_assert_eq(conn_read_line(c, &line, &len, &err), 0);
	cr_expect_eq(len, 7);
	cr_expect_eq(memcmp(line, "250 a\0b", 7), 0);
	conn_close(c);
}

static void max_lines(int fd)
{
	char buf[CONN_MAX_LINE + 3];

	memset(buf, 'x', CONN_MAX_LINE);
	memcpy(buf + CONN_MAX_LINE, "\r\n", 3);
	send_str(fd, buf);
	buf[CONN_MAX_LINE] = 'y';
	memcpy(buf + CONN_MAX_LINE + 1, "\n", 2);
	send_str(fd, buf);
	drain(fd);
}

Test(conn, line_of_max_length_is_read_longer_is_refused)
{
	struct conn *c;
	const char *line;
	size_t len;

	serve(max_lines);
	c = open_ok();
	cr_assert_eq(conn_read_line(c, &line, &len, &err), 0, "%s", err.text);
	cr_expect_eq(len, CONN_MAX_LINE);
	expect_read_error(c, ERR_PROTOCOL, "longer than 4096 bytes");
	conn_close(c);
}

static void endless_line(int fd)
{
	static char buf[65536];

	memset(buf, 'x', sizeof buf);
	for (int i = 0; i < 128; i++)   /* 8 MB */
		if (send(fd, buf, sizeof buf, MSG_NOSIGNAL) < 0)
			break;
}

Test(conn, endless_line_fails_fast)
{
	struct conn *c;
	struct timespec t0, t1;

	serve(endless_line);
	c = open_ok();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	expect_read_error(c, ERR_PROTOCOL, "longer than");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_expect_lt(t1.tv_sec - t0.tv_sec, 2);
	conn_close(c);
}

static void close_mid_line(int fd)
{
	send_str(fd, "220 complete\r\n250 half");
}

Test(conn, end_of_stream_mid_line_is_tempfail)
{
	struct conn *c;

	serve(close_mid_line);
	c = open_ok();
	expect_line(c, "220 complete");
	expect_read_error(c, ERR_TEMPFAIL, "in the middle of a line");
	conn_close(c);
}

static void close_at_once(int fd)
{
	(void)fd;
}

Test(conn, end_of_stream_is_tempfail)
{
	struct conn *c;

	serve(close_at_once);
	c = open_ok();
	expect_read_error(c, ERR_TEMPFAIL, "connection closed by 127.0.0.1");
	conn_close(c);
}

static void lines_400ms_apart(int fd)
{
	for (int i = 0; i < 10; i++) {
		send_str(fd, "250-line\r\n");
		usleep(400000);
	}
	send_str(fd, "250 end\r\n");
	drain(fd);
}

Test(conn, a_step_bounds_all_its_lines)
{
	struct conn *c;
	const char *line;
	size_t len;
	int64_t t0;
	int lines = 0;

	serve(lines_400ms_apart);
	sess.timeout = 1;
	c = open_ok();
	t0 = clock_ms();
	conn_start_step(c);
	while (conn_read_line(c, &line, &len, &err) == 0)
		lines++;
	cr_expect_eq(err.cls, ERR_TEMPFAIL, "%d: %s", err.cls, err.text);
	cr_expect_lt(lines, 11, "every line came, the step was not bounded");
	cr_expect_lt(clock_ms() - t0, 2500);
	conn_close(c);
}

static void silent(int fd)
{
	drain(fd);
}

Test(conn, silence_times_out)
{
	struct conn *c;
	time_t t0;

	serve(silent);
	sess.timeout = 1;
	c = open_ok();
	t0 = time(NULL);
	expect_read_error(c, ERR_TEMPFAIL, "timed out after 1 s");
	cr_expect_leq(time(NULL) - t0, 2);
	cr_expect_eq(conn_wait_readable(c, 100, &err), 0);
	conn_close(c);
}

static void drip(int fd)
{
	for (int i = 0; i < 20; i++) {
		send(fd, "x", 1, MSG_NOSIGNAL);
		usleep(300000);
	}
	send_str(fd, "\r\n");
	drain(fd);
}

Test(conn, a_line_must_arrive_within_the_timeout)
{
	struct conn *c;

	serve(drip);
	sess.timeout = 1;
	c = open_ok();
	expect_read_error(c, ERR_TEMPFAIL, "timed out");
	conn_close(c);
}

/* ---- writing ---- */

static unsigned long checksum(const unsigned char *p, size_t n, unsigned long h)
{
	for (size_t i = 0; i < n; i++)
		h = h * 31 + p[i];
	return h;
}

#define BIG (3 * 1024 * 1024 + 17)

/* Reads BIG bytes, answers with their count and checksum. */
static void count_bytes(int fd)
{
	static unsigned char buf[65536];
	size_t total = 0;
	unsigned long h = 0;
	char reply[64];

	while (total < BIG) {
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

static void write_big(struct conn *c)
{
	unsigned char *data = malloc(BIG);
	size_t off = 0, step = 1;
	char want[64];

	cr_assert_not_null(data);
	for (size_t i = 0; i < BIG; i++)
		data[i] = (unsigned char)(i * 7 + i / 251);
	/* Every size from tiny to larger than the buffer. */
	while (off < BIG) {
		size_t n = step < BIG - off ? step : BIG - off;

		cr_assert_eq(conn_write(c, data + off, n, &err), 0, "%s", err.text);
		off += n;
		step = step * 3 + 1;
		if (step > 200000)
			step = 1;
	}
	cr_assert_eq(conn_flush(c, &err), 0, "%s", err.text);
	snprintf(want, sizeof want, "250 %d %lu", BIG, checksum(data, BIG, 0));
	expect_line(c, want);
	free(data);
}

Test(conn, writes_of_every_size_arrive_intact)
{
	struct conn *c;

	serve(count_bytes);
	c = open_ok();
	write_big(c);
	conn_close(c);
}

static void read_one_line_and_close(int fd)
{
	char buf[64];

	recv_line(fd, buf, sizeof buf);
	shutdown(fd, SHUT_RDWR);
}

Test(conn, writing_to_a_closed_peer_is_tempfail_not_sigpipe)
{
	struct conn *c;
	static char buf[65536];
	int ret = 0;

	signal(SIGPIPE, SIG_DFL);
	serve(read_one_line_and_close);
	c = open_ok();
	cr_assert_eq(conn_write(c, "EHLO x\r\n", 8, &err), 0);
	cr_assert_eq(conn_flush(c, &err), 0);
	usleep(100000);
	memset(buf, 'a', sizeof buf);
	for (int i = 0; i < 100 && ret == 0; i++)
		ret = conn_write(c, buf, sizeof buf, &err);
	cr_expect_eq(ret, -1);
	cr_expect_eq(err.cls, ERR_TEMPFAIL, "%d: %s", err.cls, err.text);
	cr_expect(strstr(err.text, "lost"), "%s", err.text);
	conn_close(c);
}

/* ---- STARTTLS injection and TLS mismatch (no TLS server needed) ---- */

static void inject_in_same_packet(int fd)
{
	char buf[64];

	send_str(fd, "220 ready\r\n");
	recv_line(fd, buf, sizeof buf);
	send_str(fd, "220 go ahead\r\n250 injected\r\n");
	drain(fd);
}

static struct conn *starttls_dialogue(void)
{
	struct conn *c = open_ok();

	expect_line(c, "220 ready");
	cr_assert_eq(conn_write(c, "STARTTLS\r\n", 10, &err), 0);
	cr_assert_eq(conn_flush(c, &err), 0);
	expect_line(c, "220 go ahead");
	return c;
}

Test(conn, buffered_bytes_after_starttls_reply_are_injection)
{
	struct conn *c;

	serve(inject_in_same_packet);
	c = starttls_dialogue();
	cr_expect_gt(conn_pending(c), 0);
	cr_assert_eq(conn_start_tls(c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_PROTOCOL, "%d: %s", err.cls, err.text);
	cr_expect(strstr(err.text, "STARTTLS injection"), "%s", err.text);
	cr_expect(strstr(err.reply, "250 injected"), "%s", err.reply);
	conn_close(c);
}

static void inject_later(int fd)
{
	char buf[64];

	send_str(fd, "220 ready\r\n");
	recv_line(fd, buf, sizeof buf);
	send_str(fd, "220 go ahead\r\n");
	usleep(100000);
	send_str(fd, "250 injected\r\n");
	drain(fd);
}

Test(conn, bytes_waiting_on_the_socket_are_injection)
{
	struct conn *c;

	serve(inject_later);
	c = starttls_dialogue();
	usleep(300000);
	cr_expect_eq(conn_pending(c), 0);
	cr_assert_eq(conn_start_tls(c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_PROTOCOL, "%d: %s", err.cls, err.text);
	cr_expect(strstr(err.text, "STARTTLS injection"), "%s", err.text);
	conn_close(c);
}

static void plaintext_smtp(int fd)
{
	send_str(fd, "220 mail.example.com ESMTP plaintext\r\n");
	drain(fd);
}

Test(conn, implicit_tls_to_plaintext_smtp_is_a_mismatch)
{
	struct conn *c;

	serve(plaintext_smtp);
	c = open_ok();
	cr_assert_eq(conn_start_tls(c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_TLS_MISMATCH, "%d: %s", err.cls, err.text);
	cr_expect(strstr(err.hint, "--tls=starttls"), "hint: %s", err.hint);
	cr_expect(strstr(err.reply, "220 mail.example.com"), "%s", err.reply);
	conn_close(c);
}

static void late_plaintext_smtp(int fd)
{
	char buf[512];

	/* Answers the ClientHello, as a server would that greets late. */
	recv(fd, buf, sizeof buf, 0);
	send_str(fd, "500 5.5.1 unrecognized command\r\n");
	drain(fd);
}

Test(conn, plaintext_answer_to_client_hello_is_a_mismatch)
{
	struct conn *c;

	serve(late_plaintext_smtp);
	c = open_ok();
	cr_assert_eq(conn_start_tls(c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_TLS_MISMATCH, "%d: %s", err.cls, err.text);
	cr_expect_not(conn_tls_answered(c));
	conn_close(c);
}

static void alert_to_client_hello(int fd)
{
	char buf[512];

	recv(fd, buf, sizeof buf, 0);
	send(fd, "\x15\x03\x03\x00\x02\x02\x28", 7, MSG_NOSIGNAL);
	drain(fd);
}

Test(conn, alert_record_is_a_tls_answer)
{
	struct conn *c;

	serve(alert_to_client_hello);
	c = open_ok();
	cr_assert_eq(conn_start_tls(c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_TLS, "%d: %s", err.cls, err.text);
	cr_expect(conn_tls_answered(c));
	conn_close(c);
}

Test(conn, silent_server_times_out_the_handshake)
{
	struct conn *c;

	serve(silent);
	sess.timeout = 1;
	c = open_ok();
	cr_assert_eq(conn_start_tls(c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_TEMPFAIL, "%d: %s", err.cls, err.text);
	cr_expect(strstr(err.text, "TLS handshake"), "%s", err.text);
	conn_close(c);
}

Test(conn, server_closing_during_handshake_is_tls_error)
{
	struct conn *c;

	serve(close_at_once);
	c = open_ok();
	cr_assert_eq(conn_start_tls(c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_TLS, "%d: %s", err.cls, err.text);
	cr_expect_not(conn_tls_answered(c), "a closed connection is no TLS answer");
	conn_close(c);
}

/* ---- certificates made for the test ---- */

struct cert {
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
};

struct cert_spec {
	const char *cn, *dns;
	bool ip;              /* add IP 127.0.0.1 */
	long from, to;        /* validity, seconds relative to now */
	bool ca;
};

static void make_cert(struct cert *out, const struct cert_spec *sp,
		      const struct cert *issuer)
{
	static unsigned char serial = 1;
	time_t now = time(NULL);
	unsigned char ip[4] = { 127, 0, 0, 1 };
	unsigned char kid[64];
	size_t kid_len = sizeof kid;

	cr_assert_eq(gnutls_x509_privkey_init(&out->key), 0);
	cr_assert_eq(gnutls_x509_privkey_generate(out->key, GNUTLS_PK_ECDSA,
		GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0), 0);
	cr_assert_eq(gnutls_x509_crt_init(&out->crt), 0);
	cr_assert_lt(nmade, 16);
	made_crt[nmade] = out->crt;
	made_key[nmade++] = out->key;
	gnutls_x509_crt_set_version(out->crt, 3);
	serial++;
	gnutls_x509_crt_set_serial(out->crt, &serial, 1);
	gnutls_x509_crt_set_dn_by_oid(out->crt, GNUTLS_OID_X520_COMMON_NAME, 0,
				      sp->cn, (unsigned)strlen(sp->cn));
	gnutls_x509_crt_set_activation_time(out->crt, now + sp->from);
	gnutls_x509_crt_set_expiration_time(out->crt, now + sp->to);
	cr_assert_eq(gnutls_x509_crt_set_key(out->crt, out->key), 0);
	gnutls_x509_crt_set_basic_constraints(out->crt, sp->ca, -1);
	if (sp->ca) {
		gnutls_x509_crt_set_key_usage(out->crt, GNUTLS_KEY_KEY_CERT_SIGN |
					      GNUTLS_KEY_CRL_SIGN);
	} else {
		gnutls_x509_crt_set_key_usage(out->crt, GNUTLS_KEY_DIGITAL_SIGNATURE);
		gnutls_x509_crt_set_key_purpose_oid(out->crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
	}
	if (sp->dns)
		gnutls_x509_crt_set_subject_alt_name(out->crt, GNUTLS_SAN_DNSNAME,
			sp->dns, (unsigned)strlen(sp->dns), GNUTLS_FSAN_APPEND);
	if (sp->ip)
		gnutls_x509_crt_set_subject_alt_name(out->crt, GNUTLS_SAN_IPADDRESS,
			ip, sizeof ip, GNUTLS_FSAN_APPEND);
	if (gnutls_x509_crt_get_key_id(out->crt, 0, kid, &kid_len) == 0)
		gnutls_x509_crt_set_subject_key_id(out->crt, kid, kid_len);
	if (issuer) {
		kid_len = sizeof kid;
		if (gnutls_x509_crt_get_subject_key_id(issuer->crt, kid, &kid_len, NULL) == 0)
			gnutls_x509_crt_set_authority_key_id(out->crt, kid, kid_len);
	}
	cr_assert_eq(gnutls_x509_crt_sign2(out->crt, issuer ? issuer->crt : out->crt,
		issuer ? issuer->key : out->key, GNUTLS_DIG_SHA256, 0), 0);
}

static void write_pem(const char *name, const struct cert *const *certs, int n,
		      char *path, size_t size)
{
	FILE *f;

	snprintf(path, size, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	for (int i = 0; i < n; i++) {
		gnutls_datum_t d;

		cr_assert_eq(gnutls_x509_crt_export2(certs[i]->crt, GNUTLS_X509_FMT_PEM, &d), 0);
		fwrite(d.data, 1, d.size, f);
		gnutls_free(d.data);
	}
	fclose(f);
}

static void fingerprint(const struct cert *ct, unsigned char out[32])
{
	gnutls_datum_t d;
	size_t size = 32;

	cr_assert_eq(gnutls_x509_crt_export2(ct->crt, GNUTLS_X509_FMT_DER, &d), 0);
	cr_assert_eq(gnutls_fingerprint(GNUTLS_DIG_SHA256, &d, out, &size), 0);
	gnutls_free(d.data);
}

/* What the forked TLS server presents and how it behaves. */
static struct {
	gnutls_x509_crt_t chain[3];
	unsigned nchain;
	gnutls_x509_privkey_t key;
	const char *priority;
	bool require_client_cert;
	bool count_mode;          /* read BIG bytes and answer with a checksum */
} tls_srv;

static struct cert ca, leaf;
static char ca_path[128];

static void tls_send(gnutls_session_t s, const char *str)
{
	gnutls_record_send(s, str, strlen(str));
}

static void tls_count(gnutls_session_t s)
{
	static unsigned char buf[65536];
	size_t total = 0;
	unsigned long h = 0;
	char reply[64];

	while (total < BIG) {
		ssize_t n = gnutls_record_recv(s, buf, sizeof buf);

		if (n <= 0)
			break;
		h = checksum(buf, (size_t)n, h);
		total += (size_t)n;
	}
	snprintf(reply, sizeof reply, "250 %zu %lu\r\n", total, h);
	tls_send(s, reply);
}

static void tls_server(int fd)
{
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	char buf[512];
	int ret;

	gnutls_certificate_allocate_credentials(&cred);
	if (gnutls_certificate_set_x509_key(cred, tls_srv.chain, tls_srv.nchain,
					    tls_srv.key) < 0)
		_exit(1);
	if (tls_srv.require_client_cert)
		gnutls_certificate_set_x509_trust_file(cred, ca_path, GNUTLS_X509_FMT_PEM);
	gnutls_init(&s, GNUTLS_SERVER);
	gnutls_priority_set_direct(s, tls_srv.priority ? tls_srv.priority : "NORMAL", NULL);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	if (tls_srv.require_client_cert)
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
	gnutls_transport_set_int(s, fd);
	do
		ret = gnutls_handshake(s);
	while (ret < 0 && !gnutls_error_is_fatal(ret));
	if (ret < 0)
		goto out;
	tls_send(s, "220 tls ok\r\n");
	if (tls_srv.count_mode) {
		tls_count(s);
	} else {
		ssize_t n = gnutls_record_recv(s, buf, sizeof buf - 1);

		if (n > 0) {
			buf[n] = '\0';
			tls_send(s, "250 got ");
			tls_send(s, buf);
		}
	}
	while (gnutls_record_recv(s, buf, sizeof buf) > 0)
		;
	gnutls_bye(s, GNUTLS_SHUT_WR);
out:
	gnutls_deinit(s);
	gnutls_certificate_free_credentials(cred);
}

/* A CA in ca_path and a leaf from spec signed by it, served by the child. */
static void serve_tls(const struct cert_spec *spec)
{
	static const struct cert_spec ca_spec = { "Test CA", NULL, false, -DAY,
						  365L * DAY, true };
	const struct cert *list[1] = { &ca };

	make_cert(&ca, &ca_spec, NULL);
	make_cert(&leaf, spec, &ca);
	write_pem("ca.pem", list, 1, ca_path, sizeof ca_path);
	tls_srv.chain[0] = leaf.crt;
	tls_srv.nchain = 1;
	tls_srv.key = leaf.key;
	sess.ca_file = ca_path;
	serve(tls_server);
}

static const struct cert_spec good = { "localhost", "localhost", true, -DAY,
				       30L * DAY, false };

static struct conn *tls_open(void)
{
	struct conn *c = open_ok();

	cr_assert_eq(conn_start_tls(c, &sess, &err), 0, "%d: %s / %s", err.cls,
		     err.text, err.hint);
	cr_assert(conn_is_tls(c));
	expect_line(c, "220 tls ok");
	return c;
}

static void expect_tls_fails(enum err_class cls, const char *part)
{
	struct conn *c = open_ok();

	cr_assert_eq(conn_start_tls(c, &sess, &err), -1);
	cr_expect_eq(err.cls, cls, "class %d: %s", err.cls, err.text);
	if (part)
		cr_expect(strstr(err.text, part), "text: %s", err.text);
	cr_expect_not(conn_is_tls(c));
	conn_close(c);
}

Test(conn, tls_with_a_trusted_ca)
{
	struct conn *c;
	const struct tls_info *i;
	const char *type = NULL;
	char *cb;

	serve_tls(&good);
	sess.host = "localhost";
	c = tls_open();
	i = conn_tls_info(c);
	cr_expect_str_eq(i->version, "TLS1.3");
	cr_expect_neq(i->cipher[0], '\0');
	cr_expect(strstr(i->subject, "CN=localhost"), "%s", i->subject);
	cr_expect(strstr(i->issuer, "CN=Test CA"), "%s", i->issuer);
	cr_expect(strstr(i->not_after, " UTC"), "%s", i->not_after);
	cr_expect(i->verified);
	cr_expect(conn_tls_answered(c));
	cb = conn_channel_binding(c, &type);
	cr_expect_not_null(cb);
	cr_expect_str_eq(type, "tls-exporter");
	free(cb);
	cr_assert_eq(conn_write(c, "EHLO me\r\n", 9, &err), 0);
	cr_assert_eq(conn_flush(c, &err), 0);
	expect_line(c, "250 got EHLO me");
	conn_close(c);
}

Test(conn, tls12_gives_tls_unique_binding)
{
	struct conn *c;
	const char *type = NULL;
	char *cb;

	tls_srv.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.2";
	serve_tls(&good);
	c = tls_open();
	cr_expect_str_eq(conn_tls_info(c)->version, "TLS1.2");
	cb = conn_channel_binding(c, &type);
	cr_expect_not_null(cb);
	cr_expect_str_eq(type, "tls-unique");
	free(cb);
	conn_close(c);
}

Test(conn, tls11_only_server_is_refused)
{
	tls_srv.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0";
	serve_tls(&good);
	expect_tls_fails(ERR_TLS, NULL);
}

Test(conn, ip_literal_matches_ip_san)
{
	struct conn *c;

	serve_tls(&good);
	c = tls_open();
	cr_expect(conn_tls_info(c)->verified);
	conn_close(c);
}

Test(conn, big_write_over_tls_arrives_intact)
{
	struct conn *c;

	tls_srv.count_mode = true;
	serve_tls(&good);
	c = tls_open();
	write_big(c);
	conn_close(c);
}

Test(conn, expired_certificate_is_rejected)
{
	const struct cert_spec sp = { "localhost", "localhost", true, -30L * DAY,
				      -DAY, false };

	serve_tls(&sp);
	sess.host = "localhost";
	expect_tls_fails(ERR_CERT, ": expired");
	cr_expect(strstr(err.text, "certificate for CN=localhost, valid "), "%s", err.text);
	cr_expect(strstr(err.text, "issued by CN=Test CA"), "%s", err.text);
	cr_expect(strstr(err.hint, "--fingerprint="), "%s", err.hint);
}

Test(conn, not_yet_valid_certificate_is_rejected)
{
	const struct cert_spec sp = { "localhost", "localhost", true, DAY,
				      30L * DAY, false };

	serve_tls(&sp);
	expect_tls_fails(ERR_CERT, "not yet valid");
}

Test(conn, wrong_host_is_rejected)
{
	const struct cert_spec sp = { "other.example", "other.example", false, -DAY,
				      30L * DAY, false };

	serve_tls(&sp);
	sess.host = "localhost";
	expect_tls_fails(ERR_CERT, "not valid for localhost (it names other.example)");
}

Test(conn, ip_literal_without_ip_san_is_rejected)
{
	const struct cert_spec sp = { "localhost", "localhost", false, -DAY,
				      30L * DAY, false };

	serve_tls(&sp);
	expect_tls_fails(ERR_CERT, "not valid for 127.0.0.1");
}

Test(conn, untrusted_ca_is_rejected)
{
	const struct cert_spec other = { "Other CA", NULL, false, -DAY, DAY, true };
	struct cert other_ca;
	const struct cert *list[1] = { &other_ca };

	serve_tls(&good);
	make_cert(&other_ca, &other, NULL);
	write_pem("other.pem", list, 1, ca_path, sizeof ca_path);
	expect_tls_fails(ERR_CERT, "issuer not trusted");
}

static void serve_self_signed(void)
{
	const struct cert_spec sp = { "localhost", "localhost", true, -DAY,
				      30L * DAY, false };

	serve_tls(&good);   /* for ca_path */
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	make_cert(&leaf, &sp, NULL);
	tls_srv.chain[0] = leaf.crt;
	tls_srv.key = leaf.key;
	serve(tls_server);
}

Test(conn, self_signed_is_rejected)
{
	serve_self_signed();
	expect_tls_fails(ERR_CERT, "self-signed");
}

Test(conn, matching_pin_is_enough_trust)
{
	struct conn *c;

	serve_self_signed();
	sess.ca_file = NULL;
	sess.have_fingerprint = true;
	fingerprint(&leaf, sess.fingerprint);
	c = tls_open();
	cr_expect(conn_tls_info(c)->verified);
	conn_close(c);
}

Test(conn, pin_mismatch_is_rejected_even_with_insecure)
{
	serve_tls(&good);
	sess.have_fingerprint = true;
	sess.insecure = true;
	memset(sess.fingerprint, 0xab, sizeof sess.fingerprint);
	expect_tls_fails(ERR_CERT, "does not match --fingerprint");
}

Test(conn, insecure_accepts_self_signed_and_still_describes_it)
{
	struct conn *c;
	const struct tls_info *i;

	serve_self_signed();
	sess.insecure = true;
	c = tls_open();
	i = conn_tls_info(c);
	cr_expect_not(i->verified);
	cr_expect(strstr(i->subject, "CN=localhost"), "%s", i->subject);
	cr_expect_neq(i->not_before[0], '\0');
	conn_close(c);
}

Test(conn, incomplete_chain_is_rejected)
{
	const struct cert_spec mid = { "Intermediate CA", NULL, false, -DAY,
				       30L * DAY, true };
	struct cert inter;

	serve_tls(&good);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	make_cert(&inter, &mid, &ca);
	make_cert(&leaf, &good, &inter);
	tls_srv.chain[0] = leaf.crt;   /* the intermediate is not sent */
	tls_srv.key = leaf.key;
	serve(tls_server);
	expect_tls_fails(ERR_CERT, "issuer not trusted");
}

Test(conn, complete_chain_is_accepted)
{
	const struct cert_spec mid = { "Intermediate CA", NULL, false, -DAY,
				       30L * DAY, true };
	struct cert inter;
	struct conn *c;

	serve_tls(&good);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	make_cert(&inter, &mid, &ca);
	make_cert(&leaf, &good, &inter);
	tls_srv.chain[0] = leaf.crt;
	tls_srv.chain[1] = inter.crt;
	tls_srv.nchain = 2;
	tls_srv.key = leaf.key;
	serve(tls_server);
	c = tls_open();
	conn_close(c);
}

Test(conn, missing_ca_file_is_a_config_error)
{
	serve_tls(&good);
	sess.ca_file = "/nonexistent/ca.pem";
	expect_tls_fails(ERR_CONFIG, "/nonexistent/ca.pem");
}

Test(conn, client_certificate_is_presented)
{
	const struct cert_spec cl = { "client", NULL, false, -DAY, 30L * DAY, false };
	struct cert client;
	const struct cert *list[1];
	char cert_path[128], key_path[128];
	gnutls_datum_t d;
	FILE *f;
	struct conn *c;

	tls_srv.require_client_cert = true;
	serve_tls(&good);
	make_cert(&client, &cl, &ca);
	list[0] = &client;
	write_pem("client.pem", list, 1, cert_path, sizeof cert_path);
	snprintf(key_path, sizeof key_path, "%s/client.key", tmpdir);
	cr_assert_eq(gnutls_x509_privkey_export2(client.key, GNUTLS_X509_FMT_PEM, &d), 0);
	f = fopen(key_path, "w");
	cr_assert_not_null(f);
	fwrite(d.data, 1, d.size, f);
	fclose(f);
	gnutls_free(d.data);
	sess.client_cert = cert_path;
	sess.client_key = key_path;
	c = tls_open();
	conn_close(c);
}

Test(conn, starttls_then_tls_dialogue)
{
	struct conn *c;

	serve_tls(&good);
	c = open_ok();
	/* No plaintext exchanged: implicit TLS; the line comes over TLS. */
	cr_assert_eq(conn_wait_readable(c, 0, &err), 0);
	cr_assert_eq(conn_start_tls(c, &sess, &err), 0, "%s", err.text);
	cr_expect_eq(conn_wait_readable(c, 2000, &err), 1);
	expect_line(c, "220 tls ok");
	cr_expect_eq(conn_pending(c), 0);
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

Test(conn, socks5_connect_passes_the_name)
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

Test(conn, proxied_connection_is_never_loopback)
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
	return conn_addr_is_loopback((struct sockaddr *)&a);
}

static bool loopback6(const char *text)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };

	cr_assert_eq(inet_pton(AF_INET6, text, &a.sin6_addr), 1, "%s", text);
	return conn_addr_is_loopback((struct sockaddr *)&a);
}

Test(conn, loopback_is_decided_by_the_address)
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
	cr_expect_not(conn_addr_is_loopback(NULL));
}

Test(conn, direct_connection_to_127_is_loopback)
{
	struct conn *c;

	serve(say_hello);
	c = open_ok();
	cr_expect(conn_is_loopback(c));
	conn_close(c);
}

Test(conn, socks5_refusal_is_unavailable)
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

Test(conn, socks5_auth_required_is_unavailable)
{
	struct conn *c = NULL;

	socks.method_reply[0] = 5;
	socks.method_reply[1] = 0xff;
	serve_socks();
	cr_assert_eq(conn_open(&c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_UNAVAILABLE, "%d: %s", err.cls, err.text);
	cr_expect(strstr(err.text, "requires authentication"), "%s", err.text);
}

Test(conn, socks5_garbage_is_protocol_error)
{
	struct conn *c = NULL;

	socks.method_reply[0] = 5;
	socks.garbage = true;
	serve_socks();
	cr_assert_eq(conn_open(&c, &sess, &err), -1);
	cr_expect_eq(err.cls, ERR_PROTOCOL, "%d: %s", err.cls, err.text);
}

Test(conn, socks5_proxy_down_is_unavailable)
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

Test(conn, close_accepts_null)
{
	conn_close(NULL);
}
