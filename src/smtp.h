/* smtp.h - the SMTP engine: a session that carries any number of
 * transactions.
 *
 *   smtp_open      connect, greeting, EHLO, STARTTLS, AUTH
 *   smtp_transact  MAIL, RCPT, DATA or BDAT for one message (pipelined
 *                  through a queue of expected replies when offered)
 *   smtp_reset     RSET, after a failed transaction when the session goes on
 *   smtp_quit      QUIT (when the dialogue is in step) and close
 *   smtp_abort     close without a word
 *
 * The engine speaks over a struct transport (transport.h), never prints
 * and never exits: what a user might see goes through the hooks, what the
 * server offers into struct smtp_info, one message's outcome into struct
 * smtp_result. Errors are of one class each (error.h).
 */
#ifndef ENVOI_SMTP_H
#define ENVOI_SMTP_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "error.h"
#include "session.h"
#include "sink.h"
#include "transport.h"

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
	/* Each change of the engine's state, by name (for -v). May be NULL. */
	void (*state)(void *ctx, const char *from, const char *to);
	void *ctx;
	void *progress_ctx;
};

/* What the engine needs to know: how to reach the server and how to talk
 * to it. Read-only while a session lasts; the strings are the caller's. */
struct smtp_params {
	const struct transport_ops *transport;
	void *transport_ctx;    /* handed to transport->open */
	const char *host;       /* for messages and hints */
	unsigned port;
	enum tls_mode tls;
	bool insecure;          /* the user accepts an unverified certificate */
	const char *user;       /* NULL: no AUTH */
	const char *auth_mech;  /* forced SASL mechanism; NULL = best offered */
	const char *helo;       /* EHLO name; NULL = this host's FQDN */
	unsigned timeout;       /* seconds per step */
	unsigned dsn_notify;    /* enum dsn_notify_bits, 0 = not asked */
	enum dsn_ret dsn_ret;
};

/* What the connection turned out to be, filled by smtp_open as far as it
 * got. Free with smtp_info_free. */
struct smtp_info {
	char peer[320];
	bool tls;
	struct tls_info tls_info;
	char mech[32];           /* SASL mechanism used, "" when none */
	char *capabilities;      /* EHLO lines after TLS, '\n'-separated */
	uint64_t size_limit;     /* SIZE, 0 when none */
};

/* One message: its envelope, its size, and how to write it. */
struct smtp_message {
	const char *from;              /* envelope sender */
	const char *const *rcpts;      /* envelope recipients, in order; */
	/* when rcpts is NULL, recipient i is rcpt(rcpt_ctx, i) instead: a
	 * long list kept elsewhere then needs no array of pointers */
	const char *(*rcpt)(const void *ctx, size_t i);
	const void *rcpt_ctx;
	size_t nrcpts;
	uint64_t size;                 /* exactly what write produces */
	bool eightbit;                 /* BODY=8BITMIME */
	bool smtputf8;                 /* some address is UTF-8 */
	bool utf8_headers;             /* a UTF-8 address in the header */
	/* Writes the message (CRLF lines, not dot-stuffed) into out.
	 * Returns 0 or -1 with out->err filled. */
	int (*write)(void *ctx, struct sink *out);
	void *ctx;
};

enum smtp_rcpt_status {
	SMTP_RCPT_UNASKED,      /* the transaction ended before its RCPT */
	SMTP_RCPT_NOT_SENT,     /* refused here: the server could not take it */
	SMTP_RCPT_ACCEPTED,
	SMTP_RCPT_REFUSED,
};

/* One recipient's outcome, as smtp_result_rcpt gives it. */
struct smtp_rcpt {
	const char *mailbox;    /* the message's (see struct smtp_result) */
	const char *reply;      /* the reply on one line, "" when never asked;
	                           owned by the result and shared between
	                           recipients given the same text */
	int code;               /* the reply code, 0 when never asked */
	enum smtp_rcpt_status status;
};

struct smtp_rcpt_state;         /* a recipient's code, status, reply: 4 bytes */
struct smtp_texts;              /* storage of the result's strings */

/* One message's outcome; free with smtp_result_free. Owns its reply
 * texts; the recipients' mailboxes are not copied but read where the
 * message keeps them (smtp_message's rcpts or rcpt_ctx), which must
 * outlive the result. Read each recipient with smtp_result_rcpt. */
struct smtp_result {
	struct smtp_rcpt_state *rcpt_state;
	size_t nrcpts;
	const char *const *rcpt_v;      /* the message's rcpts, rcpt, rcpt_ctx */
	const char *(*rcpt_get)(const void *ctx, size_t i);
	const void *rcpt_ctx;
	struct smtp_texts *texts;
	size_t accepted;
	int final_code;          /* reply to the end of data, 0 when not reached */
	char final_reply[512];
	char queue_id[64];       /* the server's id for the message, "" when unknown */
	const char *mail_from;   /* envelope sender, owned; NULL before MAIL */
	uint64_t size;           /* message size (SIZE= and bytes sent) */
	bool delivered;          /* the server took the message for someone */
	bool data_sent;          /* the whole message went out */
	bool maybe_delivered;    /* delivered, or it may have been: sending
	                            again could deliver it twice */
	bool session_lost;       /* the session ended during this transaction
	                            (421, connection lost): without
	                            maybe_delivered the message was not taken
	                            and may go over a new session */
};

struct smtp;

/* Connects and gets the session ready for transactions: greeting, EHLO,
 * STARTTLS as p->tls says, AUTH when p->user is set (password may be
 * NULL then, meaning empty; it is not kept past the login). first, when
 * not NULL, is the message the session is opened for: it is checked
 * against what the server offers before the login (a message the server
 * cannot take costs none), and AUTH PLAIN may ride in its pipelined
 * group. Returns 0 and *out, or -1 with err set and the connection
 * already closed (QUIT sent when the dialogue was in step). info (all
 * zero or from an earlier smtp_open) is filled as far as the session got
 * either way; free it with smtp_info_free. p, hooks and info are
 * borrowed until smtp_quit or smtp_abort. */
int smtp_open(struct smtp **out, const struct smtp_params *p, const char *password,
	      const struct smtp_message *first, const struct smtp_hooks *hooks,
	      struct smtp_info *info, struct error *err);

/* r as it stands before a transaction for m: every recipient unasked.
 * Returns 0 or -1 (out of memory). */
int smtp_result_init(struct smtp_result *r, const struct smtp_message *m, struct error *err);

/* Recipient i of m's envelope (i < m->nrcpts); the string is m's. */
const char *smtp_message_rcpt(const struct smtp_message *m, size_t i);

/* Recipient i's outcome (i < r->nrcpts): the strings are valid while r
 * is and the message's recipients are (see struct smtp_result). */
struct smtp_rcpt smtp_result_rcpt(const struct smtp_result *r, size_t i);

/* One transaction for m (r is initialised here). Returns 0 when the server took the message for
 * every recipient; else -1 with err set (87 when only some were refused).
 * r is filled as far as it got and owns its strings. The session may go
 * on afterwards when smtp_in_step says so (after a failure, smtp_reset
 * first). */
int smtp_transact(struct smtp *x, const struct smtp_message *m, struct smtp_result *r,
		  struct error *err);

/* ---- many transactions in flight (batch) -------------------------------
 * smtp_submit starts a transaction and returns without waiting for its
 * replies where the server allows it (PIPELINING with CHUNKING; without
 * CHUNKING the next MAIL may follow the end of data); smtp_collect hands
 * the outcomes back in submission order. The engine reads replies while
 * it writes, so no window size and no recipient count can deadlock. A
 * failed transaction is isolated: the next one starts from a clean
 * state (RSET where the server's state is not known to be clean). */

/* True when smtp_submit may be called without waiting: the session is
 * usable and the window of transactions in flight is not full. */
bool smtp_can_submit(const struct smtp *x);

/* Transactions submitted and not yet collected. */
size_t smtp_pending(const struct smtp *x);

/* True when a transaction is pending and smtp_collect would not wait:
 * the oldest one's outcome is known. */
bool smtp_collect_ready(const struct smtp *x);

/* Starts a transaction for m. m and everything it points to are borrowed
 * until its outcome is collected (its recipients until that result is
 * freed); tag is handed back with it. May read
 * replies of earlier transactions while it writes (kept for
 * smtp_collect). Returns 0 (m is pending), or -1 with err set when the
 * session cannot take m (m is then not pending and was not taken: the
 * caller collects what is pending, then ends the session). */
int smtp_submit(struct smtp *x, const struct smtp_message *m, void *tag, struct error *err);

/* Waits for the oldest pending transaction's outcome: returns 0 when the
 * server took it for every recipient, else -1 with err set (87 when only
 * some were refused). *tag is what smtp_submit was given; r is
 * initialised here, filled as far as it got, and freed by the caller with
 * smtp_result_free. r->session_lost says the session ended during it.
 * Returns -1 with ERR_SOFTWARE when nothing is pending. */
int smtp_collect(struct smtp *x, void **tag, struct smtp_result *r, struct error *err);

/* RSET: ends whatever transaction the server holds open. Returns 0 or -1
 * (the session is then unusable: smtp_abort it). */
int smtp_reset(struct smtp *x, struct error *err);

/* True when every reply owed has been read and the server expects a
 * command: the session may carry another transaction. */
bool smtp_in_step(const struct smtp *x);

/* Ends the session: QUIT without waiting when in step, else just drops
 * the connection. Frees x (NULL ok). */
void smtp_quit(struct smtp *x);

/* Drops the connection without a word. Frees x (NULL ok). */
void smtp_abort(struct smtp *x);

/* open + transact + quit. */
int smtp_send(const struct smtp_params *p, const struct smtp_message *m, const char *password,
	      const struct smtp_hooks *hooks, struct smtp_info *info, struct smtp_result *r,
	      struct error *err);

/* open + quit: what the server offers, and whether the login works. */
int smtp_probe(const struct smtp_params *p, const char *password, const struct smtp_hooks *hooks,
	       struct smtp_info *info, struct error *err);

/* Frees what r owns; r may be all zero. */
void smtp_result_free(struct smtp_result *r);
void smtp_info_free(struct smtp_info *info);

#endif
