/* conn_transport.c - the conn module as the SMTP engine's transport
 * (transport.h): each operation is the conn_ function of that name. */
#include "conn_transport.h"

#include <stdlib.h>

struct conn_transport {
	struct transport base;
	struct conn *c;
	const struct conn_params *p;
};

static struct conn *C(const struct transport *t)
{
	return ((const struct conn_transport *)t)->c;
}

static int ct_read_line(struct transport *t, const char **line, size_t *len, struct error *err)
{
	return conn_read_line(C(t), line, len, err);
}

static void ct_start_step(struct transport *t)
{
	conn_start_step(C(t));
}

static size_t ct_pending(const struct transport *t)
{
	return conn_pending(C(t));
}

static int ct_wait_readable(struct transport *t, int ms, struct error *err)
{
	return conn_wait_readable(C(t), ms, err);
}

static int ct_write(struct transport *t, const void *buf, size_t len, struct error *err)
{
	return conn_write(C(t), buf, len, err);
}

static int ct_flush(struct transport *t, struct error *err)
{
	return conn_flush(C(t), err);
}

static int ct_start_tls(struct transport *t, struct error *err)
{
	return conn_start_tls(C(t), ((struct conn_transport *)t)->p, err);
}

/* Only whether a TLS record answers matters: nothing is verified, and a
 * TLS port answers a ClientHello at once, so half the timeout, at most
 * 5 s, is plenty and bounds what the check adds to a run. */
static int ct_probe_tls(struct transport *t, struct error *err)
{
	struct conn_params probe = *((struct conn_transport *)t)->p;

	probe.insecure = true;
	probe.have_fingerprint = false;
	probe.timeout = (probe.timeout + 1) / 2 < 5 ? (probe.timeout + 1) / 2 : 5;
	return conn_start_tls(C(t), &probe, err);
}

static bool ct_tls_answered(const struct transport *t)
{
	return conn_tls_answered(C(t));
}

static bool ct_is_loopback(const struct transport *t)
{
	return conn_is_loopback(C(t));
}

static bool ct_is_tls(const struct transport *t)
{
	return conn_is_tls(C(t));
}

static const struct tls_info *ct_tls_info(const struct transport *t)
{
	return conn_tls_info(C(t));
}

static char *ct_channel_binding(struct transport *t, const char **type)
{
	return conn_channel_binding(C(t), type);
}

static const char *ct_peer(const struct transport *t)
{
	return conn_peer(C(t));
}

static void ct_close(struct transport *t)
{
	if (!t)
		return;
	conn_close(C(t));
	free(t);
}

static int ct_open(void *ctx, struct transport **out, struct error *err);

const struct transport_ops conn_transport_ops = {
	.open = ct_open, .read_line = ct_read_line, .start_step = ct_start_step,
	.pending = ct_pending, .wait_readable = ct_wait_readable, .write = ct_write,
	.flush = ct_flush, .start_tls = ct_start_tls, .probe_tls = ct_probe_tls,
	.tls_answered = ct_tls_answered, .is_loopback = ct_is_loopback, .is_tls = ct_is_tls,
	.tls_info = ct_tls_info, .channel_binding = ct_channel_binding, .peer = ct_peer,
	.close = ct_close,
};

static int ct_open(void *ctx, struct transport **out, struct error *err)
{
	struct conn_transport *ct = calloc(1, sizeof *ct);

	*out = NULL;
	if (!ct)
		return err_set(err, ERR_OSERR, "out of memory");
	ct->base.ops = &conn_transport_ops;
	ct->p = ctx;
	if (conn_open(&ct->c, ct->p, err) < 0) {
		free(ct);
		return -1;
	}
	*out = &ct->base;
	return 0;
}
