/* batch_int.h - what the batch files share: batch.c (the loop, the
 * messages and their results), batch_lines.c (input lines as they
 * arrive), batch_conn.c (one session carrying the messages) and
 * batch_pool.c (--connections: worker processes). Not for use outside
 * batch mode. */
#ifndef ENVOI_BATCH_INT_H
#define ENVOI_BATCH_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "error.h"
#include "jobjson.h"
#include "message.h"
#include "smtp.h"

/* ---- batch_lines.c: lines of a descriptor, and whether one is ready -- */

struct batch_lines;

enum batch_read { BATCH_LINE, BATCH_NONE, BATCH_EOF };

/* A reader of fd (not closed by it). Returns NULL out of memory. */
struct batch_lines *batch_lines_new(int fd);

/* The next line, without its line end, in *line (the reader's memory,
 * valid until the next call; a last line without a line end counts).
 * Waits at most timeout_ms for a whole line (-1: as long as it takes):
 * BATCH_NONE when none came by then. A read error counts as the end. */
enum batch_read batch_lines_next(struct batch_lines *l, int timeout_ms, char **line, size_t *len);

void batch_lines_free(struct batch_lines *l);

/* ---- batch.c: the run's facts, the messages, the rate ---------------- */

/* What every process of a run shares (mapped shared with --connections). */
struct batch_shared {
	atomic_uint sessions;    /* sessions opened so far: the last one's number */
	atomic_bool any_reached; /* some message reached a server */
	atomic_bool stop_said;   /* the failure that stopped the run is on stderr */
};

/* One message on its way: built from its line, then waiting, in flight,
 * or waiting again; freed once its result is out. The engine's message
 * points into it, so it never moves. */
struct batch_item {
	struct batch_item *next;
	unsigned long line;
	struct job job;
	struct message m;
	struct session s;        /* the run's, with this message's DSN settings */
	struct smtp_message sm;
	int64_t start;           /* when its line was read, for elapsed_ms */
	int64_t not_before;      /* --retry: not sent again before this (ms) */
	unsigned retries;        /* --retry attempts used */
	unsigned losses;         /* sessions that ended before taking it */
};

/* --rate: at most n messages in any window_ms. */
struct batch_rate {
	int64_t *stamps;         /* when each of the last n messages went */
	size_t n, next, count;
	int64_t window_ms;
};

/* Returns 0, or -1 out of memory; n 0 means no limit. */
int batch_rate_init(struct batch_rate *rt, unsigned n, unsigned window_ms);

/* Milliseconds before the next message may go (0: now); rt may be NULL. */
int64_t batch_rate_delay(const struct batch_rate *rt);

/* A message went (rt may be NULL). */
void batch_rate_note(struct batch_rate *rt);

void batch_rate_free(struct batch_rate *rt);

/* Where a message's end goes: its result is written and it is freed.
 * rc 0: sent; else err. r is NULL when no session carried it;
 * connection 0 then. */
typedef void batch_report_fn(void *ctx, struct batch_item *it, int rc,
			     const struct smtp_result *r, const struct error *err,
			     unsigned connection);

/* The loop over the lines of in_fd: each built, handed to one session
 * (batch_conn.c) and reported on out. A worker's lines carry their
 * number ("N<TAB>json"), its rate is its parent's business and it
 * prints no summary. Returns the exit status (batch.h). */
int batch_loop(struct options *o, char **password, struct batch_shared *sh, int in_fd,
	       FILE *out, bool worker);

/* Whether a line holds nothing but blanks (it is skipped, yet counted). */
bool batch_blank(const char *s, size_t len);

/* Whether the failure is the session's, not the message's: the server
 * never saw a MAIL FROM. */
bool batch_session_failure(enum err_class cls);

/* ---- batch_conn.c: one session at a time, carrying every message ----- */

struct batch_conn;

/* A carrier for o's messages, opening sessions on demand with password
 * (borrowed for its life; NULL: none). rate may be NULL. Outcomes go to
 * report. Returns NULL out of memory. Free with batch_conn_free. */
struct batch_conn *batch_conn_new(const struct options *o, char **password,
				  struct batch_shared *sh, struct batch_rate *rate,
				  batch_report_fn *report, void *ctx);

/* Takes it: submits it as soon as the session can take it, collecting
 * earlier outcomes when the window of transactions is full. */
void batch_conn_push(struct batch_conn *c, struct batch_item *it);

/* Sends everything taken and collects every outcome. */
void batch_conn_drain(struct batch_conn *c);

/* Whether a session is open. */
bool batch_conn_is_open(const struct batch_conn *c);

/* Drains, then ends the session with QUIT (the next message opens a
 * new one). */
void batch_conn_close(struct batch_conn *c);

/* The session failure that stopped the run before any message reached a
 * server, or NULL. */
const struct error *batch_conn_stopped(const struct batch_conn *c);

/* Closes (batch_conn_close) and frees c (NULL ok). */
void batch_conn_free(struct batch_conn *c);

/* ---- batch_pool.c: --connections=N ------------------------------------ */

/* Runs the batch of in_fd over o->connections worker processes, each
 * with one session, results written to stdout as they come. Returns the
 * exit status (batch.h). */
int batch_pool_run(struct options *o, char *password, int in_fd);

#endif
