/* results.c - JSON objects written through jansson (see results.h). */
#include "results.h"

#include <stdlib.h>
#include <string.h>

#include "printable.h"
#include "utf8.h"

json_t *results_stringn(const char *s, size_t len)
{
	size_t n = 0;
	char *clean;
	json_t *j;

	if (!s)
		return json_string("");
	/* four bytes of \xHH in place of each bad one */
	if (!(clean = malloc(4 * len + 1)))
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t k = utf8_decode((const unsigned char *)s + i, len - i, NULL);

		if (k == 0) {
			snprintf(clean + n, 5, "\\x%02x", (unsigned char)s[i]);
			n += 4;
			i++;
		} else {
			memcpy(clean + n, s + i, k);
			n += k;
			i += k;
		}
	}
	j = json_stringn(clean, n);
	free(clean);
	return j;
}

json_t *results_string(const char *s)
{
	return results_stringn(s, s ? strlen(s) : 0);
}

json_t *results_string_or_null(const char *s)
{
	return s && s[0] ? results_string(s) : json_null();
}

static json_t *absent_text(const char *s, enum results_absent absent)
{
	return absent == RESULTS_ABSENT_NULL ? results_string_or_null(s) : results_string(s);
}

void results_add_error(json_t *o, const struct error *e, enum results_absent absent)
{
	json_object_set_new(o, "class", e ? json_string(err_class_name(e->cls)) : json_null());
	json_object_set_new(o, "error", e ? results_string(e->text) : json_null());
	json_object_set_new(o, "server_reply", e ? absent_text(e->reply, absent) : json_null());
}

void results_add_outcome(json_t *o, const struct smtp_result *r, enum results_absent absent)
{
	json_object_set_new(o, "final_reply", r ? absent_text(r->final_reply, absent) : json_null());
	json_object_set_new(o, "queue_id", r ? results_string_or_null(r->queue_id) : json_null());
	json_object_set_new(o, "bytes", json_integer(r && r->final_code ? (json_int_t)r->size : 0));
}

/* jansson escapes what JSON requires (", \ and C0 controls) and leaves
 * every other character as it is: what a terminal would act on besides
 * (DEL, C1 and bidi controls, line separators) is escaped here, by
 * printable.h's rule. jansson's output is valid UTF-8, and those
 * characters can only stand inside strings, where \uHHHH means them. */
static bool plain_ascii(char c)
{
	return (unsigned char)c < 0x7f;
}

static void write_shown(FILE *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		char one[PRINTABLE_MAX];
		size_t run = 0;

		while (i + run < len && plain_ascii(s[i + run]))
			run++;
		fwrite(s + i, 1, run, out);
		i += run;
		if (i < len) {
			i += printable_char(s + i, len - i, one, true);
			fputs(one, out);
		}
	}
}

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER) /* keys in the order built */

/* Writes v and takes its reference. Returns false when v could not be
 * written (out of memory). */
static bool write_value(FILE *out, json_t *v, bool members_only)
{
	char *text = v ? json_dumps(v, DUMP_FLAGS) : NULL;
	size_t n = text ? strlen(text) : 0;

	if (members_only && n >= 2)
		write_shown(out, text + 1, n - 2);
	else if (text)
		write_shown(out, text, n);
	free(text);
	json_decref(v);
	return text != NULL;
}

void results_emit(FILE *out, json_t *obj)
{
	if (!write_value(out, obj, false)) /* still one object, as --json promises */
		fprintf(out, "{\"status\":\"failed\",\"exit_code\":%d,\"class\":\"%s\",\"error\":"
			"\"out of memory writing JSON\"}", err_exit_code(ERR_OSERR), err_class_name(ERR_OSERR));
	fputc('\n', out);
	fflush(out);
}

/* One recipient: address, accepted, code, reply. New reference. */
static json_t *recipient(const struct smtp_rcpt *rc)
{
	return json_pack("{s:o,s:b,s:i,s:o}", "address", results_string(rc->mailbox), "accepted",
			 rc->code / 100 == 2, "code", rc->code, "reply", results_string(rc->reply));
}

void results_emit_with_recipients(FILE *out, json_t *head, const struct smtp_result *r, json_t *tail)
{
	bool any_head = json_object_size(head) > 0, any_tail = json_object_size(tail) > 0;

	fputc('{', out);
	write_value(out, head, true);
	fputs(any_head ? ",\"recipients\":[" : "\"recipients\":[", out);
	for (size_t i = 0; r && i < r->nrcpts; i++) {
		const struct smtp_rcpt rc = smtp_result_rcpt(r, i);

		if (i)
			fputc(',', out);
		if (!write_value(out, recipient(&rc), false))
			fputs("null", out);
	}
	fputs(any_tail ? "]," : "]", out);
	write_value(out, tail, true);
	fputs("}\n", out);
	fflush(out);
}

static const char *status(const struct error *err)
{
	if (!err)
		return "sent";
	return err->cls == ERR_SOME_RCPT ? "partial" : "failed";
}

void results_write(FILE *out, const struct batch_result *b)
{
	const struct error *e = b->err;
	json_t *head = json_object(), *tail = json_object();

	json_object_set_new(head, "line", json_integer((json_int_t)b->line));
	json_object_set(head, "id", b->id ? b->id : json_null());
	json_object_set_new(head, "status", json_string(status(e)));
	json_object_set_new(head, "exit_code", json_integer(e ? err_exit_code(e->cls) : 0));
	results_add_error(head, e, RESULTS_ABSENT_NULL);
	results_add_outcome(tail, b->r, RESULTS_ABSENT_NULL);
	json_object_set_new(tail, "elapsed_ms", json_integer(b->elapsed_ms));
	json_object_set_new(tail, "connection", b->connection ? json_integer(b->connection) : json_null());
	results_emit_with_recipients(out, head, b->r, tail);
}
