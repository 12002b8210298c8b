/* batch.c - --batch: read a line, build its message, send it, report it.
 *
 * One line at a time, its job and message freed once its result is out,
 * so memory stays flat however long the input. Results are flushed as
 * soon as known: a program may write a line and wait for its result.
 */
#include "batch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "engine.h"
#include "jobjson.h"
#include "msgbuild.h"
#include "password.h"
#include "report.h"
#include "results.h"

/* ---- the one-shot sender: a session per message ----------------------- */

struct oneshot {
	struct batch_sender base;
	const struct session *s;
	char *password;
	unsigned connections; /* sessions opened so far */
};

static void on_warn(void *ctx, const char *text)
{
	report_warn(((struct oneshot *)ctx)->s, text);
}

/* Failures of the session, not of the message: the server never saw a
 * MAIL FROM. */
static bool session_failure(enum err_class cls)
{
	return cls == ERR_NOHOST || cls == ERR_UNAVAILABLE || cls == ERR_CONFIG ||
	       (cls >= ERR_TLS_MISMATCH && cls <= ERR_AUTH_IMPOSSIBLE);
}

/* One attempt over a session of its own. */
static int oneshot_attempt(struct oneshot *os, const struct session *s,
			   const struct smtp_message *sm, const struct smtp_hooks *hooks,
			   struct smtp_result *r, struct error *err)
{
	struct conn_params cp = engine_conn_params(s);
	struct smtp_params p = engine_params(s, &cp);
	struct smtp_info info = {0};
	int rc = smtp_send(&p, sm, os->password, hooks, &info, r, err);

	smtp_info_free(&info);
	return rc;
}

static int oneshot_send(struct batch_sender *self, const struct session *s, struct message *m,
			struct batch_sent *out, struct error *err)
{
	struct oneshot *os = (struct oneshot *)self;
	struct smtp_hooks hooks = {
		.trace = s->output == OUT_VERBOSE ? report_trace : NULL,
		.warn = on_warn,
		.ctx = os,
	};
	struct smtp_message sm;
	unsigned delay = 1;
	int rc;

	if (engine_message(m, &sm, err) < 0)
		return -1; /* a file problem: the server never saw it */
	for (unsigned attempt = 0;; attempt++) {
		out->connection = ++os->connections;
		rc = oneshot_attempt(os, s, &sm, &hooks, &out->r, err);
		out->reached = rc == 0 || !session_failure(err->cls);
		/* --retry: a temporary failure, never once the server may have it */
		if (rc == 0 || err->cls != ERR_TEMPFAIL || out->r.maybe_delivered || attempt >= s->retry)
			break;
		sleep(delay);
		delay = delay < 300 ? delay * 2 : 600;
		smtp_result_free(&out->r);
		memset(&out->r, 0, sizeof out->r);
		*err = (struct error){0};
	}
	return rc;
}

static void oneshot_close(struct batch_sender *self)
{
	struct oneshot *os = (struct oneshot *)self;

	password_free(os->password);
	free(os);
}

struct batch_sender *batch_oneshot_sender(const struct options *o, struct error *err)
{
	struct oneshot *os = calloc(1, sizeof *os);
	char origin[300];

	if (!os) {
		err_set(err, ERR_OSERR, "out of memory");
		return NULL;
	}
	os->base.send = oneshot_send;
	os->base.close = oneshot_close;
	os->s = &o->sess;
	if (o->sess.user) {
		struct password_source src = cli_password_source(&o->sess);

		if (password_get_from(&src, &os->password, origin, sizeof origin, err) < 0) {
			free(os);
			return NULL;
		}
	}
	return &os->base;
}

/* ---- the loop ----------------------------------------------------------- */

struct run {
	struct options *o;
	struct batch_sender *sender;
	bool stopped;          /* a session failure before any message went */
	struct error stop;     /* ... which every later message reports */
	bool any_reached;
	unsigned long line, sent, partial, failed;
	int64_t *stamps;       /* --rate: when each of the last N messages went */
	size_t nstamps, next;
};

/* --rate: waits until a message may go without N in one window. */
static void rate_wait(struct run *run)
{
	int64_t oldest, now;

	if (!run->stamps || run->nstamps < run->o->rate_n)
		return;
	oldest = run->stamps[run->next];
	now = clock_ms();
	if (oldest + run->o->rate_window_ms > now)
		usleep((useconds_t)((oldest + run->o->rate_window_ms - now) * 1000));
}

static void rate_note(struct run *run)
{
	if (!run->stamps)
		return;
	run->stamps[run->next] = clock_ms();
	run->next = (run->next + 1) % run->o->rate_n;
	if (run->nstamps < run->o->rate_n)
		run->nstamps++;
}

/* The line's message, built and read, ready to send. Returns 0 or -1. */
static int build(struct run *run, const char *text, size_t len, struct job *job,
		 struct message *m, struct session *s, struct error *err)
{
	if (job_parse(text, len, job, err) < 0 || job_build(job, run->o->batch_defaults, m, s, err) < 0 ||
	    msg_prepare(m, err) < 0)
		return -1;
	if (msg_missing(m) == MSG_NO_SENDER)
		return err_set(err, ERR_USAGE, "no sender: give \"from\" (or --from ADDR as a default)");
	if (msg_missing(m) == MSG_NO_RECIPIENT)
		return err_set(err, ERR_USAGE, "no recipient: give \"to\", \"cc\" or \"bcc\"");
	return 0;
}

static int send_one(struct run *run, const struct session *s, struct message *m,
		    struct batch_sent *out, struct error *err)
{
	int rc;

	if (run->stopped) {
		*err = run->stop;
		return -1;
	}
	rate_wait(run);
	rc = run->sender->send(run->sender, s, m, out, err);
	if (out->reached) {
		run->any_reached = true;
		rate_note(run);
	} else if (rc < 0 && !run->any_reached) {
		run->stopped = true;
		run->stop = *err;
	}
	return rc;
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

static void one_line(struct run *run, const char *text, size_t len)
{
	struct session s = run->o->sess;
	struct batch_sent out = {0};
	struct error err = {0};
	int64_t start = clock_ms();
	struct message m;
	struct job job;
	int rc;

	msg_init(&m);
	rc = build(run, text, len, &job, &m, &s, &err);
	if (rc == 0)
		rc = send_one(run, &s, &m, &out, &err);
	count(run, rc, &err);
	results_write(stdout, &(struct batch_result){
		.line = run->line, .id = job.id, .r = out.connection ? &out.r : NULL,
		.err = rc == 0 ? NULL : &err, .elapsed_ms = (long)(clock_ms() - start),
		.connection = out.connection});
	smtp_result_free(&out.r);
	msg_free(&m);
	job_free(&job);
}

static bool blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

static void read_lines(struct run *run, FILE *in)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&buf, &cap, in)) >= 0) {
		size_t len = (size_t)n;

		run->line++;
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			len--;
		if (!blank(buf, len))
			one_line(run, buf, len);
	}
	free(buf);
}

static FILE *open_input(const char *path, struct error *err)
{
	FILE *in;

	if (!strcmp(path, "-"))
		return stdin;
	if ((in = fopen(path, "r")))
		return in;
	err_set(err, errno == ENOENT ? ERR_NOINPUT : errno == EACCES ? ERR_NOPERM : ERR_OSERR,
		"cannot read the batch file %.200s: %s", path, strerror(errno));
	return NULL;
}

static void summary(const struct run *run)
{
	if (run->o->sess.output == OUT_QUIET)
		return;
	fprintf(stderr, "envoi: batch: %lu sent, %lu partial, %lu failed\n", run->sent,
		run->partial, run->failed);
	if (run->stopped && !run->any_reached) {
		char line[2048];

		err_format(&run->stop, line, sizeof line);
		fprintf(stderr, "%s\n", line);
	}
}

static int fail(const struct error *err)
{
	char line[2048];

	err_format(err, line, sizeof line);
	fprintf(stderr, "%s\n", line);
	return err_exit_code(err->cls);
}

int batch_run(struct options *o)
{
	struct run run = {.o = o};
	struct error err = {0};
	FILE *in = open_input(o->batch, &err);

	if (!in)
		return fail(&err);
	if (o->rate_n && !(run.stamps = calloc(o->rate_n, sizeof *run.stamps)))
		err_set(&err, ERR_OSERR, "out of memory");
	if (err.cls == ERR_OK)
		run.sender = batch_oneshot_sender(o, &err);
	if (!run.sender) {
		if (in != stdin)
			fclose(in);
		free(run.stamps);
		return fail(&err);
	}
	read_lines(&run, in);
	if (in != stdin)
		fclose(in);
	run.sender->close(run.sender);
	free(run.stamps);
	summary(&run);
	if (run.stopped && !run.any_reached)
		return err_exit_code(run.stop.cls);
	return run.partial || run.failed ? 79 : 0;
}
