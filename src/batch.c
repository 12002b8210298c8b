/* batch.c - --batch: read a line, build its message, hand it to the
 * session, report its outcome.
 *
 * A message lives from its line to its result: memory stays flat however
 * long the input. While lines keep coming the session takes them (several
 * in flight); the moment none is ready, every outcome is collected, so a
 * program that writes a line and waits gets its result.
 */
#include "batch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch_int.h"
#include "clock.h"
#include "engine.h"
#include "msgbuild.h"
#include "password.h"
#include "results.h"

bool batch_session_failure(enum err_class cls)
{
	return cls == ERR_NOHOST || cls == ERR_UNAVAILABLE || cls == ERR_CONFIG ||
	       (cls >= ERR_TLS_MISMATCH && cls <= ERR_AUTH_IMPOSSIBLE);
}

/* ---- --rate ------------------------------------------------------------- */

int batch_rate_init(struct batch_rate *rt, unsigned n, unsigned window_ms)
{
	*rt = (struct batch_rate){.n = n, .window_ms = window_ms};
	return n && !(rt->stamps = calloc(n, sizeof *rt->stamps)) ? -1 : 0;
}

int64_t batch_rate_delay(const struct batch_rate *rt)
{
	int64_t wait;

	if (!rt || !rt->stamps || rt->count < rt->n)
		return 0;
	wait = rt->stamps[rt->next] + rt->window_ms - clock_ms();
	return wait > 0 ? wait : 0;
}

void batch_rate_note(struct batch_rate *rt)
{
	if (!rt || !rt->stamps)
		return;
	rt->stamps[rt->next] = clock_ms();
	rt->next = (rt->next + 1) % rt->n;
	if (rt->count < rt->n)
		rt->count++;
}

void batch_rate_free(struct batch_rate *rt)
{
	free(rt->stamps);
	rt->stamps = NULL;
}

/* ---- one line ------------------------------------------------------------ */

struct run {
	struct options *o;
	struct batch_conn *conn;
	struct batch_lines *in;
	FILE *out;
	bool worker;
	unsigned long line, sent, partial, failed;
};

static void item_free(struct batch_item *it)
{
	msg_free(&it->m);
	job_free(&it->job);
	free(it);
}

static void count(struct run *run, int rc, const struct error *err)
{
	if (rc == 0)
		run->sent++;
	else if (err->cls == ERR_SOME_RCPT)
		run->partial++;
	else
		run->failed++;
}

static void report(void *ctx, struct batch_item *it, int rc, const struct smtp_result *r,
		   const struct error *err, unsigned connection)
{
	struct run *run = ctx;

	count(run, rc, err);
	results_write(run->out, &(struct batch_result){
		.line = it->line, .id = it->job.id, .r = r, .err = rc == 0 ? NULL : err,
		.elapsed_ms = (long)(clock_ms() - it->start), .connection = connection});
	item_free(it);
}

/* The line's message, built and read, ready to send. Returns 0 or -1. */
static int build(struct run *run, const char *text, size_t len, struct batch_item *it,
		 struct error *err)
{
	if (job_parse(text, len, &it->job, err) < 0 ||
	    job_build(&it->job, run->o->batch_defaults, &it->m, &it->s, err) < 0 ||
	    msg_prepare(&it->m, err) < 0)
		return -1;
	if (msg_missing(&it->m) == MSG_NO_SENDER)
		return err_set(err, ERR_USAGE, "no sender: give \"from\" (or --from ADDR as a default)");
	if (msg_missing(&it->m) == MSG_NO_RECIPIENT)
		return err_set(err, ERR_USAGE, "no recipient: give \"to\", \"cc\" or \"bcc\"");
	return engine_message(&it->m, &it->sm, err);
}

static void one_line(struct run *run, unsigned long line, const char *text, size_t len)
{
	struct batch_item *it = calloc(1, sizeof *it);
	struct error err = {0};

	if (!it) {
		err_set(&err, ERR_OSERR, "out of memory");
		count(run, -1, &err);
		results_write(run->out, &(struct batch_result){.line = line, .err = &err});
		return;
	}
	it->line = line;
	it->start = clock_ms();
	it->s = run->o->sess;
	msg_init(&it->m);
	if (build(run, text, len, it, &err) < 0)
		report(run, it, -1, NULL, &err, 0);
	else
		batch_conn_push(run->conn, it);
}

bool batch_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/* A worker's line comes as "N<TAB>json": N is its number in the input. */
static void take_line(struct run *run, char *text, size_t len)
{
	unsigned long line = ++run->line;
	char *tab;

	if (run->worker && (tab = memchr(text, '\t', len))) {
		line = strtoul(text, NULL, 10);
		len -= (size_t)(tab + 1 - text);
		text = tab + 1;
	}
	if (!batch_blank(text, len))
		one_line(run, line, text, len);
}

/* ---- the loop ----------------------------------------------------------- */

/* When no line is ready, every outcome is collected first; then, with a
 * session open, a line is waited for --timeout seconds before the
 * session is ended with QUIT. */
static void read_lines(struct run *run)
{
	int idle_ms = (int)run->o->sess.timeout * 1000;
	enum batch_read got;
	size_t len;
	char *text;

	for (;;) {
		got = batch_lines_next(run->in, 0, &text, &len);
		if (got == BATCH_NONE) {
			batch_conn_drain(run->conn);
			got = batch_lines_next(run->in, batch_conn_is_open(run->conn) ? idle_ms : -1,
					       &text, &len);
		}
		if (got == BATCH_EOF)
			break;
		if (got == BATCH_NONE)
			batch_conn_close(run->conn);
		else
			take_line(run, text, len);
	}
	batch_conn_close(run->conn);
}

/* The counts (by the parent alone with workers), then the failure that
 * stopped the run, once however many workers met it. */
static void summary(const struct run *run, struct batch_shared *sh, const struct error *stop)
{
	char line[2048];

	if (run->o->sess.output == OUT_QUIET && !run->worker)
		return;
	if (!run->worker)
		fprintf(stderr, "envoi: batch: %lu sent, %lu partial, %lu failed\n", run->sent,
			run->partial, run->failed);
	if (stop && !atomic_exchange(&sh->stop_said, true)) {
		err_format(stop, line, sizeof line);
		fprintf(stderr, "%s\n", line);
	}
}

int batch_loop(struct options *o, char **password, struct batch_shared *sh, int in_fd,
	       FILE *out, bool worker)
{
	struct run run = {.o = o, .out = out, .worker = worker};
	struct batch_rate rate = {0};
	const struct error *stop;
	int status;

	if (batch_rate_init(&rate, worker ? 0 : o->rate_n, o->rate_window_ms) < 0 ||
	    !(run.in = batch_lines_new(in_fd)) ||
	    !(run.conn = batch_conn_new(o, password, sh, &rate, report, &run))) {
		batch_lines_free(run.in);
		batch_rate_free(&rate);
		fprintf(stderr, "envoi: batch: out of memory\n");
		return err_exit_code(ERR_OSERR);
	}
	read_lines(&run);
	stop = batch_conn_stopped(run.conn);
	summary(&run, sh, stop && !atomic_load(&sh->any_reached) ? stop : NULL);
	if (stop && !atomic_load(&sh->any_reached))
		status = err_exit_code(stop->cls);
	else
		status = run.partial || run.failed ? 79 : 0;
	batch_conn_free(run.conn);
	batch_lines_free(run.in);
	batch_rate_free(&rate);
	return status;
}

/* ---- the run ------------------------------------------------------------ */

static int open_input(const char *path, struct error *err)
{
	int fd;

	if (!strcmp(path, "-"))
		return STDIN_FILENO;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0)
		return fd;
	return err_set(err, errno == ENOENT ? ERR_NOINPUT : errno == EACCES ? ERR_NOPERM : ERR_OSERR,
		       "cannot read the batch file %.200s: %s", path, strerror(errno));
}

static int fail(const struct error *err)
{
	char line[2048];

	err_format(err, line, sizeof line);
	fprintf(stderr, "%s\n", line);
	return err_exit_code(err->cls);
}

/* The password, fetched once for the run (every session logs in). */
static int get_password(const struct options *o, char **password, struct error *err)
{
	struct password_source src;
	char origin[300];

	*password = NULL;
	if (!o->sess.user)
		return 0;
	src = cli_password_source(&o->sess);
	return password_get_from(&src, password, origin, sizeof origin, err);
}

int batch_run(struct options *o)
{
	struct batch_shared sh = {0};
	struct error err = {0};
	char *password;
	int fd = open_input(o->batch, &err), status;

	if (fd < 0)
		return fail(&err);
	if (get_password(o, &password, &err) < 0) {
		if (fd != STDIN_FILENO)
			close(fd);
		return fail(&err);
	}
	if (o->connections > 1)
		status = batch_pool_run(o, password, fd);
	else
		status = batch_loop(o, &password, &sh, fd, stdout, false);
	password_free(password);
	if (fd != STDIN_FILENO)
		close(fd);
	return status;
}
