/* smtp.h - the SMTP engine: one connection, one message.
 *
 * smtp_send takes a prepared message and a session and returns 0 only
 * after the server's 2xx to the end of the data, with every recipient
 * accepted. Everything else is an error of one class (see error.h). The
 * engine never prints and never exits: what a user might see goes
 * through the hooks, and the outcome through struct smtp_result.
 */
#ifndef ENVOI_SMTP_H
#define ENVOI_SMTP_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "error.h"
#include "message.h"
#include "session.h"

/* Transcript directions for the trace hook. */
enum smtp_dir { SMTP_SENT = '>', SMTP_RECEIVED = '<', SMTP_NOTE = '*' };

struct smtp_hooks {
	/* One line of the transcript, without CRLF. Secrets never reach it:
	 * AUTH payloads arrive as "<redacted>". May be NULL. */
	void (*trace)(void *ctx, enum smtp_dir dir, const char *line, size_t len);
	/* Something the user should know although the send goes on (e.g. DSN
	 * asked for but not offered). May be NULL. */
	void (*warn)(void *ctx, const char *text);
	/* Message bytes handed to the connection so far, of total. May be NULL. */
	void (*progress)(void *ctx, uint64_t sent, uint64_t total);
	/* The login is over (accepted or not): the caller may wipe the
	 * password now unless it could need it again. May be NULL. */
	void (*credentials_used)(void *ctx);
	void *ctx;
	void *progress_ctx;
};

struct smtp_rcpt {
	const char *mailbox; /* points into the message */
	const char *reply;   /* the reply on one line, "" when never asked;
	                        owned by the result and shared between
	                        recipients given the same text in a row */
	int code;            /* the server's reply code, 0 when never asked */
};

struct smtp_texts;       /* storage of the recipients' replies */

struct smtp_result {
	struct smtp_rcpt *rcpts; /* To, Cc, Bcc in order; free with smtp_result_free */
	size_t nrcpts;
	struct smtp_texts *texts;
	size_t accepted;
	int final_code;          /* reply to the end of data, 0 when not reached */
	char final_reply[512];
	char queue_id[64];       /* the server's id for the message, "" when unknown */
	const char *mail_from;   /* envelope sender; points into the message */
	char mech[32];           /* SASL mechanism used, "" when none */
	bool tls;
	struct tls_info tls_info;
	char peer[320];
	uint64_t size;           /* message size (SIZE= and bytes sent) */
	bool delivered;          /* the server took the message for someone */
	bool data_sent;          /* the whole message went out (delivery unknown
	                            until final_code says) */
	bool maybe_delivered;    /* delivered, or it may have been (the whole
	                            message went out with no verdict and some
	                            recipient accepted or unanswered): sending
	                            again could deliver it twice */
	/* what the server offers, for --probe */
	char *capabilities;      /* EHLO lines after TLS, '\n'-separated */
	uint64_t size_limit;     /* SIZE, 0 when none */
};

/* Sends m. password may be NULL (no AUTH); it is not kept. Returns 0 or
 * -1 with err set; r is filled as far as the session got either way. */
int smtp_send(const struct session *s, struct message *m, const char *password,
	      const struct smtp_hooks *hooks, struct smtp_result *r, struct error *err);

/* Connects, negotiates TLS, logs in when a user is set, records what the
 * server offers in r, and quits without sending. Returns 0 or -1. */
int smtp_probe(const struct session *s, const char *password, const struct smtp_hooks *hooks,
	       struct smtp_result *r, struct error *err);

void smtp_result_free(struct smtp_result *r);

#endif
