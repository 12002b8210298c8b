/* The SMTP engine in-process, over a scripted peer: each test states the
 * whole dialogue, the server's lines ("S: ") and the exact lines the
 * client must send ("C: "), in the order they happen, as curl's tests
 * do. A server line is released only once every client line before it
 * in the script has been flushed, so a client that waits for a reply it
 * has not earned yet times out, and a pipelining client is seen to send
 * its group before reading. "[TLS]" stands for a TLS handshake, "[probe
 * TLS]" for the implicit-TLS check, "[reconnect]" for a second connect;
 * "X: silence" is a server saying nothing, "X: eof" a closed connection.
 */
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

/* ---- the scripted peer ---------------------------------------------- */

#define MAX_SCRIPT 4096

struct script {
	char *line[MAX_SCRIPT];
	size_t n;
	/* what the peer does besides talking */
	enum err_class tls_fails;   /* start_tls fails with this class */
	bool tls_answers;           /* probe_tls: a TLS record came back */
	bool unverified;            /* the certificate is not verified */
	bool remote;                /* not a loopback address */
	size_t window;              /* replies the server holds before it stops
	                               reading; 0 = no limit */
	size_t opens;
};

struct peer {
	struct transport base;
	struct script *s;
	size_t next;                /* the next script entry to read */
	char *unflushed, *sent;     /* client bytes */
	size_t unflushed_len, sent_len;
	bool tls;
	struct tls_info info;
	char line[4096];
};

static struct script script;
static struct peer *last_peer;

static void add(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void add(const char *fmt, ...)
{
	va_list ap;

	cr_assert_lt(script.n, MAX_SCRIPT);
	va_start(ap, fmt);
	cr_assert_geq(vasprintf(&script.line[script.n], fmt, ap), 0);
	va_end(ap);
	script.n++;
}

/* Adds the lines given, up to NULL. */
static void lines(const char *first, ...)
{
	va_list ap;

	va_start(ap, first);
	for (const char *l = first; l; l = va_arg(ap, const char *))
		add("%s", l);
	va_end(ap);
}
#define SCRIPT(...) lines(__VA_ARGS__, NULL)

static bool is_client(const char *l)
{
	return strncmp(l, "C: ", 3) == 0;
}

/* Client lines flushed so far (complete lines only). */
static size_t client_lines(const struct peer *p)
{
	size_t n = 0;

	for (size_t i = 0; i + 1 < p->sent_len; i++)
		if (p->sent[i] == '\r' && p->sent[i + 1] == '\n')
			n++;
	return n;
}

/* Whether script entry i may happen: every client line before it sent. */
static bool released(const struct peer *p, size_t i)
{
	size_t before = 0;

	for (size_t k = 0; k < i; k++)
		before += is_client(p->s->line[k]);
	return client_lines(p) >= before;
}

/* The next entry that is not a client line, or n at the end. */
static size_t next_event(const struct peer *p)
{
	size_t i = p->next;

	while (i < p->s->n && is_client(p->s->line[i]))
		i++;
	return i;
}

static void record(struct peer *p, const char *bytes, size_t len)
{
	p->sent = realloc(p->sent, p->sent_len + len + 1);
	memcpy(p->sent + p->sent_len, bytes, len);
	p->sent_len += len;
}

static int p_read_line(struct transport *t, const char **line, size_t *len, struct error *err)
{
	struct peer *p = (struct peer *)t;
	size_t i = next_event(p);

	if (i == p->s->n || strcmp(p->s->line[i], "X: eof") == 0)
		return err_set(err, ERR_TEMPFAIL, "the server closed the connection");
	if (!released(p, i) || strncmp(p->s->line[i], "S: ", 3) != 0)
		return err_set(err, ERR_TEMPFAIL, "timed out after 10 s");
	snprintf(p->line, sizeof p->line, "%s", p->s->line[i] + 3);
	*line = p->line;
	*len = strlen(p->line);
	p->next = i + 1;
	return 0;
}

static void p_start_step(struct transport *t)
{
	(void)t;
}

static size_t p_pending(const struct transport *t)
{
	const struct peer *p = (const struct peer *)t;
	size_t i = next_event(p);

	return i < p->s->n && released(p, i) && strncmp(p->s->line[i], "S: ", 3) == 0 ?
	       strlen(p->s->line[i]) - 1 : 0;
}

static int p_wait_readable(struct transport *t, int ms, struct error *err)
{
	struct peer *p = (struct peer *)t;
	size_t i = next_event(p);

	(void)ms;
	(void)err;
	if (i == p->s->n || strcmp(p->s->line[i], "X: eof") == 0)
		return 1;
	return strcmp(p->s->line[i], "X: silence") != 0 && released(p, i);
}

static int p_write(struct transport *t, const void *buf, size_t len, struct error *err)
{
	struct peer *p = (struct peer *)t;

	(void)err;
	p->unflushed = realloc(p->unflushed, p->unflushed_len + len + 1);
	memcpy(p->unflushed + p->unflushed_len, buf, len);
	p->unflushed_len += len;
	return 0;
}

/* Server replies written and not yet read by the client. */
static size_t unread_replies(const struct peer *p)
{
	size_t n = 0;

	for (size_t i = p->next; i < p->s->n && released(p, i); i++)
		n += strncmp(p->s->line[i], "S: ", 3) == 0;
	return n;
}

/* A server whose replies are not taken stops reading: past the window,
 * the client's writes would block for ever. */
static int p_flush(struct transport *t, struct error *err)
{
	struct peer *p = (struct peer *)t;

	record(p, p->unflushed, p->unflushed_len);
	p->unflushed_len = 0;
	if (p->s->window && unread_replies(p) > p->s->window)
		return err_set(err, ERR_TEMPFAIL, "timed out: the server stopped reading (deadlock)");
	return 0;
}

static int p_start_tls(struct transport *t, struct error *err)
{
	struct peer *p = (struct peer *)t;

	record(p, "[TLS]\r\n", 7);
	if (p->s->tls_fails)
		return err_set(err, p->s->tls_fails, "the TLS handshake failed (scripted)");
	p->tls = true;
	snprintf(p->info.version, sizeof p->info.version, "TLS1.3");
	snprintf(p->info.cipher, sizeof p->info.cipher, "AES-256-GCM");
	p->info.verified = !p->s->unverified;
	return 0;
}

/* The silence is answered: by a TLS record (tls_answers) or not. */
static int p_probe_tls(struct transport *t, struct error *err)
{
	struct peer *p = (struct peer *)t;
	size_t i = next_event(p);

	record(p, "[probe TLS]\r\n", 13);
	if (i < p->s->n && strcmp(p->s->line[i], "X: silence") == 0)
		p->next = i + 1;
	return err_set(err, ERR_TLS, "no TLS handshake (scripted)");
}

static bool p_tls_answered(const struct transport *t)
{
	return ((const struct peer *)t)->s->tls_answers;
}

static bool p_is_loopback(const struct transport *t)
{
	return !((const struct peer *)t)->s->remote;
}

static bool p_is_tls(const struct transport *t)
{
	return ((const struct peer *)t)->tls;
}

static const struct tls_info *p_tls_info(const struct transport *t)
{
	return &((const struct peer *)t)->info;
}

static char *p_channel_binding(struct transport *t, const char **type)
{
	(void)t;
	(void)type;
	return NULL;
}

static const char *p_peer(const struct transport *t)
{
	(void)t;
	return "mx.example (192.0.2.1) port 25";
}

/* The transcript outlives the connection: the test reads it after. */
static void p_close(struct transport *t)
{
	struct peer *p = (struct peer *)t;

	free(p->unflushed);
	p->unflushed = NULL;
	p->unflushed_len = 0;
}

static int p_open(void *ctx, struct transport **out, struct error *err);

static const struct transport_ops peer_ops = {
	.open = p_open, .read_line = p_read_line, .start_step = p_start_step,
	.pending = p_pending, .wait_readable = p_wait_readable, .write = p_write,
	.flush = p_flush, .start_tls = p_start_tls, .probe_tls = p_probe_tls,
	.tls_answered = p_tls_answered, .is_loopback = p_is_loopback, .is_tls = p_is_tls,
	.tls_info = p_tls_info, .channel_binding = p_channel_binding, .peer = p_peer,
	.close = p_close,
};

/* A reconnect goes on with the same script and transcript. */
static int p_open(void *ctx, struct transport **out, struct error *err)
{
	struct script *s = ctx;

	(void)err;
	if (s->opens++ == 0) {
		last_peer = calloc(1, sizeof *last_peer);
		last_peer->base.ops = &peer_ops;
		last_peer->s = s;
	} else {
		record(last_peer, "[reconnect]\r\n", 13);
		last_peer->tls = false;
	}
	*out = &last_peer->base;
	return 0;
}

/* ---- the engine under test ------------------------------------------ */

static struct smtp_params params;
static struct smtp_info info;
static struct smtp_result res;
static struct error err;
static char trace_buf[65536];

static void on_trace(void *ctx, enum smtp_dir dir, const char *line, size_t len)
{
	size_t n = strlen(trace_buf);

	(void)ctx;
	snprintf(trace_buf + n, sizeof trace_buf - n, "%c %.*s\n", (char)dir, (int)len, line);
}

static void on_state(void *ctx, const char *from, const char *to)
{
	size_t n = strlen(trace_buf);

	(void)ctx;
	snprintf(trace_buf + n, sizeof trace_buf - n, "= %s -> %s\n", from, to);
}

static struct smtp_hooks hooks = {.trace = on_trace, .state = on_state};

static const char BODY[] = "Subject: t\r\n\r\nhi\r\n";   /* 18 bytes */

struct body {
	const char *text;
};

static int write_body(void *ctx, struct sink *out)
{
	const struct body *b = ctx;

	return sink_write(out, b->text, strlen(b->text));
}

static struct body body = {BODY};
static const char *two_rcpts[] = {"b@example.com", "c@example.com"};
static struct smtp_message msg;

static void setup(void)
{
	memset(&script, 0, sizeof script);
	memset(&info, 0, sizeof info);
	memset(&res, 0, sizeof res);
	memset(&err, 0, sizeof err);
	trace_buf[0] = '\0';
	body.text = BODY;
	params = (struct smtp_params){.transport = &peer_ops, .transport_ctx = &script,
				      .host = "mx.example", .port = 25, .tls = TLS_NONE,
				      .helo = "client.example", .timeout = 10};
	msg = (struct smtp_message){.from = "a@example.com", .rcpts = two_rcpts, .nrcpts = 1,
				    .size = strlen(BODY), .write = write_body, .ctx = &body};
}

static void teardown(void)
{
	smtp_result_free(&res);
	smtp_info_free(&info);
	for (size_t i = 0; i < script.n; i++)
		free(script.line[i]);
	if (last_peer) {
		free(last_peer->sent);
		free(last_peer);
		last_peer = NULL;
	}
}

TestSuite(smtp, .init = setup, .fini = teardown);

/* The client's lines must be exactly the script's "C: " lines. */
static void expect_transcript(void)
{
	char *want = calloc(1, 1 << 20), *got;
	size_t n = 0;

	for (size_t i = 0; i < script.n; i++)
		if (is_client(script.line[i]))
			n += (size_t)sprintf(want + n, "%s\r\n", script.line[i] + 3);
	cr_assert_not_null(last_peer, "never connected");
	got = strndup(last_peer->sent ? last_peer->sent : "", last_peer->sent_len);
	cr_expect_str_eq(got, want, "transcript differs:\n--- got\n%s--- want\n%s", got, want);
	free(got);
	free(want);
}

static int send_msg(void)
{
	return smtp_send(&params, &msg, NULL, &hooks, &info, &res, &err);
}

static void expect_fail(int rc, enum err_class cls)
{
	cr_expect_eq(rc, -1);
	cr_expect_eq(err.cls, cls, "class %d (%s), want %d", err.cls, err.text, cls);
}

#define HELLO "S: 220 mx.example ESMTP", "C: EHLO client.example"
#define CAPS "S: 250 mx.example"
#define CAPS_PIPE "S: 250-mx.example", "S: 250 PIPELINING"
#define CAPS_CHUNK "S: 250-mx.example", "S: 250 CHUNKING"
#define CAPS_BOTH "S: 250-mx.example", "S: 250-PIPELINING", "S: 250 CHUNKING"
#define DATA_BODY "C: Subject: t", "C: ", "C: hi", "C: ."
#define BDAT_BODY "C: BDAT 18 LAST", "C: Subject: t", "C: ", "C: hi"

/* ---- one message ---------------------------------------------------- */

Test(smtp, one_message_lockstep)
{
	SCRIPT(HELLO, CAPS,
	       "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 250 ok",
	       "C: DATA", "S: 354 go", DATA_BODY, "S: 250 queued as ABC123",
	       "C: QUIT");
	cr_expect_eq(send_msg(), 0, "%s", err.text);
	expect_transcript();
	cr_expect(res.delivered);
	cr_expect_eq(res.accepted, 1);
	cr_expect_str_eq(res.queue_id, "ABC123");
	cr_expect_eq(res.final_code, 250);
	cr_expect_eq(smtp_result_rcpt(&res, 0).status, SMTP_RCPT_ACCEPTED);
}

/* The sender and the replies are copied; the recipients are not (a
 * million of them would be copied twice): they are read where the
 * message keeps them. */
Test(smtp, result_owns_its_replies_and_reads_recipients_from_the_message)
{
	char from[] = "a@example.com", rcpt[] = "b@example.com";
	const char *rcpts[] = {rcpt};

	msg.from = from;
	msg.rcpts = rcpts;
	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 250 2.1.5 fine",
	       "C: DATA", "S: 354 go", DATA_BODY, "S: 250 ok", "C: QUIT");
	cr_expect_eq(send_msg(), 0, "%s", err.text);
	memset(from, 'x', sizeof from - 1);
	memset(rcpt, 'x', sizeof rcpt - 1);
	cr_expect_str_eq(res.mail_from, "a@example.com");
	cr_expect_eq(smtp_result_rcpt(&res, 0).mailbox, rcpt);
	cr_expect_str_eq(smtp_result_rcpt(&res, 0).reply, "250 2.1.5 fine");
}

Test(smtp, info_records_what_the_server_offers)
{
	SCRIPT(HELLO, "S: 250-mx.example", "S: 250-SIZE 1000", "S: 250 8BITMIME",
	       "C: MAIL FROM:<a@example.com> SIZE=18", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 250 ok",
	       "C: DATA", "S: 354 go", DATA_BODY, "S: 250 ok", "C: QUIT");
	cr_expect_eq(send_msg(), 0, "%s", err.text);
	expect_transcript();
	cr_expect_eq(info.size_limit, 1000);
	cr_expect_str_eq(info.capabilities, "mx.example\nSIZE 1000\n8BITMIME");
	cr_expect_str_eq(info.peer, "mx.example (192.0.2.1) port 25");
	cr_expect(!info.tls);
}

Test(smtp, dot_stuffing_on_the_wire)
{
	body.text = "Subject: t\r\n\r\n.hidden\r\n..two\r\n";
	msg.size = strlen(body.text);
	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 250 ok",
	       "C: DATA", "S: 354 go",
	       "C: Subject: t", "C: ", "C: ..hidden", "C: ...two", "C: .", "S: 250 ok",
	       "C: QUIT");
	cr_expect_eq(send_msg(), 0, "%s", err.text);
	expect_transcript();
}

Test(smtp, helo_when_ehlo_is_refused)
{
	SCRIPT(HELLO, "S: 500 what", "C: HELO client.example", "S: 250 hi",
	       "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 250 ok",
	       "C: DATA", "S: 354 go", DATA_BODY, "S: 250 ok", "C: QUIT");
	cr_expect_eq(send_msg(), 0, "%s", err.text);
	expect_transcript();
}

Test(smtp, dsn_parameters_when_offered)
{
	params.dsn_notify = DSN_SUCCESS | DSN_FAILURE;
	params.dsn_ret = DSN_RET_HDRS;
	SCRIPT(HELLO, "S: 250-mx.example", "S: 250 DSN",
	       "C: MAIL FROM:<a@example.com> RET=HDRS", "S: 250 ok",
	       "C: RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE", "S: 250 ok",
	       "C: DATA", "S: 354 go", DATA_BODY, "S: 250 ok", "C: QUIT");
	cr_expect_eq(send_msg(), 0, "%s", err.text);
	expect_transcript();
}

Test(smtp, state_transitions_are_named_in_the_trace)
{
	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 250 ok",
	       "C: DATA", "S: 354 go", DATA_BODY, "S: 250 ok", "C: QUIT");
	cr_expect_eq(send_msg(), 0, "%s", err.text);
	cr_expect(strstr(trace_buf, "= idle -> connect\n"), "%s", trace_buf);
	cr_expect(strstr(trace_buf, "= connect -> the greeting\n"), "%s", trace_buf);
	cr_expect(strstr(trace_buf, "= the greeting -> EHLO\n"), "%s", trace_buf);
	cr_expect(strstr(trace_buf, "= ready -> MAIL FROM\n"), "%s", trace_buf);
	cr_expect(strstr(trace_buf, "= the message data -> the end of the data\n"), "%s", trace_buf);
	cr_expect(strstr(trace_buf, "= QUIT -> closed\n"), "%s", trace_buf);
	cr_expect(strstr(trace_buf, "> MAIL FROM:<a@example.com>\n< 250 ok\n"), "%s", trace_buf);
}

/* ---- every PIPELINING x CHUNKING combination ------------------------ */

Test(smtp, lockstep_data)
{
	msg.nrcpts = 2;
	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 250 ok",
	       "C: RCPT TO:<c@example.com>", "S: 250 ok",
	       "C: DATA", "S: 354 go", DATA_BODY, "S: 250 ok", "C: QUIT");
	cr_expect_eq(send_msg(), 0, "%s", err.text);
	expect_transcript();
	cr_expect_eq(res.accepted, 2);
}

Test(smtp, pipelined_data)
{
	msg.nrcpts = 2;
	SCRIPT(HELLO, CAPS_PIPE, "C: MAIL FROM:<a@example.com>", "C: RCPT TO:<b@example.com>",
	       "C: RCPT TO:<c@example.com>", "C: DATA",
	       "S: 250 ok", "S: 250 ok", "S: 250 ok", "S: 354 go",
	       DATA_BODY, "S: 250 ok", "C: QUIT");
	cr_expect_eq(send_msg(), 0, "%s", err.text);
	expect_transcript();
	cr_expect_eq(res.accepted, 2);
}

Test(smtp, lockstep_bdat)
{
	msg.nrcpts = 2;
	SCRIPT(HELLO, CAPS_CHUNK, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 250 ok",
	       "C: RCPT TO:<c@example.com>", "S: 250 ok",
	       BDAT_BODY, "S: 250 ok queued as Q1", "C: QUIT");
	cr_expect_eq(send_msg(), 0, "%s", err.text);
	expect_transcript();
	cr_expect(res.delivered);
}

Test(smtp, pipelined_bdat_with_the_envelope)
{
	msg.nrcpts = 2;
	SCRIPT(HELLO, CAPS_BOTH, "C: MAIL FROM:<a@example.com>", "C: RCPT TO:<b@example.com>",
	       "C: RCPT TO:<c@example.com>", BDAT_BODY,
	       "S: 250 ok", "S: 250 ok", "S: 250 ok", "S: 250 ok queued as Q2", "C: QUIT");
	cr_expect_eq(send_msg(), 0, "%s", err.text);
	expect_transcript();
	cr_expect_str_eq(res.queue_id, "Q2");
}

Test(smtp, lockstep_data_one_refused)
{
	msg.nrcpts = 2;
	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 550 no such user",
	       "C: RCPT TO:<c@example.com>", "S: 250 ok",
	       "C: DATA", "S: 354 go", DATA_BODY, "S: 250 ok", "C: QUIT");
	expect_fail(send_msg(), ERR_SOME_RCPT);
	expect_transcript();
	cr_expect(res.delivered);
	cr_expect_eq(smtp_result_rcpt(&res, 0).status, SMTP_RCPT_REFUSED);
	cr_expect_eq(smtp_result_rcpt(&res, 0).code, 550);
}

Test(smtp, pipelined_data_one_refused)
{
	msg.nrcpts = 2;
	SCRIPT(HELLO, CAPS_PIPE, "C: MAIL FROM:<a@example.com>", "C: RCPT TO:<b@example.com>",
	       "C: RCPT TO:<c@example.com>", "C: DATA",
	       "S: 250 ok", "S: 550 no such user", "S: 250 ok", "S: 354 go",
	       DATA_BODY, "S: 250 ok", "C: QUIT");
	expect_fail(send_msg(), ERR_SOME_RCPT);
	expect_transcript();
	cr_expect(strstr(err.text, "b@example.com (550 no such user)"), "%s", err.text);
}

Test(smtp, lockstep_bdat_one_refused)
{
	msg.nrcpts = 2;
	SCRIPT(HELLO, CAPS_CHUNK, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 250 ok",
	       "C: RCPT TO:<c@example.com>", "S: 550 no",
	       BDAT_BODY, "S: 250 ok", "C: QUIT");
	expect_fail(send_msg(), ERR_SOME_RCPT);
	expect_transcript();
}

Test(smtp, pipelined_bdat_one_refused)
{
	msg.nrcpts = 2;
	SCRIPT(HELLO, CAPS_BOTH, "C: MAIL FROM:<a@example.com>", "C: RCPT TO:<b@example.com>",
	       "C: RCPT TO:<c@example.com>", BDAT_BODY,
	       "S: 250 ok", "S: 550 no", "S: 250 ok", "S: 250 ok", "C: QUIT");
	expect_fail(send_msg(), ERR_SOME_RCPT);
	expect_transcript();
}

Test(smtp, lockstep_data_all_refused_sends_no_data)
{
	msg.nrcpts = 2;
	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 550 no",
	       "C: RCPT TO:<c@example.com>", "S: 550 no", "C: QUIT");
	expect_fail(send_msg(), ERR_ALL_RCPT);
	expect_transcript();
	cr_expect(!res.data_sent && !res.maybe_delivered);
}

Test(smtp, pipelined_data_all_refused_gets_an_empty_message)
{
	SCRIPT(HELLO, CAPS_PIPE, "C: MAIL FROM:<a@example.com>", "C: RCPT TO:<b@example.com>",
	       "C: DATA", "S: 250 ok", "S: 550 no", "S: 354 go", "C: .", "S: 554 no valid recipients",
	       "C: QUIT");
	expect_fail(send_msg(), ERR_ALL_RCPT);
	expect_transcript();
}

Test(smtp, pipelined_data_all_refused_data_refused)
{
	SCRIPT(HELLO, CAPS_PIPE, "C: MAIL FROM:<a@example.com>", "C: RCPT TO:<b@example.com>",
	       "C: DATA", "S: 250 ok", "S: 550 no", "S: 554 no valid recipients", "C: QUIT");
	expect_fail(send_msg(), ERR_ALL_RCPT);
	expect_transcript();
}

Test(smtp, lockstep_bdat_all_refused_sends_no_data)
{
	SCRIPT(HELLO, CAPS_CHUNK, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 451 later", "C: QUIT");
	expect_fail(send_msg(), ERR_TEMPFAIL);
	expect_transcript();
	cr_expect(strstr(err.text, "every recipient was deferred"), "%s", err.text);
}

Test(smtp, pipelined_bdat_all_refused_chunk_refused)
{
	SCRIPT(HELLO, CAPS_BOTH, "C: MAIL FROM:<a@example.com>", "C: RCPT TO:<b@example.com>",
	       BDAT_BODY, "S: 250 ok", "S: 550 no", "S: 554 no valid recipients", "C: QUIT");
	expect_fail(send_msg(), ERR_ALL_RCPT);
	expect_transcript();
	cr_expect_eq(res.final_code, 554);
	cr_expect(!res.delivered && !res.maybe_delivered);
}

/* A big message is not sent behind an envelope whose replies are unknown. */
Test(smtp, pipelined_big_message_waits_for_the_envelope)
{
	size_t big = 300 * 1024;
	char *text = malloc(big + 1);

	memset(text, 'a', big);
	memcpy(text + big - 2, "\r\n", 2);
	text[big] = '\0';
	body.text = text;
	msg.size = big;
	SCRIPT(HELLO, CAPS_BOTH, "C: MAIL FROM:<a@example.com>", "C: RCPT TO:<b@example.com>",
	       "S: 250 ok", "S: 550 no", "C: QUIT");
	expect_fail(send_msg(), ERR_ALL_RCPT);
	expect_transcript();
	free(text);
}

/* The reading while writing: replies are taken after each slice of 64
 * RCPTs when they have arrived, so the server never blocks. */
Test(smtp, pipelined_many_recipients_read_while_writing)
{
	static char names[200][32];
	static const char *rcpts[200];

	for (int i = 0; i < 200; i++) {
		snprintf(names[i], sizeof names[i], "r%d@example.com", i);
		rcpts[i] = names[i];
	}
	msg.rcpts = rcpts;
	msg.nrcpts = 200;
	script.window = 100;
	SCRIPT(HELLO, CAPS_PIPE, "C: MAIL FROM:<a@example.com>");
	for (int i = 0; i < 200; i++) {
		add("C: RCPT TO:<%s>", names[i]);
		/* the server answers each slice as it reads it */
		if (i % 64 == 63)
			for (int k = i - 63 + (i == 63 ? -1 : 0); k <= i; k++)
				add("S: 250 ok");
	}
	add("C: DATA");
	for (int k = 192; k < 200; k++)
		add("S: 250 ok");
	SCRIPT("S: 354 go", DATA_BODY, "S: 250 ok", "C: QUIT");
	cr_expect_eq(send_msg(), 0, "%s", err.text);
	expect_transcript();
	cr_expect_eq(res.accepted, 200);
}

/* ---- two messages over one session ---------------------------------- */

static void second_message(void)
{
	static const char *rcpts[] = {"d@example.com"};
	static struct smtp_message m2;

	m2 = msg;
	m2.from = "e@example.com";
	m2.rcpts = rcpts;
	m2.nrcpts = 1;
	msg = m2;
}

Test(smtp, two_messages_with_rset_after_a_failed_one)
{
	struct smtp *x;
	struct smtp_result r2 = {0};

	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 550 no",
	       "C: RSET", "S: 250 reset",
	       "C: MAIL FROM:<e@example.com>", "S: 250 ok",
	       "C: RCPT TO:<d@example.com>", "S: 250 ok",
	       "C: DATA", "S: 354 go", DATA_BODY, "S: 250 queued as SECOND", "C: QUIT");
	cr_assert_eq(smtp_open(&x, &params, NULL, NULL, &hooks, &info, &err), 0, "%s", err.text);
	expect_fail(smtp_transact(x, &msg, &res, &err), ERR_ALL_RCPT);
	cr_expect(smtp_in_step(x));
	cr_expect_eq(smtp_reset(x, &err), 0, "%s", err.text);
	second_message();
	cr_expect_eq(smtp_transact(x, &msg, &r2, &err), 0, "%s", err.text);
	smtp_quit(x);
	expect_transcript();
	cr_expect_str_eq(smtp_result_rcpt(&res, 0).mailbox, "b@example.com");
	cr_expect_eq(smtp_result_rcpt(&res, 0).code, 550);
	cr_expect_str_eq(smtp_result_rcpt(&r2, 0).mailbox, "d@example.com");
	cr_expect_str_eq(r2.queue_id, "SECOND");
	smtp_result_free(&r2);
}

Test(smtp, two_messages_pipelined_over_one_session)
{
	struct smtp *x;
	struct smtp_result r2 = {0};

	SCRIPT(HELLO, CAPS_BOTH, "C: MAIL FROM:<a@example.com>", "C: RCPT TO:<b@example.com>",
	       BDAT_BODY, "S: 250 ok", "S: 250 ok", "S: 250 one",
	       "C: MAIL FROM:<e@example.com>", "C: RCPT TO:<d@example.com>",
	       BDAT_BODY, "S: 250 ok", "S: 250 ok", "S: 250 two", "C: QUIT");
	cr_assert_eq(smtp_open(&x, &params, NULL, NULL, &hooks, &info, &err), 0, "%s", err.text);
	cr_expect_eq(smtp_transact(x, &msg, &res, &err), 0, "%s", err.text);
	second_message();
	cr_expect_eq(smtp_transact(x, &msg, &r2, &err), 0, "%s", err.text);
	smtp_quit(x);
	expect_transcript();
	cr_expect_str_eq(res.final_reply, "250 one");
	cr_expect_str_eq(r2.final_reply, "250 two");
	smtp_result_free(&r2);
}

Test(smtp, rset_after_a_refused_sender_then_success)
{
	struct smtp *x;
	struct smtp_result r2 = {0};

	SCRIPT(HELLO, CAPS_PIPE, "C: MAIL FROM:<a@example.com>", "C: RCPT TO:<b@example.com>",
	       "C: DATA", "S: 550 sender refused", "S: 503 need MAIL", "S: 503 need MAIL",
	       "C: RSET", "S: 250 ok",
	       "C: MAIL FROM:<e@example.com>", "C: RCPT TO:<d@example.com>", "C: DATA",
	       "S: 250 ok", "S: 250 ok", "S: 354 go", DATA_BODY, "S: 250 ok", "C: QUIT");
	cr_assert_eq(smtp_open(&x, &params, NULL, NULL, &hooks, &info, &err), 0, "%s", err.text);
	expect_fail(smtp_transact(x, &msg, &res, &err), ERR_SENDER);
	cr_expect_str_eq(err.reply, "550 sender refused");
	cr_expect_eq(smtp_reset(x, &err), 0, "%s", err.text);
	second_message();
	cr_expect_eq(smtp_transact(x, &msg, &r2, &err), 0, "%s", err.text);
	smtp_quit(x);
	expect_transcript();
	smtp_result_free(&r2);
}

Test(smtp, transaction_left_open_needs_rset)
{
	struct smtp *x;
	struct smtp_result r2 = {0};

	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 550 no", "C: QUIT");
	cr_assert_eq(smtp_open(&x, &params, NULL, NULL, &hooks, &info, &err), 0, "%s", err.text);
	expect_fail(smtp_transact(x, &msg, &res, &err), ERR_ALL_RCPT);
	expect_fail(smtp_transact(x, &msg, &r2, &err), ERR_SOFTWARE);
	smtp_quit(x);
	expect_transcript();
	smtp_result_free(&r2);
}

Test(smtp, refused_rset_ends_the_session_without_quit)
{
	struct smtp *x;

	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 550 no", "C: RSET", "S: 500 what");
	cr_assert_eq(smtp_open(&x, &params, NULL, NULL, &hooks, &info, &err), 0, "%s", err.text);
	expect_fail(smtp_transact(x, &msg, &res, &err), ERR_ALL_RCPT);
	expect_fail(smtp_reset(x, &err), ERR_PROTOCOL);
	cr_expect(!smtp_in_step(x));
	smtp_quit(x);
	expect_transcript();
}

Test(smtp, abort_sends_nothing)
{
	struct smtp *x;

	SCRIPT(HELLO, CAPS);
	cr_assert_eq(smtp_open(&x, &params, NULL, NULL, &hooks, &info, &err), 0, "%s", err.text);
	smtp_abort(x);
	expect_transcript();
}

Test(smtp, probe_is_open_and_quit)
{
	SCRIPT(HELLO, "S: 250-mx.example", "S: 250 SIZE 2048", "C: QUIT");
	cr_expect_eq(smtp_probe(&params, NULL, &hooks, &info, &err), 0, "%s", err.text);
	expect_transcript();
	cr_expect_eq(info.size_limit, 2048);
}

/* ---- TLS ------------------------------------------------------------ */

Test(smtp, starttls_then_ehlo_again)
{
	params.tls = TLS_STARTTLS;
	SCRIPT(HELLO, "S: 250-mx.example", "S: 250 STARTTLS", "C: STARTTLS", "S: 220 go",
	       "C: [TLS]", "C: EHLO client.example", "S: 250 mx.example",
	       "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 250 ok",
	       "C: DATA", "S: 354 go", DATA_BODY, "S: 250 ok", "C: QUIT");
	cr_expect_eq(send_msg(), 0, "%s", err.text);
	expect_transcript();
	cr_expect(info.tls && info.tls_info.verified);
	cr_expect_str_eq(info.capabilities, "mx.example");
}

Test(smtp, implicit_tls_before_the_greeting)
{
	params.tls = TLS_IMPLICIT;
	SCRIPT("C: [TLS]", HELLO, CAPS, "C: QUIT");
	cr_expect_eq(smtp_probe(&params, NULL, &hooks, &info, &err), 0, "%s", err.text);
	expect_transcript();
	cr_expect(info.tls);
}

Test(smtp, loopback_without_starttls_goes_on_in_plaintext)
{
	params.tls = TLS_AUTO;
	SCRIPT(HELLO, CAPS, "C: QUIT");
	cr_expect_eq(smtp_probe(&params, NULL, &hooks, &info, &err), 0, "%s", err.text);
	expect_transcript();
	cr_expect(strstr(trace_buf, "going on in plaintext"), "%s", trace_buf);
}

Test(smtp, silent_server_is_probed_then_reconnected)
{
	params.tls = TLS_AUTO;
	SCRIPT("X: silence", "C: [probe TLS]", "C: [reconnect]", HELLO, CAPS, "C: QUIT");
	cr_expect_eq(smtp_probe(&params, NULL, &hooks, &info, &err), 0, "%s", err.text);
	expect_transcript();
}

/* ---- each error class ----------------------------------------------- */

Test(smtp, e69_greeting_554)
{
	SCRIPT("S: 554 go away", "C: QUIT");
	expect_fail(send_msg(), ERR_UNAVAILABLE);
	expect_transcript();
	cr_expect_str_eq(err.reply, "554 go away");
}

Test(smtp, e75_greeting_421_no_quit)
{
	SCRIPT("S: 421 busy");
	expect_fail(send_msg(), ERR_TEMPFAIL);
	expect_transcript();
}

Test(smtp, e75_eof_instead_of_greeting)
{
	SCRIPT("X: eof");
	expect_fail(send_msg(), ERR_TEMPFAIL);
	expect_transcript();
	cr_expect(strstr(err.text, "no greeting came"), "%s", err.text);
}

Test(smtp, e75_eof_after_mail)
{
	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "X: eof");
	expect_fail(send_msg(), ERR_TEMPFAIL);
	expect_transcript();
	cr_expect(strstr(err.text, "no reply to MAIL FROM came"), "%s", err.text);
}

Test(smtp, e75_no_reply_to_the_end_of_data_may_have_been_delivered)
{
	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 250 ok",
	       "C: DATA", "S: 354 go", DATA_BODY, "X: eof");
	expect_fail(send_msg(), ERR_TEMPFAIL);
	expect_transcript();
	cr_expect(strstr(err.text, "no reply to the end of the data came"), "%s", err.text);
	cr_expect(res.maybe_delivered);
	cr_expect(strstr(err.hint, "may have taken the message"), "%s", err.hint);
}

Test(smtp, e75_no_reply_to_pipelined_bdat_names_the_end_of_data)
{
	SCRIPT(HELLO, CAPS_BOTH, "C: MAIL FROM:<a@example.com>", "C: RCPT TO:<b@example.com>",
	       BDAT_BODY, "S: 250 ok", "S: 250 ok", "X: eof");
	expect_fail(send_msg(), ERR_TEMPFAIL);
	expect_transcript();
	cr_expect(strstr(err.text, "no reply to the end of the data came"), "%s", err.text);
	cr_expect(res.maybe_delivered);
}

Test(smtp, e75_timeout_waiting_for_a_reply)
{
	/* The server wants a second line that never comes. */
	SCRIPT(HELLO, "C: never sent", "S: 250 mx.example");
	expect_fail(send_msg(), ERR_TEMPFAIL);
	cr_expect(strstr(err.text, "timed out after 10 s; no reply to EHLO came"), "%s", err.text);
}

Test(smtp, e75_mail_451)
{
	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 451 later", "C: QUIT");
	expect_fail(send_msg(), ERR_TEMPFAIL);
	expect_transcript();
}

Test(smtp, e75_421_mid_transaction_no_quit)
{
	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 421 shutting down");
	expect_fail(send_msg(), ERR_TEMPFAIL);
	expect_transcript();
	cr_expect_str_eq(err.reply, "421 shutting down");
}

Test(smtp, e75_end_of_data_451)
{
	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 250 ok",
	       "C: DATA", "S: 354 go", DATA_BODY, "S: 451 try later", "C: QUIT");
	expect_fail(send_msg(), ERR_TEMPFAIL);
	expect_transcript();
	cr_expect(!res.maybe_delivered);
}

Test(smtp, e76_malformed_reply_no_quit)
{
	SCRIPT(HELLO, "S: 25O mx.example");
	expect_fail(send_msg(), ERR_PROTOCOL);
	expect_transcript();
}

Test(smtp, e76_unexpected_greeting)
{
	SCRIPT("S: 354 hello?", "C: QUIT");
	expect_fail(send_msg(), ERR_PROTOCOL);
	expect_transcript();
}

Test(smtp, e76_bytes_injected_after_starttls)
{
	params.tls = TLS_STARTTLS;
	SCRIPT(HELLO, "S: 250-mx.example", "S: 250 STARTTLS", "C: STARTTLS", "S: 220 go",
	       "S: 250 injected");
	expect_fail(send_msg(), ERR_PROTOCOL);
	expect_transcript();
	cr_expect(strstr(err.text, "injection"), "%s", err.text);
}

Test(smtp, e80_silent_port_answers_tls)
{
	params.tls = TLS_AUTO;
	script.tls_answers = true;
	SCRIPT("X: silence", "C: [probe TLS]");
	expect_fail(send_msg(), ERR_TLS_MISMATCH);
	expect_transcript();
}

Test(smtp, e81_starttls_not_offered)
{
	params.tls = TLS_AUTO;
	script.remote = true;
	SCRIPT(HELLO, CAPS, "C: QUIT");
	expect_fail(send_msg(), ERR_STARTTLS);
	expect_transcript();
}

Test(smtp, e81_starttls_refused)
{
	params.tls = TLS_STARTTLS;
	SCRIPT(HELLO, "S: 250-mx.example", "S: 250 STARTTLS", "C: STARTTLS", "S: 454 not now",
	       "C: QUIT");
	expect_fail(send_msg(), ERR_STARTTLS);
	expect_transcript();
}

Test(smtp, e82_certificate_rejected_no_quit)
{
	params.tls = TLS_STARTTLS;
	script.tls_fails = ERR_CERT;
	SCRIPT(HELLO, "S: 250-mx.example", "S: 250 STARTTLS", "C: STARTTLS", "S: 220 go",
	       "C: [TLS]");
	expect_fail(send_msg(), ERR_CERT);
	expect_transcript();
}

Test(smtp, e83_handshake_failed)
{
	params.tls = TLS_IMPLICIT;
	script.tls_fails = ERR_TLS;
	SCRIPT("C: [TLS]");
	expect_fail(send_msg(), ERR_TLS);
	expect_transcript();
}

#define AUTH_CAPS "S: 250-mx.example", "S: 250 AUTH PLAIN"
#define AUTH_PLAIN_LINE "C: AUTH PLAIN AHRlc3RlcgBzZWNyZXQ="

Test(smtp, login_then_message)
{
	params.user = "tester";
	SCRIPT(HELLO, AUTH_CAPS, AUTH_PLAIN_LINE, "S: 235 ok",
	       "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 250 ok",
	       "C: DATA", "S: 354 go", DATA_BODY, "S: 250 ok", "C: QUIT");
	cr_expect_eq(smtp_send(&params, &msg, "secret", &hooks, &info, &res, &err), 0, "%s", err.text);
	expect_transcript();
	cr_expect_str_eq(info.mech, "PLAIN");
	cr_expect(strstr(trace_buf, "> AUTH PLAIN <redacted>\n"), "%s", trace_buf);
	cr_expect(!strstr(trace_buf, "AHRlc3Rlc"), "%s", trace_buf);
}

Test(smtp, login_pipelined_with_the_envelope)
{
	params.user = "tester";
	SCRIPT(HELLO, "S: 250-mx.example", "S: 250-PIPELINING", "S: 250 AUTH PLAIN",
	       AUTH_PLAIN_LINE, "C: MAIL FROM:<a@example.com>", "C: RCPT TO:<b@example.com>",
	       "S: 235 ok", "S: 250 ok", "S: 250 ok",
	       "C: DATA", "S: 354 go", DATA_BODY, "S: 250 ok", "C: QUIT");
	cr_expect_eq(smtp_send(&params, &msg, "secret", &hooks, &info, &res, &err), 0, "%s", err.text);
	expect_transcript();
}

Test(smtp, e84_login_refused)
{
	params.user = "tester";
	SCRIPT(HELLO, AUTH_CAPS, AUTH_PLAIN_LINE, "S: 535 5.7.8 bad credentials", "C: QUIT");
	expect_fail(smtp_send(&params, &msg, "secret", &hooks, &info, &res, &err), ERR_AUTH_FAILED);
	expect_transcript();
	cr_expect_str_eq(err.reply, "535 5.7.8 bad credentials");
}

Test(smtp, e84_pipelined_login_refused_sends_no_data_and_quits)
{
	params.user = "tester";
	SCRIPT(HELLO, "S: 250-mx.example", "S: 250-PIPELINING", "S: 250 AUTH PLAIN",
	       AUTH_PLAIN_LINE, "C: MAIL FROM:<a@example.com>", "C: RCPT TO:<b@example.com>",
	       "S: 535 bad credentials", "S: 250 ok", "S: 250 ok", "C: QUIT");
	expect_fail(smtp_send(&params, &msg, "secret", &hooks, &info, &res, &err), ERR_AUTH_FAILED);
	expect_transcript();
	cr_expect_str_eq(err.reply, "535 bad credentials");
	cr_expect(!res.data_sent);
}

Test(smtp, e85_no_auth_offered)
{
	params.user = "tester";
	SCRIPT(HELLO, CAPS, "C: QUIT");
	expect_fail(smtp_send(&params, &msg, "secret", &hooks, &info, &res, &err), ERR_AUTH_IMPOSSIBLE);
	expect_transcript();
}

Test(smtp, e85_mechanism_refused)
{
	params.user = "tester";
	SCRIPT(HELLO, AUTH_CAPS, AUTH_PLAIN_LINE, "S: 504 unknown mechanism", "C: QUIT");
	expect_fail(smtp_send(&params, &msg, "secret", &hooks, &info, &res, &err), ERR_AUTH_IMPOSSIBLE);
	expect_transcript();
}

Test(smtp, e86_sender_refused)
{
	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 550 not you", "C: QUIT");
	expect_fail(send_msg(), ERR_SENDER);
	expect_transcript();
	cr_expect_str_eq(err.reply, "550 not you");
}

Test(smtp, e86_sender_refused_pipelined_keeps_the_senders_error)
{
	SCRIPT(HELLO, CAPS_BOTH, "C: MAIL FROM:<a@example.com>", "C: RCPT TO:<b@example.com>",
	       BDAT_BODY, "S: 550 not you", "S: 503 no MAIL", "S: 503 no MAIL", "C: QUIT");
	expect_fail(send_msg(), ERR_SENDER);
	expect_transcript();
	cr_expect_str_eq(err.reply, "550 not you");
	cr_expect_eq(smtp_result_rcpt(&res, 0).status, SMTP_RCPT_UNASKED);
}

Test(smtp, e86_sender_refused_then_eof_keeps_the_senders_error)
{
	SCRIPT(HELLO, CAPS_BOTH, "C: MAIL FROM:<a@example.com>", "C: RCPT TO:<b@example.com>",
	       BDAT_BODY, "S: 550 not you", "S: 503 no MAIL", "X: eof");
	expect_fail(send_msg(), ERR_SENDER);
	expect_transcript();
	cr_expect_str_eq(err.reply, "550 not you");
}

Test(smtp, e86_utf8_sender_without_smtputf8)
{
	msg.from = "j\xc3\xb6rg@example.com";
	msg.smtputf8 = true;
	SCRIPT(HELLO, CAPS, "C: QUIT");
	expect_fail(send_msg(), ERR_SENDER);
	expect_transcript();
}

Test(smtp, e87_utf8_recipient_refused_here_others_served)
{
	const char *rcpts[] = {"j\xc3\xb6rg@example.com", "b@example.com"};

	msg.rcpts = rcpts;
	msg.nrcpts = 2;
	msg.smtputf8 = true;
	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 250 ok",
	       "C: DATA", "S: 354 go", DATA_BODY, "S: 250 ok", "C: QUIT");
	expect_fail(send_msg(), ERR_SOME_RCPT);
	expect_transcript();
	cr_expect_eq(smtp_result_rcpt(&res, 0).status, SMTP_RCPT_NOT_SENT);
	cr_expect_eq(smtp_result_rcpt(&res, 0).code, 553);
	cr_expect(strncmp(smtp_result_rcpt(&res, 0).reply, "553 not sent:", 13) == 0, "%s", smtp_result_rcpt(&res, 0).reply);
}

Test(smtp, e88_every_recipient_refused_pipelined)
{
	msg.nrcpts = 2;
	SCRIPT(HELLO, CAPS_PIPE, "C: MAIL FROM:<a@example.com>", "C: RCPT TO:<b@example.com>",
	       "C: RCPT TO:<c@example.com>", "C: DATA", "S: 250 ok", "S: 550 no", "S: 551 gone",
	       "S: 554 no recipients", "C: QUIT");
	expect_fail(send_msg(), ERR_ALL_RCPT);
	expect_transcript();
	cr_expect(strstr(err.text, "c@example.com (551 gone)"), "%s", err.text);
}

Test(smtp, e89_size_limit_checked_before_anything_is_sent)
{
	SCRIPT(HELLO, "S: 250-mx.example", "S: 250 SIZE 10", "C: QUIT");
	expect_fail(send_msg(), ERR_MESSAGE);
	expect_transcript();
}

Test(smtp, e89_size_limit_checked_before_the_login)
{
	params.user = "tester";
	SCRIPT(HELLO, "S: 250-mx.example", "S: 250-SIZE 10", "S: 250 AUTH PLAIN", "C: QUIT");
	expect_fail(smtp_send(&params, &msg, "secret", &hooks, &info, &res, &err), ERR_MESSAGE);
	expect_transcript();
}

Test(smtp, e89_552_at_mail)
{
	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 552 too big", "C: QUIT");
	expect_fail(send_msg(), ERR_MESSAGE);
	expect_transcript();
}

Test(smtp, e89_message_refused_after_data)
{
	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 250 ok",
	       "C: DATA", "S: 354 go", DATA_BODY, "S: 554 spam", "C: QUIT");
	expect_fail(send_msg(), ERR_MESSAGE);
	expect_transcript();
	cr_expect_eq(res.final_code, 554);
	cr_expect(!res.delivered && !res.maybe_delivered);
}

Test(smtp, e89_data_command_refused)
{
	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 250 ok", "C: DATA", "S: 554 no data", "C: QUIT");
	expect_fail(send_msg(), ERR_MESSAGE);
	expect_transcript();
}

Test(smtp, e89_eightbit_without_8bitmime)
{
	msg.eightbit = true;
	SCRIPT(HELLO, CAPS, "C: QUIT");
	expect_fail(send_msg(), ERR_MESSAGE);
	expect_transcript();
}

Test(smtp, e65_message_changed_size_under_bdat_no_quit)
{
	msg.size = 20; /* announced; the writer gives 18 */
	SCRIPT(HELLO, CAPS_CHUNK, "C: MAIL FROM:<a@example.com>", "S: 250 ok",
	       "C: RCPT TO:<b@example.com>", "S: 250 ok");
	expect_fail(send_msg(), ERR_DATA);
	cr_expect(strstr(err.text, "changed size"), "%s", err.text);
}

/* ---- a window of transactions in flight (smtp_submit, smtp_collect) ---- */

#define WN 300
static char w_from[WN][32], w_rcpt[WN][32];
static const char *w_rcpts[WN][1];
static struct smtp_message wm[WN];
static struct smtp *wx;

/* Message i: from si@example.com to ri@example.com, the 18-byte body. */
static void window_setup(void)
{
	for (int i = 0; i < WN; i++) {
		snprintf(w_from[i], sizeof w_from[i], "s%d@example.com", i);
		snprintf(w_rcpt[i], sizeof w_rcpt[i], "r%d@example.com", i);
		w_rcpts[i][0] = w_rcpt[i];
		wm[i] = msg;
		wm[i].from = w_from[i];
		wm[i].rcpts = w_rcpts[i];
		wm[i].nrcpts = 1;
	}
}

/* The client's pipelined group for message i, RSET first when rset. */
static void group(int i, bool rset)
{
	if (rset)
		add("C: RSET");
	add("C: MAIL FROM:<s%d@example.com>", i);
	add("C: RCPT TO:<r%d@example.com>", i);
	SCRIPT(BDAT_BODY);
}

/* The server's replies to that group, the verdict on the data last. */
static void answers(bool rset, const char *final)
{
	if (rset)
		add("S: 250 reset");
	SCRIPT("S: 250 ok", "S: 250 ok");
	add("S: %s", final);
}

static void open_window(void)
{
	window_setup();
	cr_assert_eq(smtp_open(&wx, &params, NULL, NULL, &hooks, &info, &err), 0, "%s", err.text);
}

static void submit(int i)
{
	cr_assert_eq(smtp_submit(wx, &wm[i], &wm[i], &err), 0, "%s", err.text);
}

/* Collects the oldest: it must be message i; returns smtp_collect's rc
 * with res and err filled. */
static int collect(int i)
{
	void *tag = NULL;
	int rc = smtp_collect(wx, &tag, &res, &err);

	cr_expect_eq(tag, &wm[i], "collected %p, want message %d", tag, i);
	return rc;
}

/* Every group goes out before any reply is read; each reply reaches its
 * own message. */
Test(smtp, window_groups_go_out_before_any_reply)
{
	SCRIPT(HELLO, CAPS_BOTH);
	group(0, false);
	group(1, true);
	group(2, true);
	answers(false, "250 queued as ONE");
	answers(true, "250 queued as TWO");
	answers(true, "250 queued as THREE");
	add("C: QUIT");
	open_window();
	for (int i = 0; i < 3; i++)
		submit(i);
	cr_expect_eq(smtp_pending(wx), 3);
	cr_expect_eq(collect(0), 0, "%s", err.text);
	cr_expect_str_eq(res.queue_id, "ONE");
	cr_expect_str_eq(res.mail_from, "s0@example.com");
	cr_expect_eq(collect(1), 0, "%s", err.text);
	cr_expect_str_eq(res.queue_id, "TWO");
	cr_expect_str_eq(smtp_result_rcpt(&res, 0).mailbox, "r1@example.com");
	cr_expect_eq(collect(2), 0, "%s", err.text);
	cr_expect_str_eq(res.queue_id, "THREE");
	cr_expect(res.delivered && !res.session_lost);
	cr_expect_eq(smtp_pending(wx), 0);
	smtp_quit(wx);
	expect_transcript();
}

/* A middle message whose every recipient is refused fails alone: the
 * RSET before the next MAIL keeps the next one's sender its own. */
Test(smtp, window_middle_failure_is_isolated)
{
	SCRIPT(HELLO, CAPS_BOTH);
	group(0, false);
	group(1, true);
	group(2, true);
	answers(false, "250 queued as ONE");
	SCRIPT("S: 250 reset", "S: 250 ok", "S: 550 no such user", "S: 554 no valid recipients");
	answers(true, "250 queued as THREE");
	add("C: QUIT");
	open_window();
	for (int i = 0; i < 3; i++)
		submit(i);
	cr_expect_eq(collect(0), 0, "%s", err.text);
	expect_fail(collect(1), ERR_ALL_RCPT);
	cr_expect_eq(smtp_result_rcpt(&res, 0).code, 550);
	cr_expect_eq(res.final_code, 554);
	cr_expect(!res.delivered && !res.maybe_delivered && !res.session_lost);
	cr_expect_eq(collect(2), 0, "%s", err.text);
	cr_expect_str_eq(res.queue_id, "THREE");
	cr_expect_str_eq(res.mail_from, "s2@example.com");
	smtp_quit(wx);
	expect_transcript();
}

/* RSET only where the server may hold the previous transaction: not
 * after a verdict of 2xx, nor after a refused MAIL; after a refused BDAT
 * LAST (whose MAIL was accepted) yes, even once it was collected. */
Test(smtp, window_rset_only_where_needed)
{
	SCRIPT(HELLO, CAPS_BOTH);
	group(0, false);
	answers(false, "250 queued as ONE");
	group(1, false);
	answers(false, "554 content refused");
	group(2, true);
	SCRIPT("S: 250 reset", "S: 550 sender refused", "S: 503 no MAIL", "S: 503 no MAIL");
	group(3, false);
	answers(false, "250 queued as FOUR");
	add("C: QUIT");
	open_window();
	for (int i = 0; i < 4; i++) {
		submit(i);
		collect(i);
	}
	cr_expect_str_eq(res.queue_id, "FOUR");
	smtp_quit(wx);
	expect_transcript();
}

/* The verdict on message 0, read after message 1's MAIL went out, says
 * nothing about message 1: message 2 still starts with RSET. */
Test(smtp, window_late_verdict_of_an_earlier_message_keeps_the_rset)
{
	SCRIPT(HELLO, CAPS_BOTH);
	group(0, false);
	group(1, true);
	answers(false, "250 queued as ONE");
	group(2, true);
	answers(true, "250 queued as TWO");
	answers(true, "250 queued as THREE");
	add("C: QUIT");
	open_window();
	for (int i = 0; i < 3; i++)
		submit(i);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(collect(i), 0, "%s", err.text);
	smtp_quit(wx);
	expect_transcript();
}

/* A 421 to a MAIL: that message and every later one are session_lost and
 * not in doubt (the server closed after the 421: what followed was never
 * read); the earlier ones keep their outcome. */
Test(smtp, window_421_to_mail_mid_window)
{
	SCRIPT(HELLO, CAPS_BOTH);
	group(0, false);
	group(1, true);
	group(2, true);
	answers(false, "250 queued as ONE");
	SCRIPT("S: 250 reset", "S: 421 shutting down");
	open_window();
	for (int i = 0; i < 3; i++)
		submit(i);
	cr_expect_eq(collect(0), 0, "%s", err.text);
	cr_expect(!res.session_lost);
	expect_fail(collect(1), ERR_TEMPFAIL);
	cr_expect(res.session_lost && !res.maybe_delivered);
	cr_expect_str_eq(err.reply, "421 shutting down");
	expect_fail(collect(2), ERR_TEMPFAIL);
	cr_expect(res.session_lost && !res.maybe_delivered);
	cr_expect(!smtp_can_submit(wx));
	expect_fail(smtp_submit(wx, &wm[3], NULL, &err), ERR_TEMPFAIL);
	smtp_quit(wx);
	expect_transcript();
}

/* A 421 instead of the verdict on a message's data leaves that one in
 * doubt; the later ones were not read by the server. */
Test(smtp, window_421_after_data_is_in_doubt)
{
	SCRIPT(HELLO, CAPS_BOTH);
	group(0, false);
	group(1, true);
	answers(false, "421 shutting down");
	open_window();
	submit(0);
	submit(1);
	expect_fail(collect(0), ERR_TEMPFAIL);
	cr_expect(res.session_lost && res.maybe_delivered);
	cr_expect(strstr(err.text, "may have been delivered"), "%s", err.text);
	expect_fail(collect(1), ERR_TEMPFAIL);
	cr_expect(res.session_lost && !res.maybe_delivered);
	smtp_quit(wx);
	expect_transcript();
}

/* A connection lost mid-window: every message whose data went out with
 * no verdict may have been delivered (75, said so); those refused before
 * keep their refusal. */
Test(smtp, window_connection_lost_mid_window)
{
	SCRIPT(HELLO, CAPS_BOTH);
	group(0, false);
	group(1, true);
	group(2, true);
	group(3, true);
	answers(false, "250 queued as ONE");
	SCRIPT("S: 250 reset", "S: 550 sender refused", "S: 503 no MAIL", "S: 503 no MAIL",
	       "S: 250 reset", "S: 250 ok", "X: eof");
	open_window();
	for (int i = 0; i < 4; i++)
		submit(i);
	cr_expect_eq(collect(0), 0, "%s", err.text);
	expect_fail(collect(1), ERR_SENDER);
	cr_expect(!res.session_lost && !res.maybe_delivered);
	expect_fail(collect(2), ERR_TEMPFAIL);
	cr_expect(res.session_lost && res.maybe_delivered);
	cr_expect(strstr(err.text, "may have been delivered"), "%s", err.text);
	cr_expect(strstr(err.hint, "check before sending it again"), "%s", err.hint);
	expect_fail(collect(3), ERR_TEMPFAIL);
	cr_expect(res.session_lost && res.maybe_delivered);
	cr_expect(!smtp_can_submit(wx));
	smtp_quit(wx);
	expect_transcript();
}

/* Lost before a message's data went (a big one waits for its envelope's
 * replies): session_lost, not in doubt: it may go over a new session. */
Test(smtp, window_connection_lost_before_data_is_not_in_doubt)
{
	size_t big = 300 * 1024;
	char *text = malloc(big + 1);

	memset(text, 'a', big);
	memcpy(text + big - 2, "\r\n", 2);
	text[big] = '\0';
	body.text = text;
	msg.size = big;
	SCRIPT(HELLO, CAPS_BOTH, "C: MAIL FROM:<s0@example.com>", "C: RCPT TO:<r0@example.com>",
	       "X: eof");
	open_window();
	submit(0);
	expect_fail(collect(0), ERR_TEMPFAIL);
	cr_expect(res.session_lost && !res.maybe_delivered && !res.data_sent);
	smtp_abort(wx);
	expect_transcript();
	free(text);
}

static int write_then_fail(void *ctx, struct sink *out)
{
	(void)ctx;
	if (sink_write(out, "Subject: t\r\n", 12) < 0)
		return -1;
	return err_set(out->err, ERR_NOINPUT, "the attachment vanished");
}

/* A message whose own data fails half-way ends the session (the server
 * waits for the rest of its chunk), but the messages before it went out
 * whole: their verdicts are read, not left in doubt. */
Test(smtp, window_data_failure_reads_the_earlier_verdicts)
{
	SCRIPT(HELLO, CAPS_BOTH);
	group(0, false);
	group(1, true);
	SCRIPT("C: RSET", "C: MAIL FROM:<s2@example.com>", "C: RCPT TO:<r2@example.com>",
	       "C: BDAT 18 LAST", "C: Subject: t");
	answers(false, "250 queued as ONE");
	answers(true, "250 queued as TWO");
	open_window();
	submit(0);
	submit(1);
	wm[2].write = write_then_fail;
	submit(2);
	cr_expect_eq(collect(0), 0, "%s", err.text);
	cr_expect(res.delivered && !res.session_lost);
	cr_expect_eq(collect(1), 0, "%s", err.text);
	cr_expect_str_eq(res.queue_id, "TWO");
	expect_fail(collect(2), ERR_NOINPUT);
	cr_expect(!res.maybe_delivered && !res.session_lost);
	cr_expect(!smtp_can_submit(wx));
	smtp_quit(wx);
	expect_transcript();
}

static int write_grows(void *ctx, struct sink *out)
{
	(void)ctx;
	if (sink_write(out, "Subject: t\r\n", 12) < 0)
		return -1;
	return sink_write(out, "\r\nhi\r\n", 6);
}

/* A message that grows past its BDAT size after the whole announced
 * chunk was written: that chunk is never flushed (the server would take
 * it, cut short), the session is dropped. */
Test(smtp, window_grown_message_sends_no_whole_chunk)
{
	SCRIPT(HELLO, CAPS_BOTH);
	group(0, false);
	answers(false, "250 queued as ONE");
	open_window();
	submit(0);
	wm[1].write = write_grows;
	wm[1].size = 12;
	submit(1);
	cr_expect_eq(collect(0), 0, "%s", err.text);
	expect_fail(collect(1), ERR_DATA);
	cr_expect(!res.data_sent && !res.maybe_delivered && !res.session_lost);
	smtp_quit(wx);
	expect_transcript();
}

/* A write fails (here: the server stopped reading) while the verdict on
 * an earlier message has arrived unread: it is still read, so that
 * message is delivered, not in doubt; the one being written is
 * session_lost. */
Test(smtp, window_write_failure_still_reads_the_verdicts_that_came)
{
	static char names[70][32];
	static const char *rcpts[70];

	for (int i = 0; i < 70; i++) {
		snprintf(names[i], sizeof names[i], "m%d@example.com", i);
		rcpts[i] = names[i];
	}
	script.window = 3; /* reply lines; the EHLO reply has 3 */
	SCRIPT(HELLO, CAPS_BOTH);
	group(0, false);
	SCRIPT("C: RSET", "C: MAIL FROM:<s1@example.com>");
	for (int i = 0; i < 64; i++)
		add("C: RCPT TO:<%s>", names[i]);
	SCRIPT("S: 250 ok", "S: 250 ok", "S: 250-18 byte chunk", "S: 250 queued as ONE");
	open_window();
	wm[1].rcpts = rcpts;
	wm[1].nrcpts = 70;
	submit(0);
	submit(1);
	cr_expect(!smtp_can_submit(wx));
	cr_expect_eq(collect(0), 0, "%s", err.text);
	cr_expect(res.delivered && !res.session_lost);
	cr_expect_str_eq(res.queue_id, "ONE");
	expect_fail(collect(1), ERR_TEMPFAIL);
	cr_expect(res.session_lost && !res.maybe_delivered);
	smtp_quit(wx);
	expect_transcript();
}

/* PIPELINING without CHUNKING: the next group follows the dot without
 * waiting for its reply (RFC 2920 3.1), an RSET first since that verdict
 * is not known yet; DATA ends each group. */
Test(smtp, window_without_chunking_follows_the_dot)
{
	SCRIPT(HELLO, CAPS_PIPE, "C: MAIL FROM:<s0@example.com>", "C: RCPT TO:<r0@example.com>",
	       "C: DATA", "S: 250 ok", "S: 250 ok", "S: 354 go", DATA_BODY,
	       "C: RSET", "C: MAIL FROM:<s1@example.com>", "C: RCPT TO:<r1@example.com>", "C: DATA",
	       "S: 250 queued as ONE", "S: 250 reset", "S: 250 ok", "S: 550 no", "S: 354 go",
	       "C: .", "C: RSET", "C: MAIL FROM:<s2@example.com>", "C: RCPT TO:<r2@example.com>",
	       "C: DATA", "S: 554 no valid recipients", "S: 250 reset", "S: 250 ok", "S: 250 ok",
	       "S: 354 go", DATA_BODY, "S: 250 queued as THREE", "C: QUIT");
	open_window();
	for (int i = 0; i < 3; i++)
		submit(i);
	cr_expect_eq(collect(0), 0, "%s", err.text);
	cr_expect_str_eq(res.queue_id, "ONE");
	expect_fail(collect(1), ERR_ALL_RCPT);
	cr_expect_eq(collect(2), 0, "%s", err.text);
	cr_expect_str_eq(res.queue_id, "THREE");
	smtp_quit(wx);
	expect_transcript();
}

/* Without PIPELINING each command waits for its reply; RSET after a
 * transaction left open, none after a verdict. */
Test(smtp, window_lockstep_without_pipelining)
{
	SCRIPT(HELLO, CAPS, "C: MAIL FROM:<s0@example.com>", "S: 250 ok",
	       "C: RCPT TO:<r0@example.com>", "S: 550 no",
	       "C: RSET", "S: 250 reset",
	       "C: MAIL FROM:<s1@example.com>", "S: 250 ok",
	       "C: RCPT TO:<r1@example.com>", "S: 250 ok",
	       "C: DATA", "S: 354 go", DATA_BODY, "S: 250 queued as TWO",
	       "C: MAIL FROM:<s2@example.com>", "S: 250 ok",
	       "C: RCPT TO:<r2@example.com>", "S: 250 ok",
	       "C: DATA", "S: 354 go", DATA_BODY, "S: 250 queued as THREE", "C: QUIT");
	open_window();
	for (int i = 0; i < 3; i++)
		submit(i);
	expect_fail(collect(0), ERR_ALL_RCPT);
	cr_expect_eq(collect(1), 0, "%s", err.text);
	cr_expect_str_eq(res.queue_id, "TWO");
	cr_expect_eq(collect(2), 0, "%s", err.text);
	smtp_quit(wx);
	expect_transcript();
}

/* The login rides in the first group; the first message's data waits for
 * its answer, the next group does not wait for anything. */
Test(smtp, window_login_in_the_first_group)
{
	params.user = "tester";
	SCRIPT(HELLO, "S: 250-mx.example", "S: 250-PIPELINING", "S: 250-CHUNKING",
	       "S: 250 AUTH PLAIN", AUTH_PLAIN_LINE, "C: MAIL FROM:<s0@example.com>",
	       "C: RCPT TO:<r0@example.com>", "S: 235 ok", "S: 250 ok", "S: 250 ok", BDAT_BODY);
	group(1, true);
	SCRIPT("S: 250 queued as ONE");
	answers(true, "250 queued as TWO");
	add("C: QUIT");
	window_setup();
	cr_assert_eq(smtp_open(&wx, &params, "secret", &wm[0], &hooks, &info, &err), 0, "%s", err.text);
	submit(0);
	submit(1);
	cr_expect_eq(collect(0), 0, "%s", err.text);
	cr_expect_eq(collect(1), 0, "%s", err.text);
	cr_expect_str_eq(res.queue_id, "TWO");
	smtp_quit(wx);
	expect_transcript();
}

/* The window holds SMTP_WINDOW (256) transactions; then the oldest must
 * be collected first. */
Test(smtp, window_is_bounded)
{
	int n = 0;

	SCRIPT(HELLO, CAPS_BOTH);
	for (int i = 0; i < 256; i++)
		group(i, i > 0);
	for (int i = 0; i < 256; i++)
		answers(i > 0, "250 ok");
	add("C: QUIT");
	open_window();
	while (smtp_can_submit(wx) && n < WN)
		submit(n++);
	cr_expect_eq(n, 256);
	expect_fail(smtp_submit(wx, &wm[n], NULL, &err), ERR_SOFTWARE);
	for (int i = 0; i < 256; i++)
		cr_expect_eq(collect(i), 0, "%d: %s", i, err.text);
	smtp_quit(wx);
	expect_transcript();
}

/* Many messages of many recipients through a server that stops reading
 * once 100 of its replies are not taken: replies are read while writing,
 * nothing deadlocks, each reply reaches its own message. */
Test(smtp, window_many_recipients_no_deadlock)
{
	static char names[70][32];
	static const char *rcpts[70];

	for (int i = 0; i < 70; i++) {
		snprintf(names[i], sizeof names[i], "m%d@example.com", i);
		rcpts[i] = names[i];
	}
	script.window = 100;
	SCRIPT(HELLO, CAPS_BOTH);
	for (int m = 0; m < 8; m++) {
		/* each verdict is read before the next MAIL: no RSET */
		add("C: MAIL FROM:<s%d@example.com>", m);
		add("S: 250 ok");
		for (int i = 0; i < 70; i++) {
			add("C: RCPT TO:<%s>", names[i]);
			add(i == m ? "S: 550 no" : "S: 250 ok");
		}
		SCRIPT(BDAT_BODY);
		add("S: 250 queued as Q%d", m);
	}
	add("C: QUIT");
	open_window();
	for (int m = 0; m < 8; m++) {
		wm[m].rcpts = rcpts;
		wm[m].nrcpts = 70;
		submit(m);
	}
	for (int m = 0; m < 8; m++) {
		char id[16];

		expect_fail(collect(m), ERR_SOME_RCPT);
		snprintf(id, sizeof id, "Q%d", m);
		cr_expect_str_eq(res.queue_id, id);
		cr_expect_eq(res.accepted, 69);
		cr_expect_eq(smtp_result_rcpt(&res, m).code, 550, "message %d", m);
	}
	smtp_quit(wx);
	expect_transcript();
}

/* A full window through that server, which answers each group as it
 * reads it: the replies are taken as they come, not only at collect (and
 * each verdict is in before the next MAIL: no RSET). */
Test(smtp, window_full_window_no_deadlock)
{
	script.window = 100;
	SCRIPT(HELLO, CAPS_BOTH);
	for (int i = 0; i < 256; i++) {
		group(i, false);
		answers(false, "250 ok");
	}
	add("C: QUIT");
	open_window();
	for (int i = 0; i < 256; i++)
		submit(i);
	for (int i = 0; i < 256; i++)
		cr_expect_eq(collect(i), 0, "%d: %s", i, err.text);
	smtp_quit(wx);
	expect_transcript();
}
