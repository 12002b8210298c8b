/* keyring.h - the desktop keyring (Secret Service, through libsecret),
 * one of the password sources. Items are found by three attributes:
 *     service = envoi, server = HOST, user = USER
 * so that `secret-tool store --label=envoi service envoi server HOST user
 * USER` puts a password where envoi looks. Built only when libsecret is
 * available; otherwise the lookup finds nothing. */
#ifndef ENVOI_KEYRING_H
#define ENVOI_KEYRING_H

/* Returns a malloc'd copy of the password (the caller wipes and frees
 * it), or NULL when there is no session bus, no keyring, or no item. */
char *keyring_lookup(const char *host, const char *user);

/* An OAuth2 account's refresh token (tokenstore.h), kept under
 *     service = envoi, oauth2-account = ACCOUNT
 * Stores token, replacing the account's. Returns 0, or -1 when there is
 * no session bus, no keyring, or it refused. */
int keyring_store_token(const char *account, const char *token);

/* Returns a malloc'd copy of the account's token (the caller wipes and
 * frees it), or NULL when there is no keyring or no item. */
char *keyring_lookup_token(const char *account);

#endif
