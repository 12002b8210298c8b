/* batch_conn.c - one session at a time carrying every message of a run:
 * opened for the first message, reused, ended after --max-per-connection
 * messages or when idle, reopened when the server ends it.
 *
 * Messages wait in two queues: again (taken back from a session that
 * ended before it took them, or waiting for --retry) before waiting (new
 * ones). Submitted ones sit in flight, in submission order, which is the
 * order smtp_collect hands their outcomes back.
 */
#include "batch_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "engine.h"
#include "report.h"

/* A message the server keeps not taking (a session ending each time
 * before it does) fails after this many sessions. */
#define LOSSES_MAX 3

struct fifo {
	struct batch_item *head, *tail;
};

struct batch_conn {
	const struct options *o;
	const char *password;
	struct batch_shared *sh;
	struct batch_rate *rate;
	batch_report_fn *report;
	void *ctx;
	struct smtp_hooks hooks;
	struct conn_params cp;
	struct smtp_params p;   /* the session's; DSN follows each message */
	struct smtp_info info;
	struct smtp *x;         /* NULL: no session open */
	unsigned number;        /* the open session's number */
	unsigned taken;         /* messages submitted on it */
	struct fifo again, waiting, flight;
	bool stopped;
	struct error stop;
};

static void fifo_put(struct fifo *q, struct batch_item *it)
{
	it->next = NULL;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
}

static struct batch_item *fifo_take(struct fifo *q)
{
	struct batch_item *it = q->head;

	if (it && !(q->head = it->next))
		q->tail = NULL;
	return it;
}

/* The queue the next message to send comes from, NULL when none waits. */
static struct fifo *next_queue(struct batch_conn *c)
{
	return c->again.head ? &c->again : c->waiting.head ? &c->waiting : NULL;
}

static void on_warn(void *ctx, const char *text)
{
	report_warn(&((struct batch_conn *)ctx)->o->sess, text);
}

struct batch_conn *batch_conn_new(const struct options *o, const char *password,
				  struct batch_shared *sh, struct batch_rate *rate,
				  batch_report_fn *report, void *ctx)
{
	struct batch_conn *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	*c = (struct batch_conn){.o = o, .password = password, .sh = sh, .rate = rate,
				 .report = report, .ctx = ctx};
	c->hooks = (struct smtp_hooks){
		.trace = o->sess.output == OUT_VERBOSE ? report_trace : NULL,
		.warn = on_warn,
		.ctx = c,
	};
	return c;
}

static void end_session(struct batch_conn *c)
{
	smtp_quit(c->x);
	smtp_info_free(&c->info);
	c->x = NULL;
	c->number = c->taken = 0;
}

/* The session's DSN settings become it's; only between transactions. */
static void use_dsn(struct batch_conn *c, const struct batch_item *it)
{
	c->p.dsn_notify = it->s.dsn_notify;
	c->p.dsn_ret = it->s.dsn_ret;
}

static bool same_dsn(const struct batch_conn *c, const struct batch_item *it)
{
	return c->p.dsn_notify == it->s.dsn_notify && c->p.dsn_ret == it->s.dsn_ret;
}

/* ---- outcomes ------------------------------------------------------------ */

static void done(struct batch_conn *c, struct batch_item *it, int rc, const struct smtp_result *r,
		 const struct error *err)
{
	c->report(c->ctx, it, rc, r, err, r ? c->number : 0);
}

/* Every message of q fails with err. */
static void fail_all(struct batch_conn *c, struct fifo *q, const struct error *err)
{
	struct batch_item *it;

	while ((it = fifo_take(q)))
		done(c, it, -1, NULL, err);
}

/* The data went and no verdict came: the error says so, for a caller who
 * would otherwise send it again. */
static void say_maybe_delivered(struct error *err)
{
	static const char said[] = "; the message may have been delivered, so it is not sent again";
	static const char again[] = ", so it is not sent again";
	/* the engine may have said the first half already */
	const char *tail = strstr(err->text, "may have been delivered") ? again : said;
	size_t len = strlen(tail) + 1, n = strnlen(err->text, sizeof err->text - len);

	memcpy(err->text + n, tail, len);
	err->cls = ERR_TEMPFAIL;
}

static bool worth_retrying(const struct batch_item *it, const struct smtp_result *r,
			   const struct error *err)
{
	return err->cls == ERR_TEMPFAIL && !r->maybe_delivered && it->retries < it->s.retry;
}

/* --retry's pause before attempt n+1: 1 s, doubling, at most 600 s. */
static int64_t retry_delay_ms(unsigned n)
{
	int64_t s = 1;

	while (n-- > 1 && s < 600)
		s = s < 300 ? s * 2 : 600;
	return s * 1000;
}

static void outcome(struct batch_conn *c, struct batch_item *it, int rc,
		    const struct smtp_result *r, struct error *err)
{
	if (rc < 0 && r->session_lost && !r->maybe_delivered && ++it->losses <= LOSSES_MAX) {
		fifo_put(&c->again, it); /* not taken: the next session sends it */
		return;
	}
	if (rc < 0 && r->maybe_delivered && !r->delivered)
		say_maybe_delivered(err);
	if (rc < 0 && worth_retrying(it, r, err)) {
		it->not_before = clock_ms() + retry_delay_ms(++it->retries);
		fifo_put(&c->again, it);
		return;
	}
	done(c, it, rc, r, err);
}

/* Waits for the oldest transaction in flight and deals with its outcome. */
static void collect_one(struct batch_conn *c)
{
	struct smtp_result r = {0};
	struct error err = {0};
	void *tag = NULL;
	int rc = smtp_collect(c->x, &tag, &r, &err);
	/* outcomes come in submission order: tag is the oldest in flight */
	struct batch_item *it = fifo_take(&c->flight);

	if (it) {
		if (tag != it)
			rc = err_set(&err, ERR_SOFTWARE, "an outcome came back out of order");
		outcome(c, it, rc, &r, &err);
	}
	smtp_result_free(&r);
}

static void collect_all(struct batch_conn *c)
{
	while (c->x && smtp_pending(c->x))
		collect_one(c);
}

/* ---- opening ----------------------------------------------------------- */

/* Opening failed: every message waiting fails with its code, unless
 * --retry allows another attempt. */
static void open_failed(struct batch_conn *c, struct error *err)
{
	struct batch_item *first = next_queue(c)->head;

	if (err->cls == ERR_TEMPFAIL && first->retries < first->s.retry) {
		sleep((unsigned)(retry_delay_ms(++first->retries) / 1000));
		return;
	}
	if (batch_session_failure(err->cls) && !atomic_load(&c->sh->any_reached)) {
		c->stopped = true;
		c->stop = *err;
	}
	fail_all(c, &c->again, err);
	fail_all(c, &c->waiting, err);
}

static void open_session(struct batch_conn *c)
{
	const struct batch_item *first = next_queue(c)->head;
	struct error err = {0};

	c->cp = engine_conn_params(&c->o->sess);
	c->p = engine_params(&c->o->sess, &c->cp);
	use_dsn(c, first);
	/* With its first message: AUTH PLAIN rides in that message's
	 * pipelined group, a round trip less per session. */
	if (smtp_open(&c->x, &c->p, c->password, &first->sm, &c->hooks, &c->info, &err) < 0) {
		c->x = NULL;
		smtp_info_free(&c->info);
		open_failed(c, &err);
		return;
	}
	c->number = atomic_fetch_add(&c->sh->sessions, 1) + 1;
	c->taken = 0;
}

/* ---- submitting -------------------------------------------------------- */

static void lost_for_good(struct batch_conn *c, struct batch_item *it)
{
	struct error err;

	err_set(&err, ERR_TEMPFAIL, "%d sessions ended before the server took the message",
		LOSSES_MAX + 1);
	done(c, it, -1, NULL, &err);
}

/* Something that must happen before it can go: the session full or
 * spent, another DSN setting, --retry's pause, --rate. Does one step of
 * it and returns true, or returns false when it may go now. */
static bool wait_before(struct batch_conn *c, struct batch_item *it)
{
	int64_t now = clock_ms(), wait = it->not_before - now;
	bool pending = smtp_pending(c->x) > 0;

	if (wait <= 0)
		wait = batch_rate_delay(c->rate);
	if (wait <= 0 && same_dsn(c, it) && c->taken < c->o->max_per_connection &&
	    smtp_can_submit(c->x))
		return false;
	if (pending) {
		collect_one(c);
	} else if (c->taken >= c->o->max_per_connection || !smtp_can_submit(c->x)) {
		if (c->taken == 0 && ++it->losses > LOSSES_MAX)
			lost_for_good(c, fifo_take(next_queue(c)));
		end_session(c);
	} else if (!same_dsn(c, it)) {
		use_dsn(c, it);
	} else {
		usleep((useconds_t)(wait * 1000));
	}
	return true;
}

static void submit(struct batch_conn *c, struct fifo *q)
{
	struct batch_item *it = q->head;
	struct error err = {0};

	if (smtp_submit(c->x, &it->sm, it, &err) == 0) {
		fifo_put(&c->flight, fifo_take(q));
		c->taken++;
		batch_rate_note(c->rate);
		atomic_store(&c->sh->any_reached, true);
		return;
	}
	fifo_take(q);
	if (smtp_can_submit(c->x)) { /* its own fault: the session goes on */
		done(c, it, -1, NULL, &err);
		return;
	}
	collect_all(c); /* the session has ended, and it was not taken */
	end_session(c);
	if (++it->losses > LOSSES_MAX)
		done(c, it, -1, NULL, &err);
	else
		fifo_put(&c->again, it);
}

/* Sends what waits, collecting outcomes only when it must. */
static void pump(struct batch_conn *c)
{
	struct fifo *q;

	while ((q = next_queue(c))) {
		if (c->stopped)
			done(c, fifo_take(q), -1, NULL, &c->stop);
		else if (!c->x)
			open_session(c);
		else if (!wait_before(c, q->head))
			submit(c, q);
	}
}

void batch_conn_push(struct batch_conn *c, struct batch_item *it)
{
	fifo_put(&c->waiting, it);
	pump(c);
}

void batch_conn_drain(struct batch_conn *c)
{
	for (;;) {
		pump(c);
		if (!c->x || !smtp_pending(c->x))
			break;
		collect_one(c);
	}
	if (c->x && !smtp_can_submit(c->x))
		end_session(c); /* ended by the server: the next message opens one */
}

bool batch_conn_is_open(const struct batch_conn *c)
{
	return c->x != NULL;
}

void batch_conn_close(struct batch_conn *c)
{
	batch_conn_drain(c);
	if (c->x)
		end_session(c);
}

const struct error *batch_conn_stopped(const struct batch_conn *c)
{
	return c->stopped ? &c->stop : NULL;
}

void batch_conn_free(struct batch_conn *c)
{
	if (!c)
		return;
	batch_conn_close(c);
	free(c);
}
