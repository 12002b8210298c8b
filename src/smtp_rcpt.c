/* smtp_rcpt.c - one transaction's result: its own copies of the
 * addresses, each recipient's status and reply in compact storage, and
 * the outcome the recipients' replies add up to. */
#include "smtp_txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The result's strings live in blocks freed together, and a reply text
 * equal to the one before is stored once: a million recipients answered
 * "250 Accepted" cost one string, not a million 256-byte buffers. Servers
 * that name each recipient in a 2xx (sendmail) get their first
 * DISTINCT_2XX_MAX texts kept, then the code alone: memory stays flat;
 * refusals are always kept whole. */
#define TEXTS_BLOCK (64u * 1024)
#define DISTINCT_2XX_MAX 1024

struct smtp_texts {
	struct smtp_texts *next;
	size_t used, size;
	char data[];
};

/* A copy of text owned by r, or NULL when out of memory. */
static const char *texts_add(struct smtp_result *r, const char *text)
{
	size_t len = strlen(text) + 1;
	struct smtp_texts *t = r->texts;
	char *p;

	if (!t || t->used + len > t->size) {
		size_t size = len > TEXTS_BLOCK ? len : TEXTS_BLOCK;

		t = malloc(sizeof *t + size);
		if (!t)
			return NULL;
		t->next = r->texts;
		t->used = 0;
		t->size = size;
		r->texts = t;
	}
	p = t->data + t->used;
	memcpy(p, text, len);
	t->used += len;
	return p;
}

/* The stored form of one recipient's reply (code, one line). */
static const char *keep_text(struct txn *t, int code, const char *line)
{
	char code_only[8];
	const char *kept;

	if (code / 100 == 2 && t->distinct_2xx >= DISTINCT_2XX_MAX) {
		snprintf(code_only, sizeof code_only, "%d", code);
		line = code_only;
	}
	if (t->last_text && strcmp(t->last_text, line) == 0)
		return t->last_text;
	kept = texts_add(t->r, line);
	if (kept && code / 100 == 2 && line != code_only)
		t->distinct_2xx++;
	if (kept)
		t->last_text = kept;
	return kept;
}

int smtp_result_init(struct smtp_result *r, const struct smtp_message *m, struct error *err)
{
	smtp_result_free(r);
	r->size = m->size;
	r->rcpts = calloc(m->nrcpts ? m->nrcpts : 1, sizeof *r->rcpts);
	if (!r->rcpts || !(r->mail_from = texts_add(r, m->from)))
		return err_set(err, ERR_OSERR, "out of memory");
	for (size_t i = 0; i < m->nrcpts; i++) {
		r->rcpts[i].reply = "";
		if (!(r->rcpts[i].mailbox = texts_add(r, m->rcpts[i])))
			return err_set(err, ERR_OSERR, "out of memory");
	}
	r->nrcpts = m->nrcpts;
	return 0;
}

static const char NOT_SENT_SMTPUTF8[] =
	"553 not sent: the address needs SMTPUTF8, which the server does not offer";

/* A UTF-8 recipient the server cannot take is refused here, as the
 * server would, and the others still get the message. */
int txn_refuse_utf8(struct txn *t)
{
	if (t->x->caps.smtputf8)
		return 0;
	for (size_t i = 0; i < t->r->nrcpts; i++) {
		struct smtp_rcpt *rc = &t->r->rcpts[i];
		const char *p = rc->mailbox;

		while (*p && (unsigned char)*p < 0x80)
			p++;
		if (!*p)
			continue;
		rc->code = 553;
		rc->status = SMTP_RCPT_NOT_SENT;
		if (!(rc->reply = keep_text(t, 553, NOT_SENT_SMTPUTF8)))
			return err_set(t->err, ERR_OSERR, "out of memory");
	}
	return 0;
}

int txn_record_rcpt(struct txn *t, size_t i, const struct reply *reply)
{
	struct smtp_rcpt *rc = &t->r->rcpts[i];
	char line[256];

	reply_oneline(reply, line, sizeof line);
	rc->code = reply->code;
	rc->status = rc->code / 100 == 2 ? SMTP_RCPT_ACCEPTED : SMTP_RCPT_REFUSED;
	rc->reply = keep_text(t, rc->code, line);
	if (!rc->reply) {
		rc->reply = "";
		t->x->broken = true; /* replies owed will not be read */
		return err_set(t->err, ERR_OSERR, "out of memory");
	}
	if (rc->status == SMTP_RCPT_ACCEPTED)
		t->r->accepted++;
	return 0;
}

/* Not every recipient was taken: the error says who was refused and why. */
static int fail_recipients(struct txn *t, enum err_class cls, const char *what)
{
	char list[400];
	size_t n = 0, shown = 0, refused = 0;

	list[0] = '\0';
	for (size_t i = 0; i < t->r->nrcpts; i++) {
		const struct smtp_rcpt *rc = &t->r->rcpts[i];

		if (rc->status == SMTP_RCPT_ACCEPTED)
			continue;
		refused++;
		if (n + strlen(rc->mailbox) + strlen(rc->reply) + 8 < sizeof list - 24) {
			n += (size_t)snprintf(list + n, sizeof list - n, "%s%s (%s)", shown ? "; " : "",
					      rc->mailbox, rc->reply);
			shown++;
		}
	}
	if (shown < refused)
		snprintf(list + n, sizeof list - n, "; and %zu more", refused - shown);
	return err_set(t->err, cls, "%s: %s", what, list);
}

/* No recipient was taken: deferred (75) when every refusal was 4xx. */
int txn_no_recipient(struct txn *t)
{
	bool all_temp = true;

	for (size_t i = 0; i < t->r->nrcpts; i++)
		if (t->r->rcpts[i].code / 100 != 4 && t->r->rcpts[i].code / 100 != 2)
			all_temp = false;
	return fail_recipients(t, all_temp ? ERR_TEMPFAIL : ERR_ALL_RCPT,
			       all_temp ? "every recipient was deferred; nothing sent" :
			       "every recipient was refused; nothing sent");
}

/* Delivered: 87 when some recipients were refused. */
int txn_partial(struct txn *t)
{
	char what[96];

	if (t->r->accepted == t->r->nrcpts)
		return 0;
	snprintf(what, sizeof what, "sent to %zu of %zu recipients; refused", t->r->accepted,
		 t->r->nrcpts);
	return fail_recipients(t, ERR_SOME_RCPT, what);
}

/* Whether the server may have taken the message for someone: delivered,
 * or sent whole with no verdict while some recipient was accepted or
 * never answered. No recipient accepted means nothing delivered. */
bool txn_maybe_delivered(const struct smtp_result *r)
{
	if (r->delivered)
		return true;
	if (!r->data_sent || r->final_code)
		return false;
	for (size_t i = 0; i < r->nrcpts; i++)
		if (r->rcpts[i].status == SMTP_RCPT_UNASKED || r->rcpts[i].status == SMTP_RCPT_ACCEPTED)
			return true;
	return false;
}

void smtp_result_free(struct smtp_result *r)
{
	while (r->texts) {
		struct smtp_texts *next = r->texts->next;

		free(r->texts);
		r->texts = next;
	}
	free(r->rcpts);
	memset(r, 0, sizeof *r);
}
