/* batch.h - --batch: one message per JSON line, one JSON result per
 * message on stdout, flushed as soon as it is known.
 *
 * The loop reads, builds (jobjson.h) and reports; how a message reaches
 * the server is a struct batch_sender's business, so that one session
 * carrying every message can replace a session per message without
 * touching the rest.
 */
#ifndef ENVOI_BATCH_H
#define ENVOI_BATCH_H

#include "cli.h"
#include "error.h"
#include "smtp.h"

/* What a sender reports for one message besides r. */
struct batch_sent {
	struct smtp_result r;
	unsigned connection; /* the session that carried it, from 1; 0: none */
	bool reached;        /* the server saw the message's MAIL FROM */
};

struct batch_sender {
	/* Sends m (through msg_prepare) with s, which differs from the run's
	 * session in per-message settings only (DSN). Returns 0, or -1 with
	 * err set; out is filled as far as the send got either way, and the
	 * caller frees out->r with smtp_result_free. */
	int (*send)(struct batch_sender *self, const struct session *s, struct message *m,
		    struct batch_sent *out, struct error *err);
	/* Ends every session and frees the sender. */
	void (*close)(struct batch_sender *self);
};

/* The sender used today: a session of its own for each message (the
 * one-shot smtp_send), the password fetched once and kept for the run.
 * Returns NULL with err set when the password cannot be had. */
struct batch_sender *batch_oneshot_sender(const struct options *o, struct error *err);

/* Runs the batch o->batch with o's message options as defaults. Writes
 * the results and the summary itself. Returns the exit status: 0 when
 * every message was sent, 79 when one was not, or the code of a session
 * failure that stopped the run before any message was sent. */
int batch_run(struct options *o);

#endif
