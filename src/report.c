/* report.c - the user-facing output. */
#include "report.h"
#include "clock.h"
#include "printable.h"
#include "results.h"

#include <string.h>
#include <strings.h>

void report_trace(void *ctx, enum smtp_dir dir, const char *line, size_t len)
{
	(void)ctx;
	fputc((int)dir, stderr);
	fputc(' ', stderr);
	printable_write(stderr, line, len);
	fputc('\n', stderr);
}

void report_warn(const struct session *s, const char *text)
{
	if (s->output == OUT_QUIET)
		return;
	fputs("envoi: warning: ", stderr);
	printable_write(stderr, text, strlen(text));
	fputc('\n', stderr);
}

/* Smaller sends are over before a progress line could help. */
#define PROGRESS_MIN_BYTES 1000000u

void report_progress(void *ctx, uint64_t sent, uint64_t total)
{
	struct progress *p = ctx;
	int64_t now = clock_ms();
	double secs, rate, shown_total;

	if (total <= PROGRESS_MIN_BYTES)
		return;
	if (!p->start_ms)
		p->start_ms = p->last_ms = now;
	if (now - p->last_ms < 200 && sent < total)
		return;
	p->last_ms = now;
	secs = (double)(now - p->start_ms) / 1000.0;
	rate = secs > 0 ? (double)sent / secs : 0;
	/* in the user's units: a 300 MB file is 300 MB, not its 405 MB of base64 */
	shown_total = p->content_bytes && p->content_bytes < total ? (double)p->content_bytes :
		      (double)total;
	fprintf(stderr, "\r%3.0f%%  %.1f of %.1f MB  %.1f MB/s", 100.0 * (double)sent / (double)total,
		shown_total * (double)sent / (double)total / 1e6, shown_total / 1e6,
		rate * shown_total / (double)total / 1e6);
	if (rate > 0 && total > sent)
		fprintf(stderr, "  %.0f s left ", (double)(total - sent) / rate);
	else
		fputs("           ", stderr);
	p->shown = true;
}

void report_progress_end(struct progress *p)
{
	if (p->shown)
		fputs("\r\033[K", stderr);
	p->shown = false;
}

void report_sent(const struct session *s, const struct smtp_info *in, const struct smtp_result *r)
{
	const char *how = !in->tls ? " (unencrypted)" :
			  !in->tls_info.verified ? " (certificate NOT verified: --insecure)" : "";
	bool verbose = s->output == OUT_VERBOSE && r->mail_from;
	const char *said = r->queue_id[0] ? r->queue_id : r->final_reply;

	if (s->output == OUT_QUIET)
		return;
	fprintf(stderr, "envoi: sent to %zu recipient%s via %s:%u%s; %s", r->accepted,
		r->accepted == 1 ? "" : "s", s->host, s->port, how,
		r->queue_id[0] ? "queued as " : "server said: ");
	printable_write(stderr, said, strlen(said));
	/* -r is Reply-To here but the sender in mailx: -v shows which
	 * address the server was given as the envelope sender */
	if (verbose) {
		fputs("; envelope sender <", stderr);
		printable_write(stderr, r->mail_from, strlen(r->mail_from));
		fputc('>', stderr);
	}
	fputc('\n', stderr);
}

void report_insecure(const struct session *s)
{
	if (!s->insecure)
		return;
	/* Even with --quiet: a cron job's mail is where this must show. */
	fputs("envoi: warning: --insecure: the server's certificate will not be verified; "
	      "whoever is on the path can read and change the session, password included\n",
	      stderr);
}

/* What the server offers, for --probe --json: its SIZE limit and its EHLO
 * keywords (with their parameters). */
static void json_extensions(json_t *o, const struct smtp_info *in)
{
	const char *line = in->capabilities ? strchr(in->capabilities, '\n') : NULL;
	json_t *a = json_array();

	while (line) {
		const char *next = strchr(++line, '\n');
		size_t n = next ? (size_t)(next - line) : strlen(line);

		json_array_append_new(a, results_stringn(line, n));
		line = next;
	}
	json_object_set_new(o, "size_limit", json_integer((json_int_t)in->size_limit));
	json_object_set_new(o, "extensions", a);
}

/* "class", "error", "server_reply" and "hint" of err. */
static void json_error_fields(json_t *o, const struct error *err)
{
	results_add_error(o, err, RESULTS_ABSENT_EMPTY);
	json_object_set_new(o, "hint", results_string(err->hint));
}

/* {"status": status, "exit_code": the code of err, or 0}: each document
 * starts so. */
static json_t *json_head(const char *status, const struct error *err)
{
	return json_pack("{s:s,s:i}", "status", status, "exit_code", err ? err_exit_code(err->cls) : 0);
}

void report_json_error(FILE *out, const struct error *err)
{
	json_t *o = json_head("failed", err);

	json_error_fields(o, err);
	json_object_set_new(o, "server", json_null());
	json_object_set_new(o, "recipients", json_array());
	results_emit(out, o);
}

void report_json_queued(FILE *out, const struct session *s, const struct error *why,
			const char *id)
{
	json_t *o = json_head("queued", NULL);

	json_object_set_new(o, "queue_id", results_string(id));
	json_error_fields(o, why);
	json_object_set_new(o, "server", results_string(s->host));
	json_object_set_new(o, "port", json_integer(s->port));
	json_object_set_new(o, "recipients", json_array());
	results_emit(out, o);
}

void report_json_written(FILE *out, const char *path, long elapsed_ms)
{
	json_t *o = json_head("written", NULL);

	json_object_set_new(o, "file", results_string(path));
	json_object_set_new(o, "elapsed_ms", json_integer(elapsed_ms));
	results_emit(out, o);
}

/* "tls" (version, cipher, verified) and "certificate", or "tls": null. */
static void json_tls(json_t *o, const struct smtp_info *in)
{
	const struct tls_info *t = &in->tls_info;

	if (!in->tls) {
		json_object_set_new(o, "tls", json_null());
		return;
	}
	json_object_set_new(o, "tls", json_pack("{s:o,s:o,s:b}", "version", results_string(t->version),
						"cipher", results_string(t->cipher), "verified",
						t->verified));
	json_object_set_new(o, "certificate",
			    json_pack("{s:o,s:o,s:o,s:o}", "subject", results_string(t->subject), "issuer",
				      results_string(t->issuer), "not_before", results_string(t->not_before),
				      "not_after", results_string(t->not_after)));
}

void report_json(FILE *out, const struct session *s, const struct smtp_info *in,
		 const struct smtp_result *r, const struct error *err, long elapsed_ms)
{
	json_t *o = json_head(err ? "failed" : s->probe ? "ok" : "sent", err), *tail = json_object();

	if (err)
		json_error_fields(o, err);
	json_object_set_new(o, "server", results_string(s->host));
	json_object_set_new(o, "port", json_integer(s->port));
	json_object_set_new(o, "peer", results_string(in->peer));
	json_tls(o, in);
	if (s->probe)
		json_extensions(o, in);
	json_object_set_new(o, "sasl_mechanism", results_string_or_null(in->mech));
	results_add_outcome(tail, r, RESULTS_ABSENT_EMPTY);
	json_object_set_new(tail, "elapsed_ms", json_integer(elapsed_ms));
	results_emit_with_recipients(out, o, r, tail);
}

static void probe_extensions(FILE *out, const struct smtp_info *r)
{
	const char *line = r->capabilities ? strchr(r->capabilities, '\n') : NULL;

	fputs("extensions:  ", out);
	for (bool first = true; line; first = false) {
		const char *next = strchr(++line, '\n');
		int n = next ? (int)(next - line) : (int)strlen(line);

		fputs(first ? "" : ", ", out);
		printable_write(out, line, (size_t)n);
		line = next;
	}
	fputc('\n', out);
}

/* One "label: value" line of --probe; the value may come from the server. */
static void probe_line(FILE *out, const char *label, const char *value)
{
	fprintf(out, "%-13s", label);
	printable_write(out, value, strlen(value));
	fputc('\n', out);
}

void report_probe(FILE *out, const struct session *s, const struct smtp_info *r)
{
	const struct tls_info *t = &r->tls_info;

	probe_line(out, "server:", r->peer);
	if (r->tls) {
		fprintf(out, "TLS:         %s, %s, certificate %s\n", t->version, t->cipher,
			t->verified ? "verified" : "NOT verified");
		probe_line(out, "certificate:", t->subject);
		probe_line(out, "issuer:", t->issuer);
		fprintf(out, "valid:       %s to %s\n", t->not_before, t->not_after);
	} else {
		fputs("TLS:         none (plaintext)\n", out);
	}
	if (r->size_limit)
		fprintf(out, "size limit:  %llu bytes (%.1f MB)\n", (unsigned long long)r->size_limit,
			(double)r->size_limit / 1e6);
	else
		fputs("size limit:  none announced\n", out);
	probe_extensions(out, r);
	if (s->user) {
		fprintf(out, "login:       %s as ", r->mech);
		printable_write(out, s->user, strlen(s->user));
		fputs(": accepted\n", out);
	} else {
		fputs("login:       not tried (no --user)\n", out);
	}
}

void report_state(void *ctx, const char *from, const char *to)
{
	char line[128];
	int n = snprintf(line, sizeof line, "state: %s (from %s)", to, from);

	report_trace(ctx, SMTP_NOTE, line, n > 0 && (size_t)n < sizeof line ? (size_t)n : 0);
}
