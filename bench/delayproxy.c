/* delayproxy.c - a TCP proxy on loopback that holds every chunk it reads
 * for DELAY ms before passing it on, in both directions: with 50 ms each
 * way a round trip costs 100 ms, as on a link to another continent.
 *
 *   delayproxy LISTEN_PORTFILE TARGET_HOST TARGET_PORT [DELAY_MS]
 *
 * Listens on 127.0.0.1 on a free port and writes that port to
 * LISTEN_PORTFILE. One child per connection; each child runs a poll loop
 * with a FIFO of timed chunks per direction, so the proxy adds the delay
 * and nothing else (a chunk is forwarded the moment its time comes, not
 * batched behind others). TCP ACKs are not delayed (the proxy ends TCP on
 * each side): only data waits, which is what a round trip costs a
 * client that waits for replies. SIGTERM ends the proxy and its children.
 * Built by bench/run: cc -O2 -o delayproxy delayproxy.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct chunk {
	struct chunk *next;
	int64_t due;    /* ns, monotonic */
	size_t len;     /* 0: end of stream */
	char data[];
};

struct dir {
	int from, to;
	struct chunk *head, *tail;
	int eof_read, done;
};

static int64_t delay_ns = 50 * 1000000LL;

/* Nanoseconds: a millisecond clock would add up to 1 ms to every hop. */
static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void enqueue(struct dir *d, const char *buf, size_t len)
{
	struct chunk *c = malloc(sizeof *c + len);

	if (!c)
		exit(1);
	c->next = NULL;
	c->due = now_ns() + delay_ns;
	c->len = len;
	memcpy(c->data, buf, len);
	if (d->tail)
		d->tail->next = c;
	else
		d->head = c;
	d->tail = c;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Forwards every chunk whose time has come. */
static void deliver(struct dir *d)
{
	int64_t t = now_ns();

	while (d->head && d->head->due <= t) {
		struct chunk *c = d->head;

		if (c->len == 0) {
			shutdown(d->to, SHUT_WR);
			d->done = 1;
		} else if (write_all(d->to, c->data, c->len) < 0) {
			d->done = 1;
		}
		d->head = c->next;
		if (!d->head)
			d->tail = NULL;
		free(c);
	}
}

static void serve(int a, int b)
{
	struct dir d[2] = {{.from = a, .to = b}, {.from = b, .to = a}};
	static char buf[65536];

	while (!(d[0].done && d[1].done)) {
		struct pollfd p[2];
		int64_t next = -1, t = now_ns(), wait;
		struct timespec ts;

		for (int i = 0; i < 2; i++) {
			p[i].fd = d[i].eof_read ? -1 : d[i].from;
			p[i].events = POLLIN;
			p[i].revents = 0;
			if (d[i].head && (next < 0 || d[i].head->due < next))
				next = d[i].head->due;
		}
		wait = next < 0 ? -1 : next <= t ? 0 : next - t;
		ts.tv_sec = wait / 1000000000LL;
		ts.tv_nsec = wait % 1000000000LL;
		if (ppoll(p, 2, wait < 0 ? NULL : &ts, NULL) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				ssize_t n = read(d[i].from, buf, sizeof buf);

				if (n > 0) {
					enqueue(&d[i], buf, (size_t)n);
				} else if (n == 0 || errno != EINTR) {
					d[i].eof_read = 1;
					enqueue(&d[i], buf, 0);
				}
			}
			deliver(&d[i]);
		}
	}
}

static int dial(const char *host, const char *port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	int fd, one = 1;

	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
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

	if (argc < 4) {
		fprintf(stderr, "usage: delayproxy PORTFILE HOST PORT [DELAY_MS]\n");
		return 2;
	}
	if (argc > 4)
		delay_ns = atoi(argv[4]) * 1000000LL;
	setpgid(0, 0);
	signal(SIGTERM, on_term);
	signal(SIGCHLD, SIG_IGN);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 16) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &len) < 0) {
		perror("delayproxy");
		return 1;
	}
	f = fopen(argv[1], "w");
	if (!f)
		return 1;
	fprintf(f, "%u\n", ntohs(sa.sin_port));
	fclose(f);
	for (;;) {
		int c = accept(ls, NULL, NULL), s;

		if (c < 0)
			continue;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (fork() == 0) {
			close(ls);
			signal(SIGTERM, SIG_DFL);
			s = dial(argv[2], argv[3]);
			if (s >= 0)
				serve(c, s);
			_exit(0);
		}
		close(c);
	}
}
