/* test_io.c - the buffered line reader and writer with its deadlines,
 * through the connection, against servers forked on 127.0.0.1 (peer.h). */
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

#include "clock.h"
#include "conn.h"
#include "peer.h"

TestSuite(io, .init = peer_setup, .fini = peer_teardown, .timeout = 60);

/* ---- reading lines ---- */

static void mixed_endings(int fd)
{
	send_str(fd, "220 a\r\n250-b\n250 c\r\n\r\nlone\rcr\n");
	drain(fd);
}

Test(io, lines_end_at_crlf_or_bare_lf)
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

Test(io, lines_split_at_every_byte)
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

Test(io, pending_counts_unread_bytes)
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

Test(io, nul_byte_is_returned_with_the_length)
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

Test(io, line_of_max_length_is_read_longer_is_refused)
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

Test(io, endless_line_fails_fast)
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

Test(io, end_of_stream_mid_line_is_tempfail)
{
	struct conn *c;

	serve(close_mid_line);
	c = open_ok();
	expect_line(c, "220 complete");
	expect_read_error(c, ERR_TEMPFAIL, "in the middle of a line");
	conn_close(c);
}

Test(io, end_of_stream_is_tempfail)
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

Test(io, a_step_bounds_all_its_lines)
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

Test(io, silence_times_out)
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

Test(io, a_line_must_arrive_within_the_timeout)
{
	struct conn *c;

	serve(drip);
	sess.timeout = 1;
	c = open_ok();
	expect_read_error(c, ERR_TEMPFAIL, "timed out");
	conn_close(c);
}

/* ---- writing ---- */

Test(io, writes_of_every_size_arrive_intact)
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

Test(io, writing_to_a_closed_peer_is_tempfail_not_sigpipe)
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

