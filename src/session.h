/* session.h - the command line's settings for one run: how to reach and
 * talk to the server, and what only the front end uses (retry, output
 * level, --json, --probe). Filled by cli.c; read-only after. The engine
 * and the transport never see it: main hands them their shares,
 * struct smtp_params (smtp.h) and struct conn_params (conn.h). */
#ifndef ENVOI_SESSION_H
#define ENVOI_SESSION_H

#include <stdbool.h>

#include "oauth2.h"

enum tls_mode { TLS_AUTO, TLS_IMPLICIT, TLS_STARTTLS, TLS_NONE };

enum dsn_notify_bits {
	DSN_NEVER = 1, DSN_SUCCESS = 2, DSN_FAILURE = 4, DSN_DELAY = 8
};
enum dsn_ret { DSN_RET_DEFAULT, DSN_RET_FULL, DSN_RET_HDRS };

enum output_level { OUT_QUIET, OUT_NORMAL, OUT_VERBOSE };

struct session {
	char *host;             /* host name or address literal (no brackets) */
	unsigned port;          /* 1..65535, resolved default when not given */
	enum tls_mode tls;
	bool tls_from_scheme;   /* implicit TLS because the server was smtps:// */

	char *user;             /* NULL: no AUTH */
	char *password_file;
	char *password_command;
	char *password;         /* from a config file "password" key; wiped */
	bool password_from_env; /* password is ENVOI_PASSWORD's */
	char *auth_mech;        /* forced SASL mechanism, upper case; NULL = best */

	char *ca_file;
	unsigned char fingerprint[32];
	bool have_fingerprint;
	bool insecure;
	char *client_cert, *client_key;

	char *helo;             /* EHLO name; NULL = this host's FQDN */
	unsigned timeout;       /* seconds, per command, connect included */
	int family;             /* AF_UNSPEC, AF_INET or AF_INET6 */
	char *proxy_host;       /* SOCKS5 proxy; NULL = direct */
	unsigned proxy_port;

	unsigned dsn_notify;    /* enum dsn_notify_bits, 0 = not asked */
	enum dsn_ret dsn_ret;
	unsigned retry;
	bool probe;

	enum output_level output;
	bool json;

	/* OAuth2: the token is the password (provider OAUTH2_NONE: none) */
	struct oauth2_config oauth2;
};

#endif
