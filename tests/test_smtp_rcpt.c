/* The result's recipients: four bytes each, replies stored once, the
 * addresses read where the message keeps them (smtp_rcpt.c). */
#include <criterion/criterion.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_txn.h"

static struct smtp_result res;
static struct error err;

static void fini(void)
{
	smtp_result_free(&res);
}

TestSuite(smtp_rcpt, .fini = fini);

/* Records reply text (one line, "NNN ...") for recipient i. */
static void record(struct txn *t, size_t i, const char *text)
{
	struct reply rp;

	reply_init(&rp);
	cr_assert_eq(reply_feed(&rp, text, strlen(text), &err), 1, "%s", err.text);
	cr_assert_eq(txn_record_rcpt(t, i, &rp), 0, "%s", err.text);
	reply_free(&rp);
}

static const char *nth(const void *ctx, size_t i)
{
	static char buf[4][32];

	(void)ctx;
	snprintf(buf[i % 4], sizeof buf[i % 4], "r%zu@example.com", i);
	return buf[i % 4];
}

Test(smtp_rcpt, each_recipient_gets_its_code_status_and_reply)
{
	const char *rcpts[] = {"a@x.example", "b@x.example", "c@x.example", "d@x.example"};
	struct smtp_message m = {.from = "s@x.example", .rcpts = rcpts, .nrcpts = 4};
	struct txn t = {.m = &m, .r = &res, .err = &err};

	cr_assert_eq(smtp_result_init(&res, &m, &err), 0);
	record(&t, 0, "250 2.1.5 ok");
	record(&t, 1, "250 2.1.5 ok");
	record(&t, 2, "550 5.1.1 no such user");
	cr_expect_eq(res.accepted, 2);
	cr_expect_eq(smtp_result_rcpt(&res, 1).mailbox, rcpts[1]);
	cr_expect_str_eq(smtp_result_rcpt(&res, 1).reply, "250 2.1.5 ok");
	cr_expect_eq(smtp_result_rcpt(&res, 1).status, SMTP_RCPT_ACCEPTED);
	cr_expect_eq(smtp_result_rcpt(&res, 2).code, 550);
	cr_expect_eq(smtp_result_rcpt(&res, 2).status, SMTP_RCPT_REFUSED);
	cr_expect_str_eq(smtp_result_rcpt(&res, 2).reply, "550 5.1.1 no such user");
	cr_expect_eq(smtp_result_rcpt(&res, 3).code, 0);
	cr_expect_eq(smtp_result_rcpt(&res, 3).status, SMTP_RCPT_UNASKED);
	cr_expect_str_eq(smtp_result_rcpt(&res, 3).reply, "");
	cr_expect_str_eq(res.mail_from, "s@x.example");
}

Test(smtp_rcpt, equal_replies_in_a_row_share_one_text)
{
	const char *rcpts[] = {"a@x.example", "b@x.example", "c@x.example"};
	struct smtp_message m = {.from = "s@x.example", .rcpts = rcpts, .nrcpts = 3};
	struct txn t = {.m = &m, .r = &res, .err = &err};

	cr_assert_eq(smtp_result_init(&res, &m, &err), 0);
	for (size_t i = 0; i < 3; i++)
		record(&t, i, "250 2.1.5 ok");
	cr_expect_eq(smtp_result_rcpt(&res, 0).reply, smtp_result_rcpt(&res, 2).reply);
}

Test(smtp_rcpt, envelope_from_a_function_needs_no_array)
{
	struct smtp_message m = {.from = "s@x.example", .rcpt = nth, .nrcpts = 1000000};
	struct txn t = {.m = &m, .r = &res, .err = &err};

	cr_assert_eq(smtp_result_init(&res, &m, &err), 0);
	cr_expect_str_eq(smtp_message_rcpt(&m, 999999), "r999999@example.com");
	record(&t, 999999, "250 ok");
	cr_expect_str_eq(smtp_result_rcpt(&res, 999999).mailbox, "r999999@example.com");
	cr_expect_eq(smtp_result_rcpt(&res, 999999).status, SMTP_RCPT_ACCEPTED);
	cr_expect_eq(smtp_result_rcpt(&res, 999998).status, SMTP_RCPT_UNASKED);
}

/* A server naming each recipient in its 2xx (sendmail): the first 1,024
 * texts are kept, then the code alone, stored once. */
Test(smtp_rcpt, past_1024_distinct_2xx_texts_the_code_alone)
{
	struct smtp_message m = {.from = "s@x.example", .rcpt = nth, .nrcpts = 1100};
	struct txn t = {.m = &m, .r = &res, .err = &err};
	char text[64];

	cr_assert_eq(smtp_result_init(&res, &m, &err), 0);
	for (size_t i = 0; i < 1100; i++) {
		snprintf(text, sizeof text, "250 <r%zu@example.com> ok", i);
		record(&t, i, text);
	}
	cr_expect_str_eq(smtp_result_rcpt(&res, 1023).reply, "250 <r1023@example.com> ok");
	cr_expect_str_eq(smtp_result_rcpt(&res, 1024).reply, "250");
	cr_expect_eq(smtp_result_rcpt(&res, 1024).reply, smtp_result_rcpt(&res, 1099).reply);
}

/* Refusals are kept whole while the reply index (20 bits) has room;
 * then the code alone, one text per code: memory stays bounded by what
 * the index can name whatever the server says. */
Test(smtp_rcpt, refusals_past_the_index_keep_the_code_alone, .timeout = 60)
{
	enum { N = (1 << 20) + 10 };
	struct smtp_message m = {.from = "s@x.example", .rcpt = nth, .nrcpts = N};
	struct txn t = {.m = &m, .r = &res, .err = &err};
	char text[64];
	size_t whole = 0;

	cr_assert_eq(smtp_result_init(&res, &m, &err), 0);
	for (size_t i = 0; i < N; i++) {
		snprintf(text, sizeof text, "%d user %zu unknown", i % 2 ? 550 : 450, i);
		record(&t, i, text);
	}
	for (size_t i = 0; i < N; i++)
		whole += strlen(smtp_result_rcpt(&res, i).reply) > 3;
	cr_expect_gt(whole, (1 << 20) - 1100);
	cr_expect_lt(whole, 1 << 20);
	cr_expect_str_eq(smtp_result_rcpt(&res, 0).reply, "450 user 0 unknown");
	cr_expect_str_eq(smtp_result_rcpt(&res, N - 1).reply, "550");
	cr_expect_str_eq(smtp_result_rcpt(&res, N - 2).reply, "450");
	cr_expect_eq(smtp_result_rcpt(&res, N - 1).code, 550);
	cr_expect_eq(smtp_result_rcpt(&res, N - 1).status, SMTP_RCPT_REFUSED);
	cr_expect_eq(smtp_result_rcpt(&res, N - 1).reply, smtp_result_rcpt(&res, N - 3).reply);
}

/* ---- a whole transaction's memory ----------------------------------- */

/* A server that answers every command at once: 250 to all, 354 to DATA,
 * its capabilities to EHLO. It keeps the replies it owes as a count of
 * lines, nothing per recipient, so what the engine holds is all that
 * grows with the recipients. */
struct quick {
	struct transport base;
	char line[1100];        /* the client's line being assembled */
	size_t len;
	bool in_data;           /* between DATA and its dot */
	const char *queue[4096]; /* reply lines owed, oldest at head */
	size_t head, n;
	size_t replies;
	void (*each_reply)(void); /* called after every line read */
};

static void owe(struct quick *q, const char *line)
{
	cr_assert_lt(q->n, 4096);
	q->queue[(q->head + q->n++) % 4096] = line;
}

static void answer(struct quick *q, const char *line)
{
	if (q->in_data) {
		q->in_data = strcmp(line, ".") != 0;
		if (!q->in_data)
			owe(q, "250 queued");
	} else if (strncmp(line, "EHLO", 4) == 0) {
		owe(q, "250-mx.example");
		owe(q, "250 PIPELINING");
	} else if (strcmp(line, "DATA") == 0) {
		q->in_data = true;
		owe(q, "354 go");
	} else if (strcmp(line, "QUIT") != 0) {
		owe(q, "250 2.1.5 ok");
	}
}

static int q_write(struct transport *t, const void *buf, size_t len, struct error *e)
{
	struct quick *q = (struct quick *)t;
	const char *p = buf;

	(void)e;
	for (size_t i = 0; i < len; i++) {
		cr_assert_lt(q->len, sizeof q->line - 1);
		if (p[i] != '\n') {
			q->line[q->len++] = p[i];
			continue;
		}
		q->line[q->len - 1] = '\0'; /* the CR */
		answer(q, q->line);
		q->len = 0;
	}
	return 0;
}

static int q_read_line(struct transport *t, const char **line, size_t *len, struct error *e)
{
	struct quick *q = (struct quick *)t;

	if (q->n == 0)
		return err_set(e, ERR_PROTOCOL, "read with no reply owed");
	*line = q->queue[q->head];
	*len = strlen(*line);
	q->head = (q->head + 1) % 4096;
	q->n--;
	if (q->each_reply)
		q->each_reply();
	return 0;
}

static size_t q_pending(const struct transport *t)
{
	return ((const struct quick *)t)->n;
}

static int q_wait_readable(struct transport *t, int ms, struct error *e)
{
	(void)ms;
	(void)e;
	return ((struct quick *)t)->n > 0;
}

static int q_flush(struct transport *t, struct error *e)
{
	(void)t;
	(void)e;
	return 0;
}

static int q_no_tls(struct transport *t, struct error *e)
{
	(void)t;
	return err_set(e, ERR_TLS, "no TLS here");
}

static bool q_yes(const struct transport *t)
{
	(void)t;
	return true;
}

static bool q_no(const struct transport *t)
{
	(void)t;
	return false;
}

static const struct tls_info *q_tls_info(const struct transport *t)
{
	(void)t;
	return NULL;
}

static char *q_channel_binding(struct transport *t, const char **type)
{
	(void)t;
	(void)type;
	return NULL;
}

static const char *q_peer(const struct transport *t)
{
	(void)t;
	return "mx.example (127.0.0.1) port 25";
}

static void q_start_step(struct transport *t)
{
	(void)t;
}

static void q_close(struct transport *t)
{
	free(t);
}

static void (*each_reply)(void);

static int q_open(void *ctx, struct transport **out, struct error *e);

static const struct transport_ops quick_ops = {
	.open = q_open, .read_line = q_read_line, .start_step = q_start_step,
	.pending = q_pending, .wait_readable = q_wait_readable, .write = q_write,
	.flush = q_flush, .start_tls = q_no_tls, .probe_tls = q_no_tls,
	.tls_answered = q_no, .is_loopback = q_yes, .is_tls = q_no,
	.tls_info = q_tls_info, .channel_binding = q_channel_binding, .peer = q_peer,
	.close = q_close,
};

static int q_open(void *ctx, struct transport **out, struct error *e)
{
	struct quick *q = calloc(1, sizeof *q);

	(void)ctx;
	if (!q)
		return err_set(e, ERR_OSERR, "out of memory");
	q->base.ops = &quick_ops;
	q->each_reply = each_reply;
	owe(q, "220 mx.example ESMTP");
	*out = &q->base;
	return 0;
}

static int write_hello(void *ctx, struct sink *out)
{
	(void)ctx;
	return sink_write(out, "Subject: t\r\n\r\nhi\r\n", 18);
}

/* One message to n recipients over quick_ops; every one accepted. */
static void send_to(size_t n)
{
	struct smtp_params p = {.transport = &quick_ops, .host = "mx.example", .port = 25,
				.tls = TLS_NONE, .helo = "client.example", .timeout = 10};
	struct smtp_message m = {.from = "s@x.example", .rcpt = nth, .nrcpts = n, .size = 18,
				 .write = write_hello};
	struct smtp_info info = {0};

	cr_assert_eq(smtp_send(&p, &m, NULL, NULL, &info, &res, &err), 0, "%s", err.text);
	cr_assert_eq(res.accepted, n);
	smtp_info_free(&info);
	smtp_result_free(&res);
}

/* ASan's allocator replaces glibc's: what these tests measure is not
 * there (scripts/test builds it with clang, which has __has_feature). */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static size_t heap_peak;

/* Bytes the allocator has handed out and not been given back. */
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void note_heap(void)
{
	size_t now = heap_in_use();

	if (now > heap_peak)
		heap_peak = now;
}

/* The most the heap held above what it held before, sending to n. */
static size_t heap_growth(size_t n)
{
	size_t base = heap_in_use();

	heap_peak = base;
	send_to(n);
	return heap_peak - base;
}

/* The envelope is read where the message keeps it and the replies are
 * stored once: the transaction's own memory grows by the result's four
 * bytes a recipient. A result made for smtp_transact's caller besides
 * the one the window fills held each recipient's state twice (8). */
Test(smtp_rcpt, a_transaction_holds_each_recipients_state_once, .timeout = 60)
{
	enum { SMALL = 20000, BIG = 220000 };
	size_t small, big;
	double each;

	if (SANITIZED)
		cr_skip_test("ASan's allocator keeps its own books");
	each_reply = note_heap;
	small = heap_growth(SMALL);
	big = heap_growth(BIG);
	each = (double)(big - small) / (BIG - SMALL);
	cr_expect_lt(each, 6, "%.2f bytes a recipient (%zu, then %zu)", each, small, big);
	/* and the measure sees the result at all */
	cr_expect_gt(each, 3.5, "%.2f bytes a recipient (%zu, then %zu)", each, small, big);
}

/* KiB in /proc/self/status's field (e.g. "VmHWM:"). */
static long status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	cr_assert_not_null(f);
	while (kib < 0 && fgets(line, sizeof line, f))
		if (strncmp(line, field, strlen(field)) == 0)
			kib = atol(line + strlen(field));
	fclose(f);
	return kib;
}

/* Resident memory grows with the recipients answered and little else.
 * The heap is set up as in a large send: envoi's parser frees blocks of
 * megabytes, after which glibc takes blocks that size from the heap
 * rather than from fresh mappings, and calloc clears what it takes from
 * the heap even where nothing was ever written, making it resident.
 * Three things made pages resident for nothing that way, each found
 * here: the window's 256 slots (850 KiB) cleared when one is used; a
 * result made before the session opened, cleared and freed unused; a
 * result for smtp_transact's caller besides the window's. Each costs
 * 4N or 850 KiB more; together they raised envoi's slope from 28 to 34
 * bytes a recipient at 200,000 (test_faults.py). */
Test(smtp_rcpt, pages_are_touched_only_for_recipients_answered, .timeout = 60)
{
	enum { N = 300000 };
	void *volatile big; /* volatile: the compiler must not leave it out */
	FILE *f;
	long before, grown;

	if (SANITIZED)
		cr_skip_test("ASan's allocator keeps its own books");
	cr_assert_eq(mallopt(M_MMAP_THRESHOLD, 32 << 20), 1);
	cr_assert_eq(mallopt(M_TRIM_THRESHOLD, 256 << 20), 1);
	/* a top of the heap that was never written, as a large block freed
	 * leaves it */
	big = malloc(16 << 20);
	free(big);
	f = fopen("/proc/self/clear_refs", "w");
	cr_assert_not_null(f);
	fputs("5", f); /* VmHWM from here */
	fclose(f);
	before = status_kib("VmRSS:");
	send_to(N);
	grown = status_kib("VmHWM:") - before;
	cr_expect_lt(grown, N * 4 / 1024 + 512, "%ld KiB resident for %d recipients", grown, N);
}
