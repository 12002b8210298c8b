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

#endif
