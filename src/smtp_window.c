/* smtp_window.c - smtp_submit and smtp_collect: a bounded window of
 * transactions in flight on one session.
 *
 * smtp_submit writes a transaction's commands (with PIPELINING and
 * CHUNKING its data too) and returns without waiting; replies are read
 * whenever they have arrived and whenever too many are owed, and each
 * goes to its transaction through the queue of expected replies
 * (smtp_read_next). smtp_collect reads until the oldest transaction's
 * outcome is known. When the session ends, every transaction whose
 * outcome is not known is settled by txn_session_ended. */
#include <stdlib.h>
#include <string.h>

#include "smtp_txn.h"

struct smtp_window {
	struct txn slot[SMTP_WINDOW];
	size_t head, n;         /* the oldest pending, and how many */
};

void smtp_window_free(struct smtp_window *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++)
		smtp_result_free(&w->slot[(w->head + i) % SMTP_WINDOW].result);
	free(w);
}

/* The session may carry another transaction. */
static bool usable(const struct smtp *x)
{
	return x->t && !x->broken && !x->ended_set && !x->server_waits && !x->login_refused;
}

bool smtp_can_submit(const struct smtp *x)
{
	return usable(x) && smtp_pending(x) < SMTP_WINDOW;
}

size_t smtp_pending(const struct smtp *x)
{
	return x->window ? x->window->n : 0;
}

bool smtp_collect_ready(const struct smtp *x)
{
	return smtp_pending(x) && x->window->slot[x->window->head].done;
}

int smtp_submit(struct smtp *x, const struct smtp_message *m, void *tag, struct error *err)
{
	struct smtp_window *w = x->window;
	struct txn *t;

	if (x->login_refused)
		return err_set(err, ERR_AUTH_FAILED, "the login to %s was refused", smtp_peer(x));
	if (!usable(x))
		return err_set(err, ERR_TEMPFAIL, "the session with %s has ended", x->info->peer);
	if (smtp_pending(x) == SMTP_WINDOW)
		return err_set(err, ERR_SOFTWARE, "the window of transactions is full");
	/* malloc, not calloc: each slot is cleared when it is taken, and
	 * calloc would clear all of them (850 KiB) when the block comes from
	 * the heap, as it does after large frees: resident for nothing */
	if (!w && (w = x->window = malloc(sizeof *w)))
		w->head = w->n = 0;
	if (!w)
		return err_set(err, ERR_OSERR, "out of memory");
	t = &w->slot[(w->head + w->n++) % SMTP_WINDOW];
	memset(t, 0, sizeof *t);
	*t = (struct txn){.x = x, .m = m, .tag = tag, .r = &t->result, .err = &t->error};
	txn_begin(t);
	return 0;
}

/* After a failed write (the server closed, perhaps after a 421 or at a
 * limit) the replies it sent before may be waiting still: each one read
 * is an outcome known rather than in doubt. Reads only what has arrived.
 * Returns true when a reply was read. */
static bool salvage(struct smtp *x)
{
	struct error ignored;

	if (!x->write_failed || x->read_failed || !x->t || x->owed == 0)
		return false;
	if (x->t->ops->pending(x->t) == 0 && x->t->ops->wait_readable(x->t, 0, &ignored) <= 0)
		return false;
	smtp_read_next(x);
	return !x->read_failed;
}

/* The session is over: every pending transaction without an outcome
 * gets one. */
static void settle_all(struct smtp *x)
{
	struct smtp_window *w = x->window;

	for (size_t i = 0; i < w->n; i++) {
		struct txn *t = &w->slot[(w->head + i) % SMTP_WINDOW];

		if (!t->done)
			txn_session_ended(t);
	}
}

int smtp_collect(struct smtp *x, void **tag, struct smtp_result *r, struct error *err)
{
	struct smtp_window *w = x->window;
	struct txn *t;

	if (!smtp_pending(x))
		return err_set(err, ERR_SOFTWARE, "no transaction to collect");
	t = &w->slot[w->head];
	while (!t->done) {
		if (x->broken || !x->t || x->owed == 0) {
			if (!salvage(x))
				settle_all(x);
		} else if (smtp_read_next(x) < 0) {
			settle_all(x);
		}
	}
	*tag = t->tag;
	smtp_result_free(r);
	*r = t->result;
	*err = t->error;
	if (x->last == t)
		x->last = NULL;
	w->head = (w->head + 1) % SMTP_WINDOW;
	w->n--;
	if (smtp_in_step(x))
		smtp_set_state(x, S_READY);
	return t->rc;
}
