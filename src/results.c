/* results.c - JSON objects written through jansson. */
#include "results.h"

#include <stdlib.h>
#include <string.h>

#include "utf8.h"

json_t *results_string(const char *s)
{
	size_t len = s ? strlen(s) : 0, n = 0;
	char *clean;
	json_t *j;

	if (!s)
		return json_string("");
	/* three bytes for U+FFFD in place of each bad one */
	if (!(clean = malloc(3 * len + 1)))
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t k = utf8_decode((const unsigned char *)s + i, len - i, NULL);

		if (k == 0) {
			memcpy(clean + n, "\xef\xbf\xbd", 3);
			n += 3;
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

json_t *results_string_or_null(const char *s)
{
	return s && s[0] ? results_string(s) : json_null();
}

json_t *results_recipients(const struct smtp_result *r)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < r->nrcpts; i++) {
		const struct smtp_rcpt rc = smtp_result_rcpt(r, i);

		json_array_append_new(a, json_pack("{s:o,s:b,s:i,s:o}", "address",
						   results_string(rc.mailbox), "accepted",
						   rc.code / 100 == 2, "code", rc.code, "reply",
						   results_string(rc.reply)));
	}
	return a;
}

void results_emit(FILE *out, json_t *obj)
{
	if (obj) {
		/* key order as built: the fields read in the documented order */
		json_dumpf(obj, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(obj);
	}
	fputc('\n', out);
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
	const struct smtp_result *r = b->r;
	const struct error *e = b->err;
	json_t *o = json_object();

	json_object_set_new(o, "line", json_integer((json_int_t)b->line));
	json_object_set(o, "id", b->id ? b->id : json_null());
	json_object_set_new(o, "status", json_string(status(e)));
	json_object_set_new(o, "exit_code", json_integer(e ? err_exit_code(e->cls) : 0));
	json_object_set_new(o, "class", e ? json_string(err_class_name(e->cls)) : json_null());
	json_object_set_new(o, "error", e ? results_string(e->text) : json_null());
	json_object_set_new(o, "server_reply", e ? results_string_or_null(e->reply) : json_null());
	json_object_set_new(o, "recipients", r ? results_recipients(r) : json_array());
	json_object_set_new(o, "final_reply", r ? results_string_or_null(r->final_reply) : json_null());
	json_object_set_new(o, "queue_id", r ? results_string_or_null(r->queue_id) : json_null());
	json_object_set_new(o, "bytes", json_integer(r && r->final_code ? (json_int_t)r->size : 0));
	json_object_set_new(o, "elapsed_ms", json_integer(b->elapsed_ms));
	json_object_set_new(o, "connection", b->connection ? json_integer(b->connection) : json_null());
	results_emit(out, o);
}
