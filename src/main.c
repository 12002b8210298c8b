/* main.c - envoi: parse, prepare, deliver, and turn the outcome into one
 * line and an exit code. The only place that prints a result or exits. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "cli.h"
#include "clock.h"
#include "engine.h"
#include "error.h"
#include "habits.h"
#include "handover.h"
#include "mime.h"
#include "oauth2.h"
#include "password.h"
#include "pickup.h"
#include "report.h"
#include "sendmail.h"
#include "smtp.h"

/* A crash is a bug: say so on one line and exit 70, never die silently
 * or with a status a caller could take for something else. Only
 * async-signal-safe calls here. */
static void on_crash(int sig)
{
	static const char msg[] = "envoi: internal error: envoi crashed (a bug; please report it)\n";
	ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);

	(void)ignored;
	(void)sig;
	_exit(70);
}

static void catch_crashes(void)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
	struct sigaction sa = {.sa_handler = on_crash, .sa_flags = (int)SA_RESETHAND};

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
		sigaction(sigs[i], &sa, NULL);
}

/* A closed 0, 1 or 2 would be handed to the next file or socket opened,
 * and the -v transcript or an error line written "to stderr" would then
 * go into the SMTP session. /dev/null keeps those numbers taken. */
static void hold_standard_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* The lowest free number is fd itself: the ones below are open. */
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			_exit(71);
	}
}

/* A core dump would hold the password (or the message) for anyone who
 * can read it: none is written, whatever the shell's ulimit -c or the
 * system's core_pattern. Not dumpable also keeps other processes of the
 * same user from attaching to envoi. Done first, before any secret is
 * read, so there is no moment when one could leak. */
static void no_core_dumps(void)
{
	struct rlimit none = {0, 0};

	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &none);
}

/* "... | envoi bob@example.com" with a whole message piped in sends its
 * header lines as body text: mail(1) and sendmail users expect that to
 * work, so say what was meant. The send goes on. */
static void warn_piped_message(const struct message *m)
{
	char head[4096], names[64];
	struct error ignored;
	ssize_t n = m->text.fd >= 0 ? msg_read_full(m->text.fd, head, sizeof head, 0, "-", &ignored) : -1;

	if (n > 0 && habits_looks_like_message(head, (size_t)n, names, sizeof names))
		fprintf(stderr, "envoi: warning: standard input starts with header lines (%s) but is "
			"sent as the body: for a whole message, use --message-file=-\n", names);
}

static int dry_run(const struct message *m, struct error *err)
{
	struct sink_fd *out = malloc(sizeof *out);
	int rc;

	if (!out)
		return err_set(err, ERR_OSERR, "out of memory");
	sink_fd_init(out, STDOUT_FILENO, err);
	rc = mime_write(m, &out->base);
	free(out);
	return rc;
}

static int pickup(struct options *o, struct error *err, bool *json_done)
{
	int64_t start = clock_ms();
	char path[4096];

	if (pickup_deliver(&o->msg, o->pickup_dir, o->pickup_mode, path, sizeof path, err) < 0)
		return -1;
	if (o->sess.output != OUT_QUIET)
		fprintf(stderr, "envoi: written to %s\n", path);
	if (o->sess.json) {
		report_json_written(stdout, path, clock_ms() - start);
		*json_done = true;
	}
	return 0;
}

/* What the engine learnt: the connection, and the message's outcome. */
struct outcome {
	struct smtp_info info;
	struct smtp_result r;
};

/* What the hooks need while a send runs. */
struct run {
	const struct session *s;
	char *password;    /* wiped once the last login is over */
	unsigned attempt;
};

static void on_warn(void *ctx, const char *text)
{
	report_warn(((struct run *)ctx)->s, text);
}

/* The password is not kept a moment longer than a login could need it:
 * only another attempt (--retry) could. */
static void on_credentials_used(void *ctx)
{
	struct run *run = ctx;

	if (run->password && run->attempt >= run->s->retry)
		explicit_bzero(run->password, strlen(run->password));
}

/* A temporary failure, or a connection refused or unreachable with no
 * word from a server: a server restarting is the usual cause. A server
 * that answers to refuse service (554 greeting) means it. */
static bool worth_retrying(const struct error *err)
{
	return err->cls == ERR_TEMPFAIL || (err->cls == ERR_UNAVAILABLE && !err->reply[0]);
}

/* What the user knows the message to weigh: the sizes of its files. */
static uint64_t content_bytes(const struct message *m)
{
	const struct body *bodies[] = {&m->text, &m->html};
	uint64_t sum = 0;
	struct stat st;

	for (size_t i = 0; i < 2; i++)
		if (bodies[i]->text)
			sum += strlen(bodies[i]->text);
		else if (bodies[i]->fd >= 0 && fstat(bodies[i]->fd, &st) == 0 && S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_size;
	for (size_t i = 0; i < m->nattach; i++)
		sum += m->attach[i].size != MSG_SIZE_UNKNOWN ? m->attach[i].size : 0;
	for (size_t i = 0; i < m->ninline; i++)
		sum += m->inlines[i].size != MSG_SIZE_UNKNOWN ? m->inlines[i].size : 0;
	return sum;
}

/* One attempt: the probe, or the message. */
static int attempt(const struct session *s, const struct smtp_params *p,
		   const struct smtp_message *m, struct run *run, const struct smtp_hooks *hooks,
		   struct outcome *out, struct error *err)
{
	if (s->probe)
		return smtp_probe(p, run->password, hooks, &out->info, err);
	return smtp_send(p, m, run->password, hooks, &out->info, &out->r, err);
}

/* An OAuth2 token the server refuses may have been revoked, or have
 * expired early: a fresh one gets one more try, on a new session. */
static int attempt_with_token(const struct session *s, const struct smtp_params *p,
			      const struct smtp_message *m, struct run *run,
			      const struct smtp_hooks *hooks, struct outcome *out, struct error *err)
{
	int rc = attempt(s, p, m, run, hooks, out, err);

	if (rc == 0 || err->cls != ERR_AUTH_FAILED || s->oauth2.provider == OAUTH2_NONE)
		return rc;
	password_free(run->password);
	run->password = NULL;
	if (oauth2_token(&s->oauth2, true, &run->password, err) < 0)
		return -1;
	smtp_result_free(&out->r);
	smtp_info_free(&out->info);
	memset(out, 0, sizeof *out);
	rc = attempt(s, p, m, run, hooks, out, err);
	if (rc < 0 && err->cls == ERR_AUTH_FAILED)
		err_hint(err, "the server refused a fresh OAuth2 token too: check that the account "
			 "may send mail (SMTP AUTH enabled) and the oauth2-scope");
	return rc;
}

/* Sends, retrying a temporary failure (exit 75 class) with exponential
 * backoff, but never when the server may have taken the message. */
static int send_with_retry(struct options *o, const struct smtp_message *m, struct run *run,
			   struct outcome *out, struct error *err)
{
	struct session *s = &o->sess;
	struct conn_params cp = engine_conn_params(s);
	struct smtp_params p = engine_params(s, &cp);
	struct progress progress = {.content_bytes = content_bytes(&o->msg)};
	struct smtp_hooks hooks = {
		.trace = s->output == OUT_VERBOSE ? report_trace : NULL,
		.state = s->output == OUT_VERBOSE ? report_state : NULL,
		.warn = on_warn,
		.credentials_used = on_credentials_used,
		.ctx = run,
		/* A person watching a big send sees it move; logs never do. */
		.progress = s->output != OUT_QUIET && isatty(STDERR_FILENO) ? report_progress : NULL,
		.progress_ctx = &progress,
	};
	unsigned delay = 1;

	for (run->attempt = 0;; run->attempt++) {
		int rc = attempt_with_token(s, &p, m, run, &hooks, out, err);

		report_progress_end(&progress);
		if (rc == 0 || !worth_retrying(err) || out->r.maybe_delivered || run->attempt >= s->retry)
			return rc;
		if (s->output != OUT_QUIET) {
			char line[2048];

			err_format(err, line, sizeof line);
			fprintf(stderr, "%s; retrying in %u s (%u of %u)\n", line, delay, run->attempt + 1,
				s->retry);
		}
		sleep(delay);
		delay = delay < 300 ? delay * 2 : 600;
	}
}

/* A refused login is most often the wrong source winning (a stale
 * ENVOI_PASSWORD over the account's command): say which one it was. */
static void name_password_origin(struct error *err, const char *origin)
{
	size_t n = strlen(err->text);

	if (origin[0])
		snprintf(err->text + n, sizeof err->text - n, " (password %s)", origin);
	for (char *p = err->text + n; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?'; /* a file name must not break the line */
}

/* The server may have the message although the send failed: queueing
 * it could deliver it twice (deliver_smtp sets it for main). */
static bool may_have_gone;

/* --queue will keep the message after this failure: the JSON object
 * then says so (main writes it), not the failure. */
static bool will_queue(const struct options *o, const struct error *err)
{
	return o->queue == 1 && handover_queueable(err->cls) && !may_have_gone && !o->dry_run &&
	       !o->pickup_dir;
}

/* The password, the message and the send; then the report. */
static int deliver_smtp(struct options *o, struct error *err)
{
	struct session *s = &o->sess;
	struct outcome out = {0};
	struct smtp_message m = {0};
	struct run run = {.s = s};
	int64_t start = clock_ms();
	char origin[300] = "";
	int rc = 0;

	if (s->user) {
		struct password_source src = cli_password_source(s);

		rc = password_get_from(&src, &run.password, origin, sizeof origin, err);
	}
	password_wipe_sources(&s->password);
	if (rc == 0)
		report_insecure(s);
	if (rc == 0 && !s->probe)
		rc = engine_message(&o->msg, &m, err);
	if (rc == 0)
		rc = send_with_retry(o, &m, &run, &out, err);
	/* An OAuth2 token has one origin, and the error says which side refused it. */
	if (rc < 0 && err->cls == ERR_AUTH_FAILED && s->oauth2.provider == OAUTH2_NONE)
		name_password_origin(err, origin);
	password_free(run.password);
	may_have_gone = out.r.maybe_delivered;
	if (!s->probe && (rc == 0 || o->queue != 1 || !handover_queueable(err->cls) || may_have_gone))
		handover_log(o, rc == 0 ? "sent" : "failed", rc == 0 ? 0 : err_exit_code(err->cls),
			     rc == 0 ? NULL : err, &out.r, NULL);
	if (s->json && !(rc < 0 && will_queue(o, err)))
		report_json(stdout, s, &out.info, &out.r, rc == 0 ? NULL : err, clock_ms() - start);
	else if (rc == 0 && s->probe)
		report_probe(stdout, s, &out.info);
	else if (rc == 0)
		report_sent(s, &out.info, &out.r);
	smtp_result_free(&out.r);
	smtp_info_free(&out.info);
	return rc;
}

/* *json_done: the --json object is out (deliver_smtp writes one for
 * success and failure alike, except for a failure --queue keeps: the
 * object then says queued, after the queueing). */
static int deliver(struct options *o, struct error *err, bool *json_done)
{
	int rc;

	if (o->dry_run)
		return dry_run(&o->msg, err);
	if (o->pickup_dir)
		return pickup(o, err, json_done);
	rc = deliver_smtp(o, err);
	*json_done = o->sess.json && !(rc < 0 && will_queue(o, err));
	return rc;
}

/* --queue: a message the server could not take for now is kept; the
 * run succeeds. Returns 0, or -1 with err unchanged when it cannot be. */
static int enqueue(struct options *o, struct error *err)
{
	char id[64];

	if (handover_enqueue(o, id, err) < 0)
		return -1;
	if (o->sess.output != OUT_QUIET)
		fprintf(stderr, "envoi: queued as %s\n", id);
	handover_log(o, "queued", 0, err, NULL, id);
	if (o->sess.json)
		report_json_queued(stdout, &o->sess, err, id);
	return 0;
}

/* The one line of a failure and the exit code. */
static int finish(struct options *o, int rc, const struct error *err, bool json_done)
{
	if (rc < 0) {
		char line[2048];

		err_format(err, line, sizeof line);
		fprintf(stderr, "%s\n", line);
		rc = err_exit_code(err->cls);
		/* Usage, file and configuration errors too: one object, always. */
		if (o->sess.json && !json_done)
			report_json_error(stdout, err);
	}
	cli_free(o);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o;
	struct error err = {0};
	bool json_done = false;
	int rc;

	hold_standard_fds();
	no_core_dumps();
	/* A vanished reader must be an error we report, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	catch_crashes();
	if (sm_selected(argc, argv))
		return sendmail_main(argc, argv);
	rc = cli_parse(&o, argc, argv, &err);
	if (rc == 0 && o.oauth2_login) {
		rc = oauth2_login(&o.sess.oauth2, &err);
		/* --json: one object, whatever the run did */
		if (rc == 0 && o.sess.json)
			puts("{\"status\":\"logged_in\",\"exit_code\":0}");
		return finish(&o, rc, &err, false);
	}
	if (rc == 0 && (o.flush || o.queue_list)) {
		rc = o.flush ? handover_flush(&o) : handover_list(&o, false);
		cli_free(&o);
		return rc;
	}
	if (rc == 0 && o.batch) {
		rc = batch_run(&o);
		cli_free(&o);
		return rc;
	}
	if (rc == 0 && o.body_typed && o.sess.output != OUT_QUIET)
		fputs("envoi: type the message, end with Ctrl-D on a line of its own\n", stderr);
	if (rc == 0 && !o.sess.probe)
		rc = msg_prepare(&o.msg, &err);
	if (rc == 0)
		rc = cli_check_envelope(&o, &err);
	if (rc == 0 && o.body_from_stdin && o.sess.output != OUT_QUIET)
		warn_piped_message(&o.msg);
	if (rc == 0)
		rc = deliver(&o, &err, &json_done);
	if (rc < 0 && will_queue(&o, &err))
		rc = enqueue(&o, &err);
	return finish(&o, rc, &err, json_done);
}
