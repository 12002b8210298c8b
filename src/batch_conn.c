/* batch_conn.c - one session at a time carrying every message of a run:
 * opened for the first message, reused, ended after --max-per-connection
 * messages or when idle, reopened when the server ends it.
 *
 * Messages wait in two queues: again (taken back from a session that
 * ended before it took them, or waiting for --retry) before waiting (new
 * ones). Submitted ones sit in flight, in submission order, which is the
 * order smtp_collect hands their outcomes back.
 *
 * A session spent (--max-per-connection) while messages wait has the
 * next one opened by a thread while it collects its last outcomes and
 * quits (struct preopen): one thread only opens, the other carries
 * messages, and never two sessions carry them at once.
 */
#include "batch_int.h"

#include <pthread.h>
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

/* What a session borrows from its opener until it is quit. */
struct slot {
	struct conn_params cp;
	struct smtp_params p;   /* the session's; DSN follows each message */
	struct smtp_info info;
};

/* The next session, opened by a thread while the current one, spent,
 * collects its last outcomes and quits: its set-up is then no longer
 * paid in series. It only opens; nothing is submitted on it before the
 * current one is quit. */
struct preopen {
	pthread_t thread;
	bool running;           /* started and not joined */
	struct batch_conn *c;
	struct slot *slot;
	const struct smtp_message *first;
	struct smtp *x;         /* the thread's result */
	unsigned number;
	struct error err;
};

struct batch_conn {
	const struct options *o;
	char **password;          /* the run's: a fresh OAuth2 token may replace it */
	struct batch_shared *sh;
	struct batch_rate *rate;
	batch_report_fn *report;
	void *ctx;
	struct smtp_hooks hooks;
	struct slot slots[2];   /* the open session's and the next one's */
	struct slot *s;         /* the open session's */
	struct preopen next;
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

/* A line at a time: a session opening ahead may be saying its own. */
static void on_trace(void *ctx, enum smtp_dir dir, const char *line, size_t len)
{
	flockfile(stderr);
	report_trace(ctx, dir, line, len);
	funlockfile(stderr);
}

static void on_warn(void *ctx, const char *text)
{
	flockfile(stderr);
	report_warn(&((struct batch_conn *)ctx)->o->sess, text);
	funlockfile(stderr);
}

struct batch_conn *batch_conn_new(const struct options *o, char **password,
				  struct batch_shared *sh, struct batch_rate *rate,
				  batch_report_fn *report, void *ctx)
{
	struct batch_conn *c = calloc(1, sizeof *c);

	if (!c)
		return NULL;
	*c = (struct batch_conn){.o = o, .password = password, .sh = sh, .rate = rate,
				 .report = report, .ctx = ctx};
	c->hooks = (struct smtp_hooks){
		.trace = o->sess.output == OUT_VERBOSE ? on_trace : NULL,
		.warn = on_warn,
		.ctx = c,
	};
	return c;
}

static void end_session(struct batch_conn *c)
{
	smtp_quit(c->x);
	smtp_info_free(&c->s->info);
	c->x = NULL;
	c->number = c->taken = 0;
}

/* The session's DSN settings become it's; only between transactions. */
static void use_dsn(struct slot *s, const struct batch_item *it)
{
	s->p.dsn_notify = it->s.dsn_notify;
	s->p.dsn_ret = it->s.dsn_ret;
}

static bool same_dsn(const struct batch_conn *c, const struct batch_item *it)
{
	return c->s->p.dsn_notify == it->s.dsn_notify && c->s->p.dsn_ret == it->s.dsn_ret;
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

/* The slot the next session borrows: the one the open session does not. */
static struct slot *free_slot(struct batch_conn *c)
{
	return c->s == &c->slots[0] ? &c->slots[1] : &c->slots[0];
}

static void prepare(struct batch_conn *c, struct slot *s, const struct batch_item *first)
{
	s->cp = engine_conn_params(&c->o->sess);
	s->p = engine_params(&c->o->sess, &s->cp);
	use_dsn(s, first);
}

/* Opens a session on s for first. Returns it, or NULL with err set. The
 * number is taken the moment it is open: numbers follow the order
 * sessions open. Runs on either thread: it writes only s, and reads what
 * stays as it is while it runs (the options, the hooks, first, which
 * waits in its queue until a session is open). The password is replaced
 * only here (a fresh OAuth2 token), and never two opens run at once. */
static struct smtp *open_on(struct batch_conn *c, struct slot *s, const struct smtp_message *first,
			    unsigned *number, struct error *err)
{
	struct smtp *x;

	/* With its first message: AUTH PLAIN rides in that message's
	 * pipelined group, a round trip less per session. */
	if (engine_open(&x, &c->o->sess, &s->p, c->password, first, &c->hooks, &s->info, err) < 0) {
		smtp_info_free(&s->info);
		return NULL;
	}
	*number = atomic_fetch_add(&c->sh->sessions, 1) + 1;
	return x;
}

static void *preopen_run(void *arg)
{
	struct preopen *n = arg;

	n->x = open_on(n->c, n->slot, n->first, &n->number, &n->err);
	return NULL;
}

/* The open session is spent with transactions in flight and a message
 * waits: the next session starts opening now. pump joins it before it
 * can return, since nothing leaves the queues until a session is open.
 * Without a thread, the session opens when it is needed, as before. */
static void preopen_start(struct batch_conn *c)
{
	struct preopen *n = &c->next;

	*n = (struct preopen){.c = c, .slot = free_slot(c), .first = &next_queue(c)->head->sm};
	prepare(c, n->slot, next_queue(c)->head);
	n->running = pthread_create(&n->thread, NULL, preopen_run, n) == 0;
}

/* The next session: the one opened ahead if there is one (its failure
 * then dealt with here, as if it had failed now), else opened now. */
static void open_session(struct batch_conn *c)
{
	struct slot *s = free_slot(c);
	struct error err = {0};
	unsigned number = 0;
	struct smtp *x;

	if (c->next.running) {
		pthread_join(c->next.thread, NULL);
		c->next.running = false;
		x = c->next.x;
		number = c->next.number;
		err = c->next.err;
	} else {
		prepare(c, s, next_queue(c)->head);
		x = open_on(c, s, &next_queue(c)->head->sm, &number, &err);
	}
	if (!x) {
		open_failed(c, &err);
		return;
	}
	c->x = x;
	c->s = s;
	c->number = number;
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
		if (c->taken >= c->o->max_per_connection && !c->next.running)
			preopen_start(c);
		collect_one(c);
	} else if (c->taken >= c->o->max_per_connection || !smtp_can_submit(c->x)) {
		if (c->taken == 0 && ++it->losses > LOSSES_MAX)
			lost_for_good(c, fifo_take(next_queue(c)));
		end_session(c);
	} else if (!same_dsn(c, it)) {
		use_dsn(c->s, it);
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
