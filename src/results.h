/* results.h - envoi's JSON output, written through jansson: the --json
 * object of a one-shot run (report.c) and the result line of each
 * --batch message. The one place that turns a struct smtp_result and a
 * struct error into JSON fields, and the one place that writes a JSON
 * document out, with untrusted text shown by printable.h's rules. */
#ifndef ENVOI_RESULTS_H
#define ENVOI_RESULTS_H

#include <jansson.h>
#include <stdio.h>

#include "error.h"
#include "smtp.h"

/* A JSON string of len bytes of s (NULL: ""). A byte that is not part of
 * valid UTF-8 becomes the text \xHH, as printable.h shows it, so that a
 * server's or a file's bytes can neither make the output invalid nor be
 * lost. Returns a new reference, NULL only out of memory. */
json_t *results_stringn(const char *s, size_t len);

/* results_stringn of the NUL-terminated s. New reference. */
json_t *results_string(const char *s);

/* s as a string, or null when s is NULL or empty. New reference. */
json_t *results_string_or_null(const char *s);

/* How a document shows a text that is missing (no server reply, no final
 * reply): --json has always written "", the --batch results null. */
enum results_absent { RESULTS_ABSENT_EMPTY, RESULTS_ABSENT_NULL };

/* Adds "class", "error" and "server_reply" of e to o; with e NULL (a
 * success), null for each. */
void results_add_error(json_t *o, const struct error *e, enum results_absent absent);

/* Adds "final_reply", "queue_id" (null when none) and "bytes" (0 unless
 * the data got a final reply) of r to o, the fields that follow the
 * recipients; r NULL: no session carried the message. */
void results_add_outcome(json_t *o, const struct smtp_result *r, enum results_absent absent);

/* Writes obj on one line to out and flushes it; takes obj's reference.
 * Keys come in the order they were added. Besides what JSON escapes, DEL,
 * C1 controls, bidi controls and U+2028/U+2029 come out as \uHHHH, so the
 * line is safe to show on a terminal (printable.h). */
void results_emit(FILE *out, json_t *obj);

/* Writes, as results_emit does, one object: head's fields, "recipients"
 * (each of r with address, accepted, code and reply; [] when r is NULL),
 * then tail's fields. The recipients are built and written one at a
 * time, so that a million of them never stand in memory as a million
 * JSON objects. Takes head's and tail's references. */
void results_emit_with_recipients(FILE *out, json_t *head, const struct smtp_result *r, json_t *tail);

/* One --batch result. r may be NULL (a line that never reached a
 * session); err NULL when sent; id NULL when the line had none. */
struct batch_result {
	unsigned long line;
	json_t *id;
	const struct smtp_result *r;
	const struct error *err;
	long elapsed_ms;
	unsigned connection; /* 0: none (null) */
};
/* Writes b as one result line on out (results_emit). */
void results_write(FILE *out, const struct batch_result *b);

#endif
