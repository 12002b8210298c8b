/* password.h - where the password (or OAuth2 token) comes from.
 *
 * In order, unless one is named: --password-file, --password-command,
 * a config-file "password" key, ENVOI_PASSWORD, ~/.netrc (machine =
 * server host, login = user when given), then a no-echo prompt when
 * standard input is a terminal. The result lives in locked memory where
 * possible and is wiped by password_free.
 */
#ifndef ENVOI_PASSWORD_H
#define ENVOI_PASSWORD_H

#include <stddef.h>

#include "error.h"
#include "session.h"

/* Finds the password for s->user on s->host. Returns 0 and *pw (malloc'd,
 * NUL-terminated; free with password_free), or -1 with ERR_CONFIG
 * (unreadable file, command failed or printed nothing, nothing found and
 * no terminal to ask on). */
int password_get(const struct session *s, char **pw, struct error *err);

/* Wipes and frees. NULL ok. */
void password_free(char *pw);

#endif
