/* test_queue.c - queue entries: the envelope file, lifetimes, and a
 * flush that settles entries by the sender's verdict. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue.h"

Test(queue, lifetime_units)
{
	static const struct {
		const char *text;
		unsigned long secs;
	} ok[] = {{"90", 90}, {"90s", 90}, {"15m", 900}, {"12h", 43200}, {"5d", 432000}};
	static const char *const bad[] = {"", "d", "5x", "5dd", "-1d", "0", " 5d", "99999d"};
	struct error err;
	unsigned long s;

	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		cr_expect_eq(queue_parse_lifetime(ok[i].text, &s, &err), 0, "%s", ok[i].text);
		cr_expect_eq(s, ok[i].secs, "%s", ok[i].text);
	}
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		cr_expect_eq(queue_parse_lifetime(bad[i], &s, &err), -1, "%s", bad[i]);
}

Test(queue, envelope_round_trip_and_no_line_injection)
{
	char *rcpts[] = {"a@x.example", "b@y.example"};
	struct queue_env in = {.account = "work", .config = "/etc/envoi.conf", .sender = "me@x.example",
			       .rcpts = rcpts, .nrcpts = 2, .created = 1700000000, .attempts = 3,
			       .error = "451 later\nrcpt evil@z.example"};
	struct queue_env out;
	struct error err;
	char *text = queue_env_format(&in);

	cr_assert_not_null(text);
	cr_assert_eq(queue_env_parse(text, &out, &err), 0, "%s", err.text);
	cr_expect_str_eq(out.account, "work");
	cr_expect_str_eq(out.sender, "me@x.example");
	cr_assert_eq(out.nrcpts, 2);
	cr_expect_str_eq(out.rcpts[1], "b@y.example");
	cr_expect_eq(out.created, 1700000000);
	cr_expect_eq(out.attempts, 3);
	cr_expect_str_eq(out.error, "451 later?rcpt evil@z.example");
	queue_env_free(&out);
	free(text);
	cr_expect_eq(queue_env_parse("garbage\n", &out, &err), -1);
}

static int write_hello(void *ctx, int fd, struct error *err)
{
	(void)ctx;
	(void)err;
	return write(fd, "hello\r\n", 7) == 7 ? 0 : -1;
}

static enum queue_verdict verdict;
static size_t calls;

static void fake_send(void *ctx, struct queue_entry *const *v, size_t n, struct queue_outcome *out)
{
	(void)ctx;
	(void)v;
	for (size_t i = 0; i < n; i++) {
		out[i].verdict = verdict;
		snprintf(out[i].reply, sizeof out[i].reply, "550 no");
	}
	calls += n;
}

static char dir[64];

static void add(const char *sender, time_t created)
{
	char *rcpts[] = {"r@x.example"}, id[64];
	struct queue_env e = {.sender = (char *)sender, .rcpts = rcpts, .nrcpts = 1, .created = created};
	struct error err;

	cr_assert_eq(queue_add(dir, &e, write_hello, NULL, id, &err), 0, "%s", err.text);
}

static long count(const char *sub)
{
	char path[128];
	struct error err;
	FILE *null = fopen("/dev/null", "w");
	long n;

	snprintf(path, sizeof path, "%s%s", dir, sub);
	n = queue_list(path, null, time(NULL), &err);
	fclose(null);
	return n;
}

static void setup(void)
{
	char base[] = "/tmp/envoi-test-queue-XXXXXX";

	cr_assert_not_null(mkdtemp(base));
	snprintf(dir, sizeof dir, "%s/q", base);
	calls = 0;
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%.*s'", (int)(strrchr(dir, '/') - dir), dir);
	cr_assert_eq(system(cmd), 0);
}

Test(queue, add_is_private_and_listed, .init = setup, .fini = teardown)
{
	struct stat st;

	add("a@x.example", time(NULL));
	cr_assert_eq(stat(dir, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0700);
	cr_expect_eq(count(""), 1);
	cr_expect_eq(count("/missing"), 0);
}

/* A bounce's null sender is kept as it is (empty), never dropped or
 * taken for "the account's from", and listed as <>. */
Test(queue, null_sender_is_kept_and_listed, .init = setup, .fini = teardown)
{
	char *rcpts[] = {"a@x.example"}, *text, line[512] = "";
	struct queue_env in = {.sender = "", .rcpts = rcpts, .nrcpts = 1}, out;
	struct error err;
	FILE *f = tmpfile();

	cr_assert_not_null(text = queue_env_format(&in));
	cr_assert_eq(queue_env_parse(text, &out, &err), 0, "%s", err.text);
	cr_expect_str_eq(out.sender, "");
	queue_env_free(&out);
	free(text);
	add("", time(NULL));
	cr_assert_eq(queue_list(dir, f, time(NULL), &err), 1);
	rewind(f);
	cr_assert_not_null(fgets(line, sizeof line, f));
	cr_expect_not_null(strstr(line, "\t<>\t<r@x.example>\t"), "%s", line);
	fclose(f);
}

Test(queue, flush_settles_by_verdict, .init = setup, .fini = teardown)
{
	struct queue_tally t;
	struct error err;

	add("a@x.example", time(NULL));
	verdict = QV_DEFERRED;
	cr_assert_eq(queue_flush(dir, 3600, fake_send, NULL, NULL, &t, &err), 0);
	cr_expect_eq(t.deferred, 1);
	cr_expect_eq(count(""), 1);
	verdict = QV_FAILED;
	cr_assert_eq(queue_flush(dir, 3600, fake_send, NULL, NULL, &t, &err), 0);
	cr_expect_eq(t.failed, 1);
	cr_expect_eq(count(""), 0);
	cr_expect_eq(count("/failed"), 1);
	add("b@x.example", time(NULL));
	verdict = QV_SENT;
	cr_assert_eq(queue_flush(dir, 3600, fake_send, NULL, NULL, &t, &err), 0);
	cr_expect_eq(t.sent, 1);
	cr_expect_eq(count(""), 0);
	cr_expect_eq(calls, 3);
}

Test(queue, expired_entries_are_not_sent, .init = setup, .fini = teardown)
{
	struct queue_tally t;
	struct error err;

	add("old@x.example", time(NULL) - 7200);
	verdict = QV_SENT;
	cr_assert_eq(queue_flush(dir, 3600, fake_send, NULL, NULL, &t, &err), 0);
	cr_expect_eq(t.failed, 1);
	cr_expect_eq(calls, 0);
	cr_expect_eq(count("/failed"), 1);
}
