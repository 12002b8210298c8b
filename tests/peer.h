/* peer.h - what the transport suites (test_net.c, test_io.c, test_tls.c)
 * share: a one-connection server forked on 127.0.0.1, the parameters
 * the connection is opened with, and line helpers. */
#ifndef ENVOI_TEST_PEER_H
#define ENVOI_TEST_PEER_H

#include <stddef.h>
#include <sys/types.h>

#include "conn.h"
#include "error.h"

typedef void (*serve_fn)(int fd);

extern pid_t child;             /* the server, -1 when none */
extern char tmpdir[64];         /* a fresh directory per test */
extern struct conn_params sess; /* 127.0.0.1, timeout 5 s, reset per test */
extern struct error err;

/* Suite init and fini: fresh sess, err and tmpdir; kill the child,
 * remove tmpdir. */
void peer_setup(void);
void peer_teardown(void);

/* A listening socket on 127.0.0.1 (port 0); *port gets the port. */
int listen_any(unsigned *port, int backlog);

/* Starts fn on the first connection to a fresh port; sess.port gets it. */
void serve(serve_fn fn);

void send_str(int fd, const char *s);
/* Reads until a '\n' or EOF; returns the bytes read. */
size_t recv_line(int fd, char *buf, size_t size);
void drain(int fd);

struct conn *open_ok(void);
void expect_line(struct conn *c, const char *want);
void expect_read_error(struct conn *c, enum err_class cls, const char *part);

/* Servers for serve(): one that closes at once, one that reads and never
 * answers, one that reads PEER_BIG bytes and answers "250 COUNT SUM". */
void close_at_once(int fd);
void silent(int fd);
#define PEER_BIG (3 * 1024 * 1024 + 17)
void count_bytes(int fd);

/* A running checksum of n bytes, h the sum so far. */
unsigned long checksum(const unsigned char *p, size_t n, unsigned long h);

/* Writes PEER_BIG bytes to c in writes of every size, expects
 * count_bytes's answer. */
void write_big(struct conn *c);

#endif
