/* conn_transport.h - the conn module behind the engine's transport table.
 * Give smtp_params.transport = &conn_transport_ops and transport_ctx a
 * struct conn_params that outlives the session. */
#ifndef ENVOI_CONN_TRANSPORT_H
#define ENVOI_CONN_TRANSPORT_H

#include "conn.h"
#include "transport.h"

extern const struct transport_ops conn_transport_ops;

#endif
