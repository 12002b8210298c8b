/* oauth2_int.h - what oauth2.c and oauth2_login.c share. */
#ifndef ENVOI_OAUTH2_INT_H
#define ENVOI_OAUTH2_INT_H

#include <stddef.h>

#include "oauth2.h"
#include "oauth2_http.h"
#include "tokenstore.h"

/* The client secret from oauth2-client-secret-command or -file. Returns
 * 0 and *secret (NULL when the account has none; else wipe and free with
 * password_free), or -1 with ERR_CONFIG. */
int oauth2_client_secret(const struct oauth2_config *c, char **secret, struct error *err);

/* POSTs a grant to the token endpoint: fields, then client_id and the
 * client secret when there is one. Returns 0 with the new tokens in *t
 * (refresh NULL when the answer had none), or -1 with err set; when the
 * provider answered with an OAuth2 error, code (size bytes) holds it
 * ("authorization_pending", "slow_down"...), else code is "". */
int oauth2_grant(const struct oauth2_config *c, const struct oauth2_field *fields, size_t n,
		 struct token_set *t, char *code, size_t size, struct error *err);

/* Stores fresh tokens: the refresh token of fresh, else the one of old.
 * Returns 0, or -1 with err set. */
int oauth2_store(struct tokenstore *ts, struct token_set *fresh, const struct token_set *old,
		 struct error *err);

#endif
