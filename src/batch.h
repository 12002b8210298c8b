/* batch.h - --batch: one message per JSON line, one JSON result per
 * message on stdout, flushed as soon as it is known.
 *
 * One session carries the messages (batch_conn.c), several in flight
 * where the engine allows it; --connections=N runs N such sessions in
 * worker processes (batch_pool.c).
 */
#ifndef ENVOI_BATCH_H
#define ENVOI_BATCH_H

#include "cli.h"

/* Runs the batch o->batch with o's message options as defaults. Writes
 * the results and the summary itself. Returns the exit status: 0 when
 * every message was sent, 79 when one was not, or the code of a session
 * failure that stopped the run before any message was sent. */
int batch_run(struct options *o);

#endif
