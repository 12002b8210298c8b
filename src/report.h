/* report.h - what the user sees: the transcript on stderr (--verbose),
 * the one-line outcome, the --json object and the --probe summary. Only
 * main calls these; the engine reports through hooks and its result. */
#ifndef ENVOI_REPORT_H
#define ENVOI_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "session.h"
#include "smtp.h"

/* The trace hook for --verbose: "> EHLO x", "< 250 OK", "* note". */
void report_trace(void *ctx, enum smtp_dir dir, const char *line, size_t len);

/* A warning: "envoi: warning: ..." on stderr unless quiet. */
void report_warn(const struct session *s, const char *text);

/* The progress line: bytes, rate and time left, redrawn at most five
 * times a second with \r; report_progress_end clears it. */
struct progress {
	int64_t start_ms, last_ms;
	bool shown;
	/* the files' own size: base64 makes the bytes on the wire a third
	 * more than what the user knows; 0 shows the wire bytes */
	uint64_t content_bytes;
};
void report_progress(void *ctx, uint64_t sent, uint64_t total);
void report_progress_end(struct progress *p);

/* One line on stderr after a successful send, unless quiet. */
void report_sent(const struct session *s, const struct smtp_info *in, const struct smtp_result *r);

/* The --insecure warning on stderr, one line, even when quiet; nothing
 * without --insecure. */
void report_insecure(const struct session *s);

/* The --json object on out; err NULL on success. */
void report_json(FILE *out, const struct session *s, const struct smtp_info *in,
		 const struct smtp_result *r, const struct error *err, long elapsed_ms);

/* The --json object for a failure before any session (usage, file,
 * configuration): status, exit_code, class, error, server_reply, hint. */
void report_json_error(FILE *out, const struct error *err);
/* --queue: the message was kept as id (envoi's own) because of why. */
void report_json_queued(FILE *out, const struct session *s, const struct error *why,
			const char *id);

/* The --json object after --pickup-dir wrote path. */
void report_json_written(FILE *out, const char *path, long elapsed_ms);

/* What --probe learnt, for a person to read. */
void report_probe(FILE *out, const struct session *s, const struct smtp_info *in);

/* The state hook for --verbose: "* state: STARTTLS (from EHLO)"; no
 * arrow, which would read as a line sent. */
void report_state(void *ctx, const char *from, const char *to);

#endif
