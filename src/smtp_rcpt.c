/* smtp_rcpt.c - one transaction's result: each recipient's status and
 * reply in compact storage (the addresses stay the message's), and the
 * outcome the recipients' replies add up to. */
#include "smtp_txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per recipient the result holds four bytes: the reply code, the status
 * and the index of the reply text. The addresses stay the message's.
 * Texts live in blocks freed together, and a reply equal to the one
 * before is stored once: a million recipients answered "250 Accepted"
 * cost one string. Servers that name each recipient in a 2xx (sendmail)
 * get their first DISTINCT_2XX_MAX texts kept, then the code alone;
 * refusals are kept whole until the index runs short (TEXTS_KEPT_MAX),
 * then the code alone too: memory stays flat in what the server says. */
#define TEXTS_BLOCK (64u * 1024)
#define DISTINCT_2XX_MAX 1024
#define TEXT_BITS 20
#define TEXTS_MAX (1u << TEXT_BITS)
#define CODES 1000                          /* reply codes are three digits */
#define TEXTS_KEPT_MAX (TEXTS_MAX - CODES)  /* the rest: one text per code */

struct smtp_rcpt_state {
	unsigned code : 10;     /* 0 when never asked */
	unsigned status : 2;    /* enum smtp_rcpt_status */
	unsigned text : TEXT_BITS; /* index in the result's texts, 0 = "" */
};
_Static_assert(sizeof(struct smtp_rcpt_state) == 4, "four bytes a recipient");

struct text_block {
	struct text_block *next;
	size_t used, size;
	char data[];
};

struct smtp_texts {
	struct text_block *blocks;
	const char **v;          /* v[0] is "" */
	size_t n, cap;
	uint32_t last;           /* the reply text stored last */
	size_t distinct_2xx;     /* 2xx texts stored whole */
	uint32_t code_text[CODES]; /* the text of a code alone, 0 until stored */
};

/* A copy of text kept in r's blocks, or NULL when out of memory. */
static const char *texts_copy(struct smtp_texts *s, const char *text)
{
	size_t len = strlen(text) + 1;
	struct text_block *b = s->blocks;
	char *p;

	if (!b || b->used + len > b->size) {
		size_t size = len > TEXTS_BLOCK ? len : TEXTS_BLOCK;

		if (!(b = malloc(sizeof *b + size)))
			return NULL;
		b->next = s->blocks;
		b->used = 0;
		b->size = size;
		s->blocks = b;
	}
	p = b->data + b->used;
	memcpy(p, text, len);
	b->used += len;
	return p;
}

/* Stores text as a new reply text. Returns its index, 0 when out of
 * memory (the caller keeps fewer than TEXTS_MAX). */
static uint32_t texts_new(struct smtp_texts *s, const char *text)
{
	const char *kept;

	if (s->n == s->cap) {
		size_t cap = s->cap * 2;
		const char **v = realloc(s->v, cap * sizeof *v);

		if (!v)
			return 0;
		s->v = v;
		s->cap = cap;
	}
	if (!(kept = texts_copy(s, text)))
		return 0;
	s->v[s->n] = kept;
	return (uint32_t)s->n++;
}

static struct smtp_texts *texts_create(void)
{
	struct smtp_texts *s = calloc(1, sizeof *s);

	if (s && !(s->v = malloc(16 * sizeof *s->v))) {
		free(s);
		return NULL;
	}
	if (s) {
		s->v[0] = "";
		s->n = 1;
		s->cap = 16;
	}
	return s;
}

/* The index of the text "NNN" for a reply kept as its code alone. */
static uint32_t code_only(struct smtp_texts *s, int code)
{
	char text[8];

	if (!s->code_text[code]) {
		snprintf(text, sizeof text, "%d", code);
		s->code_text[code] = texts_new(s, text);
	}
	return s->code_text[code];
}

/* The index of one recipient's reply (code, one line) as stored; 0 when
 * out of memory. */
static uint32_t keep_text(struct smtp_texts *s, int code, const char *line)
{
	uint32_t id;

	if ((code / 100 == 2 && s->distinct_2xx >= DISTINCT_2XX_MAX) || s->n >= TEXTS_KEPT_MAX)
		return code_only(s, code);
	if (s->last && strcmp(s->v[s->last], line) == 0)
		return s->last;
	if (!(id = texts_new(s, line)))
		return 0;
	if (code / 100 == 2)
		s->distinct_2xx++;
	s->last = id;
	return id;
}

/* Records recipient i's outcome. Returns 0, or -1 when out of memory
 * (the recipient then shows the code and status with an empty reply). */
static int set_rcpt(struct smtp_result *r, size_t i, int code, enum smtp_rcpt_status status,
		    const char *line)
{
	struct smtp_rcpt_state *st = &r->rcpt_state[i];

	if (code < 0 || code >= CODES)
		code = 0; /* the reply parser allows three digits only */
	st->code = (unsigned)code & 0x3ff;
	st->status = (unsigned)status & 3;
	st->text = keep_text(r->texts, code, line) & (TEXTS_MAX - 1);
	return st->text ? 0 : -1;
}

const char *smtp_message_rcpt(const struct smtp_message *m, size_t i)
{
	return m->rcpts ? m->rcpts[i] : m->rcpt(m->rcpt_ctx, i);
}

struct smtp_rcpt smtp_result_rcpt(const struct smtp_result *r, size_t i)
{
	const struct smtp_rcpt_state *st = &r->rcpt_state[i];

	return (struct smtp_rcpt){
		.mailbox = r->rcpt_v ? r->rcpt_v[i] : r->rcpt_get(r->rcpt_ctx, i),
		.reply = r->texts->v[st->text], .code = (int)st->code,
		.status = (enum smtp_rcpt_status)st->status,
	};
}

int smtp_result_init(struct smtp_result *r, const struct smtp_message *m, struct error *err)
{
	smtp_result_free(r);
	r->size = m->size;
	/* calloc: untouched pages of a large array cost nothing until used */
	r->rcpt_state = calloc(m->nrcpts ? m->nrcpts : 1, sizeof *r->rcpt_state);
	r->texts = texts_create();
	if (!r->rcpt_state || !r->texts || !(r->mail_from = texts_copy(r->texts, m->from)))
		return err_set(err, ERR_OSERR, "out of memory");
	r->rcpt_v = m->rcpts;
	r->rcpt_get = m->rcpt;
	r->rcpt_ctx = m->rcpt_ctx;
	r->nrcpts = m->nrcpts;
	return 0;
}

int smtp_result_unsent(struct smtp_result *r, const struct smtp_message *m, struct error *err)
{
	struct error oom;

	if (smtp_result_init(r, m, &oom) < 0)
		*err = oom;
	return -1;
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
		const char *p = smtp_message_rcpt(t->m, i);

		while (*p && (unsigned char)*p < 0x80)
			p++;
		if (*p && set_rcpt(t->r, i, 553, SMTP_RCPT_NOT_SENT, NOT_SENT_SMTPUTF8) < 0)
			return err_set(t->err, ERR_OSERR, "out of memory");
	}
	return 0;
}

int txn_record_rcpt(struct txn *t, size_t i, const struct reply *reply)
{
	char line[256];
	bool accepted = reply->code / 100 == 2;

	reply_oneline(reply, line, sizeof line);
	if (set_rcpt(t->r, i, reply->code, accepted ? SMTP_RCPT_ACCEPTED : SMTP_RCPT_REFUSED,
		     line) < 0) {
		t->x->broken = true; /* replies owed will not be read */
		return err_set(t->err, ERR_OSERR, "out of memory");
	}
	if (accepted)
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
		const struct smtp_rcpt rc = smtp_result_rcpt(t->r, i);

		if (rc.status == SMTP_RCPT_ACCEPTED)
			continue;
		refused++;
		if (n + strlen(rc.mailbox) + strlen(rc.reply) + 8 < sizeof list - 24) {
			n += (size_t)snprintf(list + n, sizeof list - n, "%s%s (%s)", shown ? "; " : "",
					      rc.mailbox, rc.reply);
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

	for (size_t i = 0; i < t->r->nrcpts; i++) {
		unsigned c = t->r->rcpt_state[i].code / 100;

		if (c != 4 && c != 2)
			all_temp = false;
	}
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
		if (r->rcpt_state[i].status == SMTP_RCPT_UNASKED ||
		    r->rcpt_state[i].status == SMTP_RCPT_ACCEPTED)
			return true;
	return false;
}

void smtp_result_free(struct smtp_result *r)
{
	if (r->texts) {
		while (r->texts->blocks) {
			struct text_block *next = r->texts->blocks->next;

			free(r->texts->blocks);
			r->texts->blocks = next;
		}
		free(r->texts->v);
		free(r->texts);
	}
	free(r->rcpt_state);
	memset(r, 0, sizeof *r);
}
