/* test_results.c - envoi's JSON output: what jansson writes, with
 * untrusted text shown by printable.h's rules. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "results.h"
#include "smtp_txn.h"

/* What results_emit writes for o, as a string. */
static char *emitted(json_t *o)
{
	static char buf[4096];
	FILE *f = fmemopen(buf, sizeof buf, "w");

	results_emit(f, o);
	fclose(f);
	return buf;
}

#define HOSTILE "q\"b\\ \x1b[2J \xc2\x9b \xc2\x85 \xe2\x80\xae \xe2\x81\xa6 \xe2\x80\xa8 \x9b M\xc3\xbcller \x7f"

Test(results, terminal_controls_and_bad_bytes_come_out_escaped)
{
	cr_expect_str_eq(emitted(json_pack("{s:o}", "s", results_string(HOSTILE))),
			 "{\"s\":\"q\\\"b\\\\ \\u001B[2J \\u009b \\u0085 \\u202e \\u2066 \\u2028 \\\\x9b "
			 "M\xc3\xbcller \\u007f\"}\n");
}

Test(results, every_byte_value_comes_out_safe)
{
	for (int a = 1; a < 256; a++)
		for (int b = 1; b < 256; b += 3) {
			char in[4] = { (char)a, (char)b, (char)0xc2, 0 };
			const unsigned char *o = (const unsigned char *)emitted(
				json_pack("{s:o}", "s", results_string(in)));

			json_t *back = json_loads((const char *)o, 0, NULL);

			cr_assert(back, "not JSON from %02x %02x", a, b);
			json_decref(back);
			for (; o[1]; o++) {
				cr_assert(o[0] >= 0x20 && o[0] != 0x7f, "byte %02x from %02x %02x", *o, a, b);
				cr_assert(!(o[0] == 0xc2 && o[1] >= 0x80 && o[1] <= 0x9f),
					  "C1 from %02x %02x", a, b);
			}
		}
}

Test(results, batch_result_echoes_an_id_escaped)
{
	json_t *id = json_string("\xe2\x80\xae" "evil\xc2\x9b");
	struct error e = { .cls = ERR_USAGE };
	char buf[1024];
	FILE *f = fmemopen(buf, sizeof buf, "w");

	strcpy(e.text, "unknown key \"x\"");
	results_write(f, &(struct batch_result){ .line = 3, .id = id, .err = &e, .elapsed_ms = 1 });
	fclose(f);
	cr_expect_str_eq(buf, "{\"line\":3,\"id\":\"\\u202eevil\\u009b\",\"status\":\"failed\",\"exit_code\":64,"
			      "\"class\":\"usage error\",\"error\":\"unknown key \\\"x\\\"\",\"server_reply\":null,"
			      "\"recipients\":[],\"final_reply\":null,\"queue_id\":null,\"bytes\":0,"
			      "\"elapsed_ms\":1,\"connection\":null}\n");
	json_decref(id);
}

Test(results, oneshot_and_batch_show_a_missing_reply_each_their_way)
{
	struct error e = { .cls = ERR_TEMPFAIL };
	json_t *a = json_object(), *b = json_object();

	results_add_error(a, &e, RESULTS_ABSENT_EMPTY);
	results_add_error(b, &e, RESULTS_ABSENT_NULL);
	cr_expect_str_eq(json_string_value(json_object_get(a, "server_reply")), "");
	cr_expect(json_is_null(json_object_get(b, "server_reply")));
	json_decref(a);
	json_decref(b);
}

/* A result of two recipients, one refused, recorded as the engine does. */
static const char *const two[] = {"a@example.com", "b@example.com"};
static const struct smtp_message two_msg = {.from = "s@example.com", .rcpts = two, .nrcpts = 2};

static void record(struct txn *t, size_t i, const char *text)
{
	struct error e = {0};
	struct reply rp;

	reply_init(&rp);
	cr_assert_eq(reply_feed(&rp, text, strlen(text), &e), 1, "%s", e.text);
	cr_assert_eq(txn_record_rcpt(t, i, &rp), 0, "%s", e.text);
	reply_free(&rp);
}

static struct smtp_result two_rcpts(void)
{
	struct smtp_result r = {0};
	struct error e = {0};
	struct txn t = {.m = &two_msg, .r = &r, .err = &e};

	cr_assert_eq(smtp_result_init(&r, &two_msg, &e), 0);
	record(&t, 0, "250 ok");
	record(&t, 1, "550 \xc2\x9bno");
	r.final_code = 250;
	r.size = 42;
	snprintf(r.final_reply, sizeof r.final_reply, "250 queued");
	snprintf(r.queue_id, sizeof r.queue_id, "Q1");
	return r;
}

Test(results, recipients_are_streamed_between_head_and_tail)
{
	struct smtp_result r = two_rcpts();
	char buf[1024];
	FILE *f = fmemopen(buf, sizeof buf, "w");
	json_t *tail = json_object();

	results_add_outcome(tail, &r, RESULTS_ABSENT_EMPTY);
	results_emit_with_recipients(f, json_pack("{s:s}", "status", "sent"), &r, tail);
	results_emit_with_recipients(f, json_object(), NULL, json_object());
	fclose(f);
	cr_expect_str_eq(buf, "{\"status\":\"sent\",\"recipients\":[{\"address\":\"a@example.com\","
			      "\"accepted\":true,\"code\":250,\"reply\":\"250 ok\"},{\"address\":"
			      "\"b@example.com\",\"accepted\":false,\"code\":550,\"reply\":\"550 \\u009bno\"}],"
			      "\"final_reply\":\"250 queued\",\"queue_id\":\"Q1\",\"bytes\":42}\n"
			      "{\"recipients\":[]}\n");
	smtp_result_free(&r);
}
