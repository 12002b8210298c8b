/* engine.c - what the SMTP engine takes, made from what the front ends
 * hold: transport and engine settings from a session, the envelope,
 * size and writer from a message. */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

#include "conn_transport.h"
#include "mime.h"

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

/* The message as the engine takes it: envelope, size and writer. Pipes
 * are spooled first, so a file problem never costs a half-open session.
 * rcpts (To, Cc, Bcc in order) is the caller's to free. */
int engine_message(struct message *m, struct smtp_message *sm, const char ***rcpts,
			  struct error *err)
{
	const struct addr_list *lists[] = {&m->to, &m->cc, &m->bcc};
	size_t n = m->to.n + m->cc.n + m->bcc.n, k = 0;

	*sm = (struct smtp_message){.from = m->from.mailbox, .eightbit = m->eightbit,
				    .smtputf8 = m->smtputf8, .utf8_headers = m->utf8_headers,
				    .write = write_message, .ctx = m};
	if (msg_spool_pipes(m, err) < 0 || mime_size(m, &sm->size, err) < 0)
		return -1;
	if (!(*rcpts = calloc(n ? n : 1, sizeof **rcpts)))
		return err_set(err, ERR_OSERR, "out of memory");
	for (int l = 0; l < 3; l++)
		for (size_t i = 0; i < lists[l]->n; i++)
			(*rcpts)[k++] = lists[l]->v[i].mailbox;
	sm->rcpts = *rcpts;
	sm->nrcpts = n;
	return 0;
}

