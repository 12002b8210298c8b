/* oauth2.h - OAuth2 access tokens for XOAUTH2 and OAUTHBEARER, kept
 * fresh by envoi: the account's settings and presets (Microsoft, Google,
 * custom), the token at send time (cached, refreshed, or from client
 * credentials) and the one interactive login (device or browser flow).
 *
 * The refresh token and the cached access token live in the token store
 * (tokenstore.h); requests go to the identity provider over HTTPS
 * (oauth2_http.h). Every token, code and secret is wiped after use.
 */
#ifndef ENVOI_OAUTH2_H
#define ENVOI_OAUTH2_H

#include <stdbool.h>

#include "error.h"

enum oauth2_provider { OAUTH2_NONE, OAUTH2_MICROSOFT, OAUTH2_GOOGLE, OAUTH2_CUSTOM };
enum oauth2_flow { OAUTH2_FLOW_UNSET, OAUTH2_DEVICE, OAUTH2_BROWSER, OAUTH2_CLIENT_CREDENTIALS };

/* One account's OAuth2 settings. The strings are malloc'd and owned
 * (oauth2_config_free); after oauth2_settle the URLs and the scope hold
 * the preset's values where the account set none. */
struct oauth2_config {
	enum oauth2_provider provider; /* OAUTH2_NONE: the account uses no OAuth2 */
	enum oauth2_flow flow;
	char *client_id;
	char *secret_command;   /* oauth2-client-secret-command */
	char *secret_file;      /* oauth2-client-secret-file */
	char *tenant;           /* Microsoft; NULL: organizations */
	char *ca_file;          /* the identity provider's CAs; NULL: system store */
	char *auth_url, *device_url, *token_url, *scope;
	char *account;          /* names the token store's file */
	unsigned timeout;       /* seconds per request */
	bool verbose;           /* -v: each request on stderr, secrets redacted */
};

/* The account's keys, in the order of options.h (oauth2-provider ...
 * oauth2-scope). */
enum oauth2_key {
	OAUTH2_KEY_PROVIDER, OAUTH2_KEY_CLIENT_ID, OAUTH2_KEY_SECRET_COMMAND,
	OAUTH2_KEY_SECRET_FILE, OAUTH2_KEY_TENANT, OAUTH2_KEY_FLOW, OAUTH2_KEY_CA_FILE,
	OAUTH2_KEY_AUTH_URL, OAUTH2_KEY_DEVICE_URL, OAUTH2_KEY_TOKEN_URL, OAUTH2_KEY_SCOPE,
	OAUTH2_NKEYS
};

/* What a provider changes in the session around it. */
struct oauth2_target {
	const char *account; /* --account; NULL: default */
	const char *from;    /* the sender as given ("Name <addr>" too), or NULL */
	bool login;          /* --oauth2-login: no user name needed */
	char **mech, **user; /* the session's (malloc'd or NULL), set when NULL */
};

/* Fills c from the account's keys (raw[k]: the value, NULL when unset)
 * and the provider's preset (URLs, scope, default flow); c->timeout and
 * c->verbose are left as they are. With a provider, *t->mech becomes
 * XOAUTH2 and *t->user the sender's mailbox when unset. Returns 0 (c
 * untouched when no key is set), or -1 with ERR_CONFIG naming the
 * missing or contradictory setting (also t->login without a provider). */
int oauth2_configure(struct oauth2_config *c, const char *const raw[OAUTH2_NKEYS],
		     const struct oauth2_target *t, struct error *err);

/* The access token to log in with: the cached one while it has more
 * than 60 s left (never when fresh is true: the server refused it), else
 * a new one from the refresh token or the client credentials, stored
 * before it is returned. Returns 0 and *token (malloc'd, locked; wipe
 * and free with password_free), or -1 with err set: ERR_TEMPFAIL (the
 * provider unreachable, 5xx, timeout), ERR_CERT, ERR_AUTH_FAILED
 * (invalid_grant, with the hint to log in again), ERR_CONFIG. */
int oauth2_token(const struct oauth2_config *c, bool fresh, char **token, struct error *err);

/* --oauth2-login: runs the account's interactive flow once and stores
 * the tokens. Returns 0, or -1 with err set (as oauth2_token; also
 * ERR_TEMPFAIL when the login was not completed in time, ERR_AUTH_FAILED
 * for access_denied or a wrong state, ERR_CONFIG for a
 * client-credentials account: nothing to log in). */
int oauth2_login(const struct oauth2_config *c, struct error *err);

/* Frees the strings of c and zeroes it. */
void oauth2_config_free(struct oauth2_config *c);

#endif
