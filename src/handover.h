/* handover.h - a prepared message handed to the server, and what
 * follows: the send log line, the queue when the server could not take
 * it for now, and the queue's own commands (--flush, --queue-list).
 * Used by main (with --queue) and by sendmail mode. */
#ifndef ENVOI_HANDOVER_H
#define ENVOI_HANDOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "error.h"
#include "smtp.h"

/* Sends o->msg (after msg_prepare) with o->sess, the password fetched
 * for this send and wiped after. Returns 0 or -1 with err; r is filled
 * as far as the session got (free with smtp_result_free). */
int handover_send(struct options *o, const char *password, struct smtp_result *r,
		  struct error *err);

/* Whether a failure of this class is kept in the queue: the server could
 * not be reached or deferred (68, 69, 75). */
bool handover_queueable(enum err_class cls);

/* The queue directory o uses: --queue-dir, else queue_default_dir's.
 * Returns 0 with the path in buf, or -1 when there is none. */
int handover_queue_dir(const struct options *o, char *buf, size_t size);

/* Puts o->msg (as it would be sent) into the queue with its envelope and
 * account. Returns 0 with the id in id (64 bytes), or -1 with err. */
int handover_enqueue(const struct options *o, char *id, struct error *err);

/* Puts the message in fd (a file, read from its start) into the queue
 * with this envelope (sendmail -bs). why: the failure that kept it.
 * Returns 0 with the id in id (64 bytes), or -1 with err. */
int handover_enqueue_file(const struct options *o, const char *sender, char *const *rcpts,
			  size_t n, int fd, const char *why, char *id, struct error *err);

/* The log line of one outcome for a message known by its envelope
 * (sendmail -bs): cls is the class name ("sent" on success). */
void handover_log_envelope(const struct options *o, const char *outcome, const char *cls,
			   int exit_code, const char *sender, const char *const *rcpts, size_t n,
			   uint64_t size, const char *queue_id);

/* Writes the log line of one outcome when o->log is set. r may be NULL;
 * queue_id overrides the server's id when not NULL. */
void handover_log(const struct options *o, const char *outcome, int exit_code,
		  const struct error *err, const struct smtp_result *r, const char *queue_id);

/* --flush: sends every queued message. Returns the exit code: 0 all
 * sent, 79 some moved to failed/, 75 some still queued, or the code of
 * an error that stopped it (printed). */
int handover_flush(struct options *o);

/* --queue-list (sendmail_style: "Mail queue is empty" when it is).
 * Returns the exit code. */
int handover_list(const struct options *o, bool sendmail_style);

#endif
