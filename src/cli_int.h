/* cli_int.h - what the front end's files share (cli.c: collecting
 * options, environment and configuration, and building the run;
 * cli_modes.c: the batch and OAuth2 options). Not for use elsewhere. */
#ifndef ENVOI_CLI_INT_H
#define ENVOI_CLI_INT_H

#include <stdbool.h>

#include "cli.h"
#include "error.h"
#include "options.h"

/* Where a value came from, weakest first: a later level replaces it. */
enum level { L_DEFAULTS, L_ACCOUNT, L_ENV, L_CMDLINE };

struct value {
	const char *text; /* NULL: a bare config flag */
	char where[160];  /* "--port", "ENVOI_PORT", "FILE line 3" */
};

struct slot {
	int level; /* -1 while unset */
	struct value *v;
	size_t n;
};

struct collect {
	struct slot slots[O_COUNT];
	struct error *err;
	bool json_seen; /* --json on the command line, even if it failed */
};

/* The value given last for id, NULL when none. */
const struct value *cli_last(const struct collect *c, enum opt_id id);
/* True when id was given on the command line. */
bool cli_from_cmdline(const struct collect *c, enum opt_id id);
/* Adds where v came from to the error already in c->err; returns -1. */
int cli_blame(const struct collect *c, enum opt_id id, const struct value *v);
/* The last value of id, copied into *out (unchanged when none).
 * Returns 0 or -1 (out of memory). */
int cli_take_str(const struct collect *c, enum opt_id id, char **out);
/* A yes/no option into *out. Returns 0 or -1 with c->err set. */
int cli_take_flag(const struct collect *c, enum opt_id id, bool *out);
/* The error for a send with no server anywhere; returns -1. */
int cli_no_server(struct error *err, const char *config_path);

/* cli_modes.c. Each returns 0 or -1 with c->err set. */
/* --batch and its options (which mean nothing without it). */
int cli_build_batch(const struct collect *c, struct options *o);
/* A batch run's combinations and its server, once everything is known. */
int cli_check_batch(const struct collect *c, struct options *o);
/* The account's oauth2 keys, checked by oauth2_configure. */
int cli_take_oauth2(const struct collect *c, struct options *o);

#endif
