/* results.h - JSON output through jansson: the result line of each
 * --batch message, and the string helper report.c's --json shares. */
#ifndef ENVOI_RESULTS_H
#define ENVOI_RESULTS_H

#include <jansson.h>
#include <stdio.h>

#include "error.h"
#include "smtp.h"

/* A JSON string of s (NULL: ""); bytes that are not UTF-8 become U+FFFD,
 * so that a server's or a file's bytes can never make the output
 * invalid. Returns a new reference, NULL only out of memory. */
json_t *results_string(const char *s);

/* s as a string, or null when s is empty. New reference. */
json_t *results_string_or_null(const char *s);

/* [{"address","accepted","code","reply"}...] of r. New reference. */
json_t *results_recipients(const struct smtp_result *r);

/* Writes obj on one line to out and flushes it; takes obj's reference. */
void results_emit(FILE *out, json_t *obj);

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
void results_write(FILE *out, const struct batch_result *b);

#endif
