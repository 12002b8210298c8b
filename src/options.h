/* options.h - envoi's options, one table for every source: each entry
 * gives argp an option, the configuration file a key and the environment
 * an ENVOI_<NAME> variable. Also the check of argv that runs before argp
 * sees it, and the names the "did you mean" hints choose from. */
#ifndef ENVOI_OPTIONS_H
#define ENVOI_OPTIONS_H

#include <argp.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

enum opt_kind { OPT_STR, OPT_LIST, OPT_FLAG };
enum { OPT_NOCONF = 1, OPT_NOOPT = 2 }; /* not in the file and environment; not an option */

enum opt_id {
	O_FROM, O_TO, O_CC, O_BCC, O_REPLY_TO, O_SUBJECT, O_BODY, O_BODY_FILE, O_HTML,
	O_HTML_FILE, O_ATTACH, O_PRIORITY, O_HEADER, O_INLINE, O_READ_RECEIPT, O_MESSAGE_FILE,
	O_SERVER, O_PORT, O_TLS, O_USER, O_PASSWORD_FILE, O_PASSWORD_COMMAND, O_AUTH,
	O_CA_FILE, O_FINGERPRINT, O_INSECURE, O_CLIENT_CERT, O_CLIENT_KEY, O_HELO, O_TIMEOUT,
	O_IPV4, O_IPV6, O_PROXY, O_DSN_NOTIFY, O_DSN_RETURN, O_RETRY, O_PROBE, O_ACCOUNT,
	O_CONFIG, O_VERBOSE, O_QUIET, O_JSON, O_PICKUP_DIR, O_PICKUP_MODE, O_DRY_RUN, O_PASSWORD,
	O_QUEUE, O_FLUSH, O_QUEUE_LIST, O_QUEUE_DIR, O_QUEUE_LIFETIME, O_LOG, O_ALIASES, O_DOMAIN,
	O_BATCH, O_CONNECTIONS, O_MAX_PER_CONNECTION, O_RATE,
	/* OAuth2 (oauth2.h) */
	O_OAUTH2_LOGIN, O_OAUTH2_PROVIDER, O_OAUTH2_CLIENT_ID, O_OAUTH2_SECRET_COMMAND,
	O_OAUTH2_SECRET_FILE, O_OAUTH2_TENANT, O_OAUTH2_FLOW, O_OAUTH2_CA_FILE, O_OAUTH2_AUTH_URL,
	O_OAUTH2_DEVICE_URL, O_OAUTH2_TOKEN_URL, O_OAUTH2_SCOPE,
	O_COUNT
};

struct opt {
	const char *name; /* long option, config key, ENVOI_<NAME> */
	int key;          /* short option, 0 when none */
	const char *arg;  /* argument name, NULL for a switch */
	enum opt_kind kind;
	int group;
	unsigned flags;
	const char *doc;
};


extern const struct opt opt_table[O_COUNT];

/* argp's key for an option: its short option, else a number past 255. */
int opt_argp_key(enum opt_id id);

/* argp's option vector, grouped under the table's group titles.
 * Returns a calloc'd array the caller frees, or NULL out of memory. */
struct argp_option *opt_argp_options(void);

/* argp's text for --help around the options. */
extern const char opt_doc[];

/* Checks every option word of argv as getopt would, but never shows a
 * value (it may be a password). The first problem is reported; the scan
 * goes on so that a --json further on still sets *json_seen. Returns 0,
 * or -1 with ERR_USAGE. */
int opt_check_argv(int argc, char **argv, bool *json_seen, struct error *err);

/* Writes ENVOI_<OPT> (upper case, '-' as '_') into buf. */
void opt_env_name(const char *opt, char *buf, size_t size);

/* The known name nearest to word (a habit of another tool first), among
 * the configuration keys, and with env also "config" and "account".
 * Returns a static string, or NULL when nothing is near. */
const char *opt_nearest_key(const char *word, bool env);

/* Warns on stderr about each ENVOI_ variable envoi does not know. */
void opt_warn_unknown_env(void);

#endif
