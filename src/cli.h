/* cli.h - the command line and the configuration file, merged into a
 * struct message (through the shared builder, msgbuild.h) and a struct
 * session.
 *
 * Every option has one entry in options.c's table; the same table gives
 * argp its options, the configuration file its keys, and the environment
 * its ENVOI_<NAME> variables. Precedence: command line > environment >
 * account section > defaults section.
 */
#ifndef ENVOI_CLI_H
#define ENVOI_CLI_H

#include <stdbool.h>

#include "error.h"
#include "message.h"
#include "password.h"
#include "session.h"

struct jobvals;

struct options {
	struct message msg;
	struct session sess;
	bool dry_run;
	char *pickup_dir;
	unsigned pickup_mode; /* of the --pickup-dir file */
	char *config_path; /* the file read, NULL when none */
	bool body_from_stdin; /* no body option: standard input is the body */
	bool body_typed;      /* no body option: the body is typed at the terminal */
	char *account;        /* the [account NAME] asked for, NULL: default */

	/* queue and log (queue.h, sendlog.h) */
	int queue;            /* -1: not set anywhere, 0: off, 1: on */
	bool flush, queue_list;
	char *queue_dir;      /* NULL: queue_default_dir's */
	unsigned long queue_lifetime; /* seconds */
	char *log;            /* a file or "syslog"; NULL: no log */
	char *aliases;        /* sendmail mode: /etc/aliases-format file */
	char *domain;         /* sendmail mode: completes local names */

	/* --batch (batch.h): the message options are then only defaults */
	char *batch;          /* the JSON-lines file, "-": stdin; NULL: no batch */
	unsigned connections, max_per_connection;
	unsigned rate_n;      /* --rate: at most rate_n messages ... */
	unsigned rate_window_ms; /* ... in any window this long; 0 n: no limit */
	struct jobvals *batch_defaults; /* the message options' values */

	bool oauth2_login;    /* --oauth2-login: log the account in, send nothing */
};

/* Parses argv, the environment and the configuration file into o.
 * Returns 0, or -1 with err set: ERR_USAGE for command-line problems,
 * ERR_CONFIG for problems in the file or the environment, ERR_DATA for
 * CR/LF/NUL in header data or an invalid header name. --help, --usage and
 * --version print and exit(0) inside argp. Free with cli_free. */
int cli_parse(struct options *o, int argc, char **argv, struct error *err);

/* Checks what can only be checked once msg_prepare has read the message
 * (sender and recipients of a --message-file). Returns 0 or -1 ERR_USAGE. */
int cli_check_envelope(const struct options *o, struct error *err);

/* The password sources of s, for password_get: borrowed from s, valid
 * while s is. */
struct password_source cli_password_source(const struct session *s);

void cli_free(struct options *o);

/* The configuration file a run would read: given (--config, -C) when not
 * NULL, else ENVOI_CONFIG, else the per-user file, else /etc/envoi.conf
 * (those two only when they exist). Returns a malloc'd path (caller
 * frees), or NULL when there is none. */
char *cli_config_file(const char *given);

#endif
