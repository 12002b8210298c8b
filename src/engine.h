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

/* smtp_open for a session that may carry many transactions (batch,
 * flush, -bs). When s logs in with OAuth2 and the server refuses the
 * token (it may have been revoked or have expired early), a fresh token
 * replaces *password (wiped and freed with password_free; *password is
 * the caller's, from password_get_from) and one more session is opened.
 * Returns as smtp_open. */
int engine_open(struct smtp **x, const struct session *s, const struct smtp_params *p,
		char **password, const struct smtp_message *first, const struct smtp_hooks *hooks,
		struct smtp_info *info, struct error *err);

#endif
