/* tokenstore.h - where an account's OAuth2 tokens live between runs:
 * $XDG_STATE_HOME/envoi/tokens/ACCOUNT.json (else ~/.local/state/...),
 * directory 0700, file 0600, one JSON object:
 *     {"refresh_token": "...", "access_token": "...", "expires_at": UNIX}
 * written atomically (temporary file, fsync, rename), so that a crash
 * never leaves a half-written file nor loses the only valid refresh
 * token. An entry is locked (flock on ACCOUNT.lock) while it is read,
 * refreshed and written, so that two runs never spend one rotating
 * refresh token twice. When the desktop keyring is reachable (keyring.h)
 * the refresh token goes there instead, and the file says so with
 *     "refresh_token_in": "keyring" */
#ifndef ENVOI_TOKENSTORE_H
#define ENVOI_TOKENSTORE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* The tokens of one account; the strings are malloc'd and locked in
 * memory, NULL when absent (token_set_clear wipes them). */
struct token_set {
	char *refresh;
	char *access;
	long long expires_at; /* Unix time the access token expires; 0: unknown */
};

/* One account's entry, open and locked. */
struct tokenstore {
	char path[4096];
	char account[200];
	int lock_fd;
	bool in_keyring; /* the last save put the refresh token in the keyring */
};

/* Finds (creating it 0700 when missing) the store's directory, and
 * locks account's entry. Returns 0, or -1 with ERR_CONFIG (no HOME nor
 * XDG_STATE_HOME, a directory of another user) or ERR_CANTCREAT. */
int tokenstore_open(struct tokenstore *ts, const char *account, struct error *err);

/* Reads the entry into t (all NULL when there is none yet), the refresh
 * token from the keyring when the file says it is there. Returns 0, or
 * -1 with ERR_CONFIG (unreadable, readable by others, not JSON, the
 * keyring out of reach). */
int tokenstore_load(struct tokenstore *ts, struct token_set *t, struct error *err);

/* Replaces the entry with t, atomically; the refresh token goes to the
 * keyring first when one is reachable. Returns 0, or -1 with
 * ERR_CANTCREAT. */
int tokenstore_save(struct tokenstore *ts, const struct token_set *t, struct error *err);

/* Unlocks the entry. */
void tokenstore_close(struct tokenstore *ts);

/* Copies s (len bytes) into locked memory. Returns the copy (wipe and
 * free with password_free), or NULL out of memory. */
char *token_dup(const char *s, size_t len);

/* Wipes and frees t's strings; t is all zero after. */
void token_set_clear(struct token_set *t);

#endif
