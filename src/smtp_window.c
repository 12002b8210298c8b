/* smtp_window.c - smtp_submit and smtp_collect.
 *
 * For now each submitted transaction runs to its end at once (one
 * smtp_transact, RSET after a failure) and its outcome waits in a queue
 * until collected: the interface batch mode stands on, without the
 * latency hidden yet. */
#include <stdlib.h>
#include <string.h>

#include "smtp_int.h"

struct outcome {
	void *tag;
	int rc;
	struct error err;
	struct smtp_result r;
};

/* At most one outcome waits: submit refuses a second before collect. */
struct smtp_window {
	struct outcome done;
	bool full;
};

void smtp_window_free(struct smtp_window *w)
{
	if (w && w->full)
		smtp_result_free(&w->done.r);
	free(w);
}

bool smtp_can_submit(const struct smtp *x)
{
	return smtp_in_step(x) && !(x->window && x->window->full);
}

size_t smtp_pending(const struct smtp *x)
{
	return x->window && x->window->full;
}

int smtp_submit(struct smtp *x, const struct smtp_message *m, void *tag, struct error *err)
{
	struct outcome *o;

	if (!smtp_can_submit(x))
		return x->window && x->window->full
			       ? err_set(err, ERR_SOFTWARE, "the window of transactions is full")
			       : err_set(err, ERR_TEMPFAIL, "the session with %s has ended",
					 smtp_peer(x));
	if (!x->window && !(x->window = calloc(1, sizeof *x->window)))
		return err_set(err, ERR_OSERR, "out of memory");
	o = &x->window->done;
	*o = (struct outcome){.tag = tag};
	o->rc = smtp_transact(x, m, &o->r, &o->err);
	if (o->rc < 0 && smtp_in_step(x) && x->in_transaction)
		smtp_reset(x, &(struct error){0});
	o->r.session_lost = !smtp_in_step(x);
	x->window->full = true;
	return 0;
}

int smtp_collect(struct smtp *x, void **tag, struct smtp_result *r, struct error *err)
{
	struct outcome *o;

	if (!smtp_pending(x))
		return err_set(err, ERR_SOFTWARE, "no transaction to collect");
	o = &x->window->done;
	*tag = o->tag;
	*r = o->r;
	*err = o->err;
	x->window->full = false;
	return o->rc;
}
