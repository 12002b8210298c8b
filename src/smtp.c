/* smtp.c - the SMTP engine's session (RFC 5321, 3207): connect, greeting,
 * EHLO, STARTTLS, then AUTH (smtp_auth.c); RSET between transactions
 * (smtp_transact.c); QUIT or abort. What the server offers is per
 * connection and is forgotten when TLS starts. */
#include "smtp_int.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse.h"
#include "sasl.h"

/* How long a silent server may take to greet before envoi checks whether
 * it is waiting for a TLS handshake instead (implicit TLS port): 3 s, or
 * half the timeout when that is shorter. */
#define GREETING_PROBE_MS 3000

static int probe_after_ms(const struct smtp_params *p)
{
	return p->timeout * 500u < GREETING_PROBE_MS ? (int)(p->timeout * 500u) : GREETING_PROBE_MS;
}

static bool implicit_tls(const struct smtp_params *p)
{
	return p->tls == TLS_IMPLICIT || (p->tls == TLS_AUTO && p->port == 465);
}

/* STARTTLS is required in starttls mode, and in auto mode except towards
 * a server reached straight at a loopback address, where it is only used
 * when offered. */
static bool starttls_required(const struct smtp *x)
{
	return x->p->tls == TLS_STARTTLS || (x->p->tls == TLS_AUTO && !x->t->ops->is_loopback(x->t));
}

/* This host's name for EHLO: the FQDN when the resolver knows it (and
 * answers within the timeout: this lookup is a step too). */
static void default_helo(char *buf, size_t size, unsigned timeout)
{
	struct addrinfo hints = {.ai_flags = AI_CANONNAME}, *ai = NULL;
	struct error ignored;
	char host[256];

	snprintf(buf, size, "localhost");
	if (gethostname(host, sizeof host) != 0)
		return;
	host[sizeof host - 1] = '\0';
	if (conn_getaddrinfo(host, &hints, &ai, timeout) == 0 && ai && ai->ai_canonname &&
	    strchr(ai->ai_canonname, '.') && parse_helo(ai->ai_canonname, &ignored) == 0)
		snprintf(buf, size, "%s", ai->ai_canonname);
	else if (parse_helo(host, &ignored) == 0)
		snprintf(buf, size, "%s", host);
	if (ai)
		freeaddrinfo(ai);
}

static int judge_greeting(struct smtp *x, struct error *err)
{
	if (x->reply.code == 220)
		return 0;
	if (x->reply.code / 100 == 4)
		return smtp_fail(x, err, ERR_TEMPFAIL, "%s refuses service for now", smtp_peer(x));
	if (x->reply.code / 100 == 5)
		return smtp_fail(x, err, ERR_UNAVAILABLE, "%s refuses service", smtp_peer(x));
	return smtp_fail(x, err, ERR_PROTOCOL, "unexpected greeting from %s", smtp_peer(x));
}

/* A plaintext client on an implicit-TLS port hears nothing: the server
 * waits for a ClientHello. After a short silence envoi offers one, and
 * only a TLS record in answer proves the mismatch. Anything else (a late
 * greeting, a 500 to the binary line, silence, a closed connection) means
 * a slow plaintext server that has now seen garbage: the caller drops
 * this connection, sends nothing more on it, and waits on a fresh one for
 * the greeting as long as --timeout says. */
static int probe_silence(struct smtp *x, bool *reconnect, struct error *err)
{
	struct error e = {0};

	*reconnect = false;
	smtp_note(x, "no greeting after %.1f s: checking whether the port expects TLS",
		  probe_after_ms(x->p) / 1000.0);
	if (x->t->ops->probe_tls(x->t, &e) == 0 || x->t->ops->tls_answered(x->t)) {
		err_set(err, ERR_TLS_MISMATCH,
			"%s answers with TLS, not an SMTP greeting: the port expects implicit TLS",
			smtp_peer(x));
		err_hint(err, "use --tls=implicit%s", x->p->port == 587 ? " (or port 587 with STARTTLS)" : "");
		return -1;
	}
	smtp_note(x, "no TLS answer (%s): reconnecting to wait for the greeting", e.text);
	*reconnect = true;
	return 0;
}

/* One connection attempt up to the greeting's arrival; *reconnect when
 * the silence probe spoilt it. */
static int connect_once(struct smtp *x, bool may_probe, bool *reconnect, struct error *err)
{
	*reconnect = false;
	smtp_set_state(x, S_CONNECT);
	if (x->p->transport->open(x->p->transport_ctx, &x->t, err) < 0)
		return -1;
	snprintf(x->info->peer, sizeof x->info->peer, "%s", smtp_peer(x));
	smtp_note(x, "connected to %s", smtp_peer(x));
	x->owed = x->expect_head = 0;
	x->broken = x->server_waits = false;
	if (smtp_expect(x, S_GREETING, 0, err) < 0)
		return -1;
	if (implicit_tls(x->p)) {
		smtp_set_state(x, S_TLS);
		if (x->t->ops->start_tls(x->t, err) < 0)
			return -1;
	}
	smtp_set_state(x, S_GREETING);
	if (may_probe) {
		int ready = x->t->ops->wait_readable(x->t, probe_after_ms(x->p), err);

		if (ready < 0 || (ready == 0 && probe_silence(x, reconnect, err) < 0))
			return -1;
	}
	return 0;
}

static int connect_and_greet(struct smtp *x, struct error *err)
{
	bool may_probe = !implicit_tls(x->p), reconnect;
	struct expect e;

	for (;;) {
		if (connect_once(x, may_probe, &reconnect, err) < 0)
			return -1;
		if (!reconnect)
			break;
		x->t->ops->close(x->t);
		x->t = NULL;
		may_probe = false;
	}
	if (smtp_read_reply(x, &e, err) < 0)
		return -1;
	return judge_greeting(x, err);
}

static void record_caps(struct smtp *x)
{
	caps_parse(&x->caps, x->reply.text);
	free(x->info->capabilities);
	x->info->capabilities = strdup(x->reply.text);
	x->info->size_limit = x->caps.size;
}

/* EHLO, or HELO when the server refuses EHLO (then no extensions). */
static int ehlo(struct smtp *x, struct error *err)
{
	struct expect e;

	smtp_set_state(x, S_EHLO);
	if (smtp_queue_cmd(x, err, "EHLO %s", x->helo) < 0 || smtp_flush(x, err) < 0 ||
	    smtp_read_reply(x, &e, err) < 0)
		return -1;
	if (x->reply.code == 250) {
		record_caps(x);
		return 0;
	}
	if (x->reply.code / 100 != 5)
		return smtp_fail(x, err, x->reply.code / 100 == 4 ? ERR_TEMPFAIL : ERR_PROTOCOL,
				 "EHLO %s was not accepted", x->helo);
	smtp_note(x, "EHLO refused; falling back to HELO (no extensions)");
	smtp_set_state(x, S_HELO);
	if (smtp_queue_cmd(x, err, "HELO %s", x->helo) < 0 || smtp_flush(x, err) < 0 ||
	    smtp_read_reply(x, &e, err) < 0)
		return -1;
	if (x->reply.code != 250)
		return smtp_fail(x, err, x->reply.code / 100 == 4 ? ERR_TEMPFAIL : ERR_PROTOCOL,
				 "the server refused both EHLO and HELO");
	memset(&x->caps, 0, sizeof x->caps);
	return 0;
}

/* Whether to go on without STARTTLS; -1 when that is not allowed. */
static int without_starttls(struct smtp *x, struct error *err)
{
	if (!starttls_required(x)) {
		smtp_note(x, "loopback server without STARTTLS: going on in plaintext");
		return 0;
	}
	err_set(err, ERR_STARTTLS, x->caps.esmtp ?
		"%s does not offer STARTTLS, and envoi will not send in plaintext" :
		"%s refused EHLO, so STARTTLS is impossible, and envoi will not send in plaintext",
		smtp_peer(x));
	err_hint(err, x->p->port == 25 ? "use a submission port (587 or 465)" :
		 "use --tls=implicit if the port expects TLS from the start, or --tls=none to send in clear");
	return -1;
}

static int starttls(struct smtp *x, struct error *err)
{
	struct expect e;

	if (implicit_tls(x->p) || x->p->tls == TLS_NONE)
		return 0;
	if (!x->caps.starttls)
		return without_starttls(x, err);
	smtp_set_state(x, S_STARTTLS);
	if (smtp_queue_cmd(x, err, "STARTTLS") < 0 || smtp_flush(x, err) < 0 ||
	    smtp_read_reply(x, &e, err) < 0)
		return -1;
	if (x->reply.code != 220) {
		/* After a 2xx or 3xx the server may be waiting for a handshake. */
		x->broken = x->reply.code / 100 == 2 || x->reply.code / 100 == 3;
		return smtp_fail(x, err, x->broken ? ERR_PROTOCOL : ERR_STARTTLS, "the server refused STARTTLS");
	}
	/* From here until the handshake succeeds nothing more may be said. */
	x->broken = true;
	/* RFC 3207 5: anything the server sent after its 220 and before the
	 * handshake was injected by someone in the middle. */
	if (x->t->ops->pending(x->t) > 0)
		return err_set(err, ERR_PROTOCOL,
			       "%s sent %zu bytes after its STARTTLS reply, before the TLS handshake: "
			       "possible injection attack", smtp_peer(x), x->t->ops->pending(x->t));
	smtp_set_state(x, S_TLS);
	if (x->t->ops->start_tls(x->t, err) < 0)
		return -1;
	x->broken = false;
	/* Capabilities learnt in plaintext cannot be trusted: ask again. */
	memset(&x->caps, 0, sizeof x->caps);
	return ehlo(x, err);
}

static void record_tls(struct smtp *x)
{
	struct smtp_info *in = x->info;

	in->tls = x->t->ops->is_tls(x->t);
	if (in->tls) {
		in->tls_info = *x->t->ops->tls_info(x->t);
		smtp_note(x, "TLS: %s, %s%s", in->tls_info.version, in->tls_info.cipher,
			  in->tls_info.verified ? ", certificate verified" : ", certificate NOT verified");
	}
}

static struct smtp *smtp_new(const struct smtp_params *p, const struct smtp_hooks *hooks,
			     struct smtp_info *info)
{
	struct smtp *x = calloc(1, sizeof *x);

	if (!x)
		return NULL;
	x->p = p;
	x->hooks = hooks;
	x->info = info;
	reply_init(&x->reply);
	if (p->helo)
		snprintf(x->helo, sizeof x->helo, "%s", p->helo);
	else
		default_helo(x->helo, sizeof x->helo, p->timeout);
	return x;
}

int smtp_open(struct smtp **out, const struct smtp_params *p, const char *password,
	      const struct smtp_message *first, const struct smtp_hooks *hooks,
	      struct smtp_info *info, struct error *err)
{
	struct smtp *x;

	*out = NULL;
	smtp_info_free(info);
	if (password && sasl_check_secret(password, err) < 0)
		return -1;
	if (!(x = smtp_new(p, hooks, info)))
		return err_set(err, ERR_OSERR, "out of memory");
	if (connect_and_greet(x, err) < 0 || ehlo(x, err) < 0 || starttls(x, err) < 0) {
		smtp_quit(x);
		return -1;
	}
	record_tls(x);
	if ((first && smtp_check_message(x, first, err) < 0) ||
	    smtp_authenticate(x, password, first != NULL, err) < 0) {
		smtp_quit(x);
		return -1;
	}
	smtp_set_state(x, S_READY);
	*out = x;
	return 0;
}

bool smtp_in_step(const struct smtp *x)
{
	return x->t && !x->broken && !x->ended_set && x->owed == 0 && !x->server_waits;
}

int smtp_reset(struct smtp *x, struct error *err)
{
	struct expect e;

	if (!smtp_in_step(x))
		return err_set(err, ERR_SOFTWARE, "RSET while the dialogue is out of step");
	smtp_set_state(x, S_RSET);
	if (smtp_queue_cmd(x, err, "RSET") < 0 || smtp_flush(x, err) < 0 ||
	    smtp_read_reply(x, &e, err) < 0)
		return -1;
	if (x->reply.code != 250) {
		x->broken = true; /* a server that cannot reset cannot be trusted with more */
		return smtp_fail(x, err, x->reply.code / 100 == 4 ? ERR_TEMPFAIL : ERR_PROTOCOL,
				 "the server refused RSET");
	}
	x->in_transaction = false;
	smtp_set_state(x, S_READY);
	return 0;
}

static void smtp_free(struct smtp *x)
{
	sasl_end(x->auth_pending);
	smtp_window_free(x->window);
	if (x->t)
		x->t->ops->close(x->t);
	reply_free(&x->reply);
	free(x);
}

void smtp_quit(struct smtp *x)
{
	if (!x)
		return;
	if (smtp_in_step(x)) {
		struct error ignored;

		smtp_set_state(x, S_QUIT);
		if (smtp_queue_line(x, "QUIT", NULL, S_IDLE, &ignored) == 0)
			x->t->ops->flush(x->t, &ignored);
	}
	smtp_set_state(x, S_CLOSED);
	smtp_free(x);
}

void smtp_abort(struct smtp *x)
{
	if (!x)
		return;
	smtp_set_state(x, S_CLOSED);
	smtp_free(x);
}

int smtp_send(const struct smtp_params *p, const struct smtp_message *m, const char *password,
	      const struct smtp_hooks *hooks, struct smtp_info *info, struct smtp_result *r,
	      struct error *err)
{
	struct smtp *x;
	int rc;

	smtp_result_free(r);
	if (smtp_open(&x, p, password, m, hooks, info, err) < 0)
		return smtp_result_unsent(r, m, err);
	rc = smtp_transact(x, m, r, err);
	smtp_quit(x);
	return rc;
}

int smtp_probe(const struct smtp_params *p, const char *password, const struct smtp_hooks *hooks,
	       struct smtp_info *info, struct error *err)
{
	struct smtp *x;

	if (smtp_open(&x, p, password, NULL, hooks, info, err) < 0)
		return -1;
	smtp_quit(x);
	return 0;
}

void smtp_info_free(struct smtp_info *info)
{
	free(info->capabilities);
	memset(info, 0, sizeof *info);
}
