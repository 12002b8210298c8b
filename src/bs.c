/* bs.c - sendmail -bs: SMTP with one caller on standard input and
 * output. The caller's commands are checked here (line length, sequence,
 * addresses through the address parser, limits) and only then relayed,
 * one at a time, through the account's session, so that the caller's
 * MAIL and RCPT get the relay's own replies. The data is spooled
 * (bounded) and made ready as a message on standard input is (a missing
 * From, Date and Message-ID added), then relayed; the caller's final dot
 * gets the relay's reply to it. A transaction the relay cannot take for
 * now goes to the queue, when it is on, and is answered 250 saying so. */
#include "bs.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "handover.h"
#include "password.h"
#include "queueid.h"
#include "report.h"
#include "sendlog.h"
#include "sminput.h"
#include "smtp_live.h"
#include "bs_in.h"

/* ---- the session with the caller ------------------------------------ */

struct bs_rcpt {
	char *mailbox;
	bool queued;    /* the relay deferred it (or is not there): for the queue */
};

struct bs {
	struct options *o;
	const struct bs_opts *bo;
	struct bs_in in;
	bool greeted, done;
	int exit_code;
	/* the relay */
	struct conn_params cp;
	struct smtp_params p;
	struct smtp_hooks hooks;
	struct smtp_info info;
	struct smtp *x;
	char *password;
	bool have_pw;
	/* the transaction */
	bool in_mail;
	bool queue_only;     /* the relay is not there or deferred the sender */
	bool lost;           /* the relay ended mid-transaction, no queue to fall back on */
	struct address sender;
	uint64_t size_said;  /* SIZE= */
	bool eightbit;       /* BODY=8BITMIME, passed on when the relay offers it */
	struct bs_rcpt rcpts[BS_RCPT_MAX];
	size_t nrcpts;
	char why[600];       /* why the relay cannot take it now */
	enum err_class why_cls;
};

static void reply(struct bs *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(struct bs *b, const char *fmt, ...)
{
	char line[600];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 3)
		n = (int)sizeof line - 3;
	/* The relay's words may be in it: nothing that could end the line. */
	for (int i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	memcpy(line + n, "\r\n", 2);
	for (size_t off = 0, len = (size_t)n + 2; off < len;) {
		ssize_t w = write(b->bo->out, line + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			b->done = true; /* nobody to talk to */
			b->exit_code = 74;
			return;
		}
		off += (size_t)w;
	}
}

/* The relay's reply, passed on as it came (its code and text). */
static void relay_reply(struct bs *b, const struct smtp_live_reply *r)
{
	reply(b, "%s", r->text);
}

/* ---- the relay session ------------------------------------------------ */

static void relay_close(struct bs *b)
{
	smtp_quit(b->x);
	b->x = NULL;
	smtp_info_free(&b->info);
	memset(&b->info, 0, sizeof b->info);
}

static void on_warn(void *ctx, const char *text)
{
	report_warn(ctx, text);
}

/* Opens the account's session (the password fetched once). Returns 0,
 * or -1 with err set. */
static int relay_open(struct bs *b, struct error *err)
{
	struct session *s = &b->o->sess;

	if (s->user && !b->have_pw) {
		struct password_source src = cli_password_source(s);

		if (password_get(&src, &b->password, err) < 0)
			return -1;
		b->have_pw = true;
	}
	password_wipe_sources(&s->password);
	b->cp = engine_conn_params(s);
	b->p = engine_params(s, &b->cp);
	b->hooks = (struct smtp_hooks){
		.trace = s->output == OUT_VERBOSE ? report_trace : NULL, .warn = on_warn, .ctx = s,
	};
	report_insecure(s);
	if (engine_open(&b->x, s, &b->p, &b->password, NULL, &b->hooks, &b->info, err) < 0) {
		b->x = NULL;
		return -1;
	}
	return 0;
}

/* Ends the relay's side of the transaction: RSET, or a new session next
 * time when it cannot be reset. */
static void relay_reset(struct bs *b)
{
	struct error ignored;

	if (b->x && (!smtp_in_step(b->x) || smtp_reset(b->x, &ignored) < 0))
		relay_close(b);
}

static void txn_clear(struct bs *b)
{
	for (size_t i = 0; i < b->nrcpts; i++)
		free(b->rcpts[i].mailbox);
	addr_free(&b->sender);
	b->nrcpts = 0;
	b->in_mail = b->queue_only = b->lost = b->eightbit = false;
	b->size_said = 0;
	b->why[0] = '\0';
	b->why_cls = 0;
}

/* A transaction the caller or the relay gave up: the relay's side ends. */
static void txn_abandon(struct bs *b)
{
	if (b->in_mail && !b->queue_only)
		relay_reset(b);
	txn_clear(b);
}

static bool queue_on(const struct bs *b)
{
	char dir[4096];

	return b->o->queue == 1 && handover_queue_dir(b->o, dir, sizeof dir) == 0;
}

/* The relay cannot take the transaction now (err says why): it goes on
 * for the queue when there is one. Returns true when it does. */
static bool fall_back(struct bs *b, const struct error *err)
{
	char line[sizeof b->why + 8];

	err_format(err, line, sizeof line);
	/* the caller's reply, not envoi's own message line */
	snprintf(b->why, sizeof b->why, "%.590s", strncmp(line, "envoi: ", 7) ? line : line + 7);
	b->why_cls = err->cls;
	if (!queue_on(b) || !handover_queueable(err->cls))
		return false;
	b->queue_only = true;
	for (size_t i = 0; i < b->nrcpts; i++)
		b->rcpts[i].queued = true;
	return true;
}

/* ---- checking what the caller sends ----------------------------------- */

/* The word after the verb: "FROM:" or "TO:", then <path>. On success
 * *path is the text between the brackets (NUL-terminated in place) and
 * *params what follows. Returns 0, or -1 after replying 501. */
static int split_path(struct bs *b, char *arg, const char *word, char **path, char **params)
{
	size_t n = strlen(word);
	char *gt;

	if (strncasecmp(arg, word, n) != 0) {
		reply(b, "501 syntax: %s<address>", word);
		return -1;
	}
	arg += n;
	while (*arg == ' ')
		arg++;
	if (*arg != '<' || !(gt = strchr(arg, '>'))) {
		reply(b, "501 syntax: %s<address> (the address between < and >)", word);
		return -1;
	}
	*gt = '\0';
	*path = arg + 1;
	*params = gt + 1;
	return 0;
}

/* An address as it will go on to the relay: through the address parser,
 * ASCII (SMTPUTF8 is not offered), with a domain (a local name is
 * completed only on the command line). Returns 0 with *a, or -1 after
 * replying. */
static int check_address(struct bs *b, const char *path, struct address *a)
{
	struct error err = {0};

	if (strchr(path, '<') || strchr(path, ':') || path[0] == '@') {
		reply(b, "553 a plain address, please (no source route, no brackets inside)");
		return -1;
	}
	if (addr_parse(a, path, &err) < 0) {
		reply(b, "553 %s", err.text);
		return -1;
	}
	if (a->name || !addr_mailbox_is_ascii(a) || !strchr(a->mailbox, '@')) {
		reply(b, "553 %s: give an ASCII address with a domain (user@example.com)", a->mailbox);
		addr_free(a);
		return -1;
	}
	return 0;
}

/* MAIL's parameters: SIZE=n and BODY=7BIT|8BITMIME, nothing else.
 * Returns 0, or -1 after replying. */
static int mail_params(struct bs *b, char *params)
{
	for (char *w = strtok(params, " "); w; w = strtok(NULL, " ")) {
		char *end;

		if (strncasecmp(w, "SIZE=", 5) == 0) {
			errno = 0;
			b->size_said = strtoull(w + 5, &end, 10);
			if (errno || *end || end == w + 5) {
				reply(b, "501 SIZE= takes a number");
				return -1;
			}
			if (b->size_said > BS_SIZE_MAX) {
				reply(b, "552 the message is larger than %llu bytes", BS_SIZE_MAX);
				return -1;
			}
		} else if (strcasecmp(w, "BODY=8BITMIME") == 0 || strcasecmp(w, "BODY=7BIT") == 0) {
			b->eightbit = strcasecmp(w, "BODY=8BITMIME") == 0;
		} else {
			reply(b, "555 parameter not offered: %.60s", w);
			return -1;
		}
	}
	return 0;
}

/* ---- MAIL and RCPT ----------------------------------------------------- */

/* MAIL on the relay: its session opened at need, reopened once when the
 * one kept from an earlier transaction has ended. Returns 0 with the
 * reply, or -1 with err (the relay cannot be had). */
static int relay_mail(struct bs *b, struct smtp_live_reply *r, struct error *err)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		bool fresh = !b->x;

		if (!b->x && relay_open(b, err) < 0)
			return -1;
		if (smtp_live_mail(b->x, b->sender.mailbox, b->size_said, b->eightbit, r, err) == 0)
			return 0;
		relay_close(b);
		if (fresh)
			return -1;
	}
	return -1;
}

static void cmd_mail(struct bs *b, char *arg)
{
	struct smtp_live_reply r;
	struct error err = {0};
	char *path, *params;

	if (!b->greeted || b->in_mail) {
		reply(b, b->in_mail ? "503 a transaction is open: RSET first" : "503 EHLO or HELO first");
		return;
	}
	if (split_path(b, arg, "FROM:", &path, &params) < 0 || mail_params(b, params) < 0 ||
	    (path[0] && check_address(b, path, &b->sender) < 0)) {
		txn_clear(b);
		return;
	}
	if (!path[0] && !(b->sender.mailbox = strdup(""))) {
		reply(b, "451 out of memory");
		txn_clear(b);
		return;
	}
	if (relay_mail(b, &r, &err) < 0) {
		if (!fall_back(b, &err)) {
			reply(b, "451 the relay cannot be reached: %s", b->why);
			txn_clear(b);
			return;
		}
		b->in_mail = true;
		reply(b, "250 sender ok; the relay cannot be reached, the message will be queued");
		return;
	}
	if (r.code / 100 == 4 && queue_on(b)) {
		relay_reset(b);
		snprintf(b->why, sizeof b->why, "the relay deferred the sender: %s", r.text);
		b->why_cls = ERR_TEMPFAIL;
		b->in_mail = b->queue_only = true;
		reply(b, "250 sender ok; the relay deferred it (%s), the message will be queued",
		      r.text);
		return;
	}
	b->in_mail = r.code / 100 == 2;
	relay_reply(b, &r);
	if (!b->in_mail)
		txn_clear(b);
}

static void add_rcpt(struct bs *b, struct address *a, bool queued)
{
	b->rcpts[b->nrcpts].mailbox = a->mailbox;
	b->rcpts[b->nrcpts++].queued = queued;
	a->mailbox = NULL;
	addr_free(a);
}

/* RCPT on the relay, its reply passed on; a deferral is taken for the
 * queue, a session that ended turns the transaction over to the queue. */
static void relay_rcpt(struct bs *b, struct address *a)
{
	struct smtp_live_reply r;
	struct error err = {0};

	if (smtp_live_rcpt(b->x, a->mailbox, &r, &err) < 0) {
		relay_close(b);
		if (fall_back(b, &err)) {
			add_rcpt(b, a, true);
			reply(b, "250 recipient ok; the relay ended the session, the message will be "
			      "queued");
		} else {
			addr_free(a);
			b->lost = true;
			reply(b, "451 the relay ended the session: %s", b->why);
		}
		return;
	}
	if (r.code / 100 == 4 && queue_on(b)) {
		snprintf(b->why, sizeof b->why, "the relay deferred the recipient: %s", r.text);
		b->why_cls = ERR_TEMPFAIL;
		add_rcpt(b, a, true);
		reply(b, "250 recipient ok; the relay deferred it (%s), it will be queued", r.text);
		return;
	}
	if (r.code / 100 == 2)
		add_rcpt(b, a, false);
	else
		addr_free(a);
	relay_reply(b, &r);
}

static void cmd_rcpt(struct bs *b, char *arg)
{
	struct address a;
	char *path, *params;

	if (!b->in_mail || b->lost || b->nrcpts == BS_RCPT_MAX) {
		if (!b->in_mail)
			reply(b, "503 MAIL first");
		else if (b->lost)
			reply(b, "451 the relay ended the session: %s", b->why);
		else
			reply(b, "452 too many recipients (at most %d per message)", BS_RCPT_MAX);
		return;
	}
	if (split_path(b, arg, "TO:", &path, &params) < 0)
		return;
	if (params[strspn(params, " ")]) {
		reply(b, "555 RCPT parameters are not offered");
		return;
	}
	if (check_address(b, path, &a) < 0)
		return;
	if (b->queue_only) {
		add_rcpt(b, &a, true);
		reply(b, "250 recipient ok, for the queue");
	} else {
		relay_rcpt(b, &a);
	}
}

/* ---- DATA ---------------------------------------------------------------- */

/* A temporary file, unlinked at once: it lives as long as fd. */
static int temp_file(struct error *err)
{
	const char *tmp = getenv("TMPDIR");
	char path[4096];
	int fd;

	snprintf(path, sizeof path, "%s/envoi-bs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if ((fd = mkstemp(path)) < 0)
		return err_set(err, ERR_CANTCREAT, "cannot create a temporary file: %s", strerror(errno));
	unlink(path);
	return fd;
}

struct spool {
	FILE *f;
	uint64_t size;     /* as it goes on the wire (CRLF) */
	bool too_large;
};

/* Part of a data line (dot-unstuffed), and its end when eol, into the
 * spool while it fits; past the limit only counted. */
static void spool_put(struct spool *s, const char *p, size_t n, bool eol)
{
	s->size += n + (eol ? 2 : 0);
	if (s->too_large || s->size > BS_SIZE_MAX) {
		s->too_large = true;
		return;
	}
	fwrite(p, 1, n, s->f);
	if (eol)
		fputc('\n', s->f);
}

/* The data up to the lone dot (RFC 5321 4.5.2: a leading dot removed).
 * A line longer than the buffer goes in pieces. Returns 0, or IN_EOF /
 * IN_TIMEOUT when the caller stopped before the dot. */
static int read_data(struct bs *b, struct spool *s)
{
	char line[1000];
	size_t n = 0, skip;
	bool first_piece = true;

	for (;;) {
		int c = bs_in_byte(&b->in);

		if (c < 0)
			return c;
		if (c != '\n' && n < sizeof line) {
			line[n++] = (char)c;
			continue;
		}
		skip = first_piece && n && line[0] == '.';
		if (c != '\n') {
			spool_put(s, line + skip, n - skip, false);
			first_piece = false;
			line[0] = (char)c;
			n = 1;
			continue;
		}
		if (n && line[n - 1] == '\r')
			n--;
		if (first_piece && n == 1 && line[0] == '.')
			return 0;
		spool_put(s, line + skip, n - skip, true);
		n = 0;
		first_piece = true;
	}
}

/* Whether a header line starts a field that names hidden recipients
 * (RFC 5322 3.6.3): never sent. */
static bool hidden_field(const char *line)
{
	return strncasecmp(line, "Bcc:", 4) == 0 || strncasecmp(line, "Bcc ", 4) == 0 ||
	       strncasecmp(line, "Resent-Bcc:", 11) == 0 || strncasecmp(line, "Resent-Bcc ", 11) == 0;
}

/* Writes the ready message (fd, from its start) for the relay, without
 * its Bcc and Resent-Bcc fields. */
static int write_ready(void *ctx, struct sink *out)
{
	FILE *f = fdopen(dup(*(int *)ctx), "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	bool header = true, skipping = false;
	int rc = 0;

	if (!f || fseek(f, 0, SEEK_SET) < 0) {
		if (f)
			fclose(f);
		return err_set(out->err, ERR_IOERR, "cannot read the message back: %s", strerror(errno));
	}
	while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
		if (header && (line[0] == '\n' || line[0] == '\r'))
			header = skipping = false;
		else if (header && line[0] != ' ' && line[0] != '\t')
			skipping = hidden_field(line);
		if (!skipping)
			rc = sink_write(out, line, (size_t)n);
	}
	if (rc == 0 && ferror(f))
		rc = err_set(out->err, ERR_IOERR, "cannot read the message back: %s", strerror(errno));
	free(line);
	fclose(f);
	return rc;
}

/* The spooled data made ready as a message on standard input is: a
 * missing From (the sender, with -F's name), Date and Message-ID added,
 * local names in the header completed. Returns the ready file (fd), or
 * -1 with err set. */
static int prepare(struct bs *b, FILE *spooled, struct error *err)
{
	struct address shown = b->sender;
	const char *at = strrchr(b->sender.mailbox, '@');
	struct smin_opts so = {.domain = b->o->domain ? b->o->domain : at ? at + 1 : NULL,
			       .sender = b->sender.mailbox[0] ? &shown : NULL};
	struct smin_result res = {0};
	int fd = temp_file(err);

	if (fd < 0)
		return -1;
	shown.name = (char *)b->bo->fullname;
	rewind(spooled);
	if (smin_read(spooled, fd, &so, &res, err) < 0) {
		close(fd);
		fd = -1;
	}
	smin_result_free(&res);
	return fd;
}

/* The transaction's recipients that are (queued) or are not for the
 * queue, into v. Returns how many. */
static size_t pick(const struct bs *b, bool queued, const char **v)
{
	size_t n = 0;

	for (size_t i = 0; i < b->nrcpts; i++)
		if (b->rcpts[i].queued == queued || b->queue_only)
			v[n++] = b->rcpts[i].mailbox;
	return n;
}

/* Queues the message for v. Returns 0 with id, or -1 (logged, err set). */
static int enqueue(struct bs *b, int fd, const char **v, size_t n, uint64_t size, char *id,
		   struct error *err)
{
	if (handover_enqueue_file(b->o, b->sender.mailbox, (char *const *)v, n, fd, b->why, id,
				  err) < 0)
		return -1;
	handover_log_envelope(b->o, "queued", err_class_name(b->why_cls ? b->why_cls : ERR_TEMPFAIL), 0, b->sender.mailbox, v, n, size, id);
	return 0;
}

/* Everything left for the queue: 250 with its id, or 451 when it cannot
 * be queued. sent: the reply for the others (the relay's, or envoi's
 * 451), or NULL. */
static void answer_queued(struct bs *b, int fd, uint64_t size, const char *sent)
{
	const char *v[BS_RCPT_MAX];
	size_t n = pick(b, true, v);
	struct error err = {0};
	char id[64];

	if (n == 0 && sent)
		reply(b, "%s", sent);
	else if (enqueue(b, fd, v, n, size, id, &err) < 0)
		reply(b, "451 cannot queue the message: %s", err.text);
	else if (sent)
		reply(b, "%s; queued as %s for %zu deferred recipient%s", sent, id, n,
		      n == 1 ? "" : "s");
	else
		reply(b, "250 queued as %s (%s)", id, b->why);
}

/* The relay's session ended at the data: queued when it may be (the
 * relay cannot have the message), else 451. */
static void data_lost(struct bs *b, int fd, uint64_t size, bool data_sent, const struct error *err)
{
	const char *v[BS_RCPT_MAX];
	size_t n = pick(b, false, v);

	relay_close(b);
	if (data_sent) {
		handover_log_envelope(b->o, "failed", err_class_name(err->cls), 75, b->sender.mailbox,
				      v, n, size, NULL);
		/* the recipients deferred before stay queued all the same */
		answer_queued(b, fd, size, "451 no reply to the data came: the relay may have the "
			      "message, so it is not queued");
	} else if (fall_back(b, err)) {
		answer_queued(b, fd, size, NULL);
	} else {
		reply(b, "451 %s", b->why);
	}
}

/* The relay's outcome for the live recipients: its reply passed on,
 * the sent ones logged, the rest queued when the relay deferred. */
static void relay_data(struct bs *b, int fd, uint64_t size)
{
	const char *v[BS_RCPT_MAX];
	size_t n = pick(b, false, v);
	struct smtp_live_reply r = {0};
	struct error err = {0};
	char qid[64] = "";
	bool data_sent, temp;

	if (smtp_live_data(b->x, write_ready, &fd, &r, &data_sent, &err) < 0) {
		data_lost(b, fd, size, data_sent, &err);
		return;
	}
	if (r.code / 100 == 2) {
		queueid_find(r.text, strlen(r.text), qid, sizeof qid);
		handover_log_envelope(b->o, "sent", "sent", 0, b->sender.mailbox, v, n, size, qid);
		answer_queued(b, fd, size, r.text);
		return;
	}
	relay_reset(b); /* a refused DATA leaves the transaction open */
	temp = r.code / 100 == 4;
	if (temp && queue_on(b)) {
		snprintf(b->why, sizeof b->why, "the relay deferred the message: %s", r.text);
		b->why_cls = ERR_TEMPFAIL;
		b->queue_only = true;
		answer_queued(b, fd, size, NULL);
		return;
	}
	handover_log_envelope(b->o, "failed", err_class_name(temp ? ERR_TEMPFAIL : ERR_MESSAGE),
			      temp ? 75 : 65, b->sender.mailbox, v, n, size, NULL);
	relay_reply(b, &r);
}

/* After the dot: the message made ready, then relayed or queued. */
static void deliver(struct bs *b, FILE *spooled)
{
	struct error err = {0};
	const char *v[BS_RCPT_MAX];
	int fd = prepare(b, spooled, &err);
	bool live = !b->queue_only && pick(b, false, v) > 0;
	off_t size;

	if (!live && !b->queue_only)
		relay_reset(b); /* every recipient deferred: the relay's MAIL ends here */
	if (fd < 0) {
		if (live)
			relay_reset(b);
		reply(b, "%d %s", err.cls == ERR_DATA ? 554 : 451, err.text);
		return;
	}
	size = lseek(fd, 0, SEEK_END);
	if (live)
		relay_data(b, fd, (uint64_t)size);
	else
		answer_queued(b, fd, (uint64_t)size, NULL);
	close(fd);
}

/* The caller's data into a spool file, then delivered. Returns after
 * replying to the final dot (or when the caller went away). */
static void take_data(struct bs *b, FILE *f)
{
	struct spool s = {.f = f};
	int rc;

	reply(b, "354 send the message, end with a line holding only \".\"");
	rc = read_data(b, &s);
	if (rc < 0) {
		b->done = true;
		b->exit_code = 75; /* the caller went away inside a transaction */
		if (rc == IN_TIMEOUT)
			reply(b, "421 nothing came for %u seconds: closing", b->in.timeout);
		txn_abandon(b);
	} else if (s.too_large) {
		reply(b, "552 the message is larger than %llu bytes", BS_SIZE_MAX);
		txn_abandon(b);
	} else if (fflush(f) != 0 || ferror(f)) {
		reply(b, "451 cannot spool the message: %s", strerror(errno));
		txn_abandon(b);
	} else {
		deliver(b, f);
		txn_clear(b);
	}
}

static void cmd_data(struct bs *b)
{
	struct error err = {0};
	FILE *f = NULL;
	int fd;

	if (!b->in_mail || b->nrcpts == 0) {
		reply(b, b->in_mail ? "503 no valid recipients" : "503 MAIL first");
		return;
	}
	if (b->lost) {
		reply(b, "451 the relay ended the session: %s", b->why);
		return;
	}
	if ((fd = temp_file(&err)) < 0 || !(f = fdopen(fd, "w+"))) {
		if (fd >= 0)
			close(fd);
		reply(b, "451 cannot spool the message: %s", err.text[0] ? err.text : strerror(errno));
		return;
	}
	take_data(b, f);
	fclose(f);
}

/* ---- the dialogue -------------------------------------------------------- */

static void cmd_hello(struct bs *b, const char *arg, bool extended)
{
	char host[256] = "localhost";

	if (!arg[strspn(arg, " ")]) {
		reply(b, "501 syntax: %s hostname", extended ? "EHLO" : "HELO");
		return;
	}
	txn_abandon(b);
	b->greeted = true;
	gethostname(host, sizeof host - 1);
	if (!extended) {
		reply(b, "250 %s", host);
		return;
	}
	reply(b, "250-%s", host);
	reply(b, "250-8BITMIME");
	reply(b, "250 SIZE %llu", BS_SIZE_MAX);
}

/* Commands envoi knows and does not offer here. */
static bool not_offered(const char *verb)
{
	static const char *const verbs[] = {"VRFY", "EXPN", "HELP", "TURN", "ETRN", "BDAT",
					    "AUTH", "STARTTLS", "SEND", "SOML", "SAML", NULL};

	for (const char *const *v = verbs; *v; v++)
		if (strcasecmp(verb, *v) == 0)
			return true;
	return false;
}

/* One command line: the verb, a space, the rest. */
static void dispatch(struct bs *b, char *line)
{
	char *sp = strchr(line, ' '), *arg = sp ? sp + 1 : line + strlen(line);

	if (sp)
		*sp = '\0';
	if (strcasecmp(line, "EHLO") == 0 || strcasecmp(line, "HELO") == 0)
		cmd_hello(b, arg, toupper((unsigned char)line[0]) == 'E');
	else if (strcasecmp(line, "MAIL") == 0)
		cmd_mail(b, arg);
	else if (strcasecmp(line, "RCPT") == 0)
		cmd_rcpt(b, arg);
	else if (strcasecmp(line, "DATA") == 0 && !*arg)
		cmd_data(b);
	else if (strcasecmp(line, "RSET") == 0 && !*arg) {
		txn_abandon(b);
		reply(b, "250 reset");
	} else if (strcasecmp(line, "NOOP") == 0)
		reply(b, "250 ok");
	else if (strcasecmp(line, "QUIT") == 0 && !*arg) {
		reply(b, "221 bye");
		b->done = true;
	} else if (not_offered(line))
		reply(b, "502 %s is not offered here", line);
	else
		reply(b, "500 unknown command");
}

/* Reads and answers one command. */
static void step(struct bs *b)
{
	char line[BS_LINE_MAX];
	size_t len = 0;
	int rc = bs_in_command(&b->in, line, &len);

	if (rc == CMD_EOF || rc == CMD_TIMEOUT) {
		if (rc == CMD_TIMEOUT)
			reply(b, "421 nothing came for %u seconds: closing", b->in.timeout);
		b->exit_code = rc == CMD_TIMEOUT || b->in_mail ? 75 : 0;
		b->done = true;
	} else if (rc == CMD_LONG) {
		reply(b, "500 line too long (at most %d bytes with CRLF)", BS_LINE_MAX);
	} else if (memchr(line, '\0', len) || memchr(line, '\r', len)) {
		reply(b, "500 a command holds a NUL or a CR");
	} else {
		dispatch(b, line);
	}
}

int bs_serve(struct options *o, const struct bs_opts *bo)
{
	struct bs *b = calloc(1, sizeof *b);
	char host[256] = "localhost";
	int rc;

	if (!b)
		return 71;
	b->o = o;
	b->bo = bo;
	b->in.fd = bo->in;
	b->in.timeout = bo->timeout ? bo->timeout : BS_TIMEOUT_DEFAULT;
	gethostname(host, sizeof host - 1);
	reply(b, "220 %s envoi ESMTP (sendmail -bs: relaying to %s)", host,
	      o->sess.host ? o->sess.host : "the account's server");
	while (!b->done)
		step(b);
	txn_abandon(b);
	relay_close(b);
	password_free(b->password);
	password_wipe_sources(&o->sess.password);
	rc = b->exit_code;
	free(b);
	return rc;
}
