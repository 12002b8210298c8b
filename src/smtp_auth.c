/* smtp_auth.c - AUTH (RFC 4954): the mechanism chosen by sasl.c, its
 * payloads redacted in the transcript, and the one case where AUTH rides
 * in the first transaction's pipelined group. */
#include "smtp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sasl.h"

/* Credentials go only over TLS with a verified certificate (or a matched
 * pin), unless the user said --tls=none or --insecure. */
static int check_safe_for_credentials(struct smtp *x, struct error *err)
{
	bool tls = x->t->ops->is_tls(x->t);

	if ((tls && x->t->ops->tls_info(x->t)->verified) || x->p->insecure || x->p->tls == TLS_NONE)
		return 0;
	err_set(err, ERR_STARTTLS, "envoi will not send the password for %s over %s",
		x->p->user, tls ? "a TLS connection with an unverified certificate" : "an unencrypted connection");
	err_hint(err, tls ? "use --ca-file or --fingerprint to trust this server" :
		 "the server offers no STARTTLS; --tls=none sends the password in clear");
	return -1;
}

static bool needs_app_password(const char *host)
{
	return strstr(host, "gmail") || strstr(host, "google") || strstr(host, "office365") ||
	       strstr(host, "outlook") || strstr(host, "yahoo");
}

static int judge_auth(struct smtp *x, struct sasl *sa, struct error *err)
{
	int code = x->reply.code;

	if (code == 235 && !sasl_finished(sa))
		return smtp_fail(x, err, ERR_AUTH_FAILED, "the server accepted the login without proving it "
				 "knows the password (possible impostor)");
	if (code == 235)
		return 0;
	if (code / 100 == 4)
		return smtp_fail(x, err, ERR_TEMPFAIL, "authentication is unavailable for now");
	if (code == 504 || code == 534 || code == 538)
		return smtp_fail(x, err, ERR_AUTH_IMPOSSIBLE, "the server refused the %s mechanism",
				 x->info->mech);
	if (!strcmp(x->info->mech, "XOAUTH2") || !strcmp(x->info->mech, "OAUTHBEARER"))
		return smtp_fail(x, err, ERR_AUTH_FAILED, "the server rejected the OAuth2 token for %s",
				 x->p->user);
	smtp_fail(x, err, ERR_AUTH_FAILED, "the server rejected the user name or password for %s", x->p->user);
	if (needs_app_password(x->p->host))
		err_hint(err, "this provider needs an app password (or an OAuth2 token with --auth=XOAUTH2)");
	return -1;
}

/* The longest AUTH line sent with its initial response, CRLF included.
 * RFC 4954 4 allows 12288 octets, but many servers keep RFC 5321's
 * limits on command lines; a longer response (an OAuth2 token of a few
 * KB) goes alone after the server's empty 334, which any length fits. */
#define AUTH_LINE_MAX 1000

static bool auth_inline(const struct smtp *x, const char *initial)
{
	return initial && strlen("AUTH ") + strlen(x->info->mech) + 1 + strlen(initial) + 2 <= AUTH_LINE_MAX;
}

/* Queues "AUTH MECH [initial response]", shown redacted; initial is
 * NULL or fits (auth_inline). */
static int auth_send(struct smtp *x, const char *initial, struct error *err)
{
	char shown[64], line[AUTH_LINE_MAX];
	int rc;

	snprintf(shown, sizeof shown, "AUTH %s%s", x->info->mech, initial ? " <redacted>" : "");
	if ((size_t)snprintf(line, sizeof line, "AUTH %s%s%s", x->info->mech, initial ? " " : "",
			     initial ? initial : "") >= sizeof line)
		return err_set(err, ERR_SOFTWARE, "AUTH line longer than planned");
	rc = smtp_queue_line(x, line, shown, S_AUTH, err);
	explicit_bzero(line, sizeof line);
	return rc;
}

/* Answers one 334: with held (an initial response too long for the AUTH
 * line, RFC 4954 4) or the mechanism's next step. */
static int auth_answer(struct smtp *x, struct sasl *sa, const char *held, struct error *err)
{
	char *response = NULL;
	int rc;

	x->server_waits = true;
	if (held)
		rc = smtp_queue_line(x, held, "<redacted>", S_AUTH, err);
	else if ((rc = sasl_step(sa, x->reply.text, &response, err)) == 0)
		rc = smtp_queue_line(x, response, "<redacted>", S_AUTH, err);
	if (rc == 0)
		x->server_waits = false;
	sasl_free_response(response);
	return rc < 0 ? -1 : smtp_flush(x, err);
}

/* Reads the replies to AUTH: 334 challenges are answered until 235 or a
 * failure. Whatever happens, the caller may now forget the password. */
static int auth_replies(struct smtp *x, struct sasl *sa, const char *held, struct error *err)
{
	struct expect e;
	int rc;

	smtp_set_state(x, S_AUTH);
	x->redact = true;
	while ((rc = smtp_read_reply(x, &e, err)) == 0 && x->reply.code == 334) {
		rc = auth_answer(x, sa, held, err);
		held = NULL;
		if (rc < 0)
			break;
	}
	x->redact = false;
	if (x->hooks && x->hooks->credentials_used)
		x->hooks->credentials_used(x->hooks->ctx);
	return rc < 0 ? -1 : judge_auth(x, sa, err);
}

/* RFC 4954 4: AUTH must end a pipelined group, except when its initial
 * response finishes the exchange in one round trip with no security
 * layer, as PLAIN does. Then MAIL, RCPT and the data may follow it in
 * the same write, which saves a round trip. */
static bool auth_can_pipeline(const struct smtp *x, const char *initial, bool may_defer)
{
	return may_defer && x->caps.pipelining && initial && strcmp(x->info->mech, "PLAIN") == 0;
}

/* The reply to an AUTH sent with the envelope, read before the
 * envelope's own replies. Returns 0 (accepted, or refused: then
 * *refused and err says why, and the dialogue is still in step) or -1
 * when the session broke. */
int smtp_finish_pending_auth(struct smtp *x, struct error *err, bool *refused)
{
	struct sasl *sa = x->auth_pending;
	int rc;

	*refused = false;
	if (!sa)
		return 0;
	x->auth_pending = NULL;
	rc = auth_replies(x, sa, NULL, err);
	sasl_end(sa);
	if (rc < 0 && (x->broken || x->server_waits))
		return -1;
	*refused = rc < 0;
	return 0;
}

static int auth_offered(struct smtp *x, struct error *err)
{
	if (x->caps.auth)
		return 0;
	err_set(err, ERR_AUTH_IMPOSSIBLE, "%s offers no authentication: its EHLO reply has no AUTH",
		smtp_peer(x));
	err_hint(err, "leave out --user if this server relays without a login");
	return -1;
}

/* Starts the mechanism: *sa, *initial (may be NULL), and *cb to free. */
static int auth_start(struct smtp *x, const char *password, struct sasl **sa, char **initial,
		      char **cb, struct error *err)
{
	struct sasl_params sp = {0};
	const char *mech = NULL;
	bool tls = x->t->ops->is_tls(x->t);

	sp.user = x->p->user;
	sp.password = password ? password : "";
	sp.forced_mech = x->p->auth_mech;
	sp.server_mechs = x->caps.mechs;
	sp.host = x->p->host;
	sp.port = x->p->port;
	if (tls && (*cb = x->t->ops->channel_binding(x->t, &sp.cb_type)))
		sp.cb_data = *cb;
	sp.encrypted = tls && x->t->ops->tls_info(x->t)->verified;
	if (sasl_start(sa, &sp, &mech, initial, err) < 0)
		return -1;
	snprintf(x->info->mech, sizeof x->info->mech, "%s", mech);
	return 0;
}

int smtp_authenticate(struct smtp *x, const char *password, bool may_defer, struct error *err)
{
	struct sasl *sa = NULL;
	char *initial = NULL, *cb = NULL;
	bool inline_ok = false;
	int rc;

	if (!x->p->user)
		return 0;
	smtp_set_state(x, S_AUTH);
	if (check_safe_for_credentials(x, err) < 0 || auth_offered(x, err) < 0)
		return -1;
	rc = auth_start(x, password, &sa, &initial, &cb, err);
	if (rc == 0) {
		inline_ok = auth_inline(x, initial);
		rc = auth_send(x, inline_ok ? initial : NULL, err);
	}
	if (rc == 0 && inline_ok && auth_can_pipeline(x, initial, may_defer)) {
		x->auth_pending = sa;
		sa = NULL;
	} else if (rc == 0) {
		rc = smtp_flush(x, err) < 0 ? -1 : auth_replies(x, sa, inline_ok ? NULL : initial, err);
	}
	sasl_free_response(initial);
	sasl_end(sa);
	free(cb);
	return rc;
}
