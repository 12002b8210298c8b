/* smtp_io.c - the engine's voice and ears: the state setter, the
 * transcript, commands queued on the transport, and replies read against
 * the queue of expected replies (libESMTP's "commands sent / replies
 * awaited": each command queued adds what it will be answered by, each
 * reply read takes the oldest). */
#include "smtp_txn.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *const smtp_state_names[S_STATE_COUNT] = {
	[S_IDLE] = "idle", [S_CONNECT] = "connect", [S_GREETING] = "the greeting",
	[S_EHLO] = "EHLO", [S_HELO] = "HELO", [S_STARTTLS] = "STARTTLS",
	[S_TLS] = "the TLS handshake", [S_AUTH] = "AUTH", [S_READY] = "ready",
	[S_MAIL] = "MAIL FROM", [S_RCPT] = "RCPT TO", [S_DATA] = "DATA",
	[S_CONTENT] = "the message data", [S_END_OF_DATA] = "the end of the data",
	[S_RSET] = "RSET", [S_QUIT] = "QUIT", [S_CLOSED] = "closed",
};

void smtp_set_state(struct smtp *x, enum smtp_state to)
{
	if (x->state != to && x->hooks && x->hooks->state)
		x->hooks->state(x->hooks->ctx, smtp_state_names[x->state], smtp_state_names[to]);
	x->state = to;
}

void smtp_trace(struct smtp *x, enum smtp_dir dir, const char *line, size_t len)
{
	if (x->hooks && x->hooks->trace)
		x->hooks->trace(x->hooks->ctx, dir, line, len);
}

void smtp_note(struct smtp *x, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0)
		smtp_trace(x, SMTP_NOTE, buf, strnlen(buf, sizeof buf));
}

const char *smtp_peer(const struct smtp *x)
{
	return x->t->ops->peer(x->t);
}

void smtp_session_ended(struct smtp *x, const struct error *why)
{
	x->broken = true;
	if (x->ended_set)
		return;
	x->ended = *why;
	x->ended_set = true;
}

int smtp_write(struct smtp *x, const void *buf, size_t len, struct error *err)
{
	if (x->t->ops->write(x->t, buf, len, err) == 0)
		return 0;
	x->write_failed = true;
	smtp_session_ended(x, err);
	return -1;
}

int smtp_flush(struct smtp *x, struct error *err)
{
	if (x->t->ops->flush(x->t, err) == 0)
		return 0;
	x->write_failed = true;
	smtp_session_ended(x, err);
	return -1;
}

/* Adds a reply to await, owed to the transaction queueing commands. */
int smtp_expect(struct smtp *x, enum smtp_state what, size_t rcpt, struct error *err)
{
	if (x->owed == EXPECT_MAX) {
		err_set(err, ERR_SOFTWARE, "more than %u SMTP replies awaited", EXPECT_MAX);
		smtp_session_ended(x, err);
		return -1;
	}
	x->expect[(x->expect_head + x->owed) % EXPECT_MAX] = (struct expect){what, rcpt, x->owner};
	x->owed++;
	if (x->owner)
		x->owner->owed++;
	return 0;
}

/* Queues one line (nothing is sent before smtp_flush), shown in the
 * transcript as shown_as, or as itself when shown_as is NULL; the reply
 * it earns is awaited as awaited's (S_IDLE: none). */
int smtp_queue_line(struct smtp *x, const char *line, const char *shown_as,
		    enum smtp_state awaited, struct error *err)
{
	const char *shown = shown_as ? shown_as : line;

	smtp_trace(x, SMTP_SENT, shown, strlen(shown));
	if (smtp_write(x, line, strlen(line), err) < 0 || smtp_write(x, "\r\n", 2, err) < 0)
		return -1;
	return awaited == S_IDLE ? 0 : smtp_expect(x, awaited, 0, err);
}

int smtp_queue_cmd(struct smtp *x, struct error *err, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line)
		return err_set(err, ERR_SOFTWARE, "SMTP command too long");
	return smtp_queue_line(x, line, NULL, x->state, err);
}

/* Fills err with a sentence and the reply just read: the server's own
 * words. */
int smtp_fail(struct smtp *x, struct error *err, enum err_class cls, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->text, sizeof err->text, fmt, ap);
	va_end(ap);
	err->cls = cls;
	err->hint[0] = '\0';
	reply_oneline(&x->reply, line, sizeof line);
	err_reply(err, line, strlen(line));
	return -1;
}

/* A reply that never came: the transport's reason (why), and what was
 * awaited. When it was the reply to the end of the data, the server may
 * have taken the message: the caller must know before sending it again. */
static int lost_reply(enum smtp_state awaited, const struct error *why, struct error *err)
{
	if (awaited == S_GREETING)
		err_set(err, why->cls, "%s; no greeting came", why->text);
	else
		err_set(err, why->cls, "%s; no reply to %s came", why->text, smtp_state_names[awaited]);
	if (awaited == S_END_OF_DATA)
		err_hint(err, "the server may have taken the message all the same: check before "
			 "sending it again");
	else if (why->hint[0])
		err_hint(err, "%s", why->hint);
	return -1;
}

/* Reads lines until one reply is complete. */
static int read_lines(struct smtp *x, enum smtp_state awaited, struct error *err)
{
	reply_reset(&x->reply);
	x->t->ops->start_step(x->t);  /* the whole reply within one timeout, not each line */
	do {
		struct error why = {0};
		const char *line;
		size_t len;

		if (x->t->ops->read_line(x->t, &line, &len, &why) < 0)
			return lost_reply(awaited, &why, err);
		if (x->redact && len > 4 && strncmp(line, "334 ", 4) == 0)
			smtp_trace(x, SMTP_RECEIVED, "334 <redacted>", 14);
		else
			smtp_trace(x, SMTP_RECEIVED, line, len);
		if (reply_feed(&x->reply, line, len, err) < 0)
			return -1;
	} while (!x->reply.done);
	return 0;
}

/* Reads the oldest awaited reply into x->reply and says in *e which it
 * was. A 421 at any point means the server is going away: a temporary
 * failure whatever was asked. A reply cut short or malformed leaves the
 * dialogue out of step (x->broken). */
int smtp_read_reply(struct smtp *x, struct expect *e, struct error *err)
{
	struct expect none = {S_IDLE, 0, NULL};

	*e = x->owed ? x->expect[x->expect_head] : none;
	x->broken = true;
	if (read_lines(x, e->what, err) < 0) {
		x->read_failed = true;
		smtp_session_ended(x, err);
		return -1;
	}
	if (x->reply.code == 421) {
		smtp_fail(x, err, ERR_TEMPFAIL, "the server is closing the connection");
		x->ended_by_421 = x->read_failed = true;
		/* read after a failed write, it says why the write failed */
		x->ended_set &= !x->write_failed;
		smtp_session_ended(x, err);
		return -1;
	}
	/* a reply read after a failed write leaves the session ended */
	x->broken = x->ended_set;
	if (x->owed) {
		x->expect_head = (x->expect_head + 1) % EXPECT_MAX;
		x->owed--;
		if (e->txn)
			e->txn->owed--;
	}
	return 0;
}
