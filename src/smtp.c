/* smtp.c - the SMTP engine (RFC 5321, 3207, 4954, 2920, 3030, 6531, 3461).
 *
 * One session walks these states in order; each command is a pair of
 * functions, one that sends it and one that judges the reply. Replies are
 * read through one function, which keeps the transcript and knows when to
 * redact. What the server offers is per connection and is forgotten when
 * TLS starts; what happened to the message is in struct smtp_result.
 */
#include "smtp.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "caps.h"
#include "dotstuff.h"
#include "mime.h"
#include "parse.h"
#include "queueid.h"
#include "reply.h"
#include "sasl.h"

enum state {
	S_CONNECT, S_GREETING, S_EHLO, S_STARTTLS, S_TLS, S_AUTH, S_MAIL, S_RCPT, S_DATA,
	S_CONTENT, S_END_OF_DATA, S_QUIT, S_STATE_COUNT
};

static const char *const state_names[S_STATE_COUNT] = {
	[S_CONNECT] = "connect", [S_GREETING] = "the greeting", [S_EHLO] = "EHLO",
	[S_STARTTLS] = "STARTTLS", [S_TLS] = "the TLS handshake", [S_AUTH] = "AUTH",
	[S_MAIL] = "MAIL FROM", [S_RCPT] = "RCPT TO", [S_DATA] = "DATA",
	[S_CONTENT] = "the message data", [S_END_OF_DATA] = "the end of the data", [S_QUIT] = "QUIT",
};

struct smtp {
	const struct session *s;
	struct conn_params cp;  /* the transport's share of s */
	struct message *m;
	const struct smtp_hooks *hooks;
	struct smtp_result *r;
	struct error *err;
	struct conn *c;
	struct reply reply;
	enum state state;
	struct caps caps;
	bool redact;        /* replies are AUTH payloads */
	char helo[256];
	/* AUTH sent in the envelope's group, its reply not yet read */
	struct sasl *auth_pending;
	bool auth_failed;   /* then auth_err says why */
	struct error auth_err;
	/* QUIT ends every session that reached the greeting (RFC 5321
	 * 4.1.1.10), but only while the dialogue is known to be in step:
	 * every reply owed has been read, the server expects a command, and
	 * nothing failed half-way. Else the connection is just dropped. */
	unsigned owed;      /* replies not yet read; the greeting counts */
	bool server_waits;  /* it expects message data or a SASL response */
	bool broken;        /* a read, a write or a TLS handshake failed */
	const char *last_text;  /* the recipient reply stored last */
	size_t distinct_2xx;    /* 2xx texts stored */
};

/* Messages up to this size go in the same write as the envelope when the
 * server pipelines (BDAT); bigger ones wait for the envelope's replies, so
 * that nothing large is sent to recipients that were refused. */
#define PIPELINE_DATA_MAX (256u * 1024)
/* How long a silent server may take to greet before envoi checks whether
 * it is waiting for a TLS handshake instead (implicit TLS port): 3 s, or
 * half the timeout when that is shorter. */
#define GREETING_PROBE_MS 3000

static int probe_after_ms(const struct session *s)
{
	return s->timeout * 500u < GREETING_PROBE_MS ? (int)(s->timeout * 500u) : GREETING_PROBE_MS;
}

/* ---- transcript, commands, replies ---------------------------------- */

static void trace(struct smtp *x, enum smtp_dir dir, const char *line, size_t len)
{
	if (x->hooks && x->hooks->trace)
		x->hooks->trace(x->hooks->ctx, dir, line, len);
}

static void note(struct smtp *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct smtp *x, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0)
		trace(x, SMTP_NOTE, buf, strnlen(buf, sizeof buf));
}

/* Queues one command line; shown in the transcript as shown_as, or as
 * itself when shown_as is NULL. Nothing is sent before smtp_flush. */
static int queue_line(struct smtp *x, const char *line, const char *shown_as)
{
	trace(x, SMTP_SENT, shown_as ? shown_as : line, strlen(shown_as ? shown_as : line));
	if (conn_write(x->c, line, strlen(line), x->err) < 0 ||
	    conn_write(x->c, "\r\n", 2, x->err) < 0) {
		x->broken = true;
		return -1;
	}
	x->owed++;
	return 0;
}

static int queue_cmd(struct smtp *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int queue_cmd(struct smtp *x, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line)
		return err_set(x->err, ERR_SOFTWARE, "SMTP command too long");
	return queue_line(x, line, NULL);
}

static int flush(struct smtp *x)
{
	if (conn_flush(x->c, x->err) == 0)
		return 0;
	x->broken = true;
	return -1;
}

/* Fills err with the current reply attached: the server's own words. */
static int fail_reply(struct smtp *x, enum err_class cls, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_reply(struct smtp *x, enum err_class cls, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->err->text, sizeof x->err->text, fmt, ap);
	va_end(ap);
	x->err->cls = cls;
	x->err->hint[0] = '\0';
	reply_oneline(&x->reply, line, sizeof line);
	err_reply(x->err, line, strlen(line));
	return -1;
}

/* A reply that never came: say what was awaited. When it was the reply
 * to the end of the data, the server may have taken the message: the
 * caller must know before sending it again. */
static int lost_reply(struct smtp *x)
{
	size_t n = strlen(x->err->text);

	if (x->state == S_GREETING)
		snprintf(x->err->text + n, sizeof x->err->text - n, "; no greeting came");
	else
		snprintf(x->err->text + n, sizeof x->err->text - n, "; no reply to %s came",
			 state_names[x->state]);
	if (x->state == S_END_OF_DATA)
		err_hint(x->err, "the server may have taken the message all the same: check before "
			 "sending it again");
	return -1;
}

/* Reads one complete reply into x->reply. A 421 at any point means the
 * server is going away: a temporary failure whatever was asked. A reply
 * cut short or malformed leaves the dialogue out of step. */
static int read_reply(struct smtp *x)
{
	reply_reset(&x->reply);
	x->broken = true;
	conn_start_step(x->c);  /* the whole reply within one timeout, not each line */
	do {
		const char *line;
		size_t len;

		if (conn_read_line(x->c, &line, &len, x->err) < 0)
			return lost_reply(x);
		if (x->redact && len > 4 && strncmp(line, "334 ", 4) == 0)
			trace(x, SMTP_RECEIVED, "334 <redacted>", 14);
		else
			trace(x, SMTP_RECEIVED, line, len);
		if (reply_feed(&x->reply, line, len, x->err) < 0)
			return -1;
	} while (!x->reply.done);
	if (x->reply.code == 421)
		return fail_reply(x, ERR_TEMPFAIL, "the server is closing the connection");
	x->broken = false;
	if (x->owed)
		x->owed--;
	return 0;
}

/* ---- connection, greeting, EHLO ------------------------------------- */

static bool implicit_tls(const struct session *s)
{
	return s->tls == TLS_IMPLICIT || (s->tls == TLS_AUTO && s->port == 465);
}

/* STARTTLS is required in starttls mode, and in auto mode except towards
 * a server reached straight at a loopback address, where it is only used
 * when offered. */
static bool starttls_required(const struct smtp *x)
{
	return x->s->tls == TLS_STARTTLS || (x->s->tls == TLS_AUTO && !conn_is_loopback(x->c));
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

static int judge_greeting(struct smtp *x)
{
	if (x->reply.code == 220)
		return 0;
	if (x->reply.code / 100 == 4)
		return fail_reply(x, ERR_TEMPFAIL, "%s refuses service for now", conn_peer(x->c));
	if (x->reply.code / 100 == 5)
		return fail_reply(x, ERR_UNAVAILABLE, "%s refuses service", conn_peer(x->c));
	return fail_reply(x, ERR_PROTOCOL, "unexpected greeting from %s", conn_peer(x->c));
}

/* A plaintext client on an implicit-TLS port hears nothing: the server
 * waits for a ClientHello. After a short silence envoi offers one, and
 * only a TLS record in answer proves the mismatch. Anything else (a late
 * greeting, a 500 to the binary line, silence, a closed connection) means
 * a slow plaintext server that has now seen garbage: the caller drops
 * this connection, sends nothing more on it, and waits on a fresh one for
 * the greeting as long as --timeout says. */
static int probe_silence(struct smtp *x, bool *reconnect)
{
	struct conn_params probe = x->cp;
	struct error e = {0};

	*reconnect = false;
	probe.insecure = true;
	probe.have_fingerprint = false;
	/* A TLS port answers a ClientHello at once: half the timeout, at
	 * most 5 s, is plenty, and bounds what the check adds to a run. */
	probe.timeout = (x->s->timeout + 1) / 2 < 5 ? (x->s->timeout + 1) / 2 : 5;
	note(x, "no greeting after %.1f s: checking whether the port expects TLS",
	     probe_after_ms(x->s) / 1000.0);
	if (conn_start_tls(x->c, &probe, &e) == 0 || conn_tls_answered(x->c)) {
		err_set(x->err, ERR_TLS_MISMATCH,
			"%s answers with TLS, not an SMTP greeting: the port expects implicit TLS",
			conn_peer(x->c));
		err_hint(x->err, "use --tls=implicit%s", x->s->port == 587 ? " (or port 587 with STARTTLS)" : "");
		return -1;
	}
	note(x, "no TLS answer (%s): reconnecting to wait for the greeting", e.text);
	*reconnect = true;
	return 0;
}

static int connect_and_greet(struct smtp *x)
{
	bool may_probe = !implicit_tls(x->s), reconnect = false;

	for (;;) {
		reconnect = false;
		x->state = S_CONNECT;
		if (conn_open(&x->c, &x->cp, x->err) < 0)
			return -1;
		snprintf(x->r->peer, sizeof x->r->peer, "%s", conn_peer(x->c));
		note(x, "connected to %s", conn_peer(x->c));
		x->owed = 1;
		x->broken = x->server_waits = false;
		if (implicit_tls(x->s)) {
			x->state = S_TLS;
			if (conn_start_tls(x->c, &x->cp, x->err) < 0)
				return -1;
		}
		x->state = S_GREETING;
		if (may_probe) {
			int ready = conn_wait_readable(x->c, probe_after_ms(x->s), x->err);

			if (ready < 0)
				return -1;
			if (ready == 0 && probe_silence(x, &reconnect) < 0)
				return -1;
		}
		if (!reconnect)
			break;
		conn_close(x->c);
		x->c = NULL;
		may_probe = false;
	}
	if (read_reply(x) < 0)
		return -1;
	return judge_greeting(x);
}

/* EHLO, or HELO when the server refuses EHLO (then no extensions). */
static int ehlo(struct smtp *x)
{
	x->state = S_EHLO;
	if (queue_cmd(x, "EHLO %s", x->helo) < 0 || flush(x) < 0 || read_reply(x) < 0)
		return -1;
	if (x->reply.code == 250) {
		caps_parse(&x->caps, x->reply.text);
		free(x->r->capabilities);
		x->r->capabilities = strdup(x->reply.text);
		x->r->size_limit = x->caps.size;
		return 0;
	}
	if (x->reply.code / 100 != 5)
		return fail_reply(x, x->reply.code / 100 == 4 ? ERR_TEMPFAIL : ERR_PROTOCOL,
				  "EHLO %s was not accepted", x->helo);
	note(x, "EHLO refused; falling back to HELO (no extensions)");
	if (queue_cmd(x, "HELO %s", x->helo) < 0 || flush(x) < 0 || read_reply(x) < 0)
		return -1;
	if (x->reply.code != 250)
		return fail_reply(x, x->reply.code / 100 == 4 ? ERR_TEMPFAIL : ERR_PROTOCOL,
				  "the server refused both EHLO and HELO");
	memset(&x->caps, 0, sizeof x->caps);
	return 0;
}

/* ---- STARTTLS and AUTH ---------------------------------------------- */

static int starttls(struct smtp *x)
{
	if (implicit_tls(x->s) || x->s->tls == TLS_NONE)
		return 0;
	if (!x->caps.starttls) {
		if (!starttls_required(x)) {
			note(x, "loopback server without STARTTLS: going on in plaintext");
			return 0;
		}
		err_set(x->err, ERR_STARTTLS, x->caps.esmtp ?
			"%s does not offer STARTTLS, and envoi will not send in plaintext" :
			"%s refused EHLO, so STARTTLS is impossible, and envoi will not send in plaintext",
			conn_peer(x->c));
		err_hint(x->err, x->s->port == 25 ? "use a submission port (587 or 465)" :
			 "use --tls=implicit if the port expects TLS from the start, or --tls=none to send in clear");
		return -1;
	}
	x->state = S_STARTTLS;
	if (queue_cmd(x, "STARTTLS") < 0 || flush(x) < 0 || read_reply(x) < 0)
		return -1;
	if (x->reply.code != 220) {
		/* After a 2xx or 3xx the server may be waiting for a handshake. */
		x->broken = x->reply.code / 100 == 2 || x->reply.code / 100 == 3;
		return fail_reply(x, x->broken ? ERR_PROTOCOL : ERR_STARTTLS, "the server refused STARTTLS");
	}
	/* From here until the handshake succeeds nothing more may be said. */
	x->broken = true;
	/* RFC 3207 5: anything the server sent after its 220 and before the
	 * handshake was injected by someone in the middle. */
	if (conn_pending(x->c) > 0)
		return err_set(x->err, ERR_PROTOCOL,
			       "%s sent %zu bytes after its STARTTLS reply, before the TLS handshake: "
			       "possible injection attack", conn_peer(x->c), conn_pending(x->c));
	x->state = S_TLS;
	if (conn_start_tls(x->c, &x->cp, x->err) < 0)
		return -1;
	x->broken = false;
	/* Capabilities learnt in plaintext cannot be trusted: ask again. */
	memset(&x->caps, 0, sizeof x->caps);
	return ehlo(x);
}

static void record_tls(struct smtp *x)
{
	x->r->tls = conn_is_tls(x->c);
	if (x->r->tls) {
		x->r->tls_info = *conn_tls_info(x->c);
		note(x, "TLS: %s, %s%s", x->r->tls_info.version, x->r->tls_info.cipher,
		     x->r->tls_info.verified ? ", certificate verified" : ", certificate NOT verified");
	}
}

/* Credentials go only over TLS with a verified certificate (or a matched
 * pin), unless the user said --tls=none or --insecure. */
static int check_safe_for_credentials(struct smtp *x)
{
	bool tls = conn_is_tls(x->c);

	if ((tls && conn_tls_info(x->c)->verified) || x->s->insecure || x->s->tls == TLS_NONE)
		return 0;
	err_set(x->err, ERR_STARTTLS, "envoi will not send the password for %s over %s",
		x->s->user, tls ? "a TLS connection with an unverified certificate" : "an unencrypted connection");
	err_hint(x->err, tls ? "use --ca-file or --fingerprint to trust this server" :
		 "the server offers no STARTTLS; --tls=none sends the password in clear");
	return -1;
}

static int judge_auth(struct smtp *x, struct sasl *sa)
{
	int code = x->reply.code;

	if (code == 235 && !sasl_finished(sa))
		return fail_reply(x, ERR_AUTH_FAILED, "the server accepted the login without proving it "
				  "knows the password (possible impostor)");
	if (code == 235)
		return 0;
	if (code / 100 == 4)
		return fail_reply(x, ERR_TEMPFAIL, "authentication is unavailable for now");
	if (code == 504 || code == 534 || code == 538)
		return fail_reply(x, ERR_AUTH_IMPOSSIBLE, "the server refused the %s mechanism", x->r->mech);
	fail_reply(x, ERR_AUTH_FAILED, "the server rejected the user name or password for %s", x->s->user);
	if (strstr(x->s->host, "gmail") || strstr(x->s->host, "google") ||
	    strstr(x->s->host, "office365") || strstr(x->s->host, "outlook") || strstr(x->s->host, "yahoo"))
		err_hint(x->err, "this provider needs an app password (or an OAuth2 token with --auth=XOAUTH2)");
	return -1;
}

/* The longest AUTH line sent with its initial response, CRLF included.
 * RFC 4954 4 allows 12288 octets, but many servers keep RFC 5321's
 * limits on command lines; a longer response (an OAuth2 token of a few
 * KB) goes alone after the server's empty 334, which any length fits. */
#define AUTH_LINE_MAX 1000

static bool auth_inline(const struct smtp *x, const char *initial)
{
	return initial && strlen("AUTH ") + strlen(x->r->mech) + 1 + strlen(initial) + 2 <= AUTH_LINE_MAX;
}

/* Queues "AUTH MECH [initial response]", shown redacted; initial is
 * NULL or fits (auth_inline). */
static int auth_send(struct smtp *x, const char *initial)
{
	char shown[64], line[AUTH_LINE_MAX];
	int rc;

	snprintf(shown, sizeof shown, "AUTH %s%s", x->r->mech, initial ? " <redacted>" : "");
	if ((size_t)snprintf(line, sizeof line, "AUTH %s%s%s", x->r->mech, initial ? " " : "",
			     initial ? initial : "") >= sizeof line)
		return err_set(x->err, ERR_SOFTWARE, "AUTH line longer than planned");
	rc = queue_line(x, line, shown);
	explicit_bzero(line, sizeof line);
	return rc;
}

/* Reads the replies to AUTH: 334 challenges are answered until 235 or a
 * failure. held, when not NULL, is an initial response too long for the
 * AUTH line: it answers the first 334 (RFC 4954 4). Whatever happens,
 * the caller may now forget the password. */
static int auth_replies(struct smtp *x, struct sasl *sa, const char *held)
{
	int rc;

	x->state = S_AUTH;
	x->redact = true;
	while ((rc = read_reply(x)) == 0 && x->reply.code == 334) {
		char *response = NULL;

		x->server_waits = true;
		if (held)
			rc = queue_line(x, held, "<redacted>");
		else if ((rc = sasl_step(sa, x->reply.text, &response, x->err)) == 0)
			rc = queue_line(x, response, "<redacted>");
		if (rc == 0)
			x->server_waits = false;
		held = NULL;
		sasl_free_response(response);
		if (rc < 0 || (rc = flush(x)) < 0)
			break;
	}
	x->redact = false;
	if (x->hooks && x->hooks->credentials_used)
		x->hooks->credentials_used(x->hooks->ctx);
	return rc < 0 ? -1 : judge_auth(x, sa);
}

/* RFC 4954 4: AUTH must end a pipelined group, except when its initial
 * response finishes the exchange in one round trip with no security
 * layer, as PLAIN does. Then MAIL, RCPT and the data may follow it in
 * the same write, which saves a round trip. */
static bool auth_can_pipeline(const struct smtp *x, const char *initial, bool may_defer)
{
	return may_defer && x->caps.pipelining && initial && strcmp(x->r->mech, "PLAIN") == 0;
}

/* The reply to an AUTH sent with the envelope, read before the
 * envelope's own replies. A failure is kept aside: the replies that
 * follow must still be read, and they say whether the server took the
 * message anyway. */
static int finish_pending_auth(struct smtp *x)
{
	struct sasl *sa = x->auth_pending;
	int rc;

	if (!sa)
		return 0;
	x->auth_pending = NULL;
	rc = auth_replies(x, sa, NULL);
	sasl_end(sa);
	if (rc < 0 && x->err->reply[0] == '\0' && x->err->cls != ERR_AUTH_FAILED &&
	    x->err->cls != ERR_AUTH_IMPOSSIBLE)
		return -1; /* the session broke */
	if (rc < 0) {
		x->auth_failed = true;
		x->auth_err = *x->err;
	}
	return 0;
}

/* Logs in when a user is set. With may_defer, an AUTH that may be
 * pipelined (see auth_can_pipeline) is only queued, and the envelope
 * reads its reply. */
static int authenticate(struct smtp *x, const char *password, bool may_defer)
{
	struct sasl_params p = {0};
	struct sasl *sa = NULL;
	const char *mech = NULL;
	char *initial = NULL, *cb = NULL;
	bool inline_ok = false;
	int rc;

	if (!x->s->user)
		return 0;
	x->state = S_AUTH;
	if (check_safe_for_credentials(x) < 0)
		return -1;
	if (!x->caps.auth) {
		err_set(x->err, ERR_AUTH_IMPOSSIBLE, "%s offers no authentication: its EHLO reply has no AUTH",
			conn_peer(x->c));
		err_hint(x->err, "leave out --user if this server relays without a login");
		return -1;
	}
	p.user = x->s->user;
	p.password = password ? password : "";
	p.forced_mech = x->s->auth_mech;
	p.server_mechs = x->caps.mechs;
	p.host = x->s->host;
	p.port = x->s->port;
	if (conn_is_tls(x->c) && (cb = conn_channel_binding(x->c, &p.cb_type)))
		p.cb_data = cb;
	p.encrypted = conn_is_tls(x->c) && conn_tls_info(x->c)->verified;
	rc = sasl_start(&sa, &p, &mech, &initial, x->err);
	if (rc == 0) {
		snprintf(x->r->mech, sizeof x->r->mech, "%s", mech);
		inline_ok = auth_inline(x, initial);
		rc = auth_send(x, inline_ok ? initial : NULL);
	}
	if (rc == 0 && inline_ok && auth_can_pipeline(x, initial, may_defer)) {
		x->auth_pending = sa;
		sa = NULL;
	} else if (rc == 0) {
		rc = flush(x) < 0 ? -1 : auth_replies(x, sa, inline_ok ? NULL : initial);
	}
	sasl_free_response(initial);
	sasl_end(sa);
	free(cb);
	return rc;
}

/* ---- envelope ------------------------------------------------------- */

/* Recipients' replies live in blocks freed together, and a text equal
 * to the one before is stored once: a million recipients answered "250
 * Accepted" cost one string, not a million 256-byte buffers. Servers
 * that name each recipient in a 2xx (sendmail) get their first
 * DISTINCT_2XX_MAX texts kept, then the code alone: memory stays flat;
 * refusals are always kept whole. */
#define TEXTS_BLOCK (64u * 1024)
#define DISTINCT_2XX_MAX 1024

struct smtp_texts {
	struct smtp_texts *next;
	size_t used;
	char data[TEXTS_BLOCK];
};

static const char NOT_SENT_SMTPUTF8[] =
	"553 not sent: the address needs SMTPUTF8, which the server does not offer";

/* A copy of text (shorter than 256) owned by r, or NULL when out of memory. */
static const char *texts_add(struct smtp_result *r, const char *text)
{
	size_t len = strlen(text) + 1;
	struct smtp_texts *t = r->texts;
	char *p;

	if (!t || t->used + len > TEXTS_BLOCK) {
		t = malloc(sizeof *t);
		if (!t)
			return NULL;
		t->next = r->texts;
		t->used = 0;
		r->texts = t;
	}
	p = t->data + t->used;
	memcpy(p, text, len);
	t->used += len;
	return p;
}

/* The stored form of one recipient's reply (code, one line). */
static const char *keep_text(struct smtp *x, int code, const char *line)
{
	char code_only[8];
	const char *kept;

	if (code / 100 == 2 && x->distinct_2xx >= DISTINCT_2XX_MAX) {
		snprintf(code_only, sizeof code_only, "%d", code);
		line = code_only;
	}
	if (x->last_text && strcmp(x->last_text, line) == 0)
		return x->last_text;
	kept = texts_add(x->r, line);
	if (kept && code / 100 == 2 && line != code_only)
		x->distinct_2xx++;
	if (kept)
		x->last_text = kept;
	return kept;
}

static int build_rcpts(struct smtp *x)
{
	const struct addr_list *lists[] = {&x->m->to, &x->m->cc, &x->m->bcc};
	size_t n = x->m->to.n + x->m->cc.n + x->m->bcc.n, k = 0;

	x->r->rcpts = calloc(n ? n : 1, sizeof *x->r->rcpts);
	if (!x->r->rcpts)
		return err_set(x->err, ERR_OSERR, "out of memory");
	for (int l = 0; l < 3; l++)
		for (size_t i = 0; i < lists[l]->n; i++, k++) {
			x->r->rcpts[k].mailbox = lists[l]->v[i].mailbox;
			x->r->rcpts[k].reply = "";
		}
	x->r->nrcpts = n;
	return 0;
}

/* Checks what the message needs against what the server offers, before
 * anything is sent. A UTF-8 recipient the server cannot take is refused
 * here, as the server would, and the others still get the message. */
static int check_needs(struct smtp *x)
{
	const struct message *m = x->m;

	if (x->caps.size && x->r->size > x->caps.size) {
		err_set(x->err, ERR_MESSAGE, "the message is %llu bytes, and %s accepts at most %llu",
			(unsigned long long)x->r->size, conn_peer(x->c), (unsigned long long)x->caps.size);
		err_hint(x->err, "send smaller attachments, or a link to them");
		return -1;
	}
	if (m->eightbit && !x->caps.eightbitmime)
		return err_set(x->err, ERR_MESSAGE, "the message file holds 8-bit data and the server "
			       "does not offer 8BITMIME");
	if (m->smtputf8 && !x->caps.smtputf8 && !addr_mailbox_is_ascii(&m->from))
		return err_set(x->err, ERR_SENDER, "the sender %s needs SMTPUTF8, which the server does "
			       "not offer", m->from.mailbox);
	if (m->utf8_headers && !x->caps.smtputf8) {
		err_set(x->err, ERR_MESSAGE, "the message has a UTF-8 address in its header, which "
			"needs SMTPUTF8, and %s does not offer it", conn_peer(x->c));
		err_hint(x->err, "write that address in ASCII, or send it as Bcc");
		return -1;
	}
	for (size_t i = 0; i < x->r->nrcpts; i++) {
		struct smtp_rcpt *rc = &x->r->rcpts[i];
		const char *p = rc->mailbox;

		while (*p && (unsigned char)*p < 0x80)
			p++;
		if (*p && !x->caps.smtputf8) {
			rc->code = 553;
			rc->reply = NOT_SENT_SMTPUTF8;
		}
	}
	if ((x->s->dsn_notify || x->s->dsn_ret) && !x->caps.dsn && x->hooks && x->hooks->warn)
		x->hooks->warn(x->hooks->ctx, "the server does not offer DSN: no delivery notifications will be asked for");
	return 0;
}

static int queue_mail(struct smtp *x)
{
	char params[128] = "";
	size_t n = 0;

	if (x->caps.size)
		n += (size_t)snprintf(params + n, sizeof params - n, " SIZE=%llu", (unsigned long long)x->r->size);
	if (x->m->eightbit)
		n += (size_t)snprintf(params + n, sizeof params - n, " BODY=8BITMIME");
	if (x->m->smtputf8 && x->caps.smtputf8)
		n += (size_t)snprintf(params + n, sizeof params - n, " SMTPUTF8");
	if (x->caps.dsn && x->s->dsn_ret)
		snprintf(params + n, sizeof params - n, " RET=%s", x->s->dsn_ret == DSN_RET_FULL ? "FULL" : "HDRS");
	x->state = S_MAIL;
	x->r->mail_from = x->m->from.mailbox;
	return queue_cmd(x, "MAIL FROM:<%s>%s", x->m->from.mailbox, params);
}

static int queue_rcpt(struct smtp *x, const struct smtp_rcpt *rc)
{
	unsigned b = x->s->dsn_notify;
	char notify[64] = "";

	if (x->caps.dsn && b)
		snprintf(notify, sizeof notify, " NOTIFY=%s%s%s%s", b & DSN_NEVER ? "NEVER" : "",
			 b & DSN_SUCCESS ? "SUCCESS" : "",
			 b & DSN_FAILURE ? (b & DSN_SUCCESS ? ",FAILURE" : "FAILURE") : "",
			 b & DSN_DELAY ? (b & (DSN_SUCCESS | DSN_FAILURE) ? ",DELAY" : "DELAY") : "");
	x->state = S_RCPT;
	return queue_cmd(x, "RCPT TO:<%s>%s", rc->mailbox, notify);
}

static int judge_mail(struct smtp *x)
{
	if (x->reply.code / 100 == 2)
		return 0;
	if (x->reply.code == 552)
		return fail_reply(x, ERR_MESSAGE, "the server refused the message size at MAIL FROM");
	if (x->reply.code / 100 == 4)
		return fail_reply(x, ERR_TEMPFAIL, "the server deferred the sender %s", x->m->from.mailbox);
	if (x->reply.code / 100 == 5) {
		fail_reply(x, ERR_SENDER, "the server refused the sender %s", x->m->from.mailbox);
		if (x->reply.code == 530 && !x->s->user)
			err_hint(x->err, "the server wants a login: give --user (and a password source)");
		return -1;
	}
	return fail_reply(x, ERR_PROTOCOL, "unexpected reply to MAIL FROM");
}

static int record_rcpt(struct smtp *x, struct smtp_rcpt *rc)
{
	char line[256];

	reply_oneline(&x->reply, line, sizeof line);
	rc->code = x->reply.code;
	rc->reply = keep_text(x, rc->code, line);
	if (!rc->reply) {
		rc->reply = "";
		x->broken = true; /* replies owed will not be read */
		return err_set(x->err, ERR_OSERR, "out of memory");
	}
	if (rc->code / 100 == 2)
		x->r->accepted++;
	return 0;
}

static bool asked(const struct smtp_rcpt *rc)
{
	return rc->reply != NOT_SENT_SMTPUTF8;
}

/* Without PIPELINING: each command waits for its reply. */
static int envelope_lockstep(struct smtp *x, bool *mail_ok)
{
	if (queue_mail(x) < 0 || flush(x) < 0 || read_reply(x) < 0)
		return -1;
	*mail_ok = judge_mail(x) == 0;
	if (!*mail_ok)
		return 0;
	for (size_t i = 0; i < x->r->nrcpts; i++) {
		struct smtp_rcpt *rc = &x->r->rcpts[i];

		if (!asked(rc))
			continue;
		if (queue_rcpt(x, rc) < 0 || flush(x) < 0 || read_reply(x) < 0 || record_rcpt(x, rc) < 0)
			return -1;
	}
	return 0;
}

/* A pipelined envelope is written in slices of RCPT_SLICE commands, and
 * replies are read while more commands go out: whatever has arrived
 * after each slice, and always enough to keep at most REPLY_WINDOW
 * unread. A server answers as it reads and stops reading while its
 * replies are not taken; a client that wrote 400,000 RCPTs before
 * reading one deadlocked against Exim. 256 replies fit any socket
 * buffers, and the window keeps the link busy. */
#define RCPT_SLICE 64
#define REPLY_WINDOW 256

/* Where the reading of a pipelined envelope's replies stands. */
struct env_replies {
	bool mail_read, mail_ok;
	size_t next;        /* the recipient whose reply comes next */
};

/* Reads the next reply of the pipelined envelope: the pending AUTH's,
 * MAIL's, or the oldest unanswered RCPT's. After a refused MAIL the
 * RCPT replies are read (the server answers them all) but the error
 * stays MAIL's. */
static int read_next(struct smtp *x, struct env_replies *e)
{
	struct error keep = *x->err;

	if (x->auth_pending)
		return finish_pending_auth(x);
	if (!e->mail_read) {
		x->state = S_MAIL;
		if (read_reply(x) < 0)
			return -1;
		e->mail_read = true;
		e->mail_ok = judge_mail(x) == 0;
		return 0;
	}
	while (!asked(&x->r->rcpts[e->next]))
		e->next++;
	x->state = S_RCPT;
	if (read_reply(x) < 0)
		return -1;
	if (!e->mail_ok)
		*x->err = keep;
	else if (record_rcpt(x, &x->r->rcpts[e->next]) < 0)
		return -1;
	e->next++;
	return 0;
}

static bool reply_waiting(struct smtp *x)
{
	struct error ignored;

	return conn_pending(x->c) > 0 || conn_wait_readable(x->c, 0, &ignored) != 0;
}

/* Reads replies while more than window are owed, or while some have
 * arrived (down to the queued data command's, which transfer reads). */
static int read_some(struct smtp *x, struct env_replies *e, unsigned window, unsigned keep)
{
	while (x->owed > keep && (x->owed > window || reply_waiting(x)))
		if (read_next(x, e) < 0)
			return -1;
	return 0;
}

/* MAIL and every RCPT, pipelined when the server offers it (RFC 2920);
 * small messages also put the DATA or BDAT command (and for BDAT the
 * message itself) after the envelope, without waiting, and *data_queued
 * says so. Returns -1 only when the session broke; a refused MAIL leaves
 * *mail_ok false with the reason in err. */
static int envelope(struct smtp *x, int (*queue_data)(struct smtp *), bool *data_queued,
		    bool *mail_ok)
{
	struct env_replies e = {0};
	size_t sent = 0;

	*data_queued = false;
	*mail_ok = true;
	if (!x->caps.pipelining)
		return envelope_lockstep(x, mail_ok);
	if (queue_mail(x) < 0)
		return -1;
	for (size_t i = 0; i < x->r->nrcpts; i++) {
		if (!asked(&x->r->rcpts[i]))
			continue;
		if (queue_rcpt(x, &x->r->rcpts[i]) < 0)
			return -1;
		if (++sent % RCPT_SLICE == 0 && (flush(x) < 0 || read_some(x, &e, REPLY_WINDOW, 0) < 0))
			return -1;
	}
	/* Never the data with a login whose answer is unknown: credentials
	 * mean AUTH is required, and a server that would take the message
	 * without one must not get it. */
	if (x->r->size <= PIPELINE_DATA_MAX && !x->auth_pending) {
		if (queue_data(x) < 0)
			return -1;
		*data_queued = true;
	}
	if (flush(x) < 0 || read_some(x, &e, 0, *data_queued ? 1 : 0) < 0)
		return -1;
	*mail_ok = e.mail_ok;
	return 0;
}

/* ---- data ----------------------------------------------------------- */

/* The sink that puts message bytes on the connection. */
struct conn_sink {
	struct sink base;
	struct smtp *x;
	uint64_t bytes;
	uint64_t limit; /* BDAT: the size announced; past it bytes are commands */
};

static int conn_sink_write(struct sink *s, const void *buf, size_t len)
{
	struct conn_sink *cs = (struct conn_sink *)s;
	const struct smtp_hooks *h = cs->x->hooks;

	if (len > cs->limit - cs->bytes)
		return err_set(s->err, ERR_DATA, "the message grew past the %llu bytes announced "
			       "while it was being sent; nothing was sent", (unsigned long long)cs->limit);
	if (conn_write(cs->x->c, buf, len, s->err) < 0)
		return -1;
	cs->bytes += len;
	if (h && h->progress)
		h->progress(h->progress_ctx, cs->bytes, cs->x->r->size);
	return 0;
}

static int conn_sink_flush(struct sink *s)
{
	return conn_flush(((struct conn_sink *)s)->x->c, s->err);
}

/* Streams the message. For DATA through the dot-stuffer, ending with the
 * terminator; for BDAT as it is, and exactly as many bytes as announced
 * (a file that changed size makes the session unusable: -1). */
static int write_message(struct smtp *x, bool dot)
{
	struct conn_sink cs = {{conn_sink_write, conn_sink_flush, x->err}, x, 0,
			       dot ? UINT64_MAX : x->r->size};
	struct dot_sink d;

	x->state = S_CONTENT;
	trace(x, SMTP_NOTE, "(message data)", 14);
	if (!dot) {
		if (mime_write(x->m, &cs.base) < 0)
			return -1;
		if (cs.bytes != x->r->size)
			return err_set(x->err, ERR_DATA, "the message changed size while being sent "
				       "(%llu bytes announced, %llu written)",
				       (unsigned long long)x->r->size, (unsigned long long)cs.bytes);
		x->r->data_sent = true;
		return 0;
	}
	dot_init(&d, &cs.base);
	x->server_waits = true;
	if (mime_write(x->m, &d.base) < 0 || dot_finish(&d) < 0)
		return -1;
	x->server_waits = false;
	x->owed++; /* the reply to the end of the data */
	if (flush(x) < 0)
		return -1;
	x->r->data_sent = true;
	return 0;
}

static int queue_bdat(struct smtp *x)
{
	x->state = S_DATA;
	if (queue_cmd(x, "BDAT %llu LAST", (unsigned long long)x->r->size) < 0)
		return -1;
	return write_message(x, false);
}

static int queue_data_cmd(struct smtp *x)
{
	x->state = S_DATA;
	return queue_cmd(x, "DATA");
}

/* The server's verdict on the message, kept even when no recipient was
 * accepted (a BDAT pipelined with the envelope is then refused). */
static void record_final(struct smtp *x)
{
	x->r->final_code = x->reply.code;
	reply_oneline(&x->reply, x->r->final_reply, sizeof x->r->final_reply);
}

static int judge_end_of_data(struct smtp *x)
{
	record_final(x);
	if (x->reply.code / 100 == 2) {
		x->r->delivered = true;
		queueid_find(x->reply.text, x->reply.len, x->r->queue_id, sizeof x->r->queue_id);
		return 0;
	}
	if (x->reply.code / 100 == 4)
		return fail_reply(x, ERR_TEMPFAIL, "the server did not take the message for now");
	if (x->reply.code / 100 == 5)
		return fail_reply(x, ERR_MESSAGE, "the server refused the message");
	return fail_reply(x, ERR_PROTOCOL, "unexpected reply to the end of data");
}

/* No recipient was taken: the error says who was refused and why. */
static int fail_recipients(struct smtp *x, enum err_class cls, const char *what)
{
	char list[400];
	size_t n = 0, shown = 0, refused = 0;

	list[0] = '\0';
	for (size_t i = 0; i < x->r->nrcpts; i++) {
		const struct smtp_rcpt *rc = &x->r->rcpts[i];

		if (rc->code / 100 == 2)
			continue;
		refused++;
		if (n + strlen(rc->mailbox) + strlen(rc->reply) + 8 < sizeof list - 24) {
			n += (size_t)snprintf(list + n, sizeof list - n, "%s%s (%s)", shown ? "; " : "",
					      rc->mailbox, rc->reply);
			shown++;
		}
	}
	if (shown < refused)
		snprintf(list + n, sizeof list - n, "; and %zu more", refused - shown);
	return err_set(x->err, cls, "%s: %s", what, list);
}

static int outcome_of_recipients(struct smtp *x)
{
	bool all_temp = true;

	for (size_t i = 0; i < x->r->nrcpts; i++)
		if (x->r->rcpts[i].code / 100 != 4 && x->r->rcpts[i].code / 100 != 2)
			all_temp = false;
	if (x->r->accepted == 0)
		return fail_recipients(x, all_temp ? ERR_TEMPFAIL : ERR_ALL_RCPT,
				       all_temp ? "every recipient was deferred; nothing sent" :
				       "every recipient was refused; nothing sent");
	return 0;
}

/* A login pipelined with the envelope failed. No data went with it
 * (see envelope), so nothing was delivered: the login's failure is the
 * outcome, and QUIT ends whatever transaction MAIL and RCPT opened. */
static int outcome_of_failed_login(struct smtp *x)
{
	*x->err = x->auth_err;
	return -1;
}

/* RFC 2920 3.1: a 354 after every RCPT failed gets an empty message. */
static int send_empty_message(struct smtp *x)
{
	x->owed++;
	if (conn_write(x->c, ".\r\n", 3, x->err) < 0)
		return -1;
	return flush(x) < 0 || read_reply(x) < 0 ? -1 : 0;
}

/* Envelope, then the message by BDAT (RFC 3030) or DATA. */
static int transfer(struct smtp *x)
{
	bool bdat = x->caps.chunking, queued, mail_ok;

	if (envelope(x, bdat ? queue_bdat : queue_data_cmd, &queued, &mail_ok) < 0)
		return -1;
	if (queued) {
		/* Read the reply to what was pipelined, even after a refused
		 * MAIL, so that QUIT goes out in step. */
		struct error keep = *x->err;

		x->state = bdat ? S_END_OF_DATA : S_DATA;
		if (read_reply(x) < 0 && mail_ok)
			return -1;
		if (!mail_ok)
			*x->err = keep;
		else if (bdat)
			record_final(x);
	}
	if (x->auth_failed)
		return outcome_of_failed_login(x);
	if (!mail_ok)
		return -1;
	if (x->r->accepted == 0) {
		if (queued && !bdat && x->reply.code == 354 && send_empty_message(x) < 0)
			return -1;
		return outcome_of_recipients(x);
	}
	if (!queued && ((bdat ? queue_bdat(x) : queue_data_cmd(x)) < 0 || flush(x) < 0 ||
			read_reply(x) < 0))
		return -1;
	if (bdat)
		return judge_end_of_data(x);
	if (x->reply.code != 354)
		return fail_reply(x, x->reply.code / 100 == 4 ? ERR_TEMPFAIL : ERR_MESSAGE,
				  "the server refused to take the message data");
	if (write_message(x, true) < 0)
		return -1;
	x->state = S_END_OF_DATA;
	if (read_reply(x) < 0)
		return -1;
	return judge_end_of_data(x);
}

/* ---- the session ---------------------------------------------------- */

/* Ends the session: QUIT without waiting when the server is in step (the
 * outcome is already known), else just drop the connection. */
static void finish(struct smtp *x)
{
	sasl_end(x->auth_pending);
	x->auth_pending = NULL;
	if (x->c && !x->broken && x->owed == 0 && !x->server_waits) {
		struct error ignored;

		x->state = S_QUIT;
		if (queue_line(x, "QUIT", NULL) == 0)
			conn_flush(x->c, &ignored);
	}
	conn_close(x->c);
	x->c = NULL;
	reply_free(&x->reply);
}

/* Whether the server may have taken the message for someone: delivered,
 * or sent whole with no verdict while some recipient was accepted or
 * never answered. No recipient accepted means nothing delivered. */
static bool maybe_delivered(const struct smtp_result *r)
{
	if (r->delivered)
		return true;
	if (!r->data_sent || r->final_code)
		return false;
	for (size_t i = 0; i < r->nrcpts; i++)
		if (r->rcpts[i].code == 0 || r->rcpts[i].code / 100 == 2)
			return true;
	return false;
}

static int partial_outcome(struct smtp *x)
{
	if (x->r->accepted == x->r->nrcpts)
		return 0;
	char what[96];

	snprintf(what, sizeof what, "sent to %zu of %zu recipients; refused", x->r->accepted,
		 x->r->nrcpts);
	return fail_recipients(x, ERR_SOME_RCPT, what);
}

static int open_session(struct smtp *x)
{
	if (connect_and_greet(x) < 0 || ehlo(x) < 0 || starttls(x) < 0)
		return -1;
	record_tls(x);
	return 0;
}

/* The transport takes only what it uses; the strings stay s's. */
static struct conn_params conn_params_of(const struct session *s)
{
	struct conn_params p = {
		.host = s->host, .port = s->port, .family = s->family, .timeout = s->timeout,
		.proxy_host = s->proxy_host, .proxy_port = s->proxy_port,
		.ca_file = s->ca_file, .have_fingerprint = s->have_fingerprint,
		.insecure = s->insecure, .client_cert = s->client_cert,
		.client_key = s->client_key, .tls_from_scheme = s->tls_from_scheme,
	};

	memcpy(p.fingerprint, s->fingerprint, sizeof p.fingerprint);
	return p;
}

static void init(struct smtp *x, const struct session *s, struct message *m,
		 const struct smtp_hooks *hooks, struct smtp_result *r, struct error *err)
{
	memset(x, 0, sizeof *x);
	memset(r, 0, sizeof *r);
	x->s = s;
	x->cp = conn_params_of(s);
	x->m = m;
	x->hooks = hooks;
	x->r = r;
	x->err = err;
	reply_init(&x->reply);
	if (s->helo)
		snprintf(x->helo, sizeof x->helo, "%s", s->helo);
	else
		default_helo(x->helo, sizeof x->helo, x->s->timeout);
}

int smtp_send(const struct session *s, struct message *m, const char *password,
	      const struct smtp_hooks *hooks, struct smtp_result *r, struct error *err)
{
	struct smtp x;
	int rc;

	init(&x, s, m, hooks, r, err);
	/* Everything about the message is settled before connecting, so a
	 * file problem never costs a half-open session. */
	rc = msg_spool_pipes(m, err) < 0 || mime_size(m, &r->size, err) < 0 || build_rcpts(&x) < 0 ||
	     (password && sasl_check_secret(password, err) < 0) ? -1 : 0;
	if (rc == 0)
		rc = open_session(&x);
	/* Before the login: a message the server cannot take costs none. */
	if (rc == 0)
		rc = check_needs(&x);
	if (rc == 0)
		rc = authenticate(&x, password, true);
	if (rc == 0)
		rc = transfer(&x);
	if (rc == 0)
		rc = partial_outcome(&x);
	r->maybe_delivered = maybe_delivered(r);
	finish(&x);
	return rc;
}

int smtp_probe(const struct session *s, const char *password, const struct smtp_hooks *hooks,
	       struct smtp_result *r, struct error *err)
{
	struct message none = {0};
	struct smtp x;
	int rc;

	init(&x, s, &none, hooks, r, err);
	rc = password ? sasl_check_secret(password, err) : 0;
	if (rc == 0)
		rc = open_session(&x);
	if (rc == 0)
		rc = authenticate(&x, password, false);
	finish(&x);
	return rc;
}

void smtp_result_free(struct smtp_result *r)
{
	while (r->texts) {
		struct smtp_texts *next = r->texts->next;

		free(r->texts);
		r->texts = next;
	}
	free(r->rcpts);
	free(r->capabilities);
	memset(r, 0, sizeof *r);
}
