/* smtp_int.h - what the engine's files share (smtp.c: the session;
 * smtp_io.c: commands, replies and the queue of expected replies;
 * smtp_auth.c: AUTH; smtp_transact.c and smtp_rcpt.c: one transaction;
 * smtp_window.c: the transactions in flight). Not for use outside the
 * engine. */
#ifndef ENVOI_SMTP_INT_H
#define ENVOI_SMTP_INT_H

#include "caps.h"
#include "reply.h"
#include "smtp.h"

struct sasl;
struct smtp_window;
struct txn;

/* The engine's states; state_names gives each its name for the trace and
 * for "no reply to X came". */
enum smtp_state {
	S_IDLE, S_CONNECT, S_GREETING, S_EHLO, S_HELO, S_STARTTLS, S_TLS, S_AUTH, S_READY,
	S_MAIL, S_RCPT, S_DATA, S_CONTENT, S_END_OF_DATA, S_RSET, S_QUIT, S_CLOSED,
	S_STATE_COUNT
};

/* One reply the server owes, in the order the commands went out. */
struct expect {
	enum smtp_state what;   /* the command it answers */
	size_t rcpt;            /* for S_RCPT: which recipient */
	struct txn *txn;        /* the transaction it belongs to, NULL: none */
};

/* Commands sent and replies awaited: at most EXPECT_MAX in flight.
 * Before more commands go out the engine reads until at most
 * SMTP_OWED_MAX are owed (and a slice of RCPT_SLICE follows at most), so
 * this never fills. A server answers as it reads and stops reading while
 * its replies are not taken: 1024 short replies (some 40 KB at most with
 * the texts servers send) fit the socket buffers on both sides, so a
 * client blocked writing never waits on a server blocked writing. */
#define EXPECT_MAX 2048
#define SMTP_OWED_MAX 1024

/* smtp_submit's window: at most SMTP_WINDOW transactions submitted and
 * not collected, and at most SMTP_WINDOW_BYTES of message data sent
 * whose verdict is unknown (what a lost connection leaves in doubt). 256
 * one-recipient messages owe 1024 replies (RSET, MAIL, RCPT, BDAT), the
 * most SMTP_OWED_MAX allows. */
#define SMTP_WINDOW 256
#define SMTP_WINDOW_BYTES (8u * 1024 * 1024)

struct smtp {
	const struct smtp_params *p;
	const struct smtp_hooks *hooks;
	struct smtp_info *info;
	struct transport *t;
	struct reply reply;
	enum smtp_state state;
	struct caps caps;
	bool redact;        /* replies are AUTH payloads */
	char helo[256];
	/* AUTH sent with the first transaction's envelope, its reply not
	 * yet read */
	struct sasl *auth_pending;
	/* QUIT ends every session that reached the greeting (RFC 5321
	 * 4.1.1.10), but only while the dialogue is known to be in step:
	 * every reply owed has been read, the server expects a command, and
	 * nothing failed half-way. Else the connection is just dropped. */
	struct expect expect[EXPECT_MAX];
	size_t expect_head, owed;
	bool server_waits;  /* it expects message data or a SASL response */
	bool broken;        /* a read, a write or a TLS handshake failed */
	bool in_transaction; /* MAIL accepted, no end of data or RSET since */
	bool dsn_warned;    /* the user knows DSN is not offered */
	bool login_refused; /* a pipelined AUTH was refused: no more transactions */
	struct smtp_window *window; /* smtp_submit's transactions, NULL until one */
	struct txn *owner;  /* the transaction whose commands are being queued */
	struct txn *last;   /* the transaction whose MAIL went out last, while
	                       it is pending: only its replies say whether the
	                       server holds a transaction open */
	uint64_t bytes_unjudged; /* message data sent, verdict not yet read */
	/* why the session ended (the first failure that broke it) */
	struct error ended;
	bool ended_set;
	bool ended_by_421;  /* the server said 421: commands after the one it
	                       answered were not processed */
	bool write_failed;  /* a write failed: replies already sent may still
	                       be read */
	bool read_failed;   /* a read failed (or a 421 came): nothing more to read */
};

/* smtp_io.c. Every function that can fail returns 0 or -1 with err
 * filled, and marks the session broken when the transport failed. */
extern const char *const smtp_state_names[S_STATE_COUNT];
/* The one place the state changes; the hooks hear each transition. */
void smtp_set_state(struct smtp *x, enum smtp_state to);
void smtp_trace(struct smtp *x, enum smtp_dir dir, const char *line, size_t len);
void smtp_note(struct smtp *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int smtp_queue_line(struct smtp *x, const char *line, const char *shown_as,
		    enum smtp_state awaited, struct error *err);
int smtp_queue_cmd(struct smtp *x, struct error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Adds a reply to await (what: the command it answers). */
int smtp_expect(struct smtp *x, enum smtp_state what, size_t rcpt, struct error *err);
int smtp_flush(struct smtp *x, struct error *err);
int smtp_write(struct smtp *x, const void *buf, size_t len, struct error *err);
/* Reads the oldest awaited reply into x->reply; *e says what it answers. */
int smtp_read_reply(struct smtp *x, struct expect *e, struct error *err);
/* Fills err with class, sentence and the reply just read; returns -1. */
int smtp_fail(struct smtp *x, struct error *err, enum err_class cls, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
const char *smtp_peer(const struct smtp *x);

/* Records why the session ended, once (the first reason counts). */
void smtp_session_ended(struct smtp *x, const struct error *why);

/* smtp_window.c: frees the transactions in flight (NULL ok). */
void smtp_window_free(struct smtp_window *w);

/* smtp_transact.c: the window's transactions. txn_begin writes t's
 * commands (and its data when the server allows it without waiting),
 * reading replies as they come; t->done once its outcome is known.
 * smtp_read_next reads the oldest reply owed and hands it to its
 * transaction: 0, or -1 when the session ended (x->ended says why).
 * txn_session_ended settles a transaction the session ended under. */
void txn_begin(struct txn *t);
int smtp_read_next(struct smtp *x);
void txn_session_ended(struct txn *t);

/* smtp_rcpt.c: r for a transaction for m that never started (every
 * recipient unasked); err keeps why unless r cannot be made (out of
 * memory). Returns -1. The result is made here, not ahead of the
 * session: a result made "just in case" and freed later leaves a hole
 * in the heap as big as its recipients' states. */
int smtp_result_unsent(struct smtp_result *r, const struct smtp_message *m, struct error *err);

/* smtp_transact.c: checks m against the offer before anything is sent
 * (smtp_open checks the first message before the login). */
int smtp_check_message(struct smtp *x, const struct smtp_message *m, struct error *err);

/* smtp_auth.c: logs in when p->user is set (with may_defer an AUTH
 * PLAIN may be left in x->auth_pending for the envelope to read); the
 * pending login's reply, *refused when it was turned down while the
 * dialogue stayed in step. */
int smtp_authenticate(struct smtp *x, const char *password, bool may_defer, struct error *err);
int smtp_finish_pending_auth(struct smtp *x, struct error *err, bool *refused);

#endif
