/* report.c - the user-facing output. */
#include "report.h"
#include "clock.h"
#include "printable.h"

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

static void json_string(FILE *out, const char *s)
{
	printable_json(out, s);
}

/* ,"key":"value", or null when value is empty */
static void json_key_or_null(FILE *out, const char *key, const char *value)
{
	fprintf(out, ",\"%s\":", key);
	if (value[0])
		json_string(out, value);
	else
		fputs("null", out);
}

static void json_recipients(FILE *out, const struct smtp_result *r)
{
	fputs("\"recipients\":[", out);
	for (size_t i = 0; i < r->nrcpts; i++) {
		const struct smtp_rcpt rc = smtp_result_rcpt(r, i);

		fprintf(out, "%s{\"address\":", i ? "," : "");
		json_string(out, rc.mailbox);
		fprintf(out, ",\"accepted\":%s,\"code\":%d,\"reply\":", rc.code / 100 == 2 ? "true" : "false",
			rc.code);
		json_string(out, rc.reply);
		fputc('}', out);
	}
	fputc(']', out);
}

/* What the server offers, for --probe --json: its EHLO keywords (with
 * their parameters) and its SIZE limit. */
static void json_extensions(FILE *out, const struct smtp_info *r)
{
	const char *line = r->capabilities ? strchr(r->capabilities, '\n') : NULL;
	bool first = true;

	fprintf(out, ",\"size_limit\":%llu,\"extensions\":[", (unsigned long long)r->size_limit);
	while (line) {
		const char *next = strchr(++line, '\n');
		size_t n = next ? (size_t)(next - line) : strlen(line);
		char buf[512];

		snprintf(buf, sizeof buf, "%.*s", (int)n, line);
		fputs(first ? "" : ",", out);
		json_string(out, buf);
		first = false;
		line = next;
	}
	fputc(']', out);
}

/* "class", "error", "server_reply", "hint" and a trailing comma. */
static void json_error_fields(FILE *out, const struct error *err)
{
	fputs("\"class\":", out);
	json_string(out, err_class_name(err->cls));
	fputs(",\"error\":", out);
	json_string(out, err->text);
	fputs(",\"server_reply\":", out);
	json_string(out, err->reply);
	fputs(",\"hint\":", out);
	json_string(out, err->hint);
	fputc(',', out);
}

void report_json_error(FILE *out, const struct error *err)
{
	fprintf(out, "{\"status\":\"failed\",\"exit_code\":%d,", err_exit_code(err->cls));
	json_error_fields(out, err);
	fputs("\"server\":null,\"recipients\":[]}\n", out);
	fflush(out);
}

void report_json_queued(FILE *out, const struct session *s, const struct error *why,
			const char *id)
{
	fputs("{\"status\":\"queued\",\"exit_code\":0,\"queue_id\":", out);
	json_string(out, id);
	fputc(',', out);
	json_error_fields(out, why);
	fputs("\"server\":", out);
	json_string(out, s->host);
	fprintf(out, ",\"port\":%u,\"recipients\":[]}\n", s->port);
	fflush(out);
}

void report_json_written(FILE *out, const char *path, long elapsed_ms)
{
	fputs("{\"status\":\"written\",\"exit_code\":0,\"file\":", out);
	json_string(out, path);
	fprintf(out, ",\"elapsed_ms\":%ld}\n", elapsed_ms);
	fflush(out);
}

void report_json(FILE *out, const struct session *s, const struct smtp_info *in,
		 const struct smtp_result *r, const struct error *err, long elapsed_ms)
{
	fprintf(out, "{\"status\":\"%s\",\"exit_code\":%d,", err ? "failed" : s->probe ? "ok" : "sent",
		err ? err_exit_code(err->cls) : 0);
	if (err)
		json_error_fields(out, err);
	fputs("\"server\":", out);
	json_string(out, s->host);
	fprintf(out, ",\"port\":%u,\"peer\":", s->port);
	json_string(out, in->peer);
	fputs(",\"tls\":", out);
	if (in->tls) {
		fputs("{\"version\":", out);
		json_string(out, in->tls_info.version);
		fputs(",\"cipher\":", out);
		json_string(out, in->tls_info.cipher);
		fprintf(out, ",\"verified\":%s}", in->tls_info.verified ? "true" : "false");
	} else {
		fputs("null", out);
	}
	if (in->tls) {
		const struct tls_info *t = &in->tls_info;

		fputs(",\"certificate\":{\"subject\":", out);
		json_string(out, t->subject);
		fputs(",\"issuer\":", out);
		json_string(out, t->issuer);
		fputs(",\"not_before\":", out);
		json_string(out, t->not_before);
		fputs(",\"not_after\":", out);
		json_string(out, t->not_after);
		fputc('}', out);
	}
	if (s->probe)
		json_extensions(out, in);
	fputs(",\"sasl_mechanism\":", out);
	if (in->mech[0])
		json_string(out, in->mech);
	else
		fputs("null", out);
	fputc(',', out);
	json_recipients(out, r);
	fputs(",\"final_reply\":", out);
	json_string(out, r->final_reply);
	json_key_or_null(out, "queue_id", r->queue_id);
	fprintf(out, ",\"bytes\":%llu,\"elapsed_ms\":%ld}\n",
		(unsigned long long)(r->final_code ? r->size : 0), elapsed_ms);
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
