/* password.h - where the password (or OAuth2 token) comes from.
 *
 * In order: --password-file (its first line), --password-command (its
 * stdout, trailing newlines removed; run without a shell unless it holds
 * shell syntax; killed after src->timeout seconds), a config-file
 * "password" key, ENVOI_PASSWORD, the netrc file ($NETRC, else
 * ~/.netrc; machine = server host, login = user when the entry has one),
 * the desktop keyring (keyring.h),
 * then a no-echo prompt on the controlling terminal (/dev/tty) when there
 * is one. A file or command that is given is the only source tried. The
 * result lives in locked memory where possible and is wiped by
 * password_free.
 */
#ifndef ENVOI_PASSWORD_H
#define ENVOI_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct oauth2_config;

/* What the password code needs to know, and nothing more: the sources
 * the user named, and whom the password is for. Strings are borrowed. */
struct password_source {
	const char *host;    /* the server: netrc machine, keyring, prompt */
	const char *user;
	const char *file;    /* --password-file, or NULL */
	const char *command; /* --password-command, or NULL */
	const char *value;   /* a configuration file's password key, or
				ENVOI_PASSWORD as the front end took it */
	bool value_from_env; /* value is ENVOI_PASSWORD's (for the origin) */
	unsigned timeout;    /* seconds the command may take */
	const struct oauth2_config *oauth2; /* the account's OAuth2 settings
				or NULL: with a provider, the token is the
				password and no other source is tried */
};

/* Finds the password for src->user on src->host. Returns 0 and *pw (malloc'd,
 * NUL-terminated; free with password_free), or -1 with ERR_CONFIG
 * (unreadable file, command failed or printed nothing, nothing found and
 * no terminal to ask on). */
int password_get(const struct password_source *src, char **pw, struct error *err);

/* password_get that also says where the password came from, for the
 * line of a failed login ("from ENVOI_PASSWORD", "from password-command",
 * "from password-file FILE", "from ~/.netrc", "from the config file",
 * "typed at the prompt"...), into origin (size bytes). */
int password_get_from(const struct password_source *src, char **pw, char *origin,
		      size_t size, struct error *err);

/* Wipes and frees. NULL ok. */
void password_free(char *pw);

/* Wipes the copies that outlive password_get otherwise: *value (a
 * configuration file's key or ENVOI_PASSWORD, as the front end took it;
 * freed and set to NULL) and ENVOI_PASSWORD's value in the environment
 * block itself (overwritten in place, then unset). */
void password_wipe_sources(char **value);

#endif
