/* handover.c - sending, logging and queueing one message, and the
 * queue's commands. */
#include "handover.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "mime.h"
#include "msgbuild.h"
#include "password.h"
#include "queue.h"
#include "report.h"
#include "sendlog.h"
#include "sink.h"

static void on_warn(void *ctx, const char *text)
{
	report_warn(ctx, text);
}

int handover_send(struct options *o, const char *password, struct smtp_result *r,
		  struct error *err)
{
	struct session *s = &o->sess;
	struct smtp_hooks hooks = {
		.trace = s->output == OUT_VERBOSE ? report_trace : NULL,
		.warn = on_warn,
		.ctx = s,
	};
	struct conn_params cp = engine_conn_params(s);
	struct smtp_params p = engine_params(s, &cp);
	struct smtp_message m;
	struct smtp_info info = {0};
	int rc;

	report_insecure(s);
	rc = engine_message(&o->msg, &m, err);
	if (rc == 0)
		rc = smtp_send(&p, &m, password, &hooks, &info, r, err);
	smtp_info_free(&info);
	return rc;
}

bool handover_queueable(enum err_class cls)
{
	return cls == ERR_NOHOST || cls == ERR_UNAVAILABLE || cls == ERR_TEMPFAIL;
}

int handover_queue_dir(const struct options *o, char *buf, size_t size)
{
	if (o->queue_dir) {
		snprintf(buf, size, "%s", o->queue_dir);
		return 0;
	}
	return queue_default_dir(buf, size);
}

static int write_message(void *ctx, int fd, struct error *err)
{
	struct sink_fd *out = malloc(sizeof *out);
	int rc;

	if (!out)
		return err_set(err, ERR_OSERR, "out of memory");
	sink_fd_init(out, fd, err);
	rc = mime_write(ctx, &out->base);
	free(out);
	if (rc < 0 && err->cls == ERR_IOERR)
		err->cls = ERR_CANTCREAT;
	return rc;
}

/* The envelope sender: <> for a bounce, else the sender's mailbox. */
static const char *envelope_sender(const struct message *m)
{
	return m->null_sender ? "" : m->from.mailbox;
}

/* The envelope's recipients: mailboxes of To, Cc and Bcc. */
static char **envelope_rcpts(const struct message *m, size_t *n)
{
	char **v = calloc(msg_rcpt_count(m) + 1, sizeof *v);

	*n = 0;
	while (v && *n < msg_rcpt_count(m)) {
		v[*n] = (char *)msg_rcpt(m, *n); /* borrowed: only the array is freed */
		(*n)++;
	}
	return v;
}

int handover_enqueue(const struct options *o, char *id, struct error *err)
{
	char dir[4096], config[PATH_MAX];
	struct queue_env env = {.account = o->account, .sender = (char *)envelope_sender(&o->msg),
				.created = time(NULL), .error = (char *)err->text};
	struct error qerr = {0};
	int rc;

	if (handover_queue_dir(o, dir, sizeof dir) < 0)
		return -1;
	if (o->config_path)
		env.config = realpath(o->config_path, config) ? config : o->config_path;
	env.rcpts = envelope_rcpts(&o->msg, &env.nrcpts);
	if (!env.rcpts)
		return err_set(err, ERR_OSERR, "out of memory");
	rc = queue_add(dir, &env, write_message, (void *)&o->msg, id, &qerr);
	free(env.rcpts);
	if (rc < 0)
		fprintf(stderr, "envoi: cannot queue the message: %s\n", qerr.text);
	return rc;
}

/* Copies the file open at ctx (an int *) into fd. */
static int copy_file(void *ctx, int fd, struct error *err)
{
	int in = *(int *)ctx;
	char buf[65536];
	ssize_t n;

	if (lseek(in, 0, SEEK_SET) < 0)
		return err_set(err, ERR_IOERR, "cannot read the message back: %s", strerror(errno));
	while ((n = read(in, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(err, ERR_IOERR, "cannot read the message back: %s", strerror(errno));
		for (ssize_t off = 0, w; off < n; off += w)
			if ((w = write(fd, buf + off, (size_t)(n - off))) <= 0)
				return err_set(err, ERR_CANTCREAT, "cannot write to the queue: %s",
					       strerror(errno));
	}
	return 0;
}

int handover_enqueue_file(const struct options *o, const char *sender, char *const *rcpts,
			  size_t n, int fd, const char *why, char *id, struct error *err)
{
	char dir[4096], config[PATH_MAX];
	struct queue_env env = {.account = o->account, .sender = (char *)sender,
				.rcpts = (char **)rcpts, .nrcpts = n, .created = time(NULL),
				.error = (char *)why};

	if (handover_queue_dir(o, dir, sizeof dir) < 0)
		return err_set(err, ERR_CANTCREAT, "no queue directory (HOME is unset)");
	if (o->config_path)
		env.config = realpath(o->config_path, config) ? config : o->config_path;
	return queue_add(dir, &env, copy_file, &fd, id, err);
}

static char *server_name(const struct session *s, char *buf, size_t size)
{
	if (!s->host)
		return NULL;
	snprintf(buf, size, strchr(s->host, ':') ? "[%s]:%u" : "%s:%u", s->host, s->port);
	return buf;
}

static void log_outcome(const struct options *o, const char *outcome, int exit_code,
			const struct error *err, const struct smtp_result *r, const char *queue_id,
			const char *entry_id)
{
	char server[400];
	size_t n;
	char **rcpts;
	struct sendlog_rec rec = {
		.account = o->account, .server = server_name(&o->sess, server, sizeof server),
		.sender = envelope_sender(&o->msg), .outcome = outcome, .exit_code = exit_code,
		.cls = err && err->cls ? err_class_name(err->cls) : "sent",
		.size = r && r->size ? r->size : o->msg.message_size,
		.queue_id = queue_id ? queue_id : r ? r->queue_id : NULL, .entry_id = entry_id,
	};

	if (!o->log)
		return;
	rcpts = envelope_rcpts(&o->msg, &n);
	rec.rcpts = (const char *const *)rcpts;
	rec.nrcpts = rcpts ? n : 0;
	sendlog_write(o->log, &rec);
	free(rcpts);
}

void handover_log(const struct options *o, const char *outcome, int exit_code,
		  const struct error *err, const struct smtp_result *r, const char *queue_id)
{
	log_outcome(o, outcome, exit_code, err, r, queue_id, NULL);
}

void handover_log_envelope(const struct options *o, const char *outcome, const char *cls,
			   int exit_code, const char *sender, const char *const *rcpts, size_t n,
			   uint64_t size, const char *queue_id)
{
	char server[400];
	struct sendlog_rec rec = {
		.account = o->account, .server = server_name(&o->sess, server, sizeof server),
		.sender = sender, .rcpts = rcpts, .nrcpts = n, .size = size, .outcome = outcome,
		.cls = cls, .exit_code = exit_code, .queue_id = queue_id,
	};

	if (o->log)
		sendlog_write(o->log, &rec);
}

int handover_list(const struct options *o, bool sendmail_style)
{
	char dir[4096];
	struct error err = {0};
	long n;

	if (handover_queue_dir(o, dir, sizeof dir) < 0) {
		fprintf(stderr, "envoi: no queue: HOME is unset (give --queue-dir)\n");
		return 78;
	}
	n = queue_list(dir, stdout, time(NULL), &err);
	if (n < 0) {
		char line[1024];

		err_format(&err, line, sizeof line);
		fprintf(stderr, "%s\n", line);
		return err_exit_code(err.cls);
	}
	if (n == 0 && sendmail_style)
		puts("Mail queue is empty");
	return 0;
}

/* ---- --flush ------------------------------------------------------ */

/* One account group's session: opened for the first entry that needs
 * it, reused for the next, reopened when it ends. Its parameters
 * borrow from the options of the entry that opened it (owner), kept
 * until the session ends. */
struct group_session {
	struct options *owner;  /* the options of the entry that opened the last
	                           session (malloc'd), NULL before the first */
	struct conn_params cp;
	struct smtp_params p;
	struct smtp_hooks hooks;
	struct smtp_info info;
	struct smtp *x;
	char *password;
	bool have_pw;
	struct error down;      /* why the session cannot be had, class 0: it can */
	unsigned opened;        /* sessions opened for the group */
};

struct flush_ctx {
	const struct options *run; /* the flush's own options */
	char *env_password;        /* ENVOI_PASSWORD as the flush found it, or NULL */
};

/* An entry's options: its account's settings read again, its message
 * and envelope. Returns 0 or -1 with err. Free with cli_free. */
static int entry_options(struct options *eo, const struct options *run,
			 const struct queue_entry *e, struct error *err)
{
	char mf[4300], from[600], cfg[4200], acc[300], verbose[] = "-v", name[] = "envoi";
	char *argv[7] = {name, mf};
	int argc = 2;

	snprintf(mf, sizeof mf, "--message-file=%s", e->msg_path);
	if (e->env.sender[0] && snprintf(from, sizeof from, "--from=%s", e->env.sender) > 0)
		argv[argc++] = from;
	if (e->env.config && snprintf(cfg, sizeof cfg, "--config=%s", e->env.config) > 0)
		argv[argc++] = cfg;
	if (e->env.account && snprintf(acc, sizeof acc, "--account=%s", e->env.account) > 0)
		argv[argc++] = acc;
	if (run->sess.output == OUT_VERBOSE)
		argv[argc++] = verbose;
	if (cli_parse(eo, argc, argv, err) < 0)
		return -1;
	/* A bounce stays a bounce: <> as queued, whatever the account's from. */
	eo->msg.null_sender = !e->env.sender[0];
	if (run->log && (free(eo->log), !(eo->log = strdup(run->log))))
		return err_set(err, ERR_OSERR, "out of memory");
	for (size_t i = 0; i < e->env.nrcpts; i++) {
		struct address a;

		if (addr_parse(&a, e->env.rcpts[i], err) < 0)
			return -1;
		if (addr_list_add(&eo->msg.to, &a) < 0) {
			addr_free(&a);
			return err_set(err, ERR_OSERR, "out of memory");
		}
		addr_free(&a);
	}
	return msg_prepare(&eo->msg, err);
}

/* After an 87, only the recipients the server deferred stay queued.
 * Returns how many stay. */
static size_t keep_deferred(struct queue_env *env, const struct smtp_result *r)
{
	size_t k = 0;

	for (size_t i = 0; i < env->nrcpts; i++)
		free(env->rcpts[i]);
	env->nrcpts = 0;
	for (size_t i = 0; i < r->nrcpts; i++) {
		struct smtp_rcpt rc = smtp_result_rcpt(r, i);

		if (rc.code / 100 == 4 && (env->rcpts[k] = strdup(rc.mailbox)))
			k++;
	}
	env->nrcpts = k;
	return k;
}

static void judge(int rc, const struct error *err, const struct smtp_result *r,
		  struct queue_entry *e, struct queue_outcome *out)
{
	out->verdict = QV_DEFERRED;
	if (rc == 0) {
		out->verdict = QV_SENT;
		return;
	}
	err_format(err, out->reply, sizeof out->reply);
	if (r->maybe_delivered && handover_queueable(err->cls)) {
		/* Sending it again could deliver it twice: a person decides. */
		size_t n = strlen(out->reply);

		snprintf(out->reply + n, sizeof out->reply - n, " (the server may have taken the "
			 "message: not sent again)");
		out->verdict = QV_FAILED;
		return;
	}
	switch (err->cls) {
	case ERR_SOME_RCPT:
		if (keep_deferred(&e->env, r) == 0)
			out->verdict = QV_FAILED;
		break;
	case ERR_SENDER:
	case ERR_ALL_RCPT:
	case ERR_MESSAGE:
	case ERR_DATA:
		out->verdict = QV_FAILED;
		break;
	default:
		/* TLS, login or configuration: fixable, kept until it expires */
		break;
	}
}

static void say(const struct options *run, const struct queue_entry *e,
		const struct queue_outcome *out)
{
	static const char *const words[] = {"sent", "still queued", "moved to failed/"};

	if (run->sess.output == OUT_QUIET && out->verdict == QV_SENT)
		return;
	fprintf(stderr, "envoi: %s: %s%s%s\n", e->id, words[out->verdict],
		out->verdict == QV_SENT ? "" : ": ", out->verdict == QV_SENT ? "" : out->reply);
}

/* Ends the group's session (QUIT when in step). Its owner stays: the
 * entry being settled may be it. */
static void group_end_session(struct group_session *g)
{
	smtp_quit(g->x);
	g->x = NULL;
	smtp_info_free(&g->info);
	memset(&g->info, 0, sizeof g->info);
}

/* Lets the owner of the last session go. */
static void group_drop_owner(struct group_session *g)
{
	if (g->owner) {
		cli_free(g->owner);
		free(g->owner);
	}
	g->owner = NULL;
}

/* The group's password, fetched once: its entries share the account.
 * A failure stops the group (every entry would fail alike). */
static int group_password(struct group_session *g, struct options *eo, struct error *err)
{
	struct password_source src = cli_password_source(&eo->sess);

	if (!eo->sess.user || g->have_pw)
		return 0;
	if (password_get(&src, &g->password, err) < 0) {
		g->down = *err;
		return -1;
	}
	g->have_pw = true;
	return 0;
}

/* Opens the group's session with eo's settings; eo then belongs to the
 * session (its strings are the parameters'). A failure stops the group:
 * the server cannot be had now. */
static int group_open(struct group_session *g, const struct options *run, struct options *eo,
		      struct error *err)
{
	g->cp = engine_conn_params(&eo->sess);
	g->p = engine_params(&eo->sess, &g->cp);
	g->hooks = (struct smtp_hooks){
		.trace = run->sess.output == OUT_VERBOSE ? report_trace : NULL,
		.warn = on_warn, .ctx = &eo->sess,
	};
	if (g->owner != eo) /* the same entry may open a second session */
		group_drop_owner(g);
	g->owner = eo;
	report_insecure(&eo->sess);
	if (engine_open(&g->x, &eo->sess, &g->p, &g->password, NULL, &g->hooks, &g->info, err) < 0) {
		g->x = NULL;
		g->down = *err;
		return -1;
	}
	g->opened++;
	return 0;
}

/* One transaction for m on the group's session, opened when there is
 * none. Returns as smtp_transact; *again says the session ended before
 * the server took the message (a 421 to MAIL or RCPT, a server that
 * closed an idle session), so it may go over a new one. After any other
 * failure the session goes on (RSET) when it is in step. */
static int group_try(struct group_session *g, const struct options *run, struct options *eo,
		     const struct smtp_message *m, struct smtp_result *r, bool *again,
		     struct error *err)
{
	struct error ignored;
	bool lost;
	int rc;

	*again = false;
	if (!g->x && group_open(g, run, eo, err) < 0)
		return -1;
	smtp_result_free(r);
	if ((rc = smtp_transact(g->x, m, r, err)) == 0)
		return 0;
	lost = r->session_lost || !smtp_in_step(g->x);
	if (!lost && smtp_reset(g->x, &ignored) == 0)
		return rc;
	group_end_session(g);
	*again = lost && err->cls == ERR_TEMPFAIL && !r->maybe_delivered;
	return rc;
}

/* One entry's transaction, tried once more on a new session when the
 * one it met had ended without taking it. */
static int group_transact(struct group_session *g, const struct options *run,
			  struct options *eo, struct smtp_result *r, struct error *err)
{
	struct smtp_message m;
	bool again = false;
	int rc = engine_message(&eo->msg, &m, err);

	if (rc == 0 && (rc = group_try(g, run, eo, &m, r, &again, err)) < 0 && again)
		rc = group_try(g, run, eo, &m, r, &again, err);
	return rc;
}

static void send_one(struct flush_ctx *fc, struct group_session *g, struct queue_entry *e,
		     struct queue_outcome *out)
{
	struct options *eo = calloc(1, sizeof *eo);
	struct error err = {0};
	struct smtp_result r = {0};
	int rc = eo ? 0 : err_set(&err, ERR_OSERR, "out of memory");

	/* Each group reads ENVOI_PASSWORD afresh: the first one wiped it. */
	if (eo && fc->env_password)
		setenv("ENVOI_PASSWORD", fc->env_password, 1);
	if (rc == 0)
		rc = entry_options(eo, fc->run, e, &err);
	if (rc == 0 && g->down.cls)
		rc = (err = g->down, -1);
	if (rc == 0)
		rc = group_password(g, eo, &err);
	if (eo)
		password_wipe_sources(&eo->sess.password);
	if (rc == 0)
		rc = group_transact(g, fc->run, eo, &r, &err);
	judge(rc, &err, &r, e, out);
	if (eo && out->verdict != QV_DEFERRED)
		log_outcome(eo, out->verdict == QV_SENT ? "sent" : "failed",
			    out->verdict == QV_SENT ? 0 : 79, rc ? &err : NULL, &r, NULL, e->id);
	say(fc->run, e, out);
	smtp_result_free(&r);
	if (eo && eo != g->owner) {
		cli_free(eo);
		free(eo);
	}
}

/* A group's entries over as few sessions as they allow: one, unless
 * the server ends it. */
static void send_group(void *ctx, struct queue_entry *const *v, size_t n,
		       struct queue_outcome *out)
{
	struct flush_ctx *fc = ctx;
	struct group_session g = {0};

	for (size_t i = 0; i < n; i++)
		send_one(fc, &g, v[i], &out[i]);
	group_end_session(&g);
	group_drop_owner(&g);
	password_free(g.password);
	if (fc->run->sess.output == OUT_VERBOSE)
		fprintf(stderr, "envoi: flush: %zu message%s over %u session%s\n", n,
			n == 1 ? "" : "s", g.opened, g.opened == 1 ? "" : "s");
}

static void note_expired(void *ctx, const struct queue_entry *e, const struct queue_outcome *o,
			 bool expired)
{
	const struct options *run = ((struct flush_ctx *)ctx)->run;
	struct sendlog_rec rec = {
		.account = e->env.account, .sender = e->env.sender,
		.rcpts = (const char *const *)e->env.rcpts, .nrcpts = e->env.nrcpts,
		.size = e->size, .outcome = "failed", .cls = "expired", .exit_code = 79,
		.queue_id = e->id, .entry_id = e->id,
	};

	if (!expired)
		return;
	say(run, e, o);
	if (run->log)
		sendlog_write(run->log, &rec);
}

int handover_flush(struct options *o)
{
	struct flush_ctx fc = {.run = o};
	struct queue_tally t;
	struct error err = {0};
	char dir[4096], line[1024];
	const char *env = getenv("ENVOI_PASSWORD");
	int rc;

	if (handover_queue_dir(o, dir, sizeof dir) < 0) {
		fprintf(stderr, "envoi: no queue: HOME is unset (give --queue-dir)\n");
		return 78;
	}
	/* Kept for every group (each may use it), out of the environment
	 * while the flush runs, wiped at its end. */
	if (env && *env && !(fc.env_password = strdup(env)))
		return err_exit_code(ERR_OSERR);
	password_wipe_sources(&o->sess.password);
	rc = queue_flush(dir, o->queue_lifetime, send_group, note_expired, &fc, &t, &err);
	password_free(fc.env_password);
	password_wipe_sources(&o->sess.password);
	if (rc < 0) {
		err_format(&err, line, sizeof line);
		fprintf(stderr, "%s\n", line);
		return err_exit_code(err.cls);
	}
	if (o->sess.output != OUT_QUIET)
		fprintf(stderr, "envoi: flush: %zu sent, %zu still queued, %zu failed%s\n", t.sent,
			t.deferred, t.failed, t.busy ? " (some held by another flush)" : "");
	return t.failed ? 79 : t.deferred ? 75 : 0;
}
