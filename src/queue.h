/* queue.h - messages kept for later: a directory of entries.
 *
 * An entry is two files: ID.msg, the exact message, and ID.env, its
 * envelope (account, configuration file, sender, recipients, time queued,
 * last error). ID.env is written last, so an entry exists exactly when
 * its .env does; both are written under a temporary name, synced and
 * renamed. A flush locks ID.msg (flock), which is never replaced while
 * the entry lives, so two flushes never hold one entry at once.
 * Files are 0600 in a 0700 directory; failed entries go to failed/.
 */
#ifndef ENVOI_QUEUE_H
#define ENVOI_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "error.h"

#define QUEUE_LIFETIME_DEFAULT (5ul * 86400)

struct queue_env {
	char *account;  /* NULL: the default account */
	char *config;   /* the configuration file it was read from, NULL: none */
	char *sender;
	char **rcpts;
	size_t nrcpts;
	time_t created;
	unsigned attempts;
	char *error;    /* the last failure on one line, NULL: none */
};

struct queue_entry {
	char id[64];
	char msg_path[4096];
	uint64_t size;
	struct queue_env env;
	int lock_fd;    /* ID.msg, locked; -1 when not held */
};

/* What became of an entry handed to a sender. */
enum queue_verdict {
	QV_SENT,     /* every recipient took it: the entry goes */
	QV_DEFERRED, /* try again later; env.rcpts may have been narrowed */
	QV_FAILED,   /* a permanent refusal: to failed/ with the reply */
};

struct queue_outcome {
	enum queue_verdict verdict;
	char reply[1024]; /* the failure, for ID.env (deferred) or failed/ID.reply */
};

/* Sends a group of locked entries that share account and configuration
 * file (so one session can carry them all); fills out[i] for each. */
typedef void (*queue_send_fn)(void *ctx, struct queue_entry *const *v, size_t n,
			      struct queue_outcome *out);

/* Tells what happened to each entry once it is settled: expired (moved
 * to failed/ without a try), or after the sender's verdict. */
typedef void (*queue_note_fn)(void *ctx, const struct queue_entry *e,
			      const struct queue_outcome *o, bool expired);

struct queue_tally {
	size_t sent, deferred, failed, busy; /* busy: locked by another flush */
};

/* The default directory: $XDG_STATE_HOME/envoi/queue, else
 * $HOME/.local/state/envoi/queue; with no HOME, /var/spool/envoi for
 * root and none for other users. Returns 0 with the path in buf, or -1
 * when there is no queue. */
int queue_default_dir(char *buf, size_t size);

/* "90s", "15m", "12h", "5d" (a bare number is seconds). Returns 0 with
 * *secs set, or -1 with ERR_USAGE. */
int queue_parse_lifetime(const char *s, unsigned long *secs, struct error *err);

/* Writes a new entry: write_msg fills the message file (fd, open for
 * writing), then the envelope is written. Creates dir (0700) when
 * missing. Returns 0 with the new id in id (size >= 64), or -1 with
 * ERR_CANTCREAT or ERR_OSERR; nothing is left behind on failure. */
int queue_add(const char *dir, const struct queue_env *env,
	      int (*write_msg)(void *ctx, int fd, struct error *err), void *ctx, char *id,
	      struct error *err);

/* One line per entry, oldest first: id, age, size, sender, recipients,
 * last error, TAB-separated. Returns the number of entries, or -1 with
 * err set when dir cannot be read (a missing dir is an empty queue). */
long queue_list(const char *dir, FILE *out, time_t now, struct error *err);

/* Sends every entry it can lock: those older than lifetime go to
 * failed/ untried, the rest are grouped by account and configuration
 * file and handed to send. Returns 0 with *t filled, or -1 with err set
 * when dir cannot be read. */
int queue_flush(const char *dir, unsigned long lifetime, queue_send_fn send,
		queue_note_fn note, void *ctx, struct queue_tally *t, struct error *err);

/* Serialises env as the .env file holds it. Returns a malloc'd string
 * (caller frees), NULL when out of memory. */
char *queue_env_format(const struct queue_env *env);

/* Parses a .env text into env (freed with queue_env_free). Returns 0,
 * or -1 with ERR_DATA when it is not one. */
int queue_env_parse(const char *text, struct queue_env *env, struct error *err);

void queue_env_free(struct queue_env *env);

#endif
