/* engine.h - the front ends' way into the SMTP engine (smtp.h): settings
 * and message in the engine's own terms. */
#ifndef ENVOI_ENGINE_H
#define ENVOI_ENGINE_H

#include "conn.h"
#include "error.h"
#include "message.h"
#include "session.h"
#include "smtp.h"

/* The transport's share of s; the strings stay s's. */
struct conn_params engine_conn_params(const struct session *s);

/* The engine's share of s, over the conn transport cp (kept by the
 * caller while the engine runs). */
struct smtp_params engine_params(const struct session *s, struct conn_params *cp);

/* m as the engine takes it: envelope, size and writer (the composer).
 * Pipes are spooled first, so a file problem never costs a half-open
 * session. The recipients (To, Cc, Bcc in order) are read from m's
 * lists, not copied: m must outlive sm and every result made from it.
 * Returns 0, or -1 with err set. */
int engine_message(struct message *m, struct smtp_message *sm, struct error *err);

#endif
