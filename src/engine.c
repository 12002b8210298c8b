/* engine.c - what the SMTP engine takes, made from what the front ends
 * hold: transport and engine settings from a session, the envelope,
 * size and writer from a message. */
#include "engine.h"

#include "oauth2.h"
#include "password.h"

#include <string.h>

#include "conn_transport.h"
#include "mime.h"
#include "msgbuild.h"
#include "oauth2.h"
#include "password.h"

/* The transport's share of the session; the strings stay s's. */
struct conn_params engine_conn_params(const struct session *s)
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

/* The engine's share of the session, over the conn transport cp. */
struct smtp_params engine_params(const struct session *s, struct conn_params *cp)
{
	return (struct smtp_params){
		.transport = &conn_transport_ops, .transport_ctx = cp,
		.host = s->host, .port = s->port, .tls = s->tls, .insecure = s->insecure,
		.user = s->user, .auth_mech = s->auth_mech, .helo = s->helo, .timeout = s->timeout,
		.dsn_notify = s->dsn_notify, .dsn_ret = s->dsn_ret,
	};
}

/* The composer as the engine's message writer. */
static int write_message(void *ctx, struct sink *out)
{
	return mime_write(ctx, out);
}

static const char *envelope_rcpt(const void *ctx, size_t i)
{
	return msg_rcpt(ctx, i);
}

/* The message as the engine takes it: envelope, size and writer. Pipes
 * are spooled first, so a file problem never costs a half-open session.
 * The envelope is read from m's address lists where they are: a million
 * recipients need no array of a million pointers. */
int engine_message(struct message *m, struct smtp_message *sm, struct error *err)
{
	*sm = (struct smtp_message){.from = m->null_sender ? "" : m->from.mailbox,
				    .eightbit = m->eightbit,
				    .smtputf8 = m->smtputf8, .utf8_headers = m->utf8_headers,
				    .rcpt = envelope_rcpt, .rcpt_ctx = m,
				    .nrcpts = msg_rcpt_count(m),
				    .write = write_message, .ctx = m};
	if (msg_spool_pipes(m, err) < 0 || mime_size(m, &sm->size, err) < 0)
		return -1;
	return 0;
}

int engine_open(struct smtp **x, const struct session *s, const struct smtp_params *p,
		char **password, const struct smtp_message *first, const struct smtp_hooks *hooks,
		struct smtp_info *info, struct error *err)
{
	if (smtp_open(x, p, *password, first, hooks, info, err) == 0)
		return 0;
	if (err->cls != ERR_AUTH_FAILED || s->oauth2.provider == OAUTH2_NONE)
		return -1;
	password_free(*password);
	*password = NULL;
	if (oauth2_token(&s->oauth2, true, password, err) < 0)
		return -1;
	*err = (struct error){0};
	if (smtp_open(x, p, *password, first, hooks, info, err) == 0)
		return 0;
	if (err->cls == ERR_AUTH_FAILED)
		err_hint(err, "the server refused a fresh OAuth2 token too: check that the account "
			 "may send mail (SMTP AUTH enabled) and the oauth2-scope");
	return -1;
}
