/* smtp_transact.c - one transaction (RFC 5321 3.3, 2920, 3030, 6531,
 * 3461): MAIL, RCPT, then DATA or BDAT. With PIPELINING the commands go
 * out in groups and each reply is matched to its command through the
 * queue of expected replies; the first failure seen is the outcome. */
#include "smtp_txn.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dotstuff.h"
#include "queueid.h"

/* Messages up to this size go in the same write as the envelope when the
 * server pipelines (BDAT); bigger ones wait for the envelope's replies, so
 * that nothing large is sent to recipients that were refused. */
#define PIPELINE_DATA_MAX (256u * 1024)

/* Where an error goes: the outcome while there is none; after that the
 * first failure seen is the one that counts. */
static struct error *where(struct txn *t)
{
	return t->failed ? &t->scratch : t->err;
}

static int failed(struct txn *t)
{
	t->failed = true;
	return -1;
}

/* Fills the outcome (once) with a sentence and the reply just read. */
static int refuse(struct txn *t, enum err_class cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int refuse(struct txn *t, enum err_class cls, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (t->failed)
		return -1;
	va_start(ap, fmt);
	vsnprintf(t->err->text, sizeof t->err->text, fmt, ap);
	va_end(ap);
	t->err->cls = cls;
	t->err->hint[0] = '\0';
	reply_oneline(&t->x->reply, line, sizeof line);
	err_reply(t->err, line, strlen(line));
	return failed(t);
}

/* ---- what the message needs ----------------------------------------- */

static bool is_ascii(const char *s)
{
	while (*s && (unsigned char)*s < 0x80)
		s++;
	return !*s;
}

/* Checks m against what the server offers, before anything is sent. */
static int check_offer(struct smtp *x, const struct smtp_message *m, struct error *err)
{
	if (x->caps.size && m->size > x->caps.size) {
		err_set(err, ERR_MESSAGE, "the message is %llu bytes, and %s accepts at most %llu",
			(unsigned long long)m->size, smtp_peer(x), (unsigned long long)x->caps.size);
		err_hint(err, "send smaller attachments, or a link to them");
		return -1;
	}
	if (m->eightbit && !x->caps.eightbitmime)
		return err_set(err, ERR_MESSAGE, "the message file holds 8-bit data and the server "
			       "does not offer 8BITMIME");
	if (m->smtputf8 && !x->caps.smtputf8 && !is_ascii(m->from))
		return err_set(err, ERR_SENDER, "the sender %s needs SMTPUTF8, which the server does "
			       "not offer", m->from);
	if (m->utf8_headers && !x->caps.smtputf8) {
		err_set(err, ERR_MESSAGE, "the message has a UTF-8 address in its header, which "
			"needs SMTPUTF8, and %s does not offer it", smtp_peer(x));
		err_hint(err, "write that address in ASCII, or send it as Bcc");
		return -1;
	}
	return 0;
}

int smtp_check_message(struct smtp *x, const struct smtp_message *m, struct error *err)
{
	if (check_offer(x, m, err) < 0)
		return -1;
	if ((x->p->dsn_notify || x->p->dsn_ret) && !x->caps.dsn && !x->dsn_warned && x->hooks &&
	    x->hooks->warn)
		x->hooks->warn(x->hooks->ctx, "the server does not offer DSN: no delivery notifications will be asked for");
	x->dsn_warned = true;
	return 0;
}

/* ---- envelope ------------------------------------------------------- */

static int queue_mail(struct txn *t)
{
	struct smtp *x = t->x;
	char params[128] = "";
	size_t n = 0;

	if (x->caps.size)
		n += (size_t)snprintf(params + n, sizeof params - n, " SIZE=%llu", (unsigned long long)t->m->size);
	if (t->m->eightbit)
		n += (size_t)snprintf(params + n, sizeof params - n, " BODY=8BITMIME");
	if (t->m->smtputf8 && x->caps.smtputf8)
		n += (size_t)snprintf(params + n, sizeof params - n, " SMTPUTF8");
	if (x->caps.dsn && x->p->dsn_ret)
		snprintf(params + n, sizeof params - n, " RET=%s", x->p->dsn_ret == DSN_RET_FULL ? "FULL" : "HDRS");
	smtp_set_state(x, S_MAIL);
	return smtp_queue_cmd(x, where(t), "MAIL FROM:<%s>%s", t->m->from, params) < 0 ? failed(t) : 0;
}

static int queue_rcpt(struct txn *t, size_t i)
{
	struct smtp *x = t->x;
	unsigned b = x->p->dsn_notify;
	char notify[64] = "", line[1024];

	if (x->caps.dsn && b)
		snprintf(notify, sizeof notify, " NOTIFY=%s%s%s%s", b & DSN_NEVER ? "NEVER" : "",
			 b & DSN_SUCCESS ? "SUCCESS" : "",
			 b & DSN_FAILURE ? (b & DSN_SUCCESS ? ",FAILURE" : "FAILURE") : "",
			 b & DSN_DELAY ? (b & (DSN_SUCCESS | DSN_FAILURE) ? ",DELAY" : "DELAY") : "");
	smtp_set_state(x, S_RCPT);
	if ((size_t)snprintf(line, sizeof line, "RCPT TO:<%s>%s", smtp_message_rcpt(t->m, i), notify) >= sizeof line)
		return err_set(where(t), ERR_SOFTWARE, "SMTP command too long") < 0 ? failed(t) : -1;
	if (smtp_queue_line(x, line, NULL, S_IDLE, where(t)) < 0 || smtp_expect(x, S_RCPT, i, where(t)) < 0)
		return failed(t);
	return 0;
}

static int judge_mail(struct txn *t)
{
	struct smtp *x = t->x;
	int code = x->reply.code;
	bool first = !t->failed;

	t->mail_read = true;
	t->mail_ok = code / 100 == 2;
	x->in_transaction = t->mail_ok;
	if (t->mail_ok)
		return 0;
	if (code == 552)
		return refuse(t, ERR_MESSAGE, "the server refused the message size at MAIL FROM");
	if (code / 100 == 4)
		return refuse(t, ERR_TEMPFAIL, "the server deferred the sender %s", t->m->from);
	if (code / 100 != 5)
		return refuse(t, ERR_PROTOCOL, "unexpected reply to MAIL FROM");
	refuse(t, ERR_SENDER, "the server refused the sender %s", t->m->from);
	if (first && code == 530 && !x->p->user)
		err_hint(t->err, "the server wants a login: give --user (and a password source)");
	return -1;
}

/* Reads the oldest reply owed within the envelope: a pending AUTH's,
 * MAIL's or one RCPT's, and judges it. A refusal is recorded and
 * reading goes on; -1 only when the session broke. */
static int read_next(struct txn *t)
{
	struct smtp *x = t->x;
	struct expect e;

	if (x->auth_pending) {
		bool refused;

		if (smtp_finish_pending_auth(x, where(t), &refused) < 0)
			return failed(t);
		t->auth_refused = refused;
		t->failed |= refused;
		return 0;
	}
	if (smtp_read_reply(x, &e, where(t)) < 0)
		return failed(t);
	if (e.what == S_MAIL)
		judge_mail(t);
	else if (e.what == S_RCPT && t->mail_ok && txn_record_rcpt(t, e.rcpt, &x->reply) < 0)
		return failed(t);
	return 0;
}

static bool asked(const struct txn *t, size_t i)
{
	return smtp_result_rcpt(t->r, i).status != SMTP_RCPT_NOT_SENT;
}

/* Without PIPELINING: each command waits for its reply. */
static int envelope_lockstep(struct txn *t)
{
	if (queue_mail(t) < 0 || smtp_flush(t->x, where(t)) < 0 || read_next(t) < 0)
		return failed(t);
	for (size_t i = 0; t->mail_ok && i < t->r->nrcpts; i++) {
		if (!asked(t, i))
			continue;
		if (queue_rcpt(t, i) < 0 || smtp_flush(t->x, where(t)) < 0 || read_next(t) < 0)
			return failed(t);
	}
	return 0;
}

/* A pipelined envelope is written in slices of RCPT_SLICE commands, and
 * replies are read while more commands go out: whatever has arrived
 * after each slice, and always enough to keep at most REPLY_WINDOW
 * unread. A server answers as it reads and stops reading while its
 * replies are not taken; a client that wrote 400,000 RCPTs before
 * reading one deadlocked against Exim. 256 replies fit any socket
 * buffers, and the window keeps the link busy. */
#define RCPT_SLICE 64
#define REPLY_WINDOW 256

static bool reply_waiting(struct smtp *x)
{
	struct error ignored;

	return x->t->ops->pending(x->t) > 0 || x->t->ops->wait_readable(x->t, 0, &ignored) != 0;
}

/* Reads replies while more than window are owed, or while some have
 * arrived (down to keep: the queued data command's, which transfer
 * reads). */
static int read_some(struct txn *t, unsigned window, unsigned keep)
{
	while (t->x->owed > keep && (t->x->owed > window || reply_waiting(t->x)))
		if (read_next(t) < 0)
			return -1;
	return 0;
}

/* The data command after a pipelined envelope: only small messages, and
 * never with a login whose answer is unknown (credentials mean AUTH is
 * required, and a server that would take the message without one must
 * not get it). */
static bool may_queue_data(const struct txn *t)
{
	return t->m->size <= PIPELINE_DATA_MAX && !t->x->auth_pending;
}

/* MAIL and every RCPT in one group (RFC 2920), then DATA or BDAT (for
 * BDAT the message too) when may_queue_data; *queued says so. Returns
 * -1 only when the session broke. */
static int envelope_pipelined(struct txn *t, int (*queue_data)(struct txn *), bool *queued)
{
	size_t sent = 0;

	if (queue_mail(t) < 0)
		return -1;
	for (size_t i = 0; i < t->r->nrcpts; i++) {
		if (!asked(t, i))
			continue;
		if (queue_rcpt(t, i) < 0)
			return -1;
		if (++sent % RCPT_SLICE == 0 &&
		    (smtp_flush(t->x, where(t)) < 0 || read_some(t, REPLY_WINDOW, 0) < 0))
			return failed(t);
	}
	if (may_queue_data(t)) {
		if (queue_data(t) < 0)
			return -1;
		*queued = true;
	}
	if (smtp_flush(t->x, where(t)) < 0 || read_some(t, 0, *queued ? 1 : 0) < 0)
		return failed(t);
	return 0;
}

/* ---- data ----------------------------------------------------------- */

/* The sink that puts message bytes on the transport. */
struct wire_sink {
	struct sink base;
	struct txn *t;
	uint64_t bytes;
	uint64_t limit; /* BDAT: the size announced; past it bytes are commands */
};

static int wire_write(struct sink *s, const void *buf, size_t len)
{
	struct wire_sink *w = (struct wire_sink *)s;
	const struct smtp_hooks *h = w->t->x->hooks;

	if (len > w->limit - w->bytes)
		return err_set(s->err, ERR_DATA, "the message grew past the %llu bytes announced "
			       "while it was being sent; nothing was sent", (unsigned long long)w->limit);
	if (smtp_write(w->t->x, buf, len, s->err) < 0)
		return -1;
	w->bytes += len;
	if (h && h->progress)
		h->progress(h->progress_ctx, w->bytes, w->t->m->size);
	return 0;
}

static int wire_flush(struct sink *s)
{
	return smtp_flush(((struct wire_sink *)s)->t->x, s->err);
}

/* BDAT: the message as it is, exactly as many bytes as announced (a file
 * that changed size makes the session unusable). */
static int write_chunk(struct txn *t)
{
	struct wire_sink w = {{wire_write, wire_flush, where(t)}, t, 0, t->m->size};

	smtp_set_state(t->x, S_CONTENT);
	smtp_trace(t->x, SMTP_NOTE, "(message data)", 14);
	if (t->m->write(t->m->ctx, &w.base) < 0)
		return failed(t);
	if (w.bytes != t->m->size) {
		t->x->broken = true;
		err_set(where(t), ERR_DATA, "the message changed size while being sent "
			"(%llu bytes announced, %llu written)",
			(unsigned long long)t->m->size, (unsigned long long)w.bytes);
		return failed(t);
	}
	t->r->data_sent = true;
	return 0;
}

/* DATA after its 354: the message through the dot-stuffer, then the
 * terminator, whose reply is then owed. */
static int write_dotted(struct txn *t)
{
	struct wire_sink w = {{wire_write, wire_flush, where(t)}, t, 0, UINT64_MAX};
	struct dot_sink d;

	smtp_set_state(t->x, S_CONTENT);
	smtp_trace(t->x, SMTP_NOTE, "(message data)", 14);
	dot_init(&d, &w.base);
	t->x->server_waits = true;
	if (t->m->write(t->m->ctx, &d.base) < 0 || dot_finish(&d) < 0)
		return failed(t);
	t->x->server_waits = false;
	if (smtp_expect(t->x, S_END_OF_DATA, 0, where(t)) < 0 || smtp_flush(t->x, where(t)) < 0)
		return failed(t);
	t->r->data_sent = true;
	return 0;
}

static int queue_bdat(struct txn *t)
{
	char line[64];

	smtp_set_state(t->x, S_DATA);
	snprintf(line, sizeof line, "BDAT %llu LAST", (unsigned long long)t->m->size);
	if (smtp_queue_line(t->x, line, NULL, S_END_OF_DATA, where(t)) < 0)
		return failed(t);
	return write_chunk(t);
}

static int queue_data_cmd(struct txn *t)
{
	smtp_set_state(t->x, S_DATA);
	return smtp_queue_cmd(t->x, where(t), "DATA") < 0 ? failed(t) : 0;
}

/* The server's verdict on the message, kept even when no recipient was
 * accepted (a BDAT pipelined with the envelope is then refused). */
static void record_final(struct txn *t)
{
	t->x->in_transaction = false;
	t->r->final_code = t->x->reply.code;
	reply_oneline(&t->x->reply, t->r->final_reply, sizeof t->r->final_reply);
}

static int judge_end_of_data(struct txn *t)
{
	struct smtp *x = t->x;

	record_final(t);
	if (x->reply.code / 100 == 2) {
		t->r->delivered = true;
		queueid_find(x->reply.text, x->reply.len, t->r->queue_id, sizeof t->r->queue_id);
		return 0;
	}
	if (x->reply.code / 100 == 4)
		return refuse(t, ERR_TEMPFAIL, "the server did not take the message for now");
	if (x->reply.code / 100 == 5)
		return refuse(t, ERR_MESSAGE, "the server refused the message");
	return refuse(t, ERR_PROTOCOL, "unexpected reply to the end of data");
}

static int read_one(struct txn *t)
{
	struct expect e;

	return smtp_read_reply(t->x, &e, where(t)) < 0 ? failed(t) : 0;
}

/* RFC 2920 3.1: a 354 after every RCPT failed gets an empty message. */
static int send_empty_message(struct txn *t)
{
	if (smtp_expect(t->x, S_END_OF_DATA, 0, where(t)) < 0 ||
	    smtp_write(t->x, ".\r\n", 3, where(t)) < 0 || smtp_flush(t->x, where(t)) < 0)
		return failed(t);
	if (read_one(t) < 0)
		return -1;
	t->x->in_transaction = false;
	return 0;
}

/* The reply to the data command queued with the envelope, read even
 * after a refusal so that the dialogue stays in step. */
static int read_queued(struct txn *t, bool bdat)
{
	if (read_one(t) < 0)
		return -1;
	if (bdat && t->mail_ok && !t->failed)
		record_final(t);
	else if (bdat)
		t->x->in_transaction = false;
	return 0;
}

/* After the envelope: the data command (unless queued), then the data. */
static int send_data(struct txn *t, bool bdat, bool queued)
{
	if (!queued && ((bdat ? queue_bdat(t) : queue_data_cmd(t)) < 0 ||
			smtp_flush(t->x, where(t)) < 0 || read_one(t) < 0))
		return failed(t);
	if (bdat)
		return judge_end_of_data(t);
	if (t->x->reply.code != 354)
		return refuse(t, t->x->reply.code / 100 == 4 ? ERR_TEMPFAIL : ERR_MESSAGE,
			      "the server refused to take the message data");
	if (write_dotted(t) < 0)
		return -1;
	smtp_set_state(t->x, S_END_OF_DATA);
	if (read_one(t) < 0)
		return -1;
	return judge_end_of_data(t);
}

/* Envelope, then the message by BDAT (RFC 3030) or DATA. */
static int transfer(struct txn *t)
{
	bool bdat = t->x->caps.chunking, queued = false;

	if (!t->x->caps.pipelining ? envelope_lockstep(t) < 0 :
	    envelope_pipelined(t, bdat ? queue_bdat : queue_data_cmd, &queued) < 0)
		return -1;
	if (queued && read_queued(t, bdat) < 0)
		return -1;
	if (t->failed)
		return -1;
	if (t->r->accepted == 0) {
		if (queued && !bdat && t->x->reply.code == 354 && send_empty_message(t) < 0)
			return -1;
		return txn_no_recipient(t);
	}
	return send_data(t, bdat, queued);
}

int smtp_transact(struct smtp *x, const struct smtp_message *m, struct smtp_result *r,
		  struct error *err)
{
	struct txn t = {.x = x, .m = m, .r = r, .err = err};
	int rc;

	if (smtp_result_init(r, m, err) < 0)
		return -1;
	if (!x->t || x->broken || x->server_waits || x->in_transaction)
		return err_set(err, ERR_SOFTWARE, "a transaction on a session that is not ready");
	rc = smtp_check_message(x, m, err) < 0 || txn_refuse_utf8(&t) < 0 ? -1 : 0;
	if (rc == 0)
		rc = transfer(&t);
	if (rc == 0)
		rc = txn_partial(&t);
	r->maybe_delivered = txn_maybe_delivered(r);
	if (smtp_in_step(x))
		smtp_set_state(x, S_READY);
	return rc;
}
