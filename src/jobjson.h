/* jobjson.h - one line of a --batch file (a JSON object) as a job: the
 * message options it sets, as the strings the command line would have
 * given, and the caller's id. The message itself is built from the job
 * and the command line's defaults through the shared builder
 * (msgbuild.h), so a line is checked exactly as the command line is.
 */
#ifndef ENVOI_JOBJSON_H
#define ENVOI_JOBJSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "message.h"
#include "options.h"
#include "session.h"

/* Values per message option, in the order given: what the command line
 * or a line set. set[id] tells an option given (even to an empty list)
 * from one not given. */
struct jobvals {
	char **v[O_COUNT];
	size_t n[O_COUNT];
	bool set[O_COUNT];
};

struct job {
	struct jobvals vals;
	json_t *id;        /* the caller's token, NULL when none; owned */
	bool sets_body;    /* a body key: every body default is replaced */
};

/* Whether id is a message option a line (or a default) may set. */
bool job_is_message_option(enum opt_id id);

/* Appends a copy of text to vals' values of id. Returns 0 or -1 ERR_OSERR. */
int jobvals_add(struct jobvals *vals, enum opt_id id, const char *text, struct error *err);

void jobvals_free(struct jobvals *vals);

/* Parses one line (len bytes, no line end) into job. Returns 0, or -1
 * with err: ERR_DATA (65) when it is not a JSON object, ERR_USAGE (64)
 * for an unknown or repeated key or a value of the wrong type. The id is
 * kept in job even when a later key fails, so the result can echo it.
 * Free job with job_free either way. */
int job_parse(const char *line, size_t len, struct job *job, struct error *err);

void job_free(struct job *job);

/* Builds the message of job over defaults into m (msg_init'd by the
 * caller; msg_free it after) and the per-message DSN settings into s (a
 * copy of the run's session; its strings stay borrowed). A key of the
 * job replaces its default. Returns 0 or -1 with the builder's error. */
int job_build(const struct job *job, const struct jobvals *defaults, struct message *m,
	      struct session *s, struct error *err);

#endif
