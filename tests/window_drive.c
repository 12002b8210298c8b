/* window_drive.c - one session, N generated messages through smtp_submit
 * and smtp_collect, one line per outcome: the engine's window against
 * real servers (tests/integration/test_window.py, bench).
 *
 *   window_drive [-v] [-t none|starttls|implicit] [-c CAFILE] [-u USER]
 *                [-n N] [-f FROM] [-r RCPT]... [-x K:RCPT]... [-e E] [-T TOKEN]
 *                HOST PORT
 *
 * FROM and RCPT may hold one %d, replaced by the message's number (from
 * 0). -x gives message K the recipient RCPT instead (repeatable). -e adds
 * E recipients to every message, reject-0@example.com and on (the test
 * servers refuse them): many replies for few deliveries. The
 * password is $WINDOW_PASSWORD. Each message is "Subject: TOKEN i" with a
 * short body. Output, one line per message in order:
 *
 *   i rc exit_code delivered maybe_delivered session_lost queue_id|- final|- error
 *
 * then "pending-at-end N" when the session ended before every message
 * was submitted. Exits 0 when every message was delivered, 1 otherwise,
 * 2 on a usage or session failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn_transport.h"
#include "smtp.h"

#define RING 512        /* more than the window: a slot is free again once collected */
#define MAX_RCPTS 16
#define MAX_SWAPS 64

struct slot {
	int i;
	char from[256], rcpt[MAX_RCPTS][256], body[256];
	const char **rcpts;     /* MAX_RCPTS + nextra */
	struct smtp_message m;
};

static const char *from_pat = "sender-%d@example.com", *rcpt_pat[MAX_RCPTS], *token = "window";
static size_t nrcpt_pat;
static struct { int k; const char *rcpt; } swaps[MAX_SWAPS];
static size_t nswaps;
static struct slot ring[RING];
static char (*extra)[48];
static size_t nextra;

static struct timespec t0;

/* The transcript on stderr, each line with the milliseconds since start. */
static void on_trace(void *ctx, enum smtp_dir dir, const char *line, size_t len)
{
	struct timespec now;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &now);
	fprintf(stderr, "%8.1f %c %.*s\n", (double)(now.tv_sec - t0.tv_sec) * 1e3 +
		(double)(now.tv_nsec - t0.tv_nsec) / 1e6, (char)dir, (int)len, line);
}

static int write_body(void *ctx, struct sink *out)
{
	const struct slot *s = ctx;

	return sink_write(out, s->body, strlen(s->body));
}

/* pat with its "%d" (if any) replaced by i. */
static void fill(const char *pat, int i, char *out, size_t size)
{
	const char *d = strstr(pat, "%d");

	if (!d)
		snprintf(out, size, "%s", pat);
	else
		snprintf(out, size, "%.*s%d%s", (int)(d - pat), pat, i, d + 2);
}

/* Message i, built in its ring slot. */
static struct smtp_message *build(int i)
{
	struct slot *s = &ring[i % RING];
	size_t n = 0;

	s->i = i;
	fill(from_pat, i, s->from, sizeof s->from);
	for (size_t k = 0; k < nswaps; k++)
		if (swaps[k].k == i)
			snprintf(s->rcpt[n++], sizeof s->rcpt[0], "%s", swaps[k].rcpt);
	for (size_t k = 0; n == 0 && k < nrcpt_pat; k++)
		fill(rcpt_pat[k], i, s->rcpt[k], sizeof s->rcpt[0]);
	n = n ? n : nrcpt_pat;
	if (!s->rcpts && !(s->rcpts = calloc(MAX_RCPTS + nextra, sizeof *s->rcpts)))
		abort();
	for (size_t k = 0; k < n; k++)
		s->rcpts[k] = s->rcpt[k];
	for (size_t k = 0; k < nextra; k++)
		s->rcpts[n++] = extra[k];
	snprintf(s->body, sizeof s->body, "Subject: %s %d\r\n\r\nmessage %d of %s\r\n",
		 token, i, i, token);
	s->m = (struct smtp_message){.from = s->from, .rcpts = s->rcpts, .nrcpts = n,
				     .size = strlen(s->body), .write = write_body, .ctx = s};
	return &s->m;
}

static void print(int rc, const struct slot *s, const struct smtp_result *r, const struct error *e)
{
	printf("%d %d %d %d %d %d %s %s %s\n", s->i, rc, rc ? err_exit_code(e->cls) : 0,
	       r->delivered, r->maybe_delivered, r->session_lost,
	       r->queue_id[0] ? r->queue_id : "-", r->final_code ? r->final_reply : "-",
	       rc ? e->text : "-");
	fflush(stdout);
}

static int usage(void)
{
	fprintf(stderr, "usage: window_drive [-v] [-t none|starttls|implicit] [-c CAFILE] [-u USER] "
		"[-n N] [-f FROM] [-r RCPT]... [-x K:RCPT]... [-e E] [-T TOKEN] HOST PORT\n");
	return 2;
}

static int parse(int argc, char **argv, struct smtp_params *p, struct conn_params *cp,
		 struct smtp_hooks *h, int *n)
{
	int c;

	while ((c = getopt(argc, argv, "vt:c:u:n:f:r:x:e:T:")) != -1) {
		char *colon;

		switch (c) {
		case 'v': h->trace = on_trace; break;
		case 't': p->tls = !strcmp(optarg, "none") ? TLS_NONE : !strcmp(optarg, "implicit") ?
			       TLS_IMPLICIT : TLS_STARTTLS; break;
		case 'c': cp->ca_file = optarg; break;
		case 'u': p->user = optarg; break;
		case 'n': *n = atoi(optarg); break;
		case 'f': from_pat = optarg; break;
		case 'r': if (nrcpt_pat == MAX_RCPTS) return usage();
			  rcpt_pat[nrcpt_pat++] = optarg; break;
		case 'x': if (nswaps == MAX_SWAPS || !(colon = strchr(optarg, ':'))) return usage();
			  swaps[nswaps].k = atoi(optarg);
			  swaps[nswaps++].rcpt = colon + 1; break;
		case 'e': nextra = (size_t)atoi(optarg); break;
		case 'T': token = optarg; break;
		default: return usage();
		}
	}
	if (argc - optind != 2)
		return usage();
	if (!nrcpt_pat)
		rcpt_pat[nrcpt_pat++] = "rcpt-%d@example.com";
	if (nextra && !(extra = calloc(nextra, sizeof *extra)))
		return 2;
	for (size_t k = 0; k < nextra; k++)
		snprintf(extra[k], sizeof extra[k], "reject-%zu@example.com", k);
	cp->host = p->host = argv[optind];
	cp->port = p->port = (unsigned)atoi(argv[optind + 1]);
	return 0;
}

int main(int argc, char **argv)
{
	static struct conn_params cp = {.timeout = 30};
	struct smtp_params p = {.transport = &conn_transport_ops, .transport_ctx = &cp,
				.tls = TLS_STARTTLS, .helo = "client.example", .timeout = 30};
	struct smtp_hooks hooks = {0};
	struct smtp_info info = {0};
	struct error err = {0};
	struct smtp *x;
	int n = 10, next = 0, done = 0, bad = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (parse(argc, argv, &p, &cp, &hooks, &n) != 0)
		return 2;
	if (smtp_open(&x, &p, getenv("WINDOW_PASSWORD"), build(0), &hooks, &info, &err) < 0) {
		fprintf(stderr, "window_drive: %s (%s)\n", err.text, err.reply);
		return 2;
	}
	while (done < n) {
		struct smtp_result r = {0};
		void *tag;
		int rc;

		while (next < n && smtp_can_submit(x))
			if (smtp_submit(x, build(next), &ring[next % RING], &err) == 0)
				next++;
		if (!smtp_pending(x))
			break;
		rc = smtp_collect(x, &tag, &r, &err);
		print(rc, tag, &r, &err);
		bad += rc != 0;
		done++;
		smtp_result_free(&r);
	}
	if (done < n)
		printf("pending-at-end %d\n", n - done);
	smtp_quit(x);
	smtp_info_free(&info);
	return done < n ? 2 : bad ? 1 : 0;
}
