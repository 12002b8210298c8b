/* batch_pool.c - --connections=N: N worker processes, each running the
 * one-session loop (batch_loop) on the lines the parent hands it.
 *
 * Processes, not threads: the TLS and configuration code keep
 * process-wide state. The parent reads the input, reports lines that are
 * not a message (bad JSON, unknown keys, bad addresses) itself, applies
 * --rate as it hands lines out ("N<TAB>json", to the worker with the
 * fewest unanswered), and copies each result line to stdout as it comes.
 * It never blocks on a worker: lines wait in a buffer until the worker's
 * pipe takes them, so a worker blocked writing results can never
 * deadlock against a parent blocked writing lines.
 *
 * A worker that dies takes the outcomes of its unanswered lines with it:
 * each is reported 75 and "may have been delivered" (its data may have
 * gone before the worker died), never sent again. Later lines go to the
 * workers left; with none left they fail 70.
 */
#include "batch_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "msgbuild.h"
#include "results.h"

/* Lines handed to a worker and not answered yet: enough to keep its
 * window of transactions full. */
#define WORKER_LINES 64

struct handed {
	unsigned long line;
	json_t *id;             /* the caller's token, for a death report */
	int64_t start;
};

struct worker {
	pid_t pid;
	int job_fd, res_fd;     /* the parent's ends; -1 once closed */
	struct batch_lines *res;
	char *out;              /* lines not yet taken by the pipe */
	size_t out_len, out_cap;
	struct handed lines[WORKER_LINES];
	size_t nlines;
};

struct pool {
	struct options *o;
	struct batch_shared *sh;
	struct worker w[16];
	unsigned n;
	struct batch_lines *in;
	int in_fd;
	bool in_eof;
	char *held;             /* a good line waiting for a worker or --rate */
	size_t held_len;
	unsigned long held_line;
	json_t *held_id;
	struct batch_rate rate;
	unsigned long line, sent, partial, failed;
	int stop_status;        /* a worker's session failure before any message */
};

/* ---- results ------------------------------------------------------------- */

static void count_status(struct pool *p, const char *status)
{
	if (!strcmp(status, "sent"))
		p->sent++;
	else if (!strcmp(status, "partial"))
		p->partial++;
	else
		p->failed++;
}

static void report(struct pool *p, unsigned long line, json_t *id, int64_t start,
		   const struct error *err)
{
	count_status(p, "failed");
	results_write(stdout, &(struct batch_result){.line = line, .id = id, .err = err,
						     .elapsed_ms = (long)(clock_ms() - start)});
}

static void forget_line(struct worker *w, unsigned long line)
{
	for (size_t i = 0; i < w->nlines; i++) {
		if (w->lines[i].line == line) {
			json_decref(w->lines[i].id);
			w->lines[i] = w->lines[--w->nlines];
			return;
		}
	}
}

/* A worker's result line, copied to stdout as it is. */
static void take_result(struct pool *p, struct worker *w, const char *text, size_t len)
{
	json_t *obj = json_loadb(text, len, 0, NULL);
	const char *status = json_string_value(json_object_get(obj, "status"));

	count_status(p, status ? status : "failed");
	forget_line(w, (unsigned long)json_integer_value(json_object_get(obj, "line")));
	json_decref(obj);
	fwrite(text, 1, len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

/* ---- workers ------------------------------------------------------------- */

/* The worker is gone: its unanswered lines are reported, its status kept. */
static void worker_gone(struct pool *p, struct worker *w)
{
	struct error err;
	int status = 0;

	if (w->job_fd >= 0)
		close(w->job_fd); /* a worker still reading lines would never end */
	while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 79)
		p->stop_status = WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		err_set(&err, ERR_TEMPFAIL, "the worker process carrying the message was killed by "
			"signal %d before its outcome was known; the message may have been "
			"delivered, so it is not sent again", WTERMSIG(status));
	else
		err_set(&err, ERR_TEMPFAIL, "the worker process carrying the message ended (status "
			"%d) before its outcome was known; the message may have been delivered, "
			"so it is not sent again", WEXITSTATUS(status));
	for (size_t i = 0; i < w->nlines; i++) {
		report(p, w->lines[i].line, w->lines[i].id, w->lines[i].start, &err);
		json_decref(w->lines[i].id);
	}
	w->nlines = 0;
	close(w->res_fd);
	batch_lines_free(w->res);
	free(w->out);
	*w = (struct worker){.job_fd = -1, .res_fd = -1};
}

/* Reads whatever results have arrived; notices the worker's end. */
static void read_results(struct pool *p, struct worker *w)
{
	enum batch_read got;
	size_t len;
	char *text;

	while ((got = batch_lines_next(w->res, 0, &text, &len)) == BATCH_LINE)
		take_result(p, w, text, len);
	if (got == BATCH_EOF)
		worker_gone(p, w);
}

/* Hands the pipe what it takes without blocking. */
static void write_lines(struct worker *w)
{
	ssize_t n = 0;

	/* a socket, not a pipe: MSG_NOSIGNAL, so a dead worker is no SIGPIPE */
	while (w->out_len && (n = send(w->job_fd, w->out, w->out_len, MSG_NOSIGNAL)) > 0) {
		memmove(w->out, w->out + n, w->out_len - (size_t)n);
		w->out_len -= (size_t)n;
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		w->out_len = 0; /* the worker is gone: read_results will say so */
}

static void close_jobs(struct pool *p)
{
	for (unsigned i = 0; i < p->n; i++) {
		if (p->w[i].job_fd >= 0 && !p->w[i].out_len) {
			close(p->w[i].job_fd);
			p->w[i].job_fd = -1;
		}
	}
}

/* In the child: everything of the parent's closed, the loop run, gone. */
static void worker_main(struct pool *p, char *password, int job_fd, int res_fd)
{
	FILE *out;

	for (unsigned i = 0; i < p->n; i++) {
		close(p->w[i].job_fd);
		close(p->w[i].res_fd);
	}
	if (p->in_fd != STDIN_FILENO)
		close(p->in_fd);
	if (!(out = fdopen(res_fd, "w")))
		_exit(err_exit_code(ERR_OSERR));
	_exit(batch_loop(p->o, &password, p->sh, job_fd, out, true));
}

static int spawn(struct pool *p, char *password, struct error *err)
{
	struct worker *w = &p->w[p->n];
	int job[2], res[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, job) < 0)
		return err_set(err, ERR_OSERR, "cannot make a socket pair: %s", strerror(errno));
	if (pipe2(res, O_CLOEXEC) < 0) {
		close(job[0]);
		close(job[1]);
		return err_set(err, ERR_OSERR, "cannot make a pipe: %s", strerror(errno));
	}
	fflush(NULL);
	if ((w->pid = fork()) < 0) {
		close(job[0]), close(job[1]), close(res[0]), close(res[1]);
		return err_set(err, ERR_OSERR, "cannot start a worker: %s", strerror(errno));
	}
	if (w->pid == 0) {
		close(job[1]);
		close(res[0]);
		worker_main(p, password, job[0], res[1]);
	}
	close(job[0]);
	close(res[1]);
	w->job_fd = job[1];
	w->res_fd = res[0];
	fcntl(w->job_fd, F_SETFL, O_NONBLOCK);
	p->n++;
	if (!(w->res = batch_lines_new(w->res_fd)))
		return err_set(err, ERR_OSERR, "out of memory");
	return 0;
}

/* ---- handing lines out --------------------------------------------------- */

static struct worker *least_busy(struct pool *p, bool *any_alive)
{
	struct worker *best = NULL;

	*any_alive = false;
	for (unsigned i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];

		if (w->job_fd < 0)
			continue;
		*any_alive = true;
		if (w->nlines < WORKER_LINES && (!best || w->nlines < best->nlines))
			best = w;
	}
	return best;
}

static int append(struct worker *w, const char *text, size_t len)
{
	if (w->out_cap - w->out_len < len) {
		size_t cap = w->out_len + len + 4096;
		char *grown = realloc(w->out, cap);

		if (!grown)
			return -1;
		w->out = grown;
		w->out_cap = cap;
	}
	memcpy(w->out + w->out_len, text, len);
	w->out_len += len;
	return 0;
}

static void drop_held(struct pool *p)
{
	free(p->held);
	json_decref(p->held_id);
	p->held = NULL;
	p->held_id = NULL;
}

/* The held line goes to the least busy worker when --rate allows it.
 * Returns the milliseconds to wait for --rate, 0 otherwise. */
static int64_t dispatch(struct pool *p)
{
	char number[32];
	bool any_alive;
	struct worker *w = least_busy(p, &any_alive);
	int64_t wait = batch_rate_delay(&p->rate);
	struct error err;

	if (!any_alive) {
		err_set(&err, ERR_SOFTWARE, "no worker process is left to send the message");
		report(p, p->held_line, p->held_id, clock_ms(), &err);
		drop_held(p);
		return 0;
	}
	if (!w || wait > 0)
		return wait;
	snprintf(number, sizeof number, "%lu\t", p->held_line);
	if (append(w, number, strlen(number)) < 0 || append(w, p->held, p->held_len) < 0 ||
	    append(w, "\n", 1) < 0) {
		err_set(&err, ERR_OSERR, "out of memory");
		report(p, p->held_line, p->held_id, clock_ms(), &err);
		drop_held(p);
		return 0;
	}
	w->lines[w->nlines++] = (struct handed){p->held_line, p->held_id, clock_ms()};
	p->held_id = NULL;
	drop_held(p);
	batch_rate_note(&p->rate);
	write_lines(w);
	return 0;
}

/* ---- input ---------------------------------------------------------------- */

/* Whether the line can be a message at all; else it is reported here. */
static bool good_line(struct pool *p, const char *text, size_t len)
{
	struct session s = p->o->sess;
	struct error err = {0};
	struct message m;
	struct job job = {0};
	bool good;

	msg_init(&m);
	good = job_parse(text, len, &job, &err) == 0 &&
	       job_build(&job, p->o->batch_defaults, &m, &s, &err) == 0;
	if (good)
		p->held_id = job.id ? json_incref(job.id) : NULL;
	else
		report(p, p->line, job.id, clock_ms(), &err);
	msg_free(&m);
	job_free(&job);
	return good;
}

/* Takes the lines that are ready until one is held for a worker. */
static void take_input(struct pool *p)
{
	enum batch_read got;
	size_t len;
	char *text;

	while (!p->held && !p->in_eof) {
		got = batch_lines_next(p->in, 0, &text, &len);
		if (got == BATCH_NONE)
			return;
		if (got == BATCH_EOF) {
			p->in_eof = true;
			return;
		}
		p->line++;
		if (batch_blank(text, len) || !good_line(p, text, len))
			continue;
		if (!(p->held = malloc(len ? len : 1))) {
			struct error err;

			err_set(&err, ERR_OSERR, "out of memory");
			report(p, p->line, p->held_id, clock_ms(), &err);
			json_decref(p->held_id);
			p->held_id = NULL;
			continue;
		}
		memcpy(p->held, text, len);
		p->held_len = len;
		p->held_line = p->line;
	}
}

/* ---- the parent's loop ---------------------------------------------------- */

/* Waits for input, results, room in a pipe, or --rate's moment. */
static void wait_events(struct pool *p, int64_t wait_ms)
{
	struct pollfd fds[1 + 2 * 16];
	struct worker *owner[1 + 2 * 16] = {NULL};
	nfds_t n = 0;

	if (!p->held && !p->in_eof)
		fds[n++] = (struct pollfd){.fd = p->in_fd, .events = POLLIN};
	for (unsigned i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];

		if (w->res_fd >= 0) {
			owner[n] = w;
			fds[n++] = (struct pollfd){.fd = w->res_fd, .events = POLLIN};
		}
		if (w->job_fd >= 0 && w->out_len) {
			owner[n] = w;
			fds[n++] = (struct pollfd){.fd = w->job_fd, .events = POLLOUT};
		}
	}
	if (poll(fds, n, wait_ms > 0 ? (int)wait_ms : -1) <= 0)
		return;
	for (nfds_t i = 0; i < n; i++) {
		if (!owner[i] || !fds[i].revents)
			continue;
		if (fds[i].events & POLLOUT && owner[i]->job_fd >= 0)
			write_lines(owner[i]);
		else if (fds[i].events & POLLIN && owner[i]->res_fd >= 0)
			read_results(p, owner[i]);
	}
}

static bool any_worker(const struct pool *p)
{
	for (unsigned i = 0; i < p->n; i++)
		if (p->w[i].res_fd >= 0)
			return true;
	return false;
}

static void run_pool(struct pool *p)
{
	for (;;) {
		int64_t wait = 0;

		take_input(p);
		if (p->held) {
			wait = dispatch(p);
			if (!p->held)
				continue; /* handed out: more input may be ready */
		}
		if (p->in_eof && !p->held)
			close_jobs(p);
		if (p->in_eof && !p->held && !any_worker(p))
			return;
		wait_events(p, wait);
	}
}

static int pool_status(const struct pool *p)
{
	if (p->o->sess.output != OUT_QUIET)
		fprintf(stderr, "envoi: batch: %lu sent, %lu partial, %lu failed\n", p->sent,
			p->partial, p->failed);
	if (!p->partial && !p->failed)
		return 0;
	if (p->stop_status && !atomic_load(&p->sh->any_reached))
		return p->stop_status;
	return 79;
}

int batch_pool_run(struct options *o, char *password, int in_fd)
{
	struct pool p = {.o = o, .in_fd = in_fd};
	struct error err = {0};
	int status = 0;

	p.sh = mmap(NULL, sizeof *p.sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p.sh == MAP_FAILED || batch_rate_init(&p.rate, o->rate_n, o->rate_window_ms) < 0 ||
	    !(p.in = batch_lines_new(in_fd)))
		err_set(&err, ERR_OSERR, "out of memory");
	for (unsigned i = 0; err.cls == ERR_OK && i < o->connections; i++)
		spawn(&p, password, &err);
	if (err.cls == ERR_OK) {
		run_pool(&p);
		status = pool_status(&p);
	}
	for (unsigned i = 0; i < p.n; i++)
		if (p.w[i].res_fd >= 0)
			worker_gone(&p, &p.w[i]);
	if (err.cls != ERR_OK) {
		fprintf(stderr, "envoi: batch: %s\n", err.text);
		status = err_exit_code(err.cls);
	}
	batch_lines_free(p.in);
	batch_rate_free(&p.rate);
	if (p.sh != MAP_FAILED)
		munmap(p.sh, sizeof *p.sh);
	return status;
}
