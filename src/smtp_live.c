/* smtp_live.c - MAIL, RCPT and DATA one at a time, each reply handed
 * back as it came (see smtp_live.h). */
#include "smtp_live.h"

#include <stdio.h>
#include <string.h>

#include "dotstuff.h"
#include "smtp_int.h"

/* Reads the reply owed into *rep. A transaction ends with any reply to
 * the end of data, and never starts without a 2xx to MAIL. */
static int take_reply(struct smtp *x, struct smtp_live_reply *rep, struct error *err)
{
	struct expect e;

	if (smtp_flush(x, err) < 0 || smtp_read_reply(x, &e, err) < 0)
		return -1;
	rep->code = x->reply.code;
	reply_oneline(&x->reply, rep->text, sizeof rep->text);
	if (e.what == S_MAIL)
		x->in_transaction = rep->code / 100 == 2;
	if (e.what == S_END_OF_DATA)
		x->in_transaction = false;
	smtp_set_state(x, x->in_transaction ? S_RCPT : S_READY);
	return 0;
}

static int ready(const struct smtp *x, struct error *err)
{
	if (!smtp_in_step(x))
		return err_set(err, ERR_SOFTWARE, "a command on a session that is not ready");
	return 0;
}

int smtp_live_mail(struct smtp *x, const char *from, uint64_t size, bool eightbit,
		   struct smtp_live_reply *rep, struct error *err)
{
	char params[64] = "";
	size_t n = 0;

	if (ready(x, err) < 0)
		return -1;
	if (size && x->caps.size)
		n += (size_t)snprintf(params, sizeof params, " SIZE=%llu", (unsigned long long)size);
	if (eightbit && x->caps.eightbitmime)
		snprintf(params + n, sizeof params - n, " BODY=8BITMIME");
	smtp_set_state(x, S_MAIL);
	if (smtp_queue_cmd(x, err, "MAIL FROM:<%s>%s", from, params) < 0)
		return -1;
	return take_reply(x, rep, err);
}

int smtp_live_rcpt(struct smtp *x, const char *rcpt, struct smtp_live_reply *rep,
		   struct error *err)
{
	if (ready(x, err) < 0)
		return -1;
	smtp_set_state(x, S_RCPT);
	if (smtp_queue_cmd(x, err, "RCPT TO:<%s>", rcpt) < 0)
		return -1;
	return take_reply(x, rep, err);
}

/* The sink that puts message bytes on the session. */
struct live_sink {
	struct sink base;
	struct smtp *x;
};

static int live_write(struct sink *s, const void *buf, size_t len)
{
	return smtp_write(((struct live_sink *)s)->x, buf, len, s->err);
}

int smtp_live_data(struct smtp *x, int (*write)(void *ctx, struct sink *out), void *ctx,
		   struct smtp_live_reply *rep, bool *data_sent, struct error *err)
{
	struct live_sink w = {{live_write, NULL, err}, x};
	struct dot_sink d;

	*data_sent = false;
	if (ready(x, err) < 0)
		return -1;
	smtp_set_state(x, S_DATA);
	if (smtp_queue_cmd(x, err, "DATA") < 0 || take_reply(x, rep, err) < 0)
		return -1;
	if (rep->code != 354)
		return 0;
	smtp_set_state(x, S_CONTENT);
	smtp_trace(x, SMTP_NOTE, "(message data)", 14);
	dot_init(&d, &w.base);
	x->server_waits = true;
	if (write(ctx, &d.base) < 0 || dot_finish(&d) < 0) {
		x->broken = true; /* half a message is out: the dialogue cannot go on */
		return -1;
	}
	x->server_waits = false;
	*data_sent = true;
	smtp_set_state(x, S_END_OF_DATA);
	if (smtp_expect(x, S_END_OF_DATA, 0, err) < 0)
		return -1;
	return take_reply(x, rep, err);
}
