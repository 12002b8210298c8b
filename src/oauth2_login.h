/* oauth2_login.h - the browser flow of --oauth2-login (oauth2_browser.c). */
#ifndef ENVOI_OAUTH2_LOGIN_H
#define ENVOI_OAUTH2_LOGIN_H

#include "oauth2.h"
#include "tokenstore.h"

/* Authorization code with PKCE S256 (RFC 7636): prints the URL (opens
 * it with xdg-open when there is a display), waits up to 5 minutes for
 * the browser's redirect to a listener on 127.0.0.1, checks its state
 * and exchanges the code. Returns 0 with the tokens in *t, or -1 with
 * err set: ERR_AUTH_FAILED (wrong state, access_denied), ERR_TEMPFAIL
 * (no redirect in time), or oauth2_grant's. */
int oauth2_browser(const struct oauth2_config *c, struct token_set *t, struct error *err);

#endif
