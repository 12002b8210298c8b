/* smtp_transact.c - one transaction (RFC 5321 3.3, 2920, 3030, 6531,
 * 3461): [RSET,] MAIL, RCPT, then DATA or BDAT. With PIPELINING the
 * commands go out in groups and each reply is matched to its command and
 * its transaction through the queue of expected replies (several
 * transactions may be in flight: smtp_window.c); the first failure seen
 * is a transaction's outcome. */
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

/* ---- the server's state between transactions ------------------------ */

/* Whether the server may still hold a transaction open (a reverse-path
 * from MAIL) is known from the replies of the transaction whose MAIL went
 * out last, and only from them: a late reply of an earlier transaction
 * says nothing about the one after it. */
static void set_open(struct txn *t, bool open)
{
	if (t == t->x->last)
		t->x->in_transaction = open;
}

/* t's own step failed: when that broke the session, t's outcome is the
 * session's (it was not taken, or may have been), not a verdict on it. */
static int step_failed(struct txn *t)
{
	if (t->x->broken && !t->failed)
		t->session_err = true;
	return failed(t);
}

/* The session cannot go on for a reason of t's own (its data could not
 * be read, or changed size, half-way through): the others pending learn
 * this much. */
static void abandon(struct txn *t)
{
	struct error why;

	err_set(&why, ERR_TEMPFAIL, "the session was dropped half-way through another message's data");
	smtp_session_ended(t->x, &why);
}

/* ---- envelope ------------------------------------------------------- */

/* RSET before MAIL while the server may still hold the previous
 * transaction: its MAIL accepted (or not yet answered) and no verdict
 * read that ended it. Pipelined, a MAIL sent into a transaction still
 * open is refused ("503 sender already given", Exim), while the RCPTs
 * and data after it are accepted into the old transaction: the message
 * is delivered under the previous message's sender and reported refused
 * (seen with Exim 4.96 when this RSET was left out). After RSET the
 * server is clean whatever happened before (RFC 5321 4.1.1.5; RFC 2920
 * lets RSET ride in the group). No RSET when the previous transaction is
 * known to have ended: its MAIL refused, its data accepted, or the dot
 * after DATA answered (see judge_final). */
static int queue_rset(struct txn *t)
{
	smtp_set_state(t->x, S_RSET);
	return smtp_queue_cmd(t->x, where(t), "RSET") < 0 ? step_failed(t) : 0;
}

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
	/* from here until its replies say otherwise, the server may hold t */
	x->last = t;
	x->in_transaction = true;
	return smtp_queue_cmd(x, where(t), "MAIL FROM:<%s>%s", t->m->from, params) < 0 ? step_failed(t) : 0;
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
		return step_failed(t);
	return 0;
}

static int judge_mail(struct txn *t)
{
	struct smtp *x = t->x;
	int code = x->reply.code;
	bool first = !t->failed;

	t->mail_read = true;
	t->mail_ok = code / 100 == 2;
	set_open(t, t->mail_ok);
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

/* A server that cannot reset cannot be trusted with more: the session
 * ends, and t (sent behind the RSET) may have gone in under the previous
 * sender, so a data already sent counts as maybe delivered. */
static void judge_rset(struct txn *t)
{
	struct smtp *x = t->x;
	struct error why;

	if (x->reply.code / 100 == 2) {
		if (t != x->last)
			x->in_transaction = false;
		return;
	}
	smtp_fail(x, &why, x->reply.code / 100 == 4 ? ERR_TEMPFAIL : ERR_PROTOCOL,
		  "the server refused RSET");
	smtp_session_ended(x, &why);
	if (!t->failed)
		*t->err = why;
	t->session_err |= !t->failed;
	t->lost_at = S_RSET;
	failed(t);
}

/* ---- data: the sink, the content, the verdict -------------------------- */

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

/* The message's writer failed: the transport's failure ends the session
 * for all; its own (a file unreadable) fails t, and the session with it,
 * since the server is left in the middle of t's data (the connection is
 * dropped without ending it, so nothing of t is delivered). The
 * transactions before t went out whole and the server answers them
 * before it waits for the rest of t: their replies are read first, so
 * that their outcomes are known rather than in doubt. What was written
 * of t goes out too unless it is a whole chunk (a message that grew
 * past its BDAT size): a chunk cut short, or data without its dot,
 * delivers nothing. */
static int content_failed(struct txn *t, bool whole_chunk)
{
	struct smtp *x = t->x;

	if (x->broken)
		return step_failed(t);
	failed(t);
	if (!whole_chunk && smtp_flush(x, &t->scratch) < 0)
		return -1;
	while (x->owed > 0 && x->expect[x->expect_head].txn != t && !x->auth_pending)
		if (smtp_read_next(x) < 0)
			return -1;
	abandon(t);
	return -1;
}

static void data_went(struct txn *t)
{
	t->r->data_sent = true;
	t->x->bytes_unjudged += t->m->size;
}

/* BDAT: the message as it is, exactly as many bytes as announced (a file
 * that changed size makes the session unusable). */
static int write_chunk(struct txn *t)
{
	struct wire_sink w = {{wire_write, wire_flush, where(t)}, t, 0, t->m->size};

	smtp_set_state(t->x, S_CONTENT);
	smtp_trace(t->x, SMTP_NOTE, "(message data)", 14);
	if (t->m->write(t->m->ctx, &w.base) < 0)
		return content_failed(t, w.bytes == t->m->size);
	if (w.bytes != t->m->size) {
		err_set(where(t), ERR_DATA, "the message changed size while being sent "
			"(%llu bytes announced, %llu written)",
			(unsigned long long)t->m->size, (unsigned long long)w.bytes);
		return content_failed(t, false);
	}
	data_went(t);
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
	if (t->m->write(t->m->ctx, &d.base) < 0 || dot_finish(&d) < 0)
		return content_failed(t, false);
	t->x->server_waits = false;
	if (smtp_expect(t->x, S_END_OF_DATA, 0, where(t)) < 0 || smtp_flush(t->x, where(t)) < 0)
		return step_failed(t);
	data_went(t);
	return 0;
}

static int queue_bdat(struct txn *t)
{
	char line[64];

	t->bdat = true;
	smtp_set_state(t->x, S_DATA);
	snprintf(line, sizeof line, "BDAT %llu LAST", (unsigned long long)t->m->size);
	if (smtp_queue_line(t->x, line, NULL, S_END_OF_DATA, where(t)) < 0)
		return step_failed(t);
	return write_chunk(t);
}

static int queue_data_cmd(struct txn *t)
{
	smtp_set_state(t->x, S_DATA);
	return smtp_queue_cmd(t->x, where(t), "DATA") < 0 ? step_failed(t) : 0;
}

/* The server's verdict on the message, kept even when no recipient was
 * accepted (a BDAT pipelined with the envelope is then refused). */
static void record_final(struct txn *t)
{
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

/* The reply to DATA: 354 (the server now waits for the data), or a
 * refusal. */
static void judge_data(struct txn *t)
{
	int code = t->x->reply.code;

	t->data_code = code;
	if (code == 354) {
		t->x->server_waits = true;
		return;
	}
	if (t->mail_ok && !t->failed && t->r->accepted > 0)
		refuse(t, code / 100 == 4 ? ERR_TEMPFAIL : ERR_MESSAGE,
		       "the server refused to take the message data");
}

/* The reply to the end of the data (BDAT LAST, or the dot after DATA).
 * The dot ends the transaction whatever the reply (RFC 5321 4.1.1.4;
 * OpenSMTPD takes a MAIL after a refused dot). A refused BDAT LAST need
 * not: Exim 4.96 (ours and Debian's stock) answers the next MAIL with
 * "503 sender already given" after a BDAT LAST refused because every
 * RCPT was, and then takes the RCPTs and BDAT that follow under the old
 * sender; Postfix 3.7 clears the transaction. So the next transaction
 * starts with RSET (RFC 3030 4: the server must be ready for one). */
static void judge_final(struct txn *t)
{
	struct smtp *x = t->x;
	bool judged = t->mail_ok && !t->failed;

	if (judged && t->r->accepted > 0)
		judge_end_of_data(t);
	else if (judged && t->bdat)
		record_final(t);
	set_open(t, t->bdat && t->mail_ok && x->reply.code / 100 != 2);
}

/* ---- replies ------------------------------------------------------- */

static void dispatch(struct txn *t, const struct expect *e)
{
	switch (e->what) {
	case S_RSET:
		judge_rset(t);
		break;
	case S_MAIL:
		judge_mail(t);
		break;
	case S_RCPT:
		if (t->mail_ok && txn_record_rcpt(t, e->rcpt, &t->x->reply) < 0) {
			smtp_session_ended(t->x, t->err);
			failed(t);
		}
		break;
	case S_DATA:
		judge_data(t);
		break;
	case S_END_OF_DATA:
		judge_final(t);
		break;
	default:
		break;
	}
}

static void settle(struct txn *t, int rc)
{
	if (t->r->data_sent)
		t->x->bytes_unjudged -= t->m->size;
	t->rc = rc;
	t->done = true;
}

/* Whether t's data went out to a recipient accepted or never answered
 * with no verdict. Not when its sender was refused: the server was clean
 * (no transaction open, see queue_rset), so nothing of t was taken. */
static bool data_in_doubt(const struct txn *t)
{
	return txn_maybe_delivered(t->r) && !(t->mail_read && !t->mail_ok);
}

/* Every reply t was owed has been read: its outcome. */
static void txn_finish(struct txn *t)
{
	int rc = -1;

	if (!t->failed)
		rc = t->r->accepted == 0 ? txn_no_recipient(t) : txn_partial(t);
	t->r->maybe_delivered = data_in_doubt(t);
	settle(t, rc);
}

int smtp_read_next(struct smtp *x)
{
	struct expect head = x->expect[x->expect_head], e;
	struct txn *t = x->owed ? head.txn : NULL;
	struct error scratch;

	if (smtp_read_reply(x, &e, t ? where(t) : &scratch) < 0) {
		if (t) {
			t->session_err |= !t->failed;
			t->lost_at = head.what;
			failed(t);
		}
		return -1;
	}
	if (t) {
		dispatch(t, &e);
		/* all its replies in: its outcome, also when read after a
		 * failed write (smtp_window.c's salvage), not when this reply
		 * ended the session */
		if (t->owed == 0 && t->written && !t->done && (!x->broken || x->write_failed))
			txn_finish(t);
	}
	return x->broken ? -1 : 0;
}

/* Reads one reply while t is being written: a pending login's first (it
 * went out before t's MAIL), else the oldest owed, whoever's it is. */
static int read_for(struct txn *t)
{
	struct smtp *x = t->x;
	bool refused;

	if (!x->auth_pending)
		return smtp_read_next(x);
	if (smtp_finish_pending_auth(x, where(t), &refused) < 0) {
		t->lost_at = S_AUTH;
		return step_failed(t);
	}
	t->auth_refused = refused;
	t->failed |= refused;
	x->login_refused |= refused;
	return 0;
}

/* Reads until t's own replies are all in. */
static int wait_own(struct txn *t)
{
	while (t->owed > 0 || t->x->auth_pending)
		if (read_for(t) < 0)
			return -1;
	return 0;
}

static bool reply_waiting(struct smtp *x)
{
	struct error ignored;

	return x->t->ops->pending(x->t) > 0 || x->t->ops->wait_readable(x->t, 0, &ignored) != 0;
}

/* Reads the replies that have arrived, and as many more as it takes to
 * keep within SMTP_OWED_MAX replies and SMTP_WINDOW_BYTES in doubt. */
static int read_ready(struct txn *t)
{
	struct smtp *x = t->x;

	while (x->owed > 0 && (x->owed > SMTP_OWED_MAX || x->bytes_unjudged > SMTP_WINDOW_BYTES ||
			       reply_waiting(x)))
		if (read_for(t) < 0)
			return -1;
	return 0;
}

/* ---- the transaction's commands -------------------------------------- */

/* Recipient i's status so far: the one place that reads it. */
static enum smtp_rcpt_status rcpt_status(const struct txn *t, size_t i)
{
	return smtp_result_rcpt(t->r, i).status;
}

static bool asked(const struct txn *t, size_t i)
{
	return rcpt_status(t, i) != SMTP_RCPT_NOT_SENT;
}

/* Without PIPELINING: each command waits for its reply. */
static int envelope_lockstep(struct txn *t)
{
	if (queue_mail(t) < 0 || smtp_flush(t->x, where(t)) < 0)
		return step_failed(t);
	if (wait_own(t) < 0)
		return -1;
	for (size_t i = 0; t->mail_ok && i < t->r->nrcpts; i++) {
		if (!asked(t, i))
			continue;
		if (queue_rcpt(t, i) < 0 || smtp_flush(t->x, where(t)) < 0)
			return step_failed(t);
		if (wait_own(t) < 0)
			return -1;
	}
	return 0;
}

/* A pipelined envelope is written in slices of RCPT_SLICE commands, and
 * the replies that have arrived are read after each (a client that wrote
 * 400,000 RCPTs before reading one deadlocked against Exim). */
#define RCPT_SLICE 64

/* The data command after a pipelined envelope: only small messages, and
 * never with a login whose answer is unknown (credentials mean AUTH is
 * required, and a server that would take the message without one must
 * not get it). */
static bool may_queue_data(const struct txn *t)
{
	return t->m->size <= PIPELINE_DATA_MAX && !t->x->auth_pending;
}

/* MAIL and every RCPT in one group (RFC 2920), then DATA or BDAT (for
 * BDAT the message too) when may_queue_data; *queued says so. */
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
		if (++sent % RCPT_SLICE == 0 && smtp_flush(t->x, where(t)) < 0)
			return step_failed(t);
		if (sent % RCPT_SLICE == 0 && read_ready(t) < 0)
			return -1;
	}
	if (may_queue_data(t)) {
		if (queue_data(t) < 0)
			return -1;
		*queued = true;
	}
	if (smtp_flush(t->x, where(t)) < 0)
		return step_failed(t);
	return read_ready(t);
}

/* RFC 2920 3.1: a 354 after every RCPT failed gets an empty message. */
static int send_empty_message(struct txn *t)
{
	t->x->server_waits = false;
	if (smtp_expect(t->x, S_END_OF_DATA, 0, where(t)) < 0 ||
	    smtp_write(t->x, ".\r\n", 3, where(t)) < 0 || smtp_flush(t->x, where(t)) < 0)
		return step_failed(t);
	return 0;
}

/* After the reply to DATA: the message, or an empty one when nobody is
 * to get it, or nothing after a refusal. Without PIPELINING the verdict
 * is awaited; with it, the next transaction may follow the dot (RFC
 * 2920 3.1). */
static int after_data_reply(struct txn *t)
{
	if (t->data_code != 354)
		return 0;
	if (t->failed || t->r->accepted == 0)
		return send_empty_message(t);
	if (write_dotted(t) < 0)
		return -1;
	smtp_set_state(t->x, S_END_OF_DATA);
	return t->x->caps.pipelining ? 0 : wait_own(t);
}

/* The data command once the envelope's replies are in. */
static int send_data(struct txn *t, bool bdat)
{
	if (bdat) {
		if (queue_bdat(t) < 0 || smtp_flush(t->x, where(t)) < 0)
			return step_failed(t);
		return t->x->caps.pipelining ? 0 : wait_own(t);
	}
	if (queue_data_cmd(t) < 0 || smtp_flush(t->x, where(t)) < 0)
		return step_failed(t);
	return wait_own(t) < 0 ? -1 : after_data_reply(t);
}

/* Envelope, then the message by BDAT (RFC 3030) or DATA. With
 * PIPELINING and BDAT nothing is awaited: the replies are read later. */
static int transfer(struct txn *t)
{
	bool bdat = t->x->caps.chunking, queued = false;

	if (!t->x->caps.pipelining ? envelope_lockstep(t) < 0 :
	    envelope_pipelined(t, bdat ? queue_bdat : queue_data_cmd, &queued) < 0)
		return -1;
	if (queued)
		return bdat ? 0 : wait_own(t) < 0 ? -1 : after_data_reply(t);
	if (wait_own(t) < 0)
		return -1;
	if (t->failed || t->r->accepted == 0)
		return 0;
	return send_data(t, bdat);
}

/* RSET first when the server may hold the previous transaction (see
 * queue_rset); without PIPELINING its reply is awaited. */
static int start_clean(struct txn *t)
{
	if (!t->x->in_transaction)
		return 0;
	if (queue_rset(t) < 0)
		return -1;
	if (t->x->caps.pipelining)
		return 0;
	if (smtp_flush(t->x, where(t)) < 0)
		return step_failed(t);
	return wait_own(t) < 0 || t->failed ? -1 : 0;
}

void txn_begin(struct txn *t)
{
	struct smtp *x = t->x;

	if (smtp_result_init(t->r, t->m, t->err) < 0 || smtp_check_message(x, t->m, t->err) < 0 ||
	    txn_refuse_utf8(t) < 0) {
		failed(t);
	} else {
		x->owner = t;
		if (read_ready(t) == 0 && start_clean(t) == 0)
			transfer(t);
		x->owner = NULL;
	}
	t->written = true;
	if (t->owed == 0 && !t->done && !x->broken)
		txn_finish(t);
	if (smtp_in_step(x))
		smtp_set_state(x, S_READY);
}

/* Whether t may have been delivered although the session ended before
 * its verdict: its data in doubt, and not behind a 421: the server
 * answers the oldest command with it and closes, so nothing sent after
 * that command was processed. A 421 instead of the verdict on t's own
 * data leaves t in doubt. */
static bool may_have_been_delivered(const struct txn *t)
{
	if (!data_in_doubt(t))
		return false;
	return !t->x->ended_by_421 || (t->session_err && t->lost_at == S_END_OF_DATA);
}

static bool all_answered(const struct txn *t)
{
	for (size_t i = 0; i < t->r->nrcpts; i++)
		if (rcpt_status(t, i) == SMTP_RCPT_UNASKED)
			return false;
	return true;
}

static void doubt(struct txn *t, const struct error *why)
{
	struct error e = t->session_err ? *t->err : *why;

	err_set(t->err, ERR_TEMPFAIL, "%s; the message may have been delivered", e.text);
	err_reply(t->err, e.reply, strlen(e.reply));
	err_hint(t->err, "the server may have taken the message all the same: check before "
		 "sending it again");
}

void txn_session_ended(struct txn *t)
{
	struct smtp *x = t->x;
	struct error why;

	if (x->ended_set)
		why = x->ended;
	else
		err_set(&why, ERR_TEMPFAIL, "the session with %s ended", x->info->peer);
	t->r->maybe_delivered = may_have_been_delivered(t);
	if (t->r->maybe_delivered) {
		t->r->session_lost = true;
		doubt(t, &why);
		settle(t, -1);
	} else if (t->failed && !t->session_err) {
		settle(t, -1);  /* refused before: that is its outcome */
	} else if (t->mail_ok && all_answered(t) && t->r->accepted == 0) {
		settle(t, txn_no_recipient(t));
	} else {
		/* a 421 is the reason, also for a write that failed after it */
		t->r->session_lost = true;
		if (!t->session_err || x->ended_by_421)
			*t->err = why;
		settle(t, -1);
	}
}

int smtp_transact(struct smtp *x, const struct smtp_message *m, struct smtp_result *r,
		  struct error *err)
{
	void *tag;

	/* r is the window's result when collected: the recipients' states
	 * are held once, not twice (4 bytes a recipient) */
	smtp_result_free(r);
	if (!x->t || x->broken || x->server_waits || x->in_transaction || smtp_pending(x)) {
		err_set(err, ERR_SOFTWARE, "a transaction on a session that is not ready");
		return smtp_result_unsent(r, m, err);
	}
	if (smtp_submit(x, m, NULL, err) < 0)
		return smtp_result_unsent(r, m, err);
	return smtp_collect(x, &tag, r, err);
}
